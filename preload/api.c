/* api.c - which API a request speaks, and the content-capture switch.
 *
 * Detection is by path because the same API is served from many hosts
 * (api.openai.com, Azure deployments, OpenRouter, vLLM, llama.cpp...).
 * New APIs (Gemini, Bedrock) are new rows in tt_api_routes. */
#include "api.h"
#include "settings.h"
#include "tt.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum tt_api_match_kind {
    TT_API_EXACT,     /* the whole path */
    TT_API_SUFFIX,    /* the path ends with the pattern (which starts with
                       * '/', so it always matches whole segments, or ':'
                       * for a method after a resource, Gemini's
                       * {model}:generateContent) */
    TT_API_SEGMENT    /* pattern, then exactly one non-empty segment, then
                       * suffix: "/model/" {id} "/converse" (AWS puts the
                       * model in the path; a bare ".../invoke" on another
                       * API is not claimed) */
};

struct tt_api_route {
    const char *method;
    enum tt_api_match_kind kind;
    const char *pattern;
    const struct tt_api_ops *ops;
    const char *suffix;       /* TT_API_SEGMENT only */
};

/* First match wins: put more specific rows first. Every route is a POST:
 * the hook object relies on it to leave libcurl's transfers that no option
 * made a POST without the capture core (hooks/core.c, "kept"); a route of
 * another method needs that rule changed first (test_api checks). */
static const struct tt_api_route tt_api_routes[] = {
    /* /v1/chat/completions (OpenAI, Groq, vLLM...), /chat/completions
     * (DeepSeek), /openai/deployments/{d}/chat/completions (Azure),
     * /api/v1/chat/completions (OpenRouter). */
    { "POST", TT_API_SUFFIX, "/chat/completions", &tt_openai_chat_api,
      NULL },
    /* OpenAI's other model APIs, also behind a gateway prefix
     * (/openai/v1/responses). Legacy completions must stay after the chat
     * row: only "/v1/completions" itself, never ".../chat/completions". */
    { "POST", TT_API_SUFFIX, "/v1/responses", &tt_openai_responses_api,
      NULL },
    { "POST", TT_API_SUFFIX, "/v1/embeddings", &tt_openai_embeddings_api,
      NULL },
    { "POST", TT_API_SUFFIX, "/v1/completions", &tt_openai_completions_api,
      NULL },
    /* /v1/messages, and the same behind a gateway prefix. Not
     * /v1/messages/count_tokens or /v1/messages/batches. */
    { "POST", TT_API_SUFFIX, "/v1/messages", &tt_anthropic_messages_api,
      NULL },
    /* Cohere v2 chat (api.cohere.com/v2/chat). */
    { "POST", TT_API_SUFFIX, "/v2/chat", &tt_cohere_chat_api, NULL },
    /* Ollama's native API (its OpenAI-compatible /v1/chat/completions is
     * the first row). Suffix rows, so a reverse proxy's prefix is fine. */
    { "POST", TT_API_SUFFIX, "/api/chat", &tt_ollama_chat_api,
      NULL },
    { "POST", TT_API_SUFFIX, "/api/generate", &tt_ollama_generate_api,
      NULL },
    /* Gemini: the model and the method share the last segment
     * (/v1beta/models/{model}:generateContent, Vertex
     * .../publishers/google/models/{model}:streamGenerateContent). */
    { "POST", TT_API_SUFFIX, ":generateContent", &tt_gemini_generate_api,
      NULL },
    { "POST", TT_API_SUFFIX, ":streamGenerateContent",
      &tt_gemini_generate_api, NULL },
    /* AWS Bedrock runtime: /model/{modelId}/{operation}, the model id
     * URL-encoded (us.anthropic.claude-3-5-haiku-20241022-v1%3A0). */
    { "POST", TT_API_SEGMENT, "/model/", &tt_bedrock_converse_api,
      "/converse" },
    { "POST", TT_API_SEGMENT, "/model/", &tt_bedrock_converse_api,
      "/converse-stream" },
    { "POST", TT_API_SEGMENT, "/model/", &tt_bedrock_invoke_api, "/invoke" },
    { "POST", TT_API_SEGMENT, "/model/", &tt_bedrock_invoke_api,
      "/invoke-with-response-stream" },
};

