/* pg.h -- PostgreSQL frontend/backend protocol 3 (see pg.c). Reached
 * through ws_pg_ops; detection through ws_proto_detect_request. */
#ifndef WIRESPAN_PG_H
#define WIRESPAN_PG_H

#include <stdbool.h>
#include <stdint.h>

/* Whether d[0..n) starts a message only a PostgreSQL client sends: a
 * startup packet (protocol 3, SSL or GSS encryption request, cancel), or a
 * Query, Parse or Bind whose framing checks out. 1 yes, 0 no, -1 too few
 * bytes to tell. */
int ws_pg_request_at(const uint8_t *d, uint32_t n);

/* Whether d[0..n) can start what a PostgreSQL server sends. */
bool ws_pg_response_at(const uint8_t *d, uint32_t n);

/* How many bytes at the end of b[0..n) are a ReadyForQuery, with the
 * CommandComplete before it when that is there too; 0 when they do not
 * end with a ReadyForQuery. A server write whose framing was lost ends its
 * response there (the parser finds its way back; the masker keeps them). */
uint32_t ws_pg_ready_tail(const uint8_t *b, uint32_t n);

#endif
