/* eventstream.c - AWS event stream framing (see eventstream.h). */
#include "eventstream.h"

#include <string.h>

/* Reflected CRC-32, polynomial 0xEDB88320, four bits at a time: a 64-byte
 * table that needs no initialisation (no once-guard in the preload), fast
 * enough for streams capped at a few MiB. */
static const uint32_t tt_es_crc_nibble[16] = {
    0x00000000u, 0x1DB71064u, 0x3B6E20C8u, 0x26D930ACu,
    0x76DC4190u, 0x6B6B51F4u, 0x4DB26158u, 0x5005713Cu,
    0xEDB88320u, 0xF00F9344u, 0xD6D6A3E8u, 0xCB61B38Cu,
    0x9B64C2B0u, 0x86D3D2D4u, 0xA00AE278u, 0xBDBDF21Cu,
};

uint32_t tt_es_crc32(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ tt_es_crc_nibble[crc & 15u];
        crc = (crc >> 4) ^ tt_es_crc_nibble[crc & 15u];
    }
    return ~crc;
}

static uint32_t tt_es_be32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint32_t)u[0] << 24 | (uint32_t)u[1] << 16 | (uint32_t)u[2] << 8 |
           (uint32_t)u[3];
}

static uint16_t tt_es_be16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;

    return (uint16_t)(u[0] << 8 | u[1]);
}

/* Byte sizes of the fixed-size header value types; -1: length-prefixed
 * (6 bytes, 7 string); -2: not a type. */
static int tt_es_value_size(unsigned type)
{
    static const int sizes[] = { 0, 0, 1, 2, 4, 8, -1, -1, 8, 16 };

    return type < sizeof(sizes) / sizeof(sizes[0]) ? sizes[type] : -2;
}

/* The headers the API parsers care about, by name. */
static struct tt_es_str *tt_es_slot(struct tt_es_msg *m, const char *name,
                                    size_t n)
{
    static const struct {
        const char *name;
        size_t off;
    } known[] = {
        { ":event-type", offsetof(struct tt_es_msg, event_type) },
        { ":message-type", offsetof(struct tt_es_msg, message_type) },
        { ":exception-type", offsetof(struct tt_es_msg, exception_type) },
        { ":error-code", offsetof(struct tt_es_msg, error_code) },
        { ":error-message", offsetof(struct tt_es_msg, error_message) },
        { ":content-type", offsetof(struct tt_es_msg, content_type) },
    };

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i].name) == n && memcmp(known[i].name, name, n) == 0)
            return (struct tt_es_str *)(void *)((char *)m + known[i].off);
    return NULL;
}

/* Walk the headers section [p, end): every length is checked against end
 * before it is used. */
static int tt_es_headers(const char *p, const char *end, struct tt_es_msg *m)
{
    while (p < end) {
        size_t name_len = (unsigned char)*p++;
        if (name_len == 0 || (size_t)(end - p) < name_len + 1)
            return TT_ERR_PARSE;
        const char *name = p;
        p += name_len;
        unsigned type = (unsigned char)*p++;
        int size = tt_es_value_size(type);
        size_t vlen;
        if (size == -2)
            return TT_ERR_PARSE;
        if (size == -1) {
            if (end - p < 2)
                return TT_ERR_PARSE;
            vlen = tt_es_be16(p);
            p += 2;
        } else {
            vlen = (size_t)size;
        }
        if ((size_t)(end - p) < vlen)
            return TT_ERR_PARSE;
        struct tt_es_str *slot = type == 7 ? tt_es_slot(m, name, name_len)
                                           : NULL;
        if (slot) {
            slot->ptr = p;
            slot->len = vlen;
        }
        p += vlen;
    }
    return TT_OK;
}

int tt_es_parse(const char *buf, size_t len, struct tt_es_msg *out)
{
    uint32_t total, hlen;

    memset(out, 0, sizeof(*out));
    if (len < TT_ES_OVERHEAD)
        return TT_ERR_PARSE;
    total = tt_es_be32(buf);
    hlen = tt_es_be32(buf + 4);
    if (total != len || hlen > total - TT_ES_OVERHEAD ||
        tt_es_crc32(0, buf, 8) != tt_es_be32(buf + 8) ||
        tt_es_crc32(0, buf, len - 4) != tt_es_be32(buf + len - 4))
        return TT_ERR_PARSE;
    if (tt_es_headers(buf + TT_ES_PRELUDE, buf + TT_ES_PRELUDE + hlen, out) !=
        TT_OK) {
        memset(out, 0, sizeof(*out));
        return TT_ERR_PARSE;
    }
    out->payload = buf + TT_ES_PRELUDE + hlen;
    out->payload_len = len - TT_ES_OVERHEAD - hlen;
    return TT_OK;
}

