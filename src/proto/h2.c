/* h2.c -- HTTP/2 (RFC 9113) and gRPC over it.
 *
 * One parser per connection, fed each direction's bytes in stream order.
 * It walks the frames (a 9-byte header, then the payload), follows each
 * stream by its id and reports a stream as an exchange when its response
 * ends (END_STREAM), or when either side resets it (RST_STREAM). Streams
 * are paired by id, never by order, so a lost record costs only what it
 * held.
 *
 * Header blocks (HEADERS and CONTINUATION, and PUSH_PROMISE, which must be
 * decoded to keep the table right) go through libnghttp2's HPACK inflater,
 * one per direction. HPACK's dynamic table is built from every header
 * block since the connection began, so a direction is decoded only when
 * its start was seen and no byte of it was lost since: the client's
 * connection preface, or for the server's direction the preface of its
 * client with nothing lost in either. Otherwise (a connection that
 * predates the recording, records lost, bytes not captured inside a header
 * block) the direction's headers are unknown for the rest of the
 * connection: its streams keep their ids, sizes and timing, and say that
 * their headers are unknown (ws_h2_info.headers_unknown), never a guess.
 *
 * When bytes are missing past a frame's end (a capture that kept only a
 * prefix, records lost), the frame chain is lost; it is found again at the
 * start of a later run whose captured bytes are wholly a chain of valid
 * frame headers (ws_h2_chain).
 *
 * gRPC: the method is the :path (/package.Service/Method), the status the
 * grpc-status of the trailers (or of a trailers-only response).
 * Secret-bearing headers are noted by name only, as for HTTP/1. */
#include "proto/h2.h"

#include <ctype.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/http1.h"
#include "proto/proto.h"
#include "proto/redact.h"
#include "proto/route.h"
#include "util/json.h"
#include "util/util.h"

#define STREAMS_MAX 512 /* streams followed at once per connection */
#define FRAME_MAX (1u << 24) /* the largest frame length a header can say */

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define PREFACE_LEN 24

enum { F_DATA = 0, F_HEADERS, F_PRIORITY, F_RST_STREAM, F_SETTINGS, F_PUSH_PROMISE, F_PING, F_GOAWAY,
       F_WINDOW_UPDATE, F_CONTINUATION };

#define FL_END_STREAM 0x1
#define FL_ACK 0x1
#define FL_END_HEADERS 0x4
#define FL_PADDED 0x8
#define FL_PRIORITY 0x20

enum dstate {
	D_START,   /* nothing parsed yet */
	D_PREFACE, /* inside the client's connection preface */
	D_HDR,     /* a frame header (9 bytes) */
	D_BODY,    /* a frame's payload */
	D_LOST,    /* the frame chain is lost until a run starts one */
};

struct h2_stream {
	uint32_t id;
	struct ws_msg req, resp;
	bool req_done, resp_seen, resp_done; /* its request began it: always seen */
	bool gap[2]; /* bytes of that direction were lost while it was open */
};

/* The header block being decoded in a direction. */
struct h2_block {
	bool open;
	uint32_t sid;
	bool end_stream; /* its HEADERS frame ended the stream's message */
	bool has_msg;    /* it describes its stream's message (blk_msg); a
			  * PUSH_PROMISE's is decoded for the table only */
};

struct h2_dir {
	enum dstate st;
	nghttp2_hd_inflater *hd;
	bool hd_ok;       /* the HPACK state is known */
	bool started;     /* bytes were fed */
	uint32_t pre_off; /* preface bytes matched */
	uint32_t table_max; /* the largest HPACK table allowed by its receiver */
	uint64_t frames;    /* frame headers read */
	uint8_t hdr[9];
	uint8_t nhdr;
	/* the run and offset where the frame being read began */
	struct ws_seg fseg;
	uint32_t foff;
	/* the frame */
	uint8_t type, flags;
	uint32_t sid, len;
	uint32_t left;     /* payload bytes not yet read */
	uint32_t pre_want; /* prefix bytes (pad length, priority, promised id) */
	uint32_t pre_got;
	uint8_t pre[6];
	uint32_t body;     /* bytes of data or header block after the prefix */
	uint8_t ctl[8];    /* a control frame's first bytes (SETTINGS: one entry) */
	uint32_t nctl;
	struct h2_block blk;
};

struct h2 {
	int req_dir;
	struct h2_dir d[2];
	struct h2_stream *streams; /* open, oldest first */
	unsigned nstreams, cap;
	uint32_t max_sid; /* the highest stream id a request opened */
	/* its sink is the parser's; it holds the streams open at the end, for
	 * conntrack's abort */
	struct ws_pairer pairer;
	bool mid; /* met in its middle: no HPACK anywhere */
};

/* ---- frame headers ---- */

static uint32_t be24(const uint8_t *p) { return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]; }
static uint32_t be32(const uint8_t *p) { return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]; }

/* Whether a frame header says what RFC 9113 allows (unknown types are
 * allowed and skipped). limit: the largest length taken as plausible. */
