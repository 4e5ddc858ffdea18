/* record.h - keep each LLM exchange for a cassette (`tokentap record`,
 * issue #13).
 *
 * With TOKENTAP_RECORD=DIR in the environment, every traced exchange is
 * also appended, when it ends, as one JSON line to DIR/rec-<pid>.jsonl
 * (0600, O_APPEND, one write per line): the request (method, scheme,
 * host, path without secret parameters, body), the response (status,
 * headers without framing or secret-looking ones, the body as the client
 * got it after transfer and content decoding) and the times: request sent,
 * response head, and each piece of the body as it arrived. `tokentap
 * record` turns the lines into a HAR 1.2 file. No request header is kept,
 * so no key; TOKENTAP_REDACT applies to both bodies as to spans.
 *
 * Line keys: v, pid, start, sent, head, end (epoch ns), method, scheme,
 * host, path, http_version, req_body | req_body_b64, status, resp_headers
 * [[name, value]...], resp_body | resp_body_b64, chunks [[ns after sent,
 * bytes]...], complete, truncated, redacted, span {span_id, trace_id,
 * provider, request_model, response_model, stream, input_tokens,
 * output_tokens, cost_usd, cost_known}. */
#ifndef TT_RECORD_H
#define TT_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

struct tt_rec;

/* NULL when not recording (or out of memory: then one log line). */
struct tt_rec *tt_rec_new(const char *method, size_t method_len,
                          const char *host, size_t host_len,
                          const char *path, bool tls,
                          const char *http_version, int64_t now);
void tt_rec_req_body(struct tt_rec *r, const char *p, size_t n);
void tt_rec_req_end(struct tt_rec *r, int64_t now);
void tt_rec_resp_head(struct tt_rec *r, int status, const struct tt_hdr *h,
                      size_t n, int64_t now);
/* Decoded body bytes, as they arrived at now. */
void tt_rec_resp_body(struct tt_rec *r, const char *p, size_t n, int64_t now);
/* Append the line (s: the finished span) and free r. */
void tt_rec_end(struct tt_rec *r, const struct tt_span *s, bool complete,
                int64_t now);
void tt_rec_free(struct tt_rec *r);

/* Whether a response header is kept in a recording (not framing, not
 * hop-by-hop, no secret-looking name). */
bool tt_rec_keep_header(const char *name, size_t n);

/* JSON string of p[0..n) appended to b (with quotes); false when p is not
 * valid UTF-8 or holds NUL (the caller then writes base64). */
bool tt_rec_json_str(struct tt_buf *b, const char *p, size_t n);
int tt_rec_base64(struct tt_buf *b, const unsigned char *p, size_t n);

#endif
