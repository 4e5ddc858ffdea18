/* test_openai_responses.c - OpenAI Responses API, embeddings and legacy
 * completions parsers, on recorded-shape bodies and streams
 * (research/providers.md sections 2 and 3; the Responses bodies follow the
 * openapi examples, the streams the event sequence of openapi ~line 17343
 * and the event types of openai-python src/openai/types/responses/).
 * Streams go through the real SSE parser at several feed sizes; every case
 * asserts the span a user would see. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "sse.h"
#include "tt.h"
#include "provider_harness.h"

#define NOTTFT -1.0

struct expect {
    const char *error;              /* NULL: status ok */
    const char *response_id;
    const char *response_model;
    const char *finish_reasons;
    const char *output;
    const char *tool_calls;
    bool usage_known;
    int64_t in, out, cache_read, cache_write, reasoning;
    double ttft_ms;                 /* -1: none */
};

struct ocase {
    const char *name;
    enum kind kind;
    const char *in;
    bool cut;                       /* transport says the response was cut */
    struct expect want;
};

/* --- harness (as in test_openai.c) -------------------------------------- */

static void check(const struct tt_span *s, const struct expect *w,
                  const char *name, size_t split)
{
    expect_str(s->status, w->error ? "error" : "ok", "status", name, split);
    expect_str(s->error, w->error, "error", name, split);
    expect_str(s->response_id, w->response_id, "response_id", name, split);
    expect_str(s->response_model, w->response_model, "response_model", name,
               split);
    expect_str(s->finish_reasons, w->finish_reasons, "finish_reasons", name,
               split);
    expect_str(s->output, w->output, "output", name, split);
    expect_str(s->tool_calls, w->tool_calls, "tool_calls", name, split);
    cr_assert_eq(s->usage_known, w->usage_known, "%s [split %zu]: usage_known",
                 name, split);
    cr_assert_eq(s->input_tokens, w->in, "%s: input_tokens %ld", name,
                 (long)s->input_tokens);
    cr_assert_eq(s->output_tokens, w->out, "%s: output_tokens %ld", name,
                 (long)s->output_tokens);
    cr_assert_eq(s->cache_read_tokens, w->cache_read, "%s: cache_read", name);
    cr_assert_eq(s->cache_write_tokens, w->cache_write, "%s: cache_write",
                 name);
    cr_assert_eq(s->reasoning_tokens, w->reasoning, "%s: reasoning", name);
    cr_assert_float_eq(s->ttft_ms, w->ttft_ms, 1e-9, "%s [split %zu]: ttft %f",
                       name, split, s->ttft_ms);
}

static void run_cases(const struct tt_api_ops *ops, const char *req_body,
                      const char *req_stream, const struct ocase *cases,
                      size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const struct ocase *c = &cases[i];
        size_t nsplit = c->kind == BODY ? 1 : sizeof(splits) / sizeof(splits[0]);
        for (size_t k = 0; k < nsplit; k++) {
            struct tt_span span;
            size_t split = c->kind == BODY ? 0 : splits[k];
            run(ops, &span, c->kind == BODY ? req_body : req_stream, c->kind,
                c->in, split, c->cut);
            check(&span, &c->want, c->name, split);
            tt_span_clear(&span);
        }
    }
}

/* --- Responses: fixtures ------------------------------------------------ */

static const char b_ok[] =
    "{\n  \"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
    "\",\n  \"object\": \"response\",\n  \"created_at\": 1741290958,\n  \""
    "status\": \"completed\",\n  \"error\": null,\n  \"incomplete_details"
    "\": null,\n  \"instructions\": null,\n  \"model\": \"gpt-5.4-2026-03"
    "-05\",\n  \"output\": [\n    {\n      \"id\": \"rs_1\",\n      \"typ"
    "e\": \"reasoning\",\n      \"summary\": []\n    },\n    {\n      \"i"
    "d\": \"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\n    "
    "  \"type\": \"message\",\n      \"status\": \"completed\",\n      \""
    "role\": \"assistant\",\n      \"content\": [\n        {\n          \""
    "type\": \"output_text\",\n          \"text\": \"Hi there!\",\n      "
    "    \"annotations\": []\n        }\n      ]\n    }\n  ],\n  \"usage\""
    ": {\n    \"input_tokens\": 36,\n    \"input_tokens_details\": {\n   "
    "   \"cached_tokens\": 0,\n      \"cache_write_tokens\": 0\n    },\n "
    "   \"output_tokens\": 87,\n    \"output_tokens_details\": {\n      \""
    "reasoning_tokens\": 0\n    },\n    \"total_tokens\": 123\n  }\n}";

static const char b_tool[] =
    "{\"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\", "
    "\"object\": \"response\", \"created_at\": 1741290958, \"status\": \""
    "completed\", \"error\": null, \"incomplete_details\": null, \"instru"
    "ctions\": null, \"model\": \"gpt-5.4-2026-03-05\", \"output\": [{\"t"
    "ype\": \"function_call\", \"id\": \"fc_67ca09c6bedc8190a7abfec07b1a1"
    "332096610f474011cc0\", \"call_id\": \"call_unLAR8MvFNptuiZK6K6HCy5k\""
    ", \"name\": \"get_current_weather\", \"arguments\": \"{\\\"location\\\""
    ":\\\"Boston, MA\\\",\\\"unit\\\":\\\"celsius\\\"}\", \"status\": \"c"
    "ompleted\"}], \"usage\": {\"input_tokens\": 37, \"input_tokens_detai"
    "ls\": {\"cached_tokens\": 5}, \"output_tokens\": 11, \"output_tokens"
    "_details\": {\"reasoning_tokens\": 3}, \"total_tokens\": 48}}";

