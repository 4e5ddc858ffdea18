/* cli_gateway.h - the gateway of a `tokentap run` (see cli_gateway.c). */
#ifndef TT_CLI_GATEWAY_H
#define TT_CLI_GATEWAY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "tt.h"

enum { TT_CLI_GW_OFF = 0, TT_CLI_GW_AUTO = 1, TT_CLI_GW_ON = 2 };

/* "auto" (or NULL/empty), "on", "off"; -1 for anything else. */
int tt_cli_gw_mode_parse(const char *s);

struct tt_cli_gw {
    pid_t pid;               /* the gateway process, 0 none */
    unsigned port;
};

/* Start `tokentap gateway` on a free loopback port with the command's
 * environment (minus the preload); the user's base URLs in child_env
 * become its upstreams. run_pid: this `tokentap run`. */
int tt_cli_gw_start(struct tt_cli_gw *gw, char **child_env, pid_t run_pid) TT_WUR;

/* Add the gateway to the command's environment: TOKENTAP_GATEWAY (the
 * preload ignores connections to it, and in auto mode judges each exec),
 * and the base-URL variables when mode is on, or auto and cmd_path (the
 * command's executable, may be NULL) cannot be hooked (why: the reason). */
int tt_cli_gw_point(char ***envp, unsigned port, int mode, const char *cmd_path,
                    char *why, size_t why_n) TT_WUR;

/* A run that saw no LLM call: why that may be and what to do, on out.
 * mode: --gateway; cmd0: the command as given; cmd_path: its executable
 * (NULL if not found). */
void tt_cli_gw_explain_none(FILE *out, int mode, const char *cmd0, const char *cmd_path);

/* SIGTERM, wait for the calls in flight (bounded), clean up. Idempotent. */
void tt_cli_gw_stop(struct tt_cli_gw *gw);

#endif
