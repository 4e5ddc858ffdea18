/* test_anthropic.c - Anthropic Messages parser, on recorded-shape bodies
 * and streams (research/providers.md section 4). Streams go through the
 * real SSE parser at several feed sizes; every case asserts the whole
 * span a user would see, with token counts normalised (input = uncached +
 * cache reads + cache writes). */
#include <criterion/criterion.h>
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
    int64_t in, out, cache_read, cache_write, reasoning, cache_write_1h;
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
    cr_assert_eq(s->cache_write_1h_tokens, w->cache_write_1h,
                 "%s: cache_write_1h", name);
    cr_assert_float_eq(s->ttft_ms, w->ttft_ms, 1e-9, "%s [split %zu]: ttft %f",
                       name, split, s->ttft_ms);
}

static void run_cases(const struct ocase *cases, size_t n)
{
    static const char *req_body =
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
        "\"messages\":[]}";
    static const char *req_stream =
        "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,"
        "\"messages\":[],\"stream\":true}";

    for (size_t i = 0; i < n; i++) {
        const struct ocase *c = &cases[i];
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);
        for (size_t k = 0; k < nsplit; k++) {
            struct tt_span span;
            size_t split = c->kind == BODY ? 0 : splits[k];
            run(&tt_anthropic_messages_api, &span,
                c->kind == BODY ? req_body : req_stream, c->kind, c->in, split,
                c->cut);
            check(&span, &c->want, c->name, split);
            tt_span_clear(&span);
        }
    }
}

#define NOTTFT -1.0

/* --- non-streaming ------------------------------------------------------ */

/* The recorded cassette of providers.md section 4. */
static const char cassette_body[] =
    "{ \"model\": \"claude-sonnet-4-5-20250929\", \"id\": "
    "\"msg_01MkoP42QB7TUf5m2NVVK2kE\", \"type\": \"message\", \"role\": "
    "\"assistant\",\n"
    "  \"content\": [ { \"type\": \"text\", \"text\": \"{\\\"product_name\\\": "
    "\\\"Green Tea\\\", \\\"price\\\": 5.50, \\\"quantity\\\": 2}\" } ],\n"
    "  \"stop_reason\": \"end_turn\", \"stop_sequence\": null,\n"
    "  \"usage\": { \"input_tokens\": 249, \"cache_creation_input_tokens\": 0, "
    "\"cache_read_input_tokens\": 0,\n"
    "             \"cache_creation\": { \"ephemeral_5m_input_tokens\": 0, "
    "\"ephemeral_1h_input_tokens\": 0 },\n"
    "             \"output_tokens\": 26, \"service_tier\": \"standard\", "
    "\"inference_geo\": \"not_available\" } }";

#define MID "msg_01"
#define MODEL "claude-sonnet-4-5-20250929"
#define HDR "\"id\":\"" MID "\",\"type\":\"message\",\"role\":\"assistant\"," \
            "\"model\":\"" MODEL "\""
#define TEXT_CONTENT "\"content\":[{\"type\":\"text\",\"text\":\"Hi!\"}]"

