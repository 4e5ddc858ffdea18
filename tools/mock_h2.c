/*
 * mock_h2.c - the mock's HTTP/2 side (libnghttp2 server session).
 *
 * One I/O thread per connection (the connection thread of mock.c) owns the
 * nghttp2 session: nghttp2 is not thread-safe, so it alone reads, writes
 * and calls nghttp2. Each request stream, once its body is complete, gets a
 * worker thread that renders the response through the same providers as
 * HTTP/1.1 (tt_mock_dispatch), sleeping between events as asked
 * (x-mock-delay-ms); a request that asks for no wait is answered on the I/O
 * thread itself, between its nghttp2 calls (tt_mock_h2_at_once), through the
 * same queue. Workers never touch the session: they queue headers
 * and body bytes on their stream under the connection's mutex and wake
 * the I/O thread through an eventfd, which then submits the response or
 * resumes the stream's deferred data provider. So many streams of one
 * connection progress concurrently, each event leaving as it is produced.
 *
 * x-mock-cut on a stream becomes RST_STREAM(INTERNAL_ERROR) once the events
 * before the cut have been sent: the data provider returns
 * NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE, which nghttp2 turns into exactly
 * that reset.
 *
 * Ownership: a stream is referenced by the session (until its close
 * callback) and by its worker (until the worker returns); the last one
 * frees it. The connection outlives every worker: the I/O thread waits for
 * them before it frees anything.
 */
#include "mock_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#define TT_MOCK_H2_MAX_STREAMS 128        /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define TT_MOCK_H2_WRITE_MS (30 * 1000)   /* a client that stops reading */
#define TT_MOCK_H2_READ 16384
#define TT_MOCK_H2_WRITE_BUF 32768
#define TT_MOCK_H2_EXTRA 32               /* extra response headers (tx.extra_hdrs) */
#define TT_MOCK_H2_AT_ONCE_CHUNKS 4096    /* answered on the I/O thread up to this x-mock-chunks */
#define TT_MOCK_H2_AT_ONCE_BODY (1L << 20) /* ... and this request body */

struct tt_mock_h2conn;

struct tt_mock_h2stream {
	struct tt_mock_tx tx;             /* first member: workers get &tx */
	struct tt_mock_h2conn *hc;
	int32_t id;
	struct tt_mock_req req;           /* I/O thread until the worker starts, then the worker */
	int too_big;                      /* request body over TT_MOCK_BODY_CAP */
	int started;                      /* a worker was started */
	int ready;                        /* complete, to be answered on the I/O thread */
	int at_once;                      /* being answered on the I/O thread (I/O thread only) */
	struct tt_mock_h2stream *next;    /* hc->streams: streams the session knows */

	/* Below: under hc->mu. Worker -> I/O thread. */
	int head_ready;                   /* status/ctype/... are set */
	int submitted;                    /* the I/O thread submitted the response */
	int status, gz, has_body;
	char ctype[64], reqid_name[32], reqid[64];
	char *extra;                      /* tx.extra_hdrs, copied with the head */
	char *buf;                        /* queued body bytes [off, len) */
	size_t off, len, cap;
	int eof;                          /* the body is complete */
	int rst;                          /* reset the stream once the queue is sent */
	int deferred;                     /* the data provider is waiting for bytes */
	int finished;                     /* the worker returned */
	int closed;                       /* the session closed the stream: stop writing */
	int refs;
};

struct tt_mock_h2conn {
	struct tt_mock_server *srv;
	int fd, efd;
	SSL *ssl;                         /* NULL: prior-knowledge h2c */
	nghttp2_session *sess;
	struct tt_mock_h2stream *streams; /* I/O thread only */
	pthread_mutex_t mu;
	pthread_cond_t cv;                /* signalled when a worker ends */
	int workers;                      /* under mu */
	int dead;                         /* under mu: the connection is going away */
};

/* --- worker side ---------------------------------------------------------- */

