/* test_gemini.c - Google Gemini generateContent parser, on recorded-shape
 * bodies and streams (research/providers.md section 5). Streams go through
 * the real SSE parser at several feed sizes and with LF and CRLF framing
 * (GCP delimits events with CRLF CRLF); every case asserts the whole span
 * a user would see. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "exchange.h"
#include "redact.h"
#include "provider.h"
#include "sse.h"
#include "tt.h"
#define HARNESS_OWN_RUN   /* see provider_harness.h */
#include "provider_harness.h"

#define NOTTFT -1.0

struct expect {
    const char *error;              /* NULL: status ok */
    const char *response_id;
    const char *response_model;
    const char *finish_reasons;
    const char *output;
    const char *tool_calls;
    bool usage_known;
    int64_t in, out, cache_read, reasoning;
    double ttft_ms;                 /* -1: none */
};

struct gcase {
    const char *name;
    enum kind kind;
    const char *in;                 /* SSE events joined by "\n\n" */
    bool cut;                       /* transport says the response was cut */
    struct expect want;
};

/* --- harness ------------------------------------------------------------ */

struct feed_ctx {
    void *state;
    struct tt_span *span;
    int events;
};

static int on_event(void *ud, const char *ev, size_t ev_len, const char *data,
                    size_t data_len)
{
    struct feed_ctx *f = ud;

    f->events++;
    (void)tt_gemini_generate_api.sse_event(
        f->state, f->span, ev, ev_len, data, data_len,
        SENT_NS + (int64_t)f->events * 1000000);
    return 0;
}

/* "\n" -> "\r\n" everywhere: the same stream as GCP frames it. */
static char *crlf(const char *in)
{
    size_t n = strlen(in), k = 0;
    char *out = malloc(2 * n + 1);

    cr_assert_not_null(out);
    for (size_t i = 0; i < n; i++) {
        if (in[i] == '\n')
            out[k++] = '\r';
        out[k++] = in[i];
    }
    out[k] = '\0';
    return out;
}

static void run(struct tt_span *span, const char *path, const char *req,
                enum kind kind, const char *in, size_t split, bool cut)
{
    const struct tt_api_ops *ops = &tt_gemini_generate_api;
    struct feed_ctx f = { NULL, span, 0 };
    struct tt_sse sse;

    tt_span_init(span);
    span->request_sent_ns = SENT_NS;
    cr_assert_eq(tt_span_set(&span->path, path), 0);
    if (req)
        (void)ops->request(span, req, strlen(req));
    cr_assert_eq(ops->response_begin(span, &f.state), 0);
    if (kind == BODY) {
        (void)ops->body(f.state, span, in, strlen(in));
    } else {
        size_t len = strlen(in);
        tt_sse_init(&sse, 1 << 20);
        for (size_t off = 0; off < len; off += split) {
            size_t n = len - off < split ? len - off : split;
            cr_assert_eq(tt_sse_feed(&sse, in + off, n, on_event, &f), 0);
        }
        (void)tt_sse_finish(&sse);
        tt_sse_free(&sse);
    }
    struct tt_api_end how = { !cut, kind == BODY, f.events > 0 };
    (void)tt_api_response_end(ops, f.state, span, &how);
    ops->response_free(f.state);
}

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
    cr_assert_eq(s->cache_read_tokens, w->cache_read, "%s: cache_read %ld",
                 name, (long)s->cache_read_tokens);
    cr_assert_eq(s->cache_write_tokens, 0, "%s: cache_write", name);
    cr_assert_eq(s->reasoning_tokens, w->reasoning, "%s: reasoning %ld", name,
                 (long)s->reasoning_tokens);
    cr_assert_float_eq(s->ttft_ms, w->ttft_ms, 1e-9, "%s [split %zu]: ttft %f",
                       name, split, s->ttft_ms);
}

