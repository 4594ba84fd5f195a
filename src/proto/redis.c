/* redis.c -- Redis RESP2/RESP3 parser.
 *
 * Requests are arrays of bulk strings or inline command lines; replies are
 * any RESP2 or RESP3 value: simple strings, errors, integers, bulk strings,
 * arrays, and the RESP3 null, double, boolean, blob error, verbatim string,
 * big number, map, set, attribute (which prefixes a reply without being one)
 * and push (out-of-band, never a reply). Pipelined commands are paired with
 * replies in order. After SUBSCRIBE-family commands or MONITOR, extra
 * replies are counted as unsolicited.
 *
 * Only the command name (with its subcommand for container commands such
 * as CONFIG GET) and the first key are kept. AUTH and HELLO keep no
 * arguments at all: their bytes are wiped from the parser's buffers.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/redis.h"
#include "util/json.h"
#include "util/util.h"

#define LINE_MAX_BYTES 4096
#define DEPTH_MAX 32
#define PENDING_MAX 1024 /* pipelines run deep */
#define ARGS_KEPT 3
#define OPTION_ARGS 8
#define ARG_MAX 128

enum rstate {
	R_IDLE,   /* between values */
	R_LINE,   /* a type line ("*3", "$5", "+OK") */
	R_BULK,   /* bulk string bytes and their CRLF */
	R_INLINE, /* an inline command line */
	R_LOST,
};

struct rdir {
	enum rstate st;
	bool in_msg, push, wipe;
	bool cmd_cut; /* the command name was not captured whole */
	struct ws_line line;
	int depth;
	int64_t left[DEPTH_MAX]; /* elements still expected per level */
	bool is_attr[DEPTH_MAX];
	uint64_t bulk_left; /* including the CRLF */
	int64_t nargs;      /* request: elements of the top array */
	int capture;        /* request argument being captured, or -1 */
	char args[ARGS_KEPT][ARG_MAX];
	uint32_t arg_len[ARGS_KEPT];
	/* the BLOCK option of XREAD and XREADGROUP, among their first
	 * OPTION_ARGS arguments */
	uint8_t xread;    /* 1 XREAD, 2 XREADGROUP, 0 another command */
	bool streams;     /* their STREAMS keyword was seen: no options follow */
	int option;       /* argument being read as an option word, or -1 */
	char word[8];
	uint32_t word_len;
	bool block_option;
	bool capture_error; /* reply: capturing a top-level blob error */
	struct ws_msg cur;
};

struct redis {
	int req_dir;
	struct rdir d[2];
	struct ws_pairer pairer;
	bool subscribed; /* pub/sub or MONITOR: replies may be unsolicited */
};

/* Commands whose first argument is a subcommand. */
static const char *const containers[] = {
	"ACL", "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG", "FUNCTION", "LATENCY", "MEMORY",
	"MODULE", "OBJECT", "PUBSUB", "SCRIPT", "SLOWLOG", "XGROUP", "XINFO",
};

/* Commands whose arguments are credentials. */
/* Commands that wait for data (or replicas) by design, until a timeout. */
static const char *const blocking[] = {
	"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF",
};

bool ws_redis_blocking_command(const char *command)
{
	size_t n = strcspn(command, " "); /* a name may go on with the key */

	for (size_t i = 0; i < WS_ARRAY_SIZE(blocking); i++)
		if (strlen(blocking[i]) == n && strncmp(command, blocking[i], n) == 0)
			return true;
	return false;
}

static bool secret_command(const char *cmd) { return strcmp(cmd, "AUTH") == 0 || strcmp(cmd, "HELLO") == 0; }

/* Commands whose first argument is not a key but a value, a script or a
 * message: no key is stored for them. */
static const char *const no_key[] = {
	"ECHO", "PING", "EVAL", "EVAL_RO", "EVALSHA", "EVALSHA_RO", "FCALL", "FCALL_RO", "SCRIPT LOAD",
	"FUNCTION LOAD", "FUNCTION RESTORE", "CLIENT SETNAME", "CLIENT SETINFO", "ACL DRYRUN", "MIGRATE",
	"FAILOVER", "REPLICAOF", "SLAVEOF", "CLUSTER MEET",
};

