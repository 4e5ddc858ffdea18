/* test_eventstream.c - AWS event stream framing (preload/eventstream.c):
 * published vectors, every split point, and streams that lie (bad CRCs,
 * impossible or huge lengths, malformed headers, cut short). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "eventstream.h"
#include "tt.h"

/* --- an encoder for the tests (the mock has its own) --------------------- */

struct hdr {
    const char *name, *value;
};

static void be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Appends one message to out (at *n); returns its length. */
static size_t enc(unsigned char *out, size_t *n, const struct hdr *h,
                  size_t nh, const char *payload)
{
    unsigned char *m = out + *n;
    size_t hn = 0, pl = strlen(payload);

    for (size_t i = 0; i < nh; i++) {
        size_t a = strlen(h[i].name), b = strlen(h[i].value);
        m[12 + hn++] = (unsigned char)a;
        memcpy(m + 12 + hn, h[i].name, a);
        hn += a;
        m[12 + hn++] = 7;
        m[12 + hn++] = (unsigned char)(b >> 8);
        m[12 + hn++] = (unsigned char)b;
        memcpy(m + 12 + hn, h[i].value, b);
        hn += b;
    }
    size_t total = 16 + hn + pl;
    be32(m, (uint32_t)total);
    be32(m + 4, (uint32_t)hn);
    be32(m + 8, (uint32_t)crc32(0, m, 8));
    memcpy(m + 12 + hn, payload, pl);
    be32(m + total - 4, (uint32_t)crc32(0, m, (uInt)(total - 4)));
    *n += total;
    return total;
}

static size_t enc_event(unsigned char *out, size_t *n, const char *type,
                        const char *payload)
{
    struct hdr h[] = { { ":event-type", type },
                       { ":content-type", "application/json" },
                       { ":message-type", "event" } };
    return enc(out, n, h, 3, payload);
}

/* Fix both CRCs after a test edited a message in place. */
static void recrc(unsigned char *m)
{
    uint32_t total = (uint32_t)m[0] << 24 | (uint32_t)m[1] << 16 |
                     (uint32_t)m[2] << 8 | m[3];
    be32(m + 8, (uint32_t)crc32(0, m, 8));
    be32(m + total - 4, (uint32_t)crc32(0, m, total - 4));
}

/* --- collecting ------------------------------------------------------------ */

struct got {
    int n;
    char names[16][64];
    char data[16][128];
};

static int on_msg(void *ud, const struct tt_es_msg *m)
{
    struct got *g = ud;
    char name[64];
    const char *d;
    size_t nl, dl;

    tt_es_msg_event(m, name, sizeof(name), &nl, &d, &dl);
    cr_assert_eq(strlen(name), nl);
    if (g->n < 16) {
        snprintf(g->names[g->n], 64, "%s", name);
        snprintf(g->data[g->n], 128, "%.*s", (int)dl, d);
    }
    g->n++;
    return 0;
}

/* Feeds buf in pieces of `split` bytes; returns the first non-0 feed
 * result (0 if none) and the finish result in *fin. */
static int feed(const unsigned char *buf, size_t len, size_t split,
                size_t max, struct got *g, int *fin)
{
    struct tt_es es;
    int first = 0;

    memset(g, 0, sizeof(*g));
    tt_es_init(&es, max);
    for (size_t off = 0; off < len; off += split) {
        size_t k = len - off < split ? len - off : split;
        int rc = tt_es_feed(&es, (const char *)buf + off, k, on_msg, g);
        if (rc && !first)
            first = rc;
    }
    *fin = tt_es_finish(&es);
    tt_es_free(&es);
    return first;
}

/* --- published vectors (hexdocs.pm/event_stream, AWS codec examples) ---- */

Test(eventstream, published_vector_no_headers)
{
    static const unsigned char v[] = {
        0, 0, 0, 30, 0, 0, 0, 0, 186, 242, 246, 138, 123, 34, 102, 111,
        111, 34, 58, 32, 34, 98, 97, 114, 34, 125, 174, 114, 88, 228 };
    struct tt_es_msg m;

    cr_assert_eq(tt_es_parse((const char *)v, sizeof(v), &m), 0);
    cr_assert_eq(m.payload_len, 14);
    cr_assert_eq(memcmp(m.payload, "{\"foo\": \"bar\"}", 14), 0);
    cr_assert_null(m.event_type.ptr);
}

