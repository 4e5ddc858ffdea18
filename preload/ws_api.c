/* ws_api.c - LLM calls over WebSocket (see ws_api.h). */
#include "ws_api.h"
#include "decode.h"
#include "defer.h"
#include "emit.h"
#include "exchange.h"
#include "json.h"
#include "rt.h"
#include "span.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WSS_MAX_QUEUE 64          /* response.create not answered yet */
#define WSS_MAX_ACTIVE 8          /* Realtime responses open at once */
#define WSS_MAX_ITEMS ((size_t)1 << 20)   /* Realtime input kept per call */

enum wss_kind { WSS_RESPONSES, WSS_REALTIME };

struct wss_call {
    struct tt_exchange *ex;
    bool warmup;                  /* Responses: generate:false */
    bool started;                 /* response head given */
    char *resp_id;                /* Realtime: response.created's id */
    char conv[17];                /* Responses: conversation (chain) id */
};

/* Responses: which conversation a response id belongs to, so a call
 * chained by previous_response_id continues its chain's conversation. */
#define WSS_CHAIN 32
struct wss_chain {
    char id[64];
    char conv[17];
};

struct wss_rq {                   /* a Realtime response.create */
    int64_t t0;
    json_t *resp;                 /* its "response" object, or NULL */
};

struct tt_wss {
    enum wss_kind kind;
    struct tt_ws dir[2];          /* [0] client->server, [1] server->client */
    char *provider, *host, *target;
    bool tls;
    bool gateway;
    int64_t client_pid;
    char *client_exe, *client_parent, *trace;
    bool failed;
    /* Responses: calls in request order. Realtime: open responses. */
    struct wss_call q[WSS_MAX_QUEUE];
    size_t qn;
    /* Realtime. */
    char *model;
    json_t *items;                /* conversation items since the last call */
    size_t items_bytes;
    struct wss_rq rq[16];
    size_t rqn;
    struct wss_chain chain[WSS_CHAIN];
    unsigned chain_next;
    struct tt_wss_stats st;
    int64_t now;
    bool from_client;             /* direction being fed */
    /* Its bytes are read on the capture worker (tt_wss_feed): set at
     * tt_wss_new, then only the worker (or a thread running the queue)
     * touches the session, except `dead`. */
    bool deferred;
    bool dead;                    /* framing lost (atomic): stop queuing */
};

static const char wss_ct_name[] = "content-type";
static const char wss_ct_value[] = "text/event-stream";

static bool wss_suffix(const char *p, size_t n, const char *s)
{
    size_t k = strlen(s);

    return n >= k && memcmp(p + n - k, s, k) == 0;
}

static size_t wss_path_len(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t[i] == '?' || t[i] == '#')
            return i;
    return n;
}

static int wss_kind_of(const char *target, size_t n, enum wss_kind *k)
{
    n = wss_path_len(target, n);
    if (wss_suffix(target, n, "/v1/responses")) {
        *k = WSS_RESPONSES;
        return TT_OK;
    }
    if (wss_suffix(target, n, "/realtime")) {
        *k = WSS_REALTIME;
        return TT_OK;
    }
    return TT_ERR;
}

bool tt_wss_path_known(const char *target, size_t len)
{
    enum wss_kind k;

    return target && wss_kind_of(target, len, &k) == TT_OK;
}

bool tt_wss_wanted(const struct tt_h1_head *h)
{
    const struct tt_hdr *up = tt_h1_find(h, "upgrade");

    return h->is_request && up && tt_tok_ieq(up->value, up->value_len, "websocket") &&
           tt_tok_ieq(h->method, h->method_len, "GET") &&
           tt_wss_path_known(h->target, h->target_len);
}

/* model=... of the query, raw (model names need no %-decoding). */
static char *wss_query_model(const char *t, size_t n)
{
    const char *q = memchr(t, '?', n);

    if (!q)
        return NULL;
    const char *p = q + 1, *end = t + n;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        size_t len = amp ? (size_t)(amp - p) : (size_t)(end - p);
        if (len > 6 && !memcmp(p, "model=", 6))
            return tt_strndup(p + 6, len - 6);
        p += len + 1;
    }
    return NULL;
}

