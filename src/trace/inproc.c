/* inproc.c -- see inproc.h.
 *
 * Inside one process, what its executors did is replayed in time order.
 * An executor is a thread, or in a Go process with runtime probes a
 * goroutine (Go moves goroutines between threads at every blocking call,
 * so there a thread says nothing about who a syscall was made for).
 *
 * Every span gives its executors two events: the read that completed a
 * message (a request read by a server, a response read by a client) and a
 * write (a client's request; a server's response). A completed read makes
 * a context ready on its executor: the server span it belongs to (for a
 * response, the server span its call was made for). The next calls it
 * writes are what the context caused. On an event loop one read may
 * complete several messages (replies to calls of different requests on
 * one Redis connection): their continuations then run in the order of the
 * replies, so the writes that follow are handed the contexts of that read
 * in order, and a response written for a context uses it up.
 *
 * Goroutines add two facts the runtime probes record: which goroutine
 * created which (a handler's `go func()` serves the handler's request),
 * and which goroutine last made a goroutine runnable before it wrote (an
 * HTTP client's connection writer is handed each request over a channel
 * by the goroutine that made the call). See decide_go().
 */
#include "trace/inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace/loop.h"
#include "util/util.h"

enum { EV_READ, EV_WRITE_RESPONSE, EV_SPAWN, EV_WAKE, EV_WAKE2, EV_WRITE_REQUEST };

/* Executors: a thread id, or a goroutine id with the top bit set. */
#define GO_UNIT (1ull << 63)

struct tev {
	uint64_t t;
	uint64_t unit;
	uint8_t kind;
	int32_t idx; /* the span; EV_SPAWN: the spawn */
};

