/* http1.c - incremental HTTP/1.1 message parser (one direction).
 *
 * A state machine over the bytes of one direction. Heads are found by
 * scanning for the blank line (CRLF or bare LF, as lenient as the clients
 * and servers we watch) and parsed in one go once complete: straight from
 * the caller's bytes when the whole head is in one feed, else from the head
 * buffer that collected its pieces. Bodies are handed on as slices of the
 * fed bytes, so a large body costs one callback per feed, never work per
 * byte. Chunked framing is parsed byte by byte, but its lines are short.
 *
 * Framing follows RFC 9112 section 6.3: no body for 1xx/204/304 and when the
 * caller says so (HEAD); Transfer-Encoding ending in chunked beats
 * Content-Length; a response with neither runs until the connection
 * closes; a request with neither has no body. */
#include "http1.h"

#include <stdlib.h>
#include <string.h>

enum {
    H1_HEAD = 0,        /* between messages or inside a head */
    H1_BODY_LEN,        /* Content-Length body, `remaining` bytes left */
    H1_BODY_CLOSE,      /* body delimited by the end of the connection */
    H1_CHUNK_SIZE,      /* chunk-size hex digits */
    H1_CHUNK_WS,        /* whitespace after the size */
    H1_CHUNK_EXT,       /* ;extensions, skipped up to the line end */
    H1_CHUNK_LF,        /* CR seen on the size line, LF expected */
    H1_CHUNK_DATA,      /* `remaining` chunk bytes left */
    H1_CHUNK_DATA_CR,   /* CRLF after the chunk data */
    H1_CHUNK_DATA_LF,
    H1_TRAILER,         /* trailer fields up to the blank line (skipped) */
    H1_TUNNEL,          /* the connection left HTTP/1 (101, CONNECT) */
};

/* line_state: where the current line stands, for blank-line detection. */
enum { LS_START = 0, LS_CR, LS_TEXT };

/* Returned by the head parser when it needs a writable copy of the head
 * (to unfold an obs-fold continuation line). Never leaves this file. */
#define H1_NEED_COPY 1

/* Chunk-size lines are a few bytes; a long one means we lost the framing. */
#define H1_MAX_CHUNK_LINE 4096

static bool h1_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
        (c >= '0' && c <= '9'))
        return true;
    switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*':
    case '+': case '-': case '.': case '^': case '_': case '`': case '|':
    case '~':
        return true;
    default:
        return false;
    }
}

static bool h1_is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static int h1_hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void tt_h1_init(struct tt_h1 *p, bool is_request)
{
    memset(p, 0, sizeof(*p));
    p->is_request = is_request;
    p->state = H1_HEAD;
}

void tt_h1_free(struct tt_h1 *p)
{
    if (!p)
        return;
    free(p->head);
    p->head = NULL;
    p->head_len = 0;
    p->head_cap = 0;
}

const struct tt_hdr *tt_h1_find(const struct tt_h1_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_headers; i++)
        if (tt_tok_ieq(h->headers[i].name, h->headers[i].name_len, name))
            return &h->headers[i];
    return NULL;
}

/* ---- head parsing -------------------------------------------------------- */

/* Next element of a comma-separated header list, trimmed; false at the end.
 * Empty elements ("a,,b") are skipped, as RFC 9110 section 5.6.1 asks. */
static bool h1_next_elem(const char **cur, const char *end, const char **tok,
                         size_t *tok_len)
{
    const char *s = *cur;

    while (s < end) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        const char *e = comma ? comma : end;
        const char *a = s, *b = e;
        while (a < b && h1_is_ws(*a))
            a++;
        while (b > a && h1_is_ws(b[-1]))
            b--;
        s = comma ? comma + 1 : end;
        if (a < b) {
            *cur = s;
            *tok = a;
            *tok_len = (size_t)(b - a);
            return true;
        }
    }
    *cur = end;
    return false;
}

/* What the head says about framing beyond struct tt_h1_head's fields. */
struct h1_framing {
    bool te_seen;         /* some Transfer-Encoding was sent */
    bool keep_alive;      /* Connection: keep-alive */
    bool close;           /* Connection: close */
};

