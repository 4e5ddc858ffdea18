/* test_http1.c - the HTTP/1.1 parser against exchanges as clients and
 * servers write them: every split of the byte stream must give the same
 * callbacks as one feed, and those callbacks must be the right ones. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

/* ---- a recorder turning callbacks into a readable log -------------------- */

struct rec {
    struct tt_buf log;
    char last;              /* 'H', 'B', 'D' or 0 */
    int heads;              /* on_head calls so far */
    const int *no_body;     /* head numbers (0-based) answered TT_H1_NO_BODY */
    size_t n_no_body;
    size_t body_calls;
    size_t body_bytes;
    int fail_head;          /* when not 0: on_head returns this */
};

static void rec_init(struct rec *r)
{
    memset(r, 0, sizeof(*r));
    tt_buf_init(&r->log, 1 << 24);
}

static void rec_put(struct rec *r, const char *p, size_t n)
{
    cr_assert_eq(tt_buf_append(&r->log, p, n), TT_OK);
}

static void rec_str(struct rec *r, const char *s)
{
    rec_put(r, s, strlen(s));
}

static void rec_end_body(struct rec *r)
{
    if (r->last == 'B')
        rec_str(r, "\n");
}

static int rec_head(void *ud, const struct tt_h1_head *h)
{
    struct rec *r = ud;
    char line[256];

    rec_end_body(r);
    if (h->is_request)
        snprintf(line, sizeof(line), "H %.*s %.*s 1.%d",
                 (int)h->method_len, h->method, (int)h->target_len, h->target,
                 h->minor_version);
    else
        snprintf(line, sizeof(line), "H %d %.*s 1.%d", h->status,
                 (int)h->reason_len, h->reason, h->minor_version);
    rec_str(r, line);
    snprintf(line, sizeof(line), " cl=%lld ch=%d close=%d\n",
             (long long)h->content_length, h->chunked, h->conn_close);
    rec_str(r, line);
    for (size_t i = 0; i < h->n_headers; i++) {
        rec_str(r, "  ");
        rec_put(r, h->headers[i].name, h->headers[i].name_len);
        rec_str(r, "=[");
        rec_put(r, h->headers[i].value, h->headers[i].value_len);
        rec_str(r, "]\n");
    }
    r->last = 'H';
    int n = r->heads++;
    if (r->fail_head)
        return r->fail_head;
    for (size_t i = 0; i < r->n_no_body; i++)
        if (r->no_body[i] == n)
            return TT_H1_NO_BODY;
    return TT_H1_BODY;
}

static int rec_body(void *ud, const char *p, size_t n)
{
    struct rec *r = ud;

    cr_assert_gt(n, 0, "on_body called with no bytes");
    if (r->last != 'B')
        rec_str(r, "B ");
    rec_put(r, p, n);
    r->last = 'B';
    r->body_calls++;
    r->body_bytes += n;
    return 0;
}

static int rec_done(void *ud, bool complete)
{
    struct rec *r = ud;

    rec_end_body(r);
    rec_str(r, complete ? "D 1\n" : "D 0\n");
    r->last = 'D';
    return 0;
}

static const struct tt_h1_callbacks CB = {
    .on_head = rec_head, .on_body = rec_body, .on_done = rec_done,
};

static const char *rec_log(struct rec *r)
{
    return r->log.data ? r->log.data : "";
}

/* Feeds `in` cut at the given offsets (sorted, within len), then EOF when
 * asked; every feed must succeed. Returns the log (caller frees). */
static char *run_cuts(bool is_request, const char *in, size_t len,
                      const size_t *cuts, size_t n_cuts, bool eof,
                      const int *no_body, size_t n_no_body)
{
    struct tt_h1 p;
    struct rec r;
    size_t at = 0;

    rec_init(&r);
    r.no_body = no_body;
    r.n_no_body = n_no_body;
    tt_h1_init(&p, is_request);
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t to = i < n_cuts ? cuts[i] : len;
        int rc = tt_h1_feed(&p, in + at, to - at, &CB, &r);
        cr_assert_eq(rc, TT_OK, "feed [%zu,%zu) failed: %d", at, to, rc);
        at = to;
    }
    if (eof)
        cr_assert_eq(tt_h1_eof(&p, &CB, &r), TT_OK);
    tt_h1_free(&p);
    char *s = strdup(rec_log(&r));
    tt_buf_free(&r.log);
    return s;
}