static int cmp_tev(const void *a, const void *b)
{
	const struct tev *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	if (x->unit != y->unit)
		return x->unit < y->unit ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

#define READY_MAX 64

/* What one executor has read and not yet acted on, newest read first; a
 * goroutine also carries the request it was created for. */
struct unit {
	int32_t ctx[READY_MAX]; /* server span index, -1: a call of no request */
	size_t n;
	uint64_t last_read_t;
	size_t head_n;     /* contexts of the newest read still ready */
	size_t head_total; /* contexts the newest read made ready */
	int32_t served;    /* the newest request it read itself, -1 none */
	int32_t inherited; /* the request its creator served then, -1 none */
	uint8_t depth;     /* creations between it and the goroutine that read it */
	uint64_t last_call_t; /* its last call written: a wake-up before is used up */
	struct ws_loop *loop[2]; /* the thread runs an event loop: its models, by style */
	uint64_t unanswered[2];  /* calls each model could give no request in flight */
	int style;               /* the model that fits it, -1: not chosen yet */
	double misfit;           /* the share of its responses that contradicted it */
	/* epochs: stretches between moments with no request of the thread in
	 * flight, when a model holds no state; a contradiction is held
	 * against the calls of its own epoch */
	uint32_t open;           /* requests read and not answered */
	uint32_t epoch;
	uint8_t *bad;            /* by epoch: bit m, model m was contradicted */
	size_t bad_cap;
	uint64_t seen_bad[2];    /* each model's contradictions counted so far */
};

/* What each style of loop model said of a call, kept until the replay
 * tells which fits the thread. */
struct loop_pick {
	struct unit *u;
	int32_t ctx[2];
	uint8_t why[2];
	bool candidate[2]; /* the context was a request in flight */
	uint32_t epoch;
};

/* A goroutine's context as seen by others (its creator's at creation, its
 * waker's at a wake-up). */
struct goctx {
	int32_t ctx;
	uint8_t depth;
};

struct proc_ctx {
	struct ws_lset *set;
	const struct ws_link_opts *opts;
	struct ws_hashmap first_on_conn; /* conn -> index+1 of its earliest client span */
	struct ws_hashmap units;         /* executor -> struct unit */
	struct goctx *waker_ctx;         /* per span: its writer's waker's context */
	struct goctx *waker2_ctx;        /* ... and that of the waker's own waker then */
	struct ws_hashmap shared;        /* connections carrying several requests at once -> 1 */
	struct ws_hashmap loops;         /* threads that serve several requests at once -> 1 */
	struct ws_hashmap readers;       /* threads that read requests -> 1 */
	struct loop_pick *picks;         /* per span: the loop models' answers */
	int32_t *deferred;               /* client spans whose link waits for them */
	size_t ndeferred;
	int runtime;                     /* enum ws_runtime of the process */
};

static uint64_t conn_key(const struct ws_lspan *l)
{
	return ws_mix64(ws_mix64((uint64_t)l->db << 48 ^ (uint64_t)l->recording_id) ^ l->conn_id) | 1;
}

/* The peer a client span called (its server end). */
static uint64_t peer_key(const struct ws_lspan *l)
{
	uint64_t w[2];

	memcpy(w, l->server.addr, 16);
	return ws_mix64(ws_mix64(w[0] ^ 0x5045) ^ w[1] ^ (uint64_t)l->server.port << 48) | 1;
}

/* The kind of a call: its peer, and its operation and route ("GET /b1" of
 * "GET /b1/{id}", the command of a Redis call), what a step of a program
 * calls whatever the ids in it. */
static uint64_t api_key(const struct ws_lspan *l)
{
	const char *n = l->name, *p = strstr(n, " /");
	size_t len = p ? (size_t)(strchrnul(p + 2, '/') - n) : strcspn(n, " ");
	uint64_t h = peer_key(l);

	for (size_t i = 0; i < len; i++)
		h = ws_mix64(h ^ (uint8_t)n[i]);
	return h | 1;
}

static uint64_t write_time(const struct ws_lspan *c)
{
	return c->req_t[WS_T_FIRST_ENTER] ? c->req_t[WS_T_FIRST_ENTER] : c->start;
}

/* When the executor decided to make the call: the write, or for the first
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

static struct unit *unit_of(struct proc_ctx *pc, uint64_t key)
{
	struct unit *u = ws_hashmap_get(&pc->units, key | 1ull << 62);

	if (!u) {
		u = ws_calloc(1, sizeof(*u));
		u->inherited = u->served = -1;
		u->style = -1;
		if (!(key & GO_UNIT) && (pc->runtime == WS_RT_NODE || pc->runtime == WS_RT_PYTHON) &&
		    ws_hashmap_get(&pc->loops, key | 1ull << 62)) {
			u->loop[WS_LOOP_TICK] = ws_loop_new(WS_LOOP_TICK);
			u->loop[WS_LOOP_QUEUE] = ws_loop_new(WS_LOOP_QUEUE);
		}
		ws_hashmap_put(&pc->units, key | 1ull << 62, u);
	}
	return u;
}

/* Which models were contradicted since last asked, in the current epoch. */
static void note_contradictions(struct unit *u)
{
	if (u->epoch >= u->bad_cap) {
		size_t cap = WS_MAX(u->bad_cap * 2, (size_t)u->epoch + 16);
		u->bad = ws_realloc(u->bad, cap);
		memset(u->bad + u->bad_cap, 0, cap - u->bad_cap);
		u->bad_cap = cap;
	}
	for (int m = 0; m < 2; m++) {
		uint64_t resp, bad, idle;
		ws_loop_fit(u->loop[m], &resp, &bad, &idle);
		if (bad > u->seen_bad[m])
			u->bad[u->epoch] |= (uint8_t)(1u << m);
		u->seen_bad[m] = bad;
	}
}

static void ready_remove(struct unit *u, size_t i)
{
	if (i < u->head_n)
		u->head_n--;
	memmove(&u->ctx[i], &u->ctx[i + 1], (u->n - i - 1) * sizeof(u->ctx[0]));
	u->n--;
}

/* Read and not yet answered in full at t. */
static bool in_flight(const struct ws_lset *set, int32_t s, uint64_t t)
{
	return s >= 0 && set->v[s].req_t[WS_T_LAST_EXIT] <= t && set->v[s].end >= t;
}

/* Whether context ctx can still make calls at the time the argument says. */
struct flight_arg {
	const struct ws_lset *set;
	uint64_t t;
};

static bool ctx_in_flight(void *arg, int32_t ctx)
{
	const struct flight_arg *f = arg;

	return ctx < 0 || in_flight(f->set, ctx, f->t);
}

static void on_read(struct proc_ctx *pc, const struct tev *e)
{
	struct unit *u = unit_of(pc, e->unit);
	int32_t ctx = read_context(pc->set, e->idx);
	const struct ws_lspan *l = &pc->set->v[e->idx];

	if (l->kind == WS_SPAN_SERVER) {
		u->served = e->idx;
		u->open++;
	}
	for (int m = 0; m < 2 && u->loop[0]; m++) {
		bool reply = l->kind == WS_SPAN_CLIENT;
		uint64_t ck = reply ? conn_key(l) : 0;
		ws_loop_read(u->loop[m], e->t, reply ? -1 : e->idx, reply ? e->idx : -1,
			     reply ? api_key(l) : ws_mix64(l->server.port) | 1,
			     ck && !ws_hashmap_get(&pc->shared, ck) ? ck : 0);
	}

	if (e->t != u->last_read_t || !u->n) { /* a new read syscall */
		u->head_n = u->head_total = 0;
		u->last_read_t = e->t;
	}
	for (size_t i = 0; i < u->head_n; i++)
		if (u->ctx[i] == ctx)
			return; /* two calls of one request answered at once: one continuation */
	if (u->n == READY_MAX) {
		if (u->head_n == u->n)
			return; /* one read completed more than we keep */
		u->n--; /* forget the oldest */
	}
	/* insert at the end of the newest batch, ahead of older reads */
	memmove(&u->ctx[u->head_n + 1], &u->ctx[u->head_n], (u->n - u->head_n) * sizeof(u->ctx[0]));
	u->ctx[u->head_n] = ctx;
	u->head_n++;
	u->head_total++;
	u->n++;
}

static void on_response_write(struct proc_ctx *pc, const struct tev *e)
{
	struct unit *u = unit_of(pc, e->unit);

	for (int m = 0; m < 2 && u->loop[0]; m++)
		ws_loop_respond(u->loop[m], e->idx);
	if (u->loop[0]) {
		note_contradictions(u);
		if (u->open && !--u->open)
			u->epoch++; /* nothing in flight: the models start afresh */
	}

	for (size_t i = 0; i < u->n; i++)
		if (u->ctx[i] == e->idx) { /* the request is answered: its context is used up */
			ready_remove(u, i);
			return;
		}
}

/* The request a goroutine serves at t, as others see it: one it read
 * itself, else the one it was created for, while either is in flight.
 * Replies it read do not count: a goroutine that delivers replies (an
 * HTTP client's connection reader) hands over answers, not work. */
static struct goctx go_context(struct proc_ctx *pc, uint64_t goid, uint64_t t)
{
	struct unit *u = unit_of(pc, goid | GO_UNIT);

	if (in_flight(pc->set, u->served, t))
		return (struct goctx){u->served, 0};
	if (in_flight(pc->set, u->inherited, t))
		return (struct goctx){u->inherited, u->depth};
	return (struct goctx){-1, 0};
}

static void on_spawn(struct proc_ctx *pc, const struct tev *e)
{
	const struct ws_lspawn *sp = &pc->set->spawns[e->idx];
	struct goctx g = sp->parent ? go_context(pc, sp->parent, e->t) : (struct goctx){-1, 0};
	struct unit *child = unit_of(pc, sp->goid | GO_UNIT);

	child->inherited = g.ctx;
	child->depth = g.ctx >= 0 ? (uint8_t)WS_MIN(g.depth + 1, 255) : 0;
}

/* The writer of span idx was last handed a value at e->t: note its
 * waker's context then (EV_WAKE2: the context of the goroutine that had
 * handed the waker a value, when it did). */
static void on_wake(struct proc_ctx *pc, const struct tev *e)
{
	const struct ws_lspan *l = &pc->set->v[e->idx];

	if (e->kind == EV_WAKE)
		pc->waker_ctx[e->idx] = go_context(pc, l->req_waker, e->t);
	else
		pc->waker2_ctx[e->idx] = go_context(pc, l->req_waker2, e->t);
}

static bool in_set(const int32_t *k, size_t n, int32_t x)
{
	for (size_t i = 0; i < n; i++)
		if (k[i] == x)
			return true;
	return false;
}

static void undecided(struct ws_lspan *c, int32_t a, int32_t b)
{
	c->undecided[0] = a;
	c->undecided[1] = b;
}

/* A Go process with runtime probes: the goroutine that wrote the call.
 *  - it read the request itself (a net/http handler, or a client library
 *    that writes in the caller's goroutine): `goroutine`;
 *  - it was created while serving a request, by the goroutine that did (a
 *    handler's `go func()`): `go-spawn`, while that request is in flight;
 *    by one created for it in turn (a client's connection writer, created
 *    by the goroutine that dialled for the call): `go-lineage`, less
 *    certain, as a connection dialled for one call may be handed to
 *    another that waited longer;
 *  - it was made runnable, since its last call, by a goroutine serving a
 *    request (net/http's connection writer is handed each request over a
 *    channel): `go-handoff`.
 * When creation and hand-off disagree, a goroutine the handler created
 * itself keeps its request (what woke it was a pool handing it a
 * connection another request gave back); one created further down (a
 * client's connection writer, dialled for one request and handed
 * another's) follows the hand-off. */
/* The method as named for the process's kind of executor: goroutines, or
 * asyncio tasks (which hand nothing over: no hand-off). */
static int exec_method(const struct proc_ctx *pc, int m)
{
	if (pc->runtime != WS_RT_PYTHON_TASKS)
		return m;
	return m == WS_LINK_GOROUTINE ? WS_LINK_TASK
	       : m == WS_LINK_GO_SPAWN	? WS_LINK_TASK_SPAWN
	       : m == WS_LINK_GO_LINEAGE ? WS_LINK_TASK_LINEAGE
					 : m;
}

static void decide_go(struct proc_ctx *pc, const struct tev *e, const int32_t *k, size_t nk)
{
	struct ws_lspan *c = &pc->set->v[e->idx];
	struct unit *u = unit_of(pc, e->unit);
	int32_t inh = in_set(k, nk, u->inherited) ? u->inherited : -1, wk = -1;
	struct goctx w = pc->waker_ctx[e->idx];
	bool fresh = c->req_waker && c->req_wake > u->last_call_t;

	u->last_call_t = e->t;
	for (size_t i = 0; i < u->n; i++)
		if (u->ctx[i] >= 0 && in_set(k, nk, u->ctx[i])) {
			ws_lspan_set_link(c, u->ctx[i], exec_method(pc, WS_LINK_GOROUTINE));
			return;
		}
	if (fresh && in_set(k, nk, w.ctx))
		wk = w.ctx;
	else if (fresh && w.ctx < 0 && in_set(k, nk, pc->waker2_ctx[e->idx].ctx))
		wk = pc->waker2_ctx[e->idx].ctx; /* a worker of no request passed on what it was handed */
	if (inh >= 0 && (wk < 0 || wk == inh || u->depth <= 1)) {
		ws_lspan_set_link(c, inh, exec_method(pc, u->depth <= 1 ? WS_LINK_GO_SPAWN : WS_LINK_GO_LINEAGE));
		if (wk >= 0 && wk != inh)
			undecided(c, inh, wk);
	} else if (wk >= 0) {
		ws_lspan_set_link(c, wk, WS_LINK_GO_HANDOFF);
		if (inh >= 0)
			undecided(c, wk, inh);
	} else if (nk == 1) {
		ws_lspan_set_link(c, k[0], WS_LINK_INFLIGHT);
	}
}

/* Threads: the writer's own reads (see the file's opening comment). */
static void decide_thread(struct proc_ctx *pc, const struct tev *e, const int32_t *k, size_t nk)
{
	struct ws_lset *set = pc->set;
	struct ws_lspan *c = &set->v[e->idx];
	int32_t kt = -1;
	size_t nkt = 0;

	/* thread-per-request: the writing thread serves exactly one request */
	for (size_t i = 0; i < nk; i++) {
		const struct ws_lspan *s = &set->v[k[i]];
		if (s->req_last_tid == c->tid || s->tid == c->tid) {
			kt = k[i];
			nkt++;
		}
	}
	if (nkt == 1) {
		ws_lspan_set_link(c, kt, WS_LINK_THREAD);
		return;
	}
	if (pc->runtime == WS_RT_PYTHON_TASKS && ws_hashmap_get(&pc->loops, e->unit | 1ull << 62))
		return; /* written by the loop outside any task: no evidence */
	struct unit *u = unit_of(pc, e->unit);
	if (u->loop[0]) { /* a modelled event loop: decided once the replay tells which model fits */
		pc->deferred[pc->ndeferred++] = e->idx;
		return;
	}

	/* a thread that reads no request (a pool's worker) has no evidence of
	 * its own: what it read last was the reply to another job's call */
	if (!ws_hashmap_get(&pc->readers, e->unit | 1ull << 62)) {
		if (nk == 1)
			ws_lspan_set_link(c, k[0], WS_LINK_INFLIGHT);
		return;
	}

	/* another event loop: what did this thread read last? */
	for (size_t i = 0; i < u->n; i++) {
		int32_t ctx = u->ctx[i];
		bool newest = i < u->head_n;
		if (ctx < 0) {
			if (newest && u->head_total == 1)
				return; /* a reply to a call that belonged to no request */
			continue;
		}
		if (!in_set(k, nk, ctx))
			continue;
		if (!newest) {
			ws_lspan_set_link(c, ctx, WS_LINK_EARLIER_READ);
		} else if (u->head_total == 1) {
			ws_lspan_set_link(c, ctx, WS_LINK_LAST_READ); /* may cause several calls */
		} else {
			ws_lspan_set_link(c, ctx, WS_LINK_READ_ORDER); /* one continuation each */
			ready_remove(u, i);
		}
		return;
	}
	if (nk == 1)
		ws_lspan_set_link(c, k[0], WS_LINK_INFLIGHT);
}

/* Both loop models answer the call; the answers wait for the end of the
 * replay (resolve_loops). */
static void loop_calls(struct proc_ctx *pc, const struct tev *e, const int32_t *k, size_t nk)
{
	struct unit *u = unit_of(pc, e->unit);
	const struct ws_lspan *c = &pc->set->v[e->idx];
	struct loop_pick *p = &pc->picks[e->idx];
	struct flight_arg fa = {pc->set, e->t};
	uint64_t ck = conn_key(c);

	if (!u->loop[0])
		return;
	p->u = u;
	for (int m = 0; m < 2; m++) {
		p->why[m] = ws_loop_call(u->loop[m], e->idx, api_key(c), ck, ws_hashmap_get(&pc->shared, ck) != NULL,
					 &p->ctx[m], ctx_in_flight, &fa);
		p->candidate[m] = p->ctx[m] >= 0 && in_set(k, nk, p->ctx[m]);
		u->unanswered[m] += !p->candidate[m];
	}
	note_contradictions(u);
	p->epoch = u->epoch;
}

/* Contradictions per response above which a loop model is not believed
 * for any of the thread's calls. A model that misreads a thread is
 * contradicted by most responses (95% and more on the harness), one that
 * fits by none, or by a few at a client library's warm-up (ioredis
 * flushing the commands it queued while connecting). Below the bound, a
 * contradiction still costs every call of its epoch (see struct unit):
 * a pool queue that went out of step once gives the wrong request to a
 * run of the calls after it (py-asyncio on the harness: one
 * contradiction, 163 of 294 pooled calls wrong, all in one epoch). */
#define LOOP_FIT_MAX 0.05

/* The model that fits the thread: the fewest responses that contradicted
 * it (then the fewest requests it made answer without a call, then the
 * fewest calls it could not give a request). */
static int loop_style(struct unit *u, double *rate)
{
	double r[2];
	uint64_t idle[2];

	if (u->style >= 0) {
		*rate = u->misfit;
		return u->style;
	}
	for (int m = 0; m < 2; m++) {
		uint64_t resp, bad;
		ws_loop_fit(u->loop[m], &resp, &bad, &idle[m]);
		r[m] = resp ? (double)bad / resp : 0;
	}
	int q = WS_LOOP_QUEUE, t = WS_LOOP_TICK;
	int m = r[q] < r[t] || (r[q] == r[t] && (idle[q] < idle[t] ||
						 (idle[q] == idle[t] && u->unanswered[q] < u->unanswered[t])))
		? q
		: t;
	*rate = u->misfit = r[m];
	u->style = m;
	ws_debug("event loop: tick model contradicted %.2f%% of responses, queue model %.2f%%: %s", 100 * r[0],
		 100 * r[1], m == WS_LOOP_TICK ? "tick" : "queue");
	return m;
}

/* The calls of event-loop threads, once the replay is over. */
static void resolve_loops(struct proc_ctx *pc)
{
	static const int method[] = {[WS_LOOP_ONLY] = WS_LINK_LOOP_ONLY,
				     [WS_LOOP_ORDER] = WS_LINK_LOOP_ORDER,
				     [WS_LOOP_POOL] = WS_LINK_POOL_FIFO};

	for (size_t i = 0; i < pc->ndeferred; i++) {
		struct ws_lspan *c = &pc->set->v[pc->deferred[i]];
		const struct loop_pick *p = &pc->picks[pc->deferred[i]];
		double rate;
		int m = loop_style(p->u, &rate);
		if (!p->candidate[m])
			continue;
		if (ws_loop_suspect(p->u->loop[m], pc->deferred[i])) { /* contradicted */
			c->undecided[0] = p->ctx[m];
			continue;
		}
		if (rate > LOOP_FIT_MAX || (p->u->bad[p->epoch] & (1u << m))) {
			/* the thread fits neither model, or not in this stretch:
			 * say what it would be */
			c->undecided[0] = p->ctx[m];
			continue;
		}
		ws_lspan_set_link(c, p->ctx[m], method[p->why[m]]);
	}
	pc->ndeferred = 0;
}

/* How far thread evidence is believed in a Go process without runtime
 * probes (or a syscall whose goroutine could not be read): goroutines
 * move between threads, so a thread's reads are a weak hint there. */
#define GO_THREAD_CONFIDENCE 0.5f


static void on_request_write(struct proc_ctx *pc, const struct tev *e, const int32_t *cand, size_t ncand)
{
	struct ws_lset *set = pc->set;
	struct ws_lspan *c = &set->v[e->idx];
	int32_t k[256];
	size_t nk = 0;

	for (size_t i = 0; i < ncand && nk < WS_ARRAY_SIZE(k); i++) {
		const struct ws_lspan *s = &set->v[cand[i]];
		if (s->req_t[WS_T_LAST_EXIT] > e->t)
			continue; /* its request was not yet read */
		if (!pc->opts->no_traceparent && c->has_tp && s->has_tp && memcmp(c->tp_trace, s->tp_trace, 16) != 0)
			continue; /* the application says: another trace */
		k[nk++] = cand[i];
	}
	c->candidates = (uint16_t)WS_MIN(nk, 65535);
	if (!(e->unit & GO_UNIT)) /* the loop models see every call */
		loop_calls(pc, e, k, nk);
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
			ws_lspan_set_link(c, match, WS_LINK_TRACEPARENT);
			return;
		}
	}
	if (e->unit & GO_UNIT) {
		decide_go(pc, e, k, nk);
		return;
	}
	decide_thread(pc, e, k, nk);
	if (pc->runtime == WS_RT_GO || pc->runtime == WS_RT_GO_UNPROBED)
		c->confidence = WS_MIN(c->confidence, GO_THREAD_CONFIDENCE);
}

