/* test_settings.c - preload/settings.c (as the preload builds it: one read
 * of environ into a private copy) and the fork handler registry (rt.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The preload's variant of settings.c, renamed: the test binary also links
 * the tools' variant (which reads the environment at each call). */
#define TT_PRELOAD
#define tt_settings tt_pl_settings
#define tt_settings_load tt_pl_settings_load
#define tt_settings_load_env tt_pl_settings_load_env
#define tt_settings_false tt_pl_settings_false
#define tt_settings_true tt_pl_settings_true
#include "../../preload/settings.c"
#undef tt_settings
#undef tt_settings_load
#undef tt_settings_load_env
#undef tt_settings_false
#undef tt_settings_true

#include "rt.h"

Test(settings, on_off_rule)
{
    static const struct {
        const char *v;
        bool is_false, is_true;
    } cases[] = {
        { "0", true, false }, { "off", true, false }, { "OFF", true, false },
        { "False", true, false }, { "no", true, false }, { "1", false, true },
        { "on", false, true }, { "yes", false, true }, { "", false, false },
        { "offf", false, true }, { "00", false, true }, { "n", false, true },
    };

    cr_assert(!tt_pl_settings_false(NULL));
    cr_assert(!tt_pl_settings_true(NULL));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_eq(tt_pl_settings_false(cases[i].v), cases[i].is_false, "%s", cases[i].v);
        cr_expect_eq(tt_pl_settings_true(cases[i].v), cases[i].is_true, "%s", cases[i].v);
    }
}

Test(settings, one_read_of_environ_into_a_private_copy)
{
    static char mine[] = "TOKENTAP_HOSTS=a.example=openai";

    clearenv();
    setenv("TOKENTAP_LOG", "no", 1);
    setenv("TOKENTAP_DISABLE", "1", 1);
    setenv("TRACEPARENT", "00-x", 1);
    setenv("HOME", "/home/u", 1);
    setenv("XDG_DATA_HOME", "/xdg", 1);
    setenv("TOKENTAP_SOCKETX", "not ours", 1);     /* a longer name */
    setenv("TOKENTAP_SOCKE", "not ours", 1);       /* a shorter one */
    setenv("TOKENTAP_SPOOL", "", 1);
    setenv("TO", "short", 1);
    putenv(mine);
    tt_pl_settings_load();
    const struct tt_pl_settings *s = tt_pl_settings();  /* the macro renamed the tag too */

    cr_assert(s->off);
    cr_assert(!s->log);
    cr_assert_str_eq(s->log_raw, "no");
    cr_assert_str_eq(s->traceparent, "00-x");
    cr_assert_str_eq(s->user_home, "/home/u");
    cr_assert_str_eq(s->xdg_data_home, "/xdg");
    cr_assert_str_eq(s->hosts, "a.example=openai");
    cr_assert_null(s->socket);
    cr_assert_str_eq(s->spool, "");
    cr_assert_null(s->session_id);
    /* The program changes its environment afterwards: the settings stay. */
    mine[17] = 'X';
    setenv("TOKENTAP_LOG", "on", 1);
    unsetenv("HOME");
    cr_assert_str_eq(s->hosts, "a.example=openai");
    cr_assert_str_eq(s->log_raw, "no");
    cr_assert_str_eq(s->user_home, "/home/u");
    /* Read again: the new values. */
    tt_pl_settings_load();
    cr_assert(s->log);
    cr_assert_null(s->user_home);
    cr_assert_str_eq(s->hosts, "a.Xxample=openai");
}

Test(settings, every_value_beyond_the_arena_still_read)
{
    static char big[9000];

    clearenv();
    memset(big, 'x', sizeof(big) - 1);
    setenv("TOKENTAP_METADATA", big, 1);        /* larger than the arena */
    setenv("TOKENTAP_TAGS", "a=b", 1);
    tt_pl_settings_load();
    cr_assert_eq(strlen(tt_pl_settings()->metadata), sizeof(big) - 1);
    cr_assert_str_eq(tt_pl_settings()->tags, "a=b");
}

/* The constructor reads the envp the loader passes it (not environ), and
 * copies values into its arena until the arena is exactly full: a value
 * that fills it to the last byte is copied, the next (even an empty one)
 * stays where it was. ASan catches a write past the arena. */
