#!/usr/bin/env bash
# Soak: N containers running at once on one engine, then everything a user does to many
# containers, then a check that nothing leaked.
#
#   1. N busybox containers started (`docker run -d`, 8 at a time), all running
#   2. `docker ps` and `docker stats --no-stream` over all of them (timed, counted)
#   3. `docker exec` into every one (8 at a time): how many answered
#   4. berthd only: shimd killed (SIGKILL) and berthd restarted (SIGTERM, start again) in
#      the middle: time until every container is listed running again and answers exec
#   5. memory (RSS) of the daemons and of all shims, per shim too, idle and with N running
#   6. `docker rm -f` of all of them (timed)
#   7. what is left on the host that was not there before: mounts, cgroup directories,
#      network namespaces, veths, nftables tables, processes, files under the data root
#
# Engines: berthd (default), dockerd (Debian's, --bridge=none, no restarts: without
# live-restore it stops containers when it stops), or both, one after the other. Each
# engine has its own socket and roots under a temporary directory, removed at the end.
# Containers use `--network none` unless NETWORK is set (e.g. NETWORK=bridge for berthd's
# default bridge; dockerd here has no bridge).
#
# Usage (root, from the project root): bench/soak.sh [N] [berthd|dockerd|both]  (default 1000 berthd)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
ENGINES=${2:-berthd}
NETWORK=${NETWORK:-none}
PAR=8
[ "$(id -u)" = 0 ] || { echo "soak: run as root" >&2; exit 1; }
case $ENGINES in berthd | dockerd) ;; both) ENGINES="berthd dockerd" ;; *)
  echo "soak: engine is berthd, dockerd or both" >&2; exit 2 ;;
