/* inline.h - inline hooks on functions the program defines itself.
 *
 * When an executable carries its own OpenSSL (the official Node.js builds
 * link it statically and call it directly), no LD_PRELOAD symbol is ever
 * reached. Instead, each function's first instructions are replaced by a
 * jump to our hook, and the displaced instructions run from a trampoline
 * that jumps back (inline_arch.h: the layout, and what is refused).
 *
 * Patching happens once, from the preload's constructor: the loader runs
 * it before the program's own constructors and main, while the process
 * has one thread, so no thread can be inside a function being patched.
 * It is all or nothing: if any function of the set cannot be hooked
 * safely, none is, the reason is logged once and the program runs
 * untouched. TOKENTAP_INLINE=off disables it. */
#ifndef TT_INLINE_H
#define TT_INLINE_H

#include <stdbool.h>
#include <stddef.h>

struct tt_inline_target {
    const char *name;   /* for messages */
    void *addr;         /* the function's entry */
    size_t size;        /* its ELF symbol size */
    void *hook;         /* where the patched entry goes */
    void **orig;        /* set to the trampoline (runs the original) */
};

/* Hook t[0..n) (all in one loaded object), or none. TT_OK, or a negative
 * TT_ERR_* with the reason in why. */
int tt_inline_install(struct tt_inline_target *t, size_t n, char *why, size_t whylen);

/* Where name is defined in the global scope, if by the same object as
 * `like` (NULL: any object); its symbol size in *size. NULL otherwise. */
void *tt_inline_lookup(const char *name, const void *like, size_t *size);

/* TOKENTAP_INLINE is not off/0/false/no. */
bool tt_inline_enabled(void);

#endif
