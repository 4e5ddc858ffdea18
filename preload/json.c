/* json.c - type-checked jansson helpers (see json.h). */
#include "json.h"
#include "scan.h"

#include <math.h>   /* isfinite: a macro, no libm */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* \u0000 in a prompt must not make the whole body unreadable. */
#define TT_JSON_FLAGS JSON_ALLOW_NUL

/* Provider error messages can be whole documents; a span needs a line. */
#define TT_JSON_ERROR_TEXT_MAX 1024

static json_t *json_load(const char *buf, size_t len, size_t flags)
{
    json_error_t err;
    json_t *v;

    memset(&err, 0, sizeof(err));
    v = json_loadb(buf, len, flags, &err);
    if (!v && json_error_code(&err) == json_error_numeric_overflow)
        v = json_loadb(buf, len, flags | JSON_DECODE_INT_AS_REAL, &err);
    return v;
}

int tt_json_parse(const char *buf, size_t len, json_t **out)
{
    *out = NULL;
    if (!buf || len == 0)
        return TT_ERR_PARSE;
    *out = json_load(buf, len, TT_JSON_FLAGS);
    return *out ? TT_OK : TT_ERR_PARSE;
}

/* --- prefix parsing ----------------------------------------------------
 * A skipper, not a parser: it only finds where each top-level value ends
 * (strings with escapes, nesting depth); jansson then validates each value
 * on its own. Returns the end offset or 0 when the value runs past len. */

static size_t skip_ws(const char *p, size_t i, size_t len)
{
    while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' ||
                       p[i] == '\r'))
        i++;
    return i;
}

/* p[i] == '"'; the offset just past the closing quote, or 0. Prompts are
 * mostly string bytes, so the quote is found with memchr and the
 * backslashes just before it decide whether it is escaped (an odd run
 * escapes it). A run cannot reach back past i: p[i - 1] is a quote. */
static size_t skip_string(const char *p, size_t i, size_t len)
{
    for (i++; i < len;) {
        const char *q = memchr(p + i, '"', len - i);
        if (!q)
            return 0;
        size_t j = (size_t)(q - p), k = j;
        while (k > i && p[k - 1] == '\\')
            k--;
        if ((j - k) % 2 == 0)
            return j + 1;
        i = j + 1;
    }
    return 0;
}