#define GEN_PATH "/v1beta/models/gemini-2.5-flash:generateContent"
#define STREAM_PATH "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
#define REQ "{\"contents\":[{\"role\":\"user\",\"parts\":[{\"text\":\"hi\"}]}]}"

static void run_cases(const struct gcase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct gcase *c = &cases[i];
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);
        for (int framing = 0; framing < (c->kind == BODY ? 1 : 2); framing++) {
            char *in = framing ? crlf(c->in) : NULL;
            for (size_t k = 0; k < nsplit; k++) {
                struct tt_span span;
                size_t split = c->kind == BODY ? 0 : splits[k];
                run(&span, c->kind == BODY ? GEN_PATH : STREAM_PATH, REQ,
                    c->kind, in ? in : c->in, split, c->cut);
                check(&span, &c->want, c->name, split);
                cr_assert_eq(span.stream, c->kind == STREAM, "%s: stream",
                             c->name);
                tt_span_clear(&span);
            }
            free(in);
        }
    }
}

/* --- non-streaming ------------------------------------------------------ */

/* The shape of a real gemini-2.5-flash answer (spaces after colons as
 * Gemini writes them; providers.md section 5). */
static const char real_body[] =
    "{\n"
    "  \"candidates\": [\n"
    "    {\n"
    "      \"content\": {\n"
    "        \"parts\": [\n"
    "          {\n"
    "            \"text\": \"Hello! How can I help you today?\"\n"
    "          }\n"
    "        ],\n"
    "        \"role\": \"model\"\n"
    "      },\n"
    "      \"finishReason\": \"STOP\",\n"
    "      \"index\": 0\n"
    "    }\n"
    "  ],\n"
    "  \"usageMetadata\": {\n"
    "    \"promptTokenCount\": 391,\n"
    "    \"candidatesTokenCount\": 9,\n"
    "    \"totalTokenCount\": 472,\n"
    "    \"promptTokensDetails\": [\n"
    "      {\n"
    "        \"modality\": \"TEXT\",\n"
    "        \"tokenCount\": 391\n"
    "      }\n"
    "    ],\n"
    "    \"thoughtsTokenCount\": 72\n"
    "  },\n"
    "  \"modelVersion\": \"gemini-2.5-flash\",\n"
    "  \"responseId\": \"HTESab3lIJWe0-kP6_Wh4Ao\"\n"
    "}\n";

#define MV "\"modelVersion\":\"gemini-2.5-flash\",\"responseId\":\"r1\""
#define USAGE(p, c, t) \
    "\"usageMetadata\":{\"promptTokenCount\":" #p \
    ",\"candidatesTokenCount\":" #c ",\"thoughtsTokenCount\":" #t "}"

