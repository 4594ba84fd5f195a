/* record.c -- `wirespan record` and `wirespan replay`.
 *
 * The composition root of the live pipeline:
 *   kernel rings -> reorder -> decode -> conntrack -> parsers -> spans -> store
 * One thread: wait for a ring (or 100 ms), drain every ring, release records
 * in time order up to the watermark, let the connection tracker age what
 * closed, and commit the store a few times a second. On SIGINT/SIGTERM or at
 * the end of --duration: detach, drain what is left, flush every complete
 * exchange, store the counters (lost events by cause) and print a summary.
 */
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/budget.h"
#include "capture/runtimes.h"
#include "capture/kevent.h"
#include "capture/live.h"
#include "capture/sandbox.h"
#include "export/otlp.h"
#include "export/send.h"
#include "cli/cli.h"
#include "cli/opts.h"
#include "pipeline/pipeline.h"
#include "trace/link.h"
#include "proto/redact.h"
#include "span/span.h"
#include "store/store.h"
#include "stream/conntrack.h"
#include "stream/reorder.h"
#include "util/hashmap.h"
#include "util/privfile.h"
#include "util/util.h"

/* Records committed this long before a drain started are all in the rings
 * by the time the drain ends. */
#define WATERMARK_SLACK_NS (2 * 1000000ull)
#define COMMIT_EVERY_NS (250 * 1000000ull)
/* Time spent draining one ring per pass: what the reorder stage holds stays
 * bounded even when the producers keep up with the drain. */
#define DRAIN_MAX_NS (100 * 1000000ull)
/* counters and the status line, once a second; the budget four times */
#define TICK_NS (1000 * 1000000ull)
#define BUDGET_NS (250 * 1000000ull)
#define DEFAULT_BUDGET_PCT 5.0

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
	(void)sig;
	stop_requested = 1;
}


/* A record leaves the reorder stage, in time order. */
static void on_ordered(void *ctx, const void *rec, size_t len)
{
	struct pipeline *p = ctx;
	struct ws_event ev;

	if (ws_kevent_decode(rec, len, p->mono_to_real, p->abi, &ev)) {
		p->decode_errors++;
		return;
	}
	/* masked in stream order, each connection's runs one after another */
	if (p->save && p->save_mask && ws_evfile_write_masked(p->save, p->save_mask, rec, (uint32_t)len))
		p->save_errors++;
	pipeline_event(p, &ev);
}

/* Commit time of the last record taken from each CPU's ring. */
static uint64_t *ring_last;

/* A record arrives from a ring buffer. */
static void on_record(void *ctx, int ring, const void *rec, size_t len)
{
	struct pipeline *p = ctx;
	uint64_t key, commit;

	p->records++;
	if (len < 1 || len < ws_kevent_min_size(rec, p->abi)) {
		p->decode_errors++;
		return;
	}
	if (p->save && !p->save_mask && ws_evfile_write(p->save, rec, len))
		p->save_errors++;
	ws_kevent_order(rec, &key, &commit);
	ws_reorder_push(&p->ro, key, commit, rec, len);
	if (ring_last)
		ring_last[ring] = commit;
}


static char *join_args(int argc, char **argv)
{
	size_t n = 1;
	char *s;

	for (int i = 0; i < argc; i++)
		n += strlen(argv[i]) + 1;
	s = ws_calloc(1, n);
	for (int i = 0; i < argc; i++) {
		if (i)
			strcat(s, " ");
		strcat(s, argv[i]);
	}
	return s;
}

/* What the recorder knows beyond the pipeline: the kernel half's counters
 * and its own cost. */
struct rec_stats {
	uint64_t kc[WS_KC_MAX];
	uint64_t misses;       /* BPF program runs skipped by recursion */
	uint64_t conn_evicted; /* kernel connection entries evicted (known at the end) */
	uint64_t gwake_evicted; /* goroutine wake-up entries evicted (known at the end) */
	uint64_t user_ns, sys_ns, bpf_ns; /* since capture started */
	uint64_t user0, sys0;             /* spent before: loading, verifying */
	uint64_t max_rss_kb, kernel_bytes;
	unsigned shed_max;
	uint64_t detached_ns, detached_since; /* time at the last shed level */
	unsigned tls_files, tls_files_failed; /* files whose TLS functions are probed, or could not be */
};

#define REC_COUNTERS 34

/* Time the data syscall programs were detached (the last shed level). */
static uint64_t detached_ns(const struct rec_stats *r)
{
	return r->detached_ns + (r->detached_since ? ws_now_mono_ns() - r->detached_since : 0);
}

/* The counters stored with a recording and printed at its end. */
static size_t rec_counters(const struct rec_stats *r, struct pipeline *p, struct ws_counter *rows)
{
	const uint64_t *kc = r->kc;
	const struct ws_counter all[REC_COUNTERS] = {
		{"lost", "ringbuf_full", kc[WS_KC_RINGBUF_FULL]},
		{"lost", "inflight_table_full", kc[WS_KC_INFLIGHT_FULL]},
		{"lost", "conn_table_full", kc[WS_KC_CONN_FULL]},
		{"lost", "kernel_conn_evicted", r->conn_evicted},
		{"lost", "thread_table_full", kc[WS_KC_THREAD_FULL]},
		{"lost", "payload_read_failed", kc[WS_KC_READ_FAIL]},
		{"lost", "iovec_beyond_limit", kc[WS_KC_IOV_CUT]},
		{"lost", "mmsg_beyond_limit", kc[WS_KC_MMSG_CUT]},
		{"lost", "bpf_recursion_misses", r->misses},
		{"lost", "decode_errors", p->decode_errors},
		{"shed", "shed_syscalls", kc[WS_KC_SHED]},
		{"shed", "shed_level_max", r->shed_max},
		{"shed", "detached_ms", detached_ns(r) / 1000000},
		{"stat", "kernel_events", kc[WS_KC_EVENTS]},
		{"stat", "payload_cut", kc[WS_KC_PAYLOAD_CUT]},
		{"stat", "kernel_conns_added", kc[WS_KC_CONN_ADDED]},
		{"stat", "kernel_conns_removed", kc[WS_KC_CONN_REMOVED]},
		{"stat", "agent_user_ns", r->user_ns},
		{"stat", "agent_sys_ns", r->sys_ns},
		{"stat", "bpf_run_ns", r->bpf_ns},
		{"stat", "agent_max_rss_kb", r->max_rss_kb},
		{"stat", "kernel_memory_bytes", r->kernel_bytes},
		{"stat", "spans_stored", p->spans_committed},
		{"stat", "go_spawns", kc[WS_KC_GO_SPAWNS]},
		{"stat", "go_wakes", kc[WS_KC_GO_WAKES]},
		{"stat", "go_syscalls_without_goroutine", kc[WS_KC_GO_BAD_G]},
		{"lost", "go_wake_entries_evicted", r->gwake_evicted},
		{"stat", "py_task_creations", kc[WS_KC_PY_TASKS]},
		{"stat", "py_task_steps", kc[WS_KC_PY_STEPS]},
		{"stat", "tls_plaintext_calls", kc[WS_KC_TLS_PLAIN]},
		{"lost", "tls_plaintext_untied", kc[WS_KC_TLS_UNTIED]},
		{"stat", "tls_plaintext_untied_filtered", kc[WS_KC_TLS_UNTIED_FILTERED]},
		{"stat", "tls_files_probed", r->tls_files},
		{"stat", "tls_files_not_probed", r->tls_files_failed},
	};

	memcpy(rows, all, sizeof(all));
	return REC_COUNTERS;
}

