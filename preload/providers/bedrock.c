/* bedrock.c - AWS Bedrock runtime: POST /model/{modelId}/converse,
 * /converse-stream, /invoke and /invoke-with-response-stream.
 *
 * research/providers.md section 7. The model id is only in the path,
 * URL-encoded (us.anthropic.claude-3-5-haiku-20241022-v1%3A0): it is
 * decoded into request_model. Streams are AWS event streams
 * (eventstream.h): exchange.c hands each message over as an sse_event,
 * event = its :event-type, exceptions as "exception:<type>".
 *
 * Converse usage: inputTokens EXCLUDES cache reads and writes ("total input
 * tokens = inputTokens + cacheReadInputTokens + cacheWriteInputTokens",
 * AWS prompt-caching guide, quoted in crmne/ruby_llm PR #832; LiteLLM PR
 * #15292): the span's input_tokens is the sum, as for Anthropic. In a
 * ConverseStream the usage comes in the last event, "metadata", after
 * "messageStop"; the stream is complete at messageStop.
 *
 * InvokeModel bodies are the model's own format; only Anthropic's Messages
 * format (anthropic_version "bedrock-2023-05-31") is understood, through
 * the Anthropic parser itself (tt_anthropic_messages_api): the invoke API
 * is that parser with the model and stream taken from the path, and with
 * InvokeModelWithResponseStream's "chunk" events unwrapped: their payload
 * is {"bytes":"<base64 of one Anthropic stream event JSON>"}.
 *
 * Errors: a non-2xx body is {"message":"..."} (the error type is in the
 * x-amzn-ErrorType header, which parsers do not see); inside a 200 stream
 * an exception message (throttlingException, modelStreamErrorException,
 * ...) with a {"message":"..."} payload.
 *
 * Span content shapes (Converse):
 *   input       the request's "messages" with "system" put first as
 *               {"role":"system","content":<system blocks as sent>}.
 *   output      the response message's content blocks as Bedrock sends
 *               them ([{"text":..},{"toolUse":{..}},{"reasoningContent":..}]);
 *               for streams rebuilt from the deltas.
 *   tool_calls  [{"id":toolUseId,"name":..,"arguments":<input as compact
 *               JSON text>}].
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_BEDROCK_MAX_BLOCKS 64
/* Streamed text kept per response: see openai.c. */
#define TT_BEDROCK_TEXT_BUDGET ((size_t)8 << 20)
#define TT_BEDROCK_MODEL_MAX 512

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* --- shared: path, errors ----------------------------------------------- */

static int tt_bedrock_hex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* request_model from "/model/{id}/...", percent-decoded (a malformed
 * escape is kept as it is); stream when the operation ends "-stream"
 * (converse-stream, invoke-with-response-stream). */
static int tt_bedrock_from_path(struct tt_span *span)
{
    static const char prefix[] = "/model/";
    const char *p = span->path, *id, *end, *q;
    char model[TT_BEDROCK_MODEL_MAX];
    size_t n = 0, plen;

    if (!p || strncmp(p, prefix, sizeof(prefix) - 1) != 0)
        return TT_ERR_PARSE;
    q = strchr(p, '?');
    plen = q ? (size_t)(q - p) : strlen(p);
    span->stream = plen >= 7 && memcmp(p + plen - 7, "-stream", 7) == 0;
    id = p + sizeof(prefix) - 1;
    end = memchr(id, '/', plen - (size_t)(id - p));
    if (!end || end == id)
        return TT_ERR_PARSE;
    for (const char *c = id; c < end && n < sizeof(model) - 1; c++) {
        int hi, lo;
        if (*c == '%' && end - c >= 3 && (hi = tt_bedrock_hex(c[1])) >= 0 &&
            (lo = tt_bedrock_hex(c[2])) >= 0 && (hi | lo) != 0) {
            model[n++] = (char)(hi << 4 | lo);
            c += 2;
        } else {
            model[n++] = *c;
        }
    }
    model[n] = '\0';
    return tt_span_set(&span->request_model, model);
}

