/* cli_show.c - `tokentap show ID`: one trace as a tree.
 *
 *   run <command>
 *   └─ process <exe> [script]
 *      └─ conversation <id>
 *         ├─ chat gpt-4o-mini ...      (LLM span)
 *         └─ tool get_weather ...      (tool span)
 *
 * Parents come from parent_id. A span whose parent is not in the trace
 * (older stores without process spans, or the run span itself) hangs under
 * the run; conversations are not spans but a grouping of a process's
 * children by conversation_id. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "spanjson.h"
#include "store.h"

struct node {
    struct tt_span s;
    size_t parent;              /* index, or NONE */
};

#define NONE ((size_t)-1)

struct tree {
    struct node *n;
    size_t len;
    size_t root;                /* the run span, or NONE (synthetic run) */
    bool run_found;
    char command[1024];
    int64_t run_start, run_end, run_exit, run_pid;
    bool full, colour;
};

static bool is(const char *a, const char *b)
{
    return a && strcmp(a, b) == 0;
}

/* Children of p (NONE: the top level under the run), in time order. */
static size_t children(const struct tree *t, size_t p, size_t *out, size_t cap)
{
    size_t k = 0;

    for (size_t i = 0; i < t->len && k < cap; i++)
        if (i != t->root && t->n[i].parent == p)
            out[k++] = i;
    return k;
}

static void fmt_ms(char *buf, size_t n, double ms)
{
    if (ms >= 10000)
        snprintf(buf, n, "%.1f s", ms / 1000);
    else
        snprintf(buf, n, "%.0f ms", ms);
}

static void print_text_block(const char *prefix, const char *label, const char *text)
{
    if (!text || !*text)
        return;
    printf("%s%s: ", prefix, label);
    /* Keep the tree's indentation on every line of the content. */
    for (const char *p = text; *p; p++) {
        putchar(*p);
        if (*p == '\n' && p[1])
            printf("%s  ", prefix);
    }
    putchar('\n');
}

static void print_span(const struct tree *t, const struct tt_span *s,
                       const char *prefix, const char *branch, const char *cont)
{
    char lat[32], ttft[32] = "", cost[48];
    bool err = is(s->status, "error");
    const char *red = t->colour && err ? "\033[31m" : "", *off = t->colour && err ? "\033[0m" : "";

    fmt_ms(lat, sizeof(lat), (double)(s->end_time - s->start_time) / 1e6);
    if (is(s->kind, "llm")) {
        const char *model = s->response_model ? s->response_model
                          : s->request_model ? s->request_model : "?";
        char tok[64];
        if (s->usage_known)
            snprintf(tok, sizeof(tok), "%lld+%lld tok", (long long)s->input_tokens,
                     (long long)s->output_tokens);
        else
            snprintf(tok, sizeof(tok), "? tok");
        tt_cli_fmt_cost(cost, sizeof(cost), s->cost_usd, 1, s->cost_known ? 0 : 1);
        if (s->ttft_ms >= 0)
            snprintf(ttft, sizeof(ttft), "  ttft %.0f ms", s->ttft_ms);
        printf("%s%s%s %s  %s  %s%s%s  %s  %s  %s%s\n", prefix, branch,
               s->operation ? s->operation : "llm", model,
               s->provider ? s->provider : "?", red, s->status ? s->status : "?", off,
               tok, cost, lat, ttft);
    } else if (is(s->kind, "process")) {
        printf("%s%s%s  pid %lld  %s%s%s%s\n", prefix, branch,
               s->name ? s->name : "process", (long long)s->pid, lat,
               err ? "  " : "", red, err ? (s->error ? s->error : "error") : "");
        err = false;
        (void)off;
    } else {
        printf("%s%s%s  %s%s%s  %s\n", prefix, branch,
               s->name ? s->name : s->kind ? s->kind : "?", red,
               s->status ? s->status : "?", off, lat);
    }
    char sub[512];
    snprintf(sub, sizeof(sub), "%s%s   ", prefix, cont);
    if (err && s->error)
        printf("%serror: %s\n", sub, s->error);
    if (t->full) {
        if (is(s->kind, "tool")) {
            print_text_block(sub, "arguments", s->input);
            print_text_block(sub, "result", s->output);
        } else if (is(s->kind, "llm")) {
            print_text_block(sub, "input", s->input);
            print_text_block(sub, "output", s->output);
            print_text_block(sub, "tool_calls", s->tool_calls);
        }
    }
}

