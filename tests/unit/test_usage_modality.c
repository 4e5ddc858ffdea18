/* test_usage_modality.c - the modality subsets (audio/image tokens) and the
 * service tier each provider's usage reports, read into the span
 * (audio_input_tokens ... service_tier), bodies and streams at every split;
 * then priced from real catalogue rows (hand-computed costs). */
#include <criterion/criterion.h>
#include <string.h>

#include "api.h"
#include "price.h"
#include "provider_harness.h"
#include "span.h"

struct mcase {
    const char *name;
    const struct tt_api_ops *ops;
    const char *req;
    enum kind kind;
    const char *in;
    bool usage_known;
    int64_t in_tok, out_tok, cache_read, reasoning;
    int64_t audio_in, image_in, audio_out, image_out;
    const char *tier;
};

#define OAI_REQ "{\"model\":\"gpt-4o-audio-preview\",\"messages\":[]}"
#define OAI_SREQ "{\"model\":\"gpt-4o-audio-preview\",\"messages\":[],\"stream\":true," \
                 "\"stream_options\":{\"include_usage\":true}}"
#define OAI_C "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\"," \
              "\"model\":\"gpt-5-2025-08-07\",\"service_tier\":\"flex\","

static const struct mcase cases[] = {
    { "openai chat body: audio in and out, default tier", &tt_openai_chat_api, OAI_REQ, BODY,
      "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-audio-preview-2025-06-03\","
      "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":null,"
      "\"audio\":{\"id\":\"audio_1\",\"data\":\"AAA=\",\"transcript\":\"hi\"}},\"finish_reason\":\"stop\"}],"
      "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":500,\"total_tokens\":1500,"
      "\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":600},"
      "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":400,"
      "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
      "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_1\"}",
      true, 1000, 500, 0, 0, 600, 0, 400, 0, "default" },
    { "openai chat body: image_tokens, priority tier", &tt_openai_chat_api, OAI_REQ, BODY,
      "{\"id\":\"c\",\"model\":\"gpt-4o-mini\",\"choices\":[],\"service_tier\":\"priority\","
      "\"usage\":{\"prompt_tokens\":900,\"completion_tokens\":10,"
      "\"prompt_tokens_details\":{\"cached_tokens\":128,\"image_tokens\":765,\"text_tokens\":135}}}",
      true, 900, 10, 128, 0, 0, 765, 0, 0, "priority" },
    { "openai chat body: no details, no tier", &tt_openai_chat_api, OAI_REQ, BODY,
      "{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[],"
      "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7}}",
      true, 5, 7, 0, 0, 0, 0, 0, 0, NULL },
    { "openai chat body: negative audio count refuses the usage", &tt_openai_chat_api, OAI_REQ, BODY,
      "{\"id\":\"c\",\"model\":\"gpt-4o\",\"choices\":[],"
      "\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":7,"
      "\"prompt_tokens_details\":{\"audio_tokens\":-3}}}",
      false, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
    { "openai chat stream: flex tier on every chunk, usage last", &tt_openai_chat_api, OAI_SREQ, STREAM,
      OAI_C "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
      OAI_C "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
      OAI_C "\"choices\":[],\"usage\":{\"prompt_tokens\":10000,\"completion_tokens\":2000,"
      "\"prompt_tokens_details\":{\"cached_tokens\":4000,\"audio_tokens\":0},"
      "\"completion_tokens_details\":{\"reasoning_tokens\":1500,\"audio_tokens\":0}}}\n\n"
      "data: [DONE]\n\n",
      true, 10000, 2000, 4000, 1500, 0, 0, 0, 0, "flex" },
    { "responses body: service_tier and image tokens", &tt_openai_responses_api,
      "{\"model\":\"o3\",\"input\":\"hi\"}", BODY,
      "{\"id\":\"resp_1\",\"object\":\"response\",\"status\":\"completed\",\"model\":\"o3-2025-04-16\","
      "\"service_tier\":\"flex\",\"output\":[{\"type\":\"message\",\"id\":\"m\",\"status\":\"completed\","
      "\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"ok\",\"annotations\":[]}]}],"
      "\"usage\":{\"input_tokens\":300,\"input_tokens_details\":{\"cached_tokens\":0,\"image_tokens\":255},"
      "\"output_tokens\":20,\"output_tokens_details\":{\"reasoning_tokens\":8},\"total_tokens\":320}}",
      true, 300, 20, 0, 8, 0, 255, 0, 0, "flex" },
    { "anthropic body: usage.service_tier", &tt_anthropic_messages_api,
      "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":10,\"messages\":[]}", BODY,
      "{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
      "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
      "\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":50,"
      "\"output_tokens\":20,\"service_tier\":\"priority\"}}",
      true, 150, 20, 50, 0, 0, 0, 0, 0, "priority" },
    { "anthropic stream: service_tier in message_start", &tt_anthropic_messages_api,
      "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":10,\"messages\":[],\"stream\":true}", STREAM,
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
      "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,"
      "\"usage\":{\"input_tokens\":377,\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,"
      "\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
      "\"usage\":{\"output_tokens\":12}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
      true, 377, 12, 0, 0, 0, 0, 0, 0, "standard" },
    { "gemini body: prompt AUDIO, candidates IMAGE", &tt_gemini_generate_api, NULL, BODY,
      "{\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"ok\"}]},"
      "\"finishReason\":\"STOP\",\"index\":0}],"
      "\"usageMetadata\":{\"promptTokenCount\":2000,\"candidatesTokenCount\":1390,\"totalTokenCount\":3390,"
      "\"promptTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":500},"
      "{\"modality\":\"AUDIO\",\"tokenCount\":1500}],"
      "\"candidatesTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":100},"
      "{\"modality\":\"IMAGE\",\"tokenCount\":1290}]},"
      "\"modelVersion\":\"gemini-2.5-flash-image\",\"responseId\":\"r1\"}",
      true, 2000, 1390, 0, 0, 1500, 0, 0, 1290, NULL },
    { "gemini stream: last usageMetadata's modalities win", &tt_gemini_generate_api, NULL, STREAM,
      "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"a\"}]},\"index\":0}],"
      "\"usageMetadata\":{\"promptTokenCount\":300,\"promptTokensDetails\":[{\"modality\":\"IMAGE\",\"tokenCount\":258},"
      "{\"modality\":\"TEXT\",\"tokenCount\":42}]},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n"
      "data: {\"candidates\":[{\"content\":{\"role\":\"model\",\"parts\":[{\"text\":\"b\"}]},"
      "\"finishReason\":\"STOP\",\"index\":0}],"
      "\"usageMetadata\":{\"promptTokenCount\":300,\"candidatesTokenCount\":5,"
      "\"promptTokensDetails\":[{\"modality\":\"IMAGE\",\"tokenCount\":258},{\"modality\":\"TEXT\",\"tokenCount\":42}],"
      "\"candidatesTokensDetails\":[{\"modality\":\"TEXT\",\"tokenCount\":5}]},\"modelVersion\":\"gemini-2.5-flash\"}\r\n\r\n",
      true, 300, 5, 0, 0, 0, 258, 0, 0, NULL },
    { "gemini body: bad modality count refuses the usage", &tt_gemini_generate_api, NULL, BODY,
      "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"ok\"}]},\"finishReason\":\"STOP\",\"index\":0}],"
      "\"usageMetadata\":{\"promptTokenCount\":20,\"candidatesTokenCount\":1,"
      "\"promptTokensDetails\":[{\"modality\":\"AUDIO\",\"tokenCount\":\"many\"}]}}",
      false, 0, 0, 0, 0, 0, 0, 0, 0, NULL },
};

