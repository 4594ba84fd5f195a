/* sandbox.c -- see sandbox.h. libcap for the capability sets, libseccomp
 * for the filter. */
#include "capture/sandbox.h"

#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>

#include "util/util.h"

static const cap_value_t recorder_caps[] = {CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH};
/* the attacher creates uprobes, which this kernel grants CAP_SYS_ADMIN only */
static const cap_value_t attacher_caps[] = {CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH, CAP_SYS_ADMIN};

/* What the recorder calls once it captures: its own loop, SQLite, libbpf
 * (maps, ring buffers, re-attaching), libelf/libdw and capstone (new Go
 * processes), glibc's threads, time and memory. */
static const char *const allowed[] = {
	"read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "lseek", "close",
	"open", "openat", "openat2", "stat", "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs",
	"access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents64", "getcwd",
	"fcntl", "flock", "fsync", "fdatasync", "ftruncate", "fallocate", "unlink", "unlinkat", "rename",
	"renameat", "renameat2", "fchmod", "fchown", "umask",
	"dup", "dup2", "dup3", "pipe", "pipe2", "eventfd2",
	"mmap", "munmap", "mremap", "mprotect", "madvise", "brk", "mlock", "munlock", "membarrier",
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
	"sched_yield", "sched_getaffinity", "sched_setaffinity",
	"epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll", "select",
	"pselect6",
	"clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
	"timerfd_create", "timerfd_settime", "timerfd_gettime",
	"getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid",
	"getresgid", "capget", "prctl", "getrusage", "getrlimit", "prlimit64", "sysinfo", "uname", "times",
	"getrandom", "getpriority",
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack", "tgkill",
	"restart_syscall", "exit", "exit_group", "wait4",
	"bpf", "perf_event_open",
};

/* The agent's exporter and metrics server, on top of the recorder's. */
static const char *const agent_net[] = {
	"socket", "connect", "bind", "listen", "accept", "accept4", "getsockname", "getpeername", "getsockopt",
	"setsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "socketpair",
};

/* The attacher: read a request, open a uprobe, attach, answer. */
static const char *const attacher_allowed[] = {
	"read", "write", "close", "openat", "open", "fstat", "newfstatat", "statx", "lseek", "fcntl",
	"mmap", "munmap", "mremap", "brk", "madvise", "futex", "rt_sigreturn", "rt_sigprocmask", "getpid",
	"gettid", "clock_gettime", "exit", "exit_group", "bpf", "perf_event_open", "uname", "access", "faccessat",
	"faccessat2", "readlink", "readlinkat", "getuid", "geteuid",
};

const char *ws_sandbox_caps_text(uint64_t caps, char *buf, size_t n)
{
	size_t used = 0;

	buf[0] = 0;
	for (int c = 0; c < 64 && used + 1 < n; c++) {
		if (!(caps & (1ull << c)))
			continue;
		char *name = cap_to_name(c);
		int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name ? name : "?");
		cap_free(name);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(buf, n, "none");
	return buf;
}

static uint64_t effective_now(void)
{
	uint64_t caps = 0;
	cap_t c = cap_get_proc();

	if (!c)
		return 0;
	for (int v = 0; v < 64 && CAP_IS_SUPPORTED(v); v++) {
		cap_flag_value_t on = CAP_CLEAR;
		if (cap_get_flag(c, v, CAP_EFFECTIVE, &on) == 0 && on == CAP_SET)
			caps |= 1ull << v;
	}
	cap_free(c);
	return caps;
}

static int drop_caps(const cap_value_t *kept, size_t nkept, char *err, size_t errlen)
{
	/* the bounding set first: that needs CAP_SETPCAP, which goes next */
	for (cap_value_t v = 0; CAP_IS_SUPPORTED(v); v++) {
		bool keep = false;
		for (size_t i = 0; i < nkept; i++)
			keep |= kept[i] == v;
		if (!keep && cap_drop_bound(v) != 0 && errno != EINVAL) {
			snprintf(err, errlen, "cannot drop %s from the bounding set: %s", cap_to_name(v), strerror(errno));
			return -errno;
		}
	}
	cap_reset_ambient();
	cap_t c = cap_init(); /* all clear */
	if (!c || cap_set_flag(c, CAP_EFFECTIVE, (int)nkept, kept, CAP_SET) ||
	    cap_set_flag(c, CAP_PERMITTED, (int)nkept, kept, CAP_SET) || cap_set_proc(c)) {
		int e = errno;
		snprintf(err, errlen, "cannot drop capabilities: %s", strerror(e));
		cap_free(c);
		return -e;
	}
	cap_free(c);
	return 0;
}

static int install_filter(const char *const *allow, size_t nallow, bool threads, unsigned *n, char *err,
			  size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	int rc = 0;

	*n = 0;
	if (!ctx) {
		snprintf(err, errlen, "cannot build the seccomp filter");
		return -ENOMEM;
	}
	/* every thread of the process, not only the caller */
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	for (size_t i = 0; i < nallow && !rc; i++) {
		int nr = seccomp_syscall_resolve_name(allow[i]);
		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture */
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0);
		*n += !rc;
	}
	/* ioctl: perf events' own (libbpf enables and attaches with them) and
	 * asking a terminal its modes and size; never TIOCSTI, which would type
	 * into the terminal of the shell that started us */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				      SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, 0x2400)); /* _IO('$', n) */
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TCGETS));
	if (!rc)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1, SCMP_A1(SCMP_CMP_EQ, TIOCGWINSZ));
	/* threads, not processes: clone only with CLONE_THREAD; clone3 (whose
	 * flags a filter cannot see) answers ENOSYS, and glibc falls back */
	if (!rc && threads)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(clone), 1,
				      SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD));
	if (!rc && threads)
		rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!rc)
		rc = seccomp_load(ctx); /* sets NoNewPrivs too */
	seccomp_release(ctx);
	if (rc) {
		snprintf(err, errlen, "cannot install the seccomp filter: %s", strerror(-rc));
		return rc;
	}
	*n += 1;
	return 0;
}

/* Built with AddressSanitizer, the leak check at exit forks a tracer
 * (clone without CLONE_THREAD, then ptrace): no filter there. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

int ws_sandbox_enter(enum ws_sandbox_role role, bool filter, struct ws_sandbox *out, char *err, size_t errlen)
{
	bool att = role == WS_SANDBOX_ATTACHER;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = att ? drop_caps(attacher_caps, WS_ARRAY_SIZE(attacher_caps), err, errlen)
		 : drop_caps(recorder_caps, WS_ARRAY_SIZE(recorder_caps), err, errlen);
	out->caps = effective_now();
	if (rc)
		return rc;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot set NoNewPrivs: %s", strerror(errno));
		return rc;
	}
	out->no_new_privs = true;
	if (!filter || SANITIZED)
		return 0;
	if (att) {
		rc = install_filter(attacher_allowed, WS_ARRAY_SIZE(attacher_allowed), false, &out->syscalls, err, errlen);
	} else if (role == WS_SANDBOX_AGENT) {
		const char *both[WS_ARRAY_SIZE(allowed) + WS_ARRAY_SIZE(agent_net)];
		memcpy(both, allowed, sizeof(allowed));
		memcpy(both + WS_ARRAY_SIZE(allowed), agent_net, sizeof(agent_net));
		rc = install_filter(both, WS_ARRAY_SIZE(both), true, &out->syscalls, err, errlen);
	} else {
		rc = install_filter(allowed, WS_ARRAY_SIZE(allowed), true, &out->syscalls, err, errlen);
	}
	if (rc)
		return rc;
	out->seccomp = true;
	return 0;
}
