/* config.c - the configuration files (config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_MAX_SET 128

static char *config_set[CONFIG_MAX_SET];   /* names set from files */
static size_t config_nset;

int tt_config_parse_line(char *line, char **key, char **val)
{
    char *p = line, *e;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0' || *p == '#')
        return TT_ERR_AGAIN;
    if (strncmp(p, "export", 6) == 0 && (p[6] == ' ' || p[6] == '\t')) {
        p += 7;
        while (isspace((unsigned char)*p))
            p++;
    }
    *key = p;
    while (isalnum((unsigned char)*p) || *p == '_')
        p++;
    e = p;
    while (*p == ' ' || *p == '\t')
        p++;
    if (e == *key || *p != '=' || isdigit((unsigned char)**key))
        return TT_ERR_PARSE;
    *e = '\0';
    p++;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    p[n] = '\0';
    if (n >= 2 && (p[0] == '"' || p[0] == '\'') && p[n - 1] == p[0]) {
        p[n - 1] = '\0';
        p++;
    } else if (n && (p[0] == '"' || p[0] == '\'')) {
        return TT_ERR_PARSE;        /* unclosed quote */
    }
    *val = p;
    return TT_OK;
}

static bool key_allowed(const char *k, enum tt_config_scope scope)
{
    if (strncmp(k, "TOKENTAP_", 9) == 0)
        return strcmp(k, "TOKENTAP_CONFIG") != 0;
    return scope == TT_CONFIG_DAEMON && strncmp(k, "OTEL_", 5) == 0;
}

static int load_file(const char *prog, const char *path, enum tt_config_scope scope,
                     bool must_exist)
{
    FILE *f = fopen(path, "re");
    struct stat sb;
    char line[4096];
    int n = 0, lineno = 0;

    if (!f) {
        if (must_exist || errno != ENOENT)
            fprintf(stderr, "%s: config %s: %s\n", prog, path, strerror(errno));
        return 0;
    }
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode) && (sb.st_mode & S_IWOTH)) {
        fprintf(stderr, "%s: config %s is writable by anyone: ignored\n", prog, path);
        fclose(f);
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *k, *v;
        lineno++;
        int rc = tt_config_parse_line(line, &k, &v);
        if (rc == TT_ERR_AGAIN)
            continue;
        if (rc != TT_OK) {
            fprintf(stderr, "%s: config %s:%d: not KEY=VALUE: ignored\n", prog, path, lineno);
            continue;
        }
        if (!key_allowed(k, scope)) {
            if (strncmp(k, "OTEL_", 5) != 0)    /* OTEL_* is the daemon's: quiet */
                fprintf(stderr, "%s: config %s:%d: %s is not a tokentap setting "
                        "(TOKENTAP_* or OTEL_*): ignored\n", prog, path, lineno, k);
            continue;
        }
        if (getenv(k))
            continue;       /* the environment, or a file read before, wins */
        if (setenv(k, v, 0) == 0) {
            n++;
            if (config_nset < CONFIG_MAX_SET && (config_set[config_nset] = strdup(k)))
                config_nset++;
        }
    }
    fclose(f);
    return n;
}

int tt_config_load(const char *prog, enum tt_config_scope scope)
{
    const char *only = getenv("TOKENTAP_CONFIG");
    char user[PATH_MAX];
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    int n = 0;

    if (only && *only)
        return load_file(prog, only, scope, true);
    if (xdg && *xdg)
        snprintf(user, sizeof(user), "%s/tokentap/config", xdg);
    else if (home && *home)
        snprintf(user, sizeof(user), "%s/.config/tokentap/config", home);
    else
        user[0] = '\0';
    if (user[0])
        n += load_file(prog, user, scope, false);
    n += load_file(prog, "/etc/tokentap.conf", scope, false);
    return n;
}

void tt_config_scrub_secrets(void)
{
    for (size_t i = 0; i < config_nset; i++) {
        const char *k = config_set[i];
        /* TOKENTAP_ itself is not a token: look past the first letter. */
        if (strstr(k, "PASSWORD") || strstr(k, "SECRET") || strstr(k, "HEADERS") ||
            strstr(k + 1, "_TOKEN"))
            unsetenv(k);
    }
}
