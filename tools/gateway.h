/* gateway.h - `tokentap gateway`: a local HTTP/1.1 gateway to the LLM
 * providers, for programs no hook can reach (Bun, Go, Rust/rustls, static
 * binaries).
 *
 * The program is pointed at the gateway by its provider's base-URL setting
 * (OPENAI_BASE_URL=http://127.0.0.1:PORT/openai, ...; `tokentap run
 * --gateway` sets them). The gateway listens on 127.0.0.1 only, forwards
 * each request to the provider over HTTPS with libcurl (HTTP/2 where
 * offered; SSL_CERT_FILE/SSL_CERT_DIR; HTTPS_PROXY/NO_PROXY as libcurl
 * reads them) and writes the answer back as it arrives, chunk by chunk.
 * Status, headers (hop-by-hop ones excepted) and body bytes pass through
 * unchanged; keys pass through to the provider and are never stored.
 *
 * Each exchange drives the same capture path as a hooked call
 * (preload/exchange.c: provider parser, price, conversation, redaction,
 * delivery to tokentapd), so a call through the gateway is one span of the
 * same contract, with capture "gateway" and the calling process's pid,
 * executable and process span (found from the TCP connection in /proc).
 *
 * Routes: the first path segment names the upstream base URL,
 *   /openai/...    -> https://api.openai.com/v1/...
 *   /anthropic/... -> https://api.anthropic.com/...
 *   /gemini/...    -> https://generativelanguage.googleapis.com/...
 *   /ollama/...    -> http://127.0.0.1:11434/...
 * each replaceable (--upstream NAME=URL: a user's own base URL, a
 * corporate gateway, the tests' mock). A path without a route prefix
 * (OLLAMA_HOST cannot carry a path) goes to the upstream whose API it
 * speaks: /api/... to ollama, /v1/messages to anthropic, /v1beta/... to
 * gemini, anything else to openai, under that upstream's origin. */
#ifndef TT_GATEWAY_H
#define TT_GATEWAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

#define TT_GW_ROUTES_MAX 16
#define TT_GW_URL_MAX 1024

struct tt_gw_route {
    char name[32];              /* "openai": the path prefix "/openai" */
    char base[TT_GW_URL_MAX];   /* upstream base URL, no trailing '/' */
    const char *env;            /* the base-URL variable clients read */
};

struct tt_gw_routes {
    struct tt_gw_route r[TT_GW_ROUTES_MAX];
    size_t n;
};

/* The built-in routes (openai, anthropic, gemini, ollama). */
void tt_gw_routes_default(struct tt_gw_routes *rt);

/* NAME=URL: replace (or add) a route's upstream. TT_ERR_PARSE when it is
 * not NAME=http(s)://... */
int tt_gw_routes_set(struct tt_gw_routes *rt, const char *spec) TT_WUR;

/* The upstream URL of a request target (origin-form "/openai/v1/x?y").
 * Writes the full URL into url (cap n). TT_ERR_PARSE for a target that is
 * not origin-form, TT_ERR_CAP when it does not fit. */
int tt_gw_route_url(const struct tt_gw_routes *rt, const char *target,
                    size_t target_len, char *url, size_t n) TT_WUR;

/* Hop-by-hop headers (RFC 9110 7.6.1, plus Proxy-Connection and
 * Keep-Alive) and the ones libcurl frames itself: never forwarded. */
bool tt_gw_hop_header(const char *name, size_t len);

/* The reason phrase of an HTTP status (HTTP/2 has none on the wire). */
const char *tt_gw_reason(int status);

/* The pid of the process holding the client end of a TCP connection to
 * 127.0.0.1:server_port from client_port (IPv4), from /proc/net/tcp and
 * /proc/<pid>/fd. Candidates: the descendants of root_pid when > 0 (a
 * run's process tree: a few /proc reads), else every process. 0 when not
 * found (another user's process, already gone). */
int64_t tt_gw_peer_pid(unsigned client_port, unsigned server_port,
                       int64_t root_pid);

/* A base URL the user had set (name = one of the variables above, value
 * its value) as an --upstream spec "route=URL" in out; false when the
 * value is empty or not usable (then the default upstream stays).
 * OLLAMA_HOST's "host[:port]" becomes http://host:port (11434 default;
 * 0.0.0.0 means this host). */
bool tt_gw_user_upstream(const char *name, const char *value, char *out, size_t n);

/* `tokentap gateway [--listen ADDR:PORT] [--port-file F]
 *  [--upstream NAME=URL]... [--quiet]` */
int tt_gw_main(int argc, char **argv);

#endif
