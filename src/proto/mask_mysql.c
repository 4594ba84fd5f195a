/* mask_mysql.c -- see mask_mysql.h. Packets are read as mysql.c reads
 * them; what each response packet is comes from mysql_frame.c. */
#include "proto/mask_mysql.h"

#include <string.h>

#include "proto/mysql.h"
#include "util/util.h"

#define MASK '*'
#define TEXT_READ 1280 /* payload bytes mysql.c reads (KEEP) */

enum { Y_HDR, Y_BODY, Y_LOST, Y_RESYNC, Y_OFF };

/* how a payload's bytes are masked */
enum {
	K_KEEP,
	K_MASK,
	K_CMD,     /* a command: decided by its first byte */
	K_SQL,     /* COM_QUERY, COM_STMT_PREPARE: the command byte, then text */
	K_EXEC,    /* COM_STMT_EXECUTE: command, id, flags, iterations; then parameters */
	K_ERR,     /* 0xff, code, '#', SQLSTATE kept; the text masked */
	K_FIRST1,  /* the first byte only */
	K_GREET,   /* the greeting: its protocol byte and NULs */
	K_SRVAUTH, /* the server during authentication: decided by the first byte */
	K_RESP,    /* a response packet: decided by its kind */
	K_TRAIL,   /* a packet after a response ended: an EOF is kept */
	K_HS,      /* the handshake response, or COM_CHANGE_USER's payload */
	K_OK,      /* an OK packet: header, affected rows, insert id, status, warnings; not its info */
};

/* where in the handshake response */
enum { H_FIXED, H_USER, H_AUTHLEN, H_AUTH, H_AUTH0, H_DB, H_PLUGIN, H_REST };


static void after_auth(struct mym_dir *D)
{
	D->hs = D->caps & CLIENT_CONNECT_WITH_DB ? H_DB : H_PLUGIN;
}

/* One byte of the handshake response. */
static void hs_byte(struct mym_dir *D, uint8_t *c)
{
	uint8_t o = *c;

	switch (D->hs) {
	case H_FIXED:
		if (D->off < 4)
			D->caps |= (uint32_t)o << (8 * D->off);
		if (D->off == 31)
			D->hs = H_USER;
		return;
	case H_USER:
		if (!o && D->cu && !D->caps) {
			D->hs = H_REST; /* no handshake seen: how the answer is framed is not known */
		} else if (!o) {
			if (D->caps & (D->cu ? CLIENT_SECURE_CONNECTION : CLIENT_PLUGIN_AUTH_LENENC | CLIENT_SECURE_CONNECTION)) {
				D->hs = H_AUTHLEN;
				D->skip = 0;
			} else {
				D->hs = H_AUTH0;
			}
		} else {
			*c = MASK;
		}
		return;
	case H_AUTHLEN: /* a length-encoded (or one-byte) length */
		if (D->cu || !(D->caps & CLIENT_PLUGIN_AUTH_LENENC) || o < 0xfb) {
			D->skip = o;
			D->hs = o ? H_AUTH : H_DB;
			if (!o)
				after_auth(D);
		} else {
			D->hs = H_REST; /* a long answer: mask the rest */
		}
		return;
	case H_AUTH:
		*c = MASK;
		if (--D->skip == 0)
			after_auth(D);
		return;
	case H_AUTH0:
		if (!o)
			after_auth(D);
		else
			*c = MASK;
		return;
	case H_DB:
		if (!o)
			D->hs = H_PLUGIN;
		return;
	case H_PLUGIN:
		if (!o)
			D->hs = H_REST;
		return;
	default: /* connection attributes */
		*c = MASK;
		return;
	}
}

