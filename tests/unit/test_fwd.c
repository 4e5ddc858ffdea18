/* test_fwd.c - exporter/fwd.c: the disk-backed forwarding queue, driven by a
 * scripted fake server (the send function), and its backoff. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fwd.h"
#include "tt.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- tt_fwd_backoff ------------------------------------------------------------ */

Test(fwd, backoff_grows_caps_and_jitters_within_bounds)
{
    static const double rs[] = { 0.0, 0.999 };
    const int64_t base = 1000, max = 30000;

    for (unsigned attempt = 0; attempt <= 10; attempt++) {
        int64_t d = base << attempt;
        if (d > max)
            d = max;
        for (size_t k = 0; k < N(rs); k++) {
            int64_t got = tt_fwd_backoff(base, max, attempt, rs[k], -1);
            cr_expect(got >= d / 2 && got <= d, "attempt %u r %.3f: %lld not in [%lld, %lld]",
                      attempt, rs[k], (long long)got, (long long)(d / 2), (long long)d);
        }
        cr_expect_eq(tt_fwd_backoff(base, max, attempt, 0.0, -1), d / 2, "attempt %u, r 0",
                     attempt);
    }
    /* Very large attempts do not overflow. */
    int64_t big = tt_fwd_backoff(base, max, 1000, 0.999, -1);
    cr_expect(big >= max / 2 && big <= max, "attempt 1000: %lld", (long long)big);
    cr_expect_eq(tt_fwd_backoff(base, max, ~0u, 0.0, -1), max / 2);
}

struct ra_case {
    int64_t base, max;
    unsigned attempt;
    double r;
    int64_t retry_after;
    int64_t lo, hi;
};

static const struct ra_case ra_cases[] = {
    { 1000, 30000, 0, 0.0, 5000, 5000, 5000 },      /* Retry-After is a floor */
    { 1000, 30000, 0, 0.999, 5000, 5000, 5000 },
    { 1000, 30000, 5, 0.999, 100, 15000, 30000 },   /* below the backoff: no effect */
    { 1000, 30000, 0, 0.5, 0, 500, 1000 },          /* Retry-After: 0 */
    { 1000, 30000, 0, 0.0, 120000, 120000, 120000 }, /* above the cap: honoured */
    { 1000, 30000, 10, 0.0, 3600000, 3600000, 3600000 },
};

Test(fwd, backoff_retry_after_table)
{
    for (size_t i = 0; i < N(ra_cases); i++) {
        const struct ra_case *c = &ra_cases[i];
        int64_t got = tt_fwd_backoff(c->base, c->max, c->attempt, c->r, c->retry_after);
        cr_expect(got >= c->lo && got <= c->hi, "case %zu (retry_after %lld): %lld not in "
                  "[%lld, %lld]", i, (long long)c->retry_after, (long long)got,
                  (long long)c->lo, (long long)c->hi);
    }
}

Test(fwd, backoff_base_zero_is_one)
{
    static const double rs[] = { 0.0, 0.5, 0.999 };
    for (unsigned attempt = 0; attempt <= 12; attempt++)
        for (size_t k = 0; k < N(rs); k++)
            cr_expect_eq(tt_fwd_backoff(0, 30000, attempt, rs[k], -1),
                         tt_fwd_backoff(1, 30000, attempt, rs[k], -1),
                         "attempt %u r %.3f", attempt, rs[k]);
    cr_expect_eq(tt_fwd_backoff(-5, 30000, 3, 0.999, -1), tt_fwd_backoff(1, 30000, 3, 0.999, -1));
}

/* ---- tt_fwd_default_dir ---------------------------------------------------------- */

