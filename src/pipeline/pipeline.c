/* pipeline.c -- see pipeline.h. */
#include "pipeline/pipeline.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/kevent.h"
#include "span/span.h"
#include "trace/link.h"
#include "util/json.h"
#include "util/util.h"


/* service.name of a process: what the application would call itself, as
 * OpenTelemetry SDKs and Beyla read it from the environment
 * (OTEL_SERVICE_NAME, else service.name in OTEL_RESOURCE_ATTRIBUTES), else
 * the process name. Looked up once per process. */
struct service_name {
	char comm[16];
	char name[64];
	const char *source; /* the variable it came from, NULL: the process name */
	char exe[256];      /* the executable's path, "" unknown */
	char *attrs;        /* what spans of the process add: JSON members ("k":v,...) */
	size_t nattrs;
};

/* Where the name was found, or NULL. Any process can call itself anything:
 * the name is a label, kept beside what the kernel says the process is. */
static const char *env_service_name(uint32_t pid, char *out, size_t n)
{
	char path[64], buf[32768];
	bool found = false;
	size_t len;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%u/environ", pid);
	if (!(f = fopen(path, "re")))
		return false;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = 0;
	for (char *e = buf; e < buf + len; e += strlen(e) + 1) {
		if (strncmp(e, "OTEL_SERVICE_NAME=", 18) == 0 && e[18]) {
			ws_copy_text(out, n, (const uint8_t *)e + 18, strlen(e + 18));
			return "OTEL_SERVICE_NAME";
		}
		if (!found && strncmp(e, "OTEL_RESOURCE_ATTRIBUTES=", 25) == 0) {
			for (char *a = e + 25; a && *a; a = strchr(a, ',') ? strchr(a, ',') + 1 : NULL) {
				if (strncmp(a, "service.name=", 13) == 0 && a[13] && a[13] != ',') {
					ws_copy_text(out, n, (const uint8_t *)a + 13, strcspn(a + 13, ","));
					found = true;
					break;
				}
			}
		}
	}
	return found ? "OTEL_RESOURCE_ATTRIBUTES" : NULL;
}

/* Append a process's members (encoded once, by process_attrs) to a span's
 * attributes object, when they fit: one copy on the span path. */
static void add_attrs(struct ws_span *s, const struct service_name *sn)
{
	size_t have = strlen(s->attrs);

	if (have < 2 || s->attrs[have - 1] != '}' || !sn->nattrs || have + sn->nattrs + 2 > sizeof(s->attrs))
		return;
	char *at = s->attrs + have - 1; /* at the closing brace */
	if (have > 2)
		*at++ = ',';
	memcpy(at, sn->attrs, sn->nattrs);
	at[sn->nattrs] = '}';
	at[sn->nattrs + 1] = 0;
}

/* The process's name from the kernel, its executable and where service.name
 * came from, once per process. */
static void process_attrs(struct service_name *sn)
{
	struct ws_json j;

	wj_init(&j);
	wj_obj_begin(&j);
	wj_kstr(&j, "process.executable.name", sn->comm);
	if (sn->exe[0])
		wj_kstr(&j, "process.executable.path", sn->exe);
	wj_kstr(&j, "wirespan.service.name_from", sn->source ? sn->source : "process name");
	wj_obj_end(&j);
	free(sn->attrs);
	sn->nattrs = j.len - 2; /* without the braces */
	sn->attrs = ws_malloc(sn->nattrs + 1);
	memcpy(sn->attrs, j.buf + 1, sn->nattrs);
	sn->attrs[sn->nattrs] = 0;
	wj_free(&j);
}

