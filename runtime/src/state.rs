//! The runtime's record of a container: `<root>/<id>/` holds `state.json` (init's pid and
//! start time, bundle, cgroup, ...), `config.json` (the spec as created, for exec and
//! delete) and, while the container is "created", the `exec.fifo` init waits on.
//!
//! Liveness is judged from init's pid *and* its start time (field 22 of /proc/PID/stat):
//! a recycled pid or a zombie means "stopped", so a stranger is never signalled.

use crate::error::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const CONFIG_FILE: &str = "config.json";
pub const FIFO: &str = "exec.fifo";

#[derive(Serialize, Deserialize, Debug, Clone)]
pub struct State {
    pub id: String,
    pub pid: i32,
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    pub cgroup_path: PathBuf,
    /// Whether init has a PID namespace of its own (if not, `kill`/`delete` must signal
    /// every process of the cgroup).
    pub own_pid_ns: bool,
    /// Whether the container runs in a user namespace it owns (exec joins it).
    #[serde(default)]
    pub own_user_ns: bool,
    #[serde(default)]
    pub systemd_cgroup: bool,
    /// The cgroup as `create` made it (its directory per hierarchy and the parents made for
    /// it), so later commands use the same directories and `delete` removes those parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<berth_cgroups::Cgroup>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Status {
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Container ids become directory and cgroup names: keep them to a safe alphabet.
pub fn validate_id(id: &str) -> Result<()> {
    if id.is_empty() {
        bail!("container id is empty");
    }
    if id.len() > 1024
        || id == "."
        || id == ".."
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b))
    {
        bail!("invalid container id {id:?}: use letters, digits and _ + - . only");
    }
    Ok(())
}

/// The runtime's state root, created root-only (0700) on first use.
pub fn ensure_root(root: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .with_ctx(|| format!("state root {}", root.display()))
}

pub fn dir(root: &Path, id: &str) -> PathBuf {
    root.join(id)
}

/// Reads a container's state; a missing directory is "container does not exist".
pub fn load(root: &Path, id: &str) -> Result<State> {
    validate_id(id)?;
    let path = dir(root, id).join(STATE_FILE);
    let data = match std::fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("container {id} does not exist")
        }
        Err(e) => bail!("container {id}: reading {}: {e}", path.display()),
    };
    serde_json::from_slice(&data).with_ctx(|| format!("container {id}: corrupt state file"))
}

/// Writes `data` to `path` atomically (temporary file, fsync-free rename), mode 0600 or 0644.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .with_ctx(|| format!("writing {}", tmp.display()))?;
    f.write_all(data)
        .with_ctx(|| format!("writing {}", tmp.display()))?;
    drop(f);
    std::fs::rename(&tmp, path).with_ctx(|| format!("renaming into {}", path.display()))
}

impl State {
    pub fn save(&self, root: &Path) -> Result<()> {
        let data = serde_json::to_vec(self).expect("state serializes");
        write_atomic(&dir(root, &self.id).join(STATE_FILE), &data, 0o600)
    }

    pub fn dir(&self, root: &Path) -> PathBuf {
        dir(root, &self.id)
    }

    /// Whether init (this pid with this start time) still lives and is not a zombie.
    pub fn init_alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    pub fn status(&self, root: &Path) -> Status {
        if !self.init_alive() {
            return Status::Stopped;
        }
        if self.dir(root).join(FIFO).exists() {
            return Status::Created;
        }
        match self
            .cgroup()
            .and_then(|c| c.is_frozen().map_err(|e| e.to_string().into()))
        {
            Ok(true) => Status::Paused,
            _ => Status::Running,
        }
    }

    pub fn cgroup(&self) -> Result<berth_cgroups::Cgroup> {
        if let Some(cg) = &self.cgroup {
            return Ok(cg.clone());
        }
        berth_cgroups::Cgroup::new(Some(&self.cgroup_path), &self.id)
            .map_err(|e| format!("container {}: {e}", self.id).into())
    }

    /// The spec the container was created with.
    pub fn spec(&self, root: &Path) -> Result<oci_spec::runtime::Spec> {
        let p = self.dir(root).join(CONFIG_FILE);
        let data =
            std::fs::read(&p).with_ctx(|| format!("container {}: reading its config", self.id))?;
        serde_json::from_slice(&data).with_ctx(|| format!("container {}: corrupt config", self.id))
    }

