/* cli_report.h - `tokentap report`: one trace (or several) as a single
 * self-contained HTML file.
 *
 * The page is a fixed template (inline CSS and vanilla JS, no network)
 * around one <script type="application/json"> element holding the spans as
 * the export contract's objects (exporter/spanjson.c); the JS draws the
 * stat strip, the timeline, the cost chart, the span tree and the call
 * cards from it. The pure pieces are here so the unit tests reach them;
 * the subcommand itself is tt_cli_report_main (cli.h). */
#ifndef TT_CLI_REPORT_H
#define TT_CLI_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "tt.h"

/* Append JSON text so that it can sit inside a <script> element: '<', '>'
 * and '&' become \u003c, \u003e, \u0026 and U+2028/U+2029 become
 * \u2028/\u2029, so no "</script>" or "<!--" can end or change the
 * element. Precondition: json is valid JSON (as json_dumps makes it), where
 * those characters only occur inside strings and the escapes keep the
 * value. Returns 0 or TT_ERR_NOMEM / TT_ERR_CAP. */
int tt_report_json_escape(const char *json, size_t len, struct tt_buf *out) TT_WUR;

/* Append text as HTML character data or attribute value: & < > " ' become
 * entities. Returns 0 or TT_ERR_NOMEM / TT_ERR_CAP. */
int tt_report_html_escape(const char *s, size_t len, struct tt_buf *out) TT_WUR;

/* Append the whole page for doc ({"generator", "generated_at",
 * "traces": [{"trace_id", "run", "totals", "spans"}]}), titled title
 * (plain text, escaped here). doc is only read. Returns 0, TT_ERR_NOMEM or
 * TT_ERR_CAP. */
int tt_report_render(const json_t *doc, const char *title, struct tt_buf *out) TT_WUR;

/* One trace's object for the page: {"trace_id", "run", "totals",
 * "spans"} (spans as the export contract's objects, by start time), read
 * from the tables spans and runs of db. Returns 0, TT_ERR_NOMEM or
 * TT_ERR_IO (query). Also the ui server's trace endpoint. */
struct sqlite3;
int tt_report_trace_json(struct sqlite3 *db, const char *trace, json_t **out) TT_WUR;

#endif
