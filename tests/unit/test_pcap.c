/* test_pcap.c -- the offline capture path on hand-built frames: the frame
 * decoder for every link type (VLAN tags, Linux cooked v1/v2, raw IP, BSD
 * loopback), IPv6 extension headers, fragments, frames cut in every header,
 * GSO frames, bad headers; the TCP analysis (Wireshark's rules) on a small
 * conversation; the stored packet record; and the packet matcher of two
 * captures of one connection. Times in ns. */
#include <arpa/inet.h>

#include "harness.h"
#include "pcap/decode.h"
#include "pcap/offline.h"
#include "pcap/pktmatch.h"
#include "pcap/tcpan.h"

#define US 1000ull
#define MS 1000000ull

/* ---- frame builders ---- */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

struct seg {
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	const uint8_t *opts; /* TCP options, padded with NOPs to 4 bytes */
	uint32_t optlen;
	const uint8_t *data;
	uint32_t len;
};

/* TCP header + options + payload; returns its length. */
static uint32_t build_tcp(uint8_t *b, const struct seg *s)
{
	uint32_t ol = (s->optlen + 3) & ~3u, hl = 20 + ol;

	memset(b, 0, hl);
	put16(b, s->sport);
	put16(b + 2, s->dport);
	put32(b + 4, s->seq);
	put32(b + 8, s->ack);
	b[12] = (uint8_t)((hl / 4) << 4);
	b[13] = s->flags;
	put16(b + 14, s->win);
	if (s->optlen)
		memcpy(b + 20, s->opts, s->optlen);
	memset(b + 20 + s->optlen, 1, ol - s->optlen); /* NOP padding */
	if (s->len)
		memcpy(b + hl, s->data, s->len);
	return hl + s->len;
}

/* IPv4 header (with optlen bytes of options: NOPs, then EOL) around l4;
 * the header length and total length follow from the sizes. */
static uint32_t build_ipv4(uint8_t *b, const uint8_t src[4], const uint8_t dst[4], uint16_t ipid, uint16_t frag,
			   uint8_t proto, uint32_t optlen, const uint8_t *l4, uint32_t l4len)
{
	uint32_t ihl = 20 + ((optlen + 3) & ~3u);

	memset(b, 0, ihl);
	b[0] = (uint8_t)(0x40 | ihl / 4);
	put16(b + 2, (uint16_t)(ihl + l4len));
	put16(b + 4, ipid);
	put16(b + 6, frag);
	b[8] = 64;
	b[9] = proto;
	memcpy(b + 12, src, 4);
	memcpy(b + 16, dst, 4);
	memset(b + 20, 1, ihl - 20);
	if (ihl > 20)
		b[ihl - 1] = 0;
	memmove(b + ihl, l4, l4len);
	return ihl + l4len;
}

/* IPv6 header; ext (extlen bytes, already laid out) sits between it and l4. */
static uint32_t build_ipv6(uint8_t *b, const uint8_t src[16], const uint8_t dst[16], uint8_t nh, const uint8_t *ext,
			   uint32_t extlen, const uint8_t *l4, uint32_t l4len)
{
	memset(b, 0, 40);
	b[0] = 0x60;
	put16(b + 4, (uint16_t)(extlen + l4len));
	b[6] = nh;
	b[7] = 63;
	memcpy(b + 8, src, 16);
	memcpy(b + 24, dst, 16);
	if (extlen)
		memcpy(b + 40, ext, extlen);
	memmove(b + 40 + extlen, l4, l4len);
	return 40 + extlen + l4len;
}

/* Link headers in front of a network packet. */
static uint32_t link_eth(uint8_t *b, const uint16_t *tags, int ntags, uint16_t type, const uint8_t *net, uint32_t n)
{
	uint32_t off = 12;

	memset(b, 0, 12);
	b[0] = 0x02, b[6] = 0x02, b[11] = 1;
	for (int i = 0; i < ntags; i++) {
		put16(b + off, tags[i]);
		put16(b + off + 2, (uint16_t)(100 + i)); /* TCI: VLAN id */
		off += 4;
	}
	put16(b + off, type);
	off += 2;
	memmove(b + off, net, n);
	return off + n;
}

static uint32_t link_sll(uint8_t *b, uint16_t pkttype, uint16_t proto, const uint8_t *net, uint32_t n)
{
	memset(b, 0, 16);
	put16(b, pkttype);
	put16(b + 2, 1);  /* ARPHRD_ETHER */
	put16(b + 4, 6);  /* address length */
	b[6] = 0x02;
	put16(b + 14, proto);
	memmove(b + 16, net, n);
	return 16 + n;
}

static uint32_t link_sll2(uint8_t *b, uint8_t pkttype, uint16_t proto, const uint8_t *net, uint32_t n)
{
	memset(b, 0, 20);
	put16(b, proto);
	put32(b + 4, 2);  /* interface index */
	put16(b + 8, 1);  /* ARPHRD_ETHER */
	b[10] = pkttype;
	b[11] = 6;
	b[12] = 0x02;
	memmove(b + 20, net, n);
	return 20 + n;
}

