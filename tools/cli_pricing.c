/* cli_pricing.c - `tokentap pricing [MODEL] [--provider P] [--json]`,
 * `--diff FILE`, `--import FILE`, `--export FILE|-`.
 *
 * Answers "what would this model cost, and why" with the same lookup the
 * preload runs on every span (tt_price_lookup), including the user's price
 * file from TOKENTAP_PRICING, so what it prints is what a traced call is
 * charged. Exit status: 0 found (or the table listed), 1 no price, 2 usage. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "price.h"

static const char *const miss_names[] = {
    [TT_PRICE_HIT] = "found",
    [TT_PRICE_UNKNOWN] = "unknown",
    [TT_PRICE_AMBIGUOUS] = "ambiguous",
    [TT_PRICE_REGIONAL] = "regional",
    [TT_PRICE_NO_MODEL] = "no_model",
};

static const char *const miss_text[] = {
    [TT_PRICE_HIT] = "",
    [TT_PRICE_UNKNOWN] = "no price row matches this model (cost is reported as unknown)",
    [TT_PRICE_AMBIGUOUS] = "rows with different prices match it equally well; "
                           "no price rather than a guessed one",
    [TT_PRICE_REGIONAL] = "a Bedrock cross-region (regional) inference profile without its own price row, "
                          "for a model whose profiles the catalogue prices apart "
                          "from the base model; add it to a price file",
    [TT_PRICE_NO_MODEL] = "empty or overlong model name",
};

/* The price columns as (JSON key, value); value < 0 = not set. */
#define TT_PRICING_COLS 22
struct col {
    const char *key;
    double v;
};

static size_t price_cols(const struct tt_price *p, struct col *c)
{
    size_t n = 0;

    c[n++] = (struct col){ "input", p->input };
    c[n++] = (struct col){ "output", p->output };
    c[n++] = (struct col){ "cache_read", p->cache_read };
    c[n++] = (struct col){ "cache_write", p->cache_write };
    c[n++] = (struct col){ "cache_write_1h", p->cache_write_1h };
    c[n++] = (struct col){ "reasoning", p->reasoning };
    c[n++] = (struct col){ "tier_input", p->tier_input };
    c[n++] = (struct col){ "tier_output", p->tier_output };
    c[n++] = (struct col){ "tier_cache_read", p->tier_cache_read };
    c[n++] = (struct col){ "tier_cache_write", p->tier_cache_write };
    c[n++] = (struct col){ "audio_input", p->audio_input };
    c[n++] = (struct col){ "audio_output", p->audio_output };
    c[n++] = (struct col){ "image_input", p->image_input };
    c[n++] = (struct col){ "image_output", p->image_output };
    c[n++] = (struct col){ "flex_input", p->flex_input };
    c[n++] = (struct col){ "flex_output", p->flex_output };
    c[n++] = (struct col){ "flex_cache_read", p->flex_cache_read };
    c[n++] = (struct col){ "priority_input", p->priority_input };
    c[n++] = (struct col){ "priority_output", p->priority_output };
    c[n++] = (struct col){ "priority_cache_read", p->priority_cache_read };
    c[n++] = (struct col){ "batch_input", p->batch_input };
    c[n++] = (struct col){ "batch_output", p->batch_output };
    return n;
}

/* Fees billed per call or per request on top of tokens, for server-side
 * tools the provider runs (they are not in the usage, so never in a span's
 * cost; issue #12 leaves them out of scope and says so here). By provider,
 * for its chat/responses rows: the catalogue marks only the rows where
 * LiteLLM lists such a price (flag per_request_fee: search models,
 * Perplexity's request fee), while the tools are offered for most models. */
static const struct {
    const char *provider, *what;
} tool_fees[] = {
    { "openai", "the Responses API's built-in tools: web search per call, file "
                "search per call, code interpreter per container" },
    { "azure.ai.openai", "the built-in tools (web search, file search, code "
                         "interpreter) when a deployment uses them" },
    { "anthropic", "server tools: web search per search, code execution by "
                   "container time" },
    { "gcp.gemini", "grounding with Google Search or Maps per grounded request "
                    "beyond the free allowance" },
    { "gcp.vertex_ai", "grounding with Google Search per grounded request; Claude's "
                       "server tools (web search) per use" },
    { "x_ai", "server-side search tools per source or call" },
    { "perplexity", "a request fee by search context size" },
};

