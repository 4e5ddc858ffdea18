/* tokentapd.c - the exporter daemon.
 *
 *   tokentapd [--socket PATH] [--db PATH] [--spool DIR] [--foreground]
 *             [--idle-exit SECONDS] [--pidfile FILE]
 *
 * One poll() loop, plus one writer thread for the sinks. Clients (traced
 * processes of the same user) connect to a unix stream socket and send
 * length-prefixed msgpack frames (wire.h). Frames are decoded and validated
 * as untrusted input (frame.h); the valid spans read while the writer is
 * busy go to the sinks as one batch (one SQLite transaction), and each frame
 * is acknowledged only after that commit. The writer thread only commits:
 * decoding the next batch overlaps the commit of the previous one, which
 * took the daemon from one core's worth of decode + SQLite to whichever of
 * the two is slower (SQLite). All replies are sent from the loop. The spool directory, where clients park frames while the
 * daemon is down, is ingested at start, on every "sync" and every 2 s.
 *
 * Replies are best effort: a client that does not read its socket gets its
 * replies dropped (whole frames, never half of one) once its small output
 * buffer is full. Delivery is at-least-once; spans are idempotent by
 * span_id, so replays from clients or the spool never duplicate rows. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "frame.h"
#include "gwchild.h"
#include "sink.h"
#include "store.h"
#include "tt.h"
#include "ui.h"
#include "wire.h"

#ifndef TT_VERSION
#define TT_VERSION "0.1.0"
#endif

#define TTD_MAX_CLIENTS 1024
#define TTD_READ_CHUNK 65536
#define TTD_READ_BUDGET (4u << 20)   /* bytes per client per iteration */
#define TTD_OUT_MAX 65536            /* pending replies per client */
#define TTD_BATCH_SPANS 5000         /* commit early past this */
#define TTD_SPOOL_PERIOD_MS 2000
#define TTD_ACCEPT_PAUSE_MS 100      /* listener rest after EMFILE */
#define TTD_SPOOL_FRESH_S 5          /* a partial tail this recent is live */
#define TTD_SPOOL_MEMO 256
#define TTD_SEEN 65536               /* recent span keys (power of two) */

struct ttd_client {
    int fd;
    struct tt_buf in;       /* received bytes not yet consumed */
    struct tt_buf out;      /* replies not yet sent (whole frames) */
    bool sync_pending;
    bool mute;              /* replies cannot be sent (EPIPE): still read */
    bool dead;              /* closed at the end of the iteration */
};

/* A frame waiting for the commit of the current batch. */
struct ttd_ack {
    struct ttd_client *c;   /* NULL for spool frames */
    uint64_t chunk;
    size_t stored;
    size_t rejected;
};

struct ttd_sink {
    const struct tt_sink_ops *ops;
    void *ctx;
};

/* A spool file kept because its tail was still being written: where its
 * complete frames end, so the next pass does not re-read them. */
struct ttd_memo {
    dev_t dev;
    ino_t ino;
    off_t off;
    char name[96];          /* an inode is reused once its file is gone */
};

struct ttd {
    char sock_path[PATH_MAX];
    char db_path[PATH_MAX];
    char spool_dir[PATH_MAX];
    char pidfile_buf[PATH_MAX];
    const char *pidfile;
    int lfd;
    int lockfd;
    long idle_exit_s;       /* 0 = never */
    struct tt_gwchild gw;   /* TOKENTAP_GATEWAY_LISTEN (gwchild.h) */

    struct ttd_client *cl[TTD_MAX_CLIENTS];
    size_t ncl;

    /* The batch being filled by the loop. */
    struct tt_span *batch;
    size_t nbatch, capbatch;
    struct tt_proc_count *counts;   /* "count" frames in this batch */
    size_t ncounts, capcounts;
    struct tt_sink_deltas delta;    /* counters not yet handed to a batch */
    struct ttd_ack *acks;
    size_t nacks, capacks;

    /* The batch handed to the writer thread (state W_BUSY), committed but
     * not yet answered (W_DONE), or none (W_IDLE). Its spans belong to the
     * writer while W_BUSY; its acks only ever to the loop. */
    struct tt_span *fbatch;
    size_t fnbatch, fcapbatch;
    struct tt_proc_count *fcounts;
    size_t fncounts, fcapcounts;
    struct tt_sink_deltas fdelta;
    struct ttd_ack *facks;
    size_t fnacks, fcapacks;
    int frc;                    /* the primary sink's answer */
    enum { W_IDLE, W_BUSY, W_DONE } wstate;
    bool wquit;
    bool writer_up, writer_failed;
    pthread_t writer;
    pthread_mutex_t mu;         /* wstate, wquit, frc */
    pthread_cond_t cv;
    int wake[2];                /* writer -> poll(): a batch is committed */

    struct ttd_sink sinks[4];   /* [0] is the primary: acks depend on it */
    size_t nsinks;

    struct ttd_memo memo[TTD_SPOOL_MEMO];
    size_t nmemo;

    bool stopping;
    struct ttd_client *stop_client;
    int64_t last_active_ns;
    /* accept() ran out of descriptors (EMFILE...): the listener is left out
     * of poll() until then (mono ms), or the loop would spin on it. */
    int64_t accept_pause_until;

    /* counters since start, reported by "hello"; what the store keeps
     * (table counters) is summed over lifetimes from d->delta */
    uint64_t frames, bad_frames, stored, rejected, spool_files;
    /* Spans the primary sink refused to commit in this daemon's life (a
     * full disk, a corrupt or locked store), and why: "synced" says so, so
     * that `tokentap run` can tell the user instead of "no LLM calls". */
    uint64_t unstored;
    char store_error[512];
    int reserve_fd;             /* preallocated for counters at exit, or -1 */
    uint64_t seen[TTD_SEEN];    /* recent spans taken, by ttd_span_key */
    uint64_t spool_dups;
    char reserve_path[PATH_MAX];
};

static volatile sig_atomic_t ttd_signal;

__attribute__((format(printf, 1, 2)))
static void ttd_log(const char *fmt, ...)
{
    va_list ap;
    char line[512];

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tokentapd: %s\n", line);
}

__attribute__((format(printf, 1, 2)))
static void ttd_log_quiet(const char *fmt, ...)
{
    (void)fmt;
}

/* Count an event both for "hello" (since start) and for the store. */
#define TTD_COUNT(d, field, n) ((d)->delta.field += (n))

static bool deltas_zero(const struct tt_sink_deltas *x)
{
    static const struct tt_sink_deltas zero;

    return !memcmp(x, &zero, sizeof(zero));
}