static char *wss_dup(const char *p, size_t n)
{
    return p ? tt_strndup(p, n) : NULL;
}

struct tt_wss *tt_wss_new(const struct tt_wss_info *in, int64_t now)
{
    struct tt_wss *s;
    enum wss_kind kind;
    size_t cap = tt_rt.max_body ? tt_rt.max_body : ((size_t)8 << 20);

    if (!in->target || wss_kind_of(in->target, in->target_len, &kind) != TT_OK)
        return NULL;
    if (!(s = calloc(1, sizeof(*s))))
        return NULL;
    s->kind = kind;
    s->now = now;
    tt_ws_init(&s->dir[0], cap);
    tt_ws_init(&s->dir[1], cap);
    tt_ws_set_deflate(&s->dir[0], in->ext.deflate, in->ext.client_no_context_takeover);
    tt_ws_set_deflate(&s->dir[1], in->ext.deflate, in->ext.server_no_context_takeover);
    s->provider = strdup(in->provider ? in->provider : "openai");
    s->host = wss_dup(in->host ? in->host : "", in->host ? in->host_len : 0);
    s->target = wss_dup(in->target, in->target_len);
    s->tls = in->tls;
    s->gateway = in->gateway;
    s->client_pid = in->client_pid;
    s->client_exe = in->client_exe ? strdup(in->client_exe) : NULL;
    s->client_parent = in->client_parent ? strdup(in->client_parent) : NULL;
    s->trace = in->trace ? strdup(in->trace) : NULL;
    if (kind == WSS_REALTIME)
        s->model = wss_query_model(in->target, in->target_len);
    if (!s->provider || !s->host || !s->target) {
        tt_wss_free(s);
        return NULL;
    }
    if (!s->gateway && tt_defer_on()) {
        /* What the worker may not do itself (no descriptor work there,
         * defer.h), done here on the program's thread: the process's
         * spans, the daemon's connection and jansson (tt_emit_warm), zlib
         * for permessage-deflate. */
        tt_emit_warm();
        if (in->ext.deflate)
            tt_decoder_prepare("deflate", 7);
        s->deferred = true;
    }
    return s;
}

/* --- calls ----------------------------------------------------------------- */

static struct tt_exchange *wss_ex(struct tt_wss *s, const struct tt_api_ops *api,
                                  const char *body, size_t n, int64_t t0)
{
    struct tt_ex_request r = {
        .api = api, .provider = s->provider,
        .host = s->host, .host_len = strlen(s->host),
        .method = "GET", .method_len = 3,
        .target = s->target, .target_len = strlen(s->target),
        .http_version = "websocket", .tls = s->tls, .messages = true,
    };
    struct tt_exchange *ex = tt_ex_new(&r, t0);

    if (!ex)
        return NULL;
    if (s->gateway) {
        tt_ex_set_gateway_client(ex, s->client_pid, s->client_exe, s->client_parent);
        if (s->trace)
            tt_ex_set_trace(ex, s->trace);
    }
    tt_ex_req_body(ex, body, n);
    tt_ex_req_end(ex, t0);
    /* Over a WebSocket every response streams (there is no "stream"). */
    tt_ex_span(ex)->stream = true;
    return ex;
}

static void wss_start(struct tt_wss *s, struct wss_call *c)
{
    static const struct tt_hdr ct = {
        wss_ct_name, sizeof(wss_ct_name) - 1, wss_ct_value, sizeof(wss_ct_value) - 1,
    };

    if (c->started)
        return;
    c->started = true;
    (void)tt_ex_resp_head(c->ex, 200, &ct, 1, s->now);
}

static void wss_call_free(struct wss_call *c)
{
    free(c->resp_id);
    memset(c, 0, sizeof(*c));
}

