/* test_link.c -- trace assembly on hand-built spans: the join across a
 * connection, each kind of evidence inside a process, traceparent, trace
 * ids that do not depend on which databases are combined, and input that
 * must not hang or crash the linker. Times are in microseconds here. */
#include <arpa/inet.h>

#include "harness.h"
#include "trace/link.h"

#define US 1000ull

static struct ws_lset set;
static uint64_t next_id = 0x1000;
static uint16_t next_flags; /* WS_MSGF_* of the spans built next */

static void ep(struct ws_endpoint *e, const char *addr, uint16_t port)
{
	uint8_t a[4];

	inet_pton(AF_INET, addr, a);
	ws_endpoint_set(e, AF_INET, a, port);
}

/* What every hand-built span has: the next id, an HTTP request named
 * after seq, the host as service name, one thread for everything. */
static void base(struct ws_span *s, int kind, const char *host, uint32_t pid, uint32_t tid, uint32_t seq)
{
	memset(s, 0, sizeof(*s));
	ws_be64_put(s->span_id, next_id++);
	s->kind = (uint8_t)kind;
	s->proto = WS_PROTO_HTTP1;
	snprintf(s->name, sizeof(s->name), "GET /s%u", seq);
	ws_strlcpy(s->host, host, sizeof(s->host));
	ws_strlcpy(s->service, host, sizeof(s->service));
	s->pid = pid;
	s->tid = s->req_last_tid = s->resp_last_tid = tid;
	s->req_seq = seq;
	s->flags = next_flags;
}

/* A server span: request read at [rd0, rd1], response written at [wr0, wr1]. */
static int server(const char *host, uint32_t pid, uint32_t tid, uint16_t cport, uint32_t seq, uint64_t rd0,
		  uint64_t rd1, uint64_t wr0, uint64_t wr1)
{
	struct ws_span s;

	base(&s, WS_SPAN_SERVER, host, pid, tid, seq);
	ep(&s.local, "198.18.0.2", 80);
	ep(&s.peer, "198.18.0.1", cport);
	s.req_t[WS_T_FIRST_EXIT] = rd0 * US;
	s.req_t[WS_T_LAST_EXIT] = rd1 * US;
	s.resp_t[WS_T_FIRST_ENTER] = wr0 * US;
	s.resp_t[WS_T_LAST_EXIT] = wr1 * US;
	s.start_ns = rd0 * US;
	s.end_ns = wr1 * US;
	ws_lset_add(&set, &s, 0);
	return (int)set.n - 1;
}

/* A client span: request written at w, response read completely at r. */
static int client_tp(const char *host, uint32_t pid, uint32_t tid, uint16_t cport, uint32_t seq, uint64_t w,
		     uint64_t r, uint64_t conn_open, uint64_t conn_id, const char *tp)
{
	struct ws_span s;

	base(&s, WS_SPAN_CLIENT, host, pid, tid, seq);
	ep(&s.local, "198.18.0.1", cport);
	ep(&s.peer, "198.18.0.2", 80);
	s.conn_id = conn_id ? conn_id : cport;
	s.conn_open_ns = conn_open * US;
	s.req_t[WS_T_FIRST_ENTER] = w * US;
	s.req_t[WS_T_LAST_EXIT] = w * US + 1;
	s.resp_t[WS_T_LAST_EXIT] = r * US;
	s.start_ns = w * US;
	s.end_ns = r * US;
	if (tp)
		ws_strlcpy(s.traceparent, tp, sizeof(s.traceparent));
	ws_lset_add(&set, &s, 0);
	return (int)set.n - 1;
}

static int client(const char *host, uint32_t pid, uint32_t tid, uint16_t cport, uint32_t seq, uint64_t w, uint64_t r)
{
	return client_tp(host, pid, tid, cport, seq, w, r, 0, 0, NULL);
}

static void reset(void)
{
	ws_lset_free(&set);
	ws_lset_init(&set);
}

