/* phases.c -- see phases.h. */
#include "trace/phases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/util.h"

static const struct {
	const char *name, *label;
} phase_info[WS_PH_N] = {
	[WS_PH_CONNECT] = {"connect", "connect"},
	[WS_PH_ACCEPT_QUEUE] = {"accept_queue", "accept queue"},
	[WS_PH_REQ_SEND] = {"request_send", "request send"},
	[WS_PH_REQ_HOLD] = {"request_held", "request held by the client's TCP"},
	[WS_PH_REQ_FLIGHT] = {"request_in_flight", "request in flight"},
	[WS_PH_SRV_QUEUE] = {"server_queue", "server socket queue"},
	[WS_PH_SRV_PROC] = {"server_processing", "server processing"},
	[WS_PH_RESP_SEND] = {"response_send", "response send"},
	[WS_PH_RESP_HOLD] = {"response_held", "response held by the server's TCP"},
	[WS_PH_RESP_FLIGHT] = {"response_in_flight", "response in flight"},
	[WS_PH_CLI_QUEUE] = {"client_queue", "client socket queue"},
	[WS_PH_SRV_AND_NET] = {"server_and_network", "server and network"},
};

const char *ws_phase_name(int ph) { return ph >= 0 && ph < WS_PH_N ? phase_info[ph].name : ""; }
const char *ws_phase_label(int ph) { return ph >= 0 && ph < WS_PH_N ? phase_info[ph].label : ""; }

void ws_tcpevs_add(struct ws_tcpevs *e, const struct ws_tcpev *ev)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 256;
		e->v = ws_realloc(e->v, e->cap * sizeof(*e->v));
	}
	e->v[e->n++] = *ev;
}

void ws_tcpevs_free(struct ws_tcpevs *e)
{
	free(e->v);
	memset(e, 0, sizeof(*e));
}

void ws_phaseset_free(struct ws_phaseset *ps)
{
	free(ps->v);
	free(ps->clocks);
	memset(ps, 0, sizeof(*ps));
}

/* b - a when both are known and b is not earlier, else -1 */
static int64_t span_of(uint64_t a, uint64_t b)
{
	return a && b && b >= a ? (int64_t)(b - a) : -1;
}

/* ---- clock offsets between hosts ---- */

/* NTP's four timestamps of an exchange both sides recorded: the client
 * wrote the request's last byte (t1), it reached the server (t2), the
 * server began the response (t3), its first byte reached the client (t4).
 * offset = ((t2 - t1) + (t3 - t4)) / 2, slack = (t4 - t1) - (t3 - t2). */
static bool ntp_sample(const struct ws_lspan *c, const struct ws_lspan *s, int64_t *offset, int64_t *delay)
{
	uint64_t t1 = c->req_t[WS_T_LAST_EXIT];
	uint64_t t2 = s->req_arr[1] ? s->req_arr[1] : s->req_t[WS_T_LAST_EXIT];
	uint64_t t3 = s->resp_t[WS_T_FIRST_ENTER];
	uint64_t t4 = c->resp_arr[0] ? c->resp_arr[0] : c->resp_t[WS_T_FIRST_EXIT];

	if (!t1 || !t2 || !t3 || !t4 || t4 < t1 || t3 < t2)
		return false;
	*offset = (((int64_t)t2 - (int64_t)t1) + ((int64_t)t3 - (int64_t)t4)) / 2;
	*delay = (int64_t)(t4 - t1) - (int64_t)(t3 - t2);
	if (*delay < 0)
		*delay = 0;
	return true;
}

static struct ws_clock *clock_find(struct ws_phaseset *ps, const char *a, const char *b)
{
	for (size_t i = 0; i < ps->nclocks; i++)
		if (ps->clocks[i].client_host == a && ps->clocks[i].server_host == b)
			return &ps->clocks[i];
	return NULL;
}

/* Offsets are kept for host pairs in a fixed order (by address of the
 * interned name), so samples of both directions meet. */
