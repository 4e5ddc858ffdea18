/* inline.c - install inline hooks (inline.h), the portable half: find the
 * functions, check the process is single-threaded, allocate the
 * trampolines near the code, flip page protections, write the patches.
 * Decoding and instruction encoding are inline_arch.h's. */
#include "inline.h"
#include "elfcheck.h"
#include "inline_arch.h"
#include "rt.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tt.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define MAX_TARGETS 16

bool tt_inline_enabled(void)
{
    return tt_elf_inline_on();      /* one reading of TOKENTAP_INLINE */
}

struct obj_search {
    uintptr_t addr;
    struct tt_inline_obj *o;
    bool found;
};

static int obj_cb(struct dl_phdr_info *info, size_t sz, void *ud)
{
    struct obj_search *s = ud;
    const void *dyn = NULL;
    bool inside = false;

    (void)sz;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t b = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && s->addr >= b && s->addr - b < ph->p_memsz)
            inside = true;
        else if (ph->p_type == PT_DYNAMIC)
            dyn = (const void *)b;
    }
    if (!inside)
        return 0;
    *s->o = (struct tt_inline_obj){ info->dlpi_addr, info->dlpi_name ? info->dlpi_name : "",
                                    dyn };
    s->found = true;
    return 1;
}

bool tt_inline_object(const void *addr, struct tt_inline_obj *o)
{
    struct obj_search s = { (uintptr_t)addr, o, false };

    dl_iterate_phdr(obj_cb, &s);
    return s.found;
}

/* Local string helpers for the start-up walk: each libc function the
 * preload calls for the first time costs a lazy symbol resolution through
 * the whole global scope, in every process. */
static bool str_eq(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return *a == *b;
}

struct main_search {
    const char *name;
    struct tt_inline_obj *o;
    bool found;
};

