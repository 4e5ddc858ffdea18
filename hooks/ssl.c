/* ssl.c - OpenSSL interposers: SSL_write(_ex), SSL_read(_ex), SSL_free.
 *
 * Each hook calls the real function first and reports only the bytes it
 * actually transferred; the application sees exactly what it would without
 * tokentap. SSL_peek is not hooked: peeked bytes are read again later.
 * The preload does not link libssl; types are opaque here. */
#include "conn.h"
#include "real.h"
#include "rt.h"

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct ssl_st SSL;

#define SSL_ERROR_SSL 1
#define SSL_ERROR_SYSCALL 5
#define SSL_ERROR_ZERO_RETURN 6
#define TLSEXT_NAMETYPE_host_name 0

static int (*real_write)(SSL *, const void *, int);
static int (*real_write_ex)(SSL *, const void *, size_t, size_t *);
static int (*real_read)(SSL *, void *, int);
static int (*real_read_ex)(SSL *, void *, size_t, size_t *);
static void (*real_free)(SSL *);
static int (*real_get_error)(const SSL *, int);
static const char *(*real_get_servername)(const SSL *, int);

#define REAL(slot, name) TT_REAL(slot, name, tt_real_libssl, "libssl")

static const char *ssl_sni(const void *key)
{
    const char *(*f)(const SSL *, int) = REAL(real_get_servername,
                                              "SSL_get_servername");
    return f ? f((const SSL *)key, TLSEXT_NAMETYPE_host_name) : NULL;
}

/* Whether the code that called an SSL hook is libcurl. The curl layer
 * (hooks/curl.c) reports libcurl's transfers and raises tt_rt_depth around
 * the libcurl calls it wraps; this covers the ones it does not
 * (curl_easy_send/recv, curl_easy_upkeep, shutdowns in
 * curl_share_cleanup...), so a libcurl connection never makes a second
 * span. A program has a handful of call sites, so dladdr runs once per
 * return address, not per connection or call: the verdict is cached with
 * the address in one word (bit 63, never set in a user-space address), so
 * a lookup takes no lock. */
#define N_CALLERS 32
#define CALLER_CURL (UINT64_C(1) << 63)
static uint64_t callers[N_CALLERS];

static bool caller_is_libcurl(const void *ra)
{
    uint64_t a = (uint64_t)(uintptr_t)ra;
    size_t i = (size_t)((a >> 4) ^ (a >> 12)) % N_CALLERS;
    uint64_t e = __atomic_load_n(&callers[i], __ATOMIC_RELAXED);
    Dl_info info;
    bool curl;

    if (e && (e & ~CALLER_CURL) == a)
        return (e & CALLER_CURL) != 0;
    curl = dladdr(ra, &info) && info.dli_fname &&
           strstr(info.dli_fname, "libcurl");
    __atomic_store_n(&callers[i], a | (curl ? CALLER_CURL : 0),
                     __ATOMIC_RELAXED);
    return curl;
}

static void after_write(SSL *ssl, const void *buf, size_t n, const void *ra)
{
    int saved = errno;

    if (tt_rt_enter()) {
        if (caller_is_libcurl(ra))
            tt_conn_ignore(TT_CONN_SSL, ssl);
        else
            tt_conn_write(TT_CONN_SSL, ssl, ssl_sni, buf, n);
        tt_rt_leave();
    }
    errno = saved;
}

static void after_read(SSL *ssl, const void *buf, size_t n, const void *ra)
{
    int saved = errno;

    if (tt_rt_enter()) {
        if (!caller_is_libcurl(ra))
            tt_conn_read(TT_CONN_SSL, ssl, buf, n);
        tt_rt_leave();
    }
    errno = saved;
}

/* A read returned nothing: if the peer closed, responses delimited by the
 * connection's end are complete now. SSL_get_error must run before any
 * other OpenSSL call on this thread changes the error queue. */
static void after_read_fail(SSL *ssl, int ret)
{
    int saved = errno;

    if (tt_rt_enter()) {
        int (*ge)(const SSL *, int) = REAL(real_get_error, "SSL_get_error");
        if (ge && tt_conn_is_llm(TT_CONN_SSL, ssl)) {
            int e = ge(ssl, ret);
            if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL ||
                e == SSL_ERROR_SSL)
                tt_conn_eof(TT_CONN_SSL, ssl);
        }
        tt_rt_leave();
    }
    errno = saved;
}

TT_EXPORT int SSL_write(SSL *ssl, const void *buf, int num)
{
    int (*f)(SSL *, const void *, int) = REAL(real_write, "SSL_write");

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    int ret = f(ssl, buf, num);
    if (ret > 0)
        after_write(ssl, buf, (size_t)ret, __builtin_return_address(0));
    return ret;
}

TT_EXPORT int SSL_write_ex(SSL *ssl, const void *buf, size_t num,
                           size_t *written)
{
    int (*f)(SSL *, const void *, size_t, size_t *) =
        REAL(real_write_ex, "SSL_write_ex");

    if (!f) {
        errno = ENOSYS;
        return 0;
    }
    int ret = f(ssl, buf, num, written);
    if (ret == 1 && written && *written > 0)
        after_write(ssl, buf, *written, __builtin_return_address(0));
    return ret;
}

TT_EXPORT int SSL_read(SSL *ssl, void *buf, int num)
{
    int (*f)(SSL *, void *, int) = REAL(real_read, "SSL_read");

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    int ret = f(ssl, buf, num);
    if (ret > 0)
        after_read(ssl, buf, (size_t)ret, __builtin_return_address(0));
    else
        after_read_fail(ssl, ret);
    return ret;
}

TT_EXPORT int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    int (*f)(SSL *, void *, size_t, size_t *) =
        REAL(real_read_ex, "SSL_read_ex");

    if (!f) {
        errno = ENOSYS;
        return 0;
    }
    int ret = f(ssl, buf, num, readbytes);
    if (ret == 1 && readbytes && *readbytes > 0)
        after_read(ssl, buf, *readbytes, __builtin_return_address(0));
    else if (ret <= 0)
        after_read_fail(ssl, ret);
    return ret;
}

TT_EXPORT void SSL_free(SSL *ssl)
{
    void (*f)(SSL *) = REAL(real_free, "SSL_free");

    if (ssl && tt_rt_enter()) {
        int saved = errno;
        tt_conn_close(TT_CONN_SSL, ssl);
        errno = saved;
        tt_rt_leave();
    }
    if (f)
        f(ssl);
}
