/* link.c -- see link.h. */
#include "trace/link.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static const struct {
	const char *name;
	float confidence;
} methods[] = {
	[WS_LINK_NONE] = {"", 0},
	[WS_LINK_TCP] = {"tcp", 1.0f},
	[WS_LINK_TRACEPARENT] = {"traceparent", 1.0f},
	[WS_LINK_THREAD] = {"thread", 1.0f},
	[WS_LINK_LAST_READ] = {"last-read", 0.9f},
	[WS_LINK_READ_ORDER] = {"read-order", 0.8f},
	[WS_LINK_EARLIER_READ] = {"earlier-read", 0.6f},
	[WS_LINK_INFLIGHT] = {"inflight", 0.7f},
};

const char *ws_link_method_name(int m)
{
	return m >= 0 && m < (int)WS_ARRAY_SIZE(methods) ? methods[m].name : "";
}

float ws_link_method_confidence(int m)
{
	return m >= 0 && m < (int)WS_ARRAY_SIZE(methods) ? methods[m].confidence : 0;
}

/* ---- the set ---- */

#define BLOCK_SIZE (64 * 1024)

void ws_lset_init(struct ws_lset *set)
{
	memset(set, 0, sizeof(*set));
	ws_hashmap_init(&set->strings);
}

void ws_lset_free(struct ws_lset *set)
{
	for (size_t i = 0; i < set->nblocks; i++)
		free(set->blocks[i]);
	free(set->blocks);
	free(set->v);
	ws_hashmap_free(&set->strings);
	memset(set, 0, sizeof(*set));
}

static const char *store_str(struct ws_lset *set, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (n > BLOCK_SIZE)
		n = BLOCK_SIZE;
	if (!set->nblocks || set->block_used + n > BLOCK_SIZE) {
		set->blocks = ws_realloc(set->blocks, (set->nblocks + 1) * sizeof(*set->blocks));
		set->blocks[set->nblocks++] = ws_malloc(BLOCK_SIZE);
		set->block_used = 0;
	}
	p = set->blocks[set->nblocks - 1] + set->block_used;
	memcpy(p, s, n - 1);
	p[n - 1] = 0;
	set->block_used += n;
	return p;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	return h | 1;
}

/* Host and service names repeat: keep one copy of each, so that equal
 * names are equal pointers. Colliding hashes probe the next keys. */
static const char *intern(struct ws_lset *set, const char *s)
{
	uint64_t h = hash_str(s);
	const char *p;

	while ((p = ws_hashmap_get(&set->strings, h)) && strcmp(p, s) != 0)
		h = (h + 2) | 1;
	if (!p) {
		p = store_str(set, s);
		ws_hashmap_put(&set->strings, h, (void *)p);
	}
	return p;
}

static void lep_set(struct ws_lep *e, const struct ws_endpoint *ep)
{
	memset(e, 0, sizeof(*e));
	if (ep->family == AF_INET) {
		e->addr[10] = e->addr[11] = 0xff;
		memcpy(e->addr + 12, ep->addr, 4);
	} else if (ep->family == AF_INET6) {
		memcpy(e->addr, ep->addr, 16);
	}
	e->port = ep->port;
}

