#!/usr/bin/env bash
# Offline throughput of `wirespan pcap` on a >= 1 GB capture of real HTTP
# traffic, against tshark (Wireshark's TCP analysis) and tcpdump (reading
# the file and nothing else), each pinned to one core.
#
#   1. capture: two network-namespace hosts joined by a veth pair,
#      wsbench-a 198.18.0.1 (wrk, tcpdump) and wsbench-b 198.18.0.2 (nginx:
#      a 128-byte file and a 16 KiB file). GRO/GSO/TSO are off on both veth
#      ends so every packet is at most MTU-sized, as on a real NIC. Rounds of
#      bounded wrk runs (keep-alive to both files, then short connections
#      with "Connection: close") until the capture reaches $MIN_BYTES. The
#      capture is kept and reused by later runs while it is big enough.
#   2. timing, interleaved (wirespan tshark tcpdump, wirespan tshark tcpdump,
#      ... $REPS times), each under `taskset -c 1`, the file in page cache:
#        wirespan pcap --quiet --db DB FILE   (DB deleted before each run)
#        tshark -n -r FILE -Y tcp.analysis.flags -T fields -e frame.number
#        tcpdump -r FILE -w /dev/null
#   3. a table: median seconds, packets/s, MB/s, wirespan's speed over each
#      tool's; wirespan's peak RSS and database size; the targets
#      (>= 1.5 M packets/s on one core, >= 20x tshark).
#
# usage: bench/pcap.sh            (as root; installs missing Debian packages)
#   REPS=3            timed runs per tool
#   PCAP=FILE         the capture (default /var/tmp/wirespan-bench/capture.pcap)
#   MIN_BYTES=N       capture size to reach (default 1 GiB)
#   WIRESPAN=PATH     binary under test (default build/wirespan; `make` if missing)
#   TSHARK_MAX_S=300  if tshark on the whole file would take longer than this
#                     per run (estimated from a timed prefix), tshark is timed
#                     on the first $TSHARK_PREFIX packets only and its rate
#                     is reported from that (the table says so)
#   TSHARK_PREFIX=200000
#   PROFILE=1         also `perf record` one wirespan run, print the top 10
#                     functions by self time
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
REPS=${REPS:-3}
PCAP=${PCAP:-/var/tmp/wirespan-bench/capture.pcap}
MIN_BYTES=${MIN_BYTES:-1073741824}
WIRESPAN=${WIRESPAN:-$ROOT/build/wirespan}
TSHARK_MAX_S=${TSHARK_MAX_S:-300}
TSHARK_PREFIX=${TSHARK_PREFIX:-200000}
PROFILE=${PROFILE:-0}
CORE=1

NS_A=wsbench-a NS_B=wsbench-b
ADDR_A=198.18.0.1 ADDR_B=198.18.0.2
PORT=18480
MAX_ROUNDS=150 # each round is ~4 s of wrk: the capture loop ends in 10 minutes at most

say() { printf '%s\n' "$*" >&2; }
die() { say "pcap.sh: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, tcpdump)"

# ---- packages ----
need=()
for pair in tshark:tshark editcap:tshark capinfos:tshark tcpdump:tcpdump wrk:wrk nginx:nginx-light \
	ethtool:ethtool /usr/bin/time:time taskset:util-linux ip:iproute2; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ "$PROFILE" = 1 ] && ! command -v perf >/dev/null 2>&1 && need+=(linux-perf)
