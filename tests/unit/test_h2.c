/* test_h2.c -- HTTP/2 and gRPC through the connection tracker: the
 * conversations in tests/data/h2 (recorded from nginx, curl, nghttp and
 * python3-grpcio with tcpdump) replayed every way; a connection met in its
 * middle and records lost, where a stream keeps its id, sizes and timing
 * and says its headers are unknown, and is never paired or named wrong;
 * what a span of them shows; detection. */
#include "harness.h"
#include "proto/h2.h"
#include "util/json.h"

/* s=STREAM METHOD PATH STATUS req=BODY resp=BODY [grpc=N] [rst=CODE]
 * [query=...] [redacted=BITS] [trailers] [gap] [unknown] [aborted]
 * [incomplete] */
static void fmt_h2(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_h2_info *q = &x->req.u.h2, *r = &x->resp.u.h2;
	int o = snprintf(out, n, "s=%u %s %s %d req=%llu resp=%llu", q->stream, q->http.method[0] ? q->http.method : "-",
			 q->http.path[0] ? q->http.path : "-", r->http.status, (unsigned long long)x->req.body_bytes,
			 (unsigned long long)x->resp.body_bytes);

	if (r->grpc_status >= 0 && !x->aborted)
		o += snprintf(out + o, n - o, " grpc=%d", r->grpc_status);
	if (r->rst)
		o += snprintf(out + o, n - o, " rst=%u", r->rst_code);
	if (q->http.query[0])
		o += snprintf(out + o, n - o, " query=%s", q->http.query);
	if (q->http.redacted | r->http.redacted)
		o += snprintf(out + o, n - o, " redacted=%d", q->http.redacted | r->http.redacted);
	if (r->trailers)
		o += snprintf(out + o, n - o, " trailers");
	if (q->gap || r->gap)
		o += snprintf(out + o, n - o, " gap");
	if (q->headers_unknown || r->headers_unknown || q->trailers_unknown || r->trailers_unknown)
		o += snprintf(out + o, n - o, " unknown");
	if (x->aborted)
		o += snprintf(out + o, n - o, " aborted");
	if ((x->req.flags | x->resp.flags) & WS_MSGF_INCOMPLETE)
		snprintf(out + o, n - o, " incomplete");
}

static int dump(const char *path)
{
	static struct conv c;
	static struct replay_out out;

	out.format = fmt_h2;
	if (conv_load(path, &c) != 0)
		return 1;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(&c, &o, &out);
		printf("%s side: %d exchanges\n", side ? "server" : "client", out.n);
		for (int i = 0; i < out.n; i++)
			printf("= %s\n", out.got[i]);
	}
	return 0;
}

/* b, an exchange a damaged replay gave, against the exchanges of the whole
 * one: the same stream's, identical, or with its headers unknown ("-",
 * "-", status 0, "unknown") and nothing else different but what depends
 * on the headers (grpc status, query, redacted, trailers). Never another
 * stream's request with this one's response. */
static bool h2_vaguer(const struct replay_out *full, const char *b)
{
	unsigned sb, sa;
	char mb[32], pb[300], rest_b[256];

	if (sscanf(b, "s=%u %31s %299s %*d %255[^\n]", &sb, mb, pb, rest_b) < 3)
		return false;
	for (int i = 0; i < full->n; i++) {
		const char *a = full->got[i];
		char ma[32], pa[300];
		unsigned long long qa, ra, qb, rb;
		if (sscanf(a, "s=%u %31s %299s", &sa, ma, pa) != 3 || sa != sb)
			continue;
		if (strcmp(a, b) == 0)
			return true;
		/* aborted: the response was lost where nothing could tell (the
		 * last record of a direction); the span says it saw none */
		bool unknown = strstr(b, " unknown") != NULL,
		     partial = strstr(b, " gap") || strstr(b, " incomplete") || strstr(b, " aborted");
		int stb = -1, sta = -2;
		sscanf(b, "s=%*u %*s %*s %d", &stb);
		sscanf(a, "s=%*u %*s %*s %d", &sta);
		sscanf(strstr(a, "req="), "req=%llu resp=%llu", &qa, &ra);
		sscanf(strstr(b, "req="), "req=%llu resp=%llu", &qb, &rb);
		/* what is known must agree; sizes are known from the frames, and
		 * are lower bounds where bytes were lost or the end not seen */
		if (!unknown && !partial)
			return false;
		return (strcmp(mb, "-") == 0 || strcmp(mb, ma) == 0) && (strcmp(pb, "-") == 0 || strcmp(pb, pa) == 0) &&
		       (stb == sta || (stb == 0 && (unknown || strstr(b, " aborted")))) && (partial ? qb <= qa && rb <= ra : qa == qb && ra == rb);
	}
	return false;
}

