/* harness.h -- a small test harness and the conversation replayer.
 *
 * Conversation files (tests/data/PROTO/NAME.conv) hold recorded byte streams:
 *
 *   # comment
 *   > GET / HTTP/1.1\r\n          client-to-server bytes (escapes: \r \n \t \\ \xHH)
 *   > Host: a\r\n\r\n             consecutive lines in one direction form one segment
 *   -                             ends a segment without changing direction
 *   < HTTP/1.1 200 OK\r\n ...      server-to-client bytes
 *   .                             the server closes (EOF at the client)
 *   = GET / 200 req=0 resp=5      an expected exchange, in order
 *
 * A conversation is replayed through the real pipeline (conntrack, protocol
 * detection, parser) as synthetic events, from the client's side and from
 * the server's side, as recorded, split at every byte offset, one byte at a
 * time and with only a prefix of each segment captured; every replay must
 * give exactly the expected exchanges. */
#ifndef WIRESPAN_TEST_HARNESS_H
#define WIRESPAN_TEST_HARNESS_H

/* not every test uses every helper */
#pragma GCC diagnostic ignored "-Wunused-function"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mask.h"
#include "proto/proto.h"
#include "span/span.h"
#include "stream/conntrack.h"
#include "util/util.h"

static int t_checks, t_failed;
static const char *t_context = "";

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		t_checks++;                                                                        \
		if (!(cond)) {                                                                     \
			t_failed++;                                                                \
			fprintf(stderr, "FAIL %s:%d [%s] ", __FILE__, __LINE__, t_context);       \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
		}                                                                                  \
	} while (0)

#define CHECK_STR(got, want) CHECK(strcmp((got), (want)) == 0, "got '%s', want '%s'", (got), (want))
#define CHECK_INT(got, want)                                                                       \
	CHECK((long long)(got) == (long long)(want), "%s: got %lld, want %lld", #got, (long long)(got), \
	      (long long)(want))

static int t_summary(const char *name)
{
	printf("%s: %d checks, %d failed\n", name, t_checks, t_failed);
	return t_failed ? 1 : 0;
}

/* ---- conversations ---- */

#define CONV_CLIENT 0 /* bytes from client to server */
#define CONV_SERVER 1
#define CONV_EOF 2    /* server closed */

struct conv_seg {
	int from; /* CONV_CLIENT, CONV_SERVER or CONV_EOF */
	uint8_t *data;
	uint32_t len;
};

struct conv {
	char name[256];
	struct conv_seg segs[512];
	int nsegs;
	char expect[256][256];
	int nexpect;
};

/* A whole file in memory (malloc'd; *n its length, 0 when unreadable). */
static uint8_t *t_slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *d = NULL;
	long len;

	*n = 0;
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
		d = malloc((size_t)len);
		if (d && fread(d, 1, (size_t)len, f) == (size_t)len)
			*n = (size_t)len;
	}
	fclose(f);
	return d;
}

static int unescape(const char *s, uint8_t *out)
{
	int n = 0;

	while (*s && *s != '\n') {
		if (*s == '\\' && s[1]) {
			s++;
			switch (*s) {
			case 'r': out[n++] = '\r'; s++; break;
			case 'n': out[n++] = '\n'; s++; break;
			case 't': out[n++] = '\t'; s++; break;
			case '\\': out[n++] = '\\'; s++; break;
			case 'x': {
				unsigned v;
				sscanf(s + 1, "%2x", &v);
				out[n++] = (uint8_t)v;
				s += 3;
				break;
			}
			default: out[n++] = '\\'; break;
			}
		} else {
			out[n++] = (uint8_t)*s++;
		}
	}
	return n;
}

static void conv_add(struct conv *c, int from, const uint8_t *d, int n, int *open)
{
	struct conv_seg *sg;

	if (*open && c->segs[c->nsegs - 1].from == from) {
		sg = &c->segs[c->nsegs - 1];
	} else {
		sg = &c->segs[c->nsegs++];
		sg->from = from;
		sg->data = NULL;
		sg->len = 0;
		*open = 1;
	}
	sg->data = ws_realloc(sg->data, sg->len + n + 1);
	memcpy(sg->data + sg->len, d, n);
	sg->len += n;
}

