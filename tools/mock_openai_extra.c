/*
 * mock_openai_extra.c - the mock's OpenAI APIs beyond Chat Completions:
 * the Responses API (POST /v1/responses, whole and as its named-event SSE
 * stream), embeddings (POST /v1/embeddings, float or base64 vectors) and
 * legacy completions (POST /v1/completions, whole and streamed), in the
 * wire shapes of shared/research/providers.md sections 2 and 3.
 *
 * Control headers work as on the chat route (tools/mock.c): x-mock-usage,
 * -status, -chunks, -delay-ms, -cut, -stream-error (Responses: the flat
 * "error" event; completions: a data: {"error":..} chunk), -no-usage,
 * -chunked, -response-model. Besides, the request's own output cap
 * (max_output_tokens, max_tokens) below the number of text pieces cuts
 * the answer short as the real API does: Responses status "incomplete"
 * with incomplete_details.reason "max_output_tokens", completions
 * finish_reason "length".
 */
#include "mock_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

/* What the request's output cap does to the canned text. */
struct tt_mock_oax {
	long pieces;                      /* text pieces (tokens) in the answer */
	int cut;                          /* the cap cut the answer short */
};

static void tt_mock_oax_cap(const struct tt_mock_call *k, const char *key, struct tt_mock_oax *o)
{
	const json_t *body = k->body;
	json_t *v = json_object_get(body, key);
	long max = json_is_integer(v) && json_integer_value(v) > 0 ? (long)json_integer_value(v) : 0;

	o->cut = !k->tool_name && max > 0 && max < k->chunks;
	o->pieces = o->cut ? max : k->chunks;
}

/* Chat's error object and CompletionUsage (mock.c keeps its own static). */
static json_t *tt_mock_oax_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", msg, "type", e->oa_type, "param",
			 "code", e->oa_code);
}

static json_t *tt_mock_oax_usage(const struct tt_mock_usage *u)
{
	json_t *ptd = json_pack("{s:I, s:i}", "cached_tokens", (json_int_t)u->cached, "audio_tokens", 0);

	return json_pack("{s:I, s:I, s:I, s:o, s:{s:I, s:i}}", "prompt_tokens", (json_int_t)u->in,
			 "completion_tokens", (json_int_t)u->out, "total_tokens", (json_int_t)(u->in + u->out),
			 "prompt_tokens_details", ptd, "completion_tokens_details", "reasoning_tokens",
			 (json_int_t)u->reasoning, "audio_tokens", 0);
}

/* --- OpenAI Responses (/v1/responses) ---------------------------------- */

/* response_usage.py: input_tokens includes cached_tokens, output_tokens
 * includes reasoning_tokens. */
static json_t *tt_mock_responses_usage(const struct tt_mock_usage *u)
{
	json_t *itd = json_pack("{s:I}", "cached_tokens", (json_int_t)u->cached);

	if (itd && u->cache_write)
		json_object_set_new(itd, "cache_write_tokens", json_integer(u->cache_write));
	return json_pack("{s:I, s:o, s:I, s:{s:I}, s:I}", "input_tokens", (json_int_t)u->in,
			 "input_tokens_details", itd, "output_tokens", (json_int_t)u->out,
			 "output_tokens_details", "reasoning_tokens", (json_int_t)u->reasoning, "total_tokens",
			 (json_int_t)(u->in + u->out));
}

/* Output item ids share the call's sequence number: "fc_mock…" for a
 * function call, "msg_mock…" for a message (tool_id is "call_mock…"). */
static void tt_mock_responses_item_id(const struct tt_mock_call *k, char *out, size_t cap)
{
	snprintf(out, cap, "%s%s", k->tool_name ? "fc_" : "msg_", k->tool_id + strlen("call_"));
}

/* The one output item: a message with the text or a function call; done=0
 * gives it as output_item.added shows it (no content yet). */
static json_t *tt_mock_responses_item(const struct tt_mock_call *k, const struct tt_mock_oax *o, int done)
{
	const char *status = done ? (o->cut ? "incomplete" : "completed") : "in_progress";
	char id[96];
	char *text;
	json_t *j;

	tt_mock_responses_item_id(k, id, sizeof id);
	if (k->tool_name)
		return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "function_call", "status",
				 status, "arguments", done ? k->tool_args : "", "call_id", k->tool_id, "name",
				 k->tool_name);
	j = json_pack("{s:s, s:s, s:s, s:[], s:s}", "id", id, "type", "message", "status", status, "content",
		      "role", "assistant");
	if (!j || !done)
		return j;
	text = tt_mock_text(o->pieces);
	json_array_append_new(json_object_get(j, "content"),
			      json_pack("{s:s, s:[], s:[], s:s}", "type", "output_text", "annotations", "logprobs",
					"text", text ? text : ""));
	free(text);
	return j;
}

