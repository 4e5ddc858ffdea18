/* otlp.c - spans as OTLP/JSON with the GenAI conventions (otlp.h). */
#include "otlp.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "jsonw.h"

#ifndef TT_VERSION
#define TT_VERSION "0.1.0"
#endif

enum { KIND_INTERNAL = 1, KIND_CLIENT = 3 };
enum { STATUS_UNSET = 0, STATUS_ERROR = 2 };

/* ---- resource ------------------------------------------------------------ */

static int hexv(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Trimmed, percent-decoded copy of p[0..n); NULL on a bad escape or OOM. */
static char *decode_part(const char *p, size_t n, bool *bad)
{
    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    char *o = malloc(n + 1);
    size_t k = 0;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%') {
            int h = i + 2 < n ? hexv(p[i + 1]) : -1, l = i + 2 < n ? hexv(p[i + 2]) : -1;
            if (h < 0 || l < 0 || (h | l) == 0) {
                *bad = true;
                free(o);
                return NULL;
            }
            o[k++] = (char)(h * 16 + l);
            i += 2;
        } else {
            o[k++] = p[i];
        }
    }
    o[k] = '\0';
    return o;
}

static int attr_put(struct tt_otlp_resource *r, char *k, char *v)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->attrs[i].key, k) == 0) {   /* the later value wins */
            free(r->attrs[i].value);
            r->attrs[i].value = v;
            free(k);
            return TT_OK;
        }
    struct tt_otlp_attr *na = realloc(r->attrs, (r->n + 1) * sizeof(*na));
    if (!na) {
        free(k);
        free(v);
        return TT_ERR_NOMEM;
    }
    r->attrs = na;
    r->attrs[r->n++] = (struct tt_otlp_attr){ k, v };
    return TT_OK;
}

int tt_otlp_parse_attrs(const char *s, struct tt_otlp_resource *r, size_t *bad)
{
    size_t nbad = 0;

    while (s && *s) {
        size_t n = strcspn(s, ",");
        const char *eq = memchr(s, '=', n);
        if (n > 0 && !(n == strspn(s, " \t"))) {
            bool b = false;
            char *k = eq ? decode_part(s, (size_t)(eq - s), &b) : NULL;
            char *v = eq && k ? decode_part(eq + 1, n - (size_t)(eq - s) - 1, &b) : NULL;
            if (!eq || b || (k && !*k)) {
                nbad++;
                free(k);
                free(v);
            } else if (!k || !v) {
                free(k);
                free(v);
                return TT_ERR_NOMEM;
            } else if (attr_put(r, k, v) != TT_OK) {
                return TT_ERR_NOMEM;
            }
        }
        s += n;
        if (*s == ',')
            s++;
    }
    if (bad)
        *bad = nbad;
    return TT_OK;
}

const char *tt_otlp_resource_get(const struct tt_otlp_resource *r, const char *key)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->attrs[i].key, key) == 0)
            return r->attrs[i].value;
    return NULL;
}

static int put_dup(struct tt_otlp_resource *r, const char *k, const char *v)
{
    char *kk = strdup(k), *vv = strdup(v);
    if (!kk || !vv) {
        free(kk);
        free(vv);
        return TT_ERR_NOMEM;
    }
    return attr_put(r, kk, vv);
}

int tt_otlp_resource_from_env(struct tt_otlp_resource *r, size_t *bad)
{
    char host[256];
    const char *svc = getenv("OTEL_SERVICE_NAME");
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = tt_otlp_parse_attrs(getenv("OTEL_RESOURCE_ATTRIBUTES"), r, bad)) != TT_OK)
        goto fail;
    if (svc && *svc)
        rc = put_dup(r, "service.name", svc);
    else if (!tt_otlp_resource_get(r, "service.name"))
        rc = put_dup(r, "service.name", "tokentap");
    if (rc == TT_OK && !tt_otlp_resource_get(r, "host.name")) {
        if (gethostname(host, sizeof(host)) != 0)
            snprintf(host, sizeof(host), "unknown");
        host[sizeof(host) - 1] = '\0';
        rc = put_dup(r, "host.name", host);
    }
    if (rc == TT_OK)
        rc = put_dup(r, "telemetry.sdk.name", "tokentap");
    if (rc == TT_OK)
        rc = put_dup(r, "telemetry.sdk.version", TT_VERSION);
    if (rc == TT_OK)
        return TT_OK;
