/* ui_server.c - the HTTP side of `tokentap ui` (see ui.h).
 *
 * GNU libmicrohttpd, one thread per connection (the event stream blocks in
 * its reader), one indexer thread polling the store. Every request:
 *   - GET or HEAD only (405), a Host naming the loopback address we bound
 *     (421: a DNS-rebound name is refused even before the token check);
 *   - the token, from "Authorization: Bearer", the cookie set when the
 *     printed URL was opened, or ?token= (compared in constant time): 401
 *     without it, 403 with a wrong one;
 *   - answers carry a strict Content-Security-Policy (scripts and styles
 *     only from this origin, no inline script, no framing, no form target),
 *     nosniff, no-referrer, no-store, and no CORS header at all.
 * Each API request opens its own read connection (tt_ui_db_open): the store
 * read-only, the index read-only. JSON is built with jansson; the page
 * renders it with textContent only.
 *
 * A ClickHouse store has no index: the traces list (no filters but time)
 * and the cost page come from the `ls` and `cost` queries of
 * cli_clickhouse.c; a trace's detail and live updates are SQLite only. */
#include "ui.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "assets.h"
#include "cli.h"
#include "cli_report.h"
#include "http.h"
#include "price.h"
#include "spanjson.h"
#include "store.h"

#define UI_PAGE_MAX 500
#define UI_PAGE_DEFAULT 50
#define UI_SSE_PING_S 15

static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

struct tt_ui {
    struct MHD_Daemon *mhd;
    char store[4096];
    char index[4096];
    char ch_url[2048];
    char token[65];
    char cookie[32];          /* cookie name: tt_ui_<port> (cookies ignore ports) */
    char bind[64];
    int port;
    bool loopback;
    int poll_ms;
    struct tt_ui_index *ix;
    pthread_t indexer;
    bool indexer_started;
    /* live state, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    uint64_t gen;             /* bumped by each update that changed something */
    size_t nchanged;
    char changed[TT_UI_CHANGED_MAX][33];
};

/* --------------------------------------------------------------- helpers */

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void add_security_headers(struct MHD_Response *r)
{
    MHD_add_response_header(r, "Content-Security-Policy", csp);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Cross-Origin-Resource-Policy", "same-origin");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

/* Queue body (taken over: free()d by MHD) with the given type. */
static enum MHD_Result send_owned(struct MHD_Connection *c, unsigned code, const char *type,
                                  char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret;

    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", type);
    add_security_headers(r);
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_static(struct MHD_Connection *c, const char *type,
                                   const char *body, size_t len)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret;

    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    add_security_headers(r);
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned code, json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;

    json_decref(j);
    if (!text) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        char *t = strdup(oom);
        return t ? send_owned(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "application/json", t,
                              strlen(t)) : MHD_NO;
    }
    return send_owned(c, code, "application/json; charset=utf-8", text, strlen(text));
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum MHD_Result send_error(struct MHD_Connection *c, unsigned code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return send_json(c, code, json_pack("{s:s, s:i}", "error", msg, "status", (int)code));
}

static bool ct_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);

    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static const char *arg(struct MHD_Connection *c, const char *k)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
    return v && *v ? v : NULL;
}

/* The first query parameter not in allowed (a NULL-terminated list; token
 * is always allowed), or NULL. */
struct argcheck {
    const char *const *allowed;
    const char *bad;
};

static enum MHD_Result argcheck_one(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    struct argcheck *a = cls;

    (void)kind;
    (void)value;
    if (strcmp(key, "token") == 0)
        return MHD_YES;
    for (const char *const *p = a->allowed; *p; p++)
        if (strcmp(*p, key) == 0)
            return MHD_YES;
    a->bad = key;
    return MHD_NO;
}

static const char *unknown_arg(struct MHD_Connection *c, const char *const *allowed)
{
    struct argcheck a = { allowed, NULL };

    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, argcheck_one, &a);
    return a.bad;
}

/* A time bound: epoch ns (digits), or what --since takes ("24h", "7d",
 * "2025-01-31"). */
static int parse_time(const char *s, int64_t *out)
{
    bool digits = *s != '\0';

    for (const char *p = s; *p; p++)
        digits &= *p >= '0' && *p <= '9';
    if (digits) {
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || *end)
            return TT_ERR_PARSE;
        *out = v;
        return TT_OK;
    }
    return tt_cli_parse_since(s, now_ns(), out);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;

    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi)
        return TT_ERR_PARSE;
    *out = v;
    return TT_OK;
}

/* ",a,b," -> ["a", "b"] */
static json_t *list_json(const char *l)
{
    json_t *a = json_array();
    const char *p = l ? l : "";

    while (a && *p) {
        const char *e = strchr(p, ',');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n && json_array_append_new(a, json_stringn(p, n)) != 0) {
            json_decref(a);
            return NULL;
        }
        p += n + (e ? 1 : 0);
    }
    return a;
}

static const char *col_text(sqlite3_stmt *q, int i)
{
    return (const char *)sqlite3_column_text(q, i);
}

static json_t *text_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* ------------------------------------------------------------- the index */

/* The indexer: bring the index up to date every poll_ms, and wake the
 * event streams when something changed. */
static void *indexer_main(void *arg)
{
    struct tt_ui *ui = arg;

    for (;;) {
        struct tt_ui_update u;
        struct timespec ts;

        pthread_mutex_lock(&ui->mu);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += (long)ui->poll_ms * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        while (!ui->stopping && pthread_cond_timedwait(&ui->cv, &ui->mu, &ts) == 0)
            ;
        bool stop = ui->stopping;
        pthread_mutex_unlock(&ui->mu);
        if (stop)
            break;
        if (tt_ui_index_update(ui->ix, &u) != TT_OK || (u.nchanged == 0 && !u.rebuilt))
            continue;
        pthread_mutex_lock(&ui->mu);
        ui->gen++;
        ui->nchanged = u.nchanged < TT_UI_CHANGED_MAX ? u.nchanged : TT_UI_CHANGED_MAX;
        memcpy(ui->changed, u.changed, sizeof(u.changed));
        pthread_cond_broadcast(&ui->cv);
        pthread_mutex_unlock(&ui->mu);
    }
    return NULL;
}

/* ------------------------------------------------------------ /api/traces */

static const char *const traces_args[] = {
    "limit", "cursor", "sort", "order", "from", "to", "model", "provider", "session",
    "tag", "status", "process", "q", NULL,
};

struct sortkey {
    const char *name;
    const char *col;
    bool real;
};
static const struct sortkey sortkeys[] = {
    { "start", "start", false }, { "cost", "cost", true }, { "tokens", "tokens", false },
    { "duration", "duration", false }, { "calls", "calls", false },
};

