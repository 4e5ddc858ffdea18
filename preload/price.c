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
#include <stdarg.h>
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
 * OTel provider name it was seen under, the lookup also tries the rows of
 * the canonical one, after its own. Azure OpenAI bills the OpenAI list
 * (priced by response model, never by the arbitrary deployment name);
 * Vertex AI serves Gemini at the Gemini API's prices and Claude
 * ("claude-opus-4-1@20250805") at Anthropic's list price. Regional uplifts
 * (Vertex regional endpoints, OpenAI eu/us hosts) are not modelled. */
static const struct {
    const char *alias;
    const char *canonical;
} tt_price_provider_alias[] = {
    { "azure.ai.openai", "openai" },
    { "gcp.vertex_ai", "gcp.gemini" },
    { "gcp.vertex_ai", "anthropic" },
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

/* Prefixes that name a vendor or a route, not a different model: the
 * price is the same without them. "global." is Bedrock's global
 * cross-region inference profile, billed at the in-region price. */
static const char *const tt_price_vendor_prefixes[] = {
    "openai/",
    "anthropic/",
    "google/",
    "models/",
    "global.",
};

/* Bedrock's geographic cross-region profiles. The source prices them apart
 * (10% above the in-region price for current Claude models), so they are
 * never stripped: such an id is priced by its own row or not at all. */
static const char *const tt_price_geo_prefixes[] = {
    "us.", "eu.", "apac.", "au.", "jp.", "ca.", "us-gov.",
};

/* Bedrock ids of Anthropic models: "anthropic.<Anthropic model id>". */
static const char tt_price_bedrock_anthropic[] = "anthropic.";

#define TT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The span's provider, its aliases' canonical providers. */
#define TT_PRICE_CANDS_MAX 4

/* One lookup: which table, which providers (in order of preference; none =
 * any provider) and where to write the trace (NULL: no trace, the hot path). */
struct tt_price_ctx {
    const struct tt_price *tab;
    size_t n;
    const char *cands[TT_PRICE_CANDS_MAX];
    size_t ncands;
    struct tt_price_match *m;
};

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

static void tt_price_ctx_init(struct tt_price_ctx *c, const struct tt_price *tab,
                              size_t n, const char *provider,
                              struct tt_price_match *m)
{
    c->tab = tab;
    c->n = n;
    c->ncands = 0;
    c->m = m;
    if (!provider)
        return;
    c->cands[c->ncands++] = provider;
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_provider_alias); i++) {
        if (strcasecmp(provider, tt_price_provider_alias[i].alias) == 0 &&
            c->ncands < TT_PRICE_CANDS_MAX)
            c->cands[c->ncands++] = tt_price_provider_alias[i].canonical;
    }
}

