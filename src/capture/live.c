/* live.c -- loader for the kernel half (capture.bpf.c).
 *
 * Open the skeleton, set the filters as read-only globals, size the
 * per-CPU tables, load, create one ring buffer per CPU and put it in the
 * ring array, attach. Every tracepoint is checked first: a syscall the
 * kernel lacks is skipped with a note, not a failure. */
#include "capture/live.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <signal.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "capture.skel.h"
#include "capture/sandbox.h"
#include "util/util.h"

/* One consumer per CPU ring, so that each can be drained a bounded amount
 * at a time (libbpf's consume loops while a producer keeps up). */
struct live_ring {
	struct live *l;
	struct ring_buffer *rb;
	int idx;
	unsigned taken;
	uint64_t until; /* this drain stops taking from the ring at this time (0: never) */
};

/* A uprobe: attached here, or by the attacher (its number there). */
struct probe {
	struct bpf_link *link;
	uint32_t remote;
};

struct live {
	struct capture_bpf *skel;
	struct probe *uprobes; /* Go runtime and asyncio probes, per binary */
	size_t nuprobes;
	int attacher;          /* socket to the attacher, -1 none */
	pid_t attacher_pid;
	struct live_ring *rings;
	int epfd;
	int *ring_fds;
	int ncpus;
	live_record_fn fn;
	void *ctx;
	bool attached;
	int stats_fd; /* holds the kernel's BPF run-time statistics on */
};

/* ---- libbpf messages: kept, shown with --verbose or on failure ---- */

static char libbpf_log[8192];
static size_t libbpf_log_len;

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[1024];
	va_list ap2;
	int n;

	if (level == LIBBPF_DEBUG && ws_verbose < 2)
		return 0;
	va_copy(ap2, ap);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n >= 0 && ws_verbose) /* whole, verifier logs included */
		vfprintf(stderr, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (libbpf_log_len + n >= sizeof(libbpf_log))
		libbpf_log_len = 0; /* keep the most recent messages */
	memcpy(libbpf_log + libbpf_log_len, line, n);
	libbpf_log_len += n;
	libbpf_log[libbpf_log_len] = 0;
	return 0;
}

/* ---- pre-flight ---- */

static bool have_caps(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long eff = 0;

	if (!f)
		return geteuid() == 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	bool sys_admin = eff & (1ull << 21), perfmon = eff & (1ull << 38), bpf = eff & (1ull << 39);
	return sys_admin || (bpf && perfmon);
}

static const char *tracefs_dir(void)
{
	static const char *const dirs[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};
	char p[256];

	for (size_t i = 0; i < WS_ARRAY_SIZE(dirs); i++) {
		snprintf(p, sizeof(p), "%s/events", dirs[i]);
		if (access(p, R_OK) == 0)
			return dirs[i];
	}
	return NULL;
}

int live_preflight(char *err, size_t errlen)
{
	if (!have_caps()) {
		snprintf(err, errlen,
			 "recording needs root (or CAP_BPF and CAP_PERFMON) to load eBPF programs; "
			 "run it as root, e.g. `sudo wirespan record`");
		return -1;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(err, errlen,
			 "this kernel exposes no BTF type information (/sys/kernel/btf/vmlinux: %s); wirespan needs a "
			 "kernel built with CONFIG_DEBUG_INFO_BTF=y (Linux 5.8 or later)",
			 strerror(errno));
		return -1;
	}
	if (!tracefs_dir()) {
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) != 0 || !tracefs_dir()) {
			snprintf(err, errlen,
				 "tracefs is not mounted and mounting it failed (%s); mount it with "
				 "`mount -t tracefs tracefs /sys/kernel/tracing` and try again",
				 strerror(errno));
			return -1;
		}
		ws_warn("tracefs was not mounted; mounted it at /sys/kernel/tracing");
	}
	char p[256];
	snprintf(p, sizeof(p), "%s/events/syscalls", tracefs_dir());
	if (access(p, R_OK) != 0) {
		snprintf(err, errlen,
			 "this kernel has no syscall tracepoints (%s missing); wirespan needs CONFIG_FTRACE_SYSCALLS=y", p);
		return -1;
	}
	return 0;
}

