/* json.h - small, type-checked helpers over jansson for provider parsers.
 *
 * Everything here treats JSON as untrusted: a missing key, a wrong type or
 * an out-of-range number is reported, never guessed. All getters accept
 * NULL (meaning "absent") anywhere.
 *
 * In the preload jansson is not linked: the functions used here reach it
 * through preload/dlshim.c. Use only functions jansson really exports
 * (the static inline ones in jansson.h, like json_decref, are fine as long
 * as what they call is exported). */
#ifndef TT_JSON_H
#define TT_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "tt.h"

/* Largest token count we believe. Bigger (or negative) counts are invalid,
 * which also keeps sums of a few counts far from int64 overflow. */
#define TT_JSON_COUNT_MAX ((int64_t)1000000000000)   /* 1e12 */

/* Parse one complete JSON object or array (trailing whitespace allowed).
 * Integers too big for int64 are retried as reals, so one absurd number
 * does not cost the whole body. On success *out is a new reference (free
 * with json_decref). Returns 0 or TT_ERR_PARSE (*out = NULL). */
int tt_json_parse(const char *buf, size_t len, json_t **out) TT_WUR;

/* For a JSON object that may be cut short (a request body truncated at the
 * capture cap) or broken later on: an object holding every top-level member
 * that was complete and valid before the first problem. Returns 0 when the
 * whole text parsed, TT_ERR_INCOMPLETE when only a prefix did (*out is
 * still a new reference, maybe empty), TT_ERR_PARSE when the text is not an
 * object at all (*out = NULL), TT_ERR_NOMEM. */
int tt_json_parse_prefix(const char *buf, size_t len, json_t **out) TT_WUR;

/* The text of one JSON value inside a caller's buffer (borrowed: valid as
 * long as the buffer is). ptr NULL: absent. */
struct tt_json_slice {
    const char *ptr;
    size_t len;
};

/* Find top-level members of a JSON object without building it (no
 * allocation, no jansson): for each keys[k], out[k] is the raw text of its
 * value, as sent (whitespace and escapes kept), or {NULL, 0}. A key that
 * occurs twice gives its last value, as jansson would.
 *
 * Object keys are compared after unescaping ("mod\u0065l" is "model");
 * keys[] are plain UTF-8 without NUL. Values are delimited, not validated:
 * strings end at the first unescaped quote and containers at the bracket
 * that closes them (nested content is not checked), while literals and
 * numbers are checked against the JSON grammar, so a member like "x":tru
 * stops the scan.
 *
 * Returns 0 when the object is complete (only whitespace after it),
 * TT_ERR_INCOMPLETE when the text ends, or breaks, before that: out then
 * holds every member that was complete before the first problem (a body
 * truncated at the capture cap), like tt_json_parse_prefix.
 * TT_ERR_PARSE when the text is not an object at all (out all absent). */
int tt_json_members(const char *buf, size_t len, const char *const *keys,
                    size_t nkeys, struct tt_json_slice *out) TT_WUR;

/* Parse one member's value (any JSON type) found by tt_json_members. An
 * absent slice gives *out NULL and 0; a present one that is not valid JSON
 * gives *out NULL and TT_ERR_PARSE. *out is a new reference. Meant for the
 * small scalar members: parsing only them is what makes tt_json_members
 * cheap. */
int tt_json_slice_parse(const struct tt_json_slice *s, json_t **out) TT_WUR;

/* Replace *field (a span's JSON-valued field, freed) with a copy of the
 * slice's raw text. The text is not validated (see tt_json_members; the
 * daemon keeps text that is not JSON as a string, exporter/frame.h).
 * TT_ERR_PARSE, field untouched, when the slice is absent or holds a NUL
 * byte (a C string would silently cut it); TT_ERR_NOMEM. */
int tt_json_set_raw(char **field, const struct tt_json_slice *s) TT_WUR;

/* --- without a tree ---------------------------------------------------
 * For the hot path: validate once, then read members and elements as
 * slices of the caller's text (tt_json_members, tt_json_next), compare and
 * copy strings without building anything. */

