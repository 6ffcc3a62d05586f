//! Resolving paths inside a container's rootfs before pivot_root without ever leaving it:
//! every lookup is `openat2(RESOLVE_IN_ROOT)` from the rootfs directory, so `..` and
//! symlinks (absolute or relative) stay inside it, and directories are created one
//! component at a time relative to an already-resolved parent.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

fn cstr(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// The path relative to the rootfs ("/a/../b" stays "a/../b": the kernel keeps it inside).
fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| !matches!(c, Component::RootDir | Component::Prefix(_)))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// Opens `path` inside `root` (O_PATH unless `flags` says otherwise).
pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> io::Result<OwnedFd> {
    let c = cstr(&relative(path))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                root.as_raw_fd(),
                c.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd >= 0 {
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let e = io::Error::last_os_error();
        // EAGAIN: a concurrent rename raced the lookup; just retry.
        if e.raw_os_error() != Some(libc::EAGAIN) && e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// What `ensure` creates when the last component is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens `path` inside `root` as O_PATH, creating missing directories (mode 0755) and,
/// for `Kind::File`, an empty last component (mode 0644).
pub fn ensure(root: BorrowedFd, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
    ensure_depth(root, path, kind, 0)
}

/// `path` with `.` and `..` resolved lexically, never above the root.
fn clamp(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn ensure_depth(root: BorrowedFd, path: &Path, kind: Kind, depth: u32) -> io::Result<OwnedFd> {
    if depth > 40 {
        return Err(io::Error::from_raw_os_error(libc::ELOOP));
    }
    match open_in_root(root, path, libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let rel = relative(path);
    let comps: Vec<_> = rel.components().collect();
    let mut cur = PathBuf::new();
    for (i, comp) in comps.iter().enumerate() {
        let parent = if cur.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            cur.clone()
        };
        cur.push(comp);
        match open_in_root(root, &cur, libc::O_PATH) {
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let Component::Normal(name) = comp else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "path component vanished",
            ));
        };
        let pfd = open_in_root(root, &parent, libc::O_PATH | libc::O_DIRECTORY)?;
        let cname = CString::new(name.as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let last = i + 1 == comps.len();
        let r = unsafe {
            if last && kind == Kind::File {
                let fd = libc::openat(
                    pfd.as_raw_fd(),
                    cname.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                    0
                } else {
                    -1
                }
            } else {
                libc::mkdirat(pfd.as_raw_fd(), cname.as_ptr(), 0o755)
            }
        };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::AlreadyExists {
                // A symlink to something missing: create its target, inside the root.
                let mut buf = vec![0u8; libc::PATH_MAX as usize];
                let n = unsafe {
                    libc::readlinkat(
                        pfd.as_raw_fd(),
                        cname.as_ptr(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                    )
                };
                if n > 0 {
                    buf.truncate(n as usize);
                    let target = PathBuf::from(std::ffi::OsStr::from_bytes(&buf));
                    let base = if target.is_absolute() {
                        PathBuf::new()
                    } else {
                        parent.clone()
                    };
                    let mut next = clamp(&base.join(target));
                    for rest in &comps[i + 1..] {
                        next.push(rest);
                    }
                    return ensure_depth(root, &clamp(&next), kind, depth + 1);
                }
                return open_in_root(root, path, libc::O_PATH).map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} exists but cannot be resolved inside the rootfs (dangling symlink?)", cur.display()),
                    )
                });
            }
            return Err(e);
        }
    }
    open_in_root(root, path, libc::O_PATH)
}

/// What is at a path inside the rootfs, its last component not followed.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Missing,
    Dir,
    /// A symlink, with its target.
    Symlink(PathBuf),
    /// A file, device, socket or fifo.
    Other,
}

