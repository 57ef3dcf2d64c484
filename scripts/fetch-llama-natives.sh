#!/bin/sh
# Fetches llama.cpp's CPU libraries from the npm package (the version pinned here, checksummed) into
# .cache/llama-native/linux-x64. Tests and benchmarks use them as the reference oracle; jlora never needs
# them to run. Idempotent: does nothing when the checksummed libraries are already in place.
set -eu
PACKAGE="@node-llama-cpp/linux-x64"
VERSION="3.22.1"
SHA256="0d953e1503d5ab4608d8ed5b739132308c81ac05ffeb760d2a7f30e08a9f90e0"

root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/llama-native"
dest="$cache/linux-x64"
stamp="$dest/.sha256"

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$SHA256" ]; then
  exit 0
fi
command -v npm >/dev/null 2>&1 || { echo "fetch-llama-natives: npm is needed to fetch $PACKAGE@$VERSION" >&2; exit 1; }
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "$PACKAGE@$VERSION" >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got=$(sha256sum "$tgz" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "fetch-llama-natives: $PACKAGE@$VERSION has sha256 $got, expected $SHA256" >&2
  exit 1
fi
tar xzf "$tgz" -C "$tmp"
rm -rf "$dest"
mkdir -p "$dest"
cp "$tmp"/package/bins/linux-x64/*.so "$dest"/
cp "$tmp"/package/LICENSE "$dest"/LICENSE-llama.cpp.txt
echo "$SHA256" > "$stamp"
echo "fetch-llama-natives: $PACKAGE@$VERSION in $dest"
