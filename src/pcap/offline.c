/* offline.c -- see offline.h. */
#include "pcap/offline.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/hashmap.h"
#include "util/util.h"

#define ADVANCE_EVERY_NS (100 * 1000000ull)
#define SWEEP_EVERY_NS (1000 * 1000000ull)
#define CLOSED_LINGER_NS (2000 * 1000000ull) /* stragglers after FIN or RST */
#define IDLE_END_NS (600 * 1000000000ull)    /* a silent connection ends */

/* ---- capture files ---- */

struct ws_capfile {
	pcap_t *pc;
	int dlt;
	uint32_t frame;
	struct ws_capfile_stats st;
	char err[PCAP_ERRBUF_SIZE + 256];
};

static int capfile_init(pcap_t *pc, const char *name, const char *perr, struct ws_capfile **out, char *err,
			size_t errlen)
{
	if (!pc) {
		/* libpcap's words for a file that is not a capture */
		if (strstr(perr, "unknown file format") || strstr(perr, "bad dump file format"))
			snprintf(err, errlen, "%s: not a pcap or pcapng capture (%s)", name, perr);
		else if (strstr(perr, "truncated"))
			snprintf(err, errlen, "%s: cut short before its first packet (%s)", name, perr);
		else
			snprintf(err, errlen, "%s: %s", name, perr);
		return -1;
	}
	int dlt = pcap_datalink(pc);
	if (!ws_dlt_supported(dlt)) {
		const char *n = pcap_datalink_val_to_name(dlt);
		snprintf(err, errlen,
			 "%s: link type %s (%d) is not one wirespan reads (Ethernet, Linux cooked v1/v2, raw IP, "
			 "loopback)",
			 name, n ? n : "?", dlt);
		pcap_close(pc);
		return -1;
	}
	struct ws_capfile *f = ws_calloc(1, sizeof(*f));
	f->pc = pc;
	f->dlt = dlt;
	*out = f;
	return 0;
}

int ws_capfile_open(const char *path, struct ws_capfile **out, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	FILE *fp = fopen(path, "rbe");

	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	/* libpcap reads through stdio: large reads, not 4 KiB ones */
	setvbuf(fp, NULL, _IOFBF, 1 << 20);
	pcap_t *pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!pc)
		fclose(fp);
	return capfile_init(pc, path, perr, out, err, errlen);
}

int ws_capfile_open_mem(const uint8_t *data, size_t len, struct ws_capfile **out, char *err, size_t errlen)
{
	char perr[PCAP_ERRBUF_SIZE] = "";
	FILE *fp = len ? fmemopen((void *)data, len, "rb") : NULL;
	pcap_t *pc;

	if (!fp) {
		snprintf(err, errlen, "(memory): empty");
		return -1;
	}
	pc = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, perr);
	if (!pc)
		fclose(fp);
	return capfile_init(pc, "(memory)", perr, out, err, errlen);
}

int ws_capfile_next(struct ws_capfile *f, struct ws_pkt *p, uint64_t *ts, uint32_t *frame, int *res)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	int rc = pcap_next_ex(f->pc, &h, &data);

	if (rc == PCAP_ERROR_BREAK)
		return 0;
	if (rc != 1) {
		snprintf(f->err, sizeof(f->err), "%s after frame %u", pcap_geterr(f->pc), f->frame);
		return -1;
	}
	*frame = ++f->frame;
	*ts = (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec;
	f->st.frames++;
	f->st.bytes += h->len;
	if (!f->st.first_ns)
		f->st.first_ns = *ts;
	f->st.last_ns = *ts;
	*res = ws_pkt_decode(f->dlt, data, h->caplen, h->len, p);
	f->st.dec[*res]++;
	if (*res == WS_DEC_OK) {
		f->st.tcp++;
		if (p->caplen < p->len)
			f->st.payload_cut++;
	}
	return 1;
}

const char *ws_capfile_error(const struct ws_capfile *f) { return f->err; }
const struct ws_capfile_stats *ws_capfile_stats(const struct ws_capfile *f) { return &f->st; }

const char *ws_capfile_linktype(const struct ws_capfile *f)
{
	const char *n = pcap_datalink_val_to_name(f->dlt);
	return n ? n : "?";
}

void ws_capfile_close(struct ws_capfile *f)
{
	if (!f)
		return;
	pcap_close(f->pc);
	free(f);
}

/* ---- connection keys ---- */

struct fkey {
	struct ws_endpoint ep[2]; /* ep[0] sorts first */
};

static int ep_cmp(const struct ws_endpoint *a, const struct ws_endpoint *b)
{
	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	int c = memcmp(a->addr, b->addr, 16);
	if (c)
		return c;
	return a->port < b->port ? -1 : a->port > b->port;
}

static bool ep_eq(const struct ws_endpoint *a, const struct ws_endpoint *b) { return ep_cmp(a, b) == 0; }

/* Keyed: a capture chooses its addresses and ports, and must not be able
 * to make its flows share a bucket (an unkeyed hash let 80,000 crafted SYNs
 * take 111 s against 0.6 s for random ones). */
