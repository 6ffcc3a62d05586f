//! Turning a snapshot's changes into a layer tar with OCI whiteouts.
//!
//! Two sources: an overlayfs upper directory, which *is* the change set (0/0 character
//! devices are whiteouts, `trusted.overlay.opaque=y` marks opaque directories); or a full
//! copy compared with its parent's full copy (the native snapshotter). Only regular files
//! are opened; FIFOs and device nodes go in as headers.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, HashingWriter};
use crate::error::{Error, IoContext, Result};
use crate::gzip::GzipWriter;
use crate::unpack::{OPAQUE_MARKER, OVERLAY_OPAQUE_XATTR, WHITEOUT_PREFIX};

pub enum DiffSource<'a> {
    /// An overlayfs upper directory.
    OverlayUpper(&'a Path),
    /// A full tree and the full tree of its parent (None: empty).
    Compare {
        lower: Option<&'a Path>,
        upper: &'a Path,
    },
}

/// The result of writing a layer.
pub struct Written {
    pub diff_id: Digest,
    pub uncompressed_size: u64,
}

/// Writes the changes of `src` to `w` as a tar, gzip-compressed when `gzip` (see
/// [`crate::gzip`]: what deflate cannot shrink is stored).
pub fn write_layer(src: DiffSource<'_>, mut w: impl Write, gzip: bool) -> Result<Written> {
    if !gzip {
        return write_tar(src, &mut w);
    }
    let mut gz = GzipWriter::new(w);
    let written = write_tar(src, &mut gz)?;
    gz.finish().ctx(|| "finishing the layer's compression")?;
    Ok(written)
}

fn write_tar(src: DiffSource<'_>, w: impl Write) -> Result<Written> {
    let hw = HashingWriter::new(w);
    let mut b = tar::Builder::new(hw);
    b.follow_symlinks(false);
    let mut links = HashMap::new();
    match src {
        DiffSource::OverlayUpper(upper) => walk_upper(&mut b, upper, Path::new(""), &mut links)?,
        DiffSource::Compare { lower, upper } => {
            walk_compare(&mut b, lower, upper, Path::new(""), &mut links)?
        }
    }
    let mut hw = b.into_inner().ctx(|| "finishing the layer tar")?;
    hw.flush().ctx(|| "flushing the layer")?;
    Ok(Written {
        uncompressed_size: hw.hasher.len(),
        diff_id: hw.hasher.finish(),
    })
}

type Links = HashMap<(u64, u64), PathBuf>;

