/* test_defer.c - the capture worker's queue (preload/defer.h): order, who
 * runs what, the barrier, the drain, back-pressure, the owed count. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "defer.h"
#include "rt.h"

#define MAX_OPS 4096

static struct {
    pthread_mutex_t lock;
    int order[MAX_OPS];         /* op ids in the order they ran */
    pthread_t thread[MAX_OPS];  /* the thread that ran each */
    int n;
    volatile int release;       /* a blocking op waits for this */
    volatile int blocked;       /* set while a blocking op waits */
} rec = { .lock = PTHREAD_MUTEX_INITIALIZER };

struct op {
    struct tt_defer_op base;
    int id;
    int sleep_ms;               /* work that takes this long */
    bool block;                 /* wait for rec.release (max 2 s) */
    char pad[];
};

static void op_run(struct tt_defer_op *b)
{
    struct op *o = (struct op *)b;

    if (o->block) {
        rec.blocked = 1;
        for (int i = 0; i < 2000 && !rec.release; i++)
            usleep(1000);
        rec.blocked = 0;
    }
    if (o->sleep_ms)
        usleep((useconds_t)o->sleep_ms * 1000);
    pthread_mutex_lock(&rec.lock);
    rec.order[rec.n] = o->id;
    rec.thread[rec.n] = pthread_self();
    rec.n++;
    pthread_mutex_unlock(&rec.lock);
    free(o);
}

static struct op *op_new(int id, size_t extra, bool end)
{
    struct op *o = calloc(1, sizeof(*o) + extra);

    cr_assert_not_null(o);
    o->base.run = op_run;
    o->base.bytes = sizeof(*o) + extra;
    o->base.end = end;
    o->id = id;
    return o;
}

static void push(struct op *o)
{
    tt_rt_depth++;          /* as inside a hook */
    tt_defer_push(&o->base);
    tt_rt_depth--;
}

static int ran(void)
{
    pthread_mutex_lock(&rec.lock);
    int n = rec.n;
    pthread_mutex_unlock(&rec.lock);
    return n;
}

/* Push an op that holds the worker until rec.release (or 2 s), and wait
 * until the worker is in it. */
static void hold_worker(int id)
{
    struct op *b = op_new(id, 0, false);

    b->block = true;
    push(b);
    for (int i = 0; i < 200 && !rec.blocked; i++)
        usleep(1000);
    cr_assert(rec.blocked, "the worker never reached the blocking op");
}

static void setup(void)
{
    memset(rec.order, 0, sizeof(rec.order));
    rec.n = 0;
    rec.release = 0;
    rec.blocked = 0;
    tt_defer_set(true);
}

static void teardown(void)
{
    rec.release = 1;
    tt_defer_set(false);    /* drains */
}

TestSuite(defer, .init = setup, .fini = teardown);

Test(defer, ops_run_in_order_on_the_worker_then_drain_runs_the_rest)
{
    static const struct { int n; int sleep_ms; } cases[] = {
        { 1, 0 }, { 10, 0 }, { 200, 0 }, { 5, 2 },
    };
    int id = 0;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        int first = id;
        for (int i = 0; i < cases[c].n; i++) {
            struct op *o = op_new(id++, 0, i == cases[c].n - 1);
            o->sleep_ms = cases[c].sleep_ms;
            push(o);
        }
        tt_defer_drain();
        cr_assert_eq(ran(), id, "case %zu: every op ran after the drain", c);
        for (int i = first; i < id; i++)
            cr_assert_eq(rec.order[i], i, "case %zu: op %d ran in its place", c, i);
        cr_assert_eq(tt_rt_spans_owed, 0, "case %zu: nothing owed after the drain", c);
    }
}

Test(defer, an_op_runs_on_the_worker_without_a_drain)
{
    push(op_new(0, 0, true));
    for (int i = 0; i < 2000 && ran() == 0; i++)
        usleep(1000);
    cr_assert_eq(ran(), 1, "the worker did not run the op within 2 s");
    cr_assert(!pthread_equal(rec.thread[0], pthread_self()),
              "the op ran on the pushing thread");
    for (int i = 0; i < 2000 && tt_rt_spans_owed; i++)
        usleep(1000);
    cr_assert_eq(tt_rt_spans_owed, 0, "the end op ran, its span is still owed");
}

static int64_t now_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* A span's end waits TT_DEFER_END_MS from its push (the program's next
 * request goes first), then runs on the worker, whether the worker slept
 * its idle sleep or ticked for a live answer; an end queued while one
 * waits runs with it. */