/* Events lost, all causes: the kernel's, the recorder's, the pipeline's. */
static uint64_t total_lost(struct pipeline *p, const struct rec_stats *r)
{
	struct ws_counter rows[REC_COUNTERS];
	size_t n = rec_counters(r, p, rows);
	uint64_t lost = ct_stats(p->ct)->conns_evicted;

	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].kind, "lost") == 0)
			lost += rows[i].v;
	return lost;
}

static uint64_t tv_ns(struct timeval tv) { return (uint64_t)tv.tv_sec * 1000000000ull + (uint64_t)tv.tv_usec * 1000; }

/* The recorder's peak resident memory (VmHWM). Not getrusage's ru_maxrss,
 * which execve keeps: started by a large process, the recorder would report
 * that process's peak as its own. */
static uint64_t peak_rss_kb(void)
{
	char line[128];
	uint64_t kb = 0;
	FILE *f = fopen("/proc/self/status", "re");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtoull(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return kb;
}

/* Sample the kernel half's counters and what the recorder has cost. */
static void rec_sample(struct rec_stats *r, struct live *l)
{
	struct rusage ru;

	live_counters(l, r->kc);
	r->bpf_ns = live_bpf_ns(l);
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		r->user_ns = tv_ns(ru.ru_utime) - WS_MIN(r->user0, tv_ns(ru.ru_utime));
		r->sys_ns = tv_ns(ru.ru_stime) - WS_MIN(r->sys0, tv_ns(ru.ru_stime));
		r->max_rss_kb = peak_rss_kb();
	}
}

/* What the recorder had spent when capture started (loading the programs). */
static void rec_start(struct rec_stats *r)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		r->user0 = tv_ns(ru.ru_utime);
		r->sys0 = tv_ns(ru.ru_stime);
	}
}

/* CPU ns the recorder has used since capture started, as of the last
 * sample: its process (every thread) plus its BPF programs in the kernel. */
static uint64_t own_cpu_ns(const struct rec_stats *r) { return r->user_ns + r->sys_ns + r->bpf_ns; }

static int store_counters(struct pipeline *p, const struct rec_stats *r, const char *status)
{
	struct ws_counter rows[REC_COUNTERS];
	size_t n = rec_counters(r, p, rows);

	if (!status)
		return pipeline_counters(p, rows, n, total_lost(p, r));
	return pipeline_end(p, rows, n, total_lost(p, r), status);
}

/* Packets the kernel dropped during the recording, by reason, and what
 * each BPF program cost. */
static void store_kernel_facts(struct pipeline *p, struct live *l)
{
	uint64_t *d = ws_calloc(WS_DROP_REASONS, sizeof(*d));
	struct live_prog_stat ps[64];
	size_t n;

	live_drops(l, d);
	pipeline_kernel_drops(p, d, WS_DROP_REASONS);
	free(d);
	n = live_stats_enabled(l) ? live_prog_stats(l, ps, WS_ARRAY_SIZE(ps)) : 0;
	for (size_t i = 0; i < n; i++)
		if (ps[i].runs)
			pipeline_bpf_prog(p, ps[i].name, ps[i].hook, ps[i].runs, ps[i].run_ns);
}

static void print_summary(struct pipeline *p, double secs, const struct rec_stats *r)
{
	const struct ct_stats *cs = ct_stats(p->ct);
	struct ws_counter rows[REC_COUNTERS];
	size_t n = rec_counters(r, p, rows);
	uint64_t lost = total_lost(p, r);

	/* the headline says how much was captured, not only what was lost */
	char missed[256] = "";
	size_t m = 0;
	if (r->kc[WS_KC_SHED])
		m += (size_t)snprintf(missed + m, sizeof(missed) - m, "; not captured: data of %llu syscalls (CPU budget)",
				      (unsigned long long)r->kc[WS_KC_SHED]);
	if (detached_ns(r) && m < sizeof(missed))
		m += (size_t)snprintf(missed + m, sizeof(missed) - m, "%s data syscalls not traced for %.1fs",
				      m ? "," : "; not captured:", detached_ns(r) / 1e9);
	if (cs->unpaired_lost && m < sizeof(missed))
		snprintf(missed + m, sizeof(missed) - m, "; %llu messages not paired after losses",
			 (unsigned long long)cs->unpaired_lost);
	fprintf(stderr,
		"wirespan: recorded %.1fs: %llu events, %llu spans (%llu server, %llu client), %llu connections; "
		"events lost: %llu%s\n",
		secs, (unsigned long long)p->records, (unsigned long long)p->spans,
		(unsigned long long)p->spans_server, (unsigned long long)p->spans_client,
		(unsigned long long)cs->conns, (unsigned long long)lost, missed);
	if (p->store_failed)
		fprintf(stderr, "wirespan: %llu of those spans are in the database; the rest could not be written\n",
			(unsigned long long)p->spans_committed);
	if (lost) {
		fprintf(stderr, "wirespan: lost by cause:");
		for (size_t i = 0; i < n; i++)
			if (strcmp(rows[i].kind, "lost") == 0 && rows[i].v)
				fprintf(stderr, " %s %llu", rows[i].name, (unsigned long long)rows[i].v);
		if (cs->conns_evicted)
			fprintf(stderr, " conns_evicted %llu", (unsigned long long)cs->conns_evicted);
		fputc('\n', stderr);
	}
	if (r->kc[WS_KC_SHED] || r->shed_max) {
		fprintf(stderr, "wirespan: over the CPU budget, data of %llu syscalls was not captured",
			(unsigned long long)r->kc[WS_KC_SHED]);
		if (detached_ns(r))
			fprintf(stderr, " and data syscalls were not traced for %.1fs", detached_ns(r) / 1e9);
		fprintf(stderr, " (shed level up to %u: %s)\n", r->shed_max, ws_budget_action(r->shed_max));
	}
	if (cs->incomplete_at_end)
		fprintf(stderr, "wirespan: %llu exchanges were still in progress when recording stopped (not stored)\n",
			(unsigned long long)cs->incomplete_at_end);
	if (cs->unpaired_lost)
		fprintf(stderr,
			"wirespan: %llu requests and responses could not be paired for certain after records were "
			"lost (not stored)\n",
			(unsigned long long)cs->unpaired_lost);
	if (p->live) {
		double agent_s = (r->user_ns + r->sys_ns) / 1e9, bpf_s = r->bpf_ns / 1e9;
		fprintf(stderr, "wirespan: own cost: %.2fs CPU in user space, %.2fs in BPF programs", agent_s, bpf_s);
		if (p->spans)
			fprintf(stderr, " (%.1f us per span)", (agent_s + bpf_s) * 1e6 / p->spans);
		fprintf(stderr, "; peak RSS %.1f MiB, kernel maps and rings %.1f MiB\n", r->max_rss_kb / 1024.0,
			r->kernel_bytes / 1048576.0);
	}
}

