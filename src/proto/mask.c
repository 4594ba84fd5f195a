/* mask.c -- see mask.h. Small lexers, HTTP/1.x and RESP here and
 * PostgreSQL in mask_pg.c, that read a direction's bytes as the parsers do
 * but only to decide, byte by byte, whether the byte may stay. */
#include "proto/mask.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proto/mask_h2.h"
#include "proto/mask_mysql.h"
#include "proto/mask_pg.h"
#include "proto/mysql.h"
#include "proto/pg.h"
#include "proto/proto.h"
#include "proto/redact.h"
#include "proto/redis.h"
#include "util/util.h"

#define MASK '*'

enum { P_UNKNOWN = 0, P_HTTP, P_REDIS, P_PG, P_MYSQL, P_H2, P_OPAQUE };

/* HTTP states */
enum {
	H_START,   /* between messages */
	H_METHOD,  /* request line: the method */
	H_TMASK,   /* the rest of a target split between runs: masked */
	H_VERSION, /* a request line's version */
	H_STATUS,  /* a status line (checked before it is kept) */
	H_NAME,	   /* a header field's name, or the blank line */
	H_VALUE,   /* its value */
	H_BODY,	   /* left bytes of a body with a length */
	H_CSIZE,   /* a chunk-size line */
	H_CEXT,	   /* its extensions */
	H_CDATA,   /* left bytes of chunk data */
	H_CEND,	   /* the CRLF after chunk data */
	H_CLOSE,   /* a body that ends with the connection */
	H_LOST,
};

/* how a header value is treated */
enum { V_MASK, V_KEEP, V_CLEN, V_TE, V_HOST };

/* RESP states */
enum { R_TYPE, R_LINE, R_BULK, R_INLINE, R_LOST };

/* what a request's response needs to know about it */
enum { K_OTHER, K_HEAD, K_CONNECT };

#define DEPTH_MAX 16
#define KINDS_MAX 64

struct mdir {
	bool seen;
	uint32_t next; /* sequence number the next run should start at */
	int st;
	bool is_req;
	char word[40]; /* HTTP: method, status line start or header name (lower
			* case); RESP: command name (upper case) */
	uint8_t wlen;
	/* HTTP */
	uint8_t val;
	bool trailer, chunked, has_clen, cl_bad, line_cr;
	int status;
	uint8_t kind; /* K_*: of the request being read */
	uint64_t clen, left;
	uint8_t cdigits;
	char te[16]; /* the last transfer coding (lower case) */
	uint8_t telen;
	/* RESP */
	char type;
	int depth;
	int64_t cnt[DEPTH_MAX];
	bool attr[DEPTH_MAX];
	int64_t num;
	bool num_neg, num_any, in_code;
	bool cmd_bad;  /* the command could not be read: no argument is kept */
	bool top;      /* a request's top-level array: its elements are arguments */
	uint32_t argi; /* argument being read (0: the command) */
	char sub[40];  /* a container command's subcommand (upper case) */
	uint8_t sublen;
	bool keep;   /* the bulk string being read is kept */
	bool bstart; /* and none of it has been read yet */
	bool in_word;
};

#define PEND_MAX 16

struct ws_mask {
	int proto;
	int req_dir;
	/* the first bytes of a direction, too few to tell the protocol by,
	 * kept because they can only be the start of a method or of a RESP
	 * array ("GE", "*3\r\n") */
	uint8_t pend[PEND_MAX];
	uint8_t npend;
	int pend_dir;
	uint32_t pend_seq;
	struct mdir d[2];
	uint8_t kinds[KINDS_MAX]; /* requests waiting for their response's framing */
	unsigned kh, kn;
	struct pg_mask pg;
	struct my_mask my;
	struct h2_mask h2;
};

struct ws_mask *ws_mask_new(void)
{
	struct ws_mask *m = ws_calloc(1, sizeof(*m));

	m->req_dir = -1;
	return m;
}

void ws_mask_free(struct ws_mask *m)
{
	free(m);
}

static void fill(uint8_t *p, size_t n)
{
	if (n) /* p may be NULL (no tail) */
		memset(p, MASK, n);
}

/* ---- HTTP/1.x ---- */

static void kind_push(struct ws_mask *m, uint8_t k)
{
	if (m->kn == KINDS_MAX) { /* the oldest is forgotten */
		m->kh = (m->kh + 1) % KINDS_MAX;
		m->kn--;
	}
	m->kinds[(m->kh + m->kn++) % KINDS_MAX] = k;
}

