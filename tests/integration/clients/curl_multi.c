/* curl_multi.c - N concurrent LLM calls on ONE thread through libcurl's
 * multi interface (curl_multi_perform + curl_multi_poll), half of them
 * streamed. Nothing here knows about tokentap.
 *
 * usage: curl_multi BASE_URL CAFILE N [--http1.1] [--no-info]
 * Transfer i alternates: OpenAI chat (i%4 == 0), OpenAI streamed (1),
 * Anthropic messages (2), Anthropic streamed (3); it asks the mock for
 * usage in=1000+i, out=10+i so every span can be told apart.
 *   --no-info   never call curl_multi_info_read: wait for running == 0,
 *               then remove the handles (a common style)
 * Prints "transfer I: result R http S bytes N" per transfer. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_N 256

struct xfer {
    CURL *h;
    struct curl_slist *hdrs;
    char body[512];
    size_t bytes;
    int done;
    CURLcode result;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;

    (void)p;
    x->bytes += size * nmemb;
    return size * nmemb;
}

int main(int argc, char **argv)
{
    static struct xfer xs[MAX_N];
    int http11 = 0, no_info = 0, running = 0, rc = 0;
    char url[1024], hdr[128];
    CURLM *m;

    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE_URL CAFILE N [--http1.1] [--no-info]\n",
                argv[0]);
        return 2;
    }
    int n = (int)strtol(argv[3], NULL, 10);
    if (n < 1 || n > MAX_N)
        return 2;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--http1.1"))
            http11 = 1;
        else if (!strcmp(argv[i], "--no-info"))
            no_info = 1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    m = curl_multi_init();
    for (int i = 0; i < n; i++) {
        struct xfer *x = &xs[i];
        int anthropic = (i % 4) >= 2, stream = i % 2;
        x->h = curl_easy_init();
        snprintf(url, sizeof(url), "%s%s", argv[1],
                 anthropic ? "/v1/messages" : "/v1/chat/completions");
        if (anthropic)
            snprintf(x->body, sizeof(x->body),
                     "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,"
                     "\"stream\":%s,\"messages\":[{\"role\":\"user\","
                     "\"content\":\"transfer %d\"}]}",
                     stream ? "true" : "false", i);
        else
            snprintf(x->body, sizeof(x->body),
                     "{\"model\":\"gpt-4o-mini\",\"stream\":%s,%s"
                     "\"messages\":[{\"role\":\"user\","
                     "\"content\":\"transfer %d\"}]}",
                     stream ? "true" : "false",
                     stream ? "\"stream_options\":{\"include_usage\":true},"
                            : "", i);
        x->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
        if (anthropic) {
            x->hdrs = curl_slist_append(x->hdrs, "x-api-key: sk-ant-none");
            x->hdrs = curl_slist_append(x->hdrs,
                                        "anthropic-version: 2023-06-01");
        } else {
            x->hdrs = curl_slist_append(x->hdrs, "Authorization: Bearer sk-none");
        }
        snprintf(hdr, sizeof(hdr), "x-mock-usage: in=%d,out=%d", 1000 + i,
                 10 + i);
        x->hdrs = curl_slist_append(x->hdrs, hdr);
        if (stream)
            x->hdrs = curl_slist_append(x->hdrs, "x-mock-delay-ms: 5");
        curl_easy_setopt(x->h, CURLOPT_URL, url);
        curl_easy_setopt(x->h, CURLOPT_CAINFO, argv[2]);
        curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, x->hdrs);
        curl_easy_setopt(x->h, CURLOPT_POSTFIELDS, x->body);
        curl_easy_setopt(x->h, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(x->h, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->h, CURLOPT_PRIVATE, x);
        if (http11)
            curl_easy_setopt(x->h, CURLOPT_HTTP_VERSION,
                             (long)CURL_HTTP_VERSION_1_1);
        curl_multi_add_handle(m, x->h);
    }
    do {
        CURLMcode mc = curl_multi_perform(m, &running);
        if (mc != CURLM_OK)
            break;
        if (!no_info) {
            CURLMsg *msg;
            int left;
            while ((msg = curl_multi_info_read(m, &left))) {
                struct xfer *x = NULL;
                if (msg->msg != CURLMSG_DONE)
                    continue;
                curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
                x->done = 1;
                x->result = msg->data.result;
                curl_multi_remove_handle(m, x->h);
            }
        }
        if (running)
            mc = curl_multi_poll(m, NULL, 0, 1000, NULL);
        if (mc != CURLM_OK)
            break;
    } while (running);
    for (int i = 0; i < n; i++) {
        struct xfer *x = &xs[i];
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        if (no_info)
            curl_multi_remove_handle(m, x->h);
        else if (!x->done)
            rc = 1;
        printf("transfer %d: result %d http %ld bytes %zu\n", i,
               (int)x->result, status, x->bytes);
        if (x->result != CURLE_OK || status != 200)
            rc = 1;
        curl_easy_cleanup(x->h);
        curl_slist_free_all(x->hdrs);
    }
    curl_multi_cleanup(m);
    curl_global_cleanup();
    return rc;
}
