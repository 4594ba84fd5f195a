#!/usr/bin/env bash
# agent_soak.sh [SECONDS] -- `wirespan agent` under a steady load for a
# while (default 600 s): nginx served by wrk at a fixed rate (-R is not in
# Debian's wrk, so a bounded connection count and a short think time on a
# tiny file), the agent rotating every 20 s, keeping 5 databases, sending
# nowhere (an endpoint that is down: the export queue's bound is exercised
# too). The capture runs without a CPU budget (SOAK_RECORD overrides:
# "--cpu-budget 5" sheds most of it). Every 10 s it samples the agent's resident memory and the bytes of
# its directory; it prints them, and the verdict: both bounded (the last
# third's maximum within 1.5x the middle third's, and the disk within
# retain_files + 1 databases of the largest one seen).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
work=$(mktemp -d /tmp/wirespan-soak.XXXXXX)
chmod 755 "$work"
mkdir -m 0700 "$work/db"
mkdir -p "$work/nginx/logs" "$work/nginx/www"
echo ok > "$work/nginx/www/i.txt"
cat > "$work/nginx.conf" <<CONF
daemon on; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/logs/error.log;
events { worker_connections 256; }
http { access_log off; server { listen 127.0.0.1:18490; root $work/nginx/www; } }
CONF
nginx -p "$work/nginx" -c "$work/nginx.conf"
cat > "$work/agent.conf" <<CONF
db_dir = $work/db
rotate_seconds = 20
retain_files = 5
export_queue_files = 2
otlp_endpoint = http://127.0.0.1:9
metrics_listen = 127.0.0.1:19480
record = --port 18490 ${SOAK_RECORD:---cpu-budget 0}
CONF
chmod 600 "$work/agent.conf"
build/wirespan agent --config "$work/agent.conf" 2> "$work/agent.log" &
agent=$!
trap 'kill $agent 2>/dev/null || true; kill $(cat $work/nginx/nginx.pid) 2>/dev/null || true; wait $agent 2>/dev/null || true; rm -rf "$work"' EXIT
until grep -q "capturing since" "$work/agent.log"; do sleep 0.2; done
wrk -t1 -c4 -d"${secs}s" http://127.0.0.1:18490/i.txt > "$work/wrk.txt" &
wrkp=$!
echo "t_s rss_kib dir_kib databases"
samples=()
for ((t = 10; t <= secs; t += 10)); do
	sleep 10
	rss=$(awk '/VmRSS/ {print $2}' /proc/$agent/status)
	dir=$(du -sk "$work/db" | cut -f1)
	n=$(ls "$work/db" | grep -c '\.db$' || true)
	echo "$t $rss $dir $n"
	samples+=("$rss $dir")
done
wait $wrkp || true
curl -s http://127.0.0.1:19480/metrics | grep -E '^wirespan_(databases|export|events_lost_total\{cause="ringbuf)' || true
kill -TERM $agent
wait $agent || true
tail -3 "$work/agent.log"
grep -E "Requests/sec" "$work/wrk.txt"
python3 - "${samples[@]}" <<'PY'
import sys
s = [tuple(map(int, a.split())) for a in sys.argv[1:]]
k = len(s) // 3
mid, last = s[k:2 * k], s[2 * k:]
rss_mid, rss_last = max(r for r, _ in mid), max(r for r, _ in last)
dir_mid, dir_last = max(d for _, d in mid), max(d for _, d in last)
ok = rss_last <= 1.5 * rss_mid and dir_last <= 1.5 * dir_mid
print(f"memory: middle third max {rss_mid} KiB, last third max {rss_last} KiB; "
      f"disk: middle {dir_mid} KiB, last {dir_last} KiB: {'bounded' if ok else 'GROWING'}")
sys.exit(0 if ok else 1)
PY
