/* cli_replay.c - `tokentap record`, `tokentap replay`, `tokentap cassette`
 * and `tokentap run --mock` (issue #13).
 *
 * All three run the command as `tokentap run` does (cli_run.c, through
 * struct tt_cli_run_ext) and add:
 *   record   TOKENTAP_RECORD=<private dir>: the preload appends each LLM
 *            exchange there (preload/record.h); at the end the lines become
 *            a HAR file (cassette.c) and are kept under
 *            $TOKENTAP_HOME/recordings/<trace>.jsonl for `tokentap cassette`.
 *   replay   a local server (the mock's TLS/HTTP/1.1/HTTP/2 server, embedded:
 *            tools/mock.h) with a certificate minted for the run, and
 *            TOKENTAP_REDIRECT*: the preload sends connections to LLM hosts
 *            there and trusts the certificate (preload/redirect.h). Each
 *            request is matched against the cassette: a hit gets the
 *            recorded response byte for byte (chunks as recorded, paced
 *            with --speed realtime); a miss gets --miss fail (the
 *            provider's error shape with the nearest recording and a diff),
 *            live (sent on to the real host) or mock (a synthetic answer).
 *            Requests that are not LLM API calls go on to the real host.
 *   --mock   the same server answering from the mock's providers.
 * Responses carry x-tokentap-replay: hit|miss|mock, which the preload
 * copies into the span's `replay` field. */
#include "cassette.h"
#include "record.h"
#include "cli.h"
#include "mock.h"
#include "mock_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <sqlite3.h>
#include <jansson.h>

#include "api.h"
#include "exchange.h"
#include "redact.h"
#include "provider.h"
#include "store.h"
#include "wire.h"

enum rp_mode { RP_RECORD, RP_REPLAY, RP_MOCK };
enum rp_miss { MISS_FAIL, MISS_LIVE, MISS_MOCK };

struct rp {
    enum rp_mode mode;
    const char *name;                 /* for messages */
    bool quiet;
    /* record */
    const char *out;
    char recdir[PATH_MAX];
    /* replay */
    const char *har;
    struct tt_cassette cas;
    enum rp_miss miss;
    const char *only, *except;
    bool realtime;
    bool json;
    const char *json_file;
    const char *live_ca;
    /* replay and --mock */
    struct tt_mock_embed srv;
    char tmpdir[PATH_MAX];
    pthread_mutex_t mu;
    long hits, misses, live, mocked, passed;
    json_t *miss_list;
};

