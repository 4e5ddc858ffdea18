/*
 * tokentap mock: a local LLM provider for tests, the demo, benchmarks and
 * offline CI. Speaks OpenAI Chat Completions (POST /v1/chat/completions),
 * Anthropic Messages (POST /v1/messages) and Ollama (POST /api/chat,
 * /api/generate, GET /api/tags) over HTTP/1.1 and HTTP/2 (ALPN "h2" on TLS,
 * prior knowledge on plain connections), with TLS by default (self-signed
 * certificate generated at start) or plain HTTP (--plain).
 *
 * Options: --port N (0 = ephemeral), --host ADDR, --cert-out FILE,
 * --cert FILE --key FILE, --plain, --port-file FILE,
 * --usage in=N,out=N,cached=N,cache_write=N,reasoning=N, --quiet,
 * --no-h2 (HTTP/1.1 only).
 * Per-request control headers (x-mock-usage, x-mock-status, x-mock-cut,
 * x-mock-chunks, x-mock-delay-ms, x-mock-stream-error, x-mock-no-usage,
 * x-mock-chunked, x-mock-response-model) are described in tools/mock.c.
 */
#ifndef TT_MOCK_H
#define TT_MOCK_H

#include <stddef.h>

/* The `tokentap mock` subcommand; argv[0] is "mock". Runs until SIGINT or
 * SIGTERM. Returns 0 after a clean shutdown, 1 on a setup failure, 2 on a
 * usage error. Installs SIGINT/SIGTERM handlers and ignores SIGPIPE for the
 * duration of the call (the previous dispositions are restored). */
int tt_mock_main(int argc, char **argv);

#endif

/* --- an embedded server (tokentap replay, run --mock) ----------------------
 * The mock's TLS/HTTP/1.1/HTTP/2 server on 127.0.0.1, an ephemeral port,
 * TLS and plain HTTP on the same port, in background threads of the
 * calling process. Its certificate is self-signed and its own CA; san adds
 * subjectAltName entries ("DNS:api.example.com,IP:10.0.0.1"). dispatch
 * (NULL: the mock's providers) answers each request (mock_int.h). One per
 * process at a time. */
struct tt_mock_tx;
struct tt_mock_embed {
	const char *san;
	void (*dispatch)(struct tt_mock_tx *tx, void *arg);
	void *arg;
	/* out */
	int port;
	unsigned char *ca_der;            /* the certificate, DER */
	size_t ca_der_len;
	char *ca_pem;
	void *impl;
};

int tt_mock_embed_start(struct tt_mock_embed *e);
void tt_mock_embed_stop(struct tt_mock_embed *e);
