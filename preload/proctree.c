/* proctree.c - process spans (see proctree.h). */
#include "proctree.h"
#include "settings.h"
#include "ownfd.h"
#include "emit.h"
#include "rt.h"
#include "span.h"
#include "tt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct proc_info {
    int64_t pid, ppid;
    uint64_t start_ticks;
    char id[17];
};

static pthread_mutex_t proc_lock = PTHREAD_MUTEX_INITIALIZER;

/* Fork child: reset the lock; the new process sends its own tree. */
static void proc_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    proc_lock = fresh;
}

static struct tt_atfork proc_fork = { .child = proc_atfork_child };

/* Every taker of proc_lock: the fork handler exists before the lock is
 * first held. */
static void proc_lock_take(void)
{
    tt_atfork_register(&proc_fork);
    pthread_mutex_lock(&proc_lock);
}

static struct {
    int64_t pid;                  /* the process this state is for */
    bool ok;                      /* self id known, tree emitted */
    bool failed;
    char id[17];
    char parent[17];
    struct proc_info chain[TT_PROC_MAX_DEPTH];   /* [0] this process */
    size_t n;
    bool tree_taken;              /* its spans handed to the emit stage */
} proc;

void tt_proc_span_id(const char *trace_id, int64_t pid, uint64_t start_ticks,
                     char *out)
{
    char p[24], t[24];
    const char *parts[4] = { trace_id, "process", p, t };

    snprintf(p, sizeof(p), "%" PRId64, pid);
    snprintf(t, sizeof(t), "%" PRIu64, start_ticks);
    tt_span_hash_id(out, parts, 4);
}

/* Read a small /proc file whole (NUL-terminated); bytes read or -1. */
static ssize_t read_small(const char *path, char *buf, size_t n)
{
    return tt_ownfd_read_file(path, buf, n);
}

/* ppid and starttime (fields 4 and 22) of /proc/<pid>/stat. */
static bool read_stat(int64_t pid, struct proc_info *pi)
{
    char path[64], buf[1024];
    char *p;

    snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
    if (read_small(path, buf, sizeof(buf)) <= 0 || !(p = strrchr(buf, ')')))
        return false;
    p++;                          /* after comm: " state ppid ..." = field 3 */
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ')
            p++;
        if (!*p)
            return false;
        if (field == 4)
            pi->ppid = strtoll(p, NULL, 10);
        if (field == 22)
            pi->start_ticks = strtoull(p, NULL, 10);
        while (*p && *p != ' ')
            p++;
    }
    pi->pid = pid;
    return true;
}

/* The wall-clock time of boot, in ns, to the nanosecond of the clocks:
 * realtime now minus the time since boot (CLOCK_BOOTTIME, the clock
 * /proc/<pid>/stat start times count in). /proc/stat's btime is whole
 * seconds, which put a child's start up to 1 s before its parent's. */
static int64_t boot_ns(void)
{
    struct timespec rt, bt;

    if (clock_gettime(CLOCK_REALTIME, &rt) != 0 || clock_gettime(CLOCK_BOOTTIME, &bt) != 0)
        return 0;
    return ((int64_t)rt.tv_sec - (int64_t)bt.tv_sec) * 1000000000LL +
           ((int64_t)rt.tv_nsec - (int64_t)bt.tv_nsec);
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
}

