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

/* One message being canonicalised. Strings are borrowed from the parsed
 * JSON, which outlives the turn. */
struct turn {
    const char *role;
    uint64_t text;                /* FNV state over role NUL text */
    const char *ids[TURN_MAX_IDS];
    size_t nids;
};

/* A tool result found in a request. */
struct result {
    const char *id;
    json_t *content;              /* borrowed; may be NULL */
    bool is_error;
};

struct parsed {
    uint64_t *h;                  /* message hashes, malloc'd */
    size_t n;
    struct result r[MAX_RESULTS];
    size_t nr;
};

static void turn_start(struct turn *t, const char *role)
{
    t->role = role;
    t->text = fnv(FNV_OFF, role, strlen(role) + 1);
    t->nids = 0;
}

static void turn_text(struct turn *t, const json_t *v)
{
    size_t n;
    const char *p = tt_json_str(v, &n);

    if (p)
        t->text = fnv(t->text, p, n);
}

static void turn_id(struct turn *t, const json_t *v)
{
    const char *id = json_string_value(v);

    if (id && *id && t->nids < TURN_MAX_IDS)
        t->ids[t->nids++] = id;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The hash: role, text, then the ids sorted and deduplicated (an
 * Anthropic answer names each tool_use in its blocks and its tool_calls). */
static uint64_t turn_hash(struct turn *t)
{
    uint64_t h = fnv(t->text, "", 1);

    qsort(t->ids, t->nids, sizeof(t->ids[0]), cmp_str);
    for (size_t i = 0; i < t->nids; i++)
        if (i == 0 || strcmp(t->ids[i], t->ids[i - 1]))
            h = fnv(h, t->ids[i], strlen(t->ids[i]) + 1);
    return h;
}

static void add_result(struct parsed *p, const json_t *id, json_t *content,
                       bool is_error)
{
    const char *s = json_string_value(id);

    if (p && s && *s && p->nr < MAX_RESULTS)
        p->r[p->nr++] = (struct result){ s, content, is_error };
}

/* Content as string or blocks: text, tool_use ids, tool_result ids (and
 * results when p is not NULL). */
static void feed_content(struct turn *t, json_t *content, struct parsed *p)
{
    if (json_is_string(content)) {
        turn_text(t, content);
        return;
    }
    for (size_t i = 0; i < json_array_size(content); i++) {
        json_t *b = json_array_get(content, i);
        const char *bt = json_string_value(json_object_get(b, "type"));
        if (!bt)
            continue;
        if (!strcmp(bt, "text") || !strcmp(bt, "input_text") ||
            !strcmp(bt, "output_text")) {
            turn_text(t, json_object_get(b, "text"));
        } else if (!strcmp(bt, "tool_use")) {
            turn_id(t, json_object_get(b, "id"));
        } else if (!strcmp(bt, "tool_result")) {
            turn_id(t, json_object_get(b, "tool_use_id"));
            add_result(p, json_object_get(b, "tool_use_id"),
                       json_object_get(b, "content"),
                       json_is_true(json_object_get(b, "is_error")));
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
 * input) -> hashes and tool results. */
static int parse_turns(json_t *root, struct parsed *p)
{
    struct turn t;
    bool open = false;
    int rc;

    if (json_is_string(root)) {
        turn_start(&t, "user");
        turn_text(&t, root);
        return push_hash(p, turn_hash(&t));
    }
    for (size_t i = 0; i < json_array_size(root); i++) {
        json_t *m = json_array_get(root, i);
        const char *type = json_string_value(json_object_get(m, "type"));
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *id = NULL;
        bool fcall = false, fout = false;

        if (type && (!strcmp(type, "function_call") || !strcmp(type, "custom_tool_call"))) {
            role = "assistant";
            fcall = true;
        } else if (type && (!strcmp(type, "function_call_output") ||
                            !strcmp(type, "custom_tool_call_output"))) {
            role = "tool";
            fout = true;
        }
        if (!role)
            continue;               /* reasoning items and the like */
        if (!(open && !strcmp(role, "assistant") && !strcmp(t.role, "assistant"))) {
            if (open && (rc = push_hash(p, turn_hash(&t))) != TT_OK)
                return rc;
            turn_start(&t, role);
            open = true;
        }
        if (fcall || fout) {
            id = json_object_get(m, "call_id");
            turn_id(&t, id);
            if (fout)
                add_result(p, id, json_object_get(m, "output"), false);
            continue;
        }
        feed_content(&t, json_object_get(m, "content"), p);
        json_t *tcs = json_object_get(m, "tool_calls");
        for (size_t k = 0; k < json_array_size(tcs); k++)
            turn_id(&t, json_object_get(json_array_get(tcs, k), "id"));
        if (!strcmp(role, "tool")) {
            id = json_object_get(m, "tool_call_id");
            turn_id(&t, id);
            add_result(p, id, json_object_get(m, "content"), false);
        }
    }
    if (open)
        return push_hash(p, turn_hash(&t));
    return TT_OK;
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
    json_t *out = load_any(s->output), *tcs = load_any(s->tool_calls);
    struct turn t;
    uint64_t h;

    turn_start(&t, "assistant");
    feed_content(&t, out, NULL);
    for (size_t k = 0; k < json_array_size(tcs); k++)
        turn_id(&t, json_object_get(json_array_get(tcs, k), "id"));
    h = turn_hash(&t);              /* before the ids' owners are freed */
    json_decref(out);
    json_decref(tcs);
    return h;
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
        if (r->content && tt_json_set_field(&t->output, json_incref(r->content)) != TT_OK) {
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
    json_t *root;
    int rc = TT_OK;

    *ntools = 0;
    if (!s->input || (s->operation && !strcmp(s->operation, "embeddings")))
        return TT_OK;
    if (!(root = load_any(s->input)))
        return TT_OK;
    if ((rc = parse_turns(root, &p)) != TT_OK || p.n == 0)
        goto out;
    e = match_prefix(c, &p);
    for (size_t i = 0; !e && i < p.nr; i++)
        if (find_pending(c, NULL, p.r[i].id, &owner))
            e = owner;          /* it answers a tool call of that conversation */
    if (e)
        memcpy(s->conversation_id, e->id, sizeof(s->conversation_id));
    else
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
    free(p.h);
    json_decref(root);
    return rc;
}

/* --- the preload's instance ---------------------------------------------- */

static pthread_mutex_t conv_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tt_conv conv;
static unsigned conv_gen;

void tt_conv_span(struct tt_span *s, struct tt_span *tools, size_t max, size_t *n)
{
    *n = 0;
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

void tt_conv_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    conv_lock = fresh;
}
