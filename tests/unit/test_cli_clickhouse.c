/* test_cli_clickhouse.c - `ls`/`cost` on a ClickHouse store, the parts that
 * need no server (tools/cli_clickhouse.c, the dialects of tools/cli_filter.c):
 * which store is meant, the --by expressions, TabSeparated rows, rows to
 * groups and ls lines, the day buckets. */
#include <criterion/criterion.h>

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "http.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------ store_pick */

static const struct pick_case {
    const char *store, *db, *env;
    int rc;
    const char *want_db, *want_ch;
} pick_cases[] = {
    { NULL, NULL, NULL, TT_OK, NULL, NULL },                          /* the default */
    { "/tmp/a.db", NULL, NULL, TT_OK, "/tmp/a.db", NULL },
    { NULL, "/tmp/b.db", NULL, TT_OK, "/tmp/b.db", NULL },
    { "clickhouse://h/db", NULL, NULL, TT_OK, NULL, "clickhouse://h/db" },
    { NULL, NULL, "clickhouse://e:8123", TT_OK, NULL, "clickhouse://e:8123" },
    { NULL, NULL, "/tmp/env.db", TT_OK, "/tmp/env.db", NULL },
    { NULL, NULL, "", TT_OK, NULL, NULL },                            /* set but empty */
    { "clickhouse://h", NULL, "/tmp/env.db", TT_OK, NULL, "clickhouse://h" },  /* option wins */
    { NULL, "/tmp/b.db", "clickhouse://e", TT_OK, "/tmp/b.db", NULL },         /* --db too */
    { "/tmp/a.db", "/tmp/b.db", NULL, TT_ERR_PARSE, NULL, NULL },
    { NULL, "clickhouse://h", NULL, TT_OK, NULL, "clickhouse://h" },  /* a URL is a URL */
};

Test(store_pick, cases)
{
    for (size_t i = 0; i < N(pick_cases); i++) {
        const struct pick_case *c = &pick_cases[i];
        const char *db = "x", *ch = "x";
        cr_assert_eq(tt_cli_store_pick(c->store, c->db, c->env, &db, &ch), c->rc, "case %zu", i);
        if (c->rc != TT_OK)
            continue;
        cr_assert((db == NULL) == (c->want_db == NULL), "case %zu: db %s", i, db);
        if (db)
            cr_assert_str_eq(db, c->want_db, "case %zu", i);
        cr_assert((ch == NULL) == (c->want_ch == NULL), "case %zu: ch %s", i, ch);
        if (ch)
            cr_assert_str_eq(ch, c->want_ch, "case %zu", i);
    }
}

/* ------------------------------------------------------------ url_redact */

static const struct { const char *in, *want; } redact_cases[] = {
    { "clickhouse://h:8123/db", "clickhouse://h:8123/db" },
    { "clickhouse://user@h/db", "clickhouse://user@h/db" },
    { "clickhouse://user:s3cret@h:8123/db?table=t", "clickhouse://user:***@h:8123/db?table=t" },
    { "clickhouse://u:p%40ss@word@h/db", "clickhouse://u:***@h/db" },   /* last '@' ends it */
    { "clickhouse://:only@h", "clickhouse://:***@h" },
    { "clickhouse://h/db?x=a:b@c", "clickhouse://h/db?x=a:b@c" },      /* not userinfo */
};

Test(url_redact, cases)
{
    char b[256];
    for (size_t i = 0; i < N(redact_cases); i++) {
        tt_http_url_redact(redact_cases[i].in, b, sizeof(b));
        cr_assert_str_eq(b, redact_cases[i].want, "case %zu", i);
    }
    tt_http_url_redact("clickhouse://user:s3cret@h/db", b, 20);
    cr_assert_null(strstr(b, "s3c"), "%s", b);    /* cut, never the password */
}

/* ------------------------------------------------------------ group_expr */

static const struct {
    const char *by;
    const char *has[3];
} ch_expr_cases[] = {
    { "model", { "response_model != ''", "request_model", "'(unknown model)'" } },
    { "provider", { "provider != ''", "'(unknown provider)'", NULL } },
    { "process", { "exe != ''", "toString(pid)", "' (pid '" } },
    { "session", { "session_id != ''", "'(no session)'", NULL } },
    { "day", { "intDiv(start_time, 900000000000)", NULL, NULL } },
    { "hostname", { "host_name", NULL, NULL } },
    { "tag:team", { "visitParamHas(tags, 'team')", "visitParamExtractString(tags, 'team')",
                    "'(no team)'" } },
};

