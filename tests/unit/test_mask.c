/* test_mask.c -- masked event files (proto/mask.h): every recorded
 * conversation in tests/data, masked as the recorder would, must
 *   - give the same spans when replayed every way (as recorded, byte by
 *     byte, split anywhere, captured in part), and
 *   - keep no secret: a "s3cr3t..." word survives masking only where the
 *     span itself shows it (a Redis key);
 * and masking must stay safe however the runs were cut (byte by byte, split
 * at every offset, prefix and tail with a gap), when runs are lost, and on
 * garbage. */
#include "harness.h"
#include "proto/mask.h"

#include <ctype.h>



/* Every "s3cr3t" word left in m must be one the spans show. */
static int secrets_left(const struct conv *c, const struct conv *m, const char *how)
{
	int bad = 0;

	for (int i = 0; i < m->nsegs; i++) {
		const struct conv_seg *sg = &m->segs[i];
		for (uint32_t j = 0; sg->data && j + 6 <= sg->len; j++) {
			if (memcmp(sg->data + j, "s3cr3t", 6) != 0)
				continue;
			uint32_t e = j;
			while (e < sg->len && (isalnum(sg->data[e]) || sg->data[e] == '-'))
				e++;
			char word[128];
			snprintf(word, sizeof(word), "%.*s", (int)(e - j), sg->data + j);
			bool shown = false;
			for (int x = 0; x < c->nexpect; x++)
				shown |= strstr(c->expect[x], word) != NULL;
			if (!shown) {
				fprintf(stderr, "FAIL %s (%s): '%s' kept in segment %d\n", c->name, how, word, i);
				bad++;
			}
		}
	}
	return bad;
}

/* A conversation's "~" lines: the spans a masked replay gives where they
 * differ on purpose (a target written in parts is masked whole). */
static void masked_expect(const char *path, struct conv *c)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int n = 0;

	while (f && fgets(line, sizeof(line), f))
		if (line[0] == '~') {
			const char *p = line + 1 + (line[1] == ' ');
			ws_strlcpy(c->expect[n], p, sizeof(c->expect[0]));
			c->expect[n][strcspn(c->expect[n], "\n")] = 0;
			n++;
		}
	if (n)
		c->nexpect = n;
	if (f)
		fclose(f);
}

/* cap_differs: a capture cut short gives fewer or vaguer spans than the
 * whole one (PostgreSQL: text cut, rows not counted); the masked capture
 * must then give what the unmasked one does. */
static void check_conv(const struct conv *c, const char *path,
		       void (*format)(char *, size_t, const struct ws_exchange *), bool cap_differs, bool header_reads)
{
	static struct conv m;
	char how[160];

	for (int side = CONV_CLIENT; side <= CONV_SERVER; side++) {
		const char *sn = side ? "server" : "client";
		/* as the recorder saw it: the same spans, however they are replayed */
		struct cut k = {.split_seg = -1, .skip_run = -1};
		mask_conv(c, &m, side, &k);
		snprintf(how, sizeof(how), "masked at the %s", sn);
		t_checks++;
		if (secrets_left(c, &m, how))
			t_failed++;
		masked_expect(path, &m);
		if (replay_all(&m, format, !cap_differs))
			fprintf(stderr, "  (%s masked at the %s side: the replay differs)\n", c->name, sn);
		free_masked(&m);
		/* packet headers read alone, as MariaDB's server and clients do */
		k.header_runs = header_reads;
		mask_conv(c, &m, side, &k);
		masked_expect(path, &m);
		if (header_reads) {
			static struct replay_out out;
			struct replay_opts o = {.side = side, .split_seg = -1};
			out.format = format;
			replay(&m, &o, &out);
			snprintf(how, sizeof(how), "masked at the %s, headers read alone", sn);
			compare_out(&m, &out, how);
		}
		free_masked(&m);
		k.header_runs = false;
		/* captured in part: the masked prefix and tail replay as the originals do */
		k.cap = 256;
		mask_conv(c, &m, side, &k);
		{
			static struct replay_out out;
			struct replay_opts o = {.side = side, .split_seg = -1, .cap = 256};
			out.format = format;
			if (cap_differs) { /* what the same capture gives unmasked */
				replay(c, &o, &out);
				for (int i = 0; i < out.n && i < (int)WS_ARRAY_SIZE(m.expect); i++)
					ws_strlcpy(m.expect[i], out.got[i], sizeof(m.expect[i]));
				m.nexpect = out.n;
			} else {
				masked_expect(path, &m);
			}
			replay(&m, &o, &out);
			snprintf(how, sizeof(how), "masked at the %s, 256-byte capture", sn);
			compare_out(&m, &out, how);
		}
		free_masked(&m);
		k.cap = 0;
		/* however the runs were cut, or lost, nothing secret stays */
		k.step = 1;
		mask_conv(c, &m, side, &k);
		snprintf(how, sizeof(how), "masked at the %s byte by byte", sn);
		t_checks++;
		if (secrets_left(c, &m, how))
			t_failed++;
		free_masked(&m);
		k.step = 0;
		for (int i = 0; i < c->nsegs; i++)
			for (uint32_t at = 1; at < c->segs[i].len; at++) {
				k.split_seg = i;
				k.split_at = at;
				mask_conv(c, &m, side, &k);
				snprintf(how, sizeof(how), "masked at the %s, segment %d split at %u", sn, i, at);
				t_checks++;
				if (secrets_left(c, &m, how))
					t_failed++;
				free_masked(&m);
			}
		k.split_seg = -1;
		for (int r = 0; r < c->nsegs; r++) {
			k.skip_run = r;
			mask_conv(c, &m, side, &k);
			snprintf(how, sizeof(how), "masked at the %s, run %d lost", sn, r);
			t_checks++;
			if (secrets_left(c, &m, how))
				t_failed++;
			free_masked(&m);
		}
		k.skip_run = -1;
		k.cap = 24;
		mask_conv(c, &m, side, &k);
		snprintf(how, sizeof(how), "masked at the %s, 24-byte capture", sn);
		t_checks++;
		if (secrets_left(c, &m, how))
			t_failed++;
		free_masked(&m);
	}
}

