/* fuzz_redis.c -- libFuzzer target for the Redis RESP parser. */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_parser(&ws_redis_ops, data, size); }