static json_t *trace_row_json(sqlite3_stmt *q)
{
    const char *tid = col_text(q, 0);
    const char *cmd = col_text(q, 4), *exe = col_text(q, 5);
    char sid[13];
    json_t *j;

    snprintf(sid, sizeof(sid), "%.12s", tid ? tid : "");
    j = json_pack("{s:s, s:s, s:I, s:I, s:f, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                  " s:f, s:I, s:I, s:I, s:I}",
                  "trace_id", tid ? tid : "", "short_id", sid,
                  "start_time", (json_int_t)sqlite3_column_int64(q, 1),
                  "end_time", (json_int_t)sqlite3_column_int64(q, 2),
                  "duration_ms", (double)sqlite3_column_int64(q, 3) / 1e6,
                  "command", text_or_null(cmd ? cmd : exe),
                  "session_id", text_or_null(col_text(q, 6)),
                  "calls", (json_int_t)sqlite3_column_int64(q, 7),
                  "input_tokens", (json_int_t)sqlite3_column_int64(q, 8),
                  "output_tokens", (json_int_t)sqlite3_column_int64(q, 9),
                  "tokens", (json_int_t)sqlite3_column_int64(q, 10),
                  "cache_read_tokens", (json_int_t)sqlite3_column_int64(q, 11),
                  "cache_write_tokens", (json_int_t)sqlite3_column_int64(q, 12),
                  "reasoning_tokens", (json_int_t)sqlite3_column_int64(q, 13),
                  "cost_usd", sqlite3_column_double(q, 14),
                  "cost_unknown_calls", (json_int_t)sqlite3_column_int64(q, 15),
                  "errors", (json_int_t)sqlite3_column_int64(q, 16),
                  "spans", (json_int_t)sqlite3_column_int64(q, 17),
                  "tool_spans", (json_int_t)sqlite3_column_int64(q, 18));
    if (!j)
        return NULL;
    json_object_set_new(j, "models", list_json(col_text(q, 19)));
    json_object_set_new(j, "providers", list_json(col_text(q, 20)));
    json_object_set_new(j, "processes", list_json(col_text(q, 21)));
    json_object_set_new(j, "tags", list_json(col_text(q, 23)));
    json_object_set_new(j, "exit_code", sqlite3_column_type(q, 24) == SQLITE_NULL
                                            ? json_null()
                                            : json_integer(sqlite3_column_int64(q, 24)));
    json_object_set_new(j, "status", json_string(sqlite3_column_int64(q, 16) ? "error" : "ok"));
    return j;
}

/* The filters of the traces list as SQL over main.traces, with their
 * values to bind in order. Shared by the list and the cost page's top
 * traces. Returns NULL or the reason a parameter is bad. */
struct filt {
    struct tt_buf where;
    const char *vals[16];
    int64_t ivals[16];
    bool isint[16];
    int n;
    char fts[1024];
};

static const char *filt_add(struct filt *f, const char *sql, const char *v)
{
    if (tt_buf_append_str(&f->where, sql) != TT_OK)
        return "out of memory";
    f->vals[f->n] = v;
    f->isint[f->n++] = false;
    return NULL;
}

static const char *filt_addi(struct filt *f, const char *sql, int64_t v)
{
    if (tt_buf_append_str(&f->where, sql) != TT_OK)
        return "out of memory";
    f->ivals[f->n] = v;
    f->isint[f->n++] = true;
    return NULL;
}

static const char *filt_build(struct MHD_Connection *c, struct filt *f)
{
    const char *v, *bad = NULL;
    int64_t t;

    memset(f, 0, sizeof(*f));
    tt_buf_init(&f->where, 8192);
    if (tt_buf_append_str(&f->where, " WHERE 1") != TT_OK)
        return "out of memory";
    if ((v = arg(c, "from"))) {
        if (parse_time(v, &t) != TT_OK)
            return "bad 'from': epoch nanoseconds, a duration (30m, 24h, 7d) or YYYY-MM-DD";
        bad = filt_addi(f, " AND start >= ?", t);
    }
    if (!bad && (v = arg(c, "to"))) {
        if (parse_time(v, &t) != TT_OK)
            return "bad 'to': epoch nanoseconds, a duration (30m, 24h, 7d) or YYYY-MM-DD";
        bad = filt_addi(f, " AND start <= ?", t);
    }
    if (!bad && (v = arg(c, "model")))
        bad = filt_add(f, " AND instr(models, ',' || ? || ',') > 0", v);
    if (!bad && (v = arg(c, "provider")))
        bad = filt_add(f, " AND instr(providers, ',' || ? || ',') > 0", v);
    if (!bad && (v = arg(c, "session")))
        bad = filt_add(f, " AND instr(sessions, ',' || ? || ',') > 0", v);
    if (!bad && (v = arg(c, "process")))
        bad = filt_add(f, " AND instr(processes, ?) > 0", v);
    if (!bad && (v = arg(c, "tag"))) {
        /* "k=v": that value; "k": any value of the key */
        bad = strchr(v, '=') ? filt_add(f, " AND instr(tags, ',' || ? || ',') > 0", v)
                             : filt_add(f, " AND instr(tags, ',' || ? || '=') > 0", v);
    }
    if (!bad && (v = arg(c, "status"))) {
        if (strcmp(v, "error") == 0)
            bad = tt_buf_append_str(&f->where, " AND errors > 0") == TT_OK ? NULL : "out of memory";
        else if (strcmp(v, "ok") == 0)
            bad = tt_buf_append_str(&f->where, " AND errors = 0") == TT_OK ? NULL : "out of memory";
        else
            return "bad 'status': ok or error";
    }
    if (!bad && (v = arg(c, "q"))) {
        if (tt_ui_fts_query(v, f->fts, sizeof(f->fts)) != TT_OK)
            return "'q' is too long";
        /* "+trace_id": not a lookup per matching trace then a sort of
         * them all, but the sort key's index read in order, each trace
         * checked against the matches, stopping when the page is full.
         * A common word (thousands of matches) gains most; a rare one
         * costs at most one read of that index. */
        if (f->fts[0])
            bad = filt_add(f, " AND +trace_id IN (SELECT trace_id FROM main.fts WHERE fts MATCH ?)",
                           f->fts);
    }
    return bad;
}

static void filt_bind(struct filt *f, sqlite3_stmt *q, int first)
{
    for (int i = 0; i < f->n; i++) {
        if (f->isint[i])
            sqlite3_bind_int64(q, first + i, f->ivals[i]);
        else
            sqlite3_bind_text(q, first + i, f->vals[i], -1, SQLITE_STATIC);
    }
}

static const char trace_cols[] =
    "SELECT trace_id, start, end_, duration, command, exe, session, calls, input, output,"
    " tokens, cache_read, cache_write, reasoning, cost, unknown, errors, spans, tools,"
    " models, providers, processes, sessions, tags, exit_code FROM main.traces";

static enum MHD_Result ch_traces(struct tt_ui *ui, struct MHD_Connection *c);

static enum MHD_Result api_traces(struct tt_ui *ui, struct MHD_Connection *c, sqlite3 *db)
{
    const struct sortkey *sk = &sortkeys[0];
    const char *v, *bad;
    long limit = UI_PAGE_DEFAULT;
    bool asc = false;
    struct filt f;
    char err[256];
    char ctid[33] = "";
    double cval = 0;
    long long cint = 0;
    bool has_cursor = false;
    sqlite3_stmt *q = NULL;
    json_t *arr = NULL;
    enum MHD_Result ret;

