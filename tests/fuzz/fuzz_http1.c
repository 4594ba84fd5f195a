/* fuzz_http1.c -- libFuzzer target for the HTTP/1.x parser. */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_parser(&ws_http1_ops, data, size); }
