/* scan.h - the next byte that needs a look in a run of text.
 *
 * The content of a span (prompts, answers) is long runs of plain bytes;
 * the JSON readers and checkers of the capture core and of tokentapd
 * step over them sixteen bytes at a time (SSE2, baseline on x86-64),
 * eight elsewhere (SWAR), and go byte by byte only from the byte that
 * matters. Header-only: `what` is a constant at each call, the compiler
 * keeps only the tests asked for. */
#ifndef TT_SCAN_H
#define TT_SCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum {
    TT_SCAN_QUOTE = 1,          /* '"' or '\\' */
    TT_SCAN_CTRL = 2,           /* below 0x20 */
    TT_SCAN_HIGH = 4,           /* 0x80 and above */
    TT_SCAN_NUL = 8,            /* 0 (within TT_SCAN_CTRL too) */
};

/* The offset of the first byte of p[i..len) in the classes of `what`, or
 * an offset from which fewer than 8 bytes remain (the caller's byte loop
 * takes the tail), whichever comes first. */
static inline size_t tt_scan(const char *p, size_t i, size_t len, unsigned what)
{
#if defined(__SSE2__)
    while (len - i >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i hit = _mm_setzero_si128();
        unsigned m;
        if (what & TT_SCAN_QUOTE)
            hit = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                               _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
        if ((what & TT_SCAN_CTRL) && (what & TT_SCAN_HIGH))
            /* Signed, 0x80..0xff are below 0: one compare takes both. */
            hit = _mm_or_si128(hit, _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
        else if (what & TT_SCAN_CTRL)    /* unsigned v <= 0x1f */
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(0x1f)), v));
        else if (what & TT_SCAN_NUL)
            hit = _mm_or_si128(hit, _mm_cmpeq_epi8(v, _mm_setzero_si128()));
        m = (unsigned)_mm_movemask_epi8(hit);
        if ((what & TT_SCAN_HIGH) && !(what & TT_SCAN_CTRL))
            m |= (unsigned)_mm_movemask_epi8(v);
        if (m)
            return i + (size_t)__builtin_ctz(m);
        i += 16;
    }
#endif
    while (len - i >= 8) {
        /* haszero(v) = (v - 1s) & ~v & 0x80s flags the lowest zero byte
         * exactly (a borrow can only flag bytes above it): the lowest
         * flagged byte of the union is a true one. */
        const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
        uint64_t x, hit = 0;
        memcpy(&x, p + i, 8);
        if (what & TT_SCAN_QUOTE) {
            uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
            hit |= ((q - ones) & ~q) | ((b - ones) & ~b);
        }
        if (what & TT_SCAN_CTRL)
            hit |= (x - ones * 0x20) & ~x;
        else if (what & TT_SCAN_NUL)
            hit |= (x - ones) & ~x;
        if (what & TT_SCAN_HIGH)
            hit |= x;
        hit &= high;
        if (hit)
            return i + (size_t)__builtin_ctzll(hit) / 8;
        i += 8;
    }
    return i;
}

#endif
