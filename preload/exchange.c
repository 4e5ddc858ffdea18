/* exchange.c - request/response -> span, transport-agnostic. */
#include "exchange.h"
#include "decode.h"
#include "defer.h"
#include "deliver.h"
#include "emit.h"
#include "eventstream.h"
#include "proctree.h"
#include "provider.h"
#include "record.h"
#include "redact.h"
#include "rt.h"
#include "sse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SSE_MAX_EVENT (1u << 20)

struct tt_exchange {
    const struct tt_api_ops *api;
    struct tt_span span;
    struct tt_buf req_body;
    struct tt_buf resp_body;      /* non-streaming (decoded) body */
    struct tt_decoder *dec;
    struct tt_sse sse;
    void *api_state;
    int64_t now;                  /* arrival time of the bytes being fed */
    bool sse_on;
    bool ndjson_on;
    /* AWS application/vnd.amazon.eventstream (Bedrock streams): binary
     * messages handed to api->sse_event one by one (eventstream.h). */
    bool es_on;
    struct tt_es es;
    struct tt_buf line;           /* NDJSON: the line being assembled */
    bool resp_started;
    bool body_error;              /* decoding failed: body unusable */
    bool encoded;                 /* a Content-Encoding other than identity */
    bool resp_capped;             /* the buffered body stopped at the cap */
    bool req_parsed;
    bool body_given;              /* api->body was called */
    bool events_given;            /* api->sse_event / ndjson_line was called */
    bool provider_guess;          /* span.provider is the API's default:
                                     the response head may name the real one */
    struct tt_rec *rec;           /* TOKENTAP_RECORD: kept for a cassette */
    bool gateway;                 /* seen by tokentap gateway */
    int64_t client_pid;           /* gateway: the calling process, 0 unknown */
    char *client_exe;             /* its executable, NULL unknown */
    char client_parent[17];       /* its process span, "" unknown */
    char trace[33];               /* "" : tt_rt.trace_id */
    /* Set at creation, read-only afterwards (the hooks' threads read them
     * while the worker runs the exchange's queued ops). */
    bool deferred;                /* its work is queued (defer.h) */
    bool live;                    /* counted in tt_defer_live (hooks' threads only) */
    bool is_head;                 /* a HEAD request: no response body */
};

static void ex_free(struct tt_exchange *ex);

/* What a parser's return code (api.h) means for the span. TT_OK, and
 * TT_ERR_PARSE: the parser has said on the span what was wrong (a request
 * that is not JSON needs nothing: the call is still traced).
 * TT_ERR_NOMEM: fields may be missing, which the span must say. Anything
 * else breaks the parsers' contract: logged. */
static void parser_rc(struct tt_exchange *ex, int rc, const char *step)
{
    if (rc == TT_OK || rc == TT_ERR_PARSE)
        return;
    if (rc == TT_ERR_NOMEM) {
        tt_log("out of memory in the %s parser (%s): span fields may be missing",
               ex->api->name, step);
        tt_span_fail(&ex->span, "out of memory while parsing: fields missing", false);
        return;
    }
    tt_log("the %s parser returned %d from %s", ex->api->name, rc, step);
}

struct tt_exchange *tt_ex_new(const struct tt_ex_request *req, int64_t now)
{
    struct tt_exchange *ex = calloc(1, sizeof(*ex));
    char path[2048];

