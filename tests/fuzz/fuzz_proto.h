/* fuzz_proto.h -- drive one parser directly with arbitrary segments.
 *
 * Input: a stream of records [op][len][bytes...]. op bit 0: direction;
 * bit 1: only a prefix is captured (a gap, then a tail); bit 2: gap before;
 * op 0xff: EOF in direction len&1. The parser must never crash, read out
 * of bounds or leak, whatever the bytes. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "proto/proto.h"
#include "util/json.h"
#include "util/util.h"

static unsigned fuzz_exchanges;

static void fz_exchange(void *ctx, const struct ws_exchange *x)
{
	const struct proto_ops *ops = ctx;
	struct ws_span_fields f = {0};
	struct ws_json a;

	/* what a span makes of it: its name (an HTTP route), fields and
	 * attributes, from whatever the parser let through */
	wj_init(&a);
	wj_obj_begin(&a);
	ops->span->fields(x, x->req.dir == 0 /* sent: a client */, &f, &a);
	wj_obj_end(&a);
	fuzz_exchanges += (unsigned)(x->req.bytes + x->resp.bytes + strlen(f.name) + a.len > 0);
	wj_free(&a);
}

static void fz_unmatched(void *ctx, const struct ws_msg *m)
{
	(void)ctx;
	(void)m;
}

static int fuzz_parser(const struct proto_ops *ops, const uint8_t *data, size_t size)
{
	struct proto_sink sink = {.exchange = fz_exchange, .unmatched = fz_unmatched, .ctx = (void *)ops};
	void *st;
	uint32_t seq[2] = {0, 0};
	uint64_t t = 1;

	if (size < 1)
		return 0;
	st = ops->create(data[0] & 1, &sink);
	data++;
	size--;
	while (size >= 2) {
		uint8_t op = data[0];
		uint32_t len = data[1];
		data += 2;
		size -= 2;
		if (op == 0xff) {
			ops->eof(st, len & 1);
			continue;
		}
		if (len > size)
			len = (uint32_t)size;
		int dir = op & 1;
		struct ws_seg seg = {.seq = seq[dir], .len = len, .head = data, .head_len = len, .t_enter = t, .t_exit = t + 1};
		if ((op & 2) && len > 4) {
			/* capture a prefix and a tail; the middle is a gap, and the
			 * run claims more bytes than it carries */
			seg.head_len = len / 3;
			seg.tail = data + len - len / 4;
			seg.tail_len = len / 4;
			seg.len = len + (op >> 3) * 7;
			seg.tail = data + len - seg.tail_len;
		}
		if (seg.head_len + seg.tail_len > seg.len)
			seg.tail_len = 0;
		seg.gap_before = (op & 4) != 0;
		ops->feed(st, dir, &seg);
		seq[dir] += seg.len;
		t += 10;
		data += len;
		size -= len;
	}
	ops->finish(st);
	ops->destroy(st);
	return 0;
}