fail:
    tt_otlp_resource_free(r);
    return rc;
}

void tt_otlp_resource_free(struct tt_otlp_resource *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->attrs[i].key);
        free(r->attrs[i].value);
    }
    free(r->attrs);
    r->attrs = NULL;
    r->n = 0;
}

bool tt_otlp_capture_content(const char *env)
{
    static const char *const yes[] = { "true", "1", "yes", "span_only", "span_and_event" };

    if (!env)
        return false;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcasecmp(env, yes[i]) == 0)
            return true;
    return false;
}

/* ---- attributes ---------------------------------------------------------- */

struct aw {
    struct tt_buf *b;
    bool first;
    int rc;
};

static void key(struct aw *a, const char *k, const char *vtype)
{
    if (a->rc != TT_OK)
        return;
    if (!a->first)
        a->rc = tt_buf_append(a->b, ",", 1);
    a->first = false;
    if (a->rc == TT_OK)
        a->rc = tt_buf_append_str(a->b, "{\"key\":");
    if (a->rc == TT_OK)
        a->rc = tt_jw_str(a->b, k);
    if (a->rc == TT_OK)
        a->rc = tt_buf_appendf(a->b, ",\"value\":{\"%s\":", vtype);
}

static void end(struct aw *a)
{
    if (a->rc == TT_OK)
        a->rc = tt_buf_append(a->b, "}}", 2);
}

static void a_str(struct aw *a, const char *k, const char *v)
{
    if (!v)
        return;
    key(a, k, "stringValue");
    if (a->rc == TT_OK)
        a->rc = tt_jw_str(a->b, v);
    end(a);
}

static void a_int(struct aw *a, const char *k, int64_t v)
{
    key(a, k, "intValue");
    if (a->rc == TT_OK)
        a->rc = tt_buf_appendf(a->b, "\"%lld\"", (long long)v);
    end(a);
}

static void a_dbl(struct aw *a, const char *k, double v)
{
    key(a, k, "doubleValue");
    if (a->rc == TT_OK)
        a->rc = tt_jw_f64(a->b, v);
    end(a);
}

static void a_bool(struct aw *a, const char *k, bool v)
{
    key(a, k, "boolValue");
    if (a->rc == TT_OK)
        a->rc = tt_buf_append_str(a->b, v ? "true" : "false");
    end(a);
}

/* A JSON array of strings (finish_reasons) as an arrayValue. */
static void a_str_array(struct aw *a, const char *k, const char *json_text)
{
    json_t *arr = json_text ? json_loads(json_text, 0, NULL) : NULL;
    size_t i;
    json_t *v;
    bool first = true;

    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        json_decref(arr);
        return;
    }
    key(a, k, "arrayValue");
    if (a->rc == TT_OK)
        a->rc = tt_buf_append_str(a->b, "{\"values\":[");
    json_array_foreach(arr, i, v) {
        if (!json_is_string(v) || a->rc != TT_OK)
            continue;
        a->rc = tt_buf_append_str(a->b, first ? "{\"stringValue\":" : ",{\"stringValue\":");
        first = false;
        if (a->rc == TT_OK)
            a->rc = tt_jw_str(a->b, json_string_value(v));
        if (a->rc == TT_OK)
            a->rc = tt_buf_append(a->b, "}", 1);
    }
    if (a->rc == TT_OK)
        a->rc = tt_buf_append(a->b, "]}", 2);
    end(a);
    json_decref(arr);
}

/* A JSON value as a string attribute holding its compact text. */
static void a_json(struct aw *a, const char *k, json_t *v)
{
    char *t;

    if (!v || a->rc != TT_OK)
        return;
    if (!(t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15)))) {
        a->rc = TT_ERR_NOMEM;
        return;
    }
    a_str(a, k, t);
    free(t);
}

/* Every string member of a JSON object (tags, metadata) as prefix.KEY. */
static void a_object(struct aw *a, const char *prefix, const char *json_text)
{
    json_t *o = json_text ? json_loads(json_text, 0, NULL) : NULL;
    const char *k;
    json_t *v;
    char name[256];

    json_object_foreach(o, k, v) {
        snprintf(name, sizeof(name), "%s.%s", prefix, k);
        if (json_is_string(v))
            a_str(a, name, json_string_value(v));
        else if (json_is_integer(v))
            a_int(a, name, (int64_t)json_integer_value(v));
        else if (json_is_real(v))
            a_dbl(a, name, json_real_value(v));
        else if (json_is_boolean(v))
            a_bool(a, name, json_is_true(v));
        else
            a_json(a, name, v);
    }
    json_decref(o);
}