    if (!ex)
        return NULL;
    ex->api = req->api;
    ex->is_head = req->method_len == 4 && !memcmp(req->method, "HEAD", 4);
    tt_span_init(&ex->span);
    tt_buf_init(&ex->req_body, tt_rt.max_body ? tt_rt.max_body : (8u << 20));
    tt_buf_init(&ex->resp_body, tt_rt.max_body ? tt_rt.max_body : (8u << 20));
    if (!ex->api)
        return ex;
    if (!tt_rt_sampled()) {
        /* Sampled out: the connection's framing is still followed, the
         * call is only counted. */
        ex->api = NULL;
        tt_deliver_sampled_out();
        return ex;
    }
    struct tt_span *s = &ex->span;
    s->start_time = now;
    ex->provider_guess = tt_provider_is_guess(req->host, req->host_len);
    tt_redact_target(req->target, req->target_len, path, sizeof(path));
    if (tt_span_set(&s->provider, req->provider) ||
        tt_span_set(&s->operation, ex->api->operation) ||
        tt_span_setn(&s->host, req->host, req->host_len) ||
        tt_span_setn(&s->method, req->method, req->method_len) ||
        tt_span_set(&s->path, path) ||
        tt_span_set(&s->http_version, req->http_version)) {
        ex_free(ex);
        return NULL;
    }
    if (!req->messages)
        ex->rec = tt_rec_new(req->method, req->method_len, req->host, req->host_len,
                         path, req->tls, req->http_version, now);
    /* A WebSocket exchange (ws_api.c) sets span fields itself between
     * events: it stays inline. */
    if (!req->messages && tt_defer_on()) {
        tt_emit_warm();
        ex->deferred = true;
    }
    return ex;
}

bool tt_ex_traced(const struct tt_exchange *ex)
{
    return ex && ex->api;
}

static void ex_req_body(struct tt_exchange *ex, const char *p, size_t n)
{
    if (!ex->api)
        return;
    tt_rec_req_body(ex->rec, p, n);
    if (tt_buf_append(&ex->req_body, p, n) == TT_ERR_CAP)
        ex->span.truncated = true;
}

static void ex_req_end(struct tt_exchange *ex, int64_t now)
{
    if (!ex->api || ex->req_parsed)
        return;
    ex->req_parsed = true;
    ex->span.request_sent_ns = now;
    tt_rec_req_end(ex->rec, now);
    if (ex->api->request)
        parser_rc(ex, ex->api->request(&ex->span, ex->req_body.data ? ex->req_body.data : "",
                                       ex->req_body.len), "request");
    tt_buf_free(&ex->req_body);
}

static const struct tt_hdr *find_hdr(const struct tt_hdr *h, size_t n,
                                     const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (tt_tok_ieq(h[i].name, h[i].name_len, name))
            return &h[i];
    return NULL;
}

/* The answer came from `tokentap replay` or `run --mock` (its server
 * says so in x-tokentap-replay): the span says which kind. */
static void mark_replay(struct tt_span *s, const struct tt_hdr *h, size_t n)
{
    static const char *const kinds[] = { "hit", "miss", "mock" };
    const struct tt_hdr *r = find_hdr(h, n, "x-tokentap-replay");

    for (size_t i = 0; r && i < sizeof(kinds) / sizeof(kinds[0]); i++)
        if (tt_tok_ieq(r->value, r->value_len, kinds[i]) &&
            tt_span_set(&s->replay, kinds[i]) != TT_OK)
            tt_log("out of memory: replay mark dropped from a span");
}

