/* deliver.c - spans to tokentapd over a Unix socket, or to the spool.
 *
 * State is per process: after fork the child starts afresh (the parent
 * keeps its socket and its unacknowledged frames). All socket I/O is
 * non-blocking with MSG_NOSIGNAL; the only waits are a bounded poll when
 * the daemon's socket buffer is full mid-frame, and a few milliseconds at
 * exit for missing acks.
 *
 * The socket and the spool file are held through ownfd.h: checked by
 * identity before each use, never closed once the program has taken the
 * number (issue #9: a program that closes every descriptor and opens its
 * own must never get our frames). */
#include "deliver.h"
#include "defer.h"
#include "ownfd.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_UNACKED 1024
#define MAX_UNACKED_BYTES (32u << 20)
/* A frame half written when the socket buffer filled gets this long to
 * finish; a frame that cannot start is spooled at once. A daemon that is
 * alive but stalled must not slow the traced program down. */
#define SEND_FINISH_MS 5
/* At exit, what the daemon has not confirmed by then goes to the spool (it
 * deduplicates by span id): a stalled daemon costs a process this much,
 * not a second. A healthy daemon acks a frame well within it. */
#define EXIT_WAIT_MS 3
/* The worker reads acknowledgements once this many frames (or bytes) are
 * unacknowledged (below MAX_UNACKED and MAX_UNACKED_BYTES). */
#define DRAIN_EVERY 16
#define DRAIN_EVERY_BYTES (1u << 20)
#define RECONNECT_NS 500000000LL

struct frame {
    uint64_t chunk;
    char *data;
    size_t len;
    bool count;               /* a "count" frame, not spans */
    uint64_t lost;            /* count frames: the "lost" value carried */
};

static struct {
    pthread_mutex_t lock;
    unsigned gen;
    bool init;
    int fd;                       /* ownfd TT_OWNFD_DAEMON, or -1 */
    int spool_fd;                 /* ownfd TT_OWNFD_SPOOL: this process's spool file, or -1 */
    int64_t next_connect;
    uint64_t next_chunk;
    struct frame q[MAX_UNACKED];  /* ring of sent, unacknowledged frames */
    size_t q_head, q_n, q_bytes;
    unsigned char rbuf[4096];     /* partial reply bytes */
    size_t rlen;
    struct tt_deliver_stats st;
    bool warned_lost;
    char proc[17];                /* this process's id in count frames */
    const char *lost_reason;
    char reason[400];             /* lost_reason when built from parts */
    char nack_error[200];         /* the daemon's last "could not store" */
    bool unconfirmed;             /* d_spool called for sent, unacked frames */
    uint64_t reported_lost, reported_sampled;   /* last count frame made */
    uint64_t durable_lost;        /* highest "lost" acked or spooled */
} d = { .lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .spool_fd = -1 };

/* Called with the lock held. Resets state in a forked child. */
static void d_check_process(void)
{
    if (d.init && d.gen == tt_rt_fork_gen)
        return;
    if (d.init) {
        /* Forked child: the socket and the queue are the parent's. Leak
         * the queue's frames rather than free memory the parent's threads
         * might have been using at fork time. The inherited copies are
         * closed only if the child has not closed or reused the numbers
         * already (ownfd checks). */
        tt_ownfd_close(TT_OWNFD_DAEMON);
        tt_ownfd_close(TT_OWNFD_SPOOL);   /* the parent's file: ours is new */
    }
    d.fd = -1;
    d.spool_fd = -1;
    d.q_head = d.q_n = d.q_bytes = 0;
    d.rlen = 0;
    d.next_connect = 0;
    memset(&d.st, 0, sizeof(d.st));
    d.warned_lost = false;
    d.lost_reason = NULL;
    d.nack_error[0] = '\0';
    d.reported_lost = d.reported_sampled = d.durable_lost = 0;
    tt_span_rand_hex(d.proc, 8);
    char id[17];
    tt_span_rand_hex(id, 8);
    d.next_chunk = strtoull(id, NULL, 16) & 0x7fffffffffffffffULL;
    d.gen = tt_rt_fork_gen;
    d.init = true;
}

static void d_lost(uint64_t frames, const char *why)
{
    if (!frames)
        return;
    d.st.lost += frames;
    d.lost_reason = why;
    if (!d.warned_lost) {
        d.warned_lost = true;
        tt_log("could not deliver or spool spans (%s); they are counted as lost", why);
    }
}