/* ---- content: the GenAI message schema ------------------------------------
 * gen_ai.input.messages / gen_ai.output.messages hold
 * [{"role": ..., "parts": [{"type": "text", "content": ...}, ...]}].
 * Provider shapes (OpenAI chat, Anthropic messages, a bare prompt) are
 * mapped; a block we do not know keeps its provider form as the part. */

static json_t *text_part(json_t *text)
{
    return json_pack("{s:s, s:O}", "type", "text", "content", text);
}

static json_t *block_part(json_t *blk)
{
    const char *t = json_string_value(json_object_get(blk, "type"));

    if (json_is_string(blk))
        return text_part(blk);
    if (!t)
        return json_incref(blk);
    if (!strcmp(t, "text") || !strcmp(t, "input_text") || !strcmp(t, "output_text")) {
        json_t *text = json_object_get(blk, "text");
        return text ? text_part(text) : json_pack("{s:s, s:s}", "type", "text", "content", "");
    }
    if (!strcmp(t, "tool_use"))
        return json_pack("{s:s, s:O?, s:O?, s:O?}", "type", "tool_call",
                         "id", json_object_get(blk, "id"), "name", json_object_get(blk, "name"),
                         "arguments", json_object_get(blk, "input"));
    if (!strcmp(t, "tool_result"))
        return json_pack("{s:s, s:O?, s:O?}", "type", "tool_call_response",
                         "id", json_object_get(blk, "tool_use_id"),
                         "response", json_object_get(blk, "content"));
    if (!strcmp(t, "thinking"))
        return json_pack("{s:s, s:O?}", "type", "reasoning", "content",
                         json_object_get(blk, "thinking"));
    return json_incref(blk);
}

static json_t *content_parts(json_t *content)
{
    json_t *parts = json_array();
    size_t i;
    json_t *b;

    if (!parts)
        return NULL;
    if (json_is_array(content)) {
        json_array_foreach(content, i, b)
            if (!json_is_null(b))
                json_array_append_new(parts, block_part(b));
    }
    else if (content && !json_is_null(content))
        json_array_append_new(parts, block_part(content));
    return parts;
}

/* OpenAI assistant "tool_calls": [{id, function: {name, arguments}}]. */
static void add_openai_tool_calls(json_t *parts, json_t *calls)
{
    size_t i;
    json_t *c;

    json_array_foreach(calls, i, c) {
        json_t *fn = json_object_get(c, "function");
        json_t *args = json_object_get(fn, "arguments");
        json_t *parsed = json_is_string(args)
                             ? json_loads(json_string_value(args), JSON_DECODE_ANY, NULL) : NULL;
        json_array_append_new(parts, json_pack("{s:s, s:O?, s:O?, s:o?}", "type", "tool_call",
                                               "id", json_object_get(c, "id"),
                                               "name", json_object_get(fn, "name"),
                                               "arguments", parsed ? parsed : json_incref(args)));
    }
}

static json_t *input_messages(json_t *in)
{
    json_t *out = json_array();
    size_t i;
    json_t *m;

    if (!out)
        return NULL;
    if (json_is_string(in)) {
        json_array_append_new(out, json_pack("{s:s, s:o}", "role", "user", "parts",
                                             content_parts(in)));
        return out;
    }
    json_t *msgs = json_is_array(in) ? in : json_object_get(in, "messages");
    if (!json_is_array(msgs)) {
        json_decref(out);
        return NULL;
    }
    json_array_foreach(msgs, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *parts = content_parts(json_object_get(m, "content"));
        if (!parts)
            continue;
        add_openai_tool_calls(parts, json_object_get(m, "tool_calls"));
        if (role && !strcmp(role, "tool")) {
            json_t *resp = json_pack("{s:s, s:O?, s:O?}", "type", "tool_call_response",
                                     "id", json_object_get(m, "tool_call_id"),
                                     "response", json_object_get(m, "content"));
            json_array_clear(parts);
            json_array_append_new(parts, resp);
        }
        json_array_append_new(out, json_pack("{s:s, s:o}", "role", role ? role : "user",
                                             "parts", parts));
    }
    return out;
}

