/* cli_query.c - the read-only subcommands: export, ls, show, cost.
 *
 * They open the store read-only and never wait for the daemon: what is
 * committed is what they report. A store that does not exist yet is not
 * an error for the listing commands (nothing was traced yet). ls and cost
 * also read a ClickHouse store (--store clickhouse://...): cli_clickhouse.c
 * queries it, and the printers here (tt_cli_cost_print, tt_cli_ls_*)
 * print both. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clickhouse.h"
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
    if (rc == TT_ERR_CORRUPT) {
        char msg[4096];
        tt_store_corrupt_msg(msg, sizeof(msg), path, "not a database");
        fprintf(stderr, "tokentap %s: %s\n", cmd, msg);
        *st = NULL;
        return TT_CLI_EXIT_ERR;
    }
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot open the store %s: %s\n", cmd,
                path, tt_strerror(rc));
        *st = NULL;
        return TT_CLI_EXIT_ERR;
    }
    return TT_CLI_EXIT_OK;
}

int tt_cli_sql_error(const char *cmd, sqlite3 *db)
{
    int code = sqlite3_errcode(db);
    const char *file = sqlite3_db_filename(db, "main");

    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) {
        char msg[4096];
        tt_store_corrupt_msg(msg, sizeof(msg), file && *file ? file : "(store)",
                             sqlite3_errmsg(db));
        fprintf(stderr, "tokentap %s: %s\n", cmd, msg);
    } else {
        fprintf(stderr, "tokentap %s: store query failed on %s: %s\n", cmd,
                file && *file ? file : "the store", sqlite3_errmsg(db));
    }
    return TT_CLI_EXIT_ERR;
}

int tt_cli_resolve_explain(const char *cmd, const char *id, int rc,
                           char (*alt)[33], size_t nfound)
{
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
        return TT_CLI_EXIT_ERR;
    }
}

/* Resolve a user-typed id to a trace id, explaining failures. Returns an
 * exit status. */
static int resolve(const char *cmd, sqlite3 *db, const char *id, char *trace)
{
    char alt[5][33];
    size_t nfound = 0;
    int rc = tt_cli_resolve_trace(db, id, trace, alt, 5, &nfound);

    if (rc != TT_OK && rc != TT_ERR_PARSE && rc != TT_ERR && rc != TT_ERR_AGAIN)
        return tt_cli_sql_error(cmd, db);
    return tt_cli_resolve_explain(cmd, id, rc, alt, nfound);
}

/* The helpers above, for the subcommands in other modules (cli_report.c). */
int tt_cli_usage_error(const char *cmd, char **argv, int optind_now, int opt)
{
    return usage_error(cmd, argv, optind_now, opt);
}

int tt_cli_open_store_ro(const char *cmd, const char *dbopt, bool missing_ok,
                         struct tt_store **st)
{
    return open_store(cmd, dbopt, missing_ok, st);
}

int tt_cli_resolve_id(const char *cmd, sqlite3 *db, const char *id, char *trace)
{
    return resolve(cmd, db, id, trace);
}

static void print_json(json_t *j, size_t flags)
{
    /* 15 digits: costs print as 0.00036, not 0.00036000000000000002. */
    json_dumpf(j, stdout, flags | JSON_REAL_PRECISION(15));
    fputc('\n', stdout);
}

/* ------------------------------------------------------------- groups */

