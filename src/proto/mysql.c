/* mysql.c -- MySQL / MariaDB client/server protocol (protocol 10, 4.1+).
 *
 * Every packet has a 3-byte length and a sequence number; a command is a
 * client packet of sequence 0, its response the server packets from
 * sequence 1. The server speaks first (its greeting), the client answers
 * with its handshake response (capabilities, user, auth data, database),
 * then authentication ends with an OK packet. A client that asks for SSL
 * sends a short handshake response and goes TLS: nothing more is read.
 *
 * A span per command that has a response: COM_QUERY (text protocol, its
 * result sets: column count, definitions, an EOF unless the client set
 * CLIENT_DEPRECATE_EOF, rows, a closing EOF or OK whose status says
 * whether more result sets follow), COM_STMT_PREPARE (PREPARE_OK with its
 * parameter and column definitions), COM_STMT_EXECUTE (binary result sets,
 * named after the statement its id was prepared from), COM_PING,
 * COM_INIT_DB and the other administrative commands. COM_STMT_CLOSE,
 * COM_STMT_SEND_LONG_DATA and COM_QUIT have no response and no span.
 *
 * Kept: the statement's operation, table and text with literals replaced
 * (sql.h), the database (from the handshake and COM_INIT_DB), an error's
 * code and SQLSTATE, rows and affected rows. Never kept: the password's
 * scrambled answer, parameters of COM_STMT_EXECUTE, rows, error texts.
 *
 * The protocol is strictly request-response: when framing is lost in the
 * server's bytes, the client's next command ends the response (marked
 * WS_MSGF_FRAMING_LOST) and the server's next write starts the next one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mysql.h"
#include "proto/mysql_frame.h"
#include "proto/proto.h"
#include "proto/sql.h"
#include "util/json.h"
#include "util/util.h"

#define KEEP 1280       /* payload bytes read for a packet's fields */
#define STMTS_MAX 32    /* prepared statements remembered per connection */
#define PENDING_MAX 256

enum mstate { M_HDR, M_BODY, M_LOST, M_RESYNC, M_OFF };

struct mdir {
	enum mstate st;
	uint8_t hdr[4], have;
	uint32_t len, left, want, blen;
	uint8_t seq;
	bool long_pkt; /* the packet before had the largest length: this one continues it */
	bool in_msg;
	uint8_t body[KEEP];
	struct ws_msg cur;
};

struct my {
	int req_dir;
	struct mdir d[2];
	struct ws_pairer pairer;
	bool started;   /* something was read: the first packet tells the phase */
	bool authed;    /* the command phase */
	bool handshake; /* the client's handshake response was seen */
	char db[64], next_db[64];
	bool db_pending; /* next_db is the database once the command succeeds */
	uint32_t caps;   /* the client's capabilities, from its handshake */
	struct my_frame frame; /* the response being read */
	/* prepared statements */
	struct ws_stmt_cache stmts; /* prepared statements, by id */
	struct ws_sql_summary preparing; /* the text of the COM_STMT_PREPARE waiting for its id */
};


/* ---- detection ---- */

