/* price.c - model prices and the cost of a span.
 *
 * The built-in catalogue (price_table.h, generated from data/catalogue.tsv)
 * is const data without pointers: it costs a process nothing until a span
 * is priced, and a lookup hashes each form of the name once and probes a
 * generated hash table of the names, never an allocation (docs/INTERNALS.md
 * "Price lookup"). The only mutable state is the bounded set of
 * model names already warned about, updated with atomics so that it is
 * safe from any thread and across fork (no lock can be left held).
 *
 * Name matching (issue #12: a wrong price is worse than an unknown one,
 * because it is believed). Each form is tried exactly, in order:
 *   1. the name as given                       gpt-3.5-turbo-0613
 *   2. without a vendor prefix                 openai/gpt-4o -> gpt-4o
 *   3. without a Bedrock version               ...-20250219-v1:0
 *   4. a Vertex @date as -date, then without   claude-opus-4-1@20250805
 *   5. without a date or MMDD snapshot suffix  gpt-4o-2024-08-06 -> gpt-4o
 * Step 5 is reached only when the dated id has no row of its own, and
 * dated snapshots that cost differently have theirs (gpt-4o-2024-05-13,
 * o1-mini-2024-09-12). Nothing else is removed: a word suffix (-mini,
 * -32k, -realtime-preview, -deep-research, -image, ...) names a different
 * model, so no row means no price. Bedrock adds two rules (tt_price_resolve):
 * an inference profile without its own row, and anthropic.<id>. */
#include "price.h"
#include "settings.h"
#include "price_table.h"
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

/* Providers that bill by another provider's price list, after their own
 * rows: Azure OpenAI deployments without an azure row bill the OpenAI list
 * (priced by response model, never by the deployment name); Claude on
 * Vertex AI is billed at Anthropic's list price. Gemini on Vertex has its
 * own rows (its prices differ from the Gemini API's: gemini-2.0-flash-001),
 * so gcp.vertex_ai never falls back to gcp.gemini. */
static const struct {
    const char *alias;
    const char *canonical;
} tt_price_provider_alias[] = {
    { "azure.ai.openai", "openai" },
    { "gcp.vertex_ai", "anthropic" },
};

/* Asked with no provider (the CLI without --provider, a gateway or a local
 * server forwarding a model name), a name is priced by the provider that
 * makes the model, in this order, then by any row if all rows that have it
 * agree on the price. */
static const char *const tt_price_makers[] = {
    "openai", "anthropic", "gcp.gemini", "mistral_ai", "x_ai", "deepseek",
    "cohere",
};

/* Providers serving models on the user's own machine or network: Ollama,
 * and "local" (self-hosted OpenAI-compatible servers reached over plain
 * HTTP: vLLM, llama.cpp, LM Studio, a LiteLLM proxy). There is no bill, so
 * a call with no price row still has a known cost of 0. Their model names
 * are matched against the model makers' rows: a gateway that forwards
 * "gpt-4o" to OpenAI is billed OpenAI's price, which a local proxy cannot
 * make free. */
static const char *const tt_price_local_providers[] = {
    "ollama",
    "local",
};

/* Prefixes that name a vendor or a route, not a different model: the
 * price is the same without them. */
static const char *const tt_price_vendor_prefixes[] = {
    "openai/",
    "anthropic/",
    "google/",
    "models/",
};

/* Bedrock's cross-region inference profiles. AWS bills a profile at the
 * on-demand price of the source region ("no additional routing cost"),
 * except where it prices profiles apart (Claude 4.5 and later: geographic
 * profiles +10% over global); the catalogue lists those. */
static const char *const tt_price_profiles[] = {
    "global.", "us.", "eu.", "apac.", "au.", "jp.", "ca.", "us-gov.",
};

/* Bedrock ids of Anthropic models: "anthropic.<Anthropic model id>". */
static const char tt_price_bedrock_anthropic[] = "anthropic.";

#define TT_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The span's provider and its aliases' canonical providers, or the makers
 * and "any" (NULL). */
#define TT_PRICE_CANDS_MAX 10

/* Where rows come from: the built-in catalogue, or a user price set. */
struct tt_price_src {
    const struct tt_price_set *set;   /* NULL = built-in */
};

/* One lookup: which rows, which providers (in order of preference; a NULL
 * entry = any provider) and where to write the trace (NULL: no trace, the
 * hot path). */
struct tt_price_ctx {
    struct tt_price_src src;
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

/* provider NULL: the makers, then any (any = false: the makers only). */
static void tt_price_ctx_init(struct tt_price_ctx *c, struct tt_price_src src,
                              const char *provider, bool any,
                              struct tt_price_match *m)
{
    c->src = src;
    c->ncands = 0;
    c->m = m;
    if (!provider) {
        for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_makers); i++)
            c->cands[c->ncands++] = tt_price_makers[i];
        if (any)
            c->cands[c->ncands++] = NULL;
        return;
    }
    c->cands[c->ncands++] = provider;
    /* A local server's own rows (the catalogue prices some Ollama cloud
     * models), then the makers of the model it may be forwarding to. */
    if (tt_price_is_local(provider)) {
        for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_makers); i++)
            c->cands[c->ncands++] = tt_price_makers[i];
        return;
    }
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_provider_alias); i++) {
        if (strcasecmp(provider, tt_price_provider_alias[i].alias) == 0 &&
            c->ncands < TT_PRICE_CANDS_MAX)
            c->cands[c->ncands++] = tt_price_provider_alias[i].canonical;
    }
}

