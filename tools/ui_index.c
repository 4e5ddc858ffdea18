/* ui_index.c - the UI's index file (see ui.h for why it exists).
 *
 * One write connection (the indexer's) holds the index as "main" and the
 * store attached read-only as "s". An update runs in one transaction of
 * the index, inside which every read of the store sees one snapshot:
 *   1. hi = max(rowid) of s.spans, hr = max(rowid) of s.runs
 *   2. temp.changed = the traces of spans in (last, hi] and runs in (lr, hr]
 *   3. those traces' summaries recomputed from all their spans (the
 *      spans_trace index of the store makes this a range read per trace)
 *   4. facets and FTS rows from the new spans only
 *   5. cost totals (cost_roll) from the new spans
 *   6. meta.last_span = hi, meta.last_run = hr
 * Summaries are recomputed, never incremented, so a span stored twice
 * counts once. The cost totals are incremented; a span stored again
 * (INSERT OR REPLACE: the old row goes, the new one gets a new rowid) is
 * seen as a changed trace whose span count grew by less than its new
 * rows, and `tokentap reprice` (cost changed in place) bumps the store's
 * "repriced" counter: either rebuilds cost_roll from the whole store. FTS rows are keyed by the store's rowid: a span stored
 * again with the same content is indexed twice, which only repeats a hit. */
#include "ui.h"

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bump when the index schema or what it holds changes: the index is
 * rebuilt. */
#define UI_INDEX_VERSION 2

static const char index_schema[] =
    "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v) WITHOUT ROWID;\n"
    "CREATE TABLE IF NOT EXISTS traces (\n"
    "  trace_id TEXT PRIMARY KEY, start INTEGER NOT NULL, end_ INTEGER NOT NULL,\n"
    "  duration INTEGER NOT NULL, command TEXT, exe TEXT, session TEXT,\n"
    "  calls INTEGER NOT NULL, input INTEGER NOT NULL, output INTEGER NOT NULL,\n"
    "  tokens INTEGER NOT NULL, cache_read INTEGER NOT NULL,\n"
    "  cache_write INTEGER NOT NULL, reasoning INTEGER NOT NULL,\n"
    "  cost REAL NOT NULL, unknown INTEGER NOT NULL, errors INTEGER NOT NULL,\n"
    "  spans INTEGER NOT NULL, tools INTEGER NOT NULL,\n"
    "  models TEXT NOT NULL, providers TEXT NOT NULL, processes TEXT NOT NULL,\n"
    "  sessions TEXT NOT NULL, tags TEXT NOT NULL, exit_code INTEGER\n"
    ");\n"
    /* Keyset paging per sort key: (key, trace_id) descending or ascending. */
    "CREATE INDEX IF NOT EXISTS traces_start ON traces(start, trace_id);\n"
    "CREATE INDEX IF NOT EXISTS traces_cost ON traces(cost, trace_id);\n"
    "CREATE INDEX IF NOT EXISTS traces_tokens ON traces(tokens, trace_id);\n"
    "CREATE INDEX IF NOT EXISTS traces_duration ON traces(duration, trace_id);\n"
    "CREATE INDEX IF NOT EXISTS traces_calls ON traces(calls, trace_id);\n"
    "CREATE INDEX IF NOT EXISTS traces_session ON traces(session, start);\n"
    "CREATE TABLE IF NOT EXISTS facets (kind TEXT NOT NULL, value TEXT NOT NULL,\n"
    "  PRIMARY KEY (kind, value)) WITHOUT ROWID;\n"
    /* Cost totals of the LLM spans per 15-minute bucket (UTC; every
     * zone's offset is a whole number of quarter hours, so local days and
     * hours are unions of buckets) and per key of a grouping (roll_keys).
     * cost: what `tokentap cost` sums (priced and billed); cost_all: priced
     * (the series of the cost page); unknown: calls without a price,
     * no_usage: of those, without token counts. */
    "CREATE TABLE IF NOT EXISTS cost_roll (by TEXT NOT NULL, q INTEGER NOT NULL,\n"
    "  key TEXT NOT NULL, calls INTEGER NOT NULL, input INTEGER NOT NULL,\n"
    "  output INTEGER NOT NULL, cache_read INTEGER NOT NULL,\n"
    "  cache_write INTEGER NOT NULL, reasoning INTEGER NOT NULL, cost REAL NOT NULL,\n"
    "  cost_all REAL NOT NULL, unknown INTEGER NOT NULL, no_usage INTEGER NOT NULL,\n"
    "  errors INTEGER NOT NULL, PRIMARY KEY (by, q, key)) WITHOUT ROWID;\n"
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, trace_id UNINDEXED,\n"
    "  span_id UNINDEXED, tokenize = 'unicode61 remove_diacritics 2');\n";