/* Content-Length: digits, or a list of identical values (RFC 9110 8.6). */
static int h1_content_length(const char *v, size_t n, int64_t *cl)
{
    const char *cur = v, *tok;
    size_t tl;
    bool any = false;

    while (h1_next_elem(&cur, v + n, &tok, &tl)) {
        int64_t x = 0;
        for (size_t i = 0; i < tl; i++) {
            if (tok[i] < '0' || tok[i] > '9')
                return TT_ERR_PARSE;
            if (x > (INT64_MAX - 9) / 10)
                return TT_ERR_PARSE;
            x = x * 10 + (tok[i] - '0');
        }
        if (*cl >= 0 && *cl != x)
            return TT_ERR_PARSE;   /* conflicting lengths: framing unknown */
        *cl = x;
        any = true;
    }
    return any ? TT_OK : TT_ERR_PARSE;
}

/* Looks at the headers that decide framing. Runs on every header, also on
 * those past TT_H1_MAX_HEADERS that are not stored, so framing stays right. */
static int h1_framing_header(struct tt_h1_head *h, struct h1_framing *f,
                             const char *name, size_t nl, const char *v,
                             size_t vl)
{
    const char *cur = v, *tok;
    size_t tl;

    if (tt_tok_ieq(name, nl, "content-length"))
        return h1_content_length(v, vl, &h->content_length);
    if (tt_tok_ieq(name, nl, "transfer-encoding")) {
        /* Only a final "chunked" frames the body; the last header counts. */
        bool last_chunked = false;
        f->te_seen = true;
        while (h1_next_elem(&cur, v + vl, &tok, &tl))
            last_chunked = tt_tok_ieq(tok, tl, "chunked");
        h->chunked = last_chunked;
        return TT_OK;
    }
    if (tt_tok_ieq(name, nl, "connection")) {
        while (h1_next_elem(&cur, v + vl, &tok, &tl)) {
            if (tt_tok_ieq(tok, tl, "close"))
                f->close = true;
            else if (tt_tok_ieq(tok, tl, "keep-alive"))
                f->keep_alive = true;
        }
    }
    return TT_OK;
}