/* "process <argv0> [<script>]" and the executable of pid. */
static void describe(int64_t pid, struct tt_span *s)
{
    char path[64], exe[PATH_MAX], cmd[4096], name[600];
    ssize_t n, len;
    const char *script = NULL, *argv0 = NULL;

    snprintf(path, sizeof(path), "/proc/%" PRId64 "/exe", pid);
    n = readlink(path, exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        if (tt_span_set(&s->exe, exe) != TT_OK)
            return;
    }
    snprintf(path, sizeof(path), "/proc/%" PRId64 "/cmdline", pid);
    len = read_small(path, cmd, sizeof(cmd));
    if (len > 0 && cmd[0]) {
        argv0 = base_name(cmd);
        if (tt_rt_is_interpreter(argv0) || (n > 0 && tt_rt_is_interpreter(base_name(exe))))
            for (size_t off = strlen(cmd) + 1; off < (size_t)len; off += strlen(cmd + off) + 1) {
                if (cmd[off] != '-') {
                    script = base_name(cmd + off);
                    break;
                }
                if (!strcmp(cmd + off, "-c") || !strcmp(cmd + off, "-m"))
                    break;
            }
    } else if (n > 0) {
        argv0 = base_name(exe);
    }
    snprintf(name, sizeof(name), "process %.256s%s%.256s", argv0 ? argv0 : "?",
             script ? " " : "", script ? script : "");
    if (tt_span_set(&s->name, name) != TT_OK)
        tt_log("out of memory while naming a process span");
}

/* The process span of pi (parent id given) in *s (initialised here; the
 * caller clears it). */
static void build(struct tt_span *s, const char *trace, const struct proc_info *pi,
                  const char *parent, int64_t btime, int64_t now)
{
    long tck = sysconf(_SC_CLK_TCK);

    tt_span_init(s);
    if (tt_span_set(&s->kind, "process") != TT_OK) {
        tt_log("out of memory while building a process span");
        return;
    }
    memcpy(s->trace_id, trace, sizeof(s->trace_id));
    memcpy(s->span_id, pi->id, sizeof(s->span_id));
    snprintf(s->parent_id, sizeof(s->parent_id), "%s", parent);
    s->pid = pi->pid;
    s->start_time = btime + (int64_t)(pi->start_ticks * (1000000000ULL / (uint64_t)(tck > 0 ? tck : 100)));
    s->end_time = now > s->start_time ? now : s->start_time;
    describe(pi->pid, s);
    if (tt_span_set(&s->session_id, tt_rt.session_id) ||
        tt_span_set(&s->tags, tt_rt.tags) || tt_span_set(&s->metadata, tt_rt.metadata))
        tt_log("out of memory while building a process span");
}

/* Walk up from process pid: chain[0] is pid, chain[i + 1] its parent, up
 * to the run's command (see proctree.h); the count, 0 when /proc cannot
 * tell. */
static size_t walk(const char *trace, int64_t pid, struct proc_info *chain)
{
    size_t n = 0;
    int64_t run_pid = 0;
    const struct tt_settings *st = tt_settings();
    const char *v = st->run_pid;

    /* The gateway of a run is not in the command's tree: it knows the
     * command as "the child of the run" (TOKENTAP_RUN_PPID, the pid of
     * `tokentap run`). */
    const char *vp = st->run_ppid;
    int64_t run_ppid = vp && *vp ? strtoll(vp, NULL, 10) : 0;

    if (v && *v)
        run_pid = strtoll(v, NULL, 10);
    while (n < TT_PROC_MAX_DEPTH && pid > 1 && read_stat(pid, &chain[n])) {
        tt_proc_span_id(trace, pid, chain[n].start_ticks, chain[n].id);
        pid = chain[n++].ppid;
        /* No run: this process alone. The run's command: the top. */
        if (run_ppid > 0 ? chain[n - 1].ppid == run_ppid
                         : (run_pid <= 0 || chain[n - 1].pid == run_pid))
            break;
    }
    return n;
}

/* The spans of chain[0..n), the topmost first (the order they are sent
 * in), into out. */
static void build_chain(const char *trace, const struct proc_info *chain, size_t n,
                        struct tt_span *out)
{
    int64_t btime = boot_ns(), now = tt_now_ns();

    for (size_t i = n, k = 0; i-- > 0; k++)
        build(&out[k], trace, &chain[i], i + 1 < n ? chain[i + 1].id : tt_rt.parent_id,
              btime, now);
}

