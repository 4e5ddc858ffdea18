/* exec.c - `tokentap run --gateway auto`: a program the hooks cannot reach
 * is pointed at the run's gateway when it is started.
 *
 * execve/execv/execvp/execvpe/posix_spawn/posix_spawnp: when the
 * environment the new program gets says TOKENTAP_GATEWAY_MODE=auto and
 * names a gateway (TOKENTAP_GATEWAY), the executable is judged
 * (preload/elfcheck.h: static, or its own TLS with no hookable symbol as
 * in a Bun executable; verdicts cached by device/inode/mtime), and such a
 * program gets the base-URL variables pointing at the gateway. A variable
 * the user had set to their own base URL before the run is replaced too
 * (the gateway forwards to that URL: TOKENTAP_GW_ORIG_<NAME> holds it);
 * one set to something else since is left alone.
 *
 * Every other exec pays one getenv-style scan of its envp. Nothing is
 * allocated with malloc: this may run in a fork child of a threaded
 * program; the new environment lives in an mmap'd block that the exec
 * replaces (or that is unmapped when the exec fails). In a vfork child
 * (CPython's subprocess) that block is mapped in the parent's memory and
 * stays there after a successful exec: a few KiB per program pointed at
 * the gateway, none for the others. */
#include "defer.h"
#include "elfcheck.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>


#define GW_ENV_MAX 8
#define GW_ENV_LEN 256

static const char *env_get(char *const envp[], const char *name)
{
    size_t nl = strlen(name);

    for (char *const *e = envp; e && *e; e++)
        if (!strncmp(*e, name, nl) && (*e)[nl] == '=')
            return *e + nl + 1;
    return NULL;
}

struct gw_env {
    void *blk;
    size_t len;
    char **envp;
};

static void gw_env_free(struct gw_env *g)
{
    if (g->blk)
        munmap(g->blk, g->len);
    g->blk = NULL;
}

/* Whether the base-URL variable name may be pointed at the gateway on
 * port: unset, the user's value from before the run, or already ours. */
static bool may_replace(char *const envp[], const char *name, unsigned port)
{
    const char *cur = env_get(envp, name);
    char orig_name[96], ours[32];

    if (!cur || !*cur)
        return true;
    snprintf(orig_name, sizeof(orig_name), "TOKENTAP_GW_ORIG_%s", name);
    const char *orig = env_get(envp, orig_name);
    snprintf(ours, sizeof(ours), "127.0.0.1:%u", port);
    return (orig && !strcmp(orig, cur)) || strstr(cur, ours) != NULL;
}

/* --gateway auto starts the run's gateway on first need: ask tokentap run
 * over its control socket (TOKENTAP_GATEWAY_CTL, cli_gateway.c) and wait
 * until it listens. Raw system calls: no hook of ours (connect, close) is
 * involved, nothing is allocated (a vfork child may be here), the socket
 * is ours from creation to close. No control socket named (--gateway on,
 * or an older tokentap run): the gateway already runs. */
#define GW_CTL_WAIT_MS 10000

