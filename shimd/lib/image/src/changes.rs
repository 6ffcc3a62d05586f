//! What a writable snapshot changed against its parent, path by path, as `docker diff`
//! lists it: each path added, modified or deleted, a directory before its contents.
//!
//! From an overlayfs upper directory (0/0 character devices are deletions, an opaque
//! directory hides everything below it; a path that also exists in a lower directory is
//! modified, otherwise added), or from a full copy compared with its parent's full copy
//! (the native snapshotter). A directory that exists below is reported modified only when
//! something in it is reported or its own mode or owner changed (so the directory of a
//! changed file is listed, as dockerd lists it). Excluded paths are left out with what is
//! below them, as if unchanged.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::unpack::OVERLAY_OPAQUE_XATTR;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    Modified,
    Added,
    Deleted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Absolute, as seen in the container ("/etc/passwd").
    pub path: String,
    pub kind: ChangeKind,
}

/// Where the changes are.
pub enum ChangesSource<'a> {
    /// An overlayfs upper directory and the lower directories, nearest first.
    Overlay {
        upper: &'a Path,
        lowers: &'a [PathBuf],
    },
    /// A full tree and its parent's full tree (None: empty).
    Compare {
        lower: Option<&'a Path>,
        upper: &'a Path,
    },
}

/// The changes of `src`, leaving out the absolute paths in `exclude`.
pub fn changes(src: ChangesSource<'_>, exclude: &[String]) -> Result<Vec<Change>> {
    let w = Walk { exclude };
    match src {
        ChangesSource::Overlay { upper, lowers } => w.overlay(upper, lowers, Path::new("/"), false),
        ChangesSource::Compare { lower, upper } => w.compare(lower, upper, Path::new("/")),
    }
}

struct Walk<'a> {
    exclude: &'a [String],
}

fn entries(dir: &Path) -> Result<BTreeMap<String, std::fs::Metadata>> {
    let mut v = BTreeMap::new();
    for e in std::fs::read_dir(dir).ctx(|| format!("reading {}", dir.display()))? {
        let e = e.ctx(|| format!("reading {}", dir.display()))?;
        let m =
            std::fs::symlink_metadata(e.path()).ctx(|| format!("stat {}", e.path().display()))?;
        v.insert(e.file_name().to_string_lossy().into_owned(), m);
    }
    Ok(v)
}

fn is_whiteout(m: &std::fs::Metadata) -> bool {
    m.file_type().is_char_device() && m.rdev() == 0
}

fn is_opaque(p: &Path) -> bool {
    use std::os::fd::AsFd;
    let (Some(parent), Some(name)) = (p.parent(), p.file_name()) else {
        return false;
    };
    let Ok(dir) = berth_fs::open_root(parent) else {
        return false;
    };
    matches!(
        crate::fsutil::lgetxattr_at(dir.as_fd(), name, OVERLAY_OPAQUE_XATTR),
        Ok(Some(v)) if v == b"y"
    )
}

fn rel(p: &Path) -> &Path {
    p.strip_prefix("/").unwrap_or(p)
}

/// The path as the lower directories show it: nearest first, a whiteout or an opaque
/// parent hides what is further down.
fn below(lowers: &[PathBuf], path: &Path) -> Option<std::fs::Metadata> {
    for l in lowers {
        let full = l.join(rel(path));
        if let Ok(m) = std::fs::symlink_metadata(&full) {
            return (!is_whiteout(&m)).then_some(m);
        }
        if full.parent().is_some_and(is_opaque) {
            return None;
        }
    }
    None
}

fn own_metadata_differs(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.file_type() != b.file_type()
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
}

fn change(path: &Path, kind: ChangeKind) -> Change {
    Change {
        path: path.display().to_string(),
        kind,
    }
}

