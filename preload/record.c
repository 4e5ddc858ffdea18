/* record.c - exchanges kept for a cassette (record.h). */
#include "record.h"
#include "settings.h"
#include "api.h"
#include "redact.h"
#include "rt.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REC_MAX_HEADERS 64

struct tt_rec {
    char *method, *host, *path;
    char http_version[8];
    bool tls;
    int64_t start, sent, head, first;
    struct tt_buf req;
    int status;
    struct tt_buf hdrs;           /* JSON array body: ["n","v"],... */
    struct tt_buf body;
    struct tt_buf chunks;         /* JSON: [t,n],... */
    int64_t last_t;
    size_t last_n;                /* bytes of the open chunk (same time) */
    bool any_chunk;
};

/* TOKENTAP_RECORD, read once per process (0: unread, 1: off, 2: on). */
static int rec_state;
static char rec_dir[4096];

static bool rec_on(void)
{
    int s = __atomic_load_n(&rec_state, __ATOMIC_ACQUIRE);

    if (s == 0) {
        const char *d = tt_settings()->record;
        s = d && *d && strlen(d) < sizeof(rec_dir) - 32 ? 2 : 1;
        if (s == 2)
            snprintf(rec_dir, sizeof(rec_dir), "%s", d);
        __atomic_store_n(&rec_state, s, __ATOMIC_RELEASE);
    }
    return s == 2;
}

struct tt_rec *tt_rec_new(const char *method, size_t method_len,
                          const char *host, size_t host_len,
                          const char *path, bool tls,
                          const char *http_version, int64_t now)
{
    if (!rec_on())
        return NULL;
    if (!tt_api_capture_content()) {
        static int said;
        if (!__atomic_exchange_n(&said, 1, __ATOMIC_RELAXED))
            tt_log("TOKENTAP_RECORD: content capture is off (TOKENTAP_CAPTURE_CONTENT "
                   "or an invalid TOKENTAP_REDACT): nothing is recorded");
        return NULL;
    }
    struct tt_rec *r = calloc(1, sizeof(*r));
    size_t cap = tt_rt.max_body ? tt_rt.max_body : (8u << 20);

    if (!r)
        goto nomem;
    r->method = tt_strndup(method, method_len);
    r->host = tt_strndup(host, host_len);
    r->path = strdup(path);
    if (!r->method || !r->host || !r->path)
        goto nomem;
    snprintf(r->http_version, sizeof(r->http_version), "%s", http_version ? http_version : "1.1");
    r->tls = tls;
    r->start = now;
    tt_buf_init(&r->req, cap);
    tt_buf_init(&r->hdrs, 64 * 1024);
    tt_buf_init(&r->body, cap);
    tt_buf_init(&r->chunks, 4u << 20);
    return r;
nomem:
    tt_log("out of memory: an exchange is not recorded");
    tt_rec_free(r);
    return NULL;
}

void tt_rec_req_body(struct tt_rec *r, const char *p, size_t n)
{
    if (r)
        if (tt_buf_append(&r->req, p, n) == TT_ERR_NOMEM)
            r->req.truncated = true;
}

void tt_rec_req_end(struct tt_rec *r, int64_t now)
{
    if (r && !r->sent)
        r->sent = now;
}

/* Framing, hop-by-hop, and anything whose name says secret or cookie. */
static const char *const drop_exact[] = {
    "content-length", "transfer-encoding", "connection", "keep-alive",
    "content-encoding", "set-cookie", "cookie", "proxy-authenticate",
    "www-authenticate", "upgrade", "trailer", "te", "alt-svc",
    "x-tokentap-replay",
};
/* Words of a header name (cut at '-' and '_'), as exchange.c judges query
 * parameters: a word that is or ends with key/token/secret, or starts with
 * auth/sess/passw/cookie, or is signature/credential(s). */
