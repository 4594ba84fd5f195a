/* redis.h -- Redis RESP2/RESP3 parser (see redis.c). Reached through ws_redis_ops. */
#ifndef WIRESPAN_REDIS_H
#define WIRESPAN_REDIS_H

#include "proto/proto.h"

#endif
