/* http1.c -- HTTP/1.0 and HTTP/1.1 parser.
 *
 * One parser per connection, fed each direction's bytes in stream order.
 * It follows message framing as RFC 9112 section 6 defines it: chunked
 * bodies, Content-Length, bodies delimited by the end of the connection,
 * no body after HEAD or for 1xx/204/304, tunnels after 101 and CONNECT.
 * Informational (1xx) responses are skipped. Requests are paired with
 * responses first-in first-out, which also covers pipelining.
 *
 * Bytes may be missing (only a prefix of each syscall is captured): inside a
 * body of known length a gap is simply counted; elsewhere the parser marks
 * the message WS_MSGF_FRAMING_LOST and ends it at the next sign of a
 * boundary: a segment that starts with a start line, the other side
 * starting a message, or the end of the connection.
 *
 * Secret-bearing headers (Authorization, Proxy-Authorization, Cookie,
 * Set-Cookie) are noted by name only; their values are never copied out,
 * and a line holding one is wiped from the parser's buffer after use.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/http1.h"
#include "proto/redact.h"
#include "proto/route.h"
#include "util/json.h"
#include "util/util.h"

#define LINE_MAX_BYTES 8192
#define PENDING_MAX 64

enum hstate {
	H_IDLE,       /* between messages */
	H_HEAD,       /* start line and header fields */
	H_BODY_LEN,   /* Content-Length body */
	H_CHUNK_SIZE, /* chunk-size line */
	H_CHUNK_DATA,
	H_CHUNK_CRLF, /* CRLF after chunk data */
	H_TRAILER,    /* trailer fields after the last chunk */
	H_BODY_EOF,   /* body ends with the connection */
	H_LOST,       /* framing unknown until a boundary is seen */
	H_TUNNEL,     /* not HTTP any more */
};

struct h1_dir {
	enum hstate st;
	bool first_line;
	bool in_msg;
	struct ws_line line;
	uint64_t remaining;
	int64_t content_length; /* -1: none */
	bool chunked, te_other;
	struct ws_msg cur;
};

struct h1 {
	int req_dir;
	struct h1_dir d[2];
	struct ws_pairer pairer;
	bool tunnel_after; /* the response being parsed opens a tunnel */
};

static void complete(struct h1 *h, int dir, const struct ws_seg *seg);

/* ---- small text helpers ---- */

static bool hdr_is(const char *name, size_t n, const char *want) { return ws_strcaseeq_n(name, n, want); }

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t')) {
		(*s)++;
		(*n)--;
	}
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
		(*n)--;
}

/* ---- start lines and headers ---- */

static bool parse_version(const char *s, size_t n, uint8_t *minor)
{
	if (n != 8 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1'))
		return false;
	*minor = s[7] - '0';
	return true;
}

static bool parse_request_line(struct ws_http_info *hi, const char *l, size_t n)
{
	const char *sp1 = memchr(l, ' ', n), *target, *sp2;
	size_t tn;

	if (!sp1 || sp1 == l || (size_t)(sp1 - l) >= sizeof(hi->method))
		return false;
	for (const char *p = l; p < sp1; p++)
		if (!isupper((unsigned char)*p) && *p != '-' && *p != '_')
			return false;
	memcpy(hi->method, l, sp1 - l);
	hi->method[sp1 - l] = 0;
	target = sp1 + 1;
	sp2 = memrchr(target, ' ', n - (target - l));
	if (!sp2 || !parse_version(sp2 + 1, n - (sp2 + 1 - l), &hi->version_minor))
		return false;
	tn = sp2 - target;
	/* absolute-form: keep the path of http://host/path */
	if (tn > 7 && (strncasecmp(target, "http://", 7) == 0 || strncasecmp(target, "https://", 8) == 0)) {
		const char *p = memchr(target + 8, '/', tn - 8);
		if (p) {
			tn -= p - target;
			target = p;
		} else {
			target = "/";
			tn = 1;
		}
	}
	const char *q = memchr(target, '?', tn);
	size_t pn = q ? (size_t)(q - target) : tn;
	ws_redact_path(hi->path, sizeof(hi->path), target, pn);
	if (q)
		ws_redact_query(hi->query, sizeof(hi->query), q + 1, tn - pn - 1);
	return true;
}

static bool parse_status_line(struct ws_http_info *hi, const char *l, size_t n)
{
	if (n < 12 || !parse_version(l, 8, &hi->version_minor) || l[8] != ' ')
		return false;
	if (!isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]))
		return false;
	if (n > 12 && l[12] != ' ')
		return false;
	hi->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
	return true;
}