int tt_cli_query_groups(sqlite3 *db, const char *by, const char *trace_id,
                        int64_t from, int64_t to, struct tt_cli_group **out,
                        size_t *n)
{
    char expr[512];
    char sql[1536];
    sqlite3_stmt *st = NULL;

    *out = NULL;
    *n = 0;
    if (tt_cli_group_expr(by, expr, sizeof(expr)) != TT_OK)
        return TT_ERR_PARSE;
    snprintf(sql, sizeof(sql),
             "SELECT %s AS k, COUNT(*), SUM(input_tokens), SUM(output_tokens),"
             " SUM(cache_read_tokens), SUM(cache_write_tokens),"
             " SUM(reasoning_tokens),"
             " SUM(CASE WHEN cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END) AS c,"
             " SUM(cost_known = 0), SUM(status = 'error')"
             " FROM spans WHERE kind = 'llm'"
             " AND (?1 IS NULL OR trace_id = ?1)"
             " AND (?2 = 0 OR start_time >= ?2) AND (?3 = 0 OR start_time <= ?3)"
             /* cost to the nano-dollar: two sums of the same costs added in
              * another order (the ui's totals) sort the same */
             " GROUP BY k ORDER BY ROUND(c, 9) DESC, 2 DESC, k",
             expr);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    if (trace_id)
        sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    sqlite3_bind_int64(st, 3, to);
    return tt_cli_groups_collect(st, out, n);
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
        ret = tt_cli_sql_error("export", db);
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
        ret = tt_cli_sql_error("export", db);
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
    " COALESCE(a.errs, 0), r.exit_code, r.end_time, a.sess,"
    " COALESCE(a.toks, 0)"
    " FROM (SELECT trace_id FROM spans UNION SELECT trace_id FROM runs) ids"
    " LEFT JOIN runs r ON r.trace_id = ids.trace_id"
    " LEFT JOIN (SELECT trace_id, MIN(start_time) AS st, exe,"
    "   SUM(kind = 'llm') AS calls,"
    "   SUM(CASE WHEN kind = 'llm' THEN input_tokens ELSE 0 END) AS inp,"
    "   SUM(CASE WHEN kind = 'llm' THEN output_tokens ELSE 0 END) AS outp,"
    "   SUM(CASE WHEN kind = 'llm' AND cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END) AS cost,"
    "   SUM(kind = 'llm' AND cost_known = 0) AS unk,"
    "   SUM(status = 'error') AS errs, MAX(session_id) AS sess,"
    "   SUM(CASE WHEN kind = 'llm' THEN input_tokens + output_tokens ELSE 0 END) AS toks"
    "   FROM spans GROUP BY trace_id) a ON a.trace_id = ids.trace_id"
    " WHERE ?2 = 0 OR COALESCE(r.start_time, a.st, 0) >= ?2"
    " ORDER BY st DESC, ids.trace_id LIMIT ?1";

int tt_cli_ls_begin(struct tt_cli_ls_out *o, bool json, long limit)
{
    memset(o, 0, sizeof(*o));
    o->json = json;
    o->limit = limit;
    if (json)
        return (o->arr = json_array()) ? TT_OK : TT_ERR_NOMEM;
    printf("%-12s  %-19s %6s %10s %10s %12s %4s %4s  %-12s %s\n", "TRACE",
           "STARTED", "CALLS", "INPUT", "OUTPUT", "COST", "ERR", "EXIT",
           "SESSION", "COMMAND");
    return TT_OK;
}

int tt_cli_ls_add(struct tt_cli_ls_out *o, const struct tt_cli_ls_row *r)
{
    const char *tid = r->trace_id ? r->trace_id : "";
    const char *what = r->command ? r->command : r->exe ? r->exe : "?";
    bool exit_shown = r->has_exit && r->exit_code >= 0;
    char when[40], costs[48], sid[13];

    if (o->limit && o->rows == o->limit) {
        o->more = true;
        return TT_OK;
    }
    o->rows++;
    tt_cli_fmt_time(when, sizeof(when), r->start, o->json);
    tt_cli_fmt_cost(costs, sizeof(costs), r->cost, r->calls, r->unknown);
    if (!o->json) {
        char ex[24] = "";
        if (exit_shown)
            snprintf(ex, sizeof(ex), "%lld", (long long)r->exit_code);
        printf("%-12.12s  %-19s %6lld %10lld %10lld %12s %4lld %4s  %-12.12s %s\n",
               r->trace_id ? r->trace_id : "?", when, (long long)r->calls,
               (long long)r->input, (long long)r->output, r->calls ? costs : "-",
               (long long)r->errors, ex, r->session ? r->session : "-", what);
        return TT_OK;
    }
    snprintf(sid, sizeof(sid), "%.12s", tid);
    json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s?, s:I, s:I, s:I, s:f, s:I, s:I, s:o}",
                          "trace_id", tid, "short_id", sid,
                          "start_time", (json_int_t)r->start, "start", when,
                          "command", r->command ? r->command : r->exe,
                          "calls", (json_int_t)r->calls,
                          "input_tokens", (json_int_t)r->input,
                          "output_tokens", (json_int_t)r->output,
                          "cost_usd", r->cost,
                          "cost_unknown_calls", (json_int_t)r->unknown,
                          "errors", (json_int_t)r->errors,
                          "exit_code", exit_shown ? json_integer(r->exit_code)
                                                  : json_null());
    if (j) {
        json_object_set_new(j, "session_id",
                            r->session ? json_string(r->session) : json_null());
        json_object_set_new(j, "tokens", json_integer(r->tokens));
    }
    return j && json_array_append_new(o->arr, j) == 0 ? TT_OK : TT_ERR_NOMEM;
}

