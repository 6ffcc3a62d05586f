//! Running busybox containers with berth-runtime by hand, runc-style: a config like
//! `runc spec` makes (no terminal), a private state root, and the runtime's CLI; the same
//! with Debian's runc, for checks whose expectation is runc's behaviour.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

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

/// An OCI runtime with its own state root: berth-runtime, or Debian's runc for the
/// side-by-side checks whose expectation is runc's behaviour.
pub struct Runtime {
    root: tempfile::TempDir,
    binary: PathBuf,
    /// What every command runs under (program and arguments), e.g. a private mount namespace.
    prefix: Vec<String>,
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

/// The shell lines that make a mount namespace look like a pure cgroup v2 host: the
/// cgroup v1 hierarchies unmounted, the host's cgroup2 hierarchy at /sys/fs/cgroup.
const CGROUP2_ONLY: &str = "umount -R /sys/fs/cgroup && mount -t cgroup2 cgroup2 /sys/fs/cgroup \
     && exec \"$@\"";

impl Runtime {
    /// berth-runtime, built from this workspace.
    pub fn new() -> Runtime {
        Runtime::with_binary(crate::bins::bin("berth-runtime"))
    }

    /// Debian's runc (`scripts/install-deps.sh` installs it). Panics when it is missing.
    pub fn runc() -> Runtime {
        let path = std::env::var_os("PATH").unwrap_or_default();
        let runc = std::env::split_paths(&path)
            .map(|d| d.join("runc"))
            .find(|p| p.is_file())
            .expect("runc not found on PATH: install Debian's runc (scripts/install-deps.sh)");
        Runtime::with_binary(runc)
    }

    /// berth-runtime and runc, for checks that hold for both.
    pub fn both() -> [Runtime; 2] {
        [Runtime::new(), Runtime::runc()]
    }

    fn with_binary(binary: PathBuf) -> Runtime {
        Runtime {
            root: tempfile::Builder::new()
                .prefix("berth-rt-")
                .tempdir()
                .expect("state root"),
            binary,
            prefix: Vec::new(),
        }
    }

    /// Every command of this runtime runs in a private mount namespace that looks like a
    /// pure cgroup v2 host (the host's cgroup2 hierarchy at /sys/fs/cgroup, no v1
    /// hierarchy), so the runtime uses its cgroup v2 code on any host that has a cgroup2
    /// mount. A container's cgroupsPath is then a path in the host's cgroup2 hierarchy.
    pub fn on_cgroup2_only(mut self) -> Runtime {
        self.prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c"]
            .iter()
            .map(|s| s.to_string())
            .chain([CGROUP2_ONLY.to_string(), "sh".to_string()])
            .collect();
        self
    }

    /// The runtime's name ("berth-runtime", "runc"), for messages.
    pub fn name(&self) -> String {
        self.binary
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The command line `<runtime> --root <root> <args>` (under the prefix, if any).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = match self.prefix.split_first() {
            Some((prog, rest)) => {
                let mut c = Command::new(prog);
                c.args(rest).arg(&self.binary);
                c
            }
            None => Command::new(&self.binary),
        };
        c.arg("--root").arg(self.root.path()).args(args);
        c
    }

    /// `<runtime> --root <root> <args>`, waiting for it to finish. Output goes through
    /// files, not pipes: after `create` the container holds the runtime's stdio, and a pipe
    /// would not see EOF until the container exits.
    pub fn cmd(&self, args: &[&str]) -> Output {
        run_to_files(self.command(args), None).expect("no time limit")
    }

    /// Like `cmd`, but gives up after `limit`: None when the runtime had not finished by
    /// then (it is killed).
    pub fn cmd_within(&self, args: &[&str], limit: Duration) -> Option<Output> {
        run_to_files(self.command(args), Some(limit))
    }

    /// Like `cmd`, with extra descriptors open in the runtime, as a caller could leave
    /// them: each `(fd, number)` is open as `number` (not close-on-exec).
    pub fn cmd_with_fds(&self, args: &[&str], fds: &[(BorrowedFd, RawFd)]) -> Output {
        let mut c = self.command(args);
        let plan: Vec<(RawFd, RawFd)> = fds.iter().map(|(f, n)| (f.as_raw_fd(), *n)).collect();
        // SAFETY: the closure only calls fcntl and dup2 (async-signal-safe) on a Vec
        // allocated before the fork, as pre_exec requires.
        unsafe {
            c.pre_exec(move || {
                // First out of the way (a source may be another's target), then into place;
                // dup2 leaves the new descriptor without close-on-exec.
                let mut moved = [0; 16];
                for (i, (src, _)) in plan.iter().enumerate().take(moved.len()) {
                    moved[i] = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 500);
                    if moved[i] < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                for (i, (_, target)) in plan.iter().enumerate().take(moved.len()) {
                    if libc::dup2(moved[i], *target) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        run_to_files(c, None).expect("no time limit")
    }

    /// Like `cmd`, but panics with the runtime's stderr when it fails.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cmd(args);
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.name(),
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

/// Runs `c` with stdin from /dev/null and stdout/stderr to temporary files; with a limit,
/// kills it and returns None when it has not finished in time.
fn run_to_files(mut c: Command, limit: Option<Duration>) -> Option<Output> {
    let out = tempfile::tempfile().expect("stdout file");
    let err = tempfile::tempfile().expect("stderr file");
    let mut child = c
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("dup"))
        .stderr(err.try_clone().expect("dup"))
        .spawn()
        .expect("start the runtime");
    let status = match limit {
        None => child.wait().expect("wait for the runtime"),
        Some(limit) => {
            let start = Instant::now();
            loop {
                if let Some(s) = child.try_wait().expect("wait for the runtime") {
                    break s;
                }
                if start.elapsed() > limit {
                    let _ = child.kill();
                    let _ = child.wait();
                    return None;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let read = |mut f: std::fs::File| {
        use std::io::{Read, Seek};
        let mut v = Vec::new();
        f.rewind().expect("rewind");
        f.read_to_end(&mut v).expect("read output");
        v
    };
    Some(Output {
        status,
        stdout: read(out),
        stderr: read(err),
    })
}

/// A path under the test's own cgroup parent, for `linux.cgroupsPath`.
pub fn cgroups_path(parent: &str, id: &str) -> PathBuf {
    PathBuf::from(format!("/{parent}/{id}"))
}