fn sorted_entries(dir: &Path) -> Result<Vec<(String, std::fs::Metadata)>> {
    let mut v: Vec<(String, std::fs::Metadata)> = Vec::new();
    for e in std::fs::read_dir(dir).ctx(|| format!("reading {}", dir.display()))? {
        let e = e.ctx(|| format!("reading {}", dir.display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        let m =
            std::fs::symlink_metadata(e.path()).ctx(|| format!("stat {}", e.path().display()))?;
        v.push((name, m));
    }
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

fn is_whiteout_dev(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn walk_upper<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    links: &mut Links,
) -> Result<()> {
    for (name, m) in sorted_entries(&root.join(rel))? {
        let r = rel.join(&name);
        if is_whiteout_dev(&m) {
            append_empty(b, &rel.join(format!("{WHITEOUT_PREFIX}{name}")))?;
            continue;
        }
        append_entry(b, root, &r, &m, links)?;
        if m.is_dir() {
            let full = root.join(&r);
            if xattr(&full, OVERLAY_OPAQUE_XATTR).as_deref() == Some(b"y".as_ref()) {
                append_empty(b, &r.join(OPAQUE_MARKER))?;
            }
            walk_upper(b, root, &r, links)?;
        }
    }
    Ok(())
}

fn walk_compare<W: Write>(
    b: &mut tar::Builder<W>,
    lower: Option<&Path>,
    upper: &Path,
    rel: &Path,
    links: &mut Links,
) -> Result<()> {
    let ups = sorted_entries(&upper.join(rel))?;
    let lows: BTreeMap<String, std::fs::Metadata> = match lower {
        Some(l) if l.join(rel).is_dir() => sorted_entries(&l.join(rel))?.into_iter().collect(),
        _ => BTreeMap::new(),
    };
    for name in lows.keys() {
        if !ups.iter().any(|(n, _)| n == name) {
            append_empty(b, &rel.join(format!("{WHITEOUT_PREFIX}{name}")))?;
        }
    }
    for (name, m) in &ups {
        let r = rel.join(name);
        let changed = match lows.get(name) {
            None => true,
            Some(lm) => differs(lower.unwrap(), upper, &r, lm, m),
        };
        if changed {
            append_entry(b, upper, &r, m, links)?;
        }
        if m.is_dir() {
            let lower_dir = lows.get(name).filter(|lm| lm.is_dir()).and(lower);
            walk_compare(b, lower_dir, upper, &r, links)?;
        }
    }
    Ok(())
}

fn differs(
    lower: &Path,
    upper: &Path,
    rel: &Path,
    a: &std::fs::Metadata,
    b: &std::fs::Metadata,
) -> bool {
    if a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.rdev() != b.rdev()
    {
        return true;
    }
    if b.is_dir() {
        return false;
    }
    if a.file_type().is_symlink() {
        return std::fs::read_link(lower.join(rel)).ok()
            != std::fs::read_link(upper.join(rel)).ok();
    }
    a.size() != b.size() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec()
}

fn xattr(p: &Path, key: &str) -> Option<Vec<u8>> {
    let parent = p.parent()?;
    let dir = berth_fs::open_root(parent).ok()?;
    use std::os::fd::AsFd;
    crate::fsutil::lgetxattr_at(dir.as_fd(), p.file_name()?, key).ok()?
}

fn base_header(m: &std::fs::Metadata) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_mode(m.mode() & 0o7777);
    h.set_uid(m.uid() as u64);
    h.set_gid(m.gid() as u64);
    h.set_mtime(m.mtime().max(0) as u64);
    h.set_size(0);
    h
}

fn append_empty<W: Write>(b: &mut tar::Builder<W>, path: &Path) -> Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_size(0);
    h.set_mtime(0);
    b.append_data(&mut h, path, std::io::empty())
        .ctx(|| format!("writing {} to the layer", path.display()))
}

fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    m: &std::fs::Metadata,
    links: &mut Links,
) -> Result<()> {
    let full = root.join(rel);
    let ctx = || format!("writing {} to the layer", rel.display());
    let mut h = base_header(m);
    let ft = m.file_type();
    if let Some(cap) = xattr(&full, "security.capability") {
        let key = "SCHILY.xattr.security.capability";
        b.append_pax_extensions([(key, cap.as_slice())]).ctx(ctx)?;
    }
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        b.append_data(&mut h, rel, std::io::empty()).ctx(ctx)
    } else if ft.is_symlink() {
        h.set_entry_type(tar::EntryType::Symlink);
        let target = std::fs::read_link(&full).ctx(ctx)?;
        b.append_link(&mut h, rel, target).ctx(ctx)
    } else if ft.is_file() {
        if m.nlink() > 1 {
            let key = (m.dev(), m.ino());
            if let Some(first) = links.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                return b.append_link(&mut h, rel, first).ctx(ctx);
            }
            links.insert(key, rel.to_path_buf());
        }
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(m.len());
        // Opened only if still a regular file: a FIFO would block the diff for good.
        let f = berth_fs::open_regular(&full).ctx(ctx)?;
        b.append_data(&mut h, rel, f).ctx(ctx)
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        h.set_entry_type(if ft.is_char_device() {
            tar::EntryType::Char
        } else if ft.is_block_device() {
            tar::EntryType::Block
        } else {
            tar::EntryType::Fifo
        });
        let rdev = m.rdev();
        h.set_device_major(nix::sys::stat::major(rdev) as u32)
            .ctx(ctx)?;
        h.set_device_minor(nix::sys::stat::minor(rdev) as u32)
            .ctx(ctx)?;
        b.append_data(&mut h, rel, std::io::empty()).ctx(ctx)
    } else {
        Err(Error::Unsupported(format!(
            "{}: sockets cannot be put in a layer",
            rel.display()
        )))
    }
}
