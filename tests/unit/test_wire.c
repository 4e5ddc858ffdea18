/* test_wire.c - wire.c (encoding, reply parsing) and exporter/frame.c
 * (decoding untrusted frames), table-driven. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "frame.h"
#include "span_fixture.h"
#include "spanfield.h"
#include "wire.h"

/* ---- round trips --------------------------------------------------------- */

static void fx_unicode(struct tt_span *s)
{
    fx_full(s);
    fx_set(&s->name, "chat modèle-ü 模型 🚀");
    fx_set(&s->error, "ошибка: \"quoted\" \\ back\tslash");
    fx_set(&s->input, "[{\"role\":\"user\",\"content\":\"日本語 🚀 \\u00e9 \\n\"}]");
    fx_set(&s->output, "{\"text\":\"Ça va? 👍\"}");
    fx_set(&s->tags, "{\"ключ\":\"значение\"}");
}

static void fx_bigints(struct tt_span *s)
{
    fx_full(s);
    s->start_time = INT64_MAX - 1;
    s->end_time = INT64_MAX;
    s->input_tokens = INT64_MAX;
    s->output_tokens = (int64_t)UINT32_MAX + 1;
    s->cache_read_tokens = 0;
    s->max_tokens = INT64_MAX;
    s->pid = 4194304;
    s->http_status = 0;
    s->cost_usd = 1e300;
    s->ttft_ms = 0;            /* 0 is measured, not absent */
    s->temperature = 0;        /* present zero != absent */
}

static void fx_optional_absent(struct tt_span *s)
{
    fx_minimal(s);
}

static void fx_unicode_ids_empty_strings(struct tt_span *s)
{
    fx_minimal(s);
    fx_set(&s->name, "");       /* empty string is present, not null */
    fx_set(&s->input, "\"\"");
    fx_set(&s->finish_reasons, "[]");
    fx_set(&s->tags, "{}");
    s->parent_id[0] = '\0';
}

static const struct {
    const char *name;
    void (*make)(struct tt_span *);
} roundtrips[] = {
    { "every field set", fx_full },
    { "all optional absent", fx_optional_absent },
    { "unicode", fx_unicode },
    { "big ints and zero values", fx_bigints },
    { "empty strings and containers", fx_unicode_ids_empty_strings },
};

Test(wire, roundtrip_table)
{
    for (size_t i = 0; i < sizeof(roundtrips) / sizeof(roundtrips[0]); i++) {
        struct tt_span s;
        const struct tt_span *ps = &s;
        struct tt_buf b;
        struct tt_frame f;

        roundtrips[i].make(&s);
        tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
        cr_assert_eq(tt_wire_pack_spans(&ps, 1, 77 + i, &b), TT_OK, "%s", roundtrips[i].name);
        cr_assert_eq(tt_wire_len((unsigned char *)b.data), b.len - 4);
        int rc = tt_frame_decode(b.data + 4, b.len - 4, &f);
        cr_assert_eq(rc, TT_OK, "%s: %s", roundtrips[i].name, f.error);
        cr_assert_eq(f.type, TT_FRAME_SPANS);
        cr_assert_eq(f.chunk, 77 + i);
        cr_assert_eq(f.rejected, 0, "%s: %s", roundtrips[i].name, f.error);
        cr_assert_eq(f.nspans, 1);
        fx_assert_eq(&s, &f.spans[0]);
        tt_frame_clear(&f);
        tt_buf_free(&b);
        tt_span_clear(&s);
    }
}

Test(wire, many_spans_one_frame_and_absent_optionals)
{
    struct tt_span s[50];
    const struct tt_span *ps[50];
    struct tt_buf b;
    struct tt_frame f;

    for (int i = 0; i < 50; i++) {
        fx_full(&s[i]);
        tt_span_rand_hex(s[i].span_id, 8);
        s[i].has_temperature = (i % 2) == 0;
        s[i].ttft_ms = (i % 3) ? -1 : i;
        ps[i] = &s[i];
    }
    tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
    cr_assert_eq(tt_wire_pack_spans(ps, 50, 1, &b), TT_OK);
    cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK);
    cr_assert_eq(f.nspans, 50);
    for (int i = 0; i < 50; i++) {
        fx_assert_eq(&s[i], &f.spans[i]);
        cr_assert_eq(f.spans[i].has_temperature, (i % 2) == 0);
        tt_span_clear(&s[i]);
    }
    tt_frame_clear(&f);
    tt_buf_free(&b);
}

Test(wire, control_frames)
{
    static const struct { const char *t; enum tt_frame_type want; } cases[] = {
        { "sync", TT_FRAME_SYNC }, { "hello", TT_FRAME_HELLO }, { "stop", TT_FRAME_STOP },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_buf b;
        struct tt_frame f;
        tt_buf_init(&b, 1024);
        cr_assert_eq(tt_wire_pack_ctl(cases[i].t, &b), TT_OK);
        cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK, "%s", cases[i].t);
        cr_assert_eq(f.type, cases[i].want);
        tt_frame_clear(&f);
        tt_buf_free(&b);
    }
}