/* Whether buf[0..len) is one JSON value (any type, whitespace around) that
 * tt_json_parse's jansson would accept: RFC 8259 grammar, valid UTF-8,
 * valid escapes (\u0000 allowed), nesting up to 2048. No allocation.
 * TT_OK or TT_ERR_PARSE. */
int tt_json_valid(const char *buf, size_t len) TT_WUR;

/* tt_json_valid and tt_json_members in one pass over the text: TT_OK when
 * buf[0..len) is valid JSON (as tt_json_valid says) with an object at its
 * root, out[] then as tt_json_members gives it (a later duplicate key
 * wins); TT_ERR_PARSE otherwise, out[] then not to be used. */
int tt_json_valid_members(const char *buf, size_t len, const char *const *keys,
                          size_t nkeys, struct tt_json_slice *out) TT_WUR;

enum tt_json_kind {
    TT_JSON_ABSENT, TT_JSON_OBJECT, TT_JSON_ARRAY, TT_JSON_STRING,
    TT_JSON_NUMBER, TT_JSON_TRUE, TT_JSON_FALSE, TT_JSON_NULL,
};

/* The kind of a slice's value, from its first character. */
enum tt_json_kind tt_json_kind_of(const struct tt_json_slice *s);

/* The next element of array arr (validated text): *pos is 0 before the
 * first call and is advanced. false at the end, or when arr is not an
 * array. */
bool tt_json_next(const struct tt_json_slice *arr, size_t *pos,
                  struct tt_json_slice *out);

/* A slice's integer, when it is one jansson reads as an integer that fits
 * (an optional '-', 1 to 18 digits): TT_OK. TT_ERR_UNSUPPORTED for any
 * other number (a fraction, an exponent, more digits: read those with
 * jansson); TT_ERR_PARSE for what is not a number, absent included. */
int tt_json_slice_int(const struct tt_json_slice *v, int64_t *out) TT_WUR;

/* Is s a string whose unescaped text is lit? */
bool tt_json_str_is(const struct tt_json_slice *s, const char *lit);

/* The unescaped text of string s (validated), in pieces, to cb. Nothing
 * for a slice that is not a string. */
void tt_json_str_walk(const struct tt_json_slice *s,
                      void (*cb)(void *ud, const char *p, size_t n), void *ud);

/* Append the unescaped text of string s to b within *budget bytes, which
 * it counts down: what does not fit is dropped and *truncated set (a
 * streamed answer's text, kept up to its parser's budget). A slice that is
 * not a string appends nothing. TT_OK (b's own cap is b's business, as
 * for tt_buf_append), or TT_ERR_NOMEM. */
int tt_json_str_append_budget(const struct tt_json_slice *s, struct tt_buf *b,
                              size_t *budget, bool *truncated) TT_WUR;

/* The unescaped text of string s, malloc'd and NUL-terminated (a NUL
 * inside ends it early, as jansson's json_string_value would). NULL when
 * s is not a string or on OOM. */
char *tt_json_str_dup(const struct tt_json_slice *s);

/* Replace *field (heap string, freed) with the unescaped text of string
 * s, as tt_json_set_str does for a tree's value: nothing changes when s is
 * absent, not a string, empty (or starts with \u0000) or on OOM. */
void tt_json_set_slice_str(char **field, const struct tt_json_slice *s);

/* Append value s as jansson's compact dump would write it: the raw text
 * when that is the same (strings without \u or \/, literals, plain
 * integers), else parsed and dumped. TT_OK, TT_ERR_PARSE, TT_ERR_NOMEM,
 * TT_ERR_CAP (b's cap). */
int tt_json_append_compact(struct tt_buf *b, const struct tt_json_slice *s) TT_WUR;

/* Turn the raw UTF-8 text in b into the JSON string literal of it, as
 * jansson's compact dump writes it (quotes; \" \\ \b \f \n \r \t;
 * other control bytes \u00XX), in place: the buffer grows (once) to the
 * escaped size, no second copy of a large text is made. TT_OK;
 * TT_ERR_PARSE (b untouched) when the text is not valid UTF-8, which
 * jansson refuses too; TT_ERR_NOMEM (b untouched). */
