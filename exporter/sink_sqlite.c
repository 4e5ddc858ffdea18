/* sink_sqlite.c - the primary sink: the SQLite store, one transaction per
 * batch (one fsync-worthy commit for many spans). */
#include "sink.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "store.h"
#include "tt.h"

/* Stores up to this size are checked (PRAGMA quick_check) when the daemon
 * starts: a few milliseconds per MiB. Larger ones are caught at their
 * first failing write. */
#define SQLITE_CHECK_MAX (64ll << 20)

struct sqlite_sink {
    struct tt_store *st;
    bool broken;            /* corrupt: never written again by this daemon */
    char err[6144];         /* the last failure, file named */
    char path[4096];
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

static void corrupt_msg(struct sqlite_sink *k, const char *why)
{
    tt_store_corrupt_msg(k->err, sizeof(k->err), k->path, why);
}

static int sqlite_init(void **ctx, const struct tt_sink_config *cfg)
{
    struct sqlite_sink *k;
    struct stat sb;
    char why[256];
    int rc;

    *ctx = NULL;
    if (!cfg->db_path || !(k = calloc(1, sizeof(*k))))
        return TT_SINK_ERROR;
    snprintf(k->path, sizeof(k->path), "%s", cfg->db_path);
    k->log = cfg->log;
    if ((rc = tt_store_open(cfg->db_path, false, &k->st)) != TT_OK) {
        if (rc == TT_ERR_CORRUPT)
            corrupt_msg(k, "not a database");
        else
            snprintf(k->err, sizeof(k->err), "cannot open the store %.900s: %s%s",
                     k->path, tt_strerror(rc), tt_store_full_hint(k->path));
        k->log("%s", k->err);
        free(k);
        return TT_SINK_ERROR;
    }
    if (stat(cfg->db_path, &sb) == 0 && sb.st_size <= SQLITE_CHECK_MAX &&
        tt_store_check(k->st, why, sizeof(why)) == TT_ERR_CORRUPT) {
        corrupt_msg(k, why);
        k->log("%s", k->err);
        tt_store_close(k->st);
        free(k);
        return TT_SINK_ERROR;
    }
    *ctx = k;
    return TT_SINK_OK;
}

/* Busy/locked, I/O or a full disk: all may clear up; the client keeps or
 * spools the frame. A corrupt store is never written again (the frames
 * wait in the spools until the file is moved aside). */
static int sink_rc(struct sqlite_sink *k, int rc)
{
    const char *m = tt_store_errmsg(k->st);

    if (rc == TT_ERR_CORRUPT) {
        k->broken = true;
        corrupt_msg(k, m ? m : "database disk image is malformed");
        k->log("%s", k->err);
        return TT_SINK_RETRY;
    }
    snprintf(k->err, sizeof(k->err), "%.900s: %.400s%s", k->path,
             m ? m : tt_strerror(rc),
             rc == TT_ERR_FULL || rc == TT_ERR_IO ? tt_store_full_hint(k->path) : "");
    return rc == TT_ERR_AGAIN || rc == TT_ERR_IO || rc == TT_ERR_NOMEM ||
           rc == TT_ERR_FULL ? TT_SINK_RETRY : TT_SINK_ERROR;
}

static const char *sqlite_errmsg(void *ctx)
{
    struct sqlite_sink *k = ctx;

    return k && k->err[0] ? k->err : NULL;
}

/* One transaction: spans, then counter deltas (d may be NULL) and process
 * counters. All or nothing. */
static int sqlite_tx(struct sqlite_sink *k, const struct tt_span *spans, size_t n,
                     const struct tt_sink_deltas *d,
                     const struct tt_proc_count *pc, size_t npc)
{
    struct tt_store *st = k->st;
    int64_t now = tt_now_ns();
    int rc;

    if (k->broken)
        return TT_SINK_RETRY;
    if ((rc = tt_store_begin(st)) != TT_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = tt_store_put_span(st, &spans[i])) != TT_OK)
            goto rollback;
#define ADD(c) \
    if (d && d->c && (rc = tt_store_add_counter(st, #c, d->c)) != TT_OK) \
        goto rollback;
    TT_SINK_COUNTER_NAMES(ADD)
#undef ADD
    for (size_t i = 0; i < npc; i++)
        if ((rc = tt_store_put_proc_count(st, pc[i].proc_id, pc[i].pid, pc[i].exe,
                                          pc[i].lost, pc[i].sampled_out,
                                          pc[i].reason, now)) != TT_OK)
            goto rollback;
    if ((rc = tt_store_commit(st)) != TT_OK)
        goto rollback;
    return TT_SINK_OK;
rollback:
    tt_store_rollback(st);
fail:
    return sink_rc(k, rc);
}

static int sqlite_write(void *ctx, const struct tt_span *spans, size_t n)
{
    return n == 0 ? TT_SINK_OK : sqlite_tx(ctx, spans, n, NULL, NULL, 0);
}

static int sqlite_counts(void *ctx, const struct tt_sink_deltas *d,
                         const struct tt_proc_count *pc, size_t npc)
{
    return sqlite_tx(ctx, NULL, 0, d, pc, npc);
}

static int sqlite_write_counts(void *ctx, const struct tt_span *spans, size_t n,
                               const struct tt_sink_deltas *d,
                               const struct tt_proc_count *pc, size_t npc)
{
    return sqlite_tx(ctx, spans, n, d, pc, npc);
}

static int sqlite_flush(void *ctx)
{
    (void)ctx;      /* every write commits */
    return TT_SINK_OK;
}

static void sqlite_exit(void *ctx)
{
    struct sqlite_sink *k = ctx;

    if (!k)
        return;
    tt_store_close(k->st);
    free(k);
}

const struct tt_sink_ops tt_sink_sqlite = {
    .name = "sqlite",
    .role = TT_SINK_PRIMARY,
    .init = sqlite_init,
    .write = sqlite_write,
    .counts = sqlite_counts,
    .write_counts = sqlite_write_counts,
    .flush = sqlite_flush,
    .errmsg = sqlite_errmsg,
    .exit = sqlite_exit,
};
