/* cli_clickhouse.c - reading a ClickHouse store, for `tokentap cost` and
 * `tokentap ls` (cli_query.c) and the ui server (ui_server.c).
 *
 * The reports are those of the SQLite store, printed by the same code
 * (tt_cli_cost_print, tt_cli_ls_*): only the SQL and the reading of the
 * rows are ClickHouse's. Every read is FROM db.table FINAL: a span written
 * twice (a retried batch) is one row of the ReplacingMergeTree, but only
 * once ClickHouse has merged the parts, which may be never.
 *
 * Absent values are '' / 0 there (NULL in SQLite): the expressions map them
 * to what the SQLite queries yield, and the rows to NULL pointers where the
 * printers expect them. Nothing the user typed reaches the SQL except hex
 * ids and keys checked against a character set first (tt_cli_group_expr_in).
 *
 * Answers come as TabSeparated and are split in place (tt_cli_tsv_row).
 * Nothing here prints (docs/INTERNALS.md, "Errors"): the readers return
 * TT_OK or a negative TT_ERR_* and put what went wrong, in words for the
 * user, in the caller's err buffer; the caller prints it. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clickhouse.h"
#include "http.h"

/* ------------------------------------------------------------ pure parts */

/* The character a TSV escape "\c" stands for, -1 for an unknown one. */
static int tsv_unescape(char c)
{
    switch (c) {
    case 'b': return '\b';
    case 'f': return '\f';
    case 'n': return '\n';
    case 'r': return '\r';
    case 't': return '\t';
    case '0': return '\0';
    case 'a': return '\a';
    case 'v': return '\v';
    case 'e': return 0x1b;
    case '\\': case '\'': case '"': return c;
    default: return -1;
    }
}

int tt_cli_tsv_row(char *buf, size_t len, size_t *pos, char **f, size_t nf,
                   size_t *got)
{
    size_t i = *pos, k = 0;

    *got = 0;
    if (i >= len)
        return TT_OK;
    const char *nl = memchr(buf + i, '\n', len - i);
    if (!nl)
        return TT_ERR_INCOMPLETE;
    size_t end = (size_t)(nl - buf);
    while (i <= end) {
        /* One field: buf[start, i) unescaped into buf[start, o). The
         * unescaped text is never longer than the escaped one. */
        size_t start = i, o = i;
        bool null = false;
        if (end - i >= 2 && buf[i] == '\\' && buf[i + 1] == 'N' &&
            (buf[i + 2] == '\t' || buf[i + 2] == '\n')) {
            null = true;
            i += 2;
        }
        while (!null && buf[i] != '\t' && buf[i] != '\n') {
            if (buf[i] == '\\') {
                int c = i + 1 < end ? tsv_unescape(buf[i + 1]) : -1;
                if (c < 0)
                    return TT_ERR_PARSE;
                buf[o++] = (char)c;
                i += 2;
            } else {
                buf[o++] = buf[i++];
            }
        }
        if (k == nf)
            return TT_ERR_PARSE;        /* more fields than asked for */
        f[k++] = null ? NULL : buf + start;
        buf[null ? start : o] = '\0';
        i++;                            /* past the '\t' or '\n' */
    }
    if (k != nf)
        return TT_ERR_PARSE;
    *pos = end + 1;
    *got = k;
    return TT_OK;
}

static int num_i64(const char *s, int64_t *v)
{
    char *end;

    if (!s || !*s)
        return TT_ERR_PARSE;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return TT_ERR_PARSE;
    *v = x;
    return TT_OK;
}

static int num_f64(const char *s, double *v)
{
    char *end;

    if (!s || !*s)
        return TT_ERR_PARSE;
    *v = strtod(s, &end);
    return *end ? TT_ERR_PARSE : TT_OK;
}

/* The columns of groups_sql, in this order. */
int tt_cli_ch_group_from_row(char *const *f, struct tt_cli_group *g)
{
    memset(g, 0, sizeof(*g));
    if (!f[0])
        return TT_ERR_PARSE;
    snprintf(g->key, sizeof(g->key), "%s", f[0]);
    if (num_i64(f[1], &g->calls) || num_i64(f[2], &g->input) ||
        num_i64(f[3], &g->output) || num_i64(f[4], &g->cache_read) ||
        num_i64(f[5], &g->cache_write) || num_i64(f[6], &g->reasoning) ||
        num_f64(f[7], &g->cost) || num_i64(f[8], &g->unknown) ||
        num_i64(f[9], &g->errors))
        return TT_ERR_PARSE;
    return TT_OK;
}