/* The summaries of the traces in temp.changed. Lists are ",a,b," so that
 * a filter is instr(list, ',' || ? || ','), with nothing of the user's
 * input parsed as a pattern. The first span's exe is a subquery (the
 * bare-column rule of min() does not hold with two aggregates). */
static const char summarise_sql[] =
    "INSERT OR REPLACE INTO main.traces SELECT c.id,"
    " COALESCE(r.start_time, a.st, 0) AS st,"
    " MAX(COALESCE(r.end_time, 0), COALESCE(a.en, 0), COALESCE(r.start_time, a.st, 0)) AS en,"
    " MAX(COALESCE(r.end_time, 0), COALESCE(a.en, 0), COALESCE(r.start_time, a.st, 0))"
    "   - COALESCE(r.start_time, a.st, 0),"
    " r.command,"
    " (SELECT exe FROM s.spans x WHERE x.trace_id = c.id AND exe IS NOT NULL"
    "   ORDER BY start_time LIMIT 1),"
    " a.sess, COALESCE(a.calls, 0), COALESCE(a.inp, 0), COALESCE(a.outp, 0),"
    " COALESCE(a.inp, 0) + COALESCE(a.outp, 0), COALESCE(a.cr, 0), COALESCE(a.cw, 0),"
    " COALESCE(a.rs, 0), COALESCE(a.cost, 0), COALESCE(a.unk, 0), COALESCE(a.errs, 0),"
    " COALESCE(a.n, 0), COALESCE(a.tools, 0),"
    " ',' || COALESCE(a.models, '') || ',', ',' || COALESCE(a.providers, '') || ',',"
    " ',' || COALESCE(a.procs, '') || ',', ',' || COALESCE(a.sessions, '') || ',',"
    " ',' || COALESCE((SELECT group_concat(DISTINCT j.key || '=' || j.value)"
    "   FROM s.spans x, json_each(CASE WHEN json_valid(x.tags) THEN x.tags ELSE '{}' END) j"
    "   WHERE x.trace_id = c.id AND x.tags IS NOT NULL), '') || ',',"
    " r.exit_code"
    " FROM temp.changed c LEFT JOIN s.runs r ON r.trace_id = c.id"
    " LEFT JOIN (SELECT trace_id, MIN(start_time) AS st, MAX(end_time) AS en,"
    "   SUM(kind = 'llm') AS calls,"
    "   SUM(CASE WHEN kind = 'llm' THEN input_tokens ELSE 0 END) AS inp,"
    "   SUM(CASE WHEN kind = 'llm' THEN output_tokens ELSE 0 END) AS outp,"
    "   SUM(CASE WHEN kind = 'llm' THEN cache_read_tokens ELSE 0 END) AS cr,"
    "   SUM(CASE WHEN kind = 'llm' THEN cache_write_tokens ELSE 0 END) AS cw,"
    "   SUM(CASE WHEN kind = 'llm' THEN reasoning_tokens ELSE 0 END) AS rs,"
    "   SUM(CASE WHEN kind = 'llm' AND cost_known THEN cost_usd ELSE 0 END) AS cost,"
    "   SUM(kind = 'llm' AND cost_known = 0) AS unk,"
    "   SUM(status = 'error') AS errs, COUNT(*) AS n, SUM(kind = 'tool') AS tools,"
    "   MAX(session_id) AS sess,"
    "   group_concat(DISTINCT CASE WHEN kind = 'llm'"
    "     THEN COALESCE(response_model, request_model) END) AS models,"
    "   group_concat(DISTINCT provider) AS providers,"
    "   group_concat(DISTINCT exe) AS procs,"
    "   group_concat(DISTINCT session_id) AS sessions"
    "   FROM s.spans WHERE trace_id IN (SELECT id FROM temp.changed)"
    "   GROUP BY trace_id) a ON a.trace_id = c.id";