static bool ex_resp_head(struct tt_exchange *ex, int status,
                         const struct tt_hdr *headers, size_t n_headers,
                         unsigned flags, int64_t now)
{
    if (!ex->req_parsed)
        ex_req_end(ex, now);   /* response before request end (h2/early) */
    ex->resp_started = true;
    if (!ex->api)
        return !(ex->span.method && !strcmp(ex->span.method, "HEAD"));
    struct tt_span *s = &ex->span;
    s->http_status = status;
    mark_replay(s, headers, n_headers);
    tt_rec_resp_head(ex->rec, status, headers, n_headers, now);
    /* A gateway or proxy on a host nobody named: the provider's own
     * response headers say who answered. The price is looked up at the
     * end (tt_ex_end), so it follows the refined provider. */
    if (ex->provider_guess) {
        const char *hp = tt_provider_from_headers(headers, n_headers);
        if (hp && tt_span_set(&s->provider, hp) != TT_OK)
            tt_log("out of memory: provider from response headers dropped");
    }
    const struct tt_hdr *ct = find_hdr(headers, n_headers, "content-type");
    ex->sse_on = status >= 200 && status < 300 && ct &&
                 ct->value_len >= 17 &&
                 !strncasecmp(ct->value, "text/event-stream", 17);
    ex->ndjson_on = !ex->sse_on && ex->api->ndjson_line && status >= 200 &&
                    status < 300 && ct &&
                    ((ct->value_len >= 20 &&
                      !strncasecmp(ct->value, "application/x-ndjson", 20)) ||
                     (ct->value_len >= 17 &&
                      !strncasecmp(ct->value, "application/jsonl", 17)));
    ex->es_on = !ex->sse_on && !ex->ndjson_on && ex->api->sse_event &&
                status >= 200 && status < 300 && ct && ct->value_len >= 34 &&
                !strncasecmp(ct->value, "application/vnd.amazon.eventstream", 34);
    const struct tt_hdr *ce = (flags & TT_EX_BODY_DECODED) ? NULL
                              : find_hdr(headers, n_headers, "content-encoding");
    /* A buffered body is capped at TOKENTAP_MAX_BODY (and so is a
     * decompression bomb). A stream is parsed event by event, each event
     * capped, so its total is not: the usage of a long answer comes in its
     * last event. */
    bool streamed = ex->sse_on || ex->ndjson_on || ex->es_on;
    ex->encoded = ce && ce->value_len &&
                  !(ce->value_len == 8 && !strncasecmp(ce->value, "identity", 8));
    int rc = tt_decoder_new(ce ? ce->value : NULL, ce ? ce->value_len : 0,
                            streamed ? SIZE_MAX
                            : tt_rt.max_body ? tt_rt.max_body : (8u << 20),
                            &ex->dec);
    if (rc != TT_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "response body not decoded: %s content-encoding '%.*s'",
                 rc == TT_ERR_UNSUPPORTED ? "unsupported" : "failed",
                 ce ? (int)(ce->value_len > 40 ? 40 : ce->value_len) : 0,
                 ce ? ce->value : "");
        tt_span_fail(s, msg, false);
        ex->body_error = true;
    }
    if (ex->sse_on)
        tt_sse_init(&ex->sse, SSE_MAX_EVENT);
    if (ex->es_on)
        tt_es_init(&ex->es, SSE_MAX_EVENT);
    if (ex->ndjson_on)
        tt_buf_init(&ex->line, SSE_MAX_EVENT);
    if (ex->api->response_begin)
        parser_rc(ex, ex->api->response_begin(s, &ex->api_state), "response_begin");
    return strcmp(s->method ? s->method : "", "HEAD") != 0;
}

static int on_sse_event(void *ud, const char *ev, size_t evn, const char *data,
                        size_t dn)
{
    struct tt_exchange *ex = ud;

    ex->events_given = true;
    if (ex->api->sse_event)
        parser_rc(ex, ex->api->sse_event(ex->api_state, &ex->span, ev, evn, data, dn,
                                         ex->now), "event");
    return 0;
}

/* One event stream message, as the (event, data) pair of sse_event. */
static int on_es_message(void *ud, const struct tt_es_msg *m)
{
    char name[128];
    const char *data;
    size_t name_len, data_len;

    tt_es_msg_event(m, name, sizeof(name), &name_len, &data, &data_len);
    return on_sse_event(ud, name, name_len, data, data_len);
}

/* A broken event stream cannot be resynchronised: say so on the span. */
static void es_feed(struct tt_exchange *ex, const char *p, size_t n)
{
    int rc = tt_es_feed(&ex->es, p, n, on_es_message, ex);

    if (rc == TT_ERR_CAP)
        ex->span.truncated = true;
    else if (rc != TT_OK)
        tt_span_fail(&ex->span, "response event stream malformed "
                     "(bad CRC or length)", false);
}

/* Hand complete NDJSON lines to the parser; a line above the cap is
 * dropped whole (never handed over cut) and flags the span truncated. */
