/* gateway_ws.h - the gateway's WebSocket relay (tools/gateway_ws.c).
 *
 * tools/gateway.c hands over a client request that asks "Upgrade:
 * websocket"; the relay opens its own connection to the upstream (TLS with
 * OpenSSL for https: the system trust store, or SSL_CERT_FILE /
 * SSL_CERT_DIR as the gateway was given them; HTTPS_PROXY is not used for
 * WebSocket), sends the handshake (the client's headers, Host the
 * upstream's), passes the upstream's answer back unchanged and, after a
 * 101, relays bytes both ways unchanged while the same WebSocket session as
 * the capture (preload/ws_api.h) reads both directions: one span per
 * response, capture "gateway", the caller's identity. */
#ifndef TT_GATEWAY_WS_H
#define TT_GATEWAY_WS_H

#include <stdbool.h>
#include <stdint.h>

#include <curl/curl.h>

struct tt_gw_ws {
    int client_fd;
    const char *url;                /* upstream URL (ws path routed) */
    const struct curl_slist *hdrs;  /* the client's end-to-end headers */
    const char *cainfo, *capath;
    int64_t client_pid;
    const char *client_exe;         /* NULL unknown */
    const char *client_span;        /* "" unknown */
    const char *client_trace;       /* "" : the gateway's */
    bool quiet;
    bool self_counted;              /* the caller's preload counts its calls: relay only */
};

/* Returns when the socket is over (either side closed, an error); the
 * caller closes the client connection. 0, or -1 when the upstream could
 * not be reached (the client got a 502). */
int tt_gw_ws_relay(const struct tt_gw_ws *a);

#endif
