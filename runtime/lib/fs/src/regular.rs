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
    let f = sys::openat(cwd, OsStr::new(&path), libc::O_RDONLY | libc::O_NOCTTY, 0)?;
    Ok(File::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::OwnedFd;

    fn dir() -> (tempfile::TempDir, OwnedFd) {
        let d = tempfile::Builder::new()
            .prefix("berth-fs-")
            .tempdir_in("/tmp")
            .unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        let p = sys::cstr(d.path().join("p").as_os_str()).unwrap();
        // SAFETY: mkfifo(3) of a valid C string.
        assert_eq!(unsafe { libc::mkfifo(p.as_ptr(), 0o644) }, 0);
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        std::fs::create_dir(d.path().join("d")).unwrap();
        let fd = crate::open_root(d.path()).unwrap();
        (d, fd)
    }

    #[test]
    fn a_regular_file_is_read() {
        let (d, fd) = dir();
        let mut s = String::new();
        open_regular_at(fd.as_fd(), OsStr::new("f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
        s.clear();
        open_regular(&d.path().join("f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
    }

    #[test]
    fn fifos_directories_devices_and_links_are_not_opened() {
        let (d, fd) = dir();
        // A FIFO nobody writes to: an open for reading would block for good.
        for name in ["p", "l", "d"] {
            let e = open_regular_at(fd.as_fd(), OsStr::new(name)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{name}");
            assert!(e.to_string().contains("not a regular file"), "{e}");
        }
        let e = open_regular(&d.path().join("p")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = open_regular(Path::new("/dev/null")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let e = open_regular_at(fd.as_fd(), OsStr::new("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn an_o_path_descriptor_is_reopened_as_the_same_file() {
        let (d, fd) = dir();
        let o = sys::openat(fd.as_fd(), OsStr::new("f"), libc::O_PATH, 0).unwrap();
        // Replaced by name: the descriptor still reads the file it was opened on.
        std::fs::rename(d.path().join("f"), d.path().join("old")).unwrap();
        std::fs::write(d.path().join("f"), "new").unwrap();
        let mut s = String::new();
        reopen_regular(o.as_fd())
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
    }
}
