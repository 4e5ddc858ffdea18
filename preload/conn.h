/* conn.h - per-connection capture state, keyed by the transport object.
 *
 * The hooks report bytes actually transferred on a connection (an SSL*,
 * or for plain HTTP a socket fd the process connect()ed). The first
 * request on a connection decides whether it is LLM traffic (host table,
 * TOKENTAP_HOSTS, or a known API path); other connections are marked
 * ignored and cost one table lookup per call afterwards. LLM connections
 * parse both directions as HTTP/1.1 (HTTP/2 slots in beside it by the
 * client preface) and pair responses with requests in order (keep-alive,
 * pipelining). */
#ifndef TT_CONN_H
#define TT_CONN_H

#include <stdbool.h>
#include <stddef.h>

enum tt_conn_kind {
    TT_CONN_SSL = 1,
    TT_CONN_FD = 2,
};

/* Returns the TLS server name of key, or NULL (called at most once, when a
 * connection is first seen). */
typedef const char *(*tt_conn_sni_fn)(const void *key);

/* Bytes the application wrote (requests). Creates the connection entry. */
void tt_conn_write(enum tt_conn_kind kind, const void *key,
                   tt_conn_sni_fn sni, const void *buf, size_t n);
/* Bytes the application read (responses). Unknown connections ignored. */
void tt_conn_read(enum tt_conn_kind kind, const void *key, const void *buf,
                  size_t n);
/* The peer closed its side (EOF on read). */
void tt_conn_eof(enum tt_conn_kind kind, const void *key);
/* The connection object is going away: finish what is pending, forget it. */
void tt_conn_close(enum tt_conn_kind kind, const void *key);

/* True when key is a connection tokentap is capturing (cheap). */
bool tt_conn_is_llm(enum tt_conn_kind kind, const void *key);

/* True when tokentap will capture nothing more on key: its first request
 * showed it is not LLM traffic (or not HTTP at all, e.g. TLS records),
 * capture gave up on it, or it has no entry (the table is full). False
 * while undecided (no complete request head yet) or capturing. The fd
 * hooks ask after each write and, when true, call tt_conn_close and stop
 * reporting that fd, so ignored sockets cost nothing afterwards. */
bool tt_conn_ignored(enum tt_conn_kind kind, const void *key);

/* Capture nothing on key: its bytes belong to a layer that reports them
 * itself (libcurl's connections: hooks/curl.c makes one span per
 * transfer). Creates the entry if needed, so later writes cost one lookup;
 * a connection already capturing is left alone. tt_conn_close forgets it. */
void tt_conn_ignore(enum tt_conn_kind kind, const void *key);

#endif
