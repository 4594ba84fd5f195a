/* test_store.c -- the SQLite store: private file, round trip of a span
 * (every field), clear errors for files it must not use, files of every
 * older schema version upgraded in one transaction (or left as they were
 * when the upgrade fails), and what the report readers read. */
#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"

static char dir[] = "/tmp/wirespan-test-XXXXXX";

static const char *in_dir(const char *name)
{
	static char path[8][256];
	static int next;
	char *p = path[next++ % 8];

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	return p;
}

/* The spans of a file, in start order, as the store reads them. */
struct spans {
	struct ws_span v[4];
	int n;
};

static int keep_span(void *ctx, const struct ws_span *s)
{
	struct spans *out = ctx;

	if (out->n < 4)
		out->v[out->n] = *s;
	out->n++;
	return 0;
}

static int read_spans(const char *path, struct spans *out)
{
	struct ws_span_filter f = {0};
	struct ws_store *st;
	char err[512];
	int rc;

	out->n = 0;
	if (ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err))) {
		CHECK(0, "read %s: %s", path, err);
		return -1;
	}
	rc = ws_store_each_span(st, &f, keep_span, out);
	ws_store_close(st);
	return rc;
}

/* Run SQL on a file with SQLite itself, as another program would. */
static void sql(const char *path, const char *text)
{
	sqlite3 *db;
	char *msg = NULL;

	CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
	CHECK(sqlite3_exec(db, text, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", text, msg ? msg : "?");
	sqlite3_free(msg);
	sqlite3_close(db);
}

/* The first value of a query, as text ("" when none). */
static void sql_text(const char *path, const char *text, char *out, size_t n)
{
	sqlite3 *db;
	sqlite3_stmt *q;

	out[0] = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db, text, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
	    sqlite3_column_text(q, 0))
		ws_strlcpy(out, (const char *)sqlite3_column_text(q, 0), n);
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static const char *col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);

	return t ? (const char *)t : "-";
}

/* Every table and index of a file with its columns (name, type, NOT
 * NULL, default, key), in order: what the file holds, whatever the text
 * of its CREATE statements. */
static void shape(const char *path, char *out, size_t n)
{
	sqlite3 *db;
	sqlite3_stmt *q;
	size_t o = 0;

	out[0] = 0;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return;
	if (sqlite3_prepare_v2(db,
			       /* a file before schema 8 declares span_id UNIQUE
				* in the table (SQLite's own index) where a new one
				* has spans_by_id: the same index */
			       "SELECT m.type, CASE m.name WHEN 'sqlite_autoindex_spans_1' THEN 'spans_by_id' "
			       "ELSE m.name END AS nm, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk "
			       "FROM sqlite_master m LEFT JOIN pragma_table_info(m.name) p "
			       "WHERE m.type IN ('table', 'index') "
			       "ORDER BY m.type, nm, p.cid",
			       -1, &q, NULL) == SQLITE_OK)
		while (sqlite3_step(q) == SQLITE_ROW && o < n)
			o += (size_t)snprintf(out + o, n - o, "%s %s: %s %s %d %s %d\n", col(q, 0), col(q, 1),
					      col(q, 2), col(q, 3), sqlite3_column_int(q, 4), col(q, 5),
					      sqlite3_column_int(q, 6));
	sqlite3_finalize(q);
	sqlite3_close(db);
}

static size_t slurp(const char *path, char *buf, size_t n)
{
	FILE *f = fopen(path, "rb");
	size_t got = 0;

	if (f) {
		got = fread(buf, 1, n, f);
		fclose(f);
	}
	return got;
}

/* ---- a span, every field ---- */

static void full_span(struct ws_span *s, int64_t rec)
{
	uint8_t a[4] = {198, 18, 0, 1}, b[16] = {0x20, 0x01, 0x0d, 0xb8};

	memset(s, 0, sizeof(*s));
	b[15] = 7;
	for (int i = 0; i < 16; i++)
		s->trace_id[i] = (uint8_t)(0x10 + i);
	for (int i = 0; i < 8; i++) {
		s->span_id[i] = (uint8_t)(0x30 + i);
		s->parent_id[i] = (uint8_t)(0x50 + i);
	}
	s->kind = WS_SPAN_SERVER;
	s->proto = WS_PROTO_REDIS;
	s->flags = 0xbeef;
	strcpy(s->name, "GET key");
	s->start_ns = 1700000000000000000ull;
	s->end_ns = s->start_ns + 999;
	strcpy(s->service, "redis");
	strcpy(s->host, "h");
	s->pid = 4000000001u;
	s->tid = 12;
	s->conn_id = 0xfedcba9876543210ull;
	s->recording_id = rec;
	ws_endpoint_set(&s->local, AF_INET, a, 6379);
	ws_endpoint_set(&s->peer, AF_INET6, b, 65535);
	strcpy(s->method, "GET");
	strcpy(s->target, "key");
	strcpy(s->query, "q=1");
	s->status = -3;
	strcpy(s->error, "ERR x");
	s->req_bytes = 1, s->resp_bytes = 2, s->req_body = 3, s->resp_body = 4;
	s->req_seq = 4000000000u, s->resp_seq = 5;
	for (int k = 0; k < 4; k++) {
		s->req_t[k] = s->start_ns + (uint64_t)k;
		s->resp_t[k] = s->start_ns + 10 + (uint64_t)k;
	}
	s->req_last_tid = 13, s->resp_last_tid = 14;
	s->req_goid = 21, s->req_last_goid = 22, s->resp_goid = 23, s->resp_last_goid = 24;
	s->req_waker = 25, s->req_wake_ns = 26, s->req_waker2 = 27, s->req_wake2_ns = 28;
	s->conn_open_ns = 31;
	strcpy(s->traceparent, "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01");
	s->req_arr[0] = 41, s->req_arr[1] = 42, s->resp_arr[0] = 43, s->resp_arr[1] = 44;
	s->sched_runq = 51, s->sched_offcpu = 0;
	s->conn_estab_ns = 61;
	s->srtt_us = 71;
	strcpy(s->link_method, "tcp");
	s->link_confidence = 0.75f;
	s->link_candidates = 3;
	strcpy(s->attrs, "{\"k\":\"v\"}");
}

