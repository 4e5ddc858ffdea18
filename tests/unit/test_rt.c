/* test_rt.c - runtime configuration read from the environment. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include <sys/wait.h>
#include <unistd.h>

#include "rt.h"
#include "span.h"

Test(rt, traceparent_table)
{
    static const struct { const char *tp; bool ok; } cases[] = {
        { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", true },
        { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", true },
        { "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", true },
        { "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", false },
        { "00-00000000000000000000000000000000-b7ad6b7169203331-01", false },
        { "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", false },
        { "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", false },
        { "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", false },
        { "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01", false },
        { "", false },
        { NULL, false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char trace[33] = "", parent[17] = "";
        bool ok = tt_rt_parse_traceparent(cases[i].tp, trace, parent);
        cr_expect_eq(ok, cases[i].ok, "case %zu", i);
        if (ok) {
            cr_expect_str_eq(trace, "0af7651916cd43dd8448eb211c80319c");
            cr_expect_str_eq(parent, "b7ad6b7169203331");
        }
    }
}

Test(rt, environment_is_read_once_at_first_use)
{
    setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1);
    setenv("TOKENTAP_TAGS", "team=infra,quote=a\"b,bad,=x,env=ci", 1);
    setenv("TOKENTAP_SESSION_ID", "sess-42", 1);
    setenv("TOKENTAP_MAX_BODY", "65536", 1);
    setenv("TOKENTAP_HOME", "/tmp/tt-rt-home", 1);
    unsetenv("TOKENTAP_SOCKET");
    unsetenv("TOKENTAP_SPOOL");
    cr_assert(tt_rt_ready());
    cr_expect_str_eq(tt_rt.trace_id, "0af7651916cd43dd8448eb211c80319c");
    cr_expect_str_eq(tt_rt.parent_id, "b7ad6b7169203331");
    cr_expect_str_eq(tt_rt.tags, "{\"team\":\"infra\",\"quote\":\"a\\\"b\",\"env\":\"ci\"}");
    cr_expect_str_eq(tt_rt.session_id, "sess-42");
    cr_expect_eq(tt_rt.max_body, 65536);
    cr_expect_str_eq(tt_rt.socket_path, "/tmp/tt-rt-home/tokentapd.sock");
    cr_expect_str_eq(tt_rt.spool_dir, "/tmp/tt-rt-home/spool");
    cr_expect_not_null(tt_rt.exe);
}

Test(rt, no_traceparent_means_a_fresh_trace)
{
    unsetenv("TRACEPARENT");
    setenv("TOKENTAP_MAX_BODY", "12", 1);     /* out of range: default kept */
    setenv("TOKENTAP_LOG", "off", 1);
    cr_assert(tt_rt_ready());
    cr_expect_eq(strlen(tt_rt.trace_id), 32);
    cr_expect_str_eq(tt_rt.parent_id, "");
    cr_expect_eq(tt_rt.max_body, 8u << 20);
}

Test(rt, guard_nests)
{
    cr_assert(tt_rt_enter());
    cr_expect(!tt_rt_enter(), "a hook reached from inside tokentap stands down");
    tt_rt_leave();
    cr_expect(tt_rt_enter());
    tt_rt_leave();
}

/* The pid is cached (no getpid per span), so a fork child must not see
 * its parent's: the atfork handler moves the generation it is keyed on. */
Test(rt, pid_is_the_process_s_own_after_fork)
{
    int fds[2];

    cr_expect_eq(tt_rt_pid(), (int)getpid());
    cr_expect_eq(tt_rt_pid(), (int)getpid(), "cached: the same on a second call");
    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        int got[2] = { tt_rt_pid(), (int)getpid() };
        _exit(write(fds[1], got, sizeof(got)) == (ssize_t)sizeof(got) ? 0 : 1);
    }
    int got[2] = { 0, 0 };
    cr_assert_eq(read(fds[0], got, sizeof(got)), (ssize_t)sizeof(got));
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_expect_eq(got[0], got[1], "the child's cached pid is its own");
    cr_expect_eq(got[1], (int)child);
    cr_expect_eq(tt_rt_pid(), (int)getpid(), "the parent's is unchanged");
    close(fds[0]);
    close(fds[1]);
}

/* Span ids come from a per-thread generator seeded once: they must be
 * well formed, distinct, and a fork child must not repeat the ids its
 * parent makes next (it seeds again). */
Test(rt, random_ids_are_distinct_and_a_fork_child_does_not_repeat_them)
{
    enum { N = 2000 };
    static char ids[N][17];
    int fds[2];

    for (size_t i = 0; i < N; i++) {
        tt_span_rand_hex(ids[i], 8);
        cr_assert_eq(strlen(ids[i]), 16);
        cr_assert_eq(strspn(ids[i], "0123456789abcdef"), 16, "%s", ids[i]);
        for (size_t k = 0; k < i; k++)
            cr_assert_str_neq(ids[i], ids[k]);
    }
    char trace[33];
    tt_span_rand_hex(trace, 16);
    cr_expect_eq(strlen(trace), 32);
    cr_expect_eq(strspn(trace, "0123456789abcdef"), 32);

    cr_assert_eq(pipe(fds), 0);
    pid_t child = fork();
    cr_assert_geq(child, 0);
    if (child == 0) {
        char mine[4][17];
        for (int i = 0; i < 4; i++)
            tt_span_rand_hex(mine[i], 8);
        _exit(write(fds[1], mine, sizeof(mine)) == (ssize_t)sizeof(mine) ? 0 : 1);
    }
    char theirs[4][17], mine[4][17];
    cr_assert_eq(read(fds[0], theirs, sizeof(theirs)), (ssize_t)sizeof(theirs));
    int status = 0;
    cr_assert_eq(waitpid(child, &status, 0), child);
    cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 4; i++)
        tt_span_rand_hex(mine[i], 8);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 4; k++)
            cr_expect_str_neq(mine[i], theirs[k], "parent %d and child %d share an id", i, k);
    close(fds[0]);
    close(fds[1]);
}
