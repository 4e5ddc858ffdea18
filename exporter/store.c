/* store.c - the SQLite store (see store.h).
 *
 * Columns and bindings come from the contract table (spanfield.h), so the
 * INSERT cannot drift from the struct. The prepared INSERT is cached for the
 * life of the handle. Privacy: the file holds prompts and completions, so it
 * is created 0600 before SQLite sees it; SQLite gives its -wal/-shm files the
 * mode of the database file, and we chmod them too in case they pre-exist. */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "spanfield.h"
#include "tt.h"
#include "wire.h"

struct tt_store {
    sqlite3 *db;
    sqlite3_stmt *ins;     /* INSERT OR REPLACE INTO spans, all columns */
    /* Prepared once, on first use (each prepare parses its SQL again:
     * tens of thousands of instructions, per batch, in the daemon). */
    sqlite3_stmt *begin, *commit, *counter, *proc_count;
    bool readonly;
    char err[320];         /* the last failure, for replies and logs */
};

static int sql_err(int src)
{
    switch (src & 0xff) {
    case SQLITE_OK:
    case SQLITE_DONE:
    case SQLITE_ROW: return TT_OK;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return TT_ERR_AGAIN;
    case SQLITE_NOMEM: return TT_ERR_NOMEM;
    case SQLITE_FULL: return TT_ERR_FULL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return TT_ERR_CORRUPT;
    default: return TT_ERR_IO;
    }
}

static void note_err(struct tt_store *st, const char *what, const char *msg)
{
    snprintf(st->err, sizeof(st->err), "%s: %s", what, msg);
}

const char *tt_store_errmsg(const struct tt_store *st)
{
    return st && st->err[0] ? st->err : NULL;
}

static int exec(struct tt_store *st, const char *sql)
{
    char *msg = NULL;
    int src = sqlite3_exec(st->db, sql, NULL, NULL, &msg);

    if (src != SQLITE_OK) {
        fprintf(stderr, "tokentap: sqlite: %s: %s\n", sql, msg ? msg : sqlite3_errstr(src));
        note_err(st, sql, msg ? msg : sqlite3_errstr(src));
        sqlite3_free(msg);
    }
    return sql_err(src);
}

/* Create the file 0600 ourselves (O_NOFOLLOW: a symlink planted at the path
 * must not redirect our writes), and tighten a pre-existing looser file. */
static int create_private(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat sb;
    int rc = TT_OK;

    if (fd < 0) {
        fprintf(stderr, "tokentap: %s: %s\n", path, strerror(errno));
        return TT_ERR_IO;
    }
    if (fstat(fd, &sb) == 0 && (sb.st_mode & 077) && sb.st_uid == geteuid())
        if (fchmod(fd, 0600) != 0)
            rc = TT_ERR_IO;
    close(fd);
    return rc;
}

static void chmod_sidecars(const char *path)
{
    static const char *const sfx[] = { "-wal", "-shm", "-journal" };
    char p[4096];

    for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
        int w = snprintf(p, sizeof(p), "%s%s", path, sfx[i]);
        if (w > 0 && (size_t)w < sizeof(p))
            (void)chmod(p, 0600);   /* ENOENT is fine: not created yet */
    }
}

/* A store from an older tokentap opened read-only (the CLI) cannot be
 * migrated: a TEMP view named spans, which SQLite resolves before the
 * main table, adds every missing contract column as NULL, so queries
 * naming new columns (replay, ...) work on it unchanged. */
static int shadow_missing(struct tt_store *st)
{
    sqlite3_stmt *q = NULL;
    uint64_t have = 0;
    int cols = 0, src;
    char sql[4096];
    size_t n;

    if (sqlite3_prepare_v2(st->db, "PRAGMA main.table_info(spans)", -1, &q, NULL) != SQLITE_OK)
        return TT_OK;   /* nothing to shadow; queries report their own errors */
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 1);
        const struct tt_spanfield *f = name ? tt_sf_find(name, strlen(name)) : NULL;
        cols++;
        if (f)
            have |= (uint64_t)1 << (size_t)(f - tt_spanfields);
    }
    sqlite3_finalize(q);
    if (!cols)
        return TT_OK;
    n = (size_t)snprintf(sql, sizeof(sql), "CREATE TEMP VIEW IF NOT EXISTS spans AS SELECT *");
    bool missing = false;
    for (size_t i = 0; i < tt_spanfields_n && n < sizeof(sql) - 64; i++) {
        if (have & ((uint64_t)1 << i))
            continue;
        n += (size_t)snprintf(sql + n, sizeof(sql) - n, ", NULL AS %s", tt_spanfields[i].name);
        missing = true;
    }
    if (!missing)
        return TT_OK;
    snprintf(sql + n, sizeof(sql) - n, " FROM main.spans");
    return exec(st, sql);
}

