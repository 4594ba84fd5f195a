/* loop.c -- see loop.h. Queues are small (the contexts in flight on one
 * thread), so they are arrays scanned in order. */
#include "trace/loop.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define APIS_MAX 8      /* kinds of call one step is known to make */
#define ENTRIES_MAX 4096 /* contexts one queue keeps: beyond, the oldest are forgotten */

/* A context made ready, and what its step has called so far. */
struct entry {
	int32_t ctx;
	uint64_t cls;
	uint64_t seq;
	uint64_t api[APIS_MAX]; /* kinds of call made in this step */
	uint8_t n[APIS_MAX];
	uint8_t napi;
};

struct entries {
	struct entry *v;
	size_t n, cap;
};

/* What one kind of step calls (tick style): at most, per kind of call. */
struct sig {
	uint64_t api[APIS_MAX];
	uint8_t n[APIS_MAX];
	bool shared[APIS_MAX];
	uint8_t napi;
};

/* The calls waiting for a connection of one kind, oldest first. */
struct pool {
	int32_t *ctx;
	size_t head, n, cap;
};

struct ws_loop {
	enum ws_loop_style style;
	struct ws_hashmap call_ctx;    /* call + 1 -> the context given it + 2 */
	struct ws_hashmap open_calls;  /* call + 1 -> 1 while unanswered */
	struct ws_hashmap suspect;     /* call + 1 -> 1: its context answered before it */
	struct ws_hashmap callers;     /* context + 2 -> 1: the model gave it a call */
	uint64_t idle;                 /* responses of contexts the model gave no call */
	struct ws_hashmap outstanding; /* context + 2 -> calls written and unanswered */
	struct ws_hashmap queued;      /* context + 2 -> calls waiting in a pool (tick) */
	uint64_t responses, contradictions;
	/* tick */
	struct entries tick; /* the steps the last read made ready */
	uint64_t tick_t;
	uint64_t tick_freed; /* pooled connection the last read gave back */
	struct ws_hashmap sigs;  /* class -> struct sig */
	struct ws_hashmap pools; /* kind of call -> struct pool */
	struct ws_hashmap shared_api; /* kind of call -> 1: it goes over shared connections */
	/* queue */
	struct entries ready, waiting;
	struct ws_hashmap affinity; /* class and kind of call -> calls made */
	uint64_t seq;
};

/* ---- small helpers ---- */

static uint64_t key(int32_t x) { return (uint64_t)(int64_t)x + 2; }

static uint64_t count_get(struct ws_hashmap *m, int32_t ctx) { return (uintptr_t)ws_hashmap_get(m, key(ctx)); }

static void count_add(struct ws_hashmap *m, int32_t ctx, int d)
{
	uint64_t v = count_get(m, ctx);

	v = d < 0 && v < (uint64_t)-d ? 0 : v + d;
	if (v)
		ws_hashmap_put(m, key(ctx), (void *)(uintptr_t)v);
	else
		ws_hashmap_del(m, key(ctx));
}

static struct entry *entry_push(struct entries *q, int32_t ctx, uint64_t cls, uint64_t seq)
{
	if (q->n == ENTRIES_MAX) { /* forget the oldest */
		memmove(q->v, q->v + 1, (q->n - 1) * sizeof(*q->v));
		q->n--;
	}
	if (q->n == q->cap) {
		q->cap = q->cap ? q->cap * 2 : 16;
		q->v = ws_realloc(q->v, q->cap * sizeof(*q->v));
	}
	struct entry *e = &q->v[q->n++];
	memset(e, 0, sizeof(*e));
	e->ctx = ctx;
	e->cls = cls;
	e->seq = seq;
	return e;
}

static void entry_remove(struct entries *q, size_t i)
{
	memmove(&q->v[i], &q->v[i + 1], (q->n - i - 1) * sizeof(*q->v));
	q->n--;
}

static unsigned called(const struct entry *e, uint64_t api)
{
	for (unsigned i = 0; i < e->napi; i++)
		if (e->api[i] == api)
			return e->n[i];
	return 0;
}

static void note_call(struct entry *e, uint64_t api)
{
	for (unsigned i = 0; i < e->napi; i++)
		if (e->api[i] == api) {
			e->n[i] += e->n[i] < 255;
			return;
		}
	if (e->napi < APIS_MAX) {
		e->api[e->napi] = api;
		e->n[e->napi++] = 1;
	}
}

