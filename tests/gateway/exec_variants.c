/* exec_variants.c - starts a program once through each way a process can
 * start another: `exec_variants PROGRAM` runs PROGRAM N for N = 1001,
 * 1002, ... (one number per variant, in the order of the table below), each
 * in a child and waited for. A dynamic program: under `tokentap run
 * --gateway auto` the preload's exec hooks see each start and, PROGRAM
 * being static, point it at the gateway (tests/integration/test_gateway.py).
 * `exec_variants --list` prints the variants' names, one a line.
 *
 * Exit status: 0 when every child ran; the children's own statuses are
 * printed ("<variant> <status>"), the test reads the spans. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *prog, *prog_dir, *prog_base;
static char num[16];

static void v_execve(void) { char *a[] = { (char *)prog, num, NULL }; execve(prog, a, environ); }
static void v_execv(void) { char *a[] = { (char *)prog, num, NULL }; execv(prog, a); }
static void v_execvp(void) { char *a[] = { (char *)prog_base, num, NULL }; execvp(prog_base, a); }
static void v_execvpe(void) { char *a[] = { (char *)prog_base, num, NULL }; execvpe(prog_base, a, environ); }
static void v_execl(void) { execl(prog, prog, num, (char *)NULL); }
static void v_execlp(void) { execlp(prog_base, prog_base, num, (char *)NULL); }
static void v_execle(void) { execle(prog, prog, num, (char *)NULL, environ); }

static void v_fexecve(void)
{
    char *a[] = { (char *)prog, num, NULL };
    int fd = open(prog, O_RDONLY | O_CLOEXEC);
    fexecve(fd, a, environ);
}

static void v_execveat(void)
{
    char *a[] = { (char *)prog, num, NULL };
    int dir = open(prog_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    execveat(dir, prog_base, a, environ, 0);
}

static void v_raw_syscall(void)
{
    char *a[] = { (char *)prog, num, NULL };
    syscall(SYS_execve, prog, a, environ);
}

/* Variants that start the child themselves: the pid to wait for. */
static pid_t v_posix_spawn(void)
{
    char *a[] = { (char *)prog, num, NULL };
    pid_t p;
    return posix_spawn(&p, prog, NULL, NULL, a, environ) == 0 ? p : -1;
}

static pid_t v_posix_spawnp(void)
{
    char *a[] = { (char *)prog_base, num, NULL };
    pid_t p;
    return posix_spawnp(&p, prog_base, NULL, NULL, a, environ) == 0 ? p : -1;
}

static pid_t v_vfork_execve(void)
{
    char *a[] = { (char *)prog, num, NULL };
    pid_t p = vfork();
    if (p == 0) {
        execve(prog, a, environ);
        _exit(127);
    }
    return p;
}

static const struct {
    const char *name;
    void (*in_child)(void);     /* exec in a fork child */
    pid_t (*spawn)(void);       /* starts it itself */
    int shell;                  /* 1 system(), 2 popen() */
} variants[] = {
    { "execve", v_execve, NULL, 0 },
    { "execv", v_execv, NULL, 0 },
    { "execvp", v_execvp, NULL, 0 },
    { "execvpe", v_execvpe, NULL, 0 },
    { "execl", v_execl, NULL, 0 },
    { "execlp", v_execlp, NULL, 0 },
    { "execle", v_execle, NULL, 0 },
    { "fexecve", v_fexecve, NULL, 0 },
    { "execveat", v_execveat, NULL, 0 },
    { "posix_spawn", NULL, v_posix_spawn, 0 },
    { "posix_spawnp", NULL, v_posix_spawnp, 0 },
    { "vfork_execve", NULL, v_vfork_execve, 0 },
    { "system", NULL, NULL, 1 },
    { "popen", NULL, NULL, 2 },
    { "raw_syscall", v_raw_syscall, NULL, 0 },
};

int main(int argc, char **argv)
{
    static char dir[4096], path[8192];
    size_t nv = sizeof(variants) / sizeof(variants[0]);

    if (argc == 2 && !strcmp(argv[1], "--list")) {
        for (size_t i = 0; i < nv; i++)
            printf("%s\n", variants[i].name);
        return 0;
    }
    if (argc < 2 || argv[1][0] != '/') {
        fprintf(stderr, "usage: exec_variants /ABSOLUTE/PROGRAM [VARIANT...]\n");
        return 2;
    }
    prog = argv[1];
    snprintf(dir, sizeof(dir), "%s", prog);
    *strrchr(dir, '/') = '\0';
    prog_dir = dir;
    prog_base = strrchr(prog, '/') + 1;
    /* execvp & co. find it on PATH. */
    snprintf(path, sizeof(path), "%s:%s", dir, getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    for (size_t i = 0; i < nv; i++) {
        bool want = argc == 2;
        for (int k = 2; k < argc; k++)
            want |= !strcmp(argv[k], variants[i].name);
        if (!want)
            continue;
        snprintf(num, sizeof(num), "%zu", 1001 + i);
        int st = -1;
        fflush(stdout);
        if (variants[i].shell) {
            char cmd[8300];
            snprintf(cmd, sizeof(cmd), "%s %s >/dev/null", prog, num);
            if (variants[i].shell == 1) {
                st = system(cmd);
            } else {
                FILE *f = popen(cmd, "r");
                st = f ? pclose(f) : -1;
            }
        } else {
            pid_t p;
            if (variants[i].in_child) {
                p = fork();
                if (p == 0) {
                    /* the answer's body: not this test's output */
                    freopen("/dev/null", "w", stdout);
                    variants[i].in_child();
                    _exit(127);
                }
            } else {
                int saved = dup(1), dn = open("/dev/null", O_WRONLY);
                dup2(dn, 1);
                p = variants[i].spawn();
                dup2(saved, 1);
                close(saved);
                close(dn);
            }
            if (p > 0)
                while (waitpid(p, &st, 0) < 0 && errno == EINTR)
                    ;
        }
        printf("%s %d\n", variants[i].name,
               st >= 0 && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    }
    return 0;
}
