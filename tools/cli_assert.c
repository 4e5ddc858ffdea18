/* cli_assert.c - `tokentap assert`: fail a CI job when a run spent too much.
 *
 * Reads the facts of one trace (the last run, or --trace ID) from the store
 * and checks them against the rules given on the command line; the rule
 * logic itself is tt_cli_assert_eval (cli_filter.c). */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define MAX_MODELS 64

/* The newest trace: the last `tokentap run`, else the newest span's. */
static int last_trace(sqlite3 *db, char *trace)
{
    sqlite3_stmt *q = NULL;
    int rc = TT_ERR;

    if (sqlite3_prepare_v2(db,
            "SELECT trace_id FROM (SELECT trace_id, start_time FROM runs"
            " UNION ALL SELECT trace_id, MAX(start_time) FROM spans GROUP BY trace_id)"
            " ORDER BY start_time DESC LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_text(q, 0)) {
        snprintf(trace, 33, "%s", (const char *)sqlite3_column_text(q, 0));
        rc = TT_OK;
    }
    sqlite3_finalize(q);
    return rc;
}

static int load_facts(sqlite3 *db, const char *trace, struct tt_cli_assert_facts *f,
                      struct tt_cli_assert_model *models)
{
    sqlite3_stmt *q = NULL;

    memset(f, 0, sizeof(*f));
    if (sqlite3_prepare_v2(db,
            "SELECT SUM(kind = 'llm'),"
            " SUM(CASE WHEN kind = 'llm' AND cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END),"
            " SUM(kind = 'llm' AND cost_known = 0),"
            " SUM(CASE WHEN kind = 'llm' THEN input_tokens + output_tokens ELSE 0 END),"
            " SUM(status = 'error')"
            " FROM spans WHERE trace_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
        f->calls = sqlite3_column_int64(q, 0);
        f->cost = sqlite3_column_double(q, 1);
        f->unknown_cost_calls = sqlite3_column_int64(q, 2);
        f->tokens = sqlite3_column_int64(q, 3);
        f->errors = sqlite3_column_int64(q, 4);
    }
    sqlite3_finalize(q);
    q = NULL;
    /* The model as requested: what a user writes in an allow list
     * ("gpt-4o-mini"), not the dated snapshot the provider answers. */
    if (sqlite3_prepare_v2(db,
            "SELECT COALESCE(request_model, response_model, '(unknown model)') AS m,"
            " COUNT(*) FROM spans WHERE trace_id = ?1 AND kind = 'llm'"
            " GROUP BY m ORDER BY 2 DESC, m", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    while (sqlite3_step(q) == SQLITE_ROW && f->nmodels < MAX_MODELS) {
        struct tt_cli_assert_model *m = &models[f->nmodels++];
        snprintf(m->name, sizeof(m->name), "%s", (const char *)sqlite3_column_text(q, 0));
        m->calls = sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    f->models = models;
    return TT_OK;
}

static int bad_value(const char *opt, const char *v, const char *want)
{
    fprintf(stderr, "tokentap assert: %s wants %s, not '%s'\n", opt, want, v);
    return TT_CLI_EXIT_USAGE;
}

int tt_cli_assert_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "max-cost", required_argument, NULL, 'c' },
        { "max-tokens", required_argument, NULL, 'k' },
        { "llm-calls", required_argument, NULL, 'n' },
        { "no-errors", no_argument, NULL, 'e' },
        { "model-allow", required_argument, NULL, 'm' },
        { "trace", required_argument, NULL, 't' },
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct tt_cli_assert_rules r = { .max_cost = -1, .max_tokens = -1,
                                     .calls_min = -1, .calls_max = -1 };
    struct tt_cli_assert_facts f;
    struct tt_cli_assert_model models[MAX_MODELS];
    const char *dbopt = NULL, *trace_opt = NULL;
    bool json = false, any = false;
    char trace[33], *end;
    struct tt_store *st = NULL;
    struct tt_buf msgs;
    int c, ret, violations = 0;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":c:k:n:em:t:d:jh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            errno = 0;
            r.max_cost = strtod(optarg, &end);
            if (errno || end == optarg || *end || r.max_cost < 0)
                return bad_value("--max-cost", optarg, "a dollar amount like 0.50");
            any = true;
            break;
        case 'k': {
            errno = 0;
            long long v = strtoll(optarg, &end, 10);
            if (errno || end == optarg || *end || v < 0)
                return bad_value("--max-tokens", optarg, "a number of tokens");
            r.max_tokens = v;
            any = true;
            break;
        }
        case 'n':
            if (tt_cli_parse_range(optarg, &r.calls_min, &r.calls_max) != TT_OK)
                return bad_value("--llm-calls", optarg, "N or MIN..MAX (e.g. 3, 1..5, 2..)");
            any = true;
            break;
        case 'e': r.no_errors = true; any = true; break;
        case 'm': r.model_allow = optarg; any = true; break;
        case 't': trace_opt = optarg; break;
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 'h': fputs(tt_cli_help("assert"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("assert", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap assert: unexpected argument '%s' (a trace is "
                "selected with --trace ID)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (!any) {
        fprintf(stderr, "tokentap assert: no rule given; use --max-cost, "
                "--max-tokens, --llm-calls, --no-errors or --model-allow\n");
        return TT_CLI_EXIT_USAGE;
    }
    ret = tt_cli_open_store_ro("assert", dbopt, false, &st);
    if (!st)
        return TT_CLI_EXIT_ERR;
    sqlite3 *db = tt_store_db(st);
    if (trace_opt) {
        ret = tt_cli_resolve_id("assert", db, trace_opt, trace);
        if (ret != TT_CLI_EXIT_OK)
            goto out_store;
    } else if (last_trace(db, trace) != TT_OK) {
        fprintf(stderr, "tokentap assert: the store holds no trace yet; run the "
                "command first: tokentap run -- CMD\n");
        ret = TT_CLI_EXIT_ERR;
        goto out_store;
    }
    if (load_facts(db, trace, &f, models) != TT_OK) {
        fprintf(stderr, "tokentap assert: store query failed: %s\n", sqlite3_errmsg(db));
        ret = TT_CLI_EXIT_ERR;
        goto out_store;
    }
    tt_buf_init(&msgs, 1024 * 1024);
    if (tt_cli_assert_eval(&r, &f, &msgs, &violations) != TT_OK) {
        fprintf(stderr, "tokentap assert: out of memory\n");
        ret = TT_CLI_EXIT_ERR;
        goto out_msgs;
    }
    if (json) {
        printf("{\"trace_id\": \"%s\", \"ok\": %s, \"calls\": %lld, \"tokens\": %lld, "
               "\"cost_usd\": %.9g, \"errors\": %lld, \"violations\": [",
               trace, violations ? "false" : "true", (long long)f.calls,
               (long long)f.tokens, f.cost, (long long)f.errors);
        /* One string per message line; the messages hold no quote or
         * backslash except inside model names, escaped here. */
        const char *p = msgs.data ? msgs.data : "";
        bool first = true;
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            printf("%s\"", first ? "" : ", ");
            for (size_t i = 0; i < len; i++) {
                if (p[i] == '"' || p[i] == '\\')
                    putchar('\\');
                if ((unsigned char)p[i] >= 0x20)
                    putchar(p[i]);
            }
            putchar('"');
            first = false;
            p += len + (nl ? 1 : 0);
        }
        printf("]}\n");
    } else if (violations) {
        bool col = tt_cli_colour(2);
        const char *p = msgs.data ? msgs.data : "";
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t len = nl ? (size_t)(nl - p) : strlen(p);
            fprintf(stderr, "%sFAIL%s %.*s\n", col ? "\033[31m" : "", col ? "\033[0m" : "",
                    (int)len, p);
            p += len + (nl ? 1 : 0);
        }
        fprintf(stderr, "tokentap assert: %d rule%s violated by trace %s "
                "(details: tokentap show %.12s)\n", violations,
                violations == 1 ? "" : "s", trace, trace);
    } else {
        bool col = tt_cli_colour(1);
        printf("%sOK%s trace %.12s: %lld LLM call%s, %lld tokens, $%.6f%s, %lld error%s\n",
               col ? "\033[32m" : "", col ? "\033[0m" : "", trace,
               (long long)f.calls, f.calls == 1 ? "" : "s", (long long)f.tokens,
               f.cost, f.unknown_cost_calls ? " (+ unknown)" : "",
               (long long)f.errors, f.errors == 1 ? "" : "s");
    }
    ret = violations ? TT_CLI_EXIT_ERR : TT_CLI_EXIT_OK;
out_msgs:
    tt_buf_free(&msgs);
out_store:
    tt_store_close(st);
    return ret;
}
