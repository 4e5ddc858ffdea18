/* test_openai.c - OpenAI Chat Completions parser, on recorded-shape bodies
 * and streams (research/providers.md section 1). Streams go through the
 * real SSE parser at several feed sizes; every case asserts the whole
 * span a user would see. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "sse.h"
#include "tt.h"
#include "provider_harness.h"


struct expect {
    const char *error;              /* NULL: status ok */
    const char *response_id;
    const char *response_model;
    const char *finish_reasons;
    const char *output;
    const char *tool_calls;
    bool usage_known;
    int64_t in, out, cache_read, cache_write, reasoning;
    double ttft_ms;                 /* -1: none */
};

struct ocase {
    const char *name;
    enum kind kind;
    const char *in;
    bool cut;                       /* transport says the response was cut */
    struct expect want;
};

/* --- harness ------------------------------------------------------------ */

static void check(const struct tt_span *s, const struct expect *w,
                  const char *name, size_t split)
{
    expect_str(s->status, w->error ? "error" : "ok", "status", name, split);
    expect_str(s->error, w->error, "error", name, split);
    expect_str(s->response_id, w->response_id, "response_id", name, split);
    expect_str(s->response_model, w->response_model, "response_model", name,
               split);
    expect_str(s->finish_reasons, w->finish_reasons, "finish_reasons", name,
               split);
    expect_str(s->output, w->output, "output", name, split);
    expect_str(s->tool_calls, w->tool_calls, "tool_calls", name, split);
    cr_assert_eq(s->usage_known, w->usage_known, "%s [split %zu]: usage_known",
                 name, split);
    cr_assert_eq(s->input_tokens, w->in, "%s: input_tokens %ld", name,
                 (long)s->input_tokens);
    cr_assert_eq(s->output_tokens, w->out, "%s: output_tokens %ld", name,
                 (long)s->output_tokens);
    cr_assert_eq(s->cache_read_tokens, w->cache_read, "%s: cache_read", name);
    cr_assert_eq(s->cache_write_tokens, w->cache_write, "%s: cache_write",
                 name);
    cr_assert_eq(s->reasoning_tokens, w->reasoning, "%s: reasoning", name);
    cr_assert_float_eq(s->ttft_ms, w->ttft_ms, 1e-9, "%s [split %zu]: ttft %f",
                       name, split, s->ttft_ms);
}

static void run_cases(const struct ocase *cases, size_t n)
{
    static const char *req_body = "{\"model\":\"gpt-4o\",\"messages\":[]}";
    static const char *req_stream =
        "{\"model\":\"gpt-4o\",\"messages\":[],\"stream\":true,"
        "\"stream_options\":{\"include_usage\":true}}";

    for (size_t i = 0; i < n; i++) {
        const struct ocase *c = &cases[i];
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);
        for (size_t k = 0; k < nsplit; k++) {
            struct tt_span span;
            size_t split = c->kind == BODY ? 0 : splits[k];
            run(&tt_openai_chat_api, &span,
                c->kind == BODY ? req_body : req_stream, c->kind, c->in, split,
                c->cut);
            check(&span, &c->want, c->name, split);
            tt_span_clear(&span);
        }
    }
}

#define NOTTFT -1.0

/* --- non-streaming ------------------------------------------------------ */

/* Verbatim from openapi.transformed.yml (providers.md section 1). */
static const char verbatim_body[] =
    "{\n"
    "  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n"
    "  \"object\": \"chat.completion\",\n"
    "  \"created\": 1741569952,\n"
    "  \"model\": \"gpt-5.4\",\n"
    "  \"choices\": [\n"
    "    {\n"
    "      \"index\": 0,\n"
    "      \"message\": {\n"
    "        \"role\": \"assistant\",\n"
    "        \"content\": \"Hello! How can I assist you today?\",\n"
    "        \"refusal\": null,\n"
    "        \"annotations\": []\n"
    "      },\n"
    "      \"logprobs\": null,\n"
    "      \"finish_reason\": \"stop\"\n"
    "    }\n"
    "  ],\n"
    "  \"usage\": {\n"
    "    \"prompt_tokens\": 19,\n"
    "    \"completion_tokens\": 10,\n"
    "    \"total_tokens\": 29,\n"
    "    \"prompt_tokens_details\": {\n"
    "      \"cached_tokens\": 0,\n"
    "      \"audio_tokens\": 0\n"
    "    },\n"
    "    \"completion_tokens_details\": {\n"
    "      \"reasoning_tokens\": 0,\n"
    "      \"audio_tokens\": 0,\n"
    "      \"accepted_prediction_tokens\": 0,\n"
    "      \"rejected_prediction_tokens\": 0\n"
    "    }\n"
    "  },\n"
    "  \"service_tier\": \"default\"\n"
    "}\n";

#define ID "chatcmpl-1"
#define HDR "\"id\":\"" ID "\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-2024-08-06\""

