/* test_decode.c - Content-Encoding decoding: every coding round-trips
 * whatever the piece size, the cap holds against bombs, and broken or cut
 * streams are reported as such. The encoded inputs are made here with the
 * real compressors. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/encode.h>
#include <zlib.h>
#include <zstd.h>

#include "decode.h"
#include "tt.h"

/* ---- test data and compressors ------------------------------------------ */

#define TEXT_LEN 200000   /* several of the decoder's 16 KiB chunks */
#define DEC_CHUNK_MAX (16 * 1024)

static char g_text[TEXT_LEN];

/* JSON-ish lines: compressible, but not a run of one byte. */
static void make_text(void)
{
    size_t at = 0;
    unsigned x = 12345;

    while (at < TEXT_LEN) {
        char line[128];
        x = x * 1103515245u + 12345u;
        int n = snprintf(line, sizeof(line),
                         "{\"index\": %zu, \"token\": \"tok%u\", \"delta\": \"%c\"}\n",
                         at, x >> 16, 'a' + (int)((x >> 8) % 26));
        size_t k = (size_t)n < TEXT_LEN - at ? (size_t)n : TEXT_LEN - at;
        memcpy(g_text + at, line, k);
        at += k;
    }
}

struct blob {
    unsigned char *p;
    size_t n;
};

/* zlib deflate with the given windowBits: 15+16 gzip, 15 zlib, -15 raw. */
static struct blob z_compress(const void *src, size_t n, int window_bits)
{
    struct blob b;
    z_stream z;

    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8,
                              Z_DEFAULT_STRATEGY), Z_OK);
    b.n = deflateBound(&z, n);
    b.p = malloc(b.n);
    z.next_in = (unsigned char *)src;
    z.avail_in = (uInt)n;
    z.next_out = b.p;
    z.avail_out = (uInt)b.n;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    b.n = z.total_out;
    deflateEnd(&z);
    return b;
}

static struct blob br_compress(const void *src, size_t n)
{
    struct blob b;

    b.n = BrotliEncoderMaxCompressedSize(n);
    b.p = malloc(b.n);
    cr_assert_eq(BrotliEncoderCompress(5, 22, BROTLI_MODE_GENERIC, n, src,
                                       &b.n, b.p), BROTLI_TRUE);
    return b;
}

static struct blob zstd_compress(const void *src, size_t n)
{
    struct blob b;

    b.n = ZSTD_compressBound(n);
    b.p = malloc(b.n);
    b.n = ZSTD_compress(b.p, b.n, src, n, 3);
    cr_assert_not(ZSTD_isError(b.n));
    return b;
}

static struct blob concat(struct blob a, struct blob c)
{
    struct blob b = { malloc(a.n + c.n), a.n + c.n };

    memcpy(b.p, a.p, a.n);
    memcpy(b.p + a.n, c.p, c.n);
    free(a.p);
    free(c.p);
    return b;
}

/* The encoded form of src for one Content-Encoding name of the table. */
static struct blob encode(const char *kind, const void *src, size_t n)
{
    if (!strcmp(kind, "gzip"))
        return z_compress(src, n, 15 + 16);
    if (!strcmp(kind, "zlib"))
        return z_compress(src, n, 15);
    if (!strcmp(kind, "raw"))
        return z_compress(src, n, -15);
    if (!strcmp(kind, "br"))
        return br_compress(src, n);
    if (!strcmp(kind, "zstd"))
        return zstd_compress(src, n);
    if (!strcmp(kind, "gzip2"))   /* two gzip members back to back */
        return concat(z_compress(src, n / 2, 15 + 16),
                      z_compress((const char *)src + n / 2, n - n / 2, 15 + 16));
    if (!strcmp(kind, "zstd2"))   /* two zstd frames */
        return concat(zstd_compress(src, n / 3),
                      zstd_compress((const char *)src + n / 3, n - n / 3));
    struct blob b = { malloc(n), n };   /* identity */
    memcpy(b.p, src, n);
    return b;
}

/* ---- output collector ---------------------------------------------------- */

struct sink {
    struct tt_buf out;
    size_t calls;
    size_t max_piece;
    int fail;              /* when not 0: the callback returns it */
};