static void deltas_add(struct tt_sink_deltas *to, const struct tt_sink_deltas *x)
{
#define ADD(n) to->n += x->n;
    TT_SINK_COUNTER_NAMES(ADD)
#undef ADD
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_signal(int sig)
{
    ttd_signal = sig;
}

/* ---- clients ------------------------------------------------------------- */

static void client_free(struct ttd_client *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    tt_buf_free(&c->in);
    tt_buf_free(&c->out);
    free(c);
}

static void client_try_send(struct ttd_client *c)
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

/* Queue one reply frame; dropped whole if the client is not reading. */
static void client_reply(struct ttd_client *c, const char *t,
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
    client_try_send(c);
}

static void reply_nack(struct ttd_client *c, uint64_t chunk, const char *err, bool retry)
{
    struct tt_frame_kv kv[] = {
        { .key = "chunk", .type = TT_KV_U64, .u = chunk },
        { .key = "error", .type = TT_KV_STR, .s = err },
        { .key = "retry", .type = TT_KV_BOOL, .b = retry },
    };

    client_reply(c, "nack", kv, retry ? 3 : 2);
}

/* ---- recent spans --------------------------------------------------------
 *
 * A process that leaves before its frames are acknowledged spools them too
 * (issue #9: it no longer waits a second), and this daemon usually has
 * them from the socket already. The store would not mind (rows are keyed by
 * span_id), but forwarders would send them twice. So the spans of every
 * batch are remembered in a direct-mapped table, and a spool span found
 * there is dropped. A slot holds one key: a collision forgets the older
 * span (a duplicate may then be forwarded: at least once), it never drops
 * a span that was not taken. A batch the store refused is forgotten, so
 * its spooled copy is taken. The key includes end_time: a process span's
 * provisional and final versions share a span_id and both go through. */
static uint64_t ttd_span_key(const struct tt_span *sp)
{
    uint64_t h = 1469598103934665603ULL;

    for (const char *c = sp->span_id; c && *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h ^= (uint64_t)sp->end_time * 0x9E3779B97F4A7C15ULL;
    return h ? h : 1;
}

static void seen_mark(struct ttd *d, const struct tt_span *b, size_t n, bool on)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t k = ttd_span_key(&b[i]);
        uint64_t *slot = &d->seen[k & (TTD_SEEN - 1)];
        if (on)
            *slot = k;
        else if (*slot == k)
            *slot = 0;
    }
}

/* Drop from a spool frame the spans this daemon took already. */
static void seen_filter(struct ttd *d, struct tt_frame *f)
{
    size_t j = 0;

    for (size_t i = 0; i < f->nspans; i++) {
        uint64_t k = ttd_span_key(&f->spans[i]);
        if (d->seen[k & (TTD_SEEN - 1)] == k) {
            tt_span_clear(&f->spans[i]);
            d->spool_dups++;
        } else {
            f->spans[j++] = f->spans[i];
        }
    }
    f->nspans = j;
}

/* ---- batch and sinks ----------------------------------------------------- */

static int batch_take(struct ttd *d, struct tt_frame *f)
{
    if (d->nbatch + f->nspans > d->capbatch) {
        size_t ncap = d->capbatch ? d->capbatch : 256;
        while (ncap < d->nbatch + f->nspans)
            ncap *= 2;
        struct tt_span *nb = realloc(d->batch, ncap * sizeof(*nb));
        if (!nb)
            return TT_ERR_NOMEM;
        d->batch = nb;
        d->capbatch = ncap;
    }
    /* Move the spans (their strings change owner); the frame keeps nothing. */
    seen_mark(d, f->spans, f->nspans, true);
    if (f->nspans)
        memcpy(d->batch + d->nbatch, f->spans, f->nspans * sizeof(*f->spans));
    d->nbatch += f->nspans;
    free(f->spans);
    f->spans = NULL;
    f->nspans = 0;
    return TT_OK;
}

static int count_take(struct ttd *d, struct tt_frame *f)
{
    if (d->ncounts == d->capcounts) {
        size_t ncap = d->capcounts ? d->capcounts * 2 : 16;
        struct tt_proc_count *nc = realloc(d->counts, ncap * sizeof(*nc));
        if (!nc)
            return TT_ERR_NOMEM;
        d->counts = nc;
        d->capcounts = ncap;
    }
    d->counts[d->ncounts++] = f->count;     /* exe changes owner */
    f->count.exe = NULL;
    return TT_OK;
}

static int ack_push(struct ttd *d, struct ttd_client *c, uint64_t chunk,
                    size_t stored, size_t rejected)
{
    if (d->nacks == d->capacks) {
        size_t ncap = d->capacks ? d->capacks * 2 : 64;
        struct ttd_ack *na = realloc(d->acks, ncap * sizeof(*na));
        if (!na)
            return TT_ERR_NOMEM;
        d->acks = na;
        d->capacks = ncap;
    }
    d->acks[d->nacks++] = (struct ttd_ack){ c, chunk, stored, rejected };
    return TT_OK;
}

/* Write a batch to every sink; the primary's result decides the acks.
 * Runs on the writer thread, or inline if there is none. */
static int sinks_write(struct ttd *d, const struct tt_span *b, size_t n,
                       const struct tt_sink_deltas *delta,
                       const struct tt_proc_count *pc, size_t npc)
{
    const struct tt_sink_ops *p = d->sinks[0].ops;
    int rc = TT_SINK_OK;

    /* Forwarders stage the batch first (sink.h: at least once). */
    for (size_t i = 1; n > 0 && i < d->nsinks; i++)
        if (d->sinks[i].ops->commit)
            (void)d->sinks[i].ops->write(d->sinks[i].ctx, b, n);
    if (n > 0)
        rc = p->write(d->sinks[0].ctx, b, n);
    for (size_t i = 1; n > 0 && i < d->nsinks; i++)
        if (d->sinks[i].ops->commit)
            d->sinks[i].ops->commit(d->sinks[i].ctx, rc == TT_SINK_OK);
    if (rc != TT_SINK_OK) {
        ttd_log("sink %s: write of %zu spans failed (%s)", p->name, n,
                rc == TT_SINK_RETRY ? "retry" : "error");
        return rc;
    }
    if (p->counts && (npc > 0 || !deltas_zero(delta)) &&
        (rc = p->counts(d->sinks[0].ctx, delta, pc, npc)) != TT_SINK_OK) {
        ttd_log("sink %s: write of counters failed (%s)", p->name,
                rc == TT_SINK_RETRY ? "retry" : "error");
        return rc;
    }
    if (n == 0)
        return rc;
    for (size_t i = 1; i < d->nsinks; i++)
        if (!d->sinks[i].ops->commit &&
            d->sinks[i].ops->write(d->sinks[i].ctx, b, n) != TT_SINK_OK)
            ttd_log("sink %s: write of %zu spans failed", d->sinks[i].ops->name, n);
    return rc;
}

