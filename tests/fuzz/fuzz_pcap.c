/* fuzz_pcap.c -- libFuzzer target for the offline capture path: the input is
 * a capture file (pcap or pcapng, read by libpcap from memory). It goes
 * through both passes as `wirespan pcap` runs them: the sides scan and
 * decision, then every decoded packet into the connection builder with its
 * TCP analysis, events, and each connection's packets (matched against
 * themselves and alone). The raw input is also fed to the frame decoder
 * directly, with a link type chosen by its first byte, to reach frames no
 * valid file header would let through. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pcap/decode.h"
#include "pcap/offline.h"
#include "pcap/pktmatch.h"
#include "pcap/tcpan.h"

static volatile uint64_t fz_sink; /* keeps the reads below from being optimised away */

static uint64_t touch(const uint8_t *p, uint32_t n)
{
	uint64_t s = 0;

	for (uint32_t i = 0; i < n; i++)
		s += p[i];
	return s;
}

struct fz_ctx {
	uint64_t events, flows, packets, advance;
};

static void fz_event(void *ctx, const struct ws_event *ev)
{
	struct fz_ctx *c = ctx;

	c->events++;
	if (ev->head_len)
		fz_sink += touch(ev->head, ev->head_len);
	if (ev->tail_len)
		fz_sink += touch(ev->tail, ev->tail_len);
	fz_sink += ev->kind + ev->conn_id + ev->local.port + ev->peer.port;
}

static void fz_advance(void *ctx, uint64_t now)
{
	struct fz_ctx *c = ctx;

	c->advance = now;
}

static void fz_flow(void *ctx, const struct ws_flowpkts *f)
{
	struct fz_ctx *c = ctx;
	uint8_t rec[WS_PKTREC_SIZE];
	struct ws_pktrec back;
	struct ws_pktmatch m;

	c->flows++;
	for (uint32_t i = 0; i < f->n; i++) {
		ws_pktrec_put(rec, &f->v[i]);
		ws_pktrec_get(rec, &back);
		fz_sink += back.ts + back.seq + back.len + back.analysis;
		c->packets++;
	}
	/* a connection matched against itself, and alone */
	ws_pktmatch(f, f, -1, &m);
	for (size_t i = 0; i < m.n; i++)
		fz_sink += (uint64_t)m.rows[i].delay + m.rows[i].p.seq;
	ws_pktmatch_free(&m);
	/* against a second "capture" of it: another clock and delay each way
	 * (taken from the first packet), some packets lost */
	if (f->n) {
		struct ws_flowpkts g = *f;
		uint32_t k = f->v[0].seq ^ f->v[0].ack;
		uint64_t shift[2] = {(uint64_t)(k & 0xffff) * 1000, (uint64_t)(k >> 16) * 1000};
		g.v = malloc(f->n * sizeof(*g.v));
		g.n = 0;
		for (uint32_t i = 0; i < f->n; i++) {
			if ((f->v[i].ipid ^ f->v[i].seq) % 7 == 3)
				continue;
			g.v[g.n] = f->v[i];
			g.v[g.n++].ts += shift[f->v[i].dir & 1];
		}
		ws_pktmatch(f, &g, -1, &m);
		for (size_t i = 0; i < m.n; i++)
			fz_sink += (uint64_t)m.rows[i].delay + (uint64_t)m.rows[i].at;
		ws_pktmatch_free(&m);
		ws_pktmatch(&g, f, 0, &m);
		fz_sink += (uint64_t)m.offset_ns + m.matched;
		ws_pktmatch_free(&m);
		free(g.v);
	}
	ws_pktmatch(f, NULL, f->roles_known ? 1 : -1, &m);
	fz_sink += m.n;
	ws_pktmatch_free(&m);
}

static void fz_analysis(void *ctx, uint32_t frame, const struct ws_pkt *p, const struct ws_tcpan_out *o)
{
	char names[256];

	(void)ctx;
	ws_tcpan_flag_names(o->flags, names, sizeof(names));
	fz_sink += frame + p->len + o->dupack_num + o->acks_frame + o->ack_rtt_ns + strlen(names);
}

/* the frame decoder alone on the raw bytes */
static void fuzz_decode(const uint8_t *data, size_t size)
{
	static const int dlts[] = {WS_DLT_NULL, WS_DLT_EN10MB, WS_DLT_RAW, WS_DLT_RAW_ALT, WS_DLT_LOOP,
				   WS_DLT_LINUX_SLL, WS_DLT_IPV4, WS_DLT_IPV6, WS_DLT_LINUX_SLL2, 9999};
	struct ws_pkt p;

	if (size < 2)
		return;
	int dlt = dlts[data[0] % (sizeof(dlts) / sizeof(dlts[0]))];
	/* the wire length: as captured, longer (snaplen cut), or shorter than caplen */
	uint32_t caplen = (uint32_t)(size - 2), wirelen = caplen;
	switch (data[1] & 3) {
	case 1: wirelen = caplen + data[1] * 16u; break;
	case 2: wirelen = caplen / 2; break;
	case 3: wirelen = 0; break;
	}
	/* a copy of exactly caplen bytes, so that ASan sees any read past it */
	uint8_t *frame = malloc(caplen ? caplen : 1);
	memcpy(frame, data + 2, caplen);
	int r = ws_pkt_decode(dlt, frame, caplen, wirelen, &p);
	fz_sink += strlen(ws_decode_result_name(r));
	if (r == WS_DEC_OK) {
		fz_sink += touch(p.payload, p.caplen) + p.seq + p.len;
		if (p.caplen > p.len)
			__builtin_trap();
	}
	free(frame);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_capfile *cf;
	char err[512];
	struct ws_pkt p;
	uint64_t ts;
	uint32_t frame;
	int res;

	fuzz_decode(data, size);

	if (ws_capfile_open_mem(data, size, &cf, err, sizeof(err)))
		return 0;
	fz_sink += strlen(ws_capfile_linktype(cf));
	struct ws_sides *sides = ws_sides_new(1);
	ws_sides_scan(sides, 0, cf, UINT64_MAX);
	ws_capfile_close(cf);
	ws_sides_decide(sides);
	char locals[256];
	ws_sides_describe(sides, 0, locals, sizeof(locals));

	if (ws_capfile_open_mem(data, size, &cf, err, sizeof(err)) == 0) {
		struct fz_ctx c = {0};
		struct ws_offline_cfg cfg = {.max_packets = 64};
		struct ws_offline_sink sink = {.event = fz_event, .advance = fz_advance, .flow = fz_flow,
					       .analysis = fz_analysis, .ctx = &c};
		struct ws_offline *o = ws_offline_new(&cfg, &sink, sides, 0);
		while (ws_capfile_next(cf, &p, &ts, &frame, &res) == 1) {
			if (res == WS_DEC_OK)
				ws_offline_packet(o, &p, ts, frame);
		}
		fz_sink += strlen(ws_capfile_error(cf)) + ws_capfile_stats(cf)->frames;
		ws_offline_finish(o);
		fz_sink += ws_offline_stats(o)->flows;
		ws_offline_free(o);
		ws_capfile_close(cf);
	}
	ws_sides_free(sides);
	return 0;
}
