/* inline_arch.h - the architecture-specific half of the inline hooks
 * (hooks/inline.c): decode and relocate a function's first instructions,
 * and write the jumps. One implementation per architecture:
 *
 *   hooks/inline_x86_64.c   x86-64, decoding with Zydis (libZydis, reached
 *                           through preload/dlshim.c: loaded only in a
 *                           process whose executable carries its own OpenSSL)
 *   (aarch64)               not written: every call refuses, the program
 *                           runs untouched (README, Known limits). It needs
 *                           a 16-byte patch (ldr x16, #8; br x16; .quad),
 *                           ADRP/ADR/LDR-literal/B/BL/B.cond/CBZ/TBZ
 *                           relocation and __builtin___clear_cache.
 *
 * Layout, for a hooked function F whose bytes start at pc:
 *
 *   F:      [endbr64]  jmp thunk        <- patch: jump_len bytes, padding
 *                      (int3 pad)          to the end of the last displaced
 *                      rest of F ...       instruction with int3
 *   thunk:  jmp [hook]                  <- absolute, in a page allocated
 *   tramp:  [endbr64] displaced instrs,    within +-2 GiB of F
 *           relocated; jmp F+skip+patch_len
 *
 * The hook calls tramp to run the original F. Every function returns
 * TT_OK or a negative TT_ERR_* and, on refusal, says why in `why`. */
#ifndef TT_INLINE_ARCH_H
#define TT_INLINE_ARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes of one slot (thunk + trampoline) in the near page. */
#define TT_ARCH_SLOT 128

struct tt_arch_reloc {
    size_t skip;        /* bytes left in place at the entry (endbr64) */
    size_t patch_len;   /* bytes displaced after skip (>= the jump's length) */
    size_t tramp_len;   /* bytes written to the trampoline */
};

/* Relocate the first instructions of the function whose `size` bytes are
 * `code` (a readable copy; they run at address pc) into out[0..cap), which
 * will run at out_pc, followed by a jump back. Refuses (TT_ERR_UNSUPPORTED)
 * what it cannot move exactly: an undecodable instruction, a function
 * shorter than the jump, a relative operand that cannot reach from out_pc,
 * a branch kind with no long form (loop, jrcxz), a jump from anywhere in
 * the function into the displaced bytes, a patch already there. */
int tt_arch_relocate(const uint8_t *code, size_t size, uint64_t pc,
                     uint8_t *out, size_t cap, uint64_t out_pc,
                     struct tt_arch_reloc *r, char *why, size_t whylen);

/* Absolute jump to `to`, written at out (which runs at out_pc); returns
 * its length (<= 16), 0 if cap is too small. */
size_t tt_arch_thunk(uint8_t *out, size_t cap, uint64_t to);

/* The entry patch: a jump from `at` to `to`, padded to `len` bytes.
 * TT_ERR_UNSUPPORTED if it cannot reach or len is too short. */
int tt_arch_patch(uint8_t *out, size_t len, uint64_t at, uint64_t to);

/* Whether a patch at `at` and relocated code at `to` can reach each other
 * (the near page must lie within this distance of every hooked function). */
bool tt_arch_near(uint64_t at, uint64_t to);

/* The architecture's name, for messages. */
extern const char tt_arch_name[];

#endif
