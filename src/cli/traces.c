/* traces.c -- `wirespan traces` and `wirespan explain`: whole distributed
 * traces assembled from the spans of one or more databases (one per host,
 * or one for a whole machine), and the trace assembly that `record` stores
 * at its end. */
#include <arpa/inet.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/dbset.h"
#include "cli/opts.h"
#include "pcap/pktmatch.h"
#include "store/store.h"
#include "trace/link.h"
#include "util/json.h"
#include "util/util.h"

/* ---- a set of databases, linked together ---- */

int dbset_open(struct dbset *d, const struct ws_link_opts *opts)
{
	char err[1024];

	ws_lset_init(&d->set);
	ws_hashmap_init(&d->by_id);
	for (size_t i = 0; i < d->n; i++) {
		for (size_t k = 0; k < i; k++)
			if (strcmp(d->path[k], d->path[i]) == 0) {
				ws_err("--db %s is given twice", d->path[i]);
				return 2;
			}
		if (ws_store_open(d->path[i], WS_STORE_READ, &d->st[i], err, sizeof(err))) {
			ws_err("%s", err);
			return 1;
		}
		if (ws_lset_load(&d->set, d->st[i], (uint16_t)i) || ws_tcpevs_load(&d->tcp, d->st[i], (uint16_t)i))
			return 1;
	}
	ws_link(&d->set, opts);
	ws_phases_compute(&d->set, &d->tcp, &d->ph);
	for (size_t i = 0; i < d->set.n; i++)
		if (d->set.v[i].kind)
			ws_hashmap_put(&d->by_id, d->set.v[i].span_id ? d->set.v[i].span_id : 1, &d->set.v[i]);
	return 0;
}

void dbset_close(struct dbset *d)
{
	for (size_t i = 0; i < d->n; i++)
		ws_store_close(d->st[i]);
	ws_lset_free(&d->set);
	ws_hashmap_free(&d->by_id);
	ws_tcpevs_free(&d->tcp);
	ws_phaseset_free(&d->ph);
}

const struct ws_phases *dbset_phases(const struct dbset *d, const struct ws_lspan *l)
{
	return &d->ph.v[l - d->set.v];
}

/* Add the exchange's phases (computed across all the databases) to the
 * span's stored attributes. */
static void add_phases(struct ws_span *s, const struct ws_phases *p)
{
	struct ws_json j;

	wj_init(&j);
	wj_obj_begin(&j);
	wj_members(&j, s->attrs);
	ws_phases_json(p, s->kind, &j);
	wj_obj_end(&j);
	if (j.len < sizeof(s->attrs))
		memcpy(s->attrs, j.buf, j.len + 1);
	wj_free(&j);
}

void dbset_linked_span(const struct dbset *d, const struct ws_span *stored, struct ws_span *out)
{
	const struct ws_lspan *l = dbset_find(d, stored);

	memcpy(out, stored, sizeof(*out));
	if (l) {
		ws_lspan_apply(&d->set, l, out);
		add_phases(out, dbset_phases(d, l));
	}
}

const struct ws_lspan *dbset_find(const struct dbset *d, const struct ws_span *s)
{
	uint64_t id = ws_be64_get(s->span_id);

	return ws_hashmap_get(&d->by_id, id ? id : 1);
}

static void usage_link(FILE *f)
{
	fprintf(f,
		"usage: wirespan link [--db FILE]\n\nAssemble the traces of a database and store the trace ids "
		"and parents in its spans table\n(recordings larger than %d spans leave this to readers).\n",
		WS_LINK_MAX_SPANS);
}

