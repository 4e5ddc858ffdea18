/* test_capture.c - the capture path in one process: bytes as the SSL hooks
 * report them -> conn (HTTP/1.1) -> exchange -> provider parser -> price ->
 * wire frame -> spool file (no daemon listening) -> decoded by the daemon's
 * own frame decoder. Every exchange is fed split at several sizes,
 * including one byte at a time. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "conn.h"
#include "exchange.h"
#include "redact.h"
#include "frame.h"
#include "proctree.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"

#include "spool_harness.h"

static void setup(void)
{
    spool_setup();
}

/* Feed `s` into one direction in pieces of `step` bytes. */
static void feed(bool write, const void *key, const char *s, size_t n, size_t step)
{
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        if (write)
            tt_conn_write(TT_CONN_SSL, key, NULL, s + off, k);
        else
            tt_conn_read(TT_CONN_SSL, key, s + off, k);
    }
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    char *s;
    va_list ap;
    va_start(ap, f);
    cr_assert_geq(vasprintf(&s, f, ap), 0);
    va_end(ap);
    return s;
}

static const char oai_req_body[] =
    "{\"model\":\"gpt-4o-mini\",\"temperature\":0.5,\"messages\":"
    "[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char oai_resp_body[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":"
    "\"gpt-4o-mini-2024-07-18\",\"choices\":[{\"index\":0,\"message\":"
    "{\"role\":\"assistant\",\"content\":\"Hello!\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":200,\"total_tokens\":"
    "1200,\"prompt_tokens_details\":{\"cached_tokens\":400}}}";

static char *oai_request(const char *host, const char *target)
{
    return fmt("POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer sk-SECRET-KEY\r\n"
               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
               target, host, strlen(oai_req_body), oai_req_body);
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

static const size_t steps[] = { 1, 2, 7, 64, 100000 };

static void expect_oai_span(const struct tt_span *s)
{
    cr_expect_str_eq(s->provider, "openai");
    cr_expect_str_eq(s->operation, "chat");
    cr_expect_str_eq(s->request_model, "gpt-4o-mini");
    cr_expect_str_eq(s->response_model, "gpt-4o-mini-2024-07-18");
    cr_expect_eq(s->input_tokens, 1000);
    cr_expect_eq(s->output_tokens, 200);
    cr_expect_eq(s->cache_read_tokens, 400);
    cr_expect(s->usage_known);
    cr_expect(s->cost_known);
    /* gpt-4o-mini: 0.15 in, 0.075 cached, 0.60 out per 1M */
    cr_expect_float_eq(s->cost_usd, (600 * 0.15 + 400 * 0.075 + 200 * 0.60) / 1e6, 1e-15);
    cr_expect_str_eq(s->status, "ok");
    cr_expect_eq(s->http_status, 200);
    cr_expect_str_eq(s->trace_id, "0af7651916cd43dd8448eb211c80319c");
    /* Under this process's span, itself under the TRACEPARENT span. */
    char proc[17];
    cr_assert(tt_proc_self(proc));
    cr_expect_str_eq(s->parent_id, proc);
    cr_expect_str_neq(s->parent_id, "b7ad6b7169203331");
    cr_expect_eq(s->pid, getpid());
}

TestSuite(capture, .init = setup, .fini = teardown);

Test(capture, keepalive_chunked_gzip_at_every_split)
{
    size_t gzlen;
    char *gz = gzip_body(oai_resp_body, &gzlen);
    /* response 1: Content-Length + gzip; response 2: chunked, plain */
    char *resp1 = fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gzlen);
    size_t r1len = strlen(resp1);
    resp1 = realloc(resp1, r1len + gzlen);
    memcpy(resp1 + r1len, gz, gzlen);
    r1len += gzlen;
    size_t half = strlen(oai_resp_body) / 2;
    char *resp2 = fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%.*s\r\n%zx;ext=1\r\n%s\r\n0\r\n\r\n",
                      half, (int)half, oai_resp_body, strlen(oai_resp_body) - half,
                      oai_resp_body + half);
    char *req = oai_request("api.openai.com", "/v1/chat/completions");

    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int key = 0;   /* any unique address stands for an SSL* */
        feed(true, &key, req, strlen(req), steps[i]);
        feed(false, &key, resp1, r1len, steps[i]);
        feed(true, &key, req, strlen(req), steps[i]);
        feed(false, &key, resp2, strlen(resp2), steps[i]);
        tt_conn_close(TT_CONN_SSL, &key);
        struct tt_span spans[4];
        size_t n = read_spool(spans, 4);
        cr_assert_eq(n, 2, "step %zu: %zu spans", steps[i], n);
        for (size_t k = 0; k < n; k++) {
            expect_oai_span(&spans[k]);
            cr_expect(!spans[k].stream);
            tt_span_clear(&spans[k]);
        }
    }
    free(gz);
    free(resp1);
    free(resp2);
    free(req);
}

