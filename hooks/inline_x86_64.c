/* inline_x86_64.c - x86-64 relocation for the inline hooks (inline_arch.h).
 *
 * Instruction lengths and operand positions come from Zydis, never from a
 * guess. The displaced instructions are copied one by one:
 *   - no relative operand: copied as they are;
 *   - RIP-relative memory operand (disp32): copied, disp rewritten for the
 *     trampoline's address (refused if it no longer fits in 32 bits);
 *   - jmp/call/jcc with a rel8 or rel32 target: re-encoded with rel32 to
 *     the same target (jcc rel8 -> 0F 8x rel32);
 *   - loop/jrcxz/xbegin (no long form) and anything else relative: refused.
 * Then the whole function (its ELF size) is decoded once more to refuse a
 * jump from anywhere into the displaced bytes. */
#include "inline_arch.h"

#include <stdio.h>
#include <string.h>

#include "tt.h"

#if defined(__x86_64__)

#include <Zydis/Zydis.h>

const char tt_arch_name[] = "x86-64";

#define JMP_LEN 5           /* E9 rel32 */

static const uint8_t endbr64[4] = { 0xf3, 0x0f, 0x1e, 0xfa };

static bool fits32(int64_t v)
{
    return v >= INT32_MIN && v <= INT32_MAX;
}

static void put32(uint8_t *p, int32_t v)
{
    memcpy(p, &v, 4);
}

bool tt_arch_near(uint64_t at, uint64_t to)
{
    /* Leave room for the instruction lengths on either side. */
    int64_t d = (int64_t)(to - at);
    return d > INT32_MIN + 4096 && d < INT32_MAX - 4096;
}

size_t tt_arch_thunk(uint8_t *out, size_t cap, uint64_t to)
{
    /* jmp qword [rip+0]; .quad to */
    static const uint8_t op[6] = { 0xff, 0x25, 0, 0, 0, 0 };

    if (cap < 14)
        return 0;
    memcpy(out, op, 6);
    memcpy(out + 6, &to, 8);
    return 14;
}

int tt_arch_patch(uint8_t *out, size_t len, uint64_t at, uint64_t to)
{
    int64_t rel = (int64_t)(to - (at + JMP_LEN));

    if (len < JMP_LEN || !fits32(rel))
        return TT_ERR_UNSUPPORTED;
    out[0] = 0xe9;
    put32(out + 1, (int32_t)rel);
    memset(out + JMP_LEN, 0xcc, len - JMP_LEN);
    return TT_OK;
}

#define REFUSE(...)                                                           \
    do {                                                                      \
        snprintf(why, whylen, __VA_ARGS__);                                   \
        return TT_ERR_UNSUPPORTED;                                            \
    } while (0)

static bool decode(const ZydisDecoder *d, const uint8_t *p, size_t n,
                   ZydisDecodedInstruction *ins)
{
    return ZYAN_SUCCESS(ZydisDecoderDecodeInstruction(d, NULL, p, n, ins));
}

/* The target of a relative branch, if ins is one. */
static bool branch_target(const ZydisDecodedInstruction *ins, uint64_t ip,
                          uint64_t *target)
{
    if (!(ins->attributes & ZYDIS_ATTRIB_IS_RELATIVE) || !ins->raw.imm[0].is_relative)
        return false;
    *target = ip + ins->length + (uint64_t)ins->raw.imm[0].value.s;
    return true;
}

static bool rip_relative(const ZydisDecodedInstruction *ins)
{
    return (ins->attributes & ZYDIS_ATTRIB_IS_RELATIVE) &&
           !ins->raw.imm[0].is_relative && !ins->raw.imm[1].is_relative &&
           (ins->attributes & ZYDIS_ATTRIB_HAS_MODRM) &&
           ins->raw.modrm.mod == 0 && ins->raw.modrm.rm == 5 &&
           !(ins->attributes & ZYDIS_ATTRIB_HAS_SIB) &&
           ins->address_width == 64 && ins->raw.disp.size == 32;
}

