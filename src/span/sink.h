/* sink.h -- where what the pipeline makes goes.
 *
 * A sink is a table of operations and a context, the way an event loop
 * hides epoll or kqueue behind one surface: the pipeline (src/pipeline)
 * hands every destination the same calls and does not know which it feeds.
 * SQLite is the first (store/sink.h); Prometheus metrics are another
 * (export/metrics.h). A new destination is one file that fills this table.
 *
 * Every operation is optional (NULL: the sink does not want it), is called
 * in the recorder's thread in time order, and must be quick. Those that
 * return int return 0, or a negative errno-like value: the pipeline stops
 * feeding a sink that failed and says so (errmsg). */
#ifndef WIRESPAN_SPAN_SINK_H
#define WIRESPAN_SPAN_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span/span.h"
#include "stream/conntrack.h"
#include "stream/event.h"

/* A recording: one run of a front door (a live capture, a replay, one
 * capture file) into the sinks. */
struct ws_recording {
	const char *source; /* "live", "agent", "replay", "pcap" */
	const char *host;
	const char *command;
	uint64_t started_ns;
	const char *boot_id; /* the kernel's boot id (one machine, one clock), or NULL */
};

/* A counter of the recording. kind: "lost" (events or data lost, by
 * cause), "shed" (work left undone to stay within the CPU budget), "stat",
 * or "privileges" (what the recorder kept of root). */
struct ws_counter {
	const char *kind, *name;
	uint64_t v;
};

/* A traced process and what it runs ("go1.19.8", "native"); traced: its
 * runtime is probed; detail says how or why not. */
struct ws_sink_process {
	uint32_t pid;
	const char *comm, *runtime, *detail;
	bool traced;
};

struct ws_sink_ops {
	const char *name; /* in messages: "database", "metrics" */
	/* A recording begins: its id in this sink (> 0), 0 when the sink keeps
	 * none, or a negative error. */
	int64_t (*begin)(void *ctx, const struct ws_recording *r);
	/* When what the recording holds happened (a capture file's first and
	 * last packets), rather than when it was read. */
	int (*times)(void *ctx, uint64_t started_ns, uint64_t ended_ns);
	/* An exchange became a span (recording_id: the first sink's id). */
	int (*span)(void *ctx, const struct ws_span *s);
	/* A connection ended (one of a parsed protocol, or whose TCP went wrong). */
	int (*conn)(void *ctx, const char *host, const struct ct_conn_info *c);
	/* A TCP fact (retransmission, reset, drop, hold); reason_name: a
	 * drop's reason as the kernel names it, else NULL. */
	int (*tcp_event)(void *ctx, const char *host, const struct ws_event *ev, const char *reason_name);
	int (*process)(void *ctx, const struct ws_sink_process *p);
	/* A goroutine (or asyncio task) created at ts_ns by parent. */
	int (*goroutine)(void *ctx, uint32_t pid, uint64_t goid, uint64_t parent, uint64_t ts_ns);
	/* Packets the kernel dropped on the host during the recording. */
	int (*drops)(void *ctx, const char *host, uint32_t reason, const char *name, uint64_t count);
	/* The CPU budget made capture shed (level > 0) or recover (level 0). */
	int (*shed)(void *ctx, uint64_t ts_ns, unsigned level, double cpu_pct, double budget_pct, const char *action);
	/* What one BPF program cost during the recording. */
	int (*bpf_prog)(void *ctx, const char *name, const char *hook, uint64_t runs, uint64_t run_ns);
	/* The recording's counters as they stand (each replaces its last value). */
	int (*counters)(void *ctx, const struct ws_counter *rows, size_t n);
	/* Its totals: events read, spans made, events lost (every cause). */
	int (*totals)(void *ctx, uint64_t events, uint64_t spans, uint64_t lost);
	/* Make what was handed so far durable (a few times a second). */
	int (*commit)(void *ctx);
	/* The recording ended: "complete" or "failed". */
	int (*end)(void *ctx, uint64_t ended_ns, const char *status);
	/* What went wrong, after a call failed. */
	const char *(*errmsg)(void *ctx);
};

struct ws_sink {
	const struct ws_sink_ops *ops;
	void *ctx;
};

#endif