Test(defer, an_end_runs_on_the_worker_its_delay_after_it_was_queued)
{
    static const struct { const char *name; bool live; int ends; } cases[] = {
        { "worker idle", false, 1 },
        { "worker ticking", true, 1 },
        { "two ends", false, 2 },
    };
    int id = 0;

    push(op_new(id++, 0, false));
    for (int i = 0; i < 2000 && ran() == 0; i++)
        usleep(1000);
    cr_assert_eq(ran(), 1, "the worker did not start");
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        usleep(30 * 1000);      /* asleep again */
        if (cases[c].live)
            tt_defer_live(1);
        int before = ran();
        int64_t t0 = now_ms();
        for (int e = 0; e < cases[c].ends; e++)
            push(op_new(id++, 0, true));
        while (ran() < before + cases[c].ends && now_ms() - t0 < 2000)
            usleep(200);
        int64_t took = now_ms() - t0;
        if (cases[c].live)
            tt_defer_live(-1);
        cr_assert_eq(ran(), before + cases[c].ends, "%s: the ends did not run within 2 s",
                     cases[c].name);
        cr_assert_geq(took, TT_DEFER_END_MS - 1, "%s: an end ran after %lld ms, before its "
                      "delay", cases[c].name, (long long)took);
        for (int e = 0; e < cases[c].ends; e++)
            cr_assert(!pthread_equal(rec.thread[before + e], pthread_self()),
                      "%s: an end ran on the pushing thread", cases[c].name);
        for (int i = 0; i < 2000 && tt_rt_spans_owed; i++)
            usleep(1000);
        cr_assert_eq(tt_rt_spans_owed, 0, "%s: a span still owed", cases[c].name);
    }
    for (int i = 0; i < id; i++)
        cr_assert_eq(rec.order[i], i);
}

/* A stream under way (tt_defer_live): the worker, asleep, comes back every
 * tick for what was queued, with no wake-up from the pushing thread and no
 * end queued: a stream's events are parsed as they arrive. */
Test(defer, a_live_answer_s_ops_run_as_they_come)
{
    push(op_new(0, 0, false));
    for (int i = 0; i < 2000 && ran() == 0; i++)
        usleep(1000);
    cr_assert_eq(ran(), 1, "the worker did not start");
    usleep(20 * 1000);          /* asleep again */
    tt_defer_live(1);
    for (int k = 1; k <= 5; k++) {
        push(op_new(k, 0, false));
        int i = 0;
        for (; i < 1000 && ran() < k + 1; i++)
            usleep(1000);
        cr_assert_eq(ran(), k + 1, "op %d of a live answer waited %d ms", k, i);
        cr_assert_eq(tt_rt_spans_owed, 0);
    }
    tt_defer_live(-1);
    for (int i = 0; i <= 5; i++)
        cr_assert_eq(rec.order[i], i);
}

Test(defer, barrier_returns_after_the_last_queued_end)
{
    /* The worker is held in op 0; ops 1..3 wait behind it, 3 ends a span. */
    push(op_new(0, 0, false));
    hold_worker(1);
    push(op_new(2, 0, false));
    push(op_new(3, 0, true));
    cr_assert_eq(tt_rt_spans_owed, 1);
    rec.release = 1;
    tt_defer_barrier();
    cr_assert_geq(ran(), 4, "the barrier returned before the end op ran");
    for (int i = 0; i < 4; i++)
        cr_assert_eq(rec.order[i], i);
    cr_assert_eq(tt_rt_spans_owed, 0);
}

Test(defer, barrier_without_a_queued_end_does_not_wait)
{
    hold_worker(0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    tt_defer_barrier();         /* no end queued: returns at once */
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cr_assert_eq(ran(), 0, "the barrier ran or waited for an op that ends nothing");
    cr_assert_lt((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 500);
    rec.release = 1;
}

static void *release_later(void *arg)
{
    (void)arg;
    usleep(100 * 1000);
    rec.release = 1;
    return NULL;
}

Test(defer, queue_over_its_bound_runs_on_the_pushing_thread)
{
    /* The worker is held for 100 ms; the pushes pile up past
     * TT_DEFER_MAX_BYTES, and the push that crosses it returns only once
     * at most half the bound is left queued (it ran the rest, or waited
     * for the worker to). */
    hold_worker(0);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, release_later, NULL), 0);
    size_t chunk = 256u << 10;
    int crossed = (int)(TT_DEFER_MAX_BYTES / chunk);    /* its bytes exceed the bound */
    int half = (int)(TT_DEFER_MAX_BYTES / 2 / chunk);
    for (int i = 1; i <= crossed; i++)
        push(op_new(i, chunk, false));
    /* 1 + crossed ops pushed; at most half the bound (and the op the
     * worker may be in) still waiting. */
    cr_assert_leq(crossed + 1 - ran(), half + 1, "%d of %d ops ran", ran(), crossed + 1);
    pthread_join(t, NULL);
    tt_defer_drain();
    cr_assert_eq(ran(), crossed + 1);
    for (int i = 0; i <= crossed; i++)
        cr_assert_eq(rec.order[i], i);
}

