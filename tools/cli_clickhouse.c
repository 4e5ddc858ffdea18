/* cli_clickhouse.c - `tokentap cost` and `tokentap ls` on a ClickHouse store.
 *
 * The reports are those of the SQLite store (cli_query.c), printed by the
 * same code (tt_cli_cost_print, tt_cli_ls_*): only the SQL and the reading
 * of the rows are ClickHouse's. Every read is FROM db.table FINAL: a span
 * written twice (a retried batch) is one row of the ReplacingMergeTree, but
 * only once ClickHouse has merged the parts, which may be never.
 *
 * Absent values are '' / 0 there (NULL in SQLite): the expressions map them
 * to what the SQLite queries yield, and the rows to NULL pointers where the
 * printers expect them. Nothing the user typed reaches the SQL except hex
 * ids and keys checked against a character set first (tt_cli_group_expr_in).
 *
 * Answers come as TabSeparated and are split in place (tt_cli_tsv_row). */
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

/* One store being read: its parsed URL and how messages name it. */
struct chq {
    const char *cmd;
    char shown[600];    /* the URL, password hidden */
    struct tt_ch ch;
};

static int chq_open(struct chq *q, const char *cmd, const char *url)
{
    char err[256] = "";

    q->cmd = cmd;
    tt_http_url_redact(url, q->shown, sizeof(q->shown));
    if (tt_ch_parse_url(url, &q->ch, err, sizeof(err)) != TT_OK) {
        fprintf(stderr, "tokentap %s: bad ClickHouse URL %s: %s (the form is "
                "clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?table=T])\n",
                cmd, q->shown, err);
        return TT_CLI_EXIT_USAGE;
    }
    return TT_CLI_EXIT_OK;
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

/* Run one query; *body is the answer (owned). Failures are explained on
 * stderr; returns an exit status. */
static int chq_run(struct chq *q, const char *sql, char **body)
{
    char err[1024] = "";
    int rc = tt_ch_query(&q->ch, sql, body, err, sizeof(err));

    if (rc == TT_OK)
        return TT_CLI_EXIT_OK;
    *body = NULL;
    if (rc == TT_ERR_NOMEM)
        fprintf(stderr, "tokentap %s: out of memory\n", q->cmd);
    else if (ch_code(err, "60", "UNKNOWN_TABLE") || ch_code(err, "81", "UNKNOWN_DATABASE"))
        fprintf(stderr, "tokentap %s: no tokentap table at %s: has a tokentapd "
                "with TOKENTAP_CLICKHOUSE_URL written to it yet? (%s.%s)\n",
                q->cmd, q->shown, q->ch.db, q->ch.table);
    else
        fprintf(stderr, "tokentap %s: cannot query ClickHouse at %s: %s\n", q->cmd,
                q->shown, err[0] ? err : tt_strerror(rc));
    return TT_CLI_EXIT_ERR;
}

static int bad_answer(const struct chq *q, int rc)
{
    fprintf(stderr, "tokentap %s: unexpected answer from ClickHouse at %s (%s)\n",
            q->cmd, q->shown, rc == TT_ERR_INCOMPLETE ? "cut short" : "malformed row");
    return TT_CLI_EXIT_ERR;
}

/* The distinct trace ids of the spans whose column `col` (trace_id or
 * span_id) starts with `lo`: the first in first, up to nalt (sorted) in
 * alt, their number in *n. Returns an exit status. */
static int chq_traces(struct chq *q, const char *col, const char *lo, char *first,
                      char (*alt)[33], size_t nalt, size_t *n)
{
    char sql[512], *body = NULL, *f[1];
    size_t pos = 0, got;
    int ret, rc;

    *n = 0;
    snprintf(sql, sizeof(sql),
             "SELECT DISTINCT trace_id FROM %s.%s WHERE startsWith(%s, '%s')"
             " ORDER BY trace_id LIMIT %zu FORMAT TSV", q->ch.db, q->ch.table, col,
             lo, nalt);
    if ((ret = chq_run(q, sql, &body)) != TT_CLI_EXIT_OK)
        return ret;
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
        return bad_answer(q, rc);
    if (*n < 2)
        return TT_CLI_EXIT_OK;
    /* Ambiguous: say how many there are. */
    snprintf(sql, sizeof(sql), "SELECT uniqExact(trace_id) FROM %s.%s"
             " WHERE startsWith(%s, '%s') FORMAT TSV", q->ch.db, q->ch.table, col, lo);
    if ((ret = chq_run(q, sql, &body)) != TT_CLI_EXIT_OK)
        return ret;
    int64_t total;
    pos = 0;
    rc = tt_cli_tsv_row(body, strlen(body), &pos, f, 1, &got);
    if (rc == TT_OK && got == 1 && num_i64(f[0], &total) == TT_OK && total > 0)
        *n = (size_t)total;
    free(body);
    return TT_CLI_EXIT_OK;
}

/* tt_cli_resolve_trace for ClickHouse: a trace id or a unique prefix, else
 * a span id or prefix. Returns an exit status, explained. */
static int chq_resolve(struct chq *q, const char *id, char *trace)
{
    char lo[33], alt[5][33];
    size_t len = strlen(id), n = 0;
    int ret, rc = TT_OK;

    if (len == 0 || len > 32)
        rc = TT_ERR_PARSE;
    for (size_t i = 0; rc == TT_OK && i < len; i++)
        lo[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    if (rc == TT_OK) {
        lo[len] = '\0';
        if (!tt_cli_is_hex(lo, len))
            rc = TT_ERR_PARSE;      /* and nothing else reaches the SQL */
    }
    if (rc == TT_OK) {
        ret = chq_traces(q, "trace_id", lo, trace, alt, 5, &n);
        if (ret == TT_CLI_EXIT_OK && n == 0 && len <= 16)
            ret = chq_traces(q, "span_id", lo, trace, alt, 5, &n);
        if (ret != TT_CLI_EXIT_OK)
            return ret;
        rc = n == 0 ? TT_ERR : n == 1 ? TT_OK : TT_ERR_AGAIN;
    }
    return tt_cli_resolve_explain(q->cmd, id, rc, alt, n);
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

static int chq_groups(struct chq *q, const char *by, const char *where,
                      struct tt_cli_group **out, size_t *n)
{
    char expr[512], *body = NULL, *f[TT_CLI_CH_GROUP_COLS];
    struct tt_buf sql;
    struct tt_cli_group *g = NULL;
    size_t cap = 0, cnt = 0, pos = 0, got;
    int ret, rc;

    *out = NULL;
    *n = 0;
    if (tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, by, expr, sizeof(expr)) != TT_OK)
        return TT_CLI_EXIT_USAGE;      /* checked by the caller */
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, "SELECT ", expr, " AS k, count(), sum(input_tokens),"
                 " sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),"
                 " sum(reasoning_tokens), sumIf(cost_usd, cost_known = 1),"
                 " countIf(cost_known = 0), countIf(status = 'error') FROM ",
                 q->ch.db, ".", q->ch.table, " FINAL WHERE ", where,
                 " GROUP BY k FORMAT TSV", (const char *)NULL);
    ret = rc == TT_OK ? chq_run(q, sql.data, &body) : TT_CLI_EXIT_ERR;
    tt_buf_free(&sql);
    if (ret != TT_CLI_EXIT_OK)
        return ret;
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
        if (rc == TT_ERR_NOMEM) {
            fprintf(stderr, "tokentap %s: out of memory\n", q->cmd);
            return TT_CLI_EXIT_ERR;
        }
        return bad_answer(q, rc);
    }
    *out = g;
    *n = cnt;
    return TT_CLI_EXIT_OK;
}

