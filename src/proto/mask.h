/* mask.h -- a connection's bytes with everything a span would not keep
 * overwritten, byte for byte, for `record --save-events` files.
 *
 * A saved event file is replayed through the same parsers, so it must keep
 * what they need: the framing (start lines, header names, Content-Length,
 * chunk sizes, RESP type lines and lengths) and the fields a span stores
 * (method, path and query after redact.h's rules, the allowed headers, the
 * Redis command and key). Every other byte -- bodies, header values not
 * allowed, query values, path tokens, userinfo, Redis values and error
 * texts -- becomes '*' (digits of RESP numbers become '0'). Lengths never
 * change, so sequence numbers, fences and timings stay true and a replay
 * gives the spans the recording gave.
 *
 * Bytes are read as a stream per direction, across runs. Whatever cannot be
 * read with certainty -- a protocol not recognised, a run that does not
 * follow the last one, an uncaptured gap inside a header, a field split
 * between runs where a rule needs all of it -- is masked whole, until a
 * run starts a new message. Masking never keeps more than the rules allow;
 * when unsure, it keeps less. */
#ifndef WIRESPAN_PROTO_MASK_H
#define WIRESPAN_PROTO_MASK_H

#include <stdbool.h>
#include <stdint.h>

struct ws_mask;

struct ws_mask *ws_mask_new(void);
void ws_mask_free(struct ws_mask *m);

/* Mask one run of bytes that travelled in dir (WS_SEND or WS_RECV) in
 * place: len bytes from sequence number seq, of which head[0, head_len)
 * and the last tail_len (in tail) were captured. seq_known false: the run
 * is taken to follow the last one. */
void ws_mask_run(struct ws_mask *m, int dir, uint32_t seq, bool seq_known, uint32_t len, uint8_t *head,
		 uint32_t head_len, uint8_t *tail, uint32_t tail_len);

#endif
