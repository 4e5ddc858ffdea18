/* gateway.c - `tokentap gateway` (see gateway.h).
 *
 * One detached thread per client connection, blocking I/O: a connection
 * reads HTTP/1.1 requests (preload/http1.c's parser, keep-alive), and for
 * each one runs a libcurl transfer to the upstream on the connection's
 * easy handle. Upstream connections are pooled across client connections
 * (a CURLSH sharing connections, TLS sessions and DNS), so a client that
 * opens a connection per call does not pay a TLS handshake per call.
 *
 * Streaming: libcurl's write callback writes each piece of the answer to
 * the client socket before it returns (TCP_NODELAY), re-framed as chunked
 * when the upstream gave no Content-Length (HTTP/2, or chunked HTTP/1.1);
 * nothing is held back. The request body is streamed the other way by the
 * read callback.
 *
 * Failures: an upstream that cannot be reached, or that breaks the
 * answer, makes the gateway reset the client connection (SO_LINGER 0), so
 * the client sees a connection error as it would have directly; a client
 * that goes away aborts the upstream transfer. Each call's span says what
 * happened. */
#include "gateway.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "api.h"
#include "cli.h"
#include "elfcheck.h"
#include "exchange.h"
#include "gateway_ws.h"
#include "http1.h"
#include "proctree.h"
#include "provider.h"
#include "redirect.h"
#include "rt.h"
#include "span.h"

#define GW_RECV_BUF (64 * 1024)
#define GW_MAX_CONNS 4096
#define GW_THREAD_STACK (512 * 1024)
#define GW_IDLE_MS (5 * 60 * 1000)      /* keep-alive connection idle limit */
#define GW_CONNECT_TIMEOUT_S 30L
#define GW_POOL 256                     /* idle upstream connections kept */

/* ------------------------------------------------------------- routes */

static const struct {
    const char *name, *base, *env;
} default_routes[] = {
    { "openai", "https://api.openai.com/v1", "OPENAI_BASE_URL" },
    { "anthropic", "https://api.anthropic.com", "ANTHROPIC_BASE_URL" },
    { "gemini", "https://generativelanguage.googleapis.com", "GOOGLE_GEMINI_BASE_URL" },
    { "ollama", "http://127.0.0.1:11434", "OLLAMA_HOST" },
};

void tt_gw_routes_default(struct tt_gw_routes *rt)
{
    memset(rt, 0, sizeof(*rt));
    for (size_t i = 0; i < sizeof(default_routes) / sizeof(default_routes[0]); i++) {
        snprintf(rt->r[i].name, sizeof(rt->r[i].name), "%s", default_routes[i].name);
        snprintf(rt->r[i].base, sizeof(rt->r[i].base), "%s", default_routes[i].base);
        rt->r[i].env = default_routes[i].env;
        rt->n++;
    }
}

int tt_gw_routes_set(struct tt_gw_routes *rt, const char *spec)
{
    const char *eq = strchr(spec, '=');
    size_t nl = eq ? (size_t)(eq - spec) : 0;

    if (!eq || nl == 0 || nl >= sizeof(rt->r[0].name))
        return TT_ERR_PARSE;
    for (size_t i = 0; i < nl; i++)
        if (!(isalnum((unsigned char)spec[i]) || spec[i] == '-' || spec[i] == '_'))
            return TT_ERR_PARSE;
    const char *url = eq + 1;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return TT_ERR_PARSE;
    size_t ul = strlen(url);
    while (ul && url[ul - 1] == '/')
        ul--;
    if (ul >= TT_GW_URL_MAX || ul <= 8)
        return TT_ERR_PARSE;
    struct tt_gw_route *r = NULL;
    for (size_t i = 0; i < rt->n; i++)
        if (strlen(rt->r[i].name) == nl && !memcmp(rt->r[i].name, spec, nl))
            r = &rt->r[i];
    if (!r) {
        if (rt->n == TT_GW_ROUTES_MAX)
            return TT_ERR_CAP;
        r = &rt->r[rt->n++];
        memcpy(r->name, spec, nl);
        r->name[nl] = '\0';
        r->env = NULL;
    }
    memcpy(r->base, url, ul);
    r->base[ul] = '\0';
    return TT_OK;
}

static const struct tt_gw_route *route_named(const struct tt_gw_routes *rt,
                                             const char *name)
{
    for (size_t i = 0; i < rt->n; i++)
        if (!strcmp(rt->r[i].name, name))
            return &rt->r[i];
    return NULL;
}

/* Length of the scheme://authority part of a URL. */
static size_t origin_len(const char *url)
{
    const char *p = strstr(url, "://");

    if (!p)
        return 0;
    p += 3;
    return (size_t)(p - url) + strcspn(p, "/?#");
}

int tt_gw_route_url(const struct tt_gw_routes *rt, const char *target,
                    size_t target_len, char *url, size_t n)
{
    const struct tt_gw_route *r = NULL;
    const char *rest = target;
    size_t rest_len = target_len, base_len;

    if (target_len == 0 || target[0] != '/')
        return TT_ERR_PARSE;
    /* "/name" followed by '/', '?' or the end. */
    size_t seg = 1;
    while (seg < target_len && target[seg] != '/' && target[seg] != '?')
        seg++;
    for (size_t i = 0; i < rt->n; i++)
        if (strlen(rt->r[i].name) == seg - 1 && !memcmp(rt->r[i].name, target + 1, seg - 1)) {
            r = &rt->r[i];
            rest = target + seg;
            rest_len = target_len - seg;
            break;
        }
    if (r) {
        base_len = strlen(r->base);
    } else {
        /* No prefix: the API the path speaks names the upstream, and the
         * whole path goes under its origin. */
        const char *name = "openai";
        if (target_len >= 5 && !memcmp(target, "/api/", 5))
            name = "ollama";
        else if (target_len >= 12 && !memcmp(target, "/v1/messages", 12))
            name = "anthropic";
        else if ((target_len >= 8 && !memcmp(target, "/v1beta/", 8)) ||
                 (target_len >= 11 && !memcmp(target, "/v1/models/", 11) &&
                  memchr(target, ':', target_len)))
            name = "gemini";
        r = route_named(rt, name);
        if (!r)
            return TT_ERR_PARSE;
        base_len = origin_len(r->base);
    }
    if (base_len + rest_len + 2 > n)
        return TT_ERR_CAP;
    memcpy(url, r->base, base_len);
    size_t k = base_len;
    if (rest_len == 0 || rest[0] == '?')
        url[k++] = '/';
    memcpy(url + k, rest, rest_len);
    url[k + rest_len] = '\0';
    return TT_OK;
}

bool tt_gw_hop_header(const char *name, size_t len)
{
    static const char *const hop[] = {
        "connection", "keep-alive", "proxy-connection", "te", "trailer",
        "transfer-encoding", "upgrade", "proxy-authorization",
        "proxy-authenticate",
    };

    for (size_t i = 0; i < sizeof(hop) / sizeof(hop[0]); i++)
        if (tt_tok_ieq(name, len, hop[i]))
            return true;
    return false;
}

const char *tt_gw_reason(int status)
{
    static const struct { int s; const char *r; } t[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" },
        { 201, "Created" }, { 202, "Accepted" }, { 204, "No Content" },
        { 206, "Partial Content" }, { 301, "Moved Permanently" },
        { 302, "Found" }, { 303, "See Other" }, { 304, "Not Modified" },
        { 307, "Temporary Redirect" }, { 308, "Permanent Redirect" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 403, "Forbidden" },
        { 404, "Not Found" }, { 405, "Method Not Allowed" },
        { 408, "Request Timeout" }, { 409, "Conflict" },
        { 413, "Content Too Large" }, { 415, "Unsupported Media Type" },
        { 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
        { 499, "Client Closed Request" }, { 500, "Internal Server Error" },
        { 501, "Not Implemented" }, { 502, "Bad Gateway" },
        { 503, "Service Unavailable" }, { 504, "Gateway Timeout" },
        { 529, "Overloaded" },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].s == status)
            return t[i].r;
    return "Unknown";
}