static int chq_unknown(struct chq *q, const char *where, struct tt_cli_unknown **out,
                       size_t *n)
{
    char model[512], *body = NULL, *f[3];
    struct tt_buf sql;
    struct tt_cli_unknown *u = NULL;
    size_t cap = 0, cnt = 0, pos = 0, got;
    int ret, rc;

    *out = NULL;
    *n = 0;
    if (tt_cli_group_expr_in(TT_CLI_CLICKHOUSE, "model", model, sizeof(model)) != TT_OK)
        return TT_CLI_EXIT_ERR;
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, "SELECT ", model, " AS m, count(), countIf(usage_known = 0) FROM ",
                 q->ch.db, ".", q->ch.table, " FINAL WHERE ", where,
                 " AND cost_known = 0 GROUP BY m ORDER BY 2 DESC, m FORMAT TSV",
                 (const char *)NULL);
    ret = rc == TT_OK ? chq_run(q, sql.data, &body) : TT_CLI_EXIT_ERR;
    tt_buf_free(&sql);
    if (ret != TT_CLI_EXIT_OK)
        return ret;
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
        if (rc == TT_ERR_NOMEM) {
            fprintf(stderr, "tokentap %s: out of memory\n", q->cmd);
            return TT_CLI_EXIT_ERR;
        }
        return bad_answer(q, rc);
    }
    *out = u;
    *n = cnt;
    return TT_CLI_EXIT_OK;
}

