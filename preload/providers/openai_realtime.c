/* openai_realtime.c - OpenAI Realtime API responses (WebSocket
 * /v1/realtime?model=...), one span per response.
 *
 * The Realtime API is a WebSocket of JSON events (preload/ws_api.c frames
 * and routes them). ws_api.c builds this parser's "request" itself, once
 * the server said response.created:
 *   {"model": <from the URL's model= or the session>,
 *    "input": [<conversation.item.create items since the last response>],
 *    "response": <the client's response.create "response" object, if any>}
 * and hands every server event of that response to sse_event (the event
 * name is the message's "type").
 *
 * Events (GA names and the beta's, both seen in the field):
 *   response.created                      response id
 *   response.output_text.delta / response.text.delta,
 *   response.output_audio_transcript.delta / response.audio_transcript.delta
 *                                         text (first one: TTFT)
 *   response.output_audio.delta / response.audio.delta
 *                                         audio (first one: TTFT)
 *   response.function_call_arguments.delta  (first one: TTFT)
 *   response.done                         the final response object: status,
 *                                         status_details, output items, usage
 * usage: input_tokens (all input: text + audio + image, cached included),
 * output_tokens (text + audio), input_token_details.{cached_tokens,
 * text_tokens, audio_tokens, image_tokens, cached_tokens_details},
 * output_token_details.{text_tokens, audio_tokens}. The audio parts go to
 * audio_input_tokens / audio_output_tokens (priced at the audio rates).
 *
 * Span content: input as built above; output the text parts (or audio
 * transcripts) of the message items of response.done, else the streamed
 * text; tool_calls from function_call items [{id: call_id, name,
 * arguments}]. */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"
#include "rt.h"
#include "ws_api.h"

#include <stdlib.h>
#include <string.h>

#define RT_TEXT_BUDGET ((size_t)8 << 20)
#define RT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum rt_slot { RT_IN, RT_OUT, RT_CACHED, RT_AUDIO_IN, RT_IMAGE_IN, RT_AUDIO_OUT,
               RT_NSLOTS };

static const struct tt_json_count_field rt_usage_fields[] = {
    { RT_IN, true, { "input_tokens", NULL } },
    { RT_OUT, true, { "output_tokens", NULL } },
    { RT_CACHED, false, { "input_token_details", "cached_tokens", NULL } },
    { RT_AUDIO_IN, false, { "input_token_details", "audio_tokens", NULL } },
    { RT_IMAGE_IN, false, { "input_token_details", "image_tokens", NULL } },
    { RT_AUDIO_OUT, false, { "output_token_details", "audio_tokens", NULL } },
};

static const char *const rt_text_deltas[] = {
    "response.output_text.delta", "response.text.delta",
    "response.output_audio_transcript.delta", "response.audio_transcript.delta",
};
static const char *const rt_other_deltas[] = {
    "response.output_audio.delta", "response.audio.delta",
    "response.function_call_arguments.delta",
};

struct rt_state {
    bool done;
    json_t *final;            /* response.done's "response" */
    struct tt_buf text;       /* streamed text / transcript */
};

static bool rt_is(const char *t, size_t n, const char *name)
{
    return t && strlen(name) == n && memcmp(t, name, n) == 0;
}

static int rt_request(struct tt_span *span, const char *body, size_t len)
{
    json_t *root = NULL;
    int rc = TT_OK;

    span->stream = true;
    if (tt_json_parse(body, len, &root) != TT_OK || !json_is_object(root)) {
        rc = TT_ERR_PARSE;
        goto out;
    }
    (void)tt_json_set_str(&span->request_model, json_object_get(root, "model"));
    json_t *resp = json_object_get(root, "response");
    int64_t mx;
    if (tt_json_int64(json_object_get(resp, "max_output_tokens"), &mx) == TT_OK ||
        tt_json_int64(json_object_get(resp, "max_response_output_tokens"), &mx) == TT_OK) {
        span->has_max_tokens = true;
        span->max_tokens = mx;
    }
    if (tt_api_capture_content()) {
        json_t *in = json_object_get(root, "input");
        if (in && json_array_size(in) &&
            tt_json_set_field(&span->input, json_incref(in)) == TT_ERR_NOMEM)
            rc = TT_ERR_NOMEM;
    }
out:
    if (tt_span_set_name(span, "chat") != TT_OK)
        rc = TT_ERR_NOMEM;
    json_decref(root);
    return rc;
}