static size_t skip_value(const char *p, size_t i, size_t len)
{
    if (i >= len)
        return 0;
    if (p[i] == '"')
        return skip_string(p, i, len);
    if (p[i] == '{' || p[i] == '[') {
        size_t depth = 0;
        while (i < len) {
            char c = p[i];
            if (c == '"') {
                i = skip_string(p, i, len);
                if (i == 0)
                    return 0;
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if ((c == '}' || c == ']') && --depth == 0)
                return i + 1;
            i++;
        }
        return 0;
    }
    /* A scalar ends at a delimiter; one that runs to the end of the buffer
     * may have been cut ("max_tokens": 10 cut to 1), so it is not done. */
    while (i < len && p[i] != ',' && p[i] != '}' && p[i] != ']' &&
           p[i] != ' ' && p[i] != '\t' && p[i] != '\n' && p[i] != '\r')
        i++;
    return i < len ? i : 0;
}

int tt_json_parse_prefix(const char *buf, size_t len, json_t **out)
{
    json_t *obj = NULL;
    size_t i;

    *out = NULL;
    if (!buf)
        return TT_ERR_PARSE;
    obj = json_load(buf, len, TT_JSON_FLAGS);
    if (obj) {
        if (json_is_object(obj)) {
            *out = obj;
            return TT_OK;
        }
        json_decref(obj);
        return TT_ERR_PARSE;
    }

    i = skip_ws(buf, 0, len);
    if (i >= len || buf[i] != '{')
        return TT_ERR_PARSE;
    obj = json_object();
    if (!obj)
        return TT_ERR_NOMEM;
    i++;
    for (;;) {
        i = skip_ws(buf, i, len);
        if (i >= len || buf[i] != '"')
            break;
        size_t kend = skip_string(buf, i, len);
        if (kend == 0)
            break;
        json_t *key = json_load(buf + i, kend - i,
                                TT_JSON_FLAGS | JSON_DECODE_ANY);
        i = skip_ws(buf, kend, len);
        if (!key || !json_is_string(key) || i >= len || buf[i] != ':') {
            json_decref(key);
            break;
        }
        i = skip_ws(buf, i + 1, len);
        size_t vend = skip_value(buf, i, len);
        json_t *val = vend ? json_load(buf + i, vend - i,
                                       TT_JSON_FLAGS | JSON_DECODE_ANY)
                           : NULL;
        /* json_string_value is NUL-terminated; a key with an embedded NUL
         * is merely shortened, which cannot match a key we look up. */
        if (!val || json_object_set_new(obj, json_string_value(key), val)) {
            json_decref(key);
            break;
        }
        json_decref(key);
        i = skip_ws(buf, vend, len);
        if (i >= len || buf[i] != ',')
            break;
        i++;
    }
    *out = obj;
    return TT_ERR_INCOMPLETE;
}

/* --- member scanning -----------------------------------------------------
 * tt_json_members reuses the skipper above and only looks closer where a
 * wrong answer would be visible: the keys it matches and the scalars. */

static size_t skip_digits(const char *p, size_t i, size_t n)
{
    while (i < n && p[i] >= '0' && p[i] <= '9')
        i++;
    return i;
}

/* A literal or an RFC 8259 number, exactly p[0..n): what jansson accepts
 * for a scalar (so "tru", "01", "1." and "-" are not). */
static bool scalar_ok(const char *p, size_t n)
{
    size_t i = 0, d;

    if ((n == 4 && (memcmp(p, "true", 4) == 0 || memcmp(p, "null", 4) == 0)) ||
        (n == 5 && memcmp(p, "false", 5) == 0))
        return true;
    if (i < n && p[i] == '-')
        i++;
    if (i < n && p[i] == '0')
        i++;
    else if ((d = skip_digits(p, i, n)) > i)
        i = d;
    else
        return false;
    if (i < n && p[i] == '.') {
        if ((d = skip_digits(p, i + 1, n)) == i + 1)
            return false;
        i = d;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-'))
            i++;
        if ((d = skip_digits(p, i, n)) == i)
            return false;
        i = d;
    }
    return i == n;
}

/* p[0..n) is a whole value as delimited by skip_value. Strings and
 * containers were delimited by their closing character; a container must
 * at least close with its own kind ("[1}" is rejected, "[{]}" is not:
 * nested content is the consumer's business). */
static bool value_ok(const char *p, size_t n)
{
    switch (p[0]) {
    case '"':
        return true;
    case '{':
        return p[n - 1] == '}';
    case '[':
        return p[n - 1] == ']';
    default:
        return scalar_ok(p, n);
    }
}

static int hex4(const char *p, uint32_t *out)
{
    uint32_t v = 0;

    for (int k = 0; k < 4; k++) {
        char c = p[k];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return TT_ERR_PARSE;
    }
    *out = v;
    return TT_OK;
}

/* One escape at p[0] == '\\' (n bytes available) decoded to UTF-8 in u8.
 * Returns the escape's length, 0 when it is invalid for jansson (unknown
 * letter, lone surrogate, NUL: jansson refuses NUL in keys). */
static size_t unescape_one(const char *p, size_t n, char *u8, size_t *u8n)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    uint32_t cp, lo;
    size_t used = 6;

    if (n < 2)
        return 0;
    if (p[1] != 'u') {
        const char *e = memchr(from, p[1], sizeof(from) - 1);
        if (!e)
            return 0;
        u8[0] = to[e - from];
        *u8n = 1;
        return 2;
    }
    if (n < 6 || hex4(p + 2, &cp) != TT_OK || cp == 0 ||
        (cp >= 0xdc00 && cp <= 0xdfff))
        return 0;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (n < 12 || p[6] != '\\' || p[7] != 'u' ||
            hex4(p + 8, &lo) != TT_OK || lo < 0xdc00 || lo > 0xdfff)
            return 0;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        used = 12;
    }
    if (cp < 0x80) {
        u8[0] = (char)cp;
        *u8n = 1;
    } else if (cp < 0x800) {
        u8[0] = (char)(0xc0 | (cp >> 6));
        u8[1] = (char)(0x80 | (cp & 0x3f));
        *u8n = 2;
    } else if (cp < 0x10000) {
        u8[0] = (char)(0xe0 | (cp >> 12));
        u8[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u8[2] = (char)(0x80 | (cp & 0x3f));
        *u8n = 3;
    } else {
        u8[0] = (char)(0xf0 | (cp >> 18));
        u8[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        u8[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        u8[3] = (char)(0x80 | (cp & 0x3f));
        *u8n = 4;
    }
    return used;
}

/* Does the body of a JSON string with escapes, p[0..n) between its
 * quotes, spell key? */
static bool key_eq_escaped(const char *p, size_t n, const char *key, size_t klen)
{
    size_t i = 0, k = 0;

    while (i < n) {
        char u8[4];
        size_t u8n = 1, used = 1;

        if (p[i] == '\\') {
            used = unescape_one(p + i, n - i, u8, &u8n);
            if (used == 0)
                return false;
        } else {
            u8[0] = p[i];
        }
        if (u8n > klen - k || memcmp(key + k, u8, u8n) != 0)
            return false;
        k += u8n;
        i += used;
    }
    return k == klen;
}

/* Key lengths measured once per call for this many keys (more are
 * measured at each member). */
#define TT_JSON_KEYS_KNOWN 16

/* Every member absent so far; the first keys' lengths measured once. */
static void members_start(const char *const *keys, size_t nkeys, size_t *klens,
                          struct tt_json_slice *out)
{
    for (size_t k = 0; k < nkeys; k++) {
        out[k].ptr = NULL;
        out[k].len = 0;
        if (k < TT_JSON_KEYS_KNOWN)
            klens[k] = strlen(keys[k]);
    }
}

/* The member named kp[0..kn) (raw, escapes and all) holds v[0..vn):
 * recorded for each key it equals. No break on a match: a later duplicate
 * must replace it. Keys are almost never escaped: then a length and a
 * memcmp each. */
static void member_seen(const char *kp, size_t kn, const char *v, size_t vn,
                        const char *const *keys, size_t nkeys, const size_t *klens,
                        struct tt_json_slice *out)
{
    bool esc = memchr(kp, '\\', kn) != NULL;

    for (size_t k = 0; k < nkeys; k++) {
        size_t klen = k < TT_JSON_KEYS_KNOWN ? klens[k] : strlen(keys[k]);
        if (esc ? key_eq_escaped(kp, kn, keys[k], klen)
                : kn == klen && memcmp(kp, keys[k], kn) == 0) {
            out[k].ptr = v;
            out[k].len = vn;
        }
    }
}

int tt_json_members(const char *buf, size_t len, const char *const *keys,
                    size_t nkeys, struct tt_json_slice *out)
{
    size_t i, klens[TT_JSON_KEYS_KNOWN];

    members_start(keys, nkeys, klens, out);
    if (!buf)
        return TT_ERR_PARSE;
    i = skip_ws(buf, 0, len);
    if (i >= len || buf[i] != '{')
        return TT_ERR_PARSE;
    i = skip_ws(buf, i + 1, len);
    if (i < len && buf[i] == '}')
        goto closed;
    for (;;) {
        if (i >= len || buf[i] != '"')
            return TT_ERR_INCOMPLETE;
        size_t kend = skip_string(buf, i, len);
        if (kend == 0)
            return TT_ERR_INCOMPLETE;
        const char *kp = buf + i + 1;
        size_t kn = kend - i - 2;
        i = skip_ws(buf, kend, len);
        if (i >= len || buf[i] != ':')
            return TT_ERR_INCOMPLETE;
        i = skip_ws(buf, i + 1, len);
        size_t vend = skip_value(buf, i, len);
        if (vend == 0 || !value_ok(buf + i, vend - i))
            return TT_ERR_INCOMPLETE;
        member_seen(kp, kn, buf + i, vend - i, keys, nkeys, klens, out);
        i = skip_ws(buf, vend, len);
        if (i < len && buf[i] == ',') {
            i = skip_ws(buf, i + 1, len);
            continue;
        }
        if (i < len && buf[i] == '}')
            break;
        return TT_ERR_INCOMPLETE;
    }
closed:
    /* Trailing bytes make the body invalid, but every member was read. */
    return skip_ws(buf, i + 1, len) == len ? TT_OK : TT_ERR_INCOMPLETE;
}

int tt_json_slice_parse(const struct tt_json_slice *s, json_t **out)
{
    *out = NULL;
    if (!s->ptr)
        return TT_OK;
    *out = json_load(s->ptr, s->len, TT_JSON_FLAGS | JSON_DECODE_ANY);
    return *out ? TT_OK : TT_ERR_PARSE;
}

int tt_json_set_raw(char **field, const struct tt_json_slice *s)
{
    char *d;

    if (!s->ptr || memchr(s->ptr, '\0', s->len))
        return TT_ERR_PARSE;
    d = tt_strndup(s->ptr, s->len);
    if (!d)
        return TT_ERR_NOMEM;
    free(*field);
    *field = d;
    return TT_OK;
}

/* --- getters ----------------------------------------------------------- */

json_t *tt_json_get(const json_t *v, ...)
{
    va_list ap;
    const char *key;
    json_t *cur = (json_t *)v;

    va_start(ap, v);
    while (cur && (key = va_arg(ap, const char *)) != NULL)
        cur = json_is_object(cur) ? json_object_get(cur, key) : NULL;
    va_end(ap);
    return cur;
}

json_t *tt_json_getv(const json_t *v, const char *const *keys)
{
    json_t *cur = (json_t *)v;

    for (; cur && *keys; keys++)
        cur = json_is_object(cur) ? json_object_get(cur, *keys) : NULL;
    return cur;
}

const char *tt_json_str(const json_t *v, size_t *len)
{
    if (!v || !json_is_string(v))
        return NULL;
    if (len)
        *len = json_string_length(v);
    return json_string_value(v);
}

int tt_json_set_str(char **field, const json_t *v)
{
    size_t n = 0;
    const char *s = tt_json_str(v, &n);
    char *d;

    /* "\u0000..." would copy as "": empty too. */
    if (!s || n == 0 || s[0] == '\0')
        return TT_ERR_PARSE;
    d = tt_strndup(s, n);
    if (!d)
        return TT_ERR_NOMEM;
    free(*field);
    *field = d;
    return TT_OK;
}

int tt_json_int64(const json_t *v, int64_t *out)
{
    if (!v)
        return TT_ERR_PARSE;
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return TT_OK;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        /* Stay clear of 2^63 so the cast is defined; the cast back
         * rejects fractions without needing libm's floor(). */
        if (!isfinite(d) || d < -9.2e18 || d > 9.2e18 ||
            (double)(int64_t)d != d)
            return TT_ERR_PARSE;
        *out = (int64_t)d;
        return TT_OK;
    }
    return TT_ERR_PARSE;
}

int tt_json_double(const json_t *v, double *out)
{
    if (!v || !json_is_number(v))
        return TT_ERR_PARSE;
    *out = json_number_value(v);
    return TT_OK;
}

int tt_json_count(const json_t *v, int64_t *out)
{
    int64_t n;

    if (tt_json_int64(v, &n) != TT_OK || n < 0 || n > TT_JSON_COUNT_MAX)
        return TT_ERR_PARSE;
    *out = n;
    return TT_OK;
}

int tt_json_count_opt(const json_t *v, int64_t *out)
{
    if (!v || json_is_null(v)) {
        *out = 0;
        return TT_OK;
    }
    return tt_json_count(v, out);
}

int tt_json_counts(const json_t *obj, const struct tt_json_count_field *f,
                   size_t nf, int64_t *counts, bool *present, size_t nslots)
{
    int rc = TT_OK;

    for (size_t s = 0; s < nslots; s++) {
        counts[s] = 0;
        present[s] = false;
    }
    if (!obj || !json_is_object(obj))
        return TT_ERR_PARSE;
    for (size_t i = 0; i < nf; i++) {
        unsigned s = f[i].slot;
        if (s >= nslots || present[s])
            continue;
        json_t *v = tt_json_getv(obj, f[i].path);
        if (!v || json_is_null(v))
            continue;
        if (tt_json_count(v, &counts[s]) != TT_OK)
            rc = TT_ERR_PARSE;
        present[s] = true;
    }
    for (size_t i = 0; i < nf; i++) {
        if (f[i].required && f[i].slot < nslots && !present[f[i].slot])
            rc = TT_ERR_PARSE;
    }
    return rc;
}

int tt_json_slice_int(const struct tt_json_slice *v, int64_t *out)
{
    bool neg = false;
    int64_t n = 0;
    int digits = 0;

    if (tt_json_kind_of(v) != TT_JSON_NUMBER)
        return TT_ERR_PARSE;    /* absent (ptr NULL) included */
    const char *p = v->ptr, *e = v->ptr + v->len;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    for (; p < e && *p >= '0' && *p <= '9'; p++, digits++)
        if (digits < 18)
            n = n * 10 + (*p - '0');
    if (p != e || digits == 0 || digits > 18)
        return TT_ERR_UNSUPPORTED;
    *out = neg ? -n : n;
    return TT_OK;
}

/* The fields' values, one tt_json_members pass per object: every
 * first-level name in one pass over obj, and the second-level names under
 * one first-level name in one pass over that nested object (the usage
 * objects nest two deep); deeper names, rare, one pass each. v[i] is
 * field i's value ({NULL, 0}: absent). TT_OK, or TT_ERR_UNSUPPORTED when
 * an object looked in is not valid. */
enum { COUNT_FIELDS_MAX = 32 };

static int count_values(const struct tt_json_slice *obj, const struct tt_json_count_field *f,
                        size_t nf, struct tt_json_slice *v)
{
    const char *keys[COUNT_FIELDS_MAX] = { NULL };
    struct tt_json_slice got[COUNT_FIELDS_MAX];
    bool done[COUNT_FIELDS_MAX] = { false };

    for (size_t i = 0; i < nf; i++)
        keys[i] = f[i].path[0];
    if (tt_json_members(obj->ptr, obj->len, keys, nf, v) != TT_OK)
        return TT_ERR_UNSUPPORTED;
    for (size_t i = 0; i < nf; i++) {
        if (!f[i].path[1] || done[i])
            continue;
        /* Every field under the same first-level name, in one pass. */
        struct tt_json_slice parent = v[i];
        size_t m = 0, idx[COUNT_FIELDS_MAX];
        for (size_t j = i; j < nf; j++)
            if (f[j].path[1] && !done[j] && !strcmp(f[j].path[0], f[i].path[0])) {
                idx[m] = j;
                keys[m++] = f[j].path[1];
                done[j] = true;
            }
        if (tt_json_kind_of(&parent) != TT_JSON_OBJECT) {
            for (size_t k = 0; k < m; k++)
                v[idx[k]] = (struct tt_json_slice){ NULL, 0 };
            continue;
        }
        if (tt_json_members(parent.ptr, parent.len, keys, m, got) != TT_OK)
            return TT_ERR_UNSUPPORTED;
        for (size_t k = 0; k < m; k++)
            v[idx[k]] = got[k];
    }
    for (size_t i = 0; i < nf; i++) {
        for (size_t k = 2; k < 4 && f[i].path[k] && v[i].ptr; k++) {
            struct tt_json_slice cur = v[i];
            v[i] = (struct tt_json_slice){ NULL, 0 };
            if (tt_json_kind_of(&cur) != TT_JSON_OBJECT)
                break;      /* not found, as tt_json_getv says */
            if (tt_json_members(cur.ptr, cur.len, &f[i].path[k], 1, &v[i]) != TT_OK)
                return TT_ERR_UNSUPPORTED;
        }
    }
    return TT_OK;
}

int tt_json_counts_slice(const struct tt_json_slice *obj,
                         const struct tt_json_count_field *f, size_t nf,
                         int64_t *counts, bool *present, size_t nslots)
{
    struct tt_json_slice vals[COUNT_FIELDS_MAX];
    int rc = TT_OK;

    for (size_t s = 0; s < nslots; s++) {
        counts[s] = 0;
        present[s] = false;
    }
    if (tt_json_kind_of(obj) != TT_JSON_OBJECT)
        return TT_ERR_PARSE;
    if (nf > COUNT_FIELDS_MAX || count_values(obj, f, nf, vals) != TT_OK)
        return TT_ERR_UNSUPPORTED;
    for (size_t i = 0; i < nf; i++) {
        unsigned s = f[i].slot;
        if (s >= nslots || present[s])
            continue;
        const struct tt_json_slice *v = &vals[i];
        enum tt_json_kind kind = tt_json_kind_of(v);
        if (kind == TT_JSON_ABSENT || kind == TT_JSON_NULL)
            continue;
        int64_t n;
        int r = tt_json_slice_int(v, &n);
        if (r == TT_ERR_UNSUPPORTED)
            return r;
        if (r != TT_OK || n < 0 || n > TT_JSON_COUNT_MAX)
            rc = TT_ERR_PARSE;
        else
            counts[s] = n;
        present[s] = true;
    }
    for (size_t i = 0; i < nf; i++) {
        if (f[i].required && f[i].slot < nslots && !present[f[i].slot])
            rc = TT_ERR_PARSE;
    }
    return rc;
}

int tt_json_dump(const json_t *v, char **out)
{
    *out = NULL;
    if (!v)
        return TT_ERR_PARSE;
    *out = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return *out ? TT_OK : TT_ERR_NOMEM;
}

int tt_json_error_text(const json_t *err, char **out)
{
    size_t tlen = 0, mlen = 0;
    const char *type, *msg;
    char *d;
    int n;

    *out = NULL;
    if (json_is_string(err)) {
        type = NULL;
        msg = tt_json_str(err, &mlen);
    } else {
        type = tt_json_str(json_object_get(err, "type"), &tlen);
        if (!type || tlen == 0)
            type = tt_json_str(json_object_get(err, "code"), &tlen);
        msg = tt_json_str(json_object_get(err, "message"), &mlen);
    }
    if ((!type || tlen == 0) && (!msg || mlen == 0))
        return TT_ERR_PARSE;
    if (tlen > TT_JSON_ERROR_TEXT_MAX)
        tlen = TT_JSON_ERROR_TEXT_MAX;
    if (mlen > TT_JSON_ERROR_TEXT_MAX)
        mlen = TT_JSON_ERROR_TEXT_MAX;

    d = malloc(TT_JSON_ERROR_TEXT_MAX);
    if (!d)
        return TT_ERR_NOMEM;
    /* %.*s stops at an embedded NUL, which is what a C string wants. */
    if (type && tlen && msg && mlen)
        n = snprintf(d, TT_JSON_ERROR_TEXT_MAX, "%.*s: %.*s", (int)tlen, type,
                     (int)mlen, msg);
    else if (msg && mlen)
        n = snprintf(d, TT_JSON_ERROR_TEXT_MAX, "%.*s", (int)mlen, msg);
    else
        n = snprintf(d, TT_JSON_ERROR_TEXT_MAX, "%.*s", (int)tlen, type);
    if (n < 0) {
        free(d);
        return TT_ERR_PARSE;
    }
    *out = d;
    return TT_OK;
}

int tt_json_set_field(char **field, json_t *v)
{
    char *txt = NULL;
    int rc;

    if (!v)
        return TT_OK;
    rc = tt_json_dump(v, &txt);
    json_decref(v);
    if (rc != TT_OK)
        return rc;
    free(*field);
    *field = txt;
    return TT_OK;
}

/* --- validation and walking without a tree ------------------------------
 * The hot path (a 10 KB request, a 5 KB answer) reads a few members and
 * hashes or copies a few strings: jansson would build the whole tree,
 * character by character, for that. The validator below accepts what
 * tt_json_parse (jansson with JSON_ALLOW_NUL) accepts, so text it passes
 * can be walked with the skippers above without re-checking. */

#define TT_JSON_MAX_DEPTH 2048     /* jansson's default */

/* Byte classes inside a string: 0 plain, 1 quote, 2 backslash, 3 control
 * (invalid raw), 4 UTF-8 lead or continuation. */
static const unsigned char str_class[256] = {
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    [0x80 ... 0xff] = 4,
};

/* One UTF-8 sequence at p[0] (a byte >= 0x80), n bytes available: its
 * length, 0 when invalid (overlong, surrogate, above U+10FFFF, cut). */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t k;
    uint32_t cp;

    if (c >= 0xc2 && c <= 0xdf) {
        k = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return k;
}

/* A string at p[i] == '"': the offset past its closing quote, 0 when it
 * is invalid or cut. */
static size_t valid_string(const char *p, size_t i, size_t len)
{
    const unsigned char *u = (const unsigned char *)p;

    for (i++; i < len;) {
        i = tt_scan(p, i, len, TT_SCAN_QUOTE | TT_SCAN_CTRL | TT_SCAN_HIGH);
        if (i >= len)
            break;
        switch (str_class[u[i]]) {
        case 0:
            i++;
            break;
        case 1:
            return i + 1;
        case 2: {
            char u8[4];
            size_t u8n, used;
            /* \u0000 is allowed (JSON_ALLOW_NUL); unescape_one refuses it
             * for keys, so it is checked here first. */
            if (len - i >= 6 && p[i + 1] == 'u' && !memcmp(p + i + 2, "0000", 4))
                used = 6;
            else
                used = unescape_one(p + i, len - i, u8, &u8n);
            if (used == 0)
                return 0;
            i += used;
            break;
        }
        case 3:
            return 0;
        default: {
            size_t k = utf8_seq(u + i, len - i);
            if (k == 0)
                return 0;
            i += k;
        }
        }
    }
    return 0;
}

/* A number or literal at p[i]: the offset past it, 0 when invalid. */
static size_t valid_scalar(const char *p, size_t i, size_t len)
{
    size_t j = i;

    while (j < len && p[j] != ',' && p[j] != '}' && p[j] != ']' && p[j] != ' ' &&
           p[j] != '\t' && p[j] != '\n' && p[j] != '\r')
        j++;
    return j > i && scalar_ok(p + i, j - i) ? j : 0;
}

/* The validator of tt_json_valid; with keys, also the root object's
 * members as tt_json_members reads them (one pass instead of two: the
 * fast paths validate a body, then read its members). Inlined into both
 * callers, so the plain validator carries no member bookkeeping. */
static inline __attribute__((always_inline)) int
valid_walk(const char *buf, size_t len, const char *const *keys, size_t nkeys,
           const size_t *klens, struct tt_json_slice *out)
{
    unsigned char stack[TT_JSON_MAX_DEPTH / 8];   /* 1: object, 0: array */
    size_t depth = 0, i, kstart = 0, kend = 0, vstart = 0;

    if (!buf)
        return TT_ERR_PARSE;
    i = skip_ws(buf, 0, len);
    if (keys && (i >= len || buf[i] != '{'))
        return TT_ERR_PARSE;
    for (;;) {
        /* A value at i. */
        if (i >= len)
            return TT_ERR_PARSE;
        char c = buf[i];
        if (c == '{' || c == '[') {
            if (depth == TT_JSON_MAX_DEPTH)
                return TT_ERR_PARSE;
            bool obj = c == '{';
            if (obj)
                stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
            else
                stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
            depth++;
            i = skip_ws(buf, i + 1, len);
            if (i < len && buf[i] == (obj ? '}' : ']')) {
                depth--;
                i++;
                goto after;
            }
            if (!obj)
                continue;
            goto key;
        } else if (c == '"') {
            if (!(i = valid_string(buf, i, len)))
                return TT_ERR_PARSE;
        } else if (!(i = valid_scalar(buf, i, len))) {
            return TT_ERR_PARSE;
        }
after:
        /* A value ended at i; one of the root object's is a member. */
        if (keys && depth == 1)
            member_seen(buf + kstart + 1, kend - kstart - 2, buf + vstart, i - vstart,
                        keys, nkeys, klens, out);
        i = skip_ws(buf, i, len);
        while (depth > 0) {
            bool obj = stack[(depth - 1) / 8] & (1u << ((depth - 1) % 8));
            if (i < len && buf[i] == ',') {
                i = skip_ws(buf, i + 1, len);
                if (obj)
                    goto key;
                goto value;
            }
            if (i < len && buf[i] == (obj ? '}' : ']')) {
                depth--;
                if (keys && depth == 1)
                    member_seen(buf + kstart + 1, kend - kstart - 2, buf + vstart,
                                i + 1 - vstart, keys, nkeys, klens, out);
                i = skip_ws(buf, i + 1, len);
                continue;
            }
            return TT_ERR_PARSE;
        }
        return i == len ? TT_OK : TT_ERR_PARSE;
key:
        if (keys && depth == 1)
            kstart = i;
        if (i >= len || buf[i] != '"' || !(i = valid_string(buf, i, len)))
            return TT_ERR_PARSE;
        if (keys && depth == 1)
            kend = i;
        i = skip_ws(buf, i, len);
        if (i >= len || buf[i] != ':')
            return TT_ERR_PARSE;
        i = skip_ws(buf, i + 1, len);
        if (keys && depth == 1)
            vstart = i;
value:
        continue;
    }
}

int tt_json_valid(const char *buf, size_t len)
{
    return valid_walk(buf, len, NULL, 0, NULL, NULL);
}

int tt_json_valid_members(const char *buf, size_t len, const char *const *keys,
                          size_t nkeys, struct tt_json_slice *out)
{
    size_t klens[TT_JSON_KEYS_KNOWN];

    members_start(keys, nkeys, klens, out);
    return valid_walk(buf, len, keys, nkeys, klens, out);
}

bool tt_json_next(const struct tt_json_slice *arr, size_t *pos,
                  struct tt_json_slice *out)
{
    const char *p = arr->ptr;
    size_t len = arr->len, i = *pos;

    if (!p)
        return false;
    if (i == 0) {
        i = skip_ws(p, 0, len);
        if (i >= len || p[i] != '[')
            return false;
        i++;
    }
    i = skip_ws(p, i, len);
    if (i >= len || p[i] == ']')
        return false;
    size_t end = skip_value(p, i, len);
    if (end == 0)
        return false;
    out->ptr = p + i;
    out->len = end - i;
    i = skip_ws(p, end, len);
    if (i < len && p[i] == ',')
        i++;
    *pos = i;
    return true;
}

enum tt_json_kind tt_json_kind_of(const struct tt_json_slice *s)
{
    if (!s->ptr || s->len == 0)
        return TT_JSON_ABSENT;
    switch (s->ptr[0]) {
    case '"':
        return TT_JSON_STRING;
    case '{':
        return TT_JSON_OBJECT;
    case '[':
        return TT_JSON_ARRAY;
    case 'n':
        return TT_JSON_NULL;
    case 't':
        return TT_JSON_TRUE;
    case 'f':
        return TT_JSON_FALSE;
    default:
        return TT_JSON_NUMBER;
    }
}

bool tt_json_str_is(const struct tt_json_slice *s, const char *lit)
{
    if (tt_json_kind_of(s) != TT_JSON_STRING || s->len < 2)
        return false;
    const char *p = s->ptr + 1;
    size_t n = s->len - 2, klen = strlen(lit);
    return memchr(p, '\\', n) ? key_eq_escaped(p, n, lit, klen)
                               : n == klen && memcmp(p, lit, n) == 0;
}

void tt_json_str_walk(const struct tt_json_slice *s,
                      void (*cb)(void *ud, const char *p, size_t n), void *ud)
{
    const char *p, *end;

    if (tt_json_kind_of(s) != TT_JSON_STRING || s->len < 2)
        return;
    p = s->ptr + 1;
    end = s->ptr + s->len - 1;
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs) {
            cb(ud, p, (size_t)(end - p));
            return;
        }
        if (bs > p)
            cb(ud, p, (size_t)(bs - p));
        char u8[4];
        size_t u8n = 1, used;
        if (end - bs >= 6 && bs[1] == 'u' && !memcmp(bs + 2, "0000", 4)) {
            u8[0] = '\0';
            used = 6;
        } else {
            used = unescape_one(bs, (size_t)(end - bs), u8, &u8n);
        }
        if (used == 0)
            return;                 /* not validated text: stop */
        cb(ud, u8, u8n);
        p = bs + used;
    }
}

