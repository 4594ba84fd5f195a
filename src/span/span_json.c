/* span_json.c -- a span as one JSON object, per the output contract in
 * DESIGN.md: OpenTelemetry span fields, semantic-convention attribute names,
 * and wirespan.* attributes for what is ours (step timestamps, phases,
 * sequence numbers). The attribute names are documented in docs/schema.md. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "span/span.h"
#include "util/util.h"

static void hex(struct ws_json *j, const char *key, const uint8_t *b, size_t n, bool empty_if_zero)
{
	char h[33];
	bool zero = true;

	for (size_t i = 0; i < n; i++)
		zero &= b[i] == 0;
	if (zero && empty_if_zero)
		h[0] = 0;
	else
		ws_hex(b, n, h);
	wj_kstr(j, key, h);
}

static void endpoint(struct ws_json *j, const char *addr_key, const char *port_key, const struct ws_endpoint *ep)
{
	char a[64];

	if (!ep->family)
		return;
	wj_kstr(j, addr_key, ws_addr_str(ep, a, sizeof(a)));
	wj_kuint(j, port_key, ep->port);
}

static uint64_t span_between(uint64_t from, uint64_t to) { return to > from ? to - from : 0; }

/* Phases visible from one side alone; issue-4 attribution builds on them. */
static void phases(struct ws_json *j, const struct ws_span *s)
{
	if (s->kind == WS_SPAN_CLIENT) {
		wj_kuint(j, "wirespan.phase.request_send_ns",
			 span_between(s->req_t[WS_T_FIRST_ENTER], s->req_t[WS_T_LAST_EXIT]));
		wj_kuint(j, "wirespan.phase.wait_ns", span_between(s->req_t[WS_T_LAST_EXIT], s->resp_t[WS_T_FIRST_EXIT]));
		wj_kuint(j, "wirespan.phase.response_receive_ns",
			 span_between(s->resp_t[WS_T_FIRST_EXIT], s->resp_t[WS_T_LAST_EXIT]));
	} else {
		wj_kuint(j, "wirespan.phase.request_receive_ns",
			 span_between(s->req_t[WS_T_FIRST_EXIT], s->req_t[WS_T_LAST_EXIT]));
		wj_kuint(j, "wirespan.phase.processing_ns",
			 span_between(s->req_t[WS_T_LAST_EXIT], s->resp_t[WS_T_FIRST_ENTER]));
		wj_kuint(j, "wirespan.phase.response_send_ns",
			 span_between(s->resp_t[WS_T_FIRST_ENTER], s->resp_t[WS_T_LAST_EXIT]));
	}
}