static void usage_record(FILE *f)
{
	fprintf(f,
		"usage: wirespan record [options]\n"
		"\n"
		"Record HTTP/1.x, HTTP/2 (gRPC), Redis, PostgreSQL and MySQL exchanges on this machine with eBPF, with no\n"
		"change to any application, until SIGINT/SIGTERM or --duration. Needs root.\n"
		"\n"
		"  --db FILE            database to write (default wirespan.db; created mode 0600)\n"
		"  --duration S         stop after S seconds (decimals allowed)\n"
		"  --pid PID            only processes with this process id (repeatable)\n"
		"  --comm NAME          only processes with this name, as in ps -o comm (repeatable, max %d)\n"
		"  --port N             only connections with this local or remote port (repeatable, max %d)\n"
		"  --netns PATH         only sockets in this network namespace (e.g. /run/netns/NAME);\n"
		"                       spans get host.name NAME\n"
		"  --payload-bytes N    bytes copied from the start of each read or write (default 4096,\n"
		"                       max %d); a %d-byte tail is kept when the middle is skipped\n"
		"  --ring-kb N          ring buffer size per CPU in KiB (default: 64 MiB shared by the\n"
		"                       CPUs, 4 to 16 MiB each)\n"
		"  --host NAME          host.name for the spans (default: hostname, or the netns name)\n"
		"  --save-events FILE   also write the event stream (replay with `wirespan replay`); its\n"
		"                       payloads keep only what spans store (the rest is masked, byte for\n"
		"                       byte)\n"
		"  --save-raw           with --save-events: keep the payloads as captured, secrets\n"
		"                       included\n"
		"  --otlp URL           when the recording ends, send its spans (traces assembled) to an\n"
		"                       OTLP/HTTP endpoint, as `wirespan export` does\n"
		"  --otlp-protocol P    http/protobuf (default) or http/json\n"
		"  --cpu-budget PCT     most of the host's CPU (all CPUs, kernel and user side together)\n"
		"                       wirespan may use before it sheds work (default %g; 0: no limit);\n"
		"                       see docs/overhead.md for what is shed, in order\n"
		"  --no-go-probes       no uprobes on the Go runtime: goroutines are not traced, and\n"
		"                       calls of Go processes are linked from kernel evidence only\n"
		"  --no-asyncio-probes  no uprobes on CPython's asyncio: tasks are not traced, and\n"
		"                       asyncio event loops are modelled from kernel evidence\n"
		"  --no-tls-probes      no uprobes on OpenSSL's SSL_read/SSL_write: TLS connections are\n"
		"                       counted, not decoded\n"
		"  --keep-query NAME    store the values of this query parameter (repeatable; by default\n"
		"                       every query value is stored as REDACTED)\n"
		"  --keep-header NAME   store this header (repeatable; by default only Host without\n"
		"                       userinfo, User-Agent, Content-Type and traceparent)\n"
		"  --no-sandbox         keep every privilege for the whole run (by default, once it\n"
		"                       captures, the recorder keeps CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE\n"
		"                       and CAP_DAC_READ_SEARCH only, sets NoNewPrivs and installs a\n"
		"                       seccomp allow-list; see docs/security.md)\n"
		"  --quiet              no live status line (the line saying capture began is kept)\n"
		"  --verbose            loader messages and debug output\n"
		"  --debug-events       print every event to stderr\n",
		WS_MAX_COMMS, WS_MAX_PORTS, WS_PAYLOAD_MAX, WS_TAIL_MAX, DEFAULT_BUDGET_PCT);
}

static void status_line(struct pipeline *p, uint64_t elapsed_ns, uint64_t lost, const struct ws_budget *b)
{
	fprintf(stderr, "\r\033[Krecording %llus  events %llu  spans %llu  connections %zu  lost %llu  cpu %.1f%%",
		(unsigned long long)(elapsed_ns / 1000000000ull), (unsigned long long)p->records,
		(unsigned long long)p->spans, ct_active(p->ct), (unsigned long long)lost, b->used_pct);
	if (b->pct > 0)
		fprintf(stderr, " of %g%%", b->pct);
	if (b->level)
		fprintf(stderr, "  SHEDDING: %s", ws_budget_action(b->level));
	fflush(stderr);
}

/* Four times a second, after rec_sample(): our cost against the budget;
 * shed or recover. */
static void budget_tick(struct pipeline *p, struct live *l, struct ws_budget *b, struct rec_stats *r, bool quiet,
			bool tty)
{
	unsigned old = b->level;

	if (!ws_budget_sample(b, ws_now_mono_ns(), own_cpu_ns(r)))
		return;
	live_set_shed(l, b->level);
	if ((b->level == WS_SHED_MAX) != (old == WS_SHED_MAX)) {
		uint64_t now = ws_now_mono_ns();
		int err = live_trace_data(l, b->level != WS_SHED_MAX);
		if (b->level == WS_SHED_MAX) {
			r->detached_since = now;
		} else {
			r->detached_ns += now - r->detached_since;
			r->detached_since = 0;
		}
		if (err) {
			ws_warn("cannot attach the data syscall programs again (%s); data is not captured", strerror(-err));
			b->level = WS_SHED_MAX; /* stay */
			r->detached_since = now;
		}
		/* the next window measures the load, not the (un)attaching */
		rec_sample(r, l);
		ws_budget_rebase(b, ws_now_mono_ns(), own_cpu_ns(r));
	}
	r->shed_max = b->max_level;
	pipeline_shed(p, b->level, b->used_pct, b->pct, ws_budget_action(b->level));
	if (!quiet) {
		if (tty)
			fputs("\r\033[K", stderr);
		if (b->level > old)
			fprintf(stderr, "wirespan: using %.1f%% of the host's CPU, over the %g%% budget: %s\n", b->used_pct,
				b->pct, ws_budget_action(b->level));
		else
			fprintf(stderr, "wirespan: using %.1f%% of the host's CPU, under the %g%% budget again: %s\n",
				b->used_pct, b->pct, ws_budget_action(b->level));
	}
}

