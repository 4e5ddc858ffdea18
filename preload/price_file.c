/* price_file.c - the user's price file (TOKENTAP_PRICING).
 *
 * A JSON file of negotiated rates and private models, read once per
 * process, lazily on the first priced span (never in the constructor:
 * processes that never call an LLM must not pay for it), into an immutable
 * set of struct tt_price rows that price.c matches before the built-in
 * table. A file that is not exactly right is rejected whole: a typo'd key
 * silently ignored, or half a file applied, would be a wrong bill nobody
 * notices. The error names the line, and built-in prices still apply. */
#include "price.h"
#include "settings.h"
#include "rt.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Bounds: a price file is hand-written; anything larger is a mistake. */
#define TT_PRICE_FILE_MAX (4u << 20)
#define TT_PRICE_FILE_ENTRIES_MAX 10000
#define TT_PRICE_FILE_MODEL_MAX 255

/* The price columns, by JSON key, and where they go. */
static const struct {
    const char *key;
    size_t off;
} tt_price_file_cols[] = {
    { "input", offsetof(struct tt_price, input) },
    { "output", offsetof(struct tt_price, output) },
    { "cache_read", offsetof(struct tt_price, cache_read) },
    { "cache_write", offsetof(struct tt_price, cache_write) },
    { "cache_write_1h", offsetof(struct tt_price, cache_write_1h) },
    { "reasoning", offsetof(struct tt_price, reasoning) },
    { "tier_input", offsetof(struct tt_price, tier_input) },
    { "tier_output", offsetof(struct tt_price, tier_output) },
    { "tier_cache_read", offsetof(struct tt_price, tier_cache_read) },
    { "tier_cache_write", offsetof(struct tt_price, tier_cache_write) },
    { "audio_input", offsetof(struct tt_price, audio_input) },
    { "audio_output", offsetof(struct tt_price, audio_output) },
    { "image_input", offsetof(struct tt_price, image_input) },
    { "image_output", offsetof(struct tt_price, image_output) },
    { "flex_input", offsetof(struct tt_price, flex_input) },
    { "flex_output", offsetof(struct tt_price, flex_output) },
    { "flex_cache_read", offsetof(struct tt_price, flex_cache_read) },
    { "priority_input", offsetof(struct tt_price, priority_input) },
    { "priority_output", offsetof(struct tt_price, priority_output) },
    { "priority_cache_read", offsetof(struct tt_price, priority_cache_read) },
    { "batch_input", offsetof(struct tt_price, batch_input) },
    { "batch_output", offsetof(struct tt_price, batch_output) },
};

static const char *const tt_price_file_strs[] = {
    "provider", "model", "source", "date", "tier_threshold",
};

/* Line of element `idx` of the top-level "models" array, 0 if not found.
 * Only called on text jansson has accepted, so a scanner that skips
 * strings and counts brackets and commas is exact. */
static int tt_price_file_entry_line(const char *buf, size_t len, size_t idx)
{
    int depth = 0, line = 1;
    bool in_models = false, expect = false;
    const char *key = NULL;
    size_t key_len = 0, count = 0;

    for (size_t i = 0; i < len; i++) {
        char c = buf[i];

        if (c == '\n') {
            line++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '\r')
            continue;
        if (in_models && depth == 2 && expect && c != ']') {
            if (count == idx)
                return line;
            count++;
            expect = false;
        }
        if (c == '"') {
            size_t s = ++i;

            while (i < len && buf[i] != '"')
                i += buf[i] == '\\' ? 2 : 1;
            if (depth == 1) {
                key = buf + s;
                key_len = i - s;
            }
        } else if (c == '{' || c == '[') {
            depth++;
            if (c == '[' && depth == 2 && key && key_len == 6 &&
                memcmp(key, "models", 6) == 0) {
                in_models = true;
                expect = true;
            }
        } else if (c == '}' || c == ']') {
            depth--;
            if (depth < 2)
                in_models = false;
        } else if (c == ',' && in_models && depth == 2) {
            expect = true;
        }
    }
    return 0;
}

/* Formats "PATH: line L: entry N (model "m"): msg". */
static void tt_price_file_fail(char *err, size_t errlen, const char *path,
                               const char *buf, size_t len, size_t idx,
                               const char *model, const char *msg)
{
    int line = tt_price_file_entry_line(buf, len, idx);
    char where[32] = "";

    if (line > 0)
        snprintf(where, sizeof(where), "line %d: ", line);
    if (model)
        snprintf(err, errlen, "%s: %sentry %zu (model \"%.60s\"): %s", path,
                 where, idx + 1, model, msg);
    else
        snprintf(err, errlen, "%s: %sentry %zu: %s", path, where, idx + 1, msg);
}

static char *tt_price_file_dup(const char *s)
{
    return tt_strndup(s, strlen(s));
}

void tt_price_set_free(struct tt_price_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free((char *)s->rows[i].provider);
        free((char *)s->rows[i].model);
        free((char *)s->rows[i].source);
        free((char *)s->rows[i].date);
        free((char *)s->rows[i].deprecated);
        free((char *)s->rows[i].litellm_key);
        free((char *)s->rows[i].flags);
    }
    free(s->rows);
    free(s->path);
    free(s->slots);
    free(s->snap_apart);
    free(s);
}

/* Checks one entry and fills *row (strings malloc'd). Returns NULL or the
 * message of what is wrong with it. *nomem on allocation failure. */