/* Process counters (what traced processes lost) the store refused are
 * kept for the next batch, up to this many: they are cumulative per
 * process, so a late write is as good (issue #9: a full disk lost them). */
#define TTD_COUNTS_KEEP 4096

/* After the write of a batch: answer every frame in it, free its spans.
 * Returns how many of pc were kept (a failed write, when pc is d->counts
 * itself: the caller keeps that many). */
static size_t batch_answer(struct ttd *d, struct tt_span *b, size_t nb,
                           const struct ttd_ack *acks, size_t na,
                           struct tt_proc_count *pc, size_t npc,
                           const struct tt_sink_deltas *delta, int rc)
{
    size_t kept = 0;

    const char *why = "store unavailable";
    if (rc == TT_SINK_OK) {
        d->stored += nb;
    } else {
        deltas_add(&d->delta, delta);   /* kept for the next batch */
        d->unstored += nb;
        seen_mark(d, b, nb, false);     /* their spooled copies are needed */
        const char *m = d->sinks[0].ops->errmsg ? d->sinks[0].ops->errmsg(d->sinks[0].ctx) : NULL;
        if (m) {
            why = m;
            snprintf(d->store_error, sizeof(d->store_error), "%s", m);
        }
    }
    if (rc != TT_SINK_OK && pc == d->counts) {
        kept = npc < TTD_COUNTS_KEEP ? npc : TTD_COUNTS_KEEP;
    } else if (rc != TT_SINK_OK) {
        for (size_t i = 0; i < npc && d->ncounts < TTD_COUNTS_KEEP; i++) {
            struct tt_frame f = { .count = pc[i] };
            if (count_take(d, &f) == TT_OK)
                pc[i].exe = NULL;       /* moved */
        }
    }
    for (size_t i = kept; i < npc; i++) {
        free(pc[i].exe);
        pc[i].exe = NULL;
    }
    for (size_t i = 0; i < na; i++) {
        const struct ttd_ack *a = &acks[i];
        if (!a->c)
            continue;
        if (rc == TT_SINK_OK) {
            struct tt_frame_kv kv[] = {
                { .key = "chunk", .type = TT_KV_U64, .u = a->chunk },
                { .key = "stored", .type = TT_KV_U64, .u = a->stored },
                { .key = "rejected", .type = TT_KV_U64, .u = a->rejected },
            };
            client_reply(a->c, "ack", kv, 3);
        } else {
            reply_nack(a->c, a->chunk, why, rc == TT_SINK_RETRY);
        }
    }
    for (size_t i = 0; i < nb; i++)
        tt_span_clear(&b[i]);
    return kept;
}