/* ---- what the traced processes run (Go ones get runtime probes) ---- */

struct rt_watch {
	struct ws_runtimes *rt;
	struct pipeline *p;
	const struct live_config *lc;
	bool quiet;
	struct ws_hashmap seen; /* pid -> its command name's hash: looked at */
	uint64_t go, go_traced, py, py_traced;
};

/* Whether --pid, --comm and --netns let the process be traced. */
static bool process_wanted(const struct live_config *lc, uint32_t pid)
{
	char path[64], comm[WS_COMM_LEN] = "";
	bool ok = !lc->npids;

	for (size_t i = 0; i < lc->npids && !ok; i++)
		ok = lc->pids[i] == pid;
	if (!ok)
		return false;
	if (lc->ncomms) {
		snprintf(path, sizeof(path), "/proc/%u/comm", pid);
		FILE *f = fopen(path, "re");
		if (!f)
			return false;
		if (!fgets(comm, sizeof(comm), f))
			comm[0] = 0;
		fclose(f);
		comm[strcspn(comm, "\n")] = 0;
		ok = false;
		for (size_t i = 0; i < lc->ncomms && !ok; i++)
			ok = strcmp(lc->comms[i], comm) == 0;
	}
	if (ok && lc->netns) {
		struct stat sb;
		snprintf(path, sizeof(path), "/proc/%u/ns/net", pid);
		ok = stat(path, &sb) == 0 && (uint32_t)sb.st_ino == lc->netns;
	}
	return ok;
}

/* Look at a process: when recording starts, when it executes a program,
 * when it makes its first span. A runtime found is stored and said. */
static void look_at(void *ctx, uint32_t pid)
{
	struct rt_watch *w = ctx;
	struct ws_procinfo pi;

	if (!process_wanted(w->lc, pid) || ws_runtimes_process(w->rt, pid, &pi) != 1)
		return;
	uint64_t key = (uint64_t)pid + 1,
		 h = ws_mix64(pi.runtime[0] ^ ws_mix64(pi.comm[0] | (uint64_t)pi.traced << 8)) | 1;
	if ((uint64_t)(uintptr_t)ws_hashmap_get(&w->seen, key) == h)
		return; /* told already */
	ws_hashmap_put(&w->seen, key, (void *)(uintptr_t)h);
	bool go = strncmp(pi.runtime, "go", 2) == 0;
	if (go) {
		w->go++;
		w->go_traced += pi.traced;
	} else if (pi.asyncio) {
		w->py++;
		w->py_traced += pi.traced;
	}
	if (((go || pi.asyncio) && (!w->quiet || !pi.traced)) || ws_verbose)
		fprintf(stderr, "wirespan: pid %u (%s) runs %s%s: %s%s\n", pid, pi.comm, go ? "Go " : "", pi.runtime,
			pi.detail,
			go && !pi.traced ? "; its calls are linked from kernel evidence only, with lower confidence"
					 : "");
	struct ws_sink_process sp = {.pid = pid, .comm = pi.comm, .runtime = pi.runtime, .detail = pi.detail,
				     .traced = pi.traced};
	pipeline_process(w->p, &sp);
}

/* The processes running when recording starts. */
static void look_at_all(struct rt_watch *w)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		unsigned long long v;
		if (!ws_parse_uint(e->d_name, 0x7fffffff, &v) && v != (unsigned long long)getpid())
			look_at(w, (uint32_t)v);
	}
	closedir(d);
}

/* Everything `record` was asked to do, parsed. */
struct rec_cfg {
	struct live_config lc;
	char db[4096];
	const char *netns_path, *save_path, *host;
	bool save_raw, quiet, debug_events, go_probes, py_probes, tls_probes, sandbox;
	double duration, budget_pct;
	uint64_t t_invoked;
	const char *otlp; /* send the spans there when the recording ends */
	bool otlp_json;
	int argc;
	char **argv;
	const struct rec_agent *agent; /* NULL: a one-off recording */
};

/* --keep-query NAME, --keep-header NAME (record and pcap): what redaction
 * keeps is global, set here as the options come */
int cli_opt_keep(const struct cli_opt *o, const char *arg, void *to)
{
	bool query = strcmp(o->name, "keep-query") == 0;
	char err[1024];

	(void)to;
	if ((query ? ws_redact_keep_query : ws_redact_keep_header)(arg, err, sizeof(err))) {
		ws_err("%s", err);
		return 2;
	}
	return 0;
}

/* --comm NAME: into the next of lc.comms */
static int opt_comm(const struct cli_opt *o, const char *arg, void *to)
{
	if (strlen(arg) >= WS_COMM_LEN || !arg[0]) {
		ws_err("--%s '%s': process names have 1 to %d characters (as shown by ps -o comm)", o->name, arg,
		       WS_COMM_LEN - 1);
		return 2;
	}
	ws_strlcpy(to, arg, WS_COMM_LEN);
	return 0;
}

static const struct cli_choice otlp_protocols[] = {{"http/protobuf", false}, {"http/json", true}, {0}};

