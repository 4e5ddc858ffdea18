/* test_inline.c - the x86-64 relocator of the inline hooks
 * (hooks/inline_x86_64.c), on hand-written tricky prologues and on the real
 * SSL_* functions of the Node binaries on this machine (read from their
 * files at test time: the official builds of tests/node, NodeSource's
 * /usr/bin/node). Each case is either relocated correctly or refused.
 *
 * "Correctly" is checked by decoding both sides with Zydis: the trampoline
 * holds the displaced instructions in order, byte-identical where they have
 * no relative operand, and with the same absolute target where they do
 * (RIP-relative data, jmp/call/jcc), then a jump back to the first byte the
 * patch left in place. The trampoline runs 1 GiB away from the function, so
 * every relative operand really is rewritten. */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

#include "inline_arch.h"
#include "tt.h"

#define PC 0x401000ull
#define FAR (PC + (1ull << 30))       /* trampoline 1 GiB above */

struct insn {
    ZydisDecodedInstruction d;
    uint64_t ip;
    const uint8_t *bytes;
};

static size_t decode_all(const uint8_t *p, size_t n, uint64_t ip, struct insn *out, size_t max)
{
    ZydisDecoder dec;
    size_t k = 0;

    ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
    for (size_t off = 0; off < n && k < max;) {
        cr_assert(ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(&dec, NULL, p + off, n - off,
                                                             &out[k].d)),
                  "undecodable at +%zu", off);
        out[k].ip = ip + off;
        out[k].bytes = p + off;
        off += out[k].d.length;
        k++;
    }
    return k;
}

/* The absolute address a relative operand designates (0: none). */
static uint64_t rel_target(const struct insn *i)
{
    const ZydisDecodedInstruction *d = &i->d;

    if (!(d->attributes & ZYDIS_ATTRIB_IS_RELATIVE))
        return 0;
    if (d->raw.imm[0].is_relative)
        return i->ip + d->length + (uint64_t)d->raw.imm[0].value.s;
    return i->ip + d->length + (uint64_t)d->raw.disp.value;
}

/* The trampoline does what the displaced bytes did, then jumps back. */
static void check_relocation(const uint8_t *code, uint64_t pc, const uint8_t *tramp,
                             uint64_t tpc, const struct tt_arch_reloc *r)
{
    struct insn a[16], b[17];
    size_t na = decode_all(code + r->skip, r->patch_len, pc + r->skip, a, 16);
    size_t nb;

    cr_assert_geq(r->patch_len, 5);
    if (r->skip) {
        cr_assert_eq(r->skip, 4);
        cr_assert(memcmp(tramp, "\xf3\x0f\x1e\xfa", 4) == 0, "endbr64 first");
    }
    nb = decode_all(tramp + r->skip, r->tramp_len - r->skip, tpc + r->skip, b, 17);
    cr_assert_eq(nb, na + 1, "%zu instructions displaced, %zu in the trampoline", na, nb);
    for (size_t i = 0; i < na; i++) {
        uint64_t ta = rel_target(&a[i]), tb = rel_target(&b[i]);
        cr_assert_eq(ta, tb, "instruction %zu: target %#llx became %#llx", i,
                     (unsigned long long)ta, (unsigned long long)tb);
        if (!ta) {
            cr_assert_eq(a[i].d.length, b[i].d.length);
            cr_assert(memcmp(a[i].bytes, b[i].bytes, a[i].d.length) == 0,
                      "instruction %zu copied as is", i);
        } else {
            cr_assert_eq(a[i].d.mnemonic, b[i].d.mnemonic, "instruction %zu", i);
        }
    }
    cr_assert_eq(b[na].d.mnemonic, ZYDIS_MNEMONIC_JMP);
    cr_assert_eq(rel_target(&b[na]), pc + r->skip + r->patch_len, "jump back");
}

struct reloc_case {
    const char *name;
    const uint8_t *code;
    size_t size;
    uint64_t out_pc;        /* 0: FAR */
    bool ok;
    size_t skip, patch_len;
    const char *why;        /* a word of the refusal */
};

#define B(...) (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ })

