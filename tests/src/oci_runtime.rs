//! Running busybox containers with berth-runtime by hand, runc-style: a config like
//! `runc spec` makes (no terminal), a private state root, and the runtime's CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

/// A container config for a busybox bundle: `args` as the process, the usual mounts and
/// namespaces, default capabilities, no terminal.
pub fn busybox_config(args: &[&str]) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": args,
            "env": ["PATH=/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "noNewPrivileges": true
        },
        "root": { "path": "rootfs" },
        "hostname": "berth",
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
              "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
            { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
              "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
            { "destination": "/sys", "type": "sysfs", "source": "sysfs",
              "options": ["nosuid", "noexec", "nodev", "ro"] }
        ],
        "linux": {
            "namespaces": [
                { "type": "pid" }, { "type": "ipc" }, { "type": "uts" }, { "type": "mount" },
                { "type": "network" }
            ],
            "resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
            "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

/// berth-runtime with its own state root.
pub struct Runtime {
    root: tempfile::TempDir,
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new()
    }
}

/// A test that fails half-way leaves no container behind: whatever is still in the state
/// root is force-deleted (processes killed, cgroups removed) before the root goes.
impl Drop for Runtime {
    fn drop(&mut self) {
        let out = self.cmd(&["list", "-q"]);
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            self.force_delete(id);
        }
    }
}

impl Runtime {
    pub fn new() -> Runtime {
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-rt-")
                .tempdir()
                .expect("state root"),
        }
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// `berth-runtime --root <root> <args>`, waiting for it to finish. Output goes through
    /// files, not pipes: after `create` the container holds the runtime's stdio, and a pipe
    /// would not see EOF until the container exits.
    pub fn cmd(&self, args: &[&str]) -> Output {
        let out = tempfile::tempfile().expect("stdout file");
        let err = tempfile::tempfile().expect("stderr file");
        let status = Command::new(crate::bins::bin("berth-runtime"))
            .arg("--root")
            .arg(self.root.path())
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone().expect("dup"))
            .stderr(err.try_clone().expect("dup"))
            .status()
            .expect("run berth-runtime");
        let read = |mut f: std::fs::File| {
            use std::io::{Read, Seek};
            let mut v = Vec::new();
            f.rewind().expect("rewind");
            f.read_to_end(&mut v).expect("read output");
            v
        };
        Output {
            status,
            stdout: read(out),
            stderr: read(err),
        }
    }

    /// Like `cmd`, but panics with the runtime's stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "berth-runtime {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The container's status from `state` ("created", "running", "stopped", ...).
    pub fn status(&self, id: &str) -> String {
        let v: Value = serde_json::from_str(&self.ok(&["state", id])).expect("state JSON");
        v["status"].as_str().unwrap_or_default().to_string()
    }

    /// Waits up to 10 s for `status`.
    pub fn wait_status(&self, id: &str, status: &str) {
        let start = std::time::Instant::now();
        while self.status(id) != status {
            assert!(start.elapsed().as_secs() < 10, "{id} never became {status}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// Removes a container whatever its state (for cleanup).
    pub fn force_delete(&self, id: &str) {
        let _ = self.cmd(&["delete", "--force", id]);
    }
}

/// A path under the test's own cgroup parent, for `linux.cgroupsPath`.
pub fn cgroups_path(parent: &str, id: &str) -> PathBuf {
    PathBuf::from(format!("/{parent}/{id}"))
}