static const char *tt_price_file_entry(json_t *e, const char *path,
                                       struct tt_price *row, bool *nomem,
                                       char *tmp, size_t tmplen)
{
    const char *k;
    json_t *v;

    *nomem = false;
    if (!json_is_object(e))
        return "not an object";
    json_object_foreach(e, k, v) {
        bool known = false;

        for (size_t i = 0; i < sizeof(tt_price_file_cols) / sizeof(tt_price_file_cols[0]); i++)
            known = known || strcmp(k, tt_price_file_cols[i].key) == 0;
        for (size_t i = 0; i < sizeof(tt_price_file_strs) / sizeof(tt_price_file_strs[0]); i++)
            known = known || strcmp(k, tt_price_file_strs[i]) == 0;
        if (!known) {
            snprintf(tmp, tmplen, "unknown key \"%.40s\" (a misspelt price would be "
                     "silently ignored)", k);
            return tmp;
        }
    }

    json_t *model = json_object_get(e, "model");
    json_t *prov = json_object_get(e, "provider");
    json_t *src = json_object_get(e, "source");
    json_t *date = json_object_get(e, "date");
    if (!json_is_string(model) || json_string_length(model) == 0)
        return "\"model\" is missing or not a non-empty string";
    if (json_string_length(model) > TT_PRICE_FILE_MODEL_MAX)
        return "\"model\" is too long";
    if (prov && (!json_is_string(prov) || json_string_length(prov) == 0))
        return "\"provider\" is not a non-empty string (omit it for any provider)";
    if (src && !json_is_string(src))
        return "\"source\" is not a string";
    if (date && !json_is_string(date))
        return "\"date\" is not a string";

    for (size_t i = 0; i < sizeof(tt_price_file_cols) / sizeof(tt_price_file_cols[0]); i++) {
        json_t *pv = json_object_get(e, tt_price_file_cols[i].key);
        double *dst = (double *)((char *)row + tt_price_file_cols[i].off);

        *dst = -1;
        if (!pv || json_is_null(pv)) {
            if (i < 2) {
                snprintf(tmp, tmplen, "\"%s\" is required (USD per 1M tokens)",
                         tt_price_file_cols[i].key);
                return tmp;
            }
            continue;
        }
        if (!json_is_number(pv) || !isfinite(json_number_value(pv)) ||
            json_number_value(pv) < 0) {
            snprintf(tmp, tmplen, "\"%s\" must be a number >= 0 (USD per 1M tokens)",
                     tt_price_file_cols[i].key);
            return tmp;
        }
        *dst = json_number_value(pv);
    }

    json_t *thr = json_object_get(e, "tier_threshold");
    row->tier_threshold = 0;
    if (thr && !json_is_null(thr)) {
        if (!json_is_integer(thr) || json_integer_value(thr) <= 0)
            return "\"tier_threshold\" must be a positive integer (input tokens)";
        row->tier_threshold = (long)json_integer_value(thr);
    }
    bool tier_prices = row->tier_input >= 0 || row->tier_output >= 0 ||
                       row->tier_cache_read >= 0 || row->tier_cache_write >= 0;
    if (row->tier_threshold > 0 && !tier_prices)
        return "\"tier_threshold\" without any tier_* price";
    if (row->tier_threshold == 0 && tier_prices)
        return "tier_* prices without a \"tier_threshold\"";

    row->model = tt_price_file_dup(json_string_value(model));
    row->provider = tt_price_file_dup(prov ? json_string_value(prov) : "*");
    row->source = tt_price_file_dup(src ? json_string_value(src) : path);
    row->date = tt_price_file_dup(date ? json_string_value(date) : "");
    row->deprecated = tt_price_file_dup("");
    row->litellm_key = tt_price_file_dup("");
    row->flags = tt_price_file_dup("");
    if (!row->model || !row->provider || !row->source || !row->date ||
        !row->deprecated || !row->litellm_key || !row->flags)
        *nomem = true;
    return NULL;
}

/* --- LiteLLM's model_prices_and_context_window.json ---------------------- */

/* LiteLLM provider -> our OTel provider name; the same map as
 * tools/litellm_union.py, which builds the built-in catalogue, so that an
 * imported copy of the catalogue prices exactly like the built-in one.
 * Unlisted providers keep LiteLLM's name with '-' as '_'. */
static const struct {
    const char *litellm;
    const char *otel;
} tt_price_litellm_providers[] = {
    { "openai", "openai" },
    { "text-completion-openai", "openai" },
    { "anthropic", "anthropic" },
    { "gemini", "gcp.gemini" },
    { "vertex_ai", "gcp.vertex_ai" },
    { "bedrock", "aws.bedrock" },
    { "bedrock_converse", "aws.bedrock" },
    { "azure", "azure.ai.openai" },
    { "azure_text", "azure.ai.openai" },
    { "azure_ai", "azure.ai.inference" },
    { "mistral", "mistral_ai" },
    { "codestral", "codestral" },
    { "text-completion-codestral", "codestral" },
    { "groq", "groq" },
    { "deepseek", "deepseek" },
    { "xai", "x_ai" },
    { "openrouter", "openrouter" },
    { "together_ai", "together_ai" },
    { "fireworks_ai", "fireworks_ai" },
    { "fireworks_ai-embedding-models", "fireworks_ai" },
    { "perplexity", "perplexity" },
    { "cohere", "cohere" },
    { "cohere_chat", "cohere" },
    { "ollama", "ollama" },
};

static const char *const tt_price_litellm_modes[] = {
    "chat", "completion", "responses", "embedding", "realtime",
    "image_generation", "audio_transcription", "audio_speech", "moderation",
};

/* LiteLLM key (per token) -> our column (per 1M tokens). */
static const struct {
    const char *key;
    size_t off;
} tt_price_litellm_cols[] = {
    { "input_cost_per_token", offsetof(struct tt_price, input) },
    { "output_cost_per_token", offsetof(struct tt_price, output) },
    { "cache_read_input_token_cost", offsetof(struct tt_price, cache_read) },
    { "cache_creation_input_token_cost", offsetof(struct tt_price, cache_write) },
    { "cache_creation_input_token_cost_above_1hr", offsetof(struct tt_price, cache_write_1h) },
    { "output_cost_per_reasoning_token", offsetof(struct tt_price, reasoning) },
    { "input_cost_per_audio_token", offsetof(struct tt_price, audio_input) },
    { "output_cost_per_audio_token", offsetof(struct tt_price, audio_output) },
    { "input_cost_per_image_token", offsetof(struct tt_price, image_input) },
    { "output_cost_per_image_token", offsetof(struct tt_price, image_output) },
    { "input_cost_per_token_flex", offsetof(struct tt_price, flex_input) },
    { "output_cost_per_token_flex", offsetof(struct tt_price, flex_output) },
    { "cache_read_input_token_cost_flex", offsetof(struct tt_price, flex_cache_read) },
    { "input_cost_per_token_priority", offsetof(struct tt_price, priority_input) },
    { "output_cost_per_token_priority", offsetof(struct tt_price, priority_output) },
    { "cache_read_input_token_cost_priority", offsetof(struct tt_price, priority_cache_read) },
    { "input_cost_per_token_batches", offsetof(struct tt_price, batch_input) },
    { "output_cost_per_token_batches", offsetof(struct tt_price, batch_output) },
};