static const struct ocase body_cases[] = {
    { "verbatim openapi example", BODY, verbatim_body, false,
      { NULL, "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT", "gpt-5.4", "[\"stop\"]",
        "\"Hello! How can I assist you today?\"", NULL, true, 19, 10, 0, 0, 0,
        NOTTFT } },
    { "trailing whitespace after the JSON", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":\"ok\"},\"finish_reason\":\"stop\"}],\"usage\":"
      "{\"prompt_tokens\":5,\"completion_tokens\":1}}      \r\n   ",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"stop\"]", "\"ok\"", NULL, true, 5, 1,
        0, 0, 0, NOTTFT } },
    { "tool call (arguments stay a JSON string)", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
      "\"content\":null,\"tool_calls\":[{\"id\":\"call_abc123\",\"type\":"
      "\"function\",\"function\":{\"name\":\"get_current_weather\","
      "\"arguments\":\"{\\n\\\"location\\\": \\\"Boston, MA\\\"\\n}\"}}]},"
      "\"finish_reason\":\"tool_calls\"}],\"usage\":{\"prompt_tokens\":82,"
      "\"completion_tokens\":17,\"total_tokens\":99}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"tool_calls\"]", NULL,
        "[{\"id\":\"call_abc123\",\"name\":\"get_current_weather\","
        "\"arguments\":\"{\\n\\\"location\\\": \\\"Boston, MA\\\"\\n}\"}]",
        true, 82, 17, 0, 0, 0, NOTTFT } },
    { "cache read, cache write and reasoning are subsets", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"content\":\"x\"},"
      "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":2000,"
      "\"completion_tokens\":500,\"total_tokens\":2500,"
      "\"prompt_tokens_details\":{\"cached_tokens\":1500,"
      "\"cache_write_tokens\":300},\"completion_tokens_details\":"
      "{\"reasoning_tokens\":320}}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"length\"]", "\"x\"", NULL, true,
        2000, 500, 1500, 300, 320, NOTTFT } },
    { "deepseek prompt_cache_hit_tokens", BODY,
      "{\"id\":\"d1\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,"
      "\"message\":{\"content\":\"y\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":100,\"completion_tokens\":3,"
      "\"prompt_cache_hit_tokens\":64,\"prompt_cache_miss_tokens\":36}}",
      false,
      { NULL, "d1", "deepseek-chat", "[\"stop\"]", "\"y\"", NULL, true, 100, 3,
        64, 0, 0, NOTTFT } },
    { "two choices", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"content\":\"a\"},"
      "\"finish_reason\":\"stop\"},{\"index\":1,\"message\":{\"content\":"
      "\"b\"},\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":4,"
      "\"completion_tokens\":2}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"stop\",\"length\"]",
        "[\"a\",\"b\"]", NULL, true, 4, 2, 0, 0, 0, NOTTFT } },
    { "refusal", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"content\":null,"
      "\"refusal\":\"I can't help with that.\"},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":6}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"stop\"]",
        "\"I can't help with that.\"", NULL, true, 9, 6, 0, 0, 0, NOTTFT } },
    { "no usage object", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"content\":\"z\"},"
      "\"finish_reason\":\"stop\"}]}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"stop\"]", "\"z\"", NULL, false, 0,
        0, 0, 0, 0, NOTTFT } },
    { "negative count invalidates usage", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":-5,"
      "\"completion_tokens\":3}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "negative detail invalidates usage", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":5,"
      "\"completion_tokens\":3,\"prompt_tokens_details\":"
      "{\"cached_tokens\":-1}}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "count as a string invalidates usage", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":\"19\","
      "\"completion_tokens\":3}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "integer beyond int64: usage invalid, rest kept", BODY,
      "{" HDR ",\"choices\":[{\"index\":0,\"message\":{\"content\":\"q\"},"
      "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
      "99999999999999999999999,\"completion_tokens\":3}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", "[\"stop\"]", "\"q\"", NULL, false, 0,
        0, 0, 0, 0, NOTTFT } },
    { "count above the sanity cap", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":"
      "4000000000000000000,\"completion_tokens\":3}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "integral real count accepted", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":12.0,"
      "\"completion_tokens\":3}}",
      false,
      { NULL, ID, "gpt-4o-2024-08-06", NULL, NULL, NULL, true, 12, 3, 0, 0, 0,
        NOTTFT } },
    { "wrong types everywhere", BODY,
      "{\"id\":7,\"model\":[],\"choices\":{\"a\":1},\"usage\":[1,2]}", false,
      { NULL, NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "choices with wrong inner types", BODY,
      "{\"id\":\"w\",\"choices\":[1,\"x\",{\"message\":7,\"finish_reason\":"
      "3},{\"message\":{\"content\":\"ok\",\"tool_calls\":[5,{\"id\":1,"
      "\"function\":\"f\"}]},\"finish_reason\":\"stop\"}]}",
      false,
      { NULL, "w", NULL, "[\"stop\"]", "[null,null,null,\"ok\"]",
        "[{\"id\":null,\"name\":null},{\"id\":null,\"name\":null}]", false, 0,
        0, 0, 0, 0, NOTTFT } },
    { "error body", BODY,
      "{\"error\":{\"message\":\"Incorrect API key provided: sk-abc.\","
      "\"type\":\"invalid_request_error\",\"param\":null,"
      "\"code\":\"invalid_api_key\"}}",
      false,
      { "invalid_request_error: Incorrect API key provided: sk-abc.", NULL,
        NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "error body without type uses code", BODY,
      "{\"error\":{\"message\":\"Rate limit reached\",\"type\":null,"
      "\"code\":\"rate_limit_exceeded\"}}",
      false,
      { "rate_limit_exceeded: Rate limit reached", NULL, NULL, NULL, NULL, NULL,
        false, 0, 0, 0, 0, 0, NOTTFT } },
    { "error as a bare string", BODY, "{\"error\":\"model not found\"}", false,
      { "model not found", NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "truncated body", BODY, "{" HDR ",\"choices\":[{\"index\":0,\"mess",
      false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, NOTTFT } },
    { "HTML from a proxy", BODY, "<html>502 Bad Gateway</html>", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, NOTTFT } },
    { "empty body", BODY, "", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, NOTTFT } },
    { "JSON array body", BODY, "[1,2]", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, NOTTFT } },
    { "complete body but transfer cut", BODY,
      "{" HDR ",\"choices\":[],\"usage\":{\"prompt_tokens\":1,"
      "\"completion_tokens\":1}}",
      true,
      { "response ended before completion", ID, "gpt-4o-2024-08-06", NULL,
        NULL, NULL, true, 1, 1, 0, 0, 0, NOTTFT } },
};