/* `wirespan link`: assemble the traces of a database and store them. */
int cmd_link(int argc, char **argv)
{
	const char *db = NULL;
	const struct cli_opt opts[] = {CLI_DB(&db), {0}};
	const struct cli_cmd cmd = {.name = "link", .usage = usage_link, .opts = opts};
	struct ws_store *st;
	char err[1024];
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	if (ws_store_open(db, WS_STORE_WRITE, &st, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	rc = ws_link_store(st, db, 0);
	if (!rc && ws_store_commit(st)) {
		ws_err("cannot write to %s: %s", db, ws_store_errmsg(st));
		rc = 1;
	}
	ws_store_close(st);
	return rc;
}

/* ---- traces ---- */

struct trace {
	const uint8_t *id;
	size_t first, n; /* a run of the sorted index */
	const struct ws_lspan *root;
	uint64_t start, end;
	unsigned services, errors;
	float min_conf; /* lowest link confidence inside the trace */
};

static int cmp_by_trace(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];
	int r = memcmp(x->trace_id, y->trace_id, 16);

	if (r)
		return r;
	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

/* Sort the linked spans by trace and summarize each trace. */
static struct trace *group_traces(const struct ws_lset *set, int32_t **order_out, size_t *ntraces)
{
	int32_t *order = ws_malloc((set->n + 1) * sizeof(*order));
	struct trace *t = NULL;
	size_t n = 0, nt = 0, cap = 0;
	struct ws_hashmap seen; /* service name -> 1 + the last trace it was counted in */

	ws_hashmap_init(&seen);

	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].kind)
			order[n++] = (int32_t)i;
	qsort_r(order, n, sizeof(*order), cmp_by_trace, (void *)set);
	for (size_t i = 0, j; i < n; i = j) {
		const struct ws_lspan *a = &set->v[order[i]];
		if (nt == cap) {
			cap = cap ? cap * 2 : 256;
			t = ws_realloc(t, cap * sizeof(*t));
		}
		struct trace *tr = &t[nt++];
		memset(tr, 0, sizeof(*tr));
		tr->id = a->trace_id;
		tr->first = i;
		tr->start = UINT64_MAX;
		tr->min_conf = 1.0f;
		for (j = i; j < n && memcmp(set->v[order[j]].trace_id, a->trace_id, 16) == 0; j++) {
			const struct ws_lspan *l = &set->v[order[j]];
			tr->start = WS_MIN(tr->start, l->start);
			tr->end = WS_MAX(tr->end, l->end);
			tr->errors += l->error;
			if (l->parent < 0 && (!tr->root || l->start < tr->root->start))
				tr->root = l;
			if (l->method && l->confidence < tr->min_conf)
				tr->min_conf = l->confidence;
			if ((uintptr_t)ws_hashmap_get(&seen, (uintptr_t)l->service) != nt) {
				ws_hashmap_put(&seen, (uintptr_t)l->service, (void *)(uintptr_t)nt);
				tr->services++;
			}
		}
		tr->n = j - i;
		if (!tr->root)
			tr->root = a;
	}
	ws_hashmap_free(&seen);
	*order_out = order;
	*ntraces = nt;
	return t;
}

static bool trace_has_service(const struct ws_lset *set, const int32_t *order, const struct trace *t, const char *svc)
{
	for (size_t k = 0; k < t->n; k++)
		if (strcmp(set->v[order[t->first + k]].service, svc) == 0)
			return true;
	return false;
}

static int cmp_slowest(const void *a, const void *b)
{
	const struct trace *x = a, *y = b;
	uint64_t dx = x->end - x->start, dy = y->end - y->start;

	if (dx != dy)
		return dx > dy ? -1 : 1;
	return memcmp(x->id, y->id, 16);
}

static int cmp_start(const void *a, const void *b)
{
	const struct trace *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return memcmp(x->id, y->id, 16);
}

static void print_trace_json(const struct ws_lset *set, const int32_t *order, const struct trace *t, struct ws_json *j)
{
	char id[33], sid[17];
	uint8_t b[8];

	wj_reset(j);
	wj_obj_begin(j);
	ws_hex(t->id, 16, id);
	wj_kstr(j, "trace_id", id);
	wj_kuint(j, "start_time_unix_nano", t->start);
	wj_kuint(j, "end_time_unix_nano", t->end);
	wj_kuint(j, "duration_ns", t->end - t->start);
	wj_kuint(j, "spans", t->n);
	wj_kuint(j, "errors", t->errors);
	wj_knum3(j, "min_link_confidence", t->min_conf);
	wj_key(j, "root");
	wj_obj_begin(j);
	ws_be64_put(b, t->root->span_id);
	ws_hex(b, 8, sid);
	wj_kstr(j, "span_id", sid);
	wj_kstr(j, "service.name", t->root->service);
	wj_kstr(j, "host.name", t->root->host);
	wj_kstr(j, "kind", ws_span_kind_name(t->root->kind));
	wj_kstr(j, "name", t->root->name);
	wj_obj_end(j);
	wj_key(j, "services");
	wj_arr_begin(j);
	struct ws_hashmap seen; /* names are interned: one pointer per service */
	ws_hashmap_init(&seen);
	for (size_t k = 0; k < t->n; k++) {
		const struct ws_lspan *l = &set->v[order[t->first + k]];
		if (!ws_hashmap_get(&seen, (uintptr_t)l->service)) {
			ws_hashmap_put(&seen, (uintptr_t)l->service, (void *)1);
			wj_str(j, l->service);
		}
	}
	ws_hashmap_free(&seen);
	wj_arr_end(j);
	wj_obj_end(j);
	fwrite(j->buf, 1, j->len, stdout);
	fputc('\n', stdout);
}

static void usage_traces(FILE *f)
{
	fprintf(f, "usage: wirespan traces [--db FILE]... [--slowest N] [--service NAME] [--min-ms X] [--json]\n"
		   "                       [--no-traceparent] [--min-confidence X]\n"
		   "\n"
		   "One line per distributed trace: id, start, duration, spans, services and the root\n"
		   "span's service and operation, in start order (--slowest N: the N longest first).\n"
		   "Give one --db per host to join traces across hosts; spans of the same exchange\n"
		   "recorded on both ends are joined by the connection and TCP sequence numbers.\n"
		   "  --service NAME     only traces with a span of this service\n"
		   "  --min-ms X         only traces lasting at least X milliseconds\n"
		   "  --no-traceparent   link from kernel evidence only, ignoring W3C traceparent headers\n"
		   "  --min-confidence X make no link inside a process below confidence X (0 to 1)\n");
}