static void service_name(struct pipeline *p, struct ws_span *s)
{
	struct service_name *sn;

	if (!p->live || !s->pid)
		return;
	sn = ws_hashmap_get(&p->services, s->pid);
	if (!sn || strcmp(sn->comm, s->service) != 0) { /* new, or the pid was reused */
		if (p->on_process)
			p->on_process(p->process_ctx, s->pid);
		if (!sn) {
			sn = ws_calloc(1, sizeof(*sn));
			ws_hashmap_put(&p->services, s->pid, sn);
		}
		ws_strlcpy(sn->comm, s->service, sizeof(sn->comm));
		sn->source = env_service_name(s->pid, sn->name, sizeof(sn->name));
		if (!sn->source)
			ws_strlcpy(sn->name, s->service, sizeof(sn->name));
		char path[64];
		snprintf(path, sizeof(path), "/proc/%u/exe", s->pid);
		ssize_t k = readlink(path, sn->exe, sizeof(sn->exe) - 1);
		sn->exe[k > 0 ? k : 0] = 0;
		process_attrs(sn);
	}
	ws_strlcpy(s->service, sn->name, sizeof(s->service));
	add_attrs(s, sn);
}

/* service.name when no process was seen: the server's address and port
 * (client spans: the client's address) */
static void address_service(const struct pipeline *p, struct ws_span *s)
{
	char a[46];

	for (size_t i = 0; i < p->nservice_map; i++) {
		const struct ws_endpoint *e = &p->service_map[i].ep;
		if (e->family == s->local.family && memcmp(e->addr, s->local.addr, sizeof(e->addr)) == 0 &&
		    (!e->port || e->port == s->local.port)) {
			ws_strlcpy(s->service, p->service_map[i].name, sizeof(s->service));
			return;
		}
	}

	ws_addr_str(&s->local, a, sizeof(a));
	if (s->kind == WS_SPAN_SERVER)
		snprintf(s->service, sizeof(s->service), "%s:%u", a, s->local.port);
	else
		ws_strlcpy(s->service, a, sizeof(s->service));
}

/* A sink that failed is handed nothing more; the database failing stops
 * the recording (store_failed), another is said once. */
static void sink_failed(struct pipeline *p, size_t i)
{
	p->sink_failed[i] = true;
	if (i == 0)
		p->store_failed = true;
	else
		ws_warn("%s: %s; it is handed nothing more", p->sinks[i].ops->name, pipeline_errmsg(p));
}

/* Call op on every sink (from the first'th on) that has it and has not
 * failed. */
#define TO_SINKS(p, op, ...) TO_SINKS_IN(p, 0, (p)->nsinks, op, __VA_ARGS__)
#define TO_SINKS_FROM(p, first, op, ...) TO_SINKS_IN(p, first, (p)->nsinks, op, __VA_ARGS__)
#define TO_SINKS_IN(p, first, end, op, ...)                                                                \
	do {                                                                                               \
		for (size_t i_ = (first); i_ < (end); i_++)                                                \
			if (!(p)->sink_failed[i_] && (p)->sinks[i_].ops->op &&                             \
			    (p)->sinks[i_].ops->op((p)->sinks[i_].ctx, __VA_ARGS__))                        \
				sink_failed((p), i_);                                                      \
	} while (0)

static int store_held(void *ctx, size_t i, struct ws_span *s)
{
	struct pipeline *p = ctx;

	(void)i;
	TO_SINKS_IN(p, 0, 1, span, s); /* the others had it when it was made */
	return p->store_failed;
}

/* Stop holding spans (store: hand the database those held first). */
static void unhold(struct pipeline *p, bool store)
{
	if (store && p->nsinks)
		ws_spool_each(&p->spool, store_held, p);
	ws_spool_free(&p->spool);
	if (p->lset) {
		ws_lset_free(p->lset);
		free(p->lset);
		p->lset = NULL;
	}
}

static void count_span(struct pipeline *p, const struct ws_span *s)
{
	p->spans++;
	if (s->kind == WS_SPAN_CLIENT)
		p->spans_client++;
	else
		p->spans_server++;
	if (p->lset && p->lset->n >= (p->hold_max ? p->hold_max : WS_LINK_MAX_SPANS))
		unhold(p, true); /* too many to hold: stored as they are, linked from the database */
	if (p->lset) {
		ws_lset_add(p->lset, s, 0);
		ws_spool_add(&p->spool, s);
		TO_SINKS_FROM(p, 1, span, s); /* the database's come linked, at the end */
	} else {
		TO_SINKS(p, span, s);
	}
}

