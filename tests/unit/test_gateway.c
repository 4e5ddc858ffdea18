/* test_gateway.c - the gateway's tables (routes, hop-by-hop headers,
 * base-URL variables, a user's base URL as upstream) and the ELF check
 * that decides which programs it is for. */
#include <criterion/criterion.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcheck.h"
#include "gateway.h"

Test(gateway, route_table)
{
    struct tt_gw_routes rt;
    static const struct { const char *target, *url; } cases[] = {
        { "/openai/chat/completions", "https://api.openai.com/v1/chat/completions" },
        { "/openai/responses?x=1", "https://api.openai.com/v1/responses?x=1" },
        { "/anthropic/v1/messages", "https://api.anthropic.com/v1/messages" },
        { "/gemini/v1beta/models/gemini-2.5-flash:generateContent",
          "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent" },
        { "/ollama/api/chat", "http://127.0.0.1:11434/api/chat" },
        /* no prefix: by the API the path speaks, under the origin */
        { "/api/generate", "http://127.0.0.1:11434/api/generate" },
        { "/v1/messages", "https://api.anthropic.com/v1/messages" },
        { "/v1/chat/completions", "https://api.openai.com/v1/chat/completions" },
        { "/v1beta/models/x:streamGenerateContent?alt=sse",
          "https://generativelanguage.googleapis.com/v1beta/models/x:streamGenerateContent?alt=sse" },
        { "/openai", "https://api.openai.com/v1/" },
        { "/openaix/chat", "https://api.openai.com/openaix/chat" },
    };

    tt_gw_routes_default(&rt);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char url[2048];
        cr_assert_eq(tt_gw_route_url(&rt, cases[i].target, strlen(cases[i].target), url,
                                     sizeof(url)), TT_OK, "%s", cases[i].target);
        cr_expect_str_eq(url, cases[i].url, "%s", cases[i].target);
    }
    char url[16];
    cr_expect_eq(tt_gw_route_url(&rt, "http://x/y", 10, url, sizeof(url)), TT_ERR_PARSE);
    cr_expect_eq(tt_gw_route_url(&rt, "", 0, url, sizeof(url)), TT_ERR_PARSE);
    cr_expect_eq(tt_gw_route_url(&rt, "/openai/chat/completions", 24, url, sizeof(url)),
                 TT_ERR_CAP);
}

