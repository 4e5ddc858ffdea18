/*
 * mock_ws.c - the mock's WebSocket routes (issue #11): OpenAI Responses
 * over WebSocket (GET /v1/responses) and the Realtime API
 * (GET /v1/realtime?model=...), over TLS or plain, as mock.c's HTTP/1.1
 * side hands over a request that asks "Upgrade: websocket".
 *
 * Deterministic answers (tests compute cost from them):
 *   Responses   response.create -> response.created, output item/part
 *               events, response.output_text.delta per word,
 *               response.completed with usage
 *                 input 120 (cached 40), output 30 (reasoning 10);
 *                 with previous_response_id: input 200 (cached 120),
 *                 output 30 (reasoning 10);
 *               "generate": false (a warm-up): response.created and
 *               response.completed with zero usage, no output;
 *               a previous_response_id this socket never issued: an
 *               "error" event (previous_response_not_found).
 *   Realtime    session.created at once (in the same write as the 101);
 *               session.update -> session.updated; conversation.item.create
 *               -> conversation.item.added; response.create ->
 *               response.created, deltas, response.done with usage
 *                 audio (default): input 300 (text 100, audio 200),
 *                   output 150 (text 50, audio 100);
 *                 output_modalities ["text"]: input 200 (text 200, cached
 *                   64 text), output 20 (text 20);
 *               with "tools" in the response.create: a function_call item.
 * Request headers that shape the socket:
 *   x-mock-ws-deflate: 0     refuse permessage-deflate
 *   x-mock-ws-deflate: nct   accept it with server_no_context_takeover and
 *                            client_no_context_takeover
 *   x-mock-ws-frag: N        server messages in frames of N payload bytes
 *   x-mock-ws-ping: 1        a ping frame between those fragments
 *   x-mock-ws-tiny: N        every write in pieces of N bytes
 *   x-mock-ws-delay-ms: N    N ms before each text delta
 *   x-mock-ws-bad: 1         a frame with a reserved opcode (0x3) after the
 *                            second text delta of a Responses answer (the
 *                            client must fail the connection, RFC 6455 5.2)
 * Client frames are read with the capture's own codec (preload/ws.c); the
 * clients under test are real WebSocket libraries that check what this
 * file writes.
 */
#include "mock_int.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <zlib.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_IDS 64

enum mws_kind { MWS_RESPONSES, MWS_REALTIME };

struct mws {
	const struct tt_mock_ws_io *io;
	enum mws_kind kind;
	int deflate, nct;
	long frag, ping, tiny, bad, delay;
	z_stream zs;                      /* server compressor */
	int zs_ready;
	int done;                         /* close seen or write failed */
	unsigned seq;
	char model[128];
	char ids[WS_MAX_IDS][48];         /* the latest responses issued on this socket */
	unsigned nids;
};

/* A request header's value (name any case), or NULL. Copies into buf. */
static const char *mws_hdr(const struct tt_mock_req *r, const char *name, char *buf, size_t cap)
{
	size_t nl = strlen(name);
	const char *p = r->hdrs, *end = r->hdrs ? r->hdrs + r->hdrs_len : NULL;

	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		size_t len = eol ? (size_t)(eol - p) : (size_t)(end - p);
		if (len > nl + 1 && !strncasecmp(p, name, nl) && p[nl] == ':') {
			const char *v = p + nl + 1;
			size_t vn = len - nl - 1;
			while (vn && (*v == ' ' || *v == '\t')) {
				v++;
				vn--;
			}
			while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
				vn--;
			if (vn >= cap)
				vn = cap - 1;
			memcpy(buf, v, vn);
			buf[vn] = 0;
			return buf;
		}
		p += len + 1;
	}
	return NULL;
}

int tt_mock_ws_wanted(const struct tt_mock_req *r)
{
	char v[64];

	return mws_hdr(r, "upgrade", v, sizeof v) && !strcasecmp(v, "websocket");
}

/* --- writing ---------------------------------------------------------------- */

static int mws_write(struct mws *w, const char *p, size_t n)
{
	if (w->done)
		return -1;
	while (n) {
		size_t k = w->tiny > 0 && (size_t)w->tiny < n ? (size_t)w->tiny : n;
		if (w->io->write(w->io->conn, p, k) < 0) {
			w->done = 1;
			return -1;
		}
		p += k;
		n -= k;
	}
	return 0;
}

