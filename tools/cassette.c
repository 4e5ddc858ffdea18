/* cassette.c - HAR 1.2 cassettes: write from recording lines, load, match
 * (cassette.h). */
#include "cassette.h"
#include "exchange.h"
#include "redact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* Top-level request fields that differ between two runs of the same
 * program without changing what it asks (ids, end-user tags, client
 * metadata, stream options). */
static const char *const volatile_fields[] = {
    "user", "metadata", "stream_options", "request_id", "idempotency_key",
    "prompt_cache_key", "safety_identifier", "client_request_id", "timestamp",
};

#define DIFF_MAX_LINES 400

char *tt_cas_canon(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = len ? json_loadb(body, len, 0, &jerr) : NULL;
    char *out;

    if (!j)
        return strndup(body ? body : "", len);
    if (json_is_object(j))
        for (size_t i = 0; i < sizeof(volatile_fields) / sizeof(*volatile_fields); i++)
            json_object_del(j, volatile_fields[i]);
    out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* For the diff: one JSON member per line, keys sorted. */
static char *pretty(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *j = len ? json_loadb(body, len, 0, &jerr) : NULL;
    char *out;

    if (!j)
        return strndup(body ? body : "", len);
    if (json_is_object(j))
        for (size_t i = 0; i < sizeof(volatile_fields) / sizeof(*volatile_fields); i++)
            json_object_del(j, volatile_fields[i]);
    out = json_dumps(j, JSON_INDENT(1) | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    json_decref(j);
    return out;
}

/* --- diff ------------------------------------------------------------------ */

static size_t split_lines(char *t, char **lines, size_t max)
{
    size_t n = 0;

    while (*t && n < max) {
        lines[n++] = t;
        char *nl = strchr(t, '\n');
        if (!nl)
            break;
        *nl = '\0';
        t = nl + 1;
    }
    return n;
}

/* One diff line, unless the output would pass max bytes: then "...", and
 * nothing after it. */
static void add_line(struct tt_buf *b, const char *mark, const char *line, size_t max)
{
    static const char more[] = "  ...\n";

    if (b->truncated)
        return;
    if (b->len + strlen(mark) + strlen(line) + 1 + sizeof(more) > max) {
        if (b->len + sizeof(more) - 1 > max || tt_buf_append_str(b, more) != TT_OK)
            b->truncated = true;
        b->truncated = true;
        return;
    }
    if (tt_buf_append_str(b, mark) != TT_OK || tt_buf_append_str(b, line) != TT_OK ||
        tt_buf_append(b, "\n", 1) != TT_OK)
        b->truncated = true;
}

char *tt_cas_diff(const char *a, const char *b, size_t max, size_t *changed)
{
    char *ca = strdup(a ? a : ""), *cb = strdup(b ? b : "");
    char **la = calloc(DIFF_MAX_LINES, sizeof(char *)), **lb = calloc(DIFF_MAX_LINES, sizeof(char *));
    unsigned short *L = NULL;
    struct tt_buf out;
    size_t na, nb, i, j, ch = 0;
    char *res = NULL;

    tt_buf_init(&out, max + 64);
    if (!ca || !cb || !la || !lb)
        goto done;
    na = split_lines(ca, la, DIFF_MAX_LINES);
    nb = split_lines(cb, lb, DIFF_MAX_LINES);
    /* LCS table of the suffixes: L[i][j] for a[i..], b[j..]. */
    L = calloc((na + 1) * (nb + 1), sizeof(*L));
    if (!L)
        goto done;
    for (i = na; i-- > 0;)
        for (j = nb; j-- > 0;)
            L[i * (nb + 1) + j] = !strcmp(la[i], lb[j])
                ? (unsigned short)(L[(i + 1) * (nb + 1) + j + 1] + 1)
                : (L[(i + 1) * (nb + 1) + j] > L[i * (nb + 1) + j + 1]
                       ? L[(i + 1) * (nb + 1) + j] : L[i * (nb + 1) + j + 1]);
    for (i = 0, j = 0; i < na || j < nb;) {
        if (i < na && j < nb && !strcmp(la[i], lb[j])) {
            i++;
            j++;
        } else if (j == nb || (i < na && L[(i + 1) * (nb + 1) + j] >= L[i * (nb + 1) + j + 1])) {
            add_line(&out, "- ", la[i++], max);
            ch++;
        } else {
            add_line(&out, "+ ", lb[j++], max);
            ch++;
        }
    }
    res = out.data ? tt_buf_steal(&out) : strdup("");
done:
    tt_buf_free(&out);
    free(L);
    free(la);
    free(lb);
    free(ca);
    free(cb);
    if (changed)
        *changed = ch;
    return res;
}

/* --- matching -------------------------------------------------------------- */

static bool same_request(const struct tt_cas_entry *e, const char *method, const char *host,
                         const char *path)
{
    char clean[4096];

    tt_redact_target(path, strlen(path), clean, sizeof(clean));
    return !strcasecmp(e->method, method) && !strcasecmp(e->host, host) &&
           !strcmp(e->path, clean);
}

struct tt_cas_entry *tt_cas_match(struct tt_cassette *c, const char *method,
                                  const char *host, const char *path, const char *body,
                                  size_t len)
{
    struct tt_cas_entry *last = NULL;
    char *canon = NULL;
    bool no_canon = false;

    for (size_t i = 0; i < c->n; i++) {
        struct tt_cas_entry *e = &c->e[i];
        if (!same_request(e, method, host, path))
            continue;
        /* The same bytes have the same canonical form: the parse and the
         * sorted dump (most of a replayed call's CPU with a 10 KB body,
         * bench fig 12) only for a body that differs from the recording. */
        if (e->req_len != len || (len && memcmp(e->req_body, body, len))) {
            if (!canon && !no_canon && !(canon = tt_cas_canon(body, len)))
                no_canon = true;        /* out of memory: byte-equal only */
            if (no_canon || strcmp(e->canon, canon))
                continue;
        }
        if (!e->used) {
            e->used = true;
            free(canon);
            return e;
        }
        last = e;
    }
    free(canon);
    return last;    /* all used: the last one again */
}

struct tt_cas_entry *tt_cas_nearest(struct tt_cassette *c, const char *method,
                                    const char *host, const char *path, const char *body,
                                    size_t len, char **diff, size_t max)
{
    struct tt_cas_entry *best = NULL;
    size_t best_score = (size_t)-1;
    char *mine = pretty(body, len);

    *diff = NULL;
    if (!mine)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        struct tt_cas_entry *e = &c->e[i];
        char *theirs = pretty(e->req_body, e->req_len);
        size_t changed = 0;
        char *d = theirs ? tt_cas_diff(theirs, mine, 1, &changed) : NULL;
        /* Another method/host/path weighs more than any body difference. */
        size_t score = changed + (same_request(e, method, host, path) ? 0 : 100000);
        free(d);
        free(theirs);
        if (score < best_score) {
            best_score = score;
            best = e;
        }
    }
    if (best) {
        char *theirs = pretty(best->req_body, best->req_len);
        *diff = theirs ? tt_cas_diff(theirs, mine, max, NULL) : NULL;
        free(theirs);
    }
    free(mine);
    return best;
}

/* --- loading ---------------------------------------------------------------- */

void tt_cas_free(struct tt_cassette *c)
{
    for (size_t i = 0; i < c->n; i++) {
        struct tt_cas_entry *e = &c->e[i];
        free(e->method);
        free(e->scheme);
        free(e->host);
        free(e->path);
        free(e->req_body);
        free(e->canon);
        free(e->ctype);
        free(e->resp_hdrs);
        free(e->body);
        free(e->chunks);
        free(e->provider);
        free(e->model);
    }
    free(c->e);
    c->e = NULL;
    c->n = 0;
}

static int b64_val(int ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

/* Standard base64 (padding optional); NULL when malformed. */
static char *b64_decode(const char *s, size_t n, size_t *out_len)
{
    char *out = malloc(n / 4 * 3 + 4);
    unsigned v = 0;
    int bits = 0;
    size_t k = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=')
            break;
        if (s[i] == '\n' || s[i] == '\r')
            continue;
        int d = b64_val((unsigned char)s[i]);
        if (d < 0) {
            free(out);
            return NULL;
        }
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (char)((v >> bits) & 0xff);
        }
    }
    out[k] = '\0';
    *out_len = k;
    return out;
}