static const struct {
    const char *suffix;
    long threshold;
} tt_price_litellm_tiers[] = {
    { "128k", 128000 }, { "200k", 200000 }, { "256k", 256000 },
    { "272k", 272000 }, { "512k", 512000 },
};

#define TT_ARRLEN(a) (sizeof(a) / sizeof((a)[0]))

/* A per-token price at key, as USD per 1M tokens; -1 when absent. *bad
 * when present but not a number >= 0. */
static double tt_price_litellm_num(json_t *e, const char *key, bool *bad)
{
    json_t *v = json_object_get(e, key);

    if (!v || json_is_null(v))
        return -1;
    if (!json_is_number(v) || !isfinite(json_number_value(v)) ||
        json_number_value(v) < 0) {
        *bad = true;
        return -1;
    }
    /* 10 significant digits undo the binary noise of x 1e6 (3e-07 ->
     * 0.3, not 0.29999999999999999), as the generator does. */
    char buf[40];
    snprintf(buf, sizeof(buf), "%.10g", json_number_value(v) * 1e6);
    return strtod(buf, NULL);
}

static char *tt_price_litellm_provider(const char *lp)
{
    if (!*lp)
        return tt_price_file_dup("*");   /* none named: any provider, as in our JSON */
    for (size_t i = 0; i < TT_ARRLEN(tt_price_litellm_providers); i++) {
        if (strcmp(lp, tt_price_litellm_providers[i].litellm) == 0)
            return tt_price_file_dup(tt_price_litellm_providers[i].otel);
    }
    if (strncmp(lp, "vertex_ai", 9) == 0)
        return tt_price_file_dup("gcp.vertex_ai");
    char *p = tt_price_file_dup(lp);
    for (char *c = p; c && *c; c++) {
        if (*c == '-')
            *c = '_';
        else if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    }
    return p;
}

/* The id a program sends: the key without its route prefix ("gemini/",
 * "vertex_ai/", "mistral/", ...): the first path segment when it names the
 * entry's own provider. */
static const char *tt_price_litellm_model(const char *key, const char *lp)
{
    const char *slash = strchr(key, '/');

    if (!slash)
        return key;
    size_t n = (size_t)(slash - key), lpn = strlen(lp);
    size_t stem = strcspn(lp, "-");
    bool same = (n == lpn && strncmp(key, lp, n) == 0) ||
                (n == stem && strncmp(key, lp, n) == 0);
    if (!same && n == lpn) {
        same = true;   /* '-' and '_' spelt either way */
        for (size_t i = 0; i < n && same; i++) {
            char a = key[i] == '-' ? '_' : key[i], b = lp[i] == '-' ? '_' : lp[i];
            same = a == b;
        }
    }
    if (!same && strncmp(lp, "bedrock", 7) == 0 && n == 7 && strncmp(key, "bedrock", 7) == 0)
        same = true;
    if (!same && strncmp(lp, "text-completion-", 16) == 0 && n == lpn - 16 &&
        strncmp(key, lp + 16, n) == 0)
        same = true;
    if (!same && strcmp(lp, "amazon_nova") == 0 && n == 11 &&
        strncmp(key, "amazon-nova", 11) == 0)
        same = true;
    return same ? slash + 1 : key;
}

/* One LiteLLM entry -> *row. Returns 1 (a row), 0 (not priced per token:
 * skipped), or -1 with a message in tmp (a price that is not a number). */
