/* elfcheck.c - can the preload interpose on a program? (see elfcheck.h) */
#include "elfcheck.h"
#include "settings.h"
#include "sysstat.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Libraries (DT_NEEDED, as they appear in .dynstr) and symbols whose
 * presence means the hooks see the program's TLS. The tables of this file
 * hold arrays, not pointers: no relocations for the loader to apply in
 * every process the hook object is loaded into (bench fig 4). */
static const char hookable_marks[][18] = {
    "libssl.so", "libcurl.so", "libcurl-gnutls.so", "SSL_write", "SSL_read",
};

/* Signs of a TLS stack of the program's own, searched in the whole file
 * when no hookable mark is there. */
static const struct {
    char mark[14], why[26];
} own_tls_marks[] = {
    { ".go.buildinfo", "Go" },           /* section name: a Go binary */
    { "BoringSSL", "BoringSSL (Bun, Chromium)" },
    { "rustls", "rustls" },
};

static void set_why(char *why, size_t n, const char *s)
{
    if (why && n)
        snprintf(why, n, "%s", s);
}

/* Bounds-checked view of the file. */
static bool in_file(size_t n, uint64_t off, uint64_t len)
{
    return off <= n && len <= n - off;
}

/* The .dynstr section's bytes, located through the section headers (a
 * stripped binary keeps them); NULL when absent. */
static const unsigned char *dynstr(const unsigned char *p, size_t n, size_t *len)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)p;

    if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(n, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)) ||
        eh->e_shstrndx >= eh->e_shnum)
        return NULL;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(p + eh->e_shoff);
    const Elf64_Shdr *ss = &sh[eh->e_shstrndx];
    if (!in_file(n, ss->sh_offset, ss->sh_size))
        return NULL;
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_STRTAB || sh[i].sh_name >= ss->sh_size)
            continue;
        const char *name = (const char *)p + ss->sh_offset + sh[i].sh_name;
        size_t max = ss->sh_size - sh[i].sh_name;
        if (strnlen(name, max) == 7 && !memcmp(name, ".dynstr", 7) &&
            in_file(n, sh[i].sh_offset, sh[i].sh_size)) {
            *len = sh[i].sh_size;
            return p + sh[i].sh_offset;
        }
    }
    return NULL;
}

/* Whether the dynamic symbol table defines (not imports) name: an
 * executable that carries its own OpenSSL and exports it (the official
 * Node builds) calls it internally, past any preload. */
static bool defines_symbol(const unsigned char *p, size_t n, const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)p;

    if (eh->e_shentsize != sizeof(Elf64_Shdr) ||
        !in_file(n, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr)))
        return false;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(const void *)(p + eh->e_shoff);
    for (size_t i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum ||
            sh[i].sh_entsize != sizeof(Elf64_Sym) ||
            !in_file(n, sh[i].sh_offset, sh[i].sh_size))
            continue;
        const Elf64_Shdr *st = &sh[sh[i].sh_link];
        if (!in_file(n, st->sh_offset, st->sh_size))
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(const void *)(p + sh[i].sh_offset);
        size_t count = sh[i].sh_size / sizeof(Elf64_Sym);
        size_t nl = strlen(name);
        for (size_t k = 0; k < count; k++) {
            if (sym[k].st_name >= st->sh_size || sym[k].st_shndx == SHN_UNDEF)
                continue;
            const char *s = (const char *)p + st->sh_offset + sym[k].st_name;
            if (strnlen(s, st->sh_size - sym[k].st_name) == nl && !memcmp(s, name, nl))
                return true;
        }
    }
    return false;
}

bool tt_elf_inline_on(void)
{
    return !tt_settings_false(tt_settings()->inline_hooks);
}