Test(openai, bodies)
{
    tt_api_set_capture(true);
    run_cases(body_cases, sizeof(body_cases) / sizeof(body_cases[0]));
}

/* --- streaming ---------------------------------------------------------- */

#define C "data: {\"id\":\"chatcmpl-ABfw\",\"object\":\"chat.completion.chunk\"," \
          "\"created\":1727346172,\"model\":\"gpt-4o-2024-08-06\","         \
          "\"system_fingerprint\":\"fp_5050236cbd\","
#define ROLE C "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\"," \
               "\"content\":null,\"refusal\":\"\"},\"logprobs\":null,"       \
               "\"finish_reason\":null}]}\n\n"
#define TEXT(t) C "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" t   \
                  "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
#define FINISH(r) C "\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":"  \
                    "null,\"finish_reason\":\"" r "\"}]}\n\n"
#define USAGE(u) C "\"choices\":[],\"usage\":" u "}\n\n"
#define DONE "data: [DONE]\n\n"

static const struct ocase stream_cases[] = {
    { "recorded refusal stream with include_usage", STREAM,
      ROLE
      C "\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"I'm\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\" sorry\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
      FINISH("stop")
      USAGE("{\"prompt_tokens\":79,\"completion_tokens\":11,\"total_tokens\":"
            "90,\"completion_tokens_details\":{\"reasoning_tokens\":0}}")
      DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]",
        "\"I'm sorry\"", NULL, true, 79, 11, 0, 0, 0, 2.0 } },
    { "content with usage, cached and reasoning", STREAM,
      ROLE TEXT("Hel") TEXT("lo") FINISH("stop")
      USAGE("{\"prompt_tokens\":1200,\"completion_tokens\":80,"
            "\"prompt_tokens_details\":{\"cached_tokens\":1024},"
            "\"completion_tokens_details\":{\"reasoning_tokens\":64}}")
      DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"Hello\"",
        NULL, true, 1200, 80, 1024, 0, 64, 2.0 } },
    { "no include_usage: usage unknown, still ok", STREAM,
      ROLE TEXT("Hi") FINISH("stop") DONE, false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"Hi\"",
        NULL, false, 0, 0, 0, 0, 0, 2.0 } },
    { "CRLF framing and keep-alive comments", STREAM,
      ": keep-alive\r\n\r\n"
      "data: {\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,"
      "\"delta\":{\"content\":\"a\"}}]}\r\n\r\n"
      ": OPENROUTER PROCESSING\r\n\r\n"
      "data: {\"id\":\"c2\",\"model\":\"m\",\"choices\":[{\"index\":0,"
      "\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
      "3,\"completion_tokens\":1}}\r\n\r\n"
      "data: [DONE]\r\n\r\n",
      false,
      { NULL, "c2", "m", "[\"stop\"]", "\"a\"", NULL, true, 3, 1, 0, 0, 0,
        1.0 } },
    { "recorded tool-call stream", STREAM,
      C "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":"
        "\"call_4XzlGBLtUe9dy3GVNV4jhq7h\",\"type\":\"function\",\"function\":"
        "{\"name\":\"get_weather\",\"arguments\":\"\"}}],\"refusal\":null},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"{\\\"\"}}]},\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"city\"}}]},\"logprobs\":null,"
        "\"finish_reason\":null}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"\\\":\\\"Paris\\\"}\"}}]},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
      FINISH("tool_calls")
      USAGE("{\"prompt_tokens\":44,\"completion_tokens\":16,\"total_tokens\":"
            "60,\"completion_tokens_details\":{\"reasoning_tokens\":0}}")
      DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"tool_calls\"]", NULL,
        "[{\"id\":\"call_4XzlGBLtUe9dy3GVNV4jhq7h\",\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]",
        true, 44, 16, 0, 0, 0, 1.0 } },
    { "two parallel tool calls, interleaved", STREAM,
      ROLE
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"id\":\"call_a\",\"function\":{\"name\":\"f\",\"arguments\":\"\"}},"
        "{\"index\":1,\"id\":\"call_b\",\"function\":{\"name\":\"g\","
        "\"arguments\":\"{\\\"y\\\"\"}}]}}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,"
        "\"function\":{\"arguments\":\"{\\\"x\\\":1}\"}}]}}]}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":1,"
        "\"function\":{\"arguments\":\":2}\"}}]}}]}\n\n"
      FINISH("tool_calls") DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"tool_calls\"]", NULL,
        "[{\"id\":\"call_a\",\"name\":\"f\",\"arguments\":\"{\\\"x\\\":1}\"},"
        "{\"id\":\"call_b\",\"name\":\"g\",\"arguments\":\"{\\\"y\\\":2}\"}]",
        false, 0, 0, 0, 0, 0, 2.0 } },
    { "azure filter chunk and empty model do not override", STREAM,
      "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\","
      "\"object\":\"\",\"prompt_filter_results\":[{\"prompt_index\":0,"
      "\"content_filter_results\":{}}]}\n\n"
      "data: {\"id\":\"chatcmpl-az\",\"model\":\"gpt-4o-2024-11-20\","
      "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
      "\"content\":\"\"}}]}\n\n"
      "data: {\"id\":\"chatcmpl-az\",\"model\":\"gpt-4o-2024-11-20\","
      "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Yo\"},"
      "\"content_filter_results\":{}}]}\n\n"
      "data: {\"id\":\"\",\"model\":\"\",\"choices\":[{\"index\":0,"
      "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"id\":\"chatcmpl-az\",\"model\":\"\",\"choices\":[],\"usage\":"
      "{\"prompt_tokens\":8,\"completion_tokens\":2}}\n\n"
      DONE,
      false,
      { NULL, "chatcmpl-az", "gpt-4o-2024-11-20", "[\"stop\"]", "\"Yo\"", NULL,
        true, 8, 2, 0, 0, 0, 3.0 } },
    { "error mid-stream", STREAM,
      ROLE TEXT("Hi")
      "data: {\"error\":{\"message\":\"The server had an error while "
      "processing your request.\",\"type\":\"server_error\"}}\n\n",
      false,
      { "server_error: The server had an error while processing your "
        "request.",
        "chatcmpl-ABfw", "gpt-4o-2024-08-06", NULL, "\"Hi\"", NULL, false, 0, 0,
        0, 0, 0, 2.0 } },
    { "event: error with the error object as data", STREAM,
      ROLE "event: error\ndata: {\"message\":\"overloaded\"}\n\n"
      "event: error\ndata: {\"message\":\"second error\"}\n\n", false,
      { "overloaded", "chatcmpl-ABfw", "gpt-4o-2024-08-06", NULL, NULL,
        NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "truncated: no [DONE], no usage", STREAM, ROLE TEXT("Hel"), false,
      { "stream ended before completion (no [DONE])", "chatcmpl-ABfw",
        "gpt-4o-2024-08-06", NULL, "\"Hel\"", NULL, false, 0, 0, 0, 0, 0,
        2.0 } },
    { "truncated inside a chunk, transfer cut", STREAM,
      ROLE TEXT("Hel") "data: {\"id\":\"chatcmpl-ABfw\",\"choices\":[{\"in",
      true,
      { "stream ended before completion (cut short)", "chatcmpl-ABfw",
        "gpt-4o-2024-08-06", NULL, "\"Hel\"", NULL, false, 0, 0, 0, 0, 0,
        2.0 } },
    { "cut after [DONE] still fails (transport said so)", STREAM,
      ROLE TEXT("a") FINISH("stop") DONE, true,
      { "stream ended before completion (cut short)", "chatcmpl-ABfw",
        "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"", NULL, false, 0, 0, 0, 0, 0,
        2.0 } },
    { "finish and usage without [DONE] is complete", STREAM,
      ROLE TEXT("a") FINISH("stop")
      USAGE("{\"prompt_tokens\":5,\"completion_tokens\":1}"),
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"",
        NULL, true, 5, 1, 0, 0, 0, 2.0 } },
    { "finish without usage or [DONE] is incomplete", STREAM,
      ROLE TEXT("a") FINISH("stop"), false,
      { "stream ended before completion (no [DONE])", "chatcmpl-ABfw",
        "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"", NULL, false, 0, 0, 0, 0, 0,
        2.0 } },
    { "malformed chunk skipped", STREAM,
      ROLE TEXT("a") "data: {\"choices\":[{\"delta\":{\"content\":\"LOST\n\n"
      TEXT("b") FINISH("stop")
      USAGE("{\"prompt_tokens\":5,\"completion_tokens\":2}") DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"ab\"",
        NULL, true, 5, 2, 0, 0, 0, 2.0 } },
    { "negative usage in stream", STREAM,
      ROLE TEXT("a") FINISH("stop")
      USAGE("{\"prompt_tokens\":5,\"completion_tokens\":-2}") DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"",
        NULL, false, 0, 0, 0, 0, 0, 2.0 } },
    { "continuous usage is cumulative: latest, not sum", STREAM,
      C "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],\"usage\":"
        "{\"prompt_tokens\":10,\"completion_tokens\":1}}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}],\"usage\":"
        "{\"prompt_tokens\":10,\"completion_tokens\":2}}\n\n"
      C "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":3}}\n\n"
      DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"ab\"",
        NULL, true, 10, 3, 0, 0, 0, 1.0 } },
    { "usage null on ordinary chunks", STREAM,
      C "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],"
        "\"usage\":null}\n\n"
      FINISH("stop")
      USAGE("{\"prompt_tokens\":5,\"completion_tokens\":1}") DONE,
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"",
        NULL, true, 5, 1, 0, 0, 0, 1.0 } },
    { "groq usage in x_groq", STREAM,
      "data: {\"id\":\"g1\",\"model\":\"llama-3.1-8b-instant\",\"choices\":"
      "[{\"index\":0,\"delta\":{\"content\":\"hey\"}}],\"x_groq\":{\"id\":"
      "\"req_01\"}}\n\n"
      "data: {\"id\":\"g1\",\"model\":\"llama-3.1-8b-instant\",\"choices\":"
      "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":"
      "{\"id\":\"req_01\",\"usage\":{\"queue_time\":0.06,\"prompt_tokens\":18,"
      "\"completion_tokens\":439,\"total_tokens\":457}}}\n\n"
      DONE,
      false,
      { NULL, "g1", "llama-3.1-8b-instant", "[\"stop\"]", "\"hey\"", NULL,
        true, 18, 439, 0, 0, 0, 1.0 } },
    { "two choices streamed", STREAM,
      "data: {\"id\":\"n2\",\"model\":\"m\",\"choices\":[{\"index\":1,"
      "\"delta\":{\"content\":\"B\"}},{\"index\":0,\"delta\":{\"content\":"
      "\"A\"}}]}\n\n"
      "data: {\"id\":\"n2\",\"model\":\"m\",\"choices\":[{\"index\":0,"
      "\"delta\":{},\"finish_reason\":\"stop\"},{\"index\":1,\"delta\":{},"
      "\"finish_reason\":\"length\"}]}\n\n"
      DONE,
      false,
      { NULL, "n2", "m", "[\"stop\",\"length\"]", "[\"A\",\"B\"]", NULL, false,
        0, 0, 0, 0, 0, 1.0 } },
    { "deepseek reasoning_content is the first token", STREAM,
      "data: {\"id\":\"r1\",\"model\":\"deepseek-reasoner\",\"choices\":[{"
      "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null}}]}\n\n"
      "data: {\"id\":\"r1\",\"model\":\"deepseek-reasoner\",\"choices\":[{"
      "\"index\":0,\"delta\":{\"content\":null,\"reasoning_content\":"
      "\"Hmm\"}}]}\n\n"
      "data: {\"id\":\"r1\",\"model\":\"deepseek-reasoner\",\"choices\":[{"
      "\"index\":0,\"delta\":{\"content\":\"42\"},\"finish_reason\":"
      "\"stop\"}],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":30,"
      "\"completion_tokens_details\":{\"reasoning_tokens\":28}}}\n\n"
      DONE,
      false,
      { NULL, "r1", "deepseek-reasoner", "[\"stop\"]", "\"42\"", NULL, true, 7,
        30, 0, 0, 28, 2.0 } },
    { "stream with no events at all", STREAM, ": nothing\n\n", false,
      { "stream ended before completion (no events)", NULL, NULL, NULL, NULL,
        NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "data after [DONE] ignored", STREAM,
      ROLE TEXT("a") FINISH("stop") DONE TEXT("zzz")
      USAGE("{\"prompt_tokens\":1,\"completion_tokens\":1}"),
      false,
      { NULL, "chatcmpl-ABfw", "gpt-4o-2024-08-06", "[\"stop\"]", "\"a\"",
        NULL, false, 0, 0, 0, 0, 0, 2.0 } },    /* The usual chunks are read without a tree (openai.c
     * tt_openai_chunk_fast); next to them chunks the tree must take (an
     * index of 0.0, usage) or that are lost (invalid UTF-8): the span is
     * the tree path's. */
    { "chunks read without a tree, escapes, and those that take the tree", STREAM,
      "data: {\"id\":\"c1\",\"model\":\"m1\",\"service_tier\":\"default\",\"choices\":[{"
      "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":null,\"refusal\":\"\"},"
      "\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"\",\"model\":\"\",\"choices\":[{\"index\":0,\"delta\":{"
      "\"reasoning_content\":\"think\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\\"b\\u00e9\\n\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0.0,\"delta\":{\"content\":\"X\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[]}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\xff\"}}]}\n\n"
      "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"!\"},\"finish_reason\":"
      "\"stop\"}],\"usage\":null,\"error\":null}\n\n"
      "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":3}}\n\n"
      DONE,
      false,
      { NULL, "c1", "m1", "[\"stop\"]", "\"a\\\"b\xc3\xa9\\nX!\"", NULL, true, 5, 3, 0,
        0, 0, 2.0 } },
};

