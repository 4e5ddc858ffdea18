/* test_json.c - the jansson helpers provider parsers stand on. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct prefix_case {
    const char *name;
    const char *in;
    int rc;
    const char *want;       /* compact dump of the result, NULL: no object */
};

static const struct prefix_case prefix_cases[] = {
    { "complete", "{\"a\":1,\"b\":[1,2]}  \n", TT_OK, "{\"a\":1,\"b\":[1,2]}" },
    { "cut inside a string", "{\"model\":\"m\",\"messages\":[{\"c\":\"ab",
      TT_ERR_INCOMPLETE, "{\"model\":\"m\"}" },
    { "cut after a number", "{\"model\":\"m\",\"n\":12", TT_ERR_INCOMPLETE,
      "{\"model\":\"m\"}" },
    { "number with delimiter kept", "{\"n\":12,\"x\":", TT_ERR_INCOMPLETE,
      "{\"n\":12}" },
    { "cut inside a key", "{\"a\":true,\"mo", TT_ERR_INCOMPLETE,
      "{\"a\":true}" },
    { "braces and escapes inside strings",
      "{\"s\":\"}]\\\"{\",\"o\":{\"k\":\"]\"},\"t\":[", TT_ERR_INCOMPLETE,
      "{\"s\":\"}]\\\"{\",\"o\":{\"k\":\"]\"}}" },
    { "broken value stops the scan", "{\"a\":1,\"b\":nul,\"c\":2}",
      TT_ERR_INCOMPLETE, "{\"a\":1}" },
    { "escaped key", "{\"k\\u0065y\":1,\"z\":[", TT_ERR_INCOMPLETE,
      "{\"key\":1}" },
    { "just a brace", "{", TT_ERR_INCOMPLETE, "{}" },
    { "array is not an object", "[1,2]", TT_ERR_PARSE, NULL },
    { "not JSON", "hello", TT_ERR_PARSE, NULL },
    { "empty", "", TT_ERR_PARSE, NULL },
};

Test(json, parse_prefix)
{
    for (size_t i = 0; i < sizeof(prefix_cases) / sizeof(prefix_cases[0]);
         i++) {
        const struct prefix_case *c = &prefix_cases[i];
        json_t *o = NULL;
        int rc = tt_json_parse_prefix(c->in, strlen(c->in), &o);
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        if (!c->want) {
            cr_assert_null(o, "%s", c->name);
            continue;
        }
        char *txt = NULL;
        cr_assert_eq(tt_json_dump(o, &txt), TT_OK);
        cr_assert_str_eq(txt, c->want, "%s", c->name);
        free(txt);
        json_decref(o);
    }
}

Test(json, parse_never_reads_past_len)
{
    /* The buffer continues past len with valid JSON that must not count. */
    const char buf[] = "{\"a\":1}{\"b\":2}";
    json_t *o = NULL;

    cr_assert_eq(tt_json_parse(buf, 7, &o), TT_OK);
    cr_assert_not_null(json_object_get(o, "a"));
    json_decref(o);
    cr_assert_eq(tt_json_parse(buf, 6, &o), TT_ERR_PARSE);
    cr_assert_null(o);
    cr_assert_eq(tt_json_parse(buf, sizeof(buf) - 1, &o), TT_ERR_PARSE);
    cr_assert_eq(tt_json_parse(NULL, 0, &o), TT_ERR_PARSE);
}

