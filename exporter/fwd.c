/* fwd.c - the disk-backed forwarding queue and its sender (fwd.h). */
#include "fwd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "wire.h"

#define FWD_STAGE_PREFIX ".stage-"
#define FWD_MAX_STAGED 64
#define FWD_PATH (PATH_MAX + 256)   /* dir + "/" + name */

struct tt_fwd {
    struct tt_fwd_cfg cfg;
    pthread_mutex_t mu;         /* everything below */
    pthread_cond_t cv;
    pthread_t th;
    bool th_up;
    bool kick;                  /* new files queued */
    bool stopping;
    int64_t deadline;           /* monotonic ms: stop sending after */
    struct tt_fwd_stats st;
    uint64_t queue_bytes;       /* estimate; recomputed by a scan when over */
    unsigned seq;
    char *staged[FWD_MAX_STAGED];
    uint64_t staged_recs[FWD_MAX_STAGED];
    size_t nstaged;
    bool logged_retry;          /* one log line per failure episode */
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nolog(const char *fmt, ...)
{
    (void)fmt;
}

int64_t tt_fwd_backoff(int64_t backoff_ms, int64_t backoff_max_ms, unsigned attempt,
                       double r, int64_t retry_after_ms)
{
    int64_t d = backoff_ms > 0 ? backoff_ms : 1;

    for (unsigned i = 0; i < attempt && d < backoff_max_ms; i++)
        d *= 2;
    if (d > backoff_max_ms)
        d = backoff_max_ms;
    if (r < 0)
        r = 0;
    if (r >= 1)
        r = 0.999999;
    d = (int64_t)((double)d * (0.5 + r / 2));
    if (retry_after_ms >= 0 && d < retry_after_ms)
        d = retry_after_ms;
    return d > 0 ? d : 1;       /* 0 would read as "no retry pending" */
}

int tt_fwd_default_dir(const char *name, char *buf, size_t n)
{
    const char *e = getenv("TOKENTAP_FORWARD_DIR");
    char home[PATH_MAX];
    int w, rc;

    if (e && *e) {
        w = snprintf(buf, n, "%s/%s", e, name);
    } else {
        if ((rc = tt_wire_home_dir(home, sizeof(home))) != TT_OK)
            return rc;
        w = snprintf(buf, n, "%s/forward/%s", home, name);
    }
    return w < 0 || (size_t)w >= n ? TT_ERR_CAP : TT_OK;
}

/* mkdir -p with 0700 for what we create. */
static int mkdirs(const char *path)
{
    char p[PATH_MAX];
    size_t n = strlen(path);

    if (n >= sizeof(p))
        return -1;
    memcpy(p, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != '\0')
            continue;
        char c = p[i];
        p[i] = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return -1;
        p[i] = c;
    }
    return 0;
}

/* ---- the queue on disk ---------------------------------------------------- */

struct qfile {
    char *name;
    uint64_t size;
};

static int qfile_cmp(const void *a, const void *b)
{
    return strcmp(((const struct qfile *)a)->name, ((const struct qfile *)b)->name);
}

static bool is_queued(const char *n)
{
    size_t l = strlen(n);
    return l > 2 && n[0] != '.' && strcmp(n + l - 2, ".q") == 0;
}

/* The queued files, oldest first. */
static int list_queue(const char *dir, struct qfile **out, size_t *nout, uint64_t *bytes)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    struct qfile *v = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;

    *out = NULL;
    *nout = 0;
    if (bytes)
        *bytes = 0;
    if (!d)
        return TT_ERR_IO;
    while ((e = readdir(d)) != NULL) {
        struct stat sb;
        if (!is_queued(e->d_name) ||
            fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(sb.st_mode))
            continue;
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 64;
            struct qfile *nv = realloc(v, nc * sizeof(*nv));
            if (!nv)
                break;
            v = nv;
            cap = nc;
        }
        if (!(v[n].name = strdup(e->d_name)))
            break;
        v[n++].size = (uint64_t)sb.st_size;
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(*v), qfile_cmp);
    *out = v;
    *nout = n;
    if (bytes)
        *bytes = total;
    return TT_OK;
}