Test(openai, streams)
{
    tt_api_set_capture(true);
    run_cases(stream_cases, sizeof(stream_cases) / sizeof(stream_cases[0]));
}

/* An error body arriving for a stream request (HTTP 429 before any event)
 * goes through body(), not sse_event(). */
Test(openai, stream_request_error_body)
{
    struct tt_span s;

    tt_api_set_capture(true);
    run(&tt_openai_chat_api, &s,
        "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[]}", BODY,
        "{\"error\":{\"message\":\"Rate limit\",\"type\":\"requests\"}}", 0,
        false);
    cr_assert(s.stream);
    cr_assert_str_eq(s.error, "requests: Rate limit");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

/* --- capture off -------------------------------------------------------- */

Test(openai, capture_off_keeps_counts_and_tool_names)
{
    struct tt_span s;
    const struct ocase *tc = &stream_cases[4];     /* recorded tool calls */

    cr_assert_str_eq(tc->name, "recorded tool-call stream");
    tt_api_set_capture(false);
    run(&tt_openai_chat_api, &s,
        "{\"model\":\"gpt-4o\",\"stream\":true,\"messages\":[{\"role\":"
        "\"user\",\"content\":\"secret\"}]}",
        STREAM, tc->in, 5, false);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls, "[{\"id\":\"call_4XzlGBLtUe9dy3GVNV4jhq7h\","
                                   "\"name\":\"get_weather\"}]");
    cr_assert(s.usage_known);
    cr_assert_eq(s.input_tokens, 44);
    cr_assert_eq(s.output_tokens, 16);
    cr_assert_str_eq(s.name, "chat gpt-4o");
    tt_span_clear(&s);

    run(&tt_openai_chat_api, &s, NULL, BODY, body_cases[2].in, 0, false);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls,
                     "[{\"id\":\"call_abc123\",\"name\":\"get_current_weather\"}]");
    cr_assert_eq(s.input_tokens, 82);
    tt_span_clear(&s);
}

