/* sink_forward.c - the forwarding sinks: OTLP/HTTP JSON and ClickHouse.
 *
 * Both are an encoder (span -> one line) over the disk-backed queue of
 * fwd.h, plus a send function that posts a batch and classifies the answer.
 * Configuration comes from the environment (which tokentapd fills from its
 * config files first: config.h):
 *
 *   OTLP        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is) or
 *               OTEL_EXPORTER_OTLP_ENDPOINT (+ "/v1/traces"),
 *               OTEL_EXPORTER_OTLP_[TRACES_]HEADERS, _TIMEOUT, _COMPRESSION
 *               (gzip), _PROTOCOL (http/json only), OTEL_SERVICE_NAME,
 *               OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_MAX_EXPORT_BATCH_SIZE
 *               (<= 512), OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
 *   ClickHouse  TOKENTAP_CLICKHOUSE_URL (clickhouse.h), TOKENTAP_CLICKHOUSE_BATCH
 *   both        TOKENTAP_FORWARD_DIR, TOKENTAP_FORWARD_QUEUE_MB (256; or _KB),
 *               TOKENTAP_FORWARD_BACKOFF_MS (1000), _BACKOFF_MAX_MS (30000),
 *               TOKENTAP_FORWARD_SHUTDOWN_MS (5000) */
#include "sink.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <zlib.h>

#include "clickhouse.h"
#include "fwd.h"
#include "http.h"
#include "otlp.h"

#define OTLP_BATCH_MAX 512
#define CH_BATCH_DEFAULT 5000

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *v = getenv(name);
    char *end;
    long x;

    if (!v || !*v)
        return def;
    errno = 0;
    x = strtol(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        fprintf(stderr, "tokentapd: %s=%s is not a number in [%ld, %ld]; using %ld\n",
                name, v, lo, hi, def);
        return def;
    }
    return x;
}

/* The first of the variables that is set and not empty. */
static const char *env2(const char *specific, const char *general)
{
    const char *v = getenv(specific);
    if (v && *v)
        return v;
    v = getenv(general);
    return v && *v ? v : NULL;
}

static bool env_true(const char *name)
{
    const char *v = getenv(name);
    return v && (!strcasecmp(v, "true") || !strcmp(v, "1"));
}

/* ---- the common part ------------------------------------------------------ */

typedef int (*encode_fn)(void *ctx, const struct tt_span *s, struct tt_buf *out);

struct fsink {
    struct tt_fwd *fwd;
    encode_fn encode;
    size_t batch_max;
    struct tt_buf rec;          /* records of one staged file */
    uint64_t encode_failed;     /* spans that could not be encoded */
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

static int fsink_open(struct fsink *fs, const char *name, size_t batch_max, encode_fn enc,
                      tt_fwd_send_fn send, void *ctx, const struct tt_sink_config *cfg)
{
    struct tt_fwd_cfg fc = {
        .name = name,
        .batch_max = batch_max,
        .queue_max_bytes = getenv("TOKENTAP_FORWARD_QUEUE_KB")
                               ? (uint64_t)env_long("TOKENTAP_FORWARD_QUEUE_KB", 262144, 1,
                                                    1L << 30) << 10
                               : (uint64_t)env_long("TOKENTAP_FORWARD_QUEUE_MB", 256, 1,
                                                    1L << 20) << 20,
        .backoff_ms = env_long("TOKENTAP_FORWARD_BACKOFF_MS", 1000, 1, 3600000),
        .backoff_max_ms = env_long("TOKENTAP_FORWARD_BACKOFF_MAX_MS", 30000, 1, 86400000),
        .timeout_ms = 10000,
        .sender = !cfg->no_sender,
        .send = send,
        .ctx = ctx,
        .log = cfg->log,
    };

    if (tt_fwd_default_dir(name, fc.dir, sizeof(fc.dir)) != TT_OK) {
        if (cfg->log)
            cfg->log("forward %s: no queue directory (HOME unset?)", name);
        return TT_SINK_ERROR;
    }
    fs->encode = enc;
    fs->batch_max = batch_max;
    fs->log = cfg->log;
    tt_buf_init(&fs->rec, (size_t)256 << 20);
    return fs->fwd ? TT_SINK_OK : (fs->fwd = tt_fwd_open(&fc)) ? TT_SINK_OK : TT_SINK_ERROR;
}


/* Stage spans in files of at most batch_max records. Forwarding is best
 * effort towards the primary sink: always TT_SINK_OK; losses are counted. */
static int fsink_write(struct fsink *fs, void *ctx, const struct tt_span *spans, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t nrec = 0;
        tt_buf_reset(&fs->rec);
        for (; i < n && nrec < fs->batch_max; i++) {
            size_t mark = fs->rec.len;
            if (fs->encode(ctx, &spans[i], &fs->rec) != TT_OK) {
                fs->rec.len = mark;     /* drop this span, keep the others */
                if (fs->rec.data)
                    fs->rec.data[mark] = '\0';
                if (fs->encode_failed++ == 0 && fs->log)
                    fs->log("forward: cannot encode span %s (out of memory?): "
                            "counted as queue_dropped", spans[i].span_id);
                continue;
            }
            nrec++;
        }
        if (nrec && tt_fwd_stage(fs->fwd, fs->rec.data, fs->rec.len, nrec) != TT_OK)
            continue;   /* logged and counted as queue_dropped by fwd.c */
    }
    if (fs->rec.cap > (4u << 20)) {
        tt_buf_free(&fs->rec);      /* a huge batch's memory is not kept */
        tt_buf_init(&fs->rec, (size_t)256 << 20);
    }
    return TT_SINK_OK;
}

