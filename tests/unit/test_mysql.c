/* test_mysql.c -- MySQL / MariaDB through the connection tracker: the
 * conversations in tests/data/mysql (the mariadb client and Connector/C
 * against MariaDB 10.11, and written ones for CLIENT_DEPRECATE_EOF, SSL
 * and a refused password) replayed every way, captures cut short,
 * connections that predate the recording, and no parameter, literal, row
 * or password in a span. */
#include "harness.h"
#include "proto/mysql.h"
#include "util/json.h"

static void fmt_mysql_short(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_mysql_info *q = &x->req.u.mysql, *r = &x->resp.u.mysql;
	char e[16] = "ok";

	if (r->error)
		snprintf(e, sizeof(e), "err=%u", r->error_code);
	snprintf(out, n, "%s %s %s", q->op[0] ? q->op : "-", q->collection[0] ? q->collection : "-", e);
}

static void test_detect(void)
{
	static const uint8_t query[] = "\x09\0\0\0\x03SELECT 1";
	static const uint8_t ping[] = "\x01\0\0\0\x0e";
	static const uint8_t greeting[] = "\x0a\0\0\0\x0a" "8.0.36\0";

	t_context = "detect";
	CHECK_INT(ws_proto_detect_request(query, sizeof(query) - 1, NULL), WS_PROTO_MYSQL);
	CHECK_INT(ws_mysql_request_at(ping, sizeof(ping) - 1), 1);
	/* the server's greeting is not a request, and not much else is */
	CHECK_INT(ws_mysql_request_at(greeting, sizeof(greeting) - 1), 0);
	CHECK_INT(ws_mysql_request_at((const uint8_t *)"\x09\0\0\0\x03\x01\x02\x03\x04\x05\x06\x07\x08", 13), 0);
	CHECK_INT(ws_proto_detect_request((const uint8_t *)"GET / HTTP/1.1\r\n", 16, NULL), WS_PROTO_HTTP1);
	CHECK_INT(ws_mysql_request_at((const uint8_t *)"\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9), 0);
}

static void no_secret(const struct conv *c, const char *path, void *ctx)
{
	static struct replay_out out;
	static const char *const secrets[] = {"s3cr3t", "my-s3cr3t", "9.99", "10.5", "widget"};
	struct ws_json j;

	(void)path;
	(void)ctx;
	out.format = fmt_mysql;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(c, &o, &out);
		for (int i = 0; i < out.n && i < 64; i++) {
			wj_init(&j);
			ws_span_to_json(&out.spans[i], &j);
			for (size_t k = 0; k < WS_ARRAY_SIZE(secrets); k++)
				CHECK(strstr(j.buf, secrets[k]) == NULL, "'%s' reached a span: %s", secrets[k], j.buf);
			CHECK(strstr(j.buf, "\"db.system.name\":\"mysql\"") != NULL, "%s", j.buf);
			wj_free(&j);
		}
	}
}

static void test_span_fields(void)
{
	static struct conv c;
	static struct replay_out out;
	struct ws_json j;

	t_context = "span fields";
	out.format = fmt_mysql;
	CHECK(conv_load("tests/data/mysql/cli_text.conv", &c) == 0, "load");
	struct replay_opts o = {.side = CONV_SERVER, .split_seg = -1};
	replay(&c, &o, &out);
	CHECK_INT(out.n, 7);
	const char *want[] = {
	    "\"name\":\"SELECT items\"", "\"db.operation.name\":\"SELECT\"", "\"db.collection.name\":\"items\"",
	    "\"db.query.text\":\"SELECT name, price FROM items WHERE id = ? AND name <> ?\"",
	    "\"db.namespace\":\"shop\"", "\"db.response.returned_rows\":1", "\"network.protocol.name\":\"mysql\"",
	};
	wj_init(&j);
	ws_span_to_json(&out.spans[2], &j);
	for (size_t k = 0; k < WS_ARRAY_SIZE(want); k++)
		CHECK(strstr(j.buf, want[k]) != NULL, "%s not in %s", want[k], j.buf);
	wj_free(&j);
	wj_init(&j);
	ws_span_to_json(&out.spans[4], &j);
	CHECK(strstr(j.buf, "\"error.type\":\"1146\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"db.response.status_code\":\"1146\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"wirespan.mysql.sqlstate\":\"42S02\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "doesn't exist") == NULL, "an error's text kept: %s", j.buf);
	wj_free(&j);
	wj_init(&j);
	ws_span_to_json(&out.spans[1], &j);
	CHECK(strstr(j.buf, "\"wirespan.mysql.affected_rows\":1") != NULL, "%s", j.buf);
	wj_free(&j);
	conv_free(&c);
}

/* The recording began after the connection was opened (and its
 * statements prepared): commands are found by their framing; the database
 * and what was prepared before are unknown. */
static void test_mid_stream(void)
{
	static struct conv c, mid;
	static struct replay_out out;

	t_context = "mid-stream";
	out.format = fmt_mysql;
	CHECK(conv_load("tests/data/mysql/binary_multi.conv", &c) == 0, "load");
	/* from the first COM_STMT_EXECUTE on */
	int i = 0;
	while (i < c.nsegs && !(c.segs[i].from == CONV_CLIENT && c.segs[i].len > 4 && c.segs[i].data[4] == 0x17))
		i++;
	memset(&mid, 0, sizeof(mid));
	for (; i < c.nsegs; i++)
		mid.segs[mid.nsegs++] = c.segs[i];
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1, .no_open = 1};
		replay(&mid, &o, &out);
		CHECK_INT(out.n, 7);
		CHECK_STR(out.got[0], "- - sets=0 rows=0 affected=1 unknown db=- | ");
		CHECK_STR(out.got[1], "- - sets=1 rows=1 affected=0 unknown db=- | ");
		CHECK_STR(out.got[4], "SELECT - sets=2 rows=2 affected=1 db=- | SELECT COUNT(*) FROM accounts; SELECT owner "
				      "FROM accounts WHERE balance > ?; UPDATE accounts SET balance = balance + ? WHERE id = ?");
	}
	conv_free(&c);
}

int main(void)
{
	test_detect();
	replay_dir("tests/data/mysql", fmt_mysql, false);
	each_conv("tests/data/mysql", check_capped, &(struct short_format){fmt_mysql_short});
	each_conv("tests/data/mysql", no_secret, NULL);
	test_span_fields();
	test_mid_stream();
	return t_summary("test_mysql");
}
