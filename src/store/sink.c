/* sink.c -- see sink.h: each operation is one of the store's writes,
 * bound to the recording begun. */
#include "store/sink.h"

static int64_t ss_begin(void *ctx, const struct ws_recording *r)
{
	struct ws_store_sink *ss = ctx;

	ss->rec = ws_store_begin_recording(ss->st, r);
	return ss->rec;
}

static int ss_times(void *ctx, uint64_t started_ns, uint64_t ended_ns)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_set_recording_times(ss->st, ss->rec, started_ns, ended_ns);
}

static int ss_span(void *ctx, const struct ws_span *s)
{
	return ws_store_add_span(((struct ws_store_sink *)ctx)->st, s);
}

static int ss_conn(void *ctx, const char *host, const struct ct_conn_info *c)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_conn(ss->st, ss->rec, host, c);
}

static int ss_tcp_event(void *ctx, const char *host, const struct ws_event *ev, const char *reason_name)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_tcp_event(ss->st, ss->rec, host, ev, reason_name);
}

static int ss_process(void *ctx, const struct ws_sink_process *p)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_process(ss->st, ss->rec, p->pid, p->comm, p->runtime, p->traced, p->detail);
}

static int ss_goroutine(void *ctx, uint32_t pid, uint64_t goid, uint64_t parent, uint64_t ts_ns)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_goroutine(ss->st, ss->rec, pid, goid, parent, ts_ns);
}

static int ss_drops(void *ctx, const char *host, uint32_t reason, const char *name, uint64_t count)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_drops(ss->st, ss->rec, host, reason, name, count);
}

static int ss_shed(void *ctx, uint64_t ts_ns, unsigned level, double cpu_pct, double budget_pct, const char *action)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_add_shed(ss->st, ss->rec, ts_ns, level, cpu_pct, budget_pct, action);
}

static int ss_bpf_prog(void *ctx, const char *name, const char *hook, uint64_t runs, uint64_t run_ns)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_set_bpf_prog(ss->st, ss->rec, name, hook, runs, run_ns);
}

static int ss_counters(void *ctx, const struct ws_counter *rows, size_t n)
{
	struct ws_store_sink *ss = ctx;

	for (size_t i = 0; i < n; i++)
		if (ws_store_set_counter(ss->st, ss->rec, rows[i].kind, rows[i].name, rows[i].v))
			return -1;
	return 0;
}

static int ss_totals(void *ctx, uint64_t events, uint64_t spans, uint64_t lost)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_update_recording(ss->st, ss->rec, events, spans, lost);
}

static int ss_commit(void *ctx)
{
	return ws_store_commit(((struct ws_store_sink *)ctx)->st);
}

static int ss_end(void *ctx, uint64_t ended_ns, const char *status)
{
	struct ws_store_sink *ss = ctx;

	return ws_store_end_recording(ss->st, ss->rec, ended_ns, status);
}

static const char *ss_errmsg(void *ctx)
{
	return ws_store_errmsg(((struct ws_store_sink *)ctx)->st);
}

static const struct ws_sink_ops store_ops = {
    .name = "database",
    .begin = ss_begin,
    .times = ss_times,
    .span = ss_span,
    .conn = ss_conn,
    .tcp_event = ss_tcp_event,
    .process = ss_process,
    .goroutine = ss_goroutine,
    .drops = ss_drops,
    .shed = ss_shed,
    .bpf_prog = ss_bpf_prog,
    .counters = ss_counters,
    .totals = ss_totals,
    .commit = ss_commit,
    .end = ss_end,
    .errmsg = ss_errmsg,
};

void ws_store_sink_init(struct ws_store_sink *ss, struct ws_store *st, struct ws_sink *out)
{
	ss->st = st;
	ss->rec = 0;
	*out = (struct ws_sink){.ops = &store_ops, .ctx = ss};
}