static uint32_t link_null(uint8_t *b, uint32_t af, bool big_endian, const uint8_t *net, uint32_t n)
{
	if (big_endian) {
		put32(b, af);
	} else {
		b[0] = (uint8_t)af, b[1] = (uint8_t)(af >> 8), b[2] = (uint8_t)(af >> 16), b[3] = (uint8_t)(af >> 24);
	}
	memmove(b + 4, net, n);
	return 4 + n;
}

static const uint8_t A4[4] = {198, 18, 0, 1}, B4[4] = {198, 18, 0, 2};
static const uint8_t A6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, B6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 2};
static const uint8_t PAYLOAD[] = "GET /index.html HTTP/1.1\r\nHost: a\r\n\r\n";
#define PLEN ((uint32_t)sizeof(PAYLOAD) - 1)

static struct seg data_seg(void)
{
	return (struct seg){.sport = 40000, .dport = 80, .seq = 0x11223344, .ack = 0x55667788,
			    .flags = WS_TH_ACK | WS_TH_PSH, .win = 502, .data = PAYLOAD, .len = PLEN};
}

/* An IPv4 TCP packet of data_seg() (ipid 0x1234), at b; returns its length. */
static uint32_t v4_packet(uint8_t *b, uint32_t ipopts)
{
	uint8_t l4[256];
	struct seg s = data_seg();
	uint32_t n = build_tcp(l4, &s);
	return build_ipv4(b, A4, B4, 0x1234, 0x4000 /* DF */, IPPROTO_TCP, ipopts, l4, n);
}

static uint32_t v6_packet(uint8_t *b)
{
	uint8_t l4[256];
	struct seg s = data_seg();
	uint32_t n = build_tcp(l4, &s);
	return build_ipv6(b, A6, B6, IPPROTO_TCP, NULL, 0, l4, n);
}

static void check_ep(const struct ws_endpoint *e, int family, const uint8_t *addr, uint16_t port)
{
	CHECK_INT(e->family, family);
	CHECK(memcmp(e->addr, addr, family == AF_INET ? 4 : 16) == 0, "address differs");
	CHECK_INT(e->port, port);
}

/* the fields of data_seg() */
static void check_data_pkt(const struct ws_pkt *p, int family, uint8_t way)
{
	check_ep(&p->src, family, family == AF_INET ? A4 : A6, 40000);
	check_ep(&p->dst, family, family == AF_INET ? B4 : B6, 80);
	CHECK_INT(p->seq, 0x11223344u);
	CHECK_INT(p->ack, 0x55667788u);
	CHECK_INT(p->flags, WS_TH_ACK | WS_TH_PSH);
	CHECK_INT(p->win, 502);
	CHECK_INT(p->ipid, family == AF_INET ? 0x1234 : 0);
	CHECK_INT(p->ttl, family == AF_INET ? 64 : 63);
	CHECK_INT(p->len, PLEN);
	CHECK_INT(p->caplen, PLEN);
	CHECK_INT(p->wscale, 0xff);
	CHECK_INT(p->way, way);
	CHECK(p->payload && memcmp(p->payload, PAYLOAD, PLEN) == 0, "payload differs");
}

static int decode(int dlt, const uint8_t *f, uint32_t n, struct ws_pkt *p)
{
	return ws_pkt_decode(dlt, f, n, n, p);
}

/* Every cut of a frame whose headers take hdrs bytes: truncated inside the
 * headers, then OK with the captured part of the payload. */
static void check_cuts(int dlt, const uint8_t *f, uint32_t n, uint32_t hdrs, const char *what)
{
	struct ws_pkt p;
	int bad = 0;

	t_context = what;
	CHECK_INT(n - hdrs, PLEN);
	for (uint32_t c = 0; c <= n; c++) {
		int r = ws_pkt_decode(dlt, f, c, n, &p);
		if (c < hdrs) {
			if (r != WS_DEC_TRUNCATED) {
				CHECK_INT(r, WS_DEC_TRUNCATED);
				bad++;
			}
			continue;
		}
		if (r != WS_DEC_OK || p.caplen != c - hdrs || p.len != PLEN ||
		    memcmp(p.payload, PAYLOAD, p.caplen) != 0) {
			CHECK(0, "cut at %u of %u: result %s caplen %u len %u", c, n, ws_decode_result_name(r), p.caplen,
			      p.len);
			bad++;
		}
	}
	CHECK(bad == 0, "%d cuts wrong", bad);
}

