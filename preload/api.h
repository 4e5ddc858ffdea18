/* api.h - the interface every provider API parser implements.
 *
 * An "API" is a wire format (OpenAI Chat Completions, Anthropic Messages,
 * ...); a "provider" is who serves it (openai, groq, azure.ai.openai...).
 * Many providers share one API. The transport layers (HTTP/1.1, HTTP/2,
 * libcurl) find the API by request path (tt_api_match) and drive it
 * through these callbacks; the parser fills the span.
 *
 * Parsers must treat every byte as untrusted: malformed JSON, missing
 * fields and truncated bodies give a span that says so (tt_span_fail,
 * usage_known=false), never a crash or an invented number. */
#ifndef TT_API_H
#define TT_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

struct tt_api_ops {
    const char *name;           /* "openai.chat" */
    const char *operation;      /* OTel gen_ai.operation.name: "chat" */
    const char *default_provider; /* provider when the host is not known */

    /* The complete request body (it may have been truncated at the
     * capture cap: span->truncated is then set). Fills request_model,
     * stream, temperature/top_p/max_tokens, input (unless content capture
     * is off: tt_api_capture_content()). Returns 0 or TT_ERR_PARSE (the
     * span is still usable). */
    int (*request)(struct tt_span *span, const char *body, size_t len);

    /* Parser state for one response. *state may stay NULL if unneeded. */
    int (*response_begin)(struct tt_span *span, void **state);

    /* One SSE event of a streaming response; now = arrival time (epoch ns),
     * for tt_span_first_token() on the first content delta. Also one
     * message of an AWS event stream (application/vnd.amazon.eventstream):
     * event = its :event-type, data = its payload; exceptions come as
     * "exception:<:exception-type>" (tt_es_msg_event, eventstream.h). */
    int (*sse_event)(void *state, struct tt_span *span,
                     const char *event, size_t event_len,
                     const char *data, size_t data_len, int64_t now);

    /* One line of an NDJSON stream (Content-Type application/x-ndjson,
     * Ollama), without its line end; empty lines are skipped. NULL when
     * the API never streams NDJSON. */
    int (*ndjson_line)(void *state, struct tt_span *span, const char *line,
                       size_t len, int64_t now);

    /* The whole (decoded) body of a non-streaming response, or of an error
     * response of any kind. */
    int (*body)(void *state, struct tt_span *span, const char *body,
                size_t len);

    /* The end of a response is judged once for every API, by
     * tt_api_response_end below (the exchange knows whether a body or
     * events were handed over and whether the transport completed); the
     * parser only finishes the span from what it collected and says
     * whether its format's terminal sign was seen. */

    /* A stream ended (at least one event or line was handed over).
     * Finishes the span from the events: usage (and usage_known),
     * response_model/id, finish_reasons, output, tool_calls. *missing:
     * NULL when the stream reached its terminal event (or its
     * equivalent), else what was missing ("no [DONE]"), static text.
     * NULL for an API that never streams. */
    int (*stream_end)(void *state, struct tt_span *span, const char **missing);

    /* Optional: the body was handed over (complete or not); for a format
     * whose body can itself say it is unfinished. *why: a whole error
     * text or NULL (judged only when the transport completed). */
    int (*body_end)(void *state, struct tt_span *span, const char **why);

    void (*response_free)(void *state);   /* NULL-safe */
};

/* Registered APIs (providers/<name>.c each define one). */
extern const struct tt_api_ops tt_openai_chat_api;
extern const struct tt_api_ops tt_openai_responses_api;
extern const struct tt_api_ops tt_openai_embeddings_api;
extern const struct tt_api_ops tt_openai_completions_api;
extern const struct tt_api_ops tt_anthropic_messages_api;
extern const struct tt_api_ops tt_bedrock_converse_api;
extern const struct tt_api_ops tt_bedrock_invoke_api;
extern const struct tt_api_ops tt_cohere_chat_api;
extern const struct tt_api_ops tt_ollama_chat_api;
extern const struct tt_api_ops tt_ollama_generate_api;
extern const struct tt_api_ops tt_gemini_generate_api;

/* How a response ended, as its transport saw it. */
struct tt_api_end {
    bool complete;              /* false: cut short (span->error says why) */
    bool body;                  /* ops->body was called */
    bool events;                /* ops->sse_event / ndjson_line was called */
};

/* The end of one response, for every API (the checks each parser used to
 * repeat): a body cut short fails the span; nothing at all ("no events",
 * "no body") clears the usage and fails it; a stream is finished by
 * ops->stream_end, then fails when cut short or when its terminal event
 * is missing. state NULL (response_begin ran out of memory) counts as
 * nothing received. Returns the parser's code (checked by the caller). */
int tt_api_response_end(const struct tt_api_ops *ops, void *state,
                        struct tt_span *span, const struct tt_api_end *how);

/* The API a request path speaks (query string ignored), or NULL. */
/* The method of route i in the table, NULL past its end (test_api). */
const char *tt_api_route_method(size_t i);
const struct tt_api_ops *tt_api_match(const char *method, size_t method_len,
                                      const char *path, size_t path_len);

/* Whether prompts/completions are captured (TOKENTAP_CAPTURE_CONTENT,
 * default on). Parsers skip input/output/tool_calls text when off but
 * still count tool calls. Tests may override with tt_api_set_capture(). */
bool tt_api_capture_content(void);
void tt_api_set_capture(bool on);

#endif
