//! Applying a layer (a tar, plain, gzip or zstd) to a directory, safely.
//!
//! - Every path is resolved inside the target root (see `fsutil`): `..` in an entry's
//!   path or hard-link target is refused; absolute paths and symlinks (even ones the same
//!   layer planted, even symlinked parent directories) resolve inside the root.
//! - The last component is never followed: an existing symlink there is replaced, not
//!   written through.
//! - Sparse files (every GNU format, see `tarstream`) are written with their holes left
//!   as holes: a file costs what it holds, whatever its apparent size.
//! - FIFOs are made with mknod (never opened); device nodes too where shimd may make them,
//!   skipped with a warning where it may not. Overlay xattrs in the tar are refused.
//! - The uncompressed stream is bounded (see `limits`): a decompression bomb stops early.
//! - Whiteouts (`.wh.<name>`) and opaque markers (`.wh..wh..opq`) are applied in one of two
//!   ways: as overlayfs expects them in an upper directory (0/0 character devices and the
//!   `trusted.overlay.opaque` xattr), or by deleting from a full copy ("native").

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::compression::{decompress, Compression};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;
use crate::limits::{self, Budget};
use crate::tarstream::{self, SparseMap, TarReader};

pub const WHITEOUT_PREFIX: &str = ".wh.";
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
pub const OVERLAY_OPAQUE_XATTR: &str = "trusted.overlay.opaque";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhiteoutMode {
    /// The target is an overlayfs upper directory: record whiteouts for the kernel.
    Overlay,
    /// The target is a full copy of the parent: delete what the layer whites out.
    Delete,
}

/// What to do with the character and block devices of a layer (dockerd makes them; the
/// device policy of a container decides whether it may use them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceNodes {
    /// Make them with mknod (needs CAP_MKNOD: shimd running as root).
    Create,
    /// Leave them out, with a warning (without the privilege to make them).
    Skip,
}

impl DeviceNodes {
    /// `Create` for root, `Skip` otherwise.
    pub fn for_this_process() -> DeviceNodes {
        if nix::unistd::geteuid().is_root() {
            DeviceNodes::Create
        } else {
            DeviceNodes::Skip
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    pub devices: DeviceNodes,
}

/// What was applied.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The digest of the uncompressed tar (the layer's diff ID).
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub compression: Compression,
}

/// Applies the layer read from `r` (`compressed_size` bytes, as its descriptor says) to
/// `root`, its uncompressed bytes counted against `budget`. On error `root` may hold part
/// of the layer; callers apply into a fresh snapshot and discard it on failure.
pub fn apply_layer(
    r: impl Read,
    root: &Path,
    opts: ApplyOptions,
    budget: &Arc<Budget>,
    compressed_size: u64,
) -> Result<Applied> {
    apply(r, root, opts, budget, compressed_size).map_err(limit_error)
}

fn apply(
    r: impl Read,
    root: &Path,
    opts: ApplyOptions,
    budget: &Arc<Budget>,
    compressed_size: u64,
) -> Result<Applied> {
    let (compression, dec) = decompress(r)?;
    let hashing = HashingReader::new(budget.limit(dec, compressed_size));
    let mut tar = TarReader::new(hashing);
    let root_fd = berth_fs::open_root(root).ctx(|| format!("opening {}", root.display()))?;
    let mut a = Applier {
        root: root_fd,
        opts,
        written: HashSet::new(),
        dirs: Vec::new(),
        buf: vec![0u8; 1 << 16],
    };
    while let Some(e) = tar.next_entry()? {
        a.entry(&e, &mut tar.data())?;
    }
    a.finish_dirs()?;
    let (diff_id, n) = tar
        .into_inner()
        .finish()
        .ctx(|| "reading the end of the layer")?;
    Ok(Applied {
        diff_id,
        uncompressed_size: n,
        compression,
    })
}

/// An io error that is a bound going over becomes `Error::TooLarge`.
fn limit_error(e: Error) -> Error {
    match &e {
        Error::Io { source, .. } => match limits::exceeded(source) {
            Some(x) => Error::TooLarge(x.clone()),
            None => e,
        },
        _ => e,
    }
}

struct Applier {
    root: OwnedFd,
    opts: ApplyOptions,
    /// Paths this layer wrote (an opaque marker keeps them).
    written: HashSet<PathBuf>,
    /// Directories whose owner, mode and times are set last (children change mtimes).
    dirs: Vec<(Vec<OsString>, Attrs)>,
    /// Copy buffer for file data.
    buf: Vec<u8>,
}

/// Owner, permissions and mtime of an entry.
#[derive(Clone, Copy, Debug)]
struct Attrs {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: i64,
}

impl Attrs {
    fn of(e: &tarstream::Entry) -> Attrs {
        Attrs {
            uid: e.uid as u32,
            gid: e.gid as u32,
            mode: e.mode & 0o7777,
            mtime: e.mtime.min(i64::MAX as u64) as i64,
        }
    }
}

fn unsafe_entry(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Unsafe(format!("entry {}: {why}", path.display()))
}

impl Applier {
    /// Lookups inside the layer's root, never leaving it.
    fn in_root(&self) -> berth_fs::InRoot<'_> {
        berth_fs::InRoot::new(self.root.as_fd())
    }