/* A string member of o, or NULL. */
static const char *str_of(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The body of a HAR text holder (postData or content): text, maybe
 * base64. */
static int body_of(json_t *holder, const char *enc_key, char **out, size_t *len,
                   const char **why)
{
    json_t *t = json_object_get(holder, "text");
    const char *enc = str_of(holder, enc_key);

    *out = NULL;
    *len = 0;
    if (!t) {
        *out = strdup("");
        return *out ? TT_OK : TT_ERR_NOMEM;
    }
    if (!json_is_string(t)) {
        *why = "text is not a string";
        return TT_ERR_PARSE;
    }
    if (enc && !strcmp(enc, "base64")) {
        *out = b64_decode(json_string_value(t), json_string_length(t), len);
        if (!*out) {
            *why = "text is not valid base64";
            return TT_ERR_PARSE;
        }
        return TT_OK;
    }
    if (enc && *enc) {
        *why = "unknown encoding (only base64)";
        return TT_ERR_PARSE;
    }
    *len = json_string_length(t);
    *out = malloc(*len + 1);
    if (!*out)
        return TT_ERR_NOMEM;
    memcpy(*out, json_string_value(t), *len + 1);
    return TT_OK;
}

/* "https://host[:port]/path?q" -> scheme, host[:port], /path?q. */
static int split_url(const char *url, char **scheme, char **host, char **path)
{
    const char *sep = strstr(url, "://");

    if (!sep || (strncasecmp(url, "http", 4) != 0) || (sep - url != 4 && sep - url != 5))
        return TT_ERR_PARSE;
    const char *h = sep + 3;
    size_t hl = strcspn(h, "/?#");
    if (hl == 0)
        return TT_ERR_PARSE;
    const char *p = h + hl;
    *scheme = strndup(url, (size_t)(sep - url));
    *host = strndup(h, hl);
    *path = *p == '/' ? strdup(p) : (*p ? (char *)NULL : strdup("/"));
    if (*p == '?') {
        free(*path);
        size_t n = strlen(p);
        *path = malloc(n + 2);
        if (*path) {
            (*path)[0] = '/';
            memcpy(*path + 1, p, n + 1);
        }
    }
    if (!*scheme || !*host || !*path)
        return TT_ERR_NOMEM;
    for (char *c = *scheme; *c; c++)
        *c = (char)(*c >= 'A' && *c <= 'Z' ? *c + 32 : *c);
    return TT_OK;
}

static int load_entry(json_t *je, size_t idx, struct tt_cas_entry *e, const char **why)
{
    json_t *req = json_object_get(je, "request"), *resp = json_object_get(je, "response");
    json_t *content, *hdrs, *chunks, *tt, *timings;
    const char *url, *method;
    struct tt_buf h;
    int rc;

    e->index = idx;
    if (!json_is_object(je)) { *why = "not an object"; return TT_ERR_PARSE; }
    if (!json_is_object(req)) { *why = "request missing"; return TT_ERR_PARSE; }
    if (!(method = str_of(req, "method")) || !*method) { *why = "request.method missing"; return TT_ERR_PARSE; }
    if (!(url = str_of(req, "url"))) { *why = "request.url missing"; return TT_ERR_PARSE; }
    e->method = strdup(method);
    if (!e->method)
        return TT_ERR_NOMEM;
    rc = split_url(url, &e->scheme, &e->host, &e->path);
    if (rc != TT_OK) {
        *why = "request.url is not an http(s) URL";
        return rc;
    }
    /* Requests are matched without their secret parameters: a cassette
     * written by hand may hold some. */
    {
        size_t pl = strlen(e->path);
        char *clean = malloc(pl + 2);
        if (!clean)
            return TT_ERR_NOMEM;
        tt_redact_target(e->path, pl, clean, pl + 2);
        free(e->path);
        e->path = clean;
    }
    json_t *post = json_object_get(req, "postData");
    if (post && !json_is_object(post)) { *why = "request.postData is not an object"; return TT_ERR_PARSE; }
    if ((rc = body_of(post, "_encoding", &e->req_body, &e->req_len, why)) != TT_OK) {
        if (rc == TT_ERR_PARSE)
            *why = "request.postData.text is malformed (not a string or bad base64)";
        return rc;
    }
    if (!(e->canon = tt_cas_canon(e->req_body, e->req_len)))
        return TT_ERR_NOMEM;
    if (!json_is_object(resp)) { *why = "response missing"; return TT_ERR_PARSE; }
    json_t *st = json_object_get(resp, "status");
    if (!json_is_integer(st) || json_integer_value(st) < 100 || json_integer_value(st) > 599) {
        *why = "response.status missing or not an HTTP status";
        return TT_ERR_PARSE;
    }
    e->status = (int)json_integer_value(st);
    content = json_object_get(resp, "content");
    if (!json_is_object(content)) { *why = "response.content missing"; return TT_ERR_PARSE; }
    if ((rc = body_of(content, "encoding", &e->body, &e->body_len, why)) != TT_OK) {
        if (rc == TT_ERR_PARSE)
            *why = "response.content.text is malformed (not a string or bad base64)";
        return rc;
    }
    e->ctype = strdup(str_of(content, "mimeType") ? str_of(content, "mimeType") : "");
    if (!e->ctype)
        return TT_ERR_NOMEM;
    hdrs = json_object_get(resp, "headers");
    if (hdrs && !json_is_array(hdrs)) { *why = "response.headers is not an array"; return TT_ERR_PARSE; }
    tt_buf_init(&h, 64 * 1024);
    for (size_t i = 0; i < json_array_size(hdrs); i++) {
        json_t *hv = json_array_get(hdrs, i);
        const char *n = str_of(hv, "name"), *v = str_of(hv, "value");
        if (!n || !v) {
            tt_buf_free(&h);
            *why = "response.headers has an entry without name or value";
            return TT_ERR_PARSE;
        }
        if (strpbrk(n, "\r\n:") || strpbrk(v, "\r\n")) {
            tt_buf_free(&h);
            *why = "response.headers has a name or value with CR, LF or ':'";
            return TT_ERR_PARSE;
        }
        if (!strcasecmp(n, "content-type") || !strcasecmp(n, "content-length") ||
            !strcasecmp(n, "transfer-encoding") || !strcasecmp(n, "content-encoding") ||
            !strcasecmp(n, "connection") || !strcasecmp(n, "server") || !strcasecmp(n, "x-tokentap-replay"))
            continue;
        (void)tt_buf_appendf(&h, "%s: %s\r\n", n, v);
    }
    e->resp_hdrs = h.data ? tt_buf_steal(&h) : strdup("");
    tt_buf_free(&h);
    if (!e->resp_hdrs)
        return TT_ERR_NOMEM;
    timings = json_object_get(je, "timings");
    json_t *wait = json_object_get(timings, "wait");
    if (json_is_number(wait) && json_number_value(wait) > 0)
        e->wait_ns = (int64_t)(json_number_value(wait) * 1e6);
    chunks = json_object_get(resp, "_chunks");
    if (chunks && !json_is_array(chunks)) { *why = "response._chunks is not an array"; return TT_ERR_PARSE; }
    if (json_array_size(chunks)) {
        size_t total = 0;
        double prev = 0;
        e->chunks = calloc(json_array_size(chunks), sizeof(*e->chunks));
        if (!e->chunks)
            return TT_ERR_NOMEM;
        for (size_t i = 0; i < json_array_size(chunks); i++) {
            json_t *cj = json_array_get(chunks, i);
            json_t *t = json_object_get(cj, "time"), *sz = json_object_get(cj, "size");
            if (!json_is_number(t) || !json_is_integer(sz) || json_number_value(t) < 0 ||
                json_integer_value(sz) < 0 || json_number_value(t) + 1e-9 < prev) {
                *why = "response._chunks has an entry without a time (ms, not decreasing) "
                       "and a size (bytes)";
                return TT_ERR_PARSE;
            }
            prev = json_number_value(t);
            e->chunks[i].t_ns = (int64_t)(prev * 1e6);
            e->chunks[i].len = (size_t)json_integer_value(sz);
            total += e->chunks[i].len;
        }
        e->n_chunks = json_array_size(chunks);
        if (total != e->body_len) {
            *why = "response._chunks sizes do not add up to the body's length";
            return TT_ERR_PARSE;
        }
    }
    tt = json_object_get(je, "_tokentap");
    e->complete = !json_is_false(json_object_get(tt, "complete"));
    if (json_is_object(tt)) {
        const char *m = str_of(tt, "request_model");
        if (!m)
            m = str_of(tt, "response_model");
        e->model = m ? strdup(m) : NULL;
        e->provider = str_of(tt, "provider") ? strdup(str_of(tt, "provider")) : NULL;
        e->in_tokens = json_integer_value(json_object_get(tt, "input_tokens"));
        e->out_tokens = json_integer_value(json_object_get(tt, "output_tokens"));
        e->cost = json_number_value(json_object_get(tt, "cost_usd"));
        e->cost_known = json_is_true(json_object_get(tt, "cost_known"));
    }
    return TT_OK;
}

static int load_json(json_t *root, struct tt_cassette *c, char *err, size_t errn)
{
    json_t *entries = json_object_get(json_object_get(root, "log"), "entries");
    int rc = TT_OK;

    memset(c, 0, sizeof(*c));
    if (!json_is_array(entries)) {
        snprintf(err, errn, "not a HAR file: log.entries is missing or not an array");
        return TT_ERR_PARSE;
    }
    c->e = calloc(json_array_size(entries) + 1, sizeof(*c->e));
    if (!c->e)
        return TT_ERR_NOMEM;
    for (size_t i = 0; i < json_array_size(entries); i++) {
        const char *why = "malformed";
        json_t *je = json_array_get(entries, i);
        c->n = i + 1;
        rc = load_entry(je, i, &c->e[i], &why);
        if (rc != TT_OK) {
            const char *m = str_of(json_object_get(je, "request"), "method");
            const char *u = str_of(json_object_get(je, "request"), "url");
            if (rc == TT_ERR_NOMEM)
                why = "out of memory";
            snprintf(err, errn, "entry %zu%s%s%s%s%s: %s", i + 1, m || u ? " (" : "", m ? m : "",
                     m && u ? " " : "", u ? u : "", m || u ? ")" : "", why);
            tt_cas_free(c);
            return rc;
        }
    }
    return TT_OK;
}

int tt_cas_load_text(const char *text, size_t len, struct tt_cassette *c, char *err, size_t errn)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, 0, &jerr);
    int rc;

    memset(c, 0, sizeof(*c));
    if (!root) {
        snprintf(err, errn, "not valid JSON (cut short or damaged?) at line %d column %d: %s",
                 jerr.line, jerr.column, jerr.text);
        return TT_ERR_PARSE;
    }
    rc = load_json(root, c, err, errn);
    json_decref(root);
    return rc;
}

