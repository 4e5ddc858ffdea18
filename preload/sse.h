/* sse.h - Server-Sent Events framing (WHATWG), incremental.
 *
 * Lines end in CR, LF or CRLF (a CR at the end of one feed followed by LF
 * at the start of the next is one line end). Lines starting with ':' are
 * comments. "data:" lines are joined with '\n'; one leading space after the
 * colon is removed. "event:" sets the event name. A blank line dispatches
 * the event if it has data. id/retry/unknown fields are ignored.
 * An event still open when the stream ends is dropped (tt_sse_finish tells). */
#ifndef TT_SSE_H
#define TT_SSE_H

#include <stdbool.h>
#include <stddef.h>

#include "tt.h"

/* Called per dispatched event. event is "" when no event: field was sent
 * (the default type "message"). Pointers valid during the call only. */
typedef int (*tt_sse_event_cb)(void *ud, const char *event, size_t event_len,
                               const char *data, size_t data_len);

struct tt_sse {
    struct tt_buf line;       /* partial line carried across feeds */
    struct tt_buf event;
    struct tt_buf data;
    bool has_data;
    bool last_was_cr;
    bool overflow;            /* an event exceeded max_event */
};

/* max_event: cap on one line / one event's data (oversized events are
 * skipped and counted through tt_sse_finish's result). */
void tt_sse_init(struct tt_sse *s, size_t max_event);
void tt_sse_free(struct tt_sse *s);      /* NULL-safe */

/* Returns 0 or the callback's negative result. */
int tt_sse_feed(struct tt_sse *s, const char *buf, size_t len,
                tt_sse_event_cb cb, void *ud) __attribute__((warn_unused_result));

/* End of stream. Returns TT_ERR_INCOMPLETE when a partial event was pending
 * (truncated stream), TT_ERR_CAP when an event was dropped for size,
 * else 0. */
int tt_sse_finish(struct tt_sse *s);

#endif