/* The first payload byte tells how the rest is masked. */
static void decide(struct my_mask *g, int dir, bool req, uint8_t b)
{
	struct mym_dir *D = &g->d[dir];

	switch (D->rule) {
	case K_CMD:
		g->cmd = b;
		switch (b) {
		case COM_QUERY:
		case COM_STMT_PREPARE:
			D->rule = K_SQL;
			ws_sqlmask_reset(&D->sql, WS_SQL_MYSQL);
			break;
		case COM_STMT_EXECUTE:
			D->rule = K_EXEC;
			break;
		case COM_CHANGE_USER: /* user, auth data, database: as in the handshake */
			D->rule = K_HS;
			D->hs = H_USER;
			D->cu = true;
			break;
		case COM_INIT_DB: case COM_STMT_CLOSE: case COM_STMT_RESET: case COM_STMT_FETCH: case COM_SET_OPTION:
		case COM_PING: case COM_QUIT: case COM_STATISTICS: case COM_RESET_CONNECTION:
			D->rule = K_KEEP;
			break;
		default:
			D->rule = K_FIRST1;
			break;
		}
		/* strictly request-response: the response before is over */
		g->in_resp = false;
		if (g->d[!dir].st == Y_LOST)
			g->d[!dir].st = Y_RESYNC;
		return;
	case K_SRVAUTH: /* the parser reads only whether it is an OK */
		D->rule = b == 0xff ? K_ERR : K_FIRST1;
		return;
	case K_RESP:
		D->kind = (uint8_t)my_frame_kind(&g->frame, b, D->len);
		switch (D->kind) {
		case MYP_OK: case MYP_END:
			D->rule = D->len == 5 ? K_KEEP : K_OK; /* an EOF packet is all numbers */
			D->keep_until = 1;
			D->ok_stage = 0;
			break;
		case MYP_PREPARE_OK: case MYP_COUNT: case MYP_EOF:
			D->rule = K_KEEP;
			break;
		case MYP_ERR:
			D->rule = K_ERR;
			break;
		case MYP_INFILE:
		case MYP_AUTH: /* a scramble */
			D->rule = K_FIRST1;
			break;
		default:
			D->rule = K_MASK;
			break;
		}
		return;
	case K_TRAIL:
		D->rule = b == 0xfe && D->len == 5 ? K_KEEP : K_MASK;
		return;
	default:
		(void)req;
		return;
	}
}

static void packet_start(struct my_mask *g, int dir, bool req)
{
	struct mym_dir *D = &g->d[dir];
	uint8_t seq = D->hdr[3];
	bool cont = D->long_pkt;

	D->len = D->left = ws_le24_get(D->hdr);
	D->long_pkt = D->len == MY_PKT_MAX;
	D->off = 0;
	D->nfirst = 0;
	D->first_cut = false;
	D->st = Y_BODY;
	if (!g->started) { /* the first packet read tells the phase */
		g->started = true;
		g->authed = req ? seq == 0 : seq != 0;
	}
	if (req && seq == 0 && !cont)
		g->authed = true; /* only commands have sequence 0 from the client */
	if (cont) {
		D->rule = K_MASK;
	} else if (req) {
		if (!g->authed)
			D->rule = seq == 1 && !g->handshake ? K_HS : K_MASK;
		else
			D->rule = seq == 0 ? K_CMD : K_MASK;
		if (D->rule == K_HS) {
			D->hs = H_FIXED;
			D->caps = 0;
			D->cu = false;
		}
	} else if (!g->authed) {
		D->rule = seq == 0 ? K_GREET : K_SRVAUTH;
	} else {
		if (!g->in_resp && seq == 1) {
			g->in_resp = true;
			my_frame_begin(&g->frame, g->cmd);
		}
		D->rule = g->in_resp ? K_RESP : K_TRAIL;
	}
}

static void packet_done(struct my_mask *g, int dir, bool req)
{
	struct mym_dir *D = &g->d[dir];

	D->st = Y_HDR;
	if (req && D->rule == K_HS) {
		g->handshake = true;
		g->frame.eof_mode = (D->caps & CLIENT_DEPRECATE_EOF) ? 1 : 0;
		if ((D->caps & CLIENT_SSL) && D->len == 32) /* TLS from here */
			g->d[0].st = g->d[1].st = Y_OFF;
		return;
	}
	if (req)
		return;
	uint8_t h = D->nfirst ? D->first[0] : 0;
	if (!g->authed) {
		if (h == 0x00 && D->hdr[3] > 0 && g->handshake)
			g->authed = true;
		return;
	}
	if (D->rule == K_KEEP && !g->in_resp && h == 0xfe && D->len == 5 && g->frame.eof_mode < 0)
		g->frame.eof_mode = 0; /* a trailing EOF */
	if (!g->in_resp || D->long_pkt)
		return;
	if (!D->len) {
		D->st = Y_LOST;
		return;
	}
	int r = my_frame_next(&g->frame, (enum my_pkt)D->kind, D->first, D->nfirst, D->len);
	if (r)
		g->in_resp = false;
	if (r < 0)
		D->st = Y_LOST;
}