static bool all_zero(const uint8_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* n bytes of hex at p, which may go on with other text */
static int hex_field(const char *p, uint8_t *out, size_t n)
{
	char buf[40];

	memcpy(buf, p, 2 * n);
	buf[2 * n] = 0;
	return ws_unhex(buf, out, n);
}

bool ws_traceparent_parse(const char *tp, uint8_t trace[16], uint64_t *parent)
{
	uint8_t ver, p[8];

	/* version "-" trace-id "-" parent-id "-" flags; a future version may
	 * append fields, version ff is invalid */
	if (strlen(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
	    hex_field(tp, &ver, 1) || ver == 0xff || hex_field(tp + 3, trace, 16) || hex_field(tp + 36, p, 8))
		return false;
	if (all_zero(trace, 16) || all_zero(p, 8))
		return false;
	*parent = ws_be64_get(p);
	return true;
}

struct ws_lspan *ws_lset_add(struct ws_lset *set, const struct ws_span *s, uint16_t db)
{
	struct ws_lspan *l;
	const struct ws_endpoint *client = s->kind == WS_SPAN_CLIENT ? &s->local : &s->peer;
	const struct ws_endpoint *server = s->kind == WS_SPAN_CLIENT ? &s->peer : &s->local;

	if (set->n == set->cap) {
		set->cap = set->cap ? set->cap * 2 : 1024;
		set->v = ws_realloc(set->v, set->cap * sizeof(*set->v));
	}
	l = &set->v[set->n++];
	memset(l, 0, sizeof(*l));
	l->span_id = ws_be64_get(s->span_id);
	l->kind = s->kind;
	l->db = db;
	l->host = intern(set, s->host);
	l->service = intern(set, s->service);
	if (s->proto == WS_PROTO_REDIS && s->target[0]) {
		char name[sizeof(s->name) + 130];
		snprintf(name, sizeof(name), "%s %.128s", s->name, s->target);
		l->name = store_str(set, name);
	} else {
		l->name = store_str(set, s->name);
	}
	l->pid = s->pid;
	l->tid = s->tid;
	l->req_last_tid = s->req_last_tid ? s->req_last_tid : s->tid;
	l->resp_last_tid = s->resp_last_tid ? s->resp_last_tid : s->tid;
	l->recording_id = s->recording_id;
	l->conn_id = s->conn_id;
	lep_set(&l->client, client);
	lep_set(&l->server, server);
	l->req_seq = s->req_seq;
	l->start = s->start_ns;
	l->end = s->end_ns;
	memcpy(l->req_t, s->req_t, sizeof(l->req_t));
	memcpy(l->resp_t, s->resp_t, sizeof(l->resp_t));
	l->conn_open = s->conn_open_ns;
	l->resp_seq = s->resp_seq;
	l->req_bytes = s->req_bytes;
	l->resp_bytes = s->resp_bytes;
	memcpy(l->req_arr, s->req_arr, sizeof(l->req_arr));
	memcpy(l->resp_arr, s->resp_arr, sizeof(l->resp_arr));
	l->sched_runq = s->sched_runq;
	l->sched_offcpu = s->sched_offcpu;
	l->conn_estab = s->conn_estab_ns;
	l->srtt_us = s->srtt_us;
	if (s->traceparent[0])
		l->has_tp = ws_traceparent_parse(s->traceparent, l->tp_trace, &l->tp_parent);
	l->error = s->error[0] != 0;
	l->parent = -1;
	return l;
}

void ws_lspan_apply(const struct ws_lset *set, const struct ws_lspan *l, struct ws_span *s)
{
	memcpy(s->trace_id, l->trace_id, 16);
	memset(s->parent_id, 0, sizeof(s->parent_id));
	if (l->parent >= 0)
		ws_be64_put(s->parent_id, set->v[l->parent].span_id);
	else if (l->ext_parent)
		ws_be64_put(s->parent_id, l->ext_parent);
	ws_strlcpy(s->link_method, ws_link_method_name(l->method), sizeof(s->link_method));
	s->link_confidence = l->method ? l->confidence : 0;
	s->link_candidates = l->candidates;
}

/* ---- linking ---- */

static void set_link(struct ws_lspan *l, int32_t parent, int method)
{
	l->parent = parent;
	l->method = (uint8_t)method;
	l->confidence = ws_link_method_confidence(method);
}

static uint64_t exchange_key(const struct ws_lspan *l)
{
	uint64_t h = 0x9e3779b97f4a7c15ull;
	uint64_t w[5];

	memcpy(&w[0], l->client.addr, 8);
	memcpy(&w[1], l->client.addr + 8, 8);
	memcpy(&w[2], l->server.addr, 8);
	memcpy(&w[3], l->server.addr + 8, 8);
	w[4] = (uint64_t)l->client.port << 48 | (uint64_t)l->server.port << 32 | l->req_seq;
	for (int i = 0; i < 5; i++)
		h = ws_mix64(h ^ w[i]);
	return h | 1;
}

static bool same_exchange(const struct ws_lspan *a, const struct ws_lspan *b)
{
	return a->req_seq == b->req_seq && a->client.port == b->client.port && a->server.port == b->server.port &&
	       memcmp(a->client.addr, b->client.addr, 16) == 0 && memcmp(a->server.addr, b->server.addr, 16) == 0;
}

/* Drop repeated span ids (the same database given twice). */
static void dedupe(struct ws_lset *set)
{
	struct ws_hashmap seen;

	ws_hashmap_init(&seen);
	for (size_t i = 0; i < set->n; i++) {
		uint64_t k = set->v[i].span_id ? set->v[i].span_id : 1;
		if (ws_hashmap_get(&seen, k))
			set->v[i].kind = 0;
		else
			ws_hashmap_put(&seen, k, &set->v[i]);
	}
	ws_hashmap_free(&seen);
}

/* Each server span's parent is the client span of the same exchange. */
static void link_across_connections(struct ws_lset *set)
{
	struct ws_hashmap clients;

	ws_hashmap_init(&clients);
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].kind == WS_SPAN_CLIENT) {
			uint64_t k = exchange_key(&set->v[i]);
			if (!ws_hashmap_get(&clients, k))
				ws_hashmap_put(&clients, k, (void *)(uintptr_t)(i + 1));
		}
	for (size_t i = 0; i < set->n; i++) {
		struct ws_lspan *s = &set->v[i];
		if (s->kind != WS_SPAN_SERVER)
			continue;
		uintptr_t c = (uintptr_t)ws_hashmap_get(&clients, exchange_key(s));
		if (c && same_exchange(&set->v[c - 1], s))
			set_link(s, (int32_t)(c - 1), WS_LINK_TCP);
	}
	ws_hashmap_free(&clients);
}

