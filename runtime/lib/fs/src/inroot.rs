//! Paths resolved inside a root directory as if it were `/`: `..` stops at the root,
//! absolute symlinks start from it, relative ones may climb only up to it, and magic links
//! are refused. Nothing a tree holds (a container's rootfs, an image layer, a snapshot) can
//! make a lookup reach outside it.
//!
//! The kernel does the lookup with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`; on a
//! kernel without openat2, and for paths longer than openat2 takes, the same rules run in
//! userspace ([`crate::walk`]). [`InRoot`] offers every operation through one resolver:
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use std::os::fd::AsFd;
//! use std::path::Path;
//! let root = berth_fs::open_root(Path::new("/var/lib/x/rootfs"))?;
//! let r = berth_fs::InRoot::new(root.as_fd());
//! let etc = r.resolve(Path::new("/etc"))?;                       // O_PATH descriptor
//! let f = r.open(Path::new("/etc/hosts"), libc::O_RDONLY, 0)?;   // any open(2) flags
//! let dir = r.mkdir_all(Path::new("/run/app"), 0o755)?;          // mkdir -p, inside
//! let mp = r.ensure(Path::new("/etc/resolv.conf"), berth_fs::Kind::File)?;
//! let passwd = r.open_regular(Path::new("/etc/passwd"))?;        // never a FIFO or device
//! # Ok(()) }
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::{regular, sys, walk};

/// How lookups are done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolver {
    /// openat2 in the kernel; the userspace walk where the kernel has no openat2 or the
    /// path is longer than PATH_MAX.
    Kernel,
    /// Always the userspace walk.
    Walk,
}

/// A root directory (by descriptor) and the resolver of its lookups.
#[derive(Clone, Copy, Debug)]
pub struct InRoot<'a> {
    root: BorrowedFd<'a>,
    resolver: Resolver,
}

/// What [`InRoot::ensure`] creates when the last component is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A directory (mode 0755).
    Dir,
    /// An empty file (mode 0644).
    File,
}

/// What is at a path inside the root, its last component not followed.
#[derive(Debug, PartialEq, Eq)]
pub enum Entry {
    Missing,
    Dir,
    /// A symlink, with its target.
    Symlink(PathBuf),
    /// A file, device, socket or fifo.
    Other,
}

