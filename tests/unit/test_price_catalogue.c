/* test_price_catalogue.c - the built-in catalogue against the ids real
 * programs send (issue #12).
 *
 * catalogue_cases.h (tests/unit/gen_catalogue_cases.py) lists every
 * catalogue row of the providers tokentap detects as the id a program
 * sends, plus prefixed, dated, Bedrock, Vertex and inference-profile
 * variants, each with the catalogue entry it must resolve to and that
 * entry's prices; and adversarial ids (a word suffix, an unknown snapshot)
 * that must stay unknown rather than borrow a neighbour's price. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "price.h"
#include "span.h"

struct cat_case {
    const char *provider, *id;             /* what the span carries */
    const char *want_provider, *want_model; /* the entry it must resolve to */
    double input, output, cache_read;      /* that entry's prices (<0 unset) */
};

struct cat_miss {
    const char *provider, *id;
};

#include "catalogue_cases.h"

#define NCASES (sizeof(cat_cases) / sizeof(cat_cases[0]))
#define NMISSES (sizeof(cat_misses) / sizeof(cat_misses[0]))

Test(price_catalogue, enough_real_ids)
{
    cr_assert_geq(NCASES, 300, "only %zu ids", NCASES);
    cr_assert_geq(NMISSES, 30, "only %zu adversarial ids", NMISSES);
}

Test(price_catalogue, every_id_resolves_to_its_entry)
{
    size_t bad = 0;

    for (size_t i = 0; i < NCASES; i++) {
        const struct cat_case *c = &cat_cases[i];
        struct tt_price_match m;
        int rc = tt_price_lookup(NULL, c->provider, c->id, &m);

        cr_expect_eq(rc, TT_OK, "%s/%s: no price (%d)\n%s", c->provider ? c->provider : "*",
                     c->id, m.miss, m.steps);
        if (rc != TT_OK) {
            bad++;
            continue;
        }
        const struct tt_price *p = m.price;
        bool ok = strcmp(p->provider, c->want_provider) == 0 &&
                  strcmp(p->model, c->want_model) == 0 && p->input == c->input &&
                  p->output == c->output && p->cache_read == c->cache_read;
        cr_expect(ok, "%s/%s: resolved to %s/%s (%g/%g/%g), want %s/%s (%g/%g/%g)\n%s",
                  c->provider ? c->provider : "*", c->id, p->provider, p->model,
                  p->input, p->output, p->cache_read, c->want_provider, c->want_model,
                  c->input, c->output, c->cache_read, m.steps);
        bad += !ok;
    }
    cr_assert_eq(bad, 0, "%zu of %zu ids wrong", bad, NCASES);
}

Test(price_catalogue, adversarial_ids_stay_unknown)
{
    for (size_t i = 0; i < NMISSES; i++) {
        const struct cat_miss *c = &cat_misses[i];
        struct tt_price_match m;
        int rc = tt_price_lookup(NULL, c->provider, c->id, &m);

        cr_expect_eq(rc, TT_ERR, "%s/%s priced as %s/%s\n%s",
                     c->provider ? c->provider : "*", c->id,
                     m.price ? m.price->provider : "", m.price ? m.price->model : "",
                     m.steps);
    }
}

/* The issue's own list: wrongly priced or absent before, each must now
 * be its own entry. */
