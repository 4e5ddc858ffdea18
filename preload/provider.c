/* provider.c - host -> provider table and TOKENTAP_HOSTS. */
#include "provider.h"
#include "settings.h"
#include "api.h"
#include "rt.h"
#include "tt.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Exact hosts. Suffix rows start with '.' and match any subdomain. A '*'
 * stands for exactly one DNS label (the AWS region). */
static const struct {
    const char *host;
    const char *provider;
} host_table[] = {
    { "api.openai.com", "openai" },
    { "eu.api.openai.com", "openai" },
    { "us.api.openai.com", "openai" },
    { "api.anthropic.com", "anthropic" },
    /* Google: the Gemini API, and Vertex AI's global endpoint and regional
     * ones ({location}-aiplatform.googleapis.com: the '*' is the location
     * part of the label). providers.md section 5. */
    { "generativelanguage.googleapis.com", "gcp.gemini" },
    { "aiplatform.googleapis.com", "gcp.vertex_ai" },
    { "*-aiplatform.googleapis.com", "gcp.vertex_ai" },
    /* AWS Bedrock runtime, every region (Helicone's bedrock pattern;
     * providers.md section 7). Not all of amazonaws.com: S3 and friends
     * must stay untraced. */
    { "bedrock-runtime.*.amazonaws.com", "aws.bedrock" },
    /* Azure OpenAI resources ({resource}.openai.azure.com) and the newer
     * AI Foundry / AI Services endpoints that serve the same deployments
     * (Helicone's azurePattern; providers.md section 6). *.azure-api.net
     * is API Management in front of anything, so it is left to the
     * response headers (tt_provider_from_headers). */
    { ".openai.azure.com", "azure.ai.openai" },
    { ".services.ai.azure.com", "azure.ai.openai" },
    { ".cognitiveservices.azure.com", "azure.ai.openai" },
    /* OpenAI-compatible hosted APIs (base URLs in providers.md section 8
     * and Helicone's host table). */
    { "api.mistral.ai", "mistral_ai" },
    { "api.groq.com", "groq" },
    { "api.deepseek.com", "deepseek" },
    { "api.x.ai", "x_ai" },
    { "openrouter.ai", "openrouter" },
    { "api.together.xyz", "together_ai" },
    { "api.together.ai", "together_ai" },
    { "api.fireworks.ai", "fireworks_ai" },
    { "api.perplexity.ai", "perplexity" },
    /* Cohere: api.cohere.com today, api.cohere.ai the older name. */
    { "api.cohere.com", "cohere" },
    { "api.cohere.ai", "cohere" },
};

/* Response headers that only one provider sends. They name the provider
 * of a call whose host nobody named (a gateway, a proxy, an IP address):
 * tt_provider_from_headers. Only signals read in a source:
 *   openai-organization / openai-version / openai-processing-ms: OpenAI's
 *     API reference ("HTTP headers returned with API responses"); Azure
 *     OpenAI does not send them (openai-php/client issue #201);
 *   anthropic-ratelimit-*: Anthropic's rate-limit docs;
 *   apim-request-id, x-ms-region, x-ms-deployment-name: Azure OpenAI
 *     (Azure's OpenAPI diff of chat completions, litellm issue #15232,
 *     openai-python issue #3271).
 * Not used: x-ratelimit-*-requests (OpenAI, Groq and Mistral-like APIs
 * all send that family) and Groq/OpenRouter headers no source confirmed.
 * Azure rows come first: a gateway in front of Azure is Azure. */
static const struct {
    const char *name;         /* lower case; a trailing '*' is a prefix */
    const char *provider;
} header_table[] = {
    { "x-ms-deployment-name", "azure.ai.openai" },
    { "x-ms-region", "azure.ai.openai" },
    { "apim-request-id", "azure.ai.openai" },
    { "openai-organization", "openai" },
    { "openai-version", "openai" },
    { "openai-processing-ms", "openai" },
    { "anthropic-ratelimit-*", "anthropic" },
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

const char *tt_provider_table_host(size_t i)
{
    return i < sizeof(host_table) / sizeof(host_table[0]) ? host_table[i].host : NULL;
}

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
    const char *p = tt_settings()->hosts;

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

/* host matches pattern h (hl bytes) whose '*' at offset star is one
 * non-empty DNS label: case-insensitive prefix and suffix around it. */
static bool host_label_glob(const char *host, size_t n, const char *h,
                            size_t hl, size_t star)
{
    size_t tail = hl - star - 1;

    if (n <= star + tail || strncasecmp(host, h, star) != 0 ||
        strncasecmp(host + n - tail, h + star + 1, tail) != 0)
        return false;
    return memchr(host + star, '.', n - star - tail) == NULL;
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
        const char *star = strchr(h, '*');
        if (star) {
            if (host_label_glob(host, name_len, h, hl, (size_t)(star - h)))
                return host_table[i].provider;
        } else if (h[0] == '.') {
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

/* Whether header name h (h_len bytes, any case) is the table's pattern. */
static bool header_matches(const char *h, size_t h_len, const char *pat)
{
    size_t pl = strlen(pat);

    if (pl && pat[pl - 1] == '*')
        return h_len >= pl - 1 && !strncasecmp(h, pat, pl - 1);
    return h_len == pl && !strncasecmp(h, pat, pl);
}

const char *tt_provider_from_headers(const struct tt_hdr *h, size_t n)
{
    /* Table order decides, not header order: the most specific signal
     * wins whatever order the server sent them in. */
    for (size_t r = 0; r < sizeof(header_table) / sizeof(header_table[0]); r++)
        for (size_t i = 0; i < n; i++)
            if (header_matches(h[i].name, h[i].name_len, header_table[r].name))
                return header_table[r].provider;
    return NULL;
}

/* Exact names of the headers above, for transports that can only ask for
 * a header by name (libcurl's curl_easy_header): a prefix row is probed
 * through the members of its family that Anthropic's docs list. */
static const char *const header_probe[] = {
    "x-ms-deployment-name", "x-ms-region", "apim-request-id",
    "openai-organization", "openai-version", "openai-processing-ms",
    "anthropic-ratelimit-requests-limit", "anthropic-ratelimit-tokens-limit",
};

_Static_assert(sizeof(header_probe) / sizeof(header_probe[0]) ==
                   TT_PROVIDER_HEADER_PROBES,
               "provider.h's TT_PROVIDER_HEADER_PROBES sizes curlx's array");

const char *tt_provider_header_probe(size_t i)
{
    return i < sizeof(header_probe) / sizeof(header_probe[0]) ? header_probe[i]
                                                               : NULL;
}

bool tt_provider_is_guess(const char *host, size_t len)
{
    const char *p = tt_provider_for_host(host, len);

    return !p || !strcmp(p, TT_PROVIDER_AUTO);
}