/* Every field written is read back as it was (link_undecided is not
 * stored), and unknowns stay unknown. */
static void test_every_field(void)
{
	const char *path = in_dir("fields.db");
	struct ws_store *st;
	struct ws_span s, t;
	struct spans got;
	char err[512];

	t_context = "every field";
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	struct ws_recording r = {.source = "live", .host = "h", .command = "x", .started_ns = 1};
	int64_t rec = ws_store_begin_recording(st, &r);
	full_span(&s, rec);
	CHECK(ws_store_add_span(st, &s) == 0, "add");
	/* the other way round: no parent, no status, nothing known */
	memset(&t, 0, sizeof(t));
	t.span_id[0] = 1;
	t.kind = WS_SPAN_CLIENT;
	t.proto = WS_PROTO_HTTP1;
	t.start_ns = t.end_ns = s.start_ns + 1;
	t.recording_id = rec;
	t.sched_runq = t.sched_offcpu = -1;
	CHECK(ws_store_add_span(st, &t) == 0, "add");
	CHECK(ws_store_commit(st) == 0, "commit");
	ws_store_close(st);

	read_spans(path, &got);
	CHECK_INT(got.n, 2);
	CHECK(memcmp(&got.v[0], &s, sizeof(s)) == 0, "the span read back differs from the one written");
	strcpy(t.attrs, "{}"); /* what an empty attribute set is stored as */
	CHECK(memcmp(&got.v[1], &t, sizeof(t)) == 0, "the empty span read back differs");
	CHECK_INT(got.v[0].sched_offcpu, 0);
	CHECK_INT(got.v[1].sched_runq, -1);
	char v[64];
	sql_text(path, "SELECT quote(status) || quote(traceparent) || quote(sched_runq_ns) || quote(local_addr) || "
		       "duration_ns FROM spans WHERE span_id = '0100000000000000'",
		 v, sizeof(v));
	CHECK_STR(v, "NULLNULLNULLNULL0");
	sql_text(path, "SELECT parent_span_id || '/' || kind || '/' || protocol || '/' || peer_addr || '/' || "
		       "duration_ns FROM spans WHERE span_id = '3031323334353637'",
		 v, sizeof(v));
	CHECK_STR(v, "5051525354555657/server/redis/2001:db8::7/999");
}

/* ---- older files ---- */

/* The tables as the store of schema version v created them (versions 1
 * to 7; see git history of src/store/store.c). */