static int conv_load(const char *path, struct conv *c)
{
	FILE *f = fopen(path, "r");
	char line[65536];
	uint8_t buf[65536];
	int open = 0;

	memset(c, 0, sizeof(*c));
	if (!f)
		return -1;
	ws_strlcpy(c->name, path, sizeof(c->name));
	while (fgets(line, sizeof(line), f)) {
		if (line[0] == '>' || line[0] == '<') {
			const char *p = line + 1;
			if (*p == ' ')
				p++;
			int n = unescape(p, buf);
			conv_add(c, line[0] == '>' ? CONV_CLIENT : CONV_SERVER, buf, n, &open);
		} else if (line[0] == '-') {
			open = 0;
		} else if (line[0] == '.') {
			c->segs[c->nsegs].from = CONV_EOF;
			c->segs[c->nsegs].len = 0;
			c->segs[c->nsegs].data = NULL;
			c->nsegs++;
			open = 0;
		} else if (line[0] == '=') {
			const char *p = line + 1;
			while (*p == ' ')
				p++;
			ws_strlcpy(c->expect[c->nexpect], p, sizeof(c->expect[0]));
			c->expect[c->nexpect][strcspn(c->expect[c->nexpect], "\n")] = 0;
			c->nexpect++;
		}
	}
	fclose(f);
	return 0;
}

static void conv_free(struct conv *c)
{
	for (int i = 0; i < c->nsegs; i++)
		free(c->segs[i].data);
}

/* ---- masking a conversation as --save-events does ---- */

/* How the masker is handed the runs. */
struct cut {
	uint32_t step; /* 0: each segment one run; else runs of step bytes */
	int split_seg; /* -1, or the segment cut in two at split_at */
	uint32_t split_at;
	uint32_t cap; /* 0: all captured; else a prefix of cap bytes and a 64-byte tail */
	int skip_run; /* -1, or a run the masker never sees (lost), masked whole here */
	bool header_runs; /* each segment's first 4 bytes a run of their own (a packet header read alone) */
};

/* m = c with its bytes masked run by run, seen from side. Bytes never
 * captured become '#'. */
static void mask_conv(const struct conv *c, struct conv *m, int side, const struct cut *k)
{
	struct ws_mask *mk = ws_mask_new();
	uint32_t seq[2] = {1000, 5000000};
	int run = 0;

	*m = *c;
	for (int i = 0; i < c->nsegs; i++) {
		const struct conv_seg *sg = &c->segs[i];
		struct conv_seg *ms = &m->segs[i];
		ms->data = NULL;
		if (sg->from == CONV_EOF)
			continue;
		ms->data = ws_malloc(sg->len + 1);
		memcpy(ms->data, sg->data, sg->len);
		int dir = sg->from == side ? WS_SEND : WS_RECV;
		for (uint32_t off = 0; off < sg->len;) {
			uint32_t n = k->step ? WS_MIN(k->step, sg->len - off) : sg->len - off;
			if (i == k->split_seg && off == 0 && k->split_at > 0 && k->split_at < sg->len)
				n = k->split_at;
			if (k->header_runs && off == 0 && sg->len > 4)
				n = 4;
			uint8_t *p = ms->data + off;
			uint32_t head = n, tail = 0;
			if (k->cap && n > k->cap) {
				head = k->cap;
				tail = WS_MIN(64, n - k->cap);
				memset(p + head, '#', n - head - tail);
			}
			if (run++ == k->skip_run)
				memset(p, '*', n);
			else
				ws_mask_run(mk, dir, seq[sg->from], true, n, p, head, p + n - tail, tail);
			seq[sg->from] += n;
			off += n;
		}
	}
	ws_mask_free(mk);
}

static void free_masked(struct conv *m)
{
	for (int i = 0; i < m->nsegs; i++)
		free(m->segs[i].data);
}

/* ---- an exchange as the .conv files' "=" lines write it ---- */

static inline void fmt_http(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_http_info *q = &x->req.u.http, *r = &x->resp.u.http;
	int o = snprintf(out, n, "%s %s %d req=%llu resp=%llu", q->method, q->path, r->status,
			 (unsigned long long)x->req.body_bytes, (unsigned long long)x->resp.body_bytes);

	if (q->query[0])
		o += snprintf(out + o, n - o, " query=%s", q->query);
	if (q->redacted | r->redacted)
		o += snprintf(out + o, n - o, " redacted=%d", q->redacted | r->redacted);
	if (r->status >= 500)
		o += snprintf(out + o, n - o, " error=%d", r->status);
	if ((x->req.flags | x->resp.flags) & WS_MSGF_FRAMING_LOST)
		o += snprintf(out + o, n - o, " lost");
	if ((x->req.flags | x->resp.flags) & WS_MSGF_INCOMPLETE)
		snprintf(out + o, n - o, " incomplete");
}

