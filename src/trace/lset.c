/* lset.c -- the set of spans trace assembly works on (see link.h): the
 * spans as linking needs them, the strings they share, what each process
 * runs, goroutine and task creations, and each link method's name and
 * confidence. */
#include "trace/link.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/redis.h"
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
	[WS_LINK_GOROUTINE] = {"goroutine", 1.0f},
	[WS_LINK_GO_SPAWN] = {"go-spawn", 1.0f},
	[WS_LINK_GO_LINEAGE] = {"go-lineage", 0.9f},
	[WS_LINK_GO_HANDOFF] = {"go-handoff", 1.0f},
	[WS_LINK_LOOP_ONLY] = {"loop-only", 0.95f},
	[WS_LINK_LOOP_ORDER] = {"loop-order", 0.95f},
	[WS_LINK_POOL_FIFO] = {"pool-fifo", 0.95f},
	[WS_LINK_TASK] = {"task", 1.0f},
	[WS_LINK_TASK_SPAWN] = {"task-spawn", 1.0f},
	[WS_LINK_TASK_LINEAGE] = {"task-lineage", 0.9f},
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
	ws_hashmap_init(&set->runtimes);
	ws_hashmap_init(&set->boots);
}

void ws_lset_free(struct ws_lset *set)
{
	for (size_t i = 0; i < set->nblocks; i++)
		free(set->blocks[i]);
	free(set->blocks);
	ws_big_free(set->v, set->cap * sizeof(*set->v));
	free(set->spawns);
	ws_hashmap_free(&set->strings);
	ws_hashmap_free(&set->runtimes);
	ws_hashmap_free(&set->boots);
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
		size_t had = set->cap;
		set->cap = set->cap ? set->cap * 2 : 1024;
		set->v = ws_big_realloc(set->v, had * sizeof(*set->v), set->cap * sizeof(*set->v));
	}
	l = &set->v[set->n++];
	memset(l, 0, sizeof(*l));
	l->order = (uint32_t)(set->n - 1);
	l->span_id = ws_be64_get(s->span_id);
	l->kind = s->kind;
	l->db = db;
	l->host = intern(set, s->host);
	l->service = intern(set, s->service);
	const struct proto_ops *ops = ws_proto_ops(s->proto);
	const struct proto_span *ps = ops ? ops->span : NULL;
	if (ps && ps->target_names && s->target[0]) {
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
	l->req_goid = s->req_goid;
	l->req_last_goid = s->req_last_goid;
	l->resp_goid = s->resp_goid;
	l->resp_last_goid = s->resp_last_goid;
	l->req_waker = s->req_waker;
	l->req_wake = s->req_wake_ns;
	l->req_waker2 = s->req_waker2;
	l->req_wake2 = s->req_wake2_ns;
	if (s->traceparent[0])
		l->has_tp = ws_traceparent_parse(s->traceparent, l->tp_trace, &l->tp_parent);
	l->error = s->error[0] != 0;
	l->error_type = intern(set, s->error);
	/* files written before the flag: the commands that always block */
	l->blocking = (s->flags & WS_MSGF_BLOCKING) || (ps && ps->blocking && ps->blocking(s->name));
	l->req_noseq = (s->flags & WS_MSGF_NOSEQ) != 0;
	l->resp_noseq = (s->flags & WS_MSGF_RESP_NOSEQ) != 0;
	l->parent = -1;
	return l;
}

struct start_key {
	uint64_t start;
	size_t i;
};