Test(wire, count_frame_roundtrip_and_refusals)
{
    struct tt_wire_count c = {
        .proc = "0123456789abcdef", .pid = 4242, .exe = "/usr/bin/python3.11",
        .lost = 7, .sampled_out = UINT64_MAX, .reason = "spool not writable",
    };
    struct tt_buf b;
    struct tt_frame f;

    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(tt_wire_pack_count(&c, 99, &b), TT_OK);
    cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK, "%s", f.error);
    cr_assert_eq(f.type, TT_FRAME_COUNT);
    cr_assert_eq(f.chunk, 99);
    cr_assert_str_eq(f.count.proc_id, "0123456789abcdef");
    cr_assert_eq(f.count.pid, 4242);
    cr_assert_str_eq(f.count.exe, "/usr/bin/python3.11");
    cr_assert_eq(f.count.lost, 7);
    cr_assert_eq(f.count.sampled_out, UINT64_MAX);
    cr_assert_str_eq(f.count.reason, "spool not writable");
    tt_frame_clear(&f);
    cr_assert_null(f.count.exe);
    /* absent exe and reason */
    c.exe = NULL;
    c.reason = NULL;
    tt_buf_reset(&b);
    cr_assert_eq(tt_wire_pack_count(&c, 1, &b), TT_OK);
    cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK);
    cr_assert_null(f.count.exe);
    cr_assert_str_eq(f.count.reason, "");
    tt_frame_clear(&f);
    /* a process id that is not hex, or none, refuses the frame */
    static const char *const bad_proc[] = { "XYZ", "", "0123456789abcdef0123456789abcdef0" };
    for (size_t i = 0; i < 3; i++) {
        c.proc = bad_proc[i];
        tt_buf_reset(&b);
        int rc = tt_wire_pack_count(&c, 1, &b);
        if (rc != TT_OK) {
            cr_assert_str_eq(bad_proc[i], "");      /* the packer refuses "" */
            continue;
        }
        cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_ERR_PARSE, "case %zu", i);
        cr_assert(strstr(f.error, "proc") != NULL, "%s", f.error);
        tt_frame_clear(&f);
    }
    tt_buf_free(&b);
}

Test(wire, pack_over_cap_rolls_back)
{
    struct tt_span s;
    const struct tt_span *ps = &s;
    struct tt_buf b;

    fx_full(&s);
    tt_buf_init(&b, 200);   /* a full span needs ~1 KiB */
    cr_assert_eq(tt_buf_append(&b, "abc", 3), TT_OK);
    cr_assert_neq(tt_wire_pack_spans(&ps, 1, 1, &b), TT_OK);
    cr_assert_eq(b.len, 3, "a failed pack must leave the buffer as it was");
    cr_assert_str_eq(b.data, "abc");
    cr_assert_eq(b.truncated, false);
    tt_buf_free(&b);
    tt_span_clear(&s);
}

/* A span with content is packed into one allocation (tt_buf_reserve from
 * its content's size), not a doubling series from 256 bytes; the
 * reservation stays within the buffer's max. */
Test(wire, a_span_with_content_is_packed_in_one_allocation)
{
    struct tt_span s;
    const struct tt_span *ps = &s;
    struct tt_buf b;
    char *big = malloc(15001);

    cr_assert_not_null(big);
    memset(big, 'x', 15000);
    big[0] = '"';
    big[14999] = '"';
    big[15000] = '\0';
    fx_full(&s);
    cr_assert_eq(tt_span_set(&s.input, big), TT_OK);
    tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
    cr_assert_eq(tt_buf_append(&b, "abc", 3), TT_OK);
    size_t need = 2048 + strlen(s.input) + (s.output ? strlen(s.output) : 0) +
                  (s.tool_calls ? strlen(s.tool_calls) : 0);
    cr_assert_eq(tt_wire_pack_spans(&ps, 1, 1, &b), TT_OK);
    cr_assert_gt(b.len, 15000);
    cr_assert_eq(b.cap, 3 + need + 1, "cap %zu: the frame grew past its reservation", b.cap);

    struct tt_frame f;
    cr_assert_eq(tt_frame_decode(b.data + 3 + 4, b.len - 3 - 4, &f), TT_OK);
    cr_assert_str_eq(f.spans[0].input, big);
    tt_frame_clear(&f);
    tt_buf_free(&b);

    /* Never past max; an empty buffer it reserved holds "". */
    tt_buf_init(&b, 100);
    cr_assert_eq(tt_buf_reserve(&b, 1u << 20), TT_OK);
    cr_assert_eq(b.cap, 101);
    cr_assert_str_eq(b.data, "");
    tt_buf_free(&b);
    tt_span_clear(&s);
    free(big);
}

Test(wire, preload_object_needs_no_libmsgpackc)
{
    /* The preload must not link libmsgpackc: wire.o may only use inline
     * packers. Checked on a fresh PIC object of wire.c. */
    int rc = system("cc -std=c11 -D_GNU_SOURCE -Ipreload -fPIC -fvisibility=hidden -c "
                    "preload/wire.c -o /tmp/tt_test_wire.o 2>/dev/null && "
                    "! nm -u /tmp/tt_test_wire.o | grep -q msgpack_");
    if (rc == -1 || WEXITSTATUS(rc) == 127)
        cr_skip_test("no compiler");
    cr_assert_eq(rc, 0, "wire.o references a libmsgpackc symbol (or did not build)");
}