static void old_schema(int v, char *out, size_t n)
{
	snprintf(out, n,
		 "PRAGMA journal_mode=WAL; PRAGMA application_id=1465077809;\n"
		 "CREATE TABLE meta (\n  key TEXT PRIMARY KEY,\n  value TEXT NOT NULL);\n"
		 "CREATE TABLE recordings (\n  id INTEGER PRIMARY KEY,\n  source TEXT NOT NULL,\n"
		 "  host TEXT NOT NULL,\n  command TEXT NOT NULL,\n  started_ns INTEGER NOT NULL,\n"
		 "  ended_ns INTEGER,\n  status TEXT NOT NULL,\n"
		 "  events INTEGER NOT NULL DEFAULT 0,\n  spans INTEGER NOT NULL DEFAULT 0,\n"
		 "  lost INTEGER NOT NULL DEFAULT 0%s);\n"
		 "%s"
		 "CREATE TABLE counters (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
		 "  kind TEXT NOT NULL,\n  name TEXT NOT NULL,\n  value INTEGER NOT NULL,\n"
		 "  PRIMARY KEY (recording_id, kind, name));\n"
		 "CREATE TABLE connections (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
		 "  conn_id INTEGER NOT NULL,\n  host TEXT NOT NULL,\n  pid INTEGER,\n  comm TEXT,\n  role TEXT,\n"
		 "  protocol TEXT,\n  local_addr TEXT, local_port INTEGER,\n  peer_addr TEXT, peer_port INTEGER,\n"
		 "  netns INTEGER,\n  opened_ns INTEGER, first_ns INTEGER, last_ns INTEGER, closed_ns INTEGER,\n"
		 "  bytes_sent INTEGER, bytes_received INTEGER,\n  exchanges INTEGER, unmatched INTEGER,\n"
		 "  flags INTEGER, last_error INTEGER,%s\n  PRIMARY KEY (recording_id, conn_id));\n"
		 "%s"
		 "CREATE TABLE spans (\n  id INTEGER PRIMARY KEY,\n  span_id TEXT NOT NULL UNIQUE,\n"
		 "  trace_id TEXT NOT NULL,\n  parent_span_id TEXT NOT NULL DEFAULT '',\n"
		 "  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n  conn_id INTEGER NOT NULL,\n"
		 "  kind TEXT NOT NULL,\n  protocol TEXT NOT NULL,\n  name TEXT NOT NULL,\n"
		 "  start_ns INTEGER NOT NULL,\n"
		 "  end_ns INTEGER NOT NULL,\n  duration_ns INTEGER NOT NULL,\n  service TEXT NOT NULL,\n"
		 "  host TEXT NOT NULL,\n  pid INTEGER, tid INTEGER,\n  local_addr TEXT, local_port INTEGER,\n"
		 "  peer_addr TEXT, peer_port INTEGER,\n  method TEXT, target TEXT, query TEXT,\n"
		 "  status INTEGER, error TEXT,\n  req_bytes INTEGER, resp_bytes INTEGER,\n"
		 "  req_body_bytes INTEGER, resp_body_bytes INTEGER,\n  req_seq INTEGER, resp_seq INTEGER,\n"
		 "  req_first_enter_ns INTEGER, req_first_exit_ns INTEGER,\n"
		 "  req_last_enter_ns INTEGER, req_last_exit_ns INTEGER,\n"
		 "  resp_first_enter_ns INTEGER, resp_first_exit_ns INTEGER,\n"
		 "  resp_last_enter_ns INTEGER, resp_last_exit_ns INTEGER,\n"
		 "  flags INTEGER NOT NULL DEFAULT 0,\n  attributes TEXT NOT NULL DEFAULT '{}'%s%s%s);\n"
		 "CREATE INDEX spans_by_start ON spans(start_ns);\n"
		 "CREATE INDEX spans_by_trace ON spans(trace_id);\n"
		 "CREATE INDEX spans_by_conn ON spans(recording_id, conn_id);\n"
		 "%s%s"
		 "INSERT INTO meta VALUES ('schema_version', '%d'), ('created_by', 'wirespan');\n",
		 v >= 7 ? ",\n  pid INTEGER, updated_ns INTEGER, boot_id TEXT"
		 : v >= 5 ? ",\n  pid INTEGER, updated_ns INTEGER"
			  : "",
		 v >= 5 ? "CREATE TABLE shedding (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  ts_ns INTEGER NOT NULL,\n  level INTEGER NOT NULL,\n  cpu_pct REAL NOT NULL,\n"
			  "  budget_pct REAL NOT NULL,\n  action TEXT NOT NULL);\n"
			  "CREATE TABLE bpf_programs (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  name TEXT NOT NULL,\n  hook TEXT NOT NULL,\n  runs INTEGER NOT NULL,\n"
			  "  run_ns INTEGER NOT NULL,\n  PRIMARY KEY (recording_id, name));\n"
			: "",
		 v >= 3 ? "\n  estab_ns INTEGER, srtt_us INTEGER, rto_max_us INTEGER, retransmits INTEGER,\n"
			  "  syn_retransmits INTEGER, resets_rx INTEGER, resets_tx INTEGER, drops INTEGER,"
			: "",
		 v >= 3 ? "CREATE TABLE tcp_events (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  conn_id INTEGER NOT NULL,\n  host TEXT NOT NULL,\n  ts_ns INTEGER NOT NULL,\n"
			  "  kind TEXT NOT NULL,\n  role TEXT,\n  local_addr TEXT, local_port INTEGER,\n"
			  "  peer_addr TEXT, peer_port INTEGER,\n"
			  "  seq INTEGER, len INTEGER, tcp_flags INTEGER, ca_state INTEGER, tcp_state INTEGER,\n"
			  "  srtt_us INTEGER, rto_us INTEGER, retrans_total INTEGER,\n"
			  "  reason INTEGER, reason_name TEXT);\n"
			  "CREATE INDEX tcp_events_by_conn ON tcp_events(recording_id, conn_id);\n"
			  "CREATE TABLE drops (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  host TEXT NOT NULL,\n  reason INTEGER NOT NULL,\n  name TEXT NOT NULL,\n"
			  "  count INTEGER NOT NULL,\n  PRIMARY KEY (recording_id, reason));\n"
			: "",
		 v >= 2 ? ",\n  req_last_tid INTEGER, resp_last_tid INTEGER, conn_open_ns INTEGER,\n"
			  "  traceparent TEXT, link_method TEXT NOT NULL DEFAULT '',\n"
			  "  link_confidence REAL, link_candidates INTEGER"
			: "",
		 v >= 3 ? ",\n  req_arr_first_ns INTEGER, req_arr_last_ns INTEGER,\n"
			  "  resp_arr_first_ns INTEGER, resp_arr_last_ns INTEGER,\n"
			  "  sched_runq_ns INTEGER, sched_offcpu_ns INTEGER, conn_estab_ns INTEGER, srtt_us INTEGER"
			: "",
		 v >= 6 ? ",\n  req_goid INTEGER, req_last_goid INTEGER, resp_goid INTEGER, resp_last_goid INTEGER,\n"
			  "  req_waker INTEGER, req_wake_ns INTEGER, req_waker2 INTEGER, req_wake2_ns INTEGER"
			: "",
		 v >= 6 ? "CREATE TABLE processes (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  pid INTEGER NOT NULL,\n  comm TEXT NOT NULL,\n  runtime TEXT NOT NULL,\n"
			  "  traced INTEGER NOT NULL,\n  detail TEXT NOT NULL,\n  PRIMARY KEY (recording_id, pid));\n"
			  "CREATE TABLE goroutines (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  pid INTEGER NOT NULL,\n  goid INTEGER NOT NULL,\n  parent_goid INTEGER NOT NULL,\n"
			  "  ts_ns INTEGER NOT NULL);\n"
			: "",
		 v >= 4 ? "CREATE TABLE packets (\n  recording_id INTEGER NOT NULL REFERENCES recordings(id),\n"
			  "  host TEXT NOT NULL,\n  client_addr TEXT NOT NULL, client_port INTEGER NOT NULL,\n"
			  "  server_addr TEXT NOT NULL, server_port INTEGER NOT NULL,\n"
			  "  roles_known INTEGER NOT NULL,\n"
			  "  first_ns INTEGER NOT NULL, last_ns INTEGER NOT NULL,\n"
			  "  count INTEGER NOT NULL, not_stored INTEGER NOT NULL,\n"
			  "  retransmits INTEGER, fast_retransmits INTEGER, spurious_retransmits INTEGER,\n"
			  "  dup_acks INTEGER, zero_windows INTEGER, out_of_order INTEGER, lost_segments INTEGER,\n"
			  "  rtt_ns INTEGER,\n  data BLOB NOT NULL);\n"
			  "CREATE INDEX packets_by_ports ON packets(client_port, server_port);\n"
			: "",
		 v);
}

/* A file of version v with a recording, a counter and two spans, with
 * what that version knew of them. */