/* Remove q[i], keeping the order. */
static void wss_remove(struct tt_wss *s, size_t i)
{
    wss_call_free(&s->q[i]);
    memmove(&s->q[i], &s->q[i + 1], (s->qn - i - 1) * sizeof(s->q[0]));
    s->qn--;
    memset(&s->q[s->qn], 0, sizeof(s->q[0]));
}

static void wss_finish(struct tt_wss *s, size_t i, bool complete, const char *why)
{
    tt_ex_end(s->q[i].ex, complete, why, s->now);
    s->st.calls++;
    wss_remove(s, i);
}

/* The type of an event, as sent (a JSON string without escapes). */
static bool wss_type(const struct tt_json_slice *sl, const char **t, size_t *n)
{
    if (!sl->ptr || sl->len < 2 || sl->ptr[0] != '"' || sl->ptr[sl->len - 1] != '"' ||
        memchr(sl->ptr, '\\', sl->len))
        return false;
    *t = sl->ptr + 1;
    *n = sl->len - 2;
    return true;
}

static bool wss_is(const char *t, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(t, lit, n) == 0;
}

static bool wss_prefix(const char *t, size_t n, const char *lit)
{
    size_t k = strlen(lit);

    return n >= k && memcmp(t, lit, k) == 0;
}

/* --- Responses over WebSocket ----------------------------------------------- */

static const char *const wss_resp_terminal[] = {
    "response.completed", "response.incomplete", "response.failed", "error",
};

/* A warm-up whose response says no tokens were used (or no usage). */
static bool wss_zero_usage(const char *data, size_t n)
{
    json_t *root = NULL;
    int64_t in = 0, out = 0;
    bool zero;

    if (tt_json_parse(data, n, &root) != TT_OK)
        return false;
    json_t *u = json_object_get(json_object_get(root, "response"), "usage");
    zero = !u || json_is_null(u) ||
           (tt_json_count_opt(json_object_get(u, "input_tokens"), &in) == TT_OK &&
            tt_json_count_opt(json_object_get(u, "output_tokens"), &out) == TT_OK &&
            in == 0 && out == 0);
    json_decref(root);
    return zero;
}

/* The conversation of a previous_response_id (raw JSON string), or a new
 * one. */
static void wss_chain_conv(struct tt_wss *s, const struct tt_json_slice *prev, char *conv)
{
    if (prev->ptr && prev->len >= 2 && prev->ptr[0] == '"') {
        size_t n = prev->len - 2;
        for (size_t i = 0; i < WSS_CHAIN; i++) {
            if (s->chain[i].id[0] && strlen(s->chain[i].id) == n &&
                !memcmp(s->chain[i].id, prev->ptr + 1, n)) {
                memcpy(conv, s->chain[i].conv, 17);
                return;
            }
        }
    }
    tt_span_rand_hex(conv, 8);
}

/* A terminal event: remember its response id for later chained calls.
 * Found without building the event (tt_json_members twice: no
 * allocation); an id with escapes is not remembered. */
static void wss_chain_add(struct tt_wss *s, const char *conv, const char *data, size_t n)
{
    static const char *const rkey[] = { "response" }, *const ikey[] = { "id" };
    struct tt_json_slice r, id;

    if (tt_json_members(data, n, rkey, 1, &r) != TT_OK || !r.ptr ||
        tt_json_members(r.ptr, r.len, ikey, 1, &id) != TT_OK || !id.ptr ||
        id.len < 3 || id.ptr[0] != '"' || memchr(id.ptr, '\\', id.len) ||
        id.len - 2 >= sizeof(s->chain[0].id))
        return;
    struct wss_chain *e = &s->chain[s->chain_next++ % WSS_CHAIN];
    memcpy(e->id, id.ptr + 1, id.len - 2);
    e->id[id.len - 2] = '\0';
    memcpy(e->conv, conv, 17);
}

static const char wss_cut_msg[] =
    "a WebSocket message above the capture cap (TOKENTAP_MAX_BODY) ended "
    "this response: its usage was not seen";

/* A message is cut (above the cap) when `cut`: its members that came
 * whole (the type comes first) still say what it was. */