static int mws_frame(struct mws *w, int fin, int rsv1, int op, const char *p, size_t n)
{
	uint8_t h[14];
	size_t hl = tt_ws_frame_header(h, fin, rsv1, op, n, NULL);
	char *buf = malloc(hl + n);
	int rc;

	if (!buf)
		return -1;
	memcpy(buf, h, hl);
	if (n)
		memcpy(buf + hl, p, n);
	/* One write per frame (unless tiny): a frame and its header together. */
	rc = mws_write(w, buf, hl + n);
	free(buf);
	return rc;
}

/* Raw deflate with the 4-byte tail removed (RFC 7692 7.2.1). */
static int mws_compress(struct mws *w, const char *p, size_t n, char **out, size_t *outn)
{
	size_t cap = n + n / 2 + 64;
	char *buf;

	if (!w->zs_ready) {
		if (deflateInit2(&w->zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8,
				 Z_DEFAULT_STRATEGY) != Z_OK)
			return -1;
		w->zs_ready = 1;
	}
	if (!(buf = malloc(cap)))
		return -1;
	w->zs.next_in = (Bytef *)(uintptr_t)p;
	w->zs.avail_in = (uInt)n;
	size_t len = 0;
	do {
		if (cap - len < 64) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -1;
			}
			buf = nb;
			cap *= 2;
		}
		w->zs.next_out = (Bytef *)buf + len;
		w->zs.avail_out = (uInt)(cap - len);
		if (deflate(&w->zs, Z_SYNC_FLUSH) == Z_STREAM_ERROR) {
			free(buf);
			return -1;
		}
		len = cap - w->zs.avail_out;
	} while (w->zs.avail_out == 0 || w->zs.avail_in);
	if (len >= 4)
		len -= 4;
	if (w->nct)
		deflateReset(&w->zs);
	*out = buf;
	*outn = len;
	return 0;
}

/* One text message: compressed when negotiated, fragmented when asked. */
static int mws_send(struct mws *w, const char *text)
{
	const char *p = text;
	size_t n = strlen(text);
	char *z = NULL;
	int rc = 0;

	if (w->deflate) {
		if (mws_compress(w, text, n, &z, &n) < 0)
			return -1;
		p = z;
	}
	if (w->frag <= 0 || (size_t)w->frag >= n) {
		rc = mws_frame(w, 1, w->deflate, TT_WS_TEXT, p, n);
	} else {
		size_t off = 0;
		while (!rc && off < n) {
			size_t k = n - off < (size_t)w->frag ? n - off : (size_t)w->frag;
			rc = mws_frame(w, off + k == n, off == 0 && w->deflate,
				       off == 0 ? TT_WS_TEXT : TT_WS_CONT, p + off, k);
			off += k;
			if (!rc && w->ping && off < n)
				rc = mws_frame(w, 1, 0, TT_WS_PING, "mock", 4);
		}
	}
	free(z);
	return rc;
}

static int mws_send_json(struct mws *w, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	int rc = s ? mws_send(w, s) : -1;

	free(s);
	json_decref(j);
	return rc;
}

/* --- Responses over WebSocket ----------------------------------------------- */

static const char *const mws_words[] = { "Hello", " from", " the", " websocket", " mock." };
#define MWS_NWORDS (sizeof mws_words / sizeof mws_words[0])

static int mws_known_id(const struct mws *w, const char *id)
{
	for (unsigned i = 0; i < w->nids && i < WS_MAX_IDS; i++)
		if (!strcmp(w->ids[i], id))
			return 1;
	return 0;
}

static json_t *mws_resp_usage(long in, long cached, long out, long reasoning)
{
	return json_pack("{sI sI sI s{sI} s{sI}}", "input_tokens", (json_int_t)in,
			 "output_tokens", (json_int_t)out, "total_tokens", (json_int_t)(in + out),
			 "input_tokens_details", "cached_tokens", (json_int_t)cached,
			 "output_tokens_details", "reasoning_tokens", (json_int_t)reasoning);
}