/* --------------------------------------------------------------- helpers */

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void sleep_until(int64_t t)
{
    int64_t d = t - mono_ns();

    struct timespec ts = { .tv_sec = d / 1000000000, .tv_nsec = d % 1000000000 };

    while (d > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int private_dir(char *out, size_t n)
{
    const char *tmp = getenv("TMPDIR");

    if (!tmp || tmp[0] != '/' || strlen(tmp) > 200)
        tmp = "/tmp";
    snprintf(out, n, "%s/tokentap-rp-XXXXXX", tmp);
    return mkdtemp(out) ? TT_OK : TT_ERR_IO;
}

static void remove_dir(char *dir)
{
    char cmdpath[PATH_MAX + 64];

    if (!dir[0])
        return;
    /* Our own 0700 directory: a few files, no subdirectories. */
    const char *names[] = { "ca.der", "ca.pem" };
    for (size_t i = 0; i < sizeof(names) / sizeof(*names); i++) {
        snprintf(cmdpath, sizeof(cmdpath), "%s/%s", dir, names[i]);
        unlink(cmdpath);
    }
    rmdir(dir);
    dir[0] = '\0';
}

static int write_private(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    bool ok = fd >= 0 && write(fd, p, n) == (ssize_t)n;

    if (fd >= 0 && close(fd) != 0)
        ok = false;
    return ok ? TT_OK : TT_ERR_IO;
}

/* "host[:port]" -> "DNS:host" / "IP:addr" appended to san (deduplicated
 * by a plain substring test: good enough for a certificate). */
static void san_add(struct tt_buf *san, const char *hostport)
{
    char host[300], entry[320];
    unsigned char probe[16];
    const char *h = hostport;
    size_t n;

    if (h[0] == '[') {
        h++;
        n = strcspn(h, "]");
    } else {
        const char *c = strchr(h, ':');
        n = c && !strchr(c + 1, ':') ? (size_t)(c - h) : strlen(h);
    }
    if (!n || n >= sizeof(host))
        return;
    memcpy(host, h, n);
    host[n] = '\0';
    if (strchr(host, '*') && strncmp(host, "*.", 2) != 0)
        return;     /* a '*' inside a label: no certificate name can say it */
    bool ip = inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1;
    snprintf(entry, sizeof(entry), "%s:%s", ip ? "IP" : "DNS", host);
    if (san->data && strstr(san->data, entry))
        return;
    if ((san->len && tt_buf_append(san, ",", 1) != TT_OK) || tt_buf_append_str(san, entry) != TT_OK)
        san->truncated = true;
}

/* The redirect list and certificate names: the cassette's hosts, every
 * provider host, loopback model ports, TOKENTAP_HOSTS. */
static int targets(struct rp *st, struct tt_buf *hosts, struct tt_buf *san)
{
    const char *th = getenv("TOKENTAP_HOSTS");

    tt_buf_init(hosts, 1 << 20);
    tt_buf_init(san, 1 << 20);
    if (tt_buf_append_str(hosts, "*providers,*local") != TT_OK)
        return TT_ERR_NOMEM;
    for (size_t i = 0; i < st->cas.n; i++) {
        (void)tt_buf_appendf(hosts, ",%s", st->cas.e[i].host);
        san_add(san, st->cas.e[i].host);
    }
    for (const char *p = th ? th : ""; *p;) {
        size_t n = strcspn(p, ",");
        char item[300];
        if (n && n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            item[strcspn(item, "=")] = '\0';
            char *s = item;
            while (*s == ' ')
                s++;
            if (*s) {
                (void)tt_buf_appendf(hosts, ",%s", s);
                san_add(san, s);
            }
        }
        p += n;
        if (*p)
            p++;
    }
    for (size_t i = 0; tt_provider_table_host(i); i++) {
        const char *h = tt_provider_table_host(i);
        char w[300];
        if (h[0] == '.') {
            snprintf(w, sizeof(w), "*%s", h);
            san_add(san, w);
        } else {
            san_add(san, h);
        }
    }
    return hosts->truncated || san->truncated ? TT_ERR_CAP : TT_OK;
}

/* ------------------------------------------------------------ live calls */

struct live_resp {
    long status;
    struct tt_buf hdrs;       /* "Name: value\r\n" */
    struct tt_buf body;
    char ctype[256];
    /* A 200 stream is passed on piece by piece as it arrives. */
    CURL *h;
    struct tt_mock_tx *tx;
    const char *marker;
    char *extra;
    int streaming;            /* 0 undecided, 1 yes, -1 no */
    int failed;               /* the client went away */
};

static const char *const hop_headers[] = {
    "host", "content-length", "connection", "transfer-encoding", "accept-encoding",
    "expect", "keep-alive", "te", "upgrade", "proxy-connection", "http2-settings",
    "content-encoding", "server",
};

static bool hop(const char *name, size_t n)
{
    for (size_t i = 0; i < sizeof(hop_headers) / sizeof(*hop_headers); i++)
        if (tt_tok_ieq(name, n, hop_headers[i]))
            return true;
    return n >= 10 && !strncasecmp(name, "x-tokentap", 10);
}

static size_t live_header(char *p, size_t size, size_t nmemb, void *ud)
{
    struct live_resp *lr = ud;
    size_t n = size * nmemb, k = n;
    const char *colon;

    while (k && (p[k - 1] == '\r' || p[k - 1] == '\n'))
        k--;
    if (k >= 5 && !strncmp(p, "HTTP/", 5)) {
        tt_buf_reset(&lr->hdrs);     /* a new head (100 Continue, redirects) */
        lr->ctype[0] = '\0';
        return n;
    }
    if (!k || !(colon = memchr(p, ':', k)))
        return n;
    size_t nl = (size_t)(colon - p);
    const char *v = colon + 1;
    while (v < p + k && *v == ' ')
        v++;
    if (tt_tok_ieq(p, nl, "content-type")) {
        snprintf(lr->ctype, sizeof(lr->ctype), "%.*s", (int)(p + k - v), v);
        return n;
    }
    if (hop(p, nl))
        return n;
    if (tt_buf_append(&lr->hdrs, p, k) != TT_OK || tt_buf_append(&lr->hdrs, "\r\n", 2) != TT_OK)
        lr->hdrs.truncated = true;
    return n;
}

static bool stream_ctype(const char *ct)
{
    return ct && (!strncasecmp(ct, "text/event-stream", 17) ||
                  !strncasecmp(ct, "application/x-ndjson", 20) ||
                  !strncasecmp(ct, "application/vnd.amazon.eventstream", 34));
}

static void live_extra(struct live_resp *lr)
{
    free(lr->extra);
    lr->extra = NULL;
    if (asprintf(&lr->extra, "%s%s%s%s", lr->hdrs.data ? lr->hdrs.data : "",
                 lr->marker ? "x-tokentap-replay: " : "", lr->marker ? lr->marker : "",
                 lr->marker ? "\r\n" : "") < 0)
        lr->extra = NULL;
    lr->tx->extra_hdrs = lr->extra;
}

static size_t live_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct live_resp *lr = ud;
    size_t n = size * nmemb;

    if (!lr->streaming) {
        long code = 0;
        curl_easy_getinfo(lr->h, CURLINFO_RESPONSE_CODE, &code);
        lr->streaming = code == 200 && stream_ctype(lr->ctype) ? 1 : -1;
        if (lr->streaming > 0) {
            live_extra(lr);
            if (lr->tx->ops->stream_head(lr->tx, lr->ctype, NULL) != 0)
                lr->failed = 1;
        }
    }
    if (lr->streaming > 0) {
        if (lr->failed || (n && lr->tx->ops->stream_write(lr->tx, p, n) != 0)) {
            lr->failed = 1;
            return 0;       /* stop the transfer: nobody reads it */
        }
        return n;
    }
    return tt_buf_append(&lr->body, p, n) == TT_OK ? n : 0;
}

/* Send the request on to its real host and the answer back. marker: the
 * x-tokentap-replay value, NULL for a call replay does not answer. */
static void forward(struct rp *st, struct tt_mock_tx *tx, const char *marker)
{
    const struct tt_mock_req *r = tx->req;
    struct live_resp lr = { .tx = tx, .marker = marker };
    struct curl_slist *hl = NULL;
    char url[2048], err[CURL_ERROR_SIZE] = "", *extra = NULL;
    CURL *h = curl_easy_init();
    CURLcode cc = CURLE_FAILED_INIT;

    lr.h = h;
    tt_buf_init(&lr.hdrs, 64 * 1024);
    tt_buf_init(&lr.body, TT_MOCK_BODY_CAP);
    snprintf(url, sizeof(url), "%s://%s%s", r->tls ? "https" : "http",
             r->host[0] ? r->host : "localhost", r->path);
    if (h) {
        for (const char *p = r->hdrs ? r->hdrs : ""; *p;) {
            size_t n = strcspn(p, "\r\n");
            const char *colon = memchr(p, ':', n);
            if (colon && colon != p && !hop(p, (size_t)(colon - p)) && p[0] != ':') {
                char *line = strndup(p, n);
                struct curl_slist *nl = line ? curl_slist_append(hl, line) : NULL;
                free(line);
                if (nl)
                    hl = nl;
            }
            p += n;
            p += strspn(p, "\r\n");
        }
        /* libcurl adds these unless told not to. */
        struct curl_slist *nl = curl_slist_append(hl, "Expect:");
        if (nl)
            hl = nl;
        curl_easy_setopt(h, CURLOPT_URL, url);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
        if (r->body_len || !strcmp(r->method, "POST")) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body ? r->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
        }
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, live_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &lr);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, live_body);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &lr);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_TIMEOUT, 600L);
        if (st->live_ca)
            curl_easy_setopt(h, CURLOPT_CAINFO, st->live_ca);
        cc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &lr.status);
    }
    if (lr.streaming > 0) {
        /* Already under way: end it, or break it off as the provider did. */
        if (cc == CURLE_OK && !lr.failed)
            (void)tx->ops->stream_end(tx);
        else
            tx->ops->cut(tx);
        goto out;
    }
    if (cc != CURLE_OK || lr.status < 100) {
        char msg[4096];
        snprintf(msg, sizeof(msg), "tokentap %s: the live call to %s failed: %s", st->name, url,
                 err[0] ? err : curl_easy_strerror(cc));
        if (asprintf(&extra, "x-tokentap-replay: %s\r\n", marker ? marker : "miss") > 0)
            tx->extra_hdrs = extra;
        (void)tt_mock_send_error(tx, tt_mock_route(r), 502, msg);
        goto out;
    }
    if (asprintf(&extra, "%s%s%s%s", lr.hdrs.data ? lr.hdrs.data : "",
                 marker ? "x-tokentap-replay: " : "", marker ? marker : "", marker ? "\r\n" : "") > 0)
        tx->extra_hdrs = extra;
    const char *ct = lr.ctype[0] ? lr.ctype : "application/octet-stream";
    if (lr.status == 200 && stream_ctype(ct)) {
        /* A stream with an empty body: head and end. */
        if (tx->ops->stream_head(tx, ct, NULL) == 0)
            (void)tx->ops->stream_end(tx);
    } else {
        (void)tx->ops->whole(tx, (int)lr.status, ct, NULL, lr.body.data ? lr.body.data : "",
                             lr.body.len, 0);
    }
