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

static void data_f(struct conntrack *ct, uint64_t id, int dir, uint32_t seq, const char *s, uint64_t t, bool fk,
		   uint32_t fence)
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
	if (fk) {
		ev.fence = fence;
		ev.flags |= WS_EVF_FENCE;
	}
	ct_event(ct, &ev);
}

static void data(struct conntrack *ct, uint64_t id, int dir, uint32_t seq, const char *s, uint64_t t)
{
	data_f(ct, id, dir, seq, s, t, false, 0);
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
	data_f(ct, 9, WS_RECV, 100 + strlen(REQ) + 50, REQ, 1200, true, 900 + strlen(RESP));
	ct_advance(ct, 1500);
	CHECK_INT(ct_stats(ct)->gaps, 0);
	ct_advance(ct, 2300);
	CHECK_INT(ct_stats(ct)->gaps, 1);
	data(ct, 9, WS_SEND, 900 + strlen(RESP), RESP, 2400);
	/* the lost bytes may hold a request this response answers: not paired */
	CHECK_INT(exchanges, 1);
	CHECK_INT(ct_stats(ct)->unpaired_lost, 2);
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
	data_f(ct, 11, WS_RECV, a, s1, 1300, true, q); /* response 1: nothing to pair with */
	a += strlen(s1);
	/* request 2, held behind the hole: nothing came back between its
	 * write and response 2 (its fence is where response 2 starts) */
	data_f(ct, 11, WS_SEND, q, r2, 2000, true, a);
	data_f(ct, 11, WS_RECV, a, s2, 2500, true, q + strlen(r2)); /* response 2 */
	CHECK_INT(exchanges, 2);
	CHECK_STR(last_pair, "/2 202");
	CHECK_INT(ct_stats(ct)->gaps, 1);
	ct_free(ct);
}

/* ---- pairing when records are lost (a property over random losses) ---- */

struct lossrun {
	int pairs, wrong, aborted;
};

static void on_x_check(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	struct lossrun *r = ctx;
	int n = -1;

	(void)c;
	if (x->aborted) {
		r->aborted++;
		return;
	}
	r->pairs++;
	if (sscanf(x->req.u.http.path, "/s%d", &n) != 1 || n != x->resp.u.http.status)
		r->wrong++;
}

static uint32_t rnd_state;
static uint32_t rnd(void)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return rnd_state >> 8;
}

/*
 * One keep-alive connection of n exchanges, seen as a live recording
 * would: each request asks for /sNNN and its response has status NNN, so
 * a request paired with another's response shows. Requests go in batches
 * of `batch` (1: no pipelining) before their responses come back; bodies
 * vary in length. Every data record is lost with probability loss_pct%,
 * with fences and the stream's ends reported as the kernel half does.
 */
static struct lossrun loss_run(bool client, int batch, int loss_pct, unsigned seed, int n)
{
	struct lossrun r = {0};
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = on_x_check, .ctx = &r};
	struct conntrack *ct = ct_new(&cfg, &sink);
	int reqdir = client ? WS_SEND : WS_RECV, respdir = !reqdir;
	uint32_t q = 1000, a = 900000; /* next request byte, next response byte */
	uint64_t t = 10;
	char req[64][80], resp[64][160];

	rnd_state = seed;
	struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 3, .role = client ? WS_ROLE_CLIENT : WS_ROLE_SERVER,
				.t_enter = t, .t_exit = t, .flags = WS_EVF_STREAM};
	open.sent_seq = client ? q : a;
	open.read_seq = client ? a : q;
	ct_event(ct, &open);
	for (int i = 0; i < n; i += batch) {
		int k = WS_MIN(batch, n - i);
		for (int j = 0; j < k; j++) {
			int code = 400 + (i + j) % 100; /* all with bodies (not 204, 205, 304) */
			snprintf(req[j], sizeof(req[j]), "GET /s%d HTTP/1.1\r\nHost: h\r\n\r\n", code);
			int body = (int)(rnd() % 40);
			snprintf(resp[j], sizeof(resp[j]), "HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%.*s", code, body,
				 body, "0123456789012345678901234567890123456789");
			/* a client's fence: the response bytes received before it
			 * wrote; a server's: the response bytes written before it
			 * read */
			if (rnd() % 100 >= (unsigned)loss_pct)
				data_f(ct, 3, reqdir, q, req[j], t, true, a);
			q += strlen(req[j]);
			t += 10;
		}
		for (int j = 0; j < k; j++) {
			if (rnd() % 100 >= (unsigned)loss_pct)
				data_f(ct, 3, respdir, a, resp[j], t, true, q);
			a += strlen(resp[j]);
			t += 10;
		}
	}
	struct ws_event cl = {.kind = WS_EV_CLOSE, .conn_id = 3, .t_enter = t, .t_exit = t, .flags = WS_EVF_STREAM};
	cl.sent_seq = client ? q : a;
	cl.read_seq = client ? a : q;
	ct_event(ct, &cl);
	ct_advance(ct, t + 1000000000ull);
	ct_free(ct);
	return r;
}

