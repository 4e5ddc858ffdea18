/* http2.c - HTTP/2 frames and HPACK, client side, driving exchanges.
 *
 * Two resumable frame parsers (one per direction) walk the bytes as they
 * come, whatever the split: a frame's payload is never buffered except for
 * the few fixed fields tokentap reads (pad length, priority, RST_STREAM and
 * GOAWAY codes, SETTINGS entries) and header block fragments, which are
 * collected until END_HEADERS (capped) and then inflated. DATA payloads go
 * to the exchange straight from the caller's buffer, or are stepped over.
 *
 * Every header block of a direction goes through that direction's HPACK
 * inflater in order, traced stream or not: the dynamic table is connection
 * state, and skipping one block would garble every later one. */
#include "http2.h"
#include "api.h"
#include "exchange.h"
#include "provider.h"
#include "rt.h"
#include "tt.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define H2_HDR_LEN 9
#define H2_MAX_BLOCK (64u << 10)       /* header block, compressed */
#define H2_MAX_DECODED (128u << 10)    /* header fields kept from one block */
#define H2_MAX_FIELDS 128

enum {
    F_DATA = 0, F_HEADERS = 1, F_PRIORITY = 2, F_RST_STREAM = 3,
    F_SETTINGS = 4, F_PUSH_PROMISE = 5, F_PING = 6, F_GOAWAY = 7,
    F_WINDOW_UPDATE = 8, F_CONTINUATION = 9,
};

enum {
    FL_END_STREAM = 0x1, FL_ACK = 0x1, FL_END_HEADERS = 0x4,
    FL_PADDED = 0x8, FL_PRIORITY = 0x20,
};

#define SETTINGS_HEADER_TABLE_SIZE 0x1

static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN (sizeof(preface) - 1)

enum h2_state { H2_NEW, H2_LLM, H2_NOT_LLM };

struct h2_stream {
    uint32_t id;
    struct tt_exchange *ex;
    bool req_ended;
    bool resp_head;         /* final (non-1xx) response head seen */
    bool resp_body;         /* the exchange wants the response body */
};

/* One decoded header field: offsets into h2_fields.store (which may move
 * while it grows). */
struct h2_field {
    size_t name_off, name_len, value_off, value_len;
};

struct h2_fields {
    struct tt_buf store;
    struct h2_field f[H2_MAX_FIELDS];
    size_t n;
};

/* One direction's parser. */
struct h2_dir {
    bool from_client;
    size_t preface_have;        /* client: preface bytes matched so far */
    bool seen_settings;         /* the first frame must be SETTINGS */
    nghttp2_hd_inflater *inflater;  /* created at the first header block */
    size_t table_max;           /* SETTINGS_HEADER_TABLE_SIZE applied */

    /* The frame being read. */
    uint8_t hdr[H2_HDR_LEN];
    size_t hdr_have;
    bool in_frame;
    uint32_t len, off;          /* payload length, payload bytes consumed */
    uint8_t type, flags;
    uint32_t sid;
    uint32_t pad;               /* padding at the end of the payload */
    uint32_t prefix;            /* fixed fields after the pad length */
    uint8_t fix[8];             /* fixed fields / control payload read */
    uint32_t fix_have;

    /* The header block being collected (HEADERS/PUSH_PROMISE +
     * CONTINUATION); no other frame may come between its frames. */
    struct tt_buf block;
    bool in_block;
    uint32_t block_sid;
    uint8_t block_type;
    bool block_end_stream;
};

struct tt_h2 {
    char *sni;
    enum h2_state state;
    bool has_llm;
    int failed;                 /* first error, returned from then on */
    int64_t now;
    struct h2_dir dir[2];       /* [1]: from the client */
    uint32_t last_client_sid;   /* highest stream the client opened */
    struct h2_stream streams[TT_H2_MAX_STREAMS];
    size_t n_streams;
    uint64_t n_untraced;        /* LLM streams over TT_H2_MAX_STREAMS */
    struct h2_fields fields;    /* scratch for the block being inflated */
};

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

struct tt_h2 *tt_h2_new(const char *sni)
{
    struct tt_h2 *h = calloc(1, sizeof(*h));

