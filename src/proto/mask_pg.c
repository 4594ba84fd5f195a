/* mask_pg.c -- see mask_pg.h. The framing is read as pg.c reads it; SQL
 * text goes through mask_sql.c. */
#include "proto/mask_pg.h"

#include <string.h>

#include "proto/pg.h"
#include "util/util.h"

#define MASK '*'
#define TEXT_READ 1280 /* body bytes pg.c reads (BODY_KEEP) */

enum { G_FIRST, G_SHDR, G_HDR, G_BODY, G_SSL, G_LOST, G_OFF };


/* body fields */
enum {
	F_MASK,  /* masked to the end */
	F_KEEP,  /* kept to the end */
	F_KEY,   /* startup: a parameter's name */
	F_VALUE, /* startup: its value */
	F_NAME,  /* a NUL-terminated name, then next_field */
	F_NAME2, /* Bind: the statement's name after the portal's */
	F_TEXT,  /* SQL text to its NUL */
	F_CODE,  /* ErrorResponse / NoticeResponse: a field's code */
	F_FVAL,  /* its value */
	F_FKEEP, /* the value of the SQLSTATE field */
	F_BNF,   /* Bind: the count of parameter formats, then the formats */
	F_BNP,   /* the count of parameters */
	F_BLEN,  /* a parameter's length */
	F_BVAL,  /* its value */
};

/* Where a message's body starts being read. */
static uint8_t first_field(bool req, uint8_t t)
{
	if (req) {
		switch (t) {
		case 0: return F_KEY;
		case 'Q': return F_TEXT;
		case 'P': case 'B': return F_NAME;
		case 'C': case 'D': case 'E': return F_KEEP;
		default: return F_MASK;
		}
	}
	switch (t) {
	case 'C': case 'Z': return F_KEEP;
	case 'E': case 'N': return F_CODE;
	default: return F_MASK;
	}
}

static void body_byte(struct pgm_dir *D, uint8_t *c)
{
	uint8_t o = *c;

	if (D->off++ >= TEXT_READ && (D->field == F_TEXT || D->field == F_KEY || D->field == F_VALUE ||
				      D->field == F_NAME || D->field == F_NAME2 || D->field == F_FVAL)) {
		*c = MASK; /* past what the parser reads */
		return;
	}
	switch (D->field) {
	case F_MASK:
		*c = MASK;
		return;
	case F_KEEP:
		return;
	case F_KEY:
		if (!o) {
			D->keep_value = D->klen == 8 && memcmp(D->key, "database", 8) == 0;
			D->field = F_VALUE;
		} else if (D->klen < sizeof(D->key)) {
			D->key[D->klen++] = (char)o;
		} else {
			D->klen = sizeof(D->key) + 1; /* too long to be one we keep */
		}
		return;
	case F_VALUE:
		if (!o) {
			D->field = F_KEY;
			D->klen = 0;
		} else if (!D->keep_value) {
			*c = MASK;
		}
		return;
	case F_NAME:
		if (!o)
			D->field = D->type == 'B' ? F_NAME2 : F_TEXT;
		return;
	case F_NAME2:
		if (!o) {
			D->field = F_BNF;
			D->acc = D->acc_have = 0;
		}
		return;
	case F_TEXT:
		if (!ws_sqlmask_byte(&D->sql, c)) /* the NUL; a Parse's parameter types follow */
			D->field = F_KEEP;
		return;
	case F_BNF: /* counts and lengths are kept, values are not */
	case F_BNP:
	case F_BLEN: {
		unsigned need = D->field == F_BLEN ? 4 : 2;
		if (D->skip) { /* the format codes */
			D->skip--;
			return;
		}
		D->acc = D->acc << 8 | o;
		if (++D->acc_have < need)
			return;
		uint32_t v = D->acc;
		D->acc = D->acc_have = 0;
		if (D->field == F_BNF) {
			D->skip = 2 * v;
			D->field = F_BNP;
		} else if (D->field == F_BNP) {
			D->params = v;
			D->field = v ? F_BLEN : F_KEEP;
		} else if (v == 0xffffffffu || v == 0) { /* NULL or empty */
			D->field = --D->params ? F_BLEN : F_KEEP;
		} else {
			D->skip = v;
			D->field = F_BVAL;
		}
		return;
	}
	case F_BVAL:
		*c = MASK;
		if (--D->skip == 0)
			D->field = --D->params ? F_BLEN : F_KEEP; /* then the result formats */
		return;
	case F_CODE:
		if (o)
			D->field = o == 'C' ? F_FKEEP : F_FVAL;
		return;
	case F_FVAL:
		if (!o)
			D->field = F_CODE;
		else
			*c = MASK;
		return;
	case F_FKEEP:
		if (!o)
			D->field = F_CODE;
		return;
	}
}

