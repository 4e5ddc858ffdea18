/* wire.h - the preload <-> tokentapd protocol (see docs/PROTOCOL.md).
 *
 * A frame is a 4-byte big-endian length N (1 <= N <= TT_WIRE_MAX_FRAME)
 * followed by N bytes holding one msgpack map with a string key "t":
 *
 *   {"t":"spans","v":1,"chunk":u64,"spans":[span map, ...]}
 *        -> {"t":"ack","chunk":u64,"stored":n}   after the store committed
 *        -> {"t":"nack","chunk":u64,"error":str} frame rejected (invalid)
 *   {"t":"sync"}  -> {"t":"synced","stored":total}  after every frame the
 *                    daemon could read so far (and the spool) is committed
 *   {"t":"hello"} -> {"t":"hello","db":path,"pid":n,"version":str}
 *   {"t":"stop"}  -> {"t":"bye"}, then the daemon exits
 *
 * A span map has the keys of struct tt_span's exported fields (span.h) with
 * their natural msgpack types; absent strings are nil. The spool files are
 * sequences of "spans" frames, byte for byte as they would have been sent. */
#ifndef TT_WIRE_H
#define TT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

#define TT_WIRE_MAX_FRAME (16u * 1024 * 1024)
#define TT_WIRE_VERSION 1

/* Append one complete "spans" frame (length prefix included) to out. */
int tt_wire_pack_spans(const struct tt_span *const *spans, size_t n,
                       uint64_t chunk, struct tt_buf *out) TT_WUR;

/* Append a control frame {"t":type} to out. */
int tt_wire_pack_ctl(const char *type, struct tt_buf *out) TT_WUR;

/* Read the 4-byte length prefix. */
static inline uint32_t tt_wire_len(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

#endif