Test(capture, pipelined_requests_pair_in_order)
{
    int key = 0;
    char *r1 = oai_request("api.openai.com", "/v1/chat/completions");
    char *both = fmt("%s%s", r1, r1);
    char *resp_ok = fmt("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                        strlen(oai_resp_body), oai_resp_body);
    const char *err_body = "{\"error\":{\"message\":\"Rate limit\",\"type\":\"rate_limit\"}}";
    char *resp_err = fmt("HTTP/1.1 429 Too Many Requests\r\nContent-Length: %zu\r\n\r\n%s",
                         strlen(err_body), err_body);
    char *resps = fmt("%s%s", resp_ok, resp_err);

    feed(true, &key, both, strlen(both), 100000);
    feed(false, &key, resps, strlen(resps), 5);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s[4];
    cr_assert_eq(read_spool(s, 4), 2);
    /* Spool order is not span order: find them by status. */
    struct tt_span *ok = !strcmp(s[0].status, "ok") ? &s[0] : &s[1];
    struct tt_span *bad = ok == &s[0] ? &s[1] : &s[0];
    expect_oai_span(ok);
    cr_expect_str_eq(bad->status, "error");
    cr_expect_eq(bad->http_status, 429);
    cr_expect_not_null(strstr(bad->error, "429"));
    cr_expect_not_null(strstr(bad->error, "Rate limit"));
    cr_expect(!bad->usage_known);
    tt_span_clear(&s[0]);
    tt_span_clear(&s[1]);
    free(r1); free(both); free(resp_ok); free(resp_err); free(resps);
}

static const char ant_sse[] =
    "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
    "\"content\":[],\"usage\":{\"input_tokens\":1200,\"cache_read_input_tokens\":500,"
    "\"cache_creation_input_tokens\":300,\"output_tokens\":1}}}\r\n\r\n"
    "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"
    "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n"
    "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n"
    "event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n"
    "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":100}}\r\n\r\n"
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";

static char *chunked(const char *body, size_t piece)
{
    struct tt_buf b;
    size_t n = strlen(body);
    tt_buf_init(&b, 1 << 20);
    for (size_t off = 0; off < n; off += piece) {
        size_t k = n - off < piece ? n - off : piece;
        char *h = fmt("%zx\r\n", k);
        cr_assert_eq(tt_buf_append_str(&b, h), 0);
        cr_assert_eq(tt_buf_append(&b, body + off, k), 0);
        cr_assert_eq(tt_buf_append_str(&b, "\r\n"), 0);
        free(h);
    }
    cr_assert_eq(tt_buf_append_str(&b, "0\r\n\r\n"), 0);
    return tt_buf_steal(&b);
}

Test(capture, anthropic_stream_via_gateway_host)
{
    const char *body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":100,\"stream\":true,"
                       "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    char *req = fmt("POST /v1/messages?key=AIzaSECRETSECRET&beta=true HTTP/1.1\r\n"
                    "Host: gateway.internal:8080\r\nx-api-key: sk-ant-SECRET\r\n"
                    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    char *sse = chunked(ant_sse, 37);
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%s", sse);
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        int key = 0;
        feed(true, &key, req, strlen(req), steps[i]);
        feed(false, &key, resp, strlen(resp), steps[i]);
        tt_conn_close(TT_CONN_SSL, &key);
        struct tt_span s;
        cr_assert_eq(read_spool(&s, 1), 1);
        cr_expect_str_eq(s.provider, "anthropic");   /* "auto" -> the API's provider */
        cr_expect_str_eq(s.host, "gateway.internal:8080");
        cr_expect_str_eq(s.path, "/v1/messages?beta=true");
        cr_expect(s.stream);
        cr_expect_eq(s.input_tokens, 2000);
        cr_expect_eq(s.cache_read_tokens, 500);
        cr_expect_eq(s.cache_write_tokens, 300);
        cr_expect_eq(s.output_tokens, 100);
        cr_expect_float_eq(s.cost_usd,
                           (1200 * 3.0 + 500 * 0.30 + 300 * 3.75 + 100 * 15.0) / 1e6, 1e-15);
        cr_expect_geq(s.ttft_ms, 0);
        cr_expect_str_eq(s.status, "ok", "%s", s.error ? s.error : "");
        tt_span_clear(&s);
    }
    free(req); free(sse); free(resp);
}

