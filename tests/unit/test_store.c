/* test_store.c - exporter/store.c: schema, idempotent puts, privacy. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "span_fixture.h"
#include "store.h"
#include "tt.h"

static char dir[64];
static char db[128];

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tt_store_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/traces.db", dir);
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)system(cmd);
}

static int64_t count(struct tt_store *st, const char *sql)
{
    sqlite3_stmt *q;
    cr_assert_eq(sqlite3_prepare_v2(tt_store_db(st), sql, -1, &q, NULL), SQLITE_OK, "%s", sql);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return n;
}

static void put(struct tt_store *st, const struct tt_span *s)
{
    cr_assert_eq(tt_store_begin(st), TT_OK);
    cr_assert_eq(tt_store_put_span(st, s), TT_OK);
    cr_assert_eq(tt_store_commit(st), TT_OK);
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, reput_same_span_id_is_one_row_with_the_latest_values)
{
    struct tt_store *st;
    struct tt_span s;

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    fx_full(&s);
    put(st, &s);
    s.output_tokens = 999;
    put(st, &s);
    put(st, &s);
    cr_assert_eq(count(st, "SELECT count(*) FROM spans"), 1);
    cr_assert_eq(count(st, "SELECT output_tokens FROM spans"), 999);
    tt_span_clear(&s);
    tt_store_close(st);
}

Test(store, files_are_private)
{
    struct tt_store *st;
    struct tt_span s;
    struct stat sb;
    char p[160];
    mode_t old = umask(0);      /* a careless caller umask must not matter */

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    umask(old);
    fx_full(&s);
    put(st, &s);
    cr_assert_eq(stat(db, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "db mode %o", sb.st_mode & 0777);
    snprintf(p, sizeof(p), "%s-wal", db);
    cr_assert_eq(stat(p, &sb), 0, "WAL mode: a -wal file exists while open");
    cr_assert_eq(sb.st_mode & 0777, 0600, "wal mode %o", sb.st_mode & 0777);
    snprintf(p, sizeof(p), "%s-shm", db);
    cr_assert_eq(stat(p, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600, "shm mode %o", sb.st_mode & 0777);
    tt_span_clear(&s);
    tt_store_close(st);
}

Test(store, existing_loose_file_is_tightened)
{
    struct tt_store *st;
    struct stat sb;
    FILE *f = fopen(db, "w");

    cr_assert_not_null(f);
    fclose(f);
    cr_assert_eq(chmod(db, 0644), 0);
    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    cr_assert_eq(stat(db, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0600);
    tt_store_close(st);
}

Test(store, columns_hold_the_contract)
{
    struct tt_store *st;
    struct tt_span s, m;
    sqlite3_stmt *q;

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    fx_full(&s);
    put(st, &s);
    fx_minimal(&m);
    put(st, &m);
    cr_assert_eq(sqlite3_prepare_v2(tt_store_db(st),
        "SELECT trace_id, parent_id, start_time, temperature, max_tokens, ttft_ms,"
        " stream, cost_usd, tags, json_extract(tags,'$.team'), json_array_length(finish_reasons)"
        " FROM spans WHERE span_id = ?", -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, s.span_id, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 0), s.trace_id);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 1), s.parent_id);
    cr_assert_eq(sqlite3_column_int64(q, 2), s.start_time);
    cr_assert_eq(sqlite3_column_double(q, 3), 0.7);
    cr_assert_eq(sqlite3_column_int64(q, 4), 256);
    cr_assert_eq(sqlite3_column_double(q, 5), 123.25);
    cr_assert_eq(sqlite3_column_int(q, 6), 1);
    cr_assert_eq(sqlite3_column_double(q, 7), s.cost_usd);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 9), "ml", "tags is JSON text");
    cr_assert_eq(sqlite3_column_int(q, 10), 2);
    sqlite3_reset(q);
    /* the minimal span: absent values are NULL, not 0 or "" */
    sqlite3_bind_text(q, 1, m.span_id, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_type(q, 1), SQLITE_NULL, "parent_id");
    cr_assert_eq(sqlite3_column_type(q, 3), SQLITE_NULL, "temperature");
    cr_assert_eq(sqlite3_column_type(q, 4), SQLITE_NULL, "max_tokens");
    cr_assert_eq(sqlite3_column_type(q, 5), SQLITE_NULL, "ttft_ms");
    cr_assert_eq(sqlite3_column_type(q, 8), SQLITE_NULL, "tags");
    sqlite3_finalize(q);
    tt_span_clear(&s);
    tt_span_clear(&m);
    tt_store_close(st);
}

