/* loop.h -- the event loop of one thread (Node.js, Python asyncio, any
 * thread serving several requests at once), as trace assembly models it:
 * which request each call the thread writes was made for.
 *
 * A loop reads what is ready and runs, in order, the steps the reads made
 * ready. Each read that completes a message makes a context ready: the
 * request read, or the request a reply's call was made for -- once every
 * call it made is answered (a step that awaits two calls at once goes on
 * after the second reply). Each step writes calls, or the response. Two
 * styles of loop are modelled, and the replay runs both:
 *
 *  - tick (Node.js): the steps made ready by one read all run, promise
 *    jobs included, before the next read. The calls written in between are
 *    theirs; a step makes the calls its kind of step makes (learnt: after a
 *    request, b1 and b2; after their replies, Redis), and those it could
 *    not write wait in the connection pool's queue;
 *  - queue (asyncio): one queue of ready tasks, run in order, a reply
 *    possibly a trip later than a request (a client library's reader task).
 *    Contexts are queued per class of read -- requests on a listening
 *    port, replies to one kind of call -- and a call goes to the oldest
 *    context of the class whose steps make such calls, one call of a kind
 *    per step. A context passed over (a later one of its class answered
 *    first) is waiting, for a pooled connection or for something unseen.
 *
 * A connection pool (Node's http.Agent, aiohttp's connector, a Redis pool)
 * hands a connection given back to the oldest waiting call, first in,
 * first out. A connection that carries several requests at once (one
 * Redis connection shared and pipelined) is not pooled.
 *
 * Each model counts what contradicts it: a response written while calls
 * the model gave that request are unanswered. The replay keeps the style
 * that fits the thread, and believes it as much as it fits.
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
	WS_LOOP_TICK,  /* Node: a read's steps all run before the next read */
	WS_LOOP_QUEUE, /* asyncio: one queue of ready tasks, run in order */
};

/* How a call was attributed. */
enum ws_loop_why {
	WS_LOOP_NONE = 0, /* no context ready */
	WS_LOOP_ONLY,     /* the one context ready (the one the last read made ready) */
	WS_LOOP_ORDER,    /* the oldest ready context whose kind of step makes such calls */
	WS_LOOP_POOL,     /* the oldest waiting call, on a pooled connection given back */
};

struct ws_loop;

struct ws_loop *ws_loop_new(enum ws_loop_style style);
void ws_loop_free(struct ws_loop *l);

/* A read at t completed request ctx (call < 0), or the reply to call (a
 * client span index; its context is the one the model gave it), of class
 * cls (the listening port; the kind of call). pooled_conn: the connection
 * of a reply on a pooled connection, else 0. */
void ws_loop_read(struct ws_loop *l, uint64_t t, int32_t ctx, int32_t call, uint64_t cls, uint64_t pooled_conn);
/* Context ctx wrote its response. */
void ws_loop_respond(struct ws_loop *l, int32_t ctx);
/* Call (a client span index) of kind api (its peer, operation and route)
 * is written on connection conn (shared: it carries several requests at
 * once): the context the model gives it goes to *ctx (-1: none, or a
 * context of no request). alive(arg, ctx) tells whether a context can
 * still make calls. */
enum ws_loop_why ws_loop_call(struct ws_loop *l, int32_t call, uint64_t api, uint64_t conn, bool shared, int32_t *ctx,
			      bool (*alive)(void *arg, int32_t ctx), void *arg);
/* Whether the model's answer for call was contradicted: the request it
 * gave the call answered before the call did. */
bool ws_loop_suspect(const struct ws_loop *l, int32_t call);
/* Responses written, those that contradicted the model, and those of
 * contexts it gave no call (which tell between models that fit alike). */
void ws_loop_fit(const struct ws_loop *l, uint64_t *responses, uint64_t *contradictions, uint64_t *idle);

#endif
