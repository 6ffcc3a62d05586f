//! Locating the workspace's binaries.

use std::path::{Path, PathBuf};

/// The directory holding the built binaries: `$BERTH_BIN_DIR` if set, else the `release`
/// or `debug` directory of the workspace target dir that holds the newest `berth-runtime`.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("BERTH_BIN_DIR") {
        return PathBuf::from(d);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let newest = ["release", "debug"]
        .iter()
        .map(|p| target.join(p))
        .filter_map(|d| {
            let m = std::fs::metadata(d.join("berth-runtime")).ok()?;
            Some((m.modified().ok()?, d))
        })
        .max_by_key(|(t, _)| *t);
    newest
        .map(|(_, d)| d)
        .unwrap_or_else(|| target.join("debug"))
}

/// The path of one of the workspace's binaries, e.g. `bin("berth-runtime")`.
/// Panics with a clear message when it has not been built.
pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.exists(),
        "{} not found: build the workspace first (cargo build --workspace) or set BERTH_BIN_DIR",
        p.display()
    );
    p
}
