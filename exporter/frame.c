/* frame.c - decode and validate frame payloads (see frame.h).
 *
 * Two passes: tt_wire_skip proves the payload is one complete msgpack object
 * of bounded size, then libmsgpackc unpacks it into a zone whose size is
 * therefore bounded by the payload; each span map is converted field by field
 * through the contract table (spanfield.h) and checked (tt_frame_check_span). */
#include "frame.h"
#include "scan.h"

#include <jansson.h>
#include <math.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "spanfield.h"
#include "wire.h"

static const char *const frame_kinds[] = { "llm", "tool", "process", "http" };
static const char *const frame_statuses[] = { "ok", "error" };

static const struct {
    const char *name;
    enum tt_frame_type type;
} frame_types[] = {
    { "spans", TT_FRAME_SPANS },
    { "sync", TT_FRAME_SYNC },
    { "hello", TT_FRAME_HELLO },
    { "stop", TT_FRAME_STOP },
    { "count", TT_FRAME_COUNT },
};

__attribute__((format(printf, 3, 4)))
static void seterr(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;

    if (!err || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
}

bool tt_frame_utf8_ok(const char *p, size_t n)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;

    while (i < n) {
        /* Mostly ASCII text: to the next byte >= 0x80 or 0. */
        i = tt_scan(p, i, n, TT_SCAN_HIGH | TT_SCAN_NUL);
        if (i >= n)
            break;
        if (s[i] == 0)
            return false;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = tt_utf8_seq(s + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static bool in_set(const char *v, const char *const *set, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v, set[i]) == 0)
            return true;
    return false;
}

static bool id_ok(const char *id, size_t len)
{
    bool nonzero = false;

    if (strlen(id) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        nonzero |= c != '0';
    }
    return nonzero;     /* W3C: the all-zero id is invalid */
}

/* Content is the client's text: "\u0000" in a prompt is valid JSON to the
 * preload's parser, so it is here too. */
static size_t json_flags(const struct tt_spanfield *f)
{
    return JSON_DECODE_ANY | ((f->flags & TT_SF_CONTENT) ? JSON_ALLOW_NUL : 0);
}

/* ---- a fast JSON acceptor ------------------------------------------------
 *
 * Every span carries three or four JSON texts (input, output, finish_reasons,
 * tool_calls); building a jansson tree for each, only to free it, was half
 * of the daemon's CPU time. js_scan walks the text once without allocating
 * and answers JS_OK only when it is sure that json_loadb would accept the
 * text with the same flags. Everything else (JS_NO) goes to jansson, which
 * stays the judge of what is refused and writes the error message: the fast
 * path can only ever say yes to what jansson says yes to, and jansson alone
 * says no. The cases it does not try to decide go to jansson too: integers
 * that may not fit int64_t, reals that may overflow a double (jansson
 * refuses both), nesting deeper than JS_MAX_DEPTH.
 *
 * It checks the UTF-8 of every byte >= 0x80 itself (only strings may hold
 * them), and a NUL byte is never JSON: a text it accepts is valid UTF-8
 * without NUL bytes, and needs no tt_frame_utf8_ok pass of its own. */

#define JS_MAX_DEPTH 64

enum { JS_NO = 0, JS_OK = 1 };

struct js_info {
    char top;           /* 'o' object, 'a' array, 's' string, 'x' other */
    bool all_strings;   /* top is an array whose elements are all strings */
};

static const char *js_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static int js_hex4(const char *p, const char *e, unsigned *out)
{
    unsigned v = 0;

    if (e - p < 4)
        return JS_NO;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return JS_NO;
    }
    *out = v;
    return JS_OK;
}

/* *pp is just past the opening quote; on JS_OK, just past the closing one.
 * jansson refuses control characters, unknown escapes, unpaired surrogates,
 * and \u0000 in keys always, in values unless JSON_ALLOW_NUL. */
