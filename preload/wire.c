/* wire.c - msgpack encoding of frames, reply parsing, rendezvous paths.
 *
 * Compiled into the preload, which must not link libmsgpackc: only the
 * header-inline packer of msgpack/pack.h is used (static inline functions
 * writing through a callback). Decoding here is a small hand-written reader
 * that never allocates. */
#include "wire.h"
#include "settings.h"

#include <errno.h>
#include <msgpack/pack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spanfield.h"

/* ---- encoding ------------------------------------------------------------ */

static int wire_write(void *data, const char *p, size_t n)
{
    struct tt_buf *b = data;

    /* A span is ~190 writes, most a few bytes, into a buffer reserved for
     * the whole frame (tt_wire_pack_spans): copied here when they fit
     * (room for the NUL too), tt_buf_append otherwise. */
    if (n < b->cap - b->len && n <= b->max - b->len) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
        b->data[b->len] = '\0';
        return 0;
    }
    /* tt_buf stores a prefix on TT_ERR_CAP; the caller rolls the whole frame
     * back, so any non-OK is simply a failure here. */
    return tt_buf_append(b, p, n) == TT_OK ? 0 : -1;
}

static int pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    if (msgpack_pack_str(pk, n) != 0)
        return -1;
    return msgpack_pack_str_body(pk, s, n);
}

static int pack_field(msgpack_packer *pk, const struct tt_span *s,
                      const struct tt_spanfield *f)
{
    if (pack_cstr(pk, f->name) != 0)
        return -1;
    if (!tt_sf_present(s, f))
        return msgpack_pack_nil(pk);
    switch (f->type) {
    case TT_SF_ID: return pack_cstr(pk, tt_sf_cid(s, f));
    case TT_SF_STR:
    case TT_SF_JSON: return pack_cstr(pk, tt_sf_str(s, f));
    case TT_SF_I64:
    case TT_SF_OPT_I64: return msgpack_pack_int64(pk, tt_sf_i64(s, f));
    case TT_SF_F64:
    case TT_SF_OPT_F64:
    case TT_SF_MS: return msgpack_pack_double(pk, tt_sf_f64(s, f));
    case TT_SF_BOOL:
        return tt_sf_bool(s, f->off) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    }
    return -1;
}

static int pack_span(msgpack_packer *pk, const struct tt_span *s)
{
    if (msgpack_pack_map(pk, tt_spanfields_n) != 0)
        return -1;
    for (size_t i = 0; i < tt_spanfields_n; i++)
        if (pack_field(pk, s, &tt_spanfields[i]) != 0)
            return -1;
    return 0;
}

/* Reserve the length prefix, let body() pack the payload, patch the prefix.
 * On any failure the buffer is restored to what it held before. */
