/* tt.h - shared error codes, small buffers and clock helpers.
 *
 * Every tokentap function returns 0 (TT_OK) or one of the negative codes
 * below; results go through out-parameters. */
#ifndef TT_H
#define TT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TT_WUR __attribute__((warn_unused_result))
#define TT_HIDDEN __attribute__((visibility("hidden")))
#define TT_EXPORT __attribute__((visibility("default")))

enum tt_err {
    TT_OK = 0,
    TT_ERR = -1,         /* generic failure */
    TT_ERR_NOMEM = -2,   /* allocation failed */
    TT_ERR_PARSE = -3,   /* malformed input */
    TT_ERR_CAP = -4,     /* a hard cap was reached; output truncated */
    TT_ERR_UNSUPPORTED = -5,
    TT_ERR_IO = -6,
    TT_ERR_AGAIN = -7,   /* would block / try later */
    TT_ERR_INCOMPLETE = -8, /* input ended before the message did */
    TT_ERR_FULL = -9,    /* no space left (disk or database full) */
    TT_ERR_CORRUPT = -10 /* a file (the store) is damaged */
};

const char *tt_strerror(int err);

/* One HTTP header, pointing into someone else's buffer. */
struct tt_hdr {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};

/* A growable byte buffer with a hard cap (curl's dynbuf idea).
 * Appending past `max` stores what fits, sets `truncated` and returns
 * TT_ERR_CAP. The buffer is always NUL-terminated (data[len] == 0) once it
 * holds anything, so JSON/text consumers may treat it as a C string, but
 * the content may itself contain NUL bytes: use len. */
struct tt_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool truncated;
};

void tt_buf_init(struct tt_buf *b, size_t max);
int tt_buf_append(struct tt_buf *b, const void *p, size_t n) TT_WUR;
/* Room for n more bytes (within max) in one allocation, for a writer that
 * knows about how much it will append; TT_ERR_NOMEM, or TT_OK. */
int tt_buf_reserve(struct tt_buf *b, size_t n) TT_WUR;
int tt_buf_append_str(struct tt_buf *b, const char *s) TT_WUR;
/* printf into the buffer; one call appends at most 1023 bytes (longer
 * output is cut: for human-readable lines). */
int tt_buf_appendf(struct tt_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void tt_buf_reset(struct tt_buf *b);   /* len = 0, keeps memory */
void tt_buf_free(struct tt_buf *b);    /* NULL-safe; buffer reusable after init */
/* Transfer ownership of the data (NUL-terminated, may be NULL when empty). */
char *tt_buf_steal(struct tt_buf *b);

/* Wall clock, Unix epoch nanoseconds. */
int64_t tt_now_ns(void);

/* Case-insensitive compare of a length-delimited token with a C string. */
bool tt_tok_ieq(const char *p, size_t n, const char *s);
/* strndup that never fails silently: returns NULL on OOM. */
char *tt_strndup(const char *p, size_t n);

#endif
