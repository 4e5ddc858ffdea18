/* wire.h - the preload <-> tokentapd protocol (see docs/PROTOCOL.md).
 *
 * A frame is a 4-byte big-endian length N (1 <= N <= TT_WIRE_MAX_FRAME)
 * followed by N bytes holding one msgpack map with a string key "t":
 *
 *   {"t":"spans","v":1,"chunk":u64,"spans":[span map, ...]}
 *        -> {"t":"ack","chunk":u64,"stored":n}   after the store committed
 *        -> {"t":"nack","chunk":u64,"error":str} frame rejected (invalid)
 *        -> {"t":"nack","chunk":u64,"error":str,"retry":true} the store was
 *           busy/failing: nothing was stored, send again later or spool
 *        an ack also carries "rejected":n, the spans of the frame that failed
 *        validation (they are dropped and counted, the others stored)
 *   {"t":"sync"}  -> {"t":"synced","stored":total}  after every frame the
 *                    daemon could read so far (and the spool) is committed
 *   {"t":"hello"} -> {"t":"hello","db":path,"pid":n,"version":str,
 *                     "frames":n,"stored":n,"rejected":n,"spool_files":n}
 *   {"t":"stop"}  -> {"t":"bye"}, then the daemon exits
 *
 * A span map has the keys of struct tt_span's exported fields (span.h) with
 * their natural msgpack types (spanfield.h is the table); absent values are
 * nil; JSON-valued fields are str holding JSON text.
 *
 * Rendezvous: everything lives in the tokentap home directory,
 * ${TOKENTAP_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/tokentap} (0700;
 * /tmp/tokentap-$UID without HOME): the socket "tokentapd.sock" (or
 * $TOKENTAP_SOCKET) and the spool directory "spool/" (or $TOKENTAP_SPOOL).
 * The spool files are "*.spool", sequences of "spans" frames, byte for byte
 * as they would have been sent. A writer appends whole frames while
 * holding flock(LOCK_EX) on the file, and reopens the file if fstat shows
 * st_nlink == 0 (the daemon ingested and unlinked it meanwhile); the daemon
 * ingests a file only while holding the same lock. (Writing the file under
 * a name not ending in ".spool" and renaming it is equally safe.) */
#ifndef TT_WIRE_H
#define TT_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

#define TT_WIRE_MAX_FRAME (16u * 1024 * 1024)
#define TT_WIRE_VERSION 1

/* Append one complete "spans" frame (length prefix included) to out. */
int tt_wire_pack_spans(const struct tt_span *const *spans, size_t n,
                       uint64_t chunk, struct tt_buf *out) TT_WUR;
/* Number a frame tt_wire_pack_spans made (its chunk is fixed-width):
 * frames packed off the delivery lock get their number when sent. TT_OK,
 * or TT_ERR_PARSE when frame is not such a frame. */
int tt_wire_set_chunk(char *frame, size_t len, uint64_t chunk);

/* A traced process's cumulative counters, sent as a "count" frame
 * {"t":"count","v":1,"chunk":u64,"proc":hex,"pid":n,"exe":s,"lost":n,
 *  "sampled_out":n,"reason":s}. Cumulative, so a replay is harmless. */
struct tt_wire_count {
    const char *proc;         /* the process's random id, hex */
    int64_t pid;
    const char *exe;          /* may be NULL */
    uint64_t lost;            /* spans neither delivered nor spooled */
    uint64_t sampled_out;     /* calls skipped by TOKENTAP_SAMPLE_RATE */
    const char *reason;       /* why the last one was lost, may be NULL */
};
int tt_wire_pack_count(const struct tt_wire_count *c, uint64_t chunk,
                       struct tt_buf *out) TT_WUR;

/* Append a control frame {"t":type} to out. */
int tt_wire_pack_ctl(const char *type, struct tt_buf *out) TT_WUR;

/* Read one complete msgpack object at buf[*pos..len) without allocating,
 * and advance *pos past it. Every container count must be plausible (no more
 * pending items than bytes left) and at most max_objects objects may be seen
 * in total, so a tiny frame cannot make a decoder allocate gigabytes.
 * Returns 0, TT_ERR_INCOMPLETE (input ends early), TT_ERR_PARSE or
 * TT_ERR_CAP (too many objects). */
int tt_wire_skip(const unsigned char *buf, size_t len, size_t *pos,
                 size_t max_objects) TT_WUR;

/* A daemon reply, as the preload needs it. Unknown keys are ignored. */
struct tt_wire_reply {
    char t[16];          /* "ack", "nack", "synced", "hello", "bye" */
    uint64_t chunk;
    int64_t stored;
    int64_t rejected;
    bool retry;
    char error[200];     /* nack: why (the daemon's words), "" if none */
};

/* Parse one reply payload (without its length prefix). No allocation. */
int tt_wire_parse_reply(const unsigned char *buf, size_t len,
                        struct tt_wire_reply *out) TT_WUR;

/* Rendezvous paths (see above). Return TT_ERR_CAP if buf (size n) is too
 * small. tt_wire_socket_path also fails with TT_ERR_CAP when the path does not fit
 * in sockaddr_un.sun_path (107 bytes + NUL). None of them creates anything. */
int tt_wire_home_dir(char *buf, size_t n) TT_WUR;
int tt_wire_socket_path(char *buf, size_t n) TT_WUR;
int tt_wire_spool_dir(char *buf, size_t n) TT_WUR;
/* mkdir -p with mode 0700 for the components that do not exist yet. */
int tt_wire_mkdirs(const char *dir) TT_WUR;

#define TT_WIRE_SUN_PATH_MAX 107

/* Read the 4-byte length prefix. */
static inline uint32_t tt_wire_len(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

#endif
