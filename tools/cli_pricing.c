/* cli_pricing.c - `tokentap pricing [MODEL] [--provider P] [--json]`.
 *
 * Answers "what would this model cost, and why" with the same lookup the
 * preload runs on every span (tt_price_lookup), including the user's price
 * file from TOKENTAP_PRICING, so what it prints is what a traced call is
 * charged. Exit status: 0 found (or the table listed), 1 no price, 2 usage. */
#include "cli.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

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
    [TT_PRICE_REGIONAL] = "a Bedrock regional inference profile without its own "
                          "price row (regional profiles may cost more than the base "
                          "model); add it to a price file",
    [TT_PRICE_NO_MODEL] = "empty or overlong model name",
};

/* The price columns as (JSON key, value); value < 0 = not set. */
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
    return n;
}

static json_t *price_json(const struct tt_price *p, bool override, const char *file)
{
    struct col c[12];
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
    struct col c[12];
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
        for (size_t i = 0; i < tt_price_table_len; i++)
            json_array_append_new(arr, price_json(&tt_price_table[i], false, NULL));
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
    for (size_t i = 0; i < tt_price_table_len; i++)
        print_row_text(&tt_price_table[i], false);
    return TT_CLI_EXIT_OK;
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
        struct col c[12];
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
        if (m.override)
            printf("  source: %s (price file %s)\n", p->source, ovr ? ovr->path : "?");
        else
            printf("  source: %s, read %s\n", p->source, p->date);
    } else {
        printf("%s: no price: %s\n", model, miss_text[m.miss]);
    }
    printf("how:\n%s", m.steps);
    return rc == TT_OK ? TT_CLI_EXIT_OK : TT_CLI_EXIT_ERR;
}

int tt_cli_pricing_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "provider", required_argument, NULL, 'p' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *provider = NULL, *model = NULL;
    struct tt_price_set *ovr = NULL;
    bool json = false;
    int opt, rc;

    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":p:jh", opts, NULL)) != -1) {
        switch (opt) {
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

    /* The same file the preload would read; like the preload, a bad file
     * is reported and ignored, so the answer is what a call would pay. */
    const char *path = getenv("TOKENTAP_PRICING");
    if (path && *path) {
        char err[512];

        if (tt_price_set_load(path, &ovr, err, sizeof(err)) != TT_OK) {
            fprintf(stderr, "tokentap pricing: TOKENTAP_PRICING: %s; the price file "
                    "is ignored, built-in prices apply\n", err);
            ovr = NULL;
        }
    }
    rc = model ? explain(ovr, provider, model, json) : list_all(ovr, json);
    tt_price_set_free(ovr);
    return rc;
}