static void test_decode(void)
{
	uint8_t net[512], f[600], l4[256];
	struct ws_pkt p;
	uint32_t nn, n;

	t_context = "ethernet";
	nn = v4_packet(net, 0);
	CHECK_INT(nn, 20 + 20 + PLEN);
	n = link_eth(f, NULL, 0, 0x0800, net, nn);
	CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	/* Ethernet padding after the IP packet is not payload */
	memset(f + n, 0, 8);
	CHECK_INT(decode(WS_DLT_EN10MB, f, n + 8, &p), WS_DEC_OK);
	CHECK_INT(p.len, PLEN);
	CHECK_INT(p.caplen, PLEN);

	t_context = "802.1Q";
	uint16_t one[] = {0x8100};
	n = link_eth(f, one, 1, 0x0800, net, nn);
	CHECK_INT(n, 18 + nn);
	CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);

	t_context = "802.1ad + 802.1Q";
	uint16_t two[] = {0x88a8, 0x8100};
	n = link_eth(f, two, 2, 0x0800, net, nn);
	CHECK_INT(n, 22 + nn);
	CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	check_cuts(WS_DLT_EN10MB, f, n, 22 + 40, "802.1ad + 802.1Q, cut");

	t_context = "ethernet IPv6";
	uint32_t nn6 = v6_packet(net);
	n = link_eth(f, NULL, 0, 0x86dd, net, nn6);
	CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);

	t_context = "linux cooked v1";
	nn = v4_packet(net, 0);
	n = link_sll(f, 4, 0x0800, net, nn);
	CHECK_INT(n, 16 + nn);
	CHECK_INT(decode(WS_DLT_LINUX_SLL, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_OUT);
	n = link_sll(f, 0, 0x0800, net, nn);
	CHECK_INT(decode(WS_DLT_LINUX_SLL, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_IN);
	n = link_sll(f, 3, 0x0800, net, nn); /* PACKET_OTHERHOST */
	CHECK_INT(decode(WS_DLT_LINUX_SLL, f, n, &p), WS_DEC_OK);
	CHECK_INT(p.way, WS_WAY_UNKNOWN);
	check_cuts(WS_DLT_LINUX_SLL, f, n, 16 + 40, "linux cooked v1, cut");

	t_context = "linux cooked v2";
	n = link_sll2(f, 4, 0x0800, net, nn);
	CHECK_INT(n, 20 + nn);
	CHECK_INT(decode(WS_DLT_LINUX_SLL2, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_OUT);
	n = link_sll2(f, 0, 0x0800, net, nn);
	CHECK_INT(decode(WS_DLT_LINUX_SLL2, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_IN);
	n = link_sll2(f, 0, 0x86dd, net, v6_packet(net));
	CHECK_INT(decode(WS_DLT_LINUX_SLL2, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET6, WS_WAY_IN);
	check_cuts(WS_DLT_LINUX_SLL2, f, n, 20 + 60, "linux cooked v2 IPv6, cut");

	t_context = "raw IPv4";
	nn = v4_packet(f, 0);
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_RAW_ALT, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_IPV6, f, nn, &p), WS_DEC_BAD_HEADER); /* an IPv4 packet where IPv6 is due */
	check_cuts(WS_DLT_RAW, f, nn, 40, "raw IPv4, cut");

	t_context = "raw IPv4 with options";
	nn = v4_packet(f, 4);
	CHECK_INT(nn, 24 + 20 + PLEN);
	CHECK_INT(f[0], 0x46);
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	check_cuts(WS_DLT_IPV4, f, nn, 44, "raw IPv4 with options, cut");

	t_context = "raw IPv6";
	nn = v6_packet(f);
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_IPV6, f, nn, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_BAD_HEADER);
	check_cuts(WS_DLT_IPV6, f, nn, 60, "raw IPv6, cut");
	f[0] = 0x50;
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_NOT_IP);

	t_context = "BSD loopback";
	nn = v4_packet(net, 0);
	n = link_null(f, 2, false, net, nn);
	CHECK_INT(f[0], 2);
	CHECK_INT(decode(WS_DLT_NULL, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	n = link_null(f, 2, true, net, nn); /* NULL in the writer's order: big endian works too */
	CHECK_INT(decode(WS_DLT_NULL, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	CHECK_INT(decode(WS_DLT_LOOP, f, n, &p), WS_DEC_OK);
	check_data_pkt(&p, AF_INET, WS_WAY_UNKNOWN);
	check_cuts(WS_DLT_LOOP, f, n, 44, "BSD loopback, cut");
	n = link_null(f, 2, false, net, nn); /* LOOP is big endian only */
	CHECK_INT(decode(WS_DLT_LOOP, f, n, &p), WS_DEC_NOT_IP);
	nn6 = v6_packet(net);
	uint32_t afs[] = {10, 24, 28, 30};
	for (size_t i = 0; i < WS_ARRAY_SIZE(afs); i++) {
		n = link_null(f, afs[i], false, net, nn6);
		CHECK_INT(decode(WS_DLT_NULL, f, n, &p), WS_DEC_OK);
		check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);
	}
	n = link_null(f, 17, false, net, nn6);
	CHECK_INT(decode(WS_DLT_NULL, f, n, &p), WS_DEC_NOT_IP);

	t_context = "IPv6 hop-by-hop";
	{
		struct seg s = data_seg();
		uint8_t ext[16] = {IPPROTO_TCP, 1, 1, 4, 0, 0, 0, 0, 1, 4, 0, 0, 0, 0, 1, 0}; /* 16 bytes of PadN/Pad1 */
		uint32_t l4n = build_tcp(l4, &s);
		nn = build_ipv6(net, A6, B6, 0 /* hop-by-hop */, ext, sizeof(ext), l4, l4n);
		n = link_eth(f, NULL, 0, 0x86dd, net, nn);
		CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_OK);
		check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);
		check_cuts(WS_DLT_EN10MB, f, n, 14 + 40 + 16 + 20, "IPv6 hop-by-hop, cut");
		/* hop-by-hop then destination options */
		uint8_t ext2[16] = {60, 0, 1, 4, 0, 0, 0, 0, IPPROTO_TCP, 0, 1, 4, 0, 0, 0, 0};
		nn = build_ipv6(net, A6, B6, 0, ext2, sizeof(ext2), l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV6, net, nn, &p), WS_DEC_OK);
		check_data_pkt(&p, AF_INET6, WS_WAY_UNKNOWN);
		/* an extension header longer than the payload length */
		ext[1] = 200;
		nn = build_ipv6(net, A6, B6, 0, ext, sizeof(ext), l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV6, net, nn, &p), WS_DEC_BAD_HEADER);

		t_context = "IPv6 fragment";
		uint8_t frag[8] = {IPPROTO_TCP, 0, 0, 1 /* MF */, 0, 0, 0, 7};
		nn = build_ipv6(net, A6, B6, 44, frag, sizeof(frag), l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV6, net, nn, &p), WS_DEC_FRAGMENT);
		/* a fragment header after a hop-by-hop header */
		uint8_t hf[16] = {44, 0, 1, 4, 0, 0, 0, 0, IPPROTO_TCP, 0, 0, 1, 0, 0, 0, 7};
		nn = build_ipv6(net, A6, B6, 0, hf, sizeof(hf), l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV6, net, nn, &p), WS_DEC_FRAGMENT);

		t_context = "IPv6 UDP";
		nn = build_ipv6(net, A6, B6, IPPROTO_UDP, NULL, 0, l4, 28);
		CHECK_INT(decode(WS_DLT_IPV6, net, nn, &p), WS_DEC_NOT_TCP);

		t_context = "IPv4 fragments";
		nn = build_ipv4(net, A4, B4, 7, 0x2000 /* MF */, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, net, nn, &p), WS_DEC_FRAGMENT);
		nn = build_ipv4(net, A4, B4, 7, 0x0010 /* offset 128 */, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, net, nn, &p), WS_DEC_FRAGMENT);
		nn = build_ipv4(net, A4, B4, 7, 0x4000 /* DF only */, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, net, nn, &p), WS_DEC_OK);
		CHECK_INT(p.ipid, 7);

		t_context = "IPv4 UDP";
		uint8_t udp[12] = {0x9c, 0x40, 0x00, 0x35, 0, 12, 0, 0, 'a', 'b', 'c', 'd'};
		nn = build_ipv4(net, A4, B4, 8, 0, IPPROTO_UDP, 0, udp, sizeof(udp));
		n = link_eth(f, NULL, 0, 0x0800, net, nn);
		CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_NOT_TCP);

		t_context = "ARP";
		uint8_t arp[28] = {0, 1, 8, 0, 6, 4, 0, 1};
		n = link_eth(f, NULL, 0, 0x0806, arp, sizeof(arp));
		CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_NOT_IP);
		n = link_sll2(f, 0, 0x0806, arp, sizeof(arp));
		CHECK_INT(decode(WS_DLT_LINUX_SLL2, f, n, &p), WS_DEC_NOT_IP);
		n = link_eth(f, one, 1, 0x0806, arp, sizeof(arp));
		CHECK_INT(decode(WS_DLT_EN10MB, f, n, &p), WS_DEC_NOT_IP);

		t_context = "GSO";
		/* a 3000-byte segment captured before segmentation: IP total
		 * length 0, only the first 100 payload bytes captured */
		static uint8_t big[3000], gso[3200];
		for (size_t i = 0; i < sizeof(big); i++)
			big[i] = (uint8_t)i;
		s.data = big;
		s.len = sizeof(big);
		l4n = build_tcp(l4, &(struct seg){.sport = 1, .dport = 2, .flags = WS_TH_ACK, .win = 9});
		memcpy(gso + 14 + 20, l4, 20);
		memcpy(gso + 14 + 40, big, sizeof(big));
		nn = build_ipv4(gso + 14, A4, B4, 9, 0, IPPROTO_TCP, 0, gso + 14 + 20, 20 + sizeof(big));
		put16(gso + 14 + 2, 0);
		link_eth(gso, NULL, 0, 0x0800, gso + 14, nn);
		uint32_t wire = 14 + 40 + 3000;
		CHECK_INT(ws_pkt_decode(WS_DLT_EN10MB, gso, 14 + 40 + 100, wire, &p), WS_DEC_OK);
		CHECK_INT(p.len, 3000);
		CHECK_INT(p.caplen, 100);
		CHECK(memcmp(p.payload, big, 100) == 0, "GSO payload");
		/* the same in IPv6 (payload length 0) */
		memcpy(gso + 14 + 40, l4, 20);
		memcpy(gso + 14 + 60, big, sizeof(big));
		nn = build_ipv6(gso + 14, A6, B6, IPPROTO_TCP, NULL, 0, gso + 14 + 40, 20 + sizeof(big));
		put16(gso + 14 + 4, 0);
		link_eth(gso, NULL, 0, 0x86dd, gso + 14, nn);
		CHECK_INT(ws_pkt_decode(WS_DLT_EN10MB, gso, 14 + 60 + 100, 14 + 60 + 3000, &p), WS_DEC_OK);
		CHECK_INT(p.len, 3000);
		CHECK_INT(p.caplen, 100);
	}

	t_context = "bad headers";
	nn = v4_packet(f, 0);
	f[20 + 12] = 4 << 4; /* TCP data offset 16 bytes */
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_BAD_HEADER);
	f[20 + 12] = 0;
	CHECK_INT(decode(WS_DLT_RAW, f, nn, &p), WS_DEC_BAD_HEADER);
	f[20 + 12] = 15 << 4; /* 60 bytes: longer than the segment */
	CHECK_INT(decode(WS_DLT_IPV4, f, 40, &p), WS_DEC_BAD_HEADER);
	nn = v4_packet(f, 0);
	f[0] = 0x55; /* IPv4 version 5 */
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_BAD_HEADER);
	f[0] = 0x44; /* IHL 16 bytes */
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_BAD_HEADER);
	f[0] = 0x45;
	put16(f + 2, 10); /* total length shorter than the header */
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_BAD_HEADER);
	put16(f + 2, 30); /* room for 10 bytes of TCP header only */
	CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_BAD_HEADER);
	nn = v6_packet(f);
	f[0] = 0x40;
	CHECK_INT(decode(WS_DLT_IPV6, f, nn, &p), WS_DEC_BAD_HEADER);

	t_context = "link types";
	nn = v4_packet(f, 0);
	CHECK_INT(decode(105 /* 802.11 */, f, nn, &p), WS_DEC_BAD_LINKTYPE);
	CHECK_INT(decode(-1, f, nn, &p), WS_DEC_BAD_LINKTYPE);
	CHECK(!ws_dlt_supported(105), "802.11 supported");
	int dlts[] = {WS_DLT_NULL, WS_DLT_EN10MB, WS_DLT_RAW, WS_DLT_RAW_ALT, WS_DLT_LOOP, WS_DLT_LINUX_SLL,
		      WS_DLT_IPV4, WS_DLT_IPV6, WS_DLT_LINUX_SLL2};
	for (size_t i = 0; i < WS_ARRAY_SIZE(dlts); i++) {
		CHECK(ws_dlt_supported(dlts[i]), "link type %d", dlts[i]);
		CHECK_INT(ws_pkt_decode(dlts[i], f, 0, 0, &p), WS_DEC_TRUNCATED);
	}
	CHECK_STR(ws_decode_result_name(WS_DEC_TRUNCATED), "truncated_headers");
	CHECK_STR(ws_decode_result_name(WS_DEC_N), "?");

	t_context = "window scale";
	{
		uint8_t opts[] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7}; /* MSS 1460, NOP, WS 7 */
		struct seg s = {.sport = 40000, .dport = 80, .seq = 1000, .flags = WS_TH_SYN, .win = 64240,
				.opts = opts, .optlen = sizeof(opts)};
		uint32_t l4n = build_tcp(l4, &s);
		CHECK_INT(l4n, 28);
		nn = build_ipv4(f, A4, B4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 7);
		CHECK_INT(p.flags, WS_TH_SYN);
		CHECK_INT(p.len, 0);
		CHECK_INT(p.caplen, 0);
		CHECK_INT(p.seq, 1000);
		CHECK_INT(p.win, 64240);
		/* on a SYN-ACK too */
		s.flags = WS_TH_SYN | WS_TH_ACK;
		s.ack = 1001;
		build_tcp(l4, &s);
		nn = build_ipv4(f, B4, A4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 7);
		/* a shift above 14 counts as 14 */
		opts[7] = 15;
		build_tcp(l4, &s);
		nn = build_ipv4(f, B4, A4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 14);
		opts[7] = 7;
		/* not on a segment without SYN */
		s.flags = WS_TH_ACK;
		build_tcp(l4, &s);
		nn = build_ipv4(f, B4, A4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 0xff);
		/* a SYN without the option */
		uint8_t mss[] = {2, 4, 0x05, 0xb4};
		s = (struct seg){.sport = 40000, .dport = 80, .seq = 1000, .flags = WS_TH_SYN, .win = 64240, .opts = mss,
				 .optlen = sizeof(mss)};
		l4n = build_tcp(l4, &s);
		nn = build_ipv4(f, A4, B4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 0xff);
		/* an option whose length runs past the header is not read */
		uint8_t badopt[] = {1, 1, 3, 9, 0, 0, 0, 0};
		s.opts = badopt;
		s.optlen = sizeof(badopt);
		l4n = build_tcp(l4, &s);
		nn = build_ipv4(f, A4, B4, 1, 0x4000, IPPROTO_TCP, 0, l4, l4n);
		CHECK_INT(decode(WS_DLT_IPV4, f, nn, &p), WS_DEC_OK);
		CHECK_INT(p.wscale, 0xff);
	}
	t_context = "";
}