static void old_file(const char *path, int v)
{
	char text[16384];

	unlink(path);
	old_schema(v, text, sizeof(text));
	sql(path, text);
	sql(path, "INSERT INTO recordings (source, host, command, started_ns, ended_ns, status, events, spans, lost) "
		  "VALUES ('live', 'h', 'record', 1000, 2000, 'complete', 10, 2, 0);"
		  "INSERT INTO counters VALUES (1, 'stat', 'connections', 1);"
		  "INSERT INTO spans (span_id, trace_id, parent_span_id, recording_id, conn_id, kind, protocol, name, "
		  "start_ns, end_ns, duration_ns, service, host, pid, tid, local_addr, local_port, peer_addr, "
		  "peer_port, "
		  "method, target, query, status, error, req_bytes, resp_bytes, req_body_bytes, resp_body_bytes, "
		  "req_seq, resp_seq, req_first_enter_ns, req_first_exit_ns, req_last_enter_ns, req_last_exit_ns, "
		  "resp_first_enter_ns, resp_first_exit_ns, resp_last_enter_ns, resp_last_exit_ns, flags, attributes) "
		  "VALUES ('00000000000000a1', '000000000000000000000000000000b1', '', 1, 7, 'client', 'http', "
		  "'GET /a', 100, 150, 50, 'curl', 'h', 11, 12, '10.0.0.1', 40000, '10.0.0.2', 80, 'GET', '/a', "
		  "NULL, 200, NULL, 80, 120, 0, 40, 4000000000, 9, 100, 101, 102, 103, 140, 141, 149, 150, 0, '{}'),"
		  "('00000000000000a2', '000000000000000000000000000000b1', '00000000000000a1', 1, 8, 'server', "
		  "'redis', 'GET', 110, 140, 30, 'redis', 'h', 21, 22, '::1', 6379, '::1', 50000, 'GET', 'k', NULL, "
		  "NULL, 'ERR', 10, 20, 0, 0, 1, 2, 110, 110, 110, 110, 139, 139, 140, 140, 0, '{\"a\":1}');");
	if (v >= 2)
		sql(path, "UPDATE spans SET link_method = 'tcp', link_confidence = 0.5, traceparent = 'tp', "
			  "req_last_tid = 13 WHERE span_id = '00000000000000a2'");
	if (v >= 3)
		sql(path, "UPDATE spans SET req_arr_first_ns = 105, sched_runq_ns = 3, sched_offcpu_ns = 0");
	if (v >= 6)
		sql(path, "UPDATE spans SET req_goid = 33, req_wake2_ns = 44");
}

/* What the spans of old_file() read as: the facts of later versions are
 * unknown. */
static void check_old_spans(const struct spans *got, int v)
{
	CHECK_INT(got->n, 2);
	if (got->n != 2)
		return;
	const struct ws_span *a = &got->v[0], *b = &got->v[1];
	CHECK_STR(a->name, "GET /a");
	CHECK_INT(a->kind, WS_SPAN_CLIENT);
	CHECK_INT(a->proto, WS_PROTO_HTTP1);
	CHECK_INT(a->span_id[7], 0xa1);
	CHECK_INT(a->peer.family, AF_INET);
	CHECK_INT(a->peer.port, 80);
	CHECK_INT(a->req_seq, 4000000000u);
	CHECK_INT(a->status, 200);
	CHECK_INT(a->resp_t[WS_T_LAST_EXIT], 150);
	CHECK_INT(b->kind, WS_SPAN_SERVER);
	CHECK_INT(b->proto, WS_PROTO_REDIS);
	CHECK_INT(b->parent_id[7], 0xa1);
	CHECK_INT(b->local.family, AF_INET6);
	CHECK_STR(b->error, "ERR");
	CHECK_STR(b->attrs, "{\"a\":1}");
	CHECK_STR(b->link_method, v >= 2 ? "tcp" : "");
	CHECK_STR(b->traceparent, v >= 2 ? "tp" : "");
	CHECK(b->link_confidence == (v >= 2 ? 0.5f : 0.0f), "link_confidence %f", b->link_confidence);
	CHECK_INT(b->req_last_tid, v >= 2 ? 13 : 0);
	CHECK_INT(a->req_arr[0], v >= 3 ? 105 : 0);
	CHECK_INT(a->sched_runq, v >= 3 ? 3 : -1);
	CHECK_INT(a->sched_offcpu, v >= 3 ? 0 : -1);
	CHECK_INT(a->req_goid, v >= 6 ? 33 : 0);
	CHECK_INT(a->req_wake2_ns, v >= 6 ? 44 : 0);
}

/* A file of each older version: read as it is, then upgraded by one
 * open for writing to a file with a new one's tables and columns, which
 * reads back as it did and takes spans of every field. */
static void test_upgrades(void)
{
	const char *fresh = in_dir("fresh.db"), *path = in_dir("old.db");
	static char want[32768], have[32768];
	struct ws_store *st;
	struct spans before, after;
	char err[512], ctx[32], v[16];

	CHECK(ws_store_open(fresh, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	ws_store_close(st);
	shape(fresh, want, sizeof(want));
	CHECK(strstr(want, "table spans: req_wake2_ns INTEGER 0 - 0\n") != NULL, "%s", want);
	for (int ver = 1; ver < WS_STORE_SCHEMA_VERSION; ver++) {
		snprintf(ctx, sizeof(ctx), "schema %d", ver);
		t_context = ctx;
		old_file(path, ver);
		CHECK(read_spans(path, &before) == 0, "read");
		check_old_spans(&before, ver);

		CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "upgrade: %s", err);
		if (!st)
			continue;
		CHECK_INT(ws_store_version(st), WS_STORE_SCHEMA_VERSION);
		struct ws_span s;
		full_span(&s, 1);
		CHECK(ws_store_add_span(st, &s) == 0, "add a span to the upgraded file");
		ws_store_close(st);

		sql_text(path, "SELECT value FROM meta WHERE key = 'schema_version'", v, sizeof(v));
		CHECK_STR(v, WS_STR(WS_STORE_SCHEMA_VERSION));
		shape(path, have, sizeof(have));
		CHECK(strcmp(have, want) == 0, "upgraded file:\n%s\nnew file:\n%s", have, want);
		CHECK(read_spans(path, &after) == 0, "read");
		CHECK_INT(after.n, 3);
		CHECK(memcmp(&after.v[0], &before.v[0], sizeof(before.v[0])) == 0 &&
			      memcmp(&after.v[1], &before.v[1], sizeof(before.v[1])) == 0,
		      "the spans read differently once upgraded");
		CHECK(memcmp(&after.v[2], &s, sizeof(s)) == 0, "the new span reads back differently");
	}
}

/* An upgrade that fails half-way (here the last step: a column another
 * program added) says so, and undoes every step before it: the file is
 * left byte for byte as it was, and still reads. */
static void test_failed_upgrade(void)
{
	const char *path = in_dir("conflict.db");
	static char was[1 << 20], is[1 << 20];
	struct ws_store *st;
	struct spans got;
	char err[512], v[16];

	t_context = "failed upgrade";
	old_file(path, 2);
	sql(path, "ALTER TABLE recordings ADD COLUMN boot_id TEXT");
	size_t n = slurp(path, was, sizeof(was));
	CHECK(n > 0 && n < sizeof(was), "size %zu", n);

	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) < 0, "a conflicting file was upgraded");
	CHECK(strstr(err, "cannot upgrade database") && strstr(err, path) &&
		      strstr(err, "from schema version 2 to " WS_STR(WS_STORE_SCHEMA_VERSION)) &&
		      strstr(err, "duplicate column name: boot_id") && strstr(err, "left as it was"),
	      "message: %s", err);
	CHECK(slurp(path, is, sizeof(is)) == n && memcmp(was, is, n) == 0, "the file changed");
	sql_text(path, "SELECT value FROM meta WHERE key = 'schema_version'", v, sizeof(v));
	CHECK_STR(v, "2");
	sql_text(path, "SELECT count(*) FROM pragma_table_info('spans') WHERE name = 'req_arr_first_ns'", v, sizeof(v));
	CHECK_STR(v, "0");
	read_spans(path, &got);
	check_old_spans(&got, 2);
}