/* The per-request fees a call to row p may add, or NULL. */
static const char *fees_of(const struct tt_price *p)
{
    static const char *const not_chat[] = {
        "embedding", "moderation", "image_generation", "audio_transcription",
        "audio_speech",
    };

    if (!p->flags)
        return NULL;
    for (size_t i = 0; i < sizeof(not_chat) / sizeof(not_chat[0]); i++) {
        if (strstr(p->flags, not_chat[i]))
            return NULL;
    }
    for (size_t i = 0; i < sizeof(tool_fees) / sizeof(tool_fees[0]); i++) {
        if (strcmp(p->provider, tool_fees[i].provider) == 0)
            return tool_fees[i].what;
    }
    if (strstr(p->flags, "per_request_fee"))
        return "a per-request or per-query fee the catalogue lists for this model";
    return NULL;
}

static json_t *price_json(const struct tt_price *p, bool override, const char *file)
{
    struct col c[TT_PRICING_COLS];
    size_t n = price_cols(p, c);
    json_t *o = json_object();

    if (!o)
        return NULL;
    json_object_set_new(o, "provider", json_string(p->provider));
    json_object_set_new(o, "model", json_string(p->model));
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, c[i].key, c[i].v >= 0 ? json_real(c[i].v) : json_null());
    json_object_set_new(o, "tier_threshold",
                        p->tier_threshold > 0 ? json_integer(p->tier_threshold)
                                              : json_null());
    json_object_set_new(o, "origin", json_string(override ? "override" : "built-in"));
    json_object_set_new(o, "file", override && file ? json_string(file) : json_null());
    json_object_set_new(o, "source", json_string(p->source ? p->source : ""));
    json_object_set_new(o, "date", p->date && p->date[0] ? json_string(p->date)
                                                         : json_null());
    json_object_set_new(o, "deprecated", p->deprecated && p->deprecated[0]
                                             ? json_string(p->deprecated) : json_null());
    json_object_set_new(o, "catalogue_key", p->litellm_key && p->litellm_key[0]
                                                ? json_string(p->litellm_key) : json_null());
    json_object_set_new(o, "flags", json_string(p->flags ? p->flags : ""));
    const char *fees = fees_of(p);
    json_object_set_new(o, "fees_not_included", fees ? json_string(fees) : json_null());
    return o;
}

static void print_json(json_t *o)
{
    char *s = json_dumps(o, JSON_INDENT(2) | JSON_REAL_PRECISION(10));

    if (s) {
        fputs(s, stdout);
        fputc('\n', stdout);
        free(s);
    }
}

static void fmt_price(char *buf, size_t n, double v)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%g", v);
}

static void print_row_text(const struct tt_price *p, bool override)
{
    struct col c[TT_PRICING_COLS];
    size_t n = price_cols(p, c);
    char v[32];

    printf("%-14s %-44s", p->provider, p->model);
    for (size_t i = 0; i < 6 && i < n; i++) {
        fmt_price(v, sizeof(v), c[i].v);
        printf(" %8s", v);
    }
    if (p->tier_threshold > 0)
        printf("  >%ld: %g/%g", p->tier_threshold, p->tier_input >= 0 ? p->tier_input : p->input,
               p->tier_output >= 0 ? p->tier_output : p->output);
    if (p->deprecated && p->deprecated[0])
        printf("  deprecated %s", p->deprecated);
    printf("%s\n", override ? "  (override)" : "");
}

