/* live.h -- the live front door: load the kernel half, attach it, and hand
 * every raw record from the per-CPU ring buffers to a callback. */
#ifndef WIRESPAN_LIVE_H
#define WIRESPAN_LIVE_H

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

typedef void (*live_record_fn)(void *ctx, const void *rec, size_t len);

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
/* Consume every record now in the rings. */
int live_drain(struct live *l);
/* Stop the programs (detach); records already written stay drainable. */
void live_detach(struct live *l);
void live_counters(struct live *l, uint64_t out[WS_KC_MAX]);
/* Packets the kernel dropped since loading, by skb drop reason. */
void live_drops(struct live *l, uint64_t out[WS_DROP_REASONS]);
/* Program runs the kernel skipped because another BPF program was running. */
uint64_t live_recursion_misses(struct live *l);
int live_ncpus(const struct live *l);
void live_close(struct live *l);

#endif
