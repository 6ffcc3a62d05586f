#!/usr/bin/env bash
# Coverage-guided fuzzing of Berth's parsers of untrusted input (tests/fuzz, libFuzzer).
#
#   scripts/fuzz.sh [target|all] [seconds]     each target (or one) for seconds (default 30)
#   BERTH_FUZZ_MERGE=1 scripts/fuzz.sh target N  then minimise corpus + new finds into the
#                                               committed corpus (to grow it by hand)
#
# Builds tests/fuzz on the stable toolchain with SanitizerCoverage passes (no -Z flags)
# into tests/fuzz/target, then runs each target on tests/fuzz/corpus/<target>/. New inputs
# go to a temporary directory (libFuzzer writes to its first corpus directory), so a run
# never changes the committed corpus. A crash, a timeout or memory over the limit fails the
# run and names the input, kept in tests/fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(layer archive runtime_config api_request dockerfile)
want=${1:-all}
seconds=${2:-30}
case $want in
  all) targets=("${TARGETS[@]}") ;;
  *)
    [[ " ${TARGETS[*]} " == *" $want "* ]] || {
      echo "fuzz.sh: unknown target $want (one of: ${TARGETS[*]}, all)" >&2
      exit 2
    }
    targets=("$want")
    ;;
esac
[[ $seconds =~ ^[0-9]+$ ]] || { echo "fuzz.sh: seconds must be a number, not $seconds" >&2; exit 2; }

# SanitizerCoverage as cargo-fuzz asks for it, with stable -C flags only: 8-bit edge
# counters and the PC table (libFuzzer's cov/ft), comparison tracing (its value profile
# and dictionary). --target keeps build scripts and proc macros uninstrumented.
host=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module \
-Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
-Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares \
-Cdebug-assertions -Copt-level=3"
export CARGO_TARGET_DIR=$PWD/tests/fuzz/target
unset RUSTC_WRAPPER CARGO_BUILD_RUSTFLAGS CARGO_ENCODED_RUSTFLAGS

echo "== fuzz: build (${targets[*]})"
start=$SECONDS
bin_args=()
for t in "${targets[@]}"; do bin_args+=(--bin "$t"); done
(cd tests/fuzz && cargo build --release --locked -q --target "$host" "${bin_args[@]}")
echo "   built in $((SECONDS - start)) s"
bins=$CARGO_TARGET_DIR/$host/release

# The targets that write files make a directory per input (below $work, removed at the
# end): in memory where there is /dev/shm, many times faster than a disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
work=$(mktemp -d -t berth-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT

# The last libFuzzer status line's value of `key` (cov, ft, corp).
stat_of() { grep -o "$2: [0-9/a-zA-Z]*" "$1" | tail -1 | cut -d' ' -f2; }

status=0
for t in "${targets[@]}"; do
  corpus=tests/fuzz/corpus/$t
  new=$work/$t.new
  artifacts=tests/fuzz/artifacts/$t
  log=$work/$t.log
  mkdir -p "$corpus" "$new" "$artifacts"
  # -timeout: one input running longer is a hang; -rss_limit_mb (and the malloc limit it
  # implies): memory over it is a finding, not a slow machine.
  rc=0
  TMPDIR=$work "$bins/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
    -print_final_stats=1 -artifact_prefix="$artifacts/" "$new" "$corpus" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  printf '   %-15s %8s runs in %ss  cov %s  ft %s  corpus %s (+%s new)\n' "$t" "${runs:-?}" \
    "$seconds" "$(stat_of "$log" cov)" "$(stat_of "$log" ft)" \
    "$(find "$corpus" -type f | wc -l)" "$(find "$new" -type f | wc -l)"
  if [ "$rc" != 0 ]; then
    status=1
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    echo "FUZZ FAILURE in $t (exit $rc): input ${crash:-not written}" >&2
    # The panic message or libFuzzer's reason, without the backtrace's frames.
    sed -n '/panicked at\|ERROR: libFuzzer/,$p' "$log" | grep -v '^ *[0-9]*: \|^ *at ' | head -20 >&2
    continue
  fi
  if [ "${BERTH_FUZZ_MERGE:-0}" = 1 ]; then
    merged=$work/$t.merged
    mkdir -p "$merged"
    # By edges only (no hit counts): a corpus small enough to commit, every edge kept.
    TMPDIR=$work "$bins/$t" -merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=1024 "$merged" "$corpus" "$new" >"$log.merge" 2>&1
    rm -rf "$corpus" && mv "$merged" "$corpus"
    echo "   $t: corpus minimised to $(find "$corpus" -type f | wc -l) files ($(du -sh --apparent-size "$corpus" | cut -f1))"
  fi
done
exit $status
