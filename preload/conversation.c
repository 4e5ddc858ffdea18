/* conversation.c - conversations and tool spans from the wire (see
 * conversation.h). */
#include "conversation.h"
#include "api.h"
#include "json.h"
#include "rt.h"
#include "spanfield.h"
#include "tt.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define TURN_MAX_IDS 16
#define MAX_RESULTS 64

#define FNV_OFF 0xcbf29ce484222325ULL
#define FNV_PRIME 0x100000001b3ULL

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* One message being canonicalised. The JSON is walked as slices of the
 * span's own text (json.h, "without a tree"): a 10 KB history is hashed in
 * one pass, never built into a tree. */
/* A 64-bit hash over a byte stream fed in pieces, sixteen bytes at a time
 * (the pieces' boundaries do not change it: an escape splits a string
 * differently in a request and in our own output). Each block is folded
 * in by one 64x64->128-bit multiply (wyhash's "mum"): about half the
 * instructions of a multiply per eight bytes, and a 10 KB history is
 * hashed on every call (bench fig 14). A product is zero only when a
 * factor is: the keys are random per process, so no text can aim at that.
 * Only compared within one process. */
struct wh {
    uint64_t h;
    uint64_t acc[2];              /* bytes not yet mixed, the first lowest */
    unsigned n;                   /* how many (0..15) */
};

static uint64_t wh_key[2];
static pthread_once_t wh_key_once = PTHREAD_ONCE_INIT;