static uint64_t addr_hash(const struct ws_endpoint *e)
{
	uint8_t b[17];

	b[0] = (uint8_t)e->family;
	memcpy(b + 1, e->addr, 16);
	return ws_keyed_hash(b, sizeof(b)) | 1;
}

static uint64_t fkey_hash(const struct fkey *k)
{
	uint8_t b[38];

	for (int e = 0; e < 2; e++) {
		b[e * 19] = (uint8_t)k->ep[e].family;
		memcpy(b + e * 19 + 1, k->ep[e].addr, 16);
		b[e * 19 + 17] = (uint8_t)(k->ep[e].port >> 8);
		b[e * 19 + 18] = (uint8_t)k->ep[e].port;
	}
	return ws_keyed_hash(b, sizeof(b)) | 1;
}

/* the packet's key and its direction: 0 when it goes from ep[0] to ep[1] */
static uint64_t make_key(const struct ws_pkt *p, struct fkey *k, int *dir)
{
	*dir = ep_cmp(&p->src, &p->dst) > 0;
	k->ep[*dir] = p->src;
	k->ep[!*dir] = p->dst;
	return fkey_hash(k);
}

static bool is_loopback(const struct ws_endpoint *e)
{
	static const uint8_t v6lo[16] = {[15] = 1};
	return e->family == AF_INET ? e->addr[0] == 127 : memcmp(e->addr, v6lo, 16) == 0;
}

/* ---- sides ---- */

struct addr_vote {
	struct ws_endpoint addr; /* port 0 */
	int64_t votes;           /* > 0 local */
	bool forced;
	struct addr_vote *chain;
};

struct handshake {
	struct fkey key;
	uint32_t isn;
	uint8_t client; /* index into key.ep */
	uint64_t t_syn, t_synack, t_ack;
	uint32_t synack_seq;
	struct handshake *chain;
};

struct side_file {
	struct ws_hashmap votes;      /* addr hash -> addr_vote */
	struct ws_hashmap handshakes; /* key hash ^ isn -> handshake */
};

struct ws_sides {
	size_t n;
	struct side_file *f;
	struct ws_endpoint *forced;
	size_t nforced;
};

struct ws_sides *ws_sides_new(size_t nfiles)
{
	struct ws_sides *s = ws_calloc(1, sizeof(*s));

	s->n = nfiles;
	s->f = ws_calloc(nfiles ? nfiles : 1, sizeof(*s->f));
	for (size_t i = 0; i < nfiles; i++) {
		ws_hashmap_init(&s->f[i].votes);
		ws_hashmap_init(&s->f[i].handshakes);
	}
	return s;
}

void ws_sides_free(struct ws_sides *s)
{
	uint64_t k;
	void *v;

	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		for (size_t it = 0; ws_hashmap_next(&s->f[i].votes, &it, &k, &v);)
			for (struct addr_vote *a = v, *next; a; a = next) {
				next = a->chain;
				free(a);
			}
		for (size_t it = 0; ws_hashmap_next(&s->f[i].handshakes, &it, &k, &v);)
			for (struct handshake *h = v, *next; h; h = next) {
				next = h->chain;
				free(h);
			}
		ws_hashmap_free(&s->f[i].votes);
		ws_hashmap_free(&s->f[i].handshakes);
	}
	free(s->f);
	free(s->forced);
	free(s);
}

static struct addr_vote *vote_get(struct side_file *sf, const struct ws_endpoint *ep, bool create)
{
	struct ws_endpoint a = *ep;
	a.port = 0;
	uint64_t h = addr_hash(&a);
	struct addr_vote *head = ws_hashmap_get(&sf->votes, h);
	for (struct addr_vote *v = head; v; v = v->chain)
		if (ep_eq(&v->addr, &a))
			return v;
	if (!create)
		return NULL;
	struct addr_vote *v = ws_calloc(1, sizeof(*v));
	v->addr = a;
	v->chain = head;
	ws_hashmap_put(&sf->votes, h, v);
	return v;
}

static void vote(struct side_file *sf, const struct ws_endpoint *ep, int64_t n)
{
	vote_get(sf, ep, true)->votes += n;
}

void ws_sides_force_local(struct ws_sides *s, const struct ws_endpoint *addr)
{
	s->forced = ws_realloc(s->forced, (s->nforced + 1) * sizeof(*s->forced));
	s->forced[s->nforced] = *addr;
	s->forced[s->nforced++].port = 0;
}

static struct handshake *hs_get(struct side_file *sf, const struct fkey *k, uint64_t kh, uint32_t isn, bool create)
{
	uint64_t h = ws_mix64(kh ^ isn) | 1;
	struct handshake *head = ws_hashmap_get(&sf->handshakes, h);
	for (struct handshake *x = head; x; x = x->chain)
		if (x->isn == isn && ep_eq(&x->key.ep[0], &k->ep[0]) && ep_eq(&x->key.ep[1], &k->ep[1]))
			return x;
	if (!create)
		return NULL;
	struct handshake *x = ws_calloc(1, sizeof(*x));
	x->key = *k;
	x->isn = isn;
	x->chain = head;
	ws_hashmap_put(&sf->handshakes, h, x);
	return x;
}

/* The last SYN seen of each connection key, to find the handshake a
 * SYN-ACK or ACK belongs to. */