/* "HTTP/1.x" at s (at least 8 bytes available): minor version or -1. */
static int h1_version(const char *s, size_t n)
{
    if (n < 8 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9')
        return -1;
    return s[7] - '0';
}

/* Request line "METHOD SP target SP HTTP/1.x" (runs of SP tolerated). */
static int h1_request_line(const char *s, size_t n, struct tt_h1_head *h)
{
    size_t i = 0;

    while (i < n && h1_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i == n || s[i] != ' ')
        return TT_ERR_PARSE;
    h->method = s;
    h->method_len = i;
    while (i < n && s[i] == ' ')
        i++;
    size_t t = i;
    while (i < n && (unsigned char)s[i] > 0x20 && s[i] != 0x7f)
        i++;
    if (i == t || i == n || s[i] != ' ')
        return TT_ERR_PARSE;
    h->target = s + t;
    h->target_len = i - t;
    while (i < n && s[i] == ' ')
        i++;
    if (n - i != 8 || (h->minor_version = h1_version(s + i, 8)) < 0)
        return TT_ERR_PARSE;
    return TT_OK;
}

/* Status line "HTTP/1.x SP 3DIGIT [SP reason]". Some servers omit the
 * space before an empty reason; that is accepted. */
static int h1_status_line(const char *s, size_t n, struct tt_h1_head *h)
{
    size_t i = 8;

    if ((h->minor_version = h1_version(s, n)) < 0)
        return TT_ERR_PARSE;
    if (i == n || s[i] != ' ')
        return TT_ERR_PARSE;
    while (i < n && s[i] == ' ')
        i++;
    if (n - i < 3)
        return TT_ERR_PARSE;
    int st = 0;
    for (size_t k = 0; k < 3; k++) {
        if (s[i + k] < '0' || s[i + k] > '9')
            return TT_ERR_PARSE;
        st = st * 10 + (s[i + k] - '0');
    }
    i += 3;
    if (st < 100 || (i < n && s[i] != ' '))
        return TT_ERR_PARSE;
    h->status = st;
    while (i < n && s[i] == ' ')
        i++;
    h->reason = s + i;
    h->reason_len = n - i;
    return TT_OK;
}

/* One line of the head: [*pos, line end) without the CR, *pos moved past
 * the LF. The head is known to end in a blank line, so an LF exists. */
static int h1_line(const char *h, size_t n, size_t *pos, const char **line,
                   size_t *line_len)
{
    const char *s = h + *pos;
    const char *lf = memchr(s, '\n', n - *pos);
    size_t l;

    if (!lf)
        return TT_ERR_PARSE;
    l = (size_t)(lf - s);
    if (l > 0 && s[l - 1] == '\r')
        l--;
    if (memchr(s, '\r', l))
        return TT_ERR_PARSE;   /* bare CR: not a line we understand */
    *line = s;
    *line_len = l;
    *pos = (size_t)(lf - h) + 1;
    return TT_OK;
}

/* Parses a complete head (h, n: from the first line through the blank
 * line). mut is h made writable, or NULL when h is the caller's constant
 * bytes; unfolding obs-fold lines needs it (H1_NEED_COPY otherwise). */
static int h1_parse_head(const char *h, size_t n, char *mut, bool is_request,
                         struct tt_h1_head *hd, struct h1_framing *f)
{
    const char *line;
    size_t line_len, pos = 0;
    int rc;

    memset(hd, 0, offsetof(struct tt_h1_head, headers));
    hd->n_headers = 0;
    hd->content_length = -1;
    hd->chunked = false;
    hd->conn_close = false;
    memset(f, 0, sizeof(*f));
    hd->is_request = is_request;
    if (memchr(h, '\0', n))
        return TT_ERR_PARSE;   /* RFC 9110 5.5: NUL is never valid here */

    if ((rc = h1_line(h, n, &pos, &line, &line_len)) != TT_OK)
        return rc;
    rc = is_request ? h1_request_line(line, line_len, hd)
                    : h1_status_line(line, line_len, hd);
    if (rc != TT_OK)
        return rc;

    for (;;) {
        if ((rc = h1_line(h, n, &pos, &line, &line_len)) != TT_OK)
            return rc;
        if (line_len == 0)
            break;
        if (h1_is_ws(line[0]))
            return TT_ERR_PARSE;   /* continuation with nothing to continue */
        size_t i = 0;
        while (i < line_len && h1_is_tchar((unsigned char)line[i]))
            i++;
        if (i == 0 || i == line_len || line[i] != ':')
            return TT_ERR_PARSE;   /* also "Name :" (RFC 9112 5.1) */
        const char *name = line;
        size_t name_len = i++;
        while (i < line_len && h1_is_ws(line[i]))
            i++;
        const char *v = line + i;
        const char *vend = line + line_len;
        /* obs-fold (RFC 9112 5.2): a following line starting with SP/HT
         * continues this value; the CRLF between becomes spaces. */
        while (pos < n && h1_is_ws(h[pos])) {
            if (!mut)
                return H1_NEED_COPY;
            size_t from = (size_t)(vend - h);   /* the line end to blank */
            if ((rc = h1_line(h, n, &pos, &line, &line_len)) != TT_OK)
                return rc;
            memset(mut + from, ' ', (size_t)(line - h) - from);
            vend = line + line_len;
        }
        while (v < vend && h1_is_ws(*v))
            v++;
        while (vend > v && h1_is_ws(vend[-1]))
            vend--;
        size_t vlen = (size_t)(vend - v);
        if ((rc = h1_framing_header(hd, f, name, name_len, v, vlen)) != TT_OK)
            return rc;
        if (hd->n_headers < TT_H1_MAX_HEADERS) {
            /* Past the limit headers are dropped, not fatal: the head is
             * already bounded by TT_H1_MAX_HEAD and framing was read. */
            struct tt_hdr *x = &hd->headers[hd->n_headers++];
            x->name = name;
            x->name_len = name_len;
            x->value = v;
            x->value_len = vlen;
        }
    }
    hd->conn_close = f->close || (hd->minor_version == 0 && !f->keep_alive);
    return TT_OK;
}

/* ---- message life cycle ---------------------------------------------------- */

static void h1_reset_message(struct tt_h1 *p)
{
    p->state = H1_HEAD;
    p->head_len = 0;
    p->line_state = LS_START;
    p->remaining = 0;
    p->line_len = 0;
    p->chunk_digits = false;
    p->in_message = false;
}

/* The message is over: the parser is ready for the next one before the
 * callback runs, so a callback sees a consistent parser. */
static int h1_done(struct tt_h1 *p, bool complete,
                   const struct tt_h1_callbacks *cb, void *ud)
{
    int next = p->state == H1_TUNNEL ? H1_TUNNEL : H1_HEAD;

    h1_reset_message(p);
    p->state = next;
    if (!cb->on_done)
        return TT_OK;
    int rc = cb->on_done(ud, complete);
    return rc < 0 ? rc : TT_OK;
}

static void h1_chunk_start(struct tt_h1 *p)
{
    p->state = H1_CHUNK_SIZE;
    p->remaining = 0;
    p->line_len = 0;
    p->chunk_digits = false;
}

/* A complete head: report it and set up the body. */
static int h1_head_done(struct tt_h1 *p, const char *h, size_t n, char *mut,
                        const struct tt_h1_callbacks *cb, void *ud)
{
    struct tt_h1_head hd;
    struct h1_framing f;
    int rc = h1_parse_head(h, n, mut, p->is_request, &hd, &f);

    if (rc != TT_OK)
        return rc;
    if (p->is_request && f.te_seen && !hd.chunked)
        return TT_ERR_PARSE;   /* RFC 9112 6.3: request length unknowable */
    p->in_message = true;
    int want = cb->on_head ? cb->on_head(ud, &hd) : TT_H1_BODY;
    if (want < 0)
        return want;
    p->head_len = 0;
    p->line_state = LS_START;
    if (!p->is_request && hd.status < 200 && hd.status != 101)
        return TT_OK;          /* interim: the final head of this exchange follows */
    if ((!p->is_request && hd.status == 101) ||
        (p->is_request && tt_tok_ieq(hd.method, hd.method_len, "CONNECT"))) {
        p->state = H1_TUNNEL;
        return h1_done(p, true, cb, ud);
    }
    if (want == TT_H1_NO_BODY ||
        (!p->is_request && (hd.status == 204 || hd.status == 304)))
        return h1_done(p, true, cb, ud);
    if (hd.chunked) {
        h1_chunk_start(p);
        return TT_OK;
    }
    if (!f.te_seen && hd.content_length >= 0) {
        if (hd.content_length == 0)
            return h1_done(p, true, cb, ud);
        p->state = H1_BODY_LEN;
        p->remaining = hd.content_length;
        return TT_OK;
    }
    if (p->is_request)
        return h1_done(p, true, cb, ud);
    p->state = H1_BODY_CLOSE;
    return TT_OK;
}

static int h1_head_append(struct tt_h1 *p, const char *s, size_t n)
{
    if (n > p->head_cap - p->head_len) {
        size_t ncap = p->head_cap ? p->head_cap : 1024;
        while (ncap < p->head_len + n)
            ncap *= 2;
        if (ncap > TT_H1_MAX_HEAD)
            ncap = TT_H1_MAX_HEAD;   /* callers keep head_len + n within it */
        char *nh = realloc(p->head, ncap);
        if (!nh)
            return TT_ERR_NOMEM;
        p->head = nh;
        p->head_cap = ncap;
    }
    memcpy(p->head + p->head_len, s, n);
    p->head_len += n;
    return TT_OK;
}

/* Finds the blank line that ends a head or trailer section in buf and
 * returns the offset just past it, or 0 when it is not there yet. *ls
 * carries the state of the unfinished line across calls. */
static size_t h1_scan_end(const char *buf, size_t len, uint8_t *ls)
{
    size_t pos = 0;

    while (pos < len) {
        const char *lf = memchr(buf + pos, '\n', len - pos);
        size_t seg = (lf ? (size_t)(lf - buf) : len) - pos;
        bool only_cr = seg == 1 && buf[pos] == '\r';

        if (!lf) {
            *ls = (*ls == LS_START && only_cr) ? LS_CR : LS_TEXT;
            return 0;
        }
        if ((*ls == LS_START && (seg == 0 || only_cr)) ||
            (*ls == LS_CR && seg == 0))
            return (size_t)(lf - buf) + 1;
        *ls = LS_START;
        pos = (size_t)(lf - buf) + 1;
    }
    return 0;
}

/* Rejects bytes that cannot start a message as soon as they arrive, so a
 * TLS record or a binary protocol fails at once instead of filling the head
 * buffer while we wait for a line end. */
static int h1_check_start(const struct tt_h1 *p, const char *s, size_t n)
{
    char first[5];
    size_t have = 0;

    for (size_t i = 0; i < p->head_len && have < sizeof(first); i++)
        first[have++] = p->head[i];
    for (size_t i = 0; i < n && have < sizeof(first); i++)
        first[have++] = s[i];
    if (p->is_request)
        return h1_is_tchar((unsigned char)first[0]) ? TT_OK : TT_ERR_PARSE;
    return memcmp(first, "HTTP/", have) == 0 ? TT_OK : TT_ERR_PARSE;
}

static int h1_feed_head(struct tt_h1 *p, const char *buf, size_t len,
                        size_t *used, const struct tt_h1_callbacks *cb,
                        void *ud)
{
    size_t pos = 0;
    int rc;

    if (p->head_len == 0) {
        /* RFC 9112 2.2: ignore empty lines before a message (some clients
         * send CRLF after a body). */
        while (pos < len && (buf[pos] == '\r' || buf[pos] == '\n'))
            pos++;
        if (pos == len) {
            *used = len;
            return TT_OK;
        }
    }
    if (p->head_len < 5 && (rc = h1_check_start(p, buf + pos, len - pos)) != TT_OK)
        return rc;
    size_t room = TT_H1_MAX_HEAD - p->head_len;
    size_t avail = len - pos;
    size_t end = h1_scan_end(buf + pos, avail < room ? avail : room,
                             &p->line_state);
    if (!end) {
        if (avail > room)
            return TT_ERR_CAP;
        *used = len;
        return h1_head_append(p, buf + pos, avail);
    }
    *used = pos + end;
    if (p->head_len == 0) {
        /* The whole head is in this feed: parse it in place. */
        rc = h1_head_done(p, buf + pos, end, NULL, cb, ud);
        if (rc != H1_NEED_COPY)
            return rc;
    }
    if ((rc = h1_head_append(p, buf + pos, end)) != TT_OK)
        return rc;
    return h1_head_done(p, p->head, p->head_len, p->head, cb, ud);
}

/* Chunk-size line "HEX [BWS] [;ext] CRLF", carried across feeds. */
static int h1_feed_chunk_line(struct tt_h1 *p, const char *buf, size_t len,
                              size_t *used)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)buf[i];
        bool eol = false;

        if (++p->line_len > H1_MAX_CHUNK_LINE)
            return TT_ERR_PARSE;
        switch (p->state) {
        case H1_CHUNK_SIZE: {
            int v = h1_hexval(c);
            if (v >= 0) {
                if (p->remaining > (INT64_MAX >> 4))
                    return TT_ERR_PARSE;
                p->remaining = p->remaining * 16 + v;
                p->chunk_digits = true;
                break;
            }
            if (!p->chunk_digits)
                return TT_ERR_PARSE;
            /* The size ended: this byte is read as what follows it. */
            __attribute__((fallthrough));
        }
        case H1_CHUNK_WS:
            if (h1_is_ws((char)c))
                p->state = H1_CHUNK_WS;
            else if (c == ';')
                p->state = H1_CHUNK_EXT;
            else if (c == '\r')
                p->state = H1_CHUNK_LF;
            else if (c == '\n')
                eol = true;
            else
                return TT_ERR_PARSE;
            break;
        case H1_CHUNK_EXT:
            if (c == '\r')
                p->state = H1_CHUNK_LF;
            else if (c == '\n')
                eol = true;
            break;
        case H1_CHUNK_LF:
            if (c != '\n')
                return TT_ERR_PARSE;
            eol = true;
            break;
        default:
            return TT_ERR_PARSE;
        }
        if (eol) {
            *used = i + 1;
            p->line_len = 0;
            if (p->remaining == 0) {
                p->state = H1_TRAILER;
                p->line_state = LS_START;
            } else {
                p->state = H1_CHUNK_DATA;
            }
            return TT_OK;
        }
    }
    *used = len;
    return TT_OK;
}

