/* decode.h -- one captured frame to the TCP segment inside it.
 *
 * Link layers: Ethernet (with any number of 802.1Q/802.1ad tags), Linux
 * cooked v1 and v2 (which also tell whether the capturing host sent or
 * received the frame), raw IP (IPv4 or IPv6), BSD loopback (NULL/LOOP).
 * Network: IPv4 (options skipped; fragments reported, not reassembled) and
 * IPv6 (hop-by-hop, routing and destination options skipped). Nothing is
 * trusted: every length is checked against what was captured. Pure: no
 * state, no allocation, so the fuzzer can drive it directly. */
#ifndef WIRESPAN_PCAP_DECODE_H
#define WIRESPAN_PCAP_DECODE_H

#include <stdint.h>

#include "util/util.h"

/* link types, numbered as libpcap's DLT_* on Linux */
#define WS_DLT_NULL 0
#define WS_DLT_EN10MB 1
#define WS_DLT_RAW 12
#define WS_DLT_RAW_ALT 14 /* DLT_RAW on OpenBSD-written files */
#define WS_DLT_LOOP 108
#define WS_DLT_LINUX_SLL 113
#define WS_DLT_IPV4 228
#define WS_DLT_IPV6 229
#define WS_DLT_LINUX_SLL2 276

/* TCP flags */
#define WS_TH_FIN 0x01
#define WS_TH_SYN 0x02
#define WS_TH_RST 0x04
#define WS_TH_PSH 0x08
#define WS_TH_ACK 0x10
#define WS_TH_URG 0x20

/* ws_pkt.way: what a cooked header says of the frame */
enum ws_pkt_way { WS_WAY_UNKNOWN = 0, WS_WAY_IN, WS_WAY_OUT };

enum ws_decode_result {
	WS_DEC_OK = 0,
	WS_DEC_NOT_IP,        /* ARP, LLDP, ...: not ours */
	WS_DEC_NOT_TCP,       /* UDP, ICMP, ... */
	WS_DEC_FRAGMENT,      /* an IP fragment (TCP is not fragmented in practice) */
	WS_DEC_TRUNCATED,     /* the capture cut the headers */
	WS_DEC_BAD_HEADER,    /* a header that cannot be right */
	WS_DEC_BAD_LINKTYPE,  /* a link type we do not read */
	WS_DEC_N,
};

struct ws_pkt {
	struct ws_endpoint src, dst;
	uint32_t seq, ack;
	uint16_t win;        /* as on the wire (unscaled) */
	uint16_t ipid;       /* IPv4 identification (0 for IPv6) */
	uint8_t flags;       /* WS_TH_* */
	uint8_t way;         /* enum ws_pkt_way */
	uint8_t wscale;      /* window scale option on a SYN, 0xff none */
	uint16_t mss;        /* MSS option on a SYN, 0 none */
	uint8_t ttl;
	uint32_t len;        /* TCP payload length, from the IP header */
	uint32_t caplen;     /* payload bytes captured (<= len) */
	const uint8_t *payload;
};

/* Decode one frame of link type dlt; `wirelen` is the frame's length on the
 * wire (used when a GSO frame's IP length is 0). */
int ws_pkt_decode(int dlt, const uint8_t *frame, uint32_t caplen, uint32_t wirelen, struct ws_pkt *out);
bool ws_dlt_supported(int dlt);
const char *ws_decode_result_name(int r);

#endif
