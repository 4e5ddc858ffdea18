/* conn.c - connection table and the HTTP/1.1 glue to exchanges. */
#include "conn.h"
#include "emit.h"
#include "api.h"
#include "exchange.h"
#include "http1.h"
#include "http2.h"
#include "provider.h"
#include "rt.h"
#include "ws_api.h"
#include "tt.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 1024
#define MAX_CONNS 8192
#define MAX_PENDING 256     /* exchanges in flight on one connection */

enum conn_state {
    CONN_NEW,               /* no request head seen yet */
    CONN_LLM,               /* capturing */
    CONN_IGNORED,           /* not LLM traffic: only the lookup is paid */
};

struct pending {
    struct tt_exchange *ex;
    struct pending *next;
};

struct conn {
    enum tt_conn_kind kind;
    const void *key;
    struct conn *next;          /* hash chain */
    int refs;                   /* guarded by table lock */
    bool dead;                  /* removed from the table */
    pthread_mutex_t lock;
    enum conn_state state;
    char *sni;
    struct tt_h1 req;
    struct tt_h1 resp;
    struct tt_h2 *h2;            /* set when the client spoke HTTP/2 */
    struct pending *head, *tail; /* exchanges in request order */
    size_t n_pending;
    struct tt_exchange *cur_req;  /* receiving request bytes */
    struct tt_exchange *cur_resp; /* receiving response bytes */
    int64_t now;
    /* WebSocket (ws_api.h): the upgrade request asked for it on a path we
     * parse; after its 101 the session takes both directions. */
    char *ws_host, *ws_target;
    const char *ws_provider;
    struct tt_wss *wss;
};

static struct conn *buckets[N_BUCKETS];
static size_t n_conns;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned table_gen;

static size_t hash_key(enum tt_conn_kind kind, const void *key)
{
    uint64_t x = (uint64_t)(uintptr_t)key ^ ((uint64_t)kind << 60);
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x % N_BUCKETS);
}

/* After fork the child owns a copy of the parent's table whose locks may
 * be held by threads that do not exist here: forget it (its exchanges
 * belong to the parent, which will report them). */
static void conn_atfork_child(void)
{
    /* Runs in the child before any other thread can exist there. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    table_lock = fresh;
    memset(buckets, 0, sizeof(buckets));
    n_conns = 0;
    table_gen = tt_rt_fork_gen;
}

static struct tt_atfork conn_fork = { .child = conn_atfork_child };


static struct conn *conn_get(enum tt_conn_kind kind, const void *key,
                             bool create)
{
    struct conn *c;
    size_t h = hash_key(kind, key);

    tt_atfork_register(&conn_fork);   /* before the table can hold anything */
    pthread_mutex_lock(&table_lock);
    for (c = buckets[h]; c; c = c->next)
        if (c->key == key && c->kind == kind)
            break;
    if (!c && create && n_conns < MAX_CONNS) {
        c = calloc(1, sizeof(*c));
        if (c) {
            c->kind = kind;
            c->key = key;
            pthread_mutex_init(&c->lock, NULL);
            tt_h1_init(&c->req, true);
            tt_h1_init(&c->resp, false);
            c->next = buckets[h];
            buckets[h] = c;
            n_conns++;
        }
    }
    if (c)
        c->refs++;
    pthread_mutex_unlock(&table_lock);
    return c;
}

