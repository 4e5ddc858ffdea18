/* cli_util.c - the CLI's pure helpers: trace context, environment, paths,
 * store rows, formatting (see cli.h). Nothing here forks, connects or
 * looks at a terminal, so all of it is unit-tested. */
#include "cli.h"
#include "exchange.h"
#include "redact.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <dirent.h>
#include <sys/wait.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

/* ---------------------------------------------------------------- trace */

int tt_cli_traceparent_parse(const char *v, char *trace_id, char *parent_id)
{
    return tt_traceparent_parse(v, trace_id, parent_id);
}

/* ---------------------------------------------------------- environment */

static bool is_tokentap_lib(const char *p, size_t n, const char *lib)
{
    static const char base[] = "libtokentap.so";
    size_t bl = sizeof(base) - 1;

    if (strlen(lib) == n && memcmp(p, lib, n) == 0)
        return true;
    /* Another copy of the preload (an installed one, say) would trace
     * every call twice: keep only ours. */
    return n >= bl && memcmp(p + n - bl, base, bl) == 0 &&
           (n == bl || p[n - bl - 1] == '/');
}

char *tt_cli_ld_preload(const char *lib, const char *existing)
{
    struct tt_buf b;

    tt_buf_init(&b, 64 * 1024);
    if (tt_buf_append_str(&b, lib) != TT_OK)
        goto fail;
    for (const char *p = existing; p && *p;) {
        size_t n = strcspn(p, " :");
        if (n > 0 && !is_tokentap_lib(p, n, lib)) {
            if (tt_buf_append(&b, ":", 1) != TT_OK ||
                tt_buf_append(&b, p, n) != TT_OK)
                goto fail;
        }
        p += n;
        p += strspn(p, " :");
    }
    return tt_buf_steal(&b);
fail:
    tt_buf_free(&b);
    return NULL;
}

char **tt_cli_env_dup(char *const *environ_in)
{
    size_t n = 0;

    while (environ_in && environ_in[n])
        n++;
    char **e = calloc(n + 1, sizeof(*e));
    if (!e)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        e[i] = strdup(environ_in[i]);
        if (!e[i]) {
            tt_cli_env_free(e);
            return NULL;
        }
    }
    return e;
}

void tt_cli_env_free(char **envp)
{
    if (!envp)
        return;
    for (size_t i = 0; envp[i]; i++)
        free(envp[i]);
    free(envp);
}

int tt_cli_env_set(char ***envp, const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value), n = 0;
    char *kv = malloc(nl + vl + 2);

    if (!kv)
        return TT_ERR_NOMEM;
    memcpy(kv, name, nl);
    kv[nl] = '=';
    memcpy(kv + nl + 1, value, vl + 1);
    for (char **e = *envp; e && *e; e++, n++) {
        if (strncmp(*e, name, nl) == 0 && (*e)[nl] == '=') {
            free(*e);
            *e = kv;
            return TT_OK;
        }
    }
    char **ne = realloc(*envp, (n + 2) * sizeof(*ne));
    if (!ne) {
        free(kv);
        return TT_ERR_NOMEM;
    }
    ne[n] = kv;
    ne[n + 1] = NULL;
    *envp = ne;
    return TT_OK;
}

/* ---------------------------------------------------------------- paths */

int tt_cli_abs_path(const char *path, char *buf, size_t n)
{
    char dir[PATH_MAX], real[PATH_MAX];
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;

    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return TT_ERR_PARSE;   /* a directory, not a file */
    if (!slash) {
        dir[0] = '.';
        dir[1] = '\0';
    } else if (slash == path) {
        dir[0] = '/';
        dir[1] = '\0';
    } else {
        size_t dl = (size_t)(slash - path);
        if (dl >= sizeof(dir))
            return TT_ERR_CAP;
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    }
    if (!realpath(dir, real))
        return TT_ERR_IO;
    int w = snprintf(buf, n, "%s%s%s", real,
                     strcmp(real, "/") == 0 ? "" : "/", base);
    return w < 0 || (size_t)w >= n ? TT_ERR_CAP : TT_OK;
}