Test(usage_modality, parsers)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct mcase *c = &cases[i];
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);

        for (size_t k = 0; k < nsplit; k++) {
            struct tt_span s;
            size_t split = c->kind == BODY ? 0 : splits[k];

            run(c->ops, &s, c->req, c->kind, c->in, split, false);
            cr_assert_eq(s.usage_known, c->usage_known, "%s [%zu]: usage_known", c->name, split);
            cr_assert_eq(s.input_tokens, c->in_tok, "%s [%zu]: input %ld", c->name, split,
                         (long)s.input_tokens);
            cr_assert_eq(s.output_tokens, c->out_tok, "%s [%zu]: output", c->name, split);
            cr_assert_eq(s.cache_read_tokens, c->cache_read, "%s [%zu]: cache_read", c->name, split);
            cr_assert_eq(s.reasoning_tokens, c->reasoning, "%s [%zu]: reasoning", c->name, split);
            cr_assert_eq(s.audio_input_tokens, c->audio_in, "%s [%zu]: audio_in %ld", c->name,
                         split, (long)s.audio_input_tokens);
            cr_assert_eq(s.image_input_tokens, c->image_in, "%s [%zu]: image_in", c->name, split);
            cr_assert_eq(s.audio_output_tokens, c->audio_out, "%s [%zu]: audio_out", c->name, split);
            cr_assert_eq(s.image_output_tokens, c->image_out, "%s [%zu]: image_out", c->name, split);
            expect_str(s.service_tier, c->tier, "service_tier", c->name, split);
            tt_span_clear(&s);
        }
    }
}

