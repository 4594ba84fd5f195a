/* detect.c -- protocol detection from the bytes (never from the port), and
 * the small helpers every parser shares. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/mysql.h"
#include "proto/pg.h"
#include "proto/proto.h"
#include "util/util.h"

const char *ws_proto_name(enum ws_proto p)
{
	const struct proto_ops *o = ws_proto_ops(p);

	return o ? o->name : "";
}

enum ws_proto ws_proto_by_name(const char *name)
{
	for (int p = WS_PROTO_NONE + 1; ws_proto_ops((enum ws_proto)p); p++)
		if (strcmp(ws_proto_ops((enum ws_proto)p)->name, name) == 0)
			return (enum ws_proto)p;
	return WS_PROTO_NONE;
}

const struct proto_ops *ws_proto_ops(enum ws_proto p)
{
	switch (p) {
	case WS_PROTO_HTTP1: return &ws_http1_ops;
	case WS_PROTO_REDIS: return &ws_redis_ops;
	case WS_PROTO_PG: return &ws_pg_ops;
	case WS_PROTO_MYSQL: return &ws_mysql_ops;
	default: return NULL;
	}
}

static const char *const http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
	"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH", "PURGE",
};

/* Commands accepted as the first word of an inline (non-RESP) request. */
static const char *const redis_inline[] = {
	"PING", "ECHO", "GET", "SET", "DEL", "INCR", "DECR", "EXISTS", "KEYS", "MGET", "MSET",
	"HGET", "HSET", "HGETALL", "LPUSH", "RPUSH", "LPOP", "RPOP", "LRANGE", "SADD", "SMEMBERS",
	"ZADD", "ZRANGE", "EXPIRE", "TTL", "INFO", "AUTH", "SELECT", "QUIT", "FLUSHALL", "FLUSHDB",
	"DBSIZE", "CONFIG", "CLIENT", "HELLO", "SUBSCRIBE", "PUBLISH", "MULTI", "EXEC", "SCAN",
	"TYPE", "INCRBY", "MONITOR", "COMMAND", "SETEX", "APPEND", "STRLEN",
};

static size_t token_len(const uint8_t *d, uint32_t n)
{
	size_t i = 0;

	while (i < n && isupper(d[i]))
		i++;
	return i;
}

/* METHOD SP target [SP HTTP/1.x] at the start of data. */
static bool looks_like_http_request(const uint8_t *d, uint32_t n)
{
	size_t m = token_len(d, n);
	bool known = false;

	if (m == 0 || m >= n || d[m] != ' ')
		return false;
	for (size_t i = 0; i < WS_ARRAY_SIZE(http_methods); i++)
		if (strlen(http_methods[i]) == m && memcmp(http_methods[i], d, m) == 0)
			known = true;
	if (!known || m + 1 >= n)
		return false;
	uint8_t t = d[m + 1];
	bool connect = m == 7 && memcmp(d, "CONNECT", 7) == 0;
	if (!(t == '/' || t == '*' || (m + 5 < n && memcmp(d + m + 1, "http", 4) == 0) || (connect && isalnum(t))))
		return false;
	/* if the whole request line is here, it must end in HTTP/1.x */
	const uint8_t *nl = memchr(d, '\n', n);
	if (!nl)
		return true;
	size_t ll = nl - d;
	if (ll && d[ll - 1] == '\r')
		ll--;
	return ll >= 8 && memcmp(d + ll - 8, "HTTP/1.", 7) == 0;
}

static bool looks_like_resp_array(const uint8_t *d, uint32_t n)
{
	uint32_t i = 1;

	if (n < 4 || d[0] != '*' || !isdigit(d[1]))
		return false;
	while (i < n && i < 12 && isdigit(d[i]))
		i++;
	if (i + 1 >= n || d[i] != '\r' || d[i + 1] != '\n')
		return false;
	return i + 2 == n || d[i + 2] == '$';
}

/* The first element of a RESP array, when it is a bulk string wholly in
 * d[0..n): a command name in a request, a value in a reply. */
static bool resp_first_word(const uint8_t *d, uint32_t n, const uint8_t **w, uint32_t *wl)
{
	uint32_t i = 1, len = 0;

	while (i < n && isdigit(d[i]))
		i++;
	i += 2; /* CRLF */
	if (i >= n || d[i] != '$')
		return false;
	for (i++; i < n && isdigit(d[i]); i++)
		len = len * 10 + (d[i] - '0');
	if (i + 2 + len > n || len == 0 || len > 32)
		return false;
	*w = d + i + 2;
	*wl = len;
	return true;
}

