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

/* Find the price for (provider, model). provider may be NULL (any).
 * Returns the entry or NULL. */
const struct tt_price *tt_price_find(const char *provider, const char *model);

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
