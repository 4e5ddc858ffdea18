/* core.c - the capture core, loaded when first needed (coreops.h).
 *
 * libtokentap.so carries the hooks and the cheap tests; everything that
 * parses, prices and delivers lives in libtokentap-core.so in the same
 * directory, dlopen()ed here the first time:
 *   - a connection's first request bytes look like HTTP (a method and a
 *     space, or the HTTP/2 preface): tt_conn_write below. Bytes that
 *     cannot start a request (TLS records, a binary protocol) are judged
 *     here without the core, and the connection is ignored;
 *   - the program uses libcurl's easy/multi API (hooks/curl.c);
 *   - TOKENTAP_REDIRECT is set (replay, run --mock);
 *   - an exec under TOKENTAP_GATEWAY needs the exec-check cache's home.
 * A process that never does any of these never maps the core: /bin/true,
 * tar, a compiler, pay for the small object only.
 *
 * The functions below have the names and contracts of the core's own
 * (conn.h, curlx.h, redirect.h, wire.h), so the hooks call them as
 * before; until the core is loaded each answers as "nothing captured"
 * (no connection known, none LLM), which is the truth.
 *
 * Loading: dlopen with the per-thread guard raised (the loader's own
 * open/read/mmap/close pass through our hooks and must stand down), under
 * a mutex that fork takes first (a child is never forked in the middle of
 * our load) and resets in the child. dlopen takes the
 * loader lock: the hooks that can get here are write/send/SSL_write and
 * libcurl's API, which a program does not call from a signal handler or
 * with the loader lock held. If the core cannot be loaded (missing file,
 * an old one with another table version), tokentap logs one line and
 * turns itself off for the process (tt_rt_off): the program runs on. */
#include "coreops.h"
#include "defer.h"
#include "real.h"
#include "redirect.h"
#include "rt.h"
#include "settings.h"
#include "wire.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CORE_SONAME "libtokentap-core.so"

static const struct tt_core_ops *core;     /* set once, release */
static int core_failed;
static pthread_mutex_t core_lock = PTHREAD_MUTEX_INITIALIZER;

static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;   /* below */

/* fork waits for a load in progress on another thread: a child forked in
 * the middle of it would inherit the loader's lock held by a thread it
 * does not have, and hang in its own first dlopen. The table of libcurl
 * options kept before the load (kept_lock, below) is forked whole the same
 * way. Order: core_lock, then kept_lock (nothing takes them the other way
 * round). */
static void core_atfork_prepare(void)
{
    pthread_mutex_lock(&core_lock);
    pthread_mutex_lock(&kept_lock);
}

static void core_atfork_parent(void)
{
    pthread_mutex_unlock(&kept_lock);
    pthread_mutex_unlock(&core_lock);
}

/* The forking thread took the locks in prepare: they are released here, not
 * re-initialised (TSan, make test-tsan, then sees the same lock state as
 * the child has). */
static void core_atfork_child(void)
{
    pthread_mutex_unlock(&kept_lock);
    pthread_mutex_unlock(&core_lock);
}

static struct tt_atfork core_fork = {
    .prepare = core_atfork_prepare, .parent = core_atfork_parent,
    .child = core_atfork_child,
};

/* The core's path: beside this object (dladdr of one of our functions),
 * else the loader's search path. */
static void core_path(char *out, size_t n)
{
    Dl_info info;

    if (dladdr((void *)core_path, &info) && info.dli_fname) {
        const char *slash = strrchr(info.dli_fname, '/');
        if (slash) {
            int w = snprintf(out, n, "%.*s/%s", (int)(slash - info.dli_fname),
                             info.dli_fname, CORE_SONAME);
            if (w > 0 && (size_t)w < n)
                return;
        }
    }
    snprintf(out, n, "%s", CORE_SONAME);
}