/* Redis commands, to tell a request from a reply when nothing else can:
 * a reply to MGET or a pub/sub message is an array of bulk strings too. */
static const char *const redis_commands[] = {
	"ACL", "APPEND", "AUTH", "BGREWRITEAOF", "BGSAVE", "BITCOUNT", "BITFIELD", "BITOP", "BITPOS",
	"BLMOVE", "BLMPOP", "BLPOP", "BRPOP", "BRPOPLPUSH", "BZMPOP", "BZPOPMAX", "BZPOPMIN", "CLIENT",
	"CLUSTER", "COMMAND", "CONFIG", "COPY", "DBSIZE", "DEBUG", "DECR", "DECRBY", "DEL", "DISCARD",
	"DUMP", "ECHO", "EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "EXEC", "EXISTS", "EXPIRE",
	"EXPIREAT", "EXPIRETIME", "FCALL", "FCALL_RO", "FLUSHALL", "FLUSHDB", "FUNCTION", "GEOADD",
	"GEODIST", "GEOHASH", "GEOPOS", "GEORADIUS", "GEOSEARCH", "GET", "GETBIT", "GETDEL", "GETEX",
	"GETRANGE", "GETSET", "HDEL", "HELLO", "HEXISTS", "HGET", "HGETALL", "HINCRBY", "HINCRBYFLOAT",
	"HKEYS", "HLEN", "HMGET", "HMSET", "HRANDFIELD", "HSCAN", "HSET", "HSETNX", "HSTRLEN", "HVALS",
	"INCR", "INCRBY", "INCRBYFLOAT", "INFO", "KEYS", "LASTSAVE", "LATENCY", "LCS", "LINDEX", "LINSERT",
	"LLEN", "LMOVE", "LMPOP", "LOLWUT", "LPOP", "LPOS", "LPUSH", "LPUSHX", "LRANGE", "LREM", "LSET",
	"LTRIM", "MEMORY", "MGET", "MIGRATE", "MODULE", "MONITOR", "MOVE", "MSET", "MSETNX", "MULTI",
	"OBJECT", "PERSIST", "PEXPIRE", "PEXPIREAT", "PEXPIRETIME", "PFADD", "PFCOUNT", "PFMERGE", "PING",
	"PSETEX", "PSUBSCRIBE", "PTTL", "PUBLISH", "PUBSUB", "PUNSUBSCRIBE", "QUIT", "RANDOMKEY",
	"READONLY", "READWRITE", "RENAME", "RENAMENX", "REPLICAOF", "RESET", "RESTORE", "ROLE", "RPOP",
	"RPOPLPUSH", "RPUSH", "RPUSHX", "SADD", "SAVE", "SCAN", "SCARD", "SCRIPT", "SDIFF", "SDIFFSTORE",
	"SELECT", "SET", "SETBIT", "SETEX", "SETNX", "SETRANGE", "SHUTDOWN", "SINTER", "SINTERCARD",
	"SINTERSTORE", "SISMEMBER", "SLAVEOF", "SLOWLOG", "SMEMBERS", "SMISMEMBER", "SMOVE", "SORT",
	"SORT_RO", "SPOP", "SPUBLISH", "SRANDMEMBER", "SREM", "SSCAN", "SSUBSCRIBE", "STRLEN",
	"SUBSCRIBE", "SUNION", "SUNIONSTORE", "SUNSUBSCRIBE", "SWAPDB", "SYNC", "PSYNC", "TIME", "TOUCH",
	"TTL", "TYPE", "UNLINK", "UNSUBSCRIBE", "UNWATCH", "WAIT", "WATCH", "XACK", "XADD", "XAUTOCLAIM",
	"XCLAIM", "XDEL", "XGROUP", "XINFO", "XLEN", "XPENDING", "XRANGE", "XREAD", "XREADGROUP",
	"XREVRANGE", "XTRIM", "ZADD", "ZCARD", "ZCOUNT", "ZDIFF", "ZDIFFSTORE", "ZINCRBY", "ZINTER",
	"ZINTERCARD", "ZINTERSTORE", "ZLEXCOUNT", "ZMPOP", "ZMSCORE", "ZPOPMAX", "ZPOPMIN",
	"ZRANDMEMBER", "ZRANGE", "ZRANGEBYLEX", "ZRANGEBYSCORE", "ZRANGESTORE", "ZRANK", "ZREM",
	"ZREMRANGEBYLEX", "ZREMRANGEBYRANK", "ZREMRANGEBYSCORE", "ZREVRANGE", "ZREVRANGEBYLEX",
	"ZREVRANGEBYSCORE", "ZREVRANK", "ZSCAN", "ZSCORE", "ZUNION", "ZUNIONSTORE",
};