static void header(struct h1_dir *D, bool is_req, const char *l, size_t n)
{
	const char *colon = memchr(l, ':', n), *v;
	size_t nn, vn;
	struct ws_http_info *hi = &D->cur.u.http;

	if (!colon)
		return;
	nn = colon - l;
	v = colon + 1;
	vn = n - nn - 1;
	trim(&v, &vn);
	if (hdr_is(l, nn, "content-length")) {
		int64_t cl = 0;
		if (vn == 0 || vn > 18)
			return;
		for (size_t i = 0; i < vn; i++) {
			if (!isdigit((unsigned char)v[i]))
				return;
			cl = cl * 10 + (v[i] - '0');
		}
		D->content_length = cl;
	} else if (hdr_is(l, nn, "transfer-encoding")) {
		/* chunked must be the final coding */
		const char *last = v;
		size_t ln = vn;
		const char *c = memrchr(v, ',', vn);
		if (c) {
			last = c + 1;
			ln = vn - (c + 1 - v);
			trim(&last, &ln);
		}
		if (ws_strcaseeq_n(last, ln, "chunked"))
			D->chunked = hi->chunked = true;
		else
			D->te_other = true;
	} else if (hdr_is(l, nn, "authorization")) {
		hi->redacted |= WS_HDR_AUTHORIZATION;
		D->line.wipe = true;
	} else if (hdr_is(l, nn, "proxy-authorization")) {
		hi->redacted |= WS_HDR_PROXY_AUTHORIZATION;
		D->line.wipe = true;
	} else if (hdr_is(l, nn, "cookie")) {
		hi->redacted |= WS_HDR_COOKIE;
		D->line.wipe = true;
	} else if (hdr_is(l, nn, "set-cookie")) {
		hi->redacted |= WS_HDR_SET_COOKIE;
		D->line.wipe = true;
	} else if (hdr_is(l, nn, "content-type")) {
		ws_copy_text(hi->content_type, sizeof(hi->content_type), (const uint8_t *)v, vn);
	} else if (is_req && hdr_is(l, nn, "host")) {
		ws_redact_host(hi->host, sizeof(hi->host), v, vn);
	} else if (is_req && hdr_is(l, nn, "user-agent")) {
		ws_copy_text(hi->user_agent, sizeof(hi->user_agent), (const uint8_t *)v, vn);
	} else if (is_req && hdr_is(l, nn, "traceparent")) {
		ws_copy_text(hi->traceparent, sizeof(hi->traceparent), (const uint8_t *)v, vn);
	} else if (ws_redact_header_kept(l, nn)) { /* allowed on purpose (--keep-header) */
		ws_http_keep_header(hi, l, nn, (const uint8_t *)v, vn);
	}
}

void ws_http_keep_header(struct ws_http_info *hi, const char *name, size_t nn, const uint8_t *v, size_t vn)
{
	size_t used = 0;

	while (used < sizeof(hi->kept) && hi->kept[used]) /* "name\0value\0" pairs */
		used += strlen(hi->kept + used) + 1, used += strlen(hi->kept + used) + 1;
	if (used + nn + 2 >= sizeof(hi->kept))
		return;
	for (size_t i = 0; i < nn; i++)
		hi->kept[used + i] = (char)tolower((unsigned char)name[i]);
	hi->kept[used + nn] = 0;
	ws_copy_text(hi->kept + used + nn + 1, sizeof(hi->kept) - used - nn - 2, v, vn);
}

/* A header line too long to keep: only its name is looked at, so that a
 * secret-bearing one is still marked and wiped. */
static void long_header(struct h1_dir *D, const char *l, size_t n)
{
	static const struct {
		const char *name;
		uint8_t bit;
	} secret[] = {
		{"authorization:", WS_HDR_AUTHORIZATION},
		{"proxy-authorization:", WS_HDR_PROXY_AUTHORIZATION},
		{"cookie:", WS_HDR_COOKIE},
		{"set-cookie:", WS_HDR_SET_COOKIE},
	};

	for (size_t i = 0; i < WS_ARRAY_SIZE(secret); i++) {
		size_t k = strlen(secret[i].name);
		if (n >= k && strncasecmp(l, secret[i].name, k) == 0) {
			D->cur.u.http.redacted |= secret[i].bit;
			D->line.wipe = true;
		}
	}
}

