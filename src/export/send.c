/* send.c -- see send.h. */
#include "export/send.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "util/util.h"

struct ws_otlp_sender {
	CURL *c;
	struct curl_slist *hdrs;
	struct ws_otlp_send_opts o;
	char url[2048];
	long retry_after_s; /* from the last answer, 0 none */
	char *gz;
	size_t gz_cap;
};

static size_t on_header(char *b, size_t size, size_t n, void *ctx)
{
	struct ws_otlp_sender *s = ctx;
	size_t len = size * n;

	if (len > 12 && strncasecmp(b, "Retry-After:", 12) == 0) {
		long v = strtol(b + 12, NULL, 10); /* seconds; an HTTP date is taken as none */
		s->retry_after_s = v > 0 ? v : 0;
	}
	return len;
}

static size_t on_body(char *b, size_t size, size_t n, void *ctx)
{
	(void)b;
	(void)ctx;
	return size * n; /* the response (ExportTraceServiceResponse) is not needed */
}

const char *ws_otlp_sender_url(const struct ws_otlp_sender *s) { return s->url; }

struct ws_otlp_sender *ws_otlp_sender_new(const struct ws_otlp_send_opts *o, char *err, size_t errlen)
{
	static bool inited;
	struct ws_otlp_sender *s;
	const char *u = o->url;

	if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
		snprintf(err, errlen, "--otlp needs an http:// or https:// URL, not '%s'", u);
		return NULL;
	}
	if (!inited) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		inited = true;
	}
	s = ws_calloc(1, sizeof(*s));
	s->o = *o;
	if (!s->o.timeout_ms)
		s->o.timeout_ms = 10000;
	if (!s->o.max_attempts)
		s->o.max_attempts = 5;
	if (!s->o.backoff_ms)
		s->o.backoff_ms = 500;
	/* a base URL (no path) gets the signal's path, as OTEL_EXPORTER_OTLP_ENDPOINT does */
	const char *path = strchr(strstr(u, "//") + 2, '/');
	snprintf(s->url, sizeof(s->url), "%s%s", u, path && path[1] ? "" : path ? "v1/traces" : "/v1/traces");
	s->c = curl_easy_init();
	if (!s->c) {
		snprintf(err, errlen, "cannot start libcurl");
		free(s);
		return NULL;
	}
	s->hdrs = curl_slist_append(s->hdrs, o->format == WS_OTLP_JSON ? "Content-Type: application/json"
								: "Content-Type: application/x-protobuf");
	if (o->gzip)
		s->hdrs = curl_slist_append(s->hdrs, "Content-Encoding: gzip");
	s->hdrs = curl_slist_append(s->hdrs, "Expect:"); /* no 100-continue round trip */
	for (size_t i = 0; i < o->nheaders; i++)
		s->hdrs = curl_slist_append(s->hdrs, o->headers[i]);
	curl_easy_setopt(s->c, CURLOPT_URL, s->url);
	curl_easy_setopt(s->c, CURLOPT_HTTPHEADER, s->hdrs);
	curl_easy_setopt(s->c, CURLOPT_POST, 1L);
	curl_easy_setopt(s->c, CURLOPT_TIMEOUT_MS, (long)s->o.timeout_ms);
	curl_easy_setopt(s->c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(s->c, CURLOPT_HEADERDATA, s);
	curl_easy_setopt(s->c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(s->c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(s->c, CURLOPT_USERAGENT, "wirespan-otlp");
	return s;
}

void ws_otlp_sender_free(struct ws_otlp_sender *s)
{
	if (!s)
		return;
	curl_slist_free_all(s->hdrs);
	curl_easy_cleanup(s->c);
	free(s->gz);
	free(s);
}

/* gzip body into s->gz; returns its length, or 0 on failure. */
static size_t gzip(struct ws_otlp_sender *s, const uint8_t *body, size_t len)
{
	z_stream z = {0};
	size_t cap = len + len / 100 + 64;

	if (cap > s->gz_cap) {
		free(s->gz);
		s->gz = ws_malloc(cap);
		s->gz_cap = cap;
	}
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return 0;
	z.next_in = (Bytef *)body;
	z.avail_in = (uInt)len;
	z.next_out = (Bytef *)s->gz;
	z.avail_out = (uInt)cap;
	int rc = deflate(&z, Z_FINISH);
	size_t out = z.total_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? out : 0;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int ws_otlp_send(struct ws_otlp_sender *s, const uint8_t *body, size_t len, unsigned *attempts, char *err,
		 size_t errlen)
{
	const uint8_t *data = body;
	size_t n = len;
	unsigned wait = s->o.backoff_ms;

	*attempts = 0;
	if (s->o.gzip) {
		n = gzip(s, body, len);
		if (!n) {
			snprintf(err, errlen, "cannot compress the request");
			return -1;
		}
		data = (const uint8_t *)s->gz;
	}
	curl_easy_setopt(s->c, CURLOPT_POSTFIELDS, data);
	curl_easy_setopt(s->c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)n);
	for (;;) {
		long code = 0;
		s->retry_after_s = 0;
		CURLcode rc = curl_easy_perform(s->c);
		++*attempts;
		if (rc == CURLE_OK)
			curl_easy_getinfo(s->c, CURLINFO_RESPONSE_CODE, &code);
		if (rc == CURLE_OK && code >= 200 && code < 300)
			return 0;
		bool retry = rc != CURLE_OK || code == 429 || code == 502 || code == 503 || code == 504;
		if (rc != CURLE_OK)
			snprintf(err, errlen, "%s: %s", s->url, curl_easy_strerror(rc));
		else
			snprintf(err, errlen, "%s answered HTTP %ld", s->url, code);
		if (!retry || *attempts >= s->o.max_attempts)
			return -1;
		unsigned ms = wait;
		if (s->retry_after_s)
			ms = (unsigned)WS_MIN(s->retry_after_s * 1000, 30000);
		sleep_ms(ms);
		wait = WS_MIN(wait * 2, 30000u);
	}
}
