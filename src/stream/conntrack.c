/* conntrack.c -- see conntrack.h.
 *
 * Ordering: live capture delivers each socket's syscalls nearly in order
 * already (the reorder stage sorts by time), so the per-direction queue of
 * early runs is short and rarely used; pcap input relies on it more.
 * Sequence numbers compare with 32-bit serial arithmetic.
 */
#include "stream/conntrack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "util/util.h"

#define OOO_MAX 16      /* early runs held per direction */
#define DETECT_TRIES 8  /* runs with bytes tried before giving up */
#define DETECT_BYTES 64 /* bytes gathered when a request starts in tiny writes */
#define DETECT_SEGS DETECT_BYTES

struct ooo_seg {
	struct ws_seg seg;
	uint8_t *buf; /* owns head and tail bytes */
};

/* The first small runs of a direction, kept until the protocol is known. */
struct det_buf {
	uint8_t bytes[DETECT_BYTES];
	uint32_t len;
	struct ws_seg segs[DETECT_SEGS]; /* head points into bytes */
	unsigned nsegs;
};

struct ct_dir {
	struct det_buf *det;
	bool started;
	bool gap_next; /* the next run follows lost bytes */
	bool gap_undetected; /* bytes were lost before the protocol was known */
	uint32_t next_seq;
	unsigned nooo;
	struct ooo_seg *ooo; /* OOO_MAX slots, allocated when first needed */
	uint64_t ooo_since; /* event time the oldest early run arrived */
	bool end_known;
	uint32_t end_seq; /* where the kernel last said the direction stood */
	uint64_t t_eof;   /* the peer's end was read (receive direction) */
};

struct ct_conn {
	struct ct_conn_info info;
	struct conntrack *ct;
	struct ct_dir dir[2];
	const struct proto_ops *ops;
	void *pst;
	uint8_t detect_tries;
	uint8_t role_hint;
	bool opaque;
	bool tls;              /* its bytes are TLS plaintext (CT_TLS) */
	uint64_t opaque_bytes; /* counted in tls_opaque_bytes */
	bool closing;
	uint64_t close_at;
	struct ct_conn *prev, *next;   /* activity order, oldest first */
	struct ct_conn *cprev, *cnext; /* closing order, earliest first */
};

struct conntrack {
	struct ct_config cfg;
	struct ct_sink sink;
	struct ws_hashmap conns;
	struct ct_conn *oldest, *newest;
	struct ct_conn *closing_first, *closing_last;
	size_t nooo_dirs; /* directions holding early runs */
	struct ct_stats st;
};

static void lru_unlink(struct conntrack *ct, struct ct_conn *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		ct->oldest = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		ct->newest = c->prev;
	c->prev = c->next = NULL;
}

static void lru_append(struct conntrack *ct, struct ct_conn *c)
{
	c->prev = ct->newest;
	c->next = NULL;
	if (ct->newest)
		ct->newest->next = c;
	else
		ct->oldest = c;
	ct->newest = c;
}

struct conntrack *ct_new(const struct ct_config *cfg, const struct ct_sink *sink)
{
	struct conntrack *ct = ws_calloc(1, sizeof(*ct));

	ct->cfg = *cfg;
	if (!ct->cfg.max_conns)
		ct->cfg.max_conns = 65536;
	if (!ct->cfg.close_grace)
		ct->cfg.close_grace = 200 * 1000000ull;
	if (!ct->cfg.ooo_timeout)
		ct->cfg.ooo_timeout = 500 * 1000000ull;
	ct->sink = *sink;
	ws_hashmap_init(&ct->conns);
	return ct;
}

const struct ct_stats *ct_stats(const struct conntrack *ct) { return &ct->st; }
size_t ct_active(const struct conntrack *ct) { return ct->conns.len; }

/* ---- from the parser ---- */

static void on_exchange(void *ctx, const struct ws_exchange *x)
{
	struct ct_conn *c = ctx;

	c->info.exchanges++;
	c->ct->st.exchanges++;
	if (c->ct->sink.exchange)
		c->ct->sink.exchange(c->ct->sink.ctx, &c->info, x);
}

