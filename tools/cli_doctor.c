/* cli_doctor.c - `tokentap doctor [CMD]`: can this program be traced, and
 * is tokentap itself healthy?
 *
 * The program check reads the executable's ELF headers directly (no ldd,
 * which would run the program's loader): static or dynamic, what it links
 * (DT_NEEDED), whether it carries its own TLS stack (SSL_write exported by
 * the executable, Go, rustls, BoringSSL), and whether the loader would
 * ignore LD_PRELOAD (setuid/setgid, file capabilities). Scripts are judged
 * by their interpreter. */
#include "cli.h"
#include "elfcheck.h"
#include "sink.h"
#include "http.h"
#include "fwd.h"
#include "config.h"
#include "clickhouse.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "daemon_client.h"

/* ------------------------------------------------------------ ELF */

struct elf_view {
    const unsigned char *p;
    size_t n;
    bool is64;
};

static bool in_file(const struct elf_view *e, uint64_t off, uint64_t len)
{
    return off <= e->n && len <= e->n - off;
}

/* File offset of virtual address va, through the PT_LOAD segments. */
static bool va_to_off(const struct elf_view *e, uint64_t va, uint64_t *off)
{
    uint64_t phoff, phnum, phentsize;

    if (e->is64) {
        const Elf64_Ehdr *h = (const void *)e->p;
        phoff = h->e_phoff, phnum = h->e_phnum, phentsize = h->e_phentsize;
    } else {
        const Elf32_Ehdr *h = (const void *)e->p;
        phoff = h->e_phoff, phnum = h->e_phnum, phentsize = h->e_phentsize;
    }
    for (uint64_t i = 0; i < phnum; i++) {
        uint64_t o = phoff + i * phentsize, type, vaddr, offset, filesz;
        if (!in_file(e, o, e->is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
            return false;
        if (e->is64) {
            Elf64_Phdr ph;
            memcpy(&ph, e->p + o, sizeof(ph));
            type = ph.p_type, vaddr = ph.p_vaddr, offset = ph.p_offset, filesz = ph.p_filesz;
        } else {
            Elf32_Phdr ph;
            memcpy(&ph, e->p + o, sizeof(ph));
            type = ph.p_type, vaddr = ph.p_vaddr, offset = ph.p_offset, filesz = ph.p_filesz;
        }
        if (type == PT_LOAD && va >= vaddr && va - vaddr < filesz) {
            *off = offset + (va - vaddr);
            return true;
        }
    }
    return false;
}

struct shdr {
    uint64_t type, offset, size, link, entsize, name;
};

static bool get_shdr(const struct elf_view *e, uint64_t i, struct shdr *s)
{
    uint64_t shoff, shentsize, shnum;

    if (e->is64) {
        const Elf64_Ehdr *h = (const void *)e->p;
        shoff = h->e_shoff, shentsize = h->e_shentsize, shnum = h->e_shnum;
    } else {
        const Elf32_Ehdr *h = (const void *)e->p;
        shoff = h->e_shoff, shentsize = h->e_shentsize, shnum = h->e_shnum;
    }
    uint64_t o = shoff + i * shentsize;
    if (i >= shnum || !shoff ||
        !in_file(e, o, e->is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr)))
        return false;
    if (e->is64) {
        Elf64_Shdr sh;
        memcpy(&sh, e->p + o, sizeof(sh));
        *s = (struct shdr){ sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_link,
                            sh.sh_entsize, sh.sh_name };
    } else {
        Elf32_Shdr sh;
        memcpy(&sh, e->p + o, sizeof(sh));
        *s = (struct shdr){ sh.sh_type, sh.sh_offset, sh.sh_size, sh.sh_link,
                            sh.sh_entsize, sh.sh_name };
    }
    return true;
}

static const char *str_at(const struct elf_view *e, uint64_t tab, uint64_t tabsz,
                          uint64_t idx)
{
    if (idx >= tabsz || !in_file(e, tab, tabsz))
        return NULL;
    const char *s = (const char *)e->p + tab + idx;
    return memchr(s, '\0', tabsz - idx) ? s : NULL;
}

/* Symbol tables: SSL_write defined by the file itself, runtime.main (Go). */
static void scan_symbols(const struct elf_view *e, struct tt_cli_elf *out)
{
    struct shdr sh, strsh, names;
    uint16_t shstrndx = e->is64 ? ((const Elf64_Ehdr *)(const void *)e->p)->e_shstrndx
                                : ((const Elf32_Ehdr *)(const void *)e->p)->e_shstrndx;
    bool have_names = get_shdr(e, shstrndx, &names);

    for (uint64_t i = 0; get_shdr(e, i, &sh); i++) {
        if (have_names) {
            const char *nm = str_at(e, names.offset, names.size, sh.name);
            if (nm && strcmp(nm, ".go.buildinfo") == 0)
                out->go = true;
        }
        if (sh.type != SHT_DYNSYM && sh.type != SHT_SYMTAB)
            continue;
        if (!get_shdr(e, sh.link, &strsh))
            continue;
        size_t esz = e->is64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
        if (!in_file(e, sh.offset, sh.size))
            continue;
        for (uint64_t o = sh.offset; o + esz <= sh.offset + sh.size; o += esz) {
            uint64_t name, shndx;
            if (e->is64) {
                Elf64_Sym sy;
                memcpy(&sy, e->p + o, sizeof(sy));
                name = sy.st_name, shndx = sy.st_shndx;
            } else {
                Elf32_Sym sy;
                memcpy(&sy, e->p + o, sizeof(sy));
                name = sy.st_name, shndx = sy.st_shndx;
            }
            const char *nm = str_at(e, strsh.offset, strsh.size, name);
            if (!nm)
                continue;
            if (sh.type == SHT_DYNSYM && shndx != SHN_UNDEF && strncmp(nm, "SSL_", 4) == 0) {
                static const struct { const char *n; unsigned bit; } own[] = {
                    { "SSL_write", TT_CLI_SSL_WRITE }, { "SSL_read", TT_CLI_SSL_READ },
                    { "SSL_free", TT_CLI_SSL_FREE },
                    { "SSL_get_servername", TT_CLI_SSL_SERVERNAME },
                    { "SSL_get_error", TT_CLI_SSL_GET_ERROR },
                };
                for (size_t k = 0; k < sizeof(own) / sizeof(own[0]); k++)
                    if (strcmp(nm, own[k].n) == 0)
                        out->own_ssl |= own[k].bit;
                if (strcmp(nm, "SSL_write") == 0)
                    out->exports_ssl_write = true;
            }
            if (strcmp(nm, "runtime.main") == 0)
                out->go = true;
        }
    }
}

static void scan_dynamic(const struct elf_view *e, uint64_t off, uint64_t size,
                         struct tt_cli_elf *out)
{
    uint64_t strtab_va = 0, strsz = 0, strtab;
    size_t esz = e->is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
    uint64_t needed[64];
    size_t nneeded = 0;

    if (!in_file(e, off, size))
        return;
    for (uint64_t o = off; o + esz <= off + size; o += esz) {
        int64_t tag;
        uint64_t val;
        if (e->is64) {
            Elf64_Dyn d;
            memcpy(&d, e->p + o, sizeof(d));
            tag = d.d_tag, val = d.d_un.d_val;
        } else {
            Elf32_Dyn d;
            memcpy(&d, e->p + o, sizeof(d));
            tag = d.d_tag, val = d.d_un.d_val;
        }
        if (tag == DT_NULL)
            break;
        if (tag == DT_STRTAB)
            strtab_va = val;
        else if (tag == DT_STRSZ)
            strsz = val;
        else if (tag == DT_NEEDED && nneeded < 64)
            needed[nneeded++] = val;
    }
    if (!strtab_va || !va_to_off(e, strtab_va, &strtab))
        return;
    if (!in_file(e, strtab, strsz))
        strsz = strtab < e->n ? e->n - strtab : 0;
    for (size_t i = 0; i < nneeded; i++) {
        const char *nm = str_at(e, strtab, strsz, needed[i]);
        if (!nm)
            continue;
        if (strncmp(nm, "libssl.so", 9) == 0 || strncmp(nm, "libgnutls.so", 12) == 0)
            out->needs_ssl = true;
        if (strncmp(nm, "libcurl", 7) == 0)
            out->needs_curl = true;
        if (strncmp(nm, "libc.so", 7) == 0)
            out->needs_libc = true;
        size_t l = strlen(out->needed);
        snprintf(out->needed + l, sizeof(out->needed) - l, "%s%s", l ? "," : "", nm);
    }
}

#if defined(__x86_64__)
#define TT_CLI_ELF_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define TT_CLI_ELF_MACHINE EM_AARCH64
#else
#error "tokentap builds for x86-64 and aarch64"
#endif

int tt_cli_elf_inspect(const char *path, struct tt_cli_elf *out)
{
    struct stat sb;
    int fd;
    void *map;

    memset(out, 0, sizeof(*out));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return TT_ERR_IO;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 64) {
        close(fd);
        return S_ISREG(sb.st_mode) ? TT_OK : (errno = EISDIR, TT_ERR_IO);
    }
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return TT_ERR_IO;
    struct elf_view e = { .p = map, .n = (size_t)sb.st_size };
    if (memcmp(e.p, ELFMAG, SELFMAG) != 0 || e.p[EI_DATA] != ELFDATA2LSB ||
        (e.p[EI_CLASS] != ELFCLASS64 && e.p[EI_CLASS] != ELFCLASS32))
        goto out;
    out->elf = true;
    e.is64 = e.p[EI_CLASS] == ELFCLASS64;
    out->is64 = e.is64;
    out->machine = e.is64 ? ((const Elf64_Ehdr *)(const void *)e.p)->e_machine
                          : ((const Elf32_Ehdr *)(const void *)e.p)->e_machine;

    uint64_t phoff, phnum, phentsize;
    if (e.is64) {
        const Elf64_Ehdr *h = (const void *)e.p;
        phoff = h->e_phoff, phnum = h->e_phnum, phentsize = h->e_phentsize;
    } else {
        const Elf32_Ehdr *h = (const void *)e.p;
        phoff = h->e_phoff, phnum = h->e_phnum, phentsize = h->e_phentsize;
    }
    for (uint64_t i = 0; i < phnum; i++) {
        uint64_t o = phoff + i * phentsize, type, offset, filesz;
        if (!in_file(&e, o, e.is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
            break;
        if (e.is64) {
            Elf64_Phdr ph;
            memcpy(&ph, e.p + o, sizeof(ph));
            type = ph.p_type, offset = ph.p_offset, filesz = ph.p_filesz;
        } else {
            Elf32_Phdr ph;
            memcpy(&ph, e.p + o, sizeof(ph));
            type = ph.p_type, offset = ph.p_offset, filesz = ph.p_filesz;
        }
        if (type == PT_INTERP)
            out->dynamic = true;
        else if (type == PT_DYNAMIC) {
            scan_dynamic(&e, offset, filesz, out);
            /* A static-pie has PT_DYNAMIC but no interpreter and no
             * DT_NEEDED: the loader never runs, LD_PRELOAD means nothing. */
            if (out->needed[0])
                out->dynamic = true;
        }
    }
    scan_symbols(&e, out);
    out->rustls = memmem(e.p, e.n, "rustls", 6) != NULL;
    out->boringssl = memmem(e.p, e.n, "BoringSSL", 9) != NULL;
    out->openssl_text = memmem(e.p, e.n, "OpenSSL 3.", 10) != NULL ||
                        memmem(e.p, e.n, "OpenSSL 1.1.", 12) != NULL;
    out->glibc_static_text = memmem(e.p, e.n, "GLIBC_TUNABLES", 14) != NULL;
out:
    munmap(map, (size_t)sb.st_size);
    return TT_OK;
}

/* ------------------------------------------------------ classification */

#define BIN(k, t, n, ...)                                                     \
    do {                                                                      \
        out->kind = (k), out->traced = (t), out->name = (n);                  \
        snprintf(out->why, sizeof(out->why), __VA_ARGS__);                    \
    } while (0)

void tt_cli_bin_classify(const struct tt_cli_elf *e, struct tt_cli_bin *out)
{
    memset(out, 0, sizeof(*out));
    if (!e->elf) {
        BIN(TT_BIN_NOT_ELF, false, "not-elf", "neither an ELF executable nor a #! script");
        return;
    }
    if (!e->is64 || e->machine != TT_CLI_ELF_MACHINE) {
        /* The preload is built for one architecture: the loader skips it for
         * any other ("wrong ELF class" on stderr) and runs the program
         * untraced (issue #9). */
        BIN(TT_BIN_FOREIGN_ARCH, false, e->is64 ? "foreign-arch" : "32-bit",
            "a %s program (%s): the preload is a 64-bit %s library, so the loader "
            "skips it (printing \"wrong ELF class\") and nothing is traced",
            e->is64 ? "64-bit" : "32-bit",
            e->machine == EM_386 ? "i386" : e->machine == EM_ARM ? "arm" :
            e->machine == EM_X86_64 ? "x86-64" : e->machine == EM_AARCH64 ? "aarch64" :
            "another architecture", TT_CLI_ELF_MACHINE == EM_X86_64 ? "x86-64" : "aarch64");
        return;
    }
    if (e->go) {
        BIN(TT_BIN_GO, false, "go", "a Go program: Go has its own TLS (crypto/tls) and "
            "makes its system calls itself, so HTTPS calls cannot be seen%s",
            e->dynamic ? " (plain HTTP to a local server can)" : "");
        return;
    }
    if (!e->dynamic) {
        if (e->glibc_static_text)
            BIN(TT_BIN_STATIC_GLIBC, false, "static-glibc", "statically linked (glibc): "
                "there is no dynamic loader, LD_PRELOAD has no effect on it (use a "
                "dynamically linked build, or export from the program itself via "
                "OpenTelemetry)");
        else
            BIN(TT_BIN_STATIC_MUSL, false, "static-musl", "statically linked (musl or "
                "another libc): there is no dynamic loader, LD_PRELOAD has no effect on "
                "it (use a dynamically linked build, or export from the program itself "
                "via OpenTelemetry)");
        return;
    }
    if (e->needs_curl) {
        BIN(TT_BIN_LIBCURL, true, "libcurl", "uses libcurl: calls are traced at the "
            "libcurl API");
        return;
    }
    if (e->needs_ssl) {
        BIN(TT_BIN_LIBSSL, true, "libssl", "uses the system OpenSSL (libssl): HTTPS "
            "calls are traced");
        return;
    }
    if (e->exports_ssl_write) {
        unsigned missing = TT_CLI_SSL_ALL & ~e->own_ssl;
        if (e->machine == EM_X86_64 && !missing) {
            BIN(TT_BIN_OWN_OPENSSL, true, "own-openssl", "carries its own OpenSSL "
                "(SSL_read/SSL_write/SSL_free defined and exported by the executable, "
                "as in the official Node.js builds): traced by inline hooks on those "
                "functions (TOKENTAP_INLINE=off turns them off)");
        } else if (e->machine != EM_X86_64) {
            BIN(TT_BIN_OWN_OPENSSL_UNHOOKABLE, false, "own-openssl", "carries its own "
                "OpenSSL, which tokentap hooks inline on x86-64 only: on this "
                "architecture its HTTPS calls are not seen (plain HTTP is)");
        } else {
            BIN(TT_BIN_OWN_OPENSSL_UNHOOKABLE, false, "own-openssl", "carries its own "
                "OpenSSL but does not export %s%s%s%s: the inline hooks need them, its "
                "HTTPS calls are not seen",
                (missing & TT_CLI_SSL_READ) ? "SSL_read " : "",
                (missing & TT_CLI_SSL_FREE) ? "SSL_free " : "",
                (missing & TT_CLI_SSL_SERVERNAME) ? "SSL_get_servername " : "",
                (missing & TT_CLI_SSL_GET_ERROR) ? "SSL_get_error" : "");
        }
        return;
    }
    if (e->boringssl) {
        BIN(TT_BIN_BORINGSSL, false, "boringssl", "embeds BoringSSL without exported "
            "symbols (as Bun and Electron do): its TLS calls bypass the preload and "
            "there is nothing to hook by name");
        return;
    }
    if (e->rustls) {
        BIN(TT_BIN_RUSTLS, false, "rustls", "appears to use rustls (Rust TLS) instead "
            "of OpenSSL: its HTTPS calls cannot be seen; build it with native-tls/openssl");
        return;
    }
    if (e->openssl_text) {
        BIN(TT_BIN_OPENSSL_HIDDEN, false, "openssl-hidden", "carries its own OpenSSL "
            "without exported symbols: its TLS calls bypass the preload and there is "
            "nothing to hook by name");
        return;
    }
    BIN(TT_BIN_PLAIN, true, "plain", "no libssl or libcurl in its dependencies: traced "
        "if it loads them at run time (python's _ssl, ruby, ...) or speaks plain HTTP");
}

/* ---------------------------------------------------------- doctor */

struct report {
    int problems;
    bool colour;
};

static void say(struct report *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#include <stdarg.h>

/* level: 0 ok, 1 note (no effect on the verdict), 2 problem. */
static void say(struct report *r, int level, const char *fmt, ...)
{
    static const char *tag[] = { "ok  ", "note", "FAIL" };
    static const char *col[] = { "\033[32m", "\033[33m", "\033[31m" };
    va_list ap;

    if (level == 2)
        r->problems++;
    printf("  %s%s%s  ", r->colour ? col[level] : "", tag[level],
           r->colour ? "\033[0m" : "");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

/* CMD on PATH (a name with a '/' is taken as is). */
static bool resolve_cmd(const char *cmd, char *out, size_t n)
{
    /* realpath writes at most PATH_MAX bytes. */
    if (n < PATH_MAX)
        return false;
    if (strchr(cmd, '/'))
        return realpath(cmd, out) != NULL;
    const char *path = getenv("PATH");
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path; *p;) {
        const char *c = strchr(p, ':');
        size_t len = c ? (size_t)(c - p) : strlen(p);
        char cand[PATH_MAX];
        snprintf(cand, sizeof(cand), "%.*s/%s", (int)len, len ? p : ".", cmd);
        if (access(cand, X_OK) == 0) {
            struct stat sb;
            if (stat(cand, &sb) == 0 && S_ISREG(sb.st_mode))
                return realpath(cand, out) != NULL;
        }
        if (!c)
            break;
        p = c + 1;
    }
    return false;
}

/* Judge one executable; depth bounds #! chains. */
static void check_program(struct report *r, const char *cmd, int depth)
{
    char path[PATH_MAX];
    struct stat sb;
    struct tt_cli_elf e;

    if (!resolve_cmd(cmd, path, sizeof(path))) {
        say(r, 2, "%s: not found on PATH (give a path, or fix PATH)", cmd);
        return;
    }
    say(r, 0, "%s resolves to %s", cmd, path);
    if (stat(path, &sb) != 0) {
        say(r, 2, "%s: %s", path, strerror(errno));
        return;
    }
    if (sb.st_mode & (S_ISUID | S_ISGID)) {
        say(r, 2, "%s is set%s: the loader ignores LD_PRELOAD for it "
            "(run a copy without the bit, or trace its caller)", path,
            (sb.st_mode & S_ISUID) ? "uid" : "gid");
    }
    if (getxattr(path, "security.capability", NULL, 0) > 0)
        say(r, 2, "%s has file capabilities (security.capability): the loader "
            "ignores LD_PRELOAD for it (run a copy without them)", path);

    /* A script: its interpreter is what runs. */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char head[256] = "";
    if (fd >= 0) {
        ssize_t k = read(fd, head, sizeof(head) - 1);
        head[k > 0 ? k : 0] = '\0';
        close(fd);
    }
    if (head[0] == '#' && head[1] == '!') {
        char *p = head + 2, *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        while (*p == ' ' || *p == '\t')
            p++;
        char *sp = strpbrk(p, " \t");
        char interp[PATH_MAX];
        snprintf(interp, sizeof(interp), "%.*s", sp ? (int)(sp - p) : (int)strlen(p), p);
        /* #!/usr/bin/env python3: the program is env's argument. */
        if (sp && strcmp(strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp, "env") == 0) {
            while (*sp == ' ' || *sp == '\t')
                sp++;
            char *end = strpbrk(sp, " \t");
            snprintf(interp, sizeof(interp), "%.*s", end ? (int)(end - sp) : (int)strlen(sp), sp);
        }
        say(r, 0, "%s is a script run by %s; checking that", path, interp);
        if (depth < 4)
            check_program(r, interp, depth + 1);
        else
            say(r, 2, "too many nested #! interpreters");
        return;
    }
    if (tt_cli_elf_inspect(path, &e) != TT_OK) {
        say(r, 2, "%s: cannot read it: %s", path, strerror(errno));
        return;
    }
    struct tt_cli_bin bin;
    tt_cli_bin_classify(&e, &bin);
    if (e.dynamic)
        say(r, 0, "dynamically linked (needs %s)", e.needed[0] ? e.needed : "nothing");
    if (bin.kind == TT_BIN_PLAIN)
        say(r, 1, "[%s] %s", bin.name, bin.why);
    else
        say(r, bin.traced ? 0 : 2, "[%s] %s %s", bin.name, path, bin.why);
    if (bin.kind == TT_BIN_OWN_OPENSSL) {
        if (!tt_elf_inline_on())
            say(r, 2, "TOKENTAP_INLINE=%s is set: the inline hooks are off, its HTTPS "
                "calls will not be seen (except through --gateway)",
                getenv("TOKENTAP_INLINE"));
        void *z = dlopen("libZydis.so.4.0", RTLD_LAZY | RTLD_LOCAL);
        if (z)
            dlclose(z);
        else
            say(r, 2, "libZydis.so.4.0 (Debian: libzydis4.0) not found: the inline hooks "
                "need it to decode the functions they patch");
    }
}

static void check_self(struct report *r, const char *dbopt)
{
    char self[PATH_MAX], lib[PATH_MAX + 32], real[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    struct tt_cli_health h;

    if (n > 0) {
        self[n] = '\0';
        char *slash = strrchr(self, '/');
        if (slash)
            *slash = '\0';
        snprintf(lib, sizeof(lib), "%s/../lib/libtokentap.so", self);
        if (realpath(lib, real) && access(real, R_OK) == 0)
            say(r, 0, "preload library %s", real);
        else
            say(r, 2, "preload library %s missing: reinstall (make install) or run make", lib);
        /* The capture core, loaded from beside the preload (hooks/core.c). */
        snprintf(lib, sizeof(lib), "%s/../lib/libtokentap-core.so", self);
        if (realpath(lib, real) && access(real, R_OK) == 0)
            say(r, 0, "capture core %s", real);
        else
            say(r, 2, "capture core %s missing: reinstall (make install) or run make", lib);
        snprintf(lib, sizeof(lib), "%s/tokentapd", self);
        if (access(lib, X_OK) == 0)
            say(r, 0, "daemon %s", lib);
        else
            say(r, 2, "daemon %s missing: reinstall (make install) or run make", lib);
    }
    if (tt_cli_stats_collect(dbopt, &h) != TT_OK) {
        say(r, 2, "cannot resolve the store path (%s); set TOKENTAP_DB or HOME",
            strerror(errno));
        return;
    }
    if (!h.store_exists) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", h.db);
        char *sl = strrchr(dir, '/');
        if (sl)
            *sl = '\0';
        if (access(dir, W_OK) == 0)
            say(r, 0, "store %s not created yet (its directory is writable)", h.db);
        else
            say(r, 2, "store directory %s is not writable: set TOKENTAP_DB to a "
                "writable path", dir);
    } else if (!h.store_readable) {
        say(r, 2, "store %s cannot be read (corrupt, or another schema): move it "
            "aside, or point TOKENTAP_DB elsewhere", h.db);
    } else if (access(h.db, W_OK) != 0) {
        say(r, 2, "store %s is not writable by you: fix its permissions or set "
            "TOKENTAP_DB", h.db);
    } else {
        say(r, 0, "store %s (%lld spans), writable", h.db, (long long)h.spans);
    }
    if (h.daemon_up)
        say(r, 0, "daemon answers on %s (pid %lld)", h.sock, (long long)h.daemon_pid);
    else
        say(r, 1, "no daemon on %s: `tokentap run` starts a private one; for "
            "LD_PRELOAD by hand start tokentapd", h.sock[0] ? h.sock : "(no socket path)");
    if (h.spool_files)
        say(r, 2, "%llu spool file(s), %llu bytes waiting in %s: run any read "
            "command with a writable store (tokentap stats) to ingest them",
            (unsigned long long)h.spool_files, (unsigned long long)h.spool_bytes, h.spool);
    else
        say(r, 0, "spool %s empty", h.spool);
    if (h.lost_total)
        say(r, 1, "%llu span(s) were lost so far (tokentap stats shows why)",
            (unsigned long long)h.lost_total);
}

/* The forwarders the daemon would start, probed from here: an empty OTLP
 * request (a receiver answers 200 to it), a ClickHouse SELECT; and what
 * waits in their queues. */
static void check_forward(struct report *r)
{
    static const char *const names[2] = { "otlp", "clickhouse" };
    bool want[2];
    char dir[PATH_MAX], err[512];

    /* What tokentapd reads: its config scope (nothing is run from here). */
    tt_config_load("tokentap doctor", TT_CONFIG_DAEMON);
    want[0] = tt_sink_otlp_wanted();
    want[1] = tt_sink_clickhouse_wanted();
    if (!want[0] && !want[1])
        say(r, 0, "forwarding off (no OTEL_EXPORTER_OTLP_ENDPOINT, no "
            "TOKENTAP_CLICKHOUSE_URL): spans stay in the local store");
    if (want[0]) {
        const char *tr = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
        const char *base = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
        char url[2048];
        if (tr && *tr)
            snprintf(url, sizeof(url), "%s", tr);
        else
            snprintf(url, sizeof(url), "%s%sv1/traces", base,
                     base[strlen(base) - 1] == '/' ? "" : "/");
        static const char *const hdr[] = { "Content-Type: application/json", NULL };
        struct tt_http_req q = { .url = url, .headers = hdr, .body = "{}", .body_len = 2,
                                 .timeout_ms = 5000 };
        struct tt_http_resp resp;
        int rc = tt_http_do(&q, &resp);
        char shown[2048];
        tt_http_url_redact(url, shown, sizeof(shown));   /* no password on screen */
        if (rc == TT_OK && resp.status >= 200 && resp.status < 300)
            say(r, 0, "OTLP endpoint %s answers (HTTP %ld)", shown, resp.status);
        else if (rc == TT_OK)
            say(r, 2, "OTLP endpoint %s answers HTTP %ld to an empty export: check the "
                "URL (…/v1/traces) and OTEL_EXPORTER_OTLP_HEADERS", shown, resp.status);
        else
            say(r, 1, "OTLP endpoint %s unreachable (%s): spans wait in the queue",
                shown, resp.error);
        tt_http_resp_free(&resp);
    }
    if (want[1]) {
        struct tt_ch ch;
        char *out = NULL;
        if (tt_ch_parse_url(getenv("TOKENTAP_CLICKHOUSE_URL"), &ch, err, sizeof(err)) != TT_OK) {
            say(r, 2, "TOKENTAP_CLICKHOUSE_URL: %s", err);
        } else {
            char sql[400];
            snprintf(sql, sizeof(sql), "EXISTS TABLE %s.%s", ch.db, ch.table);
            if (tt_ch_query(&ch, sql, &out, err, sizeof(err)) != TT_OK)
                say(r, 1, "ClickHouse unreachable or refusing (%s): spans wait in the queue", err);
            else
                say(r, 0, "ClickHouse %s answers; table %s.%s %s", ch.base, ch.db, ch.table,
                    out && out[0] == '1' ? "exists" : "will be created by tokentapd");
            free(out);
        }
    }
    for (int i = 0; i < 2; i++) {
        uint64_t files, recs, bytes;
        if (tt_fwd_default_dir(names[i], dir, sizeof(dir)) != TT_OK)
            continue;
        tt_fwd_queue_size(dir, &files, &recs, &bytes);
        if (recs)
            say(r, 1, "%llu span(s) waiting to be forwarded to %s (%s)",
                (unsigned long long)recs, names[i], dir);
    }
}

int tt_cli_doctor_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL;
    struct report r = { .colour = tt_cli_colour(1) };
    int c;

    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, "+:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dbopt = optarg; break;
        case 'h': fputs(tt_cli_help("doctor"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("doctor", argv, optind, c);
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, "tokentap doctor: one program at a time (got '%s' after "
                "'%s')\n", argv[optind + 1], argv[optind]);
        return TT_CLI_EXIT_USAGE;
    }
    printf("tokentap\n");
    check_self(&r, dbopt);
    check_forward(&r);
    int self_problems = r.problems;
    if (optind < argc) {
        printf("%s\n", argv[optind]);
        check_program(&r, argv[optind], 0);
        char path[PATH_MAX];
        if (resolve_cmd(argv[optind], path, sizeof(path)) &&
            tt_cli_doctor_gateway(path, r.colour) > 0 && r.problems > self_problems)
            printf("gateway: the hooks cannot trace %s; tokentap run -- %s traces it "
                   "through the gateway (--gateway auto)\n", argv[optind], argv[optind]);
    }
    if (r.problems == 0) {
        printf(optind < argc ? "verdict: %s can be traced: tokentap run -- %s\n"
                             : "verdict: tokentap is healthy%s%s\n",
               optind < argc ? argv[optind] : "", optind < argc ? argv[optind] : "");
        return TT_CLI_EXIT_OK;
    }
    if (r.problems > self_problems)
        printf("verdict: %s cannot be traced (see FAIL above for what to do)\n",
               argv[optind]);
    else
        printf("verdict: tokentap needs attention (see FAIL above for what to do)\n");
    return TT_CLI_EXIT_ERR;
}