static void ndjson_flush_line(struct tt_exchange *ex)
{
    size_t n = ex->line.len;

    while (n && (ex->line.data[n - 1] == '\r' || ex->line.data[n - 1] == ' '))
        n--;
    if (ex->line.truncated) {
        ex->span.truncated = true;
    } else if (n) {
        ex->events_given = true;
        parser_rc(ex, ex->api->ndjson_line(ex->api_state, &ex->span, ex->line.data, n,
                                           ex->now), "line");
    }
    tt_buf_reset(&ex->line);
}

static void ndjson_feed(struct tt_exchange *ex, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (tt_buf_append(&ex->line, p, k) == TT_ERR_NOMEM)
            ex->line.truncated = true;
        if (!nl)
            return;
        ndjson_flush_line(ex);
        p += k + 1;
        n -= k + 1;
    }
}

static int on_decoded(void *ud, const char *p, size_t n)
{
    struct tt_exchange *ex = ud;

    tt_rec_resp_body(ex->rec, p, n, ex->now);
    if (ex->sse_on)
        return tt_sse_feed(&ex->sse, p, n, on_sse_event, ex);
    if (ex->ndjson_on) {
        ndjson_feed(ex, p, n);
        return 0;
    }
    if (ex->es_on) {
        es_feed(ex, p, n);
        return 0;
    }
    if (tt_buf_append(&ex->resp_body, p, n) == TT_ERR_CAP)
        ex->span.truncated = true;
    return 0;
}

static void ex_resp_body(struct tt_exchange *ex, const char *p, size_t n,
                         int64_t now)
{
    if (!ex->api || ex->body_error || !ex->dec)
        return;
    ex->now = now;
    int rc = tt_decoder_feed(ex->dec, p, n, on_decoded, ex);
    if (rc == TT_ERR_CAP) {
        ex->span.truncated = true;
        ex->resp_capped = true;
    } else if (rc != TT_OK) {
        tt_span_fail(&ex->span, "response body could not be decoded "
                     "(corrupt content-encoding)", false);
        ex->body_error = true;
    }
}

void tt_ex_resp_event(struct tt_exchange *ex, const char *event,
                      size_t event_len, const char *data, size_t len,
                      int64_t now)
{
    if (!ex->api || !ex->resp_started)
        return;
    ex->now = now;
    (void)on_sse_event(ex, event, event_len, data, len);
}

struct tt_span *tt_ex_span(struct tt_exchange *ex)
{
    return &ex->span;
}

void tt_ex_set_gateway_client(struct tt_exchange *ex, int64_t client_pid,
                              const char *exe, const char *parent_id)
{
    ex->gateway = true;
    if (client_pid <= 0)
        return;
    ex->client_pid = client_pid;
    free(ex->client_exe);
    ex->client_exe = exe ? strdup(exe) : NULL;
    snprintf(ex->client_parent, sizeof(ex->client_parent), "%s",
             parent_id ? parent_id : "");
}

void tt_ex_set_trace(struct tt_exchange *ex, const char *trace_id)
{
    snprintf(ex->trace, sizeof(ex->trace), "%s", trace_id ? trace_id : "");
}

static void finish_identity(const struct tt_exchange *ex, struct tt_span *s,
                            int64_t now)
{
    const char *exe_name = tt_rt.exe;

    tt_span_rand_hex(s->span_id, 8);
    memcpy(s->trace_id, ex->trace[0] ? ex->trace : tt_rt.trace_id, sizeof(s->trace_id));
    s->end_time = now > s->start_time ? now : s->start_time;
    s->pid = (int64_t)tt_rt_pid();
    if (ex->client_pid > 0) {
        /* The gateway's caller, as the gateway found it when the
         * connection came (the process may be gone by now). */
        s->pid = ex->client_pid;
        exe_name = ex->client_exe;
        memcpy(s->parent_id, ex->client_parent[0] ? ex->client_parent : tt_rt.parent_id,
               sizeof(s->parent_id));
    } else if (!tt_proc_self(s->parent_id)) {
        /* Under its process's span (proctree.h); the TRACEPARENT parent
         * when /proc cannot tell. */
        memcpy(s->parent_id, tt_rt.parent_id, sizeof(s->parent_id));
    }
    /* On OOM a field stays null: the span still goes out with its tokens. */
    if (tt_span_set(&s->capture, ex->gateway ? "gateway" : "preload") ||
        tt_span_set(&s->exe, exe_name) ||
        tt_span_set(&s->session_id, tt_rt.session_id) ||
        tt_span_set(&s->tags, tt_rt.tags) ||
        tt_span_set(&s->metadata, tt_rt.metadata) ||
        (!s->name && tt_span_set_name(s, s->operation)))
        tt_log("out of memory while finishing a span");
}

