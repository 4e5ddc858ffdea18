/* redirect.c - getaddrinfo and SSL_new interposers for `tokentap replay`
 * and `tokentap run --mock` (preload/redirect.h). Without
 * TOKENTAP_REDIRECT both only call the real function (one load and
 * branch once the environment was read).
 *
 * getaddrinfo: a redirected name resolves to 127.84.84.N (numeric, through
 * the real getaddrinfo, so freeaddrinfo frees it as usual); connect()
 * (hooks/libc.c) sends that address to the server.
 *
 * SSL_new: before the real call, the run's CA goes into the trust store of
 * the SSL_CTX (X509_STORE_add_cert, a duplicate is a no-op). By then the
 * program has loaded its own trust (curl its CA bundle, Python its
 * cafile/certifi), so ours is added to theirs and survives it. The
 * X509 functions come from the libcrypto the process already loaded
 * (libssl needs it): the preload links neither. The error queue is left as
 * it was (ERR_set_mark / ERR_pop_to_mark). */
#include "real.h"
#include "redirect.h"
#include "rt.h"

#include <dlfcn.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;
typedef struct x509_store_st X509_STORE;

static const char *const libcrypto_names[] = {
    "libcrypto.so.3", "libcrypto.so.1.1", NULL,
};

static int (*real_gai)(const char *, const char *, const struct addrinfo *,
                       struct addrinfo **);
static SSL *(*real_ssl_new)(SSL_CTX *);
static X509_STORE *(*real_get_store)(const SSL_CTX *);
static X509 *(*real_d2i_x509)(X509 **, const unsigned char **, long);
static int (*real_store_add)(X509_STORE *, X509 *);
static int (*real_err_set_mark)(void);
static int (*real_err_pop_to_mark)(void);

#define CRYPTO(slot, name) TT_REAL(slot, name, libcrypto_names, "libcrypto")
#define SSLSYM(slot, name) TT_REAL(slot, name, tt_real_libssl, "libssl")

TT_EXPORT int getaddrinfo(const char *node, const char *service,
                          const struct addrinfo *hints, struct addrinfo **res)
{
    int (*f)(const char *, const char *, const struct addrinfo *,
             struct addrinfo **) = real_gai;
    int n;

    if (!f) {
        f = (__typeof__(f))dlsym(RTLD_NEXT, "getaddrinfo");
        if (!f)
            return EAI_SYSTEM;
        __atomic_store_n(&real_gai, f, __ATOMIC_RELEASE);
    }
    if (tt_rt_off || !(n = tt_rd_name(node, service)))
        return f(node, service, hints, res);
    /* 127.84.84.N, IPv4 only; AI_ADDRCONFIG would refuse it in a network
     * namespace with nothing but loopback (glibc ignores lo for it). */
    char addr[32];
    struct addrinfo h = { .ai_family = AF_INET };
    if (hints) {
        h = *hints;
        h.ai_family = AF_INET;
        h.ai_flags &= ~(AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL);
    }
    if (hints && hints->ai_family == AF_INET6) {
        /* An IPv6-only lookup gets the v4-mapped form. */
        h.ai_family = AF_INET6;
        h.ai_flags |= AI_V4MAPPED | AI_ALL;
        snprintf(addr, sizeof(addr), "::ffff:127.84.84.%d", n % 256);
    } else {
        snprintf(addr, sizeof(addr), "127.84.84.%d", n % 256);
    }
    h.ai_flags |= AI_NUMERICHOST;
    return f(addr, service, &h, res);
}

static X509 *ca_cert;
static pthread_once_t ca_once = PTHREAD_ONCE_INIT;

static void ca_parse(void)
{
    size_t len = 0;
    const unsigned char *der = tt_rd_ca_der(&len);
    X509 *(*d2i)(X509 **, const unsigned char **, long) =
        CRYPTO(real_d2i_x509, "d2i_X509");

    if (!der || !d2i)
        return;
    const unsigned char *p = der;
    ca_cert = d2i(NULL, &p, (long)len);   /* kept for the process's life */
}

static void trust_ca(SSL_CTX *ctx)
{
    X509_STORE *(*gs)(const SSL_CTX *) =
        SSLSYM(real_get_store, "SSL_CTX_get_cert_store");
    int (*add)(X509_STORE *, X509 *) = CRYPTO(real_store_add, "X509_STORE_add_cert");
    int (*mark)(void) = CRYPTO(real_err_set_mark, "ERR_set_mark");
    int (*pop)(void) = CRYPTO(real_err_pop_to_mark, "ERR_pop_to_mark");

    pthread_once(&ca_once, ca_parse);
    if (!ca_cert || !gs || !add || !mark || !pop)
        return;
    X509_STORE *st = gs(ctx);
    if (!st)
        return;
    mark();
    (void)add(st, ca_cert);
    pop();
}

TT_EXPORT SSL *SSL_new(SSL_CTX *ctx)
{
    SSL *(*f)(SSL_CTX *) = SSLSYM(real_ssl_new, "SSL_new");

    if (!f)
        return NULL;
    if (ctx && !tt_rt_off && tt_rd_on()) {
        int saved = errno;
        trust_ca(ctx);
        errno = saved;
    }
    return f(ctx);
}
