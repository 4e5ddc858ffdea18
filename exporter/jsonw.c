/* jsonw.c - JSON text into a tt_buf (see jsonw.h). */
#include "jsonw.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int tt_jw_strn(struct tt_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    int rc = tt_buf_append(b, "\"", 1);

    for (size_t i = 0; rc == TT_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        /* Flush the plain run before the escape. */
        if ((rc = tt_buf_append(b, s + run, i - run)) != TT_OK)
            break;
        run = i + 1;
        char e[7] = { '\\', 0 };
        size_t el = 2;
        switch (c) {
        case '"': e[1] = '"'; break;
        case '\\': e[1] = '\\'; break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            memcpy(e + 1, "u00", 3);
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            el = 6;
        }
        rc = tt_buf_append(b, e, el);
    }
    if (rc == TT_OK)
        rc = tt_buf_append(b, s + run, n - run);
    if (rc == TT_OK)
        rc = tt_buf_append(b, "\"", 1);
    return rc;
}

int tt_jw_str(struct tt_buf *b, const char *s)
{
    return tt_jw_strn(b, s ? s : "", s ? strlen(s) : 0);
}

int tt_jw_f64(struct tt_buf *b, double v)
{
    if (!isfinite(v))
        return tt_buf_append(b, "null", 4);
    return tt_buf_appendf(b, "%.15g", v);
}

int tt_jw_i64(struct tt_buf *b, int64_t v)
{
    return tt_buf_appendf(b, "%" PRId64, v);
}
