//! The shim as the init of its container's PID namespace (`--init`, docker's `--init`).
//!
//! The starter unshares a PID namespace before the fork, so the detached shim is its PID 1:
//! orphans of the container come to it and are reaped in the usual loop, with no extra
//! process in the container. The runtime, a child of the shim, runs in that namespace too
//! (the container joins it), so the shim gets a mount namespace of its own with a /proc of
//! that PID namespace: the runtime's `/proc/<pid>` then names the processes it started.
//! Everything the shim reports leaves it as a host pid, translated through the host's
//! /proc (kept open from before).

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use nix::fcntl::{openat, OFlag};
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::stat::Mode;

/// The host's /proc, for translating our pids into the host's.
pub struct HostProc {
    dir: OwnedFd,
}

/// Before the fork: opens the host's /proc and makes the next child the PID 1 of a new
/// PID namespace.
pub fn prepare() -> Result<HostProc, String> {
    // std opens with O_CLOEXEC; with O_PATH the access mode is ignored.
    let dir = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
        .open("/proc")
        .map_err(|e| format!("opening /proc: {e}"))?
        .into();
    unshare(CloneFlags::CLONE_NEWPID).map_err(|e| format!("creating a PID namespace: {e}"))?;
    Ok(HostProc { dir })
}

/// In the child (PID 1 of the new namespace): a mount namespace whose /proc shows this PID
/// namespace, and no ptrace or /proc access for anyone without CAP_SYS_PTRACE (the
/// container's processes share our PID namespace).
pub fn become_init() -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("creating a mount namespace: {e}"))?;
    // The copy of the host's /proc must not pass our new mount on to the host's.
    mount(
        None::<&str>,
        "/proc",
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("making /proc private: {e}"))?;
    mount(
        Some("proc"),
        "/proc",
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(|e| format!("mounting /proc for the PID namespace: {e}"))?;
    nix::sys::prctl::set_dumpable(false).map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    Ok(())
}

impl HostProc {
    fn read(&self, path: &str) -> Option<String> {
        let fd = openat(
            Some(self.dir.as_raw_fd()),
            path,
            OFlag::O_RDONLY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ok()?;
        // SAFETY: `openat` succeeded, so `fd` is a new open descriptor that nothing else
        // owns or closes; the OwnedFd becomes its only owner.
        let mut f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        let mut s = String::new();
        f.read_to_string(&mut s).ok()?;
        Some(s)
    }

    /// Our own pid on the host.
    pub fn own_pid(&self) -> u32 {
        self.read("self/stat")
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The host pid of `pid` (a pid of our namespace), or 0 when it is gone. A pidfd's
    /// fdinfo names the process in the pid namespace of the /proc it is read through.
    pub fn host_pid(&self, pid: u32) -> u32 {
        if pid == 0 {
            return 0;
        }
        let Ok(pidfd) = berth_fs::pidfd::open(pid as libc::pid_t) else {
            return 0;
        };
        self.read(&format!("self/fdinfo/{}", pidfd.as_raw_fd()))
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("Pid:"))
                    .and_then(|p| p.trim().parse::<i64>().ok())
            })
            .filter(|p| *p > 0)
            .map_or(0, |p| p as u32)
    }
}
