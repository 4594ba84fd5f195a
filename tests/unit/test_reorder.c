/* test_reorder.c -- records from several rings come out in key order, and
 * nothing committed after the watermark leaves early. */
#include "harness.h"
#include "stream/reorder.h"

static uint64_t seen[64];
static int nseen;

static void on_rec(void *ctx, const void *rec, size_t len)
{
	(void)ctx;
	CHECK_INT(len, sizeof(uint64_t));
	memcpy(&seen[nseen++], rec, sizeof(uint64_t));
}

int main(void)
{
	struct ws_reorder r;
	/* key, commit: two "CPUs" drained one after the other */
	uint64_t recs[][2] = {{10, 11}, {30, 31}, {50, 51}, {20, 21}, {40, 41}, {60, 200}, {45, 46}};

	ws_reorder_init(&r);
	for (size_t i = 0; i < WS_ARRAY_SIZE(recs); i++)
		ws_reorder_push(&r, recs[i][0], recs[i][1], &recs[i][0], sizeof(uint64_t));
	size_t n = ws_reorder_release(&r, 100, on_rec, NULL);
	CHECK_INT(n, 6);
	for (int i = 0; i < nseen; i++)
		CHECK(i == 0 || seen[i - 1] <= seen[i], "out of order at %d", i);
	CHECK_INT(seen[0], 10);
	CHECK_INT(seen[5], 50);
	CHECK_INT(ws_reorder_pending(&r), 1);
	/* a later drain brings an earlier record: it sorts before the held one */
	uint64_t late = 55;
	ws_reorder_push(&r, late, 56, &late, sizeof(late));
	n = ws_reorder_release(&r, UINT64_MAX, on_rec, NULL);
	CHECK_INT(n, 2);
	CHECK_INT(seen[6], 55);
	CHECK_INT(seen[7], 60);
	CHECK_INT(ws_reorder_pending(&r), 0);
	ws_reorder_free(&r);
	return t_summary("test_reorder");
}
