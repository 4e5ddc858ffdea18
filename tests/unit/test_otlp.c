/* test_otlp.c - exporter/otlp.c: resource attributes from the environment,
 * the content switch, and spans as OTLP/JSON with the GenAI conventions,
 * checked by parsing the whole request back with jansson. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "genai_fixture.h"
#include "otlp.h"
#include "tt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Parameters of a table-driven test: the indexes of the table's rows. */
#define TABLE_PARAMS(table)                                                       \
    do {                                                                          \
        static size_t idx_[N(table)];                                             \
        for (size_t i_ = 0; i_ < N(table); i_++)                                  \
            idx_[i_] = i_;                                                        \
        return cr_make_param_array(size_t, idx_, N(table));                     \
    } while (0)

/* ---- tt_otlp_parse_attrs ----------------------------------------------------- */

struct kv {
    const char *k, *v;
};

struct attrs_case {
    const char *in;
    struct kv want[4];      /* in order; ends at the first NULL key */
    size_t bad;
};

static const struct attrs_case attrs_cases[] = {
    { "a=b,c=d", { { "a", "b" }, { "c", "d" } }, 0 },
    { "  a = b ,\tc=d  ", { { "a", "b" }, { "c", "d" } }, 0 },
    { "k=a%2Cb", { { "k", "a,b" } }, 0 },
    { "k=%41", { { "k", "A" } }, 0 },
    { "deployment.environment=prod%20eu", { { "deployment.environment", "prod eu" } }, 0 },
    { ",,a=b,,", { { "a", "b" } }, 0 },
    { "", { { NULL, NULL } }, 0 },
    { "   ", { { NULL, NULL } }, 0 },
    { NULL, { { NULL, NULL } }, 0 },
    { "novalue,a=b", { { "a", "b" } }, 1 },
    { "a=b,c", { { "a", "b" } }, 1 },
    { "=v,a=b", { { "a", "b" } }, 1 },
    { " =v", { { NULL, NULL } }, 1 },
    { "k=%zz,a=b", { { "a", "b" } }, 1 },
    { "k=%2,a=b", { { "a", "b" } }, 1 },
    { "k=%", { { NULL, NULL } }, 1 },
    { "k=a%00b", { { NULL, NULL } }, 1 },
    { "a=1,b=2,a=3", { { "a", "3" }, { "b", "2" } }, 0 },
    { "x,y,z", { { NULL, NULL } }, 3 },
};

ParameterizedTestParameters(otlp, parse_attrs)
{
    TABLE_PARAMS(attrs_cases);
}

ParameterizedTest(size_t *i, otlp, parse_attrs)
{
    const struct attrs_case *c = &attrs_cases[*i];
    const char *name = c->in ? c->in : "(NULL)";
    struct tt_otlp_resource r = { 0 };
    size_t bad = 99, n = 0;

    cr_assert_eq(tt_otlp_parse_attrs(c->in, &r, &bad), TT_OK, "[%s]", name);
    cr_expect_eq(bad, c->bad, "[%s]: bad %zu, want %zu", name, bad, c->bad);
    while (n < N(c->want) && c->want[n].k)
        n++;
    cr_expect_eq(r.n, n, "[%s]: %zu pairs, want %zu", name, r.n, n);
    for (size_t k = 0; k < n && k < r.n; k++) {
        cr_expect_str_eq(r.attrs[k].key, c->want[k].k, "[%s]: key %zu", name, k);
        cr_expect_str_eq(r.attrs[k].value, c->want[k].v, "[%s]: value of %s", name,
                         c->want[k].k);
        cr_expect_str_eq(tt_otlp_resource_get(&r, c->want[k].k), c->want[k].v, "[%s]", name);
    }
    tt_otlp_resource_free(&r);
    cr_expect_eq(r.n, 0);
    cr_expect_null(r.attrs);
}

Test(otlp, parse_attrs_appends_and_a_later_call_wins)
{
    struct tt_otlp_resource r = { 0 };
    size_t bad;

    cr_assert_eq(tt_otlp_parse_attrs("a=1,b=2", &r, &bad), TT_OK);
    cr_assert_eq(tt_otlp_parse_attrs("b=3,c=4", &r, NULL), TT_OK);
    cr_expect_eq(r.n, 3);
    cr_expect_str_eq(tt_otlp_resource_get(&r, "a"), "1");
    cr_expect_str_eq(tt_otlp_resource_get(&r, "b"), "3");
    cr_expect_str_eq(tt_otlp_resource_get(&r, "c"), "4");
    cr_expect_null(tt_otlp_resource_get(&r, "d"));
    tt_otlp_resource_free(&r);
    tt_otlp_resource_free(&r);      /* twice: harmless */
}

