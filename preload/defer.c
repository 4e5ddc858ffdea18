/* defer.c - the worker that runs queued span work (see defer.h).
 *
 * Two locks: q_lock guards the queue (held for a push or a pop, never
 * while an op runs); run_lock is held by whoever runs ops, so one op runs
 * at a time, in queue order, and fork (prepare: run_lock first of all
 * modules' locks) never splits an op. */
#include "defer.h"
#include "rt.h"
#include "settings.h"
#include "tt.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t run_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;

static struct {
    struct tt_defer_op *head, *tail;
    size_t bytes;
    int pid;                /* the process the queue belongs to, 0 unset */
    unsigned ends;          /* queued ops that end a span */
    int64_t end_due;        /* when the first of them may run (tt_now_ns) */
    int live;               /* answers under way (tt_defer_live) */
    bool ticking;           /* the worker's sleep is a tick, not idle */
    bool end_wait;          /* ... or lasts until end_due */
    bool running;           /* a worker thread exists */
    bool waiting;           /* it sleeps on q_cond */
    bool failed;            /* could not start one: run inline from now */
    int on;                 /* -1: not decided yet */
} q = { .on = -1 };

static int defer_decide(void)
{
#ifdef TT_PRELOAD
    const char *v = tt_settings()->worker;
    const char *rec = tt_settings()->record;
    /* A recording writes its cassette as the call goes: a file the
     * program's thread must write (deliver.h), so it stays inline. */
    if (rec && *rec)
        return 0;
    return v && tt_settings_false(v) ? 0 : 1;
#else
    return 0;
#endif
}

bool tt_defer_on(void)
{
    int on = __atomic_load_n(&q.on, __ATOMIC_ACQUIRE);

    if (on < 0) {
        on = defer_decide();
        __atomic_store_n(&q.on, on, __ATOMIC_RELEASE);
    }
    return on > 0;
}

