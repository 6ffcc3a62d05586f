//! The build context: the request body (a tar, plain or compressed: see
//! [`super::compress`]) unpacked into a private directory of the data root with the
//! project's safe extraction (nothing lands outside it), then `.dockerignore` applied as dockerd applies it: what it excludes is removed
//! before any instruction can see it. Paths are only ever resolved inside the context.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use berth_build::ignore::Matcher;
use berth_fs::InRoot;
use berth_gocompat::{glob, path as gopath};

use crate::archive::{self, ExtractOptions};
use crate::error::{Error, Result};

/// An unpacked context; removed when dropped.
pub struct Context {
    dir: tempfile::TempDir,
    root: OwnedFd,
}

impl Context {
    /// Unpacks `input` below `under` (created as needed). Blocking.
    pub fn unpack<R: Read + Send + 'static>(input: R, under: &Path) -> Result<Context> {
        std::fs::create_dir_all(under)
            .map_err(|e| Error::internal(format!("creating {}: {e}", under.display())))?;
        let dir = tempfile::Builder::new()
            .prefix("context-")
            .tempdir_in(under)
            .map_err(|e| Error::internal(format!("creating a context directory: {e}")))?;
        let root = berth_fs::open_root(dir.path()).map_err(|e| Error::internal(e.to_string()))?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: false,
            copy_uid_gid: true,
        };
        archive::extract(
            root.as_fd(),
            "/",
            super::compress::decompressed(input)?,
            &opts,
        )
        .map_err(|e| {
            Error::invalid(format!(
                "the build context is not a valid tar archive: {}",
                e.message
            ))
        })?;
        Ok(Context { dir, root })
    }

    pub fn root(&self) -> &OwnedFd {
        &self.root
    }

    /// The directory (for walking it without following links).
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A regular file of the context, read through the context's root.
    pub fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        let fd = InRoot::new(self.root.as_fd())
            .open(Path::new(name), libc::O_RDONLY, 0)
            .ok()?;
        let mut f = std::fs::File::from(fd);
        let mut v = Vec::new();
        f.read_to_end(&mut v).ok()?;
        Some(v)
    }

    /// The Dockerfile, in dockerd's words when it is missing.
    pub fn dockerfile(&self, name: &str) -> Result<Vec<u8>> {
        self.read_file(name)
            .ok_or_else(|| Error::invalid(format!("Cannot locate specified Dockerfile: {name}")))
    }

    /// Removes what `.dockerignore` excludes (the file itself and the Dockerfile too,
    /// when excluded: they were read already).
    pub fn apply_dockerignore(&self) -> Result<()> {
        let Some(text) = self.read_file(".dockerignore") else {
            return Ok(());
        };
        let m = Matcher::from_dockerignore(&String::from_utf8_lossy(&text))
            .map_err(|e| Error::invalid(format!("parsing .dockerignore: {e}")))?;
        prune(self.path(), "", &m)
    }

    /// Every path of the context (relative, with `/`), depth first, links not followed.
    pub fn walk(&self) -> Vec<String> {
        let mut out = Vec::new();
        walk_into(self.path(), "", &mut out);
        out
    }

    /// The context paths a COPY/ADD source names: itself, or what its pattern matches.
    /// Sources reaching above the context are refused with dockerd's text.
    pub fn sources(&self, instruction: &str, src: &str) -> Result<Vec<String>> {
        let clean = gopath::clean(src.trim_start_matches('/'));
        if clean == ".." || clean.starts_with("../") {
            return Err(Error::invalid(format!(
                "{instruction} failed: forbidden path outside the build context: {src} ()"
            )));
        }
        if glob::contains_wildcards(&clean) {
            let mut found = Vec::new();
            for p in self.walk() {
                match glob::matches(&clean, &p) {
                    Ok(true) => found.push(p),
                    Ok(false) => {}
                    Err(_) => {
                        return Err(Error::invalid(format!(
                            "{instruction} failed: invalid pattern {src:?}"
                        )))
                    }
                }
            }
            if found.is_empty() {
                return Err(Error::invalid(format!(
                    "{instruction} failed: no source files were specified"
                )));
            }
            return Ok(found);
        }
        let exists = archive::locate(self.root.as_fd(), &format!("/{clean}")).is_ok();
        if !exists {
            return Err(Error::invalid(format!(
                "{instruction} failed: file not found in build context or excluded by .dockerignore: stat {clean}: file does not exist"
            )));
        }
        Ok(vec![clean])
    }
}

