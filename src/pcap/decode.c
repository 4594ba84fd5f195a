/* decode.c -- see decode.h. Header layouts: IEEE 802.3/802.1Q, the
 * Linux cooked capture formats (tcpdump.org/linktypes), RFC 791, RFC 8200,
 * RFC 9293. */
#include "pcap/decode.h"

#include <arpa/inet.h>
#include <string.h>

#define ETH_IPV4 0x0800
#define ETH_IPV6 0x86dd
#define ETH_VLAN 0x8100
#define ETH_QINQ 0x88a8
#define ETH_QINQ_OLD 0x9100
#define MAX_TAGS 4


const char *ws_decode_result_name(int r)
{
	static const char *const names[WS_DEC_N] = {
		[WS_DEC_OK] = "ok",
		[WS_DEC_NOT_IP] = "not_ip",
		[WS_DEC_NOT_TCP] = "not_tcp",
		[WS_DEC_FRAGMENT] = "ip_fragment",
		[WS_DEC_TRUNCATED] = "truncated_headers",
		[WS_DEC_BAD_HEADER] = "bad_headers",
		[WS_DEC_BAD_LINKTYPE] = "unsupported_link_type",
	};
	return r >= 0 && r < WS_DEC_N ? names[r] : "?";
}

bool ws_dlt_supported(int dlt)
{
	switch (dlt) {
	case WS_DLT_NULL: case WS_DLT_EN10MB: case WS_DLT_RAW: case WS_DLT_RAW_ALT: case WS_DLT_LOOP:
	case WS_DLT_LINUX_SLL: case WS_DLT_IPV4: case WS_DLT_IPV6: case WS_DLT_LINUX_SLL2:
		return true;
	}
	return false;
}

/* Linux packet types in cooked headers */
static uint8_t way_of(unsigned pkttype)
{
	if (pkttype == 4) /* PACKET_OUTGOING */
		return WS_WAY_OUT;
	if (pkttype == 0) /* PACKET_HOST */
		return WS_WAY_IN;
	return WS_WAY_UNKNOWN;
}

static int tcp(const uint8_t *p, uint32_t caplen, uint32_t seglen, struct ws_pkt *out)
{
	if (caplen < 20)
		return WS_DEC_TRUNCATED;
	uint32_t hl = (uint32_t)(p[12] >> 4) * 4;
	if (hl < 20 || hl > seglen)
		return WS_DEC_BAD_HEADER;
	if (caplen < hl)
		return WS_DEC_TRUNCATED;
	out->src.port = ws_be16_get(p);
	out->dst.port = ws_be16_get(p + 2);
	out->seq = ws_be32_get(p + 4);
	out->ack = ws_be32_get(p + 8);
	out->flags = p[13] & 0x3f;
	out->win = ws_be16_get(p + 14);
	out->wscale = 0xff;
	out->mss = 0;
	if (out->flags & WS_TH_SYN) {
		for (uint32_t o = 20; o < hl;) {
			uint8_t kind = p[o];
			if (kind == 0)
				break;
			if (kind == 1) {
				o++;
				continue;
			}
			if (o + 1 >= hl || p[o + 1] < 2 || o + p[o + 1] > hl)
				break;
			if (kind == 3 && p[o + 1] == 3)
				out->wscale = WS_MIN(p[o + 2], 14);
			if (kind == 2 && p[o + 1] == 4)
				out->mss = ws_be16_get(p + o + 2);
			o += p[o + 1];
		}
	}
	out->len = seglen - hl;
	out->caplen = WS_MIN(caplen - hl, out->len);
	out->payload = p + hl;
	return WS_DEC_OK;
}

static int ipv4(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct ws_pkt *out)
{
	if (caplen < 20)
		return WS_DEC_TRUNCATED;
	if (p[0] >> 4 != 4)
		return WS_DEC_BAD_HEADER;
	uint32_t ihl = (uint32_t)(p[0] & 0xf) * 4;
	uint32_t total = ws_be16_get(p + 2);
	if (ihl < 20)
		return WS_DEC_BAD_HEADER;
	if (total == 0) /* a GSO frame captured before segmentation: its length is the frame's */
		total = wirelen;
	if (total < ihl)
		return WS_DEC_BAD_HEADER;
	if (caplen < ihl)
		return WS_DEC_TRUNCATED;
	if (ws_be16_get(p + 6) & 0x3fff) /* MF or an offset */
		return WS_DEC_FRAGMENT;
	if (p[9] != IPPROTO_TCP)
		return WS_DEC_NOT_TCP;
	ws_endpoint_set(&out->src, AF_INET, p + 12, 0);
	ws_endpoint_set(&out->dst, AF_INET, p + 16, 0);
	out->ipid = ws_be16_get(p + 4);
	out->ttl = p[8];
	return tcp(p + ihl, caplen - ihl, total - ihl, out);
}

