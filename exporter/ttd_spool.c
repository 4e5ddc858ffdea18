/* ttd_spool.c - tokentapd's spool ingestion (ttd.h).
 *
 * Clients park frames in the spool directory while no daemon listens
 * (wire.h); the daemon ingests it at start, on every "sync" and every 2 s,
 * `tokentapd --ingest-spool` once. A file goes only once its spans are
 * committed; a tail still being written is remembered (the memo) and read
 * on the next pass. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ttd.h"
#include "wire.h"


static struct ttd_memo *memo_find(struct ttd *d, const struct stat *sb,
                                  const char *name)
{
    for (size_t i = 0; i < d->nmemo; i++)
        if (d->memo[i].dev == sb->st_dev && d->memo[i].ino == sb->st_ino &&
            strncmp(d->memo[i].name, name, sizeof(d->memo[i].name) - 1) == 0)
            return &d->memo[i];
    return NULL;
}

static void memo_forget(struct ttd *d, struct ttd_memo *m)
{
    if (m)
        *m = d->memo[--d->nmemo];
}

static void memo_set(struct ttd *d, const struct stat *sb, const char *name, off_t off)
{
    struct ttd_memo *m = memo_find(d, sb, name);

    if (!m) {
        if (d->nmemo == TTD_SPOOL_MEMO)
            return;     /* only an optimisation: re-reading is idempotent */
        m = &d->memo[d->nmemo++];
    }
    *m = (struct ttd_memo){ sb->st_dev, sb->st_ino, off, "" };
    snprintf(m->name, sizeof(m->name), "%s", name);
}

static int read_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;

    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return TT_ERR_IO;
        got += (size_t)r;
    }
    return TT_OK;
}

/* Ingest one spool file. Returns TT_ERR_AGAIN when the store refused the
 * batch (keep the file, stop this pass), else TT_OK. */
static int spool_file(struct ttd *d, int dirfd, const char *name)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat sb;
    char *payload = NULL;
    off_t off = 0;
    bool partial = false, corrupt = false;
    int rc = TT_OK;

    if (fd < 0)
        return TT_OK;
    /* A writer appends under LOCK_EX (wire.h): never read a file mid-append. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        goto out;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
        goto out;
    struct ttd_memo *m = memo_find(d, &sb, name);
    if (m && m->off <= sb.st_size)
        off = m->off;
    while (off < sb.st_size) {
        unsigned char hdr[4];
        if (sb.st_size - off < 4) {
            partial = true;
            break;
        }
        if (read_full(fd, hdr, 4, off) != TT_OK) {
            partial = true;
            break;
        }
        uint32_t n = tt_wire_len(hdr);
        if (n == 0 || n > TT_WIRE_MAX_FRAME) {
            /* No way to find the next frame boundary: the rest is lost. */
            ttd_log("spool %s: bad frame length at offset %lld, skipping the rest",
                    name, (long long)off);
            d->bad_frames++;
            TTD_COUNT(d, bad_frames, 1);
            TTD_COUNT(d, spool_frames_dropped, 1);
            corrupt = true;
            break;
        }
        if (sb.st_size - off - 4 < (off_t)n) {
            partial = true;
            break;
        }
        char *np = realloc(payload, n);
        if (!np) {
            rc = TT_ERR_AGAIN;
            goto out;
        }
        payload = np;
        if (read_full(fd, payload, n, off + 4) != TT_OK) {
            partial = true;
            break;
        }
        (void)ttd_frame(d, NULL, payload, n, name);    /* bad frames counted, skipped */
        off += 4 + (off_t)n;
        if (d->nbatch >= TTD_BATCH_SPANS && ttd_drain(d) != TT_SINK_OK) {
            rc = TT_ERR_AGAIN;
            goto out;
        }
    }
    /* The file goes only once its spans are committed. */
    if (ttd_drain(d) != TT_SINK_OK) {
        rc = TT_ERR_AGAIN;
        goto out;
    }
    time_t now = time(NULL);
    if (partial && !corrupt && now - sb.st_mtime < TTD_SPOOL_FRESH_S) {
        memo_set(d, &sb, name, off);  /* a live writer: come back for the rest */
        goto out;
    }
    if (partial) {
        ttd_log("spool %s: dropping an incomplete last frame", name);
        TTD_COUNT(d, spool_frames_dropped, 1);
    }
    if (unlinkat(dirfd, name, 0) != 0)
        ttd_log("spool %s: unlink: %s", name, strerror(errno));
    memo_forget(d, memo_find(d, &sb, name));
    d->spool_files++;
    TTD_COUNT(d, spool_files, 1);
out:
    free(payload);
    if (fd >= 0)
        close(fd);      /* releases the lock */
    return rc;
}

void ttd_spool(struct ttd *d)
{
    DIR *dir = opendir(d->spool_dir);
    struct dirent *e;

    if (!dir)
        return;     /* no spool yet: nothing was ever spooled */
    while ((e = readdir(dir)) != NULL) {
        size_t n = strlen(e->d_name);
        if (n <= 6 || strcmp(e->d_name + n - 6, ".spool") != 0)
            continue;
        if (spool_file(d, dirfd(dir), e->d_name) != TT_OK)
            break;
    }
    closedir(dir);
}