    if (!h)
        return NULL;
    if (sni && !(h->sni = tt_strndup(sni, strlen(sni)))) {
        free(h);
        return NULL;
    }
    for (int i = 0; i < 2; i++) {
        h->dir[i].from_client = i == 1;
        h->dir[i].table_max = 4096;     /* RFC 7541's initial table size */
        tt_buf_init(&h->dir[i].block, H2_MAX_BLOCK);
    }
    tt_buf_init(&h->fields.store, H2_MAX_DECODED);
    return h;
}

bool tt_h2_has_llm(const struct tt_h2 *h)
{
    return h && h->has_llm;
}

bool tt_h2_not_llm(const struct tt_h2 *h)
{
    return h && h->state == H2_NOT_LLM;
}

/* --- streams ------------------------------------------------------------- */

static struct h2_stream *stream_find(struct tt_h2 *h, uint32_t sid)
{
    for (size_t i = 0; i < h->n_streams; i++)
        if (h->streams[i].id == sid)
            return &h->streams[i];
    return NULL;
}

/* End the stream's exchange (it delivers the span) and forget it. */
static void stream_close(struct tt_h2 *h, struct h2_stream *s, bool complete,
                         const char *why)
{
    tt_ex_end(s->ex, complete, why, h->now);
    *s = h->streams[--h->n_streams];
}

static const char *h2_error_name(uint32_t code)
{
    static const char *const names[] = {
        "NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
        "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR",
        "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR",
        "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
    };
    return code < sizeof(names) / sizeof(*names) ? names[code] : "unknown";
}

static void stream_reset(struct tt_h2 *h, bool by_client, uint32_t sid,
                         uint32_t code)
{
    struct h2_stream *s = stream_find(h, sid);
    char why[128];

    if (!s)
        return;
    snprintf(why, sizeof(why),
             "HTTP/2 stream reset by the %s (error code %u: %s)",
             by_client ? "client" : "server", (unsigned)code, h2_error_name(code));
    stream_close(h, s, false, why);
}

/* Server GOAWAY: streams above last_sid were never processed. */
static void goaway(struct tt_h2 *h, uint32_t last_sid)
{
    for (size_t i = 0; i < h->n_streams;) {
        if (h->streams[i].id > last_sid)
            stream_close(h, &h->streams[i], false,
                         "HTTP/2 GOAWAY: stream not processed");
        else
            i++;
    }
}

/* --- header blocks ------------------------------------------------------- */

/* Where a kept string starts (the store is NULL while only empty
 * strings were kept). */
static const char *field_at(const struct h2_fields *fs, size_t off)
{
    return fs->store.data ? fs->store.data + off : "";
}

static bool field_is(const struct h2_fields *fs, const struct h2_field *f,
                     const char *name)
{
    return tt_tok_ieq(field_at(fs, f->name_off), f->name_len, name);
}

/* The value of the first field called `name`, or NULL. */
static const char *field_get(const struct h2_fields *fs, const char *name,
                             size_t *len)
{
    for (size_t i = 0; i < fs->n; i++) {
        if (field_is(fs, &fs->f[i], name)) {
            *len = fs->f[i].value_len;
            return field_at(fs, fs->f[i].value_off);
        }
    }
    return NULL;
}

/* Keep one emitted field. The inflater's strings live only until its next
 * call, so they are copied. Past the caps, fields are dropped: what
 * tokentap reads (pseudo-headers, content type and encoding) come first in
 * any sane block. */
static void field_keep(struct h2_fields *fs, const nghttp2_nv *nv)
{
    struct tt_buf *b = &fs->store;
    size_t start = b->len;

    if (fs->n >= H2_MAX_FIELDS || b->truncated)
        return;
    if (tt_buf_append(b, nv->name, nv->namelen) != TT_OK ||
        tt_buf_append(b, nv->value, nv->valuelen) != TT_OK) {
        b->len = start;     /* a cut field is worse than none */
        b->truncated = true;
        return;
    }
    fs->f[fs->n++] = (struct h2_field){
        .name_off = start, .name_len = nv->namelen,
        .value_off = start + nv->namelen, .value_len = nv->valuelen,
    };
}