/* The executor of one of a span's events: its goroutine when known. */
static uint64_t executor(uint64_t goid, uint32_t tid) { return goid ? goid | GO_UNIT : tid; }

/* A process's events, in time order: the spans' reads and writes, its
 * goroutines' creation, and the wake-ups before calls. */
static struct tev *process_events(struct proc_ctx *pc, const int32_t *idx, size_t n, size_t sp0, size_t sp1,
				  size_t *nev)
{
	struct ws_lset *set = pc->set;
	struct tev *ev = ws_malloc((4 * n + (sp1 - sp0) + 1) * sizeof(*ev));
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		const struct ws_lspan *l = &set->v[idx[i]];
		if (l->kind == WS_SPAN_SERVER) {
			/* asyncio reads a request in the loop's own callback, outside
			 * any task: the task that answers it is the one serving it */
			uint64_t reader = !l->req_last_goid && pc->runtime == WS_RT_PYTHON_TASKS ? l->resp_goid
												 : l->req_last_goid;
			ev[m++] =
			    (struct tev){l->req_t[WS_T_LAST_EXIT], executor(reader, l->req_last_tid), EV_READ, idx[i]};
			ev[m++] = (struct tev){l->resp_t[WS_T_FIRST_ENTER], executor(l->resp_goid, l->resp_last_tid),
					       EV_WRITE_RESPONSE, idx[i]};
			continue;
		}
		/* a goroutine is known: its write is when it made the call */
		uint64_t t = l->req_goid ? write_time(l) : call_time(pc, idx[i]);
		ev[m++] = (struct tev){t, executor(l->req_goid, l->tid), EV_WRITE_REQUEST, idx[i]};
		ev[m++] = (struct tev){l->resp_t[WS_T_LAST_EXIT], executor(l->resp_last_goid, l->resp_last_tid),
				       EV_READ, idx[i]};
		pc->waker_ctx[idx[i]] = pc->waker2_ctx[idx[i]] = (struct goctx){-1, 0};
		if (l->req_goid && l->req_waker && l->req_wake)
			ev[m++] = (struct tev){l->req_wake, l->req_waker | GO_UNIT, EV_WAKE, idx[i]};
		if (l->req_goid && l->req_waker2 && l->req_wake2)
			ev[m++] = (struct tev){l->req_wake2, l->req_waker2 | GO_UNIT, EV_WAKE2, idx[i]};
	}
	for (size_t i = sp0; i < sp1; i++)
		ev[m++] = (struct tev){set->spawns[i].t, set->spawns[i].goid | GO_UNIT, EV_SPAWN, (int32_t)i};
	qsort(ev, m, sizeof(*ev), cmp_tev);
	*nev = m;
	return ev;
}