enum tt_elf_verdict tt_elf_judge_mem(const unsigned char *p, size_t n,
                                     char *why, size_t why_n)
{
    if (n < sizeof(Elf64_Ehdr) || memcmp(p, ELFMAG, SELFMAG) != 0) {
        set_why(why, why_n, "not an ELF executable");
        return TT_ELF_HOOKABLE;
    }
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)(const void *)p;
    if (p[EI_CLASS] != ELFCLASS64 || eh->e_phentsize != sizeof(Elf64_Phdr) ||
        !in_file(n, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr))) {
        set_why(why, why_n, "not a 64-bit ELF executable");
        return TT_ELF_HOOKABLE;
    }
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(const void *)(p + eh->e_phoff);
    bool interp = false;
    for (size_t i = 0; i < eh->e_phnum; i++)
        interp |= ph[i].p_type == PT_INTERP;
    if (!interp) {
        set_why(why, why_n, "static (no dynamic loader: LD_PRELOAD is never read)");
        return TT_ELF_STATIC;
    }
    size_t dl = 0;
    const unsigned char *ds = dynstr(p, n, &dl);
    if (!(ds && memmem(ds, dl, "libssl.so", 9)) && defines_symbol(p, n, "SSL_write")) {
        /* The inline hooks (issue #10) patch these, all or nothing. */
        static const char need[][20] = { "SSL_read", "SSL_free",
                                            "SSL_get_servername", "SSL_get_error" };
        bool all = eh->e_machine == EM_X86_64;
        for (size_t i = 0; all && i < sizeof(need) / sizeof(need[0]); i++)
            all = defines_symbol(p, n, need[i]);
        if (all) {
            set_why(why, why_n, "its own OpenSSL, exported (as in the official Node "
                    "builds): traced by the inline hooks");
            return TT_ELF_OWN_OPENSSL;
        }
        set_why(why, why_n, "its own OpenSSL (SSL_* defined in the executable) "
                "without every function the inline hooks need");
        return TT_ELF_OWN_TLS;
    }
    for (size_t i = 0; ds && i < sizeof(hookable_marks) / sizeof(hookable_marks[0]); i++)
        if (memmem(ds, dl, hookable_marks[i], strlen(hookable_marks[i]))) {
            char b[80];
            snprintf(b, sizeof(b), "dynamic, %s", hookable_marks[i]);
            set_why(why, why_n, b);
            return TT_ELF_HOOKABLE;
        }
    for (size_t i = 0; i < sizeof(own_tls_marks) / sizeof(own_tls_marks[0]); i++)
        if (memmem(p, n, own_tls_marks[i].mark, strlen(own_tls_marks[i].mark))) {
            char b[96];
            snprintf(b, sizeof(b), "its own TLS (%s), no hookable symbol",
                     own_tls_marks[i].why);
            set_why(why, why_n, b);
            return TT_ELF_OWN_TLS;
        }
    set_why(why, why_n, "dynamic, no TLS of its own");
    return TT_ELF_HOOKABLE;
}

bool tt_elf_which(const char *file, const char *path_env, char *out, size_t n)
{
    if (!file || !*file)
        return false;
    if (strchr(file, '/')) {
        int w = snprintf(out, n, "%s", file);
        return w > 0 && (size_t)w < n;
    }
    const char *p = path_env && *path_env ? path_env : "/usr/local/bin:/bin:/usr/bin";
    while (*p) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        int w = dl ? snprintf(out, n, "%.*s/%s", (int)dl, p, file)
                   : snprintf(out, n, "./%s", file);
        if (w > 0 && (size_t)w < n && access(out, X_OK) == 0) {
            struct stat st;
            if (tt_sys_stat(out, &st) == 0 && S_ISREG(st.st_mode))
                return true;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return false;
}

/* "#!INTERP [ARG]": the program that really runs (env NAME: NAME on PATH). */
static bool shebang_target(const unsigned char *p, size_t n, char *out, size_t on)
{
    char line[256];
    size_t k = 0;

    if (n < 3 || p[0] != '#' || p[1] != '!')
        return false;
    for (size_t i = 2; i < n && p[i] != '\n' && k < sizeof(line) - 1; i++)
        line[k++] = (char)p[i];
    line[k] = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t')
        s++;
    char *interp = s;
    while (*s && *s != ' ' && *s != '\t')
        s++;
    if (*s)
        *s++ = '\0';
    while (*s == ' ' || *s == '\t')
        s++;
    const char *b = strrchr(interp, '/');
    if (b && !strcmp(b + 1, "env") && *s) {
        char *arg = s;
        /* env -S "node --flag": the first word after the options */
        while (*arg == '-') {
            while (*arg && *arg != ' ')
                arg++;
            while (*arg == ' ')
                arg++;
        }
        char *end = arg;
        while (*end && *end != ' ' && *end != '\t')
            end++;
        *end = '\0';
        return *arg && tt_elf_which(arg, getenv("PATH"), out, on);
    }
    int w = snprintf(out, on, "%s", interp);
    return *interp && w > 0 && (size_t)w < on;
}

static enum tt_elf_verdict judge_path(const char *path, char *why, size_t why_n,
                                      int depth)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    enum tt_elf_verdict v = TT_ELF_NOT_FOUND;

    if (fd < 0) {
        set_why(why, why_n, "cannot be read");
        return TT_ELF_NOT_FOUND;
    }
    if (tt_sys_fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        set_why(why, why_n, "not a regular file");
        goto out;
    }
    void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m == MAP_FAILED) {
        set_why(why, why_n, "cannot be mapped");
        goto out;
    }
    char target[4096];
    if (depth == 0 && shebang_target(m, (size_t)st.st_size, target, sizeof(target))) {
        munmap(m, (size_t)st.st_size);
        close(fd);
        return judge_path(target, why, why_n, depth + 1);
    }
    v = tt_elf_judge_mem(m, (size_t)st.st_size, why, why_n);
    munmap(m, (size_t)st.st_size);