static bool keyless(const char *cmd)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(no_key); i++)
		if (strcmp(cmd, no_key[i]) == 0)
			return true;
	return false;
}

static bool is_container(const char *cmd)
{
	for (size_t i = 0; i < WS_ARRAY_SIZE(containers); i++)
		if (strcmp(cmd, containers[i]) == 0)
			return true;
	return false;
}

bool ws_redis_arg_stored(const char *cmd, const char *sub, unsigned i)
{
	char full[84];

	if (i == 0)
		return true;
	if (secret_command(cmd))
		return false;
	if (!is_container(cmd))
		return i == 1 && !keyless(cmd);
	if (i == 1)
		return true;
	snprintf(full, sizeof(full), "%s %s", cmd, sub);
	return i == 2 && !keyless(full);
}

static void upper_copy(char *dst, size_t size, const char *src, size_t n)
{
	size_t i;

	for (i = 0; i < n && i + 1 < size; i++)
		dst[i] = (src[i] < 0x20 || src[i] == 0x7f) ? '?' : (char)toupper((unsigned char)src[i]);
	dst[i] = 0;
}

static void wipe_args(struct rdir *D)
{
	explicit_bzero(D->args, sizeof(D->args));
	memset(D->arg_len, 0, sizeof(D->arg_len));
}

/* Fill command and key from the captured arguments, then wipe them. */
static void finish_request_fields(struct rdir *D)
{
	struct ws_redis_info *ri = &D->cur.u.redis;

	upper_copy(ri->command, sizeof(ri->command), D->args[0], D->arg_len[0]);
	ri->nargs = D->nargs > 0 ? (uint32_t)D->nargs : 0;
	if (secret_command(ri->command) || D->cmd_cut) {
		ri->redacted = true;
	} else if (is_container(ri->command) && D->arg_len[1]) {
		size_t l = strlen(ri->command);
		if (l + 2 < sizeof(ri->command)) {
			ri->command[l] = ' ';
			upper_copy(ri->command + l + 1, sizeof(ri->command) - l - 1, D->args[1], D->arg_len[1]);
		}
		if (!keyless(ri->command))
			ws_copy_text(ri->key, sizeof(ri->key), (const uint8_t *)D->args[2], D->arg_len[2]);
	} else if (!keyless(ri->command)) {
		ws_copy_text(ri->key, sizeof(ri->key), (const uint8_t *)D->args[1], D->arg_len[1]);
	}
	if (ws_redis_blocking_command(ri->command) || (D->xread && D->block_option))
		D->cur.flags |= WS_MSGF_BLOCKING;
	wipe_args(D);
}

static void begin(struct redis *r, int dir, const struct ws_seg *seg, uint32_t off);
static void done_line(struct rdir *D);

static void lose(struct redis *r, int dir)
{
	struct rdir *D = &r->d[dir];

	if (D->in_msg)
		D->cur.flags |= WS_MSGF_FRAMING_LOST;
	D->st = R_LOST;
	D->line.wipe = true;
	done_line(D);
	D->depth = 0;
	D->capture = -1;
}

static void message_done(struct redis *r, int dir)
{
	struct rdir *D = &r->d[dir];

	D->in_msg = false;
	D->st = R_IDLE;
	D->depth = 0;
	if (dir == r->req_dir) {
		finish_request_fields(D);
		const char *c = D->cur.u.redis.command;
		if (strcmp(c, "SUBSCRIBE") == 0 || strcmp(c, "PSUBSCRIBE") == 0 || strcmp(c, "SSUBSCRIBE") == 0 ||
		    strcmp(c, "MONITOR") == 0)
			r->subscribed = true;
		else if (strcmp(c, "RESET") == 0)
			r->subscribed = false;
		ws_pairer_request(&r->pairer, &D->cur);
		return;
	}
	if (D->push || (r->subscribed && !r->pairer.pending.len)) {
		D->cur.flags |= WS_MSGF_PUSH;
		ws_pairer_unmatched(&r->pairer, &D->cur);
		return;
	}
	ws_pairer_response(&r->pairer, &D->cur, NULL);
}