static void conn_destroy(struct conn *c)
{
    struct pending *p = c->head;

    while (p) {
        struct pending *n = p->next;
        tt_ex_free(p->ex);
        free(p);
        p = n;
    }
    tt_h1_free(&c->req);
    tt_h1_free(&c->resp);
    tt_h2_free(c->h2, "tokentap dropped the connection", tt_now_ns());
    tt_wss_free(c->wss);
    free(c->ws_host);
    free(c->ws_target);
    free(c->sni);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static void conn_put(struct conn *c)
{
    bool free_it;

    pthread_mutex_lock(&table_lock);
    free_it = --c->refs == 0 && c->dead;
    pthread_mutex_unlock(&table_lock);
    if (free_it)
        conn_destroy(c);
}

/* Unlink from the table; the caller holds a reference. */
static void conn_unlink(struct conn *c)
{
    size_t h = hash_key(c->kind, c->key);

    pthread_mutex_lock(&table_lock);
    for (struct conn **pp = &buckets[h]; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            n_conns--;
            c->dead = true;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
}

/* Drop everything pending with an error and stop capturing. */
static void conn_give_up(struct conn *c, const char *why)
{
    struct pending *p = c->head;

    while (p) {
        struct pending *n = p->next;
        tt_ex_end(p->ex, false, why, c->now);
        free(p);
        p = n;
    }
    c->head = c->tail = NULL;
    c->n_pending = 0;
    c->cur_req = c->cur_resp = NULL;
    c->state = CONN_IGNORED;
    tt_wss_end(c->wss, why, c->now);
    c->wss = NULL;
    tt_h1_free(&c->req);
    tt_h1_free(&c->resp);
}

static void pending_remove(struct conn *c, struct tt_exchange *ex)
{
    for (struct pending **pp = &c->head; *pp; pp = &(*pp)->next) {
        if ((*pp)->ex == ex) {
            struct pending *d = *pp;
            *pp = d->next;
            if (c->tail == d) {
                c->tail = NULL;
                for (struct pending *q = c->head; q; q = q->next)
                    c->tail = q;
            }
            free(d);
            c->n_pending--;
            return;
        }
    }
}

/* --- requests ------------------------------------------------------------ */

static int req_on_head(void *ud, const struct tt_h1_head *h)
{
    struct conn *c = ud;
    const struct tt_hdr *host_hdr = tt_h1_find(h, "host");
    const char *host = host_hdr ? host_hdr->value : c->sni;
    size_t host_len = host_hdr ? host_hdr->value_len : (c->sni ? strlen(c->sni) : 0);
    const char *provider = host ? tt_provider_for_host(host, host_len) : NULL;
    const struct tt_api_ops *api = tt_api_match(h->method, h->method_len,
                                                h->target, h->target_len);
    bool ws = tt_wss_wanted(h);
    /* A known API path on a known host is a call; a known API path on an
     * unknown host (gateway, proxy) is too; a known LLM host with another
     * path only needs its framing followed. */
    if (!provider && !api && !ws) {
        if (c->state == CONN_NEW) {
            c->state = CONN_IGNORED;
            return TT_ERR;      /* stop parsing this connection */
        }
    } else {
        c->state = CONN_LLM;
    }
    /* Both WebSocket APIs are OpenAI's (ws_api.h). */
    provider = tt_provider_resolve(provider,
                                   api ? api : ws ? &tt_openai_responses_api : NULL,
                                   c->kind != TT_CONN_FD);
    if (!tt_rt_ready())
        return TT_ERR;
    if (ws) {
        free(c->ws_host);
        free(c->ws_target);
        c->ws_host = host ? tt_strndup(host, host_len) : NULL;
        c->ws_target = tt_strndup(h->target, h->target_len);
        c->ws_provider = provider;
    }
    if (c->n_pending >= MAX_PENDING) {
        tt_log("more than %d requests pending on one connection; "
               "capture stopped for it", MAX_PENDING);
        return TT_ERR_CAP;
    }
    char ver[4] = { '1', '.', (char)('0' + (h->minor_version & 7)), 0 };
    struct tt_ex_request r = {
        .api = api, .provider = provider,
        .host = host ? host : "", .host_len = host ? host_len : 0,
        .method = h->method, .method_len = h->method_len,
        .target = h->target, .target_len = h->target_len,
        .http_version = ver, .tls = c->kind != TT_CONN_FD,
    };
    struct tt_exchange *ex = tt_ex_new(&r, c->now);
    struct pending *p = ex ? malloc(sizeof(*p)) : NULL;
    if (!p) {
        tt_ex_free(ex);
        return TT_ERR_NOMEM;
    }
    p->ex = ex;
    p->next = NULL;
    if (c->tail)
        c->tail->next = p;
    else
        c->head = p;
    c->tail = p;
    c->n_pending++;
    c->cur_req = ex;
    return TT_H1_BODY;
}

static int req_on_body(void *ud, const char *p, size_t n)
{
    struct conn *c = ud;

    if (c->cur_req)
        tt_ex_req_body(c->cur_req, p, n);
    return 0;
}

static int req_on_done(void *ud, bool complete)
{
    struct conn *c = ud;

    (void)complete;
    if (c->cur_req)
        tt_ex_req_end(c->cur_req, c->now);
    c->cur_req = NULL;
    return 0;
}

static const struct tt_h1_callbacks req_cb = {
    .on_head = req_on_head, .on_body = req_on_body, .on_done = req_on_done,
};

/* --- responses ----------------------------------------------------------- */

/* The server switched the connection to WebSocket. */
static void ws_upgraded(struct conn *c, const struct tt_h1_head *h)
{
    const struct tt_hdr *ext = tt_h1_find(h, "sec-websocket-extensions");
    struct tt_wss_info in = {
        .provider = c->ws_provider,
        .host = c->ws_host, .host_len = c->ws_host ? strlen(c->ws_host) : 0,
        .target = c->ws_target, .target_len = strlen(c->ws_target),
        .tls = c->kind != TT_CONN_FD,
    };

    if (ext && tt_ws_parse_extensions(ext->value, ext->value_len, &in.ext) != TT_OK) {
        tt_log("WebSocket extensions not understood (%.*s): connection not "
               "followed", (int)(ext->value_len > 80 ? 80 : ext->value_len),
               ext->value);
        return;
    }
    c->wss = tt_wss_new(&in, c->now);
}

static int resp_on_head(void *ud, const struct tt_h1_head *h)
{
    struct conn *c = ud;
    struct pending *p;

    if (h->status == 101 && c->ws_target && !c->wss && c->head) {
        /* Switching to WebSocket: the upgrade request is answered (its
         * exchange, framing only, ends with the head); the bytes after the
         * head go to the session (resp_on_tunnel). */
        c->cur_resp = c->head->ex;
        ws_upgraded(c, h);
        return TT_H1_NO_BODY;
    }
    if (h->status >= 100 && h->status < 200)
        return TT_H1_NO_BODY;       /* interim (100 Continue, 103) */
    /* The oldest exchange still waiting for its response. */
    for (p = c->head; p; p = p->next)
        if (p->ex != c->cur_resp)
            break;
    if (!p)
        return TT_ERR_PARSE;        /* a response nobody asked for */
    c->cur_resp = p->ex;
    return tt_ex_resp_head(p->ex, h->status, h->headers, h->n_headers, c->now)
               ? TT_H1_BODY : TT_H1_NO_BODY;
}

static int resp_on_body(void *ud, const char *p, size_t n)
{
    struct conn *c = ud;

    if (c->cur_resp)
        tt_ex_resp_body(c->cur_resp, p, n, c->now);
    return 0;
}

static int resp_on_done(void *ud, bool complete)
{
    struct conn *c = ud;
    struct tt_exchange *ex = c->cur_resp;

    if (!ex)
        return 0;
    c->cur_resp = NULL;
    pending_remove(c, ex);
    if (c->cur_req == ex)
        c->cur_req = NULL;
    tt_ex_end(ex, complete, complete ? NULL
              : "connection closed before the response was complete", c->now);
    return 0;
}

/* Server->client bytes after the 101 (the first may share its read). */
static int resp_on_tunnel(void *ud, const char *p, size_t n)
{
    struct conn *c = ud;

    if (c->wss && tt_wss_feed(c->wss, false, p, n, c->now) != TT_OK) {
        tt_wss_end(c->wss, NULL, c->now);   /* its calls ended already */
        c->wss = NULL;
    }
    return 0;
}

static const struct tt_h1_callbacks resp_cb = {
    .on_head = resp_on_head, .on_body = resp_on_body, .on_done = resp_on_done,
    .on_tunnel = resp_on_tunnel,
};

/* --- entry points -------------------------------------------------------- */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* Stop following an HTTP/2 connection: open LLM streams end with `why`
 * (a connection that never carried LLM traffic has none). */
static void conn_drop_h2(struct conn *c, const char *why)
{
    tt_h2_free(c->h2, why, c->now);
    c->h2 = NULL;
    c->state = CONN_IGNORED;
}

void tt_conn_write(enum tt_conn_kind kind, const void *key,
                   tt_conn_sni_fn sni, const void *buf, size_t n)
{
    tt_emit_flush_pending();     /* the worker's finished spans (emit.h) */
    struct conn *c = conn_get(kind, key, true);

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_IGNORED)
        goto out;
    c->now = tt_now_ns();
    if (c->state == CONN_NEW && !c->sni && sni) {
        const char *name = sni(key);
        if (name)
            c->sni = strdup(name);
    }
    if (c->state == CONN_NEW && n >= 3 && !memcmp(buf, h2_preface, 3)) {
        /* The client preface: this connection speaks HTTP/2. */
        tt_h1_free(&c->req);
        tt_h1_free(&c->resp);
        if (!tt_rt_ready() || !(c->h2 = tt_h2_new(c->sni))) {
            c->state = CONN_IGNORED;
            goto out;
        }
        c->state = CONN_LLM;
    }
    if (c->h2) {
        if (tt_h2_feed(c->h2, true, buf, n, c->now) != TT_OK || tt_h2_not_llm(c->h2))
            conn_drop_h2(c, "tokentap lost the HTTP/2 framing of this connection");
        goto out;
    }
    if (c->wss) {
        if (tt_wss_feed(c->wss, true, buf, n, c->now) != TT_OK) {
            tt_wss_end(c->wss, NULL, c->now);
            c->wss = NULL;
            c->state = CONN_IGNORED;
        }
        goto out;
    }
    int rc = tt_h1_feed(&c->req, buf, n, &req_cb, c);
    if (rc != TT_OK && c->state == CONN_LLM)
        conn_give_up(c, "tokentap lost the HTTP framing of this connection");
    else if (rc != TT_OK)
        c->state = CONN_IGNORED;
    if (c->state == CONN_IGNORED) {
        tt_h1_free(&c->req);
        tt_h1_free(&c->resp);
    }
out:
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
}

void tt_conn_read(enum tt_conn_kind kind, const void *key, const void *buf,
                  size_t n)
{
    tt_emit_flush_pending();
    struct conn *c = conn_get(kind, key, false);

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_LLM && c->h2) {
        c->now = tt_now_ns();
        if (tt_h2_feed(c->h2, false, buf, n, c->now) != TT_OK)
            conn_drop_h2(c, "tokentap lost the HTTP/2 framing of this connection");
    } else if (c->state == CONN_LLM) {
        c->now = tt_now_ns();
        int rc = tt_h1_feed(&c->resp, buf, n, &resp_cb, c);
        /* Say what was wrong with the response, not only that we stopped. */
        if (rc == TT_ERR_CAP)
            conn_give_up(c, "response head or trailers above the 64 KiB cap: "
                         "tokentap stopped following this connection");
        else if (rc != TT_OK)
            conn_give_up(c, "malformed HTTP response (status line, header "
                         "or body framing): tokentap stopped following "
                         "this connection");
    }
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
}

