/* test_bedrock.c - AWS Bedrock runtime parsers (preload/providers/bedrock.c)
 * on recorded-shape bodies and event streams (research/providers.md
 * section 7): Converse, ConverseStream, InvokeModel and
 * InvokeModelWithResponseStream with Anthropic bodies. Streams are real
 * binary event streams fed through preload/eventstream.c at several split
 * sizes. Also the route and host tables that send Bedrock traffic here. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <openssl/evp.h>

#include "api.h"
#include "eventstream.h"
#include "provider.h"
#include "tt.h"

#define SENT_NS 1000000000LL

#define MODEL_PATH(op) "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/" op
#define MODEL "us.anthropic.claude-3-5-haiku-20241022-v1:0"

/* --- event stream encoding ------------------------------------------------- */

struct ev {
    const char *type;      /* NULL ends a list */
    const char *payload;
    int exception;         /* type is an :exception-type */
    int chunk;             /* payload is wrapped as {"bytes":base64} */
};

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static void hdr(unsigned char *m, size_t *hn, const char *name, const char *v)
{
    size_t a = strlen(name), b = strlen(v);

    m[(*hn)++] = (unsigned char)a;
    memcpy(m + *hn, name, a);
    *hn += a;
    m[(*hn)++] = 7;
    m[(*hn)++] = (unsigned char)(b >> 8);
    m[(*hn)++] = (unsigned char)b;
    memcpy(m + *hn, v, b);
    *hn += b;
}

/* The whole stream for evs, malloc'd; *len its length. */
static unsigned char *encode(const struct ev *evs, size_t *len)
{
    unsigned char *out = malloc(1 << 16);
    size_t n = 0;

    cr_assert_not_null(out);
    for (const struct ev *e = evs; e->type; e++) {
        char *payload = (char *)e->payload;
        if (e->chunk) {
            size_t pl = strlen(e->payload);
            char *b64 = malloc(4 * ((pl + 2) / 3) + 1);
            size_t cap = 4 * ((pl + 2) / 3) + 16;
            payload = malloc(cap);
            EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)e->payload,
                            (int)pl);
            snprintf(payload, cap, "{\"bytes\":\"%s\"}", b64);
            free(b64);
        }
        unsigned char *m = out + n;
        size_t hn = 0, pl = strlen(payload);
        hdr(m + 12, &hn, e->exception ? ":exception-type" : ":event-type", e->type);
        hdr(m + 12, &hn, ":content-type", "application/json");
        hdr(m + 12, &hn, ":message-type", e->exception ? "exception" : "event");
        size_t total = 16 + hn + pl;
        be32(m, (uint32_t)total);
        be32(m + 4, (uint32_t)hn);
        be32(m + 8, (uint32_t)crc32(0, m, 8));
        memcpy(m + 12 + hn, payload, pl);
        be32(m + total - 4, (uint32_t)crc32(0, m, (uInt)(total - 4)));
        n += total;
        if (e->chunk)
            free(payload);
    }
    *len = n;
    return out;
}

/* --- harness -------------------------------------------------------------- */

struct feed_ctx {
    const struct tt_api_ops *ops;
    void *state;
    struct tt_span *span;
    int events;
};

static int on_msg(void *ud, const struct tt_es_msg *m)
{
    struct feed_ctx *f = ud;
    char name[128];
    const char *d;
    size_t nl, dl;

    f->events++;
    tt_es_msg_event(m, name, sizeof(name), &nl, &d, &dl);
    (void)f->ops->sse_event(f->state, f->span, name, nl, d, dl,
                            SENT_NS + (int64_t)f->events * 1000000);
    return 0;
}

/* One exchange as exchange.c drives it. evs NULL: body is the response
 * body. */
static void run(const struct tt_api_ops *ops, struct tt_span *span,
                const char *path, const char *req, int status,
                const char *body, const struct ev *evs, size_t split, bool cut)
{
    struct feed_ctx f = { ops, NULL, span, 0 };

    tt_span_init(span);
    span->request_sent_ns = SENT_NS;
    cr_assert_eq(tt_span_set(&span->path, path), 0);
    (void)ops->request(span, req, strlen(req));
    span->http_status = status;
    cr_assert_eq(ops->response_begin(span, &f.state), 0);
    if (!evs) {
        (void)ops->body(f.state, span, body, strlen(body));
    } else {
        size_t len;
        unsigned char *s = encode(evs, &len);
        struct tt_es es;
        tt_es_init(&es, 1 << 20);
        for (size_t off = 0; off < len; off += split) {
            size_t k = len - off < split ? len - off : split;
            cr_assert_eq(tt_es_feed(&es, (char *)s + off, k, on_msg, &f), 0);
        }
        cr_assert_eq(tt_es_finish(&es), 0);
        tt_es_free(&es);
        free(s);
    }
    struct tt_api_end how = { !cut, evs == NULL, f.events > 0 };
    (void)tt_api_response_end(ops, f.state, span, &how);
    ops->response_free(f.state);
}