static void free_list(struct qfile *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
}

/* Read a whole file (at most cap bytes); NULL if it is gone. */
static char *read_file(const char *dir, const char *name, size_t *len)
{
    char path[FWD_PATH];
    struct stat sb;
    char *buf = NULL;
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return NULL;
    if (fstat(fd, &sb) == 0 && sb.st_size >= 0 && (buf = malloc((size_t)sb.st_size + 1))) {
        size_t got = 0;
        while (got < (size_t)sb.st_size) {
            ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        buf[got] = '\0';
        *len = got;
    }
    close(fd);
    return buf;
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t c = 0;
    for (const char *q = p; (q = memchr(q, '\n', n - (size_t)(q - p))) != NULL; q++)
        c++;
    return c;
}

void tt_fwd_queue_size(const char *dir, uint64_t *files, uint64_t *records, uint64_t *bytes)
{
    struct qfile *v;
    size_t n;

    *files = *records = *bytes = 0;
    if (list_queue(dir, &v, &n, bytes) != TT_OK)
        return;
    *files = n;
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        char *b = read_file(dir, v[i].name, &len);
        if (b)
            *records += count_lines(b, len);
        free(b);
    }
    free_list(v, n);
}

/* Delete the oldest files until the queue fits its bound. Locked. */
static void trim_locked(struct tt_fwd *f)
{
    struct qfile *v;
    size_t n;
    uint64_t total, dropped = 0, files = 0;

    if (f->queue_bytes <= f->cfg.queue_max_bytes)
        return;
    if (list_queue(f->cfg.dir, &v, &n, &total) != TT_OK)
        return;
    for (size_t i = 0; i < n && total > f->cfg.queue_max_bytes; i++) {
        size_t len = 0;
        char path[FWD_PATH];
        char *b = read_file(f->cfg.dir, v[i].name, &len);
        snprintf(path, sizeof(path), "%s/%s", f->cfg.dir, v[i].name);
        if (unlink(path) == 0) {
            dropped += b ? count_lines(b, len) : 0;
            files++;
            total -= v[i].size;
        }
        free(b);
    }
    free_list(v, n);
    f->queue_bytes = total;
    f->st.queue_dropped += dropped;
    if (dropped)
        f->cfg.log("forward %s: queue over %llu bytes: dropped the oldest %llu record(s) "
                   "(%llu file(s))", f->cfg.name, (unsigned long long)f->cfg.queue_max_bytes,
                   (unsigned long long)dropped, (unsigned long long)files);
}

/* ---- staging --------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

int tt_fwd_stage(struct tt_fwd *f, const char *recs, size_t len, size_t nrec)
{
    char name[128], path[FWD_PATH];
    struct timespec ts;
    int fd, rc = TT_OK;

    if (nrec == 0)
        return TT_OK;
    pthread_mutex_lock(&f->mu);
    if (f->nstaged == FWD_MAX_STAGED) {
        rc = TT_ERR_CAP;
        goto fail;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(name, sizeof(name), "%020lld-%07d-%08u.q",
             (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec, (int)getpid(), f->seq++);
    snprintf(path, sizeof(path), "%s/" FWD_STAGE_PREFIX "%s", f->cfg.dir, name);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 && errno == ENOENT && mkdirs(f->cfg.dir) == 0)   /* removed under us */
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        rc = TT_ERR_IO;
        goto fail;
    }
    if (write_all(fd, recs, len) != 0) {
        close(fd);
        unlink(path);
        rc = TT_ERR_IO;
        goto fail;
    }
    close(fd);
    if (!(f->staged[f->nstaged] = strdup(name))) {
        unlink(path);
        rc = TT_ERR_NOMEM;
        goto fail;
    }
    f->staged_recs[f->nstaged++] = nrec;
    f->queue_bytes += len;
    pthread_mutex_unlock(&f->mu);
    return TT_OK;