static inline void fmt_redis(char *out, size_t n, const struct ws_exchange *x)
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
		o += snprintf(out + o, n - o, " lost");
	if (x->req.flags & WS_MSGF_BLOCKING)
		snprintf(out + o, n - o, " blocking");
}

static inline void fmt_pg(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_pg_info *q = &x->req.u.pg, *r = &x->resp.u.pg;
	bool lost = (x->req.flags | x->resp.flags) & WS_MSGF_FRAMING_LOST;
	int o = snprintf(out, n, "%s %s", q->op[0] ? q->op : "-", q->collection[0] ? q->collection : "-");

	if (r->skipped)
		o += snprintf(out + o, n - o, " skipped");
	else if (r->error)
		o += snprintf(out + o, n - o, " err=%s", r->sqlstate);
	else if (lost && !r->rows_from_tag)
		o += snprintf(out + o, n - o, " rows=?");
	else
		o += snprintf(out + o, n - o, " rows=%llu", (unsigned long long)r->rows);
	if (r->tag[0])
		o += snprintf(out + o, n - o, " tag=%s", r->tag);
	if (lost)
		o += snprintf(out + o, n - o, " lost");
	if (x->aborted)
		o += snprintf(out + o, n - o, " aborted");
	if (q->stmt_unknown)
		o += snprintf(out + o, n - o, " unknown");
	if (q->query_cut)
		o += snprintf(out + o, n - o, " cut");
	snprintf(out + o, n - o, " | %s", q->query);
}

static inline void fmt_mysql(char *out, size_t n, const struct ws_exchange *x)
{
	const struct ws_mysql_info *q = &x->req.u.mysql, *r = &x->resp.u.mysql;
	bool lost = (x->req.flags | x->resp.flags) & WS_MSGF_FRAMING_LOST;
	int o = snprintf(out, n, "%s %s", q->op[0] ? q->op : "-", q->collection[0] ? q->collection : "-");

	if (r->error)
		o += snprintf(out + o, n - o, " err=%u/%s", r->error_code, r->sqlstate);
	else if (lost)
		o += snprintf(out + o, n - o, " rows=?");
	else
		o += snprintf(out + o, n - o, " sets=%u rows=%llu affected=%llu", r->results, (unsigned long long)r->rows,
			      (unsigned long long)r->affected);
	if (lost)
		o += snprintf(out + o, n - o, " lost");
	if (x->aborted)
		o += snprintf(out + o, n - o, " aborted");
	if (q->stmt_unknown)
		o += snprintf(out + o, n - o, " unknown");
	if (q->query_cut)
		o += snprintf(out + o, n - o, " cut");
	o += snprintf(out + o, n - o, " db=%s", q->db[0] ? q->db : "-");
	snprintf(out + o, n - o, " | %s", q->query);
}

/* ---- replay ---- */

struct replay_out {
	char got[512][256];
	int n;
	struct ws_span spans[64]; /* the first spans, for field checks */
	void (*format)(char *out, size_t n, const struct ws_exchange *x);
};

static void replay_on_exchange(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	struct replay_out *o = ctx;

	if (o->n < 64)
		ws_span_from_exchange(&o->spans[o->n], c, x, "test");
	if (o->n < 512)
		o->format(o->got[o->n], sizeof(o->got[0]), x);
	o->n++;
}

struct replay_opts {
	int side;        /* CONV_CLIENT: record at the client; CONV_SERVER: at the server */
	int split_seg;   /* -1, or the segment to split in two at split_at */
	uint32_t split_at;
	int bytewise;    /* every byte its own segment */
	uint32_t cap;    /* 0: capture everything; else a prefix of cap bytes (+ 64-byte tail) */
	int no_open;     /* the connection predates the recording: no connect/accept */
};

/* Feed one segment as a DATA event, of which the first `captured` bytes
 * were copied (UINT32_MAX: as o->cap says, a prefix and a 64-byte tail). */
