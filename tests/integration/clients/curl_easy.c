/* curl_easy.c - an ordinary libcurl program: POSTs a JSON body with
 * curl_easy_perform and its own write callback, which prints what it gets
 * and counts the bytes. Nothing here knows about tokentap.
 *
 * usage: curl_easy URL JSON CAFILE [options] [header lines...]
 *   --stream       ask for text/event-stream (only sets Accept; the JSON
 *                  body says "stream": true itself)
 *   --http1.1      force HTTP/1.1 (default: libcurl's, h2 over TLS if the
 *                  server agrees)
 *   --copy         CURLOPT_COPYPOSTFIELDS instead of CURLOPT_POSTFIELDS
 *   --compressed   CURLOPT_ACCEPT_ENCODING "" (libcurl decodes)
 *   --n N          N calls on the same handle (keep-alive)
 *   --quiet        count the body bytes, do not print them
 *   --dup          calls after the first run on curl_easy_duphandle copies
 *                  of the handle (each cleaned up after its call)
 *   --late-body    the handle first GETs URL (no body set yet), says on
 *                  stderr whether a library named libtokentap-core is
 *                  mapped ("core mapped after the GET: yes/no"), and each
 *                  call sets the body only then, on its handle (with
 *                  --dup: on a copy made before the body was set)
 * Prints the body, then one line per call on stderr:
 *   "call I: result R http S version V bytes N" */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sink {
    size_t bytes;
    int quiet;
};

static size_t on_data(char *p, size_t size, size_t nmemb, void *ud)
{
    struct sink *s = ud;

    s->bytes += size * nmemb;
    if (!s->quiet)
        fwrite(p, size, nmemb, stdout);
    return size * nmemb;
}

static void set_body(CURL *h, const char *body, int copy)
{
    if (copy) {
        curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, body);
    } else {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
}

static int core_mapped(void)
{
    char line[4096];
    int found = 0;
    FILE *f = fopen("/proc/self/maps", "r");

    while (f && fgets(line, sizeof(line), f))
        found |= strstr(line, "libtokentap-core") != NULL;
    if (f)
        fclose(f);
    return found;
}

int main(int argc, char **argv)
{
    struct curl_slist *hdrs = NULL;
    int http11 = 0, copy = 0, compressed = 0, quiet = 0, dup = 0, late = 0, n = 1;
    int rc = 0;
    CURL *h;

    if (argc < 4) {
        fprintf(stderr, "usage: %s URL JSON CAFILE [--stream] [--http1.1] "
                "[--copy] [--compressed] [--quiet] [--n N] [header...]\n",
                argv[0]);
        return 2;
    }
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--stream"))
            hdrs = curl_slist_append(hdrs, "Accept: text/event-stream");
        else if (!strcmp(argv[i], "--http1.1"))
            http11 = 1;
        else if (!strcmp(argv[i], "--copy"))
            copy = 1;
        else if (!strcmp(argv[i], "--compressed"))
            compressed = 1;
        else if (!strcmp(argv[i], "--quiet"))
            quiet = 1;
        else if (!strcmp(argv[i], "--late-body"))
            late = 1;
        else if (!strcmp(argv[i], "--dup"))
            dup = 1;
        else if (!strcmp(argv[i], "--n") && i + 1 < argc)
            n = (int)strtol(argv[++i], NULL, 10);
        else
            hdrs = curl_slist_append(hdrs, argv[i]);
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    h = curl_easy_init();
    if (!h)
        return 1;
    /* The body is set before the URL on purpose: tokentap must not depend
     * on the order. */
    if (!late)
        set_body(h, argv[2], copy);
    curl_easy_setopt(h, CURLOPT_URL, argv[1]);
    curl_easy_setopt(h, CURLOPT_CAINFO, argv[3]);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    if (http11)
        curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    if (compressed)
        curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    if (late) {
        struct sink s = { 0, 1 };
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
        CURLcode res = curl_easy_perform(h);
        fprintf(stderr, "get: result %d; core mapped after the GET: %s\n", (int)res,
                core_mapped() ? "yes" : "no");
    }
    for (int i = 0; i < n; i++) {
        struct sink s = { 0, quiet };
        long status = 0, ver = 0;
        CURL *c = dup && (i > 0 || late) ? curl_easy_duphandle(h) : h;
        if (!c)
            return 1;
        if (late)
            set_body(c, argv[2], copy);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
        CURLcode res = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(c, CURLINFO_HTTP_VERSION, &ver);
        if (c != h)
            curl_easy_cleanup(c);
        fprintf(stdout, "\n");
        fprintf(stderr, "call %d: result %d http %ld version %ld bytes %zu\n",
                i, (int)res, status, ver, s.bytes);
        if (res != CURLE_OK)
            rc = 1;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    curl_global_cleanup();
    return rc;
}
