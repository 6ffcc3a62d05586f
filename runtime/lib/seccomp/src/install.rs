//! Installing compiled programs with seccomp(2). Nothing here allocates or takes a lock, so
//! it is safe in a forked child right before execve.

use std::os::fd::{FromRawFd, OwnedFd};

use seccompiler::sock_filter;

use crate::Error;

/// struct sock_fprog
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs each program in order with the given SECCOMP_FILTER_FLAG_* flags; the program
/// `listener` names gets a listener (with its own extra flags), returned.
pub(crate) fn install(
    programs: &[Vec<sock_filter>],
    flags: libc::c_ulong,
    listener: Option<(usize, libc::c_ulong)>,
) -> Result<Option<OwnedFd>, Error> {
    let mut fd = None;
    for (i, p) in programs.iter().enumerate() {
        let flags = match listener {
            // The kernel refuses TSYNC with a listener (unless told to skip threads it
            // cannot sync); the runtime installs in a single-threaded process anyway.
            Some((l, extra)) if l == i => {
                (flags & !libc::SECCOMP_FILTER_FLAG_TSYNC)
                    | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
                    | extra
            }
            _ => flags,
        };
        let prog = SockFprog {
            len: p.len() as libc::c_ushort,
            filter: p.as_ptr(),
        };
        // SAFETY: `prog` points at a live, well-formed program; the kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const SockFprog,
            )
        };
        if r < 0 {
            return Err(Error::Install(std::io::Error::last_os_error()));
        }
        if flags & libc::SECCOMP_FILTER_FLAG_NEW_LISTENER != 0 {
            // SAFETY: with NEW_LISTENER, a successful seccomp(2) returns a new descriptor
            // that nothing else owns.
            fd = Some(unsafe { OwnedFd::from_raw_fd(r as i32) });
        } else if r > 0 {
            // with TSYNC: the id of a thread that could not be synchronized
            return Err(Error::ThreadSync(r as i64));
        }
    }
    Ok(fd)
}