static void pool_push(struct pool *p, int32_t ctx)
{
	if (p->head + p->n == p->cap) {
		if (p->head) {
			memmove(p->ctx, p->ctx + p->head, p->n * sizeof(*p->ctx));
			p->head = 0;
		} else {
			p->cap = p->cap ? p->cap * 2 : 16;
			p->ctx = ws_realloc(p->ctx, p->cap * sizeof(*p->ctx));
		}
	}
	p->ctx[p->head + p->n++] = ctx;
}

struct ws_loop *ws_loop_new(enum ws_loop_style style)
{
	struct ws_loop *l = ws_calloc(1, sizeof(*l));

	l->style = style;
	ws_hashmap_init(&l->call_ctx);
	ws_hashmap_init(&l->open_calls);
	ws_hashmap_init(&l->suspect);
	ws_hashmap_init(&l->callers);
	ws_hashmap_init(&l->outstanding);
	ws_hashmap_init(&l->queued);
	ws_hashmap_init(&l->sigs);
	ws_hashmap_init(&l->pools);
	ws_hashmap_init(&l->shared_api);
	ws_hashmap_init(&l->affinity);
	return l;
}

static void free_values(struct ws_hashmap *m, bool pools)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; ws_hashmap_next(m, &i, &k, &v);) {
		if (pools)
			free(((struct pool *)v)->ctx);
		free(v);
	}
	ws_hashmap_free(m);
}

void ws_loop_free(struct ws_loop *l)
{
	if (!l)
		return;
	ws_hashmap_free(&l->call_ctx);
	ws_hashmap_free(&l->open_calls);
	ws_hashmap_free(&l->suspect);
	ws_hashmap_free(&l->callers);
	ws_hashmap_free(&l->outstanding);
	ws_hashmap_free(&l->queued);
	free_values(&l->sigs, false);
	free_values(&l->pools, true);
	ws_hashmap_free(&l->shared_api);
	ws_hashmap_free(&l->affinity);
	free(l->tick.v);
	free(l->ready.v);
	free(l->waiting.v);
	free(l);
}

bool ws_loop_suspect(const struct ws_loop *l, int32_t call)
{
	return ws_hashmap_get(&l->suspect, (uint64_t)call + 1) != NULL;
}

void ws_loop_fit(const struct ws_loop *l, uint64_t *responses, uint64_t *contradictions, uint64_t *idle)
{
	*responses = l->responses;
	*contradictions = l->contradictions;
	*idle = l->idle;
}

/* ---- tick (Node.js) ---- */

static struct sig *sig_of(struct ws_loop *l, uint64_t cls)
{
	struct sig *s = ws_hashmap_get(&l->sigs, cls | 1);

	if (!s) {
		s = ws_calloc(1, sizeof(*s));
		ws_hashmap_put(&l->sigs, cls | 1, s);
	}
	return s;
}

static struct pool *pool_of(struct ws_loop *l, uint64_t api)
{
	struct pool *p = ws_hashmap_get(&l->pools, api | 1);

	if (!p) {
		p = ws_calloc(1, sizeof(*p));
		ws_hashmap_put(&l->pools, api | 1, p);
	}
	return p;
}

/* The steps of the last read are over: what each made is learnt; the
 * pooled calls its kind of step makes that it did not write wait in the
 * pool's queue, in order. */
static void end_tick(struct ws_loop *l)
{
	for (size_t i = 0; i < l->tick.n; i++) {
		const struct entry *e = &l->tick.v[i];
		struct sig *s = sig_of(l, e->cls);
		for (unsigned k = 0; k < s->napi && e->ctx >= 0; k++) {
			unsigned c = called(e, s->api[k]);
			if (ws_hashmap_get(&l->shared_api, s->api[k] | 1))
				continue; /* never waits for a connection */
			for (unsigned m = c; m < s->n[k]; m++) {
				pool_push(pool_of(l, s->api[k]), e->ctx);
				count_add(&l->queued, e->ctx, 1);
			}
		}
		for (unsigned k = 0; k < e->napi; k++) { /* learn: the most calls of a kind one step made */
			unsigned j = 0;
			while (j < s->napi && s->api[j] != e->api[k])
				j++;
			if (j == s->napi && s->napi < APIS_MAX)
				s->api[s->napi++] = e->api[k];
			if (j < APIS_MAX && s->n[j] < e->n[k])
				s->n[j] = e->n[k];
		}
	}
	l->tick.n = 0;
	l->tick_freed = 0;
}