static const struct gcase body_cases[] = {
    { "real answer: thoughts billed as output", BODY, real_body, false,
      { NULL, "HTESab3lIJWe0-kP6_Wh4Ao", "gemini-2.5-flash", "[\"STOP\"]",
        "\"Hello! How can I help you today?\"", NULL, true, 391, 81, 0, 72,
        NOTTFT } },
    { "thought parts are not output text", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"**Plan**\","
      "\"thought\":true},{\"text\":\"Hi \"},{\"text\":\"there\","
      "\"thoughtSignature\":\"c2ln\"}],\"role\":\"model\"},"
      "\"finishReason\":\"STOP\"}]," USAGE(10, 2, 30) "," MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"Hi there\"", NULL,
        true, 10, 32, 0, 30, NOTTFT } },
    { "cached content is a subset of the prompt", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"x\"}]},"
      "\"finishReason\":\"MAX_TOKENS\"}],\"usageMetadata\":{"
      "\"promptTokenCount\":5000,\"cachedContentTokenCount\":4096,"
      "\"candidatesTokenCount\":7,\"totalTokenCount\":5007,"
      "\"cacheTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":4096}]},"
      MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"MAX_TOKENS\"]", "\"x\"", NULL,
        true, 5000, 7, 4096, 0, NOTTFT } },
    { "tool-use prompt tokens are input", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"y\"}]},"
      "\"finishReason\":\"STOP\"}],\"usageMetadata\":{"
      "\"promptTokenCount\":100,\"toolUsePromptTokenCount\":250,"
      "\"candidatesTokenCount\":3}," MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"y\"", NULL, true, 350,
        3, 0, 0, NOTTFT } },
    { "function call: no id invented, args as JSON text", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":{"
      "\"name\":\"get_weather\",\"args\":{\"city\": \"Paris\",\"days\":2}}},"
      "{\"functionCall\":{\"id\":\"fc-1\",\"name\":\"noop\"}}],"
      "\"role\":\"model\"},\"finishReason\":\"STOP\"}]," USAGE(50, 12, 0) ","
      MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", NULL,
        "[{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\","
        "\\\"days\\\":2}\"},{\"id\":\"fc-1\",\"name\":\"noop\"}]",
        true, 50, 12, 0, 0, NOTTFT } },
    { "two candidates, index 0 omitted (proto3)", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"a\"}]},"
      "\"finishReason\":\"STOP\"},{\"index\":1,\"content\":{\"parts\":"
      "[{\"text\":\"b\"}]},\"finishReason\":\"SAFETY\"}]," USAGE(4, 2, 0) ","
      MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\",\"SAFETY\"]",
        "[\"a\",\"b\"]", NULL, true, 4, 2, 0, 0, NOTTFT } },
    { "blocked prompt: no candidates, prompt still counted", BODY,
      "{\"promptFeedback\":{\"blockReason\":\"SAFETY\"},\"usageMetadata\":{"
      "\"promptTokenCount\":8,\"totalTokenCount\":8}," MV "}",
      false,
      { "prompt blocked: SAFETY", "r1", "gemini-2.5-flash", NULL, NULL, NULL,
        true, 8, 0, 0, 0, NOTTFT } },
    { "no usageMetadata", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"z\"}]},"
      "\"finishReason\":\"STOP\"}]," MV "}",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"z\"", NULL, false, 0,
        0, 0, 0, NOTTFT } },
    { "negative count invalidates usage", BODY,
      "{\"candidates\":[]," USAGE(-1, 2, 0) "," MV "}", false,
      { NULL, "r1", "gemini-2.5-flash", NULL, NULL, NULL, false, 0, 0, 0, 0,
        NOTTFT } },
    { "count as a string invalidates usage", BODY,
      "{\"candidates\":[],\"usageMetadata\":{\"promptTokenCount\":\"9\"}}",
      false,
      { NULL, NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, NOTTFT } },
    { "wrong types everywhere", BODY,
      "{\"candidates\":{\"a\":1},\"usageMetadata\":[1],\"modelVersion\":7,"
      "\"responseId\":null}",
      false,
      { NULL, NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, NOTTFT } },
    { "candidates with wrong inner types", BODY,
      "{\"candidates\":[1,{\"content\":7},{\"index\":2,\"content\":{\"parts\":"
      "[5,{\"text\":3},{\"functionCall\":\"f\"},{\"text\":\"ok\"}]},"
      "\"finishReason\":4}]}",
      false,
      { NULL, NULL, NULL, NULL, "[null,\"ok\"]", NULL, false, 0, 0, 0, 0,
        NOTTFT } },
    { "error body", BODY,
      "{\n  \"error\": {\n    \"code\": 400,\n    \"message\": \"API key not "
      "valid. Please pass a valid API key.\",\n    \"status\": "
      "\"INVALID_ARGUMENT\",\n    \"details\": [{\"@type\": "
      "\"type.googleapis.com/google.rpc.ErrorInfo\", \"reason\": "
      "\"API_KEY_INVALID\"}]\n  }\n}\n",
      false,
      { "INVALID_ARGUMENT: API key not valid. Please pass a valid API key.",
        NULL, NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, NOTTFT } },
    { "error body without status uses the code", BODY,
      "{\"error\":{\"code\":503,\"message\":\"The model is overloaded.\"}}",
      false,
      { "503: The model is overloaded.", NULL, NULL, NULL, NULL, NULL, false,
        0, 0, 0, 0, NOTTFT } },
    { "stream without alt=sse: one JSON array", BODY,
      "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}],"
      "\"role\":\"model\"}}],\"usageMetadata\":{\"promptTokenCount\":7,"
      "\"totalTokenCount\":7}," MV "}\n,\r\n{\"candidates\":[{\"content\":"
      "{\"parts\":[{\"text\":\"lo\"}],\"role\":\"model\"},\"finishReason\":"
      "\"STOP\"}]," USAGE(7, 2, 0) "," MV "}\n]",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"Hello\"", NULL, true,
        7, 2, 0, 0, NOTTFT } },
    { "array stream cut before its finishReason", BODY,
      "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}],"
      "\"usageMetadata\":{\"promptTokenCount\":7}}]",
      false,
      { "stream ended before completion (no finishReason)", NULL, NULL, NULL,
        "\"Hel\"", NULL, true, 7, 0, 0, 0, NOTTFT } },
    { "error inside an array stream", BODY,
      "[{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel\"}]}}],"
      "\"usageMetadata\":{\"promptTokenCount\":7}},{\"error\":{\"code\":500,"
      "\"message\":\"Internal error\",\"status\":\"INTERNAL\"}}]",
      false,
      { "INTERNAL: Internal error", NULL, NULL, NULL, "\"Hel\"", NULL, true, 7,
        0, 0, 0, NOTTFT } },
    { "truncated body", BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hel", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, NOTTFT } },
    { "HTML from a proxy", BODY, "<html>502 Bad Gateway</html>", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, NOTTFT } },
    { "body cut by the transport", BODY, real_body, true,
      { "response ended before completion", "HTESab3lIJWe0-kP6_Wh4Ao",
        "gemini-2.5-flash", "[\"STOP\"]",
        "\"Hello! How can I help you today?\"", NULL, true, 391, 81, 0, 72,
        NOTTFT } },
};