Test(capture, stream_cut_by_close_is_an_error_span)
{
    const char *body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":10,\"stream\":true,"
                       "\"messages\":[]}";
    char *req = fmt("POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
                    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%.300s\r\n", (size_t)300, ant_sse);
    int key = 0;
    feed(true, &key, req, strlen(req), 9);
    feed(false, &key, resp, strlen(resp), 9);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);
    cr_expect_str_eq(s.status, "error");
    cr_expect(s.stream);
    cr_expect_not_null(s.error);
    tt_span_clear(&s);
    free(req); free(resp);
}

Test(capture, request_without_response_is_an_error_span)
{
    int key = 0;
    char *req = oai_request("api.openai.com", "/v1/chat/completions");
    feed(true, &key, req, strlen(req), 1000);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);
    cr_expect_str_eq(s.status, "error");
    cr_expect_eq(s.http_status, 0);
    cr_expect_str_eq(s.request_model, "gpt-4o-mini");
    tt_span_clear(&s);
    free(req);
}

/* A Host header (and path) with bytes that are not UTF-8 (found by
 * fuzz_http1): the daemon refused the whole span, so the call and its
 * cost were lost. The span must arrive, with the bytes replaced. */
Test(capture, invalid_utf8_in_the_request_head_keeps_the_span)
{
    int key = 0;
    char *req = oai_request("api.openai.com\xff", "/v1/chat/completions?q=\xe2\x82");
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen(oai_resp_body),
                     oai_resp_body);
    feed(true, &key, req, strlen(req), 1000);
    feed(false, &key, resp, strlen(resp), 1000);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);    /* read_spool: none rejected */
    cr_expect_str_eq(s.host, "api.openai.com\xef\xbf\xbd");
    cr_expect_str_eq(s.path, "/v1/chat/completions?q=\xef\xbf\xbd\xef\xbf\xbd");
    cr_expect_eq(s.input_tokens, 1000);
    cr_expect_str_eq(s.status, "ok");
    tt_span_clear(&s);
    free(req);
    free(resp);
}

/* A request parameter the provider will refuse ("max_tokens": -1100,
 * found by fuzz_provider and fuzz_http2): the daemon refused the whole span
 * for it, so the failed call was never seen. The span must arrive, the
 * parameter absent. */
Test(capture, negative_request_parameters_keep_the_span)
{
    int key = 0;
    static const char body[] =
        "{\"model\":\"gpt-4o-mini\",\"max_tokens\":-1100,\"temperature\":-1,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char err[] =
        "{\"error\":{\"message\":\"max_tokens must be positive\","
        "\"type\":\"invalid_request_error\"}}";
    char *req = fmt("POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                    strlen(body), body);
    char *resp = fmt("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s", strlen(err), err);
    feed(true, &key, req, strlen(req), 1000);
    feed(false, &key, resp, strlen(resp), 1000);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);    /* read_spool: none rejected */
    cr_expect_str_eq(s.status, "error");
    cr_expect_eq(s.http_status, 400);
    cr_expect_str_eq(s.request_model, "gpt-4o-mini");
    cr_expect_not(s.has_max_tokens);
    cr_expect_not(s.has_temperature);
    tt_span_clear(&s);
    free(req);
    free(resp);
}

Test(capture, non_llm_traffic_makes_no_span)
{
    int key = 0;
    const char *req = "GET /index.html HTTP/1.1\r\nHost: example.org\r\n\r\n";
    const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    feed(true, &key, req, strlen(req), 3);
    feed(false, &key, resp, strlen(resp), 3);
    cr_expect(!tt_conn_is_llm(TT_CONN_SSL, &key));
    /* garbage and a non-LLM path on an unknown host: nothing either */
    int key2 = 0;
    feed(true, &key2, "\x16\x03\x01garbage", 10, 1);
    tt_conn_close(TT_CONN_SSL, &key);
    tt_conn_close(TT_CONN_SSL, &key2);
    struct tt_span s;
    cr_expect_eq(read_spool(&s, 1), 0);
}

/* The fd hooks stop reporting a socket once tt_conn_ignored says so: it
 * must say so as soon as the first request head (or first byte) settles
 * it, and never while a request is undecided or being captured. */