/* What the filters offer, from the new spans. */
static const char facets_sql[] =
    "INSERT OR IGNORE INTO main.facets(kind, value)"
    " SELECT 'model', COALESCE(response_model, request_model) FROM s.spans"
    "   WHERE rowid > ?1 AND rowid <= ?2 AND kind = 'llm'"
    "   AND COALESCE(response_model, request_model) IS NOT NULL"
    " UNION SELECT 'provider', provider FROM s.spans"
    "   WHERE rowid > ?1 AND rowid <= ?2 AND provider IS NOT NULL"
    " UNION SELECT 'session', session_id FROM s.spans"
    "   WHERE rowid > ?1 AND rowid <= ?2 AND session_id IS NOT NULL"
    " UNION SELECT 'process', exe FROM s.spans"
    "   WHERE rowid > ?1 AND rowid <= ?2 AND exe IS NOT NULL"
    " UNION SELECT 'tag', j.key || '=' || j.value FROM s.spans x,"
    "   json_each(CASE WHEN json_valid(x.tags) THEN x.tags ELSE '{}' END) j"
    "   WHERE x.rowid > ?1 AND x.rowid <= ?2 AND x.tags IS NOT NULL";

/* Prompts and answers as words: the string values of the JSON (so that
 * "\u00e9" and "\n" escapes are not what gets indexed); text that is not
 * JSON as it is. */
static const char fts_sql[] =
    "INSERT INTO main.fts(rowid, text, trace_id, span_id)"
    " SELECT rowid, COALESCE(CASE WHEN json_valid(input) THEN"
    "     (SELECT group_concat(value, ' ') FROM json_tree(input) WHERE type = 'text')"
    "     ELSE input END, '') || ' ' ||"
    "   COALESCE(CASE WHEN json_valid(output) THEN"
    "     (SELECT group_concat(value, ' ') FROM json_tree(output) WHERE type = 'text')"
    "     ELSE output END, ''),"
    "   trace_id, span_id FROM s.spans"
    " WHERE rowid > ?1 AND rowid <= ?2 AND (input IS NOT NULL OR output IS NOT NULL)";

static int exec_ok(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? TT_OK : TT_ERR_IO;
}

/* The groupings kept in cost_roll: by, the key as `tokentap cost`
 * computes it (tt_cli_group_expr), or the raw column a query-time
 * expression reads. "day" and "hostname" read the "provider" rows (their
 * key is the bucket or a constant); "tag:KEY" reads the raw tags ("tags"
 * rows); "unk" is the unknown-price list of the cost page. */
static const struct {
    const char *by;
    const char *expr;         /* NULL: tt_cli_group_expr(by) */
    const char *where;
} roll_keys[] = {
    { "model", NULL, "" },
    { "provider", NULL, "" },
    { "process", NULL, "" },
    { "session", NULL, "" },
    { "tags", "IFNULL(tags, '')", "" },
    { "unk", "COALESCE(response_model, request_model, '(no model)')", " AND cost_known = 0" },
};

/* The new LLM spans, summed over every column a roll key reads: one read
 * of the store's rows, then each roll from this (far smaller) table. */
static const char roll_in_sql[] =
    "INSERT INTO temp.roll_in SELECT start_time / ?3, response_model, request_model,"
    " provider, exe, pid, session_id, tags, cost_known, COUNT(*), SUM(input_tokens),"
    " SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens),"
    " SUM(reasoning_tokens),"
    " SUM(CASE WHEN cost_known AND " TT_CLI_BILLED " THEN cost_usd ELSE 0 END),"
    " SUM(CASE WHEN cost_known THEN cost_usd ELSE 0 END), SUM(cost_known = 0),"
    " SUM(cost_known = 0 AND usage_known = 0), SUM(status = 'error')"
    " FROM s.spans WHERE rowid > ?1 AND rowid <= ?2 AND kind = 'llm'"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9";

