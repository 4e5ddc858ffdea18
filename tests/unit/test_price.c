/* test_price.c - price lookup, cost arithmetic and span pricing.
 *
 * Expected costs are computed by hand from data/prices.tsv (USD per 1M
 * tokens) and written out in the comments, so a changed price or a changed
 * formula fails here rather than on a user's bill. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "price.h"
#include "span.h"
#include "tt.h"

#define EPS 1e-12
#define NO -1.0

/* A hand-made row: the token prices given, every other price unset. */
#define ROW(prov, mod, in, out, cr, cw, cw1h, rs, thr, ti, to, tcr, tcw, src, dt)  \
    { .provider = (prov), .model = (mod), .input = (in), .output = (out),        \
      .cache_read = (cr), .cache_write = (cw), .cache_write_1h = (cw1h),         \
      .reasoning = (rs), .tier_threshold = (thr), .tier_input = (ti),            \
      .tier_output = (to), .tier_cache_read = (tcr), .tier_cache_write = (tcw),  \
      .audio_input = NO, .audio_output = NO, .image_input = NO,                  \
      .image_output = NO, .flex_input = NO, .flex_output = NO,                   \
      .flex_cache_read = NO, .priority_input = NO, .priority_output = NO,        \
      .priority_cache_read = NO, .batch_input = NO, .batch_output = NO,          \
      .source = (src), .date = (dt), .deprecated = "", .litellm_key = "",        \
      .flags = "" }

static const struct tt_price *must_find(const char *provider, const char *model)
{
    const struct tt_price *p = tt_price_find(provider, model);

    cr_assert_not_null(p, "no price for %s/%s", provider ? provider : "*", model);
    return p;
}

/* --- lookup ------------------------------------------------------------ */

struct find_case {
    const char *provider;
    const char *model;
    const char *want;      /* canonical row name, NULL = not found */
    double want_input;     /* input price of that row, checks the right row */
};