static int main_cb(struct dl_phdr_info *info, size_t sz, void *ud)
{
    struct main_search *s = ud;
    struct tt_inline_obj o = { info->dlpi_addr, info->dlpi_name ? info->dlpi_name : "", NULL };
    size_t size;

    (void)sz;
    for (int i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            o.dyn = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
    if (o.dyn && tt_inline_symbol(&o, s->name, &size)) {
        *s->o = o;
        s->found = true;
    }
    return 1;                   /* the main program comes first: done */
}

/* The main program's link map without a libc call: the head of the list
 * this object's own map is on (rt.c, from GOT[1]). NULL under LD_BIND_NOW
 * or another loader, and the caller walks with dl_iterate_phdr, whose first
 * call through the PLT is a lazy symbol resolution (about 860
 * instructions) plus the walk (about 650), paid by every process at
 * start. */
static const struct link_map *main_map(void)
{
    const struct link_map *l = tt_rt_self_map();

    while (l && l->l_prev)
        l = l->l_prev;
    return l;
}

bool tt_inline_main_defines(const char *name, struct tt_inline_obj *o)
{
    const struct link_map *m = main_map();

    if (m) {
        struct tt_inline_obj mo = { m->l_addr, "", m->l_ld };
        size_t size;

        if (!mo.dyn || !tt_inline_symbol(&mo, name, &size))
            return false;
        *o = mo;
        return true;
    }
    struct main_search s = { name, o, false };

    dl_iterate_phdr(main_cb, &s);
    return s.found;
}

/* A d_ptr of the dynamic section: glibc relocates them in place, musl and
 * an unrelocated view do not. */
static uintptr_t dyn_ptr(const struct tt_inline_obj *o, ElfW(Addr) p)
{
    return p < o->base ? o->base + p : p;
}

static uint32_t gnu_hash(const char *s)
{
    uint32_t h = 5381;

    for (; *s; s++)
        h = h * 33 + (unsigned char)*s;
    return h;
}

static unsigned long sysv_hash(const char *s)
{
    unsigned long h = 0, g;

    for (; *s; s++) {
        h = (h << 4) + (unsigned char)*s;
        if ((g = h & 0xf0000000))
            h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

void *tt_inline_symbol(const struct tt_inline_obj *o, const char *name, size_t *size)
{
    const ElfW(Sym) *symtab = NULL, *hit = NULL;
    const char *strtab = NULL;
    const uint32_t *gnu = NULL;
    const ElfW(Word) *sysv = NULL;

    if (!o->dyn)
        return NULL;
    for (const ElfW(Dyn) *d = o->dyn; d->d_tag != DT_NULL; d++) {
        switch (d->d_tag) {
        case DT_SYMTAB: symtab = (const void *)dyn_ptr(o, d->d_un.d_ptr); break;
        case DT_STRTAB: strtab = (const void *)dyn_ptr(o, d->d_un.d_ptr); break;
        case DT_GNU_HASH: gnu = (const void *)dyn_ptr(o, d->d_un.d_ptr); break;
        case DT_HASH: sysv = (const void *)dyn_ptr(o, d->d_un.d_ptr); break;
        default: break;
        }
        if (gnu && symtab && strtab)
            break;              /* all a GNU-hash lookup needs (early in it) */
    }
    if (!symtab || !strtab)
        return NULL;
    if (gnu) {
        uint32_t nbuckets = gnu[0], symoffset = gnu[1], bloom_size = gnu[2], shift = gnu[3];
        const ElfW(Addr) *bloom = (const void *)(gnu + 4);
        const uint32_t *buckets = (const void *)(bloom + bloom_size);
        const uint32_t *chain = buckets + nbuckets;
        uint32_t h = gnu_hash(name);
        const unsigned bits = sizeof(ElfW(Addr)) * 8;
        ElfW(Addr) word, mask;

        if (!nbuckets || !bloom_size)
            return NULL;
        word = bloom[(h / bits) % bloom_size];
        mask = ((ElfW(Addr))1 << (h % bits)) | ((ElfW(Addr))1 << ((h >> shift) % bits));
        if ((word & mask) != mask)
            return NULL;
        for (uint32_t i = buckets[h % nbuckets]; i >= symoffset; i++) {
            uint32_t h2 = chain[i - symoffset];
            if ((h | 1) == (h2 | 1) && str_eq(name, strtab + symtab[i].st_name)) {
                hit = &symtab[i];
                break;
            }
            if (h2 & 1)
                break;
        }
    } else if (sysv) {
        ElfW(Word) nbucket = sysv[0];
        const ElfW(Word) *bucket = sysv + 2, *chain = bucket + nbucket;
        if (!nbucket)
            return NULL;
        for (ElfW(Word) i = bucket[sysv_hash(name) % nbucket]; i; i = chain[i]) {
            if (str_eq(name, strtab + symtab[i].st_name)) {
                hit = &symtab[i];
                break;
            }
        }
    }
    if (!hit || hit->st_shndx == SHN_UNDEF || ELF64_ST_TYPE(hit->st_info) != STT_FUNC)
        return NULL;
    *size = hit->st_size;
    return (void *)(o->base + hit->st_value);
}

/* Threads other than this one: the patch is only safe with none. */
static int other_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1;
}

/* The loaded object's PT_LOAD segments: its address range, and each
 * target's original protection. */
struct segs {
    const void *addr;
    uintptr_t lo, hi;
    int prot;           /* of the segment holding addr */
    bool found;
};

static int seg_cb(struct dl_phdr_info *info, size_t sz, void *ud)
{
    struct segs *s = ud;
    uintptr_t a = (uintptr_t)s->addr, lo = UINTPTR_MAX, hi = 0;
    int prot = -1;

    (void)sz;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t b = info->dlpi_addr + ph->p_vaddr, e = b + ph->p_memsz;
        if (b < lo)
            lo = b;
        if (e > hi)
            hi = e;
        if (a >= b && a < e)
            prot = ((ph->p_flags & PF_R) ? PROT_READ : 0) |
                   ((ph->p_flags & PF_W) ? PROT_WRITE : 0) |
                   ((ph->p_flags & PF_X) ? PROT_EXEC : 0);
    }
    if (prot < 0)
        return 0;
    s->lo = lo, s->hi = hi, s->prot = prot, s->found = true;
    return 1;
}

/* A page within reach of [lo, hi): below the object first (above it
 * lies the brk heap, which must stay free to grow), then well above. */
static void *near_page(uintptr_t lo, uintptr_t hi, size_t len)
{
    long pg = sysconf(_SC_PAGESIZE);
    uintptr_t step = 1u << 20, page = (uintptr_t)(pg > 0 ? pg : 4096);

    for (int dir = 0; dir < 2; dir++) {
        for (uintptr_t k = 0; k < 2048; k++) {
            uintptr_t a;
            if (dir == 0) {
                uintptr_t base = (lo & ~(page - 1)) - len;
                if (base < 0x10000 + k * step)
                    break;
                a = base - k * step;
            } else {
                a = ((hi + page - 1) & ~(page - 1)) + (256u << 20) + k * step;
            }
            if (!tt_arch_near(a, lo) || !tt_arch_near(a + len, hi))
                break;
            void *m = mmap((void *)a, len, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            if (m == MAP_FAILED)
                continue;
            if ((uintptr_t)m == a)
                return m;
            munmap(m, len);     /* a kernel that took it as a hint */
        }
    }
    return NULL;
}

int tt_inline_install(struct tt_inline_target *t, size_t n, char *why, size_t whylen)
{
    struct tt_arch_reloc rel[MAX_TARGETS];
    uint8_t patch[MAX_TARGETS][32];
    int prot[MAX_TARGETS];
    uint8_t *page = NULL;
    size_t len, page_sz = (size_t)sysconf(_SC_PAGESIZE);
    struct segs s = { 0 };
    int rc = TT_ERR_UNSUPPORTED, threads;
    size_t unprotected = 0;

    if (n == 0 || n > MAX_TARGETS) {
        snprintf(why, whylen, "%zu functions to hook", n);
        return TT_ERR_UNSUPPORTED;
    }
    threads = other_threads();
    if (threads != 0) {
        snprintf(why, whylen, threads < 0 ? "cannot read /proc/self/task"
                                          : "other threads are already running");
        return TT_ERR_UNSUPPORTED;
    }
    for (size_t i = 0; i < n; i++) {
        s = (struct segs){ .addr = t[i].addr };
        dl_iterate_phdr(seg_cb, &s);
        if (!s.found || !(s.prot & PROT_EXEC)) {
            snprintf(why, whylen, "%s is not in an executable segment", t[i].name);
            return TT_ERR_UNSUPPORTED;
        }
        prot[i] = s.prot;
    }
    len = (n * TT_ARCH_SLOT + page_sz - 1) & ~(page_sz - 1);
    page = near_page(s.lo, s.hi, len);
    if (!page) {
        snprintf(why, whylen, "no free memory within reach of the code");
        return TT_ERR_NOMEM;
    }

    /* 1. Thunks and trampolines, still writable. */
    for (size_t i = 0; i < n; i++) {
        uint8_t *slot = page + i * TT_ARCH_SLOT;
        size_t th = tt_arch_thunk(slot, TT_ARCH_SLOT, (uint64_t)(uintptr_t)t[i].hook);
        char w[200];
        if (!th || tt_arch_relocate(t[i].addr, t[i].size, (uint64_t)(uintptr_t)t[i].addr,
                                    slot + th, TT_ARCH_SLOT - th,
                                    (uint64_t)(uintptr_t)(slot + th), &rel[i], w,
                                    sizeof(w)) != TT_OK) {
            snprintf(why, whylen, "%s: %s", t[i].name, th ? w : "no room for the thunk");
            goto fail;
        }
        uint64_t at = (uint64_t)(uintptr_t)t[i].addr + rel[i].skip;
        if (rel[i].patch_len > sizeof(patch[i]) ||
            tt_arch_patch(patch[i], rel[i].patch_len, at, (uint64_t)(uintptr_t)slot) != TT_OK) {
            snprintf(why, whylen, "%s: the patch cannot reach its thunk", t[i].name);
            goto fail;
        }
    }
    if (mprotect(page, len, PROT_READ | PROT_EXEC) != 0) {
        snprintf(why, whylen, "mprotect of the trampolines refused: %s", strerror(errno));
        goto fail;
    }
    /* 2. Every patched range writable, or nothing is written. */
    for (; unprotected < n; unprotected++) {
        uintptr_t a = (uintptr_t)t[unprotected].addr + rel[unprotected].skip;
        uintptr_t b = a & ~(page_sz - 1), e = a + rel[unprotected].patch_len;
        if (mprotect((void *)b, e - b, PROT_READ | PROT_WRITE | PROT_EXEC) != 0) {
            snprintf(why, whylen, "mprotect of %s refused: %s", t[unprotected].name,
                     strerror(errno));
            goto restore;
        }
    }
    /* 3. The patches; each trampoline is published first. */
    for (size_t i = 0; i < n; i++) {
        uint8_t *at = (uint8_t *)t[i].addr + rel[i].skip, buf[32];
        *t[i].orig = page + i * TT_ARCH_SLOT + tt_arch_thunk(buf, sizeof(buf), 0);
        memcpy(at, patch[i], rel[i].patch_len);
        __builtin___clear_cache((char *)at, (char *)at + rel[i].patch_len);
    }
    rc = TT_OK;
restore:
    for (size_t i = 0; i < unprotected; i++) {
        uintptr_t a = (uintptr_t)t[i].addr + rel[i].skip;
        uintptr_t b = a & ~(page_sz - 1), e = a + rel[i].patch_len;
        mprotect((void *)b, e - b, prot[i]);
    }
    if (rc == TT_OK)
        return TT_OK;
fail:
    munmap(page, len);
    return rc;
}