bool tt_gw_user_upstream(const char *name, const char *value, char *out, size_t n)
{
    const char *route = NULL;
    bool ollama = !strcmp(name, "OLLAMA_HOST");
    int w;

    for (size_t i = 0; tt_gw_base_var(i); i++)
        if (!strcmp(tt_gw_base_var(i), name))
            route = tt_gw_base_route(i) ? tt_gw_base_route(i) : "ollama";
    if (!route || !value || !*value)
        return false;
    if (ollama) {
        const char *hp = value;
        const char *scheme = "http";
        if (!strncmp(hp, "http://", 7))
            hp += 7;
        else if (!strncmp(hp, "https://", 8)) {
            hp += 8;
            scheme = "https";
        }
        size_t hl = strcspn(hp, "/");
        const char *colon = memchr(hp, ':', hl);
        size_t host_len = colon ? (size_t)(colon - hp) : hl;
        const char *host = hp;
        if (host_len == 0 || (host_len == 7 && !memcmp(host, "0.0.0.0", 7))) {
            host = "127.0.0.1";
            host_len = 9;
        }
        w = snprintf(out, n, "ollama=%s://%.*s:%.*s%s", scheme, (int)host_len, host,
                     colon ? (int)(hl - host_len - 1) : 5, colon ? colon + 1 : "11434",
                     hp + hl);
    } else {
        if (strncmp(value, "http://", 7) && strncmp(value, "https://", 8))
            return false;
        w = snprintf(out, n, "%s=%s", route, value);
    }
    return w > 0 && (size_t)w < n;
}

/* ------------------------------------------------------- peer process */

/* The inode of the IPv4 TCP socket 127.0.0.1:client_port ->
 * 127.0.0.1:server_port (the client's end), 0 if none. */
static unsigned long client_inode(unsigned client_port, unsigned server_port)
{
    char line[512], want_l[32], want_r[32];
    unsigned long inode = 0;
    FILE *f = fopen("/proc/net/tcp", "re");

    if (!f)
        return 0;
    snprintf(want_l, sizeof(want_l), "0100007F:%04X", client_port);
    snprintf(want_r, sizeof(want_r), "0100007F:%04X", server_port);
    while (fgets(line, sizeof(line), f)) {
        char local[64], remote[64];
        unsigned long ino;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu",
                   local, remote, &ino) == 3 &&
            !strcmp(local, want_l) && !strcmp(remote, want_r)) {
            inode = ino;
            break;
        }
    }
    fclose(f);
    return inode;
}

static bool pid_has_inode(int64_t pid, const char *want)
{
    char dir[64], path[320], link[64];
    bool found = false;

    snprintf(dir, sizeof(dir), "/proc/%" PRId64 "/fd", pid);
    DIR *d = opendir(dir);
    if (!d)
        return false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, link, sizeof(link) - 1);
        if (n > 0) {
            link[n] = '\0';
            found = !strcmp(link, want);
        }
    }
    closedir(d);
    return found;
}

/* Depth-first over /proc/<pid>/task/<tid>/children. */
static int64_t search_tree(int64_t pid, const char *want, int depth)
{
    char dir[64], path[128], buf[4096];

    if (pid_has_inode(pid, want))
        return pid;
    if (depth > 32)
        return 0;
    snprintf(dir, sizeof(dir), "/proc/%" PRId64 "/task", pid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    int64_t found = 0;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%.20s/children", dir, e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[n > 0 ? n : 0] = '\0';
        for (char *p = buf; !found && *p;) {
            char *end;
            long long c = strtoll(p, &end, 10);
            if (end == p)
                break;
            if (c > 0)
                found = search_tree(c, want, depth + 1);
            p = end;
        }
    }
    closedir(d);
    return found;
}

/* The callers found last: a program opens many connections (an SDK's
 * pool, 500 streams from one process), and looking in its descriptors
 * first spares a walk over every process's for each of them. A pid reused
 * since is harmless: the inode is checked. */
#define GW_RECENT 8
static _Atomic int64_t recent_pid[GW_RECENT];
static atomic_uint recent_next;

static int64_t found_pid(int64_t pid)
{
    if (pid > 0)
        atomic_store(&recent_pid[atomic_fetch_add(&recent_next, 1) % GW_RECENT], pid);
    return pid;
}

int64_t tt_gw_peer_pid(unsigned client_port, unsigned server_port,
                       int64_t root_pid)
{
    char want[48];
    unsigned long inode = client_inode(client_port, server_port);

    if (!inode)
        return 0;
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    for (int i = 0; i < GW_RECENT; i++) {
        int64_t p = atomic_load(&recent_pid[i]);
        if (p > 0 && pid_has_inode(p, want))
            return p;
    }
    if (root_pid > 0) {
        int64_t p = search_tree(root_pid, want, 0);
        if (p)
            return found_pid(p);
    }
    DIR *d = opendir("/proc");
    if (!d)
        return 0;
    struct dirent *e;
    int64_t found = 0;
    int64_t self = (int64_t)getpid();
    while (!found && (e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        int64_t pid = strtoll(e->d_name, NULL, 10);
        if (pid != self && pid_has_inode(pid, want))
            found = pid;
    }
    closedir(d);
    return found_pid(found);
}

/* ------------------------------------------------------------ gateway */

struct gw {
    int lfd;
    unsigned port;
    bool quiet;
    bool http2;                     /* --http2: HTTP/2 upstream where offered */
    int64_t root_pid;               /* TOKENTAP_RUN_PID: where callers live */
    bool traced_run;                /* TRACEPARENT given: a run's gateway */
    struct tt_gw_routes routes;
    const char *cainfo, *capath;    /* SSL_CERT_FILE, SSL_CERT_DIR */
    CURLSH *share;
    pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
    atomic_int conns;
    atomic_ullong calls, failed;
};

static volatile sig_atomic_t gw_stop;

/* Finished exchanges wait here for the delivery thread: pricing,
 * conversation, redaction and the hand-over to tokentapd happen off the
 * connection's thread, so a keep-alive client's next request is read at
 * once (fig 9 of make bench). */
struct gw_done {
    struct gw_done *next;
    struct tt_exchange *ex;
    bool complete;
    int64_t now;
    char why[CURL_ERROR_SIZE + 96];
};
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct gw_done *head, *tail;
    bool stop;
} dq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, false };

static void ex_end_async(struct tt_exchange *ex, bool complete, const char *why,
                         int64_t now)
{
    struct gw_done *d;

    if (!ex)
        return;
    d = calloc(1, sizeof(*d));
    if (!d) {
        tt_ex_end(ex, complete, why, now);     /* no memory: do it here */
        return;
    }
    d->ex = ex;
    d->complete = complete;
    d->now = now;
    if (why)
        snprintf(d->why, sizeof(d->why), "%s", why);
    pthread_mutex_lock(&dq.lock);
    if (dq.tail)
        dq.tail->next = d;
    else
        dq.head = d;
    dq.tail = d;
    pthread_cond_signal(&dq.cond);
    pthread_mutex_unlock(&dq.lock);
}

