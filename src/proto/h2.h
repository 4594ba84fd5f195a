/* h2.h -- HTTP/2 and gRPC (see h2.c). Reached through ws_h2_ops;
 * detection through ws_proto_detect_request. */
#ifndef WIRESPAN_H2_H
#define WIRESPAN_H2_H

#include <stdbool.h>
#include <stdint.h>

/* Whether d[0..n) starts what only an HTTP/2 client sends: its connection
 * preface, or (a connection met in its middle) valid frames whose first
 * HEADERS opens a request. 1 yes, 0 no, -1 too few bytes to tell: a
 * preface's start, or a server's SETTINGS (its preface, which it may send
 * before its client's arrives). */
int ws_h2_request_at(const uint8_t *d, uint32_t n);

/* Walk the frame headers d[0..n) begins with: the number of frames whose
 * headers are all valid, 0 when one is not or there is none. whole: d is
 * a whole run, so the last frame must end where it ends. *headers (when non-NULL): what the first
 * HEADERS of a client's stream (odd id) is, by the pseudo-headers it takes
 * from HPACK's static table (read without the dynamic one): a request (1),
 * a response (2), or not known (0). */
int ws_h2_chain(const uint8_t *d, uint32_t n, bool whole, int *headers);

#endif
