/* test_pipeline.c -- a recording's life through the pipeline: every sink
 * is handed the same spans, connections, TCP facts and counters as the
 * database, in order (begin first, end last); a sink that fails is handed
 * nothing more while the others go on; the database's recording ends
 * complete, with its counters, and its traces are linked. */
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "pipeline/pipeline.h"

/* A sink that remembers what it was handed. */
struct rec_sink {
	int begins, spans, conns, tcp, counters, totals, commits, ends, after_end;
	char names[8][64];
	char status[16];
	uint64_t stat_spans, total_spans;
	int fail_after; /* span op fails from this call on (0: never) */
	bool ended;
};

static void touch(struct rec_sink *r)
{
	if (r->ended)
		r->after_end++;
}

static int64_t rs_begin(void *ctx, const struct ws_recording *rec)
{
	struct rec_sink *r = ctx;

	r->begins++;
	CHECK_STR(rec->source, "replay");
	return 0; /* keeps no ids of its own */
}

static int rs_span(void *ctx, const struct ws_span *s)
{
	struct rec_sink *r = ctx;

	touch(r);
	if (r->fail_after && r->spans + 1 >= r->fail_after)
		return -1;
	if (r->spans < 8)
		ws_strlcpy(r->names[r->spans], s->name, sizeof(r->names[0]));
	r->spans++;
	return 0;
}

static int rs_conn(void *ctx, const char *host, const struct ct_conn_info *c)
{
	struct rec_sink *r = ctx;

	(void)c;
	touch(r);
	CHECK_STR(host, "h1");
	r->conns++;
	return 0;
}

static int rs_tcp(void *ctx, const char *host, const struct ws_event *ev, const char *reason)
{
	struct rec_sink *r = ctx;

	(void)host;
	(void)reason;
	touch(r);
	CHECK_INT(ev->tcp_what, WS_TCPEV_RETRANS);
	r->tcp++;
	return 0;
}

static int rs_counters(void *ctx, const struct ws_counter *rows, size_t n)
{
	struct rec_sink *r = ctx;

	touch(r);
	r->counters++;
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, "spans") == 0)
			r->stat_spans = rows[i].v;
	return 0;
}

static int rs_totals(void *ctx, uint64_t events, uint64_t spans, uint64_t lost)
{
	struct rec_sink *r = ctx;

	(void)events;
	(void)lost;
	touch(r);
	r->totals++;
	r->total_spans = spans;
	return 0;
}

static int rs_commit(void *ctx)
{
	((struct rec_sink *)ctx)->commits++;
	return 0;
}

static int rs_end(void *ctx, uint64_t ended_ns, const char *status)
{
	struct rec_sink *r = ctx;

	(void)ended_ns;
	r->ends++;
	r->ended = true;
	ws_strlcpy(r->status, status, sizeof(r->status));
	return 0;
}

static const char *rs_errmsg(void *ctx)
{
	(void)ctx;
	return "test sink refused a span";
}

static const struct ws_sink_ops rec_ops = {
    .name = "test",
    .begin = rs_begin,
    .span = rs_span,
    .conn = rs_conn,
    .tcp_event = rs_tcp,
    .counters = rs_counters,
    .totals = rs_totals,
    .commit = rs_commit,
    .end = rs_end,
    .errmsg = rs_errmsg,
};

/* The client's end of a connection 10.0.0.1:40000 -> 10.0.0.2:80. */
static struct ws_event ev_of(int kind, uint64_t t)
{
	struct ws_event ev = {0};
	uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};

	ev.kind = kind;
	ev.conn_id = 7;
	ev.pid = ev.tid = 100;
	strcpy(ev.comm, "client");
	ev.t_enter = t;
	ev.t_exit = t + 10;
	ws_endpoint_set(&ev.local, AF_INET, a, 40000);
	ws_endpoint_set(&ev.peer, AF_INET, b, 80);
	return ev;
}

static void data(struct pipeline *p, int dir, const char *s, uint32_t *seq, uint64_t t)
{
	struct ws_event ev = ev_of(WS_EV_DATA, t);

	ev.dir = dir;
	ev.seq = *seq;
	ev.len = ev.head_len = (uint32_t)strlen(s);
	ev.head = (const uint8_t *)s;
	*seq += ev.len;
	pipeline_event(p, &ev);
}

static int count_span(void *ctx, const struct ws_span *s)
{
	int *n = ctx;

	(void)s;
	(*n)++;
	return 0;
}

static int count_traced(void *ctx, const struct ws_span *s)
{
	int *n = ctx;
	static const uint8_t zero[16];

	*n += memcmp(s->trace_id, zero, 16) != 0;
	return 0;
}

