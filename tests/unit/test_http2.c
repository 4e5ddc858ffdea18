/* test_http2.c - HTTP/2 as the OpenSSL hooks see it: real frame streams
 * (header blocks compressed by nghttp2's own HPACK deflater, one per
 * direction, so the dynamic table is in play) -> tt_h2 -> exchange ->
 * provider parser -> price -> spool file, decoded by the daemon's frame
 * decoder. Every scenario is fed one byte at a time, in 7- and 64-byte
 * pieces and whole. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <nghttp2/nghttp2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "frame.h"
#include "http2.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"

#include "spool_harness.h"

static void setup(void)
{
    spool_setup();
}

/* --- building connections ------------------------------------------------ */

enum { DATA = 0, HEADERS = 1, PRIORITY = 2, RST_STREAM = 3, SETTINGS = 4,
       PUSH_PROMISE = 5, PING = 6, GOAWAY = 7, WINDOW_UPDATE = 8,
       CONTINUATION = 9 };
enum { END_STREAM = 0x1, ACK = 0x1, END_HEADERS = 0x4, PADDED = 0x8, PRIO = 0x20 };

/* A connection as the hooks see it: runs of bytes in one direction, in
 * the order they crossed SSL_write/SSL_read. */
struct seg {
    bool client;
    struct tt_buf b;
};

struct conn {
    struct seg seg[256];
    size_t n;
    nghttp2_hd_deflater *enc[2];   /* [1]: the client's encoder */
};

static void conn_init(struct conn *c)
{
    memset(c, 0, sizeof(*c));
    cr_assert_eq(nghttp2_hd_deflate_new(&c->enc[0], 4096), 0);
    cr_assert_eq(nghttp2_hd_deflate_new(&c->enc[1], 4096), 0);
}

static void conn_free(struct conn *c)
{
    for (size_t i = 0; i < c->n; i++)
        tt_buf_free(&c->seg[i].b);
    nghttp2_hd_deflate_del(c->enc[0]);
    nghttp2_hd_deflate_del(c->enc[1]);
}

static void put(struct conn *c, bool client, const void *p, size_t n)
{
    if (!c->n || c->seg[c->n - 1].client != client) {
        cr_assert_lt(c->n, 256);
        c->seg[c->n].client = client;
        tt_buf_init(&c->seg[c->n].b, 1 << 24);
        c->n++;
    }
    cr_assert_eq(tt_buf_append(&c->seg[c->n - 1].b, p, n), 0);
}

static void frame(struct conn *c, bool client, int type, int flags, uint32_t sid,
                  const void *payload, size_t len)
{
    uint8_t h[9] = {
        (uint8_t)(len >> 16), (uint8_t)(len >> 8), (uint8_t)len, (uint8_t)type,
        (uint8_t)flags, (uint8_t)(sid >> 24), (uint8_t)(sid >> 16),
        (uint8_t)(sid >> 8), (uint8_t)sid,
    };
    put(c, client, h, 9);
    if (len)
        put(c, client, payload, len);
}

