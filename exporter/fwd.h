/* fwd.h - forwarding spans to a remote store, at least once.
 *
 * The OTLP and ClickHouse sinks are two encoders over this one queue. Spans
 * are encoded to records (one line of text each) and written to a queue
 * directory on disk before anything is sent; a sender thread posts the
 * oldest records in batches and deletes a file only once its batch got an
 * answer that settles it:
 *
 *   sent      2xx: gone (a partial success counts its rejected records)
 *   drop      an answer that retrying cannot change (OTLP: 400 and any
 *             status but 429/502/503/504): gone, counted as dropped
 *   retry     no answer, or 429/502/503/504: the batch stays; the next try
 *             waits an exponential backoff with jitter, or Retry-After
 *
 * Staging: tokentapd writes a batch to its forwarders before the primary
 * store commits it (tt_fwd_stage), and settles the staged files after
 * (tt_fwd_commit): renamed into the queue if the store took the batch,
 * deleted if it did not (the client will send it again). A daemon killed
 * in between leaves staged files, which the next start queues: a batch is
 * then forwarded twice, never zero times. Remote stores dedupe by span_id
 * (ClickHouse: ReplacingMergeTree); OTLP backends see a duplicate span.
 *
 * The queue is bounded (bytes on disk): past the bound the OLDEST files
 * are deleted and their records counted as queue_dropped. Files are 0600
 * in a 0700 directory, named <epoch-ns>-<pid>-<seq>.q so that the name
 * order is the arrival order. */
#ifndef TT_FWD_H
#define TT_FWD_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

enum tt_fwd_verdict { TT_FWD_SENT, TT_FWD_RETRY, TT_FWD_DROP };

struct tt_fwd_outcome {
    enum tt_fwd_verdict v;
    int64_t retry_after_ms;   /* RETRY: the server's Retry-After, or -1 */
    uint64_t rejected;        /* SENT: records the server refused (partial) */
    char why[256];            /* RETRY/DROP (and partial SENT): for the log */
};

/* Post one batch: nrec records, each a line ending in '\n', in recs[0..len).
 * Must fill *o. Called on the sender thread only. */
typedef void (*tt_fwd_send_fn)(void *ctx, const char *recs, size_t len, size_t nrec,
                               long timeout_ms, struct tt_fwd_outcome *o);

struct tt_fwd_cfg {
    const char *name;           /* "otlp", "clickhouse": logs and counters */
    char dir[PATH_MAX];         /* the queue directory (created 0700) */
    size_t batch_max;           /* records per request (>= 1) */
    uint64_t queue_max_bytes;   /* bound of the queue on disk */
    int64_t backoff_ms;         /* first retry delay */
    int64_t backoff_max_ms;     /* cap of the delay (Retry-After may exceed it) */
    long timeout_ms;            /* per request */
    bool sender;                /* start the sender thread (not in --ingest-spool) */
    tt_fwd_send_fn send;
    void *ctx;
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

/* Counters since the last tt_fwd_take (records). */
struct tt_fwd_stats {
    uint64_t sent;
    uint64_t dropped;           /* refused by the server for good */
    uint64_t queue_dropped;     /* deleted unsent: queue bound, or unwritable */
    uint64_t retries;           /* requests that will be tried again */
};

struct tt_fwd;

/* Create the queue directory, queue leftovers of a previous run (staged
 * files), start the sender if cfg->sender. NULL on failure (logged). */
struct tt_fwd *tt_fwd_open(const struct tt_fwd_cfg *cfg);

/* Write nrec records (lines) as one staged file; at most batch_max records
 * per call. On failure the records are counted as queue_dropped. */
int tt_fwd_stage(struct tt_fwd *f, const char *recs, size_t len, size_t nrec) TT_WUR;
/* Settle every staged file: queue it (ok) or delete it; wake the sender. */
void tt_fwd_commit(struct tt_fwd *f, bool ok);

/* Add the counters since the last call to *d and reset them. */
void tt_fwd_take(struct tt_fwd *f, struct tt_fwd_stats *d);

/* Records and files waiting in a queue directory (for `tokentap stats`). */
void tt_fwd_queue_size(const char *dir, uint64_t *files, uint64_t *records, uint64_t *bytes);

/* Stop: the sender keeps sending until the queue is empty or timeout_ms
 * passed; what is left stays on disk for the next start. tt_fwd_take
 * still works after it. Idempotent; NULL-safe. */
void tt_fwd_stop(struct tt_fwd *f, long timeout_ms);
/* Stop (timeout 0 if not stopped yet) and free. NULL-safe. */
void tt_fwd_close(struct tt_fwd *f);

/* The delay before retry number `attempt` (0-based): backoff_ms * 2^attempt
 * capped at backoff_max_ms, times a jitter factor in [0.5, 1.0] from r in
 * [0, 1); a Retry-After of retry_after_ms >= 0 is honoured as a floor.
 * Never less than 1 ms. */
int64_t tt_fwd_backoff(int64_t backoff_ms, int64_t backoff_max_ms, unsigned attempt,
                       double r, int64_t retry_after_ms);

/* The queue directory of a forwarder: $TOKENTAP_FORWARD_DIR/<name>, else
 * <tokentap home>/forward/<name>. */
int tt_fwd_default_dir(const char *name, char *buf, size_t n) TT_WUR;

#endif
