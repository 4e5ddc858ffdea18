/* openai_responses.c - OpenAI Responses API: POST .../v1/responses.
 *
 * research/providers.md section 2. What differs from Chat Completions:
 *   - usage is input_tokens (cached subset input_tokens_details.
 *     cached_tokens) and output_tokens (reasoning subset
 *     output_tokens_details.reasoning_tokens): both map to the span as
 *     they are, like prompt/completion tokens;
 *   - there is no finish_reason: it is derived from "status" (table
 *     below), incomplete_details.reason and the presence of tool calls;
 *   - a stream uses named events ("event:" and data.type agree). Usage,
 *     the model and the final status come only with the terminal event
 *     (response.completed / .incomplete / .failed), whose "response" is
 *     the same object a non-streaming call returns; no [DONE] is
 *     documented (one is accepted). A stream without a terminal event was
 *     cut short, even when the transport saw a clean end;
 *   - errors: {"error":{..}} bodies as for chat, a 200 response (or
 *     terminal event) with "status":"failed" and response.error, and the
 *     flat "error" stream event {"type":"error","code":..,"message":..}.
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       the request's "input" as sent (a string or an item
 *               list). With "instructions" the input becomes an item
 *               list whose first item is {"role":"system","content":
 *               <instructions as sent>} followed by the input items (a
 *               string input becomes {"role":"user","content":<string>}),
 *               which is what the API itself does with them.
 *   output      the output_text parts of the message items, concatenated,
 *               as a JSON string (like chat's content); a refusal string
 *               when there is no text; absent for a tool-call-only answer.
 *   tool_calls  [{"id":<call_id>,"name":..,"arguments":<string>}] from
 *               function_call (and custom_tool_call) output items; a
 *               stream's arguments are reassembled from the deltas and
 *               replaced by the .done / output_item.done text when that
 *               arrives. With content capture off: id and name only.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_RESP_MAX_TOOLS 64
/* Streamed text kept per response: see openai.c. */
#define TT_RESP_TEXT_BUDGET ((size_t)8 << 20)

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_resp_slot {
    TT_RESP_IN,
    TT_RESP_OUT,
    TT_RESP_CACHE_READ,
    TT_RESP_CACHE_WRITE,
    TT_RESP_REASONING,
    TT_RESP_AUDIO_IN,
    TT_RESP_IMAGE_IN,
    TT_RESP_AUDIO_OUT,
    TT_RESP_IMAGE_OUT,
    TT_RESP_NSLOTS
};

/* input_tokens includes cached and cache-written tokens, output_tokens
 * includes reasoning (response_usage.py). */
static const struct tt_json_count_field tt_resp_usage_fields[] = {
    { TT_RESP_IN, true, { "input_tokens", NULL } },
    { TT_RESP_OUT, true, { "output_tokens", NULL } },
    { TT_RESP_CACHE_READ, false,
      { "input_tokens_details", "cached_tokens", NULL } },
    { TT_RESP_CACHE_WRITE, false,
      { "input_tokens_details", "cache_write_tokens", NULL } },
    { TT_RESP_REASONING, false,
      { "output_tokens_details", "reasoning_tokens", NULL } },
    /* Modality subsets where a model reports them (the usage shape the
     * image and realtime models share: *_tokens_details.{audio,image}_tokens);
     * still counted in input/output_tokens, priced apart. */
    { TT_RESP_AUDIO_IN, false, { "input_tokens_details", "audio_tokens", NULL } },
    { TT_RESP_IMAGE_IN, false, { "input_tokens_details", "image_tokens", NULL } },
    { TT_RESP_AUDIO_OUT, false, { "output_tokens_details", "audio_tokens", NULL } },
    { TT_RESP_IMAGE_OUT, false, { "output_tokens_details", "image_tokens", NULL } },
};

/* The finish reason a terminal status stands for. "incomplete" says why
 * in incomplete_details.reason (max_output_tokens, content_filter), which
 * wins over the row; "completed" becomes "tool_calls" when the output has
 * tool calls. Statuses not listed (in_progress, queued: a background
 * response) have none. */
static const struct {
    const char *status;
    const char *reason;
} tt_resp_status_reasons[] = {
    { "completed", "stop" },
    { "incomplete", "incomplete" },
    { "cancelled", "cancelled" },
};

/* Output item types that are tool calls, and where their arguments are. */
static const struct {
    const char *type;
    const char *args_field;
} tt_resp_tool_items[] = {
    { "function_call", "arguments" },
    { "custom_tool_call", "input" },
};

/* Stream events that carry a fragment, and what it is. */
enum tt_resp_frag { TT_RESP_TEXT, TT_RESP_REFUSAL, TT_RESP_TOOL_ARGS };

