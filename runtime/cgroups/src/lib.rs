//! A container's cgroup: created and limited before the container runs anything, frozen and
//! thawed, read for stats, emptied and removed on delete. Works on cgroup v1 (including the
//! hybrid layout where cgroup2 holds only a few controllers) and on pure cgroup v2.
//!
//! API contract (shared by berth-runtime and shimd); the bodies are being written.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cgroup {path}: {msg}")]
    Cgroup { path: String, msg: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A container's cgroup, named by the OCI `linux.cgroupsPath` (or a default from the id).
pub struct Cgroup {
    path: PathBuf,
}

/// Resource usage in the shape of runc's `events --stats` "data" object.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    #[serde(default)]
    pub cpu: serde_json::Value,
    #[serde(default)]
    pub memory: serde_json::Value,
    #[serde(default)]
    pub pids: serde_json::Value,
    #[serde(default)]
    pub blkio: serde_json::Value,
}

impl Cgroup {
    /// The cgroup for `cgroups_path` (absolute: from each hierarchy's root; relative: under
    /// the runtime's own cgroup; None: `/berth/<id>`). Nothing is created yet.
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let path = match cgroups_path {
            Some(p) => p.to_path_buf(),
            None => PathBuf::from("/berth").join(id),
        };
        Ok(Cgroup { path })
    }

    /// The cgroup path relative to each hierarchy root (what the runtime stores in state).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the cgroup, applies the limits and moves `pid` into it.
    pub fn create(
        &self,
        _pid: i32,
        _resources: Option<&oci_spec::runtime::LinuxResources>,
    ) -> Result<()> {
        unimplemented!("berth-cgroups: create")
    }

    /// Changes the limits of an existing cgroup (`update`).
    pub fn update(&self, _resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        unimplemented!("berth-cgroups: update")
    }

    /// Adds a process (exec) to the cgroup.
    pub fn add_process(&self, _pid: i32) -> Result<()> {
        unimplemented!("berth-cgroups: add_process")
    }

    pub fn freeze(&self) -> Result<()> {
        unimplemented!("berth-cgroups: freeze")
    }

    pub fn thaw(&self) -> Result<()> {
        unimplemented!("berth-cgroups: thaw")
    }

    pub fn is_frozen(&self) -> Result<bool> {
        unimplemented!("berth-cgroups: is_frozen")
    }

    /// Every pid in the cgroup (and its descendants).
    pub fn pids(&self) -> Result<Vec<i32>> {
        unimplemented!("berth-cgroups: pids")
    }

    pub fn stats(&self) -> Result<Stats> {
        unimplemented!("berth-cgroups: stats")
    }

    /// How many times the OOM killer killed a process of this cgroup.
    pub fn oom_kill_count(&self) -> Result<u64> {
        unimplemented!("berth-cgroups: oom_kill_count")
    }

    /// Sends `signal` to every process in the cgroup (frozen first so none escapes by forking).
    pub fn signal_all(&self, _signal: nix::sys::signal::Signal) -> Result<()> {
        unimplemented!("berth-cgroups: signal_all")
    }

    /// Removes the cgroup (it must be empty) and the parents this runtime created for it.
    pub fn destroy(&self) -> Result<()> {
        unimplemented!("berth-cgroups: destroy")
    }
}