static int list_all(const struct tt_price_set *ovr, bool json)
{
    if (json) {
        json_t *root = json_object(), *arr = json_array();

        if (!root || !arr) {
            json_decref(root);
            json_decref(arr);
            return TT_CLI_EXIT_ERR;
        }
        for (size_t i = 0; ovr && i < ovr->n; i++)
            json_array_append_new(arr, price_json(&ovr->rows[i], true, ovr->path));
        for (size_t i = 0; i < tt_price_builtin_len(); i++) {
            struct tt_price row;

            tt_price_builtin_row(i, &row);
            json_array_append_new(arr, price_json(&row, false, NULL));
        }
        json_object_set_new(root, "unit", json_string("USD per 1M tokens"));
        json_object_set_new(root, "price_file", ovr ? json_string(ovr->path) : json_null());
        json_object_set_new(root, "prices", arr);
        print_json(root);
        json_decref(root);
        return TT_CLI_EXIT_OK;
    }
    printf("USD per 1M tokens; '-' = not set (cache prices fall back to input,\n"
           "reasoning to output); overrides first, from %s\n\n",
           ovr ? ovr->path : "(no TOKENTAP_PRICING)");
    printf("%-14s %-44s %8s %8s %8s %8s %8s %8s  %s\n", "provider", "model", "input",
           "output", "c.read", "c.write", "c.w.1h", "reason", "long context");
    for (size_t i = 0; ovr && i < ovr->n; i++)
        print_row_text(&ovr->rows[i], true);
    for (size_t i = 0; i < tt_price_builtin_len(); i++) {
        struct tt_price row;

        tt_price_builtin_row(i, &row);
        print_row_text(&row, false);
    }
    return TT_CLI_EXIT_OK;
}

/* An Azure row that costs other than OpenAI's list price for the same
 * model: LiteLLM records some Azure models at the Regional/Data Zone price
 * (+10% over Global), and the response does not say the deployment type. */
static void azure_note(const struct tt_price *p, bool override)
{
    struct tt_price_match o;

    if (override || strcmp(p->provider, "azure.ai.openai") != 0 ||
        tt_price_lookup(NULL, "openai", p->model, &o) != TT_OK)
        return;
    if (o.price->input == p->input && o.price->output == p->output)
        return;
    printf("  Azure: LiteLLM's Azure price; OpenAI's list price for %s is %g/%g (input/"
           "output). Azure bills Global deployments at that price and Regional or Data "
           "Zone ones up to 10%% above; the response does not say which: put your "
           "deployment's price in a price file\n", o.price->model, o.price->input,
           o.price->output);
}

static int explain(const struct tt_price_set *ovr, const char *provider,
                   const char *model, bool json)
{
    struct tt_price_match m;
    int rc = tt_price_lookup(ovr, provider, model, &m);

    if (json) {
        json_t *o = json_object(), *steps = json_array();

        if (!o || !steps) {
            json_decref(o);
            json_decref(steps);
            return TT_CLI_EXIT_ERR;
        }
        for (const char *s = m.steps; *s;) {
            size_t n = strcspn(s, "\n");
            size_t lead = strspn(s, " ");

            if (n > lead)
                json_array_append_new(steps, json_stringn(s + lead, n - lead));
            s += n + (s[n] == '\n');
        }
        json_object_set_new(o, "query_model", json_string(model));
        json_object_set_new(o, "query_provider", provider ? json_string(provider) : json_null());
        json_object_set_new(o, "found", json_boolean(rc == TT_OK));
        json_object_set_new(o, "reason", json_string(miss_names[m.miss]));
        json_object_set_new(o, "profile",
                            m.profile == TT_PRICE_PROFILE_OWN ? json_string("own")
                            : m.profile == TT_PRICE_PROFILE_BASE ? json_string("base")
                                                                 : json_null());
        json_object_set_new(o, "price", m.price ? price_json(m.price, m.override,
                                                             ovr ? ovr->path : NULL)
                                                : json_null());
        json_object_set_new(o, "steps", steps);
        print_json(o);
        json_decref(o);
        return rc == TT_OK ? TT_CLI_EXIT_OK : TT_CLI_EXIT_ERR;
    }
    if (rc == TT_OK) {
        const struct tt_price *p = m.price;
        struct col c[TT_PRICING_COLS];
        size_t n = price_cols(p, c);
        char v[32];

        printf("%s: %s/%s, from %s\n", model, p->provider, p->model,
               m.override ? "the price file" : "the built-in table");
        printf("  USD per 1M tokens:");
        for (size_t i = 0; i < n; i++) {
            if (c[i].v < 0)
                continue;
            fmt_price(v, sizeof(v), c[i].v);
            printf(" %s %s", c[i].key, v);
        }
        printf("\n");
        if (p->tier_threshold > 0)
            printf("  tier_* prices apply above %ld input tokens\n", p->tier_threshold);
        if (m.profile == TT_PRICE_PROFILE_OWN)
            printf("  Bedrock inference profile: the catalogue's own price for it\n");
        else if (m.profile == TT_PRICE_PROFILE_BASE)
            printf("  Bedrock inference profile: the base model's price (AWS bills "
                   "cross-region inference at the on-demand price)\n");
        if (p->deprecated && p->deprecated[0])
            printf("  deprecated: left the catalogue %s; its last known price is kept\n",
                   p->deprecated);
        const char *fees = fees_of(p);
        if (fees)
            printf("  not included: per-request fees the provider bills on top of "
                   "tokens, for %s\n", fees);
        azure_note(p, m.override);
        if (p->flags && strstr(p->flags, "non_token_input"))
            printf("  not included: input billed per image/second/character\n");
        if (m.override)
            printf("  source: %s (price file %s)\n", p->source, ovr ? ovr->path : "?");
        else
            printf("  source: %s (catalogue key %s), copy of %s\n", p->source,
                   p->litellm_key, p->date);
    } else {
        printf("%s: no price: %s\n", model, miss_text[m.miss]);
    }
    printf("how:\n%s", m.steps);
    return rc == TT_OK ? TT_CLI_EXIT_OK : TT_CLI_EXIT_ERR;
}

