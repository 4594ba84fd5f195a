/* fuzz_stream.c -- libFuzzer target for the connection tracker: protocol
 * detection, reordering by sequence number, overlaps, gaps, lifecycle
 * events and eviction, feeding the real parsers and the span builder.
 *
 * Input records: [op][conn][seqdelta][len][bytes...]. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "span/span.h"
#include "stream/conntrack.h"

static void on_x(void *ctx, const struct ct_conn_info *c, const struct ws_exchange *x)
{
	struct ws_span s;
	struct ws_json j;

	(void)ctx;
	ws_span_from_exchange(&s, c, x, "fuzz");
	wj_init(&j);
	ws_span_to_json(&s, &j);
	wj_free(&j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ct_config cfg = {.max_conns = 3, .close_grace = 5, .ooo_timeout = 50};
	struct ct_sink sink = {.exchange = on_x};
	struct conntrack *ct = ct_new(&cfg, &sink);
	uint32_t seq[4][2] = {{0}};
	uint64_t t = 100;

	while (size >= 4) {
		uint8_t op = data[0], conn = data[1] & 3;
		int8_t delta = (int8_t)data[2];
		uint32_t len = data[3];
		data += 4;
		size -= 4;
		if (len > size)
			len = (uint32_t)size;
		struct ws_event ev = {0};
		ev.conn_id = conn + 1;
		ev.t_enter = t;
		ev.t_exit = t + 2;
		ev.pid = 1;
		switch (op & 7) {
		case 0:
			ev.kind = WS_EV_OPEN;
			ev.role = 1 + (op >> 7);
			break;
		case 1:
			ev.kind = WS_EV_STATE;
			ev.newstate = WS_TCP_CLOSE;
			break;
		case 2:
			ev.kind = WS_EV_CLOSE;
			break;
		case 3:
			ev.kind = WS_EV_DATA;
			ev.dir = (op >> 3) & 1;
			ev.flags = WS_EVF_EOF;
			break;
		default: {
			int dir = (op >> 3) & 1;
			ev.kind = WS_EV_DATA;
			ev.dir = dir;
			ev.seq = seq[conn][dir] + delta;
			ev.len = len + ((op & 0x40) ? 100 : 0);
			ev.head = data;
			ev.head_len = len;
			if ((op & 0x20) && len > 8) {
				ev.head_len = len - 8;
				ev.tail = data + len - 8;
				ev.tail_len = 8;
			}
			seq[conn][dir] = ev.seq + ev.len;
		}
		}
		ct_event(ct, &ev);
		if (op & 0x10)
			ct_advance(ct, t);
		t += 7;
		data += len;
		size -= len;
	}
	ct_free(ct);
	return 0;
}