static void on_exchange(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	struct pipeline *p = ctx;
	struct ws_span s;

	ws_span_from_exchange(&s, c, x, p->host);
	s.recording_id = p->rec_id;
	service_name(p, &s);
	if (!s.service[0]) /* no process seen (pcap): the address serving */
		address_service(p, &s);
	count_span(p, &s);
}

static void on_conn_end(void *ctx, const struct ct_conn_info *c)
{
	struct pipeline *p = ctx;

	/* connections of a protocol we parse, and any whose TCP went wrong */
	bool health = (c->flags & CT_CONNECT_FAILED) || c->retransmits || c->resets_rx || c->resets_tx || c->drops;
	if (c->proto || health)
		TO_SINKS(p, conn, p->host, c);
}

/* The kernel's name of an skb drop reason ("TCP_OLD_DATA"), from its BTF. */
const char *pipeline_drop_reason(struct pipeline *p, uint32_t reason)
{
	if (!p->btf_tried) {
		p->btf_tried = true;
		p->vmlinux_btf = btf__load_vmlinux_btf();
		if (libbpf_get_error(p->vmlinux_btf))
			p->vmlinux_btf = NULL;
	}
	if (!p->vmlinux_btf)
		return "";
	int id = btf__find_by_name_kind(p->vmlinux_btf, "skb_drop_reason", BTF_KIND_ENUM);
	const struct btf_type *t = id > 0 ? btf__type_by_id(p->vmlinux_btf, id) : NULL;
	if (!t)
		return "";
	const struct btf_enum *e = btf_enum(t);
	for (int i = 0; i < btf_vlen(t); i++, e++) {
		if ((uint32_t)e->val == reason) {
			const char *name = btf__name_by_offset(p->vmlinux_btf, e->name_off);
			if (name && strncmp(name, "SKB_DROP_REASON_", 16) == 0)
				name += 16;
			return name ? name : "";
		}
	}
	return "";
}

/* A connect() that never completed becomes a client span named "connect"
 * with the error, so that a failing dependency is seen like a failing call. */
static void failed_connect(struct pipeline *p, const struct ws_event *ev, const struct ct_conn_info *c, int err)
{
	struct ws_span s;
	const char *name = err ? strerrorname_np(err) : NULL;

	if (!name)
		name = c && c->resets_rx ? "ECONNREFUSED" : "ETIMEDOUT";
	ws_span_connect_failed(&s, ev, c, name, p->host);
	s.recording_id = p->rec_id;
	service_name(p, &s);
	if (!s.service[0])
		address_service(p, &s);
	p->failed_connects++;
	count_span(p, &s);
}

/* Facts the connection tracker does not turn into exchanges: TCP events
 * are stored as they are; a connect that failed becomes a span. */
static void side_facts(struct pipeline *p, const struct ws_event *ev)
{
	if (ev->kind == WS_EV_TCP) {
		p->tcp_events++;
		const char *reason = ev->tcp_what == WS_TCPEV_DROP ? pipeline_drop_reason(p, ev->reason) : NULL;
		TO_SINKS(p, tcp_event, p->host, ev, reason);
	} else if (ev->kind == WS_EV_OPEN && ev->role == WS_ROLE_CLIENT && (ev->flags & WS_EVF_ERROR)) {
		failed_connect(p, ev, ct_lookup(p->ct, ev->conn_id), -ev->err);
	} else if (ev->kind == WS_EV_STATE && ev->oldstate == WS_TCP_SYN_SENT && ev->newstate == WS_TCP_CLOSE) {
		/* a non-blocking connect() returned before the handshake failed */
		const struct ct_conn_info *c = ct_lookup(p->ct, ev->conn_id);
		if (c && (c->flags & CT_OPEN_SEEN) && !(c->flags & CT_CONNECT_FAILED))
			failed_connect(p, ev, c, 0);
	}
}