static bool frame_ok(const uint8_t *h, uint32_t limit)
{
	uint32_t len = be24(h), sid = be32(h + 5);
	uint8_t type = h[3], flags = h[4];

	if (len > limit || (sid & 0x80000000u))
		return false;
	switch (type) {
	case F_DATA:
	case F_HEADERS:
	case F_CONTINUATION:
		return sid != 0;
	case F_PUSH_PROMISE:
		return sid != 0 && len >= 4;
	case F_PRIORITY:
		return sid != 0 && len == 5;
	case F_RST_STREAM:
		return sid != 0 && len == 4;
	case F_SETTINGS:
		return sid == 0 && len % 6 == 0 && (!(flags & FL_ACK) || len == 0);
	case F_PING:
		return sid == 0 && len == 8;
	case F_GOAWAY:
		return sid == 0 && len >= 8;
	case F_WINDOW_UPDATE:
		return len == 4;
	default:
		return type <= 0x10; /* extensions known to be sent (ALTSVC, ORIGIN, PRIORITY_UPDATE) */
	}
}

/* An HPACK integer with an n-bit prefix at b[*i] (RFC 7541 5.1). */
static bool hp_int(const uint8_t *b, uint32_t n, uint32_t *i, unsigned bits, uint32_t *v)
{
	uint32_t max = (1u << bits) - 1, m = 0;

	if (*i >= n)
		return false;
	*v = b[(*i)++] & max;
	if (*v < max)
		return true;
	do {
		if (*i >= n || m > 21)
			return false;
		*v += (uint32_t)(b[*i] & 0x7f) << m;
		m += 7;
	} while (b[(*i)++] & 0x80);
	return true;
}

/* Skip an HPACK string literal at b[*i]. */
static bool hp_skip_string(const uint8_t *b, uint32_t n, uint32_t *i)
{
	uint32_t len;

	if (!hp_int(b, n, i, 7, &len) || len > n - *i)
		return false;
	*i += len;
	return true;
}

/* What a header block's pseudo-headers say it opens, read without the
 * dynamic table (its representations can be walked without it): 1 a
 * request (:authority, :method, :path or :scheme from the static table),
 * 2 a response (:status), 0 neither seen in b[0..n). */
static int block_kind(const uint8_t *b, uint32_t n)
{
	uint32_t i = 0, idx;

	while (i < n) {
		uint8_t c = b[i];
		unsigned bits = c & 0x80 ? 7 : (c & 0xc0) == 0x40 ? 6 : (c & 0xe0) == 0x20 ? 5 : 4;
		if (!hp_int(b, n, &i, bits, &idx))
			return 0;
		if (bits == 5) /* a table size update */
			continue;
		if (idx >= 1 && idx <= 7)
			return 1;
		if (idx >= 8 && idx <= 14)
			return 2;
		if (idx >= 15 && idx <= 61)
			return 0; /* a regular header: the pseudo-headers are over */
		if (!(c & 0x80)) { /* a literal: its name (when not indexed) and value */
			if (idx == 0 && !hp_skip_string(b, n, &i))
				return 0;
			if (!hp_skip_string(b, n, &i))
				return 0;
		}
	}
	return 0;
}

int ws_h2_chain(const uint8_t *d, uint32_t n, bool whole, int *headers)
{
	uint32_t off = 0;
	int frames = 0;

	if (headers)
		*headers = 0;
	while (off + 9 <= n) {
		const uint8_t *h = d + off;
		uint32_t len = be24(h);
		if (!frame_ok(h, 1u << 18))
			return 0;
		if (headers && !*headers && h[3] == F_HEADERS && (be32(h + 5) & 1)) {
			uint32_t skip = (h[4] & FL_PADDED ? 1 : 0) + (h[4] & FL_PRIORITY ? 5 : 0);
			if (skip < len && off + 9 + skip < n)
				*headers = block_kind(h + 9 + skip, WS_MIN(n - off - 9 - skip, len - skip));
		}
		frames++;
		off += 9 + len;
	}
	if (!frames)
		return 0;
	/* when the whole run is here, the chain must end where it ends */
	return whole && off != n ? 0 : frames;
}

int ws_h2_request_at(const uint8_t *d, uint32_t n)
{
	int hd;

	if (n && memcmp(d, preface, WS_MIN(n, PREFACE_LEN)) == 0)
		return n >= PREFACE_LEN ? 1 : -1;
	/* a connection met in its middle: frames whose first HEADERS opens a
	 * request with a pseudo-header of the static table */
	int c = ws_h2_chain(d, n, false, &hd);
	if (c > 0 && hd == 1)
		return 1;
	if (n < 9) { /* the start of a SETTINGS frame's header (a few entries)? */
		static const uint8_t settings[9] = {0, 0, 0, F_SETTINGS, 0, 0, 0, 0, 0};
		for (uint32_t i = 0; i < n; i++)
			if (i == 2 ? d[i] % 6 != 0 : d[i] != settings[i])
				return 0;
		return -1;
	}
	/* a server's preface (SETTINGS), which it may send before its client's
	 * arrives: wait, so that it reaches the parser when the client's does */
	return c > 0 && d[3] == F_SETTINGS && !(d[4] & FL_ACK) && !hd ? -1 : 0;
}