static uint8_t kind_pop(struct ws_mask *m)
{
	uint8_t k;

	if (!m->kn)
		return K_OTHER;
	k = m->kinds[m->kh];
	m->kh = (m->kh + 1) % KINDS_MAX;
	m->kn--;
	return k;
}

static bool word_is(const struct mdir *D, const char *w)
{
	return D->wlen == strlen(w) && memcmp(D->word, w, D->wlen) == 0;
}

/* A header's name has been read: how its value is treated. */
static void h_value_kind(struct mdir *D)
{
	static const char *const kept[] = {
	    "connection", "upgrade", "content-type", "user-agent", "traceparent", "expect",
	};

	D->val = V_MASK;
	if (D->trailer)
		;
	else if (word_is(D, "content-length")) {
		D->val = V_CLEN;
		D->clen = 0;
		D->has_clen = true;
	} else if (word_is(D, "transfer-encoding")) {
		D->val = V_TE;
		D->telen = 0;
	} else if (word_is(D, "host"))
		D->val = V_HOST;
	else
		for (size_t i = 0; i < WS_ARRAY_SIZE(kept); i++)
			if (word_is(D, kept[i]))
				D->val = V_KEEP;
	if (D->val == V_MASK && D->wlen < sizeof(D->word) && ws_redact_header_kept(D->word, D->wlen))
		D->val = V_KEEP;
}

static void h_body(struct ws_mask *m, struct mdir *D)
{
	if (D->chunked) {
		D->st = H_CSIZE;
		D->left = 0;
		D->cdigits = 0;
	} else if (D->has_clen) {
		D->st = D->cl_bad ? H_LOST : D->clen ? H_BODY : H_START;
		D->left = D->clen;
	} else {
		D->st = D->is_req ? H_START : H_CLOSE;
	}
	(void)m;
}

/* The blank line after the header fields. */
static void h_head_end(struct ws_mask *m, struct mdir *D)
{
	if (D->trailer) {
		D->st = H_START;
		return;
	}
	if (D->is_req) {
		kind_push(m, D->kind);
		h_body(m, D);
		return;
	}
	if (D->status / 100 == 1) {
		if (D->status == 101)
			m->proto = P_OPAQUE; /* another protocol follows */
		D->st = H_START;
		return;
	}
	uint8_t k = kind_pop(m);
	if (k == K_CONNECT && D->status / 100 == 2) {
		m->proto = P_OPAQUE; /* a tunnel */
		return;
	}
	if (k == K_HEAD || D->status == 204 || D->status == 304) {
		D->st = H_START;
		return;
	}
	h_body(m, D);
}

static void h_begin(struct ws_mask *m, struct mdir *D, int dir)
{
	D->is_req = dir == m->req_dir;
	D->st = D->is_req ? H_METHOD : H_STATUS;
	D->wlen = 0;
	D->trailer = D->chunked = D->has_clen = D->cl_bad = false;
	D->clen = 0;
	D->status = 0;
}

/* A response's status line, as far as it was kept in word. */
static int h_status(const struct mdir *D)
{
	const char *w = D->word; /* checked by ws_proto_looks_like_response */

	return (w[9] - '0') * 100 + (w[10] - '0') * 10 + (w[11] - '0');
}

static bool tchar(uint8_t c)
{
	return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* Whether p starts a header field's name: token characters up to a ':' or
 * to the end of the run (a name written in parts). */
static bool name_ahead(const uint8_t *p, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		if (p[i] == ':')
			return i > 0;
		if (!tchar(p[i]))
			return false;
	}
	return n > 0;
}

