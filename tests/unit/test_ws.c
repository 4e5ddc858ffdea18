/* test_ws.c - WebSocket: the frame codec (preload/ws.c) against the RFC
 * examples and hand-built frames, malformed and oversize input, and whole
 * conversations through the capture path (conn.c upgrade -> ws_api.c ->
 * exchange -> Responses/Realtime parsers -> price -> spool), fed whole, a
 * byte at a time and split at every byte in both directions: the spans
 * must be the same. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "conn.h"
#include "defer.h"
#include "frame.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"
#include "ws.h"
#include "ws_api.h"

/* --- codec helpers ------------------------------------------------------- */

struct got {
    int n;
    int op[64];
    char data[64][512];
    size_t len[64];
    uint64_t total[64];
    bool trunc[64];
    bool comp[64];
};

static int on_msg(void *ud, const struct tt_ws_msg *m)
{
    struct got *g = ud;

    if (g->n == 64)
        return 0;
    g->op[g->n] = m->opcode;
    g->len[g->n] = m->len;
    g->total[g->n] = m->total;
    g->trunc[g->n] = m->truncated;
    g->comp[g->n] = m->compressed;
    memcpy(g->data[g->n], m->data, m->len < 511 ? m->len : 511);
    g->data[g->n][m->len < 511 ? m->len : 511] = 0;
    g->n++;
    return 0;
}

/* Feed in pieces of `step` (0: every split point in two pieces is done by
 * the caller). Returns the first error. */
static int feed_steps(struct tt_ws *w, const uint8_t *p, size_t n, size_t step, struct got *g)
{
    for (size_t off = 0; off < n; off += step) {
        size_t k = n - off < step ? n - off : step;
        int rc = tt_ws_feed(w, p + off, k, on_msg, g);
        if (rc != TT_OK)
            return rc;
    }
    return TT_OK;
}

/* --- RFC 6455 section 5.7 and RFC 7692 section 7.2.3 examples ------------ */

struct frame_case {
    const char *name;
    const uint8_t *bytes;
    size_t len;
    bool deflate;
    int nmsg;
    int op[3];
    const char *text[3];
};

static const uint8_t ex_unmasked[] = { 0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f };
static const uint8_t ex_masked[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
                                     0x4d, 0x51, 0x58 };
static const uint8_t ex_frag[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f };
static const uint8_t ex_ping_pong[] = { 0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f,
                                        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f,
                                        0x4d, 0x51, 0x58 };
/* A ping and a pong between the two fragments of "Hello". */
static const uint8_t ex_frag_ctl[] = { 0x01, 0x03, 0x48, 0x65, 0x6c, 0x89, 0x00,
                                       0x8a, 0x01, 0x21, 0x80, 0x02, 0x6c, 0x6f };
/* RFC 7692 7.2.3.1: "Hello" compressed; 7.2.3.2: twice with context
 * takeover (the second refers to the first); 7.2.3.1 fragmented. */
static const uint8_t ex_pmd[] = { 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00 };
static const uint8_t ex_pmd_takeover[] = { 0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07,
                                           0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00 };
static const uint8_t ex_pmd_frag[] = { 0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9,
                                       0xc9, 0x07, 0x00 };
/* 7.2.3.3: a message made of a stored (uncompressed) deflate block. */
static const uint8_t ex_pmd_stored[] = { 0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48,
                                         0x65, 0x6c, 0x6c, 0x6f, 0x00 };
/* A close frame: code 1000, then bytes that must be ignored. */
static const uint8_t ex_close[] = { 0x88, 0x02, 0x03, 0xe8, 0x81, 0x01, 0x41 };

static const struct frame_case frame_cases[] = {
    { "unmasked text", ex_unmasked, sizeof ex_unmasked, false, 1, { 1 }, { "Hello" } },
    { "masked text", ex_masked, sizeof ex_masked, false, 1, { 1 }, { "Hello" } },
    { "fragmented", ex_frag, sizeof ex_frag, false, 1, { 1 }, { "Hello" } },
    { "ping, masked pong", ex_ping_pong, sizeof ex_ping_pong, false, 2, { 9, 10 },
      { "Hello", "Hello" } },
    { "control inside fragments", ex_frag_ctl, sizeof ex_frag_ctl, false, 3, { 9, 10, 1 },
      { "", "!", "Hello" } },
    { "deflate", ex_pmd, sizeof ex_pmd, true, 1, { 1 }, { "Hello" } },
    { "deflate takeover", ex_pmd_takeover, sizeof ex_pmd_takeover, true, 2, { 1, 1 },
      { "Hello", "Hello" } },
    { "deflate fragmented", ex_pmd_frag, sizeof ex_pmd_frag, true, 1, { 1 }, { "Hello" } },
    { "deflate stored block", ex_pmd_stored, sizeof ex_pmd_stored, true, 1, { 1 }, { "Hello" } },
    { "close then ignored", ex_close, sizeof ex_close, false, 1, { 8 }, { "\x03\xe8" } },
};