int tt_cli_db_path(const char *opt, char *buf, size_t n)
{
    char tmp[PATH_MAX];
    const char *env = getenv("TOKENTAP_DB");
    int rc;

    if (opt && *opt)
        return tt_cli_abs_path(opt, buf, n);
    if (env && *env)
        return tt_cli_abs_path(env, buf, n);
    rc = tt_store_default_path(tmp, sizeof(tmp));
    if (rc != TT_OK)
        return rc;
    return tt_cli_abs_path(tmp, buf, n);
}

/* ----------------------------------------------------------- store rows */

/* ----------------------------------------------------------- formatting */

void tt_cli_fmt_cost(char *buf, size_t n, double cost, int64_t calls,
                     int64_t unknown)
{
    if (calls > 0 && unknown >= calls)
        snprintf(buf, n, "?");
    else
        snprintf(buf, n, "$%.6f%s", cost, unknown > 0 ? "+?" : "");
}

#define PLURAL(n) ((n) == 1 ? "" : "s")

int tt_cli_fmt_summary(const struct tt_cli_group *g, size_t n,
                       const char *trace_id, bool colour, struct tt_buf *out)
{
    struct tt_cli_group tot = { .key = "total" };
    char cost[48];
    int w = 5;   /* strlen("model") */
    const char *bold = colour ? "\033[1m" : "";
    const char *dim = colour ? "\033[2m" : "";
    const char *red = colour ? "\033[31m" : "";
    const char *off = colour ? "\033[0m" : "";
    int rc = TT_OK;

    for (size_t i = 0; i < n; i++) {
        tt_cli_group_add(&tot, &g[i]);
        int kl = (int)strnlen(g[i].key, 40);
        if (kl > w)
            w = kl;
    }
    if (tot.calls == 0)
        return tt_buf_appendf(out, "%stokentap:%s no LLM calls (trace %s)\n",
                       bold, off, trace_id);

    tt_cli_fmt_cost(cost, sizeof(cost), tot.cost, tot.calls, tot.unknown);
    rc |= tt_buf_appendf(out, "%stokentap: %lld LLM call%s, %zu model%s, %s",
                  bold, (long long)tot.calls, PLURAL(tot.calls), n,
                  PLURAL(n), cost);
    if (tot.errors)
        rc |= tt_buf_appendf(out, ", %s%lld error%s%s%s", red, (long long)tot.errors,
                      PLURAL(tot.errors), off, bold);
    rc |= tt_buf_appendf(out, " (trace %s)%s\n", trace_id, off);

    rc |= tt_buf_appendf(out, "%s  %-*s %6s %10s %10s %10s %12s%s\n", dim, w, "model",
                  "calls", "input", "output", "cached", "cost", off);
    for (size_t i = 0; i <= n; i++) {
        const struct tt_cli_group *r = i < n ? &g[i] : &tot;
        /* The total row only earns its place under several models. */
        if (i == n && n < 2)
            break;
        tt_cli_fmt_cost(cost, sizeof(cost), r->cost, r->calls, r->unknown);
        rc |= tt_buf_appendf(out, "%s  %-*.*s %6lld %10lld %10lld %10lld %12s%s\n",
                      i == n ? bold : "", w, 40, r->key, (long long)r->calls,
                      (long long)r->input, (long long)r->output,
                      (long long)r->cache_read, cost, i == n ? off : "");
    }
    if (tot.unknown)
        rc |= tt_buf_appendf(out, "  ? cost unknown for %lld call%s (model not in the "
                      "price table, or no usage reported); totals exclude %s\n",
                      (long long)tot.unknown, PLURAL(tot.unknown),
                      tot.unknown == 1 ? "it" : "them");
    if (tot.errors)
        rc |= tt_buf_appendf(out, "  %s%lld call%s failed%s: tokentap show %s\n", red,
                      (long long)tot.errors, PLURAL(tot.errors), off, trace_id);
    return rc ? TT_ERR_NOMEM : TT_OK;
}

void tt_cli_fmt_time(char *buf, size_t n, int64_t ns, bool iso)
{
    time_t t = (time_t)(ns / 1000000000LL);
    struct tm tm;
    char z[8];

    if (!localtime_r(&t, &tm)) {
        snprintf(buf, n, "?");
        return;
    }
    if (!iso) {
        if (strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm) == 0 && n)
            buf[0] = '\0';
        return;
    }
    /* strftime's %z is "+0100"; RFC 3339 wants "+01:00". */
    if (strftime(z, sizeof(z), "%z", &tm) != 5) {
        z[0] = '\0';
    }
    char base[32];
    if (strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        base[0] = '\0';
    if (z[0])
        snprintf(buf, n, "%s%.3s:%.2s", base, z, z + 3);
    else
        snprintf(buf, n, "%sZ", base);
}

