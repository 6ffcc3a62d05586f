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

/// A command for the workspace's daemon `name`: the workspace's binaries first on PATH (so
/// it finds its shim and runtime), stdin closed, stdout and stderr appended to `log`.
pub fn daemon_command(name: &str, log: &Path) -> std::process::Command {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
    let path = format!(
        "{}:{}",
        bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = std::process::Command::new(bin(name));
    cmd.env("PATH", path)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log);
    cmd
}

/// Stops a daemon with SIGTERM, waiting up to `limit` for it to exit, then kills it.
pub fn terminate(child: Option<std::process::Child>, limit: std::time::Duration) {
    let Some(mut c) = child else { return };
    let pid = nix::unistd::Pid::from_raw(c.id() as i32);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = std::time::Instant::now() + limit;
    while std::time::Instant::now() < deadline {
        if let Ok(Some(_)) = c.try_wait() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = c.kill();
    let _ = c.wait();
}