Test(group_expr, clickhouse_keys)
{
    char b[512];
    for (size_t i = 0; i < N(ch_expr_cases); i++) {
        cr_assert_eq(tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, ch_expr_cases[i].by, b, sizeof(b)),
                     TT_OK, "%s", ch_expr_cases[i].by);
        for (size_t k = 0; k < 3 && ch_expr_cases[i].has[k]; k++)
            cr_assert(strstr(b, ch_expr_cases[i].has[k]), "%s: %s lacks %s",
                      ch_expr_cases[i].by, b, ch_expr_cases[i].has[k]);
        /* No SQLite-only function in the ClickHouse text. */
        cr_assert_null(strstr(b, "COALESCE"), "%s", b);
        cr_assert_null(strstr(b, "json_extract"), "%s", b);
    }
    const char *bad[] = { "tag:", "tag:a'b", "tag:a\\'b", "tag:a b", "tag:a)--", "Model",
                          "host", "hostname ", NULL };
    for (size_t i = 0; i < N(bad); i++)
        cr_assert_eq(tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, bad[i], b, sizeof(b)),
                     TT_ERR_PARSE, "%s", bad[i] ? bad[i] : "(null)");
    cr_assert_eq(tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, "tag:team", b, 40), TT_ERR_NOMEM);
    cr_assert_eq(tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, "model", b, 8), TT_ERR_NOMEM);
}

/* The SQLite expressions, evaluated by SQLite on rows like the store's. */
static char *sqlite_key(sqlite3 *db, const char *by)
{
    char expr[512], sql[1024];
    sqlite3_stmt *st = NULL;
    char *out = NULL;

    cr_assert_eq(tt_cli_group_expr(by, expr, sizeof(expr)), TT_OK, "%s", by);
    snprintf(sql, sizeof(sql), "SELECT %s FROM spans", expr);
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    cr_assert_eq(sqlite3_step(st), SQLITE_ROW);
    out = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return out;
}

Test(group_expr, sqlite_hostname_is_this_host)
{
    sqlite3 *db;
    char host[256] = "";
    cr_assert_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db,
        "CREATE TABLE spans(response_model TEXT, request_model TEXT, tags TEXT);"
        "INSERT INTO spans VALUES(NULL, 'gpt-4o', '{\"team\":\"a''b\"}');",
        NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);
    char *k = sqlite_key(db, "hostname");
    cr_assert_str_eq(k, host);
    free(k);
    k = sqlite_key(db, "model");
    cr_assert_str_eq(k, "gpt-4o");
    free(k);
    k = sqlite_key(db, "tag:team");
    cr_assert_str_eq(k, "a'b");
    free(k);
    k = sqlite_key(db, "tag:env");
    cr_assert_str_eq(k, "(no env)");
    free(k);
    sqlite3_close(db);
}

/* --------------------------------------------------------------- tsv_row */

#define MAXF 4
static const struct tsv_case {
    const char *body;       /* the whole answer */
    size_t nf;
    int rc;                 /* of the first row */
    const char *want[MAXF]; /* its fields; "<NULL>" for \N */
} tsv_cases[] = {
    { "a\tb\tc\n", 3, TT_OK, { "a", "b", "c" } },
    { "\t\t\n", 3, TT_OK, { "", "", "" } },
    { "\n", 1, TT_OK, { "" } },
    { "\\N\t1\n", 2, TT_OK, { "<NULL>", "1" } },
    { "1\t\\N\n", 2, TT_OK, { "1", "<NULL>" } },
    { "\\Nx\t1\n", 2, TT_ERR_PARSE, { 0 } },                 /* no such escape */
    { "tab\\there\tnl\\nthere\n", 2, TT_OK, { "tab\there", "nl\nthere" } },
    { "back\\\\slash\tq\\'uote\n", 2, TT_OK, { "back\\slash", "q'uote" } },
    { "cr\\r\\b\\f\\a\\v\\e\n", 1, TT_OK, { "cr\r\b\f\a\v\x1b" } },
    { "\\\\N\n", 1, TT_OK, { "\\N" } },                      /* the text \N, not NULL */
    { "a\\q\n", 1, TT_ERR_PARSE, { 0 } },
    { "a\\\n", 1, TT_ERR_PARSE, { 0 } },                     /* backslash before the end */
    { "a\tb\n", 3, TT_ERR_PARSE, { 0 } },                    /* too few fields */
    { "a\tb\tc\td\n", 3, TT_ERR_PARSE, { 0 } },              /* too many */
    { "a\tb", 2, TT_ERR_INCOMPLETE, { 0 } },                 /* cut short */
    { "", 2, TT_OK, { 0 } },                                 /* no rows */
    { "Code: 60, e.displayText() = DB::Exception\n", 3, TT_ERR_PARSE, { 0 } },
};

