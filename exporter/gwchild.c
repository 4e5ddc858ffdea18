/* gwchild.c - tokentapd's gateway child (see gwchild.h). */
#include "gwchild.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GW_RESTART_MS 2000

static void gw_log(const char *msg, const char *arg)
{
    fprintf(stderr, "tokentapd: gateway: %s%s\n", msg, arg ? arg : "");
}

static void start(struct tt_gwchild *g)
{
    char self[PATH_MAX], bin[PATH_MAX + 16];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (n <= 0)
        return;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    /* tokentap sits next to tokentapd, built or installed. */
    snprintf(bin, sizeof(bin), "%s/tokentap", self);
    pid_t pid = fork();
    if (pid == 0) {
        char *args[] = { bin, "gateway", "--listen", g->listen, NULL };
        setenv("TOKENTAP_SOCKET", g->sock, 1);
        unsetenv("LD_PRELOAD");
        execv(bin, args);
        fprintf(stderr, "tokentapd: gateway: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    if (pid < 0) {
        gw_log("fork: ", strerror(errno));
        return;
    }
    g->pid = pid;
}

void tt_gwchild_init(struct tt_gwchild *g, const char *sock_path)
{
    const char *v = getenv("TOKENTAP_GATEWAY_LISTEN");

    memset(g, 0, sizeof(*g));
    if (!v || !*v)
        return;
    if (strlen(v) >= sizeof(g->listen) || strlen(sock_path) >= sizeof(g->sock)) {
        gw_log("TOKENTAP_GATEWAY_LISTEN ignored (too long): ", v);
        return;
    }
    snprintf(g->listen, sizeof(g->listen), "%s", v);
    snprintf(g->sock, sizeof(g->sock), "%s", sock_path);
    start(g);
}

void tt_gwchild_tick(struct tt_gwchild *g, int64_t now_ms)
{
    int st;

    if (!g->listen[0])
        return;
    if (g->pid > 0 && waitpid(g->pid, &st, WNOHANG) == g->pid) {
        g->pid = 0;
        g->next_start_ms = now_ms + GW_RESTART_MS;
        gw_log("exited; restarting in 2 s", NULL);
    }
    if (g->pid == 0 && now_ms >= g->next_start_ms)
        start(g);
}

void tt_gwchild_stop(struct tt_gwchild *g)
{
    if (g->pid <= 0)
        return;
    kill(g->pid, SIGTERM);
    for (int i = 0; i < 800; i++) {
        if (waitpid(g->pid, NULL, WNOHANG) == g->pid) {
            g->pid = 0;
            return;
        }
        struct timespec ts = { 0, 10 * 1000000L };
        nanosleep(&ts, NULL);
    }
    kill(g->pid, SIGKILL);
    waitpid(g->pid, NULL, 0);
    g->pid = 0;
}
