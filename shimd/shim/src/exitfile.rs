//! The init process's exit status on disk, written before anyone is told about it, so a
//! restarted shimd can still learn it when this shim is gone.
//!
//! Format (one line): `<exit status> <exited at, Unix ns> <pid>`.

use std::io::Write;

pub const EXIT_FILE: &str = "exit";

/// Writes the exit file atomically (temp file, fsync, rename) in the current directory.
pub fn record(status: u32, exited_at: i64, pid: u32) -> std::io::Result<()> {
    let tmp = format!("{EXIT_FILE}.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    writeln!(f, "{status} {exited_at} {pid}")?;
    f.sync_all()?;
    std::fs::rename(&tmp, EXIT_FILE)
}