/* The response object (openapi "Response"); output is stolen. Usage only
 * on a finished response, as on the wire. */
static json_t *tt_mock_responses_obj(const struct tt_mock_call *k, const char *status, json_t *output)
{
	int finished = strcmp(status, "in_progress") != 0;
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:n, s:n, s:n, s:s, s:o, s:b, s:n, s:{s:n, s:n}, s:s, s:b,"
			      " s:f, s:{s:{s:s}}, s:s, s:[], s:f, s:s, s:n, s:{}}",
			      "id", k->id, "object", "response", "created_at", k->created, "status", status,
			      "error", "incomplete_details", "instructions", "model", k->model, "output", output,
			      "parallel_tool_calls", 1, "previous_response_id", "reasoning", "effort", "summary",
			      "service_tier", "default", "store", 1, "temperature", 1.0, "text", "format", "type",
			      "text", "tool_choice", "auto", "tools", "top_p", 1.0, "truncation", "disabled",
			      "user", "metadata");

	if (!j)
		return NULL;
	if (finished)
		json_object_set_new(j, "completed_at", json_integer(k->created));
	if (!strcmp(status, "incomplete"))
		json_object_set_new(j, "incomplete_details", json_pack("{s:s}", "reason", "max_output_tokens"));
	json_object_set_new(j, "usage",
			    finished && !k->req->no_usage ? tt_mock_responses_usage(&k->u) : json_null());
	return j;
}

static json_t *tt_mock_responses_response(const struct tt_mock_call *k)
{
	struct tt_mock_oax o;

	tt_mock_oax_cap(k, "max_output_tokens", &o);
	return tt_mock_responses_obj(k, o.cut ? "incomplete" : "completed",
				     json_pack("[o]", tt_mock_responses_item(k, &o, 1)));
}

/* One Responses stream event: j (stolen) gets its "type" (also the SSE
 * event name) and sequence_number. */
static int tt_mock_responses_emit(struct tt_mock_stream *s, const char *type, json_t *j)
{
	if (j) {
		json_object_set_new(j, "type", json_string(type));
		json_object_set_new(j, "sequence_number", json_integer(s->sent));
	}
	return tt_mock_emit_json(s, type, j);
}

/* The event sequence of openapi ~line 17343: created, in_progress, the
 * item and its part added, deltas, the .done events, then the terminal
 * event whose "response" is the whole response with usage. */
