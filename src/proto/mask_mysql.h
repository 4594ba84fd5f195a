/* mask_mysql.h -- the MySQL / MariaDB part of masked event files (mask.h).
 *
 * Kept: every packet header, the handshake response's capabilities, its
 * user's length and database, the command bytes, SQL text outside
 * literals and comments (mask_sql.h), statement ids, OK, EOF and
 * PREPARE_OK packets, column counts, an ERR's code and SQLSTATE.
 * Masked: the server's version and scramble, the user name, the password's
 * scrambled answer, COM_STMT_EXECUTE's parameters, column definitions,
 * rows, error texts, LOCAL INFILE names and data. Responses are read with
 * the parser's own framing (mysql_frame.h). */
#ifndef WIRESPAN_PROTO_MASK_MYSQL_H
#define WIRESPAN_PROTO_MASK_MYSQL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/mask_sql.h"
#include "proto/mysql_frame.h"

struct mym_dir {
	uint8_t st;          /* Y_* (mask_mysql.c) */
	uint8_t hdr[4], have;
	uint32_t len, left, off;
	uint8_t rule;        /* how the payload's bytes are masked: K_* */
	uint8_t kind;        /* a response packet's enum my_pkt */
	uint8_t first[32];   /* the payload's first bytes, as they were */
	uint8_t nfirst;
	bool first_cut;      /* a gap ended them */
	bool long_pkt;       /* the packet before had the largest length */
	struct sql_mask sql;
	uint32_t caps, skip; /* the handshake response */
	uint8_t hs;          /* where in it: H_* */
	bool cu;             /* COM_CHANGE_USER: the same fields, a one-byte auth length */
	uint32_t keep_until; /* an OK packet: the bytes the parser reads */
	uint8_t ok_stage;
};

struct my_mask {
	struct mym_dir d[2];
	bool started, authed, handshake, in_resp;
	uint8_t cmd; /* the last command */
	struct my_frame frame;
};

void ws_mymask_bytes(struct my_mask *g, int dir, bool req, uint8_t *p, uint32_t n);
void ws_mymask_gap(struct my_mask *g, int dir, bool req, uint64_t n);
bool ws_mymask_lost(const struct my_mask *g, int dir);
void ws_mymask_set_lost(struct my_mask *g, int dir);
/* A lost direction is read again from a run that starts a command (the
 * client's) or from the first run after one (the server's). */
void ws_mymask_run_start(struct my_mask *g, int dir, bool req, const uint8_t *p, uint32_t n);

#endif