/* The exchange fed whole must give `want`; then the same must come out of
 * every two-way split, byte-by-byte feeding, fixed piece sizes and a grid
 * of three-way splits. */
static void check_all_splits(bool is_request, const char *in, size_t len,
                             bool eof, const int *no_body, size_t n_no_body,
                             const char *want)
{
    char *whole = run_cuts(is_request, in, len, NULL, 0, eof, no_body, n_no_body);
    cr_assert_str_eq(whole, want);

    for (size_t s = 0; s <= len; s++) {
        char *got = run_cuts(is_request, in, len, &s, 1, eof, no_body, n_no_body);
        cr_assert_str_eq(got, want, "split at %zu", s);
        free(got);
    }
    for (size_t piece = 1; piece <= 64; piece++) {
        size_t n = len / piece;
        size_t *cuts = calloc(n + 1, sizeof(*cuts));
        for (size_t i = 0; i < n; i++)
            cuts[i] = (i + 1) * piece;
        char *got = run_cuts(is_request, in, len, cuts, n, eof, no_body, n_no_body);
        cr_assert_str_eq(got, want, "pieces of %zu bytes", piece);
        free(got);
        free(cuts);
    }
    for (size_t a = 0; a <= len; a += 7) {
        for (size_t b = a; b <= len; b += 11) {
            size_t cuts[2] = { a, b };
            char *got = run_cuts(is_request, in, len, cuts, 2, eof, no_body,
                                 n_no_body);
            cr_assert_str_eq(got, want, "split at %zu and %zu", a, b);
            free(got);
        }
    }
    free(whole);
}

/* ---- keep-alive exchanges at every split --------------------------------- */

static const char REQS[] =
    "POST /v1/chat/completions HTTP/1.1\r\n"
    "Host: api.openai.com\r\n"
    "Content-Type:   application/json  \r\n"
    "Content-Length: 17\r\n"
    "\r\n"
    "{\"model\":\"gpt-4\"}"
    "\r\n"                           /* stray CRLF between messages */
    "GET /v1/models?limit=2 HTTP/1.1\r\n"
    "Host: api.openai.com\r\n"
    "X-Folded: first\r\n"
    "   second\r\n"
    "\r\n"
    "POST /upload HTTP/1.1\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "3\r\nabc\r\n"
    "0\r\n"
    "\r\n"
    "POST /v1/messages HTTP/1.1\r\n"
    "Expect: 100-continue\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello"
    "GET /old HTTP/1.0\n"            /* bare LF line ends */
    "Accept: */*\n"
    "\n";

static const char REQS_LOG[] =
    "H POST /v1/chat/completions 1.1 cl=17 ch=0 close=0\n"
    "  Host=[api.openai.com]\n"
    "  Content-Type=[application/json]\n"
    "  Content-Length=[17]\n"
    "B {\"model\":\"gpt-4\"}\n"
    "D 1\n"
    "H GET /v1/models?limit=2 1.1 cl=-1 ch=0 close=0\n"
    "  Host=[api.openai.com]\n"
    "  X-Folded=[first     second]\n"
    "D 1\n"
    "H POST /upload 1.1 cl=-1 ch=1 close=0\n"
    "  Transfer-Encoding=[chunked]\n"
    "B abc\n"
    "D 1\n"
    "H POST /v1/messages 1.1 cl=5 ch=0 close=0\n"
    "  Expect=[100-continue]\n"
    "  Content-Length=[5]\n"
    "B hello\n"
    "D 1\n"
    "H GET /old 1.0 cl=-1 ch=0 close=1\n"
    "  Accept=[*/*]\n"
    "D 1\n";

Test(http1, keepalive_requests_every_split)
{
    check_all_splits(true, REQS, sizeof(REQS) - 1, false, NULL, 0, REQS_LOG);
}

