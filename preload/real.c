/* real.c - lazy resolution of the functions our hooks wrap. */
#include "real.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

const char *const tt_real_libssl[] = { "libssl.so.3", "libssl.so.1.1", NULL };
const char *const tt_curl_sonames[] = { "libcurl.so.4", "libcurl-gnutls.so.4",
                                        NULL };

struct phdr_search {
    const char *match;
    const char *name;
    void *sym;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *ud)
{
    struct phdr_search *s = ud;

    (void)size;
    if (!info->dlpi_name || !strstr(info->dlpi_name, s->match))
        return 0;
    void *h = dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return 0;
    s->sym = dlsym(h, s->name);
    dlclose(h);                 /* NOLOAD took a reference; give it back */
    return s->sym != NULL;
}

void *tt_real_sym(const char *name, const char *const *sonames,
                  const char *match)
{
    void *f = dlsym(RTLD_NEXT, name);

    for (size_t i = 0; !f && sonames && sonames[i]; i++) {
        void *h = dlopen(sonames[i], RTLD_NOW | RTLD_NOLOAD);
        if (h) {
            f = dlsym(h, name);
            dlclose(h);
        }
    }
    if (!f && match) {
        struct phdr_search s = { .match = match, .name = name };
        dl_iterate_phdr(phdr_cb, &s);
        f = s.sym;
    }
    return f;
}