static void sink_init(struct sink *s, size_t max)
{
    memset(s, 0, sizeof(*s));
    tt_buf_init(&s->out, max);
}

static int sink_cb(void *ud, const char *p, size_t n)
{
    struct sink *s = ud;

    cr_assert_gt(n, 0, "empty output piece");
    s->calls++;
    if (n > s->max_piece)
        s->max_piece = n;
    cr_assert_eq(tt_buf_append(&s->out, p, n), TT_OK);
    return s->fail;
}

/* Feeds in pieces of `piece` bytes; returns the first non-zero result. */
static int feed_pieces(struct tt_decoder *d, const unsigned char *p, size_t n,
                       size_t piece, struct sink *s)
{
    for (size_t at = 0; at < n; at += piece) {
        size_t k = n - at < piece ? n - at : piece;
        int rc = tt_decoder_feed(d, (const char *)p + at, k, sink_cb, s);
        if (rc != TT_OK)
            return rc;
    }
    return TT_OK;
}

struct coding {
    const char *header;    /* Content-Encoding value */
    const char *kind;      /* how encode() makes the bytes */
};

static const struct coding CODINGS[] = {
    { "gzip", "gzip" },
    { "x-gzip", "gzip" },
    { "deflate", "zlib" },
    { "deflate", "raw" },     /* mislabelled raw deflate, as some servers send */
    { "br", "br" },
    { "zstd", "zstd" },
    { "identity", "identity" },
    { "gzip", "gzip2" },
    { "zstd", "zstd2" },
};
#define N_CODINGS (sizeof(CODINGS) / sizeof(CODINGS[0]))

/* ---- tests --------------------------------------------------------------- */

Test(decode, round_trip_in_any_pieces, .init = make_text)
{
    static const size_t pieces[] = { 1, 7, 4096, 1 << 30 };

    for (size_t c = 0; c < N_CODINGS; c++) {
        struct blob b = encode(CODINGS[c].kind, g_text, TEXT_LEN);
        for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
            struct tt_decoder *d = NULL;
            struct sink s;

            sink_init(&s, 1 << 24);
            cr_assert_eq(tt_decoder_new(CODINGS[c].header,
                                        strlen(CODINGS[c].header), 1 << 24, &d),
                         TT_OK);
            cr_assert_eq(feed_pieces(d, b.p, b.n, pieces[k], &s), TT_OK,
                         "%s/%s pieces of %zu", CODINGS[c].header,
                         CODINGS[c].kind, pieces[k]);
            cr_assert_eq(tt_decoder_finish(d), TT_OK, "%s/%s", CODINGS[c].header,
                         CODINGS[c].kind);
            cr_assert_eq(s.out.len, TEXT_LEN, "%s/%s pieces of %zu: %zu bytes",
                         CODINGS[c].header, CODINGS[c].kind, pieces[k], s.out.len);
            cr_assert(memcmp(s.out.data, g_text, TEXT_LEN) == 0, "%s/%s",
                      CODINGS[c].header, CODINGS[c].kind);
            cr_assert_eq(tt_decoder_total(d), TEXT_LEN);
            /* Decoded output comes in bounded pieces, not one big buffer. */
            if (strcmp(CODINGS[c].kind, "identity") != 0)
                cr_assert_leq(s.max_piece, DEC_CHUNK_MAX, "%s", CODINGS[c].kind);
            tt_decoder_free(d);
            tt_buf_free(&s.out);
        }
        free(b.p);
    }
}

