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

/* The `tokentap mock` subcommand; argv[0] is "mock". Runs until SIGINT or
 * SIGTERM. Returns 0 after a clean shutdown, 1 on a setup failure, 2 on a
 * usage error. Installs SIGINT/SIGTERM handlers and ignores SIGPIPE for the
 * duration of the call (the previous dispositions are restored). */
int tt_mock_main(int argc, char **argv);

#endif
