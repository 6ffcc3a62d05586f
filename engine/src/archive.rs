//! `docker cp`: tar archives of paths inside a container's filesystem, and extraction of
//! archives into it. Every path is resolved inside the container's root (berth-fs's
//! in-root resolver) and every entry is created relative to a directory descriptor with
//! no-follow semantics, so neither the requested path nor an entry of the archive can reach
//! outside the container. Only regular files are ever opened: a FIFO (which would block the
//! daemon for good) or a device node of the container is archived as what it is.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Component, Path, PathBuf};

use berth_api::container::{go_file_mode, PathStat};
use berth_fs::InRoot;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};

use crate::error::{Error, Result};

mod undo;
use undo::Journal;

fn io_err(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::internal(format!("{what} {}: {e}", path.display()))
}

/// Splits a requested container path into (parent directory, final name). "/" has no name.
fn split(path: &str) -> (PathBuf, Option<String>) {
    let p = Path::new(path);
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    match parts.pop() {
        None => (PathBuf::from("/"), None),
        Some(last) => (PathBuf::from("/").join(parts.join("/")), Some(last)),
    }
}

fn stat_at(dir: RawFd, name: &str, follow: bool) -> nix::Result<FileStat> {
    let flags = if follow {
        AtFlags::empty()
    } else {
        AtFlags::AT_SYMLINK_NOFOLLOW
    };
    nix::sys::stat::fstatat(Some(dir), name, flags)
}

fn mtime_text(st: &FileStat) -> String {
    chrono::DateTime::from_timestamp(st.st_mtime, st.st_mtime_nsec as u32)
        .map(|t| t.with_timezone(&chrono::Local).to_rfc3339())
        .unwrap_or_default()
}

/// A path looked up in a container: its parent directory (open) and its name there.
#[derive(Debug)]
pub struct Located {
    parent: OwnedFd,
    name: Option<String>,
    pub stat: FileStat,
    pub display: String,
}

/// Finds `path` in the root `root`. A trailing "/" or "/." follows a final symlink, as
/// with docker; otherwise the link itself is meant.
pub fn locate(root: BorrowedFd<'_>, path: &str) -> Result<Located> {
    let found = locate_entry(root, path)?;
    let follow = path.ends_with('/') || path.ends_with("/.");
    if follow && SFlag::from_bits_truncate(found.stat.st_mode & libc::S_IFMT) != SFlag::S_IFDIR {
        // A path written as a directory names a file: dockerd's answer (a 500) and words,
        // with the path in the container.
        return Err(Error::internal(format!("lstat {path}: not a directory")));
    }
    Ok(found)
}

fn locate_entry(root: BorrowedFd<'_>, path: &str) -> Result<Located> {
    let follow = path.ends_with('/') || path.ends_with("/.");
    let (parent, name) = split(path);
    let not_found = || Error::not_found(format!("Could not find the file {path} in container"));
    let pfd = InRoot::new(root)
        .open(&parent, libc::O_PATH | libc::O_DIRECTORY, 0)
        .map_err(|_| not_found())?;
    let (parent_fd, name) = match name {
        Some(n) => {
            let st = stat_at(pfd.as_raw_fd(), &n, false).map_err(|_| not_found())?;
            if follow && SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) == SFlag::S_IFLNK {
                // Through the link, still inside the root: the object itself, held by an
                // O_PATH descriptor (a FIFO or a device behind the link is not opened).
                let target = InRoot::new(root)
                    .open(&parent.join(&n), libc::O_PATH, 0)
                    .map_err(|_| not_found())?;
                let st = nix::sys::stat::fstat(target.as_raw_fd()).map_err(|_| not_found())?;
                return Ok(Located {
                    parent: target,
                    name: None,
                    stat: st,
                    display: path.to_string(),
                });
            }
            (pfd, Some(n))
        }
        None => (pfd, None),
    };
    let stat = match &name {
        Some(n) => stat_at(parent_fd.as_raw_fd(), n, false).map_err(|_| not_found())?,
        None => nix::sys::stat::fstat(parent_fd.as_raw_fd()).map_err(|_| not_found())?,
    };
    Ok(Located {
        parent: parent_fd,
        name,
        stat,
        display: path.to_string(),
    })
}