Test(price_catalogue, issue_models)
{
    static const char *const ids[][3] = {
        { "openai", "o1-mini", "o1-mini" },
        { "openai", "gpt-4-32k", "gpt-4-32k" },
        { "openai", "gpt-4-32k-0613", "gpt-4-32k-0613" },
        { "openai", "gpt-3.5-turbo-0613", "gpt-3.5-turbo-0613" },
        { "openai", "gpt-4o-realtime-preview", "gpt-4o-realtime-preview" },
        { "openai", "o4-mini-deep-research", "o4-mini-deep-research" },
        { "gcp.gemini", "gemini-2.5-flash-image", "gemini-2.5-flash-image" },
        { "gcp.gemini", "gemini-2.0-flash-001", "gemini-2.0-flash-001" },
        { "aws.bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0",
          "anthropic.claude-3-7-sonnet-20250219-v1:0" },
        { "aws.bedrock", "anthropic.claude-sonnet-4-20250514-v1:0",
          "anthropic.claude-sonnet-4-20250514-v1:0" },
        { "aws.bedrock", "anthropic.claude-opus-4-20250514-v1:0",
          "anthropic.claude-opus-4-20250514-v1:0" },
        { "aws.bedrock", "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
          "us.anthropic.claude-3-7-sonnet-20250219-v1:0" },
        { "aws.bedrock", "eu.anthropic.claude-sonnet-4-20250514-v1:0",
          "eu.anthropic.claude-sonnet-4-20250514-v1:0" },
        { "aws.bedrock", "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
          "global.anthropic.claude-sonnet-4-5-20250929-v1:0" },
        { "anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022" },
        { "anthropic", "claude-3-5-sonnet-20240620", "claude-3-5-sonnet-20240620" },
        { "anthropic", "claude-3-5-haiku-20241022", "claude-3-5-haiku-20241022" },
        { "anthropic", "claude-3-sonnet-20240229", "claude-3-sonnet-20240229" },
        { "anthropic", "claude-2.1", "claude-2.1" },
        { "anthropic", "claude-instant-1.2", "claude-instant-1.2" },
        { "gcp.gemini", "gemini-1.5-pro", "gemini-1.5-pro" },
        { "gcp.gemini", "gemini-1.5-pro-002", "gemini-1.5-pro-002" },
        { "gcp.gemini", "gemini-1.5-flash", "gemini-1.5-flash" },
        { "gcp.gemini", "gemini-1.5-flash-002", "gemini-1.5-flash-002" },
        { "openai", "gpt-4.5-preview", "gpt-4.5-preview" },
        { "openai", "davinci-002", "davinci-002" },
        { "mistral_ai", "codestral-latest", "codestral-latest" },
    };

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct tt_price_match m;

        cr_expect_eq(tt_price_lookup(NULL, ids[i][0], ids[i][1], &m), TT_OK, "%s/%s\n%s",
                     ids[i][0], ids[i][1], m.steps);
        if (m.price)
            cr_expect_str_eq(m.price->model, ids[i][2], "%s", ids[i][1]);
    }
}

/* Legacy entries keep their last price and say when they left. */
Test(price_catalogue, legacy_rows_are_marked)
{
    struct tt_price_match m;

    cr_assert_eq(tt_price_lookup(NULL, "anthropic", "claude-3-5-sonnet-20241022", &m), TT_OK);
    cr_assert_str_eq(m.price->deprecated, "2026-03-12");
    cr_assert(strstr(m.steps, "deprecated"), "%s", m.steps);
    cr_assert(strstr(m.price->source, "RoCry/llm-api-price@"), "%s", m.price->source);
    cr_assert_eq(tt_price_lookup(NULL, "openai", "gpt-4o", &m), TT_OK);
    cr_assert_str_eq(m.price->deprecated, "");
}

/* Bedrock profiles: the catalogue's own row, else the base model when no
 * profile of the model is priced apart; say which. */
Test(price_catalogue, bedrock_profiles_say_how)
{
    struct tt_price_match m;

    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock",
                                 "eu.anthropic.claude-sonnet-4-5-20250929-v1:0", &m), TT_OK);
    cr_assert_eq(m.profile, TT_PRICE_PROFILE_OWN);
    cr_assert_float_eq(m.price->input, 3.3, 1e-12);   /* +10% over 3 */
    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock",
                                 "apac.anthropic.claude-3-7-sonnet-20250219-v1:0", &m), TT_OK);
    cr_assert_eq(m.profile, TT_PRICE_PROFILE_BASE);
    cr_assert(strstr(m.steps, "base model"), "%s", m.steps);
    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock",
                                 "apac.anthropic.claude-sonnet-4-5-20250929-v1:0", &m), TT_ERR);
    cr_assert_eq(m.miss, TT_PRICE_REGIONAL);
    cr_assert(strstr(m.steps, "profile apart"), "%s", m.steps);
    cr_assert_eq(tt_price_lookup(NULL, "aws.bedrock", "anthropic.claude-sonnet-4-5-20250929-v1:0",
                                 &m), TT_OK);
    cr_assert_eq(m.profile, TT_PRICE_PROFILE_NONE);
}

/* The lookup's index (hash table, and what the generator and
 * tt_price_set_index decide ahead: snapshots priced apart) must answer as
 * the plain searches do. For every catalogue row: the built-in table, the
 * same rows as an indexed price set, and as a set without index (binary
 * search, scans) give the same answer for the row's name, the name with a
 * date the catalogue does not list, and (Bedrock rows) the name as a
 * cross-region profile; both with the trace (tokentap pricing) and
 * without (the preload's path). */