static int pack_frame(struct tt_buf *out, int (*body)(msgpack_packer *, const void *),
                      const void *arg)
{
    static const unsigned char zero[4];
    size_t start = out->len;
    bool was_truncated = out->truncated;
    msgpack_packer pk;
    int rc = TT_ERR_CAP;

    if (tt_buf_append(out, zero, sizeof(zero)) != TT_OK)
        goto rollback;
    msgpack_packer_init(&pk, out, wire_write);
    if (body(&pk, arg) != 0)
        goto rollback;
    size_t n = out->len - start - 4;
    if (n == 0 || n > TT_WIRE_MAX_FRAME)
        goto rollback;
    unsigned char *p = (unsigned char *)out->data + start;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    return TT_OK;

rollback:
    /* Could be NOMEM as well as CAP; both mean "not encoded". */
    if (out->data && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    out->truncated = was_truncated;
    return rc;
}

struct spans_arg {
    const struct tt_span *const *spans;
    size_t n;
    uint64_t chunk;
};

static int spans_body(msgpack_packer *pk, const void *arg)
{
    const struct spans_arg *a = arg;

    if (msgpack_pack_map(pk, 4) != 0 ||
        pack_cstr(pk, "t") != 0 || pack_cstr(pk, "spans") != 0 ||
        pack_cstr(pk, "v") != 0 || msgpack_pack_int64(pk, TT_WIRE_VERSION) != 0 ||
        /* Fixed width: tt_wire_set_chunk numbers a packed frame later. */
        pack_cstr(pk, "chunk") != 0 || msgpack_pack_fix_uint64(pk, a->chunk) != 0 ||
        pack_cstr(pk, "spans") != 0 || msgpack_pack_array(pk, a->n) != 0)
        return -1;
    for (size_t i = 0; i < a->n; i++)
        if (pack_span(pk, a->spans[i]) != 0)
            return -1;
    return 0;
}

int tt_wire_pack_spans(const struct tt_span *const *spans, size_t n,
                       uint64_t chunk, struct tt_buf *out)
{
    struct spans_arg a = { spans, n, chunk };
    size_t need = 0;

    /* One allocation for the frame, not a doubling series from 256 bytes
     * (a span with content is ~15 KB): its content plus the rest. */
    for (size_t i = 0; i < n; i++) {
        const struct tt_span *s = spans[i];
        need += 2048 + (s->input ? strlen(s->input) : 0) +
                (s->output ? strlen(s->output) : 0) +
                (s->tool_calls ? strlen(s->tool_calls) : 0);
    }
    if (tt_buf_reserve(out, need) != TT_OK)
        return TT_ERR_NOMEM;
    return pack_frame(out, spans_body, &a);
}

int tt_wire_set_chunk(char *frame, size_t len, uint64_t chunk)
{
    static const char key[] = "\xa5" "chunk" "\xcf";   /* fixstr, uint 64 */
    size_t k = sizeof(key) - 1;

    /* The key sits among the first entries of the frame's map. */
    for (size_t i = 4; i + k + 8 <= len && i < 40; i++) {
        if (memcmp(frame + i, key, k))
            continue;
        unsigned char *p = (unsigned char *)frame + i + k;
        for (int b = 7; b >= 0; b--) {
            p[b] = (unsigned char)chunk;
            chunk >>= 8;
        }
        return TT_OK;
    }
    return TT_ERR_PARSE;
}

struct count_arg {
    const struct tt_wire_count *c;
    uint64_t chunk;
};

static int pack_opt_str(msgpack_packer *pk, const char *s)
{
    return s ? pack_cstr(pk, s) : msgpack_pack_nil(pk);
}

static int count_body(msgpack_packer *pk, const void *arg)
{
    const struct count_arg *a = arg;
    const struct tt_wire_count *c = a->c;

    return msgpack_pack_map(pk, 9) != 0 ||
           pack_cstr(pk, "t") != 0 || pack_cstr(pk, "count") != 0 ||
           pack_cstr(pk, "v") != 0 || msgpack_pack_int64(pk, TT_WIRE_VERSION) != 0 ||
           pack_cstr(pk, "chunk") != 0 || msgpack_pack_uint64(pk, a->chunk) != 0 ||
           pack_cstr(pk, "proc") != 0 || pack_cstr(pk, c->proc) != 0 ||
           pack_cstr(pk, "pid") != 0 || msgpack_pack_int64(pk, c->pid) != 0 ||
           pack_cstr(pk, "exe") != 0 || pack_opt_str(pk, c->exe) != 0 ||
           pack_cstr(pk, "lost") != 0 || msgpack_pack_uint64(pk, c->lost) != 0 ||
           pack_cstr(pk, "sampled_out") != 0 ||
           msgpack_pack_uint64(pk, c->sampled_out) != 0 ||
           pack_cstr(pk, "reason") != 0 || pack_opt_str(pk, c->reason) != 0
               ? -1 : 0;
}

int tt_wire_pack_count(const struct tt_wire_count *c, uint64_t chunk,
                       struct tt_buf *out)
{
    struct count_arg a = { c, chunk };

    if (!c->proc || !*c->proc)
        return TT_ERR;
    return pack_frame(out, count_body, &a);
}

static int ctl_body(msgpack_packer *pk, const void *arg)
{
    if (msgpack_pack_map(pk, 1) != 0 || pack_cstr(pk, "t") != 0)
        return -1;
    return pack_cstr(pk, arg);
}

int tt_wire_pack_ctl(const char *type, struct tt_buf *out)
{
    if (!type || !*type)
        return TT_ERR;
    return pack_frame(out, ctl_body, type);
}

/* ---- decoding ------------------------------------------------------------ */

enum mp_kind { MP_NIL, MP_BOOL, MP_UINT, MP_INT, MP_FLOAT, MP_STR, MP_BIN,
               MP_EXT, MP_ARRAY, MP_MAP };

struct mp_item {
    enum mp_kind kind;
    uint64_t u;              /* UINT, BOOL; element count for ARRAY/MAP */
    int64_t i;               /* INT (negative) */
    const unsigned char *p;  /* STR/BIN/EXT payload */
    size_t n;                /* payload length */
};

static uint64_t be(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t k = 0; k < n; k++)
        v = (v << 8) | p[k];
    return v;
}

/* Decode one header at b[*pos..len) and step over it (and over the payload
 * for STR/BIN/EXT; container elements are left for the caller). */