static const char RESPS[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 13\r\n"
    "\r\n"
    "{\"ok\": true}\n"
    "HTTP/1.1 200 OK\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "4;name=val\r\nWiki\r\n"
    "5 ; x=\"y\"\r\npedia\r\n"
    "e\r\n in\r\n\r\nchunks.\r\n"
    "0\r\n"
    "X-Trailer: t\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "\r\n"
    "HTTP/1.1 100 Continue\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Content-Length: 2\r\n"
    "\r\n"
    "ok"
    "HTTP/1.1 200 OK\r\n"            /* answers a HEAD: no body */
    "Content-Length: 1000\r\n"
    "\r\n"
    "HTTP/1.1 304 Not Modified\r\n"
    "Content-Length: 50\r\n"
    "\r\n"
    "HTTP/1.1 200\r\n"               /* no reason phrase, no space */
    "Content-Length: 3\r\n"
    "\r\n"
    "abc"
    "HTTP/1.0 200 OK\r\n"            /* body until close */
    "Content-Type: text/plain\r\n"
    "\r\n"
    "until close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";

static const char RESPS_LOG[] =
    "H 200 OK 1.1 cl=13 ch=0 close=0\n"
    "  Content-Type=[application/json]\n"
    "  Content-Length=[13]\n"
    "B {\"ok\": true}\n\n"
    "D 1\n"
    "H 200 OK 1.1 cl=-1 ch=1 close=0\n"
    "  Transfer-Encoding=[chunked]\n"
    "B Wikipedia in\r\n\r\nchunks.\n"
    "D 1\n"
    "H 204 No Content 1.1 cl=-1 ch=0 close=0\n"
    "D 1\n"
    "H 100 Continue 1.1 cl=-1 ch=0 close=0\n"
    "H 200 OK 1.1 cl=2 ch=0 close=0\n"
    "  Content-Length=[2]\n"
    "B ok\n"
    "D 1\n"
    "H 200 OK 1.1 cl=1000 ch=0 close=0\n"
    "  Content-Length=[1000]\n"
    "D 1\n"
    "H 304 Not Modified 1.1 cl=50 ch=0 close=0\n"
    "  Content-Length=[50]\n"
    "D 1\n"
    "H 200  1.1 cl=3 ch=0 close=0\n"
    "  Content-Length=[3]\n"
    "B abc\n"
    "D 1\n"
    "H 200 OK 1.0 cl=-1 ch=0 close=1\n"
    "  Content-Type=[text/plain]\n"
    "B until close\r\n\r\nHTTP/1.1 200 OK\r\n\r\n\n"
    "D 1\n";

Test(http1, keepalive_responses_every_split)
{
    /* Head 5 (0-based, the 100 Continue counts) answers a HEAD request. */
    static const int no_body[] = { 5 };
    check_all_splits(false, RESPS, sizeof(RESPS) - 1, true, no_body, 1,
                     RESPS_LOG);
}

/* ---- single-feed behaviours ---------------------------------------------- */

Test(http1, pipelined_requests_in_one_feed)
{
    static const char in[] =
        "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"
        "POST /c HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
        "DELETE /d HTTP/1.1\r\n\r\n";
    struct tt_h1 p;
    struct rec r;

    rec_init(&r);
    tt_h1_init(&p, true);
    cr_assert_eq(tt_h1_feed(&p, in, sizeof(in) - 1, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
        "H GET /a 1.1 cl=-1 ch=0 close=0\n  Host=[x]\nD 1\n"
        "H GET /b 1.1 cl=-1 ch=0 close=0\n  Host=[x]\nD 1\n"
        "H POST /c 1.1 cl=2 ch=0 close=0\n  Content-Length=[2]\nB hi\nD 1\n"
        "H DELETE /d 1.1 cl=-1 ch=0 close=0\nD 1\n");
    /* Heads that arrive whole are parsed in place: no head buffer. */
    cr_assert_null(p.head);
    tt_h1_free(&p);
    tt_buf_free(&r.log);
}

Test(http1, body_until_close_then_eof)
{
    struct tt_h1 p;
    struct rec r;

    rec_init(&r);
    tt_h1_init(&p, false);
    static const char in[] = "HTTP/1.1 200 OK\r\nServer: s\r\n\r\nabc";
    cr_assert_eq(tt_h1_feed(&p, in, sizeof(in) - 1, &CB, &r), TT_OK);
    cr_assert_eq(tt_h1_feed(&p, "def", 3, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
                     "H 200 OK 1.1 cl=-1 ch=0 close=0\n  Server=[s]\nB abcdef");
    cr_assert(p.in_message);
    cr_assert_eq(tt_h1_eof(&p, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
        "H 200 OK 1.1 cl=-1 ch=0 close=0\n  Server=[s]\nB abcdef\nD 1\n");
    cr_assert_not(p.in_message);
    /* A second EOF has nothing left to end. */
    cr_assert_eq(tt_h1_eof(&p, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
        "H 200 OK 1.1 cl=-1 ch=0 close=0\n  Server=[s]\nB abcdef\nD 1\n");
    tt_h1_free(&p);
    tt_buf_free(&r.log);
}

struct trunc_case {
    bool is_request;
    const char *in;
    const char *want;
};

Test(http1, truncated_then_eof)
{
    static const struct trunc_case cases[] = {
        { false, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
          "H 200 OK 1.1 cl=10 ch=0 close=0\n  Content-Length=[10]\nB abc\nD 0\n" },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
          "H 200 OK 1.1 cl=-1 ch=1 close=0\n  Transfer-Encoding=[chunked]\nB ab\nD 0\n" },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1",
          "H 200 OK 1.1 cl=-1 ch=1 close=0\n  Transfer-Encoding=[chunked]\nB ab\nD 0\n" },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-T: 1\r\n",
          "H 200 OK 1.1 cl=-1 ch=1 close=0\n  Transfer-Encoding=[chunked]\nD 0\n" },
        { false, "HTTP/1.1 100 Continue\r\n\r\n",
          "H 100 Continue 1.1 cl=-1 ch=0 close=0\nD 0\n" },
        /* A head never completed was never reported: nothing to end. */
        { false, "HTTP/1.1 200 OK\r\nContent-Le", "" },
        { true, "POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab",
          "H POST / 1.1 cl=4 ch=0 close=0\n  Content-Length=[4]\nB ab\nD 0\n" },
        /* EOF between messages ends nothing. */
        { true, "GET / HTTP/1.1\r\n\r\n", "H GET / 1.1 cl=-1 ch=0 close=0\nD 1\n" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct trunc_case *c = &cases[i];
        size_t len = strlen(c->in);
        /* Whole and byte by byte: the same outcome. */
        char *whole = run_cuts(c->is_request, c->in, len, NULL, 0, true, NULL, 0);
        cr_assert_str_eq(whole, c->want, "case %zu", i);
        size_t *cuts = calloc(len + 1, sizeof(*cuts));
        for (size_t k = 0; k < len; k++)
            cuts[k] = k;
        char *bytes = run_cuts(c->is_request, c->in, len, cuts, len, true, NULL, 0);
        cr_assert_str_eq(bytes, c->want, "case %zu byte by byte", i);
        free(cuts);
        free(whole);
        free(bytes);
    }
}

struct garbage_case {
    bool is_request;
    const char *in;
    size_t len;             /* 0: strlen */
};

Test(http1, garbage_fails_and_stays_failed)
{
    static const struct garbage_case cases[] = {
        { true, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11 },  /* TLS */
        { true, "GET / HTTP/2.0\r\n\r\n", 0 },
        { true, "GET /\r\n\r\n", 0 },
        { true, "GET  HTTP/1.1\r\n\r\n", 0 },
        { true, "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 0 },
        { true, "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 0 },
        { true, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 0 },
        { true, "GET / HTTP/1.1\r\n folded-first: x\r\n\r\n", 0 },
        { true, "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n", 28 },
        { true, "GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", 0 },
        { true, "POST / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 0 },
        { true, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0 },
        { true, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 0 },
        { true, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 0 },
        { false, "SSH-2.0-OpenSSH_9.2\r\n", 0 },
        { false, " HTTP/1.1 200 OK\r\n\r\n", 0 },
        { false, "HTTP/1.1 2000 OK\r\n\r\n", 0 },
        { false, "HTTP/1.1 abc OK\r\n\r\n", 0 },
        { false, "HTTP/1.1 099 Low\r\n\r\n", 0 },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0 },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n", 0 },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n", 0 },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3 4\r\nabc\r\n", 0 },
        { false, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                 "fffffffffffffffff\r\n", 0 },
    };
    static const char valid_req[] = "GET / HTTP/1.1\r\n\r\n";
    static const char valid_resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct garbage_case *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        const char *valid = c->is_request ? valid_req : valid_resp;

        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct tt_h1 p;
            struct rec r;
            int rc = TT_OK;
            size_t k = 0;

            rec_init(&r);
            tt_h1_init(&p, c->is_request);
            if (bytewise) {
                for (; k < len && rc == TT_OK; k++)
                    rc = tt_h1_feed(&p, c->in + k, 1, &CB, &r);
            } else {
                rc = tt_h1_feed(&p, c->in, len, &CB, &r);
            }
            cr_assert_eq(rc, TT_ERR_PARSE, "case %zu (bytewise %d): rc %d",
                         i, bytewise, rc);
            cr_assert(p.failed);
            /* The error is sticky and nothing more is reported, even for
             * what would be a valid message, or at EOF. */
            size_t before = r.log.len;
            cr_assert_eq(tt_h1_feed(&p, valid, strlen(valid), &CB, &r),
                         TT_ERR_PARSE, "case %zu", i);
            cr_assert_eq(tt_h1_eof(&p, &CB, &r), TT_OK);
            cr_assert_eq(r.log.len, before, "case %zu: callbacks after failure", i);
            /* Only a chunked response had a head worth reporting. */
            if (c->is_request)
                cr_assert_eq(r.heads, 0, "case %zu", i);
            tt_h1_free(&p);
            tt_buf_free(&r.log);
        }
    }
}

Test(http1, tls_bytes_fail_on_the_first_byte)
{
    for (int is_request = 0; is_request < 2; is_request++) {
        struct tt_h1 p;
        struct rec r;

        rec_init(&r);
        tt_h1_init(&p, is_request);
        /* No waiting for a line end that binary data may never contain. */
        cr_assert_eq(tt_h1_feed(&p, "\x16", 1, &CB, &r), TT_ERR_PARSE);
        cr_assert_null(p.head);
        tt_h1_free(&p);
        tt_buf_free(&r.log);
    }
}

/* A head of exactly `size` bytes with one big header. */
static char *big_head(size_t size, size_t *len)
{
    static const char pre[] = "GET / HTTP/1.1\r\nX-Big: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof(pre) - 1 + sizeof(post) - 1;
    char *h = malloc(size);

    cr_assert_not_null(h);
    cr_assert_gt(size, fixed);
    memcpy(h, pre, sizeof(pre) - 1);
    memset(h + sizeof(pre) - 1, 'a', size - fixed);
    memcpy(h + size - (sizeof(post) - 1), post, sizeof(post) - 1);
    *len = size;
    return h;
}

Test(http1, head_size_cap)
{
    static const size_t pieces[] = { 0, 1, 1000, 4096 };   /* 0: whole */

    for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
        for (int over = 0; over < 2; over++) {
            size_t len;
            char *h = big_head(TT_H1_MAX_HEAD + (size_t)over, &len);
            struct tt_h1 p;
            struct rec r;
            int rc = TT_OK;
            size_t piece = pieces[k] ? pieces[k] : len;

            rec_init(&r);
            tt_h1_init(&p, true);
            for (size_t at = 0; at < len && rc == TT_OK; at += piece)
                rc = tt_h1_feed(&p, h + at, len - at < piece ? len - at : piece,
                                &CB, &r);
            if (over) {
                cr_assert_eq(rc, TT_ERR_CAP, "piece %zu", piece);
                cr_assert_eq(r.heads, 0);
                cr_assert_eq(tt_h1_feed(&p, "GET / HTTP/1.1\r\n\r\n", 18,
                                        &CB, &r), TT_ERR_CAP);
            } else {
                /* Exactly at the cap is still a head. */
                cr_assert_eq(rc, TT_OK, "piece %zu", piece);
                cr_assert_eq(r.heads, 1);
            }
            cr_assert(p.head_cap <= TT_H1_MAX_HEAD);
            tt_h1_free(&p);
            tt_buf_free(&r.log);
            free(h);
        }
    }
}

/* What a test wants to know about a head, copied during the callback. */
struct seen {
    int calls;
    char ct[64], auth[64], missing[8];
    bool have_missing;
    int64_t cl;
    bool chunked, conn_close;
    size_t n_headers;
};

static void copy_hdr(const struct tt_h1_head *h, const char *name, char *out,
                     size_t cap)
{
    const struct tt_hdr *x = tt_h1_find(h, name);
    size_t n = x ? (x->value_len < cap - 1 ? x->value_len : cap - 1) : 0;

    if (x)
        memcpy(out, x->value, n);
    out[n] = '\0';
}

static int seen_head(void *ud, const struct tt_h1_head *h)
{
    struct seen *s = ud;

    s->calls++;
    copy_hdr(h, "content-type", s->ct, sizeof(s->ct));
    copy_hdr(h, "AUTHORIZATION", s->auth, sizeof(s->auth));
    s->have_missing = tt_h1_find(h, "x-missing") != NULL;
    s->cl = h->content_length;
    s->chunked = h->chunked;
    s->conn_close = h->conn_close;
    s->n_headers = h->n_headers;
    return TT_H1_BODY;
}

static const struct tt_h1_callbacks SEEN_CB = { .on_head = seen_head };

struct lookup_case {
    const char *in;
    const char *ct, *auth;
    int64_t cl;
    bool chunked, conn_close;
};

Test(http1, header_lookup_and_framing_fields)
{
    static const struct lookup_case cases[] = {
        { "POST /v1 HTTP/1.1\r\ncOnTeNt-TyPe: \t text/event-stream \t\r\n"
          "Authorization: Bearer sk-x\r\nContent-Length: 0\r\n\r\n",
          "text/event-stream", "Bearer sk-x", 0, false, false },
        { "GET / HTTP/1.0\r\n\r\n", "", "", -1, false, true },
        { "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "", "", -1,
          false, false },
        { "GET / HTTP/1.1\r\nConnection: keep-alive, CLOSE\r\n\r\n", "", "",
          -1, false, true },
        { "POST / HTTP/1.1\r\nContent-Length: 7, 7\r\n\r\n", "", "", 7,
          false, false },
        { "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n", "",
          "", -1, true, false },
        { "POST / HTTP/1.1\r\nContent-Type:\r\n\r\n", "", "", -1, false, false },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct lookup_case *c = &cases[i];
        struct tt_h1 p;
        struct seen s = { 0 };

        tt_h1_init(&p, true);
        cr_assert_eq(tt_h1_feed(&p, c->in, strlen(c->in), &SEEN_CB, &s), TT_OK,
                     "case %zu", i);
        cr_assert_eq(s.calls, 1, "case %zu", i);
        cr_assert_str_eq(s.ct, c->ct, "case %zu", i);
        cr_assert_str_eq(s.auth, c->auth, "case %zu", i);
        cr_assert_not(s.have_missing);
        cr_assert_eq(s.cl, c->cl, "case %zu", i);
        cr_assert_eq(s.chunked, c->chunked, "case %zu", i);
        cr_assert_eq(s.conn_close, c->conn_close, "case %zu", i);
        tt_h1_free(&p);
    }
}

Test(http1, headers_past_the_limit_keep_framing)
{
    struct tt_buf in;
    struct tt_h1 p;
    struct rec r;
    char line[64];

    tt_buf_init(&in, 1 << 20);
    cr_assert_eq(tt_buf_append_str(&in, "HTTP/1.1 200 OK\r\n"), TT_OK);
    for (int i = 0; i < 150; i++) {
        snprintf(line, sizeof(line), "X-H%d: v%d\r\n", i, i);
        cr_assert_eq(tt_buf_append_str(&in, line), TT_OK);
    }
    /* The framing header comes after the 100 that are kept. */
    cr_assert_eq(tt_buf_append_str(&in, "Content-Length: 4\r\n\r\nbodyHTTP/1.1 204 No\r\n\r\n"),
                 TT_OK);
    rec_init(&r);
    tt_h1_init(&p, false);
    cr_assert_eq(tt_h1_feed(&p, in.data, in.len, &CB, &r), TT_OK);
    cr_assert_eq(r.heads, 2);
    cr_assert_eq(r.body_bytes, 4);
    cr_assert(strstr(rec_log(&r), "  X-H99=[v99]\n") != NULL);
    cr_assert(strstr(rec_log(&r), "X-H100") == NULL);
    cr_assert(strstr(rec_log(&r), "B body\nD 1\nH 204 No 1.1") != NULL);
    tt_h1_free(&p);
    tt_buf_free(&r.log);
    tt_buf_free(&in);
}

static int count_body(void *ud, const char *p, size_t n)
{
    struct rec *r = ud;

    (void)p;
    r->body_calls++;
    r->body_bytes += n;
    return 0;
}

static int count_done(void *ud, bool complete)
{
    struct rec *r = ud;

    r->last = complete ? 'D' : 'd';
    return 0;
}

Test(http1, big_body_is_one_callback_per_feed)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 104857600\r\n\r\n";
    static const struct tt_h1_callbacks cb = { .on_body = count_body,
                                               .on_done = count_done };
    size_t piece = 1 << 20;
    char *zeros = calloc(1, piece);
    struct tt_h1 p;
    struct rec r;

    rec_init(&r);
    tt_h1_init(&p, false);
    cr_assert_eq(tt_h1_feed(&p, head, sizeof(head) - 1, &cb, &r), TT_OK);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(tt_h1_feed(&p, zeros, piece, &cb, &r), TT_OK);
    cr_assert_eq(r.body_calls, 100);
    cr_assert_eq(r.body_bytes, (size_t)100 << 20);
    cr_assert_eq(r.last, 'D');
    cr_assert_not(p.in_message);
    tt_h1_free(&p);
    free(zeros);
}