static void mws_responses_create(struct mws *w, json_t *ev)
{
	const char *model = json_string_value(json_object_get(ev, "model"));
	const char *prev = json_string_value(json_object_get(ev, "previous_response_id"));
	json_t *gen = json_object_get(ev, "generate");
	int warm = json_is_false(gen);
	char id[48], item[48], text[256] = "";
	json_t *resp;

	if (!model)
		model = "gpt-5-mini";
	if (prev && !mws_known_id(w, prev)) {
		(void)mws_send_json(w, json_pack("{ss sI s{ss ss ss ss}}", "type", "error", "status",
						  (json_int_t)400, "error", "type", "invalid_request_error",
						  "code", "previous_response_not_found", "message",
						  "Previous response not found.", "param",
						  "previous_response_id"));
		return;
	}
	w->seq++;
	snprintf(id, sizeof id, "resp_ws_%u", w->seq);
	snprintf(item, sizeof item, "msg_ws_%u", w->seq);
	snprintf(w->ids[w->nids++ % WS_MAX_IDS], sizeof w->ids[0], "%s", id);
	resp = json_pack("{ss ss ss ss so so}", "id", id, "object", "response", "status",
			 "in_progress", "model", model, "output", json_array(), "usage", json_null());
	if (mws_send_json(w, json_pack("{ss sI so}", "type", "response.created", "sequence_number",
				       (json_int_t)0, "response", json_deep_copy(resp))) < 0)
		goto out;
	if (warm) {
		json_object_set_new(resp, "status", json_string("completed"));
		json_object_set_new(resp, "usage", mws_resp_usage(0, 0, 0, 0));
		(void)mws_send_json(w, json_pack("{ss sI sO}", "type", "response.completed",
						  "sequence_number", (json_int_t)1, "response", resp));
		goto out;
	}
	(void)mws_send_json(w, json_pack("{ss sI sI s{ss ss ss ss s[]}}", "type",
					  "response.output_item.added", "sequence_number", (json_int_t)1,
					  "output_index", (json_int_t)0, "item", "id", item, "type",
					  "message", "role", "assistant", "status", "in_progress",
					  "content"));
	(void)mws_send_json(w, json_pack("{ss sI ss sI sI s{ss ss}}", "type",
					  "response.content_part.added", "sequence_number", (json_int_t)2,
					  "item_id", item, "output_index", (json_int_t)0, "content_index",
					  (json_int_t)0, "part", "type", "output_text", "text", ""));
	for (size_t i = 0; i < MWS_NWORDS; i++) {
		strcat(text, mws_words[i]);
		if (w->delay > 0)
			tt_mock_sleep_ms(w->delay);
		if (mws_send_json(w, json_pack("{ss sI ss sI sI ss}", "type",
					       "response.output_text.delta", "sequence_number",
					       (json_int_t)(3 + i), "item_id", item, "output_index",
					       (json_int_t)0, "content_index", (json_int_t)0, "delta",
					       mws_words[i])) < 0)
			goto out;
		if (w->bad && i == 1)
			(void)mws_frame(w, 1, 0, 0x3, "bad", 3);
	}
	(void)mws_send_json(w, json_pack("{ss ss sI sI ss}", "type", "response.output_text.done",
					  "item_id", item, "output_index", (json_int_t)0,
					  "content_index", (json_int_t)0, "text", text));
	json_t *msg = json_pack("{ss ss ss ss s[{ss ss s[]}]}", "id", item, "type", "message",
				"role", "assistant", "status", "completed", "content", "type",
				"output_text", "text", text, "annotations");
	(void)mws_send_json(w, json_pack("{ss sI sO}", "type", "response.output_item.done",
					  "output_index", (json_int_t)0, "item", msg));
	json_object_set_new(resp, "status", json_string("completed"));
	json_array_append_new(json_object_get(resp, "output"), msg);
	json_object_set_new(resp, "usage", prev ? mws_resp_usage(200, 120, 30, 10)
					       : mws_resp_usage(120, 40, 30, 10));
	if (prev)
		json_object_set_new(resp, "previous_response_id", json_string(prev));
	(void)mws_send_json(w, json_pack("{ss sI sO}", "type", "response.completed",
					  "sequence_number", (json_int_t)(4 + MWS_NWORDS), "response",
					  resp));
out:
	json_decref(resp);
}

/* --- Realtime ------------------------------------------------------------- */

static json_t *mws_session(const struct mws *w)
{
	return json_pack("{ss ss ss ss s[s]}", "type", "realtime", "object", "realtime.session",
			 "id", "sess_mock", "model", w->model, "output_modalities", "audio");
}

