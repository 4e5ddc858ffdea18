/* cohere.c - Cohere v2 chat: POST /v2/chat (api.cohere.com).
 *
 * Wire format: cohere-ai/cohere-python src/cohere/v2/types (providers.md
 * section 9). A response has no "model": the span is priced by the
 * request's model.
 *
 * Usage: {"billed_units":{"input_tokens","output_tokens",...},
 *         "tokens":{"input_tokens","output_tokens"}}. Cohere's usage schema
 * calls billed_units "the number of billed input/output tokens" and tokens
 * "the total number of tokens processed" (which also counts the prompt
 * template Cohere wraps around the messages). A cost audit wants what was
 * billed, so the span's input/output tokens are billed_units, and tokens
 * only stand in when billed_units is absent.
 *
 * Streams are SSE whose data carries "type": message-start (id),
 * content-delta (text), tool-plan-delta, tool-call-start/-delta/-end,
 * message-end (delta.finish_reason, delta.usage).
 *
 * Span content shapes (as openai.c): input = the request's "messages"
 * verbatim; output = the assistant text as one JSON string; tool_calls =
 * [{"id","name","arguments"}] with arguments the JSON string sent. */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_COHERE_MAX_TOOLS 64
#define TT_COHERE_TEXT_BUDGET ((size_t)8 << 20)
#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_cohere_slot { TT_COHERE_IN, TT_COHERE_OUT, TT_COHERE_NSLOTS };

/* First present row wins per slot: billed units, then processed tokens. */
static const struct tt_json_count_field tt_cohere_usage_fields[] = {
    { TT_COHERE_IN, true, { "billed_units", "input_tokens", NULL } },
    { TT_COHERE_IN, true, { "tokens", "input_tokens", NULL } },
    { TT_COHERE_OUT, true, { "billed_units", "output_tokens", NULL } },
    { TT_COHERE_OUT, true, { "tokens", "output_tokens", NULL } },
};

enum tt_cohere_req_key {
    TT_COHERE_REQ_MODEL,
    TT_COHERE_REQ_STREAM,
    TT_COHERE_REQ_TEMPERATURE,
    TT_COHERE_REQ_P,
    TT_COHERE_REQ_MAX_TOKENS,
    TT_COHERE_REQ_MESSAGES,
    TT_COHERE_REQ_NKEYS
};

static const char *const tt_cohere_req_keys[TT_COHERE_REQ_NKEYS] = {
    [TT_COHERE_REQ_MODEL] = "model",
    [TT_COHERE_REQ_STREAM] = "stream",
    [TT_COHERE_REQ_TEMPERATURE] = "temperature",
    [TT_COHERE_REQ_P] = "p",            /* Cohere's name for top_p */
    [TT_COHERE_REQ_MAX_TOKENS] = "max_tokens",
    [TT_COHERE_REQ_MESSAGES] = "messages",
};

struct tt_cohere_tool {
    int64_t index;
    char *id;
    char *name;
    struct tt_buf args;
};

struct tt_cohere_state {
    bool got_body;
    bool got_events;
    bool ended;                 /* message-end seen */
    bool usage_seen, usage_bad;
    int64_t usage[TT_COHERE_NSLOTS];
    char *finish_reason;
    bool has_text;
    struct tt_buf text;
    size_t budget;
    size_t ntools;
    struct tt_cohere_tool tools[TT_COHERE_MAX_TOOLS];
};

/* --- request ------------------------------------------------------------ */

