/* cli_report.c - `tokentap report`: traces as one self-contained HTML file
 * (see cli_report.h).
 *
 * C does the data: it reads the spans like `show` does, turns each into the
 * export contract's JSON object (tt_span_to_json, so the page sees exactly
 * what `export` prints), adds per-trace totals computed the way `show`
 * computes them, and writes template + escaped JSON + template. Everything
 * visual is the template's JS, which builds the DOM with textContent only:
 * captured prompts never become markup. */
#include "cli_report.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "assets.h"
#include "cli.h"
#include "spanjson.h"
#include "store.h"

/* A trace's page data is the trace's spans (bodies capped by the preload at
 * TOKENTAP_MAX_BODY each); the cap only stops a runaway. */
#define REPORT_MAX_BYTES ((size_t)1 << 31)
/* IDs on the command line. */
#define REPORT_MAX_TRACES 64

/* The template, split where the data goes. "@TITLE@" is replaced by the
 * escaped title. Edit it as HTML: it is plain text in C strings. */
static const char report_head[] =
    "<!DOCTYPE html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<meta name=\"generator\" content=\"tokentap\">\n"
    "<script>\n"
    "window.onerror = function (msg, src, line, col) {\n"
    "  var e = document.getElementById('js-errors');\n"
    "  var t = msg + ' (' + line + ':' + col + ')';\n"
    "  if (e) { e.textContent += t + '\\n'; e.hidden = false; }\n"
    "};\n"
    "</script>\n"
    "<style>\n";

static const char report_head2[] =
    "</style>\n"
    "<title>@TITLE@</title>\n"
    "</head>\n"
    "<body>\n"
    "<header class=\"top\"><h1>@TITLE@</h1><div class=\"sub\" id=\"subtitle\"></div></header>\n"
    "<div id=\"js-errors\" hidden></div>\n"
    "<main id=\"app\"></main>\n"
    "<script type=\"application/json\" id=\"tt-data\">\n";

static const char report_tail[] =
    "</script>\n"
    "<script>\n";

/* After report.js (TTReport): draw every trace of the data element. */
static const char report_boot[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var data = JSON.parse(document.getElementById('tt-data').textContent);\n"
    "  var app = document.getElementById('app');\n"
    "  document.getElementById('subtitle').textContent = data.generator + ' \\u00b7 ' + data.traces.length +\n"
    "    ' trace' + (data.traces.length === 1 ? '' : 's') + ' \\u00b7 generated ' + new Date(data.generated_at / 1e6).toISOString();\n"
    "  data.traces.forEach(function (t) { TTReport.renderTrace(app, t); });\n"
    "  document.body.setAttribute('data-rendered', '1');\n"
    "})();\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* -------------------------------------------------------------- escaping */

int tt_report_json_escape(const char *json, size_t len, struct tt_buf *out)
{
    size_t run = 0;     /* start of the bytes not yet copied */

    for (size_t i = 0; i < len; i++) {
        const char *rep = NULL;
        size_t skip = 1;
        unsigned char c = (unsigned char)json[i];

        if (c == '<')
            rep = "\\u003c";
        else if (c == '>')
            rep = "\\u003e";
        else if (c == '&')
            rep = "\\u0026";
        else if (c == 0xe2 && i + 2 < len && (unsigned char)json[i + 1] == 0x80 &&
                 ((unsigned char)json[i + 2] == 0xa8 || (unsigned char)json[i + 2] == 0xa9)) {
            rep = (unsigned char)json[i + 2] == 0xa8 ? "\\u2028" : "\\u2029";
            skip = 3;
        }
        if (!rep)
            continue;
        int rc = tt_buf_append(out, json + run, i - run);
        if (rc == TT_OK)
            rc = tt_buf_append_str(out, rep);
        if (rc != TT_OK)
            return rc;
        i += skip - 1;
        run = i + 1;
    }
    return tt_buf_append(out, json + run, len - run);
}

int tt_report_html_escape(const char *s, size_t len, struct tt_buf *out)
{
    size_t run = 0;

    for (size_t i = 0; i < len; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default: continue;
        }
        int rc = tt_buf_append(out, s + run, i - run);
        if (rc == TT_OK)
            rc = tt_buf_append_str(out, rep);
        if (rc != TT_OK)
            return rc;
        run = i + 1;
    }
    return tt_buf_append(out, s + run, len - run);
}