static void on_unmatched(void *ctx, const struct ws_msg *m)
{
	struct ct_conn *c = ctx;

	if (m->flags & WS_MSGF_LOST) {
		c->ct->st.unpaired_lost++;
		return;
	}
	c->info.unmatched++;
	c->ct->st.unmatched++;
}

/* ---- connection lifetime ---- */

static struct ct_conn *conn_get(struct conntrack *ct, const struct ws_event *ev, bool create);

static void drain_ooo(struct ct_conn *c, int dir, bool force);
static void det_free(struct ct_dir *D);

static void closing_unlink(struct conntrack *ct, struct ct_conn *c)
{
	if (c->cprev)
		c->cprev->cnext = c->cnext;
	else
		ct->closing_first = c->cnext;
	if (c->cnext)
		c->cnext->cprev = c->cprev;
	else
		ct->closing_last = c->cprev;
	c->cprev = c->cnext = NULL;
}

static int32_t seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

/* Why requests still waiting at the end of a closed connection got no
 * response, and when the connection gave up on them. */
static uint8_t abort_why(const struct ct_conn *c, uint64_t *t)
{
	int resp_dir = c->info.role == WS_ROLE_CLIENT ? WS_RECV : WS_SEND;

	*t = c->info.t_close ? c->info.t_close : c->info.t_last;
	if ((c->info.flags & CT_RESET) || c->info.resets_rx || c->info.resets_tx)
		return WS_ABORT_RESET;
	if (resp_dir == WS_RECV && c->dir[WS_RECV].t_eof) {
		*t = c->dir[WS_RECV].t_eof;
		return WS_ABORT_PEER_CLOSED;
	}
	return WS_ABORT_CLOSED;
}

static void conn_end(struct conntrack *ct, struct ct_conn *c, bool closed)
{
	drain_ooo(c, WS_SEND, true);
	drain_ooo(c, WS_RECV, true);
	if (c->ops) {
		struct ws_pairer *p = c->ops->pairer ? c->ops->pairer(c->pst) : NULL;
		/* bytes the kernel moved past the last run reported: their
		 * records were lost, and with them maybe the answers waiting (a
		 * FIN sent or read takes one sequence number of its own) */
		for (int d = 0; d < 2; d++) {
			struct ct_dir *D = &c->dir[d];
			if (D->end_known && D->started && seq_diff(D->end_seq, D->next_seq) > 1) {
				ct->st.lost_tails++;
				if (p)
					ws_pairer_gap(p, d == (c->info.role == WS_ROLE_CLIENT ? WS_SEND : WS_RECV));
			}
		}
		if (closed) {
			c->ops->eof(c->pst, WS_SEND);
			c->ops->eof(c->pst, WS_RECV);
		}
		c->ops->finish(c->pst);
		if (closed && p) {
			uint64_t t;
			uint8_t why = abort_why(c, &t);
			uint64_t before = c->info.exchanges;
			ws_pairer_abort(p, why, t);
			ct->st.aborted += c->info.exchanges - before;
		}
		if (!closed)
			ct->st.incomplete_at_end += c->ops->pending(c->pst);
		c->ops->destroy(c->pst);
		c->ops = NULL;
	}
	for (int d = 0; d < 2; d++) {
		det_free(&c->dir[d]);
		free(c->dir[d].ooo);
	}
	if (closed)
		c->info.flags |= CT_CLOSED;
	if (ct->sink.conn_end)
		ct->sink.conn_end(ct->sink.ctx, &c->info);
	ct->st.conns_ended++;
	if (c->closing)
		closing_unlink(ct, c);
	lru_unlink(ct, c);
	ws_hashmap_del(&ct->conns, c->info.id);
	free(c);
}

static struct ct_conn *conn_get(struct conntrack *ct, const struct ws_event *ev, bool create)
{
	struct ct_conn *c = ws_hashmap_get(&ct->conns, ev->conn_id);