/* --- --export FILE ---------------------------------------------------------- */

/* The TSV's columns, data/catalogue.tsv's header in its order (the
 * generator and the loader accept any order; this one diffs against the
 * catalogue line for line). */
static const char *const tsv_head[] = {
    "provider", "model", "input", "output", "cache_read", "cache_write",
    "cache_write_1h", "reasoning", "tier_threshold", "tier_input", "tier_output",
    "tier_cache_read", "tier_cache_write", "audio_input", "audio_output", "image_input",
    "image_output", "flex_input", "flex_output", "flex_cache_read", "priority_input",
    "priority_output", "priority_cache_read", "batch_input", "batch_output", "flags",
    "deprecated", "litellm_key", "source", "date",
};

/* v with the fewest digits (15 to 17) that read back as v: "0.3", never
 * "0.29999999999999999". */
static void tsv_num(FILE *f, double v)
{
    char buf[40];

    if (v < 0) {
        fputs("-", f);
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof(buf), "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    fputs(buf, f);
}

static void tsv_str(FILE *f, const char *v)
{
    fputs(v && *v ? v : "-", f);
}

/* The built-in catalogue as tokentap's TSV: what --import, TOKENTAP_PRICING,
 * --diff and cost --as-file read back to the same prices. */
static int export_tsv(FILE *f)
{
    fprintf(f, "# tokentap prices: the built-in catalogue, written by `tokentap pricing "
               "--export`.\n"
               "# USD per 1M tokens; '-' = not set. Edit and apply with `tokentap pricing "
               "--import FILE`\n"
               "# (or TOKENTAP_PRICING=FILE); format: README.md, Prices.\n");
    for (size_t i = 0; i < sizeof(tsv_head) / sizeof(tsv_head[0]); i++)
        fprintf(f, "%s%s", i ? "\t" : "", tsv_head[i]);
    fputc('\n', f);
    for (size_t i = 0; i < tt_price_builtin_len(); i++) {
        struct tt_price p;
        struct col c[TT_PRICING_COLS];

        tt_price_builtin_row(i, &p);
        price_cols(&p, c);
        tsv_str(f, p.provider);
        fputc('\t', f);
        tsv_str(f, p.model);
        for (size_t k = 2; k < 25; k++) {
            fputc('\t', f);
            if (strcmp(tsv_head[k], "tier_threshold") == 0) {
                if (p.tier_threshold > 0)
                    fprintf(f, "%ld", p.tier_threshold);
                else
                    fputs("-", f);
                continue;
            }
            for (size_t j = 0; j < TT_PRICING_COLS; j++) {
                if (strcmp(c[j].key, tsv_head[k]) == 0)
                    tsv_num(f, c[j].v);
            }
        }
        const char *strs[] = { p.flags, p.deprecated, p.litellm_key, p.source, p.date };
        for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++) {
            fputc('\t', f);
            tsv_str(f, strs[k]);
        }
        fputc('\n', f);
    }
    return ferror(f) ? TT_ERR_IO : TT_OK;
}