/* ---- tt_otlp_resource_from_env -------------------------------------------------- */

struct env_case {
    const char *service_name;   /* OTEL_SERVICE_NAME; NULL = unset */
    const char *attrs;          /* OTEL_RESOURCE_ATTRIBUTES; NULL = unset */
    const char *want_service;
    const char *want_host;      /* NULL: gethostname() */
    size_t want_bad;
    const char *extra_key, *extra_value;    /* another attribute expected, or NULL */
};

static const struct env_case env_cases[] = {
    { NULL, NULL, "tokentap", NULL, 0, NULL, NULL },
    { "", "", "tokentap", NULL, 0, NULL, NULL },
    { "billing", NULL, "billing", NULL, 0, NULL, NULL },
    { NULL, "service.name=fromattr", "fromattr", NULL, 0, NULL, NULL },
    { "fromenv", "service.name=fromattr", "fromenv", NULL, 0, NULL, NULL },
    { "", "service.name=fromattr", "fromattr", NULL, 0, NULL, NULL },
    { NULL, "host.name=box-1,deployment.environment=prod", "tokentap", "box-1", 0,
      "deployment.environment", "prod" },
    { "svc", "broken,host.name=h%2D2,team=ml", "svc", "h-2", 1, "team", "ml" },
    { NULL, "telemetry.sdk.name=other", "tokentap", NULL, 0, NULL, NULL },
};

ParameterizedTestParameters(otlp, resource_from_env)
{
    TABLE_PARAMS(env_cases);
}

ParameterizedTest(size_t *i, otlp, resource_from_env)
{
    const struct env_case *c = &env_cases[*i];
    struct tt_otlp_resource r;
    char host[256] = "";
    size_t bad = 99;

    if (c->service_name)
        setenv("OTEL_SERVICE_NAME", c->service_name, 1);
    else
        unsetenv("OTEL_SERVICE_NAME");
    if (c->attrs)
        setenv("OTEL_RESOURCE_ATTRIBUTES", c->attrs, 1);
    else
        unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    cr_assert_eq(gethostname(host, sizeof(host) - 1), 0);

    cr_assert_eq(tt_otlp_resource_from_env(&r, &bad), TT_OK, "case %zu", *i);
    cr_expect_eq(bad, c->want_bad, "case %zu: bad %zu", *i, bad);
    cr_expect_str_eq(tt_otlp_resource_get(&r, "service.name"), c->want_service, "case %zu",
                     *i);
    cr_expect_str_eq(tt_otlp_resource_get(&r, "host.name"), c->want_host ? c->want_host : host,
                     "case %zu", *i);
    cr_expect_str_eq(tt_otlp_resource_get(&r, "telemetry.sdk.name"), "tokentap", "case %zu",
                     *i);
    const char *ver = tt_otlp_resource_get(&r, "telemetry.sdk.version");
    cr_expect(ver && *ver, "case %zu: telemetry.sdk.version", *i);
    if (c->extra_key)
        cr_expect_str_eq(tt_otlp_resource_get(&r, c->extra_key), c->extra_value, "case %zu",
                         *i);
    /* Each key once. */
    for (size_t a = 0; a < r.n; a++)
        for (size_t b = a + 1; b < r.n; b++)
            cr_expect_str_neq(r.attrs[a].key, r.attrs[b].key, "case %zu: duplicate key", *i);
    tt_otlp_resource_free(&r);
}

/* ---- tt_otlp_capture_content ----------------------------------------------------- */

struct content_case {
    const char *env;
    bool want;
};

static const struct content_case content_cases[] = {
    { NULL, false },         { "", false },           { "true", true },
    { "TRUE", true },        { "1", true },           { "yes", true },
    { "SPAN_ONLY", true },   { "span_and_event", true }, { "EVENT_ONLY", false },
    { "NO_CONTENT", false }, { "false", false },      { "0", false },
    { "truex", false },
};

Test(otlp, capture_content_table)
{
    for (size_t i = 0; i < N(content_cases); i++) {
        const struct content_case *c = &content_cases[i];
        cr_expect_eq(tt_otlp_capture_content(c->env), c->want, "env %s: want %d",
                     c->env ? c->env : "(unset)", c->want);
    }
}

/* ---- spans ------------------------------------------------------------------------ */

/* Encode one span inside a request around a small resource; the root is
 * returned, *span points into it (borrowed). */
