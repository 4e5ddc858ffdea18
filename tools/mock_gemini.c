/*
 * mock_gemini.c - the mock's Google Gemini routes: POST
 * /v1beta/models/{model}:generateContent and :streamGenerateContent (the
 * Gemini API), and the same methods on Vertex AI's
 * /v1/projects/{p}/locations/{l}/publishers/google/models/{model}, in the
 * wire shapes of shared/research/providers.md section 5.
 *
 * What is Gemini's own:
 *   - the model is in the path, never in the body;
 *   - streamGenerateContent always answers with SSE "data:" events, CRLF
 *     delimited as on GCP (the mock cannot see ?alt=sse: the dispatcher
 *     strips the query before routing, so the JSON-array form of a stream
 *     without alt=sse is not served);
 *   - every chunk carries usageMetadata; candidatesTokenCount only on the
 *     last one, which also carries finishReason (no [DONE]);
 *   - function calls are whole functionCall parts without an id, when the
 *     request has tools[].functionDeclarations;
 *   - errors are {"error":{"code","message","status"}}; in a started
 *     stream (x-mock-stream-error) they come as plain, pretty-printed JSON
 *     lines without "data:", as Gemini sends them (python-genai
 *     _iter_response_stream brace-balances such lines).
 *
 * Control headers work as on the other routes (tools/mock.c). Usage:
 * promptTokenCount = in (cached included), cachedContentTokenCount =
 * cached, thoughtsTokenCount = reasoning, candidatesTokenCount = out -
 * reasoning; zero counts are omitted, as proto3 JSON does. With
 * generationConfig.thinkingConfig.includeThoughts and reasoning > 0 the
 * answer starts with a thought-summary part.
 */
#include "mock_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#define TT_MOCK_GEMINI_GEN ":generateContent"
#define TT_MOCK_GEMINI_STREAM ":streamGenerateContent"

/* google.rpc.Code names by HTTP status (google/rpc/code.proto). */
static const struct {
	int status;
	const char *name;
} tt_mock_gemini_codes[] = {
	{400, "INVALID_ARGUMENT"}, {401, "UNAUTHENTICATED"}, {403, "PERMISSION_DENIED"},
	{404, "NOT_FOUND"},        {409, "ABORTED"},         {429, "RESOURCE_EXHAUSTED"},
	{499, "CANCELLED"},        {500, "INTERNAL"},        {501, "NOT_IMPLEMENTED"},
	{503, "UNAVAILABLE"},      {504, "DEADLINE_EXCEEDED"},
};

static const char *tt_mock_gemini_code(int status)
{
	for (size_t i = 0; i < sizeof tt_mock_gemini_codes / sizeof tt_mock_gemini_codes[0]; i++)
		if (tt_mock_gemini_codes[i].status == status)
			return tt_mock_gemini_codes[i].name;
	return status >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION";
}

static json_t *tt_mock_gemini_error(const struct tt_mock_err *e, const char *msg)
{
	int status = e->status ? e->status : 500;

	return json_pack("{s:{s:i, s:s, s:s}}", "error", "code", status, "message", msg, "status",
			 tt_mock_gemini_code(status));
}

/* The "{model}" of ".../models/{model}:method" (n > 0), or NULL. */
static const char *tt_mock_gemini_model_span(const char *path, size_t *n)
{
	const char *colon = strrchr(path, ':'), *m;

	if (!colon || strchr(colon, '/'))
		return NULL;
	for (m = colon; m > path && m[-1] != '/'; m--)
		;
	if (m == colon || m - path < 8 || strncmp(m - 8, "/models/", 8))
		return NULL;
	*n = (size_t)(colon - m);
	return m;
}

static int tt_mock_gemini_match(const char *path)
{
	const char *colon = strrchr(path, ':');
	size_t n;

	if (!colon || (strcmp(colon, TT_MOCK_GEMINI_GEN) && strcmp(colon, TT_MOCK_GEMINI_STREAM)))
		return 0;
	/* /v1beta/models/.. or /v1/projects/../publishers/google/models/.. */
	return strncmp(path, "/v1", 3) == 0 && tt_mock_gemini_model_span(path, &n) != NULL;
}