static int tt_price_litellm_entry(const char *key, json_t *e, const char *path,
                                  struct tt_price *row, bool *nomem, char *tmp,
                                  size_t tmplen)
{
    json_t *mode = json_object_get(e, "mode");
    json_t *lp = json_object_get(e, "litellm_provider");
    bool bad = false, ok_mode = false, no_output = false;
    char src[512];

    *nomem = false;
    if (!json_is_object(e) || !json_is_string(mode) || !json_is_string(lp))
        return 0;
    for (size_t i = 0; i < TT_ARRLEN(tt_price_litellm_modes); i++)
        ok_mode = ok_mode || strcmp(json_string_value(mode), tt_price_litellm_modes[i]) == 0;
    no_output = strcmp(json_string_value(mode), "embedding") == 0 ||
                strcmp(json_string_value(mode), "moderation") == 0;
    if (!ok_mode || !json_object_get(e, "input_cost_per_token"))
        return 0;
    /* A key that is empty or only a route ("gemini/") names no model id:
     * no call could name it, so not a row. */
    if (!*tt_price_litellm_model(key, json_string_value(lp)))
        return 0;
    for (size_t i = 0; i < TT_ARRLEN(tt_price_file_cols); i++)
        *(double *)((char *)row + tt_price_file_cols[i].off) = -1;
    for (size_t i = 0; i < TT_ARRLEN(tt_price_litellm_cols); i++) {
        *(double *)((char *)row + tt_price_litellm_cols[i].off) =
            tt_price_litellm_num(e, tt_price_litellm_cols[i].key, &bad);
        if (bad) {
            snprintf(tmp, tmplen, "\"%s\": \"%.40s\" is not a number >= 0 (USD per token)",
                     key, tt_price_litellm_cols[i].key);
            return -1;
        }
    }
    if (row->cache_read < 0)
        row->cache_read = tt_price_litellm_num(e, "input_cost_per_token_cache_hit", &bad);
    if (row->input < 0 || bad)
        return 0;
    if (row->output < 0) {
        if (!no_output)
            return 0;
        row->output = 0;
    }
    row->tier_threshold = 0;
    for (size_t i = 0; i < TT_ARRLEN(tt_price_litellm_tiers); i++) {
        char k[96];
        const char *sfx = tt_price_litellm_tiers[i].suffix;

        snprintf(k, sizeof(k), "input_cost_per_token_above_%s_tokens", sfx);
        row->tier_input = tt_price_litellm_num(e, k, &bad);
        snprintf(k, sizeof(k), "output_cost_per_token_above_%s_tokens", sfx);
        row->tier_output = tt_price_litellm_num(e, k, &bad);
        if (row->tier_input < 0 && row->tier_output < 0)
            continue;
        snprintf(k, sizeof(k), "cache_read_input_token_cost_above_%s_tokens", sfx);
        row->tier_cache_read = tt_price_litellm_num(e, k, &bad);
        snprintf(k, sizeof(k), "cache_creation_input_token_cost_above_%s_tokens", sfx);
        row->tier_cache_write = tt_price_litellm_num(e, k, &bad);
        row->tier_threshold = tt_price_litellm_tiers[i].threshold;
        break;
    }
    if (bad) {
        snprintf(tmp, tmplen, "\"%s\": a long-context price is not a number >= 0", key);
        return -1;
    }
    json_t *dep = json_object_get(e, "deprecation_date");
    snprintf(src, sizeof(src), "%s (LiteLLM format)", path);
    row->provider = tt_price_litellm_provider(json_string_value(lp));
    row->model = tt_price_file_dup(tt_price_litellm_model(key, json_string_value(lp)));
    row->source = tt_price_file_dup(src);
    row->date = tt_price_file_dup("");
    row->deprecated = tt_price_file_dup(json_is_string(dep) ? json_string_value(dep) : "");
    row->litellm_key = tt_price_file_dup(key);
    row->flags = tt_price_file_dup(strcmp(json_string_value(mode), "chat") == 0
                                       ? "" : json_string_value(mode));
    if (!row->provider || !row->model || !row->source || !row->date ||
        !row->deprecated || !row->litellm_key || !row->flags)
        *nomem = true;
    return 1;
}

/* Row numbers sorted by (model, provider), case folded, then number; the
 * rows in a thread-local (qsort has no context argument). */
static __thread const struct tt_price *tt_price_tsv_sort_rows
    __attribute__((tls_model("initial-exec")));

static int tt_price_tsv_ord_cmp(const void *x, const void *y)
{
    size_t i = *(const size_t *)x, j = *(const size_t *)y;
    const struct tt_price *a = &tt_price_tsv_sort_rows[i], *b = &tt_price_tsv_sort_rows[j];
    int c = strcasecmp(a->model, b->model);

    if (!c)
        c = strcasecmp(a->provider, b->provider);
    return c ? c : (i > j) - (i < j);
}

static void tt_price_row_free_strs(struct tt_price *r)
{
    free((char *)r->provider);
    free((char *)r->model);
    free((char *)r->source);
    free((char *)r->date);
    free((char *)r->deprecated);
    free((char *)r->litellm_key);
    free((char *)r->flags);
}

/* A LiteLLM-format file: every priced entry becomes a row. Two keys that
 * name one (provider, id) ("gpt-4o" and a routed alias): the one without a
 * route prefix wins, else the first, as in the built-in catalogue. */
static int tt_price_litellm_load(json_t *root, const char *path,
                                 struct tt_price_set *s, char *err, size_t errlen)
{
    const char *key;
    json_t *e;
    char tmp[200];
    size_t cap = json_object_size(root);

    if (cap > TT_PRICE_FILE_ENTRIES_MAX) {
        snprintf(err, errlen, "%s: more than %d entries", path, TT_PRICE_FILE_ENTRIES_MAX);
        return TT_ERR_PARSE;
    }
    if (cap && !(s->rows = calloc(cap, sizeof(*s->rows)))) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TT_ERR_NOMEM;
    }
    json_object_foreach(root, key, e) {
        struct tt_price *row = &s->rows[s->n];
        bool nomem;
        int r;

        /* The template entry: not a row (nor is an entry that names no
         * model id, tt_price_litellm_entry). */
        if (strcmp(key, "sample_spec") == 0)
            continue;
        memset(row, 0, sizeof(*row));
        r = tt_price_litellm_entry(key, e, path, row, &nomem, tmp, sizeof(tmp));
        if (r < 0) {
            snprintf(err, errlen, "%s: LiteLLM entry %s", path, tmp);
            return TT_ERR_PARSE;
        }
        if (r == 0)
            continue;
        s->n++;   /* so that set_free frees this row's strings too */
        if (nomem) {
            snprintf(err, errlen, "%s: out of memory", path);
            return TT_ERR_NOMEM;
        }
    }
    /* Duplicates, found sorted (thousands of entries): of the rows of one
     * (provider, id) the first in file order whose key has no route
     * prefix is kept, else the first. */
    size_t *ord = s->n ? malloc(s->n * sizeof(*ord)) : NULL;
    if (s->n && !ord) {
        snprintf(err, errlen, "%s: out of memory", path);
        return TT_ERR_NOMEM;
    }
    for (size_t i = 0; i < s->n; i++)
        ord[i] = i;
    tt_price_tsv_sort_rows = s->rows;
    if (s->n > 1)
        qsort(ord, s->n, sizeof(*ord), tt_price_tsv_ord_cmp);
    for (size_t i = 0; i < s->n;) {
        size_t j = i + 1, keep = ord[i];

        while (j < s->n && strcasecmp(s->rows[ord[j]].model, s->rows[ord[i]].model) == 0 &&
               strcasecmp(s->rows[ord[j]].provider, s->rows[ord[i]].provider) == 0)
            j++;
        for (size_t k = i; k < j; k++) {
            if (!strchr(s->rows[ord[k]].litellm_key, '/')) {
                keep = ord[k];
                break;
            }
        }
        for (size_t k = i; k < j; k++) {
            if (ord[k] != keep) {
                tt_price_row_free_strs(&s->rows[ord[k]]);
                s->rows[ord[k]].model = NULL;   /* dropped */
            }
        }
        i = j;
    }
    free(ord);
    size_t w = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (s->rows[i].model)
            s->rows[w++] = s->rows[i];
    }
    s->n = w;
    if (s->n == 0) {
        snprintf(err, errlen, "%s: a LiteLLM-format file without any per-token price", path);
        return TT_ERR_PARSE;
    }
    return TT_OK;
}