Test(gemini, bodies)
{
    tt_api_set_capture(true);
    run_cases(body_cases, sizeof(body_cases) / sizeof(body_cases[0]));
}

/* --- streaming ---------------------------------------------------------- */

/* The real line of providers.md section 5 (a thought summary first), then
 * text, then the last chunk with finishReason and the final counts. */
static const char real_stream[] =
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
    "\"**Calculating Yesterday's Date**\\n\\n...\",\"thought\": true}],"
    "\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": "
    "{\"promptTokenCount\": 391,\"totalTokenCount\": 463,"
    "\"promptTokensDetails\": [{\"modality\": \"TEXT\",\"tokenCount\": 391}],"
    "\"thoughtsTokenCount\": 72},\"modelVersion\": \"gemini-2.5-flash\","
    "\"responseId\": \"HTESab3lIJWe0-kP6_Wh4Ao\"}\n\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
    "\"Yesterday was\"}],\"role\": \"model\"},\"index\": 0}],"
    "\"usageMetadata\": {\"promptTokenCount\": 391,\"totalTokenCount\": 463,"
    "\"thoughtsTokenCount\": 72},\"modelVersion\": \"gemini-2.5-flash\","
    "\"responseId\": \"HTESab3lIJWe0-kP6_Wh4Ao\"}\n\n"
    "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": "
    "\" Tuesday.\"}],\"role\": \"model\"},\"finishReason\": \"STOP\","
    "\"index\": 0}],\"usageMetadata\": {\"promptTokenCount\": 391,"
    "\"candidatesTokenCount\": 5,\"totalTokenCount\": 468,"
    "\"thoughtsTokenCount\": 72},\"modelVersion\": \"gemini-2.5-flash\","
    "\"responseId\": \"HTESab3lIJWe0-kP6_Wh4Ao\"}\n\n";

