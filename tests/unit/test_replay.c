/* test_replay.c - record/replay (issue #13): the cassette (tools/cassette.c:
 * canonical bodies, matching, nearest + diff, loading and its errors, HAR
 * from recording lines), the redirect rules (preload/redirect.c) and the
 * recording's encoders (preload/record.c), table-driven. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cassette.h"
#include "record.h"
#include "redirect.h"

/* --- canonical bodies ------------------------------------------------------ */

static const struct {
    const char *a, *b;
    bool same;
} canon_cases[] = {
    { "{\"model\":\"m\",\"messages\":[1]}", "{\"messages\":[1],\"model\":\"m\"}", true },
    { "{\"model\":\"m\",\"user\":\"u1\"}", "{\"model\":\"m\",\"user\":\"u2\"}", true },
    { "{\"model\":\"m\",\"metadata\":{\"x\":1}}", "{\"model\":\"m\"}", true },
    { "{\"model\":\"m\",\"stream_options\":{\"include_usage\":true}}", "{\"model\":\"m\"}", true },
    { "{\"model\":\"m\", \"n\": 1}", "{\"model\":\"m\",\"n\":1}", true },       /* spacing */
    { "{\"model\":\"m\",\"temperature\":0.2}", "{\"model\":\"m\",\"temperature\":0.3}", false },
    { "{\"model\":\"a\"}", "{\"model\":\"b\"}", false },
    { "{\"m\":{\"user\":1}}", "{\"m\":{\"user\":2}}", false },   /* only top-level fields */
    { "not json", "not json", true },
    { "not json", "not json ", false },
    { "", "", true },
};

Test(cassette, canon_table)
{
    for (size_t i = 0; i < sizeof(canon_cases) / sizeof(canon_cases[0]); i++) {
        char *a = tt_cas_canon(canon_cases[i].a, strlen(canon_cases[i].a));
        char *b = tt_cas_canon(canon_cases[i].b, strlen(canon_cases[i].b));
        cr_assert(a && b);
        cr_expect_eq(strcmp(a, b) == 0, canon_cases[i].same, "case %zu: %s | %s", i, a, b);
        free(a);
        free(b);
    }
}

Test(cassette, diff)
{
    size_t ch = 0;
    char *d = tt_cas_diff("a\nb\nc\n", "a\nB\nc\nd\n", 1000, &ch);

    cr_assert_not_null(d);
    cr_expect_str_eq(d, "- b\n+ B\n+ d\n");
    cr_expect_eq(ch, 3);
    free(d);
    d = tt_cas_diff("same\n", "same\n", 1000, &ch);
    cr_expect_str_eq(d, "");
    cr_expect_eq(ch, 0);
    free(d);
    /* Bounded: a long diff stops with "..." within max bytes. */
    char big_a[4000] = "", big_b[4000] = "";
    for (int i = 0; i < 300; i++) {
        strcat(big_a, i % 2 ? "x\n" : "y\n");
        strcat(big_b, i % 2 ? "z\n" : "w\n");
    }
    d = tt_cas_diff(big_a, big_b, 100, &ch);
    cr_expect_leq(strlen(d), 100);
    cr_expect(strstr(d, "...") != NULL);
    cr_expect_eq(ch, 600);
    free(d);
}

/* --- loading -------------------------------------------------------------- */

#define ENTRY(url, body, status, text, extra)                                         \
    "{\"request\":{\"method\":\"POST\",\"url\":\"" url "\",\"postData\":{\"text\":"    \
    body "}},\"response\":{\"status\":" status ",\"headers\":[{\"name\":\"x-request-id\"," \
    "\"value\":\"r1\"},{\"name\":\"Content-Length\",\"value\":\"3\"}],\"content\":{"     \
    "\"mimeType\":\"application/json\",\"text\":" text "}" extra "}}"
#define HAR(...) "{\"log\":{\"version\":\"1.2\",\"entries\":[" __VA_ARGS__ "]}}"

