//! COPY and ADD: the sources (paths of the context, or of another image's root for
//! `--from`) become one tar that is extracted at `/` of the step's container with the
//! project's safe extraction: sources are read through their root's in-root resolver and
//! entries are created without following links, so nothing is read outside the context
//! and nothing is written outside the rootfs.
//!
//! [`Sources::digest`] is the content part of the step's cache key and history text
//! (`file:…`, `dir:…`, `multi:…`): names, types, modes, owners, link targets and
//! content, never times. ADD of a local tar (plain or gzip) extracts its entries into
//! the destination instead of copying the file.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::os::fd::BorrowedFd;
use std::path::Path;

use berth_fs::InRoot;
use berth_gocompat::path as gopath;
use sha2::{Digest, Sha256};

use super::pipe;
use crate::archive;
use crate::error::{Error, Result};

/// The sources of one COPY/ADD, all in one root.
pub struct Sources<'a> {
    pub root: BorrowedFd<'a>,
    /// Absolute paths in that root.
    pub paths: Vec<String>,
    /// ADD: local archives are extracted.
    pub extract_archives: bool,
}

fn tmp_err(e: std::io::Error) -> Error {
    Error::internal(format!("a temporary file for the copy: {e}"))
}

fn tar_err(e: std::io::Error) -> Error {
    Error::internal(format!("building the copy's archive: {e}"))
}

/// A tar of `path` in `root` whose top entry is named `top`, in a temporary file.
fn source_tar(root: BorrowedFd<'_>, path: &str, top: &str) -> Result<File> {
    let located = archive::locate(root, path)?;
    let mut f = tempfile::tempfile().map_err(tmp_err)?;
    located.write_tar(top, &mut f)?;
    f.rewind().map_err(tmp_err)?;
    Ok(f)
}

/// Whether a source is a directory (its contents are copied) .
fn is_dir(root: BorrowedFd<'_>, path: &str) -> bool {
    archive::locate(root, &format!("{}/", path.trim_end_matches('/')))
        .map(|l| l.path_stat().mode & (1 << 31) != 0)
        .unwrap_or(false)
}

/// A local archive ADD extracts: gzip or tar, told by its first bytes.
fn archive_reader(mut f: impl Read + Seek + 'static) -> Option<Box<dyn Read>> {
    let mut head = [0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    f.rewind().ok()?;
    if head[..n].starts_with(&[0x1f, 0x8b]) {
        return Some(Box::new(flate2::read::MultiGzDecoder::new(f)));
    }
    if n >= 262 && &head[257..262] == b"ustar" {
        return Some(Box::new(BufReader::new(f)));
    }
    None
}

/// Owner of the copied entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u64,
    pub gid: u64,
}

impl<'a> Sources<'a> {
    /// dockerd's source text in history: `file:<hex>` for one file, `dir:<hex>` for one
    /// directory, `multi:<hex>` for several sources.
    pub fn digest(&self) -> Result<String> {
        let mut all = Sha256::new();
        let mut kind = "file";
        for p in &self.paths {
            if is_dir(self.root, p) {
                kind = "dir";
            }
            pipe::through(
                |w| archive::locate(self.root, p)?.write_tar("src", w),
                |r| hash_entries(r, &mut all),
            )?;
        }
        if self.paths.len() > 1 {
            kind = "multi";
        }
        Ok(format!("{kind}:{}", hex::encode(all.finalize())))
    }

