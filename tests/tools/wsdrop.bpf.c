// SPDX-License-Identifier: GPL-2.0
/* wsdrop.bpf.c -- tc fault injector for tests: drop chosen TCP segments.
 *
 * A TCP segment "matches" when its payload begins with cfg_match (the first
 * cfg_match_len bytes), or with cfg_syn when it opens a connection (SYN
 * without ACK), and, if cfg_dport is set, its destination port is
 * cfg_dport. Matches are numbered from 1 in the order this program sees them;
 * numbers cfg_nth .. cfg_nth + cfg_count - 1 are dropped, everything else
 * passes untouched.
 *
 * All reads use bpf_skb_load_bytes(), so headers or payload in paged
 * fragments (non-linear skbs) are handled. On egress a GSO super-packet is
 * one skb: dropping it drops every segment it would have become.
 *
 * The match number comes from a 64-bit atomic fetch-and-add (BPF_FETCH,
 * kernel 5.12+), so concurrent CPUs never share a number.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/in.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_MATCH 32

char LICENSE[] SEC("license") = "GPL";

/* Load-time configuration, set by the loader before the program loads. */
const volatile __u8 cfg_match[MAX_MATCH] = {};
const volatile __u32 cfg_match_len = 0;
const volatile __u64 cfg_nth = 1;   /* first match number to drop (1-based) */
const volatile __u64 cfg_count = 1; /* how many consecutive matches to drop */
const volatile __u16 cfg_dport = 0; /* TCP destination port, 0 = any */
const volatile __u8 cfg_syn = 0;    /* match SYNs instead of a payload */

/* Results, read by the loader after detaching. */
__u64 matched = 0;
__u64 dropped = 0;

SEC("tc")
int wsdrop(struct __sk_buff *skb)
{
	__u8 buf[MAX_MATCH];
	struct tcphdr tcp;
	__u32 off = ETH_HLEN, l4len, len = cfg_match_len;
	__u64 n;

	if (!cfg_syn && (len == 0 || len > MAX_MATCH))
		return TC_ACT_OK;

	/* L3: find the TCP header and the length of the TCP segment. The IP
	 * length (not skb->len) bounds it, so Ethernet padding never counts
	 * as payload; a zero length (BIG TCP super-packet) falls back to
	 * skb->len.
	 */
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, off, &ip, sizeof(ip)))
			return TC_ACT_OK;
		if (ip.protocol != IPPROTO_TCP || ip.ihl < 5 ||
		    (ip.frag_off & bpf_htons(0x1fff))) /* not a first fragment */
			return TC_ACT_OK;
		l4len = bpf_ntohs(ip.tot_len);
		if (!l4len)
			l4len = skb->len - off;
		if (l4len < ip.ihl * 4)
			return TC_ACT_OK;
		l4len -= ip.ihl * 4;
		off += ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, off, &ip6, sizeof(ip6)))
			return TC_ACT_OK;
		if (ip6.nexthdr != IPPROTO_TCP) /* no extension headers */
			return TC_ACT_OK;
		l4len = bpf_ntohs(ip6.payload_len);
		off += sizeof(ip6);
		if (!l4len)
			l4len = skb->len - off;
	} else {
		return TC_ACT_OK;
	}

	/* L4: the TCP header, then the payload prefix. */
	if (bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)))
		return TC_ACT_OK;
	if (cfg_dport && tcp.dest != bpf_htons(cfg_dport))
		return TC_ACT_OK;
	if (cfg_syn) {
		if (!tcp.syn || tcp.ack)
			return TC_ACT_OK;
		goto matched;
	}
	if (len == 0 || len > MAX_MATCH)
		return TC_ACT_OK;
	if (tcp.doff < 5 || l4len < tcp.doff * 4 + len)
		return TC_ACT_OK; /* no payload, or shorter than the pattern */
	off += tcp.doff * 4;

	/* len is in [1, MAX_MATCH], which the verifier needs for the size. */
	if (bpf_skb_load_bytes(skb, off, buf, len))
		return TC_ACT_OK;
	for (int i = 0; i < MAX_MATCH && i < len; i++)
		if (buf[i] != cfg_match[i])
			return TC_ACT_OK;

matched:
	n = __sync_fetch_and_add(&matched, 1) + 1;
	if (n >= cfg_nth && n - cfg_nth < cfg_count) {
		__sync_fetch_and_add(&dropped, 1);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}