/* Skip programs whose tracepoint this kernel does not have. */
static void skip_missing_tracepoints(struct capture_bpf *skel)
{
	struct bpf_program *prog;
	const char *dir = tracefs_dir();
	struct btf *vmlinux = btf__load_vmlinux_btf();
	char p[512];

	if (libbpf_get_error(vmlinux))
		vmlinux = NULL;
	bpf_object__for_each_program(prog, skel->obj)
	{
		const char *sec = bpf_program__section_name(prog);
		if (strncmp(sec, "tp_btf/", 7) == 0 && vmlinux) {
			snprintf(p, sizeof(p), "btf_trace_%s", sec + 7);
			if (btf__find_by_name_kind(vmlinux, p, BTF_KIND_TYPEDEF) < 0) {
				ws_warn("kernel has no tracepoint %s: %s is not traced", sec + 7, bpf_program__name(prog));
				bpf_program__set_autoload(prog, false);
			}
			continue;
		}
		if (strncmp(sec, "tracepoint/", 11) != 0 || !dir)
			continue;
		snprintf(p, sizeof(p), "%s/events/%s", dir, sec + 11);
		if (access(p, F_OK) != 0) {
			ws_warn("kernel has no tracepoint %s: %s is not traced", sec + 11, bpf_program__name(prog));
			bpf_program__set_autoload(prog, false);
		}
	}
	btf__free(vmlinux);
}

static int on_sample(void *ctx, void *data, size_t size)
{
	struct live_ring *r = ctx;

	r->l->fn(r->l->ctx, r->idx, data, size);
	/* the record is consumed; past the drain's time, stop this ring (the
	 * clock is read once every 256 records) */
	if (r->until && (++r->taken & 255) == 0 && ws_now_mono_ns() > r->until)
		return -E2BIG;
	return 0;
}

static void load_error(int rc, const char *step, char *err, size_t errlen)
{
	int e = rc < 0 ? -rc : rc;

	if (e == EPERM || e == EACCES)
		snprintf(err, errlen,
			 "%s: permission denied; run as root (CAP_BPF, CAP_PERFMON) and check that "
			 "kernel.unprivileged_bpf_disabled or a security module does not forbid BPF",
			 step);
	else
		snprintf(err, errlen, "%s: %s%s", step, strerror(e),
			 ws_verbose ? "" : " (run with --verbose for the loader log)");
	if (!ws_verbose && libbpf_log_len)
		fprintf(stderr, "%s", libbpf_log);
}

/* The programs the last shed level detaches: those of the syscalls that
 * move data (not connect, accept, close), and the per-packet and scheduler
 * hooks, which only time data. Connection lifecycle and TCP facts stay. */
static bool data_prog(const struct bpf_program *prog)
{
	static const char *const lifecycle[] = {"connect", "accept", "accept4", "close"};
	static const char *const timing[] = {"tp_btf/tcp_probe", "tp_btf/sched_switch", "tp_btf/sched_wakeup"};
	const char *sec = bpf_program__section_name(prog), *name;

	for (size_t i = 0; i < WS_ARRAY_SIZE(timing); i++)
		if (strcmp(sec, timing[i]) == 0)
			return true;
	if (strncmp(sec, "tracepoint/syscalls/sys_", 24) != 0 || !(name = strchr(sec + 24, '_')))
		return false;
	for (size_t i = 0; i < WS_ARRAY_SIZE(lifecycle); i++)
		if (strcmp(name + 1, lifecycle[i]) == 0)
			return false;
	return true;
}

/* Attach the programs not yet attached (only_data: the data syscalls'),
 * exits before entries: an entry seen without its exit would leave a note
 * that a later syscall of the thread could take for its own. */
static int attach_progs(struct live *l, bool only_data)
{
	struct bpf_object_skeleton *sk = l->skel->skeleton;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < sk->prog_cnt; i++) {
			struct bpf_program *prog = *sk->progs[i].prog;
			const char *sec = bpf_program__section_name(prog);
			bool entry = strncmp(sec, "tracepoint/syscalls/sys_enter_", 30) == 0;
			if (entry != (pass == 1) || !bpf_program__autoload(prog) || *sk->progs[i].link ||
			    (only_data && !data_prog(prog)) || strcmp(sec, "uprobe") == 0 ||
			    strcmp(sec, "uretprobe") == 0 /* per binary: live_go_attach, live_py_attach */)
				continue;
			*sk->progs[i].link = bpf_program__attach(prog);
			if (!*sk->progs[i].link)
				return -1;
		}
	}
	return 0;
}