/* ---- TCP analysis ---- */

struct conv_state {
	struct ws_tcpan an;
	uint32_t frame;
	uint64_t t0;
};

/* One packet of the conversation: dir 0 client to server. */
static struct ws_tcpan_out ta(struct conv_state *c, int dir, uint64_t t_ms, uint32_t seq, uint32_t ack,
			      uint8_t flags, uint16_t win, uint32_t len)
{
	struct ws_pkt p = {.seq = seq, .ack = ack, .flags = flags, .win = win, .len = len, .caplen = 0,
			   .wscale = 0xff};
	struct ws_tcpan_out o;

	ws_endpoint_set(&p.src, AF_INET, dir ? B4 : A4, dir ? 80 : 40000);
	ws_endpoint_set(&p.dst, AF_INET, dir ? A4 : B4, dir ? 40000 : 80);
	ws_tcpan_packet(&c->an, dir, &p, c->t0 + t_ms * MS, ++c->frame, &o);
	return o;
}

#define A WS_TH_ACK
#define PA (WS_TH_PSH | WS_TH_ACK)

static void check_flags(uint32_t got, uint32_t want)
{
	char g[256], w[256];

	CHECK(got == want, "analysis [%s], want [%s]", ws_tcpan_flag_names(got, g, sizeof(g)),
	      ws_tcpan_flag_names(want, w, sizeof(w)));
}