static bool secret_word(const char *w, size_t n)
{
    static const char *const suffixes[] = { "key", "token", "secret" };
    static const char *const prefixes[] = { "auth", "sess", "passw", "cookie" };
    static const char *const whole[] = { "signature", "credential", "credentials", "sig" };

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(*suffixes); i++) {
        size_t l = strlen(suffixes[i]);
        if (n >= l && !memcmp(w + n - l, suffixes[i], l))
            return true;
    }
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(*prefixes); i++) {
        size_t l = strlen(prefixes[i]);
        if (n >= l && !memcmp(w, prefixes[i], l))
            return true;
    }
    for (size_t i = 0; i < sizeof(whole) / sizeof(*whole); i++)
        if (n == strlen(whole[i]) && !memcmp(w, whole[i], n))
            return true;
    return false;
}

bool tt_rec_keep_header(const char *name, size_t n)
{
    char low[128];

    if (n == 0 || n >= sizeof(low) || name[0] == ':')
        return false;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
    low[n] = '\0';
    for (size_t i = 0; i < sizeof(drop_exact) / sizeof(*drop_exact); i++)
        if (!strcmp(low, drop_exact[i]))
            return false;
    for (size_t i = 0; i <= n;) {
        size_t k = strcspn(low + i, "-_");
        if (k && secret_word(low + i, k))
            return false;
        i += k + 1;
    }
    return true;
}

void tt_rec_resp_head(struct tt_rec *r, int status, const struct tt_hdr *h,
                      size_t n, int64_t now)
{
    size_t kept = 0;

    if (!r)
        return;
    if (!r->sent)
        r->sent = now;
    r->head = now;
    r->status = status;
    for (size_t i = 0; i < n && kept < REC_MAX_HEADERS; i++) {
        if (!tt_rec_keep_header(h[i].name, h[i].name_len))
            continue;
        size_t mark = r->hdrs.len;
        if ((kept && tt_buf_append(&r->hdrs, ",", 1) != TT_OK) ||
            tt_buf_append(&r->hdrs, "[", 1) != TT_OK ||
            !tt_rec_json_str(&r->hdrs, h[i].name, h[i].name_len) ||
            tt_buf_append(&r->hdrs, ",", 1) != TT_OK ||
            !tt_rec_json_str(&r->hdrs, h[i].value, h[i].value_len) ||
            tt_buf_append(&r->hdrs, "]", 1) != TT_OK) {
            r->hdrs.len = mark;     /* a header that is not text: left out */
            if (r->hdrs.data)
                r->hdrs.data[mark] = '\0';
            continue;
        }
        kept++;
    }
}

static void chunk_flush(struct tt_rec *r)
{
    if (!r->last_n)
        return;
    (void)tt_buf_appendf(&r->chunks, "%s[%lld,%zu]", r->any_chunk ? "," : "",
                         (long long)(r->last_t - r->sent), r->last_n);
    r->any_chunk = true;
    r->last_n = 0;
}

void tt_rec_resp_body(struct tt_rec *r, const char *p, size_t n, int64_t now)
{
    if (!r || !n)
        return;
    size_t before = r->body.len;
    if (tt_buf_append(&r->body, p, n) == TT_ERR_NOMEM)
        r->body.truncated = true;
    n = r->body.len - before;      /* what fit under the cap */
    if (!n)
        return;
    if (r->last_n && now != r->last_t)
        chunk_flush(r);
    r->last_t = now;
    r->last_n += n;
}

