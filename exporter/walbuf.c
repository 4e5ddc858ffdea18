/* walbuf.c - one write per transaction into SQLite's WAL (walbuf.h). */
#include "walbuf.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* A span committed alone is ~12 frames of 4,120 bytes. Under 128 KiB: the
 * unix VFS writes at most 0x1ffff bytes a call (seekAndWriteFd masks the
 * length) and takes a shorter write for a full disk. */
#define WB_CAP (120u * 1024u)
#define WB_WAL_HDR 32               /* the WAL file's own header, at 0 */
#define WB_FRAME_HDR 24             /* each frame's, before its page */

struct wb_file {
    sqlite3_file base;              /* pMethods: &wb_io */
    sqlite3_file *real;             /* the default VFS's file, after this */
    bool wal;
    bool commit_pending;            /* a commit frame's header was added */
    pthread_mutex_t lock;           /* the buffer: its connection, a barrier */
    char *buf;                      /* WB_CAP bytes, or NULL: write through */
    size_t len;
    sqlite3_int64 off;              /* file offset of buf[0] */
    struct wb_file *prev, *next;    /* WAL files, under wb_list_lock */
};

#define WB_REAL_OFF ((sizeof(struct wb_file) + 15) & ~(size_t)15)

static sqlite3_vfs *wb_real;
static sqlite3_vfs wb_vfs;
static int wb_status = TT_ERR;
static pthread_once_t wb_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t wb_list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct wb_file *wb_list;
static unsigned long long wb_asked, wb_written;

static const sqlite3_io_methods *real_io(const struct wb_file *f)
{
    return f->real->pMethods;
}

/* Under f->lock. The buffer is dropped whatever the outcome: a failed
 * write fails the transaction, whose frames SQLite then never uses. */
static int wb_flush_locked(struct wb_file *f)
{
    if (f->len == 0)
        return SQLITE_OK;
    int rc = real_io(f)->xWrite(f->real, f->buf, (int)f->len, f->off);
    __atomic_add_fetch(&wb_written, 1, __ATOMIC_RELAXED);
    f->len = 0;
    f->commit_pending = false;
    return rc;
}

static int wb_flush(struct wb_file *f)
{
    if (!f->wal)
        return SQLITE_OK;
    pthread_mutex_lock(&f->lock);
    int rc = wb_flush_locked(f);
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static bool commit_field(const void *hdr)
{
    const unsigned char *h = hdr;   /* bytes 4..7: database size after commit */
    return h[4] | h[5] | h[6] | h[7];
}

static bool is_page_size(size_t n)
{
    return n >= 512 && n <= 65536 && (n & (n - 1)) == 0;
}

/* ---- io methods ---------------------------------------------------------- */

static int wb_close(sqlite3_file *pf)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    if (f->wal) {
        pthread_mutex_lock(&wb_list_lock);
        if (f->prev)
            f->prev->next = f->next;
        else
            wb_list = f->next;
        if (f->next)
            f->next->prev = f->prev;
        pthread_mutex_unlock(&wb_list_lock);
        pthread_mutex_destroy(&f->lock);
        free(f->buf);
        f->buf = NULL;
    }
    int rc2 = real_io(f)->xClose(f->real);
    return rc != SQLITE_OK ? rc : rc2;
}

static int wb_read(sqlite3_file *pf, void *p, int n, sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc : real_io(f)->xRead(f->real, p, n, off);
}

static int wb_write(sqlite3_file *pf, const void *p, int n, sqlite3_int64 off)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (!f->wal)
        return real_io(f)->xWrite(f->real, p, n, off);
    __atomic_add_fetch(&wb_asked, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&f->lock);
    int rc = SQLITE_OK;
    size_t un = n > 0 ? (size_t)n : 0;
    if (f->len && (off != f->off + (sqlite3_int64)f->len || f->len + un > WB_CAP))
        rc = wb_flush_locked(f);
    if (rc == SQLITE_OK && (!f->buf || un > WB_CAP)) {
        rc = real_io(f)->xWrite(f->real, p, n, off);
        __atomic_add_fetch(&wb_written, 1, __ATOMIC_RELAXED);
    } else if (rc == SQLITE_OK) {
        if (f->len == 0)
            f->off = off;
        memcpy(f->buf + f->len, p, un);
        f->len += un;
        if (off >= WB_WAL_HDR && un == WB_FRAME_HDR) {
            f->commit_pending = commit_field(p);      /* its page comes next */
        } else if (off >= WB_WAL_HDR && un > WB_FRAME_HDR &&
                   is_page_size(un - WB_FRAME_HDR)) {
            if (commit_field(p))                      /* header and page at once */
                rc = wb_flush_locked(f);
        } else if (f->commit_pending) {
            rc = wb_flush_locked(f);                  /* the commit frame's page */
        }
    }
    pthread_mutex_unlock(&f->lock);
    return rc;
}