/* Parse record's options into c: -1 to go on, or the exit status. */
static int rec_parse(int argc, char **argv, struct rec_cfg *c)
{
	const char *db = NULL;
	unsigned ring_kb = 0;
	const struct cli_opt opts[] = {
		CLI_DB(&db),
		/* a nanosecond at least: 0 is no end (until a signal) */
		CLI_REAL("duration", &c->duration, 1e-9, 1e9, "a positive number of seconds"),
		CLI_UINTS("pid", c->lc.pids, &c->lc.npids, 1, 0x7fffffff, "a process id"),
		CLI_FNS("comm", opt_comm, c->lc.comms, &c->lc.ncomms, NULL),
		CLI_UINTS("port", c->lc.ports, &c->lc.nports, 1, 65535, "a port number from 1 to 65535"),
		CLI_STR("netns", &c->netns_path),
		CLI_UINT("payload-bytes", &c->lc.payload, 0, WS_PAYLOAD_MAX, NULL),
		CLI_UINT("ring-kb", &ring_kb, 64, 1 << 20, "a size from 64 to 1048576 KiB"),
		CLI_STR("host", &c->host),
		CLI_STR("save-events", &c->save_path),
		CLI_SET("save-raw", &c->save_raw),
		CLI_STR("otlp", &c->otlp),
		CLI_CHOICE("otlp-protocol", &c->otlp_json, otlp_protocols),
		CLI_REAL("cpu-budget", &c->budget_pct, 0, 100, "a percentage of the host's CPU from 0 (no limit) to 100"),
		CLI_CLEAR("no-go-probes", &c->go_probes),
		CLI_CLEAR("no-asyncio-probes", &c->py_probes),
		CLI_CLEAR("no-tls-probes", &c->tls_probes),
		CLI_CLEAR("no-sandbox", &c->sandbox),
		CLI_KEEP_OPTS,
		CLI_SET("quiet", &c->quiet),
		CLI_COUNT("verbose", &ws_verbose),
		CLI_SET("debug-events", &c->debug_events),
		{0},
	};
	const struct cli_cmd cmd = {.name = "record", .usage = usage_record, .opts = opts};
	int rc;

	c->lc.payload = 4096;
	c->budget_pct = DEFAULT_BUDGET_PCT;
	c->go_probes = c->py_probes = c->tls_probes = c->sandbox = true;
	c->t_invoked = ws_now_mono_ns();
	if ((rc = cli_parse(&cmd, argc, argv)) >= 0)
		return rc;
	if (ring_kb) {
		c->lc.ring_bytes = 1u << 16;
		while (c->lc.ring_bytes < ring_kb * 1024)
			c->lc.ring_bytes <<= 1;
	}
	if (!c->lc.ring_bytes) {
		/* 64 MiB in all, 4 to 16 MiB per CPU: machines with few CPUs,
		 * where the traced work competes most with us, get deep rings */
		long ncpu = sysconf(_SC_NPROCESSORS_CONF);
		uint64_t per = (64ull << 20) / (uint64_t)(ncpu > 0 ? ncpu : 1);
		per = WS_MIN(WS_MAX(per, 4ull << 20), 16ull << 20);
		c->lc.ring_bytes = 4u << 20;
		while (c->lc.ring_bytes < per)
			c->lc.ring_bytes <<= 1;
	}
	if (c->otlp && strncmp(c->otlp, "http://", 7) != 0 && strncmp(c->otlp, "https://", 8) != 0) {
		ws_err("--otlp needs an http:// or https:// URL, not '%s'", c->otlp);
		return 2;
	}
	if (c->save_raw && !c->save_path) {
		ws_err("--save-raw says how --save-events FILE writes payloads; give --save-events too");
		return 2;
	}
	if (c->netns_path) {
		struct stat sb;
		if (stat(c->netns_path, &sb) != 0) {
			ws_err("--netns %s: %s", c->netns_path, strerror(errno));
			return 2;
		}
		c->lc.netns = (uint32_t)sb.st_ino;
	}
	ws_strlcpy(c->db, db, sizeof(c->db));
	c->argc = argc;
	c->argv = argv;
	return -1;
}

/* A recording in progress: what rec_open sets up and rec_close frees. */
struct rec {
	struct rec_cfg *cfg;
	struct pipeline p;
	struct live *l;
	struct rt_watch rw;
	struct rec_stats rs;
	struct ws_budget budget;
	struct ws_sandbox sb;
	bool tty;
	uint64_t t_start, t_end;
};

/* Begin a recording in the pipeline's database. */
static int begin_recording(struct pipeline *p, const struct rec_cfg *cfg)
{
	char *cmdline = join_args(cfg->argc, cfg->argv);
	char boot[64];
	ws_boot_id(boot, sizeof(boot));
	struct ws_recording r = {.source = cfg->agent ? "agent" : "live", .host = p->host, .command = cmdline,
				 .started_ns = ws_now_real_ns(), .boot_id = boot[0] ? boot : NULL};
	int rc = pipeline_begin(p, &r);

	free(cmdline);
	return rc;
}

/* What the recorder kept of root: `status` shows it from now on. */
static void store_privileges(struct pipeline *p, const struct ws_sandbox *sb)
{
	const struct ws_counter rows[] = {
		{"privileges", "capabilities", sb->caps},
		{"privileges", "no_new_privs", sb->no_new_privs},
		{"privileges", "seccomp_syscalls", sb->seccomp ? sb->syscalls : 0},
	};

	pipeline_put_counters(p, rows, WS_ARRAY_SIZE(rows));
	pipeline_commit(p);
}

/* The agent's turn: close this database (a complete recording of its
 * own) and go on in the next; exchanges in progress end in the next. */
static int rotate(struct rec *R)
{
	struct rec_cfg *cfg = R->cfg;
	struct pipeline *p = &R->p;
	char next[4096], err[1024];

	store_kernel_facts(p, R->l);
	if (store_counters(p, &R->rs, "complete"))
		return -1;
	uint64_t spans = p->spans;
	cfg->agent->next_db(cfg->agent->ctx, next, sizeof(next));
	int rc = pipeline_rotate(p, next, err, sizeof(err));
	cfg->agent->closed(cfg->agent->ctx, cfg->db, spans);
	ws_strlcpy(cfg->db, next, sizeof(cfg->db));
	if (rc) {
		ws_err("%s", err);
		return -1;
	}
	if (begin_recording(p, cfg))
		return -1;
	store_privileges(p, &R->sb);
	return p->store_failed ? -1 : 0;
}

/* record --otlp: the recording's spans, linked, to a collector. */
static int export_at_end(const struct rec_cfg *cfg, const char *db, uint64_t spans)
{
	struct ws_otlp_send_opts so = {.url = cfg->otlp, .format = cfg->otlp_json ? WS_OTLP_JSON : WS_OTLP_PROTOBUF,
				       .gzip = true};
	char err[512];
	uint64_t sent = 0;
	struct ws_otlp_sender *snd = ws_otlp_sender_new(&so, err, sizeof(err));

	if (!snd) {
		ws_err("%s", err);
		return -1;
	}
	int rc = cli_export_file(db, snd, so.format, 512, 0, &sent);
	fprintf(stderr, "wirespan: sent %llu of %llu spans to %s%s\n", (unsigned long long)sent,
		(unsigned long long)spans, ws_otlp_sender_url(snd),
		rc ? " (the collector did not take the rest: `wirespan export` can send them again)" : "");
	ws_otlp_sender_free(snd);
	return rc;
}