static const struct find_case find_cases[] = {
    /* exact */
    { "openai", "gpt-4o", "gpt-4o", 2.50 },
    { "openai", "gpt-4", "gpt-4", 30 },
    { "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", 3 },
    { "openai", "GPT-4o", "gpt-4o", 2.50 },
    /* a dated snapshot with its own (different) price uses its own row */
    { "openai", "gpt-4o-2024-05-13", "gpt-4o-2024-05-13", 5 },
    { "anthropic", "claude-sonnet-4-20250514", "claude-sonnet-4-20250514", 3 },
    /* dated snapshots the catalogue lists are their own rows */
    { "openai", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06", 2.50 },
    { "openai", "gpt-4o-mini-2024-07-18", "gpt-4o-mini-2024-07-18", 0.15 },
    { "openai", "gpt-5.4-mini-2026-03-17", "gpt-5.4-mini-2026-03-17", 0.75 },
    { "openai", "o3-mini-2025-01-31", "o3-mini-2025-01-31", 1.10 },
    { "anthropic", "claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929", 3 },
    { "anthropic", "claude-haiku-4-5-20251001", "claude-haiku-4-5-20251001", 1 },
    /* a Vertex @date on the Anthropic API: the dated row */
    { "anthropic", "claude-haiku-4-5@20251001", "claude-haiku-4-5-20251001", 1 },
    { "anthropic", "claude-opus-4-7-20260416", "claude-opus-4-7-20260416", 5 },
    /* a date the catalogue does not list: the undated row, since no dated
     * row of that model costs differently */
    { "anthropic", "claude-sonnet-4-6-20260301", "claude-sonnet-4-6", 3 },
    { "openai", "gpt-5.4-nano-2026-09-01", "gpt-5.4-nano", 0.20 },
    /* -latest is a name of its own, never stripped */
    { "openai", "gpt-5-chat-latest", "gpt-5-chat-latest", 1.25 },
    { "openai", "gpt-5.1-chat-latest", "gpt-5.1-chat-latest", 1.25 },
    /* vendor prefixes, alone and combined with a date */
    { "openai", "openai/gpt-4.1-mini", "gpt-4.1-mini", 0.40 },
    { "anthropic", "anthropic/claude-opus-4-1-20250805", "claude-opus-4-1-20250805", 15 },
    { NULL, "models/gpt-4o", "gpt-4o", 2.50 },
    /* no word suffix ever falls back to a shorter name (issue #12): these
     * once matched gpt-4o-mini, gpt-4o, gpt-4, gpt-4.1-nano, o3-mini by
     * longest prefix; the ones the catalogue lists are their own rows */
    { "openai", "gpt-4o-mini-xyz", NULL, 0 },
    { "openai", "gpt-4o-search-preview", "gpt-4o-search-preview", 2.50 },
    { "openai", "gpt-4-0613", "gpt-4-0613", 30 },
    { "openai", "gpt-4.1-nano-ft", NULL, 0 },
    { "openai", "o3-mini-high", NULL, 0 },
    { "openai", "o1-mini", "o1-mini", 1.10 },
    { "openai", "gpt-4-32k", "gpt-4-32k", 60 },
    /* ... and the prefixes that must not match */
    { "openai", "gpt-4x", NULL, 0 },              /* gpt-4 is not at a boundary */
    { "openai", "gpt-4o1", NULL, 0 },
    { "openai", "gpt-4.5-preview", "gpt-4.5-preview", 75 },  /* legacy, kept */
    { "openai", "gpt-5.7", NULL, 0 },
    { "anthropic", "claude-opus-4-9", NULL, 0 },
    { "anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 3 }, /* legacy */
    { "openai", "gpt-4o-", NULL, 0 },
    /* provider awareness and aliases */
    { "anthropic", "gpt-4o", NULL, 0 },
    { "openai", "claude-haiku-4-5", NULL, 0 },
    { NULL, "claude-haiku-4-5", "claude-haiku-4-5", 1 },
    { "azure.ai.openai", "gpt-4o-2024-11-20", "gpt-4o-2024-11-20", 2.75 },  /* azure's row */
    { "azure.ai.openai", "gpt-4o-search-preview", "gpt-4o-search-preview", 2.50 }, /* openai's */
    { "AZURE.AI.OPENAI", "gpt-4.1", "gpt-4.1", 2 },
    { "ollama", "llama3.2", NULL, 0 },
    /* Gemini: models/ prefix, Vertex rows of its own, -latest kept */
    { "gcp.gemini", "models/gemini-2.5-flash", "gemini-2.5-flash", 0.30 },
    { "gcp.vertex_ai", "gemini-2.5-pro", "gemini-2.5-pro", 1.25 },
    { "gcp.vertex_ai", "publishers/x/gemini-2.5-pro", NULL, 0 },
    { "gcp.gemini", "gemini-flash-latest", "gemini-flash-latest", 0.30 },
    /* the Gemini API's price, not Vertex's 0.15 (the old table's error) */
    { "gcp.gemini", "gemini-2.0-flash-001", "gemini-2.0-flash-001", 0.10 },
    { "gcp.vertex_ai", "gemini-2.0-flash-001", "gemini-2.0-flash-001", 0.15 },
    { "gcp.gemini", "gemini-2.0-flash-002", NULL, 0 },   /* -002 is not a date */
    /* Vertex Anthropic: @date rows, else Anthropic's dated row */
    { "gcp.vertex_ai", "claude-opus-4-1@20250805", "claude-opus-4-1@20250805", 15 },
    { "gcp.vertex_ai", "claude-haiku-4-5@20251001", "claude-haiku-4-5@20251001", 1 },
    { "gcp.vertex_ai", "claude-opus-4-7@20260416", "claude-opus-4-7-20260416", 5 },
    /* Bedrock: version suffix, global., geo profiles, anthropic fallback */
    { "aws.bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0",
      "us.anthropic.claude-3-5-haiku-20241022-v1:0", 0.80 },
    { "aws.bedrock", "anthropic.claude-opus-4-7", "anthropic.claude-opus-4-7", 5 },
    { "aws.bedrock", "global.anthropic.claude-opus-4-7", "global.anthropic.claude-opus-4-7", 5 },
    { "aws.bedrock", "us.anthropic.claude-opus-4-7", "us.anthropic.claude-opus-4-7", 5.5 },
    { "aws.bedrock", "eu.anthropic.claude-opus-4-6-v1", "eu.anthropic.claude-opus-4-6-v1", 5.5 },
    { "aws.bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0",
      "anthropic.claude-sonnet-4-5-20250929-v1:0", 3 },
    { "aws.bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0",
      "anthropic.claude-haiku-4-5-20251001-v1:0", 1 },
    { "aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "global.anthropic.claude-sonnet-4-5-20250929-v1:0", 3 },
    /* a profile without a row, of a model whose profiles cost more: none */
    { "aws.bedrock", "apac.anthropic.claude-sonnet-4-5-20250929-v1:0", NULL, 0 },
    { "aws.bedrock", "us.anthropic.claude-sonnet-4-5-20250929-v1:0",
      "us.anthropic.claude-sonnet-4-5-20250929-v1:0", 3.3 },
    { "aws.bedrock", "anthropic.claude-3-5-haiku-20241022-v1:0",
      "anthropic.claude-3-5-haiku-20241022-v1:0", 0.8 },
    /* a dated Bedrock id without a version: Anthropic's dated row */
    { "aws.bedrock", "anthropic.claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", 3 },
    { "anthropic", "anthropic.claude-sonnet-4-5", NULL, 0 },  /* fallback is Bedrock's */
    /* providers whose ids keep a vendor path, and -YYMM snapshots */
    { "groq", "openai/gpt-oss-120b", "openai/gpt-oss-120b", 0.15 },
    { "groq", "llama-3.3-70b-versatile", "llama-3.3-70b-versatile", 0.59 },
    { "mistral_ai", "mistral-large-2411", "mistral-large-2411", 2 },
    { "mistral_ai", "mistral-large-latest", "mistral-large-latest", 0.50 },
    { "mistral_ai", "mistral-large-2512", "mistral-large-2512", 0.5 },
    { "mistral_ai", "mistral-large-2612", NULL, 0 },   /* not guessed from 2512 */
    { "deepseek", "deepseek-chat", "deepseek-chat", 0.28 },
    { "deepseek", "deepseek-v3.1", NULL, 0 },          /* a version, not v3 */
    /* xAI: exact, -latest, a dated snapshot with its own (tiered) row, and
     * version numbers that must not fall back to grok-4 */
    { "x_ai", "grok-4", "grok-4", 3 },
    { "x_ai", "grok-4-0709", "grok-4-0709", 3 },
    { "x_ai", "grok-4.3-latest", "grok-4.3-latest", 1.25 },
    { "x_ai", "grok-3-mini-fast", "grok-3-mini-fast", 0.6 },
    { "x_ai", "grok-code-fast-1-0825", "grok-code-fast-1-0825", 0.2 },
    { "x_ai", "grok-4.20-0309-non-reasoning", NULL, 0 },
    { "x_ai", "grok-4-2-fast", NULL, 0 },
    /* Perplexity */
    { "perplexity", "sonar-pro", "sonar-pro", 3 },
    { "perplexity", "sonar-reasoning-pro", "sonar-reasoning-pro", 2 },
    /* Cohere: -MM-YYYY snapshots have their own rows */
    { "cohere", "command-r-plus-08-2024", "command-r-plus-08-2024", 2.5 },
    { "cohere", "command-r", "command-r", 0.15 },
    { "cohere", "command-r7b", NULL, 0 },
    /* Together / Fireworks: ids with slashes match their own rows exactly,
     * openai/ included (tried before the vendor prefix is stripped) */
    { "together_ai", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
      "meta-llama/Llama-3.3-70B-Instruct-Turbo", 0.88 },
    { "together_ai", "openai/gpt-oss-20b", "openai/gpt-oss-20b", 0.05 },
    { "together_ai", "gpt-oss-20b", NULL, 0 },
    { "fireworks_ai", "accounts/fireworks/models/llama-v3p1-70b-instruct",
      "accounts/fireworks/models/llama-v3p1-70b-instruct", 0.9 },
    /* Bedrock Nova / Llama / Mistral: version kept, global. stripped, geo
     * profiles only with their own row */
    { "aws.bedrock", "amazon.nova-pro-v1:0", "amazon.nova-pro-v1:0", 0.8 },
    { "aws.bedrock", "us.amazon.nova-pro-v1:0", "us.amazon.nova-pro-v1:0", 0.8 },
    { "aws.bedrock", "global.amazon.nova-2-lite-v1:0", "global.amazon.nova-2-lite-v1:0", 0.3 },
    /* a profile without a row, of a model no profile of which is priced
     * apart: the base model */
    { "aws.bedrock", "eu.meta.llama3-3-70b-instruct-v1:0", "meta.llama3-3-70b-instruct-v1:0", 0.72 },
    { "aws.bedrock", "eu.amazon.nova-2-lite-v1:0", "eu.amazon.nova-2-lite-v1:0", 0.33 },
    { "aws.bedrock", "eu.amazon.nova-pro-v1:0", "eu.amazon.nova-pro-v1:0", 1.05 },
    { "aws.bedrock", "jp.amazon.nova-2-lite-v1:0", NULL, 0 },  /* eu./us. cost more */
    { "aws.bedrock", "us.meta.llama3-3-70b-instruct-v1:0", "us.meta.llama3-3-70b-instruct-v1:0", 0.72 },
    { "aws.bedrock", "mistral.mistral-large-2407-v1:0", "mistral.mistral-large-2407-v1:0", 3 },
    /* nothing to match */
    { "openai", "", NULL, 0 },
    { "openai", "totally-unknown-model", NULL, 0 },
    { "openai", "openai/", NULL, 0 },
};

Test(price_find, table_cases)
{
    for (size_t i = 0; i < sizeof(find_cases) / sizeof(find_cases[0]); i++) {
        const struct find_case *c = &find_cases[i];
        const struct tt_price *p = tt_price_find(c->provider, c->model);

        if (!c->want) {
            cr_expect_null(p, "case %zu: %s/%s matched %s, want none", i,
                           c->provider ? c->provider : "*", c->model,
                           p ? p->model : "");
            continue;
        }
        cr_expect_not_null(p, "case %zu: %s/%s not found, want %s", i,
                           c->provider ? c->provider : "*", c->model, c->want);
        if (!p)
            continue;
        cr_expect_str_eq(p->model, c->want, "case %zu: %s", i, c->model);
        cr_expect_float_eq(p->input, c->want_input, EPS, "case %zu: %s", i, c->model);
    }
}

Test(price_find, null_and_overlong_names)
{
    char big[400];

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    memcpy(big, "gpt-4o-", 7);
    cr_assert_null(tt_price_find("openai", NULL));
    cr_assert_null(tt_price_find("openai", big));
}

/* --- cost arithmetic --------------------------------------------------- */

struct cost_case {
    const char *provider, *model;
    long input, output, cache_read, cache_write, cache_write_1h, reasoning;
    double want;
};

static const struct cost_case cost_cases[] = {
    /* gpt-4o 2.50/10, cached 1.25: 6000*2.50 + 4000*1.25 + 500*10 = 25000 */
    { "openai", "gpt-4o", 10000, 500, 4000, 0, 0, 0, 0.025 },
    /* gpt-4o-2024-05-13 5/15, no cache price: cached billed as input.
     * 1000*5 + 100*15 = 6500 */
    { "openai", "gpt-4o-2024-05-13", 1000, 100, 400, 0, 0, 0, 0.0065 },
    /* claude-sonnet-4-5 3/15, read 0.30, write 5m 3.75, 1h 6:
     * 1000*3 + 2000*0.30 + 2000*3.75 + 1000*6 + 400*15 = 23100 */
    { "anthropic", "claude-sonnet-4-5", 6000, 400, 2000, 3000, 1000, 0, 0.0231 },
    /* claude-haiku-4-5 1/5, write 5m 1.25, 1h 2: 5m only vs 1h only */
    { "anthropic", "claude-haiku-4-5", 10000, 0, 0, 10000, 0, 0, 0.0125 },
    { "anthropic", "claude-haiku-4-5", 10000, 0, 0, 10000, 10000, 0, 0.02 },
    /* claude-3-haiku has no 1h price: 1h writes fall back to 5m 0.30 */
    { "anthropic", "claude-3-haiku-20240307", 1000, 0, 0, 1000, 1000, 0, 0.0003 },
    /* o3 2/8, no reasoning price: reasoning billed as output.
     * 1000*2 + 2000*8 = 18000 */
    { "openai", "o3", 1000, 2000, 0, 0, 0, 1500, 0.018 },
    /* cache counts larger than input: uncached floors at 0.
     * gpt-4o: 80*1.25 + 50*2.50 (no write price -> input) = 225 */
    { "openai", "gpt-4o", 100, 0, 80, 50, 0, 0, 0.000225 },
    /* negative counts count as 0; 1h above total writes is clamped */
    { "openai", "gpt-4o", -5, -5, -5, -5, -5, -5, 0 },
    { "anthropic", "claude-haiku-4-5", 100, 0, 0, 100, 500, 0, 0.0002 },
    /* embeddings: input only. 1M * 0.02 */
    { "openai", "text-embedding-3-small", 1000000, 0, 0, 0, 0, 0, 0.02 },
    /* gpt-5.4 long context: tier applies strictly above 272000 input.
     * at 272000: 272000*2.50 = 680000 */
    { "openai", "gpt-5.4", 272000, 0, 0, 0, 0, 0, 0.68 },
    /* at 272001: 272001*5 = 1360005 */
    { "openai", "gpt-5.4", 272001, 0, 0, 0, 0, 0, 1.360005 },
    /* 300000 in (100000 cached), 1000 out, tier 5/22.50, cached 0.50:
     * 200000*5 + 100000*0.50 + 1000*22.50 = 1072500 */
    { "openai", "gpt-5.4", 300000, 1000, 100000, 0, 0, 0, 1.0725 },
    /* below the tier: 100000*2.50 + 100000*0.25 + 1000*15 = 290000 */
    { "openai", "gpt-5.4", 200000, 1000, 100000, 0, 0, 0, 0.29 },
    /* claude-sonnet-4-5 above 200k: 6/22.50, read 0.60, write 7.50,
     * 1h write 6*7.50/3.75 = 12 (the source's 12.00):
     * 150000*6 + 50000*0.60 + 30000*7.50 + 20000*12 + 2000*22.50 = 1440000 */
    { "anthropic", "claude-sonnet-4-5", 250000, 2000, 50000, 50000, 20000, 0, 1.44 },
    /* gpt-5.6 lists a cache-write price and its tier: above 272k
     * 200000*10 + 50000*1 + 50000*12.50 + 1000*45 = 2720000 */
    { "openai", "gpt-5.6", 300000, 1000, 50000, 50000, 0, 0, 2.72 },
};

Test(price_cost, table_cases)
{
    for (size_t i = 0; i < sizeof(cost_cases) / sizeof(cost_cases[0]); i++) {
        const struct cost_case *c = &cost_cases[i];
        const struct tt_price *p = must_find(c->provider, c->model);
        double got = tt_price_cost(p, c->input, c->output, c->cache_read,
                                   c->cache_write, c->cache_write_1h, c->reasoning);

        cr_expect_float_eq(got, c->want, 1e-9, "case %zu (%s): got %.9f want %.9f",
                           i, c->model, got, c->want);
    }
}

/* Provider semantics, as the span contract normalises them: input includes
 * cache reads and writes, output includes reasoning. */
static const struct cost_case family_cases[] = {
    /* Gemini 2.5 Flash: cachedContentTokenCount 4000 of promptTokenCount
     * 10000; thoughts 3000 + candidates 1000 = output 4000 at 2.50:
     * 6000*0.30 + 4000*0.03 + 4000*2.50 = 11920 */
    { "gcp.gemini", "gemini-2.5-flash", 10000, 4000, 4000, 0, 0, 3000, 0.01192 },
    /* Gemini 2.5 Pro above 200k: every token at the tier (2.50/15, cached
     * 0.25): 200000*2.50 + 50000*0.25 + 1000*15 = 527500 */
    { "gcp.gemini", "gemini-2.5-pro", 250000, 1000, 50000, 0, 0, 0, 0.5275 },
    /* at exactly 200000: base 200000*1.25 = 250000 */
    { "gcp.gemini", "gemini-2.5-pro", 200000, 0, 0, 0, 0, 0, 0.25 },
    /* DeepSeek: prompt_cache_hit_tokens 6000 of 10000 at 0.028, misses at
     * 0.28, reasoning (reasoner) as output 0.42:
     * 4000*0.28 + 6000*0.028 + 2000*0.42 = 2128 */
    { "deepseek", "deepseek-reasoner", 10000, 2000, 6000, 0, 0, 1500, 0.002128 },
    /* Groq gpt-oss-120b: cached 0.075: 1000*0.15 + 1000*0.075 + 1000*0.60 = 825 */
    { "groq", "openai/gpt-oss-120b", 2000, 1000, 1000, 0, 0, 500, 0.000825 },
    /* Bedrock us. profile, 5m and 1h writes apart (5.50/27.50, read 0.55,
     * write 6.875, 1h 11): 1000*5.5 + 1000*0.55 + 1000*6.875 + 1000*11
     * + 100*27.5 = 26675 */
    { "aws.bedrock", "us.anthropic.claude-opus-4-7", 4000, 100, 1000, 2000, 1000, 0, 0.026675 },
    /* Bedrock Anthropic through the anthropic row (haiku-4-5 1/5, 1h 2) */
    { "aws.bedrock", "anthropic.claude-haiku-4-5-20251001-v1:0", 1000, 0, 0, 1000, 1000, 0, 0.002 },
    /* Mistral: no cache price: cached at input. 1000*0.50 + 1000*1.50 = 2000 */
    { "mistral_ai", "mistral-large-latest", 1000, 1000, 500, 0, 0, 0, 0.002 },
};

Test(price_cost, provider_families)
{
    for (size_t i = 0; i < sizeof(family_cases) / sizeof(family_cases[0]); i++) {
        const struct cost_case *c = &family_cases[i];
        const struct tt_price *p = must_find(c->provider, c->model);
        double got = tt_price_cost(p, c->input, c->output, c->cache_read,
                                   c->cache_write, c->cache_write_1h, c->reasoning);

        cr_expect_float_eq(got, c->want, 1e-9, "case %zu (%s): got %.9f want %.9f",
                           i, c->model, got, c->want);
    }
}

/* The explanation names each step that led to the row, and why none. */
Test(price_lookup, explains_steps_and_misses)
{
    struct tt_price_match m;

    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock",
                                 "apac.anthropic.claude-3-5-sonnet-20241022", &m), TT_OK);
    cr_assert_not(m.override);
    cr_assert_str_eq(m.price->provider, "anthropic");
    cr_assert_str_eq(m.price->model, "claude-3-5-sonnet-20241022");
    cr_assert_eq(m.profile, TT_PRICE_PROFILE_BASE);
    cr_assert(strstr(m.steps, "inference profile without its own row"), "%s", m.steps);
    cr_assert(strstr(m.steps, "without the date/snapshot suffix"), "%s", m.steps);
    cr_assert(strstr(m.steps, "Bedrock Anthropic model"), "%s", m.steps);
    cr_assert(strstr(m.steps, "deprecated"), "%s", m.steps);

    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock",
                                 "anthropic.claude-3-7-sonnet-20250219-v1:0", &m), TT_OK);
    cr_assert_eq(m.profile, TT_PRICE_PROFILE_NONE);
    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock", "models/anthropic.claude-opus-4-7-v1:0",
                                 &m), TT_OK);
    cr_assert(strstr(m.steps, "without the prefix 'models/'"), "%s", m.steps);
    cr_assert(strstr(m.steps, "without the Bedrock version suffix"), "%s", m.steps);

    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock", "jp.amazon.nova-2-lite-v1:0", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_REGIONAL);
    cr_assert_null(m.price);

    cr_assert_eq(tt_price_lookup(NULL, "openai", "gpt-4o-2024-10-10", &m), TT_ERR);
    cr_assert(strstr(m.steps, "priced one by one"), "%s", m.steps);

    cr_assert_eq(tt_price_lookup(NULL, "openai", "nope", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_UNKNOWN);
    cr_assert_eq(tt_price_lookup(NULL, "openai", "", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_NO_MODEL);
}

/* Two rows of one provider equally good at different prices: no price. */
Test(price_lookup, ambiguity_gives_no_price)
{
    struct tt_price rows[2] = {
        ROW("*", "acme-1", 1, 2, NO, NO, NO, NO, 0, NO, NO, NO, NO, "f", ""),
        ROW("*", "ACME-1", 3, 4, NO, NO, NO, NO, 0, NO, NO, NO, NO, "f", ""),
    };
    struct tt_price_set set = { .rows = rows, .n = 2, .path = (char *)"test.json" };
    struct tt_price_match m;

    cr_assert_eq(tt_price_lookup(&set, "openai", "acme-1", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_AMBIGUOUS);
    /* an ambiguous user row never falls back to a built-in price */
    rows[0].model = "gpt-4o";
    rows[1].model = "gpt-4o";
    cr_assert_eq(tt_price_lookup(&set, "openai", "gpt-4o", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_AMBIGUOUS);
    /* same prices: not ambiguous */
    rows[1].input = 1;
    rows[1].output = 2;
    cr_assert_eq(tt_price_lookup(&set, "openai", "gpt-4o", &m), TT_OK);
    cr_assert(m.override);
    /* no prefix matching at all, in a price file either (issue #12) */
    rows[0].model = "acme-a";
    rows[1].model = "acme-b";
    rows[1].input = 9;
    cr_assert_eq(tt_price_lookup(&set, "openai", "acme-a-mini", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_UNKNOWN);
    cr_assert_eq(tt_price_lookup(&set, "openai", "acme-a", &m), TT_OK);
    cr_assert_str_eq(m.price->model, "acme-a");
}

Test(price_cost, reasoning_price_when_given)
{
    /* A row with its own reasoning price (Gemini-style): 1/10, reasoning 20.
     * 1000*1 + 700*10 + 300*20 = 14000 */
    const struct tt_price p =
        ROW("test", "r", 1, 10, NO, NO, NO, 20, 0, NO, NO, NO, NO, "test", "2026-11-21");

    cr_assert_float_eq(tt_price_cost(&p, 1000, 1000, 0, 0, 0, 300), 0.014, 1e-12);
    /* more reasoning than output is clamped to output: 1000*20 = 20000 */
    cr_assert_float_eq(tt_price_cost(&p, 0, 1000, 0, 0, 0, 5000), 0.02, 1e-12);
}

Test(price_cost, fallbacks_on_unset_columns)
{
    /* 2/8, no cache prices at all: reads and writes (5m and 1h) at input.
     * 100*2 (uncached) + 200*2 (read) + 300*2 (write) + 10*8 = 1280 */
    const struct tt_price p =
        ROW("test", "f", 2, 8, NO, NO, NO, NO, 0, NO, NO, NO, NO, "test", "2026-11-21");
    /* tier with only an input price: output keeps the base price.
     * above 100: 200*4 + 10*8 = 880 */
    const struct tt_price t =
        ROW("test", "t", 2, 8, NO, NO, NO, NO, 100, 4, NO, NO, NO, "test", "2026-11-21");

    cr_assert_float_eq(tt_price_cost(&p, 600, 10, 200, 300, 100, 0), 0.00128, 1e-12);
    cr_assert_float_eq(tt_price_cost(&t, 200, 10, 0, 0, 0, 0), 0.00088, 1e-12);
    cr_assert_float_eq(tt_price_cost(NULL, 1000, 1000, 0, 0, 0, 0), 0.0, 0.0);
}

/* --- spans --------------------------------------------------------------- */

static void span_setup(struct tt_span *s, const char *provider, const char *req,
                       const char *resp)
{
    tt_span_init(s);
    cr_assert_eq(tt_span_set(&s->provider, provider), TT_OK);
    cr_assert_eq(tt_span_set(&s->request_model, req), TT_OK);
    cr_assert_eq(tt_span_set(&s->response_model, resp), TT_OK);
    s->usage_known = true;
}

Test(price_apply, response_model_preferred)
{
    struct tt_span s;

    /* request gpt-4o, answered by gpt-4o-mini: 1000*0.15 + 1000*0.60 = 750
     * (gpt-4o would have been 12500) */
    span_setup(&s, "openai", "gpt-4o", "gpt-4o-mini");
    s.input_tokens = 1000;
    s.output_tokens = 1000;
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.00075, 1e-12);
    tt_span_clear(&s);
}

Test(price_apply, request_model_when_response_unknown)
{
    struct tt_span s;

    /* Azure: the response names a deployment we cannot price, the request a
     * model we can. gpt-4o: 1000*2.50 + 1000*10 = 12500 */
    span_setup(&s, "azure.ai.openai", "gpt-4o", "my-deployment");
    s.input_tokens = 1000;
    s.output_tokens = 1000;
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.0125, 1e-12);
    tt_span_clear(&s);
}

Test(price_apply, anthropic_span_with_cache_and_1h_writes)
{
    struct tt_span s;

    /* span contract: input includes reads and writes. claude-opus-4-5
     * 5/25, read 0.50, write 6.25, 1h 10:
     * 500*5 + 1000*0.50 + 1500*6.25 + 500*10 + 200*25 = 22375 */
    span_setup(&s, "anthropic", "claude-opus-4-5", "claude-opus-4-5-20251101");
    s.input_tokens = 3500;
    s.cache_read_tokens = 1000;
    s.cache_write_tokens = 2000;
    s.cache_write_1h_tokens = 500;
    s.output_tokens = 200;
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.022375, 1e-12);
    tt_span_clear(&s);
}

Test(price_apply, openai_span_with_reasoning)
{
    struct tt_span s;

    /* o4-mini 1.10/4.40, cached 0.275; reasoning at output:
     * 3000*1.10 + 1000*0.275 + 5000*4.40 = 25575 */
    span_setup(&s, "openai", "o4-mini", "o4-mini-2025-04-16");
    s.input_tokens = 4000;
    s.cache_read_tokens = 1000;
    s.output_tokens = 5000;
    s.reasoning_tokens = 4000;
    tt_price_apply(&s);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.025575, 1e-12);
    tt_span_clear(&s);
}