Test(ws, rfc_examples_at_every_split)
{
    for (size_t c = 0; c < sizeof frame_cases / sizeof frame_cases[0]; c++) {
        const struct frame_case *fc = &frame_cases[c];
        /* Whole, byte by byte, and every two-piece split. */
        for (size_t k = 0; k <= fc->len + 1; k++) {
            struct tt_ws w;
            struct got g = { 0 };
            tt_ws_init(&w, 0);
            tt_ws_set_deflate(&w, fc->deflate, false);
            int rc;
            if (k == fc->len + 1) {
                rc = feed_steps(&w, fc->bytes, fc->len, 1, &g);
            } else {
                rc = tt_ws_feed(&w, fc->bytes, k, on_msg, &g);
                if (rc == TT_OK)
                    rc = tt_ws_feed(&w, fc->bytes + k, fc->len - k, on_msg, &g);
            }
            cr_assert_eq(rc, TT_OK, "%s split %zu: %s", fc->name, k, w.why ? w.why : "");
            cr_assert_eq(g.n, fc->nmsg, "%s split %zu", fc->name, k);
            for (int i = 0; i < g.n; i++) {
                cr_expect_eq(g.op[i], fc->op[i], "%s msg %d", fc->name, i);
                cr_expect_eq(g.len[i], strlen(fc->text[i]), "%s msg %d", fc->name, i);
                cr_expect_eq(memcmp(g.data[i], fc->text[i], g.len[i]), 0, "%s msg %d",
                             fc->name, i);
            }
            tt_ws_free(&w);
        }
    }
}

/* Lengths: 7-bit, 16-bit (126) and 64-bit (127) forms, masked. */
Test(ws, extended_lengths_masked)
{
    static const size_t sizes[] = { 0, 125, 126, 65535, 65536, 200000 };
    static const uint8_t mask[4] = { 0xde, 0xad, 0xbe, 0xef };

    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        uint8_t *buf = malloc(n + 14);
        size_t hl = tt_ws_frame_header(buf, true, false, TT_WS_BINARY, n, mask);
        for (size_t i = 0; i < n; i++)
            buf[hl + i] = (uint8_t)('a' + i % 26) ^ mask[i & 3];
        struct tt_ws w;
        struct got g = { 0 };
        tt_ws_init(&w, 0);
        cr_assert_eq(feed_steps(&w, buf, hl + n, 4093, &g), TT_OK);
        cr_assert_eq(g.n, 1);
        cr_expect_eq(g.op[0], TT_WS_BINARY);
        cr_expect_eq(g.total[0], n);
        cr_expect_not(g.trunc[0]);
        for (size_t i = 0; i < g.len[0] && i < 511; i++)
            cr_assert_eq(g.data[0][i], 'a' + (int)(i % 26));
        tt_ws_free(&w);
        free(buf);
    }
}

/* --- deflate helpers ------------------------------------------------------ */

struct defl {
    z_stream z;
    bool nct;
};

static void defl_init(struct defl *d, bool nct)
{
    memset(d, 0, sizeof(*d));
    d->nct = nct;
    cr_assert_eq(deflateInit2(&d->z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
}

/* Compressed payload of one message (tail 00 00 ff ff removed). */
static size_t defl_msg(struct defl *d, const char *in, size_t n, uint8_t *out, size_t cap)
{
    d->z.next_in = (Bytef *)in;
    d->z.avail_in = (uInt)n;
    d->z.next_out = out;
    d->z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&d->z, Z_SYNC_FLUSH), Z_OK);
    cr_assert_eq(d->z.avail_in, 0);
    size_t len = cap - d->z.avail_out;
    cr_assert_geq(len, 4);
    cr_assert_eq(memcmp(out + len - 4, "\x00\x00\xff\xff", 4), 0);
    if (d->nct)
        deflateReset(&d->z);
    return len - 4;
}

/* Appends one message as frames of at most `frag` payload bytes (0: one
 * frame), a ping between fragments when ping is set. */
static size_t put_msg(uint8_t *out, const char *text, struct defl *d, size_t frag, bool ping,
                      const uint8_t *mask)
{
    uint8_t pl[8192];
    size_t n = strlen(text), off = 0, w = 0;
    const uint8_t *p = (const uint8_t *)text;

    cr_assert_lt(n, sizeof pl);
    if (d) {
        n = defl_msg(d, text, n, pl, sizeof pl);
        p = pl;
    }
    if (!frag || frag > n)
        frag = n ? n : 1;
    do {
        size_t k = n - off < frag ? n - off : frag;
        w += tt_ws_frame_header(out + w, off + k == n, off == 0 && d, off == 0 ? TT_WS_TEXT : TT_WS_CONT,
                                k, mask);
        for (size_t i = 0; i < k; i++)
            out[w + i] = p[off + i] ^ (mask ? mask[i & 3] : 0);
        w += k;
        off += k;
        if (ping && off < n) {
            w += tt_ws_frame_header(out + w, true, false, TT_WS_PING, 2, mask);
            out[w] = 'p' ^ (mask ? mask[0] : 0);
            out[w + 1] = 'g' ^ (mask ? mask[1] : 0);
            w += 2;
        }
    } while (off < n);
    return w;
}

