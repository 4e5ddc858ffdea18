/* test_walbuf.c - the WAL write buffer (exporter/walbuf.h): every commit
 * is in the file when it returns (another connection, on SQLite's own VFS,
 * sees it at once; a process that dies right after keeps it), a full disk
 * fails the commit and corrupts nothing, and the frames of a transaction
 * reach the file in fewer writes than SQLite asked for. */
#include <criterion/criterion.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "walbuf.h"

static char dir[] = "/tmp/tt-walbuf-XXXXXX";
static char path[128];

static void setup(void)
{
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/t.db", dir);
    cr_assert_eq(tt_walbuf_register(), TT_OK);
    cr_assert_eq(tt_walbuf_register(), TT_OK, "idempotent");
    cr_assert_str_eq(sqlite3_vfs_find(NULL)->zName, "tt-walbuf");
}

static void teardown(void)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)system(cmd);
}

static void exec_ok(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    cr_assert_eq(rc, SQLITE_OK, "%s: %s", sql, err ? err : "");
}

/* The writer, on the default VFS (ours), WAL as tokentapd runs it. */
static sqlite3 *open_writer(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                 SQLITE_OK);
    exec_ok(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT);"
                "CREATE INDEX IF NOT EXISTS t_body ON t(substr(body, 1, 8));");
    return db;
}

/* A reader that never saw the buffer: SQLite's own unix VFS. */
static long long count_unbuffered(void)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    long long n = -1;

    cr_assert_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, "unix"), SQLITE_OK);
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*), sum(length(body)) FROM t",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    n = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    cr_assert_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_expect_str_eq((const char *)sqlite3_column_text(q, 0), "ok");
    sqlite3_finalize(q);
    sqlite3_close(db);
    return n;
}

static void insert(sqlite3 *db, int id, size_t len)
{
    sqlite3_stmt *q = NULL;
    char *body = malloc(len + 1);

    cr_assert_not_null(body);
    for (size_t i = 0; i < len; i++)
        body[i] = (char)('a' + (id + i) % 26);
    body[len] = '\0';
    cr_assert_eq(sqlite3_prepare_v2(db, "INSERT INTO t(id, body) VALUES (?, ?)", -1, &q, NULL),
                 SQLITE_OK);
    sqlite3_bind_int(q, 1, id);
    sqlite3_bind_text(q, 2, body, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(q), SQLITE_DONE, "%s", sqlite3_errmsg(db));
    sqlite3_finalize(q);
    free(body);
}

TestSuite(walbuf, .init = setup, .fini = teardown);

Test(walbuf, every_commit_is_in_the_file_when_it_returns)
{
    static const struct { int rows; size_t len; } txs[] = {
        { 1, 10 }, { 1, 15000 }, { 3, 4000 }, { 1, 300000 },  /* > the buffer */
        { 40, 12000 }, { 1, 1 }, { 2, 70000 },
    };
    sqlite3 *db = open_writer();
    struct tt_walbuf_stats a, z;
    long long want = 0;
    int id = 1;

    tt_walbuf_stats(&a);
    for (int round = 0; round < 3; round++) {
        for (size_t i = 0; i < sizeof(txs) / sizeof(txs[0]); i++) {
            exec_ok(db, "BEGIN");
            for (int r = 0; r < txs[i].rows; r++)
                insert(db, id++, txs[i].len);
            exec_ok(db, "COMMIT");
            want += txs[i].rows;
            cr_assert_eq(count_unbuffered(), want, "round %d, transaction %zu", round, i);
        }
        /* The WAL starts over from its header after a full checkpoint: a
         * write at offset 0 behind the buffered end. */
        exec_ok(db, "PRAGMA wal_checkpoint(TRUNCATE)");
        cr_assert_eq(count_unbuffered(), want);
    }
    tt_walbuf_stats(&z);
    cr_expect_gt(z.asked - a.asked, 400, "SQLite wrote frames through it");
    cr_expect_lt((z.written - a.written) * 4, z.asked - a.asked,
                 "%llu writes asked, %llu made: not gathered", z.asked - a.asked,
                 z.written - a.written);
    sqlite3_close(db);
    cr_expect_eq(count_unbuffered(), want);
}

