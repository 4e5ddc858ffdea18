/* http1.h - incremental HTTP/1.1 message parser (one direction).
 *
 * Feed the bytes of one direction of a connection (requests written, or
 * responses read) in whatever pieces they arrive; the parser calls back
 * with the head once it is complete, with body bytes (chunked framing
 * removed, content-encoding untouched) and when the message ends, then
 * starts on the next message (keep-alive, pipelining).
 *
 * The parser never reads past len, never assumes NUL termination, and
 * allocates only the head buffer (capped at TT_H1_MAX_HEAD), and only when
 * a head arrives split across feeds. The head passed to on_head points into
 * that buffer or into the bytes being fed, and is valid only during the
 * callback. */
#ifndef TT_HTTP1_H
#define TT_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

#define TT_H1_MAX_HEAD (64 * 1024)
#define TT_H1_MAX_HEADERS 100


struct tt_h1_head {
    bool is_request;
    const char *method;       /* requests only */
    size_t method_len;
    const char *target;       /* request target (path?query) */
    size_t target_len;
    int status;               /* responses only */
    const char *reason;
    size_t reason_len;
    int minor_version;        /* HTTP/1.x */
    struct tt_hdr headers[TT_H1_MAX_HEADERS];  /* values trimmed */
    size_t n_headers;
    int64_t content_length;   /* -1 when absent */
    bool chunked;             /* Transfer-Encoding: chunked */
    bool conn_close;          /* Connection: close (or HTTP/1.0 without keep-alive) */
};

/* Return values of on_head. */
enum {
    TT_H1_BODY = 0,           /* parse the body as the head says */
    TT_H1_NO_BODY = 1,        /* message has no body (response to HEAD, ...) */
};

struct tt_h1_callbacks {
    /* Return TT_H1_BODY, TT_H1_NO_BODY or a negative error (stops parsing).
     * Responses with status 1xx, 204 and 304 never have a body; the parser
     * knows this. A 1xx response is reported (its return value ignored,
     * no on_done) and then the parser waits for the final response head of
     * the same exchange. After a 101 response, or a CONNECT request, the
     * connection leaves HTTP/1: on_done(true), then input is ignored. */
    int (*on_head)(void *ud, const struct tt_h1_head *head);
    /* Body bytes as framed on the wire minus chunked framing. */
    int (*on_body)(void *ud, const char *p, size_t n);
    /* The message is complete. `complete` is false when it ended by
     * tt_h1_eof() before its framing said it was done. */
    int (*on_done)(void *ud, bool complete);
    /* Optional: bytes after the connection left HTTP/1 (after a 101 or a
     * CONNECT request), from the first one after the head, whatever the
     * feed boundaries (a 101 and the first WebSocket frames often share a
     * read). NULL: they are ignored. */
    int (*on_tunnel)(void *ud, const char *p, size_t n);
};

struct tt_h1 {
    bool is_request;
    bool failed;              /* stopped for good: a parse, cap or callback
                                 error; feed returns `err` from then on */
    bool in_message;          /* a head was reported, on_done not yet
                                 (a 1xx keeps the exchange open) */
    /* Private from here on. */
    int state;
    int err;
    char *head;               /* accumulates a head split across feeds;
                                 grown up to TT_H1_MAX_HEAD, kept for reuse */
    size_t head_len, head_cap;
    int64_t remaining;        /* body or chunk bytes left */
    size_t line_len;          /* chunk-size line / trailer bytes so far */
    uint8_t line_state;       /* blank-line detection across feeds */
    bool chunk_digits;        /* chunk-size line has a digit yet */
};

/* is_request: true for the client->server direction. */
void tt_h1_init(struct tt_h1 *p, bool is_request);
/* Releases the head buffer. NULL-safe. */
void tt_h1_free(struct tt_h1 *p);

/* Feed bytes. Returns 0, or a negative error: TT_ERR_PARSE for bytes that
 * are not HTTP/1.x (the parser then stays failed and ignores input),
 * TT_ERR_CAP for a head above TT_H1_MAX_HEAD, or a callback's error. */
int tt_h1_feed(struct tt_h1 *p, const char *buf, size_t len,
               const struct tt_h1_callbacks *cb, void *ud)
    __attribute__((warn_unused_result));

/* The connection closed in this direction: a body delimited by close is
 * complete (on_done(complete=true)); a message cut short gets
 * on_done(complete=false). Returns 0 or a callback's error. */
int tt_h1_eof(struct tt_h1 *p, const struct tt_h1_callbacks *cb, void *ud);

/* Header lookup (case-insensitive); NULL when absent. */
const struct tt_hdr *tt_h1_find(const struct tt_h1_head *h,
                                      const char *name);

#endif