impl Located {
    /// The `X-Docker-Container-Path-Stat` of this path.
    pub fn path_stat(&self) -> PathStat {
        let link_target = match (
            &self.name,
            SFlag::from_bits_truncate(self.stat.st_mode & libc::S_IFMT),
        ) {
            (Some(n), SFlag::S_IFLNK) => {
                nix::fcntl::readlinkat(Some(self.parent.as_raw_fd()), n.as_str())
                    .map(|t| t.to_string_lossy().into_owned())
                    .unwrap_or_default()
            }
            _ => String::new(),
        };
        PathStat {
            name: self.name.clone().unwrap_or_else(|| {
                Path::new(&self.display)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "/".into())
            }),
            size: self.stat.st_size,
            mode: go_file_mode(self.stat.st_mode),
            mtime: mtime_text(&self.stat),
            link_target,
        }
    }

    fn is_dir(&self) -> bool {
        SFlag::from_bits_truncate(self.stat.st_mode & libc::S_IFMT) == SFlag::S_IFDIR
    }

    /// Writes a tar of this path to `out`; the top entry is named `top`.
    pub fn write_tar<W: Write>(&self, top: &str, out: W) -> Result<()> {
        let mut b = tar::Builder::new(out);
        b.follow_symlinks(false);
        match &self.name {
            Some(n) => add_entry(&mut b, self.parent.as_raw_fd(), n, Path::new(top))?,
            None if !self.is_dir() => {
                // Reached through a followed link: `parent` is the object itself (O_PATH).
                let shown = Path::new(&self.display);
                match special_kind(&self.stat) {
                    Some(kind) => append_special(&mut b, &self.stat, kind, Path::new(top))?,
                    None => {
                        let f = berth_fs::reopen_regular(self.parent.as_fd())
                            .map_err(|e| io_err("reading", shown, e))?;
                        let mut h = header_for(&self.stat, tar::EntryType::Regular);
                        h.set_size(self.stat.st_size as u64);
                        b.append_data(&mut h, top, f.take(self.stat.st_size as u64))
                            .map_err(|e| io_err("archiving", shown, e))?;
                    }
                }
            }
            None => {
                // The path itself (a directory reached through "/" or a followed link).
                let fd = nix::fcntl::openat(
                    Some(self.parent.as_raw_fd()),
                    ".",
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_err("opening", Path::new(&self.display), e))?;
                // SAFETY: a fresh descriptor.
                let dir = unsafe { OwnedFd::from_raw_fd(fd) };
                add_dir(&mut b, &dir, &self.stat, Path::new(top))?;
            }
        }
        b.finish()
            .map_err(|e| Error::internal(format!("writing the archive: {e}")))?;
        Ok(())
    }
}

/// Buffers writes and hands them to the response body in chunks.
pub struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<bytes::Bytes>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    pub fn new(tx: tokio::sync::mpsc::Sender<bytes::Bytes>) -> ChannelWriter {
        ChannelWriter {
            tx,
            buf: Vec::new(),
        }
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= 64 * 1024 {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buf.is_empty() {
            let chunk = bytes::Bytes::from(std::mem::take(&mut self.buf));
            self.tx.blocking_send(chunk).map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away")
            })?;
        }
        Ok(())
    }
}

/// Writes a tar of everything under the directory `root`, entries named relative to it
/// (`bin/`, `etc/passwd`: what `docker export` writes), without an entry for `root` itself.
pub fn write_tree<W: Write>(root: BorrowedFd<'_>, out: W) -> Result<()> {
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    let top = Path::new("/");
    // `root` may be an O_PATH descriptor: the listing needs one opened for reading.
    let fd = nix::fcntl::openat(
        Some(root.as_raw_fd()),
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err("opening", top, e))?;
    let mut d = nix::dir::Dir::from_fd(fd).map_err(|e| io_err("reading", top, e))?;
    let mut names: Vec<String> = Vec::new();
    for ent in d.iter() {
        let ent = ent.map_err(|e| io_err("reading", top, e))?;
        let n = ent.file_name().to_string_lossy().into_owned();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    names.sort();
    for n in names {
        add_entry(&mut b, d.as_raw_fd(), &n, Path::new(&n))?;
    }
    b.finish()
        .map_err(|e| Error::internal(format!("writing the archive: {e}")))?;
    Ok(())
}

fn header_for(st: &FileStat, kind: tar::EntryType) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(st.st_uid as u64);
    h.set_gid(st.st_gid as u64);
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(0);
    h
}

