/* offline.h -- the offline front door: tcpdump captures (pcap or pcapng,
 * read with libpcap) in, the same internal event stream as live capture
 * out, plus each connection's packets with their TCP analysis.
 *
 * A capture is one observation point. Which end of each connection is on
 * the capturing host decides which spans it yields (a client span where the
 * client is local, a server span where the server is): cooked captures say
 * so per packet; captures of both ends are compared packet by packet; a
 * lone capture is judged by its handshakes (the capturing host answers the
 * other's SYN or SYN-ACK at once, while the far answer takes a round trip);
 * --local names addresses outright. An end that stays unknown is treated as
 * local, as a tap would see it, and counted.
 *
 * Each connection's byte streams go to the connection tracker as runs with
 * their TCP sequence numbers: it reorders, trims retransmitted overlaps and
 * marks what the capture missed as gaps, exactly as for live capture. */
#ifndef WIRESPAN_PCAP_OFFLINE_H
#define WIRESPAN_PCAP_OFFLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcap/decode.h"
#include "pcap/tcpan.h"
#include "stream/event.h"

/* ---- one capture file ---- */

struct ws_capfile_stats {
	uint64_t frames, bytes;
	uint64_t tcp;              /* TCP segments decoded */
	uint64_t dec[WS_DEC_N];    /* frames by decode result */
	uint64_t payload_cut;      /* segments whose payload the snaplen cut */
	uint64_t first_ns, last_ns;
};

struct ws_capfile;

/* Open a capture; on failure a message naming the file and the problem. */
int ws_capfile_open(const char *path, struct ws_capfile **out, char *err, size_t errlen);
/* The same from memory (fuzzing, tests). */
int ws_capfile_open_mem(const uint8_t *data, size_t len, struct ws_capfile **out, char *err, size_t errlen);
/* Next frame: 1 with *res the decode result (the packet is valid when
 * WS_DEC_OK), 0 at the end, -1 when the file is cut or corrupt (message in
 * ws_capfile_error; the frames before it stand). */
int ws_capfile_next(struct ws_capfile *f, struct ws_pkt *p, uint64_t *ts, uint32_t *frame, int *res);
const char *ws_capfile_error(const struct ws_capfile *f);
const char *ws_capfile_linktype(const struct ws_capfile *f);
const struct ws_capfile_stats *ws_capfile_stats(const struct ws_capfile *f);
void ws_capfile_close(struct ws_capfile *f);

/* ---- which ends are local, per capture ---- */

struct ws_sides;

struct ws_sides *ws_sides_new(size_t nfiles);
void ws_sides_free(struct ws_sides *s);
/* An address given as local to every capture (--local). */
void ws_sides_force_local(struct ws_sides *s, const struct ws_endpoint *addr);
/* Read the first max_frames frames of capture i, gathering evidence (the
 * hosts of a capture show in its first connections). -1 on a read error. */
int ws_sides_scan(struct ws_sides *s, size_t i, struct ws_capfile *f, uint64_t max_frames);
/* Weigh the evidence of all captures. */
void ws_sides_decide(struct ws_sides *s);
/* 1 local to capture i, -1 remote, 0 unknown */
int ws_sides_local(const struct ws_sides *s, size_t i, const struct ws_endpoint *addr);
/* The addresses judged local to capture i, as text ("198.18.0.1, ..."). */
void ws_sides_describe(const struct ws_sides *s, size_t i, char *out, size_t n);

/* ---- connections of one capture ---- */

/* A packet as stored (see docs/schema.md, table packets). */
struct ws_pktrec {
	uint64_t ts;
	uint32_t seq, ack, len, frame;
	uint32_t ack_rtt_us; /* 0: none */
	uint16_t win, ipid;
	uint16_t analysis;   /* WS_TA_* */
	uint8_t flags;       /* TCP flags */
	uint8_t dir;         /* 0 client to server, 1 server to client */
};
#define WS_PKTREC_SIZE 36
void ws_pktrec_put(uint8_t *b, const struct ws_pktrec *r);
void ws_pktrec_get(const uint8_t *b, struct ws_pktrec *r);

/* One connection's packets as one capture saw them. */
struct ws_flowpkts {
	struct ws_endpoint client, server;
	bool roles_known; /* from the SYN (else the higher port is the client) */
	uint64_t first_ns, last_ns;
	uint32_t n, not_stored;
	struct ws_pktrec *v;
	/* analysis totals */
	uint32_t retrans, fast_retrans, spurious, dup_acks, zero_windows, out_of_order, lost_segments;
	uint64_t rtt_ns; /* handshake round trip seen from the capture (0 unknown) */
};

/* A connection's packets into a database, and back: those between a and b
 * (either way round), in every recording, oldest first; fn returning
 * nonzero stops, and f lives until it returns. */
struct ws_store;
int ws_flowpkts_save(struct ws_store *st, int64_t recording, const char *host, const struct ws_flowpkts *f);
int ws_flowpkts_each(struct ws_store *st, const struct ws_endpoint *a, const struct ws_endpoint *b,
		     int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f), void *ctx);

struct ws_offline_sink {
	void (*event)(void *ctx, const struct ws_event *ev);
	void (*advance)(void *ctx, uint64_t now); /* event time reached now */
	void (*flow)(void *ctx, const struct ws_flowpkts *f); /* a connection ended */
	/* every TCP packet's analysis (optional) */
	void (*analysis)(void *ctx, uint32_t frame, const struct ws_pkt *p, const struct ws_tcpan_out *o);
	void *ctx;
};

struct ws_offline_cfg {
	uint32_t max_packets; /* packets stored per connection (0: none) */
	uint32_t max_flows;   /* connections open at once; beyond, the quietest end (0: the default) */
};

#define WS_OFFLINE_MAX_FLOWS 100000

struct ws_offline_stats {
	uint64_t flows, flows_no_handshake, flows_ends_unknown, flows_both_local;
	uint64_t packets_not_stored;
	uint64_t flows_evicted;   /* ended early: more than max_flows were open */
	uint64_t holds;           /* segments a sender's TCP held until an ACK released them */
	uint64_t ta[WS_TA_NBITS]; /* packets by analysis flag */
};

struct ws_offline;

struct ws_offline *ws_offline_new(const struct ws_offline_cfg *cfg, const struct ws_offline_sink *sink,
				  const struct ws_sides *sides, size_t file);
void ws_offline_packet(struct ws_offline *o, const struct ws_pkt *p, uint64_t ts, uint32_t frame);
/* The capture ended: every connection ends. */
void ws_offline_finish(struct ws_offline *o);
const struct ws_offline_stats *ws_offline_stats(const struct ws_offline *o);
void ws_offline_free(struct ws_offline *o);

#endif