	if (c) {
		lru_unlink(ct, c);
		lru_append(ct, c);
		return c;
	}
	if (!create || !ev->conn_id)
		return NULL;
	if (ct->conns.len >= ct->cfg.max_conns && ct->oldest) {
		struct ct_conn *old = ct->oldest;
		old->info.flags |= CT_EVICTED;
		ct->st.conns_evicted++;
		conn_end(ct, old, false);
	}
	c = ws_calloc(1, sizeof(*c));
	c->ct = ct;
	c->info.id = ev->conn_id;
	c->info.t_first = ev->t_enter;
	ws_hashmap_put(&ct->conns, c->info.id, c);
	lru_append(ct, c);
	ct->st.conns++;
	return c;
}

static void update_info(struct ct_conn *c, const struct ws_event *ev)
{
	struct ct_conn_info *ci = &c->info;

	/* a closed socket has given its local port back (the kernel reports
	 * 0): keep the ends it had */
	if (ev->local.family && (ev->local.port || !ci->local.family)) {
		ci->local = ev->local;
		ci->peer = ev->peer;
	}
	if (ev->pid) {
		ci->pid = ev->pid;
		memcpy(ci->comm, ev->comm, sizeof(ci->comm));
		ci->comm[sizeof(ci->comm) - 1] = 0;
	}
	if (ev->netns)
		ci->netns = ev->netns;
	if (ev->t_exit > ci->t_last)
		ci->t_last = ev->t_exit;
}

static void mark_closing(struct conntrack *ct, struct ct_conn *c, uint64_t t)
{
	if (!c->closing) {
		c->closing = true;
		c->close_at = t;
		c->info.t_close = t;
		c->cprev = ct->closing_last;
		if (ct->closing_last)
			ct->closing_last->cnext = c;
		else
			ct->closing_first = c;
		ct->closing_last = c;
	}
}

/* ---- bytes ---- */

static void det_free(struct ct_dir *D)
{
	free(D->det);
	D->det = NULL;
}

static void start_parser(struct ct_conn *c, int dir, enum ws_proto p)
{
	struct proto_sink sink = {.exchange = on_exchange, .unmatched = on_unmatched, .ctx = c};

	c->ops = ws_proto_ops(p);
	c->pst = c->ops->create(dir, &sink);
	c->info.proto = p;
	/* whoever sends requests is the client, whatever the socket calls say */
	c->info.role = dir == WS_SEND ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
}

/* Learn the protocol from the first bytes of a direction. Runs too short
 * to decide are kept (up to DETECT_BYTES) and replayed to the parser with
 * their own timestamps once the protocol is known. Returns true when seg
 * should go on to the parser. */