out:
    tx->extra_hdrs = NULL;
    free(extra);
    free(lr.extra);
    curl_slist_free_all(hl);
    if (h)
        curl_easy_cleanup(h);
    tt_buf_free(&lr.hdrs);
    tt_buf_free(&lr.body);
}

/* ---------------------------------------------------------------- replay */

/* The model a request names: its body's "model", else the path's
 * (Gemini .../models/M:..., Bedrock /model/M/...). */
static void request_model(const struct tt_mock_req *r, char *out, size_t n)
{
    json_error_t jerr;
    json_t *j = r->body_len ? json_loadb(r->body, r->body_len, 0, &jerr) : NULL;
    const char *m = json_string_value(json_object_get(j, "model"));
    const char *p;

    out[0] = '\0';
    if (m)
        snprintf(out, n, "%s", m);
    else if ((p = strstr(r->path, "/models/")))
        snprintf(out, n, "%.*s", (int)strcspn(p + 8, ":/?"), p + 8);
    else if ((p = strstr(r->path, "/model/")))
        snprintf(out, n, "%.*s", (int)strcspn(p + 7, "/?"), p + 7);
    json_decref(j);
}

/* --only / --except: comma-separated KEY=GLOB (model, provider, host). */
static bool filter_hit(const char *list, const char *model, const char *provider,
                       const char *host)
{
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        char term[512];
        if (n < sizeof(term)) {
            memcpy(term, p, n);
            term[n] = '\0';
            char *eq = strchr(term, '=');
            if (eq) {
                *eq = '\0';
                const char *v = !strcmp(term, "model") ? model
                                : !strcmp(term, "provider") ? provider
                                : !strcmp(term, "host") ? host : NULL;
                if (v && fnmatch(eq + 1, v, 0) == 0)
                    return true;
            }
        }
        p += n;
        if (*p)
            p++;
    }
    return false;
}

