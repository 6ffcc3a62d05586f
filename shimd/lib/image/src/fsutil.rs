//! Filesystem operations on entries of a tree by name relative to their directory's
//! descriptor, never following a symlink: lstat, removal, listing, xattrs, and the disk
//! usage of a tree. Paths inside a root are resolved by berth-fs (`berth_fs::InRoot`); the
//! last component is then handled here, by name.

use std::ffi::{CStr, CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;

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

/// lstat of `name` in `dir`; None when absent.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> std::io::Result<Option<FileStat>> {
    match nix::sys::stat::fstatat(Some(dir.as_raw_fd()), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(s) => Ok(Some(s)),
        Err(nix::errno::Errno::ENOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
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
    PathBuf::from(berth_fs::fd_path(dir)).join(name)
}

/// A C string of `b`; a NUL inside is EINVAL, as the kernel would say of a bad name.
fn c_string(b: &[u8]) -> std::io::Result<CString> {
    CString::new(b).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))
}

/// The result of a libc call that returns 0 on success and -1 with errno.
fn zero_or_errno(r: libc::c_int) -> std::io::Result<()> {
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets an xattr on the entry `name` of `dir` without following a symlink there.
pub fn lsetxattr_at(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    key: &str,
    value: &[u8],
) -> std::io::Result<()> {
    let p = c_string(proc_path(dir, name).as_os_str().as_bytes())?;
    let k = c_string(key.as_bytes())?;
    // SAFETY: `p` and `k` are NUL-terminated C strings and `value` a live slice whose
    // pointer and length go together; the kernel only reads them.
    zero_or_errno(unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Sets an xattr on the open file `fd`.
pub fn fsetxattr(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> std::io::Result<()> {
    let k = c_string(key.as_bytes())?;
    // SAFETY: `fd` is borrowed, so open for the call; `k` is a NUL-terminated C string and
    // `value` a live slice whose pointer and length go together; the kernel only reads them.
    zero_or_errno(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            k.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
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

/// The size of the files under a directory as docker counts a layer or a volume: the
/// lengths of files and symlinks (each hard-linked file once), directories not counted;
/// with the number of inodes. Entries removed while walking are skipped, not the root.
pub fn apparent_usage(path: &Path) -> std::io::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut bytes = 0u64;
    let mut inodes = 1u64;
    let mut seen = std::collections::HashSet::new();
    let mut todo = vec![path.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && dir != path => continue,
            Err(e) => return Err(e),
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                inodes += 1;
                todo.push(e.path());
                continue;
            }
            if m.nlink() > 1 && !seen.insert((m.dev(), m.ino())) {
                continue;
            }
            inodes += 1;
            bytes += m.len();
        }
    }
    Ok((bytes, inodes))
}
