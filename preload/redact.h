/* redact.h - user-defined redaction of captured content.
 *
 * TOKENTAP_REDACT holds one POSIX extended regular expression (use `|` for
 * several); TOKENTAP_REDACT_FILE names a file with one per line (blank
 * lines and lines starting with '#' ignored). Every match in the span's
 * content (input, output, tool_calls) and error text is replaced by
 * "[REDACTED]" before the span is encoded, so nothing matched leaves the
 * process. JSON content is redacted string by string (the JSON stays
 * valid); text that is not JSON is redacted as a whole.
 *
 * Fail closed: a pattern that does not compile turns content capture off
 * for the process, with one log line. */
#ifndef TT_REDACT_H
#define TT_REDACT_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>

#include "span.h"
#include "tt.h"

#define TT_REDACT_MAX 64            /* patterns */
#define TT_REDACT_MARK "[REDACTED]"

struct tt_redact {
    regex_t re[TT_REDACT_MAX];
    size_t n;
};

/* Compile patterns (n <= TT_REDACT_MAX). On failure nothing stays compiled
 * and err (size errn) says which pattern and why: TT_ERR_PARSE. */
int tt_redact_compile(struct tt_redact *r, const char *const *patterns, size_t n,
                      char *err, size_t errn) TT_WUR;

/* Patterns from the environment (see above). TT_OK with r->n == 0 when
 * none is configured; TT_ERR_PARSE / TT_ERR_IO with err filled otherwise. */
int tt_redact_from_env(struct tt_redact *r, char *err, size_t errn) TT_WUR;

void tt_redact_free(struct tt_redact *r);

/* Replace matches in text[0..n). *out is a new NUL-terminated string when
 * something matched, NULL when nothing did. TT_OK or TT_ERR_NOMEM. */
int tt_redact_text(const struct tt_redact *r, const char *text, size_t n,
                   char **out) TT_WUR;

/* Redact a span's content and error fields in place. TT_OK, or
 * TT_ERR_NOMEM, in which case the content fields are dropped (never sent
 * unredacted). */
int tt_redact_span(const struct tt_redact *r, struct tt_span *s) TT_WUR;

/* Redact a whole body (*body, *len bytes, NUL-terminated, malloc'd) for a
 * recording: untouched when nothing matches; else JSON string by string
 * (re-serialised) or, not JSON, as text. TT_OK, TT_ERR_NOMEM, or
 * TT_ERR_PARSE for a body with NUL bytes that matched (drop it). */
int tt_redact_body(const struct tt_redact *r, char **body, size_t *len) TT_WUR;

/* Secrets in URLs, always on (not a user pattern): remove secret query
 * parameters (key=, api_key=, access_token=, X-Goog-Signature=...) from a
 * request target. Writes a NUL-terminated copy into out (cap outn). */
void tt_redact_target(const char *t, size_t n, char *out, size_t outn);

/* Whether one query parameter p[0..len) ("name=value" or "value", raw)
 * carries a secret: its name looks secret (key, token, auth, sig...) or its
 * value looks like an API key (sk-..., AIza...). */
bool tt_redact_secret_param(const char *p, size_t len);

#endif