int tt_cas_load(const char *path, struct tt_cassette *c, char *err, size_t errn)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    int rc;

    memset(c, 0, sizeof(*c));
    if (!root) {
        if (access(path, R_OK) != 0)
            snprintf(err, errn, "cannot read: %s", strerror(errno));
        else
            snprintf(err, errn, "not valid JSON (cut short or damaged?) at line %d column %d: %s",
                     jerr.line, jerr.column, jerr.text);
        return access(path, R_OK) != 0 ? TT_ERR_IO : TT_ERR_PARSE;
    }
    rc = load_json(root, c, err, errn);
    json_decref(root);
    return rc;
}

/* --- writing ----------------------------------------------------------------- */

static json_t *iso_time(int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    char buf[64];

    gmtime_r(&s, &tm);
    snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)((ns / 1000000) % 1000));
    return json_string(buf);
}

static double ms(int64_t ns)
{
    return (double)ns / 1e6;
}

/* One recording line -> one HAR entry (NULL when malformed). */
static json_t *har_entry(json_t *l)
{
    int64_t start = json_integer_value(json_object_get(l, "start"));
    int64_t sent = json_integer_value(json_object_get(l, "sent"));
    int64_t head = json_integer_value(json_object_get(l, "head"));
    int64_t end = json_integer_value(json_object_get(l, "end"));
    const char *scheme = str_of(l, "scheme"), *host = str_of(l, "host"), *path = str_of(l, "path");
    const char *ver = str_of(l, "http_version");
    char url[8192], hv[16];
    json_t *rh = json_array(), *hdrs = json_object_get(l, "resp_headers");
    const char *ctype = "";

    if (!scheme || !host || !path || !str_of(l, "method") || !rh) {
        json_decref(rh);
        return NULL;
    }
    snprintf(url, sizeof(url), "%s://%s%s", scheme, host, path);
    snprintf(hv, sizeof(hv), "HTTP/%s", ver ? ver : "1.1");
    for (size_t i = 0; i < json_array_size(hdrs); i++) {
        json_t *p = json_array_get(hdrs, i);
        const char *n = json_string_value(json_array_get(p, 0));
        const char *v = json_string_value(json_array_get(p, 1));
        if (!n || !v)
            continue;
        if (!strcasecmp(n, "content-type"))
            ctype = v;
        json_array_append_new(rh, json_pack("{s:s, s:s}", "name", n, "value", v));
    }
    json_t *post = json_object();
    json_t *content = json_object();
    json_t *chunks = json_array();
    size_t req_size = 0, body_size = 0;
    if (str_of(l, "req_body")) {
        json_object_set_new(post, "mimeType", json_string("application/json"));
        json_object_set(post, "text", json_object_get(l, "req_body"));
        req_size = json_string_length(json_object_get(l, "req_body"));
    } else if (str_of(l, "req_body_b64")) {
        json_object_set_new(post, "mimeType", json_string("application/octet-stream"));
        json_object_set(post, "text", json_object_get(l, "req_body_b64"));
        json_object_set_new(post, "_encoding", json_string("base64"));
    }
    json_object_set_new(content, "mimeType", json_string(ctype));
    if (str_of(l, "resp_body")) {
        json_object_set(content, "text", json_object_get(l, "resp_body"));
        body_size = json_string_length(json_object_get(l, "resp_body"));
    } else if (str_of(l, "resp_body_b64")) {
        size_t n = 0;
        const char *b = str_of(l, "resp_body_b64");
        char *dec = b64_decode(b, strlen(b), &n);
        free(dec);
        body_size = n;
        json_object_set(content, "text", json_object_get(l, "resp_body_b64"));
        json_object_set_new(content, "encoding", json_string("base64"));
    }
    json_object_set_new(content, "size", json_integer((json_int_t)body_size));
    json_t *lc = json_object_get(l, "chunks");
    for (size_t i = 0; i < json_array_size(lc); i++) {
        json_t *p = json_array_get(lc, i);
        json_array_append_new(chunks, json_pack("{s:f, s:I}", "time",
                                                ms(json_integer_value(json_array_get(p, 0))), "size",
                                                json_integer_value(json_array_get(p, 1))));
    }
    json_t *span = json_object_get(l, "span");
    json_t *tt = json_is_object(span) ? json_deep_copy(span) : json_object();
    json_object_set(tt, "complete", json_object_get(l, "complete"));
    json_object_set(tt, "truncated", json_object_get(l, "truncated"));
    json_object_set(tt, "redacted", json_object_get(l, "redacted"));
    json_t *rq = json_pack("{s:s, s:s, s:s, s:[], s:[], s:[]}", "method", str_of(l, "method"),
                           "url", url, "httpVersion", hv, "cookies", "headers", "queryString");
    json_t *rs = json_pack("{s:I, s:s, s:s, s:[]}", "status",
                           (json_int_t)json_integer_value(json_object_get(l, "status")),
                           "statusText", "", "httpVersion", hv, "cookies");
    json_t *tm = json_pack("{s:f, s:f, s:f}", "send", ms(sent - start), "wait",
                           ms(head > sent ? head - sent : 0), "receive",
                           ms(end > head && head ? end - head : 0));
    json_t *e = json_object();
    if (!rq || !rs || !tm || !e) {
        json_decref(rq); json_decref(rs); json_decref(tm); json_decref(e);
        json_decref(post); json_decref(content); json_decref(chunks); json_decref(tt); json_decref(rh);
        return NULL;
    }
    json_object_set_new(rq, "postData", post);
    json_object_set_new(rq, "headersSize", json_integer(-1));
    json_object_set_new(rq, "bodySize", json_integer((json_int_t)req_size));
    json_object_set_new(rs, "headers", rh);
    json_object_set_new(rs, "content", content);
    json_object_set_new(rs, "redirectURL", json_string(""));
    json_object_set_new(rs, "headersSize", json_integer(-1));
    json_object_set_new(rs, "bodySize", json_integer((json_int_t)body_size));
    json_object_set_new(rs, "_chunks", chunks);
    json_object_set_new(e, "startedDateTime", iso_time(start));
    json_object_set_new(e, "time", json_real(ms(end - start)));
    json_object_set_new(e, "request", rq);
    json_object_set_new(e, "response", rs);
    json_object_set_new(e, "cache", json_object());
    json_object_set_new(e, "timings", tm);
    json_object_set_new(e, "_tokentap", tt);
    return e;
}

