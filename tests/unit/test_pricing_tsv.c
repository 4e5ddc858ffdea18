/* test_pricing_tsv.c - tokentap's TSV as a price file (TOKENTAP_PRICING,
 * `tokentap pricing --import/--diff`, `cost --as-file`, `reprice`): the
 * format of data/catalogue.tsv, told from JSON by content, every error
 * naming its line, and the catalogue itself read back to the built-in
 * table's prices. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "price.h"
#include "tt.h"

static char path[64];

static int load(const char *text, struct tt_price_set **s, char *err, size_t n)
{
    int fd, rc;

    snprintf(path, sizeof(path), "/tmp/tt-tsv-XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    rc = tt_price_set_load(path, s, err, n);
    unlink(path);
    return rc;
}

#define HEAD "provider\tmodel\tinput\toutput\n"

Test(price_tsv, rows_columns_and_unset_prices)
{
    struct tt_price_set *s = NULL;
    char err[512];

    /* comments, a subset of the columns in another order, '-' = not set,
     * '*' and '-' = any provider, CRLF line ends, a byte order mark */
    cr_assert_eq(load("\xef\xbb\xbf# negotiated, contract 42\r\n"
                      "model\tprovider\toutput\tinput\tcache_read\ttier_threshold\ttier_input"
                      "\tsource\tdate\tdeprecated\r\n"
                      "gpt-4o\topenai\t8\t2\t1\t-\t-\tcontract 42\t2026-11-01\t-\r\n"
                      "\r\n"
                      "my-model\t*\t1.5\t0.5\t-\t100000\t1\t-\t-\t2026-01-31\r\n"
                      "other-model\t-\t3\t1e-1\t-\t-\t-\t-\t-\t-\r\n",
                      &s, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(s->format, TT_PRICE_FMT_TSV);
    cr_assert_eq(s->n, 3);
    struct tt_price_match m;
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o-2024-08-06", &m), TT_OK, "%s", m.steps);
    cr_assert(m.override);
    cr_assert_float_eq(m.price->input, 2, 0);
    cr_assert_float_eq(m.price->output, 8, 0);
    cr_assert_float_eq(m.price->cache_read, 1, 0);
    cr_assert_float_eq(m.price->cache_write, -1, 0);
    cr_assert_str_eq(m.price->source, "contract 42");
    cr_assert_str_eq(m.price->date, "2026-11-01");
    cr_assert_eq(tt_price_lookup(s, "ollama", "my-model", &m), TT_OK);
    cr_assert_str_eq(m.price->provider, "*");
    cr_assert_eq(m.price->tier_threshold, 100000);
    cr_assert_float_eq(m.price->tier_input, 1, 0);
    cr_assert_str_eq(m.price->deprecated, "2026-01-31");
    cr_assert(strstr(m.price->source, "/tmp/tt-tsv-"), "%s", m.price->source);
    cr_assert_eq(tt_price_lookup(s, "groq", "other-model", &m), TT_OK);
    cr_assert_float_eq(m.price->input, 0.1, 0);
    /* what the file does not name keeps its built-in price */
    cr_assert_eq(tt_price_lookup(s, "openai", "gpt-4o-mini", &m), TT_OK);
    cr_assert_not(m.override);
    tt_price_set_free(s);
}

struct bad {
    const char *text, *want;
};

static const struct bad bad_cases[] = {
    { "", "line 1: empty file" },
    { "\n\n  \n", "empty file" },
    { "hello\n", "line 1: neither JSON" },
    { "# only a comment\n", "no header line" },
    { HEAD, "line 1: a header and no price rows" },
    { "provider\tmodel\tinput\n", "line 1: header: want at least the columns provider, "
                                  "model, input, output" },
    { "provider\tmodel\tinput\toutput\tcache_reed\n", "line 1: header: unknown column "
                                                      "\"cache_reed\"" },
    { "provider\tmodel\tinput\toutput\tinput\n", "header: column \"input\" twice" },
    { "# c\n" HEAD "openai\tm\t1\n", "line 3: 3 columns, want 4 as the header on line 2" },
    { HEAD "openai\tm\t1\t2\t3\n", "line 2: 5 columns, want 4" },
    { HEAD "openai\tm\t1\t2\nopenai\tn\t-1\t2\n", "line 3 (model \"n\"): input: \"-1\" is "
                                                 "not a price" },
    { HEAD "openai\tm\tabc\t2\n", "line 2 (model \"m\"): input: \"abc\"" },
    { HEAD "openai\tm\t1\tnan\n", "output: \"nan\"" },
    { HEAD "openai\tm\t1\tinf\n", "output: \"inf\"" },
    { HEAD "openai\tm\t1\t1e999\n", "output: \"1e999\"" },
    { HEAD "openai\tm\t1\t0x10\n", "output: \"0x10\"" },
    { HEAD "openai\tm\t1\t2 \n", "output: \"2 \"" },
    { HEAD "openai\tm\t-\t2\n", "line 2 (model \"m\"): input and output prices are required" },
    { HEAD "\tm\t1\t2\n", "provider is empty" },
    { HEAD "openai\t\t1\t2\n", "line 2 (model \"\"): model is empty" },
    { HEAD "openai\tm x\t1\t2\n", "model has a blank" },
    { HEAD "openai\tm\t1\t2\nopenai\tn\t1\t2\nopenai\tM\t3\t4\n",
      "line 4 (model \"M\"): the same provider and model as line 2" },
    { "provider\tmodel\tinput\toutput\ttier_threshold\ttier_input\n"
      "openai\tm\t1\t2\t-\t3\n", "tier_* prices without a tier_threshold" },
    { "provider\tmodel\tinput\toutput\ttier_threshold\ttier_input\n"
      "openai\tm\t1\t2\t1000\t-\n", "tier_threshold without any tier_* price" },
    { "provider\tmodel\tinput\toutput\ttier_threshold\ttier_input\n"
      "openai\tm\t1\t2\t1.5\t3\n", "tier_threshold is not a token count" },
    { "provider\tmodel\tinput\toutput\tdate\n"
      "openai\tm\t1\t2\tyesterday\n", "date is not YYYY-MM-DD" },
    { "provider\tmodel\tinput\toutput\tdeprecated\n"
      "openai\tm\t1\t2\t2026/01/01\n", "deprecated is not YYYY-MM-DD" },
    { HEAD "openai\tm\t1\t2\n\0openai\tn\t1\t2\n", "" },   /* see nul_byte below */
};

Test(price_tsv, bad_files_name_the_line)
{
    for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        struct tt_price_set *s = (struct tt_price_set *)1;
        char err[512];

        if (!bad_cases[i].want[0])
            continue;
        int rc = load(bad_cases[i].text, &s, err, sizeof(err));
        cr_expect_eq(rc, TT_ERR_PARSE, "case %zu: rc %d (%s)", i, rc, err);
        cr_expect_null(s, "case %zu", i);
        cr_expect(strstr(err, bad_cases[i].want) != NULL, "case %zu: '%s' lacks '%s'", i,
                  err, bad_cases[i].want);
        cr_expect(strstr(err, "/tmp/tt-tsv-") != NULL, "case %zu: no path in '%s'", i, err);
    }
}

