#!/usr/bin/env bash
# docker-py (PyPI `docker`) against berthd: creates tests/py/.venv if missing, installs the
# pinned requirements, starts a berthd of this workspace on a private socket and data root,
# loads a busybox image built offline, and runs the pytest suite. Needs root.
#   BERTH_BIN_DIR   where berthd and friends are (default: target/release, else target/debug)
#   extra arguments go to pytest (e.g. -k exec -x)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${BERTH_BIN_DIR:-}
if [ -z "$bin" ]; then
  bin=$root/target/release
  [ -x "$bin/berthd" ] || bin=$root/target/debug
fi
[ -x "$bin/berthd" ] || { echo "tests/py: no berthd in $bin; build the workspace first" >&2; exit 1; }

venv=$here/.venv
if [ ! -x "$venv/bin/pytest" ] || ! "$venv/bin/pip" freeze 2>/dev/null | grep -qxF -f "$here/requirements.txt"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
fi

work=$(mktemp -d /tmp/bpy-XXXXXX)
cleanup() {
  if [ -f "$work/pid" ]; then
    kill "$(cat "$work/pid")" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$(cat "$work/pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

PATH=$bin:$PATH "$bin/berthd" -H "unix://$work/sock" --data-root "$work/data" --exec-root "$work/x" \
  >"$work/berthd.log" 2>&1 &
echo $! >"$work/pid"
for _ in $(seq 200); do [ -S "$work/sock" ] && break; sleep 0.1; done
[ -S "$work/sock" ] || { echo "tests/py: berthd did not start:" >&2; tail -20 "$work/berthd.log" >&2; exit 1; }

"$root/scripts/busybox-image.sh" "$work/img" >/dev/null
export BERTH_HOST="unix://$work/sock"
export BERTH_BUSYBOX_ARCHIVE="$work/img/busybox-docker.tar"
export BERTH_WORK="$work"
status=0
"$venv/bin/pytest" -q -p no:cacheprovider "$here" "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "--- berthd log (tail) ---" >&2
  tail -40 "$work/berthd.log" >&2
fi
exit $status
