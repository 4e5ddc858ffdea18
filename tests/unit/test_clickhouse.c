/* test_clickhouse.c - exporter/clickhouse.c (URL, rows, table), with the
 * pure helpers the forwarders share: tt_http_parse_retry_after (http.c)
 * and the JSON writer (jsonw.c). No server is needed. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse.h"
#include "genai_fixture.h"
#include "http.h"
#include "jsonw.h"
#include "spanfield.h"
#include "tt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tt_ch_parse_url ----------------------------------------------------------- */

struct url_case {
    const char *url;
    const char *env_user, *env_password;    /* NULL: unset */
    bool ok;
    const char *base, *db, *table, *user, *password;
};

static const struct url_case url_cases[] = {
    { "clickhouse://localhost", NULL, NULL, true,
      "http://localhost:8123/", "tokentap", "spans", "", "" },
    { "clickhouse://ch.example.com:9123", NULL, NULL, true,
      "http://ch.example.com:9123/", "tokentap", "spans", "", "" },
    { "clickhouse://localhost/analytics", NULL, NULL, true,
      "http://localhost:8123/", "analytics", "spans", "", "" },
    { "clickhouse://localhost/", NULL, NULL, true,
      "http://localhost:8123/", "tokentap", "spans", "", "" },
    { "clickhouse://localhost/analytics?table=t", NULL, NULL, true,
      "http://localhost:8123/", "analytics", "t", "", "" },
    { "clickhouse://localhost?table=llm_spans", NULL, NULL, true,
      "http://localhost:8123/", "tokentap", "llm_spans", "", "" },
    { "clickhouse://h/?database=db2&table=t2", NULL, NULL, true,
      "http://h:8123/", "db2", "t2", "", "" },
    { "clickhouse://localhost?secure=1", NULL, NULL, true,
      "https://localhost:8443/", "tokentap", "spans", "", "" },
    { "clickhouse://localhost:9440/db?secure=true&table=x", NULL, NULL, true,
      "https://localhost:9440/", "db", "x", "", "" },
    { "clickhouse://localhost?secure=0", NULL, NULL, true,
      "http://localhost:8123/", "tokentap", "spans", "", "" },
    { "clickhouse://u%40x:p%3Aw@h", NULL, NULL, true,
      "http://h:8123/", "tokentap", "spans", "u@x", "p:w" },
    { "clickhouse://alice@h:8124/db", NULL, NULL, true,
      "http://h:8124/", "db", "spans", "alice", "" },
    { "clickhouse://[::1]:9000", NULL, NULL, true,
      "http://[::1]:9000/", "tokentap", "spans", "", "" },
    { "clickhouse://[::1]", NULL, NULL, true,
      "http://[::1]:8123/", "tokentap", "spans", "", "" },
    { "clickhouse://h", "envu", "envp", true,
      "http://h:8123/", "tokentap", "spans", "envu", "envp" },
    { "clickhouse://urlu:urlp@h", "envu", "envp", true,
      "http://h:8123/", "tokentap", "spans", "urlu", "urlp" },
    { "clickhouse://h", NULL, "envp", true,     /* a password needs a user */
      "http://h:8123/", "tokentap", "spans", "", "" },
    /* failures */
    { NULL, NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "http://x", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse:/x", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse:///db", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://u:p@", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:99999", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:0", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:abc", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:12a", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h:1:2", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h/my-db", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h/db;drop", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h/db/extra", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h?table=a-b", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h?table=x%3By", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h?table=", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h?foo=1", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h?table=t&user=x", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://u%zz@h", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://u:p%2@h", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://u%00@h", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h/db%4", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://[::1", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://[::1]x", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://a b", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
    { "clickhouse://h\"x", NULL, NULL, false, NULL, NULL, NULL, NULL, NULL },
};

Test(clickhouse, parse_url_table)
{
    for (size_t i = 0; i < N(url_cases); i++) {
        const struct url_case *c = &url_cases[i];
        const char *u = c->url ? c->url : "(NULL)";
        struct tt_ch ch;
        char err[256] = "";

        if (c->env_user)
            setenv("TOKENTAP_CLICKHOUSE_USER", c->env_user, 1);
        else
            unsetenv("TOKENTAP_CLICKHOUSE_USER");
        if (c->env_password)
            setenv("TOKENTAP_CLICKHOUSE_PASSWORD", c->env_password, 1);
        else
            unsetenv("TOKENTAP_CLICKHOUSE_PASSWORD");

        int rc = tt_ch_parse_url(c->url, &ch, err, sizeof(err));
        if (!c->ok) {
            cr_expect_eq(rc, TT_ERR_PARSE, "[%s] must fail, got %d (base %s db %s table %s)",
                         u, rc, ch.base, ch.db, ch.table);
            cr_expect_neq(err[0], '\0', "[%s] a reason in err", u);
            cr_expect_eq(tt_ch_parse_url(c->url, &ch, NULL, 0), TT_ERR_PARSE,
                         "[%s] err may be NULL", u);
            continue;
        }
        cr_expect_eq(rc, TT_OK, "[%s] rc %d: %s", u, rc, err);
        if (rc != TT_OK)
            continue;
        cr_expect_str_eq(ch.base, c->base, "[%s] base", u);
        cr_expect_str_eq(ch.db, c->db, "[%s] db", u);
        cr_expect_str_eq(ch.table, c->table, "[%s] table", u);
        cr_expect_str_eq(ch.user, c->user, "[%s] user", u);
        cr_expect_str_eq(ch.password, c->password, "[%s] password", u);
    }
}

/* A host is a name, an IPv4 address or a bracketed IPv6 address.
 * Regression (fixed): the host check accepted '[', ']' and (after a bracketed
 * literal's port) nothing else, but a bare host may hold ']' or '[':
 * "clickhouse://a]b" parses as base "http://a]b:8123/", an URL libcurl
 * refuses only later, at the first query. */
Test(clickhouse, parse_url_rejects_brackets_in_a_plain_host)
{
    static const char *const bad[] = { "clickhouse://a]b", "clickhouse://a[b:8123" };
    struct tt_ch ch;
    char err[256];

    for (size_t i = 0; i < N(bad); i++)
        cr_expect_eq(tt_ch_parse_url(bad[i], &ch, err, sizeof(err)), TT_ERR_PARSE,
                     "[%s] accepted as base %s", bad[i], ch.base);
}

Test(clickhouse, is_url)
{
    static const struct {
        const char *s;
        bool want;
    } cases[] = {
        { "clickhouse://localhost", true }, { "clickhouse://", true },
        { "clickhouse:/x", false },         { "http://localhost:8123", false },
        { "/var/lib/tokentap/traces.db", false }, { "", false },
        { NULL, false },                    { " clickhouse://h", false },
    };

    for (size_t i = 0; i < N(cases); i++)
        cr_expect_eq(tt_ch_is_url(cases[i].s), cases[i].want, "[%s]",
                     cases[i].s ? cases[i].s : "(NULL)");
}

/* ---- tt_ch_row ------------------------------------------------------------------- */

static const struct {
    const char *name;
    void (*build)(struct tt_span *);
    const char *absent[8];      /* keys that must not be in the row */
} row_cases[] = {
    { "full", fx_full, { NULL } },
    { "minimal", fx_minimal,
      { "error", "ttft_ms", "temperature", "parent_id", "conversation_id", "input", "name",
        "max_tokens" } },
    { "openai_ok", fx_openai_ok, { "error", "ttft_ms", "top_p" } },
    { "anthropic_stream", fx_anthropic_stream, { "error", "temperature", "tool_calls" } },
    { "unknown_usage", fx_unknown_usage, { "ttft_ms", "finish_reasons" } },
    { "error_no_status", fx_error_no_status, { "ttft_ms", "finish_reasons" } },
    { "tool", fx_tool, { "error", "provider", "ttft_ms" } },
    { "escapes", fx_escapes, { "ttft_ms" } },
};

static void check_row(const char *cname, const struct tt_span *s, const char *line, size_t len)
{
    json_error_t je;

    cr_assert_gt(len, 1, "[%s] empty row", cname);
    cr_expect_eq(line[len - 1], '\n', "[%s] a row ends with a newline", cname);
    cr_expect_null(memchr(line, '\n', len - 1), "[%s] one line", cname);
    json_t *o = json_loadb(line, len, 0, &je);
    cr_assert(json_is_object(o), "[%s] not a JSON object: %s: %.*s", cname, je.text, (int)len,
              line);

    size_t present = 0;
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        json_t *v = json_object_get(o, f->name);
        if (!tt_sf_present(s, f)) {
            cr_expect_null(v, "[%s] %s is absent: the column default, not a value", cname,
                           f->name);
            continue;
        }
        present++;
        cr_expect_not_null(v, "[%s] %s missing", cname, f->name);
        if (!v)
            continue;
        switch (f->type) {
        case TT_SF_ID:
            cr_expect_str_eq(json_string_value(v), tt_sf_cid(s, f), "[%s] %s", cname, f->name);
            break;
        case TT_SF_STR:
        case TT_SF_JSON:    /* JSON fields: a string holding the text */
            cr_expect(json_is_string(v), "[%s] %s is a string", cname, f->name);
            cr_expect_str_eq(json_string_value(v), tt_sf_str(s, f), "[%s] %s", cname, f->name);
            break;
        case TT_SF_I64:
        case TT_SF_OPT_I64:
            cr_expect(json_is_integer(v), "[%s] %s is an integer", cname, f->name);
            cr_expect_eq(json_integer_value(v), tt_sf_i64(s, f), "[%s] %s", cname, f->name);
            break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS: {
            double want = tt_sf_f64(s, f), got = json_number_value(v);
            cr_expect(json_is_number(v), "[%s] %s is a number", cname, f->name);
            cr_expect(fabs(got - want) <= 1e-12 * fabs(want), "[%s] %s: %.17g want %.17g",
                      cname, f->name, got, want);
            break;
        }
        case TT_SF_BOOL:
            cr_expect(json_is_integer(v), "[%s] %s is 0/1, not a JSON boolean", cname,
                      f->name);
            cr_expect_eq(json_integer_value(v), tt_sf_bool(s, f->off) ? 1 : 0, "[%s] %s",
                         cname, f->name);
            break;
        }
    }
    cr_expect_str_eq(json_string_value(json_object_get(o, "host_name")), "box-1", "[%s]",
                     cname);
    cr_expect_str_eq(json_string_value(json_object_get(o, "service_name")), "svc " FX_NASTY,
                     "[%s]", cname);
    cr_expect(json_is_integer(json_object_get(o, "version")), "[%s] version", cname);
    cr_expect_eq(json_integer_value(json_object_get(o, "version")), 1763683200123LL, "[%s]",
                 cname);
    cr_expect_eq(json_object_size(o), present + 3, "[%s] no other keys", cname);
    json_decref(o);
}