    (void)ui;
    if ((bad = unknown_arg(c, traces_args)))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown parameter '%s'", bad);
    if ((v = arg(c, "limit")) && parse_long(v, 1, UI_PAGE_MAX, &limit) != TT_OK)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'limit': 1 to %d", UI_PAGE_MAX);
    if (ui->ch_url[0])
        return ch_traces(ui, c);
    if ((v = arg(c, "sort"))) {
        sk = NULL;
        for (size_t i = 0; i < sizeof(sortkeys) / sizeof(sortkeys[0]); i++)
            if (strcmp(v, sortkeys[i].name) == 0)
                sk = &sortkeys[i];
        if (!sk)
            return send_error(c, MHD_HTTP_BAD_REQUEST,
                              "bad 'sort': start, cost, tokens, duration or calls");
    }
    if ((v = arg(c, "order"))) {
        if (strcmp(v, "asc") != 0 && strcmp(v, "desc") != 0)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'order': asc or desc");
        asc = strcmp(v, "asc") == 0;
    }
    if ((v = arg(c, "cursor"))) {
        /* "<value>_<trace id>", as next_cursor gives it */
        const char *us = strrchr(v, '_');
        char *end;
        if (!us || strlen(us + 1) != 32 || !tt_cli_is_hex(us + 1, 32))
            return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'cursor': use next_cursor as given");
        /* Integer keys as integers: epoch ns do not fit a double. */
        errno = 0;
        if (sk->real)
            cval = strtod(v, &end);
        else
            cint = strtoll(v, &end, 10);
        if (errno || end != us || end == v)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'cursor': use next_cursor as given");
        memcpy(ctid, us + 1, 33);
        has_cursor = true;
    }
    if ((bad = filt_build(c, &f))) {
        tt_buf_free(&f.where);
        return send_error(c, MHD_HTTP_BAD_REQUEST, "%s", bad);
    }
    struct tt_buf sql;
    tt_buf_init(&sql, 16384);
    int rc = tt_buf_append_str(&sql, trace_cols);
    if (rc == TT_OK)
        rc = tt_buf_append(&sql, f.where.data, f.where.len);
    if (rc == TT_OK && has_cursor)
        rc = tt_buf_appendf(&sql, " AND (%s, trace_id) %s (?, ?)", sk->col, asc ? ">" : "<");
    if (rc == TT_OK)
        rc = tt_buf_appendf(&sql, " ORDER BY %s %s, trace_id %s LIMIT %ld", sk->col,
                            asc ? "ASC" : "DESC", asc ? "ASC" : "DESC", limit + 1);
    if (rc != TT_OK || sqlite3_prepare_v2(db, sql.data, -1, &q, NULL) != SQLITE_OK) {
        snprintf(err, sizeof(err), "%s", rc != TT_OK ? "out of memory" : sqlite3_errmsg(db));
        tt_buf_free(&sql);
        tt_buf_free(&f.where);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "query: %s", err);
    }
    tt_buf_free(&sql);
    filt_bind(&f, q, 1);
    if (has_cursor) {
        if (sk->real)
            sqlite3_bind_double(q, f.n + 1, cval);
        else
            sqlite3_bind_int64(q, f.n + 1, cint);
        sqlite3_bind_text(q, f.n + 2, ctid, -1, SQLITE_STATIC);
    }
    arr = json_array();
    long n = 0;
    char next[128] = "";
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (n == limit) {
            /* one more than asked: there is a next page, after the last row */
            break;
        }
        json_t *j = trace_row_json(q);
        if (!j || json_array_append_new(arr, j) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
        n++;
        const char *tid = col_text(q, 0);
        int col = sk == &sortkeys[0] ? 1 : sk->real ? 14 : strcmp(sk->name, "tokens") == 0 ? 10
                  : strcmp(sk->name, "duration") == 0 ? 3 : 7;
        if (sk->real)
            snprintf(next, sizeof(next), "%.17g_%s", sqlite3_column_double(q, col), tid ? tid : "");
        else
            snprintf(next, sizeof(next), "%lld_%s", (long long)sqlite3_column_int64(q, col),
                     tid ? tid : "");
    }
    bool more = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        /* an FTS query the tokenizer refuses ends here too */
        snprintf(err, sizeof(err), "%s", sqlite3_errmsg(db));
        sqlite3_finalize(q);
        tt_buf_free(&f.where);
        json_decref(arr);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "query: %s", err);
    }
    sqlite3_finalize(q);
    tt_buf_free(&f.where);
    ret = send_json(c, MHD_HTTP_OK,
                    json_pack("{s:o, s:o, s:I, s:s}", "traces", arr,
                              "next_cursor", more ? json_string(next) : json_null(),
                              "count", (json_int_t)n, "store", "sqlite"));
    return ret;
}

/* ClickHouse: the `ls` query, paged by offset ("cursor" is the offset). */
struct ch_ls_ctx {
    json_t *arr;
};

/* A failed ClickHouse read: the readers print nothing, the server's log
 * gets the cause (the page says to look there). Returns true. */
static bool ch_log(const char *err)
{
    fprintf(stderr, "tokentap ui: %s\n", err);
    return true;
}

static int ch_ls_row(void *cls, const struct tt_cli_ls_row *r)
{
    struct ch_ls_ctx *x = cls;
    char sid[13];

    snprintf(sid, sizeof(sid), "%.12s", r->trace_id ? r->trace_id : "");
    json_t *j = json_pack("{s:s, s:s, s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:f, s:I, s:I, s:s}",
                          "trace_id", r->trace_id ? r->trace_id : "", "short_id", sid,
                          "start_time", (json_int_t)r->start,
                          "command", text_or_null(r->command ? r->command : r->exe),
                          "session_id", text_or_null(r->session),
                          "calls", (json_int_t)r->calls,
                          "input_tokens", (json_int_t)r->input,
                          "output_tokens", (json_int_t)r->output,
                          "tokens", (json_int_t)r->tokens, "cost_usd", r->cost,
                          "cost_unknown_calls", (json_int_t)r->unknown,
                          "errors", (json_int_t)r->errors,
                          "status", r->errors ? "error" : "ok");
    if (j)
        json_object_set_new(j, "exit_code", r->has_exit && r->exit_code >= 0
                                                ? json_integer(r->exit_code) : json_null());
    return j && json_array_append_new(x->arr, j) == 0 ? TT_OK : TT_ERR_NOMEM;
}

static enum MHD_Result ch_traces(struct tt_ui *ui, struct MHD_Connection *c)
{
    static const char *const unsupported[] = { "sort", "order", "to", "model", "provider",
                                               "session", "tag", "status", "process", "q" };
    const char *v;
    long limit = UI_PAGE_DEFAULT, offset = 0;
    int64_t since = 0;

    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (arg(c, unsupported[i]))
            return send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' is not supported on a "
                              "ClickHouse store (only from, limit, cursor)", unsupported[i]);
    if ((v = arg(c, "limit")))
        (void)parse_long(v, 1, UI_PAGE_MAX, &limit);     /* checked by the caller */
    if ((v = arg(c, "cursor")) && parse_long(v, 0, 1L << 40, &offset) != TT_OK)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'cursor': use next_cursor as given");
    if ((v = arg(c, "from")) && parse_time(v, &since) != TT_OK)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "bad 'from'");
    struct ch_ls_ctx x = { json_array() };
    if (!x.arr)
        return MHD_NO;
    struct tt_cli_chq q;
    char err[1024] = "";
    int rc = tt_cli_ch_open(&q, ui->ch_url, err, sizeof(err));
    if (rc == TT_OK)
        rc = tt_cli_ch_ls_each(&q, since, limit + 1, offset, ch_ls_row, &x, err, sizeof(err));
    if (rc != TT_OK) {
        ch_log(err);
        json_decref(x.arr);
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "ClickHouse query failed (see the "
                          "server's log)");
    }
    bool more = (long)json_array_size(x.arr) > limit;
    char next[32];
    if (more)
        json_array_remove(x.arr, (size_t)limit);
    snprintf(next, sizeof(next), "%ld", offset + limit);
    return send_json(c, MHD_HTTP_OK,
                     json_pack("{s:o, s:o, s:I, s:s}", "traces", x.arr,
                               "next_cursor", more ? json_string(next) : json_null(),
                               "count", (json_int_t)json_array_size(x.arr),
                               "store", "clickhouse"));
}

/* ------------------------------------------------------- trace, span */

