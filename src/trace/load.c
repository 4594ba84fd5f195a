/* load.c -- trace assembly's input from a database, and its result back:
 * the spans and processes into a link set, the TCP facts into the phases'
 * events, the links found into the spans' rows. The store knows nothing of
 * traces; this is where the two meet. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "span/spool.h"
#include "store/store.h"
#include "trace/link.h"
#include "trace/phases.h"
#include "util/util.h"

struct load_ctx {
	struct ws_lset *set;
	uint16_t db;
};

static int add_span(void *ctx, const struct ws_span *s)
{
	struct load_ctx *c = ctx;

	ws_lset_add(c->set, s, c->db);
	return 0;
}

static void on_boot(void *ctx, const char *host, const char *boot)
{
	ws_lset_set_boot(((struct load_ctx *)ctx)->set, host, boot);
}

static void on_runtime(void *ctx, const char *host, uint32_t pid, const char *runtime, bool traced)
{
	ws_lset_set_runtime(((struct load_ctx *)ctx)->set, host, pid, ws_runtime_parse(runtime, traced));
}

static void on_spawn(void *ctx, const char *host, uint32_t pid, uint64_t goid, uint64_t parent, uint64_t ts)
{
	ws_lset_add_spawn(((struct load_ctx *)ctx)->set, host, pid, goid, parent, ts);
}

static int load_processes(struct ws_lset *set, struct ws_store *st, uint16_t db)
{
	struct load_ctx c = {set, db};
	struct ws_store_procs procs = {.boot = on_boot, .runtime = on_runtime, .spawn = on_spawn, .ctx = &c};

	return ws_store_each_process(st, &procs) ? -1 : 0;
}

int ws_lset_load(struct ws_lset *set, struct ws_store *st, uint16_t db)
{
	struct load_ctx c = {set, db};
	struct ws_span_filter all = {.for_links = true};

	if (ws_store_each_span(st, &all, add_span, &c))
		return -1;
	return load_processes(set, st, db);
}

int ws_lset_save(const struct ws_lset *set, struct ws_store *st, uint16_t db)
{
	int rc = ws_store_links_begin(st);

	for (size_t i = 0; i < set->n && !rc; i++) {
		const struct ws_lspan *l = &set->v[i];
		struct ws_span s;
		if (l->db != db || !l->kind)
			continue;
		memset(&s, 0, sizeof(s));
		ws_lspan_apply(set, l, &s);
		ws_be64_put(s.span_id, l->span_id);
		rc = ws_store_set_links(st, &s, l->parent >= 0 || l->ext_parent);
	}
	return ws_store_links_end(st, rc == 0) ? -1 : 0;
}

struct tcp_ctx {
	struct ws_tcpevs *evs;
	uint16_t db;
};

static int add_tcp(void *ctx, const struct ws_store_tcpev *r)
{
	static const char *const holds[] = {"", "nagle", "cwnd", "rwnd", "other"}; /* WS_HELD_* */
	struct tcp_ctx *c = ctx;
	struct ws_tcpev e = {.db = c->db};

	e.recording_id = r->recording_id;
	e.conn_id = r->conn_id;
	e.ts = r->ts_ns;
	e.kind = strcmp(r->kind, "retransmit") == 0       ? WS_TE_RETRANS
		 : strcmp(r->kind, "reset-received") == 0 ? WS_TE_RESET_RX
		 : strcmp(r->kind, "reset-sent") == 0     ? WS_TE_RESET_TX
		 : strcmp(r->kind, "held") == 0           ? WS_TE_HELD
							  : WS_TE_DROP;
	e.role = strcmp(r->role, "client") == 0 ? 1 : strcmp(r->role, "server") == 0 ? 2 : 0;
	e.seq = r->seq;
	e.len = r->len;
	e.tcp_flags = r->tcp_flags;
	e.rto_us = r->rto_us;
	e.srtt_us = r->srtt_us;
	if (e.kind == WS_TE_HELD) {
		e.hold_ns = r->reason;
		for (size_t k = 1; k < WS_ARRAY_SIZE(holds); k++)
			if (strcmp(r->reason_name, holds[k]) == 0)
				e.hold_why = (uint8_t)k;
	}
	ws_tcpevs_add(c->evs, &e);
	return 0;
}

int ws_tcpevs_load(struct ws_tcpevs *evs, struct ws_store *st, uint16_t db)
{
	struct tcp_ctx c = {evs, db};

	return ws_store_each_tcp_event(st, add_tcp, &c) ? -1 : 0;
}

static int link_save(struct ws_store *st, const char *path, struct ws_lset *set)
{
	ws_link(set, NULL);
	if (ws_lset_save(set, st, 0)) {
		ws_err("cannot store the traces in %s (%s); the spans are kept", path, ws_store_errmsg(st));
		return 1;
	}
	return 0;
}

int ws_link_store(struct ws_store *st, const char *path, uint64_t max_spans)
{
	struct ws_lset set;
	int rc = 0;

	if (ws_store_build_span_indexes(st, true))
		return 1;
	if (max_spans) {
		int64_t n = ws_store_span_count(st);
		if (n < 0 || (uint64_t)n > max_spans) {
			fprintf(stderr,
				"wirespan: %s holds %lld spans, more than the %llu a recording links when it ends (trace "
				"assembly holds them all in memory): `wirespan spans`, `traces` and `explain` assemble "
				"the traces when they read; `wirespan link --db %s` stores them for SQL readers\n",
				path, (long long)n, (unsigned long long)max_spans, path);
			return ws_store_build_span_indexes(st, false) ? 1 : 0;
		}
	}
	ws_lset_init(&set);
	rc = ws_lset_load(&set, st, 0) ? 1 : link_save(st, path, &set);
	ws_lset_free(&set);
	if (ws_store_build_span_indexes(st, false))
		rc = 1;
	return rc;
}

struct held_ctx {
	struct ws_store *st;
	const struct ws_lset *set;
	const uint32_t *at; /* span i of the spool is set->v[at[i]] */
};

static int store_linked(void *ctx, size_t i, struct ws_span *s)
{
	struct held_ctx *c = ctx;
	const struct ws_lspan *l = &c->set->v[c->at[i]];

	if (l->kind)
		ws_lspan_apply(c->set, l, s);
	return ws_store_add_span(c->st, s) ? -1 : 0;
}

int ws_link_store_held(struct ws_store *st, const char *path, struct ws_lset *set, const struct ws_spool *spool)
{
	uint32_t *at = ws_malloc((set->n + 1) * sizeof(*at));
	struct held_ctx c = {st, set, at};
	int rc = 0;

	/* the order a database reads them in: links made alike */
	ws_lset_sort(set);
	for (size_t i = 0; i < set->n; i++)
		at[set->v[i].order] = (uint32_t)i;
	if (load_processes(set, st, 0)) {
		rc = 1;
	} else {
		ws_link(set, NULL);
		if (ws_spool_each(spool, store_linked, &c) || ws_store_commit(st)) {
			ws_err("cannot store the spans in %s (%s)", path, ws_store_errmsg(st));
			rc = 1;
		}
	}
	free(at);
	if (ws_store_build_span_indexes(st, false))
		rc = 1;
	return rc;
}
