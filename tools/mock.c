/*
 * tokentap mock: a local OpenAI / Anthropic / Ollama provider (see mock.h).
 *
 * One detached thread per connection; each thread reads HTTP/1.1 requests
 * (Content-Length or chunked bodies, keep-alive, HTTP/1.0) and answers with
 * the provider's wire format, as documented in
 * shared/research/providers.md sections 1, 4 and 8. A TLS connection that
 * negotiates "h2" by ALPN, or a plain one that starts with the HTTP/2
 * preface (prior knowledge), is handed to mock_h2.c instead; both sides
 * render responses through the same providers (struct tt_mock_tx).
 *
 * Token usage semantics (both --usage and x-mock-usage): `in` is the TOTAL
 * input, including `cached` (cache reads) and `cache_write`; `out` is the total
 * output including `reasoning`. OpenAI reports prompt_tokens = in; Anthropic
 * reports input_tokens = in - cached - cache_write (clamped at 0).
 *
 * Control headers, per request:
 *   x-mock-usage: in=..,out=..,cached=..,cache_write=..,reasoning=..,
 *                 audio_in=..,audio_out=..,image_in=..,image_out=..
 *                                (modality subsets of in / out: OpenAI chat's
 *                                prompt/completion_tokens_details)
 *   x-mock-service-tier: NAME    OpenAI chat "service_tier" (default
 *                                "default"), Anthropic usage.service_tier
 *                                (default "standard")
 *   x-mock-status: 400..599      error response in the provider's error shape
 *   x-mock-chunks: N             content deltas / tool-argument fragments (5)
 *   x-mock-delay-ms: N           sleep between stream events
 *   x-mock-think-ms: N           sleep before answering (a provider's
 *                                time to the first byte)
 *   x-mock-cut: N                stream: drop the connection after N events
 *                                (HTTP/2: reset the stream, INTERNAL_ERROR)
 *   x-mock-stream-error: 1       stream: error event after the first deltas
 *   x-mock-no-usage: 1           omit usage (non-stream, OpenAI and Ollama stream)
 *   x-mock-chunked: 1            non-stream body with chunked encoding
 *   x-mock-response-model: NAME  response "model" (default: the request's)
 */
#include "mock.h"
#include "mock_int.h"
#include "json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <zlib.h>

#define TT_MOCK_IN_CAP (64 * 1024)        /* read buffer; bounds one header line */
#define TT_MOCK_LINE_CAP 8192             /* longest request/header line */
#define TT_MOCK_MAX_HEADERS 128
#define TT_MOCK_DRAIN_MS 5000             /* shutdown waits this long for threads */
#define TT_MOCK_DEFAULT_CHUNKS 5

struct tt_mock_conn {
	struct tt_mock_server *srv;
	int fd;
	SSL *ssl;                         /* NULL with --plain */
	int abort;                        /* drop without close_notify (x-mock-cut, I/O error) */
	size_t off, len;                  /* unread bytes are in[off, len) */
	char in[TT_MOCK_IN_CAP];
};


/* HTTP/1.1 transmitter: one per request of a connection. */
struct tt_mock_h1tx {
	struct tt_mock_tx tx;             /* first member */
	struct tt_mock_conn *c;
	int chunked;                      /* stream body: 0 for HTTP/1.0, ends at close */
};




/* Set from the signal handler; lock-free atomics are async-signal-safe. */
atomic_int tt_mock_stop;
static atomic_ulong tt_mock_seq;

/* Real status lines and error types per provider (openai-python _exceptions,
 * anthropic docs "errors"). The last row is the fallback. */
static const struct tt_mock_err tt_mock_errs[] = {
	{400, "Bad Request", "Invalid request (mock).", "invalid_request_error", NULL, "invalid_request_error"},
	{401, "Unauthorized", "Incorrect API key provided (mock).", "invalid_request_error", "invalid_api_key",
	 "authentication_error"},
	{403, "Forbidden", "Permission denied (mock).", "invalid_request_error", NULL, "permission_error"},
	{404, "Not Found", "Not found (mock).", "invalid_request_error", "unknown_url", "not_found_error"},
	{413, "Payload Too Large", "Request too large (mock).", "invalid_request_error", NULL, "request_too_large"},
	{429, "Too Many Requests", "Rate limit reached (mock).", "requests", "rate_limit_exceeded",
	 "rate_limit_error"},
	{431, "Request Header Fields Too Large", "Request headers too large (mock).", "invalid_request_error",
	 NULL, "invalid_request_error"},
	{500, "Internal Server Error", "The server had an error (mock).", "server_error", NULL, "api_error"},
	{503, "Service Unavailable", "The engine is overloaded (mock).", "server_error", NULL, "api_error"},
	{529, "Overloaded", "Overloaded", "server_error", NULL, "overloaded_error"},
	{0, "Error", "Error (mock).", "server_error", NULL, "api_error"},
};

const struct tt_mock_err *tt_mock_err_for(int status)
{
	size_t i;

	for (i = 0; tt_mock_errs[i].status; i++)
		if (tt_mock_errs[i].status == status)
			break;
	return &tt_mock_errs[i];
}

/* Word pieces of the canned reply; piece 0 has no leading space so any
 * prefix of the sequence reads as text. */
static const char *const tt_mock_words[] = {
	"Hello", " from", " the", " mock", " provider.", " This", " reply",
	" is", " canned", " and", " free.",
};

const char *tt_mock_piece(long i)
{
	size_t n = sizeof tt_mock_words / sizeof tt_mock_words[0];

	return i == 0 ? tt_mock_words[0] : tt_mock_words[1 + (size_t)(i - 1) % (n - 1)];
}

/* --- small utilities --------------------------------------------------- */

unsigned long tt_mock_next_seq(void)
{
	return atomic_fetch_add(&tt_mock_seq, 1);
}

void tt_mock_reqid(char *out, size_t cap)
{
	snprintf(out, cap, "req_mock%016lx", tt_mock_next_seq());
}

void tt_mock_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Parses "in=1,out=2,..." (commas or spaces between pairs) into u; keys not
 * given keep their value. Returns 0 or -1 on any malformed pair. */
static int tt_mock_parse_usage(const char *s, struct tt_mock_usage *u)
{
	static const struct { const char *key; size_t off; } keys[] = {
		{"in", offsetof(struct tt_mock_usage, in)},
		{"out", offsetof(struct tt_mock_usage, out)},
		{"cached", offsetof(struct tt_mock_usage, cached)},
		{"cache_write", offsetof(struct tt_mock_usage, cache_write)},
		{"reasoning", offsetof(struct tt_mock_usage, reasoning)},
		{"audio_in", offsetof(struct tt_mock_usage, audio_in)},
		{"audio_out", offsetof(struct tt_mock_usage, audio_out)},
		{"image_in", offsetof(struct tt_mock_usage, image_in)},
		{"image_out", offsetof(struct tt_mock_usage, image_out)},
	};

	for (;;) {
		const char *eq;
		char *end;
		size_t i, klen;
		long v;

		while (*s == ' ' || *s == ',')
			s++;
		if (!*s)
			return 0;
		eq = strchr(s, '=');
		if (!eq)
			return -1;
		klen = (size_t)(eq - s);
		errno = 0;
		v = strtol(eq + 1, &end, 10);
		if (end == eq + 1 || errno || v < 0 || (*end && *end != ',' && *end != ' '))
			return -1;
		for (i = 0; i < sizeof keys / sizeof keys[0]; i++)
			if (strlen(keys[i].key) == klen && !strncmp(keys[i].key, s, klen))
				break;
		if (i == sizeof keys / sizeof keys[0])
			return -1;
		*(long *)(void *)((char *)u + keys[i].off) = v;
		s = end;
	}
}

static int tt_mock_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (end == s || *end || errno || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Writes path atomically (temp file + rename) so a test polling for the
 * file never reads it half-written. */
static int tt_mock_write_file(const char *path, const char *data, size_t len)
{
	char tmp[4096];
	FILE *f;
	int ok;

	if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp ||
	    !(f = fopen(tmp, "we")))
		return -1;
	/* 0644 whatever the umask: the CA is read by clients run as other users. */
	ok = fchmod(fileno(f), 0644) == 0 && fwrite(data, 1, len, f) == len;
	ok = fclose(f) == 0 && ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok ? 0 : -1;
}

static pthread_key_t tt_mock_gz_key;
static pthread_once_t tt_mock_gz_once = PTHREAD_ONCE_INIT;
static int tt_mock_gz_key_ok;

static void tt_mock_gz_free(void *p)
{
	deflateEnd(p);
	free(p);
}

static void tt_mock_gz_key_init(void)
{
	tt_mock_gz_key_ok = pthread_key_create(&tt_mock_gz_key, tt_mock_gz_free) == 0;
}

/* gzip (RFC 1952) of in; *out is malloc'd and owned by the caller. One
 * deflate state per connection thread, reset between answers, at level 1:
 * a fresh state at the default level cost ~180 µs per 5 KB answer (its
 * setup half of it), most of what a gzip-accepting client's call cost the
 * mock in `make bench`; level 1 with a reused state ~37 µs. */