Test(ws, deflate_context_takeover_across_messages)
{
    static const char *const msgs[] = {
        "{\"type\":\"response.output_text.delta\",\"delta\":\"Hello\"}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"Hello again\"}",
        "{\"type\":\"response.output_text.delta\",\"delta\":\"Hello again and again\"}",
    };
    for (int nct = 0; nct < 2; nct++) {
        uint8_t buf[8192];
        size_t n = 0;
        struct defl d;
        defl_init(&d, nct);
        for (int i = 0; i < 3; i++)
            n += put_msg(buf + n, msgs[i], &d, 5, true, NULL);
        deflateEnd(&d.z);
        for (size_t step = 1; step <= n; step = step * 2 + 1) {
            struct tt_ws w;
            struct got g = { 0 };
            tt_ws_init(&w, 0);
            tt_ws_set_deflate(&w, true, nct);
            cr_assert_eq(feed_steps(&w, buf, n, step, &g), TT_OK, "%s", w.why ? w.why : "");
            int text = 0;
            for (int i = 0; i < g.n; i++) {
                if (g.op[i] != TT_WS_TEXT)
                    continue;
                cr_expect(g.comp[i]);
                cr_expect_str_eq(g.data[i], msgs[text]);
                text++;
            }
            cr_expect_eq(text, 3);
            tt_ws_free(&w);
        }
    }
}

/* Without the shared context the second message of a takeover stream
 * cannot be read: the parser must keep it. */
Test(ws, deflate_takeover_needs_the_context)
{
    struct tt_ws w;
    struct got g = { 0 };

    tt_ws_init(&w, 0);
    tt_ws_set_deflate(&w, true, true);   /* wrongly reset after each message */
    int rc = tt_ws_feed(&w, ex_pmd_takeover, sizeof ex_pmd_takeover, on_msg, &g);
    /* The second "Hello" is a back-reference into the first: after a reset
     * it is corrupt (a distance too far back). */
    cr_expect_eq(rc, TT_ERR_PARSE);
    cr_expect(w.failed);
    tt_ws_free(&w);
}

Test(ws, oversize_message_truncated_and_counted)
{
    char big[3000];
    uint8_t buf[8192];
    size_t n = 0;

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int compressed = 0; compressed < 2; compressed++) {
        struct defl d;
        n = 0;
        if (compressed)
            defl_init(&d, false);
        n += put_msg(buf + n, big, compressed ? &d : NULL, 700, true, NULL);
        n += put_msg(buf + n, "{\"ok\":1}", compressed ? &d : NULL, 0, false, NULL);
        if (compressed)
            deflateEnd(&d.z);
        struct tt_ws w;
        struct got g = { 0 };
        tt_ws_init(&w, 100);
        tt_ws_set_deflate(&w, compressed, false);
        cr_assert_eq(feed_steps(&w, buf, n, 33, &g), TT_OK, "%s", w.why ? w.why : "");
        int t = 0;
        for (int i = 0; i < g.n; i++) {
            if (g.op[i] != TT_WS_TEXT)
                continue;
            if (t == 0) {
                cr_expect(g.trunc[i]);
                cr_expect_eq(g.len[i], 100);
                cr_expect_eq(g.total[i], sizeof big - 1);
            } else {
                cr_expect_not(g.trunc[i]);
                cr_expect_str_eq(g.data[i], "{\"ok\":1}");
            }
            t++;
        }
        cr_expect_eq(t, 2);
        cr_expect_eq(w.n_truncated, 1);
        tt_ws_free(&w);
    }
}

/* A 64-bit length costs nothing until its bytes arrive. */
Test(ws, huge_length_no_memory)
{
    uint8_t h[14];
    size_t hl = tt_ws_frame_header(h, true, false, TT_WS_TEXT, (uint64_t)1 << 40, NULL);
    uint8_t chunk[4096];
    struct tt_ws w;
    struct got g = { 0 };

    memset(chunk, 'a', sizeof chunk);
    tt_ws_init(&w, 1000);
    cr_assert_eq(tt_ws_feed(&w, h, hl, on_msg, &g), TT_OK);
    for (int i = 0; i < 64; i++)
        cr_assert_eq(tt_ws_feed(&w, chunk, sizeof chunk, on_msg, &g), TT_OK);
    cr_expect_eq(g.n, 0);
    cr_expect_leq(w.msg.cap, 4096, "kept at most the cap (plus growth slack)");
    tt_ws_free(&w);
}

struct bad_case {
    const char *name;
    uint8_t bytes[64];
    size_t len;
    bool deflate;
};