static json_t *encode(const struct tt_span *s, bool content, json_t **span)
{
    struct tt_otlp_resource r = { 0 };
    struct tt_buf b;
    json_error_t je;
    size_t bad;

    cr_assert_eq(tt_otlp_parse_attrs("service.name=svc,host.name=h1", &r, &bad), TT_OK);
    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(tt_otlp_open(&r, &b), TT_OK);
    size_t at = b.len;
    cr_assert_eq(tt_otlp_span(s, content, &b), TT_OK);
    cr_assert_null(memchr(b.data + at, '\n', b.len - at), "a span is one line (a queue record)");
    cr_assert_eq(tt_otlp_close(&b), TT_OK);
    json_t *root = json_loadb(b.data, b.len, 0, &je);
    cr_assert_not_null(root, "not JSON: %s at %d: %.*s", je.text, je.position, (int)b.len, b.data);
    tt_buf_free(&b);
    tt_otlp_resource_free(&r);

    json_t *rs = json_object_get(root, "resourceSpans");
    cr_assert(json_is_array(rs) && json_array_size(rs) == 1);
    json_t *res_attrs = json_object_get(json_object_get(json_array_get(rs, 0), "resource"),
                                        "attributes");
    cr_assert(json_is_array(res_attrs));
    json_t *ss = json_object_get(json_array_get(rs, 0), "scopeSpans");
    cr_assert(json_is_array(ss) && json_array_size(ss) == 1);
    json_t *scope = json_object_get(json_array_get(ss, 0), "scope");
    cr_expect_str_eq(json_string_value(json_object_get(scope, "name")), "tokentap");
    json_t *spans = json_object_get(json_array_get(ss, 0), "spans");
    cr_assert(json_is_array(spans) && json_array_size(spans) == 1);
    *span = json_array_get(spans, 0);
    cr_assert(json_is_object(*span));
    return root;
}

/* The value object ({"stringValue": ...}) of attribute k, or NULL; a key
 * present twice is an error. */
static json_t *attr(json_t *attrs, const char *k)
{
    json_t *found = NULL, *a;
    size_t i;

    json_array_foreach(attrs, i, a) {
        const char *key = json_string_value(json_object_get(a, "key"));
        cr_assert_not_null(key, "attribute without a key");
        if (strcmp(key, k) == 0) {
            cr_expect_null(found, "attribute %s twice", k);
            found = json_object_get(a, "value");
            cr_assert(json_is_object(found) && json_object_size(found) == 1,
                      "%s: value must have one typed member", k);
        }
    }
    return found;
}

static const char *str_attr(json_t *span, const char *k)
{
    json_t *v = attr(json_object_get(span, "attributes"), k);
    return v ? json_string_value(json_object_get(v, "stringValue")) : NULL;
}

/* Expected attributes: type 's' string, 'i' intValue (decimal string),
 * 'd' doubleValue, 'b' boolValue ("true"/"false"), 'a' arrayValue of
 * strings (v: JSON array text), '-' absent. */
struct aexp {
    const char *key;
    char t;
    const char *v;
};

static void check_attr(const char *cname, json_t *attrs, const struct aexp *e)
{
    json_t *v = attr(attrs, e->key);

    if (e->t == '-') {
        cr_expect_null(v, "[%s] %s must be absent", cname, e->key);
        return;
    }
    cr_expect_not_null(v, "[%s] %s missing", cname, e->key);
    if (!v)
        return;
    switch (e->t) {
    case 's': {
        json_t *s = json_object_get(v, "stringValue");
        cr_expect(json_is_string(s), "[%s] %s: want stringValue", cname, e->key);
        if (s)
            cr_expect_str_eq(json_string_value(s), e->v, "[%s] %s", cname, e->key);
        break;
    }
    case 'i': {
        json_t *s = json_object_get(v, "intValue");
        cr_expect(json_is_string(s), "[%s] %s: want intValue as a JSON string", cname, e->key);
        if (json_is_string(s))
            cr_expect_str_eq(json_string_value(s), e->v, "[%s] %s", cname, e->key);
        break;
    }
    case 'd': {
        json_t *d = json_object_get(v, "doubleValue");
        double want = strtod(e->v, NULL);
        cr_expect(json_is_number(d), "[%s] %s: want doubleValue as a number", cname, e->key);
        double got = json_number_value(d);
        cr_expect(fabs(got - want) <= 1e-12 * fabs(want), "[%s] %s: %.17g, want %s", cname,
                  e->key, got, e->v);
        break;
    }
    case 'b': {
        json_t *b = json_object_get(v, "boolValue");
        cr_expect(json_is_boolean(b), "[%s] %s: want boolValue", cname, e->key);
        cr_expect_eq(json_is_true(b), strcmp(e->v, "true") == 0, "[%s] %s", cname, e->key);
        break;
    }
    case 'a': {
        json_t *arr = json_object_get(json_object_get(v, "arrayValue"), "values");
        json_t *want = json_loads(e->v, 0, NULL);
        cr_assert_not_null(want);
        cr_expect(json_is_array(arr), "[%s] %s: want arrayValue.values", cname, e->key);
        cr_expect_eq(json_array_size(arr), json_array_size(want), "[%s] %s", cname, e->key);
        for (size_t k = 0; k < json_array_size(want) && k < json_array_size(arr); k++)
            cr_expect_str_eq(json_string_value(json_object_get(json_array_get(arr, k),
                                                               "stringValue")),
                             json_string_value(json_array_get(want, k)), "[%s] %s[%zu]",
                             cname, e->key, k);
        json_decref(want);
        break;
    }
    default:
        cr_assert_fail("bad table type %c", e->t);
    }
}