fail:
    f->st.queue_dropped += nrec;
    f->cfg.log("forward %s: cannot queue %zu record(s) in %s: %s (counted as dropped)",
               f->cfg.name, nrec, f->cfg.dir, rc == TT_ERR_IO ? strerror(errno) : "too many staged");
    pthread_mutex_unlock(&f->mu);
    return rc;
}

void tt_fwd_commit(struct tt_fwd *f, bool ok)
{
    char from[FWD_PATH], to[FWD_PATH];

    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->nstaged; i++) {
        snprintf(from, sizeof(from), "%s/" FWD_STAGE_PREFIX "%s", f->cfg.dir, f->staged[i]);
        snprintf(to, sizeof(to), "%s/%s", f->cfg.dir, f->staged[i]);
        if (!ok) {
            unlink(from);
        } else if (rename(from, to) != 0) {
            f->st.queue_dropped += f->staged_recs[i];
            f->cfg.log("forward %s: cannot queue %s: %s (counted as dropped)", f->cfg.name,
                       f->staged[i], strerror(errno));
            unlink(from);
        }
        free(f->staged[i]);
    }
    if (ok && f->nstaged) {
        f->kick = true;
        trim_locked(f);
        pthread_cond_broadcast(&f->cv);
    }
    f->nstaged = 0;
    pthread_mutex_unlock(&f->mu);
}

/* Staged files of a daemon that died between staging and commit: the
 * store may have taken their batch, so they are queued (at least once). */
static void adopt_staged(struct tt_fwd *f)
{
    DIR *d = opendir(f->cfg.dir);
    struct dirent *e;
    unsigned n = 0;

    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, FWD_STAGE_PREFIX, sizeof(FWD_STAGE_PREFIX) - 1) != 0)
            continue;
        const char *final = e->d_name + sizeof(FWD_STAGE_PREFIX) - 1;
        if (!is_queued(final))
            continue;
        /* <ns>-<pid>-<seq>.q: a live writer (a daemon next to an
         * --ingest-spool run) is still to settle its own files. */
        const char *dash = strchr(final, '-');
        long pid = dash ? strtol(dash + 1, NULL, 10) : 0;
        if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
            continue;
        if (renameat(dirfd(d), e->d_name, dirfd(d), final) == 0)
            n++;
    }
    closedir(d);
    if (n)
        f->cfg.log("forward %s: queued %u file(s) staged by a daemon that stopped "
                   "mid-batch (they may be sent twice)", f->cfg.name, n);
}

/* ---- the sender ------------------------------------------------------------- */

static double rand01(void)
{
    uint32_t r;
    if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
        r = (uint32_t)mono_ms() * 2654435761u;
    return (double)r / 4294967296.0;
}

static void unlink_batch(struct tt_fwd *f, struct qfile *v, size_t n)
{
    char path[FWD_PATH];
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof(path), "%s/%s", f->cfg.dir, v[i].name);
        if (unlink(path) == 0)
            f->queue_bytes = f->queue_bytes > v[i].size ? f->queue_bytes - v[i].size : 0;
    }
}

/* Send the queue's batches, oldest first (one directory listing for all
 * of them), until it is empty, a batch is to be retried, or the deadline
 * of a stop passed. 0 when the queue was empty; 1 otherwise, with
 * *retry_in > 0 when the last batch waits for a retry. */