/* Writes the export to path ("-": stdout) through a 0600 temporary file
 * and rename(2). */
static int export_file(const char *path)
{
    char tmp[4200];
    FILE *f;
    int fd, rc;

    if (strcmp(path, "-") == 0)
        return export_tsv(stdout) == TT_OK && fflush(stdout) == 0 ? TT_CLI_EXIT_OK
                                                                    : TT_CLI_EXIT_ERR;
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= (int)sizeof(tmp)) {
        fprintf(stderr, "tokentap pricing: %s: path too long\n", path);
        return TT_CLI_EXIT_ERR;
    }
    fd = mkstemp(tmp);
    if (fd < 0 || fchmod(fd, 0600) != 0 || !(f = fdopen(fd, "w"))) {
        fprintf(stderr, "tokentap pricing: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        return TT_CLI_EXIT_ERR;
    }
    rc = export_tsv(f);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0)
        rc = TT_ERR_IO;
    if (fclose(f) != 0)
        rc = TT_ERR_IO;
    if (rc == TT_OK && rename(tmp, path) != 0)
        rc = TT_ERR_IO;
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap pricing: cannot write %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return TT_CLI_EXIT_ERR;
    }
    fprintf(stderr, "tokentap pricing: %zu built-in prices written to %s\n",
            tt_price_builtin_len(), path);
    return TT_CLI_EXIT_OK;
}

/* --- --diff FILE / --import FILE ------------------------------------------- */

/* What one row of a price file changes against the built-in table. */
enum diff_kind { DIFF_SAME, DIFF_CHANGED, DIFF_NEW };

static bool price_eq(double a, double b)
{
    return (a < 0 && b < 0) || fabs(a - b) <= 1e-12 * fmax(1.0, fabs(a));
}

static enum diff_kind diff_row(const struct tt_price *r, struct tt_price_match *m)
{
    const char *prov = strcmp(r->provider, "*") == 0 ? NULL : r->provider;

    if (tt_price_lookup(NULL, prov, r->model, m) != TT_OK)
        return DIFF_NEW;
    struct col a[TT_PRICING_COLS], b[TT_PRICING_COLS];
    size_t n = price_cols(r, a);

    price_cols(m->price, b);
    for (size_t i = 0; i < n; i++) {
        if (!price_eq(a[i].v, b[i].v))
            return DIFF_CHANGED;
    }
    return r->tier_threshold == m->price->tier_threshold ? DIFF_SAME : DIFF_CHANGED;
}

/* Prints what FILE would change; returns the number of changed + new rows
 * in *changes. */