static int js_string(const char **pp, const char *e, bool nul_ok)
{
    const char *p = *pp;

    while (p < e) {
        /* Plain text (a span's content is mostly that): to the next '"',
         * '\\', control character or byte >= 0x80 (its UTF-8 checked). */
        p += tt_scan(p, 0, (size_t)(e - p), TT_SCAN_QUOTE | TT_SCAN_CTRL | TT_SCAN_HIGH);
        if (p >= e)
            break;
        if ((unsigned char)*p >= 0x80) {
            size_t k = tt_utf8_seq((const unsigned char *)p, (size_t)(e - p));
            if (k == 0)
                return JS_NO;
            p += k;
            continue;
        }
        unsigned char c = (unsigned char)*p++;
        unsigned v, w;

        if (c == '"') {
            *pp = p;
            return JS_OK;
        }
        if (c < 0x20)
            return JS_NO;
        if (c != '\\')
            continue;
        if (p >= e)
            return JS_NO;
        switch (*p++) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            break;
        case 'u':
            if (js_hex4(p, e, &v) != JS_OK)
                return JS_NO;
            p += 4;
            if (v >= 0xd800 && v <= 0xdbff) {
                if (e - p < 6 || p[0] != '\\' || p[1] != 'u' || js_hex4(p + 2, e, &w) != JS_OK ||
                    w < 0xdc00 || w > 0xdfff)
                    return JS_NO;
                p += 6;
            } else if ((v >= 0xdc00 && v <= 0xdfff) || (v == 0 && !nul_ok)) {
                return JS_NO;
            }
            break;
        default:
            return JS_NO;
        }
    }
    return JS_NO;   /* unterminated */
}

static bool js_digit(const char *p, const char *e)
{
    return p < e && *p >= '0' && *p <= '9';
}

static int js_number(const char **pp, const char *e)
{
    const char *p = *pp, *d0, *x0;
    bool real = false;

    if (*p == '-')
        p++;
    d0 = p;
    if (!js_digit(p, e))
        return JS_NO;
    if (*p == '0') {
        if (js_digit(++p, e))
            return JS_NO;   /* leading zero */
    } else {
        while (js_digit(p, e))
            p++;
    }
    size_t int_digits = (size_t)(p - d0);
    if (p < e && *p == '.') {
        if (!js_digit(++p, e))
            return JS_NO;
        while (js_digit(p, e))
            p++;
        real = true;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        x0 = p;
        if (!js_digit(p, e))
            return JS_NO;
        while (js_digit(p, e))
            p++;
        if (p - x0 > 2)
            return JS_NO;   /* |exponent| >= 100: may overflow, let jansson say */
        real = true;
    }
    /* < 10^200 * 10^99 cannot overflow a double; 18 digits always fit int64_t. */
    if (real ? int_digits > 200 : int_digits > 18)
        return JS_NO;
    *pp = p;
    return JS_OK;
}

static bool js_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* jansson reads a whole run of letters as one token. */
static int js_literal(const char **pp, const char *e)
{
    static const char *const lits[] = { "true", "false", "null" };
    const char *p = *pp;

    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(lits[i]);
        if ((size_t)(e - p) >= n && memcmp(p, lits[i], n) == 0 &&
            ((size_t)(e - p) == n || !js_alpha(p[n]))) {
            *pp = p + n;
            return JS_OK;
        }
    }
    return JS_NO;
}