#define CHUNK(parts, extra) \
    "data: {\"candidates\":[{\"content\":{\"parts\":" parts \
    ",\"role\":\"model\"}" extra "}]," MV

static const struct gcase stream_cases[] = {
    { "real stream: thought first, last chunk counts", STREAM, real_stream,
      false,
      { NULL, "HTESab3lIJWe0-kP6_Wh4Ao", "gemini-2.5-flash", "[\"STOP\"]",
        "\"Yesterday was Tuesday.\"", NULL, true, 391, 77, 0, 72, 1.0 } },
    { "cached content in a stream", STREAM,
      CHUNK("[{\"text\":\"\"}]", "") ",\"usageMetadata\":{"
      "\"promptTokenCount\":3000,\"cachedContentTokenCount\":2048}}\n\n"
      CHUNK("[{\"text\":\"Hi\"}]", ",\"finishReason\":\"STOP\"")
      ",\"usageMetadata\":{\"promptTokenCount\":3000,"
      "\"cachedContentTokenCount\":2048,\"candidatesTokenCount\":1}}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"Hi\"", NULL, true,
        3000, 1, 2048, 0, 2.0 } },
    { "function call part starts the clock", STREAM,
      CHUNK("[{\"functionCall\":{\"name\":\"get_weather\",\"args\":{"
            "\"city\":\"Paris\"}}}]", ",\"finishReason\":\"STOP\"")
      "," USAGE(60, 9, 0) "}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", NULL,
        "[{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":"
        "\\\"Paris\\\"}\"}]",
        true, 60, 9, 0, 0, 1.0 } },
    { "comment and event lines are ignored", STREAM,
      ": keep-alive\n\nevent: message\n"
      CHUNK("[{\"text\":\"ok\"}]", ",\"finishReason\":\"STOP\"") ","
      USAGE(5, 1, 0) "}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"ok\"", NULL, true, 5,
        1, 0, 0, 1.0 } },
    { "error object as a stream event", STREAM,
      CHUNK("[{\"text\":\"Hel\"}]", "") ",\"usageMetadata\":{"
      "\"promptTokenCount\":12}}\n\n"
      "data: {\"error\":{\"code\":500,\"message\":\"An internal error has "
      "occurred.\",\"status\":\"INTERNAL\"}}\n\n",
      false,
      { "INTERNAL: An internal error has occurred.", "r1", "gemini-2.5-flash",
        NULL, "\"Hel\"", NULL, true, 12, 0, 0, 0, 1.0 } },
    { "error as plain JSON lines (Gemini's own form) is not an event",
      STREAM,
      CHUNK("[{\"text\":\"Hel\"}]", "") ",\"usageMetadata\":{"
      "\"promptTokenCount\":12}}\n\n"
      "{\n  \"error\": {\n    \"code\": 500,\n    \"status\": \"INTERNAL\"\n"
      "  }\n}\n",
      false,
      { "stream ended before completion (no finishReason)", "r1",
        "gemini-2.5-flash", NULL, "\"Hel\"", NULL, true, 12, 0, 0, 0, 1.0 } },
    { "stream ends without finishReason", STREAM,
      CHUNK("[{\"text\":\"Hel\"}]", "") ",\"usageMetadata\":{"
      "\"promptTokenCount\":12}}\n\n",
      false,
      { "stream ended before completion (no finishReason)", "r1",
        "gemini-2.5-flash", NULL, "\"Hel\"", NULL, true, 12, 0, 0, 0, 1.0 } },
    { "stream cut by the transport", STREAM, real_stream, true,
      { "stream ended before completion (cut short)",
        "HTESab3lIJWe0-kP6_Wh4Ao", "gemini-2.5-flash", "[\"STOP\"]",
        "\"Yesterday was Tuesday.\"", NULL, true, 391, 77, 0, 72, 1.0 } },
    { "no events at all", STREAM, "", false,
      { "stream ended before completion (no events)", NULL, NULL, NULL, NULL,
        NULL, false, 0, 0, 0, 0, NOTTFT } },
    { "a malformed chunk costs only itself", STREAM,
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"lost\n\n"
      CHUNK("[{\"text\":\"kept\"}]", ",\"finishReason\":\"STOP\"") ","
      USAGE(9, 3, 0) "}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"kept\"", NULL, true,
        9, 3, 0, 0, 2.0 } },
    /* The usual chunks are read without a tree (gemini.c
     * tt_gemini_chunk_fast); next to them chunks the tree must take (an
     * index of 0.0) or that are lost (invalid UTF-8): the span is the
     * tree path's. */
    { "chunks read without a tree, escapes, and those that take the tree", STREAM,
      CHUNK("[{\"text\":\"\"}]", "") ",\"usageMetadata\":{\"promptTokenCount\":10,"
      "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":10},"
      "{\"modality\":\"AUDIO\",\"tokenCount\":5}]}}\n\n"
      CHUNK("[{\"text\":\"think\",\"thought\":true}]", "") "}\n\n"
      CHUNK("[{\"text\":\"a\\\"b\\u00e9\"}]", "") "}\n\n"
      "data: {\"candidates\":[{\"index\":0.0,\"content\":{\"parts\":[{\"text\":\"X\"}]}}],"
      MV "}\n\n"
      "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\xff\"}]}}]," MV "}\n\n"
      CHUNK("[{\"text\":\"!\"}]", ",\"finishReason\":\"STOP\"") ","
      "\"usageMetadata\":{\"promptTokenCount\":10,\"candidatesTokenCount\":4,"
      "\"thoughtsTokenCount\":2,\"promptTokensDetails\":[{\"modality\":\"TEXT\","
      "\"tokenCount\":10}]}}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"a\\\"b\xc3\xa9X!\"", NULL, true,
        10, 6, 0, 2, 2.0 } },
    { "latest usage invalid: usage unknown", STREAM,
      CHUNK("[{\"text\":\"a\"}]", ",\"finishReason\":\"STOP\"") ","
      USAGE(9, 3, 0) "}\n\n"
      "data: {\"usageMetadata\":{\"promptTokenCount\":-4}}\n\n",
      false,
      { NULL, "r1", "gemini-2.5-flash", "[\"STOP\"]", "\"a\"", NULL, false, 0,
        0, 0, 0, 1.0 } },
};