static const struct bad_case bad_cases[] = {
    { "reserved opcode 3", { 0x83, 0x00 }, 2, false },
    { "reserved opcode 0xB", { 0x8b, 0x00 }, 2, false },
    { "RSV2", { 0xa1, 0x00 }, 2, false },
    { "RSV3", { 0x91, 0x00 }, 2, false },
    { "RSV1 without deflate", { 0xc1, 0x00 }, 2, false },
    { "RSV1 on a control frame", { 0xc9, 0x00 }, 2, true },
    { "control frame of 126 bytes", { 0x89, 0x7e, 0x00, 0x7e }, 4, false },
    { "fragmented ping", { 0x09, 0x00 }, 2, false },
    { "continuation first", { 0x80, 0x00 }, 2, false },
    { "text inside a fragmented text", { 0x01, 0x01, 0x41, 0x81, 0x00 }, 5, false },
    { "RSV1 on a continuation", { 0x41, 0x01, 0xf2, 0xc0, 0x00 }, 5, true },
    { "64-bit length with its top bit set",
      { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 10, false },
    { "corrupt deflate", { 0xc1, 0x03, 0xff, 0xff, 0xff }, 5, true },
};

Test(ws, malformed_stops_for_good)
{
    for (size_t c = 0; c < sizeof bad_cases / sizeof bad_cases[0]; c++) {
        const struct bad_case *b = &bad_cases[c];
        struct tt_ws w;
        struct got g = { 0 };
        tt_ws_init(&w, 0);
        tt_ws_set_deflate(&w, b->deflate, false);
        int rc = feed_steps(&w, b->bytes, b->len, 1, &g);
        cr_expect_eq(rc, TT_ERR_PARSE, "%s", b->name);
        cr_expect(w.failed, "%s", b->name);
        cr_expect_not_null(w.why, "%s", b->name);
        /* Later bytes (even good ones) are refused. */
        cr_expect_eq(tt_ws_feed(&w, ex_unmasked, sizeof ex_unmasked, on_msg, &g), TT_ERR_PARSE,
                     "%s", b->name);
        tt_ws_free(&w);
    }
}

Test(ws, extensions)
{
    struct tt_ws_ext e;

    cr_assert_eq(tt_ws_parse_extensions("permessage-deflate", 18, &e), TT_OK);
    cr_expect(e.deflate);
    cr_expect_not(e.server_no_context_takeover);
    cr_expect_eq(e.server_max_window_bits, 15);
    const char *v = "x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover;"
                    " client_no_context_takeover; server_max_window_bits=10;"
                    " client_max_window_bits=\"12\"";
    cr_assert_eq(tt_ws_parse_extensions(v, strlen(v), &e), TT_OK);
    cr_expect(e.deflate && e.server_no_context_takeover && e.client_no_context_takeover);
    cr_expect_eq(e.server_max_window_bits, 10);
    cr_expect_eq(e.client_max_window_bits, 12);
    cr_assert_eq(tt_ws_parse_extensions("permessage-deflate; client_max_window_bits", 42, &e),
                 TT_OK);
    cr_expect(e.deflate);
    cr_assert_eq(tt_ws_parse_extensions("x-other", 7, &e), TT_OK);
    cr_expect_not(e.deflate);
    v = "permessage-deflate; server_max_window_bits=7";
    cr_expect_eq(tt_ws_parse_extensions(v, strlen(v), &e), TT_ERR_PARSE);
    v = "permessage-deflate; bogus";
    cr_expect_eq(tt_ws_parse_extensions(v, strlen(v), &e), TT_ERR_PARSE);
}

/* --- conversations through the capture path ------------------------------- */

#include "spool_harness.h"

static void setup(void)
{
    spool_setup();
}

/* A conversation: pieces in the order they cross the wire. */
struct piece {
    bool client;
    uint8_t *p;
    size_t n;
};
struct convo {
    struct piece pc[64];
    int n;
};

static void add(struct convo *c, bool client, const void *p, size_t n)
{
    cr_assert_lt(c->n, 64);
    c->pc[c->n].client = client;
    c->pc[c->n].p = malloc(n);
    memcpy(c->pc[c->n].p, p, n);
    c->pc[c->n].n = n;
    c->n++;
}

/* Messages of one direction appended to the last piece of that direction
 * when it is the last piece (so a piece may hold many frames). */
static void add_msgs(struct convo *c, bool client, struct defl *d, size_t frag,
                     const char *const *msgs, size_t n)
{
    static const uint8_t mask[4] = { 0x12, 0x34, 0x56, 0x78 };
    uint8_t *buf = malloc(65536);
    size_t len = 0;

    for (size_t i = 0; i < n; i++)
        len += put_msg(buf + len, msgs[i], d, frag, frag != 0, client ? mask : NULL);
    add(c, client, buf, len);
    free(buf);
}

static void convo_free(struct convo *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->pc[i].p);
}

static int key_seq;

/* Feeds a conversation to connection `key`: piece `split_piece` in two
 * at `split_at`, every piece in `step`-byte feeds (0: whole). */
static void feed(const void *key, const struct convo *c, int split_piece, size_t split_at,
                 size_t step)
{

    for (int i = 0; i < c->n; i++) {
        const struct piece *p = &c->pc[i];
        size_t cuts[3] = { 0, p->n, p->n };
        int ncut = 1;
        if (i == split_piece) {
            cuts[1] = split_at;
            ncut = 2;
        }
        for (int s = 0; s < ncut; s++) {
            size_t from = cuts[s], to = cuts[s + 1];
            size_t st = step ? step : (to - from ? to - from : 1);
            for (size_t off = from; off < to; off += st) {
                size_t k = to - off < st ? to - off : st;
                if (p->client)
                    tt_conn_write(TT_CONN_SSL, key, NULL, p->p + off, k);
                else
                    tt_conn_read(TT_CONN_SSL, key, p->p + off, k);
            }
        }
    }
}

/* Plays a conversation on a new connection (feed), closes it and reads
 * the spans it left in the spool. */
static size_t play(const struct convo *c, int split_piece, size_t split_at, size_t step,
                   struct tt_span *out, size_t max)
{
    const void *key = (const void *)(uintptr_t)(0x1000 + 16 * ++key_seq);

    feed(key, c, split_piece, split_at, step);
    tt_conn_close(TT_CONN_SSL, key);
    return read_spool(out, max);
}