static int js_scan(const char *s, size_t n, bool nul_ok, struct js_info *info)
{
    const char *p = s, *e = s + n;
    char stack[JS_MAX_DEPTH];   /* 'o' or 'a' per open container */
    int depth = 0;

    info->top = 'x';
    info->all_strings = true;
value:
    p = js_ws(p, e);
    if (p >= e)
        return JS_NO;
    if (depth == 0)
        info->top = *p == '{' ? 'o' : *p == '[' ? 'a' : *p == '"' ? 's' : 'x';
    else if (depth == 1 && stack[0] == 'a' && *p != '"')
        info->all_strings = false;
    switch (*p) {
    case '{':
    case '[':
        if (depth == JS_MAX_DEPTH)
            return JS_NO;
        stack[depth++] = *p == '{' ? 'o' : 'a';
        p = js_ws(p + 1, e);
        if (p < e && *p == (stack[depth - 1] == 'o' ? '}' : ']')) {
            p++;
            depth--;
            goto after;
        }
        if (stack[depth - 1] == 'o')
            goto key;
        goto value;
    case '"':
        p++;
        if (js_string(&p, e, nul_ok) != JS_OK)
            return JS_NO;
        goto after;
    case 't':
    case 'f':
    case 'n':
        if (js_literal(&p, e) != JS_OK)
            return JS_NO;
        goto after;
    default:
        if (*p != '-' && !js_digit(p, e))
            return JS_NO;
        if (js_number(&p, e) != JS_OK)
            return JS_NO;
        goto after;
    }
key:
    p = js_ws(p, e);
    if (p >= e || *p != '"')
        return JS_NO;
    p++;
    if (js_string(&p, e, false) != JS_OK)
        return JS_NO;
    p = js_ws(p, e);
    if (p >= e || *p != ':')
        return JS_NO;
    p++;
    goto value;
after:
    p = js_ws(p, e);
    if (depth == 0)
        return p == e ? JS_OK : JS_NO;
    if (p >= e)
        return JS_NO;
    if (*p == ',') {
        p++;
        if (stack[depth - 1] == 'o')
            goto key;
        goto value;
    }
    if (*p == (stack[depth - 1] == 'o' ? '}' : ']')) {
        p++;
        depth--;
        goto after;
    }
    return JS_NO;
}

/* What check_json asks of a text js_scan accepted. */
static bool js_shape_ok(const struct tt_spanfield *f, const struct js_info *ji)
{
    if ((f->flags & TT_SF_CONTENT) && ji->top == 's')
        return true;
    if ((f->json == TT_SF_JSON_OBJECT && ji->top != 'o') ||
        (f->json == TT_SF_JSON_ARRAY && ji->top != 'a'))
        return false;
    return strcmp(f->name, "finish_reasons") != 0 || ji->all_strings;
}

/* The common case, decided without jansson: valid, and of the right shape. */
static bool check_json_fast(const struct tt_spanfield *f, const char *text)
{
    struct js_info ji;

    return js_scan(text, strlen(text), f->flags & TT_SF_CONTENT, &ji) == JS_OK &&
           js_shape_ok(f, &ji);
}

static int check_json(const struct tt_spanfield *f, const char *text, char *err, size_t n)
{
    if (check_json_fast(f, text))
        return TT_OK;
    /* Refused or undecided: jansson judges, and says why. */
    json_error_t je;
    json_t *j = json_loadb(text, strlen(text), json_flags(f), &je);
    int rc = TT_ERR_PARSE;

    if (!j) {
        seterr(err, n, "%s: not JSON (%s)", f->name, je.text);
        return TT_ERR_PARSE;
    }
    /* A content field may also be a string: text that arrived as invalid
     * JSON, wrapped by decode_content. */
    if ((f->flags & TT_SF_CONTENT) && json_is_string(j)) {
        rc = TT_OK;
        goto out;
    }
    if (f->json == TT_SF_JSON_OBJECT && !json_is_object(j)) {
        seterr(err, n, "%s: not a JSON object", f->name);
        goto out;
    }
    if (f->json == TT_SF_JSON_ARRAY && !json_is_array(j)) {
        seterr(err, n, "%s: not a JSON array", f->name);
        goto out;
    }
    /* finish_reasons is the one array whose element type the contract fixes. */
    if (strcmp(f->name, "finish_reasons") == 0) {
        size_t i;
        json_t *e;
        json_array_foreach(j, i, e) {
            if (!json_is_string(e)) {
                seterr(err, n, "finish_reasons: element %zu is not a string", i);
                goto out;
            }
        }
    }
    rc = TT_OK;
out:
    json_decref(j);
    return rc;
}

/* proven: one bit per field (contract index) whose text decode_content has
 * already found to be valid UTF-8 and acceptable JSON of the right shape;
 * scanning the largest texts of a span twice was a tenth of the daemon. */
