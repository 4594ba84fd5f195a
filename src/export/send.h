/* send.h -- OTLP/HTTP requests to a collector (libcurl): gzip, retries with
 * backoff where the specification says a request may be retried (429, 502,
 * 503, 504, or no answer), honouring Retry-After; never a retry for other
 * answers. */
#ifndef WIRESPAN_EXPORT_SEND_H
#define WIRESPAN_EXPORT_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "export/otlp.h"

struct ws_otlp_sender;

struct ws_otlp_send_opts {
	const char *url;             /* the traces endpoint, or a base URL (/v1/traces is added) */
	enum ws_otlp_format format;
	bool gzip;
	const char *headers[16];     /* "Name: value" */
	size_t nheaders;
	unsigned timeout_ms;         /* per request (default 10 s) */
	unsigned max_attempts;       /* default 5 */
	unsigned backoff_ms;         /* first wait between attempts, doubling (default 500 ms) */
};

struct ws_otlp_sender *ws_otlp_sender_new(const struct ws_otlp_send_opts *o, char *err, size_t errlen);
void ws_otlp_sender_free(struct ws_otlp_sender *s);
/* POST one request body. 0 when the collector took it; -1 when it was
 * refused or no attempt succeeded, with the last reason in err. *attempts
 * says how many were made. */
int ws_otlp_send(struct ws_otlp_sender *s, const uint8_t *body, size_t len, unsigned *attempts, char *err,
		 size_t errlen);
/* The endpoint requests go to. */
const char *ws_otlp_sender_url(const struct ws_otlp_sender *s);

#endif
