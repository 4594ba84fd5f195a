/* status.c -- `wirespan status`: the state of a recording, running or
 * finished. Whether it is still running (and when it last wrote), what it
 * lost by cause, whether it shed work to stay within its CPU budget, what
 * it cost (its own CPU, each BPF program per run, memory). The recorder
 * writes all of it once a second, so a running recording can be asked too. */
#include <getopt.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/sandbox.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "store/store.h"
#include "util/json.h"
#include "util/util.h"

/* the first step that failed (ws_store_row) */
static int step_failed;

/* A running recorder writes every second; one silent for longer than this
 * is taken to have died (killed, crashed, host down). */
#define STALE_NS (10 * 1000000000ull)

struct rec_row {
	int64_t id, pid;
	char source[16], host[64], command[512], status[16];
	uint64_t started, ended, updated, events, spans, lost;
};

static void usage_status(FILE *f)
{
	fprintf(f, "usage: wirespan status [--db FILE] [--all | --id N] [--json]\n"
		   "\n"
		   "The state of the last recording in the database (--all: every one), running or\n"
		   "finished: whether it is still running, events and spans, events lost by cause,\n"
		   "load shedding under the CPU budget, and wirespan's own cost: CPU in user space\n"
		   "and in each BPF program (per run), memory.\n");
}

static const char *col(sqlite3_stmt *q, int i)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	return t ? (const char *)t : "";
}

/* running, interrupted (the recorder died), complete or failed */
static const char *state_of(const struct rec_row *r)
{
	if (strcmp(r->status, "recording") != 0)
		return r->status;
	uint64_t now = ws_now_real_ns();
	bool fresh = r->updated && now > r->updated && now - r->updated < STALE_NS;
	bool alive = r->pid > 0 && kill((pid_t)r->pid, 0) == 0;
	if (strcmp(r->source, "live") != 0) /* replay and pcap run to the end in one go */
		return fresh ? "running" : "interrupted";
	return fresh && alive ? "running" : "interrupted";
}

/* The counters of one kind ("lost", "shed", "stat"); JSON: an object
 * under key (text: the non-zero ones, and every "stat"). */
static int report_counters(sqlite3 *db, const struct rec_row *r, const char *kind, const char *key, bool json,
			   struct ws_json *j)
{
	sqlite3_stmt *q;
	bool any = false;

