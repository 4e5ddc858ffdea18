/* test_compat.c - the OpenAI-compatible hosted APIs' quirks, Cohere v2
 * chat, the host rows and response-header detection (issue #4).
 * Shapes from shared/research/providers.md sections 6, 8 and 9; streams
 * go through the real SSE parser; every case asserts what a user sees:
 * model, tokens and the cost charged. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "price.h"
#include "provider.h"
#include "sse.h"
#include "tt.h"

#define SENT_NS 1000000000LL        /* request sent; event k arrives k ms later */

struct feed {
    const struct tt_api_ops *ops;
    void *state;
    struct tt_span *span;
    int events;
};

static int on_event(void *ud, const char *ev, size_t evn, const char *data,
                    size_t dn)
{
    struct feed *f = ud;

    f->events++;
    (void)f->ops->sse_event(f->state, f->span, ev, evn, data, dn,
                            SENT_NS + (int64_t)f->events * 1000000);
    return 0;
}

/* One call end to end: request, response (whole body or SSE stream),
 * end, price. The provider is what the host table would have said. */
static void call(struct tt_span *s, const struct tt_api_ops *ops,
                 const char *provider, const char *req, bool stream,
                 const char *resp)
{
    struct feed f = { ops, NULL, s, 0 };
    struct tt_sse sse;

    tt_span_init(s);
    cr_assert_eq(tt_span_set(&s->provider, provider), 0);
    s->request_sent_ns = SENT_NS;
    (void)ops->request(s, req, strlen(req));
    cr_assert_eq(ops->response_begin(s, &f.state), 0);
    if (stream) {
        tt_sse_init(&sse, 1 << 20);
        cr_assert_eq(tt_sse_feed(&sse, resp, strlen(resp), on_event, &f), 0);
        (void)tt_sse_finish(&sse);
        tt_sse_free(&sse);
    } else {
        (void)ops->body(f.state, s, resp, strlen(resp));
    }
    struct tt_api_end how = { true, !stream, f.events > 0 };
    (void)tt_api_response_end(ops, f.state, s, &how);
    ops->response_free(f.state);
    tt_price_apply(s);
}

static void cost_is(const struct tt_span *s, double want)
{
    cr_assert(s->cost_known, "cost unknown (model %s)",
              s->response_model ? s->response_model : s->request_model);
    cr_assert(fabs(s->cost_usd - want) < 1e-12, "cost %.12f, want %.12f",
              s->cost_usd, want);
}

static void tokens_are(const struct tt_span *s, int64_t in, int64_t out,
                       int64_t cr)
{
    cr_assert(s->usage_known);
    cr_assert_eq(s->input_tokens, in, "input %lld", (long long)s->input_tokens);
    cr_assert_eq(s->output_tokens, out, "output %lld",
                 (long long)s->output_tokens);
    cr_assert_eq(s->cache_read_tokens, cr, "cache_read %lld",
                 (long long)s->cache_read_tokens);
}

/* --- Azure OpenAI --------------------------------------------------------- */

#define AZ_FILTERS "{\"hate\":{\"filtered\":false,\"severity\":\"safe\"}}"

/* The prompt-filter chunk comes first with model "" and id "": it must
 * neither name the model nor count as the first token. */
