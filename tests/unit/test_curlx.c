/* test_curlx.c - the libcurl layer's pure parts: curl_easy_setopt's one
 * variadic argument read and forwarded with its own type for every option
 * range, and URLs split into host[:port] and target the way libcurl sends
 * them (the provider and API are judged from these). */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <string.h>

#include "curlx.h"

#define SENTINEL 0x5e17e1L

/* What the fake libcurl received: it reads its argument by curl.h's
 * ranges, written out here independently of curlx.c. */
static struct {
    int calls;
    CURL *h;
    CURLoption opt;
    enum tt_curl_argtype type;
    long l;
    void *p;
    void (*fn)(void);
    curl_off_t off;
    struct curl_blob *blob;
} got;

static CURLcode fake_setopt(CURL *h, CURLoption opt, ...)
{
    va_list ap;

    va_start(ap, opt);
    got.calls++;
    got.h = h;
    got.opt = opt;
    if (opt < CURLOPTTYPE_OBJECTPOINT) {
        got.type = TT_CURL_ARG_LONG;
        got.l = va_arg(ap, long);
    } else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
        got.type = TT_CURL_ARG_PTR;
        got.p = va_arg(ap, void *);
    } else if (opt < CURLOPTTYPE_OFF_T) {
        got.type = TT_CURL_ARG_FN;
        got.fn = va_arg(ap, void (*)(void));
    } else if (opt < CURLOPTTYPE_BLOB) {
        got.type = TT_CURL_ARG_OFF;
        got.off = va_arg(ap, curl_off_t);
    } else {
        got.type = TT_CURL_ARG_BLOB;
        got.blob = va_arg(ap, struct curl_blob *);
    }
    va_end(ap);
    return (CURLcode)(opt % 50);   /* passed back unchanged */
}

static CURL *const H = (CURL *)0x1234;
static enum tt_curl_argtype read_type;
static long next_arg;

/* What hooks/curl.c does: read one argument, forward it. The argument
 * after it must still be there (exactly one was consumed). */
static CURLcode hook(CURLoption opt, ...)
{
    union tt_curl_arg a;
    va_list ap;

    va_start(ap, opt);
    read_type = tt_curl_arg_read(opt, &ap, &a);
    next_arg = va_arg(ap, long);
    va_end(ap);
    return tt_curl_forward(fake_setopt, H, opt, &a);
}

static size_t a_write_cb(char *p, size_t s, size_t n, void *u)
{
    (void)p; (void)u;
    return s * n;
}

struct opt_case {
    const char *what;
    CURLoption opt;
    enum tt_curl_argtype type;
};

static const struct opt_case opt_cases[] = {
    { "long", CURLOPT_TIMEOUT, TT_CURL_ARG_LONG },
    { "long (values)", CURLOPT_HTTP_VERSION, TT_CURL_ARG_LONG },
    { "long (negative)", CURLOPT_POSTFIELDSIZE, TT_CURL_ARG_LONG },
    { "objectpoint", CURLOPT_POSTFIELDS, TT_CURL_ARG_PTR },
    { "stringpoint", CURLOPT_URL, TT_CURL_ARG_PTR },
    { "slistpoint", CURLOPT_HTTPHEADER, TT_CURL_ARG_PTR },
    { "cbpoint", CURLOPT_WRITEDATA, TT_CURL_ARG_PTR },
    { "functionpoint", CURLOPT_WRITEFUNCTION, TT_CURL_ARG_FN },
    { "off_t", CURLOPT_POSTFIELDSIZE_LARGE, TT_CURL_ARG_OFF },
    { "off_t (large)", CURLOPT_MAXFILESIZE_LARGE, TT_CURL_ARG_OFF },
    { "blob", CURLOPT_SSLCERT_BLOB, TT_CURL_ARG_BLOB },
};

