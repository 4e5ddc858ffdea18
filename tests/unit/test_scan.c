/* test_scan.c - preload/scan.h: the next byte that needs a look, against a
 * byte-by-byte reference, for every class mask, over random text built
 * from the bytes at the classes' edges (so that SWAR borrows and SSE2
 * signed compares are exercised), at every length and start offset that
 * reaches both the sixteen- and the eight-byte steps. */
#include <criterion/criterion.h>

#include <stdbool.h>
#include <stdlib.h>

#include "scan.h"

static bool flagged(unsigned char c, unsigned what)
{
    return ((what & TT_SCAN_QUOTE) && (c == '"' || c == '\\')) ||
           ((what & TT_SCAN_CTRL) && c < 0x20) || ((what & TT_SCAN_HIGH) && c >= 0x80) ||
           ((what & TT_SCAN_NUL) && c == 0);
}

Test(scan, agrees_with_a_byte_loop)
{
    static const unsigned char edge[] = {
        '"', '\\', 0x00, 0x01, 0x1f, 0x20, 0x21, 0x22 ^ 0x80, 0x5c ^ 0x80, 0x7f, 0x80,
        0x9f, 0xa0, 0xc3, 0xff, '[', ']', 'a',
    };
    static const unsigned masks[] = {
        TT_SCAN_QUOTE,
        TT_SCAN_QUOTE | TT_SCAN_CTRL,
        TT_SCAN_QUOTE | TT_SCAN_CTRL | TT_SCAN_HIGH,
        TT_SCAN_HIGH | TT_SCAN_NUL,
        TT_SCAN_NUL,
        TT_SCAN_CTRL,
        TT_SCAN_HIGH,
        TT_SCAN_CTRL | TT_SCAN_HIGH,              /* one signed compare */
        TT_SCAN_CTRL | TT_SCAN_HIGH | TT_SCAN_NUL,
    };
    unsigned seed = 7;
    char buf[80];

    for (int k = 0; k < 200000; k++) {
        size_t len = (seed = seed * 1103515245u + 12345u) >> 16;
        len %= sizeof(buf) + 1;
        for (size_t j = 0; j < len; j++) {
            seed = seed * 1103515245u + 12345u;
            /* Mostly plain: a run long enough for a whole step now and then. */
            buf[j] = (char)((seed >> 16) % 4 ? 'a' : edge[(seed >> 20) % sizeof(edge)]);
        }
        size_t from = len ? ((seed = seed * 1103515245u + 12345u) >> 16) % (len + 1) : 0;
        unsigned what = masks[(size_t)k % (sizeof(masks) / sizeof(masks[0]))];
        size_t want = from;
        while (want < len && !flagged((unsigned char)buf[want], what))
            want++;
        size_t got = tt_scan(buf, from, len, what);
        cr_assert(got >= from && got <= want, "len %zu from %zu mask %u: %zu, first %zu", len,
                  from, what, got, want);
        cr_assert(got == want || len - got < 8, "len %zu from %zu mask %u: stopped at %zu "
                  "with %zu left, first %zu", len, from, what, got, len - got, want);
    }
}