static __attribute__((noinline, cold)) const struct tt_core_ops *core_load(void)
{
    const struct tt_core_ops *ops = NULL;
    char path[4096];

    if (__atomic_load_n(&core_failed, __ATOMIC_RELAXED))
        return NULL;
    tt_atfork_register(&core_fork);
    tt_rt_depth++;
    pthread_mutex_lock(&core_lock);
    ops = __atomic_load_n(&core, __ATOMIC_ACQUIRE);
    if (ops || core_failed)
        goto out;
    core_path(path, sizeof(path));
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    const struct tt_core_ops *t = h ? dlsym(h, "tt_core_ops") : NULL;
    if (t && t->version == TT_CORE_OPS_VERSION && t->size == sizeof(*t)) {
        ops = t;
        __atomic_store_n(&core, ops, __ATOMIC_RELEASE);
    } else {
        tt_log("capture core %s not usable (%s): tokentap is off for this process",
               path, h ? "wrong version" : dlerror());
        __atomic_store_n(&core_failed, 1, __ATOMIC_RELAXED);
        tt_rt_off = 1;
    }
out:
    pthread_mutex_unlock(&core_lock);
    tt_rt_depth--;
    return ops;
}

/* The core, loading it if needed; NULL when it cannot be. */
static inline const struct tt_core_ops *core_get(void)
{
    const struct tt_core_ops *ops = __atomic_load_n(&core, __ATOMIC_ACQUIRE);

    return __builtin_expect(ops != NULL, 1) ? ops : core_load();
}

/* The core if already loaded, else NULL (no load). */
static inline const struct tt_core_ops *core_if_loaded(void)
{
    return __atomic_load_n(&core, __ATOMIC_ACQUIRE);
}

/* Can these bytes be the start of an HTTP/1.x request or the HTTP/2
 * client preface? A method token (upper-case letters) then a space; a
 * first write shorter than that only needs to be a prefix of one. */
static bool may_be_http(const unsigned char *p, size_t n)
{
    size_t i = 0;

    while (i < n && i < 16 && p[i] >= 'A' && p[i] <= 'Z')
        i++;
    if (i == n)
        return i > 0 || n == 0;
    return i > 0 && p[i] == ' ';
}

/* --- conn.h -------------------------------------------------------------- */

void tt_conn_write(enum tt_conn_kind kind, const void *key, tt_conn_sni_fn sni,
                   const void *buf, size_t n)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (!ops) {
        if (!may_be_http(buf, n) || !(ops = core_load()))
            return;     /* no entry: tt_conn_ignored says true */
    }
    ops->conn_write(kind, key, sni, buf, n);
}

void tt_conn_read(enum tt_conn_kind kind, const void *key, const void *buf, size_t n)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->conn_read(kind, key, buf, n);
}

void tt_conn_eof(enum tt_conn_kind kind, const void *key)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->conn_eof(kind, key);
}

void tt_conn_close(enum tt_conn_kind kind, const void *key)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->conn_close(kind, key);
}

bool tt_conn_is_llm(enum tt_conn_kind kind, const void *key)
{
    const struct tt_core_ops *ops = core_if_loaded();

    return ops && ops->conn_is_llm(kind, key);
}

bool tt_conn_ignored(enum tt_conn_kind kind, const void *key)
{
    const struct tt_core_ops *ops = core_if_loaded();

    return !ops || ops->conn_ignored(kind, key);
}

void tt_conn_ignore(enum tt_conn_kind kind, const void *key)
{
    const struct tt_core_ops *ops = core_if_loaded();

    /* Not loaded: nothing can capture key; ssl.c lists it as ignored. */
    if (ops)
        ops->conn_ignore(kind, key);
}

/* --- curlx.h: the program uses libcurl's API --------------------------- */

static tt_curl_setopt_fn real_setopt;

tt_curl_setopt_fn tt_curl_real_setopt(void)
{
    return TT_REAL(real_setopt, "curl_easy_setopt", tt_curl_sonames, "libcurl");
}

/* A handle's options before the core is loaded. Every API route is a POST
 * (preload/api.c), so a transfer none of whose options made it one
 * (tt_curl_makes_post) cannot be an LLM call: curl downloading a file, a
 * GET from any program on libcurl, never maps the core. Until then each
 * option is forwarded to libcurl, and those the core records are kept
 * here, the last value of each with the order it was set in; the option
 * that makes a POST loads the core, which is handed what was kept, in
 * that order, before it sees that option (curlx.c: record() keeps the
 * last value of each field, and the method only matters once it is a
 * POST). A transfer starting while the core is not loaded is not traced.
 * The strings the core reads later (URL, CUSTOMREQUEST) are copied, as
 * libcurl copies them; the other kept values are only compared or handed
 * back to libcurl's callbacks, as the core does. */