Test(fwd, default_dir)
{
    char tmp[] = "/tmp/tt_fwd_home_XXXXXX", buf[PATH_MAX], want[PATH_MAX + 64];

    cr_assert_not_null(mkdtemp(tmp));
    setenv("TOKENTAP_HOME", tmp, 1);

    unsetenv("TOKENTAP_FORWARD_DIR");
    cr_assert_eq(tt_fwd_default_dir("otlp", buf, sizeof(buf)), TT_OK);
    snprintf(want, sizeof(want), "%s/forward/otlp", tmp);
    cr_expect_str_eq(buf, want, "under the home without TOKENTAP_FORWARD_DIR");

    setenv("TOKENTAP_FORWARD_DIR", "", 1);
    cr_assert_eq(tt_fwd_default_dir("clickhouse", buf, sizeof(buf)), TT_OK);
    snprintf(want, sizeof(want), "%s/forward/clickhouse", tmp);
    cr_expect_str_eq(buf, want, "an empty TOKENTAP_FORWARD_DIR is unset");

    setenv("TOKENTAP_FORWARD_DIR", "/var/spool/tt", 1);
    cr_assert_eq(tt_fwd_default_dir("clickhouse", buf, sizeof(buf)), TT_OK);
    cr_expect_str_eq(buf, "/var/spool/tt/clickhouse");

    char small[8];
    cr_expect_eq(tt_fwd_default_dir("clickhouse", small, sizeof(small)), TT_ERR_CAP);
    rmdir(tmp);
}

/* ---- the fake server ------------------------------------------------------------- */

struct step {
    enum tt_fwd_verdict v;
    int64_t retry_after_ms;
    uint64_t rejected;
};

#define FAKE_MAX 256

struct fake {
    pthread_mutex_t mu;
    struct step script[16];
    size_t nscript;
    struct step dflt;           /* after the script */
    size_t calls;
    char *batch[FAKE_MAX];      /* what each call got (owned) */
    size_t nrec[FAKE_MAX];
    enum tt_fwd_verdict verdict[FAKE_MAX];
    bool bad_batch;             /* a batch whose nrec did not match its lines */
};

static struct fake fk;

static void fake_reset(void)
{
    for (size_t i = 0; i < fk.calls && i < FAKE_MAX; i++)
        free(fk.batch[i]);
    memset(&fk, 0, sizeof(fk));
    pthread_mutex_init(&fk.mu, NULL);
    fk.dflt.v = TT_FWD_SENT;
}

static void fake_send(void *ctx, const char *recs, size_t len, size_t nrec, long timeout_ms,
                      struct tt_fwd_outcome *o)
{
    struct fake *f = ctx;
    size_t lines = 0;

    (void)timeout_ms;
    for (size_t i = 0; i < len; i++)
        lines += recs[i] == '\n';
    pthread_mutex_lock(&f->mu);
    if (lines != nrec || len == 0 || recs[len - 1] != '\n')
        f->bad_batch = true;
    struct step st = f->calls < f->nscript ? f->script[f->calls] : f->dflt;
    if (f->calls < FAKE_MAX) {
        f->batch[f->calls] = strndup(recs, len);
        f->nrec[f->calls] = nrec;
        f->verdict[f->calls] = st.v;
    }
    f->calls++;
    pthread_mutex_unlock(&f->mu);
    o->v = st.v;
    o->retry_after_ms = st.retry_after_ms;
    o->rejected = st.rejected;
    snprintf(o->why, sizeof(o->why), "scripted %d", (int)st.v);
}

static size_t fake_calls(void)
{
    pthread_mutex_lock(&fk.mu);
    size_t n = fk.calls;
    pthread_mutex_unlock(&fk.mu);
    return n;
}

/* What the fake accepted (SENT calls), concatenated in call order. */
static char *fake_sent_text(void)
{
    size_t cap = 1, n = 0;
    char *out;

    pthread_mutex_lock(&fk.mu);
    for (size_t i = 0; i < fk.calls && i < FAKE_MAX; i++)
        if (fk.verdict[i] == TT_FWD_SENT)
            cap += strlen(fk.batch[i]);
    out = malloc(cap);
    cr_assert_not_null(out);
    for (size_t i = 0; i < fk.calls && i < FAKE_MAX; i++)
        if (fk.verdict[i] == TT_FWD_SENT) {
            size_t l = strlen(fk.batch[i]);
            memcpy(out + n, fk.batch[i], l);
            n += l;
        }
    out[n] = '\0';
    pthread_mutex_unlock(&fk.mu);
    return out;
}

/* ---- fixture --------------------------------------------------------------------- */

static char tmpdir[64];
static char qdir[PATH_MAX];

static void setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/tt_fwd_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(qdir, sizeof(qdir), "%s/q", tmpdir);
    fake_reset();
}

static void teardown(void)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    (void)system(cmd);
    fake_reset();
}

TestSuite(fwdq, .init = setup, .fini = teardown, .timeout = 30);