static bool shell_safe(const char *a)
{
    if (!*a)
        return false;
    for (; *a; a++) {
        char c = *a;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c)))
            return false;
    }
    return true;
}

/* Secrets on a command line (curl -H 'authorization: Bearer ...',
 * --api-key K, OPENAI_API_KEY=..., ?key=...) must not reach the store with
 * the recorded command. Header names and flags that carry secrets: */
/* A header is secret when its name contains one of these (any case):
 * authorization, x-api-key, x-goog-api-key, x-amz-security-token,
 * cookie, x-ms-client-secret... A list of names would miss the next one. */
static const char *const secret_header_words[] = {
    "auth", "key", "token", "secret", "cookie", "signature", "credential",
    "password", "session",
};
static const char *const secret_flags[] = {
    "--api-key", "--api_key", "--token", "--key", "--password", "-u",
    "--user", "--oauth2-bearer", "--cookie", "--proxy-user", "--pass",
    "--proxy-pass",
};
/* Short flags that carry a secret in some programs (curl -b name=value,
 * -U user:pass) and mean something else in others: their value is redacted
 * when it looks like a credential (has '=' or ':'). */
static const char *const secret_short_flags[] = { "-b", "-U" };
static const char *const secret_words[] = {
    "key=", "api_key=", "apikey=", "token=", "access_token=", "secret=",
    "password=", "sig=", "signature=",
};
static const char *const secret_prefixes[] = { "sk-", "AIza", "xai-", "gsk_" };

#define REDACTED "[redacted]"

/* A copy of arg with the value of every secret query parameter of a URL
 * in it replaced by REDACTED -- by the rule the preload applies to the
 * span's path (tt_redact_secret_param) -- or NULL when there is none (or on
 * OOM: *oom). A value already REDACTED is left alone. */
static char *redact_query(const char *arg, bool *oom)
{
    struct tt_buf b;
    const char *url = strstr(arg, "://");
    const char *q = url ? strchr(url, '?') : NULL;
    bool any = false;

    *oom = false;
    if (!q)
        return NULL;
    tt_buf_init(&b, strlen(arg) + 64 * sizeof(REDACTED));
    if (tt_buf_append(&b, arg, (size_t)(q - arg) + 1))
        goto fail;
    const char *p = q + 1;
    size_t qlen = strcspn(p, "# '\"");
    const char *end = p + qlen;
    while (p < end) {
        size_t len = strcspn(p, "&;# '\"");
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        const char *eq = memchr(p, '=', len);
        const char *val = eq ? eq + 1 : p;
        size_t vlen = len - (size_t)(val - p);
        bool done = vlen == strlen(REDACTED) && !strncmp(val, REDACTED, vlen);
        if (len && !done && tt_redact_secret_param(p, len)) {
            if (tt_buf_append(&b, p, (size_t)(val - p)) ||
                tt_buf_append_str(&b, REDACTED))
                goto fail;
            any = true;
        } else if (tt_buf_append(&b, p, len)) {
            goto fail;
        }
        p += len;
        if (p < end && tt_buf_append(&b, p++, 1))   /* the separator */
            goto fail;
    }
    if (!any) {
        tt_buf_free(&b);
        return NULL;
    }
    if (tt_buf_append_str(&b, end))
        goto fail;
    return tt_buf_steal(&b);
fail:
    tt_buf_free(&b);
    *oom = true;
    return NULL;
}

/* A copy of arg with the userinfo of every URL in it ("scheme://user:pass@")
 * replaced by REDACTED, or NULL when there is none (or on OOM: *oom). */