/* Inflate the collected block; keep its fields in h->fields when `keep`. */
static int block_inflate(struct tt_h2 *h, struct h2_dir *d, bool keep)
{
    const uint8_t *in = (const uint8_t *)(d->block.data ? d->block.data : "");
    size_t left = d->block.len;

    h->fields.n = 0;
    tt_buf_reset(&h->fields.store);
    h->fields.store.truncated = false;
    if (!d->inflater) {
        int rc = nghttp2_hd_inflate_new(&d->inflater);
        if (rc != 0) {
            d->inflater = NULL;
            tt_log("HTTP/2 header decoding unavailable (libnghttp2: %d); "
                   "connection not traced", rc);
            return rc == NGHTTP2_ERR_NOMEM ? TT_ERR_NOMEM : TT_ERR_UNSUPPORTED;
        }
        if (d->table_max != 4096 &&
            nghttp2_hd_inflate_change_table_size(d->inflater, d->table_max) != 0)
            return TT_ERR_PARSE;
    }
    for (;;) {
        nghttp2_nv nv;
        int flags = 0;
        ssize_t rv = nghttp2_hd_inflate_hd2(d->inflater, &nv, &flags, in, left, 1);
        if (rv < 0)
            return rv == NGHTTP2_ERR_NOMEM ? TT_ERR_NOMEM : TT_ERR_PARSE;
        in += rv;
        left -= (size_t)rv;
        if ((flags & NGHTTP2_HD_INFLATE_EMIT) && keep)
            field_keep(&h->fields, &nv);
        if (flags & NGHTTP2_HD_INFLATE_FINAL)
            break;
        if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0)
            return TT_ERR_PARSE;    /* in_final set, yet no end: corrupt */
    }
    nghttp2_hd_inflate_end_headers(d->inflater);
    return TT_OK;
}

/* A client HEADERS block opened stream sid: the same decision as
 * conn.c's req_on_head for an HTTP/1.1 request head. */
static void request_open(struct tt_h2 *h, uint32_t sid)
{
    const struct h2_fields *fs = &h->fields;
    size_t method_len = 0, path_len = 0, host_len = 0;
    const char *method = field_get(fs, ":method", &method_len);
    const char *path = field_get(fs, ":path", &path_len);
    const char *host = field_get(fs, ":authority", &host_len);

    if (!host)
        host = field_get(fs, "host", &host_len);
    if (!host && h->sni) {
        host = h->sni;
        host_len = strlen(h->sni);
    }
    if (!method || !path)
        return;     /* CONNECT or malformed: nothing to trace */
    const char *provider = host ? tt_provider_for_host(host, host_len) : NULL;
    const struct tt_api_ops *api = tt_api_match(method, method_len, path, path_len);
    /* A known API path on any host is a call; a known LLM host with another
     * path is an LLM connection whose other streams are only followed. */
    if (h->state == H2_NEW)
        h->state = provider || api ? H2_LLM : H2_NOT_LLM;
    if (!provider && !api)
        return;
    h->has_llm = true;
    if (!api)
        return;     /* followed, not traced: DATA on it is stepped over */
    /* h2 over plain TCP (prior knowledge) reaches this module only
     * through TLS hooks today; HTTP/2 here means TLS. */
    provider = tt_provider_resolve(provider, api, true);
    if (!tt_rt_ready())
        return;
    if (h->n_streams >= TT_H2_MAX_STREAMS) {
        if (h->n_untraced++ == 0)
            tt_log("more than %d HTTP/2 streams open on one connection; "
                   "the extra ones are not traced", TT_H2_MAX_STREAMS);
        return;
    }
    struct tt_ex_request r = {
        .api = api, .provider = provider,
        .host = host ? host : "", .host_len = host ? host_len : 0,
        .method = method, .method_len = method_len,
        .target = path, .target_len = path_len,
        .http_version = "2", .tls = true,
    };
    struct tt_exchange *ex = tt_ex_new(&r, h->now);
    if (!ex) {
        tt_log("out of memory: an HTTP/2 stream is not traced");
        return;
    }
    h->streams[h->n_streams++] = (struct h2_stream){ .id = sid, .ex = ex };
}

