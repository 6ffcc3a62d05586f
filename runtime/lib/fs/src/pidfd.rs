//! Process descriptors (pidfd_open(2), Linux 5.3): a handle on a process that cannot be
//! confused with a later process of the same PID, readable once the process has exited.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A pidfd of process `pid` (close-on-exec, as every pidfd is).
pub fn open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open(2) takes two integers (no pointers) and returns a new descriptor
    // or -1; libc has no wrapper for it.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Our own copy of descriptor `fd` of the process behind `pidfd` (pidfd_getfd(2), Linux
/// 5.6; needs ptrace access to it). The copy is close-on-exec.
pub fn get_fd(pidfd: BorrowedFd<'_>, fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_getfd(2) takes a descriptor, a descriptor number and flags (no
    // pointers) and returns a new descriptor or -1.
    let copy = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so `copy` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(copy as RawFd) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// poll(2) of one descriptor for input, `ms` at most: whether it is readable.
    fn readable(fd: BorrowedFd<'_>, ms: i32) -> bool {
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, alive for the duration of the call.
        unsafe { libc::poll(&mut p, 1, ms) == 1 }
    }

    #[test]
    fn a_pidfd_turns_readable_when_its_process_exits() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let fd = open(child.id() as libc::pid_t).unwrap();
        assert!(!readable(fd.as_fd(), 0), "readable while running");
        child.kill().unwrap();
        assert!(readable(fd.as_fd(), 5000), "not readable after exit");
        child.wait().unwrap();
    }

    #[test]
    fn a_missing_process_is_an_error() {
        assert!(open(-5).is_err());
    }
}
