//! Applying a layer (a tar, plain, gzip or zstd) to a directory, safely.
//!
//! - Every path is resolved inside the target root (see `fsutil`): `..` in an entry's
//!   path or hard-link target is refused; absolute paths and symlinks (even ones the same
//!   layer planted, even symlinked parent directories) resolve inside the root.
//! - The last component is never followed: an existing symlink there is replaced, not
//!   written through.
//! - Device nodes are refused unless allowed; overlay xattrs in the tar are refused.
//! - Whiteouts (`.wh.<name>`) and opaque markers (`.wh..wh..opq`) are applied in one of two
//!   ways: as overlayfs expects them in an upper directory (0/0 character devices and the
//!   `trusted.overlay.opaque` xattr), or by deleting from a full copy ("native").

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;

use crate::compression::{decompress, Compression};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, IoContext, Result};
use crate::fsutil;

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

#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    pub whiteouts: WhiteoutMode,
    /// Create character and block devices found in the layer.
    pub allow_devices: bool,
}

/// What was applied.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The digest of the uncompressed tar (the layer's diff ID).
    pub diff_id: Digest,
    pub uncompressed_size: u64,
    pub compression: Compression,
}

/// Applies the layer read from `r` to `root`. On error `root` may hold part of the layer;
/// callers apply into a fresh snapshot and discard it on failure.
pub fn apply_layer(r: impl Read, root: &Path, opts: ApplyOptions) -> Result<Applied> {
    let (compression, dec) = decompress(r)?;
    let hashing = HashingReader::new(dec);
    let mut ar = tar::Archive::new(hashing);
    ar.set_ignore_zeros(false);
    let root_fd = fsutil::open_dir(root).ctx(|| format!("opening {}", root.display()))?;
    let mut a = Applier {
        root: root_fd,
        opts,
        written: HashSet::new(),
        dirs: Vec::new(),
    };
    for entry in ar.entries().ctx(|| "reading layer tar")? {
        let mut entry = entry.ctx(|| "reading layer tar")?;
        a.entry(&mut entry)?;
    }
    a.finish_dirs()?;
    let (diff_id, n) = ar
        .into_inner()
        .finish()
        .ctx(|| "reading the end of the layer")?;
    Ok(Applied {
        diff_id,
        uncompressed_size: n,
        compression,
    })
}

struct Applier {
    root: OwnedFd,
    opts: ApplyOptions,
    /// Paths this layer wrote (an opaque marker keeps them).
    written: HashSet<PathBuf>,
    /// Directories whose owner, mode and times are set last (children change mtimes).
    dirs: Vec<(Vec<OsString>, tar::Header)>,
}

fn unsafe_entry(path: &Path, why: impl std::fmt::Display) -> Error {
    Error::Unsafe(format!("entry {}: {why}", path.display()))
}

