/* fuzz_h2.c -- libFuzzer target for the HTTP/2 parser (frames, HPACK
 * through libnghttp2, streams, gRPC fields). */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_parser(&ws_h2_ops, data, size); }