static void h_bytes(struct ws_mask *m, int dir, uint8_t *p, uint32_t n)
{
	struct mdir *D = &m->d[dir];
	uint32_t i = 0;

	while (i < n && m->proto == P_HTTP) {
		uint8_t c = p[i];
		switch (D->st) {
		case H_START:
			if (c == '\r' || c == '\n') {
				i++;
				continue;
			}
			h_begin(m, D, dir);
			if (!D->is_req && !ws_proto_looks_like_response(WS_PROTO_HTTP1, p + i, n - i))
				D->st = H_LOST; /* not a status line, or split: kept only when whole */
			continue;
		case H_METHOD:
			if (c == ' ') {
				D->kind = word_is(D, "HEAD") ? K_HEAD : word_is(D, "CONNECT") ? K_CONNECT : K_OTHER;
				i++;
				uint32_t j = i;
				while (j < n && p[j] != ' ' && p[j] != '\r' && p[j] != '\n')
					j++;
				if (j < n) { /* the whole target is here: mask it by the rules */
					ws_redact_mask_target((char *)p + i, j - i);
					D->st = H_VERSION;
					D->wlen = 0;
				} else { /* split between runs: masked but for its slashes */
					for (uint32_t t = i; t < j; t++)
						if (p[t] != '/')
							p[t] = MASK;
					D->st = H_TMASK;
				}
				i = j;
				continue;
			}
			if ((!isupper(c) && c != '-' && c != '_') || D->wlen >= 23) {
				D->st = H_LOST;
				continue;
			}
			D->word[D->wlen++] = (char)c;
			i++;
			continue;
		case H_TMASK:
			if (c == ' ' || c == '\r' || c == '\n') {
				D->st = H_VERSION;
				D->wlen = 0;
				continue;
			}
			if (c != '/')
				p[i] = MASK;
			i++;
			continue;
		case H_VERSION: { /* " HTTP/1.0" or " HTTP/1.1", then CRLF: nothing else stays */
			static const char v[] = " HTTP/1.";
			bool ok = D->wlen < 8	 ? c == (uint8_t)v[D->wlen]
				  : D->wlen == 8 ? (c == '0' || c == '1')
						 : (c == '\r' && D->wlen == 9);
			if (c == '\n' && D->wlen >= 9) {
				i++;
				D->st = H_NAME;
				D->wlen = 0;
				D->line_cr = false;
				continue;
			}
			if (!ok) {
				D->st = H_LOST;
				continue;
			}
			D->wlen++;
			i++;
			continue;
		}
		case H_STATUS:
			i++;
			if (D->wlen < sizeof(D->word))
				D->word[D->wlen++] = (char)c;
			if (c != '\n')
				continue;
			D->status = h_status(D);
			D->st = H_NAME;
			D->wlen = 0;
			D->line_cr = false;
			continue;
		case H_NAME:
			if (D->wlen == 0 && c == '\r') {
				D->line_cr = true;
				i++;
				continue;
			}
			if (c == '\n') {
				i++;
				if (D->wlen == 0)
					h_head_end(m, D);
				D->wlen = 0;
				D->line_cr = false;
				continue;
			}
			if (D->line_cr) { /* a CR that ends no line */
				D->st = H_LOST;
				continue;
			}
			if (D->wlen == 0 && !D->line_cr && (c == ' ' || c == '\t')) {
				D->val = V_MASK; /* an obsolete folded line: masked */
				D->st = H_VALUE;
				continue;
			}
			if (D->wlen == 0 && !name_ahead(p + i, n - i)) {
				D->st = H_LOST; /* not a field name, or split between runs */
				continue;
			}
			i++;
			if (c == ':') {
				h_value_kind(D);
				D->st = H_VALUE;
				if (D->val == V_HOST) { /* userinfo before the last '@' goes */
					uint32_t j = i;
					while (j < n && p[j] != '\n')
						j++;
					if (j == n) {
						D->val = V_MASK; /* split between runs: masked */
						continue;
					}
					uint32_t v = i;
					while (v < j && (p[v] == ' ' || p[v] == '\t'))
						v++;
					uint8_t *at = memrchr(p + v, '@', j - v);
					if (at)
						fill(p + v, (size_t)(at - (p + v)));
					D->val = V_KEEP;
				}
				continue;
			}
			if (!tchar(c)) { /* not a field name after all */
				D->st = H_LOST;
				p[i - 1] = MASK;
				continue;
			}
			if (D->wlen < sizeof(D->word))
				D->word[D->wlen++] = (char)tolower(c);
			else
				D->wlen = sizeof(D->word); /* too long to be one we keep */
			continue;
		case H_VALUE:
			i++;
			if (c == '\n') {
				if (D->val == V_TE)
					D->chunked = D->telen == 7 && memcmp(D->te, "chunked", 7) == 0;
				D->st = H_NAME;
				D->wlen = 0;
				D->line_cr = false;
				continue;
			}
			if (c == '\r')
				continue;
			switch (D->val) {
			case V_MASK: /* spaces stay, to read the file by */
				if (c != ' ' && c != '\t')
					p[i - 1] = MASK;
				break;
			case V_CLEN:
				if (isdigit(c) && D->clen < 100000000000000000ull)
					D->clen = D->clen * 10 + (c - '0');
				else if (c != ' ' && c != '\t')
					D->cl_bad = true;
				break;
			case V_TE:
				if (c == ',')
					D->telen = 0;
				else if (c != ' ' && c != '\t' && D->telen < sizeof(D->te))
					D->te[D->telen++] = (char)tolower(c);
				break;
			}
			continue;
		case H_BODY:
		case H_CDATA: {
			uint32_t k = (uint32_t)WS_MIN((uint64_t)(n - i), D->left);
			fill(p + i, k);
			i += k;
			D->left -= k;
			if (!D->left)
				D->st = D->st == H_BODY ? H_START : H_CEND;
			continue;
		}
		case H_CSIZE:
			i++;
			if (isxdigit(c) && D->cdigits < 15) {
				D->left = D->left * 16 + (uint64_t)(isdigit(c) ? c - '0' : (tolower(c) - 'a' + 10));
				D->cdigits++;
			} else if (c == ';') {
				D->st = H_CEXT;
			} else if (c == '\n' && D->cdigits) {
				if (D->left) {
					D->st = H_CDATA;
				} else { /* the last chunk: trailer fields, then a blank line */
					D->trailer = true;
					D->st = H_NAME;
					D->wlen = 0;
					D->line_cr = false;
				}
			} else if (c != '\r' && c != ' ' && c != '\t') {
				D->st = H_LOST;
			}
			continue;
		case H_CEXT:
			if (c == '\n') {
				D->st = H_CSIZE;
				continue;
			}
			if (c != '\r')
				p[i] = MASK;
			i++;
			continue;
		case H_CEND:
			i++;
			if (c == '\n') {
				D->st = H_CSIZE;
				D->left = 0;
				D->cdigits = 0;
			} else if (c != '\r') {
				D->st = H_LOST;
			}
			continue;
		case H_CLOSE:
		case H_LOST:
			fill(p + i, n - i);
			i = n;
			continue;
		}
	}
	if (i < n) /* the connection turned into something else */
		fill(p + i, n - i);
}