static bool detect(struct ct_conn *c, int dir, struct ws_seg *seg)
{
	struct ct_dir *D = &c->dir[dir];
	struct det_buf *B = D->det;
	struct conntrack *ct = c->ct;
	uint8_t tmp[2 * DETECT_BYTES];
	uint32_t n = 0;
	bool more = false;
	enum ws_proto p;

	if (B && seg->gap_before) { /* the kept bytes do not continue into seg */
		ct->st.undetected_segs += B->nsegs;
		det_free(D);
		B = NULL;
	}
	if (B) {
		memcpy(tmp, B->bytes, B->len);
		n = B->len;
	}
	uint32_t take = WS_MIN(seg->head_len, (uint32_t)sizeof(tmp) - n);
	memcpy(tmp + n, seg->head, take);
	n += take;
	p = ws_proto_detect_request(tmp, n, &more);
	int req_dir = dir;
	if (p == WS_PROTO_NONE) { /* a server that speaks first: requests go the other way */
		bool gmore = false;
		p = ws_proto_detect_greeting(tmp, n, &gmore);
		more |= gmore;
		req_dir = !dir;
	}
	if (p != WS_PROTO_NONE) {
		/* requests go out from a client, in to a server: when connect or
		 * accept was seen, they must agree; when not, the bytes must not
		 * be able to be a reply */
		int want = c->role_hint == WS_ROLE_CLIENT ? WS_SEND : c->role_hint == WS_ROLE_SERVER ? WS_RECV : -1;
		int certain = want >= 0 ? req_dir == want
			      : req_dir == dir ? ws_proto_request_is_certain(p, tmp, n) : 1;
		if (certain <= 0) {
			more = certain < 0;
			p = WS_PROTO_NONE;
		}
	}
	if (p != WS_PROTO_NONE) {
		start_parser(c, req_dir, p);
		/* records lost before: the pairer must not trust queue order */
		if (seg->gap_before)
			D->gap_undetected = true;
		for (int d = 0; d < 2; d++)
			if (c->dir[d].gap_undetected && c->ops->pairer)
				ws_pairer_gap(c->ops->pairer(c->pst), d == req_dir);
		if (B) {
			for (unsigned i = 0; i < B->nsegs; i++)
				c->ops->feed(c->pst, dir, &B->segs[i]);
			det_free(D);
		}
		/* an HTTP/2 server may send its preface (SETTINGS) before its
		 * client's arrives: kept while waiting, it is the start of the
		 * other direction, which the parser needs to decode its headers */
		struct ct_dir *O = &c->dir[!dir];
		if (p == WS_PROTO_H2 && O->det) {
			for (unsigned i = 0; i < O->det->nsegs; i++)
				c->ops->feed(c->pst, !dir, &O->det->segs[i]);
			det_free(O);
		}
		seg->gap_before = false;
		return true;
	}
	if (!c->tls && ws_proto_looks_tls(tmp, n)) { /* encrypted: nothing more to learn */
		if (B) {
			ct->st.undetected_segs += B->nsegs;
			c->opaque_bytes += B->len;
			ct->st.tls_opaque_bytes += B->len;
			det_free(D);
		}
		ct->st.undetected_segs++;
		c->opaque = true;
		c->info.flags |= CT_TLS_OPAQUE;
		ct->st.opaque_conns++;
		ct->st.tls_opaque_conns++;
		return false;
	}
	if (more && seg->head_len == seg->len && (B ? B->len : 0) + seg->len <= DETECT_BYTES &&
	    (!B || B->nsegs < DETECT_SEGS)) {
		if (!B)
			B = D->det = ws_calloc(1, sizeof(*B));
		memcpy(B->bytes + B->len, seg->head, seg->len);
		B->segs[B->nsegs] = *seg;
		B->segs[B->nsegs].head = B->bytes + B->len;
		B->segs[B->nsegs].gap_before = false;
		B->nsegs++;
		B->len += seg->len;
		return false;
	}
	if (B) {
		ct->st.undetected_segs += B->nsegs;
		det_free(D);
	}
	ct->st.undetected_segs++;
	if (seg->head_len && ++c->detect_tries >= DETECT_TRIES) {
		c->opaque = true;
		ct->st.opaque_conns++;
	}
	return false;
}

static void deliver(struct ct_conn *c, int dir, struct ws_seg *seg)
{
	struct ct_dir *D = &c->dir[dir];

	seg->gap_before = D->gap_next;
	D->gap_next = false;
	D->next_seq = seg->seq + seg->len;
	c->info.bytes[dir] += seg->len;
	c->info.segs[dir]++;

	if (!c->ops && !c->opaque) {
		if (seg->gap_before)
			D->gap_undetected = true;
		if (!detect(c, dir, seg) && !(c->info.flags & CT_TLS_OPAQUE))
			return;
	}
	if (c->info.flags & CT_TLS_OPAQUE) {
		c->opaque_bytes += seg->len;
		c->ct->st.tls_opaque_bytes += seg->len;
	}
	if (c->ops)
		c->ops->feed(c->pst, dir, seg);
}

/* The first plaintext of a TLS connection: what came before was the
 * socket's own bytes (the handshake, ciphertext), which the plaintext
 * replaces from here on, in its own numbering. */