/* Append a template piece, with each "@TITLE@" replaced by the escaped
 * title. */
static int append_template(const char *t, const char *title, struct tt_buf *out)
{
    static const char mark[] = "@TITLE@";
    const char *p;
    int rc;

    while ((p = strstr(t, mark)) != NULL) {
        rc = tt_buf_append(out, t, (size_t)(p - t));
        if (rc == TT_OK)
            rc = tt_report_html_escape(title, strlen(title), out);
        if (rc != TT_OK)
            return rc;
        t = p + sizeof(mark) - 1;
    }
    return tt_buf_append_str(out, t);
}

int tt_report_render(const json_t *doc, const char *title, struct tt_buf *out)
{
    /* 15 significant digits, like export: costs read 0.00036. */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(15));
    int rc;

    if (!text)
        return TT_ERR_NOMEM;
    rc = append_template(report_head, title, out);
    if (rc == TT_OK)
        rc = tt_buf_append(out, tt_asset_report_css, tt_asset_report_css_len);
    if (rc == TT_OK)
        rc = append_template(report_head2, title, out);
    if (rc == TT_OK)
        rc = tt_report_json_escape(text, strlen(text), out);
    if (rc == TT_OK)
        rc = tt_buf_append_str(out, report_tail);
    if (rc == TT_OK)
        rc = tt_buf_append(out, tt_asset_report_js, tt_asset_report_js_len);
    if (rc == TT_OK)
        rc = tt_buf_append_str(out, report_boot);
    free(text);
    return rc;
}

/* ------------------------------------------------------------------ data */

/* The trace `report` shows without IDs: the newest, in `ls` order (a run's
 * own start, else its first span's). */
static int last_trace(sqlite3 *db, char *trace)
{
    sqlite3_stmt *q = NULL;
    int rc;

    if (sqlite3_prepare_v2(db,
            "SELECT ids.trace_id FROM"
            " (SELECT trace_id FROM spans UNION SELECT trace_id FROM runs) ids"
            " ORDER BY COALESCE((SELECT start_time FROM runs r"
            "                    WHERE r.trace_id = ids.trace_id),"
            "                   (SELECT MIN(start_time) FROM spans s"
            "                    WHERE s.trace_id = ids.trace_id), 0) DESC,"
            " ids.trace_id LIMIT 1", -1, &q, NULL) != SQLITE_OK)
        return TT_ERR_IO;
    rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(q, 0);
        snprintf(trace, 33, "%s", t ? t : "");
        rc = TT_OK;
    } else {
        rc = rc == SQLITE_DONE ? TT_ERR : TT_ERR_IO;
    }
    sqlite3_finalize(q);
    return rc;
}

/* ---------------------------------------------------------------- output */

/* Write data to path, mode 0600 whatever was there: a temporary file next
 * to it (mkstemp makes it 0600), renamed over it once complete, so a
 * reader never sees half a page. "-" is stdout. Returns 0 or errno. */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[PATH_MAX];
    FILE *f;
    int fd, err = 0;

    if (strcmp(path, "-") == 0) {
        if (fwrite(data, 1, len, stdout) != len || fflush(stdout) != 0)
            return errno ? errno : EIO;
        return 0;
    }
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", path) >= sizeof(tmp))
        return ENAMETOOLONG;
    fd = mkstemp(tmp);
    if (fd < 0)
        return errno;
    f = fdopen(fd, "w");
    if (!f) {
        err = errno;
        close(fd);
        unlink(tmp);
        return err;
    }
    if (fwrite(data, 1, len, f) != len)
        err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (!err && rename(tmp, path) != 0)
        err = errno;
    if (err)
        unlink(tmp);
    return err;
}

/* ------------------------------------------------------------ subcommand */