/* The columns of ls_sql, in this order. */
int tt_cli_ch_ls_from_row(char *const *f, struct tt_cli_ls_row *r)
{
    int64_t has_run;

    memset(r, 0, sizeof(*r));
    if (!f[0] || !f[3] || !f[4] || !f[12] ||
        num_i64(f[1], &r->start) || num_i64(f[2], &has_run) ||
        num_i64(f[5], &r->calls) || num_i64(f[6], &r->input) ||
        num_i64(f[7], &r->output) || num_f64(f[8], &r->cost) ||
        num_i64(f[9], &r->unknown) || num_i64(f[10], &r->errors) ||
        num_i64(f[13], &r->tokens))
        return TT_ERR_PARSE;
    r->trace_id = f[0];
    r->command = has_run ? f[3] : NULL;
    r->exe = *f[4] ? f[4] : NULL;
    /* The exit status: "" when the run span's error is not "exit status N". */
    r->has_exit = has_run && num_i64(f[11], &r->exit_code) == TT_OK;
    r->session = *f[12] ? f[12] : NULL;
    return TT_OK;
}

/* ------------------------------------------------------------ queries */

/* Append the strings (up to a NULL) to the SQL text. */
static int sql_cat(struct tt_buf *b, ...)
{
    va_list ap;
    const char *s;
    int rc = TT_OK;

    va_start(ap, b);
    while (rc == TT_OK && (s = va_arg(ap, const char *)))
        rc = tt_buf_append_str(b, s);
    va_end(ap);
    return rc;
}

int tt_cli_ch_open(struct tt_cli_chq *q, const char *url, char *err, size_t errn)
{
    char why[256] = "";

    tt_http_url_redact(url, q->shown, sizeof(q->shown));
    if (tt_ch_parse_url(url, &q->ch, why, sizeof(why)) != TT_OK) {
        snprintf(err, errn, "bad ClickHouse URL %s: %s (the form is "
                 "clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?table=T])",
                 q->shown, why);
        return TT_ERR_PARSE;
    }
    return TT_OK;
}

/* Whether ClickHouse's exception text carries error code `code` (18.16:
 * "Code: 60, e.displayText() = ...") or the code's name, which later
 * servers print too. */
static bool ch_code(const char *err, const char *code, const char *name)
{
    char pat[24];

    snprintf(pat, sizeof(pat), "Code: %s", code);
    for (const char *p = strstr(err, pat); p; p = strstr(p + 1, pat))
        if (p[strlen(pat)] < '0' || p[strlen(pat)] > '9')
            return true;
    return strstr(err, name) != NULL;
}

/* Run one query; *body is the answer (owned). TT_OK, TT_ERR_NOMEM, or
 * TT_ERR_IO with the cause in err. */
static int chq_run(struct tt_cli_chq *q, const char *sql, char **body, char *err,
                   size_t errn)
{
    char why[1024] = "";
    int rc = tt_ch_query(&q->ch, sql, body, why, sizeof(why));

    if (rc == TT_OK)
        return TT_OK;
    *body = NULL;
    if (rc == TT_ERR_NOMEM) {
        snprintf(err, errn, "out of memory");
        return TT_ERR_NOMEM;
    }
    if (ch_code(why, "60", "UNKNOWN_TABLE") || ch_code(why, "81", "UNKNOWN_DATABASE"))
        snprintf(err, errn, "no tokentap table at %s: has a tokentapd "
                 "with TOKENTAP_CLICKHOUSE_URL written to it yet? (%s.%s)",
                 q->shown, q->ch.db, q->ch.table);
    else
        snprintf(err, errn, "cannot query ClickHouse at %s: %s", q->shown,
                 why[0] ? why : tt_strerror(rc));
    return TT_ERR_IO;
}

/* A row that could not be read (rc from tt_cli_tsv_row or a *_from_row),
 * or an allocation that failed while reading. */