bool tt_rec_json_str(struct tt_buf *b, const char *p, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0, run = 0;

    /* Valid UTF-8 without NUL first: else the caller uses base64. */
    while (i < n) {
        unsigned c = s[i];
        size_t k = c < 0x80 ? 0 : (c & 0xe0) == 0xc0 && c >= 0xc2 ? 1
                 : (c & 0xf0) == 0xe0 ? 2 : (c & 0xf8) == 0xf0 && c <= 0xf4 ? 3 : 9;
        if (c == 0 || k == 9 || i + k >= n + (k ? 0 : 1))
            return false;
        for (size_t j = 1; j <= k; j++)
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
        if (k == 2 && ((c == 0xe0 && s[i + 1] < 0xa0) || (c == 0xed && s[i + 1] >= 0xa0)))
            return false;
        if (k == 3 && ((c == 0xf0 && s[i + 1] < 0x90) || (c == 0xf4 && s[i + 1] >= 0x90)))
            return false;
        i += k + 1;
    }
    if (tt_buf_append(b, "\"", 1) != TT_OK)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = s[i];
        char esc[8];
        const char *e = NULL;
        size_t el = 2;
        if (c == '"') e = "\\\"";
        else if (c == '\\') e = "\\\\";
        else if (c == '\n') e = "\\n";
        else if (c == '\r') e = "\\r";
        else if (c == '\t') e = "\\t";
        else if (c < 0x20) {
            esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
            esc[4] = hex[c >> 4]; esc[5] = hex[c & 15];
            e = esc;
            el = 6;
        }
        if (!e) {
            run++;
            continue;
        }
        if ((run && tt_buf_append(b, p + i - run, run) != TT_OK) ||
            tt_buf_append(b, e, el) != TT_OK)
            return false;
        run = 0;
    }
    if (run && tt_buf_append(b, p + n - run, run) != TT_OK)
        return false;
    return tt_buf_append(b, "\"", 1) == TT_OK;
}

