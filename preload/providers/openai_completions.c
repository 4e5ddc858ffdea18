/* openai_completions.c - OpenAI legacy completions: POST .../v1/completions.
 *
 * research/providers.md section 3: the Chat Completions envelope with a
 * prompt instead of messages and choices[].text instead of a message.
 * Usage is the same CompletionUsage (prompt_tokens includes cached,
 * completion_tokens includes reasoning); finish_reason is stop | length |
 * content_filter. A stream is data:-only chunks of "text_completion"
 * objects, a usage chunk with "choices":[] when the request asked for
 * stream_options.include_usage, then data: [DONE]. Errors: {"error":{..}}
 * as a body or as the data of a chunk.
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       the request's "prompt" as sent (a string, an array of
 *               strings or token arrays).
 *   output      one choice: its text as a JSON string; several (n>1 or
 *               several prompts): an array of strings in choice index
 *               order.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_OCMP_MAX_CHOICES 16
/* Streamed text kept per response: see openai.c. */
#define TT_OCMP_TEXT_BUDGET ((size_t)8 << 20)

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_ocmp_slot {
    TT_OCMP_IN,
    TT_OCMP_OUT,
    TT_OCMP_CACHE_READ,
    TT_OCMP_REASONING,
    TT_OCMP_NSLOTS
};

static const struct tt_json_count_field tt_ocmp_usage_fields[] = {
    { TT_OCMP_IN, true, { "prompt_tokens", NULL } },
    { TT_OCMP_OUT, true, { "completion_tokens", NULL } },
    { TT_OCMP_CACHE_READ, false,
      { "prompt_tokens_details", "cached_tokens", NULL } },
    { TT_OCMP_REASONING, false,
      { "completion_tokens_details", "reasoning_tokens", NULL } },
};

enum tt_ocmp_req_key {
    TT_OCMP_REQ_MODEL,
    TT_OCMP_REQ_STREAM,
    TT_OCMP_REQ_TEMPERATURE,
    TT_OCMP_REQ_TOP_P,
    TT_OCMP_REQ_MAX_TOKENS,
    TT_OCMP_REQ_PROMPT,          /* raw */
    TT_OCMP_REQ_NKEYS
};

static const char *const tt_ocmp_req_keys[TT_OCMP_REQ_NKEYS] = {
    [TT_OCMP_REQ_MODEL] = "model",
    [TT_OCMP_REQ_STREAM] = "stream",
    [TT_OCMP_REQ_TEMPERATURE] = "temperature",
    [TT_OCMP_REQ_TOP_P] = "top_p",
    [TT_OCMP_REQ_MAX_TOKENS] = "max_tokens",
    [TT_OCMP_REQ_PROMPT] = "prompt",
};

struct tt_ocmp_choice {
    int64_t index;
    struct tt_buf text;
    char *finish_reason;
};

struct tt_ocmp_state {
    bool got_body;
    bool got_events;
    bool done;                  /* data: [DONE] */
    bool usage_seen;
    bool usage_bad;
    int64_t usage[TT_OCMP_NSLOTS];
    size_t budget;
    size_t nchoices;
    struct tt_ocmp_choice choices[TT_OCMP_MAX_CHOICES];
};

/* --- shared pieces ------------------------------------------------------ */

static void tt_ocmp_set_usage(struct tt_span *span, const int64_t *u)
{
    span->input_tokens = u[TT_OCMP_IN];
    span->output_tokens = u[TT_OCMP_OUT];
    span->cache_read_tokens = u[TT_OCMP_CACHE_READ];
    span->reasoning_tokens = u[TT_OCMP_REASONING];
    span->usage_known = true;
}

/* An in-band {"error":..} fails the span; override as in openai.c. */
static bool tt_ocmp_error(struct tt_span *span, const json_t *root,
                          bool override)
{
    json_t *err = json_object_get(root, "error");
    char *txt = NULL;

    if (!err || json_is_null(err))
        return false;
    if (tt_json_error_text(err, &txt) == TT_OK)
        tt_span_fail(span, txt, override);
    else
        tt_span_fail(span, "provider error", override);
    free(txt);
    return true;
}

/* One output per choice: a single choice is its text, several are an
 * array. outs is an array of strings (or nulls). */
static int tt_ocmp_set_output(struct tt_span *span, json_t *outs)
{
    json_t *o;

    if (!tt_api_capture_content() || json_array_size(outs) == 0)
        return TT_OK;
    o = json_array_size(outs) == 1 ? json_array_get(outs, 0) : outs;
    if (json_is_null(o))
        return TT_OK;
    return tt_json_set_field(&span->output, json_incref(o));
}

/* --- request ------------------------------------------------------------ */

