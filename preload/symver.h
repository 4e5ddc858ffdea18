/* symver.h - the hook object binds every libc symbol at GLIBC_2.2.5.
 *
 * The loader checks each symbol version an object needs against libc's
 * version definitions at every exec (about 600 instructions apiece, bench
 * fig 4). Built plainly, the hook object needed six: GLIBC_2.14 (memcpy),
 * 2.17 (clock_gettime), 2.3.2 (__register_atfork, under pthread_atfork),
 * 2.33 (fstat, stat) and 2.34 (dlsym and the rest of the old libdl, and
 * pthread_once). glibc keeps each of these functions exported at
 * GLIBC_2.2.5 as well, the same code at the same address (the old libdl,
 * librt and libpthread names), except memcpy@GLIBC_2.2.5, which is
 * memmove: correct for every memcpy. stat and fstat have no GLIBC_2.2.5
 * name: the hook object calls the system calls (hooks/libc.c,
 * preload/elfcheck.c). Included (-include) in the hook object's sources
 * only: the core and the programs link as usual. x86-64 glibc only, where
 * GLIBC_2.2.5 is the base version. */
#ifndef TT_SYMVER_H
#define TT_SYMVER_H

#include <features.h>     /* __GLIBC__ */

#if defined(__x86_64__) && defined(__GLIBC__) && !defined(__clang_analyzer__)
__asm__(".symver memcpy,memcpy@GLIBC_2.2.5");
__asm__(".symver clock_gettime,clock_gettime@GLIBC_2.2.5");
__asm__(".symver pthread_atfork,pthread_atfork@GLIBC_2.2.5");
__asm__(".symver pthread_once,pthread_once@GLIBC_2.2.5");
__asm__(".symver dlsym,dlsym@GLIBC_2.2.5");
__asm__(".symver dlvsym,dlvsym@GLIBC_2.2.5");
__asm__(".symver dlopen,dlopen@GLIBC_2.2.5");
__asm__(".symver dlclose,dlclose@GLIBC_2.2.5");
__asm__(".symver dlerror,dlerror@GLIBC_2.2.5");
__asm__(".symver dladdr,dladdr@GLIBC_2.2.5");
#endif

#endif
