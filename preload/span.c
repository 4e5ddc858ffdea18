/* span.c - span life cycle helpers. */
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

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
        &s->exe, &s->session_id, &s->tags,
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        free(*strs[i]);
        *strs[i] = NULL;
    }
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

void tt_span_rand_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[32];
    size_t got = 0;

    if (nbytes > sizeof(raw))
        nbytes = sizeof(raw);
    while (got < nbytes) {
        ssize_t r = getrandom(raw + got, nbytes - got, GRND_NONBLOCK);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got < nbytes) {
        /* No entropy yet (early boot): fall back to clock mixing; ids need
         * to be unique, not secret. */
        uint64_t x = (uint64_t)tt_now_ns() ^ ((uint64_t)(uintptr_t)out << 17);
        for (size_t i = got; i < nbytes; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw[i] = (unsigned char)x;
        }
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[2 * nbytes] = '\0';
}