static int tt_ocmp_request(struct tt_span *span, const char *body, size_t len)
{
    struct tt_json_slice m[TT_OCMP_REQ_NKEYS];
    json_t *v[TT_OCMP_REQ_PROMPT] = { NULL };
    int rc, mrc;

    mrc = tt_json_members(body, len, tt_ocmp_req_keys, TT_OCMP_REQ_NKEYS, m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, tt_openai_completions_api.operation) !=
        TT_OK)
        goto nomem;

    if (mrc != TT_ERR_PARSE) {
        for (size_t k = 0; k < TT_OCMP_REQ_PROMPT; k++)
            if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
                rc = TT_ERR_PARSE;
        (void)tt_json_set_str(&span->request_model, v[TT_OCMP_REQ_MODEL]);
        span->stream = json_is_true(v[TT_OCMP_REQ_STREAM]);
        span->has_temperature = tt_json_double(v[TT_OCMP_REQ_TEMPERATURE],
                                               &span->temperature) == TT_OK;
        span->has_top_p =
            tt_json_double(v[TT_OCMP_REQ_TOP_P], &span->top_p) == TT_OK;
        span->has_max_tokens = tt_json_int64(v[TT_OCMP_REQ_MAX_TOKENS],
                                             &span->max_tokens) == TT_OK;
        if (tt_api_capture_content() && m[TT_OCMP_REQ_PROMPT].ptr) {
            int prc = tt_json_set_raw(&span->input, &m[TT_OCMP_REQ_PROMPT]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }

    if (tt_span_set_name(span, tt_openai_completions_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    for (size_t k = 0; k < TT_OCMP_REQ_PROMPT; k++)
        json_decref(v[k]);
    return rc;
}

/* --- response: common --------------------------------------------------- */

static int tt_ocmp_response_begin(struct tt_span *span, void **state)
{
    struct tt_ocmp_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_OCMP_TEXT_BUDGET;
    return TT_OK;
}

static void tt_ocmp_response_free(void *state)
{
    struct tt_ocmp_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->nchoices; i++) {
        tt_buf_free(&st->choices[i].text);
        free(st->choices[i].finish_reason);
    }
    free(st);
}

/* --- response: whole body ----------------------------------------------- */

static int tt_ocmp_body(void *state, struct tt_span *span, const char *body,
                        size_t len)
{
    struct tt_ocmp_state *st = state;
    json_t *root = NULL, *choices, *outs = NULL, *reasons = NULL;
    int64_t u[TT_OCMP_NSLOTS];
    bool present[TT_OCMP_NSLOTS];
    int rc = TT_OK;

    if (st)
        st->got_body = true;
    tt_span_clear_usage(span);
    if (tt_json_parse(body, len, &root) != TT_OK || !json_is_object(root)) {
        tt_span_fail(span, span->truncated
                               ? "response body truncated at the capture cap"
                               : "malformed response body",
                     false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    if (tt_ocmp_error(span, root, true))
        goto out;
    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    if (tt_json_counts(json_object_get(root, "usage"), tt_ocmp_usage_fields,
                       TT_NELEM(tt_ocmp_usage_fields), u, present,
                       TT_OCMP_NSLOTS) == TT_OK)
        tt_ocmp_set_usage(span, u);

    rc = TT_ERR_NOMEM;
    outs = json_array();
    reasons = json_array();
    if (!outs || !reasons)
        goto out;
    /* Choices come in index order (the API sorts them). */
    choices = json_object_get(root, "choices");
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i);
        json_t *text = json_object_get(c, "text");
        json_t *fr = json_object_get(c, "finish_reason");
        if (json_is_string(fr) && json_string_length(fr) > 0 &&
            json_array_append(reasons, fr))
            goto out;
        if (json_array_append(outs, json_is_string(text) ? text : json_null()))
            goto out;
    }
    if ((json_array_size(reasons) > 0 &&
         tt_json_set_field(&span->finish_reasons, json_incref(reasons))) ||
        tt_ocmp_set_output(span, outs) != TT_OK)
        goto out;
    rc = TT_OK;
out:
    json_decref(reasons);
    json_decref(outs);
    json_decref(root);
    return rc;
}

/* --- response: stream --------------------------------------------------- */

static struct tt_ocmp_choice *tt_ocmp_choice(struct tt_ocmp_state *st,
                                             int64_t index)
{
    for (size_t i = 0; i < st->nchoices; i++)
        if (st->choices[i].index == index)
            return &st->choices[i];
    if (st->nchoices == TT_OCMP_MAX_CHOICES)
        return NULL;
    struct tt_ocmp_choice *c = &st->choices[st->nchoices++];
    c->index = index;
    tt_buf_init(&c->text, TT_OCMP_TEXT_BUDGET);
    return c;
}

static bool tt_ocmp_is_done(const char *d, size_t n)
{
    while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\t' ||
                     d[n - 1] == '\r' || d[n - 1] == '\n'))
        n--;
    return n == 6 && memcmp(d, "[DONE]", 6) == 0;
}

