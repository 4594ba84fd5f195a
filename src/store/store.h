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

#include "span/sink.h"
#include "span/span.h"
#include "stream/conntrack.h"

#define WS_STORE_SCHEMA_VERSION 8

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
/* What an export sent and dropped of the database (rows' names, kind
 * "export"), added to what earlier exports counted, on its last recording
 * (the one `status` shows first); committed. */
int ws_store_count_export(struct ws_store *st, const struct ws_counter *rows, size_t n);
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
	bool for_links;      /* only the columns trace assembly reads (the rest read as empty) */
};

/* Call fn for each stored span in start order; fn returning nonzero stops. */
int ws_store_each_span(struct ws_store *st, const struct ws_span_filter *f,
		       int (*fn)(void *ctx, const struct ws_span *s), void *ctx);

/* What the readers of a database learn of its processes: each host's boot
 * (hosts with one boot share one clock), what runtime each process ran,
 * and which goroutine created which (Go processes with runtime probes). */
struct ws_store_procs {
	void (*boot)(void *ctx, const char *host, const char *boot_id);
	void (*runtime)(void *ctx, const char *host, uint32_t pid, const char *runtime, bool traced);
	void (*spawn)(void *ctx, const char *host, uint32_t pid, uint64_t goid, uint64_t parent_goid,
		      uint64_t ts_ns);
	void *ctx;
};
int ws_store_each_process(struct ws_store *st, const struct ws_store_procs *cb);

/* The spans table's indexes: a recording that begins on an empty table
 * (ws_store_begin_recording) goes without them, and builds them when it
 * ends: those trace assembly reads by (ids_only: span id, start) before
 * it writes its links, the others after. A file left without them (its
 * recorder killed) reads the same, slower, and gets them at its next
 * write open. */
int ws_store_build_span_indexes(struct ws_store *st, bool ids_only);

/* Write the trace ids, parents and link fields trace assembly found, in
 * one transaction: begin, one call per span, end (ok false rolls back what
 * was not committed). */
int ws_store_links_begin(struct ws_store *st);
int ws_store_set_links(struct ws_store *st, const struct ws_span *s, bool has_parent);
int ws_store_links_end(struct ws_store *st, bool ok);

/* A stored TCP fact (retransmission, reset, hold; drops are not read
 * back), as its row says it. */
struct ws_store_tcpev {
	int64_t recording_id;
	uint64_t conn_id, ts_ns;
	char kind[32]; /* retransmit, reset-received, reset-sent, held */
	char role[16]; /* client, server, "" */
	uint32_t seq, len, rto_us, srtt_us;
	uint8_t tcp_flags;
	uint64_t reason;       /* held: for how long (ns) */
	char reason_name[64];  /* held: why (nagle, cwnd, rwnd, other) */
};
/* Every stored TCP fact, in time order; fn returning nonzero stops. */
int ws_store_each_tcp_event(struct ws_store *st, int (*fn)(void *ctx, const struct ws_store_tcpev *e), void *ctx);

/* A connection's packets as one capture saw them (pcap recordings): its
 * row. The packets are data, encoded and decoded by the capture reader
 * (pcap/offline.h); the store keeps them as they are. */
struct ws_store_flow {
	struct ws_endpoint client, server;
	bool roles_known;
	uint64_t first_ns, last_ns, rtt_ns;
	uint32_t n, not_stored;
	uint32_t retrans, fast_retrans, spurious, dup_acks, zero_windows, out_of_order, lost_segments;
	const void *data;
	size_t data_len;
};
int ws_store_add_flow(struct ws_store *st, int64_t recording, const char *host, const struct ws_store_flow *f);
/* Call fn for every stored connection between endpoints a and b (either
 * way round), in every recording, oldest first; fn returning nonzero stops.
 * f->data lives until fn returns. */
int ws_store_each_flow(struct ws_store *st, const struct ws_endpoint *a, const struct ws_endpoint *b,
		       int (*fn)(void *ctx, int64_t recording, const char *host, const struct ws_store_flow *f),
		       void *ctx);
int ws_store_version(const struct ws_store *st);
/* Spans in the database (every recording), or -1 on error. */
int64_t ws_store_span_count(struct ws_store *st);

