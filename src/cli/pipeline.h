/* pipeline.h -- the user-space pipeline every front door feeds: ordered
 * events -> conntrack -> parsers -> spans -> store, with the side facts
 * (TCP events, failed connects) that do not become exchanges. Live capture
 * and replay feed it kernel records (record.c); pcap files feed it events
 * built from packets (pcap.c). */
#ifndef WIRESPAN_CLI_PIPELINE_H
#define WIRESPAN_CLI_PIPELINE_H

#include <bpf/btf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "capture/kevent.h"
#include "store/store.h"
#include "stream/conntrack.h"
#include "stream/reorder.h"
#include "util/hashmap.h"

/* A destination of the pipeline's output besides the database (metrics,
 * exporters): each op is optional, and is called in the recorder's
 * thread, so it must be quick. */
struct pipeline_sink {
	void (*span)(void *ctx, const struct ws_span *s);
	void (*tcp_event)(void *ctx, const struct ws_event *ev);
	void *ctx;
};
#define PIPELINE_SINKS_MAX 4

struct pipeline {
	struct ws_reorder ro;
	struct conntrack *ct;
	struct ws_store *store;
	int64_t rec_id;
	char host[64];
	int64_t mono_to_real;
	FILE *save;
	struct ws_evmask *save_mask; /* NULL: the event file keeps the bytes as they were (--save-raw) */
	bool debug_events;
	bool store_failed;
	uint64_t records, decode_errors, save_errors;
	uint64_t spans, spans_server, spans_client;
	uint64_t spans_committed; /* safely in the database */
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
	/* more destinations of what the pipeline makes, beside the store */
	const struct pipeline_sink *sinks[PIPELINE_SINKS_MAX];
	size_t nsinks;
};

struct pipeline_service {
	struct ws_endpoint ep;
	char name[64];
};

/* conntrack config: zero fields take conntrack's defaults */
void pipeline_init(struct pipeline *p, const struct ct_config *cc);
void pipeline_free(struct pipeline *p);
/* One event, in time order. */
void pipeline_event(struct pipeline *p, const struct ws_event *ev);
void pipeline_debug_event(const struct ws_event *ev);
struct pipeline_counter {
	const char *kind, *name; /* kind: "lost", "shed" or "stat" */
	uint64_t v;
};
/* Store the front door's counters (rows) and the pipeline's own, and the
 * recording's totals (a running recording does this every second).
 * Returns 0 or -EIO. */
int pipeline_store_counters(struct pipeline *p, const struct pipeline_counter *rows, size_t n, uint64_t lost);
/* The same, and mark the recording ended with status. */
int pipeline_store_results(struct pipeline *p, const struct pipeline_counter *rows, size_t n, uint64_t lost,
			   const char *status);

/* The kernel's name of an skb drop reason, "" unknown. */
const char *pipeline_drop_reason(struct pipeline *p, uint32_t reason);

#endif
