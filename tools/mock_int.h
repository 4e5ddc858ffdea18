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

#define TT_MOCK_BODY_CAP (64L * 1024 * 1024) /* above tokentap's caps: bodies of 40 MB are tested */
#define TT_MOCK_IDLE_MS (120 * 1000)      /* idle connections are closed */
#define TT_MOCK_POLL_MS 250               /* how quickly threads notice shutdown */

struct tt_mock_usage {
	long in, out, cached, cache_write, reasoning;
	/* modality subsets of in / out (OpenAI *_tokens_details) */
	long audio_in, audio_out, image_in, image_out;
};

struct tt_mock_tx;

struct tt_mock_server {
	SSL_CTX *ctx;                     /* NULL with --plain */
	/* Embedded servers (tokentap replay, run --mock; mock.h): dispatch
	 * answers instead of the mock's providers; sniff serves TLS and plain
	 * connections on one port (a TLS ClientHello starts with 0x16). */
	void (*dispatch)(struct tt_mock_tx *tx, void *arg);
	void *dispatch_arg;
	int sniff;
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
	long status, cut, chunks, delay_ms, think_ms, stream_error, no_usage, force_chunked;
	char usage_hdr[256];              /* x-mock-usage, applied over --usage */
	char resp_model[256];
	char service_tier[32];            /* x-mock-service-tier; "" = the provider's default */
	const char *bad_header;           /* first control header we could not parse */
	char *body;                       /* owned; freed by tt_mock_req_free */
	size_t body_len;
	char host[256];                   /* Host or :authority */
	int tls;                          /* the request came over TLS */
	char *hdrs;                       /* owned: every header, "name: value\r\n" */
	size_t hdrs_len;
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
	/* Bytes exactly as given, no framing (mock_bad.c writes its own heads
	 * and broken bodies). HTTP/1.1 only: NULL on HTTP/2. */
	int (*raw)(struct tt_mock_tx *tx, const char *p, size_t n);
};

struct tt_mock_tx {
	const struct tt_mock_tx_ops *ops;
	struct tt_mock_server *srv;
	struct tt_mock_req *req;
	const char *proto;                /* for the log: "" or " h2" */
	int cut_done;                     /* the response was broken off */
	const char *extra_hdrs;           /* more response headers, "name: value\r\n"... */
};

extern atomic_int tt_mock_stop;

/* One header of a request (name as received, any case). Records framing
 * and control headers in r. */
void tt_mock_req_header(struct tt_mock_req *r, const char *name, const char *value);
void tt_mock_req_free(struct tt_mock_req *r);

/* Routes tx->req and sends the whole response through tx; logs it.
 * An embedded server's own dispatch goes first (tt_mock_server). */
void tt_mock_dispatch(struct tt_mock_tx *tx);
/* The mock's own providers, whatever the server's dispatch. */
void tt_mock_dispatch_builtin(struct tt_mock_tx *tx);

/* "req_mock..." request id value, unique per process run. */
void tt_mock_reqid(char *out, size_t cap);

void tt_mock_sleep_ms(long ms);

/* Serves one connection whose first bytes (pre, maybe empty; the HTTP/2
 * client preface or part of it) were already read. ssl may be NULL
 * (prior-knowledge h2c). Returns when the connection is over; the caller
 * closes fd and frees ssl. */
void tt_mock_h2_serve(struct tt_mock_server *srv, int fd, SSL *ssl, const char *pre,
		      size_t pre_len);

/* --- providers -------------------------------------------------------------
 * A provider of the mock is a struct tt_mock_provider: callbacks that render
 * its error bodies, whole responses and streams. The OpenAI, Anthropic and
 * Ollama rows live in mock.c; others live in tools/mock_<provider>.c as a
 * table `const struct tt_mock_provider tt_mock_<provider>_routes[]` ended by
 * a row whose name is NULL (mock.c lists the tables it knows, weakly). */

#include <jansson.h>

struct tt_mock_provider;

struct tt_mock_err {
	int status;
	const char *reason, *message, *oa_type, *oa_code, *an_type;
};

/* Everything one model call needs to render a response. */
struct tt_mock_call {
	const struct tt_mock_provider *prov;
	const struct tt_mock_req *req;
	const json_t *body;               /* borrowed: the request's JSON (tt_mock_body_json) */
	struct tt_mock_usage u;
	const char *model;                /* borrowed from the request JSON or req */
	int include_usage;
	long chunks;
	const char *tool_name;            /* non-NULL when the request has tools */
	json_t *tool_input;               /* owned: sample arguments object */
	char *tool_args;                  /* owned: tool_input serialised */
	char id[64], tool_id[64];
	char model_buf[256];              /* model_of writes a path-borne model here */
	json_int_t created;
};