int tt_cli_ch_cost(const char *url, const char *by, const char *trace_opt,
                   int64_t since, const char *format)
{
    struct chq q;
    char trace[33], where[256];
    struct tt_cli_group *g = NULL;
    struct tt_cli_unknown *unk = NULL;
    size_t n = 0, nunk = 0;
    int ret;

    if ((ret = chq_open(&q, "cost", url)) != TT_CLI_EXIT_OK)
        return ret;
    if (trace_opt && (ret = chq_resolve(&q, trace_opt, trace)) != TT_CLI_EXIT_OK)
        return ret;
    llm_where(where, sizeof(where), trace_opt ? trace : NULL, since);
    if ((ret = chq_groups(&q, by, where, &g, &n)) != TT_CLI_EXIT_OK)
        return ret;
    if ((ret = chq_unknown(&q, where, &unk, &nunk)) == TT_CLI_EXIT_OK) {
        struct tt_cli_cost report = {
            .by = by, .trace_id = trace_opt ? trace : NULL, .since = since,
            .g = g, .n = n, .unk = unk, .nunk = nunk,
        };
        ret = tt_cli_cost_print(&report, format);
    }
    free(unk);
    free(g);
    return ret;
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

int tt_cli_ch_ls(const char *url, bool json, long limit, int64_t since)
{
    struct chq q;
    struct tt_buf sql;
    struct tt_cli_ls_out out;
    char *body = NULL, *f[TT_CLI_CH_LS_COLS];
    size_t pos = 0, got;
    int ret, rc;

    if ((ret = chq_open(&q, "ls", url)) != TT_CLI_EXIT_OK)
        return ret;
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, ls_sql, q.ch.db, ".", q.ch.table, ls_sql_end, (const char *)NULL);
    if (rc == TT_OK && since)
        rc = tt_buf_appendf(&sql, " WHERE st >= %lld", (long long)since);
    if (rc == TT_OK)
        rc = tt_buf_append_str(&sql, " ORDER BY st DESC, trace_id");
    /* One row more than asked, to say that there are more. */
    if (rc == TT_OK && limit)
        rc = tt_buf_appendf(&sql, " LIMIT %ld", limit + 1);
    if (rc == TT_OK)
        rc = tt_buf_append_str(&sql, " FORMAT TSV");
    ret = rc == TT_OK ? chq_run(&q, sql.data, &body) : TT_CLI_EXIT_ERR;
    tt_buf_free(&sql);
    if (ret != TT_CLI_EXIT_OK)
        return ret;
    if (tt_cli_ls_begin(&out, json, limit) != TT_OK) {
        free(body);
        return tt_cli_ls_end(&out, false);
    }
    size_t len = strlen(body);
    while (!out.more &&
           (rc = tt_cli_tsv_row(body, len, &pos, f, TT_CLI_CH_LS_COLS, &got)) == TT_OK &&
           got) {
        struct tt_cli_ls_row r;
        if ((rc = tt_cli_ch_ls_from_row(f, &r)) != TT_OK ||
            (rc = tt_cli_ls_add(&out, &r)) != TT_OK)
            break;
    }
    free(body);
    if (rc != TT_OK) {
        tt_cli_ls_end(&out, false);
        return rc == TT_ERR_NOMEM ? TT_CLI_EXIT_ERR : bad_answer(&q, rc);
    }
    return tt_cli_ls_end(&out, true);
}

/* ------------------------------------------------ for the ui server */

int tt_cli_ch_ls_each(const char *url, int64_t since, long limit, long offset,
                      int (*cb)(void *cls, const struct tt_cli_ls_row *r), void *cls)
{
    struct chq q;
    struct tt_buf sql;
    char *body = NULL, *f[TT_CLI_CH_LS_COLS];
    size_t pos = 0, got;
    int ret, rc;

    if ((ret = chq_open(&q, "ui", url)) != TT_CLI_EXIT_OK)
        return ret;
    tt_buf_init(&sql, 16384);
    rc = sql_cat(&sql, ls_sql, q.ch.db, ".", q.ch.table, ls_sql_end, (const char *)NULL);
    if (rc == TT_OK && since)
        rc = tt_buf_appendf(&sql, " WHERE st >= %lld", (long long)since);
    if (rc == TT_OK)
        rc = tt_buf_appendf(&sql, " ORDER BY st DESC, trace_id LIMIT %ld, %ld FORMAT TSV",
                            offset, limit);
    ret = rc == TT_OK ? chq_run(&q, sql.data, &body) : TT_CLI_EXIT_ERR;
    tt_buf_free(&sql);
    if (ret != TT_CLI_EXIT_OK)
        return ret;
    size_t len = strlen(body);
    while ((rc = tt_cli_tsv_row(body, len, &pos, f, TT_CLI_CH_LS_COLS, &got)) == TT_OK && got) {
        struct tt_cli_ls_row r;
        if ((rc = tt_cli_ch_ls_from_row(f, &r)) != TT_OK || (rc = cb(cls, &r)) != TT_OK)
            break;
    }
    free(body);
    if (rc != TT_OK)
        return rc == TT_ERR_NOMEM ? TT_CLI_EXIT_ERR : bad_answer(&q, rc);
    return TT_CLI_EXIT_OK;
}

int tt_cli_ch_cost_data(const char *url, const char *by, int64_t since,
                        struct tt_cli_group **g, size_t *n,
                        struct tt_cli_unknown **unk, size_t *nunk)
{
    struct chq q;
    char where[256];
    int ret;

    *g = NULL;
    *unk = NULL;
    *n = *nunk = 0;
    if ((ret = chq_open(&q, "ui", url)) != TT_CLI_EXIT_OK)
        return ret;
    llm_where(where, sizeof(where), NULL, since);
    if ((ret = chq_groups(&q, by, where, g, n)) != TT_CLI_EXIT_OK)
        return ret;
    if ((ret = chq_unknown(&q, where, unk, nunk)) != TT_CLI_EXIT_OK) {
        free(*g);
        *g = NULL;
        *n = 0;
    }
    return ret;
}