int tt_cli_report_main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "output", required_argument, NULL, 'o' },
        { "db", required_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    const char *dbopt = NULL, *outopt = NULL;
    char traces[REPORT_MAX_TRACES][33], outpath[PATH_MAX], title[128];
    size_t ntraces = 0;
    struct tt_store *st = NULL;
    json_t *doc = NULL, *arr = NULL;
    struct tt_buf page;
    struct timespec now;
    int c, ret, rc;

    tt_buf_init(&page, REPORT_MAX_BYTES);
    opterr = 0;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":o:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': outopt = optarg; break;
        case 'd': dbopt = optarg; break;
        case 'h': fputs(tt_cli_help("report"), stdout); return TT_CLI_EXIT_OK;
        default: return tt_cli_usage_error("report", argv, optind, c);
        }
    }
    if (argc - optind > REPORT_MAX_TRACES) {
        fprintf(stderr, "tokentap report: at most %d traces per report\n",
                REPORT_MAX_TRACES);
        return TT_CLI_EXIT_USAGE;
    }
    ret = tt_cli_open_store_ro("report", dbopt, false, &st);
    if (!st)
        return ret;
    sqlite3 *db = tt_store_db(st);
    if (optind == argc) {
        rc = last_trace(db, traces[0]);
        if (rc == TT_ERR) {
            fprintf(stderr, "tokentap report: no traces yet; trace a program "
                    "with: tokentap run -- CMD\n");
            ret = TT_CLI_EXIT_ERR;
            goto out;
        }
        if (rc != TT_OK) {
            ret = tt_cli_sql_error("report", db);
            goto out;
        }
        ntraces = 1;
    }
    for (int i = optind; i < argc; i++) {
        ret = tt_cli_resolve_id("report", db, argv[i], traces[ntraces]);
        if (ret != TT_CLI_EXIT_OK)
            goto out;
        bool dup = false;
        for (size_t k = 0; k < ntraces; k++)
            dup |= strcmp(traces[k], traces[ntraces]) == 0;
        if (!dup)
            ntraces++;
    }

    clock_gettime(CLOCK_REALTIME, &now);
    arr = json_array();
    doc = json_pack("{s:s, s:I, s:O}", "generator", "tokentap " TT_CLI_VERSION,
                    "generated_at",
                    (json_int_t)now.tv_sec * 1000000000 + (json_int_t)now.tv_nsec,
                    "traces", arr);
    if (!arr || !doc) {
        rc = TT_ERR_NOMEM;
        goto fail;
    }
    for (size_t i = 0; i < ntraces; i++) {
        json_t *t;
        rc = tt_report_trace_json(db, traces[i], &t);
        if (rc != TT_OK)
            goto fail;
        if (json_array_append_new(arr, t) != 0) {
            rc = TT_ERR_NOMEM;
            goto fail;
        }
    }
    if (ntraces == 1)
        snprintf(title, sizeof(title), "tokentap report - trace %.12s", traces[0]);
    else
        snprintf(title, sizeof(title), "tokentap report - %zu traces", ntraces);
    rc = tt_report_render(doc, title, &page);
    if (rc != TT_OK)
        goto fail;

    if (outopt)
        snprintf(outpath, sizeof(outpath), "%s", outopt);
    else
        snprintf(outpath, sizeof(outpath), "tokentap-report-%.12s.html", traces[0]);
    int err = write_file(outpath, page.data, page.len);
    if (err) {
        fprintf(stderr, "tokentap report: cannot write %s: %s\n", outpath,
                strerror(err));
        ret = TT_CLI_EXIT_ERR;
        goto out;
    }
    if (strcmp(outpath, "-") != 0)
        fprintf(stderr, "tokentap report: wrote %s (%zu trace%s)\n", outpath,
                ntraces, ntraces == 1 ? "" : "s");
    ret = TT_CLI_EXIT_OK;
    goto out;
fail:
    if (rc == TT_ERR_IO)
        (void)tt_cli_sql_error("report", db);
    else
        fprintf(stderr, "tokentap report: %s\n", tt_strerror(rc));
    ret = TT_CLI_EXIT_ERR;
out:
    json_decref(doc);
    json_decref(arr);
    tt_buf_free(&page);
    tt_store_close(st);
    return ret;
}