Test(store, row_to_span_roundtrip)
{
    struct tt_store *st, *ro;
    struct tt_span in[2], out;
    sqlite3_stmt *q;

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    fx_full(&in[0]);
    fx_minimal(&in[1]);
    put(st, &in[0]);
    put(st, &in[1]);
    cr_assert_eq(tt_store_open(db, true, &ro), TT_OK, "a reader alongside the writer");
    cr_assert_eq(sqlite3_prepare_v2(tt_store_db(ro), "SELECT * FROM spans WHERE span_id = ?",
                                    -1, &q, NULL), SQLITE_OK);
    for (int i = 0; i < 2; i++) {
        sqlite3_bind_text(q, 1, in[i].span_id, -1, SQLITE_STATIC);
        cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
        cr_assert_eq(tt_store_span_from_row(q, &out), TT_OK);
        fx_assert_eq(&in[i], &out);
        tt_span_clear(&out);
        tt_span_clear(&in[i]);
        sqlite3_reset(q);
    }
    sqlite3_finalize(q);
    tt_store_close(ro);
    tt_store_close(st);
}

Test(store, readonly_does_not_create)
{
    struct tt_store *st = NULL;

    cr_assert_neq(tt_store_open(db, true, &st), TT_OK);
    cr_assert_null(st);
    cr_assert_neq(access(db, F_OK), 0);
}