static int diff_file(const struct tt_price_set *f, bool json, bool quiet, size_t *changes)
{
    size_t nsame = 0, nchanged = 0, nnew = 0;
    json_t *root = json ? json_object() : NULL, *arr = json ? json_array() : NULL;

    if (json && (!root || !arr)) {
        json_decref(root);
        json_decref(arr);
        return TT_CLI_EXIT_ERR;
    }
    for (size_t i = 0; i < f->n; i++) {
        const struct tt_price *r = &f->rows[i];
        struct tt_price_match m;
        enum diff_kind k = diff_row(r, &m);

        if (k == DIFF_SAME) {
            nsame++;
            continue;
        }
        k == DIFF_NEW ? nnew++ : nchanged++;
        if (json) {
            json_t *o = json_object();

            json_object_set_new(o, "change", json_string(k == DIFF_NEW ? "new" : "changed"));
            json_object_set_new(o, "provider", json_string(r->provider));
            json_object_set_new(o, "model", json_string(r->model));
            json_object_set_new(o, "old", k == DIFF_NEW ? json_null()
                                                        : price_json(m.price, false, NULL));
            json_object_set_new(o, "new", price_json(r, true, f->path));
            json_array_append_new(arr, o);
            continue;
        }
        if (quiet)
            continue;
        if (k == DIFF_NEW) {
            printf("+ %s/%s: input %g output %g (no built-in price)\n", r->provider,
                   r->model, r->input, r->output);
            continue;
        }
        struct col a[TT_PRICING_COLS], b[TT_PRICING_COLS];
        size_t n = price_cols(r, a);
        char ov[32], nv[32];

        price_cols(m.price, b);
        printf("~ %s/%s (built-in %s/%s):", r->provider, r->model, m.price->provider,
               m.price->model);
        for (size_t j = 0; j < n; j++) {
            if (price_eq(a[j].v, b[j].v))
                continue;
            fmt_price(ov, sizeof(ov), b[j].v);
            fmt_price(nv, sizeof(nv), a[j].v);
            printf(" %s %s -> %s", a[j].key, ov, nv);
        }
        if (r->tier_threshold != m.price->tier_threshold)
            printf(" tier_threshold %ld -> %ld", m.price->tier_threshold, r->tier_threshold);
        printf("\n");
    }
    if (json) {
        json_object_set_new(root, "file", json_string(f->path));
        json_object_set_new(root, "rows", json_integer((json_int_t)f->n));
        json_object_set_new(root, "same", json_integer((json_int_t)nsame));
        json_object_set_new(root, "changed", json_integer((json_int_t)nchanged));
        json_object_set_new(root, "new", json_integer((json_int_t)nnew));
        json_object_set_new(root, "changes", arr);
        print_json(root);
        json_decref(root);
    } else {
        printf("%s: %zu price(s): %zu changed, %zu new, %zu as built in; built-in "
               "rows the file does not name keep their price\n",
               f->path, f->n, nchanged, nnew, nsame);
    }
    *changes = nchanged + nnew;
    return TT_CLI_EXIT_OK;
}

/* Copies src to dst through a 0600 temporary file and rename(2), so that
 * a process reading dst sees the old file or the new one, never half. */
