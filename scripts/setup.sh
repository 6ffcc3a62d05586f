#!/usr/bin/env bash
# One command from a fresh Debian machine (as root) to a running Berth: installs the
# packages, builds the release binaries, installs them in /usr/local/bin, starts berthd
# (which starts shimd), loads a busybox image built offline and runs a container.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== building (release)"
cargo build --release --workspace --bins
for b in berth-runtime berth-shim shimd berthctl berthd berth; do
  install -m 0755 "target/release/$b" /usr/local/bin/
done

sock=/run/berth/berth.sock
if ! berth version >/dev/null 2>&1; then
  echo "== starting berthd (log: /var/log/berthd.log)"
  mkdir -p /var/log
  setsid berthd >>/var/log/berthd.log 2>&1 < /dev/null &
  for _ in $(seq 100); do [ -S "$sock" ] && berth version >/dev/null 2>&1 && break; sleep 0.1; done
  berth version >/dev/null || { echo "berthd did not start; see /var/log/berthd.log" >&2; exit 1; }
fi

if ! berth image inspect busybox:latest >/dev/null 2>&1; then
  echo "== loading a busybox image built from Debian's busybox-static"
  img=/var/lib/berth/fixtures
  scripts/busybox-image.sh "$img"
  berth load -i "$img/busybox-docker.tar"
fi

echo "== running a container"
berth run --rm busybox echo "Hello from a Berth container"