static bool tt_api_route_match(const struct tt_api_route *r, const char *path,
                               size_t len)
{
    size_t plen = strlen(r->pattern);

    switch (r->kind) {
    case TT_API_EXACT:
        return len == plen && memcmp(path, r->pattern, plen) == 0;
    case TT_API_SUFFIX:
        return len >= plen && memcmp(path + len - plen, r->pattern, plen) == 0;
    case TT_API_SEGMENT: {
        size_t slen = strlen(r->suffix);
        if (len <= plen + slen || memcmp(path, r->pattern, plen) != 0 ||
            memcmp(path + len - slen, r->suffix, slen) != 0)
            return false;
        return memchr(path + plen, '/', len - plen - slen) == NULL;
    }
    }
    return false;
}

const char *tt_api_route_method(size_t i)
{
    return i < sizeof(tt_api_routes) / sizeof(tt_api_routes[0]) ? tt_api_routes[i].method
                                                                 : NULL;
}

const struct tt_api_ops *tt_api_match(const char *method, size_t method_len,
                                      const char *path, size_t path_len)
{
    if (!method || !path)
        return NULL;
    /* The query (?api-version=..., ?beta=true) and a fragment never change
     * the API. */
    for (size_t i = 0; i < path_len; i++) {
        if (path[i] == '?' || path[i] == '#') {
            path_len = i;
            break;
        }
    }
    for (size_t i = 0; i < sizeof(tt_api_routes) / sizeof(tt_api_routes[0]);
         i++) {
        const struct tt_api_route *r = &tt_api_routes[i];
        /* Methods are case-sensitive (RFC 9110 9.1). */
        if (method_len != strlen(r->method) ||
            memcmp(method, r->method, method_len) != 0)
            continue;
        if (tt_api_route_match(r, path, path_len))
            return r->ops;
    }
    return NULL;
}

/* -1: not read yet. Read lazily because the constructor must only look at
 * the environment when there is LLM traffic; a race between two threads
 * only makes both read the same variable. */
static atomic_int tt_api_capture = -1;

static const char *const tt_api_capture_off[] = { "off", "0", "false", "no" };

static int tt_api_capture_from_env(void)
{
    const char *v = tt_settings()->capture_content;

    if (!v)
        return 1;
    for (size_t i = 0;
         i < sizeof(tt_api_capture_off) / sizeof(tt_api_capture_off[0]); i++) {
        if (tt_tok_ieq(v, strlen(v), tt_api_capture_off[i]))
            return 0;
    }
    return 1;
}

bool tt_api_capture_content(void)
{
    int c = atomic_load_explicit(&tt_api_capture, memory_order_relaxed);

    if (c < 0) {
        c = tt_api_capture_from_env();
        atomic_store_explicit(&tt_api_capture, c, memory_order_relaxed);
    }
    return c != 0;
}

void tt_api_set_capture(bool on)
{
    atomic_store_explicit(&tt_api_capture, on ? 1 : 0, memory_order_relaxed);
}

int tt_api_response_end(const struct tt_api_ops *ops, void *state,
                        struct tt_span *span, const struct tt_api_end *how)
{
    const char *why = NULL;
    int rc = TT_OK;

    if (state && how->body) {
        if (ops->body_end)
            rc = ops->body_end(state, span, &why);
        if (!how->complete)
            tt_span_fail(span, "response ended before completion", false);
        else if (why)
            tt_span_fail(span, why, false);
        return rc;
    }
    if (!state || !how->events || !ops->stream_end) {
        tt_span_clear_usage(span);
        tt_span_fail(span, span->stream
                               ? "stream ended before completion (no events)"
                               : "response ended before completion (no body)",
                     false);
        return TT_OK;
    }
    rc = ops->stream_end(state, span, &why);
    if (!how->complete) {
        tt_span_fail(span, "stream ended before completion (cut short)", false);
    } else if (why) {
        char msg[128];
        snprintf(msg, sizeof(msg), "stream ended before completion (%s)", why);
        tt_span_fail(span, msg, false);
    }
    return rc;
}