Test(decode, cap_delivers_exactly_up_to_the_cap, .init = make_text)
{
    static const size_t caps[] = { 0, 1, 50000, TEXT_LEN - 1 };

    for (size_t c = 0; c < N_CODINGS; c++) {
        struct blob b = encode(CODINGS[c].kind, g_text, TEXT_LEN);
        for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
            struct tt_decoder *d = NULL;
            struct sink s;

            sink_init(&s, 1 << 24);
            cr_assert_eq(tt_decoder_new(CODINGS[c].header,
                                        strlen(CODINGS[c].header), caps[k], &d),
                         TT_OK);
            cr_assert_eq(feed_pieces(d, b.p, b.n, 4096, &s), TT_ERR_CAP,
                         "%s cap %zu", CODINGS[c].kind, caps[k]);
            cr_assert_eq(s.out.len, caps[k], "%s cap %zu: got %zu",
                         CODINGS[c].kind, caps[k], s.out.len);
            cr_assert(caps[k] == 0 || memcmp(s.out.data, g_text, caps[k]) == 0);
            cr_assert_eq(tt_decoder_total(d), caps[k]);
            /* Past the cap input is ignored and nothing more comes out. */
            size_t calls = s.calls;
            cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, sink_cb, &s),
                         TT_ERR_CAP);
            cr_assert_eq(s.calls, calls);
            cr_assert_eq(tt_decoder_finish(d), TT_ERR_CAP);
            tt_decoder_free(d);
            tt_buf_free(&s.out);
        }
        free(b.p);
    }

    /* Exactly the cap is not over it. */
    struct tt_decoder *d = NULL;
    struct sink s;
    struct blob b = encode("gzip", g_text, TEXT_LEN);
    sink_init(&s, 1 << 24);
    cr_assert_eq(tt_decoder_new("gzip", 4, TEXT_LEN, &d), TT_OK);
    cr_assert_eq(feed_pieces(d, b.p, b.n, 4096, &s), TT_OK);
    cr_assert_eq(tt_decoder_finish(d), TT_OK);
    cr_assert_eq(s.out.len, TEXT_LEN);
    tt_decoder_free(d);
    tt_buf_free(&s.out);
    free(b.p);
}

static long peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

static int count_cb(void *ud, const char *p, size_t n)
{
    size_t *total = ud;

    (void)p;
    *total += n;
    return 0;
}

Test(decode, gzip_bomb_stops_at_the_cap_with_bounded_memory)
{
    /* 100 MiB of zeros, gzipped from a 1 MiB buffer (about 100 KiB). */
    size_t piece = 1 << 20, total = 0;
    unsigned char *zeros = calloc(1, piece);
    struct blob b = { NULL, 0 };
    z_stream z;

    memset(&z, 0, sizeof(z));
    cr_assert_eq(deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY),
                 Z_OK);
    b.p = malloc(1 << 20);
    z.next_out = b.p;
    z.avail_out = 1 << 20;
    for (int i = 0; i < 100; i++) {
        z.next_in = zeros;
        z.avail_in = (uInt)piece;
        cr_assert_eq(deflate(&z, i == 99 ? Z_FINISH : Z_NO_FLUSH),
                     i == 99 ? Z_STREAM_END : Z_OK);
        cr_assert_eq(z.avail_in, 0);
    }
    b.n = z.total_out;
    deflateEnd(&z);
    free(zeros);
    cr_assert_lt(b.n, 1 << 20);

    long before = peak_rss_kib();
    struct tt_decoder *d = NULL;
    size_t cap = 1 << 20;
    int rc = TT_OK;
    size_t at;
    cr_assert_eq(tt_decoder_new("gzip", 4, cap, &d), TT_OK);
    for (at = 0; at < b.n && rc == TT_OK; at += 4096)
        rc = tt_decoder_feed(d, (const char *)b.p + at,
                             b.n - at < 4096 ? b.n - at : 4096, count_cb, &total);
    cr_assert_eq(rc, TT_ERR_CAP);
    cr_assert_eq(total, cap);
    cr_assert_eq(tt_decoder_total(d), cap);
    /* It stopped early: 1 MiB of zeros is ~1 KiB of the input. */
    cr_assert_lt(at, (size_t)16 << 10, "kept inflating after the cap: %zu", at);
    cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, count_cb, &total),
                 TT_ERR_CAP);
    cr_assert_eq(total, cap);
    long after = peak_rss_kib();
    /* Nothing near the 100 MiB the bomb holds was ever resident. */
    cr_assert_lt(after - before, 32 * 1024, "peak RSS grew by %ld KiB",
                 after - before);
    tt_decoder_free(d);
    free(b.p);
}