fn add_entry<W: Write>(
    b: &mut tar::Builder<W>,
    dir: RawFd,
    name: &str,
    as_path: &Path,
) -> Result<()> {
    let st = stat_at(dir, name, false).map_err(|e| io_err("reading", as_path, e))?;
    let fmt = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let tar_err = |e: std::io::Error| io_err("archiving", as_path, e);
    match fmt {
        SFlag::S_IFDIR => {
            let fd = nix::fcntl::openat(
                Some(dir),
                name,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err("opening", as_path, e))?;
            // SAFETY: a fresh descriptor.
            let d = unsafe { OwnedFd::from_raw_fd(fd) };
            add_dir(b, &d, &st, as_path)
        }
        SFlag::S_IFREG => {
            // SAFETY: `dir` is open for the whole call.
            let d = unsafe { BorrowedFd::borrow_raw(dir) };
            // A regular file a moment ago; opened only if it still is one.
            let f = berth_fs::open_regular_at(d, OsStr::new(name))
                .map_err(|e| io_err("opening", as_path, e))?;
            let mut h = header_for(&st, tar::EntryType::Regular);
            h.set_size(st.st_size as u64);
            b.append_data(&mut h, as_path, f.take(st.st_size as u64))
                .map_err(tar_err)
        }
        SFlag::S_IFLNK => {
            let target = nix::fcntl::readlinkat(Some(dir), name)
                .map_err(|e| io_err("reading the link", as_path, e))?;
            let mut h = header_for(&st, tar::EntryType::Symlink);
            b.append_link(&mut h, as_path, Path::new(&target))
                .map_err(tar_err)
        }
        SFlag::S_IFCHR | SFlag::S_IFBLK | SFlag::S_IFIFO => {
            let kind = special_kind(&st).expect("a device or FIFO");
            append_special(b, &st, kind, as_path)
        }
        // Sockets have no place in an archive.
        _ => Ok(()),
    }
}

/// The tar type of a FIFO or device node (None for anything else).
fn special_kind(st: &FileStat) -> Option<tar::EntryType> {
    match SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT) {
        SFlag::S_IFCHR => Some(tar::EntryType::Char),
        SFlag::S_IFBLK => Some(tar::EntryType::Block),
        SFlag::S_IFIFO => Some(tar::EntryType::Fifo),
        _ => None,
    }
}

/// A FIFO or device node: its header only (it is never opened).
fn append_special<W: Write>(
    b: &mut tar::Builder<W>,
    st: &FileStat,
    kind: tar::EntryType,
    as_path: &Path,
) -> Result<()> {
    let tar_err = |e: std::io::Error| io_err("archiving", as_path, e);
    let mut h = header_for(st, kind);
    if kind != tar::EntryType::Fifo {
        h.set_device_major(libc::major(st.st_rdev))
            .map_err(tar_err)?;
        h.set_device_minor(libc::minor(st.st_rdev))
            .map_err(tar_err)?;
    }
    b.append_data(&mut h, as_path, std::io::empty())
        .map_err(tar_err)
}