static void assert_str(const char *got, const char *want, const char *what)
{
    if (!want)
        cr_assert_null(got, "%s: want null, got %s", what, got);
    else
        cr_assert(got && strcmp(got, want) == 0, "%s: want %s, got %s", what,
                  want, got ? got : "(null)");
}

static const size_t splits[] = { 1, 7, 64, 1 << 20 };

/* --- Converse ------------------------------------------------------------- */

static const char converse_req[] =
    "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}],"
    "\"system\":[{\"text\":\"be brief\"}],"
    "\"inferenceConfig\":{\"maxTokens\":64,\"temperature\":0.2,\"topP\":0.9}}";

Test(bedrock, converse_body_cache_usage_and_request)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse"), converse_req, 200,
        "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":"
        "[{\"text\":\"Hello!\"}]}},\"stopReason\":\"end_turn\","
        "\"usage\":{\"inputTokens\":700,\"outputTokens\":50,\"totalTokens\":1050,"
        "\"cacheReadInputTokens\":200,\"cacheWriteInputTokens\":100},"
        "\"metrics\":{\"latencyMs\":321}}",
        NULL, 0, false);
    assert_str(s.status, "ok", "status");
    assert_str(s.request_model, MODEL, "request_model");
    assert_str(s.name, "chat " MODEL, "name");
    assert_str(s.operation, "chat", "operation");
    cr_assert(!s.stream);
    cr_assert(s.usage_known);
    /* inputTokens excludes cache reads and writes: the span sums them. */
    cr_assert_eq(s.input_tokens, 1000);
    cr_assert_eq(s.output_tokens, 50);
    cr_assert_eq(s.cache_read_tokens, 200);
    cr_assert_eq(s.cache_write_tokens, 100);
    cr_assert(s.has_max_tokens && s.max_tokens == 64);
    cr_assert(s.has_temperature && s.temperature == 0.2);
    cr_assert(s.has_top_p && s.top_p == 0.9);
    assert_str(s.finish_reasons, "[\"end_turn\"]", "finish");
    assert_str(s.output, "[{\"text\":\"Hello!\"}]", "output");
    assert_str(s.input,
               "[{\"role\":\"system\",\"content\":[{\"text\":\"be brief\"}]},"
               "{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}]", "input");
    cr_assert_null(s.tool_calls);
    tt_span_clear(&s);
}

Test(bedrock, converse_body_tool_use)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse"), converse_req, 200,
        "{\"output\":{\"message\":{\"role\":\"assistant\",\"content\":["
        "{\"text\":\"Let me check.\"},{\"toolUse\":{\"toolUseId\":\"tooluse_1\","
        "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}}]}},"
        "\"stopReason\":\"tool_use\",\"usage\":{\"inputTokens\":10,"
        "\"outputTokens\":5,\"totalTokens\":15}}",
        NULL, 0, false);
    assert_str(s.status, "ok", "status");
    cr_assert_eq(s.input_tokens, 10);
    cr_assert_eq(s.cache_read_tokens, 0);
    assert_str(s.finish_reasons, "[\"tool_use\"]", "finish");
    assert_str(s.tool_calls,
               "[{\"id\":\"tooluse_1\",\"name\":\"get_weather\","
               "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]", "tool_calls");
    tt_span_clear(&s);
}

Test(bedrock, converse_error_body)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse"), converse_req, 429,
        "{\"message\":\"Too many requests, please wait before trying again.\"}",
        NULL, 0, false);
    assert_str(s.status, "error", "status");
    assert_str(s.error, "Too many requests, please wait before trying again.",
               "error");
    cr_assert(!s.usage_known);
    tt_span_clear(&s);
}

Test(bedrock, converse_malformed_body)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse"), converse_req, 200,
        "{\"output\":", NULL, 0, false);
    assert_str(s.status, "error", "status");
    cr_assert(!s.usage_known);
    tt_span_clear(&s);
}

/* --- ConverseStream ------------------------------------------------------- */