static int check_span(const struct tt_span *s, char *err, size_t n, uint64_t proven)
{
    for (size_t i = 0; i < tt_spanfields_n; i++) {
        const struct tt_spanfield *f = &tt_spanfields[i];
        bool present = tt_sf_present(s, f);

        if ((f->flags & TT_SF_REQUIRED) && !present) {
            seterr(err, n, "missing %s", f->name);
            return TT_ERR_PARSE;
        }
        if (!present)
            continue;
        switch (f->type) {
        case TT_SF_ID:
            if (!id_ok(tt_sf_cid(s, f), f->idlen)) {
                seterr(err, n, "%s: want %zu lowercase hex digits, not all zero",
                       f->name, f->idlen);
                return TT_ERR_PARSE;
            }
            break;
        case TT_SF_STR:
        case TT_SF_JSON: {
            const char *v = tt_sf_str(s, f);
            if (i < 64 && (proven & ((uint64_t)1 << i)))
                break;
            size_t len = strlen(v);
            if (f->type == TT_SF_STR && len > TT_FRAME_MAX_STR) {
                seterr(err, n, "%s: longer than %u bytes", f->name, TT_FRAME_MAX_STR);
                return TT_ERR_PARSE;
            }
            /* Accepted by the fast JSON check: valid UTF-8 as well. */
            if (f->type == TT_SF_JSON && check_json_fast(f, v))
                break;
            if (!tt_frame_utf8_ok(v, len)) {
                seterr(err, n, "%s: invalid UTF-8", f->name);
                return TT_ERR_PARSE;
            }
            if (f->type == TT_SF_JSON && check_json(f, v, err, n) != TT_OK)
                return TT_ERR_PARSE;
            break;
        }
        case TT_SF_I64:
        case TT_SF_OPT_I64:
            if ((f->flags & TT_SF_NONNEG) && tt_sf_i64(s, f) < 0) {
                seterr(err, n, "%s: negative", f->name);
                return TT_ERR_PARSE;
            }
            break;
        case TT_SF_F64:
        case TT_SF_OPT_F64:
        case TT_SF_MS: {
            double d = tt_sf_f64(s, f);
            /* JSON and SQLite have no NaN/Inf: refuse rather than store junk. */
            if (!isfinite(d) || ((f->flags & TT_SF_NONNEG) && d < 0)) {
                seterr(err, n, "%s: not a finite%s number", f->name,
                       (f->flags & TT_SF_NONNEG) ? " non-negative" : "");
                return TT_ERR_PARSE;
            }
            break;
        }
        case TT_SF_BOOL:
            break;
        }
    }
    if (!in_set(s->kind, frame_kinds, sizeof(frame_kinds) / sizeof(frame_kinds[0]))) {
        seterr(err, n, "kind: unknown value");
        return TT_ERR_PARSE;
    }
    if (!in_set(s->status, frame_statuses,
                sizeof(frame_statuses) / sizeof(frame_statuses[0]))) {
        seterr(err, n, "status: want ok or error");
        return TT_ERR_PARSE;
    }
    return TT_OK;
}

int tt_frame_check_span(const struct tt_span *s, char *err, size_t n)
{
    return check_span(s, err, n, 0);
}

/* ---- msgpack -> struct tt_span ------------------------------------------ */

static bool mp_str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);

    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

static int mp_int64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (o->via.u64 > INT64_MAX)
            return TT_ERR_PARSE;
        *out = (int64_t)o->via.u64;
        return TT_OK;
    }
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return TT_OK;
    }
    return TT_ERR_PARSE;
}

static int mp_double(const msgpack_object *o, double *out)
{
    int64_t i;

    if (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) {
        *out = o->via.f64;
        return TT_OK;
    }
    /* Some packers write 1.0 as the integer 1; accept integers. */
    if (mp_int64(o, &i) == TT_OK) {
        *out = (double)i;
        return TT_OK;
    }
    return TT_ERR_PARSE;
}

static const char *mp_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "bool";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "str";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "bin";
    case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "?";
}

/* A content field (TT_SF_CONTENT): the preload copies prompt text from the
 * request without validating it, so a malformed body can give text that is
 * not JSON. Losing the whole call for that would be worse than storing the
 * text as a JSON string; text that cannot be a string at all (a NUL byte,
 * invalid UTF-8) is dropped to null. Only an allocation failure fails. */
