/*
 * mock_bad.c - the mock's bad-input routes (issue #6): an OpenAI-looking
 * POST /bad/{case}/v1/chat/completions and an Anthropic-looking POST
 * /bad/{case}/v1/messages (a gateway prefix, as OpenRouter's or a proxy's:
 * tokentap's route table matches the API by suffix, so both are captured as
 * real provider calls). Each case answers a well-formed request with a
 * broken, cut, oversized or oddly delivered response, written on the wire
 * by hand (tx->ops->raw; HTTP/1.1 only).
 *
 * Every byte a case sends is deterministic (fixed ids, no dates, seeded
 * garbage), so a test can compare what a client received with and without
 * tokentap byte for byte. Usage comes from x-mock-usage / --usage (in, out
 * only); the reply text is fixed.
 *
 * Cases ({case} in the path):
 *   ok            the correct response (Content-Length)
 *   ok-sse        the correct stream (chunked SSE, [DONE] / message_stop)
 *   bytewise      ok, one byte per write (TCP_NODELAY; over TLS one record
 *                 per byte, so every read a client makes returns one byte),
 *                 x-mock-delay-ms between bytes (default none)
 *   bytewise-sse  ok-sse, the same way
 *   badjson       200 application/json, a syntax error before "usage"
 *   truncjson     the ok body cut before "usage", Content-Length of the cut
 *   garbage       4 KiB of random bytes, application/json
 *   garbage-bin   the same, application/octet-stream
 *   garbage-gz    the same, application/json, Content-Encoding: gzip
 *   garbage-raw   4 KiB of random bytes instead of any HTTP response, close
 *   badlen        the ok body under a Content-Length 1000 bytes too long, close
 *   neglen        "Content-Length: -5", random bytes, close
 *   badchunk      chunked: one valid chunk, then a chunk-size line "zz", close
 *   close         no response byte at all: the connection is closed
 *   cutsse        ok-sse cut at an event boundary after x-mock-cut events
 *                 (default 3): no terminator, connection closed
 *   truncsse      ok-sse cut in the middle of the 4th event
 *   gzbomb        Content-Encoding: gzip; a valid JSON body of 1 GiB + 200
 *                 bytes ("content" is 1 GiB of 'a', usage after it)
 *                 compressed to about 1 MiB, built once per mock process
 *   big           the ok body with a 40 MiB "content" (usage after it)
 */
#include "mock_int.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <zlib.h>

#define TT_MOCK_BAD_PREFIX "/bad/"
#define TT_MOCK_BAD_GARBAGE 4096
#define TT_MOCK_BAD_BIG (40L << 20)
#define TT_MOCK_BAD_BOMB (1L << 30)
#define TT_MOCK_BAD_TEXT "Hello from the bad-input mock."

static const char *const tt_mock_bad_words[] = {"Hello", " from", " the", " bad-input", " mock."};
#define TT_MOCK_BAD_NWORDS (sizeof tt_mock_bad_words / sizeof tt_mock_bad_words[0])

/* A growable byte string; on allocation failure it stays NULL (checked
 * once, at the end). */
struct tt_mock_bad_buf {
	char *p;
	size_t len, cap;
	int oom;
};

