/* test_pricing_file.c - the user's price file (TOKENTAP_PRICING): format,
 * errors that name the line, and overrides beating the built-in table in
 * the cost a span is charged. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "price.h"
#include "span.h"
#include "tt.h"

static char *write_tmp(const char *text)
{
    static char path[64];
    int fd;

    snprintf(path, sizeof(path), "/tmp/tt-prices-XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

/* Loads text; returns the rc and the error in err. */
static int load(const char *text, struct tt_price_set **s, char *err, size_t n)
{
    char *path = write_tmp(text);
    int rc = tt_price_set_load(path, s, err, n);

    unlink(path);
    return rc;
}

Test(price_file, valid_file_loads_every_column)
{
    struct tt_price_set *s = NULL;
    char err[512];

    cr_assert_eq(load("{\"models\": [\n"
                      " {\"provider\": \"openai\", \"model\": \"gpt-4o\", \"input\": 2,\n"
                      "  \"output\": 8, \"cache_read\": 1, \"source\": \"contract 42\",\n"
                      "  \"date\": \"2026-11-01\"},\n"
                      " {\"model\": \"my-private-model\", \"input\": 0.5, \"output\": 1.5,\n"
                      "  \"cache_write\": 0.6, \"cache_write_1h\": 1, \"reasoning\": 3,\n"
                      "  \"tier_threshold\": 100000, \"tier_input\": 1, \"tier_output\": 3,\n"
                      "  \"tier_cache_read\": 0.2, \"tier_cache_write\": null}\n"
                      "]}\n", &s, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(s->n, 2);
    cr_assert_str_eq(s->rows[0].provider, "openai");
    cr_assert_float_eq(s->rows[0].cache_read, 1, 0);
    cr_assert_float_eq(s->rows[0].cache_write, -1, 0);
    cr_assert_str_eq(s->rows[0].source, "contract 42");
    cr_assert_str_eq(s->rows[1].provider, "*");
    cr_assert_eq(s->rows[1].tier_threshold, 100000);
    cr_assert_float_eq(s->rows[1].tier_cache_write, -1, 0);
    cr_assert_float_eq(s->rows[1].reasoning, 3, 0);

    /* override beats built-in, and normalisation applies to user rows */
    struct tt_price_match m;
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o-2024-08-06", &m), TT_OK);
    cr_assert(m.override);
    cr_assert_float_eq(m.price->input, 2, 0);
    cr_assert(strstr(m.steps, "price file"), "%s", m.steps);
    /* a user row without provider serves any provider */
    cr_assert_eq(tt_price_lookup(s, "ollama", "my-private-model", &m), TT_OK);
    cr_assert(m.override);
    /* what the file does not name still has its built-in price */
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o-mini", &m), TT_OK);
    cr_assert_not(m.override);
    cr_assert_float_eq(m.price->input, 0.15, 0);
    /* ... and no name matches a file row by prefix (issue #12: a word
     * suffix names another model) */
    cr_assert_eq(tt_price_lookup(s, "openai", "my-private-model-v2", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_UNKNOWN);
    tt_price_set_free(s);
}

/* LiteLLM's model_prices_and_context_window.json, as it is: per-token
 * prices become per-1M, providers our OTel names, route prefixes go, and
 * entries without a per-token price are skipped. */
Test(price_file, litellm_format)
{
    struct tt_price_set *s = NULL;
    char err[512];

    cr_assert_eq(load("{\n"
                      " \"sample_spec\": {\"litellm_provider\": \"one of\", \"mode\": \"chat\"},\n"
                      " \"gpt-4o\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
                      "   \"input_cost_per_token\": 2e-06, \"output_cost_per_token\": 8e-06,\n"
                      "   \"cache_read_input_token_cost\": 1e-06,\n"
                      "   \"input_cost_per_token_flex\": 1e-06, \"output_cost_per_token_priority\": 1.6e-05},\n"
                      " \"gemini/gemini-2.5-pro\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
                      "   \"input_cost_per_token\": 1.25e-06, \"output_cost_per_token\": 1e-05,\n"
                      "   \"input_cost_per_token_above_200k_tokens\": 2.5e-06,\n"
                      "   \"output_cost_per_token_above_200k_tokens\": 1.5e-05},\n"
                      " \"claude-x\": {\"litellm_provider\": \"anthropic\", \"mode\": \"chat\",\n"
                      "   \"input_cost_per_token\": 3e-07, \"output_cost_per_token\": 1.5e-06,\n"
                      "   \"cache_creation_input_token_cost\": 3.75e-07,\n"
                      "   \"cache_creation_input_token_cost_above_1hr\": 6e-07},\n"
                      " \"dall-e-3\": {\"litellm_provider\": \"openai\", \"mode\": \"image_generation\",\n"
                      "   \"output_cost_per_image\": 0.04},\n"
                      " \"text-embedding-3-small\": {\"litellm_provider\": \"openai\",\n"
                      "   \"mode\": \"embedding\", \"input_cost_per_token\": 2e-08}\n"
                      "}\n", &s, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(s->n, 4);   /* dall-e-3 has no per-token price */

    struct tt_price_match m;
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o", &m), TT_OK);
    cr_assert(m.override);
    cr_assert_float_eq(m.price->input, 2, 1e-12);
    cr_assert_float_eq(m.price->output, 8, 1e-12);
    cr_assert_float_eq(m.price->cache_read, 1, 1e-12);
    cr_assert_float_eq(m.price->flex_input, 1, 1e-12);
    cr_assert_float_eq(m.price->priority_output, 16, 1e-12);
    cr_assert_float_eq(m.price->cache_write, -1, 0);
    cr_assert_str_eq(m.price->litellm_key, "gpt-4o");
    cr_assert_eq(tt_price_lookup(s, "gcp.gemini", "gemini-2.5-pro", &m), TT_OK);
    cr_assert(m.override);
    cr_assert_str_eq(m.price->provider, "gcp.gemini");
    cr_assert_eq(m.price->tier_threshold, 200000);
    cr_assert_float_eq(m.price->tier_input, 2.5, 1e-12);
    cr_assert_float_eq(m.price->tier_output, 15, 1e-12);
    cr_assert_eq(tt_price_lookup(s, "anthropic", "claude-x", &m), TT_OK);
    cr_assert_float_eq(m.price->cache_write, 0.375, 1e-12);
    cr_assert_float_eq(m.price->cache_write_1h, 0.6, 1e-12);
    cr_assert_eq(tt_price_lookup(s, "openai", "text-embedding-3-small", &m), TT_OK);
    cr_assert_float_eq(m.price->output, 0, 0);
    cr_assert_float_eq(m.price->input, 0.02, 1e-12);
    /* the file replaces the built-in rows it names, no others */
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o-mini", &m), TT_OK);
    cr_assert_not(m.override);
    tt_price_set_free(s);

    /* a price that is not a number fails the whole file, naming the entry */
    cr_assert_eq(load("{\"gpt-4o\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
                      " \"input_cost_per_token\": \"2e-06\", \"output_cost_per_token\": 8e-06}}",
                      &s, err, sizeof(err)), TT_ERR_PARSE);
    cr_assert_null(s);
    cr_assert(strstr(err, "\"gpt-4o\""), "%s", err);
    cr_assert(strstr(err, "input_cost_per_token"), "%s", err);
    /* nothing priced per token: an error, not an empty override */
    cr_assert_eq(load("{\"dall-e-3\": {\"litellm_provider\": \"openai\",\n"
                      " \"mode\": \"image_generation\", \"output_cost_per_image\": 0.04}}",
                      &s, err, sizeof(err)), TT_ERR_PARSE);
    cr_assert(strstr(err, "without any per-token price"), "%s", err);

    /* An empty litellm_provider prices the model for any provider (as an
     * omitted "provider" does in our JSON); a key that is only a route, or
     * empty, names no model and is skipped (found by fuzz_pricefile). */
    cr_assert_eq(load("{\"x/m1\": {\"litellm_provider\": \"\", \"mode\": \"chat\",\n"
                      " \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06},\n"
                      " \"gemini/\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
                      " \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06},\n"
                      " \"\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
                      " \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 2e-06}}",
                      &s, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(s->n, 1);
    cr_assert_str_eq(s->rows[0].provider, "*");
    cr_assert_str_eq(s->rows[0].model, "x/m1");
    struct tt_price_match m2;
    cr_assert_eq(tt_price_lookup(s, "openai", "x/m1", &m2), TT_OK);
    cr_assert_float_eq(m2.price->output, 2, 1e-12);
    tt_price_set_free(s);
}

struct bad_case {
    const char *text;
    const char *want;   /* substring of the error */
};

static const struct bad_case bad_cases[] = {
    /* malformed JSON: jansson's line and column */
    { "{\"models\": [\n  {\"model\": \"x\", \"input\": 1,,\n]}\n", "line 2, column" },
    { "", "line 1" },
    { "{\"models\": [\n {\"model\": \"a\", \"model\": \"b\", \"input\": 1, \"output\": 1}]}",
      "line 2" },   /* duplicate key */
    /* semantic errors: the entry and its line */
    { "{\"models\": [\n {\"model\": \"ok\", \"input\": 1, \"output\": 1},\n\n"
      " {\"model\": \"neg\", \"input\": -1, \"output\": 1}\n]}",
      "line 4: entry 2 (model \"neg\"): \"input\" must be a number >= 0" },
    { "{\"models\": [\n {\"input\": 1, \"output\": 1}\n]}",
      "line 2: entry 1: \"model\" is missing" },
    { "{\"models\": [\n {\"model\": \"m\", \"input\": 1}\n]}",
      "line 2: entry 1 (model \"m\"): \"output\" is required" },
    { "{\"models\": [\n {\"model\": \"m\", \"input\": 1, \"output\": 2,\n"
      "  \"cache_reed\": 0.1}\n]}",
      "line 2: entry 1 (model \"m\"): unknown key \"cache_reed\"" },
    { "{\"models\": [\n {\"model\": \"m\", \"input\": \"1\", \"output\": 2}]}",
      "\"input\" must be a number" },
    { "{\"models\": [{\"model\": \"m\", \"input\": 1, \"output\": 2, \"tier_input\": 3}]}",
      "without a \"tier_threshold\"" },
    { "{\"models\": [{\"model\": \"m\", \"input\": 1, \"output\": 2, \"tier_threshold\": 5}]}",
      "without any tier_* price" },
    { "{\"models\": [{\"model\": \"m\", \"input\": 1, \"output\": 2, \"tier_threshold\": 1.5,"
      " \"tier_input\": 1}]}", "positive integer" },
    { "{\"models\": [\n 1,\n {\"model\": \"m\"}]}", "line 2: entry 1: not an object" },
    { "{\"models\": [{\"model\": \"m\", \"input\": 1, \"output\": 2},\n"
      " {\"model\": \"M\", \"input\": 1, \"output\": 3}]}",
      "line 2: entry 2 (model \"M\"): same provider and model as entry 1" },
    { "[1, 2]", "want an object" },
    { "{\"models\": [], \"extra\": 1}", "only the key \"models\"" },
    /* no rows at all: refused, as a TSV header alone is (fuzz_pricefile) */
    { "\r\r{\"models\":\n\n []}\n", "\"models\" is empty" },
    { "{\"models\": [{\"model\": \"\", \"input\": 1, \"output\": 2}]}", "\"model\" is missing" },
    /* a string containing brackets and quotes does not confuse the line finder */
    { "{\"models\": [\n {\"model\": \"a[{\\\"\", \"input\": 1, \"output\": 1},\n"
      " {\"model\": \"b\", \"input\": 1, \"output\": -2}]}",
      "line 3: entry 2 (model \"b\")" },
};

Test(price_file, malformed_files_are_rejected_with_the_line)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct tt_price_set *s = (struct tt_price_set *)1;
        char err[512];
        int rc = load(bad_cases[i].text, &s, err, sizeof(err));

        cr_expect_neq(rc, TT_OK, "case %zu loaded", i);
        cr_expect_null(s, "case %zu", i);
        cr_expect(strstr(err, bad_cases[i].want) != NULL, "case %zu: '%s' lacks '%s'",
                  i, err, bad_cases[i].want);
        cr_expect(strstr(err, "/tmp/tt-prices-") != NULL, "case %zu: no path in '%s'", i, err);
    }
}

Test(price_file, missing_file_is_an_io_error)
{
    struct tt_price_set *s;
    char err[256];

    cr_assert_eq(tt_price_set_load("/nonexistent/prices.json", &s, err, sizeof(err)),
                 TT_ERR_IO);
    cr_assert(strstr(err, "/nonexistent/prices.json: cannot open"), "%s", err);
    tt_price_set_free(NULL);
}

static void span_with(struct tt_span *s, const char *provider, const char *model,
                      long in, long out)
{
    tt_span_init(s);
    cr_assert_eq(tt_span_set(&s->provider, provider), TT_OK);
    cr_assert_eq(tt_span_set(&s->request_model, model), TT_OK);
    s->usage_known = true;
    s->input_tokens = in;
    s->output_tokens = out;
}

/* The process-wide overrides: TOKENTAP_PRICING read lazily, once; a bad
 * file is ignored (built-in prices apply) and never crashes. */
Test(price_file, span_cost_uses_the_override_then_builtin_on_bad_file)
{
    struct tt_span s;
    char *path = write_tmp("{\"models\": [{\"provider\": \"openai\", \"model\": "
                           "\"gpt-4o-mini\", \"input\": 1, \"output\": 2}]}");

    setenv("TOKENTAP_PRICING", path, 1);
    tt_price_overrides_reset();
    /* 1000*1 + 1000*2 = 3000 (built-in would be 750) */
    span_with(&s, "openai", "gpt-4o-mini", 1000, 1000);
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.003, 1e-12);
    tt_span_clear(&s);
    /* loaded once: changing the file does not change this process */
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs("{\"models\": [oops", f);
    fclose(f);
    span_with(&s, "openai", "gpt-4o-mini", 1000, 1000);
    tt_price_apply(&s);
    cr_assert_float_eq(s.cost_usd, 0.003, 1e-12);
    tt_span_clear(&s);
    /* a fresh process (reset) with the malformed file: built-in prices */
    tt_price_overrides_reset();
    cr_assert_null(tt_price_overrides());
    span_with(&s, "openai", "gpt-4o-mini", 1000, 1000);
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.00075, 1e-12);
    tt_span_clear(&s);
    unlink(path);
    unsetenv("TOKENTAP_PRICING");
    tt_price_overrides_reset();
}

/* Two LiteLLM keys naming one (provider, id) ("gemini/x" and "x" for
 * gemini): the key without a route prefix wins whatever the order, else
 * the first in the file; one row each. */
Test(price_file, litellm_duplicate_ids)
{
    static const struct {
        const char *text;
        double want_input;
        const char *want_key;
    } cases[] = {
        { "{\"gemini/x\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06},\n"
          " \"x\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 2e-06, \"output_cost_per_token\": 1e-06}}",
          2, "x" },
        { "{\"x\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 2e-06, \"output_cost_per_token\": 1e-06},\n"
          " \"gemini/x\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06}}",
          2, "x" },
        { "{\"gemini/x\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 3e-06, \"output_cost_per_token\": 1e-06},\n"
          " \"gemini/X\": {\"litellm_provider\": \"gemini\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 1e-06, \"output_cost_per_token\": 1e-06},\n"
          " \"y\": {\"litellm_provider\": \"openai\", \"mode\": \"chat\",\n"
          "  \"input_cost_per_token\": 5e-06, \"output_cost_per_token\": 1e-06}}",
          3, "gemini/x" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_price_set *s = NULL;
        struct tt_price_match m;
        char err[512];

        cr_assert_eq(load(cases[i].text, &s, err, sizeof(err)), TT_OK, "case %zu: %s", i, err);
        cr_expect_eq(s->n, i == 2 ? 2 : 1, "case %zu: %zu rows", i, s->n);
        cr_assert_eq(tt_price_lookup(s, "gcp.gemini", "x", &m), TT_OK, "case %zu", i);
        cr_expect(m.override);
        cr_expect_float_eq(m.price->input, cases[i].want_input, 1e-12, "case %zu", i);
        cr_expect_str_eq(m.price->litellm_key, cases[i].want_key, "case %zu", i);
        tt_price_set_free(s);
    }
}
