#!/usr/bin/env bash
# Pull (download, verify, unpack) of a ~100 MB 3-layer image from a loopback registry:
# berthctl against shimd vs containerd's ctr against a private containerd, interleaved.
# Each run starts from an empty store (the image is removed and garbage collected between
# runs, outside the timing). Prints the medians and the ratio berth/containerd.
#
# Usage: bench/pull.sh [RUNS]   (default 7; run as root from the project's root)
# Needs: docker-registry, skopeo, containerd + ctr, python3 (Debian packages).
set -euo pipefail
RUNS=${1:-7}
PROJ=$(pwd)
BIN=$PROJ/target/release
W=$(mktemp -d /tmp/berth-bench-pull-XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  umount -R "$W/ctrd/root" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT

cargo build --release -q -p shimd -p berthctl

# The image: 3 layers of ~33 MB each (8 files: half random, half text), gzip, as an OCI
# layout; pushed as is to the registry.
python3 - "$W/layout" <<'PY'
import gzip, hashlib, io, json, os, random, sys, tarfile
out = sys.argv[1]
os.makedirs(f"{out}/blobs/sha256", exist_ok=True)
def put(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{out}/blobs/sha256/{d}", "wb").write(data)
    return "sha256:" + d, len(data)
rng = random.Random(1)
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 9))) for _ in range(4096)]
layers, diff_ids = [], []
for n in range(3):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        d = tarfile.TarInfo(f"layer{n}"); d.type = tarfile.DIRTYPE; d.mode = 0o755; t.addfile(d)
        for i in range(8):
            size = 4 << 20
            if i % 2 == 0:
                data = os.urandom(size)
            else:
                data = b" ".join(rng.choice(words) for _ in range(size // 6))[:size]
            ti = tarfile.TarInfo(f"layer{n}/file{i}"); ti.size = len(data); ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
    raw = buf.getvalue()
    diff_ids.append("sha256:" + hashlib.sha256(raw).hexdigest())
    gz = gzip.compress(raw, compresslevel=6, mtime=0)
    dg, size = put(gz)
    layers.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": dg, "size": size})
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                     "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
cd, cs = put(config)
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
                       "layers": layers}).encode()
md, ms = put(manifest)
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
           "digest": md, "size": ms, "annotations": {"org.opencontainers.image.ref.name": "latest"}}]},
          open(f"{out}/index.json", "w"))
open(f"{out}/oci-layout", "w").write('{"imageLayoutVersion":"1.0.0"}')
print(f"image: 3 layers, {sum(l['size'] for l in layers) / 1e6:.1f} MB compressed, {3 * 32} MiB of files", file=sys.stderr)
PY

mkdir -p "$W/registry"
cat > "$W/registry/config.yml" <<YML
version: 0.1
log: { level: error, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $W/registry/data }, delete: { enabled: true } }
http: { addr: 127.0.0.1:$PORT }
YML
docker-registry serve "$W/registry/config.yml" >"$W/registry/log" 2>&1 & PIDS+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/v2/" >/dev/null && break; sleep 0.05; done
skopeo copy -q --preserve-digests --dest-tls-verify=false "oci:$W/layout:latest" "docker://127.0.0.1:$PORT/bench:latest"
REF=127.0.0.1:$PORT/bench:latest

# shimd on a private root.
PATH=$BIN:$PATH "$BIN/shimd" --address "$W/shimd.sock" --root "$W/shimd/root" --state "$W/shimd/state" \
  --log-level warn >"$W/shimd.log" 2>&1 & PIDS+=($!)
# containerd on a private root (no CRI).
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
A_PULL="$CTL images pull $REF"
A_CLEAN="$CTL images rm $REF && $CTL system gc"
B_PULL="$CTR images pull --plain-http $REF"
B_CLEAN="$CTR images rm --sync $REF"

python3 - "$RUNS" "$A_PULL" "$A_CLEAN" "$B_PULL" "$B_CLEAN" <<'PY'
import statistics, subprocess, sys, time
n = int(sys.argv[1]); a, ac, b, bc = sys.argv[2:6]
def run(cmd, clean):
    t = time.perf_counter()
    r = subprocess.run(cmd, shell=True, capture_output=True)
    dt = (time.perf_counter() - t) * 1000
    if r.returncode != 0:
        sys.exit(f"failed: {cmd}: {r.stderr.decode()[-500:]}")
    c = subprocess.run(clean, shell=True, capture_output=True)
    if c.returncode != 0:
        sys.exit(f"failed: {clean}: {c.stderr.decode()[-500:]}")
    return dt
run(a, ac); run(b, bc)  # warm-up: page cache, connections
ra, rb, rr = [], [], []
for _ in range(n):
    x = run(a, ac); y = run(b, bc)
    ra.append(x); rb.append(y); rr.append(x / y)
print(f"pull ~100 MB, 3 layers, loopback registry, {n} runs each (interleaved, empty store each run)")
print(f"  berthctl+shimd   median {statistics.median(ra):7.0f} ms  (min {min(ra):.0f}, max {max(ra):.0f})")
print(f"  ctr+containerd   median {statistics.median(rb):7.0f} ms  (min {min(rb):.0f}, max {max(rb):.0f})")
print(f"  ratio berth/containerd (median of pairs): {statistics.median(rr):.3f}")
PY