Test(decode, bombs_of_every_coding_stop_at_the_cap)
{
    size_t n = 8 << 20, cap = 100000;
    char *zeros = calloc(1, n);
    static const struct coding bombs[] = {
        { "deflate", "zlib" }, { "deflate", "raw" }, { "br", "br" },
        { "zstd", "zstd" },
    };

    for (size_t c = 0; c < sizeof(bombs) / sizeof(bombs[0]); c++) {
        struct blob b = encode(bombs[c].kind, zeros, n);
        struct tt_decoder *d = NULL;
        size_t total = 0;

        cr_assert_lt(b.n, n / 100);
        cr_assert_eq(tt_decoder_new(bombs[c].header, strlen(bombs[c].header),
                                    cap, &d), TT_OK);
        cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, count_cb, &total),
                     TT_ERR_CAP, "%s", bombs[c].kind);
        cr_assert_eq(total, cap, "%s", bombs[c].kind);
        tt_decoder_free(d);
        free(b.p);
    }
    free(zeros);
}

struct corrupt_case {
    const char *header;
    const char *kind;
    long at;               /* byte to change; negative: from the end */
    unsigned char xor_with;
    const char *raw;       /* instead of kind: these bytes */
    size_t raw_len;
};

Test(decode, corrupt_data_is_a_parse_error, .init = make_text)
{
    static const struct corrupt_case cases[] = {
        { "gzip", "gzip", 1, 0x07, NULL, 0 },        /* magic 1f 8b -> 1f 8c */
        { "gzip", "gzip", -8, 0xff, NULL, 0 },       /* CRC-32 in the trailer */
        { "deflate", "zlib", -1, 0xff, NULL, 0 },    /* Adler-32 */
        { "deflate", NULL, 0, 0, "\x07\x00\x00\x00", 4 },  /* reserved block type */
        { "zstd", NULL, 0, 0, "this is not zstd", 16 },
        { "zstd", "zstd", 0, 0x01, NULL, 0 },        /* frame magic */
        { "br", NULL, 0, 0, "\x11\x00\x00\x00", 4 },   /* reserved WBITS */
        { "gzip", NULL, 0, 0, "<html>not gzip</html>", 21 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct corrupt_case *c = &cases[i];
        struct blob b;
        if (c->kind) {
            b = encode(c->kind, g_text, TEXT_LEN);
            size_t at = c->at < 0 ? b.n - (size_t)(-c->at) : (size_t)c->at;
            b.p[at] ^= c->xor_with;
        } else {
            b.n = c->raw_len;
            b.p = malloc(b.n);
            memcpy(b.p, c->raw, b.n);
        }
        for (int bytewise = 0; bytewise < 2; bytewise++) {
            struct tt_decoder *d = NULL;
            struct sink s;

            sink_init(&s, 1 << 24);
            cr_assert_eq(tt_decoder_new(c->header, strlen(c->header), 1 << 24, &d),
                         TT_OK);
            cr_assert_eq(feed_pieces(d, b.p, b.n, bytewise ? 1 : b.n, &s),
                         TT_ERR_PARSE, "case %zu bytewise %d", i, bytewise);
            /* Sticky: later input is ignored. */
            size_t calls = s.calls;
            cr_assert_eq(tt_decoder_feed(d, "abc", 3, sink_cb, &s), TT_ERR_PARSE);
            cr_assert_eq(s.calls, calls);
            cr_assert_eq(tt_decoder_finish(d), TT_ERR_PARSE);
            tt_decoder_free(d);
            tt_buf_free(&s.out);
        }
        free(b.p);
    }
}

Test(decode, truncated_stream_is_incomplete, .init = make_text)
{
    for (size_t c = 0; c < N_CODINGS; c++) {
        if (!strcmp(CODINGS[c].kind, "identity"))
            continue;
        struct blob b = encode(CODINGS[c].kind, g_text, TEXT_LEN);
        /* Cut in the middle, just before the end, and after one byte. */
        size_t cuts[] = { b.n / 2, b.n - 1, 1 };
        for (size_t k = 0; k < sizeof(cuts) / sizeof(cuts[0]); k++) {
            struct tt_decoder *d = NULL;
            struct sink s;

            sink_init(&s, 1 << 24);
            cr_assert_eq(tt_decoder_new(CODINGS[c].header,
                                        strlen(CODINGS[c].header), 1 << 24, &d),
                         TT_OK);
            cr_assert_eq(feed_pieces(d, b.p, cuts[k], 7, &s), TT_OK,
                         "%s cut at %zu", CODINGS[c].kind, cuts[k]);
            cr_assert_eq(tt_decoder_finish(d), TT_ERR_INCOMPLETE,
                         "%s cut at %zu of %zu", CODINGS[c].kind, cuts[k], b.n);
            tt_decoder_free(d);
            tt_buf_free(&s.out);
        }
        free(b.p);
    }

    /* No input at all is an empty body, not a cut stream. */
    struct tt_decoder *d = NULL;
    cr_assert_eq(tt_decoder_new("br", 2, 100, &d), TT_OK);
    cr_assert_eq(tt_decoder_finish(d), TT_OK);
    tt_decoder_free(d);
}

Test(decode, encoding_names)
{
    static const struct {
        const char *name;
        int rc;
        const char *kind;  /* what to feed when accepted */
    } cases[] = {
        { "GZIP", TT_OK, "gzip" },
        { " \tgzip  ", TT_OK, "gzip" },
        { "X-Gzip", TT_OK, "gzip" },
        { "Br", TT_OK, "br" },
        { "ZSTD", TT_OK, "zstd" },
        { "Deflate", TT_OK, "zlib" },
        { "identity", TT_OK, "identity" },
        { "", TT_OK, "identity" },
        { "gzip, identity", TT_OK, "gzip" },
        { "gzip, br", TT_ERR_UNSUPPORTED, NULL },
        { "br,gzip", TT_ERR_UNSUPPORTED, NULL },
        { "compress", TT_ERR_UNSUPPORTED, NULL },
        { "gzipx", TT_ERR_UNSUPPORTED, NULL },
        { "g zip", TT_ERR_UNSUPPORTED, NULL },
    };
    static const char msg[] = "hello, decoded world";

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_decoder *d = (struct tt_decoder *)&d;   /* must be reset */
        int rc = tt_decoder_new(cases[i].name, strlen(cases[i].name), 1000, &d);
        cr_assert_eq(rc, cases[i].rc, "'%s': %d", cases[i].name, rc);
        if (rc != TT_OK) {
            cr_assert_null(d);
            continue;
        }
        struct blob b = encode(cases[i].kind, msg, sizeof(msg) - 1);
        struct sink s;
        sink_init(&s, 1000);
        cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, sink_cb, &s), TT_OK,
                     "'%s'", cases[i].name);
        cr_assert_eq(tt_decoder_finish(d), TT_OK);
        cr_assert_eq(s.out.len, sizeof(msg) - 1, "'%s'", cases[i].name);
        cr_assert(memcmp(s.out.data, msg, s.out.len) == 0);
        tt_decoder_free(d);
        tt_buf_free(&s.out);
        free(b.p);
    }

    /* NULL means no Content-Encoding: pass-through. */
    struct tt_decoder *d = NULL;
    struct sink s;
    sink_init(&s, 100);
    cr_assert_eq(tt_decoder_new(NULL, 0, 100, &d), TT_OK);
    cr_assert_eq(tt_decoder_feed(d, "plain", 5, sink_cb, &s), TT_OK);
    cr_assert_str_eq(s.out.data, "plain");
    tt_decoder_free(d);
    tt_decoder_free(NULL);
    tt_buf_free(&s.out);
}

Test(decode, callback_errors_stop_the_decoder, .init = make_text)
{
    struct blob b = encode("gzip", g_text, TEXT_LEN);
    struct tt_decoder *d = NULL;
    struct sink s;

    sink_init(&s, 1 << 24);
    s.fail = -42;
    cr_assert_eq(tt_decoder_new("gzip", 4, 1 << 24, &d), TT_OK);
    cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, sink_cb, &s), -42);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(tt_decoder_feed(d, (const char *)b.p, b.n, sink_cb, &s), -42);
    cr_assert_eq(s.calls, 1);
    tt_decoder_free(d);
    tt_buf_free(&s.out);
    free(b.p);
}
