//! Gates: files a container waits for before it takes its next step, created by the test
//! when it wants that step to happen. A container whose life is paced by gates instead of
//! `sleep N` does each thing a test checks after the test is ready for it, however slowly
//! a loaded machine runs either of them.

use std::path::{Path, PathBuf};

/// Where a gate directory is bind-mounted in a container (`Gate::volume`).
const INSIDE: &str = "/gate";

/// A directory of gates: on the host a temporary directory, in a container `/gate` (with
/// `-v`, see [`Gate::volume`]); or the container's own rootfs ([`Gate::in_rootfs`]).
pub struct Gate {
    host: PathBuf,
    inside: &'static str,
    _dir: Option<tempfile::TempDir>,
}

impl Gate {
    /// A new directory of gates, to be bind-mounted with [`Gate::volume`].
    pub fn new() -> Gate {
        let dir = tempfile::Builder::new()
            .prefix("gate-")
            .tempdir_in("/tmp")
            .expect("create a gate directory");
        Gate {
            host: dir.path().to_path_buf(),
            inside: INSIDE,
            _dir: Some(dir),
        }
    }

    /// Gates at the root of a container's rootfs, `rootfs` as the host sees it (e.g. a
    /// task's mounted `rootfs/`): nothing to mount, the container sees `/<name>`.
    pub fn in_rootfs(rootfs: &Path) -> Gate {
        Gate {
            host: rootfs.to_path_buf(),
            inside: "",
            _dir: None,
        }
    }

    /// The `-v` argument of `docker run` that shows these gates to the container.
    pub fn volume(&self) -> String {
        format!("{}:{INSIDE}", self.host.display())
    }

    /// Gate `name` as the container sees it, for scripts that do more while they wait.
    pub fn inside(&self, name: &str) -> String {
        format!("{}/{name}", self.inside)
    }

    /// A shell command (busybox sh) that returns once gate `name` is open.
    pub fn wait(&self, name: &str) -> String {
        format!("until [ -e {} ]; do sleep 0.05; done", self.inside(name))
    }

    /// Opens gate `name`: the containers waiting for it go on.
    pub fn open(&self, name: &str) {
        let p = self.host.join(name);
        std::fs::write(&p, b"").unwrap_or_else(|e| panic!("opening gate {}: {e}", p.display()));
    }
}

impl Default for Gate {
    fn default() -> Self {
        Self::new()
    }
}
