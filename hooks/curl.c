/* curl.c - libcurl interposers (the logic is in preload/curlx.c).
 *
 * Every hook calls the real function and returns its result unchanged.
 * tt_rt_depth is raised around the calls into libcurl so the SSL and libc
 * hooks stand down inside it: the curl layer reports the transfer, one
 * span per transfer whatever HTTP version libcurl spoke. libcurl's own
 * curl_easy_perform drives a private multi handle through the PLT
 * (curl_multi_add_handle, _perform, _poll, _info_read): the multi hooks
 * therefore act only at depth 0, i.e. when the application calls them. */
#include "curlx.h"
#include "real.h"
#include "rt.h"

#include <errno.h>
#include <stdarg.h>

extern const char *const tt_curl_sonames[];

static CURLcode (*real_perform)(CURL *);
static void (*real_cleanup)(CURL *);
static void (*real_reset)(CURL *);
static CURL *(*real_duphandle)(CURL *);
static CURLcode (*real_pause)(CURL *, int);
static CURLMcode (*real_add)(CURLM *, CURL *);
static CURLMcode (*real_remove)(CURLM *, CURL *);
static CURLMcode (*real_mperform)(CURLM *, int *);
static CURLMcode (*real_socket_action)(CURLM *, curl_socket_t, int, int *);
static CURLMcode (*real_socket)(CURLM *, curl_socket_t, int *);
static CURLMcode (*real_socket_all)(CURLM *, int *);
static CURLMcode (*real_wait)(CURLM *, struct curl_waitfd *, unsigned int,
                              int, int *);
static CURLMcode (*real_poll)(CURLM *, struct curl_waitfd *, unsigned int,
                              int, int *);
static CURLMsg *(*real_info_read)(CURLM *, int *);
static CURLMcode (*real_mcleanup)(CURLM *);

#define REAL(slot, name) TT_REAL(slot, name, tt_curl_sonames, "libcurl")

/* Run stmt with the guard raised, keeping the errno libcurl left. */
#define INSIDE(stmt)                                                          \
    do {                                                                      \
        tt_rt_depth++;                                                        \
        stmt;                                                                 \
        tt_rt_depth--;                                                        \
    } while (0)

TT_EXPORT CURLcode curl_easy_setopt(CURL *h, CURLoption option, ...)
{
    union tt_curl_arg arg;
    va_list ap;
    CURLcode rc;

    va_start(ap, option);
    (void)tt_curl_arg_read(option, &ap, &arg);
    va_end(ap);
    if (tt_rt_off) {
        tt_curl_setopt_fn f = tt_curl_real_setopt();
        return f ? tt_curl_forward(f, h, option, &arg) : CURLE_FAILED_INIT;
    }
    INSIDE(rc = tt_curl_setopt(h, option, &arg));
    return rc;
}

TT_EXPORT CURLcode curl_easy_perform(CURL *h)
{
    CURLcode (*f)(CURL *) = REAL(real_perform, "curl_easy_perform");
    CURLcode rc;

    if (!f)
        return CURLE_FAILED_INIT;
    if (tt_rt_off)
        return f(h);
    /* Any depth: a perform from inside an app callback is the app's. */
    INSIDE({
        bool traced = tt_curl_begin(h);
        rc = f(h);
        if (traced)
            tt_curl_done(h, rc);
    });
    return rc;
}

TT_EXPORT void curl_easy_cleanup(CURL *h)
{
    void (*f)(CURL *) = REAL(real_cleanup, "curl_easy_cleanup");

    if (tt_rt_off) {
        if (f)
            f(h);
        return;
    }
    INSIDE({
        tt_curl_drop(h, "curl handle cleaned up before the transfer ended");
        if (f)
            f(h);
        tt_curl_forget(h);
    });
}

TT_EXPORT void curl_easy_reset(CURL *h)
{
    void (*f)(CURL *) = REAL(real_reset, "curl_easy_reset");

    if (tt_rt_off) {
        if (f)
            f(h);
        return;
    }
    /* libcurl puts the default callbacks back: our trampolines go too. */
    INSIDE({
        tt_curl_drop(h, "curl handle reset before the transfer ended");
        if (f)
            f(h);
        tt_curl_forget(h);
    });
}

