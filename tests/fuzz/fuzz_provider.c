/* fuzz_provider.c - every provider API parser (preload/providers/),
 * driven as the exchange drives it (tests/unit/provider_harness.h).
 *
 * Input: byte 0 picks the API (apis[] below, modulo its length), byte 1
 * the mode:
 *   bits 0-1  response as 0 a whole body, 1 an SSE stream (event names
 *             included: Bedrock's event-stream messages reach sse_event
 *             the same way), 2 NDJSON lines, 3 SSE then the body
 *   bit 2     the transport says the response was cut short
 *   bit 3     content capture off
 *   bits 4-5  HTTP status 200, 400, 429, 500
 *   bit 6     no request body seen (request() not called)
 * then 4 split-control bytes, then three parts separated by FZ_SEP:
 * request path (empty: the API's usual one), request body, response.
 * The finished span is priced and goes through fz's tt_deliver_span: the
 * daemon must accept whatever a parser made of any input. */
#include "fuzz_common.h"

#include "api.h"
#include "price.h"
#include "span.h"
#include "spanfield.h"
#include "sse.h"

static const struct {
    const struct tt_api_ops *ops;
    const char *path;
} apis[] = {
    { &tt_openai_chat_api, "/v1/chat/completions" },
    { &tt_openai_responses_api, "/v1/responses" },
    { &tt_openai_embeddings_api, "/v1/embeddings" },
    { &tt_openai_completions_api, "/v1/completions" },
    { &tt_anthropic_messages_api, "/v1/messages" },
    { &tt_bedrock_converse_api, "/model/anthropic.claude-3-haiku-20240307-v1:0/converse-stream" },
    { &tt_bedrock_invoke_api, "/model/anthropic.claude-3-haiku-20240307-v1:0/invoke-with-response-stream" },
    { &tt_cohere_chat_api, "/v2/chat" },
    { &tt_ollama_chat_api, "/api/chat" },
    { &tt_ollama_generate_api, "/api/generate" },
    { &tt_gemini_generate_api, "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse" },
};
#define NAPIS (sizeof(apis) / sizeof(apis[0]))

struct ctx {
    const struct tt_api_ops *ops;
    void *state;
    struct tt_span *span;
    int64_t now;
    int events;                   /* handed to sse_event / ndjson_line */
    bool body_given;
};

static int on_event(void *ud, const char *ev, size_t evn, const char *d,
                    size_t dn)
{
    struct ctx *c = ud;

    c->now += 1000000;
    if (c->ops->sse_event && ++c->events)
        (void)c->ops->sse_event(c->state, c->span, ev, evn, d, dn, c->now);
    return 0;
}

static void feed_ndjson(struct ctx *c, const uint8_t *p, size_t n)
{
    while (n) {
        const uint8_t *nl = memchr(p, '\n', n);
        size_t k = nl ? (size_t)(nl - p) : n;
        if (k && c->ops->ndjson_line) {
            char *line = malloc(k);
            memcpy(line, p, k);
            c->now += 1000000;
            c->events++;
            (void)c->ops->ndjson_line(c->state, c->span, line, k, c->now);
            free(line);
        }
        p += nl ? k + 1 : k;
        n -= nl ? k + 1 : k;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const int statuses[4] = { 200, 400, 429, 500 };
    struct fz_split sp;
    struct tt_span span;
    const uint8_t *part[3];
    size_t len[3];

    if (size < 2)
        return 0;
    fz_env();
    uint8_t which = data[0], mode = data[1];
    data += 2;
    size -= 2;
    fz_split_init(&sp, &data, &size);
    fz_parts(data, size, part, len, 3);

    struct ctx c = { apis[which % NAPIS].ops, NULL, &span, 1000000000LL, 0, false };
    tt_api_set_capture(!(mode & 8));
    tt_span_init(&span);
    span.start_time = c.now;
    span.request_sent_ns = c.now;
    char *path = len[0] ? tt_strndup((const char *)part[0], len[0])
                        : strdup(apis[which % NAPIS].path);
    if (tt_span_set(&span.path, path) ||
        tt_span_set(&span.provider, c.ops->default_provider) ||
        tt_span_set(&span.operation, c.ops->operation) ||
        tt_span_set(&span.method, "POST") ||
        tt_span_set(&span.host, "llm.local"))
        abort();
    free(path);
    if (!(mode & 0x40) && c.ops->request) {
        char *req = malloc(len[1] ? len[1] : 1);
        memcpy(req, part[1], len[1]);
        (void)c.ops->request(&span, req, len[1]);
        free(req);
    }
    span.http_status = statuses[(mode >> 4) & 3];
    if (c.ops->response_begin)
        (void)c.ops->response_begin(&span, &c.state);

    const uint8_t *rs = part[2];
    size_t ns = len[2];
    unsigned kind = mode & 3;
    if (kind == 1 || kind == 3) {
        struct tt_sse sse;
        tt_sse_init(&sse, 1u << 20);
        while (ns) {
            size_t k = fz_next(&sp, ns);
            char *piece = malloc(k);
            memcpy(piece, rs, k);
            (void)tt_sse_feed(&sse, piece, k, on_event, &c);
            free(piece);
            rs += k;
            ns -= k;
        }
        (void)tt_sse_finish(&sse);
        tt_sse_free(&sse);
    } else if (kind == 2) {
        feed_ndjson(&c, rs, ns);
    }
    if ((kind == 0 || kind == 3) && c.ops->body) {
        char *body = malloc(len[2] ? len[2] : 1);
        memcpy(body, part[2], len[2]);
        c.body_given = true;
        (void)c.ops->body(c.state, &span, body, len[2]);
        free(body);
    }
    struct tt_api_end how = { !(mode & 4), c.body_given, c.events > 0 };
    (void)tt_api_response_end(c.ops, c.state, &span, &how);
    if (c.ops->response_free)
        c.ops->response_free(c.state);

    /* What tt_ex_end adds before delivery. */
    memcpy(span.span_id, "00f067aa0ba902b7", 17);
    memcpy(span.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 33);
    span.end_time = c.now + 1000000;
    span.pid = 42;
    if (!span.name && tt_span_set_name(&span, span.operation))
        abort();
    tt_price_apply(&span);
    tt_sf_repair(&span);
    __wrap_tt_deliver_span(&span);
    tt_span_clear(&span);
    return 0;
}
