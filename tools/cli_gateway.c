/* cli_gateway.c - the gateway of a `tokentap run` (--gateway auto|on|off).
 *
 * on:   `tokentap gateway` is started for the run and every process of the
 *       command gets the base-URL variables pointing at it (a user's own
 *       base URL becomes the gateway's upstream for that provider).
 * auto: the gateway is started on first need: when the command itself, or
 *       a program started anywhere below it (judged by the preload at exec,
 *       hooks/exec.c), cannot be reached by the hooks. Only those programs
 *       get the variables. A run whose programs are all hookable starts no
 *       gateway: its port is only reserved (bound, not listening), and a
 *       control socket (TOKENTAP_GATEWAY_CTL, a Unix socket in a 0700
 *       directory) served by a thread of tokentap run starts it; requests
 *       are served one at a time, so processes that need it at once get the
 *       same gateway, on the port every process was told from the start.
 * off:  no gateway.
 * A process under the preload never reports a connection to the gateway
 * (TOKENTAP_GATEWAY), so no call is counted twice. */
#include "cli_gateway.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "elfcheck.h"
#include "gateway.h"
#include "wire.h"

#define GW_START_TIMEOUT_MS 5000
#define GW_STOP_TIMEOUT_MS 8000

int tt_cli_gw_mode_parse(const char *s)
{
    if (!s || !*s || !strcmp(s, "auto"))
        return TT_CLI_GW_AUTO;
    if (!strcmp(s, "on"))
        return TT_CLI_GW_ON;
    if (!strcmp(s, "off"))
        return TT_CLI_GW_OFF;
    return -1;
}

static void sleep_ms(long ms)
{
    struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static const char *env_get(char **env, const char *name)
{
    size_t nl = strlen(name);

    for (char **e = env; e && *e; e++)
        if (!strncmp(*e, name, nl) && (*e)[nl] == '=')
            return *e + nl + 1;
    return NULL;
}

static void env_unset(char **env, const char *name)
{
    size_t nl = strlen(name), k = 0;

    for (size_t i = 0; env && env[i]; i++) {
        if (!strncmp(env[i], name, nl) && env[i][nl] == '=')
            free(env[i]);
        else
            env[k++] = env[i];
    }
    if (env)
        env[k] = NULL;
}

/* The port the run's gateway will listen on: bound now, listened on only
 * by the gateway. Until then a connection to it is refused; no other
 * program can take it; and TOKENTAP_GATEWAY names it to every process of
 * the run from the start (the preload ignores connections to it). */
static int reserve_port(struct tt_cli_gw *gw)
{
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = 0,
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t sl = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return TT_ERR_IO;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sl) != 0) {
        close(fd);
        return TT_ERR_IO;
    }
    gw->lfd = fd;
    gw->port = ntohs(sa.sin_port);
    return TT_OK;
}

int tt_cli_gw_prepare(struct tt_cli_gw *gw, char **child_env, pid_t run_pid)
{
    char runp[24];
    size_t na = 0;

    memset(gw, 0, sizeof(*gw));
    gw->lfd = gw->ctl_fd = -1;
    pthread_mutex_init(&gw->mu, NULL);
    gw->inited = true;
    ssize_t n = readlink("/proc/self/exe", gw->self, sizeof(gw->self) - 1);
    if (n <= 0)
        return TT_ERR_IO;
    gw->self[n] = '\0';
    gw->args[na++] = gw->self;
    gw->args[na++] = "gateway";
    gw->args[na++] = "--listen-fd";
    gw->args[na++] = "3";
    gw->args[na++] = "--port-fd";
    gw->args[na++] = "4";
    gw->args[na++] = "--quiet";
    /* The user's own base URLs: the upstreams behind the gateway. */
    for (size_t i = 0, nu = 0; tt_gw_base_var(i) && nu < TT_CLI_GW_UPS; i++) {
        const char *v = env_get(child_env, tt_gw_base_var(i));
        if (v && tt_gw_user_upstream(tt_gw_base_var(i), v, gw->ups[nu], sizeof(gw->ups[nu]))) {
            gw->args[na++] = "--upstream";
            gw->args[na++] = gw->ups[nu++];
        }
    }
    gw->args[na] = NULL;

    /* The gateway's environment: the command's (with what record, replay
     * or --mock added: TOKENTAP_RECORD, TOKENTAP_REDIRECT*), without the
     * preload, with the run's process (its callers are that process's
     * descendants). Built now: the gateway may be started from the
     * control thread, where only fork and exec are done. */
    gw->env = tt_cli_env_dup(child_env);
    if (!gw->env)
        return TT_ERR_NOMEM;
    env_unset(gw->env, "LD_PRELOAD");
    env_unset(gw->env, "TOKENTAP_RUN_PID");
    snprintf(runp, sizeof(runp), "%d", (int)run_pid);
    /* The command's own processes already say what is wrong with the
     * configuration (TOKENTAP_METADATA, TOKENTAP_REDACT...): once. */
    if (tt_cli_env_set(&gw->env, "TOKENTAP_RUN_PPID", runp) != TT_OK ||
        tt_cli_env_set(&gw->env, "TOKENTAP_LOG", "off") != TT_OK)
        return TT_ERR_NOMEM;
    return reserve_port(gw);
}

