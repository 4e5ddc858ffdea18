/* test_traceparent.c - the one W3C trace context parser
 * (tt_traceparent_parse, preload/span.c) that the preload (rt.c), the CLI
 * (tt_cli_traceparent_parse) and so the gateway use: they used to be two
 * parsers that disagreed on version 00 with extra fields and on NULL. */
#include <criterion/criterion.h>
#include <string.h>

#include "rt.h"
#include "span.h"
#include "cli.h"

#define TRACE "4bf92f3577b34da6a3ce929d0e0e4736"
#define PARENT "00f067aa0ba902b7"

struct tp_case {
    const char *name;
    const char *in;
    bool ok;
};

static const struct tp_case cases[] = {
    /* valid */
    { "valid, sampled", "00-" TRACE "-" PARENT "-01", true },
    { "valid, not sampled", "00-" TRACE "-" PARENT "-00", true },
    { "valid, other flags", "00-" TRACE "-" PARENT "-ff", true },
    { "later version, more fields", "01-" TRACE "-" PARENT "-01-what-ever", true },
    { "later version, exact", "cc-" TRACE "-" PARENT "-01", true },
    /* wrong version */
    { "version ff", "ff-" TRACE "-" PARENT "-01", false },
    { "version not hex", "0g-" TRACE "-" PARENT "-01", false },
    { "version 00 with more fields", "00-" TRACE "-" PARENT "-01-extra", false },
    { "later version, junk without separator", "01-" TRACE "-" PARENT "-01x", false },
    /* all-zero ids */
    { "zero trace", "00-00000000000000000000000000000000-" PARENT "-01", false },
    { "zero parent", "00-" TRACE "-0000000000000000-01", false },
    /* uppercase hex */
    { "uppercase trace", "00-4BF92F3577B34DA6A3CE929D0E0E4736-" PARENT "-01", false },
    { "uppercase parent", "00-" TRACE "-00F067AA0BA902B7-01", false },
    { "uppercase flags", "00-" TRACE "-" PARENT "-0A", false },
    { "uppercase version", "0A-" TRACE "-" PARENT "-01", false },
    /* wrong lengths and separators */
    { "trace one short", "00-4bf92f3577b34da6a3ce929d0e0e473-" PARENT "-01", false },
    { "trace one long", "00-4bf92f3577b34da6a3ce929d0e0e47361-" PARENT "-01", false },
    { "parent one short", "00-" TRACE "-00f067aa0ba902b-01", false },
    { "parent one long", "00-" TRACE "-00f067aa0ba902b71-01", false },
    { "flags one digit", "00-" TRACE "-" PARENT "-1", false },
    { "no flags", "00-" TRACE "-" PARENT, false },
    { "shifted separator", "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false },
    { "underscores", "00_" TRACE "_" PARENT "_01", false },
    { "empty", "", false },
    { "NULL", NULL, false },
};

Test(traceparent, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct tp_case *c = &cases[i];
        char trace[33] = "untouched", parent[17] = "untouched";
        int rc = tt_traceparent_parse(c->in, trace, parent);
        cr_expect_eq(rc == TT_OK, c->ok, "%s: '%s' -> %d", c->name, c->in ? c->in : "(null)", rc);
        if (c->ok && rc == TT_OK) {
            cr_expect_str_eq(trace, TRACE, "%s", c->name);
            cr_expect_str_eq(parent, PARENT, "%s", c->name);
        } else {
            cr_expect_str_eq(trace, "untouched", "%s: written on failure", c->name);
            cr_expect_str_eq(parent, "untouched", "%s: written on failure", c->name);
        }
        /* The preload's and the CLI's entry points say the same. */
        char t2[33], p2[17];
        cr_expect_eq(tt_rt_parse_traceparent(c->in, t2, p2), c->ok, "%s: rt", c->name);
        if (c->in)
            cr_expect_eq(tt_cli_traceparent_parse(c->in, t2, p2) == TT_OK, c->ok, "%s: cli",
                         c->name);
    }
}
