/* phases.h -- where each exchange's time went.
 *
 * From the facts each recorded side kept (syscall times, when bytes reached
 * the socket, the thread's scheduler times, handshake times) and the TCP
 * events of its connection (retransmissions, resets), an exchange's time is
 * split into phases that follow its bytes:
 *
 *   connect          client: connect() to established (SYN retransmissions
 *                    included); first exchange of a connection only
 *   accept queue     server: established to accept() returning
 *   request send     client: the writing syscalls (send-buffer waits)
 *   request flight   client's last request write to the last request byte
 *                    reaching the server's socket (both sides recorded)
 *   server queue     that arrival to the server's read of it
 *   server processing  request read to the first response write; with the
 *                    server thread's time runnable but not running and off
 *                    CPU inside it
 *   response send    server: the writing syscalls (send-buffer waits)
 *   response flight  server's last write to the last response byte reaching
 *                    the client's socket (client only: the response's first
 *                    to last byte)
 *   client queue     that arrival to the client's read of it
 *   server+network   client only, server not recorded: last request byte
 *                    written to the first response byte arriving
 *
 * Phases across hosts use the clock offset between the two hosts, estimated
 * NTP-style from the exchanges both recorded (the one with the least
 * round-trip slack wins). Like linking, this is a pure function of the spans
 * (already linked) and the TCP events. */
#ifndef WIRESPAN_PHASES_H
#define WIRESPAN_PHASES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "trace/link.h"

enum ws_phase {
	WS_PH_CONNECT,
	WS_PH_ACCEPT_QUEUE,
	WS_PH_REQ_SEND,
	WS_PH_REQ_HOLD, /* written, held by the client's TCP (Nagle, windows) */
	WS_PH_REQ_FLIGHT,
	WS_PH_SRV_QUEUE,
	WS_PH_SRV_PROC,
	WS_PH_RESP_SEND,
	WS_PH_RESP_HOLD, /* written, held by the server's TCP (Nagle, windows) */
	WS_PH_RESP_FLIGHT,
	WS_PH_CLI_QUEUE,
	WS_PH_SRV_AND_NET,
	WS_PH_N,
};

/* attribute name (wirespan.phase.<name>_ns) and label of a phase */
const char *ws_phase_name(int ph);
const char *ws_phase_label(int ph);

/* A TCP event of a recorded connection (the tcp_events table). */
enum ws_tcpev_kind { WS_TE_RETRANS = 1, WS_TE_RESET_RX, WS_TE_RESET_TX, WS_TE_DROP, WS_TE_HELD };

/* Why a sender's TCP held bytes (WS_TE_HELD), as the kernel half names it. */
enum ws_hold_why { WS_HOLD_WHY_NAGLE = 1, WS_HOLD_WHY_CWND, WS_HOLD_WHY_RWND, WS_HOLD_WHY_OTHER };

struct ws_tcpev {
	uint16_t db;
	int64_t recording_id;
	uint64_t conn_id;
	uint64_t ts;
	uint8_t kind;      /* enum ws_tcpev_kind */
	uint8_t role;      /* 1 client, 2 server: the local side */
	uint8_t tcp_flags; /* of the retransmitted segment; WS_TE_HELD: of the
			    * segment released, in a capture (0 live) */
	uint32_t seq, len;
	uint32_t rto_us, srtt_us;
	uint64_t hold_ns;  /* WS_TE_HELD: how long, ending at ts */
	uint8_t hold_why;  /* enum ws_hold_why */
};

struct ws_tcpevs {
	struct ws_tcpev *v;
	size_t n, cap;
};

void ws_tcpevs_add(struct ws_tcpevs *e, const struct ws_tcpev *ev);
void ws_tcpevs_free(struct ws_tcpevs *e);
/* Append a database's retransmissions, resets and holds (as number db). */
struct ws_store;
int ws_tcpevs_load(struct ws_tcpevs *evs, struct ws_store *st, uint16_t db);

/* The phases of one exchange, the same for its client and server span. */
struct ws_phases {
	int64_t ns[WS_PH_N];     /* -1: unknown */
	int64_t runq, offcpu;    /* server thread inside processing (or the
				  * client's thread while waiting), -1 unknown */
	uint32_t retransmits, syn_retransmits;
	int64_t stall_ns;        /* longest wait from sending bytes to their last retransmission */
	uint32_t rto_us, srtt_us;
	uint8_t reset;           /* 1 received, 2 sent */
	int64_t req_hold, resp_hold; /* ns the senders' TCP held written bytes (WS_TE_HELD) */
	bool req_hold_wire, resp_hold_wire; /* read from a capture: inside the send phase */
	uint8_t req_hold_why, resp_hold_why; /* enum ws_hold_why */
	bool both;               /* both sides were recorded */
	bool offset_known;
	int64_t offset_ns;       /* server host clock minus client host clock */
	int32_t client, server;  /* span indexes in the set, -1 none */
};

/* Clock offset between two hosts, from the exchanges both recorded. */
struct ws_clock {
	const char *client_host, *server_host; /* interned in the set */
	int64_t offset_ns;                     /* server minus client */
	int64_t delay_ns;                      /* round-trip slack of the best sample */
	uint32_t samples;
	bool shared; /* one machine (same boot id): one clock, offset 0 by fact */
};

struct ws_phaseset {
	struct ws_phases *v; /* one per span of the set, same index */
	struct ws_clock *clocks;
	size_t nclocks;
};

void ws_phases_compute(const struct ws_lset *set, const struct ws_tcpevs *evs, struct ws_phaseset *out);
void ws_phaseset_free(struct ws_phaseset *ps);

/* Append the phases as wirespan.* members to an open JSON object, for a
 * span of that kind (its own send step is not repeated: span_json.c writes
 * it among the span's step phases, under the same name). */
struct ws_json;
void ws_phases_json(const struct ws_phases *p, int kind, struct ws_json *j);

/* Server processing of span i not spent waiting for its own outbound calls
 * (children in the trace), -1 unknown. */
int64_t ws_phases_self_processing(const struct ws_lset *set, const struct ws_phaseset *ps, int32_t i);

/* One line naming the largest cause of a trace's duration, e.g.
 * "1.04 s of 1.05 s: server processing at meta (pid 412) after the request
 * was read; network 0.3 ms". spans: the trace's span indexes. */
void ws_phases_verdict(const struct ws_lset *set, const struct ws_phaseset *ps, const int32_t *spans, size_t n,
		       uint64_t duration, char *out, size_t outlen);

#endif