int live_open(const struct live_config *cfg, live_record_fn fn, void *ctx, struct live **out, char *err,
	      size_t errlen)
{
	struct live *l = ws_calloc(1, sizeof(*l));
	struct capture_bpf *skel;
	int rc;

	*out = NULL;
	libbpf_set_print(libbpf_print);
	l->fn = fn;
	l->ctx = ctx;
	l->stats_fd = -1;
	l->epfd = -1;
	l->attacher = -1;
	l->ncpus = libbpf_num_possible_cpus();
	if (l->ncpus <= 0) {
		snprintf(err, errlen, "cannot count CPUs: %s", strerror(-l->ncpus));
		free(l);
		return -1;
	}
	skel = capture_bpf__open();
	if (!skel) {
		load_error(errno, "opening the BPF object", err, errlen);
		free(l);
		return -1;
	}
	l->skel = skel;

	skel->rodata->cfg_self_tgid = getpid();
	skel->rodata->cfg_filter_pids = cfg->npids > 0;
	skel->rodata->cfg_ncomms = cfg->ncomms;
	for (size_t i = 0; i < cfg->ncomms; i++)
		memcpy((char *)skel->rodata->cfg_comms[i], cfg->comms[i], WS_COMM_LEN);
	skel->rodata->cfg_nports = cfg->nports;
	for (size_t i = 0; i < cfg->nports; i++)
		skel->rodata->cfg_ports[i] = cfg->ports[i];
	skel->rodata->cfg_netns = cfg->netns;
	skel->rodata->cfg_payload = cfg->payload;
	skel->rodata->cfg_wakeup_bytes = cfg->ring_bytes / 4;
	bpf_map__set_max_entries(skel->maps.rings, l->ncpus);
	bpf_map__set_max_entries(skel->maps.scratch, l->ncpus);
	skip_missing_tracepoints(skel);

	rc = capture_bpf__load(skel);
	if (rc) {
		load_error(rc, "loading BPF programs", err, errlen);
		goto fail;
	}
	for (size_t i = 0; i < cfg->npids; i++) {
		uint8_t one = 1;
		bpf_map__update_elem(skel->maps.pids, &cfg->pids[i], sizeof(uint32_t), &one, sizeof(one), BPF_ANY);
	}

	l->ring_fds = ws_calloc(l->ncpus, sizeof(int));
	l->rings = ws_calloc(l->ncpus, sizeof(*l->rings));
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		load_error(errno, "polling ring buffers", err, errlen);
		goto fail;
	}
	for (int cpu = 0; cpu < l->ncpus; cpu++) {
		int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, NULL, 0, 0, cfg->ring_bytes, NULL);
		if (fd < 0) {
			load_error(fd, "creating ring buffers", err, errlen);
			goto fail;
		}
		l->ring_fds[cpu] = fd;
		rc = bpf_map_update_elem(bpf_map__fd(skel->maps.rings), &cpu, &fd, BPF_ANY);
		if (rc) {
			load_error(rc, "installing ring buffers", err, errlen);
			goto fail;
		}
		struct live_ring *r = &l->rings[cpu];
		r->l = l;
		r->idx = cpu;
		r->rb = ring_buffer__new(fd, on_sample, r, NULL);
		struct epoll_event ee = {.events = EPOLLIN, .data.u32 = cpu};
		if (!r->rb || epoll_ctl(l->epfd, EPOLL_CTL_ADD, ring_buffer__epoll_fd(r->rb), &ee)) {
			load_error(errno, "polling ring buffers", err, errlen);
			goto fail;
		}
	}

	if (attach_progs(l, false)) {
		l->attached = true; /* detach what is attached */
		load_error(errno, "attaching BPF programs to tracepoints", err, errlen);
		goto fail;
	}
	l->attached = true;
	/* our own cost, measured: on while the fd is open (restored to the
	 * sysctl's setting when it closes) */
	l->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	if (l->stats_fd < 0)
		ws_warn("cannot enable BPF run-time statistics (%s): the kernel side's CPU time is not measured",
			strerror(errno));
	*out = l;
	return 0;
fail:
	live_close(l);
	return -1;
}

/* ---- syscalls already blocked when recording starts ---- */

