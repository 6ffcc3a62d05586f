//! Unpacking a tar stream from a container onto this machine without ever writing outside
//! the destination: `..` and absolute names are refused, no path goes through a symlink
//! that leads out, and a symlink already at a destination is replaced, not followed.

use std::fs;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

/// The archive path `name` (under top entry `top`) as a safe relative path after the rename.
/// None for the top entry when its contents are taken.
pub(super) fn map_entry(
    name: &Path,
    top: &str,
    rename: Option<&str>,
) -> io::Result<Option<PathBuf>> {
    let mut parts = Vec::new();
    for c in name.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_os_string()),
            Component::CurDir => {}
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "refusing archive entry {}: it leaves the destination",
                        name.display()
                    ),
                ))
            }
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    if let Some(new) = rename {
        if !top.is_empty() && parts[0] == *top {
            if new.is_empty() {
                parts.remove(0);
            } else {
                parts[0] = new.into();
            }
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.iter().collect()))
}

/// Creates the directories leading to `rel` inside `root`, refusing to pass through a
/// symlink that points outside it.
fn prepare_parents(root: &Path, rel: &Path) -> io::Result<()> {
    let canon_root = root.canonicalize()?;
    let mut cur = root.to_path_buf();
    let comps: Vec<_> = rel.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.file_type().is_symlink() => {
                let real = cur.canonicalize()?;
                if !real.starts_with(&canon_root) {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "refusing to write through {}: it links outside the destination",
                            cur.display()
                        ),
                    ));
                }
            }
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a directory", cur.display()),
                ))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir(&cur)?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

pub(super) fn extract(
    src: impl Read,
    into: &Path,
    top: &str,
    rename: Option<&str>,
    keep_owner: bool,
) -> io::Result<()> {
    let mut archive = tar::Archive::new(src);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(keep_owner);
    archive.set_overwrite(true);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = entry.path()?.into_owned();
        let Some(rel) = map_entry(&name, top, rename)? else {
            continue;
        };
        prepare_parents(into, &rel)?;
        let dst = into.join(&rel);
        // Never write through a symlink already at the destination: replace it.
        if let Ok(m) = fs::symlink_metadata(&dst) {
            if m.file_type().is_symlink() || (!m.is_dir() && entry.header().entry_type().is_dir()) {
                fs::remove_file(&dst)?;
            }
        }
        if entry.header().entry_type().is_hard_link() {
            let link = entry
                .link_name()?
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::InvalidData, "hard link without a target")
                })?
                .into_owned();
            let Some(link_rel) = map_entry(&link, top, rename)? else {
                continue;
            };
            prepare_parents(into, &link_rel)?;
            let _ = fs::remove_file(&dst);
            fs::hard_link(into.join(link_rel), &dst)?;
            continue;
        }
        entry.unpack(&dst)?;
    }
    Ok(())
}
