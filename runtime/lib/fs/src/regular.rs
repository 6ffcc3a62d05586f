//! Opening a file of an untrusted tree (an image, a container) for reading only if it is a
//! regular file. Nothing else is ever opened -- a FIFO would block the reader for good, a
//! device node's open reaches its driver -- and no symlink is followed: the name is looked
//! at through an O_PATH descriptor (which opens nothing) and only a regular file is
//! reopened, through that descriptor (`/proc/self/fd/N`), so it is the very inode checked.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use crate::inroot::fd_path;
use crate::sys;

/// Opens `name` in `dir` for reading if, and only if, it is a regular file (a symlink
/// there is not followed: InvalidInput like any other non-regular file).
pub fn open_regular_at(dir: BorrowedFd, name: &OsStr) -> io::Result<File> {
    let fd = sys::openat(dir, name, libc::O_PATH | libc::O_NOFOLLOW, 0)?;
    reopen_regular(fd.as_fd())
}

/// [`open_regular_at`] for a path (its last component is not followed).
pub fn open_regular(path: &Path) -> io::Result<File> {
    // SAFETY: AT_FDCWD is the *at calls' "current directory"; a BorrowedFd closes nothing.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    open_regular_at(cwd, path.as_os_str())
}

/// Reopens a descriptor (typically O_PATH) for reading if it is a regular file (the very
/// inode it names); an error of kind InvalidInput otherwise.
pub fn reopen_regular(fd: BorrowedFd) -> io::Result<File> {
    let st = sys::fstat(fd)?;
    if sys::file_type(&st) != libc::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file (FIFOs and devices are never opened)",
        ));
    }
    let path = fd_path(fd);
    // SAFETY: see open_regular.
    let cwd = unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) };
    let f = sys::openat(
        cwd,
        path.as_os_str(),
        libc::O_RDONLY | libc::O_NOCTTY,
        0,
    )?;
    Ok(File::from(f))
}