/* Appends one line to the trace, if there is one. */
static void tt_price_step(struct tt_price_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tt_price_step(struct tt_price_ctx *c, const char *fmt, ...)
{
    va_list ap;

    if (!c->m)
        return;
    size_t used = strnlen(c->m->steps, sizeof(c->m->steps));
    if (used + 2 >= sizeof(c->m->steps))
        return;
    va_start(ap, fmt);
    int w = vsnprintf(c->m->steps + used, sizeof(c->m->steps) - used, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    used = strnlen(c->m->steps, sizeof(c->m->steps));
    if (used + 1 < sizeof(c->m->steps)) {
        c->m->steps[used] = '\n';
        c->m->steps[used + 1] = '\0';
    }
}

/* Row provider "*" (a user row for any provider) matches every provider. */
static bool tt_price_provider_is(const struct tt_price *p, const char *want)
{
    return !want || strcmp(p->provider, "*") == 0 ||
           strcasecmp(p->provider, want) == 0;
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

static bool tt_price_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
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

/* The row named exactly `name` (prefix = false) or the longest row name
 * that is a prefix of it at a safe boundary (prefix = true), among the
 * rows of the first candidate provider that has one. Two equally good
 * rows with different prices: *ambiguous, NULL. */
static const struct tt_price *tt_price_scan(struct tt_price_ctx *c,
                                            const char *name, size_t len,
                                            bool prefix, bool *ambiguous)
{
    size_t groups = c->ncands ? c->ncands : 1;

    *ambiguous = false;
    for (size_t g = 0; g < groups; g++) {
        const char *want = c->ncands ? c->cands[g] : NULL;
        const struct tt_price *best = NULL, *other = NULL;
        size_t best_len = 0;

        for (size_t i = 0; i < c->n; i++) {
            const struct tt_price *p = &c->tab[i];
            size_t plen;

            if (!tt_price_provider_is(p, want))
                continue;
            if (!prefix) {
                if (!tt_tok_ieq(name, len, p->model))
                    continue;
                plen = len;
            } else {
                plen = strlen(p->model);
                if (plen >= len || strncasecmp(name, p->model, plen) != 0 ||
                    !tt_price_boundary_ok(name, len, plen))
                    continue;
            }
            if (!best || plen > best_len) {
                best = p;
                best_len = plen;
                other = NULL;
            } else if (plen == best_len && !tt_price_same(best, p)) {
                other = p;
            }
        }
        if (other) {
            *ambiguous = true;
            tt_price_step(c, "  ambiguous: %s/%s and %s/%s match '%.*s' with different prices",
                          best->provider, best->model, other->provider,
                          other->model, (int)len, name);
            return NULL;
        }
        if (best)
            return best;
    }
    return NULL;
}

/* Tries name exactly; records the attempt. */
static const struct tt_price *tt_price_try(struct tt_price_ctx *c,
                                           const char *name, size_t len,
                                           bool *ambiguous)
{
    const struct tt_price *p = tt_price_scan(c, name, len, false, ambiguous);

    if (p)
        tt_price_step(c, "  '%.*s': row %s/%s", (int)len, name, p->provider, p->model);
    else if (!*ambiguous)
        tt_price_step(c, "  '%.*s': no row", (int)len, name);
    return p;
}

static bool tt_price_has_prefix(const char *name, size_t len, const char *pre)
{
    size_t n = strlen(pre);

    return len > n && strncasecmp(name, pre, n) == 0;
}

static void tt_price_cut_front(char *name, size_t *len, size_t n)
{
    memmove(name, name + n, *len - n + 1);
    *len -= n;
}

/* Removes one vendor prefix from name[0..*len). Returns it, or NULL. */
static const char *tt_price_strip_vendor(char *name, size_t *len)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_vendor_prefixes); i++) {
        const char *pre = tt_price_vendor_prefixes[i];

        if (tt_price_has_prefix(name, *len, pre)) {
            tt_price_cut_front(name, len, strlen(pre));
            return pre;
        }
    }
    return NULL;
}

static const char *tt_price_geo_prefix(const char *name, size_t len)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_geo_prefixes); i++) {
        if (tt_price_has_prefix(name, len, tt_price_geo_prefixes[i]))
            return tt_price_geo_prefixes[i];
    }
    return NULL;
}