static int tt_mock_gzip(const char *in, size_t len, char **out, size_t *out_len)
{
	z_stream *z;
	char *buf;
	size_t cap;
	int rc;

	(void)pthread_once(&tt_mock_gz_once, tt_mock_gz_key_init);
	if (!tt_mock_gz_key_ok)
		return -1;
	if ((z = pthread_getspecific(tt_mock_gz_key))) {
		if (deflateReset(z) != Z_OK)
			return -1;
	} else {
		if (!(z = calloc(1, sizeof *z)))
			return -1;
		if (deflateInit2(z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
			free(z);
			return -1;
		}
		if (pthread_setspecific(tt_mock_gz_key, z) != 0) {
			tt_mock_gz_free(z);
			return -1;
		}
	}
	cap = deflateBound(z, (uLong)len) + 32;
	if (!(buf = malloc(cap)))
		return -1;
	z->next_in = (Bytef *)(uintptr_t)in;
	z->avail_in = (uInt)len;
	z->next_out = (Bytef *)buf;
	z->avail_out = (uInt)cap;
	rc = deflate(z, Z_FINISH);
	if (rc != Z_STREAM_END) {
		free(buf);
		return -1;
	}
	*out_len = z->total_out;
	*out = buf;
	return 0;
}

/* --- connection I/O ---------------------------------------------------- */

static int tt_mock_write_all(struct tt_mock_conn *c, const char *p, size_t len)
{
	while (len) {
		ssize_t n;

		if (c->ssl) {
			int w = SSL_write(c->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
			n = w > 0 ? w : -1;
		} else {
			n = send(c->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
		}
		if (n <= 0) {
			c->abort = 1;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads more bytes into c->in. Waits in short polls so the thread notices
 * shutdown and idle timeouts. Returns -1 on EOF, error, full buffer or stop. */
static int tt_mock_fill(struct tt_mock_conn *c)
{
	int waited = 0, n;

	if (c->off) {
		memmove(c->in, c->in + c->off, c->len - c->off);
		c->len -= c->off;
		c->off = 0;
	}
	if (c->len == sizeof c->in)
		return -1;
	while (!(c->ssl && SSL_pending(c->ssl))) {
		struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
		int rc;

		if (atomic_load(&tt_mock_stop) || waited >= TT_MOCK_IDLE_MS)
			return -1;
		rc = poll(&pfd, 1, TT_MOCK_POLL_MS);
		if (rc > 0)
			break;
		if (rc < 0 && errno != EINTR)
			return -1;
		waited += TT_MOCK_POLL_MS;
	}
	if (c->ssl)
		n = SSL_read(c->ssl, c->in + c->len, (int)(sizeof c->in - c->len));
	else
		do
			n = (int)recv(c->fd, c->in + c->len, sizeof c->in - c->len, 0);
		while (n < 0 && errno == EINTR);
	if (n <= 0)
		return -1;
	c->len += (size_t)n;
	return 0;
}

/* Reads one line (LF or CRLF) into out without its terminator. Returns its
 * length, -1 when the connection ended, -2 when the line exceeds cap - 1. */
static long tt_mock_read_line(struct tt_mock_conn *c, char *out, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->in + c->off, '\n', c->len - c->off);

		if (nl) {
			size_t n = (size_t)(nl - (c->in + c->off));
			size_t take = n;

			if (take && c->in[c->off + take - 1] == '\r')
				take--;
			if (take >= cap)
				return -2;
			memcpy(out, c->in + c->off, take);
			out[take] = '\0';
			c->off += n + 1;
			return (long)take;
		}
		if (c->len - c->off >= cap)
			return -2;
		if (tt_mock_fill(c) < 0)
			return -1;
	}
}

static int tt_mock_read_exact(struct tt_mock_conn *c, char *dst, size_t n)
{
	while (n) {
		size_t have = c->len - c->off, take = have < n ? have : n;

		memcpy(dst, c->in + c->off, take);
		c->off += take;
		dst += take;
		n -= take;
		if (n && tt_mock_fill(c) < 0)
			return -1;
	}
	return 0;
}

/* --- request parsing --------------------------------------------------- */

static const struct { const char *name; size_t off; long min, max; } tt_mock_int_headers[] = {
	{"x-mock-status", offsetof(struct tt_mock_req, status), 400, 599},
	{"x-mock-cut", offsetof(struct tt_mock_req, cut), 0, 1000000},
	{"x-mock-chunks", offsetof(struct tt_mock_req, chunks), 1, 10000},
	{"x-mock-delay-ms", offsetof(struct tt_mock_req, delay_ms), 0, 60000},
	{"x-mock-think-ms", offsetof(struct tt_mock_req, think_ms), 0, 60000},
	{"x-mock-stream-error", offsetof(struct tt_mock_req, stream_error), 0, 1},
	{"x-mock-no-usage", offsetof(struct tt_mock_req, no_usage), 0, 1},
	{"x-mock-chunked", offsetof(struct tt_mock_req, force_chunked), 0, 1},
};

/* Every header kept for an embedded server's dispatch (replay matching,
 * live forwarding), up to TT_MOCK_HDRS_CAP bytes. */
#define TT_MOCK_HDRS_CAP (64 * 1024)

static void tt_mock_req_keep(struct tt_mock_req *r, const char *name, const char *v)
{
	size_t nl = strlen(name), vl = strlen(v), need = nl + vl + 4;
	char *p;

	if (r->hdrs_len + need + 1 > TT_MOCK_HDRS_CAP || !(p = realloc(r->hdrs, r->hdrs_len + need + 1)))
		return;
	r->hdrs = p;
	snprintf(p + r->hdrs_len, need + 1, "%s: %s\r\n", name, v);
	r->hdrs_len += need;
}

void tt_mock_req_header(struct tt_mock_req *r, const char *name, const char *v)
{
	size_t i;

	tt_mock_req_keep(r, name, v);
	if (!strcasecmp(name, "host") || !strcasecmp(name, ":authority"))
		snprintf(r->host, sizeof r->host, "%s", v);

	if (!strcasecmp(name, "content-length")) {
		if (tt_mock_parse_long(v, 0, LONG_MAX, &r->content_length) < 0)
			r->content_length = -2;   /* malformed: 400 on HTTP/1.1 */
	} else if (!strcasecmp(name, "transfer-encoding")) {
		r->chunked_body = strcasestr(v, "chunked") != NULL;
	} else if (!strcasecmp(name, "connection")) {
		if (strcasestr(v, "close"))
			r->close = 1;
	} else if (!strcasecmp(name, "expect")) {
		r->expect_continue = !strcasecmp(v, "100-continue");
	} else if (!strcasecmp(name, "accept-encoding")) {
		r->gzip = strcasestr(v, "gzip") != NULL;
	} else if (!strcasecmp(name, "anthropic-version") || !strcasecmp(name, "x-api-key")) {
		r->anthropic_hint = 1;
	} else if (!strcasecmp(name, "x-mock-usage")) {
		snprintf(r->usage_hdr, sizeof r->usage_hdr, "%s", v);
	} else if (!strcasecmp(name, "x-mock-service-tier")) {
		if (strlen(v) >= sizeof r->service_tier && !r->bad_header)
			r->bad_header = "x-mock-service-tier";
		else
			snprintf(r->service_tier, sizeof r->service_tier, "%s", v);
	} else if (!strcasecmp(name, "x-mock-response-model")) {
		snprintf(r->resp_model, sizeof r->resp_model, "%s", v);
	} else {
		for (i = 0; i < sizeof tt_mock_int_headers / sizeof tt_mock_int_headers[0]; i++) {
			if (strcasecmp(name, tt_mock_int_headers[i].name))
				continue;
			if (tt_mock_parse_long(v, tt_mock_int_headers[i].min, tt_mock_int_headers[i].max,
					       (long *)(void *)((char *)r + tt_mock_int_headers[i].off)) < 0 &&
			    !r->bad_header)
				r->bad_header = tt_mock_int_headers[i].name;
		}
	}
}

/* line is "Name: value", NUL-terminated. Returns -1 only for a malformed
 * line; bad control headers are recorded and reported later in the
 * provider's error shape. */
static int tt_mock_header(struct tt_mock_req *r, char *line)
{
	char *colon = strchr(line, ':'), *v, *e;

	if (!colon || colon == line)
		return -1;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	for (e = v + strlen(v); e > v && (e[-1] == ' ' || e[-1] == '\t'); e--)
		;
	*e = '\0';
	tt_mock_req_header(r, line, v);
	return r->content_length == -2 ? -1 : 0;
}

/* Returns 0 (r->body holds the de-chunked body), -1 (connection gone) or an
 * HTTP status to answer with before closing. */
static int tt_mock_read_chunked(struct tt_mock_conn *c, struct tt_mock_req *r)
{
	char line[TT_MOCK_LINE_CAP], *end;
	long n, size;

	for (;;) {
		n = tt_mock_read_line(c, line, sizeof line);
		if (n < 0)
			return n == -2 ? 400 : -1;
		errno = 0;
		size = strtol(line, &end, 16);
		if (end == line || errno || size < 0 || (*end && *end != ';' && *end != ' '))
			return 400;
		if (size == 0)
			break;
		if ((long)r->body_len + size > TT_MOCK_BODY_CAP)
			return 413;
		end = realloc(r->body, r->body_len + (size_t)size);
		if (!end)
			return 500;
		r->body = end;
		if (tt_mock_read_exact(c, r->body + r->body_len, (size_t)size) < 0)
			return -1;
		r->body_len += (size_t)size;
		n = tt_mock_read_line(c, line, sizeof line);
		if (n != 0)
			return n == -1 ? -1 : 400;
	}
	do /* trailers, ignored */
		n = tt_mock_read_line(c, line, sizeof line);
	while (n > 0);
	return n < 0 ? (n == -2 ? 400 : -1) : 0;
}

static int tt_mock_read_request(struct tt_mock_conn *c, struct tt_mock_req *r)
{
	char line[TT_MOCK_LINE_CAP], ver[16];
	long n;
	int i;

	do /* RFC 9112 2.2: ignore empty lines before the request line */
		n = tt_mock_read_line(c, line, sizeof line);
	while (n == 0);
	if (n < 0)
		return n == -2 ? 431 : -1;
	if (sscanf(line, "%15s %1023s %15s", r->method, r->path, ver) != 3)
		return 400;
	if (!strcmp(ver, "HTTP/1.0"))
		r->http10 = 1;
	else if (strcmp(ver, "HTTP/1.1"))
		return 400;
	for (i = 0;; i++) {
		n = tt_mock_read_line(c, line, sizeof line);
		if (n < 0)
			return n == -2 ? 431 : -1;
		if (n == 0)
			break;
		if (i == TT_MOCK_MAX_HEADERS)
			return 431;
		if (tt_mock_header(r, line) < 0)
			return 400;
	}
	/* Keep-alive for HTTP/1.0 is an opt-in we do not offer: close after. */
	if (r->http10)
		r->close = 1;
	if (r->expect_continue && !r->http10 && (r->chunked_body || r->content_length > 0)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (tt_mock_write_all(c, cont, sizeof cont - 1) < 0)
			return -1;
	}
	if (r->chunked_body)
		return tt_mock_read_chunked(c, r);
	if (r->content_length > TT_MOCK_BODY_CAP)
		return 413;
	if (r->content_length > 0) {
		r->body = malloc((size_t)r->content_length);
		if (!r->body)
			return 500;
		if (tt_mock_read_exact(c, r->body, (size_t)r->content_length) < 0)
			return -1;
		r->body_len = (size_t)r->content_length;
	}
	return 0;
}

void tt_mock_req_free(struct tt_mock_req *r)
{
	free(r->body);
	r->body = NULL;
	free(r->hdrs);
	r->hdrs = NULL;
	r->hdrs_len = 0;
}

/* --- responses --------------------------------------------------------- */

/* --- HTTP/1.1 transmitter ---------------------------------------------- */

/* clen >= 0: Content-Length; -1: chunked; -2: delimited by close. */
static int tt_mock_send_head(struct tt_mock_conn *c, const struct tt_mock_req *r, const char *reqid_name,
			     int status, const char *ctype, long long clen, int gz, const char *extra)
{
	char h[8192], id[64];
	size_t n = 0;

#define TT_MOCK_ADD(...)                                                          \
	do {                                                                      \
		int w_ = snprintf(h + n, sizeof h - n, __VA_ARGS__);              \
		if (w_ < 0 || (size_t)w_ >= sizeof h - n)                         \
			return -1;                                                \
		n += (size_t)w_;                                                  \
	} while (0)
	TT_MOCK_ADD("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nServer: tokentap-mock\r\n", status,
		    status == 200 ? "OK" : tt_mock_err_for(status)->reason, ctype);
	if (reqid_name) {
		tt_mock_reqid(id, sizeof id);
		TT_MOCK_ADD("%s: %s\r\n", reqid_name, id);
	}
	if (clen >= 0)
		TT_MOCK_ADD("Content-Length: %lld\r\n", clen);
	else if (clen == -1)
		TT_MOCK_ADD("Transfer-Encoding: chunked\r\n");
	if (gz)
		TT_MOCK_ADD("Content-Encoding: gzip\r\n");
	if (r->close || clen == -2)
		TT_MOCK_ADD("Connection: close\r\n");
	if (extra)
		TT_MOCK_ADD("%s", extra);
	TT_MOCK_ADD("\r\n");
#undef TT_MOCK_ADD
	return tt_mock_write_all(c, h, n);
}

/* A complete response: Content-Length, or chunked on request
 * (x-mock-chunked). */
static int tt_mock_h1_whole(struct tt_mock_tx *tx, int status, const char *ctype, const char *reqid_name,
			    const char *body, size_t len, int gz)
{
	struct tt_mock_h1tx *h = (struct tt_mock_h1tx *)tx;
	const struct tt_mock_req *r = tx->req;
	int chunked = r->force_chunked && !r->http10;
	char line[32];

	if (tt_mock_send_head(h->c, r, reqid_name, status, ctype, chunked ? -1 : (long long)len, gz,
			      tx->extra_hdrs) < 0)
		return -1;
	if (!chunked)
		return tt_mock_write_all(h->c, body, len);
	/* Three chunks, so clients' de-chunking really gets exercised. */
	for (size_t done = 0, step = len / 3 + 1; done < len; done += step) {
		size_t take = len - done < step ? len - done : step;
		int w = snprintf(line, sizeof line, "%zx\r\n", take);
		if (tt_mock_write_all(h->c, line, (size_t)w) < 0 || tt_mock_write_all(h->c, body + done, take) < 0 ||
		    tt_mock_write_all(h->c, "\r\n", 2) < 0)
			return -1;
	}
	return tt_mock_write_all(h->c, "0\r\n\r\n", 5);
}

static int tt_mock_h1_stream_head(struct tt_mock_tx *tx, const char *ctype, const char *reqid_name)
{
	struct tt_mock_h1tx *h = (struct tt_mock_h1tx *)tx;

	h->chunked = !tx->req->http10;
	return tt_mock_send_head(h->c, tx->req, reqid_name, 200, ctype, h->chunked ? -1 : -2, 0,
				 tx->extra_hdrs);
}

/* One event as one HTTP chunk in one write, so clients see events arrive
 * separately. */
static int tt_mock_h1_stream_write(struct tt_mock_tx *tx, const char *p, size_t len)
{
	struct tt_mock_h1tx *h = (struct tt_mock_h1tx *)tx;
	char *buf;
	size_t n = 0;
	int rc;

	if (!h->chunked)
		return tt_mock_write_all(h->c, p, len);
	buf = malloc(len + 32);
	if (!buf)
		return -1;
	n = (size_t)snprintf(buf, 32, "%zx\r\n", len);
	memcpy(buf + n, p, len);
	memcpy(buf + n + len, "\r\n", 2);
	rc = tt_mock_write_all(h->c, buf, n + len + 2);
	free(buf);
	return rc;
}

static int tt_mock_h1_stream_end(struct tt_mock_tx *tx)
{
	struct tt_mock_h1tx *h = (struct tt_mock_h1tx *)tx;

	return h->chunked ? tt_mock_write_all(h->c, "0\r\n\r\n", 5) : 0;
}

/* No terminator: the client must see a broken stream. */
static void tt_mock_h1_cut(struct tt_mock_tx *tx)
{
	((struct tt_mock_h1tx *)tx)->c->abort = 1;
}

static int tt_mock_h1_raw(struct tt_mock_tx *tx, const char *p, size_t len)
{
	return tt_mock_write_all(((struct tt_mock_h1tx *)tx)->c, p, len);
}

static const struct tt_mock_tx_ops tt_mock_h1_ops = {
	.raw = tt_mock_h1_raw,
	.whole = tt_mock_h1_whole,
	.stream_head = tt_mock_h1_stream_head,
	.stream_write = tt_mock_h1_stream_write,
	.stream_end = tt_mock_h1_stream_end,
	.cut = tt_mock_h1_cut,
};

/* --- responses, any protocol ------------------------------------------- */

/* A complete non-streaming response, gzip'd when the client accepts it. */
int tt_mock_send_body(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int status,
		      const char *ctype, const char *body, size_t len)
{
	char *gz = NULL;
	size_t gz_len = 0;
	int rc;

	if (tx->req->gzip && len) {
		if (tt_mock_gzip(body, len, &gz, &gz_len) < 0)
			return -1;
		body = gz;
		len = gz_len;
	}
	rc = tx->ops->whole(tx, status, ctype, p ? p->reqid_header : NULL, body, len, gz != NULL);
	free(gz);
	return rc;
}

/* Sends j (reference stolen) as the JSON body. */
static int tt_mock_send_json(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int status, json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = -1;

	json_decref(j);
	if (s)
		rc = tt_mock_send_body(tx, p, status, "application/json", s, strlen(s));
	free(s);
	return rc;
}

int tt_mock_send_error(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int status,
		       const char *msg)
{
	const struct tt_mock_err *e = tt_mock_err_for(status);

	return tt_mock_send_json(tx, p, status, p->error_body(e, msg ? msg : e->message));
}

/* One stream event, already framed (SSE event or NDJSON line). Honours
 * x-mock-delay-ms and x-mock-cut. */
int tt_mock_emit_raw(struct tt_mock_stream *s, const char *buf, size_t n)
{
	int rc;

	if (s->sent && s->req->delay_ms)
		tt_mock_sleep_ms(s->req->delay_ms);
	if (atomic_load(&tt_mock_stop) || (s->req->cut && s->sent >= s->req->cut)) {
		s->tx->cut_done = 1;
		s->tx->ops->cut(s->tx);
		return -1;
	}
	rc = s->tx->ops->stream_write(s->tx, buf, n);
	s->sent++;
	return rc;
}

/* One SSE event. */
int tt_mock_emit(struct tt_mock_stream *s, const char *event, const char *data)
{
	size_t dlen = strlen(data), elen = event ? strlen(event) : 0;
	size_t plen = (event ? 8 + elen : 0) + 6 + dlen + 2, n = 0;
	char *buf;
	int rc;

	buf = malloc(plen + 1);
	if (!buf)
		return -1;
	if (event)
		n += (size_t)snprintf(buf, 9 + elen, "event: %s\n", event);
	memcpy(buf + n, "data: ", 6);
	memcpy(buf + n + 6, data, dlen);
	memcpy(buf + n + 6 + dlen, "\n\n", 2);
	n += 6 + dlen + 2;
	rc = tt_mock_emit_raw(s, buf, n);
	free(buf);
	return rc;
}

/* Emits j (reference stolen) as the event's data. */
int tt_mock_emit_json(struct tt_mock_stream *s, const char *event, json_t *j)
{
	char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc = d ? tt_mock_emit(s, event, d) : -1;

	free(d);
	json_decref(j);
	return rc;
}

/* Emits j (reference stolen) as one NDJSON line. */
int tt_mock_emit_line(struct tt_mock_stream *s, json_t *j)
{
	char *d = j ? json_dumps(j, JSON_COMPACT) : NULL;
	size_t n = d ? strlen(d) : 0;
	int rc = -1;

	json_decref(j);
	if (!d)
		return -1;
	/* json_dumps' buffer has room for its NUL: the newline takes it. */
	d[n] = '\n';
	rc = tt_mock_emit_raw(s, d, n + 1);
	free(d);
	return rc;
}

/* Fragment i of n of the tool arguments, as [start, end). */
void tt_mock_frag(const char *args, long i, long n, size_t *start, size_t *len)
{
	size_t total = strlen(args);

	*start = total * (size_t)i / (size_t)n;
	*len = total * (size_t)(i + 1) / (size_t)n - *start;
}

/* Deltas in a stream: words of the text, or fragments of the tool
 * arguments (never more fragments than bytes). */
long tt_mock_delta_count(const struct tt_mock_call *k)
{
	long alen = k->tool_args ? (long)strlen(k->tool_args) : k->chunks;

	return k->chunks < alen ? k->chunks : alen;
}

char *tt_mock_text(long chunks)
{
	size_t cap = 1, n = 0;
	char *t;

	for (long i = 0; i < chunks; i++)
		cap += strlen(tt_mock_piece(i));
	t = malloc(cap);
	if (!t)
		return NULL;
	for (long i = 0; i < chunks; i++) {
		size_t l = strlen(tt_mock_piece(i));
		memcpy(t + n, tt_mock_piece(i), l);
		n += l;
	}
	t[n] = '\0';
	return t;
}

/* --- OpenAI Chat Completions ------------------------------------------- */

static json_t *tt_mock_openai_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:{s:s, s:s, s:n, s:s?}}", "error", "message", msg, "type", e->oa_type,
			 "param", "code", e->oa_code);
}

static json_t *tt_mock_openai_usage(const struct tt_mock_usage *u)
{
	json_t *ptd = json_pack("{s:I, s:I}", "cached_tokens", (json_int_t)u->cached, "audio_tokens",
				(json_int_t)u->audio_in);
	json_t *ctd = json_pack("{s:I, s:I, s:i, s:i}", "reasoning_tokens", (json_int_t)u->reasoning,
				"audio_tokens", (json_int_t)u->audio_out, "accepted_prediction_tokens", 0,
				"rejected_prediction_tokens", 0);

	if (ptd && u->cache_write)
		json_object_set_new(ptd, "cache_write_tokens", json_integer(u->cache_write));
	/* image_tokens only when asked for: most models never send them */
	if (ptd && u->image_in)
		json_object_set_new(ptd, "image_tokens", json_integer(u->image_in));
	if (ctd && u->image_out)
		json_object_set_new(ctd, "image_tokens", json_integer(u->image_out));
	return json_pack("{s:I, s:I, s:I, s:o, s:o}",
			 "prompt_tokens", (json_int_t)u->in, "completion_tokens", (json_int_t)u->out,
			 "total_tokens", (json_int_t)(u->in + u->out), "prompt_tokens_details", ptd,
			 "completion_tokens_details", ctd);
}

/* The tier the response names (x-mock-service-tier, else dflt). */
static const char *tt_mock_tier(const struct tt_mock_call *k, const char *dflt)
{
	return k->req->service_tier[0] ? k->req->service_tier : dflt;
}

static json_t *tt_mock_openai_response(const struct tt_mock_call *k)
{
	json_t *msg, *resp;
	char *text = NULL;

	if (k->tool_name) {
		msg = json_pack("{s:s, s:n, s:n, s:[], s:[{s:s, s:s, s:{s:s, s:s}}]}", "role", "assistant",
				"content", "refusal", "annotations", "tool_calls", "id", k->tool_id, "type",
				"function", "function", "name", k->tool_name, "arguments", k->tool_args);
	} else {
		text = tt_mock_text(k->chunks);
		msg = json_pack("{s:s, s:s, s:n, s:[]}", "role", "assistant", "content", text ? text : "",
				"refusal", "annotations");
	}
	free(text);
	resp = json_pack("{s:s, s:s, s:I, s:s, s:[{s:i, s:o, s:n, s:s}], s:s, s:s}", "id", k->id,
			 "object", "chat.completion", "created", k->created, "model", k->model, "choices",
			 "index", 0, "message", msg, "logprobs", "finish_reason",
			 k->tool_name ? "tool_calls" : "stop", "service_tier", tt_mock_tier(k, "default"),
			 "system_fingerprint", "fp_mock");
	if (resp && !k->req->no_usage)
		json_object_set_new(resp, "usage", tt_mock_openai_usage(&k->u));
	return resp;
}

/* One chat.completion.chunk; delta is stolen. */
static int tt_mock_openai_chunk(struct tt_mock_stream *s, const struct tt_mock_call *k, json_t *delta,
				const char *finish)
{
	json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:[{s:i, s:o, s:n, s:s?}]}", "id", k->id,
			      "object", "chat.completion.chunk", "created", k->created, "model", k->model,
			      "service_tier", tt_mock_tier(k, "default"), "system_fingerprint", "fp_mock",
			      "choices", "index",
			      0, "delta", delta, "logprobs", "finish_reason", finish);

	/* With include_usage every chunk carries "usage": null (chat_completion_chunk.py). */
	if (j && k->include_usage)
		json_object_set_new(j, "usage", json_null());
	return tt_mock_emit_json(s, NULL, j);
}