/* --- tokentap's TSV (data/catalogue.tsv, `tokentap pricing --export`) ----- */

/* The TSV's string columns besides provider and model. */
static const char *const tt_price_tsv_strs[] = {
    "tier_threshold", "flags", "deprecated", "litellm_key", "source", "date",
};

#define TT_PRICE_TSV_COLS_MAX 64

static bool tt_price_tsv_date(const char *v)
{
    return strlen(v) == 10 && v[4] == '-' && v[7] == '-' &&
           strspn(v, "0123456789-") == 10;
}

/* One TSV cell as a price: "-" or "" = not set (-1). *bad when neither
 * that nor a finite number >= 0 (USD per 1M tokens). */
static double tt_price_tsv_num(const char *v, bool *bad)
{
    char *end;
    double d;

    if (!*v || strcmp(v, "-") == 0)
        return -1;
    errno = 0;
    d = strtod(v, &end);
    /* decimal only: strtod would also take "0x10", "inf", "nan" */
    if (*end || errno || !isfinite(d) || d < 0 || !strchr("0123456789.", v[0]) ||
        v[strspn(v, "0123456789.eE+-")]) {
        *bad = true;
        return -1;
    }
    return d;
}

/* Checks one TSV row (cells as the header names them) into *row. Returns
 * NULL or what is wrong. */
static const char *tt_price_tsv_row(char **cells, const int *col, size_t ncols,
                                    const char *path, struct tt_price *row, bool *nomem,
                                    char *tmp, size_t tmplen)
{
    const char *str[TT_ARRLEN(tt_price_tsv_strs)] = { 0 };
    const char *prov = NULL, *model = NULL;

    *nomem = false;
    for (size_t i = 0; i < TT_ARRLEN(tt_price_file_cols); i++)
        *(double *)((char *)row + tt_price_file_cols[i].off) = -1;
    for (size_t c = 0; c < ncols; c++) {
        const char *v = cells[c];
        int k = col[c];

        if (k == -1) {
            prov = v;
        } else if (k == -2) {
            model = v;
        } else if (k >= 1000) {
            str[k - 1000] = v;
        } else {
            bool bad = false;

            *(double *)((char *)row + tt_price_file_cols[k].off) = tt_price_tsv_num(v, &bad);
            if (bad) {
                snprintf(tmp, tmplen, "%s: \"%.40s\" is not a price (a number >= 0, USD "
                         "per 1M tokens, or '-')", tt_price_file_cols[k].key, v);
                return tmp;
            }
        }
    }
    if (!prov || !*prov)
        return "provider is empty (write '*' or '-' for any provider)";
    if (!model || !*model || strcmp(model, "-") == 0)
        return "model is empty";
    if (strlen(model) > TT_PRICE_FILE_MODEL_MAX)
        return "model is too long";
    if (strpbrk(model, " \"\\"))
        return "model has a blank, quote or backslash";
    if (row->input < 0 || row->output < 0)
        return "input and output prices are required (USD per 1M tokens)";
    const char *thr = str[0];
    row->tier_threshold = 0;
    if (thr && *thr && strcmp(thr, "-") != 0) {
        char *end;
        long t;

        errno = 0;
        t = strtol(thr, &end, 10);
        if (*end || errno || t <= 0 || thr[0] < '1' || thr[0] > '9')
            return "tier_threshold is not a token count (a positive integer or '-')";
        row->tier_threshold = t;
    }
    bool tier_prices = row->tier_input >= 0 || row->tier_output >= 0 ||
                       row->tier_cache_read >= 0 || row->tier_cache_write >= 0;
    if (row->tier_threshold > 0 && !tier_prices)
        return "tier_threshold without any tier_* price";
    if (row->tier_threshold == 0 && tier_prices)
        return "tier_* prices without a tier_threshold";
    for (size_t i = 2; i < TT_ARRLEN(tt_price_tsv_strs); i++) {
        if (str[i] && strcmp(str[i], "-") == 0)
            str[i] = "";
    }
    if (str[2] && *str[2] && !tt_price_tsv_date(str[2]))
        return "deprecated is not YYYY-MM-DD or '-'";
    if (str[5] && *str[5] && !tt_price_tsv_date(str[5]))
        return "date is not YYYY-MM-DD or '-'";
    row->provider = tt_price_file_dup(strcmp(prov, "-") == 0 ? "*" : prov);
    row->model = tt_price_file_dup(model);
    row->flags = tt_price_file_dup(str[1] && strcmp(str[1], "-") ? str[1] : "");
    row->deprecated = tt_price_file_dup(str[2] ? str[2] : "");
    row->litellm_key = tt_price_file_dup(str[3] ? str[3] : "");
    row->source = tt_price_file_dup(str[4] && *str[4] ? str[4] : path);
    row->date = tt_price_file_dup(str[5] ? str[5] : "");
    if (!row->model || !row->provider || !row->source || !row->date ||
        !row->deprecated || !row->litellm_key || !row->flags)
        *nomem = true;
    return NULL;
}

