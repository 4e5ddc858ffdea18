/* price.c - model prices and the cost of a span.
 *
 * The table (tt_price_table, generated from data/prices.tsv) is read-only and
 * compiled in, so a lookup never allocates and never fails for want of
 * memory. The only mutable state is the bounded set of model names already
 * warned about, updated with atomics so that it is safe from any thread and
 * across fork (no lock can be left held in a child).
 *
 * Name matching, in order, each form tried exactly before the next step:
 *   1. the name as given                       gpt-4o-2024-05-13
 *   2. without a vendor prefix                 openai/gpt-4o -> gpt-4o
 *   3. without a date suffix                   -2024-08-06, -20250929, @20250929
 *   4. without "-latest"                       gpt-5-chat-latest -> gpt-5-chat
 *   5. the longest table name that is a prefix of the result and ends at a
 *      '-' or '.' boundary                     gpt-4o-mini-xyz -> gpt-4o-mini
 * A dated snapshot with its own row therefore wins at step 1 over the
 * undated row it would strip down to. Step 5 refuses to guess: a boundary
 * followed by a 1-2 digit segment is a version, not a variant
 * (claude-opus-4-9 is not claude-opus-4; gpt-5.7 is not gpt-5), and two
 * equally long matches with different prices give no answer at all. */
#include "price.h"
#include "tt.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Longest model name we try to match; real ids are far shorter, and a
 * fixed buffer keeps the lookup allocation-free. Longer names: no price. */
#define TT_PRICE_MODEL_MAX 256
/* Distinct unknown models warned about, per process. */
#define TT_PRICE_WARN_SLOTS 64
/* Bytes of a model name shown in a warning (names come off the network). */
#define TT_PRICE_WARN_NAME_MAX 120

/* Providers that bill by another provider's price list: the span keeps the
 * OTel provider name it was seen under, the lookup uses the canonical one.
 * Azure OpenAI bills the OpenAI list (priced by response model, never by the
 * arbitrary deployment name). */
static const struct {
    const char *alias;
    const char *canonical;
} tt_price_provider_alias[] = {
    { "azure.ai.openai", "openai" },
};

/* Providers serving models on the user's own machine or network: Ollama,
 * and "local" (self-hosted OpenAI-compatible servers reached over plain
 * HTTP: vLLM, llama.cpp, LM Studio, a LiteLLM proxy). There is no bill, so
 * a call with no price row still has a known cost of 0. Their model names
 * are matched against every provider's rows: a gateway that forwards
 * "gpt-4o" to OpenAI is billed OpenAI's price, which a local proxy cannot
 * make free. */
static const char *const tt_price_local_providers[] = {
    "ollama",
    "local",
};

/* Vendor prefixes some clients and gateways put in front of the model id. */
static const char *const tt_price_vendor_prefixes[] = {
    "openai/",
    "anthropic/",
    "models/",
};

#define TT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static bool tt_price_provider_match(const char *row, const char *want)
{
    if (!want)
        return true;
    if (strcasecmp(row, want) == 0)
        return true;
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_provider_alias); i++) {
        if (strcasecmp(want, tt_price_provider_alias[i].alias) == 0 &&
            strcasecmp(row, tt_price_provider_alias[i].canonical) == 0)
            return true;
    }
    return false;
}

static bool tt_price_is_local(const char *provider)
{
    if (!provider)
        return false;
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_local_providers); i++) {
        if (strcasecmp(provider, tt_price_local_providers[i]) == 0)
            return true;
    }
    return false;
}

static bool tt_price_same(const struct tt_price *a, const struct tt_price *b)
{
    return a->input == b->input && a->output == b->output &&
           a->cache_read == b->cache_read && a->cache_write == b->cache_write &&
           a->cache_write_1h == b->cache_write_1h &&
           a->reasoning == b->reasoning &&
           a->tier_threshold == b->tier_threshold &&
           a->tier_input == b->tier_input && a->tier_output == b->tier_output &&
           a->tier_cache_read == b->tier_cache_read &&
           a->tier_cache_write == b->tier_cache_write;
}