static const char good_har[] = HAR(
    ENTRY("https://api.openai.com/v1/chat/completions", "\"{\\\"model\\\":\\\"m\\\",\\\"n\\\":1}\"",
          "200", "\"first\"", ",\"_chunks\":[{\"time\":1.5,\"size\":2},{\"time\":3,\"size\":3}]")
    ","
    ENTRY("https://api.openai.com/v1/chat/completions", "\"{\\\"n\\\":1,\\\"model\\\":\\\"m\\\"}\"",
          "200", "\"second\"", "")
    ","
    ENTRY("http://127.0.0.1:11434/api/chat?key=AIzaSECRETSECRET", "\"{\\\"model\\\":\\\"l\\\"}\"",
          "429", "\"aGk=\",\"encoding\":\"base64\"", ""));

Test(cassette, load_good)
{
    struct tt_cassette c;
    char err[512] = "";

    cr_assert_eq(tt_cas_load_text(good_har, strlen(good_har), &c, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(c.n, 3);
    cr_expect_str_eq(c.e[0].scheme, "https");
    cr_expect_str_eq(c.e[0].host, "api.openai.com");
    cr_expect_str_eq(c.e[0].path, "/v1/chat/completions");
    cr_expect_eq(c.e[0].n_chunks, 2);
    cr_expect_eq(c.e[0].chunks[1].t_ns, 3000000);
    cr_expect_eq(c.e[0].chunks[0].len, 2);
    cr_expect_str_eq(c.e[0].resp_hdrs, "x-request-id: r1\r\n");   /* framing dropped */
    cr_expect_str_eq(c.e[0].ctype, "application/json");
    cr_expect_eq(c.e[2].status, 429);
    cr_expect_eq(c.e[2].body_len, 2);
    cr_expect_str_eq(c.e[2].body, "hi");
    cr_expect_str_eq(c.e[2].host, "127.0.0.1:11434");
    tt_cas_free(&c);
}

static const struct {
    const char *har, *want;
} bad_cases[] = {
    { "{\"log\":{\"entries\":[", "not valid JSON" },
    { "[]", "log.entries" },
    { HAR("{}"), "entry 1: request missing" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "200", "\"ok\"", "") ",{\"request\":{\"method\":\"GET\","
          "\"url\":\"ftp://x/\"},\"response\":{}}"), "entry 2 (GET ftp://x/): request.url" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "99", "\"ok\"", "")), "entry 1 (POST https://a/x): response.status" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "\"200\"", "\"ok\"", "")), "response.status" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "200", "\"@@\",\"encoding\":\"base64\"", "")), "base64" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "200", "\"ok\"", ",\"_chunks\":[{\"time\":1,\"size\":5}]")),
      "_chunks sizes" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "200", "\"ok\"",
                ",\"_chunks\":[{\"time\":5,\"size\":1},{\"time\":1,\"size\":1}]")), "not decreasing" },
    { HAR(ENTRY("https://a/x", "\"{}\"", "200", "\"ok\"", ",\"headers\":[{\"name\":\"a\\r\\nb\",\"value\":\"v\"}]")),
      "CR, LF" },
    { HAR(ENTRY("https://a/x", "5", "200", "\"ok\"", "")), "postData" },
};

Test(cassette, load_bad_names_the_entry)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct tt_cassette c;
        char err[512] = "";
        int rc = tt_cas_load_text(bad_cases[i].har, strlen(bad_cases[i].har), &c, err, sizeof(err));
        cr_expect_neq(rc, TT_OK, "case %zu", i);
        cr_expect(strstr(err, bad_cases[i].want) != NULL, "case %zu: %s", i, err);
        cr_expect_eq(c.n, 0);
        tt_cas_free(&c);
    }
}