impl Walk<'_> {
    fn excluded(&self, p: &Path) -> bool {
        self.exclude.iter().any(|e| Path::new(e) == p)
    }

    /// A directory found in the upper layer: itself (if it counts) and then its contents.
    fn dir_entry(
        &self,
        path: &Path,
        before: Option<&std::fs::Metadata>,
        now: &std::fs::Metadata,
        inner: Vec<Change>,
    ) -> Vec<Change> {
        let mut out = Vec::new();
        match before {
            None => out.push(change(path, ChangeKind::Added)),
            Some(b) if !inner.is_empty() || own_metadata_differs(b, now) => {
                out.push(change(path, ChangeKind::Modified))
            }
            Some(_) => {}
        }
        out.extend(inner);
        out
    }

    fn overlay(
        &self,
        upper: &Path,
        lowers: &[PathBuf],
        dir: &Path,
        hidden_below: bool,
    ) -> Result<Vec<Change>> {
        let mut out = Vec::new();
        for (name, m) in entries(&upper.join(rel(dir)))? {
            let path = dir.join(&name);
            if self.excluded(&path) {
                continue;
            }
            let before = if hidden_below {
                None
            } else {
                below(lowers, &path)
            };
            if is_whiteout(&m) {
                if before.is_some() {
                    out.push(change(&path, ChangeKind::Deleted));
                }
                continue;
            }
            if m.is_dir() {
                let opaque = hidden_below || is_opaque(&upper.join(rel(&path)));
                let inner = self.overlay(upper, lowers, &path, opaque)?;
                out.extend(self.dir_entry(&path, before.as_ref(), &m, inner));
            } else {
                let kind = match before {
                    Some(_) => ChangeKind::Modified,
                    None => ChangeKind::Added,
                };
                out.push(change(&path, kind));
            }
        }
        Ok(out)
    }

    fn compare(&self, lower: Option<&Path>, upper: &Path, dir: &Path) -> Result<Vec<Change>> {
        let ups = entries(&upper.join(rel(dir)))?;
        let lows = match lower {
            Some(l) if l.join(rel(dir)).is_dir() => entries(&l.join(rel(dir)))?,
            _ => BTreeMap::new(),
        };
        let mut names: Vec<&String> = ups.keys().chain(lows.keys()).collect();
        names.sort();
        names.dedup();
        let mut out = Vec::new();
        for name in names {
            let path = dir.join(name);
            if self.excluded(&path) {
                continue;
            }
            let (Some(m), before) = (ups.get(name), lows.get(name)) else {
                out.push(change(&path, ChangeKind::Deleted));
                continue;
            };
            if m.is_dir() {
                let lower_dir = before.filter(|b| b.is_dir()).and(lower);
                let inner = self.compare(lower_dir, upper, &path)?;
                out.extend(self.dir_entry(&path, before, m, inner));
                continue;
            }
            match before {
                None => out.push(change(&path, ChangeKind::Added)),
                Some(b) if file_differs(lower, upper, &path, b, m) => {
                    out.push(change(&path, ChangeKind::Modified))
                }
                Some(_) => {}
            }
        }
        Ok(out)
    }
}

fn file_differs(
    lower: Option<&Path>,
    upper: &Path,
    path: &Path,
    a: &std::fs::Metadata,
    b: &std::fs::Metadata,
) -> bool {
    if own_metadata_differs(a, b) || a.rdev() != b.rdev() {
        return true;
    }
    if a.file_type().is_symlink() {
        let l = lower.map(|l| std::fs::read_link(l.join(rel(path))).ok());
        return l != Some(std::fs::read_link(upper.join(rel(path))).ok());
    }
    a.size() != b.size() || a.mtime() != b.mtime() || a.mtime_nsec() != b.mtime_nsec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(v: &[Change]) -> Vec<(String, ChangeKind)> {
        v.iter().map(|c| (c.path.clone(), c.kind)).collect()
    }

    #[test]
    fn compares_full_copies_like_docker_diff() {
        let t = tempfile::tempdir().unwrap();
        let (lo, up) = (t.path().join("lo"), t.path().join("up"));
        for d in [&lo, &up] {
            std::fs::create_dir_all(d.join("etc")).unwrap();
            std::fs::create_dir_all(d.join("bin")).unwrap();
            std::fs::create_dir_all(d.join("same")).unwrap();
            std::fs::write(d.join("etc/passwd"), "root\n").unwrap();
            std::fs::write(d.join("same/f"), "x").unwrap();
        }
        // Same content and times in both copies for what did not change.
        for p in ["etc/passwd", "same/f"] {
            let m = std::fs::metadata(lo.join(p)).unwrap();
            let f = std::fs::File::options()
                .write(true)
                .open(up.join(p))
                .unwrap();
            f.set_modified(m.modified().unwrap()).unwrap();
        }
        std::fs::write(lo.join("bin/ls"), "ls").unwrap();
        std::fs::write(up.join("etc/passwd"), "root\nx\n").unwrap();
        std::fs::create_dir_all(up.join("a/b")).unwrap();
        std::fs::write(up.join("a/b/f"), "").unwrap();
        std::fs::write(up.join("hostname"), "").unwrap();
        let got = changes(
            ChangesSource::Compare {
                lower: Some(&lo),
                upper: &up,
            },
            &["/hostname".to_string()],
        )
        .unwrap();
        use ChangeKind::*;
        assert_eq!(
            kinds(&got),
            vec![
                ("/a".into(), Added),
                ("/a/b".into(), Added),
                ("/a/b/f".into(), Added),
                ("/bin".into(), Modified),
                ("/bin/ls".into(), Deleted),
                ("/etc".into(), Modified),
                ("/etc/passwd".into(), Modified),
            ]
        );
    }
}