static void test_pairing_under_loss(void)
{
	static const struct {
		bool client;
		int batch;
	} shapes[] = {{true, 1}, {false, 1}, {true, 4}, {false, 4}, {true, 16}};

	for (size_t s = 0; s < WS_ARRAY_SIZE(shapes); s++) {
		char ctx[96];
		snprintf(ctx, sizeof(ctx), "loss %s batch %d", shapes[s].client ? "client" : "server",
			 shapes[s].batch);
		t_context = ctx;
		struct lossrun clean = loss_run(shapes[s].client, shapes[s].batch, 0, 1, 200);
		CHECK_INT(clean.pairs, 200);
		CHECK_INT(clean.wrong, 0);
		CHECK_INT(clean.aborted, 0);
		int pairs = 0, wrong = 0, aborted = 0;
		for (unsigned seed = 1; seed <= 200; seed++) {
			int pct = 1 + (int)(seed % 5) * 10; /* 1% to 41% of records lost */
			struct lossrun r = loss_run(shapes[s].client, shapes[s].batch, pct, seed, 200);
			pairs += r.pairs;
			wrong += r.wrong;
			aborted += r.aborted;
		}
		CHECK_INT(wrong, 0);
		CHECK_INT(aborted, 0); /* an answer lost is not an answer missing */
		/* without pipelining, the pairer comes back in step after each
		 * loss: most exchanges whose two records survived are kept */
		if (shapes[s].batch == 1)
			CHECK(pairs > 200 * 200 * 40 / 100, "only %d exchanges paired", pairs);
		else
			CHECK(pairs > 0, "nothing paired");
	}
}

static struct ws_msg tls_req[4], tls_resp[4];

static void on_x_tls(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	(void)ctx;
	(void)c;
	if (exchanges < 4) {
		tls_req[exchanges] = x->req;
		tls_resp[exchanges] = x->resp;
	}
	exchanges++;
}

static void tls_data(struct conntrack *ct, int dir, uint32_t seq, const char *s, uint64_t t, int wire)
{
	struct ws_event ev = {.kind = WS_EV_DATA, .conn_id = 20, .dir = dir, .pid = 7, .seq = seq, .t_enter = t,
			      .t_exit = t + 1, .tls = WS_TLSF_PLAIN};

	ev.len = ev.head_len = strlen(s);
	ev.head = (const uint8_t *)s;
	if (wire >= 0) {
		ev.tls |= WS_TLSF_WIRE;
		ev.wire_seq = (uint32_t)wire;
	}
	ct_event(ct, &ev);
}

/* A TLS connection: the handshake's ciphertext (counted as TLS not
 * decrypted while nothing else is known), then the library's plaintext,
 * which replaces it in a numbering of its own; messages carry the place
 * of their TLS record when they begin one, and no sequence number when
 * not. */
