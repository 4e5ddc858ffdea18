/* dlshim.c - jansson, zlib, brotli, zstd and nghttp2, reached lazily.
 *
 * The preload is loaded into every process the traced program starts, so
 * it links nothing but libc: loading six more libraries into every `sh`
 * and `git` would break DESIGN.md's "cost zero" rule, and Debian's static
 * archives of these libraries are not PIC. Instead this file defines the
 * few functions tokentap uses, with their real prototypes; the first call
 * dlopen()s the library (only ever on an LLM connection) and forwards.
 * exports.map keeps these definitions local to the preload, so they never
 * interpose on the application's own use of the same libraries.
 * If a library is missing, the shim returns the library's own failure
 * value and the caller's error path reports it on the span. */
#include <brotli/decode.h>
#include <dlfcn.h>
#include <jansson.h>
#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <zlib.h>
#include <zstd.h>
#if defined(__x86_64__)
#include <Zydis/Decoder.h>
#endif

#include "rt.h"

/* deep: the library's calls to its own functions must reach its own
 * definitions, not same-named ones of the program. Node exports its
 * bundled zlib, brotli, nghttp2 (and zstd in newer releases) from the
 * executable, which comes first in the global scope: libz's inflateInit2_
 * then called Node's inflateReset2 on libz's state, and the heap was
 * corrupt (seen with valgrind under Node 24). RTLD_DEEPBIND puts the
 * library's own scope first. Not for jansson: tokentap frees what it
 * allocates, which must stay the program's malloc. Not under ASan/TSan,
 * whose runtimes refuse RTLD_DEEPBIND (their builds are not run on Node). */
struct shim_lib {
    const char *const sonames[3];
    bool deep;
    pthread_once_t once;
    void *handle;
};

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define DEEP false
#else
#define DEEP true
#endif

static struct shim_lib lib_jansson = { { "libjansson.so.4", NULL }, false, PTHREAD_ONCE_INIT, NULL };
static struct shim_lib lib_z = { { "libz.so.1", NULL }, DEEP, PTHREAD_ONCE_INIT, NULL };
static struct shim_lib lib_brotli = { { "libbrotlidec.so.1", NULL }, DEEP, PTHREAD_ONCE_INIT, NULL };
static struct shim_lib lib_zstd = { { "libzstd.so.1", NULL }, DEEP, PTHREAD_ONCE_INIT, NULL };
static struct shim_lib lib_nghttp2 = { { "libnghttp2.so.14", NULL }, DEEP, PTHREAD_ONCE_INIT, NULL };
#if defined(__x86_64__)
static struct shim_lib lib_zydis = { { "libZydis.so.4.0", "libZydis.so.4", NULL }, DEEP,
                                     PTHREAD_ONCE_INIT, NULL };
#endif

static struct shim_lib *loading;

static void shim_load(void)
{
    void *h = NULL;

    for (size_t i = 0; loading->sonames[i] && !h; i++)
        h = dlopen(loading->sonames[i],
                   RTLD_NOW | RTLD_LOCAL | (loading->deep ? RTLD_DEEPBIND : 0));
    if (!h)
        tt_log("%s not available (%s): part of the capture is disabled",
               loading->sonames[0], dlerror());
    /* Published once, with release: other threads read it without the
     * lock (a plain store here was a data race: TSan, make test-tsan). */
    __atomic_store_n(&loading->handle, h, __ATOMIC_RELEASE);
}

static pthread_mutex_t shim_m = PTHREAD_MUTEX_INITIALIZER;

/* A fork while another thread loads a library must not leave the child
 * with shim_m held (the load itself is the parent's or finished). */
static void shim_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    shim_m = fresh;
}

static struct tt_atfork shim_fork = { .child = shim_atfork_child };

static void *shim_sym(struct shim_lib *lib, const char *name)
{
    if (!__atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE)) {
        tt_atfork_register(&shim_fork);
        /* pthread_once has no argument: serialise the loads instead. */
        pthread_mutex_lock(&shim_m);
        loading = lib;
        pthread_once(&lib->once, shim_load);
        pthread_mutex_unlock(&shim_m);
    }
    void *h = __atomic_load_n(&lib->handle, __ATOMIC_ACQUIRE);
    return h ? dlsym(h, name) : NULL;
}

/* jansson, which every call's parsing needs, loaded now on the calling
 * (program) thread: the loader opens and closes its file, and the capture
 * worker never touches a descriptor (defer.h, deliver.h). The decoders'
 * libraries are loaded when a response names its encoding
 * (tt_decoder_prepare). */
void tt_dlshim_warm(void);
void tt_dlshim_warm(void)
{
    (void)shim_sym(&lib_jansson, "json_loadb");
}

