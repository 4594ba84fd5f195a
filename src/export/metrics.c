/* metrics.c -- see metrics.h. */
#include "export/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/route.h"
#include "util/hashmap.h"
#include "util/util.h"

/* seconds: from half a millisecond to ten seconds */
static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
#define NB (sizeof(bounds) / sizeof(bounds[0]))

enum family { F_HTTP_SERVER, F_HTTP_CLIENT, F_DB_CLIENT, F_N };

static const char *const fam_name[F_N] = {"http_server_request_duration_seconds",
					  "http_client_request_duration_seconds", "db_client_operation_duration_seconds"};
static const char *const fam_help[F_N] = {
	"Duration of HTTP server requests, as wirespan saw them from the kernel.",
	"Duration of HTTP client requests, as wirespan saw them from the kernel.",
	"Duration of database client operations (Redis), as wirespan saw them from the kernel.",
};

struct series {
	char *labels; /* rendered: a="b",c="d" */
	uint64_t count, buckets[NB];
	double sum;
	struct series *next; /* same hash */
};

/* a sample with a value set from outside (own cost, TCP health) */
struct sample {
	char *name, *type, *help, *labels;
	double v;
	bool add; /* counters kept here add up (TCP facts); set ones are replaced */
};

struct ws_metrics {
	pthread_mutex_t lock;
	struct ws_hashmap by_key[F_N];
	size_t nseries, max_series;
	uint64_t overflow;
	struct sample *samples;
	size_t nsamples, cap;
	struct ws_hashmap sample_at; /* hash of name and labels -> position + 1 */
	struct series **all[F_N];
	size_t nall[F_N], capall[F_N];
};

struct ws_metrics *ws_metrics_new(size_t max_series)
{
	struct ws_metrics *m = ws_calloc(1, sizeof(*m));

	pthread_mutex_init(&m->lock, NULL);
	for (int f = 0; f < F_N; f++)
		ws_hashmap_init(&m->by_key[f]);
	ws_hashmap_init(&m->sample_at);
	m->max_series = max_series ? max_series : 10000;
	return m;
}