if [ ${#need[@]} -gt 0 ]; then
	say "pcap.sh: installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
[ -x "$WIRESPAN" ] || make -C "$ROOT" --no-print-directory >&2
[ -x "$WIRESPAN" ] || die "no $WIRESPAN"

WORK=$(mktemp -d /var/tmp/wirespan-bench.XXXXXX)
chmod 755 "$WORK" # nginx's worker (nobody) reads the files from here
PIDS=()
cleanup() {
	set +e
	for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	if [ -f "$WORK/nginx/nginx.pid" ]; then
		nginx -p "$WORK/nginx" -c nginx.conf -s stop 2>/dev/null
		sleep 0.2
	fi
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# ---- 1. the capture ----
make_capture() {
	mkdir -p "$(dirname "$PCAP")"
	local part="$PCAP.part" nginx="$WORK/nginx"
	rm -f "$part"
	for ns in "$NS_A" "$NS_B"; do
		ip netns del "$ns" 2>/dev/null || true
		ip netns add "$ns"
	done
	ip link add "veth-$NS_A" netns "$NS_A" type veth peer name "veth-$NS_B" netns "$NS_B"
	for pair in "$NS_A:$ADDR_A" "$NS_B:$ADDR_B"; do
		local ns=${pair%%:*} addr=${pair#*:}
		ip -n "$ns" addr add "$addr/24" dev "veth-$ns"
		ip -n "$ns" link set "veth-$ns" up
		ip -n "$ns" link set lo up
		# MTU-sized packets: no segmentation offload, no receive coalescing
		ip netns exec "$ns" ethtool -K "veth-$ns" gro off gso off tso off >/dev/null 2>&1 || true
		local k
		k=$(ip netns exec "$ns" ethtool -k "veth-$ns" |
			grep -E '^(tcp-segmentation-offload|generic-segmentation-offload|generic-receive-offload):' |
			grep -vc ': off' || true)
		[ "$k" = 0 ] || die "could not turn GRO/GSO/TSO off on veth-$ns"
	done
	# many short connections from one client address: reuse TIME_WAIT ports
	ip netns exec "$NS_A" sysctl -q -w net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="10000 65000"

	mkdir -p "$nginx/www" "$nginx/logs" "$nginx/tmp"
	head -c 128 /dev/zero | tr '\0' 'a' >"$nginx/www/small.txt"
	head -c 16384 /dev/urandom >"$nginx/www/16k.bin"
	chmod -R a+rX "$nginx"
	cat >"$nginx/nginx.conf" <<EOF
daemon on;
worker_processes 1;
pid $nginx/nginx.pid;
error_log $nginx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $nginx/tmp;
    proxy_temp_path $nginx/tmp;
    fastcgi_temp_path $nginx/tmp;
    uwsgi_temp_path $nginx/tmp;
    scgi_temp_path $nginx/tmp;
    sendfile on;
    keepalive_timeout 30;
    keepalive_requests 10000;
    types { text/plain txt; application/octet-stream bin; }
    server {
        listen $ADDR_B:$PORT;
        root $nginx/www;
    }
}
EOF
	# nginx and wrk share core 0 (with the softirqs of the veth traffic they
	# send); tcpdump has core 1 to itself, so it keeps up with the traffic
	ip netns exec "$NS_B" taskset -c 0 nginx -p "$nginx" -c nginx.conf
	for _ in $(seq 100); do
		[ -n "$(ip netns exec "$NS_B" ss -Htln "sport = :$PORT")" ] && break
		sleep 0.05
	done

	# -B 131072: a 128 MiB kernel buffer; -Z root: write the file as root
	ip netns exec "$NS_A" taskset -c 1 tcpdump -n -i "veth-$NS_A" -B 131072 -Z root -w "$part" \
		"tcp port $PORT" 2>"$WORK/tcpdump.err" &
	local td=$!
	PIDS+=("$td")
	for _ in $(seq 200); do
		grep -q "listening on" "$WORK/tcpdump.err" && break
		sleep 0.05
	done
	grep -q "listening on" "$WORK/tcpdump.err" || die "tcpdump did not start: $(cat "$WORK/tcpdump.err")"

	local url="http://$ADDR_B:$PORT" round=0
	wrk_() { timeout 30 ip netns exec "$NS_A" taskset -c 0 wrk "$@" >>"$WORK/wrk.log" 2>&1 || die "wrk $*: $(tail -3 "$WORK/wrk.log")"; }
	while [ "$(size_of "$part")" -lt "$MIN_BYTES" ]; do
		round=$((round + 1))
		[ $round -le $MAX_ROUNDS ] || die "capture still $(size_of "$part") bytes after $MAX_ROUNDS rounds"
		wrk_ -t1 -c16 -d2s "$url/16k.bin"                            # keep-alive, 16 KiB responses
		wrk_ -t1 -c16 -d1s "$url/small.txt"                          # keep-alive, small responses
		wrk_ -t1 -c8 -d1s -H "Connection: close" "$url/small.txt"    # one request per connection
		say "pcap.sh: capture round $round: $(($(size_of "$part") / 1000000)) MB"
	done
	sleep 0.5 # the last FINs
	kill -INT "$td"
	wait "$td" || true
	PIDS=()
	nginx -p "$nginx" -c nginx.conf -s stop 2>/dev/null
	rm -f "$nginx/nginx.pid"
	ip netns del "$NS_A"
	ip netns del "$NS_B"

	local drops
	drops=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel.*/\1/p' "$WORK/tcpdump.err")
	[ -n "$drops" ] || die "no 'dropped by kernel' line from tcpdump: $(cat "$WORK/tcpdump.err")"
	mv "$part" "$PCAP"
	{
		echo "drops=$drops"
		echo "rounds=$round"
		echo "made=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$PCAP.info"
}

if [ "$(size_of "$PCAP")" -ge "$MIN_BYTES" ] && [ -f "$PCAP.info" ]; then
	say "pcap.sh: reusing $PCAP"
else
	say "pcap.sh: capturing to $PCAP (>= $MIN_BYTES bytes)"
	make_capture
fi
drops='' rounds='' packets='' databytes='' meansize='' over_mtu='' conns=''
# shellcheck disable=SC1090
. "$PCAP.info"

# packet count and sizes, computed once per capture
if [ -z "${packets:-}" ]; then
	say "pcap.sh: counting packets"
	ci=$(capinfos -M -T -r -c -d -z "$PCAP")
	packets=$(cut -f2 <<<"$ci")
	databytes=$(cut -f3 <<<"$ci")
	meansize=$(cut -f4 <<<"$ci")
	# frames longer than an Ethernet MTU's 1514 bytes: offload left on
	over_mtu=$(tcpdump -r "$PCAP" -nn 'greater 1515' 2>/dev/null | wc -l)
	conns=$(tcpdump -r "$PCAP" -nn 'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' 2>/dev/null | wc -l)
	{
		echo "packets=$packets"; echo "databytes=$databytes"; echo "meansize=$meansize"
		echo "over_mtu=$over_mtu"; echo "conns=$conns"
	} >>"$PCAP.info"
fi
filebytes=$(size_of "$PCAP")

# ---- 2. timing ----
cat "$PCAP" >/dev/null # page cache: every run reads from memory

# Why -Y tcp.analysis.flags: tshark -q with no display filter, no printing
# and no tap that needs fields skips dissection altogether (it only counts
# frames), so it measures little more than reading. A display filter on a
# TCP analysis field makes tshark dissect every frame with a protocol tree
# and run the TCP dissector's sequence analysis (tcp.analyze_sequence_numbers,
# on by default) and, with default preferences, TCP reassembly and HTTP
# parsing: the work wirespan does. -T fields -e frame.number prints only the
# frames with an analysis flag, so the output costs nothing. The check below
# shows that the -q run is ~20x cheaper and that the analysis ran. A clean
# capture has few flags: here mostly "SYN reusing the ports of an earlier
# session" (tcp_tw_reuse), none at all in the first 200k packets.
TSHARK_ARGS=(-n -Y tcp.analysis.flags -T fields -e frame.number)

run_timed() { # name out cmd...: appends "seconds peak_rss_kb" to $WORK/$name.times
	local name=$1 out=$2 t0 t1
	shift 2
	t0=$(date +%s%N)
	taskset -c $CORE /usr/bin/time -v -o "$WORK/time.log" "$@" >"$out" 2>"$WORK/$name.err" ||
		die "$name failed: $(tail -5 "$WORK/$name.err")"
	t1=$(date +%s%N)
	echo "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }') \
$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.log")" >>"$WORK/$name.times"
}

# tshark: the whole file, or a prefix when the whole file would take too long
say "pcap.sh: timing tshark on the first $TSHARK_PREFIX packets"
editcap -r "$PCAP" "$WORK/prefix.pcap" "1-$TSHARK_PREFIX"
prefix_packets=$(capinfos -M -T -r -c "$WORK/prefix.pcap" | cut -f2)
prefix_bytes=$(size_of "$WORK/prefix.pcap")
run_timed tshark-probe "$WORK/tshark-probe.out" tshark "${TSHARK_ARGS[@]}" -r "$WORK/prefix.pcap"
run_timed tshark-q /dev/null tshark -n -r "$WORK/prefix.pcap" -q
probe_s=$(cut -d' ' -f1 "$WORK/tshark-probe.times")
q_s=$(cut -d' ' -f1 "$WORK/tshark-q.times")
probe_lines=$(wc -l <"$WORK/tshark-probe.out")
# a clean capture may have no analysis flags at all: show that the analysis
# ran by the frames it gave an ACK RTT (tcp.analysis.ack_rtt) among the first
# 20000
editcap -r "$WORK/prefix.pcap" "$WORK/p20k.pcap" 1-20000
rtt_frames=$(tshark -n -r "$WORK/p20k.pcap" -Y tcp.analysis.ack_rtt -T fields -e frame.number 2>/dev/null | wc -l)
est_full=$(awk -v s="$probe_s" -v n="$prefix_packets" -v t="$packets" 'BEGIN { printf "%.0f", s * t / n }')
if [ "$est_full" -gt "$TSHARK_MAX_S" ]; then
	T_INPUT=$WORK/prefix.pcap T_PACKETS=$prefix_packets T_BYTES=$prefix_bytes T_WHAT="first $prefix_packets packets"
else
	T_INPUT=$PCAP T_PACKETS=$packets T_BYTES=$filebytes T_WHAT="whole file ($packets pkts)"
fi

DB=$WORK/x.db
for rep in $(seq "$REPS"); do
	say "pcap.sh: repetition $rep of $REPS"
	rm -f "$DB" "$DB-wal" "$DB-shm" "$DB-journal"
	run_timed wirespan /dev/null "$WIRESPAN" pcap --quiet --db "$DB" "$PCAP"
	run_timed tshark "$WORK/tshark.out" tshark "${TSHARK_ARGS[@]}" -r "$T_INPUT"
	run_timed tcpdump /dev/null tcpdump -r "$PCAP" -w /dev/null
done
dbbytes=$(($(size_of "$DB") + $(size_of "$DB-wal")))
tshark_lines=$(wc -l <"$WORK/tshark.out")

# ---- 3. the table ----
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
W_S=$(cut -d' ' -f1 "$WORK/wirespan.times" | median)
T_S=$(cut -d' ' -f1 "$WORK/tshark.times" | median)
D_S=$(cut -d' ' -f1 "$WORK/tcpdump.times" | median)
W_RSS=$(cut -d' ' -f2 "$WORK/wirespan.times" | sort -n | tail -1)
w_pps=$(awk -v n="$packets" -v s="$W_S" 'BEGIN { printf "%.0f", n / s }')
t_pps=$(awk -v n="$T_PACKETS" -v s="$T_S" 'BEGIN { printf "%.0f", n / s }')

echo
echo "capture   $PCAP"
echo "          $filebytes bytes, $packets packets, mean $meansize bytes/packet" \
	"($((databytes / 1000000)) MB of packet data), $over_mtu longer than 1514 bytes"
echo "          tcpdump: $drops packets dropped by kernel$([ "$drops" = 0 ] || echo '  <- NOT 0: the capture misses packets')"
echo "          traffic: $conns TCP connections (SYNs); wrk keep-alive (16 KiB and 128-byte responses)" \
	"and Connection: close, rounds of 4 s: $rounds"
echo "tshark    on the first $prefix_packets packets: -Y tcp.analysis.flags ${probe_s} s ($probe_lines frames flagged)," \
	"-q (no dissection) ${q_s} s; $rtt_frames of the first 20000 frames have tcp.analysis.ack_rtt"
if [ "$T_INPUT" != "$PCAP" ]; then
	echo "          NOTE: tshark on the whole file would take ~${est_full} s a run (> TSHARK_MAX_S=$TSHARK_MAX_S):"
	echo "          it is timed on the first $T_PACKETS packets and its rate is taken from that"
fi
echo "runs      $REPS of each, interleaved, taskset -c $CORE, median shown; MB/s is input file bytes"
echo
{
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' tool input "seconds" "packets/s" "MB/s" "runs (s)" "peak RSS" \
		"wirespan speedup"
	row() { # tool input packets bytes median timesfile
		local runs rss
		runs=$(cut -d' ' -f1 "$6" | paste -sd' ')
		rss=$(cut -d' ' -f2 "$6" | sort -n | tail -1)
		awk -v t="$1" -v i="$2" -v n="$3" -v b="$4" -v s="$5" -v r="$runs" -v m="$rss" -v w="$w_pps" 'BEGIN {
			pps = n / s
			printf "%s\t%s\t%.2f\t%.0f\t%.1f\t%s\t%.0f MiB\t%s\n", t, i, s, pps, b / s / 1e6, r, m / 1024,
				(t == "wirespan") ? "-" : sprintf("%.1fx", w / pps) }'
	}
	row wirespan "whole file ($packets pkts)" "$packets" "$filebytes" "$W_S" "$WORK/wirespan.times"
	row tshark "$T_WHAT" "$T_PACKETS" "$T_BYTES" "$T_S" "$WORK/tshark.times"
	row tcpdump "whole file ($packets pkts)" "$packets" "$filebytes" "$D_S" "$WORK/tcpdump.times"
} | column -t -s $'\t'
echo
echo "wirespan  peak RSS $((W_RSS / 1024)) MiB; database $((dbbytes / 1000000)) MB ($dbbytes bytes)"
echo "tshark    printed $tshark_lines frames with TCP analysis flags"
awk -v p="$w_pps" -v t="$t_pps" 'BEGIN {
	printf "target    >= 1.5 M packets/s on one core: %.2f M  %s\n", p / 1e6, (p >= 1.5e6) ? "met" : "NOT met"
	printf "target    >= 20x tshark:                  %.1fx   %s\n", p / t, (p / t >= 20) ? "met" : "NOT met" }'

# ---- profile ----
if [ "$PROFILE" = 1 ]; then
	rm -f "$DB" "$DB-wal" "$DB-shm"
	perf record -q -F 1999 -o "$WORK/perf.data" -- taskset -c $CORE "$WIRESPAN" pcap --quiet --db "$DB" "$PCAP" \
		>/dev/null 2>"$WORK/perf.err" || die "perf record: $(tail -3 "$WORK/perf.err")"
	echo
	echo "perf: top 10 functions by self time in wirespan pcap"
	perf report -i "$WORK/perf.data" --no-children --sort dso,sym --stdio 2>/dev/null |
		grep -v '^#' | grep -v '^$' | head -10
fi
