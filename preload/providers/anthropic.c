/* anthropic.c - Anthropic Messages: POST /v1/messages.
 *
 * Usage semantics differ from OpenAI: usage.input_tokens EXCLUDES cache
 * reads (cache_read_input_tokens) and cache writes
 * (cache_creation_input_tokens); the span's input_tokens is their sum.
 * In streams, message_start carries input and cache counts and a
 * placeholder output count; message_delta carries CUMULATIVE counts (there
 * may be several): the latest non-zero value of each count wins, and no
 * count is ever summed across events.
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       the request's "messages" array; a "system" prompt is put
 *               first as {"role":"system","content":<system as sent>}, so
 *               that input is a messages array for every chat API. Both
 *               are the client's raw text (whitespace, escapes kept).
 *   output      the response's content blocks array as Anthropic sends it
 *               ([{"type":"text","text":..}, {"type":"tool_use",..}, ..]);
 *               for streams the blocks are rebuilt from the deltas
 *               (text, thinking, signature, tool input).
 *   tool_calls  [{"id":..,"name":..,"arguments":..}] for "tool_use"
 *               blocks; "arguments" is the tool input object as compact
 *               JSON *text* (a string, like OpenAI's), or the raw streamed
 *               text when it does not parse (a cut stream). With content
 *               capture off the array keeps id and name only.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdlib.h>
#include <string.h>

#define TT_ANTHROPIC_MAX_BLOCKS 64
/* Streamed text kept per response: see openai.c. */
#define TT_ANTHROPIC_TEXT_BUDGET ((size_t)8 << 20)

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_anthropic_slot {
    TT_ANTHROPIC_IN,            /* uncached input only */
    TT_ANTHROPIC_OUT,
    TT_ANTHROPIC_CACHE_READ,
    TT_ANTHROPIC_CACHE_WRITE,
    TT_ANTHROPIC_CACHE_WRITE_5M,
    TT_ANTHROPIC_CACHE_WRITE_1H,
    TT_ANTHROPIC_THINKING,
    TT_ANTHROPIC_NSLOTS
};

static const struct tt_json_count_field tt_anthropic_usage_fields[] = {
    { TT_ANTHROPIC_IN, false, { "input_tokens", NULL } },
    { TT_ANTHROPIC_OUT, false, { "output_tokens", NULL } },
    { TT_ANTHROPIC_CACHE_READ, false, { "cache_read_input_tokens", NULL } },
    { TT_ANTHROPIC_CACHE_WRITE, false,
      { "cache_creation_input_tokens", NULL } },
    { TT_ANTHROPIC_CACHE_WRITE_5M, false,
      { "cache_creation", "ephemeral_5m_input_tokens", NULL } },
    { TT_ANTHROPIC_CACHE_WRITE_1H, false,
      { "cache_creation", "ephemeral_1h_input_tokens", NULL } },
    { TT_ANTHROPIC_THINKING, false,
      { "output_tokens_details", "thinking_tokens", NULL } },
};

/* content_block_delta kinds: which delta field carries the fragment, which
 * block field the concatenation rebuilds, and whether it is a token (for
 * TTFT). citations_delta is not rebuilt (it only annotates text). */
struct tt_anthropic_delta {
    const char *type;           /* delta.type */
    const char *field;          /* fragment in the delta */
    const char *block_field;    /* rebuilt field of the content block */
    const char *block_type;     /* block type if no content_block_start */
    bool json;                  /* the concatenation is JSON text */
    bool token;
};

static const struct tt_anthropic_delta tt_anthropic_deltas[] = {
    { "text_delta", "text", "text", "text", false, true },
    { "thinking_delta", "thinking", "thinking", "thinking", false, true },
    { "input_json_delta", "partial_json", "input", "tool_use", true, true },
    { "signature_delta", "signature", "signature", "thinking", false, false },
};

#define TT_ANTHROPIC_NDELTAS TT_NELEM(tt_anthropic_deltas)