int cmd_traces(int argc, char **argv)
{
	struct dbset d = {0};
	struct ws_link_opts lo = {0};
	const char *service = NULL;
	uint64_t slowest = 0;
	double min_ms = 0;
	bool json = false;
	const struct cli_opt opts[] = {
		CLI_DBS(d.path, &d.n),
		CLI_UINT("slowest", &slowest, 1, UINT64_MAX, NULL),
		CLI_STR("service", &service),
		CLI_REAL("min-ms", &min_ms, 0, HUGE_VAL, "a number of milliseconds"),
		CLI_SET("json", &json),
		DBSET_LINK_OPTS(&lo),
		{0},
	};
	const struct cli_cmd cmd = {.name = "traces", .usage = usage_traces, .opts = opts};
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	if ((rc = dbset_open(&d, &lo))) {
		dbset_close(&d);
		return rc;
	}

	int32_t *order;
	size_t nt, shown = 0;
	struct trace *t = group_traces(&d.set, &order, &nt);
	struct ws_json j;
	qsort(t, nt, sizeof(*t), slowest ? cmp_slowest : cmp_start);
	wj_init(&j);
	if (!json)
		printf("%-32s  %-15s %10s %5s %4s  %s\n", "TRACE", "START", "DURATION", "SPANS", "SVCS", "ROOT");
	for (size_t i = 0; i < nt && (!slowest || shown < slowest); i++) {
		char id[33], clock[32], dur[32];
		if ((double)(t[i].end - t[i].start) < min_ms * 1e6)
			continue;
		if (service && !trace_has_service(&d.set, order, &t[i], service))
			continue;
		shown++;
		if (json) {
			print_trace_json(&d.set, order, &t[i], &j);
			continue;
		}
		ws_hex(t[i].id, 16, id);
		ws_fmt_clock(t[i].start, clock, sizeof(clock));
		ws_fmt_duration(t[i].end - t[i].start, dur, sizeof(dur));
		printf("%s  %-15s %10s %5zu %4u  %s: %s%s\n", id, clock, dur, t[i].n, t[i].services, t[i].root->service,
		       t[i].root->name, t[i].errors ? "  (errors)" : "");
	}
	if (!shown && !json)
		fprintf(stderr, "wirespan: no traces match\n");
	wj_free(&j);
	free(t);
	free(order);
	dbset_close(&d);
	return ferror(stdout) ? 1 : 0;
}

/* ---- explain ---- */

struct node {
	int32_t idx;
	int32_t first_child, next_sibling;
};

static void draw_bar(char *out, size_t width, uint64_t t0, uint64_t total, uint64_t a, uint64_t b)
{
	size_t from = total ? (size_t)((double)(a - t0) / total * width) : 0;
	size_t to = total ? (size_t)((double)(b - t0) / total * width + 0.999) : width;

	if (from >= width)
		from = width - 1;
	if (to <= from)
		to = from + 1;
	if (to > width)
		to = width;
	for (size_t i = 0; i < width; i++)
		out[i] = i >= from && i < to ? '#' : '.';
	out[width] = 0;
}

/* The phases of the exchange a span belongs to, once per exchange (under
 * its client span, or under a server span whose client was not recorded):
 * one line of segments, and the same segments on the waterfall's scale
 * (c connect, s send, h held by the sender's TCP, n network, q socket
 * queue, P server processing). */
