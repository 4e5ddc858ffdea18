/* sysstat.h - stat(2) and fstat(2) by their system calls, for the hook
 * object: the libc functions are GLIBC_2.33, which would be one more symbol
 * version for the loader to check in every process the hook object is
 * loaded into (preload/symver.h). Same results: on x86-64 the kernel's
 * struct stat is glibc's. */
#ifndef TT_SYSSTAT_H
#define TT_SYSSTAT_H

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int tt_sys_fstat(int fd, struct stat *st)
{
    return (int)syscall(SYS_fstat, fd, st);
}

static inline int tt_sys_stat(const char *path, struct stat *st)
{
    return (int)syscall(SYS_newfstatat, AT_FDCWD, path, st, 0);
}

#endif
