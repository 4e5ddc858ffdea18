/* json.c - type-checked jansson helpers (see json.h). */
#include "json.h"

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

/* Does the body of a JSON string, p[0..n) between its quotes, spell key?
 * Keys are almost never escaped, so that case costs one memchr. */
static bool key_eq(const char *p, size_t n, const char *key, size_t klen)
{
    size_t i = 0, k = 0;

    if (!memchr(p, '\\', n))
        return n == klen && memcmp(p, key, n) == 0;
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

int tt_json_members(const char *buf, size_t len, const char *const *keys,
                    size_t nkeys, struct tt_json_slice *out)
{
    size_t i;

    for (size_t k = 0; k < nkeys; k++) {
        out[k].ptr = NULL;
        out[k].len = 0;
    }
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
        /* No break on a match: a later duplicate must replace it. */
        for (size_t k = 0; k < nkeys; k++) {
            if (key_eq(kp, kn, keys[k], strlen(keys[k]))) {
                out[k].ptr = buf + i;
                out[k].len = vend - i;
            }
        }
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

    if (!s || n == 0)
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