/* --- requests ----------------------------------------------------------- */

struct rcase {
    const char *name;
    const char *body;
    int rc;
    const char *model;
    const char *span_name;
    bool stream;
    bool has_temperature, has_top_p, has_max_tokens;
    double temperature, top_p;
    int64_t max_tokens;
    const char *input;
};

static const struct rcase req_cases[] = {
    { "full request, max_completion_tokens preferred",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"system\",\"content\":"
      "\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\"}],\"temperature\":"
      "0.2,\"top_p\":0.9,\"max_tokens\":50,\"max_completion_tokens\":100,"
      "\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
      0, "gpt-4o", "chat gpt-4o", true, true, true, true, 0.2, 0.9, 100,
      "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
      "\"content\":\"Hi\"}]" },
    { "deprecated max_tokens, integer temperature",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"model\":"
      "\"gpt-4o-mini\",\"temperature\":1,\"max_tokens\":50}  \n",
      0, "gpt-4o-mini", "chat gpt-4o-mini", false, true, false, true, 1.0, 0,
      50, "[{\"role\":\"user\",\"content\":\"x\"}]" },
    { "stream false and no params",
      "{\"model\":\"o3\",\"messages\":[],\"stream\":false}", 0, "o3", "chat o3",
      false, false, false, false, 0, 0, 0, "[]" },
    { "truncated after the model (capture cap): keep what is known",
      "{\"model\":\"gpt-4o\",\"temperature\":0.5,\"stream\":true,"
      "\"messages\":[{\"role\":\"user\",\"content\":\"aaaaaaaa",
      TT_ERR_PARSE, "gpt-4o", "chat gpt-4o", true, true, false, false, 0.5, 0,
      0, NULL },
    { "truncated inside the messages, model after (python SDK order)",
      "{\"messages\":[{\"role\":\"user\",\"content\":\"aaaa", TT_ERR_PARSE,
      NULL, "chat", false, false, false, false, 0, 0, 0, NULL },
    { "truncated right after a number: the number is not trusted",
      "{\"model\":\"gpt-4o\",\"max_tokens\":10", TT_ERR_PARSE, "gpt-4o",
      "chat gpt-4o", false, false, false, false, 0, 0, 0, NULL },
    { "broken later on", "{\"model\":\"gpt-4o\",\"stream\":true,\"x\":tru}",
      TT_ERR_PARSE, "gpt-4o", "chat gpt-4o", true, false, false, false, 0, 0,
      0, NULL },
    { "not JSON", "model=gpt-4o", TT_ERR_PARSE, NULL, "chat", false, false,
      false, false, 0, 0, 0, NULL },
    { "empty", "", TT_ERR_PARSE, NULL, "chat", false, false, false, false, 0,
      0, 0, NULL },
    { "wrong types",
      "{\"model\":5,\"stream\":\"yes\",\"temperature\":\"hot\",\"top_p\":null,"
      "\"max_completion_tokens\":1.5,\"max_tokens\":7,\"messages\":\"hi\"}",
      0, NULL, "chat", false, false, false, true, 0, 0, 7, "\"hi\"" },
    { "escaped and unicode content survives",
      "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"caf\\u00e9 \\\"q\\\" \\n\"}]}",
      0, "gpt-4o", "chat gpt-4o", false, false, false, false, 0, 0, 0,
      "[{\"role\":\"user\",\"content\":\"caf\xc3\xa9 \\\"q\\\" \\n\"}]" },
};

