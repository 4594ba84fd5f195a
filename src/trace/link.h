/* link.h -- trace assembly: from spans recorded on one or more hosts to
 * whole distributed traces.
 *
 * Two kinds of edges make a trace:
 *
 *  - across a connection, the server span of an exchange is the child of
 *    the client span of the same exchange. Both sides saw the same 5-tuple
 *    and the same TCP sequence number for the request's first byte, so the
 *    join is exact, survives keep-alive reuse and needs no shared clock or
 *    shared database;
 *
 *  - inside a process, a client span is the child of the server span whose
 *    request caused it. The kernel does not say which that is; the linker
 *    infers it from what it does say, strongest evidence first:
 *      traceparent  the outbound request carries the W3C trace id of
 *                   exactly one of the in-flight server spans;
 *      thread       the thread that wrote the outbound request had read
 *                   exactly one request still being served
 *                   (thread-per-request servers);
 *      last-read    on an event loop with several requests in flight: the
 *                   last read of the writing thread before the write (or
 *                   before the connect() of a new connection) completed
 *                   that request, or a response to a call made for it;
 *      read-order   that read completed messages of several requests (the
 *                   replies on a shared Redis connection): the writes that
 *                   follow take them in the order of the replies;
 *      earlier-read an older read of the thread that is still unanswered;
 *      inflight     no evidence from the thread, but only one server span
 *                   of the process was in flight.
 *    With no candidate, or when the evidence contradicts itself, no link is
 *    made: the span starts a trace of its own.
 *
 * A span whose request carried a traceparent takes that trace id; a server
 * span whose client side was not recorded gets the traceparent's parent id
 * as its parent, so it joins the application's own trace exactly. Every
 * link records its method, a confidence and the number of candidates.
 *
 * The linker is a pure function of the spans it is given: the same spans
 * from one database or from several give the same traces. */
#ifndef WIRESPAN_LINK_H
#define WIRESPAN_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "span/span.h"
#include "util/hashmap.h"

enum ws_link_method {
	WS_LINK_NONE = 0,
	WS_LINK_TCP,
	WS_LINK_TRACEPARENT,
	WS_LINK_THREAD,
	WS_LINK_LAST_READ,
	WS_LINK_READ_ORDER,
	WS_LINK_EARLIER_READ,
	WS_LINK_INFLIGHT,
	WS_LINK_GOROUTINE,  /* the goroutine that wrote the call had read the request */
	WS_LINK_GO_SPAWN,   /* ... was created while serving the request, by the one that did */
	WS_LINK_GO_LINEAGE, /* ... by a goroutine created for it (a client's connection writer) */
	WS_LINK_GO_HANDOFF, /* ... was handed the call by a goroutine serving the request */
	WS_LINK_LOOP_ONLY,  /* event loop (loop.h): the one context ready */
	WS_LINK_LOOP_ORDER, /* event loop: the oldest ready context whose kind of step makes such calls */
	WS_LINK_POOL_FIFO,  /* event loop: the oldest waiting call, handed a connection given back */
	WS_LINK_TASK,       /* the asyncio task that wrote the call answered the request */
	WS_LINK_TASK_SPAWN, /* ... was created while serving the request, by the task that did */
	WS_LINK_TASK_LINEAGE, /* ... by a task created for it in turn */
	WS_LINK_METHODS,
};

/* The runtime of a traced process, as the recorder found it. */
enum ws_runtime {
	WS_RT_UNKNOWN = 0, /* not recorded (older databases, pcap) */
	WS_RT_NATIVE,      /* not Go: threads are what the kernel shows */
	WS_RT_GO,          /* Go, with runtime probes: goroutine ids on every syscall */
	WS_RT_GO_UNPROBED, /* Go without probes: goroutines move between threads */
	WS_RT_NODE,        /* Node.js: one event-loop thread runs every callback */
	WS_RT_PYTHON,      /* CPython: asyncio's loop, or threads */
	WS_RT_PYTHON_TASKS, /* CPython with asyncio probes: the task on every syscall */
	WS_RT_JAVA,        /* the JVM: thread pools */
};
/* The runtime a recorded name ("go1.19.8", "node", ...) stands for. */
int ws_runtime_parse(const char *name, bool traced);

const char *ws_link_method_name(int method);
/* The confidence each method carries (0..1). */
float ws_link_method_confidence(int method);

struct ws_lep {
	uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6 */
	uint16_t port;
};

