/* test_provider.c - host -> provider: built-in table and TOKENTAP_HOSTS. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"

static const char *lookup(const char *host)
{
    return tt_provider_for_host(host, strlen(host));
}

Test(provider, builtin_hosts)
{
    static const struct { const char *host, *want; } cases[] = {
        { "api.openai.com", "openai" },
        { "API.OpenAI.com", "openai" },
        { "api.openai.com:443", "openai" },
        { "api.openai.com.", "openai" },
        { "eu.api.openai.com", "openai" },
        { "api.anthropic.com", "anthropic" },
        { "api.anthropic.com:443", "anthropic" },
        { "openai.com", NULL },
        { "api.openai.com.evil.example", NULL },
        { "notapi.anthropic.com", NULL },
        { "", NULL },
    };
    unsetenv("TOKENTAP_HOSTS");
    tt_provider_reload();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lookup(cases[i].host);
        if (cases[i].want)
            cr_expect(got && !strcmp(got, cases[i].want), "%s -> %s", cases[i].host,
                      got ? got : "(null)");
        else
            cr_expect_null(got, "%s -> %s", cases[i].host, got);
    }
}

Test(provider, user_hosts_with_and_without_port)
{
    setenv("TOKENTAP_HOSTS",
           "127.0.0.1:8443=auto, llm.corp:9000=openai,Gateway.Local=anthropic,"
           "bad-entry,=x,h:99999=openai,h2:12=", 1);
    tt_provider_reload();
    static const struct { const char *host, *want; } cases[] = {
        { "127.0.0.1:8443", "auto" },
        { "127.0.0.1:8444", NULL },         /* the port must match */
        { "127.0.0.1", NULL },
        { "llm.corp:9000", "openai" },
        { "gateway.local", "anthropic" },   /* no port: any port */
        { "GATEWAY.LOCAL:1234", "anthropic" },
        { "h:99999", NULL },                /* invalid port rejected */
        { "h2:12", NULL },                  /* empty provider rejected */
        { "api.openai.com", "openai" },     /* built-ins still there */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lookup(cases[i].host);
        if (cases[i].want)
            cr_expect(got && !strcmp(got, cases[i].want), "%s -> %s", cases[i].host,
                      got ? got : "(null)");
        else
            cr_expect_null(got, "%s -> %s", cases[i].host, got);
    }
}

Test(provider, user_mapping_overrides_builtin)
{
    setenv("TOKENTAP_HOSTS", "api.openai.com=azure.ai.openai", 1);
    tt_provider_reload();
    cr_expect_str_eq(lookup("api.openai.com"), "azure.ai.openai");
}

Test(provider, local_model_servers_by_port_on_loopback_only)
{
    unsetenv("TOKENTAP_HOSTS");
    tt_provider_reload();
    static const struct { const char *host, *want; } cases[] = {
        { "localhost:11434", "ollama" },
        { "127.0.0.1:11434", "ollama" },
        { "[::1]:11434", "ollama" },
        { "127.0.0.1:8000", "local" },
        { "localhost:1234", "local" },
        { "10.0.0.5:11434", NULL },     /* not loopback */
        { "localhost", NULL },          /* no port */
        { "localhost:11435", NULL },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lookup(cases[i].host);
        if (cases[i].want)
            cr_expect(got && !strcmp(got, cases[i].want), "%s -> %s", cases[i].host,
                      got ? got : "(null)");
        else
            cr_expect_null(got, "%s -> %s", cases[i].host, got);
    }
}

Test(provider, resolve_rule_is_one_for_every_transport)
{
    extern const struct tt_api_ops tt_openai_chat_api, tt_anthropic_messages_api;
    cr_expect_str_eq(tt_provider_resolve("anthropic", &tt_openai_chat_api, true), "anthropic");
    cr_expect_str_eq(tt_provider_resolve("auto", &tt_openai_chat_api, true), "openai");
    cr_expect_str_eq(tt_provider_resolve("auto", &tt_openai_chat_api, false), "openai");
    cr_expect_str_eq(tt_provider_resolve(NULL, &tt_openai_chat_api, true), "openai");
    cr_expect_str_eq(tt_provider_resolve(NULL, &tt_openai_chat_api, false), "local");
    cr_expect_str_eq(tt_provider_resolve(NULL, &tt_anthropic_messages_api, false), "anthropic");
    cr_expect_str_eq(tt_provider_resolve(NULL, NULL, true), "unknown");
}
