/* fuzz_pricefile.c - price files (preload/price_file.c): tokentap's TSV,
 * tokentap's JSON and LiteLLM's catalogue, told apart by content.
 *
 * Input: the file's bytes, handed to tt_price_set_load through a memfd
 * (/proc/self/fd/N: no disk). A file is loaded whole or refused with a
 * message naming it; a loaded set has rows with the required fields,
 * prices >= 0 or unset, its index (sorted rows, hash slots) answers every
 * row's own name, and lookups of each row's name, dated and under a
 * Bedrock profile, through the set and then the built-in table, neither
 * crash nor read outside the set. */
#include "fuzz_common.h"

#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "price.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512], name[600];
    struct tt_price_set *s = NULL;
    int fd = memfd_create("fuzz-prices", MFD_CLOEXEC);

    if (fd < 0)
        abort();
    if (size && write(fd, data, size) != (ssize_t)size)
        abort();
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    int rc = tt_price_set_load(path, &s, err, sizeof(err));
    close(fd);
    if (rc != TT_OK) {
        if (s || !strstr(err, path))
            abort();   /* a refusal leaves nothing and names the file */
        return 0;
    }
    if (!s || s->n == 0)
        abort();
    for (size_t i = 0; i < s->n; i++) {
        const struct tt_price *r = &s->rows[i];
        struct tt_price_match m;

        if (!r->model || !r->model[0] || !r->provider || !r->provider[0] || !r->source ||
            !r->date || !r->deprecated || !r->litellm_key || !r->flags)
            abort();
        if (r->input < 0 || r->output < 0 || r->tier_threshold < 0)
            abort();
        if (i > 0 && strcasecmp(s->rows[i - 1].model, r->model) > 0)
            abort();   /* sorted: the lookup's binary search and index rely on it */
        const char *prov = strcmp(r->provider, "*") == 0 ? NULL : r->provider;
        /* the row's own name is never unknown (it may be ambiguous) */
        if (tt_price_lookup(s, prov, r->model, &m) != TT_OK && m.miss == TT_PRICE_UNKNOWN)
            abort();
        snprintf(name, sizeof(name), "%s-2099-12-31", r->model);
        (void)tt_price_lookup(s, prov, name, &m);
        snprintf(name, sizeof(name), "us.%s", r->model);
        (void)tt_price_lookup(s, "aws.bedrock", name, &m);
        if (i > 64)
            break;   /* bounded work per input */
    }
    tt_price_set_free(s);
    return 0;
}
