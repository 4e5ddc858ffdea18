/* deliver.h - hand finished spans to tokentapd, or to the spool.
 *
 * A span is encoded and written to the daemon's socket as soon as its call
 * completes (programs that leave by _exit lose nothing that was written).
 * Frames stay in memory until the daemon acknowledges them (after its
 * commit); when the daemon is unreachable or the connection breaks, the
 * frame and every unacknowledged one go to the spool directory, which the
 * daemon ingests later. Nothing here blocks for more than a short, bounded
 * time, and nothing raises SIGPIPE. Counters say what could not be kept. */
#ifndef TT_DELIVER_H
#define TT_DELIVER_H

#include <stdint.h>

#include "span.h"

/* Encode and deliver one finished span. Never fails visibly: problems are
 * counted and logged once. The span is not modified or freed.
 *
 * On the capture worker (defer.h) the span is encoded there and sent on
 * the daemon's connection while it is up and still ours (its number
 * checked by identity under ownfd's lock, which a hooked close waits
 * for). Everything that creates, closes or spools a descriptor happens on
 * the program's own threads, inside a hook: the connection is made by
 * tt_deliver_prepare before any work is queued, and a frame the worker
 * cannot send waits in an outbox for tt_deliver_flush (the capture hooks,
 * the write barrier, exit, _exit, exec), so the worker never opens or
 * closes a number a program could be reusing (issue #9). */
void tt_deliver_span(const struct tt_span *s);

/* Connect to the daemon now, on the program's thread (before the first
 * span's work is queued for the worker). */
void tt_deliver_prepare(void);

/* Frames waiting in the outbox (a cheap test for the hooks). */
extern volatile int tt_deliver_outbox_n;

/* Send what waits in the outbox. On a program thread only. */
void tt_deliver_flush(void);

/* Frames the worker holds back (deliver.c), and their release to the
 * outbox (a drain, exit, exec, the output barrier: emit.c). */
extern volatile int tt_deliver_held_n;
void tt_deliver_release_held(void);

static inline void tt_deliver_flush_pending(void)
{
    if (__builtin_expect(__atomic_load_n(&tt_deliver_outbox_n, __ATOMIC_RELAXED) > 0, 0))
        tt_deliver_flush();
}

struct tt_deliver_stats {
    uint64_t spans;           /* handed to tt_deliver_span */
    uint64_t sent;            /* frames written to the socket */
    uint64_t acked;           /* frames the daemon confirmed */
    uint64_t spooled;         /* frames written to the spool */
    uint64_t lost;            /* spans neither sent nor spooled */
    uint64_t rejected;        /* spans the daemon refused (it counts them) */
    uint64_t sampled_out;     /* calls skipped by TOKENTAP_SAMPLE_RATE */
};
void tt_deliver_stats(struct tt_deliver_stats *out);

/* A call was not traced because of TOKENTAP_SAMPLE_RATE: count it (the
 * count reaches the store like a span, in a "count" frame). */
void tt_deliver_sampled_out(void);

#endif