/* input is the client's own text, so it is compared as JSON: the value
 * a user sees, not jansson's spelling of it ("\u00e9" stays escaped). */
static void expect_json(const char *got, const char *want, const char *what,
                        const char *name)
{
    json_t *g, *w;

    if (!want || !got) {
        expect_str(got, want, what, name, 0);
        return;
    }
    g = json_loads(got, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    w = json_loads(want, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    cr_assert_not_null(g, "%s: %s is not JSON: %s", name, what, got);
    cr_assert_not_null(w, "%s: bad expectation", name);
    cr_assert(json_equal(g, w), "%s: %s = %s, want %s", name, what, got, want);
    json_decref(g);
    json_decref(w);
}

Test(openai, requests)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct rcase *c = &req_cases[i];
        struct tt_span s;
        tt_span_init(&s);
        int rc = tt_openai_chat_api.request(&s, c->body, strlen(c->body));
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        expect_str(s.request_model, c->model, "request_model", c->name, 0);
        expect_str(s.name, c->span_name, "name", c->name, 0);
        expect_str(s.operation, "chat", "operation", c->name, 0);
        expect_json(s.input, c->input, "input", c->name);
        cr_assert_eq(s.stream, c->stream, "%s: stream", c->name);
        cr_assert_eq(s.has_temperature, c->has_temperature, "%s: has_temp",
                     c->name);
        cr_assert_eq(s.has_top_p, c->has_top_p, "%s: has_top_p", c->name);
        cr_assert_eq(s.has_max_tokens, c->has_max_tokens, "%s: has_max",
                     c->name);
        if (c->has_temperature)
            cr_assert_float_eq(s.temperature, c->temperature, 1e-12);
        if (c->has_top_p)
            cr_assert_float_eq(s.top_p, c->top_p, 1e-12);
        if (c->has_max_tokens)
            cr_assert_eq(s.max_tokens, c->max_tokens, "%s: max_tokens",
                         c->name);
        tt_span_clear(&s);
    }
}