static int tt_mock_openai_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = tt_mock_delta_count(k);
	long err_at = n / 2 > 1 ? n / 2 : 1;
	json_t *delta, *usage;
	size_t start, len;

	if (k->tool_name)
		delta = json_pack("{s:s, s:n, s:[{s:i, s:s, s:s, s:{s:s, s:s}}], s:n}", "role", "assistant",
				  "content", "tool_calls", "index", 0, "id", k->tool_id, "type", "function",
				  "function", "name", k->tool_name, "arguments", "", "refusal");
	else
		delta = json_pack("{s:s, s:s, s:n}", "role", "assistant", "content", "", "refusal");
	if (tt_mock_openai_chunk(s, k, delta, NULL) < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			delta = json_pack("{s:[{s:i, s:{s:s%}}]}", "tool_calls", "index", 0, "function",
					  "arguments", k->tool_args + start, len);
		} else {
			delta = json_pack("{s:s}", "content", tt_mock_piece(i));
		}
		if (tt_mock_openai_chunk(s, k, delta, NULL) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_json(s, NULL, tt_mock_openai_error(tt_mock_err_for(500),
					"The server had an error while processing your request (mock)."));
	}
	if (tt_mock_openai_chunk(s, k, json_object(), k->tool_name ? "tool_calls" : "stop") < 0)
		return -1;
	if (k->include_usage && !k->req->no_usage) {
		usage = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:[], s:o}", "id", k->id, "object",
				  "chat.completion.chunk", "created", k->created, "model", k->model,
				  "service_tier", tt_mock_tier(k, "default"), "system_fingerprint", "fp_mock",
				  "choices",
				  "usage", tt_mock_openai_usage(&k->u));
		if (tt_mock_emit_json(s, NULL, usage) < 0)
			return -1;
	}
	return tt_mock_emit(s, NULL, "[DONE]");
}

