/* gemini.c - Google Gemini generateContent / streamGenerateContent, served
 * by the Gemini API (generativelanguage.googleapis.com,
 * /v1beta/models/{model}:generateContent) and by Vertex AI
 * ({region}-aiplatform.googleapis.com, /v1/projects/{p}/locations/{l}/
 * publishers/google/models/{model}:generateContent). Wire format:
 * shared/research/providers.md section 5 (googleapis/python-genai).
 *
 * The model is only in the URL path, never in the body; span->path (set
 * before the request op runs, secrets such as ?key= already removed) is
 * where it comes from. ":streamGenerateContent" streams.
 *
 * Response framing:
 *   - non-stream: one GenerateContentResponse object;
 *   - ?alt=sse: SSE "data:" events, one GenerateContentResponse each, no
 *     terminal sentinel: the last chunk carries finishReason;
 *   - stream without alt=sse: ONE JSON array of those objects, served as
 *     application/json, so it reaches the body op whole (TTFT is then not
 *     measured: the exchange hands the body over only at its end).
 *   An error may also arrive as {"error":{"code","message","status"}}:
 *   as the HTTP error body, as an element of the array, or as a data:
 *   event. Gemini itself sends an in-stream error as plain multi-line
 *   JSON without "data:" (python-genai _iter_response_stream brace-balances
 *   such lines); the SSE layer drops non-field lines, so such a stream is
 *   failed by the missing finishReason instead ("stream ended before
 *   completion"), not with the provider's message.
 *
 * Usage (usageMetadata, on every chunk, cumulative: the LAST valid one is
 * the truth, never a sum; early chunks lack candidatesTokenCount):
 *   input_tokens      promptTokenCount + toolUsePromptTokenCount
 *                     (promptTokenCount already includes the cached part)
 *   cache_read_tokens cachedContentTokenCount
 *   output_tokens     candidatesTokenCount + thoughtsTokenCount
 *                     (candidates excludes thoughts; both are billed as
 *                     output)
 *   reasoning_tokens  thoughtsTokenCount
 *   audio/image_input_tokens   promptTokensDetails AUDIO / IMAGE counts
 *   audio/image_output_tokens  candidatesTokensDetails AUDIO / IMAGE counts
 *
 * Span content shapes (JSON text, see DESIGN.md "Span"):
 *   input       the request's "contents" array as sent; a systemInstruction
 *               is put first as {"role":"system","content":<as sent>}, the
 *               same shape as Anthropic's system prompt, so that input is
 *               a messages array for every chat API. Raw text throughout.
 *   output      one candidate (the usual candidateCount 1): its text parts
 *               concatenated, as a JSON string; absent when it has none
 *               (a function-call-only answer). Thought parts
 *               ("thought":true) are not output text: they are billed
 *               (thoughtsTokenCount) and start the TTFT clock, like
 *               OpenAI's reasoning_content. Several candidates: an array
 *               with one such value (or null) per candidate, by index.
 *   tool_calls  [{"id":..,"name":..,"arguments":..}] for functionCall
 *               parts over all candidates; "id" only when Gemini sent one
 *               (it usually does not: none is made up), "arguments" is the
 *               args object as compact JSON *text*. With content capture
 *               off the array keeps id and name only.
 */
#include "api.h"
#include "json.h"
#include "span.h"
#include "tt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TT_GEMINI_MAX_CANDS 16
#define TT_GEMINI_MAX_TOOLS 64
/* Streamed text kept per response: see openai.c. */
#define TT_GEMINI_TEXT_BUDGET ((size_t)8 << 20)
#define TT_GEMINI_ERROR_MAX 512

#define TT_NELEM(a) (sizeof(a) / sizeof((a)[0]))

enum tt_gemini_slot {
    TT_GEMINI_PROMPT,
    TT_GEMINI_TOOL_PROMPT,
    TT_GEMINI_CACHED,
    TT_GEMINI_CANDIDATES,
    TT_GEMINI_THOUGHTS,
    TT_GEMINI_NSLOTS
};

/* Zero counts are omitted on the wire (proto3 JSON): every count but the
 * prompt's is optional. */
static const struct tt_json_count_field tt_gemini_usage_fields[] = {
    { TT_GEMINI_PROMPT, true, { "promptTokenCount", NULL } },
    { TT_GEMINI_TOOL_PROMPT, false, { "toolUsePromptTokenCount", NULL } },
    { TT_GEMINI_CACHED, false, { "cachedContentTokenCount", NULL } },
    { TT_GEMINI_CANDIDATES, false, { "candidatesTokenCount", NULL } },
    { TT_GEMINI_THOUGHTS, false, { "thoughtsTokenCount", NULL } },
};

/* Modality subsets (ModalityTokenCount lists): priced apart. */
enum tt_gemini_modal {
    TT_GEMINI_AUDIO_IN,
    TT_GEMINI_IMAGE_IN,
    TT_GEMINI_AUDIO_OUT,
    TT_GEMINI_IMAGE_OUT,
    TT_GEMINI_NMODAL
};