static void tt_mock_h2_wake(struct tt_mock_h2conn *hc)
{
	uint64_t one = 1;

	/* A full counter (never in practice) still leaves the fd readable. */
	(void)!write(hc->efd, &one, sizeof one);
}

/* Appends to the stream's queue. Caller holds mu. */
static int tt_mock_h2_queue(struct tt_mock_h2stream *s, const char *p, size_t n)
{
	if (s->off == s->len)
		s->off = s->len = 0;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		char *b;
		while (cap < s->len + n)
			cap *= 2;
		b = realloc(s->buf, cap);
		if (!b)
			return -1;
		s->buf = b;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

/* Headers of the response; caller holds mu. */
static void tt_mock_h2_head(struct tt_mock_h2stream *s, int status, const char *ctype, const char *reqid_name,
			    int gz, int has_body)
{
	s->status = status;
	snprintf(s->ctype, sizeof s->ctype, "%s", ctype);
	s->reqid_name[0] = '\0';
	if (reqid_name) {
		snprintf(s->reqid_name, sizeof s->reqid_name, "%s", reqid_name);
		tt_mock_reqid(s->reqid, sizeof s->reqid);
	}
	s->gz = gz;
	s->has_body = has_body;
	free(s->extra);
	s->extra = s->tx.extra_hdrs ? strdup(s->tx.extra_hdrs) : NULL;
	s->head_ready = 1;
}

static int tt_mock_h2_gone(struct tt_mock_h2stream *s)
{
	return s->closed || s->hc->dead || atomic_load(&tt_mock_stop);
}

static int tt_mock_h2_whole(struct tt_mock_tx *tx, int status, const char *ctype, const char *reqid_name,
			    const char *body, size_t len, int gz)
{
	struct tt_mock_h2stream *s = (struct tt_mock_h2stream *)tx;
	struct tt_mock_h2conn *hc = s->hc;
	int rc = -1;

	pthread_mutex_lock(&hc->mu);
	if (!tt_mock_h2_gone(s) && !s->head_ready && tt_mock_h2_queue(s, body, len) == 0) {
		tt_mock_h2_head(s, status, ctype, reqid_name, gz, len > 0);
		s->eof = 1;
		rc = 0;
	}
	tt_mock_h2_wake(hc);
	pthread_mutex_unlock(&hc->mu);
	return rc;
}

static void tt_mock_h2_pump(struct tt_mock_h2conn *hc);
static int tt_mock_h2_flush(struct tt_mock_h2conn *hc);

/* A stream answered on the I/O thread sends its head and each event as
 * they are made, as they would leave a worker: not the whole answer at its
 * end. Called without mu. */
static int tt_mock_h2_send_now(struct tt_mock_h2stream *s, int rc)
{
	if (rc < 0 || !s->at_once)
		return rc;
	tt_mock_h2_pump(s->hc);
	return tt_mock_h2_flush(s->hc);
}

static int tt_mock_h2_stream_head(struct tt_mock_tx *tx, const char *ctype, const char *reqid_name)
{
	struct tt_mock_h2stream *s = (struct tt_mock_h2stream *)tx;
	struct tt_mock_h2conn *hc = s->hc;
	int rc = -1;

	pthread_mutex_lock(&hc->mu);
	if (!tt_mock_h2_gone(s) && !s->head_ready) {
		tt_mock_h2_head(s, 200, ctype, reqid_name, 0, 1);
		rc = 0;
	}
	tt_mock_h2_wake(hc);
	pthread_mutex_unlock(&hc->mu);
	return tt_mock_h2_send_now(s, rc);
}

static int tt_mock_h2_stream_write(struct tt_mock_tx *tx, const char *p, size_t n)
{
	struct tt_mock_h2stream *s = (struct tt_mock_h2stream *)tx;
	struct tt_mock_h2conn *hc = s->hc;
	int rc = -1;

	pthread_mutex_lock(&hc->mu);
	if (!tt_mock_h2_gone(s) && !s->eof && !s->rst)
		rc = tt_mock_h2_queue(s, p, n);
	tt_mock_h2_wake(hc);
	pthread_mutex_unlock(&hc->mu);
	return tt_mock_h2_send_now(s, rc);
}

static int tt_mock_h2_stream_end(struct tt_mock_tx *tx)
{
	struct tt_mock_h2stream *s = (struct tt_mock_h2stream *)tx;
	struct tt_mock_h2conn *hc = s->hc;
	int rc = -1;

	pthread_mutex_lock(&hc->mu);
	if (!tt_mock_h2_gone(s)) {
		s->eof = 1;
		rc = 0;
	}
	tt_mock_h2_wake(hc);
	pthread_mutex_unlock(&hc->mu);
	return rc;
}

static void tt_mock_h2_cut(struct tt_mock_tx *tx)
{
	struct tt_mock_h2stream *s = (struct tt_mock_h2stream *)tx;
	struct tt_mock_h2conn *hc = s->hc;

	pthread_mutex_lock(&hc->mu);
	s->rst = 1;
	tt_mock_h2_wake(hc);
	pthread_mutex_unlock(&hc->mu);
}

static const struct tt_mock_tx_ops tt_mock_h2_ops = {
	.whole = tt_mock_h2_whole,
	.stream_head = tt_mock_h2_stream_head,
	.stream_write = tt_mock_h2_stream_write,
	.stream_end = tt_mock_h2_stream_end,
	.cut = tt_mock_h2_cut,
};

static void tt_mock_h2_stream_free(struct tt_mock_h2stream *s)
{
	if (!s)
		return;
	tt_mock_req_free(&s->req);
	free(s->extra);
	free(s->buf);
	free(s);
}

static void *tt_mock_h2_worker(void *arg)
{
	struct tt_mock_h2stream *s = arg;
	struct tt_mock_h2conn *hc = s->hc;
	int last;

	if (s->too_big) {
		static const char msg[] = "{\"error\":\"request body too large (mock)\"}";
		(void)tt_mock_h2_whole(&s->tx, 413, "application/json", NULL, msg, sizeof msg - 1, 0);
	} else {
		tt_mock_dispatch(&s->tx);
	}
	pthread_mutex_lock(&hc->mu);
	/* A response that could not be completed is reset, never left
	 * hanging: the client must see it fail. */
	if (!s->eof)
		s->rst = 1;
	s->finished = 1;
	last = --s->refs == 0;
	tt_mock_h2_wake(hc);
	hc->workers--;
	pthread_cond_broadcast(&hc->cv);
	pthread_mutex_unlock(&hc->mu);
	/* hc may be gone from here on. */
	if (last)
		tt_mock_h2_stream_free(s);
	return NULL;
}

/* --- I/O thread: nghttp2 callbacks ---------------------------------------- */

static ssize_t tt_mock_h2_read_cb(nghttp2_session *sess, int32_t id, uint8_t *buf, size_t length,
				  uint32_t *flags, nghttp2_data_source *src, void *ud)
{
	struct tt_mock_h2stream *s = src->ptr;
	struct tt_mock_h2conn *hc = ud;
	ssize_t rc;
	size_t n;

	(void)sess;
	(void)id;
	pthread_mutex_lock(&hc->mu);
	n = s->len - s->off;
	if (n > length)
		n = length;
	if (n) {
		memcpy(buf, s->buf + s->off, n);
		s->off += n;
		rc = (ssize_t)n;
		if (s->off == s->len && s->eof)
			*flags |= NGHTTP2_DATA_FLAG_EOF;
	} else if (s->rst) {
		rc = NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;   /* RST_STREAM INTERNAL_ERROR */
	} else if (s->eof) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		rc = 0;
	} else {
		s->deferred = 1;
		rc = NGHTTP2_ERR_DEFERRED;
	}
	pthread_mutex_unlock(&hc->mu);
	return rc;
}

