/* pktmatch.c -- see pktmatch.h. */
#include "pcap/pktmatch.h"

#include <stdlib.h>
#include <string.h>

#include "util/hashmap.h"
#include "util/util.h"

/* keyed: the fields come from a capture file (see ws_keyed_hash) */
static uint64_t pkt_key(const struct ws_pktrec *r)
{
	uint32_t w[5] = {r->seq, r->ack, r->len, (uint32_t)r->ipid << 16 | r->flags, r->dir};

	return ws_keyed_hash(w, sizeof(w)) | 1;
}

static bool same(const struct ws_pktrec *x, const struct ws_pktrec *y)
{
	return x->dir == y->dir && x->seq == y->seq && x->ack == y->ack && x->len == y->len && x->ipid == y->ipid &&
	       x->flags == y->flags;
}

/* b's packets by key: the index of the first unmatched one, chained */
struct slot {
	uint32_t idx;
	struct slot *next;
};

static int cmp_rows(const void *x, const void *y)
{
	const struct ws_pktrow *a = x, *b = y;
	return a->at < b->at ? -1 : a->at > b->at;
}

void ws_pktmatch(const struct ws_flowpkts *a, const struct ws_flowpkts *b, int a_at_client, struct ws_pktmatch *m)
{
	memset(m, 0, sizeof(*m));
	m->client_cap = -1;
	size_t na = a ? a->n : 0, nb = b ? b->n : 0;
	int32_t *pair = ws_malloc((na + 1) * sizeof(*pair)); /* a index -> b index, -1 none */
	bool *used = ws_calloc(nb + 1, 1);
	struct ws_hashmap byk;
	struct slot *slots = ws_calloc(nb + 1, sizeof(*slots));

	ws_hashmap_init(&byk);
	/* chain b's packets of a key in order: insert from the last */
	for (size_t j = nb; j-- > 0;) {
		uint64_t k = pkt_key(&b->v[j]);
		slots[j].idx = (uint32_t)j;
		slots[j].next = ws_hashmap_get(&byk, k);
		ws_hashmap_put(&byk, k, &slots[j]);
	}
	/* d = t_b - t_a: larger for packets leaving a's host */
	int64_t dmin[2] = {INT64_MAX, INT64_MAX}, dmax[2] = {INT64_MIN, INT64_MIN};
	for (size_t i = 0; i < na; i++) {
		pair[i] = -1;
		uint64_t k = pkt_key(&a->v[i]);
		struct slot *s = ws_hashmap_get(&byk, k), *prev = NULL;
		for (; s; prev = s, s = s->next)
			if (!used[s->idx] && same(&a->v[i], &b->v[s->idx]))
				break;
		if (!s)
			continue;
		used[s->idx] = true;
		if (prev)
			prev->next = s->next;
		else if (s->next)
			ws_hashmap_put(&byk, k, s->next);
		else
			ws_hashmap_del(&byk, k);
		pair[i] = (int32_t)s->idx;
		m->matched++;
		int64_t d = (int64_t)(b->v[s->idx].ts - a->v[i].ts);
		int dir = a->v[i].dir & 1;
		dmin[dir] = WS_MIN(dmin[dir], d);
		dmax[dir] = WS_MAX(dmax[dir], d);
	}
	ws_hashmap_free(&byk);
	free(slots);

	/* which capture is at the client, and the offset */
	if (dmin[0] != INT64_MAX && dmin[1] != INT64_MAX) {
		/* client-to-server packets: d = off + delay if a is at the client,
		 * off - delay if a is at the server */
		bool a_client = dmin[0] > dmax[1] || dmin[0] / 2 + dmax[0] / 2 > dmin[1] / 2 + dmax[1] / 2;
		m->client_cap = a_client ? 0 : 1;
		m->offset_known = true;
		/* fastest each way: min(off + d0) and max(off - d1) */
		if (a_client) {
			m->offset_ns = dmin[0] / 2 + dmax[1] / 2; /* halves first: no overflow */
			m->min_delay[0] = dmin[0] - m->offset_ns;
			m->min_delay[1] = m->offset_ns - dmax[1];
		} else {
			m->offset_ns = dmax[0] / 2 + dmin[1] / 2;
			m->min_delay[0] = m->offset_ns - dmax[0];
			m->min_delay[1] = dmin[1] - m->offset_ns;
		}
	} else if (!b) {
		m->client_cap = a_at_client == 1 ? 0 : a_at_client == 0 ? 1 : -1;
	}

	/* rows: the sender's capture is a for packets a's host sent */
	m->rows = ws_calloc(na + nb + 1, sizeof(*m->rows));
	for (size_t i = 0; i < na; i++) {
		struct ws_pktrow *r = &m->rows[m->n++];
		r->p = a->v[i];
		r->at = (int64_t)a->v[i].ts;
		r->analysis = a->v[i].analysis;
		bool a_sends = m->client_cap < 0 ? true : (a->v[i].dir == 0) == (m->client_cap == 0);
		uint64_t tb = pair[i] >= 0 ? b->v[pair[i]].ts : 0;
		if (pair[i] >= 0)
			r->analysis |= b->v[pair[i]].analysis;
		if (a_sends) {
			r->sent = a->v[i].ts;
			r->recv = tb;
		} else {
			r->recv = a->v[i].ts;
			r->sent = tb;
			if (pair[i] >= 0)
				r->p = b->v[pair[i]];
		}
		if (r->sent && r->recv) {
			/* both on a's clock */
			int64_t sa = (int64_t)r->sent - (a_sends ? 0 : m->offset_ns);
			int64_t ra = (int64_t)r->recv - (a_sends ? m->offset_ns : 0);
			r->delay = ra - sa;
		}
	}
	for (size_t j = 0; j < nb; j++) {
		if (used[j])
			continue;
		struct ws_pktrow *r = &m->rows[m->n++];
		r->p = b->v[j];
		r->at = (int64_t)b->v[j].ts - m->offset_ns;
		r->analysis = b->v[j].analysis;
		bool b_sends = m->client_cap < 0 ? true : (b->v[j].dir == 0) == (m->client_cap == 1);
		if (b_sends)
			r->sent = b->v[j].ts;
		else
			r->recv = b->v[j].ts;
	}
	qsort(m->rows, m->n, sizeof(*m->rows), cmp_rows);
	free(pair);
	free(used);
}

void ws_pktmatch_free(struct ws_pktmatch *m)
{
	free(m->rows);
	memset(m, 0, sizeof(*m));
}