Test(store, counters_add_up_and_process_counts_keep_the_maximum)
{
    struct tt_store *st;
    sqlite3_stmt *q;

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    cr_assert_eq(tt_store_begin(st), TT_OK);
    cr_assert_eq(tt_store_add_counter(st, "bad_frames", 2), TT_OK);
    cr_assert_eq(tt_store_add_counter(st, "bad_frames", 3), TT_OK);
    cr_assert_eq(tt_store_put_proc_count(st, "ab12", 10, "/bin/x", 4, 1, "why", 100), TT_OK);
    /* a replay of an older count does not lower the totals */
    cr_assert_eq(tt_store_put_proc_count(st, "ab12", 10, "/bin/x", 2, 0, NULL, 50), TT_OK);
    cr_assert_eq(tt_store_put_proc_count(st, "cd34", 11, NULL, 0, 9, NULL, 60), TT_OK);
    cr_assert_eq(tt_store_commit(st), TT_OK);
    sqlite3 *h = tt_store_db(st);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT value FROM counters WHERE name='bad_frames'",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(q, 0), 5);
    sqlite3_finalize(q);
    cr_assert_eq(sqlite3_prepare_v2(h, "SELECT sum(lost), sum(sampled_out), "
                                    "max(reason), max(updated) FROM proc_counters",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(sqlite3_column_int64(q, 0), 4);
    cr_assert_eq(sqlite3_column_int64(q, 1), 10);
    cr_assert_str_eq((const char *)sqlite3_column_text(q, 2), "why");
    cr_assert_eq(sqlite3_column_int64(q, 3), 100);
    sqlite3_finalize(q);
    tt_store_close(st);
}

Test(store, runs_table)
{
    struct tt_store *st;

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    cr_assert_eq(tt_store_put_run(st, "0af7651916cd43dd8448eb211c80319c", "python3 a.py",
                                  1, 0, -1, 42), TT_OK);
    cr_assert_eq(tt_store_put_run(st, "0af7651916cd43dd8448eb211c80319c", "python3 a.py",
                                  1, 5, 0, 42), TT_OK);
    cr_assert_eq(count(st, "SELECT count(*) FROM runs"), 1);
    cr_assert_eq(count(st, "SELECT end_time FROM runs"), 5);
    tt_store_close(st);
}

Test(store, default_path_uses_home_and_creates_it_private)
{
    char buf[256], want[256];
    struct stat sb;

    snprintf(want, sizeof(want), "%s/a/b/traces.db", dir);
    unsetenv("TOKENTAP_DB");
    snprintf(buf, sizeof(buf), "%s/a/b", dir);
    setenv("TOKENTAP_HOME", buf, 1);
    cr_assert_eq(tt_store_default_path(buf, sizeof(buf)), TT_OK);
    cr_assert_str_eq(buf, want);
    snprintf(want, sizeof(want), "%s/a/b", dir);
    cr_assert_eq(stat(want, &sb), 0);
    cr_assert_eq(sb.st_mode & 0777, 0700);
    setenv("TOKENTAP_DB", "/x/y.db", 1);
    cr_assert_eq(tt_store_default_path(buf, 4), TT_ERR_CAP);
    unsetenv("TOKENTAP_DB");
    unsetenv("TOKENTAP_HOME");
}

/* A store written by a tokentap from before conversation_id/metadata:
 * opening it for writing adds the missing columns, old rows read back with
 * the new fields null, and new spans keep theirs. */
Test(store, migration_adds_missing_columns_to_an_old_store)
{
    static const char old_schema[] =
        "CREATE TABLE spans (span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL,"
        " parent_id TEXT, kind TEXT NOT NULL, name TEXT, start_time INTEGER NOT NULL,"
        " end_time INTEGER NOT NULL, status TEXT NOT NULL, pid INTEGER, tags TEXT);"
        "INSERT INTO spans(span_id,trace_id,kind,start_time,end_time,status)"
        " VALUES('00000000000000aa','0000000000000000000000000000000a','llm',1,2,'ok');";
    sqlite3 *raw;
    struct tt_store *st;
    struct tt_span s, back;
    sqlite3_stmt *q;

    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);

    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    cr_assert_eq(count(st, "SELECT count(*) FROM pragma_table_info('spans')"
                           " WHERE name IN ('conversation_id','metadata','cost_usd','input')"), 4);
    cr_assert_eq(count(st, "SELECT count(*) FROM spans WHERE conversation_id IS NULL"
                           " AND metadata IS NULL AND usage_known = 0"), 1);
    fx_full(&s);
    memcpy(s.conversation_id, "0123456789abcdef", 17);
    cr_assert_eq(tt_span_set(&s.metadata, "{\"team\":\"a\"}"), TT_OK);
    put(st, &s);
    cr_assert_eq(sqlite3_prepare_v2(tt_store_db(st), "SELECT * FROM spans WHERE span_id = ?",
                                    -1, &q, NULL), SQLITE_OK);
    sqlite3_bind_text(q, 1, s.span_id, -1, SQLITE_STATIC);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(tt_store_span_from_row(q, &back), TT_OK);
    sqlite3_finalize(q);
    cr_assert_str_eq(back.conversation_id, "0123456789abcdef");
    cr_assert_str_eq(back.metadata, "{\"team\":\"a\"}");
    tt_span_clear(&back);
    tt_span_clear(&s);
    tt_store_close(st);

    /* Opening again is a no-op (no duplicate column error). */
    cr_assert_eq(tt_store_open(db, false, &st), TT_OK);
    tt_store_close(st);
}

/* Read-only (the CLI on a store no new daemon has opened yet): queries that
 * name newer columns (replay, conversation_id, ...) see them as NULL
 * through a TEMP view, and the file itself is not changed. */
Test(store, read_only_old_store_shows_new_columns_as_null)
{
    static const char old_schema[] =
        "CREATE TABLE spans (span_id TEXT PRIMARY KEY, trace_id TEXT NOT NULL,"
        " parent_id TEXT, kind TEXT NOT NULL, name TEXT, start_time INTEGER NOT NULL,"
        " end_time INTEGER NOT NULL, status TEXT NOT NULL, cost_usd REAL, cost_known INTEGER);"
        "INSERT INTO spans(span_id,trace_id,kind,start_time,end_time,status,cost_usd,cost_known)"
        " VALUES('00000000000000aa','0000000000000000000000000000000a','llm',1,2,'ok',0.5,1);";
    sqlite3 *raw;
    struct tt_store *st;

    cr_assert_eq(sqlite3_open(db, &raw), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(raw, old_schema, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(raw);
    cr_assert_eq(tt_store_open(db, true, &st), TT_OK);
    cr_assert_eq(count(st, "SELECT count(*) FROM spans WHERE replay IS NULL"
                           " AND conversation_id IS NULL AND metadata IS NULL"), 1);
    cr_assert_eq(count(st, "SELECT count(*) FROM spans WHERE cost_known AND"
                           " (replay IS NULL OR replay NOT IN ('hit','mock'))"), 1);
    cr_assert_eq(count(st, "SELECT count(*) FROM pragma_table_info('spans', 'main')"
                           " WHERE name = 'replay'"), 0);
    tt_store_close(st);
}