static void test_tcpan(void)
{
	struct conv_state c = {.t0 = 1700000000ull * 1000000000ull};
	struct ws_tcpan_out o;
	char names[256];

	t_context = "tcpan handshake";
	o = ta(&c, 0, 0, 1000, 0, WS_TH_SYN, 64240, 0); /* 1 */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 0);
	o = ta(&c, 1, 10, 5000, 1001, WS_TH_SYN | A, 65160, 0); /* 2 */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 1);
	CHECK_INT(o.ack_rtt_ns, 10 * MS);
	o = ta(&c, 0, 11, 1001, 5001, A, 502, 0); /* 3 */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 2);
	CHECK_INT(o.ack_rtt_ns, 1 * MS);
	CHECK_INT(c.an.first_rtt_ns, 11 * MS);

	t_context = "tcpan data and ack";
	o = ta(&c, 0, 100, 1001, 5001, PA, 502, 100); /* 4 */
	check_flags(o.flags, 0);
	o = ta(&c, 1, 110, 5001, 1101, A, 509, 0); /* 5 */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 4);
	CHECK_INT(o.ack_rtt_ns, 10 * MS);

	t_context = "tcpan retransmission";
	o = ta(&c, 0, 200, 1101, 5001, PA, 502, 100); /* 6 */
	check_flags(o.flags, 0);
	o = ta(&c, 0, 400, 1101, 5001, PA, 502, 100); /* 7: 200 ms later, not acked */
	check_flags(o.flags, WS_TA_RETRANS);
	o = ta(&c, 1, 410, 5001, 1201, A, 509, 0); /* 8: acks both; the oldest copy wins */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 6);
	CHECK_INT(o.ack_rtt_ns, 210 * MS);

	t_context = "tcpan spurious";
	o = ta(&c, 0, 500, 1101, 5001, PA, 502, 100); /* 9: all of it acked already */
	check_flags(o.flags, WS_TA_SPURIOUS | WS_TA_RETRANS);
	CHECK_STR(ws_tcpan_flag_names(o.flags, names, sizeof(names)), "retransmission,spurious_retransmission");

	t_context = "tcpan dup acks and fast retransmission";
	o = ta(&c, 0, 600, 1201, 5001, PA, 502, 100); /* 10 */
	check_flags(o.flags, 0);
	o = ta(&c, 0, 601, 1301, 5001, PA, 502, 100); /* 11: lost on the way */
	check_flags(o.flags, 0);
	o = ta(&c, 0, 602, 1401, 5001, PA, 502, 100); /* 12 */
	check_flags(o.flags, 0);
	o = ta(&c, 1, 611, 5001, 1301, A, 509, 0); /* 13: the ack advances */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 10);
	CHECK_INT(o.ack_rtt_ns, 11 * MS);
	o = ta(&c, 1, 612, 5001, 1301, A, 509, 0); /* 14 */
	check_flags(o.flags, WS_TA_DUP_ACK);
	CHECK_INT(o.dupack_num, 1);
	CHECK_INT(o.dupack_frame, 13);
	CHECK_INT(o.acks_frame, 0);
	o = ta(&c, 1, 613, 5001, 1301, A, 509, 0); /* 15 */
	check_flags(o.flags, WS_TA_DUP_ACK);
	CHECK_INT(o.dupack_num, 2);
	CHECK_INT(o.dupack_frame, 13);
	o = ta(&c, 0, 620, 1301, 5001, PA, 502, 100); /* 16: 7 ms after the last dup ACK */
	check_flags(o.flags, WS_TA_FAST_RETRANS | WS_TA_RETRANS);
	o = ta(&c, 1, 630, 5001, 1501, A, 509, 0); /* 17: acks everything */
	check_flags(o.flags, 0);
	CHECK_INT(o.acks_frame, 12);
	CHECK_INT(o.ack_rtt_ns, 28 * MS);
	CHECK_INT(c.an.d[0].nunacked, 0);

	t_context = "tcpan zero window";
	o = ta(&c, 1, 700, 5001, 1501, A, 0, 0); /* 18 */
	check_flags(o.flags, WS_TA_ZERO_WINDOW);
	o = ta(&c, 1, 800, 5001, 1501, A, 509, 0); /* 19: reopened */
	check_flags(o.flags, WS_TA_WINDOW_UPDATE);

	t_context = "tcpan lost segment";
	o = ta(&c, 0, 900, 1601, 5001, PA, 502, 100); /* 20: 1501..1600 never seen */
	check_flags(o.flags, WS_TA_LOST_SEGMENT);
	o = ta(&c, 1, 910, 5001, 1701, A, 509, 0); /* 21: acks what the capture missed */
	check_flags(o.flags, WS_TA_ACKED_UNSEEN);
	CHECK_INT(o.acks_frame, 20);
	CHECK_INT(o.ack_rtt_ns, 10 * MS);

	t_context = "tcpan out of order";
	o = ta(&c, 0, 1000, 1801, 5001, PA, 502, 100); /* 22: 1701..1800 comes later */
	check_flags(o.flags, WS_TA_LOST_SEGMENT);
	o = ta(&c, 0, 1001, 1701, 5001, PA, 502, 100); /* 23: 1 ms later, under the 11 ms iRTT */
	check_flags(o.flags, WS_TA_OUT_OF_ORDER);
	ws_tcpan_free(&c.an);
	t_context = "";
}