Test(tsv_row, cases)
{
    for (size_t i = 0; i < N(tsv_cases); i++) {
        const struct tsv_case *c = &tsv_cases[i];
        size_t len = strlen(c->body), pos = 0, got = 99;
        /* An exact-size heap copy: ASan sees any read past len. */
        char *buf = malloc(len ? len : 1), *f[MAXF];
        memcpy(buf, c->body, len);
        cr_assert_eq(tt_cli_tsv_row(buf, len, &pos, f, c->nf, &got), c->rc, "case %zu", i);
        if (c->rc == TT_OK && len) {
            cr_assert_eq(got, c->nf, "case %zu", i);
            cr_assert_eq(pos, len, "case %zu", i);
            for (size_t k = 0; k < c->nf; k++) {
                if (strcmp(c->want[k], "<NULL>") == 0)
                    cr_assert_null(f[k], "case %zu field %zu", i, k);
                else
                    cr_assert_str_eq(f[k], c->want[k], "case %zu field %zu", i, k);
            }
            cr_assert_eq(tt_cli_tsv_row(buf, len, &pos, f, c->nf, &got), TT_OK);
        }
        if (c->rc == TT_OK)
            cr_assert_eq(got, 0, "case %zu: the end after the rows", i);
        else
            cr_assert_eq(pos, 0, "case %zu: pos kept on error", i);
        free(buf);
    }
}

Test(tsv_row, rows_in_turn)
{
    char body[] = "k1\t1\nk\\t2\t22\n\\N\t333\n";
    const char *keys[] = { "k1", "k\t2", NULL }, *nums[] = { "1", "22", "333" };
    size_t pos = 0, got, rows = 0;
    char *f[2];
    while (tt_cli_tsv_row(body, sizeof(body) - 1, &pos, f, 2, &got) == TT_OK && got) {
        cr_assert_lt(rows, 3);
        if (keys[rows])
            cr_assert_str_eq(f[0], keys[rows]);
        else
            cr_assert_null(f[0]);
        cr_assert_str_eq(f[1], nums[rows]);
        rows++;
    }
    cr_assert_eq(rows, 3);
    cr_assert_eq(pos, sizeof(body) - 1);
}

/* ---------------------------------------------------------------- rows */

Test(rows, group)
{
    char row[] = "gpt-4o-mini\t3\t1200\t150\t100\t0\t20\t0.00072\t1\t2\n";
    char *f[TT_CLI_CH_GROUP_COLS];
    size_t pos = 0, got;
    struct tt_cli_group g;
    cr_assert_eq(tt_cli_tsv_row(row, sizeof(row) - 1, &pos, f, TT_CLI_CH_GROUP_COLS, &got), TT_OK);
    cr_assert_eq(tt_cli_ch_group_from_row(f, &g), TT_OK);
    cr_assert_str_eq(g.key, "gpt-4o-mini");
    cr_assert(g.calls == 3 && g.input == 1200 && g.output == 150 && g.cache_read == 100 &&
              g.cache_write == 0 && g.reasoning == 20 && g.unknown == 1 && g.errors == 2);
    cr_assert_float_eq(g.cost, 0.00072, 1e-15);

    /* ClickHouse's float spellings, and what is not a number. */
    static const struct { const char *cost; int rc; double v; } costs[] = {
        { "1e-7", TT_OK, 1e-7 }, { "0", TT_OK, 0 }, { "123.5", TT_OK, 123.5 },
        { "", TT_ERR_PARSE, 0 }, { "1.5x", TT_ERR_PARSE, 0 }, { "abc", TT_ERR_PARSE, 0 },
    };
    for (size_t i = 0; i < N(costs); i++) {
        char *ff[TT_CLI_CH_GROUP_COLS] = { "k", "1", "2", "3", "4", "5", "6",
                                          (char *)costs[i].cost, "0", "0" };
        cr_assert_eq(tt_cli_ch_group_from_row(ff, &g), costs[i].rc, "%s", costs[i].cost);
        if (costs[i].rc == TT_OK)
            cr_assert_float_eq(g.cost, costs[i].v, 1e-18);
    }
    char *nokey[TT_CLI_CH_GROUP_COLS] = { NULL, "1", "2", "3", "4", "5", "6", "0", "0", "0" };
    cr_assert_eq(tt_cli_ch_group_from_row(nokey, &g), TT_ERR_PARSE);
    char *badn[TT_CLI_CH_GROUP_COLS] = { "k", "1", "2", "3", "4", "5", "6", "0", "0", "2x" };
    cr_assert_eq(tt_cli_ch_group_from_row(badn, &g), TT_ERR_PARSE);
}