static enum ws_loop_why tick_call(struct ws_loop *l, uint64_t api, uint64_t conn, int32_t *ctx,
				  bool (*alive)(void *, int32_t), void *arg)
{
	if (conn && conn == l->tick_freed) { /* a connection given back: to the queue's oldest call */
		struct pool *p = ws_hashmap_get(&l->pools, api | 1);
		while (p && p->n && !alive(arg, p->ctx[p->head])) {
			count_add(&l->queued, p->ctx[p->head], -1);
			p->head++, p->n--;
		}
		if (p && p->n) {
			*ctx = p->ctx[p->head];
			p->head++, p->n--;
			count_add(&l->queued, *ctx, -1);
			l->tick_freed = 0;
			return WS_LOOP_POOL;
		}
	}
	if (!l->tick.n)
		return WS_LOOP_NONE;
	struct entry *e = NULL;
	if (l->tick.n == 1) {
		e = &l->tick.v[0];
	} else { /* the first step that still makes calls of that kind */
		for (size_t i = 0; i < l->tick.n && !e; i++) {
			const struct sig *s = sig_of(l, l->tick.v[i].cls);
			unsigned want = 1;
			for (unsigned k = 0; k < s->napi; k++)
				if (s->api[k] == api)
					want = WS_MAX(want, s->n[k]);
			if (called(&l->tick.v[i], api) < want)
				e = &l->tick.v[i];
		}
	}
	if (!e)
		return WS_LOOP_NONE;
	note_call(e, api);
	*ctx = e->ctx;
	return l->tick.n == 1 ? WS_LOOP_ONLY : WS_LOOP_ORDER;
}

/* ---- queue (asyncio) ---- */

static uint64_t affinity_key(uint64_t cls, uint64_t api) { return ws_mix64(cls ^ ws_mix64(api)) | 1; }

/* Same-class contexts ahead of the one at i made no call in their turn. */
static void passed_over(struct ws_loop *l, size_t i)
{
	uint64_t cls = l->ready.v[i].cls, seq = l->ready.v[i].seq;

	for (size_t k = 0; k < l->ready.n;) {
		struct entry *e = &l->ready.v[k];
		if (e->cls == cls && e->seq < seq && !e->napi && e->ctx >= 0) {
			struct entry *w = entry_push(&l->waiting, e->ctx, e->cls, e->seq);
			(void)w;
			entry_remove(&l->ready, k);
			if (k < i)
				i--;
		} else {
			k++;
		}
	}
}

static enum ws_loop_why queue_call(struct ws_loop *l, uint64_t api, uint64_t conn, bool shared, int32_t *ctx,
				   bool (*alive)(void *, int32_t), void *arg)
{
	for (size_t i = 0; i < l->waiting.n;)
		if (!alive(arg, l->waiting.v[i].ctx))
			entry_remove(&l->waiting, i);
		else
			i++;
	if (!shared && l->waiting.n) { /* a pooled connection: to the oldest waiting call */
		size_t best = 0;
		for (size_t i = 1; i < l->waiting.n; i++)
			if (l->waiting.v[i].seq < l->waiting.v[best].seq)
				best = i;
		struct entry e = l->waiting.v[best];
		entry_remove(&l->waiting, best);
		note_call(&e, api);
		*entry_push(&l->ready, e.ctx, e.cls, e.seq) = e;
		*ctx = e.ctx;
		(void)conn;
		return WS_LOOP_POOL;
	}
	/* the oldest context, of the class whose steps make such calls, that
	 * has not made one in this step */
	struct entry *best = NULL;
	uintptr_t best_aff = 0;
	unsigned classes = 0;
	for (size_t i = 0; i < l->ready.n; i++) {
		struct entry *e = &l->ready.v[i];
		if (called(e, api))
			continue;
		uintptr_t a = (uintptr_t)ws_hashmap_get(&l->affinity, affinity_key(e->cls, api));
		if (!best || a > best_aff || (a == best_aff && e->seq < best->seq)) {
			classes += !best || e->cls != best->cls;
			best = e;
			best_aff = a;
		}
	}
	if (!best)
		return WS_LOOP_NONE;
	note_call(best, api);
	ws_hashmap_put(&l->affinity, affinity_key(best->cls, api), (void *)(best_aff + 1));
	*ctx = best->ctx;
	return l->ready.n == 1 ? WS_LOOP_ONLY : WS_LOOP_ORDER;
}