    /// Writes the tar to extract at `/` of the step's rootfs `dest_root` to `out`: each
    /// source under `dest` (absolute, cleaned; `dest_is_dir` when it names a directory),
    /// owned by `owner` (root when none).
    pub fn write_layer_tar(
        &self,
        dest_root: BorrowedFd<'_>,
        dest: &str,
        dest_is_dir: bool,
        owner: Option<Owner>,
        out: impl Write,
    ) -> Result<()> {
        let owner = owner.unwrap_or(Owner { uid: 0, gid: 0 });
        let into_dir = dest_is_dir
            || self.paths.len() > 1
            || archive::locate(dest_root, &format!("{}/", dest.trim_end_matches('/')))
                .map(|l| l.path_stat().mode & (1 << 31) != 0)
                .unwrap_or(false);
        let dest_rel = dest
            .trim_start_matches('/')
            .trim_end_matches('/')
            .to_string();
        let mut out = tar::Builder::new(out);
        for p in &self.paths {
            let base = gopath::clean(p)
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let src_is_dir = is_dir(self.root, p);
            let top = if src_is_dir || !into_dir {
                dest_rel.clone()
            } else {
                join(&dest_rel, &base)
            };
            if self.extract_archives && !src_is_dir {
                let mut probe = source_tar(self.root, p, "x")?;
                if let Some(inner) = single_file(&mut probe).and_then(archive_reader) {
                    append_archive(&mut out, inner, &dest_rel)?;
                    continue;
                }
            }
            let top = if top.is_empty() { "." } else { &top };
            pipe::through(
                |w| archive::locate(self.root, p)?.write_tar(top, w),
                |r| {
                    let mut ar = tar::Archive::new(r);
                    for e in ar.entries().map_err(tar_err)? {
                        let mut e = e.map_err(tar_err)?;
                        let mut h = e.header().clone();
                        h.set_uid(owner.uid);
                        h.set_gid(owner.gid);
                        let path = e.path().map_err(tar_err)?.into_owned();
                        append(&mut out, &mut h, &path, &mut e)?;
                    }
                    Ok(())
                },
            )?;
        }
        out.into_inner().map_err(tar_err)?.flush().map_err(tar_err)
    }
}

/// Adds the names, types, modes, owners, link targets and content (never the times) of
/// the entries of the tar `r` to `all`.
fn hash_entries(r: impl Read, all: &mut Sha256) -> Result<()> {
    let mut ar = tar::Archive::new(r);
    for e in ar.entries().map_err(tar_err)? {
        let mut e = e.map_err(tar_err)?;
        let h = e.header().clone();
        let name = e.path().map_err(tar_err)?.display().to_string();
        let link = e
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.display().to_string())
            .unwrap_or_default();
        let meta = format!(
            "{name}\0{:?}\0{:o}\0{}\0{}\0{link}\0{}\0",
            h.entry_type(),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            h.size().unwrap_or(0)
        );
        all.update(meta.as_bytes());
        std::io::copy(&mut e, &mut HashWriter(&mut *all)).map_err(tar_err)?;
    }
    Ok(())
}

/// The content of a one-file tar, in a temporary file.
fn single_file(tar_file: &mut File) -> Option<File> {
    let mut ar = tar::Archive::new(tar_file);
    let mut e = ar.entries().ok()?.next()?.ok()?;
    if e.header().entry_type() != tar::EntryType::Regular {
        return None;
    }
    let mut f = tempfile::tempfile().ok()?;
    std::io::copy(&mut e, &mut f).ok()?;
    f.rewind().ok()?;
    Some(f)
}

/// The entries of an archive ADD extracts, moved under `dest_rel` (owners kept).
fn append_archive<W: Write>(
    out: &mut tar::Builder<W>,
    inner: Box<dyn Read>,
    dest_rel: &str,
) -> Result<()> {
    let mut ar = tar::Archive::new(inner);
    let bad = |e: std::io::Error| Error::invalid(format!("ADD failed: reading the archive: {e}"));
    for e in ar.entries().map_err(bad)? {
        let mut e = e.map_err(bad)?;
        let mut h = e.header().clone();
        let path = e.path().map_err(bad)?.into_owned();
        let rel = gopath::clean(&path.display().to_string());
        let rel = rel.trim_start_matches('/');
        if rel == ".." || rel.starts_with("../") {
            return Err(Error::invalid(format!(
                "ADD failed: the archive's entry {} points outside the destination",
                path.display()
            )));
        }
        let full = if rel == "." {
            dest_rel.to_string()
        } else {
            join(dest_rel, rel)
        };
        append(out, &mut h, Path::new(&full), &mut e)?;
    }
    Ok(())
}

