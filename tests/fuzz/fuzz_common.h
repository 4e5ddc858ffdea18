/* fuzz_common.h - what the libFuzzer targets share (tests/fuzz/README.md).
 *
 * - fz_split: cuts a byte stream into feeds whose sizes come from control
 *   bytes taken off the front of the input, so the fuzzer also explores
 *   where a parser's input is split (a byte at a time, 7-byte pieces, one
 *   feed, ...). A control byte c gives a feed of c bytes, 0 the rest.
 * - fz_parts: an input holding several streams (request, then response)
 *   separated by FZ_SEP.
 * - fz_env: the preload's runtime set up as in the unit tests (no daemon,
 *   no spool, logging off), once per process.
 * - tt_deliver_span is wrapped (the targets link with
 *   -Wl,--wrap=tt_deliver_span): instead of a socket or the spool, every
 *   finished span is encoded as the preload sends it and decoded as
 *   tokentapd does; a span the daemon would refuse is a bug (a call the
 *   user never sees), so the target aborts. FUZZ_DUMP_FRAMES=dir keeps
 *   the frame payloads (seeds for fuzz_frame). */
#ifndef TT_FUZZ_COMMON_H
#define TT_FUZZ_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"
#include "tt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FZ_SEP "\n#####\n"
#define FZ_SEP_LEN (sizeof(FZ_SEP) - 1)
#define FZ_NCTL 4

struct fz_split {
    uint8_t ctl[FZ_NCTL];
    size_t i;
};

/* Take FZ_NCTL control bytes off the front (zeros when the input is
 * shorter: one feed each). */
static inline void fz_split_init(struct fz_split *s, const uint8_t **data,
                                 size_t *size)
{
    memset(s, 0, sizeof(*s));
    size_t k = *size < FZ_NCTL ? *size : FZ_NCTL;
    memcpy(s->ctl, *data, k);
    *data += k;
    *size -= k;
}

/* Size of the next feed out of `left` bytes (> 0 when left > 0). */
static inline size_t fz_next(struct fz_split *s, size_t left)
{
    size_t c = s->ctl[s->i++ % FZ_NCTL];
    return c == 0 || c > left ? left : c;
}

/* Split data at the separators into up to max parts; returns how many.
 * Missing parts are empty. */
static inline size_t fz_parts(const uint8_t *data, size_t size,
                              const uint8_t **part, size_t *len, size_t max)
{
    size_t n = 0;

    for (size_t k = 0; k < max; k++) {
        part[k] = data + size;
        len[k] = 0;
    }
    while (n < max) {
        const uint8_t *sep = n + 1 < max
            ? memmem(data, size, FZ_SEP, FZ_SEP_LEN) : NULL;
        size_t k = sep ? (size_t)(sep - data) : size;
        part[n] = data;
        len[n] = k;
        n++;
        if (!sep)
            break;
        data += k + FZ_SEP_LEN;
        size -= k + FZ_SEP_LEN;
    }
    return n;
}

/* Read every byte, so ASan sees a pointer/length pair that lies. */
static inline void fz_touch(const void *p, size_t n)
{
    volatile unsigned char sink = 0;
    const unsigned char *b = p;

    if (!p && n)
        abort();
    for (size_t i = 0; i < n; i++)
        sink ^= b[i];
    (void)sink;
}

static inline void fz_touch_str(const char *s)
{
    if (s)
        fz_touch(s, strlen(s));
}

static inline void fz_env(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    setenv("TOKENTAP_SPOOL", "/nonexistent/tokentap/spool", 1);
    setenv("TOKENTAP_SOCKET", "/nonexistent/tokentap/socket", 1);
    setenv("TOKENTAP_LOG", "off", 1);
    setenv("TOKENTAP_HOSTS", "gateway.internal:8080=auto,llm.local=auto", 1);
    setenv("TOKENTAP_MAX_BODY", "65536", 1);
    setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1);
    if (!tt_rt_ready())
        abort();
}

/* AWS event stream: give each message the lengths delimit valid CRCs (in
 * place), so mutated input gets past the CRC checks (fuzz_eventstream,
 * fuzz_exchange). */
#include "eventstream.h"

static inline void fz_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t fz_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | p[3];
}

/* Give each message the lengths delimit valid CRCs (in place). */
static inline void fz_es_fix_crcs(uint8_t *p, size_t n)
{
    while (n >= TT_ES_PRELUDE) {
        uint32_t total = fz_get32(p);
        fz_put32(p + 8, tt_es_crc32(0, p, 8));
        if (total < TT_ES_OVERHEAD || total > n)
            return;
        fz_put32(p + total - 4, tt_es_crc32(0, p, total - 4));
        p += total;
        n -= total;
    }
}

#include "frame.h"
#include "span.h"
#include "wire.h"

static size_t fz_spans;

void __wrap_tt_deliver_span(const struct tt_span *s);
void __wrap_tt_deliver_span(const struct tt_span *s)
{
    struct tt_buf out;
    struct tt_frame fr;

    fz_spans++;
    tt_buf_init(&out, TT_WIRE_MAX_FRAME);
    if (tt_wire_pack_spans(&s, 1, 1, &out) != TT_OK) {
        fprintf(stderr, "fuzz: a finished span could not be encoded\n");
        abort();
    }
    memset(&fr, 0, sizeof(fr));
    if (out.len < 4 || tt_wire_len((const unsigned char *)out.data) != out.len - 4) {
        fprintf(stderr, "fuzz: bad frame length prefix\n");
        abort();
    }
    const char *dump = getenv("FUZZ_DUMP_FRAMES");
    if (dump && *dump) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/span-%zu", dump, fz_spans);
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(out.data + 4, 1, out.len - 4, f);
            fclose(f);
        }
    }
    int rc = tt_frame_decode(out.data + 4, out.len - 4, &fr);
    if (rc != TT_OK || fr.rejected || fr.nspans != 1) {
        fprintf(stderr, "fuzz: the daemon refuses a span the preload built: "
                "rc %d, rejected %zu: %s\n", rc, fr.rejected, fr.error);
        abort();
    }
    tt_frame_clear(&fr);
    tt_buf_free(&out);
}

#endif
