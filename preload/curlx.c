/* curlx.c - libcurl transfers -> exchanges; see curlx.h. */
#include "curlx.h"
#include "emit.h"
#include "api.h"
#include "exchange.h"
#include "provider.h"
#include "redirect.h"
#include "real.h"
#include "rt.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define N_BUCKETS 256
#define MAX_HANDLES 16384           /* easy handles with recorded options */
#define MAX_URL (64u << 10)         /* longer URLs are not traced */
#define DEFAULT_MAX_BODY (8u << 20) /* before tt_rt is ready */

/* tt_curl_sonames: real.c (the hook object and the core share it). */

/* setopt forwarding (tt_curl_argtype, _arg_read, _forward): curlarg.c,
 * which the hook object links too. */

/* --- URLs ------------------------------------------------------------------ */

static void copy_cut(char *dst, size_t cap, size_t *at, const char *src,
                     size_t n)
{
    size_t room = cap - 1 - *at;

    if (n > room)
        n = room;
    memcpy(dst + *at, src, n);
    *at += n;
    dst[*at] = '\0';
}

int tt_curl_parse_url(const char *url, size_t len, struct tt_curl_url *out)
{
    const char *p = url, *end = url + len;
    const char *sep = NULL;
    int def_port = 80;

    memset(out, 0, sizeof(*out));
    for (const char *q = url; q + 2 < end; q++) {
        if (q[0] == ':' && q[1] == '/' && q[2] == '/') {
            sep = q;
            break;
        }
        if (q[0] == '/' || q[0] == '?' || q[0] == '#')
            break;
    }
    if (sep) {
        size_t sl = (size_t)(sep - url);
        if (tt_tok_ieq(url, sl, "https")) {
            out->https = true;
            def_port = 443;
        } else if (!tt_tok_ieq(url, sl, "http")) {
            return TT_ERR_UNSUPPORTED;
        }
        p = sep + 3;
    }
    /* authority: up to the first / ? # ; userinfo ends at its last '@' */
    const char *auth_end = p;
    while (auth_end < end && *auth_end != '/' && *auth_end != '?' &&
           *auth_end != '#')
        auth_end++;
    for (const char *q = auth_end; q > p; q--) {
        if (q[-1] == '@') {
            p = q;
            break;
        }
    }
    const char *host_end;
    if (p < auth_end && *p == '[') {
        const char *rb = memchr(p, ']', (size_t)(auth_end - p));
        if (!rb)
            return TT_ERR_PARSE;
        host_end = rb + 1;
    } else {
        host_end = memchr(p, ':', (size_t)(auth_end - p));
        if (!host_end)
            host_end = auth_end;
    }
    size_t host_len = (size_t)(host_end - p);
    if (host_len == 0 || host_len >= sizeof(out->host))
        return TT_ERR_PARSE;
    memcpy(out->host, p, host_len);
    out->host[host_len] = '\0';
    out->port = def_port;
    if (host_end < auth_end) {
        if (*host_end != ':')
            return TT_ERR_PARSE;
        long port = 0;
        const char *q = host_end + 1;
        if (q == auth_end)
            goto no_port;       /* "host:" means the default, as in curl */
        for (; q < auth_end; q++) {
            if (*q < '0' || *q > '9' || port > 65535)
                return TT_ERR_PARSE;
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535)
            return TT_ERR_PARSE;
        out->port = (int)port;
    }
no_port:
    {
        size_t at = 0;
        copy_cut(out->hostport, sizeof(out->hostport), &at, out->host,
                 host_len);
        if (out->port != def_port) {
            char num[8];
            int k = snprintf(num, sizeof(num), ":%d", out->port);
            copy_cut(out->hostport, sizeof(out->hostport), &at, num,
                     (size_t)k);
        }
    }
    /* target: path?query without the fragment; "/" when there is no path */
    const char *frag = memchr(auth_end, '#', (size_t)(end - auth_end));
    const char *t_end = frag ? frag : end;
    size_t at = 0;
    if (auth_end == t_end || *auth_end != '/')
        copy_cut(out->target, sizeof(out->target), &at, "/", 1);
    copy_cut(out->target, sizeof(out->target), &at, auth_end,
             (size_t)(t_end - auth_end));
    return TT_OK;
}