static int decode_content(const struct tt_spanfield *f, char **dst, const char *p, size_t len,
                          bool *proven)
{
    json_t *j;
    char *txt;

    *proven = false;
    struct js_info ji;
    if (js_scan(p, len, true, &ji) == JS_OK) {     /* UTF-8 and no NUL too */
        *proven = js_shape_ok(f, &ji);
        return tt_span_setn(dst, p, len);
    }
    if (memchr(p, '\0', len) || !tt_frame_utf8_ok(p, len))
        return tt_span_set(dst, NULL);
    j = json_loadb(p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (j) {
        json_decref(j);
        return tt_span_setn(dst, p, len);
    }
    j = json_stringn(p, len);
    txt = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(j);
    if (!txt)
        return TT_ERR_NOMEM;
    free(*dst);
    *dst = txt;
    return TT_OK;
}

/* Set one field from a msgpack value; nil means absent. */
static int decode_field(struct tt_span *s, const struct tt_spanfield *f,
                        const msgpack_object *v, char *err, size_t n, bool *proven)
{
    bool nil = v->type == MSGPACK_OBJECT_NIL;
    int64_t i64 = 0;
    double d = 0;

    switch (f->type) {
    case TT_SF_ID: {
        char *dst = tt_sf_id(s, f);
        if (nil) {
            dst[0] = '\0';
            return TT_OK;
        }
        if (v->type != MSGPACK_OBJECT_STR || v->via.str.size != f->idlen)
            goto bad_type;
        /* Content (hex, no NUL) is checked by tt_frame_check_span. */
        if (memchr(v->via.str.ptr, '\0', f->idlen))
            goto bad_nul;
        memcpy(dst, v->via.str.ptr, f->idlen);
        dst[f->idlen] = '\0';
        return TT_OK;
    }
    case TT_SF_STR:
    case TT_SF_JSON: {
        char **dst = tt_sf_strp(s, f);
        if (nil)
            return tt_span_set(dst, NULL);
        if (v->type != MSGPACK_OBJECT_STR)
            goto bad_type;
        if (f->flags & TT_SF_CONTENT)
            return decode_content(f, dst, v->via.str.ptr, v->via.str.size, proven);
        /* A NUL would silently cut the C string: refuse it here, while the
         * real length is still known. */
        if (memchr(v->via.str.ptr, '\0', v->via.str.size))
            goto bad_nul;
        return tt_span_setn(dst, v->via.str.ptr, v->via.str.size);
    }
    case TT_SF_I64:
    case TT_SF_OPT_I64:
        if (!nil && mp_int64(v, &i64) != TT_OK)
            goto bad_type;
        *tt_sf_i64p(s, f) = i64;
        if (f->type == TT_SF_OPT_I64)
            *tt_sf_boolp(s, f->has_off) = !nil;
        return TT_OK;
    case TT_SF_F64:
    case TT_SF_OPT_F64:
    case TT_SF_MS:
        if (!nil && mp_double(v, &d) != TT_OK)
            goto bad_type;
        if (f->type == TT_SF_MS && (nil || d < 0))
            d = -1;
        *tt_sf_f64p(s, f) = d;
        if (f->type == TT_SF_OPT_F64)
            *tt_sf_boolp(s, f->has_off) = !nil;
        return TT_OK;
    case TT_SF_BOOL:
        if (nil) {
            *tt_sf_boolp(s, f->off) = false;
            return TT_OK;
        }
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            goto bad_type;
        *tt_sf_boolp(s, f->off) = v->via.boolean;
        return TT_OK;
    }
bad_type:
    seterr(err, n, "%s: unexpected %s%s", f->name, mp_type_name(v),
           f->type == TT_SF_ID ? " (or wrong length)" : "");
    return TT_ERR_PARSE;
bad_nul:
    seterr(err, n, "%s: NUL byte in string", f->name);
    return TT_ERR_PARSE;
}

/* Zeroed span with "absent" defaults, unlike tt_span_init which fills in
 * kind/status: a received span must carry them itself. */
static void span_blank(struct tt_span *s)
{
    memset(s, 0, sizeof(*s));
    s->ttft_ms = -1;
}

/* The preload writes every field, in contract order: try the field after
 * the last one found before searching the table (tt_sf_find compares up to
 * every name, for every key of every span). */
static const struct tt_spanfield *find_field(const char *p, size_t n, size_t *next)
{
    if (*next < tt_spanfields_n) {
        const struct tt_spanfield *f = &tt_spanfields[*next];
        if (strlen(f->name) == n && memcmp(f->name, p, n) == 0) {
            (*next)++;
            return f;
        }
    }
    const struct tt_spanfield *f = tt_sf_find(p, n);
    if (f)
        *next = (size_t)(f - tt_spanfields) + 1;
    return f;
}

static int decode_span(const msgpack_object *o, struct tt_span *s, char *err, size_t n)
{
    size_t next = 0;
    /* Which fields arrived non-nil: an int64 field has no "absent" value in
     * the struct, so a missing start_time is only visible here. */
    uint64_t seen = 0, proven = 0;
    int rc;

    _Static_assert(sizeof(seen) * 8 >= TT_SPANFIELDS_MAX, "one bit per contract field");

    span_blank(s);
    if (o->type != MSGPACK_OBJECT_MAP) {
        seterr(err, n, "span is a %s, not a map", mp_type_name(o));
        return TT_ERR_PARSE;
    }
    if (o->via.map.size > TT_FRAME_MAX_KEYS) {
        seterr(err, n, "span has %u keys (max %u)", o->via.map.size, TT_FRAME_MAX_KEYS);
        return TT_ERR_PARSE;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        const msgpack_object *v = &o->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) {
            seterr(err, n, "span key is a %s, not a str", mp_type_name(k));
            return TT_ERR_PARSE;
        }
        const struct tt_spanfield *f = find_field(k->via.str.ptr, k->via.str.size, &next);
        if (!f)
            continue;   /* unknown key: a newer sender; ignore */
        bool pr = false;
        if ((rc = decode_field(s, f, v, err, n, &pr)) != TT_OK)
            return rc;
        uint64_t bit = (uint64_t)1 << (f - tt_spanfields);
        if (v->type != MSGPACK_OBJECT_NIL)
            seen |= bit;
        /* A repeated key: the last value is the one kept, and judged. */
        proven = pr ? proven | bit : proven & ~bit;
    }
    for (size_t i = 0; i < tt_spanfields_n && i < 64; i++)
        if ((tt_spanfields[i].flags & TT_SF_REQUIRED) && !(seen & ((uint64_t)1 << i))) {
            seterr(err, n, "missing %s", tt_spanfields[i].name);
            return TT_ERR_PARSE;
        }
    return check_span(s, err, n, proven);
}

