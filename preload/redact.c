/* redact.c - user-defined redaction of captured content (see redact.h). */
#include "redact.h"
#include "settings.h"
#include "ownfd.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "json.h"

int tt_redact_compile(struct tt_redact *r, const char *const *patterns, size_t n,
                      char *err, size_t errn)
{
    r->n = 0;
    if (n > TT_REDACT_MAX) {
        snprintf(err, errn, "more than %d redaction patterns", TT_REDACT_MAX);
        return TT_ERR_PARSE;
    }
    for (size_t i = 0; i < n; i++) {
        int e = regcomp(&r->re[i], patterns[i], REG_EXTENDED);
        if (e != 0) {
            char msg[128];
            regerror(e, &r->re[i], msg, sizeof(msg));
            snprintf(err, errn, "redaction pattern %zu (%.60s): %s", i + 1,
                     patterns[i], msg);
            tt_redact_free(r);
            return TT_ERR_PARSE;
        }
        r->n = i + 1;
    }
    return TT_OK;
}

void tt_redact_free(struct tt_redact *r)
{
    for (size_t i = 0; i < r->n; i++)
        regfree(&r->re[i]);
    r->n = 0;
}

/* Read TOKENTAP_REDACT_FILE (bounded: 64 KiB) into lines. */
static int read_pattern_file(const char *path, char **buf, char **lines, size_t *n,
                             char *err, size_t errn)
{
    enum { MAX = 64 * 1024 };

    if (!(*buf = malloc(MAX + 1)))
        return TT_ERR_NOMEM;
    ssize_t got = tt_ownfd_read_file(path, *buf, MAX + 1);
    if (got < 0) {
        snprintf(err, errn, "TOKENTAP_REDACT_FILE %.200s: %s", path, strerror(errno));
        free(*buf);
        *buf = NULL;
        return TT_ERR_IO;
    }
    for (char *p = *buf, *save = NULL, *l; (l = strtok_r(p, "\n", &save)); p = NULL) {
        size_t ll = strlen(l);
        if (ll && l[ll - 1] == '\r')
            l[--ll] = '\0';
        if (!ll || l[0] == '#')
            continue;
        if (*n == TT_REDACT_MAX) {
            snprintf(err, errn, "more than %d redaction patterns", TT_REDACT_MAX);
            return TT_ERR_PARSE;
        }
        lines[(*n)++] = l;
    }
    return TT_OK;
}

int tt_redact_from_env(struct tt_redact *r, char *err, size_t errn)
{
    const struct tt_settings *st = tt_settings();
    const char *one = st->redact;
    const char *file = st->redact_file;
    const char *pats[TT_REDACT_MAX];
    char *lines[TT_REDACT_MAX];
    char *buf = NULL;
    size_t n = 0, nl = 0;
    int rc;

    r->n = 0;
    if (one && *one)
        pats[n++] = one;
    if (file && *file) {
        rc = read_pattern_file(file, &buf, lines, &nl, err, errn);
        if (rc == TT_OK && n + nl > TT_REDACT_MAX) {
            snprintf(err, errn, "more than %d redaction patterns", TT_REDACT_MAX);
            rc = TT_ERR_PARSE;
        }
        if (rc != TT_OK) {
            free(buf);
            return rc;
        }
        for (size_t i = 0; i < nl; i++)
            pats[n++] = lines[i];
    }
    rc = tt_redact_compile(r, pats, n, err, errn);
    free(buf);
    return rc;
}

int tt_redact_text(const struct tt_redact *r, const char *text, size_t n, char **out)
{
    struct tt_buf b;
    const char *cur = text;
    size_t curn = n;
    char *tmp = NULL;

    *out = NULL;
    for (size_t i = 0; i < r->n; i++) {
        size_t off = 0;
        bool hit = false;
        tt_buf_init(&b, (size_t)-1 / 2);
        while (off <= curn) {
            regmatch_t m[1] = { { .rm_so = (regoff_t)off, .rm_eo = (regoff_t)curn } };
            /* REG_STARTEND: bounded by length, NUL bytes included; REG_NOTBOL
             * after the start so ^ only anchors at the real beginning. */
            int e = regexec(&r->re[i], cur, 1, m,
                            REG_STARTEND | (off ? REG_NOTBOL : 0));
            if (e != 0)
                break;
            size_t so = (size_t)m[0].rm_so, eo = (size_t)m[0].rm_eo;
            if (eo == so) {         /* empty match: step over one byte */
                if (so >= curn)
                    break;
                if (tt_buf_append(&b, cur + off, so + 1 - off) != TT_OK)
                    goto nomem;
                off = so + 1;
                continue;
            }
            hit = true;
            if (tt_buf_append(&b, cur + off, so - off) != TT_OK ||
                tt_buf_append_str(&b, TT_REDACT_MARK) != TT_OK)
                goto nomem;
            off = eo;
        }
        if (!hit) {
            tt_buf_free(&b);
            continue;
        }
        if (off < curn && tt_buf_append(&b, cur + off, curn - off) != TT_OK)
            goto nomem;
        free(tmp);
        curn = b.len;
        tmp = tt_buf_steal(&b);
        cur = tmp;
    }
    *out = tmp;
    return TT_OK;
nomem:
    tt_buf_free(&b);
    free(tmp);
    return TT_ERR_NOMEM;
}