static int fail_body(void *ud, const char *p, size_t n)
{
    (void)ud;
    (void)p;
    (void)n;
    return -42;
}

Test(http1, callback_errors_stop_the_parser)
{
    static const char in[] = "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
    struct tt_h1 p;
    struct rec r;

    rec_init(&r);
    r.fail_head = TT_ERR_NOMEM;
    tt_h1_init(&p, true);
    cr_assert_eq(tt_h1_feed(&p, in, sizeof(in) - 1, &CB, &r), TT_ERR_NOMEM);
    cr_assert_eq(r.heads, 1, "parsing went on after on_head failed");
    cr_assert_eq(tt_h1_feed(&p, in, sizeof(in) - 1, &CB, &r), TT_ERR_NOMEM);
    cr_assert_eq(r.heads, 1);
    tt_h1_free(&p);
    tt_buf_free(&r.log);

    static const struct tt_h1_callbacks cb = { .on_body = fail_body };
    tt_h1_init(&p, false);
    static const char in2[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
    cr_assert_eq(tt_h1_feed(&p, in2, sizeof(in2) - 1, &cb, NULL), -42);
    tt_h1_free(&p);
}

Test(http1, upgrade_and_connect_leave_http)
{
    static const char resp[] =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
        "\x81\x05hello\x88\x00";
    static const char req[] =
        "CONNECT api.openai.com:443 HTTP/1.1\r\nHost: api.openai.com:443\r\n\r\n"
        "\x16\x03\x01\x00\x05hello";
    struct tt_h1 p;
    struct rec r;

    rec_init(&r);
    tt_h1_init(&p, false);
    cr_assert_eq(tt_h1_feed(&p, resp, sizeof(resp) - 1, &CB, &r), TT_OK);
    cr_assert_eq(tt_h1_eof(&p, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
        "H 101 Switching Protocols 1.1 cl=-1 ch=0 close=0\n"
        "  Upgrade=[websocket]\nD 1\n");
    tt_h1_free(&p);
    tt_buf_free(&r.log);

    rec_init(&r);
    tt_h1_init(&p, true);
    cr_assert_eq(tt_h1_feed(&p, req, sizeof(req) - 1, &CB, &r), TT_OK);
    cr_assert_str_eq(rec_log(&r),
        "H CONNECT api.openai.com:443 1.1 cl=-1 ch=0 close=0\n"
        "  Host=[api.openai.com:443]\nD 1\n");
    tt_h1_free(&p);
    tt_buf_free(&r.log);
}

Test(http1, null_callbacks_are_allowed)
{
    static const struct tt_h1_callbacks none = { 0 };
    struct tt_h1 p;

    tt_h1_init(&p, false);
    cr_assert_eq(tt_h1_feed(&p, RESPS, sizeof(RESPS) - 1, &none, NULL), TT_OK);
    cr_assert_eq(tt_h1_eof(&p, &none, NULL), TT_OK);
    tt_h1_free(&p);
    tt_h1_free(NULL);
}