static const struct {
    const char *event;
    enum tt_resp_frag what;
} tt_resp_deltas[] = {
    { "response.output_text.delta", TT_RESP_TEXT },
    { "response.refusal.delta", TT_RESP_REFUSAL },
    { "response.function_call_arguments.delta", TT_RESP_TOOL_ARGS },
    { "response.custom_tool_call_input.delta", TT_RESP_TOOL_ARGS },
};

/* Events whose "response" is the final response object. */
static const char *const tt_resp_terminal_events[] = {
    "response.completed", "response.incomplete", "response.failed",
};

struct tt_resp_tool {
    int64_t output_index;
    char *item_id;
    char *call_id;
    char *name;
    struct tt_buf args;
};

struct tt_resp_state {
    bool got_body;
    bool got_events;
    bool terminal;              /* a terminal event arrived */
    json_t *final;              /* its "response" object (owned) */
    size_t budget;              /* streamed text bytes still allowed */
    struct tt_buf text;         /* output_text deltas */
    struct tt_buf refusal;
    bool has_text, has_refusal;
    size_t ntools;
    struct tt_resp_tool tools[TT_RESP_MAX_TOOLS];
};

/* --- request ------------------------------------------------------------ */

enum tt_resp_req_key {
    TT_RESP_REQ_MODEL,
    TT_RESP_REQ_STREAM,
    TT_RESP_REQ_TEMPERATURE,
    TT_RESP_REQ_TOP_P,
    TT_RESP_REQ_MAX_OUTPUT_TOKENS,
    TT_RESP_REQ_INPUT,           /* raw from here on */
    TT_RESP_REQ_INSTRUCTIONS,
    TT_RESP_REQ_NKEYS
};

static const char *const tt_resp_req_keys[TT_RESP_REQ_NKEYS] = {
    [TT_RESP_REQ_MODEL] = "model",
    [TT_RESP_REQ_STREAM] = "stream",
    [TT_RESP_REQ_TEMPERATURE] = "temperature",
    [TT_RESP_REQ_TOP_P] = "top_p",
    [TT_RESP_REQ_MAX_OUTPUT_TOKENS] = "max_output_tokens",
    [TT_RESP_REQ_INPUT] = "input",
    [TT_RESP_REQ_INSTRUCTIONS] = "instructions",
};

static bool tt_resp_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool tt_resp_slice_is(const struct tt_json_slice *s, const char *lit)
{
    size_t n = strlen(lit);

    return s->ptr && s->len == n && memcmp(s->ptr, lit, n) == 0;
}

/* span->input from the raw "input" and "instructions" slices (see the
 * file comment for the shape). Both are copied as sent. 0, TT_ERR_PARSE
 * (a NUL byte in the text: input left unset) or TT_ERR_NOMEM. */
static int tt_resp_input(struct tt_span *span, const struct tt_json_slice *in,
                         const struct tt_json_slice *ins)
{
    struct tt_buf b;
    int rc = TT_ERR_NOMEM;

    if (!ins->ptr || tt_resp_slice_is(ins, "null"))
        return in->ptr ? tt_json_set_raw(&span->input, in) : TT_OK;
    if (memchr(ins->ptr, '\0', ins->len) ||
        (in->ptr && memchr(in->ptr, '\0', in->len)))
        return TT_ERR_PARSE;
    /* Exactly the two slices plus the wrappers (the capture cap already
     * bounded the slices). */
    tt_buf_init(&b, ins->len + (in->ptr ? in->len : 0) + 64);
    if (tt_buf_append_str(&b, "[{\"role\":\"system\",\"content\":") ||
        tt_buf_append(&b, ins->ptr, ins->len) ||
        tt_buf_append(&b, "}", 1))
        goto out;
    if (in->ptr && in->ptr[0] == '[') {
        size_t i = 1;
        while (i < in->len && tt_resp_is_ws(in->ptr[i]))
            i++;
        /* tt_json_members checked that the slice ends with "]". */
        if (i < in->len && in->ptr[i] != ']' &&
            (tt_buf_append(&b, ",", 1) ||
             tt_buf_append(&b, in->ptr + 1, in->len - 2)))
            goto out;
    } else if (in->ptr && !tt_resp_slice_is(in, "null")) {
        if (tt_buf_append_str(&b, ",{\"role\":\"user\",\"content\":") ||
            tt_buf_append(&b, in->ptr, in->len) ||
            tt_buf_append(&b, "}", 1))
            goto out;
    }
    if (tt_buf_append(&b, "]", 1))
        goto out;
    free(span->input);
    span->input = tt_buf_steal(&b);
    rc = TT_OK;
out:
    tt_buf_free(&b);
    return rc;
}

/* The request's scalar members, each slice parsed on its own (see
 * openai.c). TT_ERR_PARSE when a present one is not valid JSON. */
