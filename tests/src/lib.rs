//! Shared fixtures for Berth's integration tests. Everything is real: the binaries built
//! from this workspace, a busybox rootfs from Debian's `busybox-static`, real daemons on
//! private sockets under temporary directories, a real registry on a loopback port.
//!
//! Tests need root (namespaces, cgroups, mounts). Each test uses its own ids, state roots
//! and cgroup parents so tests can run in parallel.

pub mod berthd;
pub mod bins;
pub mod cgroup_parent;
pub mod cli;
pub mod dockerd;
pub mod http;
pub mod images;
pub mod net;
pub mod oci_runtime;
pub mod registry;
pub mod rootfs;
pub mod shimd;
pub mod tasks;
pub mod volumes;

/// Skips the calling test (returning early) with a reason on stderr, e.g. when the host
/// lacks a kernel feature. Never used to hide a failure.
#[macro_export]
macro_rules! skip {
    ($($arg:tt)*) => {{
        eprintln!("SKIPPED: {}", format!($($arg)*));
        return;
    }};
}

/// A short unique suffix for ids, cgroup names and directories of one test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// True when running as root (every integration test needs it).
pub fn is_root() -> bool {
    nix::unistd::Uid::effective().is_root()
}