/* Uncaptured bytes: only a body can be skipped without losing the way. */
static void h_gap(struct mdir *D, uint64_t n)
{
	if ((D->st == H_BODY || D->st == H_CDATA) && n <= D->left) {
		D->left -= n;
		if (!D->left)
			D->st = D->st == H_BODY ? H_START : H_CEND;
	} else if (D->st != H_CLOSE) {
		D->st = H_LOST;
	}
}

/* ---- RESP ---- */

static void r_message_done(struct mdir *D)
{
	D->st = R_TYPE;
	D->top = false;
	D->depth = 0;
}

/* A value at the current depth is complete. */
static void r_value_done(struct mdir *D)
{
	for (;;) {
		if (D->depth == 0) {
			r_message_done(D);
			return;
		}
		if (D->top && D->depth == 1)
			D->argi++;
		if (--D->cnt[D->depth - 1] > 0)
			break;
		D->depth--;
		if (D->attr[D->depth]) /* what the attribute describes follows */
			break;
	}
	D->st = R_TYPE;
}

/* Whether the request argument about to be read is kept. */
static bool r_arg_kept(struct mdir *D)
{
	char cmd[41];

	memcpy(cmd, D->word, D->wlen);
	cmd[D->wlen] = 0;
	D->sub[D->sublen < sizeof(D->sub) ? D->sublen : sizeof(D->sub) - 1] = 0;
	return ws_redis_arg_stored(cmd, D->sub, D->argi);
}

/* XREAD and XREADGROUP options the parser reads (BLOCK marks a span) */
static bool r_option_word(const uint8_t *s, uint64_t n)
{
	static const char *const words[] = {"BLOCK", "STREAMS", "COUNT", "NOACK"};

	for (size_t i = 0; i < WS_ARRAY_SIZE(words); i++)
		if (n == strlen(words[i]) && strncasecmp((const char *)s, words[i], n) == 0)
			return true;
	return false;
}

/* A command name: letters, digits and . _ | - (module commands). */
static bool command_like(const uint8_t *s, uint32_t n)
{
	if (!n || n > 39)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (!isalnum(s[i]) && (!s[i] || !strchr("._|-", s[i])))
			return false;
	return true;
}

static void r_line_end(struct mdir *D)
{
	char t = D->type;

	if (strchr("*%~>|$=!", t) && !D->num_any) {
		D->st = R_LOST;
		return;
	}
	int64_t v = D->num_neg ? -D->num : D->num;
	if (strchr("*%~>|", t)) {
		if (t == '%' || t == '|')
			v *= 2;
		if (v <= 0) {
			r_value_done(D);
			return;
		}
		if (D->depth == DEPTH_MAX) {
			D->st = R_LOST;
			return;
		}
		if (D->depth == 0 && D->is_req && t == '*') {
			D->top = true;
			D->argi = 0;
			D->wlen = D->sublen = 0;
			D->cmd_bad = false;
		}
		D->attr[D->depth] = t == '|';
		D->cnt[D->depth++] = v;
		D->st = R_TYPE;
		return;
	}
	if (strchr("$=!", t)) {
		if (v < 0) {
			r_value_done(D);
			return;
		}
		D->left = (uint64_t)v + 2; /* and its CRLF */
		D->keep = D->top && D->depth == 1 && !D->cmd_bad && D->argi > 0 && r_arg_kept(D);
		D->bstart = true;
		D->st = R_BULK;
		return;
	}
	r_value_done(D);
}

