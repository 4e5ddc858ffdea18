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
 * exit (atexit) with its real end time. LLM spans take their process's
 * span id as parent_id. */
#ifndef TT_PROCTREE_H
#define TT_PROCTREE_H

#include <stdbool.h>
#include <stdint.h>

/* The span id of process (pid, start ticks: field 22 of /proc/pid/stat)
 * in trace_id: the first 16 hex digits of FNV-1a 64 over the three. */
void tt_proc_span_id(const char *trace_id, int64_t pid, uint64_t start_ticks,
                     char *out /* 17 */);

/* This process's span id in out (17 bytes), emitting the process spans
 * the first time in this process. false when /proc cannot tell (out then
 * untouched: LLM spans keep the TRACEPARENT parent). Thread-safe. */
bool tt_proc_self(char *out);

/* Another process's span id in trace (32 hex) in out (17 bytes): the
 * gateway's caller (tokentap gateway). Its process spans, and its ancestors' up to
 * TOKENTAP_RUN_PID, are emitted the first time that process is seen
 * (a small cache keyed by pid and start time), since no preload in it
 * will. false when /proc cannot tell. Thread-safe. */
bool tt_proc_of(const char *trace, int64_t pid, char *out);


#endif