static const struct reloc_case cases[] = {
    { "frame-pointer prologue (Node's SSL_read)",
      B(0x55, 0x48, 0x89, 0xe5, 0x41, 0x56, 0x41, 0x55, 0xc3), 0, true, 0, 6, NULL },
    { "RIP-relative load",
      B(0x48, 0x8b, 0x05, 0x00, 0x10, 0x00, 0x00, 0xc3), 0, true, 0, 7, NULL },
    { "RIP-relative load with an immediate after the displacement",
      B(0x48, 0x81, 0x3d, 0x00, 0x20, 0x00, 0x00, 0x44, 0x33, 0x22, 0x11, 0xc3), 0, true, 0, 11,
      NULL },
    { "short jcc (Node 20's SSL_free)",
      B(0x48, 0x85, 0xff, 0x74, 0x03, 0x90, 0x90, 0x90, 0xc3), 0, true, 0, 5, NULL },
    { "near jcc (Node 22's SSL_free)",
      B(0x48, 0x85, 0xff, 0x0f, 0x84, 0x03, 0x00, 0x00, 0x00, 0x90, 0x90, 0x90, 0xc3), 0, true,
      0, 9, NULL },
    { "call rel32 first",
      B(0xe8, 0x00, 0x01, 0x00, 0x00, 0xc3), 0, true, 0, 5, NULL },
    { "endbr64 stays at the entry",
      B(0xf3, 0x0f, 0x1e, 0xfa, 0x55, 0x48, 0x89, 0xe5, 0x53, 0x5b, 0xc3), 0, true, 4, 5, NULL },
    { "function shorter than the jump",
      B(0x31, 0xc0, 0xc3), 0, false, 0, 0, "shorter" },
    { "function that returns inside the jump",
      B(0x31, 0xc0, 0xc3, 0x90, 0x90, 0x90, 0x90), 0, false, 0, 0, "ends" },
    { "endbr64 then too short",
      B(0xf3, 0x0f, 0x1e, 0xfa, 0x31, 0xc0, 0xc3), 0, false, 0, 0, "shorter" },
    { "a later jump back into the displaced bytes",
      B(0x55, 0x48, 0x89, 0xe5, 0x90, 0x90, 0xeb, 0xf9, 0xc3), 0, false, 0, 0, "jumps into" },
    { "jcc into the displaced bytes themselves",
      B(0x74, 0x01, 0x90, 0x90, 0x90, 0x90, 0xc3), 0, false, 0, 0, "jumps into" },
    { "jrcxz has no long form",
      B(0xe3, 0x03, 0x90, 0x90, 0x90, 0x90, 0xc3), 0, false, 0, 0, "no long form" },
    { "loop has no long form",
      B(0x90, 0xe2, 0x03, 0x90, 0x90, 0x90, 0xc3), 0, false, 0, 0, "no long form" },
    { "already hooked (jmp rel32 at the entry)",
      B(0xe9, 0x00, 0x10, 0x00, 0x00, 0xc3), 0, false, 0, 0, "another hook" },
    { "already hooked (jmp [rip])",
      B(0xff, 0x25, 0x00, 0x00, 0x00, 0x00, 0xc3), 0, false, 0, 0, "another hook" },
    { "RIP-relative load out of reach of the trampoline",
      B(0x48, 0x8b, 0x05, 0x00, 0x10, 0x00, 0x00, 0xc3), PC + (3ull << 30), false, 0, 0,
      "cannot reach" },
    { "truncated instruction",
      B(0x48, 0x8b, 0x05, 0x00, 0x10), 0, false, 0, 0, "undecodable" },
};

Test(inline_reloc, hand_written_prologues)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct reloc_case *c = &cases[i];
        uint8_t out[TT_ARCH_SLOT];
        struct tt_arch_reloc r;
        char why[256] = "";
        uint64_t opc = c->out_pc ? c->out_pc : FAR;
        int rc = tt_arch_relocate(c->code, c->size, PC, out, sizeof(out), opc, &r, why,
                                  sizeof(why));
        if (!c->ok) {
            cr_assert_eq(rc, TT_ERR_UNSUPPORTED, "%s: refused", c->name);
            cr_assert(strstr(why, c->why), "%s: reason '%s' names '%s'", c->name, why, c->why);
            continue;
        }
        cr_assert_eq(rc, TT_OK, "%s: %s", c->name, why);
        cr_assert_eq(r.skip, c->skip, "%s: skip", c->name);
        cr_assert_eq(r.patch_len, c->patch_len, "%s: patch length", c->name);
        check_relocation(c->code, PC, out, opc, &r);
    }
}

