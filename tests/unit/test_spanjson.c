/* test_spanjson.c - exporter/spanjson.c: the JSONL object of the contract. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>

#include "span_fixture.h"
#include "spanjson.h"

Test(spanjson, full_span_embeds_json_and_types)
{
    struct tt_span s;
    struct tt_buf b;

    fx_full(&s);
    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(tt_span_to_jsonl(&s, &b), TT_OK);
    cr_assert_eq(b.data[b.len - 1], '\n');
    cr_assert_null(memchr(b.data, '\n', b.len - 1), "one line");
    json_t *o = json_loads(b.data, 0, NULL);
    cr_assert_not_null(o);
    cr_assert_eq(json_object_size(o), tt_spanfields_n, "every contract key");
    cr_assert(json_is_object(json_object_get(o, "tags")), "tags embedded, not a string");
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "tags"), "team")), "ml");
    cr_assert(json_is_array(json_object_get(o, "finish_reasons")));
    cr_assert(json_is_string(json_object_get(o, "output")), "\"Hello!\" is a JSON string");
    cr_assert_eq(json_integer_value(json_object_get(o, "start_time")), s.start_time);
    cr_assert(json_is_true(json_object_get(o, "stream")));
    cr_assert_eq(json_real_value(json_object_get(o, "cost_usd")), s.cost_usd);
    cr_assert_eq(json_integer_value(json_object_get(o, "max_tokens")), 256);
    json_decref(o);
    tt_buf_free(&b);
    tt_span_clear(&s);
}

Test(spanjson, absent_is_null)
{
    struct tt_span s;
    static const char *const nulls[] = {
        "parent_id", "name", "error", "temperature", "max_tokens", "top_p", "ttft_ms",
        "finish_reasons", "input", "output", "tool_calls", "tags", "exe",
    };

    fx_minimal(&s);
    json_t *o = tt_span_to_json(&s);
    cr_assert_not_null(o);
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        cr_assert(json_is_null(json_object_get(o, nulls[i])), "%s", nulls[i]);
    cr_assert(json_is_false(json_object_get(o, "usage_known")));
    cr_assert_eq(json_integer_value(json_object_get(o, "input_tokens")), 0);
    json_decref(o);
    tt_span_clear(&s);
}

Test(spanjson, unparsable_json_field_kept_as_string)
{
    struct tt_span s;

    fx_minimal(&s);
    fx_set(&s.input, "{not json");
    json_t *o = tt_span_to_json(&s);
    cr_assert_str_eq(json_string_value(json_object_get(o, "input")), "{not json");
    json_decref(o);
    tt_span_clear(&s);
}