static void preface(struct conn *c, uint32_t client_table_size)
{
    static const char pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    uint8_t s[12] = { 0, 3, 0, 0, 0, 100,            /* MAX_CONCURRENT_STREAMS */
                      0, 4, 0, 0xff, 0xff, 0xff };   /* INITIAL_WINDOW_SIZE */
    uint8_t t[6] = { 0, 1, (uint8_t)(client_table_size >> 24),
                     (uint8_t)(client_table_size >> 16),
                     (uint8_t)(client_table_size >> 8), (uint8_t)client_table_size };
    put(c, true, pri, 24);
    frame(c, true, SETTINGS, 0, 0, s, sizeof(s));
    if (client_table_size)
        frame(c, true, SETTINGS, 0, 0, t, sizeof(t));
    frame(c, false, SETTINGS, 0, 0, s, 6);
    frame(c, false, SETTINGS, ACK, 0, NULL, 0);
    frame(c, true, SETTINGS, ACK, 0, NULL, 0);
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

enum { H_END_STREAM = 1, H_SPLIT = 2, H_PAD_PRIO = 4 };

/* One header block, compressed by this direction's encoder; H_SPLIT
 * spreads it over HEADERS + two CONTINUATIONs, H_PAD_PRIO pads the HEADERS
 * frame and gives it a priority. Returns the block's compressed size. */
static size_t headers(struct conn *c, bool client, uint32_t sid,
                      const nghttp2_nv *nv, size_t nnv, int opt)
{
    nghttp2_hd_deflater *enc = c->enc[client];
    size_t cap = nghttp2_hd_deflate_bound(enc, nv, nnv);
    uint8_t *blk = malloc(cap);
    ssize_t len = nghttp2_hd_deflate_hd(enc, blk, cap, nv, nnv);
    cr_assert_gt(len, 0);
    size_t n = (size_t)len, first = (opt & H_SPLIT) ? n / 3 : n;
    int fl = ((opt & H_END_STREAM) ? END_STREAM : 0) | (first == n ? END_HEADERS : 0);
    if (opt & H_PAD_PRIO) {
        uint8_t *p = calloc(1, 1 + 5 + first + 9);
        p[0] = 9;                                  /* pad length */
        p[1] = 0x80; p[4] = 1; p[5] = 200;         /* exclusive on stream 1, weight */
        memcpy(p + 6, blk, first);
        frame(c, client, HEADERS, fl | PADDED | PRIO, sid, p, 6 + first + 9);
        free(p);
    } else {
        frame(c, client, HEADERS, fl, sid, blk, first);
    }
    if (first < n) {
        size_t second = (n - first) / 2;
        frame(c, client, CONTINUATION, 0, sid, blk + first, second);
        frame(c, client, CONTINUATION, END_HEADERS, sid, blk + first + second,
              n - first - second);
    }
    free(blk);
    return n;
}

/* Body in DATA frames of at most `piece` bytes (padded with `pad` bytes
 * when pad > 0); END_STREAM on the last when `end`. */
static void data(struct conn *c, bool client, uint32_t sid, const char *p, size_t n,
                 size_t piece, int pad, bool end)
{
    size_t off = 0;
    do {
        size_t k = n - off < piece ? n - off : piece;
        int fl = end && off + k == n ? END_STREAM : 0;
        if (pad > 0) {
            uint8_t *b = calloc(1, 1 + k + (size_t)pad);
            b[0] = (uint8_t)pad;
            memcpy(b + 1, p + off, k);
            frame(c, client, DATA, fl | PADDED, sid, b, 1 + k + (size_t)pad);
            free(b);
        } else {
            frame(c, client, DATA, fl, sid, p + off, k);
        }
        off += k;
    } while (off < n);
}

static void rst(struct conn *c, bool client, uint32_t sid, uint32_t code)
{
    uint8_t p[4] = { (uint8_t)(code >> 24), (uint8_t)(code >> 16), (uint8_t)(code >> 8),
                     (uint8_t)code };
    frame(c, client, RST_STREAM, 0, sid, p, 4);
}

/* Control frames a real connection sprinkles in: PING, WINDOW_UPDATE,
 * PRIORITY and a frame of a type this parser does not know. */
static void chatter(struct conn *c, bool client, uint32_t sid)
{
    static const uint8_t ping[8] = "pingpong", wu[4] = { 0, 1, 0, 0 };
    static const uint8_t prio[5] = { 0, 0, 0, 0, 16 };
    static const uint8_t unknown[13] = "ignore me!!!";
    frame(c, client, PING, 0, 0, ping, 8);
    frame(c, client, WINDOW_UPDATE, 0, 0, wu, 4);
    frame(c, client, WINDOW_UPDATE, 0, sid, wu, 4);
    frame(c, client, PRIORITY, 0, sid, prio, 5);
    frame(c, client, 0x42, 0xff, sid, unknown, sizeof(unknown));
}

static const size_t steps[] = { 1, 7, 64, SIZE_MAX };

struct run_out {
    bool has_llm, not_llm;
};

/* Feed the connection in pieces of `step`, close it, return the spans. */
static size_t run(const struct conn *c, size_t step, const char *sni,
                  struct tt_span *out, size_t max, struct run_out *ro)
{
    struct tt_h2 *h = tt_h2_new(sni);
    cr_assert_not_null(h);
    int64_t now = 1700000000000000000LL;
    for (size_t i = 0; i < c->n; i++) {
        const struct tt_buf *b = &c->seg[i].b;
        for (size_t off = 0; off < b->len; off += step) {
            size_t k = b->len - off < step ? b->len - off : step;
            int rc = tt_h2_feed(h, c->seg[i].client, b->data + off, k, now);
            cr_assert_eq(rc, 0, "step %zu, segment %zu, offset %zu: %s", step, i, off,
                         tt_strerror(rc));
            now += 1000;
        }
    }
    if (ro) {
        ro->has_llm = tt_h2_has_llm(h);
        ro->not_llm = tt_h2_not_llm(h);
    }
    tt_h2_free(h, "test: connection closed", now);
    return read_spool(out, max);
}

static struct tt_span *by_model(struct tt_span *s, size_t n, const char *model)
{
    for (size_t i = 0; i < n; i++)
        if (s[i].request_model && !strcmp(s[i].request_model, model))
            return &s[i];
    cr_assert_fail("no span for %s", model);
    return NULL;
}

static void clear_spans(struct tt_span *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tt_span_clear(&s[i]);
}

/* --- payloads ------------------------------------------------------------ */

static const char oai_req_body[] =
    "{\"model\":\"gpt-4o-mini\",\"temperature\":0.5,\"messages\":"
    "[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char oai_resp_body[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":"
    "\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
    "{\"role\":\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":200,\"total_tokens\":"
    "1200,\"prompt_tokens_details\":{\"cached_tokens\":400}}}";
static const char oai4_req_body[] =
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"yo\"}]}";
static const char oai4_resp_body[] =
    "{\"id\":\"chatcmpl-5\",\"object\":\"chat.completion\",\"model\":"
    "\"gpt-4o-2024-08-06\",\"choices\":[{\"index\":0,\"message\":"
    "{\"role\":\"assistant\",\"content\":\"Yo.\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":5,\"total_tokens\":15}}";
static const char ant_req_body[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,\"stream\":true,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char ant_sse[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
    "\"content\":[],\"usage\":{\"input_tokens\":1200,\"cache_read_input_tokens\":500,"
    "\"cache_creation_input_tokens\":300,\"output_tokens\":1}}}\n\n"
    "event: ping\ndata: {\"type\": \"ping\"}\n\n"
    "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":100}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* The headers an OpenAI SDK sends; the same on every request, so the
 * second block is mostly dynamic-table indexes. */
static size_t oai_request_headers(struct conn *c, uint32_t sid, const char *authority,
                                  const char *path, int opt)
{
    const nghttp2_nv nv[] = {
        NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", authority),
        NV(":path", path), NV("content-type", "application/json"),
        NV("authorization", "Bearer sk-proj-SECRETSECRETSECRETSECRET"),
        NV("user-agent", "OpenAI/Python 1.54.3"), NV("x-stainless-lang", "python"),
        NV("x-stainless-package-version", "1.54.3"), NV("accept", "application/json"),
        NV("accept-encoding", "gzip, deflate"),
    };
    return headers(c, true, sid, nv, sizeof(nv) / sizeof(*nv), opt);
}

static size_t json_response_headers(struct conn *c, uint32_t sid, const char *encoding,
                                    int opt)
{
    const nghttp2_nv nv[] = {
        NV(":status", "200"), NV("content-type", "application/json"),
        NV("x-request-id", "req_0123456789abcdef"), NV("openai-processing-ms", "412"),
        NV("content-encoding", encoding ? encoding : "identity"),
    };
    return headers(c, false, sid, nv, sizeof(nv) / sizeof(*nv) - (encoding ? 0 : 1), opt);
}

static char *gzip_body(const char *in, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = strlen(in) + 128;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)strlen(in);
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    *outlen = z.total_out;
    deflateEnd(&z);
    return out;
}