/* The price row that produced a span's cost, or null. */
static json_t *price_json(json_t *span)
{
    const char *prov = json_string_value(json_object_get(span, "provider"));
    const char *m = json_string_value(json_object_get(span, "response_model"));
    struct tt_price_match pm;

    if (!m)
        m = json_string_value(json_object_get(span, "request_model"));
    if (!m || tt_price_lookup(tt_price_overrides(), prov, m, &pm) != TT_OK || !pm.price)
        return json_null();
    const struct tt_price *p = pm.price;
    return json_pack("{s:s?, s:s?, s:f, s:f, s:f, s:f, s:f, s:I, s:s?, s:s?, s:b}",
                     "provider", p->provider, "model", p->model, "input", p->input,
                     "output", p->output,
                     "cache_read", p->cache_read < 0 ? p->input : p->cache_read,
                     "cache_write", p->cache_write < 0 ? p->input : p->cache_write,
                     "reasoning", p->reasoning < 0 ? p->output : p->reasoning,
                     "tier_threshold", (json_int_t)p->tier_threshold,
                     "source", p->source, "date", p->date, "override", pm.override);
}

static void add_prices(json_t *spans)
{
    size_t i;
    json_t *s;

    json_array_foreach(spans, i, s) {
        const char *k = json_string_value(json_object_get(s, "kind"));
        if (k && strcmp(k, "llm") == 0)
            json_object_set_new(s, "price", price_json(s));
    }
}

static enum MHD_Result api_trace(struct tt_ui *ui, struct MHD_Connection *c, sqlite3 *db,
                                 const char *id)
{
    static const char *const none[] = { NULL };
    char trace[33], alt[5][33];
    size_t nfound = 0;
    const char *bad;
    json_t *t = NULL;

    (void)ui;
    if ((bad = unknown_arg(c, none)))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown parameter '%s'", bad);
    int rc = tt_cli_resolve_trace(db, id, trace, alt, 5, &nfound);
    switch (rc) {
    case TT_OK: break;
    case TT_ERR_PARSE:
        return send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' is not a trace or span id "
                          "(1 to 32 hex digits)", id);
    case TT_ERR:
        return send_error(c, MHD_HTTP_NOT_FOUND, "no trace or span matches '%s'", id);
    case TT_ERR_AGAIN:
        return send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' matches %zu traces; give more digits",
                          id, nfound);
    default:
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    }
    if (tt_report_trace_json(db, trace, &t) != TT_OK)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    add_prices(json_object_get(t, "spans"));
    return send_json(c, MHD_HTTP_OK, t);
}

static enum MHD_Result api_span(struct MHD_Connection *c, sqlite3 *db, const char *id)
{
    static const char *const none[] = { NULL };
    sqlite3_stmt *q = NULL;
    const char *bad;
    json_t *j = NULL;
    int src;

    if ((bad = unknown_arg(c, none)))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown parameter '%s'", bad);
    if (strlen(id) != 16 || !tt_cli_is_hex(id, 16))
        return send_error(c, MHD_HTTP_BAD_REQUEST, "'%s' is not a span id (16 hex digits)", id);
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE span_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
    src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        struct tt_span s;
        if (tt_store_span_from_row(q, &s) == TT_OK)
            j = tt_span_to_json(&s);
        tt_span_clear(&s);
    }
    sqlite3_finalize(q);
    if (src == SQLITE_DONE)
        return send_error(c, MHD_HTTP_NOT_FOUND, "no span '%s'", id);
    if (!j)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    const char *k = json_string_value(json_object_get(j, "kind"));
    if (k && strcmp(k, "llm") == 0)
        json_object_set_new(j, "price", price_json(j));
    return send_json(c, MHD_HTTP_OK, j);
}

/* ---------------------------------------------------------------- cost */

static const char *const cost_args[] = { "by", "bucket", "from", "to", NULL };

static json_t *groups_json(const struct tt_cli_group *g, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; a && i < n; i++)
        json_array_append_new(a, json_pack(
            "{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I}", "key", g[i].key,
            "calls", (json_int_t)g[i].calls, "input_tokens", (json_int_t)g[i].input,
            "output_tokens", (json_int_t)g[i].output,
            "cache_read_tokens", (json_int_t)g[i].cache_read,
            "cache_write_tokens", (json_int_t)g[i].cache_write,
            "reasoning_tokens", (json_int_t)g[i].reasoning, "cost_usd", g[i].cost,
            "cost_unknown_calls", (json_int_t)g[i].unknown, "errors", (json_int_t)g[i].errors));
    return a;
}

struct costq {
    const char *by, *bucket;
    int64_t from, to;
    char expr[512];
};

static const char *cost_params(struct MHD_Connection *c, struct costq *k)
{
    const char *v, *bad;

    memset(k, 0, sizeof(*k));
    k->by = arg(c, "by") ? arg(c, "by") : "model";
    k->bucket = arg(c, "bucket") ? arg(c, "bucket") : "day";
    if ((bad = unknown_arg(c, cost_args)))
        return "unknown parameter";
    if (tt_cli_group_expr(k->by, k->expr, sizeof(k->expr)) != TT_OK)
        return "bad 'by': model, provider, process, session, day, hostname or tag:KEY";
    if (strcmp(k->bucket, "day") != 0 && strcmp(k->bucket, "hour") != 0)
        return "bad 'bucket': day or hour";
    if ((v = arg(c, "from")) && parse_time(v, &k->from) != TT_OK)
        return "bad 'from': epoch nanoseconds, a duration (30m, 24h, 7d) or YYYY-MM-DD";
    if ((v = arg(c, "to")) && parse_time(v, &k->to) != TT_OK)
        return "bad 'to': epoch nanoseconds, a duration (30m, 24h, 7d) or YYYY-MM-DD";
    return NULL;
}

static enum MHD_Result ch_cost(struct tt_ui *ui, struct MHD_Connection *c, const struct costq *k,
                               bool csv);

/* The cost page reads the index's cost_roll (per 15-minute bucket and
 * key, see ui_index.c) for the whole buckets inside [from, to] and the
 * store's spans for the partial buckets at either end, never a scan of
 * every span. cost_src() gives that source as a subquery with the columns
 * start_time (of the bucket, or of the span) and tags (the roll's key:
 * the grouping's value, or the raw tags JSON for "tag:KEY", which the
 * grouping's expression then reads as it reads a span), and the sums;
 * key_expr() the grouping's key over it. Binds ?1..?6 (cost_bind). */
struct costsrc {
    char sql[3072];
    char key[640];
    int64_t qa, qb, e1a, e1b, e2a, e2b;
};