struct tt_anthropic_block {
    int64_t index;
    json_t *start;              /* content_block of content_block_start */
    const char *type;           /* borrowed from start or the delta table */
    struct tt_buf acc[TT_ANTHROPIC_NDELTAS];
};

struct tt_anthropic_state {
    bool got_body;
    bool got_events;
    bool stopped;               /* message_stop */
    bool usage_bad;             /* a usage object had an invalid count */
    int64_t usage[TT_ANTHROPIC_NSLOTS];
    bool have[TT_ANTHROPIC_NSLOTS];
    char *stop_reason;
    size_t budget;
    size_t nblocks;
    struct tt_anthropic_block blocks[TT_ANTHROPIC_MAX_BLOCKS];
};

/* --- shared pieces ------------------------------------------------------ */

/* Normalise Anthropic counts onto the span (see the file comment). */
static void tt_anthropic_set_usage(struct tt_span *span, const int64_t *u,
                                   const bool *have)
{
    int64_t cw = have[TT_ANTHROPIC_CACHE_WRITE]
                     ? u[TT_ANTHROPIC_CACHE_WRITE]
                     : u[TT_ANTHROPIC_CACHE_WRITE_5M] +
                           u[TT_ANTHROPIC_CACHE_WRITE_1H];

    span->input_tokens = u[TT_ANTHROPIC_IN] + u[TT_ANTHROPIC_CACHE_READ] + cw;
    span->output_tokens = u[TT_ANTHROPIC_OUT];
    span->cache_read_tokens = u[TT_ANTHROPIC_CACHE_READ];
    span->cache_write_tokens = cw;
    span->cache_write_1h_tokens = u[TT_ANTHROPIC_CACHE_WRITE_1H];
    span->reasoning_tokens = u[TT_ANTHROPIC_THINKING];
    span->usage_known = true;
}

/* {"type":"error","error":{"type":..,"message":..}}, as a body or as the
 * data of "event: error". Returns true when root is one. */
static bool tt_anthropic_error(struct tt_span *span, const json_t *root,
                               bool is_error_event, bool override)
{
    json_t *err = json_object_get(root, "error");
    size_t n = 0;
    const char *type = tt_json_str(json_object_get(root, "type"), &n);
    char *txt = NULL;

    if (!is_error_event && !(type && tt_tok_ieq(type, n, "error")) &&
        (!err || json_is_null(err)))
        return false;
    /* In a body the provider's words beat the HTTP status the transport
     * may have set first; in a stream the first error is the cause. */
    if (tt_json_error_text(err, &txt) == TT_OK) {
        tt_span_fail(span, txt, override);
        free(txt);
    } else {
        tt_span_fail(span, "provider error", override);
    }
    return true;
}

/* A tool call for span->tool_calls. args_text: JSON text of the input
 * (NULL: capture off, no "arguments"). */
static int tt_anthropic_tool_json(json_t *arr, const json_t *block,
                                  const char *args_text, size_t args_len)
{
    json_t *o = json_object();
    json_t *id = json_object_get(block, "id");
    json_t *name = json_object_get(block, "name");

    if (!o)
        return TT_ERR_NOMEM;
    if (json_object_set(o, "id", json_is_string(id) ? id : json_null()) ||
        json_object_set(o, "name", json_is_string(name) ? name : json_null()) ||
        (args_text &&
         json_object_set_new(o, "arguments",
                             json_stringn(args_text, args_len))))
        goto fail;
    if (json_array_append_new(arr, o))
        return TT_ERR_NOMEM;
    return TT_OK;
fail:
    json_decref(o);
    return TT_ERR_NOMEM;
}

/* --- request ------------------------------------------------------------ */

/* Request members read by tt_anthropic_request. Only the scalars are
 * parsed; "messages" and "system" are copied as raw text. */