Test(capture, ignored_is_decided_by_the_first_request)
{
    int plain = 0, tls = 0, llm = 0, unseen = 0, vllm = 0;
    const char *get = "GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1:9999\r\n\r\n";
    /* A model server's default port on loopback is an LLM host: its
     * framing is followed even when the first request is not an API call
     * (clients often list /v1/models first). */
    const char *models = "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n\r\n";
    char *req = oai_request("127.0.0.1:8000", "/v1/chat/completions");

    tt_conn_write(TT_CONN_FD, &plain, NULL, get, 10);
    cr_expect(!tt_conn_ignored(TT_CONN_FD, &plain), "head not complete yet");
    tt_conn_write(TT_CONN_FD, &plain, NULL, get + 10, strlen(get) - 10);
    cr_expect(tt_conn_ignored(TT_CONN_FD, &plain));

    tt_conn_write(TT_CONN_FD, &tls, NULL, "\x16\x03\x01\x02\x00", 5);
    cr_expect(tt_conn_ignored(TT_CONN_FD, &tls), "TLS record: at once");

    tt_conn_write(TT_CONN_FD, &llm, NULL, req, 20);
    cr_expect(!tt_conn_ignored(TT_CONN_FD, &llm));
    tt_conn_write(TT_CONN_FD, &llm, NULL, req + 20, strlen(req) - 20);
    cr_expect(!tt_conn_ignored(TT_CONN_FD, &llm), "an API path is LLM traffic");
    cr_expect(tt_conn_ignored(TT_CONN_SSL, &llm), "kinds are separate keys");

    cr_expect(tt_conn_ignored(TT_CONN_FD, &unseen), "no entry: nothing to capture");
    tt_conn_write(TT_CONN_FD, &vllm, NULL, models, strlen(models));
    cr_expect(!tt_conn_ignored(TT_CONN_FD, &vllm), "127.0.0.1:8000 is vLLM's port");
    tt_conn_close(TT_CONN_FD, &vllm);
    tt_conn_close(TT_CONN_FD, &plain);
    tt_conn_close(TT_CONN_FD, &tls);
    tt_conn_close(TT_CONN_FD, &llm);
    free(req);
}

Test(capture, other_paths_on_an_llm_host_keep_pairing)
{
    int key = 0;
    const char *get = "GET /v1/models HTTP/1.1\r\nHost: api.openai.com\r\n\r\n";
    const char *models = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
    char *req = oai_request("api.openai.com", "/v1/chat/completions");
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(oai_resp_body), oai_resp_body);
    feed(true, &key, get, strlen(get), 4);
    feed(false, &key, models, strlen(models), 4);
    feed(true, &key, req, strlen(req), 4);
    feed(false, &key, resp, strlen(resp), 4);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s[2];
    cr_assert_eq(read_spool(s, 2), 1, "GET /v1/models is followed, not a span");
    expect_oai_span(&s[0]);
    tt_span_clear(&s[0]);
    free(req); free(resp);
}

Test(capture, redact_target_table)
{
    static const struct { const char *in, *want; } cases[] = {
        { "/v1/chat/completions", "/v1/chat/completions" },
        { "/v1beta/models/g:generateContent?key=AIza123&alt=sse",
          "/v1beta/models/g:generateContent?alt=sse" },
        { "/x?alt=sse&KEY=abc", "/x?alt=sse" },
        { "/x?api_key=1&access_token=2&token=3", "/x" },
        { "/x?keyboard=1", "/x?keyboard=1" },
        { "/x?", "/x" },
    };
    char out[256];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tt_redact_target(cases[i].in, strlen(cases[i].in), out, sizeof(out));
        cr_expect_str_eq(out, cases[i].want, "case %zu", i);
    }
}

/* A stream longer than TOKENTAP_MAX_BODY is still parsed to its end: the
 * usage of a long answer comes in its last event. */
static void setup_small_cap(void)
{
    setenv("TOKENTAP_MAX_BODY", "65536", 1);
    setup();
}