/* The SQL type of a contract column added by migrate(). */
static const char *column_type(const struct tt_spanfield *f)
{
    switch (f->type) {
    case TT_SF_I64:
    case TT_SF_OPT_I64: return "INTEGER";
    case TT_SF_BOOL: return "INTEGER NOT NULL DEFAULT 0";
    case TT_SF_F64:
    case TT_SF_OPT_F64:
    case TT_SF_MS: return "REAL";
    default: return "TEXT";
    }
}

/* A store from an older tokentap: add every contract column its spans
 * table lacks (store.h), then the indexes over the new columns. */
static int migrate(struct tt_store *st)
{
    sqlite3_stmt *q = NULL;
    uint64_t have = 0;
    int src = sqlite3_prepare_v2(st->db, "PRAGMA table_info(spans)", -1, &q, NULL);

    if (src != SQLITE_OK)
        return sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src);
    while ((src = sqlite3_step(q)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(q, 1);
        const struct tt_spanfield *f = name ? tt_sf_find(name, strlen(name)) : NULL;
        if (f)
            have |= (uint64_t)1 << (size_t)(f - tt_spanfields);
    }
    sqlite3_finalize(q);
    if (src != SQLITE_DONE)
        return sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src);
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        char sql[256];
        int rc;
        if (have & ((uint64_t)1 << i))
            continue;
        snprintf(sql, sizeof(sql), "ALTER TABLE spans ADD COLUMN %s %s",
                 tt_spanfields[i].name, column_type(&tt_spanfields[i]));
        if ((rc = exec(st, sql)) != TT_OK)
            return rc;
    }
    return exec(st, "CREATE INDEX IF NOT EXISTS spans_conversation"
                    " ON spans(conversation_id) WHERE conversation_id IS NOT NULL");
}

static int prepare_insert(struct tt_store *st)
{
    struct tt_buf sql;
    int rc = TT_ERR_NOMEM;

    tt_buf_init(&sql, 8192);
    if (tt_buf_append_str(&sql, "INSERT OR REPLACE INTO spans(") != TT_OK)
        goto out;
    for (size_t i = 0; i < tt_spanfields_n; i++)
        if ((i && tt_buf_append_str(&sql, ",") != TT_OK) ||
            tt_buf_append_str(&sql, tt_spanfields[i].name) != TT_OK)
            goto out;
    if (tt_buf_append_str(&sql, ") VALUES(") != TT_OK)
        goto out;
    for (size_t i = 0; i < tt_spanfields_n; i++)
        if (tt_buf_append_str(&sql, i ? ",?" : "?") != TT_OK)
            goto out;
    if (tt_buf_append_str(&sql, ")") != TT_OK)
        goto out;
    int src = sqlite3_prepare_v3(st->db, sql.data, (int)sql.len, SQLITE_PREPARE_PERSISTENT,
                                 &st->ins, NULL);
    if (src != SQLITE_OK)
        fprintf(stderr, "tokentap: sqlite: prepare insert: %s\n", sqlite3_errmsg(st->db));
    rc = sql_err(src);
out:
    tt_buf_free(&sql);
    return rc;
}

int tt_store_open(const char *path, bool readonly, struct tt_store **out)
{
    struct tt_store *st = calloc(1, sizeof(*st));
    mode_t old_umask = 0;
    bool umask_set = false;
    int rc = TT_ERR_NOMEM, src;

    *out = NULL;
    if (!st)
        return TT_ERR_NOMEM;
    st->readonly = readonly;
    if (readonly) {
        src = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    } else {
        if ((rc = create_private(path)) != TT_OK)
            goto fail;
        /* Anything SQLite creates while we set the database up (-wal, -shm)
         * must be private too, whatever the caller's umask. */
        old_umask = umask(077);
        umask_set = true;
        src = sqlite3_open_v2(path, &st->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                              NULL);
    }
    if (src != SQLITE_OK) {
        fprintf(stderr, "tokentap: sqlite: %s: %s\n", path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(src));
        rc = sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src);
        goto fail;
    }
    /* NOMUTEX above: a handle is only ever used by one thread at a time, so
     * SQLite's per-call connection mutex was pure cost (5% of the daemon). */
    sqlite3_busy_timeout(st->db, 5000);
    if (!readonly) {
        /* WAL: readers (the CLI) never block the daemon's writes.
         * synchronous=NORMAL: a commit survives a crash of any process; only
         * a power loss can lose the last transactions, an accepted trade for
         * a tracer (FULL costs an fsync per batch). */
        if ((rc = exec(st, "PRAGMA journal_mode=WAL")) != TT_OK ||
            (rc = exec(st, "PRAGMA synchronous=NORMAL")) != TT_OK ||
            (rc = exec(st, TT_STORE_SCHEMA)) != TT_OK ||
            (rc = migrate(st)) != TT_OK ||
            (rc = prepare_insert(st)) != TT_OK)
            goto fail;
        chmod_sidecars(path);
        umask(old_umask);
        umask_set = false;
    } else if ((rc = shadow_missing(st)) != TT_OK) {
        goto fail;
    }
    *out = st;
    return TT_OK;
