/* gateway_ws.c - the gateway's WebSocket relay (see gateway_ws.h). */
#include "gateway_ws.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "api.h"
#include "gateway.h"
#include "http1.h"
#include "provider.h"
#include "rt.h"
#include "tt.h"
#include "ws_api.h"

#define WSR_BUF (64 * 1024)
#define WSR_CONNECT_MS 30000

struct wsr {
    const struct tt_gw_ws *a;
    int ufd;
    SSL_CTX *ctx;
    SSL *ssl;
    struct tt_h1 resp;
    bool head_done, upgraded, resp_done;
    struct tt_wss *wss;
    char hostport[512];
    char target[8192];
    bool https;
    const char *provider;
};

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static bool up_write(struct wsr *w, const char *p, size_t n)
{
    if (!w->ssl)
        return send_all(w->ufd, p, n);
    while (n) {
        int k = SSL_write(w->ssl, p, n > 1 << 30 ? 1 << 30 : (int)n);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static ssize_t up_read(struct wsr *w, char *buf, size_t cap)
{
    if (!w->ssl) {
        ssize_t k;
        do
            k = recv(w->ufd, buf, cap, 0);
        while (k < 0 && errno == EINTR);
        return k;
    }
    int k = SSL_read(w->ssl, buf, (int)cap);
    return k > 0 ? k : (SSL_get_error(w->ssl, k) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
    int fd = -1;

    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}

static void send_own(int fd, int status, const char *msg)
{
    char head[256];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n", status,
                     tt_gw_reason(status), strlen(msg));
    if (n > 0 && send_all(fd, head, (size_t)n))
        (void)send_all(fd, msg, strlen(msg));
}

/* --- the upstream's answer -------------------------------------------------- */

static int on_head(void *ud, const struct tt_h1_head *h)
{
    struct wsr *w = ud;
    const struct tt_gw_ws *a = w->a;

    w->head_done = true;
    if (h->status != 101)
        return TT_H1_BODY;
    w->upgraded = true;
    const struct tt_hdr *ext = tt_h1_find(h, "sec-websocket-extensions");
    struct tt_wss_info in = {
        .provider = w->provider,
        .host = w->hostport, .host_len = strlen(w->hostport),
        .target = w->target, .target_len = strlen(w->target),
        .tls = w->https,
        .gateway = true,
        .client_pid = a->client_pid,
        .client_exe = a->client_exe,
        .client_parent = a->client_span,
        .trace = a->client_trace && a->client_trace[0] ? a->client_trace : NULL,
    };
    if (ext && tt_ws_parse_extensions(ext->value, ext->value_len, &in.ext) != TT_OK) {
        tt_log("gateway: WebSocket extensions not understood: calls on this "
               "socket are relayed, not traced");
        return TT_H1_NO_BODY;
    }
    if (tt_rt_ready() && !a->self_counted)
        w->wss = tt_wss_new(&in, tt_now_ns());
    return TT_H1_NO_BODY;
}

static int on_body(void *ud, const char *p, size_t n)
{
    (void)ud;
    (void)p;
    (void)n;
    return 0;
}

static int on_done(void *ud, bool complete)
{
    struct wsr *w = ud;

    (void)complete;
    if (!w->upgraded)
        w->resp_done = true;    /* a refusal (401, 404...): relayed, then closed */
    return 0;
}

static int on_tunnel(void *ud, const char *p, size_t n)
{
    struct wsr *w = ud;

    if (w->wss && tt_wss_feed(w->wss, false, p, n, tt_now_ns()) != TT_OK) {
        tt_wss_end(w->wss, NULL, tt_now_ns());
        w->wss = NULL;
    }
    return 0;
}

static const struct tt_h1_callbacks resp_cb = {
    .on_head = on_head, .on_body = on_body, .on_done = on_done, .on_tunnel = on_tunnel,
};

/* --- relay -------------------------------------------------------------------- */

static int relay(struct wsr *w)
{
    char *buf = malloc(WSR_BUF);
    int rc = 0;

    if (!buf)
        return -1;
    while (!w->resp_done) {
        struct pollfd p[2] = {
            { .fd = w->a->client_fd, .events = w->upgraded ? POLLIN : 0 },
            { .fd = w->ufd, .events = POLLIN },
        };
        bool pending = w->ssl && SSL_pending(w->ssl) > 0;
        if (!pending && poll(p, 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pending || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t n = up_read(w, buf, WSR_BUF);
            if (n <= 0)
                break;
            /* The client gets the bytes first; the capture reads them after. */
            if (!send_all(w->a->client_fd, buf, (size_t)n))
                break;
            if (tt_h1_feed(&w->resp, buf, (size_t)n, &resp_cb, w) != TT_OK && !w->upgraded)
                break;          /* not HTTP: relayed as it came, then closed */
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t n;
            do
                n = recv(w->a->client_fd, buf, WSR_BUF, 0);
            while (n < 0 && errno == EINTR);
            if (n <= 0)
                break;
            if (!up_write(w, buf, (size_t)n))
                break;
            if (w->wss && tt_wss_feed(w->wss, true, buf, (size_t)n, tt_now_ns()) != TT_OK) {
                tt_wss_end(w->wss, NULL, tt_now_ns());
                w->wss = NULL;
            }
        }
    }
    free(buf);
    return rc;
}

int tt_gw_ws_relay(const struct tt_gw_ws *a)
{
    struct wsr w = { .a = a, .ufd = -1 };
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *scheme = NULL;
    char *req = NULL;
    int rc = -1;

    tt_h1_init(&w.resp, false);
    if (!u || curl_url_set(u, CURLUPART_URL, a->url, 0) != CURLUE_OK) {
        send_own(a->client_fd, 400, "tokentap gateway: bad upstream URL\n");
        goto out;
    }
    (void)curl_url_get(u, CURLUPART_HOST, &host, 0);
    (void)curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    (void)curl_url_get(u, CURLUPART_PATH, &path, 0);
    (void)curl_url_get(u, CURLUPART_QUERY, &query, 0);
    (void)curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    if (!host || !port) {
        send_own(a->client_fd, 400, "tokentap gateway: bad upstream URL\n");
        goto out;
    }
    w.https = scheme && !strcmp(scheme, "https");
    bool default_port = (w.https && !strcmp(port, "443")) || (!w.https && !strcmp(port, "80"));
    snprintf(w.hostport, sizeof(w.hostport), "%s%s%s", host, default_port ? "" : ":",
             default_port ? "" : port);
    snprintf(w.target, sizeof(w.target), "%s%s%s", path ? path : "/", query ? "?" : "",
             query ? query : "");
    w.provider = tt_provider_resolve(tt_provider_for_host(w.hostport, strlen(w.hostport)),
                                     &tt_openai_responses_api, w.https);

    if ((w.ufd = connect_to(host, port)) < 0) {
        send_own(a->client_fd, 502, "tokentap gateway: upstream unreachable\n");
        if (!a->quiet)
            fprintf(stderr, "tokentap gateway: WebSocket %s: upstream unreachable\n", a->url);
        goto out;
    }
    if (w.https) {
        w.ctx = SSL_CTX_new(TLS_client_method());
        if (!w.ctx)
            goto tls_fail;
        if (a->cainfo || a->capath) {
            if (SSL_CTX_load_verify_locations(w.ctx, a->cainfo, a->capath) != 1)
                goto tls_fail;
        } else if (SSL_CTX_set_default_verify_paths(w.ctx) != 1) {
            goto tls_fail;
        }
        SSL_CTX_set_verify(w.ctx, SSL_VERIFY_PEER, NULL);
        /* WebSocket runs over HTTP/1.1 (RFC 8441 over h2 is not used). */
        static const unsigned char alpn[] = "\x08http/1.1";
        SSL_CTX_set_alpn_protos(w.ctx, alpn, sizeof(alpn) - 1);
        w.ssl = SSL_new(w.ctx);
        if (!w.ssl || SSL_set_fd(w.ssl, w.ufd) != 1 ||
            SSL_set_tlsext_host_name(w.ssl, host) != 1 || SSL_set1_host(w.ssl, host) != 1 ||
            SSL_connect(w.ssl) != 1)
            goto tls_fail;
    }
    /* The handshake: the client's end-to-end headers, our Host and the
     * hop-by-hop pair an upgrade needs. */
    struct tt_buf b;
    tt_buf_init(&b, 256 * 1024);
    (void)tt_buf_appendf(&b, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n", w.target, w.hostport);
    for (const struct curl_slist *l = a->hdrs; l; l = l->next) {
        size_t n = strlen(l->data);
        const char *colon = strchr(l->data, ':');
        /* "Name:" (drop a libcurl default) and "Name;" (empty) markers */
        if (!colon || colon[1] == '\0')
            continue;
        if (tt_buf_append(&b, l->data, n) != TT_OK || tt_buf_append(&b, "\r\n", 2) != TT_OK)
            break;
    }
    if (tt_buf_append(&b, "\r\n", 2) != TT_OK || b.truncated) {
        tt_buf_free(&b);
        send_own(a->client_fd, 431, "tokentap gateway: request headers too large\n");
        goto out;
    }
    req = tt_buf_steal(&b);
    if (!up_write(&w, req, strlen(req))) {
        send_own(a->client_fd, 502, "tokentap gateway: upstream closed the connection\n");
        goto out;
    }
    rc = relay(&w);
    goto out;
tls_fail:
    {
        char why[256];
        unsigned long e = ERR_get_error();
        snprintf(why, sizeof(why), "tokentap gateway: TLS to the upstream failed: %s\n",
                 e ? ERR_reason_error_string(e) : "handshake");
        send_own(a->client_fd, 502, why);
        if (!a->quiet)
            fprintf(stderr, "%s", why);
    }
out:
    if (w.wss)
        tt_wss_end(w.wss, NULL, tt_now_ns());
    tt_h1_free(&w.resp);
    if (w.ssl) {
        SSL_shutdown(w.ssl);
        SSL_free(w.ssl);
    }
    SSL_CTX_free(w.ctx);
    if (w.ufd >= 0)
        close(w.ufd);
    free(req);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}