/* --- real libcurl functions ------------------------------------------------ */

typedef CURLcode (*getinfo_fn)(CURL *, CURLINFO, ...);
typedef CURLHcode (*header_fn)(CURL *, const char *, size_t, unsigned int,
                               int, struct curl_header **);
typedef const char *(*strerror_fn)(CURLcode);
typedef CURLUcode (*url_get_fn)(const CURLU *, CURLUPart, char **,
                                unsigned int);
typedef void (*free_fn)(void *);

static tt_curl_setopt_fn real_setopt;
static getinfo_fn real_getinfo;
static header_fn real_header;
static strerror_fn real_strerror;
static url_get_fn real_url_get;
static free_fn real_free;

#define REAL(slot, name) TT_REAL(slot, name, tt_curl_sonames, "libcurl")

tt_curl_setopt_fn tt_curl_real_setopt(void)
{
    return REAL(real_setopt, "curl_easy_setopt");
}

/* --- per-handle state ------------------------------------------------------ */

enum method { M_GET, M_POST, M_PUT, M_HEAD };

/* One traced transfer. The request is judged and its body copied when the
 * transfer starts (the application may free its POSTFIELDS once the
 * transfer ends, which may be before tokentap learns it ended); the
 * exchange is created at the first response byte, when libcurl knows the
 * HTTP version it negotiated. */
struct xfer {
    const struct tt_api_ops *api;
    const char *provider;
    struct tt_curl_url u;
    char method[32];
    int64_t start_ns;
    struct tt_buf body;         /* request body: POSTFIELDS, or what the
                                   app's read callback produced */
    struct tt_exchange *ex;
    bool want_body;             /* not a response to HEAD */
    bool decoded;               /* libcurl decodes Content-Encoding */
    bool include_header;        /* CURLOPT_HEADER: heads come in the body */
    uint64_t accepted;          /* bytes the app's write callback took */
};

struct handle {
    CURL *h;
    struct handle *next;
    /* the request, as the application set it */
    char *url;                  /* CURLOPT_URL (libcurl copies it too) */
    CURLU *curlu;               /* CURLOPT_CURLU: wins over the URL */
    char *custom;               /* CURLOPT_CUSTOMREQUEST */
    enum method method;
    const char *postfields;     /* the app's POSTFIELDS, or our copy */
    char *post_copy;            /* COPYPOSTFIELDS */
    size_t post_copy_len;
    curl_off_t post_size;       /* -1: strlen(postfields) */
    bool mime;                  /* MIMEPOST/HTTPPOST: body not captured */
    /* the application's callbacks (NULL: libcurl's default) */
    curl_write_callback app_write;
    void *app_wdata;
    bool wdata_set;             /* unset: libcurl passes stdout */
    curl_read_callback app_read;
    void *app_rdata;
    bool rdata_set;             /* unset: libcurl passes stdin */
    bool accept_enc;            /* CURLOPT_ACCEPT_ENCODING non-NULL */
    bool no_content_decoding;   /* CURLOPT_HTTP_CONTENT_DECODING 0 */
    bool include_header;        /* CURLOPT_HEADER 1 */
    /* ours installed in libcurl: the app's setopt of these is recorded and
     * dispatched by the trampoline instead of replacing it */
    bool write_tramp;
    bool read_tramp;
    struct xfer *x;             /* a traced transfer is running */
};

static struct handle *buckets[N_BUCKETS];
static size_t n_handles;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static bool table_full_logged;

static size_t hash_handle(const void *h)
{
    uint64_t x = (uint64_t)(uintptr_t)h;

    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)(x % N_BUCKETS);
}

static void xfer_free(struct xfer *x)
{
    if (!x)
        return;
    tt_ex_free(x->ex);
    tt_buf_free(&x->body);
    free(x);
}

/* fork: the table must not be left locked by a thread that does not exist
 * in the child; transfers running in the parent are the parent's (their
 * memory is left alone, the child only forgets them). */
