/* span.h - the span: the export contract of DESIGN.md, in C.
 *
 * Field names match the JSONL keys, the SQLite columns and the msgpack map
 * keys one to one. Strings are owned by the span (heap, NUL-terminated) and
 * freed by tt_span_clear(); NULL means "absent" and is exported as null.
 * Fields whose value is JSON (finish_reasons, input, output, tool_calls,
 * tags, metadata) hold the JSON text itself. */
#ifndef TT_SPAN_H
#define TT_SPAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tt_span {
    char trace_id[33];        /* 32 lowercase hex + NUL */
    char span_id[17];         /* 16 lowercase hex + NUL */
    char parent_id[17];       /* "" when the span has no parent */
    char *kind;               /* "llm", "tool", "process", "http" */
    char *name;               /* "{operation} {request_model}" */
    int64_t start_time;       /* epoch ns */
    int64_t end_time;         /* epoch ns */
    char *status;             /* "ok" | "error" */
    char *error;              /* error text, NULL when ok */

    char *provider;           /* OTel GenAI provider name */
    char *operation;          /* chat, text_completion, embeddings, ... */
    char *host;
    char *method;
    char *path;               /* request path, secrets removed */
    int64_t http_status;      /* 0 when no response was seen */
    char *http_version;       /* "1.1", "2" */

    char *request_model;
    char *response_model;
    char *response_id;

    bool stream;
    double ttft_ms;           /* < 0: not measured */
    bool has_temperature, has_top_p, has_max_tokens;
    double temperature;
    double top_p;
    int64_t max_tokens;
    char *finish_reasons;     /* JSON array of strings, e.g. ["stop"] */

    int64_t input_tokens;     /* ALL input, cache reads/writes included */
    int64_t output_tokens;    /* ALL output, reasoning included */
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    int64_t reasoning_tokens;
    bool usage_known;
    double cost_usd;
    bool cost_known;

    char *input;              /* JSON: the request's messages/prompt */
    char *output;             /* JSON: the completion (text or blocks) */
    char *tool_calls;         /* JSON array [{id,name,arguments}] */
    bool truncated;           /* a body hit the capture cap */

    int64_t pid;
    char *exe;
    char *session_id;
    char *tags;               /* JSON object */
    char conversation_id[17]; /* 16 lowercase hex; "" = none (conversation.h) */
    char *metadata;           /* JSON object: TOKENTAP_METADATA */
    char *replay;             /* "hit" | "miss" | "mock": answered by tokentap
                                 replay / run --mock (preload/redirect.h) */
    char *capture;            /* how the call was seen: "preload" (hooks in
                                 the process) or "gateway" (tokentap gateway) */
    /* Modality subsets of input_tokens / output_tokens, as the usage reports
     * them apart (OpenAI *_tokens_details, Gemini modality counts); 0 = none
     * reported. They stay counted in input_tokens / output_tokens. */
    int64_t audio_input_tokens;
    int64_t audio_output_tokens;
    int64_t image_input_tokens;
    int64_t image_output_tokens;
    char *service_tier;       /* the tier the response says served the call:
                                 OpenAI "default"|"flex"|"priority"|"scale",
                                 Anthropic "standard"|"priority"|"batch"; NULL
                                 = not stated */

    /* --- internal, not exported --- */
    int64_t request_sent_ns;  /* last request byte handed to the socket */
    int64_t cache_write_1h_tokens; /* Anthropic 1h cache writes (subset) */
    /* The provider's own statement of what the call cost (OpenRouter's
     * usage.cost): tt_price_apply prefers it to the price table. */
    double provider_cost_usd;
    bool has_provider_cost;
};

/* Zero the span and set defaults: kind "llm", status "ok", ttft -1. */
void tt_span_init(struct tt_span *s);
/* Free everything the span owns; the span may be re-initialised. NULL-safe. */
void tt_span_clear(struct tt_span *s);

/* Replace a string field (frees the old value); v may be NULL.
 * Returns TT_ERR_NOMEM on OOM (field left unchanged). */
int tt_span_set(char **field, const char *v) __attribute__((warn_unused_result));
int tt_span_setn(char **field, const char *v, size_t n) __attribute__((warn_unused_result));

/* Longest plain string field tokentapd accepts (TT_FRAME_MAX_STR). */
#define TT_SPAN_MAX_STR (64u * 1024)

/* Make a plain string field (not a JSON-valued one) what tokentapd
 * accepts: each byte that is not valid UTF-8 becomes U+FFFD, and a string
 * above TT_SPAN_MAX_STR is cut at a character boundary. Span strings come
 * from the wire (a Host header, a request path, a model named in a path,
 * an error text cut by "%.560s"), and the daemon refuses a whole span for
 * one bad string: the call would be lost. NULL stays NULL. Returns
 * TT_ERR_NOMEM on OOM (field left unchanged). spanfield.h repairs every
 * plain field of a span at once (tt_sf_repair). */
int tt_span_repair_str(char **field) __attribute__((warn_unused_result));

/* Length of the valid UTF-8 sequence at s (n > 0 bytes left; 1 for an
 * ASCII byte), 0 when the byte there starts none: the rule of the span
 * contract and of tokentapd's checks (no overlongs, no surrogates,
 * nothing above U+10FFFF, nothing cut short). */
size_t tt_utf8_seq(const unsigned char *s, size_t n);

/* Mark an error: status = "error", error = msg (the first error wins unless
 * `override` is true). */
void tt_span_fail(struct tt_span *s, const char *msg, bool override);

/* Set the OTel GenAI span name "{operation} {request_model}" (the bare
 * operation while the model is unknown). On OOM the name is left as it was
 * and TT_ERR_NOMEM returned: the span is still worth delivering. */
int tt_span_set_name(struct tt_span *s, const char *operation)
    __attribute__((warn_unused_result));

/* Forget every token count: usage_known false, counts 0 (a parser that
 * finds the usage it read invalid). */
void tt_span_clear_usage(struct tt_span *s);

/* Record the first content token at time now (epoch ns) if not yet set. */
void tt_span_first_token(struct tt_span *s, int64_t now);

/* A deterministic span id: the first 16 hex digits of FNV-1a 64 over the
 * parts (each followed by a NUL byte), never all zero. For spans several
 * processes may emit (process spans) or one may emit twice (tool spans):
 * the same id is the same row in the store. out holds 17 bytes. */
void tt_span_hash_id(char *out, const char *const *parts, size_t nparts);

/* Random lowercase hex ids (a per-thread generator seeded from getrandom,
 * span.c). out must hold 2*nbytes+1. */
void tt_span_rand_hex(char *out, size_t nbytes);
/* 64 random bits from the same generator. */
uint64_t tt_span_rand_u64(void);

/* The one W3C trace context parser (TRACEPARENT for the preload, the CLI
 * and the gateway): "VV-<32 hex trace>-<16 hex parent>-<2 hex flags>",
 * lowercase hex only; version ff is invalid; version 00 has exactly these
 * four fields, a later version may add more after a '-'; all-zero trace
 * or parent ids are invalid. trace_id gets 33 bytes, parent_id 17 (both
 * NUL-terminated), written only on success. v NULL: invalid. TT_OK or
 * TT_ERR_PARSE. */
int tt_traceparent_parse(const char *v, char *trace_id, char *parent_id)
    __attribute__((warn_unused_result));

#endif