static void wss_responses_msg(struct tt_wss *s, const char *data, size_t n, bool cut)
{
    static const char *const keys[] = { "type", "generate", "previous_response_id" };
    struct tt_json_slice m[3];
    const char *t;
    size_t tn;
    int mrc = tt_json_members(data, n, keys, 3, m);

    if ((mrc != TT_OK && !(cut && mrc == TT_ERR_INCOMPLETE)) || !wss_type(&m[0], &t, &tn)) {
        if (cut && s->qn)       /* whose it was is unknown: the open call's */
            tt_ex_span(s->q[s->from_client ? s->qn - 1 : 0].ex)->truncated = true;
        return;                 /* not an event we know */
    }
    if (s->from_client) {
        if (!wss_is(t, tn, "response.create"))
            return;
        if (s->qn == WSS_MAX_QUEUE) {
            tt_log("more than %d WebSocket responses pending on one "
                   "connection; a call was not traced", WSS_MAX_QUEUE);
            return;
        }
        struct wss_call *c = &s->q[s->qn];
        if (!(c->ex = wss_ex(s, &tt_openai_responses_api, data, n, s->now)))
            return;
        c->warmup = m[1].ptr && m[1].len == 5 && !memcmp(m[1].ptr, "false", 5);
        wss_chain_conv(s, &m[2], c->conv);
        memcpy(tt_ex_span(c->ex)->conversation_id, c->conv, sizeof(c->conv));
        if (cut)
            tt_ex_span(c->ex)->truncated = true;   /* the request parser reads the prefix */
        s->qn++;
        return;
    }
    if (!s->qn)
        return;                 /* nothing asked: not a call's event */
    struct wss_call *c = &s->q[0];
    wss_start(s, c);
    if (cut) {
        /* Not handed to the parser (cut JSON); a terminal one still ends
         * the call, or the next call's events would be taken for its. */
        tt_ex_span(c->ex)->truncated = true;
        for (size_t i = 0; i < sizeof(wss_resp_terminal) / sizeof(*wss_resp_terminal); i++) {
            if (wss_is(t, tn, wss_resp_terminal[i])) {
                tt_span_fail(tt_ex_span(c->ex), wss_cut_msg, false);
                wss_finish(s, 0, true, NULL);
                break;
            }
        }
        return;
    }
    tt_ex_resp_event(c->ex, t, tn, data, n, s->now);
    for (size_t i = 0; i < sizeof(wss_resp_terminal) / sizeof(*wss_resp_terminal); i++) {
        if (!wss_is(t, tn, wss_resp_terminal[i]))
            continue;
        if (!wss_is(t, tn, "error"))
            wss_chain_add(s, c->conv, data, n);
        if (c->warmup && !wss_is(t, tn, "error") && wss_zero_usage(data, n)) {
            /* generate:false prepared state; nothing was generated or
             * billed: not a call. */
            tt_ex_free(c->ex);
            c->ex = NULL;
            s->st.warmups++;
            wss_remove(s, 0);
        } else {
            wss_finish(s, 0, true, NULL);
        }
        return;
    }
}

/* --- Realtime --------------------------------------------------------------- */

static void wss_rt_session_model(struct tt_wss *s, const struct tt_json_slice *sess)
{
    json_t *v = NULL;
    const char *model;
    size_t n;

    if (tt_json_slice_parse(sess, &v) != TT_OK || !v)
        return;
    model = tt_json_str(json_object_get(v, "model"), &n);
    if (model && n && !memchr(model, 0, n)) {
        char *d = tt_strndup(model, n);
        if (d) {
            free(s->model);
            s->model = d;
        }
    }
    json_decref(v);
}

static void wss_rt_item(struct tt_wss *s, const struct tt_json_slice *item)
{
    json_t *v = NULL;

    if (!tt_api_capture_content() || !item->ptr ||
        s->items_bytes + item->len > WSS_MAX_ITEMS)
        return;
    if (tt_json_slice_parse(item, &v) != TT_OK || !v)
        return;
    if (!s->items && !(s->items = json_array())) {
        json_decref(v);
        return;
    }
    if (json_array_append_new(s->items, v) == 0)
        s->items_bytes += item->len;
}

