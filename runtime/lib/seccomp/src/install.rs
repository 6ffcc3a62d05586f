//! Installing compiled programs with seccomp(2). Nothing here allocates or takes a lock, so
//! it is safe in a forked child right before execve.

use seccompiler::sock_filter;

use crate::Error;

/// struct sock_fprog
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

/// Installs each program in order with the given SECCOMP_FILTER_FLAG_* flags.
pub(crate) fn install(programs: &[Vec<sock_filter>], flags: libc::c_ulong) -> Result<(), Error> {
    for p in programs {
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
        if r > 0 {
            // with TSYNC: the id of a thread that could not be synchronized
            return Err(Error::ThreadSync(r as i64));
        }
    }
    Ok(())
}
