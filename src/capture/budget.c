/* budget.c -- see budget.h. */
#include "capture/budget.h"

#include <linux/types.h>

#include "bpf/capture_abi.h"
#include "util/util.h"

/* How long the cost must stay low before a step down: shedding acts on
 * the first window over budget (a quarter of a second), recovery waits. */
#define CALM_NS (2 * 1000000000ull)
/* Detached, the recorder sees nothing of the load: it waits longer before
 * trying again, and tries the level below first (a duty cycle when the
 * load stays: mostly detached, a second attached now and then). */
#define DETACHED_CALM_NS (5 * 1000000000ull)
#define HEADROOM 0.8 /* step down only to a level predicted under 80% of the budget */

void ws_budget_init(struct ws_budget *b, double pct, int ncpus, uint64_t now_ns, uint64_t cpu_ns)
{
	*b = (struct ws_budget){.pct = pct, .ncpus = ncpus > 0 ? ncpus : 1, .t = now_ns, .cpu = cpu_ns};
}

bool ws_budget_sample(struct ws_budget *b, uint64_t now_ns, uint64_t cpu_ns)
{
	unsigned old = b->level;

	if (now_ns <= b->t)
		return false;
	uint64_t dcpu = cpu_ns > b->cpu ? cpu_ns - b->cpu : 0, window = now_ns - b->t;
	b->used_pct = 100.0 * (double)dcpu / ((double)window * b->ncpus);
	b->t = now_ns;
	b->cpu = cpu_ns;
	if (b->pct <= 0)
		return false;
	if (b->used_pct > b->pct) {
		/* one level, or as many as halvings it takes to get under */
		unsigned step = 1;
		for (double c = b->used_pct / 2; c > b->pct && step < WS_SHED_MAX; c /= 2)
			step++;
		b->over++;
		b->calm_ns = 0;
		b->level = b->level + step > WS_SHED_MAX ? WS_SHED_MAX : b->level + step;
	} else if (b->level == WS_SHED_MAX) {
		if ((b->calm_ns += window) >= DETACHED_CALM_NS) {
			b->level--;
			b->calm_ns = 0;
		}
	} else if (b->level > 0) {
		/* the lowest level whose predicted cost fits the headroom:
		 * each level down roughly doubles what is captured */
		unsigned target = b->level;
		double cost = b->used_pct;
		while (target > 0 && cost * 2 < HEADROOM * b->pct) {
			cost *= 2;
			target--;
		}
		if (target < b->level && (b->calm_ns += window) >= CALM_NS) {
			b->level = target;
			b->calm_ns = 0;
		} else if (target == b->level) {
			b->calm_ns = 0;
		}
	}
	if (b->level > b->max_level)
		b->max_level = b->level;
	return b->level != old;
}

void ws_budget_rebase(struct ws_budget *b, uint64_t now_ns, uint64_t cpu_ns)
{
	b->t = now_ns;
	b->cpu = cpu_ns;
}

const char *ws_budget_action(unsigned level)
{
	static const char *const what[WS_SHED_MAX + 1] = {
		"full capture",
		"new connections: " WS_STR(WS_SHED_PAYLOAD) "-byte payload prefix",
		"sampling 1/2 of connections",
		"sampling 1/4 of connections",
		"sampling 1/8 of connections",
		"sampling 1/16 of connections",
		"no payload capture (connections and TCP facts only)",
		"data syscalls not traced (their programs detached)",
	};
	return what[level > WS_SHED_MAX ? WS_SHED_MAX : level];
}