static bool gw_ready(char *const envp[])
{
    const char *ctl = env_get(envp, "TOKENTAP_GATEWAY_CTL");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char ans[4];
    size_t got = 0;
    bool ok = false;

    if (!ctl || !*ctl)
        return true;
    if (strlen(ctl) >= sizeof(sa.sun_path))
        return false;
    memcpy(sa.sun_path, ctl, strlen(ctl) + 1);
    long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    if (syscall(SYS_connect, fd, &sa, (socklen_t)sizeof(sa)) != 0)
        goto out;
    while (got < 3) {
        struct pollfd p = { .fd = (int)fd, .events = POLLIN };
        long pr = syscall(SYS_poll, &p, 1, GW_CTL_WAIT_MS);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            goto out;
        long r = syscall(SYS_read, fd, ans + got, 3 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    ok = !memcmp(ans, "ok\n", 3);
out:
    syscall(SYS_close, fd);
    return ok;
}

/* The environment path should run with, or NULL: unchanged. */
static char **gw_envp(const char *path, char *const envp[], struct gw_env *g)
{
    char home[4096], cache[4096 + 16], why[128];
    const char *mode = env_get(envp, "TOKENTAP_GATEWAY_MODE");
    const char *gw = env_get(envp, "TOKENTAP_GATEWAY");

    g->blk = NULL;
    if (!mode || strcmp(mode, "auto") || !gw || !path || tt_rt_off)
        return NULL;
    const char *colon = strrchr(gw, ':');
    unsigned port = 0;
    for (const char *p = colon ? colon + 1 : ""; *p >= '0' && *p <= '9'; p++)
        port = port * 10 + (unsigned)(*p - '0');
    if (!port || port > 65535)
        return NULL;
    bool have_cache = tt_wire_home_dir(home, sizeof(home)) == TT_OK &&
                      snprintf(cache, sizeof(cache), "%s/execcache", home) < (int)sizeof(cache);
    enum tt_elf_verdict v = tt_elf_judge_cached(path, have_cache ? cache : NULL,
                                                why, sizeof(why));
    if (!tt_elf_needs_gateway(v) || !gw_ready(envp))
        return NULL;
    size_t n = 0;
    while (envp && envp[n])
        n++;
    g->len = (n + GW_ENV_MAX + 1) * sizeof(char *) + GW_ENV_MAX * GW_ENV_LEN;
    g->blk = mmap(NULL, g->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (g->blk == MAP_FAILED) {
        g->blk = NULL;
        return NULL;
    }
    char **ne = g->blk;
    char *strs = (char *)g->blk + (n + GW_ENV_MAX + 1) * sizeof(char *);
    size_t k = 0;
    bool replace[GW_ENV_MAX] = { false };
    for (size_t i = 0; i < GW_ENV_MAX && tt_gw_base_var(i); i++)
        replace[i] = may_replace(envp, tt_gw_base_var(i), port);
    for (size_t j = 0; j < n; j++) {
        bool drop = false;
        for (size_t i = 0; i < GW_ENV_MAX && tt_gw_base_var(i); i++) {
            size_t vl = strlen(tt_gw_base_var(i));
            if (replace[i] && !strncmp(envp[j], tt_gw_base_var(i), vl) && envp[j][vl] == '=')
                drop = true;
        }
        if (!drop)
            ne[k++] = envp[j];
    }
    for (size_t i = 0; i < GW_ENV_MAX && tt_gw_base_var(i); i++) {
        char *s = strs + i * GW_ENV_LEN;
        if (replace[i] && tt_gw_base_env(i, port, s, GW_ENV_LEN))
            ne[k++] = s;
    }
    ne[k] = NULL;
    g->envp = ne;
    return ne;
}

static int (*real_execve)(const char *, char *const[], char *const[]);
static int (*real_execvpe)(const char *, char *const[], char *const[]);
static int (*real_fexecve)(int, char *const[], char *const[]);
static int (*real_execveat)(int, const char *, char *const[], char *const[], int);
static int (*real_posix_spawn)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                               const posix_spawnattr_t *, char *const[], char *const[]);
static int (*real_posix_spawnp)(pid_t *, const char *, const posix_spawn_file_actions_t *,
                                const posix_spawnattr_t *, char *const[], char *const[]);

#define REAL(slot, name)                                                      \
    ({                                                                        \
        __typeof__(slot) f_ = __atomic_load_n(&(slot), __ATOMIC_ACQUIRE);     \
        if (!f_) {                                                            \
            f_ = (__typeof__(slot))dlsym(RTLD_NEXT, name);                    \
            if (f_)                                                           \
                __atomic_store_n(&(slot), f_, __ATOMIC_RELEASE);              \
        }                                                                     \
        f_;                                                                   \
    })

/* path as execvp would find file, for judging; NULL when not found. */
static const char *which(const char *file, char *buf, size_t n)
{
    return tt_elf_which(file, getenv("PATH"), buf, n) ? buf : NULL;
}

/* Spans still owed (defer.h) leave now: before exec replaces the image,
 * before _exit ends the process. */
static void drain_spans(void)
{
    int saved = errno;

    if (__atomic_load_n(&tt_rt_spans_owed, __ATOMIC_RELAXED) > 0 && tt_rt_enter()) {
        tt_defer_drain();
        tt_rt_leave();
    }
    errno = saved;
}

/* _exit and _Exit: what exit's handlers would have drained (deliver.c),
 * then what glibc's _exit does, the exit_group system call (no dlsym: a
 * fork child of a threaded program may not take the loader's lock). */
TT_EXPORT void _exit(int status)
{
    drain_spans();
    for (;;)
        syscall(SYS_exit_group, status);
}

TT_EXPORT void _Exit(int status)
{
    drain_spans();
    for (;;)
        syscall(SYS_exit_group, status);
}

TT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    int (*f)(const char *, char *const[], char *const[]) = REAL(real_execve, "execve");
    struct gw_env g;
    int saved = errno;

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    drain_spans();
    char **ne = gw_envp(path, envp, &g);
    errno = saved;
    int rc = f(path, argv, ne ? ne : envp);
    saved = errno;
    gw_env_free(&g);
    errno = saved;
    return rc;
}

TT_EXPORT int execv(const char *path, char *const argv[])
{
    return execve(path, argv, tt_rt_environ());
}

TT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    int (*f)(const char *, char *const[], char *const[]) = REAL(real_execvpe, "execvpe");
    struct gw_env g;
    char buf[4096];
    int saved = errno;

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    drain_spans();
    char **ne = gw_envp(which(file, buf, sizeof(buf)), envp, &g);
    errno = saved;
    int rc = f(file, argv, ne ? ne : envp);
    saved = errno;
    gw_env_free(&g);
    errno = saved;
    return rc;
}

TT_EXPORT int execvp(const char *file, char *const argv[])
{
    return execvpe(file, argv, tt_rt_environ());
}

