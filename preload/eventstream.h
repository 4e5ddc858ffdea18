/* eventstream.h - AWS application/vnd.amazon.eventstream framing.
 *
 * The binary stream Bedrock's ConverseStream and
 * InvokeModelWithResponseStream answer with (docs: "Event stream encoding",
 * https://docs.aws.amazon.com/lexv2/latest/dg/event-stream-encoding.html).
 * Each message, all integers big-endian:
 *
 *   total_len u32 | headers_len u32 | prelude_crc u32   (prelude, 12 bytes)
 *   headers (headers_len bytes) | payload | message_crc u32
 *
 * prelude_crc covers the first 8 bytes, message_crc everything before it;
 * both are CRC-32 (the gzip/zlib polynomial). A header is
 *   name_len u8 | name | type u8 | value
 * with value types 0 true, 1 false (no bytes), 2 byte (1), 3 short (2),
 * 4 int (4), 5 long (8), 6 bytes and 7 string (u16 length + bytes),
 * 8 timestamp (8), 9 uuid (16).
 *
 * The decoder is incremental (a message may be split at any byte across
 * feeds), checks the prelude CRC before believing a length and the message
 * CRC before handing anything over, and caps the size of one message. A
 * CRC or structure error poisons the stream: without a trustworthy length
 * there is no next message to find. */
#ifndef TT_EVENTSTREAM_H
#define TT_EVENTSTREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

#define TT_ES_PRELUDE 12u           /* total_len, headers_len, prelude_crc */
#define TT_ES_OVERHEAD 16u          /* prelude + message_crc */

/* How a message that is not an event is named for an API parser (see
 * tt_es_msg_event): these cannot collide with an event type, which is a
 * shape member name (messageStart, chunk, ...). */
#define TT_ES_EXCEPTION_PREFIX "exception:"
#define TT_ES_ERROR_PREFIX "error:"

/* One decoded message. Every pointer borrows the decoder's buffer and is
 * valid only during the callback; absent headers are {NULL, 0}. Only
 * string-typed values are reported (the ones below always are). */
struct tt_es_str {
    const char *ptr;
    size_t len;
};

struct tt_es_msg {
    struct tt_es_str event_type;      /* :event-type */
    struct tt_es_str message_type;    /* :message-type: event | exception | error */
    struct tt_es_str exception_type;  /* :exception-type */
    struct tt_es_str error_code;      /* :error-code (message type error) */
    struct tt_es_str error_message;   /* :error-message */
    struct tt_es_str content_type;    /* :content-type */
    const char *payload;
    size_t payload_len;
};

/* Called per message whose CRCs matched. A negative return stops the feed
 * and is returned by tt_es_feed. */
typedef int (*tt_es_msg_cb)(void *ud, const struct tt_es_msg *m);

struct tt_es {
    struct tt_buf msg;        /* the message being assembled */
    size_t max_message;
    uint32_t total;           /* total_len once the prelude checked out */
    bool failed;              /* framing broken: every later byte ignored */
    bool skipping;            /* dropping a message above max_message */
    uint32_t skip_left;
    bool dropped;             /* some message was dropped for size */
};

/* max_message: cap on one whole message, in bytes. Larger messages (with
 * a valid prelude) are skipped and reported by tt_es_feed as TT_ERR_CAP. */
void tt_es_init(struct tt_es *es, size_t max_message);
void tt_es_free(struct tt_es *es);   /* NULL-safe; reusable after init */

/* Feed the next len bytes of the stream. Returns 0; TT_ERR_PARSE when the
 * framing broke (a CRC mismatch, impossible lengths, a malformed header):
 * that and every later call report it and deliver nothing; TT_ERR_CAP when
 * a message was skipped for size (the stream goes on); TT_ERR_NOMEM; or
 * the callback's negative result. */
int tt_es_feed(struct tt_es *es, const char *buf, size_t len,
               tt_es_msg_cb cb, void *ud) TT_WUR;

/* End of stream. TT_ERR_INCOMPLETE when a partial message was pending,
 * TT_ERR_PARSE when the framing broke, TT_ERR_CAP when a message was
 * dropped for size, else 0. */
int tt_es_finish(const struct tt_es *es);

/* Decode one complete message (exactly len bytes: prelude to message CRC)
 * into *out, pointers into buf. 0 or TT_ERR_PARSE. */
int tt_es_parse(const char *buf, size_t len, struct tt_es_msg *out) TT_WUR;

/* The (event, data) pair an API parser gets for a message through its
 * sse_event callback: an event gives its :event-type and payload; an
 * exception gives TT_ES_EXCEPTION_PREFIX + :exception-type and its
 * payload; an error message gives TT_ES_ERROR_PREFIX + :error-code and
 * its :error-message. The name is written into name (cap namecap, cut to
 * fit, NUL-terminated); *data borrows from m. */
void tt_es_msg_event(const struct tt_es_msg *m, char *name, size_t namecap,
                     size_t *name_len, const char **data, size_t *data_len);

/* CRC-32 (IEEE 802.3, reflected, as zlib's crc32): start with crc = 0. */
uint32_t tt_es_crc32(uint32_t crc, const void *buf, size_t len);

#endif
