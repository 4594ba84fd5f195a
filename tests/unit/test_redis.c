/* test_redis.c -- Redis RESP2/RESP3 parsing through the connection
 * tracker: the recorded conversations in tests/data/redis, replayed every
 * way, plus checks that credentials never reach a span. */
#include "harness.h"


static void test_no_secrets(void)
{
	static const char *const files[] = {"tests/data/redis/auth.conv", "tests/data/redis/resp3.conv",
					    "tests/data/redis/hello_error.conv"};
	static struct conv c;
	static struct replay_out out;
	struct ws_json j;

	out.format = fmt_redis;
	for (size_t f = 0; f < WS_ARRAY_SIZE(files); f++) {
		t_context = files[f];
		CHECK(conv_load(files[f], &c) == 0, "load");
		for (int side = 0; side < 2; side++) {
			struct replay_opts o = {.side = side, .split_seg = -1};
			replay(&c, &o, &out);
			CHECK(out.n > 0, "no exchanges");
			for (int i = 0; i < out.n && i < 64; i++) {
				wj_init(&j);
				ws_span_to_json(&out.spans[i], &j);
				/* the FOO key is not a secret, only named like one */
				CHECK(strstr(j.buf, "s3cr3t") == NULL || strstr(j.buf, "\"wirespan.redis.key\":\"s3cr3t-foo-arg\""),
				      "a secret reached the span: %s", j.buf);
				CHECK(strstr(j.buf, "with args") == NULL, "echoed arguments kept: %s", j.buf);
				wj_free(&j);
			}
		}
		conv_free(&c);
	}
	/* the span for AUTH says its arguments were withheld */
	CHECK(conv_load("tests/data/redis/auth.conv", &c) == 0, "load");
	struct replay_opts o = {.side = CONV_SERVER, .split_seg = -1};
	replay(&c, &o, &out);
	wj_init(&j);
	ws_span_to_json(&out.spans[0], &j);
	CHECK(strstr(j.buf, "\"db.operation.name\":\"AUTH\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"wirespan.redis.arguments\":\"[REDACTED]\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"db.system\":\"redis\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"kind\":\"server\"") != NULL, "%s", j.buf);
	wj_free(&j);
	wj_init(&j);
	ws_span_to_json(&out.spans[1], &j);
	CHECK(strstr(j.buf, "\"error.type\":\"WRONGPASS\"") != NULL, "%s", j.buf);
	wj_free(&j);
	conv_free(&c);
}

/* A connection that predates the recording: no connect or accept seen. */
static void test_reply_first(void)
{
	static struct conv c;
	static struct replay_out out;

	t_context = "reply first, no open";
	out.format = fmt_redis;
	CHECK(conv_load("tests/data/midstream/redis_reply_first.conv", &c) == 0, "load");
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1, .no_open = 1};
		replay(&c, &o, &out);
		compare_out(&c, &out, side ? "server side" : "client side");
		CHECK_INT(out.spans[0].kind, side ? WS_SPAN_SERVER : WS_SPAN_CLIENT);
	}
	conv_free(&c);
}

/* The capture prefix ends inside the command name AUTH: the password that
 * follows in the next write must not become the "key". */
static void test_auth_name_cut(void)
{
	static struct replay_out out;
	struct ct_config cfg = {0};
	struct ct_sink sink = {.exchange = replay_on_exchange, .ctx = &out};
	struct conntrack *ct = ct_new(&cfg, &sink);
	struct ws_event ev = {.kind = WS_EV_OPEN, .conn_id = 7, .role = WS_ROLE_SERVER, .t_enter = 1, .t_exit = 1};
	const char *a = "*2\r\n$4\r\nAUTH", *b = "\r\n$14\r\ns3cr3t-auth-pw\r\n", *r = "+OK\r\n";
	struct ws_json j;

	t_context = "AUTH name cut";
	out.n = 0;
	out.format = fmt_redis;
	ct_event(ct, &ev);
	ev = (struct ws_event){.kind = WS_EV_DATA, .conn_id = 7, .dir = WS_RECV, .t_enter = 10, .t_exit = 11, .seq = 100};
	ev.len = strlen(a);
	ev.head = (const uint8_t *)a;
	ev.head_len = 10; /* "*2\r\n$4\r\nAU" */
	ct_event(ct, &ev);
	ev.seq += ev.len;
	ev.len = ev.head_len = strlen(b);
	ev.head = (const uint8_t *)b;
	ev.t_enter = ev.t_exit = 20;
	ct_event(ct, &ev);
	ev = (struct ws_event){.kind = WS_EV_DATA, .conn_id = 7, .dir = WS_SEND, .t_enter = 30, .t_exit = 31, .seq = 900};
	ev.len = ev.head_len = strlen(r);
	ev.head = (const uint8_t *)r;
	ct_event(ct, &ev);
	ct_free(ct);
	CHECK_INT(out.n, 1);
	wj_init(&j);
	ws_span_to_json(&out.spans[0], &j);
	CHECK(strstr(j.buf, "s3cr3t") == NULL, "the password reached the span: %s", j.buf);
	wj_free(&j);
}

int main(void)
{
	replay_dir("tests/data/redis", fmt_redis, true);
	test_no_secrets();
	test_reply_first();
	test_auth_name_cut();
	return t_summary("test_redis");
}