static int cmp_by_read(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];

	if (x->req_t[WS_T_LAST_EXIT] != y->req_t[WS_T_LAST_EXIT])
		return x->req_t[WS_T_LAST_EXIT] < y->req_t[WS_T_LAST_EXIT] ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

/* Inside one process: replay what each thread did, in time order.
 *
 * Every span gives the thread that served or called two events: the read
 * that completed a message (a request read by a server, a response read
 * by a client) and a write (a client's request; a server's response). A
 * completed read makes a context ready on its thread: the server span it
 * belongs to (for a response, the server span its call was made for). The
 * next writes on that thread are what the context caused. On an event loop
 * one read may complete several messages (replies to calls of different
 * requests on one Redis connection): their continuations then run in the
 * order of the replies, so the writes that follow are handed the contexts
 * of that read in order, and a response written for a context uses it up. */
enum { EV_READ, EV_WRITE_RESPONSE, EV_WRITE_REQUEST };

struct tev {
	uint64_t t;
	uint32_t tid;
	uint8_t kind;
	int32_t idx;
};

static int cmp_tev(const void *a, const void *b)
{
	const struct tev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->tid != y->tid)
		return x->tid < y->tid ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

#define READY_MAX 64

/* What one thread has read and not yet acted on, newest read first. */
struct thread_state {
	int32_t ctx[READY_MAX]; /* server span index, -1: a call of no request */
	size_t n;
	uint64_t last_read_t;
	size_t head_n;  /* contexts of the newest read still ready */
	size_t head_total; /* contexts the newest read made ready */
};

struct proc_ctx {
	struct ws_lset *set;
	const struct ws_link_opts *opts;
	struct ws_hashmap first_on_conn; /* conn -> index+1 of its earliest client span */
	struct ws_hashmap threads;       /* tid -> struct thread_state */
};

static uint64_t conn_key(const struct ws_lspan *l)
{
	return ws_mix64(ws_mix64((uint64_t)l->db << 48 ^ (uint64_t)l->recording_id) ^ l->conn_id) | 1;
}