/* ---- state changes ---- */

static void begin(struct h1 *h, int dir, const struct ws_seg *seg, uint32_t off);

/* Framing is lost in dir: keep the message open (its end will be guessed)
 * unless not even its start line was read. */
static void lose(struct h1 *h, int dir)
{
	struct h1_dir *D = &h->d[dir];

	if (D->in_msg) {
		if (D->st == H_HEAD && D->first_line) {
			D->in_msg = false;
			ws_pairer_unmatched(&h->pairer, &D->cur);
		} else {
			D->cur.flags |= WS_MSGF_FRAMING_LOST;
			if (D->st == H_HEAD)
				D->cur.flags |= WS_MSGF_HEAD_CUT;
		}
	}
	D->st = H_LOST;
	D->line.wipe = true; /* a held part of a line could be a secret header */
	ws_line_done(&D->line);
}

/* End a message whose framing was lost at the last bytes seen of it. */
static void end_lost(struct h1 *h, int dir)
{
	struct h1_dir *D = &h->d[dir];

	if (D->st == H_LOST && D->in_msg) {
		struct ws_seg last = {.t_enter = D->cur.t_last_enter, .t_exit = D->cur.t_last_exit};
		complete(h, dir, &last);
		D->st = H_LOST;
	}
}

/* The request being received, once its start line is known. */
static const struct ws_msg *request_in_progress(struct h1 *h)
{
	const struct h1_dir *R = &h->d[h->req_dir];

	return R->in_msg && !(R->st == H_HEAD && R->first_line) ? &R->cur : NULL;
}

static void complete(struct h1 *h, int dir, const struct ws_seg *seg)
{
	struct h1_dir *D = &h->d[dir];

	ws_msg_touch(&D->cur, seg);
	D->in_msg = false;
	D->st = H_IDLE;
	if (dir == h->req_dir) {
		ws_pairer_request(&h->pairer, &D->cur);
	} else {
		ws_pairer_response(&h->pairer, &D->cur, request_in_progress(h));
		if (h->tunnel_after) {
			h->d[0].st = h->d[1].st = H_TUNNEL;
			h->d[h->req_dir].in_msg = false;
		}
	}
}

static void begin(struct h1 *h, int dir, const struct ws_seg *seg, uint32_t off)
{
	struct h1_dir *D = &h->d[dir];
	struct h1_dir *O = &h->d[!dir];

	/* the other side starting a message ends one of unknown length */
	if (O->st == H_LOST && O->in_msg)
		end_lost(h, !dir);
	ws_msg_begin(&D->cur, WS_PROTO_HTTP1, dir, seg, off);
	D->in_msg = true;
	D->st = H_HEAD;
	D->first_line = true;
	D->content_length = -1;
	D->chunked = D->te_other = false;
	ws_line_done(&D->line);
	if (dir != h->req_dir)
		h->tunnel_after = false;
}

static void end_of_head(struct h1 *h, int dir, const struct ws_seg *seg)
{
	struct h1_dir *D = &h->d[dir];

	if (dir == h->req_dir) {
		if (D->te_other && !D->chunked)
			lose(h, dir); /* a request body whose length we cannot know */
		else if (D->chunked)
			D->st = H_CHUNK_SIZE;
		else if (D->content_length > 0) {
			D->st = H_BODY_LEN;
			D->remaining = D->content_length;
		} else
			complete(h, dir, seg);
		return;
	}

	int status = D->cur.u.http.status;
	const struct ws_msg *req = ws_pairer_next(&h->pairer, request_in_progress(h));
	const char *method = req ? req->u.http.method : "";

	if (status >= 100 && status < 200 && status != 101) {
		D->in_msg = false; /* informational: the final response follows */
		D->st = H_IDLE;
		return;
	}
	if (status == 101 || (strcmp(method, "CONNECT") == 0 && status >= 200 && status < 300)) {
		h->tunnel_after = true;
		complete(h, dir, seg);
	} else if (strcmp(method, "HEAD") == 0 || status == 204 || status == 304) {
		complete(h, dir, seg);
	} else if (D->chunked) {
		D->st = H_CHUNK_SIZE;
	} else if (D->content_length >= 0 && !D->te_other) {
		if (D->content_length == 0)
			complete(h, dir, seg);
		else {
			D->st = H_BODY_LEN;
			D->remaining = D->content_length;
		}
	} else {
		D->st = H_BODY_EOF;
	}
}