static void wss_rt_create(struct tt_wss *s, const struct tt_json_slice *resp)
{
    json_t *v = NULL;

    if (s->rqn == sizeof(s->rq) / sizeof(s->rq[0]))
        return;
    if (resp->ptr && tt_json_slice_parse(resp, &v) != TT_OK)
        v = NULL;
    s->rq[s->rqn].t0 = s->now;
    s->rq[s->rqn].resp = v;
    s->rqn++;
}

/* response.created: a call starts. */
static void wss_rt_created(struct tt_wss *s, const char *data, size_t n)
{
    int64_t t0 = s->now;
    json_t *resp = NULL, *body, *root = NULL;
    char *text;

    if (s->rqn) {
        /* The client's response.create this answers (the oldest). */
        t0 = s->rq[0].t0;
        resp = s->rq[0].resp;
        memmove(&s->rq[0], &s->rq[1], (s->rqn - 1) * sizeof(s->rq[0]));
        s->rqn--;
    }
    if (s->qn == WSS_MAX_ACTIVE) {
        wss_finish(s, 0, false, "more Realtime responses open than tokentap "
                   "follows on one connection");
    }
    if (!(body = json_object())) {
        json_decref(resp);
        return;
    }
    if (s->model)
        (void)json_object_set_new(body, "model", json_string(s->model));
    if (s->items) {
        (void)json_object_set_new(body, "input", s->items);
        s->items = NULL;
    }
    s->items_bytes = 0;
    if (resp)
        (void)json_object_set_new(body, "response", resp);
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return;
    struct wss_call *c = &s->q[s->qn];
    c->ex = wss_ex(s, &tt_openai_realtime_api, text, strlen(text), t0);
    free(text);
    if (!c->ex)
        return;
    if (tt_json_parse(data, n, &root) == TT_OK) {
        const char *id = tt_json_str(json_object_get(json_object_get(root, "response"), "id"), NULL);
        if (id)
            c->resp_id = strdup(id);
        json_decref(root);
    }
    s->qn++;
    wss_start(s, c);
    tt_ex_resp_event(c->ex, "response.created", 16, data, n, s->now);
}

/* The open call an event belongs to: by its response id, else the newest. */
static long wss_rt_find(struct tt_wss *s, const struct tt_json_slice *rid,
                        const struct tt_json_slice *resp)
{
    const char *id = NULL;
    size_t idn = 0;
    char *owned = NULL;
    long found = -1;

    if (!s->qn)
        return -1;
    if (rid->ptr && rid->len >= 2 && rid->ptr[0] == '"') {
        id = rid->ptr + 1;
        idn = rid->len - 2;
    } else if (resp->ptr) {
        json_t *v = NULL;
        if (tt_json_slice_parse(resp, &v) == TT_OK && v) {
            const char *x = tt_json_str(json_object_get(v, "id"), &idn);
            if (x)
                id = owned = tt_strndup(x, idn);
            json_decref(v);
        }
    }
    for (size_t i = 0; id && i < s->qn; i++) {
        const char *r = s->q[i].resp_id;
        if (r && strlen(r) == idn && !memcmp(r, id, idn)) {
            found = (long)i;
            break;
        }
    }
    free(owned);
    if (found < 0 && !id)
        found = (long)s->qn - 1;
    return found;
}

