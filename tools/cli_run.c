/* cli_run.c - `tokentap run -- CMD`: trace one command and summarise it.
 *
 * The command runs with the preload in LD_PRELOAD, a fresh (or joined)
 * trace in TRACEPARENT and the socket of a daemon that writes the store we
 * will read: a running shared daemon when it writes the same store, else a
 * private one started for this run and stopped after it. The command's exit
 * status is ours. */
#include "cli.h"
#include "config.h"
#include "sink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_gateway.h"
#include "daemon_client.h"
#include "elfcheck.h"
#include "redact.h"
#include "store.h"
#include "wire.h"

extern char **environ;

#define HELLO_TIMEOUT_MS 1000
#define START_TIMEOUT_MS 5000
#define SYNC_TIMEOUT_MS 10000
#define STOP_TIMEOUT_MS 3000

struct run {
    bool quiet;
    char preload[PATH_MAX];
    char daemon[PATH_MAX];
    char db[PATH_MAX];
    char spool[PATH_MAX];
    char sock[TT_WIRE_SUN_PATH_MAX + 1];
    /* Private daemon, when we started one. */
    char privdir[PATH_MAX];
    char log[PATH_MAX];
    pid_t dpid;
    char trace[33];
    char runspan[17];
    char outer_parent[17];       /* the span in an outer TRACEPARENT */
    bool joined;
    struct tt_cli_budget budget; /* --budget */
    int gw_mode;                 /* --gateway: TT_CLI_GW_* */
    struct tt_cli_gw gw;
    char gw_why[160];            /* auto: why the command got the gateway */
    bool gw_cmd;                 /* the command itself was pointed at it */
    const char *cmd0;            /* the command as given */
    char cmd_path[PATH_MAX];     /* its executable, "" if not found */
};

/* The child to forward signals to; 0 while there is none. fwd_group: the
 * child leads its own process group (run --budget-action kill). */
static volatile sig_atomic_t fwd_pid, fwd_group;

static void on_signal(int sig, siginfo_t *si, void *uctx)
{
    (void)uctx;
    pid_t p = (pid_t)fwd_pid;

    /* A terminal's ^C / hangup already reached the child, which shares our
     * process group: forwarding it would deliver it twice. Forward what was
     * sent to us alone (kill(1), a supervisor). */
    if (p > 0 && fwd_group)
        kill(-p, sig);
    else if (p > 0 && si && si->si_code <= 0 && si->si_pid != p)
        kill(p, sig);
}

static const int fwd_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---------------------------------------------------------- locating */

/* The preload and the daemon sit next to the CLI: <bindir>/tokentapd and
 * <bindir>/../lib/libtokentap.so, in the build tree and once installed. */
