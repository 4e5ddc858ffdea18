/* ws.c - WebSocket frame codec (see ws.h).
 *
 * In the preload zlib is not linked: inflate* resolve to the hidden shims
 * of dlshim.c, loaded on the first compressed message. */
#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#define WS_CHUNK (16 * 1024)
#define WS_DEFAULT_MAX ((size_t)8 << 20)

enum ws_state { WS_HEAD, WS_PAYLOAD };

/* --- extensions ------------------------------------------------------------ */

static bool ws_ows(char c) { return c == ' ' || c == '\t'; }

/* Trim p[0..*n) of spaces and quotes (a quoted-string parameter value). */
static const char *ws_trim(const char *p, size_t *n)
{
    while (*n && (ws_ows(*p) || *p == '"')) {
        p++;
        (*n)--;
    }
    while (*n && (ws_ows(p[*n - 1]) || p[*n - 1] == '"'))
        (*n)--;
    return p;
}

static int ws_bits(const char *v, size_t n, int *out)
{
    int x = 0;

    if (n == 0 || n > 2)
        return TT_ERR_PARSE;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return TT_ERR_PARSE;
        x = x * 10 + (v[i] - '0');
    }
    if (x < 8 || x > 15)
        return TT_ERR_PARSE;
    *out = x;
    return TT_OK;
}

int tt_ws_parse_extensions(const char *v, size_t n, struct tt_ws_ext *out)
{
    memset(out, 0, sizeof(*out));
    out->server_max_window_bits = 15;
    out->client_max_window_bits = 15;
    /* extension *( ";" param ) *( "," extension ... ) */
    while (n) {
        const char *comma = memchr(v, ',', n);
        size_t en = comma ? (size_t)(comma - v) : n;
        const char *e = v;
        size_t left = en;
        bool first = true, pmd = false;
        struct tt_ws_ext x = *out;

        while (left || first) {
            const char *semi = memchr(e, ';', left);
            size_t pn = semi ? (size_t)(semi - e) : left;
            const char *eq = memchr(e, '=', pn);
            size_t kn = eq ? (size_t)(eq - e) : pn;
            size_t vn = eq ? pn - kn - 1 : 0;
            const char *k = ws_trim(e, &kn);
            const char *val = eq ? ws_trim(eq + 1, &vn) : NULL;

            if (first) {
                pmd = tt_tok_ieq(k, kn, "permessage-deflate");
                first = false;
                if (!pmd)
                    break;
                x.deflate = true;
            } else if (tt_tok_ieq(k, kn, "server_no_context_takeover")) {
                x.server_no_context_takeover = true;
            } else if (tt_tok_ieq(k, kn, "client_no_context_takeover")) {
                x.client_no_context_takeover = true;
            } else if (tt_tok_ieq(k, kn, "server_max_window_bits")) {
                if (!val || ws_bits(val, vn, &x.server_max_window_bits) != TT_OK)
                    return TT_ERR_PARSE;
            } else if (tt_tok_ieq(k, kn, "client_max_window_bits")) {
                /* In a response the value is required; an offer may omit
                 * it (then 15). */
                if (val && ws_bits(val, vn, &x.client_max_window_bits) != TT_OK)
                    return TT_ERR_PARSE;
            } else if (kn) {
                return TT_ERR_PARSE;    /* RFC 7692 7.1: unknown parameter */
            }
            if (!semi)
                break;
            left -= pn + 1;
            e = semi + 1;
        }
        if (pmd) {
            *out = x;
            return TT_OK;
        }
        if (!comma)
            break;
        n -= en + 1;
        v = comma + 1;
    }
    return TT_OK;
}

/* --- codec ----------------------------------------------------------------- */

void tt_ws_init(struct tt_ws *w, size_t max_msg)
{
    memset(w, 0, sizeof(*w));
    w->max_msg = max_msg ? max_msg : WS_DEFAULT_MAX;
    w->state = WS_HEAD;
    w->hdr_need = 2;
    tt_buf_init(&w->msg, w->max_msg);
}

void tt_ws_set_deflate(struct tt_ws *w, bool on, bool no_context_takeover)
{
    w->deflate = on;
    w->no_context_takeover = no_context_takeover;
}

void tt_ws_free(struct tt_ws *w)
{
    if (!w)
        return;
    if (w->z) {
        inflateEnd(w->z);
        free(w->z);
        w->z = NULL;
    }
    free(w->zout);
    w->zout = NULL;
    tt_buf_free(&w->msg);
}

static int ws_fail(struct tt_ws *w, int err, const char *why)
{
    w->failed = true;
    w->err = err;
    w->why = why;
    return err;
}

