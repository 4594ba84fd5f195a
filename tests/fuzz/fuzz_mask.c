/* fuzz_mask.c -- libFuzzer target for the event-file masker (proto/mask.h).
 *
 * Input as fuzz_proto.h's: [first direction][op][len][bytes]... with op
 * bit 0 the direction, bit 1 a prefix and tail captured around a gap, bit
 * 2 a run that does not follow the last one. Besides never crashing or
 * touching a byte outside the captured ones, masking only ever writes its
 * mask characters ('*', '0' for the digits of numbers, and 0x80 for the
 * bytes of an HTTP/2 header block, whose first is 0x82 or 0x88), and masking
 * the masked stream again keeps nothing the first pass masked. (It is not
 * a fixed point: a line end masked after a way was lost can change what a
 * second pass sees ahead of it, and it then masks more.) */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/mask.h"
#include "util/util.h"

struct run {
	int dir;
	uint32_t seq, len, head, tail;
	uint8_t *p;
};

static size_t mask_all(struct run *r, size_t n)
{
	struct ws_mask *m = ws_mask_new();

	for (size_t i = 0; i < n; i++)
		ws_mask_run(m, r[i].dir, r[i].seq, true, r[i].len, r[i].p, r[i].head, r[i].p + r[i].head, r[i].tail);
	ws_mask_free(m);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run runs[4096];
	uint32_t seq[2] = {1000, 7000};
	size_t n = 0;

	if (size < 1)
		return 0;
	data++;
	size--;
	uint8_t *copy = malloc(size + 1), *again = malloc(size + 1);
	memcpy(copy, data, size);
	size_t off = 0;
	while (size - off >= 2 && n < 4096) {
		uint8_t op = copy[off];
		uint32_t len = copy[off + 1];
		off += 2;
		if (len > size - off)
			len = (uint32_t)(size - off);
		struct run *r = &runs[n++];
		r->dir = op & 1;
		r->p = copy + off;
		r->head = len;
		r->tail = 0;
		r->len = len;
		if ((op & 2) && len > 4) { /* prefix and tail around an uncaptured middle */
			r->head = len / 3;
			r->tail = len / 4;
			r->len = len + (op >> 3) * 7;
			memmove(r->p + r->head, r->p + len - r->tail, r->tail);
		}
		if (op & 4)
			seq[r->dir] += 100;
		r->seq = seq[r->dir];
		seq[r->dir] += r->len;
		off += len;
	}
	uint8_t *orig = malloc(size + 1);
	memcpy(orig, copy, size);
	mask_all(runs, n);
	for (size_t i = 0; i < size; i++)
		if (copy[i] != orig[i] && copy[i] != '*' && copy[i] != 0x80 && copy[i] != 0x82 && copy[i] != 0x88 &&
		    !(copy[i] == '0' && isalnum(orig[i])))
			abort(); /* a byte written that is not a mask */
	memcpy(again, copy, size);
	for (size_t i = 0; i < n; i++)
		runs[i].p = again + (runs[i].p - copy);
	mask_all(runs, n);
	for (size_t i = 0; i < n; i++) {
		struct run *r = &runs[i];
		size_t k = (size_t)(r->p - again);
		for (uint32_t j = 0; j < r->head + r->tail; j++)
			if ((copy[k + j] == '*' || copy[k + j] == 0x80) && orig[k + j] != copy[k + j] && again[k + j] != '*' &&
			    again[k + j] != 0x80 && again[k + j] != 0x82 && again[k + j] != 0x88)
				abort(); /* masked once, kept the second time */
	}
	free(orig);
	free(copy);
	free(again);
	return 0;
}