/* Add the LLM spans of rowids (lo, hi] to cost_roll. */
static int roll_range(sqlite3 *db, int64_t lo, int64_t hi)
{
    sqlite3_stmt *q = NULL;
    int src;

    if (exec_ok(db, "CREATE TEMP TABLE IF NOT EXISTS roll_in (q, response_model,"
                    " request_model, provider, exe, pid, session_id, tags, cost_known,"
                    " calls, input, output, cache_read, cache_write, reasoning, cost,"
                    " cost_all, unknown, no_usage, errors); DELETE FROM temp.roll_in") != TT_OK)
        return TT_ERR_IO;
    src = sqlite3_prepare_v2(db, roll_in_sql, -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, lo);
        sqlite3_bind_int64(q, 2, hi);
        sqlite3_bind_int64(q, 3, TT_UI_ROLL_NS);
        src = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    if (src != SQLITE_DONE)
        return TT_ERR_IO;
    for (size_t i = 0; i < sizeof(roll_keys) / sizeof(roll_keys[0]); i++) {
        char expr[512], *sql;

        if (roll_keys[i].expr)
            snprintf(expr, sizeof(expr), "%s", roll_keys[i].expr);
        else if (tt_cli_group_expr(roll_keys[i].by, expr, sizeof(expr)) != TT_OK)
            return TT_ERR_IO;
        sql = sqlite3_mprintf(
            "INSERT INTO main.cost_roll(by, q, key, calls, input, output, cache_read,"
            " cache_write, reasoning, cost, cost_all, unknown, no_usage, errors)"
            " SELECT %Q, q, %s AS kk, SUM(calls), SUM(input), SUM(output), SUM(cache_read),"
            " SUM(cache_write), SUM(reasoning), SUM(cost), SUM(cost_all), SUM(unknown),"
            " SUM(no_usage), SUM(errors) FROM temp.roll_in WHERE 1%s GROUP BY q, kk"
            " ON CONFLICT(by, q, key) DO UPDATE SET calls = calls + excluded.calls,"
            " input = input + excluded.input, output = output + excluded.output,"
            " cache_read = cache_read + excluded.cache_read,"
            " cache_write = cache_write + excluded.cache_write,"
            " reasoning = reasoning + excluded.reasoning, cost = cost + excluded.cost,"
            " cost_all = cost_all + excluded.cost_all, unknown = unknown + excluded.unknown,"
            " no_usage = no_usage + excluded.no_usage, errors = errors + excluded.errors",
            roll_keys[i].by, expr, roll_keys[i].where);
        if (!sql)
            return TT_ERR_NOMEM;
        int rc = exec_ok(db, sql);
        sqlite3_free(sql);
        if (rc != TT_OK)
            return rc;
    }
    return exec_ok(db, "DELETE FROM temp.roll_in");
}

struct tt_ui_index {
    sqlite3 *db;
    char store[4096];
    int64_t data_version;     /* of s, at the last update; -1: never */
};

