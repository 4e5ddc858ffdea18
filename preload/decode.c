/* decode.c - streaming Content-Encoding decoder with an output cap.
 *
 * Each decoder inflates into one fixed chunk (DEC_CHUNK) and hands every
 * filled chunk to the callback before decoding more, so a bomb costs at
 * most the cap plus one chunk of work, never a buffer of its decoded size.
 *
 * In the preload zlib, libbrotlidec and libzstd are not linked: the calls
 * below resolve to hidden shims (dlshim.c) that dlopen the libraries on
 * first use. Only plain documented API functions are used here, and a
 * failing create/init (library missing) reads as TT_ERR_UNSUPPORTED. */
#include "decode.h"
#include "tt.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <brotli/decode.h>
#include <zlib.h>
#include <zstd.h>

#define DEC_CHUNK (16 * 1024)

/* RFC 9659: zstd as a content coding uses windows of at most 8 MB, and a
 * decoder may refuse more; that bounds what a hostile frame can make us
 * allocate (libzstd's own default allows 128 MB). */
#define DEC_ZSTD_WINDOW_LOG_MAX 23

enum dec_kind { DEC_IDENTITY, DEC_GZIP, DEC_DEFLATE, DEC_BR, DEC_ZSTD };

struct tt_decoder {
    enum dec_kind kind;
    size_t max_out;
    size_t total;          /* bytes delivered */
    int err;               /* sticky: once set, input is ignored */
    bool seen_input;       /* any encoded byte arrived */
    bool ended;            /* the compressed stream ended cleanly */
    bool z_ready;          /* z is initialised (deflate waits for 2 bytes) */
    unsigned char zhdr[2]; /* deflate: first bytes, to tell zlib from raw */
    size_t zhdr_len;
    z_stream z;
    BrotliDecoderState *br;
    ZSTD_DStream *zs;
    bool zs_in_frame;      /* zstd: the last call left a frame unfinished */
    char *chunk;           /* DEC_CHUNK bytes of output space */
};

/* Hands decoded bytes on, clipped at the cap. */
static int dec_emit(struct tt_decoder *d, const char *p, size_t n,
                    tt_decode_out_cb cb, void *ud)
{
    size_t room = d->max_out - d->total;
    bool clipped = n > room;

    if (clipped)
        n = room;
    if (n > 0) {
        d->total += n;
        if (cb) {
            int rc = cb(ud, p, n);
            if (rc < 0)
                return rc;
        }
    }
    return clipped ? TT_ERR_CAP : TT_OK;
}

/* Parses a Content-Encoding value. A list naming more than one real coding
 * ("gzip, br") is refused: stacked codings are too rare to be worth a
 * pipeline. "identity" and empty elements do not count. */
static int dec_kind_of(const char *enc, size_t n, enum dec_kind *kind)
{
    static const struct {
        const char *name;
        enum dec_kind kind;
    } names[] = {
        { "identity", DEC_IDENTITY }, { "gzip", DEC_GZIP },
        { "x-gzip", DEC_GZIP },       { "deflate", DEC_DEFLATE },
        { "br", DEC_BR },             { "zstd", DEC_ZSTD },
    };
    size_t codings = 0;

    *kind = DEC_IDENTITY;
    if (!enc)
        return TT_OK;
    for (size_t i = 0; i < n;) {
        const char *comma = memchr(enc + i, ',', n - i);
        size_t e = comma ? (size_t)(comma - enc) : n;
        size_t a = i, b = e;
        while (a < b && (enc[a] == ' ' || enc[a] == '\t'))
            a++;
        while (b > a && (enc[b - 1] == ' ' || enc[b - 1] == '\t'))
            b--;
        i = e + 1;
        if (a == b)
            continue;
        size_t k = 0;
        while (k < sizeof(names) / sizeof(names[0]) &&
               !tt_tok_ieq(enc + a, b - a, names[k].name))
            k++;
        if (k == sizeof(names) / sizeof(names[0]))
            return TT_ERR_UNSUPPORTED;
        if (names[k].kind == DEC_IDENTITY)
            continue;
        if (++codings > 1)
            return TT_ERR_UNSUPPORTED;
        *kind = names[k].kind;
    }
    return TT_OK;
}

static int dec_zinit(struct tt_decoder *d, int window_bits)
{
    memset(&d->z, 0, sizeof(d->z));
    int zr = inflateInit2(&d->z, window_bits);
    if (zr == Z_MEM_ERROR)
        return TT_ERR_NOMEM;
    if (zr != Z_OK)
        return TT_ERR_UNSUPPORTED;   /* also: the shim found no zlib */
    d->z_ready = true;
    return TT_OK;
}