Test(capture_cap, stream_longer_than_the_body_cap_keeps_its_usage,
     .init = setup_small_cap, .fini = teardown)
{
    struct tt_buf sse;
    const char *body = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":9000,\"stream\":true,"
                       "\"messages\":[]}";
    char *req = fmt("POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\n"
                    "Content-Length: %zu\r\n\r\n%s", strlen(body), body);
    tt_buf_init(&sse, 4u << 20);
    cr_assert_eq(tt_buf_append_str(&sse,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\","
        "\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"), 0);
    for (int i = 0; i < 3000; i++)     /* ~300 KB of deltas: 4.5x the cap */
        cr_assert_eq(tt_buf_append_str(&sse,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"lorem ipsum \"}}\n\n"), 0);
    cr_assert_eq(tt_buf_append_str(&sse,
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
        "\"end_turn\"},\"usage\":{\"output_tokens\":6000}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"), 0);
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     "Content-Length: %zu\r\n\r\n", sse.len);
    int key = 0;
    feed(true, &key, req, strlen(req), 100000);
    feed(false, &key, resp, strlen(resp), 100000);
    feed(false, &key, sse.data, sse.len, 16384);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);
    cr_expect_str_eq(s.status, "ok", "%s", s.error ? s.error : "");
    cr_expect(s.usage_known);
    cr_expect_eq(s.output_tokens, 6000);
    cr_expect_eq(s.input_tokens, 10);
    tt_span_clear(&s);
    tt_buf_free(&sse);
    free(req);
    free(resp);
}

/* Issue #6 (test_badinput.py gzbomb): 16 MiB of JSON in a few KB of gzip.
 * The decoder stops at the cap, and the span says it was the
 * decompression cap, not a malformed body; no usage is made up. */
Test(capture_cap, gzip_bomb_stops_at_the_decompression_cap,
     .init = setup_small_cap, .fini = teardown)
{
    static const char head[] = "{\"id\":\"c\",\"object\":\"chat.completion\",\"model\":"
                               "\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":"
                               "{\"role\":\"assistant\",\"content\":\"";
    static const char tail[] = "\"},\"finish_reason\":\"stop\"}],\"usage\":{"
                               "\"prompt_tokens\":10,\"completion_tokens\":20}}";
    char *a = malloc(1 << 20), *gz = malloc(1 << 20);
    z_stream z;
    int key = 0;

    cr_assert(a && gz);
    memset(a, 'a', 1 << 20);
    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 31, 9, Z_RLE), Z_OK);
    z.next_out = (Bytef *)gz;
    z.avail_out = 1 << 20;
    z.next_in = (Bytef *)head;
    z.avail_in = sizeof(head) - 1;
    cr_assert_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
    for (int i = 0; i < 16; i++) {
        z.next_in = (Bytef *)a;
        z.avail_in = 1 << 20;
        cr_assert_eq(deflate(&z, Z_NO_FLUSH), Z_OK);
    }
    z.next_in = (Bytef *)tail;
    z.avail_in = sizeof(tail) - 1;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t gz_len = z.total_out;
    deflateEnd(&z);
    cr_assert_lt(gz_len, 256u << 10);

    char *req = oai_request("api.openai.com", "/v1/chat/completions");
    char *resp = fmt("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     "Content-Encoding: gzip\r\nContent-Length: %zu\r\n\r\n", gz_len);
    feed(true, &key, req, strlen(req), 100000);
    feed(false, &key, resp, strlen(resp), 100000);
    feed(false, &key, gz, gz_len, 4096);
    tt_conn_close(TT_CONN_SSL, &key);
    struct tt_span s;
    cr_assert_eq(read_spool(&s, 1), 1);
    cr_expect_str_eq(s.status, "error");
    cr_expect_not_null(strstr(s.error ? s.error : "", "decompression cap"), "%s", s.error);
    cr_expect(s.truncated);
    cr_expect(!s.usage_known);
    cr_expect_eq(s.input_tokens, 0);
    cr_expect_eq(s.output_tokens, 0);
    tt_span_clear(&s);
    free(req);
    free(resp);
    free(gz);
    free(a);
}

/* Issue #6 (test_badinput.py garbage-raw, neglen): a response that is not
 * HTTP ends the call with an error naming it, not a vague one. */
Test(capture, response_that_is_not_http_is_named)
{
    static const char *const bad[] = {
        "\x8f\x01\xfe garbage, not a status line\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n{}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        int key = 0;
        char *req = oai_request("api.openai.com", "/v1/chat/completions");
        feed(true, &key, req, strlen(req), 100000);
        feed(false, &key, bad[i], strlen(bad[i]), 1);
        tt_conn_close(TT_CONN_SSL, &key);
        struct tt_span s;
        cr_assert_eq(read_spool(&s, 1), 1);
        cr_expect_str_eq(s.status, "error");
        cr_expect_not_null(strstr(s.error ? s.error : "", "malformed HTTP response"),
                           "case %zu: %s", i, s.error);
        cr_expect(!s.usage_known);
        tt_span_clear(&s);
        free(req);
    }
}
