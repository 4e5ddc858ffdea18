/* fuzz_sse.c - Server-Sent Events framing (preload/sse.c).
 *
 * Input: 4 split-control bytes, 1 flags byte, then the stream, fed in
 * pieces. Flags bit 0: cap one event at 32 bytes (else 1 MiB), so the
 * oversized-event path is reached. Every event's name and data are read
 * back and must fit the cap; the result of a stream fed in pieces must
 * not depend on the pieces (the same stream fed whole gives the same
 * events). */
#include "fuzz_common.h"

#include "sse.h"

struct rec {
    size_t max;
    uint32_t hash;
    size_t events;
};

static uint32_t mix(uint32_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h * 16777619u;
}

static int on_event(void *ud, const char *ev, size_t evn, const char *d,
                    size_t dn)
{
    struct rec *r = ud;

    fz_touch(ev, evn);
    fz_touch(d, dn);
    if (dn > r->max || evn > r->max)
        abort();
    r->hash = mix(mix(r->hash, ev, evn), d, dn);
    r->events++;
    return 0;
}

static int run(const uint8_t *data, size_t size, struct fz_split *sp,
               size_t max, struct rec *r)
{
    struct tt_sse s;

    memset(r, 0, sizeof(*r));
    r->max = max;
    r->hash = 2166136261u;
    tt_sse_init(&s, max);
    while (size) {
        size_t k = sp ? fz_next(sp, size) : size;
        char *piece = malloc(k);
        memcpy(piece, data, k);
        if (tt_sse_feed(&s, piece, k, on_event, r) != TT_OK)
            abort();
        free(piece);
        data += k;
        size -= k;
    }
    int rc = tt_sse_finish(&s);
    tt_sse_free(&s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;
    struct rec a, b;

    fz_split_init(&sp, &data, &size);
    uint8_t flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    size_t max = (flags & 1) ? 32 : (1u << 20);
    int ra = run(data, size, &sp, max, &a);
    int rb = run(data, size, NULL, max, &b);
    if (a.events != b.events || a.hash != b.hash || ra != rb) {
        fprintf(stderr, "fuzz_sse: pieces change the result: %zu/%zu events, "
                "finish %d/%d\n", a.events, b.events, ra, rb);
        abort();
    }
    return 0;
}