/* --- Anthropic Messages ------------------------------------------------ */

static json_t *tt_mock_anthropic_error(const struct tt_mock_err *e, const char *msg)
{
	return json_pack("{s:s, s:{s:s, s:s}}", "type", "error", "error", "type", e->an_type, "message", msg);
}

/* input_tokens EXCLUDES cache reads and writes (anthropic usage.py). */
static json_t *tt_mock_anthropic_usage(const struct tt_mock_call *k, long output)
{
	const struct tt_mock_usage *u = &k->u;
	long input = u->in - u->cached - u->cache_write;

	return json_pack("{s:I, s:I, s:I, s:{s:I, s:i}, s:I, s:s}",
			 "input_tokens", (json_int_t)(input > 0 ? input : 0),
			 "cache_creation_input_tokens", (json_int_t)u->cache_write,
			 "cache_read_input_tokens", (json_int_t)u->cached, "cache_creation",
			 "ephemeral_5m_input_tokens", (json_int_t)u->cache_write, "ephemeral_1h_input_tokens",
			 0, "output_tokens", (json_int_t)output, "service_tier", tt_mock_tier(k, "standard"));
}

static json_t *tt_mock_anthropic_response(const struct tt_mock_call *k)
{
	json_t *block, *resp, *usage;
	char *text = NULL;

	if (k->tool_name) {
		block = json_pack("{s:s, s:s, s:s, s:O}", "type", "tool_use", "id", k->tool_id, "name",
				  k->tool_name, "input", k->tool_input);
	} else {
		text = tt_mock_text(k->chunks);
		block = json_pack("{s:s, s:s}", "type", "text", "text", text ? text : "");
	}
	free(text);
	resp = json_pack("{s:s, s:s, s:s, s:s, s:[o], s:s, s:n}", "id", k->id, "type", "message", "role",
			 "assistant", "model", k->model, "content", block, "stop_reason",
			 k->tool_name ? "tool_use" : "end_turn", "stop_sequence");
	if (resp && !k->req->no_usage) {
		usage = tt_mock_anthropic_usage(k, k->u.out);
		if (usage && k->u.reasoning)
			json_object_set_new(usage, "output_tokens_details",
					    json_pack("{s:I}", "thinking_tokens", (json_int_t)k->u.reasoning));
		json_object_set_new(resp, "usage", usage);
	}
	return resp;
}

static int tt_mock_anthropic_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = tt_mock_delta_count(k);
	long err_at = n / 2 > 1 ? n / 2 : 1;
	json_t *j;
	size_t start, len;

	j = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:[], s:n, s:n, s:o}}", "type", "message_start",
		      "message", "id", k->id, "type", "message", "role", "assistant", "model", k->model,
		      "content", "stop_reason", "stop_sequence", "usage",
		      tt_mock_anthropic_usage(k, 1));
	if (tt_mock_emit_json(s, "message_start", j) < 0)
		return -1;
	if (k->tool_name)
		j = json_pack("{s:s, s:s, s:s, s:{}}", "type", "tool_use", "id", k->tool_id, "name",
			      k->tool_name, "input");
	else
		j = json_pack("{s:s, s:s}", "type", "text", "text", "");
	j = json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", 0, "content_block", j);
	if (tt_mock_emit_json(s, "content_block_start", j) < 0 ||
	    tt_mock_emit(s, "ping", "{\"type\": \"ping\"}") < 0)
		return -1;
	for (long i = 0; i < n; i++) {
		if (k->tool_name) {
			tt_mock_frag(k->tool_args, i, n, &start, &len);
			j = json_pack("{s:s, s:s%}", "type", "input_json_delta", "partial_json",
				      k->tool_args + start, len);
		} else {
			j = json_pack("{s:s, s:s}", "type", "text_delta", "text", tt_mock_piece(i));
		}
		j = json_pack("{s:s, s:i, s:o}", "type", "content_block_delta", "index", 0, "delta", j);
		if (tt_mock_emit_json(s, "content_block_delta", j) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_json(s, "error",
						 tt_mock_anthropic_error(tt_mock_err_for(529), "Overloaded"));
	}
	j = json_pack("{s:s, s:i}", "type", "content_block_stop", "index", 0);
	if (tt_mock_emit_json(s, "content_block_stop", j) < 0)
		return -1;
	j = json_pack("{s:s, s:{s:s, s:n}, s:{s:I}}", "type", "message_delta", "delta", "stop_reason",
		      k->tool_name ? "tool_use" : "end_turn", "stop_sequence", "usage", "output_tokens",
		      (json_int_t)k->u.out);
	if (tt_mock_emit_json(s, "message_delta", j) < 0)
		return -1;
	return tt_mock_emit(s, "message_stop", "{\"type\":\"message_stop\"}");
}