static int mp_next(const unsigned char *b, size_t len, size_t *pos, struct mp_item *it)
{
    size_t at = *pos, need = 0, plen = 0;
    unsigned c;

    if (at >= len)
        return TT_ERR_INCOMPLETE;
    c = b[at++];
    memset(it, 0, sizeof(*it));
    if (c <= 0x7f) {
        it->kind = MP_UINT;
        it->u = c;
    } else if (c >= 0xe0) {
        it->kind = MP_INT;
        it->i = (int8_t)c;
    } else if (c <= 0x8f) {
        it->kind = MP_MAP;
        it->u = c & 0x0f;
    } else if (c <= 0x9f) {
        it->kind = MP_ARRAY;
        it->u = c & 0x0f;
    } else if (c <= 0xbf) {
        it->kind = MP_STR;
        plen = c & 0x1f;
    } else {
        /* Sized formats: need = bytes of the header after c. */
        static const struct { unsigned char kind, hdr; } fmt[32] = {
            [0x00] = { MP_NIL, 0 },   [0x01] = { 255, 0 },
            [0x02] = { MP_BOOL, 0 },  [0x03] = { MP_BOOL, 0 },
            [0x04] = { MP_BIN, 1 },   [0x05] = { MP_BIN, 2 },  [0x06] = { MP_BIN, 4 },
            [0x07] = { MP_EXT, 1 },   [0x08] = { MP_EXT, 2 },  [0x09] = { MP_EXT, 4 },
            [0x0a] = { MP_FLOAT, 4 }, [0x0b] = { MP_FLOAT, 8 },
            [0x0c] = { MP_UINT, 1 },  [0x0d] = { MP_UINT, 2 },
            [0x0e] = { MP_UINT, 4 },  [0x0f] = { MP_UINT, 8 },
            [0x10] = { MP_INT, 1 },   [0x11] = { MP_INT, 2 },
            [0x12] = { MP_INT, 4 },   [0x13] = { MP_INT, 8 },
            [0x14] = { MP_EXT, 0 },   [0x15] = { MP_EXT, 0 },  [0x16] = { MP_EXT, 0 },
            [0x17] = { MP_EXT, 0 },   [0x18] = { MP_EXT, 0 },
            [0x19] = { MP_STR, 1 },   [0x1a] = { MP_STR, 2 },  [0x1b] = { MP_STR, 4 },
            [0x1c] = { MP_ARRAY, 2 }, [0x1d] = { MP_ARRAY, 4 },
            [0x1e] = { MP_MAP, 2 },   [0x1f] = { MP_MAP, 4 },
        };
        unsigned k = c - 0xc0;
        if (fmt[k].kind == 255)
            return TT_ERR_PARSE;    /* 0xc1 is never used */
        it->kind = fmt[k].kind;
        need = fmt[k].hdr;
        if (need > len - at)
            return TT_ERR_INCOMPLETE;
        uint64_t v = be(b + at, need);
        at += need;
        switch (it->kind) {
        case MP_BOOL: it->u = (c == 0xc3); break;
        case MP_UINT: it->u = v; break;
        case MP_INT:
            /* Sign-extend from the stored width. */
            if (need < 8 && (v >> (need * 8 - 1)) & 1)
                v |= ~(uint64_t)0 << (need * 8);
            it->i = (int64_t)v;
            break;
        case MP_FLOAT: it->u = v; it->n = need; break;
        case MP_STR:
        case MP_BIN: plen = (size_t)v; break;
        case MP_EXT:
            /* fixext 1..16 carry the size in the tag; ext8/16/32 in v. */
            plen = (k >= 0x14 && k <= 0x18) ? (size_t)1 << (k - 0x14) : (size_t)v;
            plen += 1;          /* the type byte */
            break;
        case MP_ARRAY:
        case MP_MAP: it->u = v; break;
        case MP_NIL: break;
        }
    }
    if (it->kind == MP_STR || it->kind == MP_BIN || it->kind == MP_EXT) {
        if (plen > len - at)
            return TT_ERR_INCOMPLETE;
        it->p = b + at;
        it->n = plen;
        at += plen;
    }
    *pos = at;
    return TT_OK;
}

int tt_wire_skip(const unsigned char *buf, size_t len, size_t *pos,
                 size_t max_objects)
{
    /* Iterative: `pending` counts objects still to read, so nesting costs no
     * stack; every pending object needs at least one byte, which bounds the
     * container counts by the bytes actually present. */
    uint64_t pending = 1, seen = 0;
    size_t at = *pos;
    struct mp_item it;

    while (pending > 0) {
        int rc = mp_next(buf, len, &at, &it);
        if (rc != TT_OK)
            return rc;
        pending--;
        if (++seen > max_objects)
            return TT_ERR_CAP;
        if (it.kind == MP_ARRAY || it.kind == MP_MAP) {
            uint64_t add = it.kind == MP_MAP ? it.u * 2 : it.u;
            if (pending + add > len - at)
                return (add > TT_WIRE_MAX_FRAME) ? TT_ERR_PARSE : TT_ERR_INCOMPLETE;
            pending += add;
        }
    }
    *pos = at;
    return TT_OK;
}