static void wh_key_init(void)
{
    uint64_t k[2];
    size_t got = 0;

    while (got < sizeof(k)) {
        ssize_t r = getrandom((char *)k + got, sizeof(k) - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < sizeof(k)) {
        /* No entropy yet (early boot): the clock, mixed. */
        uint64_t x = (uint64_t)tt_now_ns() ^ 0x9e3779b97f4a7c15ULL;
        for (int i = 0; i < 2; i++) {
            x ^= x >> 31;
            x *= 0xbf58476d1ce4e5b9ULL;
            x ^= x >> 29;
            k[i] = x;
        }
    }
    /* Odd, so never zero. */
    wh_key[0] = k[0] | 1;
    wh_key[1] = k[1] | 1;
}

static inline void wh_mix(struct wh *w, uint64_t a, uint64_t b)
{
    __uint128_t m = (__uint128_t)(a ^ w->h ^ wh_key[0]) * (b ^ wh_key[1]);

    w->h = (uint64_t)m ^ (uint64_t)(m >> 64);
}

static void wh_init(struct wh *w)
{
    (void)pthread_once(&wh_key_once, wh_key_init);
    w->h = FNV_OFF;
    w->acc[0] = w->acc[1] = 0;
    w->n = 0;
}

static void wh_feed(struct wh *w, const char *p, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;

    while (len && w->n) {
        w->acc[w->n / 8] |= (uint64_t)*u++ << (8 * (w->n % 8));
        len--;
        if (++w->n == 16) {
            wh_mix(w, w->acc[0], w->acc[1]);
            w->acc[0] = w->acc[1] = 0;
            w->n = 0;
        }
    }
    for (; len >= 16; u += 16, len -= 16) {
        uint64_t a, b;
        memcpy(&a, u, 8);
        memcpy(&b, u + 8, 8);
        wh_mix(w, a, b);
    }
    for (; len; len--, u++, w->n++)
        w->acc[w->n / 8] |= (uint64_t)*u << (8 * (w->n % 8));
}

static uint64_t wh_final(struct wh *w)
{
    wh_mix(w, w->acc[0], w->acc[1] ^ ((uint64_t)w->n << 59));
    /* Once more: the last block's bits reach every bit of the result. */
    wh_mix(w, 0, 0);
    return w->h;
}

struct turn {
    bool assistant;
    struct wh text;               /* over role NUL text */
    char *ids[TURN_MAX_IDS];      /* unescaped, malloc'd */
    size_t nids;
};

/* A tool result found in a request. */
struct result {
    char *id;                     /* unescaped, malloc'd */
    struct tt_json_slice content; /* borrowed from the span's input; may be absent */
    bool is_error;
};

struct parsed {
    uint64_t *h;                  /* message hashes, malloc'd */
    size_t n;
    struct result r[MAX_RESULTS];
    size_t nr;
    bool nomem;
};

static void wh_cb(void *ud, const char *p, size_t n)
{
    wh_feed(ud, p, n);
}

/* The role's unescaped text and its NUL, as the hash starts. */
static void turn_start(struct turn *t, const struct tt_json_slice *role, const char *lit)
{
    wh_init(&t->text);
    if (lit) {
        wh_feed(&t->text, lit, strlen(lit));
        t->assistant = !strcmp(lit, "assistant");
    } else {
        tt_json_str_walk(role, wh_cb, &t->text);
        t->assistant = tt_json_str_is(role, "assistant");
    }
    wh_feed(&t->text, "", 1);
    t->nids = 0;
}

static void turn_text(struct turn *t, const struct tt_json_slice *v)
{
    tt_json_str_walk(v, wh_cb, &t->text);
}

static void turn_id(struct turn *t, const struct tt_json_slice *v, struct parsed *p)
{
    char *id;

    if (t->nids >= TURN_MAX_IDS || tt_json_kind_of(v) != TT_JSON_STRING || v->len <= 2)
        return;
    if (!(id = tt_json_str_dup(v))) {
        if (p)
            p->nomem = true;
        return;
    }
    if (!*id) {
        free(id);
        return;
    }
    t->ids[t->nids++] = id;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The hash: role, text, then the ids sorted and deduplicated (an
 * Anthropic answer names each tool_use in its blocks and its tool_calls).
 * Frees the ids. */
static uint64_t turn_hash(struct turn *t)
{
    uint64_t h = fnv(wh_final(&t->text), "", 1);

    qsort(t->ids, t->nids, sizeof(t->ids[0]), cmp_str);
    for (size_t i = 0; i < t->nids; i++)
        if (i == 0 || strcmp(t->ids[i], t->ids[i - 1]))
            h = fnv(h, t->ids[i], strlen(t->ids[i]) + 1);
    for (size_t i = 0; i < t->nids; i++)
        free(t->ids[i]);
    t->nids = 0;
    return h;
}

static void add_result(struct parsed *p, const struct tt_json_slice *id,
                       const struct tt_json_slice *content, bool is_error)
{
    char *s;

    if (!p || p->nr >= MAX_RESULTS || tt_json_kind_of(id) != TT_JSON_STRING || id->len <= 2)
        return;
    if (!(s = tt_json_str_dup(id))) {
        p->nomem = true;
        return;
    }
    if (!*s) {
        free(s);
        return;
    }
    p->r[p->nr++] = (struct result){ s, *content, is_error };
}

static bool member_is(const struct tt_json_slice *v, const char *lit)
{
    return tt_json_str_is(v, lit);
}

/* Content as string or blocks: text, tool_use ids, tool_result ids (and
 * results when p is not NULL). */
static void feed_content(struct turn *t, const struct tt_json_slice *content,
                         struct parsed *p, struct parsed *ids_p)
{
    static const char *const keys[] = { "type", "text", "id", "tool_use_id", "content",
                                        "is_error" };
    enum { B_TYPE, B_TEXT, B_ID, B_TUID, B_CONTENT, B_ERR, B_N };
    struct tt_json_slice b, m[B_N];
    size_t pos = 0;

    if (tt_json_kind_of(content) == TT_JSON_STRING) {
        turn_text(t, content);
        return;
    }
    while (tt_json_next(content, &pos, &b)) {
        if (tt_json_members(b.ptr, b.len, keys, B_N, m) != TT_OK ||
            tt_json_kind_of(&m[B_TYPE]) != TT_JSON_STRING)
            continue;
        if (member_is(&m[B_TYPE], "text") || member_is(&m[B_TYPE], "input_text") ||
            member_is(&m[B_TYPE], "output_text")) {
            turn_text(t, &m[B_TEXT]);
        } else if (member_is(&m[B_TYPE], "tool_use")) {
            turn_id(t, &m[B_ID], ids_p);
        } else if (member_is(&m[B_TYPE], "tool_result")) {
            turn_id(t, &m[B_TUID], ids_p);
            add_result(p, &m[B_TUID], &m[B_CONTENT],
                       tt_json_kind_of(&m[B_ERR]) == TT_JSON_TRUE);
        }
    }
}

static int push_hash(struct parsed *p, uint64_t h)
{
    if (p->n >= TT_CONV_MAX_TURNS)
        return TT_OK;               /* beyond the cap: not compared */
    if (!p->h) {
        p->h = malloc(TT_CONV_MAX_TURNS * sizeof(*p->h));
        if (!p->h)
            return TT_ERR_NOMEM;
    }
    p->h[p->n++] = h;
    return TT_OK;
}

/* A request's messages (array of messages/items, or a Responses string
 * input), validated text -> hashes and tool results. */
static int parse_turns(const struct tt_json_slice *root, struct parsed *p)
{
    static const char *const keys[] = { "type", "role", "content", "tool_calls",
                                        "tool_call_id", "call_id", "output" };
    enum { M_TYPE, M_ROLE, M_CONTENT, M_TCS, M_TCID, M_CALLID, M_OUTPUT, M_N };
    static const char *const id_key[] = { "id" };
    struct tt_json_slice m[M_N], el, tc, tcid;
    struct turn t = { 0 };
    bool open = false;
    size_t pos = 0;
    int rc = TT_OK;

    if (tt_json_kind_of(root) == TT_JSON_STRING) {
        turn_start(&t, NULL, "user");
        turn_text(&t, root);
        return push_hash(p, turn_hash(&t));
    }
    while (tt_json_next(root, &pos, &el)) {
        const char *lit = NULL;
        bool fcall = false, fout = false;

        if (tt_json_members(el.ptr, el.len, keys, M_N, m) != TT_OK)
            continue;
        if (member_is(&m[M_TYPE], "function_call") ||
            member_is(&m[M_TYPE], "custom_tool_call")) {
            lit = "assistant";
            fcall = true;
        } else if (member_is(&m[M_TYPE], "function_call_output") ||
                   member_is(&m[M_TYPE], "custom_tool_call_output")) {
            lit = "tool";
            fout = true;
        }
        if (!lit && tt_json_kind_of(&m[M_ROLE]) != TT_JSON_STRING)
            continue;               /* reasoning items and the like */
        bool assistant = lit ? !strcmp(lit, "assistant") : member_is(&m[M_ROLE], "assistant");
        if (!(open && assistant && t.assistant)) {
            if (open && (rc = push_hash(p, turn_hash(&t))) != TT_OK)
                goto out;
            turn_start(&t, &m[M_ROLE], lit);
            open = true;
        }
        if (fcall || fout) {
            turn_id(&t, &m[M_CALLID], p);
            if (fout)
                add_result(p, &m[M_CALLID], &m[M_OUTPUT], false);
            continue;
        }
        feed_content(&t, &m[M_CONTENT], p, p);
        size_t tpos = 0;
        while (tt_json_next(&m[M_TCS], &tpos, &tc))
            if (tt_json_members(tc.ptr, tc.len, id_key, 1, &tcid) == TT_OK)
                turn_id(&t, &tcid, p);
        if (lit == NULL && member_is(&m[M_ROLE], "tool")) {
            turn_id(&t, &m[M_TCID], p);
            add_result(p, &m[M_TCID], &m[M_CONTENT], false);
        }
    }
    if (open) {
        open = false;
        rc = push_hash(p, turn_hash(&t));
    }
out:
    if (open)
        (void)turn_hash(&t);        /* frees its ids */
    return rc;
}

/* The span's field as a slice, whitespace around the value left out. */
static void text_slice(const char *text, struct tt_json_slice *out)
{
    out->ptr = text;
    out->len = text ? strlen(text) : 0;
    while (out->len && (*out->ptr == ' ' || *out->ptr == '\t' || *out->ptr == '\n' ||
                        *out->ptr == '\r')) {
        out->ptr++;
        out->len--;
    }
    while (out->len && (out->ptr[out->len - 1] == ' ' || out->ptr[out->len - 1] == '\t' ||
                        out->ptr[out->len - 1] == '\n' || out->ptr[out->len - 1] == '\r'))
        out->len--;
}

/* The span's JSON field as a slice, when it is valid JSON. */
static bool field_slice(const char *text, struct tt_json_slice *out)
{
    if (!text || tt_json_valid(text, strlen(text)) != TT_OK)
        return false;
    text_slice(text, out);
    return true;
}

static json_t *load_any(const char *text)
{
    json_error_t err;

    return text ? json_loadb(text, strlen(text), JSON_DECODE_ANY, &err) : NULL;
}

/* The canonical hash of the assistant message a span answered: its output
 * (string, blocks, or per-choice values) and its tool_calls' ids. */
static uint64_t answer_hash(const struct tt_span *s)
{
    static const char *const id_key[] = { "id" };
    struct tt_json_slice out = { NULL, 0 }, tcs = { NULL, 0 }, tc, id;
    struct turn t = { 0 };
    size_t pos = 0;

    /* Not validated first (a pass over the whole answer): the slice
     * readers stop at what is not JSON, and an answer that is not valid
     * JSON (cut at the capture cap) hashes to what no request's
     * assistant message matches (it was taken for an empty answer
     * before, which only an empty assistant message matched). */
    text_slice(s->output, &out);
    text_slice(s->tool_calls, &tcs);
    turn_start(&t, NULL, "assistant");
    feed_content(&t, &out, NULL, NULL);
    while (tt_json_next(&tcs, &pos, &tc))
        if (tt_json_members(tc.ptr, tc.len, id_key, 1, &id) == TT_OK)
            turn_id(&t, &id, NULL);
    return turn_hash(&t);
}

static void pending_free(struct tt_conv_pending *p)
{
    free(p->id);
    free(p->name);
    free(p->arguments);
    memset(p, 0, sizeof(*p));
}

static void entry_free(struct tt_conv_entry *e)
{
    free(e->turns);
    for (size_t i = 0; i < e->npending; i++)
        pending_free(&e->pending[i]);
    memset(e, 0, sizeof(*e));
}

void tt_conv_init(struct tt_conv *c)
{
    memset(c, 0, sizeof(*c));
}

void tt_conv_free(struct tt_conv *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < TT_CONV_SLOTS; i++)
        entry_free(&c->e[i]);
    c->clock = 0;
}

/* The conversation the request continues: the longest stored call whose
 * messages are a prefix of p's, followed by that call's answer, followed
 * by at least one new message. */
static struct tt_conv_entry *match_prefix(struct tt_conv *c, const struct parsed *p)
{
    struct tt_conv_entry *best = NULL;

    for (size_t i = 0; i < TT_CONV_SLOTS; i++) {
        struct tt_conv_entry *e = &c->e[i];
        size_t k = e->nturns;
        if (!e->id[0] || k + 1 >= p->n || (best && k <= best->nturns))
            continue;
        if (!memcmp(e->turns, p->h, k * sizeof(*p->h)) && p->h[k] == e->answer)
            best = e;
    }
    return best;
}

static struct tt_conv_pending *find_pending(struct tt_conv *c,
                                            struct tt_conv_entry *first,
                                            const char *id,
                                            struct tt_conv_entry **owner)
{
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < TT_CONV_SLOTS; i++) {
            struct tt_conv_entry *e = &c->e[i];
            if (!e->id[0] || (pass == 0) != (e == first))
                continue;
            for (size_t k = 0; k < e->npending; k++)
                if (!strcmp(e->pending[k].id, id)) {
                    *owner = e;
                    return &e->pending[k];
                }
        }
    return NULL;
}