/* Appends one line to the trace, if there is one. */
static void tt_price_step(struct tt_price_match *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void tt_price_step(struct tt_price_match *m, const char *fmt, ...)
{
    va_list ap;

    if (!m)
        return;
    size_t used = strnlen(m->steps, sizeof(m->steps));
    if (used + 2 >= sizeof(m->steps))
        return;
    va_start(ap, fmt);
    int w = vsnprintf(m->steps + used, sizeof(m->steps) - used, fmt, ap);
    va_end(ap);
    if (w < 0)
        return;
    used = strnlen(m->steps, sizeof(m->steps));
    if (used + 1 < sizeof(m->steps)) {
        m->steps[used] = '\n';
        m->steps[used + 1] = '\0';
    }
}

/* --- the built-in rows --------------------------------------------------- */

/* Where each price column of the catalogue goes in struct tt_price. */
static const size_t tt_price_col_off[TT_PC_N] = {
    [TT_PC_INPUT] = offsetof(struct tt_price, input),
    [TT_PC_OUTPUT] = offsetof(struct tt_price, output),
    [TT_PC_CACHE_READ] = offsetof(struct tt_price, cache_read),
    [TT_PC_CACHE_WRITE] = offsetof(struct tt_price, cache_write),
    [TT_PC_CACHE_WRITE_1H] = offsetof(struct tt_price, cache_write_1h),
    [TT_PC_REASONING] = offsetof(struct tt_price, reasoning),
    [TT_PC_TIER_INPUT] = offsetof(struct tt_price, tier_input),
    [TT_PC_TIER_OUTPUT] = offsetof(struct tt_price, tier_output),
    [TT_PC_TIER_CACHE_READ] = offsetof(struct tt_price, tier_cache_read),
    [TT_PC_TIER_CACHE_WRITE] = offsetof(struct tt_price, tier_cache_write),
    [TT_PC_AUDIO_INPUT] = offsetof(struct tt_price, audio_input),
    [TT_PC_AUDIO_OUTPUT] = offsetof(struct tt_price, audio_output),
    [TT_PC_IMAGE_INPUT] = offsetof(struct tt_price, image_input),
    [TT_PC_IMAGE_OUTPUT] = offsetof(struct tt_price, image_output),
    [TT_PC_FLEX_INPUT] = offsetof(struct tt_price, flex_input),
    [TT_PC_FLEX_OUTPUT] = offsetof(struct tt_price, flex_output),
    [TT_PC_FLEX_CACHE_READ] = offsetof(struct tt_price, flex_cache_read),
    [TT_PC_PRIORITY_INPUT] = offsetof(struct tt_price, priority_input),
    [TT_PC_PRIORITY_OUTPUT] = offsetof(struct tt_price, priority_output),
    [TT_PC_PRIORITY_CACHE_READ] = offsetof(struct tt_price, priority_cache_read),
    [TT_PC_BATCH_INPUT] = offsetof(struct tt_price, batch_input),
    [TT_PC_BATCH_OUTPUT] = offsetof(struct tt_price, batch_output),
};

static const char *tt_price_rec_str(const struct tt_price_rec *r, enum tt_price_str s)
{
    return tt_price_blob + tt_price_soff[r->str[s]];
}

static const char *tt_price_rec_model(const struct tt_price_rec *r)
{
    return tt_price_blob + r->model;
}

static void tt_price_rec_copy(const struct tt_price_rec *r, struct tt_price *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < TT_PC_N; i++) {
        uint16_t v = r->v[i];

        *(double *)((char *)out + tt_price_col_off[i]) =
            v < tt_price_vals_len ? tt_price_vals[v] : -1.0;
    }
    out->tier_threshold = (long)r->tier_k * 1000;
    out->provider = tt_price_rec_str(r, TT_PS_PROVIDER);
    out->model = tt_price_rec_model(r);
    out->flags = tt_price_rec_str(r, TT_PS_FLAGS);
    out->deprecated = tt_price_rec_str(r, TT_PS_DEPRECATED);
    out->litellm_key = tt_price_blob + r->key;
    out->source = tt_price_rec_str(r, TT_PS_SOURCE);
    out->date = tt_price_rec_str(r, TT_PS_DATE);
}

size_t tt_price_builtin_len(void)
{
    return tt_price_recs_len;
}

void tt_price_builtin_row(size_t i, struct tt_price *out)
{
    if (i < tt_price_recs_len)
        tt_price_rec_copy(&tt_price_recs[i], out);
    else
        memset(out, 0, sizeof(*out));
}

/* Compares name[0..len) with a NUL-terminated row name, ASCII case folded
 * (the generator sorts by the same order). */
static inline int tt_price_fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;   /* ASCII, no locale */
}

static int tt_price_name_cmp(const char *name, size_t len, const char *row)
{
    for (size_t i = 0; i < len; i++) {
        int a = tt_price_fold((unsigned char)name[i]);
        int b = tt_price_fold((unsigned char)row[i]);

        if (b == 0 || a != b)
            return a - b;
    }
    return row[len] ? -1 : 0;
}

/* --- matching -------------------------------------------------------------- */

/* Row provider "*" (a user row for any provider) matches every provider. */
static bool tt_price_provider_is(const char *row_provider, const char *want)
{
    return !want || strcmp(row_provider, "*") == 0 ||
           strcasecmp(row_provider, want) == 0;
}

static bool tt_price_same(const struct tt_price *a, const struct tt_price *b)
{
    for (size_t i = 0; i < TT_PC_N; i++) {
        double x = *(const double *)((const char *)a + tt_price_col_off[i]);
        double y = *(const double *)((const char *)b + tt_price_col_off[i]);

        if (x != y)
            return false;
    }
    return a->tier_threshold == b->tier_threshold;
}

/* The hash of name[0..len), ASCII case folded: h = h * M + c (mod 2^32).
 * A polynomial, so the hash of "prefix" + "rest" is h(prefix) *
 * M^|rest| + h(rest): a Bedrock profile's siblings are hashed without
 * hashing the model id again (tt_price_profiles_differ). The generator
 * (tools/gen_prices.py name_hash, slot_of) computes the same. */
#define TT_PRICE_HASH_MUL 16777619u