enum tt_anthropic_req_key {
    TT_ANTHROPIC_REQ_MODEL,
    TT_ANTHROPIC_REQ_STREAM,
    TT_ANTHROPIC_REQ_TEMPERATURE,
    TT_ANTHROPIC_REQ_TOP_P,
    TT_ANTHROPIC_REQ_MAX_TOKENS,
    TT_ANTHROPIC_REQ_MESSAGES,      /* raw from here on */
    TT_ANTHROPIC_REQ_SYSTEM,
    TT_ANTHROPIC_REQ_NKEYS
};

static const char *const tt_anthropic_req_keys[TT_ANTHROPIC_REQ_NKEYS] = {
    [TT_ANTHROPIC_REQ_MODEL] = "model",
    [TT_ANTHROPIC_REQ_STREAM] = "stream",
    [TT_ANTHROPIC_REQ_TEMPERATURE] = "temperature",
    [TT_ANTHROPIC_REQ_TOP_P] = "top_p",
    [TT_ANTHROPIC_REQ_MAX_TOKENS] = "max_tokens",
    [TT_ANTHROPIC_REQ_MESSAGES] = "messages",
    [TT_ANTHROPIC_REQ_SYSTEM] = "system",
};

#define TT_ANTHROPIC_SYSTEM_HEAD "{\"role\":\"system\",\"content\":"

static bool tt_anthropic_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* span->input: the messages text with the system prompt first, built from
 * the raw slices (messages and system are both copied as sent):
 *   [ + {"role":"system","content":SYSTEM} + , + messages after its "[",
 * or ] instead of the comma and the rest when messages is empty. A
 * messages value that is not an array, or a system that is null, leaves
 * messages as they are. 0, TT_ERR_PARSE (a NUL byte in the text: input
 * is left unset) or TT_ERR_NOMEM. */
static int tt_anthropic_input(struct tt_span *span,
                              const struct tt_json_slice *msgs,
                              const struct tt_json_slice *sys)
{
    static const char head[] = "[" TT_ANTHROPIC_SYSTEM_HEAD;
    size_t i = 1, hn = sizeof(head) - 1, tail, total;
    char *d, *p;

    if (!sys->ptr || msgs->ptr[0] != '[' ||
        (sys->len == 4 && memcmp(sys->ptr, "null", 4) == 0))
        return tt_json_set_raw(&span->input, msgs);
    if (memchr(sys->ptr, '\0', sys->len) || memchr(msgs->ptr, '\0', msgs->len))
        return TT_ERR_PARSE;
    while (i < msgs->len && tt_anthropic_is_ws(msgs->ptr[i]))
        i++;
    /* The slice ends with "]" (tt_json_members checks it), so i < len.
     * Non-empty: "}," and the messages after their "["; empty: "}]". */
    tail = msgs->ptr[i] == ']' ? 0 : msgs->len - 1;
    total = hn + sys->len + 2 + tail;
    d = malloc(total + 1);
    if (!d)
        return TT_ERR_NOMEM;
    p = d;
    memcpy(p, head, hn);
    p += hn;
    memcpy(p, sys->ptr, sys->len);
    p += sys->len;
    memcpy(p, tail ? "}," : "}]", 2);
    p += 2;
    memcpy(p, msgs->ptr + 1, tail);
    d[total] = '\0';
    free(span->input);
    span->input = d;
    return TT_OK;
}

/* The request's scalar members, each slice parsed on its own (see
 * openai.c). TT_ERR_PARSE when a present one is not valid JSON. */
static int tt_anthropic_req_params(struct tt_span *span,
                                   const struct tt_json_slice *m)
{
    json_t *v[TT_ANTHROPIC_REQ_MESSAGES];
    int rc = TT_OK;

    for (size_t k = 0; k < TT_ANTHROPIC_REQ_MESSAGES; k++)
        if (tt_json_slice_parse(&m[k], &v[k]) != TT_OK)
            rc = TT_ERR_PARSE;
    /* Bedrock and Vertex move model and stream into the URL. */
    (void)tt_json_set_str(&span->request_model, v[TT_ANTHROPIC_REQ_MODEL]);
    span->stream = json_is_true(v[TT_ANTHROPIC_REQ_STREAM]);
    span->has_temperature = tt_json_double(v[TT_ANTHROPIC_REQ_TEMPERATURE],
                                           &span->temperature) == TT_OK;
    span->has_top_p =
        tt_json_double(v[TT_ANTHROPIC_REQ_TOP_P], &span->top_p) == TT_OK;
    span->has_max_tokens = tt_json_int64(v[TT_ANTHROPIC_REQ_MAX_TOKENS],
                                         &span->max_tokens) == TT_OK;
    for (size_t k = 0; k < TT_ANTHROPIC_REQ_MESSAGES; k++)
        json_decref(v[k]);
    return rc;
}