int tt_cli_ls_end(struct tt_cli_ls_out *o, bool ok)
{
    if (ok) {
        if (o->json)
            print_json(o->arr, JSON_INDENT(2));
        else if (o->rows == 0)
            printf("(no traces yet: tokentap run -- CMD)\n");
        else if (o->more)
            fprintf(stderr, "(older traces not shown; use --limit 0 for all)\n");
    }
    json_decref(o->arr);
    o->arr = NULL;
    return ok ? TT_CLI_EXIT_OK : TT_CLI_EXIT_ERR;
}

int tt_cli_store_pick(const char *store_opt, const char *db_opt,
                      const char *env_store, const char **db_out,
                      const char **ch_url)
{
    const char *s = store_opt ? store_opt : db_opt ? db_opt : env_store;

    *db_out = NULL;
    *ch_url = NULL;
    if (store_opt && db_opt)
        return TT_ERR_PARSE;
    if (s && !*s)
        s = NULL;     /* TOKENTAP_STORE= : unset */
    if (s && tt_ch_is_url(s))
        *ch_url = s;
    else
        *db_out = s;
    return TT_OK;
}

/* --store and --db together, in ls and cost. */
static int pick_store(const char *cmd, const char *store_opt, const char *dbopt,
                      const char **db_out, const char **ch_url)
{
    if (tt_cli_store_pick(store_opt, dbopt, getenv("TOKENTAP_STORE"), db_out,
                          ch_url) == TT_OK)
        return TT_CLI_EXIT_OK;
    fprintf(stderr, "tokentap %s: --store and --db both name the store; give one\n",
            cmd);
    return TT_CLI_EXIT_USAGE;
}

/* `ls` on a ClickHouse store: the rows of the one ls reader
 * (tt_cli_ch_ls_each), printed as for SQLite. The table's head is printed
 * with the first row (or after an empty answer), never before the query
 * succeeded. */
struct ch_ls {
    struct tt_cli_ls_out out;
    bool json, begun;
    long limit;
};

static int ch_ls_begin(struct ch_ls *x)
{
    if (x->begun)
        return TT_OK;
    x->begun = true;
    return tt_cli_ls_begin(&x->out, x->json, x->limit);
}

static int ch_ls_add(void *cls, const struct tt_cli_ls_row *r)
{
    struct ch_ls *x = cls;
    int rc = ch_ls_begin(x);

    if (rc != TT_OK)
        return rc;
    return x->out.more ? TT_OK : tt_cli_ls_add(&x->out, r);
}

static int ch_fail(const char *cmd, int rc, const char *err)
{
    fprintf(stderr, "tokentap %s: %s\n", cmd, err[0] ? err : tt_strerror(rc));
    return rc == TT_ERR_PARSE ? TT_CLI_EXIT_USAGE : TT_CLI_EXIT_ERR;
}