static void pending_remove(struct tt_conv_entry *e, struct tt_conv_pending *p)
{
    size_t i = (size_t)(p - e->pending);

    pending_free(p);
    memmove(&e->pending[i], &e->pending[i + 1],
            (e->npending - i - 1) * sizeof(e->pending[0]));
    e->npending--;
    memset(&e->pending[e->npending], 0, sizeof(e->pending[0]));
}

/* The tool span for pending call pc answered by r in call s. */
static int tool_span(struct tt_span *t, const struct tt_conv_pending *pc,
                     const struct result *r, const struct tt_span *s,
                     const char *conv_id, bool capture)
{
    const char *parts[3] = { s->trace_id, "tool", pc->id };
    int rc = TT_ERR_NOMEM;
    json_t *in = NULL;
    char *name = NULL;

    tt_span_init(t);
    memcpy(t->trace_id, s->trace_id, sizeof(t->trace_id));
    memcpy(t->parent_id, s->parent_id, sizeof(t->parent_id));
    memcpy(t->conversation_id, conv_id, sizeof(t->conversation_id));
    tt_span_hash_id(t->span_id, parts, 3);
    t->start_time = pc->requested;
    t->end_time = s->start_time > pc->requested ? s->start_time : pc->requested;
    size_t nl = strlen(pc->name ? pc->name : "") + 6;
    if (!(name = malloc(nl)))
        goto out;
    snprintf(name, nl, "tool %s", pc->name ? pc->name : "");
    if (tt_span_set(&t->kind, "tool") || tt_span_set(&t->name, name) ||
        tt_span_set(&t->operation, "execute_tool"))
        goto out;
    if (r->is_error)
        tt_span_fail(t, "the tool result is marked is_error", false);
    if (capture) {
        in = json_object();
        if (!in || json_object_set_new(in, "name", json_string(pc->name ? pc->name : "")))
            goto out;
        json_t *args = load_any(pc->arguments);
        if (args && json_object_set_new(in, "arguments", args))
            goto out;
        rc = tt_json_set_field(&t->input, in);
        in = NULL;
        if (rc != TT_OK)
            goto out;
        json_t *content = NULL;
        if (r->content.ptr && tt_json_slice_parse(&r->content, &content) == TT_OK &&
            tt_json_set_field(&t->output, content) != TT_OK) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
    }
    rc = TT_OK;
out:
    json_decref(in);
    free(name);
    if (rc != TT_OK)
        tt_span_clear(t);
    return rc;
}

