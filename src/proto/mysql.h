/* mysql.h -- MySQL / MariaDB client/server protocol (see mysql.c). Reached
 * through ws_mysql_ops; detection through ws_proto_detect_request. */
#ifndef WIRESPAN_MYSQL_H
#define WIRESPAN_MYSQL_H

#include <stdint.h>

/* Whether d[0..n) starts a packet only a MySQL client sends: the
 * handshake response (or SSL request) to the server's greeting, or a
 * command (COM_QUERY, COM_STMT_PREPARE, COM_STMT_EXECUTE, COM_PING,
 * COM_INIT_DB) whose framing checks out. 1 yes, 0 no, -1 too few bytes. */
int ws_mysql_request_at(const uint8_t *d, uint32_t n);

/* Whether d[0..n) starts the greeting a MySQL server sends first
 * (protocol 10: version, thread id, scramble). 1, 0, -1 as above. */
int ws_mysql_greeting_at(const uint8_t *d, uint32_t n);

#endif
