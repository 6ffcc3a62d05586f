//! Shared pieces of Berth's fuzz targets (one binary each under `fuzz_targets/`, run by
//! `scripts/fuzz.sh`): a fresh directory per input for the targets that write files.

pub mod sandbox;
