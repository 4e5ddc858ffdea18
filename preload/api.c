/* api.c - which API a request speaks, and the content-capture switch.
 *
 * Detection is by path because the same API is served from many hosts
 * (api.openai.com, Azure deployments, OpenRouter, vLLM, llama.cpp...).
 * New APIs (/v1/responses, /v1/embeddings, Gemini, Bedrock) are new rows
 * in tt_api_routes. */
#include "api.h"
#include "tt.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum tt_api_match_kind {
    TT_API_EXACT,     /* the whole path */
    TT_API_SUFFIX     /* the path ends with the pattern (which starts with
                       * '/', so it always matches whole segments) */
};

struct tt_api_route {
    const char *method;
    enum tt_api_match_kind kind;
    const char *pattern;
    const struct tt_api_ops *ops;
};

/* First match wins: put more specific rows first. */
static const struct tt_api_route tt_api_routes[] = {
    /* /v1/chat/completions (OpenAI, Groq, vLLM...), /chat/completions
     * (DeepSeek), /openai/deployments/{d}/chat/completions (Azure),
     * /api/v1/chat/completions (OpenRouter). */
    { "POST", TT_API_SUFFIX, "/chat/completions", &tt_openai_chat_api },
    /* /v1/messages, and the same behind a gateway prefix. Not
     * /v1/messages/count_tokens or /v1/messages/batches. */
    { "POST", TT_API_SUFFIX, "/v1/messages", &tt_anthropic_messages_api },
    /* Ollama's native API (its OpenAI-compatible /v1/chat/completions is
     * the first row). Suffix rows, so a reverse proxy's prefix is fine. */
    { "POST", TT_API_SUFFIX, "/api/chat", &tt_ollama_chat_api },
    { "POST", TT_API_SUFFIX, "/api/generate", &tt_ollama_generate_api },
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
    }
    return false;
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
    const char *v = getenv("TOKENTAP_CAPTURE_CONTENT");

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
