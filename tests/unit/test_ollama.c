/* test_ollama.c - Ollama native API parsers (/api/chat, /api/generate), on
 * recorded-shape bodies and NDJSON streams (research/providers.md section
 * 8, ollama docs/api.md). Streams are cut into lines the way the exchange
 * does (preload/exchange.c ndjson_feed) at several feed sizes; every case
 * asserts the whole span a user would see. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tt.h"
#define HARNESS_OWN_RUN   /* see provider_harness.h */
#include "provider_harness.h"

#define NOTTFT -1.0

struct expect {
    const char *error;              /* NULL: status ok */
    const char *response_model;
    const char *finish_reasons;
    const char *output;
    const char *tool_calls;
    bool usage_known;
    int64_t in, out;
    double ttft_ms;                 /* -1: none */
};

struct ocase {
    const char *name;
    const struct tt_api_ops *ops;
    enum kind kind;
    const char *in;
    bool cut;                       /* transport says the response was cut */
    struct expect want;
};

/* --- harness ------------------------------------------------------------ */

struct feed_ctx {
    const struct tt_api_ops *ops;
    void *state;
    struct tt_span *span;
    int lines;
    struct tt_buf line;
};

/* What the exchange does with a complete line: strip a CR and trailing
 * blanks, skip empty lines, hand over the rest. */
static void flush_line(struct feed_ctx *f)
{
    size_t n = f->line.len;

    while (n && (f->line.data[n - 1] == '\r' || f->line.data[n - 1] == ' '))
        n--;
    if (n) {
        f->lines++;
        (void)f->ops->ndjson_line(f->state, f->span, f->line.data, n,
                                  SENT_NS + (int64_t)f->lines * 1000000);
    }
    tt_buf_reset(&f->line);
}

static void feed(struct feed_ctx *f, const char *p, size_t n)
{
    while (n) {
        const char *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        cr_assert_eq(tt_buf_append(&f->line, p, k), 0);
        if (!nl)
            return;
        flush_line(f);
        p += k + 1;
        n -= k + 1;
    }
}

static void run(const struct tt_api_ops *ops, struct tt_span *span,
                const char *req, enum kind kind, const char *in, size_t split,
                bool cut)
{
    struct feed_ctx f = { ops, NULL, span, 0, { 0 } };

    tt_span_init(span);
    span->request_sent_ns = SENT_NS;
    if (req)
        (void)ops->request(span, req, strlen(req));
    cr_assert_eq(ops->response_begin(span, &f.state), 0);
    if (kind == BODY) {
        (void)ops->body(f.state, span, in, strlen(in));
    } else {
        size_t len = strlen(in);
        tt_buf_init(&f.line, 1 << 20);
        for (size_t off = 0; off < len; off += split)
            feed(&f, in + off, len - off < split ? len - off : split);
        if (f.line.len)
            flush_line(&f);         /* a last line without its newline */
        tt_buf_free(&f.line);
    }
    struct tt_api_end how = { !cut, kind == BODY, f.lines > 0 };
    (void)tt_api_response_end(ops, f.state, span, &how);
    ops->response_free(f.state);
}

static void check(const struct tt_span *s, const struct expect *w,
                  const char *name, size_t split)
{
    expect_str(s->status, w->error ? "error" : "ok", "status", name, split);
    expect_str(s->error, w->error, "error", name, split);
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
    cr_assert_eq(s->cache_read_tokens, 0, "%s: cache_read", name);
    cr_assert_eq(s->reasoning_tokens, 0, "%s: reasoning", name);
    cr_assert_float_eq(s->ttft_ms, w->ttft_ms, 1e-9, "%s [split %zu]: ttft %f",
                       name, split, s->ttft_ms);
}

