/* mysql_frame.h -- what each packet of a MySQL response is, packet by
 * packet: shared by the parser (mysql.c) and the masker (mask_mysql.c), so
 * that both read the same packets as the same things.
 *
 * A response is an OK, an ERR, a PREPARE_OK with its parameter and column
 * definitions, a LOCAL INFILE request, a string (COM_STATISTICS), or
 * result sets: a column count, definitions (none when MariaDB's cached
 * metadata says so), an EOF unless CLIENT_DEPRECATE_EOF, rows, and a
 * closing EOF or OK whose status says whether another result set follows.
 * Whether EOF packets are sent is learnt from the handshake, or from the
 * first result set. */
#ifndef WIRESPAN_PROTO_MYSQL_FRAME_H
#define WIRESPAN_PROTO_MYSQL_FRAME_H

#include <stdbool.h>
#include <stdint.h>

#define MY_PKT_MAX 0xffffffu

/* commands */
enum {
	COM_QUIT = 0x01, COM_INIT_DB = 0x02, COM_QUERY = 0x03, COM_FIELD_LIST = 0x04, COM_STATISTICS = 0x09,
	COM_PING = 0x0e, COM_CHANGE_USER = 0x11, COM_STMT_PREPARE = 0x16, COM_STMT_EXECUTE = 0x17,
	COM_STMT_SEND_LONG_DATA = 0x18, COM_STMT_CLOSE = 0x19, COM_STMT_RESET = 0x1a, COM_SET_OPTION = 0x1b,
	COM_STMT_FETCH = 0x1c, COM_RESET_CONNECTION = 0x1f,
};

/* capabilities */
#define CLIENT_CONNECT_WITH_DB 0x8u
#define CLIENT_PROTOCOL_41 0x200u
#define CLIENT_SSL 0x800u
#define CLIENT_SECURE_CONNECTION 0x8000u
#define CLIENT_PLUGIN_AUTH_LENENC 0x200000u
#define CLIENT_DEPRECATE_EOF 0x1000000u

enum my_pkt {
	MYP_OK,         /* an OK packet (or EOF-as-OK) that can end a response */
	MYP_ERR,
	MYP_PREPARE_OK,
	MYP_INFILE,     /* LOCAL INFILE: the client sends a file, then an OK or ERR */
	MYP_STRING,     /* COM_STATISTICS's answer */
	MYP_COUNT,      /* a result set's column count */
	MYP_DEF,        /* a column or parameter definition */
	MYP_EOF,        /* an EOF after definitions */
	MYP_ROW,
	MYP_END,        /* the EOF or OK after the rows */
	MYP_AUTH,       /* COM_CHANGE_USER: an auth switch or more data, then OK or ERR */
};

struct my_frame {
	uint8_t rs;      /* where the response stands (mysql_frame.c) */
	uint8_t cmd;     /* the command it answers, 0 unknown */
	int8_t eof_mode; /* -1 unknown, 0 EOF packets, 1 CLIENT_DEPRECATE_EOF */
	uint16_t pcols;  /* PREPARE_OK: column definitions after the parameters' */
	uint64_t left;   /* definitions left in a block */
};

/* A response to cmd begins. */
void my_frame_begin(struct my_frame *f, uint8_t cmd);
/* What a packet is, from its first payload byte h and its length. */
enum my_pkt my_frame_kind(const struct my_frame *f, uint8_t h, uint32_t len);
/* After packet k of length len, whose first bytes are b[0..n): 1 the
 * response is complete, 0 more packets follow, -1 the packet makes no
 * sense here (framing lost). */
int my_frame_next(struct my_frame *f, enum my_pkt k, const uint8_t *b, uint32_t n, uint32_t len);

/* A length-encoded integer at p[0..n): its value, and bytes used (0: not
 * all here, or not an integer). */
uint64_t my_lenenc(const uint8_t *p, uint32_t n, uint32_t *used);
/* An OK packet's status flags, and its affected rows through *affected
 * (NULL: not wanted); false if b[0..n) is too short to hold them. */
bool my_ok_status(const uint8_t *b, uint32_t n, uint32_t len, uint16_t *status, uint64_t *affected);

#endif