struct kept {
    CURL *h;
    struct kept *next;
    uint32_t set;                               /* bit i: option i kept */
    uint64_t seq[TT_CURL_RECORDED_N];           /* when, kept_seq */
    union tt_curl_arg arg[TT_CURL_RECORDED_N];
    char *str[TT_CURL_RECORDED_N];              /* our copies of strings */
};

#define KEPT_BUCKETS 64

static struct kept *kept_tab[KEPT_BUCKETS];
static size_t kept_n;                   /* under kept_lock; read relaxed */
static uint64_t kept_seq;

/* kept_lock held. */
static struct kept **kept_slot(CURL *h)
{
    uintptr_t k = (uintptr_t)h;
    struct kept **pp = &kept_tab[((k >> 4) ^ (k >> 12)) % KEPT_BUCKETS];

    while (*pp && (*pp)->h != h)
        pp = &(*pp)->next;
    return pp;
}

static void kept_free(struct kept *e)
{
    for (int i = 0; i < TT_CURL_RECORDED_N; i++)
        free(e->str[i]);
    free(e);
}

/* Option i's value into e (kept_lock held). False: out of memory. */
static bool kept_set(struct kept *e, int i, const union tt_curl_arg *a)
{
    bool copy = a->p && (tt_curl_option_at(i) == CURLOPT_URL ||
                         tt_curl_option_at(i) == CURLOPT_CUSTOMREQUEST);
    char *str = copy ? strdup(a->p) : NULL;

    if (copy && !str)
        return false;
    free(e->str[i]);
    e->str[i] = str;
    e->arg[i] = *a;
    if (copy)
        e->arg[i].p = str;
    e->seq[i] = ++kept_seq;
    e->set |= 1u << i;
    return true;
}

/* h's entry, made if need be (kept_lock held); NULL: out of memory. */
static struct kept *kept_get(CURL *h)
{
    struct kept **pp = kept_slot(h);

    if (!*pp && (*pp = calloc(1, sizeof(**pp))) != NULL) {
        (*pp)->h = h;
        __atomic_store_n(&kept_n, kept_n + 1, __ATOMIC_RELAXED);
    }
    return *pp;
}

/* h's entry, taken out of the table (NULL: none). */
static struct kept *kept_take(CURL *h)
{
    struct kept *e = NULL;

    if (!h || !__atomic_load_n(&kept_n, __ATOMIC_RELAXED))
        return NULL;
    pthread_mutex_lock(&kept_lock);
    struct kept **pp = kept_slot(h);
    if (*pp) {
        e = *pp;
        *pp = e->next;
        __atomic_store_n(&kept_n, kept_n - 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&kept_lock);
    return e;
}

/* The kept options of e, oldest first: their count, indexes in order. */
static int kept_order(const struct kept *e, int order[TT_CURL_RECORDED_N])
{
    int n = 0;

    for (int i = 0; i < TT_CURL_RECORDED_N; i++) {
        if (!(e->set & (1u << i)))
            continue;
        int j = n++;
        while (j > 0 && e->seq[order[j - 1]] > e->seq[i]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return n;
}

/* Keep option i of h (libcurl accepted it). False when out of memory: the
 * caller hands the handle to the core instead. */
static bool kept_put(CURL *h, int i, const union tt_curl_arg *a)
{
    tt_atfork_register(&core_fork);
    pthread_mutex_lock(&kept_lock);
    struct kept *e = kept_get(h);
    bool ok = e && kept_set(e, i, a);
    pthread_mutex_unlock(&kept_lock);
    return ok;
}

/* The core is loaded: hand it what was kept for h, oldest first. */
static void kept_flush(const struct tt_core_ops *ops, CURL *h)
{
    struct kept *e = kept_take(h);
    int order[TT_CURL_RECORDED_N];

    if (!e)
        return;
    for (int k = 0, n = kept_order(e, order); k < n; k++)
        ops->curl_record(h, tt_curl_option_at(order[k]), &e->arg[order[k]]);
    kept_free(e);
}

CURLcode tt_curl_setopt(CURL *h, CURLoption option, const union tt_curl_arg *arg)
{
    const struct tt_core_ops *ops = core_if_loaded();
    tt_curl_setopt_fn f = tt_curl_real_setopt();

    if (!f)
        return CURLE_FAILED_INIT;
    if (!ops && (!h || !tt_curl_makes_post(option, arg))) {
        CURLcode rc = tt_curl_forward(f, h, option, arg);
        int i = h ? tt_curl_recorded(option) : -1;
        if (rc != CURLE_OK || i < 0)
            return rc;
        int saved = errno;
        if (!kept_put(h, i, arg) && (ops = core_get()) != NULL) {
            kept_flush(ops, h);
            ops->curl_record(h, option, arg);
        }
        errno = saved;
        return rc;
    }
    if (!ops && !(ops = core_get()))
        return tt_curl_forward(f, h, option, arg);
    kept_flush(ops, h);
    return ops->curl_setopt(h, option, arg);
}

bool tt_curl_begin(CURL *h)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (!ops)
        return false;   /* nothing made it a POST: not an LLM call */
    kept_flush(ops, h);
    return ops->curl_begin(h);
}

void tt_curl_cancel(CURL *h)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->curl_cancel(h);
}

void tt_curl_done(CURL *h, CURLcode result)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->curl_done(h, result);
}