Test(eventstream, published_vector_content_type)
{
    static const unsigned char v[] = {
        0, 0, 0, 62, 0, 0, 0, 32, 64, 93, 249, 70, 12, 99, 111, 110, 116,
        101, 110, 116, 45, 116, 121, 112, 101, 7, 0, 16, 97, 112, 112, 108,
        105, 99, 97, 116, 105, 111, 110, 47, 106, 115, 111, 110, 123, 34,
        102, 111, 111, 34, 58, 32, 34, 98, 97, 114, 34, 125, 111, 162, 191,
        59 };
    struct tt_es_msg m;

    cr_assert_eq(tt_es_parse((const char *)v, sizeof(v), &m), 0);
    cr_assert_eq(m.payload_len, 14);
    /* "content-type" without the colon is not the :content-type header. */
    cr_assert_null(m.content_type.ptr);
}

Test(eventstream, crc_matches_zlib)
{
    unsigned char b[1000];

    for (size_t i = 0; i < sizeof(b); i++)
        b[i] = (unsigned char)(i * 7919u >> 3);
    for (size_t n = 0; n < sizeof(b); n += 37)
        cr_assert_eq(tt_es_crc32(0, b, n), (uint32_t)crc32(0, b, (uInt)n));
}

/* --- every split point ------------------------------------------------------ */

Test(eventstream, three_messages_split_at_every_byte)
{
    unsigned char buf[1024];
    size_t n = 0;
    struct hdr exc[] = { { ":exception-type", "throttlingException" },
                         { ":content-type", "application/json" },
                         { ":message-type", "exception" } };
    struct hdr err[] = { { ":message-type", "error" },
                         { ":error-code", "InternalFailure" },
                         { ":error-message", "boom" } };
    struct got g;
    int fin;

    enc_event(buf, &n, "messageStart", "{\"role\":\"assistant\"}");
    enc_event(buf, &n, "contentBlockDelta",
              "{\"contentBlockIndex\":0,\"delta\":{\"text\":\"Hi\"}}");
    enc(buf, &n, exc, 3, "{\"message\":\"slow down\"}");
    enc(buf, &n, err, 3, "");
    for (size_t split = 1; split <= n; split++) {
        cr_assert_eq(feed(buf, n, split, 1 << 20, &g, &fin), 0, "split %zu", split);
        cr_assert_eq(fin, 0);
        cr_assert_eq(g.n, 4, "split %zu: %d messages", split, g.n);
        cr_assert_str_eq(g.names[0], "messageStart");
        cr_assert_str_eq(g.data[0], "{\"role\":\"assistant\"}");
        cr_assert_str_eq(g.names[1], "contentBlockDelta");
        cr_assert_str_eq(g.names[2], TT_ES_EXCEPTION_PREFIX "throttlingException");
        cr_assert_str_eq(g.data[2], "{\"message\":\"slow down\"}");
        cr_assert_str_eq(g.names[3], TT_ES_ERROR_PREFIX "InternalFailure");
        cr_assert_str_eq(g.data[3], "boom");
    }
}

/* --- streams that lie ----------------------------------------------------- */

enum edit {
    NONE,
    BAD_PRELUDE_CRC,     /* flip a bit of the prelude CRC */
    BAD_MESSAGE_CRC,     /* flip a payload byte, CRCs left alone */
    TOTAL_TOO_SMALL,     /* total 10 < 16, CRCs recomputed */
    HEADERS_TOO_LONG,    /* headers_len > total - 16 */
    HUGE_TOTAL,          /* total 0xFFFFFFF0 with a valid prelude CRC */
    HEADER_NAME_OVERRUN, /* a name length past the headers section */
    HEADER_BAD_TYPE,     /* value type 42 */
    TRUNCATED,           /* the last message cut 5 bytes short */
    OVERSIZED_THEN_OK,   /* first message above the cap, second fine */
};

struct lcase {
    const char *name;
    enum edit edit;
    int feed_rc;
    int finish_rc;
    int messages;
};

static const struct lcase lies[] = {
    { "intact", NONE, 0, 0, 2 },
    { "bad prelude crc", BAD_PRELUDE_CRC, TT_ERR_PARSE, TT_ERR_PARSE, 0 },
    { "bad message crc", BAD_MESSAGE_CRC, TT_ERR_PARSE, TT_ERR_PARSE, 0 },
    { "total below overhead", TOTAL_TOO_SMALL, TT_ERR_PARSE, TT_ERR_PARSE, 0 },
    { "headers longer than message", HEADERS_TOO_LONG, TT_ERR_PARSE,
      TT_ERR_PARSE, 0 },
    /* A CRC-valid prelude announcing 4 GiB: skipped, never buffered; the
     * stream then ends inside it. */
    { "huge total", HUGE_TOTAL, TT_ERR_CAP, TT_ERR_INCOMPLETE, 0 },
    { "header name overrun", HEADER_NAME_OVERRUN, TT_ERR_PARSE, TT_ERR_PARSE, 0 },
    { "header bad type", HEADER_BAD_TYPE, TT_ERR_PARSE, TT_ERR_PARSE, 0 },
    { "truncated", TRUNCATED, 0, TT_ERR_INCOMPLETE, 1 },
    { "oversized then ok", OVERSIZED_THEN_OK, TT_ERR_CAP, TT_ERR_CAP, 1 },
};