Test(price_apply, no_usage_means_unknown_cost)
{
    struct tt_span s;

    span_setup(&s, "openai", "gpt-4o", "gpt-4o");
    s.usage_known = false;
    s.cost_usd = 3.0;
    s.cost_known = true;
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.0, 0.0);
    tt_span_clear(&s);
}

Test(price_apply, unknown_model_warns_once, .init = cr_redirect_stderr)
{
    struct tt_span s;

    unsetenv("TOKENTAP_LOG");
    span_setup(&s, "openai", "no-such-model", NULL);
    s.input_tokens = 10;
    s.output_tokens = 10;
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.0, 0.0);
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    tt_span_clear(&s);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "tokentap: no price for model 'no-such-model' (provider openai); cost unknown\n");
}

Test(price_apply, warning_silenced_by_log_off, .init = cr_redirect_stderr)
{
    struct tt_span s;

    setenv("TOKENTAP_LOG", "off", 1);
    span_setup(&s, "anthropic", "claude-nonexistent", "claude-nonexistent");
    s.input_tokens = 10;
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    tt_span_clear(&s);
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(price_apply, warning_names_are_sanitised, .init = cr_redirect_stderr)
{
    struct tt_span s;

    unsetenv("TOKENTAP_LOG");
    span_setup(&s, NULL, NULL, "evil\nmodel");
    tt_price_apply(&s);
    tt_span_clear(&s);
    fflush(stderr);
    cr_assert_stderr_eq_str(
        "tokentap: no price for model 'evil?model' (provider unknown); cost unknown\n");
}

Test(price_apply, warned_set_is_bounded, .init = cr_redirect_stderr)
{
    struct tt_span s;
    char name[32], line[256];
    int lines = 0, suppressed = 0;

    unsetenv("TOKENTAP_LOG");
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            snprintf(name, sizeof(name), "unknown-%d", i);
            span_setup(&s, "openai", name, NULL);
            tt_price_apply(&s);
            cr_assert_not(s.cost_known);
            tt_span_clear(&s);
        }
    }
    fflush(stderr);
    FILE *f = cr_get_redirected_stderr();
    while (fgets(line, sizeof(line), f)) {
        if (strstr(line, "no further warnings"))
            suppressed++;
        else
            lines++;
    }
    /* 64 distinct names warned once each, then one line saying we stopped */
    cr_assert_eq(lines, 64);
    cr_assert_eq(suppressed, 1);
}