static void expect_oai_span(const struct tt_span *s)
{
    cr_expect_str_eq(s->status, "ok", "%s", s->error ? s->error : "");
    cr_expect_str_eq(s->provider, "openai");
    cr_expect_str_eq(s->operation, "chat");
    cr_expect_str_eq(s->http_version, "2");
    cr_expect_str_eq(s->method, "POST");
    cr_expect_str_eq(s->path, "/v1/chat/completions");
    cr_expect_str_eq(s->request_model, "gpt-4o-mini");
    cr_expect_str_eq(s->response_model, "gpt-4o-mini-2024-07-18");
    cr_expect_eq(s->http_status, 200);
    cr_expect_eq(s->input_tokens, 1000);
    cr_expect_eq(s->output_tokens, 200);
    cr_expect_eq(s->cache_read_tokens, 400);
    cr_expect(s->usage_known);
    cr_expect_float_eq(s->cost_usd, (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6, 1e-15);
    cr_expect(s->has_temperature);
    cr_expect_str_eq(s->trace_id, "0af7651916cd43dd8448eb211c80319c");
    cr_expect_eq(s->pid, getpid());
}

TestSuite(http2, .init = setup, .fini = teardown);

/* --- scenarios ----------------------------------------------------------- */

Test(http2, openai_chat_two_requests_padded_continued_gzip)
{
    struct conn c;
    size_t gzlen;
    char *gz = gzip_body(oai_resp_body, &gzlen);

    conn_init(&c);
    preface(&c, 0);
    /* Request 1: HEADERS padded + priority, two CONTINUATIONs; body in
     * padded DATA frames of 40 bytes. */
    size_t blk1 = oai_request_headers(&c, 1, "api.openai.com", "/v1/chat/completions",
                                      H_SPLIT | H_PAD_PRIO);
    chatter(&c, true, 1);
    data(&c, true, 1, oai_req_body, strlen(oai_req_body), 40, 7, true);
    json_response_headers(&c, 1, NULL, 0);
    chatter(&c, false, 1);
    data(&c, false, 1, oai_resp_body, strlen(oai_resp_body), 100, 0, true);
    /* Request 2, same headers: indexed from the dynamic table; its
     * response is gzip (the exchange decodes what DATA carried). */
    size_t blk2 = oai_request_headers(&c, 3, "api.openai.com", "/v1/chat/completions", 0);
    cr_assert_lt(blk2 * 2, blk1, "second block %zu vs first %zu: no dynamic table use",
                 blk2, blk1);
    data(&c, true, 3, oai_req_body, strlen(oai_req_body), 1000, 0, true);
    json_response_headers(&c, 3, "gzip", H_SPLIT);
    data(&c, false, 3, gz, gzlen, 50, 3, true);
    /* The server closes the stream; the client's RST afterwards is moot. */
    rst(&c, true, 3, 0);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[4];
        struct run_out ro;
        size_t n = run(&c, steps[i], "api.openai.com", s, 4, &ro);
        cr_assert_eq(n, 2, "step %zu: %zu spans", steps[i], n);
        for (size_t k = 0; k < n; k++) {
            expect_oai_span(&s[k]);
            cr_expect_str_eq(s[k].host, "api.openai.com");
            cr_expect(!s[k].stream);
        }
        cr_expect(ro.has_llm);
        cr_expect(!ro.not_llm);
        clear_spans(s, n);
    }
    free(gz);
    conn_free(&c);
}