static void *writer_main(void *arg)
{
    struct ttd *d = arg;

    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (d->wstate != W_BUSY && !d->wquit)
            pthread_cond_wait(&d->cv, &d->mu);
        if (d->wstate != W_BUSY)
            break;      /* asked to quit, nothing pending */
        pthread_mutex_unlock(&d->mu);
        int rc = sinks_write(d, d->fbatch, d->fnbatch, &d->fdelta, d->fcounts,
                             d->fncounts);
        pthread_mutex_lock(&d->mu);
        d->frc = rc;
        d->wstate = W_DONE;
        pthread_cond_broadcast(&d->cv);
        /* Non-blocking: a full pipe already wakes poll(). */
        char b = 1;
        if (write(d->wake[1], &b, 1) < 0 && errno != EAGAIN)
            ttd_log("writer: wake: %s", strerror(errno));
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Started on the first batch, so never before daemonize() forks (threads
 * do not survive a fork). Without it, batches are written inline. */
static bool writer_start(struct ttd *d)
{
    sigset_t all, old;

    if (d->writer_up || d->writer_failed)
        return d->writer_up;
    if (pipe2(d->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        ttd_log("writer: pipe: %s (writing inline)", strerror(errno));
        d->writer_failed = true;
        return false;
    }
    /* Signals must interrupt the loop's poll(), not land on the writer. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&d->writer, NULL, writer_main, d);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        ttd_log("writer: %s (writing inline)", strerror(e));
        close(d->wake[0]);
        close(d->wake[1]);
        d->wake[0] = d->wake[1] = -1;
        d->writer_failed = true;
        return false;
    }
    d->writer_up = true;
    return true;
}

static bool writer_busy(struct ttd *d)
{
    bool busy;

    if (!d->writer_up)
        return false;
    pthread_mutex_lock(&d->mu);
    busy = d->wstate == W_BUSY;
    pthread_mutex_unlock(&d->mu);
    return busy;
}

/* Answer the writer's batch once committed (waiting for that if block).
 * Returns the primary sink's result for it; TT_SINK_OK if there was none. */
static int ttd_complete(struct ttd *d, bool block)
{
    int rc;

    if (!d->writer_up)
        return TT_SINK_OK;
    pthread_mutex_lock(&d->mu);
    while (block && d->wstate == W_BUSY)
        pthread_cond_wait(&d->cv, &d->mu);
    if (d->wstate != W_DONE) {
        pthread_mutex_unlock(&d->mu);
        return TT_SINK_OK;
    }
    rc = d->frc;
    d->wstate = W_IDLE;
    pthread_mutex_unlock(&d->mu);
    (void)batch_answer(d, d->fbatch, d->fnbatch, d->facks, d->fnacks, d->fcounts,
                       d->fncounts, &d->fdelta, rc);
    d->fnbatch = 0;
    d->fnacks = 0;
    d->fncounts = 0;
    memset(&d->fdelta, 0, sizeof(d->fdelta));
    return rc;
}

static void writer_stop(struct ttd *d)
{
    if (!d->writer_up)
        return;
    (void)ttd_complete(d, true);
    pthread_mutex_lock(&d->mu);
    d->wquit = true;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    pthread_join(d->writer, NULL);
    close(d->wake[0]);
    close(d->wake[1]);
    d->wake[0] = d->wake[1] = -1;
    d->writer_up = false;
}

/* Start the commit of the current batch: hand it to the writer once the
 * previous one is committed and answered (the back-pressure: at most one
 * batch in the writer, one filling). Without a writer, commit and answer
 * here and return the result; with one, TT_SINK_OK (the result comes with
 * ttd_complete). */
static int ttd_flush(struct ttd *d)
{
    if (d->nbatch == 0 && d->nacks == 0 && d->ncounts == 0 && deltas_zero(&d->delta))
        return TT_SINK_OK;
    if (!writer_start(d)) {
        struct tt_sink_deltas delta = d->delta;
        memset(&d->delta, 0, sizeof(d->delta));
        int rc = sinks_write(d, d->batch, d->nbatch, &delta, d->counts, d->ncounts);
        size_t kept = batch_answer(d, d->batch, d->nbatch, d->acks, d->nacks,
                                   d->counts, d->ncounts, &delta, rc);
        d->nbatch = 0;
        d->nacks = 0;
        d->ncounts = kept;
        return rc;
    }
    (void)ttd_complete(d, true);
    /* Swap the two batches' buffers: both keep their capacity. */
    struct tt_span *b = d->fbatch;
    size_t cb = d->fcapbatch;
    struct ttd_ack *a = d->facks;
    size_t ca = d->fcapacks;
    d->fbatch = d->batch;
    d->fnbatch = d->nbatch;
    d->fcapbatch = d->capbatch;
    d->facks = d->acks;
    d->fnacks = d->nacks;
    d->fcapacks = d->capacks;
    d->batch = b;
    d->capbatch = cb;
    d->nbatch = 0;
    d->acks = a;
    d->capacks = ca;
    d->nacks = 0;
    struct tt_proc_count *pc = d->fcounts;
    size_t cc = d->fcapcounts;
    d->fcounts = d->counts;
    d->fncounts = d->ncounts;
    d->fcapcounts = d->capcounts;
    d->counts = pc;
    d->capcounts = cc;
    d->ncounts = 0;
    d->fdelta = d->delta;
    memset(&d->delta, 0, sizeof(d->delta));
    pthread_mutex_lock(&d->mu);
    d->wstate = W_BUSY;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return TT_SINK_OK;
}

/* Commit and answer everything read so far; the result of the last batch.
 * For whoever must know it is stored: "synced", the spool, exit. */
static int ttd_drain(struct ttd *d)
{
    int rc = ttd_flush(d);
    int rc2 = ttd_complete(d, true);

    return rc != TT_SINK_OK ? rc : rc2;
}

static void ttd_flush_sinks(struct ttd *d)
{
    (void)ttd_complete(d, true);    /* the writer must not be in a sink */
    for (size_t i = 0; i < d->nsinks; i++)
        if (d->sinks[i].ops->flush)
            (void)d->sinks[i].ops->flush(d->sinks[i].ctx);
}

/* The forwarders' counters (sent, dropped...) into the next batch's deltas.
 * Loop thread only (d->delta is its own). */
static void ttd_take_counts(struct ttd *d)
{
    for (size_t i = 1; i < d->nsinks; i++)
        if (d->sinks[i].ops->take)
            d->sinks[i].ops->take(d->sinks[i].ctx, &d->delta);
}

/* ---- frames -------------------------------------------------------------- */

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

    client_reply(c, "hello", kv, sizeof(kv) / sizeof(kv[0]));
}

/* Handle one payload from a client (c) or from the spool (c == NULL).
 * Returns TT_OK, or TT_ERR_PARSE when the frame was refused. */
static int ttd_frame(struct ttd *d, struct ttd_client *c, const void *p, size_t n,
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
        reply_nack(c, f.chunk, f.error[0] ? f.error : tt_strerror(rc), rc == TT_ERR_NOMEM);
        tt_frame_clear(&f);
        return TT_ERR_PARSE;
    }
    switch (f.type) {
    case TT_FRAME_SPANS: {
        if (!c)
            seen_filter(d, &f);
        size_t nspans = f.nspans;
        if (f.rejected) {
            d->rejected += f.rejected;
            TTD_COUNT(d, spans_rejected, f.rejected);
            ttd_log("%s: %zu span(s) rejected: %s", origin, f.rejected, f.error);
        }
        if (batch_take(d, &f) != TT_OK || ack_push(d, c, f.chunk, nspans, f.rejected) != TT_OK) {
            reply_nack(c, f.chunk, "daemon out of memory", true);
            break;
        }
        if (d->nbatch >= TTD_BATCH_SPANS)
            (void)ttd_flush(d);
        break;
    }
    case TT_FRAME_COUNT:
        if (count_take(d, &f) != TT_OK || ack_push(d, c, f.chunk, 0, 0) != TT_OK)
            reply_nack(c, f.chunk, "daemon out of memory", true);
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

/* Read what the client sent. budget == 0: until EAGAIN (sync drain). */
static void client_read(struct ttd *d, struct ttd_client *c, size_t budget)
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
    }
    if (c->dead && c->in.len > 0)
        client_frames(d, c);
}

static void ttd_accept(struct ttd *d)
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
                d->accept_pause_until = mono_ms() + TTD_ACCEPT_PAUSE_MS;
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

static void ttd_reap(struct ttd *d)
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
            client_free(d->cl[i]);
        } else {
            d->cl[j++] = d->cl[i];
        }
    }
    d->ncl = j;
}

/* ---- spool --------------------------------------------------------------- */

static struct ttd_memo *memo_find(struct ttd *d, const struct stat *sb,
                                  const char *name)
{
    for (size_t i = 0; i < d->nmemo; i++)
        if (d->memo[i].dev == sb->st_dev && d->memo[i].ino == sb->st_ino &&
            strncmp(d->memo[i].name, name, sizeof(d->memo[i].name) - 1) == 0)
            return &d->memo[i];
    return NULL;
}

static void memo_forget(struct ttd *d, struct ttd_memo *m)
{
    if (m)
        *m = d->memo[--d->nmemo];
}

static void memo_set(struct ttd *d, const struct stat *sb, const char *name, off_t off)
{
    struct ttd_memo *m = memo_find(d, sb, name);

    if (!m) {
        if (d->nmemo == TTD_SPOOL_MEMO)
            return;     /* only an optimisation: re-reading is idempotent */
        m = &d->memo[d->nmemo++];
    }
    *m = (struct ttd_memo){ sb->st_dev, sb->st_ino, off, "" };
    snprintf(m->name, sizeof(m->name), "%s", name);
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return TT_ERR_IO;
        got += (size_t)r;
    }
    return TT_OK;
}

/* Ingest one spool file. Returns TT_ERR_AGAIN when the store refused the
 * batch (keep the file, stop this pass), else TT_OK. */