/* ---- streams ---- */

static struct h2_stream *stream_find(struct h2 *h, uint32_t id)
{
	for (unsigned i = 0; i < h->nstreams; i++)
		if (h->streams[i].id == id)
			return &h->streams[i];
	return NULL;
}

static struct h2_stream *stream_new(struct h2 *h, uint32_t id)
{
	if (h->nstreams == STREAMS_MAX)
		return NULL;
	if (h->nstreams == h->cap) { /* most connections hold a few at once */
		h->cap = h->cap ? h->cap * 2 : 4;
		h->streams = ws_realloc(h->streams, h->cap * sizeof(*h->streams));
	}
	struct h2_stream *s = &h->streams[h->nstreams++];
	memset(s, 0, sizeof(*s));
	s->id = id;
	return s;
}

static void stream_drop(struct h2 *h, struct h2_stream *s)
{
	unsigned i = (unsigned)(s - h->streams);

	/* keep creation order: a request's place is how its stream aged */
	memmove(&h->streams[i], &h->streams[i + 1], (h->nstreams - i - 1) * sizeof(*s));
	h->nstreams--;
}

/* The stream's response ended, or the stream was reset: report it. */
static void stream_report(struct h2 *h, struct h2_stream *s)
{
	struct ws_exchange x;

	memset(&x, 0, sizeof(x));
	x.req = s->req;
	x.resp = s->resp;
	if (!s->req_done)
		x.req.flags |= WS_MSGF_INCOMPLETE;
	if (!s->resp_done)
		x.resp.flags |= WS_MSGF_INCOMPLETE;
	x.req.u.h2.gap = s->gap[h->req_dir];
	x.resp.u.h2.gap = s->gap[!h->req_dir];
	if (h->pairer.sink.exchange)
		h->pairer.sink.exchange(h->pairer.sink.ctx, &x);
	stream_drop(h, s);
}

static void msg_begin(struct h2 *h, struct ws_msg *m, int dir, uint32_t sid)
{
	struct h2_dir *D = &h->d[dir];

	ws_msg_begin(m, WS_PROTO_H2, dir, &D->fseg, D->foff);
	m->u.h2.stream = sid;
	m->u.h2.grpc_status = -1;
	m->u.h2.headers_unknown = !D->hd_ok;
}

/* ---- header fields ---- */

static bool name_is(const nghttp2_nv *nv, const char *s)
{
	return nv->namelen == strlen(s) && memcmp(nv->name, s, nv->namelen) == 0;
}

/* The number v[0..n) (n at most 3) starts with; its leading digits only. */
static int digits(const char *v, size_t n)
{
	int x = 0;

	for (size_t i = 0; i < n && isdigit((unsigned char)v[i]); i++)
		x = x * 10 + (v[i] - '0');
	return x;
}

static void field(struct ws_msg *m, const nghttp2_nv *nv)
{
	struct ws_h2_info *hi = &m->u.h2;
	struct ws_http_info *ht = &hi->http;
	const char *v = (const char *)nv->value;
	size_t vn = nv->valuelen;

	if (name_is(nv, ":method")) {
		ws_copy_text(ht->method, sizeof(ht->method), nv->value, vn);
	} else if (name_is(nv, ":path")) {
		const char *q = memchr(v, '?', vn);
		size_t pn = q ? (size_t)(q - v) : vn;
		ws_redact_path(ht->path, sizeof(ht->path), v, pn);
		if (q)
			ws_redact_query(ht->query, sizeof(ht->query), q + 1, vn - pn - 1);
	} else if (name_is(nv, ":authority")) {
		ws_redact_host(ht->host, sizeof(ht->host), v, vn);
	} else if (name_is(nv, ":scheme")) {
		hi->https = vn == 5 && memcmp(v, "https", 5) == 0;
	} else if (name_is(nv, ":status")) {
		ht->status = vn == 3 ? digits(v, vn) : 0;
	} else if (name_is(nv, "content-type")) {
		ws_copy_text(ht->content_type, sizeof(ht->content_type), nv->value, vn);
		if (vn >= 16 && memcmp(v, "application/grpc", 16) == 0 && (vn == 16 || v[16] == '+' || v[16] == ';'))
			hi->grpc = true;
	} else if (name_is(nv, "grpc-status")) {
		hi->grpc_status = vn && vn <= 2 ? digits(v, vn) : -1;
	} else if (name_is(nv, "user-agent")) {
		ws_copy_text(ht->user_agent, sizeof(ht->user_agent), nv->value, vn);
	} else if (name_is(nv, "traceparent")) {
		ws_copy_text(ht->traceparent, sizeof(ht->traceparent), nv->value, vn);
	} else if (name_is(nv, "authorization")) {
		ht->redacted |= WS_HDR_AUTHORIZATION;
	} else if (name_is(nv, "proxy-authorization")) {
		ht->redacted |= WS_HDR_PROXY_AUTHORIZATION;
	} else if (name_is(nv, "cookie")) {
		ht->redacted |= WS_HDR_COOKIE;
	} else if (name_is(nv, "set-cookie")) {
		ht->redacted |= WS_HDR_SET_COOKIE;
	} else if (ws_redact_header_kept((const char *)nv->name, nv->namelen)) {
		ws_http_keep_header(ht, (const char *)nv->name, nv->namelen, nv->value, vn);
	}
}