/* What the agent hears each tick. */
static void report(const struct rec_cfg *cfg, struct pipeline *p, const struct rec_stats *rs)
{
	struct ws_counter rows[REC_COUNTERS];
	size_t n = rec_counters(rs, p, rows);
	struct rec_report r = {.rows = rows, .nrows = n, .lost = total_lost(p, rs), .records = p->records,
			       .user_ns = rs->user_ns, .sys_ns = rs->sys_ns, .bpf_ns = rs->bpf_ns,
			       .max_rss_kb = rs->max_rss_kb, .conns_evicted = ct_stats(p->ct)->conns_evicted};
	cfg->agent->tick(cfg->agent->ctx, &r);
}

/* The event file --save-events asked for: never through a link, never
 * someone else's file. */
static int open_event_file(struct pipeline *p, const struct rec_cfg *cfg)
{
	char err[1024];
	bool created;
	int fd = ws_privfile_open(cfg->save_path, "event file", &created, err, sizeof(err));

	if (fd >= 0 && (fchmod(fd, 0600) != 0 || ftruncate(fd, 0) != 0 || !(p->save = fdopen(fd, "wb")))) {
		snprintf(err, sizeof(err), "cannot write event file %s: %s", cfg->save_path, strerror(errno));
		close(fd);
	}
	if (!p->save) {
		ws_err("%s", err);
		return -1;
	}
	if (cfg->save_raw)
		ws_warn("--save-raw: %s keeps the captured bytes as they were (request lines, headers, "
			"the first bytes of bodies), secrets included; keep it private",
			cfg->save_path);
	else
		p->save_mask = ws_evmask_new(1u << 20);
	return 0;
}

static void close_event_file(struct pipeline *p, const struct rec_cfg *cfg)
{
	if (!p->save)
		return;
	if (fclose(p->save) || p->save_errors)
		ws_warn("the event file %s is incomplete (%llu records not written)", cfg->save_path,
			(unsigned long long)p->save_errors);
	p->save = NULL;
	ws_evmask_free(p->save_mask);
	p->save_mask = NULL;
}

/* Open everything a recording needs, in order: the database and its first
 * recording, the event file, the kernel half, the runtime watch. 0, or 1
 * after a message; rec_close frees what was opened either way. */
