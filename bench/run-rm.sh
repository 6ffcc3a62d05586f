#!/usr/bin/env bash
# `berthctl run --rm IMAGE ID true` (shimd + berth-shim) against containerd's
# `ctr run --rm IMAGE ID true` (containerd + containerd-shim-runc-v2 + runc), interleaved in
# one run. berthctl runs once with berth-runtime (the default) and once with runc, so the
# cost of the stack and of the runtime can be told apart. Prints medians and ratios.
#
# Usage (root, from the project root): bench/run-rm.sh [RUNS]   (default 30)
# Needs: containerd + ctr, runc, umoci, skopeo, busybox-static, python3 (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-30}
[ "$(id -u)" = 0 ] || { echo "run-rm: run as root" >&2; exit 1; }
for t in containerd ctr runc python3; do
  command -v "$t" >/dev/null || { echo "run-rm: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

cargo build --release -q -p shimd -p berth-shim -p berth-runtime -p berthctl
BIN=$PWD/target/release

W=$(mktemp -d /tmp/berth-bench-run.XXXXXX)
PIDS=()
cleanup() {
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

CTL="$BIN/berthctl --address $W/shimd.sock -n bench"
CTR="ctr -a $W/ctrd/sock -n bench"
$CTL images import "$W/img/busybox-oci.tar" >/dev/null
$CTR images import "$W/img/busybox-docker.tar" >/dev/null
IMG=docker.io/library/busybox:latest

python3 - "$RUNS" \
  "$CTL run --rm $IMG rr-berth true" \
  "$CTL run --rm --runtime runc $IMG rr-berth-runc true" \
  "$CTR run --rm $IMG rr-ctr true" <<'PY'
import statistics, subprocess, sys, time
n = int(sys.argv[1]); cmds = sys.argv[2:5]
def t(c):
    s = time.perf_counter(); r = subprocess.run(c, shell=True, capture_output=True)
    if r.returncode != 0:
        sys.exit(f"failed: {c}: {r.stderr.decode()[-500:]}")
    return (time.perf_counter() - s) * 1000
for c in cmds: t(c)  # warm-up
res = [[], [], []]
for _ in range(n):
    for i, c in enumerate(cmds): res[i].append(t(c))
names = ["berthctl run --rm (berth-runtime)", "berthctl run --rm (runc)", "ctr run --rm (runc)"]
print(f"run --rm busybox true, {n} runs each, interleaved")
for name, r in zip(names, res):
    print(f"  {name:34s} median {statistics.median(r):6.1f} ms  (min {min(r):.1f}, max {max(r):.1f})")
for i in (0, 1):
    ratio = statistics.median([a / b for a, b in zip(res[i], res[2])])
    print(f"  ratio {names[i]} / ctr: {ratio:.3f} (median of pairs)")
PY
