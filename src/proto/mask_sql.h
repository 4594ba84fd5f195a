/* mask_sql.h -- SQL text in masked event files (mask.h): literals keep
 * their quotes and structure but not their content ('*'), numbers keep
 * their length ('0' for each digit), comments become '*' but for their
 * delimiters; identifiers, keywords, operators and parameter markers stay.
 * sql.c reads the masked text to the same operation, table and text. */
#ifndef WIRESPAN_PROTO_MASK_SQL_H
#define WIRESPAN_PROTO_MASK_SQL_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/sql.h"

struct sql_mask {
	uint8_t st;    /* where in the text: S_* (mask_sql.c) */
	uint8_t dialect; /* enum ws_sql_dialect */
	char quote;    /* the quote that ends the string or identifier being read */
	uint32_t depth; /* nested block comments (PostgreSQL) */
	char dtag[34]; /* a dollar quote's closing "$tag$" */
	uint8_t dlen, dmatch;
	bool in_word, in_num, prev_dash, prev_slash, prev_star, bs;
	uint8_t wlen; /* letters of the word being read */
	char wfirst;
};

/* Mask one byte of text in place; false at the NUL that ends the text
 * (PostgreSQL's; MySQL's text ends with its packet). */
bool ws_sqlmask_byte(struct sql_mask *m, uint8_t *c);
void ws_sqlmask_reset(struct sql_mask *m, enum ws_sql_dialect d);

#endif
