/* test_ui.c - tools/ui_index.c and the pure parts of tools/ui_server.c:
 * what a user types never becomes FTS syntax, CSV cells never become
 * formulas, and the index follows the store (new spans, a span stored
 * again, a store replaced by another). */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "span_fixture.h"
#include "store.h"
#include "ui.h"

Test(ui, fts_query_table)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "hello", "\"hello\"" },
        { "  two   words ", "\"two\" \"words\"" },
        { "a\"b", "\"a\"\"b\"" },
        { "NOT OR AND", "\"NOT\" \"OR\" \"AND\"" },
        { "col:x* ^y (z)", "\"col:x*\" \"^y\" \"(z)\"" },
        { "", "" },
        { " \t\n", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[256];
        cr_assert_eq(tt_ui_fts_query(cases[i].in, buf, sizeof(buf)), TT_OK, "case %zu", i);
        cr_assert_str_eq(buf, cases[i].want, "case %zu", i);
    }
    char small[8];
    cr_assert_eq(tt_ui_fts_query("abcdefghij", small, sizeof(small)), TT_ERR_CAP);
}

Test(ui, csv_cell_table)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "gpt-4o", "gpt-4o" },
        { "a,b", "\"a,b\"" },
        { "say \"hi\"", "\"say \"\"hi\"\"\"" },
        { "line\nbreak", "\"line\nbreak\"" },
        { "=1+2", "'=1+2" },
        { "+cmd", "'+cmd" },
        { "-x", "'-x" },
        { "@SUM(A1)", "'@SUM(A1)" },
        { "=HYPERLINK(\"a,b\")", "\"'=HYPERLINK(\"\"a,b\"\")\"" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 1 << 16);
        cr_assert_eq(tt_ui_csv_cell(cases[i].in, &b), TT_OK);
        cr_assert_eq(b.len, strlen(cases[i].want), "case %zu", i);
        cr_assert(b.len == 0 || memcmp(b.data, cases[i].want, b.len) == 0, "case %zu: %.*s", i,
                  (int)b.len, b.data);
        tt_buf_free(&b);
    }
}

static void put(struct tt_store *st, const char *trace, const char *span, const char *model,
                double cost, const char *prompt, const char *tags)
{
    struct tt_span s;

    fx_full(&s);
    memcpy(s.trace_id, trace, 33);
    memcpy(s.span_id, span, 17);
    s.parent_id[0] = '\0';
    fx_set(&s.status, "ok");
    free(s.error);
    s.error = NULL;
    fx_set(&s.response_model, model);
    s.cost_usd = cost;
    fx_set(&s.input, prompt);
    fx_set(&s.tags, tags);
    cr_assert_eq(tt_store_begin(st), TT_OK);
    cr_assert_eq(tt_store_put_span(st, &s), TT_OK);
    cr_assert_eq(tt_store_commit(st), TT_OK);
    tt_span_clear(&s);
}