Test(inline_reloc, patch_and_thunk)
{
    uint8_t p[9], t[16];

    cr_assert_eq(tt_arch_patch(p, sizeof(p), 0x1000, 0x2000), TT_OK);
    cr_assert_eq(p[0], 0xe9);
    int32_t rel;
    memcpy(&rel, p + 1, 4);
    cr_assert_eq(rel, 0x2000 - 0x1005);
    for (size_t i = 5; i < sizeof(p); i++)
        cr_assert_eq(p[i], 0xcc, "padding is int3");
    cr_assert_eq(tt_arch_patch(p, 4, 0x1000, 0x2000), TT_ERR_UNSUPPORTED, "too short");
    cr_assert_eq(tt_arch_patch(p, 5, 0x1000, 0x1000 + (3ull << 30)), TT_ERR_UNSUPPORTED,
                 "out of reach");
    cr_assert_eq(tt_arch_thunk(t, sizeof(t), 0x1122334455667788ull), 14);
    cr_assert(memcmp(t, "\xff\x25\0\0\0\0\x88\x77\x66\x55\x44\x33\x22\x11", 14) == 0);
    cr_assert(tt_arch_near(0x400000 + (1ull << 30), 0x400000));
    cr_assert(!tt_arch_near(0x400000, 0x400000 + (3ull << 30)));
}

/* ---- the real functions, from the binaries' files ---------------------- */

struct elf_fn {
    uint64_t va, size;
    const uint8_t *bytes;
};

/* name's definition in the dynamic symbol table of a 64-bit ELF file. */
static bool elf_find(const uint8_t *f, size_t n, const char *name, struct elf_fn *out)
{
    const Elf64_Ehdr *eh = (const void *)f;
    const Elf64_Shdr *sh = (const void *)(f + eh->e_shoff);
    const Elf64_Phdr *ph = (const void *)(f + eh->e_phoff);

    if (n < sizeof(*eh) || eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(*sh) > n)
        return false;
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM)
            continue;
        const Elf64_Sym *sym = (const void *)(f + sh[i].sh_offset);
        const char *str = (const char *)(f + sh[sh[i].sh_link].sh_offset);
        for (size_t k = 0; k < sh[i].sh_size / sizeof(*sym); k++) {
            if (sym[k].st_shndx == SHN_UNDEF || strcmp(str + sym[k].st_name, name))
                continue;
            for (int j = 0; j < eh->e_phnum; j++) {
                if (ph[j].p_type == PT_LOAD && sym[k].st_value >= ph[j].p_vaddr &&
                    sym[k].st_value + sym[k].st_size <= ph[j].p_vaddr + ph[j].p_filesz) {
                    out->va = sym[k].st_value;
                    out->size = sym[k].st_size;
                    out->bytes = f + ph[j].p_offset + (sym[k].st_value - ph[j].p_vaddr);
                    return true;
                }
            }
        }
    }
    return false;
}

Test(inline_reloc, real_node_binaries)
{
    static const char *const bins[] = {
        "tests/node/node_modules/node18/bin/node", "tests/node/node_modules/node20/bin/node",
        "tests/node/node_modules/node22/bin/node", "tests/node/node_modules/node24/bin/node",
        "/usr/bin/node",
    };
    static const char *const fns[] = { "SSL_read", "SSL_write", "SSL_read_ex",
                                       "SSL_write_ex", "SSL_free" };
    size_t checked = 0;

    for (size_t b = 0; b < sizeof(bins) / sizeof(bins[0]); b++) {
        int fd = open(bins[b], O_RDONLY);
        struct stat st;
        if (fd < 0) {
            fprintf(stderr, "test_inline: %s not there (tools/install-deps.sh installs "
                    "the official builds)\n", bins[b]);
            continue;
        }
        cr_assert_eq(fstat(fd, &st), 0);
        const uint8_t *f = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        cr_assert_neq(f, MAP_FAILED);
        struct elf_fn probe;
        if (!elf_find(f, (size_t)st.st_size, "SSL_write", &probe)) {
            fprintf(stderr, "test_inline: %s has no SSL_write (a shared libssl)\n", bins[b]);
            munmap((void *)f, (size_t)st.st_size);
            continue;
        }
        for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
            struct elf_fn fn;
            uint8_t out[TT_ARCH_SLOT];
            struct tt_arch_reloc r;
            char why[256] = "";
            cr_assert(elf_find(f, (size_t)st.st_size, fns[i], &fn), "%s: %s", bins[b], fns[i]);
            uint64_t opc = fn.va - (64u << 20);      /* below, as the near page is */
            int rc = tt_arch_relocate(fn.bytes, fn.size, fn.va, out, sizeof(out), opc, &r,
                                      why, sizeof(why));
            cr_assert_eq(rc, TT_OK, "%s %s: %s", bins[b], fns[i], why);
            check_relocation(fn.bytes, fn.va, out, opc, &r);
            checked++;
        }
        munmap((void *)f, (size_t)st.st_size);
    }
    fprintf(stderr, "test_inline: %zu SSL functions of real Node binaries relocated and checked\n",
            checked);
    cr_assert_gt(checked, 0, "no Node binary with its own OpenSSL found: run tools/install-deps.sh");
}