#define SHIM(lib, ret, name, params, args, fail)                              \
    ret name params                                                           \
    {                                                                         \
        static ret(*fn_) params;                                              \
        ret(*f_) params = __atomic_load_n(&fn_, __ATOMIC_ACQUIRE);            \
        if (!f_) {                                                            \
            f_ = (ret(*) params)shim_sym(&lib, #name);                        \
            if (!f_)                                                          \
                return fail;                                                  \
            __atomic_store_n(&fn_, f_, __ATOMIC_RELEASE);                     \
        }                                                                     \
        return f_ args;                                                       \
    }

#define SHIM_VOID(lib, name, params, args)                                    \
    void name params                                                          \
    {                                                                         \
        static void(*fn_) params;                                             \
        void(*f_) params = __atomic_load_n(&fn_, __ATOMIC_ACQUIRE);           \
        if (!f_) {                                                            \
            f_ = (void(*) params)shim_sym(&lib, #name);                       \
            if (!f_)                                                          \
                return;                                                       \
            __atomic_store_n(&fn_, f_, __ATOMIC_RELEASE);                     \
        }                                                                     \
        f_ args;                                                              \
    }

/* --- jansson ------------------------------------------------------------- */
SHIM(lib_jansson, json_t *, json_loadb,
     (const char *b, size_t n, size_t fl, json_error_t *e), (b, n, fl, e), NULL)
SHIM(lib_jansson, json_t *, json_loads,
     (const char *s, size_t fl, json_error_t *e), (s, fl, e), NULL)
SHIM_VOID(lib_jansson, json_delete, (json_t *j), (j))
SHIM(lib_jansson, json_t *, json_object_get, (const json_t *o, const char *k), (o, k), NULL)
SHIM(lib_jansson, json_t *, json_object_getn,
     (const json_t *o, const char *k, size_t n), (o, k, n), NULL)
SHIM(lib_jansson, size_t, json_object_size, (const json_t *o), (o), 0)
SHIM(lib_jansson, int, json_object_set_new,
     (json_t *o, const char *k, json_t *v), (o, k, v), -1)
SHIM(lib_jansson, int, json_object_set_new_nocheck,
     (json_t *o, const char *k, json_t *v), (o, k, v), -1)
SHIM(lib_jansson, int, json_object_del, (json_t *o, const char *k), (o, k), -1)
SHIM(lib_jansson, void *, json_object_iter, (json_t *o), (o), NULL)
SHIM(lib_jansson, void *, json_object_iter_next, (json_t *o, void *it), (o, it), NULL)
SHIM(lib_jansson, const char *, json_object_iter_key, (void *it), (it), NULL)
SHIM(lib_jansson, json_t *, json_object_iter_value, (void *it), (it), NULL)
SHIM(lib_jansson, void *, json_object_key_to_iter, (const char *k), (k), NULL)
SHIM(lib_jansson, json_t *, json_array_get, (const json_t *a, size_t i), (a, i), NULL)
SHIM(lib_jansson, size_t, json_array_size, (const json_t *a), (a), 0)
SHIM(lib_jansson, int, json_array_append_new, (json_t *a, json_t *v), (a, v), -1)
SHIM(lib_jansson, int, json_array_clear, (json_t *a), (a), -1)
SHIM(lib_jansson, json_int_t, json_integer_value, (const json_t *j), (j), 0)
SHIM(lib_jansson, double, json_real_value, (const json_t *j), (j), 0)
SHIM(lib_jansson, double, json_number_value, (const json_t *j), (j), 0)
SHIM(lib_jansson, const char *, json_string_value, (const json_t *j), (j), NULL)
SHIM(lib_jansson, size_t, json_string_length, (const json_t *j), (j), 0)
SHIM(lib_jansson, char *, json_dumps, (const json_t *j, size_t fl), (j, fl), NULL)
SHIM(lib_jansson, size_t, json_dumpb, (const json_t *j, char *b, size_t n, size_t fl),
     (j, b, n, fl), 0)
SHIM(lib_jansson, json_t *, json_object, (void), (), NULL)
SHIM(lib_jansson, json_t *, json_array, (void), (), NULL)
SHIM(lib_jansson, json_t *, json_string, (const char *s), (s), NULL)
SHIM(lib_jansson, json_t *, json_stringn, (const char *s, size_t n), (s, n), NULL)
SHIM(lib_jansson, json_t *, json_string_nocheck, (const char *s), (s), NULL)
SHIM(lib_jansson, json_t *, json_stringn_nocheck, (const char *s, size_t n), (s, n), NULL)
SHIM(lib_jansson, json_t *, json_integer, (json_int_t v), (v), NULL)
SHIM(lib_jansson, json_t *, json_real, (double v), (v), NULL)
SHIM(lib_jansson, json_t *, json_true, (void), (), NULL)
SHIM(lib_jansson, json_t *, json_false, (void), (), NULL)
SHIM(lib_jansson, json_t *, json_null, (void), (), NULL)
SHIM(lib_jansson, json_t *, json_deep_copy, (const json_t *j), (j), NULL)
SHIM(lib_jansson, int, json_string_setn, (json_t *j, const char *s, size_t n), (j, s, n), -1)

/* --- zlib ---------------------------------------------------------------- */
SHIM(lib_z, int, inflateInit2_,
     (z_streamp s, int wb, const char *v, int sz), (s, wb, v, sz), Z_VERSION_ERROR)
SHIM(lib_z, int, inflateInit_, (z_streamp s, const char *v, int sz), (s, v, sz),
     Z_VERSION_ERROR)
SHIM(lib_z, int, inflate, (z_streamp s, int fl), (s, fl), Z_STREAM_ERROR)
SHIM(lib_z, int, inflateEnd, (z_streamp s), (s), Z_STREAM_ERROR)
SHIM(lib_z, int, inflateReset, (z_streamp s), (s), Z_STREAM_ERROR)
SHIM(lib_z, int, inflateReset2, (z_streamp s, int wb), (s, wb), Z_STREAM_ERROR)

/* --- brotli -------------------------------------------------------------- */
SHIM(lib_brotli, BrotliDecoderState *, BrotliDecoderCreateInstance,
     (brotli_alloc_func a, brotli_free_func f, void *o), (a, f, o), NULL)
SHIM(lib_brotli, BrotliDecoderResult, BrotliDecoderDecompressStream,
     (BrotliDecoderState *s, size_t *ai, const uint8_t **ni, size_t *ao,
      uint8_t **no, size_t *t), (s, ai, ni, ao, no, t), BROTLI_DECODER_RESULT_ERROR)
SHIM_VOID(lib_brotli, BrotliDecoderDestroyInstance, (BrotliDecoderState *s), (s))
SHIM(lib_brotli, BROTLI_BOOL, BrotliDecoderIsFinished, (const BrotliDecoderState *s),
     (s), BROTLI_FALSE)

/* --- zstd ---------------------------------------------------------------- */
SHIM(lib_zstd, ZSTD_DStream *, ZSTD_createDStream, (void), (), NULL)
SHIM(lib_zstd, size_t, ZSTD_freeDStream, (ZSTD_DStream *s), (s), 0)
SHIM(lib_zstd, size_t, ZSTD_initDStream, (ZSTD_DStream *s), (s), (size_t)-1)
SHIM(lib_zstd, size_t, ZSTD_decompressStream,
     (ZSTD_DStream *s, ZSTD_outBuffer *o, ZSTD_inBuffer *i), (s, o, i), (size_t)-1)
SHIM(lib_zstd, unsigned, ZSTD_isError, (size_t c), (c), 1)
SHIM(lib_zstd, const char *, ZSTD_getErrorName, (size_t c), (c), "zstd unavailable")
SHIM(lib_zstd, size_t, ZSTD_DStreamOutSize, (void), (), 131072)
SHIM(lib_zstd, size_t, ZSTD_DStreamInSize, (void), (), 131072)
SHIM(lib_zstd, size_t, ZSTD_DCtx_reset, (ZSTD_DCtx *c, ZSTD_ResetDirective r), (c, r),
     (size_t)-1)
SHIM(lib_zstd, size_t, ZSTD_DCtx_setParameter, (ZSTD_DCtx *c, ZSTD_dParameter p, int v),
     (c, p, v), (size_t)-1)

/* --- nghttp2 (HPACK inflater only) --------------------------------------- */
SHIM(lib_nghttp2, int, nghttp2_hd_inflate_new, (nghttp2_hd_inflater **p), (p),
     NGHTTP2_ERR_FATAL)
SHIM_VOID(lib_nghttp2, nghttp2_hd_inflate_del, (nghttp2_hd_inflater *i), (i))
SHIM(lib_nghttp2, ssize_t, nghttp2_hd_inflate_hd2,
     (nghttp2_hd_inflater *i, nghttp2_nv *nv, int *fl, const uint8_t *in, size_t n,
      int fin), (i, nv, fl, in, n, fin), NGHTTP2_ERR_HEADER_COMP)
SHIM(lib_nghttp2, int, nghttp2_hd_inflate_end_headers, (nghttp2_hd_inflater *i), (i),
     NGHTTP2_ERR_INVALID_STATE)
SHIM(lib_nghttp2, int, nghttp2_hd_inflate_change_table_size,
     (nghttp2_hd_inflater *i, size_t sz), (i, sz), NGHTTP2_ERR_INVALID_STATE)

/* --- Zydis (x86-64 decoder for the inline hooks, hooks/inline_x86_64.c):
 * loaded only in a process whose executable carries its own OpenSSL. */
#if defined(__x86_64__)
SHIM(lib_zydis, ZyanStatus, ZydisDecoderInit,
     (ZydisDecoder *d, ZydisMachineMode m, ZydisStackWidth w), (d, m, w), ZYAN_STATUS_FAILED)
SHIM(lib_zydis, ZyanStatus, ZydisDecoderDecodeInstruction,
     (const ZydisDecoder *d, ZydisDecoderContext *c, const void *b, ZyanUSize n,
      ZydisDecodedInstruction *i), (d, c, b, n, i), ZYAN_STATUS_FAILED)
#endif
