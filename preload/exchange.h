/* exchange.h - one HTTP request/response pair, whatever the transport.
 *
 * HTTP/1.1 over OpenSSL (conn.c), and later HTTP/2 streams and libcurl
 * transfers, all report an exchange through these calls; the exchange
 * buffers the request body (capped), decodes the response
 * (Content-Encoding), frames SSE, drives the provider's API parser, and
 * when the response ends finishes the span (ids, cost, process identity)
 * and hands it to delivery. An exchange whose api is NULL only tracks
 * framing (a non-LLM request on an LLM connection) and makes no span. */
#ifndef TT_EXCHANGE_H
#define TT_EXCHANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "tt.h"

struct tt_exchange;

struct tt_ex_request {
    const struct tt_api_ops *api;   /* NULL: framing only, no span */
    const char *provider;           /* provider name (not "auto") */
    const char *host; size_t host_len;
    const char *method; size_t method_len;
    const char *target; size_t target_len;   /* path?query, raw */
    const char *http_version;       /* "1.1", "2" */
    bool tls;                       /* https (for a recording's URL) */
    bool messages;                  /* events arrive as messages
                                       (WebSocket, ws_api.c) through
                                       tt_ex_resp_event; never recorded
                                       (a cassette replays HTTP bodies) */
};

/* Create an exchange at its first request byte (now). Returns NULL on
 * OOM. */
struct tt_exchange *tt_ex_new(const struct tt_ex_request *req, int64_t now);
bool tt_ex_traced(const struct tt_exchange *ex);   /* api != NULL */

void tt_ex_req_body(struct tt_exchange *ex, const char *p, size_t n);
/* The last request byte went out at `now`. */
void tt_ex_req_end(struct tt_exchange *ex, int64_t now);

/* Response head. headers: the response's header list (for content type and
 * encoding). Returns true if the response has a body the caller should
 * pass on (false for responses to HEAD). */
bool tt_ex_resp_head(struct tt_exchange *ex, int status,
                     const struct tt_hdr *headers, size_t n_headers,
                     int64_t now);

/* Flags for tt_ex_resp_head_ex. */
#define TT_EX_BODY_DECODED 1u   /* body bytes arrive already decoded (libcurl
                                   with CURLOPT_ACCEPT_ENCODING): ignore
                                   Content-Encoding */
bool tt_ex_resp_head_ex(struct tt_exchange *ex, int status,
                        const struct tt_hdr *headers, size_t n_headers,
                        unsigned flags, int64_t now);
/* Response body bytes as on the wire (still content-encoded). */
void tt_ex_resp_body(struct tt_exchange *ex, const char *p, size_t n,
                     int64_t now);
/* One event of a message-framed response (a WebSocket text message,
 * ws_api.c) after tt_ex_resp_head: handed to the API parser's sse_event
 * as it is, the message's "type" as the event name. */
void tt_ex_resp_event(struct tt_exchange *ex, const char *event,
                      size_t event_len, const char *data, size_t len,
                      int64_t now);
/* The response ended (complete=false: cut short; why says how) or the
 * exchange is abandoned (no response at all). Finishes and delivers the
 * span, then frees the exchange. */
void tt_ex_end(struct tt_exchange *ex, bool complete, const char *why,
               int64_t now);
/* The span being built (the gateway sets http_version once the upstream
 * answered). Never NULL. */
struct tt_span *tt_ex_span(struct tt_exchange *ex);

/* A call seen by tokentap gateway on behalf of another process: the span
 * gets capture "gateway" and that process's identity instead of this
 * process's: pid, exe (may be NULL), parent_id (its process span,
 * tt_proc_of; "" or NULL: the TRACEPARENT parent). client_pid <= 0:
 * unknown, the gateway's own pid and exe stay. Copies what it keeps. */
void tt_ex_set_gateway_client(struct tt_exchange *ex, int64_t client_pid,
                              const char *exe, const char *parent_id);
/* The trace of a gateway call (32 hex): the caller's own when the gateway
 * runs outside a `tokentap run` (no TRACEPARENT). NULL: the gateway's. */
void tt_ex_set_trace(struct tt_exchange *ex, const char *trace_id);

/* Free without delivering (fork child dropping the parent's state). */
void tt_ex_free(struct tt_exchange *ex);


#endif
