/* fuzz_http1.c - the HTTP/1.1 parser, alone and on the capture path.
 *
 * Input: 4 split-control bytes (fuzz_common.h), 1 flags byte, then the
 * client's byte stream (requests), FZ_SEP, the server's (responses).
 *  1. Each stream goes through its own tt_h1 parser, fed in pieces; every
 *     head, header and body byte reported is read back (ASan checks the
 *     pointers), and the parser's promises are checked.
 *  2. Both streams go through the connection table as the SSL (or fd)
 *     hooks report them, pieces of request and response interleaved:
 *     http1 -> exchange -> decode -> SSE/NDJSON/event stream -> provider
 *     parser -> price -> span, which fz's tt_deliver_span encodes and
 *     decodes as the daemon would. A request whose first bytes are the
 *     HTTP/2 preface takes the HTTP/2 path instead.
 * Flags: bit 0 fd instead of SSL, bit 1 an SNI name, bit 2 heads answered
 * TT_H1_NO_BODY, bit 3 EOF from the server before the close, bit 4 the
 * pieces of both directions alternate (else all requests go first, as
 * when each response waits for its request). */
#include "fuzz_common.h"

#include "conn.h"
#include "http1.h"

struct h1_ctx {
    bool no_body;
    bool is_request;
    bool in_message;
};

static int on_head(void *ud, const struct tt_h1_head *h)
{
    struct h1_ctx *c = ud;

    if (h->is_request != c->is_request || h->n_headers > TT_H1_MAX_HEADERS)
        abort();
    if (h->is_request) {
        fz_touch(h->method, h->method_len);
        fz_touch(h->target, h->target_len);
    } else {
        fz_touch(h->reason, h->reason_len);
    }
    for (size_t i = 0; i < h->n_headers; i++) {
        fz_touch(h->headers[i].name, h->headers[i].name_len);
        fz_touch(h->headers[i].value, h->headers[i].value_len);
    }
    (void)tt_h1_find(h, "content-type");
    c->in_message = true;
    return c->no_body ? TT_H1_NO_BODY : TT_H1_BODY;
}

static int on_body(void *ud, const char *p, size_t n)
{
    (void)ud;
    fz_touch(p, n);
    return 0;
}

static int on_done(void *ud, bool complete)
{
    struct h1_ctx *c = ud;

    (void)complete;
    c->in_message = false;
    return 0;
}

static const struct tt_h1_callbacks cbs = {
    .on_head = on_head, .on_body = on_body, .on_done = on_done,
};

static void parse_alone(bool is_request, bool no_body, const uint8_t *p,
                        size_t n, struct fz_split *sp)
{
    struct tt_h1 h;
    struct h1_ctx c = { .no_body = no_body, .is_request = is_request };

    tt_h1_init(&h, is_request);
    while (n) {
        size_t k = fz_next(sp, n);
        /* An exact-size copy: ASan catches a read past len. */
        char *piece = malloc(k);
        memcpy(piece, p, k);
        int rc = tt_h1_feed(&h, piece, k, &cbs, &c);
        free(piece);
        if (rc != TT_OK && !h.failed)
            abort();            /* an error leaves the parser failed */
        p += k;
        n -= k;
    }
    (void)tt_h1_eof(&h, &cbs, &c);
    tt_h1_free(&h);
}

static const char *sni_fn(const void *key)
{
    (void)key;
    return "api.openai.com";
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ssl_key;
    struct fz_split sp;
    const uint8_t *part[2];
    size_t len[2];

    fz_env();
    fz_split_init(&sp, &data, &size);
    uint8_t flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    fz_parts(data, size, part, len, 2);

    struct fz_split sp1 = sp;
    parse_alone(true, flags & 4, part[0], len[0], &sp1);
    sp1 = sp;
    parse_alone(false, flags & 4, part[1], len[1], &sp1);

    enum tt_conn_kind kind = (flags & 1) ? TT_CONN_FD : TT_CONN_SSL;
    const void *key = (flags & 1) ? (const void *)(intptr_t)1000 : &ssl_key;
    const uint8_t *rq = part[0], *rs = part[1];
    size_t nq = len[0], ns = len[1];
    bool alternate = flags & 16;
    while (nq || ns) {
        if (nq) {
            size_t k = fz_next(&sp, nq);
            char *piece = malloc(k);
            memcpy(piece, rq, k);
            tt_conn_write(kind, key, (flags & 2) ? sni_fn : NULL, piece, k);
            free(piece);
            rq += k;
            nq -= k;
        }
        if (ns && (alternate || !nq)) {
            size_t k = fz_next(&sp, ns);
            char *piece = malloc(k);
            memcpy(piece, rs, k);
            tt_conn_read(kind, key, piece, k);
            free(piece);
            rs += k;
            ns -= k;
        }
        (void)tt_conn_is_llm(kind, key);
        (void)tt_conn_ignored(kind, key);
    }
    if (flags & 8)
        tt_conn_eof(kind, key);
    tt_conn_close(kind, key);
    return 0;
}
