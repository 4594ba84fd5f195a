/* test_budget.c -- the CPU budget controller: over budget it sheds one
 * level a window up to the last, never oscillates on a load that fits only
 * at some level, and recovers to full capture within two seconds of the
 * load going away; it acts within one window (a quarter of a second). Cost is modelled as fixed + data / 2^(level-1). */
#include <linux/types.h>

#include "harness.h"
#include "bpf/capture_abi.h"
#include "capture/budget.h"

#define SEC 1000000000ull

/* CPU ns used in one second at a shed level by a load whose full capture
 * costs `full_pct` percent of a 2-CPU host (plus a 0.5% floor). */
static uint64_t cost(unsigned level, double full_pct)
{
	double frac = level == 0 ? 1 : level >= WS_SHED_MAX ? 0 : level == 1 ? 0.9 : 1.0 / (1u << (level - 1));
	double pct = 0.5 + full_pct * frac;
	return (uint64_t)(pct / 100 * 2 * SEC);
}

int main(void)
{
	struct ws_budget b;
	uint64_t t = 100 * SEC, cpu = 0;
	unsigned levels[64];

	/* 1: a load costing 30% at full capture against a 5% budget */
	ws_budget_init(&b, 5, 2, t, cpu);
	for (int i = 0; i < 20; i++) {
		cpu += cost(b.level, 30);
		t += SEC;
		ws_budget_sample(&b, t, cpu);
		levels[i] = b.level;
	}
	/* 30.5% is 6x the budget: three halvings at once, then one more step
	 * (level 3 costs 0.5 + 30/4 = 8%) */
	CHECK_INT(levels[0], 3);
	/* 0.5 + 30 / 2^(k-1) <= 5 first at level 4 (1/8: 4.25%) */
	CHECK_INT(levels[1], 4);
	/* and it stays there: level 3 (1/4: 8%) would be over the budget */
	for (int i = 1; i < 20; i++)
		CHECK(levels[i] == 4, "window %d: level %u, want 4 (no oscillation)", i, levels[i]);
	CHECK_INT(b.max_level, 4);
	CHECK_INT(b.over, 2);
	CHECK(b.used_pct > 4.2 && b.used_pct < 4.3, "used %.2f%%", b.used_pct);

	/* 2: the load goes away: two calm windows, then straight to 0 */
	cpu += cost(WS_SHED_MAX, 0);
	t += SEC;
	CHECK(!ws_budget_sample(&b, t, cpu), "stepped down after one calm window");
	cpu += cost(WS_SHED_MAX, 0);
	t += SEC;
	CHECK(ws_budget_sample(&b, t, cpu), "did not step down after two calm windows");
	/* 0.5% at level 4 predicts 2% at level 2 and 4% (not under 80%) at 1 */
	CHECK_INT(b.level, 2);
	for (int i = 0; i < 6; i++) {
		cpu += SEC / 1000; /* idle: 0.05% */
		t += SEC;
		ws_budget_sample(&b, t, cpu);
	}
	CHECK_INT(b.level, 0);

	/* 3: a load that fits is never shed */
	ws_budget_init(&b, 5, 2, t, cpu);
	for (int i = 0; i < 10; i++) {
		cpu += cost(0, 4);
		t += SEC;
		CHECK(!ws_budget_sample(&b, t, cpu), "shed a load under budget");
	}
	CHECK_INT(b.level, 0);
	CHECK(b.used_pct > 4.4 && b.used_pct < 4.6, "used %.2f%%", b.used_pct);

	/* 4: no budget: measured, never shed */
	ws_budget_init(&b, 0, 2, t, cpu);
	cpu += 2 * SEC;
	t += SEC;
	CHECK(!ws_budget_sample(&b, t, cpu), "shed without a budget");
	CHECK(b.used_pct > 99.9 && b.used_pct < 100.1, "used %.2f%%", b.used_pct);

	/* 5: under twice the budget: one level a window (9.5% at level 0,
	 * 8.6% at level 1, 5.0% at level 2, which is not over) */
	ws_budget_init(&b, 5, 2, t, cpu);
	const unsigned want[] = {1, 2, 2, 2};
	for (int i = 0; i < 4; i++) {
		cpu += cost(b.level, 9);
		t += SEC;
		ws_budget_sample(&b, t, cpu);
		CHECK_INT(b.level, want[i]);
	}

	/* 6: the most it sheds is WS_SHED_MAX, and a clock that did not
	 * move changes nothing */
	ws_budget_init(&b, 1, 1, t, cpu);
	for (int i = 0; i < 12; i++) {
		cpu += SEC;
		t += SEC;
		ws_budget_sample(&b, t, cpu);
	}
	CHECK_INT(b.level, WS_SHED_MAX);
	CHECK(!ws_budget_sample(&b, t, cpu + SEC), "a window of no time changed the level");

	/* 7: detached (the last level), the recorder sees no load: five calm
	 * windows before it tries the level below, then the usual rule */
	for (int i = 0; i < 4; i++) {
		cpu += SEC / 1000;
		t += SEC;
		CHECK(!ws_budget_sample(&b, t, cpu), "left the detached level after %d calm windows", i + 1);
	}
	cpu += SEC / 1000;
	t += SEC;
	CHECK(ws_budget_sample(&b, t, cpu), "still detached after five calm windows");
	CHECK_INT(b.level, WS_SHED_MAX - 1);
	/* the load is still there: straight back */
	cpu += SEC / 2;
	t += SEC;
	CHECK(ws_budget_sample(&b, t, cpu), "did not detach again under load");
	CHECK_INT(b.level, WS_SHED_MAX);
	/* 8: windows of a quarter of a second (the recorder's): a load over
	 * the budget is shed in the first window; recovery still waits two
	 * seconds of calm (eight windows), not two windows */
	ws_budget_init(&b, 5, 2, t, cpu);
	cpu += cost(0, 30) / 4;
	t += SEC / 4;
	CHECK(ws_budget_sample(&b, t, cpu), "not shed within a quarter of a second");
	CHECK_INT(b.level, 3);
	for (int i = 0; i < 7; i++) {
		cpu += SEC / 4000;
		t += SEC / 4;
		CHECK(!ws_budget_sample(&b, t, cpu), "stepped down after %d calm quarter seconds", i + 1);
	}
	cpu += SEC / 4000;
	t += SEC / 4;
	CHECK(ws_budget_sample(&b, t, cpu), "did not step down after two calm seconds");
	CHECK_INT(b.level, 0);
	/* 9: what attaching cost is not the load's: the window starts after */
	cpu += SEC / 10; /* attaching the programs again: 100 ms */
	t += SEC / 20;
	ws_budget_rebase(&b, t, cpu);
	cpu += SEC / 4000;
	t += SEC / 4;
	CHECK(!ws_budget_sample(&b, t, cpu), "the attaching counted as load");
	CHECK(b.used_pct < 0.1, "used %.2f%%", b.used_pct);
	CHECK_STR(ws_budget_action(0), "full capture");
	CHECK_STR(ws_budget_action(3), "sampling 1/4 of connections");
	CHECK_STR(ws_budget_action(99), ws_budget_action(WS_SHED_MAX));
	return t_summary("test_budget");
}