static int locate(struct run *r)
{
    char self[PATH_MAX], path[PATH_MAX + 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0) {
        fprintf(stderr, "tokentap run: cannot find my own executable "
                "(/proc/self/exe: %s); is /proc mounted?\n", strerror(errno));
        return TT_ERR_IO;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';

    snprintf(path, sizeof(path), "%s/../lib/libtokentap.so", self);
    if (!realpath(path, r->preload)) {
        fprintf(stderr, "tokentap run: the preload library %s is missing (%s); "
                "reinstall tokentap (make install) or run `make`\n", path,
                strerror(errno));
        return TT_ERR_IO;
    }
    snprintf(path, sizeof(path), "%s/tokentapd", self);
    if (!realpath(path, r->daemon) || access(r->daemon, X_OK) != 0) {
        fprintf(stderr, "tokentap run: the daemon %s is missing or not "
                "executable (%s); reinstall tokentap (make install) or run `make`\n",
                path, strerror(errno));
        return TT_ERR_IO;
    }
    return TT_OK;
}

/* ------------------------------------------------------------ daemon */

/* Does the daemon at sock answer and write our store? */
static bool daemon_matches(const char *sock, const char *db)
{
    struct tt_dc_reply rep;
    char theirs[PATH_MAX];

    if (tt_dc_request(sock, "hello", HELLO_TIMEOUT_MS, &rep) != TT_OK ||
        strcmp(rep.type, "hello") != 0)
        return false;
    /* Compare canonical paths: the daemon may have been given a relative
     * or symlinked path to the same file. */
    if (tt_cli_abs_path(rep.db, theirs, sizeof(theirs)) != TT_OK)
        return strcmp(rep.db, db) == 0;
    return strcmp(theirs, db) == 0;
}

/* Print what the private daemon logged (it logs to a file so that a
 * healthy run stays quiet). */
static void dump_log(const struct run *r)
{
    char buf[4096];
    int fd = open(r->log, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return;
    /* The tail is where the reason is. */
    off_t size = lseek(fd, 0, SEEK_END);
    lseek(fd, size > (off_t)sizeof(buf) ? size - (off_t)sizeof(buf) : 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        fwrite(buf, 1, (size_t)n, stderr);
    close(fd);
}

static void cleanup_private(struct run *r)
{
    if (!r->privdir[0])
        return;
    /* The directory is ours alone (mkdtemp, 0700) and the daemon is gone:
     * whatever it left there (socket, lock file, log) goes with it. */
    DIR *d = opendir(r->privdir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(r->privdir);
    r->privdir[0] = '\0';
}

static int start_private(struct run *r)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[80];

    /* The socket path must fit sun_path; a long $TMPDIR falls back to /tmp. */
    if (!tmp || tmp[0] != '/' || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(tmpl, sizeof(tmpl), "%.60s/tokentap-XXXXXX", tmp);
    if (!mkdtemp(tmpl)) {
        fprintf(stderr, "tokentap run: cannot create a private directory in %s: "
                "%s (set TMPDIR to a writable directory)\n", tmp, strerror(errno));
        return TT_ERR_IO;
    }
    /* mkdtemp creates 0700: the socket inside is reachable by us only. */
    snprintf(r->privdir, sizeof(r->privdir), "%s", tmpl);
    snprintf(r->sock, sizeof(r->sock), "%s/d.sock", tmpl);
    snprintf(r->log, sizeof(r->log), "%s/tokentapd.log", tmpl);

    /* --foreground: we are its parent, to stop and reap it; --idle-exit:
     * should we die without stopping it, it goes away by itself. */
    char *args[] = {
        r->daemon, "--foreground", "--socket", r->sock, "--db", r->db,
        "--spool", r->spool, "--idle-exit", "3600", NULL,
    };
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "tokentap run: fork: %s\n", strerror(errno));
        cleanup_private(r);
        return TT_ERR_IO;
    }
    if (pid == 0) {
        /* Own session: the terminal's ^C is for the traced command; the
         * daemon must live on to commit what the command sent. */
        setsid();
        int in = open("/dev/null", O_RDONLY);
        int out = open(r->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
        if (in >= 0)
            dup2(in, 0);
        if (out >= 0) {
            dup2(out, 1);
            dup2(out, 2);
        }
        execv(r->daemon, args);
        dprintf(out >= 0 ? out : 2, "tokentap: exec %s: %s\n", r->daemon,
                strerror(errno));
        _exit(127);
    }
    r->dpid = pid;

    int64_t deadline = mono_ms() + START_TIMEOUT_MS;
    for (;;) {
        struct tt_dc_reply rep;
        int st;

        if (tt_dc_request(r->sock, "hello", 500, &rep) == TT_OK &&
            strcmp(rep.type, "hello") == 0)
            return TT_OK;
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) {
            r->dpid = 0;
            fprintf(stderr, "tokentap run: the daemon %s exited during start "
                    "(status %d):\n", r->daemon,
                    WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
            dump_log(r);
            cleanup_private(r);
            return TT_ERR;
        }
        if (mono_ms() >= deadline)
            break;
        sleep_ms(20);
    }
    fprintf(stderr, "tokentap run: the daemon %s did not answer on %s within "
            "%d s:\n", r->daemon, r->sock, START_TIMEOUT_MS / 1000);
    dump_log(r);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    r->dpid = 0;
    cleanup_private(r);
    return TT_ERR;
}

/* Wait up to ms for the private daemon to exit; true if it did. */
static bool reap(pid_t pid, long ms)
{
    int64_t deadline = mono_ms() + ms;

    do {
        pid_t w = waitpid(pid, NULL, WNOHANG);
        if (w == pid || (w < 0 && errno == ECHILD))
            return true;
        sleep_ms(10);
    } while (mono_ms() < deadline);
    return false;
}

static void stop_private(struct run *r)
{
    struct tt_dc_reply rep;

    if (r->dpid <= 0)
        return;
    if (tt_dc_request(r->sock, "stop", STOP_TIMEOUT_MS, &rep) != TT_OK ||
        !reap(r->dpid, STOP_TIMEOUT_MS)) {
        kill(r->dpid, SIGTERM);
        if (!reap(r->dpid, 1000)) {
            kill(r->dpid, SIGKILL);
            while (waitpid(r->dpid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
    }
    r->dpid = 0;
    cleanup_private(r);
}

static int pick_daemon(struct run *r)
{
    const char *env = getenv("TOKENTAP_SOCKET");
    int rc = tt_wire_socket_path(r->sock, sizeof(r->sock));

    if (rc == TT_OK && daemon_matches(r->sock, r->db))
        return TT_OK;
    /* Only a socket the user named deserves a word; the default one is
     * just a chance to share. */
    if (env && *env && !r->quiet)
        fprintf(stderr, "tokentap: the daemon at TOKENTAP_SOCKET=%s does not "
                "answer or writes another store than %s; using a private one\n",
                env, r->db);
    return start_private(r);
}

/* ------------------------------------------------------------- child */

static void trace_context(struct run *r)
{
    const char *tp = getenv("TRACEPARENT");
    char parent[17];

    if (tp && *tp) {
        if (tt_cli_traceparent_parse(tp, r->trace, parent) == TT_OK) {
            r->joined = true;
            memcpy(r->outer_parent, parent, sizeof(r->outer_parent));
        }
        else if (!r->quiet)
            fprintf(stderr, "tokentap: ignoring malformed TRACEPARENT '%s' "
                    "(want 00-<32 hex>-<16 hex>-<2 hex>); starting a new trace\n",
                    tp);
    }
    if (!r->joined)
        tt_span_rand_hex(r->trace, 16);
    tt_span_rand_hex(r->runspan, 8);
}

static char **child_env(const struct run *r)
{
    char tp[64];
    /* Secrets the config files gave us are not the traced program's. */
    tt_config_scrub_secrets();
    char **env = tt_cli_env_dup(environ);
    char *ldp = tt_cli_ld_preload(r->preload, getenv("LD_PRELOAD"));

    if (!env || !ldp)
        goto fail;
    snprintf(tp, sizeof(tp), "00-%s-%s-01", r->trace, r->runspan);
    if (tt_cli_env_set(&env, "LD_PRELOAD", ldp) != TT_OK ||
        tt_cli_env_set(&env, "TOKENTAP_SOCKET", r->sock) != TT_OK ||
        tt_cli_env_set(&env, "TRACEPARENT", tp) != TT_OK ||
        /* Room for the command's pid, written in the child (run_child):
         * the preload's process tree stops there (preload/proctree.h). */
        tt_cli_env_set(&env, "TOKENTAP_RUN_PID", "0000000000") != TT_OK ||
        tt_cli_env_set(&env, "TOKENTAP_DB", r->db) != TT_OK)
        goto fail;
    free(ldp);
    return env;
fail:
    free(ldp);
    tt_cli_env_free(env);
    return NULL;
}

/* --gateway auto|on: prepare the run's gateway and point the command at
 * it (cli_gateway.h). on: started now; auto: started when a program that
 * needs it is about to run (the command itself: now). A gateway that
 * cannot start is no reason not to run the command: it runs with the
 * hooks alone. Returns TT_ERR_NOMEM only (said on stderr). */
static int run_gateway(struct run *r, char ***env, const char *cmd0)
{
    char path[PATH_MAX];

    if (r->gw_mode == TT_CLI_GW_OFF)
        return TT_OK;
    int prc = tt_cli_gw_prepare(&r->gw, *env, getpid());
    /* The control socket (auto: programs ask for the gateway there) and
     * the thread that serves it, which also restarts a gateway that died. */
    if (prc == TT_OK && tt_cli_gw_serve(&r->gw, r->privdir) != TT_OK &&
        r->gw_mode == TT_CLI_GW_AUTO)
        fprintf(stderr, "tokentap run: cannot serve the gateway's control socket (%s); "
                "only the command itself can be pointed at the gateway\n", strerror(errno));
    if (prc != TT_OK) {
        tt_cli_gw_stop(&r->gw);
        if (prc == TT_ERR_NOMEM) {
            fprintf(stderr, "tokentap run: out of memory\n");
            return prc;
        }
        fprintf(stderr, "tokentap run: the gateway did not start; programs the "
                "hooks cannot reach (static, Go, Bun) will not be traced\n");
        return TT_OK;
    }
    const char *cp = NULL;
    for (char **e = *env; *e; e++)
        if (!strncmp(*e, "PATH=", 5))
            cp = *e + 5;
    const char *exe = tt_elf_which(cmd0, cp, path, sizeof(path)) ? path : NULL;
    int rc = tt_cli_gw_point(env, &r->gw, r->gw_mode, exe, r->gw_why,
                             sizeof(r->gw_why), &r->gw_cmd);
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap run: out of memory\n");
        return rc;
    }
    return TT_OK;
}

/* Run argv under env; return its wait status (or -1). With a budget, the
 * wait polls the store every TT_CLI_BUDGET_POLL_MS; with the kill action
 * the command leads its own process group, so the kill reaches its tree. */
static int run_child(char **argv, char **env, pid_t *pid_out,
                     struct tt_cli_budget *b)
{
    struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
    struct sigaction old[sizeof(fwd_signals) / sizeof(fwd_signals[0])];
    sigset_t block, prev;
    int status = -1;

    /* Handlers go in before fork with the signals blocked, so no signal
     * can fall between "child exists" and "we forward to it". */
    sigemptyset(&block);
    for (size_t i = 0; i < sizeof(fwd_signals) / sizeof(fwd_signals[0]); i++)
        sigaddset(&block, fwd_signals[i]);
    sigprocmask(SIG_BLOCK, &block, &prev);
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(fwd_signals) / sizeof(fwd_signals[0]); i++) {
        sigaction(fwd_signals[i], NULL, &old[i]);
        /* Ignored on entry (a background job's SIGINT): stays ignored, as
         * a shell would leave it, for us and for the command. */
        if (old[i].sa_handler != SIG_IGN)
            sigaction(fwd_signals[i], &sa, NULL);
    }

    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < sizeof(fwd_signals) / sizeof(fwd_signals[0]); i++)
            sigaction(fwd_signals[i], &old[i], NULL);
        sigprocmask(SIG_SETMASK, &prev, NULL);
        for (char **e = env; *e; e++)
            if (!strncmp(*e, "TOKENTAP_RUN_PID=", 17)) {
                /* No allocation between fork and exec: the slot is ours. */
                snprintf(*e + 17, 11, "%d", (int)getpid());
                break;
            }
        if (b->limit >= 0 && b->kill)
            setpgid(0, 0);
        execvpe(argv[0], argv, env);
        int e = errno;
        /* Like a shell: 127 for "not found", 126 for "found, cannot run". */
        if (e == ENOENT)
            dprintf(2, "tokentap: %s: command not found\n", argv[0]);
        else
            dprintf(2, "tokentap: %s: %s\n", argv[0], strerror(e));
        _exit(e == ENOENT ? 127 : 126);
    }
    if (pid < 0) {
        fprintf(stderr, "tokentap run: fork: %s\n", strerror(errno));
    } else {
        *pid_out = pid;
        if (b->limit >= 0 && b->kill) {
            /* Both sides set it: no race with the kill. The terminal's
             * signals no longer reach that group: forward them all. */
            setpgid(pid, pid);
            fwd_group = 1;
        }
        fwd_pid = pid;
        sigprocmask(SIG_SETMASK, &prev, NULL);
        for (;;) {
            pid_t w = waitpid(pid, &status, b->limit >= 0 ? WNOHANG : 0);
            if (w == pid)
                break;
            if (w < 0 && errno != EINTR) {
                status = -1;
                break;
            }
            if (w == 0) {
                (void)tt_cli_budget_poll(b, pid, mono_ms());
                sleep_ms(TT_CLI_BUDGET_POLL_MS);
            }
        }
        fwd_group = 0;
        fwd_pid = 0;
    }
    /* Keep the handlers: a ^C while we sync must not kill us before the
     * private daemon is stopped (every wait after this one is bounded). */
    sigprocmask(SIG_SETMASK, &prev, NULL);
    return status;
}

/* ----------------------------------------------------------- summary */

/* The root of the run's process tree: kind "process", name "run <command>",
 * span_id the run span the command got in TRACEPARENT (so the preload's
 * topmost process span hangs under it), parent the outer TRACEPARENT's
 * span when the run joined a trace. */
static int put_run_span(struct tt_store *st, const struct run *r,
                        const char *cmdline, int64_t start, int64_t end,
                        int exit_code)
{
    struct tt_span s;
    struct tt_buf name;
    char exe[PATH_MAX], err[64];
    int rc;

    tt_span_init(&s);
    tt_buf_init(&name, TT_SPAN_MAX_STR - 8);
    /* A command line above the cap is cut there: still a name. */
    if (tt_buf_append_str(&name, "run ") == TT_ERR_NOMEM ||
        tt_buf_append_str(&name, cmdline) == TT_ERR_NOMEM)
        tt_buf_free(&name);
    memcpy(s.trace_id, r->trace, sizeof(s.trace_id));
    memcpy(s.span_id, r->runspan, sizeof(s.span_id));
    if (r->joined)
        memcpy(s.parent_id, r->outer_parent, sizeof(s.parent_id));
    s.start_time = start;
    s.end_time = end > start ? end : start;
    s.pid = (int64_t)getpid();
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    exe[n > 0 ? n : 0] = '\0';
    const char *sid = getenv("TOKENTAP_SESSION_ID");
    rc = tt_span_set(&s.kind, "process");
    if (rc == TT_OK && name.data)
        rc = tt_span_set(&s.name, name.data);
    if (rc == TT_OK && n > 0)
        rc = tt_span_set(&s.exe, exe);
    if (rc == TT_OK && sid && *sid)
        rc = tt_span_set(&s.session_id, sid);
    if (rc == TT_OK && exit_code != 0) {
        snprintf(err, sizeof(err), "exit status %d", exit_code);
        tt_span_fail(&s, err, false);
    }
    if (rc == TT_OK)
        rc = tt_span_repair_str(&s.name);
    if (rc == TT_OK)
        rc = tt_store_put_span(st, &s);
    if (rc == TT_OK) {
        /* The program has exited: the daemon's settings (OTEL_*) may enter
         * our environment now, to forward this span like the others. */
        tt_config_load("tokentap", TT_CONFIG_DAEMON);
        tt_sink_forward_direct(&s, 1);
    }
    tt_buf_free(&name);
    tt_span_clear(&s);
    return rc;
}

static int record_and_summarise(const struct run *r, const char *cmdline,
                                int64_t start, int64_t end, int exit_code,
                                pid_t pid)
{
    struct tt_store *st = NULL;
    struct tt_cli_group *g = NULL;
    size_t n = 0;
    struct tt_buf out;
    char *redacted = NULL;
    int rc;

    rc = tt_store_open(r->db, false, &st);
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap: cannot open the store %s: %s; the run was "
                "not recorded\n", r->db, tt_strerror(rc));
        return rc;
    }
    /* The user's redaction patterns apply to the recorded command line as
     * to the content the preload captures; a pattern that does not compile
     * keeps the command out of the store (fail closed, as the preload). */
    struct tt_redact red;
    char err[256];
    int rrc = tt_redact_from_env(&red, err, sizeof(err));
    if (rrc != TT_OK)
        cmdline = "(not recorded: TOKENTAP_REDACT is invalid)";
    else if (tt_redact_text(&red, cmdline, strlen(cmdline), &redacted) != TT_OK)
        cmdline = "(not recorded: out of memory)";
    else if (redacted)
        cmdline = redacted;
    tt_redact_free(&red);
    if ((rc = tt_store_begin(st)) != TT_OK ||
        (rc = tt_store_put_run(st, r->trace, cmdline, start, end, exit_code,
                               (int64_t)pid)) != TT_OK ||
        (rc = put_run_span(st, r, cmdline, start, end, exit_code)) != TT_OK ||
        (rc = tt_store_commit(st)) != TT_OK) {
        tt_store_rollback(st);
        fprintf(stderr, "tokentap: could not record the run in %s: %s\n",
                r->db, tt_strerror(rc));
    }
    if (r->quiet)
        goto out_store;
    /* A joined trace may hold other runs' spans: count only ours, by time.
     * A fresh trace is ours alone. */
    rc = tt_cli_query_groups(tt_store_db(st), "model", r->trace,
                             r->joined ? start : 0, end, &g, &n);
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap: cannot read the spans from %s: %s\n",
                r->db, sqlite3_errmsg(tt_store_db(st)));
        goto out_store;
    }
    const char *nc = getenv("NO_COLOR");
    const char *term = getenv("TERM");
    bool colour = isatty(2) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
    tt_buf_init(&out, 1024 * 1024);
    if (tt_cli_fmt_summary(g, n, r->trace, colour, &out) == TT_OK && out.data)
        fputs(out.data, stderr);
    if (n == 0 && r->cmd0)
        tt_cli_gw_explain_none(stderr, r->gw_mode, r->cmd0,
                               r->cmd_path[0] ? r->cmd_path : NULL);
    tt_buf_free(&out);
    free(g);
