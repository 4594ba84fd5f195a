/* test_pg.c -- PostgreSQL through the connection tracker: the recorded
 * conversations in tests/data/pg replayed every way, captures cut short,
 * connections that predate the recording, what SQL text a span keeps,
 * and that parameters, literals and passwords never reach a span. */
#include "harness.h"
#include "proto/pg.h"
#include "proto/sql.h"
#include "util/json.h"

static void sql(const char *text, bool complete, const char *op, const char *coll, const char *out)
{
	struct ws_sql_summary s;

	t_context = text;
	ws_sql_summarise(text, strlen(text), complete, WS_SQL_PG, &s);
	CHECK_STR(s.op, op);
	CHECK_STR(s.collection, coll);
	CHECK_STR(s.text, out);
	CHECK_INT(s.cut, !complete);
}

static void test_sql(void)
{
	sql("SELECT 1", true, "SELECT", "", "SELECT ?");
	sql("select name, price from items where id = 42 and name = 'it''s'", true, "SELECT", "items",
	    "select name, price from items where id = ? and name = ?");
	sql("SELECT * FROM Public.\"Orders\" o WHERE o.total > 1.5e3", true, "SELECT", "public.Orders",
	    "SELECT * FROM Public.\"Orders\" o WHERE o.total > ?");
	sql("SELECT a FROM t1, t2 WHERE t1.id = t2.id", true, "SELECT", "", "SELECT a FROM t1, t2 WHERE t1.id = t2.id");
	sql("SELECT a FROM t1 JOIN t2 USING (id)", true, "SELECT", "", "SELECT a FROM t1 JOIN t2 USING (id)");
	sql("SELECT a FROM (SELECT a FROM t) s", true, "SELECT", "", "SELECT a FROM (SELECT a FROM t) s");
	sql("SELECT a FROM t UNION SELECT a FROM u", true, "SELECT", "", "SELECT a FROM t UNION SELECT a FROM u");
	sql("SELECT a FROM t WHERE b IN (SELECT b FROM u)", true, "SELECT", "t",
	    "SELECT a FROM t WHERE b IN (SELECT b FROM u)");
	sql("WITH x AS (SELECT 1) SELECT * FROM x", true, "WITH", "", "WITH x AS (SELECT ?) SELECT * FROM x");
	sql("INSERT INTO orders (id, note) VALUES ($1, $2)", true, "INSERT", "orders",
	    "INSERT INTO orders (id, note) VALUES ($1, $2)");
	sql("insert into s.t values (E'a\\'b', $$dollar 'x'$$, $tag$in $$ here$tag$, -7, .5, 0x1F)", true, "INSERT",
	    "s.t", "insert into s.t values (?, ?, ?, -?, ?, ?)");
	sql("UPDATE ONLY accounts SET balance = balance + $1 WHERE aid = $2", true, "UPDATE", "accounts",
	    "UPDATE ONLY accounts SET balance = balance + $1 WHERE aid = $2");
	sql("DELETE FROM items WHERE id = 42", true, "DELETE", "items", "DELETE FROM items WHERE id = ?");
	sql("  -- a comment 'x'\n /* block 'secret' */ SELECT\t\t1 ;", true, "SELECT", "", "SELECT ? ;");
	sql("BEGIN; UPDATE t SET a = 1; COMMIT;", true, "BEGIN", "", "BEGIN; UPDATE t SET a = ?; COMMIT;");
	sql("COPY items FROM STDIN", true, "COPY", "items", "COPY items FROM STDIN");
	sql("TRUNCATE TABLE a, b", true, "TRUNCATE", "", "TRUNCATE TABLE a, b");
	sql("CREATE TABLE IF NOT EXISTS items (id int primary key)", true, "CREATE", "items",
	    "CREATE TABLE IF NOT EXISTS items (id int primary key)");
	sql("DROP TABLE items", true, "DROP", "items", "DROP TABLE items");
	sql("SELECT U&'d\\0061t' , B'101', X'1F', N'n'", true, "SELECT", "", "SELECT ? , ?, ?, ?");
	/* cut inside a literal: the literal's start never shows */
	sql("SELECT * FROM users WHERE email = 'alice@exa", false, "SELECT", "users",
	    "SELECT * FROM users WHERE email = ?");
	/* cut right after the table name: the name may be cut too */
	sql("SELECT * FROM user", false, "SELECT", "", "SELECT * FROM user");
	sql("SELECT * FROM users WHERE", false, "SELECT", "users", "SELECT * FROM users WHERE");
	sql("SEL", false, "", "", "SEL");
	/* a text longer than the kept text is cut, not overrun */
	char big[2000];
	memset(big, 'x', sizeof(big));
	memcpy(big, "SELECT ", 7);
	big[sizeof(big) - 1] = 0;
	struct ws_sql_summary s;
	ws_sql_summarise(big, strlen(big), true, WS_SQL_PG, &s);
	t_context = "long text";
	CHECK_INT(strlen(s.text), sizeof(s.text) - 1);
	CHECK_INT(s.cut, 1);
	CHECK_STR(s.op, "SELECT");
}