Test(cassette, match_order_reuse_and_nearest)
{
    struct tt_cassette c;
    char err[512];
    const char *body = "{\"model\":\"m\",\"n\":1,\"user\":\"someone\"}";

    cr_assert_eq(tt_cas_load_text(good_har, strlen(good_har), &c, err, sizeof(err)), TT_OK);
    /* Identical requests in recorded order, then the last one again. */
    struct tt_cas_entry *a = tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                          body, strlen(body));
    struct tt_cas_entry *b = tt_cas_match(&c, "POST", "API.openai.com", "/v1/chat/completions",
                                          body, strlen(body));
    struct tt_cas_entry *d = tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                          body, strlen(body));
    cr_assert(a && b && d);
    cr_expect_eq(a->index, 0);
    cr_expect_eq(b->index, 1);
    cr_expect_eq(d->index, 1);
    /* Another host, method or body: a miss. */
    cr_expect_null(tt_cas_match(&c, "POST", "api.anthropic.com", "/v1/chat/completions", body,
                                strlen(body)));
    cr_expect_null(tt_cas_match(&c, "GET", "api.openai.com", "/v1/chat/completions", body,
                                strlen(body)));
    /* A secret query parameter is not part of the match (the cassette has none). */
    cr_expect_not_null(tt_cas_match(&c, "POST", "127.0.0.1:11434", "/api/chat?key=AIzaOTHERKEYXX",
                                    "{\"model\":\"l\"}", 13));
    char *diff = NULL;
    const char *other = "{\"model\":\"m\",\"n\":2}";
    struct tt_cas_entry *near = tt_cas_nearest(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                               other, strlen(other), &diff, 500);
    cr_assert_not_null(near);
    cr_expect_eq(near->index, 0);
    cr_expect(strstr(diff, "-  \"n\": 1") != NULL, "%s", diff);
    cr_expect(strstr(diff, "+  \"n\": 2") != NULL, "%s", diff);
    free(diff);
    tt_cas_free(&c);
}

/* A body byte-equal to a recording skips the canonical form; the order of
 * matches stays that of the canonical comparison: the request below has
 * the bytes of entry 1 and the canonical form of entries 0 and 1. */
Test(cassette, byte_equal_body_matches_in_recorded_order)
{
    static const char *const bodies[] = {
        "{\"n\":1,\"model\":\"m\"}",               /* entry 1's bytes */
        "{\"model\":\"m\",\"n\":1}",               /* entry 0's bytes */
        "{ \"model\" : \"m\", \"n\" : 1, \"user\": \"x\" }",  /* neither's */
    };
    for (size_t k = 0; k < sizeof(bodies) / sizeof(bodies[0]); k++) {
        struct tt_cassette c;
        char err[512];
        const char *body = bodies[k];

        cr_assert_eq(tt_cas_load_text(good_har, strlen(good_har), &c, err, sizeof(err)), TT_OK);
        struct tt_cas_entry *a = tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                              body, strlen(body));
        struct tt_cas_entry *b = tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                              body, strlen(body));
        struct tt_cas_entry *d = tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                              body, strlen(body));
        cr_assert(a && b && d, "body %zu", k);
        cr_expect_eq(a->index, 0, "body %zu", k);
        cr_expect_eq(b->index, 1, "body %zu", k);
        cr_expect_eq(d->index, 1, "body %zu", k);
        /* a body that differs in a value is still a miss */
        cr_expect_null(tt_cas_match(&c, "POST", "api.openai.com", "/v1/chat/completions",
                                    "{\"model\":\"m\",\"n\":2}", 19));
        tt_cas_free(&c);
    }
}