/* A server HEADERS block on a traced stream still waiting for its head. */
static void response_head(struct tt_h2 *h, struct h2_stream *s)
{
    const struct h2_fields *fs = &h->fields;
    struct tt_hdr hdrs[H2_MAX_FIELDS];
    size_t n = 0, status_len = 0;
    const char *st = field_get(fs, ":status", &status_len);
    int status = 0;

    if (!st || status_len != 3)
        return;     /* not a response head (or malformed): wait for one */
    for (size_t i = 0; i < 3; i++) {
        if (st[i] < '0' || st[i] > '9')
            return;
        status = status * 10 + (st[i] - '0');
    }
    if (status < 200)
        return;     /* 1xx: informational, the final head follows */
    for (size_t i = 0; i < fs->n; i++) {
        const struct h2_field *f = &fs->f[i];
        if (f->name_len && *field_at(fs, f->name_off) == ':')
            continue;
        hdrs[n++] = (struct tt_hdr){
            .name = field_at(fs, f->name_off), .name_len = f->name_len,
            .value = field_at(fs, f->value_off), .value_len = f->value_len,
        };
    }
    s->resp_head = true;
    s->resp_body = tt_ex_resp_head(s->ex, status, hdrs, n, h->now);
    /* The exchange closes the request when the response begins; request
     * DATA still in flight would only be copied to be ignored. */
    s->req_ended = true;
}

static void end_stream(struct tt_h2 *h, bool from_client, uint32_t sid)
{
    struct h2_stream *s = stream_find(h, sid);

    if (!s)
        return;
    if (from_client) {
        if (!s->req_ended)
            tt_ex_req_end(s->ex, h->now);
        s->req_ended = true;
    } else {
        stream_close(h, s, true, NULL);
    }
}

/* END_HEADERS: decode the block, then act on it. */
static int block_done(struct tt_h2 *h, struct h2_dir *d)
{
    uint32_t sid = d->block_sid;
    struct h2_stream *s = stream_find(h, sid);
    bool opens = d->from_client && d->block_type == F_HEADERS &&
                 (sid & 1) && sid > h->last_client_sid;
    bool head = !d->from_client && d->block_type == F_HEADERS && s &&
                !s->resp_head;
    int rc;

    d->in_block = false;
    rc = block_inflate(h, d, opens || head);
    tt_buf_reset(&d->block);
    if (rc != TT_OK)
        return rc;
    if (opens) {
        h->last_client_sid = sid;
        request_open(h, sid);
    } else if (head) {
        response_head(h, s);
    }
    /* Anything else (trailers, pushed requests, untraced streams) was
     * decoded only to keep the dynamic table in step. */
    if (d->block_type == F_HEADERS && d->block_end_stream)
        end_stream(h, d->from_client, sid);
    return TT_OK;
}

/* --- frames -------------------------------------------------------------- */

/* The 9-byte header is complete: check it and set up the payload walk. */
static int frame_begin(struct h2_dir *d)
{
    const uint8_t *p = d->hdr;
    bool padded;

    d->len = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
    d->type = p[3];
    d->flags = p[4];
    d->sid = be32(p + 5) & 0x7fffffffu;
    d->off = d->pad = d->prefix = d->fix_have = 0;
    /* The 24-bit length caps a frame at 16 MiB - 1: no larger one can be
     * announced, and none is buffered whole anyway. */
    if (!d->seen_settings) {
        /* RFC 9113 3.4: each side's preface ends with a SETTINGS frame. */
        if (d->type != F_SETTINGS)
            return TT_ERR_PARSE;
        d->seen_settings = true;
    }
    if (d->in_block && (d->type != F_CONTINUATION || d->sid != d->block_sid))
        return TT_ERR_PARSE;
    switch (d->type) {
    case F_DATA:
        padded = d->flags & FL_PADDED;
        if (!d->sid)
            return TT_ERR_PARSE;
        break;
    case F_HEADERS:
        padded = d->flags & FL_PADDED;
        d->prefix = (d->flags & FL_PRIORITY) ? 5 : 0;
        if (!d->sid)
            return TT_ERR_PARSE;
        break;
    case F_PUSH_PROMISE:
        padded = d->flags & FL_PADDED;
        d->prefix = 4;
        if (!d->sid || d->from_client)
            return TT_ERR_PARSE;
        break;
    case F_CONTINUATION:
        padded = false;
        if (!d->in_block)
            return TT_ERR_PARSE;
        break;
    case F_PRIORITY:
        padded = false;
        if (!d->sid || d->len != 5)
            return TT_ERR_PARSE;
        break;
    case F_RST_STREAM:
        padded = false;
        if (!d->sid || d->len != 4)
            return TT_ERR_PARSE;
        break;
    case F_SETTINGS:
        padded = false;
        if (d->sid || d->len % 6 || ((d->flags & FL_ACK) && d->len))
            return TT_ERR_PARSE;
        break;
    case F_PING:
        padded = false;
        if (d->sid || d->len != 8)
            return TT_ERR_PARSE;
        break;
    case F_GOAWAY:
        padded = false;
        if (d->sid || d->len < 8)
            return TT_ERR_PARSE;
        break;
    case F_WINDOW_UPDATE:
        padded = false;
        if (d->len != 4)
            return TT_ERR_PARSE;
        break;
    default:
        padded = false;     /* unknown types are stepped over (RFC 9113 4.1) */
        break;
    }
    if (padded) {
        /* The pad length byte is read first; pad stays unset until then. */
        if (d->len < 1 + d->prefix)
            return TT_ERR_PARSE;
    } else if (d->len < d->prefix) {
        return TT_ERR_PARSE;
    }
    if (d->type == F_HEADERS || d->type == F_PUSH_PROMISE) {
        d->in_block = true;
        d->block_sid = d->sid;
        d->block_type = d->type;
        d->block_end_stream = d->type == F_HEADERS && (d->flags & FL_END_STREAM);
        tt_buf_reset(&d->block);
        d->block.truncated = false;
    }
    return TT_OK;
}