static char *strip_userinfo(const char *arg, bool *oom)
{
    struct tt_buf b;
    const char *p = arg, *done = arg;
    bool any = false;

    *oom = false;
    tt_buf_init(&b, strlen(arg) + 64 * sizeof(REDACTED));
    while ((p = strstr(p, "://")) != NULL) {
        const char *auth = p + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = NULL;
        for (size_t i = alen; i > 0; i--)
            if (auth[i - 1] == '@') {
                at = auth + i - 1;
                break;
            }
        p = auth;
        if (!at || ((size_t)(at - auth) == strlen(REDACTED) &&
                    !strncmp(auth, REDACTED, strlen(REDACTED))))
            continue;
        if (tt_buf_append(&b, done, (size_t)(auth - done)) ||
            tt_buf_append_str(&b, REDACTED))
            goto fail;
        done = at;      /* from the '@' on */
        any = true;
    }
    if (!any) {
        tt_buf_free(&b);
        return NULL;
    }
    if (tt_buf_append_str(&b, done))
        goto fail;
    return tt_buf_steal(&b);
fail:
    tt_buf_free(&b);
    *oom = true;
    return NULL;
}

/* Whether word occurs in p[0..n), ignoring case. */
static bool memmem_ci(const char *p, size_t n, const char *word)
{
    size_t wl = strlen(word);

    for (size_t i = 0; i + wl <= n; i++)
        if (!strncasecmp(p + i, word, wl))
            return true;
    return false;
}

/* Returns a newly allocated copy of arg with secrets replaced; prev is the
 * argument before it (flags such as --api-key make the whole next one a
 * secret). NULL on OOM. */
char *tt_cli_redact_arg(const char *prev, const char *arg)
{
    struct tt_buf b;
    const char *p = arg;
    size_t n = strlen(arg);

    tt_buf_init(&b, n + 64 * sizeof(REDACTED));
    for (size_t i = 0; prev && i < sizeof(secret_flags) / sizeof(*secret_flags); i++)
        if (!strcmp(prev, secret_flags[i]))
            return strdup(REDACTED);
    for (size_t i = 0; prev && i < sizeof(secret_short_flags) / sizeof(*secret_short_flags); i++)
        if (!strcmp(prev, secret_short_flags[i]) && strpbrk(arg, "=:"))
            return strdup(REDACTED);
    /* URLs with credentials: https://user:pass@host/ */
    bool oom;
    char *u = strip_userinfo(arg, &oom);
    if (oom)
        return NULL;
    if (u) {
        char *r = tt_cli_redact_arg(NULL, u);
        free(u);
        return r;
    }
    /* ...and secret query parameters (api%5Fkey=, X-Goog-Signature=...) */
    u = redact_query(arg, &oom);
    if (oom)
        return NULL;
    if (u) {
        char *r = tt_cli_redact_arg(NULL, u);
        free(u);
        return r;
    }
    /* "Name: value" header arguments. */
    const char *colon = strchr(arg, ':');
    if (colon && colon > arg && !memchr(arg, ' ', (size_t)(colon - arg)) &&
        !memchr(arg, '/', (size_t)(colon - arg))) {
        size_t nl = (size_t)(colon - arg);
        for (size_t i = 0; i < sizeof(secret_header_words) / sizeof(*secret_header_words); i++)
            if (memmem_ci(arg, nl, secret_header_words[i])) {
                if (tt_buf_append(&b, arg, nl + 1) ||
                    tt_buf_append_str(&b, " " REDACTED))
                    goto fail;
                return tt_buf_steal(&b);
            }
    }
    /* NAME_KEY=value / NAME_TOKEN=value / NAME_SECRET=value assignments. */
    const char *eq = strchr(arg, '=');
    if (eq && eq > arg && !memchr(arg, ' ', (size_t)(eq - arg))) {
        size_t nl = (size_t)(eq - arg);
        if ((nl >= 4 && !strncasecmp(eq - 4, "_KEY", 4)) ||
            (nl >= 6 && !strncasecmp(eq - 6, "_TOKEN", 6)) ||
            (nl >= 7 && !strncasecmp(eq - 7, "_SECRET", 7))) {
            if (tt_buf_append(&b, arg, nl + 1) || tt_buf_append_str(&b, REDACTED))
                goto fail;
            return tt_buf_steal(&b);
        }
    }
    /* Anywhere inside: query parameters and key-shaped words. */
    while (*p) {
        size_t skip = 0;
        bool at_word = p == arg || strchr("?&;, '\"=/", p[-1]);
        for (size_t i = 0; at_word && !skip &&
                           i < sizeof(secret_words) / sizeof(*secret_words); i++) {
            size_t wl = strlen(secret_words[i]);
            if (!strncasecmp(p, secret_words[i], wl)) {
                if (tt_buf_append(&b, p, wl) || tt_buf_append_str(&b, REDACTED))
                    goto fail;
                skip = wl;
            }
        }
        for (size_t i = 0; at_word && !skip &&
                           i < sizeof(secret_prefixes) / sizeof(*secret_prefixes); i++) {
            size_t pl = strlen(secret_prefixes[i]);
            if (!strncmp(p, secret_prefixes[i], pl) &&
                strspn(p + pl, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "0123456789-_") >= 8) {
                if (tt_buf_append_str(&b, REDACTED))
                    goto fail;
                skip = pl;
            }
        }
        if (skip) {
            /* Drop the value: up to the next separator. */
            p += skip;
            p += strcspn(p, "&; '\",");
            continue;
        }
        if (tt_buf_append(&b, p, 1))
            goto fail;
        p++;
    }
    if (!b.data)
        return strdup("");
    return tt_buf_steal(&b);
fail:
    tt_buf_free(&b);
    return NULL;
}