static int spool_file(struct ttd *d, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat sb;
    char *payload = NULL;
    off_t off = 0;
    bool partial = false, corrupt = false;
    int rc = TT_OK;

    if (fd < 0)
        return TT_OK;
    /* A writer appends under LOCK_EX (wire.h): never read a file mid-append. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto out;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
        goto out;
    struct ttd_memo *m = memo_find(d, &sb, name);
    if (m && m->off <= sb.st_size)
        off = m->off;
    while (off < sb.st_size) {
        unsigned char hdr[4];
        if (sb.st_size - off < 4) {
            partial = true;
            break;
        }
        if (read_full(fd, hdr, 4, off) != TT_OK) {
            partial = true;
            break;
        }
        uint32_t n = tt_wire_len(hdr);
        if (n == 0 || n > TT_WIRE_MAX_FRAME) {
            /* No way to find the next frame boundary: the rest is lost. */
            ttd_log("spool %s: bad frame length at offset %lld, skipping the rest",
                    name, (long long)off);
            d->bad_frames++;
            TTD_COUNT(d, bad_frames, 1);
            TTD_COUNT(d, spool_frames_dropped, 1);
            corrupt = true;
            break;
        }
        if (sb.st_size - off - 4 < (off_t)n) {
            partial = true;
            break;
        }
        char *np = realloc(payload, n);
        if (!np) {
            rc = TT_ERR_AGAIN;
            goto out;
        }
        payload = np;
        if (read_full(fd, payload, n, off + 4) != TT_OK) {
            partial = true;
            break;
        }
        (void)ttd_frame(d, NULL, payload, n, name);    /* bad frames counted, skipped */
        off += 4 + (off_t)n;
        if (d->nbatch >= TTD_BATCH_SPANS && ttd_drain(d) != TT_SINK_OK) {
            rc = TT_ERR_AGAIN;
            goto out;
        }
    }
    /* The file goes only once its spans are committed. */
    if (ttd_drain(d) != TT_SINK_OK) {
        rc = TT_ERR_AGAIN;
        goto out;
    }
    time_t now = time(NULL);
    if (partial && !corrupt && now - sb.st_mtime < TTD_SPOOL_FRESH_S) {
        memo_set(d, &sb, name, off);  /* a live writer: come back for the rest */
        goto out;
    }
    if (partial) {
        ttd_log("spool %s: dropping an incomplete last frame", name);
        TTD_COUNT(d, spool_frames_dropped, 1);
    }
    if (unlinkat(dirfd, name, 0) != 0)
        ttd_log("spool %s: unlink: %s", name, strerror(errno));
    memo_forget(d, memo_find(d, &sb, name));
    d->spool_files++;
    TTD_COUNT(d, spool_files, 1);
out:
    free(payload);
    if (fd >= 0)
        close(fd);      /* releases the lock */
    return rc;
}

static void ttd_spool(struct ttd *d)
{
    DIR *dir = opendir(d->spool_dir);
    struct dirent *e;

    if (!dir)
        return;     /* no spool yet: nothing was ever spooled */
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 6 || strcmp(e->d_name + n - 6, ".spool") != 0)
            continue;
        if (spool_file(d, dirfd(dir), e->d_name) != TT_OK)
            break;
    }
    closedir(dir);
}

/* ---- sync / stop ---------------------------------------------------------- */

static void ttd_sync(struct ttd *d)
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
            client_read(d, d->cl[i], 0);
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
        client_reply(c, "synced", kv, d->unstored ? 3 : 1);
    }
}

/* ---- setup --------------------------------------------------------------- */

static int dir_of(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    size_t len = slash ? (size_t)(slash - path) : 0;

    if (len == 0 || len >= n)
        return TT_ERR;
    memcpy(out, path, len);
    out[len] = '\0';
    return TT_OK;
}

/* Bind the listening socket, after making sure no live daemon owns it.
 * A lock file next to the socket serialises concurrent auto-starts.
 * Returns 0, 1 when another daemon is running, or -1. */
static int ttd_listen(struct ttd *d)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char dir[PATH_MAX], lock[PATH_MAX + 8];
    mode_t old;

    if (strlen(d->sock_path) > TT_WIRE_SUN_PATH_MAX) {
        ttd_log("socket path longer than %d bytes: %s", TT_WIRE_SUN_PATH_MAX, d->sock_path);
        return -1;
    }
    if (dir_of(d->sock_path, dir, sizeof(dir)) == TT_OK && tt_wire_mkdirs(dir) != TT_OK) {
        ttd_log("%s: %s", dir, strerror(errno));
        return -1;
    }
    snprintf(lock, sizeof(lock), "%s.lock", d->sock_path);
    d->lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (d->lockfd < 0) {
        ttd_log("%s: %s", lock, strerror(errno));
        return -1;
    }
    if (flock(d->lockfd, LOCK_EX | LOCK_NB) != 0)
        return 1;
    /* We hold the lock: whatever socket file exists is stale. */
    memcpy(sa.sun_path, d->sock_path, strlen(d->sock_path) + 1);
    struct stat sb;
    if (lstat(d->sock_path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode)) {
            ttd_log("%s exists and is not a socket", d->sock_path);
            return -1;
        }
        unlink(d->sock_path);
    }
    d->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->lfd < 0) {
        ttd_log("socket: %s", strerror(errno));
        return -1;
    }
    old = umask(077);   /* the socket file is born 0600-ish, no window */
    int b = bind(d->lfd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (b != 0 || chmod(d->sock_path, 0600) != 0 || listen(d->lfd, SOMAXCONN) != 0) {
        ttd_log("%s: %s", d->sock_path, strerror(errno));
        return -1;
    }
    return 0;
}

static int ttd_open_sinks(struct ttd *d)
{
    struct tt_sink_config cfg = {
        .db_path = d->db_path,
        .jsonl_path = getenv("TOKENTAP_JSONL"),
        .log = ttd_log,
    };
    const struct tt_sink_ops *want[] = { &tt_sink_sqlite, &tt_sink_jsonl };

    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (want[i] == &tt_sink_jsonl && !(cfg.jsonl_path && *cfg.jsonl_path))
            continue;
        void *ctx = NULL;
        if (want[i]->init(&ctx, &cfg) != TT_SINK_OK) {
            ttd_log("sink %s: cannot start", want[i]->name);
            if (i == 0)
                return -1;      /* no primary store, no acks: give up */
            continue;
        }
        d->sinks[d->nsinks++] = (struct ttd_sink){ want[i], ctx };
    }
    return 0;
}

/* The forwarders start threads: after daemonize()'s fork. Without a
 * sender (--ingest-spool), they only queue what they are given, for the
 * daemon to send. A forwarder that cannot start is logged; the store and
 * the other sinks go on. */
static void ttd_open_forwarders(struct ttd *d, bool sender)
{
    struct tt_sink_config cfg = {
        .db_path = d->db_path,
        .no_sender = !sender,
        .log = sender ? ttd_log : ttd_log_quiet,
    };
    const struct tt_sink_ops *fw[] = { &tt_sink_otlp, &tt_sink_clickhouse };
    bool wanted[] = { tt_sink_otlp_wanted(), tt_sink_clickhouse_wanted() };

    for (size_t i = 0; i < sizeof(fw) / sizeof(fw[0]); i++) {
        void *ctx = NULL;
        if (!wanted[i])
            continue;
        if (fw[i]->init(&ctx, &cfg) != TT_SINK_OK) {
            ttd_log("sink %s: cannot start: spans are stored locally but NOT forwarded",
                    fw[i]->name);
            continue;
        }
        d->sinks[d->nsinks++] = (struct ttd_sink){ fw[i], ctx };
    }
}

