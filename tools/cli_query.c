/* cli_query.c - the read-only subcommands: export, ls, show, cost.
 *
 * They open the store read-only and never wait for the daemon: what is
 * committed is what they report. A store that does not exist yet is not
 * an error for the listing commands (nothing was traced yet). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spanjson.h"
#include "store.h"
#include "wire.h"

/* ------------------------------------------------------------- shared */

/* Report an option error the way every subcommand does, and return the
 * usage exit status. */
static int usage_error(const char *cmd, char **argv, int optind_now, int opt)
{
    if (opt == ':')
        fprintf(stderr, "tokentap %s: option '%s' needs a value (see tokentap %s --help)\n",
                cmd, argv[optind_now - 1], cmd);
    else
        fprintf(stderr, "tokentap %s: unknown option '%s' (see tokentap %s --help)\n",
                cmd, argv[optind_now - 1], cmd);
    return TT_CLI_EXIT_USAGE;
}

/* Open the store read-only. Returns 0 and *st, or an exit status: the
 * store not existing is reported on stderr and yields *st == NULL with
 * status 0 (missing_ok) or 1. */
static int open_store(const char *cmd, const char *dbopt, bool missing_ok,
                      struct tt_store **st)
{
    char path[PATH_MAX];
    int rc;

    *st = NULL;
    rc = tt_cli_db_path(dbopt, path, sizeof(path));
    if (rc == TT_ERR_IO && errno == ENOENT) {
        /* Not even its directory exists: nothing was traced there. */
        snprintf(path, sizeof(path), "%s", dbopt ? dbopt : getenv("TOKENTAP_DB"));
    } else if (rc != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot resolve the store path %s: %s\n",
                cmd, dbopt ? dbopt : "(default)",
                rc == TT_ERR_IO ? strerror(errno) : tt_strerror(rc));
        return TT_CLI_EXIT_ERR;
    }
    if (tt_cli_ingest_spool(path) != TT_OK)
        fprintf(stderr, "tokentap %s: could not ingest the spool; spans "
                "parked there are not shown yet\n", cmd);
    if (access(path, F_OK) != 0 && errno == ENOENT) {
        fprintf(stderr, "tokentap: no traces yet (store %s does not exist); "
                "trace a program with: tokentap run -- CMD\n", path);
        return missing_ok ? TT_CLI_EXIT_OK : TT_CLI_EXIT_ERR;
    }
    rc = tt_store_open(path, true, st);
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot open the store %s: %s\n", cmd,
                path, tt_strerror(rc));
        *st = NULL;
        return TT_CLI_EXIT_ERR;
    }
    return TT_CLI_EXIT_OK;
}

static int sql_error(const char *cmd, sqlite3 *db)
{
    fprintf(stderr, "tokentap %s: store query failed: %s\n", cmd,
            sqlite3_errmsg(db));
    return TT_CLI_EXIT_ERR;
}

/* Resolve a user-typed id to a trace id, explaining failures. Returns an
 * exit status. */
static int resolve(const char *cmd, sqlite3 *db, const char *id, char *trace)
{
    char alt[5][33];
    size_t nfound = 0;
    int rc = tt_cli_resolve_trace(db, id, trace, alt, 5, &nfound);

    switch (rc) {
    case TT_OK:
        return TT_CLI_EXIT_OK;
    case TT_ERR_PARSE:
        fprintf(stderr, "tokentap %s: '%s' is not a trace or span id "
                "(1 to 32 hex digits)\n", cmd, id);
        return TT_CLI_EXIT_USAGE;
    case TT_ERR:
        fprintf(stderr, "tokentap %s: no trace or span matches '%s' "
                "(list traces with: tokentap ls)\n", cmd, id);
        return TT_CLI_EXIT_ERR;
    case TT_ERR_AGAIN:
        fprintf(stderr, "tokentap %s: '%s' matches %zu traces; type more digits:\n",
                cmd, id, nfound);
        for (size_t i = 0; i < nfound && i < 5; i++)
            fprintf(stderr, "  %s\n", alt[i]);
        if (nfound > 5)
            fprintf(stderr, "  ...\n");
        return TT_CLI_EXIT_ERR;
    default:
        return sql_error(cmd, db);
    }
}

