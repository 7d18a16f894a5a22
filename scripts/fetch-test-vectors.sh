#!/usr/bin/env bash
# Fetches the CSR corpus of Debian's python3-cryptography-vectors (x509/requests/ only) for
# test/pki-vectors.test.ts, without installing the package: `apt-get download` into a temporary
# directory, `dpkg-deb -x`, copy the one folder, remove the rest. The destination is
# $TLSBOOT_VECTORS when set, else .vectors/requests in the checkout (git-ignored). Does nothing when
# the destination already holds files; delete it to fetch again.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${TLSBOOT_VECTORS:-$root/.vectors/requests}"

if [ -d "$dest" ] && [ -n "$(ls -A "$dest" 2>/dev/null)" ]; then
  echo "CSR vectors already in $dest ($(ls "$dest" | wc -l) files)"
  exit 0
fi

for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "$tool is required (Debian or Ubuntu)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && apt-get download python3-cryptography-vectors >/dev/null)
deb="$(find "$work" -maxdepth 1 -name 'python3-cryptography-vectors_*.deb' | head -n 1)"
[ -n "$deb" ] || { echo "apt-get download produced no python3-cryptography-vectors package" >&2; exit 1; }
dpkg-deb -x "$deb" "$work/x"

src="$(find "$work/x" -type d -path '*/cryptography_vectors/x509/requests' | head -n 1)"
[ -n "$src" ] || { echo "x509/requests not found in $(basename "$deb")" >&2; exit 1; }

mkdir -p "$dest"
cp -R "$src"/. "$dest"/
echo "CSR vectors from $(basename "$deb") in $dest ($(ls "$dest" | wc -l) files)"