static void tt_mock_bad_put(struct tt_mock_bad_buf *b, const char *p, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void tt_mock_bad_putf(struct tt_mock_bad_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tt_mock_bad_putf(struct tt_mock_bad_buf *b, const char *fmt, ...)
{
	char tmp[2048];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof tmp)
		b->oom = 1;
	else
		tt_mock_bad_put(b, tmp, (size_t)n);
}

static int tt_mock_bad_is_anthropic(const struct tt_mock_call *k)
{
	const char *p = k->req->path;
	size_t n = strlen(p);

	return n >= 12 && !strcmp(p + n - 12, "/v1/messages");
}

/* The model, JSON-safe (the mock echoes what the request named). */
static const char *tt_mock_bad_model(const struct tt_mock_call *k)
{
	for (const char *c = k->model; *c; c++)
		if (*c == '"' || *c == '\\' || (unsigned char)*c < 0x20)
			return "mock-model";
	return k->model;
}

/* The whole ok body, split around its "content" text so that big and
 * gzbomb can put any amount of text there: head + text + tail. */
static void tt_mock_bad_body(const struct tt_mock_call *k, struct tt_mock_bad_buf *head,
			     struct tt_mock_bad_buf *tail)
{
	const char *m = tt_mock_bad_model(k);

	if (tt_mock_bad_is_anthropic(k)) {
		tt_mock_bad_putf(head,
				 "{\"id\":\"msg_bad0001\",\"type\":\"message\",\"role\":\"assistant\","
				 "\"model\":\"%s\",\"content\":[{\"type\":\"text\",\"text\":\"",
				 m);
		tt_mock_bad_putf(tail,
				 "\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
				 "\"usage\":{\"input_tokens\":%ld,\"output_tokens\":%ld}}",
				 k->u.in, k->u.out);
	} else {
		tt_mock_bad_putf(head,
				 "{\"id\":\"chatcmpl-bad0001\",\"object\":\"chat.completion\","
				 "\"created\":1700000000,\"model\":\"%s\",\"choices\":[{\"index\":0,"
				 "\"message\":{\"role\":\"assistant\",\"content\":\"",
				 m);
		tt_mock_bad_putf(tail,
				 "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":%ld,"
				 "\"completion_tokens\":%ld,\"total_tokens\":%ld}}",
				 k->u.in, k->u.out, k->u.in + k->u.out);
	}
}

/* The ok body in one piece. */
static void tt_mock_bad_whole(const struct tt_mock_call *k, struct tt_mock_bad_buf *b)
{
	struct tt_mock_bad_buf tail = {0};

	tt_mock_bad_body(k, b, &tail);
	tt_mock_bad_put(b, TT_MOCK_BAD_TEXT, strlen(TT_MOCK_BAD_TEXT));
	tt_mock_bad_put(b, tail.p ? tail.p : "", tail.len);
	if (tail.oom)
		b->oom = 1;
	free(tail.p);
}

/* The ok stream's events, each one SSE event, appended to ev[] (n of them). */
#define TT_MOCK_BAD_MAX_EVENTS 16
static size_t tt_mock_bad_events(const struct tt_mock_call *k, struct tt_mock_bad_buf ev[TT_MOCK_BAD_MAX_EVENTS])
{
	const char *m = tt_mock_bad_model(k);
	size_t n = 0, i;

	if (tt_mock_bad_is_anthropic(k)) {
		tt_mock_bad_putf(&ev[n++],
				 "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{"
				 "\"id\":\"msg_bad0001\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"%s\","
				 "\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{"
				 "\"input_tokens\":%ld,\"output_tokens\":1}}}\n\n",
				 m, k->u.in);
		tt_mock_bad_putf(&ev[n++], "event: content_block_start\ndata: {\"type\":\"content_block_start\","
					   "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
		for (i = 0; i < TT_MOCK_BAD_NWORDS; i++)
			tt_mock_bad_putf(&ev[n++],
					 "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
					 "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
					 tt_mock_bad_words[i]);
		tt_mock_bad_putf(&ev[n++], "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
					   "\"index\":0}\n\n");
		tt_mock_bad_putf(&ev[n++],
				 "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{"
				 "\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{"
				 "\"output_tokens\":%ld}}\n\n",
				 k->u.out);
		tt_mock_bad_putf(&ev[n++], "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
		return n;
	}
#define TT_MOCK_BAD_CHUNK                                                                      \
	"data: {\"id\":\"chatcmpl-bad0001\",\"object\":\"chat.completion.chunk\",\"created\":1700000000," \
	"\"model\":\"%s\",\"choices\":"
	tt_mock_bad_putf(&ev[n++],
			 TT_MOCK_BAD_CHUNK "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
					   "\"finish_reason\":null}]}\n\n",
			 m);
	for (i = 0; i < TT_MOCK_BAD_NWORDS; i++)
		tt_mock_bad_putf(&ev[n++],
				 TT_MOCK_BAD_CHUNK "[{\"index\":0,\"delta\":{\"content\":\"%s\"},"
						   "\"finish_reason\":null}]}\n\n",
				 m, tt_mock_bad_words[i]);
	tt_mock_bad_putf(&ev[n++], TT_MOCK_BAD_CHUNK "[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n", m);
	tt_mock_bad_putf(&ev[n++],
			 TT_MOCK_BAD_CHUNK "[],\"usage\":{\"prompt_tokens\":%ld,\"completion_tokens\":%ld,"
					   "\"total_tokens\":%ld}}\n\n",
			 m, k->u.in, k->u.out, k->u.in + k->u.out);
	tt_mock_bad_putf(&ev[n++], "data: [DONE]\n\n");
#undef TT_MOCK_BAD_CHUNK
	return n;
}

/* A response head. clen >= 0: Content-Length; -1: chunked; extra: more
 * header lines (each ending in CRLF) or NULL. */
static void tt_mock_bad_head(const struct tt_mock_call *k, struct tt_mock_bad_buf *b, const char *ctype,
			     long long clen, const char *extra)
{
	tt_mock_bad_putf(b, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nServer: tokentap-mock\r\n%s: req_bad0001\r\n",
			 ctype, k->prov->reqid_header);
	if (clen >= 0)
		tt_mock_bad_putf(b, "Content-Length: %lld\r\n", clen);
	else
		tt_mock_bad_putf(b, "Transfer-Encoding: chunked\r\n");
	if (k->req->close)
		tt_mock_bad_putf(b, "Connection: close\r\n");
	tt_mock_bad_putf(b, "%s\r\n", extra ? extra : "");
}

/* Seeded xorshift: the same garbage on every run. */
static void tt_mock_bad_garbage(struct tt_mock_bad_buf *b, size_t n)
{
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	char c;

	while (n--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		c = (char)(x >> 56);
		tt_mock_bad_put(b, &c, 1);
	}
}

static int tt_mock_bad_send(struct tt_mock_tx *tx, const struct tt_mock_bad_buf *b)
{
	return b->oom ? -1 : tx->ops->raw(tx, b->p ? b->p : "", b->len);
}

/* One byte per write, with delay_ms between them. */
static int tt_mock_bad_send_bytewise(struct tt_mock_tx *tx, const struct tt_mock_bad_buf *b, long delay_ms)
{
	if (b->oom)
		return -1;
	for (size_t i = 0; i < b->len; i++) {
		if (i && delay_ms)
			tt_mock_sleep_ms(delay_ms);
		if (atomic_load(&tt_mock_stop) || tx->ops->raw(tx, b->p + i, 1) < 0)
			return -1;
	}
	return 0;
}

static void tt_mock_bad_cut(struct tt_mock_tx *tx)
{
	tx->cut_done = 1;
	tx->ops->cut(tx);
}

/* --- gzip bomb ------------------------------------------------------------ */

static pthread_once_t tt_mock_bad_bomb_once = PTHREAD_ONCE_INIT;
static char *tt_mock_bad_bomb_gz;          /* built once; lives as long as the mock */
static size_t tt_mock_bad_bomb_len;

static int tt_mock_bad_deflate(z_stream *z, const char *p, size_t n, int flush, struct tt_mock_bad_buf *out)
{
	char obuf[64 * 1024];
	int rc;

	z->next_in = (Bytef *)(uintptr_t)p;
	z->avail_in = (uInt)n;
	do {
		z->next_out = (Bytef *)obuf;
		z->avail_out = sizeof obuf;
		rc = deflate(z, flush);
		if (rc == Z_STREAM_ERROR)
			return -1;
		tt_mock_bad_put(out, obuf, sizeof obuf - z->avail_out);
	} while (z->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
	return out->oom ? -1 : 0;
}

/* The bomb's body is built from a fixed request shape (gpt-4o-mini,
 * in=1000, out=2000): it cannot depend on the call, it is made once. */
static void tt_mock_bad_bomb_build(void)
{
	static const char head[] = "{\"id\":\"chatcmpl-bad0001\",\"object\":\"chat.completion\",\"created\":1700000000,"
				   "\"model\":\"gpt-4o-mini\",\"choices\":[{\"index\":0,\"message\":{\"role\":"
				   "\"assistant\",\"content\":\"";
	static const char tail[] = "\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1000,"
				   "\"completion_tokens\":2000,\"total_tokens\":3000}}";
	struct tt_mock_bad_buf out = {0};
	z_stream z = {0};
	char *a = malloc(1 << 20);
	long done;

	if (!a || deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 9, Z_RLE) != Z_OK) {
		free(a);
		return;
	}
	memset(a, 'a', 1 << 20);
	if (tt_mock_bad_deflate(&z, head, sizeof head - 1, Z_NO_FLUSH, &out) < 0)
		goto out;
	for (done = 0; done < TT_MOCK_BAD_BOMB; done += 1 << 20)
		if (tt_mock_bad_deflate(&z, a, 1 << 20, Z_NO_FLUSH, &out) < 0)
			goto out;
	if (tt_mock_bad_deflate(&z, tail, sizeof tail - 1, Z_FINISH, &out) < 0)
		goto out;
	tt_mock_bad_bomb_gz = out.p;
	tt_mock_bad_bomb_len = out.len;
	out.p = NULL;
out:
	deflateEnd(&z);
	free(out.p);
	free(a);
}

/* --- cases ---------------------------------------------------------------- */

static int tt_mock_bad_serve(struct tt_mock_tx *tx, const struct tt_mock_call *k)
{
	const char *kind = k->req->path + strlen(TT_MOCK_BAD_PREFIX);
	size_t kind_len = strcspn(kind, "/");
	const char *json = "application/json", *sse = "text/event-stream; charset=utf-8";
	struct tt_mock_bad_buf b = {0}, body = {0}, ev[TT_MOCK_BAD_MAX_EVENTS] = {{0}};
	long delay = k->req->delay_ms;
	size_t nev = 0, i;
	int rc = 200, sent;

	if (!tx->ops->raw) { /* HTTP/2: the cases are about HTTP/1.1 framing */
		json_t *e = json_pack("{s:s}", "error", "bad-input routes are HTTP/1.1 only (mock)");
		char *s = json_dumps(e, JSON_COMPACT);
		rc = s && tx->ops->whole(tx, 501, json, NULL, s, strlen(s), 0) == 0 ? 501 : -1;
		free(s);
		json_decref(e);
		return rc;
	}
#define TT_MOCK_BAD_IS(name) (kind_len == strlen(name) && !strncmp(kind, name, kind_len))
	if (TT_MOCK_BAD_IS("ok") || TT_MOCK_BAD_IS("bytewise")) {
		tt_mock_bad_whole(k, &body);
		tt_mock_bad_head(k, &b, json, (long long)body.len, NULL);
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len);
		sent = TT_MOCK_BAD_IS("ok") ? tt_mock_bad_send(tx, &b) : tt_mock_bad_send_bytewise(tx, &b, delay);
	} else if (TT_MOCK_BAD_IS("ok-sse") || TT_MOCK_BAD_IS("bytewise-sse") || TT_MOCK_BAD_IS("cutsse") ||
		   TT_MOCK_BAD_IS("truncsse")) {
		long cut = TT_MOCK_BAD_IS("cutsse") ? (k->req->cut ? k->req->cut : 3) : TT_MOCK_BAD_IS("truncsse") ? 3 : -1;

		nev = tt_mock_bad_events(k, ev);
		tt_mock_bad_head(k, &b, sse, -1, "Cache-Control: no-cache\r\n");
		for (i = 0; i < nev && (cut < 0 || (long)i < cut); i++) {
			tt_mock_bad_putf(&b, "%zx\r\n", ev[i].len);
			tt_mock_bad_put(&b, ev[i].p ? ev[i].p : "", ev[i].len);
			tt_mock_bad_put(&b, "\r\n", 2);
		}
		if (TT_MOCK_BAD_IS("truncsse") && i < nev) {
			/* half of the next event, as a complete chunk */
			tt_mock_bad_putf(&b, "%zx\r\n", ev[i].len / 2);
			tt_mock_bad_put(&b, ev[i].p ? ev[i].p : "", ev[i].len / 2);
			tt_mock_bad_put(&b, "\r\n", 2);
		}
		if (cut < 0)
			tt_mock_bad_put(&b, "0\r\n\r\n", 5);
		sent = TT_MOCK_BAD_IS("bytewise-sse") ? tt_mock_bad_send_bytewise(tx, &b, delay)
						      : tt_mock_bad_send(tx, &b);
		if (cut >= 0)
			tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("badjson")) {
		char *u;

		tt_mock_bad_whole(k, &body);
		u = body.p ? strstr(body.p, "\"usage\"") : NULL;
		if (u)
			u[-1] = ';';      /* {"id":..,"choices":[..];"usage":{..}} */
		tt_mock_bad_head(k, &b, json, (long long)body.len, NULL);
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len);
		sent = tt_mock_bad_send(tx, &b);
	} else if (TT_MOCK_BAD_IS("truncjson")) {
		char *u;

		tt_mock_bad_whole(k, &body);
		u = body.p ? strstr(body.p, "\"usage\"") : NULL;
		if (u)
			body.len = (size_t)(u - body.p);
		tt_mock_bad_head(k, &b, json, (long long)body.len, NULL);
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len);
		sent = tt_mock_bad_send(tx, &b);
	} else if (TT_MOCK_BAD_IS("garbage") || TT_MOCK_BAD_IS("garbage-bin") || TT_MOCK_BAD_IS("garbage-gz")) {
		tt_mock_bad_head(k, &b, TT_MOCK_BAD_IS("garbage-bin") ? "application/octet-stream" : json,
				 TT_MOCK_BAD_GARBAGE, TT_MOCK_BAD_IS("garbage-gz") ? "Content-Encoding: gzip\r\n" : NULL);
		tt_mock_bad_garbage(&b, TT_MOCK_BAD_GARBAGE);
		sent = tt_mock_bad_send(tx, &b);
	} else if (TT_MOCK_BAD_IS("garbage-raw")) {
		tt_mock_bad_garbage(&b, TT_MOCK_BAD_GARBAGE);
		sent = tt_mock_bad_send(tx, &b);
		tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("badlen")) {
		tt_mock_bad_whole(k, &body);
		tt_mock_bad_head(k, &b, json, (long long)body.len + 1000, NULL);
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len);
		sent = tt_mock_bad_send(tx, &b);
		tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("neglen")) {
		tt_mock_bad_putf(&b, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: -5\r\n\r\n", json);
		tt_mock_bad_garbage(&b, TT_MOCK_BAD_GARBAGE);
		sent = tt_mock_bad_send(tx, &b);
		tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("badchunk")) {
		tt_mock_bad_whole(k, &body);
		tt_mock_bad_head(k, &b, json, -1, NULL);
		tt_mock_bad_putf(&b, "20\r\n");
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len < 32 ? body.len : 32);
		tt_mock_bad_putf(&b, "\r\nzz\r\n");
		tt_mock_bad_garbage(&b, 512);
		sent = tt_mock_bad_send(tx, &b);
		tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("close")) {
		sent = 0;
		tt_mock_bad_cut(tx);
	} else if (TT_MOCK_BAD_IS("gzbomb")) {
		pthread_once(&tt_mock_bad_bomb_once, tt_mock_bad_bomb_build);
		if (!tt_mock_bad_bomb_gz)
			return -1;
		tt_mock_bad_head(k, &b, json, (long long)tt_mock_bad_bomb_len, "Content-Encoding: gzip\r\n");
		sent = tt_mock_bad_send(tx, &b) < 0 ? -1 : tx->ops->raw(tx, tt_mock_bad_bomb_gz, tt_mock_bad_bomb_len);
	} else if (TT_MOCK_BAD_IS("big")) {
		struct tt_mock_bad_buf tail = {0};
		char *a = malloc(1 << 20);

		tt_mock_bad_body(k, &body, &tail);
		tt_mock_bad_head(k, &b, json, (long long)(body.len + TT_MOCK_BAD_BIG + tail.len), NULL);
		tt_mock_bad_put(&b, body.p ? body.p : "", body.len);
		sent = a ? tt_mock_bad_send(tx, &b) : -1;
		if (a)
			memset(a, 'a', 1 << 20);
		for (long done = 0; sent == 0 && done < TT_MOCK_BAD_BIG; done += 1 << 20)
			sent = tx->ops->raw(tx, a, 1 << 20);
		if (sent == 0)
			sent = tt_mock_bad_send(tx, &tail);
		free(tail.p);
		free(a);
	} else {
		json_t *e = json_pack("{s:s}", "error", "unknown bad-input case (mock)");
		char *s = json_dumps(e, JSON_COMPACT);
		sent = s ? tx->ops->whole(tx, 404, json, NULL, s, strlen(s), 0) : -1;
		rc = 404;
		free(s);
		json_decref(e);
	}
