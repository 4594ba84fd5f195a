#!/usr/bin/env bash
# Install the Debian packages wirespan needs to build, demo and test.
# Installs only what is missing; as non-root it says what to install.
set -euo pipefail

# build: compiler for BPF, libbpf + bpftool (skeletons), SQLite, libdw and
#   capstone (reading Go executables: DWARF, disassembly), libcap and
#   libseccomp (the recorder drops privileges once it captures), libsodium
#   (keyed hashes for tables fed by capture files), protobuf-c, libcurl and
#   jansson (OTLP export: types generated from the official protos, HTTP,
#   the span JSON read back)
# demo and tests: real servers and clients, network namespaces, Go (test
#   programs), the runtimes of the accuracy chains the tests run (redigo,
#   aiohttp, aioredis; npm for the Node chain's locked packages; nghttp, h2load and
#   python3-grpcio for HTTP/2 and gRPC)
PKGS=(
	clang llvm make gcc libbpf-dev bpftool libelf-dev zlib1g-dev libsqlite3-dev libdw-dev libcapstone-dev golang-go
	libcap-dev libseccomp-dev libsodium-dev protobuf-c-compiler libprotobuf-c-dev libcurl4-openssl-dev libjansson-dev libnghttp2-dev
	libmicrohttpd-dev prometheus
	libclang-rt-14-dev sqlite3 python3 curl wrk nginx-light redis-server redis-tools postgresql-15
	mariadb-server mariadb-client libmariadb-dev pkg-config
	iproute2 util-linux procps linux-libc-dev libpcap-dev tcpdump tshark wireshark-common openssl
	golang-github-gomodule-redigo-dev python3-aiohttp python3-aioredis nghttp2-client python3-grpcio
)

missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "wirespan: missing Debian packages: ${missing[*]}" >&2
	echo "wirespan: install them with: sudo apt-get install -y ${missing[*]}" >&2
	exit 1
fi
echo "wirespan: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