static int filter_valid(const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ",");
        if (!(n > 6 && !strncmp(p, "model=", 6)) && !(n > 9 && !strncmp(p, "provider=", 9)) &&
            !(n > 5 && !strncmp(p, "host=", 5)))
            return TT_ERR_PARSE;
        p += n;
        if (*p)
            p++;
    }
    return TT_OK;
}

static void serve_entry(struct rp *st, struct tt_mock_tx *tx, const struct tt_cas_entry *e)
{
    char *extra = NULL;
    int64_t t0 = mono_ns();
    const char *ct = e->ctype[0] ? e->ctype : "application/json";
    /* A response that was cut short when recorded is cut again, after the
     * same bytes: sent as a stream, so no length announces the rest. */
    bool stream = (e->status == 200 && (stream_ctype(ct) || e->n_chunks > 1)) || !e->complete;

    if (asprintf(&extra, "%sx-tokentap-replay: hit\r\n", e->resp_hdrs) > 0)
        tx->extra_hdrs = extra;
    if (st->realtime)
        sleep_until(t0 + e->wait_ns);
    if (!stream) {
        if (st->realtime && e->n_chunks)
            sleep_until(t0 + e->chunks[e->n_chunks - 1].t_ns);
        (void)tx->ops->whole(tx, e->status, ct, NULL, e->body, e->body_len, 0);
    } else if (tx->ops->stream_head(tx, ct, NULL) == 0) {
        size_t off = 0;
        int rc = 0;
        for (size_t i = 0; i < e->n_chunks && rc == 0; i++) {
            if (st->realtime)
                sleep_until(t0 + e->chunks[i].t_ns);
            if (e->chunks[i].len)
                rc = tx->ops->stream_write(tx, e->body + off, e->chunks[i].len);
            off += e->chunks[i].len;
        }
        if (rc == 0 && !e->n_chunks && e->body_len)
            rc = tx->ops->stream_write(tx, e->body, e->body_len);
        if (rc == 0 && e->complete)
            (void)tx->ops->stream_end(tx);
        else if (rc == 0)
            tx->ops->cut(tx);
    }
    tx->extra_hdrs = NULL;
    free(extra);
}

static void serve_mock(struct tt_mock_tx *tx)
{
    tx->extra_hdrs = "x-tokentap-replay: mock\r\n";
    tt_mock_dispatch_builtin(tx);
    tx->extra_hdrs = NULL;
}

static void on_miss(struct rp *st, struct tt_mock_tx *tx, const char *host, const char *model)
{
    const struct tt_mock_req *r = tx->req;
    char *diff = NULL, msg[4096], clean[2048];
    struct tt_cas_entry *near;
    json_t *m;

    tt_redact_target(r->path, strlen(r->path), clean, sizeof(clean));
    pthread_mutex_lock(&st->mu);
    st->misses++;
    near = tt_cas_nearest(&st->cas, r->method, host, r->path, r->body, r->body_len, &diff, 1500);
    m = json_pack("{s:s, s:s, s:s, s:s, s:s}", "method", r->method, "host", host, "path", clean,
                  "model", model, "answered", st->miss == MISS_FAIL ? "error"
                                              : st->miss == MISS_LIVE ? "live" : "mock");
    if (m && near) {
        json_object_set_new(m, "nearest_entry", json_integer((json_int_t)near->index + 1));
        json_object_set_new(m, "diff", json_string(diff ? diff : ""));
    }
    if (m)
        json_array_append_new(st->miss_list, m);
    if (near)
        snprintf(msg, sizeof(msg),
                 "tokentap replay: no recording in %s matches %s %s%s (model %s). Nearest: entry "
                 "%zu (%s %s%s). Request body differences (- recorded, + this request):\n%s",
                 st->har, r->method, host, clean, model[0] ? model : "?", near->index + 1,
                 near->method, near->host, near->path, diff && *diff ? diff : "(none in the body)\n");
    else
        snprintf(msg, sizeof(msg), "tokentap replay: no recording in %s matches %s %s%s (model %s); "
                 "the cassette is empty", st->har, r->method, host, clean, model[0] ? model : "?");
    pthread_mutex_unlock(&st->mu);
    free(diff);
    switch (st->miss) {
    case MISS_LIVE:
        forward(st, tx, "miss");
        break;
    case MISS_MOCK:
        serve_mock(tx);
        break;
    case MISS_FAIL:
        tx->extra_hdrs = "x-tokentap-replay: miss\r\n";
        /* 400: no SDK retries it, and every SDK shows its message. */
        (void)tt_mock_send_error(tx, tt_mock_route(r), 400, msg);
        tx->extra_hdrs = NULL;
        break;
    }
}