static int cost_src(const struct costq *k, const char *by, struct costsrc *cs)
{
    const char *roll = by, *where = "";
    char raw[512];
    const int64_t R = TT_UI_ROLL_NS;

    if (strcmp(by, "unk") == 0) {
        snprintf(raw, sizeof(raw), "COALESCE(response_model, request_model, '(no model)')");
        where = " AND cost_known = 0";
        snprintf(cs->key, sizeof(cs->key), "tags");
    } else if (strncmp(by, "tag:", 4) == 0) {
        roll = "tags";
        snprintf(raw, sizeof(raw), "IFNULL(tags, '')");
        snprintf(cs->key, sizeof(cs->key), "%s", k->expr);
    } else if (strcmp(by, "day") == 0 || strcmp(by, "hostname") == 0) {
        roll = "provider";
        if (tt_cli_group_expr(roll, raw, sizeof(raw)) != TT_OK)
            return TT_ERR_PARSE;
        snprintf(cs->key, sizeof(cs->key), "%s", k->expr);
    } else {
        if (tt_cli_group_expr(by, raw, sizeof(raw)) != TT_OK)
            return TT_ERR_PARSE;
        snprintf(cs->key, sizeof(cs->key), "tags");
    }
    cs->qa = INT64_MIN;
    cs->qb = INT64_MAX;
    cs->e1a = cs->e1b = cs->e2a = 0;
    cs->e2b = -1;
    if (k->from > 0) {
        cs->qa = k->from / R + (k->from % R != 0);
        cs->e1a = k->from;
        cs->e1b = cs->qa * R;
    }
    if (k->to > 0) {
        cs->qb = (k->to + 1) / R;
        cs->e2a = cs->qb * R;
        cs->e2b = k->to;
    }
    if (k->from > 0 && k->to > 0 && cs->qa >= cs->qb) {
        /* inside one bucket (or empty): the spans only */
        cs->qa = cs->qb = 0;
        cs->e1a = k->from;
        cs->e1b = k->to + 1;
        cs->e2a = 0;
        cs->e2b = -1;
    }
    int w = snprintf(cs->sql, sizeof(cs->sql),
        "(SELECT q * %lld AS start_time, key AS tags, calls, input, output, cache_read,"
        " cache_write, reasoning, cost, cost_all, unknown, no_usage, errors"
        " FROM main.cost_roll WHERE by = '%s' AND q >= ?1 AND q < ?2"
        " UNION ALL SELECT start_time, %s, 1, input_tokens, output_tokens,"
        " cache_read_tokens, cache_write_tokens, reasoning_tokens,"
        " CASE WHEN cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END,"
        " CASE WHEN cost_known THEN cost_usd ELSE 0 END, cost_known = 0,"
        " cost_known = 0 AND usage_known = 0, status = 'error'"
        " FROM s.spans WHERE kind = 'llm'%s AND ((start_time >= ?3 AND start_time < ?4)"
        " OR (start_time >= ?5 AND start_time <= ?6)))",
        (long long)R, roll, raw, where);
    return w < 0 || (size_t)w >= sizeof(cs->sql) ? TT_ERR_CAP : TT_OK;
}

static void cost_bind(sqlite3_stmt *q, const struct costsrc *cs)
{
    sqlite3_bind_int64(q, 1, cs->qa);
    sqlite3_bind_int64(q, 2, cs->qb);
    sqlite3_bind_int64(q, 3, cs->e1a);
    sqlite3_bind_int64(q, 4, cs->e1b);
    sqlite3_bind_int64(q, 5, cs->e2a);
    sqlite3_bind_int64(q, 6, cs->e2b);
}

/* The groups of `tokentap cost --by`, in its order, from cost_src. */
static int cost_groups(sqlite3 *db, const struct costq *k, struct tt_cli_group **out,
                       size_t *n)
{
    struct costsrc cs;
    sqlite3_stmt *q = NULL;
    char *sql;
    int rc;

    *out = NULL;
    *n = 0;
    if (cost_src(k, k->by, &cs) != TT_OK)
        return TT_ERR_PARSE;
    sql = sqlite3_mprintf("SELECT %s AS k, SUM(calls), SUM(input), SUM(output),"
                          " SUM(cache_read), SUM(cache_write), SUM(reasoning), SUM(cost) AS c,"
                          " SUM(unknown), SUM(errors) FROM %s GROUP BY k"
                          " ORDER BY ROUND(c, 9) DESC, 2 DESC, k", cs.key, cs.sql);
    if (!sql)
        return TT_ERR_NOMEM;
    rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    sqlite3_free(sql);
    if (rc != SQLITE_OK)
        return TT_ERR_IO;
    cost_bind(q, &cs);
    return tt_cli_groups_collect(q, out, n);
}

static json_t *unknown_json(sqlite3 *db, const struct costq *k)
{
    sqlite3_stmt *q = NULL;
    json_t *a = json_array();
    struct costsrc cs;
    char *sql = NULL;

    if (cost_src(k, "unk", &cs) == TT_OK)
        sql = sqlite3_mprintf("SELECT tags AS m, SUM(calls), SUM(no_usage) FROM %s"
                              " GROUP BY m ORDER BY 2 DESC, m", cs.sql);
    if (!sql || sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        sqlite3_free(sql);
        json_decref(a);
        return NULL;
    }
    sqlite3_free(sql);
    cost_bind(q, &cs);
    while (a && sqlite3_step(q) == SQLITE_ROW)
        json_array_append_new(a, json_pack("{s:s, s:I, s:I}", "model", col_text(q, 0),
                                           "calls", (json_int_t)sqlite3_column_int64(q, 1),
                                           "no_usage", (json_int_t)sqlite3_column_int64(q, 2)));
    sqlite3_finalize(q);
    return a;
}

/* Cost per day or hour. Buckets are whole days (hours) of local time at
 * the server's current UTC offset, computed as integers in SQL (strftime
 * with 'localtime' per row was most of the time on a million spans) and
 * named here; a DST change inside the window shifts older buckets by the
 * hour of difference. */
static json_t *series_json(sqlite3 *db, const struct costq *k)
{
    sqlite3_stmt *q = NULL;
    json_t *a = json_array();
    bool hour = strcmp(k->bucket, "hour") == 0;
    int64_t size = hour ? 3600 : 86400;
    time_t now = time(NULL);
    struct tm lt;
    int64_t off = localtime_r(&now, &lt) ? (int64_t)lt.tm_gmtoff : 0;

    struct costsrc cs;
    char *sql = NULL;

    if (cost_src(k, k->by, &cs) == TT_OK)
        sql = sqlite3_mprintf("SELECT (start_time / 1000000000 + ?7) / ?8 AS b,"
                              " %s AS k, SUM(calls), SUM(input), SUM(output), SUM(cost_all)"
                              " FROM %s GROUP BY b, k ORDER BY b, k", cs.key, cs.sql);
    if (!sql || sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        sqlite3_free(sql);
        json_decref(a);
        return NULL;
    }
    sqlite3_free(sql);
    cost_bind(q, &cs);
    sqlite3_bind_int64(q, 7, off);
    sqlite3_bind_int64(q, 8, size);
    while (a && sqlite3_step(q) == SQLITE_ROW) {
        const char *key = col_text(q, 1);
        time_t wall = (time_t)(sqlite3_column_int64(q, 0) * size);
        struct tm tm;
        char name[32] = "?";
        if (gmtime_r(&wall, &tm))
            strftime(name, sizeof(name), hour ? "%Y-%m-%d %H:00" : "%Y-%m-%d", &tm);
        json_array_append_new(a, json_pack("{s:s, s:s, s:I, s:I, s:I, s:f}",
                                           "bucket", name, "key", key ? key : "?",
                                           "calls", (json_int_t)sqlite3_column_int64(q, 2),
                                           "input_tokens", (json_int_t)sqlite3_column_int64(q, 3),
                                           "output_tokens", (json_int_t)sqlite3_column_int64(q, 4),
                                           "cost_usd", sqlite3_column_double(q, 5)));
    }
    sqlite3_finalize(q);
    return a;
}

static json_t *top_json(sqlite3 *db, const struct costq *k)
{
    char sql[1024];
    sqlite3_stmt *q = NULL;
    json_t *a = json_array();

    snprintf(sql, sizeof(sql), "%s WHERE (?1 = 0 OR start >= ?1) AND (?2 = 0 OR start <= ?2)"
             " ORDER BY cost DESC, trace_id DESC LIMIT 10", trace_cols);
    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        json_decref(a);
        return NULL;
    }
    sqlite3_bind_int64(q, 1, k->from);
    sqlite3_bind_int64(q, 2, k->to);
    while (a && sqlite3_step(q) == SQLITE_ROW)
        json_array_append_new(a, trace_row_json(q));
    sqlite3_finalize(q);
    return a;
}