static int send_queue(struct tt_fwd *f, unsigned *attempt, int64_t *retry_in)
{
    struct qfile *v = NULL;
    size_t n = 0, at = 0;
    struct tt_buf body;
    struct tt_fwd_outcome o;

    *retry_in = 0;
    pthread_mutex_lock(&f->mu);
    int lrc = list_queue(f->cfg.dir, &v, &n, NULL);
    pthread_mutex_unlock(&f->mu);
    if (lrc != TT_OK || n == 0) {
        free_list(v, n);
        return 0;
    }
    tt_buf_init(&body, (size_t)512 << 20);
    while (at < n && *retry_in == 0) {
        size_t first = at;
        uint64_t nrec = 0;
        tt_buf_reset(&body);
        for (; at < n; at++) {
            size_t len = 0;
            char *b = read_file(f->cfg.dir, v[at].name, &len);
            if (!b)
                continue;       /* trimmed meanwhile */
            uint64_t c = count_lines(b, len);
            if (nrec > 0 && nrec + c > f->cfg.batch_max) {
                free(b);
                break;
            }
            int arc = tt_buf_append(&body, b, len);
            free(b);
            if (arc != TT_OK)
                break;
            nrec += c;
        }
        pthread_mutex_lock(&f->mu);
        if (nrec == 0) {
            unlink_batch(f, v + first, at - first);     /* empty files */
            pthread_mutex_unlock(&f->mu);
            if (at == first)
                break;          /* OOM: try later */
            continue;
        }
        long timeout = f->cfg.timeout_ms;
        if (f->stopping) {
            int64_t left = f->deadline - mono_ms();
            if (left <= 0) {
                pthread_mutex_unlock(&f->mu);
                break;
            }
            if (left < timeout)
                timeout = left > 100 ? (long)left : 100;
        }
        pthread_mutex_unlock(&f->mu);
        memset(&o, 0, sizeof(o));
        o.retry_after_ms = -1;
        f->cfg.send(f->cfg.ctx, body.data, body.len, (size_t)nrec, timeout, &o);

        pthread_mutex_lock(&f->mu);
        switch (o.v) {
        case TT_FWD_SENT:
            unlink_batch(f, v + first, at - first);
            if (o.rejected > nrec)
                o.rejected = nrec;
            f->st.sent += nrec - o.rejected;
            f->st.dropped += o.rejected;
            if (o.rejected)
                f->cfg.log("forward %s: the server refused %llu of %llu record(s): %s",
                           f->cfg.name, (unsigned long long)o.rejected,
                           (unsigned long long)nrec, o.why);
            if (f->logged_retry)
                f->cfg.log("forward %s: delivering again", f->cfg.name);
            f->logged_retry = false;
            *attempt = 0;
            break;
        case TT_FWD_DROP:
            unlink_batch(f, v + first, at - first);
            f->st.dropped += nrec;
            f->cfg.log("forward %s: dropped %llu record(s), not retried: %s", f->cfg.name,
                       (unsigned long long)nrec, o.why);
            *attempt = 0;
            break;
        case TT_FWD_RETRY:
            f->st.retries++;
            *retry_in = tt_fwd_backoff(f->cfg.backoff_ms, f->cfg.backoff_max_ms, *attempt,
                                       rand01(), o.retry_after_ms);
            if (*attempt < 30)
                (*attempt)++;
            if (!f->logged_retry)
                f->cfg.log("forward %s: %s; retrying in %lld ms (queue kept on disk: %s)",
                           f->cfg.name, o.why, (long long)*retry_in, f->cfg.dir);
            f->logged_retry = true;
            break;
        }
        pthread_mutex_unlock(&f->mu);
    }
    tt_buf_free(&body);
    free_list(v, n);
    return 1;
}

