/* sandbox.h -- what a recording keeps of root once it captures.
 *
 * The recorder parses every traced process's traffic. Once its BPF
 * programs are loaded and attached, it keeps only the capabilities the rest
 * of the run needs, sets NoNewPrivs, and installs a seccomp allow-list:
 *
 *   CAP_BPF, CAP_PERFMON   re-attaching programs when the CPU budget sheds
 *                          and restores, uprobes on new Go and Python
 *                          processes, reading the kernel half's maps
 *   CAP_SYS_PTRACE         /proc/PID/maps, exe and environ of processes
 *                          that start later (runtimes, service names)
 *   CAP_DAC_READ_SEARCH    reading their executables
 *
 * Everything else (CAP_SYS_ADMIN, CAP_DAC_OVERRIDE, CAP_NET_ADMIN,
 * CAP_SETUID, ...) leaves the effective, permitted, inheritable, ambient and
 * bounding sets. A system call outside the allow-list fails with EPERM
 * (execve, socket, ptrace, mount, ...); clone is allowed for threads only.
 *
 * Creating a uprobe (Go and Python processes that start later) takes
 * CAP_SYS_ADMIN on this kernel: a helper process forked before the drop
 * keeps it and does only that, on request over a socket, under its own
 * allow-list (live_start_attacher). */
#ifndef WIRESPAN_CAPTURE_SANDBOX_H
#define WIRESPAN_CAPTURE_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ws_sandbox {
	uint64_t caps;      /* effective capabilities after (bit = CAP_*) */
	bool no_new_privs;
	bool seccomp;       /* the allow-list is installed */
	unsigned syscalls;  /* system calls it allows */
};

enum ws_sandbox_role {
	WS_SANDBOX_RECORDER, /* the recorder: everything but new uprobes */
	WS_SANDBOX_ATTACHER, /* its helper that creates uprobes (live.c): also CAP_SYS_ADMIN,
			      * which this kernel asks for them, and about 25 system calls */
	WS_SANDBOX_AGENT,    /* the recorder of `wirespan agent`: also the network calls its
			      * exporter (libcurl) and metrics server (libmicrohttpd) make */
};

/* Drop what the role does not need; with `filter`, install its allow-list
 * too (for every thread). Returns 0, or -errno with the reason in err
 * (nothing half done is reported as done: out says what holds). */
int ws_sandbox_enter(enum ws_sandbox_role role, bool filter, struct ws_sandbox *out, char *err, size_t errlen);

/* The names of the capabilities in caps, comma-separated. */
const char *ws_sandbox_caps_text(uint64_t caps, char *buf, size_t n);

#endif