/* Open (creating 0600) this process's spool file, appending. */
static int d_spool_open(void)
{
    char path[4200];

    if (!tt_rt.spool_dir[0] || tt_wire_mkdirs(tt_rt.spool_dir) != TT_OK)
        return -1;
    snprintf(path, sizeof(path), "%s/%d-%lld.spool", tt_rt.spool_dir,
             (int)getpid(), (long long)tt_now_ns());
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    struct stat st;
    if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid())) {
        close(fd);      /* not a file of ours: never write spans there */
        return -1;
    }
    return tt_ownfd_adopt(TT_OWNFD_SPOOL, fd, true);
}

/* Append frames to this process's spool file under LOCK_EX, the protocol
 * tokentapd reads by (wire.h): the daemon takes the lock before reading
 * and unlinks a file it has ingested while still holding it, so after
 * taking the lock a file without links means "start a new one". One file
 * per process and one write per frame: a daemon that is down or behind
 * costs the traced program an append, not a file creation. */
static int d_spool(const struct frame *frames, size_t n)
{
    struct stat st;
    int serr = 0;

    if (!n)
        return TT_OK;
    for (int attempt = 0; attempt < 3; attempt++) {
        if (d.spool_fd < 0 && (d.spool_fd = d_spool_open()) < 0) {
            serr = errno;
            break;
        }
        if (flock(d.spool_fd, LOCK_EX | LOCK_NB) != 0) {
            serr = errno;
            if (serr != EWOULDBLOCK || attempt == 2)
                break;
            /* The daemon is ingesting this file and holds the lock until
             * its store commits, which a loaded or stalled store can make
             * long: never wait for it, start another file (issue #9). */
            tt_ownfd_close(TT_OWNFD_SPOOL);
            d.spool_fd = -1;
            continue;
        }
        if (fstat(d.spool_fd, &st) != 0 || st.st_nlink == 0) {
            tt_ownfd_close(TT_OWNFD_SPOOL);  /* ingested and unlinked: reopen */
            d.spool_fd = -1;
            continue;
        }
        bool ok = true;
        for (size_t i = 0; ok && i < n; i++) {
            size_t off = 0;
            while (ok && off < frames[i].len) {
                ssize_t w = write(d.spool_fd, frames[i].data + off,
                                  frames[i].len - off);
                if (w < 0 && errno == EINTR)
                    continue;
                ok = w > 0;
                if (w < 0)
                    serr = errno;
                else if (w == 0)
                    serr = ENOSPC;
                off += w > 0 ? (size_t)w : 0;
            }
        }
        /* A short write (disk full): cut the file back to where this
         * append began, under the lock, so it holds only whole frames, and
         * keep using it (a new file per lost span would litter a full
         * disk). If even that fails, the daemon drops a cut last frame. */
        bool cut = !ok && ftruncate(d.spool_fd, st.st_size) != 0;
        (void)flock(d.spool_fd, LOCK_UN);
        if (ok) {
            for (size_t i = 0; i < n; i++) {
                if (!frames[i].count)
                    d.st.spooled++;
                else if (frames[i].lost > d.durable_lost)
                    d.durable_lost = frames[i].lost;
            }
            return TT_OK;
        }
        if (cut) {
            tt_ownfd_close(TT_OWNFD_SPOOL);
            d.spool_fd = -1;
        }
        break;
    }
    size_t spans = 0;
    for (size_t i = 0; i < n; i++)
        spans += !frames[i].count;
    /* Say what happened: a daemon that answered "cannot store" (a full
     * disk, a corrupt store) is not "unreachable" (issue #9). */
    char first[260];
    if (d.nack_error[0])
        snprintf(first, sizeof(first), "the daemon could not store it (%s)",
                 d.nack_error);
    else if (d.unconfirmed)
        snprintf(first, sizeof(first), "the daemon had not confirmed it");
    else
        snprintf(first, sizeof(first), "daemon unreachable");
    if (!tt_rt.spool_dir[0])
        snprintf(d.reason, sizeof(d.reason), "%s and no spool directory", first);
    else
        snprintf(d.reason, sizeof(d.reason), "%s and spool not writable (%s)",
                 first, serr ? strerror(serr) : "unknown error");
    d_lost(spans, d.reason);
    return TT_ERR_IO;
}