/* OTel GenAI span name: "{operation} {request_model}". */
static int tt_bedrock_name(struct tt_span *span, const char *operation)
{
    return tt_span_set_name(span, operation);
}

/* {"message":"..."} (AWS JSON protocols; "Message" from some services) as
 * the span error, prefixed with the kind when known ("throttlingException:
 * Too many requests"). An unreadable payload still fails the span. */
static void tt_bedrock_fail(struct tt_span *span, const char *kind,
                            size_t kind_len, const char *data, size_t len,
                            bool override)
{
    json_t *root = NULL;
    const char *msg = NULL;
    size_t mn = 0;
    char text[512];

    if (tt_json_parse(data, len, &root) == TT_OK) {
        msg = tt_json_str(json_object_get(root, "message"), &mn);
        if (!msg)
            msg = tt_json_str(json_object_get(root, "Message"), &mn);
    }
    if (kind_len && msg)
        snprintf(text, sizeof(text), "%.*s: %.*s", (int)(kind_len > 100 ? 100 : kind_len),
                 kind, (int)(mn > 400 ? 400 : mn), msg);
    else if (kind_len)
        snprintf(text, sizeof(text), "%.*s", (int)(kind_len > 100 ? 100 : kind_len), kind);
    else if (msg)
        snprintf(text, sizeof(text), "%.*s", (int)(mn > 400 ? 400 : mn), msg);
    else
        snprintf(text, sizeof(text), "provider error");
    tt_span_fail(span, text, override);
    json_decref(root);
}

/* An event-stream message that is an exception or error (eventstream.h
 * names them with these prefixes). Returns true when it was one. */
static bool tt_bedrock_exception(struct tt_span *span, const char *event,
                                 size_t event_len, const char *data,
                                 size_t data_len)
{
    static const char *const prefixes[] = { "exception:", "error:" };

    for (size_t i = 0; i < TT_NELEM(prefixes); i++) {
        size_t pn = strlen(prefixes[i]);
        if (event_len < pn || memcmp(event, prefixes[i], pn) != 0)
            continue;
        if (i == 0) {
            tt_bedrock_fail(span, event + pn, event_len - pn, data, data_len,
                            false);
        } else {
            /* error messages carry their text in a header, not JSON. */
            char text[512];
            snprintf(text, sizeof(text), "%.*s: %.*s",
                     (int)(event_len - pn > 100 ? 100 : event_len - pn),
                     event + pn, (int)(data_len > 400 ? 400 : data_len), data);
            tt_span_fail(span, text, false);
        }
        return true;
    }
    return false;
}

/* {key: v}, taking v (NULL v gives NULL). The preload reaches jansson
 * through dlshim.c, which has no json_pack. */
static json_t *tt_bedrock_obj1(const char *key, json_t *v)
{
    json_t *o = v ? json_object() : NULL;

    if (!o || json_object_set_new(o, key, v)) {
        if (!o)
            json_decref(v);
        json_decref(o);
        return NULL;
    }
    return o;
}

/* --- Converse: request --------------------------------------------------- */

/* span->input: messages with the system blocks first (see the file
 * comment). Takes nothing; 0 or TT_ERR_NOMEM. */
static int tt_bedrock_converse_input(struct tt_span *span, json_t *root)
{
    json_t *msgs = json_object_get(root, "messages");
    json_t *sys = json_object_get(root, "system");
    json_t *arr;

    if (!json_is_array(msgs))
        return TT_OK;
    if (!sys || json_is_null(sys) ||
        (json_is_array(sys) && json_array_size(sys) == 0))
        return tt_json_set_field(&span->input, json_incref(msgs));
    arr = json_array();
    json_t *first = tt_bedrock_obj1("role", json_string("system"));
    if (!arr || !first || json_object_set(first, "content", sys) ||
        json_array_append(arr, first))
        goto nomem;
    for (size_t i = 0; i < json_array_size(msgs); i++)
        if (json_array_append(arr, json_array_get(msgs, i)))
            goto nomem;
    json_decref(first);
    return tt_json_set_field(&span->input, arr);
nomem:
    json_decref(first);
    json_decref(arr);
    return TT_ERR_NOMEM;
}

