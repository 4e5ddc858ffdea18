/* cli_gateway.h - the gateway of a `tokentap run` (see cli_gateway.c). */
#ifndef TT_CLI_GATEWAY_H
#define TT_CLI_GATEWAY_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "gateway.h"
#include "tt.h"

enum { TT_CLI_GW_OFF = 0, TT_CLI_GW_AUTO = 1, TT_CLI_GW_ON = 2 };

/* "auto" (or NULL/empty), "on", "off"; -1 for anything else. */
int tt_cli_gw_mode_parse(const char *s);

#define TT_CLI_GW_UPS 8

struct tt_cli_gw {
    bool inited;
    pid_t pid;               /* the gateway process, 0 none */
    unsigned port;           /* reserved by tt_cli_gw_prepare */
    int lfd;                 /* the reserved socket (bound, not listening) */
    int state;               /* 0 not started, 1 running, -1 failed/stopped */
    pthread_mutex_t mu;      /* state, pid */
    /* The gateway's command line and environment, built beforehand. */
    char self[PATH_MAX];
    char *args[8 + 2 * TT_CLI_GW_UPS];
    char ups[TT_CLI_GW_UPS][TT_GW_URL_MAX + 32];
    char **env;
    /* auto: the control socket that starts it on first need. */
    char ctl_dir[80], ctl_path[96];
    int ctl_fd;
    bool ctl_on, ctl_bound;
    atomic_bool ctl_stop;
    pthread_t ctl_th;
};

/* Reserve the gateway's loopback port and build its command line and
 * environment from child_env (minus the preload; the user's base URLs in
 * it become its upstreams). Nothing is started. run_pid: this run. */
int tt_cli_gw_prepare(struct tt_cli_gw *gw, char **child_env, pid_t run_pid) TT_WUR;

/* Start the gateway unless it runs (or failed); true when it listens.
 * Thread-safe: concurrent callers get the one gateway. */
bool tt_cli_gw_ensure(struct tt_cli_gw *gw);
bool tt_cli_gw_started(struct tt_cli_gw *gw);

/* Serve the control socket that starts it on a process's request
 * (hooks/exec.c; named to the command in auto mode only), from a thread
 * that also starts a gateway that died again on the same socket. The
 * socket goes in dir (the run's private directory) when given, else in a
 * 0700 directory of its own under $TMPDIR. */
int tt_cli_gw_serve(struct tt_cli_gw *gw, const char *dir) TT_WUR;

/* Add the gateway to the command's environment: TOKENTAP_GATEWAY (the
 * preload ignores connections to it, and in auto mode judges each exec),
 * TOKENTAP_GATEWAY_CTL in auto mode, and the base-URL variables when mode
 * is on, or auto and cmd_path (the command's executable, may be NULL)
 * cannot be hooked (why: the reason); then the gateway is started now.
 * *cmd_pointed: whether the command got the variables. */
int tt_cli_gw_point(char ***envp, struct tt_cli_gw *gw, int mode, const char *cmd_path,
                    char *why, size_t why_n, bool *cmd_pointed) TT_WUR;

/* A run that saw no LLM call: why that may be and what to do, on out.
 * mode: --gateway; cmd0: the command as given; cmd_path: its executable
 * (NULL if not found). */
void tt_cli_gw_explain_none(FILE *out, int mode, const char *cmd0, const char *cmd_path);

/* SIGTERM, wait for the calls in flight (bounded), clean up. Idempotent. */
void tt_cli_gw_stop(struct tt_cli_gw *gw);

#endif