TT_EXPORT CURL *curl_easy_duphandle(CURL *h)
{
    CURL *(*f)(CURL *) = REAL(real_duphandle, "curl_easy_duphandle");
    CURL *dup;

    if (!f)
        return NULL;
    if (tt_rt_off)
        return f(h);
    INSIDE({
        dup = f(h);
        if (dup)
            tt_curl_dup(h, dup);
    });
    return dup;
}

/* Unpausing delivers buffered data to the write callback from here. */
TT_EXPORT CURLcode curl_easy_pause(CURL *h, int bitmask)
{
    CURLcode (*f)(CURL *, int) = REAL(real_pause, "curl_easy_pause");
    CURLcode rc;

    if (!f)
        return CURLE_FAILED_INIT;
    INSIDE(rc = f(h, bitmask));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
    CURLMcode (*f)(CURLM *, CURL *) = REAL(real_add, "curl_multi_add_handle");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    if (tt_rt_off || tt_rt_depth > 0)
        return f(m, h);
    INSIDE({
        bool traced = tt_curl_begin(h);
        rc = f(m, h);
        if (traced && rc != CURLM_OK)
            tt_curl_cancel(h);
    });
    return rc;
}

TT_EXPORT CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
    CURLMcode (*f)(CURLM *, CURL *) = REAL(real_remove,
                                           "curl_multi_remove_handle");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    if (tt_rt_off || tt_rt_depth > 0)
        return f(m, h);
    /* Still running: the app never read a CURLMSG_DONE for it. Decide
     * before libcurl forgets the transfer's state. */
    INSIDE({
        tt_curl_drop(h, "transfer removed before completion");
        rc = f(m, h);
    });
    return rc;
}

TT_EXPORT CURLMsg *curl_multi_info_read(CURLM *m, int *queued)
{
    CURLMsg *(*f)(CURLM *, int *) = REAL(real_info_read,
                                         "curl_multi_info_read");
    CURLMsg *msg;

    if (!f)
        return NULL;
    if (tt_rt_off || tt_rt_depth > 0)
        return f(m, queued);
    INSIDE({
        msg = f(m, queued);
        if (msg && msg->msg == CURLMSG_DONE) {
            int saved = errno;
            tt_curl_done(msg->easy_handle, msg->data.result);
            errno = saved;
        }
    });
    return msg;
}

TT_EXPORT CURLMcode curl_multi_perform(CURLM *m, int *running)
{
    CURLMcode (*f)(CURLM *, int *) = REAL(real_mperform, "curl_multi_perform");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, running));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s,
                                             int ev, int *running)
{
    CURLMcode (*f)(CURLM *, curl_socket_t, int, int *) =
        REAL(real_socket_action, "curl_multi_socket_action");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, s, ev, running));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_socket(CURLM *m, curl_socket_t s, int *running)
{
    CURLMcode (*f)(CURLM *, curl_socket_t, int *) =
        REAL(real_socket, "curl_multi_socket");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, s, running));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_socket_all(CURLM *m, int *running)
{
    CURLMcode (*f)(CURLM *, int *) = REAL(real_socket_all,
                                          "curl_multi_socket_all");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, running));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_wait(CURLM *m, struct curl_waitfd *extra,
                                    unsigned int n, int timeout_ms, int *ret)
{
    CURLMcode (*f)(CURLM *, struct curl_waitfd *, unsigned int, int, int *) =
        REAL(real_wait, "curl_multi_wait");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, extra, n, timeout_ms, ret));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_poll(CURLM *m, struct curl_waitfd *extra,
                                    unsigned int n, int timeout_ms, int *ret)
{
    CURLMcode (*f)(CURLM *, struct curl_waitfd *, unsigned int, int, int *) =
        REAL(real_poll, "curl_multi_poll");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m, extra, n, timeout_ms, ret));
    return rc;
}

TT_EXPORT CURLMcode curl_multi_cleanup(CURLM *m)
{
    CURLMcode (*f)(CURLM *) = REAL(real_mcleanup, "curl_multi_cleanup");
    CURLMcode rc;

    if (!f)
        return CURLM_INTERNAL_ERROR;
    INSIDE(rc = f(m));
    return rc;
}