static void check_parent(int child, int parent, int method)
{
	const struct ws_lspan *l = &set.v[child];

	CHECK(l->parent == parent, "span %d: parent %d, want %d (method %s)", child, l->parent, parent,
	      ws_link_method_name(l->method));
	if (parent >= 0 || method)
		CHECK_STR(ws_link_method_name(l->method), ws_link_method_name(method));
	if (parent >= 0)
		CHECK(memcmp(l->trace_id, set.v[parent].trace_id, 16) == 0, "span %d shares its parent's trace", child);
}

int main(void)
{
	ws_lset_init(&set);

	t_context = "across a connection";
	{
		int c = client("a", 10, 10, 40000, 1000, 100, 200);
		int s = server("b", 20, 20, 40000, 1000, 120, 120, 150, 150);
		int c2 = client("a", 10, 10, 40000, 2000, 300, 400); /* keep-alive: next request */
		int s2 = server("b", 20, 20, 40000, 2000, 320, 320, 350, 350);
		int lone = server("b", 20, 20, 40000, 3000, 520, 520, 550, 550); /* its client unrecorded */
		ws_link(&set, NULL);
		check_parent(s, c, WS_LINK_TCP);
		check_parent(s2, c2, WS_LINK_TCP);
		check_parent(lone, -1, WS_LINK_NONE);
		CHECK(set.v[s].confidence == 1.0f, "a seq join is certain");
		CHECK(memcmp(set.v[s].trace_id, set.v[s2].trace_id, 16) != 0, "two requests on one connection: two traces");
		CHECK(set.v[c].parent == -1 && set.v[c].candidates == 0, "a client of no request is a root");
	}

	t_context = "TLS plaintext";
	reset();
	{
		/* requests that began a TLS record carry its place on the wire
		 * and join; those that did not carry seq 0 and join nothing,
		 * even each other on the same connection */
		next_flags = WS_MSGF_TLS;
		int c = client("a", 10, 10, 40000, 1000, 100, 200);
		int s = server("b", 20, 20, 40000, 1000, 120, 120, 150, 150);
		next_flags = WS_MSGF_TLS | WS_MSGF_NOSEQ;
		int c2 = client("a", 10, 10, 40000, 0, 300, 400);
		int s2 = server("b", 20, 20, 40000, 0, 320, 320, 350, 350);
		next_flags = 0;
		ws_link(&set, NULL);
		check_parent(s, c, WS_LINK_TCP);
		check_parent(s2, -1, WS_LINK_NONE);
		CHECK(set.v[s2].req_noseq && set.v[c2].req_noseq && !set.v[s].req_noseq, "the flag reaches the linker");
	}

	t_context = "thread per request";
	reset();
	{
		int s1 = server("b", 20, 21, 40001, 1, 100, 110, 400, 410);
		int s2 = server("b", 20, 22, 40002, 2, 105, 115, 420, 430);
		int c1 = client("b", 20, 21, 50001, 9, 200, 300);
		int c2 = client("b", 20, 22, 50002, 9, 150, 350);
		int c3 = client("b", 20, 21, 50003, 9, 305, 390); /* second call of s1 */
		ws_link(&set, NULL);
		check_parent(c1, s1, WS_LINK_THREAD);
		check_parent(c2, s2, WS_LINK_THREAD);
		check_parent(c3, s1, WS_LINK_THREAD);
		CHECK(set.v[c1].candidates == 2, "both requests were in flight (%u)", set.v[c1].candidates);
	}

	t_context = "event loop: the last read";
	reset();
	{
		/* one thread; s1 then s2 read; s2's handler calls out at once,
		 * s1's after s2's call returns?: no: s1's call follows the read
		 * of the reply to s2's call, so it is s2's second call */
		int s1 = server("n", 30, 30, 40001, 1, 100, 100, 900, 900);
		int s2 = server("n", 30, 30, 40002, 2, 110, 110, 800, 800);
		int c1 = client("n", 30, 30, 50001, 9, 112, 300);
		int c2 = client("n", 30, 30, 50002, 9, 305, 500);
		ws_link(&set, NULL);
		check_parent(c1, s2, WS_LINK_LAST_READ);
		check_parent(c2, s2, WS_LINK_LAST_READ);
		CHECK(set.v[c1].confidence < 1.0f, "an event-loop guess is not certain");
		(void)s1;
	}

	t_context = "event loop: one read answers two requests' calls";
	reset();
	{
		int s1 = server("n", 30, 30, 40001, 1, 100, 100, 900, 900);
		int s2 = server("n", 30, 30, 40002, 2, 110, 110, 910, 910);
		int r1 = client("n", 30, 30, 6379, 10, 101, 200); /* one Redis connection, */
		int r2 = client("n", 30, 30, 6379, 20, 111, 200); /* both replies in one read */
		int h1 = client("n", 30, 30, 50001, 9, 205, 300);
		int h2 = client("n", 30, 30, 50002, 9, 206, 310);
		ws_link(&set, NULL);
		check_parent(r1, s1, WS_LINK_THREAD); /* the only request read yet */
		check_parent(r2, s2, WS_LINK_LAST_READ);
		check_parent(h1, s1, WS_LINK_READ_ORDER);
		check_parent(h2, s2, WS_LINK_READ_ORDER);
	}

	t_context = "event loop: a response uses its context up";
	reset();
	{
		int s1 = server("n", 30, 30, 40001, 1, 100, 100, 205, 400); /* answering after the read */
		int s2 = server("n", 30, 30, 40002, 2, 110, 110, 910, 910);
		int r1 = client("n", 30, 30, 6379, 10, 101, 200);
		int r2 = client("n", 30, 30, 6379, 20, 111, 200);
		int h2 = client("n", 30, 30, 50002, 9, 207, 310);
		ws_link(&set, NULL);
		check_parent(r1, s1, WS_LINK_THREAD);
		check_parent(r2, s2, WS_LINK_LAST_READ);
		check_parent(h2, s2, WS_LINK_READ_ORDER);
	}

	t_context = "event loop: a new connection's connect";
	reset();
	{
		int s1 = server("n", 30, 30, 40001, 1, 100, 100, 900, 900);
		int r = client("n", 30, 30, 50001, 9, 101, 110); /* s1's call */
		int s2 = server("n", 30, 30, 40002, 2, 103, 103, 910, 910);
		/* s2's handler connect()s at 104; the request goes out at 120,
		 * after the thread read the reply to s1's call */
		int c = client_tp("n", 30, 30, 50002, 9, 120, 300, 104, 77, NULL);
		ws_link(&set, NULL);
		check_parent(r, s1, WS_LINK_THREAD);
		check_parent(c, s2, WS_LINK_LAST_READ);
	}

	t_context = "a call after the reply to a call of no request";
	reset();
	{
		int s1 = server("n", 30, 30, 40001, 1, 100, 100, 900, 900);
		int s2 = server("n", 30, 30, 40002, 2, 105, 105, 900, 900);
		int bg = client("n", 30, 30, 50009, 9, 95, 200); /* a timer's call, before any request */
		int c = client("n", 30, 30, 50010, 9, 201, 300);
		ws_link(&set, NULL);
		check_parent(bg, -1, WS_LINK_NONE);
		check_parent(c, -1, WS_LINK_NONE);
		CHECK(set.v[c].candidates == 2, "candidates counted (%u)", set.v[c].candidates);
		(void)s1, (void)s2;
	}

	t_context = "goroutines: a handler's own call, a fan-out child's, a connection writer's";
	reset();
	{
		/* net/http: each request served by its connection's goroutine (11,
		 * 12); the handler of s1 calls out itself, s2's creates a child (21)
		 * that makes its call through a client whose connection writer (31)
		 * it dialled (30 creates 31) */
		int s1 = server("g", 60, 100, 40001, 1, 100, 100, 900, 900);
		int s2 = server("g", 60, 101, 40002, 2, 110, 110, 910, 910);
		set.v[s1].req_last_goid = set.v[s1].resp_goid = 11;
		set.v[s2].req_last_goid = set.v[s2].resp_goid = 12;
		ws_lset_add_spawn(&set, "g", 60, 21, 12, 115 * US);
		ws_lset_add_spawn(&set, "g", 60, 30, 21, 116 * US);
		ws_lset_add_spawn(&set, "g", 60, 31, 30, 117 * US);
		ws_lset_set_runtime(&set, "g", 60, WS_RT_GO);
		/* the thread ids say the opposite of the goroutines */
		int own = client("g", 60, 101, 50001, 9, 120, 200);
		set.v[own].req_goid = set.v[own].resp_last_goid = 11;
		int dialled = client("g", 60, 100, 50002, 9, 130, 300);
		set.v[dialled].req_goid = 31;
		set.v[dialled].resp_last_goid = 32;
		/* the writer is handed s1's next call over a channel by 11 */
		int handed = client("g", 60, 100, 50002, 19, 310, 400);
		set.v[handed].req_goid = 31;
		set.v[handed].req_waker = 11;
		set.v[handed].req_wake = 305 * US;
		/* and writes again with no new hand-off: its wake is used up, and
		 * the request it was dialled for (s2) is over by then */
		set.v[s2].end = 450 * US;
		int stale = client("g", 60, 100, 50002, 29, 500, 600);
		set.v[stale].req_goid = 31;
		set.v[stale].req_waker = 11;
		set.v[stale].req_wake = 305 * US;
		ws_link(&set, NULL);
		check_parent(own, s1, WS_LINK_GOROUTINE);
		check_parent(dialled, s2, WS_LINK_GO_LINEAGE);
		check_parent(handed, s1, WS_LINK_GO_HANDOFF);
		CHECK(set.v[stale].parent != s2, "a creation's request over: not inherited");
		CHECK(set.v[stale].method != WS_LINK_GO_HANDOFF, "a used-up hand-off is not evidence");
	}

	t_context = "goroutines: a pool hands a connection another request gave back";
	reset();
	{
		int s1 = server("g", 60, 100, 40001, 1, 100, 100, 900, 900);
		int s2 = server("g", 60, 101, 40002, 2, 110, 110, 910, 910);
		set.v[s1].req_last_goid = set.v[s1].resp_goid = 11;
		set.v[s2].req_last_goid = set.v[s2].resp_goid = 12;
		ws_lset_add_spawn(&set, "g", 60, 21, 11, 105 * US); /* s1's handler creates 21 */
		ws_lset_set_runtime(&set, "g", 60, WS_RT_GO);
		/* 21 waits for a pooled connection; 12 (serving s2) gives one back
		 * and wakes it */
		int c = client("g", 60, 101, 6379, 9, 200, 300);
		set.v[c].req_goid = 21;
		set.v[c].req_waker = 12;
		set.v[c].req_wake = 199 * US;
		ws_link(&set, NULL);
		check_parent(c, s1, WS_LINK_GO_SPAWN);
		CHECK(set.v[c].undecided[0] == s1 && set.v[c].undecided[1] == s2,
		      "the hand-off that disagreed is shown");
		struct ws_link_opts strict = {.no_traceparent = true, .min_confidence = 1.01f};
		ws_link(&set, &strict);
		check_parent(c, -1, WS_LINK_NONE);
		CHECK(set.v[c].undecided[0] == s1, "--min-confidence: the link it did not make is shown");
	}

	t_context = "Node.js: a call waits for the pool's one connection";
	reset();
	{
		/* one loop thread; each request's handler calls /x once; the
		 * pool has one connection (port 51000): s2's handler runs at
		 * 110 but its call waits until s1's reply gives the connection
		 * back, and goes out after that reply was read */
		int s1 = server("n", 70, 70, 40001, 1, 100, 100, 202, 202);
		int s2 = server("n", 70, 70, 40002, 2, 110, 110, 301, 301);
		int c1 = client("n", 70, 70, 51000, 9, 101, 200);
		int c2 = client("n", 70, 70, 51000, 9, 201, 300);
		ws_lset_set_runtime(&set, "n", 70, WS_RT_NODE);
		ws_link(&set, NULL);
		check_parent(c1, s1, WS_LINK_THREAD); /* the only request read yet */
		check_parent(c2, s2, WS_LINK_POOL_FIFO); /* not s1, whose reply was read last */
		CHECK(set.v[c2].confidence < 1.0f, "a model's answer is not certain");
	}

	t_context = "asyncio: a request's coroutine runs after a later request was read";
	reset();
	{
		/* s1 read at 100 and s2 at 110; the loop then runs s1's
		 * coroutine, whose call goes out at 120; s2 answers at 130
		 * without a call: the tick model (s2's call) is contradicted */
		int s1 = server("p", 71, 71, 40001, 1, 100, 100, 210, 210);
		int s2 = server("p", 71, 71, 40002, 2, 110, 110, 130, 130);
		int c = client("p", 71, 71, 51000, 9, 120, 200);
		ws_lset_set_runtime(&set, "p", 71, WS_RT_PYTHON);
		ws_link(&set, NULL);
		check_parent(c, s1, WS_LINK_LOOP_ORDER);
		(void)s2;
	}

	t_context = "asyncio: two coroutines each call once; the model that leaves none idle";
	reset();
	{
		/* read at 100 and 110, calls at 120 and 121: both models fit
		 * (no response leaves a call unanswered), but the tick model
		 * gives both calls to s2 and leaves s1 answering without one */
		int s1 = server("p", 71, 71, 40001, 1, 100, 100, 210, 210);
		int s2 = server("p", 71, 71, 40002, 2, 110, 110, 220, 220);
		int c1 = client("p", 71, 71, 51000, 9, 120, 200);
		int c2 = client("p", 71, 71, 51001, 9, 121, 201);
		ws_lset_set_runtime(&set, "p", 71, WS_RT_PYTHON);
		ws_link(&set, NULL);
		check_parent(c1, s1, WS_LINK_LOOP_ORDER);
		check_parent(c2, s2, WS_LINK_LOOP_ORDER);
	}

	t_context = "asyncio: two calls in flight for one task (gather): the queue model does not fit";
	reset();
	{
		/* s1's handler gathers two calls (120, 121); s2 answers at 130
		 * with none: the tick model gives both calls to s2, which
		 * answers before them; the queue model gives both to s1, one
		 * task with two calls unanswered: children it cannot see,
		 * whose order it would only guess */
		int s1 = server("p", 71, 71, 40001, 1, 100, 100, 210, 210);
		int s2 = server("p", 71, 71, 40002, 2, 110, 110, 130, 130);
		int a = client("p", 71, 71, 51000, 8, 120, 200);
		int b = client("p", 71, 71, 51001, 9, 121, 201);
		ws_lset_set_runtime(&set, "p", 71, WS_RT_PYTHON);
		ws_link(&set, NULL);
		check_parent(a, -1, WS_LINK_NONE);
		check_parent(b, -1, WS_LINK_NONE);
		(void)s1, (void)s2;
	}

	t_context = "event loop: a contradiction costs the links of its own stretch only";
	reset();
	{
		/* Node: at start both requests answer before the call made at
		 * 120 returns (a call of neither: both models are contradicted);
		 * then 24 stretches, nothing in flight between them, each a
		 * health check on another port answered at once and a request
		 * whose step makes the call */
		int s1 = server("n", 72, 72, 40001, 1, 100, 100, 150, 150);
		int s2 = server("n", 72, 72, 40002, 2, 110, 110, 130, 130);
		int first = client("n", 72, 72, 51000, 9, 120, 200);
		int later[24], owner[24];
		for (int i = 0; i < 24; i++) {
			uint64_t t = 1000 + 1000 * (uint64_t)i;
			int health = server("n", 72, 72, (uint16_t)(41000 + 2 * i), 10 + 2 * i, t, t, t + 30, t + 30);
			set.v[health].server.port = 8081; /* another kind of request: answered at once */
			owner[i] =
			    server("n", 72, 72, (uint16_t)(41001 + 2 * i), 11 + 2 * i, t + 10, t + 10, t + 60, t + 60);
			later[i] = client("n", 72, 72, (uint16_t)(52000 + i), 9, t + 20, t + 50);
		}
		ws_lset_set_runtime(&set, "n", 72, WS_RT_NODE);
		ws_link(&set, NULL);
		check_parent(first, -1, WS_LINK_NONE);
		CHECK(set.v[first].undecided[0] == s2, "the contradicted guess is shown");
		for (int i = 0; i < 24; i++)
			check_parent(later[i], owner[i], WS_LINK_LOOP_ONLY);
		(void)s1;
	}

	t_context = "event loop that fits neither model: no links, the guesses shown";
	reset();
	{
		/* the pair at 100.. contradicts the tick model (as above); the
		 * pair at 1000.. contradicts the queue model: s4's call at 1020
		 * is s4's, and s3 answers before it */
		int s1 = server("p", 71, 71, 40001, 1, 100, 100, 210, 210);
		int s2 = server("p", 71, 71, 40002, 2, 110, 110, 130, 130);
		int c = client("p", 71, 71, 51000, 9, 120, 200);
		int s3 = server("p", 71, 71, 40003, 3, 1000, 1000, 1030, 1030);
		int s4 = server("p", 71, 71, 40004, 4, 1010, 1010, 1110, 1110);
		int c4 = client("p", 71, 71, 51001, 9, 1020, 1100);
		ws_lset_set_runtime(&set, "p", 71, WS_RT_PYTHON);
		ws_link(&set, NULL);
		check_parent(c, -1, WS_LINK_NONE);
		check_parent(c4, -1, WS_LINK_NONE);
		CHECK(set.v[c].undecided[0] >= 0 && set.v[c4].undecided[0] >= 0, "what each would be is kept");
		(void)s1, (void)s2, (void)s3, (void)s4;
	}

	t_context = "goroutines unknown in a Go process: thread evidence is not certain";
	reset();
	{
		int s1 = server("u", 61, 100, 40001, 1, 100, 100, 900, 900);
		int s2 = server("u", 61, 101, 40002, 2, 105, 105, 900, 900);
		int c = client("u", 61, 100, 50001, 9, 120, 200);
		ws_lset_set_runtime(&set, "u", 61, WS_RT_GO_UNPROBED);
		ws_link(&set, NULL);
		check_parent(c, s1, WS_LINK_THREAD);
		CHECK(set.v[c].confidence < 0.9f, "a thread in Go says little (%.2f)", set.v[c].confidence);
		(void)s2;
	}

	t_context = "asyncio tasks: the task that answers, its children, the loop outside tasks";
	reset();
	{
		/* aiohttp: the loop thread (80) reads both requests in a protocol
		 * callback, outside any task; a task per request (501, 502,
		 * created by the connections' tasks 401, 402) answers each */
		int s1 = server("p", 80, 80, 40001, 1, 100, 100, 900, 900);
		int s2 = server("p", 80, 80, 40002, 2, 110, 110, 910, 910);
		set.v[s1].resp_goid = 501;
		set.v[s2].resp_goid = 502;
		ws_lset_add_spawn(&set, "p", 80, 501, 401, 101 * US);
		ws_lset_add_spawn(&set, "p", 80, 502, 402, 111 * US);
		ws_lset_add_spawn(&set, "p", 80, 601, 501, 125 * US); /* s1's handler gathers: a child task */
		ws_lset_set_runtime(&set, "p", 80, WS_RT_PYTHON_TASKS);
		int own = client("p", 80, 80, 50001, 9, 120, 200); /* s2's task writes it */
		set.v[own].req_goid = 502;
		int child = client("p", 80, 80, 50002, 9, 130, 210);
		set.v[child].req_goid = 601;
		int loop = client("p", 80, 80, 50003, 9, 140, 220); /* the loop itself, in no task */
		ws_link(&set, NULL);
		check_parent(own, s2, WS_LINK_TASK);
		check_parent(child, s1, WS_LINK_TASK_SPAWN);
		check_parent(loop, -1, WS_LINK_NONE);
		CHECK(set.v[own].confidence == 1.0f, "a task's own call is certain");
	}

	t_context = "traceparent";
	reset();
	{
		const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
		struct ws_span s = {0};
		int sv = server("b", 20, 20, 40000, 1, 100, 100, 400, 400);
		int sv2 = server("b", 20, 21, 40001, 2, 101, 101, 400, 400);
		/* the application propagates: its call carries the same trace */
		int c = client_tp("b", 20, 22, 50001, 9, 150, 300, 0, 0,
				  "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01");
		/* another trace's header: never linked to sv */
		int c2 = client_tp("b", 20, 20, 50002, 9, 160, 310, 0, 0,
				   "00-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-2222222222222222-01");
		set.v[sv].has_tp = ws_traceparent_parse(tp, set.v[sv].tp_trace, &set.v[sv].tp_parent);
		CHECK(set.v[sv].has_tp, "a valid traceparent parses");
		ws_link(&set, NULL);
		check_parent(sv, -1, WS_LINK_TRACEPARENT);
		CHECK(set.v[sv].ext_parent == 0x00f067aa0ba902b7ull, "parent from the header");
		ws_lspan_apply(&set, &set.v[sv], &s);
		CHECK(s.trace_id[0] == 0x4b && s.trace_id[15] == 0x36, "trace id from the header");
		CHECK(s.parent_id[1] == 0xf0 && s.parent_id[7] == 0xb7, "parent span id from the header");
		check_parent(c, sv, WS_LINK_TRACEPARENT);
		CHECK(set.v[c2].parent != sv, "a call of another trace is not linked to the request");
		(void)sv2;

		struct ws_link_opts no_tp = {.no_traceparent = true};
		ws_link(&set, &no_tp);
		CHECK(set.v[sv].parent == -1 && set.v[sv].ext_parent == 0, "--no-traceparent ignores the header");
		CHECK(set.v[sv].trace_id[0] != 0x4b || set.v[sv].trace_id[1] != 0xf9, "and its trace id");

		uint8_t t[16];
		uint64_t p;
		CHECK(!ws_traceparent_parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01", t, &p),
		      "an all-zero trace id is invalid");
		CHECK(!ws_traceparent_parse("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", t, &p),
		      "version ff is invalid");
		CHECK(!ws_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", t, &p),
		      "a cut header is invalid");
		CHECK(!ws_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e473x-00f067aa0ba902b7-01", t, &p),
		      "non-hex is invalid");
	}

	t_context = "the same trace id from any combination of databases";
	reset();
	{
		uint8_t whole[16], from_b[16];
		uint64_t base = next_id;
		int c = client("a", 10, 10, 40000, 1000, 100, 200);
		int s = server("b", 20, 20, 40000, 1000, 120, 120, 150, 150);
		ws_link(&set, NULL);
		memcpy(whole, set.v[s].trace_id, 16);
		CHECK(memcmp(set.v[c].trace_id, whole, 16) == 0, "one trace");
		reset();
		/* the server's host alone, then both in the other order */
		next_id = base + 1;
		s = server("b", 20, 20, 40000, 1000, 120, 120, 150, 150);
		ws_link(&set, NULL);
		memcpy(from_b, set.v[s].trace_id, 16);
		CHECK(memcmp(from_b, whole, 16) != 0, "alone, the server span is its own root");
		next_id = base;
		c = client("a", 10, 10, 40000, 1000, 100, 200);
		ws_link(&set, NULL);
		CHECK(memcmp(set.v[s].trace_id, whole, 16) == 0, "joined again: the same trace id");
		/* a database given twice: spans counted once */
		next_id = base;
		int dup = client("a", 10, 10, 40000, 1000, 100, 200);
		ws_link(&set, NULL);
		CHECK(set.v[dup].kind == 0 || set.v[c].kind == 0, "a repeated span id is dropped");
		next_id = base + 2;
	}

	t_context = "inconsistent input";
	reset();
	{
		/* a server span with no timestamps in the same process as the
		 * client of its own exchange: a cycle if both links were kept */
		int s = server("x", 40, 40, 40000, 5, 0, 0, 0, 0);
		set.v[s].end = 1000 * US;
		int c = client("x", 40, 40, 40000, 5, 10, 20);
		ws_link(&set, NULL);
		CHECK(set.v[s].parent < 0 || set.v[c].parent < 0, "the cycle is cut");
		/* many spans with equal timestamps: no crash, every span linked or a root */
		reset();
		for (int i = 0; i < 2000; i++)
			i % 2 ? client("y", 50, 50, (uint16_t)(1000 + i), (uint32_t)i, 5, 5)
			      : server("y", 50, 50, (uint16_t)(1000 + i), (uint32_t)i, 5, 5, 5, 5);
		ws_link(&set, NULL);
		size_t roots = 0;
		for (size_t i = 0; i < set.n; i++)
			roots += set.v[i].parent < 0;
		CHECK(roots >= 1000, "servers stay roots (%zu)", roots);
	}

	ws_lset_free(&set);
	return t_summary("test_link");
}
