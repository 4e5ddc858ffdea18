/* provider.c - host -> provider table and TOKENTAP_HOSTS. */
#include "provider.h"
#include "api.h"
#include "rt.h"
#include "tt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Exact hosts. Suffix rows start with '.' and match any subdomain. */
static const struct {
    const char *host;
    const char *provider;
} host_table[] = {
    { "api.openai.com", "openai" },
    { "eu.api.openai.com", "openai" },
    { "us.api.openai.com", "openai" },
    { "api.anthropic.com", "anthropic" },
};

/* Model servers people run on their own machine, by their default port.
 * Only loopback hosts: on any other host these ports mean nothing. A named
 * host keeps a connection's framing followed even when its first request
 * is not an API call (a client listing /v1/models first). */
static const struct {
    int port;
    const char *provider;
} local_ports[] = {
    { 11434, "ollama" },   /* Ollama */
    { 8000, "local" },     /* vLLM */
    { 8080, "local" },     /* llama.cpp server */
    { 1234, "local" },     /* LM Studio */
    { 4000, "local" },     /* LiteLLM proxy */
};

static bool is_loopback(const char *h, size_t n)
{
    return tt_tok_ieq(h, n, "localhost") || tt_tok_ieq(h, n, "::1") ||
           (n >= 4 && !strncmp(h, "127.", 4));
}

#define MAX_USER_HOSTS 64

struct user_host {
    char host[256];           /* lower case, no port */
    int port;                 /* 0 = any */
    char provider[64];
};

static struct user_host user_hosts[MAX_USER_HOSTS];
static size_t n_user_hosts;
static pthread_once_t user_once = PTHREAD_ONCE_INIT;

static void parse_user_hosts(void)
{
    const char *p = getenv("TOKENTAP_HOSTS");

    n_user_hosts = 0;
    while (p && *p && n_user_hosts < MAX_USER_HOSTS) {
        size_t len = strcspn(p, ", ");
        const char *eq = memchr(p, '=', len);
        if (eq && eq > p && (size_t)(eq - p) < sizeof(user_hosts[0].host) &&
            len - (size_t)(eq - p) - 1 < sizeof(user_hosts[0].provider) &&
            len - (size_t)(eq - p) - 1 > 0) {
            struct user_host *u = &user_hosts[n_user_hosts];
            size_t hl = (size_t)(eq - p);
            const char *colon = memchr(p, ':', hl);
            /* [v6]:port is not supported; a v6 literal without brackets
             * has several colons and is taken whole. */
            if (colon && memchr(colon + 1, ':', hl - (size_t)(colon - p) - 1))
                colon = NULL;
            size_t name_len = colon ? (size_t)(colon - p) : hl;
            for (size_t i = 0; i < name_len; i++)
                u->host[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
            u->host[name_len] = '\0';
            u->port = 0;
            if (colon) {
                char *end;
                long port = strtol(colon + 1, &end, 10);
                if (end == eq && port > 0 && port < 65536)
                    u->port = (int)port;
                else
                    goto next;
            }
            memcpy(u->provider, eq + 1, len - hl - 1);
            u->provider[len - hl - 1] = '\0';
            n_user_hosts++;
        } else if (len) {
            tt_log("TOKENTAP_HOSTS: ignoring '%.*s' (want host[:port]=provider)",
                   (int)len, p);
        }
next:
        p += len;
        while (*p == ',' || *p == ' ')
            p++;
    }
}

void tt_provider_reload(void)
{
    pthread_once(&user_once, parse_user_hosts);
    parse_user_hosts();
}

const char *tt_provider_for_host(const char *host, size_t len)
{
    size_t name_len = len;
    int port = 0;

    pthread_once(&user_once, parse_user_hosts);
    /* Split an optional :port: "host:port", "[v6]:port"; a bare v6
     * address has several colons and no port. */
    if (len && host[0] == '[') {
        const char *close = memchr(host, ']', len);
        if (close) {
            const char *after = close + 1;
            size_t rest = len - (size_t)(after - host);
            port = 0;
            if (rest > 1 && after[0] == ':')
                for (const char *q = after + 1; q < host + len; q++)
                    port = (*q >= '0' && *q <= '9' && port <= 65535)
                               ? port * 10 + (*q - '0') : -1;
            host++;
            name_len = (size_t)(close - host);
            goto named;
        }
    }
    const char *colon = memrchr(host, ':', len);
    if (colon && !memchr(host, ':', (size_t)(colon - host)) && host[0] != '[') {
        name_len = (size_t)(colon - host);
        port = 0;
        for (const char *q = colon + 1; q < host + len; q++) {
            if (*q < '0' || *q > '9' || port > 65535) {
                port = -1;
                break;
            }
            port = port * 10 + (*q - '0');
        }
    }
named:
    /* A trailing dot (FQDN) names the same host. */
    if (name_len && host[name_len - 1] == '.')
        name_len--;
    for (size_t i = 0; i < n_user_hosts; i++) {
        const struct user_host *u = &user_hosts[i];
        if (tt_tok_ieq(host, name_len, u->host) &&
            (u->port == 0 || u->port == port))
            return u->provider;
    }
    if (port > 0 && is_loopback(host, name_len))
        for (size_t i = 0; i < sizeof(local_ports) / sizeof(local_ports[0]); i++)
            if (local_ports[i].port == port)
                return local_ports[i].provider;
    for (size_t i = 0; i < sizeof(host_table) / sizeof(host_table[0]); i++) {
        const char *h = host_table[i].host;
        size_t hl = strlen(h);
        if (h[0] == '.') {
            if (name_len > hl &&
                !strncasecmp(host + name_len - hl, h, hl))
                return host_table[i].provider;
        } else if (tt_tok_ieq(host, name_len, h)) {
            return host_table[i].provider;
        }
    }
    return NULL;
}

const char *tt_provider_resolve(const char *host_provider,
                                const struct tt_api_ops *api, bool tls)
{
    if (host_provider && strcmp(host_provider, TT_PROVIDER_AUTO) != 0)
        return host_provider;
    if (!api)
        return "unknown";
    if (!host_provider && !tls && !strcmp(api->default_provider, "openai"))
        return "local";
    return api->default_provider;
}