static void explain_phases(const struct dbset *d, const struct ws_lspan *l, int ind, uint64_t t0, uint64_t total)
{
	const struct ws_phases *p = dbset_phases(d, l);
	const struct ws_lspan *c = p->client >= 0 ? &d->set.v[p->client] : NULL;
	static const char mark[WS_PH_N] = {
		[WS_PH_CONNECT] = 'c',    [WS_PH_ACCEPT_QUEUE] = 'a', [WS_PH_REQ_SEND] = 's', [WS_PH_REQ_HOLD] = 'h',
		[WS_PH_REQ_FLIGHT] = 'n', [WS_PH_SRV_QUEUE] = 'q',    [WS_PH_SRV_PROC] = 'P', [WS_PH_RESP_SEND] = 's',
		[WS_PH_RESP_HOLD] = 'h',  [WS_PH_RESP_FLIGHT] = 'n',  [WS_PH_CLI_QUEUE] = 'q', [WS_PH_SRV_AND_NET] = '?',
	};
	char line[512], v[32], bar[41];
	size_t n = 0;

	if (l->kind == WS_SPAN_SERVER && p->client >= 0)
		return;
	for (int k = 0; k < WS_PH_N && n < sizeof(line) - 64; k++) {
		if (p->ns[k] < 0)
			continue;
		ws_fmt_duration((uint64_t)p->ns[k], v, sizeof(v));
		n += snprintf(line + n, sizeof(line) - n, "%s%s %s", n ? ", " : "", ws_phase_label(k), v);
		if (k == WS_PH_SRV_PROC && p->runq >= 0 && p->offcpu >= 0) {
			char r[32], o[32];
			ws_fmt_duration((uint64_t)p->runq, r, sizeof(r));
			ws_fmt_duration((uint64_t)p->offcpu, o, sizeof(o));
			n += snprintf(line + n, sizeof(line) - n, " (runnable %s, off CPU %s)", r, o);
		}
	}
	if (p->retransmits && n < sizeof(line) - 96) {
		char st[32], rto[32];
		ws_fmt_duration((uint64_t)p->stall_ns, st, sizeof(st));
		ws_fmt_duration((uint64_t)p->rto_us * 1000, rto, sizeof(rto));
		n += snprintf(line + n, sizeof(line) - n, "%s%u retransmission%s, stall %s%s%s", n ? ", " : "",
			      p->retransmits, p->retransmits == 1 ? "" : "s", st, p->rto_us ? ", RTO " : "",
			      p->rto_us ? rto : "");
	}
	if (p->reset && n < sizeof(line) - 32)
		n += snprintf(line + n, sizeof(line) - n, "%sreset %s", n ? ", " : "", p->reset == 1 ? "received" : "sent");
	if (!n)
		return;
	/* segments on the waterfall, in the client's clock, from its start */
	memset(bar, ' ', 40);
	bar[40] = 0;
	if (c && total) {
		uint64_t at = c->start;
		for (int k = WS_PH_REQ_SEND; k <= WS_PH_CLI_QUEUE; k++) {
			int64_t d_ns = p->ns[k] > 0 ? p->ns[k] : 0;
			if (k == WS_PH_SRV_AND_NET && d_ns <= 0)
				continue;
			size_t from = at > t0 ? (size_t)((double)(at - t0) / total * 40) : 0;
			size_t to = (size_t)((double)(at + d_ns - t0) / total * 40 + 0.5);
			for (size_t x = from; x < to && x < 40; x++)
				bar[x] = mark[k];
			at += d_ns;
		}
		if (p->ns[WS_PH_SRV_AND_NET] > 0) {
			size_t from = (size_t)((double)(c->req_t[WS_T_LAST_EXIT] - t0) / total * 40);
			size_t to = (size_t)((double)(c->req_t[WS_T_LAST_EXIT] + p->ns[WS_PH_SRV_AND_NET] - t0) / total * 40 + 0.5);
			for (size_t x = from; x < to && x < 40; x++)
				bar[x] = '?';
		}
	}
	printf("%*s  phases: %s\n", ind, "", line);
	if (c && total)
		printf("%-56s %10s %10s  %-18s %s\n", "", "", "", "", bar);
}

/* ---- the packets of an exchange, from the captures that saw it ---- */

#define MAX_CAPS 4
#define MAX_ROWS 60

struct caps {
	uint64_t from, to; /* the exchange's time, with a margin */
	size_t n;
	char host[MAX_CAPS][64];
	struct ws_flowpkts f[MAX_CAPS];
};

static int collect_flow(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f)
{
	struct caps *c = ctx;

	(void)recording;
	if (f->last_ns < c->from || f->first_ns > c->to || c->n == MAX_CAPS)
		return 0;
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->host[i], host) == 0)
			return 0; /* one capture per host */
	ws_strlcpy(c->host[c->n], host, sizeof(c->host[0]));
	c->f[c->n] = *f;
	c->f[c->n].v = ws_malloc(((size_t)f->n + 1) * sizeof(*f->v));
	memcpy(c->f[c->n].v, f->v, (size_t)f->n * sizeof(*f->v));
	c->n++;
	return 0;
}

static bool in_range(uint32_t seq, uint32_t len, uint32_t base, uint64_t n)
{
	/* the segment [seq, seq+len) overlaps [base, base+n) */
	uint32_t off = seq - base;
	return n && (off < n || (len && (uint32_t)(base - seq) < len));
}