/* ---- packet records ---- */

static void test_pktrec(void)
{
	struct ws_pktrec r = {.ts = 0x0123456789abcdefull, .seq = 0xfedcba98, .ack = 0x13579bdf, .len = 65535 * 3,
			      .frame = 0x80000001u, .ack_rtt_us = 0xdeadbeef, .win = 0xfffe, .ipid = 0x8001,
			      .analysis = WS_TA_DUP_ACK | WS_TA_WINDOW_FULL, .flags = 0x3f, .dir = 1},
			 g;
	uint8_t b[WS_PKTREC_SIZE + 1];

	t_context = "pktrec";
	memset(b, 0xaa, sizeof(b));
	memset(&g, 0x55, sizeof(g));
	ws_pktrec_put(b, &r);
	CHECK_INT(b[WS_PKTREC_SIZE], 0xaa); /* no byte past the record */
	CHECK_INT(b[0], 0xef);              /* little endian */
	ws_pktrec_get(b, &g);
	CHECK_INT(g.ts, r.ts);
	CHECK_INT(g.seq, r.seq);
	CHECK_INT(g.ack, r.ack);
	CHECK_INT(g.len, r.len);
	CHECK_INT(g.frame, r.frame);
	CHECK_INT(g.ack_rtt_us, r.ack_rtt_us);
	CHECK_INT(g.win, r.win);
	CHECK_INT(g.ipid, r.ipid);
	CHECK_INT(g.analysis, r.analysis);
	CHECK_INT(g.flags, r.flags);
	CHECK_INT(g.dir, r.dir);
	t_context = "";
}