static void rp_dispatch(struct tt_mock_tx *tx, void *arg)
{
    struct rp *st = arg;
    const struct tt_mock_req *r = tx->req;
    const char *host = r->host[0] ? r->host : "localhost";
    char model[256];

    /* Not an LLM API call (a model list, a health check, another service
     * on a redirected port): on to its real host, untouched. */
    if (!tt_api_match(r->method, strlen(r->method), r->path, strlen(r->path))) {
        pthread_mutex_lock(&st->mu);
        st->passed++;
        pthread_mutex_unlock(&st->mu);
        forward(st, tx, NULL);
        return;
    }
    if (st->mode == RP_MOCK) {
        pthread_mutex_lock(&st->mu);
        st->mocked++;
        pthread_mutex_unlock(&st->mu);
        serve_mock(tx);
        return;
    }
    /* The model (a JSON parse) only when a filter or a miss needs it. */
    model[0] = '\0';
    if (st->only || st->except)
        request_model(r, model, sizeof(model));
    const char *prov = tt_provider_for_host(host, strlen(host));
    if ((st->only && !filter_hit(st->only, model, prov ? prov : "", host)) ||
        (st->except && filter_hit(st->except, model, prov ? prov : "", host))) {
        pthread_mutex_lock(&st->mu);
        st->live++;
        pthread_mutex_unlock(&st->mu);
        forward(st, tx, NULL);
        return;
    }
    pthread_mutex_lock(&st->mu);
    struct tt_cas_entry *e = tt_cas_match(&st->cas, r->method, host, r->path, r->body, r->body_len);
    if (e)
        st->hits++;
    pthread_mutex_unlock(&st->mu);
    if (e) {
        serve_entry(st, tx, e);     /* entries are read-only once loaded */
        return;
    }
    if (!model[0])
        request_model(r, model, sizeof(model));
    on_miss(st, tx, host, model);
}

/* ----------------------------------------------------------- extensions */

/* Official Node builds carry their own OpenSSL: the SSL_new hook that adds
 * the run's certificate to a trust store never sees theirs. Node reads
 * extra trusted certificates from NODE_EXTRA_CA_CERTS (PEM) at start: the
 * run's certificate goes there, after the user's own file if one was set. */
static int node_ca(struct rp *st, char ***env)
{
    char path[PATH_MAX + 16];
    struct tt_buf pem, b64;
    const char *user = getenv("NODE_EXTRA_CA_CERTS");
    int rc = TT_ERR_NOMEM;

    tt_buf_init(&pem, 8u << 20);
    tt_buf_init(&b64, 1u << 20);
    if (user && *user) {
        FILE *f = fopen(user, "rb");
        char chunk[8192];
        size_t k;
        while (f && (k = fread(chunk, 1, sizeof(chunk), f)) > 0)
            if (tt_buf_append(&pem, chunk, k) != TT_OK)
                break;
        if (f)
            fclose(f);
        if (pem.len && pem.data[pem.len - 1] != '\n' && tt_buf_append(&pem, "\n", 1) != TT_OK)
            goto out;
    }
    if (tt_rec_base64(&b64, st->srv.ca_der, st->srv.ca_der_len) != TT_OK ||
        tt_buf_append_str(&pem, "-----BEGIN CERTIFICATE-----\n") != TT_OK)
        goto out;
    for (size_t off = 0; off < b64.len; off += 64) {
        size_t k = b64.len - off < 64 ? b64.len - off : 64;
        if (tt_buf_append(&pem, b64.data + off, k) != TT_OK ||
            tt_buf_append(&pem, "\n", 1) != TT_OK)
            goto out;
    }
    if (tt_buf_append_str(&pem, "-----END CERTIFICATE-----\n") != TT_OK)
        goto out;
    snprintf(path, sizeof(path), "%s/ca.pem", st->tmpdir);
    rc = write_private(path, pem.data, pem.len);
    if (rc == TT_OK && tt_cli_env_set(env, "NODE_EXTRA_CA_CERTS", path) != TT_OK)
        rc = TT_ERR_NOMEM;
out:
    tt_buf_free(&pem);
    tt_buf_free(&b64);
    return rc;
}

static int server_setup(struct rp *st, char ***env)
{
    struct tt_buf hosts, san;
    char path[PATH_MAX + 16], addr[64];
    int rc = TT_ERR;

    if (targets(st, &hosts, &san) != TT_OK) {
        fprintf(stderr, "tokentap %s: too many hosts to redirect\n", st->name);
        goto out;
    }
    if (private_dir(st->tmpdir, sizeof(st->tmpdir)) != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot create a private directory: %s\n", st->name,
                strerror(errno));
        st->tmpdir[0] = '\0';
        goto out;
    }
    pthread_mutex_init(&st->mu, NULL);
    st->miss_list = json_array();
    st->srv.san = san.data;
    st->srv.dispatch = rp_dispatch;
    st->srv.arg = st;
    if (!st->miss_list || tt_mock_embed_start(&st->srv) != 0) {
        fprintf(stderr, "tokentap %s: cannot start the local server\n", st->name);
        goto out;
    }
    snprintf(path, sizeof(path), "%s/ca.der", st->tmpdir);
    if (write_private(path, st->srv.ca_der, st->srv.ca_der_len) != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot write %s: %s\n", st->name, path, strerror(errno));
        goto out;
    }
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", st->srv.port);
    if (node_ca(st, env) != TT_OK) {
        fprintf(stderr, "tokentap %s: cannot write the run's certificate for Node: %s\n",
                st->name, strerror(errno));
        goto out;
    }
    if (tt_cli_env_set(env, "TOKENTAP_REDIRECT", addr) != TT_OK ||
        tt_cli_env_set(env, "TOKENTAP_REDIRECT_HOSTS", hosts.data) != TT_OK ||
        tt_cli_env_set(env, "TOKENTAP_REDIRECT_CA", path) != TT_OK) {
        fprintf(stderr, "tokentap %s: out of memory\n", st->name);
        goto out;
    }
    rc = TT_OK;
