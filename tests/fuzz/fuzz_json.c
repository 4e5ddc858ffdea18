/* fuzz_json.c - the JSON member scanner and helpers (preload/json.c).
 *
 * Input: a JSON text (exact-size heap copy, no NUL). tt_json_members finds
 * the members provider parsers ask for; each slice must lie inside the
 * buffer, and a present one is parsed (tt_json_slice_parse) and copied
 * (tt_json_set_raw). When the whole text parses as an object (and holds
 * no NUL byte), the scanner must agree with jansson on which keys are
 * present. Then the
 * prefix parser (truncated request bodies) and the usage/error helpers
 * run on the result. */
#include "fuzz_common.h"

#include "json.h"

static const char *const keys[] = {
    "model", "usage", "choices", "stream", "messages", "id", "error",
    "prompt_tokens", "input_tokens", "output_tokens", "candidates",
    "usageMetadata", "temperature", "max_tokens", "top_p", "done",
    "message", "type", "delta", "content", "tools", "system", "",
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

static const struct tt_json_count_field usage_fields[] = {
    { 0, true, { "prompt_tokens", NULL } },
    { 0, false, { "input_tokens", NULL } },
    { 1, false, { "completion_tokens", NULL } },
    { 1, false, { "output_tokens", NULL } },
    { 2, false, { "prompt_tokens_details", "cached_tokens", NULL } },
    { 3, false, { "cache_creation_input_tokens", NULL } },
};

static void helpers(json_t *root)
{
    int64_t counts[4], i64;
    bool present[4];
    double d;
    char *txt = NULL;
    size_t n;

    json_t *usage = tt_json_get(root, "usage", NULL);
    (void)tt_json_counts(usage ? usage : root, usage_fields,
                         sizeof(usage_fields) / sizeof(usage_fields[0]),
                         counts, present, 4);
    for (size_t k = 0; k + 1 < NKEYS; k++) {
        json_t *v = tt_json_get(root, keys[k], NULL);
        const char *s = tt_json_str(v, &n);
        if (s)
            fz_touch(s, n);
        (void)tt_json_int64(v, &i64);
        (void)tt_json_double(v, &d);
        (void)tt_json_count(v, &i64);
        (void)tt_json_count_opt(v, &i64);
    }
    json_t *err = tt_json_get(root, "error", NULL);
    if (tt_json_error_text(err, &txt) == TT_OK) {
        fz_touch_str(txt);
        free(txt);
    }
    txt = NULL;
    if (tt_json_dump(root, &txt) == TT_OK) {
        fz_touch_str(txt);
        free(txt);
    }
    char *field = NULL;
    (void)tt_json_set_str(&field, tt_json_get(root, "model", NULL));
    free(field);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tt_json_slice out[NKEYS];
    char *buf = malloc(size ? size : 1);

    memcpy(buf, data, size);
    int rc = tt_json_members(buf, size, keys, NKEYS, out);
    if (rc != TT_OK && rc != TT_ERR_INCOMPLETE && rc != TT_ERR_PARSE)
        abort();
    for (size_t k = 0; k < NKEYS; k++) {
        if (!out[k].ptr) {
            if (out[k].len)
                abort();
            continue;
        }
        if (out[k].ptr < buf || out[k].len > size ||
            out[k].ptr + out[k].len > buf + size || !out[k].len)
            abort();
        json_t *v = NULL;
        if (tt_json_slice_parse(&out[k], &v) == TT_OK)
            json_decref(v);
        char *raw = NULL;
        if (tt_json_set_raw(&raw, &out[k]) == TT_OK && strlen(raw) != out[k].len)
            abort();
        free(raw);
    }

    /* One pass (tt_json_valid_members) is the two passes: same verdict,
     * same slices. */
    struct tt_json_slice one[NKEYS];
    bool two = rc == TT_OK && tt_json_valid(buf, size) == TT_OK;
    int vrc = tt_json_valid_members(buf, size, keys, NKEYS, one);
    if ((vrc == TT_OK) != two || (vrc != TT_OK && vrc != TT_ERR_PARSE)) {
        fprintf(stderr, "fuzz_json: one pass says %d, two passes %s\n", vrc,
                two ? "ok" : "refuse");
        abort();
    }
    for (size_t k = 0; two && k < NKEYS; k++)
        if (one[k].ptr != out[k].ptr || one[k].len != out[k].len) {
            fprintf(stderr, "fuzz_json: key '%s' sliced differently in one pass\n",
                    keys[k]);
            abort();
        }

    json_t *root = NULL;
    if (tt_json_parse(buf, size, &root) == TT_OK) {
        /* jansson stops at a NUL byte as at the end of the text; the
         * scanner calls it a problem (and keeps what came before). */
        if (json_is_object(root) && !memchr(buf, '\0', size)) {
            if (rc != TT_OK) {
                fprintf(stderr, "fuzz_json: jansson parses an object the "
                        "scanner calls broken (rc %d)\n", rc);
                abort();
            }
            for (size_t k = 0; k < NKEYS; k++)
                if (!json_object_get(root, keys[k]) != !out[k].ptr) {
                    fprintf(stderr, "fuzz_json: key '%s' %s by the scanner "
                            "only\n", keys[k], out[k].ptr ? "found" : "missed");
                    abort();
                }
        }
        helpers(root);
        json_decref(root);
    }
    root = NULL;
    rc = tt_json_parse_prefix(buf, size, &root);
    if (root) {
        helpers(root);
        json_decref(root);
    } else if (rc == TT_OK || rc == TT_ERR_INCOMPLETE) {
        abort();
    }
    free(buf);
    return 0;
}