static void wss_realtime_msg(struct tt_wss *s, const char *data, size_t n, bool cut)
{
    static const char *const keys[] = { "type", "session", "item", "response",
                                        "response_id" };
    struct tt_json_slice m[5];
    const char *t;
    size_t tn;
    int mrc = tt_json_members(data, n, keys, 5, m);

    if ((mrc != TT_OK && !(cut && mrc == TT_ERR_INCOMPLETE)) || !wss_type(&m[0], &t, &tn))
        return;
    if (cut) {
        /* Client: an audio buffer above the cap, no call's. Server: the
         * call it belongs to is marked; a cut response.done ends it. */
        long i = s->from_client || !wss_prefix(t, tn, "response.") ? -1
                 : wss_rt_find(s, &m[4], &m[3]);
        if (i >= 0) {
            tt_ex_span(s->q[i].ex)->truncated = true;
            if (wss_is(t, tn, "response.done")) {
                tt_span_fail(tt_ex_span(s->q[i].ex), wss_cut_msg, false);
                wss_finish(s, (size_t)i, true, NULL);
            }
        }
        return;
    }
    if (s->from_client) {
        if (wss_is(t, tn, "session.update"))
            wss_rt_session_model(s, &m[1]);
        else if (wss_is(t, tn, "conversation.item.create"))
            wss_rt_item(s, &m[2]);
        else if (wss_is(t, tn, "response.create"))
            wss_rt_create(s, &m[3]);
        return;
    }
    if (wss_is(t, tn, "session.created") || wss_is(t, tn, "session.updated")) {
        wss_rt_session_model(s, &m[1]);
        return;
    }
    if (wss_is(t, tn, "response.created")) {
        wss_rt_created(s, data, n);
        return;
    }
    if (!wss_prefix(t, tn, "response."))
        return;
    long i = wss_rt_find(s, &m[4], &m[3]);
    if (i < 0)
        return;
    tt_ex_resp_event(s->q[i].ex, t, tn, data, n, s->now);
    if (wss_is(t, tn, "response.done"))
        wss_finish(s, (size_t)i, true, NULL);
}

/* --- framing ---------------------------------------------------------------- */

static int wss_on_msg(void *ud, const struct tt_ws_msg *m)
{
    struct tt_wss *s = ud;

    if (m->opcode != TT_WS_TEXT)
        return TT_OK;           /* binary, ping, pong, close */
    s->st.messages[s->from_client ? 0 : 1]++;
    if (m->truncated)
        s->st.truncated++;      /* above the cap: read as far as it goes */
    if (s->kind == WSS_RESPONSES)
        wss_responses_msg(s, m->data, m->len, m->truncated);
    else
        wss_realtime_msg(s, m->data, m->len, m->truncated);
    return TT_OK;
}

static void wss_end_all(struct tt_wss *s, const char *why)
{
    while (s->qn) {
        struct wss_call *c = &s->q[0];
        if (!c->ex) {
            wss_remove(s, 0);
            continue;
        }
        wss_finish(s, 0, false, why);
    }
}

static int wss_feed(struct tt_wss *s, bool from_client, const void *p, size_t n,
                    int64_t now)
{
    struct tt_ws *w = &s->dir[from_client ? 0 : 1];

    if (s->failed)
        return TT_ERR_PARSE;
    s->now = now;
    s->from_client = from_client;
    int rc = tt_ws_feed(w, p, n, wss_on_msg, s);
    if (rc != TT_OK) {
        char why[200];
        snprintf(why, sizeof(why), "tokentap lost the WebSocket framing of "
                 "this connection (%s: %s)", from_client ? "client" : "server",
                 w->why ? w->why : tt_strerror(rc));
        tt_log("%s", why);
        s->failed = true;
        s->st.failed = true;
        __atomic_store_n(&s->dead, true, __ATOMIC_RELEASE);
        wss_end_all(s, why);
        return TT_ERR_PARSE;
    }
    return TT_OK;
}

void tt_wss_stats(const struct tt_wss *s, struct tt_wss_stats *out)
{
    *out = s->st;
}

static void wss_free(struct tt_wss *s);

static void wss_end(struct tt_wss *s, const char *why, int64_t now)
{
    s->now = now;
    wss_end_all(s, why ? why : "WebSocket closed before the response was complete");
    wss_free(s);
}

static void wss_free(struct tt_wss *s)
{
    for (size_t i = 0; i < s->qn; i++) {
        tt_ex_free(s->q[i].ex);
        wss_call_free(&s->q[i]);
    }
    for (size_t i = 0; i < s->rqn; i++)
        json_decref(s->rq[i].resp);
    json_decref(s->items);
    tt_ws_free(&s->dir[0]);
    tt_ws_free(&s->dir[1]);
    free(s->provider);
    free(s->host);
    free(s->target);
    free(s->client_exe);
    free(s->client_parent);
    free(s->trace);
    free(s->model);
    free(s);
}