static void set_err(char *err, size_t errn, const char *what, sqlite3 *db)
{
    if (err && errn)
        snprintf(err, errn, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* A file: URI for path, every byte outside the unreserved set and '/'
 * percent-encoded (a '?' or '#' in a path would end the URI's path). */
static int file_uri(const char *path, const char *query, char *buf, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t o = 0;

    if (n < 8)
        return TT_ERR_CAP;
    memcpy(buf, "file:", 5);
    o = 5;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        bool plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
                     (*p >= '0' && *p <= '9') || strchr("/-._~", *p);
        if (o + 4 >= n)
            return TT_ERR_CAP;
        if (plain) {
            buf[o++] = (char)*p;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[*p >> 4];
            buf[o++] = hex[*p & 15];
        }
    }
    int w = snprintf(buf + o, n - o, "%s", query);
    return w < 0 || (size_t)w >= n - o ? TT_ERR_CAP : TT_OK;
}

static int attach_store(sqlite3 *db, const char *store)
{
    char uri[8192], sql[8400];
    char *q;

    if (file_uri(store, "?mode=ro", uri, sizeof(uri)) != TT_OK)
        return TT_ERR_CAP;
    q = sqlite3_mprintf("ATTACH %Q AS s", uri);
    if (!q)
        return TT_ERR_NOMEM;
    snprintf(sql, sizeof(sql), "%s", q);
    sqlite3_free(q);
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? TT_OK : TT_ERR_IO;
}

int tt_ui_index_default_path(const char *store, char *buf, size_t n)
{
    int w = snprintf(buf, n, "%s.ui-index", store);
    return w < 0 || (size_t)w >= n ? TT_ERR_CAP : TT_OK;
}

/* Create the index file 0600 (it holds prompt text), never through a
 * symlink. */
static int create_private(const char *path, char *err, size_t errn)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat sb;

    if (fd < 0) {
        snprintf(err, errn, "%s: %s", path, strerror(errno));
        return TT_ERR_IO;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077))
        (void)fchmod(fd, 0600);
    close(fd);
    return TT_OK;
}

static int64_t meta_get(sqlite3 *db, const char *k, int64_t dflt)
{
    sqlite3_stmt *q = NULL;
    int64_t v = dflt;

    if (sqlite3_prepare_v2(db, "SELECT v FROM main.meta WHERE k = ?1", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW && sqlite3_column_type(q, 0) == SQLITE_INTEGER)
            v = sqlite3_column_int64(q, 0);
    }
    sqlite3_finalize(q);
    return v;
}

static int meta_set(sqlite3 *db, const char *k, int64_t v)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO main.meta(k, v) VALUES(?1, ?2)",
                                 -1, &q, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_text(q, 1, k, -1, SQLITE_STATIC);
        sqlite3_bind_int64(q, 2, v);
        src = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return src == SQLITE_DONE ? TT_OK : TT_ERR_IO;
}

static int64_t scalar(sqlite3 *db, const char *sql, int *rc)
{
    sqlite3_stmt *q = NULL;
    int64_t v = 0;

    if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
        *rc = TT_ERR_IO;
        return 0;
    }
    int src = sqlite3_step(q);
    if (src == SQLITE_ROW)
        v = sqlite3_column_int64(q, 0);
    else
        *rc = TT_ERR_IO;
    sqlite3_finalize(q);
    return v;
}

int tt_ui_index_open(const char *store, const char *index_path,
                     struct tt_ui_index **out, char *err, size_t errn)
{
    struct tt_ui_index *ix = calloc(1, sizeof(*ix));
    char uri[8192];
    int rc;

    *out = NULL;
    if (!ix)
        return TT_ERR_NOMEM;
    ix->data_version = -1;
    snprintf(ix->store, sizeof(ix->store), "%s", store);
    if (access(store, R_OK) != 0) {
        snprintf(err, errn, "%s: %s", store, strerror(errno));
        rc = TT_ERR_IO;
        goto fail;
    }
    if ((rc = create_private(index_path, err, errn)) != TT_OK)
        goto fail;
    if ((rc = file_uri(index_path, "", uri, sizeof(uri))) != TT_OK) {
        snprintf(err, errn, "%s: path too long", index_path);
        goto fail;
    }
    mode_t old = umask(077);    /* the -wal and -shm files too */
    int src = sqlite3_open_v2(uri, &ix->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                              SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL);
    umask(old);
    if (src != SQLITE_OK) {
        set_err(err, errn, index_path, ix->db);
        rc = TT_ERR_IO;
        goto fail;
    }
    sqlite3_busy_timeout(ix->db, 5000);
    if (sqlite3_exec(ix->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(ix->db, index_schema, NULL, NULL, NULL) != SQLITE_OK) {
        set_err(err, errn, index_path, ix->db);
        rc = TT_ERR_IO;
        goto fail;
    }
    if (attach_store(ix->db, store) != TT_OK) {
        set_err(err, errn, store, ix->db);
        rc = TT_ERR_IO;
        goto fail;
    }
    *out = ix;
    return TT_OK;
fail:
    tt_ui_index_close(ix);
    return rc;
}

void tt_ui_index_close(struct tt_ui_index *ix)
{
    if (!ix)
        return;
    sqlite3_close_v2(ix->db);
    free(ix);
}

static int run_range(sqlite3 *db, const char *sql, int64_t lo, int64_t hi)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(db, sql, -1, &q, NULL);