Test(walbuf, a_commit_survives_the_process_dying_right_after)
{
    sqlite3 *db = open_writer();
    sqlite3_close(db);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        sqlite3 *w = NULL;
        /* synchronous=NORMAL as tokentapd: no sync that would write the
         * buffer out at each commit anyway. */
        if (sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
            sqlite3_exec(w, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
            _exit(2);
        for (int i = 1; i <= 25; i++) {
            char sql[128];
            snprintf(sql, sizeof(sql), "INSERT INTO t VALUES (%d, printf('%%.*c', 1500, 'x'))", i);
            if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK)
                _exit(3);
        }
        /* An uncommitted transaction's frames may still be buffered. */
        if (sqlite3_exec(w, "BEGIN; INSERT INTO t VALUES (999, 'never')", NULL, NULL, NULL))
            _exit(4);
        kill(getpid(), SIGKILL);    /* no close, no atexit, no flush */
        _exit(5);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
    cr_expect_eq(count_unbuffered(), 25);
}

/* A file-size limit stands in for a full disk: the write that would
 * cross it fails (EFBIG, SIGXFSZ ignored; SQLite's unix VFS says
 * SQLITE_IOERR for that, SQLITE_FULL for ENOSPC). A child writes until it
 * fails; its exit status is the failing commit's primary code. */
static int fill_until_limit(const char *vfs)
{
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        struct stat sdb, swal;
        char wal[160];
        snprintf(wal, sizeof(wal), "%s-wal", path);
        signal(SIGXFSZ, SIG_IGN);
        sqlite3 *w = NULL;
        if (sqlite3_open_v2(path, &w, SQLITE_OPEN_READWRITE, vfs) != SQLITE_OK ||
            sqlite3_exec(w, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK)
            _exit(100);
        if (sqlite3_exec(w, "SELECT count(*) FROM t", NULL, NULL, NULL) != SQLITE_OK)
            _exit(101);
        off_t big = 0;
        if (stat(path, &sdb) == 0)
            big = sdb.st_size;
        if (stat(wal, &swal) == 0 && swal.st_size > big)
            big = swal.st_size;
        struct rlimit rl = { (rlim_t)big + 20000, (rlim_t)big + 20000 };
        if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(102);
        int rc = SQLITE_OK;
        for (int i = 0; i < 300 && rc == SQLITE_OK; i++) {
            char sql[128];
            snprintf(sql, sizeof(sql), "INSERT INTO t(body) VALUES (printf('%%.*c', 6000, 'y'))");
            rc = sqlite3_exec(w, sql, NULL, NULL, NULL);
        }
        _exit(rc & 0xff);
    }
    int st = 0;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child status %d", st);
    return WEXITSTATUS(st);
}

Test(walbuf, a_full_disk_fails_the_commit_as_without_it_and_corrupts_nothing)
{
    sqlite3 *db = open_writer();
    exec_ok(db, "BEGIN");
    for (int i = 1; i <= 5; i++)
        insert(db, i, 2000);
    exec_ok(db, "COMMIT");
    sqlite3_close(db);

    int plain = fill_until_limit("unix");       /* the reference */
    long long n0 = count_unbuffered();
    cr_expect(plain == SQLITE_IOERR || plain == SQLITE_FULL, "unix VFS: %d", plain);
    cr_expect_lt(n0, 5 + 300, "the limit was hit");

    int ours = fill_until_limit(NULL);
    cr_expect_eq(ours, plain, "the buffered commit fails as the plain one did");
    long long n = count_unbuffered();   /* integrity_check inside */
    cr_expect_geq(n, n0, "nothing committed before was lost");
    cr_expect_lt(n, n0 + 300, "the limit was hit again");
    db = open_writer();
    insert(db, 100000, 100);
    sqlite3_close(db);
    cr_expect_eq(count_unbuffered(), n + 1, "the store takes writes again");
}
