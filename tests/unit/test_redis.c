/* test_redis.c -- Redis RESP2/RESP3 parsing through the connection
 * tracker: the recorded conversations in tests/data/redis, replayed every
 * way, plus checks that credentials never reach a span. */
#include "harness.h"

static void fmt_redis(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_redis_info *q = &x->req.u.redis, *r = &x->resp.u.redis;
	int o = snprintf(out, n, "%s %s", q->command, q->key[0] ? q->key : "-");

	if (r->is_error) {
		size_t e = strcspn(r->error, " ");
		o += snprintf(out + o, n - o, " err=%.*s", (int)e, r->error);
	} else {
		o += snprintf(out + o, n - o, " ok");
	}
	if (q->redacted)
		o += snprintf(out + o, n - o, " redacted");
	if ((x->req.flags | x->resp.flags) & WS_MSGF_FRAMING_LOST)
		snprintf(out + o, n - o, " lost");
}

static void test_no_secrets(void)
{
	static const char *const files[] = {"tests/data/redis/auth.conv", "tests/data/redis/resp3.conv"};
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
				CHECK(strstr(j.buf, "s3cr3t") == NULL, "a secret reached the span: %s", j.buf);
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

int main(void)
{
	replay_dir("tests/data/redis", fmt_redis, true);
	test_no_secrets();
	return t_summary("test_redis");
}
