/* sink.h - where tokentapd writes spans (fluent-bit's out_* plugin shape).
 *
 * A sink is a table of callbacks with designated initializers:
 *
 *   const struct tt_sink_ops tt_sink_foo = {
 *       .name = "foo", .role = TT_SINK_COPY, .init = foo_init,
 *       .write = foo_write, .flush = foo_flush, .exit = foo_exit,
 *   };
 *
 * write() receives a batch of validated spans (owned by the caller, valid
 * only during the call) and must make it durable, or fail as a whole:
 * TT_SINK_OK (all stored), TT_SINK_RETRY (nothing stored, transient: busy
 * database, full disk...), TT_SINK_ERROR (nothing stored, will not get
 * better by retrying). Writing the same span twice must be harmless: spans
 * are idempotent by span_id.
 *
 * What the daemon does with a sink depends on its role (a field of the
 * table, not where it sits in the daemon's list: exporter/ttd_sinks.c):
 *   TT_SINK_PRIMARY    the store (sqlite). The daemon acknowledges a frame
 *                      only after the primary's write returned TT_SINK_OK;
 *                      it also makes the counters durable (counts).
 *   TT_SINK_COPY       best effort, written after the primary stored the
 *                      batch (jsonl).
 *   TT_SINK_FORWARDER  OTLP, ClickHouse (fwd.h): their write only stages
 *                      the batch on disk, before the primary writes it, and
 *                      their extension's commit settles it once the primary
 *                      answered (queued for sending if the primary stored
 *                      it, deleted if not). A daemon killed between the two
 *                      therefore forwards a batch twice at worst, never
 *                      zero times. */
#ifndef TT_SINK_H
#define TT_SINK_H

#include <stdbool.h>
#include <stddef.h>

#include "span.h"

enum tt_sink_rc {
    TT_SINK_OK = 0,
    TT_SINK_RETRY = -1,
    TT_SINK_ERROR = -2,
};

struct tt_sink_config {
    const char *db_path;      /* sqlite: the store (tt_store_default_path) */
    const char *jsonl_path;   /* jsonl: $TOKENTAP_JSONL */
    bool no_sender;           /* forwarders: queue only (tokentapd --ingest-spool) */
    /* Where a sink says what went wrong (never NULL; the daemon's log):
     * sinks do not print themselves (docs/INTERNALS.md, "Errors"). */
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

/* Counters that travel with a batch (the primary sink makes them durable
 * in the same way as spans): what tokentapd refused or dropped since the
 * last batch (deltas, added to the store's totals) and what traced
 * processes reported losing or sampling out (cumulative per process). */
#define TT_SINK_COUNTER_NAMES(X) \
    X(frames) X(bad_frames) X(spans_rejected) X(spool_files) \
    X(spool_frames_dropped) X(clients_refused) X(clients_dropped) \
    X(otlp_sent) X(otlp_dropped) X(otlp_queue_dropped) X(otlp_retries) \
    X(clickhouse_sent) X(clickhouse_dropped) X(clickhouse_queue_dropped) \
    X(clickhouse_retries)
struct tt_sink_deltas {
#define TT_SINK_FIELD(n) uint64_t n;
    TT_SINK_COUNTER_NAMES(TT_SINK_FIELD)
#undef TT_SINK_FIELD
};
struct tt_proc_count {
    char proc_id[33];         /* the process's random id (hex) */
    int64_t pid;
    char *exe;                /* owned, may be NULL */
    uint64_t lost;            /* spans the process could not deliver or spool */
    uint64_t sampled_out;     /* calls skipped by TOKENTAP_SAMPLE_RATE */
    char reason[96];          /* why the last span was lost, or "" */
};

enum tt_sink_role {
    TT_SINK_PRIMARY,
    TT_SINK_COPY,
    TT_SINK_FORWARDER,
};

/* What only forwarders have (role TT_SINK_FORWARDER). */
struct tt_sink_fwd_ops {
    /* Settle what write() staged, once the primary sink answered for the
     * same batch (ok: it stored it). */
    void (*commit)(void *ctx, bool ok);
    /* Add their counters since the last call to *d. */
    void (*take)(void *ctx, struct tt_sink_deltas *d);
    /* At exit: send what is queued within the shutdown timeout, then stop
     * sending (what is left stays queued on disk). take() still works
     * after it; the sink's exit() follows. */
    void (*stop)(void *ctx);
};

struct tt_sink_ops {
    const char *name;
    enum tt_sink_role role;
    /* Allocate the sink's context into *ctx. */
    int (*init)(void **ctx, const struct tt_sink_config *cfg);
    int (*write)(void *ctx, const struct tt_span *spans, size_t n);
    /* Primary sink only: make counters durable. Same return codes;
     * replays must be harmless (deltas are only passed once per success,
     * process counters are cumulative). */
    int (*counts)(void *ctx, const struct tt_sink_deltas *d,
                  const struct tt_proc_count *pc, size_t npc);
    /* Primary sink, optional: write and counts in one transaction (one
     * commit per batch instead of two: the store's commit is most of a
     * small batch's cost). All or nothing; same return codes. */
    int (*write_counts)(void *ctx, const struct tt_span *spans, size_t n,
                        const struct tt_sink_deltas *d,
                        const struct tt_proc_count *pc, size_t npc);
    /* Optional: push buffered data down (called on idle ticks and before
     * exit). */
    int (*flush)(void *ctx);
    /* Optional: what the last failed write or init ran into, in words a
     * user can act on (the file, the cause), or NULL. */
    const char *(*errmsg)(void *ctx);
    /* Release ctx; NULL-safe. */
    void (*exit)(void *ctx);
    /* Forwarders only (and never NULL for them): the extension. */
    const struct tt_sink_fwd_ops *fwd;
};

extern const struct tt_sink_ops tt_sink_sqlite;
extern const struct tt_sink_ops tt_sink_jsonl;
extern const struct tt_sink_ops tt_sink_otlp;        /* OTEL_EXPORTER_OTLP_* */
extern const struct tt_sink_ops tt_sink_clickhouse;  /* TOKENTAP_CLICKHOUSE_URL */

/* Is the forwarding sink configured by the environment? (OTLP: an endpoint
 * variable set, OTEL_TRACES_EXPORTER not "none", OTEL_SDK_DISABLED not
 * true; ClickHouse: TOKENTAP_CLICKHOUSE_URL set.) */
bool tt_sink_otlp_wanted(void);
bool tt_sink_clickhouse_wanted(void);

/* Queue spans that reached the store without tokentapd (the run span that
 * `tokentap run` writes itself) for every forwarder the environment names:
 * staged and committed in their queue directories, sent by the daemon's
 * sender (which looks at the queue every 2 s and at exit). */
void tt_sink_forward_direct(const struct tt_span *spans, size_t n);

#endif