static void print_json(json_t *j, size_t flags)
{
    /* 15 digits: costs print as 0.00036, not 0.00036000000000000002. */
    json_dumpf(j, stdout, flags | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
}

/* ------------------------------------------------------------- groups */

/* What `--by` groups on: a SQL expression per name (no user text reaches
 * the SQL). */
static const struct {
    const char *by;
    const char *expr;
} group_keys[] = {
    { "model", "COALESCE(response_model, request_model, '(unknown model)')" },
    { "provider", "COALESCE(provider, '(unknown provider)')" },
    { "process", "COALESCE(exe, '?') || ' (pid ' || COALESCE(pid, '?') || ')'" },
};

int tt_cli_query_groups(sqlite3 *db, const char *by, const char *trace_id,
                        int64_t from, int64_t to, struct tt_cli_group **out,
                        size_t *n)
{
    const char *expr = NULL;
    char sql[1024];
    sqlite3_stmt *st = NULL;
    struct tt_cli_group *g = NULL;
    size_t cap = 0, cnt = 0;
    int rc;

    *out = NULL;
    *n = 0;
    for (size_t i = 0; i < sizeof(group_keys) / sizeof(group_keys[0]); i++)
        if (strcmp(by, group_keys[i].by) == 0)
            expr = group_keys[i].expr;
    if (!expr)
        return TT_ERR_PARSE;
    snprintf(sql, sizeof(sql),
             "SELECT %s AS k, COUNT(*), SUM(input_tokens), SUM(output_tokens),"
             " SUM(cache_read_tokens), SUM(cache_write_tokens),"
             " SUM(reasoning_tokens),"
             " SUM(CASE WHEN cost_known THEN cost_usd ELSE 0 END) AS c,"
             " SUM(cost_known = 0), SUM(status = 'error')"
             " FROM spans WHERE kind = 'llm'"
             " AND (?1 IS NULL OR trace_id = ?1)"
             " AND (?2 = 0 OR (start_time >= ?2 AND start_time <= ?3))"
             " GROUP BY k ORDER BY c DESC, 2 DESC, k",
             expr);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    if (trace_id)
        sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct tt_cli_group *ng = realloc(g, ncap * sizeof(*ng));
            if (!ng) {
                rc = SQLITE_NOMEM;
                break;
            }
            g = ng;
            cap = ncap;
        }
        struct tt_cli_group *r = &g[cnt++];
        const char *k = (const char *)sqlite3_column_text(st, 0);
        memset(r, 0, sizeof(*r));
        snprintf(r->key, sizeof(r->key), "%s", k ? k : "?");
        r->calls = sqlite3_column_int64(st, 1);
        r->input = sqlite3_column_int64(st, 2);
        r->output = sqlite3_column_int64(st, 3);
        r->cache_read = sqlite3_column_int64(st, 4);
        r->cache_write = sqlite3_column_int64(st, 5);
        r->reasoning = sqlite3_column_int64(st, 6);
        r->cost = sqlite3_column_double(st, 7);
        r->unknown = sqlite3_column_int64(st, 8);
        r->errors = sqlite3_column_int64(st, 9);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(g);
        return rc == SQLITE_NOMEM ? TT_ERR_NOMEM : TT_ERR_IO;
    }
    *out = g;
    *n = cnt;
    return TT_OK;
}

/* ------------------------------------------------------------- export */