/* Pop one op, NULL when empty. Called with run_lock held. */
static struct tt_defer_op *pop(void)
{
    pthread_mutex_lock(&q_lock);
    struct tt_defer_op *op = q.head;
    if (op) {
        q.head = op->next;
        if (!q.head)
            q.tail = NULL;
        __atomic_sub_fetch(&q.bytes, op->bytes, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&q_lock);
    return op;
}

/* Run one op (run_lock held); the pending-ends count drops after it ran,
 * i.e. after its span was handed to delivery. */
static void run_one(struct tt_defer_op *op)
{
    bool end = op->end;

    op->run(op);
    if (end) {
        __atomic_sub_fetch(&q.ends, 1, __ATOMIC_RELEASE);
        __atomic_sub_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    }
}

/* Set on the thread that holds run_lock; is_worker on the worker. */
static __thread int executing __attribute__((tls_model("initial-exec")));
static __thread int is_worker __attribute__((tls_model("initial-exec")));

bool tt_defer_is_worker(void)
{
    return is_worker;
}

enum run_until { RUN_ALL, RUN_ENDS, RUN_HALF };

/* Run ops until the queue is empty (RUN_ALL), no queued op ends a span
 * (RUN_ENDS) or it holds at most half its byte bound (RUN_HALF). */
static void run_queue(enum run_until until)
{
    struct tt_defer_op *op;

    /* Only this process's queue: a vfork child shares the parent's memory
     * (and its worker) until it execs or leaves, and must not run it. */
    if (executing || __atomic_load_n(&q.pid, __ATOMIC_ACQUIRE) != (int)getpid())
        return;
    /* Nothing to wait for: no end queued and no span owed (the worker may
     * hold frames, deliver.c, or be sending them under run_lock: then the
     * lock below waits for that). */
    if (until == RUN_ENDS && !__atomic_load_n(&q.ends, __ATOMIC_ACQUIRE) &&
        __atomic_load_n(&tt_rt_spans_owed, __ATOMIC_ACQUIRE) <= 0)
        return;
    tt_rt_depth++;
    pthread_mutex_lock(&run_lock);
    executing = 1;
    for (;;) {
        if (until == RUN_ENDS && !__atomic_load_n(&q.ends, __ATOMIC_ACQUIRE))
            break;
        if (until == RUN_HALF &&
            __atomic_load_n(&q.bytes, __ATOMIC_ACQUIRE) <= TT_DEFER_MAX_BYTES / 2)
            break;
        if (!(op = pop()))
            break;
        run_one(op);
    }
    executing = 0;
    pthread_mutex_unlock(&run_lock);
    tt_rt_depth--;
}

static unsigned (*idle_fn)(void);

void tt_defer_set_idle(unsigned (*fn)(void))
{
    __atomic_store_n(&idle_fn, fn, __ATOMIC_RELEASE);
}

/* q_lock held: nanoseconds until the worker may run what is queued, 0
 * now. A queued end waits TT_DEFER_END_MS from its push (defer.h) unless
 * TT_DEFER_WAKE_BYTES are queued. */
static int64_t end_wait_locked(void)
{
    if (!__atomic_load_n(&q.ends, __ATOMIC_ACQUIRE) ||
        __atomic_load_n(&q.bytes, __ATOMIC_ACQUIRE) >= TT_DEFER_WAKE_BYTES)
        return 0;
    int64_t left = q.end_due - tt_now_ns();
    return left > 0 ? left : 0;
}

static void *worker_main(void *arg)
{
    (void)arg;
    tt_rt_depth = 1;     /* guard raised for good: no hook acts here */
    is_worker = 1;

    (void)pthread_setname_np(pthread_self(), "tokentap");
    unsigned empty_ticks = 0;   /* ticks in a row that found nothing */

    pthread_mutex_lock(&q_lock);
    for (;;) {
        for (;;) {
            int64_t end_wait = q.head ? end_wait_locked() : 0;
            if (q.head && !end_wait)
                break;
            /* An answer under way: back in a tick, for what it queues;
             * one that has sent nothing for TT_DEFER_TICK_IDLE ticks (a
             * stream the program stopped reading) stops the ticks until
             * the worker is woken again. A queued end not due yet: back
             * when it is (whatever is queued waits with it, in order). */
            unsigned (*idle)(void) = __atomic_load_n(&idle_fn, __ATOMIC_ACQUIRE);
            unsigned hold = 0;
            if (idle && !q.head) {
                /* Under run_lock, as an op: a drain (exit, _exit, exec)
                 * waits for what it has in hand. Not under q_lock: it
                 * takes deliver.c's locks, which program threads hold
                 * while they queue ops. */
                pthread_mutex_unlock(&q_lock);
                pthread_mutex_lock(&run_lock);
                executing = 1;
                hold = idle();
                executing = 0;
                pthread_mutex_unlock(&run_lock);
                pthread_mutex_lock(&q_lock);
                if (q.head)
                    continue;
            }
            bool live = q.live > 0 && empty_ticks < TT_DEFER_TICK_IDLE;
            int64_t ns = (int64_t)(live ? TT_DEFER_TICK_MS : TT_DEFER_IDLE_MS) * 1000000LL;
            if (hold && (int64_t)hold * 1000000LL < ns)
                ns = (int64_t)hold * 1000000LL;
            if (end_wait) {
                ns = end_wait;  /* no tick: what is queued waits for it */
                live = false;
            }
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += (time_t)(ns / 1000000000LL);
            until.tv_nsec += (long)(ns % 1000000000LL);
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            q.waiting = true;
            q.ticking = live;
            q.end_wait = end_wait != 0;
            int rc = pthread_cond_timedwait(&q_cond, &q_lock, &until);
            q.waiting = q.ticking = q.end_wait = false;
            if (live && !q.head)
                empty_ticks++;
            if (rc == ETIMEDOUT && !q.head && !live && !hold) {
                /* Idle: leave, a later push starts another. */
                q.running = false;
                pthread_mutex_unlock(&q_lock);
                return NULL;
            }
        }
        empty_ticks = 0;
        pthread_mutex_unlock(&q_lock);
        /* run_lock per op: a program thread at a barrier, or fork, gets
         * in between two ops of a long stream. */
        for (;;) {
            pthread_mutex_lock(&run_lock);
            executing = 1;
            struct tt_defer_op *op = pop();
            if (op)
                run_one(op);
            executing = 0;
            pthread_mutex_unlock(&run_lock);
            if (!op)
                break;
        }
        pthread_mutex_lock(&q_lock);
    }
}

/* Start the worker (q_lock held). Every signal blocked while it is
 * created, so it starts with them all blocked and never takes one of the
 * program's; detached, named "tokentap" in /proc. */
static bool start_worker(void)
{
    pthread_attr_t attr;
    pthread_t t;
    sigset_t all, old;
    int rc;

    if (pthread_attr_init(&attr))
        return false;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256u << 10);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&t, &attr, worker_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    return rc == 0;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&run_lock);
    pthread_mutex_lock(&q_lock);
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&q_lock);
    pthread_mutex_unlock(&run_lock);
}

/* The child: the queue is the parent's (its worker delivers it); the ops
 * are leaked, not freed (they may hold what the parent's other threads
 * were using). No worker here until the child queues its own work. */
static void fork_child(void)
{
    pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;

    /* Both locks are held by this thread (prepare took them), so they
     * are released, not re-initialised (what a lock held by a thread the
     * child does not have needs: TSan, make test-tsan, tells the two
     * apart). The condition variable had only the parent's worker
     * waiting on it. */
    q_cond = fresh_cond;
    pthread_mutex_unlock(&q_lock);
    pthread_mutex_unlock(&run_lock);
    q.head = q.tail = NULL;
    q.bytes = 0;
    q.pid = 0;
    q.ends = 0;
    q.live = 0;
    q.running = q.waiting = q.ticking = q.end_wait = false;
    __atomic_store_n(&tt_rt_spans_owed, 0, __ATOMIC_RELEASE);
}