void tt_frame_clear(struct tt_frame *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->nspans; i++)
        tt_span_clear(&f->spans[i]);
    free(f->spans);
    f->spans = NULL;
    f->nspans = 0;
    free(f->count.exe);
    f->count.exe = NULL;
}

/* {"t":"count","chunk":u64,"proc":hex,"pid":int,"exe":str,"lost":u64,
 *  "sampled_out":u64,"reason":str}: every key but "proc" optional. */
static int decode_count(const msgpack_object *root, struct tt_frame *out)
{
    struct tt_proc_count *c = &out->count;

    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const msgpack_object *v = &root->via.map.ptr[i].val;
        const char *bad = NULL;
        if (mp_str_is(k, "proc")) {
            uint32_t n = v->type == MSGPACK_OBJECT_STR ? v->via.str.size : 0;
            for (uint32_t j = 0; j < n && !bad; j++) {
                char ch = v->via.str.ptr[j];
                if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                    bad = "\"proc\" is not lowercase hex";
            }
            if (n == 0 || n >= sizeof(c->proc_id))
                bad = "\"proc\" is not 1..32 hex digits";
            if (!bad)
                memcpy(c->proc_id, v->via.str.ptr, n);
        } else if (mp_str_is(k, "pid")) {
            if (mp_int64(v, &c->pid) != TT_OK)
                bad = "\"pid\" is not an integer";
        } else if (mp_str_is(k, "lost") || mp_str_is(k, "sampled_out")) {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                bad = "a counter is not an unsigned integer";
            else if (mp_str_is(k, "lost"))
                c->lost = v->via.u64;
            else
                c->sampled_out = v->via.u64;
        } else if (mp_str_is(k, "exe") || mp_str_is(k, "reason")) {
            if (v->type == MSGPACK_OBJECT_NIL)
                continue;
            if (v->type != MSGPACK_OBJECT_STR || v->via.str.size > 4096 ||
                !tt_frame_utf8_ok(v->via.str.ptr, v->via.str.size)) {
                bad = "\"exe\" or \"reason\" is not a valid string";
            } else if (mp_str_is(k, "exe")) {
                free(c->exe);
                if (!(c->exe = strndup(v->via.str.ptr, v->via.str.size)))
                    return TT_ERR_NOMEM;
            } else {
                size_t n = v->via.str.size < sizeof(c->reason) - 1
                               ? v->via.str.size : sizeof(c->reason) - 1;
                /* Cut on a character boundary. */
                while (n > 0 && n < v->via.str.size &&
                       ((unsigned char)v->via.str.ptr[n] & 0xc0) == 0x80)
                    n--;
                memcpy(c->reason, v->via.str.ptr, n);
                c->reason[n] = '\0';
            }
        }
        if (bad) {
            seterr(out->error, sizeof(out->error), "%s", bad);
            return TT_ERR_PARSE;
        }
    }
    if (!c->proc_id[0]) {
        seterr(out->error, sizeof(out->error), "count frame without \"proc\"");
        return TT_ERR_PARSE;
    }
    return TT_OK;
}

