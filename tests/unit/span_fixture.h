/* span_fixture.h - spans for the wire/store/spanjson tests. Header-only. */
#ifndef TT_SPAN_FIXTURE_H
#define TT_SPAN_FIXTURE_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "span.h"
#include "spanfield.h"

static inline void fx_set(char **f, const char *v)
{
    cr_assert_eq(tt_span_set(f, v), 0);
}

/* Every exported field set to a distinctive value. */
static inline void fx_full(struct tt_span *s)
{
    tt_span_init(s);
    memcpy(s->trace_id, "0af7651916cd43dd8448eb211c80319c", 33);
    memcpy(s->span_id, "b7ad6b7169203331", 17);
    memcpy(s->parent_id, "00f067aa0ba902b7", 17);
    fx_set(&s->kind, "llm");
    fx_set(&s->name, "chat gpt-4o-mini");
    s->start_time = 1718000000123456789LL;
    s->end_time = 1718000001987654321LL;
    fx_set(&s->status, "error");
    fx_set(&s->error, "HTTP 429: rate limited");
    fx_set(&s->provider, "openai");
    fx_set(&s->operation, "chat");
    fx_set(&s->host, "api.openai.com");
    fx_set(&s->method, "POST");
    fx_set(&s->path, "/v1/chat/completions");
    s->http_status = 429;
    fx_set(&s->http_version, "1.1");
    fx_set(&s->request_model, "gpt-4o-mini");
    fx_set(&s->response_model, "gpt-4o-mini-2024-07-18");
    fx_set(&s->response_id, "chatcmpl-123");
    s->stream = true;
    s->ttft_ms = 123.25;
    s->has_temperature = true;
    s->temperature = 0.7;
    s->has_top_p = true;
    s->top_p = 0.95;
    s->has_max_tokens = true;
    s->max_tokens = 256;
    fx_set(&s->finish_reasons, "[\"stop\",\"length\"]");
    s->input_tokens = 1200;
    s->output_tokens = 345;
    s->cache_read_tokens = 1024;
    s->cache_write_tokens = 12;
    s->reasoning_tokens = 100;
    s->usage_known = true;
    s->cost_usd = 0.000987654321;
    s->cost_known = true;
    fx_set(&s->input, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    fx_set(&s->output, "\"Hello!\"");
    fx_set(&s->tool_calls, "[{\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{}\"}]");
    s->truncated = true;
    s->pid = 4242;
    fx_set(&s->exe, "/usr/bin/python3.11");
    fx_set(&s->session_id, "sess-1");
    fx_set(&s->tags, "{\"team\":\"ml\",\"n\":1}");
    memcpy(s->conversation_id, "c0ffee0123456789", 17);
    fx_set(&s->metadata, "{\"run\":\"nightly\"}");
    fx_set(&s->replay, "hit");
    fx_set(&s->capture, "preload");
    s->audio_input_tokens = 40;
    s->audio_output_tokens = 30;
    s->image_input_tokens = 20;
    s->image_output_tokens = 10;
    fx_set(&s->service_tier, "flex");
}

/* Only what a span must have; everything optional absent. */
static inline void fx_minimal(struct tt_span *s)
{
    tt_span_init(s);     /* kind llm, status ok, ttft -1 */
    memcpy(s->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736", 33);
    memcpy(s->span_id, "00f067aa0ba902b7", 17);
    s->start_time = 1;
    s->end_time = 2;
}

/* Field-by-field equality through the contract table; names the field. */
static inline void fx_assert_eq(const struct tt_span *a, const struct tt_span *b)
{
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        bool pa = tt_sf_present(a, f), pb = tt_sf_present(b, f);
        cr_assert_eq(pa, pb, "%s: present %d vs %d", f->name, pa, pb);
        if (!pa)
            continue;
        switch (f->type) {
        case TT_SF_ID:
            cr_assert_str_eq(tt_sf_cid(a, f), tt_sf_cid(b, f), "%s", f->name);
            break;
        case TT_SF_STR:
        case TT_SF_JSON:
            cr_assert_str_eq(tt_sf_str(a, f), tt_sf_str(b, f), "%s", f->name);
            break;
        case TT_SF_I64:
        case TT_SF_OPT_I64:
            cr_assert_eq(tt_sf_i64(a, f), tt_sf_i64(b, f), "%s", f->name);
            break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS:
            cr_assert_eq(tt_sf_f64(a, f), tt_sf_f64(b, f), "%s: %.17g vs %.17g", f->name,
                         tt_sf_f64(a, f), tt_sf_f64(b, f));
            break;
        case TT_SF_BOOL:
            cr_assert_eq(tt_sf_bool(a, f->off), tt_sf_bool(b, f->off), "%s", f->name);
            break;
        }
    }
}

#endif
