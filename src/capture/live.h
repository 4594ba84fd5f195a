/* live.h -- the live front door: load the kernel half, attach it, and hand
 * every raw record from the per-CPU ring buffers to a callback. */
#ifndef WIRESPAN_LIVE_H
#define WIRESPAN_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "capture/kevent.h"

#define LIVE_MAX_PIDS 1024

struct live_config {
	uint32_t pids[LIVE_MAX_PIDS];
	size_t npids;
	char comms[WS_MAX_COMMS][WS_COMM_LEN];
	size_t ncomms;
	uint16_t ports[WS_MAX_PORTS];
	size_t nports;
	uint32_t netns;      /* inode of the network namespace, 0 = all */
	uint32_t payload;    /* payload prefix bytes per syscall */
	uint32_t ring_bytes; /* per CPU, power of two */
};

/* A record from the ring of CPU `ring`. */
typedef void (*live_record_fn)(void *ctx, int ring, const void *rec, size_t len);

struct live;

/* Check what loading needs (privileges, BTF, tracefs), mounting tracefs
 * when it is missing. Returns 0, or -1 with one clear message in err. */
int live_preflight(char *err, size_t errlen);
int live_open(const struct live_config *cfg, live_record_fn fn, void *ctx, struct live **out, char *err,
	      size_t errlen);
/* Threads already blocked in a socket read or write when the programs were
 * attached would be missed (their syscall entry was not seen): note them
 * so their exit is recorded. Returns how many were found. */
int live_recover_blocked(struct live *l);
/* Wait up to timeout_ms for a ring to signal; returns <0 on error other
 * than EINTR. */
int live_wait(struct live *l, int timeout_ms);
/* Consume the records in the rings, spending at most about max_ns on each
 * (0: until it is empty; a ring whose producers keep up with us would
 * never be). partial[i] (ncpus entries, may be NULL) tells which rings
 * were left holding records; returns whether any was. */
bool live_drain(struct live *l, uint64_t max_ns, bool *partial);
/* Stop the programs (detach); records already written stay drainable. */
void live_detach(struct live *l);
void live_counters(struct live *l, uint64_t out[WS_KC_MAX]);
/* Packets the kernel dropped since loading, by skb drop reason. */
void live_drops(struct live *l, uint64_t out[WS_DROP_REASONS]);
/* Program runs the kernel skipped because another BPF program was running. */
uint64_t live_recursion_misses(struct live *l);
int live_ncpus(const struct live *l);

/* What one BPF program cost since loading, from the kernel's run-time
 * statistics (zero when they could not be enabled). */
struct live_prog_stat {
	char name[64]; /* the program (function) name */
	char hook[96]; /* where it is attached: "syscalls/sys_exit_read", "tp_btf/tcp_probe" */
	uint64_t runs, run_ns;
};
/* Whether run-time statistics are on (needs BPF_ENABLE_STATS, Linux 5.8). */
bool live_stats_enabled(const struct live *l);
/* The cost of each loaded program; returns how many (at most max). */
size_t live_prog_stats(struct live *l, struct live_prog_stat *out, size_t max);
/* Nanoseconds all programs ran, summed over CPUs. */
uint64_t live_bpf_ns(struct live *l);
/* Shed level for data capture (0 .. WS_SHED_MAX, see capture_abi.h). */
void live_set_shed(struct live *l, unsigned level);
/* Attach (on) or detach the programs of the data syscalls (reads and
 * writes, not connect, accept or close) and the per-packet and scheduler
 * hooks that time them; the last shed level. Returns 0 or -errno. */
int live_trace_data(struct live *l, bool on);
/* The Go runtime probes (see capture_abi.h): attach the probe program at
 * n sites of a binary (file offsets, each with its enum ws_go_site), for
 * every process that runs it; detached by live_detach(). Returns 0 or
 * -errno (what attached stays attached). */
int live_go_attach(struct live *l, const char *binary, const uint64_t *offsets, const uint8_t *sites, size_t n);
/* Attach the asyncio task probes to CPython's _asyncio module (file
 * offsets: TaskStepMethWrapper's call, task_wakeup, Task's tp_init; see
 * pyasync.h), for every process that maps it; all or none. */
int live_py_attach(struct live *l, const char *binary, uint64_t step, uint64_t wakeup, uint64_t init);
/* Attach the TLS probes (tls_enter, tls_exit) to a binary that holds
 * OpenSSL's functions, at the file offsets given per enum ws_tls_site (0:
 * the binary lacks that one); all or none. */
int live_tls_attach(struct live *l, const char *binary, const uint64_t offsets[WS_TLS_SITE_MAX]);
/* Tell the programs where process pid's Go runtime keeps goroutine ids
 * (gp NULL: forget the process). Returns 0 or -errno. */
int live_go_process(struct live *l, uint32_t pid, const struct ws_goproc *gp);
/* Entries now in the kernel's connection table, and its goroutine
 * wake-up table. */
uint64_t live_conn_entries(struct live *l);
uint64_t live_gwake_entries(struct live *l);
/* Kernel memory held by the maps and ring buffers, in bytes. */
uint64_t live_kernel_bytes(struct live *l);
void live_close(struct live *l);

/* Fork the helper that creates uprobes from now on (see live.c), before
 * the recorder gives up the privilege they need. 0, or -errno and err. */
int live_start_attacher(struct live *l, char *err, size_t errlen);

#endif