static uint64_t write_time(const struct ws_lspan *c) { return c->req_t[WS_T_FIRST_ENTER] ? c->req_t[WS_T_FIRST_ENTER] : c->start; }

/* When the thread decided to make the call: the write, or for the first
 * request on a connection opened for it, the connect() (the write may
 * wait for the handshake while the thread serves others). */
static uint64_t call_time(struct proc_ctx *pc, int32_t ci)
{
	const struct ws_lspan *c = &pc->set->v[ci];
	uint64_t w = write_time(c);
	uintptr_t first = (uintptr_t)ws_hashmap_get(&pc->first_on_conn, conn_key(c));

	if (first == (uintptr_t)ci + 1 && c->conn_open && c->conn_open <= w)
		return c->conn_open;
	return w;
}

/* The server span a completed read stands for (-1: none). */
static int32_t read_context(const struct ws_lset *set, int32_t idx)
{
	const struct ws_lspan *l = &set->v[idx];

	if (l->kind == WS_SPAN_SERVER)
		return idx;
	if (l->parent >= 0 && set->v[l->parent].kind == WS_SPAN_SERVER)
		return l->parent;
	return -1;
}

static struct thread_state *thread_of(struct proc_ctx *pc, uint32_t tid)
{
	uint64_t k = (uint64_t)tid + 1;
	struct thread_state *ts = ws_hashmap_get(&pc->threads, k);

	if (!ts) {
		ts = ws_calloc(1, sizeof(*ts));
		ws_hashmap_put(&pc->threads, k, ts);
	}
	return ts;
}

static void ready_remove(struct thread_state *ts, size_t i)
{
	if (i < ts->head_n)
		ts->head_n--;
	memmove(&ts->ctx[i], &ts->ctx[i + 1], (ts->n - i - 1) * sizeof(ts->ctx[0]));
	ts->n--;
}

static void on_read(struct proc_ctx *pc, const struct tev *e)
{
	struct thread_state *ts = thread_of(pc, e->tid);
	int32_t ctx = read_context(pc->set, e->idx);

	if (e->t != ts->last_read_t || !ts->n) { /* a new read syscall */
		ts->head_n = ts->head_total = 0;
		ts->last_read_t = e->t;
	}
	for (size_t i = 0; i < ts->head_n; i++)
		if (ts->ctx[i] == ctx)
			return; /* two calls of one request answered at once: one continuation */
	if (ts->n == READY_MAX) {
		if (ts->head_n == ts->n)
			return; /* one read completed more than we keep */
		ts->n--; /* forget the oldest */
	}
	/* insert at the end of the newest batch, ahead of older reads */
	memmove(&ts->ctx[ts->head_n + 1], &ts->ctx[ts->head_n], (ts->n - ts->head_n) * sizeof(ts->ctx[0]));
	ts->ctx[ts->head_n] = ctx;
	ts->head_n++;
	ts->head_total++;
	ts->n++;
}

static void on_response_write(struct proc_ctx *pc, const struct tev *e)
{
	struct thread_state *ts = thread_of(pc, e->tid);

	for (size_t i = 0; i < ts->n; i++)
		if (ts->ctx[i] == e->idx) { /* the request is answered: its context is used up */
			ready_remove(ts, i);
			return;
		}
}

static bool in_set(const int32_t *k, size_t n, int32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (k[i] == x)
			return true;
	return false;
}