static const struct {
    const char *list;       /* usageMetadata member */
    const char *modality;   /* its entries' "modality" */
    enum tt_gemini_modal slot;
} tt_gemini_modals[] = {
    { "promptTokensDetails", "AUDIO", TT_GEMINI_AUDIO_IN },
    { "promptTokensDetails", "IMAGE", TT_GEMINI_IMAGE_IN },
    { "candidatesTokensDetails", "AUDIO", TT_GEMINI_AUDIO_OUT },
    { "candidatesTokensDetails", "IMAGE", TT_GEMINI_IMAGE_OUT },
};

/* The modality counts of a usageMetadata ([{"modality":"AUDIO",
 * "tokenCount":N}, ...]; a zero count is omitted on the wire). Returns
 * TT_ERR_PARSE for a count that is not a valid token count. */
static int tt_gemini_modal_counts(const json_t *usage, int64_t *out)
{
    memset(out, 0, TT_GEMINI_NMODAL * sizeof(*out));
    for (size_t m = 0; m < sizeof(tt_gemini_modals) / sizeof(tt_gemini_modals[0]); m++) {
        const json_t *list = json_object_get(usage, tt_gemini_modals[m].list);
        for (size_t i = 0; i < json_array_size(list); i++) {
            const json_t *e = json_array_get(list, i);
            const char *mod = json_string_value(json_object_get(e, "modality"));
            const json_t *c = json_object_get(e, "tokenCount");
            int64_t n;

            if (!mod || strcmp(mod, tt_gemini_modals[m].modality) != 0 || !c)
                continue;
            if (tt_json_int64(c, &n) != TT_OK || n < 0 || n > TT_JSON_COUNT_MAX ||
                out[tt_gemini_modals[m].slot] > TT_JSON_COUNT_MAX - n)
                return TT_ERR_PARSE;
            out[tt_gemini_modals[m].slot] += n;
        }
    }
    return TT_OK;
}

/* Request members read by tt_gemini_request. The REST mapping accepts
 * proto field names as well as camelCase; SDKs send camelCase, raw REST
 * users either. Each name's preferred spelling comes first. */
enum tt_gemini_req_key {
    TT_GEMINI_REQ_CONFIG,
    TT_GEMINI_REQ_CONFIG_SNAKE,
    TT_GEMINI_REQ_CONTENTS,           /* raw from here on */
    TT_GEMINI_REQ_SYSTEM,
    TT_GEMINI_REQ_SYSTEM_SNAKE,
    TT_GEMINI_REQ_NKEYS
};

static const char *const tt_gemini_req_keys[TT_GEMINI_REQ_NKEYS] = {
    [TT_GEMINI_REQ_CONFIG] = "generationConfig",
    [TT_GEMINI_REQ_CONFIG_SNAKE] = "generation_config",
    [TT_GEMINI_REQ_CONTENTS] = "contents",
    [TT_GEMINI_REQ_SYSTEM] = "systemInstruction",
    [TT_GEMINI_REQ_SYSTEM_SNAKE] = "system_instruction",
};

/* generationConfig members, camelCase first. */
static const char *const tt_gemini_temperature_keys[] = { "temperature" };
static const char *const tt_gemini_top_p_keys[] = { "topP", "top_p" };
static const char *const tt_gemini_max_tokens_keys[] = { "maxOutputTokens",
                                                         "max_output_tokens" };

/* Path markers: the method after the model, and the segment before a
 * publisher model (Vertex) or a Gemini API model. */
#define TT_GEMINI_STREAM_METHOD ":streamGenerateContent"

struct tt_gemini_cand {
    int64_t index;
    struct tt_buf text;
    bool has_text;
    char *finish_reason;
};

struct tt_gemini_tool {
    char *id;
    char *name;
    char *args;                 /* compact JSON text; NULL: capture off */
};

struct tt_gemini_state {
    bool got_body;
    bool body_array;            /* the body was a stream without alt=sse */
    bool got_events;
    bool errored;               /* an in-band error object was seen */
    bool last_finished;         /* latest chunk with candidates had a
                                 * finishReason */
    bool usage_seen;            /* latest usageMetadata was valid */
    bool usage_bad;             /* latest usageMetadata was not */
    int64_t usage[TT_GEMINI_NSLOTS];
    int64_t modal[TT_GEMINI_NMODAL];   /* of the same usageMetadata */
    size_t budget;              /* streamed text bytes still allowed */
    size_t ncands;
    struct tt_gemini_cand cands[TT_GEMINI_MAX_CANDS];
    size_t ntools;
    struct tt_gemini_tool tools[TT_GEMINI_MAX_TOOLS];
};

/* --- request ------------------------------------------------------------ */

/* The model named by a request path: the segment before ":{method}", e.g.
 * "gemini-2.5-flash" in /v1beta/models/gemini-2.5-flash:generateContent
 * or in .../publishers/google/models/gemini-2.5-pro:streamGenerateContent.
 * The query is ignored. TT_ERR_PARSE when there is no such segment. */