static bool parse_chunk_size(const char *l, uint32_t n, uint64_t *size)
{
	uint64_t v = 0;
	uint32_t i = 0;

	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	uint32_t start = i;
	for (; i < n && isxdigit((unsigned char)l[i]); i++) {
		if (v >> 56)
			return false;
		v = v * 16 + (isdigit((unsigned char)l[i]) ? l[i] - '0' : (tolower((unsigned char)l[i]) - 'a' + 10));
	}
	if (i == start)
		return false;
	while (i < n && (l[i] == ' ' || l[i] == '\t'))
		i++;
	if (i < n && l[i] != ';')
		return false;
	*size = v;
	return true;
}

/* Consume known bytes p[0..n) at offset off of seg. */
static void bytes(struct h1 *h, int dir, const uint8_t *p, uint32_t n, const struct ws_seg *seg, uint32_t off)
{
	struct h1_dir *D = &h->d[dir];
	uint32_t i = 0;

	while (i < n) {
		uint32_t used = 0, len;
		const char *line;

		switch (D->st) {
		case H_IDLE:
			if (p[i] == '\r' || p[i] == '\n') {
				i++;
				continue;
			}
			begin(h, dir, seg, off + i);
			continue;
		case H_HEAD:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			if (D->first_line) {
				bool ok = !D->line.too_long &&
					  (dir == h->req_dir ? parse_request_line(&D->cur.u.http, line, len)
							     : parse_status_line(&D->cur.u.http, line, len));
				D->first_line = false;
				ws_line_done(&D->line);
				if (!ok) {
					D->cur.bytes += used;
					D->first_line = true; /* nothing worth reporting */
					lose(h, dir);
					i += used;
					continue;
				}
			} else if (len == 0) {
				ws_line_done(&D->line);
				D->cur.bytes += used;
				i += used;
				end_of_head(h, dir, seg);
				continue;
			} else {
				if (!D->line.too_long)
					header(D, dir == h->req_dir, line, len);
				else
					long_header(D, line, len); /* note (and wipe) secrets */
				ws_line_done(&D->line);
			}
			break;
		case H_BODY_LEN:
		case H_CHUNK_DATA:
			used = D->remaining < n - i ? (uint32_t)D->remaining : n - i;
			D->remaining -= used;
			D->cur.body_bytes += used;
			if (D->remaining == 0) {
				D->cur.bytes += used;
				i += used;
				if (D->st == H_BODY_LEN)
					complete(h, dir, seg);
				else
					D->st = H_CHUNK_CRLF;
				continue;
			}
			break;
		case H_CHUNK_SIZE:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			{
				uint64_t size;
				bool ok = !D->line.too_long && parse_chunk_size(line, len, &size);
				ws_line_done(&D->line);
				D->cur.bytes += used;
				i += used;
				if (!ok)
					lose(h, dir);
				else if (size == 0)
					D->st = H_TRAILER;
				else {
					D->remaining = size;
					D->st = H_CHUNK_DATA;
				}
			}
			continue;
		case H_CHUNK_CRLF:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			ws_line_done(&D->line);
			D->cur.bytes += used;
			i += used;
			if (len != 0)
				lose(h, dir);
			else
				D->st = H_CHUNK_SIZE;
			continue;
		case H_TRAILER:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			ws_line_done(&D->line);
			D->cur.bytes += used;
			i += used;
			if (len == 0)
				complete(h, dir, seg);
			continue;
		case H_BODY_EOF:
			used = n - i;
			D->cur.body_bytes += used;
			break;
		case H_LOST:
		case H_TUNNEL:
			used = n - i;
			break;
		}
		if (D->in_msg) {
			D->cur.bytes += used;
			ws_msg_touch(&D->cur, seg);
		}
		i += used;
	}
}

