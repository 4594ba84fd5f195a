/* otlp.h -- spans as OpenTelemetry's OTLP/HTTP export requests
 * (ExportTraceServiceRequest), in protobuf (the default, encoded by code
 * protoc-c generates from the official opentelemetry-proto definitions in
 * third_party/) or in the OTLP/JSON mapping.
 *
 * A span is taken in the output contract's JSON (`wirespan spans --json`,
 * ws_span_to_json), so that what is exported is exactly what wirespan
 * shows. The attributes that describe who made the span (service.name,
 * host.name, process.pid, process.executable.name and .path,
 * wirespan.service.name_from) go to the span's resource; spans of one
 * resource share one ResourceSpans. A span's status is ERROR, with
 * error.type as its message, for an HTTP status of 500 or more, a Redis
 * error reply and a failed connect (or a request that got no response);
 * otherwise it is UNSET, as the semantic conventions ask of
 * instrumentations. */
#ifndef WIRESPAN_EXPORT_OTLP_H
#define WIRESPAN_EXPORT_OTLP_H

#include <stddef.h>
#include <stdint.h>

enum ws_otlp_format { WS_OTLP_PROTOBUF = 0, WS_OTLP_JSON };

struct ws_otlp_batch;

struct ws_otlp_batch *ws_otlp_batch_new(void);
void ws_otlp_batch_free(struct ws_otlp_batch *b);
/* Add one span (its contract JSON). 0, or -1 with the reason in err. */
int ws_otlp_batch_add(struct ws_otlp_batch *b, const char *span_json, char *err, size_t errlen);
size_t ws_otlp_batch_spans(const struct ws_otlp_batch *b);
void ws_otlp_batch_clear(struct ws_otlp_batch *b);
/* The request body for the spans added; *out is malloc'd. 0 or -1. */
int ws_otlp_encode(const struct ws_otlp_batch *b, enum ws_otlp_format f, uint8_t **out, size_t *len);

#endif