static int tt_ocmp_sse_event(void *state, struct tt_span *span,
                             const char *event, size_t event_len,
                             const char *data, size_t data_len, int64_t now)
{
    struct tt_ocmp_state *st = state;
    json_t *root = NULL, *choices, *u;
    int64_t counts[TT_OCMP_NSLOTS];
    bool present[TT_OCMP_NSLOTS];
    int rc = TT_OK;

    (void)event;
    (void)event_len;
    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if (st->done)
        return TT_OK;
    if (tt_ocmp_is_done(data, data_len)) {
        st->done = true;
        return TT_OK;
    }
    if (tt_json_parse(data, data_len, &root) != TT_OK ||
        !json_is_object(root)) {
        rc = TT_ERR_PARSE;      /* one lost chunk costs its text only */
        goto out;
    }
    if (tt_ocmp_error(span, root, false))
        goto out;
    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    /* The latest usage object is the truth, never a sum (see openai.c). */
    u = json_object_get(root, "usage");
    if (u && !json_is_null(u)) {
        if (tt_json_counts(u, tt_ocmp_usage_fields,
                           TT_NELEM(tt_ocmp_usage_fields), counts, present,
                           TT_OCMP_NSLOTS) == TT_OK) {
            memcpy(st->usage, counts, sizeof(st->usage));
            st->usage_seen = true;
            st->usage_bad = false;
        } else {
            st->usage_bad = true;
        }
    }
    choices = json_object_get(root, "choices");
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i);
        struct tt_ocmp_choice *ch;
        int64_t index;
        size_t n = 0;
        const char *s;

        if (tt_json_int64(json_object_get(c, "index"), &index) != TT_OK)
            index = (int64_t)i;
        ch = tt_ocmp_choice(st, index);
        if (!ch)
            continue;           /* more choices than we track */
        (void)tt_json_set_str(&ch->finish_reason,
                              json_object_get(c, "finish_reason"));
        s = tt_json_str(json_object_get(c, "text"), &n);
        if (!s || n == 0)
            continue;
        tt_span_first_token(span, now);
        if (!tt_api_capture_content())
            continue;
        if (n > st->budget) {
            n = st->budget;
            span->truncated = true;
        }
        if (tt_buf_append(&ch->text, s, n) == TT_ERR_NOMEM) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
        st->budget -= n;
    }
out:
    json_decref(root);
    return rc;
}

static int tt_ocmp_stream_end(struct tt_ocmp_state *st, struct tt_span *span)
{
    json_t *outs = json_array(), *reasons = json_array();
    int rc = TT_ERR_NOMEM;

    if (st->usage_seen && !st->usage_bad)
        tt_ocmp_set_usage(span, st->usage);
    else
        tt_span_clear_usage(span);
    if (!outs || !reasons)
        goto out;
    /* Index order, so that output and finish_reasons line up. */
    for (size_t i = 1; i < st->nchoices; i++) {
        struct tt_ocmp_choice tmp = st->choices[i];
        size_t j = i;
        while (j > 0 && st->choices[j - 1].index > tmp.index) {
            st->choices[j] = st->choices[j - 1];
            j--;
        }
        st->choices[j] = tmp;
    }
    for (size_t i = 0; i < st->nchoices; i++) {
        struct tt_ocmp_choice *c = &st->choices[i];
        if ((c->finish_reason &&
             json_array_append_new(reasons, json_string(c->finish_reason))) ||
            json_array_append_new(outs,
                                  json_stringn(c->text.data ? c->text.data : "",
                                               c->text.len)))
            goto out;
    }
    if ((json_array_size(reasons) > 0 &&
         tt_json_set_field(&span->finish_reasons, json_incref(reasons))) ||
        tt_ocmp_set_output(span, outs) != TT_OK)
        goto out;
    rc = TT_OK;
out:
    json_decref(reasons);
    json_decref(outs);
    return rc;
}

static int tt_ocmp_stream_end_op(void *state, struct tt_span *span,
                                 const char **missing)
{
    struct tt_ocmp_state *st = state;
    bool finished = false;
    int rc = tt_ocmp_stream_end(st, span);

    /* [DONE] ends a stream; a finish_reason with usage is as good (the
     * [DONE] line alone got lost). */
    for (size_t i = 0; i < st->nchoices; i++)
        finished = finished || st->choices[i].finish_reason != NULL;
    *missing = !st->done && !(finished && span->usage_known) ? "no [DONE]" : NULL;
    return rc;
}

const struct tt_api_ops tt_openai_completions_api = {
    .name = "openai.completions",
    .operation = "text_completion",
    .default_provider = "openai",
    .request = tt_ocmp_request,
    .response_begin = tt_ocmp_response_begin,
    .sse_event = tt_ocmp_sse_event,
    .body = tt_ocmp_body,
    .stream_end = tt_ocmp_stream_end_op,
    .response_free = tt_ocmp_response_free,
};