/* ---- the report readers ---- */

static char out[4096];

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void put(const char *fmt, ...)
{
	size_t o = strlen(out);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(out + o, sizeof(out) - o, fmt, ap);
	va_end(ap);
}

static int put_recording(void *ctx, const struct ws_store_recording *r)
{
	(void)ctx;
	put("%lld %s %s %s %s %llu-%llu e%llu s%llu l%llu pid:%d upd:%d;", (long long)r->id, r->source, r->host,
	    r->command, r->status, (unsigned long long)r->started_ns, (unsigned long long)r->ended_ns,
	    (unsigned long long)r->events, (unsigned long long)r->spans, (unsigned long long)r->lost, r->pid > 0,
	    r->updated_ns > 0);
	return 0;
}

static int put_counter(void *ctx, const char *name, int64_t v)
{
	(void)ctx;
	put("%s=%lld;", name, (long long)v);
	return 0;
}

static int put_shed(void *ctx, const struct ws_store_shed *s)
{
	(void)ctx;
	put("%llu %d %g/%g %s;", (unsigned long long)s->ts_ns, s->level, s->cpu_pct, s->budget_pct, s->action);
	return 0;
}

static int put_prog(void *ctx, const struct ws_store_bpf_prog *p)
{
	(void)ctx;
	put("%s %s %lld %lld;", p->name, p->hook, (long long)p->runs, (long long)p->run_ns);
	return 0;
}

static int put_health(void *ctx, const struct ws_store_peer_health *h)
{
	(void)ctx;
	put("%s|%s|c%lld x%lld r%lld s%lld rx%lld tx%lld d%lld f%lld rto%lld srtt:", h->host, h->group,
	    (long long)h->connections, (long long)h->exchanges, (long long)h->retransmits,
	    (long long)h->syn_retransmits, (long long)h->resets_rx, (long long)h->resets_tx, (long long)h->drops,
	    (long long)h->failed_connects, (long long)h->rto_max_us);
	if (h->srtt_known)
		put("%g;", h->srtt_avg_us);
	else
		put("-;");
	return 0;
}

static int put_drop(void *ctx, const struct ws_store_drop_total *d)
{
	(void)ctx;
	put("%s %lld %s %lld;", d->host, (long long)d->reason, d->name, (long long)d->packets);
	return 0;
}

static int stop_at_first(void *ctx, const char *name, int64_t v)
{
	put_counter(ctx, name, v);
	return 1;
}

static void add_conn(struct ws_store *st, int64_t rec, uint64_t id, int role, uint8_t peer4, uint16_t pport,
		     uint32_t retrans, uint32_t srtt, uint16_t flags)
{
	struct ct_conn_info c = {0};
	uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, peer4};

	c.id = id;
	c.role = (uint8_t)role;
	c.proto = WS_PROTO_HTTP1;
	c.pid = 7;
	strcpy(c.comm, "curl");
	ws_endpoint_set(&c.local, AF_INET, a, role == WS_ROLE_CLIENT ? 40000 + (uint16_t)id : 80);
	ws_endpoint_set(&c.peer, AF_INET, b, pport);
	c.exchanges = 2;
	c.retransmits = retrans;
	c.syn_retransmits = retrans ? 1 : 0;
	c.resets_rx = retrans;
	c.drops = 1;
	c.rto_max_us = 1000 * retrans;
	c.srtt_us = srtt;
	c.flags = flags;
	CHECK(ws_store_add_conn(st, rec, "h1", &c) == 0, "conn");
}