int tt_cli_export_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "format", required_argument, NULL, 'f' },
        { "trace", required_argument, NULL, 't' },
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *format = "jsonl", *trace_opt = NULL, *dbopt = NULL;
    char trace[33];
    struct tt_store *st = NULL;
    sqlite3_stmt *q = NULL;
    struct tt_buf line;
    int c, ret;

    tt_buf_init(&line, TT_WIRE_MAX_FRAME * 2);
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":f:t:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': format = optarg; break;
        case 't': trace_opt = optarg; break;
        case 'd': dbopt = optarg; break;
        case 'h': fputs(tt_cli_help("export"), stdout); return TT_CLI_EXIT_OK;
        default: return usage_error("export", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap export: unexpected argument '%s' "
                "(a trace is selected with --trace ID)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (strcmp(format, "jsonl") != 0) {
        fprintf(stderr, "tokentap export: unknown format '%s' (supported: jsonl)\n",
                format);
        return TT_CLI_EXIT_USAGE;
    }
    ret = open_store("export", dbopt, true, &st);
    if (!st)
        return ret;
    sqlite3 *db = tt_store_db(st);
    if (trace_opt) {
        ret = resolve("export", db, trace_opt, trace);
        if (ret != TT_CLI_EXIT_OK)
            goto out_store;
    }
    if (sqlite3_prepare_v2(db,
                           "SELECT * FROM spans WHERE ?1 IS NULL OR trace_id = ?1 "
                           "ORDER BY start_time, span_id",
                           -1, &q, NULL) != SQLITE_OK) {
        ret = sql_error("export", db);
        goto out_store;
    }
    if (trace_opt)
        sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tt_span s;
        /* tt_span_to_jsonl: byte for byte what the JSONL sink writes. */
        if (tt_store_span_from_row(q, &s) != TT_OK ||
            tt_span_to_jsonl(&s, &line) != TT_OK) {
            tt_span_clear(&s);
            fprintf(stderr, "tokentap export: out of memory\n");
            ret = TT_CLI_EXIT_ERR;
            goto out_query;
        }
        fwrite(line.data, 1, line.len, stdout);
        tt_buf_reset(&line);
        tt_span_clear(&s);
    }
    if (rc != SQLITE_DONE) {
        ret = sql_error("export", db);
        goto out_query;
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "tokentap export: write failed: %s\n", strerror(errno));
        ret = TT_CLI_EXIT_ERR;
        goto out_query;
    }
    ret = TT_CLI_EXIT_OK;
out_query:
    tt_buf_free(&line);
    sqlite3_finalize(q);
out_store:
    tt_store_close(st);
    return ret;
}

/* ----------------------------------------------------------------- ls */

/* One row per trace seen in spans or runs: the run's own record when
 * `tokentap run` made it, the spans' aggregate otherwise. The bare `exe`
 * next to MIN(start_time) is SQLite's documented min/max bare-column rule:
 * the exe of the first span. */
static const char ls_sql[] =
    "SELECT ids.trace_id, COALESCE(r.start_time, a.st, 0) AS st,"
    " r.command, a.exe, COALESCE(a.calls, 0), COALESCE(a.inp, 0),"
    " COALESCE(a.outp, 0), COALESCE(a.cost, 0), COALESCE(a.unk, 0),"
    " COALESCE(a.errs, 0), r.exit_code, r.end_time"
    " FROM (SELECT trace_id FROM spans UNION SELECT trace_id FROM runs) ids"
    " LEFT JOIN runs r ON r.trace_id = ids.trace_id"
    " LEFT JOIN (SELECT trace_id, MIN(start_time) AS st, exe,"
    "   SUM(kind = 'llm') AS calls,"
    "   SUM(CASE WHEN kind = 'llm' THEN input_tokens ELSE 0 END) AS inp,"
    "   SUM(CASE WHEN kind = 'llm' THEN output_tokens ELSE 0 END) AS outp,"
    "   SUM(CASE WHEN kind = 'llm' AND cost_known THEN cost_usd ELSE 0 END) AS cost,"
    "   SUM(kind = 'llm' AND cost_known = 0) AS unk,"
    "   SUM(status = 'error') AS errs"
    "   FROM spans GROUP BY trace_id) a ON a.trace_id = ids.trace_id"
    " ORDER BY st DESC, ids.trace_id LIMIT ?1";