#define MAXKIDS 4096

static void print_subtree(const struct tree *t, size_t p, const char *prefix, int depth);

/* The children of p, those of one conversation grouped under a header. */
static void print_children(const struct tree *t, size_t p, const char *prefix, int depth)
{
    size_t *kids = malloc(MAXKIDS * sizeof(*kids));
    bool *done;
    size_t k;

    if (!kids)
        return;
    k = children(t, p, kids, MAXKIDS);
    done = calloc(k + 1, sizeof(*done));
    if (!done) {
        free(kids);
        return;
    }
    /* Items: a child without conversation, or a conversation group. */
    size_t items = 0;
    for (size_t i = 0; i < k; i++) {
        const char *c = t->n[kids[i]].s.conversation_id;
        bool seen = false;
        for (size_t j = 0; c[0] && j < i; j++)
            if (strcmp(t->n[kids[j]].s.conversation_id, c) == 0)
                seen = true;
        if (!seen)
            items++;
    }
    size_t item = 0;
    for (size_t i = 0; i < k; i++) {
        if (done[i])
            continue;
        const char *c = t->n[kids[i]].s.conversation_id;
        bool last = ++item == items;
        const char *branch = last ? "└─ " : "├─ ", *cont = last ? "   " : "│  ";
        char sub[512];
        snprintf(sub, sizeof(sub), "%s%s", prefix, cont);
        /* Conversations group LLM and tool spans; a process span is a
         * process, whatever conversation its parent was in. */
        if (!c[0] || is(t->n[kids[i]].s.kind, "process")) {
            done[i] = true;
            print_span(t, &t->n[kids[i]].s, prefix, branch, cont);
            if (depth < 64)
                print_children(t, kids[i], sub, depth + 1);
            continue;
        }
        size_t m = 0;
        for (size_t j = i; j < k; j++)
            if (strcmp(t->n[kids[j]].s.conversation_id, c) == 0 &&
                !is(t->n[kids[j]].s.kind, "process"))
                m++;
        printf("%s%sconversation %s\n", prefix, branch, c);
        size_t seen = 0;
        for (size_t j = i; j < k; j++) {
            if (done[j] || strcmp(t->n[kids[j]].s.conversation_id, c) != 0 ||
                is(t->n[kids[j]].s.kind, "process"))
                continue;
            done[j] = true;
            bool l2 = ++seen == m;
            char sub2[1024];
            snprintf(sub2, sizeof(sub2), "%s%s", sub, l2 ? "   " : "│  ");
            print_span(t, &t->n[kids[j]].s, sub, l2 ? "└─ " : "├─ ", l2 ? "   " : "│  ");
            if (depth < 64)
                print_children(t, kids[j], sub2, depth + 1);
        }
    }
    free(done);
    free(kids);
}

static void print_subtree(const struct tree *t, size_t p, const char *prefix, int depth)
{
    print_children(t, p, prefix, depth);
}

static json_t *json_children(const struct tree *t, size_t p, int depth);

static json_t *json_node(const struct tree *t, size_t i, int depth)
{
    json_t *o = tt_span_to_json(&t->n[i].s);

    if (o)
        json_object_set_new(o, "children", json_children(t, i, depth + 1));
    return o;
}

static json_t *json_children(const struct tree *t, size_t p, int depth)
{
    json_t *arr = json_array();
    size_t *kids = malloc(MAXKIDS * sizeof(*kids));
    json_t *convs = json_object();   /* conversation id -> its node */

    if (!arr || !kids || !convs || depth > 64)
        goto out;
    size_t k = children(t, p, kids, MAXKIDS);
    for (size_t i = 0; i < k; i++) {
        const struct tt_span *s = &t->n[kids[i]].s;
        json_t *node = json_node(t, kids[i], depth);
        if (!node)
            continue;
        if (!s->conversation_id[0] || is(s->kind, "process")) {
            json_array_append_new(arr, node);
            continue;
        }
        json_t *conv = json_object_get(convs, s->conversation_id);
        if (!conv) {
            conv = json_pack("{s:s, s:s, s:[]}", "kind", "conversation",
                             "conversation_id", s->conversation_id, "children");
            if (!conv) {
                json_decref(node);
                continue;
            }
            json_object_set(convs, s->conversation_id, conv);
            json_array_append_new(arr, conv);
        }
        json_array_append_new(json_object_get(conv, "children"), node);
    }
out:
    json_decref(convs);
    free(kids);
    return arr;
}

