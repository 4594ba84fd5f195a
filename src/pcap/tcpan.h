/* tcpan.h -- TCP analysis of a captured conversation, per packet, with the
 * rules of Wireshark's TCP analysis (tcp.analysis.*), so that both tools
 * flag the same frames of the same file: retransmissions (and which are
 * fast or spurious), out-of-order segments, duplicate ACKs, zero windows,
 * keep-alives, window updates, segments missing from the capture, and the
 * ACK RTT of the segment each ACK acknowledges.
 *
 * One struct per connection; packets in capture order; dir 0 or 1 is the
 * direction the packet travels. */
#ifndef WIRESPAN_PCAP_TCPAN_H
#define WIRESPAN_PCAP_TCPAN_H

#include <stdint.h>

#include "pcap/decode.h"

/* ws_tcpan_out.flags */
#define WS_TA_RETRANS (1u << 0)
#define WS_TA_FAST_RETRANS (1u << 1)   /* also WS_TA_RETRANS */
#define WS_TA_SPURIOUS (1u << 2)       /* also WS_TA_RETRANS */
#define WS_TA_OUT_OF_ORDER (1u << 3)
#define WS_TA_DUP_ACK (1u << 4)
#define WS_TA_ZERO_WINDOW (1u << 5)
#define WS_TA_ZERO_WINDOW_PROBE (1u << 6)
#define WS_TA_KEEP_ALIVE (1u << 7)
#define WS_TA_WINDOW_UPDATE (1u << 8)
#define WS_TA_LOST_SEGMENT (1u << 9)   /* bytes before this one were not captured */
#define WS_TA_ACKED_UNSEEN (1u << 10)  /* acknowledges bytes the capture never saw */
#define WS_TA_ZERO_WINDOW_PROBE_ACK (1u << 11)
#define WS_TA_KEEP_ALIVE_ACK (1u << 12)
#define WS_TA_WINDOW_FULL (1u << 13)
#define WS_TA_NBITS 14

#define WS_TCPAN_UNACKED 10000 /* segments remembered per direction, as Wireshark */

struct ws_tcpan_seg {
	uint32_t seq, nextseq;
	uint32_t frame;
	uint64_t ts;
};

/* Per direction. As in Wireshark, 0 means "not yet" for nextseq, lastack
 * and maxseqtobeacked, and sequence numbers are the raw ones. */
struct ws_tcpan_dir {
	uint32_t nextseq;         /* end of the highest segment sent (+1 for SYN/FIN) */
	uint32_t nextseq_frame;
	uint64_t nextseq_ts;      /* when nextseq last moved */
	uint32_t maxseqtobeacked; /* end of the contiguous bytes sent */
	uint32_t lastack;         /* ack field of the last packet sent this way */
	uint64_t lastack_ts;      /* time of the last packet sent this way */
	uint32_t window;          /* its raw window (0xffffffff: none yet) */
	uint32_t dupacks;         /* duplicates of lastack so far (0xffffffff: an ACK of unseen bytes) */
	uint32_t lastnondupack;   /* frame that first carried lastack */
	uint32_t lastflags;       /* WS_TA_* of the last packet sent this way */
	struct ws_tcpan_seg *unacked; /* sent, not yet acknowledged; oldest first */
	uint32_t nunacked, cap;
};

struct ws_tcpan {
	struct ws_tcpan_dir d[2];
	bool started;
	uint64_t syn_ts;       /* latest SYN without ACK */
	uint64_t first_rtt_ns; /* SYN to the first ACK seen (Wireshark's iRTT), 0 unknown */
};

void ws_tcpan_free(struct ws_tcpan *a);

struct ws_tcpan_out {
	uint32_t flags;
	uint32_t dupack_num;   /* duplicate number (1, 2, ...) */
	uint32_t dupack_frame; /* the ACK it duplicates */
	uint32_t acks_frame;   /* the segment this ACK acknowledges */
	uint64_t ack_rtt_ns;   /* time from that segment to this ACK (0 none) */
};

/* Analyse one packet; `frame` is its 1-based number in the file. */
void ws_tcpan_packet(struct ws_tcpan *a, int dir, const struct ws_pkt *p, uint64_t ts, uint32_t frame,
		     struct ws_tcpan_out *out);
/* Names of the flags, as Wireshark's fields without "tcp.analysis.", comma
 * separated, into buf. */
const char *ws_tcpan_flag_names(uint32_t flags, char *buf, size_t n);

#endif