static const struct {
	long nr;
	uint8_t sys, dir, msgflags_arg; /* msgflags_arg: index of a flags argument, or 0 */
} blocking[] = {
	{SYS_read, WS_SYS_READ, WS_DIR_RECV, 0},
	{SYS_readv, WS_SYS_READV, WS_DIR_RECV, 0},
	{SYS_recvfrom, WS_SYS_RECVFROM, WS_DIR_RECV, 3},
	{SYS_recvmsg, WS_SYS_RECVMSG, WS_DIR_RECV, 2},
	{SYS_write, WS_SYS_WRITE, WS_DIR_SEND, 0},
	{SYS_writev, WS_SYS_WRITEV, WS_DIR_SEND, 0},
	{SYS_sendto, WS_SYS_SENDTO, WS_DIR_SEND, 0},
	{SYS_sendmsg, WS_SYS_SENDMSG, WS_DIR_SEND, 0},
	/* not sendmmsg/recvmmsg: their return value counts messages, so the
	 * first byte's sequence number cannot be worked out at exit */
};

/* The syscall a thread is blocked in: number and first four arguments. */
static bool thread_syscall(const char *task_dir, long *nr, unsigned long long a[4])
{
	char p[512], line[512];
	FILE *f;
	bool ok;

	snprintf(p, sizeof(p), "%s/syscall", task_dir);
	f = fopen(p, "re");
	if (!f)
		return false;
	ok = fgets(line, sizeof(line), f) && sscanf(line, "%ld %llx %llx %llx %llx", nr, &a[0], &a[1], &a[2], &a[3]) == 5;
	fclose(f);
	return ok;
}

int live_recover_blocked(struct live *l)
{
	DIR *proc = opendir("/proc");
	struct dirent *pe;
	int fd = bpf_map__fd(l->skel->maps.inflight), n = 0;
	pid_t self = getpid();

	if (!proc)
		return 0;
	uint64_t now = ws_now_mono_ns();
	while ((pe = readdir(proc))) {
		char tdir[300], fdlink[300], target[64];
		pid_t pid = atoi(pe->d_name);
		DIR *tasks;
		struct dirent *te;

		if (pid <= 0 || pid == self)
			continue;
		snprintf(tdir, sizeof(tdir), "/proc/%d/task", pid);
		if (!(tasks = opendir(tdir)))
			continue;
		while ((te = readdir(tasks))) {
			pid_t tid = atoi(te->d_name);
			char task_dir[400];
			unsigned long long a[4];
			long nr;
			size_t k;

			if (tid <= 0)
				continue;
			snprintf(task_dir, sizeof(task_dir), "/proc/%d/task/%d", pid, tid);
			if (!thread_syscall(task_dir, &nr, a))
				continue;
			for (k = 0; k < WS_ARRAY_SIZE(blocking) && blocking[k].nr != nr; k++)
				;
			if (k == WS_ARRAY_SIZE(blocking))
				continue;
			if (blocking[k].msgflags_arg && (a[blocking[k].msgflags_arg] & 2 /* MSG_PEEK */))
				continue;
			snprintf(fdlink, sizeof(fdlink), "/proc/%d/fd/%llu", pid, a[0]);
			ssize_t tl = readlink(fdlink, target, sizeof(target) - 1);
			if (tl < 7 || memcmp(target, "socket:", 7) != 0)
				continue;
			struct ws_inflight f = {
				.ts_enter = now,
				.ubuf = a[1],
				.ulen = a[2],
				.fd = (uint32_t)a[0],
				.sys = blocking[k].sys,
				.dir = blocking[k].dir,
				.flags = WS_KF_RECOVERED,
			};
			if (blocking[k].sys == WS_SYS_RECVFROM && (a[3] & 0x20 /* MSG_TRUNC */))
				f.flags |= WS_KF_NOPAYLOAD;
			uint64_t key = (uint64_t)pid << 32 | (uint32_t)tid;
			if (bpf_map_update_elem(fd, &key, &f, BPF_NOEXIST))
				continue; /* it already entered a syscall we saw */
			/* the thread may have left the syscall meanwhile */
			long nr2;
			unsigned long long b[4];
			if (!thread_syscall(task_dir, &nr2, b) || nr2 != nr || memcmp(a, b, sizeof(a)) != 0) {
				/* unless the entry is already the kernel's own, for a
				 * syscall entered since */
				struct ws_inflight cur;
				if (bpf_map_lookup_elem(fd, &key, &cur) == 0 && (cur.flags & WS_KF_RECOVERED))
					bpf_map_delete_elem(fd, &key);
			} else {
				n++;
			}
		}
		closedir(tasks);
	}
	closedir(proc);
	return n;
}

int live_wait(struct live *l, int timeout_ms)
{
	struct epoll_event evs[16];
	int n = epoll_wait(l->epfd, evs, WS_ARRAY_SIZE(evs), timeout_ms);

	if (n < 0 && errno == EINTR)
		return 0;
	return n;
}