static void ex_end(struct tt_exchange *ex, bool complete, const char *why,
                   int64_t now)
{
    if (!ex->api)
        goto out;
    struct tt_span *s = &ex->span;
    ex->now = now;
    if (!ex->req_parsed)
        ex_req_end(ex, now);
    if (!ex->resp_started) {
        tt_span_fail(s, why ? why : "no response", false);
        goto finish;
    }
    if (ex->dec && !ex->body_error && complete &&
        tt_decoder_finish(ex->dec) == TT_ERR_INCOMPLETE) {
        tt_span_fail(s, "response body ended inside a compressed stream", false);
        complete = false;
    }
    if (!complete)
        tt_span_fail(s, why ? why : "response cut short", false);
    if (ex->sse_on) {
        int rc = tt_sse_finish(&ex->sse);
        if (rc == TT_ERR_INCOMPLETE && complete)
            complete = false;
    } else if (ex->ndjson_on) {
        if (ex->line.len)
            ndjson_flush_line(ex);  /* a last line without its newline */
    } else if (ex->es_on) {
        int rc = tt_es_finish(&ex->es);
        if (rc == TT_ERR_INCOMPLETE && complete)
            complete = false;
    } else if (ex->api->body && !ex->body_error) {
        /* Said before the parser fails on the cut JSON, which would only
         * call the body malformed. */
        if (ex->resp_capped || ex->resp_body.truncated)
            tt_span_fail(s, ex->encoded
                         ? "response body above the decompression cap "
                           "(TOKENTAP_MAX_BODY): decoding stopped there, "
                           "usage not seen"
                         : "response body above the capture cap "
                           "(TOKENTAP_MAX_BODY): truncated, usage not seen",
                         false);
        ex->body_given = true;
        parser_rc(ex, ex->api->body(ex->api_state, s,
                                    ex->resp_body.data ? ex->resp_body.data : "",
                                    ex->resp_body.len), "body");
    }
    struct tt_api_end how = { complete, ex->body_given, ex->events_given };
    parser_rc(ex, tt_api_response_end(ex->api, ex->api_state, s, &how), "end");
    if (s->http_status >= 400) {
        char msg[600];
        if (s->error && strncmp(s->error, "HTTP ", 5))
            snprintf(msg, sizeof(msg), "HTTP %d: %.560s", (int)s->http_status,
                     s->error);
        else
            snprintf(msg, sizeof(msg), "HTTP %d", (int)s->http_status);
        tt_span_fail(s, msg, true);
    }
    if (s->truncated && !s->error && !s->usage_known)
        tt_span_fail(s, "response body above the capture cap "
                     "(TOKENTAP_MAX_BODY); usage not seen", false);
finish:
    finish_identity(ex, s, now);
    tt_emit_llm(s);
    /* The cassette keeps the span as it was sent (redacted). */
    tt_rec_end(ex->rec, s, complete && !s->truncated, now);
    ex->rec = NULL;
out:
    ex_free(ex);
}

static void ex_free(struct tt_exchange *ex)
{
    if (ex->api && ex->api->response_free)
        ex->api->response_free(ex->api_state);
    if (ex->sse_on)
        tt_sse_free(&ex->sse);
    if (ex->es_on)
        tt_es_free(&ex->es);
    tt_buf_free(&ex->line);
    tt_rec_free(ex->rec);
    tt_decoder_free(ex->dec);
    tt_buf_free(&ex->req_body);
    tt_buf_free(&ex->resp_body);
    tt_span_clear(&ex->span);
    free(ex->client_exe);
    free(ex);
}

