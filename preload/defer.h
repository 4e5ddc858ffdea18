/* defer.h - span work off the program's thread (issue #14).
 *
 * The hooks run on the program's threads: what they do there is time the
 * program waits. So an exchange's heavy steps (the request body parsed,
 * the response decoded and parsed, the span priced, linked, redacted,
 * encoded and delivered) are queued as ops and run by one worker thread
 * per process, in the order the hooks queued them; the hook copies the
 * bytes and a timestamp and returns. The framing (HTTP/1.1, HTTP/2,
 * libcurl's callbacks) stays on the program's thread: it decides what the
 * bytes are and is cheap.
 *
 * Guarantees, so that moving the work changes no outcome:
 *   - Order: one executor at a time (the worker, or a thread that helps),
 *     ops in queue order. An exchange's ops never run concurrently.
 *   - Memory: queued bytes above TT_DEFER_MAX_BYTES make the queuing
 *     thread run the queue down to half of that itself (back-pressure;
 *     nothing dropped).
 *   - A completed call's span leaves the process before the program's
 *     next output: the libc write hooks call tt_defer_barrier() when
 *     tt_rt_spans_owed (rt.h) is non-zero, which runs the queue up to
 *     the last queued end on the calling thread. exit (deliver.c's exit
 *     handler), _exit and exec drain the queue the same way. A program
 *     killed by SIGKILL after printing that a call returned has its span
 *     stored, as when everything ran on its thread.
 *   - A span's end runs TT_DEFER_END_MS after it was queued, not at
 *     once (unless TT_DEFER_WAKE_BYTES are queued, or a barrier or drain
 *     asks): the moment an answer ends is when a program sends its next
 *     request, and the span's work (and tokentapd storing it) would take
 *     the CPU that request's way to the server needs (2 cores, back to
 *     back Python streams: +233..+261 µs on the next stream's time to
 *     first token with the end run at once, +45..+87 with it 10 ms
 *     later). Nothing waits on it but the guarantees above, which run it
 *     on the thread that needs it (a line printed right after a call:
 *     +236..+249 µs on that write when it waited for the worker already
 *     at work, +151..+158 running it itself).
 *   - The worker blocks every signal (signals stay the program's), runs
 *     with the hooks' guard raised (its own I/O is never captured), is
 *     woken for a span's end (when it is due) or every
 *     TT_DEFER_WAKE_BYTES, ticks every
 *     TT_DEFER_TICK_MS while a stream is under way (tt_defer_live), and
 *     exits after TT_DEFER_IDLE_MS without work; it is started with the
 *     first queued op, so a process that never makes an LLM call never
 *     has it (DESIGN.md). A fork child drops the parent's queue (the
 *     parent's worker delivers it) and starts its own worker when needed.
 *
 * Off (everything runs inline, as before) in tokentapd, the CLI, the
 * gateway and the unit tests unless they call tt_defer_set(true), and in
 * the preload under TOKENTAP_WORKER=off. */
#ifndef TT_DEFER_H
#define TT_DEFER_H

#include <stdbool.h>
#include <stddef.h>

#define TT_DEFER_MAX_BYTES (1u << 20)
#define TT_DEFER_IDLE_MS 2000
#define TT_DEFER_WAKE_BYTES (64u << 10)
#define TT_DEFER_TICK_MS 5
#define TT_DEFER_END_MS 10
#define TT_DEFER_TICK_IDLE 200      /* ticks without an op: stop ticking */

struct tt_defer_op {
    struct tt_defer_op *next;
    /* Does the work and frees the op. */
    void (*run)(struct tt_defer_op *op);
    size_t bytes;           /* counted against TT_DEFER_MAX_BYTES */
    bool end;               /* finishes a span (tt_rt_spans_owed) */
};

/* A streamed answer under way (+1: its head was queued) or over (-1: its
 * end, or the exchange's free, was queued). While one is, the sleeping
 * worker looks at the queue every TT_DEFER_TICK_MS without being woken
 * (the first stream wakes a worker in its idle sleep once): the events
 * are parsed as they arrive, in the gaps between them, not all at the
 * stream's end, where that work meets the program's next request (bench
 * fig 3). No wake-up system call on the program's thread per event. A
 * no-op when deferral is off. */
void tt_defer_live(int delta);

/* Whether ops are queued in this process (else callers run them inline). */
bool tt_defer_on(void);

/* Switch deferral on or off for the process (the preload's core turns it
 * on when loaded, unless TOKENTAP_WORKER=off; tests). Turning it off
 * drains the queue first. */
void tt_defer_set(bool on);

/* Queue op (ownership passes). If the worker cannot be started, or the
 * queue is over its byte bound, the calling thread runs the queue (op
 * included) itself. The caller must be inside the hooks' guard
 * (tt_rt_depth > 0). */
void tt_defer_push(struct tt_defer_op *op);

/* True on the worker thread (deliver.c: no descriptor work there). */
bool tt_defer_is_worker(void);

/* Run every queued op on the calling thread (exit, _exit, exec, tests),
 * then the after function (emit.c: what the ops finished leaves the
 * process). */
void tt_defer_drain(void);

/* Run the queue on the calling thread until no queued op ends a span,
 * then the after function (the write hooks: a finished call's span leaves
 * before the program's next output). */
void tt_defer_barrier(void);

/* What drain and barrier run last, on the calling (program) thread. */
void tt_defer_set_after(void (*fn)(void));

/* What the worker runs each time its queue is empty, before it sleeps
 * (without the queue's lock): fn returns how many milliseconds until it
 * wants to run again (0: nothing pending), and the worker wakes by then
 * even with nothing queued, and does not leave while fn has something
 * pending. deliver.c holds frames back there (TT_DELIVER_LINGER_MS). */
void tt_defer_set_idle(unsigned (*fn)(void));

#endif
