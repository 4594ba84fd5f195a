/* http1.h -- HTTP/1.x parser (see http1.c). Reached through ws_http1_ops;
 * what HTTP/2 (h2.c) shares with it is here. */
#ifndef WIRESPAN_HTTP1_H
#define WIRESPAN_HTTP1_H

#include <stddef.h>

#include "proto/proto.h"

struct ws_json;

/* Keep a header allowed by --keep-header: its name (lower case) and value
 * appended to hi->kept, when they fit. */
void ws_http_keep_header(struct ws_http_info *hi, const char *name, size_t nn, const uint8_t *v, size_t vn);

/* The attributes every HTTP span has from its headers: Host, User-Agent,
 * content types, traceparent (into s too), headers kept on purpose, and
 * the secret-bearing headers marked "[REDACTED]". */
void ws_http_attrs(const struct ws_http_info *rq, const struct ws_http_info *rs, struct ws_span_fields *s,
		   struct ws_json *a);

#endif
