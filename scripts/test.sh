#!/usr/bin/env bash
# Runs Berth's whole test suite: formatting, lints, unit tests and the integration tests
# (real containers, daemons, registry and clients; needs root). Installs what it needs,
# so only host limitations may skip a test here; the run ends with a list of the skips.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -q -- -D warnings -D clippy::undocumented_unsafe_blocks

echo "== build"
cargo build --release --workspace --bins -q
export BERTH_BIN_DIR=$PWD/target/release

# Strict: a test may skip only for a host limitation listed in tests/host-limitations.txt;
# any other skip (not root, a tool missing) fails the test. Each skip appends a line to
# BERTH_SKIP_LOG (outcome, kind, key, test, place, why; tab-separated), listed at the end.
export BERTH_TEST_STRICT=1
BERTH_SKIP_LOG=$(mktemp -t berth-skips.XXXXXX)
export BERTH_SKIP_LOG
trap 'rm -f "$BERTH_SKIP_LOG"' EXIT

skip_summary() {
  local log=$1 n failed
  n=$(wc -l < "$log")
  if [ "$n" = 0 ]; then echo "== skips: none"; return; fi
  failed=$(grep -c '^FAILED' "$log" || true)
  echo "== skips: $n ($failed failed their test: not a host limitation)"
  cut -f1-3 "$log" | sort | uniq -c | awk '{ printf "  %4d  %-7s %s %s\n", $1, $2, $3, $4 }'
  sort -t "$(printf '\t')" -k4,4 "$log" |
    awk -F '\t' '{ printf "  %-7s %s\n          %s %s: %s (%s)\n", $1, $4, $2, $3, $6, $5 }'
}

echo "== unit and integration tests"
# Integration tests run real containers; two at a time matches the CI machine.
status=0
cargo test --release --workspace --no-fail-fast -q -- --test-threads=2 || status=$?

# Coverage-guided fuzzing of the parsers of untrusted input, briefly: a crash, a hang or a
# memory blow-up on any input fails the run (see tests/README.md, Fuzzing).
echo "== fuzzing"
scripts/fuzz.sh all 15 || status=1
skip_summary "$BERTH_SKIP_LOG"
exit $status
