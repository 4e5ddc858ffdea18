/* cli_gateway.c - the gateway of a `tokentap run` (--gateway auto|on|off).
 *
 * on:   `tokentap gateway` is started for the run and every process of the
 *       command gets the base-URL variables pointing at it (a user's own
 *       base URL becomes the gateway's upstream for that provider).
 * auto: the same gateway, but only programs the hooks cannot reach get
 *       the variables: the command itself, judged here, and every program
 *       started below it, judged by the preload at exec (hooks/exec.c).
 * off:  no gateway.
 * A process under the preload never reports a connection to the gateway
 * (TOKENTAP_GATEWAY), so no call is counted twice. */
#include "cli_gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int tt_cli_gw_start(struct tt_cli_gw *gw, char **child_env, pid_t run_pid)
{
    char self[PATH_MAX], runp[24];
    char ups[8][TT_GW_URL_MAX + 32];
    char *args[32];
    size_t na = 0, nu = 0;
    int pfd[2];

    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return TT_ERR_IO;
    self[n] = '\0';
    /* The port comes back on a pipe (the gateway's fd 3): no file. */
    if (pipe2(pfd, O_CLOEXEC) != 0)
        return TT_ERR_IO;
    args[na++] = self;
    args[na++] = "gateway";
    args[na++] = "--listen";
    args[na++] = "127.0.0.1:0";
    args[na++] = "--port-fd";
    args[na++] = "3";
    args[na++] = "--quiet";
    /* The user's own base URLs: the upstreams behind the gateway. */
    for (size_t i = 0; tt_gw_base_var(i) && nu < 8; i++) {
        const char *v = env_get(child_env, tt_gw_base_var(i));
        if (v && tt_gw_user_upstream(tt_gw_base_var(i), v, ups[nu], sizeof(ups[nu]))) {
            args[na++] = "--upstream";
            args[na++] = ups[nu++];
        }
    }
    args[na] = NULL;

    /* The gateway's environment: the command's, without the preload, with
     * the run's process (its callers are that process's descendants). */
    char **env = tt_cli_env_dup(child_env);
    if (!env) {
        close(pfd[0]);
        close(pfd[1]);
        return TT_ERR_NOMEM;
    }
    env_unset(env, "LD_PRELOAD");
    env_unset(env, "TOKENTAP_RUN_PID");
    snprintf(runp, sizeof(runp), "%d", (int)run_pid);
    /* The command's own processes already say what is wrong with the
     * configuration (TOKENTAP_METADATA, TOKENTAP_REDACT...): once. */
    if (tt_cli_env_set(&env, "TOKENTAP_RUN_PPID", runp) != TT_OK ||
        tt_cli_env_set(&env, "TOKENTAP_LOG", "off") != TT_OK) {
        tt_cli_env_free(env);
        close(pfd[0]);
        close(pfd[1]);
        return TT_ERR_NOMEM;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* Own process group: the terminal's ^C is for the command; the
         * gateway lives on to finish what is in flight. */
        setpgid(0, 0);
        if (dup2(pfd[1], 3) < 0)
            _exit(127);
        execve(self, args, env);
        _exit(127);
    }
    tt_cli_env_free(env);
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
    gw->port = (unsigned)strtoul(buf, NULL, 10);
    if (gw->port)
        return TT_OK;
    tt_cli_gw_stop(gw);
    return TT_ERR;
}

int tt_cli_gw_point(char ***envp, unsigned port, int mode, const char *cmd_path,
                    char *why, size_t why_n)
{
    char addr[32], kv[TT_GW_URL_MAX + 64];
    bool point = mode == TT_CLI_GW_ON;

    snprintf(addr, sizeof(addr), "127.0.0.1:%u", port);
    if (tt_cli_env_set(envp, "TOKENTAP_GATEWAY", addr) != TT_OK ||
        tt_cli_env_set(envp, "TOKENTAP_GATEWAY_MODE", mode == TT_CLI_GW_ON ? "on" : "auto") != TT_OK)
        return TT_ERR_NOMEM;
    if (mode == TT_CLI_GW_AUTO) {
        if (why && why_n)
            why[0] = '\0';
        enum tt_elf_verdict v = cmd_path ? tt_elf_judge(cmd_path, why, why_n)
                                         : TT_ELF_NOT_FOUND;
        point = tt_elf_needs_gateway(v);
    }
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
        if (!point || !tt_gw_base_env(i, port, kv, sizeof(kv)))
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