static int bad_answer(const struct tt_cli_chq *q, int rc, char *err, size_t errn)
{
    if (rc == TT_ERR_NOMEM) {
        snprintf(err, errn, "out of memory");
        return TT_ERR_NOMEM;
    }
    snprintf(err, errn, "unexpected answer from ClickHouse at %s (%s)", q->shown,
             rc == TT_ERR_INCOMPLETE ? "cut short" : "malformed row");
    return TT_ERR_IO;
}

/* The distinct trace ids of the spans whose column `col` (trace_id or
 * span_id) starts with `lo`: the first in first, up to nalt (sorted) in
 * alt, their number in *n. */
static int chq_traces(struct tt_cli_chq *q, const char *col, const char *lo, char *first,
                      char (*alt)[33], size_t nalt, size_t *n, char *err, size_t errn)
{
    char sql[512], *body = NULL, *f[1];
    size_t pos = 0, got;
    int rc;

    *n = 0;
    snprintf(sql, sizeof(sql),
             "SELECT DISTINCT trace_id FROM %s.%s WHERE startsWith(%s, '%s')"
             " ORDER BY trace_id LIMIT %zu FORMAT TSV", q->ch.db, q->ch.table, col,
             lo, nalt);
    if ((rc = chq_run(q, sql, &body, err, errn)) != TT_OK)
        return rc;
    size_t len = strlen(body);
    while ((rc = tt_cli_tsv_row(body, len, &pos, f, 1, &got)) == TT_OK && got) {
        if (!f[0] || strlen(f[0]) != 32)
            continue;
        if (*n == 0)
            memcpy(first, f[0], 33);
        if (*n < nalt)
            memcpy(alt[*n], f[0], 33);
        (*n)++;
    }
    free(body);
    if (rc != TT_OK)
        return bad_answer(q, rc, err, errn);
    if (*n < 2)
        return TT_OK;
    /* Ambiguous: say how many there are. */
    snprintf(sql, sizeof(sql), "SELECT uniqExact(trace_id) FROM %s.%s"
             " WHERE startsWith(%s, '%s') FORMAT TSV", q->ch.db, q->ch.table, col, lo);
    if ((rc = chq_run(q, sql, &body, err, errn)) != TT_OK)
        return rc;
    int64_t total;
    pos = 0;
    rc = tt_cli_tsv_row(body, strlen(body), &pos, f, 1, &got);
    if (rc == TT_OK && got == 1 && num_i64(f[0], &total) == TT_OK && total > 0)
        *n = (size_t)total;
    free(body);
    return TT_OK;
}

int tt_cli_ch_resolve(struct tt_cli_chq *q, const char *id, char *trace,
                      char (*alt)[33], size_t nalt, size_t *nfound, char *err, size_t errn)
{
    char lo[33];
    size_t len = strlen(id);
    int rc;

    *nfound = 0;
    if (len == 0 || len > 32)
        return TT_ERR_PARSE;
    for (size_t i = 0; i < len; i++)
        lo[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    lo[len] = '\0';
    if (!tt_cli_is_hex(lo, len))
        return TT_ERR_PARSE;        /* and nothing else reaches the SQL */
    rc = chq_traces(q, "trace_id", lo, trace, alt, nalt, nfound, err, errn);
    if (rc == TT_OK && *nfound == 0 && len <= 16)
        rc = chq_traces(q, "span_id", lo, trace, alt, nalt, nfound, err, errn);
    if (rc != TT_OK)
        return rc;
    return *nfound == 0 ? TT_ERR : *nfound == 1 ? TT_OK : TT_ERR_AGAIN;
}

/* The WHERE of the LLM calls of `cost`: one trace (hex, checked) and a window. */
static void llm_where(char *buf, size_t n, const char *trace, int64_t since)
{
    int w = snprintf(buf, n, "kind = 'llm'");

    if (trace)
        w += snprintf(buf + w, n - (size_t)w, " AND trace_id = '%s'", trace);
    if (since)
        snprintf(buf + w, n - (size_t)w, " AND start_time >= %lld", (long long)since);
}

static int chq_groups(struct tt_cli_chq *q, const char *by, const char *where,
                      struct tt_cli_group **out, size_t *n, char *err, size_t errn)
{
    char expr[512], *body = NULL, *f[TT_CLI_CH_GROUP_COLS];
    struct tt_buf sql;
    struct tt_cli_group *g = NULL;
    size_t cap = 0, cnt = 0, pos = 0, got;
    int rc;

    *out = NULL;
    *n = 0;
    if (tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, by, expr, sizeof(expr)) != TT_OK) {
        snprintf(err, errn, "cannot group by '%s'", by);
        return TT_ERR_PARSE;        /* the callers check by first */
    }
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, "SELECT ", expr, " AS k, count(), sum(input_tokens),"
                 " sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
                 " sum(reasoning_tokens), sumIf(cost_usd, cost_known = 1),"
                 " countIf(cost_known = 0), countIf(status = 'error') FROM ",
                 q->ch.db, ".", q->ch.table, " FINAL WHERE ", where,
                 " GROUP BY k FORMAT TSV", (const char *)NULL);
    rc = rc == TT_OK ? chq_run(q, sql.data, &body, err, errn) : bad_answer(q, rc, err, errn);
    tt_buf_free(&sql);
    if (rc != TT_OK)
        return rc;
    size_t len = strlen(body);
    while ((rc = tt_cli_tsv_row(body, len, &pos, f, TT_CLI_CH_GROUP_COLS, &got)) == TT_OK &&
           got) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct tt_cli_group *ng = realloc(g, ncap * sizeof(*ng));
            if (!ng) {
                rc = TT_ERR_NOMEM;
                break;
            }
            g = ng;
            cap = ncap;
        }
        if ((rc = tt_cli_ch_group_from_row(f, &g[cnt])) != TT_OK)
            break;
        cnt++;
    }
    free(body);
    if (rc == TT_OK)
        rc = tt_cli_groups_finish(by, true, g, &cnt);
    if (rc != TT_OK) {
        free(g);
        return bad_answer(q, rc, err, errn);
    }
    *out = g;
    *n = cnt;
    return TT_OK;
}