/* One step of the state machine: consumes at least one byte of buf. */
static int h1_step(struct tt_h1 *p, const char *buf, size_t len, size_t *used,
                   const struct tt_h1_callbacks *cb, void *ud)
{
    int rc = TT_OK;

    switch (p->state) {
    case H1_HEAD:
        return h1_feed_head(p, buf, len, used, cb, ud);
    case H1_BODY_LEN:
    case H1_CHUNK_DATA: {
        size_t n = len;
        if ((uint64_t)n > (uint64_t)p->remaining)
            n = (size_t)p->remaining;
        *used = n;
        p->remaining -= (int64_t)n;
        if (cb->on_body && (rc = cb->on_body(ud, buf, n)) < 0)
            return rc;
        if (p->remaining > 0)
            return TT_OK;
        if (p->state == H1_BODY_LEN)
            return h1_done(p, true, cb, ud);
        p->state = H1_CHUNK_DATA_CR;
        return TT_OK;
    }
    case H1_BODY_CLOSE:
        *used = len;
        if (cb->on_body && (rc = cb->on_body(ud, buf, len)) < 0)
            return rc;
        return TT_OK;
    case H1_CHUNK_SIZE:
    case H1_CHUNK_WS:
    case H1_CHUNK_EXT:
    case H1_CHUNK_LF:
        return h1_feed_chunk_line(p, buf, len, used);
    case H1_CHUNK_DATA_CR:
    case H1_CHUNK_DATA_LF:
        *used = 1;
        if (buf[0] == '\n') {
            h1_chunk_start(p);
            return TT_OK;
        }
        if (buf[0] == '\r' && p->state == H1_CHUNK_DATA_CR) {
            p->state = H1_CHUNK_DATA_LF;
            return TT_OK;
        }
        return TT_ERR_PARSE;
    case H1_TRAILER: {
        /* Trailers are skipped: nothing downstream uses them, and they are
         * bounded like a head so a lost framing cannot go on forever. */
        size_t room = TT_H1_MAX_HEAD - p->line_len;
        size_t end = h1_scan_end(buf, len < room ? len : room, &p->line_state);
        if (!end) {
            if (len > room)
                return TT_ERR_CAP;
            p->line_len += len;
            *used = len;
            return TT_OK;
        }
        *used = end;
        return h1_done(p, true, cb, ud);
    }
    case H1_TUNNEL:
    default:
        /* Bytes of the protocol the connection switched to (WebSocket
         * after a 101): the caller's, when it asked for them. */
        *used = len;
        if (p->state == H1_TUNNEL && cb->on_tunnel) {
            int trc = cb->on_tunnel(ud, buf, len);
            return trc < 0 ? trc : TT_OK;
        }
        return TT_OK;
    }
}

int tt_h1_feed(struct tt_h1 *p, const char *buf, size_t len,
               const struct tt_h1_callbacks *cb, void *ud)
{
    size_t off = 0;

    if (p->failed)
        return p->err;
    while (off < len) {
        size_t used = 0;
        int rc = h1_step(p, buf + off, len - off, &used, cb, ud);
        if (rc < 0) {
            p->failed = true;
            p->err = rc;
            return rc;
        }
        if (used == 0) {
            /* Every step consumes; this guards the loop if one ever does not. */
            p->failed = true;
            p->err = TT_ERR;
            return TT_ERR;
        }
        off += used;
    }
    return TT_OK;
}

int tt_h1_eof(struct tt_h1 *p, const struct tt_h1_callbacks *cb, void *ud)
{
    int rc = TT_OK;

    if (p->failed)
        return TT_OK;
    if (p->in_message)
        rc = h1_done(p, p->state == H1_BODY_CLOSE, cb, ud);
    /* A partial head that was never reported is dropped silently: the
     * caller never heard of that message. */
    h1_reset_message(p);
    if (rc < 0) {
        p->failed = true;
        p->err = rc;
    }
    return rc;
}
