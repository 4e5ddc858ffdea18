/* real.h - find the real functions behind our hooks, lazily.
 *
 * dlsym(RTLD_NEXT) first; then the library by soname with RTLD_NOLOAD
 * (CPython's _ssl loads libssl in a local scope where RTLD_NEXT finds
 * nothing); then any loaded object whose name matches (dl_iterate_phdr).
 * Never loads a library that the process has not loaded itself. */
#ifndef TT_REAL_H
#define TT_REAL_H

#include "tt.h"

/* sonames: NULL-terminated list, e.g. {"libssl.so.3", "libssl.so.1.1"};
 * match: substring of a loaded object's path for the last resort. */
TT_EXPORT void *tt_real_sym(const char *name, const char *const *sonames,
                  const char *match);

TT_EXPORT extern const char *const tt_real_libssl[];
TT_EXPORT extern const char *const tt_curl_sonames[];

/* Resolve once and cache in *slot (atomic). NULL when not found. */
#define TT_REAL(slot, name, sonames, match)                                   \
    ({                                                                        \
        __typeof__(slot) f_ = __atomic_load_n(&(slot), __ATOMIC_ACQUIRE);     \
        if (!f_) {                                                            \
            f_ = (__typeof__(slot))tt_real_sym(name, sonames, match);         \
            __atomic_store_n(&(slot), f_, __ATOMIC_RELEASE);                  \
        }                                                                     \
        f_;                                                                   \
    })

#endif