static void *delivery_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&dq.lock);
    for (;;) {
        while (!dq.head && !dq.stop)
            pthread_cond_wait(&dq.cond, &dq.lock);
        struct gw_done *d = dq.head;
        if (!d)
            break;              /* stopping and drained */
        dq.head = d->next;
        if (!dq.head)
            dq.tail = NULL;
        pthread_mutex_unlock(&dq.lock);
        tt_ex_end(d->ex, d->complete, d->why[0] ? d->why : NULL, d->now);
        free(d);
        pthread_mutex_lock(&dq.lock);
    }
    pthread_mutex_unlock(&dq.lock);
    return NULL;
}

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access acc, void *ud)
{
    struct gw *g = ud;

    (void)h;
    (void)acc;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_lock(&g->share_lock[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *ud)
{
    struct gw *g = ud;

    (void)h;
    if ((unsigned)data < CURL_LOCK_DATA_LAST)
        pthread_mutex_unlock(&g->share_lock[data]);
}

/* A request head as received, copied out of the parser's buffer. */
struct gw_req {
    struct gw_req *next;
    char *method, *target;
    struct curl_slist *hdrs;        /* forwarded request headers */
    int minor;                      /* HTTP/1.<minor> */
    int64_t content_length;         /* -1: none */
    bool chunked, conn_close, expect_continue, upgrade;
    bool websocket;                 /* Upgrade: websocket (gateway_ws.c) */
    /* Body bytes received and not yet handed to libcurl. */
    char *body;
    size_t body_len, body_off, body_cap;
    bool done;                      /* the parser saw the request's end */
};

struct gw_conn {
    struct gw *g;
    int fd;
    unsigned peer_port;
    int64_t client_pid;             /* the caller, 0 unknown */
    char client_exe[PATH_MAX];
    char client_span[17];           /* its process span, "" unknown */
    char client_trace[33];          /* its trace outside a run, "" else */
    bool client_counts;             /* its own preload counts its calls */
    bool pid_done;
    int64_t resp_len;               /* the answer's Content-Length, -1 none */
    int64_t hup_checked_ms;         /* cb_progress's last look at the client */
    struct tt_h1 parser;
    struct gw_req *head, *tail;     /* requests in arrival order */
    struct gw_req *feeding;         /* the request the parser is reading */
    bool eof, broken;               /* client closed / unparseable */
    bool req_ended;                 /* the last read ended a request */
    CURL *curl;
    /* The transfer in progress. */
    struct gw_req *req;
    struct tt_exchange *ex;
    struct tt_buf rhead;            /* upstream head lines, current response */
    struct tt_buf pend;             /* our head, held for the first body piece */
    int status;
    bool head_sent, chunked_out, close_after, body_ok, client_gone;
    bool in_body;
    size_t sent;                    /* response bytes written to the client */
};

static void req_free(struct gw_req *r)
{
    if (!r)
        return;
    free(r->method);
    free(r->target);
    curl_slist_free_all(r->hdrs);
    free(r->body);
    free(r);
}

static int body_append(struct gw_req *r, const char *p, size_t n)
{
    if (r->body_off && r->body_off == r->body_len)
        r->body_off = r->body_len = 0;
    if (r->body_len + n > r->body_cap) {
        if (r->body_off) {
            memmove(r->body, r->body + r->body_off, r->body_len - r->body_off);
            r->body_len -= r->body_off;
            r->body_off = 0;
        }
        size_t cap = r->body_cap ? r->body_cap : 16384;
        while (cap < r->body_len + n)
            cap *= 2;
        if (cap != r->body_cap) {
            char *nb = realloc(r->body, cap);
            if (!nb)
                return TT_ERR_NOMEM;
            r->body = nb;
            r->body_cap = cap;
        }
    }
    memcpy(r->body + r->body_len, p, n);
    r->body_len += n;
    return TT_OK;
}

static int on_req_head(void *ud, const struct tt_h1_head *h)
{
    struct gw_conn *c = ud;
    struct gw_req *r = calloc(1, sizeof(*r));
    bool has_accept = false, has_ctype = false;

    if (!r)
        return TT_ERR_NOMEM;
    r->method = tt_strndup(h->method, h->method_len);
    r->target = tt_strndup(h->target, h->target_len);
    r->minor = h->minor_version;
    r->content_length = h->content_length;
    r->chunked = h->chunked;
    r->conn_close = h->conn_close;
    if (!r->method || !r->target)
        goto nomem;
    for (size_t i = 0; i < h->n_headers; i++) {
        const struct tt_hdr *x = &h->headers[i];
        if (tt_tok_ieq(x->name, x->name_len, "expect")) {
            r->expect_continue = x->value_len >= 12 &&
                                 !strncasecmp(x->value, "100-continue", 12);
            continue;
        }
        if (tt_tok_ieq(x->name, x->name_len, "upgrade")) {
            r->upgrade = true;
            r->websocket = tt_tok_ieq(x->value, x->value_len, "websocket");
        }
        /* libcurl writes Host (the upstream's) and the body framing. */
        if (tt_gw_hop_header(x->name, x->name_len) ||
            tt_tok_ieq(x->name, x->name_len, "host") ||
            tt_tok_ieq(x->name, x->name_len, "content-length"))
            continue;
        has_accept |= tt_tok_ieq(x->name, x->name_len, "accept");
        has_ctype |= tt_tok_ieq(x->name, x->name_len, "content-type");
        char line[16384];
        int n = snprintf(line, sizeof(line), "%.*s: %.*s", (int)x->name_len,
                         x->name, (int)x->value_len, x->value);
        if (n < 0 || (size_t)n >= sizeof(line))
            continue;       /* a header above 16 KiB: libcurl refuses it too */
        if (x->value_len == 0)      /* "Name;" is how libcurl sends an empty one */
            snprintf(line, sizeof(line), "%.*s;", (int)x->name_len, x->name);
        struct curl_slist *l = curl_slist_append(r->hdrs, line);
        if (!l)
            goto nomem;
        r->hdrs = l;
    }
    /* libcurl's own defaults would add what the client did not send. */
    const char *drop[] = { "Expect:", has_accept ? NULL : "Accept:",
                           has_ctype ? NULL : "Content-Type:" };
    for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
        if (!drop[i])
            continue;
        struct curl_slist *l = curl_slist_append(r->hdrs, drop[i]);
        if (!l)
            goto nomem;
        r->hdrs = l;
    }
    if (c->tail)
        c->tail->next = r;
    else
        c->head = r;
    c->tail = r;
    c->feeding = r;
    /* A WebSocket upgrade has no body; what follows is not HTTP/1. */
    return r->upgrade ? TT_H1_NO_BODY : TT_H1_BODY;
nomem:
    req_free(r);
    return TT_ERR_NOMEM;
}

static int on_req_body(void *ud, const char *p, size_t n)
{
    struct gw_conn *c = ud;

    return c->feeding ? body_append(c->feeding, p, n) : TT_OK;
}

static int on_req_done(void *ud, bool complete)
{
    struct gw_conn *c = ud;

    (void)complete;
    if (c->feeding)
        c->feeding->done = true;
    c->feeding = NULL;
    c->req_ended = true;
    return TT_OK;
}

static const struct tt_h1_callbacks req_cb = {
    .on_head = on_req_head, .on_body = on_req_body, .on_done = on_req_done,
};

/* Read once from the client and parse. false at EOF or error. */
static bool conn_read(struct gw_conn *c, int timeout_ms)
{
    char buf[GW_RECV_BUF];
    struct pollfd pfd = { .fd = c->fd, .events = POLLIN };

    if (c->eof || c->broken)
        return false;
    int pr = poll(&pfd, 1, timeout_ms);
    if (pr == 0)
        return true;        /* nothing yet; the caller decides */
    if (pr < 0)
        return errno == EINTR;
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return true;
    if (n <= 0) {
        c->eof = true;
        (void)tt_h1_eof(&c->parser, &req_cb, c);
        return false;
    }
    c->req_ended = false;
    if (tt_h1_feed(&c->parser, buf, (size_t)n, &req_cb, c) != TT_OK) {
        c->broken = true;
        return false;
    }
    /* ACK at once unless the read ended a request: a client that writes a
     * request in two pieces under Nagle (headers, then body) would
     * otherwise wait for our delayed ACK (40 ms) before sending the body.
     * Linux re-arms delayed ACKs, so after every such read. A complete
     * request needs none: the client waits for the answer, which carries
     * the ACK. */
    if (!c->req_ended || c->parser.in_message) {
        int one = 1;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    return true;
}

static bool send_all(int fd, const struct iovec *iov_in, int iovcnt)
{
    struct iovec iov[4];
    int k = 0;

    for (int i = 0; i < iovcnt && k < 4; i++)
        if (iov_in[i].iov_len)
            iov[k++] = iov_in[i];
    struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)k };
    while (m.msg_iovlen) {
        ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        size_t left = (size_t)w;
        while (m.msg_iovlen && left >= m.msg_iov[0].iov_len) {
            left -= m.msg_iov[0].iov_len;
            m.msg_iov++;
            m.msg_iovlen--;
        }
        if (m.msg_iovlen) {
            m.msg_iov[0].iov_base = (char *)m.msg_iov[0].iov_base + left;
            m.msg_iov[0].iov_len -= left;
        }
    }
    return true;
}

