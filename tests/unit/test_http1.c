/* test_http1.c -- HTTP/1.x parsing through the connection tracker: the
 * recorded conversations in tests/data/http, replayed every way, and cases
 * that need a hand-built event stream (gaps, reordering, garbage). */
#include "harness.h"
#include "proto/redact.h"
#include "proto/route.h"


static struct replay_out out;

/* A hand-built stream: events in order, from the client's side. */
struct step {
	int from;  /* CONV_CLIENT / CONV_SERVER */
	const char *data;
	uint32_t len;      /* 0: strlen(data) */
	uint32_t captured; /* bytes captured; ALL: every byte */
	int32_t seq_shift; /* added to the seq (to replay out of order) */
};

static void run_steps(const struct step *steps, int n, int side, uint32_t cap)
{
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = replay_on_exchange, .ctx = &out};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct replay_opts o = {.side = side, .split_seg = -1, .cap = cap};
	uint32_t seq[2] = {1000, 900000};
	uint64_t t = 1000000;

	out.n = 0;
	out.format = fmt_http;
	for (int i = 0; i < n; i++) {
		const struct step *s = &steps[i];
		uint32_t len = s->len ? s->len : (uint32_t)strlen(s->data);
		feed_seg_captured(ct, &o, s->from, (const uint8_t *)s->data, len, s->captured, seq[s->from] + s->seq_shift,
				  t += 1000);
		if (s->seq_shift == 0)
			seq[s->from] += len;
	}
	ct_flush(ct);
	ct_free(ct);
}

#define ALL UINT32_MAX