static bool has_call_id(json_t *parts, json_t *id)
{
    size_t i;
    json_t *p;

    if (!json_is_string(id))
        return false;
    json_array_foreach(parts, i, p) {
        const char *t = json_string_value(json_object_get(p, "type"));
        if (t && !strcmp(t, "tool_call") && json_equal(json_object_get(p, "id"), id))
            return true;
    }
    return false;
}

static json_t *assistant(json_t *parts, json_t *finish)
{
    return json_pack("{s:s, s:o, s:O*}", "role", "assistant", "parts", parts,
                     "finish_reason", json_is_string(finish) ? finish : NULL);
}

/* The completion: one assistant message, or one per choice when the output
 * is an array of texts (n > 1), each with its finish reason; the span's
 * tool calls join the first message unless a block already holds them. */
static json_t *output_messages(const struct tt_span *s)
{
    json_t *outj = s->output ? json_loads(s->output, JSON_DECODE_ANY, NULL) : NULL;
    json_t *calls = s->tool_calls ? json_loads(s->tool_calls, 0, NULL) : NULL;
    json_t *fr = s->finish_reasons ? json_loads(s->finish_reasons, 0, NULL) : NULL;
    json_t *msgs = json_array();
    size_t i;
    json_t *c;
    bool choices = json_is_array(outj) && json_array_size(outj) > 0;

    json_array_foreach(outj, i, c)
        if (!json_is_string(c) && !json_is_null(c))
            choices = false;
    if (choices) {
        json_array_foreach(outj, i, c)
            if (json_is_string(c))
                json_array_append_new(msgs, assistant(content_parts(c), json_array_get(fr, i)));
    } else if (outj && !json_is_null(outj)) {
        json_t *parts = json_array();
        json_t *blocks = json_is_array(outj) ? outj : NULL;
        json_t *b;
        size_t k;
        if (blocks) {
            json_array_foreach(blocks, k, b)
                if (!json_is_null(b))
                    json_array_append_new(parts, block_part(b));
        } else {
            json_array_append_new(parts, block_part(outj));
        }
        json_array_append_new(msgs, assistant(parts, json_array_get(fr, 0)));
    }
    if (json_array_size(calls) > 0) {
        if (json_array_size(msgs) == 0)
            json_array_append_new(msgs, assistant(json_array(), json_array_get(fr, 0)));
        json_t *parts = json_object_get(json_array_get(msgs, 0), "parts");
        json_array_foreach(calls, i, c) {
            json_t *id = json_object_get(c, "id");
            if (has_call_id(parts, id))
                continue;
            json_t *args = json_object_get(c, "arguments");
            json_t *parsed = json_is_string(args)
                                 ? json_loads(json_string_value(args), JSON_DECODE_ANY, NULL)
                                 : NULL;
            json_array_append_new(parts, json_pack("{s:s, s:O?, s:O?, s:o?}", "type", "tool_call",
                                                   "id", id, "name", json_object_get(c, "name"),
                                                   "arguments", parsed ? parsed : json_incref(args)));
        }
    }
    json_decref(outj);
    json_decref(calls);
    json_decref(fr);
    if (json_array_size(msgs) == 0) {
        json_decref(msgs);
        return NULL;
    }
    return msgs;
}

static void a_content(struct aw *a, const struct tt_span *s, bool tool)
{
    json_t *in = s->input ? json_loads(s->input, JSON_DECODE_ANY, NULL) : NULL;

    if (tool) {
        /* Tool spans hold {name, arguments} in and the result out. */
        json_t *out = s->output ? json_loads(s->output, JSON_DECODE_ANY, NULL) : NULL;
        a_json(a, "gen_ai.tool.call.arguments", json_object_get(in, "arguments"));
        a_json(a, "gen_ai.tool.call.result", out);
        json_decref(out);
        json_decref(in);
        return;
    }
    json_t *im = in ? input_messages(in) : NULL;
    if (im)
        a_json(a, "gen_ai.input.messages", im);
    else if (s->input)
        a_str(a, "gen_ai.input.messages", s->input);     /* an unknown shape, as sent */
    json_t *om = output_messages(s);
    if (om)
        a_json(a, "gen_ai.output.messages", om);
    json_decref(im);
    json_decref(om);
    json_decref(in);
}

/* ---- span ---------------------------------------------------------------- */

