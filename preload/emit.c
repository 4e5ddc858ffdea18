/* emit.c - the tail of every span (see emit.h). */
#include "emit.h"
#include "conversation.h"
#include "defer.h"
#include "deliver.h"
#include "price.h"
#include "proctree.h"
#include "redact.h"
#include "rt.h"
#include "spanfield.h"
#include "tt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

void tt_emit_process(struct tt_span *s)
{
    tt_sf_repair(s);
    tt_deliver_span(s);
}

void tt_emit_tool(struct tt_span *s)
{
    if (tt_redact_span(&tt_rt.redact, s) != TT_OK)
        tt_log("out of memory while redacting: content dropped from a span");
    tt_sf_repair(s);
    tt_deliver_span(s);
}

/* At exit, this process's span again with its real end time. */
static void emit_atexit(void)
{
    struct tt_span s;

    if (tt_rt_off)
        return;
    tt_rt_depth++;
    if (tt_proc_self_final(&s)) {
        tt_emit_process(&s);
        tt_span_clear(&s);
    }
    tt_rt_depth--;
}

/* The process spans of this process's tree, once per process (proctree
 * builds them, here they are sent); the exit hook is registered after
 * their delivery, so after deliver.c's (atexit handlers run in reverse
 * order: ours first, then the drain). */
static void emit_tree(void)
{
    static bool registered;
    struct tt_span tree[TT_PROC_MAX_DEPTH];
    size_t n = tt_proc_self_tree(tree, TT_PROC_MAX_DEPTH);

    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++) {
        tt_emit_process(&tree[i]);
        tt_span_clear(&tree[i]);
    }
    /* Inherited by a fork child, like the handler itself: one
     * registration serves every process (tt_proc_self_final says which
     * process's span is due). */
    if (!__atomic_exchange_n(&registered, true, __ATOMIC_ACQ_REL))
        atexit(emit_atexit);
}

#ifdef TT_PRELOAD
void tt_dlshim_warm(void);      /* dlshim.c (the preload's objects only) */
#endif

void tt_emit_flush(void)
{
    emit_tree();
    tt_deliver_flush();
}

static void emit_after_drain(void)
{
    /* What the worker holds back leaves now too (deliver.c). */
    if (__atomic_load_n(&tt_deliver_held_n, __ATOMIC_ACQUIRE) > 0)
        tt_deliver_release_held();
    tt_emit_flush_pending();
}

void tt_emit_warm(void)
{
    static unsigned warm_gen = ~0u;

    if (__atomic_load_n(&warm_gen, __ATOMIC_ACQUIRE) == tt_rt_fork_gen)
        return;
    char id[17];

    tt_defer_set_after(emit_after_drain);
    (void)tt_price_overrides();
    /* This process's spans (read from /proc), and the daemon's connection
     * made, here on the program's thread. */
    (void)tt_proc_self(id);
    emit_tree();
    tt_deliver_prepare();
#ifdef TT_PRELOAD
    tt_dlshim_warm();
#endif
    __atomic_store_n(&warm_gen, tt_rt_fork_gen, __ATOMIC_RELEASE);
}

void tt_emit_llm(struct tt_span *s)
{
    struct tt_span tools[TT_CONV_MAX_TOOLS];
    size_t n = 0;

    /* Built from /proc: on the program's thread only (tt_emit_flush). */
    if (!tt_defer_is_worker())
        emit_tree();
    tt_price_apply(s);
    /* Before redaction: the request's messages are compared with earlier
     * answers as sent (conversation.h). */
    tt_conv_span(s, tools, TT_CONV_MAX_TOOLS, &n);
    if (tt_redact_span(&tt_rt.redact, s) != TT_OK)
        tt_log("out of memory while redacting: content dropped from a span");
    tt_sf_repair(s);
    /* The tool spans first: they ended before this call started. */
    for (size_t i = 0; i < n; i++) {
        tt_emit_tool(&tools[i]);
        tt_span_clear(&tools[i]);
    }
    tt_deliver_span(s);
}