/* A copy of c without segments [0, from) (a connection met in its
 * middle), or without segment drop (records lost: its bytes are skipped,
 * the sequence numbers go on). */
static void replay_damaged(const struct conv *c, int from, int drop, int side, struct replay_out *out)
{
	struct ct_config cfg = {.close_grace = 1};
	struct ct_sink sink = {.exchange = replay_on_exchange, .ctx = out};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct replay_opts o = {.side = side, .split_seg = -1, .no_open = from > 0};
	uint32_t seq[2] = {1000, 5000000};
	uint64_t t = 1000000;

	out->n = 0;
	if (!from) {
		struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 42, .t_enter = t, .t_exit = t};
		open.role = side == CONV_CLIENT ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
		ct_event(ct, &open);
	}
	for (int i = 0; i < c->nsegs; i++) {
		const struct conv_seg *sg = &c->segs[i];
		if (sg->from == CONV_EOF) {
			feed_eof(ct, &o, t += 1000);
			continue;
		}
		if (i >= from && i != drop)
			feed_seg(ct, &o, sg->from, sg->data, sg->len, seq[sg->from], t += 1000);
		seq[sg->from] += sg->len;
	}
	ct_advance(ct, UINT64_MAX / 2);
	ct_free(ct);
}

/* Every way of meeting a conversation in its middle, and of losing one of
 * its records: each exchange reported is one the whole replay gives, or
 * that one with its headers unknown. Returns the exchanges reported with
 * their headers unknown. */
static int check_damaged(const struct conv *c, bool mid)
{
	static struct replay_out full, cut;
	int unknown = 0;

	full.format = cut.format = fmt_h2;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(c, &o, &full);
		for (int k = mid ? 1 : 0; k < c->nsegs; k++) {
			replay_damaged(c, mid ? k : 0, mid ? -1 : k, side, &cut);
			for (int i = 0; i < cut.n; i++) {
				CHECK(h2_vaguer(&full, cut.got[i]), "%s side, %s segment %d: '%s' is not one the whole "
				      "conversation gives", side ? "server" : "client", mid ? "from" : "without", k,
				      cut.got[i]);
				unknown += strstr(cut.got[i], " unknown") != NULL;
			}
		}
	}
	return unknown;
}

static void damaged_one(const struct conv *c, const char *path, void *ctx)
{
	(void)path;
	(void)ctx;
	check_damaged(c, true);
	check_damaged(c, false);
}

