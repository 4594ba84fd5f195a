/* status.c -- `wirespan status`: the state of a recording, running or
 * finished. Whether it is still running (and when it last wrote), what it
 * lost by cause, whether it shed work to stay within its CPU budget, what
 * it cost (its own CPU, each BPF program per run, memory). The recorder
 * writes all of it once a second, so a running recording can be asked too. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/sandbox.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

/* A running recorder writes every second; one silent for longer than this
 * is taken to have died (killed, crashed, host down). */
#define STALE_NS (10 * 1000000000ull)

static void usage_status(FILE *f)
{
	fprintf(f, "usage: wirespan status [--db FILE] [--all | --id N] [--json]\n"
		   "\n"
		   "The state of the last recording in the database (--all: every one), running or\n"
		   "finished: whether it is still running, events and spans, events lost by cause,\n"
		   "load shedding under the CPU budget, and wirespan's own cost: CPU in user space\n"
		   "and in each BPF program (per run), memory.\n");
}

/* running, interrupted (the recorder died), complete or failed */
static const char *state_of(const struct ws_store_recording *r)
{
	if (strcmp(r->status, "recording") != 0)
		return r->status;
	uint64_t now = ws_now_real_ns();
	bool fresh = r->updated_ns && now > r->updated_ns && now - r->updated_ns < STALE_NS;
	bool alive = r->pid > 0 && kill((pid_t)r->pid, 0) == 0;
	if (strcmp(r->source, "live") != 0) /* replay and pcap run to the end in one go */
		return fresh ? "running" : "interrupted";
	return fresh && alive ? "running" : "interrupted";
}

/* A JSON member (an object or an array) of what one reader reads: opened
 * at its first row, or after the rows when there were none. A file that
 * cannot answer the reader (an older one, without the table) says nothing
 * of it, and the member is left out. Text reports have no j. */
struct section {
	struct ws_json *j;
	const char *key;
	bool array, open;
};

static void section_open(struct section *s)
{
	if (!s->j || s->open)
		return;
	wj_key(s->j, s->key);
	if (s->array)
		wj_arr_begin(s->j);
	else
		wj_obj_begin(s->j);
	s->open = true;
}

static void section_close(struct section *s)
{
	if (!s->j)
		return;
	section_open(s);
	if (s->array)
		wj_arr_end(s->j);
	else
		wj_obj_end(s->j);
}

struct counters_out {
	struct section sec;
	const char *kind;
	bool any;
};

static int put_counter(void *ctx, const char *name, int64_t v)
{
	struct counters_out *o = ctx;

	if (o->sec.j) {
		section_open(&o->sec);
		wj_kint(o->sec.j, name, v);
	} else if (v || strcmp(o->kind, "stat") == 0) {
		printf("%s %s %lld", o->any ? "," : "", name, (long long)v);
		o->any = true;
	}
	return 0;
}

/* The counters of one kind ("lost", "shed", "stat"); JSON: an object
 * under key (text: the non-zero ones, and every "stat"). */
static void report_counters(struct ws_store *st, const struct ws_store_recording *r, const char *kind, const char *key,
			    struct ws_json *j)
{
	struct counters_out o = {.sec = {.j = j, .key = key}, .kind = kind};

	if (ws_store_each_counter(st, r->id, kind, put_counter, &o) == -ENOENT)
		return;
	if (j)
		section_close(&o.sec);
	else if (!o.any)
		printf(" none");
}

struct privileges {
	int64_t caps, nnp, filter;
	bool found;
};

static int put_privilege(void *ctx, const char *name, int64_t v)
{
	struct privileges *p = ctx;

	if (strcmp(name, "capabilities") == 0)
		p->caps = v, p->found = true;
	else if (strcmp(name, "no_new_privs") == 0)
		p->nnp = v;
	else if (strcmp(name, "seccomp_syscalls") == 0)
		p->filter = v;
	return 0;
}

