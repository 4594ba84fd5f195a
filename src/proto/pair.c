/* pair.c -- what every parser shares: the queue of requests waiting for
 * their responses, pairing them (in step, and out of step once records
 * were lost), messages' boundaries and text lines cut between writes. */
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "util/util.h"

/* ---- message queue ---- */

void ws_msgq_init(struct ws_msgq *q, unsigned max)
{
	q->items = NULL;
	q->head = q->len = q->cap = 0;
	q->max = max;
}

static void msgq_grow(struct ws_msgq *q)
{
	unsigned cap = q->cap ? q->cap * 2 : 2;
	struct ws_msg *items;

	if (cap > q->max)
		cap = q->max;
	items = ws_malloc((size_t)cap * sizeof(*items));
	for (unsigned i = 0; i < q->len; i++) /* unwrap the ring */
		items[i] = q->items[(q->head + i) % q->cap];
	free(q->items);
	q->items = items;
	q->head = 0;
	q->cap = cap;
}

void ws_msgq_free(struct ws_msgq *q)
{
	free(q->items);
	q->items = NULL;
	q->len = q->cap = q->max = 0;
}

bool ws_msgq_push(struct ws_msgq *q, const struct ws_msg *m, struct ws_msg *dropped)
{
	if (q->len == q->cap && q->cap < q->max)
		msgq_grow(q);
	bool full = q->len == q->cap;

	if (full) {
		if (dropped)
			*dropped = q->items[q->head];
		q->head = (q->head + 1) % q->cap;
		q->len--;
	}
	q->items[(q->head + q->len) % q->cap] = *m;
	q->len++;
	return full;
}

struct ws_msg *ws_msgq_front(struct ws_msgq *q) { return q->len ? &q->items[q->head] : NULL; }