static void ttd_close_sinks(struct ttd *d)
{
    writer_stop(d);
    ttd_flush_sinks(d);
    for (size_t i = 1; i < d->nsinks; i++)
        if (d->sinks[i].ops->stop)
            d->sinks[i].ops->stop(d->sinks[i].ctx);
    /* The forwarders' last counters, made durable by the primary. */
    ttd_take_counts(d);
    if (d->nsinks > 0 && d->sinks[0].ops->counts && !deltas_zero(&d->delta) &&
        d->sinks[0].ops->counts(d->sinks[0].ctx, &d->delta, NULL, 0) == TT_SINK_OK)
        memset(&d->delta, 0, sizeof(d->delta));
    for (size_t i = 0; i < d->nsinks; i++)
        d->sinks[i].ops->exit(d->sinks[i].ctx);
    d->nsinks = 0;
}

static int write_pidfile(const char *path)
{
    char line[32];
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    int n = snprintf(line, sizeof(line), "%ld\n", (long)getpid());

    if (fd < 0)
        return -1;
    bool ok = write(fd, line, (size_t)n) == n;
    close(fd);
    return ok ? 0 : -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tokentapd [--socket PATH] [--db PATH] [--spool DIR] [--foreground]\n"
            "                 [--idle-exit SECONDS] [--pidfile FILE]\n"
            "       tokentapd --ingest-spool [--db PATH] [--spool DIR]\n"
            "Receives spans from traced processes and stores them.\n"
            "--ingest-spool stores what the spool holds, then exits (no socket).\n"
            "Defaults: socket $TOKENTAP_SOCKET or <home>/tokentapd.sock, db $TOKENTAP_DB or\n"
            "<home>/traces.db, spool <home>/spool, where <home> is\n"
            "${TOKENTAP_HOME:-${XDG_DATA_HOME:-~/.local/share}/tokentap}.\n"
            "$TOKENTAP_JSONL also appends every span to that file as JSON lines.\n");
}

static int set_path(char *dst, const char *v, const char *opt)
{
    int w = snprintf(dst, PATH_MAX, "%s", v);

    if (w <= 0 || w >= PATH_MAX) {
        ttd_log("%s: bad path", opt);
        return -1;
    }
    return 0;
}

static int parse_args(struct ttd *d, int argc, char **argv, bool *foreground,
                      bool *ingest_only)
{
    bool have_sock = false, have_db = false, have_spool = false;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL;
        static const char *const with_value[] = {
            "--socket", "--db", "--spool", "--idle-exit", "--pidfile",
        };
        if (strcmp(a, "--foreground") == 0 || strcmp(a, "-f") == 0) {
            *foreground = true;
            continue;
        }
        if (strcmp(a, "--ingest-spool") == 0) {
            *ingest_only = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        size_t k;
        for (k = 0; k < sizeof(with_value) / sizeof(with_value[0]); k++) {
            size_t n = strlen(with_value[k]);
            if (strcmp(a, with_value[k]) == 0) {
                if (i + 1 >= argc) {
                    ttd_log("%s needs a value", a);
                    return -1;
                }
                v = argv[++i];
                break;
            }
            if (strncmp(a, with_value[k], n) == 0 && a[n] == '=') {
                v = a + n + 1;
                break;
            }
        }
        if (!v) {
            ttd_log("unknown argument: %s", a);
            usage(stderr);
            return -1;
        }
        switch (k) {
        case 0:
            if (set_path(d->sock_path, v, "--socket"))
                return -1;
            have_sock = true;
            break;
        case 1:
            if (set_path(d->db_path, v, "--db"))
                return -1;
            have_db = true;
            break;
        case 2:
            if (set_path(d->spool_dir, v, "--spool"))
                return -1;
            have_spool = true;
            break;
        case 3: {
            char *end;
            errno = 0;
            long s = strtol(v, &end, 10);
            if (errno || end == v || *end || s < 0 || s > 365L * 86400) {
                ttd_log("--idle-exit: want seconds, got %s", v);
                return -1;
            }
            d->idle_exit_s = s;
            break;
        }
        case 4: {
            /* daemonize() chdirs to /: anchor a relative path now. */
            char cwd[PATH_MAX];
            int w = v[0] == '/' || !getcwd(cwd, sizeof(cwd))
                        ? snprintf(d->pidfile_buf, PATH_MAX, "%s", v)
                        : snprintf(d->pidfile_buf, PATH_MAX, "%s/%s", cwd, v);
            if (w <= 0 || w >= PATH_MAX) {
                ttd_log("--pidfile: bad path");
                return -1;
            }
            d->pidfile = d->pidfile_buf;
            break;
        }
        }
    }
    if (!have_sock && tt_wire_socket_path(d->sock_path, sizeof(d->sock_path)) != TT_OK) {
        ttd_log("cannot derive the socket path (HOME unset, or longer than %d bytes)",
                TT_WIRE_SUN_PATH_MAX);
        return -1;
    }
    if (!have_db && tt_store_default_path(d->db_path, sizeof(d->db_path)) != TT_OK) {
        ttd_log("cannot derive the database path");
        return -1;
    }
    if (!have_spool && tt_wire_spool_dir(d->spool_dir, sizeof(d->spool_dir)) != TT_OK) {
        ttd_log("cannot derive the spool directory");
        return -1;
    }
    return 0;
}

static int daemonize(void)
{
    pid_t pid = fork();

    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);   /* the socket is already listening: callers can connect */
    if (setsid() < 0)
        return -1;
    pid = fork();   /* not a session leader: never reacquires a tty */
    if (pid < 0)
        return -1;
    if (pid > 0)
        _exit(0);
    if (chdir("/") != 0)
        return -1;
    int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);    /* stderr stays: the caller chooses where logs go */
        if (fd > 2)
            close(fd);
    }
    return 0;
}

/* ---- main loop ----------------------------------------------------------- */