static struct tt_fwd_cfg cfg(bool sender)
{
    struct tt_fwd_cfg c = {
        .name = "test",
        .batch_max = 3,
        .queue_max_bytes = 1 << 20,
        .backoff_ms = 10,
        .backoff_max_ms = 40,
        .timeout_ms = 1000,
        .sender = sender,
        .send = fake_send,
        .ctx = &fk,
    };
    snprintf(c.dir, sizeof(c.dir), "%s", qdir);
    return c;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(void)
{
    struct timespec ts = { 0, 2 * 1000 * 1000 };
    nanosleep(&ts, NULL);
}

/* Counters accumulated across tt_fwd_take calls. */
static struct tt_fwd_stats total;

static void take(struct tt_fwd *f)
{
    tt_fwd_take(f, &total);
}

/* Wait up to 5 s for the counters to reach at least the wanted values. */
static bool wait_stats(struct tt_fwd *f, uint64_t sent, uint64_t dropped, uint64_t retries)
{
    for (int64_t end = now_ms() + 5000; now_ms() < end; nap()) {
        take(f);
        if (total.sent >= sent && total.dropped >= dropped && total.retries >= retries)
            return true;
    }
    take(f);
    return false;
}

static bool wait_calls(size_t n)
{
    for (int64_t end = now_ms() + 5000; now_ms() < end; nap())
        if (fake_calls() >= n)
            return true;
    return false;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Names in the directory (hidden ones included), sorted; count returned. */
static size_t dir_names(const char *dir, char names[][256], size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d, "%s", dir);
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if (n < max)
            snprintf(names[n], 256, "%s", e->d_name);
        n++;
    }
    closedir(d);
    qsort(names, n < max ? n : max, 256, name_cmp);
    return n;
}

static size_t dir_count(const char *dir)
{
    char names[64][256];
    return dir_names(dir, names, 64);
}

/* Records "<tag>-<i>\n" for i in [from, to), staged as one file. */
static void stage_range(struct tt_fwd *f, const char *tag, int from, int to)
{
    char buf[1024];
    size_t len = 0;

    for (int i = from; i < to; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s-%d\n", tag, i);
    cr_assert_eq(tt_fwd_stage(f, buf, len, (size_t)(to - from)), TT_OK);
}

static char *range_text(const char *tag, int from, int to)
{
    char *buf = malloc(4096);
    size_t len = 0;

    cr_assert_not_null(buf);
    buf[0] = '\0';
    for (int i = from; i < to; i++)
        len += (size_t)snprintf(buf + len, 4096 - len, "%s-%d\n", tag, i);
    return buf;
}

static void expect_sent_text(const char *want, const char *what)
{
    char *got = fake_sent_text();
    cr_expect_str_eq(got, want, "%s: the server got, in order:\n%s", what, got);
    free(got);
}

/* ---- the queue ---------------------------------------------------------------------- */

Test(fwdq, commit_true_sends_everything_in_order_in_batches)
{
    struct tt_fwd_cfg c = cfg(true);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);

    stage_range(f, "r", 0, 3);
    stage_range(f, "r", 3, 6);
    stage_range(f, "r", 6, 7);
    tt_fwd_commit(f, true);

    cr_assert(wait_stats(f, 7, 0, 0), "sent %llu of 7", (unsigned long long)total.sent);
    cr_expect_eq(total.sent, 7);
    cr_expect_eq(total.dropped, 0);
    cr_expect_eq(total.queue_dropped, 0);
    cr_expect_eq(total.retries, 0);
    pthread_mutex_lock(&fk.mu);
    for (size_t i = 0; i < fk.calls; i++)
        cr_expect(fk.nrec[i] >= 1 && fk.nrec[i] <= 3, "batch %zu has %zu records", i,
                  fk.nrec[i]);
    cr_expect_not(fk.bad_batch, "a batch's nrec did not match its lines");
    pthread_mutex_unlock(&fk.mu);
    char *want = range_text("r", 0, 7);
    expect_sent_text(want, "7 records");
    free(want);

    uint64_t files, recs, bytes;
    tt_fwd_queue_size(qdir, &files, &recs, &bytes);
    cr_expect_eq(files + recs + bytes, 0);
    cr_expect_eq(dir_count(qdir), 0, "the directory is empty once everything is sent");
    tt_fwd_close(f);
}

