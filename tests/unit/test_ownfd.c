/* test_ownfd.c - tokentap's descriptors known by identity (issue #9). */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ownfd.h"

/* dup2 as a raw syscall: no hook of ours sees it (the unit tests link no
 * hooks anyway), as with a program that calls the kernel directly. */
static int syscall_dup2_for_test(int oldfd, int newfd)
{
    return (int)syscall(SYS_dup3, oldfd, newfd, 0);
}

static bool is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

Test(ownfd, adopt_moves_high_and_checks_identity)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    tt_ownfd_lock();
    int fd = tt_ownfd_adopt(TT_OWNFD_DAEMON, p[0], true);
    cr_assert_geq(fd, 3);
    cr_expect(fd >= 64 || fd == p[0], "moved high: %d", fd);
    cr_expect_eq(tt_ownfd_get(TT_OWNFD_DAEMON), fd);
    cr_expect(tt_ownfd_is_ours(fd));
    cr_expect(!tt_ownfd_is_ours(p[1]));
    /* Another file put on the number behind our back (a raw dup2): the
     * identity no longer matches, the slot is forgotten, and the number,
     * now the program's, is left open. */
    int other = open("/dev/null", O_RDONLY);
    cr_assert_geq(other, 0);
    cr_assert_eq(syscall_dup2_for_test(other, fd), fd);
    cr_expect_eq(tt_ownfd_get(TT_OWNFD_DAEMON), -1);
    cr_expect(!tt_ownfd_is_ours(fd));
    tt_ownfd_close(TT_OWNFD_DAEMON);     /* nothing of ours to close */
    cr_expect(is_open(fd), "the program's descriptor was closed");
    tt_ownfd_unlock();
    close(fd);
    close(other);
    close(p[1]);
}

Test(ownfd, closing_hook_lets_the_number_go_unclosed)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    tt_ownfd_lock();
    int fd = tt_ownfd_adopt(TT_OWNFD_SPOOL, p[1], false);
    tt_ownfd_unlock();
    cr_assert_eq(fd, p[1]);
    cr_expect_gt(__atomic_load_n(&tt_ownfd_nheld, __ATOMIC_ACQUIRE), 0);
    /* The program's close_range over [lo, hi] covering our number. */
    tt_ownfd_closing((unsigned)fd - 1, (unsigned)fd + 10);
    tt_ownfd_lock();
    cr_expect_eq(tt_ownfd_get(TT_OWNFD_SPOOL), -1);
    tt_ownfd_unlock();
    cr_expect(is_open(fd), "the hook closes nothing: the program's call does");
    /* A range that does not cover the number leaves the slot alone. */
    tt_ownfd_lock();
    fd = tt_ownfd_adopt(TT_OWNFD_SPOOL, dup(p[0]), false);
    tt_ownfd_unlock();
    cr_assert_geq(fd, 0);
    tt_ownfd_closing((unsigned)fd + 1, (unsigned)fd + 100);
    tt_ownfd_lock();
    cr_expect_eq(tt_ownfd_get(TT_OWNFD_SPOOL), fd);
    tt_ownfd_close(TT_OWNFD_SPOOL);      /* ours: closed and forgotten */
    tt_ownfd_unlock();
    cr_expect(!is_open(fd));
    close(p[0]);
    close(p[1]);
}

Test(ownfd, read_file_whole_and_bounded)
{
    char path[] = "/tmp/tt-ownfd-XXXXXX", buf[8];
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, "0123456789", 10), 10);
    close(fd);
    cr_expect_eq(tt_ownfd_read_file(path, buf, sizeof(buf)), 7);
    cr_expect_str_eq(buf, "0123456");
    cr_expect_eq(tt_ownfd_read_file("/nonexistent/tt", buf, sizeof(buf)), -1);
    cr_expect_str_eq(buf, "");
    unlink(path);
}