static void tls_begin(struct conntrack *ct, struct ct_conn *c)
{
	c->tls = true;
	c->info.flags |= CT_TLS;
	ct->st.tls_conns++;
	if (c->info.flags & CT_TLS_OPAQUE) {
		c->info.flags &= (uint16_t)~CT_TLS_OPAQUE;
		ct->st.opaque_conns--;
		ct->st.tls_opaque_conns--;
		ct->st.tls_opaque_bytes -= c->opaque_bytes;
		c->opaque_bytes = 0;
	} else if (c->opaque) {
		ct->st.opaque_conns--;
	}
	if (c->ops) { /* a parser taken in by ciphertext */
		c->ops->destroy(c->pst);
		c->ops = NULL;
		c->info.proto = WS_PROTO_NONE;
	}
	c->opaque = false;
	c->detect_tries = 0;
	for (int d = 0; d < 2; d++) {
		struct ct_dir *D = &c->dir[d];
		det_free(D);
		for (unsigned i = 0; i < D->nooo; i++)
			free(D->ooo[i].buf);
		if (D->nooo)
			ct->nooo_dirs--;
		D->nooo = 0;
		D->started = D->gap_next = D->gap_undetected = D->end_known = false;
	}
}

static void hold(struct ct_conn *c, int dir, const struct ws_seg *seg, uint64_t now)
{
	struct ct_dir *D = &c->dir[dir];
	struct ooo_seg *o;
	unsigned i;

	if (!D->ooo)
		D->ooo = ws_calloc(OOO_MAX, sizeof(*D->ooo));
	if (D->nooo == 0) {
		D->ooo_since = now;
		c->ct->nooo_dirs++;
	}
	/* keep the queue sorted by seq */
	for (i = D->nooo; i > 0 && seq_diff(D->ooo[i - 1].seg.seq, seg->seq) > 0; i--)
		D->ooo[i] = D->ooo[i - 1];
	o = &D->ooo[i];
	o->seg = *seg;
	o->buf = ws_malloc(seg->head_len + seg->tail_len + 1);
	if (seg->head_len)
		memcpy(o->buf, seg->head, seg->head_len);
	if (seg->tail_len)
		memcpy(o->buf + seg->head_len, seg->tail, seg->tail_len);
	o->seg.head = o->buf;
	o->seg.tail = o->buf + seg->head_len;
	D->nooo++;
	c->ct->st.reordered++;
}

/* Cut the first `skip` bytes (already delivered) off a run. */
static void trim_front(struct ws_seg *s, uint32_t skip)
{
	uint32_t middle = s->len - s->head_len - s->tail_len;

	if (skip >= s->len) {
		s->len = 0;
		return;
	}
	if (skip <= s->head_len) {
		s->head += skip;
		s->head_len -= skip;
	} else {
		uint32_t past_head = skip - s->head_len;
		s->head_len = 0;
		if (past_head > middle) {
			uint32_t t = past_head - middle;
			s->tail += t;
			s->tail_len -= t;
		}
	}
	s->seq += skip;
	s->len -= skip;
}

/* Deliver the lowest held run (after a gap), then whatever follows on. */
static void release_lowest(struct ct_conn *c, int dir)
{
	struct ct_dir *D = &c->dir[dir];
	uint32_t first = D->ooo[0].seg.seq;

	if (seq_diff(first, D->next_seq) > 0) {
		D->gap_next = true;
		c->ct->st.gaps++;
		D->next_seq = first;
	}
	drain_ooo(c, dir, false);
}

static void drain_ooo(struct ct_conn *c, int dir, bool force)
{
	struct ct_dir *D = &c->dir[dir];

	while (D->nooo) {
		struct ooo_seg o = D->ooo[0];
		int32_t d = seq_diff(o.seg.seq, D->next_seq);
		if (d > 0 && !force)
			break;
		memmove(&D->ooo[0], &D->ooo[1], (D->nooo - 1) * sizeof(D->ooo[0]));
		D->nooo--;
		if (d > 0) {
			D->gap_next = true;
			c->ct->st.gaps++;
		} else if (d < 0) {
			trim_front(&o.seg, (uint32_t)-d);
		}
		if (o.seg.len)
			deliver(c, dir, &o.seg);
		free(o.buf);
		if (!D->nooo)
			c->ct->nooo_dirs--;
	}
	if (D->nooo)
		D->ooo_since = c->info.t_last;
}

