/* sink_sqlite.c - the primary sink: the SQLite store, one transaction per
 * batch (one fsync-worthy commit for many spans). */
#include "sink.h"

#include <stdio.h>

#include "store.h"
#include "tt.h"

static int sqlite_init(void **ctx, const struct tt_sink_config *cfg)
{
    struct tt_store *st = NULL;

    *ctx = NULL;
    if (!cfg->db_path)
        return TT_SINK_ERROR;
    if (tt_store_open(cfg->db_path, false, &st) != TT_OK)
        return TT_SINK_ERROR;
    *ctx = st;
    return TT_SINK_OK;
}

/* Busy/locked, or I/O (disk full): both may clear up; the client keeps or
 * spools the frame. Only OOM-free logic errors would be permanent, and
 * validated spans should not cause them. */
static int sink_rc(int rc)
{
    return rc == TT_ERR_AGAIN || rc == TT_ERR_IO || rc == TT_ERR_NOMEM
               ? TT_SINK_RETRY : TT_SINK_ERROR;
}

static int sqlite_write(void *ctx, const struct tt_span *spans, size_t n)
{
    struct tt_store *st = ctx;
    int rc;

    if (n == 0)
        return TT_SINK_OK;
    if ((rc = tt_store_begin(st)) != TT_OK)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if ((rc = tt_store_put_span(st, &spans[i])) != TT_OK)
            goto rollback;
    if ((rc = tt_store_commit(st)) != TT_OK)
        goto rollback;
    return TT_SINK_OK;
rollback:
    tt_store_rollback(st);
fail:
    return sink_rc(rc);
}

static int sqlite_counts(void *ctx, const struct tt_sink_deltas *d,
                         const struct tt_proc_count *pc, size_t npc)
{
    struct tt_store *st = ctx;
    int64_t now = tt_now_ns();
    int rc;

    if ((rc = tt_store_begin(st)) != TT_OK)
        goto fail;
#define ADD(n) \
    if (d->n && (rc = tt_store_add_counter(st, #n, d->n)) != TT_OK) \
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
    return sink_rc(rc);
}

static int sqlite_flush(void *ctx)
{
    (void)ctx;      /* every write commits */
    return TT_SINK_OK;
}

static void sqlite_exit(void *ctx)
{
    tt_store_close(ctx);
}

const struct tt_sink_ops tt_sink_sqlite = {
    .name = "sqlite",
    .init = sqlite_init,
    .write = sqlite_write,
    .counts = sqlite_counts,
    .flush = sqlite_flush,
    .exit = sqlite_exit,
};