static int rt_begin(struct tt_span *span, void **state)
{
    struct rt_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    tt_buf_init(&st->text, RT_TEXT_BUDGET);
    return TT_OK;
}

static void rt_free(void *state)
{
    struct rt_state *st = state;

    if (!st)
        return;
    json_decref(st->final);
    tt_buf_free(&st->text);
    free(st);
}

static int rt_event(void *state, struct tt_span *span, const char *event,
                    size_t event_len, const char *data, size_t data_len,
                    int64_t now)
{
    struct rt_state *st = state;
    json_t *root = NULL;
    size_t n = 0;
    const char *s;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    if (st->done)
        return TT_OK;
    for (size_t i = 0; i < RT_NELEM(rt_other_deltas); i++) {
        if (rt_is(event, event_len, rt_other_deltas[i])) {
            tt_span_first_token(span, now);   /* audio: not parsed */
            return TT_OK;
        }
    }
    if (tt_json_parse(data, data_len, &root) != TT_OK || !json_is_object(root)) {
        rc = TT_ERR_PARSE;
        goto out;
    }
    for (size_t i = 0; i < RT_NELEM(rt_text_deltas); i++) {
        if (!rt_is(event, event_len, rt_text_deltas[i]))
            continue;
        s = tt_json_str(json_object_get(root, "delta"), &n);
        if (s && n) {
            tt_span_first_token(span, now);
            if (tt_api_capture_content() &&
                tt_buf_append(&st->text, s, n) == TT_ERR_CAP)
                span->truncated = true;
        }
        goto out;
    }
    if (rt_is(event, event_len, "response.created")) {
        (void)tt_json_set_str(&span->response_id,
                              json_object_get(json_object_get(root, "response"), "id"));
    } else if (rt_is(event, event_len, "response.done")) {
        st->done = true;
        st->final = json_incref(json_object_get(root, "response"));
    } else if (rt_is(event, event_len, "error")) {
        char *msg = NULL;
        if (tt_json_error_text(json_object_get(root, "error"), &msg) == TT_OK) {
            tt_span_fail(span, msg, false);
            free(msg);
        } else {
            tt_span_fail(span, "realtime error event", false);
        }
    }
out:
    json_decref(root);
    return rc;
}

/* Output items of response.done: text (or audio transcripts) and tool
 * calls. */
static int rt_items(struct tt_span *span, const json_t *output, bool *tools_seen)
{
    bool capture = tt_api_capture_content();
    struct tt_buf text;
    json_t *tools = json_array();
    int rc = TT_OK;
    bool any_text = false;

    tt_buf_init(&text, RT_TEXT_BUDGET);
    if (!tools)
        return TT_ERR_NOMEM;
    for (size_t i = 0; i < json_array_size(output); i++) {
        json_t *it = json_array_get(output, i);
        const char *type = tt_json_str(json_object_get(it, "type"), NULL);
        if (type && !strcmp(type, "function_call")) {
            json_t *t = json_object();
            if (!t)
                continue;
            json_t *id = json_object_get(it, "call_id");
            json_t *name = json_object_get(it, "name");
            json_t *args = json_object_get(it, "arguments");
            if (id)
                (void)json_object_set_new(t, "id", json_incref(id));
            if (name)
                (void)json_object_set_new(t, "name", json_incref(name));
            if (capture && args)
                (void)json_object_set_new(t, "arguments", json_incref(args));
            (void)json_array_append_new(tools, t);
            continue;
        }
        if (!type || strcmp(type, "message"))
            continue;
        json_t *content = json_object_get(it, "content");
        for (size_t j = 0; j < json_array_size(content); j++) {
            json_t *part = json_array_get(content, j);
            size_t n = 0;
            const char *s = tt_json_str(json_object_get(part, "text"), &n);
            if (!s)
                s = tt_json_str(json_object_get(part, "transcript"), &n);
            if (s && n) {
                any_text = true;
                if (capture && tt_buf_append(&text, s, n) == TT_ERR_CAP)
                    span->truncated = true;
            }
        }
    }
    *tools_seen = json_array_size(tools) > 0;
    if (*tools_seen) {
        if (tt_json_set_field(&span->tool_calls, tools) == TT_ERR_NOMEM)
            rc = TT_ERR_NOMEM;
        tools = NULL;
    }
    if (capture && any_text) {
        json_t *o = json_stringn(text.data ? text.data : "", text.len);
        if (o && tt_json_set_field(&span->output, o) == TT_ERR_NOMEM)
            rc = TT_ERR_NOMEM;
    }
    json_decref(tools);
    tt_buf_free(&text);
    return rc;
}