static void on_data(struct conntrack *ct, struct ct_conn *c, const struct ws_event *ev)
{
	struct ct_dir *D = &c->dir[ev->dir & 1];
	int dir = ev->dir & 1;

	ct->st.data_events++;
	if (ev->flags & WS_EVF_ERROR) {
		c->info.last_err = ev->err;
		if (ev->err == -ECONNRESET || ev->err == -EPIPE)
			c->info.flags |= CT_RESET;
		return;
	}
	if (ev->flags & WS_EVF_EOF) {
		if (!D->t_eof)
			D->t_eof = ev->t_exit;
		drain_ooo(c, dir, true); /* the end comes after everything held */
		if (c->ops)
			c->ops->eof(c->pst, dir);
		return;
	}
	if ((ev->tls & WS_TLSF_PLAIN) && !c->tls)
		tls_begin(ct, c);
	else if (c->tls && !(ev->tls & WS_TLSF_PLAIN))
		return; /* ciphertext reported before the socket was tied to its library */
	if (!ev->len)
		return;
	ct->st.bytes += ev->len;

	struct ws_seg seg = {
		.seq = ev->seq,
		.len = ev->len,
		.head = ev->head,
		.head_len = WS_MIN(ev->head_len, ev->len),
		.tail = ev->tail,
		.tail_len = ev->tail_len,
		.t_enter = ev->t_enter,
		.t_exit = ev->t_exit,
		.pid = ev->pid,
		.tid = ev->tid,
		.t_arr_first = ev->t_arr_first,
		.t_arr_last = ev->t_arr_last,
		.runq = {ev->runq[0], ev->runq[1]},
		.offcpu = {ev->offcpu[0], ev->offcpu[1]},
		.goid = ev->goid,
		.waker = ev->waker,
		.t_wake = ev->t_wake,
		.waker2 = ev->waker2,
		.t_wake2 = ev->t_wake2,
		.fence = ev->fence,
		.fence_known = (ev->flags & WS_EVF_FENCE) != 0,
		.tls = (ev->tls & WS_TLSF_PLAIN) != 0,
		.wire_known = (ev->tls & WS_TLSF_WIRE) != 0,
		.wire_seq = ev->wire_seq,
	};
	if (seg.head_len + seg.tail_len > seg.len)
		seg.tail_len = seg.len - seg.head_len;
	if (seg.tail_len && seg.tail_len < ev->tail_len)
		seg.tail += ev->tail_len - seg.tail_len;

	if (!D->started || (ev->flags & WS_EVF_NOSEQ)) {
		D->started = true;
		D->next_seq = seg.seq;
	}
	/* Bytes the other direction holds from before this run came first:
	 * what they wait for was lost (the conversation has moved on).
	 * Deliver them now, so that a request is parsed before the response
	 * that answers it, even when this run must wait too. */
	struct ct_dir *O = &c->dir[!dir];
	if (O->nooo && O->ooo[0].seg.t_exit <= seg.t_enter)
		drain_ooo(c, !dir, true);
	int32_t d = seq_diff(seg.seq, D->next_seq);
	if (d > 0 && D->nooo == OOO_MAX) {
		release_lowest(c, dir); /* make room: its missing bytes are lost */
		d = seq_diff(seg.seq, D->next_seq);
	}
	if (d > 0) {
		hold(c, dir, &seg, ev->t_exit);
		return;
	} else if (d < 0) {
		ct->st.overlaps++;
		trim_front(&seg, (uint32_t)-d);
		if (!seg.len)
			return;
	}
	deliver(c, dir, &seg);
	drain_ooo(c, dir, false);
}

static void on_tcp(struct ct_conn *c, const struct ws_event *ev)
{
	struct ct_conn_info *i = &c->info;

	if (ev->srtt_us)
		i->srtt_us = ev->srtt_us;
	i->rto_max_us = WS_MAX(i->rto_max_us, ev->rto_us);
	switch (ev->tcp_what) {
	case WS_TCPEV_RETRANS:
		i->retransmits++;
		if (ev->reason & 0x02) /* SYN */
			i->syn_retransmits++;
		break;
	case WS_TCPEV_RESET_RX: i->resets_rx++; break;
	case WS_TCPEV_RESET_TX: i->resets_tx++; break;
	case WS_TCPEV_DROP: i->drops++; break;
	}
}

