/* test_redact.c - preload/redact.c (TOKENTAP_REDACT) and the per-program,
 * sampling and rate parsing helpers of rt.c, table-driven. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "redact.h"
#include "rt.h"
#include "span_fixture.h"

static const struct {
    const char *pattern, *in, *out;     /* out NULL: nothing matched */
} text_cases[] = {
    { "[0-9]{3}-[0-9]{2}-[0-9]{4}", "ssn 123-45-6789 ok", "ssn [REDACTED] ok" },
    { "[0-9]{3}-[0-9]{2}-[0-9]{4}", "no number here", NULL },
    { "sk-[A-Za-z0-9]+", "a sk-AAA b sk-BBB", "a [REDACTED] b [REDACTED]" },
    { "^secret", "secret secret", "[REDACTED] secret" },   /* ^ only at the start */
    { "x*", "abc", NULL },                                 /* empty matches change nothing */
    { "x*", "axxb", "a[REDACTED]b" },
    { "a|b", "abc", "[REDACTED][REDACTED]c" },
    { ".*", "whole", "[REDACTED]" },
    { "(é)+", "café éé", "caf[REDACTED] [REDACTED]" },     /* any locale */
};

Test(redact, text_table)
{
    for (size_t i = 0; i < sizeof(text_cases) / sizeof(text_cases[0]); i++) {
        struct tt_redact r;
        char err[200], *out = NULL;
        const char *p = text_cases[i].pattern;
        cr_assert_eq(tt_redact_compile(&r, &p, 1, err, sizeof(err)), TT_OK, "case %zu", i);
        cr_assert_eq(tt_redact_text(&r, text_cases[i].in, strlen(text_cases[i].in), &out),
                     TT_OK);
        if (!text_cases[i].out)
            cr_assert_null(out, "case %zu: %s", i, out);
        else
            cr_assert_str_eq(out, text_cases[i].out, "case %zu", i);
        free(out);
        tt_redact_free(&r);
    }
}

Test(redact, several_patterns_apply_in_turn_and_nul_bytes_count)
{
    const char *pats[] = { "alpha", "beta" };
    struct tt_redact r;
    char err[200], *out = NULL;
    static const char in[] = "alpha\0beta";     /* a NUL inside the text */

    cr_assert_eq(tt_redact_compile(&r, pats, 2, err, sizeof(err)), TT_OK);
    cr_assert_eq(tt_redact_text(&r, in, sizeof(in) - 1, &out), TT_OK);
    cr_assert_not_null(out);
    cr_assert_str_eq(out, "[REDACTED]");        /* up to the NUL */
    cr_assert_eq(memcmp(out, "[REDACTED]\0[REDACTED]", 21), 0);
    free(out);
    tt_redact_free(&r);
}

Test(redact, bad_pattern_is_refused_with_a_reason)
{
    const char *pats[] = { "ok", "([unclosed" };
    struct tt_redact r;
    char err[200] = "";

    cr_assert_eq(tt_redact_compile(&r, pats, 2, err, sizeof(err)), TT_ERR_PARSE);
    cr_assert_eq(r.n, 0);
    cr_assert(strstr(err, "pattern 2") != NULL, "%s", err);
}

Test(redact, span_json_stays_valid_and_only_strings_change)
{
    const char *p = "[0-9]{4}-[0-9]{4}|\"";     /* a quote: must not break JSON */
    struct tt_redact r;
    char err[200];
    struct tt_span s;

    fx_full(&s);
    fx_set(&s.input, "[{\"role\":\"user\",\"content\":\"card 1234-5678 \\\"q\\\"\"}]");
    fx_set(&s.output, "\"plain 9999-0000\"");
    fx_set(&s.tool_calls, "[{\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{\\\"n\\\":\\\"1111-2222\\\"}\"}]");
    fx_set(&s.error, "HTTP 400: bad 4444-5555");
    cr_assert_eq(tt_redact_compile(&r, &p, 1, err, sizeof(err)), TT_OK);
    cr_assert_eq(tt_redact_span(&r, &s), TT_OK);
    cr_assert_str_eq(s.input, "[{\"role\":\"user\",\"content\":\"card [REDACTED] [REDACTED]q[REDACTED]\"}]");
    cr_assert_str_eq(s.output, "\"plain [REDACTED]\"");
    cr_assert_str_eq(s.tool_calls,
                     "[{\"id\":\"c1\",\"name\":\"f\",\"arguments\":\"{[REDACTED]n[REDACTED]:[REDACTED][REDACTED][REDACTED]}\"}]");
    cr_assert_str_eq(s.error, "HTTP 400: bad [REDACTED]");
    tt_span_clear(&s);
    tt_redact_free(&r);
}