static const char *tt_mock_gemini_model_of(const struct tt_mock_req *r, json_t *body, char *buf, size_t cap)
{
	size_t n = 0;
	const char *m = tt_mock_gemini_model_span(r->path, &n);

	(void)body;
	if (!m || n >= cap)
		return NULL;
	memcpy(buf, m, n);
	buf[n] = '\0';
	return buf;
}

static int tt_mock_gemini_wants_stream(const struct tt_mock_req *r, json_t *body)
{
	const char *colon = strrchr(r->path, ':');

	(void)body;
	return colon && !strcmp(colon, TT_MOCK_GEMINI_STREAM);
}

/* The first functionDeclarations entry of tools[]: its name, and sample
 * arguments for its schema ("parameters", or "parametersJsonSchema"). */
static int tt_mock_gemini_tools_of(struct tt_mock_call *k, json_t *body)
{
	json_t *tools = json_object_get(body, "tools"), *t, *decl = NULL, *schema, *props, *v;
	const char *key;
	size_t i;

	json_array_foreach(tools, i, t) {
		decl = json_array_get(json_object_get(t, "functionDeclarations"), 0);
		if (decl)
			break;
	}
	if (!decl)
		return 0;
	k->tool_name = json_string_value(json_object_get(decl, "name"));
	if (!k->tool_name)
		k->tool_name = "mock_tool";
	k->tool_input = json_object();
	if (!k->tool_input)
		return -1;
	schema = json_object_get(decl, "parameters");
	if (!schema)
		schema = json_object_get(decl, "parametersJsonSchema");
	props = json_object_get(schema, "properties");
	json_object_foreach(props, key, v)
		json_object_set_new(k->tool_input, key, tt_mock_sample(v));
	k->tool_args = json_dumps(k->tool_input, JSON_COMPACT);
	return k->tool_args ? 0 : -1;
}

/* Whether the request asked for thought summaries. */
static int tt_mock_gemini_thoughts(const struct tt_mock_call *k)
{
	const json_t *body = k->body;
	int on = json_is_true(json_object_get(
		json_object_get(json_object_get(body, "generationConfig"), "thinkingConfig"), "includeThoughts"));

	return on && k->u.reasoning > 0;
}

static void tt_mock_gemini_set_count(json_t *u, const char *key, long v)
{
	if (v > 0)
		json_object_set_new(u, key, json_integer(v));
}

/* usageMetadata. final = 0: an early chunk's, without candidatesTokenCount
 * (the thoughts are already counted: they come first). */
static json_t *tt_mock_gemini_usage(const struct tt_mock_usage *u, int final)
{
	long cand = u->out - u->reasoning > 0 ? u->out - u->reasoning : 0;
	json_t *j = json_object();

	if (!j)
		return NULL;
	tt_mock_gemini_set_count(j, "promptTokenCount", u->in);
	if (final)
		tt_mock_gemini_set_count(j, "candidatesTokenCount", cand);
	tt_mock_gemini_set_count(j, "cachedContentTokenCount", u->cached);
	json_object_set_new(j, "totalTokenCount", json_integer(u->in + u->reasoning + (final ? cand : 0)));
	json_object_set_new(j, "promptTokensDetails", json_pack("[{s:s, s:I}]", "modality", "TEXT",
								"tokenCount", (json_int_t)u->in));
	if (u->cached)
		json_object_set_new(j, "cacheTokensDetails", json_pack("[{s:s, s:I}]", "modality", "TEXT",
								       "tokenCount", (json_int_t)u->cached));
	tt_mock_gemini_set_count(j, "thoughtsTokenCount", u->reasoning);
	return j;
}

/* One GenerateContentResponse with parts (stolen); finish NULL: not the
 * last one. */
static json_t *tt_mock_gemini_obj(const struct tt_mock_call *k, json_t *parts, const char *finish, int final)
{
	json_t *cand = json_pack("{s:{s:o, s:s}}", "content", "parts", parts, "role", "model");
	json_t *j;

	if (cand && finish)
		json_object_set_new(cand, "finishReason", json_string(finish));
	if (cand)
		json_object_set_new(cand, "index", json_integer(0));
	j = json_pack("{s:[o]}", "candidates", cand);
	if (!j)
		return NULL;
	if (!k->req->no_usage)
		json_object_set_new(j, "usageMetadata", tt_mock_gemini_usage(&k->u, final));
	json_object_set_new(j, "modelVersion", json_string(k->model));
	json_object_set_new(j, "responseId", json_string(k->id));
	return j;
}