int tt_cli_ls_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'n' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL;
    bool json = false;
    long limit = 50;
    struct tt_store *st = NULL;
    sqlite3_stmt *q = NULL;
    json_t *arr = NULL;
    int c, ret, rc;
    long rows = 0;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:jn:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 'n': {
            char *end;
            errno = 0;
            limit = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || limit < 0) {
                fprintf(stderr, "tokentap ls: --limit wants a number >= 0 "
                        "(0 = all), not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        }
        case 'h': fputs(tt_cli_help("ls"), stdout); return TT_CLI_EXIT_OK;
        default: return usage_error("ls", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap ls: unexpected argument '%s' "
                "(details of one trace: tokentap show ID)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    ret = open_store("ls", dbopt, true, &st);
    if (!st) {
        if (json && ret == TT_CLI_EXIT_OK)
            puts("[]");
        return ret;
    }
    sqlite3 *db = tt_store_db(st);
    if (sqlite3_prepare_v2(db, ls_sql, -1, &q, NULL) != SQLITE_OK) {
        ret = sql_error("ls", db);
        goto out_store;
    }
    /* One row more than asked, to say that there are more. */
    sqlite3_bind_int64(q, 1, limit ? limit + 1 : -1);
    if (json && !(arr = json_array())) {
        ret = TT_CLI_EXIT_ERR;
        goto out_query;
    }
    if (!json)
        printf("%-12s  %-19s %6s %10s %10s %12s %4s %4s  %s\n", "TRACE",
               "STARTED", "CALLS", "INPUT", "OUTPUT", "COST", "ERR", "EXIT",
               "COMMAND");
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (limit && rows == limit) {
            rows++;
            break;
        }
        rows++;
        const char *tid = (const char *)sqlite3_column_text(q, 0);
        int64_t start = sqlite3_column_int64(q, 1);
        const char *cmdline = (const char *)sqlite3_column_text(q, 2);
        const char *exe = (const char *)sqlite3_column_text(q, 3);
        int64_t calls = sqlite3_column_int64(q, 4);
        int64_t inp = sqlite3_column_int64(q, 5), outp = sqlite3_column_int64(q, 6);
        double cost = sqlite3_column_double(q, 7);
        int64_t unk = sqlite3_column_int64(q, 8), errs = sqlite3_column_int64(q, 9);
        bool has_exit = sqlite3_column_type(q, 10) != SQLITE_NULL;
        int64_t exit_code = sqlite3_column_int64(q, 10);
        const char *what = cmdline ? cmdline : exe ? exe : "?";
        char when[40], costs[48];

        tt_cli_fmt_time(when, sizeof(when), start, json);
        tt_cli_fmt_cost(costs, sizeof(costs), cost, calls, unk);
        if (!json) {
            char ex[24] = "";
            if (has_exit && exit_code >= 0)
                snprintf(ex, sizeof(ex), "%lld", (long long)exit_code);
            printf("%-12.12s  %-19s %6lld %10lld %10lld %12s %4lld %4s  %s\n",
                   tid ? tid : "?", when, (long long)calls, (long long)inp,
                   (long long)outp, calls ? costs : "-", (long long)errs, ex,
                   what);
            continue;
        }
        char sid[13];
        snprintf(sid, sizeof(sid), "%.12s", tid ? tid : "");
        json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:I, s:f, s:I, s:I, s:o}",
                              "trace_id", tid ? tid : "", "short_id", sid,
                              "start_time", (json_int_t)start, "start", when,
                              "command", cmdline ? cmdline : exe,
                              "calls", (json_int_t)calls,
                              "input_tokens", (json_int_t)inp,
                              "output_tokens", (json_int_t)outp,
                              "cost_usd", cost,
                              "cost_unknown_calls", (json_int_t)unk,
                              "errors", (json_int_t)errs,
                              "exit_code", has_exit && exit_code >= 0
                                               ? json_integer(exit_code) : json_null());
        if (!o || json_array_append_new(arr, o) != 0) {
            ret = TT_CLI_EXIT_ERR;
            goto out_query;
        }
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        ret = sql_error("ls", db);
        goto out_query;
    }
    if (json)
        print_json(arr, JSON_INDENT(2));
    else if (rows == 0)
        printf("(no traces yet: tokentap run -- CMD)\n");
    else if (limit && rows > limit)
        fprintf(stderr, "(older traces not shown; use --limit 0 for all)\n");
    ret = TT_CLI_EXIT_OK;
out_query:
    json_decref(arr);
    sqlite3_finalize(q);
out_store:
    tt_store_close(st);
    return ret;
}

/* --------------------------------------------------------------- show */