static enum MHD_Result cost_csv(struct MHD_Connection *c, const char *by,
                                const struct tt_cli_group *g, size_t n)
{
    struct tt_buf b;

    tt_buf_init(&b, (size_t)1 << 30);
    int rc = tt_ui_csv_cell(by, &b);
    if (rc == TT_OK)
        rc = tt_buf_append_str(&b, ",calls,input_tokens,output_tokens,cache_read_tokens,"
                               "cache_write_tokens,reasoning_tokens,cost_usd,"
                               "cost_unknown_calls,errors\r\n");
    for (size_t i = 0; rc == TT_OK && i < n; i++) {
        rc = tt_ui_csv_cell(g[i].key, &b);
        if (rc == TT_OK)
            rc = tt_buf_appendf(&b, ",%lld,%lld,%lld,%lld,%lld,%lld,%.6f,%lld,%lld\r\n",
                                (long long)g[i].calls, (long long)g[i].input,
                                (long long)g[i].output, (long long)g[i].cache_read,
                                (long long)g[i].cache_write, (long long)g[i].reasoning,
                                g[i].cost, (long long)g[i].unknown, (long long)g[i].errors);
    }
    if (rc != TT_OK) {
        tt_buf_free(&b);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
    }
    size_t len = b.len;
    char *data = b.data ? b.data : strdup("");
    struct MHD_Response *r = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(data);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/csv; charset=utf-8");
    MHD_add_response_header(r, "Content-Disposition", "attachment; filename=\"tokentap-cost.csv\"");
    add_security_headers(r);
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result api_cost(struct tt_ui *ui, struct MHD_Connection *c, sqlite3 *db, bool csv)
{
    struct costq k;
    const char *bad = cost_params(c, &k);
    struct tt_cli_group *g = NULL;
    size_t n = 0;

    if (bad) {
        if (strcmp(bad, "unknown parameter") == 0)
            return send_error(c, MHD_HTTP_BAD_REQUEST, "unknown parameter '%s'",
                              unknown_arg(c, cost_args));
        return send_error(c, MHD_HTTP_BAD_REQUEST, "%s", bad);
    }
    if (ui->ch_url[0])
        return ch_cost(ui, c, &k, csv);
    if (cost_groups(db, &k, &g, &n) != TT_OK)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    if (csv) {
        enum MHD_Result r = cost_csv(c, k.by, g, n);
        free(g);
        return r;
    }
    struct tt_cli_group tot = { .key = "total" };
    for (size_t i = 0; i < n; i++)
        tt_cli_group_add(&tot, &g[i]);
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:s}", "by", k.by,
                          "bucket", k.bucket, "groups", groups_json(g, n),
                          "total", json_array_get(groups_json(&tot, 1), 0),
                          "series", series_json(db, &k), "top_traces", top_json(db, &k),
                          "unknown_cost", unknown_json(db, &k), "store", "sqlite");
    free(g);
    if (!j)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "store: %s", sqlite3_errmsg(db));
    return send_json(c, MHD_HTTP_OK, j);
}

static enum MHD_Result ch_cost(struct tt_ui *ui, struct MHD_Connection *c, const struct costq *k,
                               bool csv)
{
    struct tt_cli_group *g = NULL;
    struct tt_cli_unknown *u = NULL;
    size_t n = 0, nu = 0;

    if (k->to)
        return send_error(c, MHD_HTTP_BAD_REQUEST, "'to' is not supported on a ClickHouse store");
    struct tt_cli_chq q;
    char err[1024] = "";
    int rc = tt_cli_ch_open(&q, ui->ch_url, err, sizeof(err));
    if (rc == TT_OK)
        rc = tt_cli_ch_cost_data(&q, k->by, NULL, k->from, &g, &n, &u, &nu, err, sizeof(err));
    if (rc != TT_OK && ch_log(err))
        return send_error(c, MHD_HTTP_BAD_GATEWAY, "ClickHouse query failed (see the "
                          "server's log)");
    if (csv) {
        enum MHD_Result r = cost_csv(c, k->by, g, n);
        free(g);
        free(u);
        return r;
    }
    struct tt_cli_group tot = { .key = "total" };
    for (size_t i = 0; i < n; i++)
        tt_cli_group_add(&tot, &g[i]);
    json_t *unk = json_array();
    for (size_t i = 0; unk && i < nu; i++)
        json_array_append_new(unk, json_pack("{s:s, s:I, s:I}", "model", u[i].model,
                                             "calls", (json_int_t)u[i].calls,
                                             "no_usage", (json_int_t)u[i].no_usage));
    json_t *j = json_pack("{s:s, s:s, s:o, s:o, s:[], s:[], s:o, s:s}", "by", k->by,
                          "bucket", k->bucket, "groups", groups_json(g, n),
                          "total", json_array_get(groups_json(&tot, 1), 0),
                          "series", "top_traces", "unknown_cost", unk, "store", "clickhouse");
    free(g);
    free(u);
    return send_json(c, MHD_HTTP_OK, j);
}

/* -------------------------------------------------------- facets, status */

static enum MHD_Result api_facets(struct MHD_Connection *c, sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    json_t *o = json_pack("{s:[], s:[], s:[], s:[], s:[]}", "model", "provider", "session",
                          "process", "tag");

    if (!o || sqlite3_prepare_v2(db, "SELECT kind, value FROM main.facets ORDER BY kind, value",
                                 -1, &q, NULL) != SQLITE_OK) {
        json_decref(o);
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "index: %s", sqlite3_errmsg(db));
    }
    while (sqlite3_step(q) == SQLITE_ROW) {
        json_t *a = json_object_get(o, col_text(q, 0));
        if (a && json_array_size(a) < 500)
            json_array_append_new(a, json_string(col_text(q, 1)));
    }
    sqlite3_finalize(q);
    return send_json(c, MHD_HTTP_OK, o);
}

static enum MHD_Result api_status(struct tt_ui *ui, struct MHD_Connection *c, sqlite3 *db)
{
    uint64_t gen;
    int rc = TT_OK;
    json_t *j;

    pthread_mutex_lock(&ui->mu);
    gen = ui->gen;
    pthread_mutex_unlock(&ui->mu);
    if (ui->ch_url[0]) {
        char shown[600];
        tt_http_url_redact(ui->ch_url, shown, sizeof(shown));
        j = json_pack("{s:s, s:s, s:s, s:I, s:b}", "generator", "tokentap " TT_CLI_VERSION,
                      "store", "clickhouse", "url", shown, "gen", (json_int_t)gen, "live", 0);
        return send_json(c, MHD_HTTP_OK, j);
    }
    sqlite3_stmt *q = NULL;
    int64_t traces = 0, spans = 0, fts = 0;
    if (sqlite3_prepare_v2(db, "SELECT (SELECT COUNT(*) FROM main.traces),"
                           " (SELECT v FROM main.meta WHERE k = 'last_span'),"
                           " (SELECT COUNT(*) FROM main.fts_docsize)", -1, &q, NULL) == SQLITE_OK &&
        sqlite3_step(q) == SQLITE_ROW) {
        traces = sqlite3_column_int64(q, 0);
        spans = sqlite3_column_int64(q, 1);
        fts = sqlite3_column_int64(q, 2);
    } else {
        rc = TT_ERR_IO;
    }
    sqlite3_finalize(q);
    if (rc != TT_OK)
        return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "index: %s", sqlite3_errmsg(db));
    j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:b}",
                  "generator", "tokentap " TT_CLI_VERSION, "store", "sqlite",
                  "path", ui->store, "index", ui->index, "traces", (json_int_t)traces,
                  "indexed_rowid", (json_int_t)spans, "fts_documents", (json_int_t)fts,
                  "gen", (json_int_t)gen, "live", 1);
    return send_json(c, MHD_HTTP_OK, j);
}

