/* provider_harness.h - what the provider parser tests share: feed a
 * recorded body, or a recorded SSE stream through the real SSE parser at
 * several split sizes, into an API's ops, and compare span strings with a
 * message naming the case and the split. Each test file keeps its own
 * `struct expect` and `check()` (the fields differ per provider). A test
 * whose API is not SSE (Ollama's NDJSON, Gemini's path-borne model)
 * defines HARNESS_OWN_RUN and writes its own run(). */
#ifndef TT_PROVIDER_HARNESS_H
#define TT_PROVIDER_HARNESS_H

#include <criterion/criterion.h>
#include <string.h>

#include "api.h"
#include "sse.h"
#include "tt.h"

#define SENT_NS 1000000000LL        /* request sent; event k arrives k ms later */

enum kind { BODY, STREAM };

static const size_t splits[] = { 1, 2, 3, 7, 64, 1 << 20 };

static inline void expect_str(const char *got, const char *want,
                              const char *what, const char *name,
                              size_t split)
{
    if (!want) {
        cr_assert_null(got, "%s [split %zu]: %s = %s, want NULL", name, split,
                       what, got);
        return;
    }
    cr_assert_not_null(got, "%s [split %zu]: %s is NULL, want %s", name,
                       split, what, want);
    cr_assert_str_eq(got, want, "%s [split %zu]: %s", name, split, what);
}

#ifndef HARNESS_OWN_RUN
struct feed_ctx {
    const struct tt_api_ops *ops;
    void *state;
    struct tt_span *span;
    int events;
};

static inline int on_event(void *ud, const char *ev, size_t ev_len,
                           const char *data, size_t data_len)
{
    struct feed_ctx *f = ud;

    f->events++;
    /* Parse errors of single chunks are the parser's business; the span
     * is what we check. */
    (void)f->ops->sse_event(f->state, f->span, ev, ev_len, data, data_len,
                            SENT_NS + (int64_t)f->events * 1000000);
    return 0;
}

/* Request (may be NULL), then the response as a whole body or as an SSE
 * stream fed in pieces of `split` bytes; cut: the transport says the
 * response was cut short. */
static inline void run(const struct tt_api_ops *ops, struct tt_span *span,
                       const char *req, enum kind kind, const char *in,
                       size_t split, bool cut)
{
    struct feed_ctx f = { ops, NULL, span, 0 };
    struct tt_sse sse;

    tt_span_init(span);
    span->request_sent_ns = SENT_NS;
    if (req)
        (void)ops->request(span, req, strlen(req));
    cr_assert_eq(ops->response_begin(span, &f.state), 0);
    if (kind == BODY) {
        (void)ops->body(f.state, span, in, strlen(in));
    } else {
        size_t len = strlen(in);
        tt_sse_init(&sse, 1 << 20);
        for (size_t off = 0; off < len; off += split) {
            size_t n = len - off < split ? len - off : split;
            cr_assert_eq(tt_sse_feed(&sse, in + off, n, on_event, &f), 0);
        }
        (void)tt_sse_finish(&sse);
        tt_sse_free(&sse);
    }
    struct tt_api_end how = { !cut, kind == BODY, f.events > 0 };
    (void)tt_api_response_end(ops, f.state, span, &how);
    ops->response_free(f.state);
}
#endif

#endif