static void feed_seg_captured(struct conntrack *ct, const struct replay_opts *o, int from, const uint8_t *d,
			      uint32_t len, uint32_t captured, uint32_t seq, uint64_t t)
{
	struct ws_event ev = {0};
	uint8_t a[4] = {10, 0, 0, 1}, b[4] = {10, 0, 0, 2};

	ev.kind = WS_EV_DATA;
	ev.conn_id = 42;
	ev.pid = ev.tid = o->side == CONV_CLIENT ? 100 : 200;
	strcpy(ev.comm, o->side == CONV_CLIENT ? "client" : "server");
	/* the local side sends what it originates */
	ev.dir = (from == o->side) ? WS_SEND : WS_RECV;
	ev.t_enter = t;
	ev.t_exit = t + 10;
	ev.seq = seq;
	ev.len = len;
	ev.head = d;
	ev.head_len = len;
	if (captured != UINT32_MAX) {
		ev.head_len = captured;
	} else if (o->cap && len > o->cap) {
		ev.head_len = o->cap;
		uint32_t tail = WS_MIN(64, len - o->cap);
		ev.tail = d + len - tail;
		ev.tail_len = tail;
	}
	if (o->side == CONV_CLIENT) {
		ws_endpoint_set(&ev.local, AF_INET, a, 40000);
		ws_endpoint_set(&ev.peer, AF_INET, b, 80);
	} else {
		ws_endpoint_set(&ev.local, AF_INET, b, 80);
		ws_endpoint_set(&ev.peer, AF_INET, a, 40000);
	}
	ct_event(ct, &ev);
}

static void feed_seg(struct conntrack *ct, const struct replay_opts *o, int from, const uint8_t *d, uint32_t len,
		     uint32_t seq, uint64_t t)
{
	feed_seg_captured(ct, o, from, d, len, UINT32_MAX, seq, t);
}

static void feed_eof(struct conntrack *ct, const struct replay_opts *o, uint64_t t)
{
	struct ws_event ev = {0};

	ev.kind = WS_EV_DATA;
	ev.conn_id = 42;
	ev.dir = WS_RECV;
	ev.flags = WS_EVF_EOF;
	ev.t_enter = ev.t_exit = t;
	if (o->side == CONV_CLIENT) /* the client reads EOF */
		ct_event(ct, &ev);
	ev.kind = WS_EV_STATE;
	ev.newstate = WS_TCP_CLOSE;
	ct_event(ct, &ev);
}

static void replay(const struct conv *c, const struct replay_opts *o, struct replay_out *out)
{
	struct ct_config cfg = {.close_grace = 1};
	struct ct_sink sink = {.exchange = replay_on_exchange, .ctx = out};
	struct conntrack *ct = ct_new(&cfg, &sink);
	uint32_t seq[2] = {1000, 5000000};
	uint64_t t = 1000000;

	out->n = 0;
	if (!o->no_open) { /* the connect() or accept() of the connection */
		struct ws_event open = {.kind = WS_EV_OPEN, .conn_id = 42, .t_enter = t, .t_exit = t};
		open.role = o->side == CONV_CLIENT ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
		ct_event(ct, &open);
	}
	for (int i = 0; i < c->nsegs; i++) {
		const struct conv_seg *sg = &c->segs[i];
		if (sg->from == CONV_EOF) {
			feed_eof(ct, o, t += 1000);
			continue;
		}
		uint32_t step = sg->len;
		if (o->bytewise)
			step = 1;
		for (uint32_t off = 0; off < sg->len;) {
			uint32_t n = WS_MIN(step, sg->len - off);
			if (i == o->split_seg && off == 0 && o->split_at > 0 && o->split_at < sg->len)
				n = o->split_at;
			feed_seg(ct, o, sg->from, sg->data + off, n, seq[sg->from], t += 1000);
			seq[sg->from] += n;
			off += n;
		}
	}
	ct_advance(ct, UINT64_MAX / 2);
	ct_free(ct);
}

static int compare_out(const struct conv *c, const struct replay_out *out, const char *how)
{
	int bad = 0;

	t_checks++;
	if (out->n != c->nexpect)
		bad = 1;
	for (int i = 0; !bad && i < c->nexpect; i++)
		if (strcmp(out->got[i], c->expect[i]) != 0)
			bad = 1;
	if (bad) {
		t_failed++;
		fprintf(stderr, "FAIL %s (%s): %d exchanges, want %d\n", c->name, how, out->n, c->nexpect);
		for (int i = 0; i < WS_MAX(out->n, c->nexpect) && i < 512; i++)
			fprintf(stderr, "   got  %-50s want %s\n", i < out->n ? out->got[i] : "-",
				i < c->nexpect ? c->expect[i] : "-");
	}
	return bad;
}