static const struct ocase body_cases[] = {
    { "recorded cassette", BODY, cassette_body, false,
      { NULL, "msg_01MkoP42QB7TUf5m2NVVK2kE", "claude-sonnet-4-5-20250929",
        "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"{\\\"product_name\\\": \\\"Green "
        "Tea\\\", \\\"price\\\": 5.50, \\\"quantity\\\": 2}\"}]",
        NULL, true, 249, 26, 0, 0, 0, 0, NOTTFT } },
    { "cache read and writes are added to input", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"end_turn\",\"usage\":{"
      "\"input_tokens\":10,\"cache_creation_input_tokens\":500,"
      "\"cache_read_input_tokens\":2000,\"cache_creation\":{"
      "\"ephemeral_5m_input_tokens\":200,\"ephemeral_1h_input_tokens\":300},"
      "\"output_tokens\":100}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, true, 2510, 100, 2000,
        500, 0, 300, NOTTFT } },
    { "cache writes from the breakdown only", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"end_turn\",\"usage\":{"
      "\"input_tokens\":10,\"cache_creation_input_tokens\":null,"
      "\"cache_read_input_tokens\":null,\"cache_creation\":{"
      "\"ephemeral_5m_input_tokens\":7,\"ephemeral_1h_input_tokens\":3},"
      "\"output_tokens\":4}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, true, 20, 4, 0, 10, 0,
        3, NOTTFT } },
    { "thinking tokens are a subset of output", BODY,
      "{" HDR ",\"content\":[{\"type\":\"thinking\",\"thinking\":\"hmm\","
      "\"signature\":\"sig\"},{\"type\":\"text\",\"text\":\"42\"}],"
      "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":30,"
      "\"output_tokens\":200,\"output_tokens_details\":{\"thinking_tokens\":"
      "120}}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"thinking\",\"thinking\":\"hmm\",\"signature\":\"sig\"},"
        "{\"type\":\"text\",\"text\":\"42\"}]",
        NULL, true, 30, 200, 0, 0, 120, 0, NOTTFT } },
    { "tool use: input object becomes an arguments string", BODY,
      "{" HDR ",\"content\":[{\"type\":\"text\",\"text\":\"Let me check.\"},"
      "{\"type\":\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"get_weather\","
      "\"input\":{\"location\": \"Paris\", \"unit\": \"c\"}}],"
      "\"stop_reason\":\"tool_use\",\"stop_sequence\":null,\"usage\":{"
      "\"input_tokens\":400,\"output_tokens\":60}}",
      false,
      { NULL, MID, MODEL, "[\"tool_use\"]",
        "[{\"type\":\"text\",\"text\":\"Let me check.\"},{\"type\":"
        "\"tool_use\",\"id\":\"toolu_01A\",\"name\":\"get_weather\",\"input\":"
        "{\"location\":\"Paris\",\"unit\":\"c\"}}]",
        "[{\"id\":\"toolu_01A\",\"name\":\"get_weather\",\"arguments\":"
        "\"{\\\"location\\\":\\\"Paris\\\",\\\"unit\\\":\\\"c\\\"}\"}]",
        true, 400, 60, 0, 0, 0, 0, NOTTFT } },
    { "padded with spaces after the JSON", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"max_tokens\",\"usage\":{"
      "\"input_tokens\":1,\"output_tokens\":2}}                  ",
      false,
      { NULL, MID, MODEL, "[\"max_tokens\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, true, 1, 2, 0, 0, 0, 0,
        NOTTFT } },
    { "overloaded error body (HTTP 529)", BODY,
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"},\"request_id\":\"req_011CS\"}",
      false,
      { "overloaded_error: Overloaded", NULL, NULL, NULL, NULL, NULL, false, 0,
        0, 0, 0, 0, 0, NOTTFT } },
    { "error body with garbage inside", BODY,
      "{\"type\":\"error\",\"error\":42}", false,
      { "provider error", NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, 0,
        0, NOTTFT } },
    { "negative input count", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"end_turn\",\"usage\":{"
      "\"input_tokens\":-1,\"output_tokens\":2}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, false, 0, 0, 0, 0, 0,
        0, NOTTFT } },
    { "missing output count", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"end_turn\",\"usage\":{"
      "\"input_tokens\":3}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, false, 0, 0, 0, 0, 0,
        0, NOTTFT } },
    { "cache count of the wrong type", BODY,
      "{" HDR "," TEXT_CONTENT ",\"stop_reason\":\"end_turn\",\"usage\":{"
      "\"input_tokens\":3,\"output_tokens\":1,\"cache_read_input_tokens\":"
      "\"many\"}}",
      false,
      { NULL, MID, MODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"Hi!\"}]", NULL, false, 0, 0, 0, 0, 0,
        0, NOTTFT } },
    { "huge count", BODY,
      "{" HDR ",\"content\":[],\"stop_reason\":null,\"usage\":{"
      "\"input_tokens\":123456789012345678901234567890,\"output_tokens\":1}}",
      false,
      { NULL, MID, MODEL, NULL, "[]", NULL, false, 0, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "content of the wrong type", BODY,
      "{" HDR ",\"content\":\"text\",\"stop_reason\":7,\"usage\":{"
      "\"input_tokens\":3,\"output_tokens\":1}}",
      false,
      { NULL, MID, MODEL, NULL, NULL, NULL, true, 3, 1, 0, 0, 0, 0,
        NOTTFT } },
    { "truncated body", BODY, "{" HDR ",\"content\":[{\"type\":\"te", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, 0, NOTTFT } },
    { "not JSON", BODY, "upstream connect error", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, 0, NOTTFT } },
};

