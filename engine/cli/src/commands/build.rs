//! `berth build` (docker's classic `docker build`) and `berth builder prune`.
//!
//! The context goes to `POST /build` as a tar: a directory is packed (owners become
//! root, as docker packs it; the daemon applies `.dockerignore`), `-` reads stdin (an
//! archive as it is, or a Dockerfile alone, put in a tar), and an `http://` URL is
//! left to the daemon to fetch (`remote=`). A Dockerfile given with `-f` outside the
//! context directory travels in the tar under a name of its own. The daemon's JSON lines
//! are printed as docker prints them: the `stream` text as it comes; an `error` ends the
//! command with exit code 1 and its text.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::prune::{confirm, finish, list_deleted};
use crate::cli::{BuildArgs, BuilderPruneArgs};
use crate::client::http::{Body, Query};
use crate::client::jsonlines;
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};

/// The context as it goes to the daemon.
enum Source {
    /// A tar to send, with the Dockerfile's name in it.
    Tar(Vec<u8>, String),
    /// A URL the daemon fetches.
    Remote(String),
}

fn read_error(what: &str, e: io::Error) -> CliError {
    CliError::new(format!("reading {what}: {e}"))
}

/// Whether `head` starts an archive (tar, gzip, bzip2, xz), as docker's CLI tells it.
fn is_archive(head: &[u8]) -> bool {
    let compressed: [&[u8]; 3] = [&[0x1f, 0x8b], b"BZh", &[0xfd, b'7', b'z', b'X', b'Z', 0]];
    compressed.iter().any(|m| head.starts_with(m)) || head.get(257..262) == Some(b"ustar")
}

/// A tar holding one regular file.
fn single_file_tar(name: &str, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    append_file(&mut b, name, data)?;
    b.into_inner()
}

fn append_file<W: Write>(b: &mut tar::Builder<W>, name: &str, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(data.len() as u64);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    );
    h.set_cksum();
    b.append_data(&mut h, name, data)
}

/// A name for a Dockerfile that comes from outside the context.
fn outside_name() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(".dockerfile.{:08x}{:08x}", std::process::id(), n)
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git://")
}

/// The Dockerfile text when `-f` names one outside `dir` (or `-`: stdin).
fn outside_dockerfile(dir: &Path, file: &str) -> Result<Option<Vec<u8>>, CliError> {
    if file == "-" {
        let mut v = Vec::new();
        io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| read_error("the Dockerfile from stdin", e))?;
        return Ok(Some(v));
    }
    let path = Path::new(file);
    let abs_dir = std::fs::canonicalize(dir)
        .map_err(|e| CliError::new(format!("unable to prepare context: {}: {e}", dir.display())))?;
    let abs_file = std::fs::canonicalize(path).map_err(|e| {
        CliError::new(format!(
            "unable to prepare context: the Dockerfile ({file}) cannot be read: {e}"
        ))
    })?;
    if abs_file.starts_with(&abs_dir) {
        return Ok(None);
    }
    std::fs::read(&abs_file)
        .map(Some)
        .map_err(|e| read_error(file, e))
}

/// The Dockerfile's name inside the context directory `dir`.
fn inside_name(dir: &Path, file: Option<&str>) -> String {
    let Some(file) = file else {
        return "Dockerfile".into();
    };
    let (Ok(d), Ok(f)) = (std::fs::canonicalize(dir), std::fs::canonicalize(file)) else {
        return file.to_string();
    };
    f.strip_prefix(&d)
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| file.to_string())
}

fn source(a: &BuildArgs) -> Result<Source, CliError> {
    let file = a.file.as_deref();
    if a.context == "-" {
        if file == Some("-") {
            return Err(CliError::new(
                "invalid argument: can't use stdin for both build context and dockerfile",
            ));
        }
        let mut input = Vec::new();
        io::stdin()
            .read_to_end(&mut input)
            .map_err(|e| read_error("the build context from stdin", e))?;
        let name = file.unwrap_or("Dockerfile").to_string();
        if is_archive(&input) {
            return Ok(Source::Tar(input, name));
        }
        let tar = single_file_tar("Dockerfile", &input)
            .map_err(|e| CliError::new(format!("packing the Dockerfile: {e}")))?;
        return Ok(Source::Tar(tar, "Dockerfile".into()));
    }
    if is_url(&a.context) {
        return Ok(Source::Remote(a.context.clone()));
    }
    let dir = PathBuf::from(&a.context);
    if !dir.is_dir() {
        return Err(CliError::new(format!(
            "unable to prepare context: path {:?} not found",
            a.context
        )));
    }
    let mut b = tar::Builder::new(Vec::new());
    super::cp::archive::add_path(&mut b, &dir, Path::new(""), false, false)
        .map_err(|e| CliError::new(format!("unable to prepare context: {e}")))?;
    let name = match file
        .map(|f| outside_dockerfile(&dir, f))
        .transpose()?
        .flatten()
    {
        Some(text) => {
            let name = outside_name();
            append_file(&mut b, &name, &text)
                .map_err(|e| CliError::new(format!("packing the Dockerfile: {e}")))?;
            name
        }
        None => inside_name(&dir, file),
    };
    let tar = b
        .into_inner()
        .map_err(|e| CliError::new(format!("unable to prepare context: {e}")))?;
    Ok(Source::Tar(tar, name))
}