/* A NUL byte: not text (and the line it is on). */
Test(price_tsv, nul_byte)
{
    static const char text[] = HEAD "openai\tm\t1\t2\n\0x\n";
    struct tt_price_set *s = NULL;
    char err[512];
    int fd;

    snprintf(path, sizeof(path), "/tmp/tt-tsv-XXXXXX");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
    close(fd);
    cr_assert_eq(tt_price_set_load(path, &s, err, sizeof(err)), TT_ERR_PARSE);
    unlink(path);
    cr_assert(strstr(err, "line 3: a NUL byte"), "%s", err);
}

/* By content, never by name: a TSV called .json and JSON called .tsv. */
Test(price_tsv, format_by_content)
{
    static const struct {
        const char *name, *text;
        enum tt_price_format want;
    } cases[] = {
        { "/tmp/tt-tsv-as.json", HEAD "openai\tm\t1\t2\n", TT_PRICE_FMT_TSV },
        { "/tmp/tt-json-as.tsv", "{\"models\": [{\"model\": \"m\", \"input\": 1, "
                                 "\"output\": 2}]}", TT_PRICE_FMT_JSON },
        { "/tmp/tt-litellm-as.tsv", "\n  {\"m\": {\"litellm_provider\": \"openai\", "
                                    "\"mode\": \"chat\", \"input_cost_per_token\": 1e-06, "
                                    "\"output_cost_per_token\": 2e-06}}",
          TT_PRICE_FMT_LITELLM },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_price_set *s = NULL;
        char err[512];
        FILE *f = fopen(cases[i].name, "w");

        cr_assert_not_null(f);
        fputs(cases[i].text, f);
        fclose(f);
        cr_expect_eq(tt_price_set_load(cases[i].name, &s, err, sizeof(err)), TT_OK,
                     "%s: %s", cases[i].name, err);
        unlink(cases[i].name);
        if (!s)
            continue;
        cr_expect_eq(s->format, cases[i].want, "%s", cases[i].name);
        cr_expect_eq(s->n, 1);
        cr_expect_float_eq(s->rows[0].input, 1, 1e-12);
        cr_expect_float_eq(s->rows[0].output, 2, 1e-12);
        tt_price_set_free(s);
    }
}

