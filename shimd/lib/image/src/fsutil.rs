//! Filesystem operations confined to a root directory.
//!
//! Every path inside a root is resolved with `openat2(RESOLVE_IN_ROOT)`: `..` and absolute
//! symlinks are clamped to the root by the kernel, so no symlink (from the tree or planted
//! by a hostile layer) can lead outside. The last component of a path is then handled
//! by name relative to its parent's fd, never followed.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// Opens `rel` (relative to `root`) resolving every component inside `root`.
pub fn openat2_in_root(
    root: BorrowedFd<'_>,
    rel: &Path,
    flags: OFlag,
    mode: u32,
) -> std::io::Result<OwnedFd> {
    let rel = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    let c = CString::new(rel.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // The kernel's struct open_how (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | OFlag::O_CLOEXEC).bits() as u64,
        mode: if flags.contains(OFlag::O_CREAT) {
            mode as u64
        } else {
            0
        },
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: valid fd, NUL-terminated path and a properly sized open_how.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if r >= 0 {
            // SAFETY: the kernel just gave us this fd.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as i32) });
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EAGAIN) && e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// An O_PATH fd of a directory, to be used as a root.
pub fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: nix returned a fresh fd.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Splits a path from an archive into clean components. Leading `/` and `.` are dropped
/// (archive paths are relative to the root); `..` is refused.
pub fn clean_components(p: &Path) -> Result<Vec<OsString>, String> {
    let mut out = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n.to_os_string()),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                return Err(format!("path {} contains '..'", p.display()));
            }
            Component::Prefix(_) => return Err(format!("path {} has a prefix", p.display())),
        }
    }
    Ok(out)
}

pub fn join(components: &[OsString]) -> PathBuf {
    components.iter().collect()
}

/// The directory `rel` inside `root` (O_PATH), creating missing components with `mode`.
pub fn mkdir_all_in_root(
    root: BorrowedFd<'_>,
    rel: &[OsString],
    mode: u32,
) -> std::io::Result<OwnedFd> {
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match openat2_in_root(root, &join(rel), dir_flags, 0) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let mut cur = openat2_in_root(root, Path::new("."), dir_flags, 0)?;
    for (i, name) in rel.iter().enumerate() {
        match nix::sys::stat::mkdirat(
            Some(cur.as_raw_fd()),
            name.as_os_str(),
            Mode::from_bits_truncate(mode),
        ) {
            Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
            Err(e) => return Err(e.into()),
        }
        // Re-resolve from the root so a symlink at this component stays inside it.
        cur = openat2_in_root(root, &join(&rel[..=i]), dir_flags, 0)?;
    }
    Ok(cur)
}

/// lstat of `name` in `dir`; None when absent.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Option<FileStat>> {
    match nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some(s)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Opens `name` in `dir` for reading if, and only if, it is a regular file. Nothing else is
/// ever opened -- a FIFO would block the reader for good, a device node's open reaches its
/// driver -- and no symlink is followed: the name is looked at through an O_PATH descriptor
/// (which opens nothing) and only a regular file is reopened, through that descriptor.
pub fn open_regular_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<std::fs::File> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        name,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: nix returned a fresh fd, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    reopen_regular(fd.as_fd())
}

/// `open_regular_at` for a path (its last component is not followed).
pub fn open_regular(path: &Path) -> std::io::Result<std::fs::File> {
    let fd = nix::fcntl::open(
        path,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    // SAFETY: nix returned a fresh fd, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    reopen_regular(fd.as_fd())
}

/// Reopens an O_PATH descriptor for reading if it is a regular file (the very inode it
/// names, through /proc/self/fd); an error of kind InvalidInput otherwise.
pub fn reopen_regular(fd: BorrowedFd<'_>) -> std::io::Result<std::fs::File> {
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    if SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT != SFlag::S_IFREG {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (FIFOs and devices are never opened)",
        ));
    }
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let f = nix::fcntl::open(
        path.as_str(),
        OFlag::O_RDONLY | OFlag::O_CLOEXEC | OFlag::O_NOCTTY,
        Mode::empty(),
    )?;
    // SAFETY: nix returned a fresh fd, owned from here on.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(f) }))
}