/* ---- two captures of one connection ---- */

#define NPK 32

struct cap {
	struct ws_flowpkts f;
	struct ws_pktrec v[NPK];
};

static void cap_add(struct cap *c, uint64_t ts, int dir, uint32_t seq, uint32_t ack, uint32_t len, uint16_t ipid,
		    uint8_t flags)
{
	struct ws_pktrec *r = &c->v[c->f.n++];

	*r = (struct ws_pktrec){.ts = ts, .seq = seq, .ack = ack, .len = len, .frame = c->f.n, .win = 500,
				.ipid = ipid, .flags = flags, .dir = (uint8_t)dir};
	if (!c->f.first_ns)
		c->f.first_ns = ts;
	c->f.last_ns = ts;
}

/* sort one capture's packets by time (insertion) */
static void cap_sort(struct cap *c)
{
	for (uint32_t i = 1; i < c->f.n; i++)
		for (uint32_t j = i; j > 0 && c->v[j].ts < c->v[j - 1].ts; j--) {
			struct ws_pktrec t = c->v[j];
			c->v[j] = c->v[j - 1];
			c->v[j - 1] = t;
		}
	c->f.first_ns = c->v[0].ts;
	c->f.last_ns = c->v[c->f.n - 1].ts;
}

static int64_t i64abs(int64_t x) { return x < 0 ? -x : x; }

static void check_rows(const struct ws_pktmatch *m, const char *what)
{
	int bad_delay = 0, bad_order = 0, lost = 0;

	for (size_t i = 0; i < m->n; i++) {
		const struct ws_pktrow *r = &m->rows[i];
		if (i && r->at < m->rows[i - 1].at)
			bad_order++;
		if (r->sent && r->recv && i64abs(r->delay - (int64_t)(100 * US)) > (int64_t)US)
			bad_delay++;
		if (r->p.ipid == 300) {
			lost++;
			CHECK(r->sent != 0 && r->recv == 0, "%s: lost packet sent %llu recv %llu", what,
			      (unsigned long long)r->sent, (unsigned long long)r->recv);
			CHECK_INT(r->p.len, 50);
		} else {
			CHECK(r->sent != 0 && r->recv != 0, "%s: row %zu (ipid %u) sent %llu recv %llu", what, i,
			      r->p.ipid, (unsigned long long)r->sent, (unsigned long long)r->recv);
		}
	}
	CHECK_INT(lost, 1);
	CHECK(bad_delay == 0, "%s: %d rows with a delay other than 100 us", what, bad_delay);
	CHECK(bad_order == 0, "%s: %d rows out of order", what, bad_order);
}