static void r_inline_byte(struct mdir *D, uint8_t *b)
{
	uint8_t c = *b;

	if (c == ' ' || c == '\t') {
		if (D->in_word)
			D->argi++;
		D->in_word = false;
		return;
	}
	D->in_word = true;
	if (D->argi == 0) {
		if (D->wlen < sizeof(D->word) - 1)
			D->word[D->wlen++] = (char)toupper(c);
		return;
	}
	if (D->argi == 1 && D->sublen < sizeof(D->sub) - 1)
		D->sub[D->sublen++] = (char)toupper(c);
	if (!r_arg_kept(D))
		*b = MASK;
}

static void r_bytes(struct ws_mask *m, int dir, uint8_t *p, uint32_t n)
{
	struct mdir *D = &m->d[dir];
	uint32_t i = 0;

	while (i < n) {
		uint8_t c = p[i];
		switch (D->st) {
		case R_TYPE:
			if (D->depth == 0) {
				if (c == '\r' || c == '\n') {
					i++;
					continue;
				}
				D->is_req = dir == m->req_dir;
				D->top = false;
				if (D->is_req && c != '*') {
					/* an inline command, kept only when its line is all here and opens
					 * with a command wirespan knows */
					if (ws_proto_detect_request(p + i, n - i, NULL) != WS_PROTO_REDIS) {
						D->st = R_LOST;
						continue;
					}
					D->st = R_INLINE;
					D->argi = 0;
					D->wlen = D->sublen = 0;
					D->in_word = false;
					continue;
				}
			}
			if (!strchr("*%~>|$=!+-:(,#_", c) || !c) {
				D->st = R_LOST;
				continue;
			}
			D->type = (char)c;
			D->num = 0;
			D->num_neg = D->num_any = false;
			D->in_code = c == '-';
			D->st = R_LINE;
			i++;
			continue;
		case R_LINE:
			i++;
			if (c == '\n') {
				r_line_end(D);
				continue;
			}
			if (c == '\r')
				continue;
			switch (D->type) {
			case '+': /* a status: never stored */ p[i - 1] = MASK; break;
			case '-': /* an error: its code stays, its text (which may echo arguments) goes */
				if (D->in_code && !isupper(c) && !isdigit(c) && c != '_' && c != '-')
					D->in_code = false;
				if (!D->in_code && c != ' ')
					p[i - 1] = MASK;
				break;
			case ':':
			case '(':
			case ',': /* a number: its digits go; anything but a number loses the way */
				if (isalnum(c))
					p[i - 1] = '0';
				else if (c != '-' && c != '+' && c != '.') {
					i--;
					D->st = R_LOST;
				}
				break;
			case '#': /* t or f */
				if (c != 't' && c != 'f')
					p[i - 1] = MASK;
				break;
			case '_': /* null: nothing */ p[i - 1] = MASK; break;
			default: /* a length or a count: anything else and the way is lost */
				if (c == '-' && !D->num_any && !D->num_neg) {
					D->num_neg = true;
				} else if (isdigit(c) && D->num < 100000000000ll) {
					D->num = D->num * 10 + (c - '0');
					D->num_any = true;
				} else {
					i--;
					D->st = R_LOST;
				}
			}
			continue;
		case R_BULK: {
			uint64_t content = D->left > 2 ? D->left - 2 : 0;
			uint32_t k = (uint32_t)WS_MIN((uint64_t)(n - i), D->left);
			uint32_t kc = (uint32_t)WS_MIN((uint64_t)k, content);
			if (D->top && D->depth == 1 && D->argi <= 1) { /* the command and a subcommand */
				char *w = D->argi == 0 ? D->word : D->sub;
				uint8_t *wl = D->argi == 0 ? &D->wlen : &D->sublen;
				for (uint32_t j = 0; j < kc && *wl < sizeof(D->word) - 1; j++)
					w[(*wl)++] = (char)toupper(p[i + j]);
			}
			if (D->type == '!') { /* a blob error: its code stays, as for '-' */
				for (uint32_t j = 0; j < kc; j++) {
					uint8_t b = p[i + j];
					if (D->bstart && j == 0)
						D->in_code = true;
					if (D->in_code && !isupper(b) && !isdigit(b) && b != '_' && b != '-')
						D->in_code = false;
					if (!D->in_code && b != ' ')
						p[i + j] = MASK;
				}
				D->bstart = false;
				i += k;
				D->left -= k;
				if (!D->left)
					r_value_done(D);
				continue;
			}
			bool keep = D->keep;
			bool whole = content == kc && D->bstart; /* all here, from its start */
			D->bstart = false;
			if (D->top && D->depth == 1 && D->argi == 0) { /* the command: kept when it looks like one */
				if (!whole || !command_like(p + i, kc))
					D->cmd_bad = true;
				keep = !D->cmd_bad;
			} else if (!keep && D->top && D->depth == 1 && whole && !D->cmd_bad) {
				keep = r_option_word(p + i, kc); /* an option word */
			}
			if (!keep)
				fill(p + i, kc);
			i += k;
			D->left -= k;
			if (!D->left)
				r_value_done(D);
			continue;
		}
		case R_INLINE:
			i++;
			if (c == '\n') {
				r_message_done(D);
				continue;
			}
			if (c != '\r')
				r_inline_byte(D, p + i - 1);
			continue;
		case R_LOST:
			fill(p + i, n - i);
			i = n;
			continue;
		}
	}
}