static void atfork_prepare(void)
{
    pthread_mutex_lock(&table_lock);
}

static void atfork_parent(void)
{
    pthread_mutex_unlock(&table_lock);
}

static void atfork_child(void)
{
    pthread_mutex_unlock(&table_lock);
    for (size_t i = 0; i < N_BUCKETS; i++)
        for (struct handle *hd = buckets[i]; hd; hd = hd->next)
            hd->x = NULL;
}

static struct tt_atfork curlx_fork = {
    .prepare = atfork_prepare, .parent = atfork_parent, .child = atfork_child,
};

/* The entry for h, created when create is set and the table has room.
 * Entries are used without the table lock: libcurl allows one thread at a
 * time per easy handle, and only that thread reaches its entry. */
static struct handle *handle_get(CURL *h, bool create)
{
    size_t b = hash_handle(h);
    struct handle *hd;

    if (create)
        tt_atfork_register(&curlx_fork);
    pthread_mutex_lock(&table_lock);
    for (hd = buckets[b]; hd; hd = hd->next)
        if (hd->h == h)
            break;
    if (!hd && create) {
        if (n_handles >= MAX_HANDLES) {
            if (!table_full_logged)
                tt_log("more than %d libcurl handles; later ones are not "
                       "traced", MAX_HANDLES);
            table_full_logged = true;
        } else if ((hd = calloc(1, sizeof(*hd)))) {
            hd->h = h;
            hd->post_size = -1;
            hd->next = buckets[b];
            buckets[b] = hd;
            n_handles++;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return hd;
}

static void handle_free(struct handle *hd)
{
    xfer_free(hd->x);
    free(hd->url);
    free(hd->custom);
    free(hd->post_copy);
    free(hd);
}

static struct handle *handle_unlink(CURL *h)
{
    size_t b = hash_handle(h);
    struct handle *hd = NULL;

    pthread_mutex_lock(&table_lock);
    for (struct handle **pp = &buckets[b]; *pp; pp = &(*pp)->next) {
        if ((*pp)->h == h) {
            hd = *pp;
            *pp = hd->next;
            n_handles--;
            break;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return hd;
}

static size_t body_cap(void)
{
    return tt_rt.max_body ? tt_rt.max_body : DEFAULT_MAX_BODY;
}

static void method_name(const struct handle *hd, char *out, size_t cap)
{
    static const char *const names[] = { "GET", "POST", "PUT", "HEAD" };

    snprintf(out, cap, "%s", hd->custom ? hd->custom : names[hd->method]);
}

/* The URL the transfer will use, in a malloc'd string (CURLU's is
 * libcurl's, freed with curl_free; we copy it to keep one owner). */
static char *handle_url(const struct handle *hd)
{
    if (hd->curlu) {
        url_get_fn get = REAL(real_url_get, "curl_url_get");
        free_fn cfree = REAL(real_free, "curl_free");
        char *s = NULL;
        char *copy = NULL;
        if (get && cfree && get(hd->curlu, CURLUPART_URL, &s, 0) == CURLUE_OK
            && s) {
            copy = strdup(s);
            cfree(s);
        }
        return copy;
    }
    return hd->url ? strdup(hd->url) : NULL;
}

/* Same rule as conn.c's req_on_head: a known API path is a call, on a
 * known host or not. A known LLM host with another path has nothing to
 * report here (no framing to follow through libcurl). */
static const struct tt_api_ops *judge(const struct handle *hd, const char *url,
                                      struct tt_curl_url *u, char *method,
                                      size_t method_cap, const char **provider)
{
    const struct tt_api_ops *api;

    if (!url || tt_curl_parse_url(url, strlen(url), u) != TT_OK)
        return NULL;
    /* tokentap gateway reports the calls made through it itself. */
    if (!u->https && tt_rt_is_gateway_host(u->hostport, strlen(u->hostport)))
        return NULL;
    method_name(hd, method, method_cap);
    api = tt_api_match(method, strlen(method), u->target, strlen(u->target));
    if (!api)
        return NULL;
    *provider = tt_provider_resolve(
        tt_provider_for_host(u->hostport, strlen(u->hostport)), api, u->https);
    return api;
}

/* Whether a COPYPOSTFIELDS copy may be needed: the URL is unknown yet or
 * names an API. Other programs pay nothing for their uploads. */
static bool maybe_llm(const struct handle *hd)
{
    struct tt_curl_url u;
    char method[32];
    const char *provider;

    if (hd->curlu || !hd->url)
        return true;
    return judge(hd, hd->url, &u, method, sizeof(method), &provider) != NULL;
}

static void set_str(char **slot, const char *s, size_t max)
{
    free(*slot);
    *slot = NULL;
    if (s && strnlen(s, max + 1) <= max)
        *slot = strdup(s);
}

/* Record one option the application set (libcurl accepted it). */
static void record(struct handle *hd, CURLoption option,
                   const union tt_curl_arg *a)
{
    switch (option) {
    case CURLOPT_URL:
        set_str(&hd->url, a->p, MAX_URL);
        break;
    case CURLOPT_CURLU:
        hd->curlu = a->p;
        break;
    case CURLOPT_CUSTOMREQUEST:
        set_str(&hd->custom, a->p, 31);
        break;
    /* The method follows libcurl's setopt.c (7.88): last one wins. */
    case CURLOPT_POST:
        hd->method = a->l ? M_POST : M_GET;
        break;
    case CURLOPT_HTTPGET:
        if (a->l)
            hd->method = M_GET;
        break;
    case CURLOPT_NOBODY:
        if (a->l)
            hd->method = M_HEAD;
        else if (hd->method == M_HEAD)
            hd->method = M_GET;
        break;
    case CURLOPT_UPLOAD:
    case CURLOPT_PUT:
        hd->method = a->l ? M_PUT : M_GET;
        break;
    case CURLOPT_POSTFIELDS:
        free(hd->post_copy);
        hd->post_copy = NULL;
        hd->postfields = a->p;
        hd->method = M_POST;
        hd->mime = false;
        break;
    case CURLOPT_COPYPOSTFIELDS: {
        /* libcurl copies post_size bytes, or up to the NUL when unset. */
        const char *src = a->p;
        free(hd->post_copy);
        hd->post_copy = NULL;
        hd->postfields = NULL;
        hd->method = M_POST;
        hd->mime = false;
        if (!src || !maybe_llm(hd))
            break;
        size_t n = hd->post_size < 0 ? strlen(src) : (size_t)hd->post_size;
        if (n > body_cap())
            n = body_cap();
        hd->post_copy = malloc(n + 1);
        if (hd->post_copy) {
            memcpy(hd->post_copy, src, n);
            hd->post_copy[n] = '\0';
            hd->post_copy_len = n;
            hd->postfields = hd->post_copy;
        }
        break;
    }
    case CURLOPT_POSTFIELDSIZE:
    case CURLOPT_POSTFIELDSIZE_LARGE: {
        curl_off_t n = option == CURLOPT_POSTFIELDSIZE ? (curl_off_t)a->l
                                                       : a->off;
        /* libcurl drops a COPYPOSTFIELDS copy the new size outgrows. */
        if (hd->post_copy && hd->postfields == hd->post_copy &&
            hd->post_size < n) {
            free(hd->post_copy);
            hd->post_copy = NULL;
            hd->postfields = NULL;
        }
        hd->post_size = n;
        break;
    }
    case CURLOPT_MIMEPOST:
    case CURLOPT_HTTPPOST:
        hd->method = M_POST;
        hd->mime = a->p != NULL;
        break;
    case CURLOPT_WRITEFUNCTION:
        hd->app_write = (curl_write_callback)a->fn;
        break;
    case CURLOPT_WRITEDATA:
        hd->app_wdata = a->p;
        hd->wdata_set = true;
        break;
    case CURLOPT_READFUNCTION:
        hd->app_read = (curl_read_callback)a->fn;
        break;
    case CURLOPT_READDATA:
        hd->app_rdata = a->p;
        hd->rdata_set = true;
        break;
    case CURLOPT_ACCEPT_ENCODING:
        hd->accept_enc = a->p != NULL;
        break;
    case CURLOPT_HTTP_CONTENT_DECODING:
        hd->no_content_decoding = a->l == 0;
        break;
    case CURLOPT_HEADER:
        hd->include_header = a->l != 0;
        break;
    default:
        break;
    }
}

CURLcode tt_curl_setopt(CURL *h, CURLoption option,
                        const union tt_curl_arg *arg)
{
    tt_curl_setopt_fn real = tt_curl_real_setopt();
    struct handle *hd;
    CURLcode rc;
    int saved;

    if (!real)
        return CURLE_FAILED_INIT;
    if (!h || tt_curl_recorded(option) < 0)
        return tt_curl_forward(real, h, option, arg);
    hd = handle_get(h, true);
    /* While our trampoline is installed, the app's callback and data live
     * here and the trampoline hands each chunk to them: replacing the
     * trampoline in libcurl would cut the capture, and the app sees the
     * same calls either way (libcurl returns CURLE_OK for these). */
    if (hd && ((hd->write_tramp && (option == CURLOPT_WRITEFUNCTION ||
                                    option == CURLOPT_WRITEDATA)) ||
               (hd->read_tramp && (option == CURLOPT_READFUNCTION ||
                                   option == CURLOPT_READDATA)))) {
        record(hd, option, arg);
        return CURLE_OK;
    }
    rc = tt_curl_forward(real, h, option, arg);
    saved = errno;
    if (hd && rc == CURLE_OK)
        record(hd, option, arg);
    errno = saved;
    return rc;
}

void tt_curl_record(CURL *h, CURLoption option, const union tt_curl_arg *arg)
{
    struct handle *hd = h && tt_curl_recorded(option) >= 0 ? handle_get(h, true) : NULL;

    if (hd)
        record(hd, option, arg);
}

/* --- the transfer ---------------------------------------------------------- */

static long info_long(CURL *h, CURLINFO what)
{
    getinfo_fn gi = REAL(real_getinfo, "curl_easy_getinfo");
    long v = 0;

    if (!gi || gi(h, what, &v) != CURLE_OK)
        return 0;
    return v;
}

static curl_off_t info_off(CURL *h, CURLINFO what, curl_off_t dflt)
{
    getinfo_fn gi = REAL(real_getinfo, "curl_easy_getinfo");
    curl_off_t v = dflt;

    if (!gi || gi(h, what, &v) != CURLE_OK)
        return dflt;
    return v;
}

static const char *version_name(long v)
{
    switch (v) {
    case CURL_HTTP_VERSION_1_0: return "1.0";
    case CURL_HTTP_VERSION_1_1: return "1.1";
    case CURL_HTTP_VERSION_2_0: return "2";
    case CURL_HTTP_VERSION_3:   return "3";
    default:                    return NULL;
    }
}

/* Past the cap the body is cut (the exchange flags the span truncated:
 * its cap is one byte smaller); out of memory the same. */
static void body_add(struct tt_buf *b, const char *p, size_t n)
{
    if (tt_buf_append(b, p, n) != TT_OK)
        b->truncated = true;
}

/* Create the exchange at the first response byte or at the end (now):
 * request line and body, the request's send time (libcurl's pretransfer
 * point), then the response head if a response arrived. */
static void xfer_open(CURL *h, struct xfer *x, int64_t now)
{
    long code = info_long(h, CURLINFO_RESPONSE_CODE);
    struct tt_ex_request r = {
        .api = x->api, .provider = x->provider,
        .host = x->u.hostport, .host_len = strlen(x->u.hostport),
        .method = x->method, .method_len = strlen(x->method),
        .target = x->u.target, .target_len = strlen(x->u.target),
        .http_version = version_name(info_long(h, CURLINFO_HTTP_VERSION)),
        .tls = x->u.https,
    };

    x->ex = tt_ex_new(&r, x->start_ns);
    if (!x->ex)
        return;
    if (x->body.len)
        tt_ex_req_body(x->ex, x->body.data, x->body.len);
    tt_buf_free(&x->body);
    curl_off_t pre = info_off(h, CURLINFO_PRETRANSFER_TIME_T, 0);
    int64_t sent = x->start_ns + (int64_t)pre * 1000;
    tt_ex_req_end(x->ex, sent < now ? sent : now);
    if (code <= 0)
        return;

    getinfo_fn gi = REAL(real_getinfo, "curl_easy_getinfo");
    header_fn hdr = REAL(real_header, "curl_easy_header");
    struct tt_hdr hs[3 + TT_PROVIDER_HEADER_PROBES];
    size_t n = 0;
    char *ct = NULL;
    struct curl_header *ce = NULL;
    if (gi && gi(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        hs[n++] = (struct tt_hdr){ "content-type", 12, ct, strlen(ct) };
    if (hdr && hdr(h, "Content-Encoding", 0, CURLH_HEADER, -1, &ce) ==
        CURLHE_OK && ce && ce->value)
        hs[n++] = (struct tt_hdr){ "content-encoding", 16, ce->value,
                                   strlen(ce->value) };
    /* The headers that name a provider (gateways on unnamed hosts:
     * tt_provider_from_headers); libcurl only answers by name. */
    for (size_t i = 0; hdr && tt_provider_header_probe(i) &&
                       n < sizeof(hs) / sizeof(hs[0]); i++) {
        struct curl_header *ph = NULL;
        const char *name = tt_provider_header_probe(i);
        if (hdr(h, name, 0, CURLH_HEADER, -1, &ph) == CURLHE_OK && ph &&
            ph->value)
            hs[n++] = (struct tt_hdr){ name, strlen(name), ph->value,
                                       strlen(ph->value) };
    }
    /* Answered by tokentap replay / run --mock (preload/redirect.h). */
    struct curl_header *rp = NULL;
    if (hdr && tt_rd_on() && hdr(h, "x-tokentap-replay", 0, CURLH_HEADER, -1, &rp) ==
        CURLHE_OK && rp && rp->value)
        hs[n++] = (struct tt_hdr){ "x-tokentap-replay", 17, rp->value, strlen(rp->value) };
    x->want_body = tt_ex_resp_head_ex(x->ex, (int)code, hs, n,
                                      x->decoded ? TT_EX_BODY_DECODED : 0,
                                      now);
}

/* Bytes the app's write callback accepted (size*nmemb already applied). */
static void xfer_write(CURL *h, struct xfer *x, const char *p, size_t n,
                       int64_t now)
{
    uint64_t before = x->accepted;

    x->accepted += n;
    if (x->include_header) {
        /* CURLOPT_HEADER: the heads of every response so far come first in
         * the stream; the body starts after HEADER_SIZE bytes. */
        uint64_t hsize = (uint64_t)info_long(h, CURLINFO_HEADER_SIZE);
        if (x->accepted <= hsize)
            return;
        if (before < hsize) {
            p += hsize - before;
            n -= (size_t)(hsize - before);
        }
    }
    if (!n)
        return;
    if (!x->ex)
        xfer_open(h, x, now);
    if (x->ex && x->want_body)
        tt_ex_resp_body(x->ex, p, n, now);
}

/* The write trampoline: the app's callback (or libcurl's default fwrite)
 * first, its answer returned unchanged; only accepted bytes recorded. The
 * app's code runs at depth 0, as it would without tokentap (its own
 * calls, e.g. another transfer from inside the callback, are its own). */
static size_t tramp_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct handle *hd = ud;
    int depth = tt_rt_depth;
    size_t ret;

    tt_rt_depth = 0;
    if (hd->app_write)
        ret = hd->app_write(ptr, size, nmemb, hd->wdata_set ? hd->app_wdata
                                                             : stdout);
    else
        ret = fwrite(ptr, size, nmemb, hd->wdata_set && hd->app_wdata
                                           ? hd->app_wdata : stdout);
    tt_rt_depth = depth + 1;
    if (hd->x && !tt_rt_off && ret != CURL_WRITEFUNC_PAUSE && size &&
        ret <= nmemb) {
        int saved = errno;
        /* libcurl calls with size 1; ret counts nmemb units like fwrite */
        xfer_write(hd->h, hd->x, ptr, ret * size, tt_now_ns());
        errno = saved;
    }
    tt_rt_depth = depth;
    return ret;
}

/* The read trampoline (request bodies sent from the app's read callback). */
static size_t tramp_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct handle *hd = ud;
    int depth = tt_rt_depth;
    size_t ret;

    tt_rt_depth = 0;
    if (hd->app_read)
        ret = hd->app_read(buf, size, nitems, hd->rdata_set ? hd->app_rdata
                                                             : stdin);
    else
        ret = fread(buf, size, nitems, hd->rdata_set && hd->app_rdata
                                           ? hd->app_rdata : stdin);
    tt_rt_depth = depth;
    /* Not CURL_READFUNC_ABORT/PAUSE: bytes that go out. */
    if (hd->x && ret <= size * nitems && ret)
        body_add(&hd->x->body, buf, ret);
    return ret;
}

/* The app's callbacks back in libcurl (a transfer tokentap does not trace
 * after one it did, or a duplicated handle). */
static void restore_callbacks(tt_curl_setopt_fn real, CURL *h,
                              struct handle *hd)
{
    if (hd->write_tramp) {
        (void)real(h, CURLOPT_WRITEFUNCTION, hd->app_write);
        (void)real(h, CURLOPT_WRITEDATA, hd->wdata_set ? hd->app_wdata
                                                       : (void *)stdout);
        hd->write_tramp = false;
    }
    if (hd->read_tramp) {
        (void)real(h, CURLOPT_READFUNCTION, hd->app_read);
        (void)real(h, CURLOPT_READDATA, hd->rdata_set ? hd->app_rdata
                                                      : (void *)stdin);
        hd->read_tramp = false;
    }
}

bool tt_curl_begin(CURL *h)
{
    tt_emit_flush_pending();     /* the worker's finished spans (emit.h) */
    tt_curl_setopt_fn real = tt_curl_real_setopt();
    struct handle *hd = h ? handle_get(h, false) : NULL;
    struct xfer *x = NULL;
    char *url = NULL;
    int saved = errno;
    bool traced = false;

    if (!hd || !real || hd->x)
        goto out;
    x = calloc(1, sizeof(*x));
    if (!x)
        goto out;
    url = handle_url(hd);
    x->api = judge(hd, url, &x->u, x->method, sizeof(x->method),
                   &x->provider);
    if (!x->api || !tt_rt_ready()) {
        restore_callbacks(real, h, hd);
        goto out;
    }
    x->start_ns = tt_now_ns();
    x->decoded = hd->accept_enc && !hd->no_content_decoding;
    x->include_header = hd->include_header;
    x->want_body = true;
    /* One byte above the exchange's cap, so a longer body is flagged
     * truncated there. */
    tt_buf_init(&x->body, body_cap() + 1);
    if (hd->postfields && !hd->mime) {
        size_t n = hd->post_size < 0 ? strlen(hd->postfields)
                                     : (size_t)hd->post_size;
        if (hd->postfields == hd->post_copy && n > hd->post_copy_len)
            n = hd->post_copy_len;
        body_add(&x->body, hd->postfields, n);
    }
    if (!hd->write_tramp) {
        if (real(h, CURLOPT_WRITEFUNCTION, tramp_write) != CURLE_OK ||
            real(h, CURLOPT_WRITEDATA, hd) != CURLE_OK) {
            /* leave the handle as the app set it */
            hd->write_tramp = true;
            restore_callbacks(real, h, hd);
            goto out;
        }
        hd->write_tramp = true;
    }
    /* Only an app read callback is wrapped: libcurl rewinds a default
     * fread upload by comparing the callback with fread. */
    if (!hd->read_tramp && hd->app_read && !hd->postfields && !hd->mime &&
        (hd->method == M_POST || hd->method == M_PUT)) {
        if (real(h, CURLOPT_READFUNCTION, tramp_read) == CURLE_OK &&
            real(h, CURLOPT_READDATA, hd) == CURLE_OK)
            hd->read_tramp = true;
        else
            (void)real(h, CURLOPT_READFUNCTION, hd->app_read);
    }
    hd->x = x;
    x = NULL;
    traced = true;
out:
    if (x)
        tt_buf_free(&x->body);
    free(x);
    free(url);
    errno = saved;
    return traced;
}

void tt_curl_cancel(CURL *h)
{
    struct handle *hd = h ? handle_get(h, false) : NULL;

    if (!hd || !hd->x)
        return;
    xfer_free(hd->x);
    hd->x = NULL;
}

static void xfer_finish(CURL *h, struct handle *hd, bool complete,
                        const char *why)
{
    struct xfer *x = hd->x;
    int64_t now = tt_now_ns();
    int saved = errno;

    hd->x = NULL;
    if (!x->ex)
        xfer_open(h, x, now);
    if (x->ex)
        tt_ex_end(x->ex, complete, complete ? NULL : why, now);
    x->ex = NULL;
    xfer_free(x);
    errno = saved;
}

void tt_curl_done(CURL *h, CURLcode result)
{
    tt_emit_flush_pending();
    struct handle *hd = h ? handle_get(h, false) : NULL;
    char why[200] = "";

    if (!hd || !hd->x)
        return;
    if (result != CURLE_OK) {
        strerror_fn se = REAL(real_strerror, "curl_easy_strerror");
        snprintf(why, sizeof(why), "curl: %s",
                 se ? se(result) : "transfer failed");
    }
    xfer_finish(h, hd, result == CURLE_OK, why);
}

void tt_curl_drop(CURL *h, const char *why)
{
    struct handle *hd = h ? handle_get(h, false) : NULL;

    if (!hd || !hd->x)
        return;
    long code = info_long(h, CURLINFO_RESPONSE_CODE);
    curl_off_t cl = info_off(h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, -1);
    curl_off_t got = info_off(h, CURLINFO_SIZE_DOWNLOAD_T, 0);
    bool whole = code > 0 && (cl >= 0 ? got >= cl : hd->x->ex != NULL);
    xfer_finish(h, hd, whole, why);
}

void tt_curl_dup(CURL *from, CURL *to)
{
    tt_curl_setopt_fn real = tt_curl_real_setopt();
    struct handle *src = from ? handle_get(from, false) : NULL;
    struct handle *dst;

    if (!src || !to || !real)
        return;
    /* libcurl copied our trampolines and their data (src's entry): give the
     * copy the app's callbacks whatever happens to our record of it. */
    if (src->write_tramp) {
        (void)real(to, CURLOPT_WRITEFUNCTION, src->app_write);
        (void)real(to, CURLOPT_WRITEDATA, src->wdata_set ? src->app_wdata
                                                         : (void *)stdout);
    }
    if (src->read_tramp) {
        (void)real(to, CURLOPT_READFUNCTION, src->app_read);
        (void)real(to, CURLOPT_READDATA, src->rdata_set ? src->app_rdata
                                                        : (void *)stdin);
    }
    dst = handle_get(to, true);
    if (!dst || dst == src)
        return;
    struct handle keep = *dst;
    xfer_free(keep.x);
    free(keep.url);
    free(keep.custom);
    free(keep.post_copy);
    *dst = *src;
    dst->h = keep.h;
    dst->next = keep.next;
    dst->x = NULL;
    dst->write_tramp = dst->read_tramp = false;
    dst->url = src->url ? strdup(src->url) : NULL;
    dst->custom = src->custom ? strdup(src->custom) : NULL;
    dst->post_copy = NULL;
    if (src->post_copy && src->postfields == src->post_copy) {
        /* libcurl duplicated its copy too; ours follows */
        dst->post_copy = malloc(src->post_copy_len + 1);
        if (dst->post_copy)
            memcpy(dst->post_copy, src->post_copy, src->post_copy_len + 1);
        dst->postfields = dst->post_copy;
    }
}

void tt_curl_forget(CURL *h)
{
    struct handle *hd = h ? handle_unlink(h) : NULL;

    if (hd)
        handle_free(hd);
}