#undef TT_MOCK_BAD_IS
	free(b.p);
	free(body.p);
	for (i = 0; i < nev; i++)
		free(ev[i].p);
	return sent < 0 ? -1 : rc;
}

static json_t *tt_mock_bad_openai_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:{s:s, s:s, s:n, s:n}}", "error", "message", msg, "type", e->oa_type, "param",
			 "code");
}

static json_t *tt_mock_bad_anthropic_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", e->an_type, "message", msg);
}

static int tt_mock_bad_match_openai(const char *path)
{
	size_t n = strlen(path);

	return !strncmp(path, TT_MOCK_BAD_PREFIX, 5) && n > 25 && !strcmp(path + n - 20, "/v1/chat/completions");
}

static int tt_mock_bad_match_anthropic(const char *path)
{
	size_t n = strlen(path);

	return !strncmp(path, TT_MOCK_BAD_PREFIX, 5) && n > 17 && !strcmp(path + n - 12, "/v1/messages");
}

const struct tt_mock_provider tt_mock_bad_routes[] = {
	{
		.name = "bad-openai",
		.path = "/bad/{case}/v1/chat/completions",
		.reqid_header = "x-request-id",
		.id_prefix = "chatcmpl-bad",
		.tool_id_prefix = "call_bad",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_bad_openai_error,
		.match = tt_mock_bad_match_openai,
		.serve = tt_mock_bad_serve,
	},
	{
		.name = "bad-anthropic",
		.path = "/bad/{case}/v1/messages",
		.reqid_header = "request-id",
		.id_prefix = "msg_bad",
		.tool_id_prefix = "toolu_bad",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_bad_anthropic_error,
		.match = tt_mock_bad_match_anthropic,
		.serve = tt_mock_bad_serve,
	},
	{.name = NULL},
};
