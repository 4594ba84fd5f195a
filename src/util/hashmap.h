/* hashmap.h -- open-addressing map from a nonzero 64-bit key to a pointer.
 *
 * Linear probing with backward-shift deletion: no tombstones, so lookups
 * stay short under churn. Capacity is a power of two and doubles at 70%
 * load. Not thread-safe; one owner per map. */
#ifndef WIRESPAN_HASHMAP_H
#define WIRESPAN_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct ws_hashmap {
	uint64_t *keys; /* 0 = empty slot */
	void **vals;
	size_t cap;     /* power of two */
	size_t len;
};

void ws_hashmap_init(struct ws_hashmap *m);
void ws_hashmap_free(struct ws_hashmap *m);
/* The value for key, or NULL. key must be nonzero. */
void *ws_hashmap_get(const struct ws_hashmap *m, uint64_t key);
/* Insert or replace. key must be nonzero and val non-NULL. */
void ws_hashmap_put(struct ws_hashmap *m, uint64_t key, void *val);
/* Remove and return the value, or NULL when absent. */
void *ws_hashmap_del(struct ws_hashmap *m, uint64_t key);

/* Iterate: for (size_t i = 0; ws_hashmap_next(m, &i, &k, &v);) ...
 * The map must not change during iteration. */
int ws_hashmap_next(const struct ws_hashmap *m, size_t *iter, uint64_t *key, void **val);

#endif