/* A database of two recordings, written through the store. */
static void known_file(const char *path)
{
	struct ws_store *st;
	struct ws_span s;
	char err[512];

	unlink(path);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	struct ws_recording r = {.source = "live", .host = "h1", .command = "record a", .started_ns = 1000};
	int64_t rec = ws_store_begin_recording(st, &r);
	CHECK_INT(rec, 1);
	ws_store_set_counter(st, rec, "lost", "ringbuf_full", 3);
	ws_store_set_counter(st, rec, "lost", "conn_table_full", 0);
	ws_store_set_counter(st, rec, "stat", "connections", 3);
	ws_store_set_counter(st, rec, "stat", "payload_cut", 5);
	ws_store_set_counter(st, rec, "privileges", "capabilities", 7);
	ws_store_add_shed(st, rec, 2000, 0, 1.5, 5, "full capture");
	ws_store_add_shed(st, rec, 3000, 2, 9.25, 5, "detached");
	ws_store_set_bpf_prog(st, rec, "a", "hook/a", 10, 100);
	ws_store_set_bpf_prog(st, rec, "b", "hook/b", 5, 1000);
	add_conn(st, rec, 1, WS_ROLE_CLIENT, 2, 80, 2, 100, 0);
	add_conn(st, rec, 2, WS_ROLE_CLIENT, 2, 80, 1, 300, 0);
	add_conn(st, rec, 3, WS_ROLE_SERVER, 3, 5555, 0, 0, CT_CONNECT_FAILED);
	ws_store_add_drops(st, rec, "h1", 3, "NO_SOCKET", 4);
	ws_store_add_drops(st, rec, "h1", 104, "QUEUE_PURGE", 9);
	full_span(&s, rec);
	ws_store_add_span(st, &s);
	s.span_id[0] ^= 1;
	ws_store_add_span(st, &s);
	ws_store_update_recording(st, rec, 50, 9, 3);
	CHECK(ws_store_end_recording(st, rec, 5000, "complete") == 0, "end");
	struct ws_recording r2 = {.source = "pcap", .host = "h2", .command = "pcap x", .started_ns = 6000};
	rec = ws_store_begin_recording(st, &r2);
	ws_store_add_drops(st, rec, "h1", 3, "NO_SOCKET", 1);
	CHECK(ws_store_end_recording(st, rec, 7000, "failed") == 0, "end");
	ws_store_close(st);
}

static void test_readers(void)
{
	const char *path = in_dir("known.db");
	struct ws_store *st;
	char err[512];

	t_context = "readers";
	known_file(path);
	CHECK(ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) == 0, "open: %s", err);
	if (!st)
		return;
	out[0] = 0;
	CHECK_INT(ws_store_each_recording(st, 0, true, put_recording, NULL), 0);
	CHECK_STR(out, "1 live h1 record a complete 1000-5000 e50 s9 l3 pid:1 upd:1;"
		       "2 pcap h2 pcap x failed 6000-7000 e0 s0 l0 pid:1 upd:1;");
	out[0] = 0;
	ws_store_each_recording(st, 0, false, put_recording, NULL);
	CHECK_STR(out, "2 pcap h2 pcap x failed 6000-7000 e0 s0 l0 pid:1 upd:1;");
	out[0] = 0;
	ws_store_each_recording(st, 1, false, put_recording, NULL);
	CHECK(strncmp(out, "1 live", 6) == 0, "%s", out);
	out[0] = 0;
	CHECK_INT(ws_store_each_recording(st, 9, true, put_recording, NULL), 0);
	CHECK_STR(out, "");

	out[0] = 0;
	ws_store_each_counter(st, 1, "lost", put_counter, NULL);
	CHECK_STR(out, "conn_table_full=0;ringbuf_full=3;");
	out[0] = 0;
	ws_store_each_counter(st, 1, "stat", stop_at_first, NULL);
	CHECK_STR(out, "connections=3;");
	CHECK_INT(ws_store_counter(st, 1, "payload_cut"), 5);
	CHECK_INT(ws_store_counter(st, 1, "capabilities"), 7);
	CHECK_INT(ws_store_counter(st, 1, "nothing"), 0);
	CHECK_INT(ws_store_counter(st, 2, "payload_cut"), 0);
	CHECK_INT(ws_store_recording_spans(st, 1), 2);
	CHECK_INT(ws_store_recording_spans(st, 2), 0);

	out[0] = 0;
	ws_store_each_shed(st, 1, put_shed, NULL);
	CHECK_STR(out, "2000 0 1.5/5 full capture;3000 2 9.25/5 detached;");
	out[0] = 0;
	ws_store_each_bpf_prog(st, 1, put_prog, NULL);
	CHECK_STR(out, "b hook/b 5 1000;a hook/a 10 100;");

	out[0] = 0;
	CHECK_INT(ws_store_each_peer_health(st, WS_GROUP_PEER, put_health, NULL), 0);
	CHECK_STR(out, "h1|to 10.0.0.2:80|c2 x4 r3 s2 rx3 tx0 d2 f0 rto2000 srtt:200;"
		       "h1|from 10.0.0.3|c1 x2 r0 s0 rx0 tx0 d1 f1 rto0 srtt:-;");
	out[0] = 0;
	ws_store_each_peer_health(st, WS_GROUP_CONN, put_health, NULL);
	CHECK(strstr(out, "h1|client 10.0.0.1:40001 - 10.0.0.2:80 (curl pid 7)|c1 x2 r2 ") == out, "%s", out);
	out[0] = 0;
	ws_store_each_peer_health(st, WS_GROUP_HOST, put_health, NULL);
	CHECK_STR(out, "h1|all connections|c3 x6 r3 s2 rx3 tx0 d3 f1 rto2000 srtt:200;");
	out[0] = 0;
	ws_store_each_drop_total(st, put_drop, NULL);
	CHECK_STR(out, "h1 104 QUEUE_PURGE 9;h1 3 NO_SOCKET 5;");
	CHECK(ws_store_read_error(st) == NULL, "%s", ws_store_read_error(st));
	ws_store_close(st);
}

/* Older files answer what they know: no shedding or BPF programs before
 * schema 5 (the readers say so before calling back), no TCP health before
 * schema 3, no recorder pid before schema 5. */
static void test_older_readers(void)
{
	const char *path = in_dir("old-readers.db");
	struct ws_store *st;
	char err[512];

	t_context = "older readers";
	old_file(path, 2);
	CHECK(ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) == 0, "open: %s", err);
	if (!st)
		return;
	out[0] = 0;
	CHECK_INT(ws_store_each_recording(st, 0, true, put_recording, NULL), 0);
	CHECK_STR(out, "1 live h record complete 1000-2000 e10 s2 l0 pid:0 upd:0;");
	CHECK_INT(ws_store_each_shed(st, 1, put_shed, NULL), -ENOENT);
	CHECK_INT(ws_store_each_bpf_prog(st, 1, put_prog, NULL), -ENOENT);
	CHECK_INT(ws_store_each_peer_health(st, WS_GROUP_PEER, put_health, NULL), -ENOENT);
	CHECK_INT(ws_store_each_drop_total(st, put_drop, NULL), -ENOENT);
	CHECK(strstr(ws_store_errmsg(st), "drops") != NULL, "errmsg: %s", ws_store_errmsg(st));
	CHECK_INT(ws_store_counter(st, 1, "connections"), 1);
	CHECK(ws_store_read_error(st) == NULL, "not damaged: %s", ws_store_read_error(st));
	ws_store_close(st);
}

