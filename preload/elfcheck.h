/* elfcheck.h - can the preload interpose on a program? Judged from its
 * executable, before it runs (`tokentap run --gateway auto`).
 *
 * A program is out of the hooks' reach when it is static (no dynamic
 * loader: LD_PRELOAD is never read), or when it carries its own TLS and
 * links no library whose functions the hooks replace (a Bun executable:
 * BoringSSL inside, no SSL_* symbol; Go: crypto/tls; Rust: rustls). Such
 * a program is pointed at the run's gateway by its base-URL variables.
 * An executable that defines SSL_* itself without libssl (the official
 * Node builds: bundled OpenSSL, called internally) is reached by the
 * inline hooks on x86-64 when it exports every function they patch
 * (TT_ELF_OWN_OPENSSL), else it counts as its own TLS.
 * Everything else counts as hookable: a dynamic program that needs
 * libssl/libcurl or imports SSL_*, and
 * one with no sign of its own TLS (Python and Debian's node load libssl
 * later, through their libraries).
 *
 * Only libc, no allocation (mmap of the file), so the preload may call it
 * in a process about to exec. Verdicts are cached in files named after the
 * executable's device, inode, mtime and size under
 * $TOKENTAP_HOME/execcache/, so the second look costs one stat. */
#ifndef TT_ELFCHECK_H
#define TT_ELFCHECK_H

#include <stdbool.h>
#include <stddef.h>

enum tt_elf_verdict {
    TT_ELF_HOOKABLE = 0,   /* the preload sees its calls */
    TT_ELF_STATIC,         /* no PT_INTERP: LD_PRELOAD is never read */
    TT_ELF_OWN_TLS,        /* dynamic, but its TLS is its own */
    TT_ELF_NOT_FOUND,      /* cannot be read: the exec will fail anyway */
    TT_ELF_OWN_OPENSSL,    /* its own OpenSSL, exported: the inline hooks
                              (hooks/inline.c) see it on x86-64 unless
                              TOKENTAP_INLINE=off */
};

/* Judge the executable at path (follows a "#!" line once, and
 * "#!/usr/bin/env NAME" through PATH). why (may be NULL) gets a short
 * reason: "static", "Go", "Bun/BoringSSL", "rustls", "links libssl"... */
enum tt_elf_verdict tt_elf_judge(const char *path, char *why, size_t why_n);

/* The same on a file's bytes (tests). */
enum tt_elf_verdict tt_elf_judge_mem(const unsigned char *p, size_t n,
                                     char *why, size_t why_n);

/* tt_elf_judge through the cache (cache_dir NULL: no cache). */
enum tt_elf_verdict tt_elf_judge_cached(const char *path, const char *cache_dir,
                                        char *why, size_t why_n);

/* The executable execvp(file) would run, searching path_env (PATH) like
 * execvp does; false when none is found. */
bool tt_elf_which(const char *file, const char *path_env, char *out, size_t n);

/* The base-URL variables that point a program at a gateway on port, one
 * "NAME=VALUE" at a time: i = 0, 1, ... until it returns false.
 * OPENAI_BASE_URL=http://127.0.0.1:PORT/openai, OPENAI_API_BASE (older
 * SDKs) likewise, ANTHROPIC_BASE_URL=.../anthropic,
 * GOOGLE_GEMINI_BASE_URL=.../gemini, OLLAMA_HOST=127.0.0.1:PORT (no path:
 * the gateway routes /api/... to Ollama). */
bool tt_gw_base_env(size_t i, unsigned port, char *out, size_t n);
/* The i-th variable's name and its gateway route (NULL for OLLAMA_HOST);
 * NULL past the end. */
const char *tt_gw_base_var(size_t i);
const char *tt_gw_base_route(size_t i);

/* TOKENTAP_INLINE is not off (0, off, false, no). */
bool tt_elf_inline_on(void);

static inline bool tt_elf_needs_gateway(enum tt_elf_verdict v)
{
    return v == TT_ELF_STATIC || v == TT_ELF_OWN_TLS ||
           (v == TT_ELF_OWN_OPENSSL && !tt_elf_inline_on());
}

#endif
