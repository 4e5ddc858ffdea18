/* http.h - one HTTP request from tokentapd or the CLI (libcurl easy).
 *
 * The exporter's forwarders (OTLP, ClickHouse) and `tokentap --store
 * clickhouse://` speak HTTP through this one function, so timeouts, proxies
 * and TLS are set in one place. Never used by the preload: the daemon and
 * the CLI are not traced processes. */
#ifndef TT_HTTP_H
#define TT_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

struct tt_http_req {
    const char *method;        /* "POST" (default when body) or "GET" */
    const char *url;
    const char *const *headers;/* "Name: value" strings, NULL-terminated; may be NULL */
    const void *body;
    size_t body_len;
    const char *user, *password; /* HTTP basic auth; NULL = none */
    long timeout_ms;           /* whole request; <= 0: 10 s */
    size_t max_response;       /* response body cap (0: 1 MiB); more is cut */
};

struct tt_http_resp {
    long status;               /* HTTP status; 0 when no response came */
    char error[256];           /* transport error text when status == 0 */
    int64_t retry_after_ms;    /* Retry-After (seconds or HTTP date); -1: none */
    char *body;                /* response body, NUL-terminated (owned) */
    size_t body_len;
    bool truncated;            /* the body was cut at max_response */
};

/* Initialise libcurl once per process (thread-safe; idempotent). */
void tt_http_global_init(void);

/* Perform the request. TT_OK when a response (any status) arrived, or
 * TT_ERR_IO with resp->error set when none did (refused, timeout, TLS...).
 * TT_ERR_NOMEM on OOM. Free resp with tt_http_resp_free. */
int tt_http_do(const struct tt_http_req *req, struct tt_http_resp *resp) TT_WUR;
void tt_http_resp_free(struct tt_http_resp *resp);

/* Requests on one thread reuse one libcurl handle (and its open
 * connections); a thread that made requests calls this before it ends. */
void tt_http_thread_done(void);

/* url with the password of its userinfo shown as "***"
 * ("clickhouse://u:***@h/db"), for logs and messages; cut to n bytes. */
void tt_http_url_redact(const char *url, char *buf, size_t n);

/* Retry-After as milliseconds from now: "120" or an HTTP date
 * ("Wed, 21 Oct 2015 07:28:00 GMT"), now_s the current epoch seconds.
 * -1 when the value is neither. A date in the past is 0. */
int64_t tt_http_parse_retry_after(const char *v, int64_t now_s);

#endif