static int tt_bedrock_converse_request(struct tt_span *span, const char *body,
                                       size_t len)
{
    json_t *root = NULL, *cfg;
    int rc = TT_OK, prc;

    if (tt_span_set(&span->operation, tt_bedrock_converse_api.operation) !=
        TT_OK)
        return TT_ERR_NOMEM;
    if (tt_bedrock_from_path(span) == TT_ERR_NOMEM)
        return TT_ERR_NOMEM;
    /* A body cut at the capture cap still gives the members before the
     * cut. */
    prc = tt_json_parse_prefix(body, len, &root);
    if (prc == TT_ERR_NOMEM)
        return TT_ERR_NOMEM;
    if (prc != TT_OK)
        rc = TT_ERR_PARSE;
    cfg = json_object_get(root, "inferenceConfig");
    span->has_temperature = tt_json_double(json_object_get(cfg, "temperature"),
                                           &span->temperature) == TT_OK;
    span->has_top_p =
        tt_json_double(json_object_get(cfg, "topP"), &span->top_p) == TT_OK;
    span->has_max_tokens = tt_json_int64(json_object_get(cfg, "maxTokens"),
                                         &span->max_tokens) == TT_OK;
    if (root && tt_api_capture_content() &&
        tt_bedrock_converse_input(span, root) == TT_ERR_NOMEM)
        rc = TT_ERR_NOMEM;
    json_decref(root);
    if (tt_bedrock_name(span, tt_bedrock_converse_api.operation) != TT_OK)
        rc = TT_ERR_NOMEM;
    return rc;
}

/* --- Converse: response -------------------------------------------------- */

enum tt_bedrock_slot {
    TT_BEDROCK_IN,              /* uncached input only */
    TT_BEDROCK_OUT,
    TT_BEDROCK_CACHE_READ,
    TT_BEDROCK_CACHE_WRITE,
    TT_BEDROCK_NSLOTS
};

static const struct tt_json_count_field tt_bedrock_usage_fields[] = {
    { TT_BEDROCK_IN, true, { "inputTokens", NULL } },
    { TT_BEDROCK_OUT, true, { "outputTokens", NULL } },
    { TT_BEDROCK_CACHE_READ, false, { "cacheReadInputTokens", NULL } },
    { TT_BEDROCK_CACHE_WRITE, false, { "cacheWriteInputTokens", NULL } },
};

/* A usage object onto the span (see the file comment); an invalid one
 * leaves the usage unknown. */
static void tt_bedrock_usage(struct tt_span *span, const json_t *usage)
{
    int64_t u[TT_BEDROCK_NSLOTS];
    bool have[TT_BEDROCK_NSLOTS];

    if (tt_json_counts(usage, tt_bedrock_usage_fields,
                       TT_NELEM(tt_bedrock_usage_fields), u, have,
                       TT_BEDROCK_NSLOTS) != TT_OK) {
        tt_span_clear_usage(span);
        return;
    }
    span->input_tokens =
        u[TT_BEDROCK_IN] + u[TT_BEDROCK_CACHE_READ] + u[TT_BEDROCK_CACHE_WRITE];
    span->output_tokens = u[TT_BEDROCK_OUT];
    span->cache_read_tokens = u[TT_BEDROCK_CACHE_READ];
    span->cache_write_tokens = u[TT_BEDROCK_CACHE_WRITE];
    /* Bedrock does not break reasoning out of outputTokens. */
    span->reasoning_tokens = 0;
    span->usage_known = true;
}

