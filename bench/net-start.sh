#!/usr/bin/env bash
# Container start with bridge networking: `docker run --rm busybox true` against berthd
# (default network, veth + address + routes + rules) and against Debian's dockerd on its
# default bridge (docker0, iptables NAT), interleaved in one run, same docker CLI.
#
# Each daemon runs in a network namespace of its own made for this run: bridges, veths,
# iptables/nftables rules and sysctls (dockerd turns on ip_forward and writes its NAT and
# filter chains) stay inside it, and go away with it at the end. Nothing changes in the
# host's namespace.
#
# Usage (root, from the project root): bench/net-start.sh [RUNS]   (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
[ "$(id -u)" = 0 ] || { echo "net-start: run as root" >&2; exit 1; }
for t in dockerd docker python3 nsenter; do
  command -v "$t" >/dev/null || { echo "net-start: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
docker=$(command -v /usr/local/bin/docker || command -v docker)

cargo build --release -q -p berthd -p shimd -p berth-shim -p berth-runtime
bin=$PWD/target/release

work=$(mktemp -d /tmp/berth-bench-net.XXXXXX)
ns_b=berth-bench-b-$$
ns_d=berth-bench-d-$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  ip netns del "$ns_b" 2>/dev/null || true
  ip netns del "$ns_d" 2>/dev/null || true
  umount -R "$work" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for ns in "$ns_b" "$ns_d"; do
  ip netns add "$ns"
  ip -n "$ns" link set lo up
done
# A resolv.conf for the daemons' containers that names no outside server.
printf 'nameserver 127.0.0.1\n' > "$work/resolv.conf"

scripts/busybox-image.sh "$work/img" >/dev/null

echo "== starting berthd and dockerd, each in its own network namespace"
mkdir -p "$work/b" "$work/d"
nsenter --net="/run/netns/$ns_b" env PATH="$bin:$PATH" "$bin/berthd" -H "unix://$work/b/sock" \
  --data-root "$work/b/data" --exec-root "$work/b/exec" --pidfile "$work/b/pid" >"$work/b/log" 2>&1 &
pids+=($!)
nsenter --net="/run/netns/$ns_d" dockerd -H "unix://$work/d/sock" --data-root "$work/d/data" \
  --exec-root "$work/d/exec" --pidfile "$work/d/pid" --iptables=true --ip-masq=true \
  --ip-forward=true --userland-proxy=false >"$work/d/log" 2>&1 &
pids+=($!)
B="$docker -H unix://$work/b/sock"
D="$docker -H unix://$work/d/sock"
for _ in $(seq 300); do $B version >/dev/null 2>&1 && $D version >/dev/null 2>&1 && break; sleep 0.1; done
$B version >/dev/null || { echo "berthd did not start: $(tail -5 "$work/b/log")" >&2; exit 1; }
$D version >/dev/null || { echo "dockerd did not start: $(tail -5 "$work/d/log")" >&2; exit 1; }
$B load -q -i "$work/img/busybox-docker.tar" >/dev/null
$D load -q -i "$work/img/busybox-docker.tar" >/dev/null

# Both really give the container a bridge address and a default route.
for side in B D; do
  out=$(${!side} run --rm busybox sh -c 'ip -o -4 addr show eth0; ip route' 2>&1)
  case "$out" in
    *"inet 172."*"default via 172."*) ;;
    *) echo "net-start: the $side daemon's container has no bridge networking: $out" >&2; exit 1 ;;
  esac
done

echo "== $runs interleaved runs of: docker run --rm busybox true"
python3 - "$runs" "$B run --rm busybox true" "$D run --rm busybox true" <<'PY'
import statistics, subprocess, sys, time
n, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def t(cmd):
    s = time.perf_counter()
    r = subprocess.run(cmd, shell=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"failed: {cmd}: {r.stderr.decode()[-300:]}")
    return (time.perf_counter() - s) * 1000
t(a); t(b)
ta, tb, ratio = [], [], []
for _ in range(n):
    x, y = t(a), t(b)
    ta.append(x); tb.append(y); ratio.append(x / y)
print(f"berthd  median {statistics.median(ta):7.1f} ms  (min {min(ta):.1f})")
print(f"dockerd median {statistics.median(tb):7.1f} ms  (min {min(tb):.1f})")
print(f"berthd/dockerd: {statistics.median(ratio):.3f} (median of pairwise ratios; < 1 means berthd is faster)")
PY