    if (src == SQLITE_OK) {
        sqlite3_bind_int64(q, 1, lo);
        sqlite3_bind_int64(q, 2, hi);
        src = sqlite3_step(q);
    }
    sqlite3_finalize(q);
    return src == SQLITE_DONE ? TT_OK : TT_ERR_IO;
}

/* The store's identity: a different file at the path means a rebuild. */
static int64_t store_ino(const char *path)
{
    struct stat sb;

    return stat(path, &sb) == 0 ? (int64_t)sb.st_ino ^ ((int64_t)sb.st_dev << 40) : -1;
}

int tt_ui_index_update(struct tt_ui_index *ix, struct tt_ui_update *u)
{
    sqlite3 *db = ix->db;
    int rc = TT_OK;

    memset(u, 0, sizeof(*u));
    int64_t dv = scalar(db, "PRAGMA s.data_version", &rc);
    if (rc != TT_OK)
        return rc;
    if (dv == ix->data_version)
        return TT_OK;
    if (exec_ok(db, "BEGIN IMMEDIATE") != TT_OK)
        return TT_ERR_AGAIN;
    int64_t hi = scalar(db, "SELECT COALESCE(MAX(rowid), 0) FROM s.spans", &rc);
    int64_t hr = scalar(db, "SELECT COALESCE(MAX(rowid), 0) FROM s.runs", &rc);
    if (rc != TT_OK)
        goto fail;
    int64_t last = meta_get(db, "last_span", 0), lastr = meta_get(db, "last_run", 0);
    int64_t ino = store_ino(ix->store);
    if (meta_get(db, "version", -1) != UI_INDEX_VERSION || meta_get(db, "store_ino", -1) != ino ||
        hi < last || hr < lastr) {
        if (exec_ok(db, "DELETE FROM main.traces; DELETE FROM main.facets;"
                        " DELETE FROM main.fts; DELETE FROM main.cost_roll;"
                        " DELETE FROM main.meta") != TT_OK) {
            rc = TT_ERR_IO;
            goto fail;
        }
        last = lastr = 0;
        u->rebuilt = true;
        if (meta_set(db, "version", UI_INDEX_VERSION) != TT_OK ||
            meta_set(db, "store_ino", ino) != TT_OK) {
            rc = TT_ERR_IO;
            goto fail;
        }
    }
    /* reprice changed costs in place: the totals are rebuilt */
    int64_t repriced = scalar(db, "SELECT COALESCE((SELECT value FROM s.counters"
                                  " WHERE name = 'repriced'), 0)", &rc);
    if (rc != TT_OK)
        goto fail;
    bool reroll = repriced != meta_get(db, "repriced", 0);
    if (hi == last && hr == lastr && !reroll)
        goto done;
    if (exec_ok(db, "CREATE TEMP TABLE IF NOT EXISTS changed (id TEXT PRIMARY KEY)"
                    " WITHOUT ROWID; DELETE FROM temp.changed") != TT_OK ||
        run_range(db, "INSERT OR IGNORE INTO temp.changed SELECT trace_id FROM s.spans"
                      " WHERE rowid > ?1 AND rowid <= ?2", last, hi) != TT_OK ||
        run_range(db, "INSERT OR IGNORE INTO temp.changed SELECT trace_id FROM s.runs"
                      " WHERE rowid > ?1 AND rowid <= ?2", lastr, hr) != TT_OK) {
        rc = TT_ERR_IO;
        goto fail;
    }
    /* A span stored again leaves its trace with fewer spans than it had
     * plus the new rows: what cost_roll counted of the old row is unknown. */
    int64_t before = scalar(db, "SELECT COALESCE(SUM(t.spans), 0) FROM temp.changed c"
                                " JOIN main.traces t ON t.trace_id = c.id", &rc);
    sqlite3_stmt *cq = NULL;
    int64_t added = 0;
    if (sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM s.spans WHERE rowid > ?1 AND rowid <= ?2",
                           -1, &cq, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(cq, 1, last);
        sqlite3_bind_int64(cq, 2, hi);
        if (sqlite3_step(cq) == SQLITE_ROW)
            added = sqlite3_column_int64(cq, 0);
        else
            rc = TT_ERR_IO;
    } else {
        rc = TT_ERR_IO;
    }
    sqlite3_finalize(cq);
    if (rc != TT_OK || exec_ok(db, summarise_sql) != TT_OK) {
        rc = TT_ERR_IO;
        goto fail;
    }
    int64_t after = scalar(db, "SELECT COALESCE(SUM(t.spans), 0) FROM temp.changed c"
                               " JOIN main.traces t ON t.trace_id = c.id", &rc);
    if (rc != TT_OK)
        goto fail;
    if (after != before + added)
        reroll = true;
    if (run_range(db, facets_sql, last, hi) != TT_OK ||
        run_range(db, fts_sql, last, hi) != TT_OK ||
        (reroll ? exec_ok(db, "DELETE FROM main.cost_roll") != TT_OK ||
                  roll_range(db, 0, hi) != TT_OK
                : roll_range(db, last, hi) != TT_OK) ||
        meta_set(db, "repriced", repriced) != TT_OK ||
        meta_set(db, "last_span", hi) != TT_OK || meta_set(db, "last_run", hr) != TT_OK) {
        rc = TT_ERR_IO;
        goto fail;
    }
    u->rerolled = reroll && !u->rebuilt;
    /* The traces touched, for the live page (newest first). */
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(db, "SELECT c.id FROM temp.changed c JOIN main.traces t"
                           " ON t.trace_id = c.id ORDER BY t.start DESC", -1, &q, NULL) == SQLITE_OK) {
        while (sqlite3_step(q) == SQLITE_ROW) {
            const char *id = (const char *)sqlite3_column_text(q, 0);
            if (u->nchanged < TT_UI_CHANGED_MAX)
                snprintf(u->changed[u->nchanged], 33, "%s", id ? id : "");
            u->nchanged++;
        }
    }
    sqlite3_finalize(q);
    u->spans = hi - last;
