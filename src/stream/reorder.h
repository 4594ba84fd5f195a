/* reorder.h -- put records from several per-CPU streams back in time order.
 *
 * Each ring buffer is drained in turn, so records of one connection that
 * ran on two CPUs arrive out of order. Records are copied in with an order
 * key (when the bytes became visible) and a commit time (when the record
 * could at the latest have been written); release() hands them out in key
 * order, stopping at the first one whose commit time is past the watermark:
 * later drains may still bring records that sort before it. */
#ifndef WIRESPAN_REORDER_H
#define WIRESPAN_REORDER_H

#include <stddef.h>
#include <stdint.h>

struct ws_reorder_item {
	uint64_t key, commit, seqno;
	size_t off;
	uint32_t len;
};

struct ws_reorder {
	uint8_t *arena, *spare;
	size_t used, cap, spare_cap;
	struct ws_reorder_item *items;
	size_t n, items_cap;
	uint64_t seqno;
	size_t peak_bytes;
};

typedef void (*ws_reorder_fn)(void *ctx, const void *rec, size_t len);

void ws_reorder_init(struct ws_reorder *r);
void ws_reorder_free(struct ws_reorder *r);
void ws_reorder_push(struct ws_reorder *r, uint64_t key, uint64_t commit, const void *rec, size_t len);
/* Release in key order until a record committed after watermark; returns
 * how many were released. UINT64_MAX releases everything. */
size_t ws_reorder_release(struct ws_reorder *r, uint64_t watermark, ws_reorder_fn fn, void *ctx);
static inline size_t ws_reorder_pending(const struct ws_reorder *r) { return r->n; }

#endif