Test(compat, azure_stream_content_filter_chunk)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "azure.ai.openai",
         "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true,"
         "\"stream_options\":{\"include_usage\":true}}",
         true,
         "data: {\"choices\":[],\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"\","
         "\"prompt_filter_results\":[{\"prompt_index\":0,\"content_filter_results\":" AZ_FILTERS "}]}\n\n"
         "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
         "\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-11-20\","
         "\"object\":\"chat.completion.chunk\"}\n\n"
         "data: {\"choices\":[{\"content_filter_results\":" AZ_FILTERS ",\"delta\":{\"content\":\"Hel\"},"
         "\"finish_reason\":null,\"index\":0}],\"created\":1,\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-11-20\","
         "\"object\":\"chat.completion.chunk\"}\n\n"
         "data: {\"choices\":[{\"content_filter_results\":{},\"delta\":{},\"finish_reason\":\"stop\",\"index\":0}],"
         "\"created\":1,\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-11-20\",\"object\":\"chat.completion.chunk\"}\n\n"
         "data: {\"choices\":[],\"created\":1,\"id\":\"chatcmpl-az1\",\"model\":\"gpt-4o-2024-11-20\","
         "\"object\":\"chat.completion.chunk\",\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":100,"
         "\"total_tokens\":1100,\"prompt_tokens_details\":{\"cached_tokens\":200}}}\n\n"
         "data: [DONE]\n\n");
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    cr_assert_str_eq(s.response_model, "gpt-4o-2024-11-20");
    cr_assert_str_eq(s.response_id, "chatcmpl-az1");
    cr_assert_null(s.request_model);          /* the deployment URL named it */
    cr_assert_str_eq(s.output, "\"Hel\"");
    cr_assert(fabs(s.ttft_ms - 3.0) < 1e-9, "ttft %f", s.ttft_ms);
    tokens_are(&s, 1000, 100, 200);
    /* The catalogue's own Azure row (azure/gpt-4o-2024-11-20: 2.75 / 11 /
     * cached 1.25, the regional price) comes before OpenAI's list. */
    cost_is(&s, (800 * 2.75 + 200 * 1.25 + 100 * 11.0) / 1e6);
    tt_span_clear(&s);
}

Test(compat, azure_body_priced_by_response_model)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "azure.ai.openai",
         "{\"model\":\"my-deployment\",\"messages\":[]}", false,
         "{\"choices\":[{\"content_filter_results\":" AZ_FILTERS ",\"finish_reason\":\"stop\",\"index\":0,"
         "\"message\":{\"content\":\"ok\",\"role\":\"assistant\"}}],\"created\":1,\"id\":\"chatcmpl-az2\","
         "\"model\":\"gpt-4o-mini-2024-07-18\",\"object\":\"chat.completion\",\"prompt_filter_results\":"
         "[{\"prompt_index\":0,\"content_filter_results\":" AZ_FILTERS "}],"
         "\"usage\":{\"completion_tokens\":20,\"prompt_tokens\":100,\"total_tokens\":120}}");
    cr_assert_str_eq(s.status, "ok");
    cr_assert_str_eq(s.request_model, "my-deployment");
    cr_assert_str_eq(s.response_model, "gpt-4o-mini-2024-07-18");
    tokens_are(&s, 100, 20, 0);
    /* azure/gpt-4o-mini-2024-07-18: 0.165 / 0.66 */
    cost_is(&s, (100 * 0.165 + 20 * 0.66) / 1e6);
    tt_span_clear(&s);
}

/* --- Groq ------------------------------------------------------------------ */

/* In streams Groq's usage is only in x_groq.usage on the finish chunk. */
Test(compat, groq_stream_x_groq_usage)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "groq",
         "{\"model\":\"llama-3.3-70b-versatile\",\"stream\":true,\"messages\":[]}", true,
         "data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\","
         "\"x_groq\":{\"id\":\"req_01j\"},\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
         "\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\","
         "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"chatcmpl-g\",\"object\":\"chat.completion.chunk\",\"model\":\"llama-3.3-70b-versatile\","
         "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"x_groq\":{\"id\":\"req_01j\","
         "\"usage\":{\"queue_time\":0.06,\"prompt_tokens\":18,\"prompt_time\":0.002,\"completion_tokens\":439,"
         "\"completion_time\":1.2,\"total_tokens\":457,\"total_time\":1.2}}}\n\n"
         "data: [DONE]\n\n");
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    tokens_are(&s, 18, 439, 0);
    cost_is(&s, (18 * 0.59 + 439 * 0.79) / 1e6);
    tt_span_clear(&s);
}

/* --- DeepSeek ---------------------------------------------------------------- */