Test(http2, three_interleaved_streams_each_get_their_span)
{
    struct conn c;
    const char *gw = "gateway.internal:8080";   /* TOKENTAP_HOSTS: auto */
    const nghttp2_nv ant_req[] = {
        NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", gw),
        NV(":path", "/v1/messages"), NV("content-type", "application/json"),
        NV("x-api-key", "sk-ant-SECRET"), NV("anthropic-version", "2023-06-01"),
    };
    const nghttp2_nv ant_resp[] = {
        NV(":status", "200"), NV("content-type", "text/event-stream; charset=utf-8"),
        NV("cache-control", "no-cache"),
    };

    conn_init(&c);
    preface(&c, 0);
    oai_request_headers(&c, 1, gw, "/v1/chat/completions", 0);
    headers(&c, true, 3, ant_req, sizeof(ant_req) / sizeof(*ant_req), H_SPLIT);
    oai_request_headers(&c, 5, gw, "/v1/chat/completions", H_PAD_PRIO);
    data(&c, true, 3, ant_req_body, strlen(ant_req_body), 30, 0, false);
    data(&c, true, 5, oai4_req_body, 20, 1000, 0, false);
    data(&c, true, 1, oai_req_body, strlen(oai_req_body), 1000, 2, true);
    data(&c, true, 3, "", 0, 1, 0, true);        /* empty DATA carrying END_STREAM */
    data(&c, true, 5, oai4_req_body + 20, strlen(oai4_req_body) - 20, 1000, 0, true);

    headers(&c, false, 3, ant_resp, sizeof(ant_resp) / sizeof(*ant_resp), 0);
    json_response_headers(&c, 5, NULL, 0);
    json_response_headers(&c, 1, NULL, 0);
    /* The SSE response arrives in 16-byte DATA frames, between pieces of
     * the other two responses. */
    size_t sl = strlen(ant_sse), o1 = 0, o5 = 0, l1 = strlen(oai_resp_body),
           l5 = strlen(oai4_resp_body);
    for (size_t off = 0; off < sl; off += 16) {
        data(&c, false, 3, ant_sse + off, sl - off < 16 ? sl - off : 16, 16, 0,
             off + 16 >= sl);
        if (o1 < l1) {
            size_t k = l1 - o1 < 11 ? l1 - o1 : 11;
            data(&c, false, 1, oai_resp_body + o1, k, 11, 0, o1 + k == l1);
            o1 += k;
        }
        if (o5 < l5) {
            size_t k = l5 - o5 < 13 ? l5 - o5 : 13;
            data(&c, false, 5, oai4_resp_body + o5, k, 13, 1, o5 + k == l5);
            o5 += k;
        }
    }
    cr_assert(o1 == l1 && o5 == l5, "the SSE stream is the longest");

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[4];
        size_t n = run(&c, steps[i], NULL, s, 4, NULL);
        cr_assert_eq(n, 3, "step %zu: %zu spans", steps[i], n);
        struct tt_span *a = by_model(s, n, "claude-sonnet-4-5");
        cr_expect_str_eq(a->status, "ok", "%s", a->error ? a->error : "");
        cr_expect_str_eq(a->provider, "anthropic");   /* "auto" -> the API's provider */
        cr_expect_str_eq(a->host, gw);
        cr_expect_str_eq(a->http_version, "2");
        cr_expect(a->stream);
        cr_expect_eq(a->input_tokens, 2000);
        cr_expect_eq(a->cache_read_tokens, 500);
        cr_expect_eq(a->cache_write_tokens, 300);
        cr_expect_eq(a->output_tokens, 100);
        cr_expect_geq(a->ttft_ms, 0);
        expect_oai_span(by_model(s, n, "gpt-4o-mini"));
        struct tt_span *o = by_model(s, n, "gpt-4o");
        cr_expect_str_eq(o->status, "ok", "%s", o->error ? o->error : "");
        cr_expect_str_eq(o->response_model, "gpt-4o-2024-08-06");
        cr_expect_eq(o->input_tokens, 10);
        cr_expect_eq(o->output_tokens, 5);
        clear_spans(s, n);
    }
    conn_free(&c);
}