static void ttd_loop(struct ttd *d)
{
    struct pollfd pfd[2 + TTD_MAX_CLIENTS];     /* listener, clients, writer */
    int64_t next_spool = mono_ms() + TTD_SPOOL_PERIOD_MS;

    d->last_active_ns = mono_ms();
    while (!d->stopping && !ttd_signal) {
        int64_t now = mono_ms();
        int timeout = (int)(next_spool > now ? next_spool - now : 0);
        if (d->idle_exit_s > 0 && d->ncl == 0) {
            int64_t left = d->last_active_ns + d->idle_exit_s * 1000 - now;
            if (left <= 0) {
                ttd_log("no client for %lds, exiting", d->idle_exit_s);
                break;
            }
            if (left < timeout)
                timeout = (int)left;
        }
        bool paused = d->accept_pause_until > now;
        if (paused && d->accept_pause_until - now < timeout)
            timeout = (int)(d->accept_pause_until - now);
        pfd[0] = (struct pollfd){ .fd = d->lfd, .events = paused ? 0 : POLLIN };
        size_t npoll = d->ncl;  /* clients accepted below wait for the next poll */
        for (size_t i = 0; i < npoll; i++)
            pfd[1 + i] = (struct pollfd){
                .fd = d->cl[i]->fd,
                .events = (short)(POLLIN | (d->cl[i]->out.len && !d->cl[i]->mute ? POLLOUT : 0)),
            };
        size_t nfd = 1 + npoll;
        if (d->writer_up)
            pfd[nfd++] = (struct pollfd){ .fd = d->wake[0], .events = POLLIN };
        if (d->gw.listen[0] && timeout > 1000)
            timeout = 1000;     /* notice a gateway that exited */
        int n = poll(pfd, nfd, timeout);
        tt_gwchild_tick(&d->gw, mono_ms());
        if (n < 0 && errno != EINTR) {
            ttd_log("poll: %s", strerror(errno));
            break;
        }
        if (n > 0) {
            for (size_t i = 0; i < npoll; i++) {
                struct ttd_client *c = d->cl[i];
                short re = pfd[1 + i].revents;
                if (re & (POLLIN | POLLHUP | POLLERR))
                    client_read(d, c, TTD_READ_BUDGET);
                if (re & POLLOUT)
                    client_try_send(c);
            }
            if (pfd[0].revents & POLLIN) {
                int64_t pause = d->accept_pause_until;
                ttd_accept(d);
                if (pause && d->accept_pause_until == pause)
                    d->accept_pause_until = 0;  /* accepted again: episode over */
            }
            if (nfd > 1 + npoll && (pfd[1 + npoll].revents & POLLIN)) {
                char b[64];
                while (read(d->wake[0], b, sizeof(b)) > 0)
                    ;
            }
        }
        /* Answer a committed batch; while the writer is still busy, keep
         * adding to the next one (fewer, larger transactions under load;
         * TTD_BATCH_SPANS bounds it). */
        (void)ttd_complete(d, false);
        if (!writer_busy(d))
            (void)ttd_flush(d);
        ttd_sync(d);
        if (mono_ms() >= next_spool) {
            ttd_spool(d);
            ttd_flush_sinks(d);
            ttd_take_counts(d);
            next_spool = mono_ms() + TTD_SPOOL_PERIOD_MS;
        }
        ttd_reap(d);
        if (d->ncl > 0)
            d->last_active_ns = mono_ms();
    }
    /* Exit path: nothing read may stay uncommitted. */
    (void)ttd_drain(d);
    if (d->stopping && d->stop_client && !d->stop_client->dead) {
        client_reply(d->stop_client, "bye", NULL, 0);
        ttd_log("stop requested by a client");
    }
    if (ttd_signal)
        ttd_log("signal %d, exiting", (int)ttd_signal);
}

/* ---- the reserve: counters that outlive a full disk ----------------------
 *
 * When the store's disk is full, what traced processes report as lost
 * cannot be stored either, and used to vanish with the daemon ("lost 0"
 * afterwards). So the daemon allocates a small file in the spool directory
 * at start, while there is room, and at exit writes the process counters
 * the store refused into it (no new blocks needed), renamed as a spool
 * file: the next daemon or `tokentap` command that can write the store
 * ingests them like any spool (issue #9). */
#define TTD_RESERVE_BYTES (64 * 1024)

static void ttd_reserve_open(struct ttd *d)
{
    d->reserve_fd = -1;
    /* Reserves of daemons that died without closing theirs. */
    DIR *dir = opendir(d->spool_dir);
    struct dirent *e;
    while (dir && (e = readdir(dir)) != NULL) {
        long pid;
        char *end;
        if (strncmp(e->d_name, ".reserve-", 9) != 0)
            continue;
        pid = strtol(e->d_name + 9, &end, 10);
        if (*end || pid <= 0 || (kill((pid_t)pid, 0) != 0 && errno == ESRCH))
            (void)unlinkat(dirfd(dir), e->d_name, 0);
    }
    if (dir)
        closedir(dir);
    if (!d->spool_dir[0] ||
        snprintf(d->reserve_path, sizeof(d->reserve_path), "%s/.reserve-%d",
                 d->spool_dir, (int)getpid()) >= (int)sizeof(d->reserve_path))
        return;
    int fd = open(d->reserve_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return;
    if (posix_fallocate(fd, 0, TTD_RESERVE_BYTES) != 0) {
        close(fd);
        unlink(d->reserve_path);
        return;
    }
    d->reserve_fd = fd;
}

static void ttd_reserve_close(struct ttd *d)
{
    struct tt_buf out;
    size_t kept = 0;

    if (d->reserve_fd < 0)
        return;
    tt_buf_init(&out, TTD_RESERVE_BYTES);
    for (size_t i = 0; i < d->ncounts; i++) {
        const struct tt_proc_count *pc = &d->counts[i];
        struct tt_wire_count wc = {
            .proc = pc->proc_id, .pid = pc->pid, .exe = pc->exe, .lost = pc->lost,
            .sampled_out = pc->sampled_out, .reason = pc->reason,
        };
        if (tt_wire_pack_count(&wc, i + 1, &out) == TT_OK)
            kept++;
    }
    char final[PATH_MAX + 64];
    bool moved = false;
    if (kept && snprintf(final, sizeof(final), "%s/reserve-%d-%lld.spool", d->spool_dir,
                         (int)getpid(), (long long)tt_now_ns()) < (int)sizeof(final) &&
        pwrite(d->reserve_fd, out.data, out.len, 0) == (ssize_t)out.len &&
        ftruncate(d->reserve_fd, (off_t)out.len) == 0 &&
        rename(d->reserve_path, final) == 0) {
        moved = true;
        ttd_log("the store did not take the counters of %zu process(es); kept in %s",
                kept, final);
    }
    if (!moved)
        unlink(d->reserve_path);
    close(d->reserve_fd);
    d->reserve_fd = -1;
    tt_buf_free(&out);
}

/* Counters still queued at exit (the reserve has them, or nothing could). */
static void ttd_counts_free(struct ttd *d)
{
    for (size_t i = 0; i < d->ncounts; i++) {
        free(d->counts[i].exe);
        d->counts[i].exe = NULL;
    }
    d->ncounts = 0;
}

/* TOKENTAP_UI=[ADDR:]PORT: serve `tokentap ui` from the daemon (tools/ui.h),
 * on the store it writes. The URL with its access token (TOKENTAP_UI_TOKEN,
 * else a random one) goes to <home>/ui.url, mode 0600, never to the log.
 * A UI that cannot start is logged; the daemon runs on without it. */
static struct tt_ui *ttd_start_ui(struct ttd *d, const char *spec)
{
    struct tt_ui_opts o = { 0 };
    char addr[64] = "127.0.0.1", url[512], err[1024] = "", home[PATH_MAX], path[PATH_MAX + 16];
    const char *colon = strrchr(spec, ':'), *port = colon ? colon + 1 : spec;
    struct tt_ui *ui = NULL;
    char *end;
    long p;

    if (colon) {
        if ((size_t)(colon - spec) >= sizeof(addr)) {
            ttd_log("TOKENTAP_UI=%s: bad address", spec);
            return NULL;
        }
        memcpy(addr, spec, (size_t)(colon - spec));
        addr[colon - spec] = '\0';
    }
    p = strtol(port, &end, 10);
    if (*end || end == port || p < 1 || p > 65535) {
        ttd_log("TOKENTAP_UI=%s: want [ADDR:]PORT (e.g. 127.0.0.1:8765)", spec);
        return NULL;
    }
    o.store = d->db_path;
    o.bind = addr;
    o.port = (int)p;
    o.token = getenv("TOKENTAP_UI_TOKEN");
    if (o.token && !*o.token)
        o.token = NULL;
    if (tt_ui_start(&o, &ui, url, sizeof(url), err, sizeof(err)) != TT_OK) {
        ttd_log("ui: %s", err);
        return NULL;
    }
    if (tt_wire_home_dir(home, sizeof(home)) == TT_OK) {
        snprintf(path, sizeof(path), "%s/ui.url", home);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd >= 0) {
            (void)fchmod(fd, 0600);
            if (write(fd, url, strlen(url)) < 0 || write(fd, "\n", 1) < 0)
                ttd_log("%s: %s", path, strerror(errno));
            close(fd);
        }
        ttd_log("ui on http://%s:%ld/ (its URL with the access token: %s)", addr, p, path);
    }
    return ui;
}