struct fmt {
	void (*format)(char *, size_t, const struct ws_exchange *);
	bool cap_differs;
	bool header_reads; /* its peers read a packet's header alone (MySQL) */
};

static void check_one(const struct conv *c, const char *path, void *ctx)
{
	const struct fmt *f = ctx;

	check_conv(c, path, f->format, f->cap_differs, f->header_reads);
}

/* Bytes that are not a protocol wirespan parses are masked whole. */
static void test_unknown_protocols(void)
{
	uint8_t tls[] = {0x16, 0x03, 0x01, 0x00, 0x20, 's', '3', 'c', 'r', '3', 't'};
	char pg[] = "\0\0\0\x28\0\3\0\0user\0s3cr3t\0database\0app\0\0";
	struct ws_mask *m = ws_mask_new();

	t_context = "unknown protocols";
	ws_mask_run(m, WS_SEND, 1, true, sizeof(tls), tls, sizeof(tls), NULL, 0);
	CHECK(memchr(tls, 's', sizeof(tls)) == NULL && tls[0] == '*', "TLS bytes kept");
	ws_mask_free(m);
	m = ws_mask_new();
	/* a PostgreSQL cancel request: its secret key is masked */
	ws_mask_free(m);
	m = ws_mask_new();
	uint8_t cancel[] = {0, 0, 0, 16, 0x04, 0xd2, 0x16, 0x2e, 0, 0, 0x30, 0x39, 's', '3', 'c', 'r'};
	ws_mask_run(m, WS_SEND, 1, true, sizeof(cancel), cancel, sizeof(cancel), NULL, 0);
	CHECK(memcmp(cancel + 8, "********", 8) == 0, "a cancel request's pid and key kept");
	ws_mask_free(m);
	m = ws_mask_new();
	/* PostgreSQL is parsed now: of a startup packet only the framing, the
	 * parameters' names and the database stay */
	ws_mask_run(m, WS_SEND, 1, true, sizeof(pg) - 1, (uint8_t *)pg, sizeof(pg) - 1, NULL, 0);
	CHECK(memcmp(pg, "\0\0\0\x28\0\3\0\0user\0******\0database\0app\0\0", sizeof(pg) - 1) == 0,
	      "PostgreSQL startup masked as '%.*s'", (int)sizeof(pg) - 9, pg + 8);
	/* a request that never showed a known start is no license later */
	char later[] = "GET /x?k=s3cr3t HTTP/1.1\r\n\r\n";
	ws_mask_run(m, WS_SEND, 1 + sizeof(pg), true, sizeof(later) - 1, (uint8_t *)later, sizeof(later) - 1, NULL, 0);
	CHECK(strstr(later, "s3cr3t") == NULL, "kept: %s", later);
	ws_mask_free(m);
}

