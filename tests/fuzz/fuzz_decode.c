/* fuzz_decode.c - Content-Encoding decoding with its output cap
 * (preload/decode.c).
 *
 * Input: 4 split-control bytes, 1 selector byte, then the encoded body.
 * Selector bits 0-2 pick the Content-Encoding value (gzip, x-gzip,
 * deflate, br, zstd, identity, a stacked "gzip, br" and an unknown one),
 * bits 3-4 the cap (64 B, 4 KiB, 1 MiB, 8 MiB: a small cap puts the cap
 * path under test, a big one lets bombs show their cost), bit 5 makes the
 * output callback fail once 100 bytes came out. The decoder must deliver
 * at most cap bytes, never more than it counts, and keep failing once it
 * failed. */
#include "fuzz_common.h"

#include "decode.h"

static const char *const encodings[8] = {
    "gzip", "x-gzip", "deflate", "br", "zstd", "identity", "gzip, br", "compress",
};
static const size_t caps[4] = { 64, 4096, 1u << 20, 8u << 20 };

struct sink {
    size_t got;
    bool fail_late;
};

static int on_out(void *ud, const char *p, size_t n)
{
    struct sink *s = ud;

    fz_touch(p, n);
    s->got += n;
    if (s->fail_late && s->got > 100)
        return TT_ERR_IO;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;
    struct tt_decoder *d = NULL;
    struct sink s = { 0, false };

    fz_split_init(&sp, &data, &size);
    uint8_t sel = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    const char *enc = encodings[sel & 7];
    size_t cap = caps[(sel >> 3) & 3];
    s.fail_late = sel & 0x20;
    if (tt_decoder_new(enc, strlen(enc), cap, &d) != TT_OK)
        return 0;
    int last = TT_OK;
    while (size) {
        size_t k = fz_next(&sp, size);
        char *piece = malloc(k);
        memcpy(piece, data, k);
        int rc = tt_decoder_feed(d, piece, k, on_out, &s);
        free(piece);
        if (last != TT_OK && rc == TT_OK)
            abort();            /* a failed decoder came back to life */
        last = rc;
        data += k;
        size -= k;
    }
    (void)tt_decoder_finish(d);
    if (s.got > cap || s.got > tt_decoder_total(d))
        abort();
    tt_decoder_free(d);
    return 0;
}
