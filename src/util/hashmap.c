/* hashmap.c -- see hashmap.h. */
#include "util/hashmap.h"

#include <stdlib.h>

#include "util/util.h"

void ws_hashmap_init(struct ws_hashmap *m)
{
	m->cap = 64;
	m->len = 0;
	m->keys = ws_calloc(m->cap, sizeof(*m->keys));
	m->vals = ws_calloc(m->cap, sizeof(*m->vals));
}

void ws_hashmap_free(struct ws_hashmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->len = 0;
}

void *ws_hashmap_get(const struct ws_hashmap *m, uint64_t key)
{
	size_t mask = m->cap - 1;

	for (size_t i = ws_mix64(key) & mask;; i = (i + 1) & mask) {
		if (m->keys[i] == key)
			return m->vals[i];
		if (!m->keys[i])
			return NULL;
	}
}

static void grow(struct ws_hashmap *m)
{
	struct ws_hashmap n = {.cap = m->cap * 2};

	n.keys = ws_calloc(n.cap, sizeof(*n.keys));
	n.vals = ws_calloc(n.cap, sizeof(*n.vals));
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			ws_hashmap_put(&n, m->keys[i], m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
}

void ws_hashmap_put(struct ws_hashmap *m, uint64_t key, void *val)
{
	size_t mask;

	if ((m->len + 1) * 10 > m->cap * 7)
		grow(m);
	mask = m->cap - 1;
	for (size_t i = ws_mix64(key) & mask;; i = (i + 1) & mask) {
		if (m->keys[i] == key) {
			m->vals[i] = val;
			return;
		}
		if (!m->keys[i]) {
			m->keys[i] = key;
			m->vals[i] = val;
			m->len++;
			return;
		}
	}
}

void *ws_hashmap_del(struct ws_hashmap *m, uint64_t key)
{
	size_t mask = m->cap - 1, i = ws_mix64(key) & mask;
	void *val;

	while (m->keys[i] != key) {
		if (!m->keys[i])
			return NULL;
		i = (i + 1) & mask;
	}
	val = m->vals[i];
	/* Backward-shift: move later members of the cluster into the hole when
	 * their home slot does not lie cyclically in (hole, j]. */
	for (size_t j = (i + 1) & mask; m->keys[j]; j = (j + 1) & mask) {
		size_t home = ws_mix64(m->keys[j]) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->keys[i] = m->keys[j];
			m->vals[i] = m->vals[j];
			i = j;
		}
	}
	m->keys[i] = 0;
	m->vals[i] = NULL;
	m->len--;
	return val;
}

int ws_hashmap_next(const struct ws_hashmap *m, size_t *iter, uint64_t *key, void **val)
{
	for (size_t i = *iter; i < m->cap; i++) {
		if (m->keys[i]) {
			*key = m->keys[i];
			*val = m->vals[i];
			*iter = i + 1;
			return 1;
		}
	}
	return 0;
}