/* ---- the span table ---- */

struct span_case {
    const char *name;
    void (*build)(struct tt_span *);
    const char *want_name;
    int want_kind;
    bool want_parent;
    const char *want_status_msg;    /* NULL: no status object */
    struct aexp attrs[40];          /* ends at the first NULL key */
};

/* An OpenAI audio call on the flex tier: the modality subsets and the tier
 * are sent; zero subsets are not. */
static void fx_openai_audio_flex(struct tt_span *s)
{
    fx_openai_ok(s);
    s->audio_input_tokens = 60;
    s->audio_output_tokens = 40;
    cr_assert_eq(tt_span_set(&s->service_tier, "flex"), 0);
}

static const struct span_case span_cases[] = {
    { "openai_audio_flex", fx_openai_audio_flex, "chat gpt-4o-mini", 3, true, NULL, {
        { "gen_ai.usage.input_tokens", 'i', "123" },
        { "tokentap.usage.audio_input_tokens", 'i', "60" },
        { "tokentap.usage.audio_output_tokens", 'i', "40" },
        { "tokentap.usage.image_input_tokens", '-', NULL },
        { "tokentap.usage.image_output_tokens", '-', NULL },
        { "tokentap.service_tier", 's', "flex" },
    } },
    { "openai_ok", fx_openai_ok, "chat gpt-4o-mini", 3, true, NULL, {
        { "gen_ai.operation.name", 's', "chat" },
        { "gen_ai.provider.name", 's', "openai" },
        { "gen_ai.request.model", 's', "gpt-4o-mini" },
        { "gen_ai.response.model", 's', "gpt-4o-mini-2024-07-18" },
        { "gen_ai.response.id", 's', "chatcmpl-123" },
        { "gen_ai.response.finish_reasons", 'a', "[\"stop\"]" },
        { "gen_ai.request.stream", 'b', "false" },
        { "gen_ai.request.temperature", 'd', "0.7" },
        { "gen_ai.request.max_tokens", 'i', "256" },
        { "gen_ai.request.top_p", '-', NULL },
        { "gen_ai.usage.input_tokens", 'i', "123" },
        { "gen_ai.usage.output_tokens", 'i', "45" },
        { "gen_ai.usage.cache_read.input_tokens", 'i', "0" },
        { "gen_ai.usage.cache_write.input_tokens", 'i', "0" },
        { "gen_ai.usage.reasoning.output_tokens", 'i', "7" },
        { "tokentap.usage.audio_input_tokens", '-', NULL },
        { "tokentap.service_tier", '-', NULL },
        { "gen_ai.response.time_to_first_chunk", '-', NULL },
        { "tokentap.cost_usd", 'd', "0.00036" },
        { "tokentap.cost_known", 'b', "true" },
        { "tokentap.usage_known", 'b', "true" },
        { "server.address", 's', "api.openai.com" },
        { "server.port", '-', NULL },
        { "http.request.method", 's', "POST" },
        { "url.path", 's', "/v1/chat/completions" },
        { "http.response.status_code", 'i', "200" },
        { "error.type", '-', NULL },
        { "gen_ai.conversation.id", 's', "c0ffee0123456789" },
        { "tokentap.kind", 's', "llm" },
        { "process.pid", 'i', "4242" },
        { "process.executable.name", 's', "python3.11" },
        { "process.executable.path", 's', "/usr/bin/python3.11" },
        { "session.id", 's', "sess-1" },
        { "tokentap.tag.team", 's', "ml" },
        { "tokentap.tag.n", 'i', "1" },
        { "gen_ai.tool.name", '-', NULL },
        { "gen_ai.input.messages", '-', NULL },     /* content off */
        { "gen_ai.output.messages", '-', NULL },
    } },
    { "anthropic_stream", fx_anthropic_stream, "chat claude-sonnet-4", 3, false, NULL, {
        { "gen_ai.provider.name", 's', "anthropic" },
        { "gen_ai.response.finish_reasons", 'a', "[\"end_turn\"]" },
        { "gen_ai.request.stream", 'b', "true" },
        { "gen_ai.request.temperature", '-', NULL },
        { "gen_ai.usage.input_tokens", 'i', "1500" },
        { "gen_ai.usage.output_tokens", 'i', "80" },
        { "gen_ai.usage.cache_read.input_tokens", 'i', "1000" },
        { "gen_ai.usage.cache_write.input_tokens", 'i', "200" },
        { "gen_ai.response.time_to_first_chunk", 'd', "0.2505" },
        { "tokentap.cost_usd", 'd', "0.0123" },
        { "server.address", 's', "127.0.0.1" },
        { "server.port", 'i', "8443" },
        { "process.pid", '-', NULL },
    } },
    { "error_429", fx_error_429, "chat gpt-4o-mini", 3, false, "HTTP 429: rate limited", {
        { "error.type", 's', "429" },
        { "http.response.status_code", 'i', "429" },
        { "server.address", 's', "::1" },
        { "server.port", 'i', "9000" },
        { "gen_ai.response.finish_reasons", '-', NULL },
        { "gen_ai.usage.input_tokens", '-', NULL },
        { "tokentap.cost_usd", '-', NULL },
    } },
    { "error_no_status", fx_error_no_status, "chat gpt-4o-mini", 3, false,
      "connection reset by peer", {
        { "error.type", 's', "_OTHER" },
        { "http.response.status_code", '-', NULL },
        { "server.address", 's', "api.openai.com" },
        { "server.port", 'i', "443" },
    } },
    { "unknown_usage", fx_unknown_usage, "chat some-model", 3, false, NULL, {
        { "gen_ai.usage.input_tokens", '-', NULL },
        { "gen_ai.usage.output_tokens", '-', NULL },
        { "gen_ai.usage.cache_read.input_tokens", '-', NULL },
        { "gen_ai.usage.cache_write.input_tokens", '-', NULL },
        { "gen_ai.usage.reasoning.output_tokens", '-', NULL },
        { "tokentap.cost_usd", '-', NULL },
        { "tokentap.usage_known", 'b', "false" },
        { "tokentap.cost_known", 'b', "false" },
        { "server.address", 's', "localhost" },
        { "server.port", 'i', "11434" },
        { "error.type", '-', NULL },
    } },
    { "tool", fx_tool, "execute_tool get_weather", 1, true, NULL, {
        { "gen_ai.operation.name", 's', "execute_tool" },
        { "gen_ai.tool.name", 's', "get_weather" },
        { "tokentap.kind", 's', "tool" },
        { "gen_ai.request.model", '-', NULL },
        { "gen_ai.usage.input_tokens", '-', NULL },
        { "server.address", '-', NULL },
        { "gen_ai.tool.call.arguments", '-', NULL },    /* content off */
        { "gen_ai.tool.call.result", '-', NULL },
    } },
    { "process", fx_process, "process python3 app.py", 1, false, NULL, {
        { "gen_ai.operation.name", '-', NULL },
        { "gen_ai.provider.name", '-', NULL },
        { "tokentap.kind", 's', "process" },
        { "process.pid", 'i', "77" },
        { "process.executable.name", 's', "python3.11" },
        { "process.executable.path", 's', "/usr/bin/python3.11" },
        { "session.id", 's', "sess-9" },
        { "tokentap.usage_known", '-', NULL },
    } },
    { "escapes", fx_escapes, "chat " FX_NASTY, 3, false, FX_NASTY, {
        { "gen_ai.request.model", 's', FX_NASTY },
        { "gen_ai.response.id", 's', FX_NASTY },
        { "url.path", 's', "/v1/" FX_NASTY },
        { "tokentap.tag.k\"ey", 's', "v\n\x01" },
        { "error.type", 's', "_OTHER" },
    } },
};

