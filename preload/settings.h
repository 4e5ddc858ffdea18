/* settings.h - every environment variable the preload and the capture
 * core read, read in one place.
 *
 * In the preload (built with TT_PRELOAD) the environment is read once, by
 * the constructor, in one pass over environ: every TOKENTAP_* variable and
 * the few foreign ones the capture needs (TRACEPARENT, HOME,
 * XDG_CONFIG_HOME, XDG_DATA_HOME) are copied into a static arena, so a
 * program that later changes or frees its environment strings (putenv of
 * its own buffer, clearenv) changes nothing here. A fork child keeps its
 * parent's settings (the same environment); an exec'd program reads its
 * own. Reading costs one pass over environ, about what one getenv() costs,
 * no allocation: processes that never talk to an LLM pay that and nothing
 * more.
 *
 * In tokentapd, the CLI and the unit tests (which link the same modules
 * without TT_PRELOAD) tt_settings() reads the environment as it is at each
 * call, into the calling thread's own copy: they set variables at run time
 * (config files loaded into the environment, `tokentap run --session`,
 * tests), and get what getenv() would give.
 *
 * Not here on purpose: PATH, which an exec hook must resolve with the
 * program's current value (hooks/exec.c, elfcheck.c), and variables in an
 * envp handed to exec (the next program's, not ours). */
#ifndef TT_SETTINGS_H
#define TT_SETTINGS_H

#include <stdbool.h>
#include "tt.h"

struct tt_settings {
    /* Parsed here, one rule each. */
    bool off;                   /* TOKENTAP_DISABLE is true-ish */
    bool log;                   /* TOKENTAP_LOG is not false-ish */
    /* The values as set (NULL when unset); their owners parse them. */
    const char *disable;        /* TOKENTAP_DISABLE */
    const char *log_raw;        /* TOKENTAP_LOG */
    const char *capture_content;/* TOKENTAP_CAPTURE_CONTENT (api.c) */
    const char *inline_hooks;   /* TOKENTAP_INLINE (elfcheck.c) */
    const char *worker;         /* TOKENTAP_WORKER (defer.c) */
    const char *pricing;        /* TOKENTAP_PRICING (price_file.c) */
    const char *hosts;          /* TOKENTAP_HOSTS (provider.c) */
    const char *record;         /* TOKENTAP_RECORD (record.c) */
    const char *redact;         /* TOKENTAP_REDACT (redact.c) */
    const char *redact_file;    /* TOKENTAP_REDACT_FILE (redact.c) */
    const char *redirect;       /* TOKENTAP_REDIRECT (redirect.c) */
    const char *redirect_hosts; /* TOKENTAP_REDIRECT_HOSTS */
    const char *redirect_ca;    /* TOKENTAP_REDIRECT_CA */
    const char *only_cmds;      /* TOKENTAP_ONLY_CMDS (rt.c) */
    const char *skip_cmds;      /* TOKENTAP_SKIP_CMDS (rt.c) */
    const char *max_body;       /* TOKENTAP_MAX_BODY (rt.c) */
    const char *sample_rate;    /* TOKENTAP_SAMPLE_RATE (rt.c) */
    const char *session_id;     /* TOKENTAP_SESSION_ID (rt.c) */
    const char *tags;           /* TOKENTAP_TAGS (rt.c) */
    const char *metadata;       /* TOKENTAP_METADATA (rt.c) */
    const char *gateway;        /* TOKENTAP_GATEWAY (rt.c) */
    const char *run_pid;        /* TOKENTAP_RUN_PID (proctree.c) */
    const char *run_ppid;       /* TOKENTAP_RUN_PPID (proctree.c) */
    const char *home;           /* TOKENTAP_HOME (wire.c) */
    const char *socket;         /* TOKENTAP_SOCKET (wire.c) */
    const char *spool;          /* TOKENTAP_SPOOL (wire.c) */
    const char *traceparent;    /* TRACEPARENT (rt.c) */
    const char *user_home;      /* HOME (wire.c, price_file.c) */
    const char *xdg_config_home;/* XDG_CONFIG_HOME (price_file.c) */
    const char *xdg_data_home;  /* XDG_DATA_HOME (wire.c) */
};

/* The settings (never NULL). In the preload: read by the constructor,
 * read-only afterwards. Elsewhere: the environment as of this call, valid
 * until this thread's next call. */
TT_EXPORT const struct tt_settings *tt_settings(void);

/* Read the environment again (tests; tt_settings_load_env: the preload's
 * constructor, from the envp the loader passes it). Not thread-safe in the
 * preload: only while one thread runs. */
void tt_settings_load(void);
void tt_settings_load_env(char *const *envp);

/* The one rule for on/off values: "0", "off", "false", "no" (any case)
 * are false; any other non-empty value is true. */
TT_EXPORT bool tt_settings_false(const char *v);
TT_EXPORT bool tt_settings_true(const char *v);

#endif
