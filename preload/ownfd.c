/* ownfd.c - the descriptors tokentap holds, known by identity (ownfd.h). */
#include "ownfd.h"
#include "rt.h"
#include "sysstat.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

struct slot {
    int fd;                 /* -1: empty; read without the lock by hooks */
    dev_t dev;
    ino_t ino;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int held __attribute__((tls_model("initial-exec")));
static struct slot slots[TT_OWNFD_N] = {
    [0 ... TT_OWNFD_N - 1] = { .fd = -1 },
};
int tt_ownfd_nheld;         /* slots in use: the hooks' fast test */

static void ownfd_atfork_child(void)
{
    /* Only the forking thread lives on. It was not inside ownfd (fork is
     * the program's call), so the lock may only be held by threads that
     * are gone. The slots stay: the child inherited the descriptors, and
     * their owners (deliver.c) decide whether to close them. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    lock = fresh;
    held = 0;
}

static struct tt_atfork ownfd_fork = { .child = ownfd_atfork_child };

void tt_ownfd_lock(void)
{
    /* The fork handler exists before the lock is ever taken: a fork while
     * another thread holds it must find it reset in the child. */
    tt_atfork_register(&ownfd_fork);
    if (held++ == 0)
        pthread_mutex_lock(&lock);
}

void tt_ownfd_unlock(void)
{
    if (--held == 0)
        pthread_mutex_unlock(&lock);
}

/* Where kept descriptors go: high enough that a program's own numbers
 * rarely reach it, low enough that the kernel's table (grown to the next
 * power of two past the number) stays small. */
static int high_base(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return 1000;
    if (rl.rlim_cur > 1024)
        return 1000;
    if (rl.rlim_cur > 64)
        return (int)rl.rlim_cur - 24;
    return 3;
}

static void slot_forget(struct slot *s)
{
    if (s->fd >= 0) {
        __atomic_store_n(&s->fd, -1, __ATOMIC_RELEASE);
        __atomic_sub_fetch(&tt_ownfd_nheld, 1, __ATOMIC_RELEASE);
    }
}

int tt_ownfd_adopt(enum tt_ownfd_slot slot, int fd, bool move_high)
{
    struct slot *s = &slots[slot];
    struct stat st;

    if (fd < 0)
        return -1;
    if (move_high) {
        int hi = fcntl(fd, F_DUPFD_CLOEXEC, high_base());
        if (hi >= 0) {
            close(fd);
            fd = hi;
        }
    }
    if (tt_sys_fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    slot_forget(s);
    s->dev = st.st_dev;
    s->ino = st.st_ino;
    __atomic_add_fetch(&tt_ownfd_nheld, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&s->fd, fd, __ATOMIC_RELEASE);
    return fd;
}

int tt_ownfd_get(enum tt_ownfd_slot slot)
{
    struct slot *s = &slots[slot];
    struct stat st;

    if (s->fd < 0)
        return -1;
    if (tt_sys_fstat(s->fd, &st) != 0 || st.st_dev != s->dev || st.st_ino != s->ino) {
        slot_forget(s);     /* closed or replaced behind our back */
        return -1;
    }
    return s->fd;
}

void tt_ownfd_close(enum tt_ownfd_slot slot)
{
    int fd = tt_ownfd_get(slot);

    if (fd < 0)
        return;
    slot_forget(&slots[slot]);  /* first: our close hook then ignores it */
    close(fd);
}

void tt_ownfd_closing_slow(unsigned lo, unsigned hi)
{
    bool any = false;

    for (int i = 0; i < TT_OWNFD_N && !any; i++) {
        int fd = __atomic_load_n(&slots[i].fd, __ATOMIC_ACQUIRE);
        any = fd >= 0 && (unsigned)fd >= lo && (unsigned)fd <= hi;
    }
    if (!any)
        return;
    /* Wait for a use in progress on another thread to finish, then let
     * the number go: from now on it is the program's. */
    tt_ownfd_lock();
    for (int i = 0; i < TT_OWNFD_N; i++)
        if (slots[i].fd >= 0 && (unsigned)slots[i].fd >= lo &&
            (unsigned)slots[i].fd <= hi)
            slot_forget(&slots[i]);
    tt_ownfd_unlock();
}

bool tt_ownfd_is_ours(int fd)
{
    if (fd < 0 || !__atomic_load_n(&tt_ownfd_nheld, __ATOMIC_ACQUIRE))
        return false;
    for (int i = 0; i < TT_OWNFD_N; i++)
        if (__atomic_load_n(&slots[i].fd, __ATOMIC_ACQUIRE) == fd)
            return true;
    return false;
}

ssize_t tt_ownfd_read_file(const char *path, char *buf, size_t n)
{
    ssize_t ret = -1;
    size_t len = 0;
    int slot = -1;

    if (n == 0)
        return -1;
    tt_ownfd_lock();
    for (int i = TT_OWNFD_TMP0; i < TT_OWNFD_N && slot < 0; i++)
        if (slots[i].fd < 0)
            slot = i;
    if (slot < 0)
        goto out;           /* nested deeper than the slots: give up */
    int fd = tt_ownfd_adopt((enum tt_ownfd_slot)slot,
                            open(path, O_RDONLY | O_CLOEXEC), false);
    if (fd < 0)
        goto out;
    /* Under the lock, an interposed close of this number waits for us;
     * a raw one is caught by the check before each read. */
    bool lost = false;
    while (len < n - 1) {
        if (tt_ownfd_get((enum tt_ownfd_slot)slot) < 0) {
            lost = true;    /* not ours any more: what we read is suspect */
            break;
        }
        ssize_t r = read(fd, buf + len, n - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    tt_ownfd_close((enum tt_ownfd_slot)slot);
    if (lost)
        len = 0;
    else
        ret = (ssize_t)len;
out:
    tt_ownfd_unlock();
    buf[len] = '\0';
    return ret;
}