static uint32_t tt_price_hash(const char *name, size_t len)
{
    uint32_t h = 0;

    for (size_t i = 0; i < len; i++)
        h = h * TT_PRICE_HASH_MUL + (uint32_t)tt_price_fold((unsigned char)name[i]);
    return h;
}

/* M^n (mod 2^32). */
static uint32_t tt_price_hash_pow(size_t n)
{
    uint32_t r = 1, b = TT_PRICE_HASH_MUL;

    for (; n; n >>= 1, b *= b) {
        if (n & 1)
            r *= b;
    }
    return r;
}

/* Fibonacci hashing: the top bits of h x 2^32/phi (the polynomial's low
 * bits alone would cluster). bits is 4..30. */
static inline size_t tt_price_slot(uint32_t h, unsigned bits)
{
    return (uint32_t)(h * 0x9E3779B1u) >> (32 - bits);
}

static const char *tt_price_row_model(const struct tt_price_set *set, size_t i)
{
    return set ? set->rows[i].model : tt_price_rec_model(&tt_price_recs[i]);
}

static const char *tt_price_row_provider(const struct tt_price_set *set, size_t i)
{
    return set ? set->rows[i].provider : tt_price_rec_str(&tt_price_recs[i], TT_PS_PROVIDER);
}

static size_t tt_price_nrows(const struct tt_price_set *set)
{
    return set ? set->n : tt_price_recs_len;
}

/* The first row >= name[0..len) in the sort order (binary search). */
static size_t tt_price_lower_bound(const struct tt_price_set *set, const char *name,
                                   size_t len)
{
    size_t lo = 0, hi = tt_price_nrows(set);

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (tt_price_name_cmp(name, len, tt_price_row_model(set, mid)) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Is row the name name[0..len) (no NUL inside), ASCII case folded? The
 * equal bytes are compared first: names arrive mostly in the table's case. */
static bool tt_price_name_eq(const char *name, size_t len, const char *row)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char a = (unsigned char)name[i], b = (unsigned char)row[i];

        if (a != b && tt_price_fold(a) != tt_price_fold(b))
            return false;   /* also the row's NUL: name has none */
    }
    return row[len] == '\0';
}

/* The rows named name[0..len) (hash h): the first in *first, and how many
 * (0: none). One probe of the hash table and, nearly always, one string
 * comparison; a set without an index (built by hand) is searched. */
static size_t tt_price_range(const struct tt_price_set *set, const char *name, size_t len,
                             uint32_t h, size_t *first)
{
    size_t n = tt_price_nrows(set), lo = SIZE_MAX;

    if (!set || set->slots) {
        unsigned bits = set ? set->slots_bits : tt_price_slots_bits;
        size_t mask = ((size_t)1 << bits) - 1;

        /* the table is never full (load <= 0.65): an empty slot ends it */
        for (size_t i = tt_price_slot(h, bits);; i = (i + 1) & mask) {
            size_t v = set ? set->slots[i] : tt_price_slots[i];

            if (v == 0)
                return 0;
            if (tt_price_name_eq(name, len, tt_price_row_model(set, v - 1))) {
                lo = v - 1;
                break;
            }
        }
    } else {
        lo = tt_price_lower_bound(set, name, len);
    }
    size_t hi = lo;
    while (hi < n && tt_price_name_eq(name, len, tt_price_row_model(set, hi)))
        hi++;
    *first = lo;
    return hi - lo;
}

/* Do rows a and b of one source have the same prices? Built-in rows
 * compare their value indexes (each distinct price is stored once). */
static bool tt_price_row_same(const struct tt_price_set *set, size_t a, size_t b)
{
    if (set)
        return tt_price_same(&set->rows[a], &set->rows[b]);
    const struct tt_price_rec *x = &tt_price_recs[a], *y = &tt_price_recs[b];
    return x->tier_k == y->tier_k && memcmp(x->v, y->v, sizeof(x->v)) == 0;
}

/* The row named exactly name[0..len) (hash h) for the first candidate
 * provider that has one: copied (built-in) or pointed to (price set)
 * through *out / *outp, its index in *outi. For the "any" candidate, rows
 * that disagree on the price are no answer: *ambiguous. */
static bool tt_price_scan(struct tt_price_ctx *c, const char *name, size_t len, uint32_t h,
                          struct tt_price *out, const struct tt_price **outp, size_t *outi,
                          bool *ambiguous)
{
    const struct tt_price_set *set = c->src.set;
    size_t first = 0, count = tt_price_range(set, name, len, h, &first);

    *ambiguous = false;
    for (size_t g = 0; count && g < c->ncands; g++) {
        const char *want = c->cands[g];
        size_t hit = SIZE_MAX;

        for (size_t i = first; i < first + count; i++) {
            if (!tt_price_provider_is(tt_price_row_provider(set, i), want))
                continue;
            if (hit == SIZE_MAX) {
                hit = i;
            } else if (!tt_price_row_same(set, hit, i)) {
                *ambiguous = true;
                tt_price_step(c->m, "  ambiguous: %s/%s and %s/%s match '%.*s' with "
                              "different prices", tt_price_row_provider(set, hit),
                              tt_price_row_model(set, hit), tt_price_row_provider(set, i),
                              tt_price_row_model(set, i), (int)len, name);
                return false;
            }
        }
        if (hit == SIZE_MAX)
            continue;
        if (set) {
            *outp = &set->rows[hit];
        } else {
            tt_price_rec_copy(&tt_price_recs[hit], out);
            *outp = out;
        }
        *outi = hit;
        return true;
    }
    return false;
}

/* Sort order of a set's rows: the built-in table's (ASCII-folded model,
 * then provider), whatever the process's locale. */
static int tt_price_set_cmp(const void *a, const void *b)
{
    const struct tt_price *x = a, *y = b;
    int c = tt_price_name_cmp(x->model, strlen(x->model), y->model);

    return c ? c : strcasecmp(x->provider, y->provider);
}

