/* tcpan.c -- see tcpan.h. The rules are Wireshark 4.0's (one pass, in frame
 * order), restated from its documented behaviour and checked against
 * tshark on the same captures (tests/e2e/test_pcap.py): the order of the
 * tests matters, since some end the analysis of a packet early. */
#include "pcap/tcpan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define FAST_RETRANS_NS (20 * 1000000ull)
#define OOO_DEFAULT_NS (3 * 1000000ull)

static bool gt(uint32_t a, uint32_t b) { return (int32_t)(b - a) < 0; }
static bool lt(uint32_t a, uint32_t b) { return (int32_t)(a - b) < 0; }
static bool le(uint32_t a, uint32_t b) { return (int32_t)(a - b) <= 0; }

static void dir_init(struct ws_tcpan_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->window = 0xffffffffu;
}

void ws_tcpan_free(struct ws_tcpan *a)
{
	free(a->d[0].unacked);
	free(a->d[1].unacked);
	a->d[0].unacked = a->d[1].unacked = NULL;
}

static void unacked_add(struct ws_tcpan_dir *d, uint32_t seq, uint32_t end, uint32_t frame, uint64_t ts)
{
	if (d->nunacked == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 8;
		d->unacked = ws_realloc(d->unacked, d->cap * sizeof(*d->unacked));
	}
	d->unacked[d->nunacked++] = (struct ws_tcpan_seg){.seq = seq, .nextseq = end, .frame = frame, .ts = ts};
}

/* The ACK against what the other side sent: an ack equal to a segment's
 * end acknowledges it (the oldest such transmission wins); an ack inside a
 * segment trims it; segments wholly below the ack are forgotten. */
static void ack_walk(struct ws_tcpan_dir *rev, uint32_t ack, uint64_t ts, struct ws_tcpan_out *out)
{
	uint32_t keep = 0;

	for (uint32_t i = rev->nunacked; i-- > 0;) {
		struct ws_tcpan_seg *e = &rev->unacked[i];
		if (ack == e->nextseq) {
			out->acks_frame = e->frame;
			out->ack_rtt_ns = ts - e->ts;
			e->frame = 0; /* deleted */
		} else if (gt(ack, e->seq) && le(ack, e->nextseq)) {
			e->seq = ack;
		} else if (!gt(e->nextseq, ack)) {
			e->frame = 0;
		}
	}
	for (uint32_t i = 0; i < rev->nunacked; i++)
		if (rev->unacked[i].frame)
			rev->unacked[keep++] = rev->unacked[i];
	rev->nunacked = keep;
}

void ws_tcpan_packet(struct ws_tcpan *a, int dir, const struct ws_pkt *p, uint64_t ts, uint32_t frame,
		     struct ws_tcpan_out *out)
{
	if (!a->started) {
		dir_init(&a->d[0]);
		dir_init(&a->d[1]);
		a->started = true;
	}
	struct ws_tcpan_dir *fwd = &a->d[dir & 1], *rev = &a->d[!(dir & 1)];
	uint32_t seq = p->seq, ack = p->ack, seglen = p->len, win = p->win, fl = 0;
	bool syn = p->flags & WS_TH_SYN, fin = p->flags & WS_TH_FIN, rst = p->flags & WS_TH_RST;
	bool sf = syn || fin, sfr = sf || rst;

	memset(out, 0, sizeof(*out));
	if (syn && !(p->flags & WS_TH_ACK) && fwd->nextseq)
		fwd->nextseq = fwd->maxseqtobeacked; /* a SYN sent again */

