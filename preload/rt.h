/* rt.h - the preload's runtime: configuration, the per-thread guard,
 * fork detection, logging, identity of the traced process.
 *
 * Nothing here runs before the first LLM-looking connection except the
 * constructor, which only reads TOKENTAP_DISABLE (DESIGN.md: cost zero for
 * processes that never talk to an LLM). */
#ifndef TT_RT_H
#define TT_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

struct tt_rt_config {
    bool disabled;
    bool log;                       /* TOKENTAP_LOG != off */
    size_t max_body;                /* TOKENTAP_MAX_BODY, bytes per body */
    char socket_path[108];          /* TOKENTAP_SOCKET or default */
    char spool_dir[4096];           /* TOKENTAP_SPOOL or default */
    char trace_id[33];              /* from TRACEPARENT, else per process */
    char parent_id[17];             /* from TRACEPARENT, else "" */
    char *session_id;               /* TOKENTAP_SESSION_ID */
    char *tags;                     /* TOKENTAP_TAGS as a JSON object */
    char *exe;                      /* /proc/self/exe */
};

/* Filled by tt_rt_init(); read-only afterwards. */
extern struct tt_rt_config tt_rt;

/* Global kill switch, set by the constructor (TOKENTAP_DISABLE) or after an
 * internal failure that must stop tokentap for the whole process. */
extern volatile int tt_rt_off;

/* Per-thread depth: >0 while tokentap code or libcurl runs on this thread,
 * so hooks reached from inside stand down. initial-exec TLS (no malloc). */
extern __thread int tt_rt_depth __attribute__((tls_model("initial-exec")));

/* Initialise everything once (thread-safe). Returns false when tokentap
 * is disabled for this process. Also handles fork: a child re-initialises
 * its per-process state the first time it gets here. */
bool tt_rt_ready(void);

/* Hook entry/exit. tt_rt_enter() returns false (and the hook must only
 * call the real function) when disabled or already inside tokentap. */
static inline bool tt_rt_enter(void)
{
    if (tt_rt_off || tt_rt_depth > 0)
        return false;
    tt_rt_depth++;
    return true;
}
static inline void tt_rt_leave(void)
{
    tt_rt_depth--;
}

/* Fork generation: bumped in the child by the atfork handler. Modules that
 * keep per-process state (sockets, queues) compare it to their own copy. */
extern volatile unsigned tt_rt_fork_gen;

/* One line to stderr, "tokentap: ...", unless TOKENTAP_LOG=off. */
void tt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parse a W3C traceparent; on success fills trace (33) and parent (17). */
bool tt_rt_parse_traceparent(const char *tp, char *trace, char *parent);

#endif