void ws_metrics_free(struct ws_metrics *m)
{
	if (!m)
		return;
	for (int f = 0; f < F_N; f++) {
		for (size_t i = 0; i < m->nall[f]; i++) {
			free(m->all[f][i]->labels);
			free(m->all[f][i]);
		}
		free(m->all[f]);
		ws_hashmap_free(&m->by_key[f]);
	}
	for (size_t i = 0; i < m->nsamples; i++) {
		free(m->samples[i].name);
		free(m->samples[i].type);
		free(m->samples[i].help);
		free(m->samples[i].labels);
	}
	free(m->samples);
	ws_hashmap_free(&m->sample_at);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

/* A label value, escaped as the exposition format asks. */
static size_t label(char *out, size_t size, size_t o, const char *k, const char *v)
{
	if (o + 1 >= size)
		return o;
	o += (size_t)snprintf(out + o, size - o, "%s%s=\"", o ? "," : "", k);
	for (; *v && o + 3 < size; v++) {
		if (*v == '\\' || *v == '"')
			out[o++] = '\\', out[o++] = *v;
		else if (*v == '\n')
			out[o++] = '\\', out[o++] = 'n';
		else if ((unsigned char)*v >= 0x20 && *v != 0x7f)
			out[o++] = *v;
	}
	if (o + 1 < size)
		out[o++] = '"';
	out[o < size ? o : size - 1] = 0;
	return o;
}

static struct series *find(struct ws_metrics *m, int f, const char *labels)
{
	uint64_t h = ws_keyed_hash(labels, strlen(labels)) | 1;
	struct series *s = ws_hashmap_get(&m->by_key[f], h);

	for (; s; s = s->next)
		if (strcmp(s->labels, labels) == 0)
			return s;
	if (m->nseries >= m->max_series)
		return NULL;
	s = ws_calloc(1, sizeof(*s));
	s->labels = ws_strdup(labels);
	s->next = ws_hashmap_get(&m->by_key[f], h);
	ws_hashmap_put(&m->by_key[f], h, s);
	if (m->nall[f] == m->capall[f]) {
		m->capall[f] = m->capall[f] ? m->capall[f] * 2 : 64;
		m->all[f] = ws_realloc(m->all[f], m->capall[f] * sizeof(*m->all[f]));
	}
	m->all[f][m->nall[f]++] = s;
	m->nseries++;
	return s;
}

void ws_metrics_span(struct ws_metrics *m, const struct ws_span *s)
{
	char l[1024], route[256], num[16], port[8];
	size_t o = 0;
	int f;

	const struct proto_ops *ops = ws_proto_ops(s->proto);
	bool db = ops && ops->span && ops->span->database;
	if (s->proto && !db)
		f = s->kind == WS_SPAN_SERVER ? F_HTTP_SERVER : F_HTTP_CLIENT;
	else if (db && s->kind == WS_SPAN_CLIENT)
		f = F_DB_CLIENT;
	else if (!s->proto && s->kind == WS_SPAN_CLIENT) /* a failed connect */
		f = F_HTTP_CLIENT;
	else
		return; /* a Redis server is measured by its clients */
	o = label(l, sizeof(l), o, "service_name", s->service);
	snprintf(port, sizeof(port), "%u", s->kind == WS_SPAN_CLIENT ? s->peer.port : s->local.port);
	char addr[64];
	ws_addr_str(s->kind == WS_SPAN_CLIENT ? &s->peer : &s->local, addr, sizeof(addr));
	if (f == F_DB_CLIENT) {
		o = label(l, sizeof(l), o, "db_system_name", ops->name);
		o = label(l, sizeof(l), o, "db_operation_name", s->method);
	} else {
		o = label(l, sizeof(l), o, "http_request_method", s->method[0] ? s->method : "_OTHER");
		if (f == F_HTTP_SERVER) {
			ws_route_template(route, sizeof(route), s->target);
			o = label(l, sizeof(l), o, "http_route", route);
		}
		snprintf(num, sizeof(num), "%d", s->status);
		o = label(l, sizeof(l), o, "http_response_status_code", s->status ? num : "");
	}
	if (f != F_HTTP_SERVER) {
		o = label(l, sizeof(l), o, "server_address", addr);
		o = label(l, sizeof(l), o, "server_port", port);
	}
	label(l, sizeof(l), o, "error_type", s->error);
	double secs = s->end_ns > s->start_ns ? (s->end_ns - s->start_ns) / 1e9 : 0;
	pthread_mutex_lock(&m->lock);
	struct series *se = find(m, f, l);
	if (!se) { /* past the bound: one series for the rest */
		m->overflow++;
		char other[256];
		size_t k = label(other, sizeof(other), 0, "service_name", "other");
		label(other, sizeof(other), k, "error_type", s->error[0] ? "other" : "");
		m->max_series++; /* room for the overflow series itself */
		se = find(m, f, other);
		m->max_series--;
	}
	if (se) {
		se->count++;
		se->sum += secs;
		for (size_t b = 0; b < NB; b++)
			if (secs <= bounds[b])
				se->buckets[b]++;
	}
	pthread_mutex_unlock(&m->lock);
}

static bool same_sample(const struct sample *s, const char *name, const char *labels)
{
	return strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0;
}

/* The sample of name and labels, found through a hash (a TCP fact looks
 * one up on the recorder's path), or added. */
static struct sample *sample_of(struct ws_metrics *m, const char *name, const char *labels)
{
	char key[512];
	int n = snprintf(key, sizeof(key), "%s%c%s", name, 0, labels);
	uint64_t h = ws_keyed_hash(key, (size_t)WS_MIN(n, (int)sizeof(key) - 1)) | 1;
	uintptr_t at = (uintptr_t)ws_hashmap_get(&m->sample_at, h);

	if (at && same_sample(&m->samples[at - 1], name, labels))
		return &m->samples[at - 1];
	if (at) /* another sample with that hash: look at them all */
		for (size_t i = 0; i < m->nsamples; i++)
			if (same_sample(&m->samples[i], name, labels))
				return &m->samples[i];
	if (m->nsamples >= m->max_series)
		return NULL;
	if (m->nsamples == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 64;
		m->samples = ws_realloc(m->samples, m->cap * sizeof(*m->samples));
	}
	struct sample *s = &m->samples[m->nsamples++];
	memset(s, 0, sizeof(*s));
	s->name = ws_strdup(name);
	s->labels = ws_strdup(labels);
	if (!at)
		ws_hashmap_put(&m->sample_at, h, (void *)(uintptr_t)m->nsamples);
	return s;
}

static void put_sample(struct ws_metrics *m, const char *name, const char *type, const char *help, const char *labels,
		       double v, bool add)
{
	pthread_mutex_lock(&m->lock);
	struct sample *s = sample_of(m, name, labels);
	if (s) {
		if (!s->type) {
			s->type = ws_strdup(type);
			s->help = ws_strdup(help);
		}
		s->v = add ? s->v + v : v;
		s->add = add;
	}
	pthread_mutex_unlock(&m->lock);
}

void ws_metrics_set(struct ws_metrics *m, const char *name, const char *type, const char *help, const char *label_k,
		    const char *value, double v)
{
	char l[256] = "";

	if (label_k)
		label(l, sizeof(l), 0, label_k, value);
	put_sample(m, name, type, help, l, v, false);
}

void ws_metrics_tcp(struct ws_metrics *m, const struct ws_event *ev)
{
	char addr[64], peer[128], l[256];

	ws_addr_str(&ev->peer, addr, sizeof(addr));
	size_t o = label(peer, sizeof(peer), 0, "peer_address", addr);
	memcpy(l, peer, o + 1);
	switch (ev->tcp_what) {
	case WS_TCPEV_RETRANS:
		put_sample(m, "wirespan_tcp_retransmissions_total", "counter",
			   "TCP segments retransmitted, per peer address.", l, 1, true);
		break;
	case WS_TCPEV_RESET_RX:
	case WS_TCPEV_RESET_TX:
		label(l, sizeof(l), o, "direction", ev->tcp_what == WS_TCPEV_RESET_RX ? "received" : "sent");
		put_sample(m, "wirespan_tcp_resets_total", "counter", "TCP resets, per peer address and direction.", l,
			   1, true);
		break;
	case WS_TCPEV_DROP:
		put_sample(m, "wirespan_tcp_drops_total", "counter",
			   "TCP packets the kernel dropped, per peer address.", l, 1, true);
		break;
	default: return;
	}
	if (ev->srtt_us)
		put_sample(m, "wirespan_tcp_srtt_seconds", "gauge",
			   "Smoothed round-trip time of the last connection with a TCP event, per peer address.",
			   peer, ev->srtt_us / 1e6, false);
}

struct buf {
	char *b;
	size_t n, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bprintf(struct buf *b, const char *fmt, ...)
{
	for (;;) {
		va_list ap;
		va_start(ap, fmt);
		int k = vsnprintf(b->b + b->n, b->cap - b->n, fmt, ap);
		va_end(ap);
		if (k >= 0 && (size_t)k < b->cap - b->n) {
			b->n += (size_t)k;
			return;
		}
		b->cap = b->cap * 2 + (size_t)(k > 0 ? k : 0) + 256;
		b->b = ws_realloc(b->b, b->cap);
	}
}

char *ws_metrics_render(struct ws_metrics *m, size_t *len)
{
	struct buf b = {ws_malloc(4096), 0, 4096};

	pthread_mutex_lock(&m->lock);
	for (int f = 0; f < F_N; f++) {
		if (!m->nall[f])
			continue;
		bprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", fam_name[f], fam_help[f], fam_name[f]);
		for (size_t i = 0; i < m->nall[f]; i++) {
			const struct series *s = m->all[f][i];
			for (size_t k = 0; k < NB; k++)
				bprintf(&b, "%s_bucket{%s,le=\"%g\"} %llu\n", fam_name[f], s->labels, bounds[k],
					(unsigned long long)s->buckets[k]);
			bprintf(&b, "%s_bucket{%s,le=\"+Inf\"} %llu\n", fam_name[f], s->labels,
				(unsigned long long)s->count);
			bprintf(&b, "%s_sum{%s} %.9g\n", fam_name[f], s->labels, s->sum);
			bprintf(&b, "%s_count{%s} %llu\n", fam_name[f], s->labels, (unsigned long long)s->count);
		}
	}
	bprintf(&b,
		"# HELP wirespan_metrics_series_overflow_total Requests counted in the \"other\" series because the "
		"series bound was reached.\n# TYPE wirespan_metrics_series_overflow_total counter\n"
		"wirespan_metrics_series_overflow_total %llu\n",
		(unsigned long long)m->overflow);
	/* samples grouped by name, each name's HELP and TYPE once */
	for (size_t i = 0; i < m->nsamples; i++) {
		bool first = true;
		for (size_t j = 0; j < i; j++)
			if (strcmp(m->samples[j].name, m->samples[i].name) == 0)
				first = false;
		if (!first)
			continue;
		bprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", m->samples[i].name, m->samples[i].help, m->samples[i].name,
			m->samples[i].type);
		for (size_t j = i; j < m->nsamples; j++)
			if (strcmp(m->samples[j].name, m->samples[i].name) == 0)
				bprintf(&b, "%s%s%s%s %.17g\n", m->samples[j].name, m->samples[j].labels[0] ? "{" : "",
					m->samples[j].labels, m->samples[j].labels[0] ? "}" : "", m->samples[j].v);
	}
	pthread_mutex_unlock(&m->lock);
	*len = b.n;
	return b.b;
}

/* ---- the metrics as a sink (span/sink.h): spans and TCP facts as they come ---- */

static int ms_span(void *ctx, const struct ws_span *s)
{
	ws_metrics_span(ctx, s);
	return 0;
}

static int ms_tcp_event(void *ctx, const char *host, const struct ws_event *ev, const char *reason_name)
{
	(void)host;
	(void)reason_name;
	ws_metrics_tcp(ctx, ev);
	return 0;
}

static const struct ws_sink_ops metrics_ops = {.name = "metrics", .span = ms_span, .tcp_event = ms_tcp_event};

void ws_metrics_sink(struct ws_metrics *m, struct ws_sink *out) { *out = (struct ws_sink){.ops = &metrics_ops, .ctx = m}; }
