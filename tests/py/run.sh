#!/usr/bin/env bash
# docker-py (PyPI `docker`) and docker-compose against berthd: creates tests/py/.venv if
# missing or out of date, installs the pinned requirements, starts a berthd of this
# workspace on a private socket and data root, builds a busybox image offline (loaded by the
# suite), and runs the pytest suite. Needs root. Exits non-zero when a test fails or when no
# test ran at all.
#   tests/py/run.sh [--dockerd] [pytest arguments, e.g. -k exec -x]
#   --dockerd       run the same suite against Debian's dockerd instead (private socket,
#                   no default bridge, no iptables), to check what Docker itself answers
#   BERTH_BIN_DIR   where berthd and friends are (default: target/release, else target/debug)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

target=berthd
if [ "${1:-}" = --dockerd ]; then
  target=dockerd
  shift
fi

bin=${BERTH_BIN_DIR:-}
if [ -z "$bin" ]; then
  bin=$root/target/release
  [ -x "$bin/berthd" ] || bin=$root/target/debug
fi
if [ $target = berthd ] && [ ! -x "$bin/berthd" ]; then
  echo "tests/py: no berthd in $bin; build the workspace first" >&2
  exit 1
fi

# The virtualenv holds exactly the pinned requirements (every line of requirements.txt
# must appear in `pip freeze`), else it is made again.
venv=$here/.venv
venv_current() {
  [ -x "$venv/bin/pytest" ] || return 1
  local frozen
  frozen=$("$venv/bin/pip" freeze --disable-pip-version-check 2>/dev/null) || return 1
  while read -r req; do
    [ -z "$req" ] || [ "${req#\#}" != "$req" ] && continue
    grep -qixF -- "$req" <<<"$frozen" || return 1
  done <"$here/requirements.txt"
}
if ! venv_current; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
fi

work=$(mktemp -d /tmp/bpy-XXXXXX)
cleanup() {
  if [ -f "$work/pid" ]; then
    local pid
    pid=$(cat "$work/pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  # dockerd leaves its (unmounted) data root behind as root-owned directories; berthd's
  # containers are gone with the suite's own cleanup.
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

if [ $target = berthd ]; then
  PATH=$bin:$PATH "$bin/berthd" -H "unix://$work/sock" --data-root "$work/data" --exec-root "$work/x" \
    >"$work/daemon.log" 2>&1 &
else
  dockerd -H "unix://$work/sock" --data-root "$work/data" --exec-root "$work/x" \
    --pidfile "$work/dockerd.pid" --bridge=none --iptables=false --ip-masq=false --ip-forward=false \
    >"$work/daemon.log" 2>&1 &
fi
echo $! >"$work/pid"
for _ in $(seq 300); do
  [ -S "$work/sock" ] && curl -sf --unix-socket "$work/sock" http://d/_ping >/dev/null 2>&1 && break
  sleep 0.1
done
curl -sf --unix-socket "$work/sock" http://d/_ping >/dev/null 2>&1 || {
  echo "tests/py: $target did not start:" >&2
  tail -20 "$work/daemon.log" >&2
  exit 1
}

"$root/scripts/busybox-image.sh" "$work/img" >/dev/null
export BERTH_HOST="unix://$work/sock"
export BERTH_PY_TARGET=$target
export BERTH_BUSYBOX_ARCHIVE="$work/img/busybox-docker.tar"
export BERTH_WORK="$work"
status=0
"$venv/bin/pytest" -q -p no:cacheprovider "$here" "$@" || status=$?
if [ $status -eq 5 ]; then
  echo "tests/py: no test ran (pytest exit code 5)" >&2
fi
if [ $status -ne 0 ]; then
  echo "--- $target log (tail) ---" >&2
  tail -40 "$work/daemon.log" >&2
fi
exit $status
