/* provider.h - which provider serves a host.
 *
 * The built-in host table (one row per provider host; later issues add
 * rows) plus TOKENTAP_HOSTS="host[:port]=provider,..." for gateways,
 * self-hosted servers and tests. A mapping to "auto" means "an LLM host;
 * name the provider after the API the request speaks". */
#ifndef TT_PROVIDER_H
#define TT_PROVIDER_H

#include <stddef.h>

#define TT_PROVIDER_AUTO "auto"

/* host is a Host header value or SNI name, optionally with ":port"
 * (not NUL-terminated). Returns the provider name (static storage) or
 * NULL when the host is not a known LLM host. */
const char *tt_provider_for_host(const char *host, size_t len);

/* Re-read TOKENTAP_HOSTS (tests). */
void tt_provider_reload(void);

#endif
