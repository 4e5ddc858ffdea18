/* ingest.c - how fast tokentapd stores spans, against the SQLite ceiling.
 *
 *   ingest TOKENTAPD M
 *
 * (a) daemon: exec a private `TOKENTAPD --foreground` on a temp socket, store
 *     and spool; send M spans as "spans" frames of 100, the way the preload
 *     does (length-prefixed msgpack, wire.h), reading the acks as they come;
 *     then "sync" and wait for "synced". Timed from the first send to
 *     "synced". At most WINDOW frames are unacknowledged at a time, like a
 *     client that keeps its frames until acked; it also bounds the daemon's
 *     reply queue, which drops replies a client does not read.
 * (b) ceiling: the same M spans put straight into a fresh store with
 *     tt_store_open/tt_store_put_span (same schema, WAL and pragmas as the
 *     daemon's) in ONE transaction: what SQLite alone can do here.
 * Both stores must then hold exactly M rows, or we fail.
 *
 * The spans and the frames are built before the clocks start: the figures
 * are the daemon's and SQLite's, not this program's msgpack encoding.
 * stdout: a human summary and one "ROW\t..." line for bench/run.sh. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "span.h"
#include "store.h"
#include "tt.h"
#include "wire.h"

#define PER_FRAME 100
#define WINDOW 64           /* frames in flight: 64 acks << the daemon's 64 KiB reply queue */
#define REPLY_TIMEOUT_MS 60000

static char tmpdir[] = "/tmp/tt-ingest-XXXXXX";
static pid_t daemon_pid = -1;

__attribute__((format(printf, 1, 2), noreturn))
static void die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "ingest: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    if (daemon_pid > 0)
        kill(daemon_pid, SIGTERM);  /* the one process we started */
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set(char **field, const char *v)
{
    if (tt_span_set(field, v) != TT_OK)
        die("%s", "out of memory");
}

/* A plausible finished chat call; i makes span_id (and more) unique. */
static void make_span(struct tt_span *s, size_t i, int64_t t0)
{
    static const char *const models[] = { "gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5",
                                          "claude-haiku-4-5" };
    const char *model = models[i % 4];
    bool openai = i % 4 < 2;
    char buf[512];

    tt_span_init(s);
    snprintf(s->trace_id, sizeof(s->trace_id), "%016" PRIx64 "%016zx",
             (uint64_t)0x5eed000000000000ull, i / 20);      /* 20 calls per run */
    snprintf(s->span_id, sizeof(s->span_id), "%016zx", (size_t)0xb0000000u + i);
    snprintf(buf, sizeof(buf), "chat %s", model);
    set(&s->name, buf);
    s->start_time = t0 + (int64_t)i * 1000000;
    s->end_time = s->start_time + 350000000 + (int64_t)(i % 97) * 1000000;
    set(&s->provider, openai ? "openai" : "anthropic");
    set(&s->operation, "chat");
    set(&s->host, openai ? "api.openai.com" : "api.anthropic.com");
    set(&s->method, "POST");
    set(&s->path, openai ? "/v1/chat/completions" : "/v1/messages");
    s->http_status = 200;
    set(&s->http_version, "1.1");
    set(&s->request_model, model);
    snprintf(buf, sizeof(buf), "%s-2025-01-01", model);
    set(&s->response_model, buf);
    snprintf(buf, sizeof(buf), "%s%zu", openai ? "chatcmpl-" : "msg_", i);
    set(&s->response_id, buf);
    s->stream = i % 3 == 0;
    s->ttft_ms = s->stream ? 120.5 + (double)(i % 50) : -1;
    s->has_temperature = s->has_max_tokens = true;
    s->temperature = 0.2;
    s->max_tokens = 1024;
    set(&s->finish_reasons, i % 10 == 0 ? "[\"tool_calls\"]" : "[\"stop\"]");
    s->input_tokens = 800 + (int64_t)(i % 1000);
    s->output_tokens = 50 + (int64_t)(i % 300);
    s->cache_read_tokens = i % 5 == 0 ? 512 : 0;
    s->usage_known = s->cost_known = true;
    s->cost_usd = (double)s->input_tokens * 0.15e-6 + (double)s->output_tokens * 0.6e-6;
    /* input: a 200-byte JSON message list */
    int w = snprintf(buf, sizeof(buf), "[{\"role\":\"user\",\"content\":\"request %zu: ", i);
    memset(buf + w, 'x', 200 - 3 - (size_t)w);
    memcpy(buf + 197, "\"}]", 4);
    set(&s->input, buf);
    snprintf(buf, sizeof(buf), "[{\"role\":\"assistant\",\"content\":\"Answer number %zu, "
             "short and to the point.\"}]", i);
    set(&s->output, buf);
    if (i % 10 == 0)
        set(&s->tool_calls, "[{\"id\":\"call_1\",\"name\":\"get_weather\","
                            "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]");
    s->pid = 4000 + (int64_t)(i / 20);
    set(&s->exe, "/usr/bin/python3");
}