Test(gateway, upstream_override)
{
    struct tt_gw_routes rt;
    char url[2048];

    tt_gw_routes_default(&rt);
    cr_assert_eq(tt_gw_routes_set(&rt, "openai=https://corp.example/llm/v1/"), TT_OK);
    cr_assert_eq(tt_gw_route_url(&rt, "/openai/chat/completions", 24, url, sizeof(url)), TT_OK);
    cr_expect_str_eq(url, "https://corp.example/llm/v1/chat/completions");
    /* an unprefixed path goes under the override's origin */
    cr_assert_eq(tt_gw_route_url(&rt, "/v1/embeddings", 14, url, sizeof(url)), TT_OK);
    cr_expect_str_eq(url, "https://corp.example/v1/embeddings");
    cr_assert_eq(tt_gw_routes_set(&rt, "mistral=https://api.mistral.ai/v1"), TT_OK);
    cr_assert_eq(tt_gw_route_url(&rt, "/mistral/chat/completions", 25, url, sizeof(url)), TT_OK);
    cr_expect_str_eq(url, "https://api.mistral.ai/v1/chat/completions");
    static const char *const bad[] = {
        "openai", "=https://x", "openai=ftp://x", "open ai=https://x", "openai=https://",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect_eq(tt_gw_routes_set(&rt, bad[i]), TT_ERR_PARSE, "%s", bad[i]);
}

Test(gateway, hop_headers_and_reasons)
{
    static const struct { const char *name; bool hop; } cases[] = {
        { "Connection", true }, { "keep-alive", true }, { "Transfer-Encoding", true },
        { "TE", true }, { "Upgrade", true }, { "Proxy-Authorization", true },
        { "content-type", false }, { "authorization", false }, { "x-api-key", false },
        { "content-length", false }, { "openai-organization", false },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_expect_eq(tt_gw_hop_header(cases[i].name, strlen(cases[i].name)), cases[i].hop,
                     "%s", cases[i].name);
    cr_expect_str_eq(tt_gw_reason(200), "OK");
    cr_expect_str_eq(tt_gw_reason(429), "Too Many Requests");
    cr_expect_str_eq(tt_gw_reason(529), "Overloaded");
    cr_expect_str_eq(tt_gw_reason(299), "Unknown");
}

Test(gateway, base_env_and_user_upstreams)
{
    char kv[256];
    static const char *const want[] = {
        "OPENAI_BASE_URL=http://127.0.0.1:8790/openai",
        "OPENAI_API_BASE=http://127.0.0.1:8790/openai",
        "ANTHROPIC_BASE_URL=http://127.0.0.1:8790/anthropic",
        "GOOGLE_GEMINI_BASE_URL=http://127.0.0.1:8790/gemini",
        "OLLAMA_HOST=127.0.0.1:8790",
    };
    size_t i = 0;
    while (tt_gw_base_env(i, 8790, kv, sizeof(kv))) {
        cr_assert_lt(i, sizeof(want) / sizeof(want[0]));
        cr_expect_str_eq(kv, want[i]);
        i++;
    }
    cr_expect_eq(i, sizeof(want) / sizeof(want[0]));
    cr_expect_null(tt_gw_base_var(i));

    static const struct { const char *name, *value, *spec; } ups[] = {
        { "OPENAI_BASE_URL", "https://corp/v1", "openai=https://corp/v1" },
        { "OPENAI_API_BASE", "http://litellm:4000", "openai=http://litellm:4000" },
        { "ANTHROPIC_BASE_URL", "https://a.example", "anthropic=https://a.example" },
        { "GOOGLE_GEMINI_BASE_URL", "https://g", "gemini=https://g" },
        { "OLLAMA_HOST", "0.0.0.0", "ollama=http://127.0.0.1:11434" },
        { "OLLAMA_HOST", "gpu-box:9000", "ollama=http://gpu-box:9000" },
        { "OLLAMA_HOST", "https://o.example", "ollama=https://o.example:11434" },
        { "OPENAI_BASE_URL", "", NULL },
        { "OPENAI_BASE_URL", "api.openai.com", NULL },
        { "HOME", "https://x", NULL },
    };
    for (size_t k = 0; k < sizeof(ups) / sizeof(ups[0]); k++) {
        char spec[512];
        bool ok = tt_gw_user_upstream(ups[k].name, ups[k].value, spec, sizeof(spec));
        cr_expect_eq(ok, ups[k].spec != NULL, "%s=%s", ups[k].name, ups[k].value);
        if (ok && ups[k].spec)
            cr_expect_str_eq(spec, ups[k].spec);
    }
}

/* A minimal 64-bit ELF image: header, program headers (PT_INTERP or
 * not), a section table holding .dynstr with the given strings, and
 * extra bytes (a marker) appended. */
static size_t fake_elf(unsigned char *buf, size_t cap, bool interp, const char *dynstr,
                       size_t dyn_len, const char *extra)
{
    memset(buf, 0, cap);
    Elf64_Ehdr *eh = (Elf64_Ehdr *)(void *)buf;
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_type = ET_DYN;
    eh->e_phoff = sizeof(*eh);
    eh->e_phentsize = sizeof(Elf64_Phdr);
    eh->e_phnum = 1;
    Elf64_Phdr *ph = (Elf64_Phdr *)(void *)(buf + eh->e_phoff);
    ph->p_type = interp ? PT_INTERP : PT_LOAD;
    size_t off = eh->e_phoff + sizeof(*ph);
    /* strings: shstrtab then dynstr */
    static const char shstr[] = "\0.shstrtab\0.dynstr\0";
    size_t shstr_off = off;
    memcpy(buf + off, shstr, sizeof(shstr));
    off += sizeof(shstr);
    size_t dyn_off = off;
    memcpy(buf + off, dynstr, dyn_len);
    off += dyn_len;
    off = (off + 7) & ~(size_t)7;
    eh->e_shoff = off;
    eh->e_shentsize = sizeof(Elf64_Shdr);
    eh->e_shnum = 3;
    eh->e_shstrndx = 1;
    Elf64_Shdr *sh = (Elf64_Shdr *)(void *)(buf + off);
    sh[1].sh_type = SHT_STRTAB;
    sh[1].sh_name = 1;
    sh[1].sh_offset = shstr_off;
    sh[1].sh_size = sizeof(shstr);
    sh[2].sh_type = SHT_STRTAB;
    sh[2].sh_name = 11;
    sh[2].sh_offset = dyn_off;
    sh[2].sh_size = dyn_len;
    off += 3 * sizeof(Elf64_Shdr);
    if (extra) {
        memcpy(buf + off, extra, strlen(extra));
        off += strlen(extra);
    }
    cr_assert_leq(off, cap);
    return off;
}

Test(elfcheck, verdicts)
{
    static unsigned char buf[4096];
    static const char libssl[] = "\0libssl.so.3\0libc.so.6\0";
    static const char plain[] = "\0libc.so.6\0libm.so.6\0";
    static const char ssl_sym[] = "\0libc.so.6\0SSL_write\0";
    static const struct {
        bool interp;
        const char *dyn;
        size_t dyn_len;
        const char *extra;
        enum tt_elf_verdict v;
    } cases[] = {
        { false, plain, sizeof(plain), NULL, TT_ELF_STATIC },
        { true, libssl, sizeof(libssl), "BoringSSL", TT_ELF_HOOKABLE },
        { true, ssl_sym, sizeof(ssl_sym), "rustls", TT_ELF_HOOKABLE },
        { true, plain, sizeof(plain), "x BoringSSL x", TT_ELF_OWN_TLS },
        { true, plain, sizeof(plain), ".go.buildinfo", TT_ELF_OWN_TLS },
        { true, plain, sizeof(plain), "/rustls-0.23.4/src/conn.rs", TT_ELF_OWN_TLS },
        { true, plain, sizeof(plain), NULL, TT_ELF_HOOKABLE },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char why[128];
        size_t n = fake_elf(buf, sizeof(buf), cases[i].interp, cases[i].dyn,
                            cases[i].dyn_len, cases[i].extra);
        cr_expect_eq(tt_elf_judge_mem(buf, n, why, sizeof(why)), cases[i].v,
                     "case %zu: %s", i, why);
    }
    /* Not ELF, truncated, 32-bit: hookable (nothing to say otherwise). */
    cr_expect_eq(tt_elf_judge_mem((const unsigned char *)"#!/bin/sh\n", 10, NULL, 0),
                 TT_ELF_HOOKABLE);
    size_t n = fake_elf(buf, sizeof(buf), false, plain, sizeof(plain), NULL);
    cr_expect_eq(tt_elf_judge_mem(buf, 20, NULL, 0), TT_ELF_HOOKABLE);
    buf[EI_CLASS] = ELFCLASS32;
    cr_expect_eq(tt_elf_judge_mem(buf, n, NULL, 0), TT_ELF_HOOKABLE);
    /* A section table pointing past the end is not followed. */
    n = fake_elf(buf, sizeof(buf), true, plain, sizeof(plain), NULL);
    ((Elf64_Ehdr *)(void *)buf)->e_shoff = 1u << 30;
    cr_expect_eq(tt_elf_judge_mem(buf, n, NULL, 0), TT_ELF_HOOKABLE);
}

Test(elfcheck, files_scripts_cache)
{
    char dir[] = "/tmp/tt-elf-XXXXXX", path[256], cache[256], why[128], cmd[600];
    static unsigned char buf[4096];
    static const char plain[] = "\0libc.so.6\0";

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/own", dir);
    size_t n = fake_elf(buf, sizeof(buf), true, plain, sizeof(plain), "BoringSSL");
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fwrite(buf, 1, n, f);
    fclose(f);
    chmod(path, 0755);
    snprintf(cache, sizeof(cache), "%s/cache", dir);
    cr_expect_eq(tt_elf_judge_cached(path, cache, why, sizeof(why)), TT_ELF_OWN_TLS);
    /* second look: from the cache file, same verdict and reason */
    cr_expect_eq(tt_elf_judge_cached(path, cache, why, sizeof(why)), TT_ELF_OWN_TLS);
    cr_expect(strstr(why, "BoringSSL") != NULL, "%s", why);
    /* a script whose interpreter is that program */
    char script[256];
    snprintf(script, sizeof(script), "%s/run.sh", dir);
    f = fopen(script, "w");
    fprintf(f, "#!%s --flag\nexit 0\n", path);
    fclose(f);
    cr_expect_eq(tt_elf_judge(script, NULL, 0), TT_ELF_OWN_TLS);
    /* #!/usr/bin/env NAME through PATH */
    f = fopen(script, "w");
    fprintf(f, "#!/usr/bin/env own\n");
    fclose(f);
    char *old = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", dir, 1);
    cr_expect_eq(tt_elf_judge(script, NULL, 0), TT_ELF_OWN_TLS);
    char found[256];
    cr_expect(tt_elf_which("own", dir, found, sizeof(found)));
    cr_expect_str_eq(found, path);
    cr_expect_not(tt_elf_which("nope", dir, found, sizeof(found)));
    if (old) {
        setenv("PATH", old, 1);
        free(old);
    }
    cr_expect_eq(tt_elf_judge("/nonexistent/x", NULL, 0), TT_ELF_NOT_FOUND);
    /* An executable that defines (exports) SSL_write without libssl: its
     * own OpenSSL, called internally (the official Node builds). */
    char src[256], exe[256];
    snprintf(src, sizeof(src), "%s/own_ssl.c", dir);
    snprintf(exe, sizeof(exe), "%s/own_ssl", dir);
    f = fopen(src, "w");
    fprintf(f, "int SSL_write(void *s, const void *b, int n) { (void)s; (void)b; return n; }\n"
               "int main(void) { return SSL_write(0, 0, 0); }\n");
    fclose(f);
    snprintf(cmd, sizeof(cmd), "cc -rdynamic -o %s %s", exe, src);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(tt_elf_judge(exe, why, sizeof(why)), TT_ELF_OWN_TLS, "%s", why);
    cr_expect(tt_elf_needs_gateway(TT_ELF_OWN_TLS));
    /* Every function the inline hooks patch, exported (the official Node
     * builds): the hooks see it, no gateway unless TOKENTAP_INLINE=off. */
    f = fopen(src, "w");
    fprintf(f, "int SSL_write(void *s, const void *b, int n) { (void)s; (void)b; return n; }\n"
               "int SSL_read(void *s, void *b, int n) { (void)s; (void)b; return n; }\n"
               "void SSL_free(void *s) { (void)s; }\n"
               "const char *SSL_get_servername(const void *s, int t) { (void)s; (void)t; return 0; }\n"
               "int SSL_get_error(const void *s, int r) { (void)s; return r; }\n"
               "int main(void) { return SSL_write(0, 0, 0); }\n");
    fclose(f);
    cr_assert_eq(system(cmd), 0);
    cr_expect_eq(tt_elf_judge(exe, why, sizeof(why)), TT_ELF_OWN_OPENSSL, "%s", why);
    unsetenv("TOKENTAP_INLINE");
    cr_expect(!tt_elf_needs_gateway(TT_ELF_OWN_OPENSSL));
    setenv("TOKENTAP_INLINE", "off", 1);
    cr_expect(tt_elf_needs_gateway(TT_ELF_OWN_OPENSSL));
    unsetenv("TOKENTAP_INLINE");
    /* the system's own programs */
    cr_expect_eq(tt_elf_judge("/bin/sh", NULL, 0), TT_ELF_HOOKABLE);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    cr_expect_eq(system(cmd), 0);
}
