/* conntrack.h -- connection streams: events in, ordered byte streams out to
 * the protocol parsers, exchanges out to the next stage.
 *
 * For every connection it keeps each direction in TCP sequence order
 * (holding runs that arrive early, trimming overlaps, declaring a gap when
 * bytes never come), detects the protocol from the first request bytes,
 * feeds the parser, and reports the connection when it ends. The table is
 * bounded: the least recently active connection is evicted when full. */
#ifndef WIRESPAN_CONNTRACK_H
#define WIRESPAN_CONNTRACK_H

#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"
#include "stream/event.h"

/* ct_conn_info.flags */
#define CT_OPEN_SEEN (1u << 0) /* we saw connect() or accept() */
#define CT_CLOSED (1u << 1)    /* the connection ended while recorded */
#define CT_RESET (1u << 2)     /* a syscall failed with ECONNRESET/EPIPE */
#define CT_EVICTED (1u << 3)   /* dropped from a full table */
#define CT_CONNECT_FAILED (1u << 4) /* the handshake never completed */
#define CT_TLS (1u << 5)        /* TLS, read as plaintext from the TLS library */
#define CT_TLS_OPAQUE (1u << 6) /* TLS that was not decrypted (no library probed) */

/* What later stages see of a connection. */
struct ct_conn_info {
	uint64_t id;
	struct ws_endpoint local, peer;
	uint32_t pid;
	uint32_t open_tid; /* the thread that called connect() or accept() */
	char comm[16];
	uint32_t netns;
	uint8_t role;  /* enum ws_role */
	uint8_t proto; /* enum ws_proto */
	uint16_t flags;
	int32_t last_err;
	uint64_t t_open, t_first, t_last, t_close;
	uint64_t bytes[2];
	uint32_t segs[2];
	uint32_t exchanges, unmatched;
	/* TCP health, from the kernel's view of the socket */
	uint64_t t_estab;       /* handshake completed (0 unknown) */
	uint32_t srtt_us;       /* latest smoothed RTT seen */
	uint32_t rto_max_us;    /* largest retransmission timeout seen */
	uint32_t retransmits;   /* segments retransmitted */
	uint32_t syn_retransmits;
	uint32_t resets_rx, resets_tx, drops;
};

struct ct_sink {
	void (*exchange)(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x);
	void (*conn_end)(void *ctx, const struct ct_conn_info *c);
	void *ctx;
};

struct ct_stats {
	uint64_t events, data_events, bytes;
	uint64_t conns, conns_ended, conns_evicted;
	uint64_t exchanges, unmatched;
	uint64_t undetected_segs; /* data before the protocol was known */
	uint64_t opaque_conns;    /* connections of a protocol we do not parse */
	uint64_t tls_conns;       /* TLS connections read as plaintext */
	uint64_t tls_opaque_conns; /* TLS connections not decrypted (of opaque_conns) */
	uint64_t tls_opaque_bytes; /* their bytes */
	uint64_t gaps, overlaps, reordered;
	uint64_t incomplete_at_end; /* requests still open when recording ended */
	uint64_t unpaired_lost;     /* messages not paired: records lost, no pairing certain */
	uint64_t aborted;           /* requests whose connection ended with no response */
	uint64_t lost_tails;        /* directions whose last bytes were never reported */
};

struct ct_config {
	size_t max_conns;      /* table bound (default 65536) */
	uint64_t close_grace;  /* ns to wait after a close for stragglers */
	uint64_t ooo_timeout;  /* ns to wait for missing bytes before a gap */
};

struct conntrack;

struct conntrack *ct_new(const struct ct_config *cfg, const struct ct_sink *sink);
void ct_event(struct conntrack *ct, const struct ws_event *ev);
/* Event time has reached now: end closed connections, resolve gaps. */
void ct_advance(struct conntrack *ct, uint64_t now);
/* Recording ends: report what completed, count what did not, free all. */
void ct_flush(struct conntrack *ct);
void ct_free(struct conntrack *ct);
/* The connection with that id, or NULL. */
const struct ct_conn_info *ct_lookup(const struct conntrack *ct, uint64_t conn_id);
const struct ct_stats *ct_stats(const struct conntrack *ct);
size_t ct_active(const struct conntrack *ct);

#endif