static void print_span_line(size_t i, const struct tt_span *s)
{
    char t[40], hms[16], ttft[16] = "-", cost[48], status[24];
    const char *model = s->response_model ? s->response_model
                      : s->request_model ? s->request_model
                      : s->name ? s->name : s->kind;

    tt_cli_fmt_time(t, sizeof(t), s->start_time, false);
    /* "YYYY-MM-DD HH:MM:SS" -> "HH:MM:SS.mmm": the date is in the header. */
    snprintf(hms, sizeof(hms), "%.8s.%03lld", t + 11,
             (long long)((s->start_time / 1000000) % 1000));
    if (s->ttft_ms >= 0)
        snprintf(ttft, sizeof(ttft), "%.0f", s->ttft_ms);
    if (s->http_status)
        snprintf(status, sizeof(status), "%s %lld", s->status ? s->status : "?",
                 (long long)s->http_status);
    else
        snprintf(status, sizeof(status), "%s", s->status ? s->status : "?");
    if (strcmp(s->kind ? s->kind : "", "llm") == 0)
        tt_cli_fmt_cost(cost, sizeof(cost), s->cost_usd, 1, s->cost_known ? 0 : 1);
    else
        snprintf(cost, sizeof(cost), "-");
    if (!s->usage_known && strcmp(s->kind ? s->kind : "", "llm") == 0)
        printf("%3zu  %-12s  %-10.10s %-28.28s %-9s %-3s %7s %8.1f %8s %8s %7s %7s %12s\n",
               i, hms, s->provider ? s->provider : "?", model, status,
               s->stream ? "yes" : "no", ttft,
               (double)(s->end_time - s->start_time) / 1e6, "?", "?", "?", "?",
               cost);
    else
        printf("%3zu  %-12s  %-10.10s %-28.28s %-9s %-3s %7s %8.1f %8lld %8lld %7lld %7lld %12s\n",
               i, hms, s->provider ? s->provider : "?", model, status,
               s->stream ? "yes" : "no", ttft,
               (double)(s->end_time - s->start_time) / 1e6,
               (long long)s->input_tokens, (long long)s->output_tokens,
               (long long)s->cache_read_tokens, (long long)s->reasoning_tokens,
               cost);
    if (s->error)
        printf("     error: %s\n", s->error);
}

/* The run record of a trace, when `tokentap run` made one. */
struct run_row {
    bool found;
    char command[1024];
    int64_t start, end, exit_code, pid;
};