out:
    tt_buf_free(&hosts);
    tt_buf_free(&san);
    return rc;
}

static void server_stop(struct rp *st)
{
    tt_mock_embed_stop(&st->srv);
    remove_dir(st->tmpdir);
}

/* Calls answered by replay (hit) or the mock, and what they would have
 * cost, from the store. */
static void replayed_cost(const char *db, const char *trace, long *calls, double *cost)
{
    struct tt_store *s = NULL;
    sqlite3_stmt *q = NULL;

    *calls = 0;
    *cost = 0;
    if (!db || tt_store_open(db, true, &s) != TT_OK)
        return;
    if (sqlite3_prepare_v2(tt_store_db(s),
                           "SELECT COUNT(*), SUM(CASE WHEN cost_known THEN cost_usd ELSE 0 END)"
                           " FROM spans WHERE trace_id = ?1 AND kind = 'llm'"
                           " AND replay IN ('hit','mock')", -1, &q, NULL) == SQLITE_OK) {
        sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            *calls = sqlite3_column_int64(q, 0);
            *cost = sqlite3_column_double(q, 1);
        }
        sqlite3_finalize(q);
    }
    tt_store_close(s);
}

static int replay_setup(void *arg, char ***env)
{
    return server_setup(arg, env);
}

static int replay_finish(void *arg, const char *db, const char *trace, bool synced, int status)
{
    struct rp *st = arg;
    long rcalls = 0, unused = 0;
    double rcost = 0;

    server_stop(st);
    if (synced)
        replayed_cost(db, trace, &rcalls, &rcost);
    for (size_t i = 0; i < st->cas.n; i++)
        unused += !st->cas.e[i].used;
    if (!st->quiet) {
        fprintf(stderr, "tokentap replay: %ld LLM call%s: %ld replayed, %ld missed (answered: %s), "
                "%ld live, %ld of %zu recording%s unused; replayed cost $%.6f (not billed, not in "
                "cost totals)\n", st->hits + st->misses + st->live,
                st->hits + st->misses + st->live == 1 ? "" : "s", st->hits, st->misses,
                st->miss == MISS_FAIL ? "error" : st->miss == MISS_LIVE ? "live" : "mock",
                st->live, unused, st->cas.n, st->cas.n == 1 ? "" : "s", rcost);
        for (size_t i = 0; i < json_array_size(st->miss_list); i++) {
            json_t *m = json_array_get(st->miss_list, i);
            fprintf(stderr, "  miss: %s %s%s (model %s)", json_string_value(json_object_get(m, "method")),
                    json_string_value(json_object_get(m, "host")),
                    json_string_value(json_object_get(m, "path")),
                    json_string_value(json_object_get(m, "model"))[0]
                        ? json_string_value(json_object_get(m, "model")) : "?");
            if (json_object_get(m, "nearest_entry"))
                fprintf(stderr, "; nearest: entry %lld\n%s",
                        (long long)json_integer_value(json_object_get(m, "nearest_entry")),
                        json_string_value(json_object_get(m, "diff")));
            else
                fputc('\n', stderr);
        }
    }
    if (st->json) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:O}",
                              "cassette", st->har, "trace_id", trace, "calls",
                              (json_int_t)(st->hits + st->misses + st->live), "hits",
                              (json_int_t)st->hits, "misses", (json_int_t)st->misses, "live",
                              (json_int_t)st->live, "passed_through", (json_int_t)st->passed,
                              "recordings", (json_int_t)st->cas.n, "unused", (json_int_t)unused,
                              "replayed_cost_usd", rcost, "miss_details", st->miss_list);
        char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        FILE *f = st->json_file ? fopen(st->json_file, "we") : stderr;
        if (s && f) {
            fprintf(f, "%s\n", s);
            if (f != stderr)
                fclose(f);
        } else if (!f) {
            fprintf(stderr, "tokentap replay: cannot write %s: %s\n", st->json_file, strerror(errno));
        }
        free(s);
    }
    json_decref(st->miss_list);
    st->miss_list = NULL;
    return status;
}

static struct rp mock_state = { .mode = RP_MOCK, .name = "run --mock" };

static int mock_setup(void *arg, char ***env)
{
    return server_setup(arg, env);
}

static int mock_finish(void *arg, const char *db, const char *trace, bool synced, int status)
{
    struct rp *st = arg;

    (void)db;
    (void)trace;
    (void)synced;
    server_stop(st);
    if (!st->quiet)
        fprintf(stderr, "tokentap run --mock: %ld LLM call%s answered by the mock (nothing sent, "
                "$0)\n", st->mocked, st->mocked == 1 ? "" : "s");
    json_decref(st->miss_list);
    st->miss_list = NULL;
    return status;
}

static const struct tt_cli_run_ext mock_ext = {
    .cmd = "run --mock", .setup = mock_setup, .finish = mock_finish, .arg = &mock_state,
};

