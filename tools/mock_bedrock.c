/*
 * mock_bedrock.c - the mock's AWS Bedrock runtime: POST
 * /model/{modelId}/converse, /converse-stream, /invoke and
 * /invoke-with-response-stream, in the wire shapes of
 * shared/research/providers.md section 7 (and section 4 for the Anthropic
 * bodies of InvokeModel).
 *
 * The model is the path's {modelId}, percent-decoded. Streams are AWS
 * event streams (application/vnd.amazon.eventstream): binary messages with
 * :event-type / :content-type / :message-type headers and CRC-32s, one per
 * emitted event. ConverseStream sends messageStart, contentBlockStart (tool
 * use only), contentBlockDelta..., contentBlockStop, messageStop and
 * metadata {usage, metrics}; InvokeModelWithResponseStream sends "chunk"
 * events whose payload is {"bytes":"<base64 of one Anthropic stream event
 * JSON>"}, the last one (message_stop) carrying
 * amazon-bedrock-invocationMetrics.
 *
 * Usage (--usage / x-mock-usage): `in` is the TOTAL input, so Bedrock's
 * inputTokens (and Anthropic's input_tokens) = in - cached - cache_write.
 *
 * Control headers work as on the other routes (tools/mock.c): x-mock-usage,
 * -status (body {"message":..}, Bedrock's error shape), -chunks, -delay-ms,
 * -cut, -stream-error (a modelStreamErrorException message after the first
 * deltas), -no-usage (no usage object; streams: metadata without usage),
 * -chunked, -response-model. Not sent: the x-amzn-ErrorType header of real
 * errors (the mock's transmitter only knows a request-id header).
 */
#include "mock_int.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <zlib.h>

#define TT_MOCK_BR_PREFIX "/model/"

/* --- paths -------------------------------------------------------------- */

/* The {modelId} segment of /model/{modelId}/{op}: start and length, or -1
 * when path is not that shape with op `op`. */
static int tt_mock_br_split(const char *path, const char *op, const char **id, size_t *id_len)
{
	size_t plen = strlen(path), pre = strlen(TT_MOCK_BR_PREFIX), olen = strlen(op);
	const char *seg;

	if (plen <= pre + olen + 1 || strncmp(path, TT_MOCK_BR_PREFIX, pre) ||
	    strcmp(path + plen - olen, op) || path[plen - olen - 1] != '/')
		return -1;
	seg = path + pre;
	*id = seg;
	*id_len = plen - pre - olen - 1;
	return memchr(seg, '/', *id_len) ? -1 : 0;
}

static int tt_mock_br_match_converse(const char *path)
{
	const char *id;
	size_t n;

	return tt_mock_br_split(path, "converse", &id, &n) == 0 ||
	       tt_mock_br_split(path, "converse-stream", &id, &n) == 0;
}

static int tt_mock_br_match_invoke(const char *path)
{
	const char *id;
	size_t n;

	return tt_mock_br_split(path, "invoke", &id, &n) == 0 ||
	       tt_mock_br_split(path, "invoke-with-response-stream", &id, &n) == 0;
}

static int tt_mock_br_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The model id from the path, percent-decoded into buf. */
static const char *tt_mock_br_model(const struct tt_mock_req *r, json_t *body, char *buf, size_t n)
{
	const char *seg = r->path + strlen(TT_MOCK_BR_PREFIX), *end = strchr(seg, '/');
	size_t k = 0;

	(void)body;
	if (!end || n == 0)
		return NULL;
	for (const char *c = seg; c < end && k + 1 < n; c++) {
		int hi, lo;
		if (*c == '%' && end - c >= 3 && (hi = tt_mock_br_hex(c[1])) >= 0 &&
		    (lo = tt_mock_br_hex(c[2])) >= 0) {
			buf[k++] = (char)(hi << 4 | lo);
			c += 2;
		} else {
			buf[k++] = *c;
		}
	}
	buf[k] = '\0';
	return buf;
}

static int tt_mock_br_wants_stream(const struct tt_mock_req *r, json_t *body)
{
	size_t n = strlen(r->path);

	(void)body;
	return n > 7 && !strcmp(r->path + n - 7, "-stream");
}