/* --- Ollama native (/api/chat, /api/generate) ------------------------- */

/* Errors are {"error":"text"} with the HTTP status (ollama api/types.go
 * StatusError), in a body or as a line of a started stream. */
static json_t *tt_mock_ollama_error(const struct tt_mock_err *e, const char *msg)
{
	(void)e;
	return json_pack("{s:s}", "error", msg);
}

/* created_at as Ollama writes it (Go time.Time, UTC, nanoseconds). */
static json_t *tt_mock_ollama_time(void)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
	return json_string(buf);
}

static int tt_mock_ollama_is_chat(const struct tt_mock_call *k)
{
	return !strcmp(k->prov->path, "/api/chat");
}

/* One object of the answer: model, created_at, then the text under
 * message.content (chat) or response (generate). text is copied. */
static json_t *tt_mock_ollama_obj(const struct tt_mock_call *k, const char *text, int done)
{
	json_t *j = json_pack("{s:s, s:o}", "model", k->model, "created_at", tt_mock_ollama_time());

	if (!j)
		return NULL;
	if (tt_mock_ollama_is_chat(k))
		json_object_set_new(j, "message", json_pack("{s:s, s:s}", "role", "assistant", "content", text));
	else
		json_object_set_new(j, "response", json_string(text));
	json_object_set_new(j, "done", json_boolean(done));
	return j;
}

/* The final object's done_reason and Metrics (api/types.go): durations in
 * nanoseconds; the counts are omitempty, so 0 is absent, as on a real
 * server with a fully cached prompt. */
static void tt_mock_ollama_final(const struct tt_mock_call *k, json_t *j)
{
	long out = k->u.out;

	json_object_set_new(j, "done_reason", json_string("stop"));
	if (!tt_mock_ollama_is_chat(k))
		json_object_set_new(j, "context", json_pack("[i,i,i]", 1, 2, 3));
	json_object_set_new(j, "total_duration", json_integer(150000000 + (json_int_t)out * 20000000));
	json_object_set_new(j, "load_duration", json_integer(2154458));
	if (!k->req->no_usage && k->u.in)
		json_object_set_new(j, "prompt_eval_count", json_integer(k->u.in));
	json_object_set_new(j, "prompt_eval_duration", json_integer(130079000));
	if (!k->req->no_usage && out)
		json_object_set_new(j, "eval_count", json_integer(out));
	json_object_set_new(j, "eval_duration", json_integer((json_int_t)out * 20000000));
}

/* message.tool_calls: arguments is an object, delivered whole. */
static json_t *tt_mock_ollama_tool_calls(const struct tt_mock_call *k)
{
	return json_pack("[{s:s, s:{s:i, s:s, s:O}}]", "id", k->tool_id, "function", "index", 0, "name",
			 k->tool_name, "arguments", k->tool_input);
}

static json_t *tt_mock_ollama_response(const struct tt_mock_call *k)
{
	char *text = k->tool_name ? NULL : tt_mock_text(k->chunks);
	json_t *j = tt_mock_ollama_obj(k, text ? text : "", 1);

	free(text);
	if (j && k->tool_name)
		json_object_set_new(json_object_get(j, "message"), "tool_calls", tt_mock_ollama_tool_calls(k));
	if (j)
		tt_mock_ollama_final(k, j);
	return j;
}

/* NDJSON: one object per content piece, a tool call in one object, then
 * the done object with the counts. */
static int tt_mock_ollama_stream(struct tt_mock_stream *s, const struct tt_mock_call *k)
{
	long n = k->tool_name ? 1 : k->chunks;
	long err_at = n / 2 > 1 ? n / 2 : 1;
	json_t *j;

	for (long i = 0; i < n; i++) {
		j = tt_mock_ollama_obj(k, k->tool_name ? "" : tt_mock_piece(i), 0);
		if (j && k->tool_name)
			json_object_set_new(json_object_get(j, "message"), "tool_calls",
					    tt_mock_ollama_tool_calls(k));
		if (tt_mock_emit_line(s, j) < 0)
			return -1;
		if (k->req->stream_error && i + 1 == err_at)
			return tt_mock_emit_line(s, tt_mock_ollama_error(NULL,
					"an error was encountered while running the model: unexpected EOF (mock)"));
	}
	j = tt_mock_ollama_obj(k, "", 1);
	if (j)
		tt_mock_ollama_final(k, j);
	return tt_mock_emit_line(s, j);
}

/* GET /api/tags: the models "installed" here. */
static json_t *tt_mock_ollama_tags(void)
{
	return json_pack("{s:[{s:s, s:s, s:s, s:I, s:s, s:{s:s, s:s, s:s, s:[s], s:s, s:s}}]}", "models",
			 "name", "llama3.2:latest", "model", "llama3.2:latest", "modified_at",
			 "2025-01-01T00:00:00.000000000Z", "size", (json_int_t)2019393189, "digest",
			 "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72", "details",
			 "parent_model", "", "format", "gguf", "family", "llama", "families", "llama",
			 "parameter_size", "3.2B", "quantization_level", "Q4_K_M");
}

/* Adding a provider is one row here plus its three callbacks. Row 0 and 1
 * are also the fallbacks of tt_mock_guess. */
static const struct tt_mock_provider tt_mock_providers[] = {
	{
		.name = "openai",
		.path = "/v1/chat/completions",
		.reqid_header = "x-request-id",
		.id_prefix = "chatcmpl-mock",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_openai_error,
		.response = tt_mock_openai_response,
		.stream = tt_mock_openai_stream,
	},
	{
		.name = "anthropic",
		.path = "/v1/messages",
		.reqid_header = "request-id",
		.id_prefix = "msg_mock",
		.tool_id_prefix = "toolu_mock",
		.tool_fn_key = NULL,
		.tool_schema_key = "input_schema",
		.stream_ctype = "text/event-stream; charset=utf-8",
		.error_body = tt_mock_anthropic_error,
		.response = tt_mock_anthropic_response,
		.stream = tt_mock_anthropic_stream,
	},
	{
		.name = "ollama",
		.path = "/api/chat",
		.id_prefix = "",
		.tool_id_prefix = "call_mock",
		.tool_fn_key = "function",
		.tool_schema_key = "parameters",
		.stream_ctype = "application/x-ndjson",
		.stream_default = 1,
		.error_body = tt_mock_ollama_error,
		.response = tt_mock_ollama_response,
		.stream = tt_mock_ollama_stream,
	},
	{
		/* No tools: /api/generate has none. */
		.name = "ollama",
		.path = "/api/generate",
		.id_prefix = "",
		.tool_id_prefix = "call_mock",
		.stream_ctype = "application/x-ndjson",
		.stream_default = 1,
		.error_body = tt_mock_ollama_error,
		.response = tt_mock_ollama_response,
		.stream = tt_mock_ollama_stream,
	},
};

/* --- request dispatch -------------------------------------------------- */

/* For errors outside a known route: the shape the client most likely
 * parses (Anthropic SDKs always send anthropic-version). */
static const struct tt_mock_provider *tt_mock_guess(const struct tt_mock_req *r)
{
	if (!strncmp(r->path, "/api/", 5))
		return &tt_mock_providers[2];
	return &tt_mock_providers[r->anthropic_hint || strstr(r->path, "/messages") ? 1 : 0];
}

/* A plausible value for a JSON-schema property, so clients that validate
 * tool arguments against their schema accept them. */
json_t *tt_mock_sample(json_t *schema)
{
	json_t *en = json_object_get(schema, "enum");
	const char *type = json_string_value(json_object_get(schema, "type"));

	if (json_array_size(en))
		return json_deep_copy(json_array_get(en, 0));
	if (type && (!strcmp(type, "integer") || !strcmp(type, "number")))
		return json_integer(42);
	if (type && !strcmp(type, "boolean"))
		return json_true();
	return json_string("mock");
}

static int tt_mock_strcmp0(const char *a, const char *b)
{
	return a ? strcmp(a, b) : 1;
}

/* Whether the request's last message hands back a tool result (OpenAI chat
 * role "tool", Responses function_call_output, Anthropic tool_result block):
 * an agent's turn after running the tool, answered with text. */
static int tt_mock_after_tool(json_t *body)
{
	json_t *msgs = json_object_get(body, "messages"), *last, *c;

	if (!json_is_array(msgs))
		msgs = json_object_get(body, "input");
	if (!json_is_array(msgs) || !json_array_size(msgs))
		return 0;
	last = json_array_get(msgs, json_array_size(msgs) - 1);
	if (!tt_mock_strcmp0(json_string_value(json_object_get(last, "role")), "tool") ||
	    !tt_mock_strcmp0(json_string_value(json_object_get(last, "type")), "function_call_output"))
		return 1;
	c = json_object_get(last, "content");
	for (size_t i = 0; json_is_array(c) && i < json_array_size(c); i++)
		if (!tt_mock_strcmp0(json_string_value(json_object_get(json_array_get(c, i), "type")),
				     "tool_result"))
			return 1;
	return 0;
}

/* Picks the first tool of the request and fills every schema property;
 * none after a tool result (the final answer). */
static int tt_mock_tool(struct tt_mock_call *k, json_t *body)
{
	json_t *tools = json_object_get(body, "tools"), *t, *props, *v;
	const char *key;

	if (!k->prov->tool_schema_key || !json_is_array(tools) || !json_array_size(tools) ||
	    tt_mock_after_tool(body))
		return 0;
	t = json_array_get(tools, 0);
	if (k->prov->tool_fn_key && json_object_get(t, k->prov->tool_fn_key))
		t = json_object_get(t, k->prov->tool_fn_key);
	k->tool_name = json_string_value(json_object_get(t, "name"));
	if (!k->tool_name)
		k->tool_name = "mock_tool";
	k->tool_input = json_object();
	if (!k->tool_input)
		return -1;
	props = json_object_get(json_object_get(t, k->prov->tool_schema_key), "properties");
	json_object_foreach(props, key, v)
		json_object_set_new(k->tool_input, key, tt_mock_sample(v));
	k->tool_args = json_dumps(k->tool_input, JSON_COMPACT);
	return k->tool_args ? 0 : -1;
}