Test(fwdq, commit_false_deletes_the_staged_files)
{
    struct tt_fwd_cfg c = cfg(true);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);

    stage_range(f, "lost", 0, 3);
    stage_range(f, "lost", 3, 5);
    cr_expect_eq(dir_count(qdir), 2, "two staged files");
    tt_fwd_commit(f, false);
    cr_expect_eq(dir_count(qdir), 0, "staged files gone");

    /* A marker committed after: once it arrived, nothing else ever did. */
    stage_range(f, "marker", 0, 1);
    tt_fwd_commit(f, true);
    cr_assert(wait_stats(f, 1, 0, 0));
    expect_sent_text("marker-0\n", "only the marker");
    cr_expect_eq(total.sent, 1);
    cr_expect_eq(total.queue_dropped, 0, "a batch the store refused is not a forward loss");
    tt_fwd_close(f);
}

Test(fwdq, retry_twice_then_sent_keeps_order_and_loses_nothing)
{
    struct tt_fwd_cfg c = cfg(true);

    fk.script[0] = (struct step){ TT_FWD_RETRY, -1, 0 };
    fk.script[1] = (struct step){ TT_FWD_RETRY, 20, 0 };    /* with a Retry-After */
    fk.nscript = 2;
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "r", 0, 3);
    stage_range(f, "r", 3, 5);
    tt_fwd_commit(f, true);

    cr_assert(wait_stats(f, 5, 0, 2), "sent %llu retries %llu", (unsigned long long)total.sent,
              (unsigned long long)total.retries);
    cr_expect_eq(total.retries, 2);
    cr_expect_eq(total.sent, 5);
    cr_expect_eq(total.dropped, 0);
    char *want = range_text("r", 0, 5);
    expect_sent_text(want, "after two retries");
    free(want);
    pthread_mutex_lock(&fk.mu);
    cr_expect_eq(fk.calls, 4, "3 tries of the first batch, then the second");
    for (size_t i = 1; i < 3 && i < fk.calls; i++)
        cr_expect_str_eq(fk.batch[i], fk.batch[0], "try %zu is the same batch", i);
    pthread_mutex_unlock(&fk.mu);
    cr_expect_eq(dir_count(qdir), 0);
    tt_fwd_close(f);
}

/* TOKENTAP_FORWARD_BACKOFF_MS accepts 1 (sink_forward.c). A retried batch
 * must still go before the batches queued after it.
 * Regression (fixed): with backoff_ms 1 the first retry delay was (int64_t)(1 * [0.5, 1))
 * = 0; send_queue() takes retry_in == 0 as "no retry pending" and goes on
 * with the next batch of the same listing, so r-3..r-5 are delivered
 * before r-0..r-2 (and the failed batch is retried with no delay). */
Test(fwdq, retry_with_a_1ms_backoff_keeps_order)
{
    struct tt_fwd_cfg c = cfg(true);

    c.backoff_ms = 1;
    c.backoff_max_ms = 1;
    fk.script[0] = (struct step){ TT_FWD_RETRY, -1, 0 };
    fk.nscript = 1;
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "r", 0, 3);
    stage_range(f, "r", 3, 6);
    tt_fwd_commit(f, true);

    cr_assert(wait_stats(f, 6, 0, 1));
    char *want = range_text("r", 0, 6);
    expect_sent_text(want, "a retried batch goes first");
    free(want);
    tt_fwd_close(f);
}

Test(fwdq, drop_is_counted_and_not_retried)
{
    struct tt_fwd_cfg c = cfg(true);

    fk.script[0] = (struct step){ TT_FWD_DROP, -1, 0 };
    fk.nscript = 1;
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "bad", 0, 3);
    tt_fwd_commit(f, true);
    cr_assert(wait_stats(f, 0, 3, 0));
    cr_expect_eq(total.dropped, 3);
    cr_expect_eq(total.sent, 0);
    cr_expect_eq(total.retries, 0);
    cr_expect_eq(dir_count(qdir), 0, "a dropped batch's file is deleted");

    stage_range(f, "marker", 0, 1);
    tt_fwd_commit(f, true);
    cr_assert(wait_stats(f, 1, 3, 0));
    cr_expect_eq(fake_calls(), 2, "the dropped batch was not sent again");
    expect_sent_text("marker-0\n", "only the marker");
    tt_fwd_close(f);
}

