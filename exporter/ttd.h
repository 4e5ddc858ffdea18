/* ttd.h - what tokentapd's modules share (exporter/tokentapd.c and
 * exporter/ttd_*.c; only the daemon links them).
 *
 *   tokentapd.c    main: arguments, the listening socket, daemonizing, the
 *                  poll() loop, the ui (TOKENTAP_UI), the gateway child
 *   ttd_client.c   client I/O: accept, read, frames in, replies out, sync
 *   ttd_batch.c    the batch being filled, the writer thread that commits
 *                  the previous one, acks, the reserve for counters
 *   ttd_spool.c    spool ingestion (frames parked while no daemon listened)
 *   ttd_sinks.c    the sink registry: which sinks run, in which role, and
 *                  how one batch goes through all of them (sink.h)
 *
 * Errors (docs/INTERNALS.md, "Errors"): functions return TT_OK or a
 * negative TT_ERR_* (sinks: enum tt_sink_rc), and log what the user must
 * know through ttd_log() themselves, where the cause is known; nothing
 * else prints. */
#ifndef TT_TTD_H
#define TT_TTD_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "frame.h"
#include "gwchild.h"
#include "sink.h"
#include "tt.h"

#ifndef TT_VERSION
#define TT_VERSION "0.1.0"
#endif

#define TTD_MAX_CLIENTS 1024
#define TTD_READ_CHUNK 65536
#define TTD_READ_BUDGET (4u << 20)   /* bytes per client per iteration */
#define TTD_OUT_MAX 65536            /* pending replies per client */
#define TTD_BATCH_SPANS 5000         /* commit early past this */
#define TTD_INLINE_SPANS 2           /* up to this, committed on the loop's thread */

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

    /* The sink registry (ttd_sinks.c): each sink's role is its ops' role;
     * primary is the TT_SINK_PRIMARY one, whose answer the acks wait for
     * (NULL until ttd_open_sinks succeeded). */
    struct ttd_sink sinks[4];
    size_t nsinks;
    struct ttd_sink *primary;

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

/* Count an event both for "hello" (since start) and for the store. */
#define TTD_COUNT(d, field, n) ((d)->delta.field += (n))

static inline int64_t ttd_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* tokentapd.c */
void ttd_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ttd_client.c */
void ttd_client_free(struct ttd_client *c);            /* NULL-safe */
void ttd_client_try_send(struct ttd_client *c);
/* Queue one reply frame; dropped whole if the client is not reading. */
void ttd_client_reply(struct ttd_client *c, const char *t,
                      const struct tt_frame_kv *kv, size_t n);
void ttd_reply_nack(struct ttd_client *c, uint64_t chunk, const char *err, bool retry);
/* Handle one payload from a client (c) or from the spool (c == NULL).
 * Returns TT_OK, or TT_ERR_PARSE when the frame was refused (logged). */
int ttd_frame(struct ttd *d, struct ttd_client *c, const void *p, size_t n,
              const char *origin);
/* Read what the client sent. budget == 0: until EAGAIN (sync drain). */
void ttd_client_read(struct ttd *d, struct ttd_client *c, size_t budget);
void ttd_accept(struct ttd *d);
/* Free the clients marked dead. */
void ttd_reap(struct ttd *d);
/* Answer the clients waiting for "synced". */
void ttd_sync(struct ttd *d);

/* ttd_batch.c */
bool ttd_deltas_zero(const struct tt_sink_deltas *x);
void ttd_deltas_add(struct tt_sink_deltas *to, const struct tt_sink_deltas *x);
/* Drop from a spool frame the spans this daemon took already. */
void ttd_seen_filter(struct ttd *d, struct tt_frame *f);
/* Move a frame's spans / process counter into the batch; TT_ERR_NOMEM. */
int ttd_batch_take(struct ttd *d, struct tt_frame *f);
int ttd_count_take(struct ttd *d, struct tt_frame *f);
int ttd_ack_push(struct ttd *d, struct ttd_client *c, uint64_t chunk,
                 size_t stored, size_t rejected);
bool ttd_writer_busy(struct ttd *d);
void ttd_writer_stop(struct ttd *d);
/* Answer the writer's batch once committed (waiting for that if block).
 * Returns the primary sink's result for it; TT_SINK_OK if there was none. */
int ttd_complete(struct ttd *d, bool block);
/* Start the commit of the current batch (see ttd_batch.c). */
int ttd_flush(struct ttd *d);
/* Commit and answer everything read so far; the result of the last batch. */
int ttd_drain(struct ttd *d);
void ttd_reserve_open(struct ttd *d);
void ttd_reserve_close(struct ttd *d);
void ttd_counts_free(struct ttd *d);

/* ttd_spool.c: ingest the spool directory (one pass). */
void ttd_spool(struct ttd *d);

/* ttd_sinks.c */
/* Open the primary sink and the copies (before daemonize()); -1 when the
 * primary cannot start (logged). */
int ttd_open_sinks(struct ttd *d);
/* The forwarders the environment asks for (they start threads: after
 * daemonize()); sender false: queue only (--ingest-spool). */
void ttd_open_forwarders(struct ttd *d, bool sender);
/* Write a batch to every sink by role; the primary's result decides the
 * acks. Runs on the writer thread, or inline if there is none. */
int ttd_sinks_write(struct ttd *d, const struct tt_span *b, size_t n,
                    const struct tt_sink_deltas *delta,
                    const struct tt_proc_count *pc, size_t npc);
/* What the primary's last failure ran into, or NULL. */
const char *ttd_sinks_errmsg(struct ttd *d);
void ttd_flush_sinks(struct ttd *d);
/* The forwarders' counters (sent, dropped...) into the next batch's deltas. */
void ttd_take_counts(struct ttd *d);
void ttd_close_sinks(struct ttd *d);

#endif