	if (sqlite3_prepare_v2(db, "SELECT name, value FROM counters WHERE recording_id = ? AND kind = ? ORDER BY name",
			       -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, r->id);
	sqlite3_bind_text(q, 2, kind, -1, SQLITE_STATIC);
	if (json) {
		wj_key(j, key);
		wj_obj_begin(j);
	}
	while (ws_store_row(q, &step_failed)) {
		int64_t v = sqlite3_column_int64(q, 1);
		if (json) {
			wj_kint(j, col(q, 0), v);
		} else if (v || strcmp(kind, "stat") == 0) {
			printf("%s %s %lld", any ? "," : "", col(q, 0), (long long)v);
			any = true;
		}
	}
	if (json)
		wj_obj_end(j);
	else if (!any)
		printf(" none");
	sqlite3_finalize(q);
	return 0;
}

static int64_t counter(sqlite3 *db, int64_t id, const char *name)
{
	sqlite3_stmt *q;
	int64_t v = 0;

	if (sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE recording_id = ? AND name = ?", -1, &q, NULL) !=
	    SQLITE_OK)
		return 0;
	sqlite3_bind_int64(q, 1, id);
	sqlite3_bind_text(q, 2, name, -1, SQLITE_STATIC);
	if (ws_store_row(q, &step_failed))
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* What the recorder kept of root while it captured (capture/sandbox.h). */
static void report_privileges(sqlite3 *db, const struct rec_row *r, bool json, struct ws_json *j)
{
	sqlite3_stmt *q;
	int64_t caps = 0, nnp = 0, filter = 0;
	bool found = false;
	char names[512];

	if (sqlite3_prepare_v2(db, "SELECT name, value FROM counters WHERE recording_id = ? AND kind = 'privileges'",
			       -1, &q, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_int64(q, 1, r->id);
	while (ws_store_row(q, &step_failed)) {
		const char *n = col(q, 0);
		int64_t v = sqlite3_column_int64(q, 1);
		if (strcmp(n, "capabilities") == 0)
			caps = v, found = true;
		else if (strcmp(n, "no_new_privs") == 0)
			nnp = v;
		else if (strcmp(n, "seccomp_syscalls") == 0)
			filter = v;
	}
	sqlite3_finalize(q);
	if (!found)
		return; /* not recorded live, or an older file */
	bool all = (uint64_t)caps == UINT64_MAX;
	if (json) {
		wj_key(j, "privileges");
		wj_obj_begin(j);
		wj_kstr(j, "capabilities", all ? "all" : ws_sandbox_caps_text((uint64_t)caps, names, sizeof(names)));
		wj_kbool(j, "no_new_privs", nnp != 0);
		wj_kint(j, "seccomp_syscalls", filter);
		wj_obj_end(j);
		return;
	}
	if (all) {
		printf("  privileges: every capability kept for the whole run (--no-sandbox)\n");
		return;
	}
	char sc[96];
	if (filter)
		snprintf(sc, sizeof(sc), "seccomp allow-list of %lld system calls (others fail with EPERM)",
			 (long long)filter);
	else
		snprintf(sc, sizeof(sc), "no seccomp filter");
	printf("  privileges while capturing: %s only; %s; %s\n",
	       ws_sandbox_caps_text((uint64_t)caps, names, sizeof(names)),
	       nnp ? "NoNewPrivs" : "NoNewPrivs not set", sc);
}

static void report_shedding(sqlite3 *db, const struct rec_row *r, bool json, struct ws_json *j)
{
	sqlite3_stmt *q;
	double budget = -1;
	int level = 0, rows = 0;
	char action[96] = "";

	if (sqlite3_prepare_v2(db,
			       "SELECT ts_ns, level, cpu_pct, budget_pct, action FROM shedding WHERE recording_id = ? "
			       "ORDER BY rowid",
			       -1, &q, NULL) != SQLITE_OK)
		return; /* an older file, without the table */
	sqlite3_bind_int64(q, 1, r->id);
	if (json) {
		wj_key(j, "shedding");
		wj_arr_begin(j);
	}
	while (ws_store_row(q, &step_failed)) {
		char when[64];
		level = sqlite3_column_int(q, 1);
		budget = sqlite3_column_double(q, 3);
		ws_strlcpy(action, col(q, 4), sizeof(action));
		if (json) {
			wj_obj_begin(j);
			wj_kint(j, "ts_ns", sqlite3_column_int64(q, 0));
			wj_kint(j, "level", level);
			wj_knum3(j, "cpu_pct", sqlite3_column_double(q, 2));
			wj_kstr(j, "action", col(q, 4));
			wj_obj_end(j);
		} else if (rows++) { /* the first row only states the budget */
			printf("  %s  %s at %.1f%% CPU\n", ws_fmt_clock((uint64_t)sqlite3_column_int64(q, 0), when, sizeof(when)),
			       col(q, 4), sqlite3_column_double(q, 2));
		}
	}
	sqlite3_finalize(q);
	if (json) {
		wj_arr_end(j);
		if (budget >= 0)
			wj_knum3(j, "cpu_budget_pct", budget);
		wj_kint(j, "shed_level", level);
	} else if (budget > 0) {
		printf("  CPU budget %g%% of the host; %s: %s\n", budget, rows > 1 ? "last level" : "never exceeded", action);
	} else if (budget == 0) {
		printf("  no CPU budget (--cpu-budget 0)\n");
	}
}

static void report_programs(sqlite3 *db, const struct rec_row *r, bool json, struct ws_json *j)
{
	sqlite3_stmt *q;
	bool header = false;

	if (sqlite3_prepare_v2(db,
			       "SELECT name, hook, runs, run_ns FROM bpf_programs WHERE recording_id = ? "
			       "ORDER BY run_ns DESC",
			       -1, &q, NULL) != SQLITE_OK)
		return; /* an older file, without the table */
	sqlite3_bind_int64(q, 1, r->id);
	if (json) {
		wj_key(j, "bpf_programs");
		wj_arr_begin(j);
	}
	while (ws_store_row(q, &step_failed)) {
		int64_t runs = sqlite3_column_int64(q, 2), ns = sqlite3_column_int64(q, 3);
		double per = runs ? (double)ns / runs : 0;
		if (json) {
			wj_obj_begin(j);
			wj_kstr(j, "name", col(q, 0));
			wj_kstr(j, "hook", col(q, 1));
			wj_kint(j, "runs", runs);
			wj_kint(j, "run_ns", ns);
			wj_knum3(j, "ns_per_run", per);
			wj_obj_end(j);
			continue;
		}
		if (!header) {
			printf("  BPF programs, by total time:\n    %-36s %12s %10s %12s\n", "HOOK", "RUNS", "NS/RUN",
			       "TOTAL");
			header = true;
		}
		char total[32];
		printf("    %-36.36s %12lld %10.0f %12s\n", col(q, 1), (long long)runs, per,
		       ws_fmt_duration((uint64_t)ns, total, sizeof(total)));
	}
	if (json)
		wj_arr_end(j);
	sqlite3_finalize(q);
}

/* Spans in the file for the recording: the recorder's own total lags
 * (it is written once a second) and is never written when the disk
 * fills up; the rows are the truth. */
static int64_t stored_spans(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *q;
	int64_t v = -1;

	if (sqlite3_prepare_v2(db, "SELECT count(*) FROM spans WHERE recording_id = ?", -1, &q, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(q, 1, id);
	if (ws_store_row(q, &step_failed))
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

static void report_text(sqlite3 *db, const struct rec_row *r, const char *state)
{
	char t0[64], d[32], upd[32];
	uint64_t end = r->ended ? r->ended : r->updated ? r->updated : r->started;

	printf("recording %lld: %s, %s on %s, started %s, %s\n", (long long)r->id, state, r->source, r->host,
	       ws_fmt_clock(r->started, t0, sizeof(t0)), ws_fmt_duration(end > r->started ? end - r->started : 0, d, sizeof(d)));
	if (strcmp(state, "running") == 0)
		printf("  recorder pid %lld, last wrote %s ago\n", (long long)r->pid,
		       ws_fmt_duration(ws_now_real_ns() - WS_MIN(r->updated, ws_now_real_ns()), upd, sizeof(upd)));
	else if (strcmp(state, "interrupted") == 0)
		printf("  the recorder stopped without finishing (killed or crashed); what it committed is kept: "
		       "%lld spans as of %s\n",
		       (long long)r->spans, ws_fmt_clock(r->updated ? r->updated : r->started, upd, sizeof(upd)));
	printf("  command: %s\n", r->command);
	int64_t stored = stored_spans(db, r->id);
	if (stored >= 0 && (uint64_t)stored != r->spans && strcmp(state, "running") != 0)
		printf("  the recorder's last totals (written %s) are behind what it stored: %lld spans are in the "
		       "file; its counts of events and losses stop there too\n",
		       ws_fmt_clock(r->updated ? r->updated : r->started, upd, sizeof(upd)), (long long)stored);
	printf("  events %llu, spans %lld, connections %lld, lost %llu\n", (unsigned long long)r->events,
	       stored >= 0 ? (long long)stored : (long long)r->spans, (long long)counter(db, r->id, "connections"),
	       (unsigned long long)r->lost);
	printf("  lost by cause:");
	report_counters(db, r, "lost", NULL, false, NULL);
	printf("\n  shed:");
	report_counters(db, r, "shed", NULL, false, NULL);
	putchar('\n');
	int64_t cut = counter(db, r->id, "payload_cut");
	if (cut)
		printf("  payload cut to the prefix copied: %lld events (--payload-bytes)\n", (long long)cut);
	report_shedding(db, r, false, NULL);
	int64_t user = counter(db, r->id, "agent_user_ns"), sys = counter(db, r->id, "agent_sys_ns"),
		bpf = counter(db, r->id, "bpf_run_ns");
	if (user || sys || bpf) {
		printf("  own cost: %.2fs CPU in user space (%.2fs user, %.2fs system), %.2fs in BPF programs", (user + sys) / 1e9,
		       user / 1e9, sys / 1e9, bpf / 1e9);
		if (r->spans)
			printf(", %.1f us per span", (user + sys + bpf) / 1e3 / (double)r->spans);
		printf("\n  memory: peak RSS %.1f MiB, kernel maps and rings %.1f MiB\n",
		       counter(db, r->id, "agent_max_rss_kb") / 1024.0, counter(db, r->id, "kernel_memory_bytes") / 1048576.0);
	}
	report_privileges(db, r, false, NULL);
	report_programs(db, r, false, NULL);
}

static void report_json(sqlite3 *db, const struct rec_row *r, const char *state, struct ws_json *j)
{
	wj_reset(j);
	wj_obj_begin(j);
	wj_kint(j, "id", r->id);
	wj_kstr(j, "state", state);
	wj_kstr(j, "source", r->source);
	wj_kstr(j, "host", r->host);
	wj_kstr(j, "command", r->command);
	wj_kint(j, "pid", r->pid);
	wj_kuint(j, "started_ns", r->started);
	wj_kuint(j, "ended_ns", r->ended);
	wj_kuint(j, "updated_ns", r->updated);
	wj_kuint(j, "events", r->events);
	int64_t stored = stored_spans(db, r->id);
	wj_kuint(j, "spans", stored >= 0 ? (uint64_t)stored : r->spans);
	wj_kuint(j, "spans_counted", r->spans);
	wj_kuint(j, "lost", r->lost);
	report_counters(db, r, "lost", "lost_by_cause", true, j);
	report_counters(db, r, "shed", "shed", true, j);
	report_counters(db, r, "stat", "stat", true, j);
	report_shedding(db, r, true, j);
	report_privileges(db, r, true, j);
	report_programs(db, r, true, j);
	wj_obj_end(j);
	fwrite(j->buf, 1, j->len, stdout);
	fputc('\n', stdout);
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
	int rc = cli_parse(&cmd, argc, argv), n = 0;

	if (rc >= 0)
		return rc;
	rc = 0;
	struct ws_store *st;
	if (ws_store_open(path, WS_STORE_READ, &st, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	sqlite3 *db = ws_store_db(st);
	sqlite3_stmt *q;
	bool v5 = ws_store_version(st) >= 5;
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "SELECT id, source, host, command, status, started_ns, ended_ns, events, spans, lost, %s FROM recordings "
		 "%s ORDER BY id %s",
		 v5 ? "pid, updated_ns" : "0, 0", id ? "WHERE id = ?" : "", all ? "" : "DESC LIMIT 1");
	if (sqlite3_prepare_v2(db, sql, -1, &q, NULL) != SQLITE_OK) {
		ws_err("database %s: %s", path, sqlite3_errmsg(db));
		ws_store_close(st);
		return 1;
	}
	if (id)
		sqlite3_bind_int64(q, 1, (int64_t)id);
	struct ws_json j;
	wj_init(&j);
	while (ws_store_row(q, &step_failed)) {
		struct rec_row r = {0};
		r.id = sqlite3_column_int64(q, 0);
		ws_strlcpy(r.source, col(q, 1), sizeof(r.source));
		ws_strlcpy(r.host, col(q, 2), sizeof(r.host));
		ws_strlcpy(r.command, col(q, 3), sizeof(r.command));
		ws_strlcpy(r.status, col(q, 4), sizeof(r.status));
		r.started = (uint64_t)sqlite3_column_int64(q, 5);
		r.ended = (uint64_t)sqlite3_column_int64(q, 6);
		r.events = (uint64_t)sqlite3_column_int64(q, 7);
		r.spans = (uint64_t)sqlite3_column_int64(q, 8);
		r.lost = (uint64_t)sqlite3_column_int64(q, 9);
		r.pid = sqlite3_column_int64(q, 10);
		r.updated = (uint64_t)sqlite3_column_int64(q, 11);
		const char *state = state_of(&r);
		if (json) {
			report_json(db, &r, state, &j);
		} else {
			if (n)
				putchar('\n');
			report_text(db, &r, state);
		}
		n++;
	}
	sqlite3_finalize(q);
	wj_free(&j);
	if (step_failed) {
		ws_err("cannot read %s: %s (the file is damaged or not a wirespan database)", path,
		       sqlite3_errstr(step_failed));
		ws_store_close(st);
		return 1;
	}
	if (!n) {
		ws_err(id ? "%s has no recording %llu" : "%s holds no recordings yet", path, id);
		rc = 1;
	}
	ws_store_close(st);
	return rc ? rc : ferror(stdout) ? 1 : 0;
}