int main(int argc, char **argv)
{
    static struct ttd d;    /* large (client table): not on the stack */
    bool foreground = false, ingest_only = false;
    int rc = 1, l;

    d.lfd = -1;
    d.lockfd = -1;
    d.wake[0] = d.wake[1] = -1;
    pthread_mutex_init(&d.mu, NULL);
    pthread_cond_init(&d.cv, NULL);
    tt_config_load("tokentapd", TT_CONFIG_DAEMON);
    if (parse_args(&d, argc, argv, &foreground, &ingest_only) != 0)
        return 2;
    if (ingest_only) {
        /* What the CLI runs before it reads the store: spans that processes
         * spooled while no daemon listened become visible without one. */
        if (ttd_open_sinks(&d) != 0)
            return 1;
        ttd_open_forwarders(&d, false);
        ttd_spool(&d);
        rc = ttd_drain(&d) == TT_OK ? 0 : 1;
        ttd_close_sinks(&d);
        free(d.batch);
        free(d.acks);
        free(d.fbatch);
        free(d.counts);
        free(d.fcounts);
        free(d.facks);
        return rc;
    }

    struct sigaction sa = { .sa_handler = SIG_IGN };
    sigaction(SIGPIPE, &sa, NULL);
    sa.sa_handler = on_signal;  /* no SA_RESTART: poll returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);

    /* TTD_MAX_CLIENTS clients plus the store's and the spool's descriptors
     * need more than the usual soft limit of 1024: raise it (up to the
     * hard limit; what is still short is handled by the accept pause). */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < TTD_MAX_CLIENTS + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > TTD_MAX_CLIENTS + 64
                          ? TTD_MAX_CLIENTS + 64 : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }

    if ((l = ttd_listen(&d)) != 0) {
        if (l == 1) {
            /* Auto-starts race: the one that lost has nothing to do. */
            ttd_log("already running on %s", d.sock_path);
            rc = 0;
        }
        goto out;
    }
    if (tt_wire_mkdirs(d.spool_dir) != TT_OK)
        ttd_log("%s: %s (spool disabled)", d.spool_dir, strerror(errno));
    if (ttd_open_sinks(&d) != 0)
        goto out_unlink;
    if (!foreground && daemonize() != 0) {
        ttd_log("daemonize: %s", strerror(errno));
        goto out_sinks;
    }
    if (d.pidfile && write_pidfile(d.pidfile) != 0)
        ttd_log("%s: %s", d.pidfile, strerror(errno));
    ttd_open_forwarders(&d, true);
    ttd_log("listening on %s, store %s, spool %s", d.sock_path, d.db_path, d.spool_dir);
    const char *ui_spec = getenv("TOKENTAP_UI");
    struct tt_ui *ui = ui_spec && *ui_spec ? ttd_start_ui(&d, ui_spec) : NULL;

    ttd_reserve_open(&d);
    ttd_spool(&d);
    (void)ttd_drain(&d);
    tt_gwchild_init(&d.gw, d.sock_path);
    ttd_loop(&d);
    /* The gateway finishes its calls in flight; what it hands over after
     * we stopped reading waits in the spool for our next start. */
    tt_gwchild_stop(&d.gw);
    ttd_reserve_close(&d);
    ttd_counts_free(&d);
    tt_ui_stop(ui);
    rc = 0;
    ttd_log("frames %" PRIu64 " (bad %" PRIu64 "), spans stored %" PRIu64
            ", rejected %" PRIu64 ", spool files %" PRIu64 " (%" PRIu64
            " span(s) there already taken from the socket)",
            d.frames, d.bad_frames, d.stored, d.rejected, d.spool_files,
            d.spool_dups);
    for (size_t i = 0; i < d.ncl; i++)
        client_free(d.cl[i]);
    if (d.pidfile)
        unlink(d.pidfile);
out_sinks:
    ttd_close_sinks(&d);
out_unlink:
    /* Unlink before releasing the lock, so a successor never sees ours. */
    unlink(d.sock_path);
out:
    if (d.lfd >= 0)
        close(d.lfd);
    if (d.lockfd >= 0)
        close(d.lockfd);
    free(d.batch);
    free(d.acks);
    free(d.fbatch);
    free(d.counts);
    free(d.fcounts);
    free(d.facks);
    return rc;
}
