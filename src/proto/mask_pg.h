/* mask_pg.h -- the PostgreSQL part of masked event files (mask.h).
 *
 * Kept: every type byte and length, the startup packet's parameter names
 * and its database, the answer to an encryption request, statement and
 * portal names, SQL text outside literals and comments (a literal keeps
 * its quotes and structure, its content becomes '*', a number's digits
 * '0'), command tags, ReadyForQuery's status, an error's field codes and
 * SQLSTATE. Everything else -- parameters, rows, passwords and SASL
 * messages, COPY data, error and notice texts, server parameters -- is
 * masked. Text past what the parser reads is masked whole. */
#ifndef WIRESPAN_PROTO_MASK_PG_H
#define WIRESPAN_PROTO_MASK_PG_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/mask_sql.h"

struct pgm_dir {
	uint8_t st;       /* framing: G_* (mask_pg.c) */
	uint8_t type;     /* the message's type; 0 a startup packet */
	uint8_t hdr[8];
	uint8_t have, need;
	uint32_t left, off; /* body bytes left, and read */
	uint8_t field;    /* where in the body: F_* */
	struct sql_mask sql;
	char key[16];     /* a startup parameter's name */
	uint8_t klen;
	bool keep_value;
	/* Bind: a count or length being read, bytes to pass, parameters left */
	uint32_t acc, skip, params;
	uint8_t acc_have;
};

struct pg_mask {
	struct pgm_dir d[2];
	bool ssl_asked;
};

/* Mask p[0..n) in place, bytes that travelled in dir; req: dir is the
 * client's. */
void ws_pgmask_bytes(struct pg_mask *g, int dir, bool req, uint8_t *p, uint32_t n);
/* n bytes of dir were not captured. */
void ws_pgmask_gap(struct pg_mask *g, int dir, uint64_t n);
bool ws_pgmask_lost(const struct pg_mask *g, int dir);
void ws_pgmask_set_lost(struct pg_mask *g, int dir);
/* Whether a run that starts with p[0..n) starts a message (req: the
 * client's run); a lost direction is read again from there. */
bool ws_pgmask_starts(bool req, const uint8_t *p, uint32_t n);
void ws_pgmask_restart(struct pg_mask *g, int dir);


#endif
