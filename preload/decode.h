/* decode.h - streaming Content-Encoding decoder with an output cap.
 *
 * gzip, x-gzip, deflate (zlib-wrapped or raw), br and zstd, and identity.
 * Output is delivered through a callback in pieces; the total output is
 * capped (bomb protection): past the cap the decoder stops, reports
 * TT_ERR_CAP, and ignores further input. */
#ifndef TT_DECODE_H
#define TT_DECODE_H

#include <stdbool.h>
#include <stddef.h>

struct tt_decoder;

typedef int (*tt_decode_out_cb)(void *ud, const char *p, size_t n);

/* Create a decoder for a Content-Encoding header value (NULL or "" or
 * "identity" = pass-through). Returns TT_OK, TT_ERR_UNSUPPORTED for an
 * unknown or stacked encoding, TT_ERR_NOMEM.
 * max_out: hard cap on decoded bytes. */
/* Load what a decoder for encoding needs (the preload reaches zlib,
 * brotli and zstd lazily: dlshim.c), without decoding anything: on the
 * program's thread, before the work is queued for the capture worker,
 * which never opens a file (defer.h). */
void tt_decoder_prepare(const char *encoding, size_t enc_len);

int tt_decoder_new(const char *encoding, size_t enc_len, size_t max_out,
                   struct tt_decoder **out) __attribute__((warn_unused_result));

/* Feed encoded bytes. Returns 0, TT_ERR_CAP once the cap is hit (the output
 * up to the cap was delivered), TT_ERR_PARSE for corrupt data, or the
 * callback's error. */
int tt_decoder_feed(struct tt_decoder *d, const char *in, size_t n,
                    tt_decode_out_cb cb, void *ud)
    __attribute__((warn_unused_result));

/* End of input: TT_ERR_INCOMPLETE when the compressed stream was cut short,
 * else 0. */
int tt_decoder_finish(struct tt_decoder *d);

/* Total decoded bytes so far. */
size_t tt_decoder_total(const struct tt_decoder *d);

void tt_decoder_free(struct tt_decoder *d);   /* NULL-safe */

#endif