/* What a packet did for the exchange, or NULL when it is not part of it. */
static const char *packet_phase(const struct ws_pktrec *p, const struct ws_lspan *x)
{
	uint32_t req_end = x->req_seq + (uint32_t)x->req_bytes, resp_end = x->resp_seq + (uint32_t)x->resp_bytes;
	bool syn = p->flags & WS_TH_SYN;

	if (syn)
		return (p->dir == 0 ? p->seq + 1 == x->req_seq : p->ack == x->req_seq) ? "handshake" : NULL;
	if (p->len && p->dir == 0 && in_range(p->seq, p->len, x->req_seq, x->req_bytes))
		return "request";
	if (p->len && p->dir == 1 && in_range(p->seq, p->len, x->resp_seq, x->resp_bytes))
		return "response";
	if (p->flags & (WS_TH_FIN | WS_TH_RST))
		return NULL; /* decided by time, below */
	if (!p->len && p->dir == 1 && x->req_bytes && (int32_t)(p->ack - x->req_seq) > 0 &&
	    (int32_t)(p->ack - req_end) <= 0 && (int32_t)(p->seq - x->resp_seq) <= 0)
		return "req-ack";
	if (!p->len && p->dir == 0 && x->resp_bytes && (int32_t)(p->ack - x->resp_seq) > 0 &&
	    (int32_t)(p->ack - resp_end) <= 0)
		return "resp-ack";
	if (!p->len && p->dir == 0 && p->seq == x->req_seq && p->ack == x->resp_seq && (int32_t)(req_end - p->seq) > 0)
		return "handshake"; /* the third packet of the handshake */
	return NULL;
}

static void packet_notes(const struct ws_pktrow *r, const char *missing_at, char *out, size_t n)
{
	static const struct {
		uint16_t bit;
		const char *text;
	} notes[] = {
		{WS_TA_FAST_RETRANS, "fast retransmission"}, {WS_TA_SPURIOUS, "spurious retransmission"},
		{WS_TA_RETRANS, "retransmission"},           {WS_TA_OUT_OF_ORDER, "out of order"},
		{WS_TA_DUP_ACK, "dup ack"},                   {WS_TA_ZERO_WINDOW, "zero window"},
		{WS_TA_ZERO_WINDOW_PROBE, "zero-window probe"}, {WS_TA_KEEP_ALIVE, "keep-alive"},
		{WS_TA_WINDOW_UPDATE, "window update"},       {WS_TA_LOST_SEGMENT, "earlier segment not captured"},
	};
	size_t used = 0;
	uint16_t shown = 0;

	out[0] = 0;
	for (size_t i = 0; i < WS_ARRAY_SIZE(notes); i++) {
		if (!(r->analysis & notes[i].bit) || (shown & WS_TA_RETRANS && notes[i].bit == WS_TA_RETRANS))
			continue;
		shown |= notes[i].bit | (notes[i].bit & (WS_TA_FAST_RETRANS | WS_TA_SPURIOUS) ? WS_TA_RETRANS : 0);
		int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", notes[i].text);
		if (w < 0 || (size_t)w >= n - used)
			return;
		used += (size_t)w;
	}
	if (missing_at)
		snprintf(out + used, n - used, "%snever reached %s", used ? ", " : "", missing_at);
}

static const char *tcp_flags_str(uint8_t f, char *out)
{
	char *o = out;
	if (f & WS_TH_SYN)
		*o++ = 'S';
	if (f & WS_TH_FIN)
		*o++ = 'F';
	if (f & WS_TH_RST)
		*o++ = 'R';
	if (f & WS_TH_PSH)
		*o++ = 'P';
	if (f & WS_TH_ACK)
		*o++ = '.';
	if (o == out)
		*o++ = '-';
	*o = 0;
	return out;
}

static void print_row(const struct ws_pktrow *r, const char *phase, const struct ws_endpoint *ep, const char *missing)
{
	char fl[8], src[64], dst[64], a[48], sent[24], recv[24], delay[32], notes[160];
	const struct ws_endpoint *from = &ep[r->p.dir & 1], *to = &ep[!(r->p.dir & 1)];

	snprintf(src, sizeof(src), "%s:%u", ws_addr_str(from, a, sizeof(a)), from->port);
	snprintf(dst, sizeof(dst), "%s:%u", ws_addr_str(to, a, sizeof(a)), to->port);
	if (r->sent)
		ws_fmt_clock(r->sent, sent, sizeof(sent));
	else
		strcpy(sent, "-");
	if (r->recv)
		ws_fmt_clock(r->recv, recv, sizeof(recv));
	else
		strcpy(recv, "-");
	if (r->sent && r->recv) {
		ws_fmt_duration((uint64_t)(r->delay < 0 ? -r->delay : r->delay), delay + 1, sizeof(delay) - 1);
		delay[0] = r->delay < 0 ? '-' : ' ';
	} else {
		strcpy(delay, " -");
	}
	packet_notes(r, missing, notes, sizeof(notes));
	printf("      %-9s %-5s %-22s %-15s  %-22s %-15s %9s  %s%s%u\n", phase, tcp_flags_str(r->p.flags, fl), src, sent,
	       dst, recv, delay, notes, notes[0] ? "; " : "", r->p.len);
}

/* Under an exchange whose connection was read from captures: each of its
 * packets, where it was sent and received, and the one-way delay. */