done:
    if (exec_ok(db, "COMMIT") != TT_OK) {
        rc = TT_ERR_IO;
        goto fail;
    }
    ix->data_version = dv;
    return TT_OK;
fail:
    fprintf(stderr, "tokentap ui: index update: %s\n", sqlite3_errmsg(db));
    exec_ok(db, "ROLLBACK");
    return rc;
}

int tt_ui_db_open(const char *store, const char *index_path, sqlite3 **db,
                  char *err, size_t errn)
{
    char uri[8192];

    *db = NULL;
    if (file_uri(index_path, "?mode=ro", uri, sizeof(uri)) != TT_OK) {
        snprintf(err, errn, "%s: path too long", index_path);
        return TT_ERR_CAP;
    }
    if (sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        set_err(err, errn, index_path, *db);
        goto fail;
    }
    sqlite3_busy_timeout(*db, 5000);
    if (attach_store(*db, store) != TT_OK) {
        set_err(err, errn, store, *db);
        goto fail;
    }
    return TT_OK;
fail:
    sqlite3_close_v2(*db);
    *db = NULL;
    return TT_ERR_IO;
}

int tt_ui_fts_query(const char *typed, char *buf, size_t n)
{
    size_t o = 0;
    const char *p = typed;

    if (!n)
        return TT_ERR_CAP;
    buf[0] = '\0';
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        if (o && o + 1 < n)
            buf[o++] = ' ';
        if (o + 1 >= n)
            return TT_ERR_CAP;
        buf[o++] = '"';
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            if (o + 3 >= n)
                return TT_ERR_CAP;
            if (*p == '"')
                buf[o++] = '"';
            buf[o++] = *p++;
        }
        buf[o++] = '"';
        buf[o] = '\0';
    }
    return TT_OK;
}
