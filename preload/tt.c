/* tt.c - error strings, capped buffers, clock. */
#include "tt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *tt_strerror(int err)
{
    switch (err) {
    case TT_OK: return "ok";
    case TT_ERR_NOMEM: return "out of memory";
    case TT_ERR_PARSE: return "malformed input";
    case TT_ERR_CAP: return "size cap reached";
    case TT_ERR_UNSUPPORTED: return "unsupported";
    case TT_ERR_IO: return "i/o error";
    case TT_ERR_AGAIN: return "try again";
    case TT_ERR_INCOMPLETE: return "incomplete";
    case TT_ERR_FULL: return "disk or database full";
    case TT_ERR_CORRUPT: return "file is corrupt";
    default: return "error";
    }
}

void tt_buf_init(struct tt_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->truncated = false;
}

int tt_buf_append(struct tt_buf *b, const void *p, size_t n)
{
    int rc = TT_OK;

    if (n > b->max - b->len) {
        n = b->max - b->len;
        b->truncated = true;
        rc = TT_ERR_CAP;
    }
    if (n == 0)
        return rc;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1)
            ncap *= 2;
        if (ncap > b->max + 1)
            ncap = b->max + 1;
        char *nd = realloc(b->data, ncap);
        if (!nd)
            return TT_ERR_NOMEM;
        b->data = nd;
        b->cap = ncap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return rc;
}

int tt_buf_reserve(struct tt_buf *b, size_t n)
{
    if (n > b->max - b->len)
        n = b->max - b->len;
    if (b->len + n + 1 <= b->cap)
        return TT_OK;
    char *nd = realloc(b->data, b->len + n + 1);
    if (!nd)
        return TT_ERR_NOMEM;
    if (!b->data)
        nd[0] = '\0';
    b->data = nd;
    b->cap = b->len + n + 1;
    return TT_OK;
}

int tt_buf_append_str(struct tt_buf *b, const char *s)
{
    return tt_buf_append(b, s, strlen(s));
}

int tt_buf_appendf(struct tt_buf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    va_start(ap, fmt);
    int w = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (w < 0)
        return TT_ERR;
    return tt_buf_append(b, line, (size_t)w < sizeof(line) ? (size_t)w : sizeof(line) - 1);
}

void tt_buf_reset(struct tt_buf *b)
{
    b->len = 0;
    b->truncated = false;
    if (b->data)
        b->data[0] = '\0';
}

void tt_buf_free(struct tt_buf *b)
{
    if (!b)
        return;
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->truncated = false;
}

char *tt_buf_steal(struct tt_buf *b)
{
    char *d = b->data;

    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return d;
}

int64_t tt_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool tt_tok_ieq(const char *p, size_t n, const char *s)
{
    return strlen(s) == n && strncasecmp(p, s, n) == 0;
}

char *tt_strndup(const char *p, size_t n)
{
    char *d = malloc(n + 1);

    if (!d)
        return NULL;
    memcpy(d, p, n);
    d[n] = '\0';
    return d;
}
