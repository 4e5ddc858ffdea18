/* ssl.c - OpenSSL interposers: SSL_write(_ex), SSL_read(_ex), SSL_free.
 *
 * Each hook calls the real function first and reports only the bytes it
 * actually transferred; the application sees exactly what it would without
 * tokentap. SSL_peek is not hooked: peeked bytes are read again later.
 * The preload does not link libssl; types are opaque here.
 *
 * Two doors, one path: the exported symbols below catch calls into a
 * shared libssl; when the program defines these functions itself (Node's
 * official builds link OpenSSL statically), ssl_inline_setup() patches
 * its definitions to jump to the ix_* hooks (hooks/inline.h), which call
 * the original code through its trampoline and the program's own
 * SSL_get_servername/SSL_get_error. Both report to the same connection
 * table. */
#include "conn.h"
#include "inline.h"
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

static int dyn_get_error(const SSL *ssl, int ret)
{
    int (*ge)(const SSL *, int) = REAL(real_get_error, "SSL_get_error");

    return ge ? ge(ssl, ret) : 0;
}

/* What the shared path needs from one OpenSSL: its SNI and its errors. */
struct ssl_api {
    tt_conn_sni_fn sni;
    int (*get_error)(const SSL *, int);
};

static const struct ssl_api dyn_api = { ssl_sni, dyn_get_error };

/* Whether the code that called an SSL hook is libcurl. The curl layer
 * (hooks/curl.c) reports libcurl's transfers and raises tt_rt_depth around
 * the libcurl calls it wraps; this covers the ones it does not
 * (curl_easy_send/recv, curl_easy_upkeep, shutdowns in
 * curl_share_cleanup...), so a libcurl connection never makes a second
 * span. A program has a handful of call sites, so the lookup runs once per
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
    struct tt_inline_obj obj;
    bool curl;

    if (e && (e & ~CALLER_CURL) == a)
        return (e & CALLER_CURL) != 0;
    /* The object's name only: dladdr would also scan every symbol of it
     * for the nearest one (90,000 in Node's executable). */
    curl = tt_inline_object(ra, &obj) && strstr(obj.name, "libcurl");
    __atomic_store_n(&callers[i], a | (curl ? CALLER_CURL : 0),
                     __ATOMIC_RELAXED);
    return curl;
}

/* --- ignored connections: the fast test ---------------------------------
 *
 * Once conn.c has said an SSL* carries no LLM traffic (its first request
 * went to another host and path, or libcurl owns it), its later calls
 * must cost next to nothing: a bulk download makes hundreds of thousands
 * of SSL_read calls. The SSL* goes into this set, and each hook tests it
 * before anything else: one hash, one or two loads, no lock, no TLS
 * guard. Open addressing over a fixed table; a freed SSL* is replaced by
 * a tombstone (SSL_free removes it before OpenSSL frees the object, so
 * the address cannot come back while it is still listed). A full probe
 * window just leaves the SSL* out: it then takes the slow path (the
 * connection table), as before. */
#define IGN_SLOTS 4096              /* power of two */
#define IGN_PROBE 8
#define IGN_TOMB ((uintptr_t)1)
static uintptr_t ign[IGN_SLOTS];

static inline size_t ign_slot(uintptr_t a)
{
    uint64_t x = (uint64_t)a * 0x9e3779b97f4a7c15ULL;

    return (size_t)(x >> 52) & (IGN_SLOTS - 1);
}

static inline bool ssl_ignored(const SSL *ssl)
{
    uintptr_t a = (uintptr_t)ssl;
    size_t h = ign_slot(a);

    for (size_t i = 0; i < IGN_PROBE; i++) {
        uintptr_t e = __atomic_load_n(&ign[(h + i) & (IGN_SLOTS - 1)], __ATOMIC_RELAXED);
        if (e == a)
            return true;
        if (!e)
            return false;
    }
    return false;
}