/* Local servers (Ollama, and "local": self-hosted OpenAI-compatible servers
 * reached over plain HTTP) have no bill: a model without a price row is
 * free and known to be, without a warning. A model that does have a row,
 * under any provider (a LiteLLM proxy forwarding to OpenAI), is priced. */
struct local_case {
    const char *provider, *req, *resp;
    bool usage_known;
    long in, out;
    bool want_known;
    double want;
};

static const struct local_case local_cases[] = {
    { "ollama", "llama3.2", "llama3.2", true, 5000, 5000, true, 0 },
    { "ollama", "qwen3:8b", NULL, true, 26, 282, true, 0 },
    { "local", "Qwen/Qwen2.5-7B-Instruct", NULL, true, 1000, 1000, true, 0 },
    { "LOCAL", "mistral-7b-instruct", "mistral-7b-instruct", true, 10, 10, true, 0 },
    /* gpt-4o through a local proxy: 1000*2.50 + 1000*10 = 12500 */
    { "local", "gpt-4o", "gpt-4o-2024-08-06", true, 1000, 1000, true, 0.0125 },
    /* the response model wins: gpt-4o-mini 1000*0.15 + 1000*0.60 = 750 */
    { "ollama", "my-alias", "gpt-4o-mini", true, 1000, 1000, true, 0.00075 },
    /* another vendor's row, behind a prefix: claude-haiku-4-5 1/5:
     * 1000*1 + 1000*5 = 6000 */
    { "local", "anthropic/claude-haiku-4-5", NULL, true, 1000, 1000, true, 0.006 },
    /* no usage: the cost is unknown, local or not */
    { "ollama", "llama3.2", "llama3.2", false, 0, 0, false, 0 },
    { "local", "gpt-4o", NULL, false, 0, 0, false, 0 },
};

