/* sink_jsonl.c - optional secondary sink: append spans as JSON lines to the
 * file named by $TOKENTAP_JSONL (created 0600: it holds prompts). The lines
 * are the same objects as `tokentap export --format jsonl` (spanjson.h). */
#include "sink.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spanjson.h"
#include "tt.h"

struct jsonl_ctx {
    int fd;
    struct tt_buf buf;     /* one batch, written with a single append */
    void (*log)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
};

static int jsonl_init(void **ctx, const struct tt_sink_config *cfg)
{
    struct jsonl_ctx *c;

    *ctx = NULL;
    if (!cfg->jsonl_path || !*cfg->jsonl_path)
        return TT_SINK_ERROR;
    c = calloc(1, sizeof(*c));
    if (!c)
        return TT_SINK_ERROR;
    c->fd = open(cfg->jsonl_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (c->fd < 0) {
        cfg->log("jsonl: %s: %s", cfg->jsonl_path, strerror(errno));
        free(c);
        return TT_SINK_ERROR;
    }
    /* A batch can be at most a few frames; cap well above TT_WIRE_MAX_FRAME
     * worth of JSON. */
    tt_buf_init(&c->buf, (size_t)256 << 20);
    c->log = cfg->log;
    *ctx = c;
    return TT_SINK_OK;
}

static int jsonl_write(void *ctx, const struct tt_span *spans, size_t n)
{
    struct jsonl_ctx *c = ctx;
    size_t off = 0;
    int rc = TT_SINK_OK;

    tt_buf_reset(&c->buf);
    for (size_t i = 0; i < n; i++)
        if (tt_span_to_jsonl(&spans[i], &c->buf) != TT_OK) {
            rc = TT_SINK_RETRY;
            goto out;
        }
    /* O_APPEND + whole lines: concurrent readers see complete lines unless
     * the write is short, which we finish below. */
    while (off < c->buf.len) {
        ssize_t w = write(c->fd, c->buf.data + off, c->buf.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            c->log("jsonl: write: %s", strerror(errno));
            rc = TT_SINK_RETRY;
            goto out;
        }
        off += (size_t)w;
    }
out:
    tt_buf_reset(&c->buf);
    return rc;
}

static int jsonl_flush(void *ctx)
{
    struct jsonl_ctx *c = ctx;

    return fdatasync(c->fd) == 0 ? TT_SINK_OK : TT_SINK_RETRY;
}

static void jsonl_exit(void *ctx)
{
    struct jsonl_ctx *c = ctx;

    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    tt_buf_free(&c->buf);
    free(c);
}

const struct tt_sink_ops tt_sink_jsonl = {
    .name = "jsonl",
    .role = TT_SINK_COPY,
    .init = jsonl_init,
    .write = jsonl_write,
    .flush = jsonl_flush,
    .exit = jsonl_exit,
};