/* Keep decoded message bytes, up to the cap. */
static void ws_keep(struct tt_ws *w, const void *p, size_t n)
{
    w->m_total += n;
    /* TT_ERR_CAP sets truncated; TT_ERR_NOMEM is read as truncated too. */
    if (!w->msg.truncated && tt_buf_append(&w->msg, p, n) == TT_ERR_NOMEM)
        w->msg.truncated = true;
}

/* Inflate compressed payload bytes of the current message. */
static int ws_inflate(struct tt_ws *w, const uint8_t *p, size_t n)
{
    z_stream *z = w->z;

    if (!z) {
        if (!(z = calloc(1, sizeof(*z))) || !(w->zout = malloc(WS_CHUNK))) {
            free(z);
            return ws_fail(w, TT_ERR_NOMEM, "out of memory");
        }
        /* Raw deflate; the largest window reads any smaller one. */
        if (inflateInit2(z, -15) != Z_OK) {
            free(z);
            return ws_fail(w, TT_ERR_UNSUPPORTED, "zlib unavailable");
        }
        w->z = z;
    }
    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)n;
    for (;;) {
        z->next_out = (Bytef *)w->zout;
        z->avail_out = WS_CHUNK;
        int rc = inflate(z, Z_SYNC_FLUSH);
        size_t got = WS_CHUNK - z->avail_out;
        if (got)
            ws_keep(w, w->zout, got);
        if (rc == Z_STREAM_END) {
            /* A final block (BFINAL): the sender starts afresh. */
            if (inflateReset(z) != Z_OK)
                return ws_fail(w, TT_ERR_PARSE, "deflate reset failed");
            if (!z->avail_in)
                return TT_OK;
            continue;
        }
        if (rc == Z_BUF_ERROR && !got)
            return TT_OK;           /* needs more input */
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return ws_fail(w, TT_ERR_PARSE, "corrupt permessage-deflate data");
        if (!z->avail_in && z->avail_out)
            return TT_OK;
    }
}

static int ws_payload(struct tt_ws *w, const uint8_t *p, size_t n)
{
    if (w->f_opcode >= 0x8) {
        memcpy(w->ctl + w->ctl_len, p, n);     /* <= 125 checked at head */
        w->ctl_len += n;
        return TT_OK;
    }
    if (w->m_compressed)
        return ws_inflate(w, p, n);
    ws_keep(w, p, n);
    return TT_OK;
}

static int ws_message_end(struct tt_ws *w, tt_ws_msg_cb cb, void *ud)
{
    static const uint8_t tail[4] = { 0x00, 0x00, 0xff, 0xff };
    int rc = TT_OK;

    if (w->m_compressed) {
        /* RFC 7692 7.2.2: the sender removed this empty block's tail. */
        if ((rc = ws_inflate(w, tail, sizeof(tail))) != TT_OK)
            return rc;
        if (w->no_context_takeover && inflateReset(w->z) != Z_OK)
            return ws_fail(w, TT_ERR_PARSE, "deflate reset failed");
    }
    struct tt_ws_msg m = {
        .opcode = w->m_opcode,
        .data = w->msg.data ? w->msg.data : "",
        .len = w->msg.len,
        .total = w->m_total,
        .truncated = w->msg.truncated || w->m_total > w->msg.len,
        .compressed = w->m_compressed,
        .frames = w->m_frames,
    };
    w->n_messages++;
    if (m.truncated)
        w->n_truncated++;
    if (cb)
        rc = cb(ud, &m);
    w->in_msg = false;
    w->m_total = 0;
    w->m_frames = 0;
    /* Keep the memory of an ordinary message for the next one; let a big
     * one go. */
    if (w->msg.cap > 64 * 1024)
        tt_buf_free(&w->msg);
    else
        tt_buf_reset(&w->msg);
    w->msg.truncated = false;
    w->msg.max = w->max_msg;
    if (rc < 0)
        return ws_fail(w, rc, "callback error");
    return TT_OK;
}

static int ws_frame_end(struct tt_ws *w, tt_ws_msg_cb cb, void *ud)
{
    if (w->f_opcode >= 0x8) {
        struct tt_ws_msg m = {
            .opcode = w->f_opcode, .data = (const char *)w->ctl,
            .len = w->ctl_len, .total = w->ctl_len, .frames = 1,
        };
        w->n_control++;
        if (w->f_opcode == TT_WS_CLOSE)
            w->closed = true;
        int rc = cb ? cb(ud, &m) : TT_OK;
        if (rc < 0)
            return ws_fail(w, rc, "callback error");
        return TT_OK;
    }
    if (w->f_fin)
        return ws_message_end(w, cb, ud);
    return TT_OK;
}

