/* loop.c -- see loop.h. */
#include "trace/loop.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define FIFO_MAX 4096 /* contexts a queue keeps: beyond, the oldest are forgotten */
#define CLASSES_MAX 256

static struct ws_loop_entry *at(struct ws_loop_fifo *f, size_t i) { return &f->v[f->head + i]; }

static void push(struct ws_loop *l, struct ws_loop_fifo *f, struct ws_loop_entry e)
{
	if (f->n == FIFO_MAX) {
		f->head++;
		f->n--;
		l->dropped++;
	}
	if (f->head + f->n == f->cap) {
		if (f->head > f->cap / 2) { /* room at the front: move down */
			memmove(f->v, f->v + f->head, f->n * sizeof(*f->v));
			f->head = 0;
		} else {
			f->cap = f->cap ? f->cap * 2 : 16;
			f->v = ws_realloc(f->v, f->cap * sizeof(*f->v));
		}
	}
	f->v[f->head + f->n++] = e;
}

static void remove_at(struct ws_loop_fifo *f, size_t i)
{
	if (i == 0)
		f->head++;
	else
		memmove(at(f, i), at(f, i + 1), (f->n - i - 1) * sizeof(*f->v));
	if (!--f->n)
		f->head = 0;
}

/* Waiting contexts stay in the order they were made ready. */
static void push_waiting(struct ws_loop *l, struct ws_loop_entry e)
{
	size_t i = l->waiting.n;

	push(l, &l->waiting, e);
	while (i > 0 && at(&l->waiting, i - 1)->seq > e.seq) {
		*at(&l->waiting, i) = *at(&l->waiting, i - 1);
		i--;
	}
	*at(&l->waiting, i) = e;
}

void ws_loop_init(struct ws_loop *l, enum ws_loop_style style)
{
	memset(l, 0, sizeof(*l));
	l->style = style;
	l->last_read_ctx = -1;
	ws_hashmap_init(&l->cls_index);
	ws_hashmap_init(&l->affinity);
	ws_hashmap_init(&l->used);
}

void ws_loop_free(struct ws_loop *l)
{
	for (size_t i = 0; i < l->ncls; i++)
		free(l->cls[i].q.v);
	free(l->cls);
	free(l->waiting.v);
	ws_hashmap_free(&l->cls_index);
	ws_hashmap_free(&l->affinity);
	ws_hashmap_free(&l->used);
	memset(l, 0, sizeof(*l));
}

static struct ws_loop_class *class_of(struct ws_loop *l, uint64_t key)
{
	uintptr_t i = (uintptr_t)ws_hashmap_get(&l->cls_index, key | 1);

	if (i)
		return &l->cls[i - 1];
	if (l->ncls == CLASSES_MAX)
		return &l->cls[CLASSES_MAX - 1]; /* so many peers: the last class takes the rest */
	l->cls = ws_realloc(l->cls, (l->ncls + 1) * sizeof(*l->cls));
	l->cls[l->ncls] = (struct ws_loop_class){.key = key};
	ws_hashmap_put(&l->cls_index, key | 1, (void *)(uintptr_t)(l->ncls + 1));
	return &l->cls[l->ncls++];
}

void ws_loop_read(struct ws_loop *l, uint64_t t, int32_t ctx, uint64_t cls_key)
{
	struct ws_loop_class *c = class_of(l, cls_key);

	if (t != l->last_read_t) {
		l->last_read_t = t;
		l->last_read_n = 0;
		l->called_since_read = false;
	}
	for (size_t i = 0; i < l->waiting.n && ctx >= 0; i++)
		if (at(&l->waiting, i)->ctx == ctx) { /* it has something to act on again */
			remove_at(&l->waiting, i);
			break;
		}
	for (size_t i = 0; i < c->q.n; i++)
		if (at(&c->q, i)->ctx == ctx && at(&c->q, i)->seq >= l->seq - l->last_read_n)
			return; /* two calls of one request answered by one read: one continuation */
	push(l, &c->q, (struct ws_loop_entry){ctx, (uint32_t)(c - l->cls), ++l->seq});
	l->last_read_n++;
	l->last_read_ctx = ctx;
}

void ws_loop_respond(struct ws_loop *l, int32_t ctx)
{
	for (size_t i = 0; i < l->waiting.n; i++)
		if (at(&l->waiting, i)->ctx == ctx) {
			remove_at(&l->waiting, i);
			return;
		}
	for (size_t k = 0; k < l->ncls; k++) {
		struct ws_loop_fifo *q = &l->cls[k].q;
		for (size_t i = 0; i < q->n; i++) {
			if (at(q, i)->ctx != ctx)
				continue;
			while (i--) { /* the ones before it in its class were passed over */
				struct ws_loop_entry e = *at(q, 0);
				remove_at(q, 0);
				if (e.ctx >= 0)
					push_waiting(l, e);
			}
			remove_at(q, 0);
			return;
		}
	}
}

static uint64_t affinity_key(uint64_t cls_key, uint64_t peer) { return ws_mix64(cls_key ^ ws_mix64(peer)) | 1; }

/* The oldest context of the class whose steps call peer (most often so
 * far; among equals, the oldest head). */
static enum ws_loop_why class_head(struct ws_loop *l, uint64_t peer, int32_t *ctx)
{
	struct ws_loop_class *best = NULL;
	uintptr_t best_n = 0;
	unsigned heads = 0, with_calls = 0;

	for (size_t k = 0; k < l->ncls; k++) {
		struct ws_loop_class *c = &l->cls[k];
		if (!c->q.n)
			continue;
		uintptr_t n = (uintptr_t)ws_hashmap_get(&l->affinity, affinity_key(c->key, peer));
		heads++;
		with_calls += n > 0;
		if (!best || n > best_n || (n == best_n && at(&c->q, 0)->seq < at(&best->q, 0)->seq)) {
			best = c;
			best_n = n;
		}
	}
	if (!best)
		return WS_LOOP_NONE;
	*ctx = at(&best->q, 0)->ctx;
	remove_at(&best->q, 0);
	ws_hashmap_put(&l->affinity, affinity_key(best->key, peer), (void *)(best_n + 1));
	return heads == 1 ? WS_LOOP_ONLY : with_calls == 1 ? WS_LOOP_ORDER : WS_LOOP_GUESS;
}

enum ws_loop_why ws_loop_call(struct ws_loop *l, uint64_t conn, bool shared, uint64_t peer, int32_t *ctx,
			      ws_loop_alive_fn alive, void *arg)
{
	bool used = ws_hashmap_get(&l->used, conn | 1) != NULL;
	enum ws_loop_why why = WS_LOOP_NONE;

	ws_hashmap_put(&l->used, conn | 1, (void *)1);
	for (size_t i = 0; i < l->waiting.n;) /* answered by other means, or gone */
		if (!alive(arg, at(&l->waiting, i)->ctx))
			remove_at(&l->waiting, i);
		else
			i++;
	/* a pooled connection given back, or (asyncio) one opened late for a
	 * call that waited (for a name lookup), goes to the oldest waiting */
	if (l->waiting.n && !shared && (used || l->style == WS_LOOP_QUEUE)) {
		*ctx = at(&l->waiting, 0)->ctx;
		remove_at(&l->waiting, 0);
		why = WS_LOOP_POOL;
	} else if (l->style == WS_LOOP_TICK && l->called_since_read && l->last_read_n == 1) {
		*ctx = l->last_read_ctx; /* Node: one continuation, several calls */
		why = WS_LOOP_ONLY;
	} else {
		why = class_head(l, peer, ctx);
	}
	l->called_since_read = true;
	return why;
}
