//! Protection against overwriting the runtime binary from inside a container
//! (CVE-2019-5736): commands that enter a container re-execute from a sealed memfd copy,
//! so /proc/self/exe of every runtime process a container can see is a read-only,
//! unlinked in-memory file, never the binary on disk.

use crate::error::{bail, Result};
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
const MFD_EXEC: libc::c_uint = 0x10;

fn is_sealed(fd: &OwnedFd) -> bool {
    // SAFETY: F_GET_SEALS on a descriptor we own takes no pointer.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & SEALS == SEALS
}

/// Whether this process runs from a sealed copy already.
pub fn running_sealed() -> bool {
    std::fs::File::open("/proc/self/exe").is_ok_and(|f| is_sealed(&f.into()))
}

/// Makes a sealed copy of the running binary and executes it with the same arguments
/// (returns only on failure).
pub fn reexec_sealed() -> Result<()> {
    let exe = std::fs::File::open("/proc/self/exe")
        .map_err(|e| format!("opening /proc/self/exe: {e}"))?;
    let exe: OwnedFd = exe.into();
    let name = c"berth-runtime";
    // SAFETY: a NUL-terminated constant name; the descriptor is owned right after.
    let mut fd = unsafe {
        libc::memfd_create(
            name.as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING | MFD_EXEC,
        )
    };
    if fd < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
        // Kernels before 6.3 do not know MFD_EXEC.
        // SAFETY: a NUL-terminated constant name; the descriptor is owned right after.
        fd = unsafe {
            libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
    }
    if fd < 0 {
        bail!("memfd_create: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let mem = unsafe { OwnedFd::from_raw_fd(fd) };
    let size = std::fs::metadata("/proc/self/exe")
        .map(|m| m.len())
        .unwrap_or(0) as usize;
    let mut left = size;
    while left > 0 {
        // SAFETY: sendfile between two descriptors we own; a null offset means the file position.
        let n =
            unsafe { libc::sendfile(mem.as_raw_fd(), exe.as_raw_fd(), std::ptr::null_mut(), left) };
        if n <= 0 {
            bail!(
                "copying the runtime binary to memory: {}",
                std::io::Error::last_os_error()
            );
        }
        left -= n as usize;
    }
    // SAFETY: F_ADD_SEALS takes a number.
    if unsafe { libc::fcntl(mem.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        bail!(
            "sealing the runtime copy: {}",
            std::io::Error::last_os_error()
        );
    }
    let args: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(std::os::unix::ffi::OsStringExt::into_vec(a)).unwrap_or_default())
        .collect();
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let empty = c"";
    // SAFETY: argv is a null-terminated array of NUL-terminated strings alive for the call,
    // `environ` is the process's environment and the empty path goes with AT_EMPTY_PATH.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            mem.as_raw_fd(),
            empty.as_ptr(),
            argv.as_ptr(),
            environ,
            libc::AT_EMPTY_PATH,
        );
    }
    bail!(
        "executing the sealed runtime copy: {}",
        std::io::Error::last_os_error()
    )
}
