/* openai.c - OpenAI Chat Completions: POST .../chat/completions.
 *
 * The same wire format is served by Azure OpenAI, OpenRouter, Groq,
 * DeepSeek, Mistral, vLLM, llama.cpp, Ollama's /v1 and others; their
 * differences that matter for a span (where usage lives, what it is
 * called) are rows in the tables below.
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       the request's "messages" value, verbatim: the client's
 *               own text (whitespace, escapes), not re-serialised.
 *   output      one choice (the usual n=1): the assistant message content
 *               as sent (normally a JSON string, "\"Hello!\""); when the
 *               content is null but the model refused, the refusal string;
 *               absent (NULL) when there is neither (a tool-call-only
 *               answer). Several choices: an array with one such value
 *               (or null) per choice, in choice index order.
 *   tool_calls  [{"id":..,"name":..,"arguments":..}] over all choices;
 *               "arguments" is the JSON *string* the model produced, kept
 *               as is (it may be invalid JSON). With content capture off
 *               the array keeps id and name and drops arguments.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_OPENAI_MAX_CHOICES 16
#define TT_OPENAI_MAX_TOOLS 64
/* Streamed text kept per response (content, refusals, arguments): the
 * transport caps bodies, but a stream is handed over event by event. */
#define TT_OPENAI_TEXT_BUDGET ((size_t)8 << 20)

enum tt_openai_slot {
    TT_OPENAI_IN,
    TT_OPENAI_OUT,
    TT_OPENAI_CACHE_READ,
    TT_OPENAI_CACHE_WRITE,
    TT_OPENAI_REASONING,
    TT_OPENAI_AUDIO_IN,
    TT_OPENAI_IMAGE_IN,
    TT_OPENAI_AUDIO_OUT,
    TT_OPENAI_IMAGE_OUT,
    TT_OPENAI_NSLOTS
};

/* prompt_tokens already includes cached and cache-written tokens, and
 * completion_tokens includes reasoning: both map to the span as they are. */
static const struct tt_json_count_field tt_openai_usage_fields[] = {
    { TT_OPENAI_IN, true, { "prompt_tokens", NULL } },
    { TT_OPENAI_OUT, true, { "completion_tokens", NULL } },
    { TT_OPENAI_CACHE_READ, false,
      { "prompt_tokens_details", "cached_tokens", NULL } },
    /* DeepSeek's name for the same subset. */
    { TT_OPENAI_CACHE_READ, false, { "prompt_cache_hit_tokens", NULL } },
    { TT_OPENAI_CACHE_WRITE, false,
      { "prompt_tokens_details", "cache_write_tokens", NULL } },
    { TT_OPENAI_REASONING, false,
      { "completion_tokens_details", "reasoning_tokens", NULL } },
    /* Modality subsets, priced apart (gpt-4o-audio-preview, gpt-realtime,
     * gpt-image-1 via chat): still counted in prompt/completion_tokens. */
    { TT_OPENAI_AUDIO_IN, false, { "prompt_tokens_details", "audio_tokens", NULL } },
    { TT_OPENAI_IMAGE_IN, false, { "prompt_tokens_details", "image_tokens", NULL } },
    { TT_OPENAI_AUDIO_OUT, false,
      { "completion_tokens_details", "audio_tokens", NULL } },
    { TT_OPENAI_IMAGE_OUT, false,
      { "completion_tokens_details", "image_tokens", NULL } },
};

/* Where a response or chunk carries usage; first object found wins.
 * Groq streams put it in x_groq.usage. */
static const char *const tt_openai_usage_paths[][3] = {
    { "usage", NULL },
    { "x_groq", "usage", NULL },
};

/* Where, inside the usage object, a provider states what the call cost in
 * USD. OpenRouter: usage.cost ("credits", 1 credit = 1 USD; providers.md
 * section 8, openrouter.ai/docs/use-cases/usage-accounting). The span's
 * cost is then that number, not a table price (tt_price_apply). */
static const char *const tt_openai_cost_paths[][2] = {
    { "cost", NULL },
};

/* Request members read by tt_openai_request. Only these slices are
 * parsed; "messages" is copied as raw text. The two output caps are
 * adjacent, preferred first (max_tokens is the deprecated name). */
enum tt_openai_req_key {
    TT_OPENAI_REQ_MODEL,
    TT_OPENAI_REQ_STREAM,
    TT_OPENAI_REQ_TEMPERATURE,
    TT_OPENAI_REQ_TOP_P,
    TT_OPENAI_REQ_MAX_COMPLETION_TOKENS,
    TT_OPENAI_REQ_MAX_TOKENS,
    TT_OPENAI_REQ_MESSAGES,
    TT_OPENAI_REQ_NKEYS
};

static const char *const tt_openai_req_keys[TT_OPENAI_REQ_NKEYS] = {
    [TT_OPENAI_REQ_MODEL] = "model",
    [TT_OPENAI_REQ_STREAM] = "stream",
    [TT_OPENAI_REQ_TEMPERATURE] = "temperature",
    [TT_OPENAI_REQ_TOP_P] = "top_p",
    [TT_OPENAI_REQ_MAX_COMPLETION_TOKENS] = "max_completion_tokens",
    [TT_OPENAI_REQ_MAX_TOKENS] = "max_tokens",
    [TT_OPENAI_REQ_MESSAGES] = "messages",
};

/* A tool call's name and arguments: function tools, then custom tools. */
static const char *const tt_openai_tool_name_paths[][3] = {
    { "function", "name", NULL },
    { "custom", "name", NULL },
};
static const char *const tt_openai_tool_args_paths[][3] = {
    { "function", "arguments", NULL },
    { "custom", "input", NULL },
};