fail:
    if (umask_set)
        umask(old_umask);
    tt_store_close(st);
    return rc == TT_OK ? TT_ERR_IO : rc;
}

const char *tt_store_full_hint(const char *path)
{
    static __thread char hint[300];
    char dir[4096];
    struct statvfs sv;

    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        snprintf(dir, sizeof(dir), ".");
    if (statvfs(dir, &sv) != 0 ||
        (unsigned long long)sv.f_bavail * sv.f_frsize >= (1ull << 20))
        return "";
    snprintf(hint, sizeof(hint), " (the file system holding %.200s is full: "
             "%llu bytes free)", dir,
             (unsigned long long)sv.f_bavail * sv.f_frsize);
    return hint;
}

void tt_store_corrupt_msg(char *out, size_t n, const char *path, const char *why)
{
    snprintf(out, n, "the store %.900s is corrupt (%.300s): move it aside (mv "
             "%.900s %.900s.corrupt), tokentap then starts a new one; `sqlite3 "
             "%.900s.corrupt .recover` may save its rows", path, why, path,
             path, path);
}

int tt_store_check(struct tt_store *st, char *msg, size_t n)
{
    sqlite3_stmt *q = NULL;
    int src = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &q, NULL);

    if (n)
        msg[0] = '\0';
    if (src == SQLITE_OK)
        src = sqlite3_step(q);
    if (src == SQLITE_ROW) {
        const char *v = (const char *)sqlite3_column_text(q, 0);
        bool ok = v && strcmp(v, "ok") == 0;
        if (!ok && n) {
            snprintf(msg, n, "%s", v ? v : "quick_check failed");
            for (char *c = msg; *c; c++)
                if (*c == '\n')
                    *c = ' ';       /* one line in logs and messages */
        }
        sqlite3_finalize(q);
        return ok ? TT_OK : TT_ERR_CORRUPT;
    }
    if (n)
        snprintf(msg, n, "%s", sqlite3_errmsg(st->db));
    sqlite3_finalize(q);
    return sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src);
}

void tt_store_close(struct tt_store *st)
{
    if (!st)
        return;
    sqlite3_finalize(st->ins);
    sqlite3_finalize(st->begin);
    sqlite3_finalize(st->commit);
    sqlite3_finalize(st->counter);
    sqlite3_finalize(st->proc_count);
    sqlite3_close_v2(st->db);
    free(st);
}

/* *slot prepared (persistent) on first use; reset after each use. */
static int cached(struct tt_store *st, sqlite3_stmt **slot, const char *sql)
{
    if (*slot)
        return SQLITE_OK;
    return sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, slot, NULL);
}

/* Run a cached statement without parameters (BEGIN, COMMIT): exec()'s
 * outcome, without parsing the SQL each time. */
static int exec_cached(struct tt_store *st, sqlite3_stmt **slot, const char *sql)
{
    int src = cached(st, slot, sql);

    if (src == SQLITE_OK) {
        src = sqlite3_step(*slot);
        sqlite3_reset(*slot);
        if (src == SQLITE_DONE || src == SQLITE_ROW)
            return TT_OK;
    }
    fprintf(stderr, "tokentap: sqlite: %s: %s\n", sql, sqlite3_errmsg(st->db));
    note_err(st, sql, sqlite3_errmsg(st->db));
    return sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src);
}

int tt_store_begin(struct tt_store *st)
{
    /* IMMEDIATE: take the write lock now, so a busy database fails here
     * (nothing done yet) rather than at COMMIT. */
    return exec_cached(st, &st->begin, "BEGIN IMMEDIATE");
}

int tt_store_commit(struct tt_store *st)
{
    return exec_cached(st, &st->commit, "COMMIT");
}

int tt_store_rollback(struct tt_store *st)
{
    if (sqlite3_get_autocommit(st->db))
        return TT_OK;   /* SQLite already rolled back (e.g. after SQLITE_FULL) */
    return exec(st, "ROLLBACK");
}