/* ------------------------------------------------------------------ SSE */

struct sse {
    struct tt_ui *ui;
    uint64_t seen;
    bool hello;
};

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sse *s = cls;
    struct tt_ui *ui = s->ui;
    struct timespec ts;
    int w;

    (void)pos;
    if (!s->hello) {
        s->hello = true;
        w = snprintf(buf, max, "retry: 1000\n: tokentap ui\n\n");
        return w < 0 || (size_t)w >= max ? 0 : w;
    }
    pthread_mutex_lock(&ui->mu);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += UI_SSE_PING_S;
    while (!ui->stopping && ui->gen == s->seen)
        if (pthread_cond_timedwait(&ui->cv, &ui->mu, &ts) != 0)
            break;
    if (ui->stopping) {
        pthread_mutex_unlock(&ui->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (ui->gen == s->seen) {
        pthread_mutex_unlock(&ui->mu);
        w = snprintf(buf, max, ": ping\n\n");
        return w < 0 || (size_t)w >= max ? 0 : w;
    }
    /* Trace ids are hex: the data line needs no escaping. */
    size_t o = 0;
    w = snprintf(buf, max, "event: update\ndata: {\"gen\":%llu,\"traces\":[",
                 (unsigned long long)ui->gen);
    if (w > 0 && (size_t)w < max)
        o = (size_t)w;
    for (size_t i = 0; i < ui->nchanged && o + 40 < max; i++) {
        w = snprintf(buf + o, max - o, "%s\"%s\"", i ? "," : "", ui->changed[i]);
        o += (size_t)w;
    }
    if (o + 5 < max) {
        memcpy(buf + o, "]}\n\n", 4);
        o += 4;
    }
    s->seen = ui->gen;
    pthread_mutex_unlock(&ui->mu);
    return (ssize_t)o;
}

static enum MHD_Result api_events(struct tt_ui *ui, struct MHD_Connection *c)
{
    struct sse *s = calloc(1, sizeof(*s));
    struct MHD_Response *r;
    enum MHD_Result ret;

    if (!s)
        return MHD_NO;
    s->ui = ui;
    pthread_mutex_lock(&ui->mu);
    s->seen = ui->gen;
    pthread_mutex_unlock(&ui->mu);
    r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, sse_read, s, free);
    if (!r) {
        free(s);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    add_security_headers(r);
    ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

/* ------------------------------------------------------------- routing */

/* Whether Host names this server: the loopback address it is bound to (by
 * number or as localhost) and its port. Not checked when bound elsewhere:
 * the operator chose the names. */
static bool host_ok(struct tt_ui *ui, struct MHD_Connection *c)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    char want[96];

    if (!ui->loopback)
        return true;
    if (!h)
        return false;
    static const char *const names[] = { "127.0.0.1", "localhost", "[::1]" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(want, sizeof(want), "%s:%d", names[i], ui->port);
        if (strcasecmp(h, want) == 0)
            return true;
    }
    snprintf(want, sizeof(want), "%s:%d", ui->bind, ui->port);
    return strcasecmp(h, want) == 0;
}

/* The token the request carries: 2 right, 1 wrong, 0 none. *from_query
 * when it came as ?token=. */
static int token_state(struct tt_ui *ui, struct MHD_Connection *c, bool *from_query)
{
    const char *t = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    int seen = 0;

    *from_query = false;
    if (t && strncasecmp(t, "Bearer ", 7) == 0) {
        if (ct_equal(t + 7, ui->token))
            return 2;
        seen = 1;
    }
    t = MHD_lookup_connection_value(c, MHD_COOKIE_KIND, ui->cookie);
    if (t) {
        if (ct_equal(t, ui->token))
            return 2;
        seen = 1;
    }
    t = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "token");
    if (t) {
        if (ct_equal(t, ui->token)) {
            *from_query = true;
            return 2;
        }
        seen = 1;
    }
    return seen;
}

static enum MHD_Result refuse_page(struct MHD_Connection *c, unsigned code, const char *why)
{
    char *body = NULL;
    int n = asprintf(&body, "<!DOCTYPE html><html><head><meta charset=\"utf-8\">"
                     "<title>tokentap ui</title></head><body><h1>%s</h1><p>Open the URL "
                     "that <code>tokentap ui</code> printed (it carries the access token)."
                     "</p></body></html>\n", why);
    if (n < 0)
        return MHD_NO;
    return send_owned(c, code, "text/html; charset=utf-8", body, (size_t)n);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    struct tt_ui *ui = cls;
    bool api = strncmp(url, "/api/", 5) == 0, from_query;
    static int first_call_marker;

    (void)version;
    (void)upload;
    /* First call: headers only. Bodies are refused below (GET/HEAD). */
    if (*con_cls == NULL) {
        *con_cls = &first_call_marker;
        if (strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0)
            return MHD_YES;
    }
    *upload_size = 0;
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method %s not allowed (read-only)",
                          method);
    if (!host_ok(ui, c))
        return send_error(c, 421, "this server answers to 127.0.0.1:%d or localhost:%d only",
                          ui->port, ui->port);
    int ts = token_state(ui, c, &from_query);
    if (ts != 2) {
        unsigned code = ts == 0 ? MHD_HTTP_UNAUTHORIZED : MHD_HTTP_FORBIDDEN;
        const char *why = ts == 0 ? "access token required" : "wrong access token";
        return api ? send_error(c, code, "%s (Authorization: Bearer TOKEN, or open the URL "
                                "tokentap ui printed)", why)
                   : refuse_page(c, code, why);
    }
    if (from_query && !api) {
        /* The printed URL: keep the token in a cookie and drop it from the
         * address bar (and from the history), fragment kept by the browser. */
        char cookie[160], loc[16];
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        snprintf(cookie, sizeof(cookie), "%s=%s; Path=/; HttpOnly; SameSite=Strict",
                 ui->cookie, ui->token);
        snprintf(loc, sizeof(loc), "/");
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, cookie);
        MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, loc);
        add_security_headers(r);
        enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SEE_OTHER, r);
        MHD_destroy_response(r);
        return ret;
    }
    if (!api) {
        if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0)
            return send_static(c, "text/html; charset=utf-8", tt_asset_index_html,
                               tt_asset_index_html_len);
        if (strcmp(url, "/app.js") == 0)
            return send_static(c, "text/javascript; charset=utf-8", tt_asset_app_js,
                               tt_asset_app_js_len);
        if (strcmp(url, "/report.js") == 0)
            return send_static(c, "text/javascript; charset=utf-8", tt_asset_report_js,
                               tt_asset_report_js_len);
        if (strcmp(url, "/app.css") == 0)
            return send_static(c, "text/css; charset=utf-8", tt_asset_app_css,
                               tt_asset_app_css_len);
        if (strcmp(url, "/report.css") == 0)
            return send_static(c, "text/css; charset=utf-8", tt_asset_report_css,
                               tt_asset_report_css_len);
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such page");
    }
    if (strcmp(url, "/api/events") == 0)
        return api_events(ui, c);

    /* ClickHouse: the list and the cost only. */
    if (ui->ch_url[0]) {
        if (strcmp(url, "/api/traces") == 0)
            return api_traces(ui, c, NULL);
        if (strcmp(url, "/api/cost") == 0)
            return api_cost(ui, c, NULL, false);
        if (strcmp(url, "/api/cost.csv") == 0)
            return api_cost(ui, c, NULL, true);
        if (strcmp(url, "/api/status") == 0)
            return api_status(ui, c, NULL);
        if (strcmp(url, "/api/facets") == 0)
            return send_json(c, MHD_HTTP_OK, json_pack("{s:[], s:[], s:[], s:[], s:[]}",
                             "model", "provider", "session", "process", "tag"));
        if (strncmp(url, "/api/traces/", 12) == 0 || strncmp(url, "/api/spans/", 11) == 0)
            return send_error(c, MHD_HTTP_NOT_IMPLEMENTED, "a trace's detail needs a SQLite "
                              "store (tokentap ui --db PATH); ClickHouse serves the list "
                              "and the cost");
        return send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s", url);
    }

    sqlite3 *db = NULL;
    char err[512];
    enum MHD_Result ret;
    if (tt_ui_db_open(ui->store, ui->index, &db, err, sizeof(err)) != TT_OK)
        return send_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store: %s", err);
    if (strcmp(url, "/api/traces") == 0)
        ret = api_traces(ui, c, db);
    else if (strncmp(url, "/api/traces/", 12) == 0 && url[12])
        ret = api_trace(ui, c, db, url + 12);
    else if (strncmp(url, "/api/spans/", 11) == 0 && url[11])
        ret = api_span(c, db, url + 11);
    else if (strcmp(url, "/api/cost") == 0)
        ret = api_cost(ui, c, db, false);
    else if (strcmp(url, "/api/cost.csv") == 0)
        ret = api_cost(ui, c, db, true);
    else if (strcmp(url, "/api/facets") == 0)
        ret = api_facets(c, db);
    else if (strcmp(url, "/api/status") == 0)
        ret = api_status(ui, c, db);
    else
        ret = send_error(c, MHD_HTTP_NOT_FOUND, "no such endpoint: %s", url);
    sqlite3_close_v2(db);
    return ret;
}

