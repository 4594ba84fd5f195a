/* detect.c -- the protocols wirespan parses, and which one a connection
 * speaks, from its first bytes (never from the port). The helpers every
 * parser shares (pairing, lines) are in pair.c. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/h2.h"
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
	case WS_PROTO_H2: return &ws_h2_ops;
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
	int pg = ws_pg_request_at(d, n), my = ws_mysql_request_at(d, n), h2 = ws_h2_request_at(d, n);
	if (pg > 0)
		return WS_PROTO_PG;
	if (my > 0)
		return WS_PROTO_MYSQL;
	if (h2 > 0)
		return WS_PROTO_H2;
	if (more)
		*more = pg < 0 || my < 0 || h2 < 0 || could_become_request(d, n);
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

bool ws_proto_looks_tls(const uint8_t *data, uint32_t n)
{
	/* type 22 (handshake), legacy version 3.0 to 3.4, length 1 .. 2^14 + 2048 */
	if (n < 6 || data[0] != 0x16 || data[1] != 3 || data[2] > 4)
		return false;
	uint32_t len = (uint32_t)data[3] << 8 | data[4];
	/* the first handshake message: ClientHello (1) or ServerHello (2) */
	return len >= 4 && len <= 16384 + 2048 && (data[5] == 1 || data[5] == 2);
}