void ws_msgq_pop(struct ws_msgq *q)
{
	if (!q->len)
		return;
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

void ws_msg_begin(struct ws_msg *m, uint8_t proto, int dir, const struct ws_seg *seg, uint32_t off)
{
	memset(m, 0, sizeof(*m));
	m->proto = proto;
	m->dir = dir;
	m->seq = seg->seq + off;
	if (seg->tls) { /* the record's place on the wire, when the message begins one */
		m->flags |= WS_MSGF_TLS;
		m->seq = off == 0 && seg->wire_known ? seg->wire_seq : 0;
		if (!(off == 0 && seg->wire_known))
			m->flags |= WS_MSGF_NOSEQ;
	}
	m->t_first_enter = m->t_last_enter = seg->t_enter;
	m->t_first_exit = m->t_last_exit = seg->t_exit;
	m->pid = seg->pid;
	m->tid = m->last_tid = seg->tid;
	m->t_arr_first = seg->t_arr_first;
	m->t_arr_last = seg->t_arr_last;
	m->runq_first = seg->runq[0];
	m->offcpu_first = seg->offcpu[0];
	m->runq_last = seg->runq[1];
	m->offcpu_last = seg->offcpu[1];
	m->goid = m->last_goid = seg->goid;
	m->waker = seg->waker;
	m->t_wake = seg->t_wake;
	m->waker2 = seg->waker2;
	m->t_wake2 = seg->t_wake2;
	if (seg->fence_known) {
		m->fence = seg->fence;
		m->flags |= WS_MSGF_FENCE;
	}
}

void ws_msg_touch(struct ws_msg *m, const struct ws_seg *seg)
{
	m->t_last_enter = seg->t_enter;
	m->t_last_exit = seg->t_exit;
	if (seg->t_arr_last) /* a capture's packets too, which have no thread */
		m->t_arr_last = seg->t_arr_last;
	if (!seg->tid) /* 0: a synthetic end (eof, lost framing), or a capture */
		return;
	m->last_tid = seg->tid;
	m->last_goid = seg->goid;
	m->runq_last = seg->runq[1];
	m->offcpu_last = seg->offcpu[1];
}

/* ---- request/response pairing ---- */

/*
 * In step, responses answer requests first-in first-out. Once records are
 * lost, a response may answer a request whose record was lost, or the
 * answers of some waiting requests may be in the lost bytes: queue order
 * proves nothing. Each message carries a fence: the other direction's
 * sequence number when its first byte was moved (on a client, the bytes
 * received before the request was written; on a server, the bytes written
 * before the request was read). No answer to a request starts before its
 * fence, and on a connection that does not pipeline, the answer to the
 * latest request is the first byte after its fence. So out of step:
 *  - the requests that were waiting when requests (not responses) were
 *    lost are still answered in order;
 *  - otherwise a response pairs with the latest waiting request only if it
 *    starts exactly at that request's fence, the connection was never seen
 *    to pipeline, and the request starts exactly where the requests stood
 *    when the response before it was moved (a response's fence), so that
 *    no lost request can share its answer; the requests before it were
 *    answered in lost bytes; this brings the pairer back in step;
 *  - anything else is counted as lost (WS_MSGF_LOST), with the waiting
 *    requests the response proves answered already.
 * In step, a response that starts before its request's fence proves an
 * unseen loss, and puts the pairer out of step.
 */

static int32_t seqdiff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

void ws_pairer_init(struct ws_pairer *p, const struct proto_sink *sink, unsigned cap)
{
	memset(p, 0, sizeof(*p));
	ws_msgq_init(&p->pending, cap);
	p->sink = *sink;
}

void ws_pairer_free(struct ws_pairer *p) { ws_msgq_free(&p->pending); }

void ws_pairer_unmatched(struct ws_pairer *p, const struct ws_msg *m)
{
	if (p->sink.unmatched)
		p->sink.unmatched(p->sink.ctx, m);
}

static void lost(struct ws_pairer *p, const struct ws_msg *m)
{
	struct ws_msg c = *m;

	c.flags |= WS_MSGF_LOST;
	ws_pairer_unmatched(p, &c);
}

static void pair(struct ws_pairer *p, const struct ws_msg *req, const struct ws_msg *resp)
{
	struct ws_exchange x;

	memset(&x, 0, sizeof(x));
	x.req = *req;
	x.resp = *resp;
	if (p->sink.exchange)
		p->sink.exchange(p->sink.ctx, &x);
}

void ws_pairer_gap(struct ws_pairer *p, bool req)
{
	if (req) {
		if (!p->desync)
			p->sure = p->pending.len;
	} else {
		p->sure = 0;
	}
	p->desync = true;
}

void ws_pairer_request(struct ws_pairer *p, const struct ws_msg *req)
{
	struct ws_msg dropped;
	bool fk = req->flags & WS_MSGF_FENCE;

	if (p->answered) {
		p->answered = false;
		return;
	}
	/* nothing came back between two waiting requests: pipelining (a
	 * response lost in between would have moved the fence) */
	if (p->pending.len && fk && p->last_fence_known && req->fence == p->last_fence)
		p->pipelined = true;
	p->last_fence = req->fence;
	p->last_fence_known = fk;
	struct ws_msg m = *req;
	if (p->resp_fence_known && m.seq == p->resp_fence)
		m.flags |= WS_MSGF_ADJOINS;
	if (ws_msgq_push(&p->pending, &m, &dropped)) {
		if (p->sure)
			p->sure--;
		ws_pairer_unmatched(p, &dropped);
	}
}

static bool before_fence(const struct ws_msg *req, const struct ws_msg *resp)
{
	return (req->flags & WS_MSGF_FENCE) && seqdiff(resp->seq, req->fence) < 0;
}

static void out_of_step(struct ws_pairer *p, const struct ws_msg *resp)
{
	struct ws_msgq *q = &p->pending;

	if (p->sure) {
		const struct ws_msg *req = ws_msgq_front(q);
		if (!before_fence(req, resp)) {
			pair(p, req, resp);
			ws_msgq_pop(q);
			p->sure--;
			return;
		}
		p->sure = 0;
	}
	if (q->len) {
		const struct ws_msg *last = &q->items[(q->head + q->len - 1) % q->cap];
		if (!p->pipelined && (last->flags & WS_MSGF_FENCE) && (last->flags & WS_MSGF_ADJOINS) &&
		    last->fence == resp->seq) {
			while (q->len > 1) {
				lost(p, ws_msgq_front(q));
				ws_msgq_pop(q);
			}
			pair(p, ws_msgq_front(q), resp);
			ws_msgq_pop(q);
			p->desync = false;
			return;
		}
	}
	/* unprovable: the response is lost, and so is every waiting request
	 * it cannot precede the answer of */
	lost(p, resp);
	while (q->len && !before_fence(ws_msgq_front(q), resp) && !p->pipelined) {
		lost(p, ws_msgq_front(q));
		ws_msgq_pop(q);
	}
}

void ws_pairer_response(struct ws_pairer *p, const struct ws_msg *resp, const struct ws_msg *in_progress)
{
	struct ws_msg *req = ws_msgq_front(&p->pending);

	if (resp->flags & WS_MSGF_FENCE) {
		p->resp_fence = resp->fence;
		p->resp_fence_known = true;
	}
	if (!p->desync && req && before_fence(req, resp) && !(resp->flags & WS_MSGF_PUSH))
		ws_pairer_gap(p, false); /* an answer from before its question: records were lost */
	if (p->desync) {
		out_of_step(p, resp);
		return;
	}
	if (req) {
		pair(p, req, resp);
		ws_msgq_pop(&p->pending);
	} else if (in_progress && !p->answered) {
		struct ws_msg snap = *in_progress;
		snap.flags |= WS_MSGF_INCOMPLETE;
		pair(p, &snap, resp);
		p->answered = true;
	} else {
		ws_pairer_unmatched(p, resp);
	}
}

void ws_pairer_abort(struct ws_pairer *p, uint8_t why, uint64_t t_end)
{
	struct ws_msgq *q = &p->pending;

	while (q->len) {
		const struct ws_msg *req = ws_msgq_front(q);
		if (p->desync) {
			lost(p, req);
		} else {
			struct ws_exchange x;
			memset(&x, 0, sizeof(x));
			x.req = *req;
			x.resp.proto = req->proto;
			x.resp.dir = !req->dir;
			x.resp.t_first_enter = x.resp.t_first_exit = WS_MAX(t_end, req->t_last_exit);
			x.resp.t_last_enter = x.resp.t_last_exit = x.resp.t_first_exit;
			x.aborted = why;
			if (p->sink.exchange)
				p->sink.exchange(p->sink.ctx, &x);
		}
		ws_msgq_pop(q);
	}
}

const struct ws_msg *ws_pairer_next(struct ws_pairer *p, const struct ws_msg *in_progress)
{
	const struct ws_msg *req = ws_msgq_front(&p->pending);

	return req ? req : in_progress;
}

/* ---- lines ---- */

bool ws_line_read(struct ws_line *L, const uint8_t *p, uint32_t n, const char **line, uint32_t *len,
		  uint32_t *used)
{
	const uint8_t *nl = memchr(p, '\n', n);
	uint32_t take = nl ? (uint32_t)(nl - p) : n;

	*used = nl ? take + 1 : n;
	if (nl && L->len == 0 && !L->too_long) {
		*line = (const char *)p;
		*len = take;
	} else {
		if (L->len + take > L->max) {
			L->too_long = true;
			take = L->max - L->len;
		}
		if (L->len + take > L->cap) {
			uint32_t cap = L->cap ? L->cap : 128;
			while (cap < L->len + take)
				cap *= 2;
			char *c = ws_malloc(cap);
			if (L->len)
				memcpy(c, L->carry, L->len);
			if (L->carry) {
				explicit_bzero(L->carry, L->cap);
				free(L->carry);
			}
			L->carry = c;
			L->cap = cap;
		}
		if (take)
			memcpy(L->carry + L->len, p, take);
		L->len += take;
		if (!nl)
			return false;
		*line = L->carry;
		*len = L->len;
	}
	if (*len && (*line)[*len - 1] == '\r')
		(*len)--;
	return true;
}

void ws_line_done(struct ws_line *L)
{
	if (L->wipe && L->len)
		explicit_bzero(L->carry, L->len);
	L->wipe = false;
	L->len = 0;
	L->too_long = false;
}

void ws_line_free(struct ws_line *L)
{
	if (L->carry) {
		explicit_bzero(L->carry, L->cap);
		free(L->carry);
	}
	memset(L, 0, sizeof(*L));
}
