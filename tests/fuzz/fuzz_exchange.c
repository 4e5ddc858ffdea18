/* fuzz_exchange.c - one exchange (preload/exchange.c) with the response
 * framing chosen by the fuzzer: Content-Encoding decoding, SSE, NDJSON
 * (exchange.c's own line framing) and AWS event stream messages handed to
 * the provider parser, the capture caps, and the span that comes out.
 *
 * Input: byte 0 picks the API (as fuzz_provider; one value more: no API,
 * framing only), byte 1 the response:
 *   bits 0-2  Content-Type: application/json, text/event-stream,
 *             application/x-ndjson, application/jsonl,
 *             application/vnd.amazon.eventstream, none, text/plain,
 *             "text/event-stream; charset=utf-8"
 *   bits 3-5  Content-Encoding: none, gzip, deflate, br, zstd, identity,
 *             "gzip, br", x-gzip
 *   bit 6     body already decoded (libcurl: TT_EX_BODY_DECODED)
 *   bit 7     HTTP 429 instead of 200
 * byte 2: bit 0 the response is cut short, bit 1 no response at all,
 * bit 2 leave the event-stream CRCs as they are (else they are made
 * valid, fz_es_fix_crcs), bit 3 request method HEAD;
 * then 4 split-control bytes, request body, FZ_SEP, response body. */
#include "fuzz_common.h"

#include "api.h"
#include "exchange.h"

static const struct tt_api_ops *const apis[] = {
    &tt_openai_chat_api, &tt_openai_responses_api, &tt_openai_embeddings_api,
    &tt_openai_completions_api, &tt_anthropic_messages_api,
    &tt_bedrock_converse_api, &tt_bedrock_invoke_api, &tt_cohere_chat_api,
    &tt_ollama_chat_api, &tt_ollama_generate_api, &tt_gemini_generate_api,
    NULL,
};
#define NAPIS (sizeof(apis) / sizeof(apis[0]))

static const char *const ctypes[8] = {
    "application/json", "text/event-stream", "application/x-ndjson",
    "application/jsonl", "application/vnd.amazon.eventstream", NULL,
    "text/plain", "text/event-stream; charset=utf-8",
};
static const char *const encodings[8] = {
    NULL, "gzip", "deflate", "br", "zstd", "identity", "gzip, br", "x-gzip",
};

static void hdr(struct tt_hdr *h, const char *name, const char *value)
{
    h->name = name;
    h->name_len = strlen(name);
    h->value = value;
    h->value_len = strlen(value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;
    const uint8_t *part[2];
    size_t len[2];

    if (size < 3)
        return 0;
    fz_env();
    const struct tt_api_ops *api = apis[data[0] % NAPIS];
    uint8_t resp = data[1], flags = data[2];
    data += 3;
    size -= 3;
    fz_split_init(&sp, &data, &size);
    fz_parts(data, size, part, len, 2);

    const char *method = (flags & 8) ? "HEAD" : "POST";
    struct tt_ex_request rq = {
        .api = api,
        .provider = api ? api->default_provider : NULL,
        .host = "llm.local", .host_len = 9,
        .method = method, .method_len = strlen(method),
        .target = "/v1/x?key=SECRET&a=1", .target_len = 20,
        .http_version = "1.1",
    };
    int64_t now = 1000000000LL;
    struct tt_exchange *ex = tt_ex_new(&rq, now);
    if (!ex)
        return 0;
    const uint8_t *p = part[0];
    size_t n = len[0];
    while (n) {
        size_t k = fz_next(&sp, n);
        char *piece = malloc(k);
        memcpy(piece, p, k);
        tt_ex_req_body(ex, piece, k);
        free(piece);
        p += k;
        n -= k;
    }
    tt_ex_req_end(ex, now += 1000000);
    if (flags & 2) {
        tt_ex_end(ex, false, "connection closed", now + 1000000);
        return 0;
    }

    struct tt_hdr h[3];
    size_t nh = 0;
    const char *ct = ctypes[resp & 7], *ce = encodings[(resp >> 3) & 7];
    if (ct)
        hdr(&h[nh++], "Content-Type", ct);
    if (ce)
        hdr(&h[nh++], "Content-Encoding", ce);
    hdr(&h[nh++], "x-request-id", "req_1");
    bool body = tt_ex_resp_head_ex(ex, (resp & 0x80) ? 429 : 200, h, nh,
                                   (resp & 0x40) ? TT_EX_BODY_DECODED : 0,
                                   now += 1000000);
    uint8_t *rb = malloc(len[1] ? len[1] : 1);
    memcpy(rb, part[1], len[1]);
    if ((resp & 7) == 4 && !(flags & 4) && (!ce || (resp & 0x40) || !strcmp(ce, "identity")))
        fz_es_fix_crcs(rb, len[1]);
    p = rb;
    n = body ? len[1] : 0;
    while (n) {
        size_t k = fz_next(&sp, n);
        char *piece = malloc(k);
        memcpy(piece, p, k);
        tt_ex_resp_body(ex, piece, k, now += 1000000);
        free(piece);
        p += k;
        n -= k;
    }
    free(rb);
    tt_ex_end(ex, !(flags & 1), (flags & 1) ? "connection reset" : NULL,
              now + 1000000);
    return 0;
}
