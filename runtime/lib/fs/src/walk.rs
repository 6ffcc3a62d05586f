//! The userspace in-root resolver, for kernels without openat2 (and tested on its own): the
//! same rules as `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`, one component at a time.
//!
//! - Every component is looked up with `O_PATH | O_NOFOLLOW` relative to the directory
//!   reached so far, so nothing is ever followed by the kernel behind our back.
//! - A symlink is read from that very descriptor and its target replaces the component:
//!   an absolute target restarts at the root, a relative one at the current directory. At
//!   most 40 symlinks are followed (the kernel's limit), then ELOOP.
//! - `..` goes back along the directories walked through, and stays at the root at the root.
//!   Going back re-walks those names from the root (no descriptor per level is held, so any
//!   depth works); a name that stopped being a directory meanwhile is EAGAIN, and the whole
//!   lookup is retried a few times, as the kernel does on a concurrent rename.
//! - Magic links (`/proc/<pid>/fd/N`, `/proc/<pid>/root`) are read as plain symlink text,
//!   so their "jump" never happens: the same effect as RESOLVE_NO_MAGICLINKS for a root.
//! - The last component is opened with the caller's flags plus `O_NOFOLLOW`, relative to its
//!   parent; if it turned into a symlink in between, the step is done again.
//!
//! Paths are taken as bytes: any name the filesystem can hold works, UTF-8 or not, and the
//! total length is not limited to PATH_MAX (each name is still at most NAME_MAX).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use crate::sys;

/// Symlinks followed in one lookup before ELOOP (the kernel's MAXSYMLINKS).
pub const MAX_SYMLINKS: u32 = 40;

/// The inode number of procfs's top directory.
const PROC_ROOT_INO: libc::ino_t = 1;

/// Whole-lookup retries after a concurrent change (EAGAIN), then EAGAIN is returned.
const RETRIES: u32 = 16;

/// Opens `path` inside `root` like `openat2(root, path, {flags, mode, RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS})` would, without openat2. `flags` are open(2) flags (O_PATH,
/// O_DIRECTORY, O_NOFOLLOW, O_CREAT, O_EXCL, O_RDONLY, ...); O_CLOEXEC is always added.
pub fn open(root: BorrowedFd, path: &Path, flags: i32, mode: u32) -> io::Result<OwnedFd> {
    let mut tries = 0;
    loop {
        match Walk::new(root, flags, mode).and_then(|w| w.run(path.as_os_str().as_bytes())) {
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && tries < RETRIES => tries += 1,
            r => return r,
        }
    }
}

/// Splits a path into its names (empty names and `.` dropped); true when it ends in `/`,
/// which asks for a directory (and follows a final symlink).
fn names(path: &[u8]) -> (VecDeque<OsString>, bool) {
    let todo = path
        .split(|b| *b == b'/')
        .filter(|n| !n.is_empty() && *n != b".")
        .map(|n| OsString::from_vec(n.to_vec()))
        .collect();
    let dir = path.ends_with(b"/")
        || path.ends_with(b"/.")
        || path == b"."
        || path.ends_with(b"/..")
        || path == b"..";
    (todo, dir)
}

fn err(code: i32) -> io::Error {
    io::Error::from_raw_os_error(code)
}

fn is_dir(st: &libc::stat) -> bool {
    sys::file_type(st) == libc::S_IFDIR
}

/// One lookup in progress.
struct Walk<'a> {
    root: BorrowedFd<'a>,
    flags: i32,
    mode: u32,
    /// The names from the root to `cur`, each a directory when it was walked through.
    stack: Vec<OsString>,
    /// The directory reached so far (O_PATH).
    cur: OwnedFd,
    links: u32,
}