static int tt_gemini_path_model(const char *path, const char **model,
                                size_t *len)
{
    size_t n = strcspn(path, "?#");
    const char *colon = NULL, *start;

    /* The method colon is in the last segment. */
    for (size_t i = n; i > 0; i--) {
        if (path[i - 1] == '/')
            break;
        if (path[i - 1] == ':')
            colon = &path[i - 1];
    }
    if (!colon)
        return TT_ERR_PARSE;
    start = colon;
    while (start > path && start[-1] != '/')
        start--;
    if (start == colon)
        return TT_ERR_PARSE;
    *model = start;
    *len = (size_t)(colon - start);
    return TT_OK;
}

static bool tt_gemini_path_streams(const char *path)
{
    size_t n = strcspn(path, "?#");
    size_t m = strlen(TT_GEMINI_STREAM_METHOD);

    return n >= m && memcmp(path + n - m, TT_GEMINI_STREAM_METHOD, m) == 0;
}

static json_t *tt_gemini_first_key(const json_t *obj,
                                   const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (v && !json_is_null(v))
            return v;
    }
    return NULL;
}

/* generationConfig's sampling parameters. The config is small (a few
 * scalars): parsing its slice whole is cheap. */
static int tt_gemini_req_params(struct tt_span *span,
                                const struct tt_json_slice *m)
{
    const struct tt_json_slice *cs = m[TT_GEMINI_REQ_CONFIG].ptr
                                         ? &m[TT_GEMINI_REQ_CONFIG]
                                         : &m[TT_GEMINI_REQ_CONFIG_SNAKE];
    json_t *cfg = NULL;
    int rc = tt_json_slice_parse(cs, &cfg);

    span->has_temperature =
        tt_json_double(tt_gemini_first_key(cfg, tt_gemini_temperature_keys,
                                           TT_NELEM(tt_gemini_temperature_keys)),
                       &span->temperature) == TT_OK;
    span->has_top_p =
        tt_json_double(tt_gemini_first_key(cfg, tt_gemini_top_p_keys,
                                           TT_NELEM(tt_gemini_top_p_keys)),
                       &span->top_p) == TT_OK;
    span->has_max_tokens =
        tt_json_int64(tt_gemini_first_key(cfg, tt_gemini_max_tokens_keys,
                                          TT_NELEM(tt_gemini_max_tokens_keys)),
                      &span->max_tokens) == TT_OK;
    json_decref(cfg);
    return rc == TT_OK ? TT_OK : TT_ERR_PARSE;
}

static bool tt_gemini_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

#define TT_GEMINI_SYSTEM_HEAD "[{\"role\":\"system\",\"content\":"

/* span->input: contents with the system instruction first (see the file
 * comment), spliced from the raw slices as anthropic.c does:
 *   [{"role":"system","content":SYSTEM} + , + contents after its "[",
 * or }] when contents is empty. Contents that is not an array, or a null
 * system instruction, leaves contents as they are. 0, TT_ERR_PARSE (a NUL
 * byte: input left unset) or TT_ERR_NOMEM. */
static int tt_gemini_input(struct tt_span *span,
                           const struct tt_json_slice *contents,
                           const struct tt_json_slice *sys)
{
    static const char head[] = TT_GEMINI_SYSTEM_HEAD;
    size_t i = 1, hn = sizeof(head) - 1, tail, total;
    char *d, *p;

    if (!sys->ptr || contents->ptr[0] != '[' ||
        (sys->len == 4 && memcmp(sys->ptr, "null", 4) == 0))
        return tt_json_set_raw(&span->input, contents);
    if (memchr(sys->ptr, '\0', sys->len) ||
        memchr(contents->ptr, '\0', contents->len))
        return TT_ERR_PARSE;
    while (i < contents->len && tt_gemini_is_ws(contents->ptr[i]))
        i++;
    /* tt_json_members ends an array slice with "]", so i < len. */
    tail = contents->ptr[i] == ']' ? 0 : contents->len - 1;
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
    memcpy(p, contents->ptr + 1, tail);
    d[total] = '\0';
    free(span->input);
    span->input = d;
    return TT_OK;
}

static int tt_gemini_request(struct tt_span *span, const char *body,
                             size_t len)
{
    struct tt_json_slice m[TT_GEMINI_REQ_NKEYS];
    const char *model;
    size_t model_len;
    int rc, mrc;

    if (tt_span_set(&span->operation, tt_gemini_generate_api.operation) !=
        TT_OK)
        goto nomem;
    if (span->path) {
        span->stream = tt_gemini_path_streams(span->path);
        if (tt_gemini_path_model(span->path, &model, &model_len) == TT_OK &&
            tt_span_setn(&span->request_model, model, model_len) != TT_OK)
            goto nomem;
    }

    /* A body cut at the capture cap still gives every member before the
     * cut; contents is usually first and the largest, so a cut body often
     * keeps only what precedes it. */
    mrc = tt_json_members(body, len, tt_gemini_req_keys, TT_GEMINI_REQ_NKEYS,
                          m);
    rc = mrc == TT_OK ? TT_OK : TT_ERR_PARSE;
    if (mrc != TT_ERR_PARSE) {
        if (tt_gemini_req_params(span, m) != TT_OK)
            rc = TT_ERR_PARSE;
        if (tt_api_capture_content() && m[TT_GEMINI_REQ_CONTENTS].ptr) {
            int prc = tt_gemini_input(
                span, &m[TT_GEMINI_REQ_CONTENTS],
                m[TT_GEMINI_REQ_SYSTEM].ptr ? &m[TT_GEMINI_REQ_SYSTEM]
                                            : &m[TT_GEMINI_REQ_SYSTEM_SNAKE]);
            if (prc == TT_ERR_NOMEM)
                goto nomem;
            if (prc != TT_OK)
                rc = prc;
        }
    }

    if (tt_span_set_name(span, tt_gemini_generate_api.operation) != TT_OK)
        goto nomem;
    goto out;
nomem:
    rc = TT_ERR_NOMEM;
out:
    return rc;
}