Test(gemini, streams)
{
    tt_api_set_capture(true);
    run_cases(stream_cases, sizeof(stream_cases) / sizeof(stream_cases[0]));
}

/* An HTTP error before any event (429 on a stream request) goes through
 * body(). */
Test(gemini, stream_request_error_body)
{
    struct tt_span s;

    tt_api_set_capture(true);
    run(&s, STREAM_PATH, REQ, BODY,
        "{\"error\":{\"code\":429,\"message\":\"Resource has been exhausted "
        "(e.g. check quota).\",\"status\":\"RESOURCE_EXHAUSTED\"}}",
        0, false);
    cr_assert(s.stream);
    cr_assert_str_eq(s.error, "RESOURCE_EXHAUSTED: Resource has been "
                              "exhausted (e.g. check quota).");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

/* --- requests ----------------------------------------------------------- */

struct rcase {
    const char *name;
    const char *path;
    const char *body;
    int rc;
    const char *model;
    const char *span_name;
    const char *input;
    bool stream;
    bool has_temperature, has_top_p, has_max_tokens;
    double temperature, top_p;
    int64_t max_tokens;
};

static const struct rcase req_cases[] = {
    { "Gemini API, generationConfig, system instruction first",
      "/v1beta/models/gemini-2.5-flash:generateContent",
      "{\"contents\": [{\"role\": \"user\", \"parts\": [{\"text\": \"hi\"}]}],"
      " \"systemInstruction\": {\"parts\": [{\"text\": \"Be terse.\"}]},"
      " \"generationConfig\": {\"temperature\": 0.2, \"topP\": 0.95,"
      " \"maxOutputTokens\": 256, \"thinkingConfig\": {\"thinkingBudget\": 0}}}",
      0, "gemini-2.5-flash", "generate_content gemini-2.5-flash",
      "[{\"role\":\"system\",\"content\":{\"parts\": [{\"text\": \"Be terse."
      "\"}]}},{\"role\": \"user\", \"parts\": [{\"text\": \"hi\"}]}]",
      false, true, true, true, 0.2, 0.95, 256 },
    { "Vertex publisher path, stream, snake_case members",
      "/v1/projects/p/locations/us-central1/publishers/google/models/"
      "gemini-2.5-pro:streamGenerateContent?alt=sse",
      "{\"system_instruction\":{\"parts\":[{\"text\":\"S\"}]},\"contents\":[],"
      "\"generation_config\":{\"top_p\":0.5,\"max_output_tokens\":9}}",
      0, "gemini-2.5-pro", "generate_content gemini-2.5-pro",
      "[{\"role\":\"system\",\"content\":{\"parts\":[{\"text\":\"S\"}]}}]",
      true, false, true, true, 0, 0.5, 9 },
    { "no system instruction: contents as sent",
      "/v1beta/models/gemini-2.0-flash:streamGenerateContent",
      "{\"contents\":[ {\"parts\":[{\"text\":\"x\"}]} ]}", 0,
      "gemini-2.0-flash", "generate_content gemini-2.0-flash",
      "[ {\"parts\":[{\"text\":\"x\"}]} ]", true, false, false, false, 0, 0,
      0 },
    { "tuned model: the segment before the method",
      "/v1beta/tunedModels/my-tune-123:generateContent",
      "{\"contents\":[]}", 0, "my-tune-123", "generate_content my-tune-123",
      "[]", false, false, false, false, 0, 0, 0 },
    { "a colon in an earlier segment is not the method",
      "/v1/a:b/generateContent", "{}", 0, NULL, "generate_content", NULL,
      false, false, false, false, 0, 0, 0 },
    { "body cut at the capture cap keeps the complete members",
      "/v1beta/models/gemini-2.5-flash:generateContent",
      "{\"generationConfig\":{\"temperature\":1},\"contents\":[{\"parts\":",
      TT_ERR_PARSE, "gemini-2.5-flash", "generate_content gemini-2.5-flash",
      NULL, false, true, false, false, 1, 0, 0 },
    { "not JSON", "/v1beta/models/gemini-2.5-flash:generateContent",
      "hello", TT_ERR_PARSE, "gemini-2.5-flash",
      "generate_content gemini-2.5-flash", NULL, false, false, false, false,
      0, 0, 0 },
};

Test(gemini, requests)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct rcase *c = &req_cases[i];
        struct tt_span s;
        tt_span_init(&s);
        cr_assert_eq(tt_span_set(&s.path, c->path), 0);
        int rc = tt_gemini_generate_api.request(&s, c->body, strlen(c->body));
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        expect_str(s.request_model, c->model, "request_model", c->name, 0);
        expect_str(s.name, c->span_name, "name", c->name, 0);
        expect_str(s.operation, "generate_content", "operation", c->name, 0);
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

/* --- capture off -------------------------------------------------------- */

Test(gemini, capture_off_keeps_counts_and_tool_names)
{
    struct tt_span s;

    tt_api_set_capture(false);
    run(&s, GEN_PATH, REQ, BODY,
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"secret\"},"
        "{\"functionCall\":{\"name\":\"f\",\"args\":{\"pw\":\"secret\"}}}]},"
        "\"finishReason\":\"STOP\"}]," USAGE(3, 4, 0) "}",
        0, false);
    tt_api_set_capture(true);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls, "[{\"name\":\"f\"}]");
    cr_assert(s.usage_known);
    cr_assert_eq(s.output_tokens, 4);
    tt_span_clear(&s);
}

