/* bench/ignored_calls.c - fig 15: N calls the preload must ignore.
 *
 *   ignored_calls read N             read(2) of 1 byte from /dev/zero
 *   ignored_calls write N            write(2) of 1 byte to /dev/null
 *   ignored_calls ssl_read N CERT KEY
 *       SSL_read of 1 byte on a TLS connection that is not LLM traffic:
 *       client and server in this one thread over a socketpair; the client
 *       sends "GET /bulk HTTP/1.1" to host bulk.test (so tokentap decides
 *       "not LLM" on its first request, as for any download), then reads
 *       what the server sent, 1 byte per call (one 16,000-byte record at a
 *       time: the calls are OpenSSL copying from its buffer, so the hooks'
 *       share shows)
 *
 * bench/fig_15_ignored_calls.sh runs it under valgrind (callgrind) for two
 * values of N, with and without the preload: the difference of the
 * differences, divided by the extra calls, is what the preload adds to one
 * ignored call, in instructions (deterministic, unlike wall time). */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 16000

static int die(const char *what)
{
    fprintf(stderr, "ignored_calls: %s\n", what);
    ERR_print_errors_fp(stderr);
    return 1;
}

/* Drive both ends of the handshake from one thread (non-blocking). */
static int handshake(SSL *c, SSL *s)
{
    int cdone = 0, sdone = 0;

    for (int i = 0; i < 1000 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = SSL_connect(c);
            if (r == 1)
                cdone = 1;
            else if (SSL_get_error(c, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(c, r) != SSL_ERROR_WANT_WRITE)
                return -1;
        }
        if (!sdone) {
            int r = SSL_accept(s);
            if (r == 1)
                sdone = 1;
            else if (SSL_get_error(s, r) != SSL_ERROR_WANT_READ &&
                     SSL_get_error(s, r) != SSL_ERROR_WANT_WRITE)
                return -1;
        }
    }
    return cdone && sdone ? 0 : -1;
}

static int ssl_read_loop(long n, const char *cert, const char *key)
{
    static char chunk[CHUNK];
    static const char req[] = "GET /bulk HTTP/1.1\r\nHost: bulk.test\r\n\r\n";
    char buf[64], one;
    int sv[2];

    SSL_CTX *cctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX *sctx = SSL_CTX_new(TLS_server_method());
    if (!cctx || !sctx)
        return die("SSL_CTX_new");
    if (SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        return die("server certificate");
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return die("socketpair");
    fcntl(sv[0], F_SETFL, O_NONBLOCK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    SSL_set_fd(c, sv[0]);
    SSL_set_fd(s, sv[1]);
    SSL_set_tlsext_host_name(c, "bulk.test");
    if (handshake(c, s) != 0)
        return die("handshake");
    if (SSL_write(c, req, (int)strlen(req)) != (int)strlen(req))
        return die("request");
    int got = 0;
    for (int i = 0; i < 1000 && got < (int)strlen(req); i++) {
        int r = SSL_read(s, buf, sizeof(buf));
        if (r > 0)
            got += r;
    }
    if (got != (int)strlen(req))
        return die("server read");
    memset(chunk, 'x', sizeof(chunk));
    for (long i = 0; i < n;) {
        if (SSL_write(s, chunk, CHUNK) != CHUNK)
            return die("server write");
        for (int k = 0; k < CHUNK && i < n; k++, i++) {
            if (SSL_read(c, &one, 1) != 1)
                return die("client read");
        }
    }
    SSL_free(c);
    SSL_free(s);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return 0;
}

int main(int argc, char **argv)
{
    char b = 0;

    if (argc < 3)
        return die("usage: ignored_calls read|write|ssl_read N [CERT KEY]");
    long n = strtol(argv[2], NULL, 10);
    if (!strcmp(argv[1], "read")) {
        int fd = open("/dev/zero", O_RDONLY);
        for (long i = 0; i < n; i++)
            if (read(fd, &b, 1) != 1)
                return die("read");
        return 0;
    }
    if (!strcmp(argv[1], "write")) {
        int fd = open("/dev/null", O_WRONLY);
        for (long i = 0; i < n; i++)
            if (write(fd, &b, 1) != 1)
                return die("write");
        return 0;
    }
    if (!strcmp(argv[1], "ssl_read") && argc == 5)
        return ssl_read_loop(n, argv[3], argv[4]);
    return die("usage: ignored_calls read|write|ssl_read N [CERT KEY]");
}