static void body_byte(struct my_mask *g, int dir, bool req, uint8_t *c)
{
	struct mym_dir *D = &g->d[dir];

	if (D->off == 0)
		decide(g, dir, req, *c);
	if (!D->first_cut && D->nfirst < sizeof(D->first))
		D->first[D->nfirst++] = *c;
	switch (D->rule) {
	case K_KEEP:
		break;
	case K_SQL:
		if (D->off >= TEXT_READ)
			*c = MASK;
		else if (D->off > 0 && !ws_sqlmask_byte(&D->sql, c))
			D->rule = K_MASK; /* a NUL: not text any more */
		break;
	case K_EXEC:
		if (D->off >= 10)
			*c = MASK;
		break;
	case K_ERR:
		if (D->off >= 9)
			*c = MASK;
		break;
	case K_FIRST1:
		if (D->off > 0)
			*c = MASK;
		break;
	case K_GREET:
		if (D->off > 0 && *c)
			*c = MASK;
		break;
	case K_HS:
		if (D->cu && D->off == 0)
			break; /* COM_CHANGE_USER's command byte */
		hs_byte(D, c);
		break;
	case K_OK: /* two length-encoded integers, then status and warnings */
		if (D->off == D->keep_until && D->ok_stage < 2) {
			uint8_t w = *c < 0xfb ? 1 : *c == 0xfc ? 3 : *c == 0xfd ? 4 : *c == 0xfe ? 9 : 1;
			D->keep_until += w + (D->ok_stage == 1 ? 4 : 0);
			D->ok_stage++;
		} else if (D->off >= D->keep_until) {
			*c = MASK;
		}
		break;
	default:
		*c = MASK;
		break;
	}
	D->off++;
}

void ws_mymask_bytes(struct my_mask *g, int dir, bool req, uint8_t *p, uint32_t n)
{
	struct mym_dir *D = &g->d[dir & 1];

	dir &= 1;
	for (uint32_t i = 0; i < n; i++) {
		switch (D->st) {
		case Y_RESYNC:
			D->st = Y_HDR;
			D->have = 0;
			D->long_pkt = false;
			/* fall through */
		case Y_HDR:
			D->hdr[D->have++] = p[i];
			if (D->have == 4) {
				D->have = 0;
				packet_start(g, dir, req);
				if (D->left == 0)
					packet_done(g, dir, req);
			}
			continue;
		case Y_BODY:
			body_byte(g, dir, req, &p[i]);
			if (--D->left == 0)
				packet_done(g, dir, req);
			continue;
		default: /* lost, or TLS */
			p[i] = MASK;
			continue;
		}
	}
}

void ws_mymask_gap(struct my_mask *g, int dir, bool req, uint64_t n)
{
	struct mym_dir *D = &g->d[dir & 1];

	if (!n || D->st == Y_OFF || D->st == Y_LOST)
		return;
	if (D->st != Y_BODY || n > D->left) {
		D->st = Y_LOST;
		return;
	}
	if (D->off == 0) { /* the first byte, which decides, was not captured */
		D->st = Y_LOST;
		return;
	}
	D->left -= (uint32_t)n;
	D->off += (uint32_t)n;
	D->first_cut = true; /* what follows is not the packet's start */
	if (D->rule == K_SQL || D->rule == K_HS)
		D->rule = K_MASK; /* text and names are no longer read in step */
	if (D->left == 0)
		packet_done(g, dir & 1, req);
}

bool ws_mymask_lost(const struct my_mask *g, int dir) { return g->d[dir & 1].st == Y_LOST; }

void ws_mymask_set_lost(struct my_mask *g, int dir)
{
	if (g->d[dir & 1].st != Y_OFF)
		g->d[dir & 1].st = Y_LOST;
}

void ws_mymask_run_start(struct my_mask *g, int dir, bool req, const uint8_t *p, uint32_t n)
{
	struct mym_dir *D = &g->d[dir & 1];

	if (D->st == Y_LOST && req && n >= 4 && p[3] == 0 && ws_mysql_request_at(p, n) > 0) {
		D->st = Y_HDR;
		D->have = 0;
		D->long_pkt = false;
	}
}
