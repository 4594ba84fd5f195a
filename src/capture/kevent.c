/* kevent.c -- see kevent.h. */
#include "capture/kevent.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mask.h"
#include "util/hashmap.h"
#include "util/util.h"

#define EVFILE_MAGIC "WSEVENTS"

static bool is_task(const void *rec, int abi) { return abi >= 3 && *(const uint8_t *)rec == WS_KEV_TASK; }

size_t ws_kevent_min_size(const void *rec, int abi)
{
	return is_task(rec, abi) ? sizeof(struct ws_ktask) : ws_kevent_size(abi);
}

void ws_kevent_order(const void *rec, uint64_t *key, uint64_t *commit)
{
	const struct ws_kevent *k = rec;

	if (is_task(rec, WS_ABI_VERSION)) {
		*key = *commit = ((const struct ws_ktask *)rec)->ts;
		return;
	}
	*commit = k->ts_exit;
	if ((k->type == WS_KEV_DATA && k->dir == WS_DIR_SEND) || (k->type == WS_KEV_OPEN && (k->flags & WS_KF_CLIENT)))
		*key = k->ts_enter;
	else
		*key = k->ts_exit;
}

/* Records of ABI version 1 end where version 2 added its timing fields,
 * those of version 2 where version 3 added goroutines and wake-ups, those
 * of version 3 where version 4 added the streams' sequence numbers. */
#define KEVENT_V1_SIZE offsetof(struct ws_kevent, arr_first)
#define KEVENT_V2_SIZE offsetof(struct ws_kevent, goid)
#define KEVENT_V3_SIZE offsetof(struct ws_kevent, fence)

size_t ws_kevent_size(int abi)
{
	return abi == 1 ? KEVENT_V1_SIZE
	       : abi == 2 ? KEVENT_V2_SIZE
	       : abi == 3 ? KEVENT_V3_SIZE
			  : sizeof(struct ws_kevent);
}

static uint64_t ts(uint64_t mono, int64_t off) { return mono ? mono + off : 0; }

_Static_assert((int)WS_TCP_HELD == (int)WS_TCPEV_HELD && (int)WS_TCP_DROP == (int)WS_TCPEV_DROP,
	       "TCP facts are passed on as the kernel numbers them");
_Static_assert((int)WS_HOLD_NAGLE == (int)WS_HELD_NAGLE && (int)WS_HOLD_CWND == (int)WS_HELD_CWND &&
		       (int)WS_HOLD_RWND == (int)WS_HELD_RWND && (int)WS_HOLD_OTHER == (int)WS_HELD_OTHER,
	       "hold causes are passed on as the kernel numbers them");
_Static_assert((int)WS_TASK_EXEC == (int)WS_TASKEV_EXEC && (int)WS_TASK_GO_SPAWN == (int)WS_TASKEV_GO_SPAWN &&
		       (int)WS_TASK_PY_SPAWN == (int)WS_TASKEV_PY_SPAWN,
	       "task events are passed on as the kernel numbers them");

/* A task record: a process executed a program, a goroutine or an asyncio
 * task was created. */
static int decode_task(const void *rec, size_t len, int64_t off, struct ws_event *ev)
{
	struct ws_ktask t;

	if (len < sizeof(t))
		return -1;
	memcpy(&t, rec, sizeof(t));
	if (t.sys != WS_TASK_EXEC && t.sys != WS_TASK_GO_SPAWN && t.sys != WS_TASK_PY_SPAWN)
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->kind = WS_EV_TASK;
	ev->task_what = t.sys;
	ev->pid = t.pid;
	ev->tid = t.tid;
	ev->t_enter = ev->t_exit = t.ts + off;
	if (t.sys == WS_TASK_GO_SPAWN || t.sys == WS_TASK_PY_SPAWN) {
		ev->flags |= WS_EVF_GOROUTINE;
		ev->goid = t.goid;
		ev->waker = t.parent;
	}
	return 0;
}

