/*
 * mock_compat.c - the mock's OpenAI-compatible hosted APIs and Cohere, each
 * with the quirk a tracer must get right (shared/research/providers.md
 * sections 6, 8 and 9):
 *
 *   POST /openai/deployments/{d}/chat/completions   Azure OpenAI
 *        (?api-version= ignored). The body may omit "model": the model is
 *        the deployment name unless x-mock-response-model names the real
 *        one. Request id header apim-request-id (an Azure header). Streams
 *        start with the prompt-filter chunk (model "", id "", choices []),
 *        every choice carries content_filter_results.
 *   POST /groq/openai/v1/chat/completions   Groq: usage adds queue_time..;
 *        top-level x_groq.id; in streams usage only in x_groq.usage on the
 *        finish chunk.
 *   POST /deepseek/chat/completions   DeepSeek: usage.prompt_cache_hit_tokens
 *        / prompt_cache_miss_tokens, no prompt_tokens_details.
 *   POST /openrouter/api/v1/chat/completions   OpenRouter: usage always sent
 *        (streams too), with usage.cost = (0.5 * in + 1.5 * out) / 1e6 USD
 *        -- deliberately no table price, so a test can tell which one the
 *        tracer used; streams open with an ": OPENROUTER PROCESSING" comment.
 *   POST /v2/chat   Cohere v2 chat, whole and streamed (message-start,
 *        content-delta, tool-call-*, message-end with delta.usage).
 *        billed_units = x-mock-usage in/out; tokens.input_tokens adds 64
 *        (the prompt template Cohere counts but does not bill).
 *
 * Control headers work as on the chat route (tools/mock.c).
 */
#include "mock_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Tokens Cohere processes but does not bill, in the mock's answers. */
#define TT_MOCK_COHERE_TEMPLATE 64

enum tt_mock_flavor { TT_MOCK_AZURE, TT_MOCK_GROQ, TT_MOCK_DEEPSEEK, TT_MOCK_OPENROUTER };

static enum tt_mock_flavor tt_mock_flavor_of(const struct tt_mock_call *k)
{
	const char *n = k->prov->name;

	if (!strcmp(n, "azure"))
		return TT_MOCK_AZURE;
	if (!strcmp(n, "groq"))
		return TT_MOCK_GROQ;
	if (!strcmp(n, "deepseek"))
		return TT_MOCK_DEEPSEEK;
	return TT_MOCK_OPENROUTER;
}

/* --- OpenAI-compatible chat ---------------------------------------------- */

static json_t *tt_mock_compat_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", msg, "type", e->oa_type,
			 "param", "code", e->oa_code);
}

static json_t *tt_mock_compat_usage(const struct tt_mock_call *k)
{
	const struct tt_mock_usage *u = &k->u;
	json_t *j = json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)u->in,
			      "completion_tokens", (json_int_t)u->out, "total_tokens",
			      (json_int_t)(u->in + u->out));

	if (!j)
		return NULL;
	switch (tt_mock_flavor_of(k)) {
	case TT_MOCK_DEEPSEEK:
		/* Cache hits and misses instead of prompt_tokens_details. */
		json_object_set_new(j, "prompt_cache_hit_tokens", json_integer(u->cached));
		json_object_set_new(j, "prompt_cache_miss_tokens", json_integer(u->in - u->cached));
		json_object_set_new(j, "completion_tokens_details",
				    json_pack("{s:I}", "reasoning_tokens", (json_int_t)u->reasoning));
		break;
	case TT_MOCK_GROQ:
		json_object_set_new(j, "queue_time", json_real(0.012));
		json_object_set_new(j, "prompt_time", json_real(0.003));
		json_object_set_new(j, "completion_time", json_real(0.25));
		json_object_set_new(j, "total_time", json_real(0.253));
		break;
	case TT_MOCK_OPENROUTER:
		json_object_set_new(j, "cost", json_real((0.5 * (double)u->in + 1.5 * (double)u->out) / 1e6));
		json_object_set_new(j, "is_byok", json_false());
		/* OpenRouter also has the OpenAI details. */
		__attribute__((fallthrough));
	case TT_MOCK_AZURE:
		json_object_set_new(j, "prompt_tokens_details",
				    json_pack("{s:I}", "cached_tokens", (json_int_t)u->cached));
		json_object_set_new(j, "completion_tokens_details",
				    json_pack("{s:I}", "reasoning_tokens", (json_int_t)u->reasoning));
		break;
	}
	return j;
}

