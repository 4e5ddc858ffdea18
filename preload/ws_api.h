/* ws_api.h - LLM calls over WebSocket: one upgraded connection, its two
 * directions framed by ws.c, its JSON events turned into exchanges
 * (exchange.h), one per response.
 *
 * Who drives it: preload/conn.c (a hooked connection whose HTTP/1.1
 * request asked for "Upgrade: websocket" on a WebSocket API path and got
 * "101 Switching Protocols") and tools/gateway_ws.c (the gateway's
 * relay). Both feed the bytes of each direction as they pass.
 *
 * APIs (by request path, query ignored):
 *   .../v1/responses   OpenAI Responses over WebSocket: each client
 *                      response.create starts a call (its body is the
 *                      Responses create body plus "type"); the server's
 *                      events are the Responses stream events, handed to
 *                      the Responses parser (openai_responses.c) until
 *                      response.completed / .incomplete / .failed or
 *                      error. A response.create with "generate": false
 *                      (a warm-up) whose response reports no tokens is not
 *                      a call: no span.
 *   .../realtime       OpenAI Realtime API (openai_realtime.c): a call per
 *                      server response.created (started by the client's
 *                      response.create, or by the server's voice
 *                      detection), ended by response.done. Model: the
 *                      URL's model=, or the session's.
 * Calls are taken in order (the server answers one response.create after
 * another on a socket); Realtime events are matched by response id. */
#ifndef TT_WS_API_H
#define TT_WS_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "api.h"
#include "http1.h"
#include "ws.h"

extern const struct tt_api_ops tt_openai_realtime_api;

struct tt_wss;

struct tt_wss_info {
    const char *provider;         /* NULL: "openai" */
    const char *host; size_t host_len;
    const char *target; size_t target_len;   /* the upgrade request's */
    bool tls;
    struct tt_ws_ext ext;         /* negotiated by the 101 response */
    /* Gateway: the calling process (tt_ex_set_gateway_client) and trace. */
    bool gateway;
    int64_t client_pid;
    const char *client_exe;
    const char *client_parent;
    const char *trace;            /* NULL: the process's */
};

/* Whether a request head asks to upgrade to WebSocket on a path we parse
 * (Upgrade: websocket, GET, .../v1/responses or .../realtime). */
bool tt_wss_wanted(const struct tt_h1_head *h);
bool tt_wss_path_known(const char *target, size_t len);

/* After the 101: the session. Copies what it keeps. NULL on OOM or a path
 * no API speaks. */
struct tt_wss *tt_wss_new(const struct tt_wss_info *info, int64_t now);

/* Bytes of one direction (from_client: the client->server frames).
 * Returns 0, or TT_ERR_PARSE once the framing was lost (the open calls
 * then end with an error saying why; later bytes are ignored). In the
 * preload with the capture worker on (defer.h), a session that is not the
 * gateway's is read on the worker: the bytes are copied and queued, and a
 * framing error shows at a later feed. tt_wss_end and tt_wss_free are
 * queued behind them the same way. */
int tt_wss_feed(struct tt_wss *s, bool from_client, const void *p, size_t n,
                int64_t now);

/* The connection ended: calls still open end with `why` (NULL: "WebSocket
 * closed before the response was complete"); then frees the session.
 * NULL-safe. */
void tt_wss_end(struct tt_wss *s, const char *why, int64_t now);
/* Free without delivering (fork child). NULL-safe. */
void tt_wss_free(struct tt_wss *s);

/* Counters of one session (tests, on a session read inline). */
struct tt_wss_stats {
    uint64_t messages[2];         /* [0] client, [1] server */
    uint64_t truncated;           /* messages above the cap (not parsed) */
    uint64_t calls;               /* exchanges ended with a span */
    uint64_t warmups;             /* warm-ups dropped (no span) */
    bool failed;                  /* framing lost */
};
void tt_wss_stats(const struct tt_wss *s, struct tt_wss_stats *out);

#endif