static void mws_rt_event(struct mws *w, const char *type, json_t *extra)
{
	json_t *ev = extra ? extra : json_object();
	char eid[32];

	snprintf(eid, sizeof eid, "event_%u", ++w->seq);
	json_object_set_new(ev, "type", json_string(type));
	json_object_set_new(ev, "event_id", json_string(eid));
	(void)mws_send_json(w, ev);
}

static int mws_has(json_t *arr, const char *v)
{
	for (size_t i = 0; i < json_array_size(arr); i++)
		if (json_string_value(json_array_get(arr, i)) &&
		    !strcmp(json_string_value(json_array_get(arr, i)), v))
			return 1;
	return 0;
}

static void mws_rt_response(struct mws *w, json_t *ev)
{
	json_t *rq = json_object_get(ev, "response");
	json_t *mods = json_object_get(rq, "output_modalities");
	json_t *tools = json_object_get(rq, "tools");
	const char *tool = json_string_value(json_object_get(json_array_get(tools, 0), "name"));
	int text_only, i;
	char id[48], item[48], text[256] = "";
	json_t *usage, *content, *output;

	if (!mods)
		mods = json_object_get(rq, "modalities");
	text_only = mods && mws_has(mods, "text") && !mws_has(mods, "audio");
	snprintf(id, sizeof id, "resp_rt_%u", w->seq + 1);
	snprintf(item, sizeof item, "item_rt_%u", w->seq + 1);
	mws_rt_event(w, "response.created",
		     json_pack("{s{ss ss ss s[] sn}}", "response", "object", "realtime.response",
			       "id", id, "status", "in_progress", "output", "usage"));
	mws_rt_event(w, "response.output_item.added",
		     json_pack("{ss sI s{ss ss ss s[]}}", "response_id", id, "output_index",
			       (json_int_t)0, "item", "id", item, "type", "message", "role",
			       "assistant", "content"));
	for (i = 0; i < (int)MWS_NWORDS; i++) {
		strcat(text, mws_words[i]);
		if (!text_only && i < 2)
			mws_rt_event(w, "response.output_audio.delta",
				     json_pack("{ss ss sI sI ss}", "response_id", id, "item_id", item,
					       "output_index", (json_int_t)0, "content_index",
					       (json_int_t)0, "delta", "AAAAAAAAAAA="));
		mws_rt_event(w, text_only ? "response.output_text.delta"
					  : "response.output_audio_transcript.delta",
			     json_pack("{ss ss sI sI ss}", "response_id", id, "item_id", item,
				       "output_index", (json_int_t)0, "content_index", (json_int_t)0,
				       "delta", mws_words[i]));
	}
	mws_rt_event(w, text_only ? "response.output_text.done" : "response.output_audio_transcript.done",
		     json_pack("{ss ss sI sI ss}", "response_id", id, "item_id", item, "output_index",
			       (json_int_t)0, "content_index", (json_int_t)0,
			       text_only ? "text" : "transcript", text));
	content = text_only ? json_pack("[{ss ss}]", "type", "output_text", "text", text)
			    : json_pack("[{ss ss}]", "type", "output_audio", "transcript", text);
	output = json_pack("[{ss ss ss ss so}]", "id", item, "type", "message", "role", "assistant",
			   "status", "completed", "content", content);
	if (tool) {
		static const char args[] = "{\"city\":\"Paris\"}";
		mws_rt_event(w, "response.function_call_arguments.delta",
			     json_pack("{ss ss sI ss ss}", "response_id", id, "item_id", "fc_rt_1",
				       "output_index", (json_int_t)1, "call_id", "call_rt_1", "delta",
				       args));
		mws_rt_event(w, "response.function_call_arguments.done",
			     json_pack("{ss ss sI ss ss ss}", "response_id", id, "item_id",
				       "fc_rt_1", "output_index", (json_int_t)1, "call_id", "call_rt_1",
				       "name", tool, "arguments", args));
		json_array_append_new(output, json_pack("{ss ss ss ss ss ss}", "id", "fc_rt_1", "type",
							 "function_call", "status", "completed",
							 "call_id", "call_rt_1", "name", tool,
							 "arguments", args));
	}
	if (text_only)
		usage = json_pack("{sI sI sI s{sI sI sI sI s{sI sI sI}} s{sI sI}}", "total_tokens",
				  (json_int_t)220, "input_tokens", (json_int_t)200, "output_tokens",
				  (json_int_t)20, "input_token_details", "text_tokens", (json_int_t)200,
				  "audio_tokens", (json_int_t)0, "image_tokens", (json_int_t)0,
				  "cached_tokens", (json_int_t)64, "cached_tokens_details",
				  "text_tokens", (json_int_t)64, "audio_tokens", (json_int_t)0,
				  "image_tokens", (json_int_t)0, "output_token_details", "text_tokens",
				  (json_int_t)20, "audio_tokens", (json_int_t)0);
	else
		usage = json_pack("{sI sI sI s{sI sI sI sI s{sI sI sI}} s{sI sI}}", "total_tokens",
				  (json_int_t)450, "input_tokens", (json_int_t)300, "output_tokens",
				  (json_int_t)150, "input_token_details", "text_tokens", (json_int_t)100,
				  "audio_tokens", (json_int_t)200, "image_tokens", (json_int_t)0,
				  "cached_tokens", (json_int_t)0, "cached_tokens_details",
				  "text_tokens", (json_int_t)0, "audio_tokens", (json_int_t)0,
				  "image_tokens", (json_int_t)0, "output_token_details", "text_tokens",
				  (json_int_t)50, "audio_tokens", (json_int_t)100);
	mws_rt_event(w, "response.done",
		     json_pack("{s{ss ss ss so so}}", "response", "object", "realtime.response", "id",
			       id, "status", "completed", "output", output, "usage", usage));
}