    fn entry(&mut self, e: &tarstream::Entry, data: &mut impl Read) -> Result<()> {
        let raw_path = PathBuf::from(OsStr::from_bytes(&e.path));
        let comps = fsutil::clean_components(&raw_path).map_err(|w| unsafe_entry(&raw_path, w))?;
        let Some((name, parent)) = comps.split_last() else {
            return Ok(()); // "./": the root itself keeps its attributes
        };
        let name_s = name.to_string_lossy();
        if name_s == OPAQUE_MARKER {
            return self.opaque(parent, &raw_path);
        }
        if let Some(target) = name_s.strip_prefix(WHITEOUT_PREFIX) {
            return self.whiteout(parent, OsStr::new(target), &raw_path);
        }
        let kind = e.kind;
        use tar::EntryType as T;
        if matches!(kind, T::Char | T::Block) && self.opts.devices == DeviceNodes::Skip {
            tracing::warn!(entry = %raw_path.display(),
                "leaving out a device node of the layer: making one needs root");
            return Ok(());
        }
        let pdir = self
            .in_root()
            .mkdir_all(&fsutil::join(parent), 0o755)
            .ctx(|| format!("creating the parent of {}", raw_path.display()))?;
        let p = pdir.as_fd();
        let attrs = Attrs::of(e);
        let xattrs = xattrs(e, &raw_path)?;
        let ctx = || format!("extracting {}", raw_path.display());
        match kind {
            T::Directory => {
                match fsutil::lstat_at(p, name).ctx(ctx)? {
                    Some(st) if fsutil::is_dir(&st) => {}
                    Some(_) => {
                        fsutil::remove_all_at(p, name).ctx(ctx)?;
                        nix::sys::stat::mkdirat(
                            Some(p.as_fd_raw()),
                            name.as_os_str(),
                            Mode::from_bits_truncate(0o700),
                        )
                        .ctx(ctx)?;
                    }
                    None => nix::sys::stat::mkdirat(
                        Some(p.as_fd_raw()),
                        name.as_os_str(),
                        Mode::from_bits_truncate(0o700),
                    )
                    .ctx(ctx)?,
                }
                let d = open_at(p, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY).ctx(ctx)?;
                set_fd_xattrs(d.as_fd(), &xattrs).ctx(ctx)?;
                self.dirs.push((comps.clone(), attrs));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                let f =
                    open_at(p, name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL).ctx(ctx)?;
                let mut file = std::fs::File::from(f);
                match &e.sparse {
                    Some(map) => write_sparse(&mut file, data, map, &mut self.buf).ctx(ctx)?,
                    None => copy_exact(data, &mut file, e.size, &mut self.buf).ctx(ctx)?,
                }
                let fd = file.as_fd();
                nix::unistd::fchown(fd.as_fd_raw(), Some(uid(&attrs)), Some(gid(&attrs)))
                    .ctx(ctx)?;
                nix::sys::stat::fchmod(fd.as_fd_raw(), Mode::from_bits_truncate(attrs.mode))
                    .ctx(ctx)?;
                set_fd_xattrs(fd, &xattrs).ctx(ctx)?;
                set_times(p, name, attrs.mtime).ctx(ctx)?;
            }
            T::Symlink => {
                let target = e
                    .link
                    .as_deref()
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| unsafe_entry(&raw_path, "symlink without a target"))?;
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                nix::unistd::symlinkat(
                    OsStr::from_bytes(target),
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                )
                .ctx(ctx)?;
                chown_nofollow(p, name, &attrs).ctx(ctx)?;
                for (k, v) in &xattrs {
                    fsutil::lsetxattr_at(p, name, k, v).ctx(ctx)?;
                }
                set_times(p, name, attrs.mtime).ctx(ctx)?;
            }
            T::Link => {
                let target = Path::new(OsStr::from_bytes(
                    e.link
                        .as_deref()
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| unsafe_entry(&raw_path, "hard link without a target"))?,
                ));
                let tcomps = fsutil::clean_components(target)
                    .map_err(|w| unsafe_entry(&raw_path, format!("hard link target {w}")))?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(unsafe_entry(&raw_path, "hard link to the root"));
                };
                let tdir = self
                    .in_root()
                    .resolve_dir(&fsutil::join(tparent))
                    .map_err(|err| {
                        unsafe_entry(
                            &raw_path,
                            format!("hard link target {} not found: {err}", target.display()),
                        )
                    })?;
                match fsutil::lstat_at(tdir.as_fd(), tname).ctx(ctx)? {
                    None => {
                        return Err(unsafe_entry(
                            &raw_path,
                            format!(
                                "hard link target {} not found in the layer",
                                target.display()
                            ),
                        ))
                    }
                    Some(st) if fsutil::is_dir(&st) => {
                        return Err(unsafe_entry(
                            &raw_path,
                            format!("hard link to directory {}", target.display()),
                        ))
                    }
                    _ => {}
                }
                if tparent == parent && tname == name {
                    return Ok(());
                }
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                nix::unistd::linkat(
                    Some(tdir.as_fd().as_fd_raw()),
                    tname.as_os_str(),
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    nix::fcntl::AtFlags::empty(),
                )
                .ctx(ctx)?;
            }
            T::Char | T::Block | T::Fifo => {
                let (kind_flag, dev) = match kind {
                    T::Fifo => (SFlag::S_IFIFO, 0),
                    _ => {
                        // Blank device numbers are 0 (as docker's reader takes them).
                        let (raw_major, raw_minor) = match e.header.as_ustar() {
                            Some(u) => (&u.dev_major[..], &u.dev_minor[..]),
                            None => match e.header.as_gnu() {
                                Some(g) => (&g.dev_major[..], &g.dev_minor[..]),
                                None => (&[][..], &[][..]),
                            },
                        };
                        let num =
                            |raw: &[u8], v: fn(&tar::Header) -> std::io::Result<Option<u32>>| {
                                tarstream::lenient(raw, || v(&e.header).map(|n| n.unwrap_or(0)))
                                    .map_err(|err| {
                                        Error::InvalidArgument(format!(
                                            "entry {}: invalid device number: {err}",
                                            raw_path.display()
                                        ))
                                    })
                            };
                        let flag = if kind == T::Char {
                            SFlag::S_IFCHR
                        } else {
                            SFlag::S_IFBLK
                        };
                        let dev = nix::sys::stat::makedev(
                            num(raw_major, tar::Header::device_major)?,
                            num(raw_minor, tar::Header::device_minor)?,
                        );
                        (flag, dev)
                    }
                };
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                // Made by name in the directory resolved inside the root; never opened.
                nix::sys::stat::mknodat(
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    kind_flag,
                    Mode::from_bits_truncate(attrs.mode),
                    dev,
                )
                .ctx(ctx)?;
                chown_nofollow(p, name, &attrs).ctx(ctx)?;
                // chown clears set-id bits; the mode is set by name (no open).
                nix::sys::stat::fchmodat(
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    Mode::from_bits_truncate(attrs.mode),
                    nix::sys::stat::FchmodatFlags::FollowSymlink,
                )
                .ctx(ctx)?;
                set_times(p, name, attrs.mtime).ctx(ctx)?;
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "entry {}: unsupported tar entry type {other:?}",
                    raw_path.display()
                )))
            }
        }
        if self.opts.whiteouts == WhiteoutMode::Delete {
            self.written.insert(fsutil::join(&comps));
        }
        Ok(())
    }

    /// `.wh.<name>`: the lower layers' `name` is gone.
    fn whiteout(&mut self, parent: &[OsString], target: &OsStr, raw: &Path) -> Result<()> {
        let t = target.as_bytes();
        if t.is_empty() || t == b"." || t == b".." || t.contains(&b'/') {
            return Err(unsafe_entry(raw, "invalid whiteout"));
        }
        let ctx = || format!("applying whiteout {}", raw.display());
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let pdir = self
                    .in_root()
                    .mkdir_all(&fsutil::join(parent), 0o755)
                    .ctx(ctx)?;
                fsutil::remove_all_at(pdir.as_fd(), target).ctx(ctx)?;
                nix::sys::stat::mknodat(
                    Some(pdir.as_fd().as_fd_raw()),
                    target,
                    SFlag::S_IFCHR,
                    Mode::empty(),
                    nix::sys::stat::makedev(0, 0),
                )
                .ctx(ctx)?;
            }
            WhiteoutMode::Delete => match self.in_root().resolve_dir(&fsutil::join(parent)) {
                Ok(pdir) => fsutil::remove_all_at(pdir.as_fd(), target).ctx(ctx)?,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                Err(e) => return Err(Error::io(ctx(), e)),
            },
        }
        Ok(())
    }

    /// `.wh..wh..opq`: the directory hides everything the lower layers had in it.
    fn opaque(&mut self, parent: &[OsString], raw: &Path) -> Result<()> {
        let ctx = || format!("applying opaque marker {}", raw.display());
        let pdir = self
            .in_root()
            .mkdir_all(&fsutil::join(parent), 0o755)
            .ctx(ctx)?;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let d = open_at(
                    pdir.as_fd(),
                    OsStr::new("."),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                )
                .ctx(ctx)?;
                fsutil::fsetxattr(d.as_fd(), OVERLAY_OPAQUE_XATTR, b"y").ctx(ctx)?;
            }
            WhiteoutMode::Delete => {
                let base = fsutil::join(parent);
                let written = &self.written;
                fsutil::empty_dir(pdir.as_fd(), |n| !written.contains(&base.join(n))).ctx(ctx)?;
            }
        }
        Ok(())
    }

    fn finish_dirs(&mut self) -> Result<()> {
        for (comps, attrs) in self.dirs.iter().rev() {
            let path = fsutil::join(comps);
            let ctx = || format!("setting attributes of {}", path.display());
            let Some((name, parent)) = comps.split_last() else {
                continue;
            };
            let pdir = match self.in_root().resolve_dir(&fsutil::join(parent)) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(Error::io(ctx(), e)),
            };
            let p = pdir.as_fd();
            match fsutil::lstat_at(p, name).ctx(ctx)? {
                Some(st) if fsutil::is_dir(&st) => {}
                _ => continue, // replaced or removed by a later entry
            }
            chown_nofollow(p, name, attrs).ctx(ctx)?;
            nix::sys::stat::fchmodat(
                Some(p.as_fd_raw()),
                name.as_os_str(),
                Mode::from_bits_truncate(attrs.mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx(ctx)?;
            set_times(p, name, attrs.mtime).ctx(ctx)?;
        }
        Ok(())
    }
}