Test(clickhouse, row_table)
{
    for (size_t i = 0; i < N(row_cases); i++) {
        struct tt_span s;
        struct tt_buf b;

        row_cases[i].build(&s);
        tt_buf_init(&b, 1 << 20);
        cr_assert_eq(tt_buf_append_str(&b, "previous\n"), TT_OK);
        cr_assert_eq(tt_ch_row(&s, "box-1", "svc " FX_NASTY, 1763683200123ULL, &b), TT_OK,
                     "[%s]", row_cases[i].name);
        cr_assert_eq(memcmp(b.data, "previous\n", 9), 0, "[%s] appends", row_cases[i].name);
        check_row(row_cases[i].name, &s, b.data + 9, b.len - 9);

        json_t *o = json_loadb(b.data + 9, b.len - 9, 0, NULL);
        for (size_t k = 0; k < N(row_cases[i].absent) && row_cases[i].absent[k]; k++)
            cr_expect_null(json_object_get(o, row_cases[i].absent[k]), "[%s] no \"%s\"",
                           row_cases[i].name, row_cases[i].absent[k]);
        json_decref(o);
        tt_buf_free(&b);
        tt_span_clear(&s);
    }
}

Test(clickhouse, row_json_fields_hold_the_text)
{
    struct tt_span s;
    struct tt_buf b;

    fx_full(&s);
    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(tt_ch_row(&s, "h", "svc", 1, &b), TT_OK);
    json_t *o = json_loads(b.data, 0, NULL);
    cr_assert_not_null(o);
    static const char *const keys[] = { "input", "output", "finish_reasons", "tags",
                                        "tool_calls", "metadata" };
    for (size_t i = 0; i < N(keys); i++) {
        json_t *v = json_object_get(o, keys[i]);
        cr_expect(json_is_string(v), "%s: a String column holds the JSON text", keys[i]);
        json_t *inner = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
        cr_expect_not_null(inner, "%s: the text is JSON", keys[i]);
        json_decref(inner);
    }
    cr_expect_str_eq(json_string_value(json_object_get(o, "finish_reasons")),
                     "[\"stop\",\"length\"]");
    cr_expect_eq(json_integer_value(json_object_get(o, "stream")), 1);
    cr_expect_eq(json_integer_value(json_object_get(o, "truncated")), 1);
    json_decref(o);
    tt_buf_free(&b);
    tt_span_clear(&s);
}