static const struct tt_price *tt_price_find_exact(const char *provider,
                                                  const char *name, size_t len)
{
    for (size_t i = 0; i < tt_price_table_len; i++) {
        const struct tt_price *p = &tt_price_table[i];

        if (tt_tok_ieq(name, len, p->model) &&
            tt_price_provider_match(p->provider, provider))
            return p;
    }
    return NULL;
}

static bool tt_price_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* Removes one vendor prefix from name[0..*len). Returns true if it did. */
static bool tt_price_strip_vendor(char *name, size_t *len)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_vendor_prefixes); i++) {
        const char *pre = tt_price_vendor_prefixes[i];
        size_t n = strlen(pre);

        if (*len > n && strncasecmp(name, pre, n) == 0) {
            memmove(name, name + n, *len - n + 1);
            *len -= n;
            return true;
        }
    }
    return false;
}

/* Removes a trailing -YYYY-MM-DD, -YYYYMMDD or @YYYYMMDD. The year must
 * start with "20" so that other 8-digit suffixes are left alone. */
static bool tt_price_strip_date(char *name, size_t *len)
{
    size_t n = *len;

    if (n > 11) {
        const char *s = name + n - 11;

        if (s[0] == '-' && s[5] == '-' && s[8] == '-' && s[1] == '2' &&
            s[2] == '0' && tt_price_all_digits(s + 1, 4) &&
            tt_price_all_digits(s + 6, 2) && tt_price_all_digits(s + 9, 2)) {
            *len = n - 11;
            name[*len] = '\0';
            return true;
        }
    }
    if (n > 9) {
        const char *s = name + n - 9;

        if ((s[0] == '-' || s[0] == '@') && s[1] == '2' && s[2] == '0' &&
            tt_price_all_digits(s + 1, 8)) {
            *len = n - 9;
            name[*len] = '\0';
            return true;
        }
    }
    return false;
}

static bool tt_price_strip_latest(char *name, size_t *len)
{
    static const char suffix[] = "-latest";
    size_t n = sizeof(suffix) - 1;

    if (*len > n && strcasecmp(name + *len - n, suffix) == 0) {
        *len -= n;
        name[*len] = '\0';
        return true;
    }
    return false;
}

/* May a table name of length `at` stand for name[0..len)? Only when it ends
 * at a separator and what follows is a variant or snapshot ("-mini",
 * "-0613", ".ft"), not a version number ("-9", ".7"), which would be a
 * different, unpriced model. */
static bool tt_price_boundary_ok(const char *name, size_t len, size_t at)
{
    if (at >= len || (name[at] != '-' && name[at] != '.'))
        return false;

    size_t seg = at + 1, end = seg;

    while (end < len && name[end] != '-' && name[end] != '.')
        end++;
    if (end == seg)
        return false;
    if (end - seg <= 2 && tt_price_all_digits(name + seg, end - seg))
        return false;
    return true;
}

static const struct tt_price *tt_price_find_prefix(const char *provider,
                                                   const char *name, size_t len)
{
    const struct tt_price *best = NULL;
    size_t best_len = 0;
    bool ambiguous = false;

    for (size_t i = 0; i < tt_price_table_len; i++) {
        const struct tt_price *p = &tt_price_table[i];
        size_t n = strlen(p->model);

        if (n >= len || strncasecmp(name, p->model, n) != 0 ||
            !tt_price_boundary_ok(name, len, n) ||
            !tt_price_provider_match(p->provider, provider))
            continue;
        if (n > best_len) {
            best = p;
            best_len = n;
            ambiguous = false;
        } else if (n == best_len && !tt_price_same(best, p)) {
            ambiguous = true;
        }
    }
    return ambiguous ? NULL : best;
}