static int ipv6(const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct ws_pkt *out)
{
	if (caplen < 40)
		return WS_DEC_TRUNCATED;
	if (p[0] >> 4 != 6)
		return WS_DEC_BAD_HEADER;
	uint32_t plen = ws_be16_get(p + 4);
	if (plen == 0) /* jumbogram or GSO: the frame tells */
		plen = wirelen > 40 ? wirelen - 40 : 0;
	uint8_t nh = p[6];
	uint32_t off = 40, end = 40 + plen;
	ws_endpoint_set(&out->src, AF_INET6, p + 8, 0);
	ws_endpoint_set(&out->dst, AF_INET6, p + 24, 0);
	out->ipid = 0;
	out->ttl = p[7];
	for (int hops = 0; hops < 8; hops++) {
		if (nh == IPPROTO_TCP)
			return off <= caplen ? tcp(p + off, caplen - off, end - off, out) : WS_DEC_TRUNCATED;
		if (nh == 44) /* fragment header */
			return WS_DEC_FRAGMENT;
		if (nh != 0 && nh != 43 && nh != 60) /* hop-by-hop, routing, destination options */
			return WS_DEC_NOT_TCP;
		if (off + 8 > caplen)
			return WS_DEC_TRUNCATED;
		uint32_t ext = ((uint32_t)p[off + 1] + 1) * 8;
		nh = p[off];
		off += ext;
		if (off > end)
			return WS_DEC_BAD_HEADER;
	}
	return WS_DEC_NOT_TCP;
}

static int network(uint32_t proto, const uint8_t *p, uint32_t caplen, uint32_t wirelen, struct ws_pkt *out)
{
	if (proto == ETH_IPV4)
		return ipv4(p, caplen, wirelen, out);
	if (proto == ETH_IPV6)
		return ipv6(p, caplen, wirelen, out);
	return WS_DEC_NOT_IP;
}

/* Skip VLAN tags; returns the offset of the payload and the inner type. */
static int skip_tags(const uint8_t *f, uint32_t caplen, uint32_t *off, uint16_t *type)
{
	for (int i = 0; i < MAX_TAGS && (*type == ETH_VLAN || *type == ETH_QINQ || *type == ETH_QINQ_OLD); i++) {
		if (*off + 4 > caplen)
			return WS_DEC_TRUNCATED;
		*type = ws_be16_get(f + *off + 2);
		*off += 4;
	}
	return WS_DEC_OK;
}

int ws_pkt_decode(int dlt, const uint8_t *f, uint32_t caplen, uint32_t wirelen, struct ws_pkt *out)
{
	uint32_t off;
	uint16_t type;
	int r;

	memset(out, 0, sizeof(*out));
	if (wirelen < caplen)
		wirelen = caplen;
	switch (dlt) {
	case WS_DLT_EN10MB:
		if (caplen < 14)
			return WS_DEC_TRUNCATED;
		off = 14;
		type = ws_be16_get(f + 12);
		if ((r = skip_tags(f, caplen, &off, &type)))
			return r;
		break;
	case WS_DLT_LINUX_SLL:
		if (caplen < 16)
			return WS_DEC_TRUNCATED;
		out->way = way_of(ws_be16_get(f));
		off = 16;
		type = ws_be16_get(f + 14);
		if ((r = skip_tags(f, caplen, &off, &type)))
			return r;
		break;
	case WS_DLT_LINUX_SLL2:
		if (caplen < 20)
			return WS_DEC_TRUNCATED;
		out->way = way_of(f[10]);
		off = 20;
		type = ws_be16_get(f);
		if ((r = skip_tags(f, caplen, &off, &type)))
			return r;
		break;
	case WS_DLT_RAW:
	case WS_DLT_RAW_ALT:
		if (caplen < 1)
			return WS_DEC_TRUNCATED;
		off = 0;
		type = f[0] >> 4 == 4 ? ETH_IPV4 : f[0] >> 4 == 6 ? ETH_IPV6 : 0;
		break;
	case WS_DLT_IPV4: off = 0, type = ETH_IPV4; break;
	case WS_DLT_IPV6: off = 0, type = ETH_IPV6; break;
	case WS_DLT_NULL:
	case WS_DLT_LOOP: {
		if (caplen < 4)
			return WS_DEC_TRUNCATED;
		/* an AF_ value, in the writer's byte order (NULL) or big endian (LOOP) */
		uint32_t af = ws_be32_get(f), swapped = (uint32_t)f[0] | (uint32_t)f[1] << 8 | (uint32_t)f[2] << 16 | (uint32_t)f[3] << 24;
		if (dlt == WS_DLT_NULL && af > 0xffff)
			af = swapped;
		off = 4;
		type = af == 2 ? ETH_IPV4 : (af == 10 || af == 24 || af == 28 || af == 30) ? ETH_IPV6 : 0;
		break;
	}
	default:
		return WS_DEC_BAD_LINKTYPE;
	}
	if (off > caplen)
		return WS_DEC_TRUNCATED;
	return network(type, f + off, caplen - off, wirelen - off, out);
}
