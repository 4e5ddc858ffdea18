/* price.h - model prices and the cost of a span.
 *
 * Prices are USD per million tokens, from the built-in catalogue generated
 * at build time from data/catalogue.tsv (LiteLLM's catalogue, the union over
 * its history, source and date per row; tools/gen_prices.py), plus the
 * user's price file (TOKENTAP_PRICING: our JSON or a LiteLLM-format JSON).
 * Lookup is provider-aware and matches the response model first, then the
 * request model: the exact id, then only normalisations that provably name
 * the same model (vendor prefixes, Bedrock -vN:M, Vertex @date, a date or
 * snapshot suffix when the dated id has no row of its own, Bedrock
 * inference profiles). No match: cost unknown, never a guessed price. */
#ifndef TT_PRICE_H
#define TT_PRICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

struct tt_price {
    const char *provider;     /* "openai", "anthropic", ... */
    const char *model;        /* canonical name as in the table */
    double input;             /* per 1M uncached input tokens */
    double output;            /* per 1M output tokens (reasoning included) */
    double cache_read;        /* per 1M cached input tokens; <0: = input */
    double cache_write;       /* per 1M cache-write tokens (5m); <0: = input */
    double cache_write_1h;    /* per 1M 1h cache-write tokens; <0: = cache_write */
    double reasoning;         /* per 1M reasoning tokens; <0: = output */
    long tier_threshold;      /* input tokens above which tier prices apply; 0 = none */
    double tier_input, tier_output, tier_cache_read, tier_cache_write;
    /* Modalities billed apart (<0: not set, billed as text). */
    double audio_input, audio_output, image_input, image_output;
    /* OpenAI service tiers (<0: not offered / not listed). */
    double flex_input, flex_output, flex_cache_read;
    double priority_input, priority_output, priority_cache_read;
    double batch_input, batch_output;
    const char *source;       /* URL or note; catalogue rows: REPO@COMMIT */
    const char *date;         /* YYYY-MM-DD the price was read */
    const char *deprecated;   /* "" or YYYY-MM-DD the model left the catalogue */
    const char *litellm_key;  /* "" or the catalogue's own key */
    const char *flags;        /* "" or comma-separated: responses, embedding,
                                 completion, per_request_fee, non_token_input */
};

/* How a Bedrock inference profile was priced (tt_price_match.profile). */
enum tt_price_profile {
    TT_PRICE_PROFILE_NONE = 0,   /* not a profile id */
    TT_PRICE_PROFILE_OWN,        /* the catalogue's own row for the profile */
    TT_PRICE_PROFILE_BASE,       /* the base model's row: billed as equal */
};

/* Find the built-in price for (provider, model). provider may be NULL
 * (any). Returns the entry or NULL (unknown or ambiguous). The entry is a
 * static copy overwritten by the next call: for tests and the CLI only,
 * not thread-safe (the hot path uses tt_price_lookup). */
const struct tt_price *tt_price_find(const char *provider, const char *model);

/* The built-in catalogue row i (0 <= i < tt_price_builtin_len()), for
 * listing. */
size_t tt_price_builtin_len(void);
void tt_price_builtin_row(size_t i, struct tt_price *out);

/* What a price file was read as (by its content, never its name). */
enum tt_price_format {
    TT_PRICE_FMT_JSON = 0,    /* tokentap's {"models": [...]} */
    TT_PRICE_FMT_LITELLM,     /* LiteLLM's model_prices_and_context_window.json */
    TT_PRICE_FMT_TSV,         /* tokentap's TSV: data/catalogue.tsv's columns */
};

/* A set of user prices (TOKENTAP_PRICING). Rows are owned by the set. */
struct tt_price_set {
    struct tt_price *rows;    /* provider "*" = any provider; sorted by
                                 lower-cased model, then provider */
    size_t n;
    char *path;               /* the file they came from */
    enum tt_price_format format;
    /* The lookup's index (tt_price_set_index; NULL: a binary search and
     * scans instead, same answers): a hash table of the distinct names
     * (first row + 1, 0 empty) and, per row, whether the model's dated
     * snapshots cost something else. */
    uint32_t *slots;
    unsigned slots_bits;
    unsigned char *snap_apart;
};

/* Builds s's index (rows already sorted as above). TT_ERR_NOMEM leaves
 * none: lookups still answer, slower. */
int tt_price_set_index(struct tt_price_set *s);

/* Why a lookup found nothing. */
enum tt_price_miss {
    TT_PRICE_HIT = 0,
    TT_PRICE_UNKNOWN,         /* no row matches any form of the name */
    TT_PRICE_AMBIGUOUS,       /* rows with different prices match equally well */
    TT_PRICE_REGIONAL,        /* Bedrock profile without its own row, for a model
                                 whose profiles the catalogue prices apart */
    TT_PRICE_NO_MODEL,        /* empty, missing or overlong name */
};