static int copy_file(const char *src, const char *dst)
{
    char tmp[4200], buf[65536];
    FILE *in = fopen(src, "rb");
    int fd = -1, rc = -1;
    size_t n;

    if (!in)
        return -1;
    if (snprintf(tmp, sizeof(tmp), "%s.XXXXXX", dst) >= (int)sizeof(tmp))
        goto out;
    fd = mkstemp(tmp);
    if (fd < 0)
        goto out;
    if (fchmod(fd, 0600) != 0)
        goto out;
    while ((n = fread(buf, 1, sizeof(buf), in)) > 0) {
        if (write(fd, buf, n) != (ssize_t)n)
            goto out;
    }
    if (ferror(in) || fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    rc = rename(tmp, dst);
out:
    if (fd >= 0)
        close(fd);
    if (rc != 0 && tmp[0])
        unlink(tmp);
    fclose(in);
    return rc;
}

static int import_file(const char *file, bool json)
{
    char dst[4096], err[512], dir[4096];
    struct tt_price_set *f = NULL;
    size_t changes = 0;
    int rc;

    if (tt_price_set_load(file, &f, err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap pricing: %s; nothing imported\n", err);
        return TT_CLI_EXIT_ERR;
    }
    if (tt_price_import_path(dst, sizeof(dst), f->format) != TT_OK) {
        fprintf(stderr, "tokentap pricing: neither XDG_CONFIG_HOME nor HOME is set\n");
        tt_price_set_free(f);
        return TT_CLI_EXIT_ERR;
    }
    snprintf(dir, sizeof(dir), "%s", dst);
    for (char *sl = strchr(dir + 1, '/'); sl; sl = strchr(sl + 1, '/')) {
        *sl = '\0';
        if (mkdir(dir, 0700) != 0 && errno != EEXIST)
            break;
        *sl = '/';
    }
    rc = diff_file(f, json, true, &changes);
    if (copy_file(file, dst) != 0) {
        fprintf(stderr, "tokentap pricing: cannot write %s: %s\n", dst, strerror(errno));
        tt_price_set_free(f);
        return TT_CLI_EXIT_ERR;
    }
    /* One imported file: a TSV replaces an imported JSON and back (the
     * JSON name is looked for first). */
    char other[4096];
    if (tt_price_import_path(other, sizeof(other), f->format == TT_PRICE_FMT_TSV
                                                       ? TT_PRICE_FMT_JSON
                                                       : TT_PRICE_FMT_TSV) == TT_OK &&
        unlink(other) != 0 && errno != ENOENT)
        fprintf(stderr, "tokentap pricing: cannot remove the previous import %s: %s\n",
                other, strerror(errno));
    if (!json)
        printf("read as %s, %zu price(s)\n", f->format == TT_PRICE_FMT_TSV ? "tokentap's TSV"
                                         : f->format == TT_PRICE_FMT_LITELLM
                                             ? "LiteLLM's catalogue" : "tokentap's JSON",
               f->n);
    if (!json)
        printf("imported into %s: every traced process and tokentap command now uses it "
               "(TOKENTAP_PRICING, when set, still wins); tokentap reprice applies it to "
               "stored spans\n", dst);
    tt_price_set_free(f);
    return rc;
}

int tt_cli_pricing_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "provider", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { "import", required_argument, NULL, 'i' },
        { "diff", required_argument, NULL, 'd' },
        { "export", required_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *provider = NULL, *model = NULL, *import = NULL, *diff = NULL;
    const char *export = NULL;
    struct tt_price_set *ovr = NULL;
    bool json = false;
    int opt, rc;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":p:jh", opts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            import = optarg;
            break;
        case 'd':
            diff = optarg;
            break;
        case 'e':
            export = optarg;
            break;
        case 'p':
            provider = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'h':
            fputs(tt_cli_help("pricing"), stdout);
            return TT_CLI_EXIT_OK;
        default:
            fprintf(stderr, "tokentap pricing: %s '%s' (see tokentap pricing --help)\n",
                    opt == ':' ? "option needs a value:" : "unknown option",
                    argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        }
    }
    if (optind < argc)
        model = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "tokentap pricing: one MODEL at most (see tokentap pricing --help)\n");
        return TT_CLI_EXIT_USAGE;
    }

    if ((import || diff || export) &&
        (model || (!!import + !!diff + !!export) > 1 || (export && (json || provider)))) {
        fprintf(stderr, "tokentap pricing: --import, --diff and --export take a FILE, "
                "one at a time, and no MODEL (see tokentap pricing --help)\n");
        return TT_CLI_EXIT_USAGE;
    }
    if (export)
        return export_file(export);
    if (import)
        return import_file(import, json);
    if (diff) {
        char err[512];
        size_t changes;

        if (tt_price_set_load(diff, &ovr, err, sizeof(err)) != TT_OK) {
            fprintf(stderr, "tokentap pricing: %s\n", err);
            return TT_CLI_EXIT_ERR;
        }
        rc = diff_file(ovr, json, false, &changes);
        tt_price_set_free(ovr);
        return rc;
    }

    /* The same file the preload would read; like the preload, a bad file
     * is reported and ignored, so the answer is what a call would pay. */
    char where[4096];
    const char *path = tt_price_file_path(where, sizeof(where));
    if (path) {
        char err[512];

        if (tt_price_set_load(path, &ovr, err, sizeof(err)) != TT_OK) {
            fprintf(stderr, "tokentap pricing: price file: %s; it is ignored, built-in "
                    "prices apply\n", err);
            ovr = NULL;
        }
    }
    rc = model ? explain(ovr, provider, model, json) : list_all(ovr, json);
    tt_price_set_free(ovr);
    return rc;
}