static void test_damaged(void)
{
	static struct conv c;
	static struct replay_out out;
	const char *path = "tests/data/h2/grpc_python.conv";

	CHECK(conv_load(path, &c) == 0, "load %s", path);
	t_context = "grpc, met in its middle";
	/* the streams whose requests begin after the cut are all there, with
	 * their ids, sizes and the frames' timing, and no headers */
	int unknown = check_damaged(&c, true);
	CHECK(unknown > 20, "only %d exchanges kept with unknown headers", unknown);
	t_context = "grpc, a record lost";
	unknown = check_damaged(&c, false);
	CHECK(unknown > 10, "only %d exchanges kept with unknown headers", unknown);

	/* met after the first round (the segment after Stream's trailers): the
	 * second round's three calls, known by stream id only */
	out.format = fmt_h2;
	int from = -1;
	for (int i = 0; i < c.nsegs && from < 0; i++)
		if (c.segs[i].from == CONV_CLIENT && i > 0 && c.segs[i].len > 40 &&
		    memmem(c.segs[i].data, c.segs[i].len, "\x00\x00\x00\x07", 4)) /* stream 7's HEADERS */
			from = i;
	CHECK(from > 0, "no segment opens stream 7");
	replay_damaged(&c, from, -1, CONV_SERVER, &out);
	CHECK_INT(out.n, 3);
	CHECK_STR(out.got[0], "s=7 - - 0 req=7 resp=13 trailers unknown");
	CHECK_STR(out.got[1], "s=9 - - 0 req=6 resp=0 unknown");
	CHECK_STR(out.got[2], "s=11 - - 0 req=6 resp=48 trailers unknown");

	/* the same, masked as --save-events does (the masker meets the
	 * connection in its middle too): a replay still finds it and its
	 * three calls */
	static struct conv tail, masked;
	tail = c;
	memmove(tail.segs, c.segs + from, (size_t)(c.nsegs - from) * sizeof(c.segs[0]));
	tail.nsegs = c.nsegs - from;
	for (int side = 0; side < 2; side++) {
		t_context = side ? "masked mid-way, server side" : "masked mid-way, client side";
		mask_conv(&tail, &masked, side, &(struct cut){.split_seg = -1, .skip_run = -1});
		replay_damaged(&masked, 0, -1, side, &out);
		/* replay_damaged(from 0) opens the connection; a recording that
		 * met it mid-way saw no open: replay that too */
		struct replay_opts o = {.side = side, .split_seg = -1, .no_open = 1};
		replay(&masked, &o, &out);
		CHECK_INT(out.n, 3);
		if (out.n == 3) {
			CHECK_STR(out.got[0], "s=7 - - 0 req=7 resp=13 trailers unknown");
			CHECK_STR(out.got[2], "s=11 - - 0 req=6 resp=48 trailers unknown");
		}
		free_masked(&masked);
	}
	conv_free(&c);

	each_conv("tests/data/h2", damaged_one, NULL);
}

/* The spans of a conversation, as JSON, recorded at one side. */
static void spans_json(const char *path, int side, char out[][4096], int *n)
{
	static struct conv c;
	static struct replay_out r;
	struct ws_json j;

	r.format = fmt_h2;
	CHECK(conv_load(path, &c) == 0, "load %s", path);
	struct replay_opts o = {.side = side, .split_seg = -1};
	replay(&c, &o, &r);
	*n = r.n;
	for (int i = 0; i < r.n && i < 16; i++) {
		wj_init(&j);
		ws_span_to_json(&r.spans[i], &j);
		ws_strlcpy(out[i], j.buf, 4096);
		wj_free(&j);
	}
	conv_free(&c);
}

#define HAS(json, s) CHECK(strstr(json, s) != NULL, "no %s in %s", s, json)
#define HASNT(json, s) CHECK(strstr(json, s) == NULL, "%s in %s", s, json)

