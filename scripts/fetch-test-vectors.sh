#!/usr/bin/env bash
# Fetches the malformed-CSR corpus of Debian's python3-cryptography-vectors into .vectors/requests
# (git-ignored) without installing the package: apt-get download + dpkg-deb -x, CSRs only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="$root/.vectors/requests"
[ -d "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ] && exit 0
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download python3-cryptography-vectors >/dev/null)
dpkg-deb -x "$work"/python3-cryptography-vectors_*.deb "$work/x"
src="$(find "$work/x" -type d -path '*cryptography_vectors/x509/requests' | head -n 1)"
[ -n "$src" ] || { echo "x509/requests not found in python3-cryptography-vectors" >&2; exit 1; }
mkdir -p "$dest"
cp -r "$src"/. "$dest"/
echo "CSR vectors in $dest ($(ls "$dest" | wc -l) files)"
