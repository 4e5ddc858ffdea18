/* fuzz_http2.c - HTTP/2 frames + HPACK (preload/http2.c) on the capture
 * path: tt_h2 -> exchange -> decode/SSE -> provider parser -> span.
 *
 * Input: 4 split-control bytes, 1 flags byte, then records
 *   dir u8 (bit 0: 1 = client -> server) | len u16 big-endian | len bytes
 * (a last record cut short gives what is there). Each record is fed in
 * pieces as the split bytes say. Records, not two separated streams: the
 * order of requests and responses across the directions matters to HTTP/2
 * (a response to a stream the client has not opened yet, a RST_STREAM
 * crossing a HEADERS, ...). Flags: bit 0 no SNI, bit 1 stop at the first
 * error as conn.c does (else keep feeding: later calls must still be
 * safe). */
#include "fuzz_common.h"

#include "http2.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;

    fz_env();
    fz_split_init(&sp, &data, &size);
    uint8_t flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    struct tt_h2 *h = tt_h2_new((flags & 1) ? NULL : "api.openai.com");
    if (!h)
        return 0;
    int64_t now = 1000000000LL;
    bool failed = false;
    while (size >= 3 && !failed) {
        bool client = data[0] & 1;
        size_t n = ((size_t)data[1] << 8) | data[2];
        data += 3;
        size -= 3;
        if (n > size)
            n = size;
        const uint8_t *p = data;
        data += n;
        size -= n;
        while (n) {
            size_t k = fz_next(&sp, n);
            char *piece = malloc(k);
            memcpy(piece, p, k);
            now += 1000000;
            int rc = tt_h2_feed(h, client, piece, k, now);
            free(piece);
            p += k;
            n -= k;
            if (rc != TT_OK && (flags & 2)) {
                failed = true;
                break;
            }
        }
        (void)tt_h2_has_llm(h);
        (void)tt_h2_not_llm(h);
    }
    tt_h2_free(h, "connection closed", now + 1000000);
    return 0;
}