/* A file whose counters pages were overwritten: the reader stops at the
 * row it cannot read, and the store keeps the first such failure, naming
 * the file, while the readers of intact tables still read. */
static void test_damaged_readers(void)
{
	const char *path = in_dir("damaged.db");
	struct ws_store *st;
	char err[512], page[16], size[16];

	t_context = "damaged";
	known_file(path);
	sql_text(path, "SELECT rootpage FROM sqlite_master WHERE name = 'counters'", page, sizeof(page));
	sql_text(path, "PRAGMA page_size", size, sizeof(size));
	FILE *f = fopen(path, "r+b");
	CHECK(f != NULL && atoi(page) > 1, "page %s", page);
	if (!f)
		return;
	static char junk[65536];
	memset(junk, 0xa5, sizeof(junk));
	fseek(f, (long)(atoi(page) - 1) * atoi(size) + 8, SEEK_SET);
	fwrite(junk, 1, (size_t)atoi(size) - 8, f);
	fclose(f);

	CHECK(ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) == 0, "open: %s", err);
	if (!st)
		return;
	CHECK(ws_store_read_error(st) == NULL, "before reading: %s", ws_store_read_error(st));
	out[0] = 0;
	CHECK_INT(ws_store_each_counter(st, 1, "lost", put_counter, NULL), -EIO);
	CHECK_STR(out, "");
	char first[512];
	ws_strlcpy(first, ws_store_read_error(st) ? ws_store_read_error(st) : "none", sizeof(first));
	CHECK(strstr(first, "cannot read ") && strstr(first, path) && strstr(first, "malformed") &&
		      strstr(first, "(the file is damaged or not a wirespan database)"),
	      "read error: %s", first);
	CHECK_INT(ws_store_counter(st, 1, "payload_cut"), 0);
	CHECK_STR(ws_store_read_error(st) ? ws_store_read_error(st) : "none", first);
	out[0] = 0;
	CHECK_INT(ws_store_each_shed(st, 1, put_shed, NULL), 0);
	CHECK_STR(out, "2000 0 1.5/5 full capture;3000 2 9.25/5 detached;");
	ws_store_close(st);
}

/* ---- the first span, and files the store must not use ---- */

static struct ws_span got;
static int ngot;

static int keep(void *ctx, const struct ws_span *s)
{
	(void)ctx;
	got = *s;
	ngot++;
	return 0;
}

static void test_round_trip(void)
{
	const char *path = in_dir("t.db");
	char err[512];
	struct ws_store *st;
	struct stat sb;

	t_context = "write";
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o", sb.st_mode & 0777);
	struct ws_recording r = {.source = "live", .host = "h", .command = "x", .started_ns = 1};
	int64_t rec = ws_store_begin_recording(st, &r);
	CHECK(rec > 0, "recording id %lld", (long long)rec);

	struct ws_span s = {0};
	uint8_t a[4] = {198, 18, 0, 1}, b[16] = {0};
	b[15] = 1;
	memset(s.trace_id, 0xab, 16);
	memset(s.span_id, 0xcd, 8);
	s.kind = WS_SPAN_CLIENT;
	s.proto = WS_PROTO_HTTP1;
	strcpy(s.name, "GET /x");
	s.start_ns = 1700000000000000000ull;
	s.end_ns = s.start_ns + 12345;
	strcpy(s.service, "curl");
	strcpy(s.host, "h");
	s.pid = 11;
	s.tid = 12;
	s.recording_id = rec;
	ws_endpoint_set(&s.local, AF_INET, a, 40000);
	ws_endpoint_set(&s.peer, AF_INET6, b, 8080);
	strcpy(s.method, "GET");
	strcpy(s.target, "/x");
	s.status = 503;
	strcpy(s.error, "503");
	s.req_seq = 4000000000u;
	s.resp_t[3] = s.end_ns;
	strcpy(s.attrs, "{\"user_agent.original\":\"curl/8\"}");
	CHECK(ws_store_add_span(st, &s) == 0, "add");
	CHECK(ws_store_set_counter(st, rec, "lost", "ringbuf_full", 3) == 0, "counter");
	CHECK(ws_store_end_recording(st, rec, 2, "complete") == 0, "end");
	ws_store_close(st);

	t_context = "read";
	CHECK(ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) == 0, "reopen: %s", err);
	struct ws_span_filter f = {0};
	CHECK(ws_store_each_span(st, &f, keep, NULL) == 0, "each");
	CHECK_INT(ngot, 1);
	CHECK(memcmp(got.trace_id, s.trace_id, 16) == 0 && memcmp(got.span_id, s.span_id, 8) == 0, "ids");
	CHECK_STR(got.name, "GET /x");
	CHECK_INT(got.kind, WS_SPAN_CLIENT);
	CHECK_INT(got.end_ns, s.end_ns);
	CHECK_INT(got.peer.port, 8080);
	CHECK_INT(got.peer.family, AF_INET6);
	CHECK_INT(got.local.addr[0], 198);
	CHECK_INT(got.req_seq, 4000000000u);
	CHECK_INT(got.status, 503);
	struct ws_json j;
	wj_init(&j);
	ws_span_to_json(&got, &j);
	CHECK(strstr(j.buf, "\"parent_span_id\":\"\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"trace_id\":\"abababababababababababababababab\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"network.peer.address\":\"::1\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"user_agent.original\":\"curl/8\"") != NULL, "%s", j.buf);
	CHECK(strstr(j.buf, "\"error.type\":\"503\"") != NULL, "%s", j.buf);
	wj_free(&j);
	f.kind = WS_SPAN_SERVER;
	ngot = 0;
	ws_store_each_span(st, &f, keep, NULL);
	CHECK_INT(ngot, 0);
	ws_store_close(st);
}