static json_t *tt_mock_azure_filters(void)
{
	return json_pack("{s:{s:b, s:s}, s:{s:b, s:s}, s:{s:b, s:s}, s:{s:b, s:s}}", "hate", "filtered", 0,
			 "severity", "safe", "self_harm", "filtered", 0, "severity", "safe", "sexual",
			 "filtered", 0, "severity", "safe", "violence", "filtered", 0, "severity", "safe");
}

static json_t *tt_mock_compat_response(const struct tt_mock_call *k)
{
	enum tt_mock_flavor f = tt_mock_flavor_of(k);
	json_t *msg, *resp, *choice;
	char *text = NULL;

	if (k->tool_name) {
		msg = json_pack("{s:s, s:n, s:[{s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant", "content",
				"tool_calls", "id", k->tool_id, "type", "function", "function", "name",
				k->tool_name, "arguments", k->tool_args);
	} else {
		text = tt_mock_text(k->chunks);
		msg = json_pack("{s:s, s:s}", "role", "assistant", "content", text ? text : "");
	}
	free(text);
	choice = json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "message", msg, "logprobs", "finish_reason",
			   k->tool_name ? "tool_calls" : "stop");
	if (choice && f == TT_MOCK_AZURE)
		json_object_set_new(choice, "content_filter_results", tt_mock_azure_filters());
	resp = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", k->id, "object", "chat.completion", "created",
			 k->created, "model", k->model, "choices", choice);
	if (!resp)
		return NULL;
	if (f == TT_MOCK_AZURE)
		json_object_set_new(resp, "prompt_filter_results",
				    json_pack("[{s:i, s:o}]", "prompt_index", 0, "content_filter_results",
					      tt_mock_azure_filters()));
	if (f == TT_MOCK_GROQ)
		json_object_set_new(resp, "x_groq", json_pack("{s:s}", "id", "req_mock_groq"));
	if (!k->req->no_usage)
		json_object_set_new(resp, "usage", tt_mock_compat_usage(k));
	return resp;
}

/* One chunk; delta is stolen. usage (stolen, may be NULL): Groq puts it in
 * x_groq, the others at the top level. */
static int tt_mock_compat_chunk(struct tt_mock_stream *s, const struct tt_mock_call *k, json_t *delta,
				const char *finish, json_t *usage)
{
	enum tt_mock_flavor f = tt_mock_flavor_of(k);
	json_t *choice = json_pack("{s:i, s:o, s:n, s:s?}", "index", 0, "delta", delta, "logprobs",
				   "finish_reason", finish);
	json_t *j;

	if (choice && f == TT_MOCK_AZURE)
		json_object_set_new(choice, "content_filter_results", tt_mock_azure_filters());
	j = json_pack("{s:s, s:s, s:I, s:s, s:[o]}", "id", k->id, "object", "chat.completion.chunk", "created",
		      k->created, "model", k->model, "choices", choice);
	if (j && f == TT_MOCK_GROQ) {
		json_t *xg = json_pack("{s:s}", "id", "req_mock_groq");
		if (usage)
			json_object_set_new(xg, "usage", usage);
		json_object_set_new(j, "x_groq", xg);
	} else if (j && usage) {
		json_object_set_new(j, "usage", usage);
	} else {
		json_decref(usage);
	}
	return tt_mock_emit_json(s, NULL, j);
}