TT_EXPORT int posix_spawn(pid_t *pid, const char *path,
                          const posix_spawn_file_actions_t *fa,
                          const posix_spawnattr_t *attr, char *const argv[],
                          char *const envp[])
{
    __typeof__(real_posix_spawn) f = REAL(real_posix_spawn, "posix_spawn");
    struct gw_env g;

    if (!f)
        return ENOSYS;
    char **ne = gw_envp(path, envp, &g);
    int rc = f(pid, path, fa, attr, argv, ne ? ne : envp);
    gw_env_free(&g);
    return rc;
}

TT_EXPORT int posix_spawnp(pid_t *pid, const char *file,
                           const posix_spawn_file_actions_t *fa,
                           const posix_spawnattr_t *attr, char *const argv[],
                           char *const envp[])
{
    __typeof__(real_posix_spawnp) f = REAL(real_posix_spawnp, "posix_spawnp");
    struct gw_env g;
    char buf[4096];

    if (!f)
        return ENOSYS;
    char **ne = gw_envp(which(file, buf, sizeof(buf)), envp, &g);
    int rc = f(pid, file, fa, attr, argv, ne ? ne : envp);
    gw_env_free(&g);
    return rc;
}

/* execl, execlp, execle: glibc builds the argument array and calls its
 * internal execve/execvpe, which no interposer sees; so they are hooked
 * here, the array built on the stack as glibc does (no malloc), and sent
 * through the hooks above. */
#define ARGS_MAX 65536

/* How many arguments from arg (included; libc declares it non-null, as
 * glibc's own execl* count it) to the NULL that ends them. */
#define COUNT_ARGS(arg, ap, n)                                                \
    do {                                                                      \
        va_list cp_;                                                          \
        va_copy(cp_, ap);                                                     \
        for ((n) = 1; (n) < ARGS_MAX && va_arg(cp_, char *); (n)++)           \
            ;                                                                 \
        va_end(cp_);                                                          \
    } while (0)

/* argv[0..n] from arg and ap (the NULL included, consumed from ap). */
#define FILL_ARGS(argv, arg, ap, n)                                           \
    do {                                                                      \
        (argv)[0] = (char *)(arg);                                            \
        for (size_t i_ = 1; i_ <= (n); i_++)                                  \
            (argv)[i_] = va_arg(ap, char *);                                  \
    } while (0)

TT_EXPORT int execl(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg);
    COUNT_ARGS(arg, ap, n);
    if (n >= ARGS_MAX) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    FILL_ARGS(argv, arg, ap, n);
    va_end(ap);
    return execve(path, argv, tt_rt_environ());
}

TT_EXPORT int execlp(const char *file, const char *arg, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg);
    COUNT_ARGS(arg, ap, n);
    if (n >= ARGS_MAX) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    FILL_ARGS(argv, arg, ap, n);
    va_end(ap);
    return execvpe(file, argv, tt_rt_environ());
}

TT_EXPORT int execle(const char *path, const char *arg, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, arg);
    COUNT_ARGS(arg, ap, n);
    if (n >= ARGS_MAX) {
        va_end(ap);
        errno = E2BIG;
        return -1;
    }
    char *argv[n + 1];
    FILL_ARGS(argv, arg, ap, n);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

/* fexecve and execveat: the executable is judged through /proc/self/fd
 * (glibc's fexecve runs execveat(AT_EMPTY_PATH) itself, unseen). */
static const char *fd_path(int dirfd, const char *path, char *buf, size_t n)
{
    int w;

    if (path && path[0] == '/')
        return path;
    if (path && path[0] && dirfd == AT_FDCWD)
        return path;
    if (!path || !path[0])          /* AT_EMPTY_PATH: the descriptor itself */
        w = snprintf(buf, n, "/proc/self/fd/%d", dirfd);
    else
        w = snprintf(buf, n, "/proc/self/fd/%d/%s", dirfd, path);
    return w > 0 && (size_t)w < n ? buf : NULL;
}

TT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    int (*f)(int, char *const[], char *const[]) = REAL(real_fexecve, "fexecve");
    struct gw_env g;
    char buf[64];
    int saved = errno;

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    drain_spans();
    char **ne = gw_envp(fd_path(fd, "", buf, sizeof(buf)), envp, &g);
    errno = saved;
    int rc = f(fd, argv, ne ? ne : envp);
    saved = errno;
    gw_env_free(&g);
    errno = saved;
    return rc;
}

TT_EXPORT int execveat(int dirfd, const char *path, char *const argv[],
                       char *const envp[], int flags)
{
    int (*f)(int, const char *, char *const[], char *const[], int) =
        REAL(real_execveat, "execveat");
    struct gw_env g;
    char buf[4096 + 64];
    int saved = errno;

    if (!f) {
        errno = ENOSYS;
        return -1;
    }
    drain_spans();
    char **ne = gw_envp(fd_path(dirfd, path, buf, sizeof(buf)), envp, &g);
    errno = saved;
    int rc = f(dirfd, path, argv, ne ? ne : envp, flags);
    saved = errno;
    gw_env_free(&g);
    errno = saved;
    return rc;
}
