/* spanjson.h - a span as the JSON object of the export contract.
 *
 * Shared by the JSONL sink and `tokentap export --format jsonl`, so both
 * print exactly the same object: the keys of DESIGN.md in column order,
 * absent values as null, JSON-valued fields (finish_reasons, input, output,
 * tool_calls, tags) embedded as JSON rather than as strings. */
#ifndef TT_SPANJSON_H
#define TT_SPANJSON_H

#include <jansson.h>

#include "span.h"
#include "tt.h"

/* New reference, or NULL on OOM. A JSON-valued field whose text does not
 * parse (only possible for rows not written by tokentapd) is emitted as a
 * JSON string holding the raw text, so nothing is silently lost. */
json_t *tt_span_to_json(const struct tt_span *s);

/* Append the span as one compact JSON line ("...}\n") to out. */
int tt_span_to_jsonl(const struct tt_span *s, struct tt_buf *out) TT_WUR;

#endif
