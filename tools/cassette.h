/* cassette.h - HAR 1.2 cassettes of LLM exchanges (issue #13).
 *
 * Written by `tokentap record` from the preload's recording lines
 * (preload/record.h); read by `tokentap replay`. One HAR entry per
 * exchange; tokentap's own fields are `_`-prefixed as HAR 1.2 allows:
 *   response._chunks   [{"time": ms after the request was sent, "size":
 *                      bytes}...]: how the body arrived (streams)
 *   request.postData._encoding, response.content.encoding: "base64" for a
 *                      body that is not UTF-8 text
 *   _tokentap          {provider, request_model, response_model, stream,
 *                      input_tokens, output_tokens, cost_usd, cost_known,
 *                      span_id, trace_id, complete, truncated, redacted}
 * Matching (tt_cas_match): method, host, path (secret parameters removed)
 * and the request body as canonical JSON (keys sorted, volatile fields
 * dropped: tt_cas_canon); identical requests are served in recorded order,
 * the last one again once all are used. */
#ifndef TT_CASSETTE_H
#define TT_CASSETTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

struct tt_cas_chunk {
    int64_t t_ns;            /* after the request was sent */
    size_t len;
};

struct tt_cas_entry {
    size_t index;            /* 0-based position in log.entries */
    char *method, *scheme, *host, *path;   /* path: with its query */
    char *req_body;
    size_t req_len;
    char *canon;             /* tt_cas_canon(req_body) */
    int status;
    char *ctype;             /* response Content-Type ("" when none) */
    char *resp_hdrs;         /* other response headers, "Name: value\r\n"... */
    char *body;
    size_t body_len;
    struct tt_cas_chunk *chunks;
    size_t n_chunks;
    int64_t wait_ns;         /* request sent -> response head */
    char *provider, *model;  /* _tokentap, for --only/--except and the summary */
    int64_t in_tokens, out_tokens;
    double cost;
    bool cost_known;
    bool complete;           /* false: the recorded response was cut short */
    bool used;
};

struct tt_cassette {
    struct tt_cas_entry *e;
    size_t n;
};

/* Load and check a HAR file. On error, err names the entry and what is
 * wrong with it ("entry 3 (POST https://...): response.status missing");
 * the cassette is then empty. TT_OK, TT_ERR_IO, TT_ERR_PARSE, TT_ERR_NOMEM. */
int tt_cas_load(const char *path, struct tt_cassette *c, char *err, size_t errn) TT_WUR;
/* The same from HAR text (unit tests). */
int tt_cas_load_text(const char *text, size_t len, struct tt_cassette *c, char *err,
                     size_t errn) TT_WUR;
void tt_cas_free(struct tt_cassette *c);

/* The request body as matching sees it: JSON with sorted keys and without
 * volatile top-level fields (user, metadata, stream_options, request ids,
 * ...), compact; any other body as it is. malloc'd; NULL on OOM. */
char *tt_cas_canon(const char *body, size_t len);

/* The entry for a request, or NULL (a miss). Marks it used. Not
 * thread-safe: the caller serialises. host as in the Host header. */
struct tt_cas_entry *tt_cas_match(struct tt_cassette *c, const char *method,
                                  const char *host, const char *path, const char *body,
                                  size_t len);

/* The nearest recording to a request that missed (same method and path
 * first, then the fewest differing lines), or NULL for an empty cassette;
 * *diff (malloc'd) shows the request bodies' differing lines, "- " for
 * the recording and "+ " for the request, at most max bytes. */
struct tt_cas_entry *tt_cas_nearest(struct tt_cassette *c, const char *method,
                                    const char *host, const char *path, const char *body,
                                    size_t len, char **diff, size_t max);

/* Line diff of two texts (the lines of a minus those of b: "- "/"+ "
 * lines of a longest common subsequence), at most max bytes; *changed is
 * the number of differing lines. malloc'd; NULL on OOM. */
char *tt_cas_diff(const char *a, const char *b, size_t max, size_t *changed);

/* Turn recording lines (every rec-*.jsonl of dir, oldest request first)
 * into a HAR file at out (0600; written whole, then renamed). *n: the
 * entries written. TT_OK or an error with err filled. */
int tt_cas_write_har(const char *dir, const char *out, size_t *n, char *err, size_t errn) TT_WUR;
/* The same from one file of lines (`tokentap cassette`). */
int tt_cas_write_har_from(const char *const *files, size_t nfiles, const char *out,
                          size_t *n, char *err, size_t errn) TT_WUR;

#endif