/// nix 0.29 takes raw fds in some *at calls.
trait RawFdOf {
    fn as_fd_raw(&self) -> std::os::fd::RawFd;
}

impl RawFdOf for BorrowedFd<'_> {
    fn as_fd_raw(&self) -> std::os::fd::RawFd {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

fn open_at(dir: BorrowedFd<'_>, name: &OsStr, flags: OFlag) -> std::io::Result<OwnedFd> {
    let fd = nix::fcntl::openat(
        Some(dir.as_fd_raw()),
        name,
        flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(0o600),
    )?;
    // SAFETY: `openat` succeeded, so `fd` is a new open descriptor that nothing else owns
    // or closes; the OwnedFd becomes its only owner.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_fd_xattrs(fd: BorrowedFd<'_>, xattrs: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    for (k, v) in xattrs {
        match fsutil::fsetxattr(fd, k, v) {
            Ok(()) => {}
            // A filesystem without xattr support (or SELinux labels on a host without it)
            // is not the layer's fault.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_times(dir: BorrowedFd<'_>, name: &OsStr, mtime: i64) -> std::io::Result<()> {
    let t = TimeSpec::new(mtime, 0);
    nix::sys::stat::utimensat(
        Some(dir.as_fd_raw()),
        name,
        &t,
        &t,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

fn uid(a: &Attrs) -> nix::unistd::Uid {
    nix::unistd::Uid::from_raw(a.uid)
}

fn gid(a: &Attrs) -> nix::unistd::Gid {
    nix::unistd::Gid::from_raw(a.gid)
}

fn chown_nofollow(dir: BorrowedFd<'_>, name: &OsStr, a: &Attrs) -> std::io::Result<()> {
    nix::unistd::fchownat(
        Some(dir.as_fd_raw()),
        name,
        Some(uid(a)),
        Some(gid(a)),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

/// xattrs from PAX records (`SCHILY.xattr.*`). Overlay's own are refused: a layer must
/// not forge whiteouts or redirects.
fn xattrs(e: &tarstream::Entry, raw: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    for (name, _) in &e.xattrs {
        if name.starts_with("trusted.overlay.") {
            return Err(unsafe_entry(raw, format!("forbidden xattr {name}")));
        }
    }
    Ok(e.xattrs.clone())
}

/// Copies exactly `len` bytes of `r` to `w`.
fn copy_exact(
    r: &mut impl Read,
    w: &mut impl Write,
    mut len: u64,
    buf: &mut [u8],
) -> std::io::Result<()> {
    while len > 0 {
        let want = buf.len().min(len.min(usize::MAX as u64) as usize);
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the layer ends in the middle of a file",
            ));
        }
        w.write_all(&buf[..n])?;
        len -= n as u64;
    }
    Ok(())
}

/// Writes the chunks of a sparse file where they belong and leaves the rest a hole (a
/// seek, never written zeros), then gives the file its apparent size.
fn write_sparse(
    f: &mut std::fs::File,
    r: &mut impl Read,
    map: &SparseMap,
    buf: &mut [u8],
) -> std::io::Result<()> {
    for c in map.chunks.iter().filter(|c| c.len > 0) {
        f.seek(SeekFrom::Start(c.offset))?;
        copy_exact(r, f, c.len, buf)?;
    }
    f.set_len(map.size)
}