static struct ws_clock *clock_add(struct ws_phaseset *ps, const char *ch, const char *sh, int64_t off,
				   int64_t delay)
{
	if (ch > sh) { /* store as the other direction */
		const char *t = ch;
		ch = sh;
		sh = t;
		off = -off;
	}
	struct ws_clock *k = clock_find(ps, ch, sh);
	if (!k) {
		ps->clocks = ws_realloc(ps->clocks, (ps->nclocks + 1) * sizeof(*ps->clocks));
		k = &ps->clocks[ps->nclocks++];
		*k = (struct ws_clock){ch, sh, off, delay, 0, false};
	}
	k->samples++;
	if (delay < k->delay_ns) {
		k->delay_ns = delay;
		k->offset_ns = off;
	}
	return k;
}

/* offset of the server host's clock relative to the client host's */
static bool clock_get(const struct ws_phaseset *ps, const char *ch, const char *sh, int64_t *off)
{
	if (ch == sh) {
		*off = 0;
		return true;
	}
	for (size_t i = 0; i < ps->nclocks; i++) {
		const struct ws_clock *k = &ps->clocks[i];
		if (k->client_host == ch && k->server_host == sh) {
			*off = k->offset_ns;
			return true;
		}
		if (k->client_host == sh && k->server_host == ch) {
			*off = -k->offset_ns;
			return true;
		}
	}
	return false;
}

/* ---- phases of one exchange ---- */

static void phases_init(struct ws_phases *p)
{
	memset(p, 0, sizeof(*p));
	for (int k = 0; k < WS_PH_N; k++)
		p->ns[k] = -1;
	p->runq = p->offcpu = -1;
	p->client = p->server = -1;
}

static int64_t clamp0(int64_t v) { return v < 0 ? 0 : v; }

/* A client span that is a connect() which failed: no connection, no bytes. */
static bool failed_connect(const struct ws_lspan *l)
{
	return l->kind == WS_SPAN_CLIENT && l->error && l->conn_open && !l->conn_estab && !l->req_bytes &&
	       !l->resp_bytes;
}

/* The exchange's path as a chain of instants on the client's clock, each
 * no earlier than the one before and inside the client's span: phases
 * between them partition the span exactly, even where loopback delivers
 * a byte before the write that sent it returned, or an estimated clock
 * offset puts an arrival before its send. 0: not known (the phase that
 * ends there is unknown, and the next one starts from the last known). */
struct chain {
	uint64_t hi, at;
	bool gap; /* an instant was not known: the phase after it is not either */
	struct ws_phases *p;
};

static void chain_to(struct chain *ch, int ph, uint64_t t)
{
	if (!t) {
		ch->gap = true;
		if (ph >= 0)
			ch->p->ns[ph] = -1;
		return;
	}
	t = WS_MIN(WS_MAX(t, ch->at), ch->hi);
	if (ph >= 0)
		ch->p->ns[ph] = ch->gap ? -1 : (int64_t)(t - ch->at);
	ch->gap = false;
	ch->at = t;
}

/* a server instant on the client's clock (0 stays unknown) */
static uint64_t on_client(uint64_t t, int64_t off) { return t ? (uint64_t)((int64_t)t - off) : 0; }

static void exchange_phases(const struct ws_lset *set, const struct ws_phaseset *ps, int32_t ci, int32_t si,
			    struct ws_phases *p)
{
	const struct ws_lspan *c = ci >= 0 ? &set->v[ci] : NULL, *s = si >= 0 ? &set->v[si] : NULL;
	int64_t off = 0;

