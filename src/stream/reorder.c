/* reorder.c -- see reorder.h. */
#include "stream/reorder.h"

#include <stdlib.h>
#include <string.h>

#include "util/util.h"

void ws_reorder_init(struct ws_reorder *r) { memset(r, 0, sizeof(*r)); }

void ws_reorder_free(struct ws_reorder *r)
{
	free(r->arena);
	free(r->spare);
	free(r->items);
	memset(r, 0, sizeof(*r));
}

/* Records keep 8-byte alignment in the arena: they are read as structs. */
static size_t align8(size_t n) { return (n + 7) & ~(size_t)7; }

void ws_reorder_push(struct ws_reorder *r, uint64_t key, uint64_t commit, const void *rec, size_t len)
{
	r->used = align8(r->used);
	if (r->used + len > r->cap) {
		size_t cap = r->cap ? r->cap : 1 << 20;
		while (cap < r->used + len)
			cap *= 2;
		r->arena = ws_realloc(r->arena, cap);
		r->cap = cap;
	}
	if (r->n == r->items_cap) {
		r->items_cap = r->items_cap ? r->items_cap * 2 : 4096;
		r->items = ws_realloc(r->items, r->items_cap * sizeof(*r->items));
	}
	memcpy(r->arena + r->used, rec, len);
	r->items[r->n++] = (struct ws_reorder_item){key, commit, r->seqno++, r->used, (uint32_t)len};
	r->used += len;
	if (r->used > r->peak_bytes)
		r->peak_bytes = r->used;
}

static int cmp_item(const void *a, const void *b)
{
	const struct ws_reorder_item *x = a, *y = b;

	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->seqno < y->seqno ? -1 : x->seqno > y->seqno;
}

/* true when items are already in order (the common case: one busy CPU) */
static int sorted(const struct ws_reorder *r)
{
	for (size_t i = 1; i < r->n; i++)
		if (cmp_item(&r->items[i - 1], &r->items[i]) > 0)
			return 0;
	return 1;
}

size_t ws_reorder_release(struct ws_reorder *r, uint64_t watermark, ws_reorder_fn fn, void *ctx)
{
	size_t i;

	if (!r->n)
		return 0;
	if (!sorted(r))
		qsort(r->items, r->n, sizeof(*r->items), cmp_item);
	for (i = 0; i < r->n; i++) {
		const struct ws_reorder_item *it = &r->items[i];
		if (it->commit > watermark)
			break;
		fn(ctx, r->arena + it->off, it->len);
	}
	size_t released = i;
	if (released == r->n) {
		r->n = 0;
		r->used = 0;
		return released;
	}
	/* keep the rest, compacted into the spare arena */
	size_t need = 0;
	for (size_t k = released; k < r->n; k++)
		need += align8(r->items[k].len);
	if (r->spare_cap < need) {
		r->spare = ws_realloc(r->spare, need);
		r->spare_cap = need;
	}
	size_t off = 0;
	for (size_t k = released; k < r->n; k++) {
		struct ws_reorder_item it = r->items[k];
		memcpy(r->spare + off, r->arena + it.off, it.len);
		it.off = off;
		off += align8(it.len);
		r->items[k - released] = it;
	}
	r->n -= released;
	uint8_t *t = r->arena;
	size_t tc = r->cap;
	r->arena = r->spare;
	r->cap = r->spare_cap;
	r->spare = t;
	r->spare_cap = tc;
	r->used = off;
	return released;
}
