/* frame.h - decode and validate one frame payload received by tokentapd.
 *
 * The payload (the bytes after the 4-byte length prefix, see wire.h) is
 * untrusted: it comes from any process of the user, possibly a buggy or
 * hostile one. Decoding never trusts a count, a type or a length:
 *   - the msgpack structure is walked first without allocating
 *     (tt_wire_skip), so a 10-byte frame cannot claim 4 billion elements;
 *   - frame-level problems (not msgpack, not a map, no "t", unknown "t",
 *     "spans" not an array, too many spans, newer version) reject the whole
 *     frame: the daemon nacks it;
 *   - span-level problems (missing or mistyped required field, bad id, NUL
 *     byte or invalid UTF-8 in a string, a JSON-valued field that is not JSON
 *     of the right shape, negative token counts, non-finite numbers) reject
 *     that span only: it is counted in `rejected`, the others are kept;
 *   - except in the content fields (input, output, tool_calls: TT_SF_CONTENT
 *     in spanfield.h), which the preload copies raw from the client's body:
 *     text that is not JSON is kept as a JSON string holding it ("[tru"
 *     is stored as "\"[tru\""), text with a NUL byte or invalid UTF-8 is
 *     dropped (the field becomes null), and the span is kept. JSON that is
 *     valid but of the wrong shape (tool_calls an object) still rejects,
 *     and so do finish_reasons and tags, which the preload builds itself.
 *     Content JSON may hold "\u0000".
 * Unknown keys are ignored (a newer preload may send more fields). */
#ifndef TT_FRAME_H
#define TT_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sink.h"
#include "span.h"
#include "tt.h"

#define TT_FRAME_MAX_SPANS 10000u       /* spans per frame */
#define TT_FRAME_MAX_OBJECTS (1u << 20) /* msgpack objects per frame */
#define TT_FRAME_MAX_KEYS 256u          /* keys per span map */
#define TT_FRAME_MAX_STR (64u * 1024)   /* plain string fields */
/* JSON-valued fields are bounded by the frame size only. */

enum tt_frame_type {
    TT_FRAME_SPANS = 1,
    TT_FRAME_SYNC,
    TT_FRAME_HELLO,
    TT_FRAME_STOP,
    TT_FRAME_COUNT,
};


struct tt_frame {
    enum tt_frame_type type;
    uint64_t chunk;           /* "chunk" of a spans frame, 0 if absent */
    struct tt_span *spans;    /* the valid spans, owned (tt_frame_clear) */
    size_t nspans;
    size_t rejected;          /* spans dropped by validation */
    struct tt_proc_count count;   /* TT_FRAME_COUNT (sink.h) */
    char error[160];          /* why the frame, or the first rejected span,
                                 was refused; "" otherwise */
};

/* Decode one payload. On TT_OK the frame is valid (some spans may still
 * have been rejected: see rejected/error). On TT_ERR_PARSE, TT_ERR_CAP or
 * TT_ERR_UNSUPPORTED the frame is refused and error says why;
 * TT_ERR_NOMEM is the daemon's problem, not the sender's. out is always
 * left clearable. */
int tt_frame_decode(const void *buf, size_t len, struct tt_frame *out) TT_WUR;
void tt_frame_clear(struct tt_frame *f);   /* NULL-safe */

/* Check one span (as decoded, or built in memory) against the contract:
 * the same rules as the decoder, after its repairs (a content field must be
 * JSON of its shape or a JSON string; a span built in memory with
 * non-JSON content is refused, not repaired). Returns TT_OK or
 * TT_ERR_PARSE with a reason in err (size n). */
int tt_frame_check_span(const struct tt_span *s, char *err, size_t n) TT_WUR;

/* Daemon replies: a frame (length prefix included) {"t":t, key: value...}. */
enum tt_frame_kv_type { TT_KV_U64, TT_KV_I64, TT_KV_STR, TT_KV_BOOL };
struct tt_frame_kv {
    const char *key;
    enum tt_frame_kv_type type;
    uint64_t u;
    int64_t i;
    const char *s;
    bool b;
};
int tt_frame_pack_reply(struct tt_buf *out, const char *t,
                        const struct tt_frame_kv *kv, size_t n) TT_WUR;

/* Is p[0..n) valid UTF-8 without NUL bytes (no overlongs, no surrogates)? */
bool tt_frame_utf8_ok(const char *p, size_t n);

#endif