	/* window and duplicate-ACK tests; some end the block early */
	if (seglen == 1 && seq == fwd->nextseq && rev->window == 0) {
		fl |= WS_TA_ZERO_WINDOW_PROBE;
		goto finished_fwd;
	}
	if (win == 0 && !sfr)
		fl |= WS_TA_ZERO_WINDOW;
	if (fwd->nextseq && gt(seq, fwd->nextseq) && !rst)
		fl |= WS_TA_LOST_SEGMENT;
	if (seglen <= 1 && seq == fwd->nextseq - 1 && !sfr)
		fl |= WS_TA_KEEP_ALIVE;
	if (seglen == 0 && win != 0 && win != fwd->window && seq == fwd->nextseq && ack == fwd->lastack && !sfr)
		fl |= WS_TA_WINDOW_UPDATE;
	if (seglen == 0 && win != 0 && win == fwd->window && seq == fwd->nextseq && ack == fwd->lastack &&
	    (rev->lastflags & WS_TA_KEEP_ALIVE) && !sfr) {
		fl |= WS_TA_KEEP_ALIVE_ACK;
		goto finished_fwd;
	}
	if (seglen == 0 && win == 0 && fwd->window == 0 && seq == fwd->nextseq && ack == fwd->lastack &&
	    (rev->lastflags & WS_TA_ZERO_WINDOW_PROBE) && !sfr) {
		fl |= WS_TA_ZERO_WINDOW_PROBE_ACK;
		goto finished_fwd;
	}
	if (seglen == 0 && win != 0 && win == fwd->window && seq == fwd->nextseq && ack == fwd->lastack && !sfr) {
		fwd->dupacks = fwd->dupacks == 0xffffffffu ? 1 : fwd->dupacks + 1;
		fl |= WS_TA_DUP_ACK;
		out->dupack_num = fwd->dupacks;
		out->dupack_frame = fwd->lastnondupack;
	}
finished_fwd:
	if (ack != fwd->lastack) {
		fwd->lastnondupack = frame;
		fwd->dupacks = 0;
	}
	/* an ACK of bytes the capture never saw */
	if (rev->maxseqtobeacked && gt(ack, rev->maxseqtobeacked) && (p->flags & WS_TH_ACK)) {
		if (lt(rev->maxseqtobeacked, rev->nextseq)) {
			rev->maxseqtobeacked = rev->nextseq;
			fl |= WS_TA_ACKED_UNSEEN;
		} else {
			if (rev->dupacks == 0)
				fl |= WS_TA_ACKED_UNSEEN;
			rev->dupacks = 0xffffffffu;
		}
	}

	/* retransmission, fast, spurious, out of order */
	if ((seglen > 0 || sf) && !(fl & WS_TA_KEEP_ALIVE)) {
		bool not_advanced = fwd->nextseq && lt(seq, fwd->nextseq);
		if (seglen > 1 && seq == fwd->nextseq - 1)
			not_advanced = false;
		if (seglen > 0 && rev->lastack && le(seq + seglen, rev->lastack)) {
			fl |= WS_TA_SPURIOUS | WS_TA_RETRANS;
		} else if (not_advanced && rev->dupacks >= 2 && rev->lastack == seq &&
			   ts - rev->lastack_ts < FAST_RETRANS_NS) {
			fl |= WS_TA_FAST_RETRANS | WS_TA_RETRANS;
		} else if (not_advanced && ts - fwd->nextseq_ts < (a->first_rtt_ns ? a->first_rtt_ns : OOO_DEFAULT_NS) &&
			   fwd->nextseq != seq + seglen + (sf ? 1 : 0)) {
			fl |= WS_TA_OUT_OF_ORDER;
		} else if (not_advanced) {
			fl |= WS_TA_RETRANS;
		}
	}

	uint32_t end = seq + seglen;
	if ((seglen > 0 || sf) && fwd->nunacked < WS_TCPAN_UNACKED) {
		if (sf)
			end++;
		unacked_add(fwd, seq, end, frame, ts);
	}
	if ((gt(end, fwd->nextseq) || !fwd->nextseq) && !(fl & WS_TA_ZERO_WINDOW_PROBE)) {
		fwd->nextseq = end;
		fwd->nextseq_frame = frame;
		fwd->nextseq_ts = ts;
	}
	if ((seq == fwd->maxseqtobeacked || !fwd->maxseqtobeacked) && !(fl & WS_TA_ZERO_WINDOW_PROBE))
		fwd->maxseqtobeacked = fwd->nextseq;
	fwd->window = win;
	fwd->lastack = ack;
	fwd->lastack_ts = ts;
	fwd->lastflags = fl;
	ack_walk(rev, ack, ts, out);
	out->flags = fl;

	/* the initial RTT, after the packet that completes it */
	if (syn && !(p->flags & WS_TH_ACK))
		a->syn_ts = ts;
	else if (!syn && (p->flags & WS_TH_ACK) && a->syn_ts && !a->first_rtt_ns)
		a->first_rtt_ns = ts - a->syn_ts;
}

const char *ws_tcpan_flag_names(uint32_t flags, char *buf, size_t n)
{
	static const char *const names[WS_TA_NBITS] = {
		"retransmission", "fast_retransmission", "spurious_retransmission", "out_of_order",
		"duplicate_ack", "zero_window", "zero_window_probe", "keep_alive", "window_update",
		"lost_segment", "ack_lost_segment", "zero_window_probe_ack", "keep_alive_ack", "window_full",
	};
	size_t used = 0;

	buf[0] = 0;
	for (int b = 0; b < WS_TA_NBITS; b++) {
		if (!(flags & (1u << b)))
			continue;
		int w = snprintf(buf + used, n - used, "%s%s", used ? "," : "", names[b]);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	return buf;
}