static void r_gap(struct mdir *D, uint64_t n)
{
	if (D->st == R_BULK && n + 2 <= D->left)
		D->left -= n;
	else
		D->st = R_LOST;
}

/* ---- runs ---- */

/* Learn the protocol and which way requests go from a run's first bytes.
 * *more: too few bytes to tell yet. */
static void detect(struct ws_mask *m, int dir, const uint8_t *p, uint32_t n, bool *more)
{
	enum ws_proto pr = ws_proto_detect_request(p, n, more);

	if (pr == WS_PROTO_HTTP1 || pr == WS_PROTO_REDIS || pr == WS_PROTO_PG || pr == WS_PROTO_MYSQL || pr == WS_PROTO_H2) {
		m->proto = pr == WS_PROTO_HTTP1	  ? P_HTTP
			   : pr == WS_PROTO_REDIS ? P_REDIS
			   : pr == WS_PROTO_PG	  ? P_PG
			   : pr == WS_PROTO_H2	  ? P_H2
						  : P_MYSQL;
		m->req_dir = dir;
	} else if (ws_proto_detect_greeting(p, n, NULL) == WS_PROTO_MYSQL) {
		m->proto = P_MYSQL; /* the server speaks first */
		m->req_dir = !dir;
	} else if (ws_proto_looks_like_response(WS_PROTO_HTTP1, p, n)) {
		m->proto = P_HTTP;
		m->req_dir = !dir;
	} else {
		return;
	}
	*more = false;
}

/* HTTP/2 bytes held while the protocol was not known (kept as they
 * were): read to stand where they ended. */
static void h2_held(struct ws_mask *m, int dir, uint8_t *p, uint32_t n)
{
	bool req = dir == m->req_dir;

	ws_h2mask_run_start(&m->h2, dir, req, true, p, n, n);
	ws_h2mask_bytes(&m->h2, dir, req, p, n);
}

/* The protocol is not known yet: decide from this run, with the bytes
 * held back from the direction's last run if this one follows it. */
static void learn(struct ws_mask *m, int dir, uint32_t seq, uint32_t len, const uint8_t *head, uint32_t head_len)
{
	uint8_t buf[PEND_MAX + 64];
	uint32_t np = m->npend && m->pend_dir == dir && seq == m->pend_seq + m->npend ? m->npend : 0;
	uint32_t n = WS_MIN(head_len, (uint32_t)sizeof(buf) - np);
	bool more = false;

	memcpy(buf, m->pend, np);
	memcpy(buf + np, head, n);
	detect(m, dir, buf, np + n, &more);
	m->npend = 0;
	if (m->proto != P_UNKNOWN) {
		/* the other direction's runs so far were masked unread: it finds its
		 * way where one starts a message */
		if (m->d[!dir].seen) {
			if (m->proto == P_PG)
				ws_pgmask_set_lost(&m->pg, !dir);
			else if (m->proto == P_H2)
				ws_h2mask_set_lost(&m->h2, !dir);
			else if (m->proto == P_MYSQL)
				ws_mymask_set_lost(&m->my, !dir);
			else
				m->d[!dir].st = m->proto == P_HTTP ? H_LOST : R_LOST;
		}
		if (np) { /* read the held bytes again, to stand where they ended */
			uint8_t scratch[PEND_MAX];
			memcpy(scratch, buf, np);
			if (m->proto == P_HTTP)
				h_bytes(m, dir, scratch, np);
			else if (m->proto == P_PG)
				ws_pgmask_bytes(&m->pg, dir, true, scratch, np);
			else if (m->proto == P_H2)
				h2_held(m, dir, scratch, np);
			else if (m->proto == P_MYSQL)
				ws_mymask_bytes(&m->my, dir, dir == m->req_dir, scratch, np);
			else
				r_bytes(m, dir, scratch, np);
		}
		return;
	}
	/* hold (and keep) a start too short to tell, if it cannot be a secret:
	 * the direction's first bytes (or what follows them while held), no
	 * space in them, the whole run captured (a PostgreSQL startup packet's
	 * first bytes are its length and version) */
	if (more && (np || !m->d[dir].seen) && np + len <= PEND_MAX && head_len == len && !memchr(buf, ' ', np + n)) {
		memcpy(m->pend, buf, np + n);
		m->npend = (uint8_t)(np + n);
		m->pend_dir = dir;
		m->pend_seq = seq - np;
	}
}