/// Opens a directory to serve as a root (an O_PATH descriptor).
pub fn open_root(dir: &Path) -> io::Result<OwnedFd> {
    sys::openat(cwd(), dir.as_os_str(), libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// The magic-link path of a descriptor (`/proc/self/fd/N`), for calls that take a path
/// (mount, chown, xattrs): it names the very inode the descriptor holds.
pub fn fd_path(fd: BorrowedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// The path a descriptor's file has as this process sees it (the text of its
/// `/proc/self/fd/N` link), e.g. for messages or for tools that need a real path.
pub fn host_path(fd: BorrowedFd) -> io::Result<PathBuf> {
    std::fs::read_link(fd_path(fd))
}

/// The current directory as a descriptor argument (AT_FDCWD).
fn cwd() -> BorrowedFd<'static> {
    // SAFETY: AT_FDCWD is the special value the *at calls read as "the current directory";
    // it is never closed (a BorrowedFd never closes anything).
    unsafe { BorrowedFd::borrow_raw(libc::AT_FDCWD) }
}

/// Whether the kernel refused openat2 as unknown (ENOSYS): then the walk is used from then on.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// The kernel's struct open_how (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); Err(None) when the kernel lacks it.
fn openat2(
    root: BorrowedFd,
    rel: &OsStr,
    flags: i32,
    mode: u32,
) -> Result<OwnedFd, Option<io::Error>> {
    let c = sys::cstr(rel).map_err(Some)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: if flags & (libc::O_CREAT | libc::O_TMPFILE) != 0 {
            mode as u64
        } else {
            0
        },
        resolve: RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    loop {
        // SAFETY: a valid descriptor, a NUL-terminated path and an open_how of the size
        // passed, all alive for the call.
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
            // SAFETY: a fresh descriptor from the kernel, owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) });
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // EAGAIN: a concurrent rename or mount raced the lookup; the kernel asks to retry.
            Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
            Some(libc::ENOSYS) => return Err(None),
            _ => return Err(Some(e)),
        }
    }
}

/// The path relative to the root ("/a/../b" stays "a/../b": the resolver keeps it inside).
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

impl<'a> InRoot<'a> {
    /// Lookups inside `root` (a directory descriptor, O_PATH is enough) by the kernel.
    pub fn new(root: BorrowedFd<'a>) -> InRoot<'a> {
        InRoot {
            root,
            resolver: Resolver::Kernel,
        }
    }

    /// Lookups inside `root` with the given resolver.
    pub fn with(root: BorrowedFd<'a>, resolver: Resolver) -> InRoot<'a> {
        InRoot { root, resolver }
    }

    /// The root's descriptor.
    pub fn root(&self) -> BorrowedFd<'a> {
        self.root
    }

    /// Opens `path` inside the root with open(2) `flags` (O_CLOEXEC always added) and, with
    /// O_CREAT, `mode`. A leading `/` is the root; a trailing `/` asks for a directory.
    pub fn open(&self, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
        let rel = relative(path);
        let mut rel = rel.into_os_string();
        if path.as_os_str().as_bytes().ends_with(b"/") && rel != "." {
            rel.push("/");
        }
        if self.resolver == Resolver::Kernel
            && !NO_OPENAT2.load(Ordering::Relaxed)
            && rel.len() < libc::PATH_MAX as usize
        {
            match openat2(self.root, &rel, flags, mode) {
                Ok(fd) => return Ok(fd),
                Err(Some(e)) => return Err(e),
                Err(None) => NO_OPENAT2.store(true, Ordering::Relaxed),
            }
        }
        walk::open(self.root, Path::new(&rel), flags, mode)
    }

    /// An O_PATH descriptor of what `path` names inside the root (symlinks followed inside).
    pub fn resolve(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open(path, libc::O_PATH, 0)
    }

    /// An O_PATH descriptor of the directory `path` inside the root (ENOTDIR otherwise).
    pub fn resolve_dir(&self, path: &Path) -> io::Result<OwnedFd> {
        self.open(path, libc::O_PATH | libc::O_DIRECTORY, 0)
    }

    /// Opens `path` inside the root for reading if it is a regular file (symlinks followed
    /// inside the root); a FIFO, device, socket or directory is InvalidInput, never opened.
    pub fn open_regular(&self, path: &Path) -> io::Result<File> {
        let fd = self.resolve(path)?;
        regular::reopen_regular(fd.as_fd())
    }

    /// `mkdir -p` inside the root: the directory `path` (O_PATH), missing components created
    /// with `mode` (less the umask). A symlink on the way is followed inside the root; a
    /// dangling one is ENOENT (an unpacked layer must not make what its links point at).
    /// ENOTDIR if `path` is not a directory.
    pub fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<OwnedFd> {
        self.create(path, Kind::Dir, mode, None)?;
        self.resolve_dir(path)
    }

    /// An O_PATH descriptor of `path` inside the root, creating missing directories (mode
    /// 0755) and, for `Kind::File`, an empty last component (mode 0644). Whatever already
    /// exists at `path` is returned as it is, of any type.
    pub fn ensure(&self, path: &Path, kind: Kind) -> io::Result<OwnedFd> {
        self.create(path, kind, 0o755, Some(0))
    }

    /// `depth`: None leaves dangling symlinks alone; Some(n) creates their targets (n
    /// targets followed so far).
    fn create(
        &self,
        path: &Path,
        kind: Kind,
        dir_mode: u32,
        depth: Option<u32>,
    ) -> io::Result<OwnedFd> {
        if depth.is_some_and(|d| d > walk::MAX_SYMLINKS) {
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        match self.resolve(path) {
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
            match self.resolve(&cur) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            let Component::Normal(name) = comp else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: a path component vanished", cur.display()),
                ));
            };
            let pfd = self.resolve_dir(&parent)?;
            let last = i + 1 == comps.len();
            let made = if last && kind == Kind::File {
                sys::openat(
                    pfd.as_fd(),
                    name,
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
                    0o644,
                )
                .map(drop)
            } else {
                sys::mkdir_at(pfd.as_fd(), name, dir_mode)
            };
            match made {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // A symlink to something missing: create its target, inside the root.
                    match sys::readlink_at(pfd.as_fd(), name) {
                        Ok(target) if depth.is_some() => {
                            let base = if target.as_bytes().starts_with(b"/") {
                                PathBuf::new()
                            } else {
                                parent.clone()
                            };
                            let mut next = clamp(&base.join(&target));
                            for rest in &comps[i + 1..] {
                                next.push(rest);
                            }
                            let depth = depth.map(|d| d + 1);
                            return self.create(&clamp(&next), kind, dir_mode, depth);
                        }
                        // Made by someone else meanwhile (or a dangling link left alone).
                        _ => continue,
                    }
                }
                Err(e) => return Err(e),
            }
        }
        self.resolve(path).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "{} exists but cannot be resolved inside the root ({e})",
                    path.display()
                ),
            )
        })
    }

    /// Looks at `path` like lstat: the parent directories resolve inside the root, the last
    /// component is reported as it is (a symlink is not followed).
    pub fn entry(&self, path: &Path) -> io::Result<Entry> {
        let Some((parent, name)) = self.split(path) else {
            // "/", "." or a path ending in "..": a directory, resolved inside the root.
            return match self.resolve_dir(path) {
                Ok(_) => Ok(Entry::Dir),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Entry::Missing),
                Err(e) => Err(e),
            };
        };
        let pfd = match self.resolve_dir(&parent) {
            Ok(fd) => fd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entry::Missing),
            Err(e) => return Err(e),
        };
        let st = match sys::lstat_at(pfd.as_fd(), &name) {
            Ok(st) => st,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Entry::Missing),
            Err(e) => return Err(e),
        };
        Ok(match sys::file_type(&st) {
            libc::S_IFDIR => Entry::Dir,
            libc::S_IFLNK => Entry::Symlink(PathBuf::from(sys::readlink_at(pfd.as_fd(), &name)?)),
            _ => Entry::Other,
        })
    }

    /// The parent (relative to the root) and last name of `path`; None when the path names
    /// a directory by itself ("/", ".", a trailing "..").
    fn split(&self, path: &Path) -> Option<(PathBuf, OsString)> {
        let rel = relative(path);
        match rel.components().next_back() {
            Some(Component::Normal(n)) => {
                let parent = rel.parent().unwrap_or(Path::new("."));
                let parent = if parent.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    parent.to_path_buf()
                };
                Some((parent, n.to_os_string()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