static int bind_field(sqlite3_stmt *stmt, int col, const struct tt_span *s,
                      const struct tt_spanfield *f)
{
    if (!tt_sf_present(s, f))
        return sqlite3_bind_null(stmt, col);
    switch (f->type) {
    case TT_SF_ID:
        return sqlite3_bind_text(stmt, col, tt_sf_cid(s, f), -1, SQLITE_STATIC);
    case TT_SF_STR:
    case TT_SF_JSON:
        return sqlite3_bind_text(stmt, col, tt_sf_str(s, f), -1, SQLITE_STATIC);
    case TT_SF_I64:
    case TT_SF_OPT_I64:
        return sqlite3_bind_int64(stmt, col, tt_sf_i64(s, f));
    case TT_SF_F64:
    case TT_SF_OPT_F64:
    case TT_SF_MS:
        return sqlite3_bind_double(stmt, col, tt_sf_f64(s, f));
    case TT_SF_BOOL:
        return sqlite3_bind_int(stmt, col, tt_sf_bool(s, f->off) ? 1 : 0);
    }
    return SQLITE_MISUSE;
}

int tt_store_put_span(struct tt_store *st, const struct tt_span *s)
{
    int src = SQLITE_OK;

    if (!st->ins)
        return TT_ERR;      /* read-only handle */
    for (size_t i = 0; i < tt_spanfields_n && src == SQLITE_OK; i++)
        src = bind_field(st->ins, (int)i + 1, s, &tt_spanfields[i]);
    if (src == SQLITE_OK)
        src = sqlite3_step(st->ins);
    if (src != SQLITE_DONE) {
        fprintf(stderr, "tokentap: sqlite: insert span %s: %s\n", s->span_id,
                sqlite3_errmsg(st->db));
        note_err(st, "insert span", sqlite3_errmsg(st->db));
    }
    /* Bindings point into the caller's span (SQLITE_STATIC). No need to
     * clear them: every column is bound again before the next step, and a
     * reset statement does not read its parameters. */
    sqlite3_reset(st->ins);
    return src == SQLITE_DONE ? TT_OK : (sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src));
}

int tt_store_put_run(struct tt_store *st, const char *trace_id,
                     const char *command, int64_t start, int64_t end,
                     int exit_code, int64_t pid)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO runs(trace_id,command,start_time,end_time,exit_code,pid)"
        " VALUES(?,?,?,?,?,?)";
    sqlite3_stmt *stmt = NULL;
    int src = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

    if (src == SQLITE_OK) {
        sqlite3_bind_text(stmt, 1, trace_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, command, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 3, start);
        if (end)
            sqlite3_bind_int64(stmt, 4, end);
        sqlite3_bind_int(stmt, 5, exit_code);
        sqlite3_bind_int64(stmt, 6, pid);
        src = sqlite3_step(stmt);
    }
    sqlite3_finalize(stmt);
    return src == SQLITE_DONE ? TT_OK : (sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src));
}

/* Step a cached statement: reset (and its bindings cleared, they
 * point into the caller's strings), not finalized. */
static int step_reset(struct tt_store *st, sqlite3_stmt *stmt, int src, const char *what)
{
    if (src == SQLITE_OK)
        src = sqlite3_step(stmt);
    if (src != SQLITE_DONE) {
        fprintf(stderr, "tokentap: sqlite: %s: %s\n", what, sqlite3_errmsg(st->db));
        note_err(st, what, sqlite3_errmsg(st->db));
    }
    if (stmt) {
        sqlite3_reset(stmt);
        sqlite3_clear_bindings(stmt);
    }
    return src == SQLITE_DONE ? TT_OK : (sql_err(src) == TT_OK ? TT_ERR_IO : sql_err(src));
}

int tt_store_add_counter(struct tt_store *st, const char *name, uint64_t delta)
{
    static const char sql[] =
        "INSERT INTO counters(name,value) VALUES(?,?)"
        " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value";
    int src = cached(st, &st->counter, sql);

    if (src == SQLITE_OK) {
        sqlite3_bind_text(st->counter, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st->counter, 2,
                           (sqlite3_int64)(delta > INT64_MAX ? INT64_MAX : delta));
    }
    return step_reset(st, st->counter, src, "add counter");
}

