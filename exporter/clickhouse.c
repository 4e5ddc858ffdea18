/* clickhouse.c - URL, table and rows of the ClickHouse store (clickhouse.h). */
#include "clickhouse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "jsonw.h"
#include "spanfield.h"

#define CH_PREFIX "clickhouse://"

bool tt_ch_is_url(const char *s)
{
    return s && strncmp(s, CH_PREFIX, sizeof(CH_PREFIX) - 1) == 0;
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decode p[0..n) into out (NUL-terminated). */
static int pct_decode(const char *p, size_t n, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)p[i];
        if (c == '%') {
            if (i + 2 >= n)
                return TT_ERR_PARSE;
            int h = hexval(p[i + 1]), l = hexval(p[i + 2]);
            if (h < 0 || l < 0)
                return TT_ERR_PARSE;
            c = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= cap || c == 0)
            return TT_ERR_PARSE;
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return TT_OK;
}

static bool ident_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
            return false;
    return true;
}

#define FAIL(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); return TT_ERR_PARSE; } while (0)

int tt_ch_parse_url(const char *url, struct tt_ch *ch, char *err, size_t errlen)
{
    char host[256], port[8] = "", hostport[300];
    bool secure = false, url_password = false;

    memset(ch, 0, sizeof(*ch));
    snprintf(ch->db, sizeof(ch->db), "tokentap");
    snprintf(ch->table, sizeof(ch->table), "spans");
    if (!tt_ch_is_url(url))
        FAIL("not a clickhouse:// URL");
    const char *p = url + sizeof(CH_PREFIX) - 1;
    size_t alen = strcspn(p, "/?#");
    const char *at = NULL;
    /* The last '@' before the path ends the userinfo. */
    for (const char *q = p; q < p + alen; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        size_t ul = colon ? (size_t)(colon - p) : (size_t)(at - p);
        if (pct_decode(p, ul, ch->user, sizeof(ch->user)) != TT_OK)
            FAIL("bad user name in the URL");
        if (colon && pct_decode(colon + 1, (size_t)(at - colon - 1), ch->password,
                                sizeof(ch->password)) != TT_OK)
            FAIL("bad password in the URL");
        url_password = colon != NULL;
        alen -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    /* host, [v6]:port or host:port */
    const char *hp_end = p + alen;
    const char *colon = NULL;
    if (*p == '[') {
        const char *rb = memchr(p, ']', alen);
        if (!rb)
            FAIL("unclosed '[' in the host");
        colon = rb + 1 < hp_end && rb[1] == ':' ? rb + 1 : NULL;
        if (!colon && rb + 1 != hp_end)
            FAIL("junk after the IPv6 address");
    } else {
        colon = memchr(p, ':', alen);
    }
    size_t hl = colon ? (size_t)(colon - p) : alen;
    if (hl == 0 || hl >= sizeof(host))
        FAIL("no host in the URL");
    memcpy(host, p, hl);
    host[hl] = '\0';
    bool v6 = host[0] == '[';
    for (const char *h = host; *h; h++)
        if (!isalnum((unsigned char)*h) && !strchr(v6 ? ".:[]" : ".-_", *h))
            FAIL("bad character in the host '%s'", host);
    if (v6 && (host[hl - 1] != ']' || strchr(host + 1, '[') || strchr(host, ']') != host + hl - 1))
        FAIL("bad IPv6 address '%s'", host);
    if (colon) {
        size_t pl = (size_t)(hp_end - colon - 1);
        if (pl == 0 || pl >= sizeof(port))
            FAIL("bad port");
        memcpy(port, colon + 1, pl);
        port[pl] = '\0';
        for (const char *d = port; *d; d++)
            if (!isdigit((unsigned char)*d))
                FAIL("bad port '%s'", port);
        long pn = strtol(port, NULL, 10);
        if (pn < 1 || pn > 65535)
            FAIL("bad port '%s'", port);
    }
    p = hp_end;
    if (*p == '/') {
        size_t dl = strcspn(p + 1, "?#");
        if (dl) {
            if (pct_decode(p + 1, dl, ch->db, sizeof(ch->db)) != TT_OK)
                FAIL("bad database name");
        }
        p += 1 + dl;
    }
    if (*p == '?') {
        p++;
        while (*p && *p != '#') {
            size_t kl = strcspn(p, "&#");
            const char *eq = memchr(p, '=', kl);
            size_t nl = eq ? (size_t)(eq - p) : kl;
            const char *v = eq ? eq + 1 : p + kl;
            size_t vl = eq ? kl - nl - 1 : 0;
            char val[128];
            if (pct_decode(v, vl, val, sizeof(val)) != TT_OK)
                FAIL("bad value in the query string");
            if (nl == 5 && !strncmp(p, "table", 5))
                snprintf(ch->table, sizeof(ch->table), "%s", val);
            else if (nl == 8 && !strncmp(p, "database", 8))
                snprintf(ch->db, sizeof(ch->db), "%s", val);
            else if (nl == 6 && !strncmp(p, "secure", 6))
                secure = strcmp(val, "1") == 0 || strcmp(val, "true") == 0;
            else
                FAIL("unknown parameter '%.*s' (known: table, database, secure)", (int)nl, p);
            p += kl;
            if (*p == '&')
                p++;
        }
    }
    if (!ident_ok(ch->db))
        FAIL("database name '%s' must be letters, digits and _", ch->db);
    if (!ident_ok(ch->table))
        FAIL("table name '%s' must be letters, digits and _", ch->table);
    /* Credentials kept out of the URL: the environment (or config file). */
    const char *pw = getenv("TOKENTAP_CLICKHOUSE_PASSWORD");
    if (!*ch->user) {
        const char *u = getenv("TOKENTAP_CLICKHOUSE_USER");
        if (u && *u)
            snprintf(ch->user, sizeof(ch->user), "%s", u);
        if (u && *u && pw)
            snprintf(ch->password, sizeof(ch->password), "%s", pw);
    } else if (!url_password && pw) {
        snprintf(ch->password, sizeof(ch->password), "%s", pw);
    }
    snprintf(hostport, sizeof(hostport), "%s:%s", host,
             *port ? port : secure ? "8443" : "8123");
    int w = snprintf(ch->base, sizeof(ch->base), "%s://%s/", secure ? "https" : "http",
                     hostport);
    if (w < 0 || (size_t)w >= sizeof(ch->base))
        FAIL("URL too long");
    return TT_OK;
}
#undef FAIL

int tt_ch_query(const struct tt_ch *ch, const char *sql, char **out, char *err,
                size_t errlen)
{
    struct tt_http_resp r;
    char url[sizeof(ch->base) + 32];
    /* wait_end_of_query: an error after the first rows becomes an HTTP
     * error, not text appended to a 200 body. */
    snprintf(url, sizeof(url), "%s?wait_end_of_query=1", ch->base);
    struct tt_http_req q = {
        .url = url, .body = sql, .body_len = strlen(sql),
        .user = *ch->user ? ch->user : NULL, .password = ch->password,
        .timeout_ms = 30000, .max_response = 64u << 20,
    };
    int rc = tt_http_do(&q, &r);

    *out = NULL;
    if (rc != TT_OK) {
        if (err)
            snprintf(err, errlen, "%s: %s", ch->base,
                     rc == TT_ERR_NOMEM ? "out of memory" : r.error);
        tt_http_resp_free(&r);
        return rc == TT_ERR_NOMEM ? rc : TT_ERR_IO;
    }
    if (r.status != 200) {
        if (err) {
            size_t n = r.body_len;
            while (n && (r.body[n - 1] == '\n' || r.body[n - 1] == ' '))
                n--;
            snprintf(err, errlen, "HTTP %ld: %.*s", r.status, (int)(n > 400 ? 400 : n),
                     r.body ? r.body : "");
        }
        tt_http_resp_free(&r);
        return TT_ERR_IO;
    }
    if (r.truncated) {
        if (err)
            snprintf(err, errlen, "the answer is larger than %u MiB: narrow the query "
                     "(--since, --trace)", (unsigned)(q.max_response >> 20));
        tt_http_resp_free(&r);
        return TT_ERR_CAP;
    }
    *out = r.body;
    return TT_OK;
}

/* The ClickHouse type of each contract field; host_name, service_name and
 * version follow. Nullable only where "absent" differs from every value. */
static const char *col_type(const struct tt_spanfield *f)
{
    switch (f->type) {
    case TT_SF_ID:
    case TT_SF_STR:
    case TT_SF_JSON:
        return "String";
    case TT_SF_I64:
        return "Int64";
    case TT_SF_OPT_I64:
        return "Nullable(Int64)";
    case TT_SF_F64:
        return "Float64";
    case TT_SF_OPT_F64:
        return "Nullable(Float64)";
    case TT_SF_MS:
        return "Float64 DEFAULT -1";
    case TT_SF_BOOL:
        return "UInt8";
    }
    return "String";
}

int tt_ch_ddl(const struct tt_ch *ch, struct tt_buf *out)
{
    int rc = tt_buf_appendf(out, "CREATE TABLE IF NOT EXISTS %s.%s (\n", ch->db, ch->table);

    for (size_t i = 0; rc == TT_OK && i < tt_spanfields_n; i++)
        rc = tt_buf_appendf(out, "    %s %s,\n", tt_spanfields[i].name,
                            col_type(&tt_spanfields[i]));
    if (rc == TT_OK)
        rc = tt_buf_append_str(out,
            "    host_name String,\n"
            "    service_name String,\n"
            "    start_date Date MATERIALIZED toDate(intDiv(start_time, 1000000000)),\n"
            "    version UInt64\n"
            ") ENGINE = ReplacingMergeTree(version)\n"
            "PARTITION BY toYYYYMM(start_date)\n"
            "ORDER BY span_id\n");
    return rc;
}

/* A table created by an older tokentap lacks the columns of contract
 * fields added since (capture, ...): add them (the server of Debian
 * bookworm, 18.16, has no ADD COLUMN IF NOT EXISTS, so ask first). */
static int ch_migrate(const struct tt_ch *ch, char *err, size_t errlen)
{
    char sql[400], *res = NULL;
    int rc;

    snprintf(sql, sizeof(sql), "SELECT name FROM system.columns WHERE "
             "database = '%s' AND table = '%s' FORMAT TabSeparated", ch->db, ch->table);
    if ((rc = tt_ch_query(ch, sql, &res, err, errlen)) != TT_OK)
        return rc;
    for (size_t i = 0; rc == TT_OK && i < tt_spanfields_n; i++) {
        const char *name = tt_spanfields[i].name;
        size_t nl = strlen(name);
        bool have = false;
        for (const char *p = res ? res : ""; *p && !have;) {
            const char *e = strchr(p, '\n');
            size_t l = e ? (size_t)(e - p) : strlen(p);
            have = l == nl && !memcmp(p, name, nl);
            p += l + (e ? 1 : 0);
        }
        if (have || !res || !*res)
            continue;
        char *r2 = NULL;
        snprintf(sql, sizeof(sql), "ALTER TABLE %s.%s ADD COLUMN %s %s", ch->db,
                 ch->table, name, col_type(&tt_spanfields[i]));
        rc = tt_ch_query(ch, sql, &r2, err, errlen);
        free(r2);
    }
    free(res);
    return rc;
}

int tt_ch_ensure_table(const struct tt_ch *ch, char *err, size_t errlen)
{
    char sql[300], *res = NULL;
    struct tt_buf ddl;
    int rc;

    snprintf(sql, sizeof(sql), "CREATE DATABASE IF NOT EXISTS %s", ch->db);
    if ((rc = tt_ch_query(ch, sql, &res, err, errlen)) != TT_OK)
        return rc;
    free(res);
    res = NULL;
    tt_buf_init(&ddl, 65536);
    if ((rc = tt_ch_ddl(ch, &ddl)) == TT_OK)
        rc = tt_ch_query(ch, ddl.data, &res, err, errlen);
    tt_buf_free(&ddl);
    free(res);
    if (rc == TT_OK)
        rc = ch_migrate(ch, err, errlen);
    return rc;
}

int tt_ch_row(const struct tt_span *s, const char *host_name, const char *service_name,
              uint64_t version, struct tt_buf *out)
{
    int rc = tt_buf_append(out, "{", 1);
    bool first = true;

    for (size_t i = 0; rc == TT_OK && i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        if (!tt_sf_present(s, f))
            continue;   /* the column default: '' / 0 / NULL / -1 */
        if (!first)
            rc = tt_buf_append(out, ",", 1);
        first = false;
        if (rc == TT_OK)
            rc = tt_jw_str(out, f->name);
        if (rc == TT_OK)
            rc = tt_buf_append(out, ":", 1);
        if (rc != TT_OK)
            break;
        switch (f->type) {
        case TT_SF_ID:
            rc = tt_jw_str(out, tt_sf_cid(s, f));
            break;
        case TT_SF_STR:
        case TT_SF_JSON:    /* JSON text kept as a String column */
            rc = tt_jw_str(out, tt_sf_str(s, f));
            break;
        case TT_SF_I64:
        case TT_SF_OPT_I64:
            rc = tt_jw_i64(out, tt_sf_i64(s, f));
            break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS:
            rc = tt_jw_f64(out, tt_sf_f64(s, f));
            break;
        case TT_SF_BOOL:
            rc = tt_buf_append(out, tt_sf_bool(s, f->off) ? "1" : "0", 1);
            break;
        }
    }
    if (rc == TT_OK)
        rc = tt_buf_append_str(out, first ? "\"host_name\":" : ",\"host_name\":");
    if (rc == TT_OK)
        rc = tt_jw_str(out, host_name);
    if (rc == TT_OK)
        rc = tt_buf_append_str(out, ",\"service_name\":");
    if (rc == TT_OK)
        rc = tt_jw_str(out, service_name);
    if (rc == TT_OK)
        rc = tt_buf_appendf(out, ",\"version\":%llu}\n", (unsigned long long)version);
    return rc;
}