/* What the recorder kept of root while it captured (capture/sandbox.h). */
static void report_privileges(struct ws_store *st, const struct ws_store_recording *r, struct ws_json *j)
{
	struct privileges p = {0};
	char names[512];

	ws_store_each_counter(st, r->id, "privileges", put_privilege, &p);
	if (!p.found)
		return; /* not recorded live, or an older file */
	bool all = (uint64_t)p.caps == UINT64_MAX;
	if (j) {
		wj_key(j, "privileges");
		wj_obj_begin(j);
		wj_kstr(j, "capabilities", all ? "all" : ws_sandbox_caps_text((uint64_t)p.caps, names, sizeof(names)));
		wj_kbool(j, "no_new_privs", p.nnp != 0);
		wj_kint(j, "seccomp_syscalls", p.filter);
		wj_obj_end(j);
		return;
	}
	if (all) {
		printf("  privileges: every capability kept for the whole run (--no-sandbox)\n");
		return;
	}
	char sc[96];
	if (p.filter)
		snprintf(sc, sizeof(sc), "seccomp allow-list of %lld system calls (others fail with EPERM)",
			 (long long)p.filter);
	else
		snprintf(sc, sizeof(sc), "no seccomp filter");
	printf("  privileges while capturing: %s only; %s; %s\n",
	       ws_sandbox_caps_text((uint64_t)p.caps, names, sizeof(names)),
	       p.nnp ? "NoNewPrivs" : "NoNewPrivs not set", sc);
}

struct shedding_out {
	struct section sec;
	double budget;
	int level, rows;
	char action[96];
};

static int put_shed(void *ctx, const struct ws_store_shed *s)
{
	struct shedding_out *o = ctx;
	struct ws_json *j = o->sec.j;
	char when[64];

	o->level = s->level;
	o->budget = s->budget_pct;
	ws_strlcpy(o->action, s->action, sizeof(o->action));
	if (j) {
		section_open(&o->sec);
		wj_obj_begin(j);
		wj_kint(j, "ts_ns", (int64_t)s->ts_ns);
		wj_kint(j, "level", s->level);
		wj_knum3(j, "cpu_pct", s->cpu_pct);
		wj_kstr(j, "action", s->action);
		wj_obj_end(j);
	} else if (o->rows++) { /* the first row only states the budget */
		printf("  %s  %s at %.1f%% CPU\n", ws_fmt_clock(s->ts_ns, when, sizeof(when)), s->action, s->cpu_pct);
	}
	return 0;
}

static void report_shedding(struct ws_store *st, const struct ws_store_recording *r, struct ws_json *j)
{
	struct shedding_out o = {.sec = {.j = j, .key = "shedding", .array = true}, .budget = -1};

	if (ws_store_each_shed(st, r->id, put_shed, &o) == -ENOENT)
		return; /* an older file, without the table */
	if (j) {
		section_close(&o.sec);
		if (o.budget >= 0)
			wj_knum3(j, "cpu_budget_pct", o.budget);
		wj_kint(j, "shed_level", o.level);
	} else if (o.budget > 0) {
		printf("  CPU budget %g%% of the host; %s: %s\n", o.budget,
		       o.rows > 1 ? "last level" : "never exceeded", o.action);
	} else if (o.budget == 0) {
		printf("  no CPU budget (--cpu-budget 0)\n");
	}
}

struct programs_out {
	struct section sec;
	bool header;
};

static int put_program(void *ctx, const struct ws_store_bpf_prog *p)
{
	struct programs_out *o = ctx;
	struct ws_json *j = o->sec.j;
	double per = p->runs ? (double)p->run_ns / p->runs : 0;
	char total[32];

	if (j) {
		section_open(&o->sec);
		wj_obj_begin(j);
		wj_kstr(j, "name", p->name);
		wj_kstr(j, "hook", p->hook);
		wj_kint(j, "runs", p->runs);
		wj_kint(j, "run_ns", p->run_ns);
		wj_knum3(j, "ns_per_run", per);
		wj_obj_end(j);
		return 0;
	}
	if (!o->header) {
		printf("  BPF programs, by total time:\n    %-36s %12s %10s %12s\n", "HOOK", "RUNS", "NS/RUN", "TOTAL");
		o->header = true;
	}
	printf("    %-36.36s %12lld %10.0f %12s\n", p->hook, (long long)p->runs, per,
	       ws_fmt_duration((uint64_t)p->run_ns, total, sizeof(total)));
	return 0;
}

