/* ttd_client.c - tokentapd's client I/O (ttd.h): accepting traced
 * processes on the socket, reading their frames, queueing replies.
 *
 * Replies are best effort: a client that does not read its socket gets its
 * replies dropped (whole frames, never half of one) once its small output
 * buffer is full. A frame's spans go to the batch (ttd_batch.c); its ack
 * waits for the batch's commit. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ttd.h"
#include "wire.h"


void ttd_client_free(struct ttd_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    tt_buf_free(&c->in);
    tt_buf_free(&c->out);
    free(c);
}

void ttd_client_try_send(struct ttd_client *c)
{
    while (c->out.len > 0 && !c->dead && !c->mute) {
        ssize_t w = send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;             /* POLLOUT will call us again */
        if (w <= 0) {
            /* EPIPE etc.: the client has gone (a child leaving by _exit
             * right after its call), but what it wrote before leaving is
             * still in our socket: read it to the end and store it
             * (issue #9: those spans were discarded, uncounted). */
            c->mute = true;
            c->out.len = 0;
            return;
        }
        memmove(c->out.data, c->out.data + w, c->out.len - (size_t)w);
        c->out.len -= (size_t)w;
    }
}

void ttd_client_reply(struct ttd_client *c, const char *t,
                      const struct tt_frame_kv *kv, size_t n)
{
    struct tt_buf f;

    if (!c || c->dead || c->mute)
        return;
    tt_buf_init(&f, 4096);
    /* The size check makes a partial append (a torn frame) impossible. */
    if (tt_frame_pack_reply(&f, t, kv, n) == TT_OK && f.len <= TTD_OUT_MAX - c->out.len &&
        tt_buf_append(&c->out, f.data, f.len) != TT_OK)
        ttd_log("client fd %d: reply dropped (out of memory)", c->fd);
    tt_buf_free(&f);
    ttd_client_try_send(c);
}

void ttd_reply_nack(struct ttd_client *c, uint64_t chunk, const char *err, bool retry)
{
    struct tt_frame_kv kv[] = {
        { .key = "chunk", .type = TT_KV_U64, .u = chunk },
        { .key = "error", .type = TT_KV_STR, .s = err },
        { .key = "retry", .type = TT_KV_BOOL, .b = retry },
    };

    ttd_client_reply(c, "nack", kv, retry ? 3 : 2);
}


static void send_hello(struct ttd *d, struct ttd_client *c)
{
    struct tt_frame_kv kv[] = {
        { .key = "db", .type = TT_KV_STR, .s = d->db_path },
        { .key = "pid", .type = TT_KV_I64, .i = (int64_t)getpid() },
        { .key = "version", .type = TT_KV_STR, .s = TT_VERSION },
        { .key = "frames", .type = TT_KV_U64, .u = d->frames },
        { .key = "bad_frames", .type = TT_KV_U64, .u = d->bad_frames },
        { .key = "stored", .type = TT_KV_U64, .u = d->stored },
        { .key = "rejected", .type = TT_KV_U64, .u = d->rejected },
        { .key = "spool_files", .type = TT_KV_U64, .u = d->spool_files },
    };

    ttd_client_reply(c, "hello", kv, sizeof(kv) / sizeof(kv[0]));
}

int ttd_frame(struct ttd *d, struct ttd_client *c, const void *p, size_t n,
              const char *origin)
{
    struct tt_frame f;
    int rc = tt_frame_decode(p, n, &f);

    d->frames++;
    TTD_COUNT(d, frames, 1);
    if (rc != TT_OK) {
        d->bad_frames++;
        TTD_COUNT(d, bad_frames, 1);
        ttd_log("%s: frame refused: %s", origin,
                f.error[0] ? f.error : tt_strerror(rc));
        ttd_reply_nack(c, f.chunk, f.error[0] ? f.error : tt_strerror(rc), rc == TT_ERR_NOMEM);
        tt_frame_clear(&f);
        return TT_ERR_PARSE;
    }
    switch (f.type) {
    case TT_FRAME_SPANS: {
        if (!c)
            ttd_seen_filter(d, &f);
        size_t nspans = f.nspans;
        if (f.rejected) {
            d->rejected += f.rejected;
            TTD_COUNT(d, spans_rejected, f.rejected);
            ttd_log("%s: %zu span(s) rejected: %s", origin, f.rejected, f.error);
        }
        if (ttd_batch_take(d, &f) != TT_OK || ttd_ack_push(d, c, f.chunk, nspans, f.rejected) != TT_OK) {
            ttd_reply_nack(c, f.chunk, "daemon out of memory", true);
            break;
        }
        if (d->nbatch >= TTD_BATCH_SPANS)
            (void)ttd_flush(d);
        break;
    }
    case TT_FRAME_COUNT:
        if (ttd_count_take(d, &f) != TT_OK || ttd_ack_push(d, c, f.chunk, 0, 0) != TT_OK)
            ttd_reply_nack(c, f.chunk, "daemon out of memory", true);
        break;
    case TT_FRAME_SYNC:
        if (c)
            c->sync_pending = true;
        break;
    case TT_FRAME_HELLO:
        send_hello(d, c);
        break;
    case TT_FRAME_STOP:
        if (c) {
            d->stopping = true;
            d->stop_client = c;
        }
        break;
    }
    tt_frame_clear(&f);
    return TT_OK;
}

