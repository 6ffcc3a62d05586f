#!/usr/bin/env bash
# Memory of one shim per container: N sleeping busybox containers run by shimd (each with
# its berth-shim) and N run by a private containerd (each with its containerd-shim-runc-v2),
# in one run. Prints mean RSS and PSS per shim (from /proc/PID/smaps_rollup) and the
# ratios berth/containerd.
#
# Usage (root, from the project root): bench/shim-memory.sh [N]   (default 20)
# Needs: containerd + ctr, runc, umoci, skopeo, busybox-static, python3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20}
[ "$(id -u)" = 0 ] || { echo "shim-memory: run as root" >&2; exit 1; }
for t in containerd ctr runc python3; do
  command -v "$t" >/dev/null || { echo "shim-memory: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

cargo build --release -q -p shimd -p berth-shim -p berth-runtime -p berthctl
BIN=$PWD/target/release

W=$(mktemp -d /tmp/berth-bench-shim.XXXXXX)
PIDS=()
CTL="$BIN/berthctl --address $W/shimd.sock -n bench"
CTR="ctr -a $W/ctrd/sock -n bench"
cleanup() {
  for i in $(seq "$N"); do
    $CTL tasks kill -s KILL "m$i" >/dev/null 2>&1 || true
    $CTR tasks kill -s KILL "m$i" >/dev/null 2>&1 || true
  done
  sleep 0.5
  for i in $(seq "$N"); do
    $CTL containers rm --force "m$i" >/dev/null 2>&1 || true
    $CTR tasks rm -f "m$i" >/dev/null 2>&1 || true
    $CTR containers rm "m$i" >/dev/null 2>&1 || true
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  umount -R "$W" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

scripts/busybox-image.sh "$W/img" >/dev/null

PATH=$BIN:$PATH "$BIN/shimd" --address "$W/shimd.sock" --root "$W/shimd/root" --state "$W/shimd/state" \
  --log-level warn >"$W/shimd.log" 2>&1 & PIDS+=($!)
mkdir -p "$W/ctrd"
cat > "$W/ctrd/config.toml" <<TOML
version = 2
root = "$W/ctrd/root"
state = "$W/ctrd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$W/ctrd/sock"
TOML
containerd --config "$W/ctrd/config.toml" >"$W/ctrd/log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do [ -S "$W/shimd.sock" ] && [ -S "$W/ctrd/sock" ] && break; sleep 0.05; done

$CTL images import "$W/img/busybox-oci.tar" >/dev/null
$CTR images import "$W/img/busybox-docker.tar" >/dev/null
IMG=docker.io/library/busybox:latest

echo "== starting $N sleeping containers on each side"
for i in $(seq "$N"); do
  $CTL run -d "$IMG" "m$i" /bin/sleep 100000 >/dev/null
  $CTR run -d "$IMG" "m$i" /bin/sleep 100000 >/dev/null
done
sleep 2

# Shims of this run only: berth-shims live in our state dir, containerd's name our socket.
berth_pids=$(for p in $(pgrep -x berth-shim); do
  case "$(readlink "/proc/$p/cwd" || true)" in "$W"/*) echo "$p";; esac; done)
ctrd_pids=$(for p in $(pgrep -f containerd-shim-runc-v2); do
  if tr '\0' ' ' < "/proc/$p/cmdline" | grep -q -- "$W/ctrd/sock"; then echo "$p"; fi; done)

python3 - "$berth_pids" "$ctrd_pids" <<'PY'
import sys
def mem(pids):
    rss = pss = 0; n = 0
    for p in pids.split():
        with open(f"/proc/{p}/smaps_rollup") as f:
            for line in f:
                k, v = line.split()[:2]
                if k == "Rss:": rss += int(v)
                if k == "Pss:": pss += int(v)
        n += 1
    return n, rss / max(n, 1) / 1024, pss / max(n, 1) / 1024
bn, br, bp = mem(sys.argv[1]); cn, cr, cp = mem(sys.argv[2])
print(f"shim memory with a sleeping container each (mean per shim)")
print(f"  berth-shim               {bn:3d} shims  RSS {br:6.2f} MiB  PSS {bp:5.2f} MiB")
print(f"  containerd-shim-runc-v2  {cn:3d} shims  RSS {cr:6.2f} MiB  PSS {cp:5.2f} MiB")
if cn and bn:
    print(f"  ratio berth/containerd   RSS {br/cr:.3f}  PSS {bp/cp:.3f}")
PY