static int tt_bedrock_finish_reason(struct tt_span *span, const json_t *sr)
{
    json_t *reasons;

    if (!json_is_string(sr) || json_string_length(sr) == 0)
        return TT_OK;
    reasons = json_array();
    if (!reasons || json_array_append(reasons, (json_t *)sr)) {
        json_decref(reasons);
        return TT_ERR_NOMEM;
    }
    return tt_json_set_field(&span->finish_reasons, reasons);
}

/* {"id":..,"name":..,"arguments":..} appended to arr; args NULL (capture
 * off): no arguments. */
static int tt_bedrock_tool_json(json_t *arr, const char *id, const char *name,
                                const char *args, size_t args_len)
{
    json_t *o = json_object();

    if (!o)
        return TT_ERR_NOMEM;
    if (json_object_set_new(o, "id", id ? json_string(id) : json_null()) ||
        json_object_set_new(o, "name", name ? json_string(name) : json_null()) ||
        (args && json_object_set_new(o, "arguments",
                                     json_stringn(args, args_len))) ||
        json_array_append_new(arr, o))
        return TT_ERR_NOMEM;
    return TT_OK;
}

struct tt_bedrock_block {
    int64_t index;
    char *tool_id, *tool_name;  /* contentBlockStart.start.toolUse */
    bool tool;
    bool reasoning;
    struct tt_buf text;         /* text or reasoning text */
    struct tt_buf input;        /* tool input JSON text */
    struct tt_buf signature;    /* reasoning signature */
};

struct tt_bedrock_state {
    bool got_body;
    bool got_events;
    bool stopped;               /* messageStop */
    bool got_metadata;
    char *stop_reason;
    size_t budget;
    size_t nblocks;
    struct tt_bedrock_block blocks[TT_BEDROCK_MAX_BLOCKS];
};

static int tt_bedrock_response_begin(struct tt_span *span, void **state)
{
    struct tt_bedrock_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_BEDROCK_TEXT_BUDGET;
    return TT_OK;
}

static void tt_bedrock_response_free(void *state)
{
    struct tt_bedrock_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->nblocks; i++) {
        free(st->blocks[i].tool_id);
        free(st->blocks[i].tool_name);
        tt_buf_free(&st->blocks[i].text);
        tt_buf_free(&st->blocks[i].input);
        tt_buf_free(&st->blocks[i].signature);
    }
    free(st->stop_reason);
    free(st);
}

