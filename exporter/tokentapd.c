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
 * the two is slower (SQLite). All replies are sent from the loop. The
 * spool directory, where clients park frames while the daemon is down, is
 * ingested at start, on every "sync" and every 2 s.
 *
 * This file is main: arguments, the socket, daemonizing, the loop. The
 * rest is in the modules ttd.h lists (client I/O, batching and the writer,
 * spool ingestion, the sink registry).
 *
 * Replies are best effort: a client that does not read its socket gets its
 * replies dropped (whole frames, never half of one) once its small output
 * buffer is full. Delivery is at-least-once; spans are idempotent by
 * span_id, so replays from clients or the spool never duplicate rows. */
#include <errno.h>
#include <sched.h>
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
#include "store.h"
#include "ttd.h"
#include "ui.h"
#include "walbuf.h"
#include "wire.h"

static volatile sig_atomic_t ttd_signal;

void ttd_log(const char *fmt, ...)
{
    va_list ap;
    char line[8192];        /* a sink's message names files and says what to do */

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    fprintf(stderr, "tokentapd: %s\n", line);
}

static void on_signal(int sig)
{
    ttd_signal = sig;
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
    int64_t next_spool = ttd_mono_ms() + TTD_SPOOL_PERIOD_MS;

    d->last_active_ns = ttd_mono_ms();
    while (!d->stopping && !ttd_signal) {
        int64_t now = ttd_mono_ms();
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
        tt_gwchild_tick(&d->gw, ttd_mono_ms());
        if (n < 0 && errno != EINTR) {
            ttd_log("poll: %s", strerror(errno));
            break;
        }
        if (n > 0) {
            for (size_t i = 0; i < npoll; i++) {
                struct ttd_client *c = d->cl[i];
                short re = pfd[1 + i].revents;
                if (re & (POLLIN | POLLHUP | POLLERR))
                    ttd_client_read(d, c, TTD_READ_BUDGET);
                if (re & POLLOUT)
                    ttd_client_try_send(c);
            }
            if (pfd[0].revents & POLLIN) {
                int64_t pause = d->accept_pause_until;
                ttd_accept(d);
                if (pause && d->accept_pause_until == pause)
                    d->accept_pause_until = 0;  /* accepted again: episode over */
            }
            if (nfd > 1 + npoll && (pfd[1 + npoll].revents & POLLIN)) {
                char b[64];
                /* One read empties it (the writer writes a byte per batch);
                 * a short read means nothing is left. */
                while (read(d->wake[0], b, sizeof(b)) == (ssize_t)sizeof(b))
                    ;
            }
        }
        /* Answer a committed batch; while the writer is still busy, keep
         * adding to the next one (fewer, larger transactions under load;
         * TTD_BATCH_SPANS bounds it). */
        (void)ttd_complete(d, false);
        if (!ttd_writer_busy(d))
            (void)ttd_flush(d);
        ttd_sync(d);
        if (ttd_mono_ms() >= next_spool) {
            ttd_spool(d);
            ttd_flush_sinks(d);
            ttd_take_counts(d);
            next_spool = ttd_mono_ms() + TTD_SPOOL_PERIOD_MS;
        }
        ttd_reap(d);
        if (d->ncl > 0)
            d->last_active_ns = ttd_mono_ms();
    }
    /* Exit path: nothing read may stay uncommitted. */
    (void)ttd_drain(d);
    if (d->stopping && d->stop_client && !d->stop_client->dead) {
        ttd_client_reply(d->stop_client, "bye", NULL, 0);
        ttd_log("stop requested by a client");
    }
    if (ttd_signal)
        ttd_log("signal %d, exiting", (int)ttd_signal);
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

/* TOKENTAP_DAEMON_SCHED=idle: tokentapd runs when a CPU would otherwise
 * idle (SCHED_IDLE), so on a busy machine the programs it serves, and the
 * servers they call, come first (issue #14: on 2 cores its work per span
 * sits in every call's latency; make bench figure 17). Not the default: a
 * daemon that acks late makes exiting clients spool more (3 ms wait), and
 * spooled spans reach the store and the forwarders later, out of their
 * order. Children (the gateway, which relays calls) start with the normal
 * policy (SCHED_RESET_ON_FORK); so do the threads started before this
 * call (the UI's, the forwarders'). */
static void ttd_sched(void)
{
    const char *v = getenv("TOKENTAP_DAEMON_SCHED");
    struct sched_param sp = { 0 };

    if (!v || strcmp(v, "idle"))
        return;
    if (sched_setscheduler(0, SCHED_IDLE | SCHED_RESET_ON_FORK, &sp) != 0)
        ttd_log("could not lower the scheduling policy (%s): running as normal",
                strerror(errno));
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
    /* The store's WAL written once per transaction, not twice per page
     * (walbuf.h); without it SQLite's own VFS does the same job slower. */
    if (tt_walbuf_register() != TT_OK)
        ttd_log("sqlite: the WAL write buffer is not available; writing unbuffered");
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
    /* After daemonize (a fork, which SCHED_RESET_ON_FORK would undo) and
     * after the UI's and the forwarders' threads (which answer people and
     * other servers) started: the loop and the writer thread it starts
     * later run idle. */
    ttd_sched();

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
        ttd_client_free(d.cl[i]);
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