static bool send_str(int fd, const char *s, size_t n)
{
    struct iovec v = { .iov_base = (void *)s, .iov_len = n };

    return send_all(fd, &v, 1);
}

/* A response of the gateway's own (a request it cannot forward). */
static void send_own(struct gw_conn *c, int status, const char *msg)
{
    char buf[1024];
    int n = snprintf(buf, sizeof(buf),
                     "HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\n"
                     "content-length: %zu\r\nconnection: close\r\n\r\n%s",
                     status, tt_gw_reason(status), strlen(msg), msg);

    if (n > 0)
        (void)send_str(c->fd, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
    c->close_after = true;
}

/* --- libcurl callbacks -------------------------------------------------- */

static size_t cb_read(char *out, size_t size, size_t nitems, void *ud)
{
    struct gw_conn *c = ud;
    struct gw_req *r = c->req;
    size_t cap = size * nitems;

    for (;;) {
        if (r->body_off < r->body_len) {
            size_t n = r->body_len - r->body_off;
            if (n > cap)
                n = cap;
            memcpy(out, r->body + r->body_off, n);
            r->body_off += n;
            if (c->ex)
                tt_ex_req_body(c->ex, out, n);
            return n;
        }
        if (r->done) {
            if (c->ex)
                tt_ex_req_end(c->ex, tt_now_ns());
            return 0;
        }
        if (!conn_read(c, 1000)) {
            if (r->done)
                continue;
            return CURL_READFUNC_ABORT;     /* the client went away mid-body */
        }
    }
}

/* Split the head lines kept in c->rhead into headers for the exchange. */
static size_t head_headers(struct gw_conn *c, struct tt_hdr *h, size_t max)
{
    size_t n = 0;
    char *p = c->rhead.data, *end = p + c->rhead.len;

    /* skip the status line */
    char *nl = memchr(p, '\n', (size_t)(end - p));
    p = nl ? nl + 1 : end;
    while (p < end && n < max) {
        char *e = memchr(p, '\n', (size_t)(end - p));
        size_t len = e ? (size_t)(e - p) : (size_t)(end - p);
        size_t l = len;
        while (l && (p[l - 1] == '\r' || p[l - 1] == ' '))
            l--;
        char *colon = memchr(p, ':', l);
        if (colon) {
            char *v = colon + 1;
            while (v < p + l && (*v == ' ' || *v == '\t'))
                v++;
            h[n].name = p;
            h[n].name_len = (size_t)(colon - p);
            h[n].value = v;
            h[n].value_len = (size_t)(p + l - v);
            n++;
        }
        p += len + 1;
    }
    return n;
}

/* The upstream head is complete: write ours to the client. */
static bool send_head(struct gw_conn *c)
{
    struct tt_hdr h[TT_H1_MAX_HEADERS];
    struct tt_buf out;
    size_t n = head_headers(c, h, TT_H1_MAX_HEADERS);
    bool has_len = false, ok = false;
    const char *reason = NULL;
    size_t reason_len = 0;

    /* HTTP/1.x status line: keep its reason phrase. */
    if (c->rhead.len > 12 && !memcmp(c->rhead.data, "HTTP/1.", 7)) {
        char *sp = memchr(c->rhead.data + 9, ' ', c->rhead.len - 9);
        char *e = memchr(c->rhead.data, '\r', c->rhead.len);
        if (sp && e && sp < e) {
            reason = sp + 1;
            reason_len = (size_t)(e - reason);
        }
    }
    if (!reason || !reason_len) {
        reason = tt_gw_reason(c->status);
        reason_len = strlen(reason);
    }
    bool no_body = !strcmp(c->req->method, "HEAD") || c->status == 204 ||
                   c->status == 304;
    tt_buf_init(&out, 256 * 1024);
    if (tt_buf_appendf(&out, "HTTP/1.1 %d %.*s\r\n", c->status,
                       (int)(reason_len > 200 ? 200 : reason_len), reason) != TT_OK)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if (tt_gw_hop_header(h[i].name, h[i].name_len))
            continue;
        if (tt_tok_ieq(h[i].name, h[i].name_len, "content-length")) {
            has_len = true;
            c->resp_len = strtoll(h[i].value, NULL, 10);
        }
        if (tt_buf_append(&out, h[i].name, h[i].name_len) != TT_OK ||
            tt_buf_append(&out, ": ", 2) != TT_OK ||
            tt_buf_append(&out, h[i].value, h[i].value_len) != TT_OK ||
            tt_buf_append(&out, "\r\n", 2) != TT_OK)
            goto out;
    }
    c->chunked_out = false;
    if (!no_body && !has_len) {
        if (c->req->minor >= 1)
            c->chunked_out = true;
        else
            c->close_after = true;  /* HTTP/1.0: the body ends at close */
    }
    if (c->chunked_out && tt_buf_append_str(&out, "transfer-encoding: chunked\r\n") != TT_OK)
        goto out;
    if (c->close_after && tt_buf_append_str(&out, "connection: close\r\n") != TT_OK)
        goto out;
    if (tt_buf_append(&out, "\r\n", 2) != TT_OK)
        goto out;
    if (!no_body && has_len && c->resp_len > 0) {
        /* A body of known length follows at once (a whole answer, not a
         * stream): the head goes out with its first piece, one write and
         * one wake-up of the client instead of two. */
        tt_buf_reset(&c->pend);
        if (tt_buf_append(&c->pend, out.data, out.len) != TT_OK)
            goto out;
    } else if (!send_str(c->fd, out.data, out.len)) {
        c->client_gone = true;
        goto out;
    }
    c->head_sent = true;
    if (c->ex)
        c->body_ok = tt_ex_resp_head(c->ex, c->status, h, n, tt_now_ns());
    ok = true;
out:
    tt_buf_free(&out);
    return ok;
}

/* Our head, if it still waits for the body: out now. */
static bool flush_head(struct gw_conn *c)
{
    bool ok = true;

    if (c->pend.len && !c->client_gone) {
        ok = send_str(c->fd, c->pend.data, c->pend.len);
        if (!ok)
            c->client_gone = true;
    }
    tt_buf_reset(&c->pend);
    return ok;
}

static size_t cb_header(char *p, size_t size, size_t nitems, void *ud)
{
    struct gw_conn *c = ud;
    size_t len = size * nitems;

    if (c->in_body)
        return len;             /* trailers: not forwarded */
    if (len >= 5 && !memcmp(p, "HTTP/", 5)) {
        /* A status line: a new head (after a 1xx, or the first). */
        tt_buf_reset(&c->rhead);
        long st = 0;
        const char *sp = memchr(p, ' ', len);
        if (sp)
            st = strtol(sp + 1, NULL, 10);
        c->status = (int)st;
    }
    if (tt_buf_append(&c->rhead, p, len) != TT_OK)
        return 0;               /* a head above 256 KiB: give up */
    if (len <= 2 && (p[0] == '\r' || p[0] == '\n')) {
        /* End of a head. Interim answers (100 Continue) are libcurl's. */
        if (c->status >= 100 && c->status < 200)
            return len;
        if (!send_head(c))
            return 0;
        c->in_body = true;
    }
    return len;
}