static const char up_req[] =
    "GET /v1/responses HTTP/1.1\r\nHost: api.openai.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate; "
    "client_max_window_bits\r\nAuthorization: Bearer sk-SECRET\r\n\r\n";
static const char up_resp[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

static const char *const warm_req[] = {
    "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"generate\":false,\"input\":[]}",
};
static const char *const warm_resp[] = {
    "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini\","
    "\"status\":\"in_progress\",\"usage\":null}}",
    "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":\"gpt-5-mini\","
    "\"status\":\"completed\",\"output\":[],\"usage\":{\"input_tokens\":0,\"output_tokens\":0,"
    "\"total_tokens\":0}}}",
};
static const char *const real_req[] = {
    "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"previous_response_id\":"
    "\"resp_1\",\"input\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}",
};
static const char *const real_resp[] = {
    "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_2\",\"model\":\"gpt-5-mini\","
    "\"status\":\"in_progress\",\"usage\":null}}",
    "{\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,"
    "\"content_index\":0,\"delta\":\"Hello\"}",
    "{\"type\":\"response.output_text.delta\",\"item_id\":\"m\",\"output_index\":0,"
    "\"content_index\":0,\"delta\":\" there\"}",
    "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_2\",\"model\":\"gpt-5-mini\","
    "\"status\":\"completed\",\"output\":[{\"type\":\"message\",\"role\":\"assistant\","
    "\"content\":[{\"type\":\"output_text\",\"text\":\"Hello there\"}]}],"
    "\"usage\":{\"input_tokens\":200,\"input_tokens_details\":{\"cached_tokens\":120},"
    "\"output_tokens\":30,\"output_tokens_details\":{\"reasoning_tokens\":10},"
    "\"total_tokens\":230}}}",
};

/* Responses over WebSocket, deflate with context takeover both ways,
 * server messages fragmented with pings between fragments. */
static void responses_convo(struct convo *c)
{
    struct defl dc, ds;

    memset(c, 0, sizeof(*c));
    defl_init(&dc, false);
    defl_init(&ds, false);
    add(c, true, up_req, strlen(up_req));
    /* The 101 and the first server frames are not in this read: the
     * session.created-style case is the realtime one below. */
    add(c, false, up_resp, strlen(up_resp));
    add_msgs(c, true, &dc, 0, warm_req, 1);
    add_msgs(c, false, &ds, 40, warm_resp, 2);
    add_msgs(c, true, &dc, 30, real_req, 1);
    add_msgs(c, false, &ds, 40, real_resp, 4);
    uint8_t close[8];
    size_t hl = tt_ws_frame_header(close, true, false, TT_WS_CLOSE, 2,
                                   (const uint8_t[4]){ 1, 2, 3, 4 });
    close[hl] = 0x03 ^ 1;
    close[hl + 1] = 0xe8 ^ 2;
    add(c, true, close, hl + 2);
    deflateEnd(&dc.z);
    deflateEnd(&ds.z);
}

static void expect_responses_span(const struct tt_span *s)
{
    cr_expect_str_eq(s->status, "ok", "%s", s->error ? s->error : "");
    cr_expect_str_eq(s->provider, "openai");
    cr_expect_str_eq(s->http_version, "websocket");
    cr_expect_str_eq(s->method, "GET");
    cr_expect_str_eq(s->path, "/v1/responses");
    cr_expect_str_eq(s->request_model, "gpt-5-mini");
    cr_expect_str_eq(s->response_model, "gpt-5-mini");
    cr_expect_str_eq(s->response_id, "resp_2");
    cr_expect(s->stream);
    cr_expect_eq(s->input_tokens, 200);
    cr_expect_eq(s->cache_read_tokens, 120);
    cr_expect_eq(s->output_tokens, 30);
    cr_expect_eq(s->reasoning_tokens, 10);
    cr_expect(s->cost_known);
    /* gpt-5-mini: 0.25 in, 0.025 cached, 2 out per 1M */
    cr_expect_float_eq(s->cost_usd, (80 * 0.25 + 120 * 0.025 + 30 * 2.0) / 1e6, 1e-15);
    cr_expect_str_eq(s->output, "\"Hello there\"");
    cr_expect_not_null(strstr(s->input ? s->input : "", "Say hello"));
    cr_expect_geq(s->ttft_ms, 0);
    cr_expect_str_eq(s->capture, "preload");
}

TestSuite(wsconv, .init = setup, .fini = teardown);

Test(wsconv, responses_warmup_is_not_a_call)
{
    struct convo c;
    struct tt_span sp[4];

    responses_convo(&c);
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 1, "one span: the warm-up is not a call");
    expect_responses_span(&sp[0]);
    for (size_t i = 0; i < n; i++)
        tt_span_clear(&sp[i]);
    n = play(&c, -1, 0, 1, sp, 4);
    cr_assert_eq(n, 1);
    expect_responses_span(&sp[0]);
    tt_span_clear(&sp[0]);
    convo_free(&c);
}

/* With the capture worker on (defer.h), a session's bytes are only
 * queued by the hooks and read on the worker (ws_api.c). An op that holds
 * the worker is queued first, so nothing of the session can have run when
 * the feeds return: no span yet, the server's messages owed as span ends
 * (the write barrier will run them); released and drained, the span is
 * the inline path's, read on the worker's thread. */