static void test_sendfile_gap(void)
{
	/* nginx: headers by writev, the body by sendfile (no payload) */
	const struct step s[] = {
		{CONV_CLIENT, "GET /big.bin HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "", 100000, 0, 0},
		{CONV_CLIENT, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, ALL, 0},
	};
	t_context = "sendfile gap";
	for (int side = 0; side < 2; side++) {
		run_steps(s, WS_ARRAY_SIZE(s), side, 0);
		CHECK_INT(out.n, 2);
		if (out.n == 2) {
			CHECK_STR(out.got[0], "GET /big.bin 200 req=0 resp=100000");
			CHECK_STR(out.got[1], "GET /next 200 req=0 resp=0");
		}
	}
}

static void test_headers_cut(void)
{
	/* the response head is longer than what was captured: its framing is
	 * lost, and the next request (a new syscall) resynchronises */
	static char big[2048];
	int n = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX-Pad: %0900d\r\nContent-Length: 5\r\n\r\nhello", 0);
	const struct step s[] = {
		{CONV_CLIENT, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, big, (uint32_t)n, 100, 0},
		{CONV_CLIENT, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 0, ALL, 0},
	};
	t_context = "headers cut";
	run_steps(s, WS_ARRAY_SIZE(s), CONV_CLIENT, 0);
	CHECK_INT(out.n, 2);
	if (out.n == 2) {
		CHECK(strstr(out.got[0], "GET /a 200") && strstr(out.got[0], " lost"), "got '%s'", out.got[0]);
		CHECK_STR(out.got[1], "GET /b 200 req=0 resp=2");
	}
}

static void test_midstream_start(void)
{
	/* recording starts while a response is in flight: it is skipped */
	const struct step s[] = {
		{CONV_SERVER, "llo world\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", 0, ALL, 0},
		{CONV_CLIENT, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\ny", 0, ALL, 0},
	};
	t_context = "mid-stream start";
	for (int side = 0; side < 2; side++) {
		run_steps(s, WS_ARRAY_SIZE(s), side, 0);
		CHECK_INT(out.n, 1);
		if (out.n == 1)
			CHECK_STR(out.got[0], "GET /c 200 req=0 resp=1");
		CHECK_INT(out.spans[0].kind, side == CONV_CLIENT ? WS_SPAN_CLIENT : WS_SPAN_SERVER);
	}
}

static void test_reordered(void)
{
	/* the last part of a response arrives before the middle (two CPUs) */
	const struct step s[] = {
		{CONV_CLIENT, "GET /r HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "56789", 0, ALL, 5},
		{CONV_SERVER, "01234", 0, ALL, 0},
	};
	t_context = "reordered";
	run_steps(s, WS_ARRAY_SIZE(s), CONV_CLIENT, 0);
	CHECK_INT(out.n, 1);
	if (out.n == 1)
		CHECK_STR(out.got[0], "GET /r 200 req=0 resp=10");
}

static void test_duplicate(void)
{
	/* the same bytes seen twice (MSG_PEEK-like, or an overlap) count once */
	const char *req = "GET /d HTTP/1.1\r\nHost: h\r\n\r\n";
	const struct step s[] = {
		{CONV_CLIENT, req, 0, ALL, 0},
		{CONV_CLIENT, req, 0, ALL, -(int32_t)strlen(req)},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, ALL, 0},
	};
	t_context = "duplicate";
	run_steps(s, WS_ARRAY_SIZE(s), CONV_SERVER, 0);
	CHECK_INT(out.n, 1);
}

static void test_garbage(void)
{
	static uint8_t junk[4096];
	uint64_t x = 88172645463325252ull;

	for (size_t i = 0; i < sizeof(junk); i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		junk[i] = (uint8_t)x;
	}
	const struct step s[] = {
		{CONV_CLIENT, (const char *)junk, 1000, ALL, 0},
		{CONV_SERVER, (const char *)junk + 1000, 3000, ALL, 0},
		{CONV_CLIENT, (const char *)junk + 100, 1000, ALL, 0},
	};
	t_context = "garbage";
	run_steps(s, WS_ARRAY_SIZE(s), CONV_CLIENT, 0);
	CHECK_INT(out.n, 0);
	/* garbage after a valid exchange on the same connection */
	const struct step s2[] = {
		{CONV_CLIENT, "GET /ok HTTP/1.1\r\nHost: h\r\n\r\n", 0, ALL, 0},
		{CONV_SERVER, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, ALL, 0},
		{CONV_CLIENT, (const char *)junk, 2000, ALL, 0},
		{CONV_SERVER, (const char *)junk + 2000, 2000, ALL, 0},
	};
	run_steps(s2, WS_ARRAY_SIZE(s2), CONV_SERVER, 0);
	CHECK_INT(out.n, 1);
}

static void test_span_fields(void)
{
	static struct conv c;
	struct ws_json j;

	t_context = "span fields";
	CHECK(conv_load("tests/data/http/secrets.conv", &c) == 0, "load");
	struct replay_opts o = {.side = CONV_CLIENT, .split_seg = -1};
	out.format = fmt_http;
	replay(&c, &o, &out);
	CHECK_INT(out.n, 1);
	wj_init(&j);
	ws_span_to_json(&out.spans[0], &j);
	CHECK(strstr(j.buf, "s3cr3t") == NULL, "a secret reached the span: %s", j.buf);
	CHECK(strstr(j.buf, "\"http.request.header.authorization\":\"[REDACTED]\"") != NULL, "no redaction mark: %s",
	      j.buf);
	CHECK(strstr(j.buf, "\"http.response.header.set-cookie\":\"[REDACTED]\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"url.query\":\"token=REDACTED&page=REDACTED\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"kind\":\"client\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"server.port\":80") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"client.port\":40000") != NULL, "%s", j.buf);
	wj_free(&j);
	conv_free(&c);

	/* timestamps: client span from the first request write's entry to
	 * the last response read's exit; server from first read's exit */
	CHECK(conv_load("tests/data/http/keepalive.conv", &c) == 0, "load");
	replay(&c, &o, &out);
	CHECK_INT(out.n, 3);
	/* replay(): segment i has t_enter = 1000000 + 1000*(i+1), t_exit = +10 */
	CHECK_INT(out.spans[0].start_ns, 1001000);
	CHECK_INT(out.spans[0].end_ns, 1002010);
	CHECK_INT(out.spans[0].req_seq, 1000);
	CHECK_INT(out.spans[2].req_body, 15);
	o.side = CONV_SERVER;
	replay(&c, &o, &out);
	CHECK_INT(out.spans[0].kind, WS_SPAN_SERVER);
	CHECK_INT(out.spans[0].start_ns, 1001010);
	CHECK_INT(out.spans[0].end_ns, 1002010);
	CHECK_INT(out.spans[0].req_seq, 1000); /* the same number on both sides */
	conv_free(&c);
}

/* Routes: what of a path varies from request to request (route.h). */
static void test_route_templates(void)
{
	static const struct {
		const char *in, *want;
	} routes[] = {
		{"/item/123/photos/9f1c2e3d", "/item/{id}/photos/{hex}"},
		{"/api/v1/users/42", "/api/v1/users/{id}"}, /* versions stay */
		{"/v2/x/0", "/v2/x/{id}"},
		{"/api/2.0/a", "/api/2.0/a"},
		{"/reports/2024-01-15", "/reports/{date}"},
		{"/reports/20240115", "/reports/{id}"},
		{"/reports/2024-1-15", "/reports/2024-1-15"},
		{"/item-123", "/item-123"}, /* a word with digits: a name as far as we can tell */
		{"/page2/n0", "/page2/n0"},
		{"/commit/deadbeef12", "/commit/{hex}"},
		{"/commit/DEADBEEF12", "/commit/{hex}"},
		{"/c/abc1234", "/c/abc1234"}, /* under 8: a word */
		{"/cafebabe", "/cafebabe"},   /* all letters: a word */
		{"/deadbeefcafe", "/deadbeefcafe"},
		{"/u/0f8c1b6e-5d2a-4c3e-9b7a-1a2b3c4d5e6f/x", "/u/{uuid}/x"},
		{"/u/0f8c1b6e-5d2a-4c3e-9b7a-1a2b3c4d5e6", "/u/0f8c1b6e-5d2a-4c3e-9b7a-1a2b3c4d5e6"},
		{"/s/this-is-a-very-long-slug-of-an-article-title", "/s/{seg}"},
		{"/s/exactly-forty-characters-long-segment-", "/s/exactly-forty-characters-long-segment-"},
		{"/reset-password/{token}", "/reset-password/{token}"},
		{"/files/%E2%82%AC/7", "/files/%E2%82%AC/{id}"}, /* as written, not decoded */
		{"/n/%31%32", "/n/%31%32"},
		{"/i/5;v=REDACTED/6", "/i/{id};v=REDACTED/{id}"}, /* judged before ;parameters */
		{"/a//1/", "/a//{id}/"},
		{"/item/7?page=2", "/item/{id}"}, /* a query is never part of it */
		{"?x=1", "/"},
		{"/", "/"},
		{"", "/"},
		{"*", "*"},
	};
	char buf[256], small[12];

	t_context = "route templates";
	for (size_t i = 0; i < WS_ARRAY_SIZE(routes); i++) {
		ws_route_template(buf, sizeof(buf), routes[i].in);
		CHECK(strcmp(buf, routes[i].want) == 0, "route %s: got %s, want %s", routes[i].in, buf, routes[i].want);
	}
	/* too long for the buffer: it ends before the segment that does not
	 * fit, never inside a placeholder */
	ws_route_template(small, sizeof(small), "/ab/1/2/3");
	CHECK_STR(small, "/ab/{id}/");
	ws_route_template(small, sizeof(small), "/abcdefghijklmnop");
	CHECK_STR(small, "/");
	ws_route_template(small, 1, "/a");
	CHECK_STR(small, "");
	/* a path as long as a request's can be, all ids: bounded, whole */
	char path[256], *p = path;
	for (int i = 0; i < 127; i++)
		p += sprintf(p, "/%d", i % 10);
	ws_route_template(buf, sizeof(buf), path);
	CHECK(strlen(buf) < sizeof(buf) && strlen(buf) % 5 == 0 && strstr(buf, "/{id}/{id}") == buf, "long: %s", buf);
}

/* Span names are the method and the route, on both sides; the path stays
 * in url.path, and url.template is there when it differs. */
static void test_route_names(void)
{
	static const struct {
		const char *name, *path, *tmpl; /* tmpl NULL: the same as the path */
	} want[] = {
		{"GET /item/{id}", "/item/123", "/item/{id}"},
		{"GET /api/v1/users/{id}/orders/{date}", "/api/v1/users/42/orders/2024-01-15",
		 "/api/v1/users/{id}/orders/{date}"},
		{"GET /commit/{hex}", "/commit/deadbeef12", "/commit/{hex}"},
		{"GET /cafebabe", "/cafebabe", NULL},
		{"DELETE /item-123", "/item-123", NULL},
		{"GET /reset-password/{token}", "/reset-password/{token}", NULL},
		{"GET /files/%E2%82%AC/{id}", "/files/%E2%82%AC/7", "/files/%E2%82%AC/{id}"},
		{"GET /p/{id}", "/p/9", "/p/{id}"},
		{"PUT /i/{id};v=REDACTED", "/i/5;v=REDACTED", "/i/{id};v=REDACTED"},
	};
	static struct conv c;
	char attr[512];
	struct ws_json j;

	t_context = "route names";
	CHECK(conv_load("tests/data/http/routes.conv", &c) == 0, "load");
	out.format = fmt_http;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(&c, &o, &out);
		CHECK_INT(out.n, WS_ARRAY_SIZE(want));
		for (int i = 0; i < out.n && i < (int)WS_ARRAY_SIZE(want); i++) {
			const struct ws_span *s = &out.spans[i];
			CHECK_STR(s->name, want[i].name);
			CHECK_STR(s->target, want[i].path);
			CHECK(strchr(s->name, '?') == NULL, "a query in the name: %s", s->name);
			wj_init(&j);
			ws_span_to_json(s, &j);
			snprintf(attr, sizeof(attr), "\"url.path\":\"%s\"", want[i].path);
			CHECK(strstr(j.buf, attr) != NULL, "no %s: %s", attr, j.buf);
			snprintf(attr, sizeof(attr), "\"url.template\":\"%s\"", want[i].tmpl ? want[i].tmpl : "");
			if (want[i].tmpl)
				CHECK(strstr(j.buf, attr) != NULL, "no %s: %s", attr, j.buf);
			else
				CHECK(strstr(j.buf, "url.template") == NULL, "a template equal to the path: %s", j.buf);
			wj_free(&j);
		}
	}
	CHECK_STR(out.spans[0].query, "page=REDACTED");
	conv_free(&c);
}

