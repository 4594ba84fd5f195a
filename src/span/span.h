/* span.h -- the span model: one request/response exchange as seen by one
 * side of a connection, shaped like an OpenTelemetry span.
 *
 * Every span keeps the timestamps of the syscalls that moved the first and
 * last byte of its request and response on its own side, and the TCP
 * sequence numbers of their first bytes, which the other side of the
 * connection sees identically: later stages join, link and attribute time
 * from these. */
#ifndef WIRESPAN_SPAN_H
#define WIRESPAN_SPAN_H

#include <stdint.h>

#include "proto/proto.h"
#include "stream/conntrack.h"
#include "util/json.h"

enum ws_span_kind { WS_SPAN_SERVER = 1, WS_SPAN_CLIENT = 2 };

/* indexes into req_t[] / resp_t[] */
enum { WS_T_FIRST_ENTER, WS_T_FIRST_EXIT, WS_T_LAST_ENTER, WS_T_LAST_EXIT };

struct ws_span {
	uint8_t trace_id[16];
	uint8_t span_id[8];
	uint8_t parent_id[8]; /* all zero: no parent */
	uint8_t kind;         /* enum ws_span_kind */
	uint8_t proto;        /* enum ws_proto */
	uint16_t flags;       /* WS_MSGF_* of request and response */
	char name[300];
	uint64_t start_ns, end_ns;
	char service[64];
	char host[64];
	uint32_t pid, tid;
	uint64_t conn_id;
	int64_t recording_id;
	struct ws_endpoint local, peer;
	char method[40];  /* HTTP method or Redis command */
	char target[256]; /* URL path or Redis key */
	char query[256];
	int status;       /* HTTP status, 0 when none */
	char error[160];  /* error.type, empty when none */
	uint64_t req_bytes, resp_bytes, req_body, resp_body;
	uint32_t req_seq, resp_seq;
	uint64_t req_t[4], resp_t[4];
	/* threads that moved the last byte of request and response: the
	 * thread that finished reading a request (or a response) is where its
	 * consequences are looked for */
	uint32_t req_last_tid, resp_last_tid;
	/* in Go processes with runtime probes, the goroutines that moved the
	 * first and last bytes of request and response (0 unknown); and the
	 * goroutine that last handed the writer of the request's first byte a
	 * value over a channel before it, and the one that had last handed
	 * that one a value, and when (0 unknown) */
	uint64_t req_goid, req_last_goid, resp_goid, resp_last_goid;
	uint64_t req_waker, req_wake_ns, req_waker2, req_wake2_ns;
	uint64_t conn_open_ns; /* connect() entry or accept() return, 0 unknown */
	char traceparent[64];  /* W3C traceparent the request carried */
	/* where the time went, as this side saw it (0: unknown) */
	uint64_t req_arr[2], resp_arr[2]; /* received message: its first and last
					   * bytes reached the socket */
	/* this side's thread between the request's last byte and the
	 * response's first (server: processing; client: waiting), when one
	 * thread did both: runnable but not running, and off CPU; -1 unknown */
	int64_t sched_runq, sched_offcpu;
	uint64_t conn_estab_ns; /* handshake completed; only on the connection's first exchange */
	uint32_t srtt_us;       /* the socket's smoothed RTT at the response */
	/* how parent_id was inferred (set by trace assembly, see link.h) */
	char link_method[16];  /* "" when there is no parent */
	float link_confidence;
	uint32_t link_candidates;
	uint64_t link_undecided[4]; /* span ids it could have been the child of, when
				     * the evidence did not decide (0: none) */
	char attrs[2560]; /* further attributes, a JSON object */
};

/* Build the span for an exchange on connection c, recorded on host. */
void ws_span_from_exchange(struct ws_span *s, const struct ct_conn_info *c, const struct ws_exchange *x,
			   const char *host);

/* A connect() that failed (error: "ECONNREFUSED", ...): a client span named
 * "connect" from its start to the failure. c may be NULL. */
void ws_span_connect_failed(struct ws_span *s, const struct ws_event *ev, const struct ct_conn_info *c,
			    const char *error, const char *host);

const char *ws_span_kind_name(int kind);

/* One span as a JSON object following the output contract
 * (OpenTelemetry-shaped, semantic-convention attribute names). */
void ws_span_to_json(const struct ws_span *s, struct ws_json *j);

#endif