static size_t cb_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct gw_conn *c = ud;
    size_t len = size * nmemb;

    if (!c->head_sent && !send_head(c))
        return 0;
    if (len == 0)
        return 0;
    bool ok;
    if (c->chunked_out) {
        char sz[24];
        int k = snprintf(sz, sizeof(sz), "%zx\r\n", len);
        struct iovec v[3] = {
            { .iov_base = sz, .iov_len = (size_t)k },
            { .iov_base = p, .iov_len = len },
            { .iov_base = "\r\n", .iov_len = 2 },
        };
        ok = send_all(c->fd, v, 3);
    } else {
        struct iovec v[2] = {
            { .iov_base = c->pend.data, .iov_len = c->pend.len },
            { .iov_base = p, .iov_len = len },
        };
        ok = send_all(c->fd, v, 2);
        tt_buf_reset(&c->pend);
    }
    if (!ok) {
        c->client_gone = true;
        return 0;
    }
    c->sent += len;
    if (c->ex && c->body_ok)
        tt_ex_resp_body(c->ex, p, len, tt_now_ns());
    return len;
}

/* Called by libcurl at least once a second while the transfer waits, and
 * twice after every piece of a stream: a client that hung up (FIN or RST)
 * stops the upstream call. A client that only half-closes its side is
 * taken for gone too (HTTP clients do not). Looked at every
 * GW_HUP_CHECK_MS at most (a hang-up during a stream already shows at the
 * next write): two poll() calls per event cost the stream's thread time
 * between reading an event and being back in poll for the next one. */
#define GW_HUP_CHECK_MS 50

static int cb_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut,
                       curl_off_t un)
{
    struct gw_conn *c = ud;
    struct pollfd pfd = { .fd = c->fd, .events = POLLRDHUP };
    struct timespec ts;

    (void)dt; (void)dn; (void)ut; (void)un;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    int64_t now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now_ms - c->hup_checked_ms < GW_HUP_CHECK_MS)
        return 0;
    c->hup_checked_ms = now_ms;
    /* The whole answer delivered: the client may hang up now. */
    if (c->head_sent && !c->chunked_out && c->resp_len >= 0 &&
        (int64_t)c->sent >= c->resp_len)
        return 0;
    if (c->req->done && poll(&pfd, 1, 0) > 0 &&
        (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
        c->client_gone = true;
        return 1;
    }
    return 0;
}

/* End the client connection so it sees an error, as a dropped upstream
 * connection would have shown it: a reset, not a clean close. */
static void reset_client(struct gw_conn *c)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };

    (void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    c->close_after = true;
}

/* Who is calling: the process at the other end of the connection, looked
 * up once per connection, while it is certainly alive (the first call). */
/* Does file (a /proc file of the caller) hold the bytes want? Read in
 * pieces: a Node process's maps run to hundreds of kilobytes. */
static bool proc_file_has(const char *file, const char *want, size_t wlen)
{
    char buf[8192];
    size_t keep = 0;
    bool found = false;
    int fd = open(file, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return false;
    for (;;) {
        ssize_t r = read(fd, buf + keep, sizeof(buf) - keep);
        if (r <= 0)
            break;
        size_t n = keep + (size_t)r;
        if (memmem(buf, n, want, wlen)) {
            found = true;
            break;
        }
        keep = n < wlen - 1 ? n : wlen - 1;
        memmove(buf, buf + n - keep, keep);
    }
    close(fd);
    return found;
}

/* tokentapd's gateway and a caller that carries the preload: the preload
 * captures the call itself (it ignores only the gateway of its own run,
 * TOKENTAP_GATEWAY), so the gateway relays it without a span of its own
 * and the call is counted once, in the caller's trace. */
static bool client_counts_itself(const struct gw_conn *c)
{
    char file[64], want[40];

    snprintf(file, sizeof(file), "/proc/%" PRId64 "/maps", c->client_pid);
    if (!proc_file_has(file, "/libtokentap.so\n", strlen("/libtokentap.so\n")))
        return false;
    /* Its own run's gateway on our port: the preload stands down for it. */
    snprintf(file, sizeof(file), "/proc/%" PRId64 "/environ", c->client_pid);
    int w = snprintf(want, sizeof(want), "TOKENTAP_GATEWAY=127.0.0.1:%u", c->g->port);
    return !proc_file_has(file, want, (size_t)w + 1);
}

static void find_client(struct gw_conn *c)
{
    char path[64];

    c->pid_done = true;
    c->client_pid = tt_gw_peer_pid(c->peer_port, c->g->port, c->g->root_pid);
    if (c->client_pid <= 0)
        return;
    snprintf(path, sizeof(path), "/proc/%" PRId64 "/exe", c->client_pid);
    ssize_t n = readlink(path, c->client_exe, sizeof(c->client_exe) - 1);
    c->client_exe[n > 0 ? n : 0] = '\0';
    /* Outside a run (tokentapd's gateway), each calling process is a trace
     * of its own, as with the preload: derived from its pid and start, so
     * all its connections agree. */
    c->client_trace[0] = '\0';
    c->client_counts = !c->g->traced_run && client_counts_itself(c);
    if (!c->g->traced_run) {
        char stat[64], buf[1024], h1[17], h2[17];
        snprintf(stat, sizeof(stat), "/proc/%" PRId64 "/stat", c->client_pid);
        int fd = open(stat, O_RDONLY | O_CLOEXEC);
        ssize_t r = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
        if (fd >= 0)
            close(fd);
        buf[r > 0 ? r : 0] = '\0';
        /* starttime: field 22, the 20th after the ')' of comm */
        const char *p = strrchr(buf, ')');
        for (int f = 0; p && *p && f < 20; f++)
            p = strchr(p + 1, ' ');
        char start[24], pid[24];
        snprintf(start, sizeof(start), "%llu", p ? strtoull(p + 1, NULL, 10) : 0ULL);
        snprintf(pid, sizeof(pid), "%" PRId64, c->client_pid);
        const char *a[3] = { "gateway-trace", pid, start };
        const char *b[3] = { "gateway-trace-2", pid, start };
        tt_span_hash_id(h1, a, 3);
        tt_span_hash_id(h2, b, 3);
        snprintf(c->client_trace, sizeof(c->client_trace), "%s%s", h1, h2);
    }
    if (!tt_proc_of(c->client_trace[0] ? c->client_trace : tt_rt.trace_id,
                    c->client_pid, c->client_span))
        c->client_span[0] = '\0';
}

/* --- replay and --mock: the run's local server is the upstream ---------- */

/* Under `tokentap replay` / `tokentap run --mock` the gateway gets the
 * redirection the preload applies (TOKENTAP_REDIRECT*, preload/redirect.h):
 * a connection to a redirected host goes to the run's server (libcurl's
 * CONNECT_TO: the URL, Host and SNI stay the provider's, so the cassette
 * matches as for a hooked call), and the run's CA is trusted on top of the
 * usual store. A static binary under replay gets the recorded answers. */
static X509 *rd_ca;
static pthread_once_t rd_once = PTHREAD_ONCE_INIT;

static void rd_ca_load(void)
{
    size_t n = 0;
    const unsigned char *der = tt_rd_ca_der(&n);

    if (der && n)
        rd_ca = d2i_X509(NULL, &der, (long)n);
}

static CURLcode rd_ssl_ctx(CURL *h, void *ctx, void *ud)
{
    (void)h;
    (void)ud;
    pthread_once(&rd_once, rd_ca_load);
    if (rd_ca) {
        X509_STORE *st = SSL_CTX_get_cert_store((SSL_CTX *)ctx);
        if (st && X509_STORE_add_cert(st, rd_ca) != 1)
            ERR_clear_error();          /* already there */
    }
    return CURLE_OK;
}

/* The CONNECT_TO entry for host:port (scheme's default port when none),
 * or NULL when the connection goes where the URL says. */
static struct curl_slist *rd_connect_to(const char *host, const char *port, bool https)
{
    char entry[600];
    const char *to = getenv("TOKENTAP_REDIRECT");

    if (!host || !*host || !to || !*to || !tt_rd_on())
        return NULL;
    const char *service = port ? port : https ? "https" : "http";
    unsigned pn = port ? (unsigned)strtoul(port, NULL, 10) : https ? 443 : 80;
    struct sockaddr_storage ss, out;
    socklen_t outl = sizeof(out);
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    char v6[64];
    size_t hl = strlen(host);
    memset(&ss, 0, sizeof(ss));
    /* Numeric hosts are judged as the preload's connect() judges them. */
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)pn);
        if (!tt_rd_connect((struct sockaddr *)in4, sizeof(*in4), &out, &outl))
            return NULL;
    } else if (host[0] == '[') {            /* curl's form of an IPv6 address */
        if (hl < 3 || hl - 2 >= sizeof(v6) || host[hl - 1] != ']')
            return NULL;
        memcpy(v6, host + 1, hl - 2);
        v6[hl - 2] = '\0';
        if (inet_pton(AF_INET6, v6, &in6->sin6_addr) != 1)
            return NULL;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)pn);
        if (!tt_rd_connect((struct sockaddr *)in6, sizeof(*in6), &out, &outl))
            return NULL;
    } else if (!tt_rd_name(host, service)) {
        return NULL;
    }
    snprintf(entry, sizeof(entry), "%s:%s:%s", host, port ? port : https ? "443" : "80", to);
    return curl_slist_append(NULL, entry);
}

