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
pub mod gate;
pub mod http;
pub mod images;
pub mod net;
pub mod oci_runtime;
pub mod pki;
pub mod ports;
pub mod registry;
pub mod rootfs;
pub mod seccomp_agent;
pub mod shimd;
pub mod skip;
pub mod stalling_proxy;
pub mod tasks;
pub mod volumes;

/// Skips the calling test (returning early), naming why by key: a host limitation listed
/// in tests/host-limitations.txt (`skip!(host::no_block_device)`) or a prerequisite
/// (`skip!(needs::root)`, see [`skip::Needs`]); a detail may follow, formatted like
/// `format!` (`skip!(host::no_cgroup_v1, "found {mode:?}")`). Both kinds of key are checked
/// at compile time. In strict mode (`BERTH_TEST_STRICT=1` or `CI`) a prerequisite fails the
/// test instead: see [`skip`]. Never used to hide a failure.
#[macro_export]
macro_rules! skip {
    (host::$key:ident $(, $($detail:tt)+)?) => {{
        $crate::skip::report(
            $crate::skip::Reason::Host($crate::skip::Host::$key),
            &{ String::new() $(+ &format!($($detail)+))? },
            concat!(file!(), ":", line!()),
        );
        return;
    }};
    (needs::$key:ident $(, $($detail:tt)+)?) => {{
        $crate::skip::report(
            $crate::skip::Reason::Needs($crate::skip::Needs::$key),
            &{ String::new() $(+ &format!($($detail)+))? },
            concat!(file!(), ":", line!()),
        );
        return;
    }};
}

/// Skips the calling test (with [`skip!`]) unless every prerequisite named is there:
/// `require!(root, docker_cli)`; the keys are those of [`skip::Needs`].
#[macro_export]
macro_rules! require {
    ($($key:ident),+ $(,)?) => {
        $(
            if !$crate::skip::Needs::$key.present() {
                $crate::skip!(needs::$key);
            }
        )+
    };
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

/// Polls `f` every 20 ms until it holds or `limit` has passed; whether it held (checked
/// once more at the deadline).
pub fn wait_until(limit: std::time::Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    f()
}
