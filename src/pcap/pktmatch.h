/* pktmatch.h -- one connection seen by two captures, packet by packet.
 *
 * Each packet the sender's capture and the receiver's capture both hold is
 * matched by direction, sequence and acknowledgment numbers, length, TCP
 * flags and IP id (a retransmission has a new IP id, so it matches its own
 * copy; IPv6 copies match in order). Which capture sits at the client
 * follows from the matched pairs whatever the clocks say: the difference of
 * capture times is larger for packets that leave the first capture's host
 * than for packets that arrive there. The clock offset between the captures
 * is estimated NTP-style from the fastest packet each way (half the
 * difference of the two minimum one-way times), and every matched packet
 * gets its one-way delay on the corrected clock. */
#ifndef WIRESPAN_PCAP_PKTMATCH_H
#define WIRESPAN_PCAP_PKTMATCH_H

#include <stdint.h>

#include "pcap/offline.h"

struct ws_pktrow {
	struct ws_pktrec p;  /* the packet (from the sender's capture when it holds it) */
	uint64_t sent;       /* in the sender's capture, 0: not there */
	uint64_t recv;       /* in the receiver's capture, 0: not there */
	int64_t delay;       /* recv - sent on the corrected clock, valid when both */
	uint16_t analysis;   /* WS_TA_* from either capture */
	int64_t at;          /* when, on capture a's clock (row order) */
};

struct ws_pktmatch {
	struct ws_pktrow *rows; /* in the order the packets were sent */
	size_t n;
	int client_cap;         /* which capture (0 a, 1 b) is at the client; -1 unknown */
	bool offset_known;
	int64_t offset_ns;      /* capture b's clock minus capture a's */
	uint32_t matched;
	int64_t min_delay[2];   /* fastest one-way time per direction (0 client to server) */
};

/* Match capture a's and capture b's packets of the same connection (b may
 * be NULL: rows from a alone, with a_at_client saying which end a saw
 * locally, -1 unknown). */
void ws_pktmatch(const struct ws_flowpkts *a, const struct ws_flowpkts *b, int a_at_client, struct ws_pktmatch *m);
void ws_pktmatch_free(struct ws_pktmatch *m);

#endif