/* fork + exec the gateway on the reserved socket; its port comes back on
 * a pipe once it listens. Called with gw->mu held, maybe from the control
 * thread: the child does only async-signal-safe calls. */
static int start_locked(struct tt_cli_gw *gw)
{
    int pfd[2];
    sigset_t none;

    if (pipe2(pfd, O_CLOEXEC) != 0)
        return TT_ERR_IO;
    sigemptyset(&none);
    pid_t pid = fork();
    if (pid == 0) {
        /* Own process group: the terminal's ^C is for the command; the
         * gateway lives on to finish what is in flight. The control
         * thread blocks the signals tokentap run forwards: not the
         * gateway. Descriptors above 3 and 4 first, so dup2 never meets
         * its own number (which would keep close-on-exec). */
        setpgid(0, 0);
        sigprocmask(SIG_SETMASK, &none, NULL);
        int a = fcntl(gw->lfd, F_DUPFD_CLOEXEC, 10);
        int b = fcntl(pfd[1], F_DUPFD_CLOEXEC, 10);
        if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
            _exit(127);
        execve(gw->self, gw->args, gw->env);
        _exit(127);
    }
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        return TT_ERR_IO;
    }
    gw->pid = pid;
    char buf[16];
    size_t got = 0;
    struct pollfd p = { .fd = pfd[0], .events = POLLIN };
    int64_t waited = 0;
    while (got < sizeof(buf) - 1 && waited < GW_START_TIMEOUT_MS) {
        int pr = poll(&p, 1, 50);
        waited += 50;
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            continue;
        ssize_t r = read(pfd[0], buf + got, sizeof(buf) - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (memchr(buf, '\n', got))
            break;
    }
    close(pfd[0]);
    buf[got] = '\0';
    if ((unsigned)strtoul(buf, NULL, 10) == gw->port)
        return TT_OK;
    return TT_ERR;
}

bool tt_cli_gw_ensure(struct tt_cli_gw *gw)
{
    bool ok;

    if (!gw->inited)
        return false;
    pthread_mutex_lock(&gw->mu);
    if (gw->state == 0 && gw->lfd >= 0) {
        gw->state = start_locked(gw) == TT_OK ? 1 : -1;
        if (gw->state < 0) {
            fprintf(stderr, "tokentap run: the gateway did not start; programs the "
                    "hooks cannot reach (static, Go, Bun) will not be traced\n");
            if (gw->pid > 0) {
                kill(gw->pid, SIGKILL);
                while (waitpid(gw->pid, NULL, 0) < 0 && errno == EINTR)
                    ;
                gw->pid = 0;
            }
        }
    }
    ok = gw->state == 1;
    pthread_mutex_unlock(&gw->mu);
    return ok;
}

bool tt_cli_gw_started(struct tt_cli_gw *gw)
{
    bool s;

    if (!gw->inited)
        return false;
    pthread_mutex_lock(&gw->mu);
    s = gw->state == 1;
    pthread_mutex_unlock(&gw->mu);
    return s;
}

/* The control socket: each connection is one "start the gateway if it is
 * not running" request, answered "ok\n" or "no\n" once it listens.
 * Connections are served one at a time; concurrent requests wait on the
 * socket's backlog and all get the one gateway. The thread also restarts
 * a gateway that died (watch). */
/* A gateway that died (a crash, a kill) is started again on the same
 * socket: the connections that queued on it meanwhile are served by the
 * new one. Called every 200 ms by the control thread. */