static const struct ev stream_text[] = {
    { "messageStart", "{\"p\":\"abcd\",\"role\":\"assistant\"}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hello\"}}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\" world\"}}", 0, 0 },
    { "contentBlockStop", "{\"contentBlockIndex\":0}", 0, 0 },
    { "messageStop", "{\"stopReason\":\"end_turn\"}", 0, 0 },
    { "metadata", "{\"usage\":{\"inputTokens\":12,\"outputTokens\":3,\"totalTokens\":1015,"
                  "\"cacheReadInputTokens\":1000},\"metrics\":{\"latencyMs\":99}}", 0, 0 },
    { NULL, NULL, 0, 0 },
};

Test(bedrock, converse_stream_text)
{
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        struct tt_span s;
        run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
            converse_req, 200, NULL, stream_text, splits[i], false);
        assert_str(s.status, "ok", "status");
        cr_assert(s.stream);
        cr_assert(s.usage_known);
        cr_assert_eq(s.input_tokens, 1012);
        cr_assert_eq(s.cache_read_tokens, 1000);
        cr_assert_eq(s.output_tokens, 3);
        assert_str(s.finish_reasons, "[\"end_turn\"]", "finish");
        assert_str(s.output, "[{\"text\":\"Hello world\"}]", "output");
        cr_assert_float_eq(s.ttft_ms, 2.0, 1e-9);   /* the first delta: event 2 */
        tt_span_clear(&s);
    }
}

static const struct ev stream_tool[] = {
    { "messageStart", "{\"role\":\"assistant\"}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"text\":\"hmm\"}}}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"reasoningContent\":{\"signature\":\"sig\"}}}", 0, 0 },
    { "contentBlockStart", "{\"contentBlockIndex\":1,\"start\":{\"toolUse\":{\"toolUseId\":\"tooluse_9\",\"name\":\"get_weather\"}}}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\"{\\\"city\\\":\"}}}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":1,\"delta\":{\"toolUse\":{\"input\":\" \\\"Paris\\\"}\"}}}", 0, 0 },
    { "contentBlockStop", "{\"contentBlockIndex\":1}", 0, 0 },
    { "messageStop", "{\"stopReason\":\"tool_use\"}", 0, 0 },
    { "metadata", "{\"usage\":{\"inputTokens\":40,\"outputTokens\":20,\"totalTokens\":60}}", 0, 0 },
    { NULL, NULL, 0, 0 },
};

Test(bedrock, converse_stream_tool_use_and_reasoning)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
        converse_req, 200, NULL, stream_tool, 5, false);
    assert_str(s.status, "ok", "status");
    cr_assert_eq(s.input_tokens, 40);
    cr_assert_eq(s.output_tokens, 20);
    assert_str(s.finish_reasons, "[\"tool_use\"]", "finish");
    assert_str(s.tool_calls,
               "[{\"id\":\"tooluse_9\",\"name\":\"get_weather\","
               "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]", "tool_calls");
    assert_str(s.output,
               "[{\"reasoningContent\":{\"reasoningText\":{\"text\":\"hmm\","
               "\"signature\":\"sig\"}}},{\"toolUse\":{\"toolUseId\":\"tooluse_9\","
               "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}}]", "output");
    tt_span_clear(&s);
}

static const struct ev stream_exception[] = {
    { "messageStart", "{\"role\":\"assistant\"}", 0, 0 },
    { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"}}", 0, 0 },
    { "throttlingException", "{\"message\":\"Too many tokens, please wait.\"}", 1, 0 },
    { NULL, NULL, 0, 0 },
};

Test(bedrock, converse_stream_exception_in_200)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
        converse_req, 200, NULL, stream_exception, 3, false);
    assert_str(s.status, "error", "status");
    assert_str(s.error, "throttlingException: Too many tokens, please wait.",
               "error");
    cr_assert(!s.usage_known);
    assert_str(s.output, "[{\"text\":\"Hel\"}]", "output");
    tt_span_clear(&s);
}

Test(bedrock, converse_stream_cut_short)
{
    struct tt_span s;

    /* The transport saw the connection drop after messageStop, before
     * metadata: no usage, and an error. */
    static const struct ev until_stop[] = {
        { "messageStart", "{\"role\":\"assistant\"}", 0, 0 },
        { "messageStop", "{\"stopReason\":\"end_turn\"}", 0, 0 },
        { NULL, NULL, 0, 0 },
    };
    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
        converse_req, 200, NULL, until_stop, 1 << 20, true);
    assert_str(s.error, "stream ended before completion (cut short)", "error");
    cr_assert(!s.usage_known);
    tt_span_clear(&s);

    /* A clean end without messageStop is not a complete answer either. */
    static const struct ev no_stop[] = {
        { "messageStart", "{\"role\":\"assistant\"}", 0, 0 },
        { "contentBlockDelta", "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hel\"}}", 0, 0 },
        { NULL, NULL, 0, 0 },
    };
    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
        converse_req, 200, NULL, no_stop, 1 << 20, false);
    assert_str(s.status, "error", "status");
    assert_str(s.error, "stream ended before completion (no messageStop)", "error");
    cr_assert(!s.usage_known);
    tt_span_clear(&s);
}

