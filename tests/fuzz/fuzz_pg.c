/* fuzz_pg.c -- libFuzzer target for the PostgreSQL protocol parser. */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_parser(&ws_pg_ops, data, size); }