static int load(struct tree *t, sqlite3 *db, const char *trace)
{
    sqlite3_stmt *q = NULL;
    size_t cap = 0;
    int rc;

    if (sqlite3_prepare_v2(db, "SELECT command, start_time, end_time, exit_code, pid "
                           "FROM runs WHERE trace_id = ?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *c = (const char *)sqlite3_column_text(q, 0);
            t->run_found = true;
            snprintf(t->command, sizeof(t->command), "%s", c ? c : "");
            t->run_start = sqlite3_column_int64(q, 1);
            t->run_end = sqlite3_column_int64(q, 2);
            t->run_exit = sqlite3_column_type(q, 3) == SQLITE_NULL ? -1
                                                                  : sqlite3_column_int64(q, 3);
            t->run_pid = sqlite3_column_int64(q, 4);
        }
        sqlite3_finalize(q);
        q = NULL;
    }
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE trace_id = ?1 "
                           "ORDER BY start_time, span_id", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (t->len == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct node *nn = realloc(t->n, nc * sizeof(*nn));
            if (!nn) {
                rc = SQLITE_NOMEM;
                break;
            }
            t->n = nn;
            cap = nc;
        }
        if (tt_store_span_from_row(q, &t->n[t->len].s) != TT_OK) {
            tt_span_clear(&t->n[t->len].s);
            rc = SQLITE_NOMEM;
            break;
        }
        t->len++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
        return rc == SQLITE_NOMEM ? TT_ERR_NOMEM : TT_ERR_IO;
    /* The run span: kind process, named "run ...", its parent outside. */
    t->root = NONE;
    for (size_t i = 0; i < t->len; i++) {
        t->n[i].parent = NONE;
        for (size_t j = 0; t->n[i].s.parent_id[0] && j < t->len; j++)
            if (j != i && strcmp(t->n[j].s.span_id, t->n[i].s.parent_id) == 0) {
                t->n[i].parent = j;
                break;
            }
    }
    for (size_t i = 0; i < t->len && t->root == NONE; i++)
        if (is(t->n[i].s.kind, "process") && t->n[i].s.name &&
            strncmp(t->n[i].s.name, "run ", 4) == 0 && t->n[i].parent == NONE)
            t->root = i;
    /* Everything else without a parent in the trace hangs under the run. */
    for (size_t i = 0; i < t->len; i++)
        if (i != t->root && t->n[i].parent == NONE)
            t->n[i].parent = t->root;
    return TT_OK;
}

static void free_tree(struct tree *t)
{
    for (size_t i = 0; i < t->len; i++)
        tt_span_clear(&t->n[i].s);
    free(t->n);
}