static volatile int hold_release;
static pthread_t hold_thread;

static void hold_run(struct tt_defer_op *op)
{
    hold_thread = pthread_self();
    for (int i = 0; i < 5000 && !hold_release; i++)
        usleep(1000);
    free(op);
}

Test(wsconv, deferred_session_is_read_on_the_worker)
{
    const void *key = (const void *)(uintptr_t)0x7770;
    struct tt_defer_op *hold = calloc(1, sizeof(*hold));
    struct convo c;
    struct tt_span sp[4];

    cr_assert_not_null(hold);
    hold->run = hold_run;
    hold->bytes = sizeof(*hold);
    tt_defer_set(true);
    tt_rt_depth++;
    tt_defer_push(hold);
    tt_rt_depth--;
    responses_convo(&c);
    feed(key, &c, -1, 0, 0);
    cr_assert_eq(read_spool(sp, 4), 0, "nothing delivered while the worker is held");
    cr_assert_eq(__atomic_load_n(&tt_rt_spans_owed, __ATOMIC_ACQUIRE), 2,
                  "the server's two reads (the warm-up's, the call's) are owed as "
                  "span ends: %d", (int)tt_rt_spans_owed);
    hold_release = 1;
    tt_conn_close(TT_CONN_SSL, key);
    tt_defer_drain();
    cr_assert(!pthread_equal(hold_thread, pthread_self()), "the held op ran on the worker");
    cr_assert_eq(__atomic_load_n(&tt_rt_spans_owed, __ATOMIC_ACQUIRE), 0);
    size_t n = read_spool(sp, 4);
    cr_assert_eq(n, 1, "one span: the warm-up is not a call");
    expect_responses_span(&sp[0]);
    tt_span_clear(&sp[0]);
    convo_free(&c);
    tt_defer_set(false);
}

/* Every split point of every piece, in both directions. */
Test(wsconv, responses_every_split_same_span, .timeout = 120)
{
    struct convo c;
    struct tt_span sp[4];

    responses_convo(&c);
    for (int i = 0; i < c.n; i++) {
        for (size_t k = 1; k < c.pc[i].n; k++) {
            size_t n = play(&c, i, k, 0, sp, 4);
            cr_assert_eq(n, 1, "piece %d split at %zu", i, k);
            expect_responses_span(&sp[0]);
            tt_span_clear(&sp[0]);
        }
    }
    convo_free(&c);
}