fn add_dir<W: Write>(
    b: &mut tar::Builder<W>,
    dir: &OwnedFd,
    st: &FileStat,
    as_path: &Path,
) -> Result<()> {
    let mut h = header_for(st, tar::EntryType::Directory);
    // A directory's name ends with a slash, as dockerd writes it (`bin/`).
    let mut named = as_path.as_os_str().to_owned();
    named.push("/");
    b.append_data(&mut h, Path::new(&named), std::io::empty())
        .map_err(|e| io_err("archiving", as_path, e))?;
    let dup = nix::unistd::dup(dir.as_raw_fd()).map_err(|e| io_err("reading", as_path, e))?;
    let mut d = nix::dir::Dir::from_fd(dup).map_err(|e| io_err("reading", as_path, e))?;
    let mut names: Vec<String> = Vec::new();
    for ent in d.iter() {
        let ent = ent.map_err(|e| io_err("reading", as_path, e))?;
        let n = ent.file_name().to_string_lossy().into_owned();
        if n != "." && n != ".." {
            names.push(n);
        }
    }
    names.sort();
    for n in names {
        add_entry(b, dir.as_raw_fd(), &n, &as_path.join(&n))?;
    }
    Ok(())
}

/// Options of an extraction (`PUT /containers/{id}/archive`).
pub struct ExtractOptions {
    pub no_overwrite_dir_non_dir: bool,
    /// Keep the archive's owners; otherwise entries belong to the container's root.
    pub copy_uid_gid: bool,
}

/// Opens directory `rel` below `base`, one component at a time, never following a
/// symlink. With a journal, missing directories are made (and recorded in it); without,
/// only existing ones are opened.
fn open_dirs(base: RawFd, rel: &Path, mut journal: Option<&mut Journal>) -> Result<OwnedFd> {
    let mut cur = nix::unistd::dup(base).map_err(|e| Error::internal(e.to_string()))?;
    // SAFETY: a fresh descriptor.
    let mut cur_owned = unsafe { OwnedFd::from_raw_fd(cur) };
    let mut walked = PathBuf::new();
    for c in rel.components() {
        let Component::Normal(n) = c else { continue };
        walked.push(n);
        if let Some(j) = journal.as_deref_mut() {
            match nix::sys::stat::mkdirat(Some(cur), n, Mode::from_bits_truncate(0o755)) {
                Ok(()) => j.created(&walked, true),
                Err(nix::errno::Errno::EEXIST) => {}
                Err(e) => return Err(io_err("creating", rel, e)),
            }
        }
        let fd = nix::fcntl::openat(
            Some(cur),
            n,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            Error::invalid(format!(
                "cannot extract into {}: {e} (is a path component a symlink or a file?)",
                rel.display()
            ))
        })?;
        // SAFETY: a fresh descriptor.
        cur_owned = unsafe { OwnedFd::from_raw_fd(fd) };
        cur = fd;
    }
    Ok(cur_owned)
}

/// Makes an entry path relative and free of "..", or refuses it.
fn clean_entry(p: &Path) -> Result<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            Component::ParentDir => {
                return Err(Error::invalid(format!(
                    "refusing archive entry {} that points outside the destination",
                    p.display()
                )))
            }
            Component::Prefix(_) => return Err(Error::invalid("invalid archive entry")),
        }
    }
    Ok(out)
}

/// Extracts the tar `input` into directory `dest` of the container whose root is `root`.
pub fn extract<R: Read>(
    root: BorrowedFd<'_>,
    dest: &str,
    input: R,
    opts: &ExtractOptions,
) -> Result<()> {
    let dest_fd = InRoot::new(root)
        .open(Path::new(dest), libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => {
                Error::invalid(format!("extraction point is not a directory: {dest}"))
            }
            _ => Error::not_found(format!("Could not find the file {dest} in container")),
        })?;
    let mut journal = Journal::new();
    match extract_entries(&dest_fd, input, opts, &mut journal) {
        Ok(()) => {
            journal.commit(&dest_fd);
            Ok(())
        }
        Err(mut e) => {
            journal.roll_back(&dest_fd);
            e.message.push_str("; nothing of the archive was kept");
            Err(e)
        }
    }
}