static bool tt_price_is_date_suffix(const char *s, size_t n);

int tt_price_set_index(struct tt_price_set *s)
{
    unsigned bits = 4;

    free(s->slots);
    free(s->snap_apart);
    s->slots = NULL;
    s->snap_apart = NULL;
    if (s->n > 1)
        qsort(s->rows, s->n, sizeof(*s->rows), tt_price_set_cmp);
    /* load <= 0.5 (rows >= names) */
    while (bits < 30 && (size_t)1 << (bits - 1) < s->n)
        bits++;
    if ((size_t)1 << (bits - 1) < s->n)
        return TT_ERR_CAP;
    uint32_t *slots = calloc((size_t)1 << bits, sizeof(*slots));
    unsigned char *apart = calloc(s->n ? s->n : 1, 1);
    if (!slots || !apart) {
        free(slots);
        free(apart);
        return TT_ERR_NOMEM;
    }
    size_t mask = ((size_t)1 << bits) - 1;
    for (size_t i = 0; i < s->n; i++) {
        const char *m = s->rows[i].model;
        size_t ml = strlen(m);

        if (i > 0 && tt_price_name_cmp(m, ml, s->rows[i - 1].model) == 0)
            continue;   /* the name's first row is in the table */
        size_t j = tt_price_slot(tt_price_hash(m, ml), bits);
        while (slots[j])
            j = (j + 1) & mask;
        slots[j] = (uint32_t)(i + 1);
    }
    s->slots = slots;
    s->slots_bits = bits;
    /* Every dated row marks its undated row of the same provider when the
     * two cost differently (tt_price_dated_differ). */
    for (size_t i = 0; i < s->n; i++) {
        const char *m = s->rows[i].model;
        size_t ml = strlen(m);
        static const size_t sfx[] = { 11, 9, 5 };

        for (size_t k = 0; k < TT_ARRAY_LEN(sfx); k++) {
            size_t first, count;

            if (ml <= sfx[k] || !tt_price_is_date_suffix(m + ml - sfx[k], sfx[k]))
                continue;
            count = tt_price_range(s, m, ml - sfx[k], tt_price_hash(m, ml - sfx[k]), &first);
            for (size_t j = first; j < first + count; j++) {
                if (strcasecmp(s->rows[j].provider, s->rows[i].provider) == 0 &&
                    !tt_price_same(&s->rows[j], &s->rows[i]))
                    apart[j] = 1;
            }
        }
    }
    s->snap_apart = apart;
    return TT_OK;
}

/* Tries name exactly; records the attempt. */
static bool tt_price_try(struct tt_price_ctx *c, const char *name, size_t len,
                         struct tt_price *out, const struct tt_price **outp,
                         size_t *outi, bool *ambiguous)
{
    bool hit = tt_price_scan(c, name, len, tt_price_hash(name, len), out, outp, outi,
                             ambiguous);

    if (hit)
        tt_price_step(c->m, "  '%.*s': row %s/%s%s%s", (int)len, name, (*outp)->provider,
                      (*outp)->model,
                      (*outp)->deprecated && (*outp)->deprecated[0]
                          ? " (deprecated: left the catalogue " : "",
                      (*outp)->deprecated && (*outp)->deprecated[0]
                          ? (*outp)->deprecated : "");
    else if (!*ambiguous)
        tt_price_step(c->m, "  '%.*s': no row", (int)len, name);
    if (hit && (*outp)->deprecated && (*outp)->deprecated[0])
        tt_price_step(c->m, "  (its last known price is kept)");
    return hit;
}

static bool tt_price_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
    }
    return true;
}

/* ASCII case folded, no locale (and no libc call: most names fail on the
 * first byte). */
static bool tt_price_has_prefix(const char *name, size_t len, const char *pre)
{
    size_t i = 0;

    for (; pre[i]; i++) {
        if (i >= len || tt_price_fold((unsigned char)name[i]) != (unsigned char)pre[i])
            return false;   /* the prefixes are lower case */
    }
    return len > i;
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

static const char *tt_price_profile_prefix(const char *name, size_t len)
{
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_profiles); i++) {
        if (tt_price_has_prefix(name, len, tt_price_profiles[i]))
            return tt_price_profiles[i];
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

static bool tt_price_mmdd(const char *s)
{
    int mm = (s[0] - '0') * 10 + (s[1] - '0');
    int dd = (s[2] - '0') * 10 + (s[3] - '0');

    return tt_price_all_digits(s, 4) && mm >= 1 && mm <= 12 && dd >= 1 && dd <= 31;
}

/* Removes a trailing -YYYY-MM-DD, -YYYYMMDD or @YYYYMMDD (the year starts
 * with "20"), or a -MMDD snapshot (gpt-4-0613). */
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
    if (n > 5) {
        const char *s = name + n - 5;

        if (s[0] == '-' && tt_price_mmdd(s + 1)) {
            *len = n - 5;
            name[*len] = '\0';
            return true;
        }
    }
    return false;
}

/* Is s[0..n) exactly a date or snapshot suffix (what tt_price_strip_date
 * removes)? */
static bool tt_price_is_date_suffix(const char *s, size_t n)
{
    char buf[16];
    size_t len = n + 1;

    if (n == 0 || n + 2 > sizeof(buf))
        return false;
    buf[0] = 'x';
    memcpy(buf + 1, s, n);
    buf[len] = '\0';
    return tt_price_strip_date(buf, &len) && len == 1;
}

/* Does row name m (at least n bytes) start with base[0..n), case folded? */
static bool tt_price_starts(const char *m, const char *base, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (tt_price_fold((unsigned char)m[i]) != tt_price_fold((unsigned char)base[i]))
            return false;
    }
    return true;
}

/* Does a dated row of base[0..blen) (same provider as *b) cost something
 * other than *b? The first such row's name into which. A scan of the rows
 * that start with base: for `tokentap pricing`'s trace and sets without an
 * index; the lookup asks tt_price_dated_differ. */