/* Byte-level expectations for the rules, from the client's side. */
static void test_rules(void)
{
	static const struct {
		const char *in, *out;
	} http[] = {
	    {"GET /reset-password/abc?next=/home&x HTTP/1.1\r\nHost: u:s3cr3t@h\r\nX-Api: s3cr3t\r\n\r\n",
	     "GET /reset-password/***?next=*****&* HTTP/1.1\r\nHost: ********@h\r\nX-Api: ******\r\n\r\n"},
	    {"GET http://u:pw@h/a;jsessionid=S1/b?q HTTP/1.1\r\nUser-Agent: curl\r\n\r\n",
	     "GET http://****@h/a;jsessionid=**/b?* HTTP/1.1\r\nUser-Agent: curl\r\n\r\n"},
	    {"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;e=s3\r\nhello\r\n0\r\nX-T: s3cr3t\r\n\r\n",
	     "POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;****\r\n*****\r\n0\r\nX-T: ******\r\n\r\n"},
	    {"PUT /v1/key0123456789abcdefXY HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc",
	     "PUT /v1/********************* HTTP/1.0\r\nContent-Length: 3\r\n\r\n***"},
	    /* not a version: the rest of the line, and everything after, goes */
	    {"GET /a s3cr3t and more", "GET /a ***************"},
	};
	static const struct {
		const char *in, *out;
	} redis[] = {
	    {"*3\r\n$3\r\nSET\r\n$4\r\nuser\r\n$6\r\ns3cr3t\r\n", "*3\r\n$3\r\nSET\r\n$4\r\nuser\r\n$6\r\n******\r\n"},
	    {"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\npw\r\n",
	     "*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$2\r\n**\r\n"},
	    {"*3\r\n$4\r\nEVAL\r\n$6\r\nreturn\r\n$1\r\n0\r\n", "*3\r\n$4\r\nEVAL\r\n$6\r\n******\r\n$1\r\n*\r\n"},
	    {"*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$3\r\n300\r\n$7\r\nSTREAMS\r\n$1\r\ns\r\n$1\r\n$\r\n",
	     "*6\r\n$5\r\nXREAD\r\n$5\r\nBLOCK\r\n$3\r\n***\r\n$7\r\nSTREAMS\r\n$1\r\n*\r\n$1\r\n*\r\n"},
	    {"SET k v1\r\n", "SET k **\r\n"},
	    {"AUTH pw\r\n", "AUTH **\r\n"},
	};
	static const struct {
		const char *in, *out;
	} replies[] = {
	    {"$6\r\ns3cr3t\r\n", "$6\r\n******\r\n"},
	    {"-ERR bad 's3'\r\n", "-ERR *** ****\r\n"},
	    {"-WRONGTYPE Operation\r\n", "-WRONGTYPE *********\r\n"},
	    {":1234\r\n", ":0000\r\n"},
	    {"+OK\r\n", "+**\r\n"},
	    {"*2\r\n$1\r\na\r\n:-5\r\n", "*2\r\n$1\r\n*\r\n:-0\r\n"},
	    {"%1\r\n+k\r\n#t\r\n", "%1\r\n+*\r\n#t\r\n"},
	};
	char buf[512];

	t_context = "rules";
	for (size_t i = 0; i < WS_ARRAY_SIZE(http); i++) {
		struct ws_mask *m = ws_mask_new();
		size_t n = strlen(http[i].in);
		memcpy(buf, http[i].in, n + 1);
		ws_mask_run(m, WS_SEND, 7, true, (uint32_t)n, (uint8_t *)buf, (uint32_t)n, NULL, 0);
		CHECK_STR(buf, http[i].out);
		ws_mask_free(m);
	}
	for (size_t i = 0; i < WS_ARRAY_SIZE(redis); i++) {
		struct ws_mask *m = ws_mask_new();
		size_t n = strlen(redis[i].in);
		memcpy(buf, redis[i].in, n + 1);
		ws_mask_run(m, WS_SEND, 7, true, (uint32_t)n, (uint8_t *)buf, (uint32_t)n, NULL, 0);
		CHECK_STR(buf, redis[i].out);
		ws_mask_free(m);
	}
	for (size_t i = 0; i < WS_ARRAY_SIZE(replies); i++) {
		struct ws_mask *m = ws_mask_new();
		char req[] = "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
		ws_mask_run(m, WS_SEND, 7, true, sizeof(req) - 1, (uint8_t *)req, sizeof(req) - 1, NULL, 0);
		size_t n = strlen(replies[i].in);
		memcpy(buf, replies[i].in, n + 1);
		ws_mask_run(m, WS_RECV, 900, true, (uint32_t)n, (uint8_t *)buf, (uint32_t)n, NULL, 0);
		CHECK_STR(buf, replies[i].out);
		ws_mask_free(m);
	}
}

/* A response to HEAD, a 204 and a 304 have no body; a 101 turns the
 * connection into another protocol; a run that does not follow the last
 * one loses the way until a message starts. */