bool live_drain(struct live *l, uint64_t max_ns, bool *partial)
{
	bool more = false;

	for (int i = 0; i < l->ncpus; i++) {
		struct live_ring *r = &l->rings[i];
		r->taken = 0;
		r->until = max_ns ? ws_now_mono_ns() + max_ns : 0;
		int rc = ring_buffer__consume(r->rb);
		if (partial)
			partial[i] = rc == -E2BIG;
		more |= rc == -E2BIG;
	}
	return more;
}

static void *destroy_link(void *arg)
{
	bpf_link__destroy(arg);
	return NULL;
}

/* Detaching a syscall tracepoint waits for an RCU-tasks grace period
 * (about 70 ms here); tearing the links down in parallel lets those waits
 * overlap instead of adding up to seconds. */
static void detach_progs(struct live *l, bool only_data)
{
	struct bpf_object_skeleton *sk = l->skel->skeleton;
	pthread_t *threads;
	int n = 0;

	threads = ws_calloc(sk->prog_cnt, sizeof(*threads));
	for (int i = 0; i < sk->prog_cnt; i++) {
		struct bpf_link **link = sk->progs[i].link;
		if (!link || !*link || (only_data && !data_prog(*sk->progs[i].prog)))
			continue;
		if (pthread_create(&threads[n], NULL, destroy_link, *link) == 0)
			n++;
		else
			bpf_link__destroy(*link);
		*link = NULL;
	}
	for (int i = 0; i < n; i++)
		pthread_join(threads[i], NULL);
	free(threads);
}

/* ---- the attacher ----
 * Creating a uprobe takes CAP_SYS_ADMIN on this kernel, which the recorder
 * gives up once it captures (capture/sandbox.h). A child forked before
 * that keeps it, holds the BPF programs (inherited), and does one thing:
 * attach or detach a uprobe of one of its programs, on request over a
 * socket, under its own small allow-list. It ends when the socket does. */
enum { ATT_ATTACH = 1, ATT_DETACH };

struct attach_req {
	uint8_t op, prog, ret; /* prog: an index into uprobe_progs() */
	uint32_t id;
	uint64_t offset, cookie;
	char path[512];
};

struct attach_rep {
	int32_t rc;
	uint32_t id;
};

static int full_io(int fd, void *buf, size_t n, bool wr)
{
	for (size_t done = 0; done < n;) {
		ssize_t k = wr ? write(fd, (char *)buf + done, n - done) : read(fd, (char *)buf + done, n - done);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		done += (size_t)k;
	}
	return 0;
}

static int attacher_call(struct live *l, const struct attach_req *q, struct attach_rep *r)
{
	if (full_io(l->attacher, (void *)q, sizeof(*q), true) || full_io(l->attacher, r, sizeof(*r), false)) {
		close(l->attacher); /* gone: no more probes, said by their callers */
		l->attacher = -1;
		return -1;
	}
	return 0;
}

static void probe_drop_last(struct live *l)
{
	struct probe *pr = &l->uprobes[--l->nuprobes];

	if (pr->link) {
		bpf_link__destroy(pr->link);
	} else if (l->attacher >= 0) {
		struct attach_req q = {.op = ATT_DETACH, .id = pr->remote};
		struct attach_rep r;
		attacher_call(l, &q, &r);
	}
}

#define UPROBE_PROGS 5

/* The programs attached per binary, by the index the attacher is sent. */
static void uprobe_progs(const struct live *l, struct bpf_program *progs[UPROBE_PROGS])
{
	progs[0] = l->skel->progs.go_runtime;
	progs[1] = l->skel->progs.py_task;
	progs[2] = l->skel->progs.py_task_ret;
	progs[3] = l->skel->progs.tls_enter;
	progs[4] = l->skel->progs.tls_exit;
}