const struct tt_cli_run_ext *tt_cli_mock_ext(void)
{
    return &mock_ext;
}

/* ---------------------------------------------------------------- record */

static int record_setup(void *arg, char ***env)
{
    struct rp *st = arg;

    if (private_dir(st->recdir, sizeof(st->recdir)) != TT_OK) {
        fprintf(stderr, "tokentap record: cannot create a private directory: %s\n", strerror(errno));
        st->recdir[0] = '\0';
        return TT_ERR_IO;
    }
    return tt_cli_env_set(env, "TOKENTAP_RECORD", st->recdir);
}

/* Keep the lines for `tokentap cassette TRACE`, then remove the dir. */
static void record_keep(struct rp *st, const char *trace)
{
    char home[PATH_MAX], dst[PATH_MAX + 64], src[PATH_MAX + 300];
    DIR *d = opendir(st->recdir);
    struct dirent *de;
    FILE *out = NULL;

    if (d && tt_wire_home_dir(home, sizeof(home)) == TT_OK) {
        snprintf(dst, sizeof(dst), "%s/recordings", home);
        if (tt_wire_mkdirs(dst) == TT_OK) {
            snprintf(dst, sizeof(dst), "%s/recordings/%s.jsonl", home, trace);
            int fd = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
            out = fd >= 0 ? fdopen(fd, "w") : NULL;
        }
    }
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(src, sizeof(src), "%s/%s", st->recdir, de->d_name);
        FILE *in = out ? fopen(src, "re") : NULL;
        char buf[65536];
        size_t n;
        while (in && (n = fread(buf, 1, sizeof(buf), in)) > 0)
            fwrite(buf, 1, n, out);
        if (in)
            fclose(in);
        unlink(src);
    }
    if (d)
        closedir(d);
    if (out)
        fclose(out);
    rmdir(st->recdir);
    st->recdir[0] = '\0';
}

static int record_finish(void *arg, const char *db, const char *trace, bool synced, int status)
{
    struct rp *st = arg;
    char err[512];
    size_t n = 0;

    (void)db;
    (void)synced;
    if (tt_cas_write_har(st->recdir, st->out, &n, err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap record: %s; no cassette written\n", err);
        status = status ? status : TT_CLI_EXIT_ERR;
    } else if (!st->quiet) {
        fprintf(stderr, "tokentap record: %zu LLM exchange%s recorded in %s (HAR 1.2)\n", n,
                n == 1 ? "" : "s", st->out);
    }
    record_keep(st, trace);
    return status;
}

/* ------------------------------------------------------------ commands */

/* argv up to "--" are ours; builds {"run", [--db X], [--quiet], "--",
 * CMD...} for cli_run.c. */
static int split_cmd(int argc, char **argv, int *nopts)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--")) {
            *nopts = i;
            return i + 1 < argc ? TT_OK : TT_ERR;
        }
    return TT_ERR;
}

static int run_with(struct rp *st, const char *db, int argc, char **argv, int cmd_at,
                    const struct tt_cli_run_ext *ext)
{
    char **rargv = calloc((size_t)(argc - cmd_at) + 6, sizeof(char *));
    int n = 0, rc;

    if (!rargv)
        return TT_CLI_EXIT_ERR;
    rargv[n++] = "run";
    if (db) {
        rargv[n++] = "--db";
        rargv[n++] = (char *)db;
    }
    if (st->quiet)
        rargv[n++] = "--quiet";
    rargv[n++] = "--";
    for (int i = cmd_at; i < argc; i++)
        rargv[n++] = argv[i];
    rc = tt_cli_run_ext_main(n, rargv, ext);
    free(rargv);
    return rc;
}

int tt_cli_record_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' }, { "db", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' }, { 0 },
    };
    struct rp st = { .mode = RP_RECORD, .name = "record" };
    const char *db = NULL;
    int nopts = argc, c;

    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(tt_cli_help("record"), stdout);
        return TT_CLI_EXIT_OK;
    }
    if (split_cmd(argc, argv, &nopts) != TT_OK) {
        fprintf(stderr, "tokentap record: usage: tokentap record -o FILE.har -- CMD [ARG...]\n");
        return TT_CLI_EXIT_USAGE;
    }
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(nopts, argv, ":o:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': st.out = optarg; break;
        case 'd': db = optarg; break;
        case 'q': st.quiet = true; break;
        case 'h': fputs(tt_cli_help("record"), stdout); return TT_CLI_EXIT_OK;
        default:
            fprintf(stderr, "tokentap record: bad option '%s' (see tokentap record --help)\n",
                    argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        }
    }
    if (!st.out || optind != nopts) {
        fprintf(stderr, "tokentap record: usage: tokentap record -o FILE.har -- CMD [ARG...]\n");
        return TT_CLI_EXIT_USAGE;
    }
    struct tt_cli_run_ext ext = { .cmd = "record", .setup = record_setup,
                                  .finish = record_finish, .arg = &st };
    return run_with(&st, db, argc, argv, nopts + 1, &ext);
}

