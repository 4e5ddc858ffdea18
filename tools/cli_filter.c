/* cli_filter.c - the pure pieces of ls/cost/run/assert: time windows,
 * grouping keys, tag and metadata merging, assertion rules.
 *
 * Nothing here touches the store, a socket or the terminal (except
 * tt_cli_colour, which only asks isatty), so the unit tests reach it all. */
#include "cli.h"
#include "rt.h"

#include <errno.h>
#include <fnmatch.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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

static int parse_count(const char *s, size_t len, int64_t *v)
{
    char tmp[24], *end;

    if (len == 0 || len >= sizeof(tmp))
        return TT_ERR_PARSE;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (tmp[0] < '0' || tmp[0] > '9')
        return TT_ERR_PARSE;
    errno = 0;
    long long x = strtoll(tmp, &end, 10);
    if (errno || *end || x < 0)
        return TT_ERR_PARSE;
    *v = x;
    return TT_OK;
}

int tt_cli_parse_range(const char *s, int64_t *min, int64_t *max)
{
    const char *dots;

    if (!s || !*s)
        return TT_ERR_PARSE;
    dots = strstr(s, "..");
    if (!dots) {
        if (parse_count(s, strlen(s), min) != TT_OK)
            return TT_ERR_PARSE;
        *max = *min;
        return TT_OK;
    }
    if (dots == s && !dots[2])
        return TT_ERR_PARSE;           /* ".." alone checks nothing */
    *min = *max = -1;
    if (dots > s && parse_count(s, (size_t)(dots - s), min) != TT_OK)
        return TT_ERR_PARSE;
    if (dots[2] && parse_count(dots + 2, strlen(dots + 2), max) != TT_OK)
        return TT_ERR_PARSE;
    if (*min >= 0 && *max >= 0 && *min > *max)
        return TT_ERR_PARSE;
    return TT_OK;
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

bool tt_cli_tag_valid(const char *kv)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;

    return eq && eq != kv && !strchr(kv, ',');
}

/* Append "k=v" to the list in b unless key k is overridden later. */
static int tags_add(struct tt_buf *b, const char *kv, size_t len)
{
    if (len == 0)
        return TT_OK;
    if (b->len && tt_buf_append(b, ",", 1) != TT_OK)
        return TT_ERR_NOMEM;
    return tt_buf_append(b, kv, len);
}

static bool key_overridden(const char *kv, size_t len, char *const *add,
                           size_t nadd)
{
    const char *eq = memchr(kv, '=', len);
    size_t kl = eq ? (size_t)(eq - kv) : len;

    for (size_t i = 0; i < nadd; i++) {
        const char *e2 = strchr(add[i], '=');
        if (e2 && (size_t)(e2 - add[i]) == kl && memcmp(add[i], kv, kl) == 0)
            return true;
    }
    return false;
}

char *tt_cli_tags_merge(const char *existing, char *const *add, size_t nadd)
{
    struct tt_buf b;
    char *r;

    tt_buf_init(&b, 1024 * 1024);
    for (const char *p = existing; p && *p;) {
        const char *c = strchr(p, ',');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        if (!key_overridden(p, len, add, nadd) && tags_add(&b, p, len) != TT_OK)
            goto oom;
        p = c ? c + 1 : p + len;
    }
    for (size_t i = 0; i < nadd; i++) {
        /* A key given twice on the command line: the last one wins. */
        if (key_overridden(add[i], strlen(add[i]), add + i + 1, nadd - i - 1))
            continue;
        if (tags_add(&b, add[i], strlen(add[i])) != TT_OK)
            goto oom;
    }
    r = strndup(b.data ? b.data : "", b.len);
    tt_buf_free(&b);
    return r;
oom:
    tt_buf_free(&b);
    return NULL;
}

char *tt_cli_metadata_merge(const char *existing, const char *add, char *err,
                            size_t errn)
{
    json_error_t je;
    json_t *a = json_loads(add, 0, &je), *e = NULL;
    char *r = NULL;

    if (!a) {
        snprintf(err, errn, "not valid JSON (%s at column %d)", je.text, je.column);
        return NULL;
    }
    if (!json_is_object(a)) {
        snprintf(err, errn, "a JSON object is wanted, like '{\"ticket\":\"T-1\"}'");
        json_decref(a);
        return NULL;
    }
    if (existing && *existing)
        e = json_loads(existing, 0, NULL);
    if (!json_is_object(e)) {
        json_decref(e);
        e = json_object();
    }
    if (!e || json_object_update(e, a) != 0)
        snprintf(err, errn, "out of memory");
    else if (!(r = json_dumps(e, JSON_COMPACT)))
        snprintf(err, errn, "out of memory");
    json_decref(a);
    json_decref(e);
    return r;
}

bool tt_cli_glob_list_match(const char *list, const char *s)
{
    /* The preload's rule for TOKENTAP_ONLY_CMDS, one name. */
    return tt_rt_glob_list_match(list, &s, 1);
}

int tt_cli_assert_eval(const struct tt_cli_assert_rules *r,
                       const struct tt_cli_assert_facts *f, struct tt_buf *out,
                       int *violations)
{
    int v = 0, rc = TT_OK;

    if (r->max_cost >= 0 && f->cost > r->max_cost) {
        v++;
        rc |= tt_buf_appendf(out, "max-cost: spent $%.6f, $%.6f (%.0f%%) over the limit $%.6f\n",
                      f->cost, f->cost - r->max_cost,
                      r->max_cost > 0 ? (f->cost - r->max_cost) * 100 / r->max_cost : 100.0,
                      r->max_cost);
    }
    if (r->max_tokens >= 0 && f->tokens > r->max_tokens) {
        v++;
        rc |= tt_buf_appendf(out, "max-tokens: used %lld tokens, %lld over the limit %lld\n",
                      (long long)f->tokens, (long long)(f->tokens - r->max_tokens),
                      (long long)r->max_tokens);
    }
    /* One bound given twice (--llm-calls N) is "the expected" count. */
    bool exact = r->calls_max == r->calls_min;
    if (r->calls_min >= 0 && f->calls < r->calls_min) {
        v++;
        rc |= tt_buf_appendf(out, "llm-calls: %lld LLM calls, %lld fewer than the %s %lld\n",
                             (long long)f->calls, (long long)(r->calls_min - f->calls),
                             exact ? "expected" : "minimum", (long long)r->calls_min);
    } else if (r->calls_max >= 0 && f->calls > r->calls_max) {
        v++;
        rc |= tt_buf_appendf(out, "llm-calls: %lld LLM calls, %lld more than the %s %lld\n",
                             (long long)f->calls, (long long)(f->calls - r->calls_max),
                             exact ? "expected" : "maximum", (long long)r->calls_max);
    }
    if (r->no_errors && f->errors > 0) {
        v++;
        rc |= tt_buf_appendf(out, "no-errors: %lld call%s failed (see tokentap show)\n",
                      (long long)f->errors, f->errors == 1 ? "" : "s");
    }
    if (r->model_allow) {
        for (size_t i = 0; i < f->nmodels; i++) {
            if (tt_cli_glob_list_match(r->model_allow, f->models[i].name))
                continue;
            v++;
            rc |= tt_buf_appendf(out, "model-allow: model %s (%lld call%s) is not in the "
                          "allowed list %s\n", f->models[i].name,
                          (long long)f->models[i].calls,
                          f->models[i].calls == 1 ? "" : "s", r->model_allow);
        }
    }
    *violations = v;
    return rc ? TT_ERR_NOMEM : TT_OK;
}

bool tt_cli_colour(int fd)
{
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");

    return isatty(fd) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}
