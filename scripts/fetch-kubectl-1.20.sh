#!/usr/bin/env bash
# Fetches Debian's kubectl 1.20 (package kubernetes-client) for the tests that check the server
# against an old client beside the machine's current kubectl, without installing the package:
# `apt-get download` into a temporary directory, `dpkg-deb -x`, copy the one binary. The
# destination is $TLSBOOT_KUBECTL_OLD when set, else .tools/kubectl-1.20 in the checkout
# (git-ignored). Does nothing when it is already there.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${TLSBOOT_KUBECTL_OLD:-$root/.tools/kubectl-1.20}"

if [ -x "$dest" ]; then
  echo "kubectl 1.20 already at $dest"
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "$tool is required (Debian or Ubuntu)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download kubernetes-client >/dev/null 2>&1)
deb="$(find "$work" -maxdepth 1 -name 'kubernetes-client_*.deb' | head -n 1)"
[ -n "$deb" ] || { echo "apt-get download produced no kubernetes-client package" >&2; exit 1; }
dpkg-deb -x "$deb" "$work/x"
[ -x "$work/x/usr/bin/kubectl" ] || { echo "usr/bin/kubectl not found in $(basename "$deb")" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
cp "$work/x/usr/bin/kubectl" "$dest"
echo "kubectl $("$dest" version --client --short 2>/dev/null || true) from $(basename "$deb") at $dest"