out:
    close(fd);
    return v;
}

enum tt_elf_verdict tt_elf_judge(const char *path, char *why, size_t why_n)
{
    return judge_path(path, why, why_n, 0);
}

enum tt_elf_verdict tt_elf_judge_cached(const char *path, const char *cache_dir,
                                        char *why, size_t why_n)
{
    struct stat st;
    char file[4096 + 128], buf[160];

    if (!cache_dir || tt_sys_stat(path, &st) != 0)
        return tt_elf_judge(path, why, why_n);
    /* A script's verdict is its interpreter's: the key is the script, the
     * interpreter changing under it is rare enough. */
    int w = snprintf(file, sizeof(file), "%s/%llx-%llx-%lld.%ld-%lld", cache_dir,
                     (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
                     (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec,
                     (long long)st.st_size);
    if (w <= 0 || (size_t)w >= sizeof(file))
        return tt_elf_judge(path, why, why_n);
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (r >= 1 && buf[0] >= '0' && buf[0] <= '4') {
            buf[r] = '\0';
            char *nl = strchr(buf, '\n');
            if (nl)
                *nl = '\0';
            set_why(why, why_n, r > 2 ? buf + 2 : "");
            return (enum tt_elf_verdict)(buf[0] - '0');
        }
    }
    char reason[128];
    enum tt_elf_verdict v = tt_elf_judge(path, reason, sizeof(reason));
    set_why(why, why_n, reason);
    if (v == TT_ELF_NOT_FOUND)
        return v;
    (void)mkdir(cache_dir, 0700);
    /* Written under a temporary name and renamed: readers see all or
     * nothing. */
    char tmp[sizeof(file) + 32];
    w = snprintf(tmp, sizeof(tmp), "%s.%d", file, (int)getpid());
    if (w <= 0 || (size_t)w >= sizeof(tmp))
        return v;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        int len = snprintf(buf, sizeof(buf), "%d %s\n", (int)v, reason);
        bool ok = len > 0 && write(fd, buf, (size_t)len) == len;
        ok = close(fd) == 0 && ok;
        if (!ok || rename(tmp, file) != 0)
            unlink(tmp);
    }
    return v;
}

static const struct {
    char env[23], route[10];    /* route "": none */
} base_envs[] = {
    { "OPENAI_BASE_URL", "openai" },
    { "OPENAI_API_BASE", "openai" },
    { "ANTHROPIC_BASE_URL", "anthropic" },
    { "GOOGLE_GEMINI_BASE_URL", "gemini" },
    { "OLLAMA_HOST", "" },
};

const char *tt_gw_base_var(size_t i)
{
    return i < sizeof(base_envs) / sizeof(base_envs[0]) ? base_envs[i].env : NULL;
}

const char *tt_gw_base_route(size_t i)
{
    return i < sizeof(base_envs) / sizeof(base_envs[0]) && base_envs[i].route[0]
               ? base_envs[i].route
               : NULL;
}

bool tt_gw_base_env(size_t i, unsigned port, char *out, size_t n)
{
    int w;

    if (i >= sizeof(base_envs) / sizeof(base_envs[0]))
        return false;
    if (base_envs[i].route[0])
        w = snprintf(out, n, "%s=http://127.0.0.1:%u/%s", base_envs[i].env, port,
                     base_envs[i].route);
    else
        w = snprintf(out, n, "%s=127.0.0.1:%u", base_envs[i].env, port);
    return w > 0 && (size_t)w < n;
}
