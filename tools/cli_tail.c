/* cli_tail.c - `tokentap tail`: follow the spans as they are stored.
 *
 * Polls the store (read-only) every 200 ms for rows with a rowid above the
 * last one printed: the daemon appends, and a replaced span (at-least-once
 * delivery) gets a new rowid, so it prints again rather than never. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "spanjson.h"
#include "store.h"

#define POLL_MS 200

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
    (void)sig;
    stop = 1;
}

static void print_line(const struct tt_span *s, bool colour)
{
    char t[40], tok[48] = "-", cost[48] = "-";
    const char *kind = s->kind ? s->kind : "?";
    const char *what = s->name ? s->name : "?";
    bool llm = strcmp(kind, "llm") == 0;
    bool err = s->status && strcmp(s->status, "error") == 0;

    tt_cli_fmt_time(t, sizeof(t), s->start_time, false);
    if (llm) {
        what = s->response_model ? s->response_model
             : s->request_model ? s->request_model : what;
        if (s->usage_known)
            snprintf(tok, sizeof(tok), "%lld+%lld", (long long)s->input_tokens,
                     (long long)s->output_tokens);
        else
            snprintf(tok, sizeof(tok), "?");
        tt_cli_fmt_cost(cost, sizeof(cost), s->cost_usd, 1, s->cost_known ? 0 : 1);
    }
    printf("%s  %-7s %-40.40s %12s %11s %8.0fms  %s%s%s%s%s\n", t + 11, kind, what,
           tok, cost, (double)(s->end_time - s->start_time) / 1e6,
           colour && err ? "\033[31m" : "", s->status ? s->status : "?",
           colour && err ? "\033[0m" : "", s->error ? ": " : "",
           s->error ? s->error : "");
}

int tt_cli_tail_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "json", no_argument, NULL, 'j' },
        { "since", required_argument, NULL, 's' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL;
    bool json = false;
    int64_t since = -1;
    char path[4096];
    struct tt_store *st = NULL;
    sqlite3_int64 last = -1;
    bool waited = false;
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:js:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'j': json = true; break;
        case 's':
            if (tt_cli_parse_since(optarg, tt_now_ns(), &since) != TT_OK) {
                fprintf(stderr, "tokentap tail: --since wants 30m, 24h, 7d, 2w or "
                        "YYYY-MM-DD, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'h': fputs(tt_cli_help("tail"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("tail", argv, optind, c);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tokentap tail: unexpected argument '%s' (see tokentap "
                "tail --help)\n", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    if (tt_cli_db_path(dbopt, path, sizeof(path)) != TT_OK) {
        fprintf(stderr, "tokentap tail: cannot resolve the store path %s: %s\n",
                dbopt ? dbopt : "(default)", strerror(errno));
        return TT_CLI_EXIT_ERR;
    }
    struct sigaction sa = { .sa_handler = on_stop };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    bool colour = !json && tt_cli_colour(1);
    if (!json)
        fprintf(stderr, "tokentap tail: following %s (^C to stop)\n", path);

    while (!stop) {
        if (!st) {
            /* The store may not exist yet: the first traced call creates it. */
            if (access(path, F_OK) == 0 && tt_store_open(path, true, &st) != TT_OK)
                st = NULL;
            if (!st && !waited) {
                waited = true;
                if (!json)
                    fprintf(stderr, "tokentap tail: no store yet at %s; waiting "
                            "for the first span\n", path);
            }
        }
        if (st) {
            sqlite3 *db = tt_store_db(st);
            sqlite3_stmt *q = NULL;
            if (last < 0 && since < 0) {
                /* Start at the end: only what is stored from now on. */
                if (sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(rowid), 0) FROM spans",
                                       -1, &q, NULL) == SQLITE_OK &&
                    sqlite3_step(q) == SQLITE_ROW)
                    last = sqlite3_column_int64(q, 0);
                sqlite3_finalize(q);
                q = NULL;
            }
            if (last < 0)
                last = 0;
            if (sqlite3_prepare_v2(db, "SELECT rowid AS tt_rowid, * FROM spans"
                                   " WHERE rowid > ?1 AND start_time >= ?2"
                                   " ORDER BY rowid", -1, &q, NULL) == SQLITE_OK) {
                sqlite3_bind_int64(q, 1, last);
                sqlite3_bind_int64(q, 2, since < 0 ? 0 : since);
                while (!stop && sqlite3_step(q) == SQLITE_ROW) {
                    struct tt_span s;
                    last = sqlite3_column_int64(q, 0);
                    if (tt_store_span_from_row(q, &s) != TT_OK) {
                        tt_span_clear(&s);
                        continue;
                    }
                    if (json) {
                        json_t *j = tt_span_to_json(&s);
                        if (j) {
                            json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(15));
                            fputc('\n', stdout);
                        }
                        json_decref(j);
                    } else {
                        print_line(&s, colour);
                    }
                    tt_span_clear(&s);
                }
                sqlite3_finalize(q);
                if (fflush(stdout) != 0 && errno == EPIPE)
                    break;
            }
        }
        struct timespec ts = { 0, POLL_MS * 1000000L };
        nanosleep(&ts, NULL);
    }
    tt_store_close(st);
    return TT_CLI_EXIT_OK;
}