static void test_pktmatch(void)
{
	static struct cap a, b;
	struct ws_pktmatch m;
	const uint64_t t0 = 1700000000ull * 1000000000ull, skew = 5 * MS, owd = 100 * US;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.f.v = a.v;
	b.f.v = b.v;
	/* a at the client, b at the server whose clock is 5 ms ahead */
	uint32_t cseq = 1001, sseq = 5001;
	for (int i = 0; i < 10; i++) {
		uint64_t t = t0 + (uint64_t)i * MS; /* true time the client sends */
		cap_add(&a, t, 0, cseq, sseq, 100, (uint16_t)(100 + i), PA);
		cap_add(&b, t + owd + skew, 0, cseq, sseq, 100, (uint16_t)(100 + i), PA);
		cseq += 100;
		uint64_t ts = t + 500 * US; /* the server answers */
		cap_add(&b, ts + skew, 1, sseq, cseq, 10, (uint16_t)(200 + i), PA);
		cap_add(&a, ts + owd, 1, sseq, cseq, 10, (uint16_t)(200 + i), PA);
		sseq += 10;
	}
	/* one lost on the way, then its retransmission, which arrives */
	cap_add(&a, t0 + 20 * MS, 0, cseq, sseq, 50, 300, PA);
	cap_add(&a, t0 + 30 * MS, 0, cseq, sseq, 50, 301, PA);
	cap_add(&b, t0 + 30 * MS + owd + skew, 0, cseq, sseq, 50, 301, PA);
	cap_sort(&a);
	cap_sort(&b);

	t_context = "pktmatch a at the client";
	ws_pktmatch(&a.f, &b.f, -1, &m);
	CHECK_INT(m.matched, 21);
	CHECK_INT(m.n, 22);
	CHECK_INT(m.client_cap, 0);
	CHECK(m.offset_known, "offset known");
	CHECK(i64abs(m.offset_ns - (int64_t)skew) <= (int64_t)US, "offset %lld", (long long)m.offset_ns);
	CHECK(i64abs(m.min_delay[0] - (int64_t)owd) <= (int64_t)US, "min delay %lld", (long long)m.min_delay[0]);
	CHECK(i64abs(m.min_delay[1] - (int64_t)owd) <= (int64_t)US, "min delay %lld", (long long)m.min_delay[1]);
	check_rows(&m, "a at the client");
	/* rows are on a's clock: the first is the client's first send */
	CHECK_INT(m.rows[0].at, t0);
	CHECK_INT(m.rows[0].sent, t0);
	CHECK_INT(m.rows[0].p.ipid, 100);
	/* a server packet: sent on b's clock, received on a's */
	CHECK_INT(m.rows[1].p.ipid, 200);
	CHECK_INT(m.rows[1].sent, t0 + 500 * US + skew);
	CHECK_INT(m.rows[1].recv, t0 + 500 * US + owd);
	ws_pktmatch_free(&m);

	t_context = "pktmatch swapped";
	ws_pktmatch(&b.f, &a.f, -1, &m);
	CHECK_INT(m.matched, 21);
	CHECK_INT(m.n, 22);
	CHECK_INT(m.client_cap, 1);
	CHECK(m.offset_known, "offset known");
	CHECK(i64abs(m.offset_ns + (int64_t)skew) <= (int64_t)US, "offset %lld", (long long)m.offset_ns);
	check_rows(&m, "swapped");
	ws_pktmatch_free(&m);

	t_context = "pktmatch one capture";
	ws_pktmatch(&a.f, NULL, 1, &m);
	CHECK_INT(m.matched, 0);
	CHECK_INT(m.n, a.f.n);
	CHECK_INT(m.client_cap, 0);
	CHECK(!m.offset_known, "no offset");
	int bad = 0;
	for (size_t i = 0; i < m.n; i++) {
		const struct ws_pktrow *r = &m.rows[i];
		if (i && r->at < m.rows[i - 1].at)
			bad++;
		if (r->p.dir == 0 ? (r->sent != r->p.ts || r->recv) : (r->recv != r->p.ts || r->sent))
			bad++;
	}
	CHECK(bad == 0, "%d rows wrong", bad);
	ws_pktmatch_free(&m);
	ws_pktmatch(&a.f, NULL, -1, &m);
	CHECK_INT(m.client_cap, -1);
	CHECK_INT(m.n, a.f.n);
	ws_pktmatch_free(&m);
	ws_pktmatch(&b.f, NULL, 0, &m);
	CHECK_INT(m.client_cap, 1);
	ws_pktmatch_free(&m);

	t_context = "pktmatch no overlap";
	struct cap other;
	memset(&other, 0, sizeof(other));
	other.f.v = other.v;
	cap_add(&other, t0, 0, 1, 2, 3, 4, A);
	ws_pktmatch(&a.f, &other.f, -1, &m);
	CHECK_INT(m.matched, 0);
	CHECK_INT(m.client_cap, -1);
	CHECK_INT(m.n, a.f.n + 1);
	ws_pktmatch_free(&m);
	t_context = "";
}

int main(void)
{
	test_decode();
	test_tcpan();
	test_pktrec();
	test_pktmatch();
	return t_summary("test_pcap");
}