/* Converse tools: toolConfig.tools[0].toolSpec {name, inputSchema.json}. */
static int tt_mock_br_tools(struct tt_mock_call *k, json_t *body)
{
	json_t *spec = json_object_get(
		json_array_get(json_object_get(json_object_get(body, "toolConfig"), "tools"), 0), "toolSpec");
	json_t *props, *v;
	const char *key;

	if (!json_is_object(spec))
		return 0;
	k->tool_name = json_string_value(json_object_get(spec, "name"));
	if (!k->tool_name)
		k->tool_name = "mock_tool";
	k->tool_input = json_object();
	if (!k->tool_input)
		return -1;
	props = json_object_get(json_object_get(json_object_get(spec, "inputSchema"), "json"), "properties");
	json_object_foreach(props, key, v)
		json_object_set_new(k->tool_input, key, tt_mock_sample(v));
	k->tool_args = json_dumps(k->tool_input, JSON_COMPACT);
	return k->tool_args ? 0 : -1;
}

/* --- shapes --------------------------------------------------------------- */

static json_t *tt_mock_br_error(const struct tt_mock_err *e, const char *msg)
{
	(void)e;
	return json_pack("{s:s}", "message", msg);
}

static long tt_mock_br_uncached(const struct tt_mock_usage *u)
{
	long in = u->in - u->cached - u->cache_write;

	return in > 0 ? in : 0;
}

/* TokenUsage: inputTokens excludes cache reads and writes. */
static json_t *tt_mock_br_usage(const struct tt_mock_usage *u)
{
	long in = tt_mock_br_uncached(u);

	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "inputTokens", (json_int_t)in, "outputTokens",
			 (json_int_t)u->out, "totalTokens", (json_int_t)(in + u->cached + u->cache_write + u->out),
			 "cacheReadInputTokens", (json_int_t)u->cached, "cacheWriteInputTokens",
			 (json_int_t)u->cache_write);
}

static json_t *tt_mock_br_converse_response(const struct tt_mock_call *k)
{
	json_t *block, *resp;
	char *text = NULL;

	if (k->tool_name) {
		block = json_pack("{s:{s:s, s:s, s:O}}", "toolUse", "toolUseId", k->tool_id, "name", k->tool_name,
				  "input", k->tool_input);
	} else {
		text = tt_mock_text(k->chunks);
		block = json_pack("{s:s}", "text", text ? text : "");
	}
	free(text);
	resp = json_pack("{s:{s:{s:s, s:[o]}}, s:s, s:{s:i}}", "output", "message", "role", "assistant", "content",
			 block, "stopReason", k->tool_name ? "tool_use" : "end_turn", "metrics", "latencyMs", 123);
	if (resp && !k->req->no_usage)
		json_object_set_new(resp, "usage", tt_mock_br_usage(&k->u));
	return resp;
}

/* --- event stream framing --------------------------------------------------- */

static void tt_mock_br_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* Appends one string header (type 7) at *n; -1 if it does not fit. */
static int tt_mock_br_hdr(unsigned char *h, size_t cap, size_t *n, const char *name, const char *value)
{
	size_t nl = strlen(name), vl = strlen(value);

	if (nl > 255 || vl > 65535 || *n + 1 + nl + 1 + 2 + vl > cap)
		return -1;
	h[(*n)++] = (unsigned char)nl;
	memcpy(h + *n, name, nl);
	*n += nl;
	h[(*n)++] = 7;
	h[(*n)++] = (unsigned char)(vl >> 8);
	h[(*n)++] = (unsigned char)vl;
	memcpy(h + *n, value, vl);
	*n += vl;
	return 0;
}

/* One event stream message: an event (exception NULL) named `type`, or an
 * exception of that type; payload is JSON text. Leaves at once (counts for
 * x-mock-cut). */