Test(http2, reset_streams_end_as_errors_that_say_so)
{
    static const struct {
        bool by_client;
        uint32_t code;
        const char *want;
    } cases[] = {
        { false, 2, "HTTP/2 stream reset by the server (error code 2: INTERNAL_ERROR)" },
        { true, 8, "HTTP/2 stream reset by the client (error code 8: CANCEL)" },
        { false, 7, "HTTP/2 stream reset by the server (error code 7: REFUSED_STREAM)" },
        { false, 0x77, "HTTP/2 stream reset by the server (error code 119: unknown)" },
    };
    const nghttp2_nv ant_req[] = {
        NV(":method", "POST"), NV(":scheme", "https"),
        NV(":authority", "api.anthropic.com"), NV(":path", "/v1/messages"),
    };
    const nghttp2_nv ant_resp[] = {
        NV(":status", "200"), NV("content-type", "text/event-stream"),
    };

    for (size_t t = 0; t < sizeof(cases) / sizeof(*cases); t++) {
        struct conn c;
        conn_init(&c);
        preface(&c, 0);
        headers(&c, true, 1, ant_req, 4, 0);
        data(&c, true, 1, ant_req_body, strlen(ant_req_body), 1000, 0, true);
        headers(&c, false, 1, ant_resp, 2, 0);
        data(&c, false, 1, ant_sse, 300, 64, 0, false);   /* mid-stream */
        rst(&c, cases[t].by_client, 1, cases[t].code);
        /* Late frames on the reset stream are stepped over. */
        data(&c, false, 1, ant_sse + 300, 50, 64, 0, true);
        for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
            struct tt_span s[2];
            size_t n = run(&c, steps[i], "api.anthropic.com", s, 2, NULL);
            cr_assert_eq(n, 1, "case %zu step %zu: %zu spans", t, steps[i], n);
            cr_expect_str_eq(s[0].status, "error");
            cr_expect_str_eq(s[0].error, cases[t].want, "case %zu", t);
            cr_expect_str_eq(s[0].provider, "anthropic");
            cr_expect_eq(s[0].http_status, 200);
            cr_expect(s[0].stream);
            clear_spans(s, n);
        }
        conn_free(&c);
    }
}

Test(http2, goaway_ends_unprocessed_streams)
{
    struct conn c;
    const uint8_t ga[12] = { 0, 0, 0, 1, 0, 0, 0, 0, 'b', 'y', 'e', '!' };

    conn_init(&c);
    preface(&c, 0);
    oai_request_headers(&c, 1, "api.openai.com", "/v1/chat/completions", 0);
    data(&c, true, 1, oai_req_body, strlen(oai_req_body), 1000, 0, true);
    oai_request_headers(&c, 3, "api.openai.com", "/v1/chat/completions", H_END_STREAM);
    frame(&c, false, GOAWAY, 0, 0, ga, sizeof(ga));   /* last stream 1, NO_ERROR */
    json_response_headers(&c, 1, NULL, 0);
    data(&c, false, 1, oai_resp_body, strlen(oai_resp_body), 1000, 0, true);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[3];
        size_t n = run(&c, steps[i], NULL, s, 3, NULL);
        cr_assert_eq(n, 2, "step %zu: %zu spans", steps[i], n);
        struct tt_span *ok = s[0].http_status ? &s[0] : &s[1];
        struct tt_span *gone = ok == &s[0] ? &s[1] : &s[0];
        expect_oai_span(ok);
        cr_expect_str_eq(gone->status, "error");
        cr_expect_str_eq(gone->error, "HTTP/2 GOAWAY: stream not processed");
        cr_expect_eq(gone->http_status, 0);
        clear_spans(s, n);
    }
    conn_free(&c);
}

