/* inproc.h -- trace assembly inside a process: which in-flight request
 * caused each outbound call (the client spans' parents). Part of ws_link();
 * see link.h for the methods and inproc.c for how each is decided. */
#ifndef WIRESPAN_INPROC_H
#define WIRESPAN_INPROC_H

#include "trace/link.h"

/* Link the client spans of every process of the set to the server spans
 * of the same process they were made for. Runs after the joins across
 * connections (a reply read stands for the request its call was made for). */
void ws_link_inside_processes(struct ws_lset *set, const struct ws_link_opts *opts);

#endif