/* Redact every string value of v (recursively). -1 on OOM. */
static int redact_json_value(const struct tt_redact *r, json_t *v)
{
    char *red;

    switch (json_typeof(v)) {
    case JSON_STRING:
        if (tt_redact_text(r, json_string_value(v), json_string_length(v), &red) != TT_OK)
            return -1;
        if (red) {
            int e = json_string_setn(v, red, strlen(red));
            free(red);
            return e;
        }
        return 0;
    case JSON_ARRAY:
        for (size_t i = 0; i < json_array_size(v); i++)
            if (redact_json_value(r, json_array_get(v, i)) != 0)
                return -1;
        return 0;
    case JSON_OBJECT:
        for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it))
            if (redact_json_value(r, json_object_iter_value(it)) != 0)
                return -1;
        return 0;
    default:
        return 0;
    }
}

static int redact_field(const struct tt_redact *r, char **field, bool json)
{
    char *red = NULL;
    json_error_t jerr;
    json_t *v;

    if (!*field)
        return TT_OK;
    size_t n = strlen(*field);
    if (json && (v = json_loadb(*field, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr))) {
        int rc = redact_json_value(r, v) == 0 ? tt_json_dump(v, &red) : TT_ERR_NOMEM;
        json_decref(v);
        if (rc != TT_OK)
            return rc;
    } else if (tt_redact_text(r, *field, n, &red) != TT_OK) {
        return TT_ERR_NOMEM;
    } else if (!red) {
        return TT_OK;
    }
    free(*field);
    *field = red;
    return TT_OK;
}

int tt_redact_body(const struct tt_redact *r, char **body, size_t *len)
{
    char *probe = NULL;

    if (!r || r->n == 0 || !*body)
        return TT_OK;
    /* Untouched unless something matches: a recording stays byte for byte
     * what the program sent and got. */
    if (tt_redact_text(r, *body, *len, &probe) != TT_OK)
        return TT_ERR_NOMEM;
    if (!probe)
        return TT_OK;
    free(probe);
    if (strlen(*body) != *len)
        return TT_ERR_PARSE;    /* NUL bytes: not text, caller drops it */
    int rc = redact_field(r, body, true);
    if (rc == TT_OK)
        *len = strlen(*body);
    return rc;
}

int tt_redact_span(const struct tt_redact *r, struct tt_span *s)
{
    char **json_fields[] = { &s->input, &s->output, &s->tool_calls };
    int rc = TT_OK;

    if (!r || r->n == 0)
        return TT_OK;
    for (size_t i = 0; i < sizeof(json_fields) / sizeof(json_fields[0]); i++) {
        if (redact_field(r, json_fields[i], true) != TT_OK) {
            free(*json_fields[i]);      /* never sent unredacted */
            *json_fields[i] = NULL;
            rc = TT_ERR_NOMEM;
        }
    }
    if (redact_field(r, &s->error, false) != TT_OK) {
        free(s->error);
        s->error = NULL;    /* status stays "error" */
        rc = TT_ERR_NOMEM;
    }
    return rc;
}

/* --- secrets in a request target ------------------------------------------ */

/* Query parameters whose value is dropped from span.path. A list of names
 * would miss the next provider's, so the name (%-decoded) is cut into words
 * (at non-alphanumerics and lower->upper case changes: "X-Goog-Signature",
 * "api_key", "apiKey") and it is secret when a word is one of
 * secret_param_words, or ends with key/token/secret/signature ("apikey",
 * "accesstoken"), or starts with auth/passw/session; "keyboard" is not.
 * A value shaped like a known API key is dropped whatever its name.
 * Dropping a harmless parameter costs little; keeping a secret one leaks it
 * to the store and every export. */
static const char *const secret_param_words[] = {
    "sig", "code", "pass", "pwd", "sk", "jwt", "bearer", "cookie", "sas",
    "credential", "credentials", "cred", "creds", "otp",
};
static const char *const secret_word_suffixes[] = {
    "key", "token", "secret", "signature",
};
static const char *const secret_word_prefixes[] = { "auth", "passw", "session" };
/* Prefixes of API keys and tokens as providers issue them. */
static const char *const secret_value_prefixes[] = {
    "sk-", "sk_", "rk_", "pk_", "AIza", "xai-", "gsk_", "hf_", "ghp_",
    "gho_", "github_pat_", "glpat-", "ya29.", "eyJ", "AKIA", "ASIA",
    "xox", "r8_", "pplx-", "csk-", "nvapi-", "fw_",
};