esac
for t in python3 skopeo umoci nft ip; do
  command -v "$t" >/dev/null || { echo "soak: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
[[ $ENGINES == *dockerd* ]] && ! command -v dockerd >/dev/null &&
  { echo "soak: dockerd is missing (scripts/install-deps.sh)" >&2; exit 1; }
DOCKER=$(command -v /usr/local/bin/docker || command -v docker)

cargo build --release -q -p berthd -p shimd -p berth-shim -p berth-runtime
BIN=$PWD/target/release
W=$(mktemp -d /tmp/berth-soak.XXXXXX)
PIDS=()
BRIDGE=
cleanup() {
  set +e # everything below is attempted, whatever failed before
  for e in b d; do
    [ -S "$W/$e/sock" ] || continue
    $DOCKER -H "unix://$W/$e/sock" ps -aq 2>/dev/null |
      xargs -r -P $PAR -n 50 $DOCKER -H "unix://$W/$e/sock" rm -f >/dev/null 2>&1 || true
  done
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  if grep -q " $W/" /proc/self/mountinfo; then
    echo "soak: containers are still mounted under $W (the engine stopped before removing them): left for inspection" >&2
  else
    rm -rf "$W"
  fi
  # berthd's default bridge and its nftables table outlive berthd (as docker0 does)
  if [[ $BRIDGE =~ ^berth[0-9a-f]{8}$ ]]; then
    ip link del "$BRIDGE" 2>/dev/null || true
    nft delete table ip "berth_${BRIDGE#berth}" 2>/dev/null || true
  fi
}
trap cleanup EXIT
scripts/busybox-image.sh "$W/img" >/dev/null

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# One line per kind of host object; two snapshots are compared with `diff`.
host_state() {
  {
    grep -c "" /proc/self/mountinfo | sed 's/^/mounts /'
    find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | wc -l | sed 's/^/cgroup-dirs /'
    ls /run/netns 2>/dev/null | wc -l | sed 's/^/netns-files /'
    ip -o link show type veth 2>/dev/null | wc -l | sed 's/^/veths /'
    nft list tables 2>/dev/null | wc -l | sed 's/^/nft-tables /'
    ps -e --no-headers | wc -l | sed 's/^/processes /'
  }
}

# RSS (kB) of processes of this run called NAME (their command line names the work
# directory, or their parent's does: shims are started with the engine's paths).
rss_of() {
  python3 - "$W" "$1" <<'PY'
import os, sys
work, names = sys.argv[1], sys.argv[2].split(",")
total = count = 0
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        comm = open(f"/proc/{p}/comm").read().strip()
        cmd = open(f"/proc/{p}/cmdline", "rb").read().decode(errors="replace")
        env = open(f"/proc/{p}/environ", "rb").read().decode(errors="replace")
        if comm in names and (work in cmd or work in env):
            for l in open(f"/proc/{p}/smaps_rollup"):
                if l.startswith("Rss:"):
                    total += int(l.split()[1]); count += 1
    except OSError:
        pass
print(total, count)
PY
}

wait_running() { # CLI N LIMIT_S: waits until N containers are listed running
  local cli=$1 n=$2 limit=$3 s
  s=$(date +%s)
  until [ "$($cli ps -q 2>/dev/null | wc -l)" -ge "$n" ]; do
    [ $(( $(date +%s) - s )) -lt "$limit" ] || return 1
    sleep 0.2
  done
}

soak() {
  local engine=$1 e cli daemon shim_names daemon_names
  if [ "$engine" = berthd ]; then
    e=b; daemon_names=berthd,shimd; shim_names=berth-shim
  else
    e=d; daemon_names=dockerd,containerd; shim_names=containerd-shim-runc-v2,containerd-shim
  fi
  local dir=$W/$e sock=unix://$W/$e/sock
  mkdir -p "$dir"
  cli="$DOCKER -H $sock"
  start_engine() {
    if [ "$engine" = berthd ]; then
      PATH=$BIN:$PATH "$BIN/berthd" -H "$sock" --data-root "$dir/data" --exec-root "$dir/x" \
        -l warn >>"$dir/log" 2>&1 & PIDS+=($!); DAEMON=$!
    else
      dockerd -H "$sock" --data-root "$dir/data" --exec-root "$dir/x" --pidfile "$dir/pid" \
        --bridge=none --iptables=false --ip-masq=false --ip-forward=false >>"$dir/log" 2>&1 &
      PIDS+=($!); DAEMON=$!
    fi
    for _ in $(seq 600); do $cli version >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "soak: $engine did not start: $(tail -3 "$dir/log")" >&2; return 1
  }
  start_engine
  [ "$engine" = berthd ] && BRIDGE=$($cli network inspect bridge \
    -f '{{index .Options "com.docker.network.bridge.name"}}' 2>/dev/null || true)
  $cli load -i "$W/img/busybox-docker.tar" >/dev/null
  # What containers leave behind is measured against the idle engine (berthd's nftables
  # table, for one, exists from its start and outlives it, as docker0 does).
  sleep 1
  local before; before=$(host_state)
  echo "== $engine: $N containers (--network $NETWORK, $PAR at a time)"
  read -r idle_daemons _ <<<"$(rss_of "$daemon_names")"
  local s; s=$(date +%s%N)
  seq "$N" | xargs -P $PAR -I{} sh -c "$cli run -d --network $NETWORK --name soak{} busybox sleep 36000 >/dev/null" ||
    echo "soak: some runs failed"
  echo "started: $(ms "$s") ms ($(( $(ms "$s") * PAR / N )) ms each with $PAR at a time)"
  wait_running "$cli" "$N" 120 || echo "soak: only $($cli ps -q | wc -l) of $N running"
  s=$(date +%s%N); local listed; listed=$($cli ps -q | wc -l)
  echo "ps: $listed running, $(ms "$s") ms"
  s=$(date +%s%N); local stats; stats=$($cli stats --no-stream --format '{{.ID}}' | wc -l)
  echo "stats --no-stream: $stats containers, $(ms "$s") ms"
  s=$(date +%s%N)
  local answered
  answered=$(seq "$N" | xargs -P $PAR -I{} sh -c "$cli exec soak{} echo ok 2>/dev/null" | grep -c '^ok$' || true)
  echo "exec into each: $answered of $N answered, $(ms "$s") ms"
  read -r daemons _ <<<"$(rss_of "$daemon_names")"
  read -r shims nshims <<<"$(rss_of "$shim_names")"
  echo "memory: daemons $(( idle_daemons / 1024 )) MiB idle, $(( daemons / 1024 )) MiB with $N running; $nshims shims $(( shims / 1024 )) MiB ($(( shims / (nshims > 0 ? nshims : 1) )) kB each)"
  if [ "$engine" = berthd ]; then
    local shimd; shimd=$(for c in $(cat /proc/"$DAEMON"/task/*/children); do
      [ "$(cat /proc/$c/comm)" = shimd ] && echo "$c"; done | head -1)
    s=$(date +%s%N)
    kill -9 "$shimd"
    until $cli exec soak1 true >/dev/null 2>&1 && [ "$($cli ps -q | wc -l)" -ge "$N" ]; do
      [ "$(ms "$s")" -lt 120000 ] || { echo "soak: no recovery from shimd's kill"; break; }
      sleep 0.2
    done
    echo "shimd killed: all $N listed running and exec answering again after $(ms "$s") ms"
    s=$(date +%s%N)
    kill -TERM "$DAEMON"
    for _ in $(seq 600); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
    local stopped; stopped=$(ms "$s")
    s=$(date +%s%N)
    start_engine
    wait_running "$cli" "$N" 120 || echo "soak: only $($cli ps -q | wc -l) running after restart"
    echo "berthd restarted: stopped in $stopped ms, all $N running again after $(ms "$s") ms"
    answered=$(seq "$N" | xargs -P $PAR -I{} sh -c "$cli exec soak{} echo ok 2>/dev/null" | grep -c '^ok$' || true)
    echo "exec into each after the restarts: $answered of $N answered"
  fi
  s=$(date +%s%N)
  $cli ps -aq | xargs -r -P $PAR -n 50 $cli rm -f >/dev/null
  echo "rm -f of all: $(ms "$s") ms; $($cli ps -aq | wc -l) left"
  sleep 1
  local after; after=$(host_state)
  echo "left on the host by the containers (idle engine before -> after removal):"
  paste -d' ' <(echo "$before") <(echo "$after" | awk '{print $2}') |
    awk '{ printf "  %-12s %s -> %s%s\n", $1, $2, $3, ($2 == $3 ? "" : "   <-- differs") }'
  echo "files under the data root: $(find "$dir/data" -type f 2>/dev/null | wc -l)," \
    "mounts under the work directory: $(grep -c " $W/$e" /proc/self/mountinfo || true)"
  $cli rmi busybox >/dev/null 2>&1 || true
  kill -TERM "$DAEMON"
  for _ in $(seq 600); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.1; done
}

for engine in $ENGINES; do soak "$engine"; done
