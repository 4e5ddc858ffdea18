/* report_trace.c - one trace as the JSON object of `tokentap report` and of
 * the ui's trace page (cli_report.h: tt_report_trace_json). In the store
 * readers' layer (libtt-query.a), under the `report` subcommand
 * (cli_report.c) and the ui server, which tokentapd links. */
#include "cli_report.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "spanjson.h"
#include "store.h"

/* {"command", "start_time", "end_time", "exit_code", "pid"} of the trace's
 * run record, or JSON null. NULL on OOM or a failed query. */
static json_t *run_json(sqlite3 *db, const char *trace)
{
    sqlite3_stmt *q = NULL;
    json_t *r = NULL;

    if (sqlite3_prepare_v2(db, "SELECT command, start_time, end_time, exit_code, pid "
                           "FROM runs WHERE trace_id = ?1", -1, &q, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    switch (sqlite3_step(q)) {
    case SQLITE_ROW: {
        const char *c = (const char *)sqlite3_column_text(q, 0);
        r = json_pack("{s:s, s:I, s:I, s:I, s:I}", "command", c ? c : "",
                      "start_time", (json_int_t)sqlite3_column_int64(q, 1),
                      "end_time", (json_int_t)sqlite3_column_int64(q, 2),
                      "exit_code", (json_int_t)(sqlite3_column_type(q, 3) == SQLITE_NULL
                                                    ? -1 : sqlite3_column_int64(q, 3)),
                      "pid", (json_int_t)sqlite3_column_int64(q, 4));
        break;
    }
    case SQLITE_DONE:
        r = json_null();
        break;
    default:
        break;
    }
    sqlite3_finalize(q);
    return r;
}

/* What the stat strip shows, summed the way `show` sums. */
struct totals {
    int64_t calls, input, output, unknown, errors, tools, spans;
    double cost;
    int64_t first, last;
};

static void totals_add(struct totals *t, const struct tt_span *s)
{
    if (t->spans++ == 0 || s->start_time < t->first)
        t->first = s->start_time;
    if (s->end_time > t->last)
        t->last = s->end_time;
    if (s->kind && strcmp(s->kind, "llm") == 0) {
        t->calls++;
        t->input += s->input_tokens;
        t->output += s->output_tokens;
        if (s->cost_known)
            t->cost += s->cost_usd;
        else
            t->unknown++;
    } else if (s->kind && strcmp(s->kind, "tool") == 0) {
        t->tools++;
    }
    if (s->status && strcmp(s->status, "error") == 0)
        t->errors++;
}

/* One trace's object: {"trace_id", "run", "totals", "spans"}. Returns 0,
 * TT_ERR_NOMEM or TT_ERR_IO (query). */
int tt_report_trace_json(sqlite3 *db, const char *trace, json_t **out)
{
    sqlite3_stmt *q = NULL;
    json_t *spans = json_array(), *run = run_json(db, trace), *o = NULL;
    struct totals t = { 0 };
    int rc = TT_ERR_NOMEM;

    *out = NULL;
    if (!spans || !run)
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT * FROM spans WHERE trace_id = ?1 "
                           "ORDER BY start_time, span_id", -1, &q, NULL) != SQLITE_OK) {
        rc = TT_ERR_IO;
        goto out;
    }
    sqlite3_bind_text(q, 1, trace, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        struct tt_span s;
        json_t *j;
        if (tt_store_span_from_row(q, &s) != TT_OK) {
            tt_span_clear(&s);
            rc = TT_ERR_NOMEM;
            goto out;
        }
        totals_add(&t, &s);
        j = tt_span_to_json(&s);
        tt_span_clear(&s);
        if (!j || json_array_append_new(spans, j) != 0) {
            rc = TT_ERR_NOMEM;
            goto out;
        }
    }
    if (rc != SQLITE_DONE) {
        rc = TT_ERR_IO;
        goto out;
    }
    /* The run record bounds the trace when there is one: the timeline then
     * shows the time before the first call and after the last. */
    if (json_is_object(run)) {
        int64_t rs = json_integer_value(json_object_get(run, "start_time"));
        int64_t re = json_integer_value(json_object_get(run, "end_time"));
        if (rs > 0 && (t.spans == 0 || rs < t.first))
            t.first = rs;
        if (re > t.last)
            t.last = re;
        if (t.spans == 0 && t.last < t.first)
            t.last = t.first;
    }
    o = json_pack("{s:s, s:O, s:{s:I, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:f}, s:O}",
                  "trace_id", trace, "run", run,
                  "totals", "calls", (json_int_t)t.calls,
                  "input_tokens", (json_int_t)t.input,
                  "output_tokens", (json_int_t)t.output,
                  "cost_usd", t.cost,
                  "cost_unknown_calls", (json_int_t)t.unknown,
                  "errors", (json_int_t)t.errors,
                  "tool_spans", (json_int_t)t.tools,
                  "spans", (json_int_t)t.spans,
                  "start_time", (json_int_t)t.first,
                  "end_time", (json_int_t)t.last,
                  "duration_ms", (double)(t.last - t.first) / 1e6,
                  "spans", spans);
    rc = o ? TT_OK : TT_ERR_NOMEM;
    *out = o;
out:
    sqlite3_finalize(q);
    json_decref(spans);
    json_decref(run);
    return rc;
}