impl Applier {
    fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    fn entry<R: Read>(&mut self, e: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw_path = e.path().ctx(|| "reading an entry path")?.into_owned();
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
        let kind = e.header().entry_type();
        if kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            return Ok(());
        }
        let pdir = fsutil::mkdir_all_in_root(self.root(), parent, 0o755)
            .ctx(|| format!("creating the parent of {}", raw_path.display()))?;
        let p = pdir.as_fd();
        let hdr = e.header().clone();
        let mode = hdr.mode().ctx(|| "reading mode")? & 0o7777;
        let xattrs = self.xattrs(e, &raw_path)?;
        let ctx = || format!("extracting {}", raw_path.display());
        use tar::EntryType as T;
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
                self.dirs.push((comps.clone(), hdr));
            }
            T::Regular | T::Continuous | T::GNUSparse => {
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                let f =
                    open_at(p, name, OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL).ctx(ctx)?;
                let mut file = std::fs::File::from(f);
                std::io::copy(e, &mut file).ctx(ctx)?;
                let fd = file.as_fd();
                nix::unistd::fchown(fd.as_fd_raw(), Some(uid(&hdr)?), Some(gid(&hdr)?)).ctx(ctx)?;
                nix::sys::stat::fchmod(fd.as_fd_raw(), Mode::from_bits_truncate(mode)).ctx(ctx)?;
                set_fd_xattrs(fd, &xattrs).ctx(ctx)?;
                set_times(p, name, &hdr).ctx(ctx)?;
            }
            T::Symlink => {
                let target = e
                    .link_name()
                    .ctx(ctx)?
                    .ok_or_else(|| unsafe_entry(&raw_path, "symlink without a target"))?;
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                nix::unistd::symlinkat(target.as_ref(), Some(p.as_fd_raw()), name.as_os_str())
                    .ctx(ctx)?;
                nix::unistd::fchownat(
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    Some(uid(&hdr)?),
                    Some(gid(&hdr)?),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .ctx(ctx)?;
                for (k, v) in &xattrs {
                    fsutil::lsetxattr_at(p, name, k, v).ctx(ctx)?;
                }
                set_times(p, name, &hdr).ctx(ctx)?;
            }
            T::Link => {
                let target = e
                    .link_name()
                    .ctx(ctx)?
                    .ok_or_else(|| unsafe_entry(&raw_path, "hard link without a target"))?;
                let tcomps = fsutil::clean_components(&target)
                    .map_err(|w| unsafe_entry(&raw_path, format!("hard link target {w}")))?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(unsafe_entry(&raw_path, "hard link to the root"));
                };
                let tdir = fsutil::openat2_in_root(
                    self.root(),
                    &fsutil::join(tparent),
                    OFlag::O_PATH | OFlag::O_DIRECTORY,
                    0,
                )
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
                let kind_flag = match kind {
                    T::Char => SFlag::S_IFCHR,
                    T::Block => SFlag::S_IFBLK,
                    _ => SFlag::S_IFIFO,
                };
                if kind_flag != SFlag::S_IFIFO && !self.opts.allow_devices {
                    return Err(unsafe_entry(
                        &raw_path,
                        "device nodes are not allowed in layers",
                    ));
                }
                let dev = nix::sys::stat::makedev(
                    hdr.device_major().ctx(ctx)?.unwrap_or(0) as u64,
                    hdr.device_minor().ctx(ctx)?.unwrap_or(0) as u64,
                );
                fsutil::remove_all_at(p, name).ctx(ctx)?;
                nix::sys::stat::mknodat(
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    kind_flag,
                    Mode::from_bits_truncate(mode),
                    dev,
                )
                .ctx(ctx)?;
                nix::unistd::fchownat(
                    Some(p.as_fd_raw()),
                    name.as_os_str(),
                    Some(uid(&hdr)?),
                    Some(gid(&hdr)?),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .ctx(ctx)?;
                set_times(p, name, &hdr).ctx(ctx)?;
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
                let pdir = fsutil::mkdir_all_in_root(self.root(), parent, 0o755).ctx(ctx)?;
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
            WhiteoutMode::Delete => {
                match fsutil::openat2_in_root(
                    self.root(),
                    &fsutil::join(parent),
                    OFlag::O_PATH | OFlag::O_DIRECTORY,
                    0,
                ) {
                    Ok(pdir) => fsutil::remove_all_at(pdir.as_fd(), target).ctx(ctx)?,
                    Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
                    Err(e) => return Err(Error::io(ctx(), e)),
                }
            }
        }
        Ok(())
    }

    /// `.wh..wh..opq`: the directory hides everything the lower layers had in it.
    fn opaque(&mut self, parent: &[OsString], raw: &Path) -> Result<()> {
        let ctx = || format!("applying opaque marker {}", raw.display());
        let pdir = fsutil::mkdir_all_in_root(self.root(), parent, 0o755).ctx(ctx)?;
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                let d = open_at(
                    pdir.as_fd(),
                    OsStr::new("."),
                    OFlag::O_RDONLY | OFlag::O_DIRECTORY,
                )
                .ctx(ctx)?;
                nix_fsetxattr(d.as_fd(), OVERLAY_OPAQUE_XATTR, b"y").ctx(ctx)?;
            }
            WhiteoutMode::Delete => {
                let base = fsutil::join(parent);
                let written = &self.written;
                fsutil::empty_dir(pdir.as_fd(), |n| !written.contains(&base.join(n))).ctx(ctx)?;
            }
        }
        Ok(())
    }

    /// xattrs from PAX records (`SCHILY.xattr.*`). Overlay's own are refused: a layer must
    /// not forge whiteouts or redirects.
    fn xattrs<R: Read>(
        &self,
        e: &mut tar::Entry<'_, R>,
        raw: &Path,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        let Some(exts) = e.pax_extensions().ctx(|| "reading PAX records")? else {
            return Ok(out);
        };
        for ext in exts {
            let ext = ext.ctx(|| "reading PAX records")?;
            let Ok(key) = ext.key() else { continue };
            if let Some(name) = key.strip_prefix("SCHILY.xattr.") {
                if name.starts_with("trusted.overlay.") {
                    return Err(unsafe_entry(raw, format!("forbidden xattr {name}")));
                }
                out.push((name.to_string(), ext.value_bytes().to_vec()));
            }
        }
        Ok(out)
    }

    fn finish_dirs(&mut self) -> Result<()> {
        for (comps, hdr) in self.dirs.iter().rev() {
            let path = fsutil::join(comps);
            let ctx = || format!("setting attributes of {}", path.display());
            let Some((name, parent)) = comps.split_last() else {
                continue;
            };
            let pdir = match fsutil::openat2_in_root(
                self.root(),
                &fsutil::join(parent),
                OFlag::O_PATH | OFlag::O_DIRECTORY,
                0,
            ) {
                Ok(d) => d,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(Error::io(ctx(), e)),
            };
            let p = pdir.as_fd();
            match fsutil::lstat_at(p, name).ctx(ctx)? {
                Some(st) if fsutil::is_dir(&st) => {}
                _ => continue, // replaced or removed by a later entry
            }
            nix::unistd::fchownat(
                Some(p.as_fd_raw()),
                name.as_os_str(),
                Some(uid(hdr)?),
                Some(gid(hdr)?),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            )
            .ctx(ctx)?;
            let mode = hdr.mode().ctx(ctx)? & 0o7777;
            nix::sys::stat::fchmodat(
                Some(p.as_fd_raw()),
                name.as_os_str(),
                Mode::from_bits_truncate(mode),
                nix::sys::stat::FchmodatFlags::FollowSymlink,
            )
            .ctx(ctx)?;
            set_times(p, name, hdr).ctx(ctx)?;
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
    // SAFETY: fresh fd from openat.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn nix_fsetxattr(fd: BorrowedFd<'_>, key: &str, value: &[u8]) -> std::io::Result<()> {
    let k =
        std::ffi::CString::new(key).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: valid fd, C string and buffer.
    let r = unsafe {
        libc::fsetxattr(
            fd.as_fd_raw(),
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

fn set_fd_xattrs(fd: BorrowedFd<'_>, xattrs: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    for (k, v) in xattrs {
        match nix_fsetxattr(fd, k, v) {
            Ok(()) => {}
            // A filesystem without xattr support (or SELinux labels on a host without it)
            // is not the layer's fault.
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn set_times(dir: BorrowedFd<'_>, name: &OsStr, hdr: &tar::Header) -> std::io::Result<()> {
    let mtime = hdr.mtime().unwrap_or(0) as i64;
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

fn uid(h: &tar::Header) -> Result<nix::unistd::Uid> {
    Ok(nix::unistd::Uid::from_raw(
        h.uid().ctx(|| "reading uid")? as u32
    ))
}

fn gid(h: &tar::Header) -> Result<nix::unistd::Gid> {
    Ok(nix::unistd::Gid::from_raw(
        h.gid().ctx(|| "reading gid")? as u32
    ))
}