static bool frame_padded(const struct h2_dir *d)
{
    return (d->type == F_DATA || d->type == F_HEADERS ||
            d->type == F_PUSH_PROMISE) && (d->flags & FL_PADDED);
}

/* Content bytes of the frame (padding, pad length and fixed prefix
 * excluded). p points into the caller's buffer. */
static int frame_content(struct tt_h2 *h, struct h2_dir *d, const char *p,
                         size_t n)
{
    switch (d->type) {
    case F_DATA: {
        struct h2_stream *s = stream_find(h, d->sid);
        if (!s)
            return TT_OK;       /* not traced: stepped over, not copied */
        if (d->from_client && !s->req_ended)
            tt_ex_req_body(s->ex, p, n);
        else if (!d->from_client && s->resp_head && s->resp_body)
            tt_ex_resp_body(s->ex, p, n, h->now);
        return TT_OK;
    }
    case F_HEADERS:
    case F_PUSH_PROMISE:
    case F_CONTINUATION:
        /* Past the cap the block cannot be decoded, and without it the
         * dynamic table is lost for the rest of the connection. */
        if (tt_buf_append(&d->block, p, n) != TT_OK) {
            tt_log("HTTP/2 header block above %u KiB; connection not traced",
                   H2_MAX_BLOCK >> 10);
            return TT_ERR_CAP;
        }
        return TT_OK;
    case F_SETTINGS:
        while (n) {
            size_t k = 6 - d->fix_have < n ? 6 - d->fix_have : n;
            memcpy(d->fix + d->fix_have, p, k);
            d->fix_have += (uint32_t)k;
            p += k;
            n -= k;
            if (d->fix_have < 6)
                break;
            d->fix_have = 0;
            /* This side's decoder accepts a larger table: the other
             * side's encoder may use it, so the inflater decoding the
             * other direction must allow it. Smaller sizes are not
             * applied: the encoder announces them in-band anyway. */
            if (((uint32_t)d->fix[0] << 8 | d->fix[1]) == SETTINGS_HEADER_TABLE_SIZE) {
                struct h2_dir *o = &h->dir[d->from_client ? 0 : 1];
                uint32_t v = be32(d->fix + 2);
                if (v > o->table_max) {
                    o->table_max = v;
                    if (o->inflater &&
                        nghttp2_hd_inflate_change_table_size(o->inflater, v) != 0)
                        return TT_ERR_PARSE;
                }
            }
        }
        return TT_OK;
    case F_RST_STREAM:
    case F_GOAWAY: {
        size_t k = sizeof(d->fix) - d->fix_have;
        if (k > n)
            k = n;
        memcpy(d->fix + d->fix_have, p, k);   /* GOAWAY debug data dropped */
        d->fix_have += (uint32_t)k;
        return TT_OK;
    }
    default:
        return TT_OK;
    }
}