char *tt_cli_join_argv(int argc, char *const *argv)
{
    struct tt_buf b;
    int rc = TT_OK;

    tt_buf_init(&b, 1024 * 1024);
    for (int i = 0; i < argc && rc == TT_OK; i++) {
        char *arg = tt_cli_redact_arg(i ? argv[i - 1] : NULL, argv[i]);
        if (!arg) {
            rc = TT_ERR_NOMEM;
            break;
        }
        if (i > 0)
            rc = tt_buf_append(&b, " ", 1);
        if (rc != TT_OK) {
            free(arg);
            break;
        }
        if (shell_safe(arg)) {
            rc = tt_buf_append_str(&b, arg);
            free(arg);
            continue;
        }
        rc = tt_buf_append(&b, "'", 1);
        for (const char *p = arg; *p && rc == TT_OK; p++)
            rc = *p == '\'' ? tt_buf_append_str(&b, "'\\''")
                            : tt_buf_append(&b, p, 1);
        if (rc == TT_OK)
            rc = tt_buf_append(&b, "'", 1);
        free(arg);
    }
    /* An over-long command line is recorded cut rather than not at all. */
    if (rc != TT_OK && rc != TT_ERR_CAP) {
        tt_buf_free(&b);
        return NULL;
    }
    if (!b.data)
        return strdup("");
    return tt_buf_steal(&b);
}

/* ------------------------------------------------------------ spool */

int tt_cli_ingest_spool(const char *db)
{
    char spool[PATH_MAX], self[PATH_MAX], daemon[PATH_MAX + 16];
    bool any = false;

    if (tt_wire_spool_dir(spool, sizeof(spool)) != TT_OK)
        return TT_OK;
    DIR *d = opendir(spool);
    if (!d)
        return TT_OK;               /* nothing was ever spooled */
    struct dirent *e;
    while (!any && (e = readdir(d))) {
        size_t n = strlen(e->d_name);
        any = n > 6 && !strcmp(e->d_name + n - 6, ".spool");
    }
    closedir(d);
    if (!any)
        return TT_OK;
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return TT_ERR_IO;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    snprintf(daemon, sizeof(daemon), "%s/tokentapd", self);
    /* The daemon's own spool reader, run once: one implementation of the
     * spool format, and the store keeps a single writer at a time. */
    pid_t pid = fork();
    if (pid < 0)
        return TT_ERR_IO;
    if (pid == 0) {
        execl(daemon, "tokentapd", "--ingest-spool", "--db", db, "--spool",
              spool, (char *)NULL);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return TT_ERR_IO;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? TT_OK : TT_ERR_IO;
}

int tt_cli_find_helper(const char *name, char *buf, size_t n)
{
    static const char *const dirs[] = { "", "/../libexec/tokentap" };
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);

    if (len <= 0)
        return TT_ERR_IO;
    self[len] = '\0';
    char *slash = strrchr(self, '/');
    if (slash)
        *slash = '\0';
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        int w = snprintf(buf, n, "%s%s/%s", self, dirs[i], name);
        if (w > 0 && (size_t)w < n && access(buf, X_OK) == 0)
            return TT_OK;
    }
    return TT_ERR_IO;
}