static void __attribute__((noreturn)) attacher_main(struct live *l, int sock)
{
	struct bpf_program *progs[UPROBE_PROGS];
	struct bpf_link **links = NULL;
	uint32_t nlinks = 0;
	struct attach_req q;
	struct ws_sandbox sb;
	char err[256];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	prctl(PR_SET_NAME, "wirespan-attach");
	/* keep the socket and the programs only: copies of the recorder's
	 * links would keep programs attached that the recorder detaches (the
	 * CPU budget), and its rings and database are not ours */
	uprobe_progs(l, progs);
	unsigned keep[UPROBE_PROGS + 1] = {(unsigned)sock};
	for (int i = 0; i < UPROBE_PROGS; i++)
		keep[i + 1] = (unsigned)bpf_program__fd(progs[i]);
	for (int i = 1; i < UPROBE_PROGS + 1; i++) /* ascending */
		for (int k = i; k > 0 && keep[k - 1] > keep[k]; k--) {
			unsigned t = keep[k];
			keep[k] = keep[k - 1];
			keep[k - 1] = t;
		}
	unsigned from = 0;
	for (int i = 0; i < UPROBE_PROGS + 1; i++) { /* every descriptor between the kept ones, however many */
		if (keep[i] > from)
			close_range(from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	close_range(from, ~0u, 0);
	if (ws_sandbox_enter(WS_SANDBOX_ATTACHER, true, &sb, err, sizeof(err)))
		_exit(1); /* the recorder sees the socket close: no probes */
	while (full_io(sock, &q, sizeof(q), false) == 0) {
		struct attach_rep r = {0};
		q.path[sizeof(q.path) - 1] = 0;
		if (q.op == ATT_ATTACH && q.prog < UPROBE_PROGS && nlinks < 1u << 20) {
			LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = q.cookie, .retprobe = q.ret != 0);
			struct bpf_link *link = bpf_program__attach_uprobe_opts(progs[q.prog], -1, q.path, q.offset, &o);
			if (link) {
				links = realloc(links, (nlinks + 1) * sizeof(*links));
				if (!links)
					_exit(1);
				links[nlinks] = link;
				r.id = nlinks++;
			} else {
				r.rc = -errno;
			}
		} else if (q.op == ATT_DETACH && q.id < nlinks && links[q.id]) {
			bpf_link__destroy(links[q.id]);
			links[q.id] = NULL;
		} else {
			r.rc = -EINVAL;
		}
		if (full_io(sock, &r, sizeof(r), true))
			break;
	}
	_exit(0); /* the links go with the process */
}

int live_start_attacher(struct live *l, char *err, size_t errlen)
{
	int sv[2];

	if (l->attacher >= 0 || !l->attached)
		return 0;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		snprintf(err, errlen, "cannot start the probe attacher: %s", strerror(errno));
		return -errno;
	}
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "cannot start the probe attacher: %s", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -errno;
	}
	if (pid == 0) {
		close(sv[0]);
		attacher_main(l, sv[1]);
	}
	close(sv[1]);
	l->attacher = sv[0];
	l->attacher_pid = pid;
	return 0;
}

void live_detach(struct live *l)
{
	if (!l->attached)
		return;
	detach_progs(l, false);
	while (l->nuprobes)
		probe_drop_last(l);
	free(l->uprobes);
	l->uprobes = NULL;
	l->nuprobes = 0;
	l->attached = false;
}

static int add_uprobe(struct live *l, struct bpf_program *prog, const char *binary, uint64_t offset, uint64_t cookie,
		      bool ret)
{
	struct probe pr = {0};

	if (l->attacher >= 0) {
		struct attach_req q = {.op = ATT_ATTACH, .ret = ret, .offset = offset, .cookie = cookie};
		struct attach_rep r;
		struct bpf_program *progs[UPROBE_PROGS];
		uprobe_progs(l, progs);
		while (q.prog < UPROBE_PROGS - 1 && progs[q.prog] != prog)
			q.prog++;
		if (strlen(binary) >= sizeof(q.path))
			return -ENAMETOOLONG;
		ws_strlcpy(q.path, binary, sizeof(q.path));
		if (attacher_call(l, &q, &r))
			return -EPIPE;
		if (r.rc)
			return r.rc;
		pr.remote = r.id;
	} else {
		LIBBPF_OPTS(bpf_uprobe_opts, o, .bpf_cookie = cookie, .retprobe = ret);
		pr.link = bpf_program__attach_uprobe_opts(prog, -1, binary, offset, &o);
		if (!pr.link)
			return -errno;
	}
	l->uprobes = ws_realloc(l->uprobes, (l->nuprobes + 1) * sizeof(*l->uprobes));
	l->uprobes[l->nuprobes++] = pr;
	return 0;
}

int live_go_attach(struct live *l, const char *binary, const uint64_t *offsets, const uint8_t *sites, size_t n)
{
	if (!l->attached)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!offsets[i])
			continue; /* the program has no such site */
		int rc = add_uprobe(l, l->skel->progs.go_runtime, binary, offsets[i], sites[i], false);
		if (rc)
			return rc;
	}
	return 0;
}

