/* fuzz_mysql.c -- libFuzzer target for the MySQL / MariaDB protocol parser. */
#include "fuzz_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_parser(&ws_mysql_ops, data, size); }
