/* cli_store.c - the store readers the CLI shares with the ui server (and
 * so with tokentapd, which serves the ui under TOKENTAP_UI): time windows,
 * grouping keys and cost groups, trace id resolution. The layer under the
 * subcommands (libtt-query.a, docs/INTERNALS.md "Layers and libraries"):
 * nothing here prints, starts a subcommand or reaches the capture core
 * beyond its data types; functions return TT_OK or a negative TT_ERR_*. */
#include "cli.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

bool tt_cli_is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

int tt_cli_parse_since(const char *s, int64_t now_ns, int64_t *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return TT_ERR_PARSE;
    if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        char *e = strptime(s, "%Y-%m-%d", &tm);
        if (!e || *e)
            return TT_ERR_PARSE;
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1)
            return TT_ERR_PARSE;
        *out = (int64_t)t * 1000000000LL;
        return TT_OK;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || end == s || v < 0 || v > 100000 || strlen(end) != 1)
        return TT_ERR_PARSE;
    int64_t unit;
    switch (*end) {
    case 's': unit = 1; break;
    case 'm': unit = 60; break;
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 7 * 86400; break;
    default: return TT_ERR_PARSE;
    }
    *out = now_ns - (int64_t)v * unit * 1000000000LL;
    return TT_OK;
}

/* Collect the distinct trace ids the SQL yields for the hex prefix
 * [lo, lo+"g"): every string starting with lo sorts inside that range, so
 * the primary-key / trace index answers it. */
static int collect(sqlite3 *db, const char *sql, const char *lo, char *first,
                   char (*alt)[33], size_t nalt, size_t *nfound)
{
    char hi[40];
    sqlite3_stmt *st = NULL;
    int rc;

    *nfound = 0;
    snprintf(hi, sizeof(hi), "%sg", lo);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        if (!t || strlen(t) != 32)
            continue;
        if (*nfound == 0) {
            memcpy(first, t, 33);
        }
        if (*nfound < nalt)
            memcpy(alt[*nfound], t, 33);
        (*nfound)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? TT_OK : TT_ERR_IO;
}

int tt_cli_resolve_trace(sqlite3 *db, const char *id, char *trace_id,
                         char (*alt)[33], size_t nalt, size_t *nfound)
{
    char lo[33];
    size_t len = strlen(id);
    int rc;

    *nfound = 0;
    if (len == 0 || len > 32)
        return TT_ERR_PARSE;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        lo[i] = c;
    }
    lo[len] = '\0';
    if (!tt_cli_is_hex(lo, len))
        return TT_ERR_PARSE;

    rc = collect(db,
                 "SELECT trace_id FROM spans WHERE trace_id >= ?1 AND trace_id < ?2 "
                 "UNION SELECT trace_id FROM runs WHERE trace_id >= ?1 AND trace_id < ?2 "
                 "ORDER BY 1",
                 lo, trace_id, alt, nalt, nfound);
    if (rc != TT_OK)
        return rc;
    if (*nfound == 0 && len <= 16) {
        rc = collect(db,
                     "SELECT DISTINCT trace_id FROM spans "
                     "WHERE span_id >= ?1 AND span_id < ?2 ORDER BY 1",
                     lo, trace_id, alt, nalt, nfound);
        if (rc != TT_OK)
            return rc;
    }
    if (*nfound == 0)
        return TT_ERR;
    return *nfound == 1 ? TT_OK : TT_ERR_AGAIN;
}

/* What `--by` groups on: a SQL expression per name and dialect. Absent
 * values are NULL in SQLite and '' / 0 in ClickHouse. hostname in SQLite
 * (NULL here) is this host's name, quoted by group_expr. */
