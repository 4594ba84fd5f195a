/* test_phases.c -- where an exchange's time went, on hand-built spans: the
 * phases partition the client's span exactly, a server host whose clock is
 * off is corrected by the NTP-style estimate, retransmissions land on the
 * exchange whose bytes they carried, the accept queue is not counted twice,
 * and the verdict names the largest cause. Times in microseconds. */
#include <arpa/inet.h>

#include "harness.h"
#include "trace/link.h"
#include "trace/phases.h"

#define US 1000ull

static struct ws_lset set;
static uint64_t next_id = 0x100;

static void ep(struct ws_endpoint *e, const char *addr, uint16_t port)
{
	uint8_t a[4];

	inet_pton(AF_INET, addr, a);
	ws_endpoint_set(e, AF_INET, a, port);
}

/* One exchange on connection cport: the client writes at w (for 10 us),
 * the request reaches the server at arr, the server reads it at rd, answers
 * at wr (for 20 us), the response reaches the client at carr and is read at
 * r. The server's times are given in the server's clock. */
struct ex {
	uint16_t cport;
	uint32_t seq;
	uint64_t w, arr, rd, wr, carr, r;
	uint64_t open, estab, accept, sestab; /* connection, 0: not the first exchange */
	int64_t runq, offcpu;
	uint64_t wlen; /* how long the server's response took to leave, 0: 20 us */
};

static void add(const char *chost, const char *shost, const struct ex *x, int *ci, int *si)
{
	struct ws_span c, s;

	memset(&c, 0, sizeof(c));
	ws_be64_put(c.span_id, next_id++);
	c.kind = WS_SPAN_CLIENT;
	c.proto = WS_PROTO_HTTP1;
	snprintf(c.name, sizeof(c.name), "GET /x%u", x->seq);
	ws_strlcpy(c.host, chost, sizeof(c.host));
	ws_strlcpy(c.service, "front", sizeof(c.service));
	c.pid = c.tid = c.req_last_tid = c.resp_last_tid = 10;
	c.conn_id = x->cport;
	ep(&c.local, "198.18.0.1", x->cport);
	ep(&c.peer, "198.18.0.2", 80);
	c.req_seq = x->seq;
	c.req_bytes = 100;
	c.resp_seq = 5000 + x->seq;
	c.resp_bytes = 200;
	c.req_t[WS_T_FIRST_ENTER] = x->w * US;
	c.req_t[WS_T_FIRST_EXIT] = c.req_t[WS_T_LAST_EXIT] = (x->w + 10) * US;
	c.resp_arr[0] = c.resp_arr[1] = x->carr * US;
	c.resp_t[WS_T_FIRST_EXIT] = c.resp_t[WS_T_LAST_EXIT] = x->r * US;
	c.start_ns = x->w * US;
	c.end_ns = x->r * US;
	c.conn_open_ns = x->open * US;
	c.conn_estab_ns = x->estab * US;
	c.sched_runq = c.sched_offcpu = -1;
	s = c;
	ws_be64_put(s.span_id, next_id++);
	s.kind = WS_SPAN_SERVER;
	ws_strlcpy(s.host, shost, sizeof(s.host));
	ws_strlcpy(s.service, "meta", sizeof(s.service));
	s.pid = s.tid = s.req_last_tid = s.resp_last_tid = 412;
	s.conn_id = 1000 + x->cport;
	s.local = c.peer;
	s.peer = c.local;
	memset(s.resp_arr, 0, sizeof(s.resp_arr));
	s.req_arr[0] = s.req_arr[1] = x->arr * US;
	s.req_t[WS_T_FIRST_EXIT] = s.req_t[WS_T_LAST_EXIT] = x->rd * US;
	s.resp_t[WS_T_FIRST_ENTER] = x->wr * US;
	s.resp_t[WS_T_FIRST_EXIT] = s.resp_t[WS_T_LAST_EXIT] = (x->wr + (x->wlen ? x->wlen : 20)) * US;
	s.start_ns = x->rd * US;
	s.end_ns = s.resp_t[WS_T_LAST_EXIT];
	s.conn_open_ns = x->accept * US;
	s.conn_estab_ns = x->sestab * US;
	s.sched_runq = x->runq * (int64_t)US;
	s.sched_offcpu = x->offcpu * (int64_t)US;
	ws_lset_add(&set, &c, 0);
	*ci = (int)set.n - 1;
	ws_lset_add(&set, &s, 1);
	*si = (int)set.n - 1;
}