void pipeline_debug_event(const struct ws_event *ev)
{
	static const char *const kinds[] = {"", "open", "data", "close", "state", "tcp", "task", ""};
	char l[64], r[64];

	fprintf(stderr,
		"ev %-5s conn=%llx pid=%u tid=%u comm=%s %s:%u %s %s:%u seq=%u len=%u cap=%u tail=%u flags=%x "
		"arr=%llu..%llu runq=%llu..%llu offcpu=%llu..%llu goid=%llu waker=%s%llu@%llu%s%u\n",
		kinds[ev->kind & 7], (unsigned long long)ev->conn_id, ev->pid, ev->tid, ev->comm,
		ws_addr_str(&ev->local, l, sizeof(l)), ev->local.port,
		ev->kind == WS_EV_DATA ? (ev->dir == WS_SEND ? "->" : "<-") : "--", ws_addr_str(&ev->peer, r, sizeof(r)),
		ev->peer.port, ev->seq, ev->len, ev->head_len, ev->tail_len, ev->flags,
		(unsigned long long)ev->t_arr_first, (unsigned long long)ev->t_arr_last, (unsigned long long)ev->runq[0],
		(unsigned long long)ev->runq[1], (unsigned long long)ev->offcpu[0], (unsigned long long)ev->offcpu[1],
		(unsigned long long)ev->goid, (ev->flags & WS_EVF_GOROUTINE) ? "g" : "t", (unsigned long long)ev->waker,
		(unsigned long long)ev->t_wake,
		!(ev->tls & WS_TLSF_PLAIN) ? "" : (ev->tls & WS_TLSF_WIRE) ? " tls wire=" : " tls nowire=",
		(ev->tls & WS_TLSF_WIRE) ? ev->wire_seq : 0);
}

/* Facts about processes and goroutines: no connection, no span. */
static void task_fact(struct pipeline *p, const struct ws_event *ev)
{
	if (ev->task_what == WS_TASKEV_EXEC) {
		if (p->on_process)
			p->on_process(p->process_ctx, ev->pid);
	} else if (ev->task_what == WS_TASKEV_GO_SPAWN || ev->task_what == WS_TASKEV_PY_SPAWN) {
		if (ev->task_what == WS_TASKEV_GO_SPAWN)
			p->goroutines++;
		else
			p->py_tasks++;
		TO_SINKS(p, goroutine, ev->pid, ev->goid, ev->waker, ev->t_exit);
	}
}

void pipeline_event(struct pipeline *p, const struct ws_event *ev)
{
	if (p->debug_events)
		pipeline_debug_event(ev);
	if (ev->kind == WS_EV_TASK) {
		task_fact(p, ev);
		return;
	}
	if (ev->kind == WS_EV_STATE)
		side_facts(p, ev); /* before the tracker marks the connection */
	ct_event(p->ct, ev);
	if (ev->kind != WS_EV_STATE && ev->kind != WS_EV_DATA && ev->kind != WS_EV_CLOSE)
		side_facts(p, ev);
}

int pipeline_open(struct pipeline *p, const char *db, char *err, size_t errlen)
{
	if (!p->abi)
		p->abi = WS_ABI_VERSION;
	ws_hashmap_init(&p->services);
	ws_reorder_init(&p->ro);
	ws_strlcpy(p->db, db, sizeof(p->db));
	if (ws_store_open(db, WS_STORE_WRITE, &p->store, err, errlen))
		return -1;
	ws_store_sink_init(&p->store_sink, p->store, &p->sinks[0]);
	p->nsinks = 1;
	return 0;
}

void pipeline_add_sink(struct pipeline *p, const struct ws_sink *s)
{
	if (p->nsinks < PIPELINE_SINKS_MAX)
		p->sinks[p->nsinks++] = *s;
}