/* The header's columns into col[] (-1 provider, -2 model, 0.. a price
 * column of tt_price_file_cols, 1000 + i tt_price_tsv_strs[i]). NULL or
 * what is wrong. */
static const char *tt_price_tsv_header(char **cells, size_t nc, int *col, char *tmp,
                                       size_t tmplen)
{
    bool seen[4] = { false, false, false, false };   /* provider model input output */

    for (size_t c = 0; c < nc; c++) {
        int k = INT32_MIN;

        if (strcmp(cells[c], "provider") == 0)
            k = -1;
        else if (strcmp(cells[c], "model") == 0)
            k = -2;
        for (size_t i = 0; k == INT32_MIN && i < TT_ARRLEN(tt_price_file_cols); i++) {
            if (strcmp(cells[c], tt_price_file_cols[i].key) == 0)
                k = (int)i;
        }
        for (size_t i = 0; k == INT32_MIN && i < TT_ARRLEN(tt_price_tsv_strs); i++) {
            if (strcmp(cells[c], tt_price_tsv_strs[i]) == 0)
                k = 1000 + (int)i;
        }
        if (k == INT32_MIN) {
            snprintf(tmp, tmplen, "header: unknown column \"%.40s\" (a misspelt price "
                     "would be silently ignored)", cells[c]);
            return tmp;
        }
        for (size_t j = 0; j < c; j++) {
            if (col[j] == k) {
                snprintf(tmp, tmplen, "header: column \"%.40s\" twice", cells[c]);
                return tmp;
            }
        }
        col[c] = k;
        seen[0] = seen[0] || k == -1;
        seen[1] = seen[1] || k == -2;
        seen[2] = seen[2] || k == 0;
        seen[3] = seen[3] || k == 1;
    }
    if (!seen[0] || !seen[1] || !seen[2] || !seen[3])
        return "header: want at least the columns provider, model, input, output "
               "(tab-separated)";
    return NULL;
}

/* A TSV price file: '#' comment lines, a header naming the columns
 * (provider, model, input, output required; the others of
 * data/catalogue.tsv optional, in any order), one row per line, cells
 * separated by one tab, '-' = not set. buf is modified (cells cut in
 * place). Errors name the line. */
static int tt_price_tsv_load(char *buf, size_t len, const char *path,
                             struct tt_price_set *s, char *err, size_t errlen)
{
    int col[TT_PRICE_TSV_COLS_MAX];
    size_t ncols = 0, cap = 0, line = 0, header_line = 0;
    char tmp[200];
    char *p = buf, *end = buf + len, *nul = memchr(buf, '\0', len);
    size_t *lines = NULL, *ord = NULL;
    int rc = TT_ERR_PARSE;

    if (nul) {
        for (char *c = buf; c < nul; c++)
            line += *c == '\n';
        snprintf(err, errlen, "%s: line %zu: a NUL byte (not a text file)", path, line + 1);
        return TT_ERR_PARSE;
    }
    while (p < end) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        char *cells[TT_PRICE_TSV_COLS_MAX];
        size_t nc = 0;
        char *l = p;
        const char *why;

        line++;
        p = nl ? nl + 1 : end;
        *eol = '\0';   /* buf has a NUL at buf[len] (tt_price_file_read) */
        if (eol > l && eol[-1] == '\r')
            eol[-1] = '\0';
        if (!*l || *l == '#')
            continue;
        for (char *c = l;;) {
            char *tab = strchr(c, '\t');

            if (nc == TT_PRICE_TSV_COLS_MAX) {
                snprintf(err, errlen, "%s: line %zu: more than %d columns", path, line,
                         TT_PRICE_TSV_COLS_MAX);
                goto out;
            }
            cells[nc++] = c;
            if (!tab)
                break;
            *tab = '\0';
            c = tab + 1;
        }
        if (!header_line) {
            header_line = line;
            ncols = nc;
            if (nc == 1) {
                snprintf(err, errlen, "%s: line %zu: neither JSON (tokentap's {\"models\": "
                         "[...]} or LiteLLM's catalogue) nor tokentap's TSV (a header line "
                         "provider<TAB>model<TAB>input<TAB>output...)", path, line);
                goto out;
            }
            if ((why = tt_price_tsv_header(cells, nc, col, tmp, sizeof(tmp)))) {
                snprintf(err, errlen, "%s: line %zu: %s", path, line, why);
                goto out;
            }
            continue;
        }
        if (nc != ncols) {
            snprintf(err, errlen, "%s: line %zu: %zu columns, want %zu as the header on "
                     "line %zu (tab-separated)", path, line, nc, ncols, header_line);
            goto out;
        }
        if (s->n == TT_PRICE_FILE_ENTRIES_MAX) {
            snprintf(err, errlen, "%s: line %zu: more than %d rows", path, line,
                     TT_PRICE_FILE_ENTRIES_MAX);
            goto out;
        }
        if (s->n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            struct tt_price *r = realloc(s->rows, ncap * sizeof(*r));
            size_t *nl2 = NULL;

            if (r) {
                s->rows = r;
                nl2 = realloc(lines, ncap * sizeof(*lines));
            }
            if (!nl2) {
                snprintf(err, errlen, "%s: out of memory", path);
                rc = TT_ERR_NOMEM;
                goto out;
            }
            lines = nl2;
            cap = ncap;
        }
        struct tt_price *row = &s->rows[s->n];
        bool nomem;