int tt_store_put_proc_count(struct tt_store *st, const char *proc_id, int64_t pid,
                            const char *exe, uint64_t lost, uint64_t sampled_out,
                            const char *reason, int64_t now)
{
    static const char sql[] =
        "INSERT INTO proc_counters(proc_id,pid,exe,lost,sampled_out,reason,updated)"
        " VALUES(?,?,?,?,?,?,?) ON CONFLICT(proc_id) DO UPDATE SET"
        " lost = max(lost, excluded.lost),"
        " sampled_out = max(sampled_out, excluded.sampled_out),"
        " reason = coalesce(excluded.reason, reason),"
        " updated = max(updated, excluded.updated)";
    int src = cached(st, &st->proc_count, sql);
    sqlite3_stmt *stmt = st->proc_count;

    if (src == SQLITE_OK) {
        sqlite3_clear_bindings(stmt);       /* exe and reason may be NULL */
        sqlite3_bind_text(stmt, 1, proc_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 2, pid);
        if (exe)
            sqlite3_bind_text(stmt, 3, exe, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, (sqlite3_int64)(lost > INT64_MAX ? INT64_MAX : lost));
        sqlite3_bind_int64(stmt, 5, (sqlite3_int64)(sampled_out > INT64_MAX ? INT64_MAX : sampled_out));
        if (reason && *reason)
            sqlite3_bind_text(stmt, 6, reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 7, now);
    }
    return step_reset(st, stmt, src, "put proc counters");
}

struct sqlite3 *tt_store_db(struct tt_store *st)
{
    return st ? st->db : NULL;
}

int tt_store_span_from_row(struct sqlite3_stmt *row, struct tt_span *out)
{
    int ncol = sqlite3_column_count(row);

    memset(out, 0, sizeof(*out));
    out->ttft_ms = -1;
    for (int c = 0; c < ncol; c++) {
        const char *name = sqlite3_column_name(row, c);
        const struct tt_spanfield *f = name ? tt_sf_find(name, strlen(name)) : NULL;
        if (!f)
            continue;
        bool null = sqlite3_column_type(row, c) == SQLITE_NULL;
        switch (f->type) {
        case TT_SF_ID: {
            const unsigned char *t = sqlite3_column_text(row, c);
            size_t n = t ? (size_t)sqlite3_column_bytes(row, c) : 0;
            char *dst = tt_sf_id(out, f);
            if (n > f->idlen)
                n = f->idlen;
            if (n)
                memcpy(dst, t, n);
            dst[n] = '\0';
            break;
        }
        case TT_SF_STR:
        case TT_SF_JSON:
            if (!null) {
                const unsigned char *t = sqlite3_column_text(row, c);
                if (!t || tt_span_setn(tt_sf_strp(out, f), (const char *)t,
                                       (size_t)sqlite3_column_bytes(row, c)) != TT_OK) {
                    tt_span_clear(out);
                    return TT_ERR_NOMEM;
                }
            }
            break;
        case TT_SF_I64:
        case TT_SF_OPT_I64:
            *tt_sf_i64p(out, f) = null ? 0 : sqlite3_column_int64(row, c);
            if (f->type == TT_SF_OPT_I64)
                *tt_sf_boolp(out, f->has_off) = !null;
            break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS:
            *tt_sf_f64p(out, f) = null ? (f->type == TT_SF_MS ? -1 : 0)
                                       : sqlite3_column_double(row, c);
            if (f->type == TT_SF_OPT_F64)
                *tt_sf_boolp(out, f->has_off) = !null;
            break;
        case TT_SF_BOOL:
            *tt_sf_boolp(out, f->off) = !null && sqlite3_column_int(row, c) != 0;
            break;
        }
    }
    return TT_OK;
}

int tt_store_default_path(char *buf, size_t n)
{
    const char *e = getenv("TOKENTAP_DB");
    char dir[4096];
    int rc, w;

    if (e && *e) {
        w = snprintf(buf, n, "%s", e);
    } else {
        /* Same home as the socket and spool (wire.h); without TOKENTAP_HOME
         * this is ${XDG_DATA_HOME:-$HOME/.local/share}/tokentap. */
        if ((rc = tt_wire_home_dir(dir, sizeof(dir))) != TT_OK)
            return rc;
        w = snprintf(buf, n, "%s/traces.db", dir);
    }
    if (w < 0 || (size_t)w >= n)
        return TT_ERR_CAP;
    /* Parent directory = everything before the last '/'. */
    const char *slash = strrchr(buf, '/');
    if (!slash || slash == buf)
        return TT_OK;
    size_t dl = (size_t)(slash - buf);
    if (dl >= sizeof(dir))
        return TT_ERR_CAP;
    memcpy(dir, buf, dl);
    dir[dl] = '\0';
    return tt_wire_mkdirs(dir);
}