static const struct {
    const char *by;
    const char *sqlite;
    const char *clickhouse;
} group_keys[] = {
    { "model", "COALESCE(response_model, request_model, '(unknown model)')",
      "multiIf(response_model != '', response_model, request_model != '', "
      "request_model, '(unknown model)')" },
    { "provider", "COALESCE(provider, '(unknown provider)')",
      "if(provider != '', provider, '(unknown provider)')" },
    { "process", "COALESCE(exe, '?') || ' (pid ' || COALESCE(pid, '?') || ')'",
      "concat(if(exe != '', exe, '?'), ' (pid ', if(pid != 0, toString(pid), '?'), ')')" },
    { "session", "COALESCE(NULLIF(session_id, ''), '(no session)')",
      "if(session_id != '', session_id, '(no session)')" },
    { "day", "strftime('%Y-%m-%d', start_time / 1000000000, 'unixepoch', 'localtime')",
      "toString(intDiv(start_time, 900000000000))" },
    { "hostname", NULL, "if(host_name != '', host_name, '(unknown host)')" },
};

/* A SQL string literal of s: quotes doubled. */
static int sql_literal(const char *s, char *buf, size_t n)
{
    size_t o = 0;

    if (n < 3)
        return TT_ERR_NOMEM;
    buf[o++] = '\'';
    for (; *s; s++) {
        if (o + (*s == '\'' ? 2 : 1) + 2 > n)
            return TT_ERR_NOMEM;
        if (*s == '\'')
            buf[o++] = '\'';
        buf[o++] = *s;
    }
    buf[o++] = '\'';
    buf[o] = '\0';
    return TT_OK;
}