        memset(row, 0, sizeof(*row));
        lines[s->n] = line;
        why = tt_price_tsv_row(cells, col, ncols, path, row, &nomem, tmp, sizeof(tmp));
        if (!why)
            s->n++;   /* so that set_free frees this row's strings */
        if (nomem) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = TT_ERR_NOMEM;
            goto out;
        }
        if (why) {
            const char *m = "?";

            for (size_t c = 0; c < ncols; c++)
                m = col[c] == -2 ? cells[c] : m;
            snprintf(err, errlen, "%s: line %zu (model \"%.60s\"): %s", path, line, m, why);
            goto out;
        }
    }
    if (!header_line) {
        snprintf(err, errlen, "%s: line %zu: no header line (provider<TAB>model<TAB>"
                 "input<TAB>output...)", path, line ? line : 1);
        goto out;
    }
    if (s->n == 0) {
        snprintf(err, errlen, "%s: line %zu: a header and no price rows", path, header_line);
        goto out;
    }
    /* Duplicates, found sorted (a catalogue has thousands of rows); the
     * later line is the one named. */
    if (!(ord = malloc(s->n * sizeof(*ord)))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = TT_ERR_NOMEM;
        goto out;
    }
    for (size_t i = 0; i < s->n; i++)
        ord[i] = i;
    tt_price_tsv_sort_rows = s->rows;
    qsort(ord, s->n, sizeof(*ord), tt_price_tsv_ord_cmp);
    for (size_t i = 1; i < s->n; i++) {
        const struct tt_price *a = &s->rows[ord[i - 1]], *b = &s->rows[ord[i]];

        if (strcasecmp(a->model, b->model) == 0 && strcasecmp(a->provider, b->provider) == 0) {
            snprintf(err, errlen, "%s: line %zu (model \"%.60s\"): the same provider and "
                     "model as line %zu", path, lines[ord[i]], b->model, lines[ord[i - 1]]);
            goto out;
        }
    }
    rc = TT_OK;
out:
    free(ord);
    free(lines);
    return rc;
}

/* Reads the whole file (bounded). */
static int tt_price_file_read(const char *path, char **out, size_t *len,
                              char *err, size_t errlen)
{
    /* "e": O_CLOEXEC, the traced program may exec while we read */
    FILE *f = fopen(path, "rbe");
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = TT_ERR_IO;

    *out = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return TT_ERR_IO;
    }
    /* Grown as the file is read (a hand-written file is a few hundred
     * bytes, a catalogue ~600 KB), up to one byte over the cap to tell a
     * file that is too large. */
    for (;;) {
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16384;
            char *nb;

            if (ncap > TT_PRICE_FILE_MAX + 1)
                ncap = TT_PRICE_FILE_MAX + 1;
            if (ncap == cap)
                break;   /* read MAX + 1 bytes: too large */
            if (!(nb = realloc(buf, ncap + 1))) {
                rc = TT_ERR_NOMEM;
                snprintf(err, errlen, "%s: out of memory", path);
                goto free_buf;
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + n, 1, cap - n, f);

        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        goto free_buf;
    }
    if (n > TT_PRICE_FILE_MAX) {
        rc = TT_ERR_CAP;
        snprintf(err, errlen, "%s: larger than %u bytes", path, TT_PRICE_FILE_MAX);
        goto free_buf;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    fclose(f);
    return TT_OK;
free_buf:
    free(buf);
    fclose(f);
    return rc;
}

int tt_price_set_load(const char *path, struct tt_price_set **out, char *err,
                      size_t errlen)
{
    struct tt_price_set *s = NULL;
    json_error_t jerr;
    json_t *root = NULL;
    char *buf = NULL;
    char tmp[160];
    size_t len = 0;
    int rc;

    *out = NULL;
    err[0] = '\0';
    rc = tt_price_file_read(path, &buf, &len, err, errlen);
    if (rc != TT_OK)
        return rc;
    rc = TT_ERR_PARSE;
    /* The format by content, never by name: JSON starts with '{' (after
     * blanks), anything else is read as tokentap's TSV, whose header
     * check says what a file that is neither lacks. */
    char *text = buf;
    size_t tlen = len;
    if (tlen >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
        text += 3, tlen -= 3;   /* a UTF-8 byte order mark */
    size_t lead = 0;
    while (lead < tlen && strchr(" \t\r\n", text[lead]) && text[lead])
        lead++;
    if (lead == tlen) {
        snprintf(err, errlen, "%s: line 1: empty file", path);
        goto free_buf;
    }
    if (text[lead] != '{' && text[lead] != '[') {
        rc = TT_ERR_NOMEM;
        s = calloc(1, sizeof(*s));
        if (!s || !(s->path = tt_price_file_dup(path))) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto free_set;
        }
        s->format = TT_PRICE_FMT_TSV;
        rc = tt_price_tsv_load(text, tlen, path, s, err, errlen);
        if (rc != TT_OK)
            goto free_set;
        (void)tt_price_set_index(s);   /* sorted and indexed, as below */
        *out = s;
        goto free_buf;
    }
    root = json_loadb(text, tlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "%s: line %d, column %d: %s", path, jerr.line,
                 jerr.column, jerr.text);
        goto free_buf;
    }
    json_t *models = json_object_get(root, "models");
    /* LiteLLM's catalogue: an object of entries, each with a
     * "litellm_provider" (its "sample_spec" has one too). */
    json_t *spec = json_is_object(root) ? json_object_get(root, "sample_spec") : NULL;
    bool litellm = json_is_object(root) && !models;
    if (litellm && !spec) {
        const char *k;
        json_t *v;

        litellm = false;
        json_object_foreach(root, k, v) {
            litellm = json_is_object(v) && json_object_get(v, "litellm_provider");
            break;
        }
    }
    if (litellm) {
        s = calloc(1, sizeof(*s));
        if (!s || !(s->path = tt_price_file_dup(path))) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = TT_ERR_NOMEM;
            goto free_set;
        }
        s->format = TT_PRICE_FMT_LITELLM;
        rc = tt_price_litellm_load(root, path, s, err, errlen);
        if (rc != TT_OK)
            goto free_set;
        /* sorted and indexed as the built-in table: an imported catalogue
         * has thousands of rows and is asked first on every span; without
         * the index (no memory) the lookup searches, same answers */
        (void)tt_price_set_index(s);
        *out = s;
        goto free_json;
    }
    if (!json_is_object(root) || !json_is_array(models)) {
        snprintf(err, errlen, "%s: line 1: want an object {\"models\": [ ... ]}", path);
        goto free_json;
    }
    if (json_object_size(root) != 1) {
        snprintf(err, errlen, "%s: only the key \"models\" is allowed at the top level",
                 path);
        goto free_json;
    }
    size_t n = json_array_size(models);
    if (n == 0) {
        /* As a TSV header with no rows: an error, not an empty override. */
        snprintf(err, errlen, "%s: \"models\" is empty: no price rows", path);
        goto free_json;
    }
    if (n > TT_PRICE_FILE_ENTRIES_MAX) {
        snprintf(err, errlen, "%s: more than %d entries", path, TT_PRICE_FILE_ENTRIES_MAX);
        goto free_json;
    }

    rc = TT_ERR_NOMEM;
    s = calloc(1, sizeof(*s));
    if (!s || !(s->path = tt_price_file_dup(path)) ||
        (n && !(s->rows = calloc(n, sizeof(*s->rows))))) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto free_set;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(models, i);
        json_t *m = json_is_object(e) ? json_object_get(e, "model") : NULL;
        const char *mname = json_is_string(m) ? json_string_value(m) : NULL;
        bool nomem;
        const char *why = tt_price_file_entry(e, path, &s->rows[i], &nomem, tmp,
                                              sizeof(tmp));

        s->n = i + 1;  /* so that set_free frees this row's strings too */
        if (nomem) {
            snprintf(err, errlen, "%s: out of memory", path);
            rc = TT_ERR_NOMEM;
            goto free_set;
        }
        if (!why) {
            for (size_t j = 0; j < i && !why; j++) {
                if (strcasecmp(s->rows[j].model, s->rows[i].model) == 0 &&
                    strcasecmp(s->rows[j].provider, s->rows[i].provider) == 0) {
                    snprintf(tmp, sizeof(tmp), "same provider and model as entry %zu",
                             j + 1);
                    why = tmp;
                }
            }
        }
        if (why) {
            tt_price_file_fail(err, errlen, path, buf, len, i, mname, why);
            rc = TT_ERR_PARSE;
            goto free_set;
        }
    }
    /* sorted and indexed as the built-in table: an imported catalogue
         * has thousands of rows and is asked first on every span; without
         * the index (no memory) the lookup searches, same answers */
        (void)tt_price_set_index(s);
    *out = s;
    rc = TT_OK;
    goto free_json;