static void end_lost(struct redis *r, int dir)
{
	struct rdir *D = &r->d[dir];

	if (D->st == R_LOST && D->in_msg) {
		message_done(r, dir);
		D->st = R_LOST;
	}
}

/* A complete value at the current depth. */
static void value_done(struct redis *r, int dir)
{
	struct rdir *D = &r->d[dir];

	for (;;) {
		if (D->depth == 0) {
			message_done(r, dir);
			return;
		}
		if (--D->left[D->depth - 1] > 0)
			return;
		D->depth--;
		/* an attribute is not an element of its parent, nor a reply: what
		 * it describes follows */
		if (D->is_attr[D->depth])
			return;
	}
}

static void begin(struct redis *r, int dir, const struct ws_seg *seg, uint32_t off)
{
	struct rdir *D = &r->d[dir];
	struct rdir *O = &r->d[!dir];

	if (O->st == R_LOST && O->in_msg)
		end_lost(r, !dir);
	ws_msg_begin(&D->cur, WS_PROTO_REDIS, dir, seg, off);
	D->in_msg = true;
	D->depth = 0;
	D->push = false;
	D->capture = -1;
	D->capture_error = false;
	D->nargs = 0;
	D->wipe = false;
	D->cmd_cut = false;
	D->option = -1;
	D->xread = 0;
	D->streams = false;
	D->block_option = false;
	wipe_args(D);
}

/* Keep an error reply's text, but not the arguments Redis may echo in it
 * ("unknown command 'HELLO', with args beginning with: '3' 'AUTH' ...");
 * they can be credentials. */
static void error_text(struct ws_redis_info *ri, const char *t, uint32_t n)
{
	static const char echo[] = ", with args beginning with";

	for (uint32_t i = 0; i + sizeof(echo) - 1 <= n; i++)
		if (memcmp(t + i, echo, sizeof(echo) - 1) == 0) {
			n = i;
			break;
		}
	ws_copy_text(ri->error, sizeof(ri->error), (const uint8_t *)t, n);
}

/* Lines after an AUTH or HELLO command word may hold credentials. */
static void done_line(struct rdir *D)
{
	D->line.wipe |= D->wipe;
	ws_line_done(&D->line);
}

static bool parse_int(const char *s, uint32_t n, int64_t *v)
{
	int64_t x = 0;
	bool neg = false;
	uint32_t i = 0;

	if (n && s[0] == '-') {
		neg = true;
		i = 1;
	}
	if (i == n || n - i > 18)
		return false;
	for (; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		x = x * 10 + (s[i] - '0');
	}
	*v = neg ? -x : x;
	return true;
}

/* Split an inline command into its first words. */
static void inline_command(struct rdir *D, const char *l, uint32_t n)
{
	uint32_t i = 0;
	int k = 0;

	while (i < n && k < ARGS_KEPT) {
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		uint32_t s = i;
		while (i < n && l[i] != ' ' && l[i] != '\t')
			i++;
		if (i == s)
			break;
		uint32_t w = WS_MIN(i - s, ARG_MAX);
		memcpy(D->args[k], l + s, w);
		D->arg_len[k] = w;
		if (k == 0) {
			char cmd[40];
			upper_copy(cmd, sizeof(cmd), l + s, w);
			if (secret_command(cmd)) {
				D->nargs = 1;
				return; /* keep no argument */
			}
		}
		k++;
	}
	D->nargs = k;
	while (i < n) { /* count the remaining words */
		while (i < n && (l[i] == ' ' || l[i] == '\t'))
			i++;
		if (i < n)
			D->nargs++;
		while (i < n && l[i] != ' ' && l[i] != '\t')
			i++;
	}
}

