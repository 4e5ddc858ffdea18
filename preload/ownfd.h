/* ownfd.h - the descriptors tokentap holds inside a traced process.
 *
 * A descriptor number is not an identity. Programs that tidy up close every
 * number from 3 upward (a close loop, close_range, closefrom) and open their
 * own files and sockets, which get the same numbers; a forked child does
 * the same behind its parent's state. tokentap then must never read, write
 * or close that number again: it is the program's now (issue #9).
 *
 * So every descriptor tokentap keeps is held here, in a slot, with its
 * identity (device and inode: a socket's inode is unique while it lives).
 *   - Before each use the holder calls tt_ownfd_get(), which checks the
 *     identity with fstat and, on a mismatch or EBADF, forgets the slot
 *     without closing the number (it is not ours any more).
 *   - The interposed close, dup2, dup3, close_range and closefrom call
 *     tt_ownfd_closing() before the real call: a slot whose number the
 *     program closes or replaces is forgotten first.
 *   - Uses happen inside tt_ownfd_lock()/tt_ownfd_unlock(); the closing
 *     hooks take the same lock when (and only when) they touch one of our
 *     numbers, so a check and the use that follows are not split by an
 *     interposed close on another thread. A raw close syscall is caught by
 *     the next check.
 *   - Kept descriptors are moved to a high number (F_DUPFD_CLOEXEC) so that
 *     reuse is rare; correctness does not depend on it.
 * A process that never holds a descriptor pays one relaxed load per close. */
#ifndef TT_OWNFD_H
#define TT_OWNFD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tt.h"

enum tt_ownfd_slot {
    TT_OWNFD_DAEMON,        /* the connection to tokentapd */
    TT_OWNFD_SPOOL,         /* this process's spool file */
    TT_OWNFD_TMP0,          /* short reads (tt_ownfd_read_file) */
    TT_OWNFD_N = TT_OWNFD_TMP0 + 4,
};

/* Recursive per thread; a forked child starts with it free. */
TT_EXPORT void tt_ownfd_lock(void);
TT_EXPORT void tt_ownfd_unlock(void);

/* Take fd (just created by the caller) into slot, moving it to a high
 * number. The slot must be empty. Returns the number to use, or -1 (fd is
 * closed then). Under the lock. */
TT_EXPORT int tt_ownfd_adopt(enum tt_ownfd_slot slot, int fd, bool move_high);

/* The slot's descriptor if it is still the one adopted, else -1 (the slot
 * is forgotten; the number is never closed by us). Under the lock. */
TT_EXPORT int tt_ownfd_get(enum tt_ownfd_slot slot);

/* Close the slot's descriptor if it is still ours; forget it either way.
 * Under the lock. */
TT_EXPORT void tt_ownfd_close(enum tt_ownfd_slot slot);

/* Read a small file whole into buf (NUL-terminated, at most n - 1 bytes)
 * through a transient slot. Returns bytes read or -1. */
TT_EXPORT ssize_t tt_ownfd_read_file(const char *path, char *buf, size_t n);

/* For the closing hooks: the program is about to close (or replace) every
 * descriptor in [lo, hi]. */
TT_EXPORT extern int tt_ownfd_nheld;
TT_EXPORT void tt_ownfd_closing_slow(unsigned lo, unsigned hi);
static inline void tt_ownfd_closing(unsigned lo, unsigned hi)
{
    if (__builtin_expect(__atomic_load_n(&tt_ownfd_nheld, __ATOMIC_ACQUIRE) != 0, 0))
        tt_ownfd_closing_slow(lo, hi);
}

/* Whether fd is one of ours right now (tests, and hooks that must not
 * report our own I/O). */
bool tt_ownfd_is_ours(int fd);

#endif