/* One span, as much of it as linking and listing traces need. */
struct ws_lspan {
	/* input */
	uint64_t span_id; /* the id's 8 bytes, big-endian */
	uint8_t kind;     /* enum ws_span_kind; 0: a duplicate, ignored */
	uint32_t order;   /* the order it was added in */
	uint16_t db;      /* which database it came from */
	const char *host, *service, *name; /* owned by the set */
	uint32_t pid, tid, req_last_tid, resp_last_tid;
	int64_t recording_id;
	uint64_t conn_id;
	struct ws_lep client, server;
	uint32_t req_seq;
	bool req_noseq, resp_noseq; /* req_seq (resp_seq) is not known: TLS plaintext that
				     * did not begin a record (WS_MSGF_NOSEQ) */
	uint64_t start, end;
	uint64_t req_t[4], resp_t[4];
	uint64_t conn_open;
	/* where the time went (see ws_span; read by phases.c) */
	uint32_t resp_seq;
	uint64_t req_bytes, resp_bytes;
	uint64_t req_arr[2], resp_arr[2];
	int64_t sched_runq, sched_offcpu;
	uint64_t conn_estab;
	uint32_t srtt_us;
	/* goroutines (Go processes with runtime probes; 0 unknown), and
	 * what last woke the writer of the request before it, and when */
	uint64_t req_goid, req_last_goid, resp_goid, resp_last_goid;
	uint64_t req_waker, req_wake, req_waker2, req_wake2;
	bool has_tp;       /* a valid traceparent was seen on the request */
	uint8_t tp_trace[16];
	uint64_t tp_parent;
	bool error;
	const char *error_type; /* error.type ("" none), owned by the set */
	bool blocking;          /* waits for data by design (WS_MSGF_BLOCKING) */
	/* output */
	int32_t parent;      /* index of the parent in the set, -1: none */
	uint64_t ext_parent; /* parent known only by traceparent, 0: none */
	uint8_t trace_id[16];
	uint8_t method;      /* enum ws_link_method of the parent link */
	float confidence;
	uint16_t candidates; /* in-flight server spans considered */
	/* when no link was made for lack of deciding evidence: the requests
	 * it could have been made for (-1: none) */
	int32_t undecided[4];
};

/* A goroutine created in a traced Go process. */
struct ws_lspawn {
	const char *host; /* interned, as ws_lspan.host */
	uint32_t pid;
	uint64_t goid, parent; /* created, and by which goroutine (0 unknown) */
	uint64_t t;
};

struct ws_lset {
	struct ws_lspan *v;
	size_t n, cap;
	struct ws_hashmap strings; /* interned host and service names */
	struct ws_lspawn *spawns;  /* goroutines created */
	size_t nspawns, capspawns;
	struct ws_hashmap runtimes; /* host and pid -> enum ws_runtime */
	struct ws_hashmap boots;    /* host -> the boot id its recordings ran under */
	char **blocks;             /* string storage */
	size_t nblocks, block_used;
};

struct ws_link_opts {
	bool no_traceparent; /* link from kernel evidence only */
	float min_confidence; /* links below this confidence are not made */
};

void ws_lset_init(struct ws_lset *set);
void ws_lset_free(struct ws_lset *set);
/* Add a span (copied; its strings are stored in the set). */
struct ws_lspan *ws_lset_add(struct ws_lset *set, const struct ws_span *s, uint16_t db);
/* A goroutine of process pid on host was created at t by goroutine parent. */
void ws_lset_add_spawn(struct ws_lset *set, const char *host, uint32_t pid, uint64_t goid, uint64_t parent,
		       uint64_t t);
/* What runtime process pid on host runs (enum ws_runtime). */
void ws_lset_set_runtime(struct ws_lset *set, const char *host, uint32_t pid, int runtime);
int ws_lset_runtime(const struct ws_lset *set, const char *host, uint32_t pid);
/* Host recorded under the kernel boot boot_id (/proc/sys/kernel/random/
 * boot_id): hosts with one boot id are one machine, with one clock. */
void ws_lset_set_boot(struct ws_lset *set, const char *host, const char *boot_id);
/* Whether two hosts (interned names) are known to share one clock. */
bool ws_lset_same_clock(const struct ws_lset *set, const char *a, const char *b);
/* Parse a W3C traceparent ("00-<32 hex>-<16 hex>-<2 hex>"). */
bool ws_traceparent_parse(const char *tp, uint8_t trace[16], uint64_t *parent);
/* Set a span's parent, method and the method's confidence. */
void ws_lspan_set_link(struct ws_lspan *l, int32_t parent, int method);

/* Link every span of the set: fill the output fields. */
void ws_link(struct ws_lset *set, const struct ws_link_opts *opts);
/* The trace id of a trace led by the span span_id, when no traceparent
 * names it: also how an id shown before finds the trace it grew into. */
void ws_root_trace_id(uint64_t span_id, uint8_t id[16]);

/* Copy a linked span's trace id, parent and link fields into s. */
void ws_lspan_apply(const struct ws_lset *set, const struct ws_lspan *l, struct ws_span *s);

/* A database's spans and processes into set (as database number db), and
 * the links found for its spans back into it (one transaction); load.c.
 * 0, or -1 after a message naming the file. */
struct ws_store;
int ws_lset_load(struct ws_lset *set, struct ws_store *st, uint16_t db);
int ws_lset_save(const struct ws_lset *set, struct ws_store *st, uint16_t db);
/* Assemble the traces of a database and store the trace ids and parents
 * (the end of a recording, and `wirespan link`): 0, or 1 after a message.
 * max_spans (0: no bound): a database holding more is left to its readers,
 * who assemble the traces when they read (assembly holds every span in
 * memory, and a recorder's memory must stay bounded); said, and 0. */
#define WS_LINK_MAX_SPANS 500000
int ws_link_store(struct ws_store *st, const char *path, uint64_t max_spans);
/* The same for spans not stored yet: set holds trace assembly's view of
 * them and spool the spans, added in one order (the database holds no
 * other span). The database's processes are read, the spans are linked
 * and stored, each once, in the order they were added. */
struct ws_spool;
int ws_link_store_held(struct ws_store *st, const char *path, struct ws_lset *set, const struct ws_spool *spool);
/* Put the set in the order a database reads it in (start time, then the
 * order the spans were added). */
void ws_lset_sort(struct ws_lset *set);

#endif