impl<'a> Walk<'a> {
    fn new(root: BorrowedFd<'a>, flags: i32, mode: u32) -> io::Result<Walk<'a>> {
        Ok(Walk {
            root,
            flags,
            mode,
            stack: Vec::new(),
            cur: reopen_root(root)?,
            links: 0,
        })
    }

    fn run(mut self, path: &[u8]) -> io::Result<OwnedFd> {
        let (mut todo, mut want_dir) = names(path);
        while let Some(name) = todo.pop_front() {
            let last = todo.is_empty();
            #[cfg(test)]
            hook::call(hook::Step::Lookup(&name));
            if name == ".." {
                if self.stack.pop().is_some() {
                    self.cur = self.rewalk()?;
                }
                continue;
            }
            let nofollow_last = last && !want_dir && self.flags & libc::O_NOFOLLOW != 0;
            let fd = match sys::openat(self.cur.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW, 0)
            {
                Ok(fd) => fd,
                Err(e) if last && e.raw_os_error() == Some(libc::ENOENT) && self.creates() => {
                    match self.open_last(&name) {
                        Ok(fd) => return Ok(fd),
                        Err(e) if self.raced(&e)? => {
                            todo.push_front(name);
                            continue;
                        }
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            };
            let st = sys::fstat(fd.as_fd())?;
            if sys::file_type(&st) == libc::S_IFLNK {
                if nofollow_last {
                    // As open(2): O_PATH|O_NOFOLLOW gives the link itself, else ELOOP.
                    return if self.flags & libc::O_DIRECTORY != 0 {
                        Err(err(libc::ENOTDIR))
                    } else if self.flags & libc::O_PATH != 0 {
                        Ok(fd)
                    } else {
                        Err(err(libc::ELOOP))
                    };
                }
                if last
                    && self.flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL
                {
                    return Err(err(libc::EEXIST));
                }
                self.count_link()?;
                if self.is_magic(fd.as_fd())? {
                    return Err(err(libc::ELOOP));
                }
                let target = sys::readlink_at(fd.as_fd(), OsStr::new(""))?;
                if target.is_empty() {
                    return Err(err(libc::ENOENT));
                }
                if target.as_bytes().starts_with(b"/") {
                    self.stack.clear();
                    self.cur = self.reopen_root()?;
                }
                let (tnames, tdir) = names(target.as_bytes());
                if last && tdir {
                    want_dir = true;
                }
                for n in tnames.into_iter().rev() {
                    todo.push_front(n);
                }
                continue;
            }
            if !last {
                if !is_dir(&st) {
                    return Err(err(libc::ENOTDIR));
                }
                self.stack.push(name);
                self.cur = fd;
                continue;
            }
            if (want_dir || self.flags & libc::O_DIRECTORY != 0) && !is_dir(&st) {
                return Err(err(libc::ENOTDIR));
            }
            if self.flags & (libc::O_CREAT | libc::O_EXCL) == libc::O_CREAT | libc::O_EXCL {
                return Err(err(libc::EEXIST));
            }
            if self.flags & libc::O_PATH != 0 {
                return Ok(fd);
            }
            match self.open_last(&name) {
                Ok(fd) => return Ok(fd),
                Err(e) if self.raced(&e)? => todo.push_front(name),
                Err(e) => return Err(e),
            }
        }
        // The path ended on a directory reached by name, `..`, `.` or a symlink to one.
        sys::openat(self.cur.as_fd(), OsStr::new("."), self.flags, self.mode)
    }

    /// O_CREAT asked for.
    fn creates(&self) -> bool {
        self.flags & libc::O_CREAT != 0
    }

    /// Whether the symlink `link` (in the current directory) is one of procfs's magic
    /// links (`/proc/<pid>/fd/N`, `cwd`, `root`, `exe`, `ns/*`, ...), refused as with
    /// RESOLVE_NO_MAGICLINKS. procfs's plain symlinks (`self`, `thread-self`, `mounts`,
    /// `net`) are all in its top directory; every symlink deeper in procfs is magic.
    fn is_magic(&self, link: BorrowedFd) -> io::Result<bool> {
        if sys::fs_type(link)? != libc::PROC_SUPER_MAGIC {
            return Ok(false);
        }
        let parent = sys::fstat(self.cur.as_fd())?;
        Ok(parent.st_ino != PROC_ROOT_INO)
    }

    /// Opens the last name with the caller's flags, never following a symlink there.
    fn open_last(&self, name: &OsStr) -> io::Result<OwnedFd> {
        #[cfg(test)]
        hook::call(hook::Step::OpenLast(name));
        sys::openat(
            self.cur.as_fd(),
            name,
            self.flags | libc::O_NOFOLLOW,
            self.mode,
        )
    }

    /// Whether opening the last name failed because it became a symlink since it was looked
    /// at (ELOOP, or ENOTDIR with O_DIRECTORY): then the step is done again, counted as a
    /// followed link so that a tree changing for ever ends in ELOOP.
    fn raced(&mut self, e: &io::Error) -> io::Result<bool> {
        match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) | Some(libc::EEXIST) => {
                self.count_link()?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn count_link(&mut self) -> io::Result<()> {
        self.links += 1;
        if self.links > MAX_SYMLINKS {
            return Err(err(libc::ELOOP));
        }
        Ok(())
    }

    fn reopen_root(&self) -> io::Result<OwnedFd> {
        reopen_root(self.root)
    }

    /// The directory named by `stack`, walked again from the root without following
    /// anything; EAGAIN when one of the names is no longer a directory.
    fn rewalk(&self) -> io::Result<OwnedFd> {
        let mut cur = self.reopen_root()?;
        for name in &self.stack {
            cur = sys::openat(
                cur.as_fd(),
                name,
                libc::O_PATH | libc::O_NOFOLLOW | libc::O_DIRECTORY,
                0,
            )
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOENT) | Some(libc::ENOTDIR) | Some(libc::ELOOP) => err(libc::EAGAIN),
                _ => e,
            })?;
        }
        Ok(cur)
    }
}

/// A descriptor of the root directory itself, to walk from.
fn reopen_root(root: BorrowedFd) -> io::Result<OwnedFd> {
    sys::openat(root, OsStr::new("."), libc::O_PATH | libc::O_DIRECTORY, 0)
}

/// A test hook called at each step of a walk, so tests can change the tree at an exact
/// point of a lookup (a symlink swapped mid-walk) without racing threads.
#[cfg(test)]
pub(crate) mod hook {
    use std::cell::RefCell;
    use std::ffi::OsStr;

    /// Where the walk is.
    pub enum Step<'n> {
        /// About to look up this name (or go back for `..`).
        Lookup(&'n OsStr),
        /// Looked at this last name (not a symlink) and about to open it.
        OpenLast(&'n OsStr),
    }

    type Hook = Box<dyn FnMut(&Step)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = const { RefCell::new(None) };
    }

    /// Sets the hook of this thread (None removes it).
    pub fn set(h: Option<Hook>) {
        HOOK.with(|c| *c.borrow_mut() = h);
    }

    pub(super) fn call(step: Step) {
        HOOK.with(|c| {
            if let Some(h) = c.borrow_mut().as_mut() {
                h(&step)
            }
        });
    }
}