static void test_span_fields(void)
{
	static char js[16][4096];
	int n;

	t_context = "grpc spans, client side";
	spans_json("tests/data/h2/grpc_python.conv", CONV_CLIENT, js, &n);
	CHECK_INT(n, 6);
	HAS(js[0], "\"name\":\"demo.v1.Greeter/Echo\"");
	HAS(js[0], "\"rpc.system\":\"grpc\"");
	HAS(js[0], "\"rpc.service\":\"demo.v1.Greeter\"");
	HAS(js[0], "\"rpc.method\":\"Echo\"");
	HAS(js[0], "\"rpc.grpc.status_code\":0");
	HAS(js[0], "\"network.protocol.name\":\"http\"");
	HAS(js[0], "\"network.protocol.version\":\"2\"");
	HAS(js[0], "\"wirespan.h2.stream_id\":1");
	HAS(js[0], "\"http.response.status_code\":200");
	HASNT(js[0], "error.type");
	/* NOT_FOUND: an error for the client, not for the server (OpenTelemetry) */
	HAS(js[1], "\"rpc.grpc.status_code\":5");
	HAS(js[1], "\"error.type\":\"NOT_FOUND\"");
	HASNT(js[1], "no such greeting"); /* grpc-message is not kept */
	t_context = "grpc spans, server side";
	spans_json("tests/data/h2/grpc_python.conv", CONV_SERVER, js, &n);
	CHECK_INT(n, 6);
	HAS(js[1], "\"rpc.grpc.status_code\":5");
	HASNT(js[1], "error.type");
	HAS(js[2], "\"name\":\"demo.v1.Greeter/Stream\"");

	t_context = "nghttp to nginx";
	spans_json("tests/data/h2/nghttp_nginx.conv", CONV_SERVER, js, &n);
	CHECK_INT(n, 4);
	HAS(js[0], "\"name\":\"GET /index.html\"");
	HAS(js[0], "\"http.request.method\":\"GET\"");
	HAS(js[0], "\"url.path\":\"/index.html\"");
	HAS(js[0], "\"http.request.header.authorization\":\"[REDACTED]\"");
	HAS(js[0], "\"http.request.header.cookie\":\"[REDACTED]\"");
	HAS(js[0], "\"http.request.header.host\":\"127.0.0.1:18480\"");
	HAS(js[1], "\"url.query\":\"user=REDACTED&token=REDACTED\"");
	HAS(js[2], "\"http.response.body.size\":17000");
	HAS(js[3], "\"name\":\"GET /users/{id}/index.html\"");
	HAS(js[3], "\"http.response.status_code\":404");
	for (int i = 0; i < n; i++) {
		HASNT(js[i], "Bearer");
		HASNT(js[i], "abc");
		HASNT(js[i], "a=b");
		HASNT(js[i], "zz");
		HASNT(js[i], "rpc.system");
	}
	t_context = "client span of a 404";
	spans_json("tests/data/h2/post_404.conv", CONV_CLIENT, js, &n);
	CHECK_INT(n, 1);
	HAS(js[0], "\"error.type\":\"404\"");
	HAS(js[0], "\"http.request.body.size\":16");
	HASNT(js[0], "secret");
	t_context = "";
}

