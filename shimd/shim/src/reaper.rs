//! The one reaper: every child exit of this shim goes through `waitpid(-1)` here, driven by
//! SIGCHLD on a signalfd. Running the runtime binary waits through the same reaper, so no
//! exit status is ever stolen; exits of other processes seen meanwhile are kept for the
//! main loop.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

pub struct Reaper {
    sigfd: SignalFd,
    /// (pid, exit status) reaped but not yet handled.
    pending: Vec<(i32, u32)>,
}

/// A poll timeout of `left`, at most a second (the caller looks at the clock again).
fn wait_at_most(left: std::time::Duration) -> PollTimeout {
    PollTimeout::from(left.as_millis().min(1000) as u16)
}

/// Output of a command, read while it runs so a full pipe never blocks it.
pub struct Capture {
    pub fd: OwnedFd,
    pub data: Vec<u8>,
    open: bool,
}

/// Captured output beyond this is dropped (the runtime's `ps` output is far smaller).
const CAPTURE_LIMIT: usize = 4 << 20;

impl Capture {
    pub fn new(fd: OwnedFd) -> Capture {
        Capture {
            fd,
            data: Vec::new(),
            open: true,
        }
    }

    /// Reads whatever is available without blocking.
    pub fn read_available(&mut self) {
        let mut buf = [0u8; 8192];
        while self.open {
            match nix::unistd::read(self.fd.as_raw_fd(), &mut buf) {
                Ok(0) => self.open = false,
                Ok(n) => {
                    if self.data.len() < CAPTURE_LIMIT {
                        self.data.extend_from_slice(&buf[..n]);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }
}

/// The exit status as a shell reports it: the code, or 128 + the signal.
pub fn exit_code(ws: WaitStatus) -> Option<(i32, u32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code as u32)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as u32)),
        _ => None,
    }
}

impl Reaper {
    /// Blocks SIGCHLD and opens the signalfd; call before spawning any child.
    pub fn new() -> nix::Result<Reaper> {
        let mut mask = SigSet::empty();
        mask.add(Signal::SIGCHLD);
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&mask), None)?;
        let sigfd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)?;
        Ok(Reaper {
            sigfd,
            pending: Vec::new(),
        })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.sigfd.as_fd()
    }

    /// Drains the signalfd and reaps every exited child into the pending list. Returns
    /// false once no child is left.
    pub fn reap(&mut self) -> bool {
        while let Ok(Some(_)) = self.sigfd.read_signal() {}
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => return true,
                Err(Errno::ECHILD) => return false,
                Ok(ws) => {
                    if let Some(exit) = exit_code(ws) {
                        self.pending.push(exit);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => return true,
            }
        }
    }

    /// Reaps until no child is left or `deadline` passes; true when none is left.
    pub fn wait_childless(&mut self, deadline: Instant) -> bool {
        while self.reap() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            let mut fds = [PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, wait_at_most(left));
        }
        true
    }

    /// Every reaped exit not handled yet.
    pub fn take_all(&mut self) -> Vec<(i32, u32)> {
        std::mem::take(&mut self.pending)
    }

    /// Removes the pending exit of `pid`, if it has been reaped.
    pub fn take(&mut self, pid: i32) -> Option<u32> {
        let i = self.pending.iter().position(|(p, _)| *p == pid)?;
        Some(self.pending.remove(i).1)
    }

    /// Waits until `pid` exits or `deadline` passes, reading `captures` meanwhile.
    /// Returns its exit status, or None on timeout.
    pub fn wait_for(
        &mut self,
        pid: i32,
        deadline: Instant,
        captures: &mut [&mut Capture],
    ) -> Option<u32> {
        loop {
            let _ = self.reap();
            for c in captures.iter_mut() {
                c.read_available();
            }
            if let Some(status) = self.take(pid) {
                for c in captures.iter_mut() {
                    c.read_available();
                }
                return Some(status);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let mut fds = vec![PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN)];
            for c in captures.iter().filter(|c| c.open) {
                fds.push(PollFd::new(c.fd.as_fd(), PollFlags::POLLIN));
            }
            let _ = poll(&mut fds, wait_at_most(left));
        }
    }
}
