/* exchange.c -- from a request/response exchange on one side of a
 * connection to a span.
 *
 * Span boundaries: a client span starts when the first request byte was
 * handed to the kernel (entry of the writing syscall) and ends when the last
 * response byte was handed to the application (exit of the reading
 * syscall). A server span starts when the first request byte reached the
 * application (exit of the read: a blocking read may have waited long
 * before any byte arrived) and ends when the last response byte was handed
 * to the kernel. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "span/span.h"
#include "util/util.h"

const char *ws_span_kind_name(int kind)
{
	return kind == WS_SPAN_CLIENT ? "client" : kind == WS_SPAN_SERVER ? "server" : "";
}

/* Ids are unique, not random: a random prefix chosen once per process and
 * a counter. Database indexes on them then grow at one end instead of at
 * random places (several times cheaper to insert), while ids from other
 * recordings and hosts still never collide in practice. */
static void next_ids(uint8_t trace_id[16], uint8_t span_id[8])
{
	static uint64_t prefix, trace_prefix, counter;

	if (!prefix) {
		prefix = ws_random_u64() & 0xffffffff00000000ull;
		trace_prefix = ws_random_u64() | 1;
	}
	counter++;
	uint64_t sid = prefix | (counter & 0xffffffffull);
	ws_be64_put(span_id, sid);
	ws_be64_put(trace_id, trace_prefix);
	ws_be64_put(trace_id + 8, counter);
}

static void times(uint64_t t[4], const struct ws_msg *m)
{
	t[WS_T_FIRST_ENTER] = m->t_first_enter;
	t[WS_T_FIRST_EXIT] = m->t_first_exit;
	t[WS_T_LAST_ENTER] = m->t_last_enter;
	t[WS_T_LAST_EXIT] = m->t_last_exit;
}

/* What the kernel told about where the time went. Bytes are received by
 * the server's request and the client's response; the thread interval is
 * the server's processing (last request byte read to first response byte
 * written) or the client's wait (last request byte written to last response
 * byte read). */
static void sched_and_arrivals(struct ws_span *s, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	const struct ws_msg *rx = s->kind == WS_SPAN_SERVER ? &x->req : &x->resp;
	uint64_t *arr = s->kind == WS_SPAN_SERVER ? s->req_arr : s->resp_arr;
	uint64_t runq_end, off_end;
	uint32_t tid_end;

	arr[0] = rx->t_arr_first;
	arr[1] = rx->t_arr_last;
	if (s->kind == WS_SPAN_SERVER) {
		runq_end = x->resp.runq_first;
		off_end = x->resp.offcpu_first;
		tid_end = x->resp.tid;
	} else {
		runq_end = x->resp.runq_last;
		off_end = x->resp.offcpu_last;
		tid_end = x->resp.last_tid;
	}
	s->sched_runq = s->sched_offcpu = -1;
	if (tid_end && tid_end == x->req.last_tid && runq_end >= x->req.runq_last && off_end >= x->req.offcpu_last &&
	    !(x->resp.flags & WS_MSGF_INCOMPLETE) && !(x->req.flags & WS_MSGF_INCOMPLETE)) {
		s->sched_runq = (int64_t)(runq_end - x->req.runq_last);
		s->sched_offcpu = (int64_t)(off_end - x->req.offcpu_last);
	}
	if (c->exchanges == 1)
		s->conn_estab_ns = c->t_estab;
	s->srtt_us = c->srtt_us;
}