    /// The OCI state document (runc's shape: the spec's fields plus rootfs/created/owner).
    pub fn oci_json(&self, status: Status) -> serde_json::Value {
        let pid = if status == Status::Stopped {
            0
        } else {
            self.pid
        };
        let mut v = serde_json::json!({
            "ociVersion": "1.0.2",
            "id": self.id,
            "pid": pid,
            "status": status.as_str(),
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::json!(self.annotations);
        }
        v
    }
}

/// The state letter and start time (clock ticks since boot) of a process, if it exists.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    if pid <= 0 {
        return None;
    }
    let data = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    let data = String::from_utf8_lossy(&data);
    // The command name may contain spaces and parentheses: fields resume after the last ')'.
    let rest = &data[data.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // `state` is field 3; the start time is field 22.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Every container id under the state root.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    let rd = match std::fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => bail!("state root {}: {e}", root.display()),
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(STATE_FILE).exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(validate_id("web-1_a.b+c").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "x\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn own_stat() {
        // The main thread of the test harness is running or waiting for the test threads.
        let (state, start) = proc_stat(std::process::id() as i32).unwrap();
        assert!(state == 'R' || state == 'S', "{state}");
        assert!(start > 0);
        assert!(proc_stat(0).is_none());
    }

    fn sample(id: &str) -> State {
        State {
            id: id.into(),
            pid: 0,
            start_time: 0,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-01-01T00:00:00Z".into(),
            owner: "root".into(),
            annotations: [("k".to_string(), "v".to_string())].into(),
            cgroup_path: "/berth/x".into(),
            own_pid_ns: true,
            own_user_ns: false,
            systemd_cgroup: false,
            cgroup: None,
        }
    }

    #[test]
    fn saved_state_loads_back_and_ids_are_listed_sorted() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("root");
        ensure_root(&root).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&root).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        for id in ["b", "a"] {
            std::fs::create_dir(dir(&root, id)).unwrap();
            sample(id).save(&root).unwrap();
        }
        // a directory without state (half created) is not listed
        std::fs::create_dir(dir(&root, "c")).unwrap();
        assert_eq!(list_ids(&root).unwrap(), ["a", "b"]);
        let st = load(&root, "a").unwrap();
        assert_eq!(st.cgroup_path, PathBuf::from("/berth/x"));
        assert_eq!(st.annotations["k"], "v");
        assert_eq!(
            load(&root, "zz").unwrap_err().0,
            "container zz does not exist"
        );
        assert!(load(&root, "../x").is_err());
        std::fs::write(dir(&root, "b").join(STATE_FILE), "{").unwrap();
        assert!(load(&root, "b")
            .unwrap_err()
            .0
            .starts_with("container b: corrupt state file"));
        assert!(list_ids(&d.path().join("none")).unwrap().is_empty());
    }

    #[test]
    fn a_dead_init_is_stopped_and_shows_pid_zero() {
        let st = sample("x");
        assert!(!st.init_alive());
        assert_eq!(st.status(Path::new("/nonexistent")), Status::Stopped);
        let v = st.oci_json(Status::Stopped);
        assert_eq!(v["pid"], 0);
        assert_eq!(v["status"], "stopped");
        assert_eq!(v["annotations"]["k"], "v");
        assert_eq!(v["ociVersion"], "1.0.2");
        // a live pid with another start time is a stranger: stopped too
        let mut st = sample("y");
        st.pid = std::process::id() as i32;
        st.start_time = 1;
        assert!(!st.init_alive());
        st.start_time = proc_stat(st.pid).unwrap().1;
        assert!(st.init_alive());
        assert_eq!(st.oci_json(Status::Running)["pid"], st.pid);
    }

    #[test]
    fn atomic_writes_replace_and_set_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("pid");
        write_atomic(&p, b"1", 0o644).unwrap();
        write_atomic(&p, b"22", 0o644).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "22");
        assert!(!p.with_extension("tmp").exists());
        let e = write_atomic(&d.path().join("no/such/dir"), b"", 0o600).unwrap_err();
        assert!(e.0.starts_with("writing "), "{e}");
    }
}
