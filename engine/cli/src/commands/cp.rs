//! `cp`: copy files between a container and this machine as tar streams through
//! `/containers/{id}/archive`, with docker's rules for files, directories, `DIR/.` and
//! missing destinations. Extraction never writes outside the destination: `..` and
//! absolute names are refused and no path is followed through a symlink that leaves it.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_api::container::{go_mode, PathStat as ContainerPathStat};

use crate::cli::CpArgs;
use crate::client::http::{Body, Query};
use crate::client::{error_from, Client};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::output::units::human_size;

/// One side of a copy.
enum Side {
    Local(String),
    Container { name: String, path: String },
}

/// docker's rule: a path starting with `/` or `.` is local; otherwise `NAME:PATH` names a
/// container path.
fn split_arg(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Local(arg.to_string());
    }
    match arg.split_once(':') {
        Some((name, path)) if !name.is_empty() => Side::Container {
            name: name.to_string(),
            path: path.to_string(),
        },
        _ => Side::Local(arg.to_string()),
    }
}

/// What the daemon says about a path in the container.
struct PathStat {
    name: String,
    is_dir: bool,
}

fn parse_stat(header: Option<&str>) -> Option<PathStat> {
    let raw = STANDARD.decode(header?.trim()).ok()?;
    let stat: ContainerPathStat = serde_json::from_slice(&raw).ok()?;
    Some(PathStat {
        is_dir: stat.mode & go_mode::DIR != 0,
        name: stat.name,
    })
}

fn stat_header(resp_head: &crate::client::http::Head) -> Option<PathStat> {
    parse_stat(resp_head.header("X-Docker-Container-Path-Stat"))
}

/// `HEAD /containers/{id}/archive?path=`: None when the path does not exist.
fn stat_in_container(
    client: &Client,
    name: &str,
    path: &str,
) -> Result<Option<PathStat>, CliError> {
    let target = Query::new()
        .set("path", path)
        .to_target(&super::cpath(name, "archive"));
    let resp = client.send("HEAD", &target, &[], Body::Empty)?;
    match resp.status() {
        200 => Ok(stat_header(&resp.head)),
        404 => {
            // Either the container or the path is missing; only the first is an error.
            client.get(&super::cpath(name, "json"))?;
            Ok(None)
        }
        _ => Err(error_from(resp).into()),
    }
}

fn basename(p: &str) -> String {
    Path::new(p.trim_end_matches('/'))
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn ends_with_dot(p: &str) -> bool {
    p.ends_with("/.") || p == "."
}

pub fn cp(ctx: &Ctx, a: &CpArgs) -> CmdResult {
    match (split_arg(&a.src), split_arg(&a.dest)) {
        (Side::Container { name, path }, Side::Local(dest)) => {
            from_container(ctx, a, &name, &path, &dest)
        }
        (Side::Local(src), Side::Container { name, path }) => {
            to_container(ctx, a, &src, &name, &path)
        }
        (Side::Container { .. }, Side::Container { .. }) => {
            Err(CliError::new("copying between containers is not supported"))
        }
        (Side::Local(_), Side::Local(_)) => Err(CliError::new(
            "must specify at least one container source (CONTAINER:PATH)",
        )),
    }
}

fn absolute_in_container(p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("/{p}")
    }
}

fn from_container(ctx: &Ctx, a: &CpArgs, name: &str, src: &str, dest: &str) -> CmdResult {
    let client = ctx.client()?;
    let src = absolute_in_container(src);
    let target = Query::new()
        .set("path", src.as_str())
        .to_target(&super::cpath(name, "archive"));
    let resp = client.call("GET", &target, &[], Body::Empty)?;
    if dest == "-" {
        let mut out = io::stdout().lock();
        let mut resp = resp;
        io::copy(&mut resp, &mut out).and_then(|_| out.flush())?;
        return Ok(0);
    }
    let stat = stat_header(&resp.head).unwrap_or(PathStat {
        name: basename(&src),
        is_dir: false,
    });
    // The archive's top entry: "" when its entries already are a directory's contents
    // (daemons name `DIR/.` as "."); `DIR/.` means "the contents", not the directory.
    let top = if stat.name == "." {
        String::new()
    } else {
        stat.name.clone()
    };
    let contents_only = stat.is_dir && (ends_with_dot(&src) || top.is_empty());
    let dest_path = Path::new(dest);
    let dest_meta = fs::metadata(dest_path).ok();
    // (directory to extract into, what the top entry becomes: a new name, or "" to take
    // its contents)
    let (into, rename): (PathBuf, Option<String>) = match dest_meta {
        Some(m) if m.is_dir() => (dest_path.to_path_buf(), contents_only.then(String::new)),
        Some(_) if stat.is_dir => {
            return Err(CliError::new(format!(
                "cannot copy a directory to a file: {dest}"
            )))
        }
        Some(_) => (parent_of(dest_path), Some(basename(dest))),
        None if dest.ends_with('/') && !stat.is_dir => {
            return Err(CliError::new(format!(
                "destination directory {dest} does not exist"
            )))
        }
        None => {
            let parent = parent_of(dest_path);
            if !parent.is_dir() {
                return Err(CliError::new(format!(
                    "destination directory {} does not exist",
                    parent.display()
                )));
            }
            if contents_only {
                fs::create_dir(dest_path)
                    .map_err(|e| CliError::new(format!("creating {dest}: {e}")))?;
                (dest_path.to_path_buf(), Some(String::new()))
            } else {
                (parent, Some(basename(dest)))
            }
        }
    };
    let mut counted = Counted { inner: resp, n: 0 };
    extract(
        &mut counted,
        &into,
        &stat.name,
        rename.as_deref(),
        a.archive,
    )
    .map_err(|e| CliError::new(format!("copying to {dest}: {e}")))?;
    if !a.quiet {
        eprintln!(
            "Successfully copied {} to {dest}",
            human_size(counted.n as f64, 3)
        );
    }
    Ok(0)
}