void tt_curl_drop(CURL *h, const char *why)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->curl_drop(h, why);
}

void tt_curl_dup(CURL *from, CURL *to)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops) {
        kept_flush(ops, from);
        ops->curl_dup(from, to);
        return;
    }
    if (!from || !to || from == to || !__atomic_load_n(&kept_n, __ATOMIC_RELAXED))
        return;
    /* libcurl copied from's options to the new handle: so do we. */
    pthread_mutex_lock(&kept_lock);
    struct kept *src = *kept_slot(from), *dst = src ? kept_get(to) : NULL;
    int order[TT_CURL_RECORDED_N];
    for (int k = 0, n = dst ? kept_order(src, order) : 0; k < n; k++)
        (void)kept_set(dst, order[k], &src->arg[order[k]]);
    pthread_mutex_unlock(&kept_lock);
}

void tt_curl_forget(CURL *h)
{
    const struct tt_core_ops *ops = core_if_loaded();
    struct kept *e = h ? kept_take(h) : NULL;

    if (e)
        kept_free(e);
    if (ops)
        ops->curl_forget(h);
}

/* --- redirect.h: only when TOKENTAP_REDIRECT is set ---------------------- */

static const struct tt_core_ops *rd_core(void)
{
    const char *v = tt_settings()->redirect;

    return v && *v ? core_get() : NULL;
}

bool tt_rd_on(void)
{
    const struct tt_core_ops *ops = rd_core();

    return ops && ops->rd_on();
}

int tt_rd_name(const char *node, const char *service)
{
    const struct tt_core_ops *ops = rd_core();

    return ops ? ops->rd_name(node, service) : 0;
}

bool tt_rd_connect(const struct sockaddr *sa, socklen_t len,
                   struct sockaddr_storage *out, socklen_t *out_len)
{
    const struct tt_core_ops *ops = rd_core();

    return ops && ops->rd_connect(sa, len, out, out_len);
}

const unsigned char *tt_rd_ca_der(size_t *len)
{
    const struct tt_core_ops *ops = rd_core();

    return ops ? ops->rd_ca_der(len) : NULL;
}

/* --- wire.h: the exec check's cache directory ---------------------------- */

int tt_wire_home_dir(char *buf, size_t n)
{
    const struct tt_core_ops *ops = core_get();

    return ops ? ops->wire_home_dir(buf, n) : TT_ERR;
}

/* The hook object is linked without the C runtime's start files
 * (-nostartfiles: their transactional-memory and gmon hooks are three weak
 * symbols the loader looks up, and fails to find, in every process). What
 * remains needed of them is the object's handle for pthread_atfork and
 * atexit (libc_nonshared.a): this object is never unloaded, so nothing
 * ever runs __cxa_finalize over it. */
/* --- defer.h ------------------------------------------------------------- */

/* Nothing is queued before the core is loaded. */
void tt_defer_drain(void)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->defer_drain();
}

void tt_defer_barrier(void)
{
    const struct tt_core_ops *ops = core_if_loaded();

    if (ops)
        ops->defer_barrier();
}

void *__dso_handle __attribute__((visibility("hidden"))) = &__dso_handle;