/// Extracts every entry of `input` below `dest_fd`, recording each change in `journal`.
fn extract_entries<R: Read>(
    dest_fd: &OwnedFd,
    input: R,
    opts: &ExtractOptions,
    journal: &mut Journal,
) -> Result<()> {
    let mut ar = tar::Archive::new(input);
    let entries = ar
        .entries()
        .map_err(|e| Error::invalid(format!("reading the archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::invalid(format!("reading the archive: {e}")))?;
        let raw_path = entry
            .path()
            .map_err(|e| Error::invalid(format!("invalid entry name: {e}")))?
            .into_owned();
        let rel = clean_entry(&raw_path)?;
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            continue;
        };
        let parent = open_dirs(
            dest_fd.as_raw_fd(),
            rel.parent().unwrap_or(Path::new("")),
            Some(journal),
        )?;
        let pfd = parent.as_raw_fd();
        let h = entry.header().clone();
        let mode = Mode::from_bits_truncate(h.mode().unwrap_or(0o644) & 0o7777);
        let (uid, gid) = if opts.copy_uid_gid {
            (h.uid().unwrap_or(0) as u32, h.gid().unwrap_or(0) as u32)
        } else {
            (0, 0)
        };
        let existing =
            nix::sys::stat::fstatat(Some(pfd), name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW).ok();
        let existing_is_dir =
            existing.map(|s| SFlag::from_bits_truncate(s.st_mode & libc::S_IFMT) == SFlag::S_IFDIR);
        let kind = h.entry_type();
        if opts.no_overwrite_dir_non_dir {
            match (existing_is_dir, kind.is_dir()) {
                (Some(true), false) => {
                    return Err(Error::invalid(format!(
                        "cannot overwrite directory {} with non-directory",
                        rel.display()
                    )))
                }
                (Some(false), true) => {
                    return Err(Error::invalid(format!(
                        "cannot overwrite non-directory {} with directory",
                        rel.display()
                    )))
                }
                _ => {}
            }
        }
        // What is in the way goes aside (to be put back if the extraction fails).
        let clear_way = |journal: &mut Journal| -> Result<()> {
            match existing_is_dir {
                Some(true) => journal.remove_dir(pfd, &name, &rel),
                Some(false) => journal.move_aside(pfd, &name, &rel),
                None => Ok(()),
            }
        };
        match kind {
            tar::EntryType::Directory => {
                if existing_is_dir != Some(true) {
                    clear_way(journal)?;
                    nix::sys::stat::mkdirat(Some(pfd), name.as_os_str(), mode)
                        .map_err(|e| io_err("creating", &rel, e))?;
                    journal.created(&rel, true);
                }
                nix::sys::stat::fchmodat(
                    Some(pfd),
                    name.as_os_str(),
                    mode,
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .map_err(|e| io_err("setting the mode of", &rel, e))?;
            }
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                clear_way(journal)?;
                let fd = nix::fcntl::openat(
                    Some(pfd),
                    name.as_os_str(),
                    OFlag::O_WRONLY
                        | OFlag::O_CREAT
                        | OFlag::O_EXCL
                        | OFlag::O_NOFOLLOW
                        | OFlag::O_CLOEXEC,
                    mode,
                )
                .map_err(|e| io_err("creating", &rel, e))?;
                journal.created(&rel, false);
                // SAFETY: a fresh descriptor.
                let mut f = unsafe { File::from_raw_fd(fd) };
                std::io::copy(&mut entry, &mut f).map_err(|e| io_err("writing", &rel, e))?;
                nix::sys::stat::fchmod(f.as_raw_fd(), mode)
                    .map_err(|e| io_err("setting the mode of", &rel, e))?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        Error::invalid(format!("symlink {} has no target", rel.display()))
                    })?
                    .into_owned();
                clear_way(journal)?;
                nix::unistd::symlinkat(target.as_os_str(), Some(pfd), name.as_os_str())
                    .map_err(|e| io_err("creating the link", &rel, e))?;
                journal.created(&rel, false);
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name()
                    .ok()
                    .flatten()
                    .ok_or_else(|| {
                        Error::invalid(format!("hard link {} has no target", rel.display()))
                    })?
                    .into_owned();
                let trel = clean_entry(&target)?;
                // The archive names a target that is neither in it nor in the container.
                let missing = || {
                    Error::invalid(format!(
                        "hard link {} points to {}, which is neither earlier in the archive nor in the container",
                        rel.display(),
                        target.display()
                    ))
                };
                let tparent = open_dirs(
                    dest_fd.as_raw_fd(),
                    trel.parent().unwrap_or(Path::new("")),
                    None,
                )
                .map_err(|_| missing())?;
                let tname = trel.file_name().unwrap_or(OsStr::new(""));
                clear_way(journal)?;
                nix::unistd::linkat(
                    Some(tparent.as_raw_fd()),
                    tname,
                    Some(pfd),
                    name.as_os_str(),
                    AtFlags::empty(),
                )
                .map_err(|e| match e {
                    nix::errno::Errno::ENOENT => missing(),
                    e => io_err("creating the hard link", &rel, e),
                })?;
                journal.created(&rel, false);
            }
            tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
                clear_way(journal)?;
                let kind_flag = match kind {
                    tar::EntryType::Char => SFlag::S_IFCHR,
                    tar::EntryType::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                let dev = libc::makedev(
                    h.device_major().ok().flatten().unwrap_or(0),
                    h.device_minor().ok().flatten().unwrap_or(0),
                );
                nix::sys::stat::mknodat(Some(pfd), name.as_os_str(), kind_flag, mode, dev)
                    .map_err(|e| io_err("creating", &rel, e))?;
                journal.created(&rel, false);
            }
            // PAX headers and the like carry no file.
            _ => continue,
        }
        nix::unistd::fchownat(
            Some(pfd),
            name.as_os_str(),
            Some(uid.into()),
            Some(gid.into()),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err("setting the owner of", &rel, e))?;
        if let Ok(mtime) = h.mtime() {
            let t = nix::sys::time::TimeSpec::new(mtime as i64, 0);
            let _ = nix::sys::stat::utimensat(
                Some(pfd),
                name.as_os_str(),
                &t,
                &t,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            );
        }
    }
    Ok(())
}