Test(wire, reply_roundtrip)
{
    struct tt_buf b;
    struct tt_wire_reply r;
    struct tt_frame_kv kv[] = {
        { .key = "chunk", .type = TT_KV_U64, .u = UINT64_MAX },
        { .key = "stored", .type = TT_KV_U64, .u = 3 },
        { .key = "rejected", .type = TT_KV_U64, .u = 1 },
        { .key = "error", .type = TT_KV_STR, .s = "ignored by the parser" },
        { .key = "retry", .type = TT_KV_BOOL, .b = true },
    };

    tt_buf_init(&b, 4096);
    cr_assert_eq(tt_frame_pack_reply(&b, "nack", kv, 5), TT_OK);
    cr_assert_eq(tt_wire_len((unsigned char *)b.data), b.len - 4);
    cr_assert_eq(tt_wire_parse_reply((unsigned char *)b.data + 4, b.len - 4, &r), TT_OK);
    cr_assert_str_eq(r.t, "nack");
    cr_assert_eq(r.chunk, UINT64_MAX);
    cr_assert_eq(r.stored, 3);
    cr_assert_eq(r.rejected, 1);
    cr_assert(r.retry);
    /* Every truncation is reported, never read past. */
    for (size_t n = 0; n < b.len - 4; n++)
        cr_assert_neq(tt_wire_parse_reply((unsigned char *)b.data + 4, n, &r), TT_OK, "n=%zu", n);
    tt_buf_free(&b);
}

/* ---- malformed spans: one field mutated ---------------------------------- */

typedef void (*fx_val)(msgpack_packer *);

static void v_int(msgpack_packer *pk) { msgpack_pack_int(pk, 5); }
static void v_nil(msgpack_packer *pk) { msgpack_pack_nil(pk); }
static void v_true(msgpack_packer *pk) { msgpack_pack_true(pk); }
static void v_arr(msgpack_packer *pk) { msgpack_pack_array(pk, 0); }
static void v_neg(msgpack_packer *pk) { msgpack_pack_int64(pk, -1); }
static void v_u64max(msgpack_packer *pk) { msgpack_pack_uint64(pk, UINT64_MAX); }
static void v_nan(msgpack_packer *pk) { msgpack_pack_double(pk, NAN); }
static void v_inf(msgpack_packer *pk) { msgpack_pack_double(pk, INFINITY); }
static void v_dbl(msgpack_packer *pk) { msgpack_pack_double(pk, 1.5); }
static void v_bin(msgpack_packer *pk) { msgpack_pack_bin_with_body(pk, "abc", 3); }
static void s(msgpack_packer *pk, const char *p, size_t n) { msgpack_pack_str_with_body(pk, p, n); }
static void v_id_upper(msgpack_packer *pk) { s(pk, "B7AD6B7169203331", 16); }
static void v_id_short(msgpack_packer *pk) { s(pk, "b7ad", 4); }
static void v_id_zero(msgpack_packer *pk) { s(pk, "0000000000000000", 16); }
static void v_id_nonhex(msgpack_packer *pk) { s(pk, "b7ad6b71692033zz", 16); }
static void v_id_nul(msgpack_packer *pk) { s(pk, "b7ad6b71\0" "9203331", 16); }
static void v_nul(msgpack_packer *pk) { s(pk, "gpt\0evil", 8); }
static void v_bad_utf8(msgpack_packer *pk) { s(pk, "\xff\xfe", 2); }
static void v_overlong(msgpack_packer *pk) { s(pk, "\xc0\xaf", 2); }
static void v_surrogate(msgpack_packer *pk) { s(pk, "\xed\xa0\x80", 3); }
static void v_cut_utf8(msgpack_packer *pk) { s(pk, "caf\xc3", 4); }
static void v_not_json(msgpack_packer *pk) { s(pk, "{bad", 4); }
static void v_json_trailing(msgpack_packer *pk) { s(pk, "[] []", 5); }
static void v_json_array(msgpack_packer *pk) { s(pk, "[1]", 3); }
static void v_json_object(msgpack_packer *pk) { s(pk, "{}", 2); }
static void v_kind_bad(msgpack_packer *pk) { s(pk, "banana", 6); }
static void v_status_bad(msgpack_packer *pk) { s(pk, "OK", 2); }
static void v_json_str(msgpack_packer *pk) { s(pk, "\"just text\"", 11); }
static void v_cut_json(msgpack_packer *pk) { s(pk, "[tru", 4); }
static void v_json_u0000(msgpack_packer *pk) { s(pk, "[\"a\\u0000b\"]", 12); }
/* JSON whose strings hold bytes >= 0x80: the fast JSON check reads their
 * UTF-8 itself (valid: kept; invalid, even inside a string: refused or
 * repaired as any invalid UTF-8). */
static void v_json_utf8(msgpack_packer *pk) { s(pk, "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]", 18); }
static void v_json_bad_utf8(msgpack_packer *pk) { s(pk, "[\"a\xff" "b\"]", 6); }
static void v_json_surrogate(msgpack_packer *pk) { s(pk, "[\"\xed\xa0\x80\"]", 7); }
static void v_json_obj_bad_utf8(msgpack_packer *pk) { s(pk, "{\"k\xc3\":1}", 8); }
static void v_long(msgpack_packer *pk)
{
    size_t n = TT_FRAME_MAX_STR + 1;
    char *p = malloc(n);
    memset(p, 'a', n);
    s(pk, p, n);
    free(p);
}
static void v_future(msgpack_packer *pk)
{
    msgpack_pack_map(pk, 1);
    s(pk, "x", 1);
    msgpack_pack_array(pk, 2);
    msgpack_pack_nil(pk);
    msgpack_pack_true(pk);
}

/* Pack one spans frame holding fx_full() with `key` replaced by val()
 * (val NULL: key omitted; key not in the table: key added). */