static int wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc : real_io(f)->xTruncate(f->real, size);
}

static int wb_sync(sqlite3_file *pf, int flags)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc : real_io(f)->xSync(f->real, flags);
}

static int wb_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    return rc != SQLITE_OK ? rc : real_io(f)->xFileSize(f->real, size);
}

static int wb_lock(sqlite3_file *pf, int level)
{
    struct wb_file *f = (struct wb_file *)pf;

    return real_io(f)->xLock(f->real, level);
}

static int wb_unlock(sqlite3_file *pf, int level)
{
    struct wb_file *f = (struct wb_file *)pf;

    return real_io(f)->xUnlock(f->real, level);
}

static int wb_check_reserved(sqlite3_file *pf, int *out)
{
    struct wb_file *f = (struct wb_file *)pf;

    return real_io(f)->xCheckReservedLock(f->real, out);
}

static int wb_file_control(sqlite3_file *pf, int op, void *arg)
{
    struct wb_file *f = (struct wb_file *)pf;
    int rc = wb_flush(f);

    if (rc != SQLITE_OK)
        return rc;
    rc = real_io(f)->xFileControl(f->real, op, arg);
    if (op == SQLITE_FCNTL_VFSNAME && rc == SQLITE_OK && arg) {
        char **name = arg;
        char *n = sqlite3_mprintf("tt-walbuf/%z", *name);
        if (n)
            *name = n;
    }
    return rc;
}

static int wb_sector_size(sqlite3_file *pf)
{
    struct wb_file *f = (struct wb_file *)pf;

    return real_io(f)->xSectorSize(f->real);
}

static int wb_device_characteristics(sqlite3_file *pf)
{
    struct wb_file *f = (struct wb_file *)pf;

    return real_io(f)->xDeviceCharacteristics(f->real);
}

static int wb_shm_map(sqlite3_file *pf, int pg, int pgsz, int extend, void volatile **pp)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (real_io(f)->iVersion < 2 || !real_io(f)->xShmMap)
        return SQLITE_IOERR;
    return real_io(f)->xShmMap(f->real, pg, pgsz, extend, pp);
}

static int wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (real_io(f)->iVersion < 2 || !real_io(f)->xShmLock)
        return SQLITE_IOERR;
    return real_io(f)->xShmLock(f->real, offset, n, flags);
}

/* SQLite calls this between writing the two copies of a new WAL-index
 * header: any frame still buffered (none, when the commit was seen in
 * wb_write) goes to the file before the header can be read whole. */
static void wb_shm_barrier(sqlite3_file *pf)
{
    struct wb_file *f = (struct wb_file *)pf;

    pthread_mutex_lock(&wb_list_lock);
    for (struct wb_file *w = wb_list; w; w = w->next)
        (void)wb_flush(w);
    pthread_mutex_unlock(&wb_list_lock);
    if (real_io(f)->iVersion >= 2 && real_io(f)->xShmBarrier)
        real_io(f)->xShmBarrier(f->real);
}

static int wb_shm_unmap(sqlite3_file *pf, int del)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (real_io(f)->iVersion < 2 || !real_io(f)->xShmUnmap)
        return SQLITE_OK;
    return real_io(f)->xShmUnmap(f->real, del);
}

static int wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int n, void **pp)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (real_io(f)->iVersion < 3 || !real_io(f)->xFetch) {
        *pp = NULL;
        return SQLITE_OK;
    }
    return real_io(f)->xFetch(f->real, off, n, pp);
}

static int wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
    struct wb_file *f = (struct wb_file *)pf;

    if (real_io(f)->iVersion < 3 || !real_io(f)->xUnfetch)
        return SQLITE_OK;
    return real_io(f)->xUnfetch(f->real, off, p);
}

static const sqlite3_io_methods wb_io = {
    .iVersion = 3,
    .xClose = wb_close, .xRead = wb_read, .xWrite = wb_write,
    .xTruncate = wb_truncate, .xSync = wb_sync, .xFileSize = wb_file_size,
    .xLock = wb_lock, .xUnlock = wb_unlock, .xCheckReservedLock = wb_check_reserved,
    .xFileControl = wb_file_control, .xSectorSize = wb_sector_size,
    .xDeviceCharacteristics = wb_device_characteristics,
    .xShmMap = wb_shm_map, .xShmLock = wb_shm_lock, .xShmBarrier = wb_shm_barrier,
    .xShmUnmap = wb_shm_unmap, .xFetch = wb_fetch, .xUnfetch = wb_unfetch,
};