/* --- the wiring: route, host, secrets ----------------------------------- */

Test(gemini, routes_and_hosts)
{
    static const char *const paths[] = {
        "/v1beta/models/gemini-2.5-flash:generateContent",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
        "/v1/projects/p/locations/europe-west4/publishers/google/models/"
        "gemini-2.5-pro:streamGenerateContent",
    };
    static const struct { const char *host, *provider; } hosts[] = {
        { "generativelanguage.googleapis.com", "gcp.gemini" },
        { "generativelanguage.googleapis.com:443", "gcp.gemini" },
        { "aiplatform.googleapis.com", "gcp.vertex_ai" },
        { "us-central1-aiplatform.googleapis.com", "gcp.vertex_ai" },
        { "EUROPE-WEST4-aiplatform.googleapis.com", "gcp.vertex_ai" },
        { "-aiplatform.googleapis.com", NULL },
        { "a.b-aiplatform.googleapis.com", NULL },
        { "storage.googleapis.com", NULL },
    };

    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert_eq(tt_api_match("POST", 4, paths[i], strlen(paths[i])),
                     &tt_gemini_generate_api, "%s", paths[i]);
    cr_assert_null(tt_api_match("POST", 4, "/v1beta/models/m:countTokens",
                                28));
    cr_assert_null(tt_api_match("GET", 3, paths[0], strlen(paths[0])));
    for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++) {
        const char *p = tt_provider_for_host(hosts[i].host,
                                             strlen(hosts[i].host));
        if (!hosts[i].provider)
            cr_assert_null(p, "%s -> %s", hosts[i].host, p);
        else
            cr_assert(p && !strcmp(p, hosts[i].provider), "%s -> %s",
                      hosts[i].host, p ? p : "(null)");
    }
}

