/* spanfield.c - the span contract table (see spanfield.h). */
#include "spanfield.h"
#include "tt.h"

#include <math.h>   /* isfinite: a macro, no libm */
#include <string.h>

#define F(n, t, fl) { #n, t, fl, offsetof(struct tt_span, n), 0, 0, TT_SF_JSON_ANY }
#define ID(n, len, fl) { #n, TT_SF_ID, fl, offsetof(struct tt_span, n), 0, len, TT_SF_JSON_ANY }
#define OPT(n, t, has) { #n, t, TT_SF_NONNEG, offsetof(struct tt_span, n), \
                         offsetof(struct tt_span, has), 0, TT_SF_JSON_ANY }
#define JS(n, j) { #n, TT_SF_JSON, 0, offsetof(struct tt_span, n), 0, 0, j }
#define CONTENT(n, j) { #n, TT_SF_JSON, TT_SF_CONTENT, offsetof(struct tt_span, n), 0, 0, j }

/* Order = column order of TT_STORE_SCHEMA. */
const struct tt_spanfield tt_spanfields[] = {
    ID(span_id, 16, TT_SF_REQUIRED),
    ID(trace_id, 32, TT_SF_REQUIRED),
    ID(parent_id, 16, 0),
    F(kind, TT_SF_STR, TT_SF_REQUIRED),
    F(name, TT_SF_STR, 0),
    F(start_time, TT_SF_I64, TT_SF_REQUIRED),
    F(end_time, TT_SF_I64, TT_SF_REQUIRED),
    F(status, TT_SF_STR, TT_SF_REQUIRED),
    F(error, TT_SF_STR, 0),
    F(provider, TT_SF_STR, 0),
    F(operation, TT_SF_STR, 0),
    F(host, TT_SF_STR, 0),
    F(method, TT_SF_STR, 0),
    F(path, TT_SF_STR, 0),
    F(http_status, TT_SF_I64, TT_SF_NONNEG),
    F(http_version, TT_SF_STR, 0),
    F(request_model, TT_SF_STR, 0),
    F(response_model, TT_SF_STR, 0),
    F(response_id, TT_SF_STR, 0),
    F(stream, TT_SF_BOOL, 0),
    F(ttft_ms, TT_SF_MS, 0),
    OPT(temperature, TT_SF_OPT_F64, has_temperature),
    OPT(max_tokens, TT_SF_OPT_I64, has_max_tokens),
    OPT(top_p, TT_SF_OPT_F64, has_top_p),
    JS(finish_reasons, TT_SF_JSON_ARRAY),
    F(input_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(output_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(cache_read_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(cache_write_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(reasoning_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(usage_known, TT_SF_BOOL, 0),
    F(cost_usd, TT_SF_F64, TT_SF_NONNEG),
    F(cost_known, TT_SF_BOOL, 0),
    CONTENT(input, TT_SF_JSON_ANY),
    CONTENT(output, TT_SF_JSON_ANY),
    CONTENT(tool_calls, TT_SF_JSON_ARRAY),
    F(truncated, TT_SF_BOOL, 0),
    F(pid, TT_SF_I64, TT_SF_NONNEG),
    F(exe, TT_SF_STR, 0),
    F(session_id, TT_SF_STR, 0),
    JS(tags, TT_SF_JSON_OBJECT),
    /* Added after the first release: the store adds their columns to an
     * existing table (store.c, migrate), so they stay last. */
    ID(conversation_id, 16, 0),
    JS(metadata, TT_SF_JSON_OBJECT),
    F(replay, TT_SF_STR, 0),          /* issue #13: record/replay */
    F(capture, TT_SF_STR, 0),
    F(audio_input_tokens, TT_SF_I64, TT_SF_NONNEG),   /* issue #12: priced apart */
    F(audio_output_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(image_input_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(image_output_tokens, TT_SF_I64, TT_SF_NONNEG),
    F(service_tier, TT_SF_STR, 0),
};

const size_t tt_spanfields_n = sizeof(tt_spanfields) / sizeof(tt_spanfields[0]);
_Static_assert(sizeof(tt_spanfields) / sizeof(tt_spanfields[0]) <= TT_SPANFIELDS_MAX,
               "grow the decoders' seen mask");

bool tt_sf_present(const struct tt_span *s, const struct tt_spanfield *f)
{
    switch (f->type) {
    case TT_SF_ID: return tt_sf_cid(s, f)[0] != '\0';
    case TT_SF_STR:
    case TT_SF_JSON: return tt_sf_str(s, f) != NULL;
    case TT_SF_OPT_I64:
    case TT_SF_OPT_F64: return tt_sf_bool(s, f->has_off);
    case TT_SF_MS: return tt_sf_f64(s, f) >= 0;
    case TT_SF_I64:
    case TT_SF_F64:
    case TT_SF_BOOL: return true;
    }
    return false;
}

const struct tt_spanfield *tt_sf_find(const char *p, size_t n)
{
    if (n == 0)
        return NULL;
    /* Hot in the daemon (every key of every span): first byte first. */
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const char *name = tt_spanfields[i].name;
        if (name[0] == p[0] && strlen(name) == n && memcmp(name, p, n) == 0)
            return &tt_spanfields[i];
    }
    return NULL;
}

/* "\u0000" escapes in JSON text become "\ufffd" (same length, in place). */
static void json_nul_repair(char *j)
{
    for (size_t i = 0; j[i]; i++) {
        if (j[i] != '\\' || !j[i + 1])
            continue;
        if (j[i + 1] == 'u' && !strncmp(j + i + 2, "0000", 4))
            memcpy(j + i + 2, "fffd", 4);
        i++;                    /* the escaped character */
    }
}

void tt_sf_repair(struct tt_span *s)
{
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        /* On OOM the field stays as it was: the daemon may refuse the span,
         * which is no worse than dropping it here. */
        if (f->type == TT_SF_STR && tt_span_repair_str(tt_sf_strp(s, f)) != TT_OK)
            continue;
        /* JSON the preload builds itself (finish_reasons, tags) is parsed
         * by the daemon without JSON_ALLOW_NUL: a provider's "s\u0000top"
         * reason would cost the span. */
        if (f->type == TT_SF_JSON && !(f->flags & TT_SF_CONTENT) && *tt_sf_strp(s, f))
            json_nul_repair(*tt_sf_strp(s, f));
        /* A request parameter as the client sent it ("max_tokens": -1, the
         * provider answers 400): absent, not a refused span. */
        if (f->type == TT_SF_OPT_I64 && (f->flags & TT_SF_NONNEG) &&
            tt_sf_i64(s, f) < 0)
            *tt_sf_boolp(s, f->has_off) = false;
        if (f->type == TT_SF_OPT_F64 && (f->flags & TT_SF_NONNEG) &&
            !(tt_sf_f64(s, f) >= 0 && isfinite(tt_sf_f64(s, f))))
            *tt_sf_boolp(s, f->has_off) = false;
    }
}