static const char rt_req[] =
    "GET /v1/realtime?model=gpt-realtime HTTP/1.1\r\nHost: api.openai.com\r\n"
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: x\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";
static const char rt_resp[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: y\r\nSec-WebSocket-Extensions: permessage-deflate; "
    "server_no_context_takeover; client_no_context_takeover\r\n\r\n";
static const char *const rt_client[] = {
    "{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\",\"role\":\"user\","
    "\"content\":[{\"type\":\"input_text\",\"text\":\"Say hello\"}]}}",
    "{\"type\":\"response.create\",\"response\":{}}",
};
static const char *const rt_server[] = {
    "{\"type\":\"response.created\",\"response\":{\"id\":\"resp_rt\",\"status\":\"in_progress\"}}",
    "{\"type\":\"response.output_audio.delta\",\"response_id\":\"resp_rt\",\"delta\":\"AAAA\"}",
    "{\"type\":\"response.output_audio_transcript.delta\",\"response_id\":\"resp_rt\","
    "\"delta\":\"Hi\"}",
    "{\"type\":\"response.done\",\"response\":{\"id\":\"resp_rt\",\"status\":\"completed\","
    "\"output\":[{\"type\":\"message\",\"content\":[{\"type\":\"output_audio\","
    "\"transcript\":\"Hi\"}]}],\"usage\":{\"total_tokens\":450,\"input_tokens\":300,"
    "\"output_tokens\":150,\"input_token_details\":{\"text_tokens\":100,\"audio_tokens\":200,"
    "\"cached_tokens\":0,\"cached_tokens_details\":{\"text_tokens\":0,\"audio_tokens\":0}},"
    "\"output_token_details\":{\"text_tokens\":50,\"audio_tokens\":100}}}}",
};

Test(wsconv, realtime_audio_priced_every_split, .timeout = 120)
{
    struct convo c;
    struct defl dc, ds;
    struct tt_span sp[4];
    static const char *const created[] = {
        "{\"type\":\"session.created\",\"session\":{\"model\":\"gpt-realtime\"}}",
    };

    memset(&c, 0, sizeof(c));
    defl_init(&dc, true);
    defl_init(&ds, true);
    add(&c, true, rt_req, strlen(rt_req));
    /* The 101 and session.created in one read. */
    {
        uint8_t buf[1024];
        size_t n = strlen(rt_resp);
        memcpy(buf, rt_resp, n);
        n += put_msg(buf + n, created[0], &ds, 0, false, NULL);
        add(&c, false, buf, n);
    }
    add_msgs(&c, true, &dc, 0, rt_client, 2);
    add_msgs(&c, false, &ds, 25, rt_server, 4);
    deflateEnd(&dc.z);
    deflateEnd(&ds.z);
    for (int i = -1; i < c.n; i++) {
        for (size_t k = 1; k < (i < 0 ? 2 : c.pc[i].n); k++) {
            size_t n = play(&c, i, k, 0, sp, 4);
            cr_assert_eq(n, 1, "piece %d split at %zu", i, k);
            struct tt_span *s = &sp[0];
            cr_expect_str_eq(s->status, "ok", "%s", s->error ? s->error : "");
            cr_expect_str_eq(s->request_model, "gpt-realtime");
            cr_expect_str_eq(s->response_id, "resp_rt");
            cr_expect_eq(s->input_tokens, 300);
            cr_expect_eq(s->audio_input_tokens, 200);
            cr_expect_eq(s->output_tokens, 150);
            cr_expect_eq(s->audio_output_tokens, 100);
            cr_expect(s->cost_known);
            /* gpt-realtime: text 4 / 16, audio 32 / 64 per 1M */
            cr_expect_float_eq(s->cost_usd, (100 * 4.0 + 200 * 32.0 + 50 * 16.0 + 100 * 64.0) / 1e6,
                               1e-15);
            cr_expect_str_eq(s->output, "\"Hi\"");
            cr_expect_not_null(strstr(s->input ? s->input : "", "Say hello"));
            cr_expect_str_eq(s->finish_reasons, "[\"stop\"]");
            tt_span_clear(s);
        }
    }
    convo_free(&c);
}

/* A broken frame in the middle of a response: the call ends with an
 * error saying so, and the connection is no longer followed. */
Test(wsconv, malformed_frame_ends_call_with_error)
{
    struct convo c;
    struct tt_span sp[4];
    static const uint8_t bad[] = { 0x83, 0x00 };   /* reserved opcode */

    memset(&c, 0, sizeof(c));
    add(&c, true, up_req, strlen(up_req));
    add(&c, false, up_resp, strlen(up_resp));
    add_msgs(&c, true, NULL, 0, real_req, 1);
    add_msgs(&c, false, NULL, 0, real_resp, 2);
    add(&c, false, bad, sizeof bad);
    add_msgs(&c, false, NULL, 0, real_resp + 2, 2);
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(sp[0].status, "error");
    cr_expect_not_null(strstr(sp[0].error, "lost the WebSocket framing"), "%s", sp[0].error);
    cr_expect_not_null(strstr(sp[0].error, "reserved opcode"), "%s", sp[0].error);
    cr_expect_not(sp[0].usage_known);
    tt_span_clear(&sp[0]);
    convo_free(&c);
}

/* A socket closed mid-response: the call says it was cut short. */
Test(wsconv, closed_mid_response)
{
    struct convo c;
    struct tt_span sp[4];

    memset(&c, 0, sizeof(c));
    add(&c, true, up_req, strlen(up_req));
    add(&c, false, up_resp, strlen(up_resp));
    add_msgs(&c, true, NULL, 0, real_req, 1);
    add_msgs(&c, false, NULL, 0, real_resp, 3);
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(sp[0].status, "error");
    cr_expect_not_null(strstr(sp[0].error, "WebSocket closed"), "%s", sp[0].error);
    tt_span_clear(&sp[0]);
    convo_free(&c);
}

/* A 401 instead of a 101: plain HTTP, no session, no span for a GET. */
Test(wsconv, refused_upgrade_is_plain_http)
{
    struct convo c;
    struct tt_span sp[4];
    static const char r401[] = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 2\r\n\r\n{}";

    memset(&c, 0, sizeof(c));
    add(&c, true, up_req, strlen(up_req));
    add(&c, false, r401, strlen(r401));
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_expect_eq(n, 0);
    convo_free(&c);
}

/* previous_response_id on one socket: the chain is one conversation; a
 * call that starts afresh is another. */
Test(wsconv, previous_response_id_links_the_conversation)
{
    static const char *const reqs[3] = {
        "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"input\":\"first question\"}",
        "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"previous_response_id\":"
        "\"resp_A\",\"input\":[{\"role\":\"user\",\"content\":\"and then?\"}]}",
        "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"input\":\"unrelated\"}",
    };
    static const char *const ids[3] = { "resp_A", "resp_B", "resp_C" };
    struct convo c;
    struct tt_span sp[4];

    memset(&c, 0, sizeof(c));
    add(&c, true, up_req, strlen(up_req));
    add(&c, false, up_resp, strlen(up_resp));
    for (int i = 0; i < 3; i++) {
        char done[512];
        const char *msgs[1] = { done };
        snprintf(done, sizeof done,
                 "{\"type\":\"response.completed\",\"response\":{\"id\":\"%s\",\"model\":"
                 "\"gpt-5-mini\",\"status\":\"completed\",\"output\":[],\"usage\":"
                 "{\"input_tokens\":10,\"output_tokens\":2}}}", ids[i]);
        add_msgs(&c, true, NULL, 0, &reqs[i], 1);
        add_msgs(&c, false, NULL, 0, msgs, 1);
    }
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 3);
    const struct tt_span *by[3] = { 0 };
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++)
            if (!strcmp(sp[i].response_id, ids[k]))
                by[k] = &sp[i];
    cr_assert(by[0] && by[1] && by[2]);
    cr_expect_eq(strlen(by[0]->conversation_id), 16);
    cr_expect_str_eq(by[0]->conversation_id, by[1]->conversation_id);
    cr_expect_str_neq(by[0]->conversation_id, by[2]->conversation_id);
    for (size_t i = 0; i < n; i++)
        tt_span_clear(&sp[i]);
    convo_free(&c);
}