static void fsink_take(struct fsink *fs, uint64_t *sent, uint64_t *dropped,
                       uint64_t *queue_dropped, uint64_t *retries)
{
    struct tt_fwd_stats st = { 0 };

    tt_fwd_take(fs->fwd, &st);
    *sent += st.sent;
    *dropped += st.dropped;
    *queue_dropped += st.queue_dropped + fs->encode_failed;
    *retries += st.retries;
    fs->encode_failed = 0;
}

static void fsink_stop(struct fsink *fs)
{
    tt_fwd_stop(fs->fwd, env_long("TOKENTAP_FORWARD_SHUTDOWN_MS", 5000, 0, 3600000));
}

static void fsink_close(struct fsink *fs)
{
    tt_fwd_close(fs->fwd);
    fs->fwd = NULL;
    tt_buf_free(&fs->rec);
}

/* A short, single-line excerpt of a response body for the log. */
static void excerpt(char *dst, size_t cap, long status, const char *body)
{
    size_t n = 0;
    int w = snprintf(dst, cap, "HTTP %ld", status);

    if (w < 0 || (size_t)w >= cap || !body || !*body)
        return;
    n = (size_t)w;
    if (n + 3 < cap) {
        dst[n++] = ':';
        dst[n++] = ' ';
    }
    for (const char *p = body; *p && n + 1 < cap && n < 200; p++)
        dst[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
    dst[n] = '\0';
}

/* ---- OTLP ----------------------------------------------------------------- */

struct otlp {
    struct fsink fs;
    struct tt_otlp_resource res;
    char *url;
    char url_log[512];          /* url without user:password@, for logs */
    char **headers;             /* "Name: value", NULL-terminated */
    bool content;
    bool gzip;
    long timeout_ms;
    struct tt_buf body;
    unsigned char *gz;          /* the body gzipped (OTEL_..._COMPRESSION) */
    size_t gzcap, gzlen;
};

bool tt_sink_otlp_wanted(void)
{
    const char *exp = getenv("OTEL_TRACES_EXPORTER");

    if (env_true("OTEL_SDK_DISABLED"))
        return false;
    if (exp && (!strcmp(exp, "none") || (*exp && !strstr(exp, "otlp"))))
        return false;
    return env2("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT") != NULL;
}

static int otlp_encode(void *ctx, const struct tt_span *s, struct tt_buf *out)
{
    struct otlp *o = ctx;
    int rc = tt_otlp_span(s, o->content, out);
    return rc == TT_OK ? tt_buf_append(out, "\n", 1) : rc;
}

static int gzip_body(struct otlp *o)
{
    z_stream z;
    int rc;

    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
        return TT_ERR_NOMEM;
    size_t bound = (size_t)deflateBound(&z, (uLong)o->body.len) + 32;
    if (bound > o->gzcap) {
        unsigned char *nb = realloc(o->gz, bound);
        if (!nb) {
            deflateEnd(&z);
            return TT_ERR_NOMEM;
        }
        o->gz = nb;
        o->gzcap = bound;
    }
    z.next_in = (Bytef *)o->body.data;
    z.avail_in = (uInt)o->body.len;
    z.next_out = o->gz;
    z.avail_out = (uInt)bound;
    rc = deflate(&z, Z_FINISH);
    o->gzlen = z.total_out;
    deflateEnd(&z);
    return rc == Z_STREAM_END ? TT_OK : TT_ERR;
}

static void otlp_send(void *ctx, const char *recs, size_t len, size_t nrec, long timeout_ms,
                      struct tt_fwd_outcome *out)
{
    struct otlp *o = ctx;
    struct tt_http_resp r;
    int rc;
    (void)nrec;

    tt_buf_reset(&o->body);
    rc = tt_otlp_open(&o->res, &o->body);
    /* Records are lines; the request joins them with commas. */
    for (size_t at = 0; rc == TT_OK && at < len;) {
        const char *nl = memchr(recs + at, '\n', len - at);
        size_t l = nl ? (size_t)(nl - (recs + at)) : len - at;
        if (at > 0)
            rc = tt_buf_append(&o->body, ",", 1);
        if (rc == TT_OK)
            rc = tt_buf_append(&o->body, recs + at, l);
        at += l + 1;
    }
    if (rc == TT_OK)
        rc = tt_otlp_close(&o->body);
    const void *body = o->body.data;
    size_t body_len = o->body.len;
    if (rc == TT_OK && o->gzip && (rc = gzip_body(o)) == TT_OK) {
        body = o->gz;
        body_len = o->gzlen;
    }
    if (rc != TT_OK) {
        out->v = TT_FWD_RETRY;
        snprintf(out->why, sizeof(out->why), "out of memory building the request");
        return;
    }
    struct tt_http_req q = {
        .url = o->url, .headers = (const char *const *)o->headers,
        .body = body, .body_len = body_len,
        .timeout_ms = timeout_ms < o->timeout_ms ? timeout_ms : o->timeout_ms,
        .max_response = 64 * 1024,
    };
    rc = tt_http_do(&q, &r);
    if (rc != TT_OK || r.status == 0) {
        out->v = TT_FWD_RETRY;
        snprintf(out->why, sizeof(out->why), "%.100s: %.140s", o->url_log,
                 rc == TT_ERR_NOMEM ? "out of memory" : r.error);
    } else if (r.status >= 200 && r.status < 300) {
        out->v = TT_FWD_SENT;
        /* ExportTraceServiceResponse: {"partialSuccess": {"rejectedSpans":
         * "N" or N, "errorMessage": "..."}} */
        json_t *j = r.body_len ? json_loadb(r.body, r.body_len, 0, NULL) : NULL;
        json_t *ps = json_object_get(j, "partialSuccess");
        json_t *rej = json_object_get(ps, "rejectedSpans");
        if (json_is_integer(rej) && json_integer_value(rej) > 0)
            out->rejected = (uint64_t)json_integer_value(rej);
        else if (json_is_string(rej))
            out->rejected = strtoull(json_string_value(rej), NULL, 10);
        const char *msg = json_string_value(json_object_get(ps, "errorMessage"));
        snprintf(out->why, sizeof(out->why), "%s", msg ? msg : "partial success");
        json_decref(j);
    } else if (r.status == 429 || r.status == 502 || r.status == 503 || r.status == 504) {
        out->v = TT_FWD_RETRY;
        out->retry_after_ms = r.retry_after_ms;
        excerpt(out->why, sizeof(out->why), r.status, r.body);
    } else {
        /* 400 and everything else: the spec says not to retry. */
        out->v = TT_FWD_DROP;
        excerpt(out->why, sizeof(out->why), r.status, r.body);
    }
    tt_http_resp_free(&r);
}

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* Content-Type, Content-Encoding, then OTEL_EXPORTER_OTLP_HEADERS with
 * OTEL_EXPORTER_OTLP_TRACES_HEADERS over it. */
static char **otlp_headers(bool gzip, size_t *bad)
{
    struct tt_otlp_resource h = { 0 };
    size_t b1 = 0, b2 = 0;
    char **v = NULL;

    if (tt_otlp_parse_attrs(getenv("OTEL_EXPORTER_OTLP_HEADERS"), &h, &b1) != TT_OK ||
        tt_otlp_parse_attrs(getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), &h, &b2) != TT_OK)
        goto out;
    *bad = b1 + b2;
    if (!(v = calloc(h.n + 3, sizeof(*v))))
        goto out;
    size_t k = 0;
    if (!(v[k++] = strdup("Content-Type: application/json")))
        goto fail;
    if (gzip && !(v[k++] = strdup("Content-Encoding: gzip")))
        goto fail;
    for (size_t i = 0; i < h.n; i++) {
        size_t l = strlen(h.attrs[i].key) + strlen(h.attrs[i].value) + 3;
        if (strpbrk(h.attrs[i].key, ": \r\n") || strpbrk(h.attrs[i].value, "\r\n")) {
            (*bad)++;
            continue;
        }
        if (!(v[k] = malloc(l)))
            goto fail;
        snprintf(v[k++], l, "%s: %s", h.attrs[i].key, h.attrs[i].value);
    }
    goto out;
fail:
    free_strv(v);
    v = NULL;
out:
    tt_otlp_resource_free(&h);
    return v;
}