static int chq_unknown(struct tt_cli_chq *q, const char *where, struct tt_cli_unknown **out,
                       size_t *n, char *err, size_t errn)
{
    char model[512], *body = NULL, *f[3];
    struct tt_buf sql;
    struct tt_cli_unknown *u = NULL;
    size_t cap = 0, cnt = 0, pos = 0, got;
    int rc;

    *out = NULL;
    *n = 0;
    if (tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, "model", model, sizeof(model)) != TT_OK) {
        snprintf(err, errn, "cannot group by model");
        return TT_ERR;
    }
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, "SELECT ", model, " AS m, count(), countIf(usage_known = 0) FROM ",
                 q->ch.db, ".", q->ch.table, " FINAL WHERE ", where,
                 " AND cost_known = 0 GROUP BY m ORDER BY 2 DESC, m FORMAT TSV",
                 (const char *)NULL);
    rc = rc == TT_OK ? chq_run(q, sql.data, &body, err, errn) : bad_answer(q, rc, err, errn);
    tt_buf_free(&sql);
    if (rc != TT_OK)
        return rc;
    size_t len = strlen(body);
    while ((rc = tt_cli_tsv_row(body, len, &pos, f, 3, &got)) == TT_OK && got) {
        if (cnt == cap) {
            size_t ncap = cap ? cap * 2 : 8;
            struct tt_cli_unknown *nu = realloc(u, ncap * sizeof(*nu));
            if (!nu) {
                rc = TT_ERR_NOMEM;
                break;
            }
            u = nu;
            cap = ncap;
        }
        snprintf(u[cnt].model, sizeof(u[cnt].model), "%s", f[0] ? f[0] : "?");
        if (num_i64(f[1], &u[cnt].calls) || num_i64(f[2], &u[cnt].no_usage)) {
            rc = TT_ERR_PARSE;
            break;
        }
        cnt++;
    }
    free(body);
    if (rc != TT_OK) {
        free(u);
        return bad_answer(q, rc, err, errn);
    }
    *out = u;
    *n = cnt;
    return TT_OK;
}

int tt_cli_ch_cost_data(struct tt_cli_chq *q, const char *by, const char *trace,
                        int64_t since, struct tt_cli_group **g, size_t *n,
                        struct tt_cli_unknown **unk, size_t *nunk, char *err, size_t errn)
{
    char where[256];
    int rc;

