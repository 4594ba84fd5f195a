/* link.c -- see link.h: the joins across connections, then the links
 * inside processes (inproc.c), then the trees cut into traces. */
#include "trace/link.h"
#include "trace/inproc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ---- linking ---- */


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
		if (set->v[i].kind == WS_SPAN_CLIENT && !set->v[i].req_noseq) {
			uint64_t k = exchange_key(&set->v[i]);
			if (!ws_hashmap_get(&clients, k))
				ws_hashmap_put(&clients, k, (void *)(uintptr_t)(i + 1));
		}
	for (size_t i = 0; i < set->n; i++) {
		struct ws_lspan *s = &set->v[i];
		if (s->kind != WS_SPAN_SERVER || s->req_noseq)
			continue;
		uintptr_t c = (uintptr_t)ws_hashmap_get(&clients, exchange_key(s));
		if (c && same_exchange(&set->v[c - 1], s))
			ws_lspan_set_link(s, (int32_t)(c - 1), WS_LINK_TCP);
	}
	ws_hashmap_free(&clients);
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
				ws_lspan_set_link(&set->v[x], -1, WS_LINK_NONE);
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
	ws_lspan_set_link(l, -1, WS_LINK_NONE);
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
			ws_root_trace_id(set->v[r].span_id, l->trace_id);
		}
	}
	free(order);
	free(root);
	free(eff);
	free(tree);
}

void ws_root_trace_id(uint64_t span_id, uint8_t id[16])
{
	ws_be64_put(id, ws_mix64(span_id) | 1); /* prefixes differ: ids can be shortened */
	ws_be64_put(id + 8, span_id);
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
		for (size_t k = 0; k < WS_ARRAY_SIZE(l->undecided); k++)
			l->undecided[k] = -1;
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
	ws_link_inside_processes(set, opts);
	assign_traces(set, !opts->no_traceparent);
}
