/* ws.h - WebSocket frame codec, one direction (RFC 6455, RFC 7692).
 *
 * Fed the bytes of one direction of an upgraded connection in whatever
 * pieces they arrive, the parser reassembles messages (continuation
 * frames; control frames may come between the fragments of a message),
 * unmasks (the mask bit of each frame decides, so the same parser reads
 * either direction), inflates permessage-deflate messages (raw deflate,
 * the context kept across messages unless no_context_takeover was
 * negotiated for this direction's sender) and hands each complete message
 * and each control frame to a callback.
 *
 * Memory is bounded: a message is kept up to max_msg bytes (after
 * inflation); the rest of it is still read (and inflated, so that the
 * shared compression context stays in step) but dropped, and the message
 * is handed over flagged truncated. A frame length needs no buffer.
 *
 * Malformed input (a reserved opcode or RSV bit, a fragmented or long
 * control frame, a continuation with no message, a new message inside
 * another, a 64-bit length with its top bit set, a corrupt deflate
 * stream) stops the parser for good: feed returns TT_ERR_PARSE, then and
 * on every later call, and tt_ws_error() says why. Nothing else fails but
 * an allocation (TT_ERR_NOMEM, also final). */
#ifndef TT_WS_H
#define TT_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

enum tt_ws_opcode {
    TT_WS_CONT = 0x0,
    TT_WS_TEXT = 0x1,
    TT_WS_BINARY = 0x2,
    TT_WS_CLOSE = 0x8,
    TT_WS_PING = 0x9,
    TT_WS_PONG = 0xA,
};

/* One message (text/binary, reassembled and inflated) or control frame. */
struct tt_ws_msg {
    int opcode;               /* enum tt_ws_opcode, never TT_WS_CONT */
    const char *data;         /* valid during the callback only */
    size_t len;               /* bytes in data (<= max_msg) */
    uint64_t total;           /* the message's whole length (inflated) */
    bool truncated;           /* total > len: the rest was dropped */
    bool compressed;          /* it came permessage-deflate'd */
    unsigned frames;          /* frames it came in */
};

/* Return 0, or a negative error to stop the parser (final). */
typedef int (*tt_ws_msg_cb)(void *ud, const struct tt_ws_msg *m);

/* permessage-deflate as negotiated by the 101 response's
 * Sec-WebSocket-Extensions (the server's answer is what applies). */
struct tt_ws_ext {
    bool deflate;             /* permessage-deflate accepted */
    bool server_no_context_takeover;
    bool client_no_context_takeover;
    int server_max_window_bits;   /* 8..15; 15 when not stated */
    int client_max_window_bits;
};

/* Parse a Sec-WebSocket-Extensions value (the response's). Only the first
 * permessage-deflate offer counts; other extensions are ignored (their
 * RSV bits then read as malformed, which is what a client would do).
 * Returns 0, or TT_ERR_PARSE for a permessage-deflate with a bad
 * parameter (*out then says deflate false). */
int tt_ws_parse_extensions(const char *v, size_t n, struct tt_ws_ext *out);

struct z_stream_s;

struct tt_ws {
    size_t max_msg;
    bool deflate;             /* RSV1 means "compressed" */
    bool no_context_takeover; /* reset the inflater after each message */
    bool failed;
    bool closed;              /* a close frame went by: later bytes ignored */
    int err;
    const char *why;          /* why it failed (static text) */
    uint64_t n_messages;      /* data messages handed over */
    uint64_t n_control;       /* control frames handed over */
    uint64_t n_truncated;     /* messages above max_msg */
    /* Private from here on. */
    int state;
    uint8_t hdr[14];
    size_t hdr_len, hdr_need;
    uint64_t remaining;       /* payload bytes left in this frame */
    uint8_t mask[4];
    bool masked;
    unsigned mask_off;
    int f_opcode;
    bool f_fin, f_rsv1;
    bool in_msg;              /* a fragmented message is open */
    int m_opcode;
    bool m_compressed;
    unsigned m_frames;
    uint64_t m_total;
    struct tt_buf msg;
    uint8_t ctl[125];
    size_t ctl_len;
    struct z_stream_s *z;
    char *zout;               /* inflate output chunk */
};

/* max_msg: bytes kept of one message (0: 8 MiB). */
void tt_ws_init(struct tt_ws *w, size_t max_msg);
/* Messages with RSV1 are permessage-deflate'd; no_context_takeover: the
 * sender of this direction resets its compressor after each message. */
void tt_ws_set_deflate(struct tt_ws *w, bool on, bool no_context_takeover);
void tt_ws_free(struct tt_ws *w);   /* NULL-safe; frees what init did not */

int tt_ws_feed(struct tt_ws *w, const void *buf, size_t n, tt_ws_msg_cb cb,
               void *ud) TT_WUR;

/* Encoder (the mock, tests, the C test client): one frame header for a
 * payload of len bytes into out (14 bytes at least); returns its size.
 * mask NULL: unmasked. */
size_t tt_ws_frame_header(uint8_t *out, bool fin, bool rsv1, int opcode,
                          uint64_t len, const uint8_t mask[4]);

#endif