/// Looks at `path` inside `root` like lstat: the parent directories resolve inside the
/// root, the last component is reported as it is (a symlink is not followed).
pub fn entry_in_root(root: BorrowedFd, path: &Path) -> io::Result<Entry> {
    let rel = relative(path);
    let (parent, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n))
            if !matches!(rel.components().next_back(), Some(Component::ParentDir)) =>
        {
            (p.to_path_buf(), n.to_os_string())
        }
        // "." or a path ending in "..": a directory, resolved inside the root
        _ => (rel.clone(), std::ffi::OsString::from(".")),
    };
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    let pfd = match open_in_root(root, &parent, libc::O_PATH | libc::O_DIRECTORY) {
        Ok(fd) => fd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entry::Missing),
        Err(e) => return Err(e),
    };
    let cname =
        CString::new(name.as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: an all-zero stat is a valid value for fstatat to fill in.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, NUL-terminated name and a stat buffer alive for the call.
    let r = unsafe {
        libc::fstatat(
            pfd.as_raw_fd(),
            cname.as_ptr(),
            &mut st,
            libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH,
        )
    };
    if r != 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::NotFound {
            return Ok(Entry::Missing);
        }
        return Err(e);
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => Entry::Dir,
        libc::S_IFLNK => {
            let mut buf = vec![0u8; libc::PATH_MAX as usize];
            // SAFETY: valid fd and name; the buffer's length is passed.
            let n = unsafe {
                libc::readlinkat(
                    pfd.as_raw_fd(),
                    cname.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            buf.truncate(n.max(0) as usize);
            Entry::Symlink(PathBuf::from(std::ffi::OsStr::from_bytes(&buf)))
        }
        _ => Entry::Other,
    })
}

/// The magic-link path of an fd, for syscalls that take paths (mount, chown, ...).
pub fn proc_fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn stays_inside_root() {
        let t = tempfile_dir("inside");
        let root = t.join("root");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::write(t.join("secret"), "x").unwrap();
        std::os::unix::fs::symlink("/../../secret", root.join("etc/evil")).unwrap();
        std::os::unix::fs::symlink("../../../../", root.join("up")).unwrap();
        let rfd = std::fs::File::open(&root).unwrap();
        let rfd: OwnedFd = rfd.into();
        // The escaping symlink resolves inside the root, where there is no secret.
        assert!(open_in_root(rfd.as_fd(), Path::new("/etc/evil"), libc::O_PATH).is_err());
        // Creating through an escaping symlink creates inside the root.
        ensure(rfd.as_fd(), Path::new("/up/made/here"), Kind::Dir).unwrap();
        assert!(root.join("made/here").is_dir());
        assert!(!t.join("made").exists());
        ensure(rfd.as_fd(), Path::new("a/b/file"), Kind::File).unwrap();
        assert!(root.join("a/b/file").is_file());
        // Dangling symlinks, absolute and relative, are followed inside the root.
        std::os::unix::fs::symlink(t.join("outside"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("../../../../outside2", root.join("etc/rel")).unwrap();
        ensure(rfd.as_fd(), Path::new("/abs/x"), Kind::Dir).unwrap();
        ensure(rfd.as_fd(), Path::new("/etc/rel/y"), Kind::File).unwrap();
        assert!(!t.join("outside").exists());
        assert!(root
            .join(t.strip_prefix("/").unwrap())
            .join("outside/x")
            .is_dir());
        assert!(root.join("outside2/y").is_file());
        std::fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn entries_are_not_followed() {
        let t = tempfile_dir("entries");
        std::fs::create_dir_all(t.join("proc")).unwrap();
        std::fs::create_dir_all(t.join("real")).unwrap();
        std::os::unix::fs::symlink("/real", t.join("sys")).unwrap();
        std::os::unix::fs::symlink("/", t.join("up")).unwrap();
        std::fs::write(t.join("file"), "").unwrap();
        let rfd: OwnedFd = std::fs::File::open(&t).unwrap().into();
        let r = rfd.as_fd();
        assert_eq!(entry_in_root(r, Path::new("/proc")).unwrap(), Entry::Dir);
        assert_eq!(
            entry_in_root(r, Path::new("/sys")).unwrap(),
            Entry::Symlink(PathBuf::from("/real"))
        );
        assert_eq!(entry_in_root(r, Path::new("/file")).unwrap(), Entry::Other);
        assert_eq!(
            entry_in_root(r, Path::new("/none")).unwrap(),
            Entry::Missing
        );
        assert_eq!(
            entry_in_root(r, Path::new("/none/x")).unwrap(),
            Entry::Missing
        );
        // parents resolve inside the root: /up/proc is the root's /proc
        assert_eq!(entry_in_root(r, Path::new("/up/proc")).unwrap(), Entry::Dir);
        assert_eq!(entry_in_root(r, Path::new("/")).unwrap(), Entry::Dir);
        std::fs::remove_dir_all(&t).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-safepath-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