static int64_t count_rows(const char *db)
{
    sqlite3 *h = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;

    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(h, "SELECT count(*) FROM spans", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(h);
    return n;
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            die("write to tokentapd: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
}

/* Replies received but not yet parsed. */
static struct tt_buf rx;

/* Read what is there (waiting up to timeout_ms), then parse every complete
 * reply into r[], returning how many; at most cap. */
static size_t read_replies(int fd, int timeout_ms, struct tt_wire_reply *r, size_t cap)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    char buf[65536];
    size_t n = 0, off = 0;

    int pr = poll(&p, 1, timeout_ms);

    if (pr < 0 && errno != EINTR)
        die("poll: %s", strerror(errno));
    if (pr == 0 && timeout_ms > 0)
        die("%s", "no reply from tokentapd within 60 s");
    if (p.revents) {
        ssize_t got = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (got == 0)
            die("%s", "tokentapd closed the connection");
        if (got > 0 && tt_buf_append(&rx, buf, (size_t)got) != TT_OK)
            die("%s", "reply buffer overflow");
    }
    while (n < cap && rx.len - off >= 4) {
        uint32_t len = tt_wire_len((unsigned char *)rx.data + off);
        if (rx.len - off - 4 < len)
            break;
        if (tt_wire_parse_reply((unsigned char *)rx.data + off + 4, len, &r[n]) != TT_OK)
            die("%s", "unparsable reply");
        off += 4 + len;
        n++;
    }
    memmove(rx.data, rx.data + off, rx.len - off);
    rx.len -= off;
    return n;
}

static pid_t start_daemon(const char *bin, const char *sock, const char *db, const char *spool,
                          const char *logf)
{
    pid_t pid = fork();

    if (pid == 0) {
        int fd = open(logf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 2);    /* its log lines would garble the table */
        execl(bin, bin, "--foreground", "--socket", sock, "--db", db, "--spool", spool,
              (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        die("fork: %s", strerror(errno));
    return pid;
}

static int connect_to(const char *sock)
{
    struct sockaddr_un a = { .sun_family = AF_UNIX };

    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    for (int tries = 0; tries < 500; tries++) {     /* up to 5 s for it to listen */
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
            return fd;
        if (fd >= 0)
            close(fd);
        if (waitpid(daemon_pid, NULL, WNOHANG) == daemon_pid) {
            daemon_pid = -1;
            die("%s", "tokentapd exited at start");
        }
        usleep(10000);
    }
    die("cannot connect to %s", sock);
}

int main(int argc, char **argv)
{
    if (argc != 3 || atol(argv[2]) <= 0) {
        fprintf(stderr, "usage: ingest TOKENTAPD M\n");
        return 2;
    }
    const size_t m = (size_t)atol(argv[2]);
    const size_t nframes = (m + PER_FRAME - 1) / PER_FRAME;
    char sock[100], db[256], spool[256], logf[256], cdb[256];

    if (!mkdtemp(tmpdir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(sock, sizeof(sock), "%s/d.sock", tmpdir);
    snprintf(db, sizeof(db), "%s/daemon.db", tmpdir);
    snprintf(spool, sizeof(spool), "%s/spool", tmpdir);
    snprintf(logf, sizeof(logf), "%s/tokentapd.log", tmpdir);
    snprintf(cdb, sizeof(cdb), "%s/ceiling.db", tmpdir);

    /* The spans, and the frames exactly as the preload would send them. */
    struct tt_span *spans = calloc(m, sizeof(*spans));
    const struct tt_span **ptrs = calloc(m, sizeof(*ptrs));
    size_t *frame_off = calloc(nframes + 1, sizeof(*frame_off));
    struct tt_buf frames;
    if (!spans || !ptrs || !frame_off)
        die("%s", "out of memory");
    int64_t t0 = tt_now_ns() - (int64_t)m * 1000000;
    for (size_t i = 0; i < m; i++) {
        make_span(&spans[i], i, t0);
        ptrs[i] = &spans[i];
    }
    tt_buf_init(&frames, SIZE_MAX / 2);
    for (size_t f = 0; f < nframes; f++) {
        size_t first = f * PER_FRAME, n = m - first < PER_FRAME ? m - first : PER_FRAME;
        frame_off[f] = frames.len;
        if (tt_wire_pack_spans(ptrs + first, n, f + 1, &frames) != TT_OK)
            die("%s", "pack failed");
    }
    frame_off[nframes] = frames.len;
    struct tt_buf ctl;
    tt_buf_init(&ctl, 1024);
    if (tt_wire_pack_ctl("sync", &ctl) != TT_OK)
        die("%s", "pack failed");

    /* (a) through the daemon */
    daemon_pid = start_daemon(argv[1], sock, db, spool, logf);
    int fd = connect_to(sock);
    tt_buf_init(&rx, 1u << 20);
    struct tt_wire_reply rep[256];
    size_t sent = 0, acked = 0;
    int64_t stored = 0, rejected = 0;
    bool synced = false;
    double a0 = now_s();
    while (!synced) {
        if (sent < nframes && sent - acked < WINDOW) {
            write_all(fd, frames.data + frame_off[sent], frame_off[sent + 1] - frame_off[sent]);
            if (++sent == nframes)
                write_all(fd, ctl.data, ctl.len);   /* sync right after the last frame */
        }
        /* Block only when the window is full or everything is sent. */
        bool must_wait = sent == nframes || sent - acked >= WINDOW;
        size_t n = read_replies(fd, must_wait ? REPLY_TIMEOUT_MS : 0, rep, 256);
        for (size_t k = 0; k < n; k++) {
            if (strcmp(rep[k].t, "ack") == 0) {
                acked++;
                stored += rep[k].stored;
                rejected += rep[k].rejected;
            } else if (strcmp(rep[k].t, "synced") == 0) {
                synced = true;
            } else {
                die("unexpected reply \"%s\"", rep[k].t);
            }
        }
    }
    double a_s = now_s() - a0;
    close(fd);
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
    daemon_pid = -1;
    if (acked != nframes || stored != (int64_t)m || rejected != 0) {
        fprintf(stderr, "ingest: acks %zu/%zu, stored %" PRId64 ", rejected %" PRId64 "\n",
                acked, nframes, stored, rejected);
        die("see %s", logf);
    }
    int64_t rows = count_rows(db);
    if (rows != (int64_t)m) {
        fprintf(stderr, "ingest: daemon store holds %" PRId64 " rows, want %zu\n", rows, m);
        die("see %s", logf);
    }

    /* (b) the ceiling: one transaction, no socket, no decoding, no validation */
    struct tt_store *st;
    if (tt_store_open(cdb, false, &st) != TT_OK)
        die("cannot open %s", cdb);
    double b0 = now_s();
    if (tt_store_begin(st) != TT_OK)
        die("%s", "begin failed");
    for (size_t i = 0; i < m; i++)
        if (tt_store_put_span(st, &spans[i]) != TT_OK)
            die("%s", "insert failed");
    if (tt_store_commit(st) != TT_OK)
        die("%s", "commit failed");
    double b_s = now_s() - b0;
    tt_store_close(st);
    rows = count_rows(cdb);
    if (rows != (int64_t)m) {
        fprintf(stderr, "ingest: ceiling store holds %" PRId64 " rows, want %zu\n", rows, m);
        return 1;
    }

    double a_rate = (double)m / a_s, b_rate = (double)m / b_s;
    printf("ingest: %zu spans (%zu frames of %d, %.0f bytes/span on the wire)\n", m, nframes,
           PER_FRAME, (double)frames.len / (double)m);
    printf("ingest: daemon  %.3f s, %.0f spans/s (socket -> decode/validate -> SQLite, "
           "batches <= 5000)\n", a_s, a_rate);
    printf("ingest: ceiling %.3f s, %.0f spans/s (tt_store_put_span, one transaction)\n",
           b_s, b_rate);
    printf("ROW\tspans/s stored, %zu spans in frames of %d\t%.0f\t%.0f\t%.2f\n", m, PER_FRAME,
           a_rate, b_rate, a_rate / b_rate);

    /* Clean up: the stores are ~1 KB/span. */
    const char *const files[] = { "daemon.db", "daemon.db-wal", "daemon.db-shm", "ceiling.db",
                                  "ceiling.db-wal", "ceiling.db-shm", "tokentapd.log", "d.sock",
                                  "d.sock.lock" };
    char p[300];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", tmpdir, files[i]);
        unlink(p);
    }
    rmdir(spool);
    rmdir(tmpdir);
    for (size_t i = 0; i < m; i++)
        tt_span_clear(&spans[i]);
    free(spans);
    free(ptrs);
    free(frame_off);
    tt_buf_free(&frames);
    tt_buf_free(&ctl);
    tt_buf_free(&rx);
    return 0;
}