static void on_request_write(struct proc_ctx *pc, const struct tev *e, const int32_t *cand, size_t ncand)
{
	struct ws_lset *set = pc->set;
	int32_t ci = e->idx;
	struct ws_lspan *c = &set->v[ci];
	int32_t k[256], kt = -1;
	size_t nk = 0, nkt = 0;

	for (size_t i = 0; i < ncand && nk < WS_ARRAY_SIZE(k); i++) {
		const struct ws_lspan *s = &set->v[cand[i]];
		if (s->req_t[WS_T_LAST_EXIT] > e->t)
			continue; /* its request was not yet read */
		if (!pc->opts->no_traceparent && c->has_tp && s->has_tp && memcmp(c->tp_trace, s->tp_trace, 16) != 0)
			continue; /* the application says: another trace */
		k[nk++] = cand[i];
	}
	c->candidates = (uint16_t)WS_MIN(nk, 65535);
	if (!nk)
		return;

	/* the application propagated the trace id it received */
	if (!pc->opts->no_traceparent && c->has_tp) {
		int32_t match = -1;
		size_t nmatch = 0;
		for (size_t i = 0; i < nk; i++)
			if (set->v[k[i]].has_tp) {
				match = k[i];
				nmatch++;
			}
		if (nmatch == 1) {
			set_link(c, match, WS_LINK_TRACEPARENT);
			return;
		}
	}

	/* thread-per-request: the writing thread serves exactly one request */
	for (size_t i = 0; i < nk; i++) {
		const struct ws_lspan *s = &set->v[k[i]];
		if (s->req_last_tid == c->tid || s->tid == c->tid) {
			kt = k[i];
			nkt++;
		}
	}
	if (nkt == 1) {
		set_link(c, kt, WS_LINK_THREAD);
		return;
	}

	/* an event loop: what did this thread read last? */
	struct thread_state *ts = thread_of(pc, e->tid);
	for (size_t i = 0; i < ts->n; i++) {
		int32_t ctx = ts->ctx[i];
		bool newest = i < ts->head_n;
		if (ctx < 0) {
			if (newest && ts->head_total == 1)
				return; /* a reply to a call that belonged to no request */
			continue;
		}
		if (!in_set(k, nk, ctx))
			continue;
		if (!newest) {
			set_link(c, ctx, WS_LINK_EARLIER_READ);
		} else if (ts->head_total == 1) {
			set_link(c, ctx, WS_LINK_LAST_READ); /* may cause several calls */
		} else {
			set_link(c, ctx, WS_LINK_READ_ORDER); /* one continuation each */
			ready_remove(ts, i);
		}
		return;
	}
	if (nk == 1)
		set_link(c, k[0], WS_LINK_INFLIGHT);
}

/* Link the client spans of one process; idx holds its spans. */
static void link_process(struct proc_ctx *pc, int32_t *idx, size_t n)
{
	struct ws_lset *set = pc->set;
	struct tev *ev = ws_malloc((3 * n + 1) * sizeof(*ev));
	int32_t *servers = ws_malloc((n + 1) * sizeof(*servers)), *active = ws_malloc((n + 1) * sizeof(*active));
	size_t nev = 0, ns = 0, nactive = 0;
	uint64_t k;
	void *v;

	for (size_t i = 0; i < n; i++) {
		const struct ws_lspan *l = &set->v[idx[i]];
		if (l->kind == WS_SPAN_CLIENT) {
			uint64_t ck = conn_key(l);
			uintptr_t f = (uintptr_t)ws_hashmap_get(&pc->first_on_conn, ck);
			if (!f || write_time(&set->v[f - 1]) > write_time(l))
				ws_hashmap_put(&pc->first_on_conn, ck, (void *)(uintptr_t)(idx[i] + 1));
		} else {
			servers[ns++] = idx[i];
		}
	}
	if (!ns) /* nothing served here: every call is a root */
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct ws_lspan *l = &set->v[idx[i]];
		if (l->kind == WS_SPAN_SERVER) {
			ev[nev++] = (struct tev){l->req_t[WS_T_LAST_EXIT], l->req_last_tid, EV_READ, idx[i]};
			ev[nev++] = (struct tev){l->resp_t[WS_T_FIRST_ENTER], l->resp_last_tid, EV_WRITE_RESPONSE, idx[i]};
		} else {
			ev[nev++] = (struct tev){call_time(pc, idx[i]), l->tid, EV_WRITE_REQUEST, idx[i]};
			ev[nev++] = (struct tev){l->resp_t[WS_T_LAST_EXIT], l->resp_last_tid, EV_READ, idx[i]};
		}
	}
	qsort(ev, nev, sizeof(*ev), cmp_tev);
	/* server spans in flight: their request read, their response not
	 * yet written in full (kept by the time the request was read) */
	qsort_r(servers, ns, sizeof(*servers), cmp_by_read, set);
	size_t next = 0;
	for (size_t i = 0; i < nev; i++) {
		const struct tev *e = &ev[i];
		if (e->kind == EV_READ) {
			on_read(pc, e);
		} else if (e->kind == EV_WRITE_RESPONSE) {
			on_response_write(pc, e);
		} else {
			while (next < ns && set->v[servers[next]].req_t[WS_T_LAST_EXIT] <= e->t)
				active[nactive++] = servers[next++];
			for (size_t a = 0; a < nactive;) {
				if (set->v[active[a]].end < e->t)
					active[a] = active[--nactive];
				else
					a++;
			}
			on_request_write(pc, e, active, nactive);
		}
	}