/* The whole payload has been read. */
static int frame_end(struct tt_h2 *h, struct h2_dir *d)
{
    d->in_frame = false;
    d->hdr_have = 0;
    switch (d->type) {
    case F_DATA:
        if (d->flags & FL_END_STREAM)
            end_stream(h, d->from_client, d->sid);
        return TT_OK;
    case F_HEADERS:
    case F_PUSH_PROMISE:
    case F_CONTINUATION:
        return (d->flags & FL_END_HEADERS) ? block_done(h, d) : TT_OK;
    case F_RST_STREAM:
        stream_reset(h, d->from_client, d->sid, be32(d->fix));
        return TT_OK;
    case F_GOAWAY:
        /* A client's GOAWAY speaks of server-pushed streams only. */
        if (!d->from_client)
            goaway(h, be32(d->fix) & 0x7fffffffu);
        return TT_OK;
    default:
        return TT_OK;
    }
}

static int dir_feed(struct tt_h2 *h, struct h2_dir *d, const char *buf, size_t n)
{
    const char *p = buf, *end = buf + n;
    int rc;

    if (d->from_client && d->preface_have < PREFACE_LEN) {
        size_t k = PREFACE_LEN - d->preface_have;
        if (k > n)
            k = n;
        if (memcmp(p, preface + d->preface_have, k))
            return TT_ERR_PARSE;
        d->preface_have += k;
        p += k;
    }
    while (p < end) {
        if (!d->in_frame) {
            size_t k = H2_HDR_LEN - d->hdr_have;
            if (k > (size_t)(end - p))
                k = (size_t)(end - p);
            memcpy(d->hdr + d->hdr_have, p, k);
            d->hdr_have += k;
            p += k;
            if (d->hdr_have < H2_HDR_LEN)
                break;
            if ((rc = frame_begin(d)) != TT_OK)
                return rc;
            d->in_frame = true;
        }
        /* Payload layout: [pad length] [prefix] content [padding]. */
        bool padded = frame_padded(d);
        uint32_t head = padded ? 1 : 0;
        if (padded && d->off == 0) {
            if (p == end)
                break;
            d->pad = (uint8_t)*p++;
            d->off = 1;
            if (d->pad > d->len - 1 - d->prefix)
                return TT_ERR_PARSE;    /* padding longer than the payload */
        }
        size_t avail = (size_t)(end - p);
        uint32_t cstart = head + d->prefix, cend = d->len - d->pad;
        size_t k;
        if (d->off < cstart) {
            k = cstart - d->off;        /* priority / promised id: unused */
        } else if (d->off < cend) {
            k = cend - d->off;
            if (k > avail)
                k = avail;
            if ((rc = frame_content(h, d, p, k)) != TT_OK)
                return rc;
        } else {
            k = d->len - d->off;        /* padding */
        }
        if (k > avail)
            k = avail;
        p += k;
        d->off += (uint32_t)k;
        if (d->off == d->len && (rc = frame_end(h, d)) != TT_OK)
            return rc;
    }
    return TT_OK;
}

int tt_h2_feed(struct tt_h2 *h, bool from_client, const char *buf, size_t n,
               int64_t now)
{
    if (!h)
        return TT_ERR;
    if (h->failed)
        return h->failed;
    if (n == 0)
        return TT_OK;
    h->now = now;
    int rc = dir_feed(h, &h->dir[from_client ? 1 : 0], buf, n);
    if (rc != TT_OK)
        h->failed = rc;
    return rc;
}

void tt_h2_free(struct tt_h2 *h, const char *why, int64_t now)
{
    if (!h)
        return;
    h->now = now;
    while (h->n_streams)
        stream_close(h, &h->streams[h->n_streams - 1], false,
                     why ? why : "HTTP/2 connection closed before the response ended");
    for (int i = 0; i < 2; i++) {
        if (h->dir[i].inflater)
            nghttp2_hd_inflate_del(h->dir[i].inflater);
        tt_buf_free(&h->dir[i].block);
    }
    tt_buf_free(&h->fields.store);
    free(h->sni);
    free(h);
}
