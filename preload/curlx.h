/* curlx.h - libcurl transfers -> exchanges (the logic behind hooks/curl.c).
 *
 * libcurl hands the application whole HTTP responses whatever the wire
 * spoke (HTTP/1.1, HTTP/2, HTTP/3, TLS or not), so a libcurl program is
 * traced here, one span per transfer, while the SSL and libc hooks stand
 * down inside libcurl (tt_rt_depth > 0).
 *
 * What is kept per easy handle (a bounded table keyed by CURL*): the
 * options that say what the request is (URL, method, POSTFIELDS), the
 * application's write/read callbacks and their data, and whether libcurl
 * decodes Content-Encoding. Request headers are never stored (secrets).
 *
 * A transfer whose URL is LLM traffic (same rule as conn.c: a known host,
 * or a known API path) gets a write-callback trampoline: every chunk goes
 * to the application's callback (or the default fwrite) first, its return
 * value goes back to libcurl unchanged, and only the bytes it accepted are
 * recorded. The exchange is created at the first response byte (or at
 * completion), when the negotiated HTTP version is known.
 *
 * The preload does not link libcurl: <curl/curl.h> gives types and
 * constants only; libcurl's functions are reached through real.h. */
#ifndef TT_CURLX_H
#define TT_CURLX_H

#define CURL_DISABLE_TYPECHECK     /* we define/forward the variadic setopt */
#define CURL_DISABLE_DEPRECATION
#define CURL_ALLOW_OLD_MULTI_SOCKET
#include <curl/curl.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tt.h"

/* --- curl_easy_setopt forwarding (tested on its own) ---------------------- */

/* The C type of an option's one argument, by range (curl.h CURLOPTTYPE_*). */
enum tt_curl_argtype {
    TT_CURL_ARG_LONG,           /* < 10000 (LONG, VALUES) */
    TT_CURL_ARG_PTR,            /* < 20000 (OBJECT/STRING/SLIST/CBPOINT) */
    TT_CURL_ARG_FN,             /* < 30000 (FUNCTIONPOINT) */
    TT_CURL_ARG_OFF,            /* < 40000 (OFF_T) */
    TT_CURL_ARG_BLOB,           /* >= 40000 (struct curl_blob *) */
};

union tt_curl_arg {
    long l;
    void *p;
    void (*fn)(void);
    curl_off_t off;
    struct curl_blob *blob;
};

typedef CURLcode (*tt_curl_setopt_fn)(CURL *, CURLoption, ...);

enum tt_curl_argtype tt_curl_argtype(CURLoption option);
/* Read exactly one argument of option's type from *ap. */
enum tt_curl_argtype tt_curl_arg_read(CURLoption option, va_list *ap,
                                      union tt_curl_arg *out);
/* Call real(h, option, <arg as its own type>) and return its result. */
CURLcode tt_curl_forward(tt_curl_setopt_fn real, CURL *h, CURLoption option,
                         const union tt_curl_arg *arg);

/* The options the capture core records for a handle (the URL, the method,
 * the body, the application's callbacks...), numbered 0 to
 * TT_CURL_RECORDED_N - 1; -1 for any other. */
#define TT_CURL_RECORDED_N 21
int tt_curl_recorded(CURLoption option);
/* The option numbered i by tt_curl_recorded. */
CURLoption tt_curl_option_at(int i);
/* Whether setting option to *a can make the transfer a POST, the method of
 * every API route (preload/api.c): until one such option is set, a
 * handle's transfer cannot be an LLM call, and the hook object does not
 * load the capture core for it (hooks/core.c). */
bool tt_curl_makes_post(CURLoption option, const union tt_curl_arg *a);

/* --- URLs ------------------------------------------------------------------ */

struct tt_curl_url {
    char host[256];             /* as written; an IPv6 literal keeps [] */
    char hostport[264];         /* host[:port] as curl's Host header: the
                                   port only when not the scheme's default */
    int port;                   /* explicit, or the scheme's default */
    char target[2048];          /* path?query ("/" when the URL has no
                                   path); no fragment; cut at the cap */
    bool https;
};

/* Parse an http(s) URL (no scheme: http, as libcurl guesses). Userinfo is
 * dropped. Returns 0, TT_ERR_UNSUPPORTED (another scheme) or TT_ERR_PARSE. */
int tt_curl_parse_url(const char *url, size_t len, struct tt_curl_url *out)
    TT_WUR;

/* --- per-handle state, driven by hooks/curl.c ------------------------------ */

/* Resolve libcurl's real functions (NULL when libcurl is not loaded). */
tt_curl_setopt_fn tt_curl_real_setopt(void);

/* curl_easy_setopt: record what matters, then forward to real unless the
 * option is one tokentap's trampoline stands in for on an LLM transfer
 * (the app's new callback is used from the next chunk on, as libcurl
 * would). Returns what libcurl returned. */
CURLcode tt_curl_setopt(CURL *h, CURLoption option,
                        const union tt_curl_arg *arg);

/* Record an option libcurl already accepted, without forwarding it: the
 * options the hook object kept for h before the core was loaded, in the
 * order they were last set. */
void tt_curl_record(CURL *h, CURLoption option, const union tt_curl_arg *arg);

/* A transfer starts (curl_easy_perform, curl_multi_add_handle). Returns
 * true when it is traced (state is kept until tt_curl_done/_abort). A
 * transfer already running on h is left alone (returns false). */
bool tt_curl_begin(CURL *h);
/* The transfer did not start after all (curl_multi_add_handle failed):
 * forget it without a span. */
void tt_curl_cancel(CURL *h);
/* The transfer ended with result (curl_easy_perform's return,
 * CURLMSG_DONE). No-op for handles without a traced transfer. */
void tt_curl_done(CURL *h, CURLcode result);

/* The app stopped following a transfer whose result it never read
 * (curl_multi_remove_handle without a CURLMSG_DONE read: many apps only
 * watch running_handles; curl_easy_cleanup/_reset). A transfer that got
 * its whole response ends as libcurl ended it (Content-Length reached, or
 * no length and the body's own end decides: a stream without its terminal
 * event is an error there); anything else is an error saying why. */
void tt_curl_drop(CURL *h, const char *why);

/* curl_easy_duphandle: the copy gets h's recorded options and, when h
 * carried tokentap's trampolines, the application's own callbacks back. */
void tt_curl_dup(CURL *from, CURL *to);
/* curl_easy_cleanup / curl_easy_reset (after the real call): drop state. */
void tt_curl_forget(CURL *h);

#endif