struct last_syn {
	struct fkey key;
	uint32_t isn;
	struct last_syn *chain;
};

int ws_sides_scan(struct ws_sides *s, size_t i, struct ws_capfile *f, uint64_t max_frames)
{
	struct side_file *sf = &s->f[i];
	struct ws_hashmap syns;
	struct ws_pkt p;
	uint64_t ts, k;
	uint32_t frame;
	int res, rc;
	void *v;

	ws_hashmap_init(&syns);
	while ((rc = ws_capfile_next(f, &p, &ts, &frame, &res)) == 1 && frame <= max_frames) {
		if (res != WS_DEC_OK)
			continue;
		if (p.way == WS_WAY_OUT) {
			vote(sf, &p.src, 1);
			vote(sf, &p.dst, -1);
		} else if (p.way == WS_WAY_IN) {
			vote(sf, &p.src, -1);
			vote(sf, &p.dst, 1);
		}
		if (!(p.flags & (WS_TH_SYN | WS_TH_ACK)))
			continue;
		struct fkey key;
		int dir;
		uint64_t kh = make_key(&p, &key, &dir);
		struct last_syn *ls = ws_hashmap_get(&syns, kh);
		while (ls && !(ep_eq(&ls->key.ep[0], &key.ep[0]) && ep_eq(&ls->key.ep[1], &key.ep[1])))
			ls = ls->chain;
		if ((p.flags & (WS_TH_SYN | WS_TH_ACK)) == WS_TH_SYN) {
			if (!ls) {
				ls = ws_calloc(1, sizeof(*ls));
				ls->key = key;
				ls->chain = ws_hashmap_get(&syns, kh);
				ws_hashmap_put(&syns, kh, ls);
			}
			ls->isn = p.seq;
			struct handshake *h = hs_get(sf, &key, kh, p.seq, true);
			if (!h->t_syn) {
				h->t_syn = ts;
				h->client = (uint8_t)dir;
			}
			continue;
		}
		if (!ls)
			continue;
		struct handshake *h = hs_get(sf, &key, kh, ls->isn, false);
		if (!h)
			continue;
		if ((p.flags & WS_TH_SYN) && dir != h->client && p.ack == h->isn + 1 && !h->t_synack) {
			h->t_synack = ts;
			h->synack_seq = p.seq;
		} else if (!(p.flags & WS_TH_SYN) && dir == h->client && h->t_synack && !h->t_ack &&
			   p.ack == h->synack_seq + 1) {
			h->t_ack = ts;
		}
	}
	for (size_t it = 0; ws_hashmap_next(&syns, &it, &k, &v);)
		for (struct last_syn *l = v, *next; l; l = next) {
			next = l->chain;
			free(l);
		}
	ws_hashmap_free(&syns);
	return rc < 0 ? -1 : 0;
}

void ws_sides_decide(struct ws_sides *s)
{
	uint64_t k;
	void *v;

	for (size_t i = 0; i < s->n; i++) {
		struct side_file *sf = &s->f[i];
		for (size_t it = 0; ws_hashmap_next(&sf->handshakes, &it, &k, &v);) {
			for (struct handshake *h = v; h; h = h->chain) {
				if (!h->t_syn || !h->t_synack)
					continue;
				const struct ws_endpoint *cli = &h->key.ep[h->client], *srv = &h->key.ep[!h->client];
				int64_t client_side = 0;
				bool paired = false;
				/* seen by another capture too: the SYN reaches the
				 * far side after it left this one, the SYN-ACK
				 * the other way round, whatever the clocks say */
				for (size_t j = 0; j < s->n; j++) {
					if (j == i)
						continue;
					struct handshake *o = hs_get(&s->f[j], &h->key, fkey_hash(&h->key), h->isn, false);
					if (!o || !o->t_syn || !o->t_synack)
						continue;
					int64_t syn = (int64_t)(o->t_syn - h->t_syn), synack = (int64_t)(o->t_synack - h->t_synack);
					client_side += syn > synack ? 1 : syn < synack ? -1 : 0;
					paired = true;
				}
				/* alone: the capturing host answers at once, the far
				 * answer takes the round trip */
				if (!paired && h->t_ack) {
					int64_t far = (int64_t)(h->t_synack - h->t_syn), near = (int64_t)(h->t_ack - h->t_synack);
					client_side = far > near ? 1 : far < near ? -1 : 0;
				}
				if (client_side > 0) {
					vote(sf, cli, 1);
					vote(sf, srv, -1);
				} else if (client_side < 0) {
					vote(sf, cli, -1);
					vote(sf, srv, 1);
				}
			}
		}
		for (size_t j = 0; j < s->nforced; j++) {
			struct addr_vote *a = vote_get(sf, &s->forced[j], true);
			a->forced = true;
		}
	}
}

int ws_sides_local(const struct ws_sides *s, size_t i, const struct ws_endpoint *addr)
{
	if (i >= s->n)
		return 0;
	struct addr_vote *a = vote_get(&s->f[i], addr, false);
	if (!a)
		return 0;
	if (a->forced)
		return 1;
	if (s->nforced) /* the user named the local addresses: the others are not */
		return -1;
	return a->votes > 0 ? 1 : a->votes < 0 ? -1 : 0;
}