/* Where the kernel says each direction stands: the start of a direction
 * not seen yet (so that its first lost records show as a gap), and its
 * end (checked when the connection ends). */
static void stream_seqs(struct ct_conn *c, const struct ws_event *ev)
{
	uint32_t at[2] = {[WS_SEND] = ev->sent_seq, [WS_RECV] = ev->read_seq};

	for (int d = 0; d < 2; d++) {
		struct ct_dir *D = &c->dir[d];
		if (!D->started) {
			D->started = true;
			D->next_seq = at[d];
		}
		D->end_known = true;
		D->end_seq = at[d];
	}
}

void ct_event(struct conntrack *ct, const struct ws_event *ev)
{
	struct ct_conn *c;

	ct->st.events++;
	c = conn_get(ct, ev, ev->kind == WS_EV_OPEN || ev->kind == WS_EV_DATA);
	if (!c)
		return;
	if (ev->kind == WS_EV_TCP) { /* softirq facts: no process, no bytes */
		on_tcp(c, ev);
		return;
	}
	update_info(c, ev);
	if (ev->kind != WS_EV_DATA && (ev->flags & WS_EVF_STREAM) && !c->tls) /* TCP's numbering */
		stream_seqs(c, ev);
	if (ev->srtt_us)
		c->info.srtt_us = ev->srtt_us;
	switch (ev->kind) {
	case WS_EV_OPEN:
		c->info.flags |= CT_OPEN_SEEN;
		c->info.t_open = ev->t_enter;
		c->info.open_tid = ev->tid;
		if (ev->t_estab)
			c->info.t_estab = ev->t_estab;
		c->role_hint = ev->role;
		if (!c->info.role)
			c->info.role = ev->role;
		if (ev->flags & WS_EVF_ERROR) {
			c->info.flags |= CT_CONNECT_FAILED;
			c->info.last_err = ev->err;
			mark_closing(ct, c, ev->t_exit);
		}
		break;
	case WS_EV_DATA:
		on_data(ct, c, ev);
		break;
	case WS_EV_CLOSE:
		mark_closing(ct, c, ev->t_exit);
		break;
	case WS_EV_STATE:
		if (ev->newstate == WS_TCP_ESTABLISHED && !c->info.t_estab)
			c->info.t_estab = ev->t_exit;
		if (ev->newstate == WS_TCP_CLOSE) {
			if (ev->oldstate == WS_TCP_SYN_SENT)
				c->info.flags |= CT_CONNECT_FAILED;
			mark_closing(ct, c, ev->t_exit);
		}
		break;
	}
}

const struct ct_conn_info *ct_lookup(const struct conntrack *ct, uint64_t conn_id)
{
	const struct ct_conn *c = ws_hashmap_get((struct ws_hashmap *)&ct->conns, conn_id);

	return c ? &c->info : NULL;
}

void ct_advance(struct conntrack *ct, uint64_t now)
{
	/* closed connections end once stragglers had time to arrive */
	while (ct->closing_first && now > ct->closing_first->close_at + ct->cfg.close_grace)
		conn_end(ct, ct->closing_first, true);
	/* early runs waiting too long: the bytes before them are lost */
	if (ct->nooo_dirs) {
		for (struct ct_conn *c = ct->oldest; c; c = c->next)
			for (int d = 0; d < 2; d++)
				if (c->dir[d].nooo && now > c->dir[d].ooo_since + ct->cfg.ooo_timeout)
					drain_ooo(c, d, true);
	}
}

void ct_flush(struct conntrack *ct)
{
	while (ct->oldest)
		conn_end(ct, ct->oldest, ct->oldest->closing);
}

void ct_free(struct conntrack *ct)
{
	if (!ct)
		return;
	ct_flush(ct);
	ws_hashmap_free(&ct->conns);
	free(ct);
}
