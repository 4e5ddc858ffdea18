/* ollama.c - Ollama's native API: POST /api/chat and POST /api/generate.
 *
 * Ollama also serves the OpenAI format under /v1 (providers/openai.c reads
 * that); this file is the native one (research/providers.md section 8,
 * ollama docs/api.md and api/types.go):
 *   - "stream" defaults to TRUE: a request without the field streams;
 *   - a stream is NDJSON (application/x-ndjson), one object per line; the
 *     last one has "done":true, "done_reason" and the Metrics counts;
 *   - prompt_eval_count / eval_count are omitempty: absent means 0, but a
 *     final object with neither says nothing about usage;
 *   - errors are {"error":"text"}, as a whole body (with an HTTP status) or
 *     as a line of a stream that had already started.
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       chat: the request's "messages" array; generate: "prompt".
 *   output      the completion text as a JSON string (message.content or
 *               response, concatenated over a stream); absent when empty
 *               (a tool-call-only answer).
 *   tool_calls  [{"id":..,"name":..,"arguments":..}]; Ollama sends
 *               arguments as an object, stored here as its JSON text so that
 *               "arguments" is always a string, as for every provider. With
 *               content capture off the array keeps id and name only.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

/* Streamed text kept per response: the transport caps bodies, but a
 * stream is handed over line by line. */
#define TT_OLLAMA_TEXT_BUDGET ((size_t)8 << 20)

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_ollama_slot { TT_OLLAMA_IN, TT_OLLAMA_OUT, TT_OLLAMA_NSLOTS };

/* Ollama's counts are totals: prompt_eval_count is the whole prompt that
 * was evaluated, eval_count every generated token (thinking included).
 * Neither is required: see tt_ollama_usage. */
static const struct tt_json_count_field tt_ollama_usage_fields[] = {
    { TT_OLLAMA_IN, false, { "prompt_eval_count", NULL } },
    { TT_OLLAMA_OUT, false, { "eval_count", NULL } },
};

/* What differs between the two endpoints. */
struct tt_ollama_kind {
    const struct tt_api_ops *ops;
    const char *input_key;            /* request member captured as input */
    const char *content[3];           /* completion text in a body/line */
    const char *thinking[3];          /* reasoning text (think: true) */
};

static const struct tt_ollama_kind tt_ollama_chat_kind = {
    &tt_ollama_chat_api, "messages",
    { "message", "content", NULL }, { "message", "thinking", NULL },
};

static const struct tt_ollama_kind tt_ollama_generate_kind = {
    &tt_ollama_generate_api, "prompt",
    { "response", NULL }, { "thinking", NULL },
};

/* Request options (the "options" object) and the span field they fill. */
enum tt_ollama_opt { TT_OLLAMA_TEMP, TT_OLLAMA_TOP_P, TT_OLLAMA_NUM_PREDICT };

static const struct {
    const char *key;
    enum tt_ollama_opt opt;
} tt_ollama_options[] = {
    { "temperature", TT_OLLAMA_TEMP },
    { "top_p", TT_OLLAMA_TOP_P },
    { "num_predict", TT_OLLAMA_NUM_PREDICT },
};

struct tt_ollama_state {
    const struct tt_ollama_kind *kind;
    bool got_body;
    bool got_lines;
    bool done;                        /* the "done":true object was seen */
    size_t budget;                    /* streamed text bytes still allowed */
    struct tt_buf content;
    json_t *tools;                    /* span tool_calls array, built as we go */
};

/* --- shared pieces ------------------------------------------------------ */

/* An {"error": ...} object fails the span. Returns true when there was
 * one. A body's error is more precise than the HTTP status the transport
 * may have set first (override); in a stream the first error is the cause. */