/* ---- both ---- */

void ws_loop_read(struct ws_loop *l, uint64_t t, int32_t ctx, int32_t call, uint64_t cls, uint64_t pooled_conn)
{
	if (call >= 0) { /* a reply: its context goes on once all its calls are answered */
		uintptr_t c = (uintptr_t)ws_hashmap_get(&l->call_ctx, (uint64_t)call + 1);
		if (!c)
			return; /* a call the model gave no context */
		ctx = (int32_t)((int64_t)c - 2);
		count_add(&l->outstanding, ctx, -1);
		ws_hashmap_del(&l->open_calls, (uint64_t)call + 1);
	}
	if (l->style == WS_LOOP_TICK && t != l->tick_t) {
		end_tick(l);
		l->tick_t = t;
	}
	if (pooled_conn)
		l->tick_freed = pooled_conn;
	if (ctx >= 0 && (count_get(&l->outstanding, ctx) || count_get(&l->queued, ctx)))
		return; /* it awaits its other calls */
	if (l->style == WS_LOOP_TICK) {
		entry_push(&l->tick, ctx, cls, 0);
		return;
	}
	for (size_t i = 0; i < l->ready.n;) /* its earlier step is over */
		if (l->ready.v[i].ctx == ctx && ctx >= 0)
			entry_remove(&l->ready, i);
		else
			i++;
	for (size_t i = 0; i < l->waiting.n;)
		if (l->waiting.v[i].ctx == ctx && ctx >= 0)
			entry_remove(&l->waiting, i);
		else
			i++;
	entry_push(&l->ready, ctx, cls, ++l->seq);
}

void ws_loop_respond(struct ws_loop *l, int32_t ctx)
{
	l->responses++;
	if (!ws_hashmap_del(&l->callers, key(ctx)))
		l->idle++;
	if (count_get(&l->outstanding, ctx) || count_get(&l->queued, ctx)) {
		/* done, with calls the model gave it unanswered: those were
		 * another's, and are not believed */
		uint64_t k;
		void *v;
		l->contradictions++;
		for (size_t i = 0; ws_hashmap_next(&l->open_calls, &i, &k, &v);)
			if ((intptr_t)ws_hashmap_get(&l->call_ctx, k) == (intptr_t)key(ctx))
				ws_hashmap_put(&l->suspect, k, (void *)1);
	}
	if (l->style == WS_LOOP_QUEUE) {
		for (size_t i = 0; i < l->ready.n; i++)
			if (l->ready.v[i].ctx == ctx) {
				passed_over(l, i);
				break;
			}
		for (size_t i = 0; i < l->ready.n;)
			if (l->ready.v[i].ctx == ctx)
				entry_remove(&l->ready, i);
			else
				i++;
	}
	for (size_t i = 0; i < l->waiting.n;)
		if (l->waiting.v[i].ctx == ctx)
			entry_remove(&l->waiting, i);
		else
			i++;
	ws_hashmap_del(&l->outstanding, key(ctx));
	ws_hashmap_del(&l->queued, key(ctx));
}

enum ws_loop_why ws_loop_call(struct ws_loop *l, int32_t call, uint64_t api, uint64_t conn, bool shared, int32_t *ctx,
			      bool (*alive)(void *arg, int32_t ctx), void *arg)
{
	enum ws_loop_why why;

	*ctx = -1;
	if (shared)
		ws_hashmap_put(&l->shared_api, api | 1, (void *)1);
	if (l->style == WS_LOOP_TICK)
		why = tick_call(l, api, shared ? 0 : conn, ctx, alive, arg);
	else
		why = queue_call(l, api, conn, shared, ctx, alive, arg);
	if (why != WS_LOOP_NONE) {
		ws_hashmap_put(&l->call_ctx, (uint64_t)call + 1, (void *)(uintptr_t)key(*ctx));
		if (*ctx >= 0) {
			/* a task awaits one call at a time: a second while
			 * one is unanswered is a task the model does not see
			 * (asyncio.gather's children, create_task) */
			if (l->style == WS_LOOP_QUEUE && count_get(&l->outstanding, *ctx))
				l->contradictions++;
			count_add(&l->outstanding, *ctx, 1);
			ws_hashmap_put(&l->callers, key(*ctx), (void *)1);
			ws_hashmap_put(&l->open_calls, (uint64_t)call + 1, (void *)1);
		}
	}
	return why;
}