Test(openai, request_capture_off)
{
    struct tt_span s;

    tt_api_set_capture(false);
    tt_span_init(&s);
    cr_assert_eq(tt_openai_chat_api.request(&s, req_cases[0].body,
                                            strlen(req_cases[0].body)), 0);
    cr_assert_null(s.input);
    cr_assert_str_eq(s.request_model, "gpt-4o");
    tt_span_clear(&s);
}

/* The messages reach the span byte for byte: no re-serialisation, so the
 * client's whitespace and escapes are kept; a later duplicate "messages"
 * wins, as in a full parse. */
Test(openai, request_input_is_the_raw_messages_text)
{
    static const struct { const char *body, *input; } c[] = {
        { "{ \"model\" : \"gpt-4o\" ,\n  \"messages\" : [ {\"role\": \"user\","
          " \"content\": \"caf\\u00e9 \\/ }]\"} ]\n}\n",
          "[ {\"role\": \"user\", \"content\": \"caf\\u00e9 \\/ }]\"} ]" },
        { "{\"messages\":[1],\"model\":\"m\",\"messages\":[2]}", "[2]" },
        { "{\"model\":\"m\",\"mess\\u0061ges\":[3]}", "[3]" },
    };

    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        struct tt_span s;
        tt_span_init(&s);
        cr_assert_eq(tt_openai_chat_api.request(&s, c[i].body,
                                                strlen(c[i].body)), 0,
                     "case %zu", i);
        expect_str(s.input, c[i].input, "input", "raw", i);
        tt_span_clear(&s);
    }
}