/* --- pricing ------------------------------------------------------------- */

struct pcase {
    const char *name;
    const char *provider, *model;       /* a built-in catalogue row */
    struct tt_price_usage u;
    bool known;
    double usd;                         /* hand-computed from the row */
};

#define U(...) ((struct tt_price_usage){ __VA_ARGS__ })

static const struct pcase pcases[] = {
    /* gpt-4o-audio-preview: 2.5/10, audio 40/80.
     * 400*2.5 + 600*40 + 100*10 + 400*80 = 1000+24000+1000+32000 = 58000 */
    { "audio in and out at their own rates", "openai", "gpt-4o-audio-preview",
      U(.input = 1000, .output = 500, .audio_input = 600, .audio_output = 400), true, 0.058 },
    /* gpt-5 default: 6000*1.25 + 4000*0.125 + 2000*10 = 7500+500+20000 */
    { "gpt-5 default tier = list price", "openai", "gpt-5",
      U(.input = 10000, .output = 2000, .cache_read = 4000, .reasoning = 1500,
        .service_tier = "default"), true, 0.028 },
    /* gpt-5 flex 0.625/5/0.0625: 6000*0.625 + 4000*0.0625 + 2000*5 = 3750+250+10000 */
    { "gpt-5 flex", "openai", "gpt-5",
      U(.input = 10000, .output = 2000, .cache_read = 4000, .reasoning = 1500,
        .service_tier = "flex"), true, 0.014 },
    /* gpt-5 priority 2.5/20/0.25: 15000 + 1000 + 40000 */
    { "gpt-5 priority", "openai", "gpt-5",
      U(.input = 10000, .output = 2000, .cache_read = 4000, .reasoning = 1500,
        .service_tier = "priority"), true, 0.056 },
    /* gpt-4o-mini priority 0.25/1/0.125: 800*0.25 + 200*0.125 + 100*1 = 200+25+100 */
    { "gpt-4o-mini priority with cache", "openai", "gpt-4o-mini",
      U(.input = 1000, .output = 100, .cache_read = 200, .service_tier = "priority"), true, 0.000325 },
    /* gpt-4o-mini batch 0.075/0.3: 1000*0.075 + 100*0.3 = 75+30 */
    { "gpt-4o-mini batch", "openai", "gpt-4o-mini",
      U(.input = 1000, .output = 100, .service_tier = "batch"), true, 0.000105 },
    { "batch with a cache read: no batch cache price", "openai", "gpt-4o-mini",
      U(.input = 1000, .output = 100, .cache_read = 10, .service_tier = "batch"), false, 0 },
    { "flex on a model without flex prices", "openai", "gpt-4o-mini",
      U(.input = 1000, .output = 100, .service_tier = "flex"), false, 0 },
    { "scale tier cannot be priced per token", "openai", "gpt-5",
      U(.input = 1000, .output = 100, .service_tier = "scale"), false, 0 },
    { "an unknown tier name", "openai", "gpt-5",
      U(.input = 1000, .output = 100, .service_tier = "turbo"), false, 0 },
    { "audio on a row without an audio rate is not text", "openai", "gpt-5",
      U(.input = 1000, .output = 100, .audio_input = 10), false, 0 },
    { "audio output without a rate", "gcp.gemini", "gemini-2.5-flash",
      U(.input = 1000, .output = 100, .audio_output = 10), false, 0 },
    { "audio on a flex call: the tier lists no audio rate", "openai", "gpt-5",
      U(.input = 1000, .output = 100, .audio_input = 10, .service_tier = "flex"), false, 0 },
    { "cached audio: no cached-audio rate", "openai", "gpt-realtime",
      U(.input = 1000, .output = 100, .cache_read = 100, .audio_input = 200), false, 0 },
    /* gemini-2.5-flash 0.3/2.5, audio in 1: 500*0.3 + 1500*1 + 300*2.5 = 150+1500+750 */
    { "gemini audio input", "gcp.gemini", "gemini-2.5-flash",
      U(.input = 2000, .output = 300, .audio_input = 1500), true, 0.0024 },
    /* gemini-2.5-flash-image: image in at text 0.3, image out 30:
     * 50*0.3 + 50*0.3 + 100*2.5 + 1290*30 = 15+15+250+38700 */
    { "gemini image output at its own rate", "gcp.gemini", "gemini-2.5-flash-image",
      U(.input = 100, .output = 1390, .image_input = 50, .image_output = 1290), true, 0.03898 },
    { "image output without a rate", "gcp.gemini", "gemini-2.5-flash",
      U(.input = 100, .output = 1390, .image_output = 1290), false, 0 },
    /* gpt-image-1: image input 10, text input 5: 100*5 + 900*10 + 50*40 = 500+9000+2000 */
    { "image input at its own rate", "openai", "gpt-image-1",
      U(.input = 1000, .output = 50, .image_input = 900), true, 0.0115 },
    /* gpt-4o-mini image input at the text rate, cache read 0.075:
     * (900-128)*0.15 + 128*0.075 + 10*0.6 = 115.8+9.6+6 = 131.4 */
    { "image input without a rate = text input", "openai", "gpt-4o-mini",
      U(.input = 900, .output = 10, .cache_read = 128, .image_input = 765), true, 0.0001314 },
    /* claude-sonnet-4-5 3/15, cache read 0.3: 100*3 + 50*0.3 + 20*15 = 300+15+300 */
    { "anthropic standard tier", "anthropic", "claude-sonnet-4-5",
      U(.input = 150, .output = 20, .cache_read = 50, .service_tier = "standard"), true, 0.000615 },
    { "anthropic priority: no per-token priority price", "anthropic", "claude-sonnet-4-5",
      U(.input = 150, .output = 20, .cache_read = 50, .service_tier = "priority"), false, 0 },
    /* Vertex claude-sonnet-4-5 batch 1.5/7.5: 1000*1.5 + 100*7.5 = 1500+750 */
    { "vertex claude batch", "gcp.vertex_ai", "claude-sonnet-4-5",
      U(.input = 1000, .output = 100, .service_tier = "batch"), true, 0.00225 },
    { "batch above the long-context threshold", "gcp.vertex_ai", "claude-sonnet-4-5",
      U(.input = 300000, .output = 100, .service_tier = "batch"), false, 0 },
};

