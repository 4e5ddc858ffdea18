/* otlp.h - spans as OTLP/JSON (the OTLP/HTTP JSON encoding of
 * ExportTraceServiceRequest), with the OpenTelemetry GenAI semantic
 * conventions (docs/OTLP.md lists every attribute).
 *
 * JSON encoding rules followed (OTLP spec, "JSON Protobuf Encoding"):
 * traceId/spanId as lowercase hex, not base64; enums (kind, status code) as
 * integers; 64-bit integers (times, intValue) as decimal strings; field
 * names lowerCamelCase; attribute values typed (stringValue, intValue,
 * doubleValue, boolValue, arrayValue).
 *
 * A request is built in three steps, so that the forwarder can join spans
 * that were encoded (and queued on disk) at different times:
 *   tt_otlp_open(resource) , span , span ... tt_otlp_close()
 * where each span is the text tt_otlp_span() produced, joined by ','. */
#ifndef TT_OTLP_H
#define TT_OTLP_H

#include <stdbool.h>
#include <stddef.h>

#include "span.h"
#include "tt.h"

/* One resource attribute (string-valued: OTEL_RESOURCE_ATTRIBUTES). */
struct tt_otlp_attr {
    char *key;
    char *value;
};

struct tt_otlp_resource {
    struct tt_otlp_attr *attrs;
    size_t n;
};

/* The resource of this daemon: service.name ($OTEL_SERVICE_NAME, else
 * service.name of $OTEL_RESOURCE_ATTRIBUTES, else "tokentap"), host.name
 * (host.name of $OTEL_RESOURCE_ATTRIBUTES, else gethostname()),
 * telemetry.sdk.{name,version}, then every other OTEL_RESOURCE_ATTRIBUTES
 * pair (key=value,key=value; values percent-decoded). A malformed pair is
 * skipped and reported through *bad (may be NULL), as the spec asks. */
int tt_otlp_resource_from_env(struct tt_otlp_resource *r, size_t *bad) TT_WUR;
/* Parse "k=v,k2=v2" into r (appending). Returns pairs skipped in *bad. */
int tt_otlp_parse_attrs(const char *s, struct tt_otlp_resource *r, size_t *bad) TT_WUR;
/* The value of key in r, or NULL. */
const char *tt_otlp_resource_get(const struct tt_otlp_resource *r, const char *key);
void tt_otlp_resource_free(struct tt_otlp_resource *r);

/* Does OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT ask for content
 * on spans? true/1/yes/SPAN_ONLY/SPAN_AND_EVENT (any case) do; unset,
 * false, NO_CONTENT, EVENT_ONLY (we emit no events) do not. */
bool tt_otlp_capture_content(const char *env);

/* Append one span as an OTLP/JSON Span object. Content (gen_ai.input.messages,
 * gen_ai.output.messages, tool arguments and results) only with content. */
int tt_otlp_span(const struct tt_span *s, bool content, struct tt_buf *out) TT_WUR;

/* The request around the spans: '{"resourceSpans":[{"resource":...,
 * "scopeSpans":[{"scope":...,"spans":[' and ']}]}]}'. */
int tt_otlp_open(const struct tt_otlp_resource *r, struct tt_buf *out) TT_WUR;
int tt_otlp_close(struct tt_buf *out) TT_WUR;

#endif
