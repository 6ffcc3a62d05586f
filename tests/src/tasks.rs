//! Fixtures for task tests: a shimd that holds the busybox image, gRPC clients on its socket,
//! and checks that a container left nothing behind (mounts, task directory, shim, runtime
//! state, cgroup).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_proto::client::{self, NsChannel};
use berth_proto::v1::{containers_client::ContainersClient, tasks_client::TasksClient};

use crate::shimd::Shimd;

/// The image every task test runs.
pub const IMAGE: &str = "busybox:latest";

/// A shimd with the busybox image imported.
pub struct TaskLab {
    pub shimd: Shimd,
}

impl TaskLab {
    pub fn start() -> TaskLab {
        Self::with_config(None)
    }

    pub fn with_config(config: Option<&str>) -> TaskLab {
        let shimd = Shimd::start_with_config(config);
        let img = crate::images::build_image(&[crate::images::busybox_layer()], None);
        let archive = shimd.dir.path().join("busybox-oci.tar");
        std::fs::write(&archive, img.oci_archive(IMAGE)).expect("write the image archive");
        shimd.ctl_ok(&["images", "import", archive.to_str().unwrap()]);
        TaskLab { shimd }
    }

    /// berthctl with `args`: (exit code, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        self.shimd.ctl_run(args)
    }

    pub fn ctl_ok(&self, args: &[&str]) -> String {
        self.shimd.ctl_ok(args)
    }

    /// A container's task directory.
    pub fn task_dir(&self, ns: &str, id: &str) -> PathBuf {
        self.shimd.state().join(ns).join(id)
    }

    /// The task's shim pid, from its task directory.
    pub fn shim_pid(&self, ns: &str, id: &str) -> i32 {
        std::fs::read_to_string(self.task_dir(ns, id).join("shim.pid"))
            .expect("shim.pid")
            .trim()
            .parse()
            .expect("a pid in shim.pid")
    }

    /// The container's init pid, from `tasks ls`.
    pub fn task_pid(&self, id: &str) -> i32 {
        let out = self.ctl_ok(&["tasks", "ls"]);
        out.lines()
            .map(str::split_whitespace)
            .filter_map(|mut f| Some((f.next()?, f.next()?)))
            .find(|(i, _)| *i == id)
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no task {id} in:\n{out}"))
    }

    /// The status column of `tasks ls` for `id`.
    pub fn task_status(&self, id: &str) -> Option<String> {
        let out = self.ctl_ok(&["tasks", "ls"]);
        out.lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&id))
            .and_then(|f| f.get(2).map(|s| s.to_string()))
    }

    /// Runs a detached `sleep 1000` container through runc under a unique id starting
    /// with `prefix` and waits until it is running; returns the id.
    pub fn run_sleeper(&self, prefix: &str) -> String {
        let id = crate::unique(prefix);
        self.ctl_ok(&[
            "run",
            "-d",
            "--runtime",
            "runc",
            IMAGE,
            &id,
            "/bin/sleep",
            "1000",
        ]);
        self.wait_status(&id, "RUNNING", Duration::from_secs(5));
        id
    }

    /// Polls until `tasks ls` shows `id` with `status`.
    pub fn wait_status(&self, id: &str, status: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.task_status(id);
            if s.as_deref() == Some(status) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} is {s:?}, not {status}, after {limit:?}\n{}",
                self.shimd.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What a removed container left behind; empty when nothing.
    pub fn debris(&self, ns: &str, id: &str) -> Vec<String> {
        let dir = self.task_dir(ns, id);
        let mut found = Vec::new();
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        for l in info.lines() {
            if l.split(' ')
                .nth(4)
                .is_some_and(|m| Path::new(m).starts_with(&dir))
            {
                found.push(format!("mount: {l}"));
            }
        }
        if dir.exists() {
            let entries: Vec<String> = std::fs::read_dir(&dir)
                .map(|r| {
                    r.flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            found.push(format!(
                "task directory {} holds {entries:?}",
                dir.display()
            ));
        }
        let runtime_state = self.shimd.state().join(ns).join(".runtime").join(id);
        if runtime_state.exists() {
            found.push(format!("runtime state {}", runtime_state.display()));
        }
        for pid in shims_in(&dir) {
            found.push(format!("berth-shim {pid} still runs in {}", dir.display()));
        }
        for ctl in ["pids", "memory", "cpu,cpuacct", "freezer"] {
            let cg = Path::new("/sys/fs/cgroup")
                .join(ctl)
                .join(berth_spec::default_cgroups_path(ns, id).trim_start_matches('/'));
            if cg.exists() {
                found.push(format!("cgroup {}", cg.display()));
            }
        }
        found
    }

    /// Asserts the container left nothing behind (waiting briefly for shims to go).
    pub fn assert_no_debris(&self, ns: &str, id: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let d = self.debris(ns, id);
            if d.is_empty() {
                return;
            }
            if Instant::now() > deadline {
                panic!("container {id} left debris:\n{}", d.join("\n"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Removes container `id` (and kills and deletes its task) when the returned guard is
    /// dropped, also when the test fails half-way: no shim, rootfs mount or cgroup of it
    /// stays. Harmless when the test removed the container itself.
    pub fn remove_on_drop(&self, id: &str) -> Removal {
        let mut cmd = self.shimd.ctl();
        cmd.args(["containers", "rm", "--force", id]);
        Removal { cmd }
    }

    /// gRPC clients on this shimd, in namespace `ns`.
    pub fn grpc(&self, ns: &str) -> Grpc {
        Grpc::connect(&self.shimd.socket(), ns)
    }
}

/// See [`TaskLab::remove_on_drop`].
pub struct Removal {
    /// `berthctl containers rm --force ID` on the lab's shimd.
    cmd: std::process::Command,
}

impl Drop for Removal {
    fn drop(&mut self) {
        let _ = self.cmd.output();
    }
}

/// Live (non-zombie) berth-shim processes whose working directory is `dir`.
pub fn shims_in(dir: &Path) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        if comm.trim() != "berth-shim" {
            continue;
        }
        let stat = std::fs::read_to_string(p.path().join("stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            continue;
        }
        if std::fs::read_link(p.path().join("cwd")).is_ok_and(|c| c == dir) {
            out.push(pid);
        }
    }
    out
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

/// gRPC access to a shimd for what berthctl does not expose.
pub struct Grpc {
    pub rt: tokio::runtime::Runtime,
    ch: NsChannel,
}

impl Grpc {
    pub fn connect(socket: &Path, ns: &str) -> Grpc {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let ch = rt
            .block_on(client::connect(socket))
            .expect("connect to shimd");
        let ch = client::with_namespace(ch, ns).expect("namespace");
        Grpc { rt, ch }
    }

    pub fn tasks(&self) -> TasksClient<NsChannel> {
        TasksClient::new(self.ch.clone())
    }

    pub fn containers(&self) -> ContainersClient<NsChannel> {
        ContainersClient::new(self.ch.clone())
    }

    /// The channel, for the other services' clients.
    pub fn channel(&self) -> NsChannel {
        self.ch.clone()
    }

    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.rt.block_on(f)
    }
}

/// An OCI spec (JSON) running `args` in busybox, from the project's default spec.
pub fn spec(ns: &str, id: &str, args: &[&str]) -> Vec<u8> {
    let mut v = serde_json::to_value(berth_spec::default_spec(ns, id)).unwrap();
    v["process"]["args"] = serde_json::json!(args);
    v["process"]["env"] = serde_json::json!(["PATH=/bin"]);
    serde_json::to_vec(&v).unwrap()
}

/// shimd started by hand, for what the standard fixture cannot do: run it inside a wrapper
/// command (e.g. a private mount namespace) or give it another state directory.
pub struct CustomShimd {
    pub dir: tempfile::TempDir,
    pub state: PathBuf,
    child: std::process::Child,
}

impl CustomShimd {
    /// Runs `wrapper... shimd --address .. --root .. --state STATE` (STATE defaults to
    /// `<dir>/state`) and waits until it serves; the busybox image is imported.
    pub fn start(wrapper: &[&str], state: Option<PathBuf>) -> CustomShimd {
        use std::process::{Command, Stdio};
        let dir = tempfile::Builder::new()
            .prefix("berth-shimd-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        let state = state.unwrap_or_else(|| d.join("state"));
        let log = std::fs::File::create(d.join("shimd.log")).expect("shimd log");
        let mut cmd = Command::new(wrapper.first().copied().unwrap_or("env"));
        cmd.args(wrapper.iter().skip(1))
            .arg(crate::bins::bin("shimd"))
            .arg("--address")
            .arg(d.join("sock"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--state")
            .arg(&state)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    crate::bins::bin_dir().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log);
        let child = cmd.spawn().expect("spawn shimd");
        let s = CustomShimd { dir, state, child };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(s.dir.path().join("sock")).is_err() {
            assert!(
                Instant::now() < deadline,
                "shimd did not start: {}",
                std::fs::read_to_string(s.dir.path().join("shimd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let img = crate::images::build_image(&[crate::images::busybox_layer()], None);
        let archive = s.dir.path().join("busybox-oci.tar");
        std::fs::write(&archive, img.oci_archive(IMAGE)).expect("write the image archive");
        let (code, _, err) = s.ctl(&["images", "import", archive.to_str().unwrap()]);
        assert_eq!(code, 0, "import: {err}");
        s
    }

    /// berthctl with `args`: (exit code, stdout, stderr).
    pub fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = std::process::Command::new(crate::bins::bin("berthctl"))
            .arg("--address")
            .arg(self.dir.path().join("sock"))
            .args(args)
            .output()
            .expect("run berthctl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for CustomShimd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}
