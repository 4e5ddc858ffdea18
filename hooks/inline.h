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
#include <stdint.h>

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

/* A loaded object, found by an address inside it. */
struct tt_inline_obj {
    uintptr_t base;             /* dlpi_addr */
    const char *name;           /* its path ("" for the main program) */
    const void *dyn;            /* its PT_DYNAMIC, in memory */
};

/* The loaded object whose PT_LOAD segments hold addr. */
bool tt_inline_object(const void *addr, struct tt_inline_obj *o);

/* Does the main program itself define name (a function, in its dynamic
 * symbol table)? The first object of the walk, one bloom-filter test in
 * its GNU hash table: the cost every process pays at start. Only the main
 * program is looked at: a shared object defining SSL_write is libssl (or
 * another preload), and looking at every object touched pages of every
 * one of them (tens of µs per process, measured). */
bool tt_inline_main_defines(const char *name, struct tt_inline_obj *o);

/* name as obj defines it in its dynamic symbol table (GNU or SysV hash
 * lookup: never dladdr, which scans every symbol, and Node has 90,000):
 * its address, and its size in *size. NULL when undefined there. */
void *tt_inline_symbol(const struct tt_inline_obj *obj, const char *name, size_t *size);

/* TOKENTAP_INLINE is not off/0/false/no. */
bool tt_inline_enabled(void);

#endif