static void run_cases(const struct ocase *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ocase *c = &cases[i];
        bool chat = c->ops == &tt_ollama_chat_api;
        const char *req =
            c->kind == BODY
                ? (chat ? "{\"model\":\"llama3.2\",\"messages\":[],"
                          "\"stream\":false}"
                        : "{\"model\":\"llama3.2\",\"prompt\":\"Why?\","
                          "\"stream\":false}")
                : (chat ? "{\"model\":\"llama3.2\",\"messages\":[]}"
                        : "{\"model\":\"llama3.2\",\"prompt\":\"Why?\"}");
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);
        for (size_t k = 0; k < nsplit; k++) {
            struct tt_span span;
            size_t split = c->kind == BODY ? 0 : splits[k];
            run(c->ops, &span, req, c->kind, c->in, split, c->cut);
            cr_assert_eq(span.stream, c->kind == STREAM, "%s: stream",
                         c->name);
            check(&span, &c->want, c->name, split);
            tt_span_clear(&span);
        }
    }
}

#define CHAT &tt_ollama_chat_api
#define GEN &tt_ollama_generate_api

/* --- non-streaming ------------------------------------------------------ */

/* docs/api.md "Chat request (No streaming)" response, with the done_reason
 * current servers add. */
static const char chat_body[] =
    "{\n"
    "  \"model\": \"llama3.2\",\n"
    "  \"created_at\": \"2023-12-12T14:13:43.416799Z\",\n"
    "  \"message\": {\n"
    "    \"role\": \"assistant\",\n"
    "    \"content\": \"Hello! How are you today?\"\n"
    "  },\n"
    "  \"done_reason\": \"stop\",\n"
    "  \"done\": true,\n"
    "  \"total_duration\": 5191566416,\n"
    "  \"load_duration\": 2154458,\n"
    "  \"prompt_eval_count\": 26,\n"
    "  \"prompt_eval_duration\": 383809000,\n"
    "  \"eval_count\": 298,\n"
    "  \"eval_duration\": 4799921000\n"
    "}\n";