static int cmp_by_read(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];

	if (x->req_t[WS_T_LAST_EXIT] != y->req_t[WS_T_LAST_EXIT])
		return x->req_t[WS_T_LAST_EXIT] < y->req_t[WS_T_LAST_EXIT] ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static void free_units(struct proc_ctx *pc)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; ws_hashmap_next(&pc->units, &i, &k, &v);) {
		struct unit *u = v;
		ws_loop_free(u->loop[0]);
		ws_loop_free(u->loop[1]);
		free(u->bad);
		free(u);
	}
	ws_hashmap_free(&pc->units);
	ws_hashmap_init(&pc->units);
}

static int cmp_by_conn_write(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];
	uint64_t kx = conn_key(x), ky = conn_key(y);

	if (kx != ky)
		return kx < ky ? -1 : 1;
	if (write_time(x) != write_time(y))
		return write_time(x) < write_time(y) ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static int cmp_by_reader(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];

	if (x->req_last_tid != y->req_last_tid)
		return x->req_last_tid < y->req_last_tid ? -1 : 1;
	if (x->req_t[WS_T_LAST_EXIT] != y->req_t[WS_T_LAST_EXIT])
		return x->req_t[WS_T_LAST_EXIT] < y->req_t[WS_T_LAST_EXIT] ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