Test(anthropic, bodies)
{
    tt_api_set_capture(true);
    run_cases(body_cases, sizeof(body_cases) / sizeof(body_cases[0]));
}

/* --- streaming ---------------------------------------------------------- */

#define EV(name, json) "event: " name "\ndata: " json "\n\n"
#define START(usage)                                                        \
    EV("message_start",                                                     \
       "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_019Q\","      \
       "\"type\":\"message\",\"role\":\"assistant\",\"model\":"             \
       "\"claude-sonnet-4-20250514\",\"content\":[],\"stop_reason\":null,"  \
       "\"stop_sequence\":null,\"usage\":" usage "}}")
#define TEXT_START(i)                                                       \
    EV("content_block_start", "{\"type\":\"content_block_start\","         \
       "\"index\":" #i ",\"content_block\":{\"type\":\"text\","             \
       "\"text\":\"\"}}")
#define TEXT_DELTA(i, t)                                                    \
    EV("content_block_delta", "{\"type\":\"content_block_delta\","         \
       "\"index\":" #i ",\"delta\":{\"type\":\"text_delta\",\"text\":\""    \
       t "\"}}")
#define BLOCK_STOP(i)                                                       \
    EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" \
       #i "}")
#define MDELTA(reason, usage)                                               \
    EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{"          \
       "\"stop_reason\":\"" reason "\",\"stop_sequence\":null},\"usage\":"  \
       usage "}")
#define STOP EV("message_stop", "{\"type\":\"message_stop\"}")
#define PING EV("ping", "{\"type\": \"ping\"}")
#define SMODEL "claude-sonnet-4-20250514"
#define U0 "{\"input_tokens\":377,\"cache_creation_input_tokens\":0," \
           "\"cache_read_input_tokens\":0,\"output_tokens\":1,"       \
           "\"service_tier\":\"standard\"}"