out:
	for (size_t i = 0; ws_hashmap_next(&pc->threads, &i, &k, &v);)
		free(v);
	ws_hashmap_free(&pc->threads);
	ws_hashmap_init(&pc->threads);
	free(ev);
	free(servers);
	free(active);
}

static int cmp_proc(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];
	int r = strcmp(x->host, y->host);

	if (r)
		return r;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static void link_inside_processes(struct ws_lset *set, const struct ws_link_opts *opts)
{
	int32_t *idx = ws_malloc((set->n + 1) * sizeof(*idx));
	struct proc_ctx pc = {.set = set, .opts = opts};
	size_t n = 0;

	ws_hashmap_init(&pc.first_on_conn);
	ws_hashmap_init(&pc.threads);
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].kind && set->v[i].pid)
			idx[n++] = (int32_t)i;
	qsort_r(idx, n, sizeof(*idx), cmp_proc, set);
	for (size_t i = 0, j; i < n; i = j) {
		const struct ws_lspan *a = &set->v[idx[i]];
		for (j = i + 1; j < n; j++) {
			const struct ws_lspan *b = &set->v[idx[j]];
			if (b->pid != a->pid || b->host != a->host)
				break;
		}
		link_process(&pc, idx + i, j - i);
	}
	ws_hashmap_free(&pc.first_on_conn);
	ws_hashmap_free(&pc.threads);
	free(idx);
}

/* Order spans parents first; break any cycle (inconsistent input). */
static int32_t *parents_first(struct ws_lset *set)
{
	int32_t *depth = ws_calloc(set->n + 1, sizeof(*depth)); /* 0 unknown, -1 on the walk, else depth */
	int32_t *stack = ws_malloc((set->n + 1) * sizeof(*stack));
	int32_t *order = ws_malloc((set->n + 1) * sizeof(*order));
	size_t *count;
	int32_t maxd = 1;

	for (size_t i = 0; i < set->n; i++) {
		size_t sp = 0;
		int32_t x = (int32_t)i;
		while (depth[x] == 0) {
			depth[x] = -1;
			stack[sp++] = x;
			int32_t p = set->v[x].parent;
			if (p < 0)
				break;
			if (depth[p] == -1) { /* a cycle: cut it here */
				set_link(&set->v[x], -1, WS_LINK_NONE);
				break;
			}
			x = p;
		}
		while (sp) {
			int32_t y = stack[--sp], p = set->v[y].parent;
			depth[y] = p >= 0 ? depth[p] + 1 : 1;
			maxd = WS_MAX(maxd, depth[y]);
		}
	}
	count = ws_calloc((size_t)maxd + 2, sizeof(*count));
	for (size_t i = 0; i < set->n; i++)
		count[depth[i] + 1]++;
	for (int32_t d = 1; d <= maxd + 1; d++)
		count[d] += count[d - 1];
	for (size_t i = 0; i < set->n; i++)
		order[count[depth[i]]++] = (int32_t)i;
	free(count);
	free(depth);
	free(stack);
	return order;
}