static int tt_resp_req_params(struct tt_span *span,
                              const struct tt_json_slice *m)
{
    json_t *v[TT_RESP_REQ_INPUT];
    int rc = TT_OK;

    for (size_t k = 0; k < TT_RESP_REQ_INPUT; k++)
        if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
            rc = TT_ERR_PARSE;
    (void)tt_json_set_str(&span->request_model, v[TT_RESP_REQ_MODEL]);
    span->stream = json_is_true(v[TT_RESP_REQ_STREAM]);
    span->has_temperature = tt_json_double(v[TT_RESP_REQ_TEMPERATURE],
                                           &span->temperature) == TT_OK;
    span->has_top_p =
        tt_json_double(v[TT_RESP_REQ_TOP_P], &span->top_p) == TT_OK;
    span->has_max_tokens = tt_json_int64(v[TT_RESP_REQ_MAX_OUTPUT_TOKENS],
                                         &span->max_tokens) == TT_OK;
    for (size_t k = 0; k < TT_RESP_REQ_INPUT; k++)
        json_decref(v[k]);
    return rc;
}

static int tt_resp_request(struct tt_span *span, const char *body, size_t len)
{
    struct tt_json_slice m[TT_RESP_REQ_NKEYS];
    int rc, mrc;

    mrc = tt_json_members(body, len, tt_resp_req_keys, TT_RESP_REQ_NKEYS, m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, tt_openai_responses_api.operation) !=
        TT_OK)
        goto nomem;

    if (mrc != TT_ERR_PARSE) {
        int prc = tt_resp_req_params(span, m);
        if (prc == TT_ERR_NOMEM)
            goto nomem;
        if (prc != TT_OK)
            rc = prc;
        if (tt_api_capture_content()) {
            prc = tt_resp_input(span, &m[TT_RESP_REQ_INPUT],
                                &m[TT_RESP_REQ_INSTRUCTIONS]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }

    if (tt_span_set_name(span, tt_openai_responses_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    return rc;
}

/* --- response: common --------------------------------------------------- */

static int tt_resp_response_begin(struct tt_span *span, void **state)
{
    struct tt_resp_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_RESP_TEXT_BUDGET;
    tt_buf_init(&st->text, TT_RESP_TEXT_BUDGET);
    tt_buf_init(&st->refusal, TT_RESP_TEXT_BUDGET);
    return TT_OK;
}

static void tt_resp_response_free(void *state)
{
    struct tt_resp_state *st = state;

    if (!st)
        return;
    json_decref(st->final);
    tt_buf_free(&st->text);
    tt_buf_free(&st->refusal);
    for (size_t i = 0; i < st->ntools; i++) {
        free(st->tools[i].item_id);
        free(st->tools[i].call_id);
        free(st->tools[i].name);
        tt_buf_free(&st->tools[i].args);
    }
    free(st);
}

/* An error object (or the flat error event itself) fails the span with
 * "code: message". override: see openai.c tt_openai_error. */
static void tt_resp_fail(struct tt_span *span, const json_t *err,
                         bool override)
{
    char *txt = NULL;

    if (tt_json_error_text(err, &txt) == TT_OK) {
        tt_span_fail(span, txt, override);
        free(txt);
    } else {
        tt_span_fail(span, "provider error", override);
    }
}

/* The args field of a tool-call item type, or NULL when the type is not
 * a tool call. */
static const char *tt_resp_tool_args_field(const json_t *item)
{
    size_t n = 0;
    const char *type = tt_json_str(json_object_get(item, "type"), &n);

    for (size_t i = 0; type && i < TT_NELEM(tt_resp_tool_items); i++)
        if (strlen(tt_resp_tool_items[i].type) == n &&
            memcmp(type, tt_resp_tool_items[i].type, n) == 0)
            return tt_resp_tool_items[i].args_field;
    return NULL;
}

/* One span tool call; strings may be NULL (absent). The call's id is the
 * call_id a client answers with, the item id when there is none. */
static int tt_resp_tool_json(json_t *arr, const char *call_id,
                             const char *item_id, const char *name,
                             const char *args, size_t args_len)
{
    const char *id = call_id ? call_id : item_id;
    json_t *o = json_object();

    if (!o)
        return TT_ERR_NOMEM;
    if (json_object_set_new(o, "id", id ? json_string(id) : json_null()) ||
        json_object_set_new(o, "name", name ? json_string(name)
                                            : json_null()) ||
        (args && json_object_set_new(o, "arguments",
                                     json_stringn(args, args_len)))) {
        json_decref(o);
        return TT_ERR_NOMEM;
    }
    return json_array_append_new(arr, o) ? TT_ERR_NOMEM : TT_OK;
}

/* Output text, refusal text and tool calls of an output[] array. The
 * text parts are concatenated (one message item in practice). */
static int tt_resp_items(const json_t *output, struct tt_buf *text,
                         bool *has_text, struct tt_buf *refusal,
                         bool *has_refusal, json_t *tools)
{
    bool capture = tt_api_capture_content();

    for (size_t i = 0; i < json_array_size(output); i++) {
        json_t *item = json_array_get(output, i);
        json_t *content = json_object_get(item, "content");
        const char *af = tt_resp_tool_args_field(item);

        if (af) {
            size_t an = 0;
            const char *args = capture ? tt_json_str(json_object_get(item, af),
                                                     &an)
                                       : NULL;
            if (tt_resp_tool_json(
                    tools, tt_json_str(json_object_get(item, "call_id"), NULL),
                    tt_json_str(json_object_get(item, "id"), NULL),
                    tt_json_str(json_object_get(item, "name"), NULL),
                    capture ? (args ? args : "") : NULL, an) != TT_OK)
                return TT_ERR_NOMEM;
            continue;
        }
        for (size_t k = 0; k < json_array_size(content); k++) {
            json_t *part = json_array_get(content, k);
            size_t tn = 0, n = 0;
            const char *type = tt_json_str(json_object_get(part, "type"), &tn);
            const char *s;
            if (!type)
                continue;
            if (tt_tok_ieq(type, tn, "output_text") &&
                (s = tt_json_str(json_object_get(part, "text"), &n))) {
                *has_text = true;
                if (tt_buf_append(text, s, n) == TT_ERR_NOMEM)
                    return TT_ERR_NOMEM;
            } else if (tt_tok_ieq(type, tn, "refusal") &&
                       (s = tt_json_str(json_object_get(part, "refusal"),
                                        &n))) {
                *has_refusal = true;
                if (tt_buf_append(refusal, s, n) == TT_ERR_NOMEM)
                    return TT_ERR_NOMEM;
            }
        }
    }
    return TT_OK;
}

/* span->output from the collected text (see the file comment). */
static int tt_resp_set_output(struct tt_span *span, const struct tt_buf *text,
                              bool has_text, const struct tt_buf *refusal,
                              bool has_refusal)
{
    const struct tt_buf *b = has_text && (text->len > 0 || !has_refusal)
                                 ? text
                                 : has_refusal ? refusal : NULL;

    if (!b || !tt_api_capture_content())
        return TT_OK;
    json_t *s = json_stringn(b->data ? b->data : "", b->len);
    if (!s)
        return TT_ERR_NOMEM;
    return tt_json_set_field(&span->output, s);
}

/* id, model, usage, finish reason and a failure from a response object
 * (a body or a terminal event's "response"). has_tools: the output has
 * tool calls. usage_known only when a valid usage object is there.
 * 0 or TT_ERR_NOMEM. */
static int tt_resp_apply(struct tt_span *span, const json_t *resp,
                          bool has_tools, bool override)
{
    json_t *err = json_object_get(resp, "error");
    int64_t u[TT_RESP_NSLOTS];
    bool present[TT_RESP_NSLOTS];
    size_t n = 0;
    const char *status = tt_json_str(json_object_get(resp, "status"), &n);
    const char *reason = NULL;
    json_t *why = NULL, *reasons = NULL, *r = NULL;

    (void)tt_json_set_str(&span->response_id, json_object_get(resp, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(resp, "model"));
    (void)tt_json_set_str(&span->service_tier, json_object_get(resp, "service_tier"));
    if (tt_json_counts(json_object_get(resp, "usage"), tt_resp_usage_fields,
                       TT_NELEM(tt_resp_usage_fields), u, present,
                       TT_RESP_NSLOTS) == TT_OK) {
        span->input_tokens = u[TT_RESP_IN];
        span->output_tokens = u[TT_RESP_OUT];
        span->cache_read_tokens = u[TT_RESP_CACHE_READ];
        span->cache_write_tokens = u[TT_RESP_CACHE_WRITE];
        span->reasoning_tokens = u[TT_RESP_REASONING];
        span->audio_input_tokens = u[TT_RESP_AUDIO_IN];
        span->image_input_tokens = u[TT_RESP_IMAGE_IN];
        span->audio_output_tokens = u[TT_RESP_AUDIO_OUT];
        span->image_output_tokens = u[TT_RESP_IMAGE_OUT];
        span->usage_known = true;
    } else {
        tt_span_clear_usage(span);
    }

    for (size_t i = 0; status && i < TT_NELEM(tt_resp_status_reasons); i++)
        if (tt_tok_ieq(status, n, tt_resp_status_reasons[i].status))
            reason = tt_resp_status_reasons[i].reason;
    if (status && tt_tok_ieq(status, n, "incomplete"))
        why = tt_json_get(resp, "incomplete_details", "reason", NULL);
    if (reason && tt_tok_ieq(status, n, "completed") && has_tools)
        reason = "tool_calls";
    if (json_is_string(why) && json_string_length(why) > 0)
        r = json_stringn(json_string_value(why), json_string_length(why));
    else if (reason)
        r = json_string(reason);
    if (r) {
        reasons = json_array();
        if (!reasons || json_array_append_new(reasons, r) ||
            tt_json_set_field(&span->finish_reasons, reasons))
            return TT_ERR_NOMEM;
    }

    /* A failed response says why in "error"; a failed one without it
     * still failed. */
    if (err && !json_is_null(err))
        tt_resp_fail(span, err, override);
    else if (status && tt_tok_ieq(status, n, "failed"))
        tt_span_fail(span, "response failed", override);
    return TT_OK;
}

/* --- response: whole body ----------------------------------------------- */

static int tt_resp_body(void *state, struct tt_span *span, const char *body,
                        size_t len)
{
    struct tt_resp_state *st = state;
    json_t *root = NULL, *tools = NULL;
    struct tt_buf text, refusal;
    bool has_text = false, has_refusal = false;
    int rc = TT_OK;

    if (st)
        st->got_body = true;
    tt_buf_init(&text, TT_RESP_TEXT_BUDGET);
    tt_buf_init(&refusal, TT_RESP_TEXT_BUDGET);
    tt_span_clear_usage(span);
    if (tt_json_parse(body, len, &root) != TT_OK || !json_is_object(root)) {
        tt_span_fail(span, span->truncated
                               ? "response body truncated at the capture cap"
                               : "malformed response body",
                     false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    rc = TT_ERR_NOMEM;
    tools = json_array();
    if (!tools ||
        tt_resp_items(json_object_get(root, "output"), &text, &has_text,
                      &refusal, &has_refusal, tools) != TT_OK)
        goto out;
    /* An error body ({"error":{..}}, no status) and a failed response
     * both land in tt_resp_apply: the provider's words beat the HTTP
     * status the transport may have set. */
    if (tt_resp_apply(span, root, json_array_size(tools) > 0, true) != TT_OK ||
        tt_resp_set_output(span, &text, has_text, &refusal, has_refusal) !=
            TT_OK ||
        (json_array_size(tools) > 0 &&
         tt_json_set_field(&span->tool_calls, json_incref(tools)) != TT_OK))
        goto out;
    rc = TT_OK;
out:
    tt_buf_free(&text);
    tt_buf_free(&refusal);
    json_decref(tools);
    json_decref(root);
    return rc;
}

/* --- response: stream --------------------------------------------------- */

/* The tool call of an output item, by output_index (item_id, n when the
 * index is missing: index < 0); NULL past the table. */
static struct tt_resp_tool *tt_resp_tool_at(struct tt_resp_state *st, int64_t index,
                                            const char *item_id, size_t n)
{
    for (size_t i = 0; i < st->ntools; i++) {
        struct tt_resp_tool *t = &st->tools[i];
        if (index >= 0 ? t->output_index == index
                       : (item_id && t->item_id &&
                          strlen(t->item_id) == n &&
                          memcmp(t->item_id, item_id, n) == 0))
            return t;
    }
    if (st->ntools == TT_RESP_MAX_TOOLS)
        return NULL;
    struct tt_resp_tool *t = &st->tools[st->ntools++];
    t->output_index = index;
    tt_buf_init(&t->args, TT_RESP_TEXT_BUDGET);
    return t;
}

/* The same for an event's tree. */
static struct tt_resp_tool *tt_resp_tool(struct tt_resp_state *st,
                                         const json_t *ev)
{
    int64_t index = -1;
    size_t n = 0;
    const char *item_id = tt_json_str(json_object_get(ev, "item_id"), &n);
    json_t *item = json_object_get(ev, "item");

    if (!item_id)
        item_id = tt_json_str(json_object_get(item, "id"), &n);
    if (tt_json_int64(json_object_get(ev, "output_index"), &index) != TT_OK)
        index = -1;
    return tt_resp_tool_at(st, index, item_id, n);
}

/* Append streamed text within the response's budget (see openai.c). */
static int tt_resp_acc(struct tt_resp_state *st, struct tt_span *span,
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

/* Replace a tool's arguments with the complete text of a .done event or
 * a finished item. */
static int tt_resp_tool_args_set(struct tt_resp_state *st,
                                 struct tt_span *span, struct tt_resp_tool *t,
                                 const json_t *v)
{
    size_t n = 0;
    const char *s = tt_json_str(v, &n);

    if (!s || !tt_api_capture_content())
        return TT_OK;
    st->budget += t->args.len;
    tt_buf_reset(&t->args);
    return tt_resp_acc(st, span, &t->args, s, n);
}

/* output_item.added / .done: a tool call's identity, and (done) its
 * final arguments. */
static int tt_resp_item_event(struct tt_resp_state *st, struct tt_span *span,
                              const json_t *ev, bool done)
{
    json_t *item = json_object_get(ev, "item");
    const char *af = tt_resp_tool_args_field(item);
    struct tt_resp_tool *t;

    if (!af || !(t = tt_resp_tool(st, ev)))
        return TT_OK;
    (void)tt_json_set_str(&t->item_id, json_object_get(item, "id"));
    (void)tt_json_set_str(&t->call_id, json_object_get(item, "call_id"));
    (void)tt_json_set_str(&t->name, json_object_get(item, "name"));
    return done ? tt_resp_tool_args_set(st, span, t, json_object_get(item, af))
                : TT_OK;
}

static bool tt_resp_event_is(const char *type, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(type, name, n) == 0;
}

static bool tt_resp_is_done(const char *d, size_t n)
{
    while (n > 0 && tt_resp_is_ws(d[n - 1]))
        n--;
    return n == 6 && memcmp(d, "[DONE]", 6) == 0;
}

/* --- the usual events, without a tree ------------------------------------
 *
 * A Responses stream is mostly text deltas, and its response.created,
 * .in_progress and .completed events each carry the whole response object
 * (with the instructions and tools: tens of KB for a coding agent).
 * Building a jansson tree of every event was most of what a Responses call
 * cost (bench fig 16: ~380,000 of the ~560,000 instructions a WebSocket
 * call added). Here the event is validated once (tt_json_valid: what
 * jansson would accept) and its members read as slices; only the events
 * that need a tree take the tree path below: a terminal event (its
 * response is kept as st->final), an error, a tool-call item, a tool
 * call's final arguments, an event without a plain "type". An event the
 * tree path would ignore is ignored here. */

#define TT_RESP_SLOW 1          /* not handled here: take the tree path */

enum { RK_TYPE, RK_DELTA, RK_RESPONSE, RK_ITEM, RK_OUTPUT_INDEX, RK_ITEM_ID, RK_N };

static const char *const tt_resp_event_keys[RK_N] = {
    [RK_TYPE] = "type", [RK_DELTA] = "delta", [RK_RESPONSE] = "response",
    [RK_ITEM] = "item", [RK_OUTPUT_INDEX] = "output_index", [RK_ITEM_ID] = "item_id",
};

/* A fragment event (tt_resp_deltas[i]) whose members are m. */
static int tt_resp_delta_fast(struct tt_resp_state *st, struct tt_span *span,
                              enum tt_resp_frag what, const struct tt_json_slice *m,
                              int64_t now)
{
    const struct tt_json_slice *d = &m[RK_DELTA];
    struct tt_buf *into = NULL;
    struct tt_resp_tool *t = NULL;

    if (tt_json_kind_of(d) != TT_JSON_STRING)
        return TT_OK;           /* the tree path ignores it too */
    if (what == TT_RESP_TOOL_ARGS) {
        int64_t index = -1;
        const struct tt_json_slice *id = &m[RK_ITEM_ID];
        if (m[RK_OUTPUT_INDEX].ptr &&
            tt_json_slice_int(&m[RK_OUTPUT_INDEX], &index) != TT_OK)
            return TT_RESP_SLOW;        /* 1.0, 1e0: as jansson reads it */
        if (index < 0 && (m[RK_ITEM].ptr ||
                          (id->ptr && (tt_json_kind_of(id) != TT_JSON_STRING ||
                                       memchr(id->ptr, '\\', id->len)))))
            return TT_RESP_SLOW;        /* the item's id, or an escaped one */
        bool by_id = index < 0 && tt_json_kind_of(id) == TT_JSON_STRING;
        t = tt_resp_tool_at(st, index, by_id ? id->ptr + 1 : NULL,
                            by_id ? id->len - 2 : 0);
    }
    if (d->len > 2)
        tt_span_first_token(span, now);
    switch (what) {
    case TT_RESP_TEXT:
        st->has_text = true;
        into = &st->text;
        break;
    case TT_RESP_REFUSAL:
        st->has_refusal = true;
        into = &st->refusal;
        break;
    case TT_RESP_TOOL_ARGS:
        into = t ? &t->args : NULL;
        break;
    }
    if (!into || !tt_api_capture_content())
        return TT_OK;
    return tt_json_str_append_budget(d, into, &st->budget, &span->truncated);
}

/* TT_OK or an error: the event is done. TT_RESP_SLOW: take the tree. */
static int tt_resp_event_fast(struct tt_resp_state *st, struct tt_span *span,
                              const char *data, size_t data_len, int64_t now)
{
    struct tt_json_slice m[RK_N], rm[2];
    static const char *const resp_keys[2] = { "id", "model" };

    /* Validated and read in one pass; not valid: one lost event costs its
     * content only; valid but not an object: the tree path says so. */
    if (tt_json_valid_members(data, data_len, tt_resp_event_keys, RK_N, m) != TT_OK)
        return tt_json_valid(data, data_len) != TT_OK ? TT_ERR_PARSE : TT_RESP_SLOW;
    /* A type as sent, without escapes; otherwise the tree path (which
     * also takes the event: line when there is none). */
    const struct tt_json_slice *ty = &m[RK_TYPE];
    if (tt_json_kind_of(ty) != TT_JSON_STRING || memchr(ty->ptr, '\\', ty->len))
        return TT_RESP_SLOW;
    const char *type = ty->ptr + 1;
    size_t tn = ty->len - 2;

    if (tt_resp_event_is(type, tn, "error"))
        return TT_RESP_SLOW;
    for (size_t i = 0; i < TT_NELEM(tt_resp_terminal_events); i++)
        if (tt_resp_event_is(type, tn, tt_resp_terminal_events[i]))
            return TT_RESP_SLOW;
    if (tt_resp_event_is(type, tn, "response.function_call_arguments.done"))
        return TT_RESP_SLOW;
    for (size_t i = 0; i < TT_NELEM(tt_resp_deltas); i++)
        if (tt_resp_event_is(type, tn, tt_resp_deltas[i].event))
            return tt_resp_delta_fast(st, span, tt_resp_deltas[i].what, m, now);
    if (tt_resp_event_is(type, tn, "response.created") ||
        tt_resp_event_is(type, tn, "response.in_progress")) {
        if (tt_json_kind_of(&m[RK_RESPONSE]) == TT_JSON_OBJECT &&
            tt_json_members(m[RK_RESPONSE].ptr, m[RK_RESPONSE].len, resp_keys, 2, rm) == TT_OK) {
            tt_json_set_slice_str(&span->response_id, &rm[0]);
            tt_json_set_slice_str(&span->response_model, &rm[1]);
        }
        return TT_OK;
    }
    if (tt_resp_event_is(type, tn, "response.output_item.added") ||
        tt_resp_event_is(type, tn, "response.output_item.done")) {
        /* Only a tool call's item matters (tt_resp_item_event). */
        static const char *const item_keys[1] = { "type" };
        struct tt_json_slice it;
        if (tt_json_kind_of(&m[RK_ITEM]) != TT_JSON_OBJECT ||
            tt_json_members(m[RK_ITEM].ptr, m[RK_ITEM].len, item_keys, 1, &it) != TT_OK)
            return TT_OK;       /* no item: nothing for the tree path either */
        for (size_t i = 0; i < TT_NELEM(tt_resp_tool_items); i++)
            if (tt_json_str_is(&it, tt_resp_tool_items[i].type) ||
                (it.ptr && memchr(it.ptr, '\\', it.len)))
                return TT_RESP_SLOW;
        return TT_OK;
    }
    return TT_OK;               /* an event the span takes nothing from */
}

static int tt_resp_sse_event(void *state, struct tt_span *span,
                             const char *event, size_t event_len,
                             const char *data, size_t data_len, int64_t now)
{
    struct tt_resp_state *st = state;
    json_t *root = NULL, *err;
    size_t tn = 0, n = 0;
    const char *type, *s;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if (st->terminal || tt_resp_is_done(data, data_len))
        return TT_OK;           /* nothing is defined after the end */
    if ((rc = tt_resp_event_fast(st, span, data, data_len, now)) != TT_RESP_SLOW)
        return rc;
    rc = TT_OK;
    if (tt_json_parse(data, data_len, &root) != TT_OK ||
        !json_is_object(root)) {
        rc = TT_ERR_PARSE;      /* one lost event costs its content only */
        goto out;
    }
    /* data.type names the event; the event: line is the fallback. */
    type = tt_json_str(json_object_get(root, "type"), &tn);
    if (!type) {
        type = event;
        tn = event_len;
    }

    err = json_object_get(root, "error");
    if (tt_resp_event_is(type, tn, "error") ||
        (!json_object_get(root, "type") && err && !json_is_null(err))) {
        /* The flat ResponseErrorEvent, or a chat-style {"error":{..}}
         * from a gateway. In a stream the first error is the cause. */
        if (json_is_object(err)) {
            tt_resp_fail(span, err, false);
        } else {
            /* Its "type" is the event's ("error"): name it by "code". */
            json_t *e = json_object();
            json_t *code = json_object_get(root, "code");
            json_t *msg = json_object_get(root, "message");
            if (e && code)
                (void)json_object_set_new(e, "code", json_incref(code));
            if (e && msg)
                (void)json_object_set_new(e, "message", json_incref(msg));
            tt_resp_fail(span, e ? e : root, false);
            json_decref(e);
        }
        goto out;
    }
    for (size_t i = 0; i < TT_NELEM(tt_resp_terminal_events); i++) {
        if (!tt_resp_event_is(type, tn, tt_resp_terminal_events[i]))
            continue;
        st->terminal = true;
        json_decref(st->final);
        st->final = json_incref(json_object_get(root, "response"));
        goto out;
    }
    if (tt_resp_event_is(type, tn, "response.created") ||
        tt_resp_event_is(type, tn, "response.in_progress")) {
        json_t *resp = json_object_get(root, "response");
        (void)tt_json_set_str(&span->response_id, json_object_get(resp, "id"));
        (void)tt_json_set_str(&span->response_model,
                              json_object_get(resp, "model"));
        goto out;
    }
    if (tt_resp_event_is(type, tn, "response.output_item.added") ||
        tt_resp_event_is(type, tn, "response.output_item.done")) {
        rc = tt_resp_item_event(
            st, span, root,
            tt_resp_event_is(type, tn, "response.output_item.done"));
        goto out;
    }
    if (tt_resp_event_is(type, tn, "response.function_call_arguments.done")) {
        struct tt_resp_tool *t = tt_resp_tool(st, root);
        if (t)
            rc = tt_resp_tool_args_set(st, span, t,
                                       json_object_get(root, "arguments"));
        goto out;
    }
    for (size_t i = 0; i < TT_NELEM(tt_resp_deltas); i++) {
        struct tt_resp_tool *t;
        if (!tt_resp_event_is(type, tn, tt_resp_deltas[i].event))
            continue;
        s = tt_json_str(json_object_get(root, "delta"), &n);
        if (!s)
            break;
        if (n > 0)
            tt_span_first_token(span, now);
        switch (tt_resp_deltas[i].what) {
        case TT_RESP_TEXT:
            st->has_text = true;
            if (tt_api_capture_content())
                rc = tt_resp_acc(st, span, &st->text, s, n);
            break;
        case TT_RESP_REFUSAL:
            st->has_refusal = true;
            if (tt_api_capture_content())
                rc = tt_resp_acc(st, span, &st->refusal, s, n);
            break;
        case TT_RESP_TOOL_ARGS:
            t = tt_resp_tool(st, root);
            if (t && tt_api_capture_content())
                rc = tt_resp_acc(st, span, &t->args, s, n);
            break;
        }
        break;
    }
out:
    json_decref(root);
    return rc;
}

/* The streamed tool calls, in output order. */
static int tt_resp_stream_tools(struct tt_resp_state *st, json_t *tools)
{
    bool capture = tt_api_capture_content();

    for (size_t i = 1; i < st->ntools; i++) {
        struct tt_resp_tool tmp = st->tools[i];
        size_t j = i;
        while (j > 0 && st->tools[j - 1].output_index > tmp.output_index) {
            st->tools[j] = st->tools[j - 1];
            j--;
        }
        st->tools[j] = tmp;
    }
    for (size_t i = 0; i < st->ntools; i++) {
        struct tt_resp_tool *t = &st->tools[i];
        if (tt_resp_tool_json(tools, t->call_id, t->item_id, t->name,
                              capture ? (t->args.data ? t->args.data : "")
                                      : NULL,
                              t->args.len) != TT_OK)
            return TT_ERR_NOMEM;
    }
    return TT_OK;
}

/* The span of a stream: the terminal response object when it has its
 * output (the API sends it whole), else what the deltas rebuilt (a cut
 * stream, or a gateway that strips the final output). */
static int tt_resp_stream_end(struct tt_resp_state *st, struct tt_span *span)
{
    json_t *output = json_object_get(st->final, "output");
    json_t *tools = json_array();
    struct tt_buf text, refusal;
    bool has_text = false, has_refusal = false;
    int rc = TT_ERR_NOMEM;

    tt_buf_init(&text, TT_RESP_TEXT_BUDGET);
    tt_buf_init(&refusal, TT_RESP_TEXT_BUDGET);
    if (!tools)
        goto out;
    if (json_array_size(output) > 0) {
        if (tt_resp_items(output, &text, &has_text, &refusal, &has_refusal,
                          tools) != TT_OK ||
            tt_resp_set_output(span, &text, has_text, &refusal,
                               has_refusal) != TT_OK)
            goto out;
    } else {
        if (tt_resp_stream_tools(st, tools) != TT_OK ||
            tt_resp_set_output(span, &st->text, st->has_text, &st->refusal,
                               st->has_refusal) != TT_OK)
            goto out;
    }
    if (!st->final)
        tt_span_clear_usage(span);
    else if (tt_resp_apply(span, st->final, json_array_size(tools) > 0,
                           false) != TT_OK)
        goto out;
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)) != TT_OK)
        goto out;
    rc = TT_OK;
out:
    tt_buf_free(&text);
    tt_buf_free(&refusal);
    json_decref(tools);
    return rc;
}

static int tt_resp_stream_end_op(void *state, struct tt_span *span, const char **missing)
{
    struct tt_resp_state *st = state;
    int rc = tt_resp_stream_end(st, span);

    *missing = !st->terminal ? "no terminal event" : NULL;
    return rc;
}

const struct tt_api_ops tt_openai_responses_api = {
    .name = "openai.responses",
    .operation = "chat",
    .default_provider = "openai",
    .request = tt_resp_request,
    .response_begin = tt_resp_response_begin,
    .sse_event = tt_resp_sse_event,
    .body = tt_resp_body,
    .stream_end = tt_resp_stream_end_op,
    .response_free = tt_resp_response_free,
};
