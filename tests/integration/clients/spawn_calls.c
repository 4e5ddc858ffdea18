/* spawn_calls.c - a libcurl program that starts children the three C ways
 * and has each child call the LLM endpoint. Nothing here knows about
 * tokentap.
 *
 * usage: spawn_calls BASE_URL CAFILE CHILD_PROG N
 *   The parent makes one call itself (libcurl, in-process), then starts N
 *   children with posix_spawn and N with vfork + execv, each running
 *   CHILD_PROG (curl_easy) for one call; then N with fork whose child calls
 *   in-process with libcurl and leaves by _exit; then one more call of its
 *   own. The vfork child does what real vfork users do between vfork and
 *   exec: dup2 and close on its descriptors.
 * Prints "posix_spawn ok A", "vfork ok B", "fork ok C" and
 * "calls TOTAL failed F" (a child counts when it exited 0). */
#include <curl/curl.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static size_t sink(char *p, size_t size, size_t nmemb, void *ud)
{
    (void)p;
    (void)ud;
    return size * nmemb;
}

static const char *base, *ca;
static char url[512];
static const char body_fmt[] =
    "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"spawn %d\"}]}";

/* One in-process call: 1 when it completed with HTTP 200. */
static int call(int i)
{
    char body[256];
    long status = 0;
    struct curl_slist *h = NULL;
    CURL *c = curl_easy_init();

    if (!c)
        return 0;
    snprintf(body, sizeof(body), body_fmt, i);
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Authorization: Bearer sk-spawn");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    CURLcode res = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    return res == CURLE_OK && status == 200;
}

static int child_ok(pid_t pid)
{
    int st;

    if (pid <= 0)
        return 0;
    while (waitpid(pid, &st, 0) < 0)
        ;
    return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: %s BASE_URL CAFILE CHILD_PROG N\n", argv[0]);
        return 2;
    }
    base = argv[1];
    ca = argv[2];
    const char *prog = argv[3];
    int n = atoi(argv[4]);
    int ok = 0, total = 0, sp = 0, vf = 0, fk = 0;
    char body[256];

    snprintf(url, sizeof(url), "%s/v1/chat/completions", base);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    total++;
    ok += call(0);
    fflush(stdout);

    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body), body_fmt, 100 + i);
        char *cargv[] = { (char *)prog, url, body, (char *)ca, "--quiet",
                          "Authorization: Bearer sk-spawn", NULL };
        pid_t pid = 0;
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        if (posix_spawn(&pid, prog, &fa, NULL, cargv, environ) != 0)
            pid = 0;
        posix_spawn_file_actions_destroy(&fa);
        total++;
        sp += child_ok(pid);
    }
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body), body_fmt, 200 + i);
        char *cargv[] = { (char *)prog, url, body, (char *)ca, "--quiet",
                          "Authorization: Bearer sk-spawn", NULL };
        pid_t pid = vfork();
        if (pid == 0) {
            int fd = open("/dev/null", O_WRONLY);
            if (fd >= 0) {
                dup2(fd, 1);
                close(fd);
            }
            execv(prog, cargv);
            _exit(127);
        }
        total++;
        vf += child_ok(pid);
    }
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(call(300 + i) ? 0 : 1);
        total++;
        fk += child_ok(pid);
    }
    total++;
    ok += call(1);
    ok += sp + vf + fk;
    printf("posix_spawn ok %d\nvfork ok %d\nfork ok %d\n", sp, vf, fk);
    printf("calls %d failed %d\n", ok, total - ok);
    curl_global_cleanup();
    return 0;
}