free_set:
    tt_price_set_free(s);
free_json:
    json_decref(root);
free_buf:
    free(buf);
    return rc;
}

/* --- the process's overrides --------------------------------------------- */

/* State and loader in one atomic word: (pid << 2) | state, so that a
 * child forked while its parent was loading can tell the load will never
 * finish there (the loading thread was not copied) and take it over
 * without a window where the two halves disagree. No lock: none can be
 * left held across fork. */
enum { TT_PRICE_OVR_NONE = 0, TT_PRICE_OVR_LOADING = 1, TT_PRICE_OVR_DONE = 2 };
static _Atomic uint64_t tt_price_ovr_word;
static struct tt_price_set *tt_price_ovr;

int tt_price_import_path(char *buf, size_t n, enum tt_price_format f)
{
    const struct tt_settings *st = tt_settings();
    const char *xdg = st->xdg_config_home;
    const char *home = st->user_home;
    const char *name = f == TT_PRICE_FMT_TSV ? "prices.tsv" : "prices.json";
    int w;

    if (xdg && xdg[0] == '/')
        w = snprintf(buf, n, "%s/tokentap/%s", xdg, name);
    else if (home && home[0] == '/')
        w = snprintf(buf, n, "%s/.config/tokentap/%s", home, name);
    else
        return TT_ERR;
    return w > 0 && (size_t)w < n ? TT_OK : TT_ERR;
}

const char *tt_price_file_path(char *buf, size_t n)
{
    const char *env = tt_settings()->pricing;

    if (env && *env)
        return env;
    if (tt_price_import_path(buf, n, TT_PRICE_FMT_JSON) == TT_OK && access(buf, R_OK) == 0)
        return buf;
    if (tt_price_import_path(buf, n, TT_PRICE_FMT_TSV) == TT_OK && access(buf, R_OK) == 0)
        return buf;
    return NULL;
}

static void tt_price_ovr_load(void)
{
    char where[4096];
    const char *path = tt_price_file_path(where, sizeof(where));
    struct tt_price_set *s = NULL;
    char err[512];

    tt_price_ovr = NULL;
    if (!path)
        return;
    if (tt_price_set_load(path, &s, err, sizeof(err)) != TT_OK) {
        tt_log("%s: %s; the price file is ignored, built-in prices apply",
               tt_settings()->pricing && *tt_settings()->pricing
                   ? "TOKENTAP_PRICING" : "imported prices", err);
        return;
    }
    tt_price_ovr = s;
}

const struct tt_price_set *tt_price_overrides(void)
{
    for (;;) {
        uint64_t w = atomic_load_explicit(&tt_price_ovr_word, memory_order_acquire);

        if ((w & 3) == TT_PRICE_OVR_DONE)
            return tt_price_ovr;    /* every call after the first: no syscall */
        uint64_t pid = (uint64_t)getpid();
        uint64_t me = (pid << 2) | TT_PRICE_OVR_LOADING;
        if ((w & 3) == TT_PRICE_OVR_NONE || (w >> 2) != pid) {
            /* Not started, or started by a parent that forked us mid-load. */
            if (atomic_compare_exchange_strong(&tt_price_ovr_word, &w, me)) {
                tt_price_ovr_load();
                atomic_store_explicit(&tt_price_ovr_word, TT_PRICE_OVR_DONE,
                                      memory_order_release);
                return tt_price_ovr;
            }
            continue;
        }
        sched_yield();   /* another thread of ours is loading: a file read */
    }
}

void tt_price_overrides_reset(void)
{
    tt_price_set_free(tt_price_ovr);
    tt_price_ovr = NULL;
    atomic_store(&tt_price_ovr_word, TT_PRICE_OVR_NONE);
}