/* Delta fields whose first non-empty value is the first token. The
 * role-only first chunk ("content":null,"refusal":"") has none. */
static const char *const tt_openai_token_fields[] = {
    "content", "refusal", "reasoning_content", "reasoning",
};

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct tt_openai_choice {
    int64_t index;
    struct tt_buf content;
    bool has_content;
    struct tt_buf refusal;
    bool has_refusal;
    char *finish_reason;
};

struct tt_openai_tool {
    int64_t choice;
    int64_t index;
    char *id;
    char *name;
    struct tt_buf args;
};

struct tt_openai_state {
    bool got_body;
    bool got_events;
    bool done;                  /* data: [DONE] */
    bool usage_seen;            /* latest usage object was valid */
    bool usage_bad;             /* latest usage object was not */
    int64_t usage[TT_OPENAI_NSLOTS];
    bool has_cost;              /* the latest usage object stated a cost */
    double cost;
    size_t budget;              /* streamed text bytes still allowed */
    size_t nchoices;
    struct tt_openai_choice choices[TT_OPENAI_MAX_CHOICES];
    size_t ntools;
    struct tt_openai_tool tools[TT_OPENAI_MAX_TOOLS];
};

/* --- shared pieces ------------------------------------------------------ */

static json_t *tt_openai_usage_obj(const json_t *root)
{
    for (size_t i = 0; i < TT_NELEM(tt_openai_usage_paths); i++) {
        json_t *u = tt_json_getv(root, tt_openai_usage_paths[i]);
        if (u && json_is_object(u))
            return u;
    }
    return NULL;
}

static json_t *tt_openai_first_path(const json_t *obj,
                                    const char *const (*paths)[3], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = tt_json_getv(obj, paths[i]);
        if (v && !json_is_null(v))
            return v;
    }
    return NULL;
}

/* The cost a usage object states, if any: a finite, non-negative number. */
static bool tt_openai_stated_cost(const json_t *usage, double *out)
{
    for (size_t i = 0; i < TT_NELEM(tt_openai_cost_paths); i++) {
        double d;
        if (tt_json_double(tt_json_getv(usage, tt_openai_cost_paths[i]),
                           &d) == TT_OK &&
            d >= 0.0 && d < 1e9) {
            *out = d;
            return true;
        }
    }
    return false;
}

static void tt_openai_set_usage(struct tt_span *span, const int64_t *u)
{
    span->input_tokens = u[TT_OPENAI_IN];
    span->output_tokens = u[TT_OPENAI_OUT];
    span->cache_read_tokens = u[TT_OPENAI_CACHE_READ];
    span->cache_write_tokens = u[TT_OPENAI_CACHE_WRITE];
    span->reasoning_tokens = u[TT_OPENAI_REASONING];
    span->audio_input_tokens = u[TT_OPENAI_AUDIO_IN];
    span->image_input_tokens = u[TT_OPENAI_IMAGE_IN];
    span->audio_output_tokens = u[TT_OPENAI_AUDIO_OUT];
    span->image_output_tokens = u[TT_OPENAI_IMAGE_OUT];
    span->usage_known = true;
}

/* An in-band error object ({"error":{...}} or {"error":"text"}) fails the
 * span with "type: message". Returns true when there was one. In an error
 * body the provider's message is more precise than anything the transport
 * may have set first (an HTTP status): override. In a stream the first
 * error is the cause: don't. */
static bool tt_openai_error(struct tt_span *span, const json_t *root,
                            bool override)
{
    json_t *err = json_object_get(root, "error");
    char *txt = NULL;

    if (!err || json_is_null(err))
        return false;
    if (tt_json_error_text(err, &txt) == TT_OK) {
        tt_span_fail(span, txt, override);
        free(txt);
    } else {
        tt_span_fail(span, "provider error", override);
    }
    return true;
}

/* --- request ------------------------------------------------------------ */

/* The request's scalar members: each slice is parsed on its own, so a
 * 10 KB conversation is never turned into a tree. TT_ERR_PARSE when a
 * present member is not valid JSON (it is then ignored, like a wrong
 * type), TT_ERR_NOMEM. */
static int tt_openai_req_params(struct tt_span *span,
                                const struct tt_json_slice *m)
{
    json_t *v[TT_OPENAI_REQ_MESSAGES];
    int rc = TT_OK;

    for (size_t k = 0; k < TT_OPENAI_REQ_MESSAGES; k++)
        if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
            rc = TT_ERR_PARSE;
    (void)tt_json_set_str(&span->request_model, v[TT_OPENAI_REQ_MODEL]);
    span->stream = json_is_true(v[TT_OPENAI_REQ_STREAM]);
    span->has_temperature = tt_json_double(v[TT_OPENAI_REQ_TEMPERATURE],
                                           &span->temperature) == TT_OK;
    span->has_top_p =
        tt_json_double(v[TT_OPENAI_REQ_TOP_P], &span->top_p) == TT_OK;
    span->has_max_tokens = false;
    for (size_t k = TT_OPENAI_REQ_MAX_COMPLETION_TOKENS;
         k <= TT_OPENAI_REQ_MAX_TOKENS; k++) {
        if (tt_json_int64(v[k], &span->max_tokens) == TT_OK) {
            span->has_max_tokens = true;
            break;
        }
    }
    for (size_t k = 0; k < TT_OPENAI_REQ_MESSAGES; k++)
        json_decref(v[k]);
    return rc;
}

