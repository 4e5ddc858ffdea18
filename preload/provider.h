/* provider.h - which provider serves a host.
 *
 * The built-in host table (one row per provider host; later issues add
 * rows) plus TOKENTAP_HOSTS="host[:port]=provider,..." for gateways,
 * self-hosted servers and tests. A mapping to "auto" means "an LLM host;
 * name the provider after the API the request speaks". */
#ifndef TT_PROVIDER_H
#define TT_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>

#define TT_PROVIDER_AUTO "auto"

/* host is a Host header value or SNI name, optionally with ":port"
 * (not NUL-terminated). Returns the provider name (static storage) or
 * NULL when the host is not a known LLM host. */
const char *tt_provider_for_host(const char *host, size_t len);

struct tt_api_ops;

/* The provider a call is attributed to, the same rule for every transport
 * (HTTP/1.1, HTTP/2, libcurl): the host's provider when the host is named
 * (table or TOKENTAP_HOSTS); "local" for an OpenAI-compatible API reached
 * over plain HTTP on a host nobody named (vLLM, llama.cpp, LM Studio:
 * OpenAI itself only speaks TLS); otherwise the API's own provider.
 * host_provider: tt_provider_for_host()'s answer (NULL, "auto" or a name);
 * api may be NULL ("unknown"). */
const char *tt_provider_resolve(const char *host_provider,
                                const struct tt_api_ops *api, bool tls);

struct tt_hdr;

/* The provider a response's headers name (openai-version -> "openai",
 * anthropic-ratelimit-* -> "anthropic", apim-request-id -> Azure; the
 * table in provider.c), or NULL. For calls whose host named no provider,
 * so the API's default was only a guess. */
const char *tt_provider_from_headers(const struct tt_hdr *h, size_t n);

/* The i-th header name worth asking a by-name header API for (libcurl),
 * NULL past the end. */
#define TT_PROVIDER_HEADER_PROBES 8
const char *tt_provider_header_probe(size_t i);

/* Whether a call to this host (as tt_provider_for_host takes it) gets its
 * provider from the API it speaks rather than from the host: the host is
 * unknown or mapped to "auto". */
bool tt_provider_is_guess(const char *host, size_t len);

/* Row i of the built-in host table ("api.openai.com", ".openai.azure.com"
 * for any subdomain, a '*' for one label), NULL past the end: the names a
 * replay server's certificate must cover (tools/cli_replay.c). */
const char *tt_provider_table_host(size_t i);

/* Re-read TOKENTAP_HOSTS (tests). */
void tt_provider_reload(void);

#endif