void ws_sides_describe(const struct ws_sides *s, size_t i, char *out, size_t n)
{
	uint64_t k;
	void *v;
	size_t used = 0;

	out[0] = 0;
	for (size_t it = 0; i < s->n && ws_hashmap_next(&s->f[i].votes, &it, &k, &v);)
		for (struct addr_vote *a = v; a; a = a->chain) {
			if (ws_sides_local(s, i, &a->addr) <= 0)
				continue;
			char t[64];
			ws_addr_str(&a->addr, t, sizeof(t));
			int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", t);
			if (w < 0 || (size_t)w >= n - used)
				return;
			used += (size_t)w;
		}
}

/* ---- connections ---- */

struct flow {
	struct fkey key;
	uint64_t hash;
	struct flow *chain;
	int8_t client; /* index into key.ep, -1 unknown */
	bool local[2];
	bool opened[2], estab[2], closed[2], fin[2], rst;
	uint64_t conn_id[2];
	bool has_syn;
	uint32_t isn, synack_seq;
	uint64_t t_syn, t_synack, t_ack, last_ts;
	/* per end: the sequence number after the highest byte it was seen to
	 * send (the fence of the other end's data, see ws_event.fence) */
	uint32_t hi[2];
	bool hi_known[2];
	/* per end, for holds (see hold_ack): when it last sent data, the MSS
	 * the other end announced, and the pure ACK of the other end that
	 * last acknowledged new bytes of it while it held some, with why */
	uint64_t data_ts[2];
	uint16_t mss[2];
	uint64_t rel_ts[2];
	uint8_t rel_why[2];
	struct ws_tcpan an;
	struct ws_flowpkts pk;
	uint32_t cap;
};

struct ws_offline {
	struct ws_offline_cfg cfg;
	struct ws_offline_sink sink;
	const struct ws_sides *sides;
	size_t file;
	struct ws_hashmap flows; /* key hash -> flow chain */
	uint64_t instances;
	uint64_t open; /* flows not yet ended */
	uint64_t next_advance, next_sweep;
	struct ws_offline_stats st;
};

struct ws_offline *ws_offline_new(const struct ws_offline_cfg *cfg, const struct ws_offline_sink *sink,
				  const struct ws_sides *sides, size_t file)
{
	struct ws_offline *o = ws_calloc(1, sizeof(*o));

	o->cfg = *cfg;
	if (!o->cfg.max_flows)
		o->cfg.max_flows = WS_OFFLINE_MAX_FLOWS;
	o->sink = *sink;
	o->sides = sides;
	o->file = file;
	ws_hashmap_init(&o->flows);
	return o;
}

const struct ws_offline_stats *ws_offline_stats(const struct ws_offline *o) { return &o->st; }

void ws_pktrec_put(uint8_t *b, const struct ws_pktrec *r)
{
	uint32_t w[7] = {(uint32_t)r->ts, (uint32_t)(r->ts >> 32), r->seq, r->ack, r->len, r->frame, r->ack_rtt_us};
	for (int i = 0; i < 7; i++)
		for (int j = 0; j < 4; j++)
			b[i * 4 + j] = (uint8_t)(w[i] >> (8 * j));
	b[28] = (uint8_t)r->win, b[29] = (uint8_t)(r->win >> 8);
	b[30] = (uint8_t)r->ipid, b[31] = (uint8_t)(r->ipid >> 8);
	b[32] = (uint8_t)r->analysis, b[33] = (uint8_t)(r->analysis >> 8);
	b[34] = r->flags, b[35] = r->dir;
}

void ws_pktrec_get(const uint8_t *b, struct ws_pktrec *r)
{
	uint32_t w[7];
	for (int i = 0; i < 7; i++)
		w[i] = (uint32_t)b[i * 4] | (uint32_t)b[i * 4 + 1] << 8 | (uint32_t)b[i * 4 + 2] << 16 |
		       (uint32_t)b[i * 4 + 3] << 24;
	r->ts = (uint64_t)w[1] << 32 | w[0];
	r->seq = w[2], r->ack = w[3], r->len = w[4], r->frame = w[5], r->ack_rtt_us = w[6];
	r->win = (uint16_t)(b[28] | b[29] << 8);
	r->ipid = (uint16_t)(b[30] | b[31] << 8);
	r->analysis = (uint16_t)(b[32] | b[33] << 8);
	r->flags = b[34], r->dir = b[35];
}

int ws_flowpkts_save(struct ws_store *st, int64_t recording, const char *host, const struct ws_flowpkts *f)
{
	struct ws_store_flow r = {
		.client = f->client,
		.server = f->server,
		.roles_known = f->roles_known,
		.first_ns = f->first_ns,
		.last_ns = f->last_ns,
		.rtt_ns = f->rtt_ns,
		.n = f->n,
		.not_stored = f->not_stored,
		.retrans = f->retrans,
		.fast_retrans = f->fast_retrans,
		.spurious = f->spurious,
		.dup_acks = f->dup_acks,
		.zero_windows = f->zero_windows,
		.out_of_order = f->out_of_order,
		.lost_segments = f->lost_segments,
	};
	uint8_t *blob = ws_malloc((size_t)f->n * WS_PKTREC_SIZE + 1);

	for (uint32_t k = 0; k < f->n; k++)
		ws_pktrec_put(blob + (size_t)k * WS_PKTREC_SIZE, &f->v[k]);
	r.data = blob;
	r.data_len = (size_t)f->n * WS_PKTREC_SIZE;
	int rc = ws_store_add_flow(st, recording, host, &r);
	free(blob);
	return rc;
}