/* Forward one request; false when the connection must close. */
static bool forward(struct gw_conn *c, struct gw_req *r)
{
    char url[TT_GW_URL_MAX + 8192];
    struct gw *g = c->g;
    CURLcode cc;

    c->req = r;
    c->ex = NULL;
    c->status = 0;
    c->head_sent = c->chunked_out = c->body_ok = c->client_gone = false;
    c->in_body = false;
    c->sent = 0;
    c->resp_len = -1;
    tt_buf_reset(&c->pend);
    tt_buf_reset(&c->rhead);
    c->close_after = r->conn_close || r->minor == 0;

    if (r->upgrade && !r->websocket) {
        send_own(c, 501, "tokentap gateway: only WebSocket upgrades are relayed\n");
        return false;
    }
    int rc = tt_gw_route_url(&g->routes, r->target, strlen(r->target), url, sizeof(url));
    if (rc != TT_OK) {
        send_own(c, 400, "tokentap gateway: want an origin-form request "
                 "target such as /openai/chat/completions\n");
        return false;
    }
    if (r->websocket) {
        /* The socket is the relay's until it closes (gateway_ws.c). */
        if (!c->pid_done)
            find_client(c);
        struct tt_gw_ws a = {
            .client_fd = c->fd, .url = url, .hdrs = r->hdrs,
            .cainfo = g->cainfo, .capath = g->capath,
            .client_pid = c->client_pid,
            .client_exe = c->client_exe[0] ? c->client_exe : NULL,
            .client_span = c->client_span, .client_trace = c->client_trace,
            .quiet = g->quiet, .self_counted = c->client_counts,
        };
        atomic_fetch_add(&g->calls, 1);
        (void)tt_gw_ws_relay(&a);
        return false;
    }
    if (r->expect_continue && !r->done &&
        !send_str(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25))
        return false;

    /* The exchange: the same classification as a hooked call. */
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL, *scheme = NULL;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK) {
        (void)curl_url_get(u, CURLUPART_HOST, &host, 0);
        (void)curl_url_get(u, CURLUPART_PORT, &port, 0);
        (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
        (void)curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    }
    char hostport[512], target[8192];
    snprintf(hostport, sizeof(hostport), "%s%s%s", host ? host : "",
             port ? ":" : "", port ? port : "");
    const char *q = strchr(url + origin_len(url), '?');
    snprintf(target, sizeof(target), "%s%s", path ? path : "/", q ? q : "");
    bool https = scheme && !strcmp(scheme, "https");
    const struct tt_api_ops *api = tt_api_match(r->method, strlen(r->method),
                                                path ? path : "/", path ? strlen(path) : 1);
    const char *provider = tt_provider_resolve(
        tt_provider_for_host(hostport, strlen(hostport)), api, https);
    struct tt_ex_request er = {
        .api = api, .provider = provider,
        .host = hostport, .host_len = strlen(hostport),
        .method = r->method, .method_len = strlen(r->method),
        .target = target, .target_len = strlen(target),
        .http_version = "1.1",
    };
    int64_t t0 = tt_now_ns();
    if (api && tt_rt_ready() && !c->pid_done)
        find_client(c);
    if (api && tt_rt_ready() && !c->client_counts) {
        c->ex = tt_ex_new(&er, t0);
        if (c->ex && tt_ex_traced(c->ex)) {
            tt_ex_set_gateway_client(c->ex, c->client_pid,
                                     c->client_exe[0] ? c->client_exe : NULL,
                                     c->client_span);
            if (c->client_trace[0])
                tt_ex_set_trace(c->ex, c->client_trace);
        }
    }
    struct curl_slist *connect_to = rd_connect_to(host, port, https);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(scheme);
    curl_url_cleanup(u);

    CURL *h = c->curl;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_SHARE, g->share);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    /* HTTP/1.1 upstream unless --http2: the client spoke HTTP/1.1 to us,
     * and libcurl's HTTP/2 costs a call more (bench fig 10: 35,000
     * instructions and, on 2 cores, about 150 µs more per call through
     * the gateway, nearly all the gateway's added time). Each client
     * connection keeps its own pooled upstream connection. */
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     g->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_MAXCONNECTS, (long)GW_POOL);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, GW_CONNECT_TIMEOUT_S);
    curl_easy_setopt(h, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdrs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, cb_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, c);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, cb_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, cb_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    /* Bytes pass through as sent: no decoding (no ACCEPT_ENCODING), no
     * redirects followed, no path squashing. */
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    if (g->cainfo)
        curl_easy_setopt(h, CURLOPT_CAINFO, g->cainfo);
    if (g->capath)
        curl_easy_setopt(h, CURLOPT_CAPATH, g->capath);
    if (connect_to) {
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, rd_ssl_ctx);
    }
    bool has_body = r->chunked || r->content_length > 0;
    if (!strcmp(r->method, "HEAD")) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (has_body || !strcmp(r->method, "POST")) {
        curl_easy_setopt(h, CURLOPT_POST, 1L);
        if (r->done) {
            /* The whole body is here (the usual case: a JSON request in
             * one read): handed to libcurl at once, no read-callback
             * round (over HTTP/1.1 it leaves in the head's write). */
            size_t bl = r->body_len - r->body_off;
            const char *bp = bl ? r->body + r->body_off : "";
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)bl);
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, bp);
            if (c->ex && bl)
                tt_ex_req_body(c->ex, bp, bl);
            if (c->ex && has_body)      /* else: ended below */
                tt_ex_req_end(c->ex, t0);
        } else {
            curl_easy_setopt(h, CURLOPT_READFUNCTION, cb_read);
            curl_easy_setopt(h, CURLOPT_READDATA, c);
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)(r->chunked ? -1 : r->content_length > 0
                                          ? r->content_length : 0));
        }
        if (strcmp(r->method, "POST"))
            curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET")) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
    if (!has_body && c->ex)
        tt_ex_req_end(c->ex, t0);

    cc = curl_easy_perform(h);
    int64_t now = tt_now_ns();
    curl_easy_setopt(h, CURLOPT_CONNECT_TO, NULL);
    curl_slist_free_all(connect_to);
    atomic_fetch_add(&g->calls, 1);

    long ver = 0;
    if (curl_easy_getinfo(h, CURLINFO_HTTP_VERSION, &ver) == CURLE_OK && c->ex) {
        struct tt_span *s = tt_ex_span(c->ex);
        const char *v = ver == CURL_HTTP_VERSION_2_0 ? "2"
                        : ver == CURL_HTTP_VERSION_1_0 ? "1.0"
                        : ver == CURL_HTTP_VERSION_3 ? "3" : "1.1";
        if (tt_span_set(&s->http_version, v) != TT_OK)
            tt_log("out of memory: the gateway's http_version dropped");
    }
    if (cc == CURLE_OK) {
        if (!c->head_sent && !send_head(c))
            c->client_gone = true;
        (void)flush_head(c);
        if (c->chunked_out && !c->client_gone &&
            !send_str(c->fd, "0\r\n\r\n", 5))
            c->client_gone = true;
        if (c->client_gone)
            ex_end_async(c->ex, false, "the client closed the connection before "
                         "the answer was delivered", now);
        else
            ex_end_async(c->ex, true, NULL, now);
    } else {
        char why[CURL_ERROR_SIZE + 96];
        long oserr = 0;
        atomic_fetch_add(&g->failed, 1);
        (void)curl_easy_getinfo(h, CURLINFO_OS_ERRNO, &oserr);
        /* The client sees the failure it would have seen talking to the
         * upstream itself, as far as HTTP/1.1 can say it: an upstream that
         * reset the connection, or could not be reached (a refused connect
         * has no equivalent once ours was accepted), resets the client's;
         * one that closed without an answer, or cut the answer short (FIN,
         * an HTTP/2 stream reset), closes it there: no final chunk, fewer
         * bytes than Content-Length. */
        bool rst = oserr == ECONNRESET || oserr == EPIPE ||
                   (!c->head_sent && cc != CURLE_GOT_NOTHING);
        if (!rst)
            (void)flush_head(c);        /* the head, then the early end */
        if (c->client_gone)
            snprintf(why, sizeof(why), "the client closed the connection %s",
                     c->head_sent ? "during the answer" : "before the answer");
        else if (!c->head_sent && cc == CURLE_GOT_NOTHING)
            snprintf(why, sizeof(why), "upstream closed the connection without an "
                     "answer: %s", curl_easy_strerror(cc));
        else
            snprintf(why, sizeof(why), "upstream %s: %s%s",
                     c->head_sent ? "answer cut short" : "unreachable",
                     curl_easy_strerror(cc),
                     oserr == ECONNRESET ? " (connection reset)" : "");
        ex_end_async(c->ex, false, why, now);
        if (!g->quiet && !c->client_gone)
            fprintf(stderr, "tokentap gateway: %s %s: %s\n", r->method, url, why);
        if (rst || c->client_gone)
            reset_client(c);
        else
            c->close_after = true;
    }
    c->ex = NULL;
    c->req = NULL;
    /* A body libcurl did not read whole (an early answer) leaves the
     * connection out of step: close it. */
    if (!r->done)
        c->close_after = true;
    return !c->close_after && !c->client_gone;
}