/* A database and its journal files. */
static void remove_db(const char *path)
{
	char side[300];

	unlink(path);
	snprintf(side, sizeof(side), "%s-wal", path);
	unlink(side);
	snprintf(side, sizeof(side), "%s-shm", path);
	unlink(side);
}

/* Event ev again: dir, bytes text at *seq (which it moves on), at *t. */
static void step(struct pipeline *p, struct ws_event *ev, int dir, const char *text, uint32_t *seq, uint64_t *t)
{
	ev->dir = dir;
	ev->seq = *seq;
	ev->len = ev->head_len = (uint32_t)strlen(text);
	ev->head = (const uint8_t *)text;
	ev->t_enter = *t += 1000;
	ev->t_exit = *t + 10;
	*seq += ev->len;
	pipeline_event(p, ev);
}

/* A client's two requests and the server's side of them (the same TCP
 * sequence numbers), so that trace assembly links each server span
 * under its client span. */
static void conversation(struct pipeline *p)
{
	const char *req[2] = {"GET /a HTTP/1.1\r\nHost: x\r\n\r\n", "GET /b HTTP/1.1\r\nHost: x\r\n\r\n"};
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	uint32_t cseq[2] = {1000, 9000}, sseq[2] = {1000, 9000};
	uint64_t t = 1000000000;
	struct ws_event cl = ev_of(WS_EV_DATA, t), sv = cl;

	/* the server: its own connection, the ends swapped */
	sv.conn_id = 9;
	sv.pid = sv.tid = 200;
	strcpy(sv.comm, "server");
	sv.local = cl.peer;
	sv.peer = cl.local;
	for (int i = 0; i < 2; i++) {
		step(p, &cl, WS_SEND, req[i], &cseq[0], &t);
		step(p, &sv, WS_RECV, req[i], &sseq[0], &t);
		step(p, &sv, WS_SEND, resp, &sseq[1], &t);
		step(p, &cl, WS_RECV, resp, &cseq[1], &t);
	}
	ct_flush(p->ct);
}

struct links {
	int n, with_parent;
	char kinds[8];
};

static int keep_links(void *ctx, const struct ws_span *s)
{
	struct links *l = ctx;
	static const uint8_t zero[8];

	if (l->n < 8)
		l->kinds[l->n] = s->kind == WS_SPAN_SERVER ? 's' : 'c';
	l->n++;
	if (memcmp(s->parent_id, zero, 8) != 0) {
		l->with_parent++;
		CHECK(s->kind == WS_SPAN_SERVER && strcmp(s->link_method, "tcp") == 0, "a server span under its client");
	}
	return 0;
}

/* The offline front doors' way: spans held until trace assembly, then
 * each stored once, linked; past hold_max, handed over as they were and
 * linked from the database. The same links either way, and as without
 * holding. */
static void test_held(const char *dir, bool hold, size_t hold_max)
{
	char path[256], err[512], ctx[64];
	struct pipeline p = {.link_in_memory = hold, .hold_max = hold_max};
	struct rec_sink seen = {0};
	struct ws_sink sink = {.ops = &rec_ops, .ctx = &seen};
	struct ws_span_filter all = {0};
	struct links l = {0};
	int stored = 0;

	snprintf(ctx, sizeof(ctx), "held %d max %zu", hold, hold_max);
	t_context = ctx;
	snprintf(path, sizeof(path), "%s/held-%d-%zu.db", dir, hold, hold_max);
	CHECK(pipeline_open(&p, path, err, sizeof(err)) == 0, "open: %s", err);
	pipeline_add_sink(&p, &sink);
	ws_strlcpy(p.host, "h1", sizeof(p.host));
	struct ws_recording r = {.source = "replay", .host = "h1", .command = "test", .started_ns = 1};
	CHECK(pipeline_begin(&p, &r) == 0, "begin");
	conversation(&p);
	CHECK(pipeline_end(&p, NULL, 0, 0, "complete") == 0, "end");
	CHECK_INT(seen.spans, 4); /* another sink gets them as they are made */
	CHECK(ws_store_each_span(p.store, &all, count_span, &stored) == 0, "read");
	/* held: not in the database before trace assembly (past the limit:
	 * what came after it was) */
	CHECK_INT(stored, !hold ? 4 : hold_max ? 4 : 0);
	CHECK_INT(p.spans_committed, (uint64_t)stored); /* what is said to be stored is */
	CHECK(pipeline_link(&p, 0) == 0, "link");
	CHECK(ws_store_each_span(p.store, &all, keep_links, &l) == 0, "read");
	CHECK_INT(l.n, 4);
	CHECK_INT(l.with_parent, 2);
	CHECK_INT(p.spans_committed, 4);
	pipeline_close(&p);
	remove_db(path);
}