static int decode_spans(const msgpack_object *arr, struct tt_frame *out)
{
    char err[sizeof(out->error)];

    if (arr->type != MSGPACK_OBJECT_ARRAY) {
        seterr(out->error, sizeof(out->error), "\"spans\" is a %s, not an array",
               mp_type_name(arr));
        return TT_ERR_PARSE;
    }
    if (arr->via.array.size > TT_FRAME_MAX_SPANS) {
        seterr(out->error, sizeof(out->error), "%u spans in one frame (max %u)",
               arr->via.array.size, TT_FRAME_MAX_SPANS);
        return TT_ERR_CAP;
    }
    if (arr->via.array.size == 0)
        return TT_OK;
    out->spans = calloc(arr->via.array.size, sizeof(*out->spans));
    if (!out->spans)
        return TT_ERR_NOMEM;
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        struct tt_span *s = &out->spans[out->nspans];
        err[0] = '\0';
        int rc = decode_span(&arr->via.array.ptr[i], s, err, sizeof(err));
        if (rc == TT_OK) {
            out->nspans++;
            continue;
        }
        tt_span_clear(s);
        if (rc == TT_ERR_NOMEM)
            return rc;
        if (out->rejected++ == 0)
            seterr(out->error, sizeof(out->error), "span %u: %s", i, err);
    }
    return TT_OK;
}

