/* jsonw.h - appending JSON text to a tt_buf, for the forwarders' encoders
 * (OTLP/JSON, ClickHouse JSONEachRow): no tree is built per span. */
#ifndef TT_JSONW_H
#define TT_JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "tt.h"

/* "text" with JSON escapes (", \, control characters). The text must be
 * UTF-8 (span strings are: tokentapd refuses anything else). NULL -> "". */
int tt_jw_str(struct tt_buf *b, const char *s) TT_WUR;
int tt_jw_strn(struct tt_buf *b, const char *s, size_t n) TT_WUR;
/* A double with 15 significant digits (0.00036, not 0.00036000000000000002);
 * NaN and infinities, which JSON cannot hold, as null. */
int tt_jw_f64(struct tt_buf *b, double v) TT_WUR;
int tt_jw_i64(struct tt_buf *b, int64_t v) TT_WUR;

#endif