Test(compat, deepseek_cache_hit_miss)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "deepseek",
         "{\"model\":\"deepseek-chat\",\"messages\":[]}", false,
         "{\"id\":\"d1\",\"object\":\"chat.completion\",\"model\":\"deepseek-chat\",\"choices\":[{\"index\":0,"
         "\"message\":{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
         "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":50,\"total_tokens\":1050,"
         "\"prompt_cache_hit_tokens\":300,\"prompt_cache_miss_tokens\":700}}");
    cr_assert_str_eq(s.status, "ok");
    tokens_are(&s, 1000, 50, 300);
    /* Hits at the cache price, misses at the input price. */
    cost_is(&s, (700 * 0.28 + 300 * 0.028 + 50 * 0.42) / 1e6);
    tt_span_clear(&s);
}

Test(compat, deepseek_reasoner_stream_reasoning_tokens)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "deepseek",
         "{\"model\":\"deepseek-reasoner\",\"stream\":true,\"messages\":[]}", true,
         "data: {\"id\":\"d2\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,"
         "\"delta\":{\"reasoning_content\":\"think\"},\"finish_reason\":null}]}\n\n"
         "data: {\"id\":\"d2\",\"model\":\"deepseek-reasoner\",\"choices\":[{\"index\":0,"
         "\"delta\":{\"content\":\"4\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":10,"
         "\"completion_tokens\":90,\"total_tokens\":100,\"prompt_cache_hit_tokens\":0,"
         "\"prompt_cache_miss_tokens\":10,\"completion_tokens_details\":{\"reasoning_tokens\":80}}}\n\n"
         "data: [DONE]\n\n");
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    tokens_are(&s, 10, 90, 0);
    cr_assert_eq(s.reasoning_tokens, 80);
    cr_assert(fabs(s.ttft_ms - 1.0) < 1e-9);  /* reasoning is the first token */
    cost_is(&s, (10 * 0.28 + 90 * 0.42) / 1e6);
    tt_span_clear(&s);
}

/* --- OpenRouter -------------------------------------------------------------- */

/* usage.cost is what OpenRouter charged: it is the span's cost, even for
 * a model no table row prices. */
Test(compat, openrouter_stream_usage_cost)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "openrouter",
         "{\"model\":\"acme/unpriced-model\",\"stream\":true,\"messages\":[]}", true,
         ": OPENROUTER PROCESSING\n\n"
         "data: {\"id\":\"gen-1\",\"model\":\"acme/unpriced-model\",\"choices\":[{\"index\":0,"
         "\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n"
         ": OPENROUTER PROCESSING\n\n"
         "data: {\"id\":\"gen-1\",\"model\":\"acme/unpriced-model\",\"choices\":[{\"index\":0,"
         "\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"
         "data: {\"id\":\"gen-1\",\"model\":\"acme/unpriced-model\",\"choices\":[],\"usage\":"
         "{\"prompt_tokens\":100,\"completion_tokens\":20,\"total_tokens\":120,\"cost\":0.000123,"
         "\"is_byok\":false,\"prompt_tokens_details\":{\"cached_tokens\":0},"
         "\"cost_details\":{\"upstream_inference_cost\":null}}}\n\n"
         "data: [DONE]\n\n");
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    tokens_are(&s, 100, 20, 0);
    cost_is(&s, 0.000123);
    tt_span_clear(&s);
}

/* The stated cost wins over a table price too. */
Test(compat, openrouter_body_cost_beats_table)
{
    struct tt_span s;
    call(&s, &tt_openai_chat_api, "openrouter",
         "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", false,
         "{\"id\":\"gen-2\",\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":"
         "{\"role\":\"assistant\",\"content\":\"x\"},\"finish_reason\":\"stop\"}],"
         "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10,\"total_tokens\":1010,\"cost\":0.5}}");
    tokens_are(&s, 1000, 10, 0);
    cost_is(&s, 0.5);
    tt_span_clear(&s);
}