Test(http2, other_paths_on_an_llm_connection_make_no_span)
{
    struct conn c;
    const nghttp2_nv get[] = {
        NV(":method", "GET"), NV(":scheme", "https"),
        NV(":authority", "api.openai.com"), NV(":path", "/v1/models"),
        NV("authorization", "Bearer sk-proj-SECRETSECRETSECRETSECRET"),
    };
    const char models[] = "{\"object\":\"list\",\"data\":[{\"id\":\"gpt-4o\"}]}";

    conn_init(&c);
    preface(&c, 0);
    headers(&c, true, 1, get, 5, H_END_STREAM);
    json_response_headers(&c, 1, NULL, 0);
    data(&c, false, 1, models, strlen(models), 10, 0, true);
    oai_request_headers(&c, 3, "api.openai.com", "/v1/chat/completions", 0);
    data(&c, true, 3, oai_req_body, strlen(oai_req_body), 1000, 0, true);
    json_response_headers(&c, 3, NULL, 0);
    data(&c, false, 3, oai_resp_body, strlen(oai_resp_body), 1000, 0, true);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[3];
        struct run_out ro;
        size_t n = run(&c, steps[i], NULL, s, 3, &ro);
        cr_assert_eq(n, 1, "step %zu: GET /v1/models is followed, not a span", steps[i]);
        expect_oai_span(&s[0]);
        cr_expect(ro.has_llm);
        cr_expect(!ro.not_llm);
        clear_spans(s, n);
    }
    conn_free(&c);
}

Test(http2, non_llm_connection_is_recognised)
{
    struct conn c;
    const nghttp2_nv get[] = {
        NV(":method", "GET"), NV(":scheme", "https"),
        NV(":authority", "example.org"), NV(":path", "/index.html"),
    };
    const nghttp2_nv resp[] = { NV(":status", "200"), NV("content-type", "text/html") };

    conn_init(&c);
    preface(&c, 0);
    headers(&c, true, 1, get, 4, H_END_STREAM);
    headers(&c, false, 1, resp, 2, 0);
    data(&c, false, 1, "<html></html>", 13, 5, 0, true);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[1];
        struct run_out ro;
        cr_expect_eq(run(&c, steps[i], "example.org", s, 1, &ro), 0);
        cr_expect(ro.not_llm);
        cr_expect(!ro.has_llm);
    }
    conn_free(&c);
}

Test(http2, sni_stands_in_for_a_missing_authority_and_close_ends_open_streams)
{
    struct conn c;
    const nghttp2_nv req[] = {
        NV(":method", "POST"), NV(":scheme", "https"), NV(":path", "/v1/messages"),
    };
    const nghttp2_nv interim[] = { NV(":status", "100") };

    conn_init(&c);
    preface(&c, 0);
    headers(&c, true, 1, req, 3, 0);
    headers(&c, false, 1, interim, 1, 0);       /* 1xx: not the response head */
    data(&c, true, 1, ant_req_body, strlen(ant_req_body), 1000, 0, true);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[2];
        size_t n = run(&c, steps[i], "api.anthropic.com", s, 2, NULL);
        cr_assert_eq(n, 1);
        cr_expect_str_eq(s[0].host, "api.anthropic.com");
        cr_expect_str_eq(s[0].provider, "anthropic");
        cr_expect_str_eq(s[0].request_model, "claude-sonnet-4-5");
        cr_expect_str_eq(s[0].status, "error");
        cr_expect_str_eq(s[0].error, "test: connection closed");
        cr_expect_eq(s[0].http_status, 0);
        clear_spans(s, n);
    }
    conn_free(&c);
}

Test(http2, larger_header_table_announced_by_settings)
{
    struct conn c;

    conn_init(&c);
    preface(&c, 65536);
    /* The server's encoder takes up the client's offer: its next block
     * starts with a table size update above the 4096 default. */
    nghttp2_hd_deflate_del(c.enc[0]);
    cr_assert_eq(nghttp2_hd_deflate_new(&c.enc[0], 65536), 0);
    cr_assert_eq(nghttp2_hd_deflate_change_table_size(c.enc[0], 65536), 0);
    oai_request_headers(&c, 1, "api.openai.com", "/v1/chat/completions", 0);
    data(&c, true, 1, oai_req_body, strlen(oai_req_body), 1000, 0, true);
    json_response_headers(&c, 1, NULL, 0);
    data(&c, false, 1, oai_resp_body, strlen(oai_resp_body), 1000, 0, true);

    for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
        struct tt_span s[2];
        size_t n = run(&c, steps[i], NULL, s, 2, NULL);
        cr_assert_eq(n, 1);
        expect_oai_span(&s[0]);
        clear_spans(s, n);
    }
    conn_free(&c);
}

Test(http2, streams_beyond_the_cap_are_not_traced)
{
    struct conn c;
    size_t extra = 4;

    conn_init(&c);
    preface(&c, 0);
    /* Open more requests than the table holds; none is answered. */
    for (uint32_t k = 0; k < TT_H2_MAX_STREAMS + extra; k++) {
        uint32_t sid = 1 + 2 * k;
        oai_request_headers(&c, sid, "api.openai.com", "/v1/chat/completions", 0);
        data(&c, true, sid, oai_req_body, strlen(oai_req_body), 1000, 0, true);
    }
    struct tt_span *s = calloc(TT_H2_MAX_STREAMS + extra, sizeof(*s));
    size_t n = run(&c, SIZE_MAX, NULL, s, TT_H2_MAX_STREAMS + extra, NULL);
    cr_expect_eq(n, TT_H2_MAX_STREAMS);
    for (size_t i = 0; i < n && i < TT_H2_MAX_STREAMS + extra; i++)
        cr_expect_str_eq(s[i].error, "test: connection closed");
    clear_spans(s, n < TT_H2_MAX_STREAMS + extra ? n : TT_H2_MAX_STREAMS + extra);
    free(s);
    conn_free(&c);
}