static json_t *tt_mock_gemini_thought_part(void)
{
	return json_pack("{s:s, s:b}", "text", "**Thinking it over (mock)**\n\nThe user wants a canned answer.",
			 "thought", 1);
}

static json_t *tt_mock_gemini_call_part(const struct tt_mock_call *k)
{
	return json_pack("{s:{s:s, s:O}}", "functionCall", "name", k->tool_name, "args", k->tool_input);
}

static json_t *tt_mock_gemini_response(const struct tt_mock_call *k)
{
	json_t *parts = json_array();
	char *text = NULL;

	if (!parts)
		return NULL;
	if (tt_mock_gemini_thoughts(k))
		json_array_append_new(parts, tt_mock_gemini_thought_part());
	if (k->tool_name) {
		json_array_append_new(parts, tt_mock_gemini_call_part(k));
	} else {
		text = tt_mock_text(k->chunks);
		json_array_append_new(parts, json_pack("{s:s}", "text", text ? text : ""));
		free(text);
	}
	return tt_mock_gemini_obj(k, parts, "STOP", 1);
}

/* One chunk as Gemini frames it on GCP: data: JSON, then CRLF CRLF. */
static int tt_mock_gemini_emit(struct tt_mock_stream *s, json_t *j)
{
	char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n = d ? strlen(d) : 0;
	char *buf = d ? malloc(n + 10) : NULL;
	int rc = -1;

	json_decref(j);
	if (buf) {
		memcpy(buf, "data: ", 6);
		memcpy(buf + 6, d, n);
		memcpy(buf + 6 + n, "\r\n\r\n", 4);
		rc = tt_mock_emit_raw(s, buf, n + 10);
	}
	free(buf);
	free(d);
	return rc;
}

/* The error of a started stream: pretty-printed JSON, no "data:". */
static int tt_mock_gemini_emit_error(struct tt_mock_stream *s)
{
	json_t *e = tt_mock_gemini_error(tt_mock_err_for(500), "An internal error has occurred (mock).");
	char *d = e ? json_dumps(e, JSON_INDENT(2)) : NULL;
	size_t n = d ? strlen(d) : 0;
	int rc = -1;

	json_decref(e);
	if (d) {
		/* json_dumps' buffer has room for its NUL: the newline takes it. */
		d[n] = '\n';
		rc = tt_mock_emit_raw(s, d, n + 1);
	}
	free(d);
	return rc;
}

static int tt_mock_gemini_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = k->tool_name ? 1 : k->chunks;
	/* The error comes after some chunks, never after the finishing one
	 * (the answer would be complete): before the only chunk of a
	 * one-chunk answer. */
	long err_at = n == 1 ? 0 : n / 2 > 1 ? n / 2 : 1;
	json_t *parts;

	if (tt_mock_gemini_thoughts(k) &&
	    tt_mock_gemini_emit(s, tt_mock_gemini_obj(k, json_pack("[o]", tt_mock_gemini_thought_part()), NULL, 0)) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		int last = i + 1 == n;
		if (k->req->stream_error && i == err_at)
			return tt_mock_gemini_emit_error(s);
		if (k->tool_name)
			parts = json_pack("[o]", tt_mock_gemini_call_part(k));
		else
			parts = json_pack("[{s:s}]", "text", tt_mock_piece(i));
		if (tt_mock_gemini_emit(s, tt_mock_gemini_obj(k, parts, last ? "STOP" : NULL, last)) < 0)
			return -1;
	}
	return 0;
}

/* The Gemini API's and Vertex AI's routes: one row, matched by pattern. */
const struct tt_mock_provider tt_mock_gemini_routes[] = {
	{
		.name = "gemini",
		.path = "/v1beta/models/{model}:generateContent",
		.id_prefix = "mockGemini",
		.tool_id_prefix = "",
		.stream_ctype = "text/event-stream",
		.error_body = tt_mock_gemini_error,
		.response = tt_mock_gemini_response,
		.stream = tt_mock_gemini_stream,
		.match = tt_mock_gemini_match,
		.model_of = tt_mock_gemini_model_of,
		.wants_stream = tt_mock_gemini_wants_stream,
		.tools_of = tt_mock_gemini_tools_of,
	},
	{.name = NULL},
};