static int tt_mock_h2_begin_headers(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	struct tt_mock_h2conn *hc = ud;
	struct tt_mock_h2stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof *s);
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->tx.ops = &tt_mock_h2_ops;
	s->tx.srv = hc->srv;
	s->tx.req = &s->req;
	s->tx.proto = " h2";
	s->hc = hc;
	s->id = frame->hd.stream_id;
	s->req.content_length = -1;
	s->req.tls = hc->ssl != NULL;
	s->refs = 1;
	s->next = hc->streams;
	hc->streams = s;
	nghttp2_session_set_stream_user_data(sess, s->id, s);
	return 0;
}

static int tt_mock_h2_header(nghttp2_session *sess, const nghttp2_frame *frame, const uint8_t *name, size_t namelen,
			     const uint8_t *value, size_t valuelen, uint8_t flags, void *ud)
{
	struct tt_mock_h2stream *s;
	char n[64], v[sizeof s->req.path];

	(void)flags;
	(void)ud;
	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	/* Longer names or values are no header we act on. */
	if (!s || namelen >= sizeof n || valuelen >= sizeof v)
		return 0;
	memcpy(n, name, namelen);
	n[namelen] = '\0';
	memcpy(v, value, valuelen);
	v[valuelen] = '\0';
	if (!strcmp(n, ":method") && valuelen < sizeof s->req.method)
		memcpy(s->req.method, v, valuelen + 1);
	else if (!strcmp(n, ":path"))
		memcpy(s->req.path, v, valuelen + 1);   /* v and path: same size */
	else if (!strcmp(n, ":authority"))
		snprintf(s->req.host, sizeof s->req.host, "%.255s", v);
	else if (n[0] != ':')
		tt_mock_req_header(&s->req, n, v);
	return 0;
}