Test(fwdq, partial_success_counts_the_rejected)
{
    struct tt_fwd_cfg c = cfg(true);

    fk.script[0] = (struct step){ TT_FWD_SENT, -1, 1 };
    fk.script[1] = (struct step){ TT_FWD_SENT, -1, 99 };   /* more than the batch */
    fk.nscript = 2;
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "p", 0, 3);
    tt_fwd_commit(f, true);
    cr_assert(wait_stats(f, 2, 1, 0));
    cr_expect_eq(total.sent, 2);
    cr_expect_eq(total.dropped, 1);

    stage_range(f, "q", 0, 2);
    tt_fwd_commit(f, true);
    cr_assert(wait_stats(f, 2, 3, 0));
    cr_expect_eq(total.sent, 2, "rejected is capped at the batch size");
    cr_expect_eq(total.dropped, 3);
    cr_expect_eq(fake_calls(), 2, "a partial success is not retried");
    cr_expect_eq(dir_count(qdir), 0);
    tt_fwd_close(f);
}

/* Read a whole file of the queue directory. */
static char *slurp(const char *dir, const char *name)
{
    char path[PATH_MAX + 300];
    char *buf = calloc(1, 4096);
    int fd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    cr_assert_not_null(buf);
    cr_assert((fd = open(path, O_RDONLY)) >= 0, "%s", path);
    cr_assert(read(fd, buf, 4095) >= 0);
    close(fd);
    return buf;
}

Test(fwdq, queue_bound_drops_the_oldest)
{
    struct tt_fwd_cfg c = cfg(false);
    char names[64][256];

    c.queue_max_bytes = 200;
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    /* "rec-NN-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n" = 40 bytes; 2 per file = 80. */
    for (int i = 0; i < 20; i += 2) {
        char buf[128];
        int n = snprintf(buf, sizeof(buf), "rec-%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n"
                         "rec-%02d-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", i, i + 1);
        cr_assert_eq(n, 80);
        cr_assert_eq(tt_fwd_stage(f, buf, (size_t)n, 2), TT_OK);
        tt_fwd_commit(f, true);
    }
    uint64_t files, recs, bytes;
    tt_fwd_queue_size(qdir, &files, &recs, &bytes);
    cr_expect_leq(bytes, 200, "bytes %llu", (unsigned long long)bytes);
    cr_expect_eq(files, 2, "the newest files that fit: %llu", (unsigned long long)files);
    cr_expect_eq(recs, 4);
    take(f);
    cr_expect_eq(total.queue_dropped, 16, "queue_dropped %llu",
                 (unsigned long long)total.queue_dropped);

    size_t n = dir_names(qdir, names, 64);
    cr_assert_eq(n, 2);
    char *a = slurp(qdir, names[0]), *b = slurp(qdir, names[1]);
    cr_expect(strncmp(a, "rec-16-", 7) == 0 && strstr(a, "rec-17-"), "older kept file: %s", a);
    cr_expect(strncmp(b, "rec-18-", 7) == 0 && strstr(b, "rec-19-"), "newest file: %s", b);
    free(a);
    free(b);
    tt_fwd_close(f);
}