/* A cost that is not a usable number is ignored: the table prices the
 * call where it has a row for the provider (a gateway mapped to
 * "openai"); OpenRouter's own ids have none, so its cost stays unknown
 * rather than guessed. */
Test(compat, openrouter_bad_cost_falls_back)
{
    static const char *const bad[] = { "-1", "\"0.1\"", "null", "1e300" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct tt_span s;
        char body[512];
        snprintf(body, sizeof(body),
                 "{\"id\":\"g\",\"model\":\"gpt-4o-mini\",\"choices\":[],"
                 "\"usage\":{\"prompt_tokens\":1000,\"completion_tokens\":10,\"cost\":%s}}", bad[i]);
        call(&s, &tt_openai_chat_api, "openai",
             "{\"model\":\"gpt-4o-mini\",\"messages\":[]}", false, body);
        cr_assert(!s.has_provider_cost, "cost %s taken", bad[i]);
        cost_is(&s, (1000 * 0.15 + 10 * 0.60) / 1e6);
        tt_span_clear(&s);
        call(&s, &tt_openai_chat_api, "openrouter",
             "{\"model\":\"acme/unpriced-model\",\"messages\":[]}", false, body);
        cr_assert(s.usage_known && !s.cost_known, "cost %s", bad[i]);
        tt_span_clear(&s);
    }
}

/* --- Cohere v2 chat ----------------------------------------------------------- */

/* billed_units (what Cohere bills) are the span's tokens; tokens (which
 * also count Cohere's prompt template) are not. */
Test(compat, cohere_body_billed_units)
{
    struct tt_span s;
    call(&s, &tt_cohere_chat_api, "cohere",
         "{\"model\":\"command-a-03-2025\",\"temperature\":0.3,\"p\":0.9,\"max_tokens\":100,"
         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}", false,
         "{\"id\":\"c-1\",\"message\":{\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
         "\"text\":\"Hello\"},{\"type\":\"text\",\"text\":\" there\"}]},\"finish_reason\":\"COMPLETE\","
         "\"usage\":{\"billed_units\":{\"input_tokens\":5,\"output_tokens\":418},"
         "\"tokens\":{\"input_tokens\":71,\"output_tokens\":420}}}");
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    cr_assert_str_eq(s.name, "chat command-a-03-2025");
    cr_assert_str_eq(s.operation, "chat");
    cr_assert_str_eq(s.response_id, "c-1");
    cr_assert_str_eq(s.finish_reasons, "[\"COMPLETE\"]");
    cr_assert_str_eq(s.output, "\"Hello there\"");
    cr_assert(s.has_temperature && s.has_top_p && s.has_max_tokens);
    cr_assert_eq(s.max_tokens, 100);
    cr_assert(fabs(s.top_p - 0.9) < 1e-12);
    tokens_are(&s, 5, 418, 0);
    tt_span_clear(&s);
}

Test(compat, cohere_body_tokens_when_no_billed_units)
{
    struct tt_span s;
    call(&s, &tt_cohere_chat_api, "cohere", "{\"model\":\"command-r\",\"messages\":[]}", false,
         "{\"id\":\"c-2\",\"message\":{\"role\":\"assistant\",\"content\":[]},\"finish_reason\":\"COMPLETE\","
         "\"usage\":{\"tokens\":{\"input_tokens\":71,\"output_tokens\":42}}}");
    tokens_are(&s, 71, 42, 0);
    tt_span_clear(&s);
}

Test(compat, cohere_error_body)
{
    struct tt_span s;
    call(&s, &tt_cohere_chat_api, "cohere", "{\"model\":\"command-r\",\"messages\":[]}", false,
         "{\"id\":\"e1\",\"message\":\"invalid request: model 'x' not found\"}");
    cr_assert_str_eq(s.status, "error");
    cr_assert_str_eq(s.error, "invalid request: model 'x' not found");
    cr_assert(!s.usage_known);
    cr_assert(!s.cost_known);
    tt_span_clear(&s);
}

#define CO_EV(type, json) "event: " type "\ndata: " json "\n\n"