static int cmp_start(const void *a, const void *b)
{
	const struct start_key *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

void ws_lset_sort(struct ws_lset *set)
{
	struct start_key *k = ws_malloc((set->n + 1) * sizeof(*k));
	bool sorted = true;

	for (size_t i = 0; i < set->n; i++) {
		k[i] = (struct start_key){set->v[i].start, i};
		sorted = sorted && (i == 0 || k[i - 1].start <= k[i].start);
	}
	if (!sorted) {
		qsort(k, set->n, sizeof(*k), cmp_start);
		/* in place, one cycle of the permutation at a time: slot i
		 * takes the span at k[i].i (the array is large) */
		for (size_t i = 0; i < set->n; i++) {
			if (k[i].i == i || k[i].i == SIZE_MAX)
				continue;
			struct ws_lspan held = set->v[i];
			size_t to = i;
			while (k[to].i != i) {
				size_t from = k[to].i;
				set->v[to] = set->v[from];
				k[to].i = SIZE_MAX;
				to = from;
			}
			set->v[to] = held;
			k[to].i = SIZE_MAX;
		}
	}
	free(k);
}

int ws_runtime_parse(const char *name, bool traced)
{
	if (strncmp(name, "go", 2) == 0)
		return traced ? WS_RT_GO : WS_RT_GO_UNPROBED;
	if (strcmp(name, "node") == 0)
		return WS_RT_NODE;
	if (strcmp(name, "python") == 0)
		return traced ? WS_RT_PYTHON_TASKS : WS_RT_PYTHON;
	if (strcmp(name, "java") == 0)
		return WS_RT_JAVA;
	return WS_RT_NATIVE;
}

void ws_lset_add_spawn(struct ws_lset *set, const char *host, uint32_t pid, uint64_t goid, uint64_t parent,
		       uint64_t t)
{
	if (set->nspawns == set->capspawns) {
		set->capspawns = set->capspawns ? set->capspawns * 2 : 1024;
		set->spawns = ws_realloc(set->spawns, set->capspawns * sizeof(*set->spawns));
	}
	set->spawns[set->nspawns++] = (struct ws_lspawn){intern(set, host), pid, goid, parent, t};
}

static uint64_t proc_key(const char *interned_host, uint32_t pid)
{
	return ws_mix64((uint64_t)(uintptr_t)interned_host ^ ws_mix64(pid)) | 1;
}

void ws_lset_set_runtime(struct ws_lset *set, const char *host, uint32_t pid, int runtime)
{
	ws_hashmap_put(&set->runtimes, proc_key(intern(set, host), pid), (void *)(uintptr_t)runtime);
}

int ws_lset_runtime(const struct ws_lset *set, const char *host, uint32_t pid)
{
	uint64_t h = hash_str(host);
	const char *p;

	/* host is one of the set's interned names, or a name it has not seen */
	while ((p = ws_hashmap_get((struct ws_hashmap *)&set->strings, h)) && strcmp(p, host) != 0)
		h = (h + 2) | 1;
	if (!p)
		return WS_RT_UNKNOWN;
	return (int)(uintptr_t)ws_hashmap_get((struct ws_hashmap *)&set->runtimes, proc_key(p, pid));
}

/* a host seen under two boot ids (a database across a reboot): unknown */
static const char boot_conflict[] = "";

void ws_lset_set_boot(struct ws_lset *set, const char *host, const char *boot_id)
{
	if (!boot_id[0])
		return;
	uint64_t k = (uint64_t)(uintptr_t)intern(set, host) | 1;
	const char *b = intern(set, boot_id), *had = ws_hashmap_get(&set->boots, k);

	ws_hashmap_put(&set->boots, k, (void *)(had && had != b ? boot_conflict : b));
}

bool ws_lset_same_clock(const struct ws_lset *set, const char *a, const char *b)
{
	if (a == b)
		return true;
	const char *ba = ws_hashmap_get((struct ws_hashmap *)&set->boots, (uint64_t)(uintptr_t)a | 1);
	const char *bb = ws_hashmap_get((struct ws_hashmap *)&set->boots, (uint64_t)(uintptr_t)b | 1);
	return ba && ba == bb && ba != boot_conflict;
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
	for (size_t k = 0; k < WS_ARRAY_SIZE(s->link_undecided); k++)
		s->link_undecided[k] = l->undecided[k] >= 0 ? set->v[l->undecided[k]].span_id : 0;
}

void ws_lspan_set_link(struct ws_lspan *l, int32_t parent, int method)
{
	l->parent = parent;
	l->method = (uint8_t)method;
	l->confidence = ws_link_method_confidence(method);
}
