#!/usr/bin/env bash
# fetch-esbuild.sh DIR: stripped Go binaries of other Go versions for
# test_gobin, from the npm registry (the esbuild package ships its Go
# binary): esbuild 0.25.0 was built by go1.23.5 (pclntab of Go 1.20+,
# build info inline); 0.28.2 by go1.26.5, and its binary has no build info
# at all. Without the registry the checks that need them are skipped.
set -uo pipefail
dir=$1
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in 0.25.0 0.28.2; do
	[ -f "$dir/esbuild-$v" ] && continue
	if (cd "$tmp" && timeout 120 npm pack --silent "@esbuild/linux-x64@$v" >/dev/null 2>&1) &&
		tar -xzf "$tmp/esbuild-linux-x64-$v.tgz" -C "$tmp" package/bin/esbuild; then
		mv "$tmp/package/bin/esbuild" "$dir/esbuild-$v"
	else
		echo "fetch-esbuild: cannot fetch @esbuild/linux-x64@$v; test_gobin skips it" >&2
	fi
done
touch "$dir/esbuild.stamp"