/* Whether a run opens with a whole RESP type line that a server could
 * have sent: a length or count, a number, a boolean, a null, or a short
 * printable status or error. */
static bool resp_line_plausible(const uint8_t *p, uint32_t n)
{
	const uint8_t *nl = n > 2 ? memchr(p, '\n', WS_MIN(n, 514u)) : NULL;
	uint32_t l, i = 1;

	if (!nl || nl == p || nl[-1] != '\r' || !p[0])
		return false;
	l = (uint32_t)(nl - p) - 1; /* before the CR */
	if (strchr("*%~>|$=!:(", p[0])) {
		if (i < l && p[i] == '-')
			i++;
		if (i == l || l - i > 19)
			return false;
		for (; i < l; i++)
			if (!isdigit(p[i]))
				return false;
		return true;
	}
	if (p[0] == '#')
		return l == 2 && (p[1] == 't' || p[1] == 'f');
	if (p[0] == '_')
		return l == 1;
	if (p[0] == '+' || p[0] == '-' || p[0] == ',') {
		for (; i < l; i++)
			if (p[i] < 0x20 || p[i] > 0x7e)
				return false;
		return l > 1;
	}
	return false;
}

/* A direction whose way was lost finds it again where a run starts a
 * message. */
static bool starts_message(const struct ws_mask *m, int dir, const uint8_t *p, uint32_t n)
{
	if (m->proto == P_HTTP)
		return dir == m->req_dir ? ws_proto_detect_request(p, n, NULL) == WS_PROTO_HTTP1
					 : ws_proto_looks_like_response(WS_PROTO_HTTP1, p, n);
	if (dir == m->req_dir)
		return ws_proto_detect_request(p, n, NULL) == WS_PROTO_REDIS;
	return resp_line_plausible(p, n);
}

static bool lost(const struct ws_mask *m, int dir)
{
	return m->d[dir].st == (m->proto == P_HTTP ? H_LOST : R_LOST);
}

/* The end of a run, when captured: a ReadyForQuery there (with the
 * CommandComplete before it) ends a response the parser lost the framing
 * of (pg.c), so it stays; *n says how many bytes. */
static uint8_t *pg_ready_at_end(uint32_t len, uint8_t *head, uint32_t head_len, uint8_t *tail, uint32_t tail_len,
				uint32_t *n)
{
	uint8_t *b = tail_len ? tail : head_len == len ? head : NULL;
	uint32_t bl = tail_len ? tail_len : head_len;

	*n = b ? ws_pg_ready_tail(b, bl) : 0;
	return *n ? b + bl - *n : NULL;
}

static void pg_run(struct ws_mask *m, int dir, bool follows, uint32_t len, uint8_t *head, uint32_t head_len,
		   uint8_t *tail, uint32_t tail_len)
{
	struct mdir *D = &m->d[dir];
	bool req = dir == m->req_dir;

	if (!follows || (!D->seen && !(head_len && ws_pgmask_starts(req, head, head_len))))
		ws_pgmask_set_lost(&m->pg, dir);
	if (ws_pgmask_lost(&m->pg, dir) && req && head_len && head[0] && ws_pgmask_starts(true, head, head_len))
		ws_pgmask_restart(&m->pg, dir);
	uint8_t z[48];
	uint32_t zn = 0;
	uint8_t *e = req ? NULL : pg_ready_at_end(len, head, head_len, tail, tail_len, &zn);
	if (e)
		memcpy(z, e, zn);
	ws_pgmask_bytes(&m->pg, dir, req, head, head_len);
	if (len - head_len - tail_len)
		ws_pgmask_gap(&m->pg, dir, len - head_len - tail_len);
	ws_pgmask_bytes(&m->pg, dir, req, tail, tail_len);
	if (e && ws_pgmask_lost(&m->pg, dir)) { /* the parser finds its way there */
		memcpy(e, z, zn);
		ws_pgmask_restart(&m->pg, dir);
	}
}

