/* test_store.c -- the SQLite store: private file, round trip of a span,
 * clear errors for files it must not use. */
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "store/store.h"

static struct ws_span got;
static int ngot;

static int keep(void *ctx, const struct ws_span *s)
{
	(void)ctx;
	got = *s;
	ngot++;
	return 0;
}

int main(void)
{
	char dir[] = "/tmp/wirespan-test-XXXXXX", path[256], err[512];
	struct ws_store *st;
	struct stat sb;

	CHECK(mkdtemp(dir) != NULL, "mkdtemp");
	snprintf(path, sizeof(path), "%s/t.db", dir);

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

	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0, "cleanup");
	return t_summary("test_store");
}