int main(void)
{
	struct ws_link_opts lo = {0};
	struct ws_tcpevs evs = {0};
	struct ws_phaseset ps;
	char v[512];
	const int64_t skew = 5000000; /* the server's clock is 5 s ahead */
	int c1, s1, c2, s2, c3, s3;

	ws_lset_init(&set);
	/* 1: a new connection, accept queue 300 us, the request waited for
	 * accept() in the socket; 100 us each way on the network */
	struct ex a = {.cport = 40001, .seq = 1, .w = 1000, .arr = 1110 + skew, .rd = 1500 + skew,
		       .wr = 2500 + skew, .carr = 2620, .r = 2630, .open = 900, .estab = 990,
		       .accept = 1400 + skew, .sestab = 1100 + skew, .runq = 600, .offcpu = 100};
	add("a", "b", &a, &c1, &s1);
	/* 2: keep-alive on another connection, a retransmitted request:
	 * the request arrives 200 ms late */
	struct ex b = {.cport = 40002, .seq = 7000, .w = 10000, .arr = 210110 + skew, .rd = 210120 + skew,
		       .wr = 210200 + skew, .carr = 210330, .r = 210340, .runq = 0, .offcpu = 0};
	add("a", "b", &b, &c2, &s2);
	/* 3: the fastest exchange, 40 us each way: its slack (80 us) is the
	 * least, so it gives the offset */
	struct ex c = {.cport = 40003, .seq = 9000, .w = 300000, .arr = 300050 + skew, .rd = 300052 + skew,
		       .wr = 300055 + skew, .carr = 300095, .r = 300100, .runq = 0, .offcpu = 0};
	add("a", "b", &c, &c3, &s3);
	struct ws_tcpev rt = {.db = 0, .conn_id = 40002, .ts = (10010 + 200000) * US, .kind = WS_TE_RETRANS,
			      .role = 1, .seq = 7000 + 40, .len = 60, .rto_us = 200000, .srtt_us = 50};
	ws_tcpevs_add(&evs, &rt);
	struct ws_tcpev other = rt; /* a retransmission of bytes of no exchange */
	other.seq = 99999;
	ws_tcpevs_add(&evs, &other);
	/* exchange 3: the server's TCP held 20 bytes of its response for 15 us
	 * (Nagle): of the 20 us between the end of its write and the arrival,
	 * 15 were the hold, 5 the flight */
	struct ws_tcpev held = {.db = 1, .conn_id = 1000 + 40003, .ts = (300055 + 20 + 15) * US + skew * US,
				.kind = WS_TE_HELD, .role = 2, .seq = 5000 + 9000 + 180, .len = 20, .hold_ns = 15 * US,
				.hold_why = WS_HOLD_WHY_NAGLE};
	ws_tcpevs_add(&evs, &held);

	/* 4: from a capture: the response's first packet at 400060, its last
	 * 40 ms later, on the ACK that released it; the hold as the capture
	 * tells it begins at the sender's previous segment, 10 us before this
	 * response began (in its processing) */
	int c4, s4;
	struct ex d = {.cport = 40004, .seq = 11000, .w = 400000, .arr = 400050 + skew, .rd = 400052 + skew,
		       .wr = 400060 + skew, .wlen = 40000, .carr = 440061, .r = 440070};
	add("a", "b", &d, &c4, &s4);
	struct ws_tcpev wire = {.db = 1, .conn_id = 1000 + 40004, .ts = (440060 + skew) * US, .kind = WS_TE_HELD,
				.role = 2, .seq = 5000 + 11000 + 150, .len = 50, .hold_ns = 40010 * US,
				.hold_why = WS_HOLD_WHY_NAGLE, .tcp_flags = 0x18};
	ws_tcpevs_add(&evs, &wire);

	ws_link(&set, &lo);
	ws_phases_compute(&set, &evs, &ps);

	t_context = "clock offset";
	CHECK_INT(ps.nclocks, 1);
	int64_t off = ps.clocks[0].client_host[0] == 'a' ? ps.clocks[0].offset_ns : -ps.clocks[0].offset_ns;
	/* exchange 3: t1 = w+10, t2 = arr, t3 = wr, t4 = carr */
	CHECK_INT(off, skew * (int64_t)US);
	CHECK_INT(ps.clocks[0].delay_ns, 80 * US);
	CHECK_INT(ps.clocks[0].samples, 4);

	t_context = "phases of a new connection";
	const struct ws_phases *p = &ps.v[c1];
	CHECK_INT(p->client, c1);
	CHECK_INT(p->server, s1);
	CHECK(p->both, "both sides");
	CHECK_INT(p->ns[WS_PH_CONNECT], 90 * US);
	/* on the request's path: from its arrival (10 us after the handshake)
	 * to accept() */
	CHECK_INT(p->ns[WS_PH_ACCEPT_QUEUE], 290 * US);
	CHECK_INT(p->ns[WS_PH_REQ_SEND], 10 * US);
	/* the request waited for accept(): the socket queue starts there */
	CHECK_INT(p->ns[WS_PH_SRV_QUEUE], 100 * US);
	CHECK_INT(p->ns[WS_PH_SRV_PROC], 1000 * US);
	CHECK_INT(p->ns[WS_PH_RESP_SEND], 20 * US);
	CHECK_INT(p->ns[WS_PH_CLI_QUEUE], 10 * US);
	CHECK_INT(p->runq, 600 * US);
	CHECK_INT(p->retransmits, 0);
	/* flights, corrected by the estimated offset (within its error) */
	CHECK_INT(p->ns[WS_PH_REQ_FLIGHT], 100 * US);
	CHECK_INT(p->ns[WS_PH_RESP_FLIGHT], 100 * US);
	CHECK(memcmp(&ps.v[s1], p, sizeof(*p)) == 0, "the server span has the same phases");
	int64_t sum = 0;
	for (int k = 0; k < WS_PH_N; k++)
		sum += k != WS_PH_CONNECT && p->ns[k] > 0 ? p->ns[k] : 0;
	CHECK_INT(sum, (int64_t)(set.v[c1].end - set.v[c1].start));

	t_context = "the phases partition a keep-alive exchange";
	p = &ps.v[c2];
	CHECK_INT(p->ns[WS_PH_CONNECT], -1);
	CHECK_INT(p->ns[WS_PH_ACCEPT_QUEUE], -1);
	sum = 0;
	for (int k = 0; k < WS_PH_N; k++)
		sum += p->ns[k] > 0 ? p->ns[k] : 0;
	CHECK_INT(sum, (int64_t)(set.v[c2].end - set.v[c2].start)); /* exactly */

	t_context = "a retransmission stalls the exchange whose bytes it carried";
	CHECK_INT(p->retransmits, 1);
	CHECK_INT(p->stall_ns, 200000 * US);
	CHECK_INT(p->rto_us, 200000);
	CHECK_INT(ps.v[s2].retransmits, 1);
	CHECK_INT(ps.v[c1].retransmits + ps.v[c3].retransmits, 0);
	CHECK(p->ns[WS_PH_REQ_FLIGHT] > 199990 * (int64_t)US, "request flight %lld", (long long)p->ns[WS_PH_REQ_FLIGHT]);

	t_context = "bytes the sender's TCP held were not in flight";
	p = &ps.v[c3];
	CHECK_INT(p->ns[WS_PH_RESP_HOLD], 15 * US);
	CHECK_INT(p->ns[WS_PH_RESP_FLIGHT], 5 * US);
	CHECK_INT(p->resp_hold_why, WS_HOLD_WHY_NAGLE);
	CHECK_INT(ps.v[c1].ns[WS_PH_RESP_HOLD] + ps.v[c2].ns[WS_PH_RESP_HOLD], -2);
	int32_t th[] = {c3, s3};
	ws_phases_verdict(&set, &ps, th, 2, set.v[c3].end - set.v[c3].start, v, sizeof(v));
	/* request flight 40 and send 10, response send 20 and flight 5: the
	 * hold is not network */
	CHECK(strstr(v, "network 75.0us") != NULL, "%s", v);

	t_context = "a hold read from a capture is taken from the packets it lay between";
	p = &ps.v[c4];
	CHECK_INT(p->ns[WS_PH_RESP_HOLD], 40000 * US); /* not the 10 us before the response began */
	CHECK_INT(p->ns[WS_PH_RESP_SEND], 0);
	CHECK_INT(p->ns[WS_PH_RESP_FLIGHT], 1 * US);
	sum = 0;
	for (int k = 0; k < WS_PH_N; k++)
		sum += p->ns[k] > 0 ? p->ns[k] : 0;
	CHECK_INT(sum, (int64_t)(set.v[c4].end - set.v[c4].start));
	int32_t t4[] = {c4, s4};
	ws_phases_verdict(&set, &ps, t4, 2, set.v[c4].end - set.v[c4].start, v, sizeof(v));
	CHECK(strstr(v, "40.00ms of 40.07ms: response held by meta (pid 412)'s TCP until the ACK it left on (Nagle") ==
		      v, "%s", v);

	t_context = "verdicts";
	int32_t t2[] = {c2, s2};
	ws_phases_verdict(&set, &ps, t2, 2, set.v[c2].end - set.v[c2].start, v, sizeof(v));
	CHECK(strstr(v, "request in flight from front to meta, 1 retransmission (RTO 200.00ms)") != NULL, "%s", v);
	CHECK(strncmp(v, "200.1", 5) == 0, "%s", v);
	int32_t t1[] = {c1, s1};
	ws_phases_verdict(&set, &ps, t1, 2, set.v[c1].end - set.v[c1].start, v, sizeof(v));
	CHECK(strstr(v, "1.00ms of 1.63ms: server processing at meta (pid 412) after the request was read, 600.0us of it "
			"runnable but not running (CPU); network ") != NULL,
	      "%s", v);

	t_context = "one side only";
	ws_phaseset_free(&ps);
	struct ws_lset only_client = set;
	only_client.n = (size_t)c1 + 1; /* the first client span alone */
	set.v[c1].parent = -1;
	ws_phases_compute(&only_client, &evs, &ps);
	p = &ps.v[c1];
	CHECK(!p->both, "one side");
	CHECK_INT(p->ns[WS_PH_SRV_PROC], -1);
	CHECK_INT(p->ns[WS_PH_SRV_AND_NET], (2620 - 1010) * US);
	int32_t t3[] = {c1};
	ws_phases_verdict(&only_client, &ps, t3, 1, set.v[c1].end - set.v[c1].start, v, sizeof(v));
	CHECK(strstr(v, "waiting for GET /x1:80 (server and network; its side was not recorded)") != NULL, "%s", v);

	ws_phaseset_free(&ps);
	ws_tcpevs_free(&evs);
	ws_lset_free(&set);
	return t_summary("test_phases");
}