/* The message the header block being read in dir describes, or NULL (a
 * stream not followed, a PUSH_PROMISE's block). Found by id each time:
 * streams move in their table. */
static struct ws_msg *blk_msg(struct h2 *h, int dir)
{
	const struct h2_block *b = &h->d[dir].blk;
	struct h2_stream *s = b->open && b->has_msg ? stream_find(h, b->sid) : NULL;

	if (!s)
		return NULL;
	return dir == h->req_dir ? &s->req : &s->resp;
}

/* The header block of m being read could not be decoded: what it had
 * given is dropped (fields read from a table that proved wrong may be
 * wrong too). Its first block is its headers; a later one its trailers. */
static void block_unknown(struct ws_msg *m)
{
	struct ws_h2_info *hi = &m->u.h2;

	if (hi->blocks > 1) {
		hi->trailers_unknown = true;
		hi->grpc_status = -1;
		return;
	}
	memset(&hi->http, 0, sizeof(hi->http));
	hi->grpc = hi->https = false;
	hi->grpc_status = -1;
	hi->headers_unknown = true;
}

/* The HPACK state of dir is no longer known. */
static void hpack_lost(struct h2 *h, int dir)
{
	struct h2_dir *D = &h->d[dir];

	D->hd_ok = false;
	struct ws_msg *m = blk_msg(h, dir);
	if (m)
		block_unknown(m);
}

/* Decode header block bytes p[0..n) of dir; final: the block ends here. */
static void block_bytes(struct h2 *h, int dir, const uint8_t *p, uint32_t n, bool final)
{
	struct h2_dir *D = &h->d[dir];

	if (!D->hd_ok)
		return;
	if (!D->hd && nghttp2_hd_inflate_new(&D->hd) != 0) {
		D->hd = NULL;
		hpack_lost(h, dir);
		return;
	}
	static const uint8_t none[1];
	if (!p)
		p = none; /* the end of a block: no bytes */
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t r = nghttp2_hd_inflate_hd2(D->hd, &nv, &fl, p, n, final);
		if (r < 0) {
			hpack_lost(h, dir);
			return;
		}
		p += r;
		n -= (uint32_t)r;
		struct ws_msg *m = fl & NGHTTP2_HD_INFLATE_EMIT ? blk_msg(h, dir) : NULL;
		if (m)
			field(m, &nv);
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(D->hd);
			return;
		}
		if (!(fl & NGHTTP2_HD_INFLATE_EMIT) && n == 0)
			return;
	}
}

/* ---- frames ---- */

static void lose(struct h2 *h, int dir)
{
	struct h2_dir *D = &h->d[dir];

	/* what the lost bytes held of the streams open then is not known: a
	 * response's header block, DATA, the END_STREAM */
	for (unsigned i = 0; i < h->nstreams; i++)
		if (dir == h->req_dir ? !h->streams[i].req_done : !h->streams[i].resp_done)
			h->streams[i].gap[dir] = true;
	hpack_lost(h, dir);
	D->blk.open = false;
	D->st = D_LOST;
	D->nhdr = 0;
	ws_pairer_gap(&h->pairer, dir == h->req_dir);
}

/* A message of dir on stream sid (HEADERS or DATA): the stream's request
 * or response, begun if new. NULL: not one followed. */
static struct ws_msg *frame_msg(struct h2 *h, int dir, uint32_t sid, bool headers)
{
	struct h2_stream *s = stream_find(h, sid);

	if (dir == h->req_dir) {
		if (!s) {
			/* only a new request's HEADERS opens a stream: ids of a
			 * client's streams are odd, and grow (a lower one is the
			 * trailers of a request answered already) */
			if (!headers || !(sid & 1) || sid <= h->max_sid)
				return NULL;
			h->max_sid = sid;
			struct ws_msg m;
			msg_begin(h, &m, dir, sid);
			if (!(s = stream_new(h, sid))) { /* too many at once: counted */
				if (h->pairer.sink.unmatched)
					h->pairer.sink.unmatched(h->pairer.sink.ctx, &m);
				return NULL;
			}
			s->req = m;
		}
		return s->req_done ? NULL : &s->req;
	}
	if (!s)
		return NULL; /* a response to a request not seen, or a pushed stream */
	if (!s->resp_seen) {
		msg_begin(h, &s->resp, dir, sid);
		s->resp_seen = true;
		if (!headers) /* its header block was not seen */
			s->resp.u.h2.headers_unknown = true;
	}
	return s->resp_done ? NULL : &s->resp;
}