/* Remember the tool calls s's answer requested (oldest dropped at the
 * cap). */
static int add_pending(struct tt_conv_entry *e, const struct tt_span *s)
{
    json_t *tcs = load_any(s->tool_calls);
    int rc = TT_OK;

    for (size_t k = 0; k < json_array_size(tcs); k++) {
        json_t *tc = json_array_get(tcs, k);
        const char *id = json_string_value(json_object_get(tc, "id"));
        const char *name = json_string_value(json_object_get(tc, "name"));
        json_t *args = json_object_get(tc, "arguments");
        if (!id || !*id)
            continue;
        if (e->npending == TT_CONV_MAX_PENDING)
            pending_remove(e, &e->pending[0]);
        struct tt_conv_pending *p = &e->pending[e->npending];
        p->id = strdup(id);
        p->name = name ? strdup(name) : NULL;
        p->requested = s->end_time;
        if (args && tt_json_dump(args, &p->arguments) == TT_ERR_NOMEM)
            p->arguments = NULL;
        if (!p->id) {
            pending_free(p);
            rc = TT_ERR_NOMEM;
            continue;
        }
        e->npending++;
    }
    json_decref(tcs);
    return rc;
}

static struct tt_conv_entry *slot_for_new(struct tt_conv *c)
{
    struct tt_conv_entry *lru = &c->e[0];