/* data/catalogue.tsv, the built-in table's own source, loads as a price
 * file and every row equals its built-in row: a TSV written in that format
 * (tokentap pricing --export) changes nothing when imported. */
Test(price_tsv, the_catalogue_reads_back_as_the_builtin_table)
{
    struct tt_price_set *s = NULL;
    char err[512];
    size_t n = tt_price_builtin_len(), same = 0;

    cr_assert_eq(tt_price_set_load("data/catalogue.tsv", &s, err, sizeof(err)), TT_OK, "%s",
                 err);
    cr_assert_eq(s->format, TT_PRICE_FMT_TSV);
    cr_assert_eq(s->n, n, "%zu rows, built in %zu", s->n, n);
    for (size_t i = 0; i < n; i++) {
        struct tt_price b;
        struct tt_price_match m;

        tt_price_builtin_row(i, &b);
        /* the set's row of the same (provider, model): exact lookup */
        cr_assert_eq(tt_price_lookup(s, b.provider, b.model, &m), TT_OK, "%s/%s", b.provider,
                     b.model);
        const struct tt_price *r = m.price;
        bool ok = m.override && strcmp(r->provider, b.provider) == 0 &&
                  strcmp(r->model, b.model) == 0 && r->tier_threshold == b.tier_threshold &&
                  strcmp(r->flags, b.flags) == 0 && strcmp(r->deprecated, b.deprecated) == 0 &&
                  strcmp(r->litellm_key, b.litellm_key) == 0 &&
                  strcmp(r->source, b.source) == 0 && strcmp(r->date, b.date) == 0;
        const double *x = &r->input, *y = &b.input;
        /* the price columns, input .. reasoning, then tier .. batch */
        ok = ok && x[0] == y[0] && x[1] == y[1] && r->cache_read == b.cache_read &&
             r->cache_write == b.cache_write && r->cache_write_1h == b.cache_write_1h &&
             r->reasoning == b.reasoning && r->tier_input == b.tier_input &&
             r->tier_output == b.tier_output && r->tier_cache_read == b.tier_cache_read &&
             r->tier_cache_write == b.tier_cache_write && r->audio_input == b.audio_input &&
             r->audio_output == b.audio_output && r->image_input == b.image_input &&
             r->image_output == b.image_output && r->flex_input == b.flex_input &&
             r->flex_output == b.flex_output && r->flex_cache_read == b.flex_cache_read &&
             r->priority_input == b.priority_input && r->priority_output == b.priority_output &&
             r->priority_cache_read == b.priority_cache_read &&
             r->batch_input == b.batch_input && r->batch_output == b.batch_output;
        cr_expect(ok, "%s/%s differs from the built-in row", b.provider, b.model);
        same += ok;
    }
    cr_assert_eq(same, n);
    tt_price_set_free(s);
}

/* Sizes around the buffer's growth steps and the 4 MiB cap: a file is read
 * whole (every row counted), one byte over the cap is refused. */
Test(price_tsv, file_sizes)
{
    static const size_t sizes[] = { 16383, 16384, 16385, 70000, 4u << 20, (4u << 20) + 1 };

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t want = sizes[k], n = 0, rows = 0;
        char *text = malloc(want + 1);
        struct tt_price_set *s = NULL;
        char err[512];
        FILE *f;

        cr_assert_not_null(text);
        n += (size_t)sprintf(text, HEAD);
        /* rows "openai\tmNNNNNNN\t1\t2\n" (22 bytes), then '#' padding */
        while (n + 22 <= want - 1 && rows < 9000) {
            n += (size_t)sprintf(text + n, "openai\tm%07zu\t1\t2\n", rows);
            rows++;
        }
        text[n++] = '#';
        while (n < want - 1)
            text[n++] = 'x';
        text[n++] = '\n';
        cr_assert_eq(n, want);
        snprintf(path, sizeof(path), "/tmp/tt-tsv-XXXXXX");
        int fd = mkstemp(path);
        cr_assert_geq(fd, 0);
        f = fdopen(fd, "w");
        cr_assert_eq(fwrite(text, 1, n, f), n);
        fclose(f);
        int rc = tt_price_set_load(path, &s, err, sizeof(err));
        unlink(path);
        free(text);
        if (want > (4u << 20)) {
            cr_expect_eq(rc, TT_ERR_CAP, "%zu bytes: %d %s", want, rc, err);
            cr_expect(strstr(err, "larger than"), "%s", err);
            continue;
        }
        cr_assert_eq(rc, TT_OK, "%zu bytes: %s", want, err);
        cr_expect_eq(s->n, rows, "%zu bytes: %zu rows, want %zu", want, s->n, rows);
        tt_price_set_free(s);
    }
}