static int tt_mock_h2_data_chunk(nghttp2_session *sess, uint8_t flags, int32_t id, const uint8_t *data, size_t len,
				 void *ud)
{
	struct tt_mock_h2stream *s = nghttp2_session_get_stream_user_data(sess, id);
	char *b;

	(void)flags;
	(void)ud;
	if (!s || s->started || s->too_big)
		return 0;
	if ((long)(s->req.body_len + len) > TT_MOCK_BODY_CAP) {
		s->too_big = 1;
		return 0;
	}
	b = realloc(s->req.body, s->req.body_len + len + 1);
	if (!b)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	memcpy(b + s->req.body_len, data, len);
	s->req.body = b;
	s->req.body_len += len;
	return 0;
}

/* Whether the stream's answer can be made on the I/O thread: the builtin
 * routes, nothing asked to wait (x-mock-think-ms, x-mock-delay-ms), a
 * bounded number of events. A streamed answer's events still leave one by
 * one (tt_mock_h2_send_now). A thread and two hand-offs per request were a
 * third of the mock's CPU time per call in `make bench`, whose clients
 * share the machine's cores with it. */
static int tt_mock_h2_at_once(const struct tt_mock_h2conn *hc, const struct tt_mock_h2stream *s)
{
	const struct tt_mock_req *r = &s->req;

	return !hc->srv->dispatch && !r->think_ms && !r->delay_ms && r->chunks <= TT_MOCK_H2_AT_ONCE_CHUNKS &&
	       s->req.body_len <= TT_MOCK_H2_AT_ONCE_BODY;
}

/* at_once: the worker runs here, on the I/O thread, outside any nghttp2
 * call (tt_mock_h2_run_ready). */
static void tt_mock_h2_start(struct tt_mock_h2conn *hc, struct tt_mock_h2stream *s, int at_once)
{
	pthread_attr_t attr;
	pthread_t th;
	int ok = 0;

	s->started = 1;
	pthread_mutex_lock(&hc->mu);
	s->refs++;
	hc->workers++;
	pthread_mutex_unlock(&hc->mu);
	if (at_once) {
		s->at_once = 1;
		(void)tt_mock_h2_worker(s);
		return;
	}
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		ok = pthread_create(&th, &attr, tt_mock_h2_worker, s) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!ok) {
		pthread_mutex_lock(&hc->mu);
		s->refs--;
		hc->workers--;
		s->finished = 1;
		s->rst = 1;
		pthread_mutex_unlock(&hc->mu);
		nghttp2_submit_rst_stream(hc->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_REFUSED_STREAM);
	}
}