/* ---- reports: `wirespan status` and `wirespan tcp` ----
 *
 * Each reader calls fn for every row, in the order its comment gives; fn
 * returning nonzero stops it. They return 0; -ENOENT when the file cannot
 * answer (an older one, without the table: ws_store_errmsg() says what
 * SQLite found missing), before fn is called; or -EIO when a row could not
 * be read. That failure is kept: ws_store_read_error() then says the file
 * is damaged, so that the command can say so and exit non-zero instead of
 * printing less as if that were all. Text passed to fn lives until fn
 * returns; NULL in the file reads as "". */

/* The first row a reader could not read, as a message that names the
 * file; NULL when there was none. */
const char *ws_store_read_error(const struct ws_store *st);

struct ws_store_recording {
	int64_t id;
	int64_t pid; /* the recorder's (schema 5; 0 before) */
	char source[16], host[64], command[512], status[16];
	uint64_t started_ns, ended_ns;
	uint64_t updated_ns; /* when the recorder last wrote (schema 5; 0 before) */
	uint64_t events, spans, lost;
};
/* Recording id, or every one (id 0); all: each that matches, oldest
 * first; otherwise the last only. */
int ws_store_each_recording(struct ws_store *st, int64_t id, bool all,
			    int (*fn)(void *ctx, const struct ws_store_recording *r), void *ctx);
/* A recording's counters of one kind ("lost", "shed", "stat",
 * "privileges"), by name. */
int ws_store_each_counter(struct ws_store *st, int64_t recording, const char *kind,
			  int (*fn)(void *ctx, const char *name, int64_t value), void *ctx);
/* A recording's counter of that name, of any kind; 0 when it has none. */
int64_t ws_store_counter(struct ws_store *st, int64_t recording, const char *name);
/* The spans stored for a recording (its rows: the recorder's own total
 * lags), or -1. */
int64_t ws_store_recording_spans(struct ws_store *st, int64_t recording);

/* A change of the load shedding level under the CPU budget. */
struct ws_store_shed {
	uint64_t ts_ns;
	int level;
	double cpu_pct, budget_pct;
	const char *action;
};
/* A recording's shedding changes (schema 5), in order: the first states
 * the budget. */
int ws_store_each_shed(struct ws_store *st, int64_t recording, int (*fn)(void *ctx, const struct ws_store_shed *s),
		       void *ctx);

struct ws_store_bpf_prog {
	const char *name, *hook;
	int64_t runs, run_ns;
};
/* What each BPF program of a recording cost (schema 5), most time first. */
int ws_store_each_bpf_prog(struct ws_store *st, int64_t recording,
			   int (*fn)(void *ctx, const struct ws_store_bpf_prog *p), void *ctx);

/* How `wirespan tcp` groups connections: by host and peer (its address,
 * and its port when it is the server), by connection, or by host. */
enum ws_store_group { WS_GROUP_PEER, WS_GROUP_CONN, WS_GROUP_HOST };

/* The TCP health of one group of connections: sums, the largest RTO, the
 * mean of the known smoothed RTTs. */
struct ws_store_peer_health {
	const char *host;
	const char *group; /* "to 10.0.0.2:6379", "client 10.0.0.1:40000 - ...", "all connections" */
	int64_t connections, exchanges, retransmits, syn_retransmits;
	int64_t resets_rx, resets_tx, drops, failed_connects;
	int64_t rto_max_us;
	bool srtt_known;
	double srtt_avg_us;
};
/* Every group's health (schema 3), most retransmissions first, then most
 * resets, then by name. */
int ws_store_each_peer_health(struct ws_store *st, enum ws_store_group by,
			      int (*fn)(void *ctx, const struct ws_store_peer_health *h), void *ctx);

/* Packets the kernel dropped on a host for one reason, every recording. */
struct ws_store_drop_total {
	const char *host, *name;
	int64_t reason, packets;
};
/* Every host's drops by reason (schema 3), most first. */
int ws_store_each_drop_total(struct ws_store *st, int (*fn)(void *ctx, const struct ws_store_drop_total *d),
			     void *ctx);

#endif