/* --- the public calls: inline, or queued for the worker (defer.h) --------
 *
 * A session's bytes are copied into an op and read on the capture worker,
 * in the order they passed, like an HTTP exchange's (exchange.c): the read
 * hook returns them to the program before any framing, inflating or
 * parsing is done on them (issue #14: the Responses events of a WebSocket
 * call cost ~320,000 instructions on the program's thread, bench fig 16c).
 * The calls a session starts are made on the worker too and run inline
 * there (their exchanges are not deferred: ws_api sets their span fields
 * between events). A message from the server may end a call, so its op
 * counts as a span's end (defer.h): the program's next output to a file,
 * pipe or terminal, exit and exec run it first, and its span leaves before
 * them as an HTTP call's does. The framing lost (a malformed frame) is
 * seen by the worker: the session is marked dead and the next feed says so
 * to its caller, which ends it. */

enum wss_op_kind { WOP_FEED, WOP_END, WOP_FREE };

struct wss_op {
    struct tt_defer_op base;
    struct tt_wss *s;
    enum wss_op_kind kind;
    bool from_client;
    int64_t now;
    const char *why;              /* into data, or NULL */
    size_t len;
    char data[];
};

static void wss_op_run(struct tt_defer_op *base)
{
    struct wss_op *op = (struct wss_op *)base;

    switch (op->kind) {
    case WOP_FEED:
        (void)wss_feed(op->s, op->from_client, op->data, op->len, op->now);
        break;
    case WOP_END:
        wss_end(op->s, op->why, op->now);
        break;
    case WOP_FREE:
        wss_free(op->s);
        break;
    }
    free(op);
}

/* Queue one op for s with `extra` bytes of room; false when s is not
 * deferred, or out of memory: the caller then runs the step inline (after
 * what is queued, so the order holds). */
static bool wss_queue(struct tt_wss *s, enum wss_op_kind kind, bool from_client,
                      const void *p, size_t n, const char *why, int64_t now)
{
    size_t wn = why ? strlen(why) + 1 : 0;
    struct wss_op *op;

    if (!s->deferred)
        return false;
    if (!(op = malloc(sizeof(*op) + n + wn))) {
        tt_defer_drain();
        return false;
    }
    memset(op, 0, sizeof(*op));
    op->base.run = wss_op_run;
    op->base.bytes = sizeof(*op) + n + wn;
    /* A message from the server may end a call, and so may the end. */
    op->base.end = kind == WOP_END || (kind == WOP_FEED && !from_client);
    op->s = s;
    op->kind = kind;
    op->from_client = from_client;
    op->now = now;
    if (n)
        memcpy(op->data, p, n);
    op->len = n;
    if (why) {
        memcpy(op->data + n, why, wn);
        op->why = op->data + n;
    }
    tt_defer_push(&op->base);
    return true;
}

int tt_wss_feed(struct tt_wss *s, bool from_client, const void *p, size_t n,
                int64_t now)
{
    if (s->deferred && __atomic_load_n(&s->dead, __ATOMIC_ACQUIRE))
        return TT_ERR_PARSE;
    if (s->deferred && !n)
        return TT_OK;
    if (wss_queue(s, WOP_FEED, from_client, p, n, NULL, now))
        return TT_OK;
    return wss_feed(s, from_client, p, n, now);
}

void tt_wss_end(struct tt_wss *s, const char *why, int64_t now)
{
    if (!s)
        return;
    if (!wss_queue(s, WOP_END, false, NULL, 0, why, now))
        wss_end(s, why, now);
}

void tt_wss_free(struct tt_wss *s)
{
    if (!s)
        return;
    if (!wss_queue(s, WOP_FREE, false, NULL, 0, NULL, 0))
        wss_free(s);
}