/* n bytes whose content was not captured. */
static void gap(struct h1 *h, int dir, uint64_t n, const struct ws_seg *seg)
{
	struct h1_dir *D = &h->d[dir];

	if (!n)
		return;
	switch (D->st) {
	case H_BODY_LEN:
	case H_CHUNK_DATA: {
		uint64_t k = WS_MIN(D->remaining, n);
		D->remaining -= k;
		D->cur.body_bytes += k;
		D->cur.bytes += k;
		ws_msg_touch(&D->cur, seg);
		n -= k;
		if (D->remaining == 0) {
			if (D->st == H_BODY_LEN)
				complete(h, dir, seg);
			else
				D->st = H_CHUNK_CRLF;
		}
		if (n)
			lose(h, dir); /* the next boundary is somewhere in the gap */
		return;
	}
	case H_BODY_EOF:
		D->cur.body_bytes += n;
		D->cur.bytes += n;
		ws_msg_touch(&D->cur, seg);
		return;
	case H_LOST:
	case H_TUNNEL:
		if (D->in_msg) {
			D->cur.bytes += n;
			ws_msg_touch(&D->cur, seg);
		}
		return;
	default:
		lose(h, dir);
		if (D->in_msg) {
			D->cur.bytes += n;
			ws_msg_touch(&D->cur, seg);
		}
		return;
	}
}

static bool starts_message(struct h1 *h, int dir, const struct ws_seg *seg)
{
	if (dir == h->req_dir)
		return ws_proto_detect_request(seg->head, seg->head_len, NULL) == WS_PROTO_HTTP1;
	return ws_proto_looks_like_response(WS_PROTO_HTTP1, seg->head, seg->head_len);
}

static void h1_feed(void *st, int dir, const struct ws_seg *seg)
{
	struct h1 *h = st;
	struct h1_dir *D = &h->d[dir];

	if (D->st == H_TUNNEL)
		return;
	if (seg->gap_before)
		ws_pairer_gap(&h->pairer, dir == h->req_dir);
	if (seg->gap_before && D->st != H_LOST && D->st != H_BODY_EOF)
		lose(h, dir);
	if (D->st == H_LOST && seg->head_len && starts_message(h, dir, seg)) {
		end_lost(h, dir);
		D->st = H_IDLE;
	}
	if (seg->head_len)
		bytes(h, dir, seg->head, seg->head_len, seg, 0);
	gap(h, dir, seg->len - seg->head_len - seg->tail_len, seg);
	if (seg->tail_len)
		bytes(h, dir, seg->tail, seg->tail_len, seg, seg->len - seg->tail_len);
}

static void h1_eof(void *st, int dir)
{
	struct h1 *h = st;
	struct h1_dir *D = &h->d[dir];

	if (D->st == H_BODY_EOF && D->in_msg) {
		struct ws_seg last = {.t_enter = D->cur.t_last_enter, .t_exit = D->cur.t_last_exit};
		complete(h, dir, &last);
	} else if (D->st == H_LOST && D->in_msg) {
		end_lost(h, dir);
	} else if (dir != h->req_dir && D->in_msg && D->st != H_TUNNEL && !(D->st == H_HEAD && D->first_line)) {
		/* a response cut short by the end of its connection: its status
		 * is known, its end is not */
		struct ws_seg last = {.t_enter = D->cur.t_last_enter, .t_exit = D->cur.t_last_exit};
		D->cur.flags |= WS_MSGF_INCOMPLETE;
		complete(h, dir, &last);
	}
}

static void h1_finish(void *st)
{
	struct h1 *h = st;

	/* Messages cut by framing loss end where their bytes ended; those still
	 * following their framing did not complete and are not reported. */
	h1_eof(h, h->req_dir);
	if (h->d[!h->req_dir].st == H_LOST)
		h1_eof(h, !h->req_dir);
}

static void *h1_create(int req_dir, const struct proto_sink *sink)
{
	struct h1 *h = ws_calloc(1, sizeof(*h));

	h->req_dir = req_dir;
	ws_pairer_init(&h->pairer, sink, PENDING_MAX);
	h->d[0].st = h->d[1].st = H_IDLE;
	h->d[0].line.max = h->d[1].line.max = LINE_MAX_BYTES;
	return h;
}

static void h1_destroy(void *st)
{
	struct h1 *h = st;

	if (!h)
		return;
	for (int i = 0; i < 2; i++)
		ws_line_free(&h->d[i].line);
	ws_pairer_free(&h->pairer);
	free(h);
}

static unsigned h1_pending(void *st)
{
	struct h1 *h = st;

	return h->pairer.pending.len + h->d[0].in_msg + h->d[1].in_msg;
}

static struct ws_pairer *h1_pairer(void *st) { return &((struct h1 *)st)->pairer; }