/// Removes the contexts a berthd that died during a build left below `under` (called at
/// start-up, when no build runs).
pub fn remove_stale(under: &Path) {
    let Ok(rd) = std::fs::read_dir(under) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with("context-") {
            if let Err(err) = std::fs::remove_dir_all(e.path()) {
                tracing::warn!(
                    "removing the stale build context {}: {err}",
                    e.path().display()
                );
            }
        }
    }
}

fn walk_into(dir: &Path, rel: &str, out: &mut Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<_> = rd.flatten().collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        out.push(r.clone());
        if is_dir {
            walk_into(&e.path(), &r, out);
        }
    }
}

/// Removes the excluded entries below `dir` (`rel` is its context path).
fn prune(dir: &Path, rel: &str, m: &Matcher) -> Result<()> {
    let rd = std::fs::read_dir(dir)
        .map_err(|e| Error::internal(format!("reading {}: {e}", dir.display())))?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let r = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let path: PathBuf = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let excluded = m.matches(&r);
        let gone = if is_dir {
            if excluded && !m.has_exceptions() {
                std::fs::remove_dir_all(&path)
            } else {
                prune(&path, &r, m)?;
                if excluded {
                    // Kept only for what an exception re-includes below it.
                    let _ = std::fs::remove_dir(&path);
                }
                Ok(())
            }
        } else if excluded {
            std::fs::remove_file(&path)
        } else {
            Ok(())
        };
        gone.map_err(|e| Error::internal(format!("removing {}: {e}", path.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(files: &[(&str, &str)]) -> Context {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            b.append_data(&mut h, name, data.as_bytes()).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let under = tempfile::tempdir().unwrap();
        let c = Context::unpack(std::io::Cursor::new(tar), under.path()).unwrap();
        std::mem::forget(under);
        c
    }

    #[test]
    fn dockerignore_removes_what_it_excludes() {
        let c = context(&[
            ("Dockerfile", "FROM x"),
            (".dockerignore", "secret.txt\n*.log\nd\n!d/keep\n"),
            ("secret.txt", "s"),
            ("a.log", "l"),
            ("d/x", "x"),
            ("d/keep", "k"),
            ("ok", "o"),
        ]);
        c.apply_dockerignore().unwrap();
        assert_eq!(
            c.walk(),
            [".dockerignore", "Dockerfile", "d", "d/keep", "ok"]
        );
    }

    #[test]
    fn stale_contexts_are_removed() {
        let under = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(under.path().join("context-x/a")).unwrap();
        std::fs::create_dir_all(under.path().join("other")).unwrap();
        remove_stale(under.path());
        assert!(!under.path().join("context-x").exists());
        assert!(under.path().join("other").exists());
    }

    #[test]
    fn sources_stay_in_the_context() {
        let c = context(&[("a/b.txt", "1"), ("a/c.txt", "2"), ("top", "3")]);
        assert_eq!(
            c.sources("COPY", "a/*.txt").unwrap(),
            ["a/b.txt", "a/c.txt"]
        );
        assert_eq!(c.sources("COPY", "/top").unwrap(), ["top"]);
        let e = c.sources("COPY", "../x").unwrap_err();
        assert_eq!(
            e.message,
            "COPY failed: forbidden path outside the build context: ../x ()"
        );
        let e = c.sources("ADD", "nope").unwrap_err();
        assert!(
            e.message.contains("file not found in build context"),
            "{}",
            e.message
        );
        assert!(c.sources("COPY", "*.none").is_err());
    }
}