Test(defer, off_runs_nothing_in_the_background)
{
    tt_defer_set(false);
    cr_assert_not(tt_defer_on());
    tt_defer_set(true);
    cr_assert(tt_defer_on());
}

/* --- the idle function (deliver.c holds frames back with it) ------------- */

static struct {
    volatile int calls;         /* times the worker ran it */
    volatile int64_t at[8];     /* when (ms, monotonic) */
    volatile int pending;       /* what it says it still holds: ms to wait */
    volatile int block_ms;      /* work in hand that takes this long */
    volatile int in;            /* set while it runs */
} idle;

static int64_t mono_ms(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static unsigned idle_fn(void)
{
    int n = idle.calls;

    idle.in = 1;
    if (n < 8)
        idle.at[n] = mono_ms();
    if (idle.block_ms)
        usleep((useconds_t)idle.block_ms * 1000);
    idle.calls = n + 1;
    unsigned ms = (unsigned)idle.pending;
    idle.pending = 0;           /* sent on this call: nothing held after */
    idle.in = 0;
    return ms;
}

static void idle_setup(void)
{
    setup();
    memset((void *)&idle, 0, sizeof(idle));
    tt_defer_set_idle(idle_fn);
}

static void idle_teardown(void)
{
    tt_defer_set_idle(NULL);
    teardown();
}

/* The worker runs it when its queue is empty, and comes back by the time
 * it asked for with nothing queued (far sooner than its idle sleep). */
Test(defer, idle_function_runs_when_the_queue_empties_and_by_its_deadline,
     .init = idle_setup, .fini = idle_teardown)
{
    idle.pending = 30;
    push(op_new(0, 0, false));
    for (int i = 0; i < 2000 && idle.calls < 2; i++)
        usleep(1000);
    cr_assert_eq(ran(), 1);
    cr_assert_geq(idle.calls, 2, "not called again by its deadline");
    int64_t gap = idle.at[1] - idle.at[0];
    cr_assert(gap >= 25 && gap < 1000, "called again after %lld ms, asked 30",
              (long long)gap);
}

static void *drain_thread(void *arg)
{
    (void)arg;
    tt_defer_drain();
    return NULL;
}

/* A drain (exit, _exit, exec) waits for what the idle function has in
 * hand: it runs under the same lock as an op. */
Test(defer, drain_waits_for_the_idle_function_in_hand, .init = idle_setup,
     .fini = idle_teardown)
{
    idle.block_ms = 300;
    push(op_new(0, 0, false));
    for (int i = 0; i < 2000 && !idle.in; i++)
        usleep(1000);
    cr_assert(idle.in, "the idle function never ran");
    int64_t t0 = mono_ms();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, drain_thread, NULL), 0);
    pthread_join(t, NULL);
    int64_t waited = mono_ms() - t0;
    cr_assert_geq(idle.calls, 1, "the drain returned while the idle function ran");
    cr_assert_geq(waited, 100, "the drain did not wait (%lld ms)", (long long)waited);
}

/* With a span owed (a frame held back) the barrier waits for the idle
 * function in hand too, though no end is queued. */
Test(defer, barrier_with_a_span_owed_waits_for_the_idle_function,
     .init = idle_setup, .fini = idle_teardown)
{
    idle.block_ms = 300;
    push(op_new(0, 0, false));
    for (int i = 0; i < 2000 && !idle.in; i++)
        usleep(1000);
    cr_assert(idle.in, "the idle function never ran");
    __atomic_add_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    int64_t t0 = mono_ms();
    tt_defer_barrier();
    int64_t waited = mono_ms() - t0;
    __atomic_sub_fetch(&tt_rt_spans_owed, 1, __ATOMIC_RELEASE);
    cr_assert_geq(idle.calls, 1, "the barrier returned while the idle function ran");
    cr_assert_geq(waited, 100, "the barrier did not wait (%lld ms)", (long long)waited);
}