static void test_tls_plaintext(void)
{
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = on_x_tls, .conn_end = on_end};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 20, .role = WS_ROLE_CLIENT, .t_enter = 10, .t_exit = 10,
				.flags = WS_EVF_STREAM, .sent_seq = 1000, .read_seq = 5000};
	/* no NUL inside: their lengths are strlen's */
	static const char hello[] = "\x16\x03\x01\x01\x40\x01\x01\x01\x3c\x03\x03 client random";
	static const char shello[] = "\x16\x03\x03\x01\x50\x02\x01\x01\x4c\x03\x03 server random";
	char two[256];

	t_context = "TLS plaintext";
	reset();
	ct_event(ct, &open);
	data(ct, 20, WS_SEND, 1000, hello, 100);
	data(ct, 20, WS_RECV, 5000, shello, 110);
	CHECK_INT(ct_stats(ct)->tls_opaque_conns, 1);
	CHECK_INT(ct_stats(ct)->tls_opaque_bytes, strlen(hello) + strlen(shello));
	/* the first plaintext: the connection is read through its library now */
	tls_data(ct, WS_SEND, 0, REQ, 200, 1300);
	tls_data(ct, WS_RECV, 0, RESP, 210, 5400);
	CHECK_INT(ct_stats(ct)->tls_opaque_conns, 0);
	CHECK_INT(ct_stats(ct)->tls_opaque_bytes, 0);
	CHECK_INT(ct_stats(ct)->opaque_conns, 0);
	CHECK_INT(ct_stats(ct)->tls_conns, 1);
	CHECK_INT(exchanges, 1);
	CHECK_INT(tls_req[0].seq, 1300);
	CHECK_INT(tls_resp[0].seq, 5400);
	CHECK((tls_req[0].flags & WS_MSGF_TLS) && !(tls_req[0].flags & WS_MSGF_NOSEQ), "request: TLS, place known");
	/* two requests in one call: the second does not begin a record */
	snprintf(two, sizeof(two), "%s%s", REQ, REQ);
	tls_data(ct, WS_SEND, (uint32_t)strlen(REQ), two, 300, 1500);
	/* ciphertext reported late is not read as plaintext */
	data(ct, 20, WS_SEND, 1700, "\x17\x03\x03\x01\x20 encrypted", 305);
	tls_data(ct, WS_RECV, (uint32_t)strlen(RESP), RESP, 310, -1);
	tls_data(ct, WS_RECV, 2 * (uint32_t)strlen(RESP), RESP, 320, 5700);
	CHECK_INT(exchanges, 3);
	CHECK_INT(tls_req[1].seq, 1500);
	CHECK_INT(tls_req[2].seq, 0);
	CHECK(tls_req[2].flags & WS_MSGF_NOSEQ, "a request inside a record: no place on the wire");
	CHECK(tls_resp[1].flags & WS_MSGF_NOSEQ, "a response of unknown place");
	CHECK_INT(tls_resp[2].seq, 5700);
	/* where TCP says the streams end is in its numbering, not the plaintext's */
	struct ws_event close = {.kind = WS_EV_CLOSE, .conn_id = 20, .t_enter = 400, .t_exit = 400,
				 .flags = WS_EVF_STREAM, .sent_seq = 9000, .read_seq = 9999};
	ct_event(ct, &close);
	ct_flush(ct);
	CHECK_INT(ct_stats(ct)->lost_tails, 0);
	CHECK_INT(ct_stats(ct)->gaps, 0);
	CHECK_INT(ct_stats(ct)->overlaps, 0);
	CHECK(last_end.flags & CT_TLS, "the connection says it was TLS");
	ct_free(ct);
}

int main(void)
{
	test_tls_plaintext();
	test_pairing_under_loss();
	test_lost_request_keeps_pairing();
	test_eviction();
	test_close_grace();
	test_gap_timeout();
	test_role_and_opaque();
	return t_summary("test_conntrack");
}
