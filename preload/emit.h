/* emit.h - the one tail every finished span goes through.
 *
 * Whoever finishes a span (the exchange for an LLM call, the conversation
 * for a tool span, the process tree for process spans) hands it here, and
 * only here does anything leave the process:
 *
 *   LLM span:      process tree (first call of the process) -> price ->
 *                  conversation (and the tool spans it completes) ->
 *                  redact -> repair -> deliver
 *   tool span:     redact -> repair -> deliver
 *   process span:  repair -> deliver
 *
 * The caller keeps ownership of the span (it is not freed here). The
 * stage also owns the exit hook that re-sends this process's span with its
 * real end time (registered after the first delivery, so that it runs
 * before deliver.c's own exit drain). Nothing fails visibly: a field lost
 * to memory is logged and the span still goes out (error convention:
 * docs/INTERNALS.md). */
#ifndef TT_EMIT_H
#define TT_EMIT_H

#include "deliver.h"

#include "span.h"

/* A finished LLM span (identity set: trace, span and parent ids, pid,
 * exe): price, conversation, redact, repair, deliver. */
void tt_emit_llm(struct tt_span *s);

/* A tool span rebuilt by the conversation (identity copied from the call
 * that completed it): redact, repair, deliver. */
void tt_emit_tool(struct tt_span *s);

/* A process span (proctree.c): repair, deliver. */
void tt_emit_process(struct tt_span *s);

/* On the program's thread, before a span's work is first queued for the
 * capture worker in this process (defer.h): what the tail will need that
 * opens, reads or closes a descriptor is done now (the price file, this
 * process's spans from /proc, the decoders' libraries), so the worker
 * never touches one (deliver.h). Once per process; cheap afterwards. */
void tt_emit_warm(void);

/* Send the spans the capture worker finished (deliver.h's outbox), after
 * this process's own spans if not sent yet. On a program thread: the
 * capture hooks, the write barrier, exit. */
void tt_emit_flush(void);

static inline void tt_emit_flush_pending(void)
{
    if (__builtin_expect(__atomic_load_n(&tt_deliver_outbox_n, __ATOMIC_RELAXED) > 0, 0))
        tt_emit_flush();
}

#endif