Test(curlx, setopt_forwards_one_argument_of_each_type)
{
    static char text[] = "https://api.openai.com/v1/chat/completions";
    static struct curl_blob blob = { text, sizeof(text), CURL_BLOB_COPY };
    struct curl_slist sl = { text, NULL };

    for (size_t i = 0; i < sizeof(opt_cases) / sizeof(*opt_cases); i++) {
        const struct opt_case *c = &opt_cases[i];
        void *ptr = c->opt == CURLOPT_HTTPHEADER ? (void *)&sl : (void *)text;
        long lv = c->opt == CURLOPT_POSTFIELDSIZE ? -1L : 30L + (long)i;
        curl_off_t ov = ((curl_off_t)1 << 40) + (curl_off_t)i;
        CURLcode rc = CURLE_OK;

        memset(&got, 0, sizeof(got));
        next_arg = 0;
        switch (c->type) {
        case TT_CURL_ARG_LONG: rc = hook(c->opt, lv, SENTINEL); break;
        case TT_CURL_ARG_PTR: rc = hook(c->opt, ptr, SENTINEL); break;
        case TT_CURL_ARG_FN: rc = hook(c->opt, a_write_cb, SENTINEL); break;
        case TT_CURL_ARG_OFF: rc = hook(c->opt, ov, SENTINEL); break;
        case TT_CURL_ARG_BLOB: rc = hook(c->opt, &blob, SENTINEL); break;
        }
        cr_expect_eq(read_type, c->type, "%s: read as %d", c->what, read_type);
        cr_expect_eq(tt_curl_argtype(c->opt), c->type, "%s", c->what);
        cr_expect_eq(next_arg, SENTINEL, "%s: exactly one argument read",
                     c->what);
        cr_expect_eq(got.calls, 1, "%s", c->what);
        cr_expect_eq(got.h, H, "%s", c->what);
        cr_expect_eq(got.opt, c->opt, "%s", c->what);
        cr_expect_eq(got.type, c->type, "%s", c->what);
        cr_expect_eq(rc, (CURLcode)(c->opt % 50), "%s: result passed back",
                     c->what);
        switch (c->type) {
        case TT_CURL_ARG_LONG: cr_expect_eq(got.l, lv, "%s", c->what); break;
        case TT_CURL_ARG_PTR: cr_expect_eq(got.p, ptr, "%s", c->what); break;
        case TT_CURL_ARG_FN:
            cr_expect(got.fn == (void (*)(void))a_write_cb, "%s", c->what);
            break;
        case TT_CURL_ARG_OFF: cr_expect_eq(got.off, ov, "%s", c->what); break;
        case TT_CURL_ARG_BLOB:
            cr_expect_eq(got.blob, &blob, "%s", c->what);
            break;
        }
    }
}

Test(curlx, option_ranges_at_their_edges)
{
    cr_expect_eq(tt_curl_argtype((CURLoption)0), TT_CURL_ARG_LONG);
    cr_expect_eq(tt_curl_argtype((CURLoption)9999), TT_CURL_ARG_LONG);
    cr_expect_eq(tt_curl_argtype((CURLoption)10000), TT_CURL_ARG_PTR);
    cr_expect_eq(tt_curl_argtype((CURLoption)19999), TT_CURL_ARG_PTR);
    cr_expect_eq(tt_curl_argtype((CURLoption)20000), TT_CURL_ARG_FN);
    cr_expect_eq(tt_curl_argtype((CURLoption)29999), TT_CURL_ARG_FN);
    cr_expect_eq(tt_curl_argtype((CURLoption)30000), TT_CURL_ARG_OFF);
    cr_expect_eq(tt_curl_argtype((CURLoption)39999), TT_CURL_ARG_OFF);
    cr_expect_eq(tt_curl_argtype((CURLoption)40000), TT_CURL_ARG_BLOB);
}

struct url_case {
    const char *url;
    int rc;
    const char *host, *hostport;
    int port;
    const char *target;
};

static const struct url_case url_cases[] = {
    { "https://api.openai.com/v1/chat/completions", TT_OK, "api.openai.com",
      "api.openai.com", 443, "/v1/chat/completions" },
    { "http://localhost:11434/api/chat", TT_OK, "localhost",
      "localhost:11434", 11434, "/api/chat" },
    { "HTTPS://Api.Anthropic.com:443/v1/messages", TT_OK, "Api.Anthropic.com",
      "Api.Anthropic.com", 443, "/v1/messages" },
    { "http://gw:80/v1/messages", TT_OK, "gw", "gw", 80, "/v1/messages" },
    { "https://gw:8443/x/v1/messages", TT_OK, "gw", "gw:8443", 8443,
      "/x/v1/messages" },
    { "https://user:sk-secret@gw.example:8443/v1/chat/completions?api-version=1",
      TT_OK, "gw.example", "gw.example:8443", 8443,
      "/v1/chat/completions?api-version=1" },
    { "https://a@b@host/p", TT_OK, "host", "host", 443, "/p" },
    { "https://[::1]:8080/v1/chat/completions", TT_OK, "[::1]", "[::1]:8080",
      8080, "/v1/chat/completions" },
    { "http://[fe80::1]/p", TT_OK, "[fe80::1]", "[fe80::1]", 80, "/p" },
    { "https://host", TT_OK, "host", "host", 443, "/" },
    { "https://host?q=1", TT_OK, "host", "host", 443, "/?q=1" },
    { "https://host/p?q=1#frag", TT_OK, "host", "host", 443, "/p?q=1" },
    { "https://host:/p", TT_OK, "host", "host", 443, "/p" },
    { "localhost:8000/v1/chat/completions", TT_OK, "localhost",
      "localhost:8000", 8000, "/v1/chat/completions" },
    { "ftp://host/file", TT_ERR_UNSUPPORTED, NULL, NULL, 0, NULL },
    { "https://host:99999/p", TT_ERR_PARSE, NULL, NULL, 0, NULL },
    { "https://host:8x/p", TT_ERR_PARSE, NULL, NULL, 0, NULL },
    { "https://[::1/p", TT_ERR_PARSE, NULL, NULL, 0, NULL },
    { "https:///p", TT_ERR_PARSE, NULL, NULL, 0, NULL },
};