static void explain_packets(const struct dbset *d, const struct ws_lspan *l, int ind)
{
	const struct ws_phases *ph = dbset_phases(d, l);
	const struct ws_lspan *c = ph->client >= 0 ? &d->set.v[ph->client] : NULL;
	const struct ws_lspan *s = ph->server >= 0 ? &d->set.v[ph->server] : NULL;
	const struct ws_lspan *x = c ? c : l;
	struct ws_endpoint ep[2];
	struct caps caps = {0};

	if (l->kind == WS_SPAN_SERVER && c)
		return; /* shown under the client span */
	ws_endpoint_set(&ep[0], AF_INET6, x->client.addr, x->client.port);
	ws_endpoint_set(&ep[1], AF_INET6, x->server.addr, x->server.port);
	caps.from = (c ? c->start : l->start) - 1000000000ull;
	caps.to = (s && s->end > x->end ? s->end : x->end) + 1000000000ull;
	for (size_t i = 0; i < d->n; i++)
		ws_flowpkts_each(d->st[i], &ep[0], &ep[1], collect_flow, &caps);
	if (!caps.n)
		return;
	/* capture a: the client's host when it was captured there */
	size_t ia = 0;
	for (size_t i = 0; i < caps.n; i++)
		if (c && strcmp(caps.host[i], c->host) == 0)
			ia = i;
	size_t ib = caps.n > 1 ? (ia == 0 ? 1 : 0) : SIZE_MAX;
	const struct ws_flowpkts *fa = &caps.f[ia], *fb = ib != SIZE_MAX ? &caps.f[ib] : NULL;
	/* stored directions start from each capture's client end (a guess when
	 * it saw no SYN): turn them to start from the spans' client */
	for (size_t k = 0; k < caps.n; k++)
		if (memcmp(&caps.f[k].client, &ep[0], sizeof(ep[0])) != 0)
			for (uint32_t i = 0; i < caps.f[k].n; i++)
				caps.f[k].v[i].dir ^= 1;
	int a_at_client = c && strcmp(caps.host[ia], c->host) == 0 ? 1 : s && strcmp(caps.host[ia], s->host) == 0 ? 0 : -1;
	struct ws_pktmatch m;
	ws_pktmatch(fa, fb, a_at_client, &m);

	char hdr[512], o[32], d0[32], d1[32], cs[48], ss[48];
	int n = snprintf(hdr, sizeof(hdr), "%*s  packets of %s:%u > %s:%u", ind, "", ws_addr_str(&ep[0], cs, sizeof(cs)),
			 ep[0].port, ws_addr_str(&ep[1], ss, sizeof(ss)), ep[1].port);
	if (fb && m.offset_known) {
		ws_fmt_duration((uint64_t)(m.offset_ns < 0 ? -m.offset_ns : m.offset_ns), o, sizeof(o));
		ws_fmt_duration((uint64_t)WS_MAX(m.min_delay[0], 0), d0, sizeof(d0));
		ws_fmt_duration((uint64_t)WS_MAX(m.min_delay[1], 0), d1, sizeof(d1));
		snprintf(hdr + n, sizeof(hdr) - (size_t)n,
			 ", captured at %s and %s; clock offset %s - %s: %s%s (%u packets in both; fastest one way "
			 "%s and %s)",
			 caps.host[ia], caps.host[ib], caps.host[ib], caps.host[ia], m.offset_ns < 0 ? "-" : "", o,
			 m.matched, d0, d1);
	} else if (fb) {
		snprintf(hdr + n, sizeof(hdr) - (size_t)n, ", captured at %s and %s; no packet seen by both", caps.host[ia],
			 caps.host[ib]);
	} else {
		snprintf(hdr + n, sizeof(hdr) - (size_t)n, ", captured at %s only", caps.host[ia]);
	}
	printf("%s:\n", hdr);
	printf("      %-9s %-5s %-22s %-15s  %-22s %-15s %9s  %s\n", "PHASE", "FLAGS", "SOURCE", "SENT AT",
	       "DESTINATION", "RECEIVED AT", "DELAY", "NOTES; BYTES");

	/* the exchange's packets, and closes and resets in its time */
	size_t *rows = ws_malloc((m.n + 1) * sizeof(*rows)), nr = 0;
	int64_t first = INT64_MAX, last = INT64_MIN;
	for (size_t i = 0; i < m.n; i++)
		if (packet_phase(&m.rows[i].p, x)) {
			first = WS_MIN(first, m.rows[i].at);
			last = WS_MAX(last, m.rows[i].at);
		}
	for (size_t i = 0; i < m.n; i++) {
		const struct ws_pktrow *r = &m.rows[i];
		if (packet_phase(&r->p, x) ||
		    ((r->p.flags & (WS_TH_FIN | WS_TH_RST)) && r->at >= first && r->at <= last + 1000000))
			rows[nr++] = i;
	}
	for (size_t k = 0; k < nr; k++) {
		if (nr > MAX_ROWS && k == MAX_ROWS / 2) {
			printf("      ... %zu more packets ...\n", nr - MAX_ROWS);
			k = nr - MAX_ROWS / 2;
		}
		const struct ws_pktrow *r = &m.rows[rows[k]];
		const char *phase = packet_phase(&r->p, x);
		if (!phase)
			phase = r->p.flags & WS_TH_RST ? "reset" : "close";
		/* a packet the sender's capture holds and the receiver's, running
		 * at the time, does not: lost on the way */
		const char *missing = NULL;
		if (fb && m.client_cap >= 0 && r->sent && !r->recv) {
			bool to_b = (r->p.dir == 0) == (m.client_cap == 0);
			const struct ws_flowpkts *rf = to_b ? fb : fa;
			int64_t t_other = r->at + (to_b ? m.offset_ns : 0);
			if (t_other >= (int64_t)rf->first_ns && t_other <= (int64_t)rf->last_ns)
				missing = to_b ? caps.host[ib] : caps.host[ia];
		}
		print_row(r, phase, ep, missing);
	}
	free(rows);
	ws_pktmatch_free(&m);
	for (size_t i = 0; i < caps.n; i++)
		free(caps.f[i].v);
}