static void q_free_all(void)
{
    for (size_t i = 0; i < d.q_n; i++)
        free(d.q[(d.q_head + i) % MAX_UNACKED].data);
    d.q_head = d.q_n = d.q_bytes = 0;
}

/* Everything sent but unacknowledged goes to the spool (the daemon may
 * have stored some already; spans are idempotent by span_id). */
static void d_spool_unconfirmed(void)
{
    if (d.q_n) {
        struct frame *tmp = malloc(d.q_n * sizeof(*tmp));
        if (tmp) {
            for (size_t i = 0; i < d.q_n; i++)
                tmp[i] = d.q[(d.q_head + i) % MAX_UNACKED];
            d.unconfirmed = true;
            (void)d_spool(tmp, d.q_n);
            d.unconfirmed = false;
            free(tmp);
        } else {
            d_lost(d.q_n, "out of memory");
        }
    }
    q_free_all();
}

/* The connection broke: what it did not confirm goes to the spool. */
static void d_disconnect(void)
{
    if (d.fd >= 0)
        tt_ownfd_close(TT_OWNFD_DAEMON);
    d.fd = -1;
    d.rlen = 0;
    d.next_connect = tt_now_ns() + RECONNECT_NS;
    d_spool_unconfirmed();
}

static bool d_connect(void)
{
    struct sockaddr_un sa;
    int fd;

    if (d.fd >= 0)
        return true;
    if (!tt_rt.socket_path[0] || tt_now_ns() < d.next_connect)
        return false;
    fd = tt_ownfd_adopt(TT_OWNFD_DAEMON,
                        socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0),
                        true);
    if (fd < 0)
        goto fail;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, tt_rt.socket_path, strlen(tt_rt.socket_path) + 1);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        tt_ownfd_close(TT_OWNFD_DAEMON);
        goto fail;
    }
    d.fd = fd;
    return true;
fail:
    d.next_connect = tt_now_ns() + RECONNECT_NS;
    return false;
}

/* --- replies ------------------------------------------------------------- */

/* Drop the n oldest unacknowledged frames: confirmed, or handed to spool. */
static void q_pop(size_t n)
{
    for (size_t j = 0; j < n && d.q_n; j++) {
        struct frame *g = &d.q[d.q_head];
        d.q_bytes -= g->len;
        free(g->data);
        g->data = NULL;
        d.q_head = (d.q_head + 1) % MAX_UNACKED;
        d.q_n--;
    }
}

static void ob_push_spool(char *data, size_t len);

static void d_handle_reply(const unsigned char *p, size_t n)
{
    struct tt_wire_reply r;

    if (tt_wire_parse_reply(p, n, &r) != TT_OK)
        return;
    bool ack = !strcmp(r.t, "ack"), nack = !strcmp(r.t, "nack");
    if (!ack && !nack)
        return;
    /* Replies come in order of the frames sent. */
    for (size_t i = 0; i < d.q_n; i++) {
        struct frame *f = &d.q[(d.q_head + i) % MAX_UNACKED];
        if (f->chunk != r.chunk)
            continue;
        /* Frames before it whose reply the daemon could not send (its
         * reply buffer was full) were processed all the same. */
        d.st.acked += i;
        if (nack && r.retry) {
            /* The store could not commit: keep the spans in the spool
             * (a program thread writes it: deliver.h). */
            snprintf(d.nack_error, sizeof(d.nack_error), "%s",
                     r.error[0] ? r.error : "store unavailable");
            if (tt_defer_is_worker()) {
                ob_push_spool(f->data, f->len);
                f->data = NULL;
            } else {
                (void)d_spool(f, 1);
            }
        } else if (nack) {
            /* Counted by the daemon too (bad_frames). */
            d_lost(f->count ? 0 : 1, "the daemon rejected a frame as invalid");
        } else {
            d.st.acked++;
            d.nack_error[0] = '\0';
            if (f->count && f->lost > d.durable_lost)
                d.durable_lost = f->lost;
        }
        /* Spans the daemon dropped are counted by it (spans_rejected). */
        if (r.rejected > 0)
            d.st.rejected += (uint64_t)r.rejected;
        q_pop(i + 1);
        return;
    }
}

