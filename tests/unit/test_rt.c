/* test_rt.c - runtime configuration read from the environment. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

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