int tt_frame_decode(const void *buf, size_t len, struct tt_frame *out)
{
    msgpack_unpacked up;
    const msgpack_object *spans = NULL;
    bool have_t = false;
    size_t pos = 0, off = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    msgpack_unpacked_init(&up);
    if (len == 0 || len > TT_WIRE_MAX_FRAME) {
        seterr(out->error, sizeof(out->error), "frame size %zu out of range", len);
        rc = TT_ERR_CAP;
        goto out;
    }
    rc = tt_wire_skip(buf, len, &pos, TT_FRAME_MAX_OBJECTS);
    if (rc == TT_OK && pos != len)
        rc = TT_ERR_PARSE;
    if (rc != TT_OK) {
        seterr(out->error, sizeof(out->error), "%s",
               rc == TT_ERR_CAP ? "too many msgpack objects" :
               rc == TT_ERR_INCOMPLETE ? "truncated msgpack" :
               "malformed msgpack or trailing bytes");
        rc = rc == TT_ERR_CAP ? TT_ERR_CAP : TT_ERR_PARSE;
        goto out;
    }
    switch (msgpack_unpack_next(&up, buf, len, &off)) {
    case MSGPACK_UNPACK_SUCCESS:
        break;
    case MSGPACK_UNPACK_NOMEM_ERROR:
        rc = TT_ERR_NOMEM;
        goto out;
    default:
        /* e.g. nesting deeper than msgpack-c's parser stack */
        seterr(out->error, sizeof(out->error), "msgpack rejected by decoder");
        rc = TT_ERR_PARSE;
        goto out;
    }
    const msgpack_object *root = &up.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        seterr(out->error, sizeof(out->error), "frame is a %s, not a map",
               mp_type_name(root));
        rc = TT_ERR_PARSE;
        goto out;
    }
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object *k = &root->via.map.ptr[i].key;
        const msgpack_object *v = &root->via.map.ptr[i].val;
        if (mp_str_is(k, "t")) {
            have_t = false;
            for (size_t j = 0; j < sizeof(frame_types) / sizeof(frame_types[0]); j++)
                if (mp_str_is(v, frame_types[j].name)) {
                    out->type = frame_types[j].type;
                    have_t = true;
                }
            if (!have_t) {
                seterr(out->error, sizeof(out->error), "unknown frame type");
                rc = TT_ERR_PARSE;
                goto out;
            }
        } else if (mp_str_is(k, "v")) {
            int64_t ver;
            if (mp_int64(v, &ver) != TT_OK || ver < 1) {
                seterr(out->error, sizeof(out->error), "bad \"v\"");
                rc = TT_ERR_PARSE;
                goto out;
            }
            if (ver > TT_WIRE_VERSION) {
                seterr(out->error, sizeof(out->error), "protocol version %lld unsupported",
                       (long long)ver);
                rc = TT_ERR_UNSUPPORTED;
                goto out;
            }
        } else if (mp_str_is(k, "chunk")) {
            if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
                seterr(out->error, sizeof(out->error), "\"chunk\" is not an unsigned integer");
                rc = TT_ERR_PARSE;
                goto out;
            }
            out->chunk = v->via.u64;
        } else if (mp_str_is(k, "spans")) {
            spans = v;
        }
    }
    if (!have_t) {
        seterr(out->error, sizeof(out->error), "no \"t\" key");
        rc = TT_ERR_PARSE;
        goto out;
    }
    rc = TT_OK;
    if (out->type == TT_FRAME_SPANS) {
        if (!spans) {
            seterr(out->error, sizeof(out->error), "spans frame without \"spans\"");
            rc = TT_ERR_PARSE;
            goto out;
        }
        rc = decode_spans(spans, out);
    } else if (out->type == TT_FRAME_COUNT) {
        rc = decode_count(root, out);
    }
out:
    msgpack_unpacked_destroy(&up);
    if (rc != TT_OK)
        tt_frame_clear(out);
    return rc;
}

/* ---- replies ------------------------------------------------------------- */

static int reply_write(void *data, const char *p, size_t n)
{
    return tt_buf_append(data, p, n) == TT_OK ? 0 : -1;
}

static int pack_cstr(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);

    return msgpack_pack_str(pk, n) || msgpack_pack_str_body(pk, s, n);
}

int tt_frame_pack_reply(struct tt_buf *out, const char *t,
                        const struct tt_frame_kv *kv, size_t n)
{
    static const unsigned char zero[4];
    size_t start = out->len;
    msgpack_packer pk;
    bool fail = false;

    if (tt_buf_append(out, zero, sizeof(zero)) != TT_OK)
        goto rollback;
    msgpack_packer_init(&pk, out, reply_write);
    fail |= msgpack_pack_map(&pk, n + 1) != 0;
    fail |= pack_cstr(&pk, "t") != 0 || pack_cstr(&pk, t) != 0;
    for (size_t i = 0; i < n && !fail; i++) {
        fail |= pack_cstr(&pk, kv[i].key) != 0;
        switch (kv[i].type) {
        case TT_KV_U64: fail |= msgpack_pack_uint64(&pk, kv[i].u) != 0; break;
        case TT_KV_I64: fail |= msgpack_pack_int64(&pk, kv[i].i) != 0; break;
        case TT_KV_STR:
            fail |= (kv[i].s ? pack_cstr(&pk, kv[i].s) : msgpack_pack_nil(&pk)) != 0;
            break;
        case TT_KV_BOOL:
            fail |= (kv[i].b ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk)) != 0;
            break;
        }
    }
    if (fail)
        goto rollback;
    size_t len = out->len - start - 4;
    unsigned char *p = (unsigned char *)out->data + start;
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
    return TT_OK;
rollback:
    if (out->data && out->len > start) {
        out->len = start;
        out->data[start] = '\0';
    }
    return TT_ERR_NOMEM;
}