static int tt_anthropic_request(struct tt_span *span, const char *body,
                                size_t len)
{
    struct tt_json_slice m[TT_ANTHROPIC_REQ_NKEYS];
    int rc, mrc;

    mrc = tt_json_members(body, len, tt_anthropic_req_keys,
                          TT_ANTHROPIC_REQ_NKEYS, m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (tt_span_set(&span->operation,
                    tt_anthropic_messages_api.operation) != TT_OK)
        goto nomem;

    if (mrc != TT_ERR_PARSE) {
        int prc = tt_anthropic_req_params(span, m);
        if (prc == TT_ERR_NOMEM)
            goto nomem;
        if (prc != TT_OK)
            rc = prc;
        if (tt_api_capture_content() && m[TT_ANTHROPIC_REQ_MESSAGES].ptr) {
            prc = tt_anthropic_input(span, &m[TT_ANTHROPIC_REQ_MESSAGES],
                                     &m[TT_ANTHROPIC_REQ_SYSTEM]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }

    if (tt_span_set_name(span, tt_anthropic_messages_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    return rc;
}

/* --- response: common --------------------------------------------------- */

static int tt_anthropic_response_begin(struct tt_span *span, void **state)
{
    struct tt_anthropic_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_ANTHROPIC_TEXT_BUDGET;
    return TT_OK;
}

static void tt_anthropic_response_free(void *state)
{
    struct tt_anthropic_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->nblocks; i++) {
        json_decref(st->blocks[i].start);
        for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++)
            tt_buf_free(&st->blocks[i].acc[k]);
    }
    free(st->stop_reason);
    free(st);
}

/* --- response: whole body ----------------------------------------------- */

static int tt_anthropic_body(void *state, struct tt_span *span,
                             const char *body, size_t len)
{
    struct tt_anthropic_state *st = state;
    json_t *root = NULL, *content, *tools = NULL, *reasons = NULL;
    bool capture = tt_api_capture_content();
    int64_t u[TT_ANTHROPIC_NSLOTS];
    bool have[TT_ANTHROPIC_NSLOTS];
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
    if (tt_anthropic_error(span, root, false, true))
        goto out;

    (void)tt_json_set_str(&span->response_id, json_object_get(root, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "model"));
    /* usage.service_tier: "standard" | "priority" | "batch", priced as
     * billed (tt_price_cost_usage). */
    (void)tt_json_set_str(&span->service_tier,
                          tt_json_get(root, "usage", "service_tier", NULL));
    if (tt_json_counts(json_object_get(root, "usage"),
                       tt_anthropic_usage_fields,
                       TT_NELEM(tt_anthropic_usage_fields), u, have,
                       TT_ANTHROPIC_NSLOTS) == TT_OK &&
        have[TT_ANTHROPIC_IN] && have[TT_ANTHROPIC_OUT])
        tt_anthropic_set_usage(span, u, have);

    rc = TT_ERR_NOMEM;
    json_t *sr = json_object_get(root, "stop_reason");
    if (json_is_string(sr) && json_string_length(sr) > 0) {
        reasons = json_array();
        if (!reasons || json_array_append(reasons, sr) ||
            tt_json_set_field(&span->finish_reasons, json_incref(reasons)))
            goto out;
    }

    content = json_object_get(root, "content");
    if (capture && content && json_is_array(content) &&
        tt_json_set_field(&span->output, json_incref(content)))
        goto out;

    tools = json_array();
    if (!tools)
        goto out;
    for (size_t i = 0; i < json_array_size(content); i++) {
        json_t *b = json_array_get(content, i);
        size_t tn = 0;
        const char *t = tt_json_str(json_object_get(b, "type"), &tn);
        char *args = NULL;
        if (!t || !tt_tok_ieq(t, tn, "tool_use"))
            continue;
        if (capture) {
            json_t *in = json_object_get(b, "input");
            if (tt_json_dump(in ? in : json_object_get(b, "arguments"),
                             &args) == TT_ERR_NOMEM)
                goto out;
        }
        int e = tt_anthropic_tool_json(tools, b, args,
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
    json_decref(reasons);
    json_decref(root);
    return rc;
}

/* --- response: stream --------------------------------------------------- */

static struct tt_anthropic_block *
tt_anthropic_block(struct tt_anthropic_state *st, int64_t index)
{
    for (size_t i = 0; i < st->nblocks; i++)
        if (st->blocks[i].index == index)
            return &st->blocks[i];
    if (st->nblocks == TT_ANTHROPIC_MAX_BLOCKS)
        return NULL;
    struct tt_anthropic_block *b = &st->blocks[st->nblocks++];
    b->index = index;
    for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++)
        tt_buf_init(&b->acc[k], TT_ANTHROPIC_TEXT_BUDGET);
    return b;
}

/* Merge one usage object (message_start or message_delta): counts are
 * cumulative, so the latest wins; but a 0 never replaces a known count
 * (gateways send input_tokens:0 first and the real number later). */
static void tt_anthropic_merge_usage(struct tt_anthropic_state *st,
                                     const json_t *usage)
{
    int64_t u[TT_ANTHROPIC_NSLOTS];
    bool have[TT_ANTHROPIC_NSLOTS];

    if (!usage || json_is_null(usage))
        return;
    if (tt_json_counts(usage, tt_anthropic_usage_fields,
                       TT_NELEM(tt_anthropic_usage_fields), u, have,
                       TT_ANTHROPIC_NSLOTS) != TT_OK) {
        st->usage_bad = true;
        return;
    }
    for (size_t s = 0; s < TT_ANTHROPIC_NSLOTS; s++) {
        if (have[s] && (u[s] != 0 || !st->have[s])) {
            st->usage[s] = u[s];
            st->have[s] = true;
        }
    }
}

static int tt_anthropic_ev_message_start(struct tt_anthropic_state *st,
                                         struct tt_span *span,
                                         const json_t *root, int64_t now)
{
    json_t *msg = json_object_get(root, "message");

    (void)now;
    (void)tt_json_set_str(&span->response_id, json_object_get(msg, "id"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(msg, "model"));
    tt_anthropic_merge_usage(st, json_object_get(msg, "usage"));
    (void)tt_json_set_str(&span->service_tier,
                          tt_json_get(msg, "usage", "service_tier", NULL));
    /* Its output_tokens is a placeholder (1): the output is counted only by
     * a message_delta. A stream cut before one has no usage to report, not
     * an output of 1 priced as if it were known. */
    st->have[TT_ANTHROPIC_OUT] = false;
    st->usage[TT_ANTHROPIC_OUT] = 0;
    return TT_OK;
}

static int tt_anthropic_ev_block_start(struct tt_anthropic_state *st,
                                       struct tt_span *span,
                                       const json_t *root, int64_t now)
{
    json_t *cb = json_object_get(root, "content_block");
    int64_t index;
    struct tt_anthropic_block *b;

    (void)span;
    (void)now;
    if (tt_json_int64(json_object_get(root, "index"), &index) != TT_OK ||
        !json_is_object(cb))
        return TT_ERR_PARSE;
    b = tt_anthropic_block(st, index);
    if (!b)
        return TT_OK;
    json_decref(b->start);
    /* Kept after the event's root is freed: the block is rebuilt on it. */
    b->start = json_incref(cb);
    b->type = tt_json_str(json_object_get(cb, "type"), NULL);
    return TT_OK;
}

static int tt_anthropic_ev_block_delta(struct tt_anthropic_state *st,
                                       struct tt_span *span,
                                       const json_t *root, int64_t now)
{
    json_t *delta = json_object_get(root, "delta");
    size_t tn = 0, n = 0;
    const char *t = tt_json_str(json_object_get(delta, "type"), &tn);
    int64_t index;
    struct tt_anthropic_block *b;

    if (!t || tt_json_int64(json_object_get(root, "index"), &index) != TT_OK)
        return TT_ERR_PARSE;
    for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++) {
        const struct tt_anthropic_delta *d = &tt_anthropic_deltas[k];
        if (!tt_tok_ieq(t, tn, d->type))
            continue;
        const char *frag = tt_json_str(json_object_get(delta, d->field), &n);
        if (!frag)
            return TT_ERR_PARSE;
        if (d->token)
            tt_span_first_token(span, now);
        if (!tt_api_capture_content())
            return TT_OK;
        b = tt_anthropic_block(st, index);
        if (!b)
            return TT_OK;
        if (!b->type)
            b->type = d->block_type;
        if (n > st->budget) {
            n = st->budget;
            span->truncated = true;
        }
        if (n > 0 && tt_buf_append(&b->acc[k], frag, n) == TT_ERR_NOMEM)
            return TT_ERR_NOMEM;
        st->budget -= n;
        return TT_OK;
    }
    return TT_OK;       /* citations_delta and future kinds */
}

static int tt_anthropic_ev_message_delta(struct tt_anthropic_state *st,
                                         struct tt_span *span,
                                         const json_t *root, int64_t now)
{
    (void)now;
    (void)tt_json_set_str(&st->stop_reason,
                          tt_json_get(root, "delta", "stop_reason", NULL));
    tt_anthropic_merge_usage(st, json_object_get(root, "usage"));
    (void)tt_json_set_str(&span->service_tier,
                          tt_json_get(root, "usage", "service_tier", NULL));
    return TT_OK;
}

static int tt_anthropic_ev_message_stop(struct tt_anthropic_state *st,
                                        struct tt_span *span,
                                        const json_t *root, int64_t now)
{
    (void)span;
    (void)root;
    (void)now;
    st->stopped = true;
    return TT_OK;
}

static int tt_anthropic_ev_error(struct tt_anthropic_state *st,
                                 struct tt_span *span, const json_t *root,
                                 int64_t now)
{
    (void)st;
    (void)now;
    (void)tt_anthropic_error(span, root, true, false);
    return TT_OK;
}

/* Stream events by type; unlisted types (ping, content_block_stop, the
 * SDK's session events, future ones) carry nothing for the span. */
static const struct {
    const char *type;
    int (*fn)(struct tt_anthropic_state *, struct tt_span *, const json_t *,
              int64_t);
} tt_anthropic_events[] = {
    { "message_start", tt_anthropic_ev_message_start },
    { "content_block_start", tt_anthropic_ev_block_start },
    { "content_block_delta", tt_anthropic_ev_block_delta },
    { "message_delta", tt_anthropic_ev_message_delta },
    { "message_stop", tt_anthropic_ev_message_stop },
    { "error", tt_anthropic_ev_error },
};

/* --- the per-token events, without a tree -------------------------------
 *
 * Most of a stream is content_block_delta events (and pings). Each was
 * parsed into a jansson tree; now such an event is validated once
 * (tt_json_valid: what jansson accepts) and read as slices, with the tree
 * path's effects (the first token, the fragment walked unescaped into its
 * block within the budget). Every other event (message_start,
 * content_block_start, message_delta, message_stop, error, one that is
 * not valid or has no plain "type") takes the tree path below. */

#define TT_ANTHROPIC_SLOW 1

enum { AK_TYPE, AK_INDEX, AK_DELTA, AK_N };
static const char *const tt_anthropic_event_keys[AK_N] = { "type", "index", "delta" };

/* A JSON string without escapes, as its bytes. */
static bool tt_anthropic_plain(const struct tt_json_slice *v, const char **p, size_t *n)
{
    if (tt_json_kind_of(v) != TT_JSON_STRING || v->len < 2 ||
        memchr(v->ptr, '\\', v->len))
        return false;
    *p = v->ptr + 1;
    *n = v->len - 2;
    return true;
}

static int tt_anthropic_event_fast(struct tt_anthropic_state *st, struct tt_span *span,
                                   const char *data, size_t data_len, int64_t now)
{
    struct tt_json_slice m[AK_N], dm[1 + TT_ANTHROPIC_NDELTAS];
    const char *dkeys[1 + TT_ANTHROPIC_NDELTAS], *t, *dt;
    size_t tn, dtn;
    int64_t index;

    if (tt_json_valid_members(data, data_len, tt_anthropic_event_keys, AK_N, m) != TT_OK ||
        !tt_anthropic_plain(&m[AK_TYPE], &t, &tn))
        return TT_ANTHROPIC_SLOW;
    if (tt_tok_ieq(t, tn, "ping") || tt_tok_ieq(t, tn, "content_block_stop"))
        return TT_OK;           /* nothing for the span */
    if (!tt_tok_ieq(t, tn, "content_block_delta") ||
        tt_json_kind_of(&m[AK_DELTA]) != TT_JSON_OBJECT ||
        tt_json_slice_int(&m[AK_INDEX], &index) != TT_OK)
        return TT_ANTHROPIC_SLOW;
    dkeys[0] = "type";
    for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++)
        dkeys[1 + k] = tt_anthropic_deltas[k].field;
    if (tt_json_members(m[AK_DELTA].ptr, m[AK_DELTA].len, dkeys, 1 + TT_ANTHROPIC_NDELTAS,
                        dm) != TT_OK ||
        !tt_anthropic_plain(&dm[0], &dt, &dtn))
        return TT_ANTHROPIC_SLOW;
    for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++) {
        const struct tt_anthropic_delta *d = &tt_anthropic_deltas[k];
        if (!tt_tok_ieq(dt, dtn, d->type))
            continue;
        if (tt_json_kind_of(&dm[1 + k]) != TT_JSON_STRING)
            return TT_ANTHROPIC_SLOW;   /* the tree path says it is malformed */
        if (d->token)
            tt_span_first_token(span, now);
        if (!tt_api_capture_content())
            return TT_OK;
        struct tt_anthropic_block *b = tt_anthropic_block(st, index);
        if (!b)
            return TT_OK;
        if (!b->type)
            b->type = d->block_type;
        return tt_json_str_append_budget(&dm[1 + k], &b->acc[k], &st->budget,
                                         &span->truncated);
    }
    return TT_OK;       /* citations_delta and future kinds */
}

static int tt_anthropic_sse_event(void *state, struct tt_span *span,
                                  const char *event, size_t event_len,
                                  const char *data, size_t data_len,
                                  int64_t now)
{
    struct tt_anthropic_state *st = state;
    json_t *root = NULL;
    const char *type;
    size_t tn = 0;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if ((rc = tt_anthropic_event_fast(st, span, data, data_len, now)) != TT_ANTHROPIC_SLOW)
        return rc;
    rc = TT_OK;
    if (tt_json_parse(data, data_len, &root) != TT_OK ||
        !json_is_object(root)) {
        /* An error event is an error even when its data is garbage. */
        if (tt_tok_ieq(event, event_len, "error"))
            tt_span_fail(span, "provider error", false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    /* data.type is the event type (the event: line repeats it). */
    type = tt_json_str(json_object_get(root, "type"), &tn);
    if (!type) {
        type = event;
        tn = event_len;
    }
    for (size_t i = 0; i < TT_NELEM(tt_anthropic_events); i++) {
        if (tt_tok_ieq(type, tn, tt_anthropic_events[i].type)) {
            rc = tt_anthropic_events[i].fn(st, span, root, now);
            break;
        }
    }
out:
    json_decref(root);
    return rc;
}

/* The content block rebuilt from its start and its deltas; a new
 * reference or NULL on OOM. */
static json_t *tt_anthropic_rebuild(const struct tt_anthropic_block *b)
{
    json_t *o = b->start ? json_deep_copy(b->start) : json_object();

    if (!o)
        return NULL;
    if (!b->start &&
        json_object_set_new(o, "type", json_string(b->type ? b->type : "")))
        goto fail;
    for (size_t k = 0; k < TT_ANTHROPIC_NDELTAS; k++) {
        const struct tt_anthropic_delta *d = &tt_anthropic_deltas[k];
        const struct tt_buf *a = &b->acc[k];
        json_t *v = NULL;
        if (a->len == 0)
            continue;
        /* A stream cut inside the tool input leaves invalid JSON: keep
         * what came as a string rather than lose it. */
        if (d->json && tt_json_parse(a->data, a->len, &v) != TT_OK)
            v = NULL;
        if (!v)
            v = json_stringn(a->data, a->len);
        if (json_object_set_new(o, d->block_field, v))
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}

static int tt_anthropic_stream_end(struct tt_anthropic_state *st,
                                   struct tt_span *span)
{
    bool capture = tt_api_capture_content();
    json_t *blocks = NULL, *tools = NULL, *reasons = NULL;
    int rc = TT_ERR_NOMEM;

    if (!st->usage_bad && st->have[TT_ANTHROPIC_IN] &&
        st->have[TT_ANTHROPIC_OUT])
        tt_anthropic_set_usage(span, st->usage, st->have);
    else
        tt_span_clear_usage(span);

    if (st->stop_reason) {
        reasons = json_array();
        if (!reasons ||
            json_array_append_new(reasons, json_string(st->stop_reason)) ||
            tt_json_set_field(&span->finish_reasons, json_incref(reasons)))
            goto out;
    }

    /* Blocks arrive in index order; sort anyway (at most 64). */
    for (size_t i = 1; i < st->nblocks; i++) {
        struct tt_anthropic_block tmp = st->blocks[i];
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
        struct tt_anthropic_block *b = &st->blocks[i];
        json_t *o = NULL;
        if (capture) {
            o = tt_anthropic_rebuild(b);
            if (!o || json_array_append_new(blocks, o))
                goto out;
        }
        if (!b->type || strcmp(b->type, "tool_use") != 0)
            continue;
        char *args = NULL;
        if (capture) {
            json_t *in = json_object_get(o, "input");
            if (!in)                  /* no input streamed or started */
                args = tt_strndup("{}", 2);
            else if (json_is_string(in))   /* unparseable: the raw text */
                args = tt_strndup(json_string_value(in),
                                  json_string_length(in));
            else if (tt_json_dump(in, &args) != TT_OK)
                args = NULL;
            if (!args)
                goto out;
        }
        int e = tt_anthropic_tool_json(tools, capture ? o : b->start, args,
                                       args ? strlen(args) : 0);
        free(args);
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
    json_decref(reasons);
    json_decref(tools);
    json_decref(blocks);
    return rc;
}

static int tt_anthropic_stream_end_op(void *state, struct tt_span *span, const char **missing)
{
    struct tt_anthropic_state *st = state;
    int rc = tt_anthropic_stream_end(st, span);

    *missing = !st->stopped ? "no message_stop" : NULL;
    return rc;
}

const struct tt_api_ops tt_anthropic_messages_api = {
    .name = "anthropic.messages",
    .operation = "chat",
    .default_provider = "anthropic",
    .request = tt_anthropic_request,
    .response_begin = tt_anthropic_response_begin,
    .sse_event = tt_anthropic_sse_event,
    .body = tt_anthropic_body,
    .stream_end = tt_anthropic_stream_end_op,
    .response_free = tt_anthropic_response_free,
};
