//! A task's directory under shimd's state: `<state>/<namespace>/<container id>/`, the OCI
//! bundle and everything the task's shim keeps.
//!
//! ```text
//! config.json   the OCI spec, root.path = this dir's rootfs
//! rootfs/       the container's root filesystem (mounted by shimd)
//! task.json     what shimd needs to find the task again after a restart
//! shim.sock     the shim's socket;  shim.pid  its pid;  shim.log  its diagnostics
//! init.pid      written by the runtime;  runtime.log  the runtime's log (JSON lines)
//! exit          the init process's exit status, written by the shim before it reports it
//! log.json*     the container's log (unless the client chose another path), kept when the
//!               task is deleted and removed with the container
//! ```
//! The runtime's own state root for a namespace is `<state>/<namespace>/.runtime` (a name
//! no container id can take).

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const CONFIG_FILE: &str = "config.json";
pub const TASK_FILE: &str = "task.json";
pub const EXIT_FILE: &str = "exit";
pub const DEFAULT_LOG: &str = "log.json";
pub const RUNTIME_ROOT: &str = ".runtime";

/// What shimd records about a task, enough to reconnect to (or clean up after) its shim.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TaskInfo {
    pub runtime: String,
    /// Global runtime options, `--root` first.
    pub runtime_options: Vec<String>,
    pub socket: PathBuf,
    pub shim_pid: u32,
    pub pid: u32,
    pub terminal: bool,
    pub stdin: bool,
    pub log_path: Option<PathBuf>,
    pub cgroups_path: Option<String>,
    /// Unix nanoseconds.
    pub created_at: i64,
}

pub fn task_dir(state: &Path, ns: &str, id: &str) -> PathBuf {
    state.join(ns).join(id)
}

pub fn runtime_root(state: &Path, ns: &str) -> PathBuf {
    state.join(ns).join(RUNTIME_ROOT)
}

pub fn make_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Writes a file atomically (temp file, fsync, rename).
pub fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

pub fn save_info(dir: &Path, info: &TaskInfo) -> std::io::Result<()> {
    let data = serde_json::to_vec_pretty(info).map_err(std::io::Error::other)?;
    write_atomic(&dir.join(TASK_FILE), &data)
}

pub fn load_info(dir: &Path) -> std::io::Result<TaskInfo> {
    let data = std::fs::read(dir.join(TASK_FILE))?;
    serde_json::from_slice(&data).map_err(std::io::Error::other)
}

/// The `process.user` of the bundle's spec: the init process's identity as shimd resolved
/// it when the task was created (exec processes without a user of their own get it too).
pub fn init_user(dir: &Path) -> std::io::Result<oci_spec::runtime::User> {
    let data = std::fs::read(dir.join(CONFIG_FILE))?;
    let spec =
        super::oci::spec(&data).map_err(|e| std::io::Error::other(format!("config.json {e}")))?;
    spec.process()
        .as_ref()
        .map(|p| p.user().clone())
        .ok_or_else(|| std::io::Error::other("config.json has no process"))
}

/// The exit the shim recorded: (status, exited at in Unix ns).
pub fn read_exit_file(dir: &Path) -> Option<(u32, i64)> {
    let text = std::fs::read_to_string(dir.join(EXIT_FILE)).ok()?;
    let mut it = text.split_whitespace();
    let status = it.next()?.parse().ok()?;
    let at = it.next()?.parse().ok()?;
    Some((status, at))
}

/// Is `name` one of the container's log files (`log.json`, `log.json.1`, ...)?
fn is_log_file(name: &str) -> bool {
    name == DEFAULT_LOG
        || name
            .strip_prefix(DEFAULT_LOG)
            .and_then(|r| r.strip_prefix('.'))
            .is_some_and(|n| n.parse::<u32>().is_ok())
}

/// Removes everything of a deleted task but the container's log files; the directory
/// itself goes when nothing is left. The rootfs must be unmounted already.
pub fn clear_task_dir(dir: &Path) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut kept = false;
    for e in entries {
        let e = e?;
        let name = e.file_name();
        if is_log_file(&name.to_string_lossy()) {
            kept = true;
            continue;
        }
        let p = e.path();
        if e.file_type()?.is_dir() {
            // Only the rootfs mount point lives here; remove_dir refuses if it is still
            // mounted (EBUSY) or not empty, so nothing under a live mount is ever deleted.
            std::fs::remove_dir(&p)?;
        } else {
            std::fs::remove_file(&p)?;
        }
    }
    if !kept {
        std::fs::remove_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_files_are_recognised() {
        assert!(is_log_file("log.json"));
        assert!(is_log_file("log.json.3"));
        assert!(!is_log_file("log.json.tmp"));
        assert!(!is_log_file("config.json"));
    }

    #[test]
    fn clearing_keeps_logs_and_refuses_full_dirs() {
        let d = tempfile::tempdir().unwrap();
        let t = d.path().join("t");
        std::fs::create_dir_all(t.join("rootfs")).unwrap();
        for f in ["config.json", "task.json", "exit", "log.json", "log.json.1"] {
            std::fs::write(t.join(f), "x").unwrap();
        }
        clear_task_dir(&t).unwrap();
        let mut left: Vec<_> = std::fs::read_dir(&t)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, vec!["log.json", "log.json.1"]);

        let u = d.path().join("u");
        std::fs::create_dir_all(u.join("rootfs/bin")).unwrap();
        assert!(
            clear_task_dir(&u).is_err(),
            "a non-empty rootfs is never deleted"
        );
        assert!(u.join("rootfs/bin").exists());
    }

    #[test]
    fn the_init_user_is_read_from_the_bundle() {
        let d = tempfile::tempdir().unwrap();
        assert!(init_user(d.path()).is_err(), "no config.json");
        let mut spec = berth_spec::default_spec("ns", "id");
        let mut u = oci_spec::runtime::User::default();
        u.set_uid(7).set_gid(8).set_additional_gids(Some(vec![9]));
        spec.process_mut().as_mut().unwrap().set_user(u.clone());
        std::fs::write(
            d.path().join(CONFIG_FILE),
            serde_json::to_vec(&spec).unwrap(),
        )
        .unwrap();
        assert_eq!(init_user(d.path()).unwrap(), u);
        std::fs::write(d.path().join(CONFIG_FILE), "{}").unwrap();
        let e = init_user(d.path()).unwrap_err().to_string();
        assert_eq!(e, "config.json has no process");
    }

    #[test]
    fn exit_file_parses() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_exit_file(d.path()), None);
        std::fs::write(d.path().join(EXIT_FILE), "137 1700000000 42\n").unwrap();
        assert_eq!(read_exit_file(d.path()), Some((137, 1_700_000_000)));
    }
}