int live_py_attach(struct live *l, const char *binary, uint64_t step, uint64_t wakeup, uint64_t init)
{
	size_t before;
	int rc;

	if (!l->attached)
		return -EINVAL;
	before = l->nuprobes;
	struct bpf_program *p = l->skel->progs.py_task, *r = l->skel->progs.py_task_ret;
	/* the ends first: a step seen starting is always seen ending */
	if ((rc = add_uprobe(l, r, binary, step, 0, true)) || (rc = add_uprobe(l, r, binary, wakeup, 0, true)) ||
	    (rc = add_uprobe(l, p, binary, step, WS_PY_SITE_STEP, false)) ||
	    (rc = add_uprobe(l, p, binary, wakeup, WS_PY_SITE_WAKEUP, false)) ||
	    (rc = add_uprobe(l, p, binary, init, WS_PY_SITE_INIT, false))) {
		while (l->nuprobes > before) /* all or none: a step seen without its end would stay */
			probe_drop_last(l);
		return rc;
	}
	l->skel->bss->py_tasks_on = 1;
	return 0;
}

int live_tls_attach(struct live *l, const char *binary, const uint64_t offsets[WS_TLS_SITE_MAX])
{
	struct bpf_program *p = l->skel->progs.tls_enter, *r = l->skel->progs.tls_exit;
	size_t before;
	int rc = 0;

	if (!l->attached)
		return -EINVAL;
	before = l->nuprobes;
	/* the returns first: a call seen starting is always seen ending */
	for (int site = WS_TLS_SITE_READ; site < WS_TLS_SITE_MAX && !rc; site++)
		if (offsets[site] && site != WS_TLS_SITE_SET_FD)
			rc = add_uprobe(l, r, binary, offsets[site], (uint64_t)site, true);
	for (int site = WS_TLS_SITE_READ; site < WS_TLS_SITE_MAX && !rc; site++)
		if (offsets[site])
			rc = add_uprobe(l, p, binary, offsets[site], (uint64_t)site, false);
	if (rc) {
		while (l->nuprobes > before) /* all or none */
			probe_drop_last(l);
		return rc;
	}
	l->skel->bss->tls_on = 1;
	return 0;
}

int live_go_process(struct live *l, uint32_t pid, const struct ws_goproc *gp)
{
	int fd = bpf_map__fd(l->skel->maps.goprocs);

	if (!gp)
		return bpf_map_delete_elem(fd, &pid) && errno != ENOENT ? -errno : 0;
	return bpf_map_update_elem(fd, &pid, gp, BPF_ANY) ? -errno : 0;
}

int live_trace_data(struct live *l, bool on)
{
	if (!l->attached)
		return 0;
	if (on) {
		l->skel->bss->hook_epoch++; /* what the timing hooks noted before is stale */
		return attach_progs(l, true) ? -errno : 0;
	}
	detach_progs(l, true);
	/* notes of data syscalls entered before: their exits were not seen,
	 * and must not be taken for later ones' once attached again */
	int fd = bpf_map__fd(l->skel->maps.inflight);
	uint64_t key, next;
	struct ws_inflight f;
	/* step past a key before deleting it: the next key of a deleted one
	 * is the first of the map again */
	bool more = bpf_map_get_next_key(fd, NULL, &key) == 0;
	while (more) {
		more = bpf_map_get_next_key(fd, &key, &next) == 0;
		if (bpf_map_lookup_elem(fd, &key, &f) == 0 && f.sys != WS_SYS_CONNECT)
			bpf_map_delete_elem(fd, &key);
		key = next;
	}
	return 0;
}

/* Sum the n per-CPU values of each slot of a per-CPU array map. */
static void sum_percpu(struct live *l, const struct bpf_map *map, uint32_t n, uint64_t *out)
{
	uint64_t *vals = ws_calloc(l->ncpus, sizeof(uint64_t));

	for (uint32_t k = 0; k < n; k++) {
		out[k] = 0;
		if (bpf_map__lookup_elem(map, &k, sizeof(k), vals, l->ncpus * sizeof(uint64_t), 0))
			continue;
		for (int c = 0; c < l->ncpus; c++)
			out[k] += vals[c];
	}
	free(vals);
}

void live_counters(struct live *l, uint64_t out[WS_KC_MAX]) { sum_percpu(l, l->skel->maps.counters, WS_KC_MAX, out); }