/* Threads that read a request while one they read before was still
 * unanswered: event loops (a thread per request, or a pool's worker that
 * reads no request, is not modelled as one). */
static void mark_loops(struct proc_ctx *pc, const int32_t *servers, size_t ns)
{
	int32_t *s = ws_malloc((ns + 1) * sizeof(*s));
	uint64_t busy_until = 0;

	memcpy(s, servers, ns * sizeof(*s));
	qsort_r(s, ns, sizeof(*s), cmp_by_reader, pc->set);
	for (size_t i = 0; i < ns; i++) {
		const struct ws_lspan *l = &pc->set->v[s[i]];
		if (i && l->req_last_tid != pc->set->v[s[i - 1]].req_last_tid)
			busy_until = 0;
		ws_hashmap_put(&pc->readers, (uint64_t)l->req_last_tid | 1ull << 62, (void *)1);
		if (l->req_t[WS_T_LAST_EXIT] < busy_until)
			ws_hashmap_put(&pc->loops, (uint64_t)l->req_last_tid | 1ull << 62, (void *)1);
		busy_until = WS_MAX(busy_until, l->end);
	}
	free(s);
}

/* Connections that carry a request while another is unanswered (one
 * Redis connection shared and pipelined): not pooled. */
static void mark_shared(struct proc_ctx *pc, const int32_t *idx, size_t n)
{
	int32_t *c = ws_malloc((n + 1) * sizeof(*c));
	size_t nc = 0;

	for (size_t i = 0; i < n; i++)
		if (pc->set->v[idx[i]].kind == WS_SPAN_CLIENT)
			c[nc++] = idx[i];
	qsort_r(c, nc, sizeof(*c), cmp_by_conn_write, pc->set);
	for (size_t i = 1; i < nc; i++) {
		const struct ws_lspan *a = &pc->set->v[c[i - 1]], *b = &pc->set->v[c[i]];
		if (conn_key(a) == conn_key(b) && write_time(b) < a->resp_t[WS_T_LAST_EXIT])
			ws_hashmap_put(&pc->shared, conn_key(a), (void *)1);
	}
	free(c);
}