void tt_decoder_prepare(const char *encoding, size_t enc_len)
{
    struct tt_decoder *d = NULL;

    if (tt_decoder_new(encoding, enc_len, 1, &d) == TT_OK)
        tt_decoder_free(d);
}

int tt_decoder_new(const char *encoding, size_t enc_len, size_t max_out,
                   struct tt_decoder **out)
{
    struct tt_decoder *d = NULL;
    enum dec_kind kind;
    int rc;

    *out = NULL;
    if ((rc = dec_kind_of(encoding, enc_len, &kind)) != TT_OK)
        return rc;
    d = calloc(1, sizeof(*d));
    if (!d)
        return TT_ERR_NOMEM;
    d->kind = kind;
    d->max_out = max_out;
    if (kind != DEC_IDENTITY) {
        d->chunk = malloc(DEC_CHUNK);
        if (!d->chunk) {
            rc = TT_ERR_NOMEM;
            goto fail_free;
        }
    }
    switch (kind) {
    case DEC_GZIP:
        /* 32: accept a zlib header too; servers mislabel both ways. */
        if ((rc = dec_zinit(d, 32 + MAX_WBITS)) != TT_OK)
            goto fail_free;
        break;
    case DEC_DEFLATE:
        break;   /* zlib or raw is decided by the first two bytes */
    case DEC_BR:
        d->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        if (!d->br) {
            rc = TT_ERR_UNSUPPORTED;   /* no library, or no memory */
            goto fail_free;
        }
        break;
    case DEC_ZSTD:
        d->zs = ZSTD_createDStream();
        if (!d->zs) {
            rc = TT_ERR_UNSUPPORTED;
            goto fail_free;
        }
        if (ZSTD_isError(ZSTD_initDStream(d->zs)) ||
            ZSTD_isError(ZSTD_DCtx_setParameter(d->zs, ZSTD_d_windowLogMax,
                                                DEC_ZSTD_WINDOW_LOG_MAX))) {
            rc = TT_ERR_UNSUPPORTED;
            goto fail_free;
        }
        break;
    case DEC_IDENTITY:
        break;
    }
    *out = d;
    return TT_OK;

fail_free:
    tt_decoder_free(d);
    return rc;
}

/* inflate one slice (at most UINT_MAX bytes). */
static int dec_inflate(struct tt_decoder *d, const unsigned char *in, size_t n,
                       size_t *used, tt_decode_out_cb cb, void *ud)
{
    int rc = TT_OK;

    d->z.next_in = (unsigned char *)in;   /* zlib's API is not const */
    d->z.avail_in = (uInt)n;
    for (;;) {
        d->z.next_out = (unsigned char *)d->chunk;
        d->z.avail_out = DEC_CHUNK;
        int zr = inflate(&d->z, Z_NO_FLUSH);
        size_t got = DEC_CHUNK - d->z.avail_out;
        if (zr == Z_NEED_DICT || zr == Z_DATA_ERROR || zr == Z_STREAM_ERROR) {
            rc = TT_ERR_PARSE;
            break;
        }
        if (zr == Z_MEM_ERROR) {
            rc = TT_ERR_NOMEM;
            break;
        }
        if ((rc = dec_emit(d, d->chunk, got, cb, ud)) != TT_OK)
            break;
        if (zr == Z_STREAM_END) {
            d->ended = true;
            break;
        }
        /* Z_BUF_ERROR: no progress possible, i.e. all input taken. */
        if (d->z.avail_out != 0 && (d->z.avail_in == 0 || zr == Z_BUF_ERROR))
            break;
    }
    *used = n - d->z.avail_in;
    return rc;
}

static int dec_feed_zlib(struct tt_decoder *d, const unsigned char *in,
                         size_t n, tt_decode_out_cb cb, void *ud)
{
    int rc;

    if (d->kind == DEC_DEFLATE && !d->z_ready) {
        /* "deflate" should be zlib-wrapped (RFC 9110 8.4.1.2) but some
         * servers send raw deflate; a valid zlib header tells them apart. */
        while (d->zhdr_len < 2 && n > 0) {
            d->zhdr[d->zhdr_len++] = *in++;
            n--;
        }
        if (d->zhdr_len < 2)
            return TT_OK;
        unsigned cmf = d->zhdr[0], flg = d->zhdr[1];
        bool zlib_hdr = (cmf & 0x0f) == Z_DEFLATED && (cmf >> 4) <= 7 &&
                        (cmf * 256 + flg) % 31 == 0;
        if ((rc = dec_zinit(d, zlib_hdr ? MAX_WBITS : -MAX_WBITS)) != TT_OK)
            return rc;
        size_t used;
        if ((rc = dec_inflate(d, d->zhdr, 2, &used, cb, ud)) != TT_OK)
            return rc;
    }
    while (n > 0) {
        if (d->ended) {
            /* gzip allows several members back to back (RFC 1952 2.2);
             * anything else after the end is padding we ignore. */
            if (d->kind != DEC_GZIP || in[0] != 0x1f)
                return TT_OK;
            if (inflateReset(&d->z) != Z_OK)
                return TT_ERR_PARSE;
            d->ended = false;
        }
        size_t slice = n > UINT_MAX ? UINT_MAX : n, used;
        if ((rc = dec_inflate(d, in, slice, &used, cb, ud)) != TT_OK)
            return rc;
        if (used == 0 && !d->ended)
            return TT_ERR_PARSE;   /* defensive: zlib took nothing */
        in += used;
        n -= used;
    }
    return TT_OK;
}