static void mws_realtime(struct mws *w, json_t *ev, const char *type)
{
	if (!strcmp(type, "session.update")) {
		const char *m = json_string_value(json_object_get(json_object_get(ev, "session"), "model"));
		if (m)
			snprintf(w->model, sizeof w->model, "%s", m);
		mws_rt_event(w, "session.updated", json_pack("{so}", "session", mws_session(w)));
	} else if (!strcmp(type, "conversation.item.create")) {
		json_t *item = json_deep_copy(json_object_get(ev, "item"));
		char iid[32];
		if (!item)
			item = json_object();
		snprintf(iid, sizeof iid, "item_c_%u", w->seq + 1);
		if (!json_object_get(item, "id"))
			json_object_set_new(item, "id", json_string(iid));
		mws_rt_event(w, "conversation.item.added",
			     json_pack("{sn so}", "previous_item_id", "item", item));
	} else if (!strcmp(type, "response.create")) {
		mws_rt_response(w, ev);
	}
}

/* --- reading ------------------------------------------------------------------ */

static int mws_on_msg(void *ud, const struct tt_ws_msg *m)
{
	struct mws *w = ud;
	json_t *ev;
	const char *type;

	if (m->opcode == TT_WS_PING)
		return mws_frame(w, 1, 0, TT_WS_PONG, m->data, m->len) < 0 ? -1 : 0;
	if (m->opcode == TT_WS_CLOSE) {
		(void)mws_frame(w, 1, 0, TT_WS_CLOSE, m->data, m->len >= 2 ? 2 : m->len);
		w->done = 1;
		return 0;
	}
	if (m->opcode != TT_WS_TEXT)
		return 0;
	ev = json_loadb(m->data, m->len, 0, NULL);
	type = json_string_value(json_object_get(ev, "type"));
	if (type && w->kind == MWS_RESPONSES && !strcmp(type, "response.create"))
		mws_responses_create(w, ev);
	else if (type && w->kind == MWS_REALTIME)
		mws_realtime(w, ev, type);
	json_decref(ev);
	return 0;
}

static int mws_suffix(const char *path, size_t n, const char *s)
{
	size_t k = strlen(s);

	return n >= k && !memcmp(path + n - k, s, k);
}

