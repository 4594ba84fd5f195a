/* spool.h -- spans held in memory, packed: a struct ws_span is 4 KiB,
 * mostly text fields that are nearly empty; packed, a span takes its
 * fixed fields and the bytes of its strings (~600 bytes for an HTTP
 * span). The offline front doors hold the spans they make here until
 * their traces are assembled, so that each is written once, linked. */
#ifndef WIRESPAN_SPOOL_H
#define WIRESPAN_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "span/span.h"

struct ws_spool {
	struct ws_spool_chunk {
		char *p;
		size_t used;
	} * chunks;
	size_t nchunks;
};

void ws_spool_init(struct ws_spool *sp);
void ws_spool_add(struct ws_spool *sp, const struct ws_span *s);
/* Call fn for each span in the order they were added, with its index;
 * fn returning nonzero stops (and is returned). */
int ws_spool_each(const struct ws_spool *sp, int (*fn)(void *ctx, size_t i, struct ws_span *s), void *ctx);
void ws_spool_free(struct ws_spool *sp);

#endif
