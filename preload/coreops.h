/* coreops.h - the one door from the hook object into the capture core.
 *
 * The preload is two objects (docs/INTERNALS.md, "Two objects"):
 * libtokentap.so, which every process of a traced run loads (the hooks and
 * the cheap "is this connection interesting" tests), and
 * libtokentap-core.so beside it (parsers, providers, prices, the
 * exchange, delivery), which hooks/core.c dlopens the first time a
 * connection looks like HTTP (or a feature needs it: libcurl's API,
 * record/replay redirection, the exec gateway check). The core exports
 * this table and nothing else; the hook object exports to the core, under
 * a private version (preload/exports.map), the state both must share: the
 * per-thread guard, the kill switch, the settings, the fork registry,
 * ownfd, logging, real-function lookup.
 *
 * In tokentapd, the CLI and the tests everything is one program: the
 * functions below are called directly and this table is unused. */
#ifndef TT_COREOPS_H
#define TT_COREOPS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "conn.h"
#include "curlx.h"

#define TT_CORE_OPS_VERSION 3

struct tt_core_ops {
    unsigned version;           /* TT_CORE_OPS_VERSION */
    size_t size;                /* sizeof(struct tt_core_ops) */
    /* conn.h */
    void (*conn_write)(enum tt_conn_kind, const void *, tt_conn_sni_fn,
                       const void *, size_t);
    void (*conn_read)(enum tt_conn_kind, const void *, const void *, size_t);
    void (*conn_eof)(enum tt_conn_kind, const void *);
    void (*conn_close)(enum tt_conn_kind, const void *);
    bool (*conn_is_llm)(enum tt_conn_kind, const void *);
    bool (*conn_ignored)(enum tt_conn_kind, const void *);
    void (*conn_ignore)(enum tt_conn_kind, const void *);
    /* curlx.h */
    CURLcode (*curl_setopt)(CURL *, CURLoption, const union tt_curl_arg *);
    void (*curl_record)(CURL *, CURLoption, const union tt_curl_arg *);
    bool (*curl_begin)(CURL *);
    void (*curl_cancel)(CURL *);
    void (*curl_done)(CURL *, CURLcode);
    void (*curl_drop)(CURL *, const char *);
    void (*curl_dup)(CURL *, CURL *);
    void (*curl_forget)(CURL *);
    /* redirect.h */
    bool (*rd_on)(void);
    int (*rd_name)(const char *, const char *);
    bool (*rd_connect)(const struct sockaddr *, socklen_t,
                       struct sockaddr_storage *, socklen_t *);
    const unsigned char *(*rd_ca_der)(size_t *);
    /* wire.h */
    int (*wire_home_dir)(char *, size_t);
    /* defer.h */
    void (*defer_drain)(void);
    void (*defer_barrier)(void);
};

#endif