/// Appends one entry under a new name (links keep their targets).
fn append<W: Write, R: Read>(
    out: &mut tar::Builder<W>,
    h: &mut tar::Header,
    path: &Path,
    data: &mut R,
) -> Result<()> {
    let name = if path.as_os_str().is_empty() {
        Path::new(".")
    } else {
        path
    };
    match h.entry_type() {
        tar::EntryType::Symlink | tar::EntryType::Link => {
            let target = h
                .link_name()
                .map_err(tar_err)?
                .map(|t| t.into_owned())
                .unwrap_or_default();
            out.append_link(h, name, target).map_err(tar_err)
        }
        _ => out.append_data(h, name, data).map_err(tar_err),
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

struct HashWriter<'a>(&'a mut Sha256);

impl Write for HashWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `--chown`: `uid[:gid]` as numbers, or names looked up in the rootfs' `/etc/passwd` and
/// `/etc/group` (a missing group is the user's).
pub fn owner(root: BorrowedFd<'_>, spec: &str) -> Result<Owner> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let lookup = |file: &str, name: &str| -> Result<u64> {
        if let Ok(n) = name.parse::<u64>() {
            return Ok(n);
        }
        let fd = InRoot::new(root).open(Path::new(file), libc::O_RDONLY, 0).map_err(|_| {
            Error::invalid(format!("unable to convert uid/gid chown string to host mapping: no {file} in the image to look up {name:?}"))
        })?;
        for line in BufReader::new(File::from(fd)).lines().map_while(|l| l.ok()) {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 3 && f[0] == name {
                if let Ok(n) = f[2].parse() {
                    return Ok(n);
                }
            }
        }
        Err(Error::invalid(format!(
            "unable to convert uid/gid chown string to host mapping: can't find uid for user {name}: no such user: {name}"
        )))
    };
    let uid = lookup("/etc/passwd", user)?;
    let gid = if group == user && spec.split_once(':').is_none() {
        if user.parse::<u64>().is_ok() {
            uid
        } else {
            lookup("/etc/group", group).unwrap_or(uid)
        }
    } else {
        lookup("/etc/group", group)?
    };
    Ok(Owner { uid, gid })
}

/// Where COPY/ADD writes: `dest` against the working directory; a trailing `/` (or `.`)
/// makes it a directory.
pub fn destination(workdir: &str, dest: &str) -> (String, bool) {
    let is_dir = dest.ends_with('/') || dest == "." || dest.ends_with("/.");
    let base = if workdir.is_empty() { "/" } else { workdir };
    let full = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{base}/{dest}")
    };
    (gopath::clean(&full), is_dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn destinations_follow_the_workdir_and_the_trailing_slash() {
        assert_eq!(destination("/app", "."), ("/app".to_string(), true));
        assert_eq!(destination("/app", "x/"), ("/app/x".to_string(), true));
        assert_eq!(destination("", "f"), ("/f".to_string(), false));
        assert_eq!(destination("/a", "/b/../c"), ("/c".to_string(), false));
    }

    #[test]
    fn owners_are_resolved_in_the_image() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("etc")).unwrap();
        std::fs::write(
            d.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\nbob:x:1001:1002::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            d.path().join("etc/group"),
            "root:x:0:\nstaff:x:50:\nbob:x:1002:\n",
        )
        .unwrap();
        let root = berth_fs::open_root(d.path()).unwrap();
        let r = root.as_fd();
        assert_eq!(
            owner(r, "1000:1000").unwrap(),
            Owner {
                uid: 1000,
                gid: 1000
            }
        );
        assert_eq!(owner(r, "7").unwrap(), Owner { uid: 7, gid: 7 });
        assert_eq!(owner(r, "bob:staff").unwrap(), Owner { uid: 1001, gid: 50 });
        assert_eq!(
            owner(r, "bob").unwrap(),
            Owner {
                uid: 1001,
                gid: 1002
            }
        );
        assert!(owner(r, "nobody:x").is_err());
    }

    #[test]
    fn digests_ignore_times_and_see_content() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("f"), "1").unwrap();
        let root = berth_fs::open_root(d.path()).unwrap();
        let s = Sources {
            root: root.as_fd(),
            paths: vec!["/f".into()],
            extract_archives: false,
        };
        let a = s.digest().unwrap();
        assert!(a.starts_with("file:"));
        let t = std::time::SystemTime::now() - std::time::Duration::from_secs(1000);
        File::options()
            .write(true)
            .open(d.path().join("f"))
            .unwrap()
            .set_modified(t)
            .unwrap();
        assert_eq!(a, s.digest().unwrap());
        std::fs::write(d.path().join("f"), "2").unwrap();
        assert_ne!(a, s.digest().unwrap());
    }
}
