/* price.h - model prices and the cost of a span.
 *
 * Prices are USD per million tokens, from the built-in table generated at
 * build time from data/prices.tsv (source and date per row), plus user
 * overrides (TOKENTAP_PRICING, issue #4). Lookup is provider-aware and
 * matches the response model first, then the request model, each tried
 * exactly, then with a date/version suffix removed, then by longest
 * prefix. No match: cost unknown, never a guessed price. */
#ifndef TT_PRICE_H
#define TT_PRICE_H

#include <stdbool.h>
#include <stddef.h>

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
    const char *source;       /* URL or note */
    const char *date;         /* YYYY-MM-DD the price was read */
};

/* Find the built-in price for (provider, model). provider may be NULL
 * (any). Returns the entry or NULL (unknown or ambiguous). */
const struct tt_price *tt_price_find(const char *provider, const char *model);

/* A set of user prices (TOKENTAP_PRICING). Rows are owned by the set. */
struct tt_price_set {
    struct tt_price *rows;    /* provider "*" = any provider */
    size_t n;
    char *path;               /* the file they came from */
};

/* Why a lookup found nothing. */
enum tt_price_miss {
    TT_PRICE_HIT = 0,
    TT_PRICE_UNKNOWN,         /* no row matches any form of the name */
    TT_PRICE_AMBIGUOUS,       /* rows with different prices match equally well */
    TT_PRICE_REGIONAL,        /* Bedrock geo profile (us., eu., ...) without its own row */
    TT_PRICE_NO_MODEL,        /* empty, missing or overlong name */
};

#define TT_PRICE_STEPS_MAX 1024

/* The answer of a lookup: the row, where it came from, how the name was
 * normalised to reach it (one step per line, for `tokentap pricing`). */
struct tt_price_match {
    const struct tt_price *price;   /* NULL when miss != TT_PRICE_HIT */
    bool override;                  /* the row is from the user's price file */
    enum tt_price_miss miss;
    char steps[TT_PRICE_STEPS_MAX];
};

/* Look (provider, model) up in ovr (may be NULL), then the built-in table.
 * provider NULL = any. Fills *m; returns 0 (found) or TT_ERR (m->miss says
 * why not). Never allocates. */
int tt_price_lookup(const struct tt_price_set *ovr, const char *provider,
                    const char *model, struct tt_price_match *m);

/* Load a price file (format: README.md "Prices"). On error returns
 * TT_ERR_PARSE / TT_ERR_IO / TT_ERR_NOMEM with a one-line message naming
 * the path and, for content errors, the line ("line 7: entry 2: ...") in
 * err. *out is malloc'd; free with tt_price_set_free (NULL-safe). */
int tt_price_set_load(const char *path, struct tt_price_set **out, char *err,
                      size_t errlen) TT_WUR;
void tt_price_set_free(struct tt_price_set *s);

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

/* Cost of the given token counts at price p (tokens as in the span
 * contract: input includes cache reads/writes, output includes reasoning). */
double tt_price_cost(const struct tt_price *p, long input, long output,
                     long cache_read, long cache_write, long cache_write_1h,
                     long reasoning);

/* The built-in table, for `tokentap pricing` and tests. */
extern const struct tt_price tt_price_table[];
extern const size_t tt_price_table_len;

#endif