bool ws_proto_is_redis_command(const uint8_t *w, uint32_t n)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(redis_commands); i++)
		if (ws_strcaseeq_n((const char *)w, n, redis_commands[i]))
			return true;
	return false;
}

int ws_proto_request_is_certain(enum ws_proto p, const uint8_t *d, uint32_t n)
{
	const uint8_t *w;
	uint32_t wl;

	if (p != WS_PROTO_REDIS || d[0] != '*')
		return 1; /* HTTP request lines and inline commands do not look like replies */
	if (!resp_first_word(d, n, &w, &wl))
		return n < 64 ? -1 : 0; /* the first word is not all here yet */
	return ws_proto_is_redis_command(w, wl);
}

static bool looks_like_redis_inline(const uint8_t *d, uint32_t n)
{
	size_t m = 0;

	while (m < n && m < 16 && isalpha(d[m]))
		m++;
	if (m == 0 || m >= n || !(d[m] == ' ' || d[m] == '\r' || d[m] == '\n'))
		return false;
	for (size_t i = 0; i < WS_ARRAY_SIZE(redis_inline); i++)
		if (ws_strcaseeq_n((const char *)d, m, redis_inline[i]))
			return memchr(d, '\n', n) != NULL;
	return false;
}

/* Could d[0..n) still grow into a request we would detect? */
static bool could_become_request(const uint8_t *d, uint32_t n)
{
	if (n >= 16)
		return false;
	for (size_t i = 0; i < WS_ARRAY_SIZE(http_methods); i++) {
		size_t m = strlen(http_methods[i]);
		size_t k = WS_MIN(n, m);
		if (memcmp(d, http_methods[i], k) == 0 && (n <= m || d[m] == ' '))
			return true;
	}
	if (d[0] == '*') { /* "*3\r\n$3..." not yet complete */
		uint32_t i = 1;
		while (i < n && isdigit(d[i]))
			i++;
		return i == n || (d[i] == '\r' && (i + 1 == n || (d[i + 1] == '\n' && i + 2 == n)));
	}
	for (size_t i = 0; i < WS_ARRAY_SIZE(redis_inline); i++) {
		size_t m = strlen(redis_inline[i]);
		if (n <= m + 1 && strncasecmp((const char *)d, redis_inline[i], WS_MIN(n, m)) == 0 &&
		    (n <= m || d[m] == ' ' || d[m] == '\r'))
			return true;
	}
	return false;
}

enum ws_proto ws_proto_detect_request(const uint8_t *d, uint32_t n, bool *more)
{
	if (more)
		*more = false;
	if (n == 0)
		return WS_PROTO_NONE;
	if (looks_like_http_request(d, n))
		return WS_PROTO_HTTP1;
	if (looks_like_resp_array(d, n) || looks_like_redis_inline(d, n))
		return WS_PROTO_REDIS;
	int pg = ws_pg_request_at(d, n), my = ws_mysql_request_at(d, n);
	if (pg > 0)
		return WS_PROTO_PG;
	if (my > 0)
		return WS_PROTO_MYSQL;
	if (more)
		*more = pg < 0 || my < 0 || could_become_request(d, n);
	return WS_PROTO_NONE;
}

enum ws_proto ws_proto_detect_greeting(const uint8_t *d, uint32_t n, bool *more)
{
	int my = ws_mysql_greeting_at(d, n);

	if (more)
		*more = my < 0;
	return my > 0 ? WS_PROTO_MYSQL : WS_PROTO_NONE;
}

bool ws_proto_looks_like_response(enum ws_proto p, const uint8_t *d, uint32_t n)
{
	if (p == WS_PROTO_HTTP1)
		return n >= 12 && memcmp(d, "HTTP/1.", 7) == 0 && (d[7] == '0' || d[7] == '1') && d[8] == ' ' &&
		       isdigit(d[9]) && isdigit(d[10]) && isdigit(d[11]);
	if (p == WS_PROTO_REDIS)
		return n >= 3 && d[0] && strchr("+-:$*%_,#!=(|>~", d[0]) != NULL;
	if (p == WS_PROTO_PG)
		return ws_pg_response_at(d, n);
	return false;
}

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