static int ch_ls(const char *url, bool json, long limit, int64_t since)
{
    struct tt_cli_chq q;
    struct ch_ls x = { .json = json, .limit = limit };
    char err[1024] = "";
    int rc;

    if ((rc = tt_cli_ch_open(&q, url, err, sizeof(err))) != TT_OK)
        return ch_fail("ls", rc, err);
    /* One row more than asked, to say that there are more. */
    rc = tt_cli_ch_ls_each(&q, since, limit ? limit + 1 : 0, 0, ch_ls_add, &x, err,
                           sizeof(err));
    if (rc == TT_OK && ch_ls_begin(&x) != TT_OK)
        return tt_cli_ls_end(&x.out, false);
    if (rc != TT_OK) {
        if (x.begun)
            tt_cli_ls_end(&x.out, false);
        return ch_fail("ls", rc, err);
    }
    return tt_cli_ls_end(&x.out, true);
}

int tt_cli_ls_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 'S' },
        { "json", no_argument, NULL, 'j' },
        { "limit", required_argument, NULL, 'n' },
        { "since", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL, *store_opt = NULL, *ch_url = NULL;
    bool json = false;
    long limit = 50;
    int64_t since = 0;
    struct tt_store *st = NULL;
    sqlite3_stmt *q = NULL;
    struct tt_cli_ls_out out;
    int c, ret, rc = SQLITE_DONE;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:S:jn:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 's':
            if (tt_cli_parse_since(optarg, tt_now_ns(), &since) != TT_OK) {
                fprintf(stderr, "tokentap ls: --since wants 30m, 24h, 7d, 2w or "
                        "YYYY-MM-DD, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'd': dbopt = optarg; break;
        case 'S': store_opt = optarg; break;
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
    if ((ret = pick_store("ls", store_opt, dbopt, &dbopt, &ch_url)) != TT_CLI_EXIT_OK)
        return ret;
    if (ch_url)
        return ch_ls(ch_url, json, limit, since);
    ret = open_store("ls", dbopt, true, &st);
    if (!st) {
        if (json && ret == TT_CLI_EXIT_OK)
            puts("[]");
        return ret;
    }
    sqlite3 *db = tt_store_db(st);
    if (sqlite3_prepare_v2(db, ls_sql, -1, &q, NULL) != SQLITE_OK) {
        ret = tt_cli_sql_error("ls", db);
        goto out_store;
    }
    /* One row more than asked, to say that there are more. */
    sqlite3_bind_int64(q, 1, limit ? limit + 1 : -1);
    sqlite3_bind_int64(q, 2, since);
    if (tt_cli_ls_begin(&out, json, limit) != TT_OK) {
        ret = tt_cli_ls_end(&out, false);
        goto out_query;
    }
    while (!out.more && (rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tt_cli_ls_row r = {
            .trace_id = (const char *)sqlite3_column_text(q, 0),
            .start = sqlite3_column_int64(q, 1),
            .command = (const char *)sqlite3_column_text(q, 2),
            .exe = (const char *)sqlite3_column_text(q, 3),
            .calls = sqlite3_column_int64(q, 4),
            .input = sqlite3_column_int64(q, 5),
            .output = sqlite3_column_int64(q, 6),
            .cost = sqlite3_column_double(q, 7),
            .unknown = sqlite3_column_int64(q, 8),
            .errors = sqlite3_column_int64(q, 9),
            .has_exit = sqlite3_column_type(q, 10) != SQLITE_NULL,
            .exit_code = sqlite3_column_int64(q, 10),
            .session = (const char *)sqlite3_column_text(q, 12),
            .tokens = sqlite3_column_int64(q, 13),
        };
        if (tt_cli_ls_add(&out, &r) != TT_OK) {
            ret = tt_cli_ls_end(&out, false);
            goto out_query;
        }
    }
    if (!out.more && rc != SQLITE_DONE) {
        tt_cli_ls_end(&out, false);
        ret = tt_cli_sql_error("ls", db);
        goto out_query;
    }
    ret = tt_cli_ls_end(&out, true);
out_query:
    sqlite3_finalize(q);
out_store:
    tt_store_close(st);
    return ret;
}

/* show: cli_show.c */

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

/* The models whose price was unknown, with their call counts, in the same
 * window: what to add to the price table (tokentap pricing). *out is
 * malloc'd (NULL when *n == 0). */
static int unknown_models(sqlite3 *db, const char *trace, int64_t from,
                          struct tt_cli_unknown **out, size_t *n)
{
    sqlite3_stmt *q = NULL;
    struct tt_cli_unknown *u = NULL;
    size_t cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    if (sqlite3_prepare_v2(db,
            "SELECT COALESCE(response_model, request_model, '(unknown model)') AS m,"
            " COUNT(*), SUM(usage_known = 0) FROM spans"
            " WHERE kind = 'llm' AND cost_known = 0"
            " AND (?1 IS NULL OR trace_id = ?1) AND (?2 = 0 OR start_time >= ?2)"
            " GROUP BY m ORDER BY 2 DESC, m", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    if (trace)
        sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 2, from);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        if (*n == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct tt_cli_unknown *nu = realloc(u, ncap * sizeof(*nu));
            if (!nu) {
                rc = SQLITE_NOMEM;
                break;
            }
            u = nu;
            cap = ncap;
        }
        const char *m = (const char *)sqlite3_column_text(q, 0);
        snprintf(u[*n].model, sizeof(u[*n].model), "%s", m ? m : "?");
        u[*n].calls = sqlite3_column_int64(q, 1);
        u[*n].no_usage = sqlite3_column_int64(q, 2);
        (*n)++;
    }
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE) {
        free(u);
        *n = 0;
        return rc == SQLITE_NOMEM ? TT_ERR_NOMEM : TT_ERR_IO;
    }
    *out = u;
    return TT_OK;
}

/* A CSV field: quoted when it holds a separator, quote or newline. */
static void csv_field(const char *v)
{
    if (!strpbrk(v, ",\"\n\r")) {
        fputs(v, stdout);
        return;
    }
    fputc('"', stdout);
    for (; *v; v++) {
        if (*v == '"')
            fputc('"', stdout);
        fputc(*v, stdout);
    }
    fputc('"', stdout);
}

int tt_cli_cost_print(const struct tt_cli_cost *c, const char *format)
{
    const struct tt_cli_group *g = c->g;
    struct tt_cli_group tot = { .key = "total" };
    size_t n = c->n;
    int w = (int)strlen(c->by);

    for (size_t i = 0; i < n; i++) {
        tt_cli_group_add(&tot, &g[i]);
        int kl = (int)strnlen(g[i].key, 60);
        if (kl > w)
            w = kl;
    }
    if (strcmp(format, "json") == 0) {
        json_t *arr = json_array(), *unk = json_array(), *o = NULL;
        for (size_t i = 0; arr && i < n; i++)
            if (json_array_append_new(arr, group_json(&g[i], c->by)) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        for (size_t i = 0; unk && i < c->nunk; i++)
            if (json_array_append_new(unk, json_pack("{s:s, s:I, s:I}",
                                      "model", c->unk[i].model,
                                      "calls", (json_int_t)c->unk[i].calls,
                                      "no_usage", (json_int_t)c->unk[i].no_usage)) != 0) {
                json_decref(unk);
                unk = NULL;
            }
        if (arr && unk)
            o = json_pack("{s:s, s:s?, s:o, s:o, s:o}", "by", c->by,
                          "trace_id", c->trace_id, "groups", arr,
                          "total", group_json(&tot, c->by), "unknown_cost", unk);
        else {
            json_decref(arr);
            json_decref(unk);
        }
        if (!o)
            return TT_CLI_EXIT_ERR;
        if (c->since)
            json_object_set_new(o, "since", json_integer(c->since));
        json_object_del(json_object_get(o, "total"), c->by);
        print_json(o, JSON_INDENT(2));
        json_decref(o);
        return TT_CLI_EXIT_OK;
    }
    if (strcmp(format, "csv") == 0) {
        printf("%s,calls,input_tokens,output_tokens,cache_read_tokens,"
               "cache_write_tokens,reasoning_tokens,cost_usd,cost_unknown_calls,errors\n",
               c->by);
        for (size_t i = 0; i <= n; i++) {
            const struct tt_cli_group *r = i < n ? &g[i] : &tot;
            csv_field(r->key);
            printf(",%lld,%lld,%lld,%lld,%lld,%lld,%.9f,%lld,%lld\n",
                   (long long)r->calls, (long long)r->input, (long long)r->output,
                   (long long)r->cache_read, (long long)r->cache_write,
                   (long long)r->reasoning, r->cost, (long long)r->unknown,
                   (long long)r->errors);
        }
        return TT_CLI_EXIT_OK;
    }
    if (n == 0) {
        printf("no LLM calls%s%s\n", c->trace_id ? " in trace " : "",
               c->trace_id ? c->trace_id : "");
        return TT_CLI_EXIT_OK;
    }
    printf("%-*s %7s %11s %11s %11s %11s %11s %14s\n", w, c->by, "calls", "input",
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
    if (tot.unknown) {
        printf("? cost unknown for %lld call%s (model not in the price table, or "
               "no usage reported); the totals exclude %s:\n",
               (long long)tot.unknown, tot.unknown == 1 ? "" : "s",
               tot.unknown == 1 ? "it" : "them");
        for (size_t i = 0; i < c->nunk; i++)
            printf("  %-40s %lld call%s%s\n", c->unk[i].model,
                   (long long)c->unk[i].calls, c->unk[i].calls == 1 ? "" : "s",
                   c->unk[i].no_usage ? " (some without usage)" : "");
        printf("  (see tokentap pricing MODEL; add prices with TOKENTAP_PRICING)\n");
    }
    if (tot.errors)
        printf("%lld call%s failed (see tokentap show ID)\n",
               (long long)tot.errors, tot.errors == 1 ? "" : "s");
    return TT_CLI_EXIT_OK;
}

/* `cost` on a ClickHouse store. */
static int ch_cost(const char *url, const char *by, const char *trace_opt, int64_t since,
                   const char *format)
{
    struct tt_cli_chq q;
    char trace[33], alt[5][33], err[1024] = "";
    struct tt_cli_group *g = NULL;
    struct tt_cli_unknown *unk = NULL;
    size_t n = 0, nunk = 0, nfound = 0;
    int rc;

    if ((rc = tt_cli_ch_open(&q, url, err, sizeof(err))) != TT_OK)
        return ch_fail("cost", rc, err);
    if (trace_opt) {
        rc = tt_cli_ch_resolve(&q, trace_opt, trace, alt, 5, &nfound, err, sizeof(err));
        if (rc == TT_ERR_NOMEM || rc == TT_ERR_IO)
            return ch_fail("cost", rc, err);
        if (rc != TT_OK)
            return tt_cli_resolve_explain("cost", trace_opt, rc, alt, nfound);
    }
    rc = tt_cli_ch_cost_data(&q, by, trace_opt ? trace : NULL, since, &g, &n, &unk, &nunk,
                             err, sizeof(err));
    if (rc != TT_OK)
        return ch_fail("cost", rc, err);
    struct tt_cli_cost report = {
        .by = by, .trace_id = trace_opt ? trace : NULL, .since = since,
        .g = g, .n = n, .unk = unk, .nunk = nunk,
    };
    int ret = tt_cli_cost_print(&report, format);
    free(unk);
    free(g);
    return ret;
}

int tt_cli_cost_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "by", required_argument, NULL, 'b' },
        { "db", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 'S' },
        { "trace", required_argument, NULL, 't' },
        { "since", required_argument, NULL, 's' },
        { "format", required_argument, NULL, 'f' },
        { "json", no_argument, NULL, 'j' },
        { "as", required_argument, NULL, 'A' },
        { "as-file", required_argument, NULL, 'F' },
        { "as-provider", required_argument, NULL, 'P' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *by = "model", *dbopt = NULL, *trace_opt = NULL, *format = "table";
    const char *store_opt = NULL, *ch_url = NULL;
    const char *as_model = NULL, *as_file = NULL, *as_provider = NULL;
    char trace[33], expr[512];
    int64_t since = 0;
    struct tt_store *st = NULL;
    struct tt_cli_group *g = NULL;
    struct tt_cli_unknown *unk = NULL;
    size_t n = 0, nunk = 0;
    int c, ret, rc;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":b:d:S:t:s:f:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'b': by = optarg; break;
        case 'd': dbopt = optarg; break;
        case 'S': store_opt = optarg; break;
        case 't': trace_opt = optarg; break;
        case 's':
            if (tt_cli_parse_since(optarg, tt_now_ns(), &since) != TT_OK) {
                fprintf(stderr, "tokentap cost: --since wants 30m, 24h, 7d, 2w or "
                        "YYYY-MM-DD, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'f': format = optarg; break;
        case 'j': format = "json"; break;
        case 'A': as_model = optarg; break;
        case 'F': as_file = optarg; break;
        case 'P': as_provider = optarg; break;
        case 'h': fputs(tt_cli_help("cost"), stdout); return TT_CLI_EXIT_OK;
        default: return usage_error("cost", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap cost: unexpected argument '%s' (one trace: "
                "--trace ID)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (tt_cli_group_expr(by, expr, sizeof(expr)) != TT_OK) {
        fprintf(stderr, "tokentap cost: --by wants model, provider, process, "
                "session, day, hostname or tag:KEY (KEY of letters, digits, _ - .), "
                "not '%s'\n", by);
        return TT_CLI_EXIT_USAGE;
    }
    bool json = strcmp(format, "json") == 0, csv = strcmp(format, "csv") == 0;
    if (!json && !csv && strcmp(format, "table") != 0) {
        fprintf(stderr, "tokentap cost: --format wants table, csv or json, not '%s'\n",
                format);
        return TT_CLI_EXIT_USAGE;
    }
    if (as_model && as_file) {
        fprintf(stderr, "tokentap cost: --as MODEL or --as-file PRICES, not both\n");
        return TT_CLI_EXIT_USAGE;
    }
    if ((ret = pick_store("cost", store_opt, dbopt, &dbopt, &ch_url)) != TT_CLI_EXIT_OK)
        return ret;
    if (ch_url && (as_model || as_file)) {
        fprintf(stderr, "tokentap cost: --as/--as-file read the SQLite store only\n");
        return TT_CLI_EXIT_USAGE;
    }
    if (ch_url)
        return ch_cost(ch_url, by, trace_opt, since, format);
    ret = open_store("cost", dbopt, true, &st);
    if (!st) {
        if (json && ret == TT_CLI_EXIT_OK)
            printf("{\"by\": \"%s\", \"groups\": [], \"total\": null, "
                   "\"unknown_cost\": []}\n", by);
        return ret;
    }
    sqlite3 *db = tt_store_db(st);
    if (trace_opt) {
        ret = resolve("cost", db, trace_opt, trace);
        if (ret != TT_CLI_EXIT_OK)
            goto out_store;
    }
    if (as_model || as_file) {
        ret = tt_cli_cost_as(db, expr, by, trace_opt ? trace : NULL, since, as_model,
                             as_provider, as_file, format);
        goto out_store;
    }
    rc = tt_cli_query_groups(db, by, trace_opt ? trace : NULL, since, 0, &g, &n);
    if (rc == TT_OK)
        rc = unknown_models(db, trace_opt ? trace : NULL, since, &unk, &nunk);
    if (rc != TT_OK) {
        ret = tt_cli_sql_error("cost", db);
        goto out_groups;
    }
    struct tt_cli_cost report = {
        .by = by, .trace_id = trace_opt ? trace : NULL, .since = since,
        .g = g, .n = n, .unk = unk, .nunk = nunk,
    };
    ret = tt_cli_cost_print(&report, format);
out_groups:
    free(unk);
    free(g);
out_store:
    tt_store_close(st);
    return ret;
}