pub fn is_dir(st: &FileStat) -> bool {
    SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

/// Removes `name` in `dir` whatever it is (directories recursively, never following links).
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<()> {
    let Some(st) = lstat_at(dir, name)? else {
        return Ok(());
    };
    if is_dir(&st) {
        let sub = nix::fcntl::openat(
            Some(dir.as_raw_fd()),
            name,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )?;
        // SAFETY: fresh fd from openat.
        let sub = unsafe { OwnedFd::from_raw_fd(sub) };
        empty_dir(sub.as_fd(), |_| true)?;
        nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::RemoveDir)?;
    } else {
        nix::unistd::unlinkat(Some(dir.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)?;
    }
    Ok(())
}

/// The names in a directory (without `.` and `..`).
pub fn list_dir(dir: BorrowedFd<'_>) -> std::io::Result<Vec<OsString>> {
    let fd = nix::fcntl::openat(
        Some(dir.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let mut d = nix::dir::Dir::from_fd(fd)?;
    let mut out = Vec::new();
    for e in d.iter() {
        let e = e?;
        let n: &CStr = e.file_name();
        let b = n.to_bytes();
        if b != b"." && b != b".." {
            out.push(OsStr::from_bytes(b).to_os_string());
        }
    }
    Ok(out)
}

/// Removes the entries of `dir` for which `remove(name)` is true.
pub fn empty_dir(dir: BorrowedFd<'_>, remove: impl Fn(&OsStr) -> bool) -> std::io::Result<()> {
    for name in list_dir(dir)? {
        if remove(&name) {
            remove_all_at(dir, &name)?;
        }
    }
    Ok(())
}

/// `/proc/self/fd/N/name`: a path to `name` in an fd's directory, for calls that take no fd
/// (e.g. xattrs on symlinks). The final component is not followed by l* calls.
pub fn proc_path(dir: BorrowedFd<'_>, name: &OsStr) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())).join(name)
}

/// Sets an xattr on the entry `name` of `dir` without following a symlink there.
pub fn lsetxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &str,
    value: &[u8],
) -> std::io::Result<()> {
    let p = CString::new(proc_path(dir, name).as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let k = CString::new(key).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid C strings and buffer.
    let r = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Reads an xattr of the entry `name` of `dir` (not following a symlink); None when unset.
pub fn lgetxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &str,
) -> std::io::Result<Option<Vec<u8>>> {
    let p = CString::new(proc_path(dir, name).as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let k = CString::new(key).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: valid C strings and buffer of the given length.
    let r = unsafe {
        libc::lgetxattr(
            p.as_ptr(),
            k.as_ptr(),
            buf.as_mut_ptr() as *mut libc::c_void,
            buf.len(),
        )
    };
    if r >= 0 {
        buf.truncate(r as usize);
        return Ok(Some(buf));
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENODATA) | Some(libc::EOPNOTSUPP) => Ok(None),
        _ => Err(e),
    }
}

/// Lists the xattr names of the entry `name` of `dir` (not following a symlink).
pub fn llistxattr_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Vec<String>> {
    let p = CString::new(proc_path(dir, name).as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let mut buf = vec![0u8; 8192];
    // SAFETY: valid C string and buffer of the given length.
    let r =
        unsafe { libc::llistxattr(p.as_ptr(), buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(vec![]),
            _ => Err(e),
        };
    }
    buf.truncate(r as usize);
    Ok(buf
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect())
}

/// Total bytes (allocated blocks) and inodes under a directory, not crossing into links.
pub fn disk_usage(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut bytes = 0u64;
    let mut inodes = 0u64;
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(p) = todo.pop() {
        let m = match std::fs::symlink_metadata(&p) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            continue;
        }
        inodes += 1;
        bytes += m.blocks() * 512;
        if m.is_dir() {
            for e in std::fs::read_dir(&p)? {
                todo.push(e?.path());
            }
        }
    }
    Ok((bytes, inodes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "x").unwrap();
        nix::unistd::mkfifo(&d.path().join("p"), Mode::from_bits_truncate(0o644)).unwrap();
        std::os::unix::fs::symlink("f", d.path().join("l")).unwrap();
        let dir = open_dir(d.path()).unwrap();
        let mut s = String::new();
        use std::io::Read;
        open_regular_at(dir.as_fd(), OsStr::new("f"))
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "x");
        // A FIFO nobody writes to: an open for reading would block for good.
        let e = open_regular_at(dir.as_fd(), OsStr::new("p")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
        assert!(open_regular_at(dir.as_fd(), OsStr::new("l")).is_err());
    }
}
