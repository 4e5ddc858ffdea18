/* ssl.c - OpenSSL interposers: SSL_write(_ex), SSL_read(_ex), SSL_free.
 *
 * Each hook calls the real function first and reports only the bytes it
 * actually transferred; the application sees exactly what it would without
 * tokentap. SSL_peek is not hooked: peeked bytes are read again later.
 * The preload does not link libssl; types are opaque here. */
#include "conn.h"
#include "real.h"
#include "rt.h"

#include <errno.h>
#include <stddef.h>

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

static void after_write(SSL *ssl, const void *buf, size_t n)
{
    int saved = errno;

    if (tt_rt_enter()) {
        tt_conn_write(TT_CONN_SSL, ssl, ssl_sni, buf, n);
        tt_rt_leave();
    }
    errno = saved;
}

static void after_read(SSL *ssl, const void *buf, size_t n)
{
    int saved = errno;

    if (tt_rt_enter()) {
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
        after_write(ssl, buf, (size_t)ret);
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
        after_write(ssl, buf, *written);
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
        after_read(ssl, buf, (size_t)ret);
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
        after_read(ssl, buf, *readbytes);
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
