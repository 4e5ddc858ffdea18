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


/* --- the options the capture core records -------------------------------- */

/* curlx.c's record() reads exactly these; the hook object keeps the same
 * ones for a handle until the core is loaded (hooks/core.c). */
static const CURLoption recorded_opts[TT_CURL_RECORDED_N] = {
    CURLOPT_URL, CURLOPT_CURLU, CURLOPT_CUSTOMREQUEST, CURLOPT_POST,
    CURLOPT_HTTPGET, CURLOPT_NOBODY, CURLOPT_UPLOAD, CURLOPT_PUT,
    CURLOPT_POSTFIELDS, CURLOPT_COPYPOSTFIELDS, CURLOPT_POSTFIELDSIZE,
    CURLOPT_POSTFIELDSIZE_LARGE, CURLOPT_MIMEPOST, CURLOPT_HTTPPOST,
    CURLOPT_WRITEFUNCTION, CURLOPT_WRITEDATA, CURLOPT_READFUNCTION,
    CURLOPT_READDATA, CURLOPT_ACCEPT_ENCODING, CURLOPT_HTTP_CONTENT_DECODING,
    CURLOPT_HEADER,
};

int tt_curl_recorded(CURLoption option)
{
    for (int i = 0; i < TT_CURL_RECORDED_N; i++)
        if (recorded_opts[i] == option)
            return i;
    return -1;
}

CURLoption tt_curl_option_at(int i)
{
    return recorded_opts[i];
}

bool tt_curl_makes_post(CURLoption option, const union tt_curl_arg *a)
{
    switch (option) {
    case CURLOPT_POST:
        return a->l != 0;
    case CURLOPT_POSTFIELDS: case CURLOPT_COPYPOSTFIELDS:
    case CURLOPT_MIMEPOST: case CURLOPT_HTTPPOST:
        return true;
    case CURLOPT_CUSTOMREQUEST:
        return a->p && strcmp(a->p, "POST") == 0;
    default:
        return false;
    }
}