int tt_rec_base64(struct tt_buf *b, const unsigned char *p, size_t n)
{
    static const char al[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        q[0] = al[v >> 18];
        q[1] = al[(v >> 12) & 63];
        q[2] = i + 1 < n ? al[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? al[v & 63] : '=';
        if (tt_buf_append(b, q, 4) != TT_OK)
            return TT_ERR_NOMEM;
    }
    return TT_OK;
}

/* "key": body as a string, or "key_b64": base64 when it is not text. */
static int put_body(struct tt_buf *b, const char *key, const char *p, size_t n)
{
    size_t mark = b->len;

    if (tt_buf_appendf(b, ",\"%s\":", key) < 0)
        return TT_ERR_NOMEM;
    if (tt_rec_json_str(b, p ? p : "", p ? n : 0))
        return TT_OK;
    b->len = mark;
    if (tt_buf_appendf(b, ",\"%s_b64\":\"", key) < 0 ||
        tt_rec_base64(b, (const unsigned char *)p, n) != TT_OK ||
        tt_buf_append(b, "\"", 1) != TT_OK)
        return TT_ERR_NOMEM;
    return TT_OK;
}

static void put_str_field(struct tt_buf *b, const char *key, const char *v)
{
    (void)tt_buf_appendf(b, ",\"%s\":", key);
    if (!v || !tt_rec_json_str(b, v, strlen(v)))
        if (tt_buf_append(b, "null", 4) != TT_OK)
            b->truncated = true;
}

/* buf after TOKENTAP_REDACT; false when it cannot be redacted (then the
 * exchange is not recorded: never kept unredacted). */
static bool redact_buf(struct tt_buf *buf)
{
    size_t len = buf->len;
    char *body;
    int rc;

    if (!buf->data)
        return true;
    body = tt_buf_steal(buf);
    rc = tt_redact_body(&tt_rt.redact, &body, &len);
    tt_buf_reset(buf);
    if (rc == TT_OK)
        rc = tt_buf_append(buf, body, len);
    free(body);
    return rc == TT_OK;
}

void tt_rec_end(struct tt_rec *r, const struct tt_span *s, bool complete,
                int64_t now)
{
    struct tt_buf line;
    char path[4200];
    bool truncated, redacted = false;
    size_t req_len, body_len;

    if (!r)
        return;
    chunk_flush(r);
    truncated = r->req.truncated || r->body.truncated || r->chunks.truncated;
    req_len = r->req.len;
    body_len = r->body.len;
    if (tt_rt.redact.n) {
        if (!redact_buf(&r->req) || !redact_buf(&r->body)) {
            tt_log("TOKENTAP_RECORD: a body could not be redacted: the exchange is "
                   "not recorded");
            goto out;
        }
        redacted = r->req.len != req_len || r->body.len != body_len ||
                   (r->req.data && strstr(r->req.data, TT_REDACT_MARK)) ||
                   (r->body.data && strstr(r->body.data, TT_REDACT_MARK));
    }
    tt_buf_init(&line, SIZE_MAX / 2);
    (void)tt_buf_appendf(&line, "{\"v\":1,\"pid\":%ld,\"start\":%lld,\"sent\":%lld,"
                         "\"head\":%lld,\"end\":%lld", (long)getpid(),
                         (long long)r->start, (long long)(r->sent ? r->sent : r->start),
                         (long long)r->head, (long long)now);
    put_str_field(&line, "method", r->method);
    put_str_field(&line, "scheme", r->tls ? "https" : "http");
    put_str_field(&line, "host", r->host);
    put_str_field(&line, "path", r->path);
    put_str_field(&line, "http_version", r->http_version);
    if (put_body(&line, "req_body", r->req.data, r->req.len) != TT_OK)
        goto nomem;
    (void)tt_buf_appendf(&line, ",\"status\":%d,\"resp_headers\":[", r->status);
    if (r->hdrs.len && tt_buf_append(&line, r->hdrs.data, r->hdrs.len) != TT_OK)
        goto nomem;
    if (tt_buf_append(&line, "]", 1) != TT_OK)
        goto nomem;
    if (put_body(&line, "resp_body", r->body.data, r->body.len) != TT_OK)
        goto nomem;
    if (tt_buf_append_str(&line, ",\"chunks\":[") != TT_OK)
        goto nomem;
    /* Redaction changed the body's length: one piece, at the first
     * piece's time. */
    if (redacted && r->chunks.len) {
        long long t0 = strtoll(r->chunks.data + 1, NULL, 10);
        (void)tt_buf_appendf(&line, "[%lld,%zu]", t0, r->body.len);
    } else if (r->chunks.len && tt_buf_append(&line, r->chunks.data, r->chunks.len) != TT_OK) {
        goto nomem;
    }
    (void)tt_buf_appendf(&line, "],\"complete\":%s,\"truncated\":%s,\"redacted\":%s",
                         complete ? "true" : "false", truncated ? "true" : "false",
                         redacted ? "true" : "false");
    if (s) {
        (void)tt_buf_appendf(&line, ",\"span\":{\"span_id\":\"%s\",\"trace_id\":\"%s\"",
                             s->span_id, s->trace_id);
        put_str_field(&line, "provider", s->provider);
        put_str_field(&line, "request_model", s->request_model);
        put_str_field(&line, "response_model", s->response_model);
        (void)tt_buf_appendf(&line, ",\"stream\":%s,\"input_tokens\":%lld,"
                             "\"output_tokens\":%lld,\"cost_usd\":%.12g,\"cost_known\":%s}",
                             s->stream ? "true" : "false", (long long)s->input_tokens,
                             (long long)s->output_tokens, s->cost_usd,
                             s->cost_known ? "true" : "false");
    }
    if (tt_buf_append(&line, "}\n", 2) != TT_OK || line.truncated)
        goto nomem;
    snprintf(path, sizeof(path), "%s/rec-%ld.jsonl", rec_dir, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        tt_log("TOKENTAP_RECORD: cannot open %s: %s; an exchange is not recorded", path,
               strerror(errno));
    } else {
        size_t off = 0;
        while (off < line.len) {
            ssize_t w = write(fd, line.data + off, line.len - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0) {
                tt_log("TOKENTAP_RECORD: cannot write %s: %s", path, strerror(errno));
                break;
            }
            off += (size_t)w;
        }
        close(fd);
    }
    tt_buf_free(&line);
    goto out;
nomem:
    tt_buf_free(&line);
    tt_log("out of memory: an exchange is not recorded");
out:
    tt_rec_free(r);
}

void tt_rec_free(struct tt_rec *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->host);
    free(r->path);
    tt_buf_free(&r->req);
    tt_buf_free(&r->hdrs);
    tt_buf_free(&r->body);
    tt_buf_free(&r->chunks);
    free(r);
}
