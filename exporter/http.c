/* http.c - one HTTP request through libcurl (see http.h). */
#include "http.h"

#include <ctype.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HTTP_DEFAULT_TIMEOUT_MS 10000L
#define HTTP_DEFAULT_MAX_RESPONSE (1u << 20)

static pthread_once_t http_once = PTHREAD_ONCE_INIT;

/* One handle per thread, kept between requests: its connection cache
 * keeps the connection to the collector or ClickHouse alive (a new TCP
 * and TLS handshake per batch otherwise). */
static __thread CURL *http_handle;

static void http_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    atexit(tt_http_thread_done);    /* the handle of the thread that exits */
}

void tt_http_global_init(void)
{
    pthread_once(&http_once, http_init_once);
}

struct sink {
    struct tt_buf b;
    int64_t retry_after_ms;
};

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = sz * n;
    /* Past the cap the rest is dropped, not an error: the status decides. */
    int rc = tt_buf_append(&s->b, p, len);
    return rc == TT_OK || rc == TT_ERR_CAP ? len : 0;
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = sz * n;
    static const char name[] = "retry-after:";

    if (len > sizeof(name) - 1 && strncasecmp(p, name, sizeof(name) - 1) == 0) {
        char v[128];
        size_t vl = len - (sizeof(name) - 1);
        if (vl >= sizeof(v))
            vl = sizeof(v) - 1;
        memcpy(v, p + sizeof(name) - 1, vl);
        v[vl] = '\0';
        s->retry_after_ms = tt_http_parse_retry_after(v, (int64_t)time(NULL));
    }
    return len;
}

int tt_http_do(const struct tt_http_req *req, struct tt_http_resp *resp)
{
    struct sink s = { .retry_after_ms = -1 };
    struct curl_slist *hl = NULL;
    CURL *c;
    CURLcode cc;
    int rc = TT_OK;

    memset(resp, 0, sizeof(*resp));
    resp->retry_after_ms = -1;
    tt_http_global_init();
    tt_buf_init(&s.b, req->max_response ? req->max_response : HTTP_DEFAULT_MAX_RESPONSE);
    if (http_handle) {
        c = http_handle;
        http_handle = NULL;         /* ours until the request is done */
        curl_easy_reset(c);
    } else if (!(c = curl_easy_init())) {
        return TT_ERR_NOMEM;
    }
    for (const char *const *h = req->headers; h && *h; h++) {
        struct curl_slist *nl = curl_slist_append(hl, *h);
        if (!nl) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
        hl = nl;
    }
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);     /* threads: no SIGALRM */
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : HTTP_DEFAULT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                     req->timeout_ms > 0 && req->timeout_ms < 5000 ? req->timeout_ms : 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &s);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");   /* whatever libcurl decodes */
    if (hl)
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (req->body || (req->method && strcmp(req->method, "POST") == 0)) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    if (req->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, req->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, req->password ? req->password : "");
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        snprintf(resp->error, sizeof(resp->error), "%s", curl_easy_strerror(cc));
        rc = cc == CURLE_OUT_OF_MEMORY ? TT_ERR_NOMEM : TT_ERR_IO;
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->retry_after_ms = s.retry_after_ms;
    resp->body_len = s.b.len;
    resp->truncated = s.b.truncated;
    resp->body = tt_buf_steal(&s.b);
    if (!resp->body && !(resp->body = calloc(1, 1)))
        rc = TT_ERR_NOMEM;
out:
    tt_buf_free(&s.b);
    curl_slist_free_all(hl);
    if (http_handle)
        curl_easy_cleanup(c);
    else
        http_handle = c;
    return rc;
}

void tt_http_thread_done(void)
{
    if (http_handle)
        curl_easy_cleanup(http_handle);
    http_handle = NULL;
}

void tt_http_resp_free(struct tt_http_resp *resp)
{
    if (!resp)
        return;
    free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

int64_t tt_http_parse_retry_after(const char *v, int64_t now_s)
{
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strlen(v);
    while (n && isspace((unsigned char)v[n - 1]))
        n--;
    if (n == 0)
        return -1;
    if (isdigit((unsigned char)v[0])) {
        int64_t s = 0;
        for (size_t i = 0; i < n; i++) {
            if (!isdigit((unsigned char)v[i]))
                return -1;
            s = s * 10 + (v[i] - '0');
            if (s > INT64_MAX / 10000)
                return INT64_MAX / 1000;   /* absurd but valid: a long wait */
        }
        return s * 1000;
    }
    /* IMF-fixdate (RFC 9110 5.6.7): "Sun, 06 Nov 1994 08:49:37 GMT". */
    char buf[64];
    struct tm tm = { 0 };
    if (n >= sizeof(buf))
        return -1;
    memcpy(buf, v, n);
    buf[n] = '\0';
    const char *end = strptime(buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end || *end)
        return -1;
    int64_t at = (int64_t)timegm(&tm);
    return at > now_s ? (at - now_s) * 1000 : 0;
}

void tt_http_url_redact(const char *url, char *buf, size_t n)
{
    const char *p = strstr(url, "://");
    const char *auth = p ? p + 3 : url;
    size_t alen = strcspn(auth, "/?#");
    const char *at = NULL, *colon;

    for (const char *q = auth; q < auth + alen; q++)
        if (*q == '@')
            at = q;
    colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (!colon) {
        snprintf(buf, n, "%s", url);
        return;
    }
    snprintf(buf, n, "%.*s***%s", (int)(colon + 1 - url), url, at);
}
