#!/usr/bin/env bash
# Run every test and print one summary line:
#   unit tests (recorded byte streams, every split), the same under
#   AddressSanitizer + UBSan, each libFuzzer target briefly, and the
#   end-to-end tests with real servers, clients and eBPF (needs root).
# FUZZ_SECONDS (default 30) sets the time per fuzzer.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
UNIT=$(make --no-print-directory -s print-UNIT_TESTS)
FUZZERS=$(make --no-print-directory -s print-FUZZERS)
failed=()
log=build/test-logs
mkdir -p "$log"

step() { # name command...
	local name=$1
	shift
	if "$@" >"$log/$name.log" 2>&1; then
		echo "ok   $name: $(tail -n 1 "$log/$name.log" | sed -E "s/^[A-Za-z0-9_]+: //")"
	else
		echo "FAIL $name (log: $log/$name.log)"
		tail -n 30 "$log/$name.log" | sed 's/^/     /'
		failed+=("$name")
	fi
}

for t in $UNIT; do
	step "$t" "build/$t"
done

if make --no-print-directory -j"$(nproc)" asan >"$log/asan-build.log" 2>&1; then
	for t in $UNIT; do
		step "asan-$t" env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "build-asan/$t"
	done
else
	echo "FAIL asan build (log: $log/asan-build.log)"
	failed+=(asan-build)
fi

if make --no-print-directory -j"$(nproc)" fuzz >"$log/fuzz-build.log" 2>&1; then
	python3 tests/fuzz/seed.py build-fuzz/corpus
	python3 tests/data/go/synth.py build-fuzz/corpus/gobin
	mkdir -p build-fuzz/corpus/pyasync
	cp /usr/lib/python3*/lib-dynload/_asyncio.cpython-3*-x86_64-linux-gnu.so build-fuzz/corpus/pyasync/ 2>/dev/null
	mkdir -p build-fuzz/corpus/tlslib
	cc -shared -fPIC -O1 -s -o build-fuzz/corpus/tlslib/libssl-standin.so tests/data/tls_symbols.c
	tests/fuzz/seed_store.sh build/wirespan build-fuzz/corpus
	for f in $FUZZERS; do
		step "$f" tests/fuzz/run_fuzzer.sh "$f" "$FUZZ_SECONDS"
	done
else
	echo "FAIL fuzz build (log: $log/fuzz-build.log)"
	failed+=(fuzz-build)
fi

if [ "$(id -u)" -eq 0 ]; then
	step e2e python3 tests/e2e/run.py
	grep -E '^(PASS|FAIL)' "$log/e2e.log" | sed 's/^/     /'
	# the live path (loader, ring buffers, store) under the sanitizers too
	if [ -x build-asan/wirespan ]; then
		step e2e-asan env WIRESPAN=build-asan/wirespan ASAN_OPTIONS=detect_leaks=1 \
			python3 tests/e2e/run.py test_python_keepalive test_nginx_keepalive test_redis_cli_pipe \
			test_secrets test_garbage test_save_and_replay test_started_mid test_disk_full test_three_host_chain \
			test_fault_loss test_pcap_redis test_pcap_bad_input test_sigkill_keeps_database \
			test_budget_sheds_and_recovers test_no_secret_reaches_storage test_export_round_trips \
			test_agent_survives_collector_down_reload_and_kill test_tls_nginx_clients test_grpc_python \
			test_grpc_connection_before_recording
	fi
else
	echo "FAIL e2e: the end-to-end tests load eBPF programs and need root"
	failed+=(e2e)
fi

if [ ${#failed[@]} -eq 0 ]; then
	echo "wirespan tests: all passed"
	exit 0
fi
echo "wirespan tests: ${#failed[@]} failed: ${failed[*]}"
exit 1