/* The requests a call could have been made for, when the evidence did not
 * decide (or not with the confidence asked for). */
static void explain_undecided(const struct ws_lset *set, const struct ws_lspan *l, int ind)
{
	for (size_t k = 0; k < WS_ARRAY_SIZE(l->undecided) && l->undecided[k] >= 0; k++) {
		const struct ws_lspan *c = &set->v[l->undecided[k]];
		char tid[33];
		ws_hex(c->trace_id, 16, tid);
		printf("%*s  %s %s: %s (trace %.16s)%s\n", ind, "", k ? "     or" : "could be under", c->service,
		       c->name, tid, l->parent == l->undecided[k] ? ", as linked" : "");
	}
}

static void explain_node(const struct dbset *d, const struct node *nodes, int32_t n, int depth, uint64_t t0,
			 uint64_t total)
{
	const struct ws_lset *set = &d->set;

	for (; n >= 0; n = nodes[n].next_sibling) {
		const struct ws_lspan *l = &set->v[nodes[n].idx];
		char label[160], off[32], dur[32], link[40], bar[41];
		int ind = WS_MIN(depth, 12) * 2;

		snprintf(label, sizeof(label), "%*s%s %s: %s", ind, "", ws_span_kind_name(l->kind), l->service, l->name);
		ws_fmt_duration(l->start - t0, off, sizeof(off));
		ws_fmt_duration(l->end - l->start, dur, sizeof(dur));
		if (l->method)
			snprintf(link, sizeof(link), "%s %.2g", ws_link_method_name(l->method), l->confidence);
		else if (l->candidates)
			snprintf(link, sizeof(link), "none (%u in flight)", l->candidates);
		else
			snprintf(link, sizeof(link), "root");
		draw_bar(bar, 40, t0, total, l->start, l->end);
		char pid[24] = " (capture)"; /* a capture file knows no process */
		if (l->pid)
			snprintf(pid, sizeof(pid), " pid %u", l->pid);
		printf("%-56.56s %10s %10s  %-18s %s  %s%s%s\n", label, off, dur, link, bar, l->host, pid,
		       l->error ? "  ERROR" : "");
		explain_undecided(set, l, ind);
		explain_phases(d, l, ind, t0, total);
		explain_packets(d, l, ind);
		explain_node(d, nodes, nodes[n].first_child, depth + 1, t0, total);
	}
}

static void usage_explain(FILE *f)
{
	fprintf(f, "usage: wirespan explain [--db FILE]... [--no-traceparent] [--min-confidence X] TRACE_ID\n"
		   "\n"
		   "Draw one trace as a waterfall: each span under its parent, with service, operation,\n"
		   "start offset, duration, how its parent link was inferred and with what confidence;\n"
		   "under each exchange, where its time went (connect, accept queue, send, in flight,\n"
		   "socket queues, server processing with its scheduler delays, retransmissions), and\n"
		   "a last line naming the largest cause.\n"
		   "A call whose parent the evidence could not decide (or, with --min-confidence X, not\n"
		   "with confidence X) is a root, with the requests it could belong to listed under it.\n"
		   "TRACE_ID may be shortened to a unique prefix of at least 8 hex digits.\n");
}