    *g = NULL;
    *unk = NULL;
    *n = *nunk = 0;
    if (trace && (strlen(trace) != 32 || !tt_cli_is_hex(trace, 32))) {
        snprintf(err, errn, "'%s' is not a trace id", trace);
        return TT_ERR_PARSE;        /* nothing else reaches the SQL */
    }
    llm_where(where, sizeof(where), trace, since);
    if ((rc = chq_groups(q, by, where, g, n, err, errn)) != TT_OK)
        return rc;
    if ((rc = chq_unknown(q, where, unk, nunk, err, errn)) != TT_OK) {
        free(*g);
        *g = NULL;
        *n = 0;
    }
    return rc;
}

/* One row per trace, as the SQLite ls_sql (cli_query.c) has it: the run
 * span (kind process, named "run <command line>", written by `tokentap
 * run`) gives the start, the command and the exit status ("exit status N"
 * in its error); else the first span gives the start and the executable. */
static const char ls_sql[] =
    "SELECT trace_id, if(has_run, run_start, first_start) AS st, has_run, command,"
    " exe, calls, inp, outp, cost, unk, errs, exit_code, sess, toks FROM ("
    "  SELECT trace_id, countIf(is_run) > 0 AS has_run,"
    "   minIf(start_time, is_run) AS run_start, min(start_time) AS first_start,"
    "   argMinIf(substring(name, 5), start_time, is_run) AS command,"
    "   argMin(exe, start_time) AS exe,"
    "   countIf(kind = 'llm') AS calls,"
    "   sumIf(input_tokens, kind = 'llm') AS inp,"
    "   sumIf(output_tokens, kind = 'llm') AS outp,"
    "   sumIf(cost_usd, kind = 'llm' AND cost_known = 1) AS cost,"
    "   countIf(kind = 'llm' AND cost_known = 0) AS unk,"
    "   countIf(status = 'error') AS errs,"
    "   argMinIf(if(status != 'error', '0', if(startsWith(error, 'exit status '),"
    "     substring(error, 13), '')), start_time, is_run) AS exit_code,"
    "   max(session_id) AS sess,"
    "   sumIf(input_tokens + output_tokens, kind = 'llm') AS toks"
    "  FROM (SELECT trace_id, start_time, kind, name, exe, input_tokens,"
    "    output_tokens, cost_usd, cost_known, status, error, session_id,"
    "    kind IN ('process', 'run') AND startsWith(name, 'run ') AS is_run"
    "    FROM ";     /* db.table, then ls_sql_end */
static const char ls_sql_end[] = " FINAL) GROUP BY trace_id)";

int tt_cli_ch_ls_each(struct tt_cli_chq *q, int64_t since, long limit, long offset,
                      int (*cb)(void *cls, const struct tt_cli_ls_row *r), void *cls,
                      char *err, size_t errn)
{
    struct tt_buf sql;
    char *body = NULL, *f[TT_CLI_CH_LS_COLS];
    size_t pos = 0, got;
    int rc;

    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, ls_sql, q->ch.db, ".", q->ch.table, ls_sql_end, (const char *)NULL);
    if (rc == TT_OK && since)
        rc = tt_buf_appendf(&sql, " WHERE st >= %lld", (long long)since);
    if (rc == TT_OK)
        rc = tt_buf_append_str(&sql, " ORDER BY st DESC, trace_id");
    if (rc == TT_OK && limit > 0)
        rc = tt_buf_appendf(&sql, " LIMIT %ld, %ld", offset, limit);
    if (rc == TT_OK)
        rc = tt_buf_append_str(&sql, " FORMAT TSV");
    rc = rc == TT_OK ? chq_run(q, sql.data, &body, err, errn) : bad_answer(q, rc, err, errn);
    tt_buf_free(&sql);
    if (rc != TT_OK)
        return rc;
    size_t len = strlen(body);
    while ((rc = tt_cli_tsv_row(body, len, &pos, f, TT_CLI_CH_LS_COLS, &got)) == TT_OK && got) {
        struct tt_cli_ls_row r;
        if ((rc = tt_cli_ch_ls_from_row(f, &r)) != TT_OK)
            break;
        if ((rc = cb(cls, &r)) != TT_OK) {
            free(body);
            if (rc == TT_ERR_NOMEM)
                snprintf(err, errn, "out of memory");
            return rc;
        }
    }
    free(body);
    return rc == TT_OK ? TT_OK : bad_answer(q, rc, err, errn);
}
