/* clickhouse.h - tokentap's spans in ClickHouse, over its HTTP interface.
 *
 * A store is named by a URL:
 *
 *   clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?table=T&secure=1]
 *
 * PORT defaults to 8123 (8443 with secure=1, which speaks HTTPS), DATABASE
 * to "tokentap" (also ?database=D), the table to "spans". USER/PASSWORD may also come from
 * $TOKENTAP_CLICKHOUSE_USER / $TOKENTAP_CLICKHOUSE_PASSWORD (the URL wins;
 * a URL with a user and no password takes the password from there);
 * percent-escapes are decoded in all parts.
 *
 * The table (tt_ch_ddl) is a ReplacingMergeTree ordered by span_id: a span
 * written twice (an at-least-once retry, a replayed queue) is one row once
 * merged, and readers use FINAL so that they never count it twice before
 * the merge. Its columns are the span contract's (spanfield.h) with
 * ClickHouse types, JSON-valued fields as String holding the JSON text,
 * absent values as the column default ('' / 0; ttft_ms -1), plus:
 *   host_name     the host whose tokentapd wrote the row
 *   service_name  OTEL_SERVICE_NAME of that daemon ("tokentap" if unset)
 *   version       UInt64, ms since the epoch when the row was sent
 * The schema is written for ClickHouse >= 18.16 (Debian bookworm's). */
#ifndef TT_CLICKHOUSE_H
#define TT_CLICKHOUSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span.h"
#include "tt.h"

struct tt_ch {
    char base[512];      /* "http://host:8123/" : where queries are POSTed */
    char db[128];
    char table[128];
    char user[128];      /* "" = ClickHouse's default user */
    char password[256];
};

/* Parse a clickhouse:// URL. TT_ERR_PARSE with a reason in err (may be
 * NULL) when it is not one. Database and table names must be
 * [A-Za-z0-9_]+ (they are pasted into SQL). */
int tt_ch_parse_url(const char *url, struct tt_ch *ch, char *err, size_t errlen) TT_WUR;

/* Is this string a clickhouse:// URL (a --store value)? */
bool tt_ch_is_url(const char *s);

/* Run one query (the SQL is the POST body) and return the response body
 * (owned, NUL-terminated) in *out. Errors, with a message in err:
 * TT_ERR_IO (the server's exception text "HTTP 404: Code: 60, ...", or the
 * transport error), TT_ERR_CAP (an answer above 64 MiB). */
int tt_ch_query(const struct tt_ch *ch, const char *sql, char **out,
                char *err, size_t errlen) TT_WUR;

/* CREATE DATABASE IF NOT EXISTS + CREATE TABLE IF NOT EXISTS (idempotent). */
int tt_ch_ensure_table(const struct tt_ch *ch, char *err, size_t errlen) TT_WUR;

/* The CREATE TABLE statement for db.table (static text, for docs/tests). */
int tt_ch_ddl(const struct tt_ch *ch, struct tt_buf *out) TT_WUR;

/* Append one JSONEachRow line ("{...}\n") for the span, with the given
 * host_name, service_name and version. */
int tt_ch_row(const struct tt_span *s, const char *host_name,
              const char *service_name, uint64_t version, struct tt_buf *out) TT_WUR;

#endif
