#!/usr/bin/env bash
# Install what the accuracy harness needs, only what is missing: the
# runtimes of the services under test (Go with redigo, OpenJDK 17, python3
# aiohttp and aioredis, Node.js), nginx and redis-server, strace for the
# behaviour notes, and the Node packages (npm ci) when node_modules is missing.
# As non-root it only says what to install.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

PKGS=(
	golang-go golang-github-gomodule-redigo-dev openjdk-17-jdk-headless
	python3 python3-aiohttp python3-aioredis nginx-light redis-server strace iproute2
)
missing=()
for p in "${PKGS[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "accuracy: missing Debian packages: ${missing[*]}" >&2
		echo "accuracy: install them with: sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	echo "accuracy: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -d "$HERE/node_modules" ]; then
	(cd "$HERE" && npm ci --no-audit --no-fund >/dev/null)
fi
