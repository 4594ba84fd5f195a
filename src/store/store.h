/* store.h -- the embedded SQLite store (schema in docs/schema.md).
 *
 * A writer batches inserts in a transaction and commits when asked (the
 * recorder commits a few times a second), so a crash or SIGKILL loses at
 * most the last uncommitted batch and never corrupts the file (WAL mode).
 * The database file is created mode 0600. */
#ifndef WIRESPAN_STORE_H
#define WIRESPAN_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span/span.h"
#include "stream/conntrack.h"

#define WS_STORE_SCHEMA_VERSION 7

struct ws_store;

enum ws_store_mode { WS_STORE_READ, WS_STORE_WRITE };

/* Open (creating it when writing). On failure returns a negative errno-like
 * value and a message naming the file and what the user can do. */
int ws_store_open(const char *path, enum ws_store_mode mode, struct ws_store **out, char *err, size_t errlen);
void ws_store_close(struct ws_store *st);
/* Start the store's own thread again, so that it runs with what the
 * caller's thread holds now (a recorder that gave up privileges). */
void ws_store_restart_thread(struct ws_store *st);
const char *ws_store_errmsg(struct ws_store *st);

struct ws_recording {
	const char *source; /* "live" */
	const char *host;
	const char *command;
	uint64_t started_ns;
	const char *boot_id; /* the kernel's boot id (one machine, one clock), or NULL */
};

int64_t ws_store_begin_recording(struct ws_store *st, const struct ws_recording *r);
/* When what a recording holds happened (a capture file's first and last
 * packets), rather than when it was read. */
int ws_store_set_recording_times(struct ws_store *st, int64_t id, uint64_t started_ns, uint64_t ended_ns);
int ws_store_add_span(struct ws_store *st, const struct ws_span *s);
int ws_store_add_conn(struct ws_store *st, int64_t recording, const char *host, const struct ct_conn_info *c);
/* A TCP fact (retransmission, reset, drop) of a connection. */
int ws_store_add_tcp_event(struct ws_store *st, int64_t recording, const char *host, const struct ws_event *ev,
			   const char *reason_name);
/* A traced process and what it runs ("go1.19.8", "native"); traced: its
 * runtime is probed; detail says how or why not. */
int ws_store_add_process(struct ws_store *st, int64_t recording, uint32_t pid, const char *comm, const char *runtime,
			 bool traced, const char *detail);
/* A goroutine created at ts_ns in process pid by goroutine parent. */
int ws_store_add_goroutine(struct ws_store *st, int64_t recording, uint32_t pid, uint64_t goid, uint64_t parent,
			   uint64_t ts_ns);
/* Packets the kernel dropped on the host during the recording, by reason. */
int ws_store_add_drops(struct ws_store *st, int64_t recording, const char *host, uint32_t reason, const char *name,
		       uint64_t count);
/* kind: "lost" (events or data lost, by cause) or "stat" */
int ws_store_set_counter(struct ws_store *st, int64_t recording, const char *kind, const char *name, uint64_t v);
int ws_store_update_recording(struct ws_store *st, int64_t recording, uint64_t events, uint64_t spans, uint64_t lost);
/* The CPU budget made capture shed (level > 0) or recover (level 0). */
int ws_store_add_shed(struct ws_store *st, int64_t recording, uint64_t ts_ns, unsigned level, double cpu_pct,
		      double budget_pct, const char *action);
/* What one BPF program cost during the recording (runs, ns in all). */
int ws_store_set_bpf_prog(struct ws_store *st, int64_t recording, const char *name, const char *hook, uint64_t runs,
			  uint64_t run_ns);
int ws_store_end_recording(struct ws_store *st, int64_t recording, uint64_t ended_ns, const char *status);
/* Commit the open batch and start the next. */
int ws_store_commit(struct ws_store *st);

struct ws_span_filter {
	int kind;            /* 0: any */
	int proto;           /* 0: any */
	const char *service; /* NULL: any */
	uint64_t limit;      /* 0: no limit */
};

/* Call fn for each stored span in start order; fn returning nonzero stops. */
int ws_store_each_span(struct ws_store *st, const struct ws_span_filter *f,
		       int (*fn)(void *ctx, const struct ws_span *s), void *ctx);

struct ws_lset;
/* Load every span of the database into set (as database number db). */
int ws_store_load_links(struct ws_store *st, struct ws_lset *set, uint16_t db);
/* Write the trace ids, parents and link fields that trace assembly found
 * for the spans of set that came from database db (one transaction). */
int ws_store_save_links(struct ws_store *st, const struct ws_lset *set, uint16_t db);

struct ws_tcpevs;
/* Append the retransmissions and resets of the database (as number db). */
int ws_store_load_tcp(struct ws_store *st, struct ws_tcpevs *evs, uint16_t db);
struct ws_flowpkts;
/* A connection's packets as one capture saw them (pcap recordings). */
int ws_store_add_packets(struct ws_store *st, int64_t recording, const char *host, const struct ws_flowpkts *f);
/* Call fn for every stored connection between endpoints a and b (either
 * way round), in every recording, oldest first; fn returning nonzero stops.
 * The packets passed are freed after fn returns. */
int ws_store_each_flow(struct ws_store *st, const struct ws_endpoint *a, const struct ws_endpoint *b,
		       int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_flowpkts *f),
		       void *ctx);
int ws_store_version(const struct ws_store *st);
/* sqlite3_step() for the readers that query the file themselves: true on
 * a row; the first failure (a damaged file) is kept in *failed, so that
 * the command can say so and exit non-zero instead of printing less. */
struct sqlite3_stmt;
bool ws_store_row(struct sqlite3_stmt *q, int *failed);
/* Spans in the database (every recording), or -1 on error. */
int64_t ws_store_span_count(struct ws_store *st);
/* The SQLite handle, for reports that are plain queries (`wirespan tcp`). */
struct sqlite3;
struct sqlite3 *ws_store_db(struct ws_store *st);

#endif