Test(bedrock, capture_off_keeps_counts_drops_content)
{
    struct tt_span s;

    tt_api_set_capture(false);
    run(&tt_bedrock_converse_api, &s, MODEL_PATH("converse-stream"),
        converse_req, 200, NULL, stream_tool, 64, false);
    tt_api_set_capture(true);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    assert_str(s.tool_calls, "[{\"id\":\"tooluse_9\",\"name\":\"get_weather\"}]",
               "tool_calls");
    cr_assert_eq(s.input_tokens, 40);
    tt_span_clear(&s);
}

/* --- InvokeModel (Anthropic) --------------------------------------------- */

static const char invoke_req[] =
    "{\"anthropic_version\":\"bedrock-2023-05-31\",\"max_tokens\":100,"
    "\"system\":\"be brief\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

Test(bedrock, invoke_body)
{
    struct tt_span s;

    run(&tt_bedrock_invoke_api, &s, MODEL_PATH("invoke"), invoke_req, 200,
        "{\"id\":\"msg_bdrk_01\",\"type\":\"message\",\"role\":\"assistant\","
        "\"model\":\"claude-3-5-haiku-20241022\",\"content\":[{\"type\":\"text\","
        "\"text\":\"Hi!\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
        "\"usage\":{\"input_tokens\":300,\"cache_creation_input_tokens\":50,"
        "\"cache_read_input_tokens\":150,\"output_tokens\":12}}",
        NULL, 0, false);
    assert_str(s.status, "ok", "status");
    assert_str(s.request_model, MODEL, "request_model");
    assert_str(s.response_model, "claude-3-5-haiku-20241022", "response_model");
    assert_str(s.response_id, "msg_bdrk_01", "response_id");
    assert_str(s.name, "chat " MODEL, "name");
    cr_assert(!s.stream);
    cr_assert_eq(s.input_tokens, 500);
    cr_assert_eq(s.cache_read_tokens, 150);
    cr_assert_eq(s.cache_write_tokens, 50);
    cr_assert_eq(s.output_tokens, 12);
    cr_assert(s.has_max_tokens && s.max_tokens == 100);
    assert_str(s.input, "[{\"role\":\"system\",\"content\":\"be brief\"},"
                        "{\"role\":\"user\",\"content\":\"hi\"}]", "input");
    tt_span_clear(&s);
}

Test(bedrock, invoke_error_body)
{
    struct tt_span s;

    run(&tt_bedrock_invoke_api, &s, MODEL_PATH("invoke"), invoke_req, 400,
        "{\"message\":\"Malformed input request: #: required key [messages] not found\"}",
        NULL, 0, false);
    assert_str(s.status, "error", "status");
    assert_str(s.error, "Malformed input request: #: required key [messages] not found",
               "error");
    cr_assert(!s.usage_known);
    tt_span_clear(&s);
}

static const struct ev invoke_stream[] = {
    { "chunk", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_bdrk_02\",\"type\":\"message\","
               "\"role\":\"assistant\",\"model\":\"claude-3-5-haiku-20241022\",\"content\":[],"
               "\"usage\":{\"input_tokens\":20,\"cache_read_input_tokens\":80,\"output_tokens\":1}}}", 0, 1 },
    { "chunk", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"tool_use\","
               "\"id\":\"toolu_bdrk_1\",\"name\":\"get_weather\",\"input\":{}}}", 0, 1 },
    { "chunk", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"input_json_delta\","
               "\"partial_json\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}}", 0, 1 },
    { "chunk", "{\"type\":\"content_block_stop\",\"index\":0}", 0, 1 },
    { "chunk", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\"},"
               "\"usage\":{\"output_tokens\":33}}", 0, 1 },
    { "chunk", "{\"type\":\"message_stop\",\"amazon-bedrock-invocationMetrics\":{"
               "\"inputTokenCount\":20,\"outputTokenCount\":33,\"invocationLatency\":1798,"
               "\"firstByteLatency\":1507}}", 0, 1 },
    { NULL, NULL, 0, 0 },
};

