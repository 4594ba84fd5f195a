/* mask_sql.c -- see mask_sql.h: a lexer that follows sql.c's tokens byte
 * by byte, so that masked text gives the same summary. */
#include "proto/mask_sql.h"

#include <ctype.h>

#define MASK '*'

enum { S_N, S_STR, S_STRBS, S_STRQ, S_DTAG, S_DBODY, S_LINE, S_BLOCK, S_QID, S_QIDQ };

static bool word_byte(uint8_t c) { return isalnum(c) || c == '_' || c >= 0x80; }

/* One byte of SQL text; returns false at the NUL that ends it. */
bool ws_sqlmask_byte(struct sql_mask *D, uint8_t *c)
{
	uint8_t o = *c;

again:
	switch (D->st) {
	case S_N:
		if (!o)
			return false;
		if (D->in_num) {
			if (isalnum(o) || o == '.' || ((o == '+' || o == '-') && (D->wfirst == 'e' || D->wfirst == 'E'))) {
				D->wfirst = (char)o;
				if (isalnum(o) && o != 'e' && o != 'E')
					*c = '0';
				return true;
			}
			D->in_num = false;
		}
		if (D->prev_dash && o == '-') {
			D->prev_dash = false;
			D->st = S_LINE;
			return true;
		}
		if (D->prev_slash && o == '*') {
			D->prev_slash = false;
			D->prev_star = false;
			D->depth = 1;
			D->st = S_BLOCK;
			return true;
		}
		D->prev_dash = o == '-';
		D->prev_slash = o == '/';
		bool my = D->dialect == WS_SQL_MYSQL;
		if (o == '#' && my) {
			D->in_word = false;
			D->st = S_LINE;
		} else if (o == '\'' || (o == '"' && my)) { /* MySQL: "..." is a string, backslashes escape */
			D->bs = my || (D->in_word && D->wlen == 1 && (D->wfirst == 'E' || D->wfirst == 'e'));
			D->quote = (char)o;
			D->in_word = false;
			D->st = S_STR;
		} else if (o == '"' || (o == '`' && my)) {
			D->quote = (char)o;
			D->in_word = false;
			D->st = S_QID;
		} else if (o == '$' && !D->in_word) {
			D->dlen = 0;
			D->dtag[D->dlen++] = '$';
			D->st = S_DTAG;
		} else if (isdigit(o) && !D->in_word) {
			D->in_num = true;
			D->wfirst = (char)o;
			*c = '0';
		} else if (word_byte(o) || (o == '$' && D->in_word)) {
			if (!D->in_word)
				D->wfirst = (char)o, D->wlen = 0;
			D->in_word = true;
			if (D->wlen < 255)
				D->wlen++;
		} else {
			D->in_word = false;
		}
		return true;
	case S_DTAG: /* after a '$' that is not inside a word */
		if (D->dlen == 1 && isdigit(o)) { /* a parameter: $1 */
			D->st = S_N;
			D->in_word = true;
			D->wlen = 2;
			return true;
		}
		if ((isalnum(o) || o == '_') && D->dlen < sizeof(D->dtag) - 2) {
			D->dtag[D->dlen++] = (char)o;
			return true;
		}
		if (o == '$') {
			D->dtag[D->dlen++] = '$';
			D->dmatch = 0;
			D->st = S_DBODY;
			return true;
		}
		D->st = S_N; /* not a dollar quote after all */
		D->in_word = false;
		goto again;
	case S_DBODY: /* until "$tag$"; what matches it so far is the tag */
		if (o == (uint8_t)D->dtag[D->dmatch]) {
			if (++D->dmatch == D->dlen) {
				D->st = S_N;
				D->in_word = false;
			}
			return true;
		}
		if (!o)
			return false;
		D->dmatch = o == '$';
		if (o != '$')
			*c = MASK;
		return true;
	case S_STR:
		if (!o)
			return false;
		if (D->bs && o == '\\') {
			*c = MASK;
			D->st = S_STRBS;
		} else if (o == (uint8_t)D->quote) {
			D->st = S_STRQ;
		} else {
			*c = MASK;
		}
		return true;
	case S_STRBS: /* the escaped byte: masked, never taken for a quote */
		if (!o)
			return false;
		*c = MASK;
		D->st = S_STR;
		return true;
	case S_STRQ:
		if (o == (uint8_t)D->quote) { /* '' inside the literal */
			D->st = S_STR;
			return true;
		}
		D->st = S_N;
		D->in_word = false;
		goto again;
	case S_LINE:
		if (o == '\n')
			D->st = S_N;
		else if (o)
			*c = MASK;
		return o != 0;
	case S_BLOCK: /* only the outermost closing slash is kept: no masked byte closes it early */
		if (!o)
			return false;
		if (o == '/' && D->prev_star) {
			D->prev_star = false;
			if (--D->depth == 0) {
				D->st = S_N;
				D->in_word = false;
				return true;
			}
			D->prev_slash = false; /* "*" + "/" closed a level; it opens none */
			*c = MASK;
			return true;
		} else if (o == '*' && D->prev_slash && D->dialect == WS_SQL_PG) {
			D->depth++; /* PostgreSQL's comments nest */
			D->prev_slash = false;
			D->prev_star = false;
			*c = MASK;
			return true;
		} else {
			D->prev_star = o == '*';
		}
		D->prev_slash = o == '/';
		*c = MASK;
		return true;
	case S_QID:
		if (o == (uint8_t)D->quote)
			D->st = S_QIDQ;
		return o != 0;
	case S_QIDQ:
		if (o == (uint8_t)D->quote) {
			D->st = S_QID;
			return true;
		}
		D->st = S_N;
		goto again;
	}
	return true;
}

void ws_sqlmask_reset(struct sql_mask *D, enum ws_sql_dialect d)
{
	D->dialect = (uint8_t)d;
	D->depth = 0;
	D->st = S_N;
	D->in_word = D->in_num = D->prev_dash = D->prev_slash = D->prev_star = D->bs = false;
	D->wlen = 0;
}