struct each_ctx {
	int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f);
	void *ctx;
};

static int each_row(void *ctx, int64_t recording, const char *host, const struct ws_store_flow *r)
{
	struct each_ctx *c = ctx;
	struct ws_flowpkts f = {
		.client = r->client,
		.server = r->server,
		.roles_known = r->roles_known,
		.first_ns = r->first_ns,
		.last_ns = r->last_ns,
		.not_stored = r->not_stored,
		.rtt_ns = r->rtt_ns,
	};

	f.n = (uint32_t)(r->data_len / WS_PKTREC_SIZE);
	f.v = ws_calloc(f.n + 1, sizeof(*f.v));
	for (uint32_t k = 0; k < f.n; k++)
		ws_pktrec_get((const uint8_t *)r->data + (size_t)k * WS_PKTREC_SIZE, &f.v[k]);
	int stop = c->fn(c->ctx, recording, host, &f);
	free(f.v);
	return stop;
}

int ws_flowpkts_each(struct ws_store *st, const struct ws_endpoint *a, const struct ws_endpoint *b,
		     int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f), void *ctx)
{
	struct each_ctx c = {fn, ctx};

	return ws_store_each_flow(st, a, b, each_row, &c);
}

static void emit(struct ws_offline *o, const struct flow *f, int end, struct ws_event *ev, uint64_t ts)
{
	ev->conn_id = f->conn_id[end];
	ev->local = f->key.ep[end];
	ev->peer = f->key.ep[!end];
	ev->t_exit = ts;
	if (!ev->t_enter) /* a hold's begins before */
		ev->t_enter = ts;
	if (ev->kind == WS_EV_TCP && f->client >= 0)
		ev->role = end == f->client ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
	o->sink.event(o->sink.ctx, ev);
}

static void emit_close(struct ws_offline *o, struct flow *f, int end, uint64_t ts)
{
	if (f->closed[end])
		return;
	f->closed[end] = true;
	struct ws_event ev = {.kind = WS_EV_CLOSE};
	emit(o, f, end, &ev, ts);
}

static void flow_end(struct ws_offline *o, struct flow *f)
{
	struct ws_flowpkts *pk = &f->pk;

	if (f->fin[0] || f->fin[1] || f->rst)
		for (int e = 0; e < 2; e++)
			if (f->local[e])
				emit_close(o, f, e, f->last_ts);
	int c = f->client;
	if (c < 0) /* no SYN seen: the higher (ephemeral) port is the client's */
		c = f->key.ep[0].port > f->key.ep[1].port ? 0 : 1;
	pk->client = f->key.ep[c];
	pk->server = f->key.ep[!c];
	pk->roles_known = f->client >= 0;
	pk->rtt_ns = f->an.first_rtt_ns;
	if (c == 1)
		for (uint32_t i = 0; i < pk->n; i++)
			pk->v[i].dir ^= 1;
	if (o->sink.flow && (pk->n || pk->not_stored))
		o->sink.flow(o->sink.ctx, pk);
	o->st.packets_not_stored += pk->not_stored;
	free(pk->v);
	ws_tcpan_free(&f->an);
	o->open--;

	struct flow **pp = NULL, *head = ws_hashmap_get(&o->flows, f->hash);
	if (head == f) {
		if (f->chain)
			ws_hashmap_put(&o->flows, f->hash, f->chain);
		else
			ws_hashmap_del(&o->flows, f->hash);
	} else {
		for (pp = &head->chain; *pp && *pp != f; pp = &(*pp)->chain)
			;
		if (*pp)
			*pp = f->chain;
	}
	free(f);
}

static struct flow *flow_new(struct ws_offline *o, const struct fkey *k, uint64_t h)
{
	struct flow *f = ws_calloc(1, sizeof(*f));
	int l0 = ws_sides_local(o->sides, o->file, &k->ep[0]), l1 = ws_sides_local(o->sides, o->file, &k->ep[1]);

	f->key = *k;
	f->hash = h;
	f->client = -1;
	if (l0 > 0 || l1 > 0) {
		f->local[0] = l0 > 0;
		f->local[1] = l1 > 0;
	} else if (l0 < 0 && l1 == 0) {
		f->local[1] = true;
	} else if (l1 < 0 && l0 == 0) {
		f->local[0] = true;
	} else {
		/* both ends unknown (or both remote: a tap between them) */
		f->local[0] = f->local[1] = true;
		bool same_host = memcmp(k->ep[0].addr, k->ep[1].addr, 16) == 0 || is_loopback(&k->ep[0]);
		if (same_host)
			o->st.flows_both_local++;
		else
			o->st.flows_ends_unknown++;
	}
	o->instances++;
	o->open++;
	for (int e = 0; e < 2; e++)
		f->conn_id[e] = ws_mix64(h ^ (o->instances << 20) ^ ((uint64_t)o->file << 56) ^ (uint64_t)e) | 1;
	f->chain = ws_hashmap_get(&o->flows, h);
	ws_hashmap_put(&o->flows, h, f);
	o->st.flows++;
	return f;
}