static bool tt_ollama_error(struct tt_span *span, const json_t *root,
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

/* Usage from a final object. Known when at least one count is present
 * (the other is then 0, as omitempty means); an invalid count makes the
 * whole usage unknown rather than half right. */
static void tt_ollama_usage(struct tt_span *span, const json_t *root)
{
    int64_t u[TT_OLLAMA_NSLOTS];
    bool present[TT_OLLAMA_NSLOTS];

    tt_span_clear_usage(span);
    if (tt_json_counts(root, tt_ollama_usage_fields,
                       TT_NELEM(tt_ollama_usage_fields), u, present,
                       TT_OLLAMA_NSLOTS) != TT_OK ||
        (!present[TT_OLLAMA_IN] && !present[TT_OLLAMA_OUT]))
        return;
    span->input_tokens = u[TT_OLLAMA_IN];
    span->output_tokens = u[TT_OLLAMA_OUT];
    span->usage_known = true;
}

static int tt_ollama_finish_reason(struct tt_span *span, const json_t *root)
{
    json_t *r = json_object_get(root, "done_reason");
    json_t *arr;

    if (!json_is_string(r) || json_string_length(r) == 0)
        return TT_OK;
    arr = json_array();
    if (!arr || json_array_append(arr, r)) {
        json_decref(arr);
        return TT_ERR_NOMEM;
    }
    return tt_json_set_field(&span->finish_reasons, arr);
}

/* Appends message.tool_calls of one body or line to tools. */
static int tt_ollama_tool_calls(json_t *tools, const json_t *root)
{
    json_t *tcs = tt_json_get(root, "message", "tool_calls", NULL);
    bool capture = tt_api_capture_content();

    for (size_t i = 0; i < json_array_size(tcs); i++) {
        json_t *tc = json_array_get(tcs, i);
        json_t *fn = json_object_get(tc, "function");
        json_t *id = json_object_get(tc, "id");
        json_t *name = json_object_get(fn, "name");
        json_t *args = capture ? json_object_get(fn, "arguments") : NULL;
        json_t *o = json_object();
        char *txt = NULL;

        if (!o)
            return TT_ERR_NOMEM;
        if (json_object_set_new(o, "id", json_is_string(id) ? json_incref(id)
                                                            : json_null()) ||
            json_object_set_new(o, "name", json_is_string(name)
                                               ? json_incref(name)
                                               : json_null()))
            goto nomem;
        if (args && !json_is_null(args)) {
            if (json_is_string(args)) {
                if (json_object_set_new(o, "arguments", json_incref(args)))
                    goto nomem;
            } else {
                if (tt_json_dump(args, &txt) != TT_OK)
                    goto nomem;
                int e = json_object_set_new(o, "arguments", json_string(txt));
                free(txt);
                if (e)
                    goto nomem;
            }
        }
        if (json_array_append_new(tools, o))
            return TT_ERR_NOMEM;
        continue;
nomem:
        json_decref(o);
        return TT_ERR_NOMEM;
    }
    return TT_OK;
}

static void tt_ollama_set_name(struct tt_span *span, const char *operation)
{
    /* On OOM the name stays as it was: the span is still worth delivering. */
    if (tt_span_set_name(span, operation) != TT_OK)
        return;
}

/* --- request ------------------------------------------------------------ */

static int tt_ollama_request(const struct tt_ollama_kind *k,
                             struct tt_span *span, const char *body,
                             size_t len)
{
    json_t *root = NULL, *opts, *stream, *in;
    int rc;

    /* A body cut at the capture cap still gives every member before the
     * cut. */
    rc = tt_json_parse_prefix(body, len, &root) == TT_OK ? TT_OK
                                                          : TT_ERR_PARSE;
    if (tt_span_set(&span->operation, k->ops->operation) != TT_OK) {
        rc = TT_ERR_NOMEM;
        goto out;
    }
    /* Absent (or cut off) "stream" means a stream: Ollama's default. */
    stream = json_object_get(root, "stream");
    span->stream = !json_is_false(stream);
    span->has_temperature = span->has_top_p = span->has_max_tokens = false;
    if (root) {
        (void)tt_json_set_str(&span->request_model,
                              json_object_get(root, "model"));
        opts = json_object_get(root, "options");
        for (size_t i = 0; i < TT_NELEM(tt_ollama_options); i++) {
            json_t *v = json_object_get(opts, tt_ollama_options[i].key);
            switch (tt_ollama_options[i].opt) {
            case TT_OLLAMA_TEMP:
                span->has_temperature =
                    tt_json_double(v, &span->temperature) == TT_OK;
                break;
            case TT_OLLAMA_TOP_P:
                span->has_top_p = tt_json_double(v, &span->top_p) == TT_OK;
                break;
            case TT_OLLAMA_NUM_PREDICT:
                /* -1 (infinite) and -2 (fill the context) are not caps. */
                span->has_max_tokens =
                    tt_json_int64(v, &span->max_tokens) == TT_OK &&
                    span->max_tokens >= 0;
                break;
            }
        }
        in = json_object_get(root, k->input_key);
        if (tt_api_capture_content() && in && !json_is_null(in) &&
            tt_json_set_field(&span->input, json_incref(in)) != TT_OK) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
    }
    tt_ollama_set_name(span, k->ops->operation);
out:
    json_decref(root);
    return rc;
}

static int tt_ollama_chat_request(struct tt_span *span, const char *body,
                                  size_t len)
{
    return tt_ollama_request(&tt_ollama_chat_kind, span, body, len);
}

static int tt_ollama_generate_request(struct tt_span *span, const char *body,
                                      size_t len)
{
    return tt_ollama_request(&tt_ollama_generate_kind, span, body, len);
}

/* --- response: common --------------------------------------------------- */

static int tt_ollama_begin(const struct tt_ollama_kind *k, void **state)
{
    struct tt_ollama_state *st = calloc(1, sizeof(*st));

    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->kind = k;
    st->budget = TT_OLLAMA_TEXT_BUDGET;
    tt_buf_init(&st->content, TT_OLLAMA_TEXT_BUDGET);
    st->tools = json_array();
    if (!st->tools) {
        free(st);
        *state = NULL;
        return TT_ERR_NOMEM;
    }
    return TT_OK;
}

static int tt_ollama_chat_begin(struct tt_span *span, void **state)
{
    (void)span;
    return tt_ollama_begin(&tt_ollama_chat_kind, state);
}

static int tt_ollama_generate_begin(struct tt_span *span, void **state)
{
    (void)span;
    return tt_ollama_begin(&tt_ollama_generate_kind, state);
}

static void tt_ollama_response_free(void *state)
{
    struct tt_ollama_state *st = state;

    if (!st)
        return;
    tt_buf_free(&st->content);
    json_decref(st->tools);
    free(st);
}

/* --- response: whole body ----------------------------------------------- */

static int tt_ollama_body(void *state, struct tt_span *span, const char *body,
                          size_t len)
{
    struct tt_ollama_state *st = state;
    json_t *root = NULL, *content;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
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
    if (tt_ollama_error(span, root, true))
        goto out;

    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    tt_ollama_usage(span, root);
    rc = TT_ERR_NOMEM;
    if (tt_ollama_finish_reason(span, root) != TT_OK)
        goto out;
    content = tt_json_getv(root, st->kind->content);
    if (tt_api_capture_content() && json_is_string(content) &&
        json_string_length(content) > 0 &&
        tt_json_set_field(&span->output, json_incref(content)) != TT_OK)
        goto out;
    if (tt_ollama_tool_calls(st->tools, root) != TT_OK)
        goto out;
    if (json_array_size(st->tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(st->tools)) != TT_OK)
        goto out;
    /* A body without "done":true is a partial answer (a proxy that
     * buffered half a stream): say so at the end. */
    st->done = json_is_true(json_object_get(root, "done"));
    rc = TT_OK;
out:
    json_decref(root);
    return rc;
}

/* --- response: NDJSON stream -------------------------------------------- */

static int tt_ollama_ndjson_line(void *state, struct tt_span *span,
                                 const char *line, size_t len, int64_t now)
{
    struct tt_ollama_state *st = state;
    json_t *root = NULL;
    const char *s;
    size_t n = 0, tn = 0;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_lines = true;
    if (st->done)
        return TT_OK;                 /* nothing is defined after done */
    /* A lost line costs its content, not the span: the final object with
     * the counts may still come. */
    if (tt_json_parse(line, len, &root) != TT_OK || !json_is_object(root)) {
        rc = TT_ERR_PARSE;
        goto out;
    }
    if (tt_ollama_error(span, root, false))
        goto out;
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));

    s = tt_json_str(tt_json_getv(root, st->kind->content), &n);
    /* The first non-empty piece of anything the model produced is the
     * first token; the empty "content":"" of thinking or tool-call lines
     * is not. */
    (void)tt_json_str(tt_json_getv(root, st->kind->thinking), &tn);
    if (n > 0 || tn > 0 ||
        json_array_size(tt_json_get(root, "message", "tool_calls", NULL)) > 0)
        tt_span_first_token(span, now);
    if (s && n > 0 && tt_api_capture_content()) {
        if (n > st->budget) {
            n = st->budget;
            span->truncated = true;
        }
        if (n > 0) {
            if (tt_buf_append(&st->content, s, n) == TT_ERR_NOMEM) {
                rc = TT_ERR_NOMEM;
                goto out;
            }
            st->budget -= n;
        }
    }
    if (tt_ollama_tool_calls(st->tools, root) != TT_OK) {
        rc = TT_ERR_NOMEM;
        goto out;
    }
    if (json_is_true(json_object_get(root, "done"))) {
        st->done = true;
        tt_ollama_usage(span, root);
        if (tt_ollama_finish_reason(span, root) != TT_OK)
            rc = TT_ERR_NOMEM;
    }