static int rt_usage(struct tt_span *span, const json_t *usage)
{
    int64_t c[RT_NSLOTS];
    bool present[RT_NSLOTS];

    if (!usage || json_is_null(usage))
        return TT_OK;
    if (tt_json_counts(usage, rt_usage_fields, RT_NELEM(rt_usage_fields), c,
                       present, RT_NSLOTS) != TT_OK) {
        tt_span_fail(span, "realtime usage malformed", false);
        return TT_ERR_PARSE;
    }
    span->input_tokens = c[RT_IN];
    span->output_tokens = c[RT_OUT];
    span->cache_read_tokens = c[RT_CACHED];
    span->audio_input_tokens = c[RT_AUDIO_IN];
    span->image_input_tokens = c[RT_IMAGE_IN];
    span->audio_output_tokens = c[RT_AUDIO_OUT];
    span->usage_known = true;
    return TT_OK;
}

static int rt_set_text(struct tt_span *span, const struct tt_buf *b)
{
    json_t *o = json_stringn(b->data ? b->data : "", b->len);

    return o ? tt_json_set_field(&span->output, o) : TT_ERR_NOMEM;
}

/* The stream ended (tt_api_response_end judges how): the span from
 * response.done; without it, *missing says so and only the streamed text
 * is kept. */
static int rt_stream_end(void *state, struct tt_span *span, const char **missing)
{
    struct rt_state *st = state;
    const char *reason = NULL;
    bool tools = false;
    int rc = TT_OK;

    if (!st->done) {
        *missing = "no response.done";
        tt_span_clear_usage(span);
        if (st->text.len && tt_api_capture_content() &&
            rt_set_text(span, &st->text) == TT_ERR_NOMEM)
            rc = TT_ERR_NOMEM;
        return rc;
    }
    *missing = NULL;
    json_t *r = st->final;
    (void)tt_json_set_str(&span->response_id, json_object_get(r, "id"));
    rc = rt_usage(span, json_object_get(r, "usage"));
    if (rt_items(span, json_object_get(r, "output"), &tools) == TT_ERR_NOMEM)
        rc = TT_ERR_NOMEM;
    if (!span->output && st->text.len && tt_api_capture_content() &&
        rt_set_text(span, &st->text) == TT_ERR_NOMEM)
        rc = TT_ERR_NOMEM;
    const char *status = tt_json_str(json_object_get(r, "status"), NULL);
    json_t *details = json_object_get(r, "status_details");
    if (status && !strcmp(status, "completed"))
        reason = tools ? "tool_calls" : "stop";
    else if (status && !strcmp(status, "cancelled"))
        reason = "cancelled";
    else if (status && !strcmp(status, "incomplete"))
        reason = tt_json_str(json_object_get(details, "reason"), NULL);
    if (!reason && status && !strcmp(status, "incomplete"))
        reason = "incomplete";
    if (status && !strcmp(status, "failed")) {
        char *msg = NULL;
        if (tt_json_error_text(json_object_get(details, "error"), &msg) == TT_OK) {
            tt_span_fail(span, msg, false);
            free(msg);
        } else {
            tt_span_fail(span, "realtime response failed", false);
        }
    }
    if (reason) {
        json_t *a = json_array();
        if (a && json_array_append_new(a, json_string(reason)) == 0) {
            if (tt_json_set_field(&span->finish_reasons, a) == TT_ERR_NOMEM)
                rc = TT_ERR_NOMEM;
        } else {
            json_decref(a);
        }
    }
    return rc;
}

const struct tt_api_ops tt_openai_realtime_api = {
    .name = "openai.realtime",
    .operation = "chat",
    .default_provider = "openai",
    .request = rt_request,
    .response_begin = rt_begin,
    .sse_event = rt_event,
    .stream_end = rt_stream_end,
    .response_free = rt_free,
};