const struct tt_price *tt_price_find(const char *provider, const char *model)
{
    char name[TT_PRICE_MODEL_MAX];
    const struct tt_price *p;
    size_t len;

    if (!model)
        return NULL;
    len = strnlen(model, sizeof(name));
    if (len == 0 || len >= sizeof(name))
        return NULL;
    memcpy(name, model, len);
    name[len] = '\0';

    if ((p = tt_price_find_exact(provider, name, len)))
        return p;
    if (tt_price_strip_vendor(name, &len) &&
        (p = tt_price_find_exact(provider, name, len)))
        return p;
    if (tt_price_strip_date(name, &len) &&
        (p = tt_price_find_exact(provider, name, len)))
        return p;
    if (tt_price_strip_latest(name, &len) &&
        (p = tt_price_find_exact(provider, name, len)))
        return p;
    return tt_price_find_prefix(provider, name, len);
}

/* User overrides (TOKENTAP_PRICING, issue #4) are consulted before the
 * built-in table, so a user can correct a price or add a private model
 * without rebuilding. The loader does not exist yet, so nothing overrides
 * and every lookup falls through to tt_price_find. When it is written it
 * will read the JSON file once, lazily on the first priced span (never in
 * the constructor: processes that never call an LLM must not pay for it),
 * into an immutable table of struct tt_price matched by the same rules as
 * tt_price_find, and return its row from here. */
static const struct tt_price *tt_price_override_find(const char *provider,
                                                     const char *model)
{
    (void)provider;
    (void)model;
    return NULL;
}

/* Overrides are asked with the span's own provider (a user may price
 * "ollama" models); the built-in table with no provider at all for local
 * servers, whose model names belong to whoever made the model. */
static const struct tt_price *tt_price_lookup(const char *provider,
                                              const char *model)
{
    const struct tt_price *p = tt_price_override_find(provider, model);

    if (p)
        return p;
    return tt_price_find(tt_price_is_local(provider) ? NULL : provider, model);
}

static double tt_price_or(double v, double fallback)
{
    return v >= 0 ? v : fallback;
}

static long tt_price_clamp(long v, long max)
{
    if (v < 0)
        return 0;
    return v > max ? max : v;
}

double tt_price_cost(const struct tt_price *p, long input, long output,
                     long cache_read, long cache_write, long cache_write_1h,
                     long reasoning)
{
    if (!p)
        return 0.0;
    if (input < 0)
        input = 0;
    if (output < 0)
        output = 0;
    if (cache_read < 0)
        cache_read = 0;
    if (cache_write < 0)
        cache_write = 0;
    cache_write_1h = tt_price_clamp(cache_write_1h, cache_write);
    reasoning = tt_price_clamp(reasoning, output);

    /* The long-context tier is decided by the whole prompt (cache reads and
     * writes included, as input is in the span contract) and then applies
     * to every token of the call, as the providers bill it. */
    bool tier = p->tier_threshold > 0 && input > p->tier_threshold;
    double in_rate = tier ? tt_price_or(p->tier_input, p->input) : p->input;
    double out_rate = tier ? tt_price_or(p->tier_output, p->output) : p->output;
    double cr_rate = (tier && p->tier_cache_read >= 0)
                         ? p->tier_cache_read
                         : tt_price_or(p->cache_read, in_rate);
    double cw_rate = (tier && p->tier_cache_write >= 0)
                         ? p->tier_cache_write
                         : tt_price_or(p->cache_write, in_rate);
    double cw1h_rate = tt_price_or(p->cache_write_1h, cw_rate);
    /* The table has no tier column for 1h writes. Anthropic's long-context
     * rate scales every input-side price by the same factor (the source
     * lists 12.00 for sonnet-4-5 1h writes above 200k: 6.00 x 7.50/3.75), so
     * the 1h price follows the 5m write price's tier factor. */
    if (tier && p->cache_write_1h >= 0 && p->tier_cache_write >= 0 &&
        p->cache_write > 0)
        cw1h_rate = p->cache_write_1h * (p->tier_cache_write / p->cache_write);
    double rs_rate = tt_price_or(p->reasoning, out_rate);

    long uncached = input - cache_read - cache_write;
    if (uncached < 0)
        uncached = 0;

    double usd_m = (double)uncached * in_rate +
                   (double)cache_read * cr_rate +
                   (double)(cache_write - cache_write_1h) * cw_rate +
                   (double)cache_write_1h * cw1h_rate +
                   (double)(output - reasoning) * out_rate +
                   (double)reasoning * rs_rate;
    return usd_m / 1e6;
}