int tt_json_quote_inplace(struct tt_buf *b) TT_WUR;

/* Walk nested object keys: tt_json_get(root, "usage", "prompt_tokens",
 * NULL). NULL when any step is absent or not an object. Borrowed. */
json_t *tt_json_get(const json_t *v, ...) __attribute__((sentinel));

/* The same with the keys in a NULL-terminated array (for tables). */
json_t *tt_json_getv(const json_t *v, const char *const *keys);

/* The string's bytes and length, or NULL when v is not a string. Borrowed;
 * may contain NUL bytes (JSON "\u0000"), so use *len. len may be NULL. */
const char *tt_json_str(const json_t *v, size_t *len);

/* Replace *field (heap string, freed) with a copy of string v (up to a
 * NUL inside). Returns TT_ERR_PARSE, leaving *field alone, when v is
 * absent, not a string, empty or starts with a NUL: an empty
 * id/model/reason is never better than the one we have.
 * Not warn_unused_result: most fields are optional and a failure leaves
 * the previous value, which is what callers want. */
int tt_json_set_str(char **field, const json_t *v);

/* An integer (or a real with an integral value that fits). 0 or
 * TT_ERR_PARSE. */
int tt_json_int64(const json_t *v, int64_t *out) TT_WUR;

/* Any JSON number. 0 or TT_ERR_PARSE. */
int tt_json_double(const json_t *v, double *out) TT_WUR;

/* A token count: tt_json_int64 in [0, TT_JSON_COUNT_MAX]. Absent, null,
 * wrong type or out of range: TT_ERR_PARSE. */
int tt_json_count(const json_t *v, int64_t *out) TT_WUR;

/* Same, but absent or null means 0 (optional detail fields). */
int tt_json_count_opt(const json_t *v, int64_t *out) TT_WUR;

/* Token counts read by table, for usage objects. Each row names a slot
 * of the caller's arrays and a key path; for a slot the first row whose
 * value is present (not absent, not null) wins, so later rows are
 * fallbacks (other providers' names for the same count). */
struct tt_json_count_field {
    unsigned slot;
    bool required;            /* the slot must end up present */
    const char *path[4];      /* nested keys, NULL-terminated */
};

/* Fills counts[slot] and present[slot] (both nslots long, zeroed first).
 * TT_ERR_PARSE when obj is not an object, when a present value is not a
 * valid count (tt_json_count) or when a required slot is missing. */
int tt_json_counts(const json_t *obj, const struct tt_json_count_field *f,
                   size_t nf, int64_t *counts, bool *present,
                   size_t nslots) TT_WUR;

/* tt_json_counts over text (a slice of validated JSON), no tree: the
 * same slots, the same TT_OK / TT_ERR_PARSE. TT_ERR_UNSUPPORTED, nothing
 * decided, for a value only the tree path judges the same way (a number
 * with a fraction or exponent, or above 18 digits): the caller parses obj
 * with jansson then. */
int tt_json_counts_slice(const struct tt_json_slice *obj,
                         const struct tt_json_count_field *f, size_t nf,
                         int64_t *counts, bool *present, size_t nslots) TT_WUR;

/* Compact JSON text of any value (a string dumps with its quotes). *out is
 * malloc'd; the caller frees it. 0, TT_ERR_PARSE (v NULL) or
 * TT_ERR_NOMEM. */
int tt_json_dump(const json_t *v, char **out) TT_WUR;

/* Replace a span's JSON-valued field with the text of v. Takes ownership
 * of v; v NULL leaves the field as it is. */
int tt_json_set_field(char **field, json_t *v) TT_WUR;

/* "type: message" for a provider error object such as
 * {"type":"overloaded_error","message":"Overloaded"} ("code" stands in for
 * a missing type; a bare string is used as the message). *out is malloc'd.
 * 0, TT_ERR_PARSE (nothing usable) or TT_ERR_NOMEM. */
int tt_json_error_text(const json_t *err, char **out) TT_WUR;

#endif