ParameterizedTestParameters(otlp, span)
{
    TABLE_PARAMS(span_cases);
}

ParameterizedTest(size_t *i, otlp, span)
{
    const struct span_case *c = &span_cases[*i];
    struct tt_span s;
    json_t *sp;
    char want[32];

    c->build(&s);
    json_t *root = encode(&s, false, &sp);

    cr_expect_str_eq(json_string_value(json_object_get(sp, "traceId")), s.trace_id, "[%s]",
                     c->name);
    cr_expect_str_eq(json_string_value(json_object_get(sp, "spanId")), s.span_id, "[%s]",
                     c->name);
    json_t *parent = json_object_get(sp, "parentSpanId");
    if (c->want_parent)
        cr_expect_str_eq(json_string_value(parent), s.parent_id, "[%s] parentSpanId", c->name);
    else
        cr_expect_null(parent, "[%s] parentSpanId must be absent", c->name);
    cr_expect_str_eq(json_string_value(json_object_get(sp, "name")), c->want_name, "[%s] name",
                     c->name);
    json_t *kind = json_object_get(sp, "kind");
    cr_expect(json_is_integer(kind), "[%s] kind is an integer", c->name);
    cr_expect_eq(json_integer_value(kind), c->want_kind, "[%s] kind", c->name);
    snprintf(want, sizeof(want), "%lld", (long long)s.start_time);
    cr_expect_str_eq(json_string_value(json_object_get(sp, "startTimeUnixNano")), want,
                     "[%s] start as a decimal string", c->name);
    snprintf(want, sizeof(want), "%lld", (long long)s.end_time);
    cr_expect_str_eq(json_string_value(json_object_get(sp, "endTimeUnixNano")), want,
                     "[%s] end as a decimal string", c->name);

    json_t *st = json_object_get(sp, "status");
    if (c->want_status_msg) {
        cr_expect(json_is_object(st), "[%s] status", c->name);
        cr_expect_eq(json_integer_value(json_object_get(st, "code")), 2, "[%s] code", c->name);
        cr_expect_str_eq(json_string_value(json_object_get(st, "message")), c->want_status_msg,
                         "[%s] message", c->name);
    } else {
        cr_expect_null(st, "[%s] no status for an OK span", c->name);
    }

    json_t *attrs = json_object_get(sp, "attributes");
    cr_assert(json_is_array(attrs), "[%s] attributes", c->name);
    for (size_t k = 0; k < N(c->attrs) && c->attrs[k].key; k++)
        check_attr(c->name, attrs, &c->attrs[k]);

    json_decref(root);
    tt_span_clear(&s);
}