void ws_span_to_json(const struct ws_span *s, struct ws_json *j)
{
	static const char *const tnames[4] = {"first_syscall_enter_ns", "first_syscall_exit_ns",
					      "last_syscall_enter_ns", "last_syscall_exit_ns"};
	char key[96];
	const struct ws_endpoint *server = s->kind == WS_SPAN_CLIENT ? &s->peer : &s->local;
	const struct ws_endpoint *client = s->kind == WS_SPAN_CLIENT ? &s->local : &s->peer;

	wj_obj_begin(j);
	hex(j, "trace_id", s->trace_id, 16, false);
	hex(j, "span_id", s->span_id, 8, false);
	hex(j, "parent_span_id", s->parent_id, 8, true);
	wj_kstr(j, "name", s->name);
	wj_kstr(j, "kind", ws_span_kind_name(s->kind));
	wj_kuint(j, "start_time_unix_nano", s->start_ns);
	wj_kuint(j, "end_time_unix_nano", s->end_ns);
	/* the same as decimal strings, as OTLP/JSON writes 64-bit integers: a
	 * JSON number above 2^53 is rounded by JavaScript and jq */
	char t[24];
	snprintf(t, sizeof(t), "%llu", (unsigned long long)s->start_ns);
	wj_kstr(j, "startTimeUnixNano", t);
	snprintf(t, sizeof(t), "%llu", (unsigned long long)s->end_ns);
	wj_kstr(j, "endTimeUnixNano", t);

	wj_key(j, "attributes");
	wj_obj_begin(j);
	wj_kstr(j, "service.name", s->service);
	if (s->host[0])
		wj_kstr(j, "host.name", s->host);
	if (s->pid) /* a capture file knows no process: absent, not 0 */
		wj_kuint(j, "process.pid", s->pid);
	wj_kuint(j, "thread.id", s->tid);
	wj_kstr(j, "network.transport", "tcp");
	if (s->local.family)
		wj_kstr(j, "network.type", s->local.family == AF_INET6 ? "ipv6" : "ipv4");
	const struct proto_ops *po = ws_proto_ops(s->proto);
	wj_kstr(j, "network.protocol.name",
		po && po->span && po->span->net_name ? po->span->net_name : ws_proto_name(s->proto));
	endpoint(j, "network.peer.address", "network.peer.port", &s->peer);
	endpoint(j, "network.local.address", "network.local.port", &s->local);
	endpoint(j, "server.address", "server.port", server);
	endpoint(j, "client.address", "client.port", client);
	const struct proto_ops *ops = ws_proto_ops(s->proto);
	const struct proto_span *ps = ops ? ops->span : NULL;
	if (ps) { /* the protocol's names for the fields every span has */
		for (const char *const *c = ps->constant_attrs; c && c[0]; c += 2)
			wj_kstr(j, c[0], c[1]);
		if (ps->method_attr)
			wj_kstr(j, ps->method_attr, s->method);
		if (ps->target_attr && (s->target[0] || !(ps->target_names || ps->target_optional)))
			wj_kstr(j, ps->target_attr, s->target);
		if (ps->query_attr && s->query[0])
			wj_kstr(j, ps->query_attr, s->query);
		if (ps->status_attr && s->status)
			wj_kint(j, ps->status_attr, s->status);
		if (ps->req_body_attr)
			wj_kuint(j, ps->req_body_attr, s->req_body);
		if (ps->resp_body_attr)
			wj_kuint(j, ps->resp_body_attr, s->resp_body);
	}
	if (s->error[0])
		wj_kstr(j, "error.type", s->error);
	wj_members(j, s->attrs);
	wj_kuint(j, "wirespan.conn.id", s->conn_id);
	wj_kuint(j, "wirespan.request.seq", s->req_seq);
	wj_kuint(j, "wirespan.response.seq", s->resp_seq);
	wj_kuint(j, "wirespan.request.bytes", s->req_bytes);
	wj_kuint(j, "wirespan.response.bytes", s->resp_bytes);
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "wirespan.request.%s", tnames[i]);
		wj_kuint(j, key, s->req_t[i]);
	}
	for (int i = 0; i < 4; i++) {
		snprintf(key, sizeof(key), "wirespan.response.%s", tnames[i]);
		wj_kuint(j, key, s->resp_t[i]);
	}
	phases(j, s);
	if (s->link_method[0]) {
		wj_kstr(j, "wirespan.link.method", s->link_method);
		wj_knum3(j, "wirespan.link.confidence", s->link_confidence);
	}
	if (s->link_candidates)
		wj_kuint(j, "wirespan.link.candidates", s->link_candidates);
	if (s->link_undecided[0]) {
		wj_key(j, "wirespan.link.undecided");
		wj_arr_begin(j);
		for (size_t k = 0; k < WS_ARRAY_SIZE(s->link_undecided) && s->link_undecided[k]; k++) {
			uint8_t id[8];
			char h[17];
			ws_be64_put(id, s->link_undecided[k]);
			ws_hex(id, 8, h);
			wj_str(j, h);
		}
		wj_arr_end(j);
	}
	uint64_t goid = s->kind == WS_SPAN_SERVER ? s->req_last_goid : s->req_goid;
	if (goid)
		wj_kuint(j, "wirespan.goroutine.id", goid);
	wj_obj_end(j);
	wj_obj_end(j);
}
