/* pg.c -- PostgreSQL frontend/backend protocol, version 3.
 *
 * Every message but the first a client sends has a type byte and a 32-bit
 * length, so framing survives uncaptured bytes inside a message: a gap
 * within a body of known length is only counted. The client opens with a
 * startup packet (no type byte), possibly after an SSL or GSS encryption
 * request that the server answers with one byte ('N': go on in the clear;
 * 'S' / 'G': encrypted, nothing more can be read here).
 *
 * What becomes a span (a request and its response):
 *  - a simple Query ('Q'), answered by everything up to ReadyForQuery ('Z');
 *  - an Execute ('E') of the extended protocol, with the Parse, Bind and
 *    Describe before it, answered by everything up to its CommandComplete,
 *    EmptyQueryResponse, PortalSuspended or ErrorResponse. Pipelined
 *    Executes (several before one Sync) are several spans. After an error
 *    the server skips the rest until Sync: those Executes get a response
 *    marked skipped, at the ReadyForQuery that ends the pipeline;
 *  - a Sync that ends messages with no Execute (a Parse alone: a prepared
 *    statement), answered up to ReadyForQuery;
 *  - a FunctionCall, like a Query.
 * The startup and authentication exchange is not a span; the database it
 * names is kept for the connection's spans (db.namespace).
 *
 * Kept of a request: the statement's operation, table where certain and
 * text with its literals replaced (sql.h), from the Query, or from the
 * Parse of the statement a Bind names (remembered per connection, by
 * name). Never kept: Bind parameters, password and SASL messages, COPY
 * data, rows. A response keeps its SQLSTATE, the first command tag and
 * the number of rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/pg.h"
#include "proto/proto.h"
#include "proto/sql.h"
#include "util/json.h"
#include "util/util.h"

#define BODY_KEEP 1280   /* body bytes read for a message's fields */
#define STMTS_MAX 64     /* prepared statements remembered per connection */
#define PENDING_MAX 1024 /* pipelines run deep */
#define STARTUP_MAX 10000
#define MSG_MAX (1u << 30)

#define CODE_CANCEL 80877102u
#define CODE_SSL 80877103u
#define CODE_GSS 80877104u

enum pstate {
	P_FIRST,      /* nothing read yet */
	P_STARTUP,    /* a startup packet's 8-byte header */
	P_HDR,        /* a type byte and length */
	P_BODY,       /* a body */
	P_SSL_ANSWER, /* the server's one-byte answer to an encryption request */
	P_LOST,       /* framing lost: wait for a sign of a boundary */
	P_OFF,        /* encrypted: nothing more to read */
};

struct pgdir {
	enum pstate st;
	uint8_t type; /* 0: a startup packet */
	uint8_t hdr[8];
	uint32_t have, need; /* header bytes */
	uint32_t len;        /* the body's length */
	uint32_t left;       /* body bytes still to come */
	uint32_t want;       /* body bytes kept for the fields */
	uint32_t blen;
	bool in_msg;
	bool at_z; /* the response began at a ReadyForQuery */
	uint8_t body[BODY_KEEP];
	struct ws_msg cur;
};

struct pg {
	int req_dir;
	struct pgdir d[2];
	struct ws_pairer pairer;
	bool started;   /* the startup exchange is over (or was never seen) */
	bool copy_in;   /* the server asked for COPY data (CopyInResponse) and has not
			 * ended the COPY yet: the client sends nothing else */
	bool ssl_asked; /* an encryption request waits for its answer */
	char db[64];
	/* Syncs and Queries sent, ReadyForQuery received: the n-th ends the
	 * requests of group n. Bytes lost put the counts out of step
	 * (aligned false) until nothing is waiting. */
	uint64_t syncs, readies;
	bool aligned;
	bool failed; /* an Execute of failed_group got an error: the rest are skipped */
	uint64_t failed_group;
	/* the request being built from extended-protocol messages */
	bool unit_parse;            /* a Parse in it */
	struct ws_sql_summary unit; /* the first Parse's statement */
	/* the statement of the last Bind (the portal an Execute runs) */
	struct ws_sql_summary bound;
	bool bound_known, bound_unknown;
	struct ws_stmt_cache stmts; /* prepared statements, by name */
};


