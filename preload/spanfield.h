/* spanfield.h - the span contract as a table.
 *
 * One row per exported field of struct tt_span (span.h), in the column order
 * of the SQLite schema (store.h). The msgpack encoder (wire.c), the frame
 * validator (exporter/frame.c), the store binder (exporter/store.c) and the
 * JSON export (exporter/spanjson.c) all walk this table, so a field is added
 * in one place and the four representations cannot drift apart. */
#ifndef TT_SPANFIELD_H
#define TT_SPANFIELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"

enum tt_sf_type {
    TT_SF_ID,      /* char[] of hex digits; "" = absent (parent_id only) */
    TT_SF_STR,     /* char *, NULL = absent */
    TT_SF_JSON,    /* char * holding JSON text, NULL = absent */
    TT_SF_I64,     /* int64_t, always present */
    TT_SF_OPT_I64, /* int64_t, present when the bool at has_off is true */
    TT_SF_F64,     /* double, always present */
    TT_SF_OPT_F64, /* double, present when the bool at has_off is true */
    TT_SF_MS,      /* double, absent when < 0 (ttft_ms) */
    TT_SF_BOOL,
};

enum tt_sf_json { TT_SF_JSON_ANY, TT_SF_JSON_ARRAY, TT_SF_JSON_OBJECT };

#define TT_SF_REQUIRED 1u  /* a span without it is invalid */
#define TT_SF_NONNEG 2u    /* numbers: negative values are invalid */
/* JSON: captured prompt/completion text. The preload copies it raw (not
 * re-validated), so the daemon keeps text that is not JSON as a string and
 * drops text that is not UTF-8, rather than losing the span (frame.h). */
#define TT_SF_CONTENT 4u

struct tt_spanfield {
    const char *name;      /* JSONL key == column name == msgpack key */
    enum tt_sf_type type;
    unsigned flags;
    size_t off;            /* offset of the value in struct tt_span */
    size_t has_off;        /* OPT_*: offset of the presence bool */
    size_t idlen;          /* ID: number of hex digits */
    enum tt_sf_json json;  /* JSON: expected top-level type */
};

#define TT_SPANFIELDS_MAX 64   /* decoders keep a 64-bit "seen" mask */

extern const struct tt_spanfield tt_spanfields[];
extern const size_t tt_spanfields_n;

/* Typed access to a field of a span (no checks: the table is trusted). */
static inline char **tt_sf_strp(struct tt_span *s, const struct tt_spanfield *f)
{
    return (char **)(void *)((char *)s + f->off);
}
static inline const char *tt_sf_str(const struct tt_span *s, const struct tt_spanfield *f)
{
    return *(char *const *)(const void *)((const char *)s + f->off);
}
static inline char *tt_sf_id(struct tt_span *s, const struct tt_spanfield *f)
{
    return (char *)s + f->off;
}
static inline const char *tt_sf_cid(const struct tt_span *s, const struct tt_spanfield *f)
{
    return (const char *)s + f->off;
}
static inline int64_t *tt_sf_i64p(struct tt_span *s, const struct tt_spanfield *f)
{
    return (int64_t *)(void *)((char *)s + f->off);
}
static inline int64_t tt_sf_i64(const struct tt_span *s, const struct tt_spanfield *f)
{
    return *(const int64_t *)(const void *)((const char *)s + f->off);
}
static inline double *tt_sf_f64p(struct tt_span *s, const struct tt_spanfield *f)
{
    return (double *)(void *)((char *)s + f->off);
}
static inline double tt_sf_f64(const struct tt_span *s, const struct tt_spanfield *f)
{
    return *(const double *)(const void *)((const char *)s + f->off);
}
static inline bool *tt_sf_boolp(struct tt_span *s, size_t off)
{
    return (bool *)((char *)s + off);
}
static inline bool tt_sf_bool(const struct tt_span *s, size_t off)
{
    return *(const bool *)((const char *)s + off);
}

/* Is the field present (i.e. not exported as null)? */
bool tt_sf_present(const struct tt_span *s, const struct tt_spanfield *f);

/* The row whose name is (p, n), or NULL. */
const struct tt_spanfield *tt_sf_find(const char *p, size_t n);

/* What the preload does to a finished span before delivery, so that what
 * came from the wire never costs the whole span at the daemon:
 * tt_span_repair_str (span.h) on every plain string field, "\u0000" made
 * "\ufffd" in the JSON fields the preload builds (finish_reasons, tags),
 * and optional request parameters that are negative or not finite (a
 * client's "max_tokens": -1) made absent. */
void tt_sf_repair(struct tt_span *s);

#endif