/* ---- tt_ch_ddl ---------------------------------------------------------------------- */

static const char *want_type(enum tt_sf_type t)
{
    switch (t) {
    case TT_SF_ID:
    case TT_SF_STR:
    case TT_SF_JSON: return "String";
    case TT_SF_I64: return "Int64";
    case TT_SF_OPT_I64: return "Nullable(Int64)";
    case TT_SF_F64: return "Float64";
    case TT_SF_OPT_F64: return "Nullable(Float64)";
    case TT_SF_MS: return "Float64 DEFAULT -1";
    case TT_SF_BOOL: return "UInt8";
    }
    return "?";
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

Test(clickhouse, ddl)
{
    struct tt_ch ch;
    struct tt_buf b;
    char line[256];

    cr_assert_eq(tt_ch_parse_url("clickhouse://h/mydb?table=mytable", &ch, NULL, 0), TT_OK);
    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(tt_ch_ddl(&ch, &b), TT_OK);
    const char *d = b.data;

    cr_expect_eq(strncmp(d, "CREATE TABLE IF NOT EXISTS mydb.mytable (\n", 42), 0, "%s", d);
    cr_expect_not_null(strstr(d, "ENGINE = ReplacingMergeTree(version)"), "%s", d);
    cr_expect_not_null(strstr(d, "ORDER BY span_id"), "%s", d);
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        snprintf(line, sizeof(line), "\n    %s %s,\n", f->name, want_type(f->type));
        cr_expect_not_null(strstr(d, line), "column %s %s missing:\n%s", f->name,
                           want_type(f->type), d);
        snprintf(line, sizeof(line), "\n    %s ", f->name);
        cr_expect_eq(count_of(d, line), 1, "column %s once", f->name);
    }
    static const char *const spot[] = {
        "\n    span_id String,\n",        "\n    start_time Int64,\n",
        "\n    temperature Nullable(Float64),\n", "\n    max_tokens Nullable(Int64),\n",
        "\n    stream UInt8,\n",          "\n    cost_usd Float64,\n",
        "\n    ttft_ms Float64 DEFAULT -1,\n", "\n    input String,\n",
        "\n    host_name String,\n",      "\n    service_name String,\n",
        "\n    version UInt64\n",
    };
    for (size_t i = 0; i < N(spot); i++)
        cr_expect_not_null(strstr(d, spot[i]), "want%s in\n%s", spot[i], d);
    /* Columns: the contract's, host_name, service_name, start_date, version. */
    cr_expect_eq(count_of(d, "\n    "), tt_spanfields_n + 4, "%s", d);
    tt_buf_free(&b);
}

