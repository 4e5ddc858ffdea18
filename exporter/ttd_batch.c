/* ttd_batch.c - tokentapd's batching and its writer thread (ttd.h).
 *
 * The valid spans read while the writer is busy go to the sinks as one
 * batch (one SQLite transaction), and each frame is acknowledged only
 * after that commit. The writer thread only commits: decoding the next
 * batch overlaps the commit of the previous one, which took the daemon
 * from one core's worth of decode + SQLite to whichever of the two is
 * slower (SQLite). All replies are sent from the loop's thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ttd.h"
#include "wire.h"

bool ttd_deltas_zero(const struct tt_sink_deltas *x)
{
    static const struct tt_sink_deltas zero;

    return !memcmp(x, &zero, sizeof(zero));
}

void ttd_deltas_add(struct tt_sink_deltas *to, const struct tt_sink_deltas *x)
{
#define ADD(n) to->n += x->n;
    TT_SINK_COUNTER_NAMES(ADD)
#undef ADD
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

static void ttd_seen_mark(struct ttd *d, const struct tt_span *b, size_t n, bool on)
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

void ttd_seen_filter(struct ttd *d, struct tt_frame *f)
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


int ttd_batch_take(struct ttd *d, struct tt_frame *f)
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
    ttd_seen_mark(d, f->spans, f->nspans, true);
    if (f->nspans)
        memcpy(d->batch + d->nbatch, f->spans, f->nspans * sizeof(*f->spans));
    d->nbatch += f->nspans;
    free(f->spans);
    f->spans = NULL;
    f->nspans = 0;
    return TT_OK;
}

int ttd_count_take(struct ttd *d, struct tt_frame *f)
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

int ttd_ack_push(struct ttd *d, struct ttd_client *c, uint64_t chunk,
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
        ttd_deltas_add(&d->delta, delta);   /* kept for the next batch */
        d->unstored += nb;
        ttd_seen_mark(d, b, nb, false);     /* their spooled copies are needed */
        const char *m = ttd_sinks_errmsg(d);
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
            if (ttd_count_take(d, &f) == TT_OK)
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
            ttd_client_reply(a->c, "ack", kv, 3);
        } else {
            ttd_reply_nack(a->c, a->chunk, why, rc == TT_SINK_RETRY);
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
        int rc = ttd_sinks_write(d, d->fbatch, d->fnbatch, &d->fdelta, d->fcounts,
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

bool ttd_writer_busy(struct ttd *d)
{
    bool busy;

    if (!d->writer_up)
        return false;
    pthread_mutex_lock(&d->mu);
    busy = d->wstate == W_BUSY;
    pthread_mutex_unlock(&d->mu);
    return busy;
}

int ttd_complete(struct ttd *d, bool block)
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

void ttd_writer_stop(struct ttd *d)
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
int ttd_flush(struct ttd *d)
{
    if (d->nbatch == 0 && d->nacks == 0 && d->ncounts == 0 && ttd_deltas_zero(&d->delta))
        return TT_SINK_OK;
    /* A small batch is committed here once the previous one is answered:
     * handing it to the writer and back costs two thread wake-ups (a futex
     * pair, the wake pipe, poll: ~6 system calls and two context switches,
     * each a microsecond or more on a VM) around a commit of ~100 µs.
     * Batches grow only under load (spans read while a commit runs), where
     * the writer's overlap of decoding and committing pays. */
    bool here = d->nbatch <= TTD_INLINE_SPANS;
    if (here && d->writer_up)
        (void)ttd_complete(d, true);
    if (here || !writer_start(d)) {
        struct tt_sink_deltas delta = d->delta;
        memset(&d->delta, 0, sizeof(d->delta));
        int rc = ttd_sinks_write(d, d->batch, d->nbatch, &delta, d->counts, d->ncounts);
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
int ttd_drain(struct ttd *d)
{
    int rc = ttd_flush(d);
    int rc2 = ttd_complete(d, true);

    return rc != TT_SINK_OK ? rc : rc2;
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

void ttd_reserve_open(struct ttd *d)
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

void ttd_reserve_close(struct ttd *d)
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
void ttd_counts_free(struct ttd *d)
{
    for (size_t i = 0; i < d->ncounts; i++) {
        free(d->counts[i].exe);
        d->counts[i].exe = NULL;
    }
    d->ncounts = 0;
}
