/* openai_embeddings.c - OpenAI embeddings: POST .../v1/embeddings.
 *
 * research/providers.md section 3. The response is
 *   {"object":"list","data":[{"object":"embedding","embedding":..,
 *    "index":0}],"model":..,"usage":{"prompt_tokens":8,"total_tokens":8}}
 * where "embedding" is an array of floats, or a base64 string when the
 * request asked for encoding_format "base64" (openai-python always does).
 * The vectors are the bulk of the body and are never parsed nor kept:
 * only the members around them are read, by tt_json_members.
 *
 * Embeddings never stream and have no output tokens: output_tokens is 0
 * and the span has no output, finish_reasons or tool_calls.
 *
 * Span content shapes: input is the request's "input" as sent (a string,
 * an array of strings, or token arrays).
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_oemb_slot { TT_OEMB_IN, TT_OEMB_NSLOTS };

static const struct tt_json_count_field tt_oemb_usage_fields[] = {
    { TT_OEMB_IN, true, { "prompt_tokens", NULL } },
};

enum tt_oemb_req_key { TT_OEMB_REQ_MODEL, TT_OEMB_REQ_INPUT, TT_OEMB_REQ_NKEYS };

static const char *const tt_oemb_req_keys[TT_OEMB_REQ_NKEYS] = {
    [TT_OEMB_REQ_MODEL] = "model",
    [TT_OEMB_REQ_INPUT] = "input",
};

/* Response members read; "data" is skipped over, never parsed. */
enum tt_oemb_resp_key {
    TT_OEMB_RESP_MODEL,
    TT_OEMB_RESP_USAGE,
    TT_OEMB_RESP_ERROR,
    TT_OEMB_RESP_NKEYS
};

static const char *const tt_oemb_resp_keys[TT_OEMB_RESP_NKEYS] = {
    [TT_OEMB_RESP_MODEL] = "model",
    [TT_OEMB_RESP_USAGE] = "usage",
    [TT_OEMB_RESP_ERROR] = "error",
};

struct tt_oemb_state {
    bool got_body;
};

static int tt_oemb_request(struct tt_span *span, const char *body, size_t len)
{
    struct tt_json_slice m[TT_OEMB_REQ_NKEYS];
    json_t *model = NULL;
    int rc, mrc;

    mrc = tt_json_members(body, len, tt_oemb_req_keys, TT_OEMB_REQ_NKEYS, m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, tt_openai_embeddings_api.operation) !=
        TT_OK)
        goto nomem;
    /* Embeddings have no stream, sampling or output cap parameters. */
    span->stream = false;
    if (mrc != TT_ERR_PARSE) {
        if (tt_json_slice_parse(&m[TT_OEMB_REQ_MODEL], &model) != TT_OK)
            rc = TT_ERR_PARSE;
        (void)tt_json_set_str(&span->request_model, model);
        if (tt_api_capture_content() && m[TT_OEMB_REQ_INPUT].ptr) {
            int prc = tt_json_set_raw(&span->input, &m[TT_OEMB_REQ_INPUT]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }
    if (tt_span_set_name(span, tt_openai_embeddings_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    json_decref(model);
    return rc;
}

static int tt_oemb_response_begin(struct tt_span *span, void **state)
{
    (void)span;
    *state = calloc(1, sizeof(struct tt_oemb_state));
    return *state ? TT_OK : TT_ERR_NOMEM;
}

static void tt_oemb_response_free(void *state)
{
    free(state);
}

static int tt_oemb_body(void *state, struct tt_span *span, const char *body,
                        size_t len)
{
    struct tt_oemb_state *st = state;
    struct tt_json_slice m[TT_OEMB_RESP_NKEYS];
    json_t *v[TT_OEMB_RESP_NKEYS] = { NULL };
    int64_t u[TT_OEMB_NSLOTS];
    bool present[TT_OEMB_NSLOTS];
    int rc = TT_OK, mrc;

    if (st)
        st->got_body = true;
    tt_span_clear_usage(span);
    mrc = tt_json_members(body, len, tt_oemb_resp_keys, TT_OEMB_RESP_NKEYS, m);
    /* A body cut at the capture cap (thousands of float vectors) still
     * gives the members before the cut; usage comes last, so it is then
     * unknown, but the call itself did not fail. */
    if (mrc == TT_ERR_PARSE || (mrc != TT_OK && !span->truncated)) {
        tt_span_fail(span, "malformed response body", false);
        return TT_ERR_PARSE;
    }
    for (size_t k = 0; k < TT_OEMB_RESP_NKEYS; k++)
        if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
            rc = TT_ERR_PARSE;
    if (v[TT_OEMB_RESP_ERROR] && !json_is_null(v[TT_OEMB_RESP_ERROR])) {
        char *txt = NULL;
        /* The provider's words beat the HTTP status (see openai.c). */
        if (tt_json_error_text(v[TT_OEMB_RESP_ERROR], &txt) == TT_OK)
            tt_span_fail(span, txt, true);
        else
            tt_span_fail(span, "provider error", true);
        free(txt);
        goto out;
    }
    (void)tt_json_set_str(&span->response_model, v[TT_OEMB_RESP_MODEL]);
    if (tt_json_counts(v[TT_OEMB_RESP_USAGE], tt_oemb_usage_fields,
                       TT_NELEM(tt_oemb_usage_fields), u, present,
                       TT_OEMB_NSLOTS) == TT_OK) {
        span->input_tokens = u[TT_OEMB_IN];
        span->usage_known = true;
    }
out:
    for (size_t k = 0; k < TT_OEMB_RESP_NKEYS; k++)
        json_decref(v[k]);
    return rc;
}


const struct tt_api_ops tt_openai_embeddings_api = {
    .name = "openai.embeddings",
    .operation = "embeddings",
    .default_provider = "openai",
    .request = tt_oemb_request,
    .response_begin = tt_oemb_response_begin,
    .body = tt_oemb_body,
    .response_free = tt_oemb_response_free,
};