void tt_mock_ws_serve(struct tt_mock_server *srv, const struct tt_mock_req *r,
		      const struct tt_mock_ws_io *io)
{
	struct mws w;
	struct tt_ws rd;
	struct tt_ws_ext ext = {0};
	char key[128], offer[512], opt[64], acc_in[256], head[1024];
	unsigned char sha[SHA_DIGEST_LENGTH];
	unsigned char accept[64];
	size_t plen = strcspn(r->path, "?");
	char buf[16384];
	long n;

	(void)srv;
	memset(&w, 0, sizeof w);
	w.io = io;
	snprintf(w.model, sizeof w.model, "gpt-realtime");
	if (mws_suffix(r->path, plen, "/v1/responses"))
		w.kind = MWS_RESPONSES;
	else if (mws_suffix(r->path, plen, "/realtime"))
		w.kind = MWS_REALTIME;
	else {
		static const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		(void)io->write(io->conn, nf, sizeof nf - 1);
		return;
	}
	if (!mws_hdr(r, "sec-websocket-key", key, sizeof key)) {
		static const char br[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
		(void)io->write(io->conn, br, sizeof br - 1);
		return;
	}
	if (w.kind == MWS_REALTIME) {
		const char *q = strstr(r->path, "model=");
		if (q)
			snprintf(w.model, sizeof w.model, "%.*s", (int)strcspn(q + 6, "&"), q + 6);
	}
	w.frag = mws_hdr(r, "x-mock-ws-frag", opt, sizeof opt) ? atol(opt) : 0;
	w.ping = mws_hdr(r, "x-mock-ws-ping", opt, sizeof opt) ? atol(opt) : 0;
	w.tiny = mws_hdr(r, "x-mock-ws-tiny", opt, sizeof opt) ? atol(opt) : 0;
	w.bad = mws_hdr(r, "x-mock-ws-bad", opt, sizeof opt) ? atol(opt) : 0;
	w.delay = mws_hdr(r, "x-mock-ws-delay-ms", opt, sizeof opt) ? atol(opt) : 0;
	if (mws_hdr(r, "sec-websocket-extensions", offer, sizeof offer) &&
	    tt_ws_parse_extensions(offer, strlen(offer), &ext) == TT_OK && ext.deflate) {
		const char *d = mws_hdr(r, "x-mock-ws-deflate", opt, sizeof opt);
		if (!d || strcmp(d, "0")) {
			w.deflate = 1;
			w.nct = (d && !strcmp(d, "nct")) || ext.server_no_context_takeover;
		}
	}
	snprintf(acc_in, sizeof acc_in, "%s%s", key, WS_GUID);
	SHA1((const unsigned char *)acc_in, strlen(acc_in), sha);
	EVP_EncodeBlock(accept, sha, SHA_DIGEST_LENGTH);
	int hl = snprintf(head, sizeof head,
			  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
			  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
			  accept, w.deflate ? "Sec-WebSocket-Extensions: permessage-deflate" : "",
			  w.deflate && w.nct ? "; server_no_context_takeover; client_no_context_takeover" : "",
			  w.deflate ? "\r\n" : "");
	tt_ws_init(&rd, 0);
	tt_ws_set_deflate(&rd, w.deflate, w.nct);
	if (w.kind == MWS_REALTIME) {
		/* The 101 and session.created leave in one write (the capture
		 * must find the first frame in the same read as the head). */
		long tiny = w.tiny;
		char *s = NULL, *z = NULL;
		size_t zn = 0;
		json_t *ev = json_pack("{ss ss so}", "type", "session.created", "event_id", "event_0",
				       "session", mws_session(&w));
		s = json_dumps(ev, JSON_COMPACT);
		json_decref(ev);
		if (!s)
			goto out;
		size_t sn = strlen(s);
		const char *pl = s;
		if (w.deflate) {
			if (mws_compress(&w, s, sn, &z, &zn) < 0) {
				free(s);
				goto out;
			}
			pl = z;
			sn = zn;
		}
		uint8_t fh[14];
		size_t fl = tt_ws_frame_header(fh, 1, w.deflate, TT_WS_TEXT, sn, NULL);
		char *all = malloc((size_t)hl + fl + sn);
		if (all) {
			memcpy(all, head, (size_t)hl);
			memcpy(all + hl, fh, fl);
			memcpy(all + hl + fl, pl, sn);
			w.tiny = tiny;
			(void)mws_write(&w, all, (size_t)hl + fl + sn);
			free(all);
		}
		free(s);
		free(z);
	} else if (mws_write(&w, head, (size_t)hl) < 0) {
		goto out;
	}
	while (!w.done && (n = io->read(io->conn, buf, sizeof buf)) > 0) {
		if (tt_ws_feed(&rd, buf, (size_t)n, mws_on_msg, &w) != TT_OK)
			break;
		if (rd.closed)
			break;
	}
out:
	tt_ws_free(&rd);
	if (w.zs_ready)
		deflateEnd(&w.zs);
}
