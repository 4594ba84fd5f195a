/* redis.h -- Redis RESP2/RESP3 parser (see redis.c). Reached through ws_redis_ops. */
#ifndef WIRESPAN_REDIS_H
#define WIRESPAN_REDIS_H

#include <stdbool.h>

#include "proto/proto.h"

/* Whether a command (as a span names it: upper case, maybe followed by
 * its key) blocks by design
 * until data arrives or its timeout passes (BLPOP, BZPOPMIN, WAIT...):
 * its server time is waiting as asked, not a slow server. */
bool ws_redis_blocking_command(const char *command);

/* Whether a span stores argument i (0: the command) of a command named cmd
 * (upper case) whose first argument is sub (upper case): the command, a
 * container's subcommand (CONFIG GET) and the key are stored; values,
 * scripts, messages and credentials never are. */
bool ws_redis_arg_stored(const char *cmd, const char *sub, unsigned i);

#endif