static int tt_mock_responses_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	struct tt_mock_oax o;
	long n, err_at;
	const char *end;
	char id[96], ev[64];
	size_t start, len;
	char *text = NULL;
	json_t *j;

	tt_mock_oax_cap(k, "max_output_tokens", &o);
	n = k->tool_name ? tt_mock_delta_count(k) : o.pieces;
	err_at = n / 2 > 1 ? n / 2 : 1;
	end = o.cut ? "incomplete" : "completed";
	tt_mock_responses_item_id(k, id, sizeof id);
	if (tt_mock_responses_emit(s, "response.created",
				   json_pack("{s:o}", "response", tt_mock_responses_obj(k, "in_progress", json_array()))) < 0 ||
	    tt_mock_responses_emit(s, "response.in_progress",
				   json_pack("{s:o}", "response", tt_mock_responses_obj(k, "in_progress", json_array()))) < 0 ||
	    tt_mock_responses_emit(s, "response.output_item.added",
				   json_pack("{s:i, s:o}", "output_index", 0, "item", tt_mock_responses_item(k, &o, 0))) < 0)
		return -1;
	if (!k->tool_name &&
	    tt_mock_responses_emit(s, "response.content_part.added",
				   json_pack("{s:s, s:i, s:i, s:{s:s, s:[], s:[], s:s}}", "item_id", id, "output_index",
					     0, "content_index", 0, "part", "type", "output_text", "annotations",
					     "logprobs", "text", "")) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			j = json_pack("{s:s, s:i, s:s%}", "item_id", id, "output_index", 0, "delta",
				      k->tool_args + start, len);
		} else {
			j = json_pack("{s:s, s:i, s:i, s:s, s:[]}", "item_id", id, "output_index", 0, "content_index",
				      0, "delta", tt_mock_piece(i), "logprobs");
		}
		if (tt_mock_responses_emit(s, k->tool_name ? "response.function_call_arguments.delta"
							   : "response.output_text.delta", j) < 0)
			return -1;
		/* ResponseErrorEvent: flat code/message/param; the stream ends. */
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_responses_emit(s, "error",
					json_pack("{s:s, s:s, s:n}", "code", "server_error", "message",
						  "The server had an error while processing your request (mock).",
						  "param"));
	}
	if (k->tool_name) {
		j = json_pack("{s:s, s:i, s:s, s:s}", "item_id", id, "output_index", 0, "name", k->tool_name,
			      "arguments", k->tool_args);
		if (tt_mock_responses_emit(s, "response.function_call_arguments.done", j) < 0)
			return -1;
	} else {
		text = tt_mock_text(n);
		j = json_pack("{s:s, s:i, s:i, s:s, s:[]}", "item_id", id, "output_index", 0, "content_index", 0,
			      "text", text ? text : "", "logprobs");
		if (tt_mock_responses_emit(s, "response.output_text.done", j) < 0)
			goto fail;
		j = json_pack("{s:s, s:i, s:i, s:{s:s, s:[], s:[], s:s}}", "item_id", id, "output_index", 0,
			      "content_index", 0, "part", "type", "output_text", "annotations", "logprobs", "text",
			      text ? text : "");
		if (tt_mock_responses_emit(s, "response.content_part.done", j) < 0)
			goto fail;
		free(text);
		text = NULL;
	}
	if (tt_mock_responses_emit(s, "response.output_item.done",
				   json_pack("{s:i, s:o}", "output_index", 0, "item", tt_mock_responses_item(k, &o, 1))) < 0)
		return -1;
	snprintf(ev, sizeof ev, "response.%s", end);
	return tt_mock_responses_emit(s, ev, json_pack("{s:o}", "response",
			tt_mock_responses_obj(k, end, json_pack("[o]", tt_mock_responses_item(k, &o, 1)))));
fail:
	free(text);
	return -1;
}

/* --- OpenAI embeddings (/v1/embeddings) -------------------------------- */

#define TT_MOCK_EMBED_DIMS 8              /* without "dimensions"; small on purpose */
#define TT_MOCK_EMBED_MAX_DIMS 4096

/* How many vectors the request asks for: a string or one token array is
 * one input, an array of strings or token arrays one per element. */
static size_t tt_mock_embed_count(const json_t *input)
{
	if (!json_is_array(input))
		return 1;
	if (json_array_size(input) && json_is_integer(json_array_get(input, 0)))
		return 1;
	return json_array_size(input);
}

/* One embedding: a deterministic unit-ish vector, as floats or (base64,
 * what openai-python asks for by default) the little-endian float32 bytes
 * in base64. */
static json_t *tt_mock_embedding(size_t index, long dims, int b64)
{
	float *v = malloc((size_t)dims * sizeof(float));
	unsigned char *enc = NULL;
	json_t *e = NULL, *j;

	if (!v)
		return NULL;
	for (long d = 0; d < dims; d++)
		v[d] = (float)(((long)index * 31 + d * 7) % 17 - 8) / 16.0f;
	if (b64) {
		size_t raw = (size_t)dims * sizeof(float);
		enc = malloc(4 * ((raw + 2) / 3) + 1);
		if (enc && EVP_EncodeBlock(enc, (const unsigned char *)v, (int)raw) >= 0)
			e = json_string((const char *)enc);
	} else if ((e = json_array())) {
		for (long d = 0; d < dims; d++)
			json_array_append_new(e, json_real(v[d]));
	}
	free(enc);
	free(v);
	if (!e)
		return NULL;
	j = json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)index, "embedding", e);
	return j;
}

