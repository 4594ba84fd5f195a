#!/usr/bin/env bash
# run_fuzzer.sh NAME SECONDS: run one libFuzzer target on its corpus for a
# while; exits non-zero on a crash, a leak or a sanitizer report (the input
# is saved as build-fuzz/NAME-crash-*).
set -uo pipefail
f=$1
secs=$2
corpus=build-fuzz/corpus/${f#fuzz_}
mkdir -p "$corpus"
# inputs up to FUZZ_MAX_LEN bytes (default 4096; databases up to 1 MiB, libraries 64 KiB)
maxlen=${FUZZ_MAX_LEN:-4096}
[ "$f" = fuzz_store ] && maxlen=1048576
[ "$f" = fuzz_tlslib ] && maxlen=65536 # a whole small shared object
"build-fuzz/$f" -max_total_time="$secs" -max_len="$maxlen" -artifact_prefix="build-fuzz/$f-" "$corpus" \
	>"build-fuzz/$f.log" 2>&1
rc=$?
grep -E '^Done|ERROR|SUMMARY|runtime error' "build-fuzz/$f.log" | tail -n 5
exit $rc
