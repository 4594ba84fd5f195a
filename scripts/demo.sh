#!/usr/bin/env bash
# The built-in scenario: curl against python3 http.server and nginx,
# redis-cli and redis-benchmark against redis-server, recorded live with
# wirespan, then the spans printed. Servers listen on loopback only and are
# stopped at the end. Needs root (eBPF).
set -euo pipefail
cd "$(dirname "$0")/.."

WS=$PWD/build/wirespan
DB=${DB:-$PWD/wirespan-demo.db}
HTTP10=18180 NGINX=18181 REDIS=16479
work=$(mktemp -d /tmp/wirespan-demo-XXXXXX)
chmod 755 "$work"
pids=()

cleanup() {
	[ -f "$work/nginx/nginx.pid" ] && nginx -p "$work/nginx" -c nginx.conf -s stop 2>/dev/null || true
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "the demo records with eBPF and needs root: sudo make demo" >&2
	exit 1
fi
mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true

wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.05
	done
	echo "nothing listens on port $1" >&2
	exit 1
}

echo "== starting python3 http.server :$HTTP10, nginx :$NGINX, redis-server :$REDIS"
mkdir -p "$work/www" "$work/nginx/www" "$work/nginx/logs"
echo "hello from python" >"$work/www/hello.txt"
echo "<h1>hello from nginx</h1>" >"$work/nginx/www/index.html"
head -c 65536 /dev/urandom >"$work/nginx/www/blob.bin"
cat >"$work/nginx/nginx.conf" <<CONF
daemon on;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $work/nginx;
    server { listen 127.0.0.1:$NGINX; root $work/nginx/www; }
}
CONF
python3 -m http.server "$HTTP10" --bind 127.0.0.1 --directory "$work/www" >/dev/null 2>&1 &
pids+=($!)
nginx -p "$work/nginx" -c nginx.conf
redis-server --port "$REDIS" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
pids+=($!)
wait_port "$HTTP10"
wait_port "$NGINX"
wait_port "$REDIS"

echo "== recording to $DB"
rm -f "$DB" "$DB-wal" "$DB-shm"
"$WS" record --db "$DB" --port "$HTTP10" --port "$NGINX" --port "$REDIS" 2>"$work/record.log" &
rec=$!
pids+=($rec)
for _ in $(seq 200); do grep -q "recording to" "$work/record.log" && break; sleep 0.05; done

echo "== traffic: curl x3 -> python, curl keep-alive x3 -> nginx, redis-cli, redis-benchmark"
for _ in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:$HTTP10/hello.txt"; done
# one keep-alive connection; -o applies to one URL each, so each gets its own
curl -s -o /dev/null "http://127.0.0.1:$NGINX/" -o /dev/null "http://127.0.0.1:$NGINX/blob.bin" \
	-o /dev/null "http://127.0.0.1:$NGINX/nope"
redis-cli -p "$REDIS" SET greeting hello >/dev/null
redis-cli -p "$REDIS" GET greeting >/dev/null
redis-cli -p "$REDIS" INCR visits >/dev/null
redis-benchmark -p "$REDIS" -q -t set,get -n 20 -c 1 -P 5 >/dev/null

kill -INT "$rec"
wait "$rec" || true
cat "$work/record.log"
echo
echo "== wirespan spans --db $DB"
"$WS" spans --db "$DB" --limit 40
echo
echo "== one span as JSON (wirespan spans --json)"
"$WS" spans --db "$DB" --json --kind server --protocol http --limit 1