static json_t *tt_mock_embeddings_response(const struct tt_mock_call *k)
{
	const json_t *body = k->body;
	json_t *dj = json_object_get(body, "dimensions");
	const char *fmt = json_string_value(json_object_get(body, "encoding_format"));
	long dims = TT_MOCK_EMBED_DIMS;
	size_t n = tt_mock_embed_count(json_object_get(body, "input"));
	json_t *data = json_array(), *j;

	if (json_is_integer(dj) && json_integer_value(dj) > 0 && json_integer_value(dj) <= TT_MOCK_EMBED_MAX_DIMS)
		dims = (long)json_integer_value(dj);
	for (size_t i = 0; data && i < n; i++)
		json_array_append_new(data, tt_mock_embedding(i, dims, fmt && !strcmp(fmt, "base64")));
	j = json_pack("{s:s, s:o, s:s}", "object", "list", "data", data, "model", k->model);
	if (j && !k->req->no_usage)
		json_object_set_new(j, "usage", json_pack("{s:I, s:I}", "prompt_tokens", (json_int_t)k->u.in,
							  "total_tokens", (json_int_t)k->u.in));
	return j;
}

/* --- OpenAI legacy completions (/v1/completions) ---------------------- */

static json_t *tt_mock_completions_obj(const struct tt_mock_call *k, json_t *choices)
{
	return json_pack("{s:s, s:s, s:I, s:s, s:s, s:o}", "id", k->id, "object", "text_completion", "created",
			 k->created, "model", k->model, "system_fingerprint", "fp_mock", "choices", choices);
}

static json_t *tt_mock_completions_choice(const char *text, const char *finish)
{
	return json_pack("[{s:s, s:i, s:n, s:s?}]", "text", text, "index", 0, "logprobs", "finish_reason", finish);
}

static json_t *tt_mock_completions_response(const struct tt_mock_call *k)
{
	struct tt_mock_oax o;
	char *text;
	json_t *j;

	tt_mock_oax_cap(k, "max_tokens", &o);
	text = tt_mock_text(o.pieces);
	j = tt_mock_completions_obj(k, tt_mock_completions_choice(text ? text : "", o.cut ? "length" : "stop"));
	free(text);
	if (j && !k->req->no_usage)
		json_object_set_new(j, "usage", tt_mock_oax_usage(&k->u));
	return j;
}

/* data:-only text_completion chunks, the usage chunk (include_usage) and
 * [DONE], like the chat stream. */
static int tt_mock_completions_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	struct tt_mock_oax o;
	long n, err_at;
	json_t *j;

	tt_mock_oax_cap(k, "max_tokens", &o);
	n = o.pieces;
	err_at = n / 2 > 1 ? n / 2 : 1;
	for (long i = 0; i < n; i++) {
		if (tt_mock_emit_json(s, NULL,
				      tt_mock_completions_obj(k, tt_mock_completions_choice(tt_mock_piece(i), NULL))) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_json(s, NULL, tt_mock_oax_error(tt_mock_err_for(500),
					"The server had an error while processing your request (mock)."));
	}
	j = tt_mock_completions_obj(k, tt_mock_completions_choice("", o.cut ? "length" : "stop"));
	if (tt_mock_emit_json(s, NULL, j) < 0)
		return -1;
	if (k->include_usage && !k->req->no_usage) {
		j = tt_mock_completions_obj(k, json_array());
		if (j)
			json_object_set_new(j, "usage", tt_mock_oax_usage(&k->u));
		if (tt_mock_emit_json(s, NULL, j) < 0)
			return -1;
	}
	return tt_mock_emit(s, NULL, "[DONE]");
}

/* Embeddings never stream, whatever the body says. */
static int tt_mock_embeddings_wants_stream(const struct tt_mock_req *r, json_t *body)
{
	(void)r;
	(void)body;
	return 0;
}

const struct tt_mock_provider tt_mock_openai_extra_routes[] = {
	{
		/* Tools are flat: {"type":"function","name":..,"parameters":..}. */
		.name = "openai",
		.path = "/v1/responses",
		.reqid_header = "x-request-id",
		.id_prefix = "resp_mock",
		.tool_id_prefix = "call_mock",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_oax_error,
		.response = tt_mock_responses_response,
		.stream = tt_mock_responses_stream,
	},
	{
		/* No id and no tools. */
		.name = "openai",
		.path = "/v1/embeddings",
		.reqid_header = "x-request-id",
		.id_prefix = "",
		.tool_id_prefix = "",
		.error_body = tt_mock_oax_error,
		.response = tt_mock_embeddings_response,
		.wants_stream = tt_mock_embeddings_wants_stream,
	},
	{
		.name = "openai",
		.path = "/v1/completions",
		.reqid_header = "x-request-id",
		.id_prefix = "cmpl-mock",
		.tool_id_prefix = "",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_oax_error,
		.response = tt_mock_completions_response,
		.stream = tt_mock_completions_stream,
	},
	{ .name = NULL },
};