void tt_json_set_slice_str(char **field, const struct tt_json_slice *v)
{
    char *d;

    if (tt_json_kind_of(v) != TT_JSON_STRING || v->len <= 2)
        return;
    /* The same id and model come with every chunk of a stream: no copy
     * when the field already says it. */
    if (*field && strlen(*field) == v->len - 2 && !memcmp(*field, v->ptr + 1, v->len - 2) &&
        !memchr(v->ptr + 1, '\\', v->len - 2))
        return;
    if (!(d = tt_json_str_dup(v)))
        return;
    if (!*d) {
        free(d);
        return;
    }
    free(*field);
    *field = d;
}

struct append_budget {
    struct tt_buf *b;
    size_t *budget;
    bool *truncated;
    int rc;
};

static void append_budget_cb(void *ud, const char *p, size_t n)
{
    struct append_budget *a = ud;

    if (a->rc != TT_OK)
        return;
    if (n > *a->budget) {
        n = *a->budget;
        *a->truncated = true;
    }
    if (n == 0)
        return;
    if (tt_buf_append(a->b, p, n) == TT_ERR_NOMEM) {
        a->rc = TT_ERR_NOMEM;
        return;
    }
    *a->budget -= n;
}

int tt_json_str_append_budget(const struct tt_json_slice *s, struct tt_buf *b,
                              size_t *budget, bool *truncated)
{
    struct append_budget a = { b, budget, truncated, TT_OK };

    tt_json_str_walk(s, append_budget_cb, &a);
    return a.rc;
}