static bool same_answer(int rc1, const struct tt_price_match *a, int rc2,
                        const struct tt_price_match *b)
{
    if (rc1 != rc2 || a->miss != b->miss || a->profile != b->profile)
        return false;
    if (rc1 != TT_OK)
        return true;
    return strcmp(a->price->provider, b->price->provider) == 0 &&
           strcmp(a->price->model, b->price->model) == 0 &&
           a->price->input == b->price->input && a->price->output == b->price->output &&
           a->price->cache_read == b->price->cache_read;
}

static bool span_price(const struct tt_price_set *s, const char *prov, const char *model,
                       struct tt_price *out)
{
    struct tt_span sp;
    bool hit;

    tt_span_init(&sp);
    if (prov)
        cr_assert_eq(tt_span_set(&sp.provider, prov), TT_OK);
    cr_assert_eq(tt_span_set(&sp.response_model, model), TT_OK);
    hit = tt_price_span_price(&sp, s, out);
    tt_span_clear(&sp);
    return hit;
}

Test(price_catalogue, index_answers_as_the_searches)
{
    size_t n = tt_price_builtin_len(), checked = 0;
    struct tt_price *plain_rows = calloc(n, sizeof(*plain_rows));
    struct tt_price *idx_rows = calloc(n, sizeof(*idx_rows));

    cr_assert(plain_rows && idx_rows);
    for (size_t i = 0; i < n; i++) {
        tt_price_builtin_row(i, &plain_rows[i]);   /* strings in the const table */
        idx_rows[i] = plain_rows[i];
    }
    struct tt_price_set plain = { .rows = plain_rows, .n = n, .path = (char *)"plain" };
    struct tt_price_set idx = { .rows = idx_rows, .n = n, .path = (char *)"indexed" };
    cr_assert_eq(tt_price_set_index(&idx), TT_OK);
    cr_assert_not_null(idx.slots);

    for (size_t i = 0; i < n; i++) {
        const struct tt_price *r = &plain_rows[i];
        static const char *const profiles[] = { "global.", "us.", "eu.", "apac.", "jp." };
        char names[16][300];
        size_t nn = 0;

        snprintf(names[nn++], sizeof(names[0]), "%s", r->model);
        snprintf(names[nn++], sizeof(names[0]), "%s-2099-12-31", r->model);
        /* Bedrock: the id under every profile, and a profile row's id
         * under the others (siblings priced alike or apart) */
        for (size_t q = 0; strcmp(r->provider, "aws.bedrock") == 0 && q < 5; q++) {
            const char *rest = r->model;

            for (size_t k = 0; k < 5; k++) {
                if (strncmp(rest, profiles[k], strlen(profiles[k])) == 0)
                    rest += strlen(profiles[k]);
            }
            snprintf(names[nn++], sizeof(names[0]), "%s%s", profiles[q], rest);
        }
        for (size_t k = 0; k < nn; k++) {
            const char *provs[2] = { r->provider, NULL };

            for (size_t q = 0; q < 2; q++) {
                struct tt_price_match a, b, c;
                int ra = tt_price_lookup(NULL, provs[q], names[k], &a);
                int rb = tt_price_lookup(&plain, provs[q], names[k], &b);
                int rc = tt_price_lookup(&idx, provs[q], names[k], &c);

                cr_expect(same_answer(ra, &a, rb, &b) && same_answer(rb, &b, rc, &c),
                          "%s/%s: built-in %d %s, plain set %d %s, indexed set %d %s\n%s\n%s",
                          provs[q] ? provs[q] : "*", names[k], ra,
                          ra == TT_OK ? a.price->model : "-", rb,
                          rb == TT_OK ? b.price->model : "-", rc,
                          rc == TT_OK ? c.price->model : "-", b.steps, c.steps);
                /* a hit in the built-in table is a hit in the set itself */
                cr_expect(ra != TT_OK || (b.override && c.override), "%s: not from the set",
                          names[k]);

                struct tt_price pa, pb, pc;
                bool ha = span_price(NULL, provs[q], names[k], &pa);
                bool hb = span_price(&plain, provs[q], names[k], &pb);
                bool hc = span_price(&idx, provs[q], names[k], &pc);
                cr_expect(ha == hb && hb == hc, "%s: span price %d %d %d", names[k], ha, hb, hc);
                if (ha && hb && hc)
                    cr_expect(strcmp(pa.model, pc.model) == 0 && pa.input == pc.input &&
                              strcmp(pb.model, pc.model) == 0, "%s: %s %s %s", names[k],
                              pa.model, pb.model, pc.model);
                checked++;
            }
        }
    }
    cr_assert_gt(checked, 2 * 2 * n);
    free(idx.slots);
    free(idx.snap_apart);
    free(plain_rows);
    free(idx_rows);
}