static int tt_mock_h2_frame_recv(nghttp2_session *sess, const nghttp2_frame *frame, void *ud)
{
	struct tt_mock_h2conn *hc = ud;
	struct tt_mock_h2stream *s;

	if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(sess, frame->hd.stream_id);
	if (s && !s->started) {
		if (tt_mock_h2_at_once(hc, s))
			s->ready = 1;         /* nghttp2 may not be called from its callback */
		else
			tt_mock_h2_start(hc, s, 0);
	}
	return 0;
}

/* Answers the streams tt_mock_h2_frame_recv found ready. The list is
 * walked again after each: an answer's writes may close and free other
 * streams. */
static void tt_mock_h2_run_ready(struct tt_mock_h2conn *hc)
{
	for (;;) {
		struct tt_mock_h2stream *s = hc->streams;

		while (s && !(s->ready && !s->started))
			s = s->next;
		if (!s)
			return;
		tt_mock_h2_start(hc, s, 1);
	}
}

static int tt_mock_h2_stream_close(nghttp2_session *sess, int32_t id, uint32_t error_code, void *ud)
{
	struct tt_mock_h2conn *hc = ud;
	struct tt_mock_h2stream *s = nghttp2_session_get_stream_user_data(sess, id), **pp;
	int last;

	(void)error_code;
	if (!s)
		return 0;
	for (pp = &hc->streams; *pp; pp = &(*pp)->next) {
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	}
	nghttp2_session_set_stream_user_data(sess, id, NULL);
	pthread_mutex_lock(&hc->mu);
	s->closed = 1;
	last = --s->refs == 0;
	pthread_mutex_unlock(&hc->mu);
	if (last)
		tt_mock_h2_stream_free(s);
	return 0;
}

/* --- I/O thread: the connection ------------------------------------------- */

/* Writes everything, waiting for the socket when it is full (the socket is
 * non-blocking so that reads never stall the loop). */