void tt_conn_eof(enum tt_conn_kind kind, const void *key)
{
    struct conn *c = conn_get(kind, key, false);

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_LLM && !c->h2) {
        c->now = tt_now_ns();
        (void)tt_h1_eof(&c->resp, &resp_cb, c);
        tt_wss_end(c->wss, NULL, c->now);
        c->wss = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
}

void tt_conn_close(enum tt_conn_kind kind, const void *key)
{
    struct conn *c = conn_get(kind, key, false);

    if (!c)
        return;
    conn_unlink(c);
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_LLM && c->h2) {
        c->now = tt_now_ns();
        conn_drop_h2(c, "connection closed while the HTTP/2 stream was open");
    } else if (c->state == CONN_LLM) {
        c->now = tt_now_ns();
        (void)tt_h1_eof(&c->resp, &resp_cb, c);
        tt_wss_end(c->wss, NULL, c->now);
        c->wss = NULL;
        conn_give_up(c, "connection closed before a response arrived");
    }
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
}

bool tt_conn_is_llm(enum tt_conn_kind kind, const void *key)
{
    struct conn *c = conn_get(kind, key, false);
    bool llm;

    if (!c)
        return false;
    llm = c->state == CONN_LLM;
    conn_put(c);
    return llm;
}

bool tt_conn_ignored(enum tt_conn_kind kind, const void *key)
{
    struct conn *c = conn_get(kind, key, false);
    bool ignored;

    if (!c)
        return true;
    pthread_mutex_lock(&c->lock);
    ignored = c->state == CONN_IGNORED;
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
    return ignored;
}

void tt_conn_ignore(enum tt_conn_kind kind, const void *key)
{
    struct conn *c = conn_get(kind, key, true);

    if (!c)
        return;
    pthread_mutex_lock(&c->lock);
    if (c->state == CONN_NEW) {
        c->state = CONN_IGNORED;
        tt_h1_free(&c->req);
        tt_h1_free(&c->resp);
    }
    pthread_mutex_unlock(&c->lock);
    conn_put(c);
}