/* This process's state, for the process it is for (a fork child starts
 * afresh). Under proc_lock. */
static void self_walk(void)
{
    if (proc.pid != (int64_t)tt_rt_pid()) {
        memset(&proc, 0, sizeof(proc));
        proc.pid = (int64_t)tt_rt_pid();
    }
    if (proc.ok || proc.failed)
        return;
    proc.n = walk(tt_rt.trace_id, proc.pid, proc.chain);
    if (proc.n == 0) {
        proc.failed = true;
        return;
    }
    memcpy(proc.id, proc.chain[0].id, sizeof(proc.id));
    snprintf(proc.parent, sizeof(proc.parent), "%s",
             proc.n > 1 ? proc.chain[1].id : tt_rt.parent_id);
    proc.ok = true;
}

/* tt_proc_of's cache: the processes whose trees were emitted. A process
 * seen again after it fell out only has its tree emitted again (same ids,
 * same rows). */
#define PROC_OF_CACHE 64
static struct {
    int64_t pid;
    uint64_t start_ticks;
    char id[17];
    char trace[33];
} proc_of[PROC_OF_CACHE];
static unsigned proc_of_next;

bool tt_proc_of(const char *trace, int64_t pid, char *out)
{
    struct proc_info pi, chain[TT_PROC_MAX_DEPTH];
    struct tt_span tree[TT_PROC_MAX_DEPTH];
    size_t n = 0;
    bool ok = false;

    if (pid <= 0 || !read_stat(pid, &pi))
        return false;
    proc_lock_take();
    for (size_t i = 0; i < PROC_OF_CACHE; i++)
        if (proc_of[i].pid == pid && proc_of[i].start_ticks == pi.start_ticks &&
            !strcmp(proc_of[i].trace, trace)) {
            memcpy(out, proc_of[i].id, 17);
            ok = true;
            goto out;
        }
    if ((n = walk(trace, pid, chain)) > 0) {
        build_chain(trace, chain, n, tree);
        memcpy(out, chain[0].id, 17);
        unsigned k = proc_of_next++ % PROC_OF_CACHE;
        proc_of[k].pid = pid;
        proc_of[k].start_ticks = pi.start_ticks;
        memcpy(proc_of[k].id, out, 17);
        memcpy(proc_of[k].trace, trace, 33);
        ok = true;
    }
out:
    pthread_mutex_unlock(&proc_lock);
    /* Sent outside the lock, through the one tail every span takes. */
    for (size_t i = 0; i < n; i++) {
        tt_emit_process(&tree[i]);
        tt_span_clear(&tree[i]);
    }
    return ok;
}

bool tt_proc_self(char *out)
{
    bool ok;

    proc_lock_take();
    self_walk();
    ok = proc.ok;
    if (ok)
        memcpy(out, proc.id, sizeof(proc.id));
    pthread_mutex_unlock(&proc_lock);
    return ok;
}

size_t tt_proc_self_tree(struct tt_span *out, size_t max)
{
    size_t n = 0;

    proc_lock_take();
    self_walk();
    if (proc.ok && !proc.tree_taken && proc.n <= max) {
        proc.tree_taken = true;
        n = proc.n;
        build_chain(tt_rt.trace_id, proc.chain, n, out);
    }
    pthread_mutex_unlock(&proc_lock);
    return n;
}

bool tt_proc_self_final(struct tt_span *out)
{
    struct proc_info self = { 0 };
    bool ok = false;

    proc_lock_take();
    /* Inherited by fork children: only the process that sent its span
     * sends it again. */
    if (proc.ok && proc.tree_taken && proc.pid == (int64_t)tt_rt_pid() &&
        read_stat(proc.pid, &self)) {
        memcpy(self.id, proc.id, sizeof(self.id));
        build(out, tt_rt.trace_id, &self, proc.parent, boot_ns(), tt_now_ns());
        ok = true;
    }
    pthread_mutex_unlock(&proc_lock);
    return ok;
}