/* Read whatever replies are waiting. Returns false if the socket broke. */
static bool d_drain(void)
{
    for (;;) {
        size_t room = sizeof(d.rbuf) - d.rlen;
        ssize_t r = recv(d.fd, d.rbuf + d.rlen, room, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return true;
        if (r <= 0)
            return false;
        d.rlen += (size_t)r;
        size_t off = 0;
        while (d.rlen - off >= 4) {
            uint32_t len = tt_wire_len(d.rbuf + off);
            if (len == 0 || len > sizeof(d.rbuf) - 4)
                return false;          /* not our daemon speaking */
            if (d.rlen - off - 4 < len)
                break;
            d_handle_reply(d.rbuf + off + 4, len);
            off += 4 + len;
        }
        memmove(d.rbuf, d.rbuf + off, d.rlen - off);
        d.rlen -= off;
        /* A read that did not fill the room took all there was: asking
         * again would only hear EAGAIN (a system call, ~1 µs on a VM). */
        if ((size_t)r < room)
            return true;
    }
}

enum send_result {
    SENT,           /* the whole frame is in the socket */
    SEND_FULL,      /* nothing written: the buffer is full (daemon busy) */
    SEND_BROKEN,    /* error, or a partial frame that could not finish */
};

static enum send_result d_send_all(const char *p, size_t n)
{
    size_t off = 0;
    int64_t deadline = 0;

    while (off < n) {
        ssize_t w = send(d.fd, p + off, n - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (off == 0)
                return SEND_FULL;
            /* Mid-frame: the stream must not carry half a frame. */
            if (!deadline)
                deadline = tt_now_ns() + SEND_FINISH_MS * 1000000LL;
            int64_t left = (deadline - tt_now_ns()) / 1000000LL;
            if (left <= 0 || !d_drain())
                return SEND_BROKEN;
            struct pollfd pfd = { .fd = d.fd, .events = POLLOUT };
            (void)poll(&pfd, 1, (int)left);
            continue;
        }
        return SEND_BROKEN;
    }
    return SENT;
}

static void d_exit(void);

/* Send one encoded frame (ownership of f.data passes here): to the daemon
 * when it takes it, else to the spool. Called with the lock held. */
static void d_send_frame(struct frame f)
{
    enum send_result sr;

    if (d_connect()) {
        if (d.q_n && !d_drain()) {
            d_disconnect();
        } else if (d.q_n == MAX_UNACKED || d.q_bytes + f.len > MAX_UNACKED_BYTES) {
            /* The daemon has not confirmed this much (its store is slow or
             * locked): every sent frame must stay until it does, so this
             * one goes to the spool instead of the socket. */
        } else if ((sr = d_send_all(f.data, f.len)) == SENT) {
            if (!f.count)
                d.st.sent++;
            d.q[(d.q_head + d.q_n) % MAX_UNACKED] = f;
            d.q_n++;
            d.q_bytes += f.len;
            (void)d_drain();
            return;
        } else if (sr == SEND_BROKEN) {
            /* A partial frame may be in the socket; the daemon drops it at
             * EOF. Everything unconfirmed goes to the spool with it. */
            d_disconnect();
        }
        /* SEND_FULL: the daemon is behind; keep the connection (what it
         * was sent will still be acknowledged) and park this frame. */
    }
    (void)d_spool(&f, 1);
    free(f.data);
}

/* Calls sampled out and not yet added to d.st, and when a count frame
 * last went for them (tt_deliver_sampled_out); a fork child starts both
 * at zero (d_atfork_child). */
static uint64_t d_sampled_pending;
static int64_t d_sampled_report_ns;
#define SAMPLED_REPORT_NS 1000000000LL

static void d_take_sampled(void)        /* under d.lock */
{
    d.st.sampled_out += __atomic_exchange_n(&d_sampled_pending, 0, __ATOMIC_ACQ_REL);
}

/* When a counter moved since the last count frame, send a new one: the
 * daemon keeps the largest values per process, so what this process lost
 * or sampled out is in the store's totals (tokentap stats). */
static void d_report_counts(void)
{
    d_take_sampled();
    if (d.st.lost == d.reported_lost && d.st.sampled_out == d.reported_sampled)
        return;
    struct tt_wire_count wc = {
        .proc = d.proc, .pid = (int64_t)getpid(), .exe = tt_rt.exe,
        .lost = d.st.lost, .sampled_out = d.st.sampled_out, .reason = d.lost_reason,
    };
    struct tt_buf out;
    tt_buf_init(&out, 8192);
    struct frame f = { .chunk = d.next_chunk++, .count = true, .lost = d.st.lost };
    d.reported_lost = d.st.lost;
    d.reported_sampled = d.st.sampled_out;
    if (tt_wire_pack_count(&wc, f.chunk, &out) != TT_OK) {
        tt_buf_free(&out);
        return;
    }
    f.len = out.len;
    f.data = tt_buf_steal(&out);
    d_send_frame(f);
}

/* The program may have closed our numbers (a close loop, close_range, a
 * raw syscall) since the last use: what was sent but not confirmed then
 * goes to the spool, and the numbers are never touched again. */
static void d_verify(void)
{
    if (d.spool_fd >= 0 && tt_ownfd_get(TT_OWNFD_SPOOL) < 0)
        d.spool_fd = -1;
    if (d.fd >= 0 && tt_ownfd_get(TT_OWNFD_DAEMON) < 0) {
        d.fd = -1;
        d_disconnect();
    }
}

/* Take the lock for this process's state (reset after fork), and ownfd's
 * lock, which keeps an interposed close of our numbers out until
 * d_unlock(). */
static void d_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    d.lock = fresh;
    d_sampled_pending = 0;          /* the parent's to report */
    d_sampled_report_ns = 0;
}