static const char b_incomplete[] =
    "{\"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\", "
    "\"object\": \"response\", \"created_at\": 1741290958, \"status\": \""
    "incomplete\", \"error\": null, \"incomplete_details\": {\"reason\": "
    "\"max_output_tokens\"}, \"instructions\": null, \"model\": \"gpt-5.4"
    "-2026-03-05\", \"output\": [{\"id\": \"msg_67c9fdcf37fc8190ba82116e3"
    "3fb28c507b8b0ad4e5eb654\", \"type\": \"message\", \"status\": \"comp"
    "leted\", \"role\": \"assistant\", \"content\": [{\"type\": \"output_"
    "text\", \"text\": \"Hi there!\", \"annotations\": []}]}], \"usage\":"
    " {\"input_tokens\": 37, \"input_tokens_details\": {\"cached_tokens\""
    ": 5}, \"output_tokens\": 11, \"output_tokens_details\": {\"reasoning"
    "_tokens\": 3}, \"total_tokens\": 48}}";

static const char b_failed[] =
    "{\"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\", "
    "\"object\": \"response\", \"created_at\": 1741290958, \"status\": \""
    "failed\", \"error\": {\"code\": \"server_error\", \"message\": \"The"
    " model failed to generate a response.\"}, \"incomplete_details\": nu"
    "ll, \"instructions\": null, \"model\": \"gpt-5.4-2026-03-05\", \"out"
    "put\": [], \"usage\": null}";

static const char b_err[] =
    "{\"error\": {\"message\": \"Incorrect API key provided: sk-abc.\", \""
    "type\": \"invalid_request_error\", \"param\": null, \"code\": \"inva"
    "lid_api_key\"}}";

static const char b_nousage[] =
    "{\"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\", "
    "\"object\": \"response\", \"created_at\": 1741290958, \"status\": \""
    "completed\", \"error\": null, \"incomplete_details\": null, \"instru"
    "ctions\": null, \"model\": \"gpt-5.4-2026-03-05\", \"output\": [{\"i"
    "d\": \"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\", \"typ"
    "e\": \"message\", \"status\": \"completed\", \"role\": \"assistant\""
    ", \"content\": [{\"type\": \"output_text\", \"text\": \"Hi there!\","
    " \"annotations\": []}]}], \"usage\": null}";

static const char b_refusal[] =
    "{\"id\": \"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\", "
    "\"object\": \"response\", \"created_at\": 1741290958, \"status\": \""
    "completed\", \"error\": null, \"incomplete_details\": null, \"instru"
    "ctions\": null, \"model\": \"gpt-5.4-2026-03-05\", \"output\": [{\"i"
    "d\": \"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\", \"typ"
    "e\": \"message\", \"status\": \"completed\", \"role\": \"assistant\""
    ", \"content\": [{\"type\": \"refusal\", \"refusal\": \"I can't help "
    "with that.\"}]}], \"usage\": {\"input_tokens\": 37, \"input_tokens_d"
    "etails\": {\"cached_tokens\": 5}, \"output_tokens\": 11, \"output_to"
    "kens_details\": {\"reasoning_tokens\": 3}, \"total_tokens\": 48}}";

