/* test_config.c - exporter/config.c: the config files' lines, scopes,
 * precedence and the secrets kept from traced programs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

struct line_case {
    const char *line;
    int rc;
    const char *key, *val;
};

static const struct line_case lines[] = {
    { "TOKENTAP_DB=/var/lib/t.db\n", TT_OK, "TOKENTAP_DB", "/var/lib/t.db" },
    { "  OTEL_SERVICE_NAME = agents  \n", TT_OK, "OTEL_SERVICE_NAME", "agents" },
    { "export TOKENTAP_SAMPLE_RATE=0.5", TT_OK, "TOKENTAP_SAMPLE_RATE", "0.5" },
    { "A=\"quoted value\"", TT_OK, "A", "quoted value" },
    { "A='single # not a comment'", TT_OK, "A", "single # not a comment" },
    { "A=", TT_OK, "A", "" },
    { "A=x=y,z=w", TT_OK, "A", "x=y,z=w" },
    { "# a comment", TT_ERR_AGAIN, NULL, NULL },
    { "   ", TT_ERR_AGAIN, NULL, NULL },
    { "\n", TT_ERR_AGAIN, NULL, NULL },
    { "no equals sign", TT_ERR_PARSE, NULL, NULL },
    { "=value", TT_ERR_PARSE, NULL, NULL },
    { "1ABC=x", TT_ERR_PARSE, NULL, NULL },
    { "A-B=x", TT_ERR_PARSE, NULL, NULL },
    { "A=\"unclosed", TT_ERR_PARSE, NULL, NULL },
};

Test(config, parse_line_table)
{
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
        char buf[256];
        char *k = NULL, *v = NULL;
        snprintf(buf, sizeof(buf), "%s", lines[i].line);
        int rc = tt_config_parse_line(buf, &k, &v);
        cr_expect_eq(rc, lines[i].rc, "case %zu '%s': rc %d", i, lines[i].line, rc);
        if (rc == TT_OK && lines[i].rc == TT_OK) {
            cr_expect_str_eq(k, lines[i].key, "case %zu key", i);
            cr_expect_str_eq(v, lines[i].val, "case %zu value", i);
        }
    }
}

static char dir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
    cr_assert_eq(chmod(path, mode), 0);
}

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tt-config-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    static const char *const vars[] = {
        "TOKENTAP_CONFIG", "TOKENTAP_X_FILE", "TOKENTAP_X_ENV", "TOKENTAP_X_BOTH",
        "OTEL_EXPORTER_OTLP_ENDPOINT", "PATH_NOT_OURS", "TOKENTAP_CLICKHOUSE_PASSWORD",
        "TOKENTAP_X_USER", "TOKENTAP_X_TOKEN", "XDG_CONFIG_HOME",
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}

Test(config, explicit_file_scopes_and_env_wins, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/conf", dir);
    write_file(path,
               "# fleet\n"
               "TOKENTAP_X_FILE=from-file\n"
               "TOKENTAP_X_BOTH=from-file\n"
               "OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318\n"
               "PATH_NOT_OURS=/evil\n"
               "garbage line\n", 0600);
    setenv("TOKENTAP_CONFIG", path, 1);
    setenv("TOKENTAP_X_BOTH", "from-env", 1);

    /* The CLI takes TOKENTAP_* only. */
    cr_assert_eq(tt_config_load("test", TT_CONFIG_CLI), 1);
    cr_expect_str_eq(getenv("TOKENTAP_X_FILE"), "from-file");
    cr_expect_str_eq(getenv("TOKENTAP_X_BOTH"), "from-env", "the environment wins");
    cr_expect_null(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "OTEL_* is the daemon's");
    cr_expect_null(getenv("PATH_NOT_OURS"));
    /* The daemon takes OTEL_* too. */
    cr_assert_eq(tt_config_load("test", TT_CONFIG_DAEMON), 1);
    cr_expect_str_eq(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), "http://collector:4318");
    cr_expect_null(getenv("PATH_NOT_OURS"));
}

Test(config, user_file_from_xdg, .init = setup, .fini = teardown)
{
    char sub[128], path[160];
    snprintf(sub, sizeof(sub), "%s/tokentap", dir);
    cr_assert_eq(mkdir(sub, 0700), 0);
    snprintf(path, sizeof(path), "%s/config", sub);
    write_file(path, "TOKENTAP_X_USER=user-file\n", 0600);
    setenv("XDG_CONFIG_HOME", dir, 1);
    tt_config_load("test", TT_CONFIG_CLI);
    cr_expect_str_eq(getenv("TOKENTAP_X_USER"), "user-file");
}

Test(config, world_writable_file_ignored, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/conf", dir);
    write_file(path, "TOKENTAP_X_FILE=planted\n", 0666);
    setenv("TOKENTAP_CONFIG", path, 1);
    cr_expect_eq(tt_config_load("test", TT_CONFIG_DAEMON), 0);
    cr_expect_null(getenv("TOKENTAP_X_FILE"));
}

Test(config, missing_explicit_file_sets_nothing, .init = setup, .fini = teardown)
{
    setenv("TOKENTAP_CONFIG", "/nonexistent/tokentap.conf", 1);
    cr_expect_eq(tt_config_load("test", TT_CONFIG_DAEMON), 0);
}

Test(config, secrets_scrubbed_for_children, .init = setup, .fini = teardown)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/conf", dir);
    write_file(path, "TOKENTAP_CLICKHOUSE_PASSWORD=s3cret\nTOKENTAP_X_FILE=kept\n"
               "TOKENTAP_X_TOKEN=t0k\n", 0600);
    setenv("TOKENTAP_CONFIG", path, 1);
    tt_config_load("test", TT_CONFIG_CLI);
    cr_assert_str_eq(getenv("TOKENTAP_CLICKHOUSE_PASSWORD"), "s3cret");
    tt_config_scrub_secrets();
    cr_expect_null(getenv("TOKENTAP_CLICKHOUSE_PASSWORD"));
    cr_expect_null(getenv("TOKENTAP_X_TOKEN"));
    cr_expect_str_eq(getenv("TOKENTAP_X_FILE"), "kept", "TOKENTAP_ is not a token");
}