/* Handle one type line; returns false when the stream is not RESP. */
static bool type_line(struct redis *r, int dir, const char *l, uint32_t n)
{
	struct rdir *D = &r->d[dir];
	int64_t v = 0;
	char t;

	if (n == 0 || D->line.too_long)
		return false;
	t = l[0];
	switch (t) {
	case '*': case '%': case '~': case '>': case '|':
		if (!parse_int(l + 1, n - 1, &v))
			return false;
		if (D->depth == 0 && dir == r->req_dir) {
			if (t != '*')
				return false;
			D->nargs = v;
		}
		if (D->depth == 0 && t == '>')
			D->push = true;
		if (v <= 0) {
			if (t != '|')
				value_done(r, dir);
			return true;
		}
		if (D->depth >= DEPTH_MAX)
			return false;
		D->left[D->depth] = (t == '%' || t == '|') ? 2 * v : v;
		D->is_attr[D->depth] = t == '|';
		D->depth++;
		return true;
	case '$': case '!': case '=':
		if (!parse_int(l + 1, n - 1, &v) || v < -1)
			return false;
		if (D->depth == 0 && dir == r->req_dir)
			return false;
		if (v == -1) {
			value_done(r, dir);
			return true;
		}
		if (t == '!' && D->depth == 0) {
			D->cur.u.redis.is_error = true;
			D->capture_error = true;
		}
		D->capture = -1;
		D->option = -1;
		if (dir == r->req_dir && D->depth == 1 && !D->wipe) {
			int64_t idx = D->nargs - D->left[0];
			if (idx >= 0 && idx < ARGS_KEPT)
				D->capture = (int)idx;
			/* XREADGROUP GROUP group consumer: names, not options */
			bool name = D->xread == 2 && (idx == 2 || idx == 3);
			if (D->xread && !D->streams && !name && idx > 0 && idx < OPTION_ARGS &&
			    v <= (int64_t)sizeof(D->word)) {
				D->option = (int)idx;
				D->word_len = 0;
			}
		}
		D->bulk_left = (uint64_t)v + 2;
		D->st = R_BULK;
		return true;
	case '+': case '-': case ':': case '_': case ',': case '#': case '(':
		if (dir == r->req_dir)
			return false;
		if (t == '-' && D->depth == 0) {
			D->cur.u.redis.is_error = true;
			error_text(&D->cur.u.redis, l + 1, n - 1);
		}
		value_done(r, dir);
		return true;
	default:
		return false;
	}
}

/* Bulk bytes p[0..n) (known) belong to the current bulk string. */
static void bulk_bytes(struct rdir *D, const uint8_t *p, uint64_t n)
{
	/* content is bulk_left - 2 bytes long; what we see starts at
	 * content offset (content_len - (bulk_left - 2)) */
	if (D->option >= 0 && D->bulk_left > 2) {
		uint64_t k = WS_MIN(n, D->bulk_left - 2);
		uint32_t room = sizeof(D->word) - D->word_len;
		memcpy(D->word + D->word_len, p, WS_MIN(k, room));
		D->word_len += (uint32_t)WS_MIN(k, room);
	}
	if (D->capture >= 0 && D->bulk_left > 2) {
		uint64_t content_left = D->bulk_left - 2;
		uint64_t k = WS_MIN(n, content_left);
		uint32_t *al = &D->arg_len[D->capture];
		uint32_t room = ARG_MAX - *al;
		memcpy(D->args[D->capture] + *al, p, WS_MIN(k, room));
		*al += WS_MIN(k, room);
	} else if (D->capture_error && D->bulk_left > 2) {
		/* a blob error: keep its code (the first word) only */
		struct ws_redis_info *ri = &D->cur.u.redis;
		size_t have = strlen(ri->error);
		uint64_t k = WS_MIN(n, D->bulk_left - 2), w = 0;
		while (w < k && p[w] != ' ' && p[w] != '\r')
			w++;
		if (have + 1 < sizeof(ri->error) && (have == 0 || !strchr(ri->error, ' ')))
			ws_copy_text(ri->error + have, sizeof(ri->error) - have, p, w);
		if (w < k)
			D->capture_error = false;
	}
}