/* The message m of stream sid in dir ended with the frame (END_STREAM). */
static void msg_end(struct h2 *h, int dir, uint32_t sid, const struct ws_seg *seg)
{
	struct h2_stream *s = stream_find(h, sid);

	if (!s)
		return;
	if (dir == h->req_dir) {
		s->req_done = true;
		ws_msg_touch(&s->req, seg);
	} else {
		s->resp_done = true;
		ws_msg_touch(&s->resp, seg);
		stream_report(h, s);
	}
}

static void rst_stream(struct h2 *h, int dir, uint32_t sid, uint32_t code, const struct ws_seg *seg)
{
	struct h2_stream *s = stream_find(h, sid);
	struct h2_dir *D = &h->d[dir];

	if (!s)
		return;
	if (!s->resp_seen) { /* the reset is the answer */
		ws_msg_begin(&s->resp, WS_PROTO_H2, !h->req_dir, &D->fseg, D->foff);
		s->resp.u.h2.stream = sid;
		s->resp.u.h2.grpc_status = -1;
		s->resp.bytes = 13;
		if (dir == h->req_dir) { /* the client's frame: no place in the responses' bytes */
			s->resp.seq = 0;
			s->resp.flags |= WS_MSGF_NOSEQ;
		}
		s->resp_seen = true;
	} else {
		ws_msg_touch(&s->resp, seg);
	}
	s->resp.u.h2.rst = true;
	s->resp.u.h2.rst_code = code;
	s->resp.u.h2.rst_by_client = dir == h->req_dir;
	stream_report(h, s);
}

static void settings_entry(struct h2 *h, int dir, const uint8_t *e)
{
	uint16_t id = (uint16_t)(e[0] << 8 | e[1]);
	uint32_t v = be32(e + 2);
	struct h2_dir *O = &h->d[!dir];

	/* SETTINGS_HEADER_TABLE_SIZE: the most the other side's encoder may
	 * use. Only a rise is applied: a smaller size takes effect when the
	 * encoder says so in a block (a table size update), which the inflater
	 * follows. */
	if (id != 1 || !O->hd_ok || v <= O->table_max)
		return;
	if (!O->hd && nghttp2_hd_inflate_new(&O->hd) != 0) {
		O->hd = NULL;
		hpack_lost(h, !dir);
		return;
	}
	if (nghttp2_hd_inflate_change_table_size(O->hd, v) != 0)
		hpack_lost(h, !dir);
	O->table_max = v;
}

/* A frame header was read: check it and set up its payload. */
static void frame_start(struct h2 *h, int dir, const struct ws_seg *seg)
{
	struct h2_dir *D = &h->d[dir];
	const uint8_t *x = D->hdr;

	if (!frame_ok(x, FRAME_MAX - 1)) {
		lose(h, dir);
		return;
	}
	D->len = D->left = be24(x);
	D->type = x[3];
	D->flags = x[4];
	D->sid = be32(x + 5);
	/* each side's preface ends with (the server's is) a SETTINGS frame:
	 * anything else first means its start was not seen */
	if (!D->frames++ && (D->type != F_SETTINGS || (D->flags & FL_ACK)))
		hpack_lost(h, dir);
	D->pre_got = D->nctl = 0;
	D->pre_want = 0;
	if (D->blk.open && (D->type != F_CONTINUATION || D->sid != D->blk.sid)) {
		lose(h, dir); /* a header block must go on in CONTINUATION frames */
		return;
	}
	if (!D->blk.open && D->type == F_CONTINUATION) {
		lose(h, dir);
		return;
	}
	struct ws_msg *m = NULL;
	switch (D->type) {
	case F_DATA:
		D->pre_want = D->flags & FL_PADDED ? 1 : 0;
		m = frame_msg(h, dir, D->sid, false);
		break;
	case F_HEADERS:
		D->pre_want = (D->flags & FL_PADDED ? 1 : 0) + (D->flags & FL_PRIORITY ? 5 : 0);
		m = frame_msg(h, dir, D->sid, true);
		/* a second block of a message is its trailers (a 1xx response's
		 * block is not counted: see frame_end) */
		if (m && m->u.h2.blocks++)
			m->u.h2.trailers = true;
		D->blk = (struct h2_block){.open = true, .sid = D->sid, .end_stream = D->flags & FL_END_STREAM, .has_msg = m != NULL};
		if (m && !D->hd_ok)
			block_unknown(m);
		break;
	case F_PUSH_PROMISE:
		D->pre_want = (D->flags & FL_PADDED ? 1 : 0) + 4;
		D->blk = (struct h2_block){.open = true, .sid = D->sid};
		break;
	case F_CONTINUATION:
		m = blk_msg(h, dir);
		break;
	default:
		break;
	}
	if (D->pre_want > D->len) {
		lose(h, dir);
		return;
	}
	D->body = D->pre_want ? 0 : D->len; /* set when the prefix is read */
	if (m) {
		m->bytes += 9 + D->len;
		ws_msg_touch(m, seg);
	}
	D->st = D_BODY;
}