static void test_errors(void)
{
	char path[256], err[512];
	struct ws_store *st;

	t_context = "errors";
	snprintf(path, sizeof(path), "%s/no/such/dir/t.db", dir);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) < 0, "opened %s", path);
	CHECK(strstr(err, "cannot open database") && strstr(err, "No such file"), "message: %s", err);
	snprintf(path, sizeof(path), "%s/text.db", dir);
	FILE *fp = fopen(path, "w");
	fputs("this is not a database, just some text that is long enough to look like a header\n", fp);
	fclose(fp);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) < 0, "opened a text file");
	CHECK(strstr(err, "not a wirespan database") != NULL, "message: %s", err);
	snprintf(path, sizeof(path), "%s/absent.db", dir);
	CHECK(ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err)) < 0, "read absent");
	CHECK(strstr(err, "wirespan record") != NULL, "message: %s", err);
}

static int check_addrs(void *ctx, const struct ws_span *s)
{
	int *i = ctx;
	char a[64], b[64], want_a[32], want_b[32];

	snprintf(want_a, sizeof(want_a), "10.0.0.%d", *i / 8);
	snprintf(want_b, sizeof(want_b), "10.0.1.%d", *i);
	CHECK_STR(ws_addr_str(&s->local, a, sizeof(a)), want_a);
	CHECK_STR(ws_addr_str(&s->peer, b, sizeof(b)), want_b);
	(*i)++;
	return 0;
}

/* Addresses become text through a small cache: rows that keep one
 * address while the other changes (one client, many servers), more
 * than the cache holds, read back each their own. */
static void test_many_addresses(void)
{
	const char *path = in_dir("addrs.db");
	struct ws_recording r = {.source = "replay", .host = "h", .command = "x", .started_ns = 1};
	struct ws_span_filter all = {0};
	struct ws_store *st;
	struct ws_span s;
	char err[512];
	int i = 0;

	t_context = "many addresses";
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	int64_t rec = ws_store_begin_recording(st, &r);
	for (int k = 0; k < 40; k++) {
		uint8_t a[4] = {10, 0, 0, (uint8_t)(k / 8)}, b[4] = {10, 0, 1, (uint8_t)k};
		full_span(&s, rec);
		s.span_id[7] = (uint8_t)k;
		s.start_ns = 1000 + (uint64_t)k;
		ws_endpoint_set(&s.local, AF_INET, a, 40000);
		ws_endpoint_set(&s.peer, AF_INET, b, 80);
		CHECK(ws_store_add_span(st, &s) == 0, "add %d", k);
	}
	CHECK(ws_store_commit(st) == 0, "commit");
	CHECK(ws_store_each_span(st, &all, check_addrs, &i) == 0, "read");
	CHECK_INT(i, 40);
	ws_store_close(st);
}

/* The span indexes of path, by name, in order ("" when none). */
static void span_indexes(const char *path, char *list, size_t n)
{
	sql_text(path,
		 "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_master WHERE type = 'index' AND "
		 "tbl_name = 'spans' ORDER BY name)",
		 list, n);
}

/* A recording that begins on an empty file goes without the span
 * indexes and builds them when it ends; one that begins on a file with
 * spans keeps them; a file whose recorder died gets them at its next
 * write open. */
static void test_deferred_indexes(void)
{
	const char *path = in_dir("idx.db"), *all = "spans_by_conn spans_by_id spans_by_start spans_by_trace";
	struct ws_recording r = {.source = "replay", .host = "h", .command = "x", .started_ns = 1};
	struct ws_store *st;
	struct ws_span s;
	char err[512], have[256], v[32];

	t_context = "deferred indexes";
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, all);
	int64_t rec = ws_store_begin_recording(st, &r);
	CHECK(rec > 0, "begin");
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, "");
	full_span(&s, rec);
	CHECK(ws_store_add_span(st, &s) == 0, "add");
	s.span_id[7]++;
	CHECK(ws_store_add_span(st, &s) == 0, "add");
	CHECK(ws_store_build_span_indexes(st, true) == 0, "ids");
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, "spans_by_id spans_by_start");
	/* span ids are unique once indexed */
	CHECK(ws_store_add_span(st, &s) != 0, "a second span with one id");
	ws_store_close(st);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(ws_store_build_span_indexes(st, false) == 0, "all");
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, all);
	/* a file with spans: a second recording keeps its indexes */
	CHECK(ws_store_begin_recording(st, &r) > rec, "second recording");
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, all);
	ws_store_close(st);
	sql_text(path, "SELECT count(*) FROM spans", v, sizeof(v));
	CHECK_STR(v, "2");

	/* killed before it built them: the next write open does */
	unlink(path);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	CHECK(ws_store_begin_recording(st, &r) > 0, "begin");
	full_span(&s, 1);
	CHECK(ws_store_add_span(st, &s) == 0, "add");
	CHECK(ws_store_commit(st) == 0, "commit");
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, "");
	ws_store_close(st);
	static struct spans read;
	CHECK(read_spans(path, &read) == 0 && read.n == 1, "read without indexes: %d spans", read.n);
	CHECK(ws_store_open(path, WS_STORE_WRITE, &st, err, sizeof(err)) == 0, "open: %s", err);
	ws_store_close(st);
	span_indexes(path, have, sizeof(have));
	CHECK_STR(have, all);
	sql_text(path, "PRAGMA page_size", v, sizeof(v));
	CHECK_STR(v, "16384");
}

int main(void)
{
	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	test_round_trip();
	test_every_field();
	test_upgrades();
	test_failed_upgrade();
	test_deferred_indexes();
	test_many_addresses();
	test_readers();
	test_older_readers();
	test_damaged_readers();
	test_errors();

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	return t_summary("test_store");
}