static int tt_openai_request(struct tt_span *span, const char *body, size_t len)
{
    struct tt_json_slice m[TT_OPENAI_REQ_NKEYS];
    int rc, mrc;

    /* A body cut at the capture cap still gives every member before the
     * cut (model, stream, parameters when the client sends them first). */
    mrc = tt_json_members(body, len, tt_openai_req_keys, TT_OPENAI_REQ_NKEYS,
                          m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, tt_openai_chat_api.operation) != TT_OK)
        goto nomem;

    if (mrc != TT_ERR_PARSE) {
        int prc = tt_openai_req_params(span, m);
        if (prc == TT_ERR_NOMEM)
            goto nomem;
        if (prc != TT_OK)
            rc = prc;
        /* The messages as the client sent them: re-serialising them
         * cost more than everything else in the call. */
        if (tt_api_capture_content() && m[TT_OPENAI_REQ_MESSAGES].ptr) {
            prc = tt_json_set_raw(&span->input, &m[TT_OPENAI_REQ_MESSAGES]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }

    if (tt_span_set_name(span, tt_openai_chat_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    return rc;
}

/* --- response: common --------------------------------------------------- */

static int tt_openai_response_begin(struct tt_span *span, void **state)
{
    struct tt_openai_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_OPENAI_TEXT_BUDGET;
    return TT_OK;
}

static void tt_openai_response_free(void *state)
{
    struct tt_openai_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->nchoices; i++) {
        tt_buf_free(&st->choices[i].content);
        tt_buf_free(&st->choices[i].refusal);
        free(st->choices[i].finish_reason);
    }
    for (size_t i = 0; i < st->ntools; i++) {
        free(st->tools[i].id);
        free(st->tools[i].name);
        tt_buf_free(&st->tools[i].args);
    }
    free(st);
}

/* One tool_calls array entry as a span tool call. args: the arguments
 * value (NULL when absent or capture is off); a non-string value (some
 * compatible servers send an object) is stored as its JSON text so that
 * "arguments" is always a string. */
static int tt_openai_tool_json(json_t *arr, const char *id, size_t id_len,
                               const char *name, size_t name_len,
                               const json_t *args_val, const char *args,
                               size_t args_len)
{
    json_t *o = json_object();
    int rc = TT_ERR_NOMEM;

    if (!o)
        return TT_ERR_NOMEM;
    if (json_object_set_new(o, "id", id ? json_stringn(id, id_len)
                                        : json_null()) ||
        json_object_set_new(o, "name", name ? json_stringn(name, name_len)
                                            : json_null()))
        goto out;
    if (args_val) {
        if (json_is_string(args_val)) {
            if (json_object_set_new(o, "arguments",
                                    json_stringn(json_string_value(args_val),
                                                 json_string_length(args_val))))
                goto out;
        } else {
            char *txt = NULL;
            if (tt_json_dump(args_val, &txt) != TT_OK)
                goto out;
            int e = json_object_set_new(o, "arguments", json_string(txt));
            free(txt);
            if (e)
                goto out;
        }
    } else if (args) {
        if (json_object_set_new(o, "arguments", json_stringn(args, args_len)))
            goto out;
    }
    if (json_array_append_new(arr, o)) {
        o = NULL;
        goto out;
    }
    return TT_OK;
out:
    json_decref(o);
    return rc;
}

/* --- response: whole body, without a tree -------------------------------
 * The usual answer (no error, no tool calls) is read from slices of the
 * validated body: only the usage object becomes a (small) tree, and the
 * content is copied as sent when that is what jansson would have written
 * (tt_json_append_compact). Anything else takes the tree path below, which
 * gives the same span. */

#define TT_OPENAI_FAST_CHOICES 16

struct tt_openai_fast_choice {
    struct tt_json_slice out;     /* content, or refusal, or absent (null) */
    struct tt_json_slice reason;
};

/* A JSON array of the values (absent = null) into *field. */
static int tt_openai_set_list(char **field, const struct tt_json_slice *v,
                              size_t n, bool bare_single)
{
    struct tt_buf b;
    int rc = TT_OK;

    tt_buf_init(&b, (size_t)64 << 20);
    if (!(bare_single && n == 1))
        rc = tt_buf_append(&b, "[", 1);
    for (size_t i = 0; i < n && rc == TT_OK; i++) {
        if (i > 0)
            rc = tt_buf_append(&b, ",", 1);
        if (rc == TT_OK)
            rc = v[i].ptr ? tt_json_append_compact(&b, &v[i])
                          : tt_buf_append(&b, "null", 4);
    }
    if (rc == TT_OK && !(bare_single && n == 1))
        rc = tt_buf_append(&b, "]", 1);
    if (rc == TT_OK && b.data) {
        free(*field);
        *field = b.data;
        return TT_OK;
    }
    tt_buf_free(&b);
    return rc == TT_OK ? TT_ERR_NOMEM : rc;
}

/* TT_OK: the span is done. TT_ERR_UNSUPPORTED: nothing was changed, take
 * the tree path. TT_ERR_NOMEM. */
static int tt_openai_body_fast(struct tt_span *span, const char *body, size_t len)
{
    static const char *const top_keys[] = { "id", "model", "service_tier", "usage",
                                            "x_groq", "error", "choices" };
    enum { K_ID, K_MODEL, K_TIER, K_USAGE, K_GROQ, K_ERROR, K_CHOICES, K_N };
    static const char *const choice_keys[] = { "message", "finish_reason" };
    static const char *const msg_keys[] = { "content", "refusal", "tool_calls" };
    struct tt_json_slice top[K_N], el, cm[2], mm[3];
    struct tt_openai_fast_choice ch[TT_OPENAI_FAST_CHOICES];
    struct tt_json_slice outs[TT_OPENAI_FAST_CHOICES], reasons[TT_OPENAI_FAST_CHOICES];
    size_t n = 0, nr = 0, pos = 0;
    json_t *mini = NULL, *v;
    int64_t u[TT_OPENAI_NSLOTS];
    bool present[TT_OPENAI_NSLOTS];
    bool capture = tt_api_capture_content();
    int rc = TT_ERR_UNSUPPORTED;

    if (tt_json_valid_members(body, len, top_keys, K_N, top) != TT_OK)
        return TT_ERR_UNSUPPORTED;
    if (tt_json_kind_of(&top[K_ERROR]) != TT_JSON_ABSENT &&
        tt_json_kind_of(&top[K_ERROR]) != TT_JSON_NULL)
        return TT_ERR_UNSUPPORTED;
    enum tt_json_kind ck = tt_json_kind_of(&top[K_CHOICES]);
    if (ck != TT_JSON_ARRAY && ck != TT_JSON_ABSENT)
        return TT_ERR_UNSUPPORTED;
    while (tt_json_next(&top[K_CHOICES], &pos, &el)) {
        if (n == TT_OPENAI_FAST_CHOICES)
            return TT_ERR_UNSUPPORTED;
        if (tt_json_members(el.ptr, el.len, choice_keys, 2, cm) != TT_OK ||
            tt_json_members(cm[0].ptr, cm[0].len, msg_keys, 3, mm) == TT_ERR_INCOMPLETE)
            return TT_ERR_UNSUPPORTED;
        if (!cm[0].ptr)
            memset(mm, 0, sizeof(mm));
        /* A tool call is built as a tree (tt_openai_tool_json). */
        enum tt_json_kind tk = tt_json_kind_of(&mm[2]);
        size_t tpos = 0;
        struct tt_json_slice tel;
        if (tk == TT_JSON_ARRAY && tt_json_next(&mm[2], &tpos, &tel))
            return TT_ERR_UNSUPPORTED;
        enum tt_json_kind k = tt_json_kind_of(&mm[0]);
        ch[n].out = mm[0];
        if (k == TT_JSON_ABSENT || k == TT_JSON_NULL)
            ch[n].out = tt_json_kind_of(&mm[1]) == TT_JSON_STRING
                        ? mm[1] : (struct tt_json_slice){ NULL, 0 };
        ch[n].reason = cm[1];
        n++;
    }

    /* Decided: from here on the span is written. */
    rc = TT_OK;
    tt_json_set_slice_str(&span->response_id, &top[K_ID]);
    tt_json_set_slice_str(&span->response_model, &top[K_MODEL]);
    tt_json_set_slice_str(&span->service_tier, &top[K_TIER]);
    /* The usage counts read from the text (tt_openai_usage_paths' order:
     * usage, then x_groq.usage); a usage object with a stated cost, or
     * numbers only jansson judges the same way, takes the small tree. */
    struct tt_json_slice us = top[K_USAGE], cost = { NULL, 0 };
    static const char *const usage_key[] = { "usage" };
    static const char *const cost_key[] = { "cost" };
    if (tt_json_kind_of(&us) != TT_JSON_OBJECT &&
        (tt_json_kind_of(&top[K_GROQ]) != TT_JSON_OBJECT ||
         tt_json_members(top[K_GROQ].ptr, top[K_GROQ].len, usage_key, 1, &us) != TT_OK))
        us = (struct tt_json_slice){ NULL, 0 };
    int crc = TT_ERR_UNSUPPORTED;
    if (tt_json_kind_of(&us) == TT_JSON_OBJECT &&
        tt_json_members(us.ptr, us.len, cost_key, 1, &cost) == TT_OK && !cost.ptr)
        crc = tt_json_counts_slice(&us, tt_openai_usage_fields,
                                   TT_NELEM(tt_openai_usage_fields), u, present,
                                   TT_OPENAI_NSLOTS);
    if (crc == TT_OK) {
        tt_openai_set_usage(span, u);
        span->has_provider_cost = false;
    } else if (crc == TT_ERR_UNSUPPORTED) {
        if (!(mini = json_object()))
            return TT_ERR_NOMEM;
        for (int k = K_USAGE; k <= K_GROQ; k++)
            if (top[k].ptr && tt_json_slice_parse(&top[k], &v) == TT_OK &&
                json_object_set_new(mini, top_keys[k], v))
                rc = TT_ERR_NOMEM;
        if (tt_json_counts(tt_openai_usage_obj(mini), tt_openai_usage_fields,
                           TT_NELEM(tt_openai_usage_fields), u, present,
                           TT_OPENAI_NSLOTS) == TT_OK) {
            tt_openai_set_usage(span, u);
            span->has_provider_cost = tt_openai_stated_cost(
                tt_openai_usage_obj(mini), &span->provider_cost_usd);
        }
        json_decref(mini);
    }
    for (size_t i = 0; i < n; i++) {
        outs[i] = ch[i].out;
        if (tt_json_kind_of(&ch[i].reason) == TT_JSON_STRING && ch[i].reason.len > 2)
            reasons[nr++] = ch[i].reason;
    }
    if (nr > 0 && rc == TT_OK)
        rc = tt_openai_set_list(&span->finish_reasons, reasons, nr, false);
    if (capture && n > 0 && !(n == 1 && !outs[0].ptr) && rc == TT_OK)
        rc = tt_openai_set_list(&span->output, outs, n, true);
    return rc;
}

/* --- response: whole body ----------------------------------------------- */

static int tt_openai_body(void *state, struct tt_span *span, const char *body,
                          size_t len)
{
    struct tt_openai_state *st = state;
    json_t *root = NULL, *choices, *outs = NULL, *tools = NULL,
           *reasons = NULL;
    bool capture = tt_api_capture_content();
    int64_t u[TT_OPENAI_NSLOTS];
    bool present[TT_OPENAI_NSLOTS];
    int rc = TT_OK;

    if (st)
        st->got_body = true;
    tt_span_clear_usage(span);
    if ((rc = tt_openai_body_fast(span, body, len)) != TT_ERR_UNSUPPORTED)
        return rc;
    rc = TT_OK;
    if (tt_json_parse(body, len, &root) != TT_OK || !json_is_object(root)) {
        tt_span_fail(span, span->truncated
                               ? "response body truncated at the capture cap"
                               : "malformed response body",
                     false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    if (tt_openai_error(span, root, true))
        goto out;

    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    /* The tier that served the call ("default", "flex", "priority"): the
     * price depends on it (tt_price_cost_usage). */
    (void)tt_json_set_str(&span->service_tier, json_object_get(root, "service_tier"));
    if (tt_json_counts(tt_openai_usage_obj(root), tt_openai_usage_fields,
                       TT_NELEM(tt_openai_usage_fields), u, present,
                       TT_OPENAI_NSLOTS) == TT_OK) {
        tt_openai_set_usage(span, u);
        span->has_provider_cost = tt_openai_stated_cost(
            tt_openai_usage_obj(root), &span->provider_cost_usd);
    }

    rc = TT_ERR_NOMEM;
    outs = json_array();
    tools = json_array();
    reasons = json_array();
    if (!outs || !tools || !reasons)
        goto out;
    choices = json_object_get(root, "choices");
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i);
        json_t *msg = json_object_get(c, "message");
        json_t *content = json_object_get(msg, "content");
        json_t *refusal = json_object_get(msg, "refusal");
        json_t *fr = json_object_get(c, "finish_reason");
        json_t *tcs = json_object_get(msg, "tool_calls");

        if (json_is_string(fr) && json_string_length(fr) > 0 &&
            json_array_append(reasons, fr))
            goto out;
        if (!content || json_is_null(content))
            content = json_is_string(refusal) ? refusal : json_null();
        if (json_array_append(outs, content))
            goto out;
        for (size_t k = 0; k < json_array_size(tcs); k++) {
            json_t *tc = json_array_get(tcs, k);
            size_t id_len = 0, name_len = 0;
            const char *id = tt_json_str(json_object_get(tc, "id"), &id_len);
            const char *name = tt_json_str(
                tt_openai_first_path(tc, tt_openai_tool_name_paths,
                                     TT_NELEM(tt_openai_tool_name_paths)),
                &name_len);
            json_t *args = capture ? tt_openai_first_path(
                                         tc, tt_openai_tool_args_paths,
                                         TT_NELEM(tt_openai_tool_args_paths))
                                   : NULL;
            if (tt_openai_tool_json(tools, id, id_len, name, name_len, args,
                                    NULL, 0) != TT_OK)
                goto out;
        }
    }

    if (json_array_size(reasons) > 0 &&
        tt_json_set_field(&span->finish_reasons, json_incref(reasons)))
        goto out;
    if (capture && json_array_size(outs) > 0) {
        json_t *o = json_array_size(outs) == 1 ? json_array_get(outs, 0) : outs;
        if (!json_is_null(o) &&
            tt_json_set_field(&span->output, json_incref(o)))
            goto out;
    }
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
out:
    json_decref(reasons);
    json_decref(tools);
    json_decref(outs);
    json_decref(root);
    return rc;
}

/* --- response: stream --------------------------------------------------- */

static struct tt_openai_choice *tt_openai_choice(struct tt_openai_state *st,
                                                 int64_t index)
{
    for (size_t i = 0; i < st->nchoices; i++)
        if (st->choices[i].index == index)
            return &st->choices[i];
    if (st->nchoices == TT_OPENAI_MAX_CHOICES)
        return NULL;
    struct tt_openai_choice *c = &st->choices[st->nchoices++];
    c->index = index;
    tt_buf_init(&c->content, TT_OPENAI_TEXT_BUDGET);
    tt_buf_init(&c->refusal, TT_OPENAI_TEXT_BUDGET);
    return c;
}

static struct tt_openai_tool *tt_openai_tool(struct tt_openai_state *st,
                                             int64_t choice, int64_t index)
{
    for (size_t i = 0; i < st->ntools; i++)
        if (st->tools[i].choice == choice && st->tools[i].index == index)
            return &st->tools[i];
    if (st->ntools == TT_OPENAI_MAX_TOOLS)
        return NULL;
    struct tt_openai_tool *t = &st->tools[st->ntools++];
    t->choice = choice;
    t->index = index;
    tt_buf_init(&t->args, TT_OPENAI_TEXT_BUDGET);
    return t;
}

/* Append streamed text within the response's budget; what does not fit
 * is dropped and the span says it was truncated. */
static int tt_openai_acc(struct tt_openai_state *st, struct tt_span *span,
                         struct tt_buf *b, const char *p, size_t n)
{
    if (n > st->budget) {
        n = st->budget;
        span->truncated = true;
    }
    if (n == 0)
        return TT_OK;
    int rc = tt_buf_append(b, p, n);
    if (rc == TT_ERR_NOMEM)
        return rc;
    st->budget -= n;
    return TT_OK;
}

static int tt_openai_delta(struct tt_openai_state *st, struct tt_span *span,
                           int64_t cindex, const json_t *choice, int64_t now)
{
    struct tt_openai_choice *c = tt_openai_choice(st, cindex);
    json_t *delta = json_object_get(choice, "delta");
    json_t *tcs = json_object_get(delta, "tool_calls");
    bool capture = tt_api_capture_content();
    size_t n;
    const char *s;
    int rc;

    if (!c)
        return TT_OK;   /* more choices than we track: counts still come */
    (void)tt_json_set_str(&c->finish_reason,
                          json_object_get(choice, "finish_reason"));

    for (size_t i = 0; i < TT_NELEM(tt_openai_token_fields); i++) {
        s = tt_json_str(json_object_get(delta, tt_openai_token_fields[i]), &n);
        if (s && n > 0)
            tt_span_first_token(span, now);
    }
    if (json_array_size(tcs) > 0)
        tt_span_first_token(span, now);

    s = tt_json_str(json_object_get(delta, "content"), &n);
    if (s) {
        c->has_content = true;
        if (capture && (rc = tt_openai_acc(st, span, &c->content, s, n)))
            return rc;
    }
    s = tt_json_str(json_object_get(delta, "refusal"), &n);
    if (s && n > 0) {
        c->has_refusal = true;
        if (capture && (rc = tt_openai_acc(st, span, &c->refusal, s, n)))
            return rc;
    }

    for (size_t k = 0; k < json_array_size(tcs); k++) {
        json_t *tc = json_array_get(tcs, k);
        int64_t tindex;
        struct tt_openai_tool *t;

        if (tt_json_int64(json_object_get(tc, "index"), &tindex) != TT_OK)
            tindex = (int64_t)k;
        t = tt_openai_tool(st, cindex, tindex);
        if (!t)
            continue;
        /* The first fragment names the call; later ones only carry more
         * argument text. */
        (void)tt_json_set_str(&t->id, json_object_get(tc, "id"));
        json_t *name = tt_openai_first_path(
            tc, tt_openai_tool_name_paths, TT_NELEM(tt_openai_tool_name_paths));
        json_t *args = tt_openai_first_path(
            tc, tt_openai_tool_args_paths, TT_NELEM(tt_openai_tool_args_paths));
        (void)tt_json_set_str(&t->name, name);
        s = tt_json_str(args, &n);
        if (s && capture && (rc = tt_openai_acc(st, span, &t->args, s, n)))
            return rc;
    }
    return TT_OK;
}

/* --- the usual chunk, without a tree ------------------------------------
 *
 * A chat stream is one small JSON chunk per token, and parsing each into a
 * jansson tree was ~80% of the worker's work for a streamed call (~53,000
 * instructions a chunk: a 200-chunk answer took 13 million, against
 * ~150,000 for a whole non-streamed call). The usual chunk (no usage, no
 * error, no tool-call fragment) is validated once (tt_json_valid: what
 * jansson accepts) and read as slices, with the tree path's effects: the
 * response's id, model and tier; per choice its finish reason, the first
 * token, and the content and refusal text walked unescaped into the
 * answer. Anything else takes the tree path below. */

#define TT_OPENAI_SLOW 1        /* not handled here: take the tree */

enum { CK_ID, CK_MODEL, CK_TIER, CK_CHOICES, CK_USAGE, CK_GROQ, CK_ERROR, CK_N };
static const char *const tt_openai_chunk_keys[CK_N] = {
    "id", "model", "service_tier", "choices", "usage", "x_groq", "error",
};
enum { CH_INDEX, CH_DELTA, CH_FINISH, CH_N };
static const char *const tt_openai_choice_keys[CH_N] = { "index", "delta", "finish_reason" };
/* The token fields (tt_openai_token_fields), then the rest. */
enum { DL_CONTENT, DL_REFUSAL, DL_REASONING_CONTENT, DL_REASONING, DL_TOOLS, DL_N };
static const char *const tt_openai_delta_keys[DL_N] = {
    "content", "refusal", "reasoning_content", "reasoning", "tool_calls",
};

static bool tt_openai_absent(const struct tt_json_slice *v)
{
    return !v->ptr || tt_json_kind_of(v) == TT_JSON_NULL;
}

/* A chunk's choices, read once: at most this many (more take the tree). */
#define TT_OPENAI_CHUNK_CHOICES 4

struct tt_openai_chunk_choice {
    bool object;                        /* the element is an object */
    struct tt_json_slice m[CH_N], d[DL_N];
};

/* The members of each choice and of its delta; false when one cannot be
 * read here: a tool-call fragment, an index that is not a plain integer,
 * too many choices. */
static bool tt_openai_chunk_choices(const struct tt_json_slice *choices,
                                    struct tt_openai_chunk_choice *cc, size_t *n)
{
    struct tt_json_slice el;
    size_t pos = 0;

    *n = 0;
    while (tt_json_next(choices, &pos, &el)) {
        struct tt_openai_chunk_choice *c = &cc[*n];
        int64_t ix;
        size_t tpos = 0;
        struct tt_json_slice tc;

        if (*n == TT_OPENAI_CHUNK_CHOICES)
            return false;
        (*n)++;
        memset(c, 0, sizeof(*c));
        if (tt_json_kind_of(&el) != TT_JSON_OBJECT)
            continue;           /* the tree path finds nothing in it either */
        c->object = true;
        if (tt_json_members(el.ptr, el.len, tt_openai_choice_keys, CH_N, c->m) != TT_OK ||
            (tt_json_kind_of(&c->m[CH_INDEX]) == TT_JSON_NUMBER &&
             tt_json_slice_int(&c->m[CH_INDEX], &ix) != TT_OK))
            return false;       /* 0.0, 1e0: as jansson reads them */
        if (tt_json_kind_of(&c->m[CH_DELTA]) != TT_JSON_OBJECT)
            continue;
        if (tt_json_members(c->m[CH_DELTA].ptr, c->m[CH_DELTA].len, tt_openai_delta_keys,
                            DL_N, c->d) != TT_OK ||
            (tt_json_kind_of(&c->d[DL_TOOLS]) == TT_JSON_ARRAY &&
             tt_json_next(&c->d[DL_TOOLS], &tpos, &tc)))
            return false;
    }
    return true;
}

static int tt_openai_chunk_fast(struct tt_openai_state *st, struct tt_span *span,
                                const char *data, size_t data_len, int64_t now)
{
    struct tt_json_slice m[CK_N];
    struct tt_openai_chunk_choice cc[TT_OPENAI_CHUNK_CHOICES];
    bool capture = tt_api_capture_content();
    size_t nc = 0;

    /* Validated and read in one pass; not valid: a lost chunk costs its
     * content only; valid but not an object: the tree path says so. */
    if (tt_json_valid_members(data, data_len, tt_openai_chunk_keys, CK_N, m) != TT_OK)
        return tt_json_valid(data, data_len) != TT_OK ? TT_ERR_PARSE : TT_OPENAI_SLOW;
    if (!tt_openai_absent(&m[CK_USAGE]) || m[CK_GROQ].ptr || !tt_openai_absent(&m[CK_ERROR]) ||
        (tt_json_kind_of(&m[CK_CHOICES]) == TT_JSON_ARRAY &&
         !tt_openai_chunk_choices(&m[CK_CHOICES], cc, &nc)))
        return TT_OPENAI_SLOW;
    tt_json_set_slice_str(&span->response_id, &m[CK_ID]);
    tt_json_set_slice_str(&span->response_model, &m[CK_MODEL]);
    tt_json_set_slice_str(&span->service_tier, &m[CK_TIER]);
    for (size_t i = 0; i < nc; i++) {
        const struct tt_json_slice *cm = cc[i].m, *dm = cc[i].d;
        int64_t cindex;
        if (tt_json_slice_int(&cm[CH_INDEX], &cindex) != TT_OK)
            cindex = (int64_t)i;
        struct tt_openai_choice *c = tt_openai_choice(st, cindex);
        if (!c)
            continue;   /* more choices than we track: counts still come */
        tt_json_set_slice_str(&c->finish_reason, &cm[CH_FINISH]);
        for (size_t k = DL_CONTENT; k <= DL_REASONING; k++)
            if (tt_json_kind_of(&dm[k]) == TT_JSON_STRING && dm[k].len > 2)
                tt_span_first_token(span, now);
        int rc;
        if (tt_json_kind_of(&dm[DL_CONTENT]) == TT_JSON_STRING) {
            c->has_content = true;
            if (capture && (rc = tt_json_str_append_budget(&dm[DL_CONTENT], &c->content,
                                                          &st->budget, &span->truncated)))
                return rc;
        }
        if (tt_json_kind_of(&dm[DL_REFUSAL]) == TT_JSON_STRING && dm[DL_REFUSAL].len > 2) {
            c->has_refusal = true;
            if (capture && (rc = tt_json_str_append_budget(&dm[DL_REFUSAL], &c->refusal,
                                                          &st->budget, &span->truncated)))
                return rc;
        }
    }
    return TT_OK;
}

static bool tt_openai_is_done(const char *d, size_t n)
{
    while (n > 0 && (d[n - 1] == ' ' || d[n - 1] == '\t' ||
                     d[n - 1] == '\r' || d[n - 1] == '\n'))
        n--;
    return n == 6 && memcmp(d, "[DONE]", 6) == 0;
}

static int tt_openai_sse_event(void *state, struct tt_span *span,
                               const char *event, size_t event_len,
                               const char *data, size_t data_len, int64_t now)
{
    struct tt_openai_state *st = state;
    json_t *root = NULL, *choices, *u;
    int64_t counts[TT_OPENAI_NSLOTS];
    bool present[TT_OPENAI_NSLOTS];
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if (st->done)
        return TT_OK;                /* nothing is defined after [DONE] */
    if (tt_openai_is_done(data, data_len)) {
        st->done = true;
        return TT_OK;
    }
    if (!tt_tok_ieq(event, event_len, "error") &&
        (rc = tt_openai_chunk_fast(st, span, data, data_len, now)) != TT_OPENAI_SLOW)
        return rc;
    rc = TT_OK;
    /* A lost chunk costs its content, not the span: later chunks (the
     * usage chunk) are still worth reading. */
    if (tt_json_parse(data, data_len, &root) != TT_OK ||
        !json_is_object(root)) {
        rc = TT_ERR_PARSE;
        goto out;
    }
    if (tt_openai_error(span, root, false))
        goto out;
    if (tt_tok_ieq(event, event_len, "error")) {
        /* Some compatible servers name the event instead of wrapping the
         * object: the data is then the error object itself. */
        char *txt = NULL;
        if (tt_json_error_text(root, &txt) == TT_OK) {
            tt_span_fail(span, txt, false);
            free(txt);
        } else {
            tt_span_fail(span, "provider error", false);
        }
        goto out;
    }

    /* Azure's prompt-filter chunk has "id":"" and "model":"";
     * tt_json_set_str never lets an empty string replace a value. */
    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    (void)tt_json_set_str(&span->service_tier, json_object_get(root, "service_tier"));

    /* vLLM's continuous usage repeats cumulative usage on every chunk:
     * the latest object is the truth, never a sum. */
    u = tt_openai_usage_obj(root);
    if (u) {
        if (tt_json_counts(u, tt_openai_usage_fields,
                           TT_NELEM(tt_openai_usage_fields), counts, present,
                           TT_OPENAI_NSLOTS) == TT_OK) {
            memcpy(st->usage, counts, sizeof(st->usage));
            st->has_cost = tt_openai_stated_cost(u, &st->cost);
            st->usage_seen = true;
            st->usage_bad = false;
        } else {
            st->usage_bad = true;
        }
    }

    choices = json_object_get(root, "choices");
    for (size_t i = 0; i < json_array_size(choices); i++) {
        json_t *c = json_array_get(choices, i);
        int64_t cindex;
        if (tt_json_int64(json_object_get(c, "index"), &cindex) != TT_OK)
            cindex = (int64_t)i;
        rc = tt_openai_delta(st, span, cindex, c, now);
        if (rc != TT_OK)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

/* Choices arrive in index order in practice; sort anyway so that output
 * and finish_reasons line up with the choice index. */
static void tt_openai_sort_choices(struct tt_openai_state *st)
{
    for (size_t i = 1; i < st->nchoices; i++) {
        struct tt_openai_choice tmp = st->choices[i];
        size_t j = i;
        while (j > 0 && st->choices[j - 1].index > tmp.index) {
            st->choices[j] = st->choices[j - 1];
            j--;
        }
        st->choices[j] = tmp;
    }
}

static int tt_openai_stream_end(struct tt_openai_state *st,
                                struct tt_span *span)
{
    bool capture = tt_api_capture_content();
    json_t *reasons = NULL, *outs = NULL, *tools = NULL;
    int rc = TT_ERR_NOMEM;

    if (st->usage_seen && !st->usage_bad) {
        tt_openai_set_usage(span, st->usage);
        span->has_provider_cost = st->has_cost;
        span->provider_cost_usd = st->has_cost ? st->cost : 0.0;
    } else
        tt_span_clear_usage(span);

    tt_openai_sort_choices(st);
    reasons = json_array();
    outs = json_array();
    tools = json_array();
    if (!reasons || !outs || !tools)
        goto out;
    for (size_t i = 0; i < st->nchoices; i++) {
        struct tt_openai_choice *c = &st->choices[i];
        json_t *o;
        if (c->finish_reason &&
            json_array_append_new(reasons, json_string(c->finish_reason)))
            goto out;
        if (st->nchoices == 1 && (c->has_content || c->has_refusal))
            o = json_string("");    /* a placeholder: the text is quoted in place below */
        else if (c->has_content && (c->content.len > 0 || !c->has_refusal))
            o = json_stringn(c->content.data ? c->content.data : "",
                             c->content.len);
        else if (c->has_refusal)
            o = json_stringn(c->refusal.data ? c->refusal.data : "",
                             c->refusal.len);
        else
            o = json_null();
        if (json_array_append_new(outs, o))
            goto out;
    }
    for (size_t i = 0; i < st->ntools; i++) {
        struct tt_openai_tool *t = &st->tools[i];
        if (tt_openai_tool_json(tools, t->id, t->id ? strlen(t->id) : 0,
                                t->name, t->name ? strlen(t->name) : 0, NULL,
                                capture ? (t->args.data ? t->args.data : "")
                                        : NULL,
                                t->args.len) != TT_OK)
            goto out;
    }

    if (json_array_size(reasons) > 0 &&
        tt_json_set_field(&span->finish_reasons, json_incref(reasons)))
        goto out;
    if (capture && st->nchoices == 1 && json_is_string(json_array_get(outs, 0))) {
        /* The usual single answer, up to TT_OPENAI_TEXT_BUDGET: the
         * collected text becomes the field in place (tt_json_quote_inplace),
         * never held twice, let alone in a tree and its dump besides. */
        struct tt_openai_choice *c = &st->choices[0];
        struct tt_buf *t = c->has_content && (c->content.len > 0 || !c->has_refusal)
                           ? &c->content : &c->refusal;
        int q = tt_json_quote_inplace(t);
        if (q == TT_ERR_NOMEM)
            goto out;
        if (q == TT_OK) {
            free(span->output);
            span->output = t->data ? t->data : strdup("\"\"");
            t->data = NULL;
            t->len = t->cap = 0;
            if (!span->output)
                goto out;
        }
    } else if (capture && json_array_size(outs) > 0) {
        json_t *o = json_array_size(outs) == 1 ? json_array_get(outs, 0) : outs;
        if (!json_is_null(o) &&
            tt_json_set_field(&span->output, json_incref(o)))
            goto out;
    }
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
out:
    json_decref(tools);
    json_decref(outs);
    json_decref(reasons);
    return rc;
}

static int tt_openai_stream_end_op(void *state, struct tt_span *span,
                                   const char **missing)
{
    struct tt_openai_state *st = state;
    int rc = tt_openai_stream_end(st, span);

    /* [DONE] ends a stream; a finish_reason with usage is as good (the
     * [DONE] line alone got lost). */
    bool finished = false;
    for (size_t i = 0; i < st->nchoices; i++)
        finished = finished || st->choices[i].finish_reason != NULL;
    *missing = !st->done && !(finished && span->usage_known) ? "no [DONE]" : NULL;
    return rc;
}

const struct tt_api_ops tt_openai_chat_api = {
    .name = "openai.chat",
    .operation = "chat",
    .default_provider = "openai",
    .request = tt_openai_request,
    .response_begin = tt_openai_response_begin,
    .sse_event = tt_openai_sse_event,
    .body = tt_openai_body,
    .stream_end = tt_openai_stream_end_op,
    .response_free = tt_openai_response_free,
};