Test(curlx, urls_split_as_libcurl_sends_them)
{
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(*url_cases); i++) {
        const struct url_case *c = &url_cases[i];
        struct tt_curl_url u;
        int rc = tt_curl_parse_url(c->url, strlen(c->url), &u);
        cr_expect_eq(rc, c->rc, "%s: rc %d", c->url, rc);
        if (rc != TT_OK || c->rc != TT_OK)
            continue;
        cr_expect_str_eq(u.host, c->host, "%s", c->url);
        cr_expect_str_eq(u.hostport, c->hostport, "%s", c->url);
        cr_expect_eq(u.port, c->port, "%s", c->url);
        cr_expect_str_eq(u.target, c->target, "%s", c->url);
    }
}

Test(curlx, url_not_read_past_its_length)
{
    const char buf[] = "https://host/v1/messagesXXXX";
    struct tt_curl_url u;

    cr_assert_eq(tt_curl_parse_url(buf, strlen(buf) - 4, &u), TT_OK);
    cr_expect_str_eq(u.target, "/v1/messages");
}

Test(curlx, long_target_cut_at_cap)
{
    static char url[6000];
    struct tt_curl_url u;

    memcpy(url, "https://h/", 10);
    memset(url + 10, 'a', sizeof(url) - 11);
    cr_assert_eq(tt_curl_parse_url(url, strlen(url), &u), TT_OK);
    cr_expect_eq(strlen(u.target), sizeof(u.target) - 1);
}

/* Which options make a transfer a POST (the hook object loads the capture
 * core for them, hooks/core.c), and which the core records. */
static const struct {
    CURLoption opt;
    long l;
    const char *p;
    bool post;
    bool recorded;
    const char *what;
} post_cases[] = {
    { CURLOPT_POST, 1, NULL, true, true, "POST 1" },
    { CURLOPT_POST, 0, NULL, false, true, "POST 0 is a GET" },
    { CURLOPT_POSTFIELDS, 0, "{}", true, true, "POSTFIELDS" },
    { CURLOPT_POSTFIELDS, 0, NULL, true, true, "POSTFIELDS NULL still sets POST" },
    { CURLOPT_COPYPOSTFIELDS, 0, "{}", true, true, "COPYPOSTFIELDS" },
    { CURLOPT_MIMEPOST, 0, NULL, true, true, "MIMEPOST" },
    { CURLOPT_HTTPPOST, 0, NULL, true, true, "HTTPPOST" },
    { CURLOPT_CUSTOMREQUEST, 0, "POST", true, true, "CUSTOMREQUEST POST" },
    { CURLOPT_CUSTOMREQUEST, 0, "post", false, true, "methods are case-sensitive" },
    { CURLOPT_CUSTOMREQUEST, 0, "POSTX", false, true, "CUSTOMREQUEST POSTX" },
    { CURLOPT_CUSTOMREQUEST, 0, NULL, false, true, "CUSTOMREQUEST NULL" },
    { CURLOPT_URL, 0, "https://api.openai.com/v1/chat/completions", false, true, "URL" },
    { CURLOPT_HTTPGET, 1, NULL, false, true, "HTTPGET" },
    { CURLOPT_NOBODY, 1, NULL, false, true, "NOBODY" },
    { CURLOPT_UPLOAD, 1, NULL, false, true, "UPLOAD is a PUT" },
    { CURLOPT_POSTFIELDSIZE, 10, NULL, false, true, "POSTFIELDSIZE alone" },
    { CURLOPT_WRITEFUNCTION, 0, NULL, false, true, "WRITEFUNCTION" },
    { CURLOPT_HEADER, 1, NULL, false, true, "HEADER" },
    { CURLOPT_CAINFO, 0, "/x.pem", false, false, "CAINFO is neither" },
    { CURLOPT_HTTPHEADER, 0, NULL, false, false, "HTTPHEADER is neither" },
    { CURLOPT_TIMEOUT, 5, NULL, false, false, "TIMEOUT is neither" },
};

Test(curlx, makes_post_and_recorded)
{
    for (size_t i = 0; i < sizeof(post_cases) / sizeof(post_cases[0]); i++) {
        union tt_curl_arg a = { 0 };
        if (tt_curl_argtype(post_cases[i].opt) == TT_CURL_ARG_LONG)
            a.l = post_cases[i].l;
        else
            a.p = (void *)post_cases[i].p;
        cr_expect_eq(tt_curl_makes_post(post_cases[i].opt, &a), post_cases[i].post, "%s",
                     post_cases[i].what);
        cr_expect_eq(tt_curl_recorded(post_cases[i].opt) >= 0, post_cases[i].recorded, "%s",
                     post_cases[i].what);
    }
}

/* The numbering is one to one: option_at undoes recorded. */
Test(curlx, recorded_numbering)
{
    for (int i = 0; i < TT_CURL_RECORDED_N; i++)
        cr_expect_eq(tt_curl_recorded(tt_curl_option_at(i)), i, "option %d", i);
}