/* strcspn over p[0..n), which need not be NUL-terminated. */
static size_t strcspn_n(const char *p, size_t n, const char *reject)
{
    size_t i = 0;

    while (i < n && !(p[i] && strchr(reject, p[i])))
        i++;
    return i;
}

/* Whether one word (lowercase) of a parameter name is secret. */
static bool secret_word(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(secret_param_words) / sizeof(*secret_param_words); i++)
        if (tt_tok_ieq(w, n, secret_param_words[i]))
            return true;
    for (size_t i = 0; i < sizeof(secret_word_suffixes) / sizeof(*secret_word_suffixes); i++) {
        size_t l = strlen(secret_word_suffixes[i]);
        if (n >= l && !memcmp(w + n - l, secret_word_suffixes[i], l))
            return true;
    }
    for (size_t i = 0; i < sizeof(secret_word_prefixes) / sizeof(*secret_word_prefixes); i++) {
        size_t l = strlen(secret_word_prefixes[i]);
        if (n >= l && !memcmp(w, secret_word_prefixes[i], l))
            return true;
    }
    return false;
}

/* Whether a query parameter name[0..n) (raw, maybe %-encoded) names a
 * secret. */
static bool secret_param_name(const char *p, size_t n)
{
    char name[128];
    size_t k = 0;

    /* %-decode; a name longer than the buffer is judged by its start. */
    for (size_t i = 0; i < n && k < sizeof(name) - 1; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%' && i + 2 < n && isxdigit((unsigned char)p[i + 1]) &&
            isxdigit((unsigned char)p[i + 2])) {
            char hex[3] = { p[i + 1], p[i + 2], 0 };
            c = (unsigned char)strtol(hex, NULL, 16);
            i += 2;
        }
        name[k++] = (char)c;
    }
    name[k] = '\0';
    /* Words: runs of alphanumerics, also cut before an upper-case letter
     * that follows a lower-case one; compared in lower case. */
    char word[128];
    size_t wl = 0;
    for (size_t i = 0; i <= k; i++) {
        unsigned char c = (unsigned char)name[i];
        bool alnum = c && isalnum(c);
        bool camel = alnum && isupper(c) && i > 0 && islower((unsigned char)name[i - 1]);
        if ((!alnum || camel) && wl) {
            if (secret_word(word, wl))
                return true;
            wl = 0;
        }
        if (alnum)
            word[wl++] = (char)tolower(c);
    }
    return false;
}

/* Whether a value (raw, maybe %-encoded) looks like an API key or token. */
static bool secret_param_value(const char *v, size_t n)
{
    for (size_t i = 0; i < sizeof(secret_value_prefixes) / sizeof(*secret_value_prefixes); i++) {
        size_t pl = strlen(secret_value_prefixes[i]);
        if (n >= pl + 6 && !memcmp(v, secret_value_prefixes[i], pl))
            return true;
    }
    /* "Bearer%20..." / "Basic%20..." */
    return (n > 9 && !strncasecmp(v, "bearer", 6)) ||
           (n > 8 && !strncasecmp(v, "basic", 5));
}

bool tt_redact_secret_param(const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    size_t name_len = eq ? (size_t)(eq - p) : len;

    return secret_param_name(p, name_len) ||
           (eq ? secret_param_value(eq + 1, len - name_len - 1)
               : secret_param_value(p, len));
}

void tt_redact_target(const char *t, size_t n, char *out, size_t outn)
{
    struct tt_buf b;
    const char *q = memchr(t, '?', n);
    size_t path_len = q ? (size_t)(q - t) : n;
    bool first = true;

    if (outn == 0)
        return;
    out[0] = '\0';
    tt_buf_init(&b, outn - 1);
    if (tt_buf_append(&b, t, path_len) == TT_ERR_NOMEM)
        goto out;
    if (q) {
        /* Parameters end at '&' or ';' (both separate parameters for some
         * servers: a secret after a ';' must not hide in its neighbour). */
        const char *p = q + 1, *end = t + n;
        while (p < end) {
            size_t len = strcspn_n(p, (size_t)(end - p), "&;");
            if (len && !tt_redact_secret_param(p, len)) {
                /* the separator as sent ('&' or ';') */
                if (tt_buf_append(&b, first ? "?" : p - 1, 1) == TT_ERR_NOMEM ||
                    tt_buf_append(&b, p, len) == TT_ERR_NOMEM)
                    goto out;
                first = false;
            }
            p += len + 1;
        }
    }
out:
    if (b.data) {
        /* A cut in the middle of a parameter could leave part of a value;
         * only non-secret parameters were appended, so that is harmless. */
        memcpy(out, b.data, b.len + 1);
    }
    tt_buf_free(&b);
}