static int tt_mock_compat_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	enum tt_mock_flavor f = tt_mock_flavor_of(k);
	long n = tt_mock_delta_count(k);
	long err_at = n / 2 > 1 ? n / 2 : 1;
	int want_usage = !k->req->no_usage && (k->include_usage || f == TT_MOCK_OPENROUTER);
	json_t *delta;
	size_t start, len;

	if (f == TT_MOCK_OPENROUTER && tt_mock_emit_raw(s, ": OPENROUTER PROCESSING\n\n", 25) < 0)
		return -1;
	if (f == TT_MOCK_AZURE &&
	    tt_mock_emit_json(s, NULL,
			      json_pack("{s:[], s:i, s:s, s:s, s:s, s:[{s:i, s:o}]}", "choices", "created", 0,
					"id", "", "model", "", "object", "", "prompt_filter_results",
					"prompt_index", 0, "content_filter_results",
					tt_mock_azure_filters())) < 0)
		return -1;
	if (k->tool_name)
		delta = json_pack("{s:s, s:n, s:[{s:i, s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant",
				  "content", "tool_calls", "index", 0, "id", k->tool_id, "type", "function",
				  "function", "name", k->tool_name, "arguments", "");
	else
		delta = json_pack("{s:s, s:s}", "role", "assistant", "content", "");
	if (tt_mock_compat_chunk(s, k, delta, NULL, NULL) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			delta = json_pack("{s:[{s:i, s:{s:s%}}]}", "tool_calls", "index", 0, "function",
					  "arguments", k->tool_args + start, len);
		} else {
			delta = json_pack("{s:s}", "content", tt_mock_piece(i));
		}
		if (tt_mock_compat_chunk(s, k, delta, NULL, NULL) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_json(s, NULL, tt_mock_compat_error(tt_mock_err_for(500),
					"The server had an error while processing your request (mock)."));
	}
	/* Groq: the finish chunk carries x_groq.usage, always. */
	if (tt_mock_compat_chunk(s, k, json_object(), k->tool_name ? "tool_calls" : "stop",
				 f == TT_MOCK_GROQ && !k->req->no_usage ? tt_mock_compat_usage(k) : NULL) < 0)
		return -1;
	if (f != TT_MOCK_GROQ && want_usage &&
	    tt_mock_emit_json(s, NULL,
			      json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", k->id, "object",
					"chat.completion.chunk", "created", k->created, "model", k->model,
					"choices", "usage", tt_mock_compat_usage(k))) < 0)
		return -1;
	return tt_mock_emit(s, NULL, "[DONE]");
}

/* Azure: /openai/deployments/{deployment}/chat/completions (dispatch has
 * cut the query string off already). */
#define TT_MOCK_AZ_PREFIX "/openai/deployments/"
#define TT_MOCK_AZ_SUFFIX "/chat/completions"

static int tt_mock_azure_match(const char *path)
{
	size_t pl = strlen(TT_MOCK_AZ_PREFIX), sl = strlen(TT_MOCK_AZ_SUFFIX), n = strlen(path);

	return n > pl + sl && !strncmp(path, TT_MOCK_AZ_PREFIX, pl) && !strcmp(path + n - sl, TT_MOCK_AZ_SUFFIX) &&
	       !memchr(path + pl, '/', n - pl - sl);
}

/* The body's model if any, else the deployment name (what an Azure
 * response would never say, which is why tests set x-mock-response-model). */
static const char *tt_mock_azure_model(const struct tt_mock_req *r, json_t *body, char *buf, size_t n)
{
	const char *m = json_string_value(json_object_get(body, "model"));
	size_t pl = strlen(TT_MOCK_AZ_PREFIX), dl = strlen(r->path) - pl - strlen(TT_MOCK_AZ_SUFFIX);

	if (m)
		return m;
	snprintf(buf, n, "%.*s", (int)dl, r->path + pl);
	return buf;
}

/* --- Cohere v2 chat ------------------------------------------------------ */

static json_t *tt_mock_cohere_error(const struct tt_mock_err *e, const char *msg)
{
	(void)e;
	return json_pack("{s:s, s:s}", "id", "mock-error", "message", msg);
}

static json_t *tt_mock_cohere_usage(const struct tt_mock_usage *u)
{
	return json_pack("{s:{s:I, s:I}, s:{s:I, s:I}}", "billed_units", "input_tokens", (json_int_t)u->in,
			 "output_tokens", (json_int_t)u->out, "tokens", "input_tokens",
			 (json_int_t)(u->in + TT_MOCK_COHERE_TEMPLATE), "output_tokens", (json_int_t)u->out);
}

static json_t *tt_mock_cohere_response(const struct tt_mock_call *k)
{
	json_t *msg, *resp;
	char *text = NULL;

	if (k->tool_name) {
		msg = json_pack("{s:s, s:s, s:[{s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant", "tool_plan",
				"I will call the tool.", "tool_calls", "id", k->tool_id, "type", "function",
				"function", "name", k->tool_name, "arguments", k->tool_args);
	} else {
		text = tt_mock_text(k->chunks);
		msg = json_pack("{s:s, s:[{s:s, s:s}]}", "role", "assistant", "content", "type", "text", "text",
				text ? text : "");
	}
	free(text);
	resp = json_pack("{s:s, s:o, s:s}", "id", k->id, "message", msg, "finish_reason",
			 k->tool_name ? "TOOL_CALL" : "COMPLETE");
	if (resp && !k->req->no_usage)
		json_object_set_new(resp, "usage", tt_mock_cohere_usage(&k->u));
	return resp;
}