int tt_cli_group_expr_in(enum tt_cli_dialect d, const char *by, char *buf, size_t n)
{
    int w;

    if (!by)
        return TT_ERR_PARSE;
    for (size_t i = 0; i < sizeof(group_keys) / sizeof(group_keys[0]); i++) {
        if (strcmp(by, group_keys[i].by) != 0)
            continue;
        const char *e = d == TT_CLI_SQLITE ? group_keys[i].sqlite : group_keys[i].clickhouse;
        if (!e) {
            char host[256];
            if (gethostname(host, sizeof(host)) != 0)
                snprintf(host, sizeof(host), "(unknown host)");
            host[sizeof(host) - 1] = '\0';
            return sql_literal(host, buf, n);
        }
        w = snprintf(buf, n, "%s", e);
        return w < 0 || (size_t)w >= n ? TT_ERR_NOMEM : TT_OK;
    }
    if (strncmp(by, "tag:", 4) != 0)
        return TT_ERR_PARSE;
    const char *key = by + 4;
    size_t kl = strlen(key);
    if (kl == 0 || kl > 64)
        return TT_ERR_PARSE;
    /* The key is embedded in the SQL: only these characters ever get there. */
    for (size_t i = 0; i < kl; i++) {
        char c = key[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
            return TT_ERR_PARSE;
    }
    if (d == TT_CLI_SQLITE)
        w = snprintf(buf, n,
                     "COALESCE(CASE WHEN json_valid(tags) THEN "
                     "CAST(json_extract(tags, '$.\"%s\"') AS TEXT) END, '(no %s)')",
                     key, key);
    else
        /* visitParam*: tags is the compact, flat JSON object of strings
         * the span carries, which is what these functions read. */
        w = snprintf(buf, n,
                     "if(visitParamHas(tags, '%s'), visitParamExtractString(tags, '%s'), "
                     "'(no %s)')", key, key, key);
    return w < 0 || (size_t)w >= n ? TT_ERR_NOMEM : TT_OK;
}

int tt_cli_group_expr(const char *by, char *buf, size_t n)
{
    return tt_cli_group_expr_in(TT_CLI_SQLITE, by, buf, n);
}

int tt_cli_day_of_bucket(const char *bucket, char *buf, size_t n)
{
    char *end;
    struct tm tm;

    errno = 0;
    long long b = bucket ? strtoll(bucket, &end, 10) : 0;
    if (!bucket || errno || end == bucket || *end || b < 0 ||
        b > INT64_MAX / 900)
        return TT_ERR_PARSE;
    time_t t = (time_t)(b * 900);
    if (!localtime_r(&t, &tm) || strftime(buf, n, "%Y-%m-%d", &tm) == 0)
        return TT_ERR_NOMEM;
    return TT_OK;
}

/* The order of SQLite's "ORDER BY cost DESC, calls DESC, key". */
static int group_cmp(const void *a, const void *b)
{
    const struct tt_cli_group *x = a, *y = b;

    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    if (x->calls != y->calls)
        return x->calls > y->calls ? -1 : 1;
    return strcmp(x->key, y->key);
}

static int key_cmp(const void *a, const void *b)
{
    return strcmp(((const struct tt_cli_group *)a)->key,
                  ((const struct tt_cli_group *)b)->key);
}

int tt_cli_groups_finish(const char *by, bool ch, struct tt_cli_group *g, size_t *n)
{
    if (*n == 0)
        return TT_OK;
    if (ch && strcmp(by, "day") == 0) {
        size_t o = 0;
        for (size_t i = 0; i < *n; i++) {
            char day[sizeof(g[i].key)];
            int rc = tt_cli_day_of_bucket(g[i].key, day, sizeof(day));
            if (rc != TT_OK)
                return rc;
            memcpy(g[i].key, day, sizeof(day));
        }
        qsort(g, *n, sizeof(*g), key_cmp);
        for (size_t i = 1; i < *n; i++) {
            struct tt_cli_group *d = &g[o];
            if (strcmp(g[i].key, d->key) != 0) {
                if (++o != i)
                    g[o] = g[i];
                continue;
            }
            d->calls += g[i].calls;
            d->input += g[i].input;
            d->output += g[i].output;
            d->cache_read += g[i].cache_read;
            d->cache_write += g[i].cache_write;
            d->reasoning += g[i].reasoning;
            d->cost += g[i].cost;
            d->unknown += g[i].unknown;
            d->errors += g[i].errors;
        }
        *n = o + 1;
    }
    qsort(g, *n, sizeof(*g), group_cmp);
    return TT_OK;
}

int tt_cli_groups_collect(sqlite3_stmt *st, struct tt_cli_group **out, size_t *n)
{
    struct tt_cli_group *g = NULL;
    size_t cnt = 0, cap = 0;
    int rc;

    *out = NULL;
    *n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct tt_cli_group *ng = realloc(g, ncap * sizeof(*ng));
            if (!ng) {
                rc = SQLITE_NOMEM;
                break;
            }
            g = ng;
            cap = ncap;
        }
        struct tt_cli_group *r = &g[cnt++];
        const char *k = (const char *)sqlite3_column_text(st, 0);
        memset(r, 0, sizeof(*r));
        snprintf(r->key, sizeof(r->key), "%s", k ? k : "?");
        r->calls = sqlite3_column_int64(st, 1);
        r->input = sqlite3_column_int64(st, 2);
        r->output = sqlite3_column_int64(st, 3);
        r->cache_read = sqlite3_column_int64(st, 4);
        r->cache_write = sqlite3_column_int64(st, 5);
        r->reasoning = sqlite3_column_int64(st, 6);
        r->cost = sqlite3_column_double(st, 7);
        r->unknown = sqlite3_column_int64(st, 8);
        r->errors = sqlite3_column_int64(st, 9);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) {
        free(g);
        return rc == SQLITE_NOMEM ? TT_ERR_NOMEM : TT_ERR_IO;
    }
    *out = g;
    *n = cnt;
    return TT_OK;
}

void tt_cli_group_add(struct tt_cli_group *tot, const struct tt_cli_group *g)
{
    tot->calls += g->calls;
    tot->input += g->input;
    tot->output += g->output;
    tot->cache_read += g->cache_read;
    tot->cache_write += g->cache_write;
    tot->reasoning += g->reasoning;
    tot->cost += g->cost;
    tot->unknown += g->unknown;
    tot->errors += g->errors;
}