static int dec_feed_br(struct tt_decoder *d, const unsigned char *in,
                       size_t n, tt_decode_out_cb cb, void *ud)
{
    size_t avail_in = n;
    const uint8_t *next_in = in;
    int rc;

    while (!d->ended) {
        size_t avail_out = DEC_CHUNK;
        uint8_t *next_out = (uint8_t *)d->chunk;
        BrotliDecoderResult r = BrotliDecoderDecompressStream(
            d->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        if (r == BROTLI_DECODER_RESULT_ERROR)
            return TT_ERR_PARSE;
        if ((rc = dec_emit(d, d->chunk, DEC_CHUNK - avail_out, cb, ud)) != TT_OK)
            return rc;
        if (r == BROTLI_DECODER_RESULT_SUCCESS)
            d->ended = true;   /* trailing bytes, if any, are ignored */
        else if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
            break;
        /* NEEDS_MORE_OUTPUT: go round with an empty chunk. */
    }
    return TT_OK;
}

static int dec_feed_zstd(struct tt_decoder *d, const unsigned char *in,
                         size_t n, tt_decode_out_cb cb, void *ud)
{
    ZSTD_inBuffer ib = { in, n, 0 };
    int rc;

    for (;;) {
        ZSTD_outBuffer ob = { d->chunk, DEC_CHUNK, 0 };
        size_t before = ib.pos;
        size_t r = ZSTD_decompressStream(d->zs, &ob, &ib);
        if (ZSTD_isError(r))
            return TT_ERR_PARSE;
        if (ib.pos == before && ob.pos == 0 && ib.pos < ib.size)
            return TT_ERR_PARSE;   /* defensive: no progress at all */
        /* 0: a frame ended and is flushed; more input starts the next
         * frame (a body may hold several). */
        d->zs_in_frame = r != 0;
        if ((rc = dec_emit(d, d->chunk, ob.pos, cb, ud)) != TT_OK)
            return rc;
        if (ib.pos == ib.size && ob.pos < ob.size)
            return TT_OK;
    }
}

int tt_decoder_feed(struct tt_decoder *d, const char *in, size_t n,
                    tt_decode_out_cb cb, void *ud)
{
    const unsigned char *u = (const unsigned char *)in;
    int rc = TT_OK;

    if (d->err)
        return d->err;
    if (n == 0)
        return TT_OK;
    d->seen_input = true;
    switch (d->kind) {
    case DEC_IDENTITY:
        rc = dec_emit(d, in, n, cb, ud);
        break;
    case DEC_GZIP:
    case DEC_DEFLATE:
        rc = dec_feed_zlib(d, u, n, cb, ud);
        break;
    case DEC_BR:
        rc = dec_feed_br(d, u, n, cb, ud);
        break;
    case DEC_ZSTD:
        rc = dec_feed_zstd(d, u, n, cb, ud);
        break;
    }
    if (rc < 0)
        d->err = rc;
    return rc;
}

int tt_decoder_finish(struct tt_decoder *d)
{
    if (d->err)
        return d->err;
    /* An empty body (HEAD-like, 204 labelled gzip) is not a cut stream. */
    if (!d->seen_input || d->kind == DEC_IDENTITY)
        return TT_OK;
    switch (d->kind) {
    case DEC_GZIP:
    case DEC_DEFLATE:
    case DEC_BR:
        return d->ended ? TT_OK : TT_ERR_INCOMPLETE;
    case DEC_ZSTD:
        return d->zs_in_frame ? TT_ERR_INCOMPLETE : TT_OK;
    default:
        return TT_OK;
    }
}

size_t tt_decoder_total(const struct tt_decoder *d)
{
    return d->total;
}

void tt_decoder_free(struct tt_decoder *d)
{
    if (!d)
        return;
    if (d->z_ready)
        inflateEnd(&d->z);
    if (d->br)
        BrotliDecoderDestroyInstance(d->br);
    if (d->zs)
        ZSTD_freeDStream(d->zs);
    free(d->chunk);
    free(d);
}