/* The frame's payload was all read (or skipped). */
static void frame_end(struct h2 *h, int dir, const struct ws_seg *seg)
{
	struct h2_dir *D = &h->d[dir];

	D->st = D_HDR;
	switch (D->type) {
	case F_DATA:
		if (D->flags & FL_END_STREAM)
			msg_end(h, dir, D->sid, seg);
		break;
	case F_HEADERS:
	case F_PUSH_PROMISE:
	case F_CONTINUATION: {
		if (!(D->flags & FL_END_HEADERS))
			break;
		block_bytes(h, dir, NULL, 0, true);
		struct ws_msg *m = blk_msg(h, dir);
		/* an informational response (1xx) is not the response: the next
		 * block is its header block, not its trailers */
		if (m && dir != h->req_dir && m->u.h2.http.status >= 100 && m->u.h2.http.status < 200 &&
		    !D->blk.end_stream) {
			m->u.h2.http.status = 0;
			m->u.h2.blocks = 0;
		}
		D->blk.open = false;
		if (D->blk.end_stream && D->blk.has_msg)
			msg_end(h, dir, D->blk.sid, seg);
		D->blk.has_msg = false;
		break;
	}
	case F_RST_STREAM:
		if (D->nctl == 4)
			rst_stream(h, dir, D->sid, be32(D->ctl), seg);
		break;
	default:
		break;
	}
}

/* Payload bytes p[0..n) of the current frame. */
static void payload(struct h2 *h, int dir, const uint8_t *p, uint32_t n)
{
	struct h2_dir *D = &h->d[dir];

	while (n && D->pre_got < D->pre_want) {
		D->pre[D->pre_got++] = *p++;
		n--;
		if (D->pre_got == D->pre_want) {
			uint32_t pad = D->flags & FL_PADDED ? D->pre[0] : 0;
			if (D->pre_want + pad > D->len) {
				lose(h, dir);
				return;
			}
			D->body = D->len - D->pre_want - pad;
		}
	}
	if (D->pre_got < D->pre_want)
		return;
	/* the bytes read so far of the payload, past the prefix */
	uint32_t done = D->len - D->left - n - D->pre_want, k;
	if (done >= D->body)
		return; /* padding */
	k = WS_MIN(n, D->body - done);
	switch (D->type) {
	case F_DATA: {
		struct h2_stream *s = stream_find(h, D->sid);
		if (s)
			(dir == h->req_dir ? &s->req : &s->resp)->body_bytes += k;
		break;
	}
	case F_HEADERS:
	case F_PUSH_PROMISE:
	case F_CONTINUATION:
		block_bytes(h, dir, p, k, false);
		break;
	case F_SETTINGS:
		for (uint32_t i = 0; i < k; i++) {
			D->ctl[D->nctl++] = p[i];
			if (D->nctl == 6) {
				settings_entry(h, dir, D->ctl);
				D->nctl = 0;
			}
		}
		break;
	case F_RST_STREAM:
		for (uint32_t i = 0; i < k && D->nctl < 4; i++)
			D->ctl[D->nctl++] = p[i];
		break;
	default:
		break;
	}
}

static void bytes(struct h2 *h, int dir, const uint8_t *p, uint32_t n, const struct ws_seg *seg, uint32_t off)
{
	struct h2_dir *D = &h->d[dir];

	while (n) {
		switch (D->st) {
		case D_START:
		case D_LOST:
			return;
		case D_PREFACE: {
			uint32_t k = WS_MIN(n, PREFACE_LEN - D->pre_off);
			if (memcmp(p, preface + D->pre_off, k) != 0) {
				lose(h, dir);
				return;
			}
			D->pre_off += k;
			p += k, n -= k, off += k;
			if (D->pre_off == PREFACE_LEN)
				D->st = D_HDR;
			break;
		}
		case D_HDR: {
			if (!D->nhdr) {
				D->fseg = *seg;
				D->fseg.head = D->fseg.tail = NULL;
				D->fseg.head_len = D->fseg.tail_len = 0;
				D->foff = off;
			}
			uint32_t k = WS_MIN(n, 9u - D->nhdr);
			memcpy(D->hdr + D->nhdr, p, k);
			D->nhdr += k;
			p += k, n -= k, off += k;
			if (D->nhdr == 9) {
				D->nhdr = 0;
				frame_start(h, dir, seg);
				if (D->st == D_BODY && D->left == 0)
					frame_end(h, dir, seg);
			}
			break;
		}
		case D_BODY: {
			uint32_t k = WS_MIN(n, D->left);
			D->left -= k;
			payload(h, dir, p, k);
			if (D->st != D_BODY)
				return; /* lost inside */
			p += k, n -= k, off += k;
			if (D->left == 0)
				frame_end(h, dir, seg);
			break;
		}
		}
	}
}

