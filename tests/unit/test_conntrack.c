/* test_conntrack.c -- connection table behaviour: bounded size with
 * eviction, closing after a grace period, gaps after a timeout, roles,
 * and giving up on protocols we do not parse. */
#include "harness.h"

static int exchanges, ended, ended_closed, ended_evicted;
static struct ct_conn_info last_end;

static void on_x(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	(void)ctx;
	(void)c;
	(void)x;
	exchanges++;
}

static void on_end(void *ctx, const struct ct_conn_info *c)
{
	(void)ctx;
	ended++;
	ended_closed += !!(c->flags & CT_CLOSED);
	ended_evicted += !!(c->flags & CT_EVICTED);
	last_end = *c;
}

static void reset(void) { exchanges = ended = ended_closed = ended_evicted = 0; }

static void data(struct conntrack *ct, uint64_t id, int dir, uint32_t seq, const char *s, uint64_t t)
{
	struct ws_event ev = {0};

	ev.kind = WS_EV_DATA;
	ev.conn_id = id;
	ev.dir = dir;
	ev.pid = 7;
	ev.seq = seq;
	ev.len = ev.head_len = strlen(s);
	ev.head = (const uint8_t *)s;
	ev.t_enter = t;
	ev.t_exit = t + 1;
	ct_event(ct, &ev);
}

static const char *REQ = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
static const char *RESP = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

static void test_eviction(void)
{
	struct ct_config cfg = {.max_conns = 4};
	struct ct_sink sink = {.exchange = on_x, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);

	t_context = "eviction";
	reset();
	for (uint64_t id = 1; id <= 10; id++) {
		data(ct, id, WS_RECV, 100, REQ, id * 1000);
		data(ct, id, WS_SEND, 500, RESP, id * 1000 + 10);
	}
	CHECK_INT(exchanges, 10);
	CHECK_INT(ct_active(ct), 4);
	CHECK_INT(ct_stats(ct)->conns_evicted, 6);
	CHECK_INT(ended_evicted, 6);
	ct_free(ct);
	CHECK_INT(ended, 10);
}

static void test_close_grace(void)
{
	struct ct_config cfg = {.close_grace = 1000};
	struct ct_sink sink = {.exchange = on_x, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct ws_event close = {.kind = WS_EV_STATE, .conn_id = 5, .newstate = WS_TCP_CLOSE, .t_enter = 5000, .t_exit = 5000};

	t_context = "close grace";
	reset();
	data(ct, 5, WS_SEND, 1, REQ, 1000);
	ct_event(ct, &close);
	/* a straggler from another CPU still counts */
	data(ct, 5, WS_RECV, 9, RESP, 5500);
	ct_advance(ct, 5900);
	CHECK_INT(ended, 0);
	ct_advance(ct, 6100);
	CHECK_INT(ended, 1);
	CHECK_INT(ended_closed, 1);
	CHECK_INT(exchanges, 1);
	CHECK_INT(last_end.role, WS_ROLE_CLIENT);
	CHECK_INT(last_end.t_close, 5000);
	ct_free(ct);
}

static void test_gap_timeout(void)
{
	struct ct_config cfg = {.ooo_timeout = 1000};
	struct ct_sink sink = {.exchange = on_x, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);

	t_context = "gap timeout";
	reset();
	/* request 1 and its response, then request 2 whose first bytes never
	 * arrive: after the timeout the rest is delivered after a gap */
	data(ct, 9, WS_RECV, 100, REQ, 1000);
	data(ct, 9, WS_SEND, 900, RESP, 1100);
	data(ct, 9, WS_RECV, 100 + strlen(REQ) + 50, REQ, 1200);
	ct_advance(ct, 1500);
	CHECK_INT(ct_stats(ct)->gaps, 0);
	ct_advance(ct, 2300);
	CHECK_INT(ct_stats(ct)->gaps, 1);
	data(ct, 9, WS_SEND, 900 + strlen(RESP), RESP, 2400);
	CHECK_INT(exchanges, 2); /* the request after the gap resynchronised */
	ct_free(ct);
}

static void test_role_and_opaque(void)
{
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = on_x, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 3, .role = WS_ROLE_SERVER, .t_enter = 10, .t_exit = 10};

	t_context = "role";
	reset();
	ct_event(ct, &open);
	data(ct, 3, WS_RECV, 1, REQ, 100);
	data(ct, 3, WS_SEND, 1, RESP, 200);
	CHECK_INT(exchanges, 1);
	/* an unknown protocol: given up on after a few tries */
	for (int i = 0; i < 20; i++)
		data(ct, 4, WS_SEND, 1 + 10 * i, "\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03", 300 + i);
	CHECK_INT(ct_stats(ct)->opaque_conns, 1);
	ct_flush(ct);
	CHECK_INT(ended, 2);
	ct_free(ct);
}

static char last_pair[300];

static void on_x_keep(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	(void)ctx;
	(void)c;
	exchanges++;
	snprintf(last_pair, sizeof(last_pair), "%s %d", x->req.u.http.path, x->resp.u.http.status);
}

static void test_lost_request_keeps_pairing(void)
{
	/* the event of request 1 was lost: request 2 waits behind the hole,
	 * response 1 arrives (unmatched), then response 2 must pair with
	 * request 2, not be counted unmatched too and shift every later pair */
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = on_x_keep, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 11, .role = WS_ROLE_CLIENT, .t_enter = 1, .t_exit = 1};
	const char *r1 = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *r2 = "GET /2 HTTP/1.1\r\nHost: h\r\n\r\n";
	const char *s1 = "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n";
	const char *s2 = "HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n";

	t_context = "lost request";
	reset();
	ct_event(ct, &open);
	uint32_t q = 100, a = 5000;
	data(ct, 11, WS_SEND, q, r1, 1000); /* request 0 and its response */
	q += strlen(r1);
	data(ct, 11, WS_RECV, a, s1, 1100);
	a += strlen(s1);
	q += strlen(r1); /* request 1: its event was lost */
	data(ct, 11, WS_RECV, a, s1, 1300); /* response 1: nothing to pair with */
	a += strlen(s1);
	data(ct, 11, WS_SEND, q, r2, 2000); /* request 2, held behind the hole */
	data(ct, 11, WS_RECV, a, s2, 2500); /* response 2 */
	CHECK_INT(exchanges, 2);
	CHECK_STR(last_pair, "/2 202");
	CHECK_INT(ct_stats(ct)->gaps, 1);
	ct_free(ct);
}

int main(void)
{
	test_lost_request_keeps_pairing();
	test_eviction();
	test_close_grace();
	test_gap_timeout();
	test_role_and_opaque();
	return t_summary("test_conntrack");
}
