/* fuzz_frame.c - the daemon's frame decoder and validator
 * (exporter/frame.c), the msgpack walker under it (tt_wire_skip) and the
 * preload's reply parser (preload/wire.c).
 *
 * Input: one frame payload (the bytes after the length prefix), in an
 * exact-size heap copy. Every span the decoder keeps must pass
 * tt_frame_check_span, render as a JSONL line (the jsonl sink, `tokentap
 * export`), and survive a round trip: encoded again as the preload
 * encodes spans, the frame decodes to as many spans, none rejected. */
#include "fuzz_common.h"

#include "frame.h"
#include "spanjson.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *buf = malloc(size ? size : 1);
    struct tt_frame f, g;
    char err[200];

    memcpy(buf, data, size);
    size_t pos = 0;
    (void)tt_wire_skip(buf, size, &pos, TT_FRAME_MAX_OBJECTS);
    if (pos > size)
        abort();
    struct tt_wire_reply r;
    if (tt_wire_parse_reply(buf, size, &r) == TT_OK &&
        memchr(r.t, '\0', sizeof(r.t)) == NULL)
        abort();

    memset(&f, 0, sizeof(f));
    int rc = tt_frame_decode(buf, size, &f);
    if (memchr(f.error, '\0', sizeof(f.error)) == NULL)
        abort();
    if (rc == TT_OK && f.type == TT_FRAME_SPANS && f.nspans) {
        const struct tt_span **sp = calloc(f.nspans, sizeof(*sp));
        for (size_t i = 0; i < f.nspans; i++) {
            struct tt_buf line;
            if (tt_frame_check_span(&f.spans[i], err, sizeof(err)) != TT_OK) {
                fprintf(stderr, "fuzz_frame: a decoded span fails the "
                        "check: %s\n", err);
                abort();
            }
            tt_buf_init(&line, 64u << 20);
            if (tt_span_to_jsonl(&f.spans[i], &line) == TT_OK)
                fz_touch(line.data, line.len);
            tt_buf_free(&line);
            sp[i] = &f.spans[i];
        }
        struct tt_buf out;
        tt_buf_init(&out, TT_WIRE_MAX_FRAME);
        if (tt_wire_pack_spans(sp, f.nspans, f.chunk, &out) == TT_OK) {
            memset(&g, 0, sizeof(g));
            int rc2 = tt_frame_decode(out.data + 4, out.len - 4, &g);
            if (rc2 != TT_OK || g.nspans != f.nspans || g.rejected) {
                fprintf(stderr, "fuzz_frame: round trip: rc %d, %zu of %zu "
                        "spans, %zu rejected: %s\n", rc2, g.nspans, f.nspans,
                        g.rejected, g.error);
                abort();
            }
            tt_frame_clear(&g);
        }
        tt_buf_free(&out);
        free(sp);
    }
    tt_frame_clear(&f);
    free(buf);
    return 0;
}