void ws_span_from_exchange(struct ws_span *s, const struct ct_conn_info *c, const struct ws_exchange *x,
			   const char *host)
{
	struct ws_json a;

	memset(s, 0, sizeof(*s));
	next_ids(s->trace_id, s->span_id);
	s->kind = c->role == WS_ROLE_CLIENT ? WS_SPAN_CLIENT : WS_SPAN_SERVER;
	s->proto = x->req.proto;
	s->flags = x->req.flags | (x->resp.flags & ~WS_MSGF_NOSEQ);
	if (x->resp.flags & WS_MSGF_NOSEQ)
		s->flags |= WS_MSGF_RESP_NOSEQ;
	s->conn_id = c->id;
	s->local = c->local;
	s->peer = c->peer;
	ws_strlcpy(s->service, c->comm, sizeof(s->service));
	ws_strlcpy(s->host, host ? host : "", sizeof(s->host));
	s->pid = x->req.pid ? x->req.pid : c->pid;
	s->tid = x->req.tid;
	s->req_last_tid = x->req.last_tid;
	s->resp_last_tid = x->resp.last_tid;
	s->req_goid = x->req.goid;
	s->req_last_goid = x->req.last_goid;
	s->resp_goid = x->resp.goid;
	s->resp_last_goid = x->resp.last_goid;
	s->req_waker = x->req.waker;
	s->req_wake_ns = x->req.t_wake;
	s->req_waker2 = x->req.waker2;
	s->req_wake2_ns = x->req.t_wake2;
	s->conn_open_ns = c->t_open;
	s->req_bytes = x->req.bytes;
	s->resp_bytes = x->resp.bytes;
	s->req_body = x->req.body_bytes;
	s->resp_body = x->resp.body_bytes;
	s->req_seq = x->req.seq;
	s->resp_seq = x->resp.seq;
	times(s->req_t, &x->req);
	times(s->resp_t, &x->resp);
	sched_and_arrivals(s, c, x);
	if (s->kind == WS_SPAN_CLIENT)
		s->start_ns = x->req.t_first_enter;
	else
		s->start_ns = x->req.t_first_exit;
	s->end_ns = x->resp.t_last_exit;
	if (s->end_ns < s->start_ns)
		s->end_ns = s->start_ns;

	wj_init(&a);
	wj_obj_begin(&a);
	const struct proto_ops *ops = ws_proto_ops(s->proto);
	if (ops && ops->span) {
		struct ws_span_fields f = {0};
		ops->span->fields(x, s->kind == WS_SPAN_CLIENT, &f, &a);
		ws_strlcpy(s->name, f.name, sizeof(s->name));
		ws_strlcpy(s->method, f.method, sizeof(s->method));
		ws_strlcpy(s->target, f.target, sizeof(s->target));
		ws_strlcpy(s->query, f.query, sizeof(s->query));
		ws_strlcpy(s->error, f.error, sizeof(s->error));
		ws_strlcpy(s->traceparent, f.traceparent, sizeof(s->traceparent));
		s->status = f.status;
	}
	if (x->aborted) {
		/* no response: the span ends when the connection gave up */
		static const char *const why[] = {
			[WS_ABORT_RESET] = "connection reset",
			[WS_ABORT_PEER_CLOSED] = "peer closed the connection",
			[WS_ABORT_CLOSED] = "connection closed",
		};
		s->status = 0;
		ws_strlcpy(s->error, x->aborted == WS_ABORT_RESET ? "ECONNRESET" : "no_response", sizeof(s->error));
		if (x->aborted < WS_ARRAY_SIZE(why) && why[x->aborted])
			wj_kstr(&a, "wirespan.response.missing", why[x->aborted]);
	}
	if (s->flags & WS_MSGF_FRAMING_LOST)
		wj_kbool(&a, "wirespan.framing_lost", true);
	if (x->req.flags & WS_MSGF_INCOMPLETE)
		wj_kbool(&a, "wirespan.request.incomplete", true);
	if (x->resp.flags & WS_MSGF_INCOMPLETE)
		wj_kbool(&a, "wirespan.response.incomplete", true);
	if (s->flags & WS_MSGF_HEAD_CUT)
		wj_kbool(&a, "wirespan.headers_cut", true);
	if (s->flags & WS_MSGF_TLS) { /* plaintext from the TLS library */
		wj_kbool(&a, "tls.established", true);
		if (s->proto == WS_PROTO_HTTP1)
			wj_kstr(&a, "url.scheme", "https");
	}
	wj_obj_end(&a);
	if (a.len < sizeof(s->attrs))
		memcpy(s->attrs, a.buf, a.len + 1);
	else
		ws_strlcpy(s->attrs, "{}", sizeof(s->attrs));
	wj_free(&a);
}

void ws_span_connect_failed(struct ws_span *s, const struct ws_event *ev, const struct ct_conn_info *c,
			    const char *error, const char *host)
{
	memset(s, 0, sizeof(*s));
	next_ids(s->trace_id, s->span_id);
	s->kind = WS_SPAN_CLIENT;
	s->conn_id = ev->conn_id;
	s->local = c ? c->local : ev->local;
	s->peer = c ? c->peer : ev->peer;
	ws_strlcpy(s->service, c ? c->comm : ev->comm, sizeof(s->service));
	ws_strlcpy(s->host, host ? host : "", sizeof(s->host));
	s->pid = c ? c->pid : ev->pid;
	/* the thread that called connect(): a failure the kernel reports
	 * later (a refused non-blocking connect) comes from no thread */
	s->tid = c && c->open_tid ? c->open_tid : ev->tid;
	s->req_last_tid = s->resp_last_tid = s->tid;
	s->start_ns = c && c->t_open ? c->t_open : ev->t_enter;
	s->end_ns = WS_MAX(ev->t_exit, s->start_ns);
	/* the call was made by connect(), its answer was the failure */
	for (int i = 0; i < 4; i++) {
		s->req_t[i] = s->start_ns;
		s->resp_t[i] = s->end_ns;
	}
	s->conn_open_ns = s->start_ns;
	s->sched_runq = s->sched_offcpu = -1;
	ws_strlcpy(s->name, "connect", sizeof(s->name));
	ws_strlcpy(s->error, error, sizeof(s->error));
	snprintf(s->attrs, sizeof(s->attrs), "{\"wirespan.connect.failed\":true}");
}
