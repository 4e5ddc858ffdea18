/* rt.c - configuration from the environment, fork handling, logging. */
#include "rt.h"
#include "span.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct tt_rt_config tt_rt;
volatile int tt_rt_off;
volatile unsigned tt_rt_fork_gen;
__thread int tt_rt_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static unsigned rt_init_gen = ~0u;
static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;

static bool env_false(const char *v)
{
    return v && (!strcmp(v, "0") || !strcasecmp(v, "off") ||
                 !strcasecmp(v, "false") || !strcasecmp(v, "no"));
}

static bool env_true(const char *v)
{
    return v && *v && !env_false(v);
}

/* The constructor only reads the environment: no thread, socket or
 * allocation, so processes that never talk to an LLM pay nothing. */
__attribute__((constructor)) static void rt_ctor(void)
{
    if (env_true(getenv("TOKENTAP_DISABLE")))
        tt_rt_off = 1;
}

void tt_log(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int n;

    if (!tt_rt.log)
        return;
    n = snprintf(line, sizeof(line), "tokentap[%d]: ", (int)getpid());
    if (n < 0)
        return;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strnlen(line, sizeof(line) - 2);
    line[len++] = '\n';
    /* One write: lines from several processes do not interleave. */
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

static bool is_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

bool tt_rt_parse_traceparent(const char *tp, char *trace, char *parent)
{
    /* 00-<32 hex trace>-<16 hex parent>-<2 hex flags> */
    if (!tp || strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' ||
        tp[52] != '-')
        return false;
    if (!is_hex(tp, 2) || !is_hex(tp + 3, 32) || !is_hex(tp + 36, 16) ||
        !is_hex(tp + 53, 2) || !strncmp(tp, "ff", 2))
        return false;
    if (!strncmp(tp + 3, "00000000000000000000000000000000", 32) ||
        !strncmp(tp + 36, "0000000000000000", 16))
        return false;
    memcpy(trace, tp + 3, 32);
    trace[32] = '\0';
    memcpy(parent, tp + 36, 16);
    parent[16] = '\0';
    return true;
}

/* TOKENTAP_TAGS="k=v,k2=v2" -> {"k":"v","k2":"v2"}; JSON-escaped. */
static char *tags_json(const char *env)
{
    struct tt_buf b;
    const char *p = env;
    bool first = true;

    tt_buf_init(&b, 8192);
    if (tt_buf_append(&b, "{", 1))
        goto fail;
    while (p && *p) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq && eq > p) {
            const char *parts[2] = { p, eq + 1 };
            size_t lens[2] = { (size_t)(eq - p), len - (size_t)(eq - p) - 1 };
            if (!first && tt_buf_append(&b, ",", 1))
                goto fail;
            first = false;
            for (int k = 0; k < 2; k++) {
                if (tt_buf_append(&b, "\"", 1))
                    goto fail;
                for (size_t i = 0; i < lens[k]; i++) {
                    unsigned char c = (unsigned char)parts[k][i];
                    char esc[8];
                    int en;
                    if (c == '"' || c == '\\')
                        en = snprintf(esc, sizeof(esc), "\\%c", c);
                    else if (c < 0x20)
                        en = snprintf(esc, sizeof(esc), "\\u%04x", c);
                    else {
                        esc[0] = (char)c;
                        en = 1;
                    }
                    if (tt_buf_append(&b, esc, (size_t)en))
                        goto fail;
                }
                if (tt_buf_append(&b, k == 0 ? "\":" : "\"", k == 0 ? 2 : 1))
                    goto fail;
            }
        }
        p = end ? end + 1 : NULL;
    }
    if (tt_buf_append(&b, "}", 1))
        goto fail;
    return tt_buf_steal(&b);
fail:
    tt_buf_free(&b);
    return NULL;
}

static void rt_atfork_child(void)
{
    /* Only this thread survives; locks may be held by threads that no
     * longer exist. Modules notice the new generation and reset. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    rt_lock = fresh;
    tt_rt_fork_gen++;
}

static void rt_init_process(void)
{
    /* A fresh trace per process unless a parent handed one down. */
    if (!tt_rt_parse_traceparent(getenv("TRACEPARENT"), tt_rt.trace_id,
                                 tt_rt.parent_id)) {
        tt_span_rand_hex(tt_rt.trace_id, 16);
        tt_rt.parent_id[0] = '\0';
    }
    free(tt_rt.exe);
    tt_rt.exe = NULL;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        tt_rt.exe = strdup(exe);
    }
}

static void rt_init_once(void)
{
    const char *v;

    tt_rt.log = !env_false(getenv("TOKENTAP_LOG"));
    tt_rt.max_body = 8u << 20;
    if ((v = getenv("TOKENTAP_MAX_BODY")) && *v) {
        char *end;
        errno = 0;
        unsigned long long m = strtoull(v, &end, 10);
        if (!errno && end != v && m >= 1024 && m <= (1ull << 31))
            tt_rt.max_body = (size_t)m;
        else
            tt_log("TOKENTAP_MAX_BODY=%s ignored (want bytes, 1024..2^31)", v);
    }
    /* One rule for these paths, shared with tokentapd and the CLI. */
    if (tt_wire_socket_path(tt_rt.socket_path, sizeof(tt_rt.socket_path)) != TT_OK) {
        tt_log("socket path too long for a Unix socket; spans go to the spool");
        tt_rt.socket_path[0] = '\0';
    }
    if (tt_wire_spool_dir(tt_rt.spool_dir, sizeof(tt_rt.spool_dir)) != TT_OK)
        tt_rt.spool_dir[0] = '\0';
    if ((v = getenv("TOKENTAP_SESSION_ID")) && *v)
        tt_rt.session_id = strdup(v);
    if ((v = getenv("TOKENTAP_TAGS")) && *v)
        tt_rt.tags = tags_json(v);
    pthread_atfork(NULL, NULL, rt_atfork_child);
}

bool tt_rt_ready(void)
{
    if (tt_rt_off)
        return false;
    pthread_once(&rt_once, rt_init_once);
    if (rt_init_gen != tt_rt_fork_gen) {
        pthread_mutex_lock(&rt_lock);
        if (rt_init_gen != tt_rt_fork_gen) {
            rt_init_process();
            rt_init_gen = tt_rt_fork_gen;
        }
        pthread_mutex_unlock(&rt_lock);
    }
    return !tt_rt_off;
}
