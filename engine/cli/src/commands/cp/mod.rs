//! `cp`: copy files between a container and this machine as tar streams through
//! `/containers/{id}/archive`, with docker's rules for files, directories, `DIR/.` and
//! missing destinations.

pub(super) mod archive;
mod extract;

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use archive::{add_path, CountingWriter};
use extract::extract;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use berth_api::container::{go_mode, PathStat as ContainerPathStat};

use crate::cli::CpArgs;
use crate::client::http::{Body, Query};
use crate::client::{error_from, Client};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use berth_gocompat::units::human_size_with_precision;

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
            human_size_with_precision(counted.n as f64, 3)
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
            human_size_with_precision(size as f64, 3)
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

#[cfg(test)]
mod tests {
    use super::extract::{extract, map_entry};
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