static bool sql_text(const uint8_t *t, uint32_t n)
{
	uint32_t i = 0;

	while (i < n && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n' || t[i] == '('))
		i++;
	if (i == n || !((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z')))
		return false;
	for (; i < n; i++)
		if (t[i] < 0x20 && t[i] != '\t' && t[i] != '\r' && t[i] != '\n')
			return false;
	return true;
}

int ws_mysql_request_at(const uint8_t *d, uint32_t n)
{
	if (n < 4)
		return -1;
	if (n == 4)
		return d[3] <= 1 ? -1 : 0;
	uint32_t len = ws_le24_get(d);
	const uint8_t *b = d + 4;
	uint32_t have = WS_MIN(n - 4, len);
	if (len == 0 || len == 0xffffff)
		return 0;
	if (d[3] == 1) {
		/* the handshake response: capabilities, max packet, charset, 23
		 * reserved bytes (MariaDB: 19 zeros, then its own capabilities) */
		if (len < 32)
			return 0;
		if (have < 32)
			return -1;
		uint32_t caps = ws_le32_get(b);
		if (!(caps & CLIENT_PROTOCOL_41))
			return 0;
		for (int i = 9; i < 28; i++)
			if (b[i])
				return 0;
		return 1;
	}
	if (d[3] != 0)
		return 0;
	switch (b[0]) {
	case COM_QUERY:
	case COM_STMT_PREPARE:
		if (len < 2)
			return 0;
		if (have < len && have < 24)
			return -1;
		return sql_text(b + 1, have - 1);
	case COM_STMT_EXECUTE: /* id, flags (cursor type), iterations = 1 */
		if (len < 10)
			return 0;
		if (have < 10)
			return -1;
		return b[5] <= 8 && ws_le32_get(b + 6) == 1;
	case COM_PING:
		return len == 1;
	case COM_INIT_DB:
		return len >= 2 && len <= 65 && have == len && sql_text(b + 1, have - 1) ? 1 : have < len ? -1 : 0;
	default:
		return 0;
	}
}

int ws_mysql_greeting_at(const uint8_t *d, uint32_t n)
{
	if (n < 5)
		return n < 4 || d[3] == 0 ? -1 : 0;
	uint32_t len = ws_le24_get(d), i;
	if (d[3] != 0 || d[4] != 0x0a || len < 40 || len > 1024)
		return 0;
	/* the server's version, printable, then thread id, scramble, a NUL */
	for (i = 5; i < n && i < 4 + len && d[i]; i++)
		if (d[i] < 0x20 || d[i] > 0x7e || i > 5 + 64)
			return 0;
	if (i >= n)
		return n < 4 + len ? -1 : 0;
	if (i == 5)
		return 0;
	uint32_t filler = i + 1 + 4 + 8;
	if (filler >= n)
		return n < 4 + len ? -1 : 0;
	return d[filler] == 0;
}

/* A statement id as the cache's key. */
static const char *stmt_key(char *buf, uint32_t id)
{
	snprintf(buf, 16, "%u", id);
	return buf;
}

/* ---- messages ---- */

static void lose(struct my *m, int dir)
{
	struct mdir *D = &m->d[dir];

	if (D->st == M_LOST || D->st == M_OFF)
		return;
	if (D->in_msg)
		D->cur.flags |= WS_MSGF_FRAMING_LOST;
	explicit_bzero(D->body, D->blen);
	D->blen = 0;
	D->st = M_LOST;
	if (!m->authed)
		return;
	if (dir == m->req_dir || m->pairer.pending.len > 1)
		ws_pairer_gap(&m->pairer, dir == m->req_dir);
}

static void respond(struct my *m)
{
	struct mdir *D = &m->d[!m->req_dir];

	D->in_msg = false;
	ws_pairer_response(&m->pairer, &D->cur, NULL);
}

static const char *com_name(uint8_t c)
{
	switch (c) {
	case COM_QUERY: return "COM_QUERY";
	case COM_STMT_PREPARE: return "COM_STMT_PREPARE";
	case COM_STMT_EXECUTE: return "COM_STMT_EXECUTE";
	case COM_INIT_DB: return "COM_INIT_DB";
	case COM_CHANGE_USER: return "COM_CHANGE_USER";
	case COM_PING: return "COM_PING";
	case COM_FIELD_LIST: return "COM_FIELD_LIST";
	case COM_STATISTICS: return "COM_STATISTICS";
	case COM_STMT_RESET: return "COM_STMT_RESET";
	case COM_SET_OPTION: return "COM_SET_OPTION";
	case COM_STMT_FETCH: return "COM_STMT_FETCH";
	case COM_RESET_CONNECTION: return "COM_RESET_CONNECTION";
	default: return NULL;
	}
}

static void fill(struct ws_mysql_info *mi, const struct ws_sql_summary *s)
{
	ws_strlcpy(mi->op, s->op, sizeof(mi->op));
	ws_strlcpy(mi->collection, s->collection, sizeof(mi->collection));
	ws_strlcpy(mi->query, s->text, sizeof(mi->query));
	mi->query_cut = s->cut;
}

/* The handshake response: capabilities, then user, auth data, database. */
static void handshake_response(struct my *m, const struct mdir *D)
{
	const uint8_t *b = D->body;
	uint32_t n = D->blen, o = 32, used;

	if (n < 32)
		return;
	uint32_t caps = ws_le32_get(b);
	m->handshake = true;
	m->caps = caps;
	m->frame.eof_mode = (caps & CLIENT_DEPRECATE_EOF) ? 1 : 0;
	if ((caps & CLIENT_SSL) && D->len == 32) { /* TLS from here */
		m->d[0].st = m->d[1].st = M_OFF;
		return;
	}
	const uint8_t *z = memchr(b + o, 0, n - o); /* user */
	if (!z)
		return;
	o = (uint32_t)(z - b) + 1;
	uint64_t al;
	if (caps & CLIENT_PLUGIN_AUTH_LENENC) {
		al = my_lenenc(b + o, n - o, &used);
		if (!used)
			return;
		o += used;
	} else if (caps & CLIENT_SECURE_CONNECTION) {
		if (o >= n)
			return;
		al = b[o++];
	} else {
		const uint8_t *e = memchr(b + o, 0, n - o);
		if (!e)
			return;
		al = (uint64_t)(e - (b + o)) + 1;
	}
	if (al > n - o)
		return;
	o += (uint32_t)al;
	if ((caps & CLIENT_CONNECT_WITH_DB) && o < n) {
		const uint8_t *e = memchr(b + o, 0, n - o);
		if (e)
			ws_copy_text(m->db, sizeof(m->db), b + o, (size_t)(e - (b + o)));
	}
}

/* COM_CHANGE_USER's payload: user, auth data, database (the password's
 * answer is passed over, never kept). */
static void change_user(struct my *m, const uint8_t *b, uint32_t n)
{
	const uint8_t *z = memchr(b, 0, n);

	if (!z || !m->caps) /* no handshake seen: how the answer is framed is not known */
		return;
	uint32_t o = (uint32_t)(z - b) + 1;
	if (m->caps & CLIENT_SECURE_CONNECTION) {
		if (o >= n)
			return;
		o += 1 + b[o];
	} else {
		const uint8_t *e = o < n ? memchr(b + o, 0, n - o) : NULL;
		if (!e)
			return;
		o = (uint32_t)(e - b) + 1;
	}
	const uint8_t *e = o < n ? memchr(b + o, 0, n - o) : NULL;
	if (!e)
		return;
	ws_copy_text(m->next_db, sizeof(m->next_db), b + o, (size_t)(e - (b + o)));
	m->db_pending = true;
}

static void client_done(struct my *m, struct mdir *D)
{
	struct ws_mysql_info *mi = &D->cur.u.mysql;
	char key[16];
	struct ws_sql_summary s;
	const uint8_t *b = D->body;

	if (!m->authed) {
		if (!m->handshake && D->seq == 1)
			handshake_response(m, D);
		D->in_msg = false; /* authentication exchanges are not spans */
		return;
	}
	if (!D->in_msg)
		return; /* not a command: LOCAL INFILE data, a continuation */
	if (D->blen == 0) {
		D->in_msg = false;
		return;
	}
	mi->command = b[0];
	ws_strlcpy(mi->db, m->db, sizeof(mi->db));
	m->db_pending = false;
	switch (b[0]) {
	case COM_QUERY:
		ws_sql_summarise((const char *)b + 1, D->blen - 1, D->blen == D->len, WS_SQL_MYSQL, &s);
		fill(mi, &s);
		if (strcmp(s.op, "USE") == 0 && !s.multi) { /* USE db: the connection's database if it succeeds */
			const char *t = s.text + 3;
			while (*t == ' ' || *t == '`')
				t++;
			ws_strlcpy(m->next_db, t, sizeof(m->next_db));
			m->next_db[strcspn(m->next_db, " ;`")] = 0;
			m->db_pending = m->next_db[0] != 0;
		}
		break;
	case COM_STMT_PREPARE:
		ws_sql_summarise((const char *)b + 1, D->blen - 1, D->blen == D->len, WS_SQL_MYSQL, &s);
		fill(mi, &s);
		ws_strlcpy(mi->op, "PREPARE", sizeof(mi->op));
		m->preparing = s;
		break;
	case COM_STMT_EXECUTE: {
		const struct ws_sql_summary *st = D->blen >= 5 ? ws_stmt_find(&m->stmts, stmt_key(key, ws_le32_get(b + 1))) : NULL;
		if (st)
			fill(mi, st);
		else
			mi->stmt_unknown = true;
		break;
	}
	case COM_INIT_DB:
		ws_copy_text(m->next_db, sizeof(m->next_db), b + 1, D->blen - 1);
		m->db_pending = true;
		ws_strlcpy(mi->op, "INIT_DB", sizeof(mi->op));
		break;
	case COM_CHANGE_USER: /* user, auth data, database: authentication again, then OK */
		ws_strlcpy(mi->op, "CHANGE_USER", sizeof(mi->op));
		change_user(m, b + 1, D->blen - 1);
		break;
	case COM_STMT_CLOSE:
		if (D->blen >= 5)
			ws_stmt_forget(&m->stmts, stmt_key(key, ws_le32_get(b + 1)));
		D->in_msg = false;
		return;
	case COM_STMT_SEND_LONG_DATA:
	case COM_QUIT:
		D->in_msg = false;
		return;
	default: { /* the command's name is its operation: PING, STMT_RESET, ... */
		const char *cn = com_name(b[0]);
		ws_strlcpy(mi->op, cn ? cn + strlen("COM_") : "", sizeof(mi->op));
		break;
	}
	}
	/* strictly request-response: a response still open ended before this */
	struct mdir *S = &m->d[!m->req_dir];
	if (S->in_msg) {
		S->cur.flags |= WS_MSGF_FRAMING_LOST;
		respond(m);
	}
	if (S->st == M_LOST)
		S->st = M_RESYNC;
	D->in_msg = false;
	ws_pairer_request(&m->pairer, &D->cur);
}

static void server_done(struct my *m, struct mdir *D)
{
	struct ws_mysql_info *mi = &D->cur.u.mysql;
	char key[16];
	const uint8_t *b = D->body;
	uint32_t n = D->blen;
	uint8_t h = n ? b[0] : 0;
	uint16_t status;

	if (!m->authed) {
		/* the greeting (sequence 0), auth switch and more data, then OK */
		if (D->seq > 0 && h == 0x00 && m->handshake)
			m->authed = true;
		return;
	}
	if (!D->in_msg) { /* not the start of a response: a trailing EOF teaches its mode */
		if (h == 0xfe && D->len == 5 && m->frame.eof_mode < 0)
			m->frame.eof_mode = 0;
		return;
	}
	if (!n) { /* nothing of it was captured */
		lose(m, !m->req_dir);
		return;
	}
	enum my_pkt k = my_frame_kind(&m->frame, h, D->len);
	switch (k) {
	case MYP_ERR:
		mi->error = true;
		if (n >= 3)
			mi->error_code = ws_le16_get(b + 1);
		if (n >= 9 && b[3] == '#')
			ws_copy_text(mi->sqlstate, sizeof(mi->sqlstate), b + 4, 5);
		break;
	case MYP_PREPARE_OK:
		if (n >= 5)
			ws_stmt_put(&m->stmts, stmt_key(key, ws_le32_get(b + 1)), &m->preparing);
		break;
	case MYP_OK:
	case MYP_END:
		my_ok_status(b, n, D->len, &status, &mi->affected);
		if (k == MYP_OK && m->db_pending) { /* USE, COM_INIT_DB, COM_CHANGE_USER succeeded */
			ws_strlcpy(m->db, m->next_db, sizeof(m->db));
			m->db_pending = false;
		}
		break;
	case MYP_COUNT:
		mi->results++;
		break;
	case MYP_ROW:
		mi->rows++;
		break;
	default:
		break;
	}
	int r = my_frame_next(&m->frame, k, b, n, D->len);
	if (r > 0)
		respond(m);
	else if (r < 0)
		lose(m, !m->req_dir);
}

static void begin(struct my *m, int dir, const struct ws_seg *seg, uint32_t off)
{
	struct mdir *D = &m->d[dir];

	ws_msg_begin(&D->cur, WS_PROTO_MYSQL, dir, seg, off);
	D->in_msg = true;
	if (dir != m->req_dir) {
		const struct ws_msg *front = ws_pairer_next(&m->pairer, NULL);
		my_frame_begin(&m->frame, front ? front->u.mysql.command : 0);
	}
}

/* A packet's header is in: does it start a command or a response? */
static void header_done(struct my *m, int dir, const struct ws_seg *seg, uint32_t off)
{
	struct mdir *D = &m->d[dir];
	bool cont = D->long_pkt;

	D->len = D->left = ws_le24_get(D->hdr);
	D->seq = D->hdr[3];
	D->long_pkt = D->len == MY_PKT_MAX;
	if (!cont) /* a continuation's fields are in the packet's first part, kept */
		D->blen = 0;
	D->want = cont ? D->blen : WS_MIN(D->len, KEEP);
	D->st = M_BODY;
	if (dir == m->req_dir && D->seq == 0 && !cont)
		m->authed = true; /* only commands have sequence 0 from the client */
	if (cont || !m->authed)
		return;
	if (!D->in_msg && ((dir == m->req_dir && D->seq == 0) || (dir != m->req_dir && D->seq == 1)))
		begin(m, dir, seg, off);
	if (D->in_msg) {
		D->cur.bytes += 4;
		ws_msg_touch(&D->cur, seg);
	}
}

static void packet_done(struct my *m, int dir)
{
	struct mdir *D = &m->d[dir];

	D->st = M_HDR;
	if (D->long_pkt)
		return; /* its fields are read when its last part ends */
	if (dir == m->req_dir)
		client_done(m, D);
	else
		server_done(m, D);
	explicit_bzero(D->body, D->blen); /* parameters, the password's answer */
	D->blen = 0;
}

static void bytes(struct my *m, int dir, const uint8_t *p, uint32_t n, const struct ws_seg *seg, uint32_t off)
{
	struct mdir *D = &m->d[dir];
	uint32_t i = 0;

	while (i < n) {
		switch (D->st) {
		case M_RESYNC: /* a write after a lost one, once a command was sent: a response starts */
		case M_HDR: {
			uint32_t from = i;
			if (D->st == M_RESYNC)
				D->st = M_HDR;
			if (!m->started) { /* the first packet read tells the phase */
				m->started = true;
				bool cmd = dir == m->req_dir && n - i >= 4 && p[i + 3] == 0;
				m->authed = cmd || (dir != m->req_dir && n - i >= 4 && p[i + 3] != 0);
			}
			while (i < n && D->have < 4)
				D->hdr[D->have++] = p[i++];
			if (D->in_msg)
				D->cur.bytes += i - from;
			if (D->have < 4)
				continue;
			D->have = 0;
			header_done(m, dir, seg, off + from);
			if (D->left == 0)
				packet_done(m, dir);
			continue;
		}
		case M_BODY: {
			uint32_t k = WS_MIN(n - i, D->left);
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
				packet_done(m, dir);
			continue;
		}
		case M_LOST:
			if (D->in_msg) {
				D->cur.bytes += n - i;
				ws_msg_touch(&D->cur, seg);
			}
			return;
		case M_OFF:
			return;
		}
	}
}

static void gap(struct my *m, int dir, uint32_t n, const struct ws_seg *seg)
{
	struct mdir *D = &m->d[dir];

	if (!n || D->st == M_OFF)
		return;
	if (D->in_msg) {
		D->cur.bytes += n;
		ws_msg_touch(&D->cur, seg);
	}
	if (D->st == M_LOST)
		return;
	if (D->st != M_BODY || n > D->left) {
		lose(m, dir);
		return;
	}
	if (D->blen < D->want)
		D->want = D->blen; /* the fields' bytes are cut: keep what came */
	D->left -= n;
	if (D->left == 0)
		packet_done(m, dir);
}

static void my_feed(void *st, int dir, const struct ws_seg *seg)
{
	struct my *m = st;
	struct mdir *D = &m->d[dir];

	if (D->st == M_OFF)
		return;
	if (seg->gap_before) {
		ws_pairer_gap(&m->pairer, dir == m->req_dir);
		lose(m, dir);
	}
	if (D->st == M_LOST && dir == m->req_dir && seg->head_len && ws_mysql_request_at(seg->head, seg->head_len) > 0 &&
	    seg->head[3] == 0) {
		D->st = M_HDR; /* a command starts this write */
		D->have = 0;
		D->in_msg = false;
		D->long_pkt = false;
	}
	if (D->st == M_RESYNC) {
		D->have = 0;
		D->long_pkt = false;
	}
	if (seg->head_len)
		bytes(m, dir, seg->head, seg->head_len, seg, 0);
	gap(m, dir, seg->len - seg->head_len - seg->tail_len, seg);
	if (seg->tail_len)
		bytes(m, dir, seg->tail, seg->tail_len, seg, seg->len - seg->tail_len);
}

static void my_eof(void *st, int dir)
{
	(void)st;
	(void)dir;
}

static void my_finish(void *st)
{
	struct my *m = st;
	struct mdir *S = &m->d[!m->req_dir];

	if (S->in_msg && (S->cur.flags & WS_MSGF_FRAMING_LOST) && ws_pairer_next(&m->pairer, NULL))
		respond(m);
}

static void *my_create(int req_dir, const struct proto_sink *sink)
{
	struct my *m = ws_calloc(1, sizeof(*m));

	m->req_dir = req_dir;
	m->frame.eof_mode = -1;
	ws_stmt_init(&m->stmts, STMTS_MAX);
	ws_pairer_init(&m->pairer, sink, PENDING_MAX);
	return m;
}

static void my_destroy(void *st)
{
	struct my *m = st;

	if (!m)
		return;
	for (int i = 0; i < 2; i++)
		explicit_bzero(m->d[i].body, sizeof(m->d[i].body));
	ws_stmt_free(&m->stmts);
	ws_pairer_free(&m->pairer);
	free(m);
}

static unsigned my_pending(void *st)
{
	struct my *m = st;

	return m->pairer.pending.len + m->d[0].in_msg + m->d[1].in_msg;
}

static struct ws_pairer *my_pairer(void *st) { return &((struct my *)st)->pairer; }

/* ---- spans ---- */

static void my_span_fields(const struct ws_exchange *x, bool client, struct ws_span_fields *s, struct ws_json *a)
{
	const struct ws_mysql_info *rq = &x->req.u.mysql, *rs = &x->resp.u.mysql;

	(void)client;
	ws_sql_span_fields(rq->op, rq->collection, rq->query, "mysql", s);
	if (rs->error) {
		snprintf(s->error, sizeof(s->error), "%u", rs->error_code);
		wj_kstr(a, "db.response.status_code", s->error);
		if (rs->sqlstate[0])
			wj_kstr(a, "wirespan.mysql.sqlstate", rs->sqlstate);
	}
	if (rq->db[0])
		wj_kstr(a, "db.namespace", rq->db);
	const char *cn = com_name(rq->command);
	if (cn)
		wj_kstr(a, "wirespan.mysql.command", cn);
	else
		wj_kuint(a, "wirespan.mysql.command", rq->command);
	bool lost = (x->req.flags | x->resp.flags) & WS_MSGF_FRAMING_LOST;
	if (!x->aborted && !rs->error && !lost) {
		if (rs->results)
			wj_kuint(a, "db.response.returned_rows", rs->rows);
		else
			wj_kuint(a, "wirespan.mysql.affected_rows", rs->affected);
		if (rs->results > 1)
			wj_kuint(a, "wirespan.mysql.result_sets", rs->results);
	}
	if (rq->query_cut)
		wj_kbool(a, "wirespan.db.query.cut", true);
	if (rq->stmt_unknown)
		wj_kbool(a, "wirespan.mysql.statement_unknown", true);
}

static const char *const my_constants[] = {"db.system", "mysql", "db.system.name", "mysql", NULL};

static const struct proto_span my_span = {
	.fields = my_span_fields,
	.method_attr = "db.operation.name",
	.target_attr = "db.collection.name",
	.query_attr = "db.query.text",
	.constant_attrs = my_constants,
	.target_optional = true,
	.database = true,
};

const struct proto_ops ws_mysql_ops = {
	.id = WS_PROTO_MYSQL,
	.name = "mysql",
	.span = &my_span,
	.create = my_create,
	.feed = my_feed,
	.eof = my_eof,
	.finish = my_finish,
	.destroy = my_destroy,
	.pending = my_pending,
	.pairer = my_pairer,
};