Test(compat, cohere_stream_tool_call)
{
    struct tt_span s;
    call(&s, &tt_cohere_chat_api, "cohere",
         "{\"model\":\"command-r\",\"stream\":true,\"messages\":[]}", true,
         CO_EV("message-start", "{\"id\":\"c-3\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}")
         CO_EV("tool-plan-delta", "{\"type\":\"tool-plan-delta\",\"delta\":{\"message\":{\"tool_plan\":\"I will\"}}}")
         CO_EV("tool-call-start", "{\"type\":\"tool-call-start\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":"
               "{\"id\":\"get_weather_1\",\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"\"}}}}}")
         CO_EV("tool-call-delta", "{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":"
               "{\"function\":{\"arguments\":\"{\\\"city\\\":\"}}}}}")
         CO_EV("tool-call-delta", "{\"type\":\"tool-call-delta\",\"index\":0,\"delta\":{\"message\":{\"tool_calls\":"
               "{\"function\":{\"arguments\":\"\\\"Paris\\\"}\"}}}}}")
         CO_EV("tool-call-end", "{\"type\":\"tool-call-end\",\"index\":0}")
         CO_EV("message-end", "{\"type\":\"message-end\",\"id\":\"c-3\",\"delta\":{\"finish_reason\":\"TOOL_CALL\","
               "\"usage\":{\"billed_units\":{\"input_tokens\":30,\"output_tokens\":12},"
               "\"tokens\":{\"input_tokens\":94,\"output_tokens\":12}}}}"));
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    cr_assert_str_eq(s.response_id, "c-3");
    cr_assert_str_eq(s.finish_reasons, "[\"TOOL_CALL\"]");
    cr_assert_str_eq(s.tool_calls,
                     "[{\"id\":\"get_weather_1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]");
    cr_assert_null(s.output);
    cr_assert(fabs(s.ttft_ms - 2.0) < 1e-9, "ttft %f", s.ttft_ms);
    tokens_are(&s, 30, 12, 0);
    tt_span_clear(&s);
}

Test(compat, cohere_stream_text_and_cut)
{
    struct tt_span s;
    const char *head =
        CO_EV("message-start", "{\"id\":\"c-4\",\"type\":\"message-start\",\"delta\":{\"message\":{\"role\":\"assistant\"}}}")
        CO_EV("content-start", "{\"type\":\"content-start\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"type\":\"text\",\"text\":\"\"}}}}")
        CO_EV("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"Bon\"}}}}")
        CO_EV("content-delta", "{\"type\":\"content-delta\",\"index\":0,\"delta\":{\"message\":{\"content\":{\"text\":\"jour\"}}}}");
    char full[2048];

    snprintf(full, sizeof(full), "%s%s", head,
             CO_EV("content-end", "{\"type\":\"content-end\",\"index\":0}")
             CO_EV("message-end", "{\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\","
                   "\"usage\":{\"billed_units\":{\"input_tokens\":7,\"output_tokens\":2},"
                   "\"tokens\":{\"input_tokens\":71,\"output_tokens\":2}}}}"));
    call(&s, &tt_cohere_chat_api, "cohere", "{\"model\":\"command-r\",\"stream\":true}", true, full);
    cr_assert_str_eq(s.status, "ok", "%s", s.error);
    cr_assert_str_eq(s.output, "\"Bonjour\"");
    cr_assert(fabs(s.ttft_ms - 3.0) < 1e-9, "ttft %f", s.ttft_ms);
    tokens_are(&s, 7, 2, 0);
    tt_span_clear(&s);

    /* No message-end: the stream did not finish and no usage is invented. */
    call(&s, &tt_cohere_chat_api, "cohere", "{\"model\":\"command-r\",\"stream\":true}", true, head);
    cr_assert_str_eq(s.status, "error");
    cr_assert(strstr(s.error, "message-end"));
    cr_assert(!s.usage_known);
    tt_span_clear(&s);
}

