/* dbset.h -- the databases a reading command was given (--db, repeatable:
 * one per host), their spans loaded and linked into traces together. */
#ifndef WIRESPAN_DBSET_H
#define WIRESPAN_DBSET_H

#include "store/store.h"
#include "trace/link.h"
#include "trace/phases.h"
#include "util/hashmap.h"

struct dbset {
	const char *path[16];
	struct ws_store *st[16];
	size_t n;
	struct ws_lset set;
	struct ws_hashmap by_id; /* span id -> its linked span */
	struct ws_tcpevs tcp;    /* retransmissions and resets of all */
	struct ws_phaseset ph;   /* where each span's time went */
};

/* --min-confidence X: a number from 0 to 1. Returns 0, or 2 (usage) with
 * a message. */
int dbset_min_confidence(const char *arg, struct ws_link_opts *lo);
/* Add a --db path. Returns 0, or 2 (usage) with a message. */
int dbset_add(struct dbset *d, const char *path);
/* Open every database (wirespan.db when none was given), load the spans
 * and link them. Returns 0, or 1/2 with a message; dbset_close anyway. */
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