/* Streamed text is bounded: a huge stream marks the span truncated
 * instead of growing without limit. */
Test(openai, streamed_text_is_capped)
{
    struct tt_span s;
    struct feed_ctx f = { &tt_openai_chat_api, NULL, &s, 0 };
    static char chunk[70000];
    static char piece[65537];

    tt_api_set_capture(true);
    tt_span_init(&s);
    memset(piece, 'x', sizeof(piece) - 1);
    int n = snprintf(chunk, sizeof(chunk),
                     "{\"id\":\"big\",\"choices\":[{\"index\":0,\"delta\":"
                     "{\"content\":\"%s\"}}]}", piece);
    cr_assert_lt((size_t)n, sizeof(chunk));
    cr_assert_eq(tt_openai_chat_api.response_begin(&s, &f.state), 0);
    for (int i = 0; i < 200; i++)    /* 200 x 64 KiB = 12.5 MiB */
        (void)tt_openai_chat_api.sse_event(f.state, &s, "", 0, chunk,
                                           (size_t)n, 0);
    (void)tt_openai_chat_api.sse_event(f.state, &s, "", 0, "[DONE]", 6, 0);
    cr_assert_eq(tt_api_response_end(&tt_openai_chat_api, f.state, &s,
                                     &(struct tt_api_end){ true, false, true }), 0);
    tt_openai_chat_api.response_free(f.state);
    cr_assert(s.truncated);
    cr_assert_not_null(s.output);
    cr_assert_leq(strlen(s.output), ((size_t)8 << 20) + 2);
    cr_assert_gt(strlen(s.output), (size_t)4 << 20);
    cr_assert_str_eq(s.status, "ok");
    tt_span_clear(&s);
}

Test(openai, free_and_end_accept_null_state)
{
    struct tt_span s;

    tt_span_init(&s);
    tt_openai_chat_api.response_free(NULL);
    cr_assert_eq(tt_api_response_end(&tt_openai_chat_api, NULL, &s,
                                     &(struct tt_api_end){ false, false, false }), 0);
    cr_assert_str_eq(s.status, "error");
    cr_assert_lt(tt_openai_chat_api.sse_event(NULL, &s, "", 0, "{}", 2, 0), 0);
    tt_span_clear(&s);
}

/* A body cut at TOKENTAP_MAX_BODY says so instead of "malformed". */
Test(openai, body_cut_at_capture_cap)
{
    struct tt_span s;
    void *st = NULL;
    const char *cut = "{\"id\":\"chatcmpl-1\",\"choices\":[{\"message\":{\"cont";

    tt_span_init(&s);
    s.truncated = true;
    cr_assert_eq(tt_openai_chat_api.response_begin(&s, &st), 0);
    cr_assert_eq(tt_openai_chat_api.body(st, &s, cut, strlen(cut)),
                 TT_ERR_PARSE);
    cr_assert_eq(tt_api_response_end(&tt_openai_chat_api, st, &s,
                                     &(struct tt_api_end){ true, true, false }), 0);
    tt_openai_chat_api.response_free(st);
    cr_assert_str_eq(s.error, "response body truncated at the capture cap");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

/* Every prefix of every recorded stream and body (a connection cut at any
 * byte) gives a consistent span under ASan/UBSan; a stream cut before it
 * could have finished is never reported ok. */
Test(openai, every_prefix_is_safe)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]);
         i++) {
        const char *in = stream_cases[i].in;
        size_t len = strlen(in);
        /* [DONE] ends a stream, and so does finish_reason + usage: no
         * prefix before the first finish_reason can be complete. */
        const char *term = strstr(in, "\"finish_reason\":\"");
        for (size_t k = 0; k < len; k++) {
            char *p = tt_strndup(in, k);
            struct tt_span s;
            cr_assert_not_null(p);
            run(&tt_openai_chat_api, &s, NULL, STREAM, p, 5, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            if (term && k < (size_t)(term - in))
                cr_assert_str_eq(s.status, "error", "%s cut at %zu",
                                 stream_cases[i].name, k);
            tt_span_clear(&s);
            free(p);
        }
    }
    for (size_t i = 0; i < sizeof(body_cases) / sizeof(body_cases[0]); i++) {
        const char *in = body_cases[i].in;
        for (size_t k = 0; k < strlen(in); k++) {
            char *p = tt_strndup(in, k);
            struct tt_span s;
            cr_assert_not_null(p);
            run(&tt_openai_chat_api, &s, NULL, BODY, p, 0, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            tt_span_clear(&s);
            free(p);
        }
    }
}