/* One event; j is stolen and gets its "type" (SSE event name = type). */
static int tt_mock_cohere_emit(struct tt_mock_stream *s, const char *type, json_t *j)
{
	if (j)
		json_object_set_new(j, "type", json_string(type));
	return tt_mock_emit_json(s, type, j);
}

static int tt_mock_cohere_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = tt_mock_delta_count(k);
	long err_at = n / 2 > 1 ? n / 2 : 1;
	json_t *end;
	size_t start, len;

	if (tt_mock_cohere_emit(s, "message-start",
				json_pack("{s:s, s:{s:{s:s}}}", "id", k->id, "delta", "message", "role",
					  "assistant")) < 0)
		return -1;
	if (k->tool_name) {
		if (tt_mock_cohere_emit(s, "tool-plan-delta",
					json_pack("{s:{s:{s:s}}}", "delta", "message", "tool_plan",
						  "I will call the tool.")) < 0 ||
		    tt_mock_cohere_emit(s, "tool-call-start",
					json_pack("{s:i, s:{s:{s:{s:s, s:s, s:{s:s, s:s}}}}}", "index", 0, "delta",
						  "message", "tool_calls", "id", k->tool_id, "type", "function",
						  "function", "name", k->tool_name, "arguments", "")) < 0)
			return -1;
	} else if (tt_mock_cohere_emit(s, "content-start",
				       json_pack("{s:i, s:{s:{s:{s:s, s:s}}}}", "index", 0, "delta", "message",
						 "content", "type", "text", "text", "")) < 0) {
		return -1;
	}
	for (long i = 0; i < n; i++) {
		int rc;
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			rc = tt_mock_cohere_emit(s, "tool-call-delta",
						 json_pack("{s:i, s:{s:{s:{s:{s:s%}}}}}", "index", 0, "delta",
							   "message", "tool_calls", "function", "arguments",
							   k->tool_args + start, len));
		} else {
			rc = tt_mock_cohere_emit(s, "content-delta",
						 json_pack("{s:i, s:{s:{s:{s:s}}}}", "index", 0, "delta", "message",
							   "content", "text", tt_mock_piece(i)));
		}
		if (rc < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_json(s, NULL, tt_mock_cohere_error(NULL,
					"internal server error (mock)"));
	}
	if (tt_mock_cohere_emit(s, k->tool_name ? "tool-call-end" : "content-end",
				json_pack("{s:i}", "index", 0)) < 0)
		return -1;
	end = json_pack("{s:s, s:{s:s}}", "id", k->id, "delta", "finish_reason",
			k->tool_name ? "TOOL_CALL" : "COMPLETE");
	if (end && !k->req->no_usage)
		json_object_set_new(json_object_get(end, "delta"), "usage", tt_mock_cohere_usage(&k->u));
	return tt_mock_cohere_emit(s, "message-end", end);
}

const struct tt_mock_provider tt_mock_compat_routes[] = {
	{
		.name = "azure",
		.path = TT_MOCK_AZ_PREFIX "{deployment}" TT_MOCK_AZ_SUFFIX,
		.reqid_header = "apim-request-id",
		.id_prefix = "chatcmpl-mockaz",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_compat_error,
		.response = tt_mock_compat_response,
		.stream = tt_mock_compat_stream,
		.match = tt_mock_azure_match,
		.model_of = tt_mock_azure_model,
	},
	{
		.name = "groq",
		.path = "/groq/openai/v1/chat/completions",
		.reqid_header = "x-request-id",
		.id_prefix = "chatcmpl-mockgq",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream",
		.error_body = tt_mock_compat_error,
		.response = tt_mock_compat_response,
		.stream = tt_mock_compat_stream,
	},
	{
		.name = "deepseek",
		.path = "/deepseek/chat/completions",
		.id_prefix = "mockds-",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_compat_error,
		.response = tt_mock_compat_response,
		.stream = tt_mock_compat_stream,
	},
	{
		.name = "openrouter",
		.path = "/openrouter/api/v1/chat/completions",
		.id_prefix = "gen-mock",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream",
		.error_body = tt_mock_compat_error,
		.response = tt_mock_compat_response,
		.stream = tt_mock_compat_stream,
	},
	{
		.name = "cohere",
		.path = "/v2/chat",
		.id_prefix = "mock-cohere-",
		.tool_id_prefix = "mock_tool_",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream",
		.error_body = tt_mock_cohere_error,
		.response = tt_mock_cohere_response,
		.stream = tt_mock_cohere_stream,
	},
	{ .name = NULL },
};