static struct tt_atfork d_fork = { .child = d_atfork_child };

static void d_lock(void)
{
    static bool atexit_done;

    tt_atfork_register(&d_fork);    /* before the lock is first taken */
    pthread_mutex_lock(&d.lock);
    tt_ownfd_lock();
    d_check_process();
    d_verify();
    if (!atexit_done) {
        atexit_done = true;
        atexit(d_exit);
    }
}

static void d_unlock(void)
{
    tt_ownfd_unlock();
    pthread_mutex_unlock(&d.lock);
}

/* --- the outbox: frames the worker encoded (deliver.h) ------------------- */

struct outframe {
    struct outframe *next;
    char *data;                 /* NULL: the span could not be encoded */
    size_t len;
    const char *why;            /* then why */
    bool spool;                 /* numbered and sent already: to the spool */
};

volatile int tt_deliver_outbox_n;
static pthread_mutex_t ob_lock = PTHREAD_MUTEX_INITIALIZER;
static struct outframe *ob_head, *ob_tail;
static uint64_t ob_lost;        /* spans the outbox had no memory for */
/* The worker's frames held back (below), under ob_lock: older than none of
 * the outbox's (a frame goes to the outbox while it has any). */
static struct outframe *hd_head, *hd_tail;
static int hd_n;
static size_t hd_bytes;
static int64_t hd_first_ns;     /* when the first of them was held */
volatile int tt_deliver_held_n;

static void ob_atfork_child(void)
{
    /* The parent's frames: the parent sends them (leaked here, as the
     * unacknowledged queue is). */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    ob_lock = fresh;
    ob_head = ob_tail = NULL;
    ob_lost = 0;
    hd_head = hd_tail = NULL;
    hd_n = 0;
    hd_bytes = 0;
    tt_deliver_outbox_n = 0;
    tt_deliver_held_n = 0;
}

static struct tt_atfork ob_fork = { .child = ob_atfork_child };

static void ob_push_ex(char *data, size_t len, const char *why, bool spool)
{
    struct outframe *o = malloc(sizeof(*o));

    if (!o) {
        free(data);
        __atomic_add_fetch(&ob_lost, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&tt_deliver_outbox_n, 1, __ATOMIC_RELEASE);
        return;
    }
    o->next = NULL;
    o->data = data;
    o->len = len;
    o->why = why;
    o->spool = spool;
    tt_atfork_register(&ob_fork);
    pthread_mutex_lock(&ob_lock);
    if (ob_tail)
        ob_tail->next = o;
    else
        ob_head = o;
    ob_tail = o;
    __atomic_add_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    __atomic_add_fetch(&tt_deliver_outbox_n, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&ob_lock);
}

static void ob_push(char *data, size_t len, const char *why)
{
    ob_push_ex(data, len, why, false);
}

static void ob_push_spool(char *data, size_t len)
{
    ob_push_ex(data, len, NULL, true);
}

/* The worker found the connection broken (an error, a partial frame):
 * a program thread closes it (tt_deliver_flush). */
static bool d_broken_pending;

/* The worker's delivery: straight to the daemon while the connection is
 * up and still ours (checked by identity under ownfd's lock, so a hooked
 * close of the number waits for us), and the daemon keeps up. Anything
 * that would connect, close or spool is left to a program thread (false:
 * the caller puts the frame in the outbox). Replies are read here too
 * (a nack that asks for the spool hands the frame to the outbox). */
