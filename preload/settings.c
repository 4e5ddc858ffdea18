/* settings.c - the environment, read in one place (see settings.h). */
#include "settings.h"

#include <stddef.h>

extern char **environ;  /* not in the hook object: rt.c passes envp */

/* name=value entries this module reads; the rest of environ is skipped
 * after a two-byte test. */
static const struct {
    char name[28];
    unsigned char len;
    unsigned short off;
} vars[] = {
#define V(n, f) { n, sizeof(n) - 1, offsetof(struct tt_settings, f) }
    V("TOKENTAP_DISABLE", disable),
    V("TOKENTAP_LOG", log_raw),
    V("TOKENTAP_CAPTURE_CONTENT", capture_content),
    V("TOKENTAP_INLINE", inline_hooks),
    V("TOKENTAP_WORKER", worker),
    V("TOKENTAP_PRICING", pricing),
    V("TOKENTAP_HOSTS", hosts),
    V("TOKENTAP_RECORD", record),
    V("TOKENTAP_REDACT", redact),
    V("TOKENTAP_REDACT_FILE", redact_file),
    V("TOKENTAP_REDIRECT", redirect),
    V("TOKENTAP_REDIRECT_HOSTS", redirect_hosts),
    V("TOKENTAP_REDIRECT_CA", redirect_ca),
    V("TOKENTAP_ONLY_CMDS", only_cmds),
    V("TOKENTAP_SKIP_CMDS", skip_cmds),
    V("TOKENTAP_MAX_BODY", max_body),
    V("TOKENTAP_SAMPLE_RATE", sample_rate),
    V("TOKENTAP_SESSION_ID", session_id),
    V("TOKENTAP_TAGS", tags),
    V("TOKENTAP_METADATA", metadata),
    V("TOKENTAP_GATEWAY", gateway),
    V("TOKENTAP_RUN_PID", run_pid),
    V("TOKENTAP_RUN_PPID", run_ppid),
    V("TOKENTAP_HOME", home),
    V("TOKENTAP_SOCKET", socket),
    V("TOKENTAP_SPOOL", spool),
#define N_TOK 26                /* the TOKENTAP_ ones, first */
    V("TRACEPARENT", traceparent),
    V("HOME", user_home),
    V("XDG_CONFIG_HOME", xdg_config_home),
    V("XDG_DATA_HOME", xdg_data_home),
#undef V
};

/* The constructor calls no libc function: each one's first call through
 * the PLT costs a symbol lookup (about 1,500 instructions), paid by every
 * process the preload is loaded into. */
static bool word_ieq(const char *v, const char *lower)
{
    for (; *lower; v++, lower++)
        if ((*v | 0x20) != *lower)
            return false;
    return *v == '\0';
}

bool tt_settings_false(const char *v)
{
    return v && ((v[0] == '0' && !v[1]) || word_ieq(v, "off") ||
                 word_ieq(v, "false") || word_ieq(v, "no"));
}

bool tt_settings_true(const char *v)
{
    return v && *v && !tt_settings_false(v);
}

/* Does e continue name from byte from on, followed by '='? */
static bool is_var(const char *e, const char *name, size_t from, size_t len)
{
    for (size_t i = from; i < len; i++)
        if (e[i] != name[i])
            return false;
    return e[len] == '=';
}

#define PREFIX "TOKENTAP_"
#define PREFIX_LEN (sizeof(PREFIX) - 1)

/* Which of vars an environ entry sets, or -1. The first byte settles
 * nearly every entry of other programs (the constructor runs this for each
 * entry in every process); a TOKENTAP_ one costs one compare per variable
 * after the prefix. The TOKENTAP_ variables come first in vars. */
static inline int which_var(const char *e)
{
    size_t lo, hi, from = 0;

    switch (e[0]) {
    case 'T':
        if (e[1] == 'O') {
            for (size_t i = 2; i < PREFIX_LEN; i++)
                if (e[i] != PREFIX[i])
                    return -1;
            lo = 0;
            hi = N_TOK;
            from = PREFIX_LEN;
            break;
        }
        __attribute__((fallthrough)); /* TRACEPARENT */
    case 'H':
    case 'X':
        lo = N_TOK;
        hi = sizeof(vars) / sizeof(vars[0]);
        break;
    default:
        return -1;
    }
    for (size_t i = lo; i < hi; i++) {
        const char *n = vars[i].name;
        if (e[from] == n[from] && is_var(e, n, from, vars[i].len))
            return (int)i;
    }
    return -1;
}

static const char **slot(struct tt_settings *s, int i)
{
    return (const char **)(void *)((char *)s + vars[i].off);
}

/* One pass over env into s; arena (may be NULL) gets a copy of each
 * value (a value that does not fit stays a pointer into env). getenv()
 * returns the first of duplicate names: so does this. */
static void read_env(struct tt_settings *s, char *const *env, char *arena, size_t cap)
{
    size_t used = 0;

    *s = (struct tt_settings){ 0 };
    for (char *const *e = env; e && *e; e++) {
        int i = which_var(*e);
        if (i < 0 || *slot(s, i))
            continue;
        const char *v = *e + vars[i].len + 1;
        if (arena && used < cap) {
            /* Copy while measuring: one pass over the value. */
            size_t n = 0;
            char c;
            while ((c = v[n]) != '\0' && used + n + 1 < cap)
                arena[used + n++] = c;
            if (c == '\0') {
                arena[used + n] = '\0';
                v = arena + used;
                used += n + 1;
            }
        }
        *slot(s, i) = v;
    }
    s->off = tt_settings_true(s->disable);
    s->log = !tt_settings_false(s->log_raw);
}

#ifdef TT_PRELOAD

/* One object, the settings first: the Makefile links this file first, so
 * the settings and the start of the arena share the page the loader has
 * already written (no page fault of their own at each exec). */
static struct {
    struct tt_settings settings;
    char arena[8192];
} store;

void tt_settings_load_env(char *const *envp)
{
    read_env(&store.settings, envp, store.arena, sizeof(store.arena));
}

void tt_settings_load(void)
{
    tt_settings_load_env(environ);
}

const struct tt_settings *tt_settings(void)
{
    return &store.settings;
}

#else

static __thread struct tt_settings settings;

void tt_settings_load_env(char *const *envp)
{
    read_env(&settings, envp, NULL, 0);
}

void tt_settings_load(void)
{
    read_env(&settings, environ, NULL, 0);
}

const struct tt_settings *tt_settings(void)
{
    read_env(&settings, environ, NULL, 0);
    return &settings;
}

#endif