static const char s_text[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: response.output_text.done\ndat"
    "a: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"i"
    "tem_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}\n\neven"
    "t: response.completed\ndata: {\"type\":\"response.completed\",\"sequ"
    "ence_number\":8,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"completed\",\"error\":null,\"incomplete_detail"
    "s\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\"ou"
    "tput\":[{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb6"
    "54\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assist"
    "ant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi there!\","
    "\"annotations\":[]}]}],\"usage\":{\"input_tokens\":37,\"input_tokens"
    "_details\":{\"cached_tokens\":5},\"output_tokens\":11,\"output_token"
    "s_details\":{\"reasoning_tokens\":3},\"total_tokens\":48}}}\n\n";

static const char s_done[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: response.output_text.done\ndat"
    "a: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"i"
    "tem_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}\n\neven"
    "t: response.completed\ndata: {\"type\":\"response.completed\",\"sequ"
    "ence_number\":8,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"completed\",\"error\":null,\"incomplete_detail"
    "s\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\"ou"
    "tput\":[{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb6"
    "54\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assist"
    "ant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi there!\","
    "\"annotations\":[]}]}],\"usage\":{\"input_tokens\":37,\"input_tokens"
    "_details\":{\"cached_tokens\":5},\"output_tokens\":11,\"output_token"
    "s_details\":{\"reasoning_tokens\":3},\"total_tokens\":48}}}\n\ndata:"
    " [DONE]\n\n";

static const char s_tool[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.output_item.added\nd"
    "ata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
    "\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_"
    "67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\"call_id\":\"cal"
    "l_unLAR8MvFNptuiZK6K6HCy5k\",\"name\":\"get_current_weather\",\"argu"
    "ments\":\"\",\"status\":\"in_progress\"}}\n\nevent: response.functio"
    "n_call_arguments.delta\ndata: {\"type\":\"response.function_call_arg"
    "uments.delta\",\"sequence_number\":2,\"item_id\":\"fc_67ca09c6bedc81"
    "90a7abfec07b1a1332096610f474011cc0\",\"output_index\":0,\"delta\":\""
    "{\\\"location\\\":\"}\n\nevent: response.function_call_arguments.del"
    "ta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"seq"
    "uence_number\":3,\"item_id\":\"fc_67ca09c6bedc8190a7abfec07b1a133209"
    "6610f474011cc0\",\"output_index\":0,\"delta\":\"\\\"Boston, MA\\\",\""
    "}\n\nevent: response.function_call_arguments.delta\ndata: {\"type\":"
    "\"response.function_call_arguments.delta\",\"sequence_number\":4,\"i"
    "tem_id\":\"fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\"o"
    "utput_index\":0,\"delta\":\"\\\"unit\\\":\\\"celsius\\\"}\"}\n\neven"
    "t: response.function_call_arguments.done\ndata: {\"type\":\"response"
    ".function_call_arguments.done\",\"sequence_number\":5,\"item_id\":\""
    "fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\"output_index"
    "\":0,\"arguments\":\"{\\\"location\\\":\\\"Boston, MA\\\",\\\"unit\\\""
    ":\\\"celsius\\\"}\"}\n\nevent: response.output_item.done\ndata: {\"t"
    "ype\":\"response.output_item.done\",\"sequence_number\":6,\"output_i"
    "ndex\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_67ca09c6be"
    "dc8190a7abfec07b1a1332096610f474011cc0\",\"call_id\":\"call_unLAR8Mv"
    "FNptuiZK6K6HCy5k\",\"name\":\"get_current_weather\",\"arguments\":\""
    "{\\\"location\\\":\\\"Boston, MA\\\",\\\"unit\\\":\\\"celsius\\\"}\""
    ",\"status\":\"completed\"}}\n\nevent: response.completed\ndata: {\"t"
    "ype\":\"response.completed\",\"sequence_number\":7,\"response\":{\"i"
    "d\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\"obje"
    "ct\":\"response\",\"created_at\":1741290958,\"status\":\"completed\""
    ",\"error\":null,\"incomplete_details\":null,\"instructions\":null,\""
    "model\":\"gpt-5.4-2026-03-05\",\"output\":[{\"type\":\"function_call"
    "\",\"id\":\"fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\""
    "call_id\":\"call_unLAR8MvFNptuiZK6K6HCy5k\",\"name\":\"get_current_w"
    "eather\",\"arguments\":\"{\\\"location\\\":\\\"Boston, MA\\\",\\\"un"
    "it\\\":\\\"celsius\\\"}\",\"status\":\"completed\"}],\"usage\":{\"in"
    "put_tokens\":37,\"input_tokens_details\":{\"cached_tokens\":5},\"out"
    "put_tokens\":11,\"output_tokens_details\":{\"reasoning_tokens\":3},\""
    "total_tokens\":48}}}\n\n";

static const char s_tool_deltas_only[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.output_item.added\nd"
    "ata: {\"type\":\"response.output_item.added\",\"sequence_number\":1,"
    "\"output_index\":0,\"item\":{\"type\":\"function_call\",\"id\":\"fc_"
    "67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\"call_id\":\"cal"
    "l_unLAR8MvFNptuiZK6K6HCy5k\",\"name\":\"get_current_weather\",\"argu"
    "ments\":\"\",\"status\":\"in_progress\"}}\n\nevent: response.functio"
    "n_call_arguments.delta\ndata: {\"type\":\"response.function_call_arg"
    "uments.delta\",\"sequence_number\":2,\"item_id\":\"fc_67ca09c6bedc81"
    "90a7abfec07b1a1332096610f474011cc0\",\"output_index\":0,\"delta\":\""
    "{\\\"location\\\":\"}\n\nevent: response.function_call_arguments.del"
    "ta\ndata: {\"type\":\"response.function_call_arguments.delta\",\"seq"
    "uence_number\":3,\"item_id\":\"fc_67ca09c6bedc8190a7abfec07b1a133209"
    "6610f474011cc0\",\"output_index\":0,\"delta\":\"\\\"Boston, MA\\\",\""
    "}\n\nevent: response.function_call_arguments.delta\ndata: {\"type\":"
    "\"response.function_call_arguments.delta\",\"sequence_number\":4,\"i"
    "tem_id\":\"fc_67ca09c6bedc8190a7abfec07b1a1332096610f474011cc0\",\"o"
    "utput_index\":0,\"delta\":\"\\\"unit\\\":\\\"celsius\\\"}\"}\n\neven"
    "t: response.completed\ndata: {\"type\":\"response.completed\",\"sequ"
    "ence_number\":7,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"completed\",\"error\":null,\"incomplete_detail"
    "s\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\"ou"
    "tput\":[],\"usage\":{\"input_tokens\":37,\"input_tokens_details\":{\""
    "cached_tokens\":5},\"output_tokens\":11,\"output_tokens_details\":{\""
    "reasoning_tokens\":3},\"total_tokens\":48}}}\n\n";

static const char s_incomplete[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: response.output_text.done\ndat"
    "a: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"i"
    "tem_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}\n\neven"
    "t: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"se"
    "quence_number\":8,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a0"
    "409de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":"
    "1741290958,\"status\":\"incomplete\",\"error\":null,\"incomplete_det"
    "ails\":{\"reason\":\"content_filter\"},\"instructions\":null,\"model"
    "\":\"gpt-5.4-2026-03-05\",\"output\":[{\"id\":\"msg_67c9fdcf37fc8190"
    "ba82116e33fb28c507b8b0ad4e5eb654\",\"type\":\"message\",\"status\":\""
    "completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_t"
    "ext\",\"text\":\"Hi there!\",\"annotations\":[]}]}],\"usage\":{\"inp"
    "ut_tokens\":37,\"input_tokens_details\":{\"cached_tokens\":5},\"outp"
    "ut_tokens\":11,\"output_tokens_details\":{\"reasoning_tokens\":3},\""
    "total_tokens\":48}}}\n\n";

static const char s_failed[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: response.output_text.done\ndat"
    "a: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"i"
    "tem_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}\n\neven"
    "t: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_n"
    "umber\":8,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1"
    "ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17412909"
    "58,\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"mess"
    "age\":\"The model failed.\"},\"incomplete_details\":null,\"instructi"
    "ons\":null,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":"
    "null}}\n\n";

static const char s_error[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: error\ndata: {\"type\":\"error"
    "\",\"code\":\"rate_limit_exceeded\",\"message\":\"Rate limit reached"
    ".\",\"param\":null,\"sequence_number\":6}\n\n";

static const char s_trunc[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\n";

static const char s_nousage[] =
    "event: response.created\ndata: {\"type\":\"response.created\",\"sequ"
    "ence_number\":0,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"in_progress\",\"error\":null,\"incomplete_deta"
    "ils\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\""
    "output\":[],\"usage\":null}}\n\nevent: response.in_progress\ndata: {"
    "\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\""
    ":{\"id\":\"resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654\",\""
    "object\":\"response\",\"created_at\":1741290958,\"status\":\"in_prog"
    "ress\",\"error\":null,\"incomplete_details\":null,\"instructions\":n"
    "ull,\"model\":\"gpt-5.4-2026-03-05\",\"output\":[],\"usage\":null}}\n"
    "\nevent: response.output_item.added\ndata: {\"type\":\"response.outp"
    "ut_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\""
    "id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"type"
    "\":\"message\",\"status\":\"in_progress\",\"role\":\"assistant\",\"c"
    "ontent\":[]}}\n\nevent: response.content_part.added\ndata: {\"type\""
    ":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\""
    "msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_inde"
    "x\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\""
    ":\"\",\"annotations\":[]}}\n\nevent: response.output_text.delta\ndat"
    "a: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\""
    "item_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"delta\":\"Hi\",\"logprobs\":["
    "]}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response."
    "output_text.delta\",\"sequence_number\":5,\"item_id\":\"msg_67c9fdcf"
    "37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\"output_index\":0,\"cont"
    "ent_index\":0,\"delta\":\" there\",\"logprobs\":[]}\n\nevent: respon"
    "se.output_text.delta\ndata: {\"type\":\"response.output_text.delta\""
    ",\"sequence_number\":6,\"item_id\":\"msg_67c9fdcf37fc8190ba82116e33f"
    "b28c507b8b0ad4e5eb654\",\"output_index\":0,\"content_index\":0,\"del"
    "ta\":\"!\",\"logprobs\":[]}\n\nevent: response.output_text.done\ndat"
    "a: {\"type\":\"response.output_text.done\",\"sequence_number\":7,\"i"
    "tem_id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb654\",\""
    "output_index\":0,\"content_index\":0,\"text\":\"Hi there!\"}\n\neven"
    "t: response.completed\ndata: {\"type\":\"response.completed\",\"sequ"
    "ence_number\":8,\"response\":{\"id\":\"resp_67c9fdcecf488190bdd9a040"
    "9de3a1ec07b8b0ad4e5eb654\",\"object\":\"response\",\"created_at\":17"
    "41290958,\"status\":\"completed\",\"error\":null,\"incomplete_detail"
    "s\":null,\"instructions\":null,\"model\":\"gpt-5.4-2026-03-05\",\"ou"
    "tput\":[{\"id\":\"msg_67c9fdcf37fc8190ba82116e33fb28c507b8b0ad4e5eb6"
    "54\",\"type\":\"message\",\"status\":\"completed\",\"role\":\"assist"
    "ant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi there!\","
    "\"annotations\":[]}]}],\"usage\":null}}\n\n";

/* The events the parser reads without a tree (openai_responses.c
 * tt_resp_event_fast), each next to one the tree path must take (escaped
 * names, a tool item, 0.0 for an index) or that is lost (not JSON, not an
 * object): the span must be what the tree path alone gave. */
#define EV(json) "data: " json "\n\n"
#define DONE_RESP(output)                                                      \
    EV("{\"type\":\"response.completed\",\"response\":{\"id\":\"r1\",\"model\":" \
       "\"m1\",\"status\":\"completed\",\"output\":" output ",\"usage\":{"      \
       "\"input_tokens\":3,\"output_tokens\":2}}}")

static const char s_fast_text[] =
    EV("{\"type\":\"response.created\",\"response\":{\"id\":\"r0\",\"model\":\"m0\"}}")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":\"\"}")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":7}")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":\"a\\nb \\u00e9 \\\"q\\\"\"}")
    EV("{\"type\":\"response.output_text.delt\\u0061\",\"delta\":\"!\"}")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":\"lost\"")
    EV("[\"response.output_text.delta\"]")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":\"\xff\"}")
    EV("{\"type\":\"response.content_part.done\",\"part\":{\"text\":\"no\"}}")
    DONE_RESP("[]");

static const char s_fast_tool[] =
    EV("{\"type\":\"response.output_item.added\",\"output_index\":0,\"item\":{"
       "\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\","
       "\"name\":\"f\",\"arguments\":\"\"}}")
    EV("{\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\","
       "\"delta\":\"{\\\"a\\\":\"}")
    EV("{\"type\":\"response.function_call_arguments.delta\",\"item_id\":"
       "\"fc_\\u0031\",\"delta\":\" \"}")
    EV("{\"type\":\"response.function_call_arguments.delta\",\"output_index\":0,"
       "\"delta\":\"1\"}")
    EV("{\"type\":\"response.function_call_arguments.delta\",\"output_index\":0.0,"
       "\"delta\":\"}\"}")
    EV("{\"type\":\"response.output_item.added\",\"output_index\":1,\"item\":{"
       "\"type\":\"message\",\"id\":\"msg_1\"}}")
    DONE_RESP("[]");

static const char s_fast_created[] =
    EV("{\"type\":\"response.created\",\"response\":{\"id\":\"resp_\\u0031\","
       "\"model\":\"m\\u0030\",\"output\":[]}}")
    EV("{\"type\":\"response.in_progress\",\"response\":{\"id\":\"\",\"model\":7}}")
    EV("{\"type\":\"response.output_text.delta\",\"delta\":\"x\"}");

#define RID "resp_67c9fdcecf488190bdd9a0409de3a1ec07b8b0ad4e5eb654"
#define RMODEL "gpt-5.4-2026-03-05"
#define TOOLS                                                                  \
    "[{\"id\":\"call_unLAR8MvFNptuiZK6K6HCy5k\",\"name\":"                     \
    "\"get_current_weather\",\"arguments\":\"{\\\"location\\\":\\\"Boston, "   \
    "MA\\\",\\\"unit\\\":\\\"celsius\\\"}\"}]"
#define HI "\"Hi there!\""

static const struct ocase resp_cases[] = {
    { "body: openapi example (reasoning item, then message)", BODY, b_ok, false,
      { NULL, RID, RMODEL, "[\"stop\"]", HI, NULL, true, 36, 87, 0, 0, 0,
        NOTTFT } },
    { "body: function_call item", BODY, b_tool, false,
      { NULL, RID, RMODEL, "[\"tool_calls\"]", NULL, TOOLS, true, 37, 11, 5, 0,
        3, NOTTFT } },
    { "body: incomplete at max_output_tokens", BODY, b_incomplete, false,
      { NULL, RID, RMODEL, "[\"max_output_tokens\"]", HI, NULL, true, 37, 11, 5,
        0, 3, NOTTFT } },
    { "body: status failed", BODY, b_failed, false,
      { "server_error: The model failed to generate a response.", RID, RMODEL,
        NULL, NULL, NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "body: error object", BODY, b_err, false,
      { "invalid_request_error: Incorrect API key provided: sk-abc.", NULL,
        NULL, NULL, NULL, NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "body: usage null", BODY, b_nousage, false,
      { NULL, RID, RMODEL, "[\"stop\"]", HI, NULL, false, 0, 0, 0, 0, 0,
        NOTTFT } },
    { "body: refusal", BODY, b_refusal, false,
      { NULL, RID, RMODEL, "[\"stop\"]", "\"I can't help with that.\"", NULL,
        true, 37, 11, 5, 0, 3, NOTTFT } },
    { "stream: text", STREAM, s_text, false,
      { NULL, RID, RMODEL, "[\"stop\"]", HI, NULL, true, 37, 11, 5, 0, 3,
        5.0 } },
    { "stream: text then [DONE]", STREAM, s_done, false,
      { NULL, RID, RMODEL, "[\"stop\"]", HI, NULL, true, 37, 11, 5, 0, 3,
        5.0 } },
    { "stream: tool call", STREAM, s_tool, false,
      { NULL, RID, RMODEL, "[\"tool_calls\"]", NULL, TOOLS, true, 37, 11, 5, 0,
        3, 3.0 } },
    { "stream: tool call rebuilt from deltas", STREAM, s_tool_deltas_only,
      false,
      { NULL, RID, RMODEL, "[\"tool_calls\"]", NULL, TOOLS, true, 37, 11, 5, 0,
        3, 3.0 } },
    { "stream: response.incomplete", STREAM, s_incomplete, false,
      { NULL, RID, RMODEL, "[\"content_filter\"]", HI, NULL, true, 37, 11, 5,
        0, 3, 5.0 } },
    { "stream: response.failed", STREAM, s_failed, false,
      { "server_error: The model failed.", RID, RMODEL, NULL, HI, NULL, false,
        0, 0, 0, 0, 0, 5.0 } },
    { "stream: error event in a 200 stream", STREAM, s_error, false,
      { "rate_limit_exceeded: Rate limit reached.", RID, RMODEL, NULL, HI,
        NULL, false, 0, 0, 0, 0, 0, 5.0 } },
    { "stream: ends without a terminal event", STREAM, s_trunc, false,
      { "stream ended before completion (no terminal event)", RID, RMODEL,
        NULL, HI, NULL, false, 0, 0, 0, 0, 0, 5.0 } },
    { "stream: cut by the transport", STREAM, s_trunc, true,
      { "stream ended before completion (cut short)", RID, RMODEL, NULL, HI,
        NULL, false, 0, 0, 0, 0, 0, 5.0 } },
    { "stream: usage null on response.completed", STREAM, s_nousage, false,
      { NULL, RID, RMODEL, "[\"stop\"]", HI, NULL, false, 0, 0, 0, 0, 0,
        5.0 } },
    { "stream: read without a tree, escapes and events that are lost",
      STREAM, s_fast_text, false,
      { NULL, "r1", "m1", "[\"stop\"]", "\"a\\nb \xc3\xa9 \\\"q\\\"!\"", NULL, true,
        3, 2, 0, 0, 0, 4.0 } },
    { "stream: tool arguments by item id, escaped id, index and 0.0",
      STREAM, s_fast_tool, false,
      { NULL, "r1", "m1", "[\"tool_calls\"]", NULL,
        "[{\"id\":\"call_1\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\": 1}\"}]",
        true, 3, 2, 0, 0, 0, 2.0 } },
    { "stream: response.created read without a tree", STREAM, s_fast_created,
      false,
      { "stream ended before completion (no terminal event)", "resp_1", "m0",
        NULL, "\"x\"", NULL, false, 0, 0, 0, 0, 0, 3.0 } },
    { "stream: no events at all", STREAM, "", false,
      { "stream ended before completion (no events)", NULL, NULL, NULL, NULL,
        NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
};

static const char resp_req[] = "{\"model\":\"gpt-5.4\",\"input\":\"hi\"}";
static const char resp_req_stream[] =
    "{\"model\":\"gpt-5.4\",\"input\":\"hi\",\"stream\":true}";

Test(openai_responses, cases)
{
    tt_api_set_capture(true);
    run_cases(&tt_openai_responses_api, resp_req, resp_req_stream, resp_cases,
              sizeof(resp_cases) / sizeof(resp_cases[0]));
}

Test(openai_responses, every_prefix_is_safe)
{
    const char *all[] = { s_tool, s_text, s_error };

    tt_api_set_capture(true);
    for (size_t k = 0; k < 3; k++) {
        size_t len = strlen(all[k]);
        char *buf = malloc(len + 1);
        cr_assert_not_null(buf);
        for (size_t n = 0; n <= len; n += 5) {
            struct tt_span s;
            memcpy(buf, all[k], n);
            buf[n] = '\0';
            run(&tt_openai_responses_api, &s, resp_req_stream, STREAM, buf, 3,
                n < len);
            /* Never ok before the terminal event arrived. */
            if (n < len - 40)
                cr_assert_str_eq(s.status, "error", "prefix %zu", n);
            tt_span_clear(&s);
            run(&tt_openai_responses_api, &s, resp_req, BODY, buf, 0, false);
            tt_span_clear(&s);
        }
        free(buf);
    }
}

Test(openai_responses, capture_off_keeps_counts_and_tool_names)
{
    struct tt_span s;

    tt_api_set_capture(false);
    run(&tt_openai_responses_api, &s,
        "{\"model\":\"gpt-5.4\",\"instructions\":\"secret\",\"input\":\"secret\","
        "\"stream\":true}",
        STREAM, s_tool_deltas_only, 7, false);
    cr_assert_null(s.input);
    cr_assert_null(s.output);
    cr_assert_str_eq(s.tool_calls, "[{\"id\":\"call_unLAR8MvFNptuiZK6K6HCy5k\","
                                   "\"name\":\"get_current_weather\"}]");
    cr_assert(s.usage_known);
    cr_assert_eq(s.input_tokens, 37);
    tt_span_clear(&s);
    run(&tt_openai_responses_api, &s, NULL, BODY, b_tool, 0, false);
    cr_assert_str_eq(s.tool_calls, "[{\"id\":\"call_unLAR8MvFNptuiZK6K6HCy5k\","
                                   "\"name\":\"get_current_weather\"}]");
    tt_span_clear(&s);
}

struct rcase {
    const char *name;
    const char *body;
    const char *model;
    bool stream;
    int64_t max_tokens;             /* -1: absent */
    const char *input;
};

static const struct rcase resp_reqs[] = {
    { "string input, no instructions",
      "{\"model\":\"gpt-5.4\",\"input\":\"Tell me a joke\"}", "gpt-5.4", false,
      -1, "\"Tell me a joke\"" },
    { "instructions put first, string input becomes a user item",
      "{\"model\":\"gpt-5.4\",\"instructions\":\"Be terse.\",\"input\":"
      "\"Hi\",\"max_output_tokens\":64,\"stream\":true}",
      "gpt-5.4", true, 64,
      "[{\"role\":\"system\",\"content\":\"Be terse.\"},{\"role\":\"user\","
      "\"content\":\"Hi\"}]" },
    { "instructions before an item list (raw text kept)",
      "{\"input\": [ {\"role\": \"user\", \"content\": \"Hi\"} ],"
      "\"instructions\":\"Be terse.\",\"model\":\"gpt-5.4\"}",
      "gpt-5.4", false, -1,
      "[{\"role\":\"system\",\"content\":\"Be terse.\"}, {\"role\": \"user\", "
      "\"content\": \"Hi\"} ]" },
    { "instructions with an empty list",
      "{\"model\":\"gpt-5.4\",\"instructions\":\"x\",\"input\":[ ]}",
      "gpt-5.4", false, -1, "[{\"role\":\"system\",\"content\":\"x\"}]" },
    { "instructions null",
      "{\"model\":\"gpt-5.4\",\"instructions\":null,\"input\":[1]}", "gpt-5.4",
      false, -1, "[1]" },
    { "truncated after the model",
      "{\"model\":\"gpt-5.4\",\"input\":[{\"role\":\"user\",\"content\":\"Hi",
      "gpt-5.4", false, -1, NULL },
};

Test(openai_responses, requests)
{
    tt_api_set_capture(true);
    for (size_t i = 0; i < sizeof(resp_reqs) / sizeof(resp_reqs[0]); i++) {
        const struct rcase *c = &resp_reqs[i];
        struct tt_span s;
        tt_span_init(&s);
        (void)tt_openai_responses_api.request(&s, c->body, strlen(c->body));
        expect_str(s.request_model, c->model, "request_model", c->name, 0);
        expect_str(s.operation, "chat", "operation", c->name, 0);
        expect_str(s.name, "chat gpt-5.4", "name", c->name, 0);
        expect_str(s.input, c->input, "input", c->name, 0);
        cr_assert_eq(s.stream, c->stream, "%s: stream", c->name);
        cr_assert_eq(s.has_max_tokens, c->max_tokens >= 0, "%s", c->name);
        if (c->max_tokens >= 0)
            cr_assert_eq(s.max_tokens, c->max_tokens, "%s", c->name);
        tt_span_clear(&s);
    }
}

Test(openai_responses, routes)
{
    cr_assert_eq(tt_api_match("POST", 4, "/v1/responses", 13),
                 &tt_openai_responses_api);
    cr_assert_eq(tt_api_match("POST", 4, "/openai/v1/responses?x=1", 24),
                 &tt_openai_responses_api);
    cr_assert_eq(tt_api_match("POST", 4, "/v1/embeddings", 14),
                 &tt_openai_embeddings_api);
    cr_assert_eq(tt_api_match("POST", 4, "/v1/completions", 15),
                 &tt_openai_completions_api);
    cr_assert_eq(tt_api_match("POST", 4, "/v1/chat/completions", 20),
                 &tt_openai_chat_api);
    cr_assert_null(tt_api_match("GET", 3, "/v1/responses/resp_1", 20));
    cr_assert_null(tt_api_match("POST", 4, "/v1/responses/resp_1/cancel", 27));
    cr_assert_str_eq(tt_openai_embeddings_api.operation, "embeddings");
    cr_assert_str_eq(tt_openai_completions_api.operation, "text_completion");
}

/* --- embeddings --------------------------------------------------------- */

/* providers.md section 3 (openapi ~line 4255). */
static const char emb_float[] =
    "{\n  \"object\": \"list\",\n  \"data\": [\n    {\n      \"object\": "
    "\"embedding\",\n      \"embedding\": [\n        0.0023064255,\n        "
    "-0.009327292,\n        -0.0028842222\n      ],\n      \"index\": 0\n    "
    "}\n  ],\n  \"model\": \"text-embedding-ada-002\",\n  \"usage\": {\n    "
    "\"prompt_tokens\": 8,\n    \"total_tokens\": 8\n  }\n}\n";
static const char emb_b64[] =
    "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
    "\"embedding\":\"AAAAvwAAgL0AAMA+AACAvg==\"},{\"object\":\"embedding\","
    "\"index\":1,\"embedding\":\"AADAPgAAgL4AAEA+AADgvg==\"}],\"model\":"
    "\"text-embedding-3-small\",\"usage\":{\"prompt_tokens\":13,"
    "\"total_tokens\":13}}";

static const struct ocase emb_cases[] = {
    { "float vectors (openapi example)", BODY, emb_float, false,
      { NULL, NULL, "text-embedding-ada-002", NULL, NULL, NULL, true, 8, 0, 0,
        0, 0, NOTTFT } },
    { "base64 vectors", BODY, emb_b64, false,
      { NULL, NULL, "text-embedding-3-small", NULL, NULL, NULL, true, 13, 0, 0,
        0, 0, NOTTFT } },
    { "no usage", BODY,
      "{\"object\":\"list\",\"data\":[],\"model\":\"text-embedding-3-small\"}",
      false,
      { NULL, NULL, "text-embedding-3-small", NULL, NULL, NULL, false, 0, 0, 0,
        0, 0, NOTTFT } },
    { "error body", BODY,
      "{\"error\":{\"message\":\"Rate limit reached.\",\"type\":\"requests\","
      "\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
      false,
      { "requests: Rate limit reached.", NULL, NULL, NULL, NULL, NULL, false, 0,
        0, 0, 0, 0, NOTTFT } },
    { "malformed body", BODY, "{\"object\":\"list\",\"data\":[", false,
      { "malformed response body", NULL, NULL, NULL, NULL, NULL, false, 0, 0,
        0, 0, 0, NOTTFT } },
    { "body cut by the transport", BODY, emb_float, true,
      { "response ended before completion", NULL, "text-embedding-ada-002",
        NULL, NULL, NULL, true, 8, 0, 0, 0, 0, NOTTFT } },
};

Test(openai_embeddings, cases)
{
    tt_api_set_capture(true);
    run_cases(&tt_openai_embeddings_api,
              "{\"model\":\"text-embedding-3-small\",\"input\":\"x\"}", NULL,
              emb_cases, sizeof(emb_cases) / sizeof(emb_cases[0]));
}

Test(openai_embeddings, request_and_capped_body)
{
    struct tt_span s;
    void *st = NULL;
    const char req[] = "{\"input\": [\"alpha\", \"beta\"], \"model\": "
                       "\"text-embedding-3-small\", \"encoding_format\": "
                       "\"base64\"}";

    tt_api_set_capture(true);
    tt_span_init(&s);
    cr_assert_eq(tt_openai_embeddings_api.request(&s, req, sizeof(req) - 1), 0);
    cr_assert_str_eq(s.operation, "embeddings");
    cr_assert_str_eq(s.name, "embeddings text-embedding-3-small");
    cr_assert_str_eq(s.input, "[\"alpha\", \"beta\"]");
    cr_assert_not(s.stream);
    /* A body cut at the capture cap inside the vectors: the call did not
     * fail, its usage (after the vectors) is unknown. */
    s.truncated = true;
    cr_assert_eq(tt_openai_embeddings_api.response_begin(&s, &st), 0);
    (void)tt_openai_embeddings_api.body(st, &s, emb_b64, 60);
    (void)tt_api_response_end(&tt_openai_embeddings_api, st, &s,
                              &(struct tt_api_end){ true, true, false });
    tt_openai_embeddings_api.response_free(st);
    cr_assert_str_eq(s.status, "ok");
    cr_assert_not(s.usage_known);
    cr_assert_null(s.output);
    tt_span_clear(&s);
}

/* --- legacy completions ------------------------------------------------- */

/* providers.md section 3 (openapi ~line 3186), verbatim. */
static const char cmp_body[] =
    "{ \"id\": \"cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7\", \"object\": "
    "\"text_completion\", \"created\": 1589478378,\n  \"model\": "
    "\"VAR_completion_model_id\", \"system_fingerprint\": \"fp_44709d6fcb\",\n"
    "  \"choices\": [ { \"text\": \"\\n\\nThis is indeed a test\", \"index\": "
    "0, \"logprobs\": null, \"finish_reason\": \"length\" } ],\n  \"usage\": "
    "{ \"prompt_tokens\": 5, \"completion_tokens\": 7, \"total_tokens\": 12 "
    "} }";

#define CHUNK(text, fr)                                                        \
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,"   \
    "\"choices\":[{\"text\":\"" text "\",\"index\":0,\"logprobs\":null,"       \
    "\"finish_reason\":" fr "}],\"model\":\"gpt-3.5-turbo-instruct\"}\n\n"
#define USAGE_CHUNK                                                            \
    "data: {\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,"   \
    "\"choices\":[],\"model\":\"gpt-3.5-turbo-instruct\",\"usage\":"           \
    "{\"prompt_tokens\":5,\"completion_tokens\":3,\"total_tokens\":8}}\n\n"

static const struct ocase cmp_cases[] = {
    { "body: openapi example", BODY, cmp_body, false,
      { NULL, "cmpl-uqkvlQyYK7bGYrRHQ0eXlWi7", "VAR_completion_model_id",
        "[\"length\"]", "\"\\n\\nThis is indeed a test\"", NULL, true, 5, 7, 0,
        0, 0, NOTTFT } },
    { "body: error", BODY,
      "{\"error\":{\"message\":\"The model does not exist\",\"type\":"
      "\"invalid_request_error\",\"param\":\"model\",\"code\":null}}",
      false,
      { "invalid_request_error: The model does not exist", NULL, NULL, NULL,
        NULL, NULL, false, 0, 0, 0, 0, 0, NOTTFT } },
    { "stream with usage and [DONE]", STREAM,
      CHUNK("", "null") CHUNK("This", "null") CHUNK(" is", "null")
          CHUNK(" it", "null") CHUNK("", "\"stop\"") USAGE_CHUNK
      "data: [DONE]\n\n",
      false,
      { NULL, "cmpl-1", "gpt-3.5-turbo-instruct", "[\"stop\"]",
        "\"This is it\"", NULL, true, 5, 3, 0, 0, 0, 2.0 } },
    { "stream without usage", STREAM,
      CHUNK("A", "null") CHUNK("", "\"length\"") "data: [DONE]\n\n", false,
      { NULL, "cmpl-1", "gpt-3.5-turbo-instruct", "[\"length\"]", "\"A\"",
        NULL, false, 0, 0, 0, 0, 0, 1.0 } },
    { "error chunk in a 200 stream", STREAM,
      CHUNK("A", "null")
      "data: {\"error\":{\"message\":\"The server had an error\",\"type\":"
      "\"server_error\"}}\n\n",
      false,
      { "server_error: The server had an error", "cmpl-1",
        "gpt-3.5-turbo-instruct", NULL, "\"A\"", NULL, false, 0, 0, 0, 0, 0,
        1.0 } },
    { "stream without [DONE]", STREAM, CHUNK("A", "null"), false,
      { "stream ended before completion (no [DONE])", "cmpl-1",
        "gpt-3.5-turbo-instruct", NULL, "\"A\"", NULL, false, 0, 0, 0, 0, 0,
        1.0 } },
    { "two choices (n=2)", STREAM,
      "data: {\"id\":\"cmpl-2\",\"choices\":[{\"text\":\"b\",\"index\":1,"
      "\"finish_reason\":null}]}\n\n"
      "data: {\"id\":\"cmpl-2\",\"choices\":[{\"text\":\"a\",\"index\":0,"
      "\"finish_reason\":\"stop\"}]}\n\n"
      "data: {\"id\":\"cmpl-2\",\"choices\":[{\"text\":\"\",\"index\":1,"
      "\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n",
      false,
      { NULL, "cmpl-2", NULL, "[\"stop\",\"length\"]", "[\"a\",\"b\"]", NULL,
        false, 0, 0, 0, 0, 0, 1.0 } },
};

Test(openai_completions, cases)
{
    tt_api_set_capture(true);
    run_cases(&tt_openai_completions_api,
              "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"x\"}",
              "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":\"x\","
              "\"stream\":true}",
              cmp_cases, sizeof(cmp_cases) / sizeof(cmp_cases[0]));
}

Test(openai_completions, request)
{
    struct tt_span s;
    const char req[] = "{\"model\":\"gpt-3.5-turbo-instruct\",\"prompt\":"
                       "[\"a\", \"b\"],\"max_tokens\":7,\"temperature\":0,"
                       "\"stream\":true}";

    tt_api_set_capture(true);
    tt_span_init(&s);
    cr_assert_eq(tt_openai_completions_api.request(&s, req, sizeof(req) - 1),
                 0);
    cr_assert_str_eq(s.operation, "text_completion");
    cr_assert_str_eq(s.name, "text_completion gpt-3.5-turbo-instruct");
    cr_assert_str_eq(s.input, "[\"a\", \"b\"]");
    cr_assert(s.stream);
    cr_assert(s.has_max_tokens);
    cr_assert_eq(s.max_tokens, 7);
    cr_assert(s.has_temperature);
    tt_span_clear(&s);
}