static const struct ocase stream_cases[] = {
    { "recorded tool_use fixture", STREAM,
      START(U0) TEXT_START(0) PING TEXT_DELTA(0, "I") TEXT_DELTA(0, "'ll check")
      BLOCK_STOP(0)
      EV("content_block_start",
         "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{"
         "\"type\":\"tool_use\",\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\","
         "\"name\":\"get_weather\",\"caller\":{\"type\":\"direct\"},"
         "\"input\":{}}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
         "\"input_json_delta\",\"partial_json\":\"{\\\"locati\"}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":"
         "\"input_json_delta\",\"partial_json\":\"on\\\": \\\"Paris\\\"}\"}}")
      BLOCK_STOP(1)
      MDELTA("tool_use", "{\"output_tokens\":65}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"tool_use\"]",
        "[{\"type\":\"text\",\"text\":\"I'll check\"},{\"type\":\"tool_use\","
        "\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\",\"name\":\"get_weather\","
        "\"caller\":{\"type\":\"direct\"},\"input\":{\"location\":"
        "\"Paris\"}}]",
        "[{\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\",\"name\":\"get_weather\","
        "\"arguments\":\"{\\\"location\\\":\\\"Paris\\\"}\"}]",
        true, 377, 65, 0, 0, 0, 0, 4.0 } },
    { "cache counts, several cumulative message_deltas", STREAM,
      START("{\"input_tokens\":12,\"cache_creation_input_tokens\":1000,"
            "\"cache_read_input_tokens\":3000,\"cache_creation\":{"
            "\"ephemeral_5m_input_tokens\":400,\"ephemeral_1h_input_tokens\":"
            "600},\"output_tokens\":1}")
      TEXT_START(0) TEXT_DELTA(0, "ok")
      MDELTA("pause_turn", "{\"output_tokens\":10}")
      MDELTA("end_turn", "{\"output_tokens\":30}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"ok\"}]", NULL, true, 4012, 30, 3000,
        1000, 0, 600, 3.0 } },
    { "gateway: input 0 at start, real count in message_delta", STREAM,
      START("{\"input_tokens\":0,\"output_tokens\":0}")
      TEXT_START(0) TEXT_DELTA(0, "x")
      MDELTA("end_turn", "{\"input_tokens\":120,\"cache_read_input_tokens\":"
                         "30,\"output_tokens\":5}")
      STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"x\"}]", NULL, true, 150, 5, 30, 0, 0, 0,
        3.0 } },
    { "a zero in message_delta does not erase a known count", STREAM,
      START("{\"input_tokens\":50,\"cache_read_input_tokens\":8,"
            "\"output_tokens\":1}")
      TEXT_START(0) TEXT_DELTA(0, "x")
      MDELTA("end_turn", "{\"input_tokens\":0,\"cache_read_input_tokens\":0,"
                         "\"output_tokens\":5}")
      STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"x\"}]", NULL, true, 58, 5, 8, 0, 0, 0,
        3.0 } },
    { "thinking then text", STREAM,
      START("{\"input_tokens\":20,\"output_tokens\":1}")
      EV("content_block_start",
         "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{"
         "\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"thinking_delta\",\"thinking\":\"Let me \"}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"thinking_delta\",\"thinking\":\"think\"}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"signature_delta\",\"signature\":\"EqQBCgIYAh\"}}")
      BLOCK_STOP(0) TEXT_START(1) TEXT_DELTA(1, "42") BLOCK_STOP(1)
      MDELTA("end_turn", "{\"output_tokens\":90,\"output_tokens_details\":{"
                         "\"thinking_tokens\":70}}")
      STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"thinking\",\"thinking\":\"Let me think\",\"signature\":"
        "\"EqQBCgIYAh\"},{\"type\":\"text\",\"text\":\"42\"}]",
        NULL, true, 20, 90, 0, 0, 70, 0, 3.0 } },
    { "overloaded error event after HTTP 200", STREAM,
      START(U0) TEXT_START(0) TEXT_DELTA(0, "Par")
      EV("error", "{\"type\": \"error\", \"error\": {\"type\": "
                  "\"overloaded_error\", \"message\": \"Overloaded\"}}")
      EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
                  "\"message\":\"later\"}}"),
      false,
      { "overloaded_error: Overloaded", "msg_019Q", SMODEL, NULL,
        "[{\"type\":\"text\",\"text\":\"Par\"}]", NULL, false, 0, 0, 0, 0, 0,
        0, 3.0 } },
    { "error event with unreadable data", STREAM,
      START(U0) "event: error\ndata: Internal Server Error\n\n", false,
      { "provider error", "msg_019Q", SMODEL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, 0, NOTTFT } },
    { "truncated: no message_stop", STREAM,
      START(U0) TEXT_START(0) TEXT_DELTA(0, "Hel"), false,
      { "stream ended before completion (no message_stop)", "msg_019Q", SMODEL,
        NULL, "[{\"type\":\"text\",\"text\":\"Hel\"}]", NULL, false, 0, 0, 0,
        0, 0, 0, 3.0 } },
    { "cut inside the tool input", STREAM,
      START(U0)
      EV("content_block_start",
         "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{"
         "\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"search\","
         "\"input\":{}}}")
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"input_json_delta\",\"partial_json\":\"{\\\"q\\\": \\\"ca\"}}")
      "event: content_block_delta\ndata: {\"type\":\"content_bl",
      true,
      { "stream ended before completion (cut short)", "msg_019Q", SMODEL, NULL,
        "[{\"type\":\"tool_use\",\"id\":\"toolu_9\",\"name\":\"search\","
        "\"input\":\"{\\\"q\\\": \\\"ca\"}]",
        "[{\"id\":\"toolu_9\",\"name\":\"search\",\"arguments\":"
        "\"{\\\"q\\\": \\\"ca\"}]",
        false, 0, 0, 0, 0, 0, 0, 3.0 } },
    { "tool use with no input deltas", STREAM,
      START(U0)
      EV("content_block_start",
         "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{"
         "\"type\":\"tool_use\",\"id\":\"toolu_0\",\"name\":\"now\","
         "\"input\":{}}}")
      BLOCK_STOP(0) MDELTA("tool_use", "{\"output_tokens\":9}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"tool_use\"]",
        "[{\"type\":\"tool_use\",\"id\":\"toolu_0\",\"name\":\"now\","
        "\"input\":{}}]",
        "[{\"id\":\"toolu_0\",\"name\":\"now\",\"arguments\":\"{}\"}]", true,
        377, 9, 0, 0, 0, 0, NOTTFT } },
    { "whitespace padding after data JSON, no event lines", STREAM,
      "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_p\","
      "\"model\":\"claude-opus-4-1\",\"usage\":{\"input_tokens\":5,"
      "\"output_tokens\":1,\"inference_geo\":\"global\"}}}               \n\n"
      "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
      "\"type\":\"text_delta\",\"text\":\"yo\"}}   \n\n"
      "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
      "\"end_turn\"},\"usage\":{\"output_tokens\":2}}     \n\n"
      "data: {\"type\":\"message_stop\"}   \n\n",
      false,
      { NULL, "msg_p", "claude-opus-4-1", "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"yo\"}]", NULL, true, 5, 2, 0, 0, 0, 0,
        2.0 } },
    { "negative output in message_delta", STREAM,
      START(U0) TEXT_START(0) TEXT_DELTA(0, "a")
      MDELTA("end_turn", "{\"output_tokens\":-3}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"a\"}]", NULL, false, 0, 0, 0, 0, 0, 0,
        3.0 } },
    { "malformed message_start: no usage", STREAM,
      "event: message_start\ndata: {\"type\":\"message_start\",\"mess\n\n"
      TEXT_START(0) TEXT_DELTA(0, "a")
      MDELTA("end_turn", "{\"output_tokens\":3}") STOP,
      false,
      { NULL, NULL, NULL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"a\"}]", NULL, false, 0, 0, 0, 0, 0, 0,
        3.0 } },
    { "unknown events and citations ignored", STREAM,
      START(U0) EV("session_status", "{\"type\":\"session_status\"}")
      TEXT_START(0)
      EV("content_block_delta",
         "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":"
         "\"citations_delta\",\"citation\":{\"type\":\"char_location\"}}}")
      TEXT_DELTA(0, "b") MDELTA("end_turn", "{\"output_tokens\":2}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"b\"}]", NULL, true, 377, 2, 0, 0, 0, 0,
        5.0 } },
    /* Text deltas and pings are read without a tree (anthropic.c
     * tt_anthropic_event_fast); next to them deltas the tree must take
     * (an index of 0.0, an escaped type, a fragment that is not a string)
     * or that are lost (invalid UTF-8): the span is the tree path's. */
    { "deltas read without a tree, escapes, and those that take the tree", STREAM,
      START(U0) TEXT_START(0) TEXT_DELTA(0, "a\\\"b\\u00e9")
      EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0.0,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\"X\"}}")
      EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"Text_Delta\",\"text\":\"Y\"}}")
      EV("content_block_delta", "{\"type\":\"content_block_delt\\u0061\",\"index\":0,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\"Z\"}}")
      EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":5}}")
      EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
         "\"delta\":{\"type\":\"text_delta\",\"text\":\"\xff\"}}")
      PING BLOCK_STOP(0) MDELTA("end_turn", "{\"output_tokens\":9}") STOP,
      false,
      { NULL, "msg_019Q", SMODEL, "[\"end_turn\"]",
        "[{\"type\":\"text\",\"text\":\"a\\\"b\xc3\xa9XYZ\"}]", NULL, true, 377, 9, 0, 0,
        0, 0, 3.0 } },
    { "stream with no events", STREAM, "", false,
      { "stream ended before completion (no events)", NULL, NULL, NULL, NULL,
        NULL, false, 0, 0, 0, 0, 0, 0, NOTTFT } },
};