Test(settings, envp_read_and_arena_filled_to_the_last_byte)
{
    static char fill[sizeof("TOKENTAP_METADATA=") + 8191];
    char tags[] = "TOKENTAP_TAGS=";
    char sock[] = "TOKENTAP_SOCKET=/s";
    char *envp[] = { fill, tags, sock, NULL };

    clearenv();
    setenv("TOKENTAP_LOG", "off", 1);           /* environ: not read */
    memcpy(fill, "TOKENTAP_METADATA=", 18);
    memset(fill + 18, 'm', 8191);
    fill[sizeof(fill) - 1] = '\0';
    tt_pl_settings_load_env(envp);
    const struct tt_pl_settings *s = tt_pl_settings();
    cr_assert(s->log);
    cr_assert_null(s->log_raw);
    cr_assert_eq(strlen(s->metadata), 8191);
    cr_assert(s->metadata != fill + 18, "a value that fits exactly is copied");
    cr_assert_eq(s->tags, tags + 14, "the arena is full: a pointer into envp");
    cr_assert_str_eq(s->tags, "");
    cr_assert_eq(s->socket, sock + 16);
    fill[20] = 'X';                             /* the copy does not move */
    cr_assert_eq(s->metadata[2], 'm');
    tt_pl_settings_load_env(NULL);
    cr_assert_null(tt_pl_settings()->metadata);
}

/* Each variable of the table, set alone to a value naming it, lands in its
 * own field: the lookup's split (TOKENTAP_ names first, the others after
 * N_TOK) misses none and confuses none. */
Test(settings, every_variable_of_the_table_read_into_its_field)
{
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        clearenv();
        setenv("PATH", "/bin", 1);
        setenv("TERM", "xterm", 1);             /* T, not TOKENTAP_/TRACEPARENT */
        setenv("HOSTNAME", "h", 1);              /* H, not HOME */
        setenv(vars[i].name, vars[i].name, 1);
        tt_pl_settings_load();
        const struct tt_pl_settings *s = tt_pl_settings();
        for (size_t j = 0; j < sizeof(vars) / sizeof(vars[0]); j++) {
            const char *v = *slot((struct tt_pl_settings *)s, (int)j);
            if (j == i)
                cr_expect(v && !strcmp(v, vars[i].name), "%s not read", vars[i].name);
            else
                cr_expect_null(v, "%s set %s", vars[i].name, vars[j].name);
        }
        cr_expect_eq(i < N_TOK, !strncmp(vars[i].name, "TOKENTAP_", 9),
                     "%s on the wrong side of N_TOK", vars[i].name);
    }
}

/* --- the fork registry --------------------------------------------------- */

static char order[16];
static size_t n_order;

static void note(char c)
{
    if (n_order < sizeof(order) - 1)
        order[n_order++] = c;
}

static void prep_a(void) { note('a'); }
static void prep_b(void) { note('b'); }
static void parent_a(void) { note('A'); }
static void parent_b(void) { note('B'); }
static void child_a(void) { note('1'); }
static void child_b(void) { note('2'); }

static struct tt_atfork fork_a = { .prepare = prep_a, .parent = parent_a, .child = child_a };
static struct tt_atfork fork_b = { .prepare = prep_b, .parent = parent_b, .child = child_b };

Test(settings, fork_handlers_run_in_registration_order)
{
    int p[2];

    tt_atfork_register(&fork_a);
    tt_atfork_register(&fork_b);
    tt_atfork_register(&fork_a);        /* once only */
    unsigned gen = tt_rt_fork_gen;
    cr_assert_eq(pipe(p), 0);
    n_order = 0;
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        /* prepare in reverse order, child handlers in order, and the
         * generation moved on before them */
        char out[32];
        int n = snprintf(out, sizeof(out), "%.*s %u", (int)n_order, order,
                         tt_rt_fork_gen - gen);
        ssize_t w = write(p[1], out, (size_t)n);
        _exit(w == n ? 0 : 1);
    }
    close(p[1]);
    char got[32] = { 0 };
    ssize_t r = read(p[0], got, sizeof(got) - 1);
    int st;
    waitpid(pid, &st, 0);
    cr_assert(r > 0);
    cr_assert_str_eq(got, "ba12 1");
    cr_assert_eq(n_order, 4);
    cr_assert_eq(memcmp(order, "baAB", 4), 0);
    cr_assert_eq(tt_rt_fork_gen, gen, "the parent's generation does not move");
}
