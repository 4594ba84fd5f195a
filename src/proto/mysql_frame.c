/* mysql_frame.c -- see mysql_frame.h. */
#include "proto/mysql_frame.h"

#include <stddef.h>

#include "util/util.h"

#define SERVER_MORE_RESULTS 0x8u

enum { R_FIRST, R_COLS, R_AFTER_COLS, R_ROWS, R_PARAMS, R_PCOLS, R_DEFS_EOF };


uint64_t my_lenenc(const uint8_t *p, uint32_t n, uint32_t *used)
{
	*used = 0;
	if (!n)
		return 0;
	uint32_t w = p[0] < 0xfb ? 0 : p[0] == 0xfc ? 2 : p[0] == 0xfd ? 3 : p[0] == 0xfe ? 8 : 0;
	if (p[0] >= 0xfb && !w)
		return 0; /* 0xfb NULL, 0xff an error */
	if (n < 1 + w)
		return 0;
	uint64_t v = w ? 0 : p[0];
	for (uint32_t i = 0; i < w; i++)
		v |= (uint64_t)p[1 + i] << (8 * i);
	*used = 1 + w;
	return v;
}

bool my_ok_status(const uint8_t *b, uint32_t n, uint32_t len, uint16_t *status, uint64_t *affected)
{
	uint32_t u1, u2;

	if (len == 5 && b[0] == 0xfe) { /* an EOF packet: warnings, status */
		if (n < 5)
			return false;
		*status = ws_le16_get(b + 3);
		return true;
	}
	uint64_t aff = my_lenenc(b + 1, n > 0 ? n - 1 : 0, &u1);
	if (!u1)
		return false;
	my_lenenc(b + 1 + u1, n - 1 - u1, &u2);
	if (!u2 || 1 + u1 + u2 + 2 > n)
		return false;
	*status = ws_le16_get(b + 1 + u1 + u2);
	if (affected)
		*affected += aff;
	return true;
}

void my_frame_begin(struct my_frame *f, uint8_t cmd)
{
	f->rs = R_FIRST;
	f->cmd = cmd;
	f->left = 0;
	f->pcols = 0;
}

enum my_pkt my_frame_kind(const struct my_frame *f, uint8_t h, uint32_t len)
{
	switch (f->rs) {
	case R_FIRST:
		if (h == 0xff)
			return MYP_ERR;
		if (f->cmd == COM_CHANGE_USER)
			return h == 0x00 ? MYP_OK : MYP_AUTH;
		if (h == 0x00 && f->cmd == COM_STMT_PREPARE)
			return MYP_PREPARE_OK;
		if (h == 0x00 || (h == 0xfe && len >= 7 && len < MY_PKT_MAX))
			return MYP_OK;
		if (f->cmd == COM_STATISTICS)
			return MYP_STRING;
		if (h == 0xfb)
			return MYP_INFILE;
		return f->cmd == COM_FIELD_LIST ? MYP_DEF : MYP_COUNT;
	case R_COLS:
	case R_PARAMS:
		return MYP_DEF;
	case R_PCOLS:
		return h == 0xfe && len == 5 ? MYP_EOF : MYP_DEF; /* the EOF after the parameters */
	case R_DEFS_EOF:
		return MYP_EOF;
	case R_AFTER_COLS:
		if (h == 0xfe && len == 5 && f->eof_mode != 1)
			return MYP_EOF;
		/* no EOF: the first row or the closing OK, with CLIENT_DEPRECATE_EOF */
		if (h == 0xfe && len < MY_PKT_MAX)
			return MYP_END;
		return h == 0xff ? MYP_ERR : MYP_ROW;
	default: /* R_ROWS */
		if (h == 0xfe && len < MY_PKT_MAX && (len == 5 || f->eof_mode == 1))
			return MYP_END;
		if (h == 0xff)
			return MYP_ERR;
		return f->cmd == COM_FIELD_LIST ? MYP_DEF : MYP_ROW;
	}
}

/* A result set or OK ended: another follows, or the response is over. */
static int ended(struct my_frame *f, const uint8_t *b, uint32_t n, uint32_t len)
{
	uint16_t status;

	if (!my_ok_status(b, n, len, &status, NULL))
		return -1;
	if (status & SERVER_MORE_RESULTS) {
		f->rs = R_FIRST;
		return 0;
	}
	return 1;
}

/* A block of definitions of PREPARE_OK ended. */
static int block_done(struct my_frame *f)
{
	uint16_t cols = f->rs == R_PARAMS ? f->pcols : 0;

	f->pcols = 0;
	if (f->eof_mode == 0) { /* an EOF ends the block */
		f->rs = R_DEFS_EOF;
		f->left = cols;
		return 0;
	}
	if (cols) {
		f->rs = R_PCOLS;
		f->left = cols;
		return 0;
	}
	return 1; /* a trailing EOF, if the mode was not known, is passed over */
}

int my_frame_next(struct my_frame *f, enum my_pkt k, const uint8_t *b, uint32_t n, uint32_t len)
{
	uint32_t used;

	switch (k) {
	case MYP_ERR:
	case MYP_STRING:
		return 1;
	case MYP_OK:
	case MYP_END:
		if (f->rs == R_AFTER_COLS && f->eof_mode < 0)
			f->eof_mode = 1;
		return ended(f, b, n, len);
	case MYP_INFILE:
	case MYP_AUTH:
		return 0; /* the OK or ERR after the client's file, or authentication */
	case MYP_PREPARE_OK: {
		if (n < 9)
			return -1;
		uint16_t cols = ws_le16_get(b + 5), params = ws_le16_get(b + 7);
		f->pcols = cols;
		if (params) {
			f->rs = R_PARAMS;
			f->left = params;
		} else if (cols) {
			f->rs = R_PCOLS;
			f->left = cols;
			f->pcols = 0;
		} else {
			return 1;
		}
		return 0;
	}
	case MYP_COUNT:
		f->left = my_lenenc(b, n, &used);
		if (!used || !f->left)
			return -1;
		f->rs = R_COLS;
		/* MariaDB's cached metadata: a flag after the count says whether the
		 * definitions follow (0: the client has them from the prepare) */
		if (len > used && n > used && b[used] == 0)
			f->rs = R_AFTER_COLS;
		return 0;
	case MYP_DEF:
		if (f->rs == R_FIRST || f->rs == R_ROWS) { /* COM_FIELD_LIST: definitions up to an EOF */
			f->rs = R_ROWS;
			return 0;
		}
		if (!f->left)
			return -1;
		if (--f->left)
			return 0;
		if (f->rs == R_COLS) {
			f->rs = R_AFTER_COLS;
			return 0;
		}
		return block_done(f);
	case MYP_EOF:
		if (f->rs == R_AFTER_COLS) {
			f->eof_mode = 0;
			f->rs = R_ROWS;
			return 0;
		}
		if (f->rs == R_PCOLS) { /* after the parameters, the mode not known */
			f->eof_mode = 0;
			return 0;
		}
		/* R_DEFS_EOF */
		if (f->left) {
			f->rs = R_PCOLS;
			return 0;
		}
		return 1;
	case MYP_ROW:
		if (f->rs == R_AFTER_COLS) {
			if (f->eof_mode < 0)
				f->eof_mode = 1;
			f->rs = R_ROWS;
		}
		return 0;
	}
	return -1;
}
