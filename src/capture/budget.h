/* budget.h -- wirespan's own CPU budget.
 *
 * The recorder samples what it costs once a window (a quarter of a
 * second): the CPU time of its own process (every thread, user and system)
 * plus the run time of its BPF programs in the kernel (from the kernel's
 * BPF run-time statistics). Over budget it raises the shed level (see
 * WS_SHED_* in capture_abi.h for what each level drops) at once, by one
 * step per window, or by as many as it takes to halve the cost under the
 * budget; after two seconds in a row where even the next lower level would
 * fit in 80% of the budget (each level about halves the data captured), it
 * steps down to the lowest level predicted to fit. From the last level
 * (programs detached, so the load is not seen) it steps down one level
 * after five seconds.
 * Pure arithmetic: no clock, no kernel. */
#ifndef WIRESPAN_BUDGET_H
#define WIRESPAN_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

struct ws_budget {
	double pct;         /* budget: percent of the host's CPU (all CPUs); 0 = none */
	int ncpus;
	unsigned level;     /* current shed level, 0 .. WS_SHED_MAX */
	unsigned max_level; /* highest level reached */
	uint64_t t, cpu;    /* start of the window: time and CPU ns so far */
	double used_pct;    /* measured over the last window */
	uint64_t calm_ns;   /* time in a row with room to step down */
	uint64_t over;      /* windows over budget */
};

void ws_budget_init(struct ws_budget *b, double pct, int ncpus, uint64_t now_ns, uint64_t cpu_ns);
/* One sample: the time now and the CPU ns used so far (kernel and user).
 * Returns true when the shed level changed. */
bool ws_budget_sample(struct ws_budget *b, uint64_t now_ns, uint64_t cpu_ns);
/* Start the next window now: what changing the level cost (attaching or
 * detaching programs, a one-off) is not taken for the load's. */
void ws_budget_rebase(struct ws_budget *b, uint64_t now_ns, uint64_t cpu_ns);
/* What a level does, for people: "full capture", "sampling 1/4 of connections". */
const char *ws_budget_action(unsigned level);

#endif