static void pack_mutated(msgpack_sbuffer *sb, const char *key, fx_val val)
{
    msgpack_packer pk;
    struct tt_span sp;
    struct tt_buf tmp;
    const struct tt_span *ps = &sp;
    bool known = tt_sf_find(key, strlen(key)) != NULL;
    struct tt_frame f;

    /* Start from what the real encoder produces, decoded back. */
    fx_full(&sp);
    tt_buf_init(&tmp, TT_WIRE_MAX_FRAME + 4);
    cr_assert_eq(tt_wire_pack_spans(&ps, 1, 9, &tmp), TT_OK);
    cr_assert_eq(tt_frame_decode(tmp.data + 4, tmp.len - 4, &f), TT_OK);
    tt_buf_free(&tmp);

    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    s(&pk, "t", 1); s(&pk, "spans", 5);
    s(&pk, "v", 1); msgpack_pack_int(&pk, 1);
    s(&pk, "chunk", 5); msgpack_pack_uint64(&pk, 9);
    s(&pk, "spans", 5); msgpack_pack_array(&pk, 2);
    /* span 0: mutated; span 1: intact, must survive */
    size_t n = tt_spanfields_n + (known ? (val ? 0 : (size_t)-1) : 1);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *fl = &tt_spanfields[i];
        if (strcmp(fl->name, key) == 0) {
            if (val) {
                s(&pk, fl->name, strlen(fl->name));
                val(&pk);
            }
            continue;
        }
        s(&pk, fl->name, strlen(fl->name));
        switch (fl->type) {
        case TT_SF_ID: s(&pk, tt_sf_cid(&sp, fl), strlen(tt_sf_cid(&sp, fl))); break;
        case TT_SF_STR:
        case TT_SF_JSON: s(&pk, tt_sf_str(&sp, fl), strlen(tt_sf_str(&sp, fl))); break;
        case TT_SF_I64:
        case TT_SF_OPT_I64: msgpack_pack_int64(&pk, tt_sf_i64(&sp, fl)); break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS: msgpack_pack_double(&pk, tt_sf_f64(&sp, fl)); break;
        case TT_SF_BOOL:
            if (tt_sf_bool(&sp, fl->off))
                msgpack_pack_true(&pk);
            else
                msgpack_pack_false(&pk);
            break;
        }
    }
    if (!known) {
        s(&pk, key, strlen(key));
        val(&pk);
    }
    /* span 1: ids and times only, no kind/status: always rejected. It
     * proves that one bad span does not take the frame down with it. */
    msgpack_pack_map(&pk, 4);
    s(&pk, "span_id", 7); s(&pk, "1111111111111111", 16);
    s(&pk, "trace_id", 8); s(&pk, "22222222222222222222222222222222", 32);
    s(&pk, "start_time", 10); msgpack_pack_int(&pk, 1);
    s(&pk, "end_time", 8); msgpack_pack_int(&pk, 2);
    tt_frame_clear(&f);
    tt_span_clear(&sp);
}

static const struct {
    const char *key;
    fx_val val;       /* NULL: omit the key */
    bool accepted;    /* the mutated span is still valid */
} mutations[] = {
    { "span_id", NULL, false },
    { "trace_id", NULL, false },
    { "kind", NULL, false },
    { "status", NULL, false },
    { "start_time", NULL, false },
    { "end_time", NULL, false },
    { "span_id", v_nil, false },
    { "span_id", v_int, false },
    { "span_id", v_id_upper, false },
    { "span_id", v_id_short, false },
    { "span_id", v_id_zero, false },
    { "span_id", v_id_nonhex, false },
    { "span_id", v_id_nul, false },
    { "parent_id", v_id_short, false },
    { "trace_id", v_id_upper, false },
    { "kind", v_kind_bad, false },
    { "kind", v_int, false },
    { "status", v_status_bad, false },
    { "start_time", v_dbl, false },
    { "start_time", v_u64max, false },
    { "start_time", v_json_array, false },
    { "request_model", v_nul, false },
    { "request_model", v_bad_utf8, false },
    { "request_model", v_overlong, false },
    { "request_model", v_surrogate, false },
    { "request_model", v_cut_utf8, false },
    { "request_model", v_true, false },
    { "request_model", v_bin, false },
    { "name", v_arr, false },
    { "name", v_long, false },
    { "tags", v_json_array, false },
    { "tags", v_not_json, false },
    { "tool_calls", v_json_object, false },   /* JSON, wrong shape: strict */
    { "finish_reasons", v_not_json, false },
    { "finish_reasons", v_json_array, false },  /* [1]: not strings */
    { "finish_reasons", v_json_bad_utf8, false },
    { "finish_reasons", v_json_surrogate, false },
    { "tags", v_json_obj_bad_utf8, false },     /* in a key */
    { "finish_reasons", v_int, false },
    { "input_tokens", v_neg, false },
    { "input_tokens", v_dbl, false },
    { "cost_usd", v_nan, false },
    { "cost_usd", v_inf, false },
    { "cost_usd", v_neg, false },
    { "temperature", v_true, false },
    { "stream", v_int, false },
    /* still valid */
    { "future_field", v_future, true },
    { "request_model", v_nil, true },
    { "parent_id", v_nil, true },
    { "temperature", v_nil, true },
    { "temperature", v_int, true },
    { "ttft_ms", v_neg, true },
    { "input", v_json_str, true },
    { "finish_reasons", v_json_utf8, true },
    /* content fields: kept as a string or dropped, never the span */
    { "input", v_not_json, true },
    { "input", v_json_trailing, true },
    { "input", v_cut_json, true },
    { "input", v_nul, true },
    { "input", v_json_u0000, true },
    { "output", v_bad_utf8, true },
    { "output", v_cut_utf8, true },
    { "tool_calls", v_not_json, true },
    { "stream", v_nil, true },
};