static void test_detect(void)
{
	static const uint8_t pri[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	/* a server's SETTINGS (its preface); a client's HEADERS met mid-way,
	 * opening with a dynamic :path and then :method POST from the static
	 * table (as gRPC's encoder does), and the same with :status 200 */
	static const uint8_t settings[] = {0, 0, 6, 4, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100};
	static const uint8_t req[] = {0, 0, 3, 1, 4, 0, 0, 0, 7, 0xc6, 0x83, 0x86};
	static const uint8_t resp[] = {0, 0, 2, 1, 4, 0, 0, 0, 7, 0xbe, 0x88};
	static const uint8_t data_even[] = {0, 0, 1, 0, 1, 0, 0, 0, 0, 'x'}; /* DATA on stream 0: not a frame */
	bool more;

	t_context = "detect";
	for (uint32_t k = 1; k < 24; k++) {
		CHECK_INT(ws_proto_detect_request(pri, k, &more), WS_PROTO_NONE);
		CHECK_INT(more, 1);
	}
	CHECK_INT(ws_proto_detect_request(pri, 24, NULL), WS_PROTO_H2);
	CHECK_INT(ws_proto_detect_request(settings, sizeof(settings), &more), WS_PROTO_NONE);
	CHECK_INT(more, 1); /* wait for the client's preface */
	CHECK_INT(ws_proto_detect_request(req, sizeof(req), NULL), WS_PROTO_H2);
	CHECK_INT(ws_proto_detect_request(resp, sizeof(resp), NULL), WS_PROTO_NONE);
	CHECK_INT(ws_h2_request_at(resp, sizeof(resp)), 0);
	CHECK_INT(ws_proto_detect_request(data_even, sizeof(data_even), NULL), WS_PROTO_NONE);
	CHECK_INT(ws_h2_request_at(data_even, sizeof(data_even)), 0);
	/* a whole run must be a whole chain of frames */
	CHECK_INT(ws_h2_chain(req, sizeof(req), true, NULL), 1);
	CHECK_INT(ws_h2_chain(req, sizeof(req) - 1, true, NULL), 0);
	CHECK_INT(ws_h2_chain(req, sizeof(req) - 1, false, NULL), 1);
	t_context = "";
}

/* In each direction of m (masked), every byte of a header block is 0x80
 * (an HPACK decoding error) and every byte of DATA '*'; the preface and
 * frame headers are those of c. Not strict (runs of a byte: the preface
 * was never whole, so the connection was masked whole): header block bytes
 * may be '*' too, and framing masked. Returns the header block bytes. */
static uint64_t check_masked_frames(const struct conv *c, const struct conv *m, const char *how, bool strict)
{
	uint64_t blocks = 0;

	for (int dir = 0; dir < 2; dir++) {
		uint8_t *a = NULL, *b = NULL;
		size_t n = 0;
		for (int i = 0; i < c->nsegs; i++)
			if (c->segs[i].from == dir) {
				a = ws_realloc(a, n + c->segs[i].len);
				b = ws_realloc(b, n + c->segs[i].len);
				memcpy(a + n, c->segs[i].data, c->segs[i].len);
				memcpy(b + n, m->segs[i].data, c->segs[i].len);
				n += c->segs[i].len;
			}
		size_t off = dir == CONV_CLIENT && n >= 24 && a[0] == 'P' ? 24 : 0;
		unsigned intact = 0;
		if (off && strict)
			CHECK(memcmp(a, b, 24) == 0, "%s: the preface was changed", how);
		while (off + 9 <= n) {
			uint32_t len = (uint32_t)a[off] << 16 | (uint32_t)a[off + 1] << 8 | a[off + 2];
			uint8_t type = a[off + 3], flags = a[off + 4];
			/* kept, or masked whole with the run it was in (the server's
			 * SETTINGS, sent before the protocol was known) */
			bool kept = memcmp(a + off, b + off, 9) == 0;
			CHECK(!strict || kept || memcmp(b + off, "*********", 9) == 0, "%s: a frame header was changed at %zu",
			      how, off);
			intact += kept;
			uint32_t pre = (flags & 8) && (type == 0 || type == 1 || type == 5) ? 1 : 0;
			pre += type == 1 && (flags & 0x20) ? 5 : type == 5 ? 4 : 0;
			for (uint32_t k = pre; k < len && off + 9 + k < n; k++) {
				uint8_t x = b[off + 9 + k];
				if (type == 1 && k == pre && strict) {
					/* its side's mark */
					CHECK(x == (dir == CONV_CLIENT ? 0x82 : 0x88), "%s: header block at %zu opens with %02x", how,
					      off + 9 + k, x);
					blocks++;
				} else if (type == 1 || type == 9 || type == 5) {
					CHECK(x == 0x80 || (!strict && x == '*'), "%s: header block byte %zu kept (%02x)", how,
					      off + 9 + k, x);
					blocks++;
				} else if (type == 0) {
					CHECK(x == '*', "%s: DATA byte %zu kept", how, off + 9 + k);
				}
			}
			off += 9 + len;
		}
		CHECK(!strict || intact > 0, "%s: no frame header kept", how);
		free(a);
		free(b);
	}
	return blocks;
}

/* --save-events: what a masked file replays into. */
static void masked_one(const struct conv *c, const char *path, void *ctx)
{
	static struct conv m;
	static struct replay_out full, out;
	char how[160];

	(void)path;
	(void)ctx;
	full.format = out.format = fmt_h2;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(c, &o, &full);
		for (uint32_t step = 0; step <= 1; step++) {
			mask_conv(c, &m, side, &(struct cut){.step = step, .split_seg = -1, .skip_run = -1});
			snprintf(how, sizeof(how), "masked at the %s side%s", side ? "server" : "client",
				 step ? ", byte by byte" : "");
			t_context = how;
			CHECK(check_masked_frames(c, &m, how, !step) > 0, "no header block");
			/* every stream, with its sizes, and its headers unknown */
			replay(&m, &o, &out);
			if (!step)
				CHECK_INT(out.n, full.n);
			for (int i = 0; i < out.n; i++) {
				CHECK(strstr(out.got[i], " unknown") != NULL, "'%s' says its headers", out.got[i]);
				CHECK(h2_vaguer(&full, out.got[i]), "'%s' is not one the whole conversation gives", out.got[i]);
			}
			free_masked(&m);
		}
	}
	t_context = "";
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return dump(argv[1]);
	test_detect();
	replay_dir("tests/data/h2", fmt_h2, false);
	test_damaged();
	test_span_fields();
	each_conv("tests/data/h2", masked_one, NULL);
	return t_summary("test_h2");
}