static int tt_mock_br_emit_msg(struct tt_mock_stream *s, const char *type, int exception, const char *payload)
{
	unsigned char h[512];
	size_t hn = 0, pl = strlen(payload), total;
	unsigned char *m;
	uLong crc;
	int rc;

	if (tt_mock_br_hdr(h, sizeof h, &hn, exception ? ":exception-type" : ":event-type", type) < 0 ||
	    tt_mock_br_hdr(h, sizeof h, &hn, ":content-type", "application/json") < 0 ||
	    tt_mock_br_hdr(h, sizeof h, &hn, ":message-type", exception ? "exception" : "event") < 0)
		return -1;
	total = 16 + hn + pl;
	m = malloc(total);
	if (!m)
		return -1;
	tt_mock_br_be32(m, (uint32_t)total);
	tt_mock_br_be32(m + 4, (uint32_t)hn);
	tt_mock_br_be32(m + 8, (uint32_t)crc32(0L, m, 8));
	memcpy(m + 12, h, hn);
	memcpy(m + 12 + hn, payload, pl);
	crc = crc32(0L, m, (uInt)(total - 4));
	tt_mock_br_be32(m + total - 4, (uint32_t)crc);
	rc = tt_mock_emit_raw(s, (const char *)m, total);
	free(m);
	return rc;
}

/* Emits j (reference stolen) as an event's payload. */
static int tt_mock_br_emit_json(struct tt_mock_stream *s, const char *type, json_t *j)
{
	char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = d ? tt_mock_br_emit_msg(s, type, 0, d) : -1;

	free(d);
	json_decref(j);
	return rc;
}

static int tt_mock_br_stream_error(struct tt_mock_stream *s)
{
	return tt_mock_br_emit_msg(s, "modelStreamErrorException", 1,
				   "{\"message\":\"Model stream error (mock).\",\"originalStatusCode\":529}");
}

/* --- ConverseStream ------------------------------------------------------- */

static int tt_mock_br_converse_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = tt_mock_delta_count(k), err_at = n / 2 > 1 ? n / 2 : 1;
	size_t start, len;
	json_t *j;

	if (tt_mock_br_emit_json(s, "messageStart", json_pack("{s:s}", "role", "assistant")) < 0)
		return -1;
	if (k->tool_name &&
	    tt_mock_br_emit_json(s, "contentBlockStart",
				 json_pack("{s:i, s:{s:{s:s, s:s}}}", "contentBlockIndex", 0, "start", "toolUse",
					   "toolUseId", k->tool_id, "name", k->tool_name)) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			j = json_pack("{s:{s:s%}}", "toolUse", "input", k->tool_args + start, len);
		} else {
			j = json_pack("{s:s}", "text", tt_mock_piece(i));
		}
		j = json_pack("{s:i, s:o}", "contentBlockIndex", 0, "delta", j);
		if (tt_mock_br_emit_json(s, "contentBlockDelta", j) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_br_stream_error(s);
	}
	if (tt_mock_br_emit_json(s, "contentBlockStop", json_pack("{s:i}", "contentBlockIndex", 0)) < 0 ||
	    tt_mock_br_emit_json(s, "messageStop",
				 json_pack("{s:s}", "stopReason", k->tool_name ? "tool_use" : "end_turn")) < 0)
		return -1;
	j = json_pack("{s:{s:i}}", "metrics", "latencyMs", 123);
	if (j && !k->req->no_usage)
		json_object_set_new(j, "usage", tt_mock_br_usage(&k->u));
	return tt_mock_br_emit_json(s, "metadata", j);
}

/* --- InvokeModel (Anthropic Messages bodies) ------------------------------ */

static json_t *tt_mock_br_an_usage(const struct tt_mock_usage *u, long output)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)tt_mock_br_uncached(u),
			 "cache_creation_input_tokens", (json_int_t)u->cache_write, "cache_read_input_tokens",
			 (json_int_t)u->cached, "output_tokens", (json_int_t)output);
}

/* InvokeModel with an Anthropic model: the Messages response; "model" is
 * the Anthropic model name Bedrock puts there, not the path's id. */
static json_t *tt_mock_br_invoke_response(const struct tt_mock_call *k)
{
	json_t *block, *resp;
	char *text = NULL;

	if (k->tool_name) {
		block = json_pack("{s:s, s:s, s:s, s:O}", "type", "tool_use", "id", k->tool_id, "name", k->tool_name,
				  "input", k->tool_input);
	} else {
		text = tt_mock_text(k->chunks);
		block = json_pack("{s:s, s:s}", "type", "text", "text", text ? text : "");
	}
	free(text);
	resp = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s, s:n}", "id", k->id, "type", "message", "role",
			 "assistant", "model", k->model, "content", block, "stop_reason",
			 k->tool_name ? "tool_use" : "end_turn", "stop_sequence");
	if (resp && !k->req->no_usage)
		json_object_set_new(resp, "usage", tt_mock_br_an_usage(&k->u, k->u.out));
	return resp;
}