/* --- connections --------------------------------------------------------- */

static void conn_free(struct gw_conn *c)
{
    while (c->head) {
        struct gw_req *n = c->head->next;
        req_free(c->head);
        c->head = n;
    }
    tt_h1_free(&c->parser);
    tt_buf_free(&c->rhead);
    tt_buf_free(&c->pend);
    if (c->curl)
        curl_easy_cleanup(c->curl);
    if (c->fd >= 0)
        close(c->fd);
    atomic_fetch_sub(&c->g->conns, 1);
    free(c);
}

static void *conn_thread(void *arg)
{
    struct gw_conn *c = arg;
    int64_t idle_since = tt_now_ns();

    c->curl = curl_easy_init();
    tt_h1_init(&c->parser, true);
    tt_buf_init(&c->rhead, 256 * 1024);
    tt_buf_init(&c->pend, 256 * 1024);
    if (!c->curl)
        goto out;
    while (!gw_stop) {
        if (!c->head) {
            if (c->eof || c->broken)
                break;
            if (!conn_read(c, 500) && !c->head)
                break;
            if (!c->head && tt_now_ns() - idle_since > (int64_t)GW_IDLE_MS * 1000000)
                break;
            continue;
        }
        struct gw_req *r = c->head;
        bool keep = forward(c, r);
        c->head = r->next;
        if (!c->head)
            c->tail = NULL;
        if (c->feeding == r)
            c->feeding = NULL;
        req_free(r);
        idle_since = tt_now_ns();
        if (!keep)
            break;
    }
    if (c->broken && !c->head)
        send_own(c, 400, "tokentap gateway: malformed HTTP/1.1 request\n");
out:
    conn_free(c);
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    gw_stop = 1;
}

static int gw_listen(const char *addr, unsigned port, int *fd_out, unsigned *port_out)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    socklen_t sl = sizeof(sa);
    int one = 1;

    if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1)
        return TT_ERR_PARSE;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TT_ERR_IO;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return TT_ERR_IO;
    }
    *fd_out = fd;
    *port_out = ntohs(sa.sin_port);
    return TT_OK;
}

/* Write the port to a file (0600, by rename: a reader never sees half). */
static int write_port_file(const char *path, unsigned port)
{
    char tmp[PATH_MAX], buf[16];
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp%d", path, (int)getpid());

    if (n < 0 || (size_t)n >= sizeof(tmp))
        return TT_ERR_CAP;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return TT_ERR_IO;
    n = snprintf(buf, sizeof(buf), "%u\n", port);
    bool ok = write(fd, buf, (size_t)n) == n;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return TT_ERR_IO;
    }
    return TT_OK;
}

static void usage_error(const char *msg, const char *arg)
{
    fprintf(stderr, "tokentap gateway: %s '%s' (see tokentap gateway --help)\n", msg, arg);
}