int main(void)
{
	char dir[] = "/tmp/wirespan-test-XXXXXX", path[256], err[512];
	struct pipeline p = {0};
	struct rec_sink good = {0}, bad = {.fail_after = 2};
	struct ws_sink s1 = {.ops = &rec_ops, .ctx = &good}, s2 = {.ops = &rec_ops, .ctx = &bad};

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/p.db", dir);

	t_context = "open";
	CHECK(pipeline_open(&p, path, err, sizeof(err)) == 0, "open: %s", err);
	pipeline_add_sink(&p, &s1);
	pipeline_add_sink(&p, &s2);
	ws_strlcpy(p.host, "h1", sizeof(p.host));
	struct ws_recording r = {.source = "replay", .host = "h1", .command = "test", .started_ns = 1};
	CHECK(pipeline_begin(&p, &r) == 0, "begin");
	CHECK(p.rec_id > 0, "the database numbers the recording: %lld", (long long)p.rec_id);
	CHECK_INT(good.begins, 1);

	t_context = "events";
	uint32_t seq[2] = {1000, 9000};
	uint64_t t = 1000000000;
	struct ws_event open = ev_of(WS_EV_OPEN, t);
	open.role = WS_ROLE_CLIENT;
	pipeline_event(&p, &open);
	data(&p, WS_SEND, "GET /a HTTP/1.1\r\nHost: x\r\n\r\n", &seq[0], t += 1000);
	data(&p, WS_RECV, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &seq[1], t += 1000);
	struct ws_event rt = ev_of(WS_EV_TCP, t += 1000);
	rt.tcp_what = WS_TCPEV_RETRANS;
	pipeline_event(&p, &rt);
	data(&p, WS_SEND, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n", &seq[0], t += 1000);
	data(&p, WS_RECV, "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n", &seq[1], t += 1000);
	CHECK(pipeline_commit(&p) == 0, "commit");
	/* a connect that failed: a span of its own */
	struct ws_event bad_open = ev_of(WS_EV_OPEN, t += 1000);
	bad_open.conn_id = 8;
	bad_open.role = WS_ROLE_CLIENT;
	bad_open.flags = WS_EVF_ERROR;
	bad_open.err = -111;
	pipeline_event(&p, &bad_open);
	ct_flush(p.ct);

	t_context = "end";
	const struct ws_counter rows[] = {{"stat", "front_door_rows", 5}, {"lost", "test_loss", 0}};
	CHECK(pipeline_end(&p, rows, WS_ARRAY_SIZE(rows), 0, "complete") == 0, "end: %s", pipeline_errmsg(&p));
	CHECK_INT(p.spans, 3);
	CHECK_INT(good.spans, 3);
	CHECK_STR(good.names[0], "GET /a");
	CHECK_STR(good.names[1], "GET /b");
	CHECK_STR(good.names[2], "connect");
	CHECK_INT(good.conns, 2); /* the one that served, and the one whose connect failed */
	CHECK_INT(good.tcp, 1);
	CHECK(good.counters >= 2, "counters %d", good.counters);
	CHECK_INT(good.stat_spans, 3);
	CHECK_INT(good.total_spans, 3);
	CHECK(good.commits >= 2, "commits %d", good.commits);
	CHECK_INT(good.ends, 1);
	CHECK_STR(good.status, "complete");
	CHECK_INT(good.after_end, 0);
	/* the failing sink: refused its second span, handed nothing after */
	CHECK_INT(bad.spans, 1);
	CHECK_INT(bad.tcp, 1); /* the retransmission came before */
	CHECK_INT(bad.conns, 0);
	CHECK_INT(bad.ends, 0);
	CHECK(!p.store_failed, "the database goes on");

	t_context = "database";
	int stored = 0, traced = 0;
	struct ws_span_filter all = {0};
	CHECK(ws_store_each_span(p.store, &all, count_span, &stored) == 0, "read");
	CHECK_INT(stored, 3);
	CHECK(pipeline_link(&p, 0) == 0, "link");
	CHECK(ws_store_each_span(p.store, &all, count_traced, &traced) == 0, "read");
	CHECK_INT(traced, 3);
	CHECK_INT(ws_store_span_count(p.store), 3);

	t_context = "second recording";
	good = (struct rec_sink){0};
	CHECK(pipeline_begin(&p, &r) == 0, "begin again");
	CHECK_INT(p.spans, 0);
	CHECK_INT(good.begins, 1);
	CHECK(pipeline_end(&p, rows, 0, 0, "failed") == 0, "end");
	CHECK_STR(good.status, "failed");
	pipeline_close(&p);
	remove_db(path);

	test_held(dir, false, 0);
	test_held(dir, true, 0);
	test_held(dir, true, 2);
	rmdir(dir);
	return t_summary("test_pipeline");
}