Test(anthropic, streams)
{
    tt_api_set_capture(true);
    run_cases(stream_cases, sizeof(stream_cases) / sizeof(stream_cases[0]));
}

/* --- capture off -------------------------------------------------------- */

Test(anthropic, capture_off_keeps_counts_and_tool_names)
{
    struct tt_span s;

    tt_api_set_capture(false);
    cr_assert_str_eq(stream_cases[0].name, "recorded tool_use fixture");
    run(&tt_anthropic_messages_api, &s,
        "{\"model\":\"claude-sonnet-4-5\",\"system\":\"secret\",\"stream\":"
        "true,\"messages\":[{\"role\":\"user\",\"content\":\"secret\"}]}",
        STREAM, stream_cases[0].in, 13, false);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls, "[{\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\","
                                   "\"name\":\"get_weather\"}]");
    cr_assert(s.usage_known);
    cr_assert_eq(s.input_tokens, 377);
    cr_assert_eq(s.output_tokens, 65);
    cr_assert_float_eq(s.ttft_ms, 4.0, 1e-9);
    tt_span_clear(&s);

    cr_assert_str_eq(body_cases[4].name,
                     "tool use: input object becomes an arguments string");
    run(&tt_anthropic_messages_api, &s, NULL, BODY, body_cases[4].in, 0,
        false);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls,
                     "[{\"id\":\"toolu_01A\",\"name\":\"get_weather\"}]");
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
    { "system string is prepended as a system message",
      "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":"
      "\"Be brief.\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
      "\"temperature\":0.7,\"top_p\":0.95,\"stream\":true}",
      0, "claude-sonnet-4-5", "chat claude-sonnet-4-5", true, true, true, true,
      0.7, 0.95, 1024,
      "[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\","
      "\"content\":\"Hi\"}]" },
    { "system blocks kept as sent",
      "{\"model\":\"claude-opus-4-1\",\"max_tokens\":10,\"system\":[{\"type\":"
      "\"text\",\"text\":\"S\",\"cache_control\":{\"type\":\"ephemeral\"}}],"
      "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
      "\"text\":\"Q\"}]}]}",
      0, "claude-opus-4-1", "chat claude-opus-4-1", false, false, false, true,
      0, 0, 10,
      "[{\"role\":\"system\",\"content\":[{\"type\":\"text\",\"text\":\"S\","
      "\"cache_control\":{\"type\":\"ephemeral\"}}]},{\"role\":\"user\","
      "\"content\":[{\"type\":\"text\",\"text\":\"Q\"}]}]" },
    { "no system: messages as sent",
      "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":5,\"messages\":[{"
      "\"role\":\"user\",\"content\":\"x\"}],\"system\":null}",
      0, "claude-haiku-4-5", "chat claude-haiku-4-5", false, false, false,
      true, 0, 0, 5, "[{\"role\":\"user\",\"content\":\"x\"}]" },
    { "bedrock body: no model, no stream",
      "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,"
      "\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
      0, NULL, "chat", false, false, false, true, 0, 0, 100,
      "[{\"role\":\"user\",\"content\":\"x\"}]" },
    { "truncated inside the messages",
      "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"stream\":true,"
      "\"system\":\"S\",\"messages\":[{\"role\":\"user\",\"content\":\"aaaa",
      TT_ERR_PARSE, "claude-sonnet-4-5", "chat claude-sonnet-4-5", true, false,
      false, true, 0, 0, 1024, NULL },
    { "not JSON", "\x1f\x8b\x08\x00", TT_ERR_PARSE, NULL, "chat", false, false,
      false, false, 0, 0, 0, NULL },
    /* input is built from the raw slices: the client's text, spliced. */
    { "empty messages: the system message alone",
      "{\"system\":\"S\",\"messages\":[]}", 0, NULL, "chat", false, false,
      false, false, 0, 0, 0, "[{\"role\":\"system\",\"content\":\"S\"}]" },
    { "empty messages with whitespace",
      "{\"system\":\"S\",\"messages\":[ \n ]}", 0, NULL, "chat", false,
      false, false, false, 0, 0, 0,
      "[{\"role\":\"system\",\"content\":\"S\"}]" },
    { "whitespace and escapes kept as sent",
      "{ \"system\" : [ {\"type\":\"text\",\"text\":\"S\"} ] ,\n \"messages\" : "
      "[ {\"role\":\"user\",\"content\":\"\\u00e9 ]}\"} ] }",
      0, NULL, "chat", false, false, false, false, 0, 0, 0,
      "[{\"role\":\"system\",\"content\":[ {\"type\":\"text\",\"text\":"
      "\"S\"} ]}, {\"role\":\"user\",\"content\":\"\\u00e9 ]}\"} ]" },
    { "messages not an array: kept alone",
      "{\"system\":\"S\",\"messages\":\"hi\"}", 0, NULL, "chat", false,
      false, false, false, 0, 0, 0, "\"hi\"" },
    { "a broken scalar stops the scan, members before it count",
      "{\"max_tokens\":8,\"messages\":[],\"stream\":tru,\"model\":\"m\"}",
      TT_ERR_PARSE, NULL, "chat", false, false, false, true, 0, 0, 8, "[]" },
};

