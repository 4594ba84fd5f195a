/* loop.h -- the event loop of one thread (Node.js, Python asyncio), as
 * trace assembly models it: which request each call it writes was made for.
 *
 * A loop reads what is ready and runs, in order, the callbacks the reads
 * made ready. Each read that completes a message makes a context ready:
 * the request read, or the request a reply's call was made for. What runs
 * after a read depends on the kind of read: a request runs its handler at
 * once, a reply may first pass through a client library's reader task (one
 * more trip round the loop in asyncio). So contexts are queued per class
 * of read -- requests on a listening port, replies from one peer -- and
 * each class keeps its order: the next step of a class is that of its
 * oldest context. A call goes to the class whose steps make calls to that
 * peer (learnt as the recording is replayed: after a request the handler
 * calls Redis, after Redis's reply it calls the backend...), the oldest
 * context first.
 *
 * A context passed over -- a later one of its class answered first -- made
 * no call in its turn: it waits, for a pooled connection (Node's
 * http.Agent, aiohttp's connector, a Redis pool) or for something not
 * seen. A pool hands a connection given back to the oldest waiting call,
 * first in, first out: a request written on a pooled connection, while
 * contexts wait, is the oldest waiting context's. A connection that
 * carries several requests at once (one Redis connection shared and
 * pipelined) is not pooled: nothing waits for it.
 *
 * Node runs the callbacks of one read (promise jobs included) before the
 * next read: a context the last read made ready alone makes every call
 * written before the next read (Promise.all of several calls).
 *
 * Pure bookkeeping: the caller (inproc.c) replays a process's events in
 * time order and checks the answers against the requests in flight. */
#ifndef WIRESPAN_LOOP_H
#define WIRESPAN_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/hashmap.h"

enum ws_loop_style {
	WS_LOOP_TICK,  /* Node: a read's callbacks all run before the next read */
	WS_LOOP_QUEUE, /* asyncio: one queue of ready tasks, run in order */
};

struct ws_loop_entry {
	int32_t ctx;    /* a server span index; -1: a reply to a call of no request */
	uint32_t cls;   /* its class (index into ws_loop.cls) */
	uint64_t seq;   /* made ready n-th */
};

struct ws_loop_fifo {
	struct ws_loop_entry *v;
	size_t head, n, cap;
};

struct ws_loop_class {
	uint64_t key;
	struct ws_loop_fifo q;
};

struct ws_loop {
	enum ws_loop_style style;
	struct ws_loop_class *cls;
	size_t ncls;
	struct ws_hashmap cls_index; /* class key -> index + 1 */
	struct ws_loop_fifo waiting; /* passed over, oldest first */
	struct ws_hashmap affinity;  /* class and peer -> calls made */
	struct ws_hashmap used;      /* connection -> 1: it carried a call */
	uint64_t seq;
	/* Node: the last read, and what it made ready */
	uint64_t last_read_t;
	unsigned last_read_n;
	int32_t last_read_ctx;
	bool called_since_read;
	uint64_t dropped; /* contexts forgotten: a queue held more than it keeps */
};

/* How a call was attributed. */
enum ws_loop_why {
	WS_LOOP_NONE = 0, /* no context ready */
	WS_LOOP_ONLY,     /* the one context ready, or the one the last read made ready (Node) */
	WS_LOOP_ORDER,    /* the oldest context of the class that makes such calls */
	WS_LOOP_GUESS,    /* the same, with several classes that make such calls */
	WS_LOOP_POOL,     /* the oldest waiting context, on a pooled connection */
};

/* Whether context ctx can still make calls (the caller's judgement, at
 * the time of the event being replayed). */
typedef bool (*ws_loop_alive_fn)(void *arg, int32_t ctx);

void ws_loop_init(struct ws_loop *l, enum ws_loop_style style);
void ws_loop_free(struct ws_loop *l);
/* A read at t completed a message of context ctx, of class cls_key (the
 * listening port for a request, the peer for a reply). */
void ws_loop_read(struct ws_loop *l, uint64_t t, int32_t ctx, uint64_t cls_key);
/* Context ctx wrote its response. */
void ws_loop_respond(struct ws_loop *l, int32_t ctx);
/* A call to peer is written on connection conn (shared: it carries several
 * requests at once): the context it was made for goes to *ctx. */
enum ws_loop_why ws_loop_call(struct ws_loop *l, uint64_t conn, bool shared, uint64_t peer, int32_t *ctx,
			      ws_loop_alive_fn alive, void *arg);

#endif
