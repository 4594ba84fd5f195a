/* sink.h -- the store as a sink (span/sink.h): what the pipeline hands it
 * goes into the recording it began, in the open batch, made durable at
 * each commit. */
#ifndef WIRESPAN_STORE_SINK_H
#define WIRESPAN_STORE_SINK_H

#include <stdint.h>

#include "span/sink.h"
#include "store/store.h"

struct ws_store_sink {
	struct ws_store *st;
	int64_t rec; /* the recording begun, 0 before */
};

/* Fill out with the store's operations, writing into st through ss. */
void ws_store_sink_init(struct ws_store_sink *ss, struct ws_store *st, struct ws_sink *out);

#endif