Test(usage_modality, price_cases)
{
    for (size_t i = 0; i < sizeof(pcases) / sizeof(pcases[0]); i++) {
        const struct pcase *c = &pcases[i];
        const struct tt_price *found = tt_price_find(c->provider, c->model);
        struct tt_price p;
        double usd = -1;

        cr_assert_not_null(found, "%s: no row %s/%s", c->name, c->provider, c->model);
        p = *found;
        int rc = tt_price_cost_usage(&p, &c->u, &usd);
        cr_assert_eq(rc == TT_OK, c->known, "%s: known %d", c->name, rc == TT_OK);
        cr_assert_float_eq(usd, c->usd, 1e-12, "%s: %.10f want %.10f", c->name, usd, c->usd);
    }
}

Test(usage_modality, apply_makes_unknown_rates_unknown_cost)
{
    struct tt_span s;

    tt_span_init(&s);
    cr_assert_eq(tt_span_set(&s.provider, "openai"), 0);
    cr_assert_eq(tt_span_set(&s.response_model, "gpt-5-2025-08-07"), 0);
    s.usage_known = true;
    s.input_tokens = 10000;
    s.output_tokens = 2000;
    s.cache_read_tokens = 4000;
    cr_assert_eq(tt_span_set(&s.service_tier, "flex"), 0);
    tt_price_apply_with(&s, NULL, false);
    cr_assert(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.014, 1e-12);
    s.audio_input_tokens = 5;       /* gpt-5 lists no audio rate */
    tt_price_apply_with(&s, NULL, false);
    cr_assert_not(s.cost_known);
    cr_assert_float_eq(s.cost_usd, 0.0, 0.0);
    tt_span_clear(&s);
}