Test(otlp, request_carries_the_resource)
{
    struct tt_otlp_resource r = { 0 };
    struct tt_buf b;
    struct tt_span s1, s2;
    size_t bad;

    cr_assert_eq(tt_otlp_parse_attrs("service.name=svc,host.name=h1,k=a%2Cb", &r, &bad), TT_OK);
    tt_buf_init(&b, 1 << 20);
    fx_openai_ok(&s1);
    fx_process(&s2);
    cr_assert_eq(tt_otlp_open(&r, &b), TT_OK);
    cr_assert_eq(tt_otlp_span(&s1, true, &b), TT_OK);
    cr_assert_eq(tt_buf_append(&b, ",", 1), TT_OK);
    cr_assert_eq(tt_otlp_span(&s2, true, &b), TT_OK);
    cr_assert_eq(tt_otlp_close(&b), TT_OK);
    json_t *root = json_loadb(b.data, b.len, 0, NULL);
    cr_assert_not_null(root, "%.*s", (int)b.len, b.data);
    json_t *rs0 = json_array_get(json_object_get(root, "resourceSpans"), 0);
    json_t *ra = json_object_get(json_object_get(rs0, "resource"), "attributes");
    const struct aexp want[] = {
        { "service.name", 's', "svc" }, { "host.name", 's', "h1" }, { "k", 's', "a,b" },
    };
    for (size_t i = 0; i < N(want); i++)
        check_attr("resource", ra, &want[i]);
    json_t *spans = json_object_get(json_array_get(json_object_get(rs0, "scopeSpans"), 0),
                                    "spans");
    cr_expect_eq(json_array_size(spans), 2, "two spans joined by ','");
    json_decref(root);
    tt_buf_free(&b);
    tt_span_clear(&s1);
    tt_span_clear(&s2);
    tt_otlp_resource_free(&r);
}

/* ---- content ------------------------------------------------------------------------ */

/* The JSON value held by the string attribute k of the encoded span (owned),
 * or NULL when the attribute is absent. */
static json_t *json_attr(const struct tt_span *s, bool content, const char *k, char **raw)
{
    json_t *sp;
    json_t *root = encode(s, content, &sp);
    const char *text = str_attr(sp, k);
    json_t *v = NULL;

    if (raw)
        *raw = text ? strdup(text) : NULL;
    if (text) {
        v = json_loads(text, JSON_DECODE_ANY, NULL);
        if (!raw)
            cr_assert_not_null(v, "%s is not JSON text: %s", k, text);
    }
    json_decref(root);
    return v;
}