static void header_done(struct pg_mask *g, struct pgm_dir *D, bool req)
{
	uint32_t len = D->type ? ws_be32_get(D->hdr + 1) : ws_be32_get(D->hdr);
	uint32_t hl = D->type ? 4 : 8;

	D->have = 0;
	if (len < hl || len > (1u << 30)) {
		D->st = G_LOST;
		return;
	}
	D->left = len - hl;
	D->off = 0;
	D->field = first_field(req, D->type);
	D->klen = 0;
	ws_sqlmask_reset(&D->sql, WS_SQL_PG);
	D->st = G_BODY;
	if (!D->type) {
		uint32_t code = ws_be32_get(D->hdr + 4);
		if (code == 80877103u || code == 80877104u) /* SSL, GSS: a startup packet follows */
			g->ssl_asked = true;
		if (code == 80877102u) /* a cancel request: a backend's pid and secret key */
			D->field = F_MASK;
	}
}

static void message_done(struct pg_mask *g, struct pgm_dir *D)
{
	D->st = !D->type && g->ssl_asked ? G_SHDR : G_HDR;
}

void ws_pgmask_bytes(struct pg_mask *g, int dir, bool req, uint8_t *p, uint32_t n)
{
	struct pgm_dir *D = &g->d[dir & 1];

	for (uint32_t i = 0; i < n; i++) {
		switch (D->st) {
		case G_FIRST:
			D->st = req ? (p[i] == 0 ? G_SHDR : G_HDR) : (g->ssl_asked ? G_SSL : G_HDR);
			i--;
			continue;
		case G_SSL:
			g->ssl_asked = false;
			if (p[i] == 'N') {
				D->st = G_HDR;
			} else if (p[i] == 'S' || p[i] == 'G') {
				D->st = G_OFF; /* kept: the parser stops reading here too */
				for (int d = 0; d < 2; d++)
					g->d[d].st = G_OFF;
			} else {
				D->st = G_LOST;
				p[i] = MASK;
			}
			continue;
		case G_SHDR:
		case G_HDR:
			if (D->have == 0) {
				D->type = D->st == G_SHDR ? 0 : p[i];
				D->need = D->type ? 5 : 8;
			}
			D->hdr[D->have++] = p[i];
			if (D->have == D->need) {
				header_done(g, D, req);
				if (D->st == G_BODY && D->left == 0)
					message_done(g, D);
			}
			continue;
		case G_BODY:
			body_byte(D, &p[i]);
			if (--D->left == 0)
				message_done(g, D);
			continue;
		case G_LOST:
		case G_OFF:
			p[i] = MASK;
			continue;
		}
	}
}

void ws_pgmask_gap(struct pg_mask *g, int dir, uint64_t n)
{
	struct pgm_dir *D = &g->d[dir & 1];

	if (D->st == G_OFF || D->st == G_LOST || !n)
		return;
	if (D->st != G_BODY || n > D->left) {
		D->st = G_LOST;
		return;
	}
	/* inside a body: what follows is no longer read as text or names */
	D->left -= (uint32_t)n;
	D->off += (uint32_t)n;
	if (D->field != F_KEEP)
		D->field = F_MASK;
	if (D->left == 0)
		message_done(g, D);
}

bool ws_pgmask_lost(const struct pg_mask *g, int dir) { return g->d[dir & 1].st == G_LOST; }

void ws_pgmask_set_lost(struct pg_mask *g, int dir)
{
	if (g->d[dir & 1].st != G_OFF)
		g->d[dir & 1].st = G_LOST;
}

bool ws_pgmask_starts(bool req, const uint8_t *p, uint32_t n)
{
	return req ? ws_pg_request_at(p, n) > 0 : ws_pg_response_at(p, n);
}

void ws_pgmask_restart(struct pg_mask *g, int dir)
{
	struct pgm_dir *D = &g->d[dir & 1];

	if (D->st != G_OFF) {
		D->st = G_HDR;
		D->have = 0;
	}
}