/* Removes a trailing Bedrock model version: "-v1:0", "-v2:0", "-v1". */
static bool tt_price_strip_version(char *name, size_t *len)
{
    size_t n = *len, i = n;

    while (i > 0 && isdigit((unsigned char)name[i - 1]))
        i--;
    if (i < n && i > 0 && name[i - 1] == ':') {
        size_t colon = --i;

        while (i > 0 && isdigit((unsigned char)name[i - 1]))
            i--;
        if (i == colon)
            return false;
    } else if (i == n) {
        return false;
    }
    /* name[i..) is now "N" or "N:M"; want "-v" before it. */
    if (i < 3 || name[i - 1] != 'v' || name[i - 2] != '-')
        return false;
    *len = i - 2;
    name[*len] = '\0';
    return true;
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

/* The normalisation chain over name (modified in place), each form tried
 * exactly before the next step, the longest prefix last. */
static const struct tt_price *tt_price_chain(struct tt_price_ctx *c, char *name,
                                             size_t *len, bool prefix,
                                             enum tt_price_miss *miss)
{
    const struct tt_price *p;
    const char *pre;
    bool amb = false;

    *miss = TT_PRICE_UNKNOWN;
#define TT_PRICE_TRY()                                                        \
    do {                                                                      \
        if ((p = tt_price_try(c, name, *len, &amb)))                          \
            return p;                                                         \
        if (amb)                                                              \
            goto ambiguous;                                                   \
    } while (0)

    TT_PRICE_TRY();
    for (int i = 0; i < 2 && (pre = tt_price_strip_vendor(name, len)); i++) {
        tt_price_step(c, "  without the prefix '%s'", pre);
        TT_PRICE_TRY();
    }
    if (tt_price_strip_version(name, len)) {
        tt_price_step(c, "  without the version suffix (-vN:M)");
        TT_PRICE_TRY();
    }
    if (tt_price_strip_date(name, len)) {
        tt_price_step(c, "  without the date suffix");
        TT_PRICE_TRY();
    }
    if (tt_price_strip_latest(name, len)) {
        tt_price_step(c, "  without '-latest'");
        TT_PRICE_TRY();
    }
#undef TT_PRICE_TRY
    if (!prefix)
        return NULL;
    p = tt_price_scan(c, name, *len, true, &amb);
    if (amb)
        goto ambiguous;
    if (p) {
        tt_price_step(c, "  '%.*s': longest prefix is row %s/%s", (int)*len, name,
                      p->provider, p->model);
        return p;
    }
    tt_price_step(c, "  '%.*s': no row is a prefix of it", (int)*len, name);
    return NULL;
ambiguous:
    *miss = TT_PRICE_AMBIGUOUS;
    return NULL;
}

/* Looks model up in one table. Bedrock ids get two more rules: a geo
 * profile without its own row has no price (it may cost more than the
 * base row), and "anthropic.<id>" with no Bedrock row uses Anthropic's
 * row: the source lists the same prices for every model it has under
 * both (claude-opus-4-7 5/25, claude-fable-5 10/50). */
static const struct tt_price *tt_price_resolve(const struct tt_price *tab, size_t n,
                                               const char *provider,
                                               const char *model, bool prefix,
                                               struct tt_price_match *m,
                                               enum tt_price_miss *miss)
{
    char name[TT_PRICE_MODEL_MAX];
    struct tt_price_ctx c;
    const struct tt_price *p;
    size_t len;

    *miss = TT_PRICE_NO_MODEL;
    if (!model)
        return NULL;
    len = strnlen(model, sizeof(name));
    if (len == 0 || len >= sizeof(name))
        return NULL;
    memcpy(name, model, len);
    name[len] = '\0';

    tt_price_ctx_init(&c, tab, n, provider, m);
    p = tt_price_chain(&c, name, &len, prefix, miss);
    if (p || *miss == TT_PRICE_AMBIGUOUS)
        return p;

    bool bedrock = !provider || strcasecmp(provider, "aws.bedrock") == 0;
    const char *geo = tt_price_geo_prefix(name, len);

    if (bedrock && geo) {
        tt_price_step(&c, "  '%s' is a Bedrock regional profile without its own row: "
                          "no price (regional profiles may cost more)", geo);
        *miss = TT_PRICE_REGIONAL;
        return NULL;
    }
    if (bedrock &&
        tt_price_has_prefix(name, len, tt_price_bedrock_anthropic)) {
        tt_price_cut_front(name, &len, sizeof(tt_price_bedrock_anthropic) - 1);
        tt_price_step(&c, "  Bedrock Anthropic model: try the anthropic rows");
        tt_price_ctx_init(&c, tab, n, "anthropic", m);
        return tt_price_chain(&c, name, &len, prefix, miss);
    }
    return NULL;
}

const struct tt_price *tt_price_find(const char *provider, const char *model)
{
    enum tt_price_miss miss;

    return tt_price_resolve(tt_price_table, tt_price_table_len, provider, model,
                            true, NULL, &miss);
}

/* Overrides first, then the built-in table. trace may be NULL (the hot
 * path: no step text is built). */
static const struct tt_price *tt_price_pick(const struct tt_price_set *ovr,
                                            const char *provider,
                                            const char *model,
                                            struct tt_price_match *trace,
                                            bool *override,
                                            enum tt_price_miss *miss)
{
    struct tt_price_ctx c;
    const struct tt_price *p;

    *override = false;
    *miss = TT_PRICE_UNKNOWN;
    tt_price_ctx_init(&c, NULL, 0, NULL, trace);
    /* Overrides are asked with the span's own provider (a user may price
     * "ollama" models); the built-in table with no provider at all for
     * local servers, whose model names belong to whoever made the model. */
    /* A user row wins over a built-in one for the same name (exactly or
     * after normalisation), but only wins by prefix where the built-in
     * table has nothing: a user "gpt-4o" must not capture "gpt-4o-mini". */
    bool use_ovr = ovr && ovr->n > 0;
    if (use_ovr) {
        tt_price_step(&c, "price file %s:", ovr->path ? ovr->path : "?");
        p = tt_price_resolve(ovr->rows, ovr->n, provider, model, false, trace, miss);
        if (p) {
            *override = true;
            return p;
        }
        /* Two user rows pricing one name differently are no answer, and
         * must not fall back to a built-in price the user meant to replace. */
        if (*miss == TT_PRICE_AMBIGUOUS)
            return NULL;
    }
    const char *bp = tt_price_is_local(provider) ? NULL : provider;
    tt_price_step(&c, "built-in table (provider %s):", bp ? bp : "any");
    p = tt_price_resolve(tt_price_table, tt_price_table_len, bp, model, true, trace,
                         miss);
    if (p || !use_ovr || *miss != TT_PRICE_UNKNOWN)
        return p;
    tt_price_step(&c, "price file %s, by prefix:", ovr->path ? ovr->path : "?");
    p = tt_price_resolve(ovr->rows, ovr->n, provider, model, true, trace, miss);
    *override = p != NULL;
    return p;
}

int tt_price_lookup(const struct tt_price_set *ovr, const char *provider,
                    const char *model, struct tt_price_match *m)
{
    enum tt_price_miss miss;

    m->steps[0] = '\0';
    m->price = tt_price_pick(ovr, provider, model, m, &m->override, &miss);
    m->miss = m->price ? TT_PRICE_HIT : miss;
    return m->price ? TT_OK : TT_ERR;
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
    /* A provider that states what it charged (OpenRouter's usage.cost) is
     * the bill itself: no table price, override or guess can be closer. */
    if (span->has_provider_cost) {
        span->cost_usd = span->provider_cost_usd;
        span->cost_known = true;
        return;
    }
    /* No usage, no cost: a 0 here would read as "free", not "unknown". */
    if (!span->usage_known)
        return;

    const struct tt_price_set *ovr = tt_price_overrides();
    enum tt_price_miss miss = TT_PRICE_NO_MODEL;
    bool override;

    if (span->response_model)
        p = tt_price_pick(ovr, span->provider, span->response_model, NULL,
                          &override, &miss);
    /* The request model only when the response named nothing we know: a
     * response model that two rows price differently, or a Bedrock
     * regional profile, must not be priced by what was asked for. */
    if (!p && span->request_model &&
        (!span->response_model || miss == TT_PRICE_UNKNOWN ||
         miss == TT_PRICE_NO_MODEL))
        p = tt_price_pick(ovr, span->provider, span->request_model, NULL,
                          &override, &miss);
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