/* Replay a conversation every way; returns failures. */
static int replay_all(const struct conv *c, void (*format)(char *, size_t, const struct ws_exchange *),
		      bool with_cap)
{
	static struct replay_out out;
	char how[128];
	int bad = 0;

	out.format = format;
	for (int side = CONV_CLIENT; side <= CONV_SERVER; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(c, &o, &out);
		snprintf(how, sizeof(how), "%s side, as recorded", side ? "server" : "client");
		if (compare_out(c, &out, how))
			return 1; /* the rest would fail the same way */
		o.bytewise = 1;
		replay(c, &o, &out);
		snprintf(how, sizeof(how), "%s side, byte by byte", side ? "server" : "client");
		bad += compare_out(c, &out, how);
		o.bytewise = 0;
		for (int i = 0; i < c->nsegs && !bad; i++) {
			for (uint32_t k = 1; k < c->segs[i].len; k++) {
				o.split_seg = i;
				o.split_at = k;
				replay(c, &o, &out);
				snprintf(how, sizeof(how), "%s side, segment %d split at %u", side ? "server" : "client", i,
					 k);
				if (compare_out(c, &out, how)) {
					bad++;
					break;
				}
			}
		}
		if (with_cap) {
			/* only a prefix of each segment captured, as in the kernel */
			o.split_seg = -1;
			o.cap = 256;
			replay(c, &o, &out);
			snprintf(how, sizeof(how), "%s side, 256-byte capture", side ? "server" : "client");
			bad += compare_out(c, &out, how);
		}
	}
	return bad;
}

/* b is a (as a cut capture shows it): the same, or with the operation,
 * the table or the error code unknown ('-', 'err=?'), never different */
static bool same_or_vaguer(const char *a, const char *b)
{
	char fa[3][64] = {"", "", ""}, fb[3][64] = {"", "", ""};

	sscanf(a, "%63s %63s %63s", fa[0], fa[1], fa[2]);
	sscanf(b, "%63s %63s %63s", fb[0], fb[1], fb[2]);
	for (int i = 0; i < 3; i++)
		if (strcmp(fa[i], fb[i]) != 0 && strcmp(fb[i], "-") != 0 && strcmp(fb[i], "err=?") != 0)
			return false;
	return true;
}

/* A conversation replayed with only a prefix (and a 64-byte tail) of
 * each write captured, 16, 64 and 256 bytes: every exchange it gives must
 * be one the whole capture gives, in the same order, with at most its
 * operation, table or error code unknown. ctx: a struct short_format,
 * whose first three words are the operation, the table and the outcome. */
struct short_format {
	void (*format)(char *, size_t, const struct ws_exchange *);
};

static void check_capped(const struct conv *c, const char *path, void *ctx)
{
	static struct replay_out full, cut;
	static const uint32_t caps[] = {16, 64, 256};

	(void)path;
	full.format = cut.format = ((const struct short_format *)ctx)->format;
	for (int side = 0; side < 2; side++) {
		struct replay_opts o = {.side = side, .split_seg = -1};
		replay(c, &o, &full);
		for (size_t k = 0; k < WS_ARRAY_SIZE(caps); k++) {
			o.cap = caps[k];
			replay(c, &o, &cut);
			int j = 0;
			for (int i = 0; i < cut.n; i++) {
				while (j < full.n && !same_or_vaguer(full.got[j], cut.got[i]))
					j++;
				CHECK(j < full.n, "%s side, %u-byte capture: exchange %d '%s' is not one of the %d the whole "
				      "capture gives", side ? "server" : "client", caps[k], i, cut.got[i], full.n);
				j++;
			}
		}
	}
}

/* Call fn for every .conv file in dir, loaded (t_context names it). */
static void each_conv(const char *dir, void (*fn)(const struct conv *c, const char *path, void *ctx), void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	static struct conv c;
	char path[1024];
	int files = 0;

	CHECK(d != NULL, "cannot open %s", dir);
	if (!d)
		return;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".conv") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		CHECK(conv_load(path, &c) == 0, "cannot read %s", path);
		t_context = e->d_name;
		fn(&c, path, ctx);
		conv_free(&c);
		files++;
	}
	closedir(d);
	t_context = "";
	CHECK(files > 0, "no conversations in %s", dir);
}

struct replay_dir_ctx {
	void (*format)(char *, size_t, const struct ws_exchange *);
	bool with_cap;
};

static void replay_one(const struct conv *c, const char *path, void *ctx)
{
	const struct replay_dir_ctx *r = ctx;

	(void)path;
	replay_all(c, r->format, r->with_cap);
}

/* Run every .conv file in dir. */
static inline void replay_dir(const char *dir, void (*format)(char *, size_t, const struct ws_exchange *),
			      bool with_cap)
{
	struct replay_dir_ctx r = {format, with_cap};

	each_conv(dir, replay_one, &r);
}

#endif
