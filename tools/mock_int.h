/*
 * mock_int.h - what the mock's HTTP/1.1 side (mock.c) and its HTTP/2 side
 * (mock_h2.c) share: the request, the server, and the response
 * transmitter through which every provider renders its answer, whatever
 * the protocol. Internal to tools/; the entry point is mock.h.
 */
#ifndef TT_MOCK_INT_H
#define TT_MOCK_INT_H

#include <stdatomic.h>
#include <stddef.h>

#include <openssl/ssl.h>

#define TT_MOCK_BODY_CAP (16L * 1024 * 1024)
#define TT_MOCK_IDLE_MS (120 * 1000)      /* idle connections are closed */
#define TT_MOCK_POLL_MS 250               /* how quickly threads notice shutdown */

struct tt_mock_usage {
	long in, out, cached, cache_write, reasoning;
};

struct tt_mock_server {
	SSL_CTX *ctx;                     /* NULL with --plain */
	struct tt_mock_usage usage;       /* --usage defaults */
	int quiet;
	int no_h2;                        /* --no-h2: HTTP/1.1 only */
	atomic_int active;                /* live connection threads */
};

struct tt_mock_req {
	char method[16];
	char path[1024];
	int http10, close, expect_continue, chunked_body, gzip, anthropic_hint;
	long content_length;              /* -1: absent */
	/* control headers (0 = not given) */
	long status, cut, chunks, delay_ms, stream_error, no_usage, force_chunked;
	char usage_hdr[256];              /* x-mock-usage, applied over --usage */
	char resp_model[256];
	const char *bad_header;           /* first control header we could not parse */
	char *body;                       /* owned; freed by tt_mock_req_free */
	size_t body_len;
};

struct tt_mock_tx;

/* How one response leaves, per protocol. Every function returns 0 or -1
 * (the response cannot go on: connection or stream gone). */
struct tt_mock_tx_ops {
	/* A complete response; gz: body is already gzip'd. reqid_name: the
	 * provider's request-id header or NULL. */
	int (*whole)(struct tt_mock_tx *tx, int status, const char *ctype, const char *reqid_name,
		     const char *body, size_t len, int gz);
	/* A 200 whose body is a stream of events, then its events (each one
	 * leaves at once), then its end. */
	int (*stream_head)(struct tt_mock_tx *tx, const char *ctype, const char *reqid_name);
	int (*stream_write)(struct tt_mock_tx *tx, const char *p, size_t n);
	int (*stream_end)(struct tt_mock_tx *tx);
	/* Break the response off (x-mock-cut): HTTP/1.1 drops the connection
	 * without a terminator, HTTP/2 resets the stream (INTERNAL_ERROR). */
	void (*cut)(struct tt_mock_tx *tx);
};

struct tt_mock_tx {
	const struct tt_mock_tx_ops *ops;
	struct tt_mock_server *srv;
	struct tt_mock_req *req;
	const char *proto;                /* for the log: "" or " h2" */
	int cut_done;                     /* the response was broken off */
};

extern atomic_int tt_mock_stop;

/* One header of a request (name as received, any case). Records framing
 * and control headers in r. */
void tt_mock_req_header(struct tt_mock_req *r, const char *name, const char *value);
void tt_mock_req_free(struct tt_mock_req *r);

/* Routes tx->req and sends the whole response through tx; logs it. */
void tt_mock_dispatch(struct tt_mock_tx *tx);

/* "req_mock..." request id value, unique per process run. */
void tt_mock_reqid(char *out, size_t cap);

void tt_mock_sleep_ms(long ms);

/* Serves one connection whose first bytes (pre, maybe empty; the HTTP/2
 * client preface or part of it) were already read. ssl may be NULL
 * (prior-knowledge h2c). Returns when the connection is over; the caller
 * closes fd and frees ssl. */
void tt_mock_h2_serve(struct tt_mock_server *srv, int fd, SSL *ssl, const char *pre,
		      size_t pre_len);

#endif
