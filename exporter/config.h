/* config.h - tokentap's configuration files.
 *
 * Settings are environment variables (TOKENTAP_*, OTEL_*); the files give
 * them without touching every service's environment, the way a fleet is
 * configured:
 *
 *   $TOKENTAP_CONFIG              when set: this file only
 *   ~/.config/tokentap/config     ($XDG_CONFIG_HOME/tokentap/config)
 *   /etc/tokentap.conf
 *
 * Precedence: the environment, then the user's file, then /etc. Lines are
 * KEY=VALUE ("export " allowed, '#' comments, blank lines, the value may be
 * in single or double quotes). Keys outside TOKENTAP_* and OTEL_* are
 * refused with a warning, as is a file others may write (it would choose
 * where spans, and prompts, go). */
#ifndef TT_CONFIG_H
#define TT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "tt.h"

/* Which keys a program takes from the files. */
enum tt_config_scope {
    TT_CONFIG_DAEMON,   /* tokentapd: TOKENTAP_* and OTEL_* */
    TT_CONFIG_CLI,      /* tokentap: TOKENTAP_* only (OTEL_* would reach the
                         * environment of the programs it runs and switch on
                         * their own OpenTelemetry SDKs) */
};

/* Apply the files to the environment (setenv without overwrite). Warnings
 * go to stderr prefixed with prog. Returns the number of variables set. */
int tt_config_load(const char *prog, enum tt_config_scope scope);

/* Parse one line. TT_OK with *key and *val pointing into line (modified in
 * place) for a setting; TT_ERR_AGAIN for a blank or comment line;
 * TT_ERR_PARSE for anything else. */
int tt_config_parse_line(char *line, char **key, char **val) TT_WUR;

/* Unset what the files set that a traced program must not inherit
 * (variables whose name holds PASSWORD, SECRET, HEADERS or _TOKEN). For
 * `tokentap run`, before it execs the program. */
void tt_config_scrub_secrets(void);

#endif
