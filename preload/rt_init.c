/* rt_init.c - the capture's runtime state, set up on the first
 * LLM-looking connection (never at process start): the limits and
 * identity every span carries (TOKENTAP_MAX_BODY, SAMPLE_RATE, SESSION_ID,
 * TAGS, METADATA, redaction, the daemon's socket and spool, the trace of
 * this process), and TOKENTAP_ONLY_CMDS / SKIP_CMDS. Part of the capture
 * core (libtokentap-core.so, loaded by hooks/core.c); rt.c, in the object
 * every process loads, keeps only what the hooks need at every call. */
#include "rt.h"
#include "api.h"
#include "json.h"
#include "ownfd.h"
#include "settings.h"
#include "span.h"
#include "wire.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_once_t rt_once = PTHREAD_ONCE_INIT;
static unsigned rt_init_gen = ~0u;
static pthread_mutex_t rt_lock = PTHREAD_MUTEX_INITIALIZER;

/* Fork: a parent thread may have held the lock. */
static void rt_init_atfork_child(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;

    rt_lock = fresh;
}

static struct tt_atfork rt_init_fork = { .child = rt_init_atfork_child };

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');

    return s ? s + 1 : p;
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

char *tt_rt_metadata_json(const char *env)
{
    json_t *j = NULL;
    char *out = NULL;

    if (env && tt_json_parse(env, strlen(env), &j) == TT_OK && json_is_object(j) &&
        tt_json_dump(j, &out) == TT_OK) {
        json_decref(j);
        return out;
    }
    json_decref(j);
    tt_log("TOKENTAP_METADATA ignored: not a JSON object");
    return NULL;
}

bool tt_rt_parse_rate(const char *v, double *out)
{
    char *end;

    if (!v || !*v)
        return false;
    errno = 0;
    double r = strtod(v, &end);
    while (*end == ' ')
        end++;
    if (errno || end == v || *end || !isfinite(r) || r < 0 || r > 1)
        return false;
    *out = r;
    return true;
}

bool tt_rt_sampled(void)
{
    if (tt_rt.sample_rate >= 1.0)
        return true;
    if (tt_rt.sample_rate <= 0.0)
        return false;
    /* The ids' generator (span.c), not a getrandom(2) per call. */
    uint64_t x = tt_span_rand_u64();
    return (double)(x >> 11) * (1.0 / 9007199254740992.0) < tt_rt.sample_rate;
}

/* TOKENTAP_ONLY_CMDS / TOKENTAP_SKIP_CMDS for this program: read lazily
 * (first LLM-looking connection), never in the constructor. */
static bool rt_cmd_check(void)
{
    const struct tt_settings *st = tt_settings();
    const char *only = st->only_cmds;
    const char *skip = st->skip_cmds;
    char exe[PATH_MAX], cmd[4096];
    const char *names[3] = { NULL, NULL, NULL };
    size_t len = 0;

    if (!(only && *only) && !(skip && *skip))
        return true;
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n > 0) {
        exe[n] = '\0';
        names[0] = base_name(exe);
    }
    ssize_t got = tt_ownfd_read_file("/proc/self/cmdline", cmd, sizeof(cmd));
    len = got > 0 ? (size_t)got : 0;
    if (len) {
        names[1] = base_name(cmd);
        if (tt_rt_is_interpreter(names[1]) ||
            (names[0] && tt_rt_is_interpreter(names[0]))) {
            /* The first argument that is not an option. */
            for (size_t off = strlen(cmd) + 1; off < len; off += strlen(cmd + off) + 1) {
                if (cmd[off] != '-') {
                    names[2] = base_name(cmd + off);
                    break;
                }
                if (!strcmp(cmd + off, "-c") || !strcmp(cmd + off, "-m"))
                    break;      /* python -c CODE / -m module: no script */
            }
        }
    }
    return tt_rt_cmd_allowed(only, skip, names, 3);
}

bool tt_rt_parse_traceparent(const char *tp, char *trace, char *parent)
{
    return tt_traceparent_parse(tp, trace, parent) == TT_OK;
}

static void rt_init_process(void)
{
    /* A fresh trace per process unless a parent handed one down. */
    if (!tt_rt_parse_traceparent(tt_settings()->traceparent, tt_rt.trace_id,
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
    const struct tt_settings *st = tt_settings();
    const char *v;

    tt_rt_fork_watch();
    tt_rt.max_body = 8u << 20;
    if ((v = st->max_body) && *v) {
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
    tt_rt.sample_rate = 1.0;
    if ((v = st->sample_rate) && *v &&
        !tt_rt_parse_rate(v, &tt_rt.sample_rate))
        tt_log("TOKENTAP_SAMPLE_RATE=%s ignored (want a number from 0 to 1)", v);
    char err[256];
    int rc = tt_redact_from_env(&tt_rt.redact, err, sizeof(err));
    if (rc != TT_OK) {
        /* Fail closed: content that was meant to be redacted is not sent. */
        tt_api_set_capture(false);
        tt_log("%s: prompt and completion capture is off", rc == TT_ERR_NOMEM ? "out of memory" : err);
    }
    if (!rt_cmd_check()) {
        tt_rt_off = 1;
        return;
    }
    st = tt_settings();     /* the calls above may have read it again */
    if ((v = st->session_id) && *v)
        tt_rt.session_id = strdup(v);
    if ((v = st->tags) && *v)
        tt_rt.tags = tags_json(v);
    if ((v = st->metadata) && *v)
        tt_rt.metadata = tt_rt_metadata_json(v);
}

bool tt_rt_ready(void)
{
    if (tt_rt_off)
        return false;
    tt_atfork_register(&rt_init_fork);
    pthread_once(&rt_once, rt_init_once);
    /* Double-checked: the acquire load pairs with the release store, so a
     * thread that sees the new generation also sees rt_init_process's
     * writes (a plain read here was a data race: TSan, make test-tsan). */
    if (__atomic_load_n(&rt_init_gen, __ATOMIC_ACQUIRE) != tt_rt_fork_gen) {
        pthread_mutex_lock(&rt_lock);
        if (rt_init_gen != tt_rt_fork_gen) {
            rt_init_process();
            __atomic_store_n(&rt_init_gen, tt_rt_fork_gen, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&rt_lock);
    }
    return !tt_rt_off;
}