/// The container path docker reports for the name of an archive's top entry.
pub fn top_name(path: &str) -> String {
    let (_, name) = split(path);
    name.unwrap_or_else(|| ".".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_fs::open_root;

    fn tree() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        std::fs::create_dir_all(root.join("etc/sub")).unwrap();
        std::fs::write(root.join("etc/hostname"), "box\n").unwrap();
        std::fs::write(root.join("etc/sub/a"), "a").unwrap();
        std::fs::write(d.path().join("outside"), "secret").unwrap();
        std::os::unix::fs::symlink("/../../outside", root.join("escape")).unwrap();
        (d, root)
    }

    fn names(bytes: &[u8]) -> Vec<String> {
        let mut ar = tar::Archive::new(bytes);
        ar.entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect()
    }

    #[test]
    fn archives_files_dirs_and_links() {
        let (_d, root) = tree();
        let r = open_root(&root).unwrap();
        let l = locate(r.as_fd(), "/etc/hostname").unwrap();
        assert_eq!(l.path_stat().name, "hostname");
        assert_eq!(l.path_stat().size, 4);
        let mut out = Vec::new();
        l.write_tar("hostname", &mut out).unwrap();
        assert_eq!(names(&out), vec!["hostname"]);
        let mut out = Vec::new();
        locate(r.as_fd(), "/etc")
            .unwrap()
            .write_tar("etc", &mut out)
            .unwrap();
        assert_eq!(
            names(&out),
            // Directories are named with a trailing slash, as dockerd writes them.
            vec!["etc/", "etc/hostname", "etc/sub/", "etc/sub/a"]
        );
        // A file named as a directory.
        let e = locate(r.as_fd(), "/etc/hostname/").unwrap_err();
        assert_eq!(e.message, "lstat /etc/hostname/: not a directory");
        // The link is archived as a link, and following it stays inside the root.
        let l = locate(r.as_fd(), "/escape").unwrap();
        assert_eq!(l.path_stat().link_target, "/../../outside");
        assert!(locate(r.as_fd(), "/escape/").is_err());
        assert!(locate(r.as_fd(), "/../outside").is_err());
        assert_eq!(
            locate(r.as_fd(), "/nope").unwrap_err().kind,
            crate::error::Kind::NotFound
        );
    }

    #[test]
    fn extraction_stays_inside() {
        let (d, root) = tree();
        let r = open_root(&root).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o600);
        b.append_data(&mut h, "new/file", &b"hi"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "lnk", "/etc/hostname").unwrap();
        let data = b.into_inner().unwrap();
        extract(
            r.as_fd(),
            "/",
            &data[..],
            &ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: false,
            },
        )
        .unwrap();
        assert_eq!(std::fs::read(root.join("new/file")).unwrap(), b"hi");
        assert_eq!(
            std::fs::read_link(root.join("lnk")).unwrap(),
            PathBuf::from("/etc/hostname")
        );

        // Writing through the escaping symlink creates nothing outside.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        b.append_data(&mut h, "escape/x", &b"x"[..]).unwrap();
        let data = b.into_inner().unwrap();
        assert!(extract(
            r.as_fd(),
            "/",
            &data[..],
            &ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: false
            }
        )
        .is_err());
        assert!(!d.path().join("x").exists());
        assert_eq!(std::fs::read(d.path().join("outside")).unwrap(), b"secret");

        // Entries with ".." are refused.
        let mut raw = Vec::new();
        {
            let mut h = tar::Header::new_gnu();
            h.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../evil\0\0");
            h.set_size(0);
            h.set_cksum();
            raw.extend_from_slice(h.as_bytes());
            raw.extend_from_slice(&[0u8; 1024]);
        }
        assert!(extract(
            r.as_fd(),
            "/",
            &raw[..],
            &ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: false
            }
        )
        .is_err());
        assert!(extract(
            r.as_fd(),
            "/etc/hostname",
            &data[..],
            &ExtractOptions {
                no_overwrite_dir_non_dir: false,
                copy_uid_gid: false
            }
        )
        .unwrap_err()
        .message
        .contains("not a directory"));
    }

    /// Everything under `dir`, as "path kind content" lines, sorted.
    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in walk(dir) {
            let m = std::fs::symlink_metadata(&e).unwrap();
            let rel = e.strip_prefix(dir).unwrap().display().to_string();
            let what = if m.is_dir() {
                format!("dir {:o}", m.permissions().mode() & 0o7777)
            } else if m.file_type().is_symlink() {
                format!("link {}", std::fs::read_link(&e).unwrap().display())
            } else {
                format!(
                    "file {}",
                    String::from_utf8_lossy(&std::fs::read(&e).unwrap())
                )
            };
            out.push(format!("{rel} {what}"));
        }
        out.sort();
        out
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
        out
    }

    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_failed_extraction_is_taken_back_whole() {
        let (_d, root) = tree();
        std::fs::create_dir(root.join("etc/empty")).unwrap();
        std::fs::set_permissions(
            root.join("etc/empty"),
            std::fs::Permissions::from_mode(0o711),
        )
        .unwrap();
        let before = listing(&root);
        let r = open_root(&root).unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let file = |b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, name, data).unwrap();
        };
        file(&mut b, "hostname", b"replaced\n");
        file(&mut b, "new/deep/file", b"new");
        file(&mut b, "empty", b"no longer a directory");
        file(&mut b, "sub/b", b"b");
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, "sub/linked", "no/such/target")
            .unwrap();
        file(&mut b, "after", b"never reached");
        let data = b.into_inner().unwrap();
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: false,
        };
        let err = extract(r.as_fd(), "/etc", &data[..], &opts).unwrap_err();
        assert_eq!(err.kind, crate::error::Kind::InvalidParameter, "{err}");
        assert!(err.message.contains("no/such/target"), "{err}");
        assert!(
            err.message.contains("nothing of the archive was kept"),
            "{err}"
        );
        assert_eq!(listing(&root), before);
        // Replaced files are gone once an extraction completes.
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "hostname", b"replaced");
        let data = b.into_inner().unwrap();
        extract(r.as_fd(), "/etc", &data[..], &opts).unwrap();
        assert_eq!(
            std::fs::read(root.join("etc/hostname")).unwrap(),
            b"replaced"
        );
        let names: Vec<_> = std::fs::read_dir(root.join("etc"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.starts_with(".berth")), "{names:?}");
    }
}
