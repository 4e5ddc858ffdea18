/* test_cli_more.c - the pure helpers of ls/cost/run/assert/doctor
 * (tools/cli_filter.c, tools/cli_doctor.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "cli.h"

#define NS 1000000000LL

Test(since, durations)
{
    int64_t now = 1700000000LL * NS, v;
    cr_assert_eq(tt_cli_parse_since("7d", now, &v), TT_OK);
    cr_assert_eq(v, now - 7 * 86400 * NS);
    cr_assert_eq(tt_cli_parse_since("24h", now, &v), TT_OK);
    cr_assert_eq(v, now - 24 * 3600 * NS);
    cr_assert_eq(tt_cli_parse_since("30m", now, &v), TT_OK);
    cr_assert_eq(v, now - 1800 * NS);
    cr_assert_eq(tt_cli_parse_since("2w", now, &v), TT_OK);
    cr_assert_eq(v, now - 14 * 86400 * NS);
    const char *bad[] = { "", "7", "d", "7x", "-1d", "7dd", "2025-13-01", "2025-1-1", "yesterday" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tt_cli_parse_since(bad[i], now, &v), TT_ERR_PARSE, "%s", bad[i]);
}

Test(since, date_is_local_midnight)
{
    int64_t v;
    setenv("TZ", "UTC", 1);
    cr_assert_eq(tt_cli_parse_since("2024-03-01", 0, &v), TT_OK);
    cr_assert_eq(v, 1709251200LL * NS);
}

Test(range, forms)
{
    int64_t lo, hi;
    cr_assert_eq(tt_cli_parse_range("3", &lo, &hi), TT_OK);
    cr_assert(lo == 3 && hi == 3);
    cr_assert_eq(tt_cli_parse_range("2..5", &lo, &hi), TT_OK);
    cr_assert(lo == 2 && hi == 5);
    cr_assert_eq(tt_cli_parse_range("2..", &lo, &hi), TT_OK);
    cr_assert(lo == 2 && hi == -1);
    cr_assert_eq(tt_cli_parse_range("..4", &lo, &hi), TT_OK);
    cr_assert(lo == -1 && hi == 4);
    const char *bad[] = { "", "..", "5..2", "a", "1..b", "-1", "1...3" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tt_cli_parse_range(bad[i], &lo, &hi), TT_ERR_PARSE, "%s", bad[i]);
}

Test(group_expr, keys)
{
    char b[512];
    cr_assert_eq(tt_cli_group_expr("model", b, sizeof(b)), TT_OK);
    cr_assert(strstr(b, "response_model"));
    cr_assert_eq(tt_cli_group_expr("session", b, sizeof(b)), TT_OK);
    cr_assert(strstr(b, "session_id"));
    cr_assert_eq(tt_cli_group_expr("day", b, sizeof(b)), TT_OK);
    cr_assert(strstr(b, "strftime"));
    cr_assert_eq(tt_cli_group_expr("tag:team", b, sizeof(b)), TT_OK);
    cr_assert(strstr(b, "json_extract(tags, '$.\"team\"')"), "%s", b);
    cr_assert(strstr(b, "'(no team)'"));
    /* Nothing that could break out of the SQL string gets in. */
    const char *bad[] = { "tag:", "tag:a'b", "tag:a\"b", "tag:a b", "tag:a)--", "tags",
                          "nope", "tag:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(tt_cli_group_expr(bad[i], b, sizeof(b)), TT_ERR_PARSE, "%s", bad[i]);
    cr_assert_eq(tt_cli_group_expr("tag:team", b, 16), TT_ERR_NOMEM);
}

Test(tags, merge)
{
    char *add[] = { "team=infra", "env=ci", "team=web" };
    char *m = tt_cli_tags_merge("env=dev,owner=me", add, 3);
    cr_assert_str_eq(m, "owner=me,env=ci,team=web");
    free(m);
    m = tt_cli_tags_merge(NULL, add, 1);
    cr_assert_str_eq(m, "team=infra");
    free(m);
    cr_assert(tt_cli_tag_valid("a=b"));
    cr_assert(tt_cli_tag_valid("a="));
    cr_assert_not(tt_cli_tag_valid("=b"));
    cr_assert_not(tt_cli_tag_valid("ab"));
    cr_assert_not(tt_cli_tag_valid("a=b,c=d"));
}

Test(metadata, merge)
{
    char err[128];
    char *m = tt_cli_metadata_merge("{\"a\":1,\"b\":2}", "{\"b\":3,\"c\":\"x\"}", err, sizeof(err));
    cr_assert_str_eq(m, "{\"a\":1,\"b\":3,\"c\":\"x\"}");
    free(m);
    m = tt_cli_metadata_merge("not json", "{\"k\":true}", err, sizeof(err));
    cr_assert_str_eq(m, "{\"k\":true}");
    free(m);
    cr_assert_null(tt_cli_metadata_merge(NULL, "[1]", err, sizeof(err)));
    cr_assert(strstr(err, "object"));
    cr_assert_null(tt_cli_metadata_merge(NULL, "{", err, sizeof(err)));
    cr_assert(strstr(err, "JSON"));
}