static void test_detect(void)
{
	static const uint8_t startup[] = {0, 0, 0, 9, 0, 3, 0, 0, 0};
	static const uint8_t ssl[] = {0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f};
	static const uint8_t q[] = "Q\0\0\0\x0dSELECT 1";
	static const uint8_t notq[] = "Q\0\0\0\x0dSELECT 1x"; /* no NUL where the length says */

	t_context = "detect";
	CHECK_INT(ws_proto_detect_request(startup, sizeof(startup), NULL), WS_PROTO_PG);
	CHECK_INT(ws_proto_detect_request(ssl, sizeof(ssl), NULL), WS_PROTO_PG);
	CHECK_INT(ws_proto_detect_request(q, sizeof(q), NULL), WS_PROTO_PG); /* sizeof includes the NUL */
	CHECK_INT(ws_pg_request_at(notq, sizeof(notq) - 1), 0);
	CHECK_INT(ws_pg_request_at(ssl, 5), -1);
	bool more = false;
	CHECK_INT(ws_proto_detect_request(ssl, 5, &more), WS_PROTO_NONE);
	CHECK_INT(more, 1);
	/* other protocols are not taken for PostgreSQL */
	CHECK_INT(ws_proto_detect_request((const uint8_t *)"QUIT\r\n", 6, NULL), WS_PROTO_REDIS);
	CHECK_INT(ws_proto_detect_request((const uint8_t *)"POST / HTTP/1.1\r\n", 17, NULL), WS_PROTO_HTTP1);
	CHECK_INT(ws_pg_request_at((const uint8_t *)"\x16\x03\x01\x02\x00\x01", 6), 0);
	CHECK_INT(ws_pg_request_at((const uint8_t *)"\0\0\0\x08\0\0\0\0", 8), 0);
}

/* The exchange lines without what a cut capture may lose (rows, tags,
 * text): an exchange seen through a short capture must be one the whole
 * capture gives, in the same order, or not be there at all. */
static void fmt_pg_short(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_pg_info *q = &x->req.u.pg, *r = &x->resp.u.pg;

	snprintf(out, n, "%s %s %s%s", q->op[0] ? q->op : "-", q->collection[0] ? q->collection : "-",
		 r->skipped ? "skipped" : r->error ? "err=" : "ok",
		 r->error && !r->skipped ? (r->sqlstate[0] ? r->sqlstate : "?") : "");
}

/* What a span of these conversations shows, as JSON. */
static void each_span_json(const char *path, int side, void (*fn)(const char *json, const struct ws_span *s))
{
	static struct conv c;
	static struct replay_out out;
	struct ws_json j;

	out.format = fmt_pg;
	CHECK(conv_load(path, &c) == 0, "load %s", path);
	struct replay_opts o = {.side = side, .split_seg = -1};
	replay(&c, &o, &out);
	for (int i = 0; i < out.n && i < 64; i++) {
		wj_init(&j);
		ws_span_to_json(&out.spans[i], &j);
		fn(j.buf, &out.spans[i]);
		wj_free(&j);
	}
	conv_free(&c);
}

static void no_secret(const char *json, const struct ws_span *s)
{
	static const char *const secrets[] = {
	    "s3cr3t", "4111", "widget", "9.99", "10.5", "p=", "r=", "17248", "96258", "73994",
	    "65418", "-3521", "dup",
	};

	(void)s;
	for (size_t k = 0; k < WS_ARRAY_SIZE(secrets); k++)
		CHECK(strstr(json, secrets[k]) == NULL, "'%s' reached a span: %s", secrets[k], json);
}

static void test_no_secrets(void)
{
	static const char *const files[] = {"tests/data/pg/psql_simple.conv", "tests/data/pg/pgbench_prepared.conv",
					    "tests/data/pg/pgbench_pipeline.conv", "tests/data/pg/pgbench_extended.conv",
					    "tests/data/pg/pipeline_error.conv", "tests/data/pg/auth_failed.conv"};

	for (size_t f = 0; f < WS_ARRAY_SIZE(files); f++)
		for (int side = 0; side < 2; side++) {
			t_context = files[f];
			each_span_json(files[f], side, no_secret);
		}
}

static int n_fields;

