//! A fresh directory per fuzz input, and the check that nothing was created outside it.
//!
//! Each [`Sandbox`] is `<box>/root` inside a directory private to the fuzzing process: the
//! code under test writes below `root` only. After the input ran, [`Sandbox::check`]
//! asserts that `<box>` still holds `root` alone and that the private directory holds
//! `<box>` alone (a `..` or a symlink followed out of `root` would land there first), and
//! that the host's `/` gained no entry. Dropping the sandbox removes it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Names of the entries of `dir` (empty when it cannot be read).
fn names(dir: &Path) -> BTreeSet<OsString> {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.file_name())).collect())
        .unwrap_or_default()
}

/// The process's private directory and the entries of `/` when fuzzing started.
struct Base {
    dir: tempfile::TempDir,
    host_root: BTreeSet<OsString>,
}

fn base() -> &'static Base {
    static BASE: OnceLock<Base> = OnceLock::new();
    BASE.get_or_init(|| Base {
        dir: tempfile::Builder::new()
            .prefix("berth-fuzz.")
            .tempdir()
            .expect("making the fuzzing directory"),
        host_root: names(Path::new("/")),
    })
}

/// One input's directory: write below [`Sandbox::root`].
pub struct Sandbox {
    outer: PathBuf,
    root: PathBuf,
}

impl Sandbox {
    /// Makes `<private dir>/box/root`, empty.
    pub fn new() -> Sandbox {
        let outer = base().dir.path().join("box");
        let root = outer.join("root");
        std::fs::create_dir_all(&root).expect("making the sandbox");
        Sandbox { outer, root }
    }

    /// Where the code under test may write.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Panics (a finding) when anything was created outside [`Sandbox::root`].
    pub fn check(&self) {
        let b = base();
        let only = |dir: &Path, name: &str| {
            let found = names(dir);
            assert!(
                found.len() == 1 && found.contains(&OsString::from(name)),
                "created outside the target directory: {} holds {found:?}",
                dir.display()
            );
        };
        only(b.dir.path(), "box");
        only(&self.outer, "root");
        let host = names(Path::new("/"));
        let new: Vec<_> = host.difference(&b.host_root).collect();
        assert!(new.is_empty(), "created in the host's /: {new:?}");
    }
}

impl Default for Sandbox {
    fn default() -> Self {
        Sandbox::new()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Without root, entries that lost their write or search permission need it back.
        let removed = std::fs::remove_dir_all(&self.outer).or_else(|_| {
            make_removable(&self.outer);
            std::fs::remove_dir_all(&self.outer)
        });
        if let Err(e) = removed {
            if !std::thread::panicking() {
                panic!("removing {}: {e}", self.outer.display());
            }
        }
    }
}

/// Gives every directory below `dir` (not following symlinks) owner rwx.
fn make_removable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return;
    };
    if !meta.is_dir() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o700 != 0o700 {
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode | 0o700));
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            make_removable(&e.path());
        }
    }
}