Test(glob, lists)
{
    cr_assert(tt_cli_glob_list_match("gpt-4o-mini,claude-*", "claude-3-5-haiku"));
    cr_assert(tt_cli_glob_list_match("gpt-4o-mini, claude-*", "gpt-4o-mini"));
    cr_assert_not(tt_cli_glob_list_match("gpt-4o-mini,claude-*", "gpt-4o"));
    cr_assert_not(tt_cli_glob_list_match("", "x"));
}

static char *eval(const struct tt_cli_assert_rules *r, const struct tt_cli_assert_facts *f,
                  int *v)
{
    struct tt_buf b;
    tt_buf_init(&b, 65536);
    cr_assert_eq(tt_cli_assert_eval(r, f, &b, v), TT_OK);
    char *s = strdup(b.data ? b.data : "");
    tt_buf_free(&b);
    return s;
}

Test(assert_rules, pass_and_fail)
{
    struct tt_cli_assert_model models[] = { { "gpt-4o-mini", 2 }, { "o3", 1 } };
    struct tt_cli_assert_facts f = { .cost = 0.012, .tokens = 1500, .calls = 3,
                                     .errors = 1, .models = models, .nmodels = 2 };
    struct tt_cli_assert_rules ok = { .max_cost = 0.02, .max_tokens = 2000,
                                      .calls_min = 3, .calls_max = 3,
                                      .model_allow = "gpt-*,o3" };
    int v;
    char *s = eval(&ok, &f, &v);
    cr_assert_eq(v, 0, "%s", s);
    cr_assert_str_eq(s, "");
    free(s);

    struct tt_cli_assert_rules bad = { .max_cost = 0.01, .max_tokens = 1000,
                                       .calls_min = 1, .calls_max = 2, .no_errors = true,
                                       .model_allow = "gpt-*" };
    s = eval(&bad, &f, &v);
    cr_assert_eq(v, 5, "%s", s);
    cr_assert(strstr(s, "max-cost: spent $0.012000, $0.002000 (20%) over the limit $0.010000"), "%s", s);
    cr_assert(strstr(s, "max-tokens: used 1500 tokens, 500 over the limit 1000"), "%s", s);
    cr_assert(strstr(s, "llm-calls: 3 LLM calls, 1 more than the maximum 2"), "%s", s);
    cr_assert(strstr(s, "no-errors: 1 call failed"), "%s", s);
    cr_assert(strstr(s, "model-allow: model o3 (1 call) is not in the allowed list gpt-*"), "%s", s);
    free(s);

    struct tt_cli_assert_rules exact = { .max_cost = -1, .max_tokens = -1,
                                         .calls_min = 5, .calls_max = 5 };
    s = eval(&exact, &f, &v);
    cr_assert_eq(v, 1);
    cr_assert(strstr(s, "3 LLM calls, 2 fewer than the expected 5"), "%s", s);
    free(s);
}

Test(elf, system_binaries)
{
    struct tt_cli_elf e;
    cr_assert_eq(tt_cli_elf_inspect("/proc/self/exe", &e), TT_OK);
    cr_assert(e.elf);
    cr_assert(e.dynamic);
    cr_assert(e.needs_libc, "%s", e.needed);
    cr_assert_not(e.go);
    if (access("/usr/bin/curl", R_OK) == 0) {
        cr_assert_eq(tt_cli_elf_inspect("/usr/bin/curl", &e), TT_OK);
        cr_assert(e.elf && e.dynamic && e.needs_curl, "%s", e.needed);
        cr_assert_not(e.exports_ssl_write);
    }
}

Test(elf, not_elf_and_missing)
{
    struct tt_cli_elf e;
    char path[] = "/tmp/tt-elf-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    const char txt[] = "#!/bin/sh\necho this is a script, long enough to be looked at......\n";
    cr_assert_eq(write(fd, txt, sizeof(txt) - 1), (ssize_t)sizeof(txt) - 1);
    close(fd);
    cr_assert_eq(tt_cli_elf_inspect(path, &e), TT_OK);
    cr_assert_not(e.elf);
    /* A truncated ELF header: an ELF, but nothing read past its end. */
    fd = open(path, O_WRONLY | O_TRUNC);
    unsigned char h[80] = { 0x7f, 'E', 'L', 'F', 2, 1, 1 };
    memset(h + 32, 0xff, 8);   /* e_phoff far outside the file */
    cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    close(fd);
    cr_assert_eq(tt_cli_elf_inspect(path, &e), TT_OK);
    cr_assert(e.elf);
    cr_assert_not(e.dynamic);
    unlink(path);
    cr_assert_eq(tt_cli_elf_inspect("/nonexistent/x", &e), TT_ERR_IO);
}