/* "host:port" / "[v6]:port" / "host": address and port (0 = none given). */
static void split_host(const char *h, char *addr, size_t cap, long *port)
{
    const char *colon = NULL;

    *port = 0;
    if (h[0] == '[') {
        const char *rb = strchr(h, ']');
        snprintf(addr, cap, "%.*s", rb ? (int)(rb - h - 1) : (int)strlen(h), h + 1);
        colon = rb && rb[1] == ':' ? rb + 1 : NULL;
    } else {
        colon = strchr(h, ':');
        if (colon && strchr(colon + 1, ':'))
            colon = NULL;   /* a bare IPv6 address */
        snprintf(addr, cap, "%.*s", colon ? (int)(colon - h) : (int)strlen(h), h);
    }
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (*end == '\0' && p > 0 && p < 65536)
            *port = p;
    }
}

static const char *base_name(const char *p)
{
    const char *s = p ? strrchr(p, '/') : NULL;
    return s ? s + 1 : p;
}

int tt_otlp_span(const struct tt_span *s, bool content, struct tt_buf *out)
{
    bool llm = s->kind && !strcmp(s->kind, "llm");
    bool tool = s->kind && !strcmp(s->kind, "tool");
    bool err = s->status && !strcmp(s->status, "error");
    const char *tool_name = tool && s->name && !strncmp(s->name, "tool ", 5) ? s->name + 5 : NULL;
    struct aw a = { .b = out, .first = true };
    char name[512];

    if (tool)
        snprintf(name, sizeof(name), "execute_tool %s", tool_name ? tool_name : "");
    else
        snprintf(name, sizeof(name), "%s", s->name ? s->name : s->kind ? s->kind : "span");
    a.rc = tt_buf_append_str(out, "{\"traceId\":");
    if (a.rc == TT_OK)
        a.rc = tt_jw_str(out, s->trace_id);
    if (a.rc == TT_OK)
        a.rc = tt_buf_append_str(out, ",\"spanId\":");
    if (a.rc == TT_OK)
        a.rc = tt_jw_str(out, s->span_id);
    if (a.rc == TT_OK && s->parent_id[0]) {
        a.rc = tt_buf_append_str(out, ",\"parentSpanId\":");
        if (a.rc == TT_OK)
            a.rc = tt_jw_str(out, s->parent_id);
    }
    if (a.rc == TT_OK)
        a.rc = tt_buf_append_str(out, ",\"name\":");
    if (a.rc == TT_OK)
        a.rc = tt_jw_str(out, name);
    if (a.rc == TT_OK)
        a.rc = tt_buf_appendf(out, ",\"kind\":%d,\"startTimeUnixNano\":\"%lld\","
                              "\"endTimeUnixNano\":\"%lld\",\"attributes\":[",
                              llm ? KIND_CLIENT : KIND_INTERNAL,
                              (long long)(s->start_time > 0 ? s->start_time : 0),
                              (long long)(s->end_time > 0 ? s->end_time : 0));
    if (a.rc != TT_OK)
        return a.rc;

    if (llm || tool) {
        a_str(&a, "gen_ai.operation.name", tool ? "execute_tool" : s->operation);
        a_str(&a, "gen_ai.provider.name", s->provider);
    }
    if (llm) {
        char addr[256];
        long port;
        a_str(&a, "gen_ai.request.model", s->request_model);
        a_str(&a, "gen_ai.response.model", s->response_model);
        a_str(&a, "gen_ai.response.id", s->response_id);
        a_str_array(&a, "gen_ai.response.finish_reasons", s->finish_reasons);
        a_bool(&a, "gen_ai.request.stream", s->stream);
        if (s->has_temperature)
            a_dbl(&a, "gen_ai.request.temperature", s->temperature);
        if (s->has_top_p)
            a_dbl(&a, "gen_ai.request.top_p", s->top_p);
        if (s->has_max_tokens)
            a_int(&a, "gen_ai.request.max_tokens", s->max_tokens);
        if (s->usage_known) {
            a_int(&a, "gen_ai.usage.input_tokens", s->input_tokens);
            a_int(&a, "gen_ai.usage.output_tokens", s->output_tokens);
            a_int(&a, "gen_ai.usage.cache_read.input_tokens", s->cache_read_tokens);
            a_int(&a, "gen_ai.usage.cache_write.input_tokens", s->cache_write_tokens);
            a_int(&a, "gen_ai.usage.reasoning.output_tokens", s->reasoning_tokens);
            /* Modality subsets (no GenAI attribute yet): only when reported. */
            static const struct { const char *key; size_t off; } modal[] = {
                { "tokentap.usage.audio_input_tokens", offsetof(struct tt_span, audio_input_tokens) },
                { "tokentap.usage.audio_output_tokens", offsetof(struct tt_span, audio_output_tokens) },
                { "tokentap.usage.image_input_tokens", offsetof(struct tt_span, image_input_tokens) },
                { "tokentap.usage.image_output_tokens", offsetof(struct tt_span, image_output_tokens) },
            };
            for (size_t i = 0; i < sizeof(modal) / sizeof(modal[0]); i++) {
                int64_t v = *(const int64_t *)(const void *)((const char *)s + modal[i].off);
                if (v > 0)
                    a_int(&a, modal[i].key, v);
            }
        }
        a_str(&a, "tokentap.service_tier", s->service_tier);
        if (s->ttft_ms >= 0)
            a_dbl(&a, "gen_ai.response.time_to_first_chunk", s->ttft_ms / 1000.0);
        if (s->host) {
            split_host(s->host, addr, sizeof(addr), &port);
            a_str(&a, "server.address", addr);
            if (port)
                a_int(&a, "server.port", port);
        }
        a_str(&a, "http.request.method", s->method);
        a_str(&a, "url.path", s->path);
        if (s->http_status > 0)
            a_int(&a, "http.response.status_code", s->http_status);
        if (s->cost_known)
            a_dbl(&a, "tokentap.cost_usd", s->cost_usd);
        a_bool(&a, "tokentap.cost_known", s->cost_known);
        a_bool(&a, "tokentap.usage_known", s->usage_known);
        if (s->truncated)
            a_bool(&a, "tokentap.truncated", true);
    }
    if (tool)
        a_str(&a, "gen_ai.tool.name", tool_name);
    if (err) {
        char et[24];
        if (s->http_status >= 400)
            snprintf(et, sizeof(et), "%lld", (long long)s->http_status);
        else
            snprintf(et, sizeof(et), "_OTHER");
        a_str(&a, "error.type", et);
    }
    if (s->conversation_id[0])
        a_str(&a, "gen_ai.conversation.id", s->conversation_id);
    a_str(&a, "tokentap.kind", s->kind);
    a_str(&a, "tokentap.capture", s->capture);
    if (s->pid > 0)
        a_int(&a, "process.pid", s->pid);
    if (s->exe) {
        a_str(&a, "process.executable.name", base_name(s->exe));
        if (strchr(s->exe, '/'))
            a_str(&a, "process.executable.path", s->exe);
    }
    a_str(&a, "session.id", s->session_id);
    a_object(&a, "tokentap.tag", s->tags);
    a_object(&a, "tokentap.metadata", s->metadata);
    if (content && (llm || tool))
        a_content(&a, s, tool);
    if (a.rc != TT_OK)
        return a.rc;

    a.rc = tt_buf_append_str(out, "]");
    if (a.rc == TT_OK && err) {
        a.rc = tt_buf_appendf(out, ",\"status\":{\"code\":%d,\"message\":", STATUS_ERROR);
        if (a.rc == TT_OK)
            a.rc = tt_jw_str(out, s->error ? s->error : "error");
        if (a.rc == TT_OK)
            a.rc = tt_buf_append(out, "}", 1);
    }
    if (a.rc == TT_OK)
        a.rc = tt_buf_append(out, "}", 1);
    return a.rc;
}

int tt_otlp_open(const struct tt_otlp_resource *r, struct tt_buf *out)
{
    struct aw a = { .b = out, .first = true };

    a.rc = tt_buf_append_str(out, "{\"resourceSpans\":[{\"resource\":{\"attributes\":[");
    for (size_t i = 0; i < r->n; i++)
        a_str(&a, r->attrs[i].key, r->attrs[i].value);
    if (a.rc == TT_OK)
        a.rc = tt_buf_appendf(out, "]},\"scopeSpans\":[{\"scope\":{\"name\":\"tokentap\","
                              "\"version\":\"%s\"},\"spans\":[", TT_VERSION);
    return a.rc;
}

int tt_otlp_close(struct tt_buf *out)
{
    return tt_buf_append_str(out, "]}]}]}");
}
