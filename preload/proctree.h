/* proctree.h - process spans: the process tree of a `tokentap run`.
 *
 * On its first LLM call (never before: a process that makes no call costs
 * nothing) a traced process emits one span of kind "process" for itself
 * and for each ancestor up to the process whose pid is TOKENTAP_RUN_PID
 * (the command `tokentap run` started), stopping early at pid 1 or at an
 * ancestor it cannot read; without TOKENTAP_RUN_PID only itself.
 *
 * Span ids are deterministic, tt_proc_span_id(trace, pid, start ticks),
 * so descendants emitting the same ancestor write the same row. The parent
 * of a process span is its parent process's span; the topmost one's is
 * the span in TRACEPARENT (the run span). name "process <argv0 basename>"
 * (+ " <script basename>" for an interpreter: "process python3 agent.py"),
 * exe, pid; start_time the process's start (btime + starttime/CLK_TCK),
 * end_time the emission time. A process's own span is emitted again at
 * exit (emit.c's exit hook) with its real end time. LLM spans take their
 * process's span id as parent_id.
 *
 * This module builds spans; it sends only through the emit stage
 * (emit.h): this process's tree is taken by tt_emit_llm with
 * tt_proc_self_tree, the gateway's callers' trees by tt_proc_of. */
#ifndef TT_PROCTREE_H
#define TT_PROCTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

#define TT_PROC_MAX_DEPTH 32      /* ancestors followed */

/* The span id of process (pid, start ticks: field 22 of /proc/pid/stat)
 * in trace_id: the first 16 hex digits of FNV-1a 64 over the three. */
void tt_proc_span_id(const char *trace_id, int64_t pid, uint64_t start_ticks,
                     char *out /* 17 */);

/* This process's span id in out (17 bytes): a getter (reads /proc the
 * first time in a process, sends nothing). false when /proc cannot tell
 * (out then untouched: LLM spans keep the TRACEPARENT parent).
 * Thread-safe. */
bool tt_proc_self(char *out);

/* The process spans of this process and its ancestors (the topmost
 * first), once per process: the first caller gets them in out[0..n) (n
 * returned, each to tt_span_clear), later callers 0. Thread-safe. */
size_t tt_proc_self_tree(struct tt_span *out, size_t max);

/* This process's span with its end time now, for the exit hook: true
 * only in the process whose tree was taken (out to tt_span_clear). */
bool tt_proc_self_final(struct tt_span *out);

/* Another process's span id in trace (32 hex) in out (17 bytes): the
 * gateway's caller (tokentap gateway). Its process spans, and its ancestors' up to
 * TOKENTAP_RUN_PID, are emitted the first time that process is seen
 * (a small cache keyed by pid and start time), since no preload in it
 * will (through tt_emit_process). false when /proc cannot tell.
 * Thread-safe. */
bool tt_proc_of(const char *trace, int64_t pid, char *out);


#endif