static int rec_open(struct rec *R)
{
	struct rec_cfg *cfg = R->cfg;
	struct pipeline *p = &R->p;
	char err[1024], w[512];

	if (cfg->host)
		ws_strlcpy(p->host, cfg->host, sizeof(p->host));
	else if (cfg->netns_path) {
		const char *b = strrchr(cfg->netns_path, '/');
		ws_strlcpy(p->host, b ? b + 1 : cfg->netns_path, sizeof(p->host));
	} else if (gethostname(p->host, sizeof(p->host)) != 0)
		ws_strlcpy(p->host, "localhost", sizeof(p->host));
	p->debug_events = cfg->debug_events;
	p->live = true;
	if (live_preflight(err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	umask(077);
	if (pipeline_open(p, cfg->db, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	if (cfg->agent && cfg->agent->sink)
		pipeline_add_sink(p, cfg->agent->sink);
	if (begin_recording(p, cfg)) {
		ws_err("cannot write to %s: %s", cfg->db, pipeline_errmsg(p));
		return 1;
	}
	if (cfg->save_path && open_event_file(p, cfg))
		return 1;
	if (*ws_privfile_dir_warning(cfg->db, w, sizeof(w)))
		ws_warn("%s", w);
	if (cfg->save_path && *ws_privfile_dir_warning(cfg->save_path, w, sizeof(w)))
		ws_warn("%s", w);
	p->mono_to_real = ws_mono_to_real_offset();
	if (p->save)
		ws_evfile_write_header(p->save, p->mono_to_real, p->save_mask ? WS_EVFILE_MASKED : 0);
	if (live_open(&cfg->lc, on_record, p, &R->l, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	R->rw = (struct rt_watch){.rt = ws_runtimes_new(R->l, cfg->go_probes, cfg->py_probes, cfg->tls_probes),
				  .p = p,
				  .lc = &cfg->lc,
				  .quiet = cfg->quiet};
	ws_hashmap_init(&R->rw.seen);
	ws_runtimes_tls_system(R->rw.rt);
	look_at_all(&R->rw);
	p->on_process = look_at;
	p->process_ctx = &R->rw;
	int recovered = live_recover_blocked(R->l);
	if (recovered)
		ws_debug("%d threads were blocked in socket syscalls at start", recovered);
	return 0;
}

/* Every program is attached: start the budget, give up what the recorder
 * no longer needs of root, start the agent's threads, and say so. */
static int rec_start_capture(struct rec *R)
{
	struct rec_cfg *cfg = R->cfg;
	struct pipeline *p = &R->p;
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char err[1024], when[64];

	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	R->tty = !cfg->quiet && isatty(STDERR_FILENO);
	R->t_start = ws_now_mono_ns();
	R->t_end = cfg->duration > 0 ? R->t_start + (uint64_t)(cfg->duration * 1e9) : UINT64_MAX;
	rec_start(&R->rs);
	rec_sample(&R->rs, R->l);
	R->rs.kernel_bytes = live_kernel_bytes(R->l); /* maps and rings are sized at load time */
	ws_budget_init(&R->budget, cfg->budget_pct, ncpu > 0 ? (int)ncpu : 1, R->t_start, own_cpu_ns(&R->rs));
	if (cfg->budget_pct > 0 && !live_stats_enabled(R->l))
		ws_warn("the CPU budget counts user space only");
	pipeline_shed(p, 0, 0, cfg->budget_pct, ws_budget_action(0));
	/* from here on the recorder needs little of root (sandbox.h) */
	if (cfg->sandbox && (cfg->go_probes || cfg->py_probes || cfg->tls_probes) &&
	    live_start_attacher(R->l, err, sizeof(err)))
		ws_warn("%s: Go, Python and TLS processes that start from now on get no probes", err);
	if (cfg->sandbox && ws_sandbox_enter(cfg->agent || cfg->otlp ? WS_SANDBOX_AGENT : WS_SANDBOX_RECORDER, true,
					     &R->sb, err, sizeof(err)))
		ws_warn("%s; recording with the privileges that remain", err);
	if (cfg->sandbox) /* capabilities are per thread: its thread starts again with ours */
		pipeline_restart_threads(p);
	else
		R->sb.caps = UINT64_MAX;
	store_privileges(p, &R->sb);
	/* the agent's own threads start now, with what remains of root */
	if (cfg->agent && cfg->agent->started && cfg->agent->started(cfg->agent->ctx, err, sizeof(err))) {
		ws_err("%s", err);
		return 1;
	}
	/* what is sent from now on is captured. Said even with --quiet:
	 * scripts wait for this line. */
	fprintf(stderr, "wirespan: capturing since %s (%.0f ms after start); recording to %s%s\n",
		ws_fmt_clock(ws_now_real_ns(), when, sizeof(when)), (ws_now_mono_ns() - cfg->t_invoked) / 1e6, cfg->db,
		cfg->duration > 0 ? "" : "; press Ctrl-C to stop");
	return 0;
}

/* Four times a second: what the recorder costs against its budget (it
 * sheds within a quarter of a second of going over). */
static void rec_budget(struct rec *R)
{
	rec_sample(&R->rs, R->l);
	budget_tick(&R->p, R->l, &R->budget, &R->rs, R->cfg->quiet, R->tty);
}

/* Once a second: sample, counters, status line; the agent's tick and
 * rotation. 0, or -1 when the next database cannot be started. */
static int rec_tick(struct rec *R, uint64_t now)
{
	struct rec_cfg *cfg = R->cfg;
	struct pipeline *p = &R->p;

	rec_sample(&R->rs, R->l);
	ws_runtimes_tls_counts(R->rw.rt, &R->rs.tls_files, &R->rs.tls_files_failed);
	store_counters(p, &R->rs, NULL);
	if (R->tty)
		status_line(p, now - R->t_start, total_lost(p, &R->rs), &R->budget);
	if (!cfg->agent)
		return 0;
	report(cfg, p, &R->rs);
	if (!p->store_failed && cfg->agent->rotate_due(cfg->agent->ctx, cfg->db) && rotate(R)) {
		ws_err("cannot start the next database %s; stopping", cfg->db);
		return -1;
	}
	return 0;
}

/* Wait for the rings, drain them, release records in time order up to
 * the watermark, tick, commit; until a signal, --duration or a failure.
 * 0, or 1 after a message. */
static int rec_loop(struct rec *R)
{
	struct pipeline *p = &R->p;
	uint64_t last_commit = R->t_start, last_tick = R->t_start, last_budget = R->t_start;
	int nrings = live_ncpus(R->l), rc = 0;
	bool *partial = ws_calloc(nrings, sizeof(*partial)), more = false;

	ring_last = ws_calloc(nrings, sizeof(*ring_last));
	while (!stop_requested && !p->store_failed) {
		uint64_t now = ws_now_mono_ns();
		if (now >= R->t_end)
			break;
		int wait_ms = more ? 0 : (int)WS_MIN(100, (R->t_end - now) / 1000000 + 1);
		if (live_wait(R->l, wait_ms) < 0) {
			ws_err("waiting for events: %s", strerror(errno));
			rc = 1;
			break;
		}
		uint64_t t0 = ws_now_mono_ns(), wm = t0 - WATERMARK_SLACK_NS;
		more = live_drain(R->l, DRAIN_MAX_NS, partial);
		/* a ring left with records holds none committed much before the
		 * last one taken from it */
		for (int i = 0; more && i < nrings; i++)
			if (partial[i] && ring_last[i] < wm + WATERMARK_SLACK_NS)
				wm = ring_last[i] > WATERMARK_SLACK_NS ? ring_last[i] - WATERMARK_SLACK_NS : 0;
		ws_reorder_release(&p->ro, wm, on_ordered, p);
		ct_advance(p->ct, wm + p->mono_to_real);
		if (t0 - last_budget >= BUDGET_NS) {
			rec_budget(R);
			last_budget = t0;
		}
		if (t0 - last_tick >= TICK_NS) {
			if (rec_tick(R, t0)) {
				rc = 1;
				break;
			}
			last_tick = t0;
		}
		if (t0 - last_commit >= COMMIT_EVERY_NS) {
			pipeline_commit(p);
			last_commit = t0;
		}
	}
	free(partial);
	free(ring_last);
	ring_last = NULL;
	if (p->store_failed) {
		ws_err("cannot write to %s (%s); stopping: what was recorded before is kept", R->cfg->db,
		       pipeline_errmsg(p));
		rc = 1;
	}
	return rc;
}

/* Stop the kernel side, take everything it wrote, end the recording with
 * its counters, link its traces, send them (--otlp), say what happened. */
static int rec_finish(struct rec *R, int rc)
{
	struct rec_cfg *cfg = R->cfg;
	struct pipeline *p = &R->p;
	struct rec_stats *rs = &R->rs;
	double recorded_s = (ws_now_mono_ns() - R->t_start) / 1e9;

	if (R->tty)
		fputs("\r\033[K", stderr);
	live_detach(R->l);
	live_drain(R->l, 0, NULL);
	ws_reorder_release(&p->ro, UINT64_MAX, on_ordered, p);
	ct_flush(p->ct);
	rec_sample(rs, R->l);
	ws_runtimes_tls_counts(R->rw.rt, &rs->tls_files, &rs->tls_files_failed);
	rs->misses = live_recursion_misses(R->l);
	/* entries added and never removed, and no longer in the table, were
	 * evicted (LRU) to make room */
	uint64_t left = live_conn_entries(R->l), in = rs->kc[WS_KC_CONN_ADDED] - rs->kc[WS_KC_CONN_REMOVED];
	rs->conn_evicted = rs->kc[WS_KC_CONN_ADDED] >= rs->kc[WS_KC_CONN_REMOVED] && in > left ? in - left : 0;
	left = live_gwake_entries(R->l);
	in = rs->kc[WS_KC_GO_WAKE_ADDED] - rs->kc[WS_KC_GO_WAKE_REMOVED];
	rs->gwake_evicted = rs->kc[WS_KC_GO_WAKE_ADDED] >= rs->kc[WS_KC_GO_WAKE_REMOVED] && in > left ? in - left : 0;
	store_kernel_facts(p, R->l);
	close_event_file(p, cfg);
	bool failed_before = p->store_failed;
	if (store_counters(p, rs, rc ? "failed" : "complete")) {
		if (!failed_before)
			ws_err("cannot write to %s (%s): what was recorded before is kept", cfg->db, pipeline_errmsg(p));
		rc = 1;
	} else if (!cfg->agent && pipeline_link(p, WS_LINK_MAX_SPANS)) {
		/* the agent's databases are linked by its exporter, the last one too */
		rc = 1;
	} else if (cfg->otlp && export_at_end(cfg, cfg->db, p->spans)) {
		rc = 1;
	}
	if (cfg->agent)
		cfg->agent->closed(cfg->agent->ctx, cfg->db, p->spans);
	print_summary(p, recorded_s, rs);
	if (R->rw.go)
		fprintf(stderr, "wirespan: Go processes: %llu, goroutines traced in %llu; %llu goroutines created\n",
			(unsigned long long)R->rw.go, (unsigned long long)R->rw.go_traced,
			(unsigned long long)p->goroutines);
	if (R->rw.py)
		fprintf(stderr, "wirespan: asyncio processes: %llu, tasks traced in %llu; %llu tasks created\n",
			(unsigned long long)R->rw.py, (unsigned long long)R->rw.py_traced,
			(unsigned long long)p->py_tasks);
	return rc;
}

/* The one exit: whatever rec_open opened, in reverse. A recording that
 * did not get as far as capturing is marked failed. */
static void rec_close(struct rec *R, bool captured)
{
	struct pipeline *p = &R->p;

	if (!captured && p->rec_id > 0) {
		struct ws_counter none[1];
		pipeline_end(p, none, 0, 0, "failed");
	}
	close_event_file(p, R->cfg);
	ws_runtimes_free(R->rw.rt);
	ws_hashmap_free(&R->rw.seen);
	live_close(R->l);
	pipeline_close(p);
}

static int rec_run(struct rec_cfg *cfg)
{
	struct rec R = {.cfg = cfg};
	int rc = rec_open(&R);

	if (!rc) {
		rc = rec_start_capture(&R);
		rc = rec_finish(&R, rc ? rc : rec_loop(&R));
	}
	rec_close(&R, R.t_start != 0);
	return rc;
}

int cmd_record(int argc, char **argv)
{
	struct rec_cfg cfg = {0};
	int rc = rec_parse(argc, argv, &cfg);

	return rc >= 0 ? rc : rec_run(&cfg);
}

int cli_record_agent(int argc, char **argv, const struct rec_agent *agent)
{
	struct rec_cfg cfg = {0};
	int rc = rec_parse(argc, argv, &cfg);

	if (rc >= 0)
		return rc;
	cfg.agent = agent;
	return rec_run(&cfg);
}

/* ---- replay: the same pipeline fed from a saved event file ---- */

static void usage_replay(FILE *f)
{
	fprintf(f, "usage: wirespan replay [--db FILE] [--host NAME] EVENTS_FILE\n\n"
		   "Run an event stream saved by `wirespan record --save-events` through the\n"
		   "pipeline again, without a kernel, and store the spans.\n");
}

int cmd_replay(int argc, char **argv)
{
	const char *db = NULL, *host = NULL;
	struct pipeline p = {.link_in_memory = true};
	const struct cli_opt opts[] = {
		CLI_DB(&db),
		CLI_STR("host", &host),
		CLI_SET("debug-events", &p.debug_events),
		{0},
	};
	const struct cli_cmd cmd = {.name = "replay", .usage = usage_replay, .opts = opts, .nargs = 1,
				    .args_what = "an event file"};
	char err[512];
	int rc = cli_parse(&cmd, argc, argv);

	if (rc >= 0)
		return rc;
	rc = 0;
	const char *path = argv[argc - 1];
	FILE *f = fopen(path, "rbe");
	if (!f) {
		ws_err("cannot read %s: %s", path, strerror(errno));
		return 1;
	}
	unsigned evflags;
	if (ws_evfile_read_header(f, &p.mono_to_real, &p.abi, &evflags, err, sizeof(err))) {
		ws_err("%s: %s", path, err);
		fclose(f);
		return 1;
	}
	fprintf(stderr, "wirespan: %s: payloads %s\n", path,
		evflags & WS_EVFILE_MASKED ? "masked when recorded (only what spans store was kept)"
					   : "as captured (--save-raw, or an older file)");
	ws_strlcpy(p.host, host ? host : "replay", sizeof(p.host));
	umask(077);
	struct ws_recording r = {.source = "replay", .host = p.host, .command = path, .started_ns = ws_now_real_ns()};
	if (pipeline_open(&p, db, err, sizeof(err)) || pipeline_begin(&p, &r)) {
		if (p.store)
			ws_err("cannot write to %s: %s", db, pipeline_errmsg(&p));
		else
			ws_err("%s", err);
		pipeline_close(&p);
		fclose(f);
		return 1;
	}

	uint8_t *buf = NULL;
	size_t cap = 0;
	uint32_t len;
	int got;
	uint64_t t0 = ws_now_mono_ns();
	uint64_t max_commit = 0;
	while ((got = ws_evfile_read(f, &buf, &cap, &len)) == 1) {
		uint64_t key, commit;
		on_record(&p, 0, buf, len);
		if (len >= 1 && len >= ws_kevent_min_size(buf, p.abi)) {
			ws_kevent_order(buf, &key, &commit);
			max_commit = WS_MAX(max_commit, commit);
		}
		/* the file holds records in drain order: release as live does */
		if (p.records % 65536 == 0 && max_commit > 100 * WATERMARK_SLACK_NS) {
			uint64_t wm = max_commit - 100 * WATERMARK_SLACK_NS;
			ws_reorder_release(&p.ro, wm, on_ordered, &p);
			ct_advance(p.ct, wm + p.mono_to_real);
		}
	}
	if (got < 0) {
		ws_warn("%s is truncated or corrupt after %llu records; replaying those", path,
			(unsigned long long)p.records);
		rc = 1;
	}
	ws_reorder_release(&p.ro, UINT64_MAX, on_ordered, &p);
	ct_flush(p.ct);
	struct rec_stats rs = {0};
	if (store_counters(&p, &rs, rc ? "failed" : "complete")) {
		ws_err("cannot write to %s (%s): what was stored before is kept", db, pipeline_errmsg(&p));
		rc = 1;
	} else if (pipeline_link(&p, 0)) {
		rc = 1;
	} else {
		/* the spans were held until they were linked: stored now */
		const struct ws_counter stored = {"stat", "spans_stored", p.spans_committed};
		pipeline_put_counters(&p, &stored, 1);
		if (pipeline_commit(&p))
			rc = 1;
	}
	print_summary(&p, (ws_now_mono_ns() - t0) / 1e9, &rs);
	free(buf);
	fclose(f);
	pipeline_close(&p);
	return rc;
}