out:
    json_decref(root);
    return rc;
}

static int tt_ollama_body_end(void *state, struct tt_span *span, const char **why)
{
    struct tt_ollama_state *st = state;

    *why = !st->done && !span->error ? "response ended before completion (no done)" : NULL;
    return TT_OK;
}

static int tt_ollama_stream_end(void *state, struct tt_span *span, const char **missing)
{
    struct tt_ollama_state *st = state;

    *missing = st->done ? NULL : "no done";
    /* Usage only counts from the final object; a stream cut before it has
     * none, never a partial guess. */
    if (!st->done)
        tt_span_clear_usage(span);
    if (tt_api_capture_content() && st->content.len > 0 &&
        tt_json_set_field(&span->output,
                          json_stringn(st->content.data, st->content.len)) !=
            TT_OK)
        return TT_ERR_NOMEM;
    if (json_array_size(st->tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(st->tools)) != TT_OK)
        return TT_ERR_NOMEM;
    return TT_OK;
}

const struct tt_api_ops tt_ollama_chat_api = {
    .name = "ollama.chat",
    .operation = "chat",
    .default_provider = "ollama",
    .request = tt_ollama_chat_request,
    .response_begin = tt_ollama_chat_begin,
    .ndjson_line = tt_ollama_ndjson_line,
    .body = tt_ollama_body,
    .stream_end = tt_ollama_stream_end,
    .body_end = tt_ollama_body_end,
    .response_free = tt_ollama_response_free,
};

const struct tt_api_ops tt_ollama_generate_api = {
    .name = "ollama.generate",
    .operation = "text_completion",
    .default_provider = "ollama",
    .request = tt_ollama_generate_request,
    .response_begin = tt_ollama_generate_begin,
    .ndjson_line = tt_ollama_ndjson_line,
    .body = tt_ollama_body,
    .stream_end = tt_ollama_stream_end,
    .body_end = tt_ollama_body_end,
    .response_free = tt_ollama_response_free,
};