/* --- the public calls: inline, or queued for the worker (defer.h) ------ */

enum ex_op_kind { OP_REQ_BODY, OP_REQ_END, OP_RESP_HEAD, OP_RESP_BODY, OP_END, OP_FREE };

struct ex_op {
    struct tt_defer_op base;
    struct tt_exchange *ex;
    enum ex_op_kind kind;
    bool complete;
    int status;
    unsigned flags;
    int64_t now;
    const char *why;              /* into data, or NULL */
    struct tt_hdr *headers;       /* into data */
    size_t n_headers;
    size_t len;                   /* body bytes in data */
    char data[];
};

static void ex_op_run(struct tt_defer_op *base)
{
    struct ex_op *op = (struct ex_op *)base;
    struct tt_exchange *ex = op->ex;

    switch (op->kind) {
    case OP_REQ_BODY:
        ex_req_body(ex, op->data, op->len);
        break;
    case OP_REQ_END:
        ex_req_end(ex, op->now);
        break;
    case OP_RESP_HEAD:
        (void)ex_resp_head(ex, op->status, op->headers, op->n_headers, op->flags,
                           op->now);
        break;
    case OP_RESP_BODY:
        ex_resp_body(ex, op->data, op->len, op->now);
        break;
    case OP_END:
        ex_end(ex, op->complete, op->why, op->now);
        break;
    case OP_FREE:
        ex_free(ex);
        break;
    }
    free(op);
}

/* A queued op with room for extra bytes after it; NULL when out of memory
 * (the caller then runs the step inline: slower, never lost). */
static struct ex_op *ex_op_new(struct tt_exchange *ex, enum ex_op_kind kind,
                               size_t extra, int64_t now)
{
    struct ex_op *op = malloc(sizeof(*op) + extra);

    if (!op)
        return NULL;
    memset(op, 0, sizeof(*op));
    op->base.run = ex_op_run;
    op->base.bytes = sizeof(*op) + extra;
    op->base.end = kind == OP_END;
    op->ex = ex;
    op->kind = kind;
    op->now = now;
    return op;
}

/* True with *op to fill and push when ex's work is queued. False: the
 * caller runs the step inline; if ex is deferred (out of memory for the
 * op), its queued ops are run first, so the steps keep their order and no
 * two threads touch ex at once. */
static bool ex_queue(struct tt_exchange *ex, struct ex_op **op,
                     enum ex_op_kind kind, size_t extra, int64_t now)
{
    if (!ex->deferred)
        return false;
    if ((*op = ex_op_new(ex, kind, extra, now)))
        return true;
    tt_defer_drain();
    return false;
}

void tt_ex_req_body(struct tt_exchange *ex, const char *p, size_t n)
{
    struct ex_op *op;

    if (!ex->api || !n)
        return;
    if (!ex_queue(ex, &op, OP_REQ_BODY, n, 0)) {
        ex_req_body(ex, p, n);
        return;
    }
    memcpy(op->data, p, n);
    op->len = n;
    tt_defer_push(&op->base);
}

void tt_ex_req_end(struct tt_exchange *ex, int64_t now)
{
    struct ex_op *op;

    if (!ex_queue(ex, &op, OP_REQ_END, 0, now)) {
        ex_req_end(ex, now);
        return;
    }
    tt_defer_push(&op->base);
}

bool tt_ex_resp_head(struct tt_exchange *ex, int status,
                     const struct tt_hdr *headers, size_t n_headers,
                     int64_t now)
{
    return tt_ex_resp_head_ex(ex, status, headers, n_headers, 0, now);
}

/* An answer that comes as events over time (SSE, NDJSON, AWS event
 * stream): the worker parses it as it comes (tt_defer_live). */