/* Long string values are cut to this many bytes before jansson parses a
 * request body (tt_mock_body_json). */
#define TT_MOCK_STR_KEEP 256
/* Bodies shorter than this are parsed as they are. */
#define TT_MOCK_ELIDE_MIN 4096

/* The length of the JSON text unit at p: an escape (a \u surrogate pair is
 * one unit), a whole UTF-8 sequence, or a byte. p is inside a string of a
 * body tt_json_valid accepted. */
static size_t tt_mock_unit(const unsigned char *p)
{
	if (p[0] == '\\') {
		if (p[1] != 'u')
			return 2;
		/* \uD800-\uDBFF is followed by its low half. */
		return (p[2] == 'd' || p[2] == 'D') && strchr("89abAB", p[3]) ? 12 : 6;
	}
	return p[0] < 0xC0 ? 1 : p[0] < 0xE0 ? 2 : p[0] < 0xF0 ? 3 : 4;
}

/* The request body as the routes read it, or NULL when it is not one JSON
 * value (jansson decides, as it always did). No route reads a long string
 * value (they read the model, flags, the tools' schemas, the last message's
 * role and type), and jansson's lexer costs ~140 instructions a byte: a
 * 10 KB prompt was most of the mock's CPU in `make bench`, whose clients
 * share the machine's cores with it. So a large body that tt_json_valid
 * accepts (jansson's grammar) is parsed with every string value longer than
 * TT_MOCK_STR_KEEP bytes cut to its first TT_MOCK_STR_KEEP or so, at a unit
 * boundary; names of members stay whole. A "\u0000" stays wherever it is:
 * jansson refuses it, and so the body. */
json_t *tt_mock_body_json(const char *body, size_t len)
{
	const unsigned char *p = (const unsigned char *)(body ? body : "");
	unsigned char *c, *o;
	size_t i = 0;
	json_t *j;

	if (len < TT_MOCK_ELIDE_MIN || tt_json_valid((const char *)p, len) != TT_OK ||
	    !(c = malloc(len)))
		return json_loadb((const char *)p, len, 0, NULL);
	o = c;
	while (i < len) {
		size_t start, end, k, n;

		if (p[i] != '"') {
			*o++ = p[i++];
			continue;
		}
		start = ++i;
		while (p[i] != '"')
			i += p[i] == '\\' ? 2 : 1;
		end = i++;
		for (k = i; k < len && strchr(" \t\r\n", p[k]); k++)
			;
		*o++ = '"';
		if (end - start <= TT_MOCK_STR_KEEP || (k < len && p[k] == ':')) {
			memcpy(o, p + start, end - start);
			o += end - start;
		} else {
			for (k = start; k < end; k += n) {
				n = tt_mock_unit(p + k);
				if (k - start < TT_MOCK_STR_KEEP || (n == 6 && !memcmp(p + k, "\\u0000", 6))) {
					memcpy(o, p + k, n);
					o += n;
				}
			}
		}
		*o++ = '"';
	}
	j = json_loadb((const char *)c, (size_t)(o - c), 0, NULL);
	free(c);
	return j;
}

/* Answers one model call; returns the status sent (for the log) or -1. */
static int tt_mock_model_call(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int *stream)
{
	const struct tt_mock_req *r = tx->req;
	struct tt_mock_call k = {.prov = p, .req = r, .u = tx->srv->usage, .chunks = TT_MOCK_DEFAULT_CHUNKS};
	struct tt_mock_stream s = {.tx = tx, .req = r};
	unsigned long id = tt_mock_next_seq();
	json_t *body = NULL, *st;
	char msg[128] = "";
	int rc = 200;

	/* x-mock-usage overrides only the keys it names. */
	if (r->bad_header || tt_mock_parse_usage(r->usage_hdr, &k.u) < 0)
		snprintf(msg, sizeof msg, "Malformed %s header (mock).", r->bad_header ? r->bad_header : "x-mock-usage");
	else if (r->status)
		return tt_mock_send_error(tx, p, (int)r->status, NULL) < 0 ? -1 : (int)r->status;
	else if (!(body = tt_mock_body_json(r->body, r->body_len)) || !json_is_object(body))
		snprintf(msg, sizeof msg, "We could not parse the JSON body of your request (mock).");
	else if (!(k.model = r->resp_model[0] ? r->resp_model
			     : p->model_of ? p->model_of(r, body, k.model_buf, sizeof k.model_buf)
			     : json_string_value(json_object_get(body, "model"))) ||
		 !*k.model)
		snprintf(msg, sizeof msg, "model: Field required (mock).");
	if (msg[0]) {
		rc = tt_mock_send_error(tx, p, 400, msg) < 0 ? -1 : 400;
		goto out;
	}
	k.body = body;
	if (r->chunks)
		k.chunks = r->chunks;
	st = json_object_get(body, "stream");
	*stream = p->wants_stream ? p->wants_stream(r, body)
		  : p->stream_default ? !json_is_false(st) : json_is_true(st);
	k.include_usage = json_is_true(json_object_get(json_object_get(body, "stream_options"), "include_usage"));
	k.created = (json_int_t)time(NULL);
	snprintf(k.id, sizeof k.id, "%s%016lx", p->id_prefix, id);
	snprintf(k.tool_id, sizeof k.tool_id, "%s%016lx", p->tool_id_prefix, id);
	if ((p->tools_of ? p->tools_of(&k, body) : tt_mock_tool(&k, body)) < 0)
		rc = -1;
	else if (p->serve)
		rc = p->serve(tx, &k);
	else if (!*stream)
		rc = tt_mock_send_json(tx, p, 200, p->response(&k)) < 0 ? -1 : 200;
	else if (tx->ops->stream_head(tx, p->stream_ctype, p->reqid_header) < 0 || p->stream(&s, &k) < 0 ||
		 tx->ops->stream_end(tx) < 0)
		rc = -1;
out:
	json_decref(k.tool_input);
	free(k.tool_args);
	json_decref(body);
	return rc;
}

/* Provider route tables defined in tools/mock_<provider>.c, each ended by
 * a row whose name is NULL. */
extern const struct tt_mock_provider tt_mock_gemini_routes[] __attribute__((weak));
extern const struct tt_mock_provider tt_mock_bedrock_routes[] __attribute__((weak));
extern const struct tt_mock_provider tt_mock_compat_routes[] __attribute__((weak));
extern const struct tt_mock_provider tt_mock_openai_extra_routes[] __attribute__((weak));
extern const struct tt_mock_provider tt_mock_bad_routes[] __attribute__((weak));
static const struct tt_mock_provider *const tt_mock_route_tables[] = {
	tt_mock_gemini_routes, tt_mock_bedrock_routes, tt_mock_compat_routes, tt_mock_openai_extra_routes,
	tt_mock_bad_routes,
};

/* The route of path (no query), or NULL. */
static const struct tt_mock_provider *tt_mock_route_of(const char *path)
{
	const struct tt_mock_provider *p = NULL;
	size_t i;

	for (i = 0; i < sizeof tt_mock_providers / sizeof tt_mock_providers[0]; i++)
		if (!strcmp(path, tt_mock_providers[i].path))
			p = &tt_mock_providers[i];
	/* Routes of the providers that live in their own files (weak: a
	 * table that is not linked in is NULL). First match wins. */
	for (i = 0; !p && i < sizeof tt_mock_route_tables / sizeof tt_mock_route_tables[0]; i++)
		for (const struct tt_mock_provider *t = tt_mock_route_tables[i]; t && t->name; t++)
			if (t->match ? t->match(path) : !strcmp(path, t->path)) {
				p = t;
				break;
			}
	return p;
}

const struct tt_mock_provider *tt_mock_route(const struct tt_mock_req *r)
{
	char path[sizeof r->path];
	const struct tt_mock_provider *p;

	snprintf(path, sizeof path, "%s", r->path);
	path[strcspn(path, "?")] = '\0';
	p = tt_mock_route_of(path);
	return p && !p->serve ? p : tt_mock_guess(r);
}

void tt_mock_dispatch(struct tt_mock_tx *tx)
{
	if (tx->srv->dispatch)
		tx->srv->dispatch(tx, tx->srv->dispatch_arg);
	else
		tt_mock_dispatch_builtin(tx);
}

void tt_mock_dispatch_builtin(struct tt_mock_tx *tx)
{
	struct tt_mock_req *r = tx->req;
	const struct tt_mock_provider *p = NULL;
	char *q = strchr(r->path, '?');
	int status, stream = 0;

	if (q)
		*q = '\0';
	if (r->think_ms)
		tt_mock_sleep_ms(r->think_ms);
	p = tt_mock_route_of(r->path);
	if (!strcmp(r->path, "/health") && !strcmp(r->method, "GET")) {
		status = tt_mock_send_body(tx, NULL, 200, "text/plain", "ok", 2) < 0 ? -1 : 200;
	} else if (!strcmp(r->path, "/api/tags") && !strcmp(r->method, "GET")) {
		status = tt_mock_send_json(tx, NULL, 200, tt_mock_ollama_tags()) < 0 ? -1 : 200;
	} else if (p && !strcmp(r->method, "POST")) {
		status = tt_mock_model_call(tx, p, &stream);
	} else {
		char msg[1200];
		p = tt_mock_guess(r);
		snprintf(msg, sizeof msg, "Unknown request URL: %s %s (mock).", r->method, r->path);
		status = tt_mock_send_error(tx, p, 404, msg) < 0 ? -1 : 404;
	}
	if (!tx->srv->quiet)
		fprintf(stderr, "tokentap mock:%s %s %s -> %d%s%s\n", tx->proto, r->method, r->path, status,
			stream ? " (stream)" : "", tx->cut_done ? " (cut)" : "");
}

/* --- connections and the server ---------------------------------------- */

/* Whether the connection speaks HTTP/2: "h2" chosen by ALPN, or (prior
 * knowledge, curl --http2-prior-knowledge, h2c clients) a first read that
 * starts like the client preface "PRI * HTTP/2.0". */