/* A streaming response in progress: counts events for x-mock-cut. */
struct tt_mock_stream {
	struct tt_mock_tx *tx;
	const struct tt_mock_req *req;
	long sent;
};

struct tt_mock_provider {
	const char *name, *path, *reqid_header, *id_prefix, *tool_id_prefix;
	const char *tool_fn_key;          /* OpenAI nests the tool under "function" */
	const char *tool_schema_key;      /* where the tool's JSON schema lives; NULL: no tools */
	const char *stream_ctype;         /* Content-Type of a streamed response */
	int stream_default;               /* streams when the request has no "stream" (Ollama) */
	json_t *(*error_body)(const struct tt_mock_err *e, const char *msg);
	json_t *(*response)(const struct tt_mock_call *k);
	int (*stream)(struct tt_mock_stream *s, const struct tt_mock_call *k);
	/* Optional, for APIs that do not look like OpenAI's (all may be NULL):
	 * match: the route by pattern instead of the exact `path`;
	 * model_of: the model when it is not the body's "model" (Gemini and
	 *   Bedrock carry it in the path), written into buf or returned;
	 * wants_stream: whether to stream when the body's "stream" does not
	 *   say (streamGenerateContent, converse-stream);
	 * tools_of: fill k->tool_name/tool_input/tool_args from the request's
	 *   own tool shape (functionDeclarations, toolConfig) or leave them
	 *   NULL; returns 0 or -1. */
	int (*match)(const char *path);
	const char *(*model_of)(const struct tt_mock_req *r, json_t *body, char *buf, size_t n);
	int (*wants_stream)(const struct tt_mock_req *r, json_t *body);
	int (*tools_of)(struct tt_mock_call *k, json_t *body);
	/* serve: answers the call itself, on the wire (the bad-input routes of
	 * mock_bad.c), instead of response/stream; returns the status for the
	 * log or -1. */
	int (*serve)(struct tt_mock_tx *tx, const struct tt_mock_call *k);
};

/* The provider whose route (or, failing that, error shape) fits r. */
const struct tt_mock_provider *tt_mock_route(const struct tt_mock_req *r);
/* A whole response (gzip'd when the client accepts it), and an error in
 * p's shape with msg (NULL: the status's default message). */
int tt_mock_send_body(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int status,
		      const char *ctype, const char *body, size_t len);
int tt_mock_send_error(struct tt_mock_tx *tx, const struct tt_mock_provider *p, int status,
		       const char *msg);

/* Helpers for provider callbacks (mock.c). */
const struct tt_mock_err *tt_mock_err_for(int status);
const char *tt_mock_piece(long i);            /* the i-th word of the reply */
char *tt_mock_text(long chunks);              /* the whole reply; free() it */
long tt_mock_delta_count(const struct tt_mock_call *k);
void tt_mock_frag(const char *args, long i, long n, size_t *start, size_t *len);
unsigned long tt_mock_next_seq(void);
json_t *tt_mock_body_json(const char *body, size_t len);   /* the request as routes read it */
json_t *tt_mock_sample(json_t *schema);       /* sample arguments for a schema */
/* Stream events; each leaves at once and counts for x-mock-cut. Return 0,
 * or -1 when the stream was cut or the client went away (stop then). */
int tt_mock_emit_raw(struct tt_mock_stream *s, const char *buf, size_t n);
int tt_mock_emit(struct tt_mock_stream *s, const char *event, const char *data);
int tt_mock_emit_json(struct tt_mock_stream *s, const char *event, json_t *j);  /* takes j */
int tt_mock_emit_line(struct tt_mock_stream *s, json_t *j);                    /* NDJSON; takes j */

/* --- WebSocket (tools/mock_ws.c) ------------------------------------------
 * After an HTTP/1.1 request asking "Upgrade: websocket", the connection is
 * handed to mock_ws.c with this I/O: read returns buffered bytes first (what
 * followed the request head), then what the socket gives (> 0), or -1 at
 * EOF, error, idle timeout or shutdown; write sends everything or -1. */
struct tt_mock_ws_io {
	void *conn;
	long (*read)(void *conn, char *buf, size_t cap);
	int (*write)(void *conn, const char *p, size_t n);
};
int tt_mock_ws_wanted(const struct tt_mock_req *r) __attribute__((weak));
/* Serves the upgrade request and the socket after it; returns when it is
 * over (the caller closes the connection). */
void tt_mock_ws_serve(struct tt_mock_server *srv, const struct tt_mock_req *r,
		      const struct tt_mock_ws_io *io) __attribute__((weak));

#endif