static void test_framing(void)
{
	struct ws_mask *m = ws_mask_new();
	char q1[] = "HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	char r1[] = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
	const char *w1 = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n**";

	t_context = "framing";
	ws_mask_run(m, WS_SEND, 1, true, sizeof(q1) - 1, (uint8_t *)q1, sizeof(q1) - 1, NULL, 0);
	ws_mask_run(m, WS_RECV, 1, true, sizeof(r1) - 1, (uint8_t *)r1, sizeof(r1) - 1, NULL, 0);
	CHECK_STR(r1, w1);
	char q2[] = "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n";
	char r2[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
	ws_mask_run(m, WS_SEND, 1 + sizeof(q1) - 1, true, sizeof(q2) - 1, (uint8_t *)q2, sizeof(q2) - 1, NULL, 0);
	ws_mask_run(m, WS_RECV, 1 + sizeof(r1) - 1, true, sizeof(r2) - 1, (uint8_t *)r2, sizeof(r2) - 1, NULL, 0);
	CHECK(strstr(r2, "hello") == NULL && strstr(r2, "101 Switching"), "after a 101: %s", r2);
	char q3[] = "GET /after HTTP/1.1\r\n\r\n";
	ws_mask_run(m, WS_SEND, 5000, true, sizeof(q3) - 1, (uint8_t *)q3, sizeof(q3) - 1, NULL, 0);
	CHECK(strstr(q3, "after") == NULL, "after a 101, still kept: %s", q3);
	ws_mask_free(m);

	/* a body whose run went missing: the next run is body, masked, until
	 * one starts a request */
	m = ws_mask_new();
	char a[] = "POST /p HTTP/1.1\r\nContent-Length: 20\r\n\r\n0123456789";
	char b[] = "s3cr3t-tail\r\nGET /n?x=1 HTTP/1.1\r\n\r\n";
	char c[] = "GET /m?y=2 HTTP/1.1\r\n\r\n";
	ws_mask_run(m, WS_SEND, 1, true, sizeof(a) - 1, (uint8_t *)a, sizeof(a) - 1, NULL, 0);
	ws_mask_run(m, WS_SEND, 1 + sizeof(a) - 1 + 5, true, sizeof(b) - 1, (uint8_t *)b, sizeof(b) - 1, NULL, 0);
	CHECK(strspn(b, "*") == sizeof(b) - 1, "after a lost run: %s", b);
	ws_mask_run(m, WS_SEND, 1 + sizeof(a) - 1 + 5 + sizeof(b) - 1, true, sizeof(c) - 1, (uint8_t *)c, sizeof(c) - 1,
		    NULL, 0);
	CHECK_STR(c, "GET /m?y=* HTTP/1.1\r\n\r\n");
	ws_mask_free(m);
}

/* Random bytes, and random bytes after a valid start: nothing survives
 * but what the rules allow, and nothing crashes. */
static void test_garbage(void)
{
	static uint8_t junk[8192];
	uint64_t x = 0x9e3779b97f4a7c15ull;

	t_context = "garbage";
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(junk); i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			junk[i] = (uint8_t)x;
		}
		static uint8_t orig[sizeof(junk)];
		struct ws_mask *m = ws_mask_new();
		static const char *starts[] = {"GET / HTTP/1.1\r\nContent-Length: 100\r\n\r\n", "*3\r\n$3\r\nSET\r\n",
					       "HTTP/1.1 200 OK\r\n", "PING\r\n"};
		const char *s = starts[round % 4];
		size_t sl = strlen(s);
		memcpy(junk, s, sl);
		memcpy(orig, junk, sizeof(junk));
		uint32_t seq = 1, off = 0;
		while (off < sizeof(junk)) {
			uint32_t n = (uint32_t)WS_MIN(sizeof(junk) - off, 1 + (x >> 40) % 700);
			x = x * 6364136223846793005ull + 1;
			ws_mask_run(m, (x >> 60) & 1, seq + off, true, n, junk + off, n, NULL, 0);
			off += n;
		}
		ws_mask_free(m);
		size_t kept = 0;
		for (size_t i = sl; i < sizeof(junk); i++)
			kept += junk[i] == orig[i] && junk[i] != '*';
		CHECK(kept < sizeof(junk) / 100, "round %d (%s...): %zu random bytes kept", round, s, kept);
	}
}

int main(void)
{
	test_rules();
	test_framing();
	test_unknown_protocols();
	test_garbage();
	each_conv("tests/data/http", check_one, &(struct fmt){fmt_http});
	each_conv("tests/data/redis", check_one, &(struct fmt){fmt_redis});
	each_conv("tests/data/pg", check_one, &(struct fmt){fmt_pg, true});
	each_conv("tests/data/mysql", check_one, &(struct fmt){fmt_mysql, true, true});
	return t_summary("mask");
}