    for (size_t i = 0; i < TT_CONV_SLOTS; i++) {
        if (!c->e[i].id[0])
            return &c->e[i];
        if (c->e[i].used < lru->used)
            lru = &c->e[i];
    }
    entry_free(lru);
    return lru;
}

int tt_conv_observe(struct tt_conv *c, struct tt_span *s, bool capture,
                    struct tt_span *tools, size_t max, size_t *ntools)
{
    struct parsed p = { 0 };
    struct tt_conv_entry *e = NULL, *owner;
    struct tt_json_slice root;
    int rc = TT_OK;

    *ntools = 0;
    if (!s->input || (s->operation && !strcmp(s->operation, "embeddings")))
        return TT_OK;
    if (!field_slice(s->input, &root))
        return TT_OK;
    if ((rc = parse_turns(&root, &p)) != TT_OK || p.n == 0)
        goto out;
    e = match_prefix(c, &p);
    for (size_t i = 0; !e && i < p.nr; i++)
        if (find_pending(c, NULL, p.r[i].id, &owner))
            e = owner;          /* it answers a tool call of that conversation */
    if (e)
        memcpy(s->conversation_id, e->id, sizeof(s->conversation_id));
    else if (!s->conversation_id[0])
        /* A transport may know better (ws_api.c: previous_response_id on
         * one WebSocket): its id stands unless the messages say more. */
        tt_span_rand_hex(s->conversation_id, 8);
    for (size_t i = 0; i < p.nr; i++) {
        struct tt_conv_pending *pc = find_pending(c, e, p.r[i].id, &owner);
        if (!pc || *ntools >= max)
            continue;
        if (tool_span(&tools[*ntools], pc, &p.r[i], s, s->conversation_id,
                      capture) == TT_OK)
            (*ntools)++;
        else
            rc = TT_ERR_NOMEM;
        pending_remove(owner, pc);
    }
    /* A failed call answered nothing: its retry continues from the call
     * before it. */
    if (s->error)
        goto out;
    if (!e) {
        e = slot_for_new(c);
        memcpy(e->id, s->conversation_id, sizeof(e->id));
    }
    free(e->turns);
    e->turns = p.h;
    e->nturns = p.n;
    p.h = NULL;
    e->answer = answer_hash(s);
    e->used = ++c->clock;
    if (add_pending(e, s) != TT_OK)
        rc = TT_ERR_NOMEM;
out:
    if (p.nomem && rc == TT_OK)
        rc = TT_ERR_NOMEM;
    for (size_t i = 0; i < p.nr; i++)
        free(p.r[i].id);
    free(p.h);
    return rc;
}