/* n bytes of dir were not captured. */
static void gap(struct h2 *h, int dir, uint64_t n)
{
	struct h2_dir *D = &h->d[dir];

	if (!n || D->st == D_LOST || D->st == D_START)
		return;
	if (D->st == D_BODY && n <= D->left && D->pre_got == D->pre_want) {
		/* inside the payload: count through it */
		uint32_t done = D->len - D->left - D->pre_want;
		if (D->type == F_DATA) {
			struct h2_stream *s = stream_find(h, D->sid);
			uint64_t data = done < D->body ? WS_MIN(n, (uint64_t)(D->body - done)) : 0;
			if (s)
				(dir == h->req_dir ? &s->req : &s->resp)->body_bytes += data;
		} else if (D->type == F_HEADERS || D->type == F_CONTINUATION || D->type == F_PUSH_PROMISE) {
			hpack_lost(h, dir);
		} else if (D->type == F_SETTINGS) {
			hpack_lost(h, !dir); /* a table size may have been in it */
		}
		D->left -= (uint32_t)n;
		return;
	}
	lose(h, dir);
}

/* Whether a run's captured bytes start a frame chain certain enough to
 * follow: all of them when they are the whole run, else at least two
 * frame headers. */
static bool run_starts_chain(const struct ws_seg *seg)
{
	bool whole = seg->head_len == seg->len;
	int n = seg->head_len >= 9 ? ws_h2_chain(seg->head, seg->head_len, whole, NULL) : 0;

	return whole ? n > 0 : n >= 2;
}

/* The first bytes of a direction: the client's preface, or (a connection
 * met in its middle, or the server's side) a frame header. */
static void dir_start(struct h2 *h, int dir, const struct ws_seg *seg)
{
	struct h2_dir *D = &h->d[dir];

	D->started = true;
	if (dir == h->req_dir && seg->head[0] == 'P' && !seg->gap_before) {
		D->st = D_PREFACE;
		D->hd_ok = true;
		return;
	}
	if (dir == h->req_dir) { /* met in its middle: no HPACK either way */
		h->mid = true;
		hpack_lost(h, !dir);
	}
	/* a server's direction is decoded from its start when its first frame
	 * is its preface (SETTINGS, checked in frame_start), nothing of it was
	 * lost, and its client's first bytes are the client's preface (it may
	 * come first: then the server's start is still to be confirmed) */
	D->hd_ok = dir != h->req_dir && !seg->gap_before && !h->mid;
	D->st = D_HDR;
	if (!D->hd_ok && !run_starts_chain(seg)) {
		D->st = D_LOST;
		D->hd_ok = false;
	}
}

static void h2_feed(void *st, int dir, const struct ws_seg *seg)
{
	struct h2 *h = st;
	struct h2_dir *D = &h->d[dir];

	if (!D->started) {
		if (!seg->head_len)
			return;
		dir_start(h, dir, seg);
	} else if (seg->gap_before) {
		lose(h, dir);
	}
	if (D->st == D_LOST) {
		/* a run that starts a chain of frames finds the way back */
		if (!run_starts_chain(seg))
			return;
		D->st = D_HDR;
		D->nhdr = 0;
	}
	if (seg->head_len)
		bytes(h, dir, seg->head, seg->head_len, seg, 0);
	gap(h, dir, seg->len - seg->head_len - seg->tail_len);
	if (seg->tail_len && D->st != D_LOST)
		bytes(h, dir, seg->tail, seg->tail_len, seg, seg->len - seg->tail_len);
}

static void h2_eof(void *st, int dir)
{
	struct h2 *h = st;

	/* responses cut short by the end of their connection: their status
	 * is known, their end is not */
	if (dir == h->req_dir)
		return;
	for (unsigned i = 0; i < h->nstreams;) {
		struct h2_stream *s = &h->streams[i];
		if (s->resp_seen) {
			stream_report(h, s);
			continue;
		}
		i++;
	}
}

static void h2_finish(void *st)
{
	struct h2 *h = st;

	/* requests still waiting: the pairer reports them as aborted when the
	 * connection closed (or counts them, when records were lost) */
	for (unsigned i = 0; i < h->nstreams; i++)
		ws_msgq_push(&h->pairer.pending, &h->streams[i].req, NULL);
	h->nstreams = 0;
}

static void *h2_create(int req_dir, const struct proto_sink *sink)
{
	struct h2 *h = ws_calloc(1, sizeof(*h));

	h->req_dir = req_dir;
	ws_pairer_init(&h->pairer, sink, STREAMS_MAX);
	h->d[0].table_max = h->d[1].table_max = 4096; /* RFC 9113's initial value */
	return h;
}

static void h2_destroy(void *st)
{
	struct h2 *h = st;

	if (!h)
		return;
	for (int i = 0; i < 2; i++)
		if (h->d[i].hd)
			nghttp2_hd_inflate_del(h->d[i].hd);
	free(h->streams);
	ws_pairer_free(&h->pairer);
	free(h);
}

static unsigned h2_pending(void *st)
{
	struct h2 *h = st;

	return h->pairer.pending.len + h->nstreams;
}

static struct ws_pairer *h2_pairer(void *st) { return &((struct h2 *)st)->pairer; }

/* ---- spans ---- */