/* Link the client spans of one process; idx holds its spans, spawns
 * [sp0, sp1) its goroutines' creations. */
static void link_process(struct proc_ctx *pc, int32_t *idx, size_t n, size_t sp0, size_t sp1)
{
	struct ws_lset *set = pc->set;
	int32_t *servers = ws_malloc((n + 1) * sizeof(*servers)), *active = ws_malloc((n + 1) * sizeof(*active));
	size_t nev, ns = 0, nactive = 0;
	struct tev *ev = NULL;

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
	mark_shared(pc, idx, n);
	mark_loops(pc, servers, ns);
	ev = process_events(pc, idx, n, sp0, sp1, &nev);
	/* server spans in flight: their request read, their response not
	 * yet written in full (kept by the time the request was read) */
	qsort_r(servers, ns, sizeof(*servers), cmp_by_read, set);
	size_t next = 0;
	for (size_t i = 0; i < nev; i++) {
		const struct tev *e = &ev[i];
		switch (e->kind) {
		case EV_READ: on_read(pc, e); break;
		case EV_WRITE_RESPONSE: on_response_write(pc, e); break;
		case EV_SPAWN: on_spawn(pc, e); break;
		case EV_WAKE:
		case EV_WAKE2: on_wake(pc, e); break;
		default:
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
	resolve_loops(pc);
out:
	free_units(pc);
	ws_hashmap_free(&pc->shared);
	ws_hashmap_init(&pc->shared);
	ws_hashmap_free(&pc->loops);
	ws_hashmap_init(&pc->loops);
	ws_hashmap_free(&pc->readers);
	ws_hashmap_init(&pc->readers);
	free(ev);
	free(servers);
	free(active);
}

static int cmp_proc(const void *a, const void *b, void *arg)
{
	const struct ws_lset *set = arg;
	const struct ws_lspan *x = &set->v[*(const int32_t *)a], *y = &set->v[*(const int32_t *)b];

	if (x->host != y->host)
		return strcmp(x->host, y->host);
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return *(const int32_t *)a - *(const int32_t *)b;
}

static int cmp_spawn(const void *a, const void *b)
{
	const struct ws_lspawn *x = a, *y = b;

	if (x->host != y->host)
		return strcmp(x->host, y->host);
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->t < y->t ? -1 : x->t > y->t;
}

/* Links below the confidence asked for are not made: the request they
 * would have gone to is kept as undecided. */
static void apply_min_confidence(struct ws_lset *set, float min)
{
	for (size_t i = 0; i < set->n && min > 0; i++) {
		struct ws_lspan *l = &set->v[i];
		if (l->kind != WS_SPAN_CLIENT || l->parent < 0 || l->confidence >= min)
			continue;
		if (l->undecided[0] < 0)
			l->undecided[0] = l->parent;
		ws_lspan_set_link(l, -1, WS_LINK_NONE);
	}
}

void ws_link_inside_processes(struct ws_lset *set, const struct ws_link_opts *opts)
{
	int32_t *idx = ws_malloc((set->n + 1) * sizeof(*idx));
	struct proc_ctx pc = {.set = set, .opts = opts};
	size_t n = 0, sp = 0;

	pc.waker_ctx = ws_calloc(set->n + 1, sizeof(*pc.waker_ctx));
	pc.waker2_ctx = ws_calloc(set->n + 1, sizeof(*pc.waker2_ctx));
	pc.picks = ws_calloc(set->n + 1, sizeof(*pc.picks));
	pc.deferred = ws_malloc((set->n + 1) * sizeof(*pc.deferred));
	ws_hashmap_init(&pc.first_on_conn);
	ws_hashmap_init(&pc.units);
	ws_hashmap_init(&pc.shared);
	ws_hashmap_init(&pc.loops);
	ws_hashmap_init(&pc.readers);
	for (size_t i = 0; i < set->n; i++)
		if (set->v[i].kind && set->v[i].pid)
			idx[n++] = (int32_t)i;
	qsort_r(idx, n, sizeof(*idx), cmp_proc, set);
	if (set->nspawns)
		qsort(set->spawns, set->nspawns, sizeof(*set->spawns), cmp_spawn);
	for (size_t i = 0, j; i < n; i = j) {
		const struct ws_lspan *a = &set->v[idx[i]];
		for (j = i + 1; j < n; j++) {
			const struct ws_lspan *b = &set->v[idx[j]];
			if (b->pid != a->pid || b->host != a->host)
				break;
		}
		/* the process's goroutine creations (both lists are in host, pid order) */
		while (sp < set->nspawns && (strcmp(set->spawns[sp].host, a->host) < 0 ||
					     (set->spawns[sp].host == a->host && set->spawns[sp].pid < a->pid)))
			sp++;
		size_t sp1 = sp;
		while (sp1 < set->nspawns && set->spawns[sp1].host == a->host && set->spawns[sp1].pid == a->pid)
			sp1++;
		pc.runtime = ws_lset_runtime(set, a->host, a->pid);
		link_process(&pc, idx + i, j - i, sp, sp1);
		sp = sp1;
	}
	apply_min_confidence(set, opts->min_confidence);
	ws_hashmap_free(&pc.first_on_conn);
	ws_hashmap_free(&pc.units);
	ws_hashmap_free(&pc.shared);
	ws_hashmap_free(&pc.loops);
	ws_hashmap_free(&pc.readers);
	free(pc.waker_ctx);
	free(pc.waker2_ctx);
	free(pc.picks);
	free(pc.deferred);
	free(idx);
}
