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