static int tt_cohere_request(struct tt_span *span, const char *body, size_t len)
{
    struct tt_json_slice m[TT_COHERE_REQ_NKEYS];
    json_t *v[TT_COHERE_REQ_MESSAGES] = { NULL };
    int rc, mrc;

    mrc = tt_json_members(body, len, tt_cohere_req_keys, TT_COHERE_REQ_NKEYS,
                          m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, tt_cohere_chat_api.operation) != TT_OK)
        goto nomem;
    if (mrc != TT_ERR_PARSE) {
        for (size_t k = 0; k < TT_COHERE_REQ_MESSAGES; k++)
            if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
                rc = TT_ERR_PARSE;
        (void)tt_json_set_str(&span->request_model, v[TT_COHERE_REQ_MODEL]);
        span->stream = json_is_true(v[TT_COHERE_REQ_STREAM]);
        span->has_temperature = tt_json_double(v[TT_COHERE_REQ_TEMPERATURE],
                                               &span->temperature) == TT_OK;
        span->has_top_p =
            tt_json_double(v[TT_COHERE_REQ_P], &span->top_p) == TT_OK;
        span->has_max_tokens = tt_json_int64(v[TT_COHERE_REQ_MAX_TOKENS],
                                             &span->max_tokens) == TT_OK;
        if (tt_api_capture_content() && m[TT_COHERE_REQ_MESSAGES].ptr) {
            int prc = tt_json_set_raw(&span->input, &m[TT_COHERE_REQ_MESSAGES]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }
    if (tt_span_set_name(span, tt_cohere_chat_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    for (size_t k = 0; k < TT_COHERE_REQ_MESSAGES; k++)
        json_decref(v[k]);
    return rc;
}

/* --- response: common --------------------------------------------------- */

static int tt_cohere_response_begin(struct tt_span *span, void **state)
{
    struct tt_cohere_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_COHERE_TEXT_BUDGET;
    tt_buf_init(&st->text, TT_COHERE_TEXT_BUDGET);
    return TT_OK;
}

static void tt_cohere_response_free(void *state)
{
    struct tt_cohere_state *st = state;

    if (!st)
        return;
    tt_buf_free(&st->text);
    free(st->finish_reason);
    for (size_t i = 0; i < st->ntools; i++) {
        free(st->tools[i].id);
        free(st->tools[i].name);
        tt_buf_free(&st->tools[i].args);
    }
    free(st);
}

/* Usage object -> counts. TT_OK or TT_ERR_PARSE. */
static int tt_cohere_usage(const json_t *u, int64_t *counts)
{
    bool present[TT_COHERE_NSLOTS];

    return tt_json_counts(u, tt_cohere_usage_fields,
                          TT_NELEM(tt_cohere_usage_fields), counts, present,
                          TT_COHERE_NSLOTS);
}

static void tt_cohere_set_usage(struct tt_span *span, const int64_t *u)
{
    span->input_tokens = u[TT_COHERE_IN];
    span->output_tokens = u[TT_COHERE_OUT];
    span->usage_known = true;
}

/* An error body or event: {"message":"..."} with no assistant message
 * object (a success's "message" is an object). Returns true when root is
 * one, after failing the span. */
static bool tt_cohere_error(struct tt_span *span, const json_t *root,
                            bool override)
{
    json_t *msg = json_object_get(root, "message");
    size_t n;
    const char *s = tt_json_str(msg, &n);

    if (!s)
        return false;
    char *txt = strndup(s, n);
    tt_span_fail(span, txt && *txt ? txt : "provider error", override);
    free(txt);
    return true;
}

/* One tool call as a span tool call (see openai.c's shape). */
static int tt_cohere_tool_json(json_t *arr, const char *id, const char *name,
                               const char *args, size_t args_len)
{
    json_t *o = json_object();

    if (!o)
        return TT_ERR_NOMEM;
    if (json_object_set_new(o, "id", id ? json_string(id) : json_null()) ||
        json_object_set_new(o, "name", name ? json_string(name) : json_null()) ||
        (args && json_object_set_new(o, "arguments",
                                     json_stringn(args, args_len)))) {
        json_decref(o);
        return TT_ERR_NOMEM;
    }
    return json_array_append_new(arr, o) ? TT_ERR_NOMEM : TT_OK;
}

/* finish_reasons = [reason], as sent ("COMPLETE", "TOOL_CALL"...). */
static int tt_cohere_set_reason(struct tt_span *span, const char *reason)
{
    json_t *a = json_array();

    if (!a || json_array_append_new(a, json_string(reason))) {
        json_decref(a);
        return TT_ERR_NOMEM;
    }
    return tt_json_set_field(&span->finish_reasons, a);
}

/* --- response: whole body ----------------------------------------------- */

static int tt_cohere_body(void *state, struct tt_span *span, const char *body,
                          size_t len)
{
    struct tt_cohere_state *st = state;
    json_t *root = NULL, *tools = NULL, *msg, *content, *tcs;
    bool capture = tt_api_capture_content();
    struct tt_buf text;
    bool has_text = false;
    int64_t u[TT_COHERE_NSLOTS];
    int rc = TT_OK;

    tt_buf_init(&text, TT_COHERE_TEXT_BUDGET);
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
    if (tt_cohere_error(span, root, true))
        goto out;
    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    if (tt_cohere_usage(json_object_get(root, "usage"), u) == TT_OK)
        tt_cohere_set_usage(span, u);
    json_t *fr = json_object_get(root, "finish_reason");
    if (json_is_string(fr) && json_string_length(fr) > 0) {
        if (tt_cohere_set_reason(span, json_string_value(fr)) != TT_OK)
            goto nomem;
    }

    rc = TT_ERR_NOMEM;
    msg = json_object_get(root, "message");
    content = json_object_get(msg, "content");
    for (size_t i = 0; i < json_array_size(content); i++) {
        size_t n;
        const char *s = tt_json_str(
            json_object_get(json_array_get(content, i), "text"), &n);
        if (!s)
            continue;
        has_text = true;
        if (capture && tt_buf_append(&text, s, n) == TT_ERR_NOMEM)
            goto out;
    }
    if (capture && has_text &&
        tt_json_set_field(&span->output,
                          json_stringn(text.data ? text.data : "", text.len)))
        goto out;
    tools = json_array();
    if (!tools)
        goto out;
    tcs = json_object_get(msg, "tool_calls");
    for (size_t i = 0; i < json_array_size(tcs); i++) {
        json_t *tc = json_array_get(tcs, i);
        size_t an = 0;
        const char *args = capture ? tt_json_str(tt_json_get(tc, "function",
                                                             "arguments", NULL),
                                                 &an)
                                   : NULL;
        if (tt_cohere_tool_json(
                tools, json_string_value(json_object_get(tc, "id")),
                json_string_value(tt_json_get(tc, "function", "name", NULL)),
                args, an) != TT_OK)
            goto out;
    }
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    tt_buf_free(&text);
    json_decref(tools);
    json_decref(root);
    return rc;
}

/* --- response: stream --------------------------------------------------- */

static int tt_cohere_acc(struct tt_cohere_state *st, struct tt_span *span,
                         struct tt_buf *b, const char *p, size_t n)
{
    if (n > st->budget) {
        n = st->budget;
        span->truncated = true;
    }
    if (n == 0)
        return TT_OK;
    if (tt_buf_append(b, p, n) == TT_ERR_NOMEM)
        return TT_ERR_NOMEM;
    st->budget -= n;
    return TT_OK;
}

static struct tt_cohere_tool *tt_cohere_tool(struct tt_cohere_state *st,
                                             int64_t index)
{
    for (size_t i = 0; i < st->ntools; i++)
        if (st->tools[i].index == index)
            return &st->tools[i];
    if (st->ntools == TT_COHERE_MAX_TOOLS)
        return NULL;
    struct tt_cohere_tool *t = &st->tools[st->ntools++];
    t->index = index;
    tt_buf_init(&t->args, TT_COHERE_TEXT_BUDGET);
    return t;
}

/* tool-call-start / tool-call-delta: delta.message.tool_calls is one
 * object in a stream (an array is accepted too). */
static int tt_cohere_tool_event(struct tt_cohere_state *st,
                                struct tt_span *span, const json_t *root)
{
    json_t *tc = tt_json_get(root, "delta", "message", "tool_calls", NULL);
    int64_t index;
    struct tt_cohere_tool *t;
    size_t n;
    const char *s;

    if (json_is_array(tc))
        tc = json_array_get(tc, 0);
    if (!json_is_object(tc))
        return TT_OK;
    if (tt_json_int64(json_object_get(root, "index"), &index) != TT_OK)
        index = 0;
    t = tt_cohere_tool(st, index);
    if (!t)
        return TT_OK;
    (void)tt_json_set_str(&t->id, json_object_get(tc, "id"));
    (void)tt_json_set_str(&t->name, tt_json_get(tc, "function", "name", NULL));
    s = tt_json_str(tt_json_get(tc, "function", "arguments", NULL), &n);
    if (s && tt_api_capture_content())
        return tt_cohere_acc(st, span, &t->args, s, n);
    return TT_OK;
}

static int tt_cohere_sse_event(void *state, struct tt_span *span,
                               const char *event, size_t event_len,
                               const char *data, size_t data_len, int64_t now)
{
    struct tt_cohere_state *st = state;
    json_t *root = NULL;
    size_t tn = 0, n;
    const char *type, *s;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if (tt_json_parse(data, data_len, &root) != TT_OK ||
        !json_is_object(root)) {
        rc = TT_ERR_PARSE;
        goto out;
    }
    /* The type is in the data; the SSE event name says the same. */
    type = tt_json_str(json_object_get(root, "type"), &tn);
    if (!type) {
        type = event;
        tn = event_len;
    }
    if (tt_tok_ieq(type, tn, "message-start")) {
        (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    } else if (tt_tok_ieq(type, tn, "content-delta")) {
        s = tt_json_str(tt_json_get(root, "delta", "message", "content",
                                    "text", NULL), &n);
        if (s) {
            if (n > 0)
                tt_span_first_token(span, now);
            st->has_text = true;
            if (tt_api_capture_content())
                rc = tt_cohere_acc(st, span, &st->text, s, n);
        }
    } else if (tt_tok_ieq(type, tn, "tool-plan-delta")) {
        /* The model's own words before its tool calls: generated output. */
        tt_span_first_token(span, now);
    } else if (tt_tok_ieq(type, tn, "tool-call-start") ||
               tt_tok_ieq(type, tn, "tool-call-delta")) {
        tt_span_first_token(span, now);
        rc = tt_cohere_tool_event(st, span, root);
    } else if (tt_tok_ieq(type, tn, "message-end")) {
        json_t *d = json_object_get(root, "delta");
        int64_t u[TT_COHERE_NSLOTS];
        st->ended = true;
        (void)tt_json_set_str(&st->finish_reason,
                              json_object_get(d, "finish_reason"));
        if (json_object_get(d, "usage")) {
            if (tt_cohere_usage(json_object_get(d, "usage"), u) == TT_OK) {
                memcpy(st->usage, u, sizeof(st->usage));
                st->usage_seen = true;
                st->usage_bad = false;
            } else {
                st->usage_bad = true;
            }
        }
        (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    } else if (tt_tok_ieq(type, tn, "error") ||
               (!json_object_get(root, "type") && !json_object_get(root, "delta"))) {
        /* An error inside a 200 stream: an "error" event, or a bare
         * {"message": "..."} object. */
        if (!tt_cohere_error(span, root, false))
            tt_span_fail(span, "provider error", false);
    }
out:
    json_decref(root);
    return rc;
}

static int tt_cohere_stream_end(struct tt_cohere_state *st,
                                struct tt_span *span)
{
    bool capture = tt_api_capture_content();
    json_t *tools = NULL;
    int rc = TT_ERR_NOMEM;

    if (st->usage_seen && !st->usage_bad)
        tt_cohere_set_usage(span, st->usage);
    else
        tt_span_clear_usage(span);
    if (st->finish_reason) {
        if (tt_cohere_set_reason(span, st->finish_reason) != TT_OK)
            goto out;
    }
    if (capture && st->has_text &&
        tt_json_set_field(&span->output,
                          json_stringn(st->text.data ? st->text.data : "",
                                       st->text.len)))
        goto out;
    tools = json_array();
    if (!tools)
        goto out;
    for (size_t i = 0; i < st->ntools; i++) {
        struct tt_cohere_tool *t = &st->tools[i];
        if (tt_cohere_tool_json(tools, t->id, t->name,
                                capture ? (t->args.data ? t->args.data : "")
                                        : NULL,
                                t->args.len) != TT_OK)
            goto out;
    }
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
out:
    json_decref(tools);
    return rc;
}

static int tt_cohere_stream_end_op(void *state, struct tt_span *span, const char **missing)
{
    struct tt_cohere_state *st = state;
    int rc = tt_cohere_stream_end(st, span);

    *missing = !st->ended ? "no message-end" : NULL;
    return rc;
}

const struct tt_api_ops tt_cohere_chat_api = {
    .name = "cohere.chat",
    .operation = "chat",
    .default_provider = "cohere",
    .request = tt_cohere_request,
    .response_begin = tt_cohere_response_begin,
    .sse_event = tt_cohere_sse_event,
    .body = tt_cohere_body,
    .stream_end = tt_cohere_stream_end_op,
    .response_free = tt_cohere_response_free,
};