static void fields(const char *json, const struct ws_span *s)
{
	if (strstr(json, "\"db.operation.name\":\"INSERT\"") && strstr(json, "orders")) {
		n_fields++;
		CHECK(strstr(json, "\"name\":\"INSERT orders\"") != NULL, "%s", json);
		CHECK(strstr(json, "\"db.system.name\":\"postgresql\"") != NULL, "%s", json);
		CHECK(strstr(json, "\"db.namespace\":\"shop\"") != NULL, "%s", json);
		CHECK(strstr(json, "\"db.collection.name\":\"orders\"") != NULL, "%s", json);
		CHECK(strstr(json, "\"db.query.text\":\"INSERT INTO orders (id, note) VALUES ($1, $2)\"") != NULL, "%s",
		      json);
		CHECK(strstr(json, "\"network.protocol.name\":\"postgresql\"") != NULL, "%s", json);
		if (strstr(json, "23505")) {
			CHECK(strstr(json, "\"error.type\":\"23505\"") != NULL, "%s", json);
			CHECK(strstr(json, "\"db.response.status_code\":\"23505\"") != NULL, "%s", json);
		} else if (strstr(json, "pipeline_aborted")) {
			CHECK(strstr(json, "\"wirespan.pg.skipped\":true") != NULL, "%s", json);
			CHECK(strstr(json, "returned_rows") == NULL, "%s", json);
		} else {
			CHECK(strstr(json, "\"db.response.returned_rows\":0") != NULL, "%s", json);
			CHECK(strstr(json, "\"wirespan.pg.command_tag\":\"INSERT 0 1\"") != NULL, "%s", json);
			CHECK(strstr(json, "error.type") == NULL, "%s", json);
		}
	}
	CHECK(s->proto == WS_PROTO_PG, "proto %d", s->proto);
}

static void test_span_fields(void)
{
	t_context = "span fields";
	n_fields = 0;
	each_span_json("tests/data/pg/pipeline_error.conv", CONV_SERVER, fields);
	CHECK_INT(n_fields, 3);
}

/* The recording began after the connection was opened (and its
 * statements prepared): requests are found by their framing; what the
 * startup said (the database) and what was prepared before are unknown. */
static void test_mid_stream(void)
{
	static struct conv c, mid;
	static struct replay_out out;
	static const struct {
		const char *file, *first, *expect;
		int n;
	} cases[] = {
	    {"tests/data/pg/pgbench_extended.conv", "P", "BEGIN - rows=0 tag=BEGIN | BEGIN;", 7},
	    {"tests/data/pg/pgbench_prepared.conv", "B", "- - rows=1 tag=SELECT 1 unknown | ", 2},
	    {"tests/data/pg/psql_simple.conv", "Q", "SELECT - rows=1 tag=SELECT 1 | SELECT ?;", 12},
	};

	out.format = fmt_pg;
	for (size_t k = 0; k < WS_ARRAY_SIZE(cases); k++) {
		t_context = cases[k].file;
		CHECK(conv_load(cases[k].file, &c) == 0, "load");
		memset(&mid, 0, sizeof(mid));
		int i = 0;
		while (i < c.nsegs && !(c.segs[i].from == CONV_CLIENT && c.segs[i].data[0] == cases[k].first[0]))
			i++;
		for (; i < c.nsegs; i++)
			mid.segs[mid.nsegs++] = c.segs[i];
		for (int side = 0; side < 2; side++) {
			struct replay_opts o = {.side = side, .split_seg = -1, .no_open = 1};
			replay(&mid, &o, &out);
			CHECK_INT(out.n, cases[k].n);
			if (out.n)
				CHECK_STR(out.got[0], cases[k].expect);
			if (out.n)
				CHECK(out.spans[0].kind == (side ? WS_SPAN_SERVER : WS_SPAN_CLIENT), "kind");
		}
		conv_free(&c);
	}
}

/* A conversation replayed from each side with a 256-byte capture prefix:
 * two exchanges, the first (and, when given, the second) as expected. */
static void check_cut(const char *path, const char *first, const char *second)
{
	static struct conv c;
	static struct replay_out out;

	out.format = fmt_pg;
	CHECK(conv_load(path, &c) == 0, "load");
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1, .cap = 256};
		replay(&c, &o, &out);
		CHECK_INT(out.n, 2);
		CHECK_STR(out.got[0], first);
		if (second)
			CHECK_STR(out.got[1], second);
	}
	conv_free(&c);
}

/* A result larger than the capture: its rows are read from the command
 * tag that ends the write, before ReadyForQuery. */
static void test_rows_from_tag(void)
{
	t_context = "rows from the tag";
	check_cut("tests/data/pg/big_result.conv",
		  "SELECT events rows=60 tag=SELECT 60 lost | SELECT payload FROM events ORDER BY id LIMIT ?", NULL);
}

/* COPY data captured in part (a prefix of each write): the bytes lost
 * are copy data and hold no request, so the query after is paired on
 * both sides (it was lost on the server's side when they counted as a
 * loss of requests). */
static void test_copy_in_cut(void)
{
	t_context = "COPY data cut";
	check_cut("tests/data/pg/copy_in.conv", "COPY t rows=0 tag=COPY 3000 | COPY t FROM STDIN",
		  "SELECT - rows=1 tag=SELECT 1 | SELECT ?");
}

int main(void)
{
	test_sql();
	test_detect();
	replay_dir("tests/data/pg", fmt_pg, false);
	each_conv("tests/data/pg", check_capped, &(struct short_format){fmt_pg_short});
	test_no_secrets();
	test_span_fields();
	test_mid_stream();
	test_rows_from_tag();
	test_copy_in_cut();
	return t_summary("test_pg");
}