struct str_dup {
    char *d;
    size_t n;
};

static void str_dup_cb(void *ud, const char *p, size_t n)
{
    struct str_dup *sd = ud;

    memcpy(sd->d + sd->n, p, n);
    sd->n += n;
}

char *tt_json_str_dup(const struct tt_json_slice *s)
{
    struct str_dup sd;

    if (tt_json_kind_of(s) != TT_JSON_STRING)
        return NULL;
    /* Unescaped text is never longer than its escaped form. */
    if (!(sd.d = malloc(s->len)))
        return NULL;
    sd.n = 0;
    tt_json_str_walk(s, str_dup_cb, &sd);
    sd.d[sd.n] = '\0';
    return sd.d;
}

/* Is the raw text of a value what jansson's compact dump would write? A
 * string is, unless it uses \u or \/ (jansson writes those characters
 * raw); so are the literals and plain integers. */
static bool canonical(const struct tt_json_slice *s)
{
    switch (tt_json_kind_of(s)) {
    case TT_JSON_STRING:
        for (const char *p = s->ptr, *end = s->ptr + s->len;
             (p = memchr(p, '\\', (size_t)(end - p))) != NULL; p += 2)
            if (p + 1 < end && (p[1] == 'u' || p[1] == '/'))
                return false;
        return true;
    case TT_JSON_NULL:
    case TT_JSON_TRUE:
    case TT_JSON_FALSE:
        return true;
    case TT_JSON_NUMBER: {
        size_t i = s->ptr[0] == '-' ? 1 : 0;
        if (i >= s->len || (s->ptr[i] == '0' && s->len > i + 1) ||
            (s->ptr[0] == '-' && s->len == 2 && s->ptr[1] == '0'))
            return false;
        for (; i < s->len; i++)
            if (s->ptr[i] < '0' || s->ptr[i] > '9')
                return false;
        return s->len < 19;        /* within int64 */
    }
    default:
        return false;
    }
}