void tt_es_init(struct tt_es *es, size_t max_message)
{
    memset(es, 0, sizeof(*es));
    /* Below the overhead no message fits at all. */
    es->max_message = max_message < TT_ES_OVERHEAD ? TT_ES_OVERHEAD
                                                   : max_message;
    tt_buf_init(&es->msg, es->max_message);
}

void tt_es_free(struct tt_es *es)
{
    if (es)
        tt_buf_free(&es->msg);
}

/* The prelude is complete in es->msg: believe its lengths only once its
 * CRC matched, then either wait for the message or skip it. */
static int tt_es_prelude(struct tt_es *es)
{
    const char *p = es->msg.data;
    uint32_t total = tt_es_be32(p), hlen = tt_es_be32(p + 4);

    if (tt_es_crc32(0, p, 8) != tt_es_be32(p + 8) || total < TT_ES_OVERHEAD ||
        hlen > total - TT_ES_OVERHEAD)
        return TT_ERR_PARSE;
    if (total > es->max_message) {
        es->skipping = true;
        es->skip_left = total - TT_ES_PRELUDE;
        es->dropped = true;
        tt_buf_reset(&es->msg);
        return TT_ERR_CAP;
    }
    es->total = total;
    return TT_OK;
}

int tt_es_feed(struct tt_es *es, const char *buf, size_t len,
               tt_es_msg_cb cb, void *ud)
{
    int result = TT_OK;

    while (len > 0) {
        if (es->failed)
            return TT_ERR_PARSE;
        if (es->skipping) {
            size_t take = len < es->skip_left ? len : es->skip_left;
            es->skip_left -= (uint32_t)take;
            es->skipping = es->skip_left > 0;
            buf += take;
            len -= take;
            continue;
        }
        bool in_prelude = es->msg.len < TT_ES_PRELUDE;
        size_t want = in_prelude ? TT_ES_PRELUDE - es->msg.len
                                 : es->total - es->msg.len;
        size_t take = len < want ? len : want;
        if (tt_buf_append(&es->msg, buf, take) != TT_OK) {
            /* Within the cap by construction: only OOM gets here. */
            es->failed = true;
            return TT_ERR_NOMEM;
        }
        buf += take;
        len -= take;
        if (in_prelude) {
            if (es->msg.len < TT_ES_PRELUDE)
                continue;           /* len is 0 now */
            int rc = tt_es_prelude(es);
            if (rc == TT_ERR_CAP) {
                result = TT_ERR_CAP;
                continue;
            }
            if (rc != TT_OK) {
                es->failed = true;
                return rc;
            }
            continue;
        }
        if (es->msg.len < es->total)
            continue;               /* len is 0 now */
        struct tt_es_msg m;
        if (tt_es_parse(es->msg.data, es->msg.len, &m) != TT_OK) {
            es->failed = true;
            return TT_ERR_PARSE;
        }
        int rc = cb ? cb(ud, &m) : TT_OK;
        tt_buf_reset(&es->msg);
        es->total = 0;
        if (rc < 0)
            return rc;
    }
    return result;
}

int tt_es_finish(const struct tt_es *es)
{
    if (es->failed)
        return TT_ERR_PARSE;
    if (es->msg.len > 0 || es->skipping)
        return TT_ERR_INCOMPLETE;
    return es->dropped ? TT_ERR_CAP : TT_OK;
}

static bool tt_es_is(const struct tt_es_str *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->ptr && s->len == n && memcmp(s->ptr, lit, n) == 0;
}

/* name = prefix + value, cut to fit namecap. */
static void tt_es_name(char *name, size_t namecap, size_t *name_len,
                       const char *prefix, const struct tt_es_str *v)
{
    size_t n = 0, pn = strlen(prefix);

    if (namecap == 0) {
        *name_len = 0;
        return;
    }
    pn = pn < namecap - 1 ? pn : namecap - 1;
    memcpy(name, prefix, pn);
    n = pn;
    if (v->ptr) {
        size_t vn = v->len < namecap - 1 - n ? v->len : namecap - 1 - n;
        memcpy(name + n, v->ptr, vn);
        n += vn;
    }
    name[n] = '\0';
    *name_len = n;
}

void tt_es_msg_event(const struct tt_es_msg *m, char *name, size_t namecap,
                     size_t *name_len, const char **data, size_t *data_len)
{
    if (tt_es_is(&m->message_type, "exception")) {
        tt_es_name(name, namecap, name_len, TT_ES_EXCEPTION_PREFIX,
                   &m->exception_type);
    } else if (tt_es_is(&m->message_type, "error")) {
        tt_es_name(name, namecap, name_len, TT_ES_ERROR_PREFIX,
                   &m->error_code);
        *data = m->error_message.ptr ? m->error_message.ptr : "";
        *data_len = m->error_message.len;
        return;
    } else {
        /* "event", absent, or a message type from the future: its
         * :event-type decides (a parser ignores names it does not know). */
        tt_es_name(name, namecap, name_len, "", &m->event_type);
    }
    *data = m->payload ? m->payload : "";
    *data_len = m->payload_len;
}
