/* http2.h - HTTP/2 seen from the client side of a connection (issue #3).
 *
 * conn.c hands an h2 connection both byte streams: what the client wrote
 * (the preface "PRI * HTTP/2.0...", SETTINGS, HEADERS + CONTINUATION, DATA,
 * RST_STREAM, ...) and what it read (SETTINGS, HEADERS, DATA, RST_STREAM,
 * GOAWAY, ...), each split anywhere. The module parses frames (padding and
 * priority included), decodes header blocks with libnghttp2's HPACK
 * inflater (one per direction), and drives one exchange (exchange.h) per
 * LLM request stream: :method/:path/:authority pick the API and provider
 * as for HTTP/1.1 (tt_api_match, tt_provider_for_host); other streams are
 * only followed. A stream reset (RST_STREAM either way) or left behind by
 * GOAWAY, or still open when the connection closes, ends its exchange as an
 * error that says so. Bounded: at most TT_H2_MAX_STREAMS open streams
 * tracked, header blocks up to 64 KiB, frames up to 16 MiB (larger:
 * TT_ERR_PARSE and the connection is given up). */
#ifndef TT_HTTP2_H
#define TT_HTTP2_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_H2_MAX_STREAMS 256

struct tt_h2;

/* sni: the TLS server name, used as host when a request has no :authority
 * (may be NULL). Returns NULL on OOM. */
struct tt_h2 *tt_h2_new(const char *sni);

/* Feed bytes of one direction (from_client: bytes the application wrote).
 * now: when they moved (epoch ns). Returns 0, or TT_ERR_PARSE when the
 * bytes are not HTTP/2, TT_ERR_CAP for a header block above 64 KiB,
 * TT_ERR_NOMEM / TT_ERR_UNSUPPORTED when HPACK decoding is impossible
 * (libnghttp2 missing). On any error the caller gives the connection up
 * (tt_h2_free); later feeds return the same error. */
int tt_h2_feed(struct tt_h2 *h, bool from_client, const char *buf, size_t n,
               int64_t now) __attribute__((warn_unused_result));

/* True once any stream on this connection was an LLM call (so far). */
bool tt_h2_has_llm(const struct tt_h2 *h);
/* True when the first request stream was seen and was not LLM traffic on
 * a non-LLM host: the caller may ignore the connection from then on. */
bool tt_h2_not_llm(const struct tt_h2 *h);

/* The connection ended: every stream still open ends with an error
 * (`why`), then everything is freed. NULL-safe. */
void tt_h2_free(struct tt_h2 *h, const char *why, int64_t now);

#endif