static struct flow *flow_find(struct ws_offline *o, const struct fkey *k, uint64_t h)
{
	for (struct flow *f = ws_hashmap_get(&o->flows, h); f; f = f->chain)
		if (ep_eq(&f->key.ep[0], &k->ep[0]) && ep_eq(&f->key.ep[1], &k->ep[1]))
			return f;
	return NULL;
}

static int cmp_quiet(const void *x, const void *y)
{
	const struct flow *a = *(struct flow *const *)x, *b = *(struct flow *const *)y;

	return a->last_ts < b->last_ts ? -1 : a->last_ts > b->last_ts;
}

/* More connections open than allowed (a capture of a SYN flood, or one
 * made to exhaust memory): end the tenth that has been quiet longest. */
static void evict(struct ws_offline *o)
{
	struct flow **all = ws_malloc(o->open * sizeof(*all));
	size_t n = 0;
	uint64_t k;
	void *v;

	for (size_t it = 0; ws_hashmap_next(&o->flows, &it, &k, &v);)
		for (struct flow *f = v; f && n < o->open; f = f->chain)
			all[n++] = f;
	qsort(all, n, sizeof(*all), cmp_quiet);
	size_t drop = n - WS_MIN(n, o->cfg.max_flows - o->cfg.max_flows / 10);
	for (size_t i = 0; i < drop; i++)
		flow_end(o, all[i]);
	o->st.flows_evicted += drop;
	free(all);
}

/* End connections that closed a while ago or went silent. */
static void sweep(struct ws_offline *o, uint64_t now, bool all)
{
	struct flow **ends = NULL;
	size_t n = 0, cap = 0;
	uint64_t k;
	void *v;

	for (size_t it = 0; ws_hashmap_next(&o->flows, &it, &k, &v);)
		for (struct flow *f = v; f; f = f->chain) {
			bool done = all || ((f->rst || (f->fin[0] && f->fin[1])) && now > f->last_ts + CLOSED_LINGER_NS) ||
				    now > f->last_ts + IDLE_END_NS;
			if (!done)
				continue;
			if (n == cap) {
				cap = cap ? cap * 2 : 64;
				ends = ws_realloc(ends, cap * sizeof(*ends));
			}
			ends[n++] = f;
		}
	for (size_t i = 0; i < n; i++)
		flow_end(o, ends[i]);
	free(ends);
}

static void record_packet(struct ws_offline *o, struct flow *f, const struct ws_pkt *p, uint64_t ts, uint32_t frame,
			  int dir, const struct ws_tcpan_out *a)
{
	struct ws_flowpkts *pk = &f->pk;

	if (!pk->first_ns)
		pk->first_ns = ts;
	pk->last_ns = ts;
	if (a->flags & WS_TA_RETRANS)
		pk->retrans++;
	if (a->flags & WS_TA_FAST_RETRANS)
		pk->fast_retrans++;
	if (a->flags & WS_TA_SPURIOUS)
		pk->spurious++;
	if (a->flags & WS_TA_DUP_ACK)
		pk->dup_acks++;
	if (a->flags & WS_TA_ZERO_WINDOW)
		pk->zero_windows++;
	if (a->flags & WS_TA_OUT_OF_ORDER)
		pk->out_of_order++;
	if (a->flags & WS_TA_LOST_SEGMENT)
		pk->lost_segments++;
	if (pk->n >= o->cfg.max_packets) {
		pk->not_stored++;
		return;
	}
	if (pk->n == f->cap) {
		f->cap = f->cap ? f->cap * 2 : 16;
		pk->v = ws_realloc(pk->v, f->cap * sizeof(*pk->v));
	}
	pk->v[pk->n++] = (struct ws_pktrec){
		.ts = ts,
		.seq = p->seq,
		.ack = p->ack,
		.len = p->len,
		.frame = frame,
		.ack_rtt_us = a->ack_rtt_ns ? (uint32_t)WS_MIN((a->ack_rtt_ns + 999) / 1000, UINT32_MAX) : 0,
		.win = p->win,
		.ipid = p->ipid,
		.analysis = (uint16_t)a->flags,
		.flags = p->flags,
		.dir = (uint8_t)dir,
	};
}

/* Bytes the sender's TCP held, as a capture taken at the sender shows them:
 * the sender went quiet with bytes unacknowledged, and its next segment
 * left the moment a pure ACK of the peer acknowledged them. A write can
 * coincide with an ACK, but rarely within RELEASE_NS, so such a segment
 * was written earlier and waited for the ACK. Nagle: the bytes in flight
 * ended in a segment shorter than the MSS and the ACK took them all; the
 * receive window: the peer had announced a zero window; the congestion
 * window: several segments were in flight. Anything else is not named.
 * The hold's start is the sender's previous segment: when the bytes were
 * written is not in a capture, so phases take only the part of it inside
 * the message's own packets. */