static int tt_mock_is_h2(struct tt_mock_conn *c)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;

	if (c->srv->no_h2)
		return 0;
	if (c->ssl) {
		SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
		if (alpn_len == 2 && !memcmp(alpn, "h2", 2))
			return 1;
	}
	if (tt_mock_fill(c) < 0)
		return -1;
	return c->len >= 3 && !memcmp(c->in, "PRI", 3);
}

/* One port for TLS and plain HTTP (embedded servers): a TLS record of
 * type handshake (0x16) opens a TLS connection; anything else is HTTP. */
static int tt_mock_sniff(struct tt_mock_conn *c)
{
	struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
	unsigned char b;
	ssize_t n;

	if (poll(&pfd, 1, 10000) <= 0)
		return -1;
	do
		n = recv(c->fd, &b, 1, MSG_PEEK);
	while (n < 0 && errno == EINTR);
	if (n != 1)
		return -1;
	if (b != 0x16 || !c->srv->ctx)
		return 0;
	c->ssl = SSL_new(c->srv->ctx);
	if (!c->ssl || SSL_set_fd(c->ssl, c->fd) != 1)
		return -1;
	return 0;
}

/* WebSocket I/O over the connection (mock_int.h, tools/mock_ws.c). */
static long tt_mock_ws_read(void *conn, char *buf, size_t cap)
{
	struct tt_mock_conn *c = conn;
	size_t n;

	if (c->off == c->len && tt_mock_fill(c) < 0)
		return -1;
	n = c->len - c->off < cap ? c->len - c->off : cap;
	memcpy(buf, c->in + c->off, n);
	c->off += n;
	return (long)n;
}

static int tt_mock_ws_write(void *conn, const char *p, size_t n)
{
	return tt_mock_write_all(conn, p, n);
}

static void *tt_mock_conn_thread(void *arg)
{
	struct tt_mock_conn *c = arg;
	struct tt_mock_server *srv = c->srv;
	struct tt_mock_req r;
	struct tt_mock_h1tx h = {.tx = {.ops = &tt_mock_h1_ops, .srv = srv, .req = &r, .proto = ""}, .c = c};
	int rc;

	if (srv->sniff && tt_mock_sniff(c) < 0)
		goto out;
	if (c->ssl && SSL_accept(c->ssl) != 1) {
		c->abort = 1;
		goto out;
	}
	rc = tt_mock_is_h2(c);
	if (rc < 0)
		goto out;
	if (rc > 0) {
		tt_mock_h2_serve(srv, c->fd, c->ssl, c->in, c->len);
		c->abort = 1;      /* the h2 side said goodbye (GOAWAY) or the peer left */
		goto out;
	}
	for (;;) {
		memset(&r, 0, sizeof r);
		r.content_length = -1;
		r.tls = c->ssl != NULL;
		h.tx.cut_done = 0;
		rc = tt_mock_read_request(c, &r);
		if (rc < 0) {
			tt_mock_req_free(&r);
			break;
		}
		if (rc > 0) { /* malformed framing: answer, then drop the connection */
			r.close = 1;
			(void)tt_mock_send_error(&h.tx, tt_mock_guess(&r), rc, NULL);
		} else if (tt_mock_ws_wanted && tt_mock_ws_wanted(&r)) {
			struct tt_mock_ws_io io = {c, tt_mock_ws_read, tt_mock_ws_write};
			tt_mock_ws_serve(srv, &r, &io);
			tt_mock_req_free(&r);
			break;
		} else {
			tt_mock_dispatch(&h.tx);
		}
		tt_mock_req_free(&r);
		if (rc > 0 || r.close || c->abort)
			break;
	}
out:
	if (c->ssl) {
		if (!c->abort)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	free(c);
	atomic_fetch_sub(&srv->active, 1);
	return NULL;
}

static void tt_mock_spawn(struct tt_mock_server *srv, int fd)
{
	struct timeval snd = {.tv_sec = 30}, rcv = {.tv_sec = 5};
	struct tt_mock_conn *c = calloc(1, sizeof *c);
	pthread_attr_t attr;
	pthread_t th;
	int one = 1;

	if (!c)
		goto out_close;
	c->srv = srv;
	c->fd = fd;
	/* Events must leave as they are written. The timeouts bound how long a
	 * stuck client pins a thread: reads only block inside the TLS handshake
	 * or a partial record (idle waits use poll), writes when a test stops
	 * reading a stream. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof snd);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof rcv);
	if (srv->ctx && !srv->sniff) {
		c->ssl = SSL_new(srv->ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
			goto out_free;
	}
	atomic_fetch_add(&srv->active, 1);
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&th, &attr, tt_mock_conn_thread, c) == 0) {
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
	}
	atomic_fetch_sub(&srv->active, 1);
out_free:
	SSL_free(c->ssl);
	free(c);
out_close:
	close(fd);
}

/* Self-signed P-256 certificate that is also its own CA, so clients can use
 * the PEM directly as their trust bundle. host is added to the SAN when it
 * is a numeric address other than the defaults. */
static int tt_mock_make_cert(const char *host, const char *more_san, EVP_PKEY **key_out, X509 **cert_out)
{
	struct { int nid; const char *value; } exts[] = {
		{NID_basic_constraints, "critical,CA:TRUE"},
		{NID_key_usage, "critical,digitalSignature,keyCertSign,cRLSign"},
		{NID_ext_key_usage, "serverAuth"},
		{NID_subject_alt_name, NULL},
		{NID_subject_key_identifier, "hash"},
		{NID_authority_key_identifier, "keyid:always"},
	};
	char san[16384];
	unsigned char serial[8], probe[16];
	int extra = (inet_pton(AF_INET, host, probe) == 1 || inet_pton(AF_INET6, host, probe) == 1) &&
		    strcmp(host, "127.0.0.1") && strcmp(host, "::1");
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509V3_CTX v3;
	BIGNUM *bn = NULL;
	int rc = -1;

	snprintf(san, sizeof san, "DNS:localhost,IP:127.0.0.1,IP:::1,DNS:api.openai.com,DNS:api.anthropic.com%s%s%s%s",
		 extra ? ",IP:" : "", extra ? host : "", more_san ? "," : "", more_san ? more_san : "");
	exts[3].value = san;
	if (!key || !x || RAND_bytes(serial, sizeof serial) != 1)
		goto out;
	serial[0] &= 0x7f; /* positive serial */
	bn = BN_bin2bn(serial, sizeof serial, NULL);
	if (!bn || !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) || !X509_set_version(x, 2) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 10L * 366 * 24 * 3600) || !X509_set_pubkey(x, key))
		goto out;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, (const unsigned char *)"tokentap", -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"tokentap mock", -1, -1, 0) ||
	    !X509_set_issuer_name(x, name))
		goto out;
	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
	for (size_t i = 0; i < sizeof exts / sizeof exts[0]; i++) {
		X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v3, exts[i].nid, exts[i].value);
		int ok = e && X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		if (!ok)
			goto out;
	}
	if (!X509_sign(x, key, EVP_sha256()))
		goto out;
	*key_out = key;
	*cert_out = x;
	key = NULL;
	x = NULL;
	rc = 0;
out:
	BN_free(bn);
	X509_free(x);
	EVP_PKEY_free(key);
	return rc;
}

/* ALPN protocol lists in our order of preference (RFC 7301 wire format). */
static const unsigned char tt_mock_alpn_h2[] = "\x02h2\x08http/1.1";
static const unsigned char tt_mock_alpn_h11[] = "\x08http/1.1";

/* arg: the list to offer; h2 first unless --no-h2. SSL_select_next_proto
 * picks the first of OUR list that the client offers. */
static int tt_mock_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
			const unsigned char *in, unsigned int inlen, void *arg)
{
	const unsigned char *list = arg;
	unsigned int list_len = list == tt_mock_alpn_h2 ? sizeof tt_mock_alpn_h2 - 1 : sizeof tt_mock_alpn_h11 - 1;
	unsigned char *sel;

	(void)ssl;
	if (SSL_select_next_proto(&sel, outlen, list, list_len, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

struct tt_mock_opts {
	const char *host, *cert_out, *cert, *key, *port_file;
	const char *san;                  /* more subjectAltName entries (embedded) */
	long port;
	int plain, quiet, no_h2;
	struct tt_mock_usage usage;
};

static SSL_CTX *tt_mock_tls(const struct tt_mock_opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	EVP_PKEY *key = NULL;
	X509 *x = NULL;
	BIO *bio = NULL;
	char *pem;
	long pem_len;

	if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION))
		goto fail;
	if (o->cert) {
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)
			goto fail;
	} else if (tt_mock_make_cert(o->host, o->san, &key, &x) < 0 || SSL_CTX_use_certificate(ctx, x) != 1 ||
		   SSL_CTX_use_PrivateKey(ctx, key) != 1) {
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1)
		goto fail;
	SSL_CTX_set_alpn_select_cb(ctx, tt_mock_alpn,
				   (void *)(uintptr_t)(o->no_h2 ? tt_mock_alpn_h11 : tt_mock_alpn_h2));
	if (o->cert_out) {
		bio = BIO_new(BIO_s_mem());
		if (!bio || !PEM_write_bio_X509(bio, SSL_CTX_get0_certificate(ctx)))
			goto fail;
		pem_len = BIO_get_mem_data(bio, &pem);
		if (tt_mock_write_file(o->cert_out, pem, (size_t)pem_len) < 0) {
			fprintf(stderr, "tokentap mock: cannot write %s: %s\n", o->cert_out, strerror(errno));
			goto fail_quiet;
		}
	}
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	return ctx;
fail:
	fprintf(stderr, "tokentap mock: TLS setup failed\n");
	ERR_print_errors_fp(stderr);
fail_quiet:
	BIO_free(bio);
	X509_free(x);
	EVP_PKEY_free(key);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Returns the listening socket and its bound port, or -1. */
static int tt_mock_listen(const char *host, long port, int *bound)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char ps[16];
	int fd = -1, one = 1, rc;

	snprintf(ps, sizeof ps, "%ld", port);
	rc = getaddrinfo(host, ps, &hints, &ai);
	if (rc) {
		fprintf(stderr, "tokentap mock: %s: %s\n", host, gai_strerror(rc));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 1024) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		fprintf(stderr, "tokentap mock: listen on %s:%ld: %s\n", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	} else {
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							: ((struct sockaddr_in *)&ss)->sin_port);
	}
	freeaddrinfo(ai);
	return fd;
}

