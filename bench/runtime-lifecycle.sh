#!/usr/bin/env bash
# Full lifecycle of a container running /bin/true — berth-runtime against runc and crun
# (Debian's packages), interleaved in one run: medians, ratios to berth-runtime, peak RSS.
#
# Two measurements per runtime:
#   run    `<rt> run --bundle B ID` (create + start + wait + delete in one command)
#   steps  `create`, `start`, wait for init to exit (the harness is child subreaper, as a
#          shim is), `delete`: four commands, timed together
#
# crun refuses every container on a hybrid cgroup host (cgroup v1 controllers plus a
# cgroup2 mount holding only a few controllers). So the whole comparison runs in a private
# mount namespace where /sys/fs/cgroup/unified is unmounted (all three runtimes then see a
# plain v1 host), plus berth-runtime against runc on the host's own layout.
#
# Usage (root, from the project root, after `cargo build --release -p berth-runtime`):
#   bench/runtime-lifecycle.sh [RUNS]      (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
[ "$(id -u)" = 0 ] || { echo "runtime-lifecycle: run as root" >&2; exit 1; }
berth=$PWD/target/release/berth-runtime
[ -x "$berth" ] || { echo "runtime-lifecycle: build first: cargo build --release -p berth-runtime" >&2; exit 1; }
for t in runc crun python3 busybox jq unshare; do
  command -v "$t" >/dev/null || { echo "runtime-lifecycle: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done

work=$(mktemp -d /tmp/berth-bench-rt.XXXXXX)
trap 'rm -rf "$work"' EXIT
bundle=$work/bundle
mkdir -p "$bundle/rootfs"/{bin,proc,sys,dev,tmp,etc}
cp "$(command -v busybox)" "$bundle/rootfs/bin/busybox"
ln -s busybox "$bundle/rootfs/bin/true"
(cd "$bundle" && runc spec && jq '.process.terminal=false | .process.args=["/bin/true"]' config.json > c && mv c config.json)

cat > "$work/bench.py" <<'PY'
import ctypes, os, statistics, subprocess, sys, time
runs, work, bundle = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rts = [tuple(a.split("=", 1)) for a in sys.argv[4:]]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphaned inits come to us, as to a shim

def spawn(argv):
    """Runs argv; returns its wall time in ms."""
    t = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        fd = os.open(os.devnull, os.O_RDWR)
        os.dup2(fd, 0); os.dup2(fd, 1)
        os.execvp(argv[0], argv)
    _, status = os.waitpid(pid, 0)
    ms = (time.perf_counter() - t) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"failed: {' '.join(argv)}")
    return ms

def rss(argv):
    """Peak RSS (KiB) of one runtime command, measured by /usr/bin/time (a small parent, so
    the figure is the runtime's own, not an inherited copy of this interpreter)."""
    out = f"{work}/rss"
    spawn(["/usr/bin/time", "-f", "%M", "-o", out] + argv)
    return int(open(out).read().split()[-1])

def once(name, rt, n, measure=spawn):
    root = f"{work}/root-{name}"
    cid = f"bench-{name}-{n}"
    r = measure([rt, "--root", root, "run", "--bundle", bundle, cid])
    cid += "s"
    pidfile = f"{work}/{cid}.pid"
    a = measure([rt, "--root", root, "create", "--bundle", bundle, "--pid-file", pidfile, cid])
    t = time.perf_counter()
    b = measure([rt, "--root", root, "start", cid])
    pid = int(open(pidfile).read())
    os.waitpid(pid, 0)  # init was re-parented to us
    w = (time.perf_counter() - t) * 1000 - b
    c = measure([rt, "--root", root, "delete", cid])
    if measure is rss:
        return max(r, a, b, c)
    return r, a + b + w + c

for name, rt in rts:  # warm-up
    once(name, rt, "warm")
res = {name: ([], []) for name, _ in rts}
for i in range(runs):
    for name, rt in rts:
        r, s = once(name, rt, i)
        res[name][0].append(r); res[name][1].append(s)
peak = {name: once(name, rt, "rss", rss) for name, rt in rts}
base = rts[0][0]
print(f"{'runtime':<15} {'run ms':>8} {'steps ms':>9} {'run ratio':>10} {'steps ratio':>12} {'peak RSS':>10}")
for name, _ in rts:
    m = peak[name]
    rm, sm = statistics.median(res[name][0]), statistics.median(res[name][1])
    rb, sb = statistics.median(res[base][0]), statistics.median(res[base][1])
    print(f"{name:<15} {rm:8.1f} {sm:9.1f} {rm / rb:10.2f} {sm / sb:12.2f} {m / 1024:8.1f} MiB")
print(f"(medians of {runs} interleaved runs; ratios are runtime / {base}; peak RSS is the largest of any one runtime process)")
PY

echo "== host layout (hybrid cgroups): berth-runtime vs runc, $runs runs"
python3 "$work/bench.py" "$runs" "$work" "$bundle" "berth-runtime=$berth" "runc=$(command -v runc)"
echo
echo "== private mount namespace without /sys/fs/cgroup/unified: berth-runtime vs runc vs crun, $runs runs"
unshare -m --propagation private sh -c "umount /sys/fs/cgroup/unified 2>/dev/null; python3 '$work/bench.py' '$runs' '$work' '$bundle' 'berth-runtime=$berth' 'runc=$(command -v runc)' 'crun=$(command -v crun)'"