/* Messages above the cap (TOKENTAP_MAX_BODY 2048 here): a cut delta marks
 * the call truncated; a cut response.completed still ends its call (with
 * an error saying the usage was not seen), so the next call on the socket
 * keeps its own events. */
static void setup_small_cap(void)
{
    setenv("TOKENTAP_MAX_BODY", "2048", 1);
    setup();
}

TestSuite(wscap, .init = setup_small_cap, .fini = teardown);

Test(wscap, oversize_events_keep_calls_apart)
{
    char big[4000];
    char *delta = malloc(6000), *done = malloc(6000);
    struct convo c;
    struct tt_span sp[4];
    static const char *const small_done[] = {
        "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_2\",\"model\":"
        "\"gpt-5-mini\",\"status\":\"completed\",\"output\":[],\"usage\":"
        "{\"input_tokens\":10,\"output_tokens\":2}}}",
    };

    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(delta, 6000, "{\"type\":\"response.output_text.delta\",\"delta\":\"%s\"}", big);
    snprintf(done, 6000,
             "{\"type\":\"response.completed\",\"response\":{\"id\":\"resp_1\",\"model\":"
             "\"gpt-5-mini\",\"status\":\"completed\",\"output\":[{\"type\":\"message\","
             "\"content\":[{\"type\":\"output_text\",\"text\":\"%s\"}]}],\"usage\":"
             "{\"input_tokens\":10,\"output_tokens\":1000}}}", big);
    const char *first[] = { delta, done };
    memset(&c, 0, sizeof(c));
    add(&c, true, up_req, strlen(up_req));
    add(&c, false, up_resp, strlen(up_resp));
    add_msgs(&c, true, NULL, 0, real_req, 1);
    add_msgs(&c, false, NULL, 0, first, 2);
    add_msgs(&c, true, NULL, 0, real_req, 1);
    add_msgs(&c, false, NULL, 0, small_done, 1);
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 2);
    struct tt_span *a = sp[0].input_tokens == 10 && sp[0].usage_known ? &sp[1] : &sp[0];
    struct tt_span *b = a == &sp[0] ? &sp[1] : &sp[0];
    cr_expect_str_eq(a->status, "error");
    cr_expect_not_null(strstr(a->error, "WebSocket message above the capture cap"), "%s", a->error);
    cr_expect(a->truncated);
    cr_expect_not(a->usage_known);
    cr_expect_str_eq(b->status, "ok", "%s", b->error ? b->error : "");
    cr_expect_str_eq(b->response_id, "resp_2");
    cr_expect_eq(b->input_tokens, 10);
    cr_expect_eq(b->output_tokens, 2);
    for (size_t i = 0; i < n; i++)
        tt_span_clear(&sp[i]);
    convo_free(&c);
    free(delta);
    free(done);
}

/* Realtime: a response the server starts by itself (voice activity
 * detection: no client response.create) is a call too, and two calls on
 * one socket keep their own usage. */
Test(wsconv, realtime_server_started_response)
{
    struct convo c;
    struct tt_span sp[4];
    static const char *const srv[] = {
        "{\"type\":\"session.created\",\"session\":{\"model\":\"gpt-realtime-mini\"}}",
        "{\"type\":\"response.created\",\"response\":{\"id\":\"r_vad\"}}",
        "{\"type\":\"response.output_text.delta\",\"response_id\":\"r_vad\",\"delta\":\"Yes\"}",
        "{\"type\":\"response.done\",\"response\":{\"id\":\"r_vad\",\"status\":\"incomplete\","
        "\"status_details\":{\"reason\":\"max_output_tokens\"},\"output\":[],"
        "\"usage\":{\"input_tokens\":40,\"output_tokens\":8,\"input_token_details\":"
        "{\"audio_tokens\":30,\"cached_tokens\":0},\"output_token_details\":{\"audio_tokens\":0}}}}",
    };

    memset(&c, 0, sizeof(c));
    add(&c, true, rt_req, strlen(rt_req));
    add(&c, false, rt_resp, strlen(rt_resp) - strlen("Sec-WebSocket-Extensions: permessage-deflate; "
                                                       "server_no_context_takeover; client_no_context_takeover\r\n\r\n"));
    add(&c, false, "\r\n", 2);
    add_msgs(&c, false, NULL, 0, srv, 4);
    size_t n = play(&c, -1, 0, 0, sp, 4);
    cr_assert_eq(n, 1);
    struct tt_span *s = &sp[0];
    cr_expect_str_eq(s->request_model, "gpt-realtime-mini", "the session's model");
    cr_expect_str_eq(s->response_id, "r_vad");
    cr_expect_eq(s->input_tokens, 40);
    cr_expect_eq(s->audio_input_tokens, 30);
    cr_expect_eq(s->output_tokens, 8);
    cr_expect_str_eq(s->finish_reasons, "[\"max_output_tokens\"]");
    cr_expect(s->cost_known);
    /* gpt-realtime-mini: text 0.6 / 2.4, audio 10 / 20 per 1M */
    cr_expect_float_eq(s->cost_usd, (10 * 0.6 + 30 * 10.0 + 8 * 2.4) / 1e6, 1e-15);
    tt_span_clear(s);
    convo_free(&c);
}