static int tt_mock_h2_write(struct tt_mock_h2conn *hc, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n;
		int want_read = 0;

		if (hc->ssl) {
			int w = SSL_write(hc->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);
			if (w > 0) {
				n = w;
			} else {
				int e = SSL_get_error(hc->ssl, w);
				if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
					return -1;
				want_read = e == SSL_ERROR_WANT_READ;
				n = 0;
			}
		} else {
			n = send(hc->fd, p, len, MSG_NOSIGNAL);
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					return -1;
				n = 0;
			}
		}
		if (n == 0) {
			struct pollfd pfd = {.fd = hc->fd, .events = want_read ? POLLIN : POLLOUT};
			if (poll(&pfd, 1, TT_MOCK_H2_WRITE_MS) <= 0)
				return -1;
			continue;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Sends what nghttp2 has, its frames gathered into writes of up to
 * TT_MOCK_H2_WRITE_BUF bytes (one TLS record and one syscall for a whole
 * small answer, as a real server's buffered writer does). A RST_STREAM
 * leaves in a record of its own: a client reads one record at a time, and
 * curl drops what a stream got in the same read as its reset. */
static int tt_mock_h2_flush(struct tt_mock_h2conn *hc)
{
	uint8_t out[TT_MOCK_H2_WRITE_BUF];
	size_t used = 0;

	for (;;) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(hc->sess, &data);
		int rst = n >= 9 && data[3] == NGHTTP2_RST_STREAM;

		if (n < 0)
			return -1;
		if (used && (n == 0 || rst || used + (size_t)n > sizeof out)) {
			if (tt_mock_h2_write(hc, out, used) < 0)
				return -1;
			used = 0;
		}
		if (n == 0)
			return 0;
		if (rst || (size_t)n > sizeof out) {
			if (tt_mock_h2_write(hc, data, (size_t)n) < 0)
				return -1;
		} else {
			memcpy(out + used, data, (size_t)n);
			used += (size_t)n;
		}
	}
}

/* Hands what workers queued to nghttp2: new responses, resumed streams,
 * and resets of responses that never got their headers out. */
static void tt_mock_h2_pump(struct tt_mock_h2conn *hc)
{
	for (struct tt_mock_h2stream *s = hc->streams; s; s = s->next) {
		int submit = 0, resume = 0, reset = 0;
		char status[8], clen[24];

		pthread_mutex_lock(&hc->mu);
		if (s->head_ready && !s->submitted) {
			submit = 1;
			s->submitted = 1;
		} else if (s->submitted && s->deferred && (s->len > s->off || s->eof || s->rst)) {
			resume = 1;
			s->deferred = 0;
		} else if (!s->submitted && s->finished && s->rst) {
			reset = 1;
			s->submitted = 1;
		}
		pthread_mutex_unlock(&hc->mu);
		if (submit) {
			nghttp2_nv nva[6 + TT_MOCK_H2_EXTRA];
			char extra[8192];
			size_t nv = 0;
			nghttp2_data_provider prd = {.source.ptr = s, .read_callback = tt_mock_h2_read_cb};
#define TT_MOCK_NV(n, v)                                                                    \
	nva[nv++] = (nghttp2_nv){(uint8_t *)(uintptr_t)(n), (uint8_t *)(uintptr_t)(v), strlen(n), strlen(v), \
				 NGHTTP2_NV_FLAG_NONE}
			snprintf(status, sizeof status, "%d", s->status);
			TT_MOCK_NV(":status", status);
			TT_MOCK_NV("content-type", s->ctype);
			TT_MOCK_NV("server", "tokentap-mock");
			if (s->reqid_name[0])
				TT_MOCK_NV(s->reqid_name, s->reqid);
			if (s->gz)
				TT_MOCK_NV("content-encoding", "gzip");
			/* A whole body is queued in full before its headers go. */
			if (s->eof && s->has_body) {
				snprintf(clen, sizeof clen, "%zu", s->len - s->off);
				TT_MOCK_NV("content-length", clen);
			}
			/* More headers (embedded servers): "Name: value\r\n" lines,
			 * names lower-cased as HTTP/2 requires. */
			snprintf(extra, sizeof extra, "%s", s->extra ? s->extra : "");
			for (char *line = extra, *next; *line && nv < sizeof nva / sizeof nva[0]; line = next) {
				char *colon, *v;
				next = line + strcspn(line, "\r\n");
				if (*next)
					*next++ = '\0';
				next += strspn(next, "\r\n");
				if (!(colon = strchr(line, ':')) || colon == line)
					continue;
				*colon = '\0';
				for (char *c = line; *c; c++)
					*c = (char)((*c >= 'A' && *c <= 'Z') ? *c + 32 : *c);
				for (v = colon + 1; *v == ' '; v++)
					;
				TT_MOCK_NV(line, v);
			}
#undef TT_MOCK_NV
			/* nghttp2 copies the name/value bytes before returning. */
			if (nghttp2_submit_response(hc->sess, s->id, nva, nv, s->has_body ? &prd : NULL) != 0)
				nghttp2_submit_rst_stream(hc->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
		} else if (resume) {
			nghttp2_session_resume_data(hc->sess, s->id);
		} else if (reset) {
			nghttp2_submit_rst_stream(hc->sess, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_INTERNAL_ERROR);
		}
	}
}

/* Reads what is there; 0 = nothing (yet), 1 = fed some, -1 = the peer is
 * gone or spoke nonsense. */
static int tt_mock_h2_read(struct tt_mock_h2conn *hc)
{
	uint8_t buf[TT_MOCK_H2_READ];
	ssize_t n;

	if (hc->ssl) {
		int r = SSL_read(hc->ssl, buf, sizeof buf);
		if (r <= 0) {
			int e = SSL_get_error(hc->ssl, r);
			return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? 0 : -1;
		}
		n = r;
	} else {
		n = recv(hc->fd, buf, sizeof buf, 0);
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
		if (n == 0)
			return -1;
	}
	return nghttp2_session_mem_recv(hc->sess, buf, (size_t)n) < 0 ? -1 : 1;
}

static int tt_mock_h2_session(struct tt_mock_h2conn *hc)
{
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv[] = {
		{NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, TT_MOCK_H2_MAX_STREAMS},
	};
	int rc;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		return -1;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, tt_mock_h2_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, tt_mock_h2_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, tt_mock_h2_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, tt_mock_h2_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, tt_mock_h2_stream_close);
	rc = nghttp2_session_server_new(&hc->sess, cb, hc);
	nghttp2_session_callbacks_del(cb);
	if (rc != 0)
		return -1;
	return nghttp2_submit_settings(hc->sess, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) == 0 ? 0 : -1;
}

void tt_mock_h2_serve(struct tt_mock_server *srv, int fd, SSL *ssl, const char *pre, size_t pre_len)
{
	struct tt_mock_h2conn hc = {.srv = srv, .fd = fd, .ssl = ssl, .efd = -1};
	int idle_ms = 0, fl;

	pthread_mutex_init(&hc.mu, NULL);
	pthread_cond_init(&hc.cv, NULL);
	hc.efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	fl = fcntl(fd, F_GETFL);
	if (hc.efd < 0 || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || tt_mock_h2_session(&hc) < 0)
		goto out;
	if (pre_len && nghttp2_session_mem_recv(hc.sess, (const uint8_t *)pre, pre_len) < 0)
		goto out;
	while (!atomic_load(&tt_mock_stop)) {
		struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = hc.efd, .events = POLLIN}};
		int n, got = 0;

		tt_mock_h2_run_ready(&hc);
		tt_mock_h2_pump(&hc);
		if (tt_mock_h2_flush(&hc) < 0)
			break;
		if (!nghttp2_session_want_read(hc.sess) && !nghttp2_session_want_write(hc.sess))
			break;      /* GOAWAY both ways, nothing left to send */
		/* Bytes TLS already decrypted are not visible to poll. */
		if (!(ssl && SSL_pending(ssl))) {
			n = poll(pfd, 2, TT_MOCK_POLL_MS);
			if (n < 0 && errno != EINTR)
				break;
			if (pfd[1].revents & POLLIN) {
				uint64_t v;
				(void)!read(hc.efd, &v, sizeof v);
				got = 1;
			}
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
				idle_ms = got || hc.streams ? 0 : idle_ms + TT_MOCK_POLL_MS;
				if (idle_ms >= TT_MOCK_IDLE_MS)
					break;
				continue;
			}
		}
		idle_ms = 0;
		/* Drain what TLS holds so one read per poll does not fall behind. */
		do {
			n = tt_mock_h2_read(&hc);
		} while (n > 0 && ssl && SSL_pending(ssl));
		if (n < 0)
			break;
	}
	if (hc.sess) {
		/* A polite end when we are the ones stopping. */
		nghttp2_session_terminate_session(hc.sess, NGHTTP2_NO_ERROR);
		(void)tt_mock_h2_flush(&hc);
	}
out:
	pthread_mutex_lock(&hc.mu);
	hc.dead = 1;
	while (hc.workers > 0)
		pthread_cond_wait(&hc.cv, &hc.mu);
	pthread_mutex_unlock(&hc.mu);
	/* Workers are gone: every stream left is the session's alone. */
	nghttp2_session_del(hc.sess);
	while (hc.streams) {
		struct tt_mock_h2stream *s = hc.streams;
		hc.streams = s->next;
		tt_mock_h2_stream_free(s);
	}
	if (hc.efd >= 0)
		close(hc.efd);
	pthread_cond_destroy(&hc.cv);
	pthread_mutex_destroy(&hc.mu);
	/* Back to blocking for the caller's SSL_shutdown/close. */
	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl);
}