/* --- garbage ------------------------------------------------------------- */

#define PRI "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define SET "\0\0\0\x04\0\0\0\0\0"      /* empty SETTINGS */
#define L(s) s, sizeof(s) - 1

Test(http2, garbage_is_a_parse_error_and_stays_one)
{
    static const struct {
        const char *name;
        bool client;
        const char *bytes;
        size_t len;
        int want;
    } cases[] = {
        { "HTTP/1.1 request", true, L("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), TT_ERR_PARSE },
        { "HTTP/1.1 response", false, L("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
          TT_ERR_PARSE },
        { "TLS record", true, L("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), TT_ERR_PARSE },
        { "first frame not SETTINGS", true, L(PRI "\0\0\x08\x06\0\0\0\0\0pingpong"),
          TT_ERR_PARSE },
        { "server starts with DATA", false, L("\0\0\x01\0\0\0\0\0\x01x"), TT_ERR_PARSE },
        { "SETTINGS not a multiple of 6", true, L(PRI "\0\0\x05\x04\0\0\0\0\0abcde"),
          TT_ERR_PARSE },
        { "SETTINGS ACK with payload", false, L("\0\0\x06\x04\x01\0\0\0\0abcdef"),
          TT_ERR_PARSE },
        { "SETTINGS on a stream", false, L("\0\0\0\x04\0\0\0\0\x01"), TT_ERR_PARSE },
        { "pad longer than payload", true,
          L(PRI SET "\0\0\x04\0\x08\0\0\0\x01\x04" "abc"), TT_ERR_PARSE },
        { "padded, nothing at all", true, L(PRI SET "\0\0\0\0\x08\0\0\0\x01"), TT_ERR_PARSE },
        { "padded HEADERS, pad over priority", true,
          L(PRI SET "\0\0\x07\x01\x2c\0\0\0\x01\x02\0\0\0\0\x10\x82"), TT_ERR_PARSE },
        { "PRIORITY flag, short payload", true,
          L(PRI SET "\0\0\x03\x01\x24\0\0\0\x01\x82\x86\x84"), TT_ERR_PARSE },
        { "DATA on stream 0", true, L(PRI SET "\0\0\x01\0\0\0\0\0\0x"), TT_ERR_PARSE },
        { "HEADERS on stream 0", true, L(PRI SET "\0\0\x01\x01\x04\0\0\0\0\x82"),
          TT_ERR_PARSE },
        { "CONTINUATION alone", true, L(PRI SET "\0\0\x01\x09\x04\0\0\0\x01\x82"),
          TT_ERR_PARSE },
        { "frame inside a header block", true,
          L(PRI SET "\0\0\x01\x01\0\0\0\0\x01\x82" "\0\0\x01\0\0\0\0\0\x01x"), TT_ERR_PARSE },
        { "CONTINUATION of another stream", true,
          L(PRI SET "\0\0\x01\x01\0\0\0\0\x01\x82" "\0\0\x01\x09\x04\0\0\0\x03\x86"),
          TT_ERR_PARSE },
        { "HPACK index past the tables", true,
          L(PRI SET "\0\0\x03\x01\x04\0\0\0\x01\xff\xff\x7f"), TT_ERR_PARSE },
        { "HPACK string past the block", true,
          L(PRI SET "\0\0\x03\x01\x04\0\0\0\x01\x40\x7f\x10"), TT_ERR_PARSE },
        { "HPACK table size update above SETTINGS", false,
          L("\0\0\0\x04\0\0\0\0\0" "\0\0\x04\x01\x04\0\0\0\x01\x3f\xe1\xff\x03"),
          TT_ERR_PARSE },
        { "RST_STREAM of 3 bytes", true, L(PRI SET "\0\0\x03\x03\0\0\0\0\x01\0\0\x08"),
          TT_ERR_PARSE },
        { "RST_STREAM on stream 0", false, L(SET "\0\0\x04\x03\0\0\0\0\0\0\0\0\x08"),
          TT_ERR_PARSE },
        { "PING of 7 bytes", true, L(PRI SET "\0\0\x07\x06\0\0\0\0\0pingpon"), TT_ERR_PARSE },
        { "GOAWAY of 4 bytes", false, L(SET "\0\0\x04\x07\0\0\0\0\0\0\0\0\x01"),
          TT_ERR_PARSE },
        { "WINDOW_UPDATE of 5 bytes", true,
          L(PRI SET "\0\0\x05\x08\0\0\0\0\0\0\0\0\x01\0"), TT_ERR_PARSE },
        { "PRIORITY of 4 bytes", true, L(PRI SET "\0\0\x04\x02\0\0\0\0\x01\0\0\0\0"),
          TT_ERR_PARSE },
        { "PUSH_PROMISE from the client", true,
          L(PRI SET "\0\0\x05\x05\x04\0\0\0\x01\0\0\0\x02\x82"), TT_ERR_PARSE },
        { "PUSH_PROMISE without promised id", false,
          L(SET "\0\0\x02\x05\x04\0\0\0\x01\0\0"), TT_ERR_PARSE },
    };

    for (size_t t = 0; t < sizeof(cases) / sizeof(*cases); t++) {
        for (size_t i = 0; i < sizeof(steps) / sizeof(*steps); i++) {
            struct tt_h2 *h = tt_h2_new("api.openai.com");
            int rc = 0;
            for (size_t off = 0; off < cases[t].len && rc == 0; off += steps[i]) {
                size_t k = cases[t].len - off < steps[i] ? cases[t].len - off : steps[i];
                rc = tt_h2_feed(h, cases[t].client, cases[t].bytes + off, k, 1);
            }
            cr_expect_eq(rc, cases[t].want, "%s, step %zu: %s", cases[t].name, steps[i],
                         tt_strerror(rc));
            /* Failed for good: even a valid frame is refused now. */
            cr_expect_eq(tt_h2_feed(h, !cases[t].client, SET, 9, 2), cases[t].want,
                         "%s", cases[t].name);
            tt_h2_free(h, "garbage", 3);
        }
    }
    struct tt_span s;
    cr_expect_eq(read_spool(&s, 1), 0);
}

Test(http2, header_block_over_64k_gives_the_connection_up)
{
    struct conn c;
    char *big = malloc(70000);
    memset(big, '~', 69999);   /* longer in Huffman: sent raw */
    big[69999] = 0;
    const nghttp2_nv nv[] = {
        NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "api.openai.com"),
        NV(":path", "/v1/chat/completions"), NV("x-huge", big),
    };
    conn_init(&c);
    preface(&c, 0);
    headers(&c, true, 1, nv, 5, H_SPLIT);
    struct tt_h2 *h = tt_h2_new(NULL);
    int rc = 0;
    for (size_t i = 0; i < c.n && rc == 0; i++)
        rc = tt_h2_feed(h, c.seg[i].client, c.seg[i].b.data, c.seg[i].b.len, 1);
    cr_expect_eq(rc, TT_ERR_CAP);
    tt_h2_free(h, "given up", 2);
    free(big);
    conn_free(&c);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* Random bytes after a valid start, and valid connections with random
 * bytes changed: any outcome but a crash, a leak or UB (ASan/UBSan). */
Test(http2, random_and_mutated_input_never_crash)
{
    struct conn c;
    uint64_t x = 0x9e3779b97f4a7c15ULL;
#define RND() xorshift(&x)

    conn_init(&c);
    preface(&c, 0);
    oai_request_headers(&c, 1, "api.openai.com", "/v1/chat/completions", H_SPLIT | H_PAD_PRIO);
    data(&c, true, 1, oai_req_body, strlen(oai_req_body), 40, 7, true);
    json_response_headers(&c, 1, NULL, 0);
    data(&c, false, 1, oai_resp_body, strlen(oai_resp_body), 100, 3, true);

    for (int round = 0; round < 400; round++) {
        struct tt_h2 *h = tt_h2_new("api.openai.com");
        for (size_t i = 0; i < c.n; i++) {
            size_t n = c.seg[i].b.len;
            char *b = malloc(n);
            memcpy(b, c.seg[i].b.data, n);
            for (int m = 0; m < 1 + (int)(RND() % 3); m++)
                b[RND() % n] = (char)RND();
            size_t step = 1 + RND() % 40;
            for (size_t off = 0; off < n; off += step) {
                int rc = tt_h2_feed(h, c.seg[i].client, b + off,
                                    n - off < step ? n - off : step, 1);
                cr_assert(rc == 0 || rc == TT_ERR_PARSE || rc == TT_ERR_CAP,
                          "rc %d", rc);
            }
            free(b);
        }
        char noise[512];
        for (size_t k = 0; k < sizeof(noise); k++)
            noise[k] = (char)RND();
        int rc = tt_h2_feed(h, RND() & 1, noise, sizeof(noise), 2);
        cr_assert(rc == 0 || rc == TT_ERR_PARSE || rc == TT_ERR_CAP, "rc %d", rc);
        tt_h2_free(h, "fuzz", 3);
        struct tt_span s[4];
        size_t n = read_spool(s, 4);
        clear_spans(s, n < 4 ? n : 4);
    }
    conn_free(&c);
}