/* --- hosts and response headers ------------------------------------------------- */

Test(compat, host_rows)
{
    static const struct { const char *host, *want; } rows[] = {
        { "myres.openai.azure.com", "azure.ai.openai" },
        { "MyRes.OpenAI.Azure.com:443", "azure.ai.openai" },
        { "proj.services.ai.azure.com", "azure.ai.openai" },
        { "eastus.api.cognitive.microsoft.com", NULL },
        { "res.cognitiveservices.azure.com", "azure.ai.openai" },
        { "openai.azure.com", NULL },        /* a suffix row needs a subdomain */
        { "evilopenai.azure.com", NULL },
        { "api.mistral.ai", "mistral_ai" },
        { "api.groq.com", "groq" },
        { "api.deepseek.com", "deepseek" },
        { "api.x.ai", "x_ai" },
        { "openrouter.ai", "openrouter" },
        { "api.together.xyz", "together_ai" },
        { "api.together.ai", "together_ai" },
        { "api.fireworks.ai", "fireworks_ai" },
        { "api.perplexity.ai", "perplexity" },
        { "api.cohere.com", "cohere" },
        { "api.cohere.ai.", "cohere" },
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        const char *got = tt_provider_for_host(rows[i].host, strlen(rows[i].host));
        if (!rows[i].want)
            cr_assert_null(got, "%s -> %s", rows[i].host, got);
        else
            cr_assert(got && !strcmp(got, rows[i].want), "%s -> %s", rows[i].host,
                      got ? got : "(null)");
    }
}

#define H(n, v) { n, sizeof(n) - 1, v, sizeof(v) - 1 }

Test(compat, provider_from_headers)
{
    const struct tt_hdr oai[] = { H("Content-Type", "application/json"),
                                  H("OpenAI-Version", "2020-10-01") };
    const struct tt_hdr ant[] = { H("request-id", "req_1"),
                                  H("anthropic-ratelimit-tokens-remaining", "9000") };
    const struct tt_hdr az[] = { H("x-ratelimit-remaining-requests", "99"),
                                 H("apim-request-id", "6b0f") };
    /* A gateway in front of Azure passes both kinds: Azure wins. */
    const struct tt_hdr both[] = { H("openai-processing-ms", "12"),
                                   H("x-ms-region", "East US") };
    /* Rate-limit headers every OpenAI-compatible API sends name nobody;
     * "anthropic-ratelimit" needs its dash-separated tail to be a prefix. */
    const struct tt_hdr none[] = { H("x-ratelimit-limit-requests", "14400"),
                                   H("x-request-id", "req_01h"),
                                   H("openai-versionx", "1") };

    cr_assert_str_eq(tt_provider_from_headers(oai, 2), "openai");
    cr_assert_str_eq(tt_provider_from_headers(ant, 2), "anthropic");
    cr_assert_str_eq(tt_provider_from_headers(az, 2), "azure.ai.openai");
    cr_assert_str_eq(tt_provider_from_headers(both, 2), "azure.ai.openai");
    cr_assert_null(tt_provider_from_headers(none, 3));
    cr_assert_null(tt_provider_from_headers(NULL, 0));
}

Test(compat, provider_guess_only_for_unnamed_hosts)
{
    cr_assert(tt_provider_is_guess("gateway.internal:8443", 21));
    cr_assert(tt_provider_is_guess("", 0));
    cr_assert(!tt_provider_is_guess("api.groq.com", 12));
    cr_assert(!tt_provider_is_guess("localhost:11434", 15));   /* ollama's port */
}

Test(compat, cohere_route)
{
    const char *az = "/openai/deployments/d/chat/completions?api-version=2024-10-21";

    cr_assert_eq(tt_api_match("POST", 4, "/v2/chat", 8), &tt_cohere_chat_api);
    cr_assert_eq(tt_api_match("POST", 4, az, strlen(az)), &tt_openai_chat_api);
    cr_assert_null(tt_api_match("GET", 3, "/v2/chat", 8));
}