Test(bedrock, invoke_stream_tool_use)
{
    for (size_t i = 0; i < sizeof(splits) / sizeof(splits[0]); i++) {
        struct tt_span s;
        run(&tt_bedrock_invoke_api, &s, MODEL_PATH("invoke-with-response-stream"),
            invoke_req, 200, NULL, invoke_stream, splits[i], false);
        assert_str(s.status, "ok", "status");
        cr_assert(s.stream);
        assert_str(s.response_id, "msg_bdrk_02", "response_id");
        cr_assert_eq(s.input_tokens, 100);
        cr_assert_eq(s.cache_read_tokens, 80);
        cr_assert_eq(s.output_tokens, 33);
        assert_str(s.finish_reasons, "[\"tool_use\"]", "finish");
        assert_str(s.tool_calls,
                   "[{\"id\":\"toolu_bdrk_1\",\"name\":\"get_weather\","
                   "\"arguments\":\"{\\\"city\\\":\\\"Oslo\\\"}\"}]", "tool_calls");
        cr_assert_float_eq(s.ttft_ms, 3.0, 1e-9);
        tt_span_clear(&s);
    }
}

Test(bedrock, invoke_stream_exception_and_bad_chunk)
{
    static const struct ev evs[] = {
        { "chunk", "{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}", 0, 1 },
        { "chunk", "{\"bytes\":\"!!not base64!!\"}", 0, 0 },
        { "modelStreamErrorException", "{\"message\":\"Model stream error.\",\"originalStatusCode\":529}", 1, 0 },
        { NULL, NULL, 0, 0 },
    };
    struct tt_span s;

    run(&tt_bedrock_invoke_api, &s, MODEL_PATH("invoke-with-response-stream"),
        invoke_req, 200, NULL, evs, 9, false);
    assert_str(s.status, "error", "status");
    assert_str(s.error, "modelStreamErrorException: Model stream error.", "error");
    tt_span_clear(&s);
}

/* --- routing -------------------------------------------------------------- */

Test(bedrock, routes)
{
    static const struct {
        const char *path;
        const struct tt_api_ops *want;
    } r[] = {
        { MODEL_PATH("converse"), &tt_bedrock_converse_api },
        { MODEL_PATH("converse-stream"), &tt_bedrock_converse_api },
        { MODEL_PATH("invoke"), &tt_bedrock_invoke_api },
        { MODEL_PATH("invoke-with-response-stream"), &tt_bedrock_invoke_api },
        { "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fx/converse",
          &tt_bedrock_converse_api },
        { "/model/m/converse?x=1", &tt_bedrock_converse_api },
        { "/invoke", NULL },
        { "/model//converse", NULL },
        { "/model/a/b/converse", NULL },
        { "/v1/model/a/invoke", NULL },
        { "/model/a/invoke-async", NULL },
        { "/model/a/converse/", NULL },
    };

    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++)
        cr_assert_eq(tt_api_match("POST", 4, r[i].path, strlen(r[i].path)),
                     r[i].want, "%s", r[i].path);
    cr_assert_null(tt_api_match("GET", 3, MODEL_PATH("converse"),
                                strlen(MODEL_PATH("converse"))));
}

Test(bedrock, hosts)
{
    static const struct {
        const char *host;
        const char *want;
    } h[] = {
        { "bedrock-runtime.us-east-1.amazonaws.com", "aws.bedrock" },
        { "BEDROCK-RUNTIME.eu-west-3.amazonaws.com:443", "aws.bedrock" },
        { "bedrock-runtime.ap-northeast-1.amazonaws.com.", "aws.bedrock" },
        { "bedrock-runtime..amazonaws.com", NULL },
        { "bedrock-runtime.a.b.amazonaws.com", NULL },
        { "s3.us-east-1.amazonaws.com", NULL },
        { "bedrock.us-east-1.amazonaws.com", NULL },
        { "xbedrock-runtime.us-east-1.amazonaws.com", NULL },
    };

    for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++) {
        const char *got = tt_provider_for_host(h[i].host, strlen(h[i].host));
        if (!h[i].want)
            cr_assert_null(got, "%s -> %s", h[i].host, got);
        else
            cr_assert(got && !strcmp(got, h[i].want), "%s -> %s", h[i].host,
                      got ? got : "(null)");
    }
}

Test(bedrock, model_id_decoding)
{
    struct tt_span s;

    run(&tt_bedrock_converse_api, &s,
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Aapplication-inference-profile%2Fabc/converse",
        "{}", 200, "{\"output\":{},\"usage\":{\"inputTokens\":1,\"outputTokens\":1}}",
        NULL, 0, false);
    assert_str(s.request_model,
               "arn:aws:bedrock:us-east-1:123:application-inference-profile/abc",
               "request_model");
    tt_span_clear(&s);
}