#define TT_PRICE_STEPS_MAX 1024

/* The answer of a lookup: the row, where it came from, how the name was
 * normalised to reach it (one step per line, for `tokentap pricing`). */
struct tt_price_match {
    const struct tt_price *price;   /* NULL when miss != TT_PRICE_HIT; else
                                       &row or a row of the price set */
    struct tt_price row;            /* a built-in row, copied out */
    bool override;                  /* the row is from the user's price file */
    enum tt_price_profile profile;
    enum tt_price_miss miss;
    char steps[TT_PRICE_STEPS_MAX];
};

/* Look (provider, model) up in ovr (may be NULL), then the built-in table.
 * provider NULL = any. Fills *m; returns 0 (found) or TT_ERR (m->miss says
 * why not). Never allocates. */
int tt_price_lookup(const struct tt_price_set *ovr, const char *provider,
                    const char *model, struct tt_price_match *m);

/* Load a price file (format: README.md "Prices": our JSON {"models": [...]},
 * LiteLLM's model_prices_and_context_window.json, or our TSV, told apart by
 * content). On error returns
 * TT_ERR_PARSE / TT_ERR_IO / TT_ERR_NOMEM with a one-line message naming
 * the path and, for content errors, the line ("line 7: entry 2: ...") in
 * err. *out is malloc'd; free with tt_price_set_free (NULL-safe). */
int tt_price_set_load(const char *path, struct tt_price_set **out, char *err,
                      size_t errlen) TT_WUR;
void tt_price_set_free(struct tt_price_set *s);

/* Where `tokentap pricing --import` installs a price file:
 * $XDG_CONFIG_HOME/tokentap/prices.json (or prices.tsv for a TSV file), else
 * ~/.config/tokentap/. TT_ERR when neither variable is an absolute path. */
int tt_price_import_path(char *buf, size_t n, enum tt_price_format f);
/* The price file in effect: TOKENTAP_PRICING when set, else the imported
 * file when it exists (prices.json, then prices.tsv), else NULL. buf
 * (size n) may hold the result. */
const char *tt_price_file_path(char *buf, size_t n);

/* The process's overrides from TOKENTAP_PRICING, loaded once, lazily, on
 * the first call (thread- and fork-safe). NULL when unset or malformed; a
 * malformed file is reported once through tt_log and ignored. */
const struct tt_price_set *tt_price_overrides(void);
/* Forget the loaded overrides so the next call reloads (tests only). */
void tt_price_overrides_reset(void);

/* Compute span->cost_usd and cost_known from its normalised token counts
 * (response_model first, then request_model). Spans without usage
 * (usage_known false) get cost 0, cost_known false. Unknown models log a
 * warning once per model. */
void tt_price_apply(struct tt_span *span);

/* tt_price_apply with an explicit price set (may be NULL) instead of the
 * process's overrides; warn: log unknown models (tokentap reprice: no). */
void tt_price_apply_with(struct tt_span *span, const struct tt_price_set *ovr, bool warn);
/* The price a span is charged (response model first, then request model),
 * copied to *out; false when none. */
bool tt_price_span_price(const struct tt_span *span, const struct tt_price_set *ovr,
                         struct tt_price *out);
/* tt_price_cost_usage over the span's normalised token counts, modality
 * subsets and service_tier. */
int tt_price_span_cost(const struct tt_price *p, const struct tt_span *span,
                       double *usd) TT_WUR;

/* What one call used, as in the span contract: input includes cache
 * reads/writes and audio/image input; output includes reasoning and
 * audio/image output. service_tier: NULL/"" = the list price. */
struct tt_price_usage {
    long input, output, cache_read, cache_write, cache_write_1h, reasoning;
    long audio_input, audio_output, image_input, image_output;
    const char *service_tier;
};

/* Cost of u at price p into *usd. Returns TT_OK, or TT_ERR (*usd 0) when
 * the bill needs a rate p does not list: audio tokens without an audio
 * rate, image output tokens without an image-output rate, a flex/priority/
 * batch tier without its rates (or with tokens the tier lists no rate
 * for), a tier we cannot price ("scale", unknown names). README "Prices". */
int tt_price_cost_usage(const struct tt_price *p, const struct tt_price_usage *u,
                        double *usd) TT_WUR;

/* Cost of the given text token counts at price p (tokens as in the span
 * contract: input includes cache reads/writes, output includes reasoning),
 * list-price tier. */
double tt_price_cost(const struct tt_price *p, long input, long output,
                     long cache_read, long cache_write, long cache_write_1h,
                     long reasoning);


#endif
