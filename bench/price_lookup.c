/* price_lookup.c - how long the preload's price lookup takes (issue #12).
 *
 *   price_lookup [N]
 *
 * The lookup every priced span runs (tt_price_span_price: response model,
 * then request model; no trace text built), over the built-in catalogue of
 * ~2,700 rows, for ids that hit by each route (exact, vendor prefix, a date
 * the catalogue does not list, a Bedrock profile priced as its base, the
 * anthropic. fallback) and ids that miss (a word suffix, an unlisted
 * snapshot of a model priced per snapshot, a name nothing resembles).
 * Each id is looked up N times (default 200000); prints the mean time per
 * lookup (thread CPU time) of the hits and of the misses, and ROW lines
 * for bench/run.sh.
 *
 * Under valgrind --tool=callgrind (bench/fig_11_price_lookup.sh) the same
 * loop runs with the counters zeroed before each id and dumped after it
 * (callgrind client requests, no-ops otherwise), so the instructions per
 * lookup of every id can be read from the dumps: a count that does not
 * depend on the machine's load, unlike the times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <valgrind/callgrind.h>

#include "price.h"
#include "span.h"

struct id {
    const char *provider, *model;
    bool hit;
};

static const struct id ids[] = {
    { "openai", "gpt-4o", true },
    { "openai", "openai/gpt-4o-mini", true },
    { "anthropic", "claude-3-5-sonnet-20241022", true },
    { "anthropic", "claude-sonnet-4-6-20260301", true },
    { "aws.bedrock", "apac.anthropic.claude-3-7-sonnet-20250219-v1:0", true },
    { "aws.bedrock", "us.anthropic.claude-3-5-haiku-20241022-v1:0", true },
    { "aws.bedrock", "anthropic.claude-3-5-sonnet-20241022", true },
    { "gcp.vertex_ai", "claude-opus-4-7@20260416", true },
    { "gcp.gemini", "models/gemini-2.5-flash", true },
    { "azure.ai.openai", "gpt-4o-search-preview", true },
    { "openai", "o1-mini-foo", false },
    { "openai", "gpt-4o-realtime-preview-2099-01-01", false },
    { "anthropic", "claude-sonnet-4-5-extra", false },
    { "aws.bedrock", "apac.anthropic.claude-sonnet-4-5-20250929-v1:0", false },
    { "aws.bedrock", "eu.anthropic.claude-unknown-9-20990101-v1:0", false },
    { "openai", "totally-unknown-model-name", false },
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);   /* CPU time: the machine may be busy */
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One pass over the ids with the price set ovr (NULL: the built-in table
 * alone; else a price file in effect, asked first on every span). */
static int run(long n, const struct tt_price_set *ovr, const char *label)
{
    double t[2] = { 0, 0 }, worst[2] = { 0, 0 };
    long calls[2] = { 0, 0 };
    const char *worst_id[2] = { "", "" };
    bool vg = RUNNING_ON_VALGRIND;

    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        struct tt_span s;
        struct tt_price p;
        volatile bool sink = false;

        tt_span_init(&s);
        if (tt_span_set(&s.provider, ids[i].provider) != TT_OK ||
            tt_span_set(&s.response_model, ids[i].model) != TT_OK)
            return 1;
        if (tt_price_span_price(&s, ovr, &p) != ids[i].hit) {
            fprintf(stderr, "price_lookup: %s/%s: want %s\n", ids[i].provider,
                    ids[i].model, ids[i].hit ? "a price" : "no price");
            return 1;
        }
        if (vg) {
            /* one dump per id: "PROVIDER/MODEL hit|miss N" names it */
            char what[256];

            snprintf(what, sizeof(what), "%s%s/%s %s %ld", ovr ? "file:" : "",
                     ids[i].provider, ids[i].model, ids[i].hit ? "hit" : "miss", n);
            CALLGRIND_ZERO_STATS;
            for (long k = 0; k < n; k++)
                sink = tt_price_span_price(&s, ovr, &p) || sink;
            CALLGRIND_DUMP_STATS_AT(what);
            tt_span_clear(&s);
            continue;
        }
        double t0 = now();
        for (long k = 0; k < n; k++)
            sink = tt_price_span_price(&s, NULL, &p) || sink;
        double dt = (now() - t0) / (double)n;
        (void)sink;
        int h = ids[i].hit ? 0 : 1;
        t[h] += dt;
        calls[h]++;
        if (dt > worst[h]) {
            worst[h] = dt;
            worst_id[h] = ids[i].model;
        }
        fprintf(stderr, "price_lookup %s%-5s %-48s %.3f µs\n", ovr ? "file " : "",
                ids[i].hit ? "hit" : "miss", ids[i].model, dt * 1e6);
        tt_span_clear(&s);
    }
    if (vg)
        return 0;
    for (int h = 0; h < 2; h++) {
        double mean = t[h] / (double)calls[h];

        printf("ROW|11. price lookup%s, %s (%ld ids, mean; slowest %s %.2f µs; CPU time, "
               "noisy under load), %zu-row catalogue"
               "|—|%.2f µs|—|≤ 2 µs|%s|build/bench/price_lookup %ld  (bench/price_lookup.c)\n",
               label, h ? "miss" : "hit", calls[h], worst_id[h], worst[h] * 1e6,
               tt_price_builtin_len(), mean * 1e6, worst[h] <= 2e-6 ? "ok" : "MISSED", n);
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 200000;
    struct tt_price_set *file = NULL;
    char err[512];

    if (n <= 0)
        n = 200000;
    if (run(n, NULL, "") != 0)
        return 1;
    /* The whole catalogue as the price file in effect (an auditor's
     * imported copy): every span asks it first, then the built-in table
     * for the names it lacks (none here). */
    if (tt_price_set_load("data/catalogue.tsv", &file, err, sizeof(err)) != 0) {
        fprintf(stderr, "price_lookup: %s\n", err);
        return 1;
    }
    int rc = run(n, file, " with data/catalogue.tsv as the price file");
    tt_price_set_free(file);
    return rc;
}