Test(price_apply, local_models_are_free, .init = cr_redirect_stderr)
{
    unsetenv("TOKENTAP_LOG");
    for (size_t i = 0; i < sizeof(local_cases) / sizeof(local_cases[0]); i++) {
        const struct local_case *c = &local_cases[i];
        struct tt_span s;

        span_setup(&s, c->provider, c->req, c->resp);
        s.usage_known = c->usage_known;
        s.input_tokens = c->in;
        s.output_tokens = c->out;
        s.cost_usd = 1.0;
        tt_price_apply(&s);
        cr_expect_eq(s.cost_known, c->want_known, "case %zu (%s/%s): cost_known",
                     i, c->provider, c->req);
        cr_expect_float_eq(s.cost_usd, c->want, 1e-12, "case %zu (%s/%s): %.9f",
                           i, c->provider, c->req, s.cost_usd);
        tt_span_clear(&s);
    }
    fflush(stderr);
    cr_assert_stderr_eq_str("");
}

Test(price_apply, local_rule_is_only_for_local_providers, .init = cr_redirect_stderr)
{
    struct tt_span s;

    /* An OpenAI span for a model OpenAI does not sell is unknown, not free,
     * and a cloud provider never borrows another provider's row. */
    unsetenv("TOKENTAP_LOG");
    span_setup(&s, "openai", "llama3.2", NULL);
    s.input_tokens = 10;
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    tt_span_clear(&s);
    span_setup(&s, "anthropic", "gpt-4o", NULL);
    s.input_tokens = 10;
    tt_price_apply(&s);
    cr_assert_not(s.cost_known);
    tt_span_clear(&s);
}