static int tt_bedrock_converse_body(void *state, struct tt_span *span,
                                    const char *body, size_t len)
{
    struct tt_bedrock_state *st = state;
    json_t *root = NULL, *content, *tools = NULL;
    bool capture = tt_api_capture_content();
    int rc = TT_ERR_NOMEM;

    if (st)
        st->got_body = true;
    tt_span_clear_usage(span);
    if (span->http_status >= 400) {
        /* {"message":".."}: the provider's words beat the bare status. */
        tt_bedrock_fail(span, NULL, 0, body, len, true);
        return TT_OK;
    }
    if (tt_json_parse(body, len, &root) != TT_OK || !json_is_object(root)) {
        tt_span_fail(span, span->truncated
                               ? "response body truncated at the capture cap"
                               : "malformed response body",
                     false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    tt_bedrock_usage(span, json_object_get(root, "usage"));
    if (tt_bedrock_finish_reason(span, json_object_get(root, "stopReason")))
        goto out;
    content = tt_json_get(root, "output", "message", "content", NULL);
    if (capture && json_is_array(content) &&
        tt_json_set_field(&span->output, json_incref(content)))
        goto out;
    tools = json_array();
    if (!tools)
        goto out;
    for (size_t i = 0; i < json_array_size(content); i++) {
        json_t *tu = json_object_get(json_array_get(content, i), "toolUse");
        char *args = NULL;
        if (!json_is_object(tu))
            continue;
        if (capture && tt_json_dump(json_object_get(tu, "input"), &args) ==
                           TT_ERR_NOMEM)
            goto out;
        int e = tt_bedrock_tool_json(
            tools, tt_json_str(json_object_get(tu, "toolUseId"), NULL),
            tt_json_str(json_object_get(tu, "name"), NULL), args,
            args ? strlen(args) : 0);
        free(args);
        if (e != TT_OK)
            goto out;
    }
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
out:
    json_decref(tools);
    json_decref(root);
    return rc;
}

/* --- ConverseStream ------------------------------------------------------ */

static struct tt_bedrock_block *tt_bedrock_block(struct tt_bedrock_state *st,
                                                 const json_t *root)
{
    int64_t index;

    if (tt_json_int64(json_object_get(root, "contentBlockIndex"), &index) !=
        TT_OK)
        return NULL;
    for (size_t i = 0; i < st->nblocks; i++)
        if (st->blocks[i].index == index)
            return &st->blocks[i];
    if (st->nblocks == TT_BEDROCK_MAX_BLOCKS)
        return NULL;
    struct tt_bedrock_block *b = &st->blocks[st->nblocks++];
    b->index = index;
    tt_buf_init(&b->text, TT_BEDROCK_TEXT_BUDGET);
    tt_buf_init(&b->input, TT_BEDROCK_TEXT_BUDGET);
    tt_buf_init(&b->signature, TT_BEDROCK_TEXT_BUDGET);
    return b;
}

/* Append a streamed fragment within the response's text budget. */
static int tt_bedrock_acc(struct tt_bedrock_state *st, struct tt_span *span,
                          struct tt_buf *b, const char *frag, size_t n)
{
    if (n > st->budget) {
        n = st->budget;
        span->truncated = true;
    }
    if (n > 0 && tt_buf_append(b, frag, n) == TT_ERR_NOMEM)
        return TT_ERR_NOMEM;
    st->budget -= n;
    return TT_OK;
}

static int tt_bedrock_ev_block_start(struct tt_bedrock_state *st,
                                     struct tt_span *span, const json_t *root,
                                     int64_t now)
{
    json_t *tu = tt_json_get(root, "start", "toolUse", NULL);
    struct tt_bedrock_block *b;

    (void)span;
    (void)now;
    if (!json_is_object(tu))
        return TT_OK;
    b = tt_bedrock_block(st, root);
    if (!b)
        return TT_ERR_PARSE;
    b->tool = true;
    (void)tt_json_set_str(&b->tool_id, json_object_get(tu, "toolUseId"));
    (void)tt_json_set_str(&b->tool_name, json_object_get(tu, "name"));
    return TT_OK;
}

static int tt_bedrock_ev_block_delta(struct tt_bedrock_state *st,
                                     struct tt_span *span, const json_t *root,
                                     int64_t now)
{
    json_t *delta = json_object_get(root, "delta");
    bool capture = tt_api_capture_content();
    struct tt_bedrock_block *b;
    const char *frag;
    size_t n = 0;

    if (!json_is_object(delta))
        return TT_ERR_PARSE;
    b = capture ? tt_bedrock_block(st, root) : NULL;
    if ((frag = tt_json_str(json_object_get(delta, "text"), &n))) {
        tt_span_first_token(span, now);
        return b ? tt_bedrock_acc(st, span, &b->text, frag, n) : TT_OK;
    }
    if ((frag = tt_json_str(tt_json_get(delta, "toolUse", "input", NULL), &n))) {
        tt_span_first_token(span, now);
        if (!b)
            return TT_OK;
        b->tool = true;
        return tt_bedrock_acc(st, span, &b->input, frag, n);
    }
    json_t *rc = json_object_get(delta, "reasoningContent");
    if (json_is_object(rc)) {
        if ((frag = tt_json_str(json_object_get(rc, "text"), &n))) {
            tt_span_first_token(span, now);
            if (!b)
                return TT_OK;
            b->reasoning = true;
            return tt_bedrock_acc(st, span, &b->text, frag, n);
        }
        if ((frag = tt_json_str(json_object_get(rc, "signature"), &n)) && b) {
            b->reasoning = true;
            return tt_bedrock_acc(st, span, &b->signature, frag, n);
        }
    }
    return TT_OK;       /* citations, images, future kinds */
}

static int tt_bedrock_ev_message_stop(struct tt_bedrock_state *st,
                                      struct tt_span *span, const json_t *root,
                                      int64_t now)
{
    (void)span;
    (void)now;
    st->stopped = true;
    (void)tt_json_set_str(&st->stop_reason, json_object_get(root, "stopReason"));
    return TT_OK;
}

static int tt_bedrock_ev_metadata(struct tt_bedrock_state *st,
                                  struct tt_span *span, const json_t *root,
                                  int64_t now)
{
    (void)now;
    st->got_metadata = true;
    tt_bedrock_usage(span, json_object_get(root, "usage"));
    return TT_OK;
}

/* ConverseStream events by :event-type; messageStart (the role) and
 * contentBlockStop carry nothing for the span. */
static const struct {
    const char *type;
    int (*fn)(struct tt_bedrock_state *, struct tt_span *, const json_t *,
              int64_t);
} tt_bedrock_events[] = {
    { "contentBlockStart", tt_bedrock_ev_block_start },
    { "contentBlockDelta", tt_bedrock_ev_block_delta },
    { "messageStop", tt_bedrock_ev_message_stop },
    { "metadata", tt_bedrock_ev_metadata },
};

static int tt_bedrock_converse_event(void *state, struct tt_span *span,
                                     const char *event, size_t event_len,
                                     const char *data, size_t data_len,
                                     int64_t now)
{
    struct tt_bedrock_state *st = state;
    json_t *root = NULL, *inner;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if (tt_bedrock_exception(span, event, event_len, data, data_len))
        return TT_OK;
    for (size_t i = 0; i < TT_NELEM(tt_bedrock_events); i++) {
        if (!tt_tok_ieq(event, event_len, tt_bedrock_events[i].type))
            continue;
        if (tt_json_parse(data, data_len, &root) != TT_OK ||
            !json_is_object(root))
            return TT_ERR_PARSE;
        /* The wire payload is the member body; some tools re-wrap it as
         * {"<event-type>": body}: accept both. */
        inner = json_object_get(root, tt_bedrock_events[i].type);
        rc = tt_bedrock_events[i].fn(st, span,
                                     json_object_size(root) == 1 &&
                                             json_is_object(inner)
                                         ? inner
                                         : root,
                                     now);
        break;
    }
    json_decref(root);
    return rc;
}

/* One rebuilt content block in Converse's own shape; a new reference or
 * NULL on OOM. */
static json_t *tt_bedrock_rebuild(const struct tt_bedrock_block *b)
{
    json_t *in = NULL;

    if (b->tool) {
        /* A stream cut inside the tool input leaves invalid JSON: keep
         * the text as a string rather than lose it. */
        if (b->input.len == 0)
            in = json_object();
        else if (tt_json_parse(b->input.data, b->input.len, &in) != TT_OK)
            in = json_stringn(b->input.data, b->input.len);
        json_t *tu = in ? json_object() : NULL;
        if (!tu ||
            (b->tool_id &&
             json_object_set_new(tu, "toolUseId", json_string(b->tool_id))) ||
            (b->tool_name &&
             json_object_set_new(tu, "name", json_string(b->tool_name))) ||
            json_object_set(tu, "input", in)) {
            json_decref(in);
            json_decref(tu);
            return NULL;
        }
        json_decref(in);
        return tt_bedrock_obj1("toolUse", tu);
    }
    if (b->reasoning) {
        json_t *rt = json_object();
        if (!rt ||
            json_object_set_new(rt, "text",
                                json_stringn(b->text.data ? b->text.data : "",
                                             b->text.len)) ||
            (b->signature.len &&
             json_object_set_new(rt, "signature",
                                 json_stringn(b->signature.data,
                                              b->signature.len)))) {
            json_decref(rt);
            return NULL;
        }
        return tt_bedrock_obj1("reasoningContent",
                               tt_bedrock_obj1("reasoningText", rt));
    }
    return tt_bedrock_obj1("text", json_stringn(b->text.data ? b->text.data
                                                             : "",
                                                b->text.len));
}

static int tt_bedrock_stream_end(struct tt_bedrock_state *st,
                                 struct tt_span *span)
{
    bool capture = tt_api_capture_content();
    json_t *blocks = NULL, *tools = NULL, *sr = NULL;
    int rc = TT_ERR_NOMEM;

    if (!st->got_metadata)
        tt_span_clear_usage(span);
    if (st->stop_reason) {
        sr = json_string(st->stop_reason);
        if (!sr || tt_bedrock_finish_reason(span, sr))
            goto out;
    }
    /* Blocks arrive in index order; sort anyway (at most 64). */
    for (size_t i = 1; i < st->nblocks; i++) {
        struct tt_bedrock_block tmp = st->blocks[i];
        size_t j = i;
        while (j > 0 && st->blocks[j - 1].index > tmp.index) {
            st->blocks[j] = st->blocks[j - 1];
            j--;
        }
        st->blocks[j] = tmp;
    }
    blocks = json_array();
    tools = json_array();
    if (!blocks || !tools)
        goto out;
    for (size_t i = 0; i < st->nblocks; i++) {
        struct tt_bedrock_block *b = &st->blocks[i];
        if (capture && json_array_append_new(blocks, tt_bedrock_rebuild(b)))
            goto out;
        if (!b->tool)
            continue;
        const char *args = NULL;
        size_t args_len = 0;
        char *dumped = NULL;
        json_t *in = NULL;
        if (capture) {
            /* Compact JSON text when it parses, else the raw text. */
            if (b->input.len == 0) {
                args = "{}";
                args_len = 2;
            } else if (tt_json_parse(b->input.data, b->input.len, &in) ==
                           TT_OK &&
                       tt_json_dump(in, &dumped) == TT_OK) {
                args = dumped;
                args_len = strlen(dumped);
            } else {
                args = b->input.data;
                args_len = b->input.len;
            }
        }
        int e = tt_bedrock_tool_json(tools, b->tool_id, b->tool_name, args,
                                     args_len);
        json_decref(in);
        free(dumped);
        if (e != TT_OK)
            goto out;
    }
    if (capture && json_array_size(blocks) > 0 &&
        tt_json_set_field(&span->output, json_incref(blocks)))
        goto out;
    if (json_array_size(tools) > 0 &&
        tt_json_set_field(&span->tool_calls, json_incref(tools)))
        goto out;
    rc = TT_OK;
out:
    json_decref(sr);
    json_decref(tools);
    json_decref(blocks);
    return rc;
}

static int tt_bedrock_converse_stream_end(void *state, struct tt_span *span, const char **missing)
{
    struct tt_bedrock_state *st = state;
    int rc = tt_bedrock_stream_end(st, span);

    *missing = !st->stopped ? "no messageStop" : NULL;
    return rc;
}

const struct tt_api_ops tt_bedrock_converse_api = {
    .name = "aws.bedrock.converse",
    .operation = "chat",
    .default_provider = "aws.bedrock",
    .request = tt_bedrock_converse_request,
    .response_begin = tt_bedrock_response_begin,
    .sse_event = tt_bedrock_converse_event,
    .body = tt_bedrock_converse_body,
    .stream_end = tt_bedrock_converse_stream_end,
    .response_free = tt_bedrock_response_free,
};

/* --- InvokeModel (Anthropic) -------------------------------------------- */

static int tt_bedrock_b64(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Standard base64 (RFC 4648 section 4), padding optional, into a new
 * buffer (*out, *out_len; free it). TT_ERR_PARSE on any other byte. */
static int tt_bedrock_unbase64(const char *in, size_t n, char **out,
                               size_t *out_len)
{
    char *d;
    size_t k = 0;
    uint32_t acc = 0;
    int bits = 0;

    while (n > 0 && in[n - 1] == '=')
        n--;
    d = malloc(n / 4 * 3 + 3);
    if (!d)
        return TT_ERR_NOMEM;
    for (size_t i = 0; i < n; i++) {
        int v = tt_bedrock_b64(in[i]);
        if (v < 0) {
            free(d);
            return TT_ERR_PARSE;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            d[k++] = (char)(acc >> bits & 0xffu);
        }
    }
    *out = d;
    *out_len = k;
    return TT_OK;
}

static int tt_bedrock_invoke_request(struct tt_span *span, const char *body,
                                     size_t len)
{
    int rc = tt_anthropic_messages_api.request(span, body, len);

    /* The body has no model and no "stream" (both in the path): the
     * Anthropic parser left them unset. */
    if (tt_bedrock_from_path(span) == TT_ERR_NOMEM ||
        tt_bedrock_name(span, tt_bedrock_invoke_api.operation) != TT_OK)
        return TT_ERR_NOMEM;
    return rc;
}

/* InvokeModelWithResponseStream: "chunk" events wrap one Anthropic stream
 * event each. The Anthropic parser's state is this API's state. */
static int tt_bedrock_invoke_event(void *state, struct tt_span *span,
                                   const char *event, size_t event_len,
                                   const char *data, size_t data_len,
                                   int64_t now)
{
    json_t *root = NULL;
    char *inner = NULL;
    size_t n = 0, inner_len = 0;
    const char *b64;
    int rc;

    if (tt_bedrock_exception(span, event, event_len, data, data_len))
        return TT_OK;
    if (!tt_tok_ieq(event, event_len, "chunk"))
        return TT_OK;
    if (tt_json_parse(data, data_len, &root) != TT_OK)
        return TT_ERR_PARSE;
    b64 = tt_json_str(json_object_get(root, "bytes"), &n);
    rc = b64 ? tt_bedrock_unbase64(b64, n, &inner, &inner_len) : TT_ERR_PARSE;
    json_decref(root);
    if (rc != TT_OK)
        return rc;
    /* The event name is the inner JSON's "type"; "" as in a bare SSE
     * data line. */
    rc = tt_anthropic_messages_api.sse_event(state, span, "", 0, inner,
                                             inner_len, now);
    free(inner);
    return rc;
}

static int tt_bedrock_invoke_body(void *state, struct tt_span *span,
                                  const char *body, size_t len)
{
    /* Errors come in Bedrock's shape, not Anthropic's: {"message":".."}. */
    if (span->http_status >= 400) {
        tt_span_clear_usage(span);
        tt_bedrock_fail(span, NULL, 0, body, len, true);
        return TT_OK;
    }
    return tt_anthropic_messages_api.body(state, span, body, len);
}

/* The Anthropic parser's state and end, forwarded (a static initialiser
 * cannot copy another object's members). */
static int tt_bedrock_invoke_begin(struct tt_span *span, void **state)
{
    return tt_anthropic_messages_api.response_begin(span, state);
}

static int tt_bedrock_invoke_end(void *state, struct tt_span *span,
                                 const char **missing)
{
    return tt_anthropic_messages_api.stream_end(state, span, missing);
}

static void tt_bedrock_invoke_free(void *state)
{
    tt_anthropic_messages_api.response_free(state);
}

const struct tt_api_ops tt_bedrock_invoke_api = {
    .name = "aws.bedrock.invoke",
    .operation = "chat",
    .default_provider = "aws.bedrock",
    .request = tt_bedrock_invoke_request,
    .response_begin = tt_bedrock_invoke_begin,
    .sse_event = tt_bedrock_invoke_event,
    .body = tt_bedrock_invoke_body,
    .stream_end = tt_bedrock_invoke_end,
    .response_free = tt_bedrock_invoke_free,
};