static void watch(struct tt_cli_gw *gw)
{
    int st;

    pthread_mutex_lock(&gw->mu);
    if (gw->state == 1 && gw->pid > 0 && waitpid(gw->pid, &st, WNOHANG) == gw->pid) {
        gw->pid = 0;
        gw->state = start_locked(gw) == TT_OK ? 1 : -1;
        fprintf(stderr, "tokentap run: the gateway %s (%s %d)%s\n",
                WIFSIGNALED(st) ? "was killed" : "exited",
                WIFSIGNALED(st) ? "signal" : "status",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st),
                gw->state == 1 ? "; started again" : " and could not be started again");
    }
    pthread_mutex_unlock(&gw->mu);
}

static void *ctl_thread(void *arg)
{
    struct tt_cli_gw *gw = arg;

    while (!atomic_load(&gw->ctl_stop)) {
        struct pollfd p = { .fd = gw->ctl_fd, .events = POLLIN };
        int pr = poll(&p, 1, 200);
        watch(gw);
        if (pr <= 0)
            continue;
        int c = accept4(gw->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0)
            continue;
        const char *ans = tt_cli_gw_ensure(gw) ? "ok\n" : "no\n";
        (void)send(c, ans, 3, MSG_NOSIGNAL);
        close(c);
    }
    return NULL;
}

int tt_cli_gw_serve(struct tt_cli_gw *gw, const char *dir)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    const char *tmp = getenv("TMPDIR");
    sigset_t all, old;

    if (dir && *dir && strlen(dir) < sizeof(gw->ctl_path) - 8) {
        /* The run's private directory (its daemon's): one directory of
         * ours in $TMPDIR, removed with everything in it. */
        snprintf(gw->ctl_path, sizeof(gw->ctl_path), "%s/gw.sock", dir);
    } else {
        if (!tmp || tmp[0] != '/' || strlen(tmp) > 60)
            tmp = "/tmp";
        snprintf(gw->ctl_dir, sizeof(gw->ctl_dir), "%s/tokentap-gw-XXXXXX", tmp);
        if (!mkdtemp(gw->ctl_dir)) {        /* 0700: only we may ask */
            gw->ctl_dir[0] = '\0';
            return TT_ERR_IO;
        }
        snprintf(gw->ctl_path, sizeof(gw->ctl_path), "%s/ctl", gw->ctl_dir);
    }
    if (strlen(gw->ctl_path) >= sizeof(sa.sun_path))
        return TT_ERR_CAP;
    memcpy(sa.sun_path, gw->ctl_path, strlen(gw->ctl_path) + 1);
    gw->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (gw->ctl_fd < 0)
        return TT_ERR_IO;
    mode_t um = umask(077);         /* born private, then exactly 0600 */
    int b = bind(gw->ctl_fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(um);
    if (b != 0)
        return TT_ERR_IO;
    gw->ctl_bound = true;
    if (chmod(gw->ctl_path, 0600) != 0 || listen(gw->ctl_fd, 128) != 0)
        return TT_ERR_IO;
    /* The signals tokentap run forwards to the command stay with the main
     * thread. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&gw->ctl_th, NULL, ctl_thread, gw);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return TT_ERR_IO;
    gw->ctl_on = true;
    return TT_OK;
}

int tt_cli_gw_point(char ***envp, struct tt_cli_gw *gw, int mode, const char *cmd_path,
                    char *why, size_t why_n, bool *cmd_pointed)
{
    char addr[32], kv[TT_GW_URL_MAX + 64];
    bool point = mode == TT_CLI_GW_ON;

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", gw->port);
    if (tt_cli_env_set(envp, "TOKENTAP_GATEWAY", addr) != TT_OK ||
        tt_cli_env_set(envp, "TOKENTAP_GATEWAY_MODE", mode == TT_CLI_GW_ON ? "on" : "auto") != TT_OK)
        return TT_ERR_NOMEM;
    if (mode == TT_CLI_GW_AUTO && gw->ctl_on &&
        tt_cli_env_set(envp, "TOKENTAP_GATEWAY_CTL", gw->ctl_path) != TT_OK)
        return TT_ERR_NOMEM;
    if (mode == TT_CLI_GW_AUTO) {
        if (why && why_n)
            why[0] = '\0';
        enum tt_elf_verdict v = cmd_path ? tt_elf_judge(cmd_path, why, why_n)
                                         : TT_ELF_NOT_FOUND;
        point = tt_elf_needs_gateway(v);
    }
    /* The command itself needs it: started now, before it runs. A gateway
     * that does not start leaves the command with its own settings. */
    if (point && !tt_cli_gw_ensure(gw))
        point = false;
    if (cmd_pointed)
        *cmd_pointed = point;
    for (size_t i = 0; tt_gw_base_var(i); i++) {
        const char *name = tt_gw_base_var(i);
        const char *cur = env_get(*envp, name);
        /* The user's value, so the preload knows it may replace it in a
         * program it points at the gateway (hooks/exec.c). */
        if (cur && *cur) {
            char on[96];
            snprintf(on, sizeof(on), "TOKENTAP_GW_ORIG_%s", name);
            if (tt_cli_env_set(envp, on, cur) != TT_OK)
                return TT_ERR_NOMEM;
        }
        if (!point || !tt_gw_base_env(i, gw->port, kv, sizeof(kv)))
            continue;
        char *eq = strchr(kv, '=');
        *eq = '\0';
        if (tt_cli_env_set(envp, kv, eq + 1) != TT_OK)
            return TT_ERR_NOMEM;
    }
    return TT_OK;
}