int tt_json_append_compact(struct tt_buf *b, const struct tt_json_slice *s)
{
    json_t *v = NULL;
    char *txt = NULL;
    int rc;

    if (!s->ptr)
        return TT_ERR_PARSE;
    if (canonical(s))
        return tt_buf_append(b, s->ptr, s->len);
    if ((rc = tt_json_slice_parse(s, &v)) != TT_OK)
        return rc;
    rc = tt_json_dump(v, &txt);
    json_decref(v);
    if (rc == TT_OK)
        rc = tt_buf_append(b, txt, strlen(txt));
    free(txt);
    return rc;
}

/* The escape jansson's dump writes for byte c (0 when c stays as it is). */
static size_t quote_len(unsigned char c)
{
    if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' ||
        c == '\t')
        return 2;
    return c < 0x20 ? 6 : 1;
}

int tt_json_quote_inplace(struct tt_buf *b)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)b->data;
    size_t n = b->len, out = 2;

    /* jansson refuses a string that is not UTF-8 (json_stringn). */
    for (size_t i = 0; i < n;) {
        if (u[i] < 0x80) {
            out += quote_len(u[i]);
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (k == 0)
            return TT_ERR_PARSE;
        out += k;
        i += k;
    }
    if (out + 1 > b->cap) {
        char *nd = realloc(b->data, out + 1);
        if (!nd)
            return TT_ERR_NOMEM;
        b->data = nd;
        b->cap = out + 1;
    }
    /* Backwards, so that nothing is overwritten before it is read: the
     * write position never passes the read position. */
    char *d = b->data;
    size_t w = out;
    d[w] = '\0';
    d[--w] = '"';
    for (size_t i = n; i-- > 0;) {
        unsigned char c = (unsigned char)d[i];
        switch (quote_len(c)) {
        case 1:
            d[--w] = (char)c;
            break;
        case 2:
            d[--w] = c == '"' ? '"' : c == '\\' ? '\\' : c == '\b' ? 'b' : c == '\f' ? 'f'
                   : c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            d[--w] = '\\';
            break;
        default:
            d[--w] = hex[c & 0xf];
            d[--w] = hex[c >> 4];
            d[--w] = '0';
            d[--w] = '0';
            d[--w] = 'u';
            d[--w] = '\\';
        }
    }
    d[--w] = '"';
    b->len = out;
    if (b->max < out)
        b->max = out;
    return TT_OK;
}