#define RELEASE_NS (200 * 1000ull)
#define HOLD_MIN_NS (1000 * 1000ull)

struct hold_snap {
	bool valid;
	uint32_t acked, sent, segs, last_len, win;
};

/* Before tcpan sees a packet from dir: what the other end had in flight. */
static void hold_before(const struct flow *f, int dir, struct hold_snap *h)
{
	const struct ws_tcpan_dir *ack = &f->an.d[dir], *snd = &f->an.d[!dir];

	memset(h, 0, sizeof(*h));
	if (!f->an.started || !ack->lastack || !snd->nextseq || (int32_t)(snd->nextseq - ack->lastack) <= 0)
		return;
	h->valid = true;
	h->acked = ack->lastack;
	h->sent = snd->nextseq;
	h->segs = snd->nunacked;
	h->last_len = snd->nunacked ? snd->unacked[snd->nunacked - 1].nextseq - snd->unacked[snd->nunacked - 1].seq : 0;
	h->win = ack->window;
}

/* A packet from dir: a pure ACK that acknowledged new bytes of the other
 * end starts a possible release; data from dir ends any (what the other
 * end sends next may answer it). */
static void hold_ack(struct flow *f, int dir, const struct ws_pkt *p, uint64_t ts, const struct hold_snap *h)
{
	int snd = !dir;

	if (p->len || (p->flags & (WS_TH_SYN | WS_TH_FIN | WS_TH_RST))) {
		f->rel_ts[snd] = 0;
		return;
	}
	if (!h->valid || !(p->flags & WS_TH_ACK) || (int32_t)(p->ack - h->acked) <= 0)
		return;
	uint32_t mss = f->mss[snd] ? f->mss[snd] : 536;
	uint8_t why = 0;
	if (h->win == 0)
		why = WS_HELD_RWND;
	else if (p->ack == h->sent && h->last_len && h->last_len < mss)
		why = WS_HELD_NAGLE;
	else if (h->segs >= 2)
		why = WS_HELD_CWND;
	f->rel_ts[snd] = why ? ts : 0;
	f->rel_why[snd] = why;
}

/* New data from `from`: released by the ACK just before it? */
static void hold_release(struct ws_offline *o, struct flow *f, int from, const struct ws_pkt *p, uint64_t ts,
			 const struct ws_tcpan_out *a)
{
	if (!p->len || (p->flags & WS_TH_SYN) || (a->flags & WS_TA_RETRANS))
		return;
	uint64_t rel = f->rel_ts[from], prev = f->data_ts[from];
	f->rel_ts[from] = 0;
	f->data_ts[from] = ts;
	if (!rel || !prev || !f->local[from] || f->closed[from] || ts - rel > RELEASE_NS || rel < prev + HOLD_MIN_NS)
		return;
	struct ws_event ev = {.kind = WS_EV_TCP, .tcp_what = WS_TCPEV_HELD, .seq = p->seq, .len = p->len,
			      .reason = f->rel_why[from] | (uint32_t)p->flags << 8, .t_enter = prev};
	emit(o, f, from, &ev, ts);
	o->st.holds++;
}

