/* walbuf.h - one write per transaction into SQLite's write-ahead log.
 *
 * SQLite appends a committed page to the WAL as two writes: the frame's
 * 24-byte header, then the page. A span committed alone touches about a
 * dozen pages, so tokentapd made some 25 pwrite calls per span, at about a
 * microsecond each on a VM with page-table isolation. This VFS sits over
 * the default one and gathers the contiguous writes to a WAL file in a
 * buffer, written out with one pwrite:
 *   - when the page of a commit frame (a frame header whose "database size
 *     after commit" field is non-zero) has been added: the write that ends a
 *     transaction returns only once the whole transaction is in the file,
 *     and returns the error if that write fails (a full disk is SQLITE_FULL
 *     to the commit, as before);
 *   - before anything that looks at the file (read, size, sync, truncate,
 *     file control, close), when a write is not contiguous, and when the
 *     buffer is full;
 *   - and, in case a later SQLite wrote a commit differently, before the
 *     shared-memory barrier that precedes publishing a new WAL-index header
 *     (other connections only read frames the published header covers).
 * Nothing else changes: the database file, the journal and every other
 * call go straight to the default VFS. A crash loses only frames of a
 * transaction that had not committed, as it would without the buffer. */
#ifndef TT_WALBUF_H
#define TT_WALBUF_H

#include "tt.h"

/* Register the VFS ("tt-walbuf") as SQLite's default, over the default at
 * the time of the first call. Idempotent; call before opening the store.
 * TT_OK, or TT_ERR when SQLite has no default VFS or refuses it. */
int tt_walbuf_register(void) __attribute__((warn_unused_result));

/* Counters since start, for tests and figures: the writes SQLite asked of
 * WAL files and the writes that reached the default VFS for them. */
struct tt_walbuf_stats {
    unsigned long long asked, written;
};
void tt_walbuf_stats(struct tt_walbuf_stats *out);

#endif
