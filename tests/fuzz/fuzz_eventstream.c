/* fuzz_eventstream.c - AWS event stream framing (preload/eventstream.c).
 *
 * Input: 4 split-control bytes, 1 flags byte, then the stream. Both CRCs
 * guard every message, so mutated input almost never gets past the
 * prelude; unless flags bit 0 is set, the target first rewrites the CRCs
 * of each message the lengths delimit (fz_es_fix_crcs), which lets the
 * fuzzer reach the header and payload decoding. The stream is then fed
 * in pieces (cap on one message: 64 bytes when flags bit 1, else 1 MiB),
 * each message is also decoded whole with tt_es_parse, and every
 * message's (event, data) pair goes through tt_es_msg_event as the
 * exchange hands it to a provider parser. */
#include "fuzz_common.h"

#include "eventstream.h"

static int on_msg(void *ud, const struct tt_es_msg *m)
{
    char name[128];
    const char *d;
    size_t nl, dl;

    (void)ud;
    fz_touch(m->event_type.ptr, m->event_type.len);
    fz_touch(m->message_type.ptr, m->message_type.len);
    fz_touch(m->exception_type.ptr, m->exception_type.len);
    fz_touch(m->error_code.ptr, m->error_code.len);
    fz_touch(m->error_message.ptr, m->error_message.len);
    fz_touch(m->content_type.ptr, m->content_type.len);
    fz_touch(m->payload, m->payload_len);
    tt_es_msg_event(m, name, sizeof(name), &nl, &d, &dl);
    if (nl >= sizeof(name) || name[nl] != '\0')
        abort();
    fz_touch(d, dl);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;
    struct tt_es es;

    fz_split_init(&sp, &data, &size);
    uint8_t flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    uint8_t *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if (!(flags & 1))
        fz_es_fix_crcs(buf, size);

    tt_es_init(&es, (flags & 2) ? 64 : (1u << 20));
    const uint8_t *p = buf;
    size_t n = size;
    while (n) {
        size_t k = fz_next(&sp, n);
        char *piece = malloc(k);
        memcpy(piece, p, k);
        int rc = tt_es_feed(&es, piece, k, on_msg, NULL);
        free(piece);
        if (rc != TT_OK && rc != TT_ERR_CAP && rc != TT_ERR_PARSE)
            abort();
        p += k;
        n -= k;
    }
    (void)tt_es_finish(&es);
    tt_es_free(&es);

    /* Whole messages, each in an exact-size copy. */
    p = buf;
    n = size;
    while (n >= TT_ES_OVERHEAD) {
        uint32_t total = fz_get32(p);
        if (total < TT_ES_OVERHEAD || total > n)
            break;
        char *m = malloc(total);
        memcpy(m, p, total);
        struct tt_es_msg msg;
        if (tt_es_parse(m, total, &msg) == TT_OK)
            (void)on_msg(NULL, &msg);
        free(m);
        p += total;
        n -= total;
    }
    free(buf);
    return 0;
}
