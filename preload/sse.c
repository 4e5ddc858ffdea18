/* sse.c - Server-Sent Events framing (WHATWG "event stream" parsing).
 *
 * The parser works on whatever byte runs the transport hands it (TLS
 * records, HTTP chunks, decompressor output): none of those boundaries
 * line up with SSE lines. A line that ends inside one feed is handled in
 * place; only a line split across feeds is copied into s->line.
 *
 * Caps: one line and one event's data are limited to max_event bytes. An
 * oversized data line marks the event as dropped (s->data.truncated) so
 * that a half event is never handed to a provider parser; the blank line
 * that ends it then only sets s->overflow. Oversized comments (keep-alive
 * padding) are dropped silently. */
#include "sse.h"

#include <string.h>

void tt_sse_init(struct tt_sse *s, size_t max_event)
{
    tt_buf_init(&s->line, max_event);
    tt_buf_init(&s->event, max_event);
    tt_buf_init(&s->data, max_event);
    s->has_data = false;
    s->last_was_cr = false;
    s->overflow = false;
}

void tt_sse_free(struct tt_sse *s)
{
    if (!s)
        return;
    tt_buf_free(&s->line);
    tt_buf_free(&s->event);
    tt_buf_free(&s->data);
}

static void sse_reset_event(struct tt_sse *s)
{
    tt_buf_reset(&s->event);
    tt_buf_reset(&s->data);
    s->has_data = false;
}

/* The event's data can no longer be delivered whole: drop it at dispatch. */
static void sse_drop_event(struct tt_sse *s)
{
    s->has_data = true;
    s->data.truncated = true;
}

static int sse_dispatch(struct tt_sse *s, tt_sse_event_cb cb, void *ud)
{
    int rc = TT_OK;

    if (!s->has_data) {
        /* WHATWG: no data, no event; the event name is forgotten too. */
        sse_reset_event(s);
        return TT_OK;
    }
    if (s->data.truncated) {
        s->overflow = true;
    } else {
        rc = cb(ud, s->event.len ? s->event.data : "", s->event.len,
                s->data.len ? s->data.data : "", s->data.len);
    }
    sse_reset_event(s);
    return rc < 0 ? rc : TT_OK;
}

/* One complete line (without its terminator). oversized: the line was
 * longer than the cap and p holds only its beginning. */
static int sse_line(struct tt_sse *s, const char *p, size_t n, bool oversized,
                    tt_sse_event_cb cb, void *ud)
{
    if (n == 0 && !oversized)
        return sse_dispatch(s, cb, ud);
    if (n > 0 && p[0] == ':')
        return TT_OK;                       /* comment */
    if (oversized) {
        sse_drop_event(s);
        return TT_OK;
    }

    const char *colon = memchr(p, ':', n);
    size_t flen = colon ? (size_t)(colon - p) : n;
    const char *v = colon ? colon + 1 : p + n;
    size_t vlen = (size_t)(p + n - v);

    if (vlen > 0 && v[0] == ' ') {
        v++;
        vlen--;
    }

    if (flen == 4 && memcmp(p, "data", 4) == 0) {
        if (s->data.truncated)
            return TT_OK;                   /* event already dropped */
        int rc = TT_OK;
        if (s->has_data)
            rc = tt_buf_append(&s->data, "\n", 1);
        if (rc == TT_OK && vlen > 0)
            rc = tt_buf_append(&s->data, v, vlen);
        if (rc != TT_OK)                    /* cap or OOM: drop, not cut */
            sse_drop_event(s);
        s->has_data = true;
    } else if (flen == 5 && memcmp(p, "event", 5) == 0) {
        tt_buf_reset(&s->event);
        if (vlen > 0 && tt_buf_append(&s->event, v, vlen) != TT_OK)
            sse_drop_event(s);
    }
    /* id, retry and unknown fields carry nothing a span needs. */
    return TT_OK;
}

int tt_sse_feed(struct tt_sse *s, const char *buf, size_t len,
                tt_sse_event_cb cb, void *ud)
{
    size_t i = 0;

    while (i < len) {
        if (s->last_was_cr) {
            s->last_was_cr = false;
            if (buf[i] == '\n') {           /* second half of a CRLF */
                i++;
                continue;
            }
        }

        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;

        if (j == len) {
            /* No line end in this feed: keep the piece for later. A cap
             * hit only sets line.truncated; the rest is discarded. */
            if (tt_buf_append(&s->line, buf + i, len - i) == TT_ERR_NOMEM)
                s->line.truncated = true;
            return TT_OK;
        }

        int rc;
        if (s->line.len == 0 && !s->line.truncated) {
            bool big = j - i > s->line.max;
            rc = sse_line(s, buf + i, big ? s->line.max : j - i, big, cb, ud);
        } else {
            if (tt_buf_append(&s->line, buf + i, j - i) == TT_ERR_NOMEM)
                s->line.truncated = true;
            rc = sse_line(s, s->line.data ? s->line.data : "", s->line.len,
                          s->line.truncated, cb, ud);
            tt_buf_reset(&s->line);
        }
        if (buf[j] == '\r')
            s->last_was_cr = true;
        i = j + 1;
        if (rc < 0)
            return rc;
    }
    return TT_OK;
}

int tt_sse_finish(struct tt_sse *s)
{
    int rc = TT_OK;

    if (s->line.len > 0 || s->line.truncated || s->has_data ||
        s->event.len > 0)
        rc = TT_ERR_INCOMPLETE;
    else if (s->overflow)
        rc = TT_ERR_CAP;
    tt_buf_reset(&s->line);
    sse_reset_event(s);
    s->last_was_cr = false;
    s->overflow = false;
    return rc;
}