static void pipeline_commit_sinks(struct pipeline *p)
{
	for (size_t i = 0; i < p->nsinks; i++)
		if (!p->sink_failed[i] && p->sinks[i].ops->commit && p->sinks[i].ops->commit(p->sinks[i].ctx))
			sink_failed(p, i);
	if (!p->store_failed && !p->lset) /* held spans are not in the database yet */
		p->spans_committed = p->spans;
}

int pipeline_begin(struct pipeline *p, const struct ws_recording *r)
{
	struct ct_sink sink = {.exchange = on_exchange, .conn_end = on_conn_end, .ctx = p};
	struct ct_config cc = {0};

	/* connections carry over (the agent's rotation: exchanges in progress
	 * end in the next database); a front door that wants them fresh frees
	 * p->ct first (pcap: each capture its own) */
	if (!p->ct)
		p->ct = ct_new(&cc, &sink);
	p->spans = p->spans_server = p->spans_client = p->spans_committed = 0;
	p->rec_id = 0;
	/* keep the spans for trace assembly if they are all the file will
	 * hold (decided at the first recording) */
	if (p->link_in_memory && !p->lset_decided && p->store) {
		p->lset_decided = true;
		if (ws_store_span_count(p->store) == 0) {
			p->lset = ws_malloc(sizeof(*p->lset));
			ws_lset_init(p->lset);
			ws_spool_init(&p->spool);
		}
	}
	for (size_t i = 0; i < p->nsinks; i++) {
		int64_t id = p->sink_failed[i] || !p->sinks[i].ops->begin ? 0 : p->sinks[i].ops->begin(p->sinks[i].ctx, r);
		if (id < 0)
			sink_failed(p, i);
		else if (i == 0)
			p->rec_id = id;
	}
	pipeline_commit_sinks(p);
	return p->store_failed ? -1 : 0;
}

void pipeline_process(struct pipeline *p, const struct ws_sink_process *pr) { TO_SINKS(p, process, pr); }

void pipeline_shed(struct pipeline *p, unsigned level, double cpu_pct, double budget_pct, const char *action)
{
	TO_SINKS(p, shed, ws_now_real_ns(), level, cpu_pct, budget_pct, action);
}

void pipeline_kernel_drops(struct pipeline *p, const uint64_t *per_reason, size_t n)
{
	for (uint32_t r = 0; r < n; r++)
		if (per_reason[r])
			TO_SINKS(p, drops, p->host, r, pipeline_drop_reason(p, r), per_reason[r]);
}

void pipeline_bpf_prog(struct pipeline *p, const char *name, const char *hook, uint64_t runs, uint64_t run_ns)
{
	TO_SINKS(p, bpf_prog, name, hook, runs, run_ns);
}

void pipeline_put_counters(struct pipeline *p, const struct ws_counter *rows, size_t n)
{
	TO_SINKS(p, counters, rows, n);
}

int pipeline_commit(struct pipeline *p)
{
	pipeline_commit_sinks(p);
	return p->store_failed ? -EIO : 0;
}

void pipeline_restart_threads(struct pipeline *p) { ws_store_restart_thread(p->store); }

const char *pipeline_errmsg(struct pipeline *p)
{
	for (size_t i = 0; i < p->nsinks; i++)
		if (p->sink_failed[i])
			return p->sinks[i].ops->errmsg ? p->sinks[i].ops->errmsg(p->sinks[i].ctx) : "failed";
	return "no error";
}

void pipeline_close(struct pipeline *p)
{
	uint64_t k;
	void *v;

	ct_free(p->ct); /* flushes nothing: the recording ended */
	p->ct = NULL;
	ws_store_close(p->store);
	p->store = NULL;
	unhold(p, false);
	ws_reorder_free(&p->ro);
	for (size_t i = 0; ws_hashmap_next(&p->services, &i, &k, &v);) {
		free(((struct service_name *)v)->attrs);
		free(v);
	}
	ws_hashmap_free(&p->services);
	btf__free(p->vmlinux_btf);
	p->vmlinux_btf = NULL;
}