int cmd_explain(int argc, char **argv)
{
	struct dbset d = {0};
	struct ws_link_opts lo = {0};
	const struct cli_opt opts[] = {
		CLI_DBS(d.path, &d.n),
		DBSET_LINK_OPTS(&lo),
		{0},
	};
	const struct cli_cmd cmd = {.name = "explain", .usage = usage_explain, .opts = opts, .nargs = 1,
				    .args_what = "one trace id (see `wirespan traces`)"};
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	const char *want = argv[argc - 1];
	size_t wl = strlen(want);
	if (wl < 8 || !ws_is_hex(want, 32)) {
		ws_err("'%s' is not a trace id: 8 to 32 hex digits, as printed by `wirespan traces`", want);
		return 2;
	}
	if ((rc = dbset_open(&d, &lo))) {
		dbset_close(&d);
		return rc;
	}

	int32_t *order;
	size_t nt;
	struct trace *t = group_traces(&d.set, &order, &nt), *found = NULL;
	unsigned matches = 0;
	for (size_t i = 0; i < nt; i++) {
		char id[33];
		ws_hex(t[i].id, 16, id);
		if (strncasecmp(id, want, wl) == 0) {
			found = &t[i];
			matches++;
		}
	}
	/* An id shown before names the trace its top span led then: a span
	 * that has since gained a parent (its caller's span was recorded
	 * later, or another database was added) leads no trace of its own
	 * now, but its old id still finds the trace it is in. */
	if (!matches) {
		const uint8_t *via = NULL;
		for (size_t i = 0; i < d.set.n; i++) {
			const struct ws_lspan *l = &d.set.v[i];
			uint8_t old[16];
			char id[33];
			if (!l->kind || l->parent < 0)
				continue;
			ws_root_trace_id(l->span_id, old);
			ws_hex(old, 16, id);
			if (strncasecmp(id, want, wl) == 0 && (!via || memcmp(via, l->trace_id, 16) != 0)) {
				via = l->trace_id;
				matches++;
			}
		}
		for (size_t i = 0; via && matches == 1 && i < nt; i++)
			if (memcmp(t[i].id, via, 16) == 0)
				found = &t[i];
		if (found) {
			char now[33];
			ws_hex(found->id, 16, now);
			fprintf(stderr, "wirespan: trace %s grew: its first span now has a caller; it is part of trace %s\n",
				want, now);
		}
	}
	rc = 0;
	if (!found) {
		ws_err("no trace %s in %s%s", want, d.path[0], d.n > 1 ? " and the other databases" : "");
		rc = 1;
	} else if (matches > 1) {
		ws_err("%u traces start with %s: give more digits", matches, want);
		rc = 2;
	} else {
		struct node *nodes = ws_malloc(found->n * sizeof(*nodes));
		struct ws_hashmap pos; /* span index -> node + 1 */
		int32_t roots = -1;
		char id[33], dur[32];

		ws_hashmap_init(&pos);
		for (size_t k = 0; k < found->n; k++) {
			nodes[k] = (struct node){order[found->first + k], -1, -1};
			ws_hashmap_put(&pos, (uint64_t)nodes[k].idx + 1, (void *)(uintptr_t)(k + 1));
		}
		/* children in start order: walk backwards, pushing to the front */
		for (size_t k = found->n; k-- > 0;) {
			const struct ws_lspan *l = &d.set.v[nodes[k].idx];
			uintptr_t p = l->parent >= 0 ? (uintptr_t)ws_hashmap_get(&pos, (uint64_t)l->parent + 1) : 0;
			if (p) {
				nodes[k].next_sibling = nodes[p - 1].first_child;
				nodes[p - 1].first_child = (int32_t)k;
			} else {
				nodes[k].next_sibling = roots;
				roots = (int32_t)k;
			}
		}
		ws_hex(found->id, 16, id);
		ws_fmt_duration(found->end - found->start, dur, sizeof(dur));
		printf("trace %s: %zu spans, %u services, %s%s\n\n", id, found->n, found->services, dur,
		       found->errors ? ", with errors" : "");
		printf("%-56s %10s %10s  %-18s %-40s  %s\n", "SPAN", "START", "DURATION", "LINK", "WATERFALL", "WHERE");
		explain_node(&d, nodes, roots, 0, found->start, found->end - found->start);
		int32_t *idx = ws_malloc(found->n * sizeof(*idx));
		char verdict[512];
		for (size_t k = 0; k < found->n; k++)
			idx[k] = nodes[k].idx;
		ws_phases_verdict(&d.set, &d.ph, idx, found->n, found->end - found->start, verdict, sizeof(verdict));
		free(idx);
		for (size_t k = 0; k < d.ph.nclocks; k++) {
			const struct ws_clock *ck = &d.ph.clocks[k];
			char o[32], dl[32];
			ws_fmt_duration((uint64_t)(ck->offset_ns < 0 ? -ck->offset_ns : ck->offset_ns), o, sizeof(o));
			ws_fmt_duration((uint64_t)ck->delay_ns, dl, sizeof(dl));
			if (ck->shared) {
				printf("\nclock: %s and %s share one clock (one machine: the same boot id)",
				       ck->client_host, ck->server_host);
				continue;
			}
			printf("\nclock: %s is %s %s %s (from %u exchanges seen by both, best round-trip slack %s)",
			       ck->server_host, o, ck->offset_ns < 0 ? "behind" : "ahead of", ck->client_host, ck->samples,
			       dl);
		}
		printf("%s\nverdict: %s\n", d.ph.nclocks ? "\n" : "", verdict);
		ws_hashmap_free(&pos);
		free(nodes);
	}
	free(t);
	free(order);
	dbset_close(&d);
	return rc;
}