void live_drops(struct live *l, uint64_t out[WS_DROP_REASONS])
{
	sum_percpu(l, l->skel->maps.drops, WS_DROP_REASONS, out);
}

static bool prog_info(const struct bpf_program *prog, struct bpf_prog_info *info)
{
	uint32_t len = sizeof(*info);
	int fd = bpf_program__fd(prog);

	memset(info, 0, sizeof(*info));
	return fd >= 0 && bpf_obj_get_info_by_fd(fd, info, &len) == 0;
}

/* One 64-bit field of bpf_prog_info (at offset off), summed over our programs. */
static uint64_t prog_sum(struct live *l, size_t off)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;
	uint64_t total = 0, v;

	bpf_object__for_each_program(prog, l->skel->obj)
		if (prog_info(prog, &info)) {
			memcpy(&v, (const char *)&info + off, sizeof(v));
			total += v;
		}
	return total;
}

uint64_t live_recursion_misses(struct live *l) { return prog_sum(l, offsetof(struct bpf_prog_info, recursion_misses)); }

int live_ncpus(const struct live *l) { return l->ncpus; }

bool live_stats_enabled(const struct live *l) { return l->stats_fd >= 0; }

size_t live_prog_stats(struct live *l, struct live_prog_stat *out, size_t max)
{
	struct bpf_program *prog;
	struct bpf_prog_info info;
	size_t n = 0;

	bpf_object__for_each_program(prog, l->skel->obj)
	{
		if (n == max || !prog_info(prog, &info))
			continue;
		const char *sec = bpf_program__section_name(prog);
		if (strncmp(sec, "tracepoint/", 11) == 0)
			sec += 11;
		ws_strlcpy(out[n].name, bpf_program__name(prog), sizeof(out[n].name));
		ws_strlcpy(out[n].hook, sec, sizeof(out[n].hook));
		out[n].runs = info.run_cnt;
		out[n].run_ns = info.run_time_ns;
		n++;
	}
	return n;
}

uint64_t live_bpf_ns(struct live *l) { return prog_sum(l, offsetof(struct bpf_prog_info, run_time_ns)); }

void live_set_shed(struct live *l, unsigned level)
{
	l->skel->bss->shed_level = level > WS_SHED_MAX ? WS_SHED_MAX : level;
}

static uint64_t map_entries(const struct bpf_map *map)
{
	int fd = bpf_map__fd(map);
	uint8_t key[64], next[64];
	uint64_t n = 0;
	void *prev = NULL;

	if (bpf_map__key_size(map) > sizeof(key))
		return 0;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		memcpy(key, next, bpf_map__key_size(map));
		prev = key;
		n++;
	}
	return n;
}

uint64_t live_conn_entries(struct live *l) { return map_entries(l->skel->maps.conns); }

uint64_t live_gwake_entries(struct live *l) { return map_entries(l->skel->maps.gwakes); }

/* "memlock:" of a map fd, from /proc/self/fdinfo */
static uint64_t fd_memlock(int fd)
{
	char p[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(p, sizeof(p), "/proc/self/fdinfo/%d", fd);
	if (!(f = fopen(p, "re")))
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

uint64_t live_kernel_bytes(struct live *l)
{
	struct bpf_map *map;
	uint64_t total = 0;

	bpf_object__for_each_map(map, l->skel->obj)
		if (bpf_map__fd(map) >= 0)
			total += fd_memlock(bpf_map__fd(map));
	for (int i = 0; l->ring_fds && i < l->ncpus; i++)
		if (l->ring_fds[i] > 0)
			total += fd_memlock(l->ring_fds[i]);
	return total;
}

void live_close(struct live *l)
{
	if (!l)
		return;
	live_detach(l);
	if (l->attacher >= 0)
		close(l->attacher); /* the attacher ends with its socket */
	if (l->attacher_pid > 0)
		waitpid(l->attacher_pid, NULL, 0);
	if (l->stats_fd >= 0)
		close(l->stats_fd);
	for (int i = 0; l->rings && i < l->ncpus; i++)
		ring_buffer__free(l->rings[i].rb);
	free(l->rings);
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->ring_fds)
		for (int i = 0; i < l->ncpus; i++)
			if (l->ring_fds[i] > 0)
				close(l->ring_fds[i]);
	free(l->ring_fds);
	capture_bpf__destroy(l->skel);
	free(l);
}