/* The allow-list: what of a URL and a Host may be stored. */
static void test_redaction_rules(void)
{
	static const struct {
		const char *in, *want;
	} paths[] = {
		{"/users/42/orders", "/users/42/orders"},
		{"/reset-password/T0k", "/reset-password/{token}"},
		{"/api/v1/token/abc/refresh", "/api/v1/token/{token}/refresh"},
		{"/bot123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage", "/{token}/sendMessage"},
		{"/files/9f86d081884c7d659a2feaa0c55ad015/raw", "/files/{token}/raw"},
		{"/a/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "/a/{token}"},
		{"/cart;jsessionid=S3CR3T0123/items", "/cart;jsessionid=REDACTED/items"},
		{"/account-settings-and-preferences", "/account-settings-and-preferences"},
		{"/unsubscribe/u", "/unsubscribe/{token}"},
		{"/", "/"},
		{"", ""},
	};
	static const struct {
		const char *in, *want;
	} queries[] = {
		{"page=2&private_token=x", "page=REDACTED&private_token=REDACTED"},
		{"api%5Fkey=x&user%5Bpassword%5D=y", "api%5Fkey=REDACTED&user%5Bpassword%5D=REDACTED"},
		{"abcdef0123456789", "REDACTED"},
		{"a=&b", "a=&REDACTED"},
		{"x=1;password=2", "x=REDACTED;password=REDACTED"},
		{"", ""},
	};
	char buf[256], err[128];

	t_context = "redaction rules";
	for (size_t i = 0; i < WS_ARRAY_SIZE(paths); i++) {
		ws_redact_path(buf, sizeof(buf), paths[i].in, strlen(paths[i].in));
		CHECK(strcmp(buf, paths[i].want) == 0, "path %s: got %s, want %s", paths[i].in, buf, paths[i].want);
	}
	for (size_t i = 0; i < WS_ARRAY_SIZE(queries); i++) {
		ws_redact_query(buf, sizeof(buf), queries[i].in, strlen(queries[i].in));
		CHECK(strcmp(buf, queries[i].want) == 0, "query %s: got %s, want %s", queries[i].in, buf, queries[i].want);
	}
	ws_redact_host(buf, sizeof(buf), "user:pw@api.example:8080", 24);
	CHECK(strcmp(buf, "api.example:8080") == 0, "host %s", buf);
	CHECK(ws_redact_keep_header("Cookie", err, sizeof(err)) == -1, "a credential header cannot be kept");
	/* last: what is kept stays kept for the process */
	CHECK(ws_redact_keep_query("page", err, sizeof(err)) == 0, "%s", err);
	ws_redact_query(buf, sizeof(buf), "page=2&token=x", 14);
	CHECK(strcmp(buf, "page=2&token=REDACTED") == 0, "--keep-query page: %s", buf);
}

int main(void)
{
	replay_dir("tests/data/http", fmt_http, true);
	test_sendfile_gap();
	test_headers_cut();
	test_midstream_start();
	test_reordered();
	test_duplicate();
	test_garbage();
	test_span_fields();
	test_route_templates();
	test_route_names();
	test_redaction_rules(); /* last: it keeps a query parameter */
	return t_summary("test_http1");
}