	p->client = ci;
	p->server = si;
	p->both = c && s;
	/* a connect() that failed: the span is the attempt, all of it */
	if (c && !s && failed_connect(c)) {
		p->ns[WS_PH_CONNECT] = span_of(c->conn_open, c->end);
		p->srtt_us = c->srtt_us;
		return;
	}
	if (c && c->conn_estab && c->conn_open) /* before the span: not on its path */
		p->ns[WS_PH_CONNECT] = span_of(c->conn_open, c->conn_estab);
	if (s) {
		p->runq = s->sched_runq;
		p->offcpu = s->sched_offcpu;
		p->srtt_us = s->srtt_us;
	}
	if (c) {
		p->srtt_us = c->srtt_us ? c->srtt_us : p->srtt_us;
		if (!s) {
			p->runq = c->sched_runq;
			p->offcpu = c->sched_offcpu;
		}
	}
	bool one_clock = c && s && ws_lset_same_clock(set, c->host, s->host);
	if (c && s && (one_clock || clock_get(ps, c->host, s->host, &off))) {
		if (one_clock)
			off = 0; /* one machine: one clock, by fact */
		p->offset_known = true;
		p->offset_ns = off;
		struct chain ch = {.hi = c->end, .at = c->start, .p = p};
		chain_to(&ch, WS_PH_REQ_SEND, c->req_t[WS_T_LAST_EXIT]);
		chain_to(&ch, WS_PH_REQ_FLIGHT, on_client(s->req_arr[1], off));
		/* a request that arrived before accept() waited in the accept
		 * queue: on its path from its arrival to accept() */
		if (s->conn_estab && s->conn_open)
			chain_to(&ch, WS_PH_ACCEPT_QUEUE, on_client(s->conn_open, off));
		chain_to(&ch, WS_PH_SRV_QUEUE, on_client(s->req_t[WS_T_LAST_EXIT], off));
		chain_to(&ch, WS_PH_SRV_PROC, on_client(s->resp_t[WS_T_FIRST_ENTER], off));
		chain_to(&ch, WS_PH_RESP_SEND, on_client(s->resp_t[WS_T_LAST_EXIT], off));
		chain_to(&ch, WS_PH_RESP_FLIGHT, c->resp_arr[1]);
		chain_to(&ch, WS_PH_CLI_QUEUE, c->end);
		return;
	}
	if (c && !s) { /* the client alone */
		struct chain ch = {.hi = c->end, .at = c->start, .p = p};
		chain_to(&ch, WS_PH_REQ_SEND, c->req_t[WS_T_LAST_EXIT]);
		chain_to(&ch, WS_PH_SRV_AND_NET, c->resp_arr[0] ? c->resp_arr[0] : c->resp_t[WS_T_FIRST_EXIT]);
		if (c->resp_arr[0])
			chain_to(&ch, WS_PH_RESP_FLIGHT, c->resp_arr[1]);
		chain_to(&ch, WS_PH_CLI_QUEUE, c->end);
	} else if (c) { /* both, on clocks not related: each side on its own */
		p->ns[WS_PH_REQ_SEND] = span_of(c->start, c->req_t[WS_T_LAST_EXIT]);
		if (c->resp_arr[1])
			p->ns[WS_PH_CLI_QUEUE] = span_of(WS_MIN(c->resp_arr[1], c->end), c->end);
	}
	if (s) { /* the server alone, or both on clocks not related: its side
		  * on its own clock, from the request's arrival */
		struct chain ch = {.hi = s->end, .p = p};
		ch.at = s->req_arr[1] ? WS_MIN(s->req_arr[1], s->start) : s->start;
		if (s->req_arr[1]) {
			chain_to(&ch, -1, s->req_arr[1]);
			if (s->conn_estab && s->conn_open)
				chain_to(&ch, WS_PH_ACCEPT_QUEUE, s->conn_open);
			chain_to(&ch, WS_PH_SRV_QUEUE, s->req_t[WS_T_LAST_EXIT]);
		} else {
			chain_to(&ch, -1, s->req_t[WS_T_LAST_EXIT]);
		}
		chain_to(&ch, WS_PH_SRV_PROC, s->resp_t[WS_T_FIRST_ENTER]);
		chain_to(&ch, WS_PH_RESP_SEND, s->resp_t[WS_T_LAST_EXIT]);
	}
}

/* ---- TCP events to exchanges ---- */

struct conn_key {
	uint16_t db;
	int64_t rec;
	uint64_t conn;
};

static int key_cmp(const struct conn_key *a, const struct conn_key *b)
{
	if (a->db != b->db)
		return a->db < b->db ? -1 : 1;
	if (a->rec != b->rec)
		return a->rec < b->rec ? -1 : 1;
	if (a->conn != b->conn)
		return a->conn < b->conn ? -1 : 1;
	return 0;
}

static int cmp_by_conn(const void *x, const void *y, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *a = &set->v[*(const int32_t *)x], *b = &set->v[*(const int32_t *)y];
	struct conn_key ka = {a->db, a->recording_id, a->conn_id}, kb = {b->db, b->recording_id, b->conn_id};
	int c = key_cmp(&ka, &kb);

	if (c)
		return c;
	return a->start < b->start ? -1 : a->start > b->start;
}

