/* rt.c - the hook layer's runtime: the kill switch and per-thread guard,
 * logging, the fork handler registry, TOKENTAP_GATEWAY. In the object every
 * process loads (libtokentap.so); the capture's own set-up (tt_rt_ready)
 * is rt_init.c, in the capture core. */
#include "rt.h"
#include "settings.h"

#include <dlfcn.h>
#include <fnmatch.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tt_rt_config tt_rt;
/* The flags every hook reads, in .data: in the page the loader has already
 * written (Makefile, settings.c), not in a .bss page of their own whose
 * first read would be a page fault in every process (the inline-hook
 * constructor reads tt_rt_off). */
#define TT_RT_HOT __attribute__((section(".data.tt_rt_hot")))
volatile int tt_rt_off TT_RT_HOT;
volatile unsigned tt_rt_fork_gen TT_RT_HOT;
volatile int tt_rt_spans_owed TT_RT_HOT;
__thread int tt_rt_depth __attribute__((tls_model("initial-exec")));
#ifdef TT_HOOK_OBJECT
extern __thread int tt_rt_depth_shared
    __attribute__((alias("tt_rt_depth"), visibility("default")));
#endif


extern ElfW(Addr) _GLOBAL_OFFSET_TABLE_[] __attribute__((visibility("hidden")));
extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

const struct link_map *tt_rt_self_map(void)
{
    const struct link_map *l = (const struct link_map *)_GLOBAL_OFFSET_TABLE_[1];

    return l && l->l_ld == _DYNAMIC ? l : NULL;
}

char **tt_rt_environ(void)
{
    static char **volatile *slot;       /* racing first calls agree */

    if (!slot)
        slot = dlsym(RTLD_DEFAULT, "environ");
    return slot ? *slot : NULL;
}

/* The constructor only reads the environment (settings.c: one pass, every
 * variable tokentap uses, no allocation): no thread, socket or file, so
 * processes that never talk to an LLM pay nothing more. It runs before the
 * preload's other constructors (hooks/ssl.c's inline setup, which may log
 * why it left a program alone). The environment is the envp glibc's loader
 * passes every constructor: the hook object links no libc (Makefile), so
 * nothing but the loader's habit would put libc's constructor, which sets
 * environ, before this one, and a reference to environ would cost a symbol
 * lookup at every exec. Another loader (musl calls constructors without
 * arguments) or LD_BIND_NOW: environ by name. */
__attribute__((constructor(101))) static void rt_ctor(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)argv;
    tt_settings_load_env(tt_rt_self_map() ? envp : tt_rt_environ());
    if (tt_settings()->off)
        tt_rt_off = 1;
}