static void report_programs(struct ws_store *st, const struct ws_store_recording *r, struct ws_json *j)
{
	struct programs_out o = {.sec = {.j = j, .key = "bpf_programs", .array = true}};

	if (ws_store_each_bpf_prog(st, r->id, put_program, &o) == -ENOENT)
		return; /* an older file, without the table */
	if (j)
		section_close(&o.sec);
}

static void report_text(struct ws_store *st, const struct ws_store_recording *r, const char *state)
{
	char t0[64], d[32], upd[32];
	uint64_t end = r->ended_ns ? r->ended_ns : r->updated_ns ? r->updated_ns : r->started_ns;
	uint64_t last = r->updated_ns ? r->updated_ns : r->started_ns;

	printf("recording %lld: %s, %s on %s, started %s, %s\n", (long long)r->id, state, r->source, r->host,
	       ws_fmt_clock(r->started_ns, t0, sizeof(t0)),
	       ws_fmt_duration(end > r->started_ns ? end - r->started_ns : 0, d, sizeof(d)));
	if (strcmp(state, "running") == 0)
		printf("  recorder pid %lld, last wrote %s ago\n", (long long)r->pid,
		       ws_fmt_duration(ws_now_real_ns() - WS_MIN(r->updated_ns, ws_now_real_ns()), upd, sizeof(upd)));
	else if (strcmp(state, "interrupted") == 0)
		printf("  the recorder stopped without finishing (killed or crashed); what it committed is kept: "
		       "%lld spans as of %s\n",
		       (long long)r->spans, ws_fmt_clock(last, upd, sizeof(upd)));
	printf("  command: %s\n", r->command);
	/* the recorder's own total lags (it is written once a second) and is
	 * never written when the disk fills up; the rows are the truth */
	int64_t stored = ws_store_recording_spans(st, r->id);
	if (stored >= 0 && (uint64_t)stored != r->spans && strcmp(state, "running") != 0)
		printf("  the recorder's last totals (written %s) are behind what it stored: %lld spans are in the "
		       "file; its counts of events and losses stop there too\n",
		       ws_fmt_clock(last, upd, sizeof(upd)), (long long)stored);
	printf("  events %llu, spans %lld, connections %lld, lost %llu\n", (unsigned long long)r->events,
	       stored >= 0 ? (long long)stored : (long long)r->spans,
	       (long long)ws_store_counter(st, r->id, "connections"), (unsigned long long)r->lost);
	printf("  lost by cause:");
	report_counters(st, r, "lost", NULL, NULL);
	printf("\n  shed:");
	report_counters(st, r, "shed", NULL, NULL);
	putchar('\n');
	int64_t sent = ws_store_counter(st, r->id, "spans_sent"), dropped = ws_store_counter(st, r->id, "spans_dropped");
	if (sent || dropped)
		printf("  exported over OTLP: %lld spans sent, %lld dropped (%lld requests, %lld retried)\n",
		       (long long)sent, (long long)dropped, (long long)ws_store_counter(st, r->id, "requests"),
		       (long long)ws_store_counter(st, r->id, "retries"));
	int64_t cut = ws_store_counter(st, r->id, "payload_cut");
	if (cut)
		printf("  payload cut to the prefix copied: %lld events (--payload-bytes)\n", (long long)cut);
	report_shedding(st, r, NULL);
	int64_t user = ws_store_counter(st, r->id, "agent_user_ns"), sys = ws_store_counter(st, r->id, "agent_sys_ns"),
		bpf = ws_store_counter(st, r->id, "bpf_run_ns");
	if (user || sys || bpf) {
		printf("  own cost: %.2fs CPU in user space (%.2fs user, %.2fs system), %.2fs in BPF programs",
		       (user + sys) / 1e9, user / 1e9, sys / 1e9, bpf / 1e9);
		if (r->spans)
			printf(", %.1f us per span", (user + sys + bpf) / 1e3 / (double)r->spans);
		printf("\n  memory: peak RSS %.1f MiB, kernel maps and rings %.1f MiB\n",
		       ws_store_counter(st, r->id, "agent_max_rss_kb") / 1024.0,
		       ws_store_counter(st, r->id, "kernel_memory_bytes") / 1048576.0);
	}
	report_privileges(st, r, NULL);
	report_programs(st, r, NULL);
}