static void load_run(sqlite3 *db, const char *trace, struct run_row *r)
{
    sqlite3_stmt *q = NULL;

    memset(r, 0, sizeof(*r));
    if (sqlite3_prepare_v2(db, "SELECT command, start_time, end_time, exit_code, pid "
                           "FROM runs WHERE trace_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        r->found = true;
        snprintf(r->command, sizeof(r->command), "%s", c ? c : "");
        r->start = sqlite3_column_int64(q, 1);
        r->end = sqlite3_column_int64(q, 2);
        r->exit_code = sqlite3_column_type(q, 3) == SQLITE_NULL ? -1
                                                                : sqlite3_column_int64(q, 3);
        r->pid = sqlite3_column_int64(q, 4);
    }
    sqlite3_finalize(q);
}

int tt_cli_show_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL;
    bool json = false;
    char trace[33];
    struct tt_store *st = NULL;
    sqlite3_stmt *q = NULL;
    json_t *spans = NULL;
    struct run_row run;
    int c, ret, rc;
    size_t n = 0, calls = 0, errors = 0, unknown = 0;
    int64_t inp = 0, outp = 0, first = 0, last = 0;
    double cost = 0;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(tt_cli_help("show"), stdout); return TT_CLI_EXIT_OK;
        default: return usage_error("show", argv, optind, c);
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "tokentap show: want exactly one trace id (or a unique "
                "prefix, or a span id); list traces with: tokentap ls\n");
        return TT_CLI_EXIT_USAGE;
    }
    ret = open_store("show", dbopt, false, &st);
    if (!st)
        return ret;
    sqlite3 *db = tt_store_db(st);
    ret = resolve("show", db, argv[optind], trace);
    if (ret != TT_CLI_EXIT_OK)
        goto out_store;
    load_run(db, trace, &run);
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE trace_id = ?1 "
                           "ORDER BY start_time, span_id", -1, &q, NULL) != SQLITE_OK) {
        ret = sql_error("show", db);
        goto out_store;
    }
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    if (json && !(spans = json_array())) {
        ret = TT_CLI_EXIT_ERR;
        goto out_query;
    }
    if (!json) {
        printf("trace %s\n", trace);
        if (run.found) {
            char when[40];
            tt_cli_fmt_time(when, sizeof(when), run.start, false);
            printf("  command  %s\n", run.command);
            printf("  started  %s, %.1f s, pid %lld, exit %lld\n", when,
                   run.end > run.start ? (double)(run.end - run.start) / 1e9 : 0.0,
                   (long long)run.pid, (long long)run.exit_code);
        }
    }
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tt_span s;
        if (tt_store_span_from_row(q, &s) != TT_OK) {
            ret = TT_CLI_EXIT_ERR;
            goto out_query;
        }
        n++;
        if (n == 1)
            first = s.start_time;
        if (s.end_time > last)
            last = s.end_time;
        if (s.kind && strcmp(s.kind, "llm") == 0) {
            calls++;
            inp += s.input_tokens;
            outp += s.output_tokens;
            if (s.cost_known)
                cost += s.cost_usd;
            else
                unknown++;
        }
        if (s.status && strcmp(s.status, "error") == 0)
            errors++;
        if (json) {
            json_t *j = tt_span_to_json(&s);
            if (!j || json_array_append_new(spans, j) != 0) {
                tt_span_clear(&s);
                ret = TT_CLI_EXIT_ERR;
                goto out_query;
            }
        } else {
            if (n == 1) {
                char when[40];
                if (!run.found) {
                    tt_cli_fmt_time(when, sizeof(when), s.start_time, false);
                    printf("  started  %s%s%s\n", when, s.exe ? ", " : "",
                           s.exe ? s.exe : "");
                }
                printf("\n%3s  %-12s  %-10s %-28s %-9s %-3s %7s %8s %8s %8s %7s %7s %12s\n",
                       "#", "TIME", "PROVIDER", "MODEL", "STATUS", "STR",
                       "TTFT_MS", "LAT_MS", "IN", "OUT", "CACHED", "REASON", "COST");
            }
            print_span_line(n, &s);
        }
        tt_span_clear(&s);
    }
    if (rc != SQLITE_DONE) {
        ret = sql_error("show", db);
        goto out_query;
    }
    char costs[48];
    tt_cli_fmt_cost(costs, sizeof(costs), cost, (int64_t)calls, (int64_t)unknown);
    if (json) {
        json_t *o = json_pack("{s:s, s:o, s:o, s:{s:I, s:I, s:I, s:f, s:I, s:I}}",
                              "trace_id", trace,
                              "run", run.found
                                  ? json_pack("{s:s, s:I, s:I, s:I, s:I}",
                                              "command", run.command,
                                              "start_time", (json_int_t)run.start,
                                              "end_time", (json_int_t)run.end,
                                              "exit_code", (json_int_t)run.exit_code,
                                              "pid", (json_int_t)run.pid)
                                  : json_null(),
                              "spans", json_incref(spans),
                              "total", "calls", (json_int_t)calls,
                              "input_tokens", (json_int_t)inp,
                              "output_tokens", (json_int_t)outp,
                              "cost_usd", cost,
                              "cost_unknown_calls", (json_int_t)unknown,
                              "errors", (json_int_t)errors);
        if (!o) {
            ret = TT_CLI_EXIT_ERR;
            goto out_query;
        }
        print_json(o, JSON_INDENT(2));
        json_decref(o);
    } else if (n == 0) {
        printf("\nno LLM calls in this trace\n");
    } else {
        printf("\n%zu LLM call%s, %lld input, %lld output tokens, %s",
               calls, calls == 1 ? "" : "s", (long long)inp, (long long)outp,
               costs);
        if (errors)
            printf(", %zu error%s", errors, errors == 1 ? "" : "s");
        printf(", %.1f s\n", last > first ? (double)(last - first) / 1e9 : 0.0);
        if (unknown)
            printf("? = cost unknown (model not in the price table, or no usage reported)\n");
    }
    ret = TT_CLI_EXIT_OK;
out_query:
    json_decref(spans);
    sqlite3_finalize(q);
out_store:
    tt_store_close(st);
    return ret;
}

/* --------------------------------------------------------------- cost */

static json_t *group_json(const struct tt_cli_group *g, const char *keyname)
{
    return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:I}",
                     keyname, g->key, "calls", (json_int_t)g->calls,
                     "input_tokens", (json_int_t)g->input,
                     "output_tokens", (json_int_t)g->output,
                     "cache_read_tokens", (json_int_t)g->cache_read,
                     "cache_write_tokens", (json_int_t)g->cache_write,
                     "reasoning_tokens", (json_int_t)g->reasoning,
                     "cost_usd", g->cost,
                     "cost_unknown_calls", (json_int_t)g->unknown,
                     "errors", (json_int_t)g->errors);
}