static void *sender_main(void *arg)
{
    struct tt_fwd *f = arg;
    unsigned attempt = 0;
    int64_t next_try = 0;       /* monotonic ms; 0 = now */

    for (;;) {
        pthread_mutex_lock(&f->mu);
        for (;;) {
            int64_t now = mono_ms();
            if (f->stopping && now >= f->deadline)
                break;
            if (next_try > now) {
                /* In backoff: wait it out (a kick does not shorten it). */
                int64_t until = next_try;
                if (f->stopping && f->deadline < until)
                    until = f->deadline;
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                int64_t ms = until - now;
                ts.tv_sec += ms / 1000;
                ts.tv_nsec += (ms % 1000) * 1000000;
                if (ts.tv_nsec >= 1000000000) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000;
                }
                pthread_cond_timedwait(&f->cv, &f->mu, &ts);
                continue;
            }
            if (f->kick || f->stopping)
                break;
            /* Idle: look at the disk every few seconds all the same (an
             * --ingest-spool process may have queued files). */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 2;
            if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) == ETIMEDOUT)
                break;
        }
        bool stop = f->stopping;
        bool late = stop && mono_ms() >= f->deadline;
        f->kick = false;
        pthread_mutex_unlock(&f->mu);
        if (late)
            break;
        int64_t retry_in = 0;
        int r = send_queue(f, &attempt, &retry_in);
        next_try = retry_in > 0 ? mono_ms() + retry_in : 0;
        if (r == 1 && retry_in == 0) {
            pthread_mutex_lock(&f->mu);
            f->kick = true;         /* files may have come meanwhile */
            pthread_mutex_unlock(&f->mu);
        } else if (r == 0 && stop) {
            break;                  /* drained */
        }
    }
    tt_http_thread_done();
    return NULL;
}

struct tt_fwd *tt_fwd_open(const struct tt_fwd_cfg *cfg)
{
    struct tt_fwd *f = calloc(1, sizeof(*f));
    struct qfile *v;
    size_t n;

    if (!f)
        return NULL;
    f->cfg = *cfg;
    if (!f->cfg.log)
        f->cfg.log = nolog;
    if (f->cfg.batch_max == 0)
        f->cfg.batch_max = 512;
    if (f->cfg.backoff_max_ms < f->cfg.backoff_ms)
        f->cfg.backoff_max_ms = f->cfg.backoff_ms;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    if (mkdirs(f->cfg.dir) != 0) {
        f->cfg.log("forward %s: cannot create %s: %s", f->cfg.name, f->cfg.dir, strerror(errno));
        goto fail;
    }
    (void)chmod(f->cfg.dir, 0700);
    adopt_staged(f);
    if (list_queue(f->cfg.dir, &v, &n, &f->queue_bytes) == TT_OK) {
        if (n)
            f->cfg.log("forward %s: %zu file(s) (%llu bytes) waiting in %s from before",
                       f->cfg.name, n, (unsigned long long)f->queue_bytes, f->cfg.dir);
        free_list(v, n);
    }
    f->kick = true;
    if (f->cfg.sender) {
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);   /* signals go to the loop */
        /* Set before the thread exists: it shares a word with kick/stopping. */
        f->th_up = true;
        int e = pthread_create(&f->th, NULL, sender_main, f);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (e != 0) {
            f->cfg.log("forward %s: cannot start the sender: %s", f->cfg.name, strerror(e));
            goto fail;
        }
    }
    return f;
fail:
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
    return NULL;
}

void tt_fwd_take(struct tt_fwd *f, struct tt_fwd_stats *d)
{
    pthread_mutex_lock(&f->mu);
    d->sent += f->st.sent;
    d->dropped += f->st.dropped;
    d->queue_dropped += f->st.queue_dropped;
    d->retries += f->st.retries;
    memset(&f->st, 0, sizeof(f->st));
    pthread_mutex_unlock(&f->mu);
}

void tt_fwd_stop(struct tt_fwd *f, long timeout_ms)
{
    if (!f)
        return;
    tt_fwd_commit(f, false);    /* nothing may stay staged */
    if (f->th_up) {
        pthread_mutex_lock(&f->mu);
        f->stopping = true;
        f->deadline = mono_ms() + (timeout_ms > 0 ? timeout_ms : 0);
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
        pthread_join(f->th, NULL);
        f->th_up = false;
        uint64_t files, recs, bytes;
        tt_fwd_queue_size(f->cfg.dir, &files, &recs, &bytes);
        if (recs)
            f->cfg.log("forward %s: %llu record(s) left in %s for the next start",
                       f->cfg.name, (unsigned long long)recs, f->cfg.dir);
    }
}

void tt_fwd_close(struct tt_fwd *f)
{
    if (!f)
        return;
    tt_fwd_stop(f, 0);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
    free(f);
}