/* ---- tt_http_parse_retry_after ------------------------------------------------------- */

static const struct {
    const char *v;
    int64_t want;
} ra_cases[] = {
    { "0", 0 },
    { "120", 120000 },
    { " 7 ", 7000 },
    { "\t7", 7000 },
    { "120\r\n", 120000 },          /* as a header callback sees it */
    { "", -1 },
    { "   ", -1 },
    { "abc", -1 },
    { "1.5", -1 },
    { "-3", -1 },
    { "+3", -1 },
    { "12abc", -1 },
    { "Sat, 21 Nov 2026 00:00:30 GMT", 30000 },
    { " Sat, 21 Nov 2026 00:00:30 GMT\r\n", 30000 },
    { "Sat, 21 Nov 2026 01:00:00 GMT", 3600000 },
    { "Sat, 21 Nov 2026 00:00:00 GMT", 0 },
    { "Fri, 20 Nov 2026 23:59:00 GMT", 0 },
    { "Wed, 21 Oct 2015 07:28:00 GMT", 0 },
    { "Sat, 21 Nov 2026 00:00:30", -1 },
    { "Sat, 21 Nov 2026 25:00:00 GMT", -1 },
    { "Sat, 21 Foo 2026 00:00:30 GMT", -1 },
    { "Sat, 21 Nov 2026 00:00:30 GMT junk", -1 },
    { "tomorrow", -1 },
};

Test(http, parse_retry_after_table)
{
    struct tm tm = { .tm_year = 2026 - 1900, .tm_mon = 10, .tm_mday = 21 };
    int64_t now = (int64_t)timegm(&tm);

    for (size_t i = 0; i < N(ra_cases); i++) {
        int64_t got = tt_http_parse_retry_after(ra_cases[i].v, now);
        cr_expect_eq(got, ra_cases[i].want, "[%s]: %lld, want %lld", ra_cases[i].v,
                     (long long)got, (long long)ra_cases[i].want);
    }
}