Test(json, counts_and_numbers)
{
    json_t *o = NULL;
    int64_t n = -1;
    double d = 0;
    const char *in = "{\"i\":5,\"neg\":-1,\"r\":3.0,\"f\":2.5,\"s\":\"7\","
                     "\"big\":99999999999999999999,\"z\":null,"
                     "\"cap\":1000000000001,\"t\":true}";

    cr_assert_eq(tt_json_parse(in, strlen(in), &o), TT_OK);
    cr_assert_eq(tt_json_count(json_object_get(o, "i"), &n), TT_OK);
    cr_assert_eq(n, 5);
    cr_assert_eq(tt_json_count(json_object_get(o, "r"), &n), TT_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(tt_json_count(json_object_get(o, "neg"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(json_object_get(o, "f"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(json_object_get(o, "s"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(json_object_get(o, "big"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(json_object_get(o, "cap"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(json_object_get(o, "t"), &n), TT_ERR_PARSE);
    cr_assert_eq(tt_json_count(NULL, &n), TT_ERR_PARSE);
    n = 9;
    cr_assert_eq(tt_json_count_opt(json_object_get(o, "z"), &n), TT_OK);
    cr_assert_eq(n, 0);
    cr_assert_eq(tt_json_count_opt(json_object_get(o, "nope"), &n), TT_OK);
    cr_assert_eq(tt_json_count_opt(json_object_get(o, "neg"), &n),
                 TT_ERR_PARSE);
    cr_assert_eq(tt_json_int64(json_object_get(o, "neg"), &n), TT_OK);
    cr_assert_eq(n, -1);
    cr_assert_eq(tt_json_double(json_object_get(o, "i"), &d), TT_OK);
    cr_assert_float_eq(d, 5.0, 0);
    cr_assert_eq(tt_json_double(json_object_get(o, "s"), &d), TT_ERR_PARSE);
    json_decref(o);
}

enum { A, B, C, NS };

static const struct tt_json_count_field fields[] = {
    { A, true, { "a", NULL } },
    { B, false, { "d", "b", NULL } },
    { B, false, { "b_alias", NULL } },
    { C, false, { "c", NULL } },
};

Test(json, count_table)
{
    struct {
        const char *in;
        int rc;
        int64_t a, b, c;
        bool pb;
    } cases[] = {
        { "{\"a\":1,\"d\":{\"b\":2},\"c\":3}", TT_OK, 1, 2, 3, true },
        { "{\"a\":1,\"b_alias\":4}", TT_OK, 1, 4, 0, true },
        { "{\"a\":1,\"d\":{\"b\":null},\"b_alias\":4}", TT_OK, 1, 4, 0, true },
        { "{\"a\":1,\"d\":{\"b\":2},\"b_alias\":-4}", TT_OK, 1, 2, 0, true },
        { "{\"a\":1}", TT_OK, 1, 0, 0, false },
        { "{\"d\":{\"b\":2}}", TT_ERR_PARSE, 0, 2, 0, true },
        { "{\"a\":1,\"c\":-3}", TT_ERR_PARSE, 1, 0, 0, false },
        { "[]", TT_ERR_PARSE, 0, 0, 0, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = NULL;
        int64_t v[NS];
        bool p[NS];
        cr_assert_eq(tt_json_parse(cases[i].in, strlen(cases[i].in), &o), 0);
        int rc = tt_json_counts(o, fields, 4, v, p, NS);
        cr_assert_eq(rc, cases[i].rc, "%s: rc %d", cases[i].in, rc);
        cr_assert_eq(v[A], cases[i].a, "%s", cases[i].in);
        cr_assert_eq(v[B], cases[i].b, "%s", cases[i].in);
        if (rc == TT_OK)
            cr_assert_eq(v[C], cases[i].c, "%s", cases[i].in);
        cr_assert_eq(p[B], cases[i].pb, "%s", cases[i].in);
        json_decref(o);
    }
}

Test(json, strings_and_paths)
{
    const char in[] = "{\"a\":{\"b\":{\"c\":\"x\\u0000y\"}},\"e\":\"\","
                      "\"n\":1}";
    json_t *o = NULL;
    size_t n = 0;
    char *f = NULL;

    cr_assert_eq(tt_json_parse(in, sizeof(in) - 1, &o), TT_OK);
    const char *s = tt_json_str(tt_json_get(o, "a", "b", "c", NULL), &n);
    cr_assert_not_null(s);
    cr_assert_eq(n, 3);
    cr_assert_eq(memcmp(s, "x\0y", 3), 0);
    cr_assert_null(tt_json_get(o, "a", "x", "c", NULL));
    cr_assert_null(tt_json_get(o, "n", "b", NULL));
    cr_assert_null(tt_json_get(NULL, "a", NULL));
    cr_assert_eq(tt_json_get(o, NULL), o);
    static const char *const path[] = { "a", "b", NULL };
    cr_assert_eq(tt_json_getv(o, path), tt_json_get(o, "a", "b", NULL));

    cr_assert_eq(tt_json_set_str(&f, json_object_get(o, "e")), TT_ERR_PARSE);
    cr_assert_null(f);
    cr_assert_eq(tt_json_set_str(&f, tt_json_get(o, "a", "b", "c", NULL)),
                 TT_OK);
    cr_assert_eq(memcmp(f, "x\0y", 4), 0);
    /* Empty or wrong type never replaces a value. */
    cr_assert_eq(tt_json_set_str(&f, json_object_get(o, "e")), TT_ERR_PARSE);
    cr_assert_eq(tt_json_set_str(&f, json_object_get(o, "n")), TT_ERR_PARSE);
    cr_assert_eq(f[0], 'x');
    free(f);

    char *d = NULL;
    cr_assert_eq(tt_json_dump(json_object_get(o, "e"), &d), TT_OK);
    cr_assert_str_eq(d, "\"\"");
    free(d);
    cr_assert_eq(tt_json_dump(NULL, &d), TT_ERR_PARSE);
    json_decref(o);
}

Test(json, error_text)
{
    struct {
        const char *in;
        const char *want;       /* NULL: TT_ERR_PARSE */
    } cases[] = {
        { "{\"e\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}",
          "overloaded_error: Overloaded" },
        { "{\"e\":{\"type\":null,\"code\":\"rate_limit\",\"message\":\"slow\"}}",
          "rate_limit: slow" },
        { "{\"e\":{\"message\":\"only message\"}}", "only message" },
        { "{\"e\":{\"type\":\"only_type\"}}", "only_type" },
        { "{\"e\":\"bare\"}", "bare" },
        { "{\"e\":{\"code\":500}}", NULL },
        { "{\"e\":7}", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *o = NULL;
        char *t = NULL;
        cr_assert_eq(tt_json_parse(cases[i].in, strlen(cases[i].in), &o), 0);
        int rc = tt_json_error_text(json_object_get(o, "e"), &t);
        if (cases[i].want) {
            cr_assert_eq(rc, TT_OK, "%s", cases[i].in);
            cr_assert_str_eq(t, cases[i].want);
        } else {
            cr_assert_eq(rc, TT_ERR_PARSE, "%s", cases[i].in);
            cr_assert_null(t);
        }
        free(t);
        json_decref(o);
    }

    /* A megabyte-long message is cut to a line-sized text. */
    size_t big = 1 << 20;
    char *msg = malloc(big + 64);
    cr_assert_not_null(msg);
    memcpy(msg, "{\"message\":\"", 12);
    memset(msg + 12, 'm', big);
    memcpy(msg + 12 + big, "\"}", 3);
    json_t *o = NULL;
    char *t = NULL;
    cr_assert_eq(tt_json_parse(msg, strlen(msg), &o), 0);
    cr_assert_eq(tt_json_error_text(o, &t), TT_OK);
    cr_assert_lt(strlen(t), 1024);
    free(t);
    json_decref(o);
    free(msg);
}

/* --- tt_json_members ---------------------------------------------------- */

static const char *const mkeys[] = { "model", "messages", "a", "b",
                                     "\xc3\xa9" };
#define NMK (sizeof(mkeys) / sizeof(mkeys[0]))

struct members_case {
    const char *name;
    const char *in;
    int rc;
    const char *want[NMK];    /* raw value text per key, NULL: absent */
};

static const struct members_case members_cases[] = {
    { "compact", "{\"model\":\"m\",\"messages\":[],\"x\":1}", TT_OK,
      { "\"m\"", "[]" } },
    { "whitespace everywhere, kept inside values",
      " \r\n\t{ \"model\" :\n\"m\" , \"messages\"\t: [ 1 ,\n2 ] }\t\n", TT_OK,
      { "\"m\"", "[ 1 ,\n2 ]" } },
    { "empty object", "{}", TT_OK, { NULL } },
    { "empty object with space", " { \n } ", TT_OK, { NULL } },
    { "escaped quotes and braces inside strings",
      "{\"a\":\"}]\\\"{\\\\\",\"b\":{\"k\":\"]\\\"}\"},\"model\":\"x\\\"y\"}",
      TT_OK, { "\"x\\\"y\"", NULL, "\"}]\\\"{\\\\\"", "{\"k\":\"]\\\"}\"}" } },
    { "even backslash run before a quote ends the string",
      "{\"a\":\"x\\\\\\\\\",\"b\":1}", TT_OK,
      { NULL, NULL, "\"x\\\\\\\\\"", "1" } },
    { "nested keys are not top-level members",
      "{\"a\":{\"model\":\"inner\",\"b\":[{\"x\":[1,{\"y\":\"}\"}]}]},\"b\":2}",
      TT_OK,
      { NULL, NULL, "{\"model\":\"inner\",\"b\":[{\"x\":[1,{\"y\":\"}\"}]}]}",
        "2" } },
    { "duplicate key: the last wins (jansson)", "{\"a\":1,\"b\":0,\"a\":[2]}",
      TT_OK, { NULL, NULL, "[2]", "0" } },
    { "broken duplicate: the earlier value stays", "{\"a\":1,\"a\":tru}",
      TT_ERR_INCOMPLETE, { NULL, NULL, "1" } },
    { "literals and numbers",
      "{\"model\":null,\"messages\":false,\"a\":-0.5e+3,\"b\":0}", TT_OK,
      { "null", "false", "-0.5e+3", "0" } },
    { "leading zero stops the scan", "{\"a\":1E2,\"b\":01}", TT_ERR_INCOMPLETE,
      { NULL, NULL, "1E2" } },
    { "bare minus", "{\"a\":true,\"b\":-}", TT_ERR_INCOMPLETE,
      { NULL, NULL, "true" } },
    { "fraction without digits", "{\"a\":1.}", TT_ERR_INCOMPLETE, { NULL } },
    { "exponent without digits", "{\"a\":1e+}", TT_ERR_INCOMPLETE, { NULL } },
    { "container closed by the wrong bracket", "{\"b\":2,\"a\":[1}",
      TT_ERR_INCOMPLETE, { NULL, NULL, NULL, "2" } },
    { "cut inside a string", "{\"model\":\"m\",\"messages\":[{\"c\":\"ab",
      TT_ERR_INCOMPLETE, { "\"m\"" } },
    { "cut after a number: not trusted", "{\"model\":\"m\",\"a\":12",
      TT_ERR_INCOMPLETE, { "\"m\"" } },
    { "number with its delimiter", "{\"a\":12 ", TT_ERR_INCOMPLETE,
      { NULL, NULL, "12" } },
    { "cut inside a key", "{\"a\":true,\"mo", TT_ERR_INCOMPLETE,
      { NULL, NULL, "true" } },
    { "cut before the colon", "{\"a\":true,\"model\"", TT_ERR_INCOMPLETE,
      { NULL, NULL, "true" } },
    { "just a brace", "{", TT_ERR_INCOMPLETE, { NULL } },
    { "trailing comma", "{\"a\":1,}", TT_ERR_INCOMPLETE, { NULL, NULL, "1" } },
    { "missing colon", "{\"a\" 1}", TT_ERR_INCOMPLETE, { NULL } },
    { "missing comma", "{\"a\":1 \"b\":2}", TT_ERR_INCOMPLETE,
      { NULL, NULL, "1" } },
    { "trailing bytes: members read, body invalid", "{\"a\":1} x",
      TT_ERR_INCOMPLETE, { NULL, NULL, "1" } },
    { "second object after the first", "{\"a\":1}{\"b\":2}", TT_ERR_INCOMPLETE,
      { NULL, NULL, "1" } },
    { "escaped keys are unescaped",
      "{\"mod\\u0065l\":\"m\",\"\\u006d\\u0065ssages\":[],\"\\u00e9\":1,"
      "\"\\u00E9\":2}",
      TT_OK, { "\"m\"", "[]", NULL, NULL, "2" } },
    { "raw UTF-8 key", "{\"\xc3\xa9\":3}", TT_OK,
      { NULL, NULL, NULL, NULL, "3" } },
    { "a key that only looks like one does not match",
      "{\"a\\\"\":1,\"a\\u0000\":2,\"\\ud800a\":3,\"b\\q\":4,\"A\":5,"
      "\"aa\":6,\"\":7}",
      TT_OK, { NULL } },
    { "surrogate pair in a key", "{\"\\ud83d\\ude80\":1,\"b\":2}", TT_OK,
      { NULL, NULL, NULL, "2" } },
    { "nested content is delimited, not validated (documented)",
      "{\"a\":[tru],\"b\":{\"x\"}}", TT_OK,
      { NULL, NULL, "[tru]", "{\"x\"}" } },
    { "array is not an object", "[1,2]", TT_ERR_PARSE, { NULL } },
    { "string is not an object", "\"{\\\"a\\\":1}\"", TT_ERR_PARSE, { NULL } },
    { "null", "null", TT_ERR_PARSE, { NULL } },
    { "not JSON", "model=gpt-4o", TT_ERR_PARSE, { NULL } },
    { "whitespace only", " \n ", TT_ERR_PARSE, { NULL } },
    { "empty", "", TT_ERR_PARSE, { NULL } },
};

static void expect_slices(const struct tt_json_slice *got,
                          const char *const *want, const char *name)
{
    for (size_t k = 0; k < NMK; k++) {
        if (!want[k]) {
            cr_assert_null(got[k].ptr, "%s: %s present: %.*s", name, mkeys[k],
                           (int)got[k].len, got[k].ptr);
            continue;
        }
        cr_assert_not_null(got[k].ptr, "%s: %s absent", name, mkeys[k]);
        cr_assert(got[k].len == strlen(want[k]) &&
                      memcmp(got[k].ptr, want[k], got[k].len) == 0,
                  "%s: %s = %.*s, want %s", name, mkeys[k], (int)got[k].len,
                  got[k].ptr, want[k]);
    }
}

Test(json, members_table)
{
    for (size_t i = 0; i < sizeof(members_cases) / sizeof(members_cases[0]);
         i++) {
        const struct members_case *c = &members_cases[i];
        struct tt_json_slice out[NMK];
        /* An exact-size heap copy: ASan catches a read past len. */
        size_t n = strlen(c->in);
        char *buf = malloc(n ? n : 1);
        cr_assert_not_null(buf);
        memcpy(buf, c->in, n);
        int rc = tt_json_members(buf, n, mkeys, NMK, out);
        cr_assert_eq(rc, c->rc, "%s: rc %d", c->name, rc);
        expect_slices(out, c->want, c->name);
        free(buf);
    }
}

Test(json, members_null_and_bounds)
{
    struct tt_json_slice out[NMK];
    const char buf[] = "{\"a\":1}{\"b\":2}";

    cr_assert_eq(tt_json_members(NULL, 0, mkeys, NMK, out), TT_ERR_PARSE);
    cr_assert_eq(tt_json_members(buf, 7, mkeys, NMK, out), TT_OK);
    cr_assert_eq(out[2].ptr, buf + 5);
    cr_assert_null(out[3].ptr);
    cr_assert_eq(tt_json_members(buf, 0, mkeys, 0, NULL), TT_ERR_PARSE);
}

/* Valid bodies cut at every byte (the capture cap can fall anywhere): the
 * members found must be exactly those tt_json_parse_prefix, the jansson
 * reference, keeps, with the same values and the same verdict. */
static const char *const split_bodies[] = {
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
    "\"a \\\"q\\\" {b} [c] \\\\\"}],\"a\":0.25,\"b\":true,\"stream\":false}",
    " {\n  \"a\" : -12 ,\n  \"model\" : \"m\\u00e9\" ,\n  \"b\" : null ,\n"
    "  \"messages\" : [ [ ] , { } , { \"x\" : [ 1e3 , \"]\" ] } ]\n} \n",
    "{\"b\":{\"model\":\"inner\"},\"a\":\"\\\\\",\"messages\":\"}\","
    "\"\xc3\xa9\":[]}",
    "{\"a\":1,\"a\":2,\"b\":[\"x\"],\"b\":{}}",
};

Test(json, members_every_split_matches_parse_prefix)
{
    for (size_t i = 0; i < sizeof(split_bodies) / sizeof(split_bodies[0]);
         i++) {
        size_t len = strlen(split_bodies[i]);
        for (size_t k = 0; k <= len; k++) {
            struct tt_json_slice out[NMK];
            json_t *ref = NULL;
            char *buf = malloc(k ? k : 1);
            cr_assert_not_null(buf);
            memcpy(buf, split_bodies[i], k);
            int rc = tt_json_members(buf, k, mkeys, NMK, out);
            int ref_rc = tt_json_parse_prefix(buf, k, &ref);
            cr_assert_eq(rc, ref_rc, "body %zu cut at %zu: rc %d, ref %d", i,
                         k, rc, ref_rc);
            if (k == len)
                cr_assert_eq(rc, TT_OK, "body %zu whole", i);
            for (size_t m = 0; m < NMK; m++) {
                json_t *want = json_object_get(ref, mkeys[m]);
                json_t *got = NULL;
                cr_assert_eq(out[m].ptr != NULL, want != NULL,
                             "body %zu cut at %zu: %s presence", i, k,
                             mkeys[m]);
                if (!want)
                    continue;
                cr_assert(out[m].ptr >= buf && out[m].ptr + out[m].len <= buf + k);
                cr_assert_eq(tt_json_slice_parse(&out[m], &got), TT_OK);
                cr_assert(json_equal(got, want), "body %zu cut at %zu: %s", i,
                          k, mkeys[m]);
                json_decref(got);
            }
            json_decref(ref);
            free(buf);
        }
    }
}

Test(json, slice_parse_and_set_raw)
{
    struct tt_json_slice absent = { NULL, 0 }, bad = { "tru", 3 },
                         num = { "12 ", 2 }, nul = { "\"a\0b\"", 5 },
                         arr = { "[1, 2]xyz", 6 };
    json_t *v = NULL;
    char *field = NULL;

    cr_assert_eq(tt_json_slice_parse(&absent, &v), TT_OK);
    cr_assert_null(v);
    cr_assert_eq(tt_json_slice_parse(&bad, &v), TT_ERR_PARSE);
    cr_assert_null(v);
    cr_assert_eq(tt_json_slice_parse(&num, &v), TT_OK);
    cr_assert_eq(json_integer_value(v), 12);
    json_decref(v);

    cr_assert_eq(tt_json_set_raw(&field, &absent), TT_ERR_PARSE);
    cr_assert_null(field);
    cr_assert_eq(tt_json_set_raw(&field, &arr), TT_OK);
    cr_assert_str_eq(field, "[1, 2]");
    cr_assert_eq(tt_json_set_raw(&field, &nul), TT_ERR_PARSE);
    cr_assert_str_eq(field, "[1, 2]", "a NUL leaves the field alone");
    free(field);
}

/* --- without a tree: tt_json_valid agrees with jansson ------------------- */

struct valid_case {
    const char *name;
    const char *in;
    size_t len;             /* 0: strlen(in) */
    bool ok;
};

static const struct valid_case valid_cases[] = {
    { "object", "{\"a\":1,\"b\":[true,false,null],\"c\":{\"d\":\"e\"}}", 0, true },
    { "whitespace around", " \n\t{ \"a\" : [ 1 , 2 ] }\r\n", 0, true },
    { "empty containers", "{\"a\":{},\"b\":[]}", 0, true },
    { "top-level string", "\"hi\"", 0, true },
    { "top-level number", "-12.5e+3", 0, true },
    { "escapes", "[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"]", 0, true },
    { "NUL escape (allowed)", "[\"a\\u0000b\"]", 0, true },
    { "UTF-8", "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]", 0, true },
    { "big integer (jansson retries as real)", "[123456789012345678901234567890]", 0, true },
    { "trailing comma", "[1,2,]", 0, false },
    { "missing colon", "{\"a\" 1}", 0, false },
    { "unquoted key", "{a:1}", 0, false },
    { "single quotes", "['a']", 0, false },
    { "leading zero", "[01]", 0, false },
    { "bare minus", "[-]", 0, false },
    { "dot without digits", "[1.]", 0, false },
    { "bad literal", "[tru]", 0, false },
    { "raw control character", "[\"a\tb\"]", 0, false },
    { "bad escape", "[\"\\x41\"]", 0, false },
    { "short \\u", "[\"\\u12\"]", 0, false },
    { "lone low surrogate", "[\"\\udc00\"]", 0, false },
    { "high surrogate alone", "[\"\\ud800x\"]", 0, false },
    { "overlong UTF-8", "[\"\xc0\xaf\"]", 0, false },
    { "UTF-8 surrogate", "[\"\xed\xa0\x80\"]", 0, false },
    { "cut UTF-8", "[\"\xe2\x82\"]", 0, false },
    { "stray continuation byte", "[\"\x80\"]", 0, false },
    { "raw NUL byte in a string", "[\"a\0b\"]", 7, false },
    { "unclosed string", "[\"abc", 0, false },
    { "unclosed array", "[1,2", 0, false },
    { "mismatched close", "[1}", 0, false },
    { "two values", "{} {}", 0, false },
    { "empty", "", 0, false },
    { "only whitespace", "   ", 0, false },
};

Test(json, valid_agrees_with_jansson)
{
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
        const struct valid_case *c = &valid_cases[i];
        size_t len = c->len ? c->len : strlen(c->in);
        json_error_t err;
        json_t *j = json_loadb(c->in, len, JSON_ALLOW_NUL | JSON_DECODE_ANY, &err);
        if (!j && json_error_code(&err) == json_error_numeric_overflow)
            j = json_loadb(c->in, len, JSON_ALLOW_NUL | JSON_DECODE_ANY |
                           JSON_DECODE_INT_AS_REAL, &err);
        cr_expect_eq(j != NULL, c->ok, "%s: jansson %s", c->name, j ? "accepts" : "refuses");
        json_decref(j);
        cr_expect_eq(tt_json_valid(c->in, len) == TT_OK, c->ok, "%s", c->name);
    }
}

/* tt_json_valid_members is tt_json_valid and tt_json_members in one pass:
 * on every text of both tables (and each cut of each), it says TT_OK
 * exactly when both do, with the same member slices. */
static void expect_valid_members_agree(const char *in, size_t n, const char *name)
{
    struct tt_json_slice a[NMK], b[NMK];
    char *buf = malloc(n ? n : 1);      /* exact size: ASan sees a read past n */

    cr_assert_not_null(buf);
    memcpy(buf, in, n);
    bool both = tt_json_valid(buf, n) == TT_OK &&
                tt_json_members(buf, n, mkeys, NMK, a) == TT_OK;
    int rc = tt_json_valid_members(buf, n, mkeys, NMK, b);
    cr_assert(rc == TT_OK || rc == TT_ERR_PARSE, "%s (%zu bytes): rc %d", name, n, rc);
    cr_assert_eq(rc == TT_OK, both, "%s (%zu bytes): one pass %s, two passes %s", name, n,
                 rc == TT_OK ? "ok" : "refuses", both ? "ok" : "refuse");
    for (size_t k = 0; both && k < NMK; k++)
        cr_assert(a[k].ptr == b[k].ptr && a[k].len == b[k].len,
                  "%s: member %s: one pass %.*s, two passes %.*s", name, mkeys[k],
                  (int)b[k].len, b[k].ptr ? b[k].ptr : "", (int)a[k].len,
                  a[k].ptr ? a[k].ptr : "");
    free(buf);
}

Test(json, valid_members_is_valid_and_members)
{
    static const char *const more[] = {
        "{\"model\":{},\"a\":[],\"b\":{\"x\":{}}}",
        "{\"a\":{\"b\":[{}]},\"b\":[[],[[]]],\"model\":\"m\"}",
        " {\"a\" : [ 1 , {\"model\" : 2} ] , \"b\" : \"\\\"}\" } ",
        "{\"a\":1,\"a\":{\"k\":[]}}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xc3\xa9\"}],\"b\":-1.5e3}",
    };
    int checked = 0;

    for (size_t i = 0; i < sizeof(members_cases) / sizeof(members_cases[0]); i++, checked++)
        expect_valid_members_agree(members_cases[i].in, strlen(members_cases[i].in),
                                   members_cases[i].name);
    for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++, checked++)
        expect_valid_members_agree(valid_cases[i].in, valid_cases[i].len ? valid_cases[i].len
                                   : strlen(valid_cases[i].in), valid_cases[i].name);
    for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++)
        for (size_t n = 0; n <= strlen(more[i]); n++, checked++)
            expect_valid_members_agree(more[i], n, more[i]);
    cr_assert_gt(checked, 200);
    /* Not an object at its root: refused even when valid. */
    struct tt_json_slice out[NMK];
    cr_assert_eq(tt_json_valid_members("[1]", 3, mkeys, NMK, out), TT_ERR_PARSE);
    cr_assert_eq(tt_json_valid_members(NULL, 0, mkeys, NMK, out), TT_ERR_PARSE);
}

Test(json, valid_depth_limit)
{
    static char deep[2 * 2100 + 1];

    for (size_t d = 2047; d <= 2049; d++) {
        memset(deep, '[', d);
        memset(deep + d, ']', d);
        json_error_t err;
        json_t *j = json_loadb(deep, 2 * d, 0, &err);
        cr_expect_eq(tt_json_valid(deep, 2 * d) == TT_OK, j != NULL, "depth %zu", d);
        json_decref(j);
    }
}

Test(json, next_str_is_dup)
{
    const char *txt = " [ \"a\\u0062c\" , {\"k\":[1,2]} ,3,\"\"] ";
    struct tt_json_slice arr = { txt, strlen(txt) }, el;
    size_t pos = 0, n = 0;
    const char *want[] = { "\"a\\u0062c\"", "{\"k\":[1,2]}", "3", "\"\"" };

    cr_assert_eq(tt_json_valid(txt, strlen(txt)), TT_OK);
    while (tt_json_next(&arr, &pos, &el)) {
        cr_assert_lt(n, 4);
        cr_expect_eq(el.len, strlen(want[n]));
        cr_expect_eq(memcmp(el.ptr, want[n], el.len), 0, "element %zu", n);
        n++;
    }
    cr_expect_eq(n, 4);
    struct tt_json_slice s = { "\"a\\u0062c\"", 10 };
    cr_expect(tt_json_str_is(&s, "abc"));
    cr_expect_not(tt_json_str_is(&s, "ab"));
    char *d = tt_json_str_dup(&s);
    cr_expect_str_eq(d, "abc");
    free(d);
    struct tt_json_slice num = { "3", 1 };
    cr_expect_not(tt_json_str_is(&num, "3"));
    cr_expect_null(tt_json_str_dup(&num));
    struct tt_json_slice obj = { "{}", 2 };
    pos = 0;
    cr_expect_not(tt_json_next(&obj, &pos, &el));
}

/* tt_json_slice_int reads what tt_json_int64 reads from a tree as an
 * integer; tt_json_set_slice_str changes a field only where
 * tt_json_set_str would (a non-empty string). Both against jansson. */
Test(json, slice_int_and_set_slice_str_agree_with_the_tree)
{
    static const struct {
        const char *text;
        int rc;             /* tt_json_slice_int */
        int64_t v;
    } ints[] = {
        { "0", TT_OK, 0 }, { "-7", TT_OK, -7 }, { "123456789012345678", TT_OK, 123456789012345678 },
        { "1234567890123456789", TT_ERR_UNSUPPORTED, 0 }, { "1.0", TT_ERR_UNSUPPORTED, 0 },
        { "1e3", TT_ERR_UNSUPPORTED, 0 }, { "\"1\"", TT_ERR_PARSE, 0 },
        { "null", TT_ERR_PARSE, 0 }, { "[1]", TT_ERR_PARSE, 0 },
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        struct tt_json_slice sl = { ints[i].text, strlen(ints[i].text) };
        int64_t v = -1, tv = -1;
        int rc = tt_json_slice_int(&sl, &v);
        cr_expect_eq(rc, ints[i].rc, "%s: rc %d", ints[i].text, rc);
        json_t *j = json_loads(ints[i].text, JSON_DECODE_ANY, NULL);
        cr_assert_not_null(j, "%s", ints[i].text);
        if (rc == TT_OK) {
            cr_expect_eq(v, ints[i].v, "%s", ints[i].text);
            cr_expect(json_is_integer(j) && tt_json_int64(j, &tv) == TT_OK && tv == v,
                      "%s: the tree reads it the same", ints[i].text);
        } else if (rc == TT_ERR_PARSE) {
            cr_expect(!json_is_number(j), "%s: a number the slice refused", ints[i].text);
        }
        json_decref(j);
    }
    const struct tt_json_slice absent = { NULL, 0 };
    int64_t v;
    cr_expect_eq(tt_json_slice_int(&absent, &v), TT_ERR_PARSE);

    static const char *const strs[] = {
        "\"abc\"", "\"a\\u0062c\"", "\"\"", "\"\\u0000x\"", "7", "null", "{\"a\":1}",
        "\"caf\\u00e9\"",
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        struct tt_json_slice sl = { strs[i], strlen(strs[i]) };
        char *a = strdup("old"), *b = strdup("old");
        json_t *j = json_loads(strs[i], JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        cr_assert_not_null(j, "%s", strs[i]);
        tt_json_set_slice_str(&a, &sl);
        (void)tt_json_set_str(&b, j);
        cr_expect_str_eq(a, b, "%s: slice %s, tree %s", strs[i], a, b);
        json_decref(j);
        free(a);
        free(b);
    }
    char *f = NULL;
    tt_json_set_slice_str(&f, &absent);
    cr_expect_null(f);
}

/* A streamed fragment appended within a budget: unescaped, cut where the
 * budget ends (truncated set), nothing for what is not a string. */
Test(json, str_append_budget_cuts_at_the_budget)
{
    static const struct {
        const char *text;
        size_t budget;
        const char *want;
        size_t want_len, left;
        bool truncated;
    } cases[] = {
        { "\"abc\"", 10, "abc", 3, 7, false },
        { "\"abc\"", 3, "abc", 3, 0, false },
        { "\"a\\nbc\"", 2, "a\n", 2, 0, true },
        { "\"x\\u00e9y\"", 2, "x\xc3", 2, 0, true },
        { "\"a\\u0000b\"", 9, "a\0b", 3, 6, false },
        { "\"\"", 5, "", 0, 5, false },
        { "42", 5, "", 0, 5, false },
        { "\"abc\"", 0, "", 0, 0, true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_json_slice sl = { cases[i].text, strlen(cases[i].text) };
        struct tt_buf b;
        size_t budget = cases[i].budget;
        bool trunc = false;
        tt_buf_init(&b, 1 << 20);
        cr_assert_eq(tt_json_str_append_budget(&sl, &b, &budget, &trunc), TT_OK);
        cr_expect_eq(b.len, cases[i].want_len, "%s: %zu bytes", cases[i].text, b.len);
        cr_expect(b.len == cases[i].want_len && !memcmp(b.data ? b.data : "", cases[i].want,
                                                        b.len), "%s: text", cases[i].text);
        cr_expect_eq(budget, cases[i].left, "%s: budget left %zu", cases[i].text, budget);
        cr_expect_eq(trunc, cases[i].truncated, "%s: truncated", cases[i].text);
        tt_buf_free(&b);
    }
}

/* tt_json_append_compact writes what jansson's compact dump writes. */
Test(json, append_compact_is_jansson_dump)
{
    const char *cases[] = {
        "\"plain text\"", "\"tab\\tquote\\\"nl\\n\"", "\"\\u00e9t\\u00e9\"",
        "\"a\\/b\"", "null", "true", "false", "42", "-7", "0", "-0", "1.50",
        "1e3", "007x", "[1, 2 ,{\"a\" : \"b\"}]", "{\"k\":\"\\u0041\"}",
        "1234567890123456789", "123456789012345678",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_json_slice s = { cases[i], strlen(cases[i]) };
        struct tt_buf b;
        json_error_t err;
        json_t *j = json_loadb(cases[i], s.len, JSON_DECODE_ANY, &err);
        tt_buf_init(&b, 1 << 20);
        int rc = tt_json_append_compact(&b, &s);
        if (!j) {
            cr_expect_neq(rc, TT_OK, "%s", cases[i]);
        } else {
            char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            cr_expect_eq(rc, TT_OK, "%s", cases[i]);
            cr_expect_str_eq(b.data ? b.data : "", want, "%s", cases[i]);
            free(want);
        }
        json_decref(j);
        tt_buf_free(&b);
    }
}

/* Random strings built from the bytes that matter (quotes, backslashes,
 * escapes, control and UTF-8 bytes, plain runs long enough for the 16- and
 * 8-byte steps, so that a byte that needs a look lands at every offset of
 * a step):
 * tt_json_valid and jansson must agree on every one. */
Test(json, valid_agrees_with_jansson_random)
{
    static const char *const atoms[] = {
        "a", "abcdefghijkl", "\"", "\\", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud83d",
        "\\u0000", "\\x", "\t", "\x01", "\x7f", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "\xc3", "\x80", "\xed\xa0\x80", "\xf5\x80\x80\x80", " ", "/",
        "abcdefghijklmnopqrstu", "0123456789abcdefghijklmnopqrstuvwxyz!",
    };
    unsigned seed = 12345;
    char buf[512];

    for (int k = 0; k < 20000; k++) {
        size_t n = 0;
        buf[n++] = '[';
        buf[n++] = '"';
        int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int j = 0; j < parts; j++) {
            const char *a = atoms[((seed = seed * 1103515245u + 12345u) >> 16) %
                                  (sizeof(atoms) / sizeof(atoms[0]))];
            size_t l = strlen(a);
            memcpy(buf + n, a, l);
            n += l;
        }
        buf[n++] = '"';
        buf[n++] = ']';
        json_error_t err;
        json_t *j = json_loadb(buf, n, JSON_ALLOW_NUL, &err);
        cr_assert_eq(tt_json_valid(buf, n) == TT_OK, j != NULL, "case %d: %.*s", k, (int)n, buf);
        json_decref(j);
    }
}

/* tt_json_quote_inplace writes what json_dumps(json_stringn(...)) writes,
 * and refuses what json_stringn refuses. */
Test(json, quote_inplace_is_jansson_dump)
{
    static const struct { const char *s; size_t n; } cases[] = {
        { "", 0 }, { "plain", 5 }, { "tab\there \"q\" back\\slash\n", 25 },
        { "\x01\x1f\x7f/\b\f\r", 7 }, { "nul\0inside", 10 },
        { "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14 },
        { "cut \xe2\x82", 6 }, { "bad \xff", 5 }, { "surrogate \xed\xa0\x80", 13 },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_buf b;
        tt_buf_init(&b, 1 << 20);
        if (cases[i].n)
            cr_assert_eq(tt_buf_append(&b, cases[i].s, cases[i].n), TT_OK);
        json_t *j = json_stringn(cases[i].s, cases[i].n);
        int rc = tt_json_quote_inplace(&b);
        if (!j) {
            cr_expect_eq(rc, TT_ERR_PARSE, "case %zu", i);
            cr_expect_eq(b.len, cases[i].n, "case %zu: untouched", i);
        } else {
            char *want = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
            cr_expect_eq(rc, TT_OK, "case %zu", i);
            cr_expect_str_eq(b.data, want, "case %zu", i);
            cr_expect_eq(b.len, strlen(want), "case %zu", i);
            free(want);
        }
        json_decref(j);
        tt_buf_free(&b);
    }
}

/* Wider than fields: several names under one nested object (read in one
 * pass), the same nested name under two parents, a path three deep. */
enum { WA, WB, WC, WE, WF, NW };

static const struct tt_json_count_field wide[] = {
    { WA, true, { "a", NULL } },
    { WB, false, { "d", "b", NULL } },
    { WB, false, { "b_alias", NULL } },
    { WC, false, { "c", NULL } },
    { WE, false, { "d", "e", NULL } },
    { WF, false, { "d", "f", "g", NULL } },
    { WE, false, { "x", "e", NULL } },
};

/* The slice reader of counts (no tree) agrees with the tree reader on
 * every input it decides, and leaves to it (TT_ERR_UNSUPPORTED) only the
 * numbers jansson reads as reals or refuses as too large. */
Test(json, count_slice_matches_tree)
{
    static const struct {
        const char *in;
        bool unsupported;
    } cases[] = {
        { "{\"a\":1,\"d\":{\"b\":2},\"c\":3}", false },
        { "{\"a\":1,\"b_alias\":4}", false },
        { "{\"a\":1,\"d\":{\"b\":null},\"b_alias\":4}", false },
        { "{\"a\":1,\"d\":{\"b\":2},\"b_alias\":-4}", false },
        { "{\"a\":1}", false },
        { "{\"d\":{\"b\":2}}", false },
        { "{\"a\":1,\"c\":-3}", false },
        { "[]", false },
        { "{}", false },
        { "{\"a\":\"1\"}", false },
        { "{\"a\":true,\"c\":{}}", false },
        { "{\"a\":1,\"a\":7}", false },
        { "{\"a\":1,\"d\":[1,2]}", false },
        { "{\"a\":1,\"d\":{\"b\":{\"x\":1}}}", false },
        { " { \"a\" : 0 , \"d\" : { \"b\" : 999999999999 } , \"c\" : 1000000000001 } ", false },
        { "{\"\\u0061\":5,\"a\":1}", false },
        { "{\"a\":1,\"x\":{\"a\":9},\"c\":0}", false },
        { "{\"a\":-0}", false },
        { "{\"a\":1,\"d\":{\"e\":5,\"b\":2,\"f\":{\"g\":7}}}", false },
        { "{\"a\":1,\"d\":{\"f\":3,\"e\":null}}", false },
        { "{\"a\":1,\"x\":{\"e\":4},\"d\":{\"e\":5}}", false },
        { "{\"a\":1,\"x\":{\"e\":4},\"d\":{\"b\":1}}", false },
        { "{\"a\":1,\"d\":{\"e\":\"5\",\"f\":{\"g\":-1}}}", false },
        { "{\"a\":1,\"d\":{\"f\":{\"g\":1.5}}}", true },
        { "{\"a\":1.0}", true },
        { "{\"a\":1e3}", true },
        { "{\"a\":1,\"c\":2.5}", true },
        { "{\"a\":1234567890123456789}", true },
        { "{\"a\":99999999999999999999999}", true },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *in = cases[i].in;
        struct tt_json_slice s = { in, strlen(in) };
        int64_t tv[NW], sv[NW];
        bool tp[NW], sp[NW];
        json_t *o = NULL;

        while (s.len && s.ptr[0] == ' ') {
            s.ptr++;
            s.len--;
        }
        while (s.len && s.ptr[s.len - 1] == ' ')
            s.len--;
        int src = tt_json_counts_slice(&s, wide, 7, sv, sp, NW);
        if (cases[i].unsupported) {
            cr_assert_eq(src, TT_ERR_UNSUPPORTED, "%s: rc %d", in, src);
            continue;
        }
        cr_assert_eq(tt_json_parse(in, strlen(in), &o), TT_OK, "%s", in);
        int trc = tt_json_counts(o, wide, 7, tv, tp, NW);
        json_decref(o);
        cr_assert_eq(src, trc, "%s: slice %d, tree %d", in, src, trc);
        for (int k = 0; k < NW; k++) {
            cr_assert_eq(sp[k], tp[k], "%s: slot %d present", in, k);
            cr_assert_eq(sv[k], tv[k], "%s: slot %d: %lld vs %lld", in, k,
                         (long long)sv[k], (long long)tv[k]);
        }
    }
}
