/* test_binclass.c - tt_cli_bin_classify (tools/cli_doctor.c): what kind of
 * program an executable is for tracing, table-driven on inspected ELF
 * facts, then on the real binaries of this machine where present. */
#include <criterion/criterion.h>
#include <elf.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

struct bin_case {
    const char *name;
    struct tt_cli_elf e;
    enum tt_cli_bin_kind kind;
    bool traced;
    const char *word;       /* in the explanation */
};

#define X64 .elf = true, .is64 = true, .machine = EM_X86_64
#define DYN X64, .dynamic = true

static const struct bin_case cases[] = {
    { "not ELF", { .elf = false }, TT_BIN_NOT_ELF, false, "neither" },
    { "Go, static", { X64, .go = true }, TT_BIN_GO, false,
      "crypto/tls" },
    { "Go, dynamic (cgo resolver)", { DYN, .go = true, .needs_libc = true }, TT_BIN_GO, false,
      "plain HTTP" },
    { "static glibc", { X64, .glibc_static_text = true }, TT_BIN_STATIC_GLIBC, false,
      "statically linked (glibc)" },
    { "static musl", { X64 }, TT_BIN_STATIC_MUSL, false, "statically linked (musl" },
    { "curl", { DYN, .needs_curl = true, .needs_libc = true }, TT_BIN_LIBCURL, true,
      "libcurl API" },
    { "libssl", { DYN, .needs_ssl = true }, TT_BIN_LIBSSL, true, "system OpenSSL" },
    { "libssl wins over an OpenSSL version string",
      { DYN, .needs_ssl = true, .openssl_text = true }, TT_BIN_LIBSSL, true, "system" },
    { "official Node (own OpenSSL, all exported)",
      { DYN, .exports_ssl_write = true, .own_ssl = TT_CLI_SSL_ALL, .openssl_text = true },
      TT_BIN_OWN_OPENSSL, true, "inline hooks" },
    { "own OpenSSL without SSL_get_servername",
      { DYN, .exports_ssl_write = true,
        .own_ssl = TT_CLI_SSL_ALL & ~TT_CLI_SSL_SERVERNAME },
      TT_BIN_OWN_OPENSSL_UNHOOKABLE, false, "SSL_get_servername" },
    /* Another architecture than the preload's (x86-64 here): the loader
     * skips the preload altogether (issue #9). */
    { "own OpenSSL on aarch64",
      { .elf = true, .is64 = true, .dynamic = true, .machine = EM_AARCH64,
        .exports_ssl_write = true, .own_ssl = TT_CLI_SSL_ALL },
      TT_BIN_FOREIGN_ARCH, false, "64-bit program (aarch64)" },
    { "32-bit i386", { .elf = true, .dynamic = true, .machine = EM_386, .needs_ssl = true },
      TT_BIN_FOREIGN_ARCH, false, "32-bit program (i386)" },
    { "Bun (BoringSSL)", { DYN, .boringssl = true }, TT_BIN_BORINGSSL, false, "BoringSSL" },
    { "rustls", { DYN, .rustls = true }, TT_BIN_RUSTLS, false, "rustls" },
    { "OpenSSL linked in, not exported", { DYN, .openssl_text = true },
      TT_BIN_OPENSSL_HIDDEN, false, "without exported symbols" },
    { "plain (python3)", { DYN, .needs_libc = true }, TT_BIN_PLAIN, true, "plain HTTP" },
};

Test(binclass, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tt_cli_bin b;
        tt_cli_bin_classify(&cases[i].e, &b);
        cr_assert_eq(b.kind, cases[i].kind, "%s: kind %d", cases[i].name, (int)b.kind);
        cr_assert_eq(b.traced, cases[i].traced, "%s", cases[i].name);
        cr_assert(b.name && *b.name, "%s", cases[i].name);
        cr_assert(strstr(b.why, cases[i].word), "%s: '%s' lacks '%s'", cases[i].name, b.why,
                  cases[i].word);
    }
}

/* The real programs of this machine, where they are. */
Test(binclass, real_binaries)
{
    static const struct {
        const char *path;
        enum tt_cli_bin_kind kind;
    } real[] = {
        { "/usr/bin/curl", TT_BIN_LIBCURL },
        { "/usr/bin/python3", TT_BIN_PLAIN },
        { "tests/node/node_modules/node22/bin/node", TT_BIN_OWN_OPENSSL },
        { "tests/node/node_modules/node18/bin/node", TT_BIN_OWN_OPENSSL },
        { "tests/node/node_modules/bun/bin/bun", TT_BIN_BORINGSSL },
    };
    size_t seen = 0;

    for (size_t i = 0; i < sizeof(real) / sizeof(real[0]); i++) {
        struct tt_cli_elf e;
        struct tt_cli_bin b;
        if (access(real[i].path, R_OK) != 0)
            continue;
        cr_assert_eq(tt_cli_elf_inspect(real[i].path, &e), TT_OK, "%s", real[i].path);
        tt_cli_bin_classify(&e, &b);
        cr_assert_eq(b.kind, real[i].kind, "%s: %s (%s)", real[i].path, b.name, b.why);
        seen++;
    }
    cr_assert_geq(seen, 2);
}