static void report_json(struct ws_store *st, const struct ws_store_recording *r, const char *state, struct ws_json *j)
{
	wj_reset(j);
	wj_obj_begin(j);
	wj_kint(j, "id", r->id);
	wj_kstr(j, "state", state);
	wj_kstr(j, "source", r->source);
	wj_kstr(j, "host", r->host);
	wj_kstr(j, "command", r->command);
	wj_kint(j, "pid", r->pid);
	wj_kuint(j, "started_ns", r->started_ns);
	wj_kuint(j, "ended_ns", r->ended_ns);
	wj_kuint(j, "updated_ns", r->updated_ns);
	wj_kuint(j, "events", r->events);
	int64_t stored = ws_store_recording_spans(st, r->id);
	wj_kuint(j, "spans", stored >= 0 ? (uint64_t)stored : r->spans);
	wj_kuint(j, "spans_counted", r->spans);
	wj_kuint(j, "lost", r->lost);
	report_counters(st, r, "lost", "lost_by_cause", j);
	report_counters(st, r, "shed", "shed", j);
	report_counters(st, r, "stat", "stat", j);
	report_counters(st, r, "export", "export", j);
	report_shedding(st, r, j);
	report_privileges(st, r, j);
	report_programs(st, r, j);
	wj_obj_end(j);
	fwrite(j->buf, 1, j->len, stdout);
	fputc('\n', stdout);
}

struct status_run {
	struct ws_store *st;
	bool json;
	struct ws_json j;
	int n; /* recordings reported */
};

static int report_recording(void *ctx, const struct ws_store_recording *r)
{
	struct status_run *run = ctx;
	const char *state = state_of(r);

	if (run->json) {
		report_json(run->st, r, state, &run->j);
	} else {
		if (run->n)
			putchar('\n');
		report_text(run->st, r, state);
	}
	run->n++;
	return 0;
}

int cmd_status(int argc, char **argv)
{
	const char *path;
	bool all = false, json = false;
	unsigned long long id = 0;
	const struct cli_opt opts[] = {
		CLI_DB(&path),
		CLI_SET("all", &all),
		CLI_UINT("id", &id, 1, INT64_MAX, "a recording number"),
		CLI_SET("json", &json),
		{0},
	};
	const struct cli_cmd cmd = {.name = "status", .usage = usage_status, .opts = opts};
	char err[1024];
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 0;
	struct ws_store *st;
	if (ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	struct status_run run = {.st = st, .json = json};
	wj_init(&run.j);
	int read = ws_store_each_recording(st, (int64_t)id, all, report_recording, &run);
	wj_free(&run.j);
	rc = 1;
	if (read == -ENOENT)
		ws_err("database %s: %s", path, ws_store_errmsg(st));
	else if (ws_store_read_error(st)) /* rather than less, as if it were all */
		ws_err("%s", ws_store_read_error(st));
	else if (!run.n)
		ws_err(id ? "%s has no recording %llu" : "%s holds no recordings yet", path, id);
	else
		rc = ferror(stdout) ? 1 : 0;
	ws_store_close(st);
	return rc;
}
