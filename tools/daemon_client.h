/* daemon_client.h - the CLI's side of the tokentapd control protocol.
 *
 * One request per connection: connect to the daemon's unix socket, send a
 * control frame {"t":type} (wire.h), read one length-prefixed msgpack map
 * back within a deadline, and copy the fields the CLI cares about into a
 * fixed-size reply (no allocation survives the call). */
#ifndef TT_DAEMON_CLIENT_H
#define TT_DAEMON_CLIENT_H

#include <limits.h>
#include <stdint.h>

#include "tt.h"

/* Replies larger than this are not control replies: refuse them. */
#define TT_DC_MAX_REPLY (64u * 1024)

struct tt_dc_reply {
    char type[32];        /* "hello", "synced", "bye", "nack", ... */
    char db[PATH_MAX];    /* hello: the store the daemon writes */
    char version[32];     /* hello */
    char error[256];      /* nack / error replies */
    int64_t pid;          /* hello; -1 when absent */
    int64_t stored;       /* synced; -1 when absent */
    int64_t unstored;     /* synced: spans the store refused (error says why) */
};

/* Send {"t":type} to the daemon listening on sock_path and wait at most
 * timeout_ms for its reply. Returns 0, TT_ERR_IO when nobody listens or the
 * connection fails, TT_ERR_AGAIN on timeout, TT_ERR_PARSE on a malformed
 * reply. The reply's type is not checked: callers compare out->type. */
int tt_dc_request(const char *sock_path, const char *type, int timeout_ms,
                  struct tt_dc_reply *out) TT_WUR;

/* Decode one reply body (the msgpack map, without the length prefix).
 * Exposed for tests. */
int tt_dc_decode(const char *buf, size_t len, struct tt_dc_reply *out) TT_WUR;

#endif