/* Recording lines -> HAR -> loaded back. */
Test(cassette, har_from_recording_lines)
{
    char dir[] = "/tmp/tt-cas-XXXXXX", path[256], out[256], err[256];
    struct tt_cassette c;
    struct stat st;
    size_t n = 0;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/rec-1.jsonl", dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    /* Out of order on purpose, plus a line cut by a crash. */
    fputs("{\"v\":1,\"start\":2000000000,\"sent\":2001000000,\"head\":2003000000,\"end\":2010000000,"
          "\"method\":\"POST\",\"scheme\":\"https\",\"host\":\"api.anthropic.com\",\"path\":\"/v1/messages\","
          "\"http_version\":\"2\",\"req_body\":\"{}\",\"status\":200,\"resp_headers\":[[\"content-type\","
          "\"text/event-stream\"]],\"resp_body\":\"data: 1\\n\\ndata: 2\\n\\n\",\"chunks\":[[2000000,9],"
          "[9000000,9]],\"complete\":true,\"truncated\":false,\"redacted\":false,\"span\":{\"provider\":"
          "\"anthropic\",\"request_model\":\"claude\",\"input_tokens\":7,\"output_tokens\":3,"
          "\"cost_usd\":0.001,\"cost_known\":true}}\n", f);
    fputs("{\"v\":1,\"start\":1000000000,\"sent\":1000000000,\"head\":1000000000,\"end\":1000000000,"
          "\"method\":\"POST\",\"scheme\":\"http\",\"host\":\"localhost:11434\",\"path\":\"/api/chat\","
          "\"http_version\":\"1.1\",\"req_body_b64\":\"AAE=\",\"status\":200,\"resp_headers\":[],"
          "\"resp_body_b64\":\"AP8=\",\"chunks\":[[0,2]],\"complete\":true}\n", f);
    fputs("{\"v\":1,\"start\":3", f);
    fclose(f);
    snprintf(out, sizeof(out), "%s/out.har", dir);
    cr_assert_eq(tt_cas_write_har(dir, out, &n, err, sizeof(err)), TT_OK, "%s", err);
    cr_expect_eq(n, 2);
    cr_assert_eq(stat(out, &st), 0);
    cr_expect_eq(st.st_mode & 0777, 0600);
    cr_assert_eq(tt_cas_load(out, &c, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(c.n, 2);
    cr_expect_str_eq(c.e[0].host, "localhost:11434");          /* oldest first */
    cr_expect_eq(c.e[0].req_len, 2);
    cr_expect_eq(c.e[0].body_len, 2);
    cr_expect_eq((unsigned char)c.e[0].body[1], 0xff);
    cr_expect_str_eq(c.e[1].ctype, "text/event-stream");
    cr_expect_eq(c.e[1].n_chunks, 2);
    cr_expect_eq(c.e[1].chunks[1].t_ns, 9000000);
    cr_expect_eq(c.e[1].wait_ns, 2000000);
    cr_expect_eq(c.e[1].in_tokens, 7);
    cr_expect_str_eq(c.e[1].model, "claude");
    tt_cas_free(&c);
    unlink(out);
    unlink(path);
    rmdir(dir);
}

/* --- redirect rules ------------------------------------------------------- */

Test(redirect, parse_and_names)
{
    struct tt_rd_config c;

    cr_assert_eq(tt_rd_parse(&c, "127.0.0.1:4444", "api.openai.com,localhost:11434, *providers ,"
                             "[::1]:8000,127.0.0.1:8443", "/x/ca.der"), TT_OK);
    cr_assert(c.on && c.providers && !c.local);
    cr_expect_eq(c.n, 4);
    cr_expect_str_eq(c.hosts[2].host, "::1");
    cr_expect_eq(c.hosts[2].port, 8000);
    cr_expect_str_eq(c.ca_path, "/x/ca.der");
    static const struct { const char *node, *service; int want; } names[] = {
        { "api.openai.com", "443", 1 }, { "API.OPENAI.COM", "https", 1 },
        { "localhost", "11434", 2 }, { "localhost", "8080", 0 },
        { "api.anthropic.com", "443", TT_RD_MAX_HOSTS + 2 },          /* *providers */
        { "example.com", "443", 0 }, { "127.0.0.1", "8443", 0 },       /* numeric: connect() */
        { NULL, "443", 0 },
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        cr_expect_eq(tt_rd_name_match(&c, names[i].node, names[i].service), names[i].want,
                     "case %zu", i);
    cr_expect_eq(tt_rd_parse(&c, "nohost", "", NULL), TT_ERR_PARSE);
    cr_expect_eq(tt_rd_parse(&c, "127.0.0.1:1", "a:99999", NULL), TT_ERR_PARSE);
    cr_expect_eq(tt_rd_parse(&c, NULL, "a", NULL), TT_OK);
    cr_expect(!c.on);
    cr_expect_eq(tt_rd_name_match(&c, "api.openai.com", "443"), 0);
}

static struct sockaddr_storage v4(const char *ip, int port)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;

    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    return ss;
}

static struct sockaddr_storage v6(const char *ip, int port)
{
    struct sockaddr_storage ss = { 0 };
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &a->sin6_addr);
    return ss;
}

Test(redirect, addresses)
{
    struct tt_rd_config c;

    cr_assert_eq(tt_rd_parse(&c, "127.0.0.1:4444", "127.0.0.1:8443,::1,*local", NULL), TT_OK);
    static const struct { const char *ip; int port, v6; bool want; } cases[] = {
        { "127.84.84.1", 443, 0, true },        /* what getaddrinfo answered */
        { "::ffff:127.84.84.7", 443, 1, true },
        { "127.0.0.1", 8443, 0, true },
        { "::ffff:127.0.0.1", 8443, 1, true },
        { "127.0.0.1", 8444, 0, false },
        { "::1", 9, 1, true },                  /* an entry without port: any */
        { "127.0.0.2", 11434, 0, true },        /* *local: loopback model ports */
        { "10.0.0.1", 11434, 0, false },
        { "127.0.0.1", 22, 0, false },
        { "8.8.8.8", 443, 0, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sockaddr_storage ss = cases[i].v6 ? v6(cases[i].ip, cases[i].port)
                                                 : v4(cases[i].ip, cases[i].port);
        socklen_t len = cases[i].v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        cr_expect_eq(tt_rd_addr_match(&c, (struct sockaddr *)&ss, len), cases[i].want,
                     "case %zu: %s:%d", i, cases[i].ip, cases[i].port);
    }
    /* A short address is never read past its length. */
    struct sockaddr_storage ss = v4("127.84.84.1", 1);
    cr_expect(!tt_rd_addr_match(&c, (struct sockaddr *)&ss, 4));
}

/* --- recording encoders ------------------------------------------------------ */

Test(record, json_str_and_base64)
{
    static const struct { const char *in; size_t n; const char *out; } cases[] = {
        { "plain", 5, "\"plain\"" },
        { "q\"b\\n\n\t\x01", 8, "\"q\\\"b\\\\n\\n\\t\\u0001\"" },
        { "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },
        { "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },
        { "bad\xff", 4, NULL },                 /* not UTF-8 */
        { "nul\0x", 5, NULL },                  /* NUL: base64 */
        { "\xc3", 1, NULL },                    /* cut sequence */
        { "\xed\xa0\x80", 3, NULL },            /* surrogate */
        { "\xc0\xaf", 2, NULL },                /* overlong */
        { "", 0, "\"\"" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 1024);
        bool ok = tt_rec_json_str(&b, cases[i].in, cases[i].n);
        cr_expect_eq(ok, cases[i].out != NULL, "case %zu", i);
        if (ok && cases[i].out)
            cr_expect_str_eq(b.data, cases[i].out, "case %zu", i);
        tt_buf_free(&b);
    }
    static const struct { const char *in; const char *out; } b64[] = {
        { "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg==" },
    };
    for (size_t i = 0; i < sizeof(b64) / sizeof(b64[0]); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 1024);
        cr_assert_eq(tt_rec_base64(&b, (const unsigned char *)b64[i].in, strlen(b64[i].in)), TT_OK);
        cr_expect_str_eq(b.data ? b.data : "", b64[i].out, "case %zu", i);
        tt_buf_free(&b);
    }
}

Test(record, headers_kept)
{
    static const struct { const char *name; bool keep; } cases[] = {
        { "content-type", true }, { "x-request-id", true }, { "openai-organization", true },
        { "anthropic-ratelimit-tokens-remaining", true }, { "date", true },
        { "Content-Length", false }, { "transfer-encoding", false }, { "content-encoding", false },
        { "Set-Cookie", false }, { "x-api-key", false }, { "X-Auth-Token", false },
        { "authorization", false }, { "x-amz-security-token", false }, { ":status", false },
        { "x-tokentap-replay", false }, { "", false }, { "apikey", false },
        { "X-Goog-Api-Key", false }, { "x-session-id", false }, { "x-ratelimit-remaining-tokens", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(tt_rec_keep_header(cases[i].name, strlen(cases[i].name)), cases[i].keep,
                     "case %zu: %s", i, cases[i].name);
}