static void set_lost(struct ws_mask *m, int dir)
{
	m->d[dir].st = m->proto == P_HTTP ? H_LOST : R_LOST;
}

/* Whether a run can start a MySQL direction: the client's with a command
 * or its handshake response, the server's with its greeting or the first
 * packet of a response. */
static bool my_starts(bool req, const uint8_t *p, uint32_t n)
{
	if (n == 4) /* a packet's header read alone (MariaDB reads them so) */
		return p[3] <= 1;
	if (req)
		return ws_mysql_request_at(p, n) > 0;
	return ws_mysql_greeting_at(p, n) > 0 || (n >= 4 && p[3] == 1);
}

static void my_run(struct ws_mask *m, int dir, bool follows, uint32_t len, uint8_t *head, uint32_t head_len,
		   uint8_t *tail, uint32_t tail_len)
{
	struct mdir *D = &m->d[dir];
	bool req = dir == m->req_dir;

	if (!follows || (!D->seen && !(head_len && my_starts(req, head, head_len))))
		ws_mymask_set_lost(&m->my, dir);
	ws_mymask_run_start(&m->my, dir, req, head, head_len);
	ws_mymask_bytes(&m->my, dir, req, head, head_len);
	if (len - head_len - tail_len)
		ws_mymask_gap(&m->my, dir, req, len - head_len - tail_len);
	ws_mymask_bytes(&m->my, dir, req, tail, tail_len);
}

static void h2_run(struct ws_mask *m, int dir, bool follows, uint32_t len, uint8_t *head, uint32_t head_len,
		   uint8_t *tail, uint32_t tail_len)
{
	struct mdir *D = &m->d[dir];
	bool req = dir == m->req_dir;

	if (!follows)
		ws_h2mask_set_lost(&m->h2, dir);
	ws_h2mask_run_start(&m->h2, dir, req, !D->seen, head, head_len, len);
	ws_h2mask_bytes(&m->h2, dir, req, head, head_len);
	if (len - head_len - tail_len)
		ws_h2mask_gap(&m->h2, dir, len - head_len - tail_len);
	ws_h2mask_bytes(&m->h2, dir, req, tail, tail_len);
}

void ws_mask_run(struct ws_mask *m, int dir, uint32_t seq, bool seq_known, uint32_t len, uint8_t *head,
		 uint32_t head_len, uint8_t *tail, uint32_t tail_len)
{
	struct mdir *D = &m->d[dir & 1];

	dir &= 1;
	if (head_len > len)
		head_len = len;
	if (tail_len > len - head_len)
		tail_len = len - head_len;
	if (m->proto == P_UNKNOWN && head_len) {
		learn(m, dir, seq, len, head, head_len);
		if (m->proto == P_UNKNOWN && m->npend) { /* held: kept as they are */
			m->d[dir].seen = true;
			m->d[dir].next = seq + len;
			return;
		}
	}
	if (m->proto == P_PG) {
		pg_run(m, dir, !D->seen || !seq_known || seq == D->next, len, head, head_len, tail, tail_len);
	} else if (m->proto == P_MYSQL) {
		my_run(m, dir, !D->seen || !seq_known || seq == D->next, len, head, head_len, tail, tail_len);
	} else if (m->proto == P_H2) {
		h2_run(m, dir, !D->seen || !seq_known || seq == D->next, len, head, head_len, tail, tail_len);
	} else if (m->proto == P_HTTP || m->proto == P_REDIS) {
		bool follows = !D->seen || !seq_known || seq == D->next;
		if (!follows || (!D->seen && !(head_len && starts_message(m, dir, head, head_len))))
			set_lost(m, dir); /* a gap, or a first run that starts no message */
		if (lost(m, dir) && head_len && starts_message(m, dir, head, head_len)) {
			D->st = H_START; /* == R_TYPE */
			D->depth = 0;
		}
		if (m->proto == P_HTTP) {
			h_bytes(m, dir, head, head_len);
			if (len - head_len - tail_len)
				h_gap(D, len - head_len - tail_len);
			h_bytes(m, dir, tail, tail_len);
		} else {
			r_bytes(m, dir, head, head_len);
			if (len - head_len - tail_len)
				r_gap(D, len - head_len - tail_len);
			r_bytes(m, dir, tail, tail_len);
		}
	} else {
		fill(head, head_len); /* not a protocol we parse, or no longer */
		fill(tail, tail_len);
	}
	D->seen = true;
	D->next = seq + len;
}