int ws_kevent_decode(const void *rec, size_t len, int64_t off, int abi, struct ws_event *ev)
{
	const size_t hdr = ws_kevent_size(abi);

	if (len >= 1 && is_task(rec, abi))
		return decode_task(rec, len, off, ev);
	struct ws_kevent kv;
	const struct ws_kevent *k = rec;
	const uint8_t *payload = (const uint8_t *)rec + hdr;

	if (len < hdr)
		return -1;
	if (hdr < sizeof(kv)) { /* an older record: the fields it lacks are unknown */
		memset(&kv, 0, sizeof(kv));
		memcpy(&kv, rec, hdr);
		k = &kv;
	}
	if (k->type < WS_KEV_DATA || k->type > WS_KEV_TCP || hdr + (size_t)k->cap + k->tail > len ||
	    k->cap > WS_PAYLOAD_MAX || k->tail > WS_TAIL_MAX)
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->t_arr_first = ts(k->arr_first, off);
	ev->t_arr_last = ts(k->arr_last, off);
	for (int i = 0; i < 2; i++) {
		ev->runq[i] = k->runq_ns[i];
		ev->offcpu[i] = k->offcpu_ns[i];
	}
	ev->t_estab = ts(k->ts_estab, off);
	ev->srtt_us = k->srtt_us;
	ev->rto_us = k->rto_us;
	ev->reason = k->reason;
	ev->retrans = k->retrans;
	ev->conn_id = k->conn_id;
	ev->pid = k->pid;
	ev->tid = k->tid;
	memcpy(ev->comm, k->comm, sizeof(ev->comm));
	ev->comm[sizeof(ev->comm) - 1] = 0;
	ev->t_enter = k->ts_enter + off;
	ev->t_exit = k->ts_exit + off;
	ev->seq = k->seq;
	ev->len = k->bytes;
	ev->err = k->err;
	ev->netns = k->netns;
	ev->oldstate = k->oldstate;
	ev->newstate = k->newstate;
	ws_endpoint_set(&ev->local, k->tuple.family, k->tuple.laddr, k->tuple.lport);
	ws_endpoint_set(&ev->peer, k->tuple.family, k->tuple.raddr, k->tuple.rport);
	if (k->flags & WS_KF_EOF)
		ev->flags |= WS_EVF_EOF;
	if (k->flags & WS_KF_ERROR)
		ev->flags |= WS_EVF_ERROR;
	if (k->flags & WS_KF_NOPAYLOAD)
		ev->flags |= WS_EVF_NOPAYLOAD;
	if (k->flags & WS_KF_READFAIL)
		ev->flags |= WS_EVF_READFAIL;
	if (k->seq_flags & WS_KSEQ_FENCE) {
		ev->fence = k->fence;
		ev->flags |= WS_EVF_FENCE;
	}
	if (k->seq_flags & WS_KSEQ_STREAM) {
		ev->sent_seq = k->sent_seq;
		ev->read_seq = k->read_seq;
		ev->flags |= WS_EVF_STREAM;
	}
	if (k->flags & WS_KF_GOROUTINE)
		ev->flags |= WS_EVF_GOROUTINE;
	ev->goid = k->goid;
	ev->waker = k->waker;
	ev->t_wake = ts(k->wake_ts, off);
	ev->waker2 = k->waker2;
	ev->t_wake2 = ts(k->wake2_ts, off);
	switch (k->type) {
	case WS_KEV_DATA:
		ev->kind = WS_EV_DATA;
		if (k->sys == WS_SYS_SSL_READ || k->sys == WS_SYS_SSL_WRITE) {
			ev->flags &= (uint8_t)~WS_EVF_FENCE; /* fence holds the record's place */
			ev->fence = 0;
			ev->tls = WS_TLSF_PLAIN;
			if (k->seq_flags & WS_KSEQ_WIRE) {
				ev->tls |= WS_TLSF_WIRE;
				ev->wire_seq = k->fence;
			}
		}
		ev->dir = k->dir == WS_DIR_SEND ? WS_SEND : WS_RECV;
		ev->head = payload;
		ev->head_len = k->cap;
		ev->tail = payload + k->cap;
		ev->tail_len = k->tail;
		break;
	case WS_KEV_OPEN:
		ev->kind = WS_EV_OPEN;
		ev->role = (k->flags & WS_KF_CLIENT) ? WS_ROLE_CLIENT : (k->flags & WS_KF_SERVER) ? WS_ROLE_SERVER : 0;
		break;
	case WS_KEV_CLOSE:
		ev->kind = WS_EV_CLOSE;
		break;
	case WS_KEV_STATE:
		ev->kind = WS_EV_STATE;
		break;
	case WS_KEV_TCP:
		ev->kind = WS_EV_TCP;
		ev->tcp_what = k->sys;
		ev->role = (k->flags & WS_KF_CLIENT) ? WS_ROLE_CLIENT : (k->flags & WS_KF_SERVER) ? WS_ROLE_SERVER : 0;
		break;
	}
	return 0;
}

int ws_evfile_write_header(FILE *f, int64_t off, unsigned flags)
{
	uint32_t v[2] = {WS_ABI_VERSION, flags};

	if (fwrite(EVFILE_MAGIC, 8, 1, f) != 1 || fwrite(v, sizeof(v), 1, f) != 1 || fwrite(&off, sizeof(off), 1, f) != 1)
		return -1;
	return 0;
}

int ws_evfile_write(FILE *f, const void *rec, uint32_t len)
{
	if (fwrite(&len, sizeof(len), 1, f) != 1 || fwrite(rec, len, 1, f) != 1)
		return -1;
	return 0;
}