static void expect_json(json_t *got, const char *want_text, const char *what)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    char *g = got ? json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    char *w = json_dumps(want, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

    cr_assert_not_null(want, "bad expectation %s", want_text);
    cr_expect(json_equal(got, want), "%s:\n got  %s\n want %s", what, g ? g : "(absent)", w);
    free(g);
    free(w);
    json_decref(want);
}

Test(otlp, content_off_has_no_messages)
{
    struct tt_span s;

    fx_openai_ok(&s);
    fx_set(&s.tool_calls, "[{\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"}]");
    cr_expect_null(json_attr(&s, false, "gen_ai.input.messages", NULL));
    cr_expect_null(json_attr(&s, false, "gen_ai.output.messages", NULL));
    tt_span_clear(&s);
    fx_tool(&s);
    cr_expect_null(json_attr(&s, false, "gen_ai.tool.call.arguments", NULL));
    cr_expect_null(json_attr(&s, false, "gen_ai.tool.call.result", NULL));
    tt_span_clear(&s);
}

struct msg_case {
    const char *name;
    const char *input, *output, *tool_calls, *finish_reasons;
    const char *want_in, *want_out;     /* JSON; NULL: attribute absent */
};

static const struct msg_case msg_cases[] = {
    { "openai_chat",
      "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"hi\"}]",
      "\"hello\"", NULL, "[\"stop\"]",
      "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"be brief\"}]},"
      "{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hello\"}],"
      "\"finish_reason\":\"stop\"}]" },
    { "anthropic_blocks",
      "[{\"role\":\"system\",\"content\":\"sys\"},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"weather?\"}]},"
      "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"tu1\","
      "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]},"
      "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"tu1\","
      "\"content\":\"sunny\"}]}]",
      "[{\"type\":\"text\",\"text\":\"It is sunny.\"}]", NULL, "[\"end_turn\"]",
      "[{\"role\":\"system\",\"parts\":[{\"type\":\"text\",\"content\":\"sys\"}]},"
      "{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"weather?\"}]},"
      "{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"tu1\","
      "\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]},"
      "{\"role\":\"user\",\"parts\":[{\"type\":\"tool_call_response\",\"id\":\"tu1\","
      "\"response\":\"sunny\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"It is sunny.\"}],"
      "\"finish_reason\":\"end_turn\"}]" },
    { "openai_tool_calls_in_output",
      "[{\"role\":\"user\",\"content\":\"weather in Paris?\"}]",
      NULL, "[{\"id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]",
      "[\"tool_calls\"]",
      "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"weather in Paris?\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_1\","
      "\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}],"
      "\"finish_reason\":\"tool_calls\"}]" },
    { "openai_tool_round_trip_input",
      "[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\","
      "\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
      "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
      "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny\"}]",
      "\"It is sunny.\"", NULL, "[\"stop\"]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"tool_call\",\"id\":\"call_1\","
      "\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]},"
      "{\"role\":\"tool\",\"parts\":[{\"type\":\"tool_call_response\",\"id\":\"call_1\","
      "\"response\":\"sunny\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"It is sunny.\"}],"
      "\"finish_reason\":\"stop\"}]" },
    /* Anthropic: the tool_use block is in the output AND in tool_calls (the
     * provider fills both, preload/providers/anthropic.c): one call, one part.
     * Regression (fixed): output_messages() appended a tool_call part for each content block
     * of type tool_use and again for each element of span->tool_calls, so
     * the call appears twice in gen_ai.output.messages. */
    { "anthropic_tool_use_output_once",
      "[{\"role\":\"user\",\"content\":\"weather?\"}]",
      "[{\"type\":\"text\",\"text\":\"Let me check.\"},{\"type\":\"tool_use\",\"id\":\"tu1\","
      "\"name\":\"get_weather\",\"input\":{\"city\":\"Paris\"}}]",
      "[{\"id\":\"tu1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]",
      "[\"tool_use\"]",
      "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"weather?\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"Let me check.\"},"
      "{\"type\":\"tool_call\",\"id\":\"tu1\",\"name\":\"get_weather\","
      "\"arguments\":{\"city\":\"Paris\"}}],\"finish_reason\":\"tool_use\"}]" },
    /* n=2: the span's output is one value per choice (openai.c). The GenAI
     * conventions make each choice one output message.
     * Regression (fixed): output_messages() put every choice's text as a part of ONE
     * assistant message, with the first finish_reason only. */
    { "openai_two_choices",
      "[{\"role\":\"user\",\"content\":\"hi\"}]",
      "[\"first\",\"second\"]", NULL, "[\"stop\",\"length\"]",
      "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"first\"}],"
      "\"finish_reason\":\"stop\"},"
      "{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"second\"}],"
      "\"finish_reason\":\"length\"}]" },
    /* No finish_reasons on the span: the output message has no finish_reason.
     * Regression (fixed): output_messages() packed it with "s:O?", which wrote
     * "finish_reason": null when the span has no finish_reasons; a consumer
     * that types finish_reason as a string gets a null. */
    { "bare_prompt_string",
      "\"Say hi\"", "\"hi\"", NULL, NULL,
      "[{\"role\":\"user\",\"parts\":[{\"type\":\"text\",\"content\":\"Say hi\"}]}]",
      "[{\"role\":\"assistant\",\"parts\":[{\"type\":\"text\",\"content\":\"hi\"}]}]" },
};