static const struct ls_case {
    const char *f[TT_CLI_CH_LS_COLS];
    int rc;
    const char *command, *exe, *session;
    bool has_exit;
    int64_t exit_code;
} ls_cases[] = {
    /* a traced run that exited 3 */
    { { "0123456789abcdef0123456789abcdef", "1700000000000000000", "1", "python3 a.py",
        "/usr/bin/tokentap", "2", "100", "10", "0.001", "0", "1", "3", "s1", "110" },
      TT_OK, "python3 a.py", "/usr/bin/tokentap", "s1", true, 3 },
    /* a run that exited 0 */
    { { "0123456789abcdef0123456789abcdef", "1700000000000000000", "1", "true",
        "", "0", "0", "0", "0", "0", "0", "0", "", "0" },
      TT_OK, "true", NULL, NULL, true, 0 },
    /* spans without a run span: the executable, no exit status */
    { { "0123456789abcdef0123456789abcdef", "1700000000000000000", "0", "",
        "/usr/bin/node", "1", "5", "0", "0", "1", "1", "0", "", "5" },
      TT_OK, NULL, "/usr/bin/node", NULL, false, 0 },
    /* a run span whose error is not "exit status N" */
    { { "0123456789abcdef0123456789abcdef", "1700000000000000000", "1", "x",
        "", "0", "0", "0", "0", "0", "1", "", "", "0" },
      TT_OK, "x", NULL, NULL, false, 0 },
    { { "0123456789abcdef0123456789abcdef", "17e8", "1", "x",
        "", "0", "0", "0", "0", "0", "1", "", "", "0" },
      TT_ERR_PARSE, NULL, NULL, NULL, false, 0 },
    { { NULL, "1", "1", "x", "", "0", "0", "0", "0", "0", "1", "", "", "0" },
      TT_ERR_PARSE, NULL, NULL, NULL, false, 0 },
};

Test(rows, ls)
{
    for (size_t i = 0; i < N(ls_cases); i++) {
        const struct ls_case *c = &ls_cases[i];
        struct tt_cli_ls_row r;
        cr_assert_eq(tt_cli_ch_ls_from_row((char *const *)c->f, &r), c->rc, "case %zu", i);
        if (c->rc != TT_OK)
            continue;
        cr_assert_str_eq(r.trace_id, c->f[0]);
        cr_assert_eq(r.start, 1700000000000000000LL);
#define STR_EQ(got, want) do { if (want) cr_assert_str_eq(got, want, "case %zu", i); \
                               else cr_assert_null(got, "case %zu: %s", i, got); } while (0)
        STR_EQ(r.command, c->command);
        STR_EQ(r.exe, c->exe);
        STR_EQ(r.session, c->session);
#undef STR_EQ
        cr_assert_eq(r.has_exit, c->has_exit, "case %zu", i);
        if (c->has_exit)
            cr_assert_eq(r.exit_code, c->exit_code, "case %zu", i);
    }
    struct tt_cli_ls_row r;
    cr_assert_eq(tt_cli_ch_ls_from_row((char *const *)ls_cases[0].f, &r), TT_OK);
    cr_assert(r.calls == 2 && r.input == 100 && r.output == 10 && r.unknown == 0 &&
              r.errors == 1 && r.tokens == 110);
    cr_assert_float_eq(r.cost, 0.001, 1e-15);
}

/* ----------------------------------------------------------- day buckets */

#define B15(t) ((t) / 900)     /* the 15-minute bucket of epoch second t */

static void tz(const char *zone)
{
    setenv("TZ", zone, 1);
    tzset();
}

static const struct day_case {
    const char *tz;
    long long t;        /* epoch seconds */
    const char *date;
} day_cases[] = {
    { "UTC", 1700000000, "2023-11-14" },                 /* 22:13 UTC */
    { "UTC", 1700006400, "2023-11-15" },                 /* 00:00 UTC */
    { "UTC", 1700006399, "2023-11-14" },                 /* 23:59:59 */
    { "Asia/Kolkata", 1699986600 - 1, "2023-11-14" },    /* 23:59:59 +05:30 */
    { "Asia/Kolkata", 1699986600, "2023-11-15" },        /* 00:00 +05:30 */
    { "Asia/Kathmandu", 1699985700, "2023-11-15" },      /* 00:00 +05:45 */
    { "Asia/Kathmandu", 1699985700 - 1, "2023-11-14" },
    { "America/New_York", 1699938000, "2023-11-14" },    /* 00:00 -05:00 */
    { "America/New_York", 1699938000 - 1, "2023-11-13" },
};

