/* spool_harness.h - the capture path's tests read what it delivered: a
 * private spool directory (no daemon listening, so every span goes to a
 * spool file), then each file decoded with the daemon's own frame decoder.
 * Included by test_capture.c, test_http2.c and test_ws.c. */
#ifndef TT_TEST_SPOOL_HARNESS_H
#define TT_TEST_SPOOL_HARNESS_H

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "frame.h"
#include "rt.h"
#include "tt.h"
#include "wire.h"

static char spool[64];

/* A fresh spool directory and the environment the preload reads once. */
static void spool_setup(void)
{
    strcpy(spool, "/tmp/tt-spool-XXXXXX");
    cr_assert_not_null(mkdtemp(spool));
    setenv("TOKENTAP_SPOOL", spool, 1);
    setenv("TOKENTAP_SOCKET", "/nonexistent/tokentap/socket", 1);
    setenv("TOKENTAP_LOG", "off", 1);
    setenv("TOKENTAP_HOSTS", "gateway.internal:8080=auto", 1);
    setenv("TRACEPARENT", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 1);
    cr_assert(tt_rt_ready());
}

static void teardown(void)
{
    DIR *d = opendir(spool);
    struct dirent *e;
    char p[512];

    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", spool, e->d_name);
        unlink(p);
    }
    if (d)
        closedir(d);
    rmdir(spool);
}

/* Every LLM span in every spool file (the process span of proctree.h is
 * skipped: these tests are about the calls); the files are removed, so
 * each call sees only the spans since the last. Spans past max are
 * counted, not kept: a test expecting fewer fails. */
static size_t read_spool(struct tt_span *out, size_t max)
{
    DIR *d = opendir(spool);
    struct dirent *e;
    size_t n = 0;

    cr_assert_not_null(d);
    while ((e = readdir(d))) {
        char p[512];
        struct stat st;
        if (!strstr(e->d_name, ".spool"))
            continue;
        snprintf(p, sizeof(p), "%s/%s", spool, e->d_name);
        cr_assert_eq(stat(p, &st), 0);
        cr_expect_eq(st.st_mode & 0777, 0600, "spool files are private");
        FILE *f = fopen(p, "rb");
        cr_assert_not_null(f);
        unsigned char *buf = malloc((size_t)st.st_size + 1);
        cr_assert_not_null(buf);
        cr_assert_eq(fread(buf, 1, (size_t)st.st_size, f), (size_t)st.st_size);
        fclose(f);
        size_t off = 0;
        while (off + 4 <= (size_t)st.st_size) {
            uint32_t len = tt_wire_len(buf + off);
            cr_assert_leq(off + 4 + len, (size_t)st.st_size);
            struct tt_frame fr;
            memset(&fr, 0, sizeof(fr));
            cr_assert_eq(tt_frame_decode(buf + off + 4, len, &fr), TT_OK, "%s", fr.error);
            cr_assert_eq(fr.rejected, 0, "%s", fr.error);
            for (size_t i = 0; i < fr.nspans; i++) {
                if (strcmp(fr.spans[i].kind, "llm") != 0)
                    continue;
                if (n < max) {
                    out[n] = fr.spans[i];
                    memset(&fr.spans[i], 0, sizeof(fr.spans[i]));
                }
                n++;
            }
            tt_frame_clear(&fr);
            off += 4 + len;
        }
        free(buf);
        unlink(p);
    }
    closedir(d);
    return n;
}

#endif