Test(fwdq, modes_0600_files_0700_dir)
{
    struct tt_fwd_cfg c = cfg(false);
    char names[8][256], path[PATH_MAX + 300];
    struct stat sb;

    /* A nested directory that does not exist yet, under a permissive umask. */
    snprintf(c.dir, sizeof(c.dir), "%s/a/b", tmpdir);
    mode_t old = umask(0);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_assert_eq(stat(c.dir, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0700, "queue dir mode %o", sb.st_mode & 07777);

    stage_range(f, "m", 0, 2);
    cr_assert_eq(dir_names(c.dir, names, 8), 1);
    cr_expect(strncmp(names[0], ".stage-", 7) == 0, "staged name %s", names[0]);
    snprintf(path, sizeof(path), "%s/%s", c.dir, names[0]);
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0600, "staged file mode %o", sb.st_mode & 07777);

    tt_fwd_commit(f, true);
    cr_assert_eq(dir_names(c.dir, names, 8), 1);
    cr_expect(names[0][0] != '.' && strstr(names[0], ".q"), "queued name %s", names[0]);
    snprintf(path, sizeof(path), "%s/%s", c.dir, names[0]);
    cr_assert_eq(stat(path, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0600, "queued file mode %o", sb.st_mode & 07777);
    tt_fwd_close(f);
    umask(old);

    /* An existing directory with a wider mode is narrowed. */
    cr_assert_eq(mkdir(qdir, 0755), 0);
    cr_assert_eq(chmod(qdir, 0755), 0);
    c = cfg(false);
    f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_assert_eq(stat(qdir, &sb), 0);
    cr_expect_eq(sb.st_mode & 07777, 0700, "existing dir narrowed: %o", sb.st_mode & 07777);
    tt_fwd_close(f);
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[PATH_MAX + 300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    cr_assert_not_null(fp, "%s", path);
    fputs(text, fp);
    fclose(fp);
}

/* A staged file whose writer is alive (a daemon settling its own batch
 * while `tokentapd --ingest-spool` opens the same queue) is left to it. */
Test(fwdq, staged_file_of_a_live_writer_is_not_adopted)
{
    struct tt_fwd_cfg c = cfg(false);
    char names[8][256], live[128];

    cr_assert_eq(mkdir(qdir, 0700), 0);
    snprintf(live, sizeof(live), ".stage-00000000000000000003-%07d-00000001.q", (int)getpid());
    write_file(qdir, live, "mine-0\n");
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_assert_eq(dir_names(qdir, names, 8), 1);
    cr_expect_str_eq(names[0], live, "still staged: %s", names[0]);
    tt_fwd_close(f);
}

Test(fwdq, restart_adopts_staged_files_and_sends_the_queue)
{
    struct tt_fwd_cfg c = cfg(true);
    char names[16][256];

    cr_assert_eq(mkdir(qdir, 0700), 0);
    /* A queued file and a staged one left by a daemon that died mid-batch. */
    write_file(qdir, "00000000000000000001-0000001-00000000.q", "old-0\nold-1\n");
    write_file(qdir, ".stage-00000000000000000002-9999999-00000001.q", "crash-0\ncrash-1\n");
    /* Not ours: left alone. */
    write_file(qdir, "notes.txt", "keep\n");
    write_file(qdir, ".stage-partial.tmp", "keep\n");

    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_assert(wait_stats(f, 4, 0, 0), "sent %llu", (unsigned long long)total.sent);
    expect_sent_text("old-0\nold-1\ncrash-0\ncrash-1\n", "queue then adopted file, in name order");
    cr_assert_eq(dir_names(qdir, names, 16), 2);
    cr_expect_str_eq(names[0], ".stage-partial.tmp");
    cr_expect_str_eq(names[1], "notes.txt");
    tt_fwd_close(f);
}

Test(fwdq, queue_survives_a_restart)
{
    struct tt_fwd_cfg c = cfg(false);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "kept", 0, 3);
    stage_range(f, "kept", 3, 4);
    tt_fwd_commit(f, true);
    tt_fwd_close(f);
    cr_expect_eq(fake_calls(), 0, "no sender: nothing sent");

    uint64_t files, recs, bytes;
    tt_fwd_queue_size(qdir, &files, &recs, &bytes);
    cr_expect_eq(files, 2);
    cr_expect_eq(recs, 4);

    c = cfg(true);
    f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_assert(wait_stats(f, 4, 0, 0));
    char *want = range_text("kept", 0, 4);
    expect_sent_text(want, "after the restart");
    free(want);
    tt_fwd_close(f);
}

struct stop_case {
    const char *name;
    int64_t retry_after_ms;     /* of every answer (all RETRY) */
    long timeout_ms;
};

static const struct stop_case stop_cases[] = {
    { "retrying", -1, 300 },
    { "long Retry-After", 60000, 300 },
    { "timeout 0", -1, 0 },
};

Test(fwdq, stop_gives_up_after_its_timeout_and_keeps_the_records)
{
    for (size_t i = 0; i < N(stop_cases); i++) {
        const struct stop_case *sc = &stop_cases[i];
        struct tt_fwd_cfg c = cfg(true);
        struct tt_fwd_stats st = { 0 };

        fake_reset();
        fk.dflt = (struct step){ TT_FWD_RETRY, sc->retry_after_ms, 0 };
        snprintf(c.dir, sizeof(c.dir), "%s/stop%zu", tmpdir, i);
        struct tt_fwd *f = tt_fwd_open(&c);
        cr_assert_not_null(f);
        stage_range(f, "s", 0, 3);
        tt_fwd_commit(f, true);
        cr_assert(wait_calls(1), "[%s] first try", sc->name);

        size_t before = fake_calls();
        int64_t t0 = now_ms();
        tt_fwd_stop(f, sc->timeout_ms);
        int64_t took = now_ms() - t0;
        cr_expect_lt(took, sc->timeout_ms + 2000, "[%s] stop took %lld ms", sc->name,
                     (long long)took);
        if (sc->timeout_ms >= 300 && sc->retry_after_ms < 0)
            cr_expect_gt(fake_calls(), before, "[%s] stop keeps trying until its timeout",
                         sc->name);

        uint64_t files, recs, bytes;
        tt_fwd_queue_size(c.dir, &files, &recs, &bytes);
        cr_expect_eq(recs, 3, "[%s] the records stay on disk", sc->name);
        tt_fwd_take(f, &st);
        cr_expect_geq(st.retries, 1, "[%s] take works after stop", sc->name);
        cr_expect_eq(st.sent, 0, "[%s]", sc->name);
        tt_fwd_stop(f, sc->timeout_ms);       /* idempotent */
        tt_fwd_close(f);
    }
}

Test(fwdq, stop_drains_the_queue_when_the_server_answers)
{
    struct tt_fwd_cfg c = cfg(true);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);

    for (int i = 0; i < 30; i += 3)
        stage_range(f, "d", i, i + 3);
    tt_fwd_commit(f, true);
    tt_fwd_stop(f, 5000);
    uint64_t files, recs, bytes;
    tt_fwd_queue_size(qdir, &files, &recs, &bytes);
    cr_expect_eq(recs, 0, "drained before stop returned");
    take(f);
    cr_expect_eq(total.sent, 30);
    char *want = range_text("d", 0, 30);
    expect_sent_text(want, "drained in order");
    free(want);
    tt_fwd_close(f);
}