/* --- the table itself ------------------------------------------------------ */

Test(price_table, rows_are_sane)
{
    cr_assert_gt(tt_price_builtin_len(), 2000);
    for (size_t i = 0; i < tt_price_builtin_len(); i++) {
        struct tt_price row, *p = &row;

        tt_price_builtin_row(i, &row);
        cr_expect(p->provider && p->provider[0], "row %zu: provider", i);
        cr_expect(p->model && p->model[0], "row %zu: model", i);
        cr_expect_geq(p->input, 0, "%s: input price", p->model);
        cr_expect_geq(p->output, 0, "%s: output price", p->model);
        if (p->tier_threshold > 0)
            cr_expect(p->tier_input >= 0 || p->tier_output >= 0,
                      "%s: tier without prices", p->model);
        cr_expect(p->source && strchr(p->source, '@'), "%s: source REPO@COMMIT", p->model);
        cr_expect(p->date && strlen(p->date) == 10, "%s: date", p->model);
        cr_expect(p->deprecated && (!p->deprecated[0] || strlen(p->deprecated) == 10),
                  "%s: deprecated", p->model);
        cr_expect(p->litellm_key && p->litellm_key[0], "%s: catalogue key", p->model);
    }
}

Test(price_table, no_duplicate_provider_model_and_sorted)
{
    struct tt_price a, b;

    /* sorted by (lower-cased model, provider), the lookup's binary search */
    for (size_t i = 1; i < tt_price_builtin_len(); i++) {
        tt_price_builtin_row(i - 1, &a);
        tt_price_builtin_row(i, &b);
        int c = strcasecmp(a.model, b.model);
        cr_expect(c < 0 || (c == 0 && strcmp(a.provider, b.provider) < 0),
                  "rows %zu, %zu out of order or duplicate: %s/%s, %s/%s", i - 1, i,
                  a.provider, a.model, b.provider, b.model);
    }
}