static size_t build(enum edit e, unsigned char *buf)
{
    size_t n = 0, first;
    char big[400];

    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    first = enc_event(buf, &n, "messageStart",
                      e == OVERSIZED_THEN_OK ? big : "{\"role\":\"assistant\"}");
    enc_event(buf, &n, "messageStop", "{\"stopReason\":\"end_turn\"}");
    switch (e) {
    case NONE:
    case OVERSIZED_THEN_OK:
        break;
    case BAD_PRELUDE_CRC:
        buf[9] ^= 1;
        break;
    case BAD_MESSAGE_CRC:
        buf[first - 6] ^= 0x20;
        break;
    case TOTAL_TOO_SMALL:
        be32(buf, 10);
        be32(buf + 8, (uint32_t)crc32(0, buf, 8));
        break;
    case HEADERS_TOO_LONG:
        be32(buf + 4, (uint32_t)first - 15);
        be32(buf + 8, (uint32_t)crc32(0, buf, 8));
        break;
    case HUGE_TOTAL:
        be32(buf, 0xFFFFFFF0u);
        be32(buf + 8, (uint32_t)crc32(0, buf, 8));
        break;
    case HEADER_NAME_OVERRUN:
        buf[12] = 250;
        recrc(buf);
        break;
    case HEADER_BAD_TYPE:
        buf[12 + 1 + 11] = 42;     /* after ":event-type" */
        recrc(buf);
        break;
    case TRUNCATED:
        n -= 5;
        break;
    }
    return n;
}

Test(eventstream, lies_table_at_every_split)
{
    unsigned char buf[2048];

    for (size_t i = 0; i < sizeof(lies) / sizeof(lies[0]); i++) {
        const struct lcase *c = &lies[i];
        size_t n = build(c->edit, buf);
        for (size_t split = 1; split <= n; split++) {
            struct got g;
            int fin;
            int rc = feed(buf, n, split, 256, &g, &fin);
            cr_assert_eq(rc, c->feed_rc, "%s split %zu: feed %d", c->name,
                         split, rc);
            cr_assert_eq(fin, c->finish_rc, "%s split %zu: finish %d",
                         c->name, split, fin);
            cr_assert_eq(g.n, c->messages, "%s split %zu: %d messages",
                         c->name, split, g.n);
        }
    }
}

Test(eventstream, broken_stream_stays_broken)
{
    unsigned char buf[512];
    size_t n = build(BAD_PRELUDE_CRC, buf), m = 0;
    unsigned char ok[256];
    struct tt_es es;
    struct got g = { 0 };

    enc_event(ok, &m, "messageStart", "{}");
    tt_es_init(&es, 1 << 20);
    cr_assert_eq(tt_es_feed(&es, (char *)buf, n, on_msg, &g), TT_ERR_PARSE);
    /* A valid message after the break is not trusted: no resync. */
    cr_assert_eq(tt_es_feed(&es, (char *)ok, m, on_msg, &g), TT_ERR_PARSE);
    cr_assert_eq(g.n, 0);
    tt_es_free(&es);
}

static int stop(void *ud, const struct tt_es_msg *m)
{
    (void)ud;
    (void)m;
    return TT_ERR_NOMEM;
}

Test(eventstream, callback_error_stops_feed)
{
    unsigned char buf[512];
    size_t n = build(NONE, buf);
    struct tt_es es;

    tt_es_init(&es, 1 << 20);
    cr_assert_eq(tt_es_feed(&es, (char *)buf, n, stop, NULL), TT_ERR_NOMEM);
    tt_es_free(&es);
}


Test(eventstream, long_event_name_is_cut_not_overflowed)
{
    struct tt_es_msg m;
    char name[8];
    const char *d;
    size_t nl, dl;

    memset(&m, 0, sizeof(m));
    m.event_type.ptr = "contentBlockDelta";
    m.event_type.len = 17;
    tt_es_msg_event(&m, name, sizeof(name), &nl, &d, &dl);
    cr_assert_str_eq(name, "content");
    cr_assert_eq(nl, 7);
    cr_assert_eq(dl, 0);
}
