/* span.c - span life cycle helpers. */
#include "span.h"
#include "rt.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void tt_span_init(struct tt_span *s)
{
    memset(s, 0, sizeof(*s));
    s->ttft_ms = -1;
    s->kind = strdup("llm");
    s->status = strdup("ok");
}

void tt_span_clear(struct tt_span *s)
{
    if (!s)
        return;
    char **strs[] = {
        &s->kind, &s->name, &s->status, &s->error, &s->provider,
        &s->operation, &s->host, &s->method, &s->path, &s->http_version,
        &s->request_model, &s->response_model, &s->response_id,
        &s->finish_reasons, &s->input, &s->output, &s->tool_calls,
        &s->exe, &s->session_id, &s->tags, &s->metadata, &s->replay, &s->capture,
        &s->service_tier,
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
}

size_t tt_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t k;
    uint32_t cp, min;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) { k = 1; cp = c & 0x1f; min = 0x80; }
    else if (c >= 0xe0 && c <= 0xef) { k = 2; cp = c & 0x0f; min = 0x800; }
    else if (c >= 0xf0 && c <= 0xf4) { k = 3; cp = c & 0x07; min = 0x10000; }
    else return 0;
    if (k >= n)
        return 0;
    for (size_t j = 1; j <= k; j++) {
        if ((s[j] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[j] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return k + 1;
}

/* The repaired copy of v[0..n) for tt_span_repair_str, whose first
 * `valid` bytes are known good. NULL on OOM. */
static char *utf8_repair(const char *v, size_t n, size_t valid)
{
    const unsigned char *s = (const unsigned char *)v;
    struct tt_buf b;
    size_t i = valid;
    char *d;

    tt_buf_init(&b, TT_SPAN_MAX_STR);
    if (tt_buf_append(&b, v, valid) == TT_ERR_NOMEM)
        goto nomem;
    while (i < n && s[i]) {
        size_t k = tt_utf8_seq(s + i, n - i);
        const char *p = k ? v + i : "\xef\xbf\xbd";    /* U+FFFD */
        size_t len = k ? k : 3;
        if (b.len + len > TT_SPAN_MAX_STR)
            break;
        if (tt_buf_append(&b, p, len) == TT_ERR_NOMEM)
            goto nomem;
        i += k ? k : 1;
    }
    d = b.data ? tt_buf_steal(&b) : strdup("");
    tt_buf_free(&b);
    return d;
nomem:
    tt_buf_free(&b);
    return NULL;
}

int tt_span_setn(char **field, const char *v, size_t n)
{
    char *d = NULL;

    if (v) {
        d = tt_strndup(v, n);
        if (!d)
            return TT_ERR_NOMEM;
    }
    free(*field);
    *field = d;
    return TT_OK;
}

int tt_span_repair_str(char **field)
{
    const unsigned char *s = (const unsigned char *)*field;
    size_t i = 0, k, n;

    if (!s)
        return TT_OK;
    n = strlen(*field);
    while (i < n && (k = tt_utf8_seq(s + i, n - i)) && i + k <= TT_SPAN_MAX_STR)
        i += k;
    if (i == n)
        return TT_OK;           /* the common case: nothing to repair */
    char *d = utf8_repair(*field, n, i);
    if (!d)
        return TT_ERR_NOMEM;
    free(*field);
    *field = d;
    return TT_OK;
}

int tt_span_set(char **field, const char *v)
{
    return tt_span_setn(field, v, v ? strlen(v) : 0);
}

void tt_span_fail(struct tt_span *s, const char *msg, bool override)
{
    if (s->error && !override)
        return;
    if (tt_span_set(&s->status, "error") != TT_OK)
        return;
    if (tt_span_set(&s->error, msg) != TT_OK)
        return;     /* status still says error; the text was lost to OOM */
}

int tt_span_set_name(struct tt_span *s, const char *operation)
{
    struct tt_buf n;

    tt_buf_init(&n, 4096);
    if (tt_buf_append_str(&n, operation ? operation : "call") != TT_OK ||
        (s->request_model &&
         (tt_buf_append(&n, " ", 1) != TT_OK ||
          tt_buf_append_str(&n, s->request_model) != TT_OK))) {
        tt_buf_free(&n);
        return TT_ERR_NOMEM;
    }
    free(s->name);
    s->name = tt_buf_steal(&n);
    return TT_OK;
}

void tt_span_clear_usage(struct tt_span *s)
{
    s->input_tokens = 0;
    s->output_tokens = 0;
    s->cache_read_tokens = 0;
    s->cache_write_tokens = 0;
    s->cache_write_1h_tokens = 0;
    s->reasoning_tokens = 0;
    s->audio_input_tokens = 0;
    s->audio_output_tokens = 0;
    s->image_input_tokens = 0;
    s->image_output_tokens = 0;
    s->usage_known = false;
    /* A stated cost belongs to the usage it came with. */
    s->provider_cost_usd = 0.0;
    s->has_provider_cost = false;
}

void tt_span_first_token(struct tt_span *s, int64_t now)
{
    if (s->ttft_ms >= 0 || s->request_sent_ns == 0)
        return;
    int64_t d = now - s->request_sent_ns;
    s->ttft_ms = d > 0 ? (double)d / 1e6 : 0.0;
}

/* Random bits for ids: splitmix64 per thread, seeded from getrandom(2)
 * once per thread and process (a fork child, seeing tt_rt_fork_gen move,
 * seeds again: it must not repeat its parent's ids), not one system call
 * per id (~1 µs each on a VM with page-table isolation; a call took two).
 * Ids must be unique, not secret: a 64-bit random seed per thread makes two
 * threads' sequences overlap with odds of n^2 / 2^64. */
static __thread uint64_t rnd_state;
static __thread unsigned rnd_gen;
static __thread bool rnd_seeded;

static uint64_t rnd_next(void)
{
    unsigned gen = tt_rt_fork_gen;

    if (!rnd_seeded || rnd_gen != gen) {
        tt_rt_fork_watch();     /* a fork after this moves the generation */
        gen = tt_rt_fork_gen;
        uint64_t seed = 0;
        if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
            /* No entropy yet (early boot): the clock, this thread's
             * stack and the process mixed in below. */
            seed = (uint64_t)tt_now_ns() ^ ((uint64_t)(uintptr_t)&seed << 17) ^
                   ((uint64_t)getpid() << 40);
        }
        rnd_state = seed;
        rnd_gen = gen;
        rnd_seeded = true;
    }
    uint64_t z = (rnd_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

uint64_t tt_span_rand_u64(void)
{
    return rnd_next();
}

void tt_span_rand_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";

    if (nbytes > 32)
        nbytes = 32;
    for (size_t i = 0; i < nbytes; i += 8) {
        uint64_t x = rnd_next();
        for (size_t k = i; k < nbytes && k < i + 8; k++, x >>= 8) {
            out[2 * k] = hex[(x >> 4) & 15];
            out[2 * k + 1] = hex[x & 15];
        }
    }
    out[2 * nbytes] = '\0';
}

void tt_span_hash_id(char *out, const char *const *parts, size_t nparts)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t h = 0xcbf29ce484222325ULL;

    for (size_t i = 0; i < nparts; i++) {
        const char *p = parts[i] ? parts[i] : "";
        for (size_t k = 0; p[k]; k++) {
            h ^= (unsigned char)p[k];
            h *= 0x100000001b3ULL;
        }
        h *= 0x100000001b3ULL;        /* the NUL separator: ("ab","c") != ("a","bc") */
    }
    if (h == 0)
        h = 1;                        /* an all-zero id is invalid (W3C) */
    for (int i = 0; i < 16; i++)
        out[i] = hex[(h >> (60 - 4 * i)) & 15];
    out[16] = '\0';
}

static bool tp_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static bool tp_zero(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != '0')
            return false;
    return true;
}

int tt_traceparent_parse(const char *v, char *trace_id, char *parent_id)
{
    /* version(2) - trace(32) - parent(16) - flags(2) = 55 characters. */
    size_t len = v ? strlen(v) : 0;

    if (len < 55 || !tp_hex(v, 2) || v[2] != '-' || !tp_hex(v + 3, 32) ||
        v[35] != '-' || !tp_hex(v + 36, 16) || v[52] != '-' || !tp_hex(v + 53, 2))
        return TT_ERR_PARSE;
    if (!memcmp(v, "ff", 2))
        return TT_ERR_PARSE;
    /* Version 00 has exactly four fields; a future version may add more,
     * which W3C says to ignore, but only after a separator. */
    if (!memcmp(v, "00", 2) ? len != 55 : (len > 55 && v[55] != '-'))
        return TT_ERR_PARSE;
    if (tp_zero(v + 3, 32) || tp_zero(v + 36, 16))
        return TT_ERR_PARSE;
    memcpy(trace_id, v + 3, 32);
    trace_id[32] = '\0';
    memcpy(parent_id, v + 36, 16);
    parent_id[16] = '\0';
    return TT_OK;
}