Test(redact, non_json_content_is_redacted_as_text)
{
    const char *p = "hunter2";
    struct tt_redact r;
    char err[200];
    struct tt_span s;

    fx_full(&s);
    fx_set(&s.input, "[{\"content\":\"pw hunter2 and cut");   /* truncated */
    cr_assert_eq(tt_redact_compile(&r, &p, 1, err, sizeof(err)), TT_OK);
    cr_assert_eq(tt_redact_span(&r, &s), TT_OK);
    cr_assert_str_eq(s.input, "[{\"content\":\"pw [REDACTED] and cut");
    tt_span_clear(&s);
    tt_redact_free(&r);
}

Test(redact, environment_and_file)
{
    char path[] = "/tmp/tt_redact_XXXXXX", err[200] = "";
    int fd = mkstemp(path);
    static const char file[] = "# comment\n\nfoo[0-9]+\r\nbar\n";
    struct tt_redact r;
    char *out = NULL;

    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, file, sizeof(file) - 1), (ssize_t)sizeof(file) - 1);
    close(fd);
    setenv("TOKENTAP_REDACT", "baz", 1);
    setenv("TOKENTAP_REDACT_FILE", path, 1);
    cr_assert_eq(tt_redact_from_env(&r, err, sizeof(err)), TT_OK, "%s", err);
    cr_assert_eq(r.n, 3);
    cr_assert_eq(tt_redact_text(&r, "foo12 bar baz qux", 17, &out), TT_OK);
    cr_assert_str_eq(out, "[REDACTED] [REDACTED] [REDACTED] qux");
    free(out);
    tt_redact_free(&r);
    unlink(path);
    cr_assert_eq(tt_redact_from_env(&r, err, sizeof(err)), TT_ERR_IO);
    cr_assert(strstr(err, "TOKENTAP_REDACT_FILE") != NULL, "%s", err);
    unsetenv("TOKENTAP_REDACT_FILE");
    unsetenv("TOKENTAP_REDACT");
    cr_assert_eq(tt_redact_from_env(&r, err, sizeof(err)), TT_OK);
    cr_assert_eq(r.n, 0);
}

/* ---- rt: per-program lists, sampling ------------------------------------ */

static const struct {
    const char *only, *skip;
    const char *names[3];
    bool traced;
} cmd_cases[] = {
    { NULL, NULL, { "curl", "curl", NULL }, true },
    { "python3*", NULL, { "python3.11", "python3", "agent.py" }, true },
    { "python3*", NULL, { "curl", "curl", NULL }, false },
    { "agent.py", NULL, { "python3.11", "python3", "agent.py" }, true },
    { " curl , node ", NULL, { "curl", "curl", NULL }, true },
    { NULL, "curl", { "curl", "curl", NULL }, false },
    { NULL, "git,ssh*", { "ssh-agent", "ssh-agent", NULL }, false },
    { NULL, "git,ssh*", { "python3.11", "python3", "x.py" }, true },
    { "python*", "eval_*.py", { "python3.11", "python3", "eval_1.py" }, false },
    { "", "", { "anything", NULL, NULL }, true },       /* empty lists: no rule */
    { "a,,b", NULL, { "b", NULL, NULL }, true },
    { "[", NULL, { "[", NULL, NULL }, true },            /* bad glob matches literally */
};

Test(rt, cmd_lists_table)
{
    for (size_t i = 0; i < sizeof(cmd_cases) / sizeof(cmd_cases[0]); i++)
        cr_assert_eq(tt_rt_cmd_allowed(cmd_cases[i].only, cmd_cases[i].skip,
                                       cmd_cases[i].names, 3),
                     cmd_cases[i].traced, "case %zu", i);
}

Test(rt, sample_rate_parse_table)
{
    static const struct { const char *v; bool ok; double r; } t[] = {
        { "1", true, 1 }, { "0", true, 0 }, { "0.25", true, 0.25 }, { "1e-1", true, 0.1 },
        { "1.5", false, 0 }, { "-0.1", false, 0 }, { "abc", false, 0 }, { "", false, 0 },
        { "0.5x", false, 0 }, { "nan", false, 0 }, { "inf", false, 0 },
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        double r = -1;
        cr_assert_eq(tt_rt_parse_rate(t[i].v, &r), t[i].ok, "case %s", t[i].v);
        if (t[i].ok)
            cr_assert_float_eq(r, t[i].r, 1e-12, "case %s", t[i].v);
    }
}

Test(rt, sampling_follows_the_rate)
{
    double saved = tt_rt.sample_rate;
    int hits = 0;

    tt_rt.sample_rate = 1.0;
    for (int i = 0; i < 100; i++)
        cr_assert(tt_rt_sampled());
    tt_rt.sample_rate = 0.0;
    for (int i = 0; i < 100; i++)
        cr_assert_not(tt_rt_sampled());
    tt_rt.sample_rate = 0.3;
    for (int i = 0; i < 20000; i++)
        hits += tt_rt_sampled();
    /* Binomial(20000, 0.3): sd ~65; 6000 +- 600 is ~9 sd. */
    cr_assert(hits > 5400 && hits < 6600, "hits %d", hits);
    tt_rt.sample_rate = saved;
}