/* Consume every complete frame in c->in. */
static void client_frames(struct ttd *d, struct ttd_client *c)
{
    size_t off = 0;

    while (!c->dead && c->in.len - off >= 4) {
        uint32_t n = tt_wire_len((const unsigned char *)c->in.data + off);
        if (n == 0 || n > TT_WIRE_MAX_FRAME) {
            /* The stream cannot be resynchronised: drop the client. */
            ttd_log("client fd %d: bad frame length %" PRIu32 ", dropping it", c->fd, n);
            TTD_COUNT(d, clients_dropped, 1);
            c->dead = true;
            break;
        }
        if (c->in.len - off - 4 < n)
            break;
        (void)ttd_frame(d, c, c->in.data + off + 4, n, "client");
        off += 4 + (size_t)n;
    }
    if (off > 0) {
        memmove(c->in.data, c->in.data + off, c->in.len - off);
        c->in.len -= off;
    }
}

void ttd_client_read(struct ttd *d, struct ttd_client *c, size_t budget)
{
    char buf[TTD_READ_CHUNK];
    size_t got = 0;

    while (!c->dead && (budget == 0 || got < budget)) {
        ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            /* EOF or error: frames already complete are still processed. */
            c->dead = true;
            break;
        }
        got += (size_t)r;
        if (tt_buf_append(&c->in, buf, (size_t)r) != TT_OK) {
            ttd_log("client fd %d: input buffer full, dropping it", c->fd);
            TTD_COUNT(d, clients_dropped, 1);
            c->dead = true;
            break;
        }
        client_frames(d, c);
        /* A short read took all there was (a stream socket fills the
         * buffer from every queued segment): another recv would only
         * hear EAGAIN. An EOF behind it shows at the next poll. */
        if ((size_t)r < sizeof(buf))
            break;
    }
    if (c->dead && c->in.len > 0)
        client_frames(d, c);
}

void ttd_accept(struct ttd *d)
{
    for (;;) {
        int fd = accept4(d->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
                errno == ENOMEM) {
                /* The pending connection stays readable: without a pause
                 * the loop would spin and log at full speed. One line per
                 * episode; clients already connected are still served. */
                if (d->accept_pause_until == 0)
                    ttd_log("accept: %s (%zu clients); accepting again when "
                            "descriptors free up", strerror(errno), d->ncl);
                d->accept_pause_until = ttd_mono_ms() + TTD_ACCEPT_PAUSE_MS;
            } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                ttd_log("accept: %s", strerror(errno));
            }
            return;
        }
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 ||
            cred.uid != geteuid()) {
            /* The socket is 0600 in a 0700 directory; this is defence in
             * depth against a loosened mode: spans of another user would
             * land in this user's store. */
            ttd_log("refusing client pid %d uid %d", (int)cred.pid, (int)cred.uid);
            TTD_COUNT(d, clients_refused, 1);
            close(fd);
            continue;
        }
        if (d->ncl >= TTD_MAX_CLIENTS) {
            ttd_log("too many clients (%d), refusing pid %d", TTD_MAX_CLIENTS, (int)cred.pid);
            TTD_COUNT(d, clients_refused, 1);
            close(fd);
            continue;
        }
        struct ttd_client *c = calloc(1, sizeof(*c));
        if (!c) {
            close(fd);
            continue;
        }
        c->fd = fd;
        /* One maximal frame plus one read chunk. */
        tt_buf_init(&c->in, 4 + (size_t)TT_WIRE_MAX_FRAME + TTD_READ_CHUNK);
        tt_buf_init(&c->out, TTD_OUT_MAX);
        d->cl[d->ncl++] = c;
    }
}

void ttd_reap(struct ttd *d)
{
    size_t j = 0;

    for (size_t i = 0; i < d->ncl; i++) {
        if (d->cl[i]->dead) {
            /* Its frames may wait for a commit: their acks go nowhere. */
            for (size_t k = 0; k < d->nacks; k++)
                if (d->acks[k].c == d->cl[i])
                    d->acks[k].c = NULL;
            for (size_t k = 0; k < d->fnacks; k++)
                if (d->facks[k].c == d->cl[i])
                    d->facks[k].c = NULL;
            ttd_client_free(d->cl[i]);
        } else {
            d->cl[j++] = d->cl[i];
        }
    }
    d->ncl = j;
}


void ttd_sync(struct ttd *d)
{
    bool any = false;

    for (size_t i = 0; i < d->ncl; i++)
        any |= d->cl[i]->sync_pending;
    if (!any)
        return;
    /* Everything any client managed to write before we answer is part of
     * what "synced" promises: read every other socket dry first. */
    for (size_t i = 0; i < d->ncl; i++)
        if (!d->cl[i]->sync_pending)
            ttd_client_read(d, d->cl[i], 0);
    ttd_spool(d);
    (void)ttd_drain(d);
    for (size_t i = 0; i < d->ncl; i++) {
        struct ttd_client *c = d->cl[i];
        if (!c->sync_pending)
            continue;
        c->sync_pending = false;
        struct tt_frame_kv kv[] = {
            { .key = "stored", .type = TT_KV_U64, .u = d->stored },
            { .key = "unstored", .type = TT_KV_U64, .u = d->unstored },
            { .key = "error", .type = TT_KV_STR, .s = d->store_error },
        };
        ttd_client_reply(c, "synced", kv, d->unstored ? 3 : 1);
    }
}