/* ------------------------------------------------------------ lifecycle */

int tt_ui_csv_cell(const char *s, struct tt_buf *out)
{
    bool quote = strpbrk(s, ",\"\r\n") != NULL;
    bool formula = *s && strchr("=+-@\t\r", *s);
    int rc = TT_OK;

    if (quote)
        rc = tt_buf_append_str(out, "\"");
    if (rc == TT_OK && formula)
        rc = tt_buf_append_str(out, "'");
    for (const char *p = s; rc == TT_OK && *p; p++)
        rc = *p == '"' ? tt_buf_append_str(out, "\"\"") : tt_buf_append(out, p, 1);
    if (rc == TT_OK && quote)
        rc = tt_buf_append_str(out, "\"");
    return rc;
}

static int random_token(char *out, size_t n)
{
    unsigned char raw[16];
    static const char hex[] = "0123456789abcdef";

    if (n < 33 || getrandom(raw, sizeof(raw), 0) != (ssize_t)sizeof(raw))
        return TT_ERR_IO;
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[32] = '\0';
    return TT_OK;
}

int tt_ui_start(const struct tt_ui_opts *o, struct tt_ui **out, char *url, size_t urln,
                char *err, size_t errn)
{
    struct tt_ui *ui = calloc(1, sizeof(*ui));
    struct sockaddr_in sa;
    int rc = TT_ERR_IO;

    *out = NULL;
    if (!ui)
        return TT_ERR_NOMEM;
    pthread_mutex_init(&ui->mu, NULL);
    pthread_cond_init(&ui->cv, NULL);
    ui->poll_ms = o->poll_ms > 0 ? o->poll_ms : 250;
    snprintf(ui->bind, sizeof(ui->bind), "%s", o->bind ? o->bind : "127.0.0.1");
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, ui->bind, &sa.sin_addr) != 1) {
        snprintf(err, errn, "bad address '%s' (an IPv4 address, e.g. 127.0.0.1)", ui->bind);
        rc = TT_ERR_PARSE;
        goto fail;
    }
    ui->loopback = (ntohl(sa.sin_addr.s_addr) >> 24) == 127;
    if (o->token) {
        if (strlen(o->token) < 16 || strlen(o->token) >= sizeof(ui->token)) {
            snprintf(err, errn, "the access token must be 16 to 64 characters");
            rc = TT_ERR_PARSE;
            goto fail;
        }
        for (const char *p = o->token; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                  (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_')) {
                snprintf(err, errn, "the access token may hold letters, digits, '-' and '_' only");
                rc = TT_ERR_PARSE;
                goto fail;
            }
        snprintf(ui->token, sizeof(ui->token), "%s", o->token);
    } else if (random_token(ui->token, sizeof(ui->token)) != TT_OK) {
        snprintf(err, errn, "getrandom: %s", strerror(errno));
        goto fail;
    }
    if (o->ch_url) {
        snprintf(ui->ch_url, sizeof(ui->ch_url), "%s", o->ch_url);
    } else {
        snprintf(ui->store, sizeof(ui->store), "%s", o->store);
        if (o->index_path)
            snprintf(ui->index, sizeof(ui->index), "%s", o->index_path);
        else if (tt_ui_index_default_path(o->store, ui->index, sizeof(ui->index)) != TT_OK) {
            snprintf(err, errn, "store path too long");
            goto fail;
        }
        if ((rc = tt_ui_index_open(ui->store, ui->index, &ui->ix, err, errn)) != TT_OK)
            goto fail;
        struct tt_ui_update u;
        if ((rc = tt_ui_index_update(ui->ix, &u)) != TT_OK) {
            snprintf(err, errn, "indexing %s failed", ui->store);
            goto fail;
        }
    }
    ui->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                               MHD_USE_ERROR_LOG,
                               (uint16_t)o->port, NULL, NULL, handle, ui,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64,
                               MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)32,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)120,
                               MHD_OPTION_END);
    if (!ui->mhd) {
        snprintf(err, errn, "cannot listen on %s:%d: %s", ui->bind, o->port, strerror(errno));
        rc = TT_ERR_IO;
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(ui->mhd, MHD_DAEMON_INFO_BIND_PORT);
    ui->port = di ? di->port : o->port;
    snprintf(ui->cookie, sizeof(ui->cookie), "tt_ui_%d", ui->port);
    if (ui->ix) {
        if (pthread_create(&ui->indexer, NULL, indexer_main, ui) != 0) {
            snprintf(err, errn, "cannot start the indexer thread");
            rc = TT_ERR_IO;
            goto fail;
        }
        ui->indexer_started = true;
    }
    snprintf(url, urln, "http://%s:%d/?token=%s", ui->bind, ui->port, ui->token);
    *out = ui;
    return TT_OK;
fail:
    tt_ui_stop(ui);
    return rc == TT_OK ? TT_ERR_IO : rc;
}

void tt_ui_stop(struct tt_ui *ui)
{
    if (!ui)
        return;
    pthread_mutex_lock(&ui->mu);
    ui->stopping = true;
    pthread_cond_broadcast(&ui->cv);
    pthread_mutex_unlock(&ui->mu);
    if (ui->indexer_started)
        pthread_join(ui->indexer, NULL);
    if (ui->mhd)
        MHD_stop_daemon(ui->mhd);
    tt_ui_index_close(ui->ix);
    pthread_cond_destroy(&ui->cv);
    pthread_mutex_destroy(&ui->mu);
    free(ui);
}