int tt_cli_replay_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "miss", required_argument, NULL, 'm' }, { "only", required_argument, NULL, 'O' },
        { "except", required_argument, NULL, 'E' }, { "speed", required_argument, NULL, 's' },
        { "json", optional_argument, NULL, 'j' }, { "live-cacert", required_argument, NULL, 'c' },
        { "db", required_argument, NULL, 'd' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' }, { 0 },
    };
    struct rp st = { .mode = RP_REPLAY, .name = "replay" };
    const char *db = NULL;
    char err[1024];
    int nopts = argc, c, rc;

    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(tt_cli_help("replay"), stdout);
        return TT_CLI_EXIT_OK;
    }
    if (split_cmd(argc, argv, &nopts) != TT_OK)
        goto usage;
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(nopts, argv, ":m:d:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!strcmp(optarg, "fail")) st.miss = MISS_FAIL;
            else if (!strcmp(optarg, "live")) st.miss = MISS_LIVE;
            else if (!strcmp(optarg, "mock")) st.miss = MISS_MOCK;
            else {
                fprintf(stderr, "tokentap replay: --miss wants fail, live or mock, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 'O':
        case 'E':
            if (filter_valid(optarg) != TT_OK) {
                fprintf(stderr, "tokentap replay: --%s wants model=GLOB, provider=GLOB or "
                        "host=GLOB (comma-separated), not '%s'\n", c == 'O' ? "only" : "except",
                        optarg);
                return TT_CLI_EXIT_USAGE;
            }
            if (c == 'O')
                st.only = optarg;
            else
                st.except = optarg;
            break;
        case 's':
            if (strcmp(optarg, "realtime") && strcmp(optarg, "fast")) {
                fprintf(stderr, "tokentap replay: --speed wants realtime or fast, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            st.realtime = !strcmp(optarg, "realtime");
            break;
        case 'j': st.json = true; st.json_file = optarg; break;
        case 'c': st.live_ca = optarg; break;
        case 'd': db = optarg; break;
        case 'q': st.quiet = true; break;
        case 'h': fputs(tt_cli_help("replay"), stdout); return TT_CLI_EXIT_OK;
        default:
            fprintf(stderr, "tokentap replay: bad option '%s' (see tokentap replay --help)\n",
                    argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        }
    }
    if (optind != nopts - 1)
        goto usage;
    st.har = argv[optind];
    /* A cassette that cannot be read in full stops here: the program is
     * not started against half of it. */
    rc = tt_cas_load(st.har, &st.cas, err, sizeof(err));
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap replay: %s: %s; the command was not started\n", st.har, err);
        return TT_CLI_EXIT_ERR;
    }
    struct tt_cli_run_ext ext = { .cmd = "replay", .setup = replay_setup,
                                  .finish = replay_finish, .arg = &st };
    rc = run_with(&st, db, argc, argv, nopts + 1, &ext);
    tt_cas_free(&st.cas);
    return rc;
usage:
    fprintf(stderr, "tokentap replay: usage: tokentap replay FILE.har [--miss fail|live|mock] "
            "[--only LIST] [--except LIST] [--speed realtime] [--json[=FILE]] -- CMD [ARG...]\n");
    return TT_CLI_EXIT_USAGE;
}

/* tokentap cassette TRACE -o FILE.har: from the lines `tokentap record`
 * kept for TRACE (a unique prefix of its id). */
int tt_cli_cassette_main(int argc, char **argv)
{
    const char *out = NULL, *trace = NULL;
    char home[PATH_MAX], dir[PATH_MAX + 16], found[PATH_MAX + 300], err[512];
    int matches = 0;
    size_t n = 0;

    for (int i = 1; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(tt_cli_help("cassette"), stdout);
            return TT_CLI_EXIT_OK;
        } else if (argv[i][0] != '-' && !trace)
            trace = argv[i];
        else
            goto usage;
    }
    if (!out || !trace || strchr(trace, '/'))
        goto usage;
    if (tt_wire_home_dir(home, sizeof(home)) != TT_OK) {
        fprintf(stderr, "tokentap cassette: cannot find the tokentap home; set TOKENTAP_HOME\n");
        return TT_CLI_EXIT_ERR;
    }
    snprintf(dir, sizeof(dir), "%s/recordings", home);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, trace, strlen(trace)) || !strstr(de->d_name, ".jsonl"))
            continue;
        snprintf(found, sizeof(found), "%s/%s", dir, de->d_name);
        matches++;
    }
    if (d)
        closedir(d);
    if (matches != 1) {
        fprintf(stderr, "tokentap cassette: %s: %s\n", trace,
                matches ? "more than one recorded trace starts so; give more of the id"
                        : "no recording of that trace (only runs of `tokentap record` are kept)");
        return TT_CLI_EXIT_ERR;
    }
    const char *files[1] = { found };
    if (tt_cas_write_har_from(files, 1, out, &n, err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap cassette: %s\n", err);
        return TT_CLI_EXIT_ERR;
    }
    fprintf(stderr, "tokentap cassette: %zu LLM exchange%s written to %s\n", n, n == 1 ? "" : "s", out);
    return TT_CLI_EXIT_OK;
usage:
    fprintf(stderr, "tokentap cassette: usage: tokentap cassette TRACE -o FILE.har\n");
    return TT_CLI_EXIT_USAGE;
}