/* The API key in ?key= never reaches span->path; alt=sse stays. */
Test(gemini, key_removed_from_path)
{
    static const struct { const char *in, *out; } c[] = {
        { "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaSECRET",
          "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse" },
        { "/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSECRET",
          "/v1beta/models/gemini-2.5-flash:generateContent" },
        { "/v1beta/models/gemini-2.5-flash:generateContent?KEY=AIzaSECRET&alt=sse",
          "/v1beta/models/gemini-2.5-flash:generateContent?alt=sse" },
    };
    char out[512];

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        tt_redact_target(c[i].in, strlen(c[i].in), out, sizeof(out));
        cr_assert_str_eq(out, c[i].out);
    }
}

Test(gemini, free_and_end_accept_null_state)
{
    struct tt_span s;

    tt_span_init(&s);
    tt_gemini_generate_api.response_free(NULL);
    cr_assert_eq(tt_api_response_end(&tt_gemini_generate_api, NULL, &s,
                                     &(struct tt_api_end){ false, false, false }), 0);
    cr_assert_str_eq(s.status, "error");
    cr_assert_lt(tt_gemini_generate_api.sse_event(NULL, &s, "", 0, "{}", 2, 0),
                 0);
    tt_span_clear(&s);
}

/* Every prefix of every recorded stream and body (a connection cut at any
 * byte) gives a consistent span under ASan/UBSan; a stream cut before its
 * finishReason is never reported ok. */
Test(gemini, every_prefix_is_safe)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]);
         i++) {
        const char *in = stream_cases[i].in;
        const char *term = strstr(in, "\"finishReason\"");
        for (size_t k = 0; k < strlen(in); k++) {
            char *p = tt_strndup(in, k);
            struct tt_span s;
            cr_assert_not_null(p);
            run(&s, STREAM_PATH, NULL, STREAM, p, 5, false);
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
            run(&s, GEN_PATH, NULL, BODY, p, 0, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            tt_span_clear(&s);
            free(p);
        }
    }
}