/* FNV-1a; 0 is reserved for "empty slot". */
static uint64_t tt_price_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;

    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ULL;
    }
    return h ? h : 1;
}

static _Atomic uint64_t tt_price_warned[TT_PRICE_WARN_SLOTS];
static atomic_bool tt_price_warn_full;

/* Returns true the first time `model` is seen. Slots are claimed in order
 * with a CAS, so two threads racing on the same new name agree on one slot
 * and only one of them warns. When every slot is taken, further names are
 * not warned about (bounded memory, bounded log). */
static bool tt_price_warn_first(const char *model, bool *now_full)
{
    uint64_t h = tt_price_hash(model);

    *now_full = false;
    for (size_t i = 0; i < TT_PRICE_WARN_SLOTS; i++) {
        uint64_t cur = atomic_load(&tt_price_warned[i]);

        if (cur == 0) {
            uint64_t zero = 0;

            if (atomic_compare_exchange_strong(&tt_price_warned[i], &zero, h))
                return true;
            cur = zero;
        }
        if (cur == h)
            return false;
    }
    *now_full = !atomic_exchange(&tt_price_warn_full, true);
    return false;
}

static bool tt_price_log_off(void)
{
    const char *v = getenv("TOKENTAP_LOG");

    return v && strcasecmp(v, "off") == 0;
}

/* Model and provider names come from the traced program's traffic: copy a
 * bounded, printable version so a hostile name cannot forge log lines. */
static void tt_price_printable(char *out, size_t cap, const char *s)
{
    size_t n = 0;

    for (; s && *s && n + 1 < cap; s++)
        out[n++] = (*s >= 0x20 && *s != 0x7f) ? *s : '?';
    out[n] = '\0';
}

static void tt_price_warn_unknown(const char *provider, const char *model)
{
    char m[TT_PRICE_WARN_NAME_MAX + 1], pr[64];
    bool now_full;

    if (tt_price_log_off())
        return;
    if (!tt_price_warn_first(model, &now_full)) {
        if (now_full)
            fprintf(stderr, "tokentap: more models without a price; "
                            "no further warnings\n");
        return;
    }
    tt_price_printable(m, sizeof(m), model);
    tt_price_printable(pr, sizeof(pr), provider ? provider : "unknown");
    fprintf(stderr, "tokentap: no price for model '%s' (provider %s); cost unknown\n",
            m, pr);
}

void tt_price_apply(struct tt_span *span)
{
    const struct tt_price *p = NULL;

    if (!span)
        return;
    span->cost_usd = 0.0;
    span->cost_known = false;
    /* No usage, no cost: a 0 here would read as "free", not "unknown". */
    if (!span->usage_known)
        return;

    if (span->response_model)
        p = tt_price_lookup(span->provider, span->response_model);
    if (!p && span->request_model)
        p = tt_price_lookup(span->provider, span->request_model);
    if (p) {
        span->cost_usd = tt_price_cost(p, (long)span->input_tokens,
                                       (long)span->output_tokens,
                                       (long)span->cache_read_tokens,
                                       (long)span->cache_write_tokens,
                                       (long)span->cache_write_1h_tokens,
                                       (long)span->reasoning_tokens);
        span->cost_known = true;
        return;
    }
    if (tt_price_is_local(span->provider)) {
        span->cost_known = true;
        return;
    }
    tt_price_warn_unknown(span->provider,
                          span->response_model ? span->response_model
                          : span->request_model ? span->request_model
                                                : "(none)");
}