ParameterizedTestParameters(otlp, content_messages)
{
    TABLE_PARAMS(msg_cases);
}

ParameterizedTest(size_t *i, otlp, content_messages)
{
    const struct msg_case *c = &msg_cases[*i];
    struct tt_span s;
    char what[128];

    fx_openai_ok(&s);
    fx_set(&s.input, c->input);
    fx_set(&s.output, c->output);
    fx_set(&s.tool_calls, c->tool_calls);
    fx_set(&s.finish_reasons, c->finish_reasons);

    json_t *in = json_attr(&s, true, "gen_ai.input.messages", NULL);
    snprintf(what, sizeof(what), "[%s] gen_ai.input.messages", c->name);
    expect_json(in, c->want_in, what);
    json_t *out = json_attr(&s, true, "gen_ai.output.messages", NULL);
    snprintf(what, sizeof(what), "[%s] gen_ai.output.messages", c->name);
    expect_json(out, c->want_out, what);
    json_decref(in);
    json_decref(out);
    tt_span_clear(&s);
}

Test(otlp, content_unknown_input_shape_kept_raw)
{
    static const char *const raw[] = {
        "{\"prompt\":\"x\",\"n\":1}",
        "{ \"inputs\" : [1, 2] }",
        "not json at all",
    };
    struct tt_span s;

    for (size_t i = 0; i < N(raw); i++) {
        char *text = NULL;
        fx_openai_ok(&s);
        fx_set(&s.input, raw[i]);
        json_t *v = json_attr(&s, true, "gen_ai.input.messages", &text);
        cr_expect_str_eq(text ? text : "(absent)", raw[i], "input %s kept as sent", raw[i]);
        free(text);
        json_decref(v);
        tt_span_clear(&s);
    }
}

Test(otlp, content_tool_span_arguments_and_result)
{
    struct tt_span s;

    fx_tool(&s);
    json_t *args = json_attr(&s, true, "gen_ai.tool.call.arguments", NULL);
    expect_json(args, "{\"city\":\"Paris\"}", "tool arguments");
    json_t *res = json_attr(&s, true, "gen_ai.tool.call.result", NULL);
    expect_json(res, "\"sunny\"", "tool result");
    cr_expect_null(json_attr(&s, true, "gen_ai.input.messages", NULL),
                   "a tool span has no input messages");
    json_decref(args);
    json_decref(res);
    tt_span_clear(&s);
}

Test(otlp, content_never_on_process_spans)
{
    struct tt_span s;

    fx_process(&s);
    fx_set(&s.input, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    cr_expect_null(json_attr(&s, true, "gen_ai.input.messages", NULL));
    tt_span_clear(&s);
}

/* A choice without content (null in the per-choice output array) must not
 * become a null part: every part is an object with a "type".
 * Regression (fixed): block_part() returned the JSON null itself as the part, so
 * gen_ai.output.messages holds "parts":[{...},null]. */
Test(otlp, content_null_choice_is_not_a_null_part)
{
    struct tt_span s;

    fx_openai_ok(&s);
    fx_set(&s.output, "[\"first\",null]");
    fx_set(&s.finish_reasons, "[\"stop\",\"tool_calls\"]");
    json_t *out = json_attr(&s, true, "gen_ai.output.messages", NULL);
    cr_assert(json_is_array(out));
    size_t i, k;
    json_t *m, *part;
    json_array_foreach(out, i, m) {
        json_array_foreach(json_object_get(m, "parts"), k, part) {
            cr_expect(json_is_object(part) && json_is_string(json_object_get(part, "type")),
                      "message %zu part %zu is not a typed part", i, k);
        }
    }
    json_decref(out);
    tt_span_clear(&s);
}