static void ign_add(const SSL *ssl)
{
    uintptr_t a = (uintptr_t)ssl;
    size_t h = ign_slot(a);

    for (size_t i = 0; i < IGN_PROBE; i++) {
        uintptr_t *s = &ign[(h + i) & (IGN_SLOTS - 1)];
        uintptr_t e = __atomic_load_n(s, __ATOMIC_RELAXED);
        if (e == a)
            return;
        if ((e == 0 || e == IGN_TOMB) &&
            __atomic_compare_exchange_n(s, &e, a, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return;
    }
}

static void ign_remove(const SSL *ssl)
{
    uintptr_t a = (uintptr_t)ssl;
    size_t h = ign_slot(a);

    for (size_t i = 0; i < IGN_PROBE; i++) {
        uintptr_t *s = &ign[(h + i) & (IGN_SLOTS - 1)];
        uintptr_t e = a;
        if (__atomic_compare_exchange_n(s, &e, IGN_TOMB, false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED) || !e)
            return;
    }
}

static void after_write(const struct ssl_api *api, SSL *ssl, const void *buf,
                        size_t n, const void *ra)
{
    int saved = errno;

    if (tt_rt_enter()) {
        if (caller_is_libcurl(ra)) {
            tt_conn_ignore(TT_CONN_SSL, ssl);
            ign_add(ssl);
        } else {
            tt_conn_write(TT_CONN_SSL, ssl, api->sni, buf, n);
            if (tt_conn_ignored(TT_CONN_SSL, ssl))
                ign_add(ssl);
        }
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
static void after_read_fail(const struct ssl_api *api, SSL *ssl, int ret)
{
    int saved = errno;

    if (tt_rt_enter()) {
        if (tt_conn_is_llm(TT_CONN_SSL, ssl)) {
            int e = api->get_error(ssl, ret);
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
    tt_hk_in_tls_write++;
    int ret = f(ssl, buf, num);
    tt_hk_in_tls_write--;
    if (ret > 0 && !ssl_ignored(ssl))
        after_write(&dyn_api, ssl, buf, (size_t)ret, __builtin_return_address(0));
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
    tt_hk_in_tls_write++;
    int ret = f(ssl, buf, num, written);
    tt_hk_in_tls_write--;
    if (ret == 1 && written && *written > 0 && !ssl_ignored(ssl))
        after_write(&dyn_api, ssl, buf, *written, __builtin_return_address(0));
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
    if (ssl_ignored(ssl))
        return ret;
    if (ret > 0)
        after_read(ssl, buf, (size_t)ret, __builtin_return_address(0));
    else
        after_read_fail(&dyn_api, ssl, ret);
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
    if (ssl_ignored(ssl))
        return ret;
    if (ret == 1 && readbytes && *readbytes > 0)
        after_read(ssl, buf, *readbytes, __builtin_return_address(0));
    else if (ret <= 0)
        after_read_fail(&dyn_api, ssl, ret);
    return ret;
}

TT_EXPORT void SSL_free(SSL *ssl)
{
    void (*f)(SSL *) = REAL(real_free, "SSL_free");

    if (ssl)
        ign_remove(ssl);
    if (ssl && tt_rt_enter()) {
        int saved = errno;
        tt_conn_close(TT_CONN_SSL, ssl);
        errno = saved;
        tt_rt_leave();
    }
    if (f)
        f(ssl);
}

/* ------------------------------------------------- inline hooks (Node) */

/* Trampolines into the program's own, patched, functions. */
static int (*tr_write)(SSL *, const void *, int);
static int (*tr_write_ex)(SSL *, const void *, size_t, size_t *);
static int (*tr_read)(SSL *, void *, int);
static int (*tr_read_ex)(SSL *, void *, size_t, size_t *);
static void (*tr_free)(SSL *);
/* The program's own helpers (not patched: called directly). */
static const char *(*own_get_servername)(const SSL *, int);
static int (*own_get_error)(const SSL *, int);

static const char *own_sni(const void *key)
{
    return own_get_servername((const SSL *)key, TLSEXT_NAMETYPE_host_name);
}

static int own_error(const SSL *ssl, int ret)
{
    return own_get_error(ssl, ret);
}

static const struct ssl_api own_api = { own_sni, own_error };

/* A patched function reached from another patched one on the same thread
 * for the same bytes (an OpenSSL whose SSL_write_ex tail-calls SSL_write,
 * say) reports once, from the outermost call. Other nesting is real and
 * reported: Node runs JavaScript from inside SSL_read (the handshake-done
 * callback), which writes the request with SSL_write. */
struct ix_call {
    const SSL *ssl;
    const void *buf;
};
static __thread struct ix_call ix_cur __attribute__((tls_model("initial-exec")));

static bool ix_begin(const SSL *ssl, const void *buf, struct ix_call *saved)
{
    if (ix_cur.ssl == ssl && ix_cur.buf == buf)
        return false;
    *saved = ix_cur;
    ix_cur = (struct ix_call){ ssl, buf };
    return true;
}

static void ix_end(const struct ix_call *saved)
{
    ix_cur = *saved;
}

static int ix_write(SSL *ssl, const void *buf, int num)
{
    struct ix_call saved;

    if (!ix_begin(ssl, buf, &saved))
        return tr_write(ssl, buf, num);
    int ret = tr_write(ssl, buf, num);
    ix_end(&saved);
    if (ret > 0 && !ssl_ignored(ssl))
        after_write(&own_api, ssl, buf, (size_t)ret, __builtin_return_address(0));
    return ret;
}

static int ix_write_ex(SSL *ssl, const void *buf, size_t num, size_t *written)
{
    struct ix_call saved;

    if (!ix_begin(ssl, buf, &saved))
        return tr_write_ex(ssl, buf, num, written);
    int ret = tr_write_ex(ssl, buf, num, written);
    ix_end(&saved);
    if (ret == 1 && written && *written > 0 && !ssl_ignored(ssl))
        after_write(&own_api, ssl, buf, *written, __builtin_return_address(0));
    return ret;
}

static int ix_read(SSL *ssl, void *buf, int num)
{
    struct ix_call saved;

    if (!ix_begin(ssl, buf, &saved))
        return tr_read(ssl, buf, num);
    int ret = tr_read(ssl, buf, num);
    ix_end(&saved);
    if (ssl_ignored(ssl))
        return ret;
    if (ret > 0)
        after_read(ssl, buf, (size_t)ret, __builtin_return_address(0));
    else
        after_read_fail(&own_api, ssl, ret);
    return ret;
}

static int ix_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes)
{
    struct ix_call saved;

    if (!ix_begin(ssl, buf, &saved))
        return tr_read_ex(ssl, buf, num, readbytes);
    int ret = tr_read_ex(ssl, buf, num, readbytes);
    ix_end(&saved);
    if (ssl_ignored(ssl))
        return ret;
    if (ret == 1 && readbytes && *readbytes > 0)
        after_read(ssl, buf, *readbytes, __builtin_return_address(0));
    else if (ret <= 0)
        after_read_fail(&own_api, ssl, ret);
    return ret;
}

static void ix_free(SSL *ssl)
{
    if (ssl)
        ign_remove(ssl);
    if (ssl && tt_rt_enter()) {
        int saved = errno;
        tt_conn_close(TT_CONN_SSL, ssl);
        errno = saved;
        tt_rt_leave();
    }
    tr_free(ssl);
}

static void ssl_inline_setup(void)
{
    /* Built here, when the program has its own OpenSSL, not a static
     * table: its pointers would be relocations the loader applies in every
     * process. */
    const struct {
        const char *name;
        void *hook;
        void **orig;
        bool required;
    } fns[] = {
        { "SSL_write", (void *)ix_write, (void **)&tr_write, true },
        { "SSL_read", (void *)ix_read, (void **)&tr_read, true },
        { "SSL_free", (void *)ix_free, (void **)&tr_free, true },
        { "SSL_write_ex", (void *)ix_write_ex, (void **)&tr_write_ex, false },
        { "SSL_read_ex", (void *)ix_read_ex, (void **)&tr_read_ex, false },
    };
    struct tt_inline_target t[sizeof(fns) / sizeof(fns[0])];
    struct tt_inline_obj own;
    size_t n = 0, size;
    char why[256];

    /* The cheap part, for every process: does the executable define
     * SSL_write itself? One bloom-filter test in its own hash table (no
     * dlsym, no dladdr: dladdr scans every symbol of an object, 90,000 in
     * Node). A program on a shared libssl does not: nothing to do. */
    if (!tt_inline_main_defines("SSL_write", &own))
        return;
    /* The executable carries its own OpenSSL. */
    if (!tt_inline_enabled())
        return;
    const char *who = own.name[0] ? own.name : "the program";
    own_get_servername = tt_inline_symbol(&own, "SSL_get_servername", &size);
    own_get_error = tt_inline_symbol(&own, "SSL_get_error", &size);
    if (!own_get_servername || !own_get_error) {
        tt_log("%s defines SSL_write but not SSL_get_servername/SSL_get_error: "
               "its TLS is not traced", who);
        return;
    }
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        void *a = tt_inline_symbol(&own, fns[i].name, &size);
        if (!a) {
            if (fns[i].required) {
                tt_log("%s defines SSL_write but not %s: its TLS is not traced", who,
                       fns[i].name);
                return;
            }
            continue;
        }
        t[n++] = (struct tt_inline_target){ fns[i].name, a, size, fns[i].hook, fns[i].orig };
    }
    if (tt_inline_install(t, n, why, sizeof(why)) != TT_OK)
        tt_log("inline hooks on %s's own OpenSSL not installed (%s): its HTTPS "
               "calls are not traced", who, why);
}

/* Before the program's own constructors and main: one thread (checked). */
__attribute__((constructor(102))) static void ssl_inline_ctor(void)
{
    if (!tt_rt_off)
        ssl_inline_setup();
}
