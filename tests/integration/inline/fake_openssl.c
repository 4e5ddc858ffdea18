/* fake_openssl.c - a program that carries "its own OpenSSL", as Node does:
 * it defines and exports (-rdynamic) SSL_write, SSL_read, SSL_free,
 * SSL_get_servername and SSL_get_error, and calls them directly. Its
 * "TLS" is memory: SSL_write swallows an HTTP request to api.openai.com,
 * SSL_read hands back a canned chat completion. tokentap's inline hooks
 * must see both through the patched functions (test_inline_hooks.py).
 * Built with -fcf-protection (endbr64 prologues) and -O0 (frame-pointer
 * prologues) by the test.
 *
 * With -DSHORT, SSL_write is 3 bytes long (xor eax,eax; ret): shorter than
 * the jump, so the hooks must be refused, all of them, with one line on
 * stderr, and the program must run as it would without tokentap. */
#include <stdio.h>
#include <string.h>

typedef struct ssl { int id; size_t pos; } SSL;

#define EXPORT __attribute__((visibility("default"), noinline))

static const char resp[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: %d\r\n"
    "\r\n"
    "%s";
static const char body[] =
    "{\"id\":\"chatcmpl-fake\",\"object\":\"chat.completion\",\"model\":\"gpt-4o-mini\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"},"
    "\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":321,\"completion_tokens\":45,\"total_tokens\":366}}";
static char wire[1024];
static size_t wire_len;
static size_t written;

#ifdef SHORT
__asm__(".pushsection .text\n.globl SSL_write\n.type SSL_write,@function\nSSL_write:\n"
        "\txor %eax,%eax\n\tret\n.size SSL_write, 3\n.popsection\n");
int SSL_write(SSL *s, const void *buf, int num);
#else
EXPORT int SSL_write(SSL *s, const void *buf, int num)
{
    (void)s;
    (void)buf;
    written += (size_t)num;
    return num;
}
#endif

EXPORT int SSL_read(SSL *s, void *buf, int num)
{
    size_t n = wire_len - s->pos;
    if (n == 0)
        return -1;
    if (n > (size_t)num)
        n = (size_t)num;
    memcpy(buf, wire + s->pos, n);
    s->pos += n;
    return (int)n;
}

EXPORT void SSL_free(SSL *s)
{
    s->id = -1;
}

EXPORT const char *SSL_get_servername(const SSL *s, int type)
{
    (void)s;
    return type == 0 ? "api.openai.com" : NULL;
}

EXPORT int SSL_get_error(const SSL *s, int ret)
{
    (void)s;
    return ret > 0 ? 0 : 6;     /* SSL_ERROR_ZERO_RETURN: the peer closed */
}

int main(void)
{
    static const char req_body[] =
        "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
    char req[512], buf[64];
    SSL s = { 1, 0 };
    size_t got = 0;
    int n;

    wire_len = (size_t)snprintf(wire, sizeof(wire), resp, (int)strlen(body), body);
    n = snprintf(req, sizeof(req),
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n"
                 "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                 (int)strlen(req_body), req_body);
    int w = SSL_write(&s, req, n);
    while ((n = SSL_read(&s, buf, (int)sizeof(buf))) > 0)
        got += (size_t)n;
    int e = SSL_get_error(&s, n);
    SSL_free(&s);
    printf("wrote %d, read %zu, error %d\n", w, got, e);
    return 0;
}