Test(price_table, every_row_finds_itself)
{
    /* A row that another row's normalisation would shadow could never be
     * used; each name must map back to its own row. */
    for (size_t i = 0; i < tt_price_builtin_len(); i++) {
        struct tt_price row;
        struct tt_price_match m;

        tt_price_builtin_row(i, &row);
        cr_expect_eq(tt_price_lookup(NULL, row.provider, row.model, &m), TT_OK, "%s/%s",
                     row.provider, row.model);
        if (m.price)
            cr_expect(strcmp(m.price->provider, row.provider) == 0 &&
                          strcmp(m.price->model, row.model) == 0,
                      "%s/%s found %s/%s", row.provider, row.model, m.price->provider,
                      m.price->model);
    }
}

Test(price_table, covers_the_issue_models)
{
    static const char *const want[][2] = {
        { "openai", "gpt-5" }, { "openai", "gpt-5-mini" }, { "openai", "gpt-5-nano" },
        { "openai", "gpt-5-pro" }, { "openai", "gpt-5-codex" }, { "openai", "gpt-5.4" },
        { "openai", "gpt-4.1" }, { "openai", "gpt-4.1-mini" }, { "openai", "gpt-4.1-nano" },
        { "openai", "gpt-4o" }, { "openai", "gpt-4o-mini" }, { "openai", "o1" },
        { "openai", "o3" }, { "openai", "o3-mini" }, { "openai", "o4-mini" },
        { "openai", "gpt-4-turbo" }, { "openai", "gpt-4" }, { "openai", "gpt-3.5-turbo" },
        { "openai", "text-embedding-3-small" }, { "openai", "text-embedding-3-large" },
        { "openai", "text-embedding-ada-002" },
        { "anthropic", "claude-opus-4-5" }, { "anthropic", "claude-opus-4-6" },
        { "anthropic", "claude-opus-4-7" }, { "anthropic", "claude-opus-4-8" },
        { "anthropic", "claude-sonnet-4-5" }, { "anthropic", "claude-sonnet-4-6" },
        { "anthropic", "claude-sonnet-5" }, { "anthropic", "claude-haiku-4-5" },
        { "anthropic", "claude-fable-5" }, { "anthropic", "claude-3-haiku-20240307" },
    };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const struct tt_price *p = tt_price_find(want[i][0], want[i][1]);

        cr_expect(p && strcmp(p->model, want[i][1]) == 0, "%s/%s missing",
                  want[i][0], want[i][1]);
    }
}