int tt_gw_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "port-file", required_argument, NULL, 'p' },
        { "port-fd", required_argument, NULL, 'f' },
        { "listen-fd", required_argument, NULL, 'L' },
        { "upstream", required_argument, NULL, 'u' },
        { "quiet", no_argument, NULL, 'q' },
        { "http2", no_argument, NULL, '2' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    static struct gw g;
    const char *listen_at = "127.0.0.1:0", *port_file = NULL;
    int c;

    memset(&g, 0, sizeof(g));
    tt_gw_routes_default(&g.routes);
    opterr = 0;
    optind = 0;
    int port_fd = -1, listen_fd = -1;
    while ((c = getopt_long(argc, argv, ":l:p:f:u:q2h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': port_fd = atoi(optarg); break;
        case 'L': listen_fd = atoi(optarg); break;
        case 'l': listen_at = optarg; break;
        case 'p': port_file = optarg; break;
        case 'u':
            if (tt_gw_routes_set(&g.routes, optarg) != TT_OK) {
                usage_error("--upstream wants NAME=http(s)://HOST[:PORT][/PATH], not", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'q': g.quiet = true; break;
        case '2': g.http2 = true; break;
        case 'h': fputs(tt_cli_help("gateway"), stdout); return TT_CLI_EXIT_OK;
        case ':': usage_error("option needs a value:", argv[optind - 1]); return TT_CLI_EXIT_USAGE;
        default: usage_error("unknown option", argv[optind - 1]); return TT_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        usage_error("unexpected argument", argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    /* TOKENTAP_GATEWAY_HTTP2 set to a true value: --http2 (for the gateway
     * tokentap run or tokentapd starts). */
    const char *h2 = getenv("TOKENTAP_GATEWAY_HTTP2");
    if (h2 && *h2 && strcmp(h2, "0") && strcasecmp(h2, "off") && strcasecmp(h2, "false") &&
        strcasecmp(h2, "no"))
        g.http2 = true;
    /* TOKENTAP_GATEWAY_UPSTREAM="NAME=URL,NAME=URL" (a config file's
     * --upstream, for the gateway tokentapd runs); options win. */
    const char *ue = getenv("TOKENTAP_GATEWAY_UPSTREAM");
    struct tt_gw_routes opt_routes = g.routes;
    if (ue && *ue) {
        char spec[TT_GW_URL_MAX + 64];
        tt_gw_routes_default(&g.routes);
        for (const char *p = ue; *p;) {
            size_t l = strcspn(p, ",");
            snprintf(spec, sizeof(spec), "%.*s", (int)l, p);
            if (l && tt_gw_routes_set(&g.routes, spec) != TT_OK)
                fprintf(stderr, "tokentap gateway: TOKENTAP_GATEWAY_UPSTREAM: '%s' ignored "
                        "(want NAME=http(s)://...)\n", spec);
            p += l + (p[l] == ',');
        }
        /* --upstream given on the command line overrides */
        for (size_t i = 0; i < opt_routes.n; i++) {
            char sp[TT_GW_URL_MAX + 64];
            bool is_default = false;
            struct tt_gw_routes d;
            tt_gw_routes_default(&d);
            for (size_t k = 0; k < d.n; k++)
                is_default |= !strcmp(d.r[k].name, opt_routes.r[i].name) &&
                              !strcmp(d.r[k].base, opt_routes.r[i].base);
            snprintf(sp, sizeof(sp), "%s=%s", opt_routes.r[i].name, opt_routes.r[i].base);
            if (!is_default && tt_gw_routes_set(&g.routes, sp) != TT_OK)
                continue;
        }
    }
    char addr[64];
    const char *colon = strrchr(listen_at, ':');
    unsigned long port = 0;
    char *end = NULL;
    if (colon && (size_t)(colon - listen_at) < sizeof(addr)) {
        memcpy(addr, listen_at, (size_t)(colon - listen_at));
        addr[colon - listen_at] = '\0';
        port = strtoul(colon + 1, &end, 10);
    }
    if (!colon || !end || *end || port > 65535 || !addr[0]) {
        usage_error("--listen wants ADDR:PORT (127.0.0.1:8790; port 0: any free one), not", listen_at);
        return TT_CLI_EXIT_USAGE;
    }
    /* Keys pass through the gateway: it listens on loopback only. */
    if (strncmp(addr, "127.", 4) != 0) {
        usage_error("listens on 127.0.0.0/8 only (API keys pass through it), not", addr);
        return TT_CLI_EXIT_USAGE;
    }
    /* The gateway's own process is not a program to trace: the callers'
     * names are what TOKENTAP_ONLY_CMDS/SKIP_CMDS are about. */
    unsetenv("TOKENTAP_ONLY_CMDS");
    unsetenv("TOKENTAP_SKIP_CMDS");
    unsetenv("LD_PRELOAD");
    /* Where callers are searched first: the run's process tree. */
    const char *v = getenv("TOKENTAP_RUN_PPID");
    if (!(v && *v))
        v = getenv("TOKENTAP_RUN_PID");
    g.root_pid = v && *v ? strtoll(v, NULL, 10) : 0;
    v = getenv("TRACEPARENT");
    g.traced_run = v && *v;
    v = getenv("SSL_CERT_FILE");
    g.cainfo = v && *v ? v : NULL;
    v = getenv("SSL_CERT_DIR");
    g.capath = v && *v ? v : NULL;

    /* Hundreds of connection threads: a few malloc arenas keep the
     * memory of 500 concurrent streams flat (fig 9 of make bench). */
    mallopt(M_ARENA_MAX, 4);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "tokentap gateway: libcurl failed to initialise\n");
        return TT_CLI_EXIT_ERR;
    }
    for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&g.share_lock[i], NULL);
    g.share = curl_share_init();
    if (!g.share) {
        fprintf(stderr, "tokentap gateway: out of memory\n");
        return TT_CLI_EXIT_ERR;
    }
    curl_share_setopt(g.share, CURLSHOPT_LOCKFUNC, share_lock);
    curl_share_setopt(g.share, CURLSHOPT_UNLOCKFUNC, share_unlock);
    curl_share_setopt(g.share, CURLSHOPT_USERDATA, &g);
    curl_share_setopt(g.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
    curl_share_setopt(g.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    curl_share_setopt(g.share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);

    if (listen_fd >= 0) {
        /* --listen-fd: a socket tokentap run bound to a loopback port
         * before the run (cli_gateway.c), so every process of the run knew
         * the port before the gateway existed. */
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        if (listen(listen_fd, 1024) != 0 ||
            getsockname(listen_fd, (struct sockaddr *)&sa, &sl) != 0 ||
            sa.sin_family != AF_INET || (ntohl(sa.sin_addr.s_addr) >> 24) != 127) {
            fprintf(stderr, "tokentap gateway: --listen-fd %d is not a socket bound "
                    "to 127.0.0.0/8: %s\n", listen_fd, strerror(errno));
            return TT_CLI_EXIT_ERR;
        }
        (void)fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
        g.lfd = listen_fd;
        g.port = ntohs(sa.sin_port);
        inet_ntop(AF_INET, &sa.sin_addr, addr, sizeof(addr));
    } else if (gw_listen(addr, (unsigned)port, &g.lfd, &g.port) != TT_OK) {
        fprintf(stderr, "tokentap gateway: cannot listen on %s: %s\n", listen_at,
                strerror(errno));
        return TT_CLI_EXIT_ERR;
    }
    if (port_file && write_port_file(port_file, g.port) != TT_OK) {
        fprintf(stderr, "tokentap gateway: cannot write %s: %s\n", port_file,
                strerror(errno));
        return TT_CLI_EXIT_ERR;
    }
    if (port_fd >= 0) {
        /* --port-fd: the port on an inherited descriptor (tokentap run's
         * pipe), then closed: no file to clean up. */
        char pb[16];
        int pn = snprintf(pb, sizeof(pb), "%u\n", g.port);
        if (write(port_fd, pb, (size_t)pn) != pn) {
            fprintf(stderr, "tokentap gateway: cannot write the port to fd %d: %s\n",
                    port_fd, strerror(errno));
            return TT_CLI_EXIT_ERR;
        }
        close(port_fd);
    }
    (void)tt_rt_ready();
    struct sigaction sa = { .sa_handler = on_term };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (!g.quiet) {
        fprintf(stderr, "tokentap gateway: listening on http://%s:%u\n", addr, g.port);
        for (size_t i = 0; i < g.routes.n; i++)
            fprintf(stderr, "  /%s -> %s%s%s%s\n", g.routes.r[i].name, g.routes.r[i].base,
                    g.routes.r[i].env ? "   (" : "", g.routes.r[i].env ? g.routes.r[i].env : "",
                    g.routes.r[i].env ? ")" : "");
    }

    pthread_t dth;
    if (pthread_create(&dth, NULL, delivery_thread, NULL) != 0) {
        fprintf(stderr, "tokentap gateway: cannot start a thread\n");
        return TT_CLI_EXIT_ERR;
    }
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, GW_THREAD_STACK);
    while (!gw_stop) {
        struct pollfd pfd = { .fd = g.lfd, .events = POLLIN };
        if (poll(&pfd, 1, 200) <= 0)
            continue;
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int fd = accept4(g.lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC);
        if (fd < 0)
            continue;
        if (atomic_load(&g.conns) >= GW_MAX_CONNS) {
            close(fd);
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct gw_conn *cn = calloc(1, sizeof(*cn));
        if (!cn) {
            close(fd);
            continue;
        }
        cn->g = &g;
        cn->fd = fd;
        cn->peer_port = ntohs(peer.sin_port);
        atomic_fetch_add(&g.conns, 1);
        pthread_t th;
        if (pthread_create(&th, &attr, conn_thread, cn) != 0) {
            atomic_fetch_sub(&g.conns, 1);
            close(fd);
            free(cn);
        }
    }
    pthread_attr_destroy(&attr);
    close(g.lfd);
    /* Calls in flight get a moment to finish and deliver their spans. */
    for (int i = 0; i < 50 && atomic_load(&g.conns) > 0; i++)
        usleep(100 * 1000);
    /* Every finished call is delivered before we go. */
    pthread_mutex_lock(&dq.lock);
    dq.stop = true;
    pthread_cond_signal(&dq.cond);
    pthread_mutex_unlock(&dq.lock);
    pthread_join(dth, NULL);
    if (!g.quiet)
        fprintf(stderr, "tokentap gateway: %llu call(s) forwarded, %llu failed\n",
                (unsigned long long)atomic_load(&g.calls),
                (unsigned long long)atomic_load(&g.failed));
    return TT_CLI_EXIT_OK;
}
