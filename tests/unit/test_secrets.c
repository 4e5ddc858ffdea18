/* test_secrets.c - secrets in a request target never reach span.path
 * (issue #6; preload/redact.c tt_redact_target), nor a recorded
 * command line (tools/cli_util.c tt_cli_redact_arg). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "exchange.h"
#include "redact.h"

static void check(const char *in, const char *want)
{
    char out[2048];

    tt_redact_target(in, strlen(in), out, sizeof(out));
    cr_assert_str_eq(out, want, "%s", in);
}

/* Every parameter name that plausibly carries a secret is dropped, in any
 * case and %-encoded; harmless parameters stay in order. */
Test(secrets, target_secret_names)
{
    static const char *const names[] = {
        "key", "KEY", "api_key", "apikey", "api-key", "apiKey", "x-api-key",
        "access_token", "token", "id_token", "refresh_token", "auth",
        "auth_token", "authorization", "sig", "signature", "X-Amz-Signature",
        "X-Amz-Security-Token", "X-Amz-Credential", "X-Goog-Signature",
        "X-Goog-Credential", "x-goog-api-key", "code", "client_secret",
        "password", "passwd", "pwd", "pass", "session", "sessionid",
        "subscription-key", "private_token", "jwt", "bearer", "cookie",
        "api%5Fkey", "%6B%65%79", "Api%2DKey", "access%5ftoken",
    };
    char in[256], want[256];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(in, sizeof(in), "/v1/chat?alt=sse&%s=TESTVALUE123&b=1", names[i]);
        snprintf(want, sizeof(want), "/v1/chat?alt=sse&b=1");
        check(in, want);
        snprintf(in, sizeof(in), "/v1/chat?%s=TESTVALUE123", names[i]);
        check(in, "/v1/chat");
        snprintf(in, sizeof(in), "/v1/chat?%s", names[i]);    /* no '=' */
        check(in, "/v1/chat");
    }
}

/* A value shaped like an API key is dropped whatever its parameter. */
Test(secrets, target_secret_values)
{
    check("/v1/x?q=sk-proj-abcdef123456&a=1", "/v1/x?a=1");
    check("/v1/x?a=1&x=AIzaSyA-0123456789", "/v1/x?a=1");
    check("/v1/x?a=1&sk-ant-api03-0123456789", "/v1/x?a=1");
    check("/v1/x?h=Bearer%20abcdefgh&a=1", "/v1/x?a=1");
    check("/v1/x?t=eyJhbGciOiJIUzI1NiJ9.e30.x", "/v1/x");
    /* short or ordinary values stay */
    check("/v1/x?model=sk-1", "/v1/x?model=sk-1");
    /* names that merely contain a secret word stay */
    check("/v1/x?keyboard=1&monkeys=2&tokenizer=3&signal=4",
          "/v1/x?keyboard=1&monkeys=2&tokenizer=3&signal=4");
    /* camelCase and suffix words go */
    check("/v1/x?apiKey=A&accessToken=B&clientSecret=C&hotkey=D&a=1", "/v1/x?a=1");
    check("/v1/x?alt=sse&api-version=2024-10-21",
          "/v1/x?alt=sse&api-version=2024-10-21");
}

/* ';' separates parameters too; the separator as sent is kept; '&&' and a
 * trailing '&' do not confuse it. */
Test(secrets, target_separators)
{
    check("/v1/x?a=1;key=SECRET;b=2", "/v1/x?a=1;b=2");
    check("/v1/x?a=1&&key=SECRET&", "/v1/x?a=1");
    check("/v1/x?key=SECRET&a=1", "/v1/x?a=1");
    check("/v1/x?", "/v1/x");
    check("/v1/x", "/v1/x");
    check("/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=AIzaX",
          "/v1/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
}

/* Not NUL-terminated input, a cut output, an empty output buffer. */
Test(secrets, target_bounds)
{
    const char *in = "/p?a=1&key=SECRETSECRET&b=2XXXX";
    char out[8];

    tt_redact_target(in, strlen(in) - 4, out, sizeof(out));
    cr_assert_eq(strlen(out), 7);
    cr_assert_null(strstr(out, "SECRET"));
    char big[64];
    tt_redact_target(in, strlen(in) - 4, big, sizeof(big));
    cr_assert_str_eq(big, "/p?a=1&b=2");
    tt_redact_target(in, strlen(in), out, 0);
}

/* The command line `tokentap run` records: userinfo in a URL and the
 * secret-valued curl options are redacted. */
Test(secrets, cli_userinfo_and_flags)
{
    static const struct { const char *prev, *arg, *want; } c[] = {
        { NULL, "https://user:TESTPASS123@api.example.com/v1/x",
          "https://[redacted]@api.example.com/v1/x" },
        { NULL, "http://TESTTOKEN123@127.0.0.1:8080/",
          "http://[redacted]@127.0.0.1:8080/" },
        { NULL, "https://api.example.com/v1/x?a=b@c", "https://api.example.com/v1/x?a=b@c" },
        { "-b", "session=TESTCOOKIE123", "[redacted]" },
        { "--cookie", "session=TESTCOOKIE123", "[redacted]" },
        { "-U", "proxyuser:TESTPASS123", "[redacted]" },
        { "--proxy-user", "proxyuser:TESTPASS123", "[redacted]" },
        { "-H", "X-My-Secret: TESTSECRET123", "X-My-Secret: [redacted]" },
        { "-H", "X-Api-Token: TESTSECRET123", "X-Api-Token: [redacted]" },
        { "-H", "Proxy-Authorization: Basic dXNlcjpwYXNz", "Proxy-Authorization: [redacted]" },
        { NULL, "https://h/v1/x?alt=sse&access_token=TESTTOK&sig=TESTSIG",
          "https://h/v1/x?alt=sse&access_token=[redacted]&sig=[redacted]" },
        { NULL, "https://h/v1/x?keep=1&X-Goog-Signature=TESTSIG&subscription-key=TESTSUB"
                "&api%5Fkey=TESTENC;auth=TESTAUTH#frag",
          "https://h/v1/x?keep=1&X-Goog-Signature=[redacted]&subscription-key=[redacted]"
          "&api%5Fkey=[redacted];auth=[redacted]#frag" },
        { NULL, "url='https://h/p?q=sk-proj-TESTKEY0123&a=1' done",
          "url='https://h/p?q=[redacted]&a=1' done" },
        { NULL, "https://h/v1/x?model=gpt-4o&alt=sse", "https://h/v1/x?model=gpt-4o&alt=sse" },
    };

    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char *got = tt_cli_redact_arg(c[i].prev, c[i].arg);
        cr_assert_not_null(got);
        cr_assert_str_eq(got, c[i].want, "%s", c[i].arg);
        free(got);
    }
}