void tt_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    /* The settings' flag, not a copy the constructor would write: one
     * page of this object's .bss fewer touched by every process. */
    if (!tt_settings()->log)
        return;
    n = snprintf(line, sizeof(line), "tokentap[%d]: ", (int)getpid());
    if (n < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    line[len++] = '\n';
    /* One write: lines from several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

bool tt_rt_glob_list_match(const char *list, const char *const *names, size_t n)
{
    char pat[256];

    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') {
            p++;
            len--;
        }
        while (len && p[len - 1] == ' ')
            len--;
        if (len && len < sizeof(pat)) {
            memcpy(pat, p, len);
            pat[len] = '\0';
            for (size_t i = 0; i < n; i++)
                if (names[i] && fnmatch(pat, names[i], 0) == 0)
                    return true;
        }
        p = end ? end + 1 : NULL;
    }
    return false;
}

bool tt_rt_cmd_allowed(const char *only, const char *skip,
                       const char *const *names, size_t n)
{
    if (only && *only && !tt_rt_glob_list_match(only, names, n))
        return false;
    if (skip && *skip && tt_rt_glob_list_match(skip, names, n))
        return false;
    return true;
}

/* Is the program an interpreter whose first non-option argument is the
 * script that names it (python3 agent.py, node app.js, bash run.sh)? */
bool tt_rt_is_interpreter(const char *name)
{
    /* Arrays, not pointers: no relocation for the loader at every exec. */
    static const char pats[][8] = {
        "python*", "pypy*", "node", "nodejs", "bun", "deno", "ruby*", "perl*",
        "php*", "sh", "bash", "dash", "zsh", "ksh", "fish", "Rscript", "java",
    };

    for (size_t i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
        if (fnmatch(pats[i], name, 0) == 0)
            return true;
    return false;
}

/* --- fork: one handler, modules register theirs ------------------------
 *
 * One pthread_atfork registration for the whole preload. Each module that
 * keeps a lock or per-process state registers its own handlers (struct
 * tt_atfork, before its lock is first taken); rt.c knows none of them. The
 * prepare handlers run in reverse order of registration, parent and child
 * handlers in order, as pthread_atfork(3) does for separate registrations.
 * The child handlers run first thing in the child, while it has one
 * thread: they only reset locks and forget state (no allocation, no I/O);
 * anything heavier waits for the module's next use, which sees the new
 * tt_rt_fork_gen. */
#define RT_ATFORK_MAX 16

static struct tt_atfork *rt_forks[RT_ATFORK_MAX];
static unsigned rt_nforks;
static pthread_mutex_t rt_fork_lock = PTHREAD_MUTEX_INITIALIZER;

static void rt_fork_prepare(void)
{
    unsigned n = __atomic_load_n(&rt_nforks, __ATOMIC_ACQUIRE);

    /* The `first` ones before all others (defer.c: its worker may be
     * inside any other module's lock while it runs an op; holding the
     * worker between ops first, the others' locks are free to take). */
    for (unsigned pass = 0; pass < 2; pass++)
        for (unsigned i = n; i-- > 0;)
            if (rt_forks[i]->prepare && (rt_forks[i]->first ? 0u : 1u) == pass)
                rt_forks[i]->prepare();
}

static void rt_fork_parent(void)
{
    unsigned n = __atomic_load_n(&rt_nforks, __ATOMIC_ACQUIRE);

    for (unsigned i = 0; i < n; i++)
        if (rt_forks[i]->parent)
            rt_forks[i]->parent();
}

static void rt_fork_child(void)
{
    /* Only this thread survives; locks may be held by threads that no
     * longer exist. Reset ours, then bump the generation the modules
     * compare against, then their own handlers. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    unsigned n = __atomic_load_n(&rt_nforks, __ATOMIC_ACQUIRE);

    rt_fork_lock = fresh;
    tt_rt_fork_gen++;
    for (unsigned i = 0; i < n; i++)
        if (rt_forks[i]->child)
            rt_forks[i]->child();
}

static pthread_once_t rt_fork_once = PTHREAD_ONCE_INIT;

static void rt_fork_install(void)
{
    pthread_atfork(rt_fork_prepare, rt_fork_parent, rt_fork_child);
}

void tt_rt_fork_watch(void)
{
    pthread_once(&rt_fork_once, rt_fork_install);
}

/* (fork generation << 32) | pid, 0 before the first call. */
static uint64_t rt_pid_word;

int tt_rt_pid(void)
{
    uint64_t w = __atomic_load_n(&rt_pid_word, __ATOMIC_ACQUIRE);
    unsigned gen = tt_rt_fork_gen;

    if (w && (unsigned)(w >> 32) == gen)
        return (int)(uint32_t)w;
    /* The handler first: a fork after this must move the generation. */
    tt_rt_fork_watch();
    gen = tt_rt_fork_gen;
    int pid = (int)getpid();
    __atomic_store_n(&rt_pid_word, ((uint64_t)gen << 32) | (uint32_t)pid, __ATOMIC_RELEASE);
    return pid;
}

void tt_atfork_register_slow(struct tt_atfork *h)
{
    tt_rt_fork_watch();
    pthread_mutex_lock(&rt_fork_lock);
    if (!h->on) {
        unsigned n = rt_nforks;
        if (n < RT_ATFORK_MAX) {
            rt_forks[n] = h;
            __atomic_store_n(&rt_nforks, n + 1, __ATOMIC_RELEASE);
        } else {
            tt_log("internal: more than %d fork handlers", RT_ATFORK_MAX);
        }
        __atomic_store_n(&h->on, 1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&rt_fork_lock);
}

/* 0 unknown yet, else port + 1 (1: no gateway). Racing first readers
 * compute the same value. */
static unsigned rt_gw_port;

unsigned tt_rt_gateway_port(void)
{
    unsigned v = __atomic_load_n(&rt_gw_port, __ATOMIC_RELAXED);

    if (v == 0) {
        const char *e = tt_settings()->gateway;
        const char *colon = e ? strrchr(e, ':') : NULL;
        unsigned long p = colon ? strtoul(colon + 1, NULL, 10) : 0;
        v = (p > 0 && p < 65536 ? (unsigned)p : 0) + 1;
        __atomic_store_n(&rt_gw_port, v, __ATOMIC_RELAXED);
    }
    return v - 1;
}

bool tt_rt_is_gateway_host(const char *host, size_t len)
{
    unsigned port = tt_rt_gateway_port();
    char want[8];

    if (!port || !host)
        return false;
    int n = snprintf(want, sizeof(want), ":%u", port);
    if (n <= 0 || len <= (size_t)n || memcmp(host + len - (size_t)n, want, (size_t)n))
        return false;
    len -= (size_t)n;
    return (len >= 4 && !memcmp(host, "127.", 4)) || tt_tok_ieq(host, len, "localhost") ||
           tt_tok_ieq(host, len, "[::1]");
}