/* --- the preload's instance ---------------------------------------------- */

static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tt_conv conv;
static unsigned conv_gen;

/* Fork: the lock may have been held by a parent thread that does not
 * exist in the child; the conversations reset on the next use. */
static void conv_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    conv_lock = fresh;
}

static struct tt_atfork conv_fork = { .child = conv_atfork_child };

void tt_conv_span(struct tt_span *s, struct tt_span *tools, size_t max, size_t *n)
{
    *n = 0;
    tt_atfork_register(&conv_fork);     /* before the lock is first taken */
    pthread_mutex_lock(&conv_lock);
    if (conv_gen != tt_rt_fork_gen) {
        /* The parent's conversations are its own. They are forgotten, not
         * freed: a parent thread may have been changing them when the
         * program forked, and freeing that half-changed copy aborted
         * children in glibc ("double free or corruption", issue #9's fork
         * load). The copy's memory is the child's one-time cost. */
        memset(&conv, 0, sizeof(conv));
        conv_gen = tt_rt_fork_gen;
    }
    if (tt_conv_observe(&conv, s, tt_api_capture_content(), tools, max, n) != TT_OK)
        tt_log("out of memory while following a conversation");
    pthread_mutex_unlock(&conv_lock);
    for (size_t i = 0; i < *n; i++) {
        struct tt_span *t = &tools[i];
        t->pid = s->pid;
        if (tt_span_set(&t->exe, s->exe) || tt_span_set(&t->session_id, s->session_id) ||
            tt_span_set(&t->tags, s->tags) || tt_span_set(&t->metadata, s->metadata))
            tt_log("out of memory while finishing a tool span");
    }
}

