#!/usr/bin/env bash
# The engine against Debian's dockerd, in one run:
#   1. `berth run --rm busybox true` (berthd's default network) against
#      `docker run --rm --network none busybox true` on dockerd, interleaved; medians, ratio
#   2. idle RSS (and PSS) of berthd + shimd against dockerd + containerd
#   3. 50 sleeping containers started one after the other with the same docker CLI on each
#      daemon (--network none): total time, and the memory the daemons and shims added
#
# dockerd runs with --bridge=none --iptables=false (no host network changes); each daemon has
# its own socket and roots under a temporary directory, removed at the end.
#
# Usage (root, from the project root): bench/engine.sh [RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
N=50
[ "$(id -u)" = 0 ] || { echo "engine: run as root" >&2; exit 1; }
for t in dockerd containerd python3 skopeo umoci; do
  command -v "$t" >/dev/null || { echo "engine: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
DOCKER=$(command -v /usr/local/bin/docker || command -v docker)

cargo build --release -q -p berthd -p berth -p shimd -p berth-shim -p berth-runtime
BIN=$PWD/target/release

W=$(mktemp -d /tmp/berth-bench-engine.XXXXXX)
PIDS=()
cleanup() {
  # berthd's default bridge and nftables table outlive it (as docker0 does): named after
  # its data root, they go with the benchmark.
  local br
  br=$(DOCKER_HOST=unix://$W/b/sock $DOCKER network inspect bridge \
    -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
  DOCKER_HOST=unix://$W/b/sock $DOCKER rm -f $(DOCKER_HOST=unix://$W/b/sock $DOCKER ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  DOCKER_HOST=unix://$W/d/sock $DOCKER rm -f $(DOCKER_HOST=unix://$W/d/sock $DOCKER ps -aq 2>/dev/null) >/dev/null 2>&1 || true
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  umount -R "$W" 2>/dev/null || true
  rm -rf "$W"
  if [[ $br =~ ^berth[0-9a-f]{8}$ ]]; then
    ip link del "$br" 2>/dev/null || true
    nft delete table ip "berth_${br#berth}" 2>/dev/null || true
  fi
}
trap cleanup EXIT

scripts/busybox-image.sh "$W/img" >/dev/null
mkdir -p "$W/b" "$W/d"
PATH=$BIN:$PATH "$BIN/berthd" -H "unix://$W/b/sock" --data-root "$W/b/data" --exec-root "$W/b/x" \
  -l warn >"$W/b/log" 2>&1 & PIDS+=($!)
BPID=$!
dockerd -H "unix://$W/d/sock" --data-root "$W/d/data" --exec-root "$W/d/x" --pidfile "$W/d/pid" \
  --bridge=none --iptables=false --ip-masq=false --ip-forward=false >"$W/d/log" 2>&1 & PIDS+=($!)
DPID=$!
B="$DOCKER -H unix://$W/b/sock"
D="$DOCKER -H unix://$W/d/sock"
for _ in $(seq 300); do $B version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break; sleep 0.1; done
$B load -i "$W/img/busybox-docker.tar" >/dev/null
$D load -i "$W/img/busybox-docker.tar" >/dev/null

# Children of a pid named NAME (berthd's shimd, dockerd's containerd).
child() { for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do [ "$(cat /proc/$c/comm 2>/dev/null)" = "$2" ] && echo "$c"; done | head -1; }
# Sum of RSS and PSS (kB) of the given pids and of the processes of this run (their command
# line names the work directory) called one of NAMES (comma-separated).
mem() {
  python3 - "$W" "$@" <<'PY'
import os, sys
work, names, pids = sys.argv[1], sys.argv[2].split(","), [p for p in sys.argv[3:] if p]
for p in os.listdir("/proc"):
    if p.isdigit():
        try:
            comm = open(f"/proc/{p}/comm").read().strip()
            cmd = open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
            if comm in names and work in cmd:
                pids.append(p)
        except OSError:
            pass
rss = pss = 0
for p in set(pids):
    try:
        for l in open(f"/proc/{p}/smaps_rollup"):
            if l.startswith("Rss:"): rss += int(l.split()[1])
            if l.startswith("Pss:"): pss += int(l.split()[1])
    except OSError:
        pass
print(rss, pss)
PY
}
SPID=$(child "$BPID" shimd)
CPID=$(child "$DPID" containerd)

echo "== run --rm (medians of $RUNS, interleaved)"
python3 - "$RUNS" "$BIN/berth -H unix://$W/b/sock run --rm busybox true" \
  "$D run --rm --network none busybox true" <<'PY'
import subprocess, sys, time, statistics
n, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def t(c):
    s = time.perf_counter(); r = subprocess.run(c, shell=True, capture_output=True)
    if r.returncode: sys.exit(f"failed: {c}: {r.stderr.decode()[-300:]}")
    return (time.perf_counter() - s) * 1000
t(a); t(b)
ta, tb = [], []
for _ in range(n):
    ta.append(t(a)); tb.append(t(b))
ma, mb = statistics.median(ta), statistics.median(tb)
print(f"berth run --rm (berthd, default network): {ma:7.1f} ms")
print(f"docker run --rm --network none (dockerd):  {mb:7.1f} ms")
print(f"ratio: {ma / mb:.3f}")
PY

sleep 2
echo "== idle memory (kB)"
read -r brss bpss <<<"$(mem none "$BPID" "$SPID")"
read -r drss dpss <<<"$(mem none "$DPID" "$CPID")"
echo "berthd + shimd:       RSS $brss  PSS $bpss"
echo "dockerd + containerd: RSS $drss  PSS $dpss"

echo "== $N sleeping containers (docker run -d --network none, one after the other)"
start_n() {
  local cli=$1 s e
  s=$(date +%s%N)
  for i in $(seq $N); do $cli run -d --network none busybox sleep 3600 >/dev/null; done
  e=$(date +%s%N)
  echo $(( (e - s) / 1000000 ))
}
read -r b0 _ <<<"$(mem berth-shim "$BPID" "$SPID")"
bt=$(start_n "$B")
sleep 1
read -r b1 _ <<<"$(mem berth-shim "$BPID" "$SPID")"
read -r d0 _ <<<"$(mem containerd-shim,containerd-shim-runc-v2 "$DPID" "$CPID")"
dt=$(start_n "$D")
sleep 1
read -r d1 _ <<<"$(mem containerd-shim,containerd-shim-runc-v2 "$DPID" "$CPID")"
echo "berthd:  $bt ms total, $(( bt / N )) ms each; memory added $(( (b1 - b0) / 1024 )) MiB RSS (daemons and shims)"
echo "dockerd: $dt ms total, $(( dt / N )) ms each; memory added $(( (d1 - d0) / 1024 )) MiB RSS (daemons and shims)"
