/* ttd_sinks.c - tokentapd's sink registry (ttd.h, sink.h).
 *
 * Which sinks run: the primary store (sqlite) always, the jsonl copy when
 * TOKENTAP_JSONL is set, each forwarder when the environment configures it
 * (OTLP, ClickHouse). What the daemon does with one follows its role
 * (tt_sink_ops.role), not its place in the list: forwarders stage a batch
 * before the primary writes it and settle it after; copies get the batch
 * once the primary stored it; the acks wait for the primary alone. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ttd.h"

__attribute__((format(printf, 1, 2)))
static void ttd_log_quiet(const char *fmt, ...)
{
    (void)fmt;
}

static bool want_always(const struct tt_sink_config *cfg)
{
    (void)cfg;
    return true;
}

static bool want_jsonl(const struct tt_sink_config *cfg)
{
    return cfg->jsonl_path && *cfg->jsonl_path;
}

static bool want_otlp(const struct tt_sink_config *cfg)
{
    (void)cfg;
    return tt_sink_otlp_wanted();
}

static bool want_clickhouse(const struct tt_sink_config *cfg)
{
    (void)cfg;
    return tt_sink_clickhouse_wanted();
}

/* Every sink the daemon knows, and when it runs. The order is only the
 * order of opening (and of the copies' and forwarders' writes). */
static const struct {
    const struct tt_sink_ops *ops;
    bool (*wanted)(const struct tt_sink_config *cfg);
} ttd_sink_table[] = {
    { &tt_sink_sqlite, want_always },
    { &tt_sink_jsonl, want_jsonl },
    { &tt_sink_otlp, want_otlp },
    { &tt_sink_clickhouse, want_clickhouse },
};

static bool is_fwd(const struct ttd_sink *s)
{
    return s->ops->role == TT_SINK_FORWARDER;
}

int ttd_sinks_write(struct ttd *d, const struct tt_span *b, size_t n,
                    const struct tt_sink_deltas *delta,
                    const struct tt_proc_count *pc, size_t npc)
{
    struct ttd_sink *prim = d->primary;
    const struct tt_sink_ops *p = prim->ops;
    int rc = TT_SINK_OK;

    /* Forwarders stage the batch first (sink.h: at least once). */
    for (size_t i = 0; n > 0 && i < d->nsinks; i++)
        if (is_fwd(&d->sinks[i]))
            (void)d->sinks[i].ops->write(d->sinks[i].ctx, b, n);
    bool with_counts = p->counts && (npc > 0 || !ttd_deltas_zero(delta));
    bool together = n > 0 && with_counts && p->write_counts;

    if (together)
        rc = p->write_counts(prim->ctx, b, n, delta, pc, npc);
    else if (n > 0)
        rc = p->write(prim->ctx, b, n);
    for (size_t i = 0; n > 0 && i < d->nsinks; i++)
        if (is_fwd(&d->sinks[i]))
            d->sinks[i].ops->fwd->commit(d->sinks[i].ctx, rc == TT_SINK_OK);
    if (rc != TT_SINK_OK) {
        ttd_log("sink %s: write of %zu spans failed (%s)", p->name, n,
                rc == TT_SINK_RETRY ? "retry" : "error");
        return rc;
    }
    if (with_counts && !together &&
        (rc = p->counts(prim->ctx, delta, pc, npc)) != TT_SINK_OK) {
        ttd_log("sink %s: write of counters failed (%s)", p->name,
                rc == TT_SINK_RETRY ? "retry" : "error");
        return rc;
    }
    if (n == 0)
        return rc;
    for (size_t i = 0; i < d->nsinks; i++)
        if (d->sinks[i].ops->role == TT_SINK_COPY &&
            d->sinks[i].ops->write(d->sinks[i].ctx, b, n) != TT_SINK_OK)
            ttd_log("sink %s: write of %zu spans failed", d->sinks[i].ops->name, n);
    return rc;
}

