/* cli_doctor_gw.c - `tokentap doctor CMD`, the gateway's part: follow a
 * wrapper to the binaries it starts, and say which programs the hooks
 * cannot reach but `tokentap run --gateway auto` traces through the
 * gateway (kept apart from cli_doctor.c's own classification).
 *
 * A wrapper is a script (an npm package's bin script, a shell script) whose
 * package ships native executables: the package directory is the first
 * ancestor of the script holding package.json; every ELF executable below
 * it (node_modules included: platform binaries come as optional
 * dependencies) is judged by preload/elfcheck.c, the same verdict the
 * preload reaches when the wrapper starts it. */
#include "cli.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcheck.h"

#define WALK_MAX_FILES 4000
#define WALK_MAX_DEPTH 8
#define LIST_MAX 8

struct walk {
    int files;
    int found;
    bool colour;
};

static void note(const struct walk *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void note(const struct walk *w, const char *fmt, ...)
{
    va_list ap;

    printf("  %snote%s  ", w->colour ? "\033[33m" : "", w->colour ? "\033[0m" : "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static bool is_elf_exec(const char *path)
{
    char m[4];
    struct stat st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) ||
        st.st_size < 64)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = read(fd, m, 4) == 4 && !memcmp(m, "\177ELF", 4);
    close(fd);
    return ok;
}

static void walk(struct walk *w, const char *dir, int depth)
{
    DIR *d;
    struct dirent *e;

    if (depth > WALK_MAX_DEPTH || w->files > WALK_MAX_FILES || !(d = opendir(dir)))
        return;
    while ((e = readdir(d)) != NULL && w->files <= WALK_MAX_FILES) {
        char p[PATH_MAX];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(p, sizeof(p), "%s/%s", dir, e->d_name) >= (int)sizeof(p) ||
            lstat(p, &st) != 0)
            continue;
        w->files++;
        if (S_ISDIR(st.st_mode)) {
            walk(w, p, depth + 1);
            continue;
        }
        if (!S_ISREG(st.st_mode) || !is_elf_exec(p))
            continue;
        char why[160];
        if (!tt_elf_needs_gateway(tt_elf_judge(p, why, sizeof(why))))
            continue;
        if (w->found++ < LIST_MAX)
            note(w, "the package ships %s (%s): the hooks cannot see its calls; "
                 "`tokentap run` (--gateway auto) points it at the gateway when it starts",
                 p, why);
    }
    closedir(d);
}

int tt_cli_doctor_gateway(const char *path, bool colour)
{
    struct walk w = { .colour = colour };
    char why[160], dir[PATH_MAX], real[PATH_MAX];
    int head = 0, found = 0;

    if (!realpath(path, real))
        return 0;
    enum tt_elf_verdict v = tt_elf_judge(real, why, sizeof(why));
    if (tt_elf_needs_gateway(v)) {
        note(&w, "%s (%s): `tokentap run` (--gateway auto, the default) traces it "
             "through the gateway by its base-URL variables", real, why);
        found = 1;
    }
    int fd = open(real, O_RDONLY | O_CLOEXEC);
    char m[2] = "";
    if (fd >= 0) {
        head = (int)read(fd, m, 2);
        close(fd);
    }
    if (head != 2 || m[0] != '#' || m[1] != '!')
        return found;           /* not a wrapper */
    /* The script's package: the nearest ancestor with a package.json. */
    snprintf(dir, sizeof(dir), "%s", real);
    for (int up = 0; up < 4; up++) {
        char *s = strrchr(dir, '/');
        char pj[PATH_MAX + 16];
        if (!s || s == dir)
            break;
        *s = '\0';
        snprintf(pj, sizeof(pj), "%s/package.json", dir);
        if (access(pj, F_OK) == 0) {
            walk(&w, dir, 0);
            if (w.found > LIST_MAX)
                printf("  ... and %d more\n", w.found - LIST_MAX);
            break;
        }
    }
    return found + w.found;
}