static bool d_worker_send(char *data, size_t len)
{
    bool sent = false;

    pthread_mutex_lock(&d.lock);
    tt_ownfd_lock();
    if (d.init && d.gen == tt_rt_fork_gen && d.fd >= 0 && !d_broken_pending &&
        d.q_n < MAX_UNACKED && d.q_bytes + len <= MAX_UNACKED_BYTES &&
        tt_ownfd_get(TT_OWNFD_DAEMON) == d.fd) {
        struct frame f = { .chunk = d.next_chunk++, .data = data, .len = len };
        (void)tt_wire_set_chunk(data, len, f.chunk);
        enum send_result sr = d_send_all(data, len);
        if (sr == SENT) {
            d.st.spans++;
            d.st.sent++;
            d.q[(d.q_head + d.q_n) % MAX_UNACKED] = f;
            d.q_n++;
            d.q_bytes += f.len;
            sent = true;
            /* The daemon's acks are read every DRAIN_EVERY frames, not
             * after each (one recv less per span): they only free frames
             * kept for the spool. A daemon that went away shows sooner
             * anyway: the next send fails (EPIPE). */
            if ((d.q_n >= DRAIN_EVERY || d.q_bytes >= DRAIN_EVERY_BYTES) && !d_drain())
                d_broken_pending = true;
        } else if (sr == SEND_BROKEN) {
            d_broken_pending = true;
        }
    }
    tt_ownfd_unlock();
    pthread_mutex_unlock(&d.lock);
    return sent;
}

void tt_deliver_prepare(void)
{
    d_lock();
    (void)d_connect();
    d_unlock();
}

void tt_deliver_flush(void)
{
    struct outframe *o;

    pthread_mutex_lock(&ob_lock);
    o = ob_head;
    ob_head = ob_tail = NULL;
    int n = __atomic_exchange_n(&tt_deliver_outbox_n, 0, __ATOMIC_ACQ_REL);
    uint64_t lost = __atomic_exchange_n(&ob_lost, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&ob_lock);
    if (!o && !lost)
        return;
    d_lock();
    if (d_broken_pending) {
        d_broken_pending = false;
        d_disconnect();
    }
    if (lost) {
        d.st.spans += lost;
        d_lost(lost, "out of memory");
    }
    while (o) {
        struct outframe *next = o->next;
        if (o->spool) {
            /* Counted when it was sent; the daemon asked for the spool. */
            struct frame f = { .data = o->data, .len = o->len };
            (void)d_spool(&f, 1);
            free(o->data);
            free(o);
            o = next;
            continue;
        }
        d.st.spans++;
        if (!o->data) {
            d_lost(1, o->why);
        } else {
            struct frame f = { .chunk = d.next_chunk++, .data = o->data, .len = o->len };
            (void)tt_wire_set_chunk(f.data, f.len, f.chunk);
            d_send_frame(f);
        }
        free(o);
        o = next;
    }
    d_report_counts();
    d_unlock();
    /* Handed over (sent, spooled or counted lost): no longer owed. */
    __atomic_sub_fetch(&tt_rt_spans_owed, n, __ATOMIC_RELEASE);
}

/* --- the worker's frames, held back a moment ------------------------------
 *
 * The worker holds each frame it encodes and sends the held ones when its
 * queue is empty (defer.c's idle function): at once when it sent nothing
 * in the last TT_DELIVER_LINGER_MS (a lone call's span leaves right away),
 * else when the first one held is that old, or TT_DELIVER_HOLD_FRAMES or
 * TT_DELIVER_HOLD_BYTES are held. Calls that come faster than that reach
 * tokentapd as a few frames in one go: one wake, one transaction and one
 * reply there for all of them (bench fig 2). Held frames are owed spans
 * (tt_rt_spans_owed): a drain, exit, exec or the program's next output to
 * a file, pipe or terminal sends them first, from the program's thread
 * (tt_deliver_release_held), as before. A frame the worker cannot send
 * goes to the outbox, with every frame held after it. */
#define TT_DELIVER_LINGER_MS 2
#define TT_DELIVER_HOLD_FRAMES 16
#define TT_DELIVER_HOLD_BYTES (1u << 20)

static int64_t w_last_send_ns;  /* the worker's last frame sent (its own) */