const char *ttd_sinks_errmsg(struct ttd *d)
{
    const struct ttd_sink *prim = d->primary;

    return prim && prim->ops->errmsg ? prim->ops->errmsg(prim->ctx) : NULL;
}

void ttd_flush_sinks(struct ttd *d)
{
    (void)ttd_complete(d, true);    /* the writer must not be in a sink */
    for (size_t i = 0; i < d->nsinks; i++)
        if (d->sinks[i].ops->flush)
            (void)d->sinks[i].ops->flush(d->sinks[i].ctx);
}

/* Loop thread only (d->delta is its own). */
void ttd_take_counts(struct ttd *d)
{
    for (size_t i = 0; i < d->nsinks; i++)
        if (is_fwd(&d->sinks[i]))
            d->sinks[i].ops->fwd->take(d->sinks[i].ctx, &d->delta);
}

/* Open the wanted sinks of the table whose role is (forwarders) or is not
 * (the others) TT_SINK_FORWARDER. */
static void open_role(struct ttd *d, const struct tt_sink_config *cfg, bool fwd)
{
    for (size_t i = 0; i < sizeof(ttd_sink_table) / sizeof(ttd_sink_table[0]); i++) {
        const struct tt_sink_ops *ops = ttd_sink_table[i].ops;
        void *ctx = NULL;
        if ((ops->role == TT_SINK_FORWARDER) != fwd || !ttd_sink_table[i].wanted(cfg))
            continue;
        if (d->nsinks == sizeof(d->sinks) / sizeof(d->sinks[0])) {
            ttd_log("sink %s: too many sinks, not started", ops->name);
            continue;
        }
        if (ops->init(&ctx, cfg) != TT_SINK_OK) {
            if (fwd)
                ttd_log("sink %s: cannot start: spans are stored locally but NOT "
                        "forwarded", ops->name);
            else
                ttd_log("sink %s: cannot start", ops->name);
            if (ops->role == TT_SINK_PRIMARY)
                return;         /* no primary store, no acks: give up */
            continue;
        }
        d->sinks[d->nsinks] = (struct ttd_sink){ ops, ctx };
        if (ops->role == TT_SINK_PRIMARY && !d->primary)
            d->primary = &d->sinks[d->nsinks];
        d->nsinks++;
    }
}

int ttd_open_sinks(struct ttd *d)
{
    struct tt_sink_config cfg = {
        .db_path = d->db_path,
        .jsonl_path = getenv("TOKENTAP_JSONL"),
        .log = ttd_log,
    };

    open_role(d, &cfg, false);
    return d->primary ? 0 : -1;
}

/* The forwarders start threads: after daemonize()'s fork. Without a
 * sender (--ingest-spool), they only queue what they are given, for the
 * daemon to send. A forwarder that cannot start is logged; the store and
 * the other sinks go on. */
void ttd_open_forwarders(struct ttd *d, bool sender)
{
    struct tt_sink_config cfg = {
        .db_path = d->db_path,
        .no_sender = !sender,
        .log = sender ? ttd_log : ttd_log_quiet,
    };

    open_role(d, &cfg, true);
}

void ttd_close_sinks(struct ttd *d)
{
    struct ttd_sink *prim = d->primary;

    ttd_writer_stop(d);
    ttd_flush_sinks(d);
    for (size_t i = 0; i < d->nsinks; i++)
        if (is_fwd(&d->sinks[i]))
            d->sinks[i].ops->fwd->stop(d->sinks[i].ctx);
    /* The forwarders' last counters, made durable by the primary. */
    ttd_take_counts(d);
    if (prim && prim->ops->counts && !ttd_deltas_zero(&d->delta) &&
        prim->ops->counts(prim->ctx, &d->delta, NULL, 0) == TT_SINK_OK)
        memset(&d->delta, 0, sizeof(d->delta));
    for (size_t i = 0; i < d->nsinks; i++)
        d->sinks[i].ops->exit(d->sinks[i].ctx);
    d->nsinks = 0;
    d->primary = NULL;
}
