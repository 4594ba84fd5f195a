#!/usr/bin/env bash
# seed_store.sh WIRESPAN CORPUS: databases for fuzz_store, written by
# `wirespan pcap` from the pcap fuzzer's seed captures (valid SQLite files
# with wirespan's schema, spans, connections, TCP events and packets).
set -uo pipefail
w=$1
out=$2/store
mkdir -p "$out"
for c in "$2"/pcap/*.pcap "$2"/pcap/*.pcapng; do
	[ -e "$c" ] || continue
	db="$out/$(basename "$c").db"
	rm -f "$db" "$db-wal" "$db-shm"
	"$w" pcap --db "$db" "$c" >/dev/null 2>&1 || rm -f "$db"
	rm -f "$db-wal" "$db-shm"
done
exit 0
