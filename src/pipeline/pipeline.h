/* pipeline.h -- the user-space pipeline every front door feeds, and the
 * life of a recording:
 *
 *   pipeline_open (the database)  -> pipeline_begin (a recording)
 *   -> pipeline_event, in time order: conntrack -> parsers -> spans -> sinks,
 *      with the side facts (TCP events, failed connects, processes) that do
 *      not become exchanges
 *   -> pipeline_tick (counters, a few times a second) / pipeline_commit
 *   -> pipeline_end (the last counters, the status) -> pipeline_link
 *   -> pipeline_close (one exit, on every path).
 *
 * It does not care where events come from: live capture and replay feed it
 * kernel records (cli/record.c), capture files feed it events built from
 * packets (cli/pcap.c). It hands what it makes to sinks (span/sink.h): the
 * database is the first, opened by pipeline_open; others are added
 * (metrics). It knows none of them. */
#ifndef WIRESPAN_PIPELINE_H
#define WIRESPAN_PIPELINE_H

#include <bpf/btf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "capture/kevent.h"
#include "span/sink.h"
#include "store/sink.h"
#include "store/store.h"
#include "stream/conntrack.h"
#include "stream/reorder.h"
#include "span/spool.h"
#include "trace/link.h"
#include "util/hashmap.h"

#define PIPELINE_SINKS_MAX 4

struct pipeline {
	struct ws_reorder ro;
	struct conntrack *ct; /* the recording's connections (pipeline_begin) */
	/* the database (pipeline_open): the first sink, and what trace
	 * assembly reads at the end */
	struct ws_store *store;
	struct ws_store_sink store_sink;
	char db[4096];
	int64_t rec_id; /* the recording, as the database numbers it */
	char host[64];
	int64_t mono_to_real;
	FILE *save;
	struct ws_evmask *save_mask; /* NULL: the event file keeps the bytes as they were (--save-raw) */
	bool debug_events;
	bool store_failed; /* the database failed: what it was not handed is lost */
	uint64_t records, decode_errors, save_errors;
	uint64_t spans, spans_server, spans_client;
	uint64_t spans_committed; /* safely in the database (held spans: once linked and stored) */
	bool live;                /* processes are on this machine: ask /proc */
	struct ws_hashmap services; /* pid -> struct service_name */
	int abi;                    /* ABI version of the records */
	uint64_t tcp_events, failed_connects, goroutines, py_tasks;
	/* a process to look at (live capture): it executed a new program, or
	 * its first span was made */
	void (*on_process)(void *ctx, uint32_t pid);
	void *process_ctx;
	struct btf *vmlinux_btf;    /* names of skb drop reasons */
	bool btf_tried;
	/* service names given for addresses (pcap --service-map): a span whose
	 * serving end (a client span: its own end) matches takes the name;
	 * port 0 matches any port */
	const struct pipeline_service *service_map;
	size_t nservice_map;
	/* the offline front doors (link_in_memory) hold the spans they
	 * make, packed, and trace assembly's view of them, until the end:
	 * the database is then handed each span once, linked, instead of
	 * storing it, reading it back and rewriting its row. lset NULL: not
	 * held (the database held spans before, or more than
	 * WS_LINK_MAX_SPANS were made: those were stored as they were, and
	 * are linked from the database) */
	bool link_in_memory;
	size_t hold_max; /* 0: WS_LINK_MAX_SPANS */
	bool lset_decided;
	struct ws_lset *lset;
	struct ws_spool spool;
	/* where what the pipeline makes goes: [0] the database */
	struct ws_sink sinks[PIPELINE_SINKS_MAX];
	bool sink_failed[PIPELINE_SINKS_MAX];
	size_t nsinks;
};

struct pipeline_service {
	struct ws_endpoint ep;
	char name[64];
};

/* Open the database a recording goes to (created when missing), as the
 * first sink. 0, or -1 with a message in err naming the file. */
int pipeline_open(struct pipeline *p, const char *db, char *err, size_t errlen);
/* Another destination (metrics): it is handed what the database is. */
void pipeline_add_sink(struct pipeline *p, const struct ws_sink *s);
/* Begin a recording: fresh connections, and every sink told (committed,
 * so that `status` sees it at once). 0, or -1: pipeline_errmsg says why. */
int pipeline_begin(struct pipeline *p, const struct ws_recording *r);
/* One event, in time order. */
void pipeline_event(struct pipeline *p, const struct ws_event *ev);
void pipeline_debug_event(const struct ws_event *ev);
/* Facts of the recording that are not events. */
void pipeline_process(struct pipeline *p, const struct ws_sink_process *pr);
void pipeline_shed(struct pipeline *p, unsigned level, double cpu_pct, double budget_pct, const char *action);
/* The kernel's packet drops on the host, per reason (index), named here. */
void pipeline_kernel_drops(struct pipeline *p, const uint64_t *per_reason, size_t n);
void pipeline_bpf_prog(struct pipeline *p, const char *name, const char *hook, uint64_t runs, uint64_t run_ns);
/* Counters handed as they are (no totals): what the recorder kept of root. */
void pipeline_put_counters(struct pipeline *p, const struct ws_counter *rows, size_t n);
/* The front door's counters (rows), the pipeline's own and the recording's
 * totals (lost: every cause), to every sink (a running recording does this
 * every second). 0, or -EIO when the database failed. */
int pipeline_counters(struct pipeline *p, const struct ws_counter *rows, size_t n, uint64_t lost);
/* Make what was handed so far durable: 0, or -EIO when the database failed. */
int pipeline_commit(struct pipeline *p);
/* The recording's last counters, then its end with status ("complete",
 * "failed"). When the database failed before, it is still told the
 * status, if it takes that much. 0, or -EIO. */
int pipeline_end(struct pipeline *p, const struct ws_counter *rows, size_t n, uint64_t lost, const char *status);
/* When what the recording holds happened (capture files). */
int pipeline_times(struct pipeline *p, uint64_t started_ns, uint64_t ended_ns);
/* Assemble the database's traces (max_spans: trace/link.h): 0, or 1 after
 * a message. */
int pipeline_link(struct pipeline *p, uint64_t max_spans);
/* Close the database and open the next (the agent's rotation); call
 * pipeline_end before and pipeline_begin after. 0, or -1 and err. */
int pipeline_rotate(struct pipeline *p, const char *next, char *err, size_t errlen);
/* Start the database's own thread again, so that it holds no more than
 * the caller's thread does now (a recorder that gave up privileges). */
void pipeline_restart_threads(struct pipeline *p);
/* What the first sink that failed said. */
const char *pipeline_errmsg(struct pipeline *p);
/* Close the database and free everything: once, on every path. */
void pipeline_close(struct pipeline *p);

/* The kernel's name of an skb drop reason, "" unknown. */
const char *pipeline_drop_reason(struct pipeline *p, uint32_t reason);

#endif