/* A huge number of seconds is a long wait, not an overflow.
 * Regression (fixed): the digit loop stopped growing s only once s > INT64_MAX / 10000, so
 * s can reach 9223372036854779 and the final s * 1000 overflows int64_t
 * (undefined behaviour; UBSan: "signed integer overflow") for
 * "9223372036854776" ... "9223372036854779" and alike 16-digit values. */
Test(http, parse_retry_after_huge_seconds)
{
    static const char *const huge[] = {
        "9223372036854775", "99999999999999999999999999", "9223372036854779",
    };

    for (size_t i = 0; i < N(huge); i++) {
        int64_t got = tt_http_parse_retry_after(huge[i], 0);
        cr_expect_geq(got, INT64_MAX / 1000 - 1, "[%s]: %lld", huge[i], (long long)got);
    }
}

/* ---- jsonw ----------------------------------------------------------------------------- */

static const struct {
    const char *in;
    size_t n;           /* 0: strlen */
    const char *want;
} str_cases[] = {
    { "plain", 0, "\"plain\"" },
    { "", 0, "\"\"" },
    { NULL, 0, "\"\"" },
    { "a\"b", 0, "\"a\\\"b\"" },
    { "a\\b", 0, "\"a\\\\b\"" },
    { "l1\nl2", 0, "\"l1\\nl2\"" },
    { "\t", 0, "\"\\t\"" },
    { "\r", 0, "\"\\r\"" },
    { "\x01", 0, "\"\\u0001\"" },
    { "\x1f", 0, "\"\\u001f\"" },
    { "\x7f", 0, "\"\x7f\"" },
    { "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 0, "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"" },
    { "/</script>", 0, "\"/</script>\"" },
    { "a\0b", 3, "\"a\\u0000b\"" },
    { "\"\"", 0, "\"\\\"\\\"\"" },
};

Test(jsonw, str_escapes)
{
    for (size_t i = 0; i < N(str_cases); i++) {
        struct tt_buf b;
        const char *in = str_cases[i].in;

        tt_buf_init(&b, 1 << 16);
        int rc = str_cases[i].n ? tt_jw_strn(&b, in, str_cases[i].n) : tt_jw_str(&b, in);
        cr_assert_eq(rc, TT_OK, "case %zu", i);
        cr_expect_eq(b.len, strlen(str_cases[i].want), "case %zu: %s", i, b.data);
        cr_expect_str_eq(b.data, str_cases[i].want, "case %zu", i);
        /* And it reads back as the same bytes. */
        json_t *v = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_expect(json_is_string(v), "case %zu: %s is a JSON string", i, b.data);
        size_t n = str_cases[i].n ? str_cases[i].n : in ? strlen(in) : 0;
        cr_expect_eq(json_string_length(v), n, "case %zu", i);
        if (n)
            cr_expect_eq(memcmp(json_string_value(v), in, n), 0, "case %zu round trip", i);
        json_decref(v);
        tt_buf_free(&b);
    }
}

Test(jsonw, f64_and_i64)
{
    static const struct {
        double v;
        const char *want;
    } cases[] = {
        { 0.00036, "0.00036" }, { 0.0, "0" },       { -1.5, "-1.5" },
        { 123.25, "123.25" },   { 0.7, "0.7" },     { 0.1 + 0.2, "0.3" },
        { 1e300, "1e+300" },    { 0.000987654321, "0.000987654321" },
        { NAN, "null" },        { INFINITY, "null" }, { -INFINITY, "null" },
    };

    for (size_t i = 0; i < N(cases); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 256);
        cr_assert_eq(tt_jw_f64(&b, cases[i].v), TT_OK);
        cr_expect_str_eq(b.data, cases[i].want, "%.17g", cases[i].v);
        json_t *j = json_loadb(b.data, b.len, JSON_DECODE_ANY, NULL);
        cr_expect_not_null(j, "%s is JSON", b.data);
        json_decref(j);
        tt_buf_free(&b);
    }

    static const struct {
        int64_t v;
        const char *want;
    } ints[] = {
        { 0, "0" }, { -1, "-1" }, { INT64_MAX, "9223372036854775807" },
        { INT64_MIN, "-9223372036854775808" },
    };
    for (size_t i = 0; i < N(ints); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 256);
        cr_assert_eq(tt_jw_i64(&b, ints[i].v), TT_OK);
        cr_expect_str_eq(b.data, ints[i].want);
        tt_buf_free(&b);
    }
}

Test(jsonw, cap_is_reported)
{
    struct tt_buf b;

    tt_buf_init(&b, 8);
    cr_expect_eq(tt_jw_str(&b, "a long string over the cap"), TT_ERR_CAP);
    tt_buf_free(&b);
}