static bool tt_price_dated_scan(const struct tt_price_set *set, const char *base,
                                size_t blen, const struct tt_price *b, char *which,
                                size_t wlen)
{
    for (size_t i = tt_price_lower_bound(set, base, blen); i < tt_price_nrows(set); i++) {
        const char *m = tt_price_row_model(set, i);
        size_t ml = strlen(m);
        struct tt_price row;
        const struct tt_price *p = &row;

        if (ml < blen || !tt_price_starts(m, base, blen))
            break;   /* past the rows that start with base */
        if (ml == blen || !tt_price_is_date_suffix(m + blen, ml - blen) ||
            strcasecmp(tt_price_row_provider(set, i), b->provider) != 0)
            continue;
        if (set)
            p = &set->rows[i];
        else
            tt_price_rec_copy(&tt_price_recs[i], &row);
        if (!tt_price_same(p, b)) {
            snprintf(which, wlen, "%s", m);
            return true;
        }
    }
    return false;
}

/* Is row i in the ascending list l[0..n) (generated)? */
static bool tt_price_listed(const uint16_t *l, size_t n, size_t i)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (l[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && l[lo] == i;
}

/* After a date was stripped and base[0..blen) found as row bi (*b): does a
 * dated row of the same model (same provider) cost something else? Then
 * that model's snapshots are priced one by one, and a date the catalogue
 * does not list (gpt-4o-realtime-preview-2099-01-01) has no price. The
 * answer per row is decided when the table is built (the generator's
 * tt_price_snap_apart, tt_price_set_index's snap_apart); the scan runs
 * only to name the row in a trace. */
static bool tt_price_dated_differ(struct tt_price_ctx *c, const char *base, size_t blen,
                                  const struct tt_price *b, size_t bi, char *which,
                                  size_t wlen)
{
    const struct tt_price_set *set = c->src.set;
    bool apart;

    which[0] = '\0';
    if (set && !set->snap_apart)
        return tt_price_dated_scan(set, base, blen, b, which, wlen);
    if (set) {
        apart = set->snap_apart[bi];
    } else {
        apart = tt_price_listed(tt_price_snap_apart, tt_price_snap_apart_len, bi);
    }
    if (apart && c->m)
        tt_price_dated_scan(set, base, blen, b, which, wlen);
    return apart;
}

/* The normalisation chain over name (modified in place), each form tried
 * exactly before the next step. */
static bool tt_price_chain(struct tt_price_ctx *c, char *name, size_t *len,
                           struct tt_price *out, const struct tt_price **outp,
                           enum tt_price_miss *miss)
{
    const char *pre;
    bool amb = false;
    size_t rowi = 0;

    *miss = TT_PRICE_UNKNOWN;
#define TT_PRICE_TRY()                                                        \
    do {                                                                      \
        if (tt_price_try(c, name, *len, out, outp, &rowi, &amb))              \
            return true;                                                      \
        if (amb)                                                              \
            goto ambiguous;                                                   \
    } while (0)

    TT_PRICE_TRY();
    for (int i = 0; i < 2 && (pre = tt_price_strip_vendor(name, len)); i++) {
        tt_price_step(c->m, "  without the prefix '%s'", pre);
        TT_PRICE_TRY();
    }
    /* Only Bedrock ids carry a -vN[:M] version ("deepseek-chat-v9" is a
     * model name): the Bedrock provider, or the unmistakable ":M" form. */
    bool bedrock = false;
    for (size_t i = 0; i < c->ncands; i++)
        bedrock = bedrock || strcasecmp(c->cands[i] ? c->cands[i] : "", "aws.bedrock") == 0 ||
                  (!c->cands[i] && memchr(name, '.', *len));   /* vendor.model */
    if ((bedrock || memchr(name, ':', *len)) && tt_price_strip_version(name, len)) {
        tt_price_step(c->m, "  without the Bedrock version suffix (-vN:M)");
        TT_PRICE_TRY();
    }
    char *at = memchr(name, '@', *len);
    if (at && (size_t)(name + *len - at) == 9 && tt_price_all_digits(at + 1, 8)) {
        *at = '-';
        tt_price_step(c->m, "  the Vertex @date as a dated id");
        TT_PRICE_TRY();
    }
    if (tt_price_strip_date(name, len)) {
        char which[TT_PRICE_MODEL_MAX];

        tt_price_step(c->m, "  without the date/snapshot suffix (the dated id has no row)");
        if (tt_price_try(c, name, *len, out, outp, &rowi, &amb)) {
            if (!tt_price_dated_differ(c, name, *len, *outp, rowi, which, sizeof(which)))
                return true;
            tt_price_step(c->m, "  no price: this model's snapshots are priced one by "
                                "one (%s costs differently), and this date has no row",
                          which);
            return false;
        }
        if (amb)
            goto ambiguous;
    }
#undef TT_PRICE_TRY
    return false;
ambiguous:
    *miss = TT_PRICE_AMBIGUOUS;
    return false;
}

static bool tt_price_resolve(struct tt_price_src src, const char *provider, bool any,
                             const char *model, struct tt_price_match *m,
                             struct tt_price *out, const struct tt_price **outp,
                             enum tt_price_miss *miss, enum tt_price_profile *prof);

/* Is any Bedrock profile of base (the id without its profile prefix)
 * priced differently from *b? Then profiles of this model are priced
 * apart, and one without its own row cannot be priced by the base row. */
static bool tt_price_profiles_differ(struct tt_price_src src, const char *base,
                                     size_t blen, const struct tt_price *b,
                                     const char *self, const char **which)
{
    char name[TT_PRICE_MODEL_MAX];
    struct tt_price_ctx c;
    struct tt_price row;
    const struct tt_price *p;
    size_t rowi;
    bool amb;
    /* h(profile + base) = h(profile) * M^blen + h(base) */
    uint32_t hb = tt_price_hash(base, blen), mb = tt_price_hash_pow(blen);

    tt_price_ctx_init(&c, src, "aws.bedrock", false, NULL);
    for (size_t i = 0; i < TT_ARRAY_LEN(tt_price_profiles); i++) {
        size_t pl = strlen(tt_price_profiles[i]);

        /* the profile being priced has no row: the chain looked */
        if (tt_price_profiles[i] == self || pl + blen >= sizeof(name))
            continue;
        memcpy(name, tt_price_profiles[i], pl);
        memcpy(name + pl, base, blen);
        uint32_t h = tt_price_hash(name, pl) * mb + hb;
        if (!tt_price_scan(&c, name, pl + blen, h, &row, &p, &rowi, &amb))
            continue;
        if (!tt_price_same(p, b)) {
            *which = tt_price_profiles[i];
            return true;
        }
        /* This sibling costs what the base does; when the generator found
         * that all profiles of this id cost the same, so do the others. */
        if (!src.set &&
            !tt_price_listed(tt_price_profile_mixed, tt_price_profile_mixed_len, rowi))
            return false;
    }
    return false;
}

/* Looks model up in one source. Bedrock ids get two more rules after the
 * chain: an inference profile without its own row is priced by its base
 * model when AWS bills the two alike (tt_price_profiles_differ says it
 * does not), and "anthropic.<id>" with no Bedrock row uses Anthropic's row
 * (the catalogue lists the same prices for every model it has under both). */
static bool tt_price_resolve(struct tt_price_src src, const char *provider, bool any,
                             const char *model, struct tt_price_match *m,
                             struct tt_price *out, const struct tt_price **outp,
                             enum tt_price_miss *miss, enum tt_price_profile *prof)
{
    char name[TT_PRICE_MODEL_MAX];
    struct tt_price_ctx c;
    size_t len;

    *miss = TT_PRICE_NO_MODEL;
    if (!model)
        return false;
    len = strnlen(model, sizeof(name));
    if (len == 0 || len >= sizeof(name))
        return false;
    memcpy(name, model, len);
    name[len] = '\0';

    tt_price_ctx_init(&c, src, provider, any, m);
    if (tt_price_chain(&c, name, &len, out, outp, miss)) {
        if (prof && *prof == TT_PRICE_PROFILE_NONE && tt_price_profile_prefix(model, strlen(model)))
            *prof = TT_PRICE_PROFILE_OWN;
        return true;
    }
    if (*miss == TT_PRICE_AMBIGUOUS)
        return false;

    bool bedrock = !provider || strcasecmp(provider, "aws.bedrock") == 0;
    const char *pre = tt_price_profile_prefix(model, strlen(model));

    if (bedrock && pre && prof) {
        const char *base = model + strlen(pre), *which = NULL;

        tt_price_step(m, "  '%s' is a Bedrock inference profile without its own row: "
                         "the base model", pre);
        *prof = TT_PRICE_PROFILE_BASE;   /* the recursion must not take it as OWN */
        if (!tt_price_resolve(src, provider, any, base, m, out, outp, miss, prof)) {
            *prof = TT_PRICE_PROFILE_NONE;
            return false;
        }
        if (tt_price_profiles_differ(src, base, strlen(base), *outp, pre, &which)) {
            tt_price_step(m, "  no price: the catalogue prices this model's '%s' "
                             "profile apart from the base model, so '%s' may cost "
                             "more too", which, pre);
            *prof = TT_PRICE_PROFILE_NONE;
            *miss = TT_PRICE_REGIONAL;
            return false;
        }
        tt_price_step(m, "  priced as the base model: AWS bills a cross-region "
                         "profile at the on-demand price (the catalogue prices no "
                         "profile of this model apart)");
        return true;
    }
    /* From the name as given again: the chain above changed it. */
    len = strlen(model);
    memcpy(name, model, len + 1);
    if (bedrock && tt_price_has_prefix(name, len, tt_price_bedrock_anthropic)) {
        tt_price_cut_front(name, &len, sizeof(tt_price_bedrock_anthropic) - 1);
        tt_price_step(m, "  Bedrock Anthropic model: try the anthropic rows");
        tt_price_ctx_init(&c, src, "anthropic", false, m);
        return tt_price_chain(&c, name, &len, out, outp, miss);
    }
    return false;
}

const struct tt_price *tt_price_find(const char *provider, const char *model)
{
    static struct tt_price row;
    const struct tt_price *p = NULL;
    enum tt_price_miss miss;
    enum tt_price_profile prof = TT_PRICE_PROFILE_NONE;
    struct tt_price_src src = { NULL };

    if (!tt_price_resolve(src, provider, true, model, NULL, &row, &p, &miss, &prof))
        return NULL;
    return p;
}

/* Overrides first, then the built-in table, into *out (a copy). trace may
 * be NULL (the hot path: no step text is built). */
static bool tt_price_pick(const struct tt_price_set *ovr, const char *provider,
                          const char *model, struct tt_price_match *trace,
                          struct tt_price *out, bool *override,
                          enum tt_price_miss *miss, enum tt_price_profile *prof)
{
    const struct tt_price *p = NULL;
    struct tt_price_src builtin = { NULL }, user = { ovr };

    *override = false;
    *miss = TT_PRICE_UNKNOWN;
    *prof = TT_PRICE_PROFILE_NONE;
    /* Overrides are asked with the span's own provider (a user may price
     * "ollama" models); the built-in table with the model makers for local
     * servers, whose model names belong to whoever made the model. */
    if (ovr && ovr->n > 0) {
        tt_price_step(trace, "price file %s:", ovr->path ? ovr->path : "?");
        if (tt_price_resolve(user, provider, true, model, trace, out, &p, miss, prof)) {
            if (p != out)
                *out = *p;
            *override = true;
            return true;
        }
        /* Two user rows pricing one name differently are no answer, and
         * must not fall back to a built-in price the user meant to replace. */
        if (*miss == TT_PRICE_AMBIGUOUS)
            return false;
    }
    tt_price_step(trace, "built-in table (provider %s%s):", provider ? provider : "any",
                  tt_price_is_local(provider) ? ", then the model makers" : "");
    *prof = TT_PRICE_PROFILE_NONE;
    if (!tt_price_resolve(builtin, provider, true, model, trace, out, &p, miss, prof))
        return false;
    if (p != out)
        *out = *p;
    return true;
}

int tt_price_lookup(const struct tt_price_set *ovr, const char *provider,
                    const char *model, struct tt_price_match *m)
{
    enum tt_price_miss miss;
    bool hit;

    m->steps[0] = '\0';
    hit = tt_price_pick(ovr, provider, model, m, &m->row, &m->override, &miss,
                        &m->profile);
    m->price = hit ? &m->row : NULL;
    m->miss = hit ? TT_PRICE_HIT : miss;
    return hit ? TT_OK : TT_ERR;
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

/* The tier a response names (span service_tier). OpenAI answers
 * "default" (and echoes "auto" in some proxies), Anthropic "standard":
 * both are the list price. Anything we cannot price as billed (OpenAI
 * "scale": prepaid units; a name we do not know) is TT_PRICE_TIER_OTHER. */
enum tt_price_tier {
    TT_PRICE_TIER_STANDARD = 0,
    TT_PRICE_TIER_FLEX,
    TT_PRICE_TIER_PRIORITY,
    TT_PRICE_TIER_BATCH,
    TT_PRICE_TIER_OTHER,
};

static enum tt_price_tier tt_price_tier_of(const char *t)
{
    static const struct { const char *name; enum tt_price_tier tier; } tiers[] = {
        { "default", TT_PRICE_TIER_STANDARD },
        { "auto", TT_PRICE_TIER_STANDARD },
        { "standard", TT_PRICE_TIER_STANDARD },
        { "flex", TT_PRICE_TIER_FLEX },
        { "priority", TT_PRICE_TIER_PRIORITY },
        { "batch", TT_PRICE_TIER_BATCH },
    };

    if (!t || !*t)
        return TT_PRICE_TIER_STANDARD;
    for (size_t i = 0; i < sizeof(tiers) / sizeof(tiers[0]); i++)
        if (strcasecmp(t, tiers[i].name) == 0)
            return tiers[i].tier;
    return TT_PRICE_TIER_OTHER;
}

/* A call served on the flex, priority or batch tier: every token at the
 * tier's own rates. The catalogue lists input, output and (flex, priority)
 * cached input per tier and nothing else, so a call that also needs a rate
 * the tier does not list (cache writes, audio or image tokens, a separate
 * reasoning price, the long-context tier, a cache read the tier has no
 * price for) is not priced: a guessed tier rate would be believed. */
static int tt_price_cost_tier(const struct tt_price *p, const struct tt_price_usage *u,
                              enum tt_price_tier tier, double *usd)
{
    double in_rate, out_rate, cr_rate;

    switch (tier) {
    case TT_PRICE_TIER_FLEX:
        in_rate = p->flex_input, out_rate = p->flex_output, cr_rate = p->flex_cache_read;
        break;
    case TT_PRICE_TIER_PRIORITY:
        in_rate = p->priority_input, out_rate = p->priority_output;
        cr_rate = p->priority_cache_read;
        break;
    case TT_PRICE_TIER_BATCH:
        in_rate = p->batch_input, out_rate = p->batch_output, cr_rate = -1;
        break;
    default:
        return TT_ERR;
    }
    if (in_rate < 0 || out_rate < 0)
        return TT_ERR;
    if (u->cache_read > 0 && cr_rate < 0)
        return TT_ERR;
    if (u->cache_write > 0 || u->audio_input > 0 || u->audio_output > 0 ||
        u->image_input > 0 || u->image_output > 0)
        return TT_ERR;
    if (p->tier_threshold > 0 && u->input > p->tier_threshold)
        return TT_ERR;
    if (u->reasoning > 0 && p->reasoning >= 0 && p->reasoning != p->output)
        return TT_ERR;
    long cache_read = tt_price_clamp(u->cache_read, u->input);
    *usd = ((double)(u->input - cache_read) * in_rate + (double)cache_read * cr_rate +
            (double)u->output * out_rate) / 1e6;
    return TT_OK;
}

int tt_price_cost_usage(const struct tt_price *p, const struct tt_price_usage *in,
                        double *usd)
{
    struct tt_price_usage u = *in;

    *usd = 0.0;
    if (!p)
        return TT_ERR;
    if (u.input < 0)
        u.input = 0;
    if (u.output < 0)
        u.output = 0;
    u.cache_read = tt_price_clamp(u.cache_read, u.input);
    u.cache_write = tt_price_clamp(u.cache_write, u.input);
    u.cache_write_1h = tt_price_clamp(u.cache_write_1h, u.cache_write);
    u.reasoning = tt_price_clamp(u.reasoning, u.output);
    u.audio_input = tt_price_clamp(u.audio_input, u.input);
    u.image_input = tt_price_clamp(u.image_input, u.input - u.audio_input);
    u.audio_output = tt_price_clamp(u.audio_output, u.output);
    u.image_output = tt_price_clamp(u.image_output, u.output - u.audio_output);

    enum tt_price_tier st = tt_price_tier_of(u.service_tier);
    if (st == TT_PRICE_TIER_OTHER)
        return TT_ERR;
    if (st != TT_PRICE_TIER_STANDARD)
        return tt_price_cost_tier(p, &u, st, usd);

    /* The long-context tier is decided by the whole prompt (cache reads and
     * writes included, as input is in the span contract) and then applies
     * to every token of the call, as the providers bill it. */
    bool tier = p->tier_threshold > 0 && u.input > p->tier_threshold;
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

    /* Modalities (LiteLLM's rule: text = total - cache - audio - image, each
     * part at its own rate). Audio tokens are billed apart by every provider
     * that reports them (several times the text rate): without an audio rate
     * the call is not priced, never priced as text. Image INPUT tokens are
     * input tokens at the text rate (OpenAI vision, Gemini's "text / image /
     * video" price) unless the catalogue lists their own rate; image OUTPUT
     * tokens (image generation) have their own price or none. The table has
     * no long-context column for modalities: above the threshold a call with
     * audio or image-output tokens is not priced. */
    if ((u.audio_input > 0 && p->audio_input < 0) ||
        (u.audio_output > 0 && p->audio_output < 0) ||
        (u.image_output > 0 && p->image_output < 0))
        return TT_ERR;
    if (tier && (u.audio_input > 0 || u.audio_output > 0 || u.image_output > 0 ||
                 (u.image_input > 0 && p->image_input >= 0)))
        return TT_ERR;
    /* Cached audio (or cached image tokens with a rate of their own) has
     * its own cache price, which the catalogue does not list, and the usage
     * does not say which part of the cache read was audio: not priced. */
    if (u.cache_read > 0 && (u.audio_input > 0 || (u.image_input > 0 && p->image_input >= 0)))
        return TT_ERR;
    double ii_rate = tt_price_or(p->image_input, in_rate);

    long text_in = u.input - u.cache_read - u.cache_write - u.audio_input - u.image_input;
    if (text_in < 0)
        text_in = 0;
    long text_out = u.output - u.reasoning - u.audio_output - u.image_output;
    if (text_out < 0)
        text_out = 0;

    double usd_m = (double)text_in * in_rate +
                   (double)u.cache_read * cr_rate +
                   (double)(u.cache_write - u.cache_write_1h) * cw_rate +
                   (double)u.cache_write_1h * cw1h_rate +
                   (double)u.audio_input * tt_price_or(p->audio_input, in_rate) +
                   (double)u.image_input * ii_rate +
                   (double)text_out * out_rate +
                   (double)u.reasoning * rs_rate +
                   (double)u.audio_output * tt_price_or(p->audio_output, out_rate) +
                   (double)u.image_output * tt_price_or(p->image_output, out_rate);
    *usd = usd_m / 1e6;
    return TT_OK;
}

double tt_price_cost(const struct tt_price *p, long input, long output,
                     long cache_read, long cache_write, long cache_write_1h,
                     long reasoning)
{
    struct tt_price_usage u = {
        .input = input, .output = output, .cache_read = cache_read,
        .cache_write = cache_write, .cache_write_1h = cache_write_1h,
        .reasoning = reasoning,
    };
    double usd;

    if (!p)
        return 0.0;
    /* text at the list price: every row prices it */
    return tt_price_cost_usage(p, &u, &usd) == TT_OK ? usd : 0.0;
}

/* FNV-1a; 0 is reserved for "empty slot". */
static uint64_t tt_price_warn_hash(const char *s)
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
    uint64_t h = tt_price_warn_hash(model);

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
    return !tt_settings()->log;     /* the one TOKENTAP_LOG rule */
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

bool tt_price_span_price(const struct tt_span *span, const struct tt_price_set *ovr,
                         struct tt_price *out)
{
    enum tt_price_miss miss = TT_PRICE_NO_MODEL;
    enum tt_price_profile prof;
    bool override, hit = false;

    if (span->response_model)
        hit = tt_price_pick(ovr, span->provider, span->response_model, NULL, out,
                            &override, &miss, &prof);
    /* The request model only when the response named nothing we know: a
     * response model that two rows price differently, or a Bedrock
     * profile priced apart, must not be priced by what was asked for. */
    if (!hit && span->request_model &&
        (!span->response_model || miss == TT_PRICE_UNKNOWN || miss == TT_PRICE_NO_MODEL))
        hit = tt_price_pick(ovr, span->provider, span->request_model, NULL, out,
                            &override, &miss, &prof);
    return hit;
}

int tt_price_span_cost(const struct tt_price *p, const struct tt_span *span, double *usd)
{
    struct tt_price_usage u = {
        .input = (long)span->input_tokens, .output = (long)span->output_tokens,
        .cache_read = (long)span->cache_read_tokens,
        .cache_write = (long)span->cache_write_tokens,
        .cache_write_1h = (long)span->cache_write_1h_tokens,
        .reasoning = (long)span->reasoning_tokens,
        .audio_input = (long)span->audio_input_tokens,
        .audio_output = (long)span->audio_output_tokens,
        .image_input = (long)span->image_input_tokens,
        .image_output = (long)span->image_output_tokens,
        .service_tier = span->service_tier,
    };
    return tt_price_cost_usage(p, &u, usd);
}

void tt_price_apply_with(struct tt_span *span, const struct tt_price_set *ovr, bool warn)
{
    struct tt_price row;

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
    if (tt_price_span_price(span, ovr, &row)) {
        double usd;

        /* A row that lacks a rate this call needs (audio, a service tier):
         * cost unknown, not the text price. */
        if (tt_price_span_cost(&row, span, &usd) == TT_OK) {
            span->cost_usd = usd;
            span->cost_known = true;
        }
        return;
    }
    if (tt_price_is_local(span->provider)) {
        span->cost_known = true;
        return;
    }
    if (warn)
        tt_price_warn_unknown(span->provider,
                              span->response_model ? span->response_model
                              : span->request_model ? span->request_model
                                                    : "(none)");
}

void tt_price_apply(struct tt_span *span)
{
    if (!span)
        return;
    /* no usage and no provider-stated cost: the price file is not needed */
    if (!span->usage_known && !span->has_provider_cost) {
        span->cost_usd = 0.0;
        span->cost_known = false;
        return;
    }
    tt_price_apply_with(span, tt_price_overrides(), true);
}