/* --- response: chunks --------------------------------------------------- */

static int tt_gemini_response_begin(struct tt_span *span, void **state)
{
    struct tt_gemini_state *st = calloc(1, sizeof(*st));

    (void)span;
    *state = st;
    if (!st)
        return TT_ERR_NOMEM;
    st->budget = TT_GEMINI_TEXT_BUDGET;
    return TT_OK;
}

static void tt_gemini_response_free(void *state)
{
    struct tt_gemini_state *st = state;

    if (!st)
        return;
    for (size_t i = 0; i < st->ncands; i++) {
        tt_buf_free(&st->cands[i].text);
        free(st->cands[i].finish_reason);
    }
    for (size_t i = 0; i < st->ntools; i++) {
        free(st->tools[i].id);
        free(st->tools[i].name);
        free(st->tools[i].args);
    }
    free(st);
}

/* {"error":{"code":429,"message":"...","status":"RESOURCE_EXHAUSTED"}}
 * fails the span with "STATUS: message" (the code when there is no
 * status). Returns true when root was an error. In an error body the
 * provider's message beats the transport's HTTP status (override); in a
 * stream the first error is the cause. */
static bool tt_gemini_error(struct tt_span *span, const json_t *root,
                            bool override)
{
    json_t *err = json_object_get(root, "error");
    char msg[TT_GEMINI_ERROR_MAX], code[32] = "";
    size_t slen = 0, mlen = 0;
    const char *status, *text;
    int64_t c;

    if (!err || json_is_null(err))
        return false;
    status = tt_json_str(json_object_get(err, "status"), &slen);
    text = tt_json_str(json_object_get(err, "message"), &mlen);
    if (json_is_string(err)) {
        text = tt_json_str(err, &mlen);
    } else if ((!status || slen == 0) &&
               tt_json_int64(json_object_get(err, "code"), &c) == TT_OK) {
        snprintf(code, sizeof(code), "%lld", (long long)c);
        status = code;
        slen = strlen(code);
    }
    if (slen > 0 && mlen > 0)
        snprintf(msg, sizeof(msg), "%.*s: %.*s", (int)(slen > 100 ? 100 : slen),
                 status, (int)(mlen > 400 ? 400 : mlen), text);
    else if (mlen > 0)
        snprintf(msg, sizeof(msg), "%.*s", (int)(mlen > 400 ? 400 : mlen),
                 text);
    else if (slen > 0)
        snprintf(msg, sizeof(msg), "%.*s", (int)(slen > 100 ? 100 : slen),
                 status);
    else
        snprintf(msg, sizeof(msg), "provider error");
    tt_span_fail(span, msg, override);
    return true;
}

static struct tt_gemini_cand *tt_gemini_cand(struct tt_gemini_state *st,
                                             int64_t index)
{
    for (size_t i = 0; i < st->ncands; i++)
        if (st->cands[i].index == index)
            return &st->cands[i];
    if (st->ncands == TT_GEMINI_MAX_CANDS)
        return NULL;
    struct tt_gemini_cand *c = &st->cands[st->ncands++];
    c->index = index;
    tt_buf_init(&c->text, TT_GEMINI_TEXT_BUDGET);
    return c;
}

/* Append text within the response's budget; what does not fit is dropped
 * and the span says it was truncated. */
