/* curlarg.c - curl_easy_setopt's variadic argument, read and forwarded
 * (curlx.h). Pure functions: linked into the hook object, which forwards
 * every setopt, and into the capture core. */
#include "curlx.h"

#include <string.h>

/* --- setopt forwarding ----------------------------------------------------- */

enum tt_curl_argtype tt_curl_argtype(CURLoption option)
{
    int o = (int)option;

    if (o < CURLOPTTYPE_OBJECTPOINT)
        return TT_CURL_ARG_LONG;
    if (o < CURLOPTTYPE_FUNCTIONPOINT)
        return TT_CURL_ARG_PTR;
    if (o < CURLOPTTYPE_OFF_T)
        return TT_CURL_ARG_FN;
    if (o < CURLOPTTYPE_BLOB)
        return TT_CURL_ARG_OFF;
    return TT_CURL_ARG_BLOB;
}

enum tt_curl_argtype tt_curl_arg_read(CURLoption option, va_list *ap,
                                      union tt_curl_arg *out)
{
    enum tt_curl_argtype t = tt_curl_argtype(option);

    memset(out, 0, sizeof(*out));
    switch (t) {
    case TT_CURL_ARG_LONG:
        out->l = va_arg(*ap, long);
        break;
    case TT_CURL_ARG_PTR:
        out->p = va_arg(*ap, void *);
        break;
    case TT_CURL_ARG_FN:
        out->fn = va_arg(*ap, void (*)(void));
        break;
    case TT_CURL_ARG_OFF:
        out->off = va_arg(*ap, curl_off_t);
        break;
    case TT_CURL_ARG_BLOB:
        out->blob = va_arg(*ap, struct curl_blob *);
        break;
    }
    return t;
}

CURLcode tt_curl_forward(tt_curl_setopt_fn real, CURL *h, CURLoption option,
                         const union tt_curl_arg *arg)
{
    switch (tt_curl_argtype(option)) {
    case TT_CURL_ARG_LONG:
        return real(h, option, arg->l);
    case TT_CURL_ARG_PTR:
        return real(h, option, arg->p);
    case TT_CURL_ARG_FN:
        return real(h, option, arg->fn);
    case TT_CURL_ARG_OFF:
        return real(h, option, arg->off);
    case TT_CURL_ARG_BLOB:
        return real(h, option, arg->blob);
    }
    return CURLE_BAD_FUNCTION_ARGUMENT;
}