Test(day, buckets_to_local_dates)
{
    char key[32], date[16];
    for (size_t i = 0; i < N(day_cases); i++) {
        tz(day_cases[i].tz);
        snprintf(key, sizeof(key), "%lld", B15(day_cases[i].t));
        cr_assert_eq(tt_cli_day_of_bucket(key, date, sizeof(date)), TT_OK);
        cr_assert_str_eq(date, day_cases[i].date, "case %zu (%s)", i, day_cases[i].tz);
    }
    const char *bad[] = { "", "x", "12x", "-4", "99999999999999999999", NULL };
    for (size_t i = 0; i < N(bad); i++)
        cr_assert_eq(tt_cli_day_of_bucket(bad[i], date, sizeof(date)), TT_ERR_PARSE,
                     "%s", bad[i] ? bad[i] : "(null)");
}

static struct tt_cli_group grp(long long bucket_or_0, const char *key, int64_t calls,
                               double cost, int64_t unknown)
{
    struct tt_cli_group g = { .calls = calls, .input = 10 * calls, .output = calls,
                              .cost = cost, .unknown = unknown, .errors = unknown };
    if (key)
        snprintf(g.key, sizeof(g.key), "%s", key);
    else
        snprintf(g.key, sizeof(g.key), "%lld", bucket_or_0);
    return g;
}

Test(groups_finish, days_merge_by_local_date)
{
    /* Three buckets on the evening of 2023-11-14 UTC: in Kolkata the last
     * two are already the 15th. */
    long long t1 = 1699980000, t2 = 1699986600, t3 = 1699990000;
    struct tt_cli_group g[3];
    size_t n;

    tz("UTC");
    g[0] = grp(B15(t2), NULL, 2, 0.5, 0);
    g[1] = grp(B15(t1), NULL, 1, 0.25, 1);
    g[2] = grp(B15(t3), NULL, 4, 1.0, 0);
    n = 3;
    cr_assert_eq(tt_cli_groups_finish("day", true, g, &n), TT_OK);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(g[0].key, "2023-11-14");
    cr_assert(g[0].calls == 7 && g[0].input == 70 && g[0].unknown == 1 && g[0].errors == 1);
    cr_assert_float_eq(g[0].cost, 1.75, 1e-12);

    tz("Asia/Kolkata");
    g[0] = grp(B15(t2), NULL, 2, 0.5, 0);
    g[1] = grp(B15(t1), NULL, 1, 0.25, 1);
    g[2] = grp(B15(t3), NULL, 4, 1.0, 0);
    n = 3;
    cr_assert_eq(tt_cli_groups_finish("day", true, g, &n), TT_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(g[0].key, "2023-11-15");      /* the dearer day first */
    cr_assert_eq(g[0].calls, 6);
    cr_assert_float_eq(g[0].cost, 1.5, 1e-12);
    cr_assert_str_eq(g[1].key, "2023-11-14");
    cr_assert_eq(g[1].calls, 1);

    g[0] = grp(0, "not-a-bucket", 1, 0, 0);
    n = 1;
    cr_assert_eq(tt_cli_groups_finish("day", true, g, &n), TT_ERR_PARSE);
    n = 0;
    cr_assert_eq(tt_cli_groups_finish("day", true, g, &n), TT_OK);
}

Test(groups_finish, order_like_sqlite)
{
    /* ORDER BY cost DESC, calls DESC, key (bytewise) */
    struct tt_cli_group g[] = {
        grp(0, "b", 1, 0.1, 0), grp(0, "a", 1, 0.1, 0), grp(0, "c", 5, 0.1, 0),
        grp(0, "Z", 1, 0.1, 0), grp(0, "dear", 1, 9.0, 0), grp(0, "free", 9, 0, 9),
    };
    const char *want[] = { "dear", "c", "Z", "a", "b", "free" };
    size_t n = N(g);
    cr_assert_eq(tt_cli_groups_finish("model", true, g, &n), TT_OK);
    cr_assert_eq(n, N(want));
    for (size_t i = 0; i < n; i++)
        cr_assert_str_eq(g[i].key, want[i], "position %zu", i);
    /* A date-like model name is not a bucket: only --by day is relabelled,
     * and only from ClickHouse. */
    struct tt_cli_group d[] = { grp(0, "1888888", 1, 0, 0) };
    n = 1;
    cr_assert_eq(tt_cli_groups_finish("model", true, d, &n), TT_OK);
    cr_assert_str_eq(d[0].key, "1888888");
    cr_assert_eq(tt_cli_groups_finish("day", false, d, &n), TT_OK);
    cr_assert_str_eq(d[0].key, "1888888");
}