static bool is_stream(const struct tt_hdr *h, size_t n)
{
    const struct tt_hdr *ct = find_hdr(h, n, "content-type");

    return ct && (memmem(ct->value, ct->value_len, "event-stream", 12) ||
                  memmem(ct->value, ct->value_len, "eventstream", 11) ||
                  memmem(ct->value, ct->value_len, "ndjson", 6) ||
                  memmem(ct->value, ct->value_len, "jsonl", 5));
}

bool tt_ex_resp_head_ex(struct tt_exchange *ex, int status,
                        const struct tt_hdr *headers, size_t n_headers,
                        unsigned flags, int64_t now)
{
    struct ex_op *op;
    size_t extra = n_headers * sizeof(struct tt_hdr);

    for (size_t i = 0; ex->deferred && i < n_headers; i++)
        extra += headers[i].name_len + headers[i].value_len + 2;
    if (ex->deferred && !(flags & TT_EX_BODY_DECODED)) {
        const struct tt_hdr *ce = find_hdr(headers, n_headers, "content-encoding");
        if (ce)
            tt_decoder_prepare(ce->value, ce->value_len);
    }
    if (!ex_queue(ex, &op, OP_RESP_HEAD, extra, now))
        return ex_resp_head(ex, status, headers, n_headers, flags, now);
    /* The header list and its strings copied: the caller's parser buffer
     * is reused as soon as we return. */
    struct tt_hdr *h = (struct tt_hdr *)(void *)op->data;
    char *at = op->data + n_headers * sizeof(struct tt_hdr);
    for (size_t i = 0; i < n_headers; i++) {
        memcpy(at, headers[i].name, headers[i].name_len);
        at[headers[i].name_len] = '\0';
        h[i].name = at;
        h[i].name_len = headers[i].name_len;
        at += headers[i].name_len + 1;
        memcpy(at, headers[i].value, headers[i].value_len);
        at[headers[i].value_len] = '\0';
        h[i].value = at;
        h[i].value_len = headers[i].value_len;
        at += headers[i].value_len + 1;
    }
    op->headers = h;
    op->n_headers = n_headers;
    op->status = status;
    op->flags = flags;
    tt_defer_push(&op->base);
    if (!ex->live && status >= 200 && status < 300 && is_stream(headers, n_headers)) {
        ex->live = true;
        tt_defer_live(1);
    }
    /* What ex_resp_head answers, known without it. */
    return !ex->is_head;
}

void tt_ex_resp_body(struct tt_exchange *ex, const char *p, size_t n,
                     int64_t now)
{
    struct ex_op *op;

    if (!ex->api || !n)
        return;
    if (!ex_queue(ex, &op, OP_RESP_BODY, n, now)) {
        ex_resp_body(ex, p, n, now);
        return;
    }
    memcpy(op->data, p, n);
    op->len = n;
    tt_defer_push(&op->base);
}

/* The answer is over (its end or the exchange's free queued): no more
 * worker ticks for it. */
static void ex_unlive(struct tt_exchange *ex)
{
    if (ex->live) {
        ex->live = false;
        tt_defer_live(-1);
    }
}

void tt_ex_end(struct tt_exchange *ex, bool complete, const char *why,
               int64_t now)
{
    struct ex_op *op;
    size_t wn = why ? strlen(why) + 1 : 0;

    if (!ex)
        return;
    ex_unlive(ex);
    if (!ex_queue(ex, &op, OP_END, wn, now)) {
        ex_end(ex, complete, why, now);
        return;
    }
    if (why) {
        memcpy(op->data, why, wn);
        op->why = op->data;
    }
    op->complete = complete;
    tt_defer_push(&op->base);
}

void tt_ex_free(struct tt_exchange *ex)
{
    struct ex_op *op;

    if (!ex)
        return;
    ex_unlive(ex);
    if (!ex_queue(ex, &op, OP_FREE, 0, 0)) {
        ex_free(ex);
        return;
    }
    tt_defer_push(&op->base);
}