int pipeline_counters(struct pipeline *p, const struct ws_counter *rows, size_t n, uint64_t lost)
{
	const struct ct_stats *cs = ct_stats(p->ct);
	const struct ws_counter own[] = {
		{"lost", "conns_evicted", cs->conns_evicted},
		{"lost", "incomplete_at_end", cs->incomplete_at_end},
		{"lost", "unpaired_after_loss", cs->unpaired_lost},
		{"stat", "requests_without_response", cs->aborted},
		{"stat", "stream_tails_lost", cs->lost_tails},
		{"stat", "events", p->records},
		{"stat", "bytes", cs->bytes},
		{"stat", "connections", cs->conns},
		{"stat", "exchanges", cs->exchanges},
		{"stat", "spans", p->spans},
		{"stat", "unmatched_messages", cs->unmatched},
		{"stat", "stream_gaps", cs->gaps},
		{"stat", "stream_overlaps", cs->overlaps},
		{"stat", "stream_reordered", cs->reordered},
		{"stat", "undetected_segments", cs->undetected_segs},
		{"stat", "opaque_connections", cs->opaque_conns},
		{"stat", "tls_connections", cs->tls_conns},
		{"stat", "tls_undecrypted_connections", cs->tls_opaque_conns},
		{"stat", "tls_undecrypted_bytes", cs->tls_opaque_bytes},
		{"stat", "tcp_events", p->tcp_events},
		{"stat", "failed_connects", p->failed_connects},
		{"stat", "goroutines_created", p->goroutines},
		{"stat", "asyncio_tasks_created", p->py_tasks},
	};

	TO_SINKS(p, counters, rows, n);
	TO_SINKS(p, counters, own, WS_ARRAY_SIZE(own));
	TO_SINKS(p, totals, p->records, p->spans, lost);
	return p->store_failed ? -EIO : 0;
}

int pipeline_end(struct pipeline *p, const struct ws_counter *rows, size_t n, uint64_t lost, const char *status)
{
	if (!p->store_failed)
		pipeline_counters(p, rows, n, lost);
	if (p->store_failed) {
		/* say so in the recording's row, if the disk takes that much */
		for (size_t i = 0; i < p->nsinks; i++)
			if (p->sinks[i].ops->end)
				(void)p->sinks[i].ops->end(p->sinks[i].ctx, ws_now_real_ns(), "failed");
		return -EIO;
	}
	TO_SINKS(p, end, ws_now_real_ns(), status);
	pipeline_commit_sinks(p);
	return p->store_failed ? -EIO : 0;
}

int pipeline_times(struct pipeline *p, uint64_t started_ns, uint64_t ended_ns)
{
	TO_SINKS(p, times, started_ns, ended_ns);
	return pipeline_commit(p);
}

int pipeline_link(struct pipeline *p, uint64_t max_spans)
{
	if (p->store_failed)
		return 1;
	if (p->lset) {
		int rc = ws_link_store_held(p->store, p->db, p->lset, &p->spool);
		unhold(p, false);
		if (rc == 0)
			p->spans_committed = p->spans;
		else
			sink_failed(p, 0); /* the summary says what the database holds */
		return rc;
	}
	return ws_link_store(p->store, p->db, max_spans);
}

int pipeline_rotate(struct pipeline *p, const char *next, char *err, size_t errlen)
{
	ws_store_close(p->store);
	p->store = NULL;
	if (ws_store_open(next, WS_STORE_WRITE, &p->store, err, errlen)) {
		p->sink_failed[0] = p->store_failed = true;
		return -1;
	}
	ws_strlcpy(p->db, next, sizeof(p->db));
	ws_store_sink_init(&p->store_sink, p->store, &p->sinks[0]);
	return 0;
}