static void cut(struct ws_lspan *l)
{
	set_link(l, -1, WS_LINK_NONE);
	if (l->kind == WS_SPAN_SERVER && l->has_tp) {
		l->ext_parent = l->tp_parent;
		l->method = WS_LINK_TRACEPARENT;
		l->confidence = 1.0f;
	}
}

/* Trace ids: a tree whose spans carried a traceparent takes its trace id;
 * other trees get an id made from their root span's id, so the same tree
 * gets the same id whichever databases it was assembled from. Where the
 * application's trace ids disagree, the tree is cut at the span where its
 * trace changes: the evidence says these are different traces. */
static void assign_traces(struct ws_lset *set, bool use_tp)
{
	int32_t *order = parents_first(set);
	int32_t *root = ws_malloc((set->n + 1) * sizeof(*root));
	int32_t *eff = ws_malloc((set->n + 1) * sizeof(*eff)); /* span whose traceparent applies, -1 none */
	int32_t *tree = ws_malloc((set->n + 1) * sizeof(*tree)); /* per root: the trace's traceparent span */

	for (size_t o = 0; o < set->n; o++) {
		int32_t i = order[o];
		struct ws_lspan *l = &set->v[i];
		int32_t p = l->parent;
		bool tp = use_tp && l->has_tp;
		if (tp && p >= 0 && eff[p] >= 0 && memcmp(set->v[eff[p]].tp_trace, l->tp_trace, 16) != 0) {
			cut(l);
			p = -1;
		}
		eff[i] = tp ? i : p >= 0 ? eff[p] : -1;
		root[i] = p >= 0 ? root[p] : i;
		tree[i] = -1;
	}
	/* a tree with no traceparent at its top may hold branches of
	 * different application traces: the shallowest decides, the others
	 * are cut off as traces of their own */
	for (size_t o = 0; o < set->n; o++) {
		int32_t i = order[o], p = set->v[i].parent;
		if (p >= 0)
			root[i] = root[p];
		if (eff[i] < 0)
			continue;
		int32_t r = root[i];
		if (tree[r] < 0)
			tree[r] = eff[i];
		else if (memcmp(set->v[tree[r]].tp_trace, set->v[eff[i]].tp_trace, 16) != 0) {
			cut(&set->v[i]);
			root[i] = i;
			tree[i] = eff[i];
		}
	}
	for (size_t o = 0; o < set->n; o++) {
		int32_t i = order[o], r = root[i];
		struct ws_lspan *l = &set->v[i];
		if (tree[r] >= 0) {
			memcpy(l->trace_id, set->v[tree[r]].tp_trace, 16);
		} else {
			uint64_t id = set->v[r].span_id;
			ws_be64_put(l->trace_id, ws_mix64(id) | 1); /* prefixes differ: ids can be shortened */
			ws_be64_put(l->trace_id + 8, id);
		}
	}
	free(order);
	free(root);
	free(eff);
	free(tree);
}

void ws_link(struct ws_lset *set, const struct ws_link_opts *opts)
{
	static const struct ws_link_opts defaults;

	if (!opts)
		opts = &defaults;
	for (size_t i = 0; i < set->n; i++) {
		struct ws_lspan *l = &set->v[i];
		l->parent = -1;
		l->ext_parent = 0;
		l->method = WS_LINK_NONE;
		l->confidence = 0;
		l->candidates = 0;
	}
	dedupe(set);
	link_across_connections(set);
	for (size_t i = 0; i < set->n; i++) {
		struct ws_lspan *l = &set->v[i];
		if (l->kind == WS_SPAN_SERVER && l->parent < 0 && l->has_tp && !opts->no_traceparent) {
			l->ext_parent = l->tp_parent;
			l->method = WS_LINK_TRACEPARENT;
			l->confidence = 1.0f;
		}
	}
	link_inside_processes(set, opts);
	assign_traces(set, !opts->no_traceparent);
}