fn parent_of(p: &Path) -> PathBuf {
    match p.parent() {
        Some(q) if !q.as_os_str().is_empty() => q.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A reader that counts bytes (for the summary line).
struct Counted<R> {
    inner: R,
    n: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.n += n as u64;
        Ok(n)
    }
}

/// The archive path `name` (under top entry `top`) as a safe relative path after the rename.
/// None for the top entry when its contents are taken.
fn map_entry(name: &Path, top: &str, rename: Option<&str>) -> io::Result<Option<PathBuf>> {
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

fn extract(
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

fn to_container(ctx: &Ctx, a: &CpArgs, src: &str, name: &str, dest: &str) -> CmdResult {
    let client = ctx.client()?;
    let dest = absolute_in_container(dest);
    if src == "-" {
        let stat = stat_in_container(client, name, &dest)?;
        if !stat.is_some_and(|s| s.is_dir) {
            return Err(CliError::new(format!(
                "destination \"{name}:{dest}\" must be a directory"
            )));
        }
        upload(client, name, &dest, Box::new(io::stdin()))?;
        return Ok(0);
    }
    let src_path = Path::new(src);
    let meta = if a.follow_link {
        fs::metadata(src_path)
    } else {
        fs::symlink_metadata(src_path)
    }
    .map_err(|e| CliError::new(format!("stat {src}: {e}")))?;
    let dest_stat = stat_in_container(client, name, &dest)?;
    let (dir, entry_name, contents_only) = match dest_stat {
        Some(s) if s.is_dir => (
            dest.clone(),
            basename(src),
            meta.is_dir() && ends_with_dot(src),
        ),
        Some(_) if meta.is_dir() => {
            return Err(CliError::new(format!(
                "cannot copy a directory to a file: {name}:{dest}"
            )))
        }
        Some(_) => (parent_in_container(&dest), basename(&dest), false),
        None if dest.ends_with('/') => {
            return Err(CliError::new(format!(
                "destination directory \"{name}:{dest}\" does not exist"
            )))
        }
        None => (parent_in_container(&dest), basename(&dest), false),
    };
    let (reader, mut writer) = io::pipe()?;
    let src_owned = src_path.to_path_buf();
    let keep_owner = a.archive;
    let follow = a.follow_link;
    let producer = std::thread::spawn(move || -> io::Result<u64> {
        let mut counter = CountingWriter {
            inner: &mut writer,
            n: 0,
        };
        {
            let mut b = tar::Builder::new(&mut counter);
            b.follow_symlinks(false);
            let prefix = if contents_only {
                PathBuf::new()
            } else {
                PathBuf::from(&entry_name)
            };
            add_path(&mut b, &src_owned, &prefix, keep_owner, follow)?;
            b.finish()?;
        }
        Ok(counter.n)
    });
    let uploaded = upload(client, name, &dir, Box::new(reader));
    let size = producer
        .join()
        .map_err(|_| CliError::new("archiving thread failed"))?;
    uploaded?;
    let size = size.map_err(|e| CliError::new(format!("archiving {src}: {e}")))?;
    if !a.quiet {
        eprintln!(
            "Successfully copied {} to {name}:{dest}",
            human_size(size as f64, 3)
        );
    }
    Ok(0)
}

fn parent_in_container(p: &str) -> String {
    match p.trim_end_matches('/').rsplit_once('/') {
        Some(("", _)) | None => "/".to_string(),
        Some((parent, _)) => parent.to_string(),
    }
}

fn upload(
    client: &Client,
    name: &str,
    dir: &str,
    body: Box<dyn Read + Send>,
) -> Result<(), CliError> {
    let target = Query::new()
        .set("path", dir)
        .to_target(&super::cpath(name, "archive"));
    client
        .call("PUT", &target, &[], Body::Stream(body, "application/x-tar"))?
        .bytes()?;
    Ok(())
}

struct CountingWriter<W> {
    inner: W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Adds `path` (recursively) under the archive name `name`. Symlinks stay links except a
/// top-level one with -L. Owners become root unless `keep_owner` (-a).
fn add_path<W: Write>(
    b: &mut tar::Builder<W>,
    path: &Path,
    name: &Path,
    keep_owner: bool,
    follow_top: bool,
) -> io::Result<()> {
    let meta = if follow_top {
        fs::metadata(path)?
    } else {
        fs::symlink_metadata(path)?
    };
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    if !keep_owner {
        header.set_uid(0);
        header.set_gid(0);
        let _ = header.set_username("");
        let _ = header.set_groupname("");
    }
    let ft = meta.file_type();
    if ft.is_dir() {
        if !name.as_os_str().is_empty() {
            header.set_size(0);
            b.append_data(&mut header, name, io::empty())?;
        }
        let mut children: Vec<_> = fs::read_dir(path)?.collect::<Result<_, _>>()?;
        children.sort_by_key(|e| e.file_name());
        for child in children {
            add_path(
                b,
                &child.path(),
                &name.join(child.file_name()),
                keep_owner,
                false,
            )?;
        }
    } else if ft.is_symlink() {
        let target = fs::read_link(path)?;
        header.set_size(0);
        b.append_link(&mut header, name, target)?;
    } else if ft.is_file() {
        let f = fs::File::open(path)?;
        b.append_data(&mut header, name, f)?;
    } else {
        // Devices, fifos and sockets keep their header only.
        header.set_size(0);
        b.append_data(&mut header, name, io::empty())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_arguments_like_docker() {
        assert!(
            matches!(split_arg("web:/etc/hosts"), Side::Container { ref name, ref path } if name == "web" && path == "/etc/hosts")
        );
        assert!(matches!(split_arg("./a:b"), Side::Local(_)));
        assert!(matches!(split_arg("/abs:x"), Side::Local(_)));
        assert!(matches!(split_arg("plain"), Side::Local(_)));
    }

    #[test]
    fn entries_are_renamed_and_confined() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            map_entry(&p("etc/hosts"), "etc", Some("conf")).unwrap(),
            Some(p("conf/hosts"))
        );
        assert_eq!(
            map_entry(&p("etc/hosts"), "etc", Some("")).unwrap(),
            Some(p("hosts"))
        );
        assert_eq!(map_entry(&p("etc"), "etc", Some("")).unwrap(), None);
        assert_eq!(
            map_entry(&p("./etc/x"), "etc", None).unwrap(),
            Some(p("etc/x"))
        );
        assert!(map_entry(&p("../evil"), "etc", None).is_err());
        assert!(map_entry(&p("/abs"), "etc", None).is_err());
    }

    fn tar_with(entries: &[(&str, tar::EntryType, &str)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            if *kind == tar::EntryType::Symlink {
                h.set_size(0);
                b.append_link(&mut h, name, data).unwrap();
            } else {
                h.set_size(data.len() as u64);
                b.append_data(&mut h, name, data.as_bytes()).unwrap();
            }
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn a_symlink_in_the_archive_cannot_redirect_later_entries() {
        let outside = tempfile::tempdir().unwrap();
        let dest = tempfile::tempdir().unwrap();
        let archive = tar_with(&[
            ("d", tar::EntryType::Directory, ""),
            (
                "d/link",
                tar::EntryType::Symlink,
                outside.path().to_str().unwrap(),
            ),
            ("d/link/pwned", tar::EntryType::Regular, "x"),
        ]);
        let err = extract(&archive[..], dest.path(), "d", None, false).unwrap_err();
        assert!(err.to_string().contains("links outside"), "{err}");
        assert!(!outside.path().join("pwned").exists());
    }

    #[test]
    fn extracts_with_rename() {
        let dest = tempfile::tempdir().unwrap();
        let archive = tar_with(&[
            ("d", tar::EntryType::Directory, ""),
            ("d/f", tar::EntryType::Regular, "hello"),
        ]);
        extract(&archive[..], dest.path(), "d", Some("copy"), false).unwrap();
        assert_eq!(
            fs::read_to_string(dest.path().join("copy/f")).unwrap(),
            "hello"
        );
    }
}