/* ---- spans ---- */

void ws_http_attrs(const struct ws_http_info *rq, const struct ws_http_info *rs, struct ws_span_fields *s,
		   struct ws_json *a)
{
	static const struct {
		unsigned bit;
		const char *req_attr, *resp_attr;
	} secrets[] = {
		{WS_HDR_AUTHORIZATION, "http.request.header.authorization", NULL},
		{WS_HDR_PROXY_AUTHORIZATION, "http.request.header.proxy-authorization", NULL},
		{WS_HDR_COOKIE, "http.request.header.cookie", NULL},
		{WS_HDR_SET_COOKIE, NULL, "http.response.header.set-cookie"},
	};

	if (rq->host[0])
		wj_kstr(a, "http.request.header.host", rq->host);
	if (rq->user_agent[0])
		wj_kstr(a, "user_agent.original", rq->user_agent);
	if (rq->content_type[0])
		wj_kstr(a, "http.request.header.content-type", rq->content_type);
	if (rs->content_type[0])
		wj_kstr(a, "http.response.header.content-type", rs->content_type);
	if (rq->traceparent[0]) {
		wj_kstr(a, "traceparent", rq->traceparent);
		ws_strlcpy(s->traceparent, rq->traceparent, sizeof(s->traceparent));
	}
	/* headers kept on purpose (--keep-header), request and response */
	for (int d = 0; d < 2; d++) {
		const char *k = d ? rs->kept : rq->kept;
		char key[320];
		for (size_t i = 0; i < sizeof(rq->kept) && k[i];) {
			const char *name = k + i, *value = name + strlen(name) + 1;
			snprintf(key, sizeof(key), "http.%s.header.%s", d ? "response" : "request", name);
			wj_kstr(a, key, value);
			i = (size_t)(value - k) + strlen(value) + 1;
		}
	}
	for (size_t i = 0; i < WS_ARRAY_SIZE(secrets); i++) {
		const char *name = secrets[i].req_attr ? secrets[i].req_attr : secrets[i].resp_attr;
		uint8_t bits = secrets[i].req_attr ? rq->redacted : rs->redacted;
		if (bits & secrets[i].bit)
			wj_kstr(a, name, "[REDACTED]");
	}
}

/* The name is the method and the route (route.h), not the path: names are
 * what spans are grouped, searched and counted by, and a path holds ids.
 * The path stays in url.path; url.template says the route when it differs.
 * error.type per OpenTelemetry: the status code for HTTP server errors
 * (5xx) and, on clients, for 4xx too. */
static void http1_span_fields(const struct ws_exchange *x, bool client, struct ws_span_fields *s, struct ws_json *a)
{
	const struct ws_http_info *rq = &x->req.u.http, *rs = &x->resp.u.http;
	char route[sizeof(rq->path)];

	ws_strlcpy(s->method, rq->method, sizeof(s->method));
	ws_strlcpy(s->target, rq->path, sizeof(s->target));
	ws_strlcpy(s->query, rq->query, sizeof(s->query));
	s->status = rs->status;
	ws_route_template(route, sizeof(route), rq->path);
	snprintf(s->name, sizeof(s->name), "%s %s", rq->method, route);
	if (rs->status >= 500 || (client && rs->status >= 400))
		snprintf(s->error, sizeof(s->error), "%d", rs->status);

	if (strcmp(route, rq->path) != 0)
		wj_kstr(a, "url.template", route);
	wj_kstr(a, "network.protocol.version", rq->version_minor ? "1.1" : "1.0");
	ws_http_attrs(rq, rs, s, a);
	if (rs->chunked)
		wj_kbool(a, "wirespan.response.chunked", true);
}

static const struct proto_span http1_span = {
	.fields = http1_span_fields,
	.method_attr = "http.request.method",
	.target_attr = "url.path",
	.query_attr = "url.query",
	.status_attr = "http.response.status_code",
	.req_body_attr = "http.request.body.size",
	.resp_body_attr = "http.response.body.size",
};

const struct proto_ops ws_http1_ops = {
	.id = WS_PROTO_HTTP1,
	.name = "http",
	.span = &http1_span,
	.create = h1_create,
	.feed = h1_feed,
	.eof = h1_eof,
	.finish = h1_finish,
	.destroy = h1_destroy,
	.pending = h1_pending,
	.pairer = h1_pairer,
};
