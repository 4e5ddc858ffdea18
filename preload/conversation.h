/* conversation.h - conversations and tool spans rebuilt from the wire.
 *
 * LLM APIs are stateless: an agent sends the whole history every call. A
 * process's calls are seen in order, so a call whose messages EXTEND an
 * earlier call's (that call's messages are a prefix of the new ones, then
 * comes the assistant message the earlier call answered, then new
 * user/tool messages) continues that call's conversation and gets its
 * conversation_id; any other call starts a new one (16 random hex).
 *
 * Messages are compared by a hash of a canonical form: role, text content
 * (string content, or the text of text/input_text/output_text blocks) and
 * the tool call ids it carries (OpenAI chat tool_calls[].id and role
 * "tool" tool_call_id; Anthropic tool_use.id and tool_result.tool_use_id;
 * Responses function_call / function_call_output call_id). Consecutive
 * assistant items merge into one message (the Responses API sends an
 * answer's text and function calls as separate items).
 *
 * A tool call an answer requested (span tool_calls) and a later request
 * answered (a tool result with its id) becomes a span of kind "tool",
 * emitted when the answering request is seen: name "tool <name>",
 * operation "execute_tool", from the end of the requesting call to the
 * start of the answering one, input {"name":..,"arguments":..} (arguments
 * as the model sent them) and output the result content as sent (JSON
 * string or array), both only with content capture on. Calls never
 * answered make no span.
 *
 * Works from a finished span's input / output / tool_calls, i.e. only
 * with content capture on: with TOKENTAP_CAPTURE_CONTENT=off the call
 * has no conversation_id and makes no tool spans.
 *
 * State is bounded: the last TT_CONV_SLOTS conversations, each with its
 * latest call's message hashes (at most TT_CONV_MAX_TURNS) and at most
 * TT_CONV_MAX_PENDING unanswered tool calls. */
#ifndef TT_CONVERSATION_H
#define TT_CONVERSATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

#define TT_CONV_SLOTS 8
#define TT_CONV_MAX_TURNS 1024
#define TT_CONV_MAX_PENDING 32
#define TT_CONV_MAX_TOOLS 16      /* tool spans one call can complete */

struct tt_conv_pending {
    char *id;                     /* tool call id */
    char *name;
    char *arguments;              /* JSON text of the arguments value */
    int64_t requested;            /* end of the call that requested it */
};

struct tt_conv_entry {
    char id[17];                  /* conversation_id; "" = free slot */
    uint64_t *turns;              /* message hashes of the latest call */
    size_t nturns;
    uint64_t answer;              /* hash of that call's answer */
    struct tt_conv_pending pending[TT_CONV_MAX_PENDING];
    size_t npending;
    uint64_t used;                /* LRU clock */
};

/* One process's conversations. Not locked: the caller serialises (the
 * preload's instance is behind tt_conv_span's mutex). */
struct tt_conv {
    struct tt_conv_entry e[TT_CONV_SLOTS];
    uint64_t clock;
};

void tt_conv_init(struct tt_conv *c);
void tt_conv_free(struct tt_conv *c);    /* NULL-safe; c may be re-initialised */

/* Observe one finished LLM span (trace_id, parent_id, start/end, input,
 * output, tool_calls set). Sets s->conversation_id (left "" when the span
 * has no message input). Tool calls this call's request answers become
 * tool spans in tools[0..*ntools) (at most max), initialised here (kind,
 * name, operation, times, ids: trace and parent of s, span_id a hash of
 * trace and call id, conversation_id; input/output when capture): the
 * caller adds the process identity, delivers and tt_span_clear()s them.
 * Returns 0 or TT_ERR_NOMEM (the conversation state may be incomplete). */
int tt_conv_observe(struct tt_conv *c, struct tt_span *s, bool capture,
                    struct tt_span *tools, size_t max, size_t *ntools)
    __attribute__((warn_unused_result));

/* The preload's per-process instance, under a mutex: observe s; the tool
 * spans it completes are returned in tools[0..*n) (at most max) with the
 * process identity of s, for the emit stage to send and clear (emit.h).
 * Registers its own fork handler (rt.h). */
void tt_conv_span(struct tt_span *s, struct tt_span *tools, size_t max, size_t *n);

#endif