/* ---- detection ---- */

static bool text_byte(uint8_t c) { return c >= 0x20 || c == '\t' || c == '\r' || c == '\n'; }

/* NUL-terminated printable name at d[0..n) of at most max bytes: its
 * length (without the NUL), -1 none, -2 not all here */
static int name_at(const uint8_t *d, uint32_t n, uint32_t max)
{
	for (uint32_t i = 0; i < n && i <= max; i++) {
		if (!d[i])
			return (int)i;
		if (d[i] < 0x21 || d[i] > 0x7e)
			return -1;
	}
	return n <= max ? -2 : -1;
}

/* SQL text at d[0..n), NUL-terminated when whole: 1 yes, 0 no, -1 more */
static int sql_at(const uint8_t *d, uint32_t n, uint32_t *used)
{
	uint32_t i = 0;

	while (i < n && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\n' || d[i] == '('))
		i++;
	if (i < n && !(d[i] >= 'A' && d[i] <= 'Z') && !(d[i] >= 'a' && d[i] <= 'z'))
		return 0;
	for (; i < n; i++) {
		if (!d[i]) {
			*used = i + 1;
			return 1;
		}
		if (!text_byte(d[i]))
			return 0;
	}
	return -1;
}

static int bind_at(const uint8_t *b, uint32_t n)
{
	int a = name_at(b, n, 63), s;
	uint32_t o;

	if (a < 0)
		return 0;
	o = (uint32_t)a + 1;
	if ((s = name_at(b + o, n - o, 63)) < 0)
		return 0;
	o += (uint32_t)s + 1;
	if (o + 2 > n)
		return 0;
	uint16_t nf = ws_be16_get(b + o);
	o += 2 + 2u * nf;
	if (nf > 1024 || o + 2 > n)
		return 0;
	uint16_t np = ws_be16_get(b + o);
	o += 2;
	for (uint16_t i = 0; i < np; i++) {
		if (o + 4 > n)
			return 0;
		uint32_t l = ws_be32_get(b + o);
		o += 4;
		if (l == 0xffffffffu)
			continue;
		if (l > n - o)
			return 0;
		o += l;
	}
	if (o + 2 > n)
		return 0;
	uint16_t nr = ws_be16_get(b + o);
	return o + 2 + 2u * nr == n;
}

int ws_pg_request_at(const uint8_t *d, uint32_t n)
{
	if (n == 0)
		return -1;
	if (d[0] == 0) {
		if (n < 8)
			return -1;
		uint32_t len = ws_be32_get(d), code = ws_be32_get(d + 4);
		if (code >> 16 == 3 && (code & 0xffff) <= 2)
			return len > 8 && len <= STARTUP_MAX;
		if (code == CODE_SSL || code == CODE_GSS)
			return len == 8;
		return code == CODE_CANCEL && len == 16;
	}
	if (d[0] != 'Q' && d[0] != 'P' && d[0] != 'B')
		return 0;
	if (n < 5)
		return -1;
	uint32_t len = ws_be32_get(d + 1);
	if (len < 5 || len > MSG_MAX)
		return 0;
	const uint8_t *b = d + 5;
	uint32_t have = WS_MIN(n - 5, len - 4), used = 0;
	bool whole = n - 5 >= len - 4;
	int r;
	switch (d[0]) {
	case 'Q':
		r = sql_at(b, have, &used);
		if (r > 0)
			return used == len - 4;
		if (r < 0)
			return whole ? 0 : have >= 32 ? 1 : -1;
		return 0;
	case 'P': {
		int s = name_at(b, have, 63);
		if (s == -2)
			return whole ? 0 : -1;
		if (s < 0)
			return 0;
		uint32_t o = (uint32_t)s + 1;
		r = sql_at(b + o, have - o, &used);
		if (r < 0)
			return whole ? 0 : have - o >= 32 ? 1 : -1;
		if (r == 0)
			return 0;
		o += used;
		if (!whole)
			return have - o >= 2 ? 1 : -1;
		return o + 2 <= have && o + 2 + 4u * ws_be16_get(b + o) == have;
	}
	default: /* 'B': only whole, every field in place */
		if (!whole)
			return have < 256 ? -1 : 0;
		return bind_at(b, have);
	}
}

bool ws_pg_response_at(const uint8_t *d, uint32_t n)
{
	static const char types[] = "RSKZTDCEN123ntsIGHWdcAvV";

	if (n == 1)
		return d[0] == 'N' || d[0] == 'S';
	if (n < 5 || !d[0] || !strchr(types, d[0]))
		return false;
	uint32_t len = ws_be32_get(d + 1);
	return len >= 4 && len <= MSG_MAX;
}

/* ---- messages ---- */

static bool async_type(uint8_t t) { return t == 'N' || t == 'A' || t == 'S'; }

/* Types that begin a request (a Sync only ends one; Terminate, password,
 * COPY data belong to none). */
static bool unit_type(uint8_t t) { return t && strchr("QFPBDCHE", t) != NULL; }

static uint32_t keep_bytes(const struct pg *g, int dir, uint8_t t)
{
	if (dir == g->req_dir) {
		switch (t) {
		case 0: case 'Q': case 'P': return BODY_KEEP;
		case 'B': return 130; /* portal and statement names; parameters are wiped */
		case 'C': return 66;
		default: return 0;
		}
	}
	switch (t) {
	case 'C': return 32;
	case 'E': return 256;
	case 'Z': return 1;
	default: return 0;
	}
}

static void lose(struct pg *g, int dir)
{
	struct pgdir *D = &g->d[dir];

	if (D->st == P_LOST || D->st == P_OFF)
		return;
	if (D->in_msg)
		D->cur.flags |= WS_MSGF_FRAMING_LOST;
	explicit_bzero(D->body, D->blen);
	D->blen = 0;
	D->st = P_LOST;
	if (!g->started)
		return; /* authentication: nothing to pair yet */
	/* the client's bytes lost inside a COPY's data (a capture prefix too
	 * short for its writes) hold no request: CopyData, CopyDone or
	 * CopyFail, and Sync or Flush, which the server ignores until the COPY
	 * ends; the next request is found at the start of a later write */
	if (dir == g->req_dir && g->copy_in)
		return;
	g->aligned = false;
	/* what comes next cannot be paired by order alone, unless only one
	 * request waits: then the lost bytes answer that one, or nothing */
	if (dir == g->req_dir || g->pairer.pending.len > 1)
		ws_pairer_gap(&g->pairer, dir == g->req_dir);
}

static void unit_reset(struct pg *g) { g->unit_parse = false; }

/* A statement's text at t[0..n): up to its NUL. */
static void summarise(const uint8_t *t, uint32_t n, struct ws_sql_summary *s)
{
	const uint8_t *z = memchr(t, 0, n); /* kept bytes stop where a gap began */

	ws_sql_summarise((const char *)t, z ? (size_t)(z - t) : n, z != NULL, WS_SQL_PG, s);
}

static void fill_request(struct pg *g, struct ws_msg *m, const struct ws_sql_summary *s, bool unknown)
{
	struct ws_pg_info *pi = &m->u.pg;

	ws_strlcpy(pi->db, g->db, sizeof(pi->db));
	if (s) {
		ws_strlcpy(pi->op, s->op, sizeof(pi->op));
		ws_strlcpy(pi->collection, s->collection, sizeof(pi->collection));
		ws_strlcpy(pi->query, s->text, sizeof(pi->query));
		pi->query_cut = s->cut;
	}
	pi->stmt_unknown = unknown;
}

static void push_request(struct pg *g, struct pgdir *D, uint8_t kind, uint64_t group)
{
	g->started = true; /* clients ask nothing before the startup's ReadyForQuery */
	D->cur.u.pg.group = group;
	D->cur.u.pg.kind = kind;
	D->in_msg = false;
	ws_pairer_request(&g->pairer, &D->cur);
}

static void startup_done(struct pg *g, struct pgdir *D)
{
	uint32_t code = ws_be32_get(D->hdr + 4);

	if (code == CODE_SSL || code == CODE_GSS) {
		g->ssl_asked = true;
		D->st = P_STARTUP; /* the startup packet follows in the clear, if it does */
		return;
	}
	/* parameters: name\0value\0 ... \0 */
	for (uint32_t o = 0; o < D->blen && D->body[o];) {
		const uint8_t *k = D->body + o, *kz = memchr(k, 0, D->blen - o);
		if (!kz)
			break;
		const uint8_t *v = kz + 1, *vz = v < D->body + D->blen ? memchr(v, 0, D->body + D->blen - v) : NULL;
		if (!vz)
			break;
		if (strcmp((const char *)k, "database") == 0)
			ws_copy_text(g->db, sizeof(g->db), v, (size_t)(vz - v));
		o = (uint32_t)(vz - D->body) + 1;
	}
	D->st = P_HDR;
}

static void client_done(struct pg *g, struct pgdir *D)
{
	struct ws_sql_summary s;
	const uint8_t *b = D->body;
	uint32_t n = D->blen;
	int a, k;

	switch (D->type) {
	case 'Q':
		summarise(b, n, &s);
		fill_request(g, &D->cur, &s, false);
		push_request(g, D, WS_PG_QUERY, g->syncs++);
		unit_reset(g);
		break;
	case 'F':
		fill_request(g, &D->cur, NULL, false);
		ws_strlcpy(D->cur.u.pg.op, "CALL", sizeof(D->cur.u.pg.op));
		push_request(g, D, WS_PG_QUERY, g->syncs++);
		unit_reset(g);
		break;
	case 'P':
		if ((a = name_at(b, n, 63)) < 0)
			break;
		summarise(b + a + 1, n - (uint32_t)a - 1, &s);
		ws_stmt_put(&g->stmts, (const char *)b, &s);
		if (!g->unit_parse)
			g->unit = s;
		g->unit_parse = true;
		break;
	case 'B': {
		if ((a = name_at(b, n, 63)) < 0 || (k = name_at(b + a + 1, n - (uint32_t)a - 1, 63)) < 0) {
			g->bound_known = false;
			g->bound_unknown = true;
			break;
		}
		const struct ws_sql_summary *st = ws_stmt_find(&g->stmts, (const char *)b + a + 1);
		g->bound_known = st != NULL;
		g->bound_unknown = st == NULL;
		if (st)
			g->bound = *st;
		break;
	}
	case 'E':
		fill_request(g, &D->cur, g->bound_known ? &g->bound : NULL, g->bound_unknown);
		push_request(g, D, WS_PG_EXECUTE, g->syncs);
		unit_reset(g);
		break;
	case 'S':
		if (D->in_msg) { /* messages with no Execute: a Parse alone is a prepared statement */
			fill_request(g, &D->cur, g->unit_parse ? &g->unit : NULL, false);
			if (g->unit_parse)
				ws_strlcpy(D->cur.u.pg.op, "PREPARE", sizeof(D->cur.u.pg.op));
			push_request(g, D, WS_PG_SYNC, g->syncs);
		}
		g->syncs++;
		unit_reset(g);
		break;
	case 'C':
		if (n >= 2 && b[0] == 'S' && name_at(b + 1, n - 1, 63) >= 0)
			ws_stmt_forget(&g->stmts, (const char *)b + 1);
		break;
	default:
		break;
	}
}

static void respond(struct pg *g, struct pgdir *D)
{
	D->in_msg = false;
	ws_pairer_response(&g->pairer, &D->cur, NULL);
}

/* A ReadyForQuery: it ends the response of a Query or a Sync, and the
 * pipeline of the Executes before it. */
static void ready(struct pg *g, struct pgdir *D, const struct ws_seg *seg, uint32_t off)
{
	uint64_t group = g->readies++;
	const struct ws_msg *front = ws_pairer_next(&g->pairer, NULL);

	if (!g->aligned) {
		/* which Sync this answers is not known: a response that began
		 * before it ends here, a ReadyForQuery alone is dropped */
		if (D->in_msg && !D->at_z)
			respond(g, D);
		D->in_msg = false;
		g->failed = false;
		if (!g->pairer.pending.len && !g->d[g->req_dir].in_msg) {
			g->syncs = g->readies; /* nothing waits: in step again */
			g->aligned = true;
		}
		return;
	}
	if (D->in_msg) {
		bool wanted = front && front->u.pg.group == group && front->u.pg.kind != WS_PG_EXECUTE;
		if (D->at_z && !wanted) /* only the Sync of Executes answered already */
			D->in_msg = false;
		else
			respond(g, D);
	}
	if (!g->failed)
		return;
	g->failed = false;
	/* Executes of the pipeline after the error: skipped, never answered */
	while ((front = ws_pairer_next(&g->pairer, NULL)) && front->u.pg.kind == WS_PG_EXECUTE &&
	       front->u.pg.group == g->failed_group) {
		struct ws_msg m;
		ws_msg_begin(&m, WS_PROTO_PG, !g->req_dir, seg, off);
		m.u.pg.skipped = true;
		m.u.pg.error = true;
		ws_pairer_response(&g->pairer, &m, NULL);
	}
}

static void server_done(struct pg *g, struct pgdir *D, const struct ws_seg *seg, uint32_t off)
{
	struct ws_pg_info *pi = &D->cur.u.pg;

	if (!g->started) {
		if (D->type == 'Z')
			g->started = true;
		D->in_msg = false;
		return;
	}
	if (D->type == 'G' || D->type == 'C' || D->type == 'E' || D->type == 'Z')
		g->copy_in = D->type == 'G';
	switch (D->type) {
	case 'Z':
		ready(g, D, seg, off);
		return;
	case 'C':
		if (!pi->tag[0]) {
			const uint8_t *z = memchr(D->body, 0, D->blen);
			ws_copy_text(pi->tag, sizeof(pi->tag), D->body, z ? (size_t)(z - D->body) : D->blen);
		}
		break;
	case 'D':
		pi->rows++;
		break;
	case 'E':
		pi->error = true;
		for (uint32_t o = 0; o < D->blen && D->body[o];) { /* code\0text\0 ... */
			const uint8_t *z = memchr(D->body + o + 1, 0, D->blen - o - 1);
			if (!z)
				break;
			if (D->body[o] == 'C')
				ws_copy_text(pi->sqlstate, sizeof(pi->sqlstate), D->body + o + 1,
					     (size_t)(z - D->body) - o - 1);
			o = (uint32_t)(z - D->body) + 1;
		}
		break;
	default:
		break;
	}
	if (!D->in_msg)
		return;
	const struct ws_msg *front = ws_pairer_next(&g->pairer, NULL);
	if (front && front->u.pg.kind == WS_PG_EXECUTE && D->type && strchr("CIsE", D->type)) {
		if (D->type == 'E') {
			g->failed = true;
			g->failed_group = front->u.pg.group;
		}
		respond(g, D);
	}
}

static void begin_msg(struct pg *g, int dir, const struct ws_seg *seg, uint32_t off, uint8_t t)
{
	struct pgdir *D = &g->d[dir];

	if (D->in_msg)
		return;
	if (dir == g->req_dir ? !unit_type(t) : (!g->started || async_type(t)))
		return;
	ws_msg_begin(&D->cur, WS_PROTO_PG, dir, seg, off);
	D->in_msg = true;
	D->at_z = t == 'Z';
}

static void header_done(struct pg *g, int dir)
{
	struct pgdir *D = &g->d[dir];
	uint32_t len = D->type ? ws_be32_get(D->hdr + 1) : ws_be32_get(D->hdr);
	uint32_t hl = D->type ? 4 : 8;

	if (len < hl || len > (D->type ? MSG_MAX : STARTUP_MAX)) {
		lose(g, dir);
		return;
	}
	D->len = D->left = len - hl;
	D->want = WS_MIN(keep_bytes(g, dir, D->type), D->len);
	D->blen = 0;
	D->st = P_BODY;
}

static void message_done(struct pg *g, int dir, const struct ws_seg *seg, uint32_t off)
{
	struct pgdir *D = &g->d[dir];

	D->st = P_HDR;
	if (dir == g->req_dir) {
		if (D->type == 0)
			startup_done(g, D);
		else
			client_done(g, D);
	} else {
		server_done(g, D, seg, off);
	}
	/* the kept bytes may hold a Bind's parameters or a password */
	explicit_bzero(D->body, D->blen);
	D->blen = 0;
}

static void bytes(struct pg *g, int dir, const uint8_t *p, uint32_t n, const struct ws_seg *seg, uint32_t off)
{
	struct pgdir *D = &g->d[dir];
	uint32_t i = 0;

	while (i < n) {
		switch (D->st) {
		case P_FIRST:
			if (dir == g->req_dir) {
				D->st = p[i] == 0 ? P_STARTUP : P_HDR;
				if (p[i] != 0)
					g->started = true; /* the connection predates the recording */
			} else {
				D->st = g->ssl_asked ? P_SSL_ANSWER : P_HDR;
				if (g->d[g->req_dir].st == P_FIRST)
					g->started = true;
			}
			continue;
		case P_SSL_ANSWER:
			g->ssl_asked = false;
			if (p[i] == 'N') {
				D->st = P_HDR;
				i++;
			} else if (p[i] == 'S' || p[i] == 'G') {
				D->st = g->d[g->req_dir].st = P_OFF; /* encrypted from here */
				return;
			} else {
				lose(g, dir);
			}
			continue;
		case P_STARTUP:
		case P_HDR:
			if (D->have == 0) {
				D->type = D->st == P_STARTUP ? 0 : p[i];
				D->need = D->type ? 5 : 8;
				begin_msg(g, dir, seg, off + i, D->type);
			}
			uint32_t from = i;
			while (i < n && D->have < D->need)
				D->hdr[D->have++] = p[i++];
			if (D->in_msg) {
				D->cur.bytes += i - from;
				ws_msg_touch(&D->cur, seg);
			}
			if (D->have == D->need) {
				D->have = 0;
				header_done(g, dir);
				if (D->st == P_BODY && D->left == 0)
					message_done(g, dir, seg, off + i);
			}
			continue;
		case P_BODY: {
			uint32_t k = (uint32_t)WS_MIN((uint64_t)(n - i), D->left);
			if (D->blen < D->want) {
				uint32_t c = WS_MIN(k, D->want - D->blen);
				memcpy(D->body + D->blen, p + i, c);
				D->blen += c;
			}
			D->left -= k;
			i += k;
			if (D->in_msg) {
				D->cur.bytes += k;
				ws_msg_touch(&D->cur, seg);
			}
			if (D->left == 0)
				message_done(g, dir, seg, off + i);
			continue;
		}
		case P_LOST:
			if (D->in_msg) {
				D->cur.bytes += n - i;
				ws_msg_touch(&D->cur, seg);
			}
			return;
		case P_OFF:
			return;
		}
	}
}

static void gap(struct pg *g, int dir, uint32_t n, const struct ws_seg *seg)
{
	struct pgdir *D = &g->d[dir];

	if (!n || D->st == P_OFF)
		return;
	if (D->in_msg) {
		D->cur.bytes += n;
		ws_msg_touch(&D->cur, seg);
	}
	if (D->st == P_LOST)
		return;
	if (D->st != P_BODY || n > D->left) {
		lose(g, dir);
		return;
	}
	if (D->blen < D->want) /* the fields' bytes are cut: keep what came */
		D->want = D->blen;
	D->left -= n;
	if (D->left == 0)
		message_done(g, dir, seg, seg->len - seg->tail_len);
}

/* Framing lost in the client's bytes: a write that starts with a Query,
 * Parse or Bind starts a request. */
static void recover_request(struct pg *g, const struct ws_seg *seg)
{
	struct pgdir *D = &g->d[g->req_dir];

	if (!seg->head_len || seg->head[0] == 0 || ws_pg_request_at(seg->head, seg->head_len) <= 0)
		return;
	D->in_msg = false; /* a request cut by the loss is not reported */
	unit_reset(g);
	D->st = P_HDR;
	D->have = 0;
}

/* The captured bytes that end seg: its tail, or all of it. */
static const uint8_t *end_bytes(const struct ws_seg *seg, uint32_t *n)
{
	if (seg->tail_len) {
		*n = seg->tail_len;
		return seg->tail;
	}
	*n = seg->head_len == seg->len ? seg->len : 0;
	return seg->head;
}

/* The rows a command tag counts: "SELECT 300", "COPY 5", "FETCH 10". */
static bool tag_rows(const char *tag, uint64_t *rows)
{
	static const char *const counted[] = {"SELECT ", "COPY ", "FETCH ", "MOVE "};

	for (size_t i = 0; i < WS_ARRAY_SIZE(counted); i++) {
		size_t l = strlen(counted[i]);
		if (strncmp(tag, counted[i], l) == 0 && tag[l] >= '0' && tag[l] <= '9') {
			*rows = strtoull(tag + l, NULL, 10);
			return true;
		}
	}
	return false;
}

uint32_t ws_pg_ready_tail(const uint8_t *b, uint32_t n)
{
	if (n < 6)
		return 0;
	const uint8_t *e = b + n - 6;
	if (e[0] != 'Z' || ws_be32_get(e + 1) != 5 || !(e[5] == 'I' || e[5] == 'T' || e[5] == 'E'))
		return 0;
	if (n >= 13 && b[n - 7] == 0) /* k: the CommandComplete message's length */
		for (uint32_t k = 7; k <= 40 && k + 6 <= n; k++)
			if (b[n - 6 - k] == 'C' && ws_be32_get(b + n - 6 - k + 1) == k - 1)
				return k + 6;
	return 6;
}

/* Framing lost in the server's bytes: a write that ends with
 * ReadyForQuery (PostgreSQL flushes its output there) ends the response,
 * or the startup when no request was made yet; the CommandComplete before
 * it says how many rows were sent. */
static bool recover_response(struct pg *g, const struct ws_seg *seg)
{
	int dir = !g->req_dir;
	struct pgdir *D = &g->d[dir];
	uint32_t n;
	const uint8_t *b = end_bytes(seg, &n);
	uint32_t t = ws_pg_ready_tail(b, n);
	if (!t)
		return false;
	D->st = P_HDR;
	D->have = 0;
	if (!g->started) { /* the end of authentication */
		g->started = true;
		D->in_msg = false;
		return true;
	}
	if (D->in_msg) {
		ws_msg_touch(&D->cur, seg);
		D->at_z = false;
	} else if (g->pairer.pending.len == 1) {
		/* the one request waiting was answered in the lost bytes */
		ws_msg_begin(&D->cur, WS_PROTO_PG, dir, seg, 0);
		D->cur.flags |= WS_MSGF_FRAMING_LOST;
		D->in_msg = true;
	}
	if (D->in_msg && t > 6) { /* the tag: the message's body but its NUL */
		struct ws_pg_info *pi = &D->cur.u.pg;
		ws_copy_text(pi->tag, sizeof(pi->tag), b + n - t + 5, t - 6 - 6);
		pi->rows_from_tag = tag_rows(pi->tag, &pi->rows);
	}
	ready(g, D, seg, seg->len - 6); /* out of step: it ends the response */
	return true;
}

static void pg_feed(void *st, int dir, const struct ws_seg *seg)
{
	struct pg *g = st;
	struct pgdir *D = &g->d[dir];

	if (D->st == P_OFF)
		return;
	if (seg->gap_before) { /* records lost: order proves nothing */
		ws_pairer_gap(&g->pairer, dir == g->req_dir);
		lose(g, dir);
	}
	if (D->st == P_LOST) {
		if (dir == g->req_dir)
			recover_request(g, seg);
		else if (recover_response(g, seg))
			return;
	}
	if (seg->head_len)
		bytes(g, dir, seg->head, seg->head_len, seg, 0);
	gap(g, dir, seg->len - seg->head_len - seg->tail_len, seg);
	/* framing lost in this write: its end may still end a response */
	if (D->st == P_LOST && dir != g->req_dir && recover_response(g, seg))
		return;
	if (seg->tail_len)
		bytes(g, dir, seg->tail, seg->tail_len, seg, seg->len - seg->tail_len);
}

static void pg_eof(void *st, int dir)
{
	(void)st;
	(void)dir;
}

static void pg_finish(void *st)
{
	struct pg *g = st;
	struct pgdir *D = &g->d[!g->req_dir];

	/* a response whose end was lost with the framing */
	if (D->in_msg && (D->cur.flags & WS_MSGF_FRAMING_LOST) && ws_pairer_next(&g->pairer, NULL))
		respond(g, D);
}

static void *pg_create(int req_dir, const struct proto_sink *sink)
{
	struct pg *g = ws_calloc(1, sizeof(*g));

	g->req_dir = req_dir;
	g->aligned = true;
	ws_stmt_init(&g->stmts, STMTS_MAX);
	ws_pairer_init(&g->pairer, sink, PENDING_MAX);
	return g;
}

static void pg_destroy(void *st)
{
	struct pg *g = st;

	if (!g)
		return;
	for (int i = 0; i < 2; i++)
		explicit_bzero(g->d[i].body, sizeof(g->d[i].body));
	ws_stmt_free(&g->stmts);
	ws_pairer_free(&g->pairer);
	free(g);
}

static unsigned pg_pending(void *st)
{
	struct pg *g = st;

	return g->pairer.pending.len + g->d[0].in_msg + g->d[1].in_msg;
}

static struct ws_pairer *pg_pairer(void *st) { return &((struct pg *)st)->pairer; }

/* ---- spans ---- */

static void pg_span_fields(const struct ws_exchange *x, bool client, struct ws_span_fields *s, struct ws_json *a)
{
	const struct ws_pg_info *rq = &x->req.u.pg, *rs = &x->resp.u.pg;

	(void)client;
	ws_sql_span_fields(rq->op, rq->collection, rq->query, "postgresql", s);
	if (rs->skipped)
		ws_strlcpy(s->error, "pipeline_aborted", sizeof(s->error));
	else if (rs->error)
		ws_strlcpy(s->error, rs->sqlstate[0] ? rs->sqlstate : "error", sizeof(s->error));
	if (rq->db[0])
		wj_kstr(a, "db.namespace", rq->db);
	if (rs->sqlstate[0])
		wj_kstr(a, "db.response.status_code", rs->sqlstate);
	if (!x->aborted && !rs->skipped && !rs->error && (!(x->resp.flags & WS_MSGF_FRAMING_LOST) || rs->rows_from_tag))
		wj_kuint(a, "db.response.returned_rows", rs->rows);
	if (rs->tag[0])
		wj_kstr(a, "wirespan.pg.command_tag", rs->tag);
	if (rq->query_cut)
		wj_kbool(a, "wirespan.db.query.cut", true);
	if (rq->stmt_unknown)
		wj_kbool(a, "wirespan.pg.statement_unknown", true);
	if (rs->skipped)
		wj_kbool(a, "wirespan.pg.skipped", true);
}

static const char *const pg_constants[] = {"db.system", "postgresql", "db.system.name", "postgresql", NULL};

static const struct proto_span pg_span = {
	.fields = pg_span_fields,
	.method_attr = "db.operation.name",
	.target_attr = "db.collection.name",
	.query_attr = "db.query.text",
	.constant_attrs = pg_constants,
	.target_optional = true,
	.database = true,
};

const struct proto_ops ws_pg_ops = {
	.id = WS_PROTO_PG,
	.name = "postgresql",
	.span = &pg_span,
	.create = pg_create,
	.feed = pg_feed,
	.eof = pg_eof,
	.finish = pg_finish,
	.destroy = pg_destroy,
	.pending = pg_pending,
	.pairer = pg_pairer,
};
