/* redirect.h - send a traced program's LLM connections to tokentap's own
 * local server (`tokentap replay`, `tokentap run --mock`; issue #13).
 *
 * The CLI starts a TLS + plain HTTP server on loopback and names it to the
 * preload in the environment:
 *
 *   TOKENTAP_REDIRECT        127.0.0.1:PORT, where redirected connections go
 *   TOKENTAP_REDIRECT_HOSTS  comma-separated: "host" (any port), "host:port",
 *                            "[v6]:port", "*providers" (every host of the
 *                            provider table), "*local" (loopback on a model
 *                            server's default port)
 *   TOKENTAP_REDIRECT_CA     a DER certificate file: the CA minted for the
 *                            run, added to the trust store of every SSL_CTX
 *                            the program hands to SSL_new
 *
 * getaddrinfo() of a redirected name answers 127.84.84.N (N: the entry), a
 * loopback address nothing listens on; connect() to such an address, or to
 * a numeric entry, goes to the server instead. Nothing else is touched: no
 * proxy variable, no system trust store, no file of the program's.
 *
 * Unlike tracing, redirection also runs inside libcurl and tokentap's own
 * calls (tt_rt_depth): a replayed call must never reach the network. */
#ifndef TT_REDIRECT_H
#define TT_REDIRECT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define TT_RD_MAX_HOSTS 250
#define TT_RD_MAGIC_NET 0x7f545400u      /* 127.84.84.0/24, host order */

/* Parsed configuration (also for the unit tests). */
struct tt_rd_host {
    char host[256];        /* lower case; "" for the * entries */
    int port;              /* 0: any port */
};

struct tt_rd_config {
    bool on;
    bool providers, local;
    struct sockaddr_storage target;
    socklen_t target_len;
    size_t n;
    struct tt_rd_host hosts[TT_RD_MAX_HOSTS];
    char ca_path[4096];
};

/* Parse the three variables into c (c->on false when TOKENTAP_REDIRECT is
 * unset or malformed). TT_OK or TT_ERR_PARSE. */
int tt_rd_parse(struct tt_rd_config *c, const char *target, const char *hosts,
                const char *ca);

/* Whether redirection is on in this process (the environment is read on
 * the first call). */
bool tt_rd_on(void);

/* getaddrinfo(node, service): the entry index + 1 when node is redirected
 * at that port (service numeric, "http" or "https", or NULL), else 0. */
int tt_rd_name_match(const struct tt_rd_config *c, const char *node,
                     const char *service);
int tt_rd_name(const char *node, const char *service);

/* connect(): whether sa (AF_INET/AF_INET6) goes to the server; then *out
 * holds the server's address in sa's family. */
bool tt_rd_addr_match(const struct tt_rd_config *c, const struct sockaddr *sa,
                      socklen_t len);
bool tt_rd_connect(const struct sockaddr *sa, socklen_t len,
                   struct sockaddr_storage *out, socklen_t *out_len);

/* The run's CA as DER (read once); NULL when none. */
const unsigned char *tt_rd_ca_der(size_t *len);

#endif
