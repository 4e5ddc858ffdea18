/* genai_fixture.h - the spans real GenAI clients produce (an OpenAI chat, an
 * Anthropic stream, errors, a tool call, a process), shared by the tests of
 * the sinks that export them (otlp, clickhouse). Header-only. */
#ifndef TT_GENAI_FIXTURE_H
#define TT_GENAI_FIXTURE_H

#include "span_fixture.h"

/* Bytes every encoder must escape: quote, backslash, newline, a control
 * character, and 2-, 3- and 4-byte UTF-8. */
#define FX_NASTY "q\"uote\\back\nnl\x01" "ctl \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"

/* The ids, times and operation every LLM span below shares. */
static inline void fx_llm(struct tt_span *s)
{
    tt_span_init(s);
    memcpy(s->trace_id, "0af7651916cd43dd8448eb211c80319c", 33);
    memcpy(s->span_id, "b7ad6b7169203331", 17);
    fx_set(&s->kind, "llm");
    fx_set(&s->operation, "chat");
    s->start_time = 1718000000123456789LL;
    s->end_time = 1718000001987654321LL;
}

/* A non-streamed chat completion: HTTP 200, usage and cost known. */
static inline void fx_openai_ok(struct tt_span *s)
{
    fx_llm(s);
    memcpy(s->parent_id, "00f067aa0ba902b7", 17);
    fx_set(&s->name, "chat gpt-4o-mini");
    fx_set(&s->provider, "openai");
    fx_set(&s->host, "api.openai.com");
    fx_set(&s->method, "POST");
    fx_set(&s->path, "/v1/chat/completions");
    s->http_status = 200;
    fx_set(&s->request_model, "gpt-4o-mini");
    fx_set(&s->response_model, "gpt-4o-mini-2024-07-18");
    fx_set(&s->response_id, "chatcmpl-123");
    fx_set(&s->finish_reasons, "[\"stop\"]");
    s->has_temperature = true;
    s->temperature = 0.7;
    s->has_max_tokens = true;
    s->max_tokens = 256;
    s->input_tokens = 123;
    s->output_tokens = 45;
    s->reasoning_tokens = 7;
    s->usage_known = true;
    s->cost_usd = 0.00036;
    s->cost_known = true;
    s->pid = 4242;
    fx_set(&s->exe, "/usr/bin/python3.11");
    fx_set(&s->session_id, "sess-1");
    fx_set(&s->tags, "{\"team\":\"ml\",\"n\":1}");
    memcpy(s->conversation_id, "c0ffee0123456789", 17);
    fx_set(&s->input, "[{\"role\":\"user\",\"content\":\"hi\"}]");
    fx_set(&s->output, "\"hello\"");
}

/* A streamed Messages call through a local proxy: a fractional TTFT and
 * cache tokens. */
static inline void fx_anthropic_stream(struct tt_span *s)
{
    fx_llm(s);
    fx_set(&s->name, "chat claude-sonnet-4");
    fx_set(&s->provider, "anthropic");
    fx_set(&s->host, "127.0.0.1:8443");
    fx_set(&s->method, "POST");
    fx_set(&s->path, "/v1/messages");
    s->http_status = 200;
    fx_set(&s->request_model, "claude-sonnet-4");
    fx_set(&s->response_model, "claude-sonnet-4-20250514");
    fx_set(&s->response_id, "msg_01");
    fx_set(&s->finish_reasons, "[\"end_turn\"]");
    s->stream = true;
    s->ttft_ms = 250.5;
    s->input_tokens = 1500;
    s->output_tokens = 80;
    s->cache_read_tokens = 1000;
    s->cache_write_tokens = 200;
    s->usage_known = true;
    s->cost_usd = 0.0123;
    s->cost_known = true;
    fx_set(&s->output, "[{\"type\":\"text\",\"text\":\"hi\"}]");
}

/* Rate limited, behind an IPv6 literal with a port. */
static inline void fx_error_429(struct tt_span *s)
{
    fx_llm(s);
    fx_set(&s->name, "chat gpt-4o-mini");
    fx_set(&s->provider, "openai");
    fx_set(&s->host, "[::1]:9000");
    fx_set(&s->request_model, "gpt-4o-mini");
    fx_set(&s->status, "error");
    fx_set(&s->error, "HTTP 429: rate limited");
    s->http_status = 429;
}

/* Failed before any response: no HTTP status, no usage. */
static inline void fx_error_no_status(struct tt_span *s)
{
    fx_llm(s);
    fx_set(&s->name, "chat gpt-4o-mini");
    fx_set(&s->provider, "openai");
    fx_set(&s->host, "api.openai.com:443");
    fx_set(&s->status, "error");
    fx_set(&s->error, "connection reset by peer");
}

/* A 200 whose body carried no usage: no token counts, no cost. */
static inline void fx_unknown_usage(struct tt_span *s)
{
    fx_llm(s);
    fx_set(&s->name, "chat some-model");
    fx_set(&s->provider, "ollama");
    fx_set(&s->host, "localhost:11434");
    fx_set(&s->request_model, "some-model");
    s->http_status = 200;
    s->input_tokens = 0;
    s->usage_known = false;
    s->cost_known = false;
}

/* A tool call inside a conversation, child of an LLM span. */
static inline void fx_tool(struct tt_span *s)
{
    tt_span_init(s);
    memcpy(s->trace_id, "0af7651916cd43dd8448eb211c80319c", 33);
    memcpy(s->span_id, "1111222233334444", 17);
    memcpy(s->parent_id, "00f067aa0ba902b7", 17);
    fx_set(&s->kind, "tool");
    fx_set(&s->name, "tool get_weather");
    fx_set(&s->operation, "execute_tool");
    s->start_time = 100;
    s->end_time = 200;
    memcpy(s->conversation_id, "c0ffee0123456789", 17);
    fx_set(&s->input, "{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}");
    fx_set(&s->output, "\"sunny\"");
}

/* The process span a program's LLM and tool spans hang under. */
static inline void fx_process(struct tt_span *s)
{
    tt_span_init(s);
    memcpy(s->trace_id, "0af7651916cd43dd8448eb211c80319c", 33);
    memcpy(s->span_id, "aaaabbbbccccdddd", 17);
    fx_set(&s->kind, "process");
    fx_set(&s->name, "process python3 app.py");
    s->start_time = 5;
    s->end_time = 9;
    s->pid = 77;
    fx_set(&s->exe, "/usr/bin/python3.11");
    fx_set(&s->session_id, "sess-9");
}

/* FX_NASTY in the string fields, escapes inside the JSON ones. */
static inline void fx_escapes(struct tt_span *s)
{
    fx_llm(s);
    fx_set(&s->name, "chat " FX_NASTY);
    fx_set(&s->provider, "openai");
    fx_set(&s->request_model, FX_NASTY);
    fx_set(&s->response_id, FX_NASTY);
    fx_set(&s->status, "error");
    fx_set(&s->error, FX_NASTY);
    fx_set(&s->path, "/v1/" FX_NASTY);
    fx_set(&s->tags, "{\"k\\\"ey\":\"v\\n\\u0001\"}");
    fx_set(&s->input, "\"" "caf\xc3\xa9 \\\"x\\\"" "\"");
}

#endif
