/* test_api.c - request path -> API, and the content-capture switch. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"

struct match_case {
    const char *method;
    const char *path;
    const struct tt_api_ops *want;
};

static const struct match_case cases[] = {
    { "POST", "/v1/chat/completions", &tt_openai_chat_api },
    { "POST", "/chat/completions", &tt_openai_chat_api },           /* DeepSeek */
    { "POST", "/api/v1/chat/completions", &tt_openai_chat_api },    /* OpenRouter */
    { "POST", "/openai/v1/chat/completions", &tt_openai_chat_api }, /* Groq */
    { "POST",
      "/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21",
      &tt_openai_chat_api },                                        /* Azure */
    { "POST", "/v1/chat/completions?x=1#frag", &tt_openai_chat_api },
    { "POST", "/v1/messages", &tt_anthropic_messages_api },
    { "POST", "/v1/messages?beta=true", &tt_anthropic_messages_api },
    { "POST", "/anthropic/v1/messages", &tt_anthropic_messages_api },
    { "POST", "/api/chat", &tt_ollama_chat_api },
    { "POST", "/api/generate", &tt_ollama_generate_api },
    { "POST", "/ollama/api/chat", &tt_ollama_chat_api },     /* behind a proxy */
    { "POST", "/v1/chat/completions", &tt_openai_chat_api }, /* Ollama's /v1 too */
    /* Not LLM calls, or not these APIs. */
    { "GET", "/v1/chat/completions", NULL },
    { "post", "/v1/chat/completions", NULL },      /* methods are case-sensitive */
    { "POST", "/v1/chat/completions/", NULL },
    { "POST", "/v1/chat/completionsx", NULL },
    { "POST", "/v1/xchat/completions", NULL },
    { "POST", "/v1/messages/count_tokens", NULL },
    { "POST", "/v1/messages/batches", NULL },
    { "POST", "/v2/messages", NULL },
    { "POST", "/v1/models", NULL },
    { "POST", "/", NULL },
    { "POST", "", NULL },
    { "POST", "?/v1/messages", NULL },
    { "GET", "/v1/messages", NULL },
    { "GET", "/api/tags", NULL },
    { "POST", "/api/chat/x", NULL },
    { "POST", "/api/chatx", NULL },
    { "POST", "/api/embed", NULL },
    { "GET", "/api/chat", NULL },
};

Test(api, match_table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct match_case *c = &cases[i];
        const struct tt_api_ops *got =
            tt_api_match(c->method, strlen(c->method), c->path, strlen(c->path));
        cr_assert_eq(got, c->want, "%s %s: got %s, want %s", c->method,
                     c->path, got ? got->name : "NULL",
                     c->want ? c->want->name : "NULL");
    }
}

Test(api, match_uses_lengths_not_nul)
{
    /* The path points into a request buffer: only path_len bytes count. */
    const char buf[] = "/v1/messagesXYZ";
    cr_assert_eq(tt_api_match("POST", 4, buf, 12), &tt_anthropic_messages_api);
    cr_assert_null(tt_api_match("POST", 4, buf, 13));
    cr_assert_eq(tt_api_match("POSTX", 4, "/v1/chat/completions", 20),
                 &tt_openai_chat_api);
    cr_assert_null(tt_api_match(NULL, 0, "/v1/messages", 12));
    cr_assert_null(tt_api_match("POST", 4, NULL, 0));
}

Test(api, ops_are_complete)
{
    const struct tt_api_ops *all[] = { &tt_openai_chat_api,
                                       &tt_anthropic_messages_api };
    for (size_t i = 0; i < 2; i++) {
        cr_assert_str_eq(all[i]->operation, "chat");
        cr_assert_not_null(all[i]->request);
        cr_assert_not_null(all[i]->response_begin);
        cr_assert_not_null(all[i]->sse_event);
        cr_assert_not_null(all[i]->body);
        cr_assert_not_null(all[i]->stream_end);
        cr_assert_not_null(all[i]->response_free);
    }
    cr_assert_str_eq(tt_openai_chat_api.default_provider, "openai");
    cr_assert_str_eq(tt_anthropic_messages_api.default_provider, "anthropic");
}

/* Each capture test runs in its own process (Criterion forks), so the
 * lazily read environment is read fresh. */
struct env_case {
    const char *value;      /* NULL: unset */
    bool want;
};

static const struct env_case env_cases[] = {
    { NULL, true }, { "", true }, { "1", true }, { "on", true },
    { "true", true }, { "off", false }, { "OFF", false }, { "0", false },
    { "false", false }, { "False", false }, { "no", false }, { "nope", true },
};

static void capture_case(size_t i)
{
    if (env_cases[i].value)
        setenv("TOKENTAP_CAPTURE_CONTENT", env_cases[i].value, 1);
    else
        unsetenv("TOKENTAP_CAPTURE_CONTENT");
    cr_assert_eq(tt_api_capture_content(), env_cases[i].want, "value %s",
                 env_cases[i].value ? env_cases[i].value : "(unset)");
    /* Read once: a later change of the environment is not seen. */
    setenv("TOKENTAP_CAPTURE_CONTENT", env_cases[i].want ? "off" : "on", 1);
    cr_assert_eq(tt_api_capture_content(), env_cases[i].want);
}

ParameterizedTestParameters(api, capture_env)
{
    static size_t idx[sizeof(env_cases) / sizeof(env_cases[0])];
    for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
        idx[i] = i;
    return cr_make_param_array(size_t, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(size_t *i, api, capture_env)
{
    capture_case(*i);
}

Test(api, capture_override)
{
    setenv("TOKENTAP_CAPTURE_CONTENT", "off", 1);
    tt_api_set_capture(true);
    cr_assert(tt_api_capture_content());
    tt_api_set_capture(false);
    cr_assert_not(tt_api_capture_content());
}

/* hooks/core.c does not load the capture core for a libcurl transfer that
 * no option made a POST (tt_curl_makes_post): that holds only while every
 * route is a POST. */
Test(api, every_route_is_a_post)
{
    size_t n = 0;

    for (const char *m; (m = tt_api_route_method(n)) != NULL; n++)
        cr_expect_str_eq(m, "POST", "route %zu is %s: hooks/core.c's kept options "
                         "assume POST only", n, m);
    cr_assert_gt(n, 10);
}
