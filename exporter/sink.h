/* sink.h - where tokentapd writes spans (fluent-bit's out_* plugin shape).
 *
 * A sink is a table of callbacks with designated initializers:
 *
 *   const struct tt_sink_ops tt_sink_foo = {
 *       .name = "foo", .init = foo_init, .write = foo_write,
 *       .flush = foo_flush, .exit = foo_exit,
 *   };
 *
 * write() receives a batch of validated spans (owned by the caller, valid
 * only during the call) and must make it durable, or fail as a whole:
 * TT_SINK_OK (all stored), TT_SINK_RETRY (nothing stored, transient: busy
 * database, full disk...), TT_SINK_ERROR (nothing stored, will not get
 * better by retrying). Writing the same span twice must be harmless: spans
 * are idempotent by span_id. The daemon acknowledges a frame only after the
 * primary sink (sqlite) returned TT_SINK_OK; other sinks are best effort. */
#ifndef TT_SINK_H
#define TT_SINK_H

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
};

struct tt_sink_ops {
    const char *name;
    /* Allocate the sink's context into *ctx. */
    int (*init)(void **ctx, const struct tt_sink_config *cfg);
    int (*write)(void *ctx, const struct tt_span *spans, size_t n);
    /* Push buffered data down (called on idle ticks and before exit). */
    int (*flush)(void *ctx);
    /* Release ctx; NULL-safe. */
    void (*exit)(void *ctx);
};

extern const struct tt_sink_ops tt_sink_sqlite;
extern const struct tt_sink_ops tt_sink_jsonl;

#endif
