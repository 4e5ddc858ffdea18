/* rt.h - the preload's runtime: configuration, the per-thread guard,
 * fork detection, logging, identity of the traced process.
 *
 * Nothing here runs before the first LLM-looking connection except the
 * constructor, which only reads TOKENTAP_DISABLE (DESIGN.md: cost zero for
 * processes that never talk to an LLM). */
#ifndef TT_RT_H
#define TT_RT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "redact.h"
#include "tt.h"

struct tt_rt_config {
    bool disabled;
    size_t max_body;                /* TOKENTAP_MAX_BODY, bytes per body */
    char socket_path[108];          /* TOKENTAP_SOCKET or default */
    char spool_dir[4096];           /* TOKENTAP_SPOOL or default */
    char trace_id[33];              /* from TRACEPARENT, else per process */
    char parent_id[17];             /* from TRACEPARENT, else "" */
    char *session_id;               /* TOKENTAP_SESSION_ID */
    char *tags;                     /* TOKENTAP_TAGS as a JSON object */
    char *metadata;                 /* TOKENTAP_METADATA, a JSON object (compact) */
    char *exe;                      /* /proc/self/exe */
    double sample_rate;             /* TOKENTAP_SAMPLE_RATE, 0..1 */
    struct tt_redact redact;        /* TOKENTAP_REDACT[_FILE] */
};

/* Filled by tt_rt_init(); read-only afterwards. */
TT_EXPORT extern struct tt_rt_config tt_rt;

/* Global kill switch, set by the constructor (TOKENTAP_DISABLE) or after an
 * internal failure that must stop tokentap for the whole process. */
TT_EXPORT extern volatile int tt_rt_off;

/* Per-thread depth: >0 while tokentap code or libcurl runs on this thread,
 * so hooks reached from inside stand down. initial-exec TLS (no malloc).
 * The hook object uses it by a hidden name: a reference to an exported
 * TLS symbol is a symbol lookup for the loader at every exec (~450
 * instructions, bench fig 4); the core, loaded later, by the exported
 * alias tt_rt_depth_shared (rt.c), the same variable. */
#ifdef TT_HOOK_OBJECT
extern __thread int tt_rt_depth
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
/* Non-zero while the real SSL_write/SSL_write_ex runs on this thread: the
 * write(2) calls OpenSSL's socket BIO makes then are TLS records, never
 * the program's output, and the output barrier (hooks/libc.c) skips its
 * fstat for them. */
extern __thread unsigned char tt_hk_in_tls_write
    __attribute__((tls_model("initial-exec"), visibility("hidden")));
#else
#define tt_rt_depth tt_rt_depth_shared
extern __thread int tt_rt_depth
    __attribute__((tls_model("initial-exec"), visibility("default")));
#endif

/* Initialise everything once (thread-safe). Returns false when tokentap
 * is disabled for this process. Also handles fork: a child re-initialises
 * its per-process state the first time it gets here. */
bool tt_rt_ready(void);

/* Hook entry/exit. tt_rt_enter() returns false (and the hook must only
 * call the real function) when disabled or already inside tokentap. */
static inline bool tt_rt_enter(void)
{
    if (tt_rt_off || tt_rt_depth > 0)
        return false;
    tt_rt_depth++;
    return true;
}
static inline void tt_rt_leave(void)
{
    tt_rt_depth--;
}

/* Fork generation: bumped in the child by the atfork handler. Modules that
 * keep per-process state (sockets, queues) compare it to their own copy. */
TT_EXPORT extern volatile unsigned tt_rt_fork_gen;

/* Spans of finished calls not yet handed to the daemon or the spool:
 * queued for the capture core's worker, or encoded and waiting in its
 * outbox (defer.h, deliver.h). When non-zero the write hooks make them
 * leave before the program's next output, and _exit and exec before the
 * process goes. Written by the core, read by the hooks. */
TT_EXPORT extern volatile int tt_rt_spans_owed;

/* Fork handlers of one module (all optional). A module that keeps a lock
 * or per-process state registers them itself, before its lock is first
 * taken; rt.c runs every registered set from its single pthread_atfork
 * handler: prepare in reverse order of registration, parent and child in
 * order, the child's after rt's own (its lock, tt_rt_fork_gen++). A child
 * handler runs while the child has one thread: reset locks, forget state;
 * no allocation, no I/O (do that on the next use, seeing tt_rt_fork_gen). */