static void tt_mock_on_signal(int sig)
{
	(void)sig;
	atomic_store(&tt_mock_stop, 1);
}

static void tt_mock_usage_text(FILE *f)
{
	fputs("usage: tokentap mock [--port N] [--host ADDR] [--plain] [--cert-out FILE]\n"
	      "                     [--cert FILE --key FILE] [--port-file FILE] [--quiet]\n"
	      "                     [--usage in=N,out=N,cached=N,cache_write=N,reasoning=N]\n"
	      "                     [--no-h2]\n"
	      "Serves POST /v1/chat/completions (OpenAI), /v1/messages (Anthropic),\n"
	      "/api/chat and /api/generate (Ollama), GET /api/tags and /health, over\n"
	      "HTTP/1.1 and HTTP/2 (ALPN h2 on TLS, prior knowledge on --plain;\n"
	      "--no-h2: HTTP/1.1 only).\n",
	      f);
}

static int tt_mock_parse_opts(int argc, char **argv, struct tt_mock_opts *o)
{
	static const struct option longopts[] = {
		{"port", required_argument, NULL, 'p'},     {"host", required_argument, NULL, 'H'},
		{"cert-out", required_argument, NULL, 'o'}, {"cert", required_argument, NULL, 'c'},
		{"key", required_argument, NULL, 'k'},      {"plain", no_argument, NULL, 'P'},
		{"port-file", required_argument, NULL, 'f'}, {"usage", required_argument, NULL, 'u'},
		{"quiet", no_argument, NULL, 'q'},          {"help", no_argument, NULL, 'h'},
		{"no-h2", no_argument, NULL, '2'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	optind = 0; /* glibc: full re-initialisation, the CLI may have used getopt */
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'p':
			if (tt_mock_parse_long(optarg, 0, 65535, &o->port) < 0)
				goto bad;
			break;
		case 'H': o->host = optarg; break;
		case 'o': o->cert_out = optarg; break;
		case 'c': o->cert = optarg; break;
		case 'k': o->key = optarg; break;
		case 'P': o->plain = 1; break;
		case 'f': o->port_file = optarg; break;
		case 'q': o->quiet = 1; break;
		case '2': o->no_h2 = 1; break;
		case 'u':
			if (tt_mock_parse_usage(optarg, &o->usage) < 0)
				goto bad;
			break;
		case 'h':
			tt_mock_usage_text(stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind < argc || !o->cert != !o->key)
		goto bad;
	return 0;
bad:
	tt_mock_usage_text(stderr);
	return -1;
}

int tt_mock_main(int argc, char **argv)
{
	struct tt_mock_opts o = {.host = "127.0.0.1", .usage = {.in = 100, .out = 20}};
	struct sigaction sa = {.sa_handler = tt_mock_on_signal}, ign = {.sa_handler = SIG_IGN};
	struct sigaction old_int, old_term, old_pipe;
	struct tt_mock_server *srv = NULL;
	int lfd = -1, port = 0, rc, waited;
	char pbuf[16];

	rc = tt_mock_parse_opts(argc, argv, &o);
	if (rc)
		return rc < 0 ? 2 : 0;
	atomic_store(&tt_mock_stop, 0);
	/* Ids differ across runs, so logs of several runs do not collide. */
	atomic_store(&tt_mock_seq, ((unsigned long)time(NULL) & 0xffffffffUL) << 20);
	sigemptyset(&sa.sa_mask);
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGPIPE, &ign, &old_pipe);
	rc = 1;
	srv = calloc(1, sizeof *srv);
	if (!srv)
		goto out;
	srv->usage = o.usage;
	srv->quiet = o.quiet;
	srv->no_h2 = o.no_h2;
	if (!o.plain && !(srv->ctx = tt_mock_tls(&o)))
		goto out;
	lfd = tt_mock_listen(o.host, o.port, &port);
	if (lfd < 0)
		goto out;
	/* Written last: once the port file exists, the cert file does too. */
	snprintf(pbuf, sizeof pbuf, "%d\n", port);
	if (o.port_file && tt_mock_write_file(o.port_file, pbuf, strlen(pbuf)) < 0) {
		fprintf(stderr, "tokentap mock: cannot write %s: %s\n", o.port_file, strerror(errno));
		goto out;
	}
	if (!o.quiet)
		fprintf(stderr, "tokentap mock: listening on %s://%s%s%s:%d/%s%s\n", o.plain ? "http" : "https",
			strchr(o.host, ':') ? "[" : "", o.host, strchr(o.host, ':') ? "]" : "", port,
			o.cert_out ? " CA: " : "", o.cert_out ? o.cert_out : "");
	while (!atomic_load(&tt_mock_stop)) {
		struct pollfd pfd = {.fd = lfd, .events = POLLIN};
		int cfd;

		if (poll(&pfd, 1, 200) <= 0)
			continue;
		cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			tt_mock_spawn(srv, cfd);
		else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			tt_mock_sleep_ms(50); /* avoid spinning while out of descriptors */
	}
	rc = 0;
out:
	if (lfd >= 0)
		close(lfd);
	/* Threads notice the stop flag within TT_MOCK_POLL_MS unless stuck in a
	 * write (bounded by SO_SNDTIMEO); if any outlive the wait, srv and the
	 * SSL_CTX are deliberately leaked rather than freed under them. */
	for (waited = 0; srv && atomic_load(&srv->active) > 0 && waited < TT_MOCK_DRAIN_MS; waited += 20)
		tt_mock_sleep_ms(20);
	if (srv && atomic_load(&srv->active) == 0) {
		SSL_CTX_free(srv->ctx);
		free(srv);
	}
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGPIPE, &old_pipe, NULL);
	if (!o.quiet && rc == 0)
		fprintf(stderr, "tokentap mock: stopped\n");
	return rc;
}

/* --- embedded server (tokentap replay, run --mock; mock.h) ----------------- */

struct tt_mock_embedded {
	struct tt_mock_server *srv;
	int lfd;
	pthread_t th;
};

static void *tt_mock_accept_loop(void *arg)
{
	struct tt_mock_embedded *m = arg;

	while (!atomic_load(&tt_mock_stop)) {
		struct pollfd pfd = {.fd = m->lfd, .events = POLLIN};
		int cfd;

		if (poll(&pfd, 1, 100) <= 0)
			continue;
		cfd = accept4(m->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (cfd >= 0)
			tt_mock_spawn(m->srv, cfd);
		else if (errno == EMFILE || errno == ENFILE || errno == ENOMEM)
			tt_mock_sleep_ms(50);
	}
	return NULL;
}

int tt_mock_embed_start(struct tt_mock_embed *e)
{
	struct tt_mock_opts o = {.host = "127.0.0.1", .san = e->san};
	struct tt_mock_embedded *m = calloc(1, sizeof *m);
	unsigned char *der = NULL;
	sigset_t block, prev;
	int len, rc;

	if (!m)
		return -1;
	m->lfd = -1;
	atomic_store(&tt_mock_stop, 0);
	atomic_store(&tt_mock_seq, ((unsigned long)time(NULL) & 0xffffffffUL) << 20);
	m->srv = calloc(1, sizeof *m->srv);
	if (!m->srv)
		goto fail;
	m->srv->usage = (struct tt_mock_usage){.in = 100, .out = 20};
	m->srv->quiet = 1;
	m->srv->sniff = 1;
	m->srv->dispatch = e->dispatch;
	m->srv->dispatch_arg = e->arg;
	if (!(m->srv->ctx = tt_mock_tls(&o)))
		goto fail;
	len = i2d_X509(SSL_CTX_get0_certificate(m->srv->ctx), &der);
	if (len <= 0)
		goto fail;
	e->ca_der = der;
	e->ca_der_len = (size_t)len;
	{
		BIO *bio = BIO_new(BIO_s_mem());
		char *pem;
		long pem_len;
		if (!bio || !PEM_write_bio_X509(bio, SSL_CTX_get0_certificate(m->srv->ctx)) ||
		    (pem_len = BIO_get_mem_data(bio, &pem)) <= 0 || !(e->ca_pem = strndup(pem, (size_t)pem_len))) {
			BIO_free(bio);
			goto fail;
		}
		BIO_free(bio);
	}
	m->lfd = tt_mock_listen(o.host, 0, &e->port);
	if (m->lfd < 0)
		goto fail;
	/* A client gone mid-write raises SIGPIPE in the writing thread: the
	 * server's threads keep it blocked (their pending ones die with them),
	 * so the process's own disposition, which the traced command inherits,
	 * is left alone. */
	sigemptyset(&block);
	sigaddset(&block, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &block, &prev);
	rc = pthread_create(&m->th, NULL, tt_mock_accept_loop, m);
	pthread_sigmask(SIG_SETMASK, &prev, NULL);
	if (rc != 0)
		goto fail;
	e->impl = m;
	return 0;
fail:
	if (m->lfd >= 0)
		close(m->lfd);
	if (m->srv)
		SSL_CTX_free(m->srv->ctx);
	free(m->srv);
	free(m);
	OPENSSL_free(der);
	e->ca_der = NULL;
	free(e->ca_pem);
	e->ca_pem = NULL;
	return -1;
}

void tt_mock_embed_stop(struct tt_mock_embed *e)
{
	struct tt_mock_embedded *m = e->impl;
	int waited;

	if (!m)
		return;
	atomic_store(&tt_mock_stop, 1);
	pthread_join(m->th, NULL);
	close(m->lfd);
	for (waited = 0; atomic_load(&m->srv->active) > 0 && waited < TT_MOCK_DRAIN_MS; waited += 20)
		tt_mock_sleep_ms(20);
	if (atomic_load(&m->srv->active) == 0) {
		SSL_CTX_free(m->srv->ctx);
		free(m->srv);
	}
	free(m);
	e->impl = NULL;
	OPENSSL_free(e->ca_der);
	e->ca_der = NULL;
	free(e->ca_pem);
	e->ca_pem = NULL;
}