/* docs/api.md "Generate request (No streaming)" response. */
static const char generate_body[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2023-08-04T19:22:45.499127Z\","
    "\"response\":\"The sky is blue because it is the color of the sky.\","
    "\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],"
    "\"total_duration\":5043500667,\"load_duration\":5025959,"
    "\"prompt_eval_count\":26,\"prompt_eval_duration\":325953000,"
    "\"eval_count\":290,\"eval_duration\":4709213000}";

/* docs/api.md "Chat request (With tools)" response: arguments is an
 * object. */
static const char tool_body[] =
    "{\"model\":\"llama3.2\",\"created_at\":\"2024-07-22T20:33:28.123648Z\","
    "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
    "[{\"function\":{\"name\":\"get_current_weather\",\"arguments\":"
    "{\"format\":\"celsius\",\"location\":\"Paris, FR\"}}}]},"
    "\"done_reason\":\"stop\",\"done\":true,\"total_duration\":885095291,"
    "\"load_duration\":3753500,\"prompt_eval_count\":122,"
    "\"prompt_eval_duration\":328493000,\"eval_count\":33,"
    "\"eval_duration\":551462000}";

#define TOOL_CALLS                                                          \
    "[{\"id\":null,\"name\":\"get_current_weather\",\"arguments\":"         \
    "\"{\\\"format\\\":\\\"celsius\\\",\\\"location\\\":\\\"Paris, FR\\\"}\"}]"

static const struct ocase body_cases[] = {
    { "chat body (docs example)", CHAT, BODY, chat_body, false,
      { NULL, "llama3.2", "[\"stop\"]", "\"Hello! How are you today?\"", NULL,
        true, 26, 298, NOTTFT } },
    { "generate body (docs example)", GEN, BODY, generate_body, false,
      { NULL, "llama3.2", "[\"stop\"]",
        "\"The sky is blue because it is the color of the sky.\"", NULL, true,
        26, 290, NOTTFT } },
    { "tool call with object arguments", CHAT, BODY, tool_body, false,
      { NULL, "llama3.2", "[\"stop\"]", NULL, TOOL_CALLS, true, 122, 33,
        NOTTFT } },
    { "tool call with an id and several calls", CHAT, BODY,
      "{\"model\":\"qwen3:8b\",\"message\":{\"role\":\"assistant\","
      "\"content\":\"Checking.\",\"tool_calls\":[{\"id\":\"call_1\","
      "\"function\":{\"index\":0,\"name\":\"a\",\"arguments\":{}}},"
      "{\"function\":{\"index\":1,\"name\":\"b\",\"arguments\":{\"n\":2}}}]},"
      "\"done\":true,\"done_reason\":\"stop\",\"prompt_eval_count\":5,"
      "\"eval_count\":7}",
      false,
      { NULL, "qwen3:8b", "[\"stop\"]", "\"Checking.\"",
        "[{\"id\":\"call_1\",\"name\":\"a\",\"arguments\":\"{}\"},"
        "{\"id\":null,\"name\":\"b\",\"arguments\":\"{\\\"n\\\":2}\"}]",
        true, 5, 7, NOTTFT } },
    { "cached prompt: prompt_eval_count omitted means 0", CHAT, BODY,
      "{\"model\":\"llama3.2\",\"message\":{\"role\":\"assistant\","
      "\"content\":\"Again.\"},\"done\":true,\"done_reason\":\"stop\","
      "\"eval_count\":3,\"eval_duration\":1000}",
      false,
      { NULL, "llama3.2", "[\"stop\"]", "\"Again.\"", NULL, true, 0, 3,
        NOTTFT } },
    { "length limit", GEN, BODY,
      "{\"model\":\"llama3.2\",\"response\":\"The sky\",\"done\":true,"
      "\"done_reason\":\"length\",\"prompt_eval_count\":10,"
      "\"eval_count\":2}",
      false,
      { NULL, "llama3.2", "[\"length\"]", "\"The sky\"", NULL, true, 10, 2,
        NOTTFT } },
    { "model load (empty prompt): no counts, usage unknown", GEN, BODY,
      "{\"model\":\"llama3.2\",\"created_at\":\"2023-12-18T19:52:07.071755Z\","
      "\"response\":\"\",\"done\":true,\"done_reason\":\"load\"}",
      false,
      { NULL, "llama3.2", "[\"load\"]", NULL, NULL, false, 0, 0, NOTTFT } },
    { "negative count invalidates usage", CHAT, BODY,
      "{\"model\":\"m\",\"message\":{\"content\":\"x\"},\"done\":true,"
      "\"prompt_eval_count\":-1,\"eval_count\":3}",
      false,
      { NULL, "m", NULL, "\"x\"", NULL, false, 0, 0, NOTTFT } },
    { "count as a string invalidates usage", CHAT, BODY,
      "{\"model\":\"m\",\"message\":{\"content\":\"x\"},\"done\":true,"
      "\"prompt_eval_count\":\"4\",\"eval_count\":3}",
      false,
      { NULL, "m", NULL, "\"x\"", NULL, false, 0, 0, NOTTFT } },
    { "wrong types everywhere", CHAT, BODY,
      "{\"model\":7,\"message\":[],\"done_reason\":5,\"done\":true,"
      "\"tool_calls\":{}}",
      false,
      { NULL, NULL, NULL, NULL, NULL, false, 0, 0, NOTTFT } },
    { "tool calls with wrong inner types", CHAT, BODY,
      "{\"model\":\"m\",\"message\":{\"content\":null,\"tool_calls\":[5,"
      "{\"function\":\"f\"},{\"function\":{\"name\":3,\"arguments\":null}}]},"
      "\"done\":true}",
      false,
      { NULL, "m", NULL, NULL,
        "[{\"id\":null,\"name\":null},{\"id\":null,\"name\":null},"
        "{\"id\":null,\"name\":null}]",
        false, 0, 0, NOTTFT } },
    { "error body (model not found)", CHAT, BODY,
      "{\"error\":\"model \\\"llama9\\\" not found, try pulling it first\"}",
      false,
      { "model \"llama9\" not found, try pulling it first", NULL, NULL, NULL,
        NULL, false, 0, 0, NOTTFT } },
    { "error object", GEN, BODY,
      "{\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}", false,
      { "server_error: boom", NULL, NULL, NULL, NULL, false, 0, 0, NOTTFT } },
    { "body without done is partial", CHAT, BODY,
      "{\"model\":\"m\",\"message\":{\"content\":\"Hel\"},\"done\":false}",
      false,
      { "response ended before completion (no done)", "m", NULL, "\"Hel\"",
        NULL, false, 0, 0, NOTTFT } },
    { "truncated body", CHAT, BODY, "{\"model\":\"m\",\"message\":{\"cont",
      false,
      { "malformed response body", NULL, NULL, NULL, NULL, false, 0, 0,
        NOTTFT } },
    { "HTML from a proxy", CHAT, BODY, "<html>502 Bad Gateway</html>", false,
      { "malformed response body", NULL, NULL, NULL, NULL, false, 0, 0,
        NOTTFT } },
    { "empty body", GEN, BODY, "", false,
      { "malformed response body", NULL, NULL, NULL, NULL, false, 0, 0,
        NOTTFT } },
    { "complete body but transfer cut", CHAT, BODY, chat_body, true,
      { "response ended before completion", "llama3.2", "[\"stop\"]",
        "\"Hello! How are you today?\"", NULL, true, 26, 298, NOTTFT } },
};

Test(ollama, bodies)
{
    tt_api_set_capture(true);
    run_cases(body_cases, sizeof(body_cases) / sizeof(body_cases[0]));
}

/* --- streaming ---------------------------------------------------------- */

#define CL(t) "{\"model\":\"llama3.2\",\"created_at\":"                       \
              "\"2023-08-04T08:52:19.385406455-07:00\",\"message\":{\"role\":" \
              "\"assistant\",\"content\":\"" t "\"},\"done\":false}\n"
#define CDONE(extra) "{\"model\":\"llama3.2\",\"created_at\":"                \
              "\"2023-08-04T19:22:45.499127Z\",\"message\":{\"role\":"        \
              "\"assistant\",\"content\":\"\"},\"done_reason\":\"stop\","     \
              "\"done\":true,\"total_duration\":4883583458,"                  \
              "\"load_duration\":1334875,\"prompt_eval_count\":26,"           \
              "\"prompt_eval_duration\":342546000,\"eval_count\":282,"        \
              "\"eval_duration\":4535599000" extra "}\n"
#define GL(t) "{\"model\":\"llama3.2\",\"created_at\":"                       \
              "\"2023-08-04T08:52:19.385406455-07:00\",\"response\":\"" t     \
              "\",\"done\":false}\n"
#define GDONE "{\"model\":\"llama3.2\",\"created_at\":"                       \
              "\"2023-08-04T19:22:45.499127Z\",\"response\":\"\","            \
              "\"done\":true,\"done_reason\":\"stop\",\"context\":[1,2,3],"   \
              "\"total_duration\":10706818083,\"load_duration\":6338219291,"  \
              "\"prompt_eval_count\":26,\"prompt_eval_duration\":130079000,"  \
              "\"eval_count\":259,\"eval_duration\":4232710000}\n"

static const struct ocase stream_cases[] = {
    { "chat stream (docs shape)", CHAT, STREAM,
      CL("The") CL(" sky") CL(" is blue.") CDONE(""), false,
      { NULL, "llama3.2", "[\"stop\"]", "\"The sky is blue.\"", NULL, true, 26,
        282, 1.0 } },
    { "generate stream (docs shape)", GEN, STREAM,
      GL("The") GL(" sky") GDONE, false,
      { NULL, "llama3.2", "[\"stop\"]", "\"The sky\"", NULL, true, 26, 259,
        1.0 } },
    { "empty first piece is not the first token", CHAT, STREAM,
      CL("") CL("Hi") CDONE(""), false,
      { NULL, "llama3.2", "[\"stop\"]", "\"Hi\"", NULL, true, 26, 282, 2.0 } },
    { "thinking is the first token, not the output", CHAT, STREAM,
      "{\"model\":\"qwen3\",\"message\":{\"role\":\"assistant\",\"content\":"
      "\"\",\"thinking\":\"Hmm\"},\"done\":false}\n"
      CL("Yes") CDONE(""),
      false,
      { NULL, "llama3.2", "[\"stop\"]", "\"Yes\"", NULL, true, 26, 282,
        1.0 } },
    { "tool call stream", CHAT, STREAM,
      "{\"model\":\"llama3.2\",\"created_at\":\"2025-05-27T22:54:57.641Z\","
      "\"message\":{\"role\":\"assistant\",\"content\":\"\",\"tool_calls\":"
      "[{\"function\":{\"name\":\"get_current_weather\",\"arguments\":"
      "{\"format\":\"celsius\",\"location\":\"Paris, FR\"}}}]},"
      "\"done\":false}\n"
      CDONE(""),
      false,
      { NULL, "llama3.2", "[\"stop\"]", NULL, TOOL_CALLS, true, 26, 282,
        1.0 } },
    { "CRLF line ends and blank lines", CHAT, STREAM,
      "\r\n{\"model\":\"m\",\"message\":{\"content\":\"a\"},\"done\":false}"
      "\r\n\r\n{\"model\":\"m\",\"message\":{\"content\":\"\"},\"done\":true,"
      "\"done_reason\":\"stop\",\"prompt_eval_count\":3,\"eval_count\":1}\r\n",
      false,
      { NULL, "m", "[\"stop\"]", "\"a\"", NULL, true, 3, 1, 1.0 } },
    { "last line without a newline", GEN, STREAM,
      "{\"model\":\"m\",\"response\":\"a\",\"done\":false}\n"
      "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":"
      "\"stop\",\"eval_count\":1}",
      false,
      { NULL, "m", "[\"stop\"]", "\"a\"", NULL, true, 0, 1, 1.0 } },
    { "a malformed line costs only its content", CHAT, STREAM,
      CL("A") "{\"model\":\"llama3.2\",\"message\":{\"content\":\"lost\n"
      CL("B") CDONE(""),
      false,
      { NULL, "llama3.2", "[\"stop\"]", "\"AB\"", NULL, true, 26, 282, 1.0 } },
    { "lines after done are ignored", CHAT, STREAM,
      CL("A") CDONE("") CL("late") "{\"error\":\"late\"}\n", false,
      { NULL, "llama3.2", "[\"stop\"]", "\"A\"", NULL, true, 26, 282, 1.0 } },
    { "no usage in the final object", CHAT, STREAM,
      CL("A") "{\"model\":\"llama3.2\",\"message\":{\"content\":\"\"},"
      "\"done\":true,\"done_reason\":\"stop\"}\n",
      false,
      { NULL, "llama3.2", "[\"stop\"]", "\"A\"", NULL, false, 0, 0, 1.0 } },
    { "error line mid-stream", CHAT, STREAM,
      CL("The") "{\"error\":\"an error was encountered while running the "
      "model: unexpected EOF\"}\n",
      false,
      { "an error was encountered while running the model: unexpected EOF",
        "llama3.2", NULL, "\"The\"", NULL, false, 0, 0, 1.0 } },
    { "stream without done (connection closed cleanly)", CHAT, STREAM,
      CL("The") CL(" sky"), false,
      { "stream ended before completion (no done)", "llama3.2", NULL,
        "\"The sky\"", NULL, false, 0, 0, 1.0 } },
    { "stream cut by the transport", GEN, STREAM, GL("The"), true,
      { "stream ended before completion (cut short)", "llama3.2", NULL,
        "\"The\"", NULL, false, 0, 0, 1.0 } },
    { "no lines at all", CHAT, STREAM, "", false,
      { "stream ended before completion (no events)", NULL, NULL, NULL, NULL,
        false, 0, 0, NOTTFT } },
    { "only garbage", CHAT, STREAM, "not json\n[1,2]\n", false,
      { "stream ended before completion (no done)", NULL, NULL, NULL, NULL,
        false, 0, 0, NOTTFT } },
};

Test(ollama, streams)
{
    tt_api_set_capture(true);
    run_cases(stream_cases, sizeof(stream_cases) / sizeof(stream_cases[0]));
}

/* An HTTP error for a streaming request arrives as one JSON body. */
Test(ollama, stream_request_error_body)
{
    struct tt_span s;

    tt_api_set_capture(true);
    run(&tt_ollama_chat_api, &s, "{\"model\":\"llama9\",\"messages\":[]}",
        BODY, "{\"error\":\"model 'llama9' not found\"}", 0, false);
    cr_assert(s.stream);
    cr_assert_str_eq(s.error, "model 'llama9' not found");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

Test(ollama, capture_off_keeps_counts_and_tool_names)
{
    struct tt_span s;

    tt_api_set_capture(false);
    run(&tt_ollama_chat_api, &s,
        "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"secret\"}]}",
        STREAM, stream_cases[4].in, 5, false);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls,
                     "[{\"id\":null,\"name\":\"get_current_weather\"}]");
    cr_assert(s.usage_known);
    cr_assert_eq(s.input_tokens, 26);
    cr_assert_eq(s.output_tokens, 282);
    tt_span_clear(&s);

    run(&tt_ollama_generate_api, &s,
        "{\"model\":\"llama3.2\",\"prompt\":\"secret\",\"stream\":false}", BODY,
        generate_body, 0, false);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_eq(s.output_tokens, 290);
    tt_span_clear(&s);
    tt_api_set_capture(true);
}

/* --- requests ----------------------------------------------------------- */

struct rcase {
    const char *name;
    const struct tt_api_ops *ops;
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
    { "chat with options; stream absent means true", CHAT,
      "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"why is the sky blue?\"}],\"options\":{\"temperature\":0.2,"
      "\"top_p\":0.9,\"num_predict\":128,\"seed\":42}}",
      0, "llama3.2", "chat llama3.2", true, true, true, true, 0.2, 0.9, 128,
      "[{\"role\":\"user\",\"content\":\"why is the sky blue?\"}]" },
    { "generate, stream false", GEN,
      "{\"model\":\"llama3.2\",\"prompt\":\"Why is the sky blue?\","
      "\"stream\":false}",
      0, "llama3.2", "text_completion llama3.2", false, false, false, false, 0,
      0, 0, "\"Why is the sky blue?\"" },
    { "stream true explicitly, integer temperature", CHAT,
      "{\"model\":\"qwen3:8b\",\"messages\":[],\"stream\":true,\"options\":"
      "{\"temperature\":1}}",
      0, "qwen3:8b", "chat qwen3:8b", true, true, false, false, 1.0, 0, 0,
      "[]" },
    { "num_predict -1 (no limit) is not a cap", GEN,
      "{\"model\":\"m\",\"prompt\":\"p\",\"options\":{\"num_predict\":-1}}", 0,
      "m", "text_completion m", true, false, false, false, 0, 0, 0, "\"p\"" },
    { "top-level temperature is not an Ollama option", CHAT,
      "{\"model\":\"m\",\"messages\":[],\"temperature\":0.5,"
      "\"stream\":false}",
      0, "m", "chat m", false, false, false, false, 0, 0, 0, "[]" },
    { "truncated at the capture cap: stream still defaults to true", CHAT,
      "{\"model\":\"llama3.2\",\"messages\":[{\"role\":\"user\",\"content\":"
      "\"aaaa",
      TT_ERR_PARSE, "llama3.2", "chat llama3.2", true, false, false, false, 0,
      0, 0, NULL },
    { "wrong types", CHAT,
      "{\"model\":5,\"stream\":\"no\",\"options\":{\"temperature\":\"hot\","
      "\"num_predict\":1.5},\"messages\":\"hi\"}",
      0, NULL, "chat", true, false, false, false, 0, 0, 0, "\"hi\"" },
    { "not JSON", GEN, "model=m", TT_ERR_PARSE, NULL, "text_completion", true,
      false, false, false, 0, 0, 0, NULL },
};

Test(ollama, requests)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
        const struct rcase *c = &req_cases[i];
        struct tt_span s;
        tt_span_init(&s);
        int rc = c->ops->request(&s, c->body, strlen(c->body));
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        expect_str(s.request_model, c->model, "request_model", c->name, 0);
        expect_str(s.name, c->span_name, "name", c->name, 0);
        expect_str(s.operation, c->ops->operation, "operation", c->name, 0);
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

Test(ollama, ops_table)
{
    cr_assert_str_eq(tt_ollama_chat_api.operation, "chat");
    cr_assert_str_eq(tt_ollama_generate_api.operation, "text_completion");
    cr_assert_str_eq(tt_ollama_chat_api.default_provider, "ollama");
    cr_assert_str_eq(tt_ollama_generate_api.default_provider, "ollama");
    cr_assert_not_null(tt_ollama_chat_api.ndjson_line);
    cr_assert_eq(tt_api_match("POST", 4, "/api/chat", 9), &tt_ollama_chat_api);
    cr_assert_eq(tt_api_match("POST", 4, "/api/generate", 13),
                 &tt_ollama_generate_api);
}

Test(ollama, streamed_text_is_capped)
{
    struct tt_span s;
    void *st = NULL;
    static char line[70000];
    static char piece[65537];

    tt_api_set_capture(true);
    tt_span_init(&s);
    memset(piece, 'x', sizeof(piece) - 1);
    int n = snprintf(line, sizeof(line),
                     "{\"model\":\"m\",\"response\":\"%s\",\"done\":false}",
                     piece);
    cr_assert_lt((size_t)n, sizeof(line));
    cr_assert_eq(tt_ollama_generate_api.response_begin(&s, &st), 0);
    for (int i = 0; i < 200; i++)    /* 200 x 64 KiB = 12.5 MiB */
        (void)tt_ollama_generate_api.ndjson_line(st, &s, line, (size_t)n, 0);
    static const char done[] =
        "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"eval_count\":9}";
    (void)tt_ollama_generate_api.ndjson_line(st, &s, done, sizeof(done) - 1, 0);
    cr_assert_eq(tt_api_response_end(&tt_ollama_generate_api, st, &s,
                                     &(struct tt_api_end){ true, false, true }), 0);
    tt_ollama_generate_api.response_free(st);
    cr_assert(s.truncated);
    cr_assert_not_null(s.output);
    cr_assert_leq(strlen(s.output), ((size_t)8 << 20) + 2);
    cr_assert_gt(strlen(s.output), (size_t)4 << 20);
    cr_assert_str_eq(s.status, "ok");
    cr_assert_eq(s.output_tokens, 9);
    tt_span_clear(&s);
}

Test(ollama, free_and_end_accept_null_state)
{
    struct tt_span s;

    tt_span_init(&s);
    tt_ollama_chat_api.response_free(NULL);
    cr_assert_eq(tt_api_response_end(&tt_ollama_chat_api, NULL, &s,
                                     &(struct tt_api_end){ false, false, false }), 0);
    cr_assert_str_eq(s.status, "error");
    cr_assert_lt(tt_ollama_chat_api.ndjson_line(NULL, &s, "{}", 2, 0), 0);
    cr_assert_lt(tt_ollama_chat_api.body(NULL, &s, "{}", 2), 0);
    tt_span_clear(&s);
}

Test(ollama, body_cut_at_capture_cap)
{
    struct tt_span s;
    void *st = NULL;
    const char *cut = "{\"model\":\"llama3.2\",\"message\":{\"cont";

    tt_span_init(&s);
    s.truncated = true;
    cr_assert_eq(tt_ollama_chat_api.response_begin(&s, &st), 0);
    cr_assert_eq(tt_ollama_chat_api.body(st, &s, cut, strlen(cut)),
                 TT_ERR_PARSE);
    cr_assert_eq(tt_api_response_end(&tt_ollama_chat_api, st, &s,
                                     &(struct tt_api_end){ true, true, false }), 0);
    tt_ollama_chat_api.response_free(st);
    cr_assert_str_eq(s.error, "response body truncated at the capture cap");
    cr_assert_not(s.usage_known);
    tt_span_clear(&s);
}

/* Every prefix of every recorded stream and body (a connection cut at any
 * byte) gives a consistent span under ASan/UBSan; a stream cut before its
 * done object is never reported ok and never has usage. */
Test(ollama, every_prefix_is_safe)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(stream_cases) / sizeof(stream_cases[0]);
         i++) {
        const char *in = stream_cases[i].in;
        size_t len = strlen(in);
        const char *term = strstr(in, "\"done\":true");
        for (size_t k = 0; k < len; k++) {
            char *p = tt_strndup(in, k);
            struct tt_span s;
            cr_assert_not_null(p);
            run(stream_cases[i].ops, &s, NULL, STREAM, p, 5, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            if (!term || k < (size_t)(term - in)) {
                cr_assert_str_eq(s.status, "error", "%s cut at %zu",
                                 stream_cases[i].name, k);
                cr_assert_not(s.usage_known, "%s cut at %zu",
                              stream_cases[i].name, k);
            }
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
            run(body_cases[i].ops, &s, NULL, BODY, p, 0, false);
            cr_assert((s.error != NULL) == !strcmp(s.status, "error"));
            tt_span_clear(&s);
            free(p);
        }
    }
}