Test(frame, mutated_spans_table)
{
    for (size_t i = 0; i < sizeof(mutations) / sizeof(mutations[0]); i++) {
        msgpack_sbuffer sb;
        struct tt_frame f;

        msgpack_sbuffer_init(&sb);
        pack_mutated(&sb, mutations[i].key, mutations[i].val);
        int rc = tt_frame_decode(sb.data, sb.size, &f);
        cr_assert_eq(rc, TT_OK, "case %zu (%s): frame refused: %s", i, mutations[i].key, f.error);
        if (mutations[i].accepted) {
            cr_assert_eq(f.nspans, 1, "case %zu (%s): %s", i, mutations[i].key, f.error);
            cr_assert_eq(f.rejected, 1);
            cr_assert(strstr(f.error, "span 1"), "%s", f.error);
        } else {
            cr_assert_eq(f.nspans, 0, "case %zu (%s) accepted", i, mutations[i].key);
            cr_assert_eq(f.rejected, 2);
            cr_assert(strstr(f.error, "span 0") && strstr(f.error, mutations[i].key),
                      "case %zu: error does not name %s: %s", i, mutations[i].key, f.error);
        }
        tt_frame_clear(&f);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* What a repaired content field holds (frame.h): the raw text as a JSON
 * string, null for text that is no string, valid JSON untouched. */
Test(frame, content_fields_are_repaired_not_rejected)
{
    static const struct {
        const char *key;
        fx_val val;
        const char *want;         /* NULL: the field is dropped */
    } c[] = {
        { "input", v_cut_json, "\"[tru\"" },
        { "input", v_not_json, "\"{bad\"" },
        { "input", v_json_trailing, "\"[] []\"" },
        { "input", v_json_u0000, "[\"a\\u0000b\"]" },
        { "input", v_json_array, "[1]" },
        { "input", v_json_utf8, "[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]" },
        { "input", v_json_bad_utf8, NULL },
        { "output", v_json_surrogate, NULL },
        { "input", v_nul, NULL },
        { "output", v_bad_utf8, NULL },
        { "output", v_surrogate, NULL },
        { "tool_calls", v_not_json, "\"{bad\"" },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        msgpack_sbuffer sb;
        struct tt_frame f;
        char err[160];
        msgpack_sbuffer_init(&sb);
        pack_mutated(&sb, c[i].key, c[i].val);
        cr_assert_eq(tt_frame_decode(sb.data, sb.size, &f), TT_OK);
        cr_assert_eq(f.nspans, 1, "case %zu: %s", i, f.error);
        const struct tt_spanfield *fl = tt_sf_find(c[i].key, strlen(c[i].key));
        const char *got = tt_sf_str(&f.spans[0], fl);
        if (c[i].want)
            cr_assert(got && strcmp(got, c[i].want) == 0,
                      "case %zu: %s = %s, want %s", i, c[i].key, got, c[i].want);
        else
            cr_assert_null(got, "case %zu: %s = %s", i, c[i].key, got);
        /* The stored span satisfies the contract it is checked against. */
        cr_assert_eq(tt_frame_check_span(&f.spans[0], err, sizeof(err)), TT_OK,
                     "case %zu: %s", i, err);
        tt_frame_clear(&f);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(frame, accepted_values_decode_as_documented)
{
    struct { const char *key; fx_val val; } c[] = {
        { "temperature", v_int }, { "ttft_ms", v_neg }, { "temperature", v_nil },
    };
    for (size_t i = 0; i < 3; i++) {
        msgpack_sbuffer sb;
        struct tt_frame f;
        msgpack_sbuffer_init(&sb);
        pack_mutated(&sb, c[i].key, c[i].val);
        cr_assert_eq(tt_frame_decode(sb.data, sb.size, &f), TT_OK);
        cr_assert_eq(f.nspans, 1);
        if (i == 0) {
            cr_assert(f.spans[0].has_temperature);
            cr_assert_eq(f.spans[0].temperature, 5.0);
        } else if (i == 1) {
            cr_assert_lt(f.spans[0].ttft_ms, 0, "negative ttft = not measured");
        } else {
            cr_assert_not(f.spans[0].has_temperature);
        }
        tt_frame_clear(&f);
        msgpack_sbuffer_destroy(&sb);
    }
}

/* ---- malformed frames ---------------------------------------------------- */

struct raw {
    const char *name;
    const char *bytes;
    size_t len;
    int want;        /* expected tt_frame_decode return */
};
#define RAW(n, b, w) { n, b, sizeof(b) - 1, w }

static const struct raw raws[] = {
    RAW("empty map", "\x80", TT_ERR_PARSE),
    RAW("array, not map", "\x91\xa1t", TT_ERR_PARSE),
    RAW("nil", "\xc0", TT_ERR_PARSE),
    RAW("t not a string", "\x81\xa1t\x05", TT_ERR_PARSE),
    RAW("unknown t", "\x81\xa1t\xa4nope", TT_ERR_PARSE),
    RAW("spans without spans", "\x81\xa1t\xa5spans", TT_ERR_PARSE),
    RAW("spans not an array", "\x82\xa1t\xa5spans\xa5spans\xa1x", TT_ERR_PARSE),
    RAW("version 2", "\x82\xa1t\xa4sync\xa1v\x02", TT_ERR_UNSUPPORTED),
    RAW("negative chunk", "\x82\xa1t\xa4sync\xa5" "chunk\xff", TT_ERR_PARSE),
    RAW("trailing byte", "\x81\xa1t\xa4sync\x00", TT_ERR_PARSE),
    RAW("reserved 0xc1", "\x81\xa1t\xc1", TT_ERR_PARSE),
    RAW("array32 claims 4G spans",
        "\x82\xa1t\xa5spans\xa5spans\xdd\xff\xff\xff\xff", TT_ERR_PARSE),
    RAW("map32 claims 4G keys", "\xdf\xff\xff\xff\xff\xa1t", TT_ERR_PARSE),
    RAW("str32 claims 4 GB", "\x81\xa1t\xdb\xff\xff\xff\xff" "abc", TT_ERR_PARSE),
    RAW("truncated float64", "\x82\xa1t\xa4sync\xa1x\xcb\x00\x00", TT_ERR_PARSE),
    RAW("ext claims more", "\x82\xa1t\xa4sync\xa1x\xc7\x10\x01" "ab", TT_ERR_PARSE),
    RAW("sync with junk keys ok", "\x83\xa1t\xa4sync\xa1x\xd4\x01\x02\x01\xc3", TT_OK),
};

Test(frame, malformed_raw_table)
{
    for (size_t i = 0; i < sizeof(raws) / sizeof(raws[0]); i++) {
        struct tt_frame f;
        int rc = tt_frame_decode(raws[i].bytes, raws[i].len, &f);
        cr_assert_eq(rc, raws[i].want, "%s: rc %d (%s)", raws[i].name, rc, f.error);
        if (rc != TT_OK)
            cr_assert_neq(f.error[0], '\0', "%s: no error text", raws[i].name);
        tt_frame_clear(&f);
    }
}

Test(frame, every_truncation_is_refused)
{
    struct tt_span sp[3];
    const struct tt_span *ps[3];
    struct tt_buf b;

    for (int i = 0; i < 3; i++) {
        fx_full(&sp[i]);
        ps[i] = &sp[i];
    }
    tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
    cr_assert_eq(tt_wire_pack_spans(ps, 3, 1, &b), TT_OK);
    for (size_t n = 0; n < b.len - 4; n++) {
        /* Copy so ASan catches any read past n. */
        char *p = malloc(n ? n : 1);
        struct tt_frame f;
        memcpy(p, b.data + 4, n);
        cr_assert_neq(tt_frame_decode(p, n, &f), TT_OK, "truncated at %zu accepted", n);
        tt_frame_clear(&f);
        free(p);
    }
    for (int i = 0; i < 3; i++)
        tt_span_clear(&sp[i]);
    tt_buf_free(&b);
}

static size_t put_frame_head(unsigned char *p, uint32_t nspans)
{
    static const char head[] = "\x82\xa1t\xa5spans\xa5spans\xdd";
    memcpy(p, head, sizeof(head) - 1);
    size_t o = sizeof(head) - 1;
    p[o++] = (unsigned char)(nspans >> 24);
    p[o++] = (unsigned char)(nspans >> 16);
    p[o++] = (unsigned char)(nspans >> 8);
    p[o++] = (unsigned char)nspans;
    return o;
}

Test(frame, huge_arrays_are_capped)
{
    /* Real bytes for every element: the counts are honest, the caps bite. */
    size_t n = TT_FRAME_MAX_SPANS + 1;
    unsigned char *p = malloc(32 + n);
    size_t o = put_frame_head(p, (uint32_t)n);
    struct tt_frame f;

    memset(p + o, 0x80, n);     /* n empty maps */
    cr_assert_eq(tt_frame_decode(p, o + n, &f), TT_ERR_CAP, "%s", f.error);
    tt_frame_clear(&f);
    free(p);

    /* 2M nils inside one span's unknown key: too many objects. */
    n = (size_t)2 << 20;
    p = malloc(64 + n);
    o = put_frame_head(p, 1);
    static const char span_head[] = "\x81\xa6" "future\xdd";
    memcpy(p + o, span_head, sizeof(span_head) - 1);
    o += sizeof(span_head) - 1;
    p[o++] = (unsigned char)(n >> 24);
    p[o++] = (unsigned char)(n >> 16);
    p[o++] = (unsigned char)(n >> 8);
    p[o++] = (unsigned char)n;
    memset(p + o, 0xc0, n);
    cr_assert_eq(tt_frame_decode(p, o + n, &f), TT_ERR_CAP, "%s", f.error);
    tt_frame_clear(&f);
    free(p);
}

Test(frame, deep_nesting_does_not_crash)
{
    size_t depth = 100000;
    unsigned char *p = malloc(32 + depth + 1);
    size_t o = put_frame_head(p, 1);
    struct tt_frame f;

    memset(p + o, 0x91, depth);     /* [[[[...]]]] */
    p[o + depth] = 0x00;
    int rc = tt_frame_decode(p, o + depth + 1, &f);
    cr_assert_neq(rc, TT_OK);
    tt_frame_clear(&f);
    free(p);
}

Test(frame, random_and_bitflipped_input_never_crashes)
{
    struct tt_span sp;
    const struct tt_span *ps = &sp;
    struct tt_buf b;
    unsigned seed = 12345;

    fx_full(&sp);
    tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
    cr_assert_eq(tt_wire_pack_spans(&ps, 1, 1, &b), TT_OK);
    size_t len = b.len - 4;
    unsigned char *p = malloc(len);
    for (int iter = 0; iter < 4000; iter++) {
        struct tt_frame f;
        size_t n;
        if (iter % 2) {
            n = (size_t)(rand_r(&seed) % 300);
            for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)rand_r(&seed);
        } else {
            n = len;
            memcpy(p, b.data + 4, len);
            for (int k = 0; k < 1 + rand_r(&seed) % 4; k++)
                p[rand_r(&seed) % len] ^= (unsigned char)(1u << (rand_r(&seed) % 8));
        }
        if (tt_frame_decode(p, n, &f) == TT_OK) {
            /* Whatever survives must satisfy the contract. */
            for (size_t i = 0; i < f.nspans; i++) {
                char err[160];
                cr_assert_eq(tt_frame_check_span(&f.spans[i], err, sizeof(err)), TT_OK,
                             "%s", err);
            }
        }
        tt_frame_clear(&f);
    }
    free(p);
    tt_buf_free(&b);
    tt_span_clear(&sp);
}

/* The daemon's fast JSON check (which reads the UTF-8 of strings itself)
 * against the reference, jansson after a UTF-8 check, on random arrays of
 * strings built from the bytes that matter: a finish_reasons value is kept
 * exactly when both say yes. */
static char rnd_buf[256];
static size_t rnd_len;
static void v_rnd(msgpack_packer *pk) { s(pk, rnd_buf, rnd_len); }

Test(frame, fast_json_check_agrees_with_jansson_on_utf8)
{
    static const char *const atoms[] = {
        "a", "stop", "\\n", "\\u00e9", "\\ud83d\\ude00", "\\ud83d", "\\u0000", "\"", "\\",
        "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "\xc3", "\x80", "\xed\xa0\x80",
        "\xf5\x80\x80\x80", "\xc0\xaf", "\xef\xbf\xbf", "\x01", "\t", "0123456789abcdef",
    };
    unsigned seed = 99;

    for (int k = 0; k < 3000; k++) {
        size_t n = 0;
        rnd_buf[n++] = '[';
        rnd_buf[n++] = '"';
        int parts = (int)((seed = seed * 1103515245u + 12345u) >> 16) % 6;
        for (int j = 0; j < parts; j++) {
            const char *a = atoms[((seed = seed * 1103515245u + 12345u) >> 16) %
                                  (sizeof(atoms) / sizeof(atoms[0]))];
            memcpy(rnd_buf + n, a, strlen(a));
            n += strlen(a);
        }
        rnd_buf[n++] = '"';
        rnd_buf[n++] = ']';
        rnd_len = n;
        json_error_t je;
        json_t *j = tt_frame_utf8_ok(rnd_buf, n) ? json_loadb(rnd_buf, n, 0, &je) : NULL;
        bool want = j != NULL;
        json_decref(j);
        msgpack_sbuffer sb;
        struct tt_frame f;
        msgpack_sbuffer_init(&sb);
        pack_mutated(&sb, "finish_reasons", v_rnd);
        cr_assert_eq(tt_frame_decode(sb.data, sb.size, &f), TT_OK);
        cr_assert_eq(f.nspans == 1, want, "case %d: %.*s: daemon %s, reference %s", k,
                     (int)n, rnd_buf, f.nspans == 1 ? "kept" : "refused", want ? "yes" : "no");
        tt_frame_clear(&f);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(frame, utf8_table)
{
    static const struct { const char *s; size_t n; bool ok; } c[] = {
        { "", 0, true }, { "ascii", 5, true }, { "é", 2, true }, { "€", 3, true },
        { "🚀", 4, true }, { "\xf4\x8f\xbf\xbf", 4, true },       /* U+10FFFF */
        { "\xf4\x90\x80\x80", 4, false },                          /* > U+10FFFF */
        { "\xc0\x80", 2, false }, { "\xe0\x80\xaf", 3, false },    /* overlong */
        { "\xed\xbf\xbf", 3, false },                              /* surrogate */
        { "\x80", 1, false }, { "\xe2\x82", 2, false }, { "a\0b", 3, false },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
        cr_assert_eq(tt_frame_utf8_ok(c[i].s, c[i].n), c[i].ok, "case %zu", i);
}

/* Span strings come from the wire; tokentapd refuses a whole span for one
 * plain string that is not valid UTF-8 or is above its cap (found by
 * fuzz_http1, fuzz_http2 and fuzz_provider: a Host header, a model in an
 * HTTP/2 :path, a request path with a 0xff byte lost the call), or for a
 * negative request parameter. The preload repairs them before delivery
 * (tt_sf_repair), and the span gets through. */
Test(frame, repaired_span_strings_are_kept_by_the_daemon)
{
    static const struct { const char *in; const char *want; } c[] = {
        { "api.openai.com", "api.openai.com" },
        { "h\xffost", "h\xef\xbf\xbdost" },
        { "\xc0\x80x", "\xef\xbf\xbd\xef\xbf\xbdx" },             /* overlong */
        { "\xed\xbf\xbf", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" }, /* surrogate */
        { "cut \xe2\x82", "cut \xef\xbf\xbd\xef\xbf\xbd" },         /* "%.560s" cut */
        { "ok \xe2\x82\xac", "ok \xe2\x82\xac" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *f = strdup(c[i].in);
        cr_assert_eq(tt_span_repair_str(&f), TT_OK);
        cr_assert_str_eq(f, c[i].want, "case %zu", i);
        cr_assert(tt_frame_utf8_ok(f, strlen(f)), "case %zu", i);
        free(f);
    }
    char *none = NULL;
    cr_assert_eq(tt_span_repair_str(&none), TT_OK);
    cr_assert_null(none);

    struct tt_span sp;
    tt_span_init(&sp);
    memcpy(sp.span_id, "00f067aa0ba902b7", 17);
    memcpy(sp.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 33);
    sp.start_time = sp.end_time = 1;
    /* A model too long for the daemon: cut at a character boundary. */
    size_t big = TT_SPAN_MAX_STR + 100;
    char *s = malloc(big + 1);
    cr_assert_not_null(s);
    memset(s, 'm', big);
    memcpy(s + TT_SPAN_MAX_STR - 1, "\xe2\x82\xac", 3);
    s[big] = '\0';
    sp.request_model = s;
    cr_assert_eq(tt_span_set(&sp.host, "h\xff"), TT_OK);
    cr_assert_eq(tt_span_set(&sp.path, "/v1/\xfe\xff"), TT_OK);
    cr_assert_eq(tt_span_set(&sp.output, "[\"kept as sent\"]"), TT_OK);
    /* A request's "max_tokens": -1100 (found by fuzz_provider and
     * fuzz_http2) and a negative temperature: absent, span kept. */
    sp.has_max_tokens = true;
    sp.max_tokens = -1100;
    sp.has_temperature = true;
    sp.temperature = -0.5;
    sp.has_top_p = true;
    sp.top_p = 0.9;
    /* A finish reason with a NUL escape (found by fuzz_exchange: Ollama's
     * "done_reason"); a backslash before "u0000" is not one. */
    cr_assert_eq(tt_span_set(&sp.finish_reasons, "[\"s\\u0000top\",\"\\\\u0000\"]"), TT_OK);
    char err[160];
    cr_assert_neq(tt_frame_check_span(&sp, err, sizeof(err)), TT_OK);

    tt_sf_repair(&sp);
    cr_assert_not(sp.has_max_tokens);
    cr_assert_not(sp.has_temperature);
    cr_assert(sp.has_top_p);
    cr_assert_str_eq(sp.finish_reasons, "[\"s\\ufffdtop\",\"\\\\u0000\"]");
    cr_assert_eq(strlen(sp.request_model), TT_SPAN_MAX_STR - 1);
    cr_assert_str_eq(sp.output, "[\"kept as sent\"]");
    cr_assert_eq(tt_frame_check_span(&sp, err, sizeof(err)), TT_OK, "%s", err);
    const struct tt_span *one = &sp;
    struct tt_buf b;
    struct tt_frame f;
    tt_buf_init(&b, TT_WIRE_MAX_FRAME);
    cr_assert_eq(tt_wire_pack_spans(&one, 1, 7, &b), TT_OK);
    memset(&f, 0, sizeof(f));
    cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK, "%s", f.error);
    cr_assert_eq(f.nspans, 1, "%s", f.error);
    cr_assert_eq(f.rejected, 0, "%s", f.error);
    cr_assert_str_eq(f.spans[0].host, "h\xef\xbf\xbd");
    cr_assert_str_eq(f.spans[0].path, "/v1/\xef\xbf\xbd\xef\xbf\xbd");
    tt_frame_clear(&f);
    tt_buf_free(&b);
    tt_span_clear(&sp);
}

/* Frames the capture worker packs get their chunk number when sent
 * (tt_wire_set_chunk): every value survives the patch, and a buffer that
 * is not such a frame is refused, untouched. */
Test(wire, set_chunk_table)
{
    static const uint64_t chunks[] = { 0, 1, 255, 65536, 0x0123456789abcdefULL,
                                       UINT64_MAX };

    for (size_t i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        struct tt_span s;
        const struct tt_span *ps = &s;
        struct tt_buf b;
        struct tt_frame f;

        fx_full(&s);
        tt_buf_init(&b, TT_WIRE_MAX_FRAME + 4);
        cr_assert_eq(tt_wire_pack_spans(&ps, 1, 0, &b), TT_OK);
        size_t len = b.len;
        cr_assert_eq(tt_wire_set_chunk(b.data, b.len, chunks[i]), TT_OK);
        cr_assert_eq(b.len, len, "the frame keeps its size");
        cr_assert_eq(tt_frame_decode(b.data + 4, b.len - 4, &f), TT_OK, "%s", f.error);
        cr_assert_eq(f.chunk, chunks[i], "case %zu", i);
        cr_assert_eq(f.nspans, 1);
        fx_assert_eq(&s, &f.spans[0]);
        tt_frame_clear(&f);
        tt_buf_free(&b);
        tt_span_clear(&s);
    }
    char junk[64];
    memset(junk, 'x', sizeof(junk));
    cr_assert_eq(tt_wire_set_chunk(junk, sizeof(junk), 5), TT_ERR_PARSE);
    for (size_t i = 0; i < sizeof(junk); i++)
        cr_assert_eq(junk[i], 'x');
    cr_assert_eq(tt_wire_set_chunk(junk, 3, 5), TT_ERR_PARSE);
}