int tt_cli_show_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "full", no_argument, NULL, 'f' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL;
    bool json = false;
    char trace[33];
    struct tt_store *st = NULL;
    struct tree t;
    int c, ret;
    size_t calls = 0, errors = 0, unknown = 0;
    int64_t inp = 0, outp = 0, first = 0, last = 0;
    double cost = 0;

    memset(&t, 0, sizeof(t));
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:jfh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 'f': t.full = true; break;
        case 'h': fputs(tt_cli_help("show"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("show", argv, optind, c);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "tokentap show: want exactly one trace id (or a unique "
                "prefix, or a span id); list traces with: tokentap ls\n");
        return TT_CLI_EXIT_USAGE;
    }
    ret = tt_cli_open_store_ro("show", dbopt, false, &st);
    if (!st)
        return ret;
    sqlite3 *db = tt_store_db(st);
    ret = tt_cli_resolve_id("show", db, argv[optind], trace);
    if (ret != TT_CLI_EXIT_OK)
        goto out_store;
    if (load(&t, db, trace) != TT_OK) {
        ret = tt_cli_sql_error("show", db);
        goto out_tree;
    }
    t.colour = !json && tt_cli_colour(1);
    for (size_t i = 0; i < t.len; i++) {
        const struct tt_span *s = &t.n[i].s;
        if (i == 0 || s->start_time < first)
            first = s->start_time;
        if (s->end_time > last)
            last = s->end_time;
        if (is(s->kind, "llm")) {
            calls++;
            inp += s->input_tokens;
            outp += s->output_tokens;
            if (s->cost_known)
                cost += s->cost_usd;
            else
                unknown++;
        }
        if (is(s->status, "error") && (is(s->kind, "llm") || is(s->kind, "tool")))
            errors++;
    }
    if (json) {
        json_t *spans = json_array();
        for (size_t i = 0; spans && i < t.len; i++)
            json_array_append_new(spans, tt_span_to_json(&t.n[i].s));
        json_t *tree;
        if (t.root != NONE) {
            tree = json_node(&t, t.root, 0);
        } else {
            char name[1100];
            snprintf(name, sizeof(name), "run %s", t.run_found ? t.command : "(unknown command)");
            tree = json_pack("{s:s, s:s, s:s, s:o}", "kind", "run", "name", name,
                             "trace_id", trace, "children", json_children(&t, NONE, 0));
        }
        json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:{s:I, s:I, s:I, s:f, s:I, s:I}}",
                              "trace_id", trace,
                              "run", t.run_found
                                  ? json_pack("{s:s, s:I, s:I, s:I, s:I}",
                                              "command", t.command,
                                              "start_time", (json_int_t)t.run_start,
                                              "end_time", (json_int_t)t.run_end,
                                              "exit_code", (json_int_t)t.run_exit,
                                              "pid", (json_int_t)t.run_pid)
                                  : json_null(),
                              "spans", spans ? spans : json_array(),
                              "tree", tree ? tree : json_null(),
                              "total", "calls", (json_int_t)calls,
                              "input_tokens", (json_int_t)inp,
                              "output_tokens", (json_int_t)outp,
                              "cost_usd", cost,
                              "cost_unknown_calls", (json_int_t)unknown,
                              "errors", (json_int_t)errors);
        if (!o) {
            ret = TT_CLI_EXIT_ERR;
            goto out_tree;
        }
        json_dumpf(o, stdout, JSON_INDENT(2) | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
        json_decref(o);
        ret = TT_CLI_EXIT_OK;
        goto out_tree;
    }
    printf("trace %s\n", trace);
    if (t.run_found) {
        char when[40];
        tt_cli_fmt_time(when, sizeof(when), t.run_start, false);
        printf("  command  %s\n", t.command);
        printf("  started  %s, %.1f s, pid %lld, exit %lld\n", when,
               t.run_end > t.run_start ? (double)(t.run_end - t.run_start) / 1e9 : 0.0,
               (long long)t.run_pid, (long long)t.run_exit);
    } else if (t.len) {
        char when[40];
        tt_cli_fmt_time(when, sizeof(when), first, false);
        printf("  started  %s%s%s\n", when, t.n[0].s.exe ? ", " : "",
               t.n[0].s.exe ? t.n[0].s.exe : "");
    }
    putchar('\n');
    if (t.root != NONE)
        print_span(&t, &t.n[t.root].s, "", "", "");
    else
        printf("run %s\n", t.run_found ? t.command : "(no run record)");
    print_subtree(&t, t.root, "", 0);
    char costs[48];
    tt_cli_fmt_cost(costs, sizeof(costs), cost, (int64_t)calls, (int64_t)unknown);
    if (calls == 0) {
        printf("\nno LLM calls in this trace\n");
    } else {
        printf("\n%zu LLM call%s, %lld input, %lld output tokens, %s",
               calls, calls == 1 ? "" : "s", (long long)inp, (long long)outp, costs);
        if (errors)
            printf(", %zu error%s", errors, errors == 1 ? "" : "s");
        printf(", %.1f s\n", last > first ? (double)(last - first) / 1e9 : 0.0);
        if (unknown)
            printf("? = cost unknown (model not in the price table, a rate the call needs not listed, or no usage reported)\n");
    }
    ret = TT_CLI_EXIT_OK;
out_tree:
    free_tree(&t);
out_store:
    tt_store_close(st);
    return ret;
}
