/* static_client.c - a program no hook can reach: linked statically (no
 * dynamic loader reads LD_PRELOAD), it POSTs one chat completion to
 * $OPENAI_BASE_URL (plain http://HOST:PORT/PATH, as `tokentap run
 * --gateway` sets it) over a raw socket and prints the answer's body.
 * Built by the gateway tests with `cc -static`. Exit 0 on a 2xx answer.
 * An argument N asks the mock for N input tokens (x-mock-usage), so a test
 * that starts several can tell their spans apart. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *base = getenv("OPENAI_BASE_URL");
    char host[64], path[512], req[2048], buf[65536], usage[64] = "";
    unsigned port = 0;
    const char *body = "{\"model\":\"gpt-4o-mini\",\"messages\":"
                       "[{\"role\":\"user\",\"content\":\"hi from a static binary\"}]}";

    if (!base || sscanf(base, "http://%63[^:]:%u%511s", host, &port, path) != 3) {
        fprintf(stderr, "static_client: OPENAI_BASE_URL is not http://HOST:PORT/PATH: %s\n",
                base ? base : "(unset)");
        return 2;
    }
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        return 2;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("static_client: connect");
        return 1;
    }
    if (argc > 1)
        snprintf(usage, sizeof(usage), "x-mock-usage: in=%d,out=20\r\n", atoi(argv[1]));
    int n = snprintf(req, sizeof(req),
                     "POST %s/chat/completions HTTP/1.1\r\nHost: %s:%u\r\n"
                     "Authorization: Bearer sk-static\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     path, host, port, usage, strlen(body), body);
    if (write(fd, req, (size_t)n) != n)
        return 1;
    size_t len = 0;
    ssize_t r;
    while (len < sizeof(buf) - 1 && (r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    char *sep = strstr(buf, "\r\n\r\n");
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    if (sep)
        fputs(sep + 4, stdout);
    putchar('\n');
    return status >= 200 && status < 300 ? 0 : 1;
}