static int tt_gemini_acc(struct tt_gemini_state *st, struct tt_span *span,
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

/* A functionCall part: {"name":..,"args":{..},"id":..?}, whole in one
 * part (Gemini does not stream arguments). */
static int tt_gemini_function_call(struct tt_gemini_state *st,
                                   const json_t *fc)
{
    struct tt_gemini_tool *t;
    json_t *args;

    if (st->ntools == TT_GEMINI_MAX_TOOLS)
        return TT_OK;             /* counted in usage all the same */
    t = &st->tools[st->ntools++];
    (void)tt_json_set_str(&t->id, json_object_get(fc, "id"));
    (void)tt_json_set_str(&t->name, json_object_get(fc, "name"));
    args = json_object_get(fc, "args");
    if (tt_api_capture_content() && args && !json_is_null(args) &&
        tt_json_dump(args, &t->args) == TT_ERR_NOMEM)
        return TT_ERR_NOMEM;
    return TT_OK;
}

static int tt_gemini_parts(struct tt_gemini_state *st, struct tt_span *span,
                           struct tt_gemini_cand *c, const json_t *parts,
                           int64_t now)
{
    bool capture = tt_api_capture_content();

    for (size_t k = 0; k < json_array_size(parts); k++) {
        json_t *part = json_array_get(parts, k);
        json_t *fc = json_object_get(part, "functionCall");
        size_t n = 0;
        const char *s = tt_json_str(json_object_get(part, "text"), &n);
        int rc;

        if (s) {
            if (n > 0 && now)
                tt_span_first_token(span, now);
            if (json_is_true(json_object_get(part, "thought")))
                continue;
            c->has_text = true;
            if (capture && (rc = tt_gemini_acc(st, span, &c->text, s, n)))
                return rc;
        } else if (json_is_object(fc)) {
            if (now)
                tt_span_first_token(span, now);
            if ((rc = tt_gemini_function_call(st, fc)) != TT_OK)
                return rc;
        }
    }
    return TT_OK;
}

/* One GenerateContentResponse: the whole body, an SSE event's data or an
 * element of a streamed array. now = 0: no TTFT (whole bodies). */
static int tt_gemini_chunk(struct tt_gemini_state *st, struct tt_span *span,
                           const json_t *root, int64_t now, bool override)
{
    json_t *cands, *u, *block;
    int64_t counts[TT_GEMINI_NSLOTS];
    bool present[TT_GEMINI_NSLOTS], finished = false;

    if (!json_is_object(root))
        return TT_ERR_PARSE;
    if (tt_gemini_error(span, root, override)) {
        st->errored = true;
        return TT_OK;
    }
    (void)tt_json_set_str(&span->response_id,
                          json_object_get(root, "responseId"));
    (void)tt_json_set_str(&span->response_model,
                          json_object_get(root, "modelVersion"));

    u = json_object_get(root, "usageMetadata");
    if (u && !json_is_null(u)) {
        int64_t modal[TT_GEMINI_NMODAL];

        if (tt_json_counts(u, tt_gemini_usage_fields,
                           TT_NELEM(tt_gemini_usage_fields), counts, present,
                           TT_GEMINI_NSLOTS) == TT_OK &&
            tt_gemini_modal_counts(u, modal) == TT_OK) {
            memcpy(st->usage, counts, sizeof(st->usage));
            memcpy(st->modal, modal, sizeof(st->modal));
            st->usage_seen = true;
            st->usage_bad = false;
        } else {
            st->usage_bad = true;
        }
    }

    /* A blocked prompt has no candidates: the caller got no answer, but
     * the prompt was counted (usageMetadata is still there). */
    block = tt_json_get(root, "promptFeedback", "blockReason", NULL);
    if (json_is_string(block) && json_string_length(block) > 0) {
        char msg[160];
        snprintf(msg, sizeof(msg), "prompt blocked: %.100s",
                 json_string_value(block));
        tt_span_fail(span, msg, false);
        st->errored = true;
    }

    cands = json_object_get(root, "candidates");
    for (size_t i = 0; i < json_array_size(cands); i++) {
        json_t *cj = json_array_get(cands, i);
        int64_t index;
        struct tt_gemini_cand *c;
        int rc;

        if (!json_is_object(cj))
            continue;
        if (tt_json_int64(json_object_get(cj, "index"), &index) != TT_OK)
            index = (int64_t)i;    /* proto3 omits index 0 */
        c = tt_gemini_cand(st, index);
        if (!c)
            continue;              /* more than we track: counts still come */
        if (tt_json_set_str(&c->finish_reason,
                            json_object_get(cj, "finishReason")) == TT_OK)
            finished = true;
        rc = tt_gemini_parts(st, span, c,
                             tt_json_get(cj, "content", "parts", NULL), now);
        if (rc != TT_OK)
            return rc;
    }
    /* A usage-only chunk says nothing about whether the answer ended. */
    if (json_array_size(cands) > 0)
        st->last_finished = finished;
    return TT_OK;
}

/* --- response: whole body ----------------------------------------------- */

static int tt_gemini_body(void *state, struct tt_span *span, const char *body,
                          size_t len)
{
    struct tt_gemini_state *st = state;
    json_t *root = NULL;
    int rc = TT_OK;

    if (!st)
        return TT_ERR_NOMEM;
    st->got_body = true;
    if (tt_json_parse(body, len, &root) != TT_OK) {
        tt_span_fail(span, span->truncated
                               ? "response body truncated at the capture cap"
                               : "malformed response body",
                     false);
        rc = TT_ERR_PARSE;
        goto out;
    }
    if (json_is_array(root)) {
        /* streamGenerateContent without alt=sse: the chunks, whole. An
         * element that is not an object costs only itself. */
        st->body_array = true;
        for (size_t i = 0; i < json_array_size(root); i++) {
            int crc = tt_gemini_chunk(st, span, json_array_get(root, i), 0,
                                      true);
            if (crc == TT_ERR_NOMEM) {
                rc = crc;
                goto out;
            }
            if (crc != TT_OK)
                rc = crc;
        }
    } else {
        rc = tt_gemini_chunk(st, span, root, 0, true);
        if (rc == TT_ERR_PARSE)
            tt_span_fail(span, "malformed response body", false);
    }
out:
    json_decref(root);
    return rc;
}

/* --- the usual chunk, without a tree ------------------------------------
 *
 * A stream's chunks each carry the candidates' new text and the usage so
 * far. Each was parsed into a jansson tree; now the usual chunk (no error,
 * no promptFeedback, no function call, at most TT_GEMINI_FAST_CANDS
 * candidates with plain-integer indexes and unescaped finish reasons) is
 * validated once (tt_json_valid: what jansson accepts) and read as slices
 * with tt_gemini_chunk's effects, in its order: the response id and
 * model, the usage (tt_json_counts_slice, the modality counts below), the
 * candidates' finish reasons, first token and text. What the slices
 * cannot decide as the tree would takes the tree, before any effect. */

#define TT_GEMINI_SLOW 1
#define TT_GEMINI_FAST_CANDS 4

enum { GK_CANDS, GK_USAGE, GK_ID, GK_MODEL, GK_ERROR, GK_FEEDBACK, GK_N };
static const char *const tt_gemini_chunk_keys[GK_N] = {
    "candidates", "usageMetadata", "responseId", "modelVersion", "error", "promptFeedback",
};
enum { GC_INDEX, GC_CONTENT, GC_FINISH, GC_N };
static const char *const tt_gemini_cand_keys[GC_N] = { "index", "content", "finishReason" };
enum { GP_TEXT, GP_THOUGHT, GP_CALL, GP_N };
static const char *const tt_gemini_part_keys[GP_N] = { "text", "thought", "functionCall" };

/* tt_gemini_modal_counts over a usageMetadata slice. */
static int tt_gemini_modal_counts_slice(const struct tt_json_slice *u, int64_t *out)
{
    static const char *const lists[2] = { "promptTokensDetails", "candidatesTokensDetails" };
    static const char *const ekeys[2] = { "modality", "tokenCount" };
    struct tt_json_slice l[2], e, em[2];

    memset(out, 0, TT_GEMINI_NMODAL * sizeof(*out));
    if (tt_json_members(u->ptr, u->len, lists, 2, l) != TT_OK)
        return TT_GEMINI_SLOW;
    for (size_t m = 0; m < TT_NELEM(tt_gemini_modals); m++) {
        const struct tt_json_slice *list = &l[strcmp(tt_gemini_modals[m].list, lists[0]) ? 1 : 0];
        size_t pos = 0;
        if (tt_json_kind_of(list) != TT_JSON_ARRAY)
            continue;
        while (tt_json_next(list, &pos, &e)) {
            int64_t n;
            if (tt_json_kind_of(&e) != TT_JSON_OBJECT)
                continue;
            if (tt_json_members(e.ptr, e.len, ekeys, 2, em) != TT_OK ||
                (em[0].ptr && memchr(em[0].ptr, '\\', em[0].len)))
                return TT_GEMINI_SLOW;
            if (!tt_json_str_is(&em[0], tt_gemini_modals[m].modality) || !em[1].ptr)
                continue;
            int rc = tt_json_slice_int(&em[1], &n);
            if (rc == TT_ERR_UNSUPPORTED)
                return TT_GEMINI_SLOW;      /* 5.0: as jansson reads it */
            if (rc != TT_OK || n < 0 || n > TT_JSON_COUNT_MAX ||
                out[tt_gemini_modals[m].slot] > TT_JSON_COUNT_MAX - n)
                return TT_ERR_PARSE;
            out[tt_gemini_modals[m].slot] += n;
        }
    }
    return TT_OK;
}

/* Whether a candidate's parts can be read here (no function call). */
static bool tt_gemini_parts_fast(const struct tt_json_slice *content)
{
    static const char *const ckeys[1] = { "parts" };
    struct tt_json_slice parts, part, pm[GP_N];
    size_t pos = 0;

    if (tt_json_kind_of(content) != TT_JSON_OBJECT)
        return true;                /* no parts: nothing to read */
    if (tt_json_members(content->ptr, content->len, ckeys, 1, &parts) != TT_OK)
        return false;
    if (tt_json_kind_of(&parts) != TT_JSON_ARRAY)
        return true;
    while (tt_json_next(&parts, &pos, &part)) {
        if (tt_json_kind_of(&part) != TT_JSON_OBJECT)
            continue;
        if (tt_json_members(part.ptr, part.len, tt_gemini_part_keys, GP_N, pm) != TT_OK ||
            pm[GP_CALL].ptr)
            return false;
    }
    return true;
}

static int tt_gemini_chunk_fast(struct tt_gemini_state *st, struct tt_span *span,
                                const char *data, size_t data_len, int64_t now)
{
    static const char *const ckeys[1] = { "parts" };
    struct tt_json_slice m[GK_N], cm[TT_GEMINI_FAST_CANDS][GC_N], el;
    bool cobj[TT_GEMINI_FAST_CANDS], finished = false, capture = tt_api_capture_content();
    int64_t counts[TT_GEMINI_NSLOTS], modal[TT_GEMINI_NMODAL];
    bool present[TT_GEMINI_NSLOTS];
    size_t nc = 0, pos = 0;
    int urc = TT_OK;

    /* Validated and read in one pass; not valid: a lost chunk costs its
     * content only; valid but not an object: the tree path says so. */
    if (tt_json_valid_members(data, data_len, tt_gemini_chunk_keys, GK_N, m) != TT_OK)
        return tt_json_valid(data, data_len) != TT_OK ? TT_ERR_PARSE : TT_GEMINI_SLOW;
    if (m[GK_ERROR].ptr || m[GK_FEEDBACK].ptr)
        return TT_GEMINI_SLOW;
    /* Everything that could send this chunk to the tree, decided first. */
    if (tt_json_kind_of(&m[GK_CANDS]) == TT_JSON_ARRAY) {
        while (tt_json_next(&m[GK_CANDS], &pos, &el)) {
            int64_t ix;
            if (nc == TT_GEMINI_FAST_CANDS)
                return TT_GEMINI_SLOW;
            cobj[nc] = tt_json_kind_of(&el) == TT_JSON_OBJECT;
            if (!cobj[nc]) {
                nc++;
                continue;
            }
            struct tt_json_slice *c = cm[nc++];
            if (tt_json_members(el.ptr, el.len, tt_gemini_cand_keys, GC_N, c) != TT_OK ||
                (tt_json_kind_of(&c[GC_INDEX]) == TT_JSON_NUMBER &&
                 tt_json_slice_int(&c[GC_INDEX], &ix) != TT_OK) ||
                (c[GC_FINISH].ptr && memchr(c[GC_FINISH].ptr, '\\', c[GC_FINISH].len)) ||
                !tt_gemini_parts_fast(&c[GC_CONTENT]))
                return TT_GEMINI_SLOW;
        }
    }
    bool usage = m[GK_USAGE].ptr && tt_json_kind_of(&m[GK_USAGE]) != TT_JSON_NULL;
    if (usage) {
        urc = tt_json_counts_slice(&m[GK_USAGE], tt_gemini_usage_fields,
                                   TT_NELEM(tt_gemini_usage_fields), counts, present,
                                   TT_GEMINI_NSLOTS);
        if (urc == TT_ERR_UNSUPPORTED)
            return TT_GEMINI_SLOW;
        if (urc == TT_OK && (urc = tt_gemini_modal_counts_slice(&m[GK_USAGE], modal)) ==
                                TT_GEMINI_SLOW)
            return TT_GEMINI_SLOW;
    }

    tt_json_set_slice_str(&span->response_id, &m[GK_ID]);
    tt_json_set_slice_str(&span->response_model, &m[GK_MODEL]);
    if (usage && urc == TT_OK) {
        memcpy(st->usage, counts, sizeof(st->usage));
        memcpy(st->modal, modal, sizeof(st->modal));
        st->usage_seen = true;
        st->usage_bad = false;
    } else if (usage) {
        st->usage_bad = true;
    }
    for (size_t i = 0; i < nc; i++) {
        struct tt_json_slice parts, part, pm[GP_N];
        int64_t index;
        size_t ppos = 0;
        if (!cobj[i])
            continue;
        if (tt_json_slice_int(&cm[i][GC_INDEX], &index) != TT_OK)
            index = (int64_t)i;     /* proto3 omits index 0 */
        struct tt_gemini_cand *c = tt_gemini_cand(st, index);
        if (!c)
            continue;               /* more than we track: counts still come */
        if (tt_json_kind_of(&cm[i][GC_FINISH]) == TT_JSON_STRING && cm[i][GC_FINISH].len > 2) {
            tt_json_set_slice_str(&c->finish_reason, &cm[i][GC_FINISH]);
            finished = true;
        }
        if (tt_json_kind_of(&cm[i][GC_CONTENT]) != TT_JSON_OBJECT ||
            tt_json_members(cm[i][GC_CONTENT].ptr, cm[i][GC_CONTENT].len, ckeys, 1,
                            &parts) != TT_OK ||
            tt_json_kind_of(&parts) != TT_JSON_ARRAY)
            continue;
        while (tt_json_next(&parts, &ppos, &part)) {
            if (tt_json_kind_of(&part) != TT_JSON_OBJECT ||
                tt_json_members(part.ptr, part.len, tt_gemini_part_keys, GP_N, pm) != TT_OK ||
                tt_json_kind_of(&pm[GP_TEXT]) != TT_JSON_STRING)
                continue;
            if (pm[GP_TEXT].len > 2 && now)
                tt_span_first_token(span, now);
            if (tt_json_kind_of(&pm[GP_THOUGHT]) == TT_JSON_TRUE)
                continue;
            c->has_text = true;
            int rc;
            if (capture && (rc = tt_json_str_append_budget(&pm[GP_TEXT], &c->text, &st->budget,
                                                          &span->truncated)))
                return rc;
        }
    }
    /* A usage-only chunk says nothing about whether the answer ended. */
    if (nc > 0)
        st->last_finished = finished;
    return TT_OK;
}

/* --- response: stream --------------------------------------------------- */

static int tt_gemini_sse_event(void *state, struct tt_span *span,
                               const char *event, size_t event_len,
                               const char *data, size_t data_len, int64_t now)
{
    struct tt_gemini_state *st = state;
    json_t *root = NULL;
    int rc;

    (void)event;
    (void)event_len;
    if (!st)
        return TT_ERR_NOMEM;
    st->got_events = true;
    if ((rc = tt_gemini_chunk_fast(st, span, data, data_len, now)) != TT_GEMINI_SLOW)
        return rc;
    /* A lost chunk costs its content, not the span: the usage of later
     * chunks is still the truth. */
    if (tt_json_parse(data, data_len, &root) != TT_OK)
        return TT_ERR_PARSE;
    rc = tt_gemini_chunk(st, span, root, now, false);
    json_decref(root);
    return rc;
}

/* --- response: end ------------------------------------------------------ */

static void tt_gemini_set_usage(struct tt_gemini_state *st,
                                struct tt_span *span)
{
    const int64_t *u = st->usage;

    if (!st->usage_seen || st->usage_bad) {
        tt_span_clear_usage(span);
        return;
    }
    /* Each count is below TT_JSON_COUNT_MAX: the sums cannot overflow. */
    span->input_tokens = u[TT_GEMINI_PROMPT] + u[TT_GEMINI_TOOL_PROMPT];
    span->cache_read_tokens = u[TT_GEMINI_CACHED];
    span->cache_write_tokens = 0;
    span->output_tokens = u[TT_GEMINI_CANDIDATES] + u[TT_GEMINI_THOUGHTS];
    span->reasoning_tokens = u[TT_GEMINI_THOUGHTS];
    span->audio_input_tokens = st->modal[TT_GEMINI_AUDIO_IN];
    span->image_input_tokens = st->modal[TT_GEMINI_IMAGE_IN];
    span->audio_output_tokens = st->modal[TT_GEMINI_AUDIO_OUT];
    span->image_output_tokens = st->modal[TT_GEMINI_IMAGE_OUT];
    span->usage_known = true;
}

static void tt_gemini_sort_cands(struct tt_gemini_state *st)
{
    for (size_t i = 1; i < st->ncands; i++) {
        struct tt_gemini_cand tmp = st->cands[i];
        size_t j = i;
        while (j > 0 && st->cands[j - 1].index > tmp.index) {
            st->cands[j] = st->cands[j - 1];
            j--;
        }
        st->cands[j] = tmp;
    }
}

static int tt_gemini_tool_json(json_t *arr, const struct tt_gemini_tool *t)
{
    json_t *o = json_object();

    if (!o)
        return TT_ERR_NOMEM;
    if ((t->id && json_object_set_new(o, "id", json_string(t->id))) ||
        json_object_set_new(o, "name",
                            t->name ? json_string(t->name) : json_null()) ||
        (t->args && json_object_set_new(o, "arguments", json_string(t->args))))
        goto fail;
    if (json_array_append_new(arr, o))
        return TT_ERR_NOMEM;
    return TT_OK;
fail:
    json_decref(o);
    return TT_ERR_NOMEM;
}

/* Output, finish_reasons and tool_calls from what the chunks left. */
static int tt_gemini_assemble(struct tt_gemini_state *st, struct tt_span *span)
{
    bool capture = tt_api_capture_content();
    json_t *reasons = NULL, *outs = NULL, *tools = NULL;
    int rc = TT_ERR_NOMEM;

    tt_gemini_set_usage(st, span);
    tt_gemini_sort_cands(st);
    reasons = json_array();
    outs = json_array();
    tools = json_array();
    if (!reasons || !outs || !tools)
        goto out;
    for (size_t i = 0; i < st->ncands; i++) {
        struct tt_gemini_cand *c = &st->cands[i];
        json_t *o = c->has_text ? json_stringn(c->text.data ? c->text.data
                                                            : "",
                                               c->text.len)
                                : json_null();
        if (c->finish_reason &&
            json_array_append_new(reasons, json_string(c->finish_reason)))
            goto out;
        if (json_array_append_new(outs, o))
            goto out;
    }
    for (size_t i = 0; i < st->ntools; i++)
        if (tt_gemini_tool_json(tools, &st->tools[i]) != TT_OK)
            goto out;

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
    json_decref(tools);
    json_decref(outs);
    json_decref(reasons);
    return rc;
}

/* Both ends assemble the span from what was collected. No sentinel ends
 * a Gemini stream: its last chunk's finishReason does. A single response
 * object is complete when it parsed; an array body is a stream in one
 * piece. */
static int tt_gemini_stream_end(void *state, struct tt_span *span, const char **missing)
{
    struct tt_gemini_state *st = state;
    int rc = tt_gemini_assemble(st, span);

    *missing = !st->errored && !st->last_finished ? "no finishReason" : NULL;
    return rc;
}

static int tt_gemini_body_end(void *state, struct tt_span *span, const char **why)
{
    struct tt_gemini_state *st = state;
    int rc = tt_gemini_assemble(st, span);

    *why = st->body_array && !st->errored && !st->last_finished
           ? "stream ended before completion (no finishReason)" : NULL;
    return rc;
}

const struct tt_api_ops tt_gemini_generate_api = {
    .name = "gemini.generate_content",
    .operation = "generate_content",
    .default_provider = "gcp.gemini",
    .request = tt_gemini_request,
    .response_begin = tt_gemini_response_begin,
    .sse_event = tt_gemini_sse_event,
    .body = tt_gemini_body,
    .stream_end = tt_gemini_stream_end,
    .body_end = tt_gemini_body_end,
    .response_free = tt_gemini_response_free,
};