int tt_cli_cost_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "by", required_argument, NULL, 'b' },
        { "db", required_argument, NULL, 'd' },
        { "trace", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *by = "model", *dbopt = NULL, *trace_opt = NULL;
    bool json = false;
    char trace[33];
    struct tt_store *st = NULL;
    struct tt_cli_group *g = NULL, tot = { .key = "total" };
    size_t n = 0;
    int c, ret, rc;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":b:d:t:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'b': by = optarg; break;
        case 'd': dbopt = optarg; break;
        case 't': trace_opt = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(tt_cli_help("cost"), stdout); return TT_CLI_EXIT_OK;
        default: return usage_error("cost", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap cost: unexpected argument '%s' (one trace: "
                "--trace ID)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (strcmp(by, "model") && strcmp(by, "provider") && strcmp(by, "process")) {
        fprintf(stderr, "tokentap cost: --by wants model, provider or process, "
                "not '%s'\n", by);
        return TT_CLI_EXIT_USAGE;
    }
    ret = open_store("cost", dbopt, true, &st);
    if (!st) {
        if (json && ret == TT_CLI_EXIT_OK)
            printf("{\"by\": \"%s\", \"groups\": [], \"total\": null}\n", by);
        return ret;
    }
    sqlite3 *db = tt_store_db(st);
    if (trace_opt) {
        ret = resolve("cost", db, trace_opt, trace);
        if (ret != TT_CLI_EXIT_OK)
            goto out_store;
    }
    rc = tt_cli_query_groups(db, by, trace_opt ? trace : NULL, 0, 0, &g, &n);
    if (rc != TT_OK) {
        ret = sql_error("cost", db);
        goto out_store;
    }
    int w = (int)strlen(by);
    for (size_t i = 0; i < n; i++) {
        tot.calls += g[i].calls;
        tot.input += g[i].input;
        tot.output += g[i].output;
        tot.cache_read += g[i].cache_read;
        tot.cache_write += g[i].cache_write;
        tot.reasoning += g[i].reasoning;
        tot.cost += g[i].cost;
        tot.unknown += g[i].unknown;
        tot.errors += g[i].errors;
        int kl = (int)strnlen(g[i].key, 60);
        if (kl > w)
            w = kl;
    }
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, group_json(&g[i], by)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        json_t *o = arr ? json_pack("{s:s, s:s?, s:o, s:o}", "by", by,
                                    "trace_id", trace_opt ? trace : NULL,
                                    "groups", arr, "total", group_json(&tot, by))
                        : NULL;
        if (!o) {
            ret = TT_CLI_EXIT_ERR;
            goto out_groups;
        }
        json_object_del(json_object_get(o, "total"), by);
        print_json(o, JSON_INDENT(2));
        json_decref(o);
        ret = TT_CLI_EXIT_OK;
        goto out_groups;
    }
    if (n == 0) {
        printf("no LLM calls%s%s\n", trace_opt ? " in trace " : "",
               trace_opt ? trace : "");
        ret = TT_CLI_EXIT_OK;
        goto out_groups;
    }
    printf("%-*s %7s %11s %11s %11s %11s %11s %14s\n", w, by, "calls", "input",
           "output", "cache_read", "cache_write", "reasoning", "cost");
    for (size_t i = 0; i <= n; i++) {
        const struct tt_cli_group *r = i < n ? &g[i] : &tot;
        char costs[48];
        tt_cli_fmt_cost(costs, sizeof(costs), r->cost, r->calls, r->unknown);
        printf("%-*.*s %7lld %11lld %11lld %11lld %11lld %11lld %14s\n", w, 60,
               r->key, (long long)r->calls, (long long)r->input,
               (long long)r->output, (long long)r->cache_read,
               (long long)r->cache_write, (long long)r->reasoning, costs);
    }
    if (tot.unknown)
        printf("? cost unknown for %lld call%s (model not in the price table, or "
               "no usage reported); the totals exclude %s\n",
               (long long)tot.unknown, tot.unknown == 1 ? "" : "s",
               tot.unknown == 1 ? "it" : "them");
    if (tot.errors)
        printf("%lld call%s failed (see tokentap show ID)\n",
               (long long)tot.errors, tot.errors == 1 ? "" : "s");
    ret = TT_CLI_EXIT_OK;
out_groups:
    free(g);
out_store:
    tt_store_close(st);
    return ret;
}
