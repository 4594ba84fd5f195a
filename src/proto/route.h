/* route.h -- the route of an HTTP request: its path with the parts that
 * vary from request to request replaced by placeholders, so that the names
 * built from it (span names, the http_route label of metrics) stay few
 * whatever the traffic. OpenTelemetry calls it url.template.
 *
 * Each segment is judged whole, on its name (before any ;parameters, which
 * redact.h has already reduced to their names) and as written, without
 * percent-decoding:
 *   123                                   -> {id}    digits only
 *   0f8c1b6e-5d2a-4c3e-9b7a-1a2b3c4d5e6f  -> {uuid}
 *   2024-01-15                            -> {date}  YYYY-MM-DD
 *   deadbeef12                            -> {hex}   8+ hex digits, at least one a digit 0-9
 *   a segment of more than 40 characters  -> {seg}
 * Everything else stays: words, including those that are valid hex
 * (cafebabe, added); versions (v1, 2.0); words with digits in them
 * (item-123, page2, s3), which cannot be told from names, and which
 * redact.h has already made {token} when they are 16 or more characters;
 * percent-encoded text; {token}. Empty segments stay ("//"). */
#ifndef WIRESPAN_PROTO_ROUTE_H
#define WIRESPAN_PROTO_ROUTE_H

#include <stddef.h>

/* Write the template of path into out: "/item/123/photos/9f1c2e3d" ->
 * "/item/{id}/photos/{hex}". The path ends at its end or at a '?' (a
 * query is never part of it); an empty path is "/". A template too long
 * for out ends before the first segment that does not fit whole, so that
 * no placeholder is ever cut. */
void ws_route_template(char *out, size_t size, const char *path);

#endif