void tt_cli_gw_stop(struct tt_cli_gw *gw)
{
    if (!gw->inited)
        return;
    if (gw->ctl_on) {
        atomic_store(&gw->ctl_stop, true);
        pthread_join(gw->ctl_th, NULL);
        gw->ctl_on = false;
    }
    if (gw->ctl_fd >= 0) {
        close(gw->ctl_fd);
        gw->ctl_fd = -1;
    }
    if (gw->ctl_bound) {
        unlink(gw->ctl_path);
        gw->ctl_bound = false;
    }
    if (gw->ctl_dir[0]) {
        rmdir(gw->ctl_dir);
        gw->ctl_dir[0] = '\0';
    }
    pthread_mutex_lock(&gw->mu);
    if (gw->pid > 0) {
        kill(gw->pid, SIGTERM);
        int waited = 0;
        while (waitpid(gw->pid, NULL, WNOHANG) == 0 && waited < GW_STOP_TIMEOUT_MS) {
            sleep_ms(10);
            waited += 10;
        }
        if (waited >= GW_STOP_TIMEOUT_MS) {
            kill(gw->pid, SIGKILL);
            while (waitpid(gw->pid, NULL, 0) < 0 && errno == EINTR)
                ;
        }
        gw->pid = 0;
    }
    /* No gateway may start after this. */
    gw->state = -1;
    if (gw->lfd >= 0) {
        close(gw->lfd);
        gw->lfd = -1;
    }
    pthread_mutex_unlock(&gw->mu);
    tt_cli_env_free(gw->env);
    gw->env = NULL;
}

void tt_cli_gw_explain_none(FILE *out, int mode, const char *cmd0, const char *cmd_path)
{
    char why[160] = "";
    enum tt_elf_verdict v = cmd_path ? tt_elf_judge(cmd_path, why, sizeof(why))
                                     : TT_ELF_NOT_FOUND;
    const char *name = strrchr(cmd0, '/') ? strrchr(cmd0, '/') + 1 : cmd0;

    if (tt_elf_needs_gateway(v) && mode == TT_CLI_GW_OFF) {
        fprintf(out, "tokentap: %s cannot be traced by the hooks (%s) and the gateway "
                "was off: run it with --gateway auto (the default) or on\n", name, why);
        return;
    }
    if (tt_elf_needs_gateway(v))
        fprintf(out, "tokentap: %s (%s) was pointed at the gateway by OPENAI_BASE_URL, "
                "ANTHROPIC_BASE_URL, GOOGLE_GEMINI_BASE_URL and OLLAMA_HOST, and made "
                "no call through it: if it takes its provider URL from another setting, "
                "point that at the gateway (tokentap gateway --help)\n", name, why);
    else
        fprintf(out, "tokentap: if %s talks to an LLM provider, `tokentap doctor %s` "
                "says whether its programs can be traced; --gateway on sends every "
                "program through the gateway by the base-URL variables%s\n", name, cmd0,
                mode == TT_CLI_GW_OFF ? " (the gateway was off)" : "");
}