static int64_t q1(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    int64_t v = -1;

    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK, "%s: %s", sql,
                 sqlite3_errmsg(db));
    if (sqlite3_step(q) == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

#define T1 "11111111111111111111111111111111"
#define T2 "22222222222222222222222222222222"

Test(ui, index_follows_the_store)
{
    char dir[] = "/tmp/tt-ui-unit-XXXXXX", store[256], index[300], err[512] = "";
    struct tt_store *st = NULL;
    struct tt_ui_index *ix = NULL;
    struct tt_ui_update u;
    sqlite3 *db = NULL;
    struct stat sb;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(store, sizeof(store), "%s/traces.db", dir);
    cr_assert_eq(tt_ui_index_default_path(store, index, sizeof(index)), TT_OK);
    cr_assert_str_eq(index + strlen(store), ".ui-index");
    cr_assert_eq(tt_store_open(store, false, &st), TT_OK);
    put(st, T1, "1000000000000001", "gpt-4o-mini", 0.5,
        "[{\"role\":\"user\",\"content\":\"caf\\u00e9 zanzibar\"}]", "{\"team\":\"a\"}");

    cr_assert_eq(tt_ui_index_open(store, index, &ix, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(stat(index, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert(u.rebuilt);
    cr_assert_eq(u.nchanged, 1);
    cr_assert_str_eq(u.changed[0], T1);
    /* nothing new: nothing done */
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert_eq(u.nchanged, 0);
    cr_assert(!u.rebuilt);

    /* a new trace, a second call in the first, the first call stored again */
    put(st, T2, "2000000000000001", "claude-sonnet-4-5", 1.0,
        "[{\"role\":\"user\",\"content\":\"hello\"}]", "{\"team\":\"b\"}");
    put(st, T1, "1000000000000002", "gpt-4o", 0.25, "[]", "{\"team\":\"a\"}");
    put(st, T1, "1000000000000001", "gpt-4o-mini", 0.5,
        "[{\"role\":\"user\",\"content\":\"caf\\u00e9 zanzibar\"}]", "{\"team\":\"a\"}");
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert_eq(u.nchanged, 2);
    /* the span stored again is seen: the cost totals are recounted */
    cr_assert(u.rerolled);

    cr_assert_eq(tt_ui_db_open(store, index, &db, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(q1(db, "SELECT COUNT(*) FROM main.traces"), 2);
    cr_assert_eq(q1(db, "SELECT calls FROM main.traces WHERE trace_id = '" T1 "'"), 2);
    cr_assert_eq(q1(db, "SELECT CAST(cost * 100 AS INTEGER) FROM main.traces"
                        " WHERE trace_id = '" T1 "'"), 75);
    cr_assert_eq(q1(db, "SELECT instr(models, ',gpt-4o,') > 0 AND instr(models, ',gpt-4o-mini,') > 0"
                        " FROM main.traces WHERE trace_id = '" T1 "'"), 1);
    cr_assert_eq(q1(db, "SELECT tags = ',team=a,' FROM main.traces WHERE trace_id = '" T1 "'"), 1);
    /* the words of the prompt, JSON escapes decoded */
    cr_assert_eq(q1(db, "SELECT COUNT(DISTINCT trace_id) FROM main.fts WHERE fts MATCH '\"café\"'"), 1);
    cr_assert_eq(q1(db, "SELECT COUNT(DISTINCT trace_id) FROM main.fts WHERE fts MATCH '\"u00e9\"'"), 0);
    cr_assert_eq(q1(db, "SELECT COUNT(*) FROM main.facets WHERE kind = 'model'"), 3);
    /* cost totals: each call once (the one stored again too), per model
     * and per raw tags, equal to the sums over the store's spans */
    for (int i = 0; i < 2; i++) {
        const char *by = i ? "tags" : "model";
        char sql[512];
        snprintf(sql, sizeof(sql), "SELECT SUM(calls) FROM main.cost_roll WHERE by = '%s'", by);
        cr_assert_eq(q1(db, sql), 3, "%s", by);
        snprintf(sql, sizeof(sql), "SELECT CAST(ROUND(SUM(cost_all) * 100) AS INTEGER)"
                 " FROM main.cost_roll WHERE by = '%s'", by);
        cr_assert_eq(q1(db, sql), 175, "%s", by);
    }
    cr_assert_eq(q1(db, "SELECT calls FROM main.cost_roll WHERE by = 'model' AND key = 'gpt-4o-mini'"), 1);
    cr_assert_eq(q1(db, "SELECT (SELECT SUM(cost) FROM main.cost_roll WHERE by = 'model') ="
                        " (SELECT SUM(CASE WHEN cost_known AND (replay IS NULL OR replay NOT IN"
                        " ('hit','mock')) THEN cost_usd ELSE 0 END) FROM spans WHERE kind = 'llm')"), 1);
    /* the store is the attached one, read-only */
    cr_assert_eq(q1(db, "SELECT COUNT(*) FROM spans"), 3);
    cr_assert_neq(sqlite3_exec(db, "DELETE FROM spans", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);

    /* costs changed in place, as `tokentap reprice` does (it bumps the
     * "repriced" counter in the same transaction): the totals follow */
    cr_assert_eq(sqlite3_exec(tt_store_db(st), "BEGIN; UPDATE spans SET cost_usd = 2.0"
                              " WHERE span_id = '2000000000000001';"
                              " INSERT INTO counters(name, value) VALUES('repriced', 1);"
                              " COMMIT", NULL, NULL, NULL), SQLITE_OK);
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert(u.rerolled);
    cr_assert_eq(tt_ui_db_open(store, index, &db, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(q1(db, "SELECT CAST(ROUND(SUM(cost_all) * 100) AS INTEGER) FROM main.cost_roll"
                        " WHERE by = 'provider'"), 275);
    cr_assert_eq(q1(db, "SELECT SUM(calls) FROM main.cost_roll WHERE by = 'session'"), 3);
    sqlite3_close(db);
    /* nothing new: no recount */
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert(!u.rerolled);

    /* another store at the path: rebuilt from it */
    tt_store_close(st);
    cr_assert_eq(unlink(store), 0);
    unlink(strcat(strcpy(err, store), "-wal"));
    unlink(strcat(strcpy(err, store), "-shm"));
    cr_assert_eq(tt_store_open(store, false, &st), TT_OK);
    put(st, T2, "2000000000000009", "gpt-4o", 2.0, "[]", "{}");
    tt_ui_index_close(ix);
    cr_assert_eq(tt_ui_index_open(store, index, &ix, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(tt_ui_index_update(ix, &u), TT_OK);
    cr_assert(u.rebuilt);
    cr_assert_eq(tt_ui_db_open(store, index, &db, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(q1(db, "SELECT COUNT(*) FROM main.traces"), 1);
    cr_assert_eq(q1(db, "SELECT COUNT(*) FROM main.fts"), 1);
    sqlite3_close(db);
    tt_ui_index_close(ix);
    tt_store_close(st);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}
