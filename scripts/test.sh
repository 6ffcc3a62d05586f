#!/usr/bin/env bash
# Runs Berth's whole test suite: formatting, lints, unit tests and the integration tests
# (real containers, daemons, registry and clients; needs root). Installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --release -q -- -D warnings

echo "== build"
cargo build --release --workspace --bins -q
export BERTH_BIN_DIR=$PWD/target/release

echo "== unit and integration tests"
# Integration tests run real containers; two at a time matches the CI machine.
cargo test --release --workspace --no-fail-fast -q -- --test-threads=2