static struct tt_atfork defer_fork = {
    .prepare = fork_prepare, .parent = fork_parent, .child = fork_child,
    .first = 1,
};

/* At exit, what is queued leaves (deliver.c's exit handler drains first
 * when it is registered; this one covers a process whose first span is
 * still queued at exit, before delivery ever ran). */
static void defer_atexit(void)
{
    tt_defer_drain();
}

void tt_defer_push(struct tt_defer_op *op)
{
    static bool registered;
    enum run_until inline_run = RUN_ALL;
    bool help = false;

    op->next = NULL;
    if (executing) {
        /* Pushed from inside an op (never done; the order would be
         * broken by queuing behind later ops): run it now. */
        op->run(op);
        return;
    }
    tt_atfork_register(&defer_fork);
    if (!__atomic_exchange_n(&registered, true, __ATOMIC_ACQ_REL))
        atexit(defer_atexit);
    pthread_mutex_lock(&q_lock);
    if (!q.pid)
        __atomic_store_n(&q.pid, (int)getpid(), __ATOMIC_RELEASE);
    if (q.tail)
        q.tail->next = op;
    else
        q.head = op;
    q.tail = op;
    __atomic_add_fetch(&q.bytes, op->bytes, __ATOMIC_RELEASE);
    if (op->end) {
        /* The first end queued (run_one counts ends down without q_lock:
         * one that just ran may leave an older due time, which only runs
         * this end sooner). */
        if (!__atomic_load_n(&q.ends, __ATOMIC_ACQUIRE))
            q.end_due = tt_now_ns() + TT_DEFER_END_MS * 1000000LL;
        __atomic_add_fetch(&q.ends, 1, __ATOMIC_RELEASE);
        __atomic_add_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    }
    if (q.failed) {
        help = true;
    } else if (q.bytes > TT_DEFER_MAX_BYTES) {
        /* The worker is behind: this thread takes the queue down to half
         * the bound (wakes the worker too, if it sleeps). */
        help = true;
        inline_run = RUN_HALF;
        if (q.waiting)
            pthread_cond_signal(&q_cond);
    } else if (!q.running) {
        if (start_worker()) {
            q.running = true;
        } else {
            q.failed = true;
            help = true;
            tt_log("could not start the worker thread: span work runs on "
                   "the program's threads");
        }
    } else if (q.waiting && (q.bytes >= TT_DEFER_WAKE_BYTES ||
                             (op->end && !q.ticking && !q.end_wait))) {
        /* Woken for a chunk of bytes, or from its idle sleep for a span
         * to finish (then it sleeps until that end is due): not for each
         * op (a wake-up costs the program's thread a system call, and the
         * machine a cross-CPU interrupt). A ticking worker sees the end
         * at its next tick; ops that wait are run with the next end, or
         * when the worker's idle wait times out. */
        pthread_cond_signal(&q_cond);
    }
    pthread_mutex_unlock(&q_lock);
    if (help)
        run_queue(inline_run);
}

void tt_defer_live(int delta)
{
    if (__atomic_load_n(&q.on, __ATOMIC_ACQUIRE) <= 0)
        return;
    pthread_mutex_lock(&q_lock);
    /* Never below 0: a fork child starts at 0 and may free exchanges it
     * inherited from its parent. */
    q.live = q.live + delta < 0 ? 0 : q.live + delta;
    /* The first stream while the worker sleeps its long sleep: once, so
     * that it ticks from now on (it reads live when it goes to sleep). */
    if (delta > 0 && q.live == 1 && q.waiting && !q.ticking && !q.end_wait)
        pthread_cond_signal(&q_cond);
    pthread_mutex_unlock(&q_lock);
}

static void (*after_fn)(void);

void tt_defer_set_after(void (*fn)(void))
{
    __atomic_store_n(&after_fn, fn, __ATOMIC_RELEASE);
}

static void after(void)
{
    void (*fn)(void) = __atomic_load_n(&after_fn, __ATOMIC_ACQUIRE);

    if (fn)
        fn();
}

void tt_defer_drain(void)
{
    if (__atomic_load_n(&q.on, __ATOMIC_ACQUIRE) <= 0 || is_worker)
        return;
    run_queue(RUN_ALL);
    after();
}

void tt_defer_barrier(void)
{
    if (__atomic_load_n(&q.on, __ATOMIC_ACQUIRE) <= 0 || is_worker)
        return;
    run_queue(RUN_ENDS);
    after();
}


void tt_defer_set(bool on)
{
    if (!on)
        tt_defer_drain();
    __atomic_store_n(&q.on, on ? 1 : 0, __ATOMIC_RELEASE);
}