/* ---- the VFS ------------------------------------------------------------- */

static int wb_open(sqlite3_vfs *vfs, sqlite3_filename name, sqlite3_file *pf,
                   int flags, int *out)
{
    struct wb_file *f = (struct wb_file *)pf;

    (void)vfs;
    memset(f, 0, sizeof(*f));
    f->real = (sqlite3_file *)((char *)f + WB_REAL_OFF);
    int rc = wb_real->xOpen(wb_real, name, f->real, flags, out);
    /* SQLite closes a file whose methods are set, even when the open
     * failed: ours then, so that the real one is closed too. */
    if (!f->real->pMethods) {
        f->base.pMethods = NULL;
        return rc;
    }
    if (rc == SQLITE_OK && (flags & SQLITE_OPEN_WAL)) {
        f->wal = true;
        pthread_mutex_init(&f->lock, NULL);
        f->buf = malloc(WB_CAP);    /* NULL: every write goes through */
        pthread_mutex_lock(&wb_list_lock);
        f->next = wb_list;
        if (wb_list)
            wb_list->prev = f;
        wb_list = f;
        pthread_mutex_unlock(&wb_list_lock);
    }
    f->base.pMethods = &wb_io;
    return rc;
}

static int wb_delete(sqlite3_vfs *v, const char *name, int sync)
{
    (void)v;
    return wb_real->xDelete(wb_real, name, sync);
}

static int wb_access(sqlite3_vfs *v, const char *name, int flags, int *out)
{
    (void)v;
    return wb_real->xAccess(wb_real, name, flags, out);
}

static int wb_full_pathname(sqlite3_vfs *v, const char *name, int n, char *out)
{
    (void)v;
    return wb_real->xFullPathname(wb_real, name, n, out);
}

static void *wb_dlopen(sqlite3_vfs *v, const char *name)
{
    (void)v;
    return wb_real->xDlOpen(wb_real, name);
}

static void wb_dlerror(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    wb_real->xDlError(wb_real, n, out);
}

static void (*wb_dlsym(sqlite3_vfs *v, void *h, const char *sym))(void)
{
    (void)v;
    return wb_real->xDlSym(wb_real, h, sym);
}

static void wb_dlclose(sqlite3_vfs *v, void *h)
{
    (void)v;
    wb_real->xDlClose(wb_real, h);
}

static int wb_randomness(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return wb_real->xRandomness(wb_real, n, out);
}

static int wb_sleep(sqlite3_vfs *v, int us)
{
    (void)v;
    return wb_real->xSleep(wb_real, us);
}

static int wb_current_time(sqlite3_vfs *v, double *out)
{
    (void)v;
    return wb_real->xCurrentTime(wb_real, out);
}

static int wb_last_error(sqlite3_vfs *v, int n, char *out)
{
    (void)v;
    return wb_real->xGetLastError ? wb_real->xGetLastError(wb_real, n, out) : 0;
}

static int wb_current_time64(sqlite3_vfs *v, sqlite3_int64 *out)
{
    (void)v;
    return wb_real->xCurrentTimeInt64(wb_real, out);
}

static void wb_init(void)
{
    wb_real = sqlite3_vfs_find(NULL);
    if (!wb_real || wb_real->szOsFile <= 0)
        return;
    wb_vfs = (sqlite3_vfs){
        /* Version 2 at most: the system-call overrides of version 3 are
         * the default VFS's business (found by its own name). */
        .iVersion = wb_real->iVersion >= 2 && wb_real->xCurrentTimeInt64 ? 2 : 1,
        .szOsFile = (int)(WB_REAL_OFF + (size_t)wb_real->szOsFile),
        .mxPathname = wb_real->mxPathname,
        .zName = "tt-walbuf",
        .xOpen = wb_open, .xDelete = wb_delete, .xAccess = wb_access,
        .xFullPathname = wb_full_pathname, .xDlOpen = wb_dlopen, .xDlError = wb_dlerror,
        .xDlSym = wb_dlsym, .xDlClose = wb_dlclose, .xRandomness = wb_randomness,
        .xSleep = wb_sleep, .xCurrentTime = wb_current_time,
        .xGetLastError = wb_last_error, .xCurrentTimeInt64 = wb_current_time64,
    };
    if (sqlite3_vfs_register(&wb_vfs, 1) == SQLITE_OK)
        wb_status = TT_OK;
}

int tt_walbuf_register(void)
{
    pthread_once(&wb_once, wb_init);
    return wb_status;
}

void tt_walbuf_stats(struct tt_walbuf_stats *out)
{
    out->asked = __atomic_load_n(&wb_asked, __ATOMIC_RELAXED);
    out->written = __atomic_load_n(&wb_written, __ATOMIC_RELAXED);
}