Test(fwdq, stop_removes_uncommitted_staged_files)
{
    struct tt_fwd_cfg c = cfg(false);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    stage_range(f, "u", 0, 2);
    cr_expect_eq(dir_count(qdir), 1);
    tt_fwd_close(f);
    cr_expect_eq(dir_count(qdir), 0);
    tt_fwd_stop(NULL, 10);
    tt_fwd_close(NULL);
}

Test(fwdq, stage_nothing_is_a_no_op)
{
    struct tt_fwd_cfg c = cfg(false);
    struct tt_fwd *f = tt_fwd_open(&c);
    cr_assert_not_null(f);
    cr_expect_eq(tt_fwd_stage(f, "", 0, 0), TT_OK);
    tt_fwd_commit(f, true);
    cr_expect_eq(dir_count(qdir), 0);
    tt_fwd_close(f);
}

/* An empty queue directory is the usual state (everything sent).
 * Regression (fixed): list_queue() (fwd.c) called qsort(v, 0, ...) with v == NULL when the
 * directory holds no queued file. qsort's base must be a valid pointer even
 * for zero elements (C11 7.22.5p1; glibc declares it nonnull), so this is
 * undefined behaviour, and the sanitized test build aborts on it ("fwd.c:
 * null pointer passed as argument 1, which is declared to never be null").
 * It is reached by tt_fwd_open, tt_fwd_queue_size, the trim and the sender
 * whenever the directory is empty, which makes every fwdq test above abort
 * in this build too. */
Test(fwd, queue_size_of_an_empty_dir)
{
    char tmp[] = "/tmp/tt_fwd_empty_XXXXXX";
    uint64_t files = 9, recs = 9, bytes = 9;

    cr_assert_not_null(mkdtemp(tmp));
    tt_fwd_queue_size(tmp, &files, &recs, &bytes);
    cr_expect_eq(files + recs + bytes, 0);
    rmdir(tmp);
}

Test(fwd, queue_size_of_a_missing_dir)
{
    uint64_t files = 9, recs = 9, bytes = 9;

    tt_fwd_queue_size("/nonexistent/tt_fwd/q", &files, &recs, &bytes);
    cr_expect_eq(files + recs + bytes, 0);
}