static void otlp_free(struct otlp *o)
{
    tt_otlp_resource_free(&o->res);
    free(o->url);
    free_strv(o->headers);
    tt_buf_free(&o->body);
    free(o->gz);
    free(o);
}

static int otlp_init(void **ctx, const struct tt_sink_config *cfg)
{
    struct otlp *o = calloc(1, sizeof(*o));
    const char *tr = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    const char *base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
    const char *proto = env2("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
    const char *comp = env2("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
                            "OTEL_EXPORTER_OTLP_COMPRESSION");
    size_t bad = 0;

    *ctx = NULL;
    if (!o)
        return TT_SINK_ERROR;
    if (proto && !strcmp(proto, "grpc")) {
        cfg->log("otlp: OTEL_EXPORTER_OTLP_PROTOCOL=grpc: tokentapd speaks OTLP/HTTP "
                 "(http/json) only; point it at the HTTP port (4318) and unset the protocol");
        goto fail;
    }
    if (proto && strcmp(proto, "http/json") != 0)
        cfg->log("otlp: OTEL_EXPORTER_OTLP_PROTOCOL=%s: sending http/json (the only "
                 "encoding tokentapd has; OTLP/HTTP receivers take both)", proto);
    if (tr && *tr) {
        o->url = strdup(tr);
    } else if (base && *base) {
        size_t l = strlen(base);
        if ((o->url = malloc(l + sizeof("/v1/traces"))))
            snprintf(o->url, l + sizeof("/v1/traces"), "%.*s/v1/traces",
                     (int)(l && base[l - 1] == '/' ? l - 1 : l), base);
    }
    if (o->url)     /* credentials in the URL stay out of the logs */
        tt_http_url_redact(o->url, o->url_log, sizeof(o->url_log));
    if (!o->url || strncmp(o->url, "http", 4) != 0) {
        cfg->log("otlp: the endpoint must be an http:// or https:// URL, not '%s'",
                 o->url ? o->url_log : "");
        goto fail;
    }
    o->gzip = comp && !strcmp(comp, "gzip");
    if (comp && !o->gzip && strcmp(comp, "none") != 0)
        cfg->log("otlp: compression '%s' unknown (gzip or none): sending uncompressed", comp);
    o->content = tt_otlp_capture_content(getenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"));
    o->timeout_ms = env_long(getenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")
                                 ? "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"
                                 : "OTEL_EXPORTER_OTLP_TIMEOUT", 10000, 1, 3600000);
    if (tt_otlp_resource_from_env(&o->res, &bad) != TT_OK)
        goto fail;
    if (bad)
        cfg->log("otlp: OTEL_RESOURCE_ATTRIBUTES: %zu malformed pair(s) skipped", bad);
    if (!(o->headers = otlp_headers(o->gzip, &bad)))
        goto fail;
    if (bad)
        cfg->log("otlp: OTEL_EXPORTER_OTLP_HEADERS: %zu malformed pair(s) skipped", bad);
    tt_buf_init(&o->body, (size_t)512 << 20);
    tt_http_global_init();
    long batch = env_long("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", OTLP_BATCH_MAX, 1, OTLP_BATCH_MAX);
    if (fsink_open(&o->fs, "otlp", (size_t)batch, otlp_encode, otlp_send, o, cfg) != TT_SINK_OK)
        goto fail;
    cfg->log("otlp: exporting to %s (batches of %ld, content %s%s)", o->url_log, batch,
             o->content ? "on" : "off", o->gzip ? ", gzip" : "");
    *ctx = o;
    return TT_SINK_OK;
fail:
    otlp_free(o);
    return TT_SINK_ERROR;
}

static int otlp_write(void *ctx, const struct tt_span *spans, size_t n)
{
    struct otlp *o = ctx;
    return fsink_write(&o->fs, o, spans, n);
}

static void otlp_commit(void *ctx, bool ok)
{
    struct otlp *o = ctx;
    tt_fwd_commit(o->fs.fwd, ok);
}

static void otlp_take(void *ctx, struct tt_sink_deltas *d)
{
    struct otlp *o = ctx;
    fsink_take(&o->fs, &d->otlp_sent, &d->otlp_dropped, &d->otlp_queue_dropped,
               &d->otlp_retries);
}

static void otlp_stop(void *ctx)
{
    struct otlp *o = ctx;
    fsink_stop(&o->fs);
}

static void otlp_exit(void *ctx)
{
    struct otlp *o = ctx;
    if (!o)
        return;
    fsink_close(&o->fs);
    otlp_free(o);
}

static const struct tt_sink_fwd_ops otlp_fwd = {
    .commit = otlp_commit,
    .take = otlp_take,
    .stop = otlp_stop,
};

const struct tt_sink_ops tt_sink_otlp = {
    .name = "otlp",
    .role = TT_SINK_FORWARDER,
    .init = otlp_init,
    .write = otlp_write,
    .exit = otlp_exit,
    .fwd = &otlp_fwd,
};

/* ---- ClickHouse ------------------------------------------------------------- */

struct chs {
    struct fsink fs;
    struct tt_ch ch;
    char host_name[256];
    char service_name[256];
    char insert_url[1024];
    bool table_ok;
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

bool tt_sink_clickhouse_wanted(void)
{
    const char *u = getenv("TOKENTAP_CLICKHOUSE_URL");
    return u && *u;
}

static int ch_encode(void *ctx, const struct tt_span *s, struct tt_buf *out)
{
    struct chs *c = ctx;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return tt_ch_row(s, c->host_name, c->service_name,
                     (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000, out);
}

/* ClickHouse exception codes worth a retry (ErrorCodes.cpp): timeouts,
 * network, memory, too many parts/queries, read-only table, auth (an
 * operator fixes the password; the queue keeps the newest spans). */
static bool ch_code_transient(long code)
{
    static const long codes[] = { 159, 160, 164, 192, 193, 194, 195, 202, 209, 210, 241,
                                  242, 252, 285, 319, 425, 439, 516 };
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i] == code)
            return true;
    return false;
}

static long ch_exception_code(const char *body)
{
    const char *p = body ? strstr(body, "Code: ") : NULL;
    return p ? strtol(p + 6, NULL, 10) : -1;
}

static void ch_send(void *ctx, const char *recs, size_t len, size_t nrec, long timeout_ms,
                    struct tt_fwd_outcome *out)
{
    struct chs *c = ctx;
    struct tt_http_resp r;
    char err[512];
    (void)nrec;

    if (!c->table_ok) {
        if (tt_ch_ensure_table(&c->ch, err, sizeof(err)) != TT_OK) {
            out->v = TT_FWD_RETRY;
            snprintf(out->why, sizeof(out->why), "cannot create %.60s.%.60s: %.100s", c->ch.db,
                     c->ch.table, err);
            return;
        }
        c->table_ok = true;
        c->log("clickhouse: table %s.%s ready at %s", c->ch.db, c->ch.table, c->ch.base);
    }
    struct tt_http_req q = {
        .url = c->insert_url, .body = recs, .body_len = len,
        .user = *c->ch.user ? c->ch.user : NULL, .password = c->ch.password,
        .timeout_ms = timeout_ms, .max_response = 64 * 1024,
    };
    int rc = tt_http_do(&q, &r);
    if (rc != TT_OK || r.status == 0) {
        out->v = TT_FWD_RETRY;
        snprintf(out->why, sizeof(out->why), "%.100s: %.140s", c->ch.base,
                 rc == TT_ERR_NOMEM ? "out of memory" : r.error);
    } else if (r.status == 200) {
        out->v = TT_FWD_SENT;
    } else {
        long code = ch_exception_code(r.body);
        excerpt(out->why, sizeof(out->why), r.status, r.body);
        if (code == 60 || code == 81) {         /* UNKNOWN_TABLE / UNKNOWN_DATABASE */
            c->table_ok = false;                /* dropped under us: create again */
            out->v = TT_FWD_RETRY;
            out->retry_after_ms = 0;
        } else if (r.status == 429 || r.status == 502 || r.status == 503 ||
                   r.status == 504 || ch_code_transient(code)) {
            out->v = TT_FWD_RETRY;
            out->retry_after_ms = r.retry_after_ms;
        } else {
            out->v = TT_FWD_DROP;               /* rows it cannot parse stay bad */
        }
    }
    tt_http_resp_free(&r);
}

static int ch_init(void **ctx, const struct tt_sink_config *cfg)
{
    struct chs *c = calloc(1, sizeof(*c));
    struct tt_otlp_resource res;
    char err[256];
    size_t bad = 0;

    *ctx = NULL;
    if (!c)
        return TT_SINK_ERROR;
    c->log = cfg->log;
    if (tt_ch_parse_url(getenv("TOKENTAP_CLICKHOUSE_URL"), &c->ch, err, sizeof(err)) != TT_OK) {
        cfg->log("clickhouse: TOKENTAP_CLICKHOUSE_URL: %s", err);
        free(c);
        return TT_SINK_ERROR;
    }
    /* The same host and service names as the OTLP resource. */
    if (tt_otlp_resource_from_env(&res, &bad) != TT_OK) {
        free(c);
        return TT_SINK_ERROR;
    }
    snprintf(c->host_name, sizeof(c->host_name), "%s", tt_otlp_resource_get(&res, "host.name"));
    snprintf(c->service_name, sizeof(c->service_name), "%s",
             tt_otlp_resource_get(&res, "service.name"));
    tt_otlp_resource_free(&res);
    snprintf(c->insert_url, sizeof(c->insert_url),
             "%s?query=INSERT%%20INTO%%20%s.%s%%20FORMAT%%20JSONEachRow", c->ch.base,
             c->ch.db, c->ch.table);
    tt_http_global_init();
    long batch = env_long("TOKENTAP_CLICKHOUSE_BATCH", CH_BATCH_DEFAULT, 1, 1000000);
    if (fsink_open(&c->fs, "clickhouse", (size_t)batch, ch_encode, ch_send, c, cfg) !=
        TT_SINK_OK) {
        free(c);
        return TT_SINK_ERROR;
    }
    cfg->log("clickhouse: writing to %s.%s at %s as host '%s' (batches of %ld)", c->ch.db,
             c->ch.table, c->ch.base, c->host_name, batch);
    *ctx = c;
    return TT_SINK_OK;
}

static int ch_write(void *ctx, const struct tt_span *spans, size_t n)
{
    struct chs *c = ctx;
    return fsink_write(&c->fs, c, spans, n);
}

static void ch_commit(void *ctx, bool ok)
{
    struct chs *c = ctx;
    tt_fwd_commit(c->fs.fwd, ok);
}

static void ch_take(void *ctx, struct tt_sink_deltas *d)
{
    struct chs *c = ctx;
    fsink_take(&c->fs, &d->clickhouse_sent, &d->clickhouse_dropped,
               &d->clickhouse_queue_dropped, &d->clickhouse_retries);
}

static void ch_stop(void *ctx)
{
    struct chs *c = ctx;
    fsink_stop(&c->fs);
}

static void ch_exit(void *ctx)
{
    struct chs *c = ctx;
    if (!c)
        return;
    fsink_close(&c->fs);
    free(c);
}

static const struct tt_sink_fwd_ops ch_fwd = {
    .commit = ch_commit,
    .take = ch_take,
    .stop = ch_stop,
};

const struct tt_sink_ops tt_sink_clickhouse = {
    .name = "clickhouse",
    .role = TT_SINK_FORWARDER,
    .init = ch_init,
    .write = ch_write,
    .exit = ch_exit,
    .fwd = &ch_fwd,
};

/* ---- spans written by the CLI ----------------------------------------------- */

__attribute__((format(printf, 1, 2)))
static void direct_log(const char *fmt, ...)
{
    (void)fmt;
}

void tt_sink_forward_direct(const struct tt_span *spans, size_t n)
{
    const struct tt_sink_ops *fw[] = { &tt_sink_otlp, &tt_sink_clickhouse };
    bool wanted[] = { tt_sink_otlp_wanted(), tt_sink_clickhouse_wanted() };
    struct tt_sink_config cfg = { .no_sender = true, .log = direct_log };

    for (size_t i = 0; i < sizeof(fw) / sizeof(fw[0]); i++) {
        void *ctx = NULL;
        if (!wanted[i] || fw[i]->init(&ctx, &cfg) != TT_SINK_OK)
            continue;
        (void)fw[i]->write(ctx, spans, n);
        fw[i]->fwd->commit(ctx, true);
        fw[i]->exit(ctx);
    }
}