out_store:
    tt_store_close(st);
    free(redacted);
    return rc;
}

/* ---------------------------------------------------------------- run */

int tt_cli_run_main(int argc, char **argv)
{
    return tt_cli_run_ext_main(argc, argv, NULL);
}

/* ext: record, replay or run --mock (cli_replay.c); NULL for a plain run. */
int tt_cli_run_ext_main(int argc, char **argv, const struct tt_cli_run_ext *ext)
{
    static const struct option opts[] = {
        { "mock", no_argument, NULL, 'M' },
        { "db", required_argument, NULL, 'd' },
        { "quiet", no_argument, NULL, 'q' },
        { "session", required_argument, NULL, 's' },
        { "tag", required_argument, NULL, 't' },
        { "metadata", required_argument, NULL, 'm' },
        { "budget", required_argument, NULL, 'b' },
        { "budget-action", required_argument, NULL, 'a' },
        { "gateway", required_argument, NULL, 'g' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    struct run r;
    const char *dbopt = NULL;
    char *cmdline = NULL;
    char **env = NULL;
    int c, ret = TT_CLI_EXIT_ERR;
    bool synced = false;

    memset(&r, 0, sizeof(r));
    r.budget.limit = -1;
    char *tags[64];
    size_t ntags = 0;
    const char *session = NULL, *metadata = NULL;
    opterr = 0;
    optind = 0;
    /* '+': options end at the command, so `tokentap run ls -l` works and
     * the command's own options stay its own. */
    r.gw_mode = TT_CLI_GW_AUTO;
    while ((c = getopt_long(argc, argv, "+:d:qs:t:m:b:a:g:h", opts, NULL)) != -1) {
        switch (c) {
        case 'g':
            r.gw_mode = tt_cli_gw_mode_parse(optarg);
            if (r.gw_mode < 0) {
                fprintf(stderr, "tokentap run: --gateway wants auto, on or off, "
                        "not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        case 's': session = optarg; break;
        case 't':
            if (!tt_cli_tag_valid(optarg) || ntags == 64) {
                fprintf(stderr, "tokentap run: --tag wants KEY=VALUE (no ',' in "
                        "it; up to 64 tags), not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            tags[ntags++] = optarg;
            break;
        case 'm': metadata = optarg; break;
        case 'b': {
            char *end;
            errno = 0;
            r.budget.limit = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(r.budget.limit >= 0)) {
                fprintf(stderr, "tokentap run: --budget wants a dollar amount "
                        "like 0.50, not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            break;
        }
        case 'a':
            if (strcmp(optarg, "warn") != 0 && strcmp(optarg, "kill") != 0) {
                fprintf(stderr, "tokentap run: --budget-action wants warn or kill, "
                        "not '%s'\n", optarg);
                return TT_CLI_EXIT_USAGE;
            }
            r.budget.kill = strcmp(optarg, "kill") == 0;
            break;
        case 'd': dbopt = optarg; break;
        case 'q': r.quiet = true; break;
        case 'M':
            if (!ext)
                ext = tt_cli_mock_ext();
            break;
        case 'h': fputs(tt_cli_help("run"), stdout); return TT_CLI_EXIT_OK;
        case ':':
            fprintf(stderr, "tokentap run: option '%s' needs a value (see "
                    "tokentap run --help)\n", argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        default:
            fprintf(stderr, "tokentap run: unknown option '%s' (see tokentap "
                    "run --help; the command goes after --)\n", argv[optind - 1]);
            return TT_CLI_EXIT_USAGE;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "tokentap run: no command given; usage: tokentap run "
                "[--db FILE] [--quiet] -- CMD [ARG...]\n");
        return TT_CLI_EXIT_USAGE;
    }
    char **cmd = argv + optind;
    int ncmd = argc - optind;

    /* --session, --tag, --metadata: set in our own environment (merged
     * with what is there), so the child inherits them and the run's own
     * span carries them too. */
    if (session && setenv("TOKENTAP_SESSION_ID", session, 1) != 0)
        return TT_CLI_EXIT_ERR;
    if (ntags) {
        char *t = tt_cli_tags_merge(getenv("TOKENTAP_TAGS"), tags, ntags);
        if (!t || setenv("TOKENTAP_TAGS", t, 1) != 0) {
            free(t);
            fprintf(stderr, "tokentap run: out of memory\n");
            return TT_CLI_EXIT_ERR;
        }
        free(t);
    }
    if (metadata) {
        char err[160];
        char *m = tt_cli_metadata_merge(getenv("TOKENTAP_METADATA"), metadata,
                                        err, sizeof(err));
        if (!m) {
            fprintf(stderr, "tokentap run: --metadata: %s\n", err);
            return TT_CLI_EXIT_USAGE;
        }
        int src = setenv("TOKENTAP_METADATA", m, 1);
        free(m);
        if (src != 0)
            return TT_CLI_EXIT_ERR;
    }

    if (locate(&r) != TT_OK)
        return TT_CLI_EXIT_ERR;
    /* run creates the store, so it also creates the store's directory
     * (0700), as it does for the default location. */
    const char *want = dbopt && *dbopt ? dbopt : getenv("TOKENTAP_DB");
    if (want && *want && strrchr(want, '/')) {
        char dir[PATH_MAX];
        size_t dl = (size_t)(strrchr(want, '/') - want);
        if (dl > 0 && dl < sizeof(dir)) {
            memcpy(dir, want, dl);
            dir[dl] = '\0';
            if (tt_wire_mkdirs(dir) != TT_OK)
                fprintf(stderr, "tokentap run: cannot create %s: %s\n", dir,
                        strerror(errno));
        }
    }
    int rc = tt_cli_db_path(dbopt, r.db, sizeof(r.db));
    if (rc != TT_OK) {
        fprintf(stderr, "tokentap run: cannot use the store path %s: %s (does "
                "its directory exist?)\n", want && *want ? want : "(default)",
                rc == TT_ERR_IO ? strerror(errno) : tt_strerror(rc));
        return TT_CLI_EXIT_ERR;
    }
    const char *spool = getenv("TOKENTAP_SPOOL");
    if (spool && *spool)
        snprintf(r.spool, sizeof(r.spool), "%s", spool);
    else if (tt_wire_spool_dir(r.spool, sizeof(r.spool)) != TT_OK) {
        fprintf(stderr, "tokentap run: cannot find the tokentap home; set "
                "TOKENTAP_HOME or HOME\n");
        return TT_CLI_EXIT_ERR;
    }
    if (tt_wire_mkdirs(r.spool) != TT_OK) {
        fprintf(stderr, "tokentap run: cannot create the spool directory %s: %s\n",
                r.spool, strerror(errno));
        return TT_CLI_EXIT_ERR;
    }
    /* No daemon (a read-only store, no room for the socket...) is no
     * reason not to run the user's command: its spans go to the spool and
     * are stored once a daemon can write the store. The socket named to
     * the child is then one nobody listens on. */
    bool nodaemon = pick_daemon(&r) != TT_OK;
    if (nodaemon) {
        if (!r.sock[0])
            snprintf(r.sock, sizeof(r.sock), "/nonexistent/tokentap.sock");
        fprintf(stderr, "tokentap run: no daemon could write %s; running the "
                "command anyway, its spans wait in the spool %s (stored by the "
                "next `tokentap` command or daemon that can write the store; "
                "see tokentap stats)\n", r.db, r.spool);
    }
    trace_context(&r);
    env = child_env(&r);
    cmdline = tt_cli_join_argv(ncmd, cmd);
    if (!env || !cmdline) {
        fprintf(stderr, "tokentap run: out of memory\n");
        goto out;
    }

    r.cmd0 = cmd[0];
    if (!tt_elf_which(cmd[0], getenv("PATH"), r.cmd_path, sizeof(r.cmd_path)))
        r.cmd_path[0] = '\0';
    /* The extension first: the gateway's environment takes what it adds
     * (replay's redirection becomes the gateway's upstream, record's
     * directory its recordings). */
    if (ext && ext->setup(ext->arg, &env) != TT_OK)
        goto out;
    if (run_gateway(&r, &env, cmd[0]) != TT_OK)
        r.gw_mode = TT_CLI_GW_OFF;      /* said why; the command runs anyway */
    bool started = true;
    int64_t start = tt_now_ns();
    pid_t pid = 0;
    r.budget.db = r.db;
    r.budget.trace = r.trace;
    /* A joined trace may hold other runs' spend: count ours only. */
    r.budget.since = r.joined ? start : 0;
    int status = run_child(cmd, env, &pid, &r.budget);
    tt_cli_budget_close(&r.budget);
    int64_t end = tt_now_ns();
    /* The calls still in flight through the gateway end and are handed
     * to the daemon before the sync below. */
    tt_cli_gw_stop(&r.gw);
    if (status < 0)
        goto out_ext;
    ret = WIFEXITED(status) ? WEXITSTATUS(status)
        : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : TT_CLI_EXIT_ERR;
    if (r.budget.exceeded && r.budget.kill)
        ret = TT_CLI_EXIT_BUDGET;

    if (nodaemon)
        goto out_ext;
    /* Everything the process tree sent (or spooled) is committed once the
     * daemon says synced; only then is the summary complete. */
    struct tt_dc_reply rep;
    rc = tt_dc_request(r.sock, "sync", SYNC_TIMEOUT_MS, &rep);
    if (rc != TT_OK || strcmp(rep.type, "synced") != 0) {
        fprintf(stderr, "tokentap: the daemon on %s did not confirm it stored "
                "everything (%s); the summary may be incomplete\n", r.sock,
                rc != TT_OK ? tt_strerror(rc) : rep.error[0] ? rep.error : rep.type);
        if (r.dpid > 0)
            dump_log(&r);
    } else if (rep.unstored > 0) {
        /* The daemon got them but its store did not take them (a full
         * disk, a corrupt store): say so, or the summary below would read
         * "no LLM calls" (issue #9). */
        fprintf(stderr, "tokentap: %lld span%s reached the daemon but could not be "
                "stored: %s; they wait in the spool %s if it has room (`tokentap "
                "stats` counts what was lost)\n", (long long)rep.unstored,
                rep.unstored == 1 ? "" : "s",
                rep.error[0] ? rep.error : "the store refused them", r.spool);
    }
    (void)record_and_summarise(&r, cmdline, start, end, ret, pid);
    synced = rc == TT_OK && strcmp(rep.type, "synced") == 0;
out_ext:
    if (ext && started)
        ret = ext->finish(ext->arg, r.db, r.trace, synced, status < 0 ? TT_CLI_EXIT_ERR : ret);
out:
    tt_cli_gw_stop(&r.gw);
    stop_private(&r);
    free(cmdline);
    tt_cli_env_free(env);
    return ret;
}