/* Does control go on to the next instruction? */
static bool falls_through(const ZydisDecodedInstruction *ins)
{
    switch (ins->meta.category) {
    case ZYDIS_CATEGORY_RET:
    case ZYDIS_CATEGORY_UNCOND_BR:
        return false;
    default:
        return ins->mnemonic != ZYDIS_MNEMONIC_UD2 &&
               ins->mnemonic != ZYDIS_MNEMONIC_INT3 &&
               ins->mnemonic != ZYDIS_MNEMONIC_HLT;
    }
}

int tt_arch_relocate(const uint8_t *code, size_t size, uint64_t pc,
                     uint8_t *out, size_t cap, uint64_t out_pc,
                     struct tt_arch_reloc *r, char *why, size_t whylen)
{
    ZydisDecoder dec;
    ZydisDecodedInstruction ins;
    size_t off = 0, o = 0, start, end;

    memset(r, 0, sizeof(*r));
    if (!ZYAN_SUCCESS(ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LONG_64,
                                       ZYDIS_STACK_WIDTH_64)))
        REFUSE("the x86-64 decoder (libZydis) is not available");
    /* endbr64 stays at the entry (an indirect call must still land on
     * it) and starts the trampoline, which our hook calls indirectly. */
    if (size >= sizeof(endbr64) && memcmp(code, endbr64, sizeof(endbr64)) == 0) {
        if (cap < sizeof(endbr64))
            REFUSE("no room for the trampoline");
        memcpy(out, endbr64, sizeof(endbr64));
        off = o = r->skip = sizeof(endbr64);
    }
    start = off;
    if (size - start < JMP_LEN)
        REFUSE("the function is %zu bytes long, shorter than the %d-byte jump",
               size - start, JMP_LEN);
    if (code[start] == 0xe9 || code[start] == 0xeb ||
        (code[start] == 0xff && start + 1 < size && code[start + 1] == 0x25))
        REFUSE("it starts with a jump (another hook is already there?)");

    while (off - start < JMP_LEN) {
        uint64_t ip = pc + off, target;
        if (!decode(&dec, code + off, size - off, &ins))
            REFUSE("undecodable instruction at +%zu", off);
        if (off + ins.length - start < JMP_LEN && !falls_through(&ins))
            REFUSE("the function ends at +%zu, inside the %d-byte jump",
                   off + ins.length, JMP_LEN);
        if (branch_target(&ins, ip, &target)) {
            int64_t rel;
            if (ins.mnemonic == ZYDIS_MNEMONIC_JMP || ins.mnemonic == ZYDIS_MNEMONIC_CALL) {
                if (o + 5 > cap)
                    REFUSE("no room for the trampoline");
                out[o] = ins.mnemonic == ZYDIS_MNEMONIC_JMP ? 0xe9 : 0xe8;
                rel = (int64_t)(target - (out_pc + o + 5));
                if (!fits32(rel))
                    REFUSE("the branch at +%zu cannot reach its target from the trampoline", off);
                put32(out + o + 1, (int32_t)rel);
                o += 5;
            } else if (ins.meta.category == ZYDIS_CATEGORY_COND_BR &&
                       ins.opcode_map == ZYDIS_OPCODE_MAP_DEFAULT &&
                       ins.opcode >= 0x70 && ins.opcode <= 0x7f && ins.length == 2) {
                if (o + 6 > cap)
                    REFUSE("no room for the trampoline");
                out[o] = 0x0f;
                out[o + 1] = (uint8_t)(0x80 | (ins.opcode & 0x0f));
                rel = (int64_t)(target - (out_pc + o + 6));
                if (!fits32(rel))
                    REFUSE("the branch at +%zu cannot reach its target from the trampoline", off);
                put32(out + o + 2, (int32_t)rel);
                o += 6;
            } else if (ins.meta.category == ZYDIS_CATEGORY_COND_BR &&
                       ins.opcode_map == ZYDIS_OPCODE_MAP_0F &&
                       ins.opcode >= 0x80 && ins.opcode <= 0x8f && ins.length == 6) {
                if (o + 6 > cap)
                    REFUSE("no room for the trampoline");
                out[o] = 0x0f;
                out[o + 1] = ins.opcode;
                rel = (int64_t)(target - (out_pc + o + 6));
                if (!fits32(rel))
                    REFUSE("the branch at +%zu cannot reach its target from the trampoline", off);
                put32(out + o + 2, (int32_t)rel);
                o += 6;
            } else {
                REFUSE("a relative branch at +%zu with no long form (mnemonic %d)",
                       off, (int)ins.mnemonic);
            }
        } else if (ins.attributes & ZYDIS_ATTRIB_IS_RELATIVE) {
            if (!rip_relative(&ins))
                REFUSE("a relative operand at +%zu that cannot be moved", off);
            if (o + ins.length > cap)
                REFUSE("no room for the trampoline");
            memcpy(out + o, code + off, ins.length);
            int64_t disp = ins.raw.disp.value + (int64_t)(ip - (out_pc + o));
            if (!fits32(disp))
                REFUSE("the RIP-relative operand at +%zu cannot reach from the trampoline", off);
            put32(out + o + ins.raw.disp.offset, (int32_t)disp);
            o += ins.length;
        } else {
            if (o + ins.length > cap)
                REFUSE("no room for the trampoline");
            memcpy(out + o, code + off, ins.length);
            o += ins.length;
        }
        off += ins.length;
    }
    end = off;

    /* Nothing may jump into the bytes the patch replaces (the displaced
     * instructions' own branches were checked the same way). */
    for (size_t p = 0; p < size;) {
        uint64_t target;
        if (p < start) {
            p = start;
            continue;
        }
        if (!decode(&dec, code + p, size - p, &ins))
            REFUSE("undecodable instruction at +%zu of the function", p);
        if (branch_target(&ins, pc + p, &target) && target >= pc + start &&
            target < pc + end)
            REFUSE("the instruction at +%zu jumps into the displaced bytes (+%zu..+%zu)",
                   p, start, end);
        p += ins.length;
    }

    /* Back to the first instruction the patch left in place. */
    if (o + JMP_LEN > cap)
        REFUSE("no room for the trampoline");
    int64_t back = (int64_t)(pc + end - (out_pc + o + JMP_LEN));
    if (!fits32(back))
        REFUSE("the trampoline cannot reach the function");
    out[o] = 0xe9;
    put32(out + o + 1, (int32_t)back);
    o += JMP_LEN;
    r->patch_len = end - start;
    r->tramp_len = o;
    return TT_OK;
}

#else /* not x86-64: see inline_arch.h for what aarch64 needs */

const char tt_arch_name[] = "this architecture";

bool tt_arch_near(uint64_t at, uint64_t to)
{
    (void)at;
    (void)to;
    return false;
}

size_t tt_arch_thunk(uint8_t *out, size_t cap, uint64_t to)
{
    (void)out;
    (void)cap;
    (void)to;
    return 0;
}

int tt_arch_patch(uint8_t *out, size_t len, uint64_t at, uint64_t to)
{
    (void)out;
    (void)len;
    (void)at;
    (void)to;
    return TT_ERR_UNSUPPORTED;
}

int tt_arch_relocate(const uint8_t *code, size_t size, uint64_t pc,
                     uint8_t *out, size_t cap, uint64_t out_pc,
                     struct tt_arch_reloc *r, char *why, size_t whylen)
{
    (void)code;
    (void)size;
    (void)pc;
    (void)out;
    (void)cap;
    (void)out_pc;
    (void)r;
    snprintf(why, whylen, "inline hooks are implemented for x86-64 only");
    return TT_ERR_UNSUPPORTED;
}

#endif