/* What each local end's socket would have seen of the packet. */
static void packet_events(struct ws_offline *o, struct flow *f, const struct ws_pkt *p, uint64_t ts, int from,
			  const struct ws_tcpan_out *a)
{
	int to = !from;
	struct ws_event ev;

	if ((p->flags & WS_TH_SYN) && p->mss)
		f->mss[to] = p->mss; /* what the other end may send */
	if ((p->flags & (WS_TH_SYN | WS_TH_ACK)) == WS_TH_SYN) {
		if (f->client < 0)
			f->client = (int8_t)from;
		if (!f->t_syn)
			f->t_syn = ts;
		f->has_syn = true;
		f->isn = p->seq;
		if (f->local[from] && !f->opened[from] && from == f->client) {
			f->opened[from] = true;
			ev = (struct ws_event){.kind = WS_EV_OPEN, .role = WS_ROLE_CLIENT};
			emit(o, f, from, &ev, ts);
		}
	} else if ((p->flags & (WS_TH_SYN | WS_TH_ACK)) == (WS_TH_SYN | WS_TH_ACK)) {
		if (f->client < 0)
			f->client = (int8_t)to;
		if (!f->t_synack) {
			f->t_synack = ts;
			f->synack_seq = p->seq;
		}
		if (f->local[to] && to == f->client && f->opened[to] && !f->estab[to]) {
			f->estab[to] = true;
			ev = (struct ws_event){.kind = WS_EV_STATE, .oldstate = WS_TCP_SYN_SENT,
					       .newstate = WS_TCP_ESTABLISHED};
			if (f->t_syn)
				ev.srtt_us = (uint32_t)WS_MAX(1, (ts - f->t_syn) / 1000);
			emit(o, f, to, &ev, ts);
		}
	} else if (f->t_synack && !f->t_ack && from == f->client && (p->flags & WS_TH_ACK) &&
		   p->ack == f->synack_seq + 1) {
		f->t_ack = ts;
		int srv = !f->client;
		if (f->local[srv] && !f->opened[srv]) {
			f->opened[srv] = true;
			ev = (struct ws_event){.kind = WS_EV_OPEN, .role = WS_ROLE_SERVER};
			ev.srtt_us = (uint32_t)WS_MAX(1, (ts - f->t_synack) / 1000);
			emit(o, f, srv, &ev, ts);
		}
	}

	if (p->len && !(p->flags & WS_TH_SYN)) {
		for (int e = 0; e < 2; e++) {
			if (!f->local[e] || f->closed[e])
				continue;
			ev = (struct ws_event){
				.kind = WS_EV_DATA,
				.dir = e == from ? WS_SEND : WS_RECV,
				.seq = p->seq,
				.len = p->len,
				.head = p->payload,
				.head_len = p->caplen,
			};
			if (f->hi_known[to]) {
				ev.fence = f->hi[to];
				ev.flags |= WS_EVF_FENCE;
			}
			if (e != from)
				ev.t_arr_first = ev.t_arr_last = ts;
			emit(o, f, e, &ev, ts);
		}
	}
	{
		uint32_t end = p->seq + p->len + ((p->flags & WS_TH_SYN) ? 1 : 0);
		if (!f->hi_known[from] || (int32_t)(end - f->hi[from]) > 0) {
			f->hi[from] = end;
			f->hi_known[from] = true;
		}
	}
	if ((a->flags & WS_TA_RETRANS) && f->local[from] && !f->closed[from]) {
		ev = (struct ws_event){.kind = WS_EV_TCP, .tcp_what = WS_TCPEV_RETRANS, .seq = p->seq,
				       .len = p->len, .reason = p->flags};
		emit(o, f, from, &ev, ts);
	}
	if ((p->flags & WS_TH_FIN) && !f->fin[from]) {
		f->fin[from] = true;
		if (f->local[to] && !f->closed[to]) {
			ev = (struct ws_event){.kind = WS_EV_DATA, .dir = WS_RECV, .flags = WS_EVF_EOF};
			emit(o, f, to, &ev, ts);
		}
		/* a FIN may be a shutdown(SHUT_WR): the sender still reads, so
		 * its socket ends when both sides are done */
		if (f->fin[to])
			for (int e = 0; e < 2; e++)
				if (f->local[e])
					emit_close(o, f, e, ts);
	}
	if (p->flags & WS_TH_RST) {
		f->rst = true;
		for (int e = 0; e < 2; e++) {
			if (!f->local[e] || f->closed[e])
				continue;
			ev = (struct ws_event){.kind = WS_EV_TCP, .tcp_what = e == from ? WS_TCPEV_RESET_TX : WS_TCPEV_RESET_RX};
			emit(o, f, e, &ev, ts);
			/* a SYN answered by a reset: the connect failed (refused),
			 * as a live recording sees it */
			if (e == f->client && e != from && f->opened[e] && !f->estab[e] && !f->t_synack) {
				ev = (struct ws_event){.kind = WS_EV_STATE, .oldstate = WS_TCP_SYN_SENT,
						       .newstate = WS_TCP_CLOSE};
				emit(o, f, e, &ev, ts);
			}
			emit_close(o, f, e, ts);
		}
	}
}

void ws_offline_packet(struct ws_offline *o, const struct ws_pkt *p, uint64_t ts, uint32_t frame)
{
	struct fkey k;
	int dir;
	uint64_t h = make_key(p, &k, &dir);
	struct flow *f = flow_find(o, &k, h);
	struct ws_tcpan_out a;

	/* a new SYN on a used pair of ports starts a new connection */
	if (f && (p->flags & (WS_TH_SYN | WS_TH_ACK)) == WS_TH_SYN && (!f->has_syn || p->seq != f->isn))
		flow_end(o, f), f = NULL;
	if (!f) {
		if (o->open >= o->cfg.max_flows)
			evict(o);
		f = flow_new(o, &k, h);
		if (!(p->flags & WS_TH_SYN))
			o->st.flows_no_handshake++;
	}
	struct hold_snap hs;
	hold_before(f, dir, &hs);
	ws_tcpan_packet(&f->an, dir, p, ts, frame, &a);
	hold_ack(f, dir, p, ts, &hs);
	for (uint32_t fl = a.flags; fl; fl &= fl - 1)
		o->st.ta[__builtin_ctz(fl)]++;
	if (o->sink.analysis)
		o->sink.analysis(o->sink.ctx, frame, p, &a);
	record_packet(o, f, p, ts, frame, dir, &a);
	packet_events(o, f, p, ts, dir, &a);
	hold_release(o, f, dir, p, ts, &a);
	f->last_ts = ts;

	if (ts >= o->next_advance) {
		if (o->sink.advance)
			o->sink.advance(o->sink.ctx, ts);
		o->next_advance = ts + ADVANCE_EVERY_NS;
	}
	if (ts >= o->next_sweep) {
		if (o->next_sweep)
			sweep(o, ts, false);
		o->next_sweep = ts + SWEEP_EVERY_NS;
	}
}

void ws_offline_finish(struct ws_offline *o)
{
	sweep(o, 0, true);
}

void ws_offline_free(struct ws_offline *o)
{
	if (!o)
		return;
	sweep(o, 0, true);
	ws_hashmap_free(&o->flows);
	free(o);
}