struct ws_evmask {
	struct ws_hashmap conns; /* conn_id -> struct ws_mask */
	size_t max;
	uint8_t *buf;
	size_t cap;
};

struct ws_evmask *ws_evmask_new(size_t max)
{
	struct ws_evmask *em = ws_calloc(1, sizeof(*em));

	ws_hashmap_init(&em->conns);
	em->max = max;
	return em;
}

void ws_evmask_free(struct ws_evmask *em)
{
	uint64_t k;
	void *v;

	if (!em)
		return;
	for (size_t i = 0; ws_hashmap_next(&em->conns, &i, &k, &v);)
		ws_mask_free(v);
	ws_hashmap_free(&em->conns);
	if (em->buf)
		explicit_bzero(em->buf, em->cap);
	free(em->buf);
	free(em);
}

int ws_evfile_write_masked(FILE *f, struct ws_evmask *em, const void *rec, uint32_t len)
{
	const struct ws_kevent *k = rec;
	size_t fixed = ws_kevent_size(WS_ABI_VERSION);

	if (is_task(rec, WS_ABI_VERSION) || len < fixed || (k->type != WS_KEV_DATA && k->type != WS_KEV_CLOSE))
		return ws_evfile_write(f, rec, len);
	/* a TLS connection's plaintext is a stream of its own, after the
	 * handshake's ciphertext: its own masker */
	const uint64_t tls_key = 0x8000000000000000ull;
	if (k->type == WS_KEV_CLOSE) {
		ws_mask_free(ws_hashmap_del(&em->conns, k->conn_id ? k->conn_id : 1));
		ws_mask_free(ws_hashmap_del(&em->conns, (k->conn_id ? k->conn_id : 1) ^ tls_key));
		return ws_evfile_write(f, rec, len);
	}
	if (len > em->cap) {
		if (em->buf)
			explicit_bzero(em->buf, em->cap);
		free(em->buf);
		em->buf = ws_malloc(len);
		em->cap = len;
	}
	memcpy(em->buf, rec, len);
	uint8_t *head = em->buf + fixed;
	uint32_t cap = WS_MIN((uint32_t)k->cap, len - (uint32_t)fixed);
	uint32_t tail = WS_MIN((uint32_t)k->tail, len - (uint32_t)fixed - cap);
	uint64_t key = k->conn_id ? k->conn_id : 1;
	if (k->sys == WS_SYS_SSL_READ || k->sys == WS_SYS_SSL_WRITE)
		key ^= tls_key;
	struct ws_mask *m = ws_hashmap_get(&em->conns, key);
	if (!m && em->conns.len < em->max) {
		m = ws_mask_new();
		ws_hashmap_put(&em->conns, key, m);
	}
	if (m && !(k->flags & WS_KF_ERROR))
		ws_mask_run(m, k->dir == WS_DIR_SEND ? WS_SEND : WS_RECV, k->seq, true, k->bytes, head, cap, head + cap,
			    tail);
	else
		memset(head, '*', cap + tail); /* no masker to read it: masked whole */
	int rc = ws_evfile_write(f, em->buf, len);
	explicit_bzero(head, cap + tail);
	return rc;
}

int ws_evfile_read_header(FILE *f, int64_t *off, int *abi, unsigned *flags, char *err, size_t errlen)
{
	char magic[8];
	uint32_t v[2];

	if (fread(magic, 8, 1, f) != 1 || memcmp(magic, EVFILE_MAGIC, 8) != 0) {
		snprintf(err, errlen, "not a wirespan event file (expected one written by `wirespan record --save-events`)");
		return -1;
	}
	if (fread(v, sizeof(v), 1, f) != 1 || fread(off, sizeof(*off), 1, f) != 1) {
		snprintf(err, errlen, "event file header is truncated");
		return -1;
	}
	if (v[0] < 1 || v[0] > WS_ABI_VERSION) {
		snprintf(err, errlen, "event file has format version %u; this wirespan reads versions 1 to %u", v[0],
			 WS_ABI_VERSION);
		return -1;
	}
	*abi = (int)v[0];
	*flags = v[1];
	return 0;
}

int ws_evfile_read(FILE *f, uint8_t **buf, size_t *cap, uint32_t *len)
{
	uint32_t n;

	if (fread(&n, sizeof(n), 1, f) != 1)
		return feof(f) ? 0 : -1;
	if (n > sizeof(struct ws_kevent) + WS_PAYLOAD_MAX + WS_TAIL_MAX)
		return -1;
	if (n > *cap) {
		*buf = ws_realloc(*buf, n);
		*cap = n;
	}
	if (fread(*buf, n, 1, f) != 1)
		return -1;
	*len = n;
	return 1;
}