/// `KEY=VALUE` pairs as a JSON object; a `KEY` alone takes the value of the client's
/// environment variable (left out when it is not set), as docker does.
fn build_args(list: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for a in list {
        match a.split_once('=') {
            Some((k, v)) => {
                m.insert(k.to_string(), Value::from(v));
            }
            None => {
                if let Ok(v) = std::env::var(a) {
                    m.insert(a.clone(), Value::from(v));
                }
            }
        }
    }
    Value::Object(m)
}

fn labels(list: &[String]) -> Value {
    let mut m = serde_json::Map::new();
    for l in list {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        m.insert(k.to_string(), Value::from(v));
    }
    Value::Object(m)
}

pub fn build(ctx: &Ctx, a: &BuildArgs) -> CmdResult {
    let src = source(a)?;
    let mut q = Query::new();
    for t in &a.tags {
        q = q.set("t", t.as_str());
    }
    q = q
        .flag("q", a.quiet)
        .flag("nocache", a.no_cache)
        .flag("pull", a.pull)
        .set("rm", if a.rm { "1" } else { "0" })
        .flag("forcerm", a.force_rm)
        .opt("target", a.target.clone())
        .opt("networkmode", a.network.clone())
        .opt("platform", a.platform.clone());
    if !a.build_args.is_empty() {
        q = q.set("buildargs", build_args(&a.build_args).to_string());
    }
    if !a.labels.is_empty() {
        q = q.set("labels", labels(&a.labels).to_string());
    }
    let body = match src {
        Source::Tar(tar, dockerfile) => {
            q = q.set("dockerfile", dockerfile);
            Body::Bytes(tar, "application/x-tar")
        }
        Source::Remote(url) => {
            q = q.set("remote", url);
            if let Some(f) = &a.file {
                q = q.set("dockerfile", f.as_str());
            }
            Body::Empty
        }
    };
    let resp = ctx
        .client()?
        .call("POST", &q.to_target("/build"), &[], body)?;
    let id = show(jsonlines::values(resp), a.quiet)?;
    if a.quiet {
        crate::output::print(&format!("{id}\n"));
    }
    if let Some(path) = &a.iidfile {
        std::fs::write(path, &id)
            .map_err(|e| CliError::new(format!("writing image ID to {}: {e}", path.display())))?;
    }
    Ok(0)
}

/// Prints the build's stream as it comes; answers the image ID (`aux.ID`; with `-q`,
/// dockerd 20.10 sends it as the only `stream` text instead).
fn show(
    lines: impl Iterator<Item = Result<Value, crate::client::ApiError>>,
    quiet: bool,
) -> Result<String, CliError> {
    let mut id = String::new();
    let mut quiet_text = String::new();
    let mut out = io::stdout().lock();
    for v in lines {
        let v = v?;
        if let Some(e) = v.get("error").and_then(Value::as_str) {
            let _ = out.flush();
            let detail = v
                .pointer("/errorDetail/message")
                .and_then(Value::as_str)
                .unwrap_or(e);
            return Err(CliError::new(detail.to_string()));
        }
        if let Some(s) = v.pointer("/aux/ID").and_then(Value::as_str) {
            id = s.to_string();
        }
        match (v.get("stream").and_then(Value::as_str), quiet) {
            (Some(text), true) => quiet_text.push_str(text),
            (Some(text), false) => {
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            (None, _) => {}
        }
    }
    if id.is_empty() {
        id = quiet_text.trim().to_string();
    }
    Ok(id)
}

/// `berth builder prune`.
pub fn prune(ctx: &Ctx, a: &BuilderPruneArgs) -> CmdResult {
    let warning = if a.all {
        "WARNING! This will remove all build cache."
    } else {
        "WARNING! This will remove all dangling build cache."
    };
    if !a.force && !confirm(warning) {
        return Ok(0);
    }
    let target = Query::new()
        .flag("all", a.all)
        .opt("filters", super::filters::to_json(&a.filter)?)
        .to_target("/build/prune");
    let v = ctx.client()?.post(&target, None)?;
    let mut out = String::new();
    list_deleted(&v, "CachesDeleted", "build cache objects", &mut out);
    let space = v.get("SpaceReclaimed").and_then(Value::as_u64).unwrap_or(0);
    finish(out, space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_told_from_dockerfiles() {
        assert!(is_archive(&[0x1f, 0x8b, 8]));
        assert!(is_archive(b"BZh91AY"));
        let tar = single_file_tar("Dockerfile", b"FROM busybox\n").unwrap();
        assert!(is_archive(&tar));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
    }

    #[test]
    fn build_args_take_the_environment_for_a_bare_name() {
        std::env::set_var("BERTH_BUILD_TEST_ARG", "from-env");
        let v = build_args(&[
            "A=1".into(),
            "BERTH_BUILD_TEST_ARG".into(),
            "BERTH_BUILD_TEST_UNSET".into(),
        ]);
        assert_eq!(
            v,
            serde_json::json!({"A": "1", "BERTH_BUILD_TEST_ARG": "from-env"})
        );
        assert_eq!(
            labels(&["k=v".into(), "e".into()]),
            serde_json::json!({"k": "v", "e": ""})
        );
    }
}
