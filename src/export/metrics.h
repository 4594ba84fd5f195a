/* metrics.h -- RED metrics per service and route, TCP health per peer, and
 * wirespan's own cost and loss, in the Prometheus text exposition format
 * (version 0.0.4), for `wirespan agent`'s /metrics.
 *
 * Requests are histograms named as OpenTelemetry's semantic conventions
 * name them once exported to Prometheus:
 *   http_server_request_duration_seconds{service_name, http_request_method,
 *       http_route, http_response_status_code, error_type}
 *   http_client_request_duration_seconds{service_name, http_request_method,
 *       server_address, server_port, http_response_status_code, error_type}
 *   db_client_operation_duration_seconds{service_name, db_system_name,
 *       db_operation_name, server_address, server_port, error_type}
 * A route is the path with its variable parts replaced (proto/route.h),
 * and the number of series is bounded: past the bound, requests are
 * counted in one series whose labels say "other", and the overflow is
 * counted. Safe to read from another thread while spans come in. */
#ifndef WIRESPAN_EXPORT_METRICS_H
#define WIRESPAN_EXPORT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "span/sink.h"
#include "span/span.h"
#include "stream/event.h"

struct ws_metrics;

struct ws_metrics *ws_metrics_new(size_t max_series);
void ws_metrics_free(struct ws_metrics *m);
void ws_metrics_span(struct ws_metrics *m, const struct ws_span *s);
/* Retransmissions, resets and drops, per peer address; its smoothed RTT. */
void ws_metrics_tcp(struct ws_metrics *m, const struct ws_event *ev);
/* Set a sample wirespan reports about itself (a counter or a gauge, by
 * type), with at most one label (label NULL: none). */
void ws_metrics_set(struct ws_metrics *m, const char *name, const char *type, const char *help, const char *label,
		    const char *value, double v);
/* The exposition text (malloc'd, *len bytes). */
char *ws_metrics_render(struct ws_metrics *m, size_t *len);

/* The metrics as a destination of the pipeline: they hear every span and
 * TCP fact as it is made. */
void ws_metrics_sink(struct ws_metrics *m, struct ws_sink *out);

#endif