static bool key_is(const struct mp_item *k, const char *s)
{
    size_t n = strlen(s);

    return k->kind == MP_STR && k->n == n && memcmp(k->p, s, n) == 0;
}

int tt_wire_parse_reply(const unsigned char *buf, size_t len,
                        struct tt_wire_reply *out)
{
    struct mp_item m, k, v;
    size_t at = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    if ((rc = mp_next(buf, len, &at, &m)) != TT_OK)
        return rc;
    if (m.kind != MP_MAP)
        return TT_ERR_PARSE;
    for (uint64_t i = 0; i < m.u; i++) {
        if ((rc = mp_next(buf, len, &at, &k)) != TT_OK)
            return rc;
        size_t vstart = at;
        if ((rc = mp_next(buf, len, &at, &v)) != TT_OK)
            return rc;
        if (v.kind == MP_ARRAY || v.kind == MP_MAP) {
            at = vstart;
            if ((rc = tt_wire_skip(buf, len, &at, 4096)) != TT_OK)
                return rc;
            continue;
        }
        if (key_is(&k, "t") && v.kind == MP_STR) {
            size_t n = v.n < sizeof(out->t) - 1 ? v.n : sizeof(out->t) - 1;
            memcpy(out->t, v.p, n);
            out->t[n] = '\0';
        } else if (key_is(&k, "chunk") && v.kind == MP_UINT) {
            out->chunk = v.u;
        } else if (key_is(&k, "stored") && v.kind == MP_UINT) {
            out->stored = v.u > INT64_MAX ? INT64_MAX : (int64_t)v.u;
        } else if (key_is(&k, "rejected") && v.kind == MP_UINT) {
            out->rejected = v.u > INT64_MAX ? INT64_MAX : (int64_t)v.u;
        } else if (key_is(&k, "retry") && v.kind == MP_BOOL) {
            out->retry = v.u != 0;
        } else if (key_is(&k, "error") && v.kind == MP_STR) {
            size_t n = v.n < sizeof(out->error) - 1 ? v.n : sizeof(out->error) - 1;
            memcpy(out->error, v.p, n);
            out->error[n] = '\0';
        }
    }
    return out->t[0] ? TT_OK : TT_ERR_PARSE;
}

/* ---- rendezvous paths ---------------------------------------------------- */

static int fmt_path(char *buf, size_t n, const char *a, const char *b)
{
    int w = snprintf(buf, n, "%s%s", a, b);

    if (w < 0)
        return TT_ERR;
    return (size_t)w >= n ? TT_ERR_CAP : TT_OK;
}

int tt_wire_home_dir(char *buf, size_t n)
{
    /* The one definition of tokentap's home, for the preload (rt.c), the
     * daemon and the CLI alike. */
    const struct tt_settings *st = tt_settings();
    const char *e = st->home;

    if (e && *e)
        return fmt_path(buf, n, e, "");
    e = st->xdg_data_home;
    if (e && *e)
        return fmt_path(buf, n, e, "/tokentap");
    e = st->user_home;
    if (e && *e)
        return fmt_path(buf, n, e, "/.local/share/tokentap");
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "/tmp/tokentap-%u", (unsigned)getuid());
    return fmt_path(buf, n, tmp, "");
}

int tt_wire_socket_path(char *buf, size_t n)
{
    const char *e = tt_settings()->socket;
    int rc;

    if (e && *e)
        rc = fmt_path(buf, n, e, "");
    else {
        char home[4096];
        if ((rc = tt_wire_home_dir(home, sizeof(home))) != TT_OK)
            return rc;
        rc = fmt_path(buf, n, home, "/tokentapd.sock");
    }
    if (rc == TT_OK && strlen(buf) > TT_WIRE_SUN_PATH_MAX)
        rc = TT_ERR_CAP;
    return rc;
}

int tt_wire_spool_dir(char *buf, size_t n)
{
    const char *e = tt_settings()->spool;
    char home[4096];
    int rc;

    if (e && *e)
        return fmt_path(buf, n, e, "");
    rc = tt_wire_home_dir(home, sizeof(home));

    if (rc != TT_OK)
        return rc;
    return fmt_path(buf, n, home, "/spool");
}

int tt_wire_mkdirs(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(p))
        return TT_ERR_CAP;
    memcpy(p, dir, n + 1);
    /* Walk the components; existing ones keep their mode (a user's $HOME is
     * not ours to chmod). */
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char saved = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return TT_ERR_IO;
        p[i] = saved;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return TT_ERR_IO;
    return TT_OK;
}