static const char *const grpc_codes[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
	"PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

static const char *const h2_errors[] = {
	"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT",
	"STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL", "COMPRESSION_ERROR",
	"CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED",
};

/* Whether a gRPC status is an error of the server's (OpenTelemetry: on a
 * server span only these are; on a client span every status but OK). */
static bool grpc_server_error(int st)
{
	return st == 2 || st == 4 || st == 12 || st == 13 || st == 14 || st == 15;
}

/* The gRPC service and method of a :path "/package.Service/Method". */
static bool grpc_split(const char *path, char *svc, size_t sn, char *method, size_t mn)
{
	const char *slash;

	if (path[0] != '/' || !(slash = strchr(path + 1, '/')) || slash == path + 1 || !slash[1] ||
	    strchr(slash + 1, '/'))
		return false;
	snprintf(svc, sn, "%.*s", (int)(slash - path - 1), path + 1);
	snprintf(method, mn, "%s", slash + 1);
	return true;
}

static void h2_span_fields(const struct ws_exchange *x, bool client, struct ws_span_fields *s, struct ws_json *a)
{
	const struct ws_h2_info *q = &x->req.u.h2, *r = &x->resp.u.h2;
	const struct ws_http_info *rq = &q->http, *rs = &r->http;
	char svc[128], method[128];
	bool grpc = q->grpc || r->grpc;
	int grpc_status = x->aborted ? -1 : r->grpc_status; /* no response: no status */

	ws_strlcpy(s->method, rq->method, sizeof(s->method));
	ws_strlcpy(s->target, rq->path, sizeof(s->target));
	ws_strlcpy(s->query, rq->query, sizeof(s->query));
	s->status = rs->status;
	wj_kstr(a, "network.protocol.version", "2");
	wj_kuint(a, "wirespan.h2.stream_id", q->stream);
	if (q->headers_unknown)
		wj_kbool(a, "wirespan.h2.request_headers_unknown", true);
	if (r->headers_unknown)
		wj_kbool(a, "wirespan.h2.response_headers_unknown", true);
	if (q->trailers_unknown)
		wj_kbool(a, "wirespan.h2.request_trailers_unknown", true);
	if (r->trailers_unknown)
		wj_kbool(a, "wirespan.h2.response_trailers_unknown", true);
	if (grpc && grpc_split(rq->path, svc, sizeof(svc), method, sizeof(method))) {
		snprintf(s->name, sizeof(s->name), "%s/%s", svc, method);
		wj_kstr(a, "rpc.system", "grpc");
		wj_kstr(a, "rpc.service", svc);
		wj_kstr(a, "rpc.method", method);
		if (grpc_status >= 0) {
			wj_kint(a, "rpc.grpc.status_code", grpc_status);
			if (grpc_status && (client || grpc_server_error(grpc_status)))
				snprintf(s->error, sizeof(s->error), "%s",
					 grpc_status < (int)WS_ARRAY_SIZE(grpc_codes) ? grpc_codes[grpc_status] : "grpc_status");
		}
	} else if (rq->method[0]) {
		char route[sizeof(rq->path)];
		ws_route_template(route, sizeof(route), rq->path);
		snprintf(s->name, sizeof(s->name), "%s %s", rq->method, route);
		if (strcmp(route, rq->path) != 0)
			wj_kstr(a, "url.template", route);
	} else {
		snprintf(s->name, sizeof(s->name), "HTTP"); /* OpenTelemetry's name when the method is not known */
	}
	if (!s->error[0] && (rs->status >= 500 || (client && rs->status >= 400)))
		snprintf(s->error, sizeof(s->error), "%d", rs->status);
	if (r->rst) {
		const char *e = r->rst_code < WS_ARRAY_SIZE(h2_errors) ? h2_errors[r->rst_code] : "unknown";
		wj_kstr(a, "wirespan.h2.reset", e);
		wj_kstr(a, "wirespan.h2.reset_by", r->rst_by_client ? "client" : "server");
		if (!s->error[0] && (r->rst_code || !r->http.status))
			snprintf(s->error, sizeof(s->error), "%s", e);
	}
	if (q->https)
		wj_kstr(a, "url.scheme", "https");
	ws_http_attrs(rq, rs, s, a);
	if (q->trailers)
		wj_kbool(a, "wirespan.h2.request_trailers", true);
	/* bytes of its direction were lost while the message was open: its
	 * sizes are lower bounds */
	if (q->gap)
		wj_kbool(a, "wirespan.h2.request_bytes_lost", true);
	if (r->gap)
		wj_kbool(a, "wirespan.h2.response_bytes_lost", true);
}

static const struct proto_span h2_span = {
	.fields = h2_span_fields,
	.net_name = "http",
	.method_attr = "http.request.method",
	.target_attr = "url.path",
	.query_attr = "url.query",
	.status_attr = "http.response.status_code",
	.req_body_attr = "http.request.body.size",
	.resp_body_attr = "http.response.body.size",
};

const struct proto_ops ws_h2_ops = {
	.id = WS_PROTO_H2,
	.name = "http2",
	.span = &h2_span,
	.create = h2_create,
	.feed = h2_feed,
	.eof = h2_eof,
	.finish = h2_finish,
	.destroy = h2_destroy,
	.pending = h2_pending,
	.pairer = h2_pairer,
};