/* One Anthropic stream event (reference stolen) as a "chunk" message. */
static int tt_mock_br_chunk(struct tt_mock_stream *s, json_t *ev)
{
	char *d = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	size_t n = d ? strlen(d) : 0;
	char *b64 = d ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
	json_t *wrap;
	int rc = -1;

	json_decref(ev);
	if (b64) {
		EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)d, (int)n);
		wrap = json_pack("{s:s}", "bytes", b64);
		rc = tt_mock_br_emit_json(s, "chunk", wrap);
	}
	free(b64);
	free(d);
	return rc;
}

static int tt_mock_br_invoke_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = tt_mock_delta_count(k), err_at = n / 2 > 1 ? n / 2 : 1;
	size_t start, len;
	json_t *j;

	j = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:o}}", "type", "message_start", "message", "id",
		      k->id, "type", "message", "role", "assistant", "model", k->model, "content", "stop_reason",
		      "stop_sequence", "usage", tt_mock_br_an_usage(&k->u, 1));
	if (tt_mock_br_chunk(s, j) < 0)
		return -1;
	if (k->tool_name)
		j = json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id", k->tool_id, "name", k->tool_name,
			      "input");
	else
		j = json_pack("{s:s, s:s}", "type", "text", "text", "");
	if (tt_mock_br_chunk(s, json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", 0,
					  "content_block", j)) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			j = json_pack("{s:s, s:s%}", "type", "input_json_delta", "partial_json", k->tool_args + start,
				      len);
		} else {
			j = json_pack("{s:s, s:s}", "type", "text_delta", "text", tt_mock_piece(i));
		}
		if (tt_mock_br_chunk(s, json_pack("{s:s, s:i, s:o}", "type", "content_block_delta", "index", 0,
						  "delta", j)) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_br_stream_error(s);
	}
	if (tt_mock_br_chunk(s, json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0)) < 0 ||
	    tt_mock_br_chunk(s, json_pack("{s:s, s:{s:s, s:n}, s:{s:I}}", "type", "message_delta", "delta",
					  "stop_reason", k->tool_name ? "tool_use" : "end_turn", "stop_sequence",
					  "usage", "output_tokens", (json_int_t)k->u.out)) < 0)
		return -1;
	return tt_mock_br_chunk(s, json_pack("{s:s, s:{s:I, s:I, s:i, s:i}}", "type", "message_stop",
					     "amazon-bedrock-invocationMetrics", "inputTokenCount",
					     (json_int_t)tt_mock_br_uncached(&k->u), "outputTokenCount",
					     (json_int_t)k->u.out, "invocationLatency", 123, "firstByteLatency", 45));
}

/* --- routes --------------------------------------------------------------- */

const struct tt_mock_provider tt_mock_bedrock_routes[] = {
	{
		.name = "bedrock",
		.path = "/model/{modelId}/converse",
		.reqid_header = "x-amzn-RequestId",
		.id_prefix = "",
		.tool_id_prefix = "tooluse_mock",
		.stream_ctype = "application/vnd.amazon.eventstream",
		.error_body = tt_mock_br_error,
		.response = tt_mock_br_converse_response,
		.stream = tt_mock_br_converse_stream,
		.match = tt_mock_br_match_converse,
		.model_of = tt_mock_br_model,
		.wants_stream = tt_mock_br_wants_stream,
		.tools_of = tt_mock_br_tools,
	},
	{
		.name = "bedrock",
		.path = "/model/{modelId}/invoke",
		.reqid_header = "x-amzn-RequestId",
		.id_prefix = "msg_bdrk_mock",
		.tool_id_prefix = "toolu_bdrk_mock",
		.tool_schema_key = "input_schema",
		.stream_ctype = "application/vnd.amazon.eventstream",
		.error_body = tt_mock_br_error,
		.response = tt_mock_br_invoke_response,
		.stream = tt_mock_br_invoke_stream,
		.match = tt_mock_br_match_invoke,
		.model_of = tt_mock_br_model,
		.wants_stream = tt_mock_br_wants_stream,
	},
	{ .name = NULL },
};