/* Whether a byte with sequence number seq was sent by span l's side. */
static bool carries(const struct ws_lspan *l, uint32_t seq, uint64_t *t_sent)
{
	uint32_t base = l->kind == WS_SPAN_CLIENT ? l->req_seq : l->resp_seq;
	uint64_t len = l->kind == WS_SPAN_CLIENT ? l->req_bytes : l->resp_bytes;
	const uint64_t *t = l->kind == WS_SPAN_CLIENT ? l->req_t : l->resp_t;

	if (l->kind == WS_SPAN_CLIENT ? l->req_noseq : l->resp_noseq)
		return false; /* TLS plaintext whose place on the wire is not known */
	if (!len || (uint32_t)(seq - base) >= len)
		return false;
	*t_sent = t[WS_T_FIRST_EXIT];
	return true;
}

static void attribute_tcp(const struct ws_lset *set, const struct ws_tcpevs *evs, struct ws_phaseset *ps)
{
	int32_t *idx = ws_malloc((set->n + 1) * sizeof(*idx));
	size_t m = 0;

	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].kind)
			idx[m++] = (int32_t)i;
	qsort_r(idx, m, sizeof(*idx), cmp_by_conn, (void *)set);
	for (size_t e = 0; e < evs->n; e++) {
		const struct ws_tcpev *ev = &evs->v[e];
		struct conn_key k = {ev->db, ev->recording_id, ev->conn_id};
		size_t lo = 0, hi = m;
		while (lo < hi) { /* first span of the connection */
			size_t mid = (lo + hi) / 2;
			const struct ws_lspan *l = &set->v[idx[mid]];
			struct conn_key lk = {l->db, l->recording_id, l->conn_id};
			if (key_cmp(&lk, &k) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (size_t j = lo; j < m; j++) {
			const struct ws_lspan *l = &set->v[idx[j]];
			struct conn_key lk = {l->db, l->recording_id, l->conn_id};
			uint64_t t_sent;
			if (key_cmp(&lk, &k))
				break;
			struct ws_phases *p = &ps->v[idx[j]];
			if (ev->kind == WS_TE_RETRANS && (ev->tcp_flags & 0x02)) { /* SYN: the connection's first */
				p->syn_retransmits++;
				p->retransmits++;
				p->rto_us = WS_MAX(p->rto_us, ev->rto_us);
				p->stall_ns = WS_MAX(p->stall_ns, span_of(l->conn_open, ev->ts));
				break;
			}
			if (ev->kind == WS_TE_HELD && carries(l, ev->seq, &t_sent)) {
				bool srv = l->kind == WS_SPAN_SERVER;
				int64_t held = (int64_t)ev->hold_ns;
				if (ev->tcp_flags) {
					/* a capture's hold begins at the segment before,
					 * maybe in an earlier message: only what lies
					 * between this message's own packets counts */
					const uint64_t *t = srv ? l->resp_t : l->req_t;
					uint64_t a = WS_MAX(ev->ts - WS_MIN(ev->hold_ns, ev->ts), t[WS_T_FIRST_ENTER]);
					held = span_of(a, WS_MIN(ev->ts, t[WS_T_LAST_EXIT]));
					if (held <= 0)
						break;
				}
				*(srv ? &p->resp_hold : &p->req_hold) += held;
				*(srv ? &p->resp_hold_why : &p->req_hold_why) = ev->hold_why;
				*(srv ? &p->resp_hold_wire : &p->req_hold_wire) = ev->tcp_flags != 0;
				break;
			}
			if (ev->kind == WS_TE_RETRANS && carries(l, ev->seq, &t_sent)) {
				p->retransmits++;
				if (!p->rto_us)
					p->rto_us = ev->rto_us;
				p->stall_ns = WS_MAX(p->stall_ns, span_of(t_sent, ev->ts));
				break;
			}
			if ((ev->kind == WS_TE_RESET_RX || ev->kind == WS_TE_RESET_TX) && ev->ts >= l->start &&
			    ev->ts <= l->end + 1000000) {
				p->reset = ev->kind == WS_TE_RESET_RX ? 1 : 2;
				break;
			}
		}
	}
	free(idx);
}

/* What the sender's TCP held was never in flight: the hold is its own
 * phase, taken out of the phase it lengthened: the flight after the write
 * returned (live), or the message's packets (a capture, where the send
 * phase runs from the first packet to the last). A hold that lies in no
 * phase of the span (a server span alone: after its last write) is none
 * of its time. */
static void take_hold(struct ws_phases *p, int64_t held, int hold_ph, int from_ph)
{
	if (held <= 0 || p->ns[from_ph] < 0)
		return;
	held = WS_MIN(held, p->ns[from_ph]);
	p->ns[from_ph] -= held;
	p->ns[hold_ph] = held;
}

/* Merge what each side's TCP events said into the exchange's phases. */
static void merge_tcp(struct ws_phases *into, const struct ws_phases *a, const struct ws_phases *b)
{
	into->retransmits = a->retransmits + b->retransmits;
	into->syn_retransmits = a->syn_retransmits + b->syn_retransmits;
	into->stall_ns = WS_MAX(a->stall_ns, b->stall_ns);
	into->rto_us = WS_MAX(a->rto_us, b->rto_us);
	into->reset = a->reset ? a->reset : b->reset;
	into->req_hold = a->req_hold + b->req_hold;
	into->resp_hold = a->resp_hold + b->resp_hold;
	into->req_hold_why = a->req_hold_why ? a->req_hold_why : b->req_hold_why;
	into->resp_hold_why = a->resp_hold_why ? a->resp_hold_why : b->resp_hold_why;
	into->req_hold_wire = a->req_hold_wire || b->req_hold_wire;
	into->resp_hold_wire = a->resp_hold_wire || b->resp_hold_wire;
	take_hold(into, into->req_hold, WS_PH_REQ_HOLD, into->req_hold_wire ? WS_PH_REQ_SEND : WS_PH_REQ_FLIGHT);
	take_hold(into, into->resp_hold, WS_PH_RESP_HOLD, into->resp_hold_wire ? WS_PH_RESP_SEND : WS_PH_RESP_FLIGHT);
}

static const char *hold_why_text(uint8_t why)
{
	switch (why) {
	case WS_HOLD_WHY_NAGLE: return "Nagle: a small write waits for the ACK of earlier bytes, which the peer delays";
	case WS_HOLD_WHY_CWND: return "the congestion window was full";
	case WS_HOLD_WHY_RWND: return "the peer's receive window was full";
	default: return "corked or queued below TCP";
	}
}

static const char *hold_when(bool wire)
{
	/* a capture shows the bytes leave on the ACK, not when they were written */
	return wire ? "until the ACK it left on" : "after it was written";
}

void ws_phases_compute(const struct ws_lset *set, const struct ws_tcpevs *evs, struct ws_phaseset *ps)
{
	struct ws_phases *tcp = ws_calloc(set->n + 1, sizeof(*tcp));
	int32_t *server_of = ws_malloc((set->n + 1) * sizeof(*server_of));

	memset(ps, 0, sizeof(*ps));
	ps->v = ws_calloc(set->n + 1, sizeof(*ps->v));
	for (size_t i = 0; i < set->n; i++)
		server_of[i] = -1;
	/* the exchanges both sides recorded: joined by the tcp link */
	for (size_t i = 0; i < set->n; i++) {
		const struct ws_lspan *l = &set->v[i];
		int64_t off, delay;
		if (l->kind != WS_SPAN_SERVER || l->method != WS_LINK_TCP || l->parent < 0)
			continue;
		server_of[l->parent] = (int32_t)i;
		const struct ws_lspan *c = &set->v[l->parent];
		if (c->host != l->host && ws_lset_same_clock(set, c->host, l->host)) {
			clock_add(ps, c->host, l->host, 0, 0)->shared = true;
		} else if (c->host != l->host && ntp_sample(c, l, &off, &delay)) {
			clock_add(ps, c->host, l->host, off, delay);
		}
	}
	/* TCP events, per side */
	struct ws_phaseset tmp = {.v = tcp};
	attribute_tcp(set, evs, &tmp);
	for (size_t i = 0; i < set->n; i++) {
		const struct ws_lspan *l = &set->v[i];
		struct ws_phases *p = &ps->v[i];
		phases_init(p);
		if (!l->kind)
			continue;
		if (l->kind == WS_SPAN_CLIENT) {
			int32_t si = server_of[i];
			exchange_phases(set, ps, (int32_t)i, si, p);
			merge_tcp(p, &tcp[i], si >= 0 ? &tcp[si] : &(struct ws_phases){0});
		} else if (l->method == WS_LINK_TCP && l->parent >= 0) {
			exchange_phases(set, ps, l->parent, (int32_t)i, p);
			merge_tcp(p, &tcp[i], &tcp[l->parent]);
		} else {
			exchange_phases(set, ps, -1, (int32_t)i, p);
			merge_tcp(p, &tcp[i], &(struct ws_phases){0});
		}
	}
	free(tcp);
	free(server_of);
}

void ws_phases_json(const struct ws_phases *p, int kind, struct ws_json *j)
{
	char key[64];

	for (int k = 0; k < WS_PH_N; k++) {
		if (p->ns[k] < 0)
			continue;
		/* the span's own send step is already among its attributes */
		if ((k == WS_PH_REQ_SEND && kind == WS_SPAN_CLIENT) || (k == WS_PH_RESP_SEND && kind == WS_SPAN_SERVER))
			continue;
		snprintf(key, sizeof(key), "wirespan.phase.%s_ns", ws_phase_name(k));
		wj_kint(j, key, p->ns[k]);
	}
	if (p->runq >= 0)
		wj_kint(j, "wirespan.sched.runnable_ns", p->runq);
	if (p->offcpu >= 0)
		wj_kint(j, "wirespan.sched.off_cpu_ns", p->offcpu);
	wj_kuint(j, "wirespan.tcp.retransmits", p->retransmits);
	if (p->syn_retransmits)
		wj_kuint(j, "wirespan.tcp.syn_retransmits", p->syn_retransmits);
	if (p->retransmits) {
		wj_kint(j, "wirespan.tcp.retransmit_stall_ns", p->stall_ns);
		wj_kuint(j, "wirespan.tcp.rto_us", p->rto_us);
	}
	if (p->srtt_us)
		wj_kuint(j, "wirespan.tcp.srtt_us", p->srtt_us);
	if (p->reset)
		wj_kstr(j, "wirespan.tcp.reset", p->reset == 1 ? "received" : "sent");
	if (p->offset_known && p->both)
		wj_kint(j, "wirespan.clock.offset_ns", p->offset_ns);
}

/* ---- self time and verdict ---- */

struct ival {
	uint64_t a, b;
};

static int cmp_ival(const void *x, const void *y)
{
	const struct ival *a = x, *b = y;

	return a->a < b->a ? -1 : a->a > b->a;
}

int64_t ws_phases_self_processing(const struct ws_lset *set, const struct ws_phaseset *ps, int32_t i)
{
	const struct ws_lspan *s = &set->v[i];
	int64_t proc = ps->v[i].ns[WS_PH_SRV_PROC];
	uint64_t a = s->req_t[WS_T_LAST_EXIT], b = s->resp_t[WS_T_FIRST_ENTER];
	struct ival *iv = NULL;
	size_t n = 0;
	uint64_t covered = 0, end = 0;

	if (proc < 0 || s->kind != WS_SPAN_SERVER)
		return proc;
	for (size_t k = 0; k < set->n; k++) {
		const struct ws_lspan *c = &set->v[k];
		if (c->parent != i || c->kind != WS_SPAN_CLIENT)
			continue;
		/* a call on a connection opened for it began with the connect */
		uint64_t from = c->conn_estab && c->conn_open ? WS_MIN(c->conn_open, c->start) : c->start;
		uint64_t x = WS_MAX(from, a), y = WS_MIN(c->end, b);
		if (y <= x)
			continue;
		iv = ws_realloc(iv, (n + 1) * sizeof(*iv));
		iv[n++] = (struct ival){x, y};
	}
	if (n)
		qsort(iv, n, sizeof(*iv), cmp_ival);
	for (size_t k = 0; k < n; k++) { /* union of the children's intervals */
		uint64_t x = WS_MAX(iv[k].a, end);
		if (iv[k].b > x)
			covered += iv[k].b - x;
		end = WS_MAX(end, iv[k].b);
	}
	free(iv);
	return clamp0(proc - (int64_t)covered);
}

struct cause {
	int64_t ns;
	char text[384];
};

static void consider(struct cause *best, int64_t ns, const char *text)
{
	if (ns > best->ns) {
		best->ns = ns;
		ws_strlcpy(best->text, text, sizeof(best->text));
	}
}

static const char *who(const struct ws_lspan *l, char *buf, size_t n)
{
	if (l->pid)
		snprintf(buf, n, "%s (pid %u)", l->service, l->pid);
	else /* a capture file knows no process */
		snprintf(buf, n, "%s", l->service);
	return buf;
}

void ws_phases_verdict(const struct ws_lset *set, const struct ws_phaseset *ps, const int32_t *spans, size_t n,
		       uint64_t duration, char *out, size_t outlen)
{
	struct cause best = {0};
	int64_t network = 0;
	char t[384], w1[96], w2[96], d1[32], d2[32];
	bool network_known = false;
	uint64_t t0 = UINT64_MAX, t1 = 0; /* the trace: phases outside it are not its time */

	for (size_t k = 0; k < n; k++) {
		t0 = WS_MIN(t0, set->v[spans[k]].start);
		t1 = WS_MAX(t1, set->v[spans[k]].end);
	}

	for (size_t k = 0; k < n; k++) {
		int32_t i = spans[k];
		const struct ws_lspan *l = &set->v[i];
		const struct ws_phases *p = &ps->v[i];
		/* each exchange once: from its client span, or its lone server */
		if (l->kind == WS_SPAN_SERVER && p->client >= 0)
			continue;
		const struct ws_lspan *c = p->client >= 0 ? &set->v[p->client] : NULL;
		const struct ws_lspan *s = p->server >= 0 ? &set->v[p->server] : NULL;
		const char *peer = s ? s->service : c ? c->name : "";
		char retr[96] = "";
		if (p->retransmits) {
			ws_fmt_duration((uint64_t)p->rto_us * 1000, d1, sizeof(d1));
			/* a capture does not know the sender's RTO */
			snprintf(retr, sizeof(retr), ", %u retransmission%s%s%s%s", p->retransmits,
				 p->retransmits == 1 ? "" : "s", p->rto_us ? " (RTO " : "", p->rto_us ? d1 : "",
				 p->rto_us ? ")" : "");
		}
		for (int ph = 0; ph < WS_PH_N; ph++) {
			int64_t v = p->ns[ph];
			if (v < 0)
				continue;
			switch (ph) {
			case WS_PH_CONNECT: {
				/* a connection opened before the trace began (curl's,
				 * before its request) is not time of the trace */
				uint64_t ce = c->conn_estab ? c->conn_estab : c->end;
				v = span_of(WS_MAX(c->conn_open, t0), WS_MIN(ce, t1));
				if (v <= 0)
					continue;
				char to[96];
				if (s)
					ws_strlcpy(to, s->service, sizeof(to));
				else
					snprintf(to, sizeof(to), "port %u", c->server.port);
				bool failed = failed_connect(c);
				snprintf(t, sizeof(t), "connect from %s to %s%s%s%s", who(c, w1, sizeof(w1)), to, retr,
					 failed ? ": failed, " : "", failed ? c->error_type : "");
				network += v;
				network_known = true;
				break;
			}
			case WS_PH_ACCEPT_QUEUE:
				snprintf(t, sizeof(t), "accept queue at %s before accept() took the connection",
					 who(s, w1, sizeof(w1)));
				break;
			case WS_PH_REQ_SEND:
				snprintf(t, sizeof(t), "request send at %s (socket buffer full)", who(c, w1, sizeof(w1)));
				network += v;
				break;
			case WS_PH_REQ_FLIGHT:
				snprintf(t, sizeof(t), "request in flight from %s to %s%s", c->service, s->service, retr);
				network += v;
				network_known = true;
				break;
			case WS_PH_SRV_QUEUE:
				snprintf(t, sizeof(t), "request waiting in the socket at %s before it was read",
					 who(s, w1, sizeof(w1)));
				break;
			case WS_PH_SRV_PROC: {
				v = ws_phases_self_processing(set, ps, p->server);
				char sched[128] = "";
				if (p->runq > 0 && p->runq * 10 > v) {
					ws_fmt_duration((uint64_t)p->runq, d1, sizeof(d1));
					snprintf(sched, sizeof(sched), ", %s of it runnable but not running (CPU)", d1);
				} else if (p->offcpu > 0 && p->offcpu * 2 > v) {
					ws_fmt_duration((uint64_t)p->offcpu, d1, sizeof(d1));
					snprintf(sched, sizeof(sched), ", %s of it off CPU (sleeping or blocked)", d1);
				}
				if (s->blocking)
					snprintf(t, sizeof(t),
						 "%s waiting as %.*s asks (a blocking command: the server waits for "
						 "data by design, it is not slow)",
						 who(s, w1, sizeof(w1)), (int)strcspn(s->name, " "), s->name);
				else
					snprintf(t, sizeof(t), "server processing at %s after the request was read%s",
						 who(s, w1, sizeof(w1)), sched);
				break;
			}
			case WS_PH_RESP_SEND:
				snprintf(t, sizeof(t), "response send at %s (socket buffer full: transfer)",
					 who(s, w1, sizeof(w1)));
				network += v;
				break;
			case WS_PH_REQ_HOLD:
				snprintf(t, sizeof(t), "request held by %s's TCP %s (%s)", who(c ? c : s, w1, sizeof(w1)),
					 hold_when(p->req_hold_wire), hold_why_text(p->req_hold_why));
				break;
			case WS_PH_RESP_HOLD:
				snprintf(t, sizeof(t), "response held by %s's TCP %s (%s)", who(s ? s : c, w1, sizeof(w1)),
					 hold_when(p->resp_hold_wire), hold_why_text(p->resp_hold_why));
				break;
			case WS_PH_RESP_FLIGHT:
				snprintf(t, sizeof(t), "response transfer from %s to %s%s", s ? s->service : peer,
					 c ? c->service : "its client", retr);
				network += v;
				network_known = true;
				break;
			case WS_PH_CLI_QUEUE:
				snprintf(t, sizeof(t), "response waiting in the socket at %s before it was read",
					 who(c, w1, sizeof(w1)));
				break;
			case WS_PH_SRV_AND_NET:
				if (c->blocking)
					snprintf(t, sizeof(t), "waiting as %.*s asks at :%u (a blocking command: the "
						 "server waits for data by design)", (int)strcspn(c->name, " "), c->name,
						 c->server.port);
				else
					snprintf(t, sizeof(t),
						 "waiting for %s:%u (server and network; its side was not recorded%s)",
						 c->name, c->server.port, retr);
				break;
			}
			consider(&best, v, t);
		}
	}
	/* what failed, once: the deepest failed span (a failed connect
	 * before a call that erred above it) */
	char failed[256] = "";
	int best_depth = -1;
	for (size_t k = 0; k < n; k++) {
		const struct ws_lspan *l = &set->v[spans[k]];
		if (!l->error)
			continue;
		int depth = 0;
		for (int32_t p = l->parent; p >= 0 && depth < 64; p = set->v[p].parent)
			depth++;
		if (depth <= best_depth)
			continue;
		best_depth = depth;
		if (failed_connect(l))
			snprintf(failed, sizeof(failed), "; failed: connect from %s to port %u: %s", who(l, w1, sizeof(w1)),
				 l->server.port, l->error_type);
		else
			snprintf(failed, sizeof(failed), "; failed: %s at %s: %s", l->name, who(l, w1, sizeof(w1)),
				 l->error_type);
	}
	(void)w2;
	ws_fmt_duration(duration, d2, sizeof(d2));
	if (!best.ns) {
		snprintf(out, outlen, "%s: no phase could be measured%s", d2, failed);
		return;
	}
	ws_fmt_duration((uint64_t)best.ns, d1, sizeof(d1));
	if (network_known) {
		char dn[32];
		ws_fmt_duration((uint64_t)network, dn, sizeof(dn));
		snprintf(out, outlen, "%s of %s: %s; network %s%s", d1, d2, best.text, dn, failed);
	} else {
		snprintf(out, outlen, "%s of %s: %s%s", d1, d2, best.text, failed);
	}
}
