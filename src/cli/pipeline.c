/* pipeline.c -- see pipeline.h. */
#include "cli/pipeline.h"

#include <bpf/libbpf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture/kevent.h"
#include "span/span.h"
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

static void to_sinks(struct pipeline *p, const struct ws_span *s)
{
	for (size_t i = 0; i < p->nsinks; i++)
		if (p->sinks[i]->span)
			p->sinks[i]->span(p->sinks[i]->ctx, s);
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
	p->spans++;
	if (s.kind == WS_SPAN_CLIENT)
		p->spans_client++;
	else
		p->spans_server++;
	if (!p->store_failed && ws_store_add_span(p->store, &s))
		p->store_failed = true;
	to_sinks(p, &s);
}

static void on_conn_end(void *ctx, const struct ct_conn_info *c)
{
	struct pipeline *p = ctx;

	/* connections of a protocol we parse, and any whose TCP went wrong */
	bool health = (c->flags & CT_CONNECT_FAILED) || c->retransmits || c->resets_rx || c->resets_tx || c->drops;
	if (!p->store_failed && (c->proto || health) && ws_store_add_conn(p->store, p->rec_id, p->host, c))
		p->store_failed = true;
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
	p->spans++;
	p->spans_client++;
	p->failed_connects++;
	if (!p->store_failed && ws_store_add_span(p->store, &s))
		p->store_failed = true;
	to_sinks(p, &s);
}

/* Facts the connection tracker does not turn into exchanges: TCP events
 * are stored as they are; a connect that failed becomes a span. */
static void side_facts(struct pipeline *p, const struct ws_event *ev)
{
	if (ev->kind == WS_EV_TCP) {
		p->tcp_events++;
		const char *reason = ev->tcp_what == WS_TCPEV_DROP ? pipeline_drop_reason(p, ev->reason) : NULL;
		if (!p->store_failed && ws_store_add_tcp_event(p->store, p->rec_id, p->host, ev, reason))
			p->store_failed = true;
		for (size_t i = 0; i < p->nsinks; i++)
			if (p->sinks[i]->tcp_event)
				p->sinks[i]->tcp_event(p->sinks[i]->ctx, ev);
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
		"arr=%llu..%llu runq=%llu..%llu offcpu=%llu..%llu goid=%llu waker=%s%llu@%llu\n",
		kinds[ev->kind & 7], (unsigned long long)ev->conn_id, ev->pid, ev->tid, ev->comm,
		ws_addr_str(&ev->local, l, sizeof(l)), ev->local.port,
		ev->kind == WS_EV_DATA ? (ev->dir == WS_SEND ? "->" : "<-") : "--", ws_addr_str(&ev->peer, r, sizeof(r)),
		ev->peer.port, ev->seq, ev->len, ev->head_len, ev->tail_len, ev->flags,
		(unsigned long long)ev->t_arr_first, (unsigned long long)ev->t_arr_last, (unsigned long long)ev->runq[0],
		(unsigned long long)ev->runq[1], (unsigned long long)ev->offcpu[0], (unsigned long long)ev->offcpu[1],
		(unsigned long long)ev->goid, (ev->flags & WS_EVF_GOROUTINE) ? "g" : "t", (unsigned long long)ev->waker,
		(unsigned long long)ev->t_wake);
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
		if (!p->store_failed &&
		    ws_store_add_goroutine(p->store, p->rec_id, ev->pid, ev->goid, ev->waker, ev->t_exit))
			p->store_failed = true;
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

void pipeline_init(struct pipeline *p, const struct ct_config *cfg)
{
	struct ct_config cc = cfg ? *cfg : (struct ct_config){0};
	struct ct_sink sink = {.exchange = on_exchange, .conn_end = on_conn_end, .ctx = p};

	ws_reorder_init(&p->ro);
	p->ct = ct_new(&cc, &sink);
	if (!p->abi)
		p->abi = WS_ABI_VERSION;
	ws_hashmap_init(&p->services);
}

void pipeline_free(struct pipeline *p)
{
	uint64_t k;
	void *v;

	ct_free(p->ct);
	ws_reorder_free(&p->ro);
	for (size_t i = 0; ws_hashmap_next(&p->services, &i, &k, &v);) {
		free(((struct service_name *)v)->attrs);
		free(v);
	}
	ws_hashmap_free(&p->services);
	btf__free(p->vmlinux_btf);
}

int pipeline_store_counters(struct pipeline *p, const struct pipeline_counter *rows, size_t n, uint64_t lost)
{
	const struct ct_stats *cs = ct_stats(p->ct);
	const struct pipeline_counter own[] = {
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
		{"stat", "tcp_events", p->tcp_events},
		{"stat", "failed_connects", p->failed_connects},
		{"stat", "goroutines_created", p->goroutines},
		{"stat", "asyncio_tasks_created", p->py_tasks},
	};

	if (p->store_failed)
		return -EIO;
	for (size_t i = 0; i < n + WS_ARRAY_SIZE(own); i++) {
		const struct pipeline_counter *c = i < n ? &rows[i] : &own[i - n];
		if (ws_store_set_counter(p->store, p->rec_id, c->kind, c->name, c->v))
			return -EIO;
	}
	return ws_store_update_recording(p->store, p->rec_id, p->records, p->spans, lost);
}

int pipeline_store_results(struct pipeline *p, const struct pipeline_counter *rows, size_t n, uint64_t lost,
			   const char *status)
{
	if (pipeline_store_counters(p, rows, n, lost))
		return -EIO;
	return ws_store_end_recording(p->store, p->rec_id, ws_now_real_ns(), status);
}