static void bulk_end(struct redis *r, int dir)
{
	struct rdir *D = &r->d[dir];

	if (D->capture == 0) {
		char cmd[40];
		upper_copy(cmd, sizeof(cmd), D->args[0], D->arg_len[0]);
		if (secret_command(cmd))
			D->wipe = true; /* capture no further argument */
		D->xread = strcmp(cmd, "XREAD") == 0 ? 1 : strcmp(cmd, "XREADGROUP") == 0 ? 2 : 0;
	}
	if (D->option >= 0 && D->word_len == 5 && strncasecmp(D->word, "BLOCK", 5) == 0)
		D->block_option = true;
	if (D->option >= 0 && D->word_len == 7 && strncasecmp(D->word, "STREAMS", 7) == 0)
		D->streams = true;
	D->option = -1;
	D->capture = -1;
	D->capture_error = false;
	D->st = R_IDLE;
	value_done(r, dir);
}

static void bytes(struct redis *r, int dir, const uint8_t *p, uint32_t n, const struct ws_seg *seg, uint32_t off)
{
	struct rdir *D = &r->d[dir];
	uint32_t i = 0;

	while (i < n) {
		uint32_t used = 0, len;
		const char *line;

		switch (D->st) {
		case R_IDLE:
			if (!D->in_msg) {
				if (p[i] == '\r' || p[i] == '\n') {
					i++;
					continue;
				}
				begin(r, dir, seg, off + i);
				if (dir == r->req_dir && p[i] != '*') {
					D->st = R_INLINE;
					continue;
				}
			}
			D->st = R_LINE;
			continue;
		case R_LINE:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			D->cur.bytes += used;
			i += used;
			ws_msg_touch(&D->cur, seg);
			{
				bool ok = type_line(r, dir, line, len);
				done_line(D);
				if (!ok)
					lose(r, dir);
				else if (D->st == R_LINE)
					D->st = R_IDLE;
			}
			continue;
		case R_INLINE:
			if (!ws_line_read(&D->line, p + i, n - i, &line, &len, &used))
				break;
			D->cur.bytes += used;
			i += used;
			ws_msg_touch(&D->cur, seg);
			if (D->line.too_long) {
				done_line(D);
				lose(r, dir);
				continue;
			}
			inline_command(D, line, len);
			D->line.wipe = true; /* inline lines may hold AUTH passwords */
			ws_line_done(&D->line);
			if (len == 0) { /* a bare newline is not a command */
				D->in_msg = false;
				D->st = R_IDLE;
				continue;
			}
			message_done(r, dir);
			continue;
		case R_BULK:
			used = (uint32_t)WS_MIN((uint64_t)(n - i), D->bulk_left);
			bulk_bytes(D, p + i, used);
			D->bulk_left -= used;
			D->cur.bytes += used;
			i += used;
			ws_msg_touch(&D->cur, seg);
			if (D->bulk_left == 0)
				bulk_end(r, dir);
			continue;
		case R_LOST:
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

static void gap(struct redis *r, int dir, uint64_t n, const struct ws_seg *seg)
{
	struct rdir *D = &r->d[dir];

	if (!n)
		return;
	if (D->in_msg) {
		D->cur.bytes += n;
		ws_msg_touch(&D->cur, seg);
	}
	if (D->st == R_BULK) {
		uint64_t k = WS_MIN(n, D->bulk_left);
		if (D->capture == 0 && D->bulk_left > 2) {
			/* the command name is cut: it might be AUTH, keep nothing */
			D->wipe = true;
			D->cmd_cut = true;
		}
		if (D->capture >= 0 && D->bulk_left > 2)
			D->capture = -1; /* the argument is cut; keep what we have */
		D->bulk_left -= k;
		n -= k;
		if (D->bulk_left == 0)
			bulk_end(r, dir);
		if (n)
			lose(r, dir);
		return;
	}
	if (D->st != R_LOST)
		lose(r, dir);
}

static bool starts_message(struct redis *r, int dir, const struct ws_seg *seg)
{
	if (dir == r->req_dir)
		return ws_proto_detect_request(seg->head, seg->head_len, NULL) == WS_PROTO_REDIS;
	return ws_proto_looks_like_response(WS_PROTO_REDIS, seg->head, seg->head_len);
}

static void redis_feed(void *st, int dir, const struct ws_seg *seg)
{
	struct redis *r = st;
	struct rdir *D = &r->d[dir];

	if (seg->gap_before)
		ws_pairer_gap(&r->pairer, dir == r->req_dir);
	if (seg->gap_before && D->st != R_LOST)
		lose(r, dir);
	if (D->st == R_LOST && seg->head_len && starts_message(r, dir, seg)) {
		end_lost(r, dir);
		D->st = R_IDLE;
	}
	if (seg->head_len)
		bytes(r, dir, seg->head, seg->head_len, seg, 0);
	gap(r, dir, seg->len - seg->head_len - seg->tail_len, seg);
	if (seg->tail_len)
		bytes(r, dir, seg->tail, seg->tail_len, seg, seg->len - seg->tail_len);
}

static void redis_eof(void *st, int dir)
{
	struct redis *r = st;

	end_lost(r, dir);
}

static void redis_finish(void *st)
{
	struct redis *r = st;

	end_lost(r, r->req_dir);
	end_lost(r, !r->req_dir);
}

static void *redis_create(int req_dir, const struct proto_sink *sink)
{
	struct redis *r = ws_calloc(1, sizeof(*r));

	r->req_dir = req_dir;
	ws_pairer_init(&r->pairer, sink, PENDING_MAX);
	r->d[0].capture = r->d[1].capture = -1;
	r->d[0].line.max = r->d[1].line.max = LINE_MAX_BYTES;
	return r;
}

static void redis_destroy(void *st)
{
	struct redis *r = st;

	if (!r)
		return;
	for (int i = 0; i < 2; i++) {
		wipe_args(&r->d[i]);
		ws_line_free(&r->d[i].line);
	}
	ws_pairer_free(&r->pairer);
	free(r);
}

static unsigned redis_pending(void *st)
{
	struct redis *r = st;

	return r->pairer.pending.len + r->d[0].in_msg + r->d[1].in_msg;
}

static struct ws_pairer *redis_pairer(void *st) { return &((struct redis *)st)->pairer; }

/* ---- spans ---- */

static void redis_span_fields(const struct ws_exchange *x, bool client, struct ws_span_fields *s, struct ws_json *a)
{
	const struct ws_redis_info *rq = &x->req.u.redis, *rs = &x->resp.u.redis;

	(void)client;

	ws_strlcpy(s->method, rq->command, sizeof(s->method));
	ws_strlcpy(s->target, rq->key, sizeof(s->target));
	ws_strlcpy(s->name, rq->command[0] ? rq->command : "redis", sizeof(s->name));
	if (rs->is_error) {
		/* error.type: the error prefix ("ERR", "WRONGTYPE") */
		const char *e = rs->error[0] ? rs->error : "error";
		size_t n = strcspn(e, " ");
		snprintf(s->error, sizeof(s->error), "%.*s", (int)WS_MIN(n, sizeof(s->error) - 1), e);
		/* only the code: the text may echo the arguments, which can be
		 * credentials (ERR Error in ACL SETUSER modifier '>pass...') */
	}
	wj_kuint(a, "wirespan.redis.args", rq->nargs);
	if (rq->redacted)
		wj_kstr(a, "wirespan.redis.arguments", "[REDACTED]");
}

static const char *const redis_constants[] = {"db.system", "redis", "db.system.name", "redis", NULL};

static const struct proto_span redis_span = {
	.fields = redis_span_fields,
	.method_attr = "db.operation.name",
	.target_attr = "wirespan.redis.key",
	.constant_attrs = redis_constants,
	.target_names = true,
	.database = true,
	.blocking = ws_redis_blocking_command,
};

const struct proto_ops ws_redis_ops = {
	.id = WS_PROTO_REDIS,
	.name = "redis",
	.span = &redis_span,
	.create = redis_create,
	.feed = redis_feed,
	.eof = redis_eof,
	.finish = redis_finish,
	.destroy = redis_destroy,
	.pending = redis_pending,
	.pairer = redis_pairer,
};