/* A complete frame head in w->hdr: check it and set up the payload. */
static int ws_head_done(struct tt_ws *w)
{
    const uint8_t *h = w->hdr;
    bool fin = h[0] & 0x80, rsv1 = h[0] & 0x40;
    int op = h[0] & 0x0f;
    uint64_t len = h[1] & 0x7f;
    size_t off = 2;

    if (h[0] & 0x30)
        return ws_fail(w, TT_ERR_PARSE, "reserved RSV2/RSV3 bit set");
    if ((op > 0x2 && op < 0x8) || op > 0xA)
        return ws_fail(w, TT_ERR_PARSE, "reserved opcode");
    if (len == 126) {
        len = (uint64_t)h[2] << 8 | h[3];
        off = 4;
    } else if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++)
            len = len << 8 | h[2 + i];
        off = 10;
        if (len >> 63)
            return ws_fail(w, TT_ERR_PARSE, "64-bit length with its top bit set");
    }
    w->masked = h[1] & 0x80;
    if (w->masked)
        memcpy(w->mask, h + off, 4);
    w->mask_off = 0;
    w->remaining = len;
    w->f_opcode = op;
    w->f_fin = fin;
    w->f_rsv1 = rsv1;
    if (op >= 0x8) {
        if (!fin || len > 125)
            return ws_fail(w, TT_ERR_PARSE,
                           "control frame fragmented or above 125 bytes");
        if (rsv1)
            return ws_fail(w, TT_ERR_PARSE, "RSV1 on a control frame");
        w->ctl_len = 0;
        return TT_OK;
    }
    if (op == TT_WS_CONT) {
        if (!w->in_msg)
            return ws_fail(w, TT_ERR_PARSE, "continuation frame with no message");
        if (rsv1)
            return ws_fail(w, TT_ERR_PARSE, "RSV1 on a continuation frame");
    } else {
        if (w->in_msg)
            return ws_fail(w, TT_ERR_PARSE, "new message inside a fragmented one");
        if (rsv1 && !w->deflate)
            return ws_fail(w, TT_ERR_PARSE, "RSV1 set without permessage-deflate");
        w->in_msg = true;
        w->m_opcode = op;
        w->m_compressed = rsv1;
        w->m_total = 0;
        w->m_frames = 0;
    }
    w->m_frames++;
    return TT_OK;
}

/* Header size once its first two bytes are known. */
static size_t ws_hdr_size(const uint8_t *h)
{
    size_t n = 2;
    unsigned l = h[1] & 0x7f;

    if (l == 126)
        n += 2;
    else if (l == 127)
        n += 8;
    if (h[1] & 0x80)
        n += 4;
    return n;
}

int tt_ws_feed(struct tt_ws *w, const void *buf, size_t n, tt_ws_msg_cb cb,
               void *ud)
{
    const uint8_t *p = buf;
    uint8_t tmp[4096];
    int rc;

    if (w->failed)
        return w->err;
    while (n && !w->closed) {
        if (w->state == WS_HEAD) {
            size_t k = w->hdr_need - w->hdr_len;
            if (k > n)
                k = n;
            memcpy(w->hdr + w->hdr_len, p, k);
            w->hdr_len += k;
            p += k;
            n -= k;
            if (w->hdr_len < w->hdr_need)
                continue;
            if (w->hdr_need == 2) {
                w->hdr_need = ws_hdr_size(w->hdr);
                if (w->hdr_len < w->hdr_need)
                    continue;
            }
            if ((rc = ws_head_done(w)) != TT_OK)
                return rc;
            w->hdr_len = 0;
            w->hdr_need = 2;
            w->state = WS_PAYLOAD;
            if (w->remaining == 0) {
                w->state = WS_HEAD;
                if ((rc = ws_frame_end(w, cb, ud)) != TT_OK)
                    return rc;
            }
            continue;
        }
        /* WS_PAYLOAD */
        size_t k = w->remaining < n ? (size_t)w->remaining : n;
        if (k > sizeof(tmp))
            k = sizeof(tmp);
        if (w->masked) {
            for (size_t i = 0; i < k; i++)
                tmp[i] = p[i] ^ w->mask[(w->mask_off + i) & 3];
            w->mask_off = (unsigned)((w->mask_off + k) & 3);
        } else {
            memcpy(tmp, p, k);
        }
        p += k;
        n -= k;
        w->remaining -= k;
        if ((rc = ws_payload(w, tmp, k)) != TT_OK)
            return rc;
        if (w->remaining == 0) {
            w->state = WS_HEAD;
            if ((rc = ws_frame_end(w, cb, ud)) != TT_OK)
                return rc;
        }
    }
    return TT_OK;
}

size_t tt_ws_frame_header(uint8_t *out, bool fin, bool rsv1, int opcode,
                          uint64_t len, const uint8_t mask[4])
{
    size_t n = 2;

    out[0] = (uint8_t)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        out[1] |= 0x80;
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}