struct tt_atfork {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
    int first;              /* prepare before every module without it */
    int on;                 /* registered: set by tt_atfork_register */
};

TT_EXPORT void tt_atfork_register_slow(struct tt_atfork *h);

/* Register h (a static object of the module) once; cheap afterwards. */
static inline void tt_atfork_register(struct tt_atfork *h)
{
    if (!__atomic_load_n(&h->on, __ATOMIC_ACQUIRE))
        tt_atfork_register_slow(h);
}

/* Install the one pthread_atfork handler (once), so tt_rt_fork_gen moves
 * in every child from now on even before any module registered. */
TT_EXPORT void tt_rt_fork_watch(void);

/* This process's id without a getpid(2) each time (a system call costs
 * ~1 µs on a VM with page-table isolation; a span took three): asked
 * again once tt_rt_fork_gen moved, i.e. in a fork child. A vfork child
 * runs no atfork handler and sees its parent's id until it execs: code
 * that must tell the two apart (defer.c's queue) calls getpid(). */
TT_EXPORT int tt_rt_pid(void);

/* This object's link map, as glibc's loader keeps it in GOT[1] for lazy
 * binding (x86-64 psABI; glibc's elf_machine_runtime_setup), found
 * without a libc call; NULL when that is not it (LD_BIND_NOW, another
 * loader such as musl's). Its presence also says the constructors were
 * called glibc's way, with (argc, argv, envp). */
struct link_map;
const struct link_map *tt_rt_self_map(void);

/* The program's environ now, found by name on the first call (dlsym): the
 * hook object does not refer to environ, which the loader would look up
 * at every exec (bench fig 4: ~670 instructions). NULL without a libc. */
char **tt_rt_environ(void);

/* One line to stderr, "tokentap: ...", unless TOKENTAP_LOG=off. */
TT_EXPORT void tt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Whether this call is traced under TOKENTAP_SAMPLE_RATE (a fresh random
 * draw per call; always true at rate 1). */
bool tt_rt_sampled(void);

/* TOKENTAP_ONLY_CMDS / TOKENTAP_SKIP_CMDS: comma-separated fnmatch(3)
 * patterns matched against the program's names (names[0..n): the
 * executable's basename, argv[0]'s basename and, for an interpreter, the
 * script's basename). True when the program is to be traced. */
TT_EXPORT bool tt_rt_cmd_allowed(const char *only, const char *skip,
                       const char *const *names, size_t n);

/* Is the program (a basename) an interpreter whose first non-option
 * argument is the script that names it (python3 agent.py, bash run.sh)? */
TT_EXPORT bool tt_rt_is_interpreter(const char *name);

/* TOKENTAP_METADATA: a JSON object, returned as compact JSON text
 * (malloc'd), NULL (with one log line) when it is not one. */
char *tt_rt_metadata_json(const char *env);

/* Does any pattern of list (comma-separated fnmatch(3) globs, spaces
 * around them ignored) match any of names[0..n) (NULL entries skipped)? */
TT_EXPORT bool tt_rt_glob_list_match(const char *list, const char *const *names, size_t n);

/* Parse TOKENTAP_SAMPLE_RATE: a number in [0, 1]. false if invalid. */
bool tt_rt_parse_rate(const char *v, double *out);

/* TOKENTAP_GATEWAY=127.0.0.1:PORT: the run's gateway (tokentap gateway),
 * which reports the calls made through it itself. A connection to it is
 * never captured here, so no call is counted twice. The port, 0 when
 * there is none (read once). */
TT_EXPORT unsigned tt_rt_gateway_port(void);
/* Whether a host[:port] (a Host header, a URL's authority) is the
 * gateway: a loopback name or address with the gateway's port. */
TT_EXPORT bool tt_rt_is_gateway_host(const char *host, size_t len);

/* tt_traceparent_parse (span.h), the one parser, as a bool (rt_init.c:
 * the capture core's, like span.c). */
bool tt_rt_parse_traceparent(const char *tp, char *trace, char *parent);

#endif