/* Append list [h..t] (k frames) to the outbox (ob_lock held): owed
 * already. */
static void ob_append_locked(struct outframe *h, struct outframe *t, int k)
{
    if (!h)
        return;
    if (ob_tail)
        ob_tail->next = h;
    else
        ob_head = h;
    ob_tail = t;
    __atomic_add_fetch(&tt_deliver_outbox_n, k, __ATOMIC_ACQ_REL);
}

static void hd_take_locked(struct outframe **h, struct outframe **t, int *k)
{
    *h = hd_head;
    *t = hd_tail;
    *k = hd_n;
    hd_head = hd_tail = NULL;
    hd_n = 0;
    hd_bytes = 0;
    __atomic_store_n(&tt_deliver_held_n, 0, __ATOMIC_RELEASE);
}

void tt_deliver_release_held(void)
{
    struct outframe *h, *t;
    int k;

    pthread_mutex_lock(&ob_lock);
    hd_take_locked(&h, &t, &k);
    ob_append_locked(h, t, k);
    pthread_mutex_unlock(&ob_lock);
}

/* The worker: hold a frame (the outbox empty) or queue it behind the
 * outbox's. */
static void hd_push(char *data, size_t len)
{
    struct outframe *o = malloc(sizeof(*o));

    if (!o) {
        ob_push(data, len, NULL);       /* counts the loss, if it must */
        return;
    }
    *o = (struct outframe){ .data = data, .len = len };
    tt_atfork_register(&ob_fork);
    pthread_mutex_lock(&ob_lock);
    __atomic_add_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    if (ob_head) {
        ob_append_locked(o, o, 1);
    } else {
        if (hd_tail)
            hd_tail->next = o;
        else
            hd_head = o, hd_first_ns = tt_now_ns();
        hd_tail = o;
        hd_n++;
        hd_bytes += len;
        __atomic_store_n(&tt_deliver_held_n, hd_n, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&ob_lock);
}

/* defer.c's idle function (the worker, under run_lock, so a drain waits
 * for what it has in hand): send what is due, say when the rest will be. */
static unsigned d_worker_idle(void)
{
    struct outframe *h, *t;
    int k;

    if (__atomic_load_n(&tt_deliver_held_n, __ATOMIC_ACQUIRE) <= 0)
        return 0;
    int64_t now = tt_now_ns(), linger = TT_DELIVER_LINGER_MS * 1000000LL;
    pthread_mutex_lock(&ob_lock);
    int64_t wait = hd_first_ns + linger - now;
    bool due = now - w_last_send_ns >= linger || wait <= 0 ||
               hd_n >= TT_DELIVER_HOLD_FRAMES || hd_bytes >= TT_DELIVER_HOLD_BYTES;
    if (!due) {
        pthread_mutex_unlock(&ob_lock);
        return (unsigned)((wait + 999999) / 1000000);
    }
    hd_take_locked(&h, &t, &k);
    pthread_mutex_unlock(&ob_lock);
    while (h && d_worker_send(h->data, h->len)) {
        struct outframe *next = h->next;
        free(h);
        h = next;
        k--;
        w_last_send_ns = tt_now_ns();
        __atomic_sub_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    }
    if (h) {
        /* Not sendable from here: the rest for a program thread, in
         * order, before anything held since. */
        pthread_mutex_lock(&ob_lock);
        struct outframe *rest_h = hd_head, *rest_t = hd_tail;
        int rest_k = hd_n;
        hd_head = hd_tail = NULL;
        hd_n = 0;
        hd_bytes = 0;
        __atomic_store_n(&tt_deliver_held_n, 0, __ATOMIC_RELEASE);
        ob_append_locked(h, t, k);
        ob_append_locked(rest_h, rest_t, rest_k);
        pthread_mutex_unlock(&ob_lock);
    }
    return 0;
}

void tt_deliver_span(const struct tt_span *s)
{
    struct tt_buf out;

    if (tt_defer_is_worker()) {
        /* Encoded here; held in the outbox, sent by the worker when its
         * queue is empty (d_worker_idle) or by a program thread. */
        tt_defer_set_idle(d_worker_idle);
        tt_buf_init(&out, TT_WIRE_MAX_FRAME);
        if (tt_wire_pack_spans(&s, 1, 0, &out) != TT_OK) {
            bool cap = out.truncated;
            tt_buf_free(&out);
            ob_push(NULL, 0, cap ? "span above the frame size cap" : "encoding failed");
            return;
        }
        size_t len = out.len;
        hd_push(tt_buf_steal(&out), len);
        return;
    }
    /* Earlier spans first. */
    tt_deliver_flush_pending();
    tt_buf_init(&out, TT_WIRE_MAX_FRAME);
    d_lock();
    d.st.spans++;
    struct frame f = { .chunk = d.next_chunk++ };
    if (tt_wire_pack_spans(&s, 1, f.chunk, &out) != TT_OK) {
        d_lost(1, out.truncated ? "span above the frame size cap" : "encoding failed");
    } else {
        f.len = out.len;
        f.data = tt_buf_steal(&out);
        d_send_frame(f);
    }
    d_report_counts();
    d_unlock();
    tt_buf_free(&out);
}

/* Called on the program's thread as a request starts (exchange.c), so it
 * must cost next to nothing: the call is counted, and a count frame goes
 * to the daemon at most once a second from here (the first at once);
 * the rest go with the next count frame, whoever sends it, and at exit.
 * A frame per sampled-out call, packed and sent between the request's
 * head and its body, had put ~+285 µs on each such request's way to the
 * server (bench fig 3's request leg, TOKENTAP_SAMPLE_RATE=0). */
void tt_deliver_sampled_out(void)
{
    __atomic_add_fetch(&d_sampled_pending, 1, __ATOMIC_ACQ_REL);
    /* A WebSocket call is drawn on the worker (ws_api.c), which sends
     * nothing itself: the count goes with the next report a program
     * thread makes (a flush, a later draw, exit). */
    if (tt_defer_is_worker())
        return;
    int64_t now = tt_now_ns();
    int64_t last = __atomic_load_n(&d_sampled_report_ns, __ATOMIC_ACQUIRE);
    if (last && now - last < SAMPLED_REPORT_NS)
        return;
    __atomic_store_n(&d_sampled_report_ns, now, __ATOMIC_RELEASE);
    tt_deliver_flush_pending();
    d_lock();
    d_report_counts();
    d_unlock();
}

/* At normal exit, give the daemon a few milliseconds to confirm what it
 * was sent; spool the rest at once (issue #9: a stopped daemon cost every
 * exiting process a second). */
static void d_exit(void)
{
    /* Spans still queued for the worker first (defer.h): their frames are
     * then among those waited for, or spooled. */
    tt_defer_drain();
    tt_deliver_release_held();      /* the worker's, if the drain did not */
    tt_deliver_flush_pending();     /* no-op when the drain's flush ran */
    pthread_mutex_lock(&d.lock);
    tt_ownfd_lock();
    if (!d.init || d.gen != tt_rt_fork_gen)
        goto out;
    d_verify();
    d_report_counts();
    int64_t deadline = tt_now_ns() + EXIT_WAIT_MS * 1000000LL;
    while (d.q_n && d.fd >= 0) {
        int64_t left = (deadline - tt_now_ns()) / 1000000LL;
        if (left <= 0)
            break;
        struct pollfd pfd = { .fd = d.fd, .events = POLLIN };
        if (poll(&pfd, 1, (int)left) <= 0)
            break;
        if (!d_drain())
            break;
    }
    /* What is still unconfirmed goes to the spool now; a loss found on the
     * way (a nack, a spool with no room) is reported on the connection
     * while it is still open: the daemon reads a client to its end, and
     * keeps such counters even when its store is full (issue #9). */
    d_spool_unconfirmed();
    d_report_counts();
    if (d.q_n)
        d_disconnect();
    if (d.st.lost > d.durable_lost) {
        /* Not even the count reached the daemon or the spool: say it here,
         * whatever TOKENTAP_LOG says, so the loss is never silent. */
        char line[256];
        int n = snprintf(line, sizeof(line),
                         "tokentap[%d]: %llu span(s) lost and not recorded (%s)\n",
                         (int)getpid(), (unsigned long long)(d.st.lost - d.durable_lost),
                         d.lost_reason ? d.lost_reason : "unknown");
        if (n > 0) {
            ssize_t w = write(STDERR_FILENO, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
            (void)w;
        }
    }
out:
    d_unlock();
}

void tt_deliver_stats(struct tt_deliver_stats *out)
{
    tt_atfork_register(&d_fork);
    pthread_mutex_lock(&d.lock);
    d_take_sampled();
    *out = d.st;
    pthread_mutex_unlock(&d.lock);
}
