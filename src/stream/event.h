/* event.h -- the internal event stream: what every capture front door
 * (live eBPF, later pcap files) produces and the connection tracker eats.
 *
 * Times are Unix ns. Byte runs carry the TCP sequence number of their first
 * byte and may be only partly captured: `head` holds the first head_len
 * bytes, `tail` the last tail_len; whatever lies between is a gap of known
 * length and unknown content. */
#ifndef WIRESPAN_EVENT_H
#define WIRESPAN_EVENT_H

#include <stdint.h>

#include "util/util.h"

enum ws_ev_kind {
	WS_EV_OPEN = 1, /* connect() or accept() returned */
	WS_EV_DATA,     /* a run of bytes in one direction */
	WS_EV_CLOSE,    /* the local process closed its socket */
	WS_EV_STATE,    /* TCP state change */
	WS_EV_TCP,      /* a TCP fact: retransmission, reset, drop (tcp_what) */
	WS_EV_TASK,     /* a process or goroutine fact (task_what) */
};

/* ws_event.task_what */
enum ws_task_what {
	WS_TASKEV_EXEC = 1,  /* the process executed a new program */
	WS_TASKEV_GO_SPAWN,  /* goroutine goid was created by goroutine waker */
	WS_TASKEV_PY_SPAWN,  /* asyncio task goid was created while task waker ran (0: none) */
};

/* ws_event.tcp_what */
enum ws_tcp_what {
	WS_TCPEV_RETRANS = 1,
	WS_TCPEV_RESET_RX,
	WS_TCPEV_RESET_TX,
	WS_TCPEV_DROP,
	WS_TCPEV_HELD, /* bytes seq..seq+len held by the sender's TCP from t_enter to t_exit;
			* reason: why | the released segment's TCP flags << 8 (a capture's;
			* 0 live, where t_enter is the write) */
};

/* Why a sender's TCP held bytes (WS_TCPEV_HELD). */
enum ws_held_why { WS_HELD_NAGLE = 1, WS_HELD_CWND, WS_HELD_RWND, WS_HELD_OTHER };

enum ws_role { WS_ROLE_UNKNOWN = 0, WS_ROLE_CLIENT, WS_ROLE_SERVER };

/* direction, as seen from the local socket */
#define WS_SEND 0
#define WS_RECV 1

/* ws_event.flags */
#define WS_EVF_EOF (1u << 0)       /* the peer closed its side (read returned 0) */
#define WS_EVF_ERROR (1u << 1)     /* the syscall failed with err */
#define WS_EVF_NOPAYLOAD (1u << 2) /* no bytes captured (sendfile, splice) */
#define WS_EVF_READFAIL (1u << 3)  /* capturing the bytes failed */
#define WS_EVF_NOSEQ (1u << 4)     /* seq is not known (a front door without one) */
#define WS_EVF_GOROUTINE (1u << 5) /* goid is known */
#define WS_EVF_FENCE (1u << 6)     /* DATA: fence is known */
#define WS_EVF_STREAM (1u << 7)    /* OPEN, CLOSE, STATE: sent_seq and read_seq are known */

/* TCP states, as numbered by Linux */
#define WS_TCP_ESTABLISHED 1
#define WS_TCP_SYN_SENT 2
#define WS_TCP_CLOSE 7

struct ws_event {
	uint8_t kind;  /* enum ws_ev_kind */
	uint8_t dir;   /* WS_SEND or WS_RECV (DATA) */
	uint8_t role;  /* enum ws_role (OPEN) */
	uint8_t flags; /* WS_EVF_* */
	uint64_t conn_id;
	uint32_t pid, tid;
	char comm[16];
	uint64_t t_enter, t_exit;
	uint32_t seq;
	uint32_t len; /* bytes moved */
	const uint8_t *head;
	uint32_t head_len;
	const uint8_t *tail;
	uint32_t tail_len;
	struct ws_endpoint local, peer;
	int32_t err;
	uint16_t oldstate, newstate;
	uint32_t netns;
	/* where the time went (0: unknown) */
	uint64_t t_arr_first, t_arr_last; /* DATA recv: the bytes read reached the socket */
	uint64_t runq[2], offcpu[2];      /* the thread's cumulative ns at entry, exit */
	uint64_t t_estab;                 /* OPEN: the connection became established */
	uint32_t srtt_us, rto_us;
	uint32_t reason;  /* TCP: drop reason, or RETRANS: TCP flags | ca_state << 8 */
	uint32_t retrans; /* TCP: retransmissions of the connection so far */
	uint8_t tcp_what; /* enum ws_tcp_what */
	uint8_t task_what; /* enum ws_task_what */
	/* who a DATA syscall was made for, in a Go process with runtime
	 * probes: the goroutine (0 unknown), the goroutine that last handed it
	 * a value over a channel and when, and the one that had last handed
	 * that one a value, and when (0 unknown) */
	uint64_t goid, waker, t_wake, waker2, t_wake2;
	/* DATA: the other direction's sequence number that no answer to these
	 * bytes can precede: on a send, the bytes received before it began;
	 * on a receive, the bytes written before it returned */
	uint32_t fence;
	/* OPEN, CLOSE, STATE: where each direction stood (the sequence number
	 * after the last byte written, and read, by the application) */
	uint32_t sent_seq, read_seq;
	/* DATA: plaintext a TLS library moved (WS_TLSF_*). seq then numbers
	 * the direction's plaintext from the first byte seen, and wire_seq
	 * (WS_TLSF_WIRE) is the TCP sequence number of the TLS record that
	 * carried the first byte: the same at both ends of the connection */
	uint8_t tls;
	uint32_t wire_seq;
};

/* ws_event.tls */
#define WS_TLSF_PLAIN (1u << 0) /* TLS plaintext (seq numbers plaintext) */
#define WS_TLSF_WIRE (1u << 1)  /* wire_seq is known */

#endif