Test(anthropic, requests)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct rcase *c = &req_cases[i];
        struct tt_span s;
        tt_span_init(&s);
        int rc = tt_anthropic_messages_api.request(&s, c->body,
                                                   strlen(c->body));
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        expect_str(s.request_model, c->model, "request_model", c->name, 0);
        expect_str(s.name, c->span_name, "name", c->name, 0);
        expect_str(s.operation, "chat", "operation", c->name, 0);
        expect_str(s.input, c->input, "input", c->name, 0);
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

Test(anthropic, request_capture_off)
{
    struct tt_span s;

    tt_api_set_capture(false);
    tt_span_init(&s);
    cr_assert_eq(tt_anthropic_messages_api.request(&s, req_cases[0].body,
                                                   strlen(req_cases[0].body)),
                 0);
    cr_assert_null(s.input);
    cr_assert_str_eq(s.request_model, "claude-sonnet-4-5");
    cr_assert_eq(s.max_tokens, 1024);
    tt_span_clear(&s);
    tt_api_set_capture(true);
}

Test(anthropic, free_and_end_accept_null_state)
{
    struct tt_span s;

    tt_span_init(&s);
    tt_anthropic_messages_api.response_free(NULL);
    cr_assert_eq(tt_api_response_end(&tt_anthropic_messages_api, NULL, &s,
                                     &(struct tt_api_end){ true, false, false }), 0);
    cr_assert_str_eq(s.status, "error");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

/* Every prefix of every recorded stream and body (a connection cut at any
 * byte) gives a consistent span under ASan/UBSan; a stream cut before its
 * terminal event is never reported ok. */
Test(anthropic, every_prefix_is_safe)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]);
         i++) {
        const char *in = stream_cases[i].in;
        size_t len = strlen(in);
        const char *term = strstr(in, "message_stop");
        for (size_t k = 0; k < len; k++) {
            char *p = tt_strndup(in, k);
            struct tt_span s;
            cr_assert_not_null(p);
            run(&tt_anthropic_messages_api, &s, NULL, STREAM, p, 5, false);
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
            run(&tt_anthropic_messages_api, &s, NULL, BODY, p, 0, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            tt_span_clear(&s);
            free(p);
        }
    }
}
