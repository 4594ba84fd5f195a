/* gobin.h -- what the Go runtime uprobes need to know about one Go executable.
 *
 * Goroutine ids and goroutine parent/child and wake-up relations come from
 * uprobes on the Go runtime. This module reads the executable (never the
 * running process): which Go version built it; where runtime.newproc1,
 * runtime.goexit1 start, where every RET of
 * runtime.newproc1 is (Go's stack unwinding breaks under uretprobes, which
 * rewrite the return address, so the return is seen by a uprobe on each RET
 * instead); the CALL instructions at which the same three events can be
 * probed more cheaply; and the offsets of the runtime.g and runtime.m fields
 * the BPF side reads (from DWARF when the binary has it, else from a table
 * of offsets verified per Go version).
 *
 * Only amd64 binaries of Go 1.17 or later are supported: from 1.17 the
 * register ABI keeps the current goroutine in R14 and passes arguments and
 * results in registers.
 *
 * The file is untrusted (any process's executable, read as root): every
 * read is bounds-checked, and a corrupt file is an error, never a crash. */
#ifndef WIRESPAN_GOBIN_H
#define WIRESPAN_GOBIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_GOBIN_MAX_RETS 32

struct ws_gobin {
	char version[32]; /* "go1.19.8", from the binary's build info */
	int major, minor; /* 1, 19 */
	char arch[16];	  /* "amd64" (GOARCH names) */
	bool stripped;	  /* no .symtab: functions came from .gopclntab */
	bool dwarf;	  /* struct offsets came from DWARF (else the per-version table) */
	/* uprobe sites as file offsets (what perf and libbpf uprobes take) */
	uint64_t newproc1;			  /* runtime.newproc1 entry */
	uint64_t newproc1_end;			  /* just past its last byte */
	uint64_t newproc1_ret[WS_GOBIN_MAX_RETS]; /* every RET in it, in order */
	size_t n_newproc1_ret;
	uint64_t goexit1; /* runtime.goexit1 entry */
	/* the same events at CALL instructions, which the kernel emulates
	 * where it single-steps most others (RET included): */
	uint64_t spawn_site; /* CALL runtime.runqput in runtime.newproc.func1: BX holds the new g */
	uint64_t send_sites[2]; /* CALL runtime.send in runtime.chansend and runtime.selectgo: BX
				 * holds the parked receiver's sudog (its g first), R14 the sender */
	uint64_t recv_sites[2]; /* CALL runtime.recv in runtime.chanrecv and runtime.selectgo: BX
				 * holds the parked sender's sudog, R14 the receiver; send and
				 * receive sites are 0 where the linker left the function out
				 * (a program with no select statement has no selectgo) */
	uint64_t exit_site;  /* CALL runtime.mcall in runtime.goexit1: R14 holds the ending g */
	/* struct offsets in bytes */
	uint32_t g_goid, g_m, m_procid, m_curg;
};

/* Inspect the ELF file open on fd (e.g. opened from /proc/PID/exe; read with
 * pread, the file position is left alone). Returns 0 with *out filled;
 * -ENOEXEC when it is not a Go binary (quietly: most processes are not; err
 * still says why, for debugging); -ENOTSUP when it is Go but cannot be
 * supported (version, architecture, no pclntab, a probe site not found),
 * with a one-line message in err saying what, and that wirespan falls back
 * to kernel evidence for that process (*out then holds what was learned
 * before the refusal, for messages and tests); -EIO when the file cannot be
 * read. Every probe site must be found for 0. */
int ws_gobin_inspect(int fd, struct ws_gobin *out, char *err, size_t errlen);

#endif