struct line_ref {
    json_t *line;
    int64_t start;
};

static int by_start(const void *a, const void *b)
{
    const struct line_ref *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

int tt_cas_write_har_from(const char *const *files, size_t nfiles, const char *out,
                          size_t *n, char *err, size_t errn)
{
    struct line_ref *refs = NULL;
    size_t nrefs = 0, cap = 0;
    json_t *entries = json_array(), *root = NULL;
    char tmp[4200];
    int rc = TT_ERR_NOMEM;

    *n = 0;
    for (size_t f = 0; f < nfiles; f++) {
        FILE *fp = fopen(files[f], "re");
        char *line = NULL;
        size_t lcap = 0;
        ssize_t len;
        if (!fp) {
            snprintf(err, errn, "cannot read %s: %s", files[f], strerror(errno));
            rc = TT_ERR_IO;
            goto out;
        }
        while ((len = getline(&line, &lcap, fp)) > 0) {
            json_error_t jerr;
            json_t *l = json_loadb(line, (size_t)len, 0, &jerr);
            if (!l)
                continue;   /* a line cut by a crash: that exchange is lost */
            if (nrefs == cap) {
                struct line_ref *nr = realloc(refs, (cap ? cap * 2 : 16) * sizeof(*nr));
                if (!nr) {
                    json_decref(l);
                    free(line);
                    fclose(fp);
                    goto out;
                }
                refs = nr;
                cap = cap ? cap * 2 : 16;
            }
            refs[nrefs].line = l;
            refs[nrefs++].start = json_integer_value(json_object_get(l, "start"));
        }
        free(line);
        fclose(fp);
    }
    qsort(refs, nrefs, sizeof(*refs), by_start);
    for (size_t i = 0; i < nrefs; i++) {
        json_t *e = har_entry(refs[i].line);
        if (e && json_array_append_new(entries, e) == 0)
            (*n)++;
    }
    root = json_pack("{s:{s:s, s:{s:s, s:s}, s:[], s:O}}", "log", "version", "1.2", "creator",
                     "name", "tokentap", "version", "0.1.0", "pages", "entries", entries);
    if (!root)
        goto out;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", out, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0 ||
        json_dumpfd(root, fd, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0 ||
        write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        snprintf(err, errn, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        unlink(tmp);
        rc = TT_ERR_IO;
        goto out;
    }
    close(fd);
    if (rename(tmp, out) != 0) {
        snprintf(err, errn, "cannot write %s: %s", out, strerror(errno));
        unlink(tmp);
        rc = TT_ERR_IO;
        goto out;
    }
    rc = TT_OK;
out:
    for (size_t i = 0; i < nrefs; i++)
        json_decref(refs[i].line);
    free(refs);
    json_decref(entries);
    json_decref(root);
    if (rc == TT_ERR_NOMEM)
        snprintf(err, errn, "out of memory");
    return rc;
}

int tt_cas_write_har(const char *dir, const char *out, size_t *n, char *err, size_t errn)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *files[1024];
    size_t nf = 0;
    int rc;

    if (!d) {
        snprintf(err, errn, "cannot read %s: %s", dir, strerror(errno));
        return TT_ERR_IO;
    }
    while ((de = readdir(d)) && nf < sizeof(files) / sizeof(*files)) {
        size_t l = strlen(de->d_name);
        if (strncmp(de->d_name, "rec-", 4) || l < 7 || strcmp(de->d_name + l - 6, ".jsonl"))
            continue;
        if (asprintf(&files[nf], "%s/%s", dir, de->d_name) < 0)
            break;
        nf++;
    }
    closedir(d);
    rc = tt_cas_write_har_from((const char *const *)files, nf, out, n, err, errn);
    for (size_t i = 0; i < nf; i++)
        free(files[i]);
    return rc;
}
