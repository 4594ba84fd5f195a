/* dbset.h -- the databases a reading command was given (--db, repeatable:
 * one per host), their spans loaded and linked into traces together. */
#ifndef WIRESPAN_DBSET_H
#define WIRESPAN_DBSET_H

#include "cli/opts.h"
#include "store/store.h"
#include "trace/link.h"
#include "trace/phases.h"
#include "util/hashmap.h"

struct dbset {
	const char *path[CLI_MAX_DBS]; /* CLI_DBS(d.path, &d.n) fills them */
	struct ws_store *st[CLI_MAX_DBS];
	size_t n;
	struct ws_lset set;
	struct ws_hashmap by_id; /* span id -> its linked span */
	struct ws_tcpevs tcp;    /* retransmissions and resets of all */
	struct ws_phaseset ph;   /* where each span's time went */
};

/* The options of the commands that link spans into traces, for their
 * tables (opts.h): lo is a struct ws_link_opts *. */
#define DBSET_LINK_OPTS(lo)                                                                                            \
	CLI_SET("no-traceparent", &(lo)->no_traceparent), CLI_REAL("min-confidence", &(lo)->min_confidence, 0, 1, NULL)

/* Open every database of path[0..n), load the spans and link them.
 * Returns 0, or 1/2 with a message; dbset_close anyway. */
int dbset_open(struct dbset *d, const struct ws_link_opts *opts);
void dbset_close(struct dbset *d);
/* The linked version of a span read from one of the databases. */
const struct ws_lspan *dbset_find(const struct dbset *d, const struct ws_span *s);
/* Its phases. */
const struct ws_phases *dbset_phases(const struct dbset *d, const struct ws_lspan *l);
/* A stored span as the set shows it: with the trace id and parent that
 * assembling all the databases found, and its phases among its attributes. */
void dbset_linked_span(const struct dbset *d, const struct ws_span *stored, struct ws_span *out);

#endif
