//! Real clients drive berth-runtime in place of runc: Debian's containerd (`ctr run
//! --runc-binary`, through its runc shim: create/start/exec/ps/pause/kill/delete) and
//! Debian's dockerd (`--add-runtime`, `docker run --runtime berth`), each on private
//! sockets and directories. A client that cannot start fails the test with why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::{bins, images, require, unique};

/// A busybox image as an OCI archive (named `busybox:latest`) in `dir`.
fn busybox_oci_archive(dir: &Path) -> PathBuf {
    let img = images::build_image(&[images::busybox_layer()], None);
    let p = dir.join("busybox-oci.tar");
    std::fs::write(&p, img.oci_archive("busybox:latest")).unwrap();
    p
}

fn run(cmd: &mut Command) -> (bool, String, String) {
    let o = cmd.stdin(Stdio::null()).output().expect("run client");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// containerd on a private socket, root and state; killed on drop.
struct Containerd {
    dir: tempfile::TempDir,
    child: Child,
}

impl Containerd {
    fn start() -> Result<Containerd, String> {
        let dir = tempfile::Builder::new()
            .prefix("berth-ctrd-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("config.toml"),
            format!(
                "version = 2\nroot = \"{0}/root\"\nstate = \"{0}/state\"\n\
                 disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n[grpc]\n  address = \"{0}/sock\"\n",
                d.display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(d.join("config.toml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start containerd: {e}"))?;
        let c = Containerd { dir, child };
        let t = Instant::now();
        while !c.dir.path().join("sock").exists() {
            if t.elapsed() > Duration::from_secs(15) {
                return Err(format!(
                    "containerd did not open its socket: {}",
                    std::fs::read_to_string(c.dir.path().join("log")).unwrap_or_default()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(c)
    }

    fn ctr(&self, args: &[&str]) -> (bool, String, String) {
        run(Command::new("ctr")
            .arg("-a")
            .arg(self.dir.path().join("sock"))
            .args(["-n", "berth-test"])
            .args(args))
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn containerd_runs_busybox_through_berth_runtime() {
    require!(root, containerd);
    let ctrd = Containerd::start().unwrap_or_else(|e| panic!("{e}"));
    let archive = busybox_oci_archive(ctrd.dir.path());
    let (ok, _, err) = ctrd.ctr(&["images", "import", archive.to_str().unwrap()]);
    assert!(ok, "ctr images import: {err}");
    let rt = bins::bin("berth-runtime");
    let rt = rt.to_str().unwrap();
    let img = "docker.io/library/busybox:latest";
    let (_, list, _) = ctrd.ctr(&["images", "ls", "-q"]);
    let img = list
        .lines()
        .find(|l| l.contains("busybox"))
        .unwrap_or(img)
        .to_string();

    let id = unique("ctr");
    let (ok, out, err) = ctrd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rt,
        &img,
        &id,
        "/bin/sh",
        "-c",
        "echo via-berth; readlink /proc/1/exe",
    ]);
    assert!(ok, "ctr run: {err}");
    assert_eq!(out.lines().next(), Some("via-berth"), "{out}");
    assert_eq!(out.lines().nth(1), Some("/bin/busybox"), "{out}");

    // A long-running task: exec, ps, pause/resume, kill, delete.
    let id = unique("ctrd");
    let (ok, _, err) = ctrd.ctr(&[
        "run",
        "-d",
        "--runc-binary",
        rt,
        &img,
        &id,
        "/bin/sleep",
        "30",
    ]);
    assert!(ok, "ctr run -d: {err}");
    let (ok, out, err) = ctrd.ctr(&[
        "task",
        "exec",
        "--exec-id",
        "e1",
        &id,
        "/bin/sh",
        "-c",
        "echo exec-ok",
    ]);
    assert!(ok && out.trim() == "exec-ok", "task exec: {out} {err}");
    let (ok, out, _) = ctrd.ctr(&["task", "ps", &id]);
    assert!(ok && out.lines().count() >= 2, "task ps: {out}");
    let (ok, _, err) = ctrd.ctr(&["task", "pause", &id]);
    assert!(ok, "pause: {err}");
    let (_, out, _) = ctrd.ctr(&["task", "ls"]);
    assert!(out.contains("PAUSED"), "{out}");
    assert!(ctrd.ctr(&["task", "resume", &id]).0);
    assert!(ctrd.ctr(&["task", "kill", "-s", "KILL", &id]).0);
    let t = Instant::now();
    while !ctrd.ctr(&["task", "ls"]).1.contains("STOPPED") {
        assert!(t.elapsed() < Duration::from_secs(10), "task never stopped");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (ok, _, err) = ctrd.ctr(&["task", "rm", &id]);
    assert!(ok, "task rm: {err}");
    assert!(ctrd.ctr(&["containers", "rm", &id]).0);

    // A failing container: containerd shows berth-runtime's own error.
    let (ok, _, err) = ctrd.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        rt,
        &img,
        &unique("bad"),
        "/no/such/program",
    ]);
    assert!(!ok);
    assert!(err.contains("/no/such/program"), "{err}");
}

#[test]
fn dockerd_runs_busybox_with_runtime_berth() {
    require!(root, dockerd, skopeo);
    let rt = bins::bin("berth-runtime");
    let Some(d) = berth_tests::dockerd::Dockerd::start_with(&[
        "--add-runtime".to_string(),
        format!("berth={}", rt.display()),
    ]) else {
        panic!("dockerd is installed but Dockerd::start_with gave nothing");
    };
    let docker = if Path::new("/usr/local/bin/docker").exists() {
        "/usr/local/bin/docker"
    } else {
        "docker"
    };
    let dk = |args: &[&str]| run(Command::new(docker).arg("-H").arg(d.host()).args(args));
    let work = tempfile::tempdir().unwrap();
    let oci = busybox_oci_archive(work.path());
    let dar = work.path().join("busybox-docker.tar");
    let (ok, _, err) = run(Command::new("skopeo").args([
        "copy",
        "-q",
        &format!("oci-archive:{}:busybox:latest", oci.display()),
        &format!("docker-archive:{}:busybox:latest", dar.display()),
    ]));
    assert!(ok, "skopeo: {err}");
    let (ok, _, err) = dk(&["load", "-i", dar.to_str().unwrap()]);
    assert!(ok, "docker load: {err}");

    let (ok, out, err) = dk(&[
        "run",
        "--rm",
        "--runtime",
        "berth",
        "--network",
        "none",
        "busybox:latest",
        "/bin/sh",
        "-c",
        "echo hello-berth; grep Seccomp: /proc/self/status",
    ]);
    assert!(ok, "docker run: {err}\n{}", d.log());
    assert!(out.starts_with("hello-berth\n"), "{out}");
    // Docker's default seccomp profile is in force.
    assert!(out.contains("Seccomp:\t2"), "{out}");

    let name = unique("dk");
    let (ok, _, err) = dk(&[
        "run",
        "-d",
        "--name",
        &name,
        "--runtime",
        "berth",
        "--network",
        "none",
        "busybox:latest",
        "sleep",
        "30",
    ]);
    assert!(ok, "docker run -d: {err}");
    let (ok, out, err) = dk(&["exec", &name, "echo", "exec-ok"]);
    assert!(ok && out.trim() == "exec-ok", "{out} {err}");
    let (ok, out, _) = dk(&["top", &name]);
    assert!(ok && out.contains("sleep 30"), "{out}");
    assert!(dk(&["pause", &name]).0);
    assert!(dk(&["unpause", &name]).0);
    let (ok, _, err) = dk(&["update", "--pids-limit", "50", &name]);
    assert!(ok, "docker update: {err}");
    let (_, out, _) = dk(&["exec", &name, "cat", "/sys/fs/cgroup/pids/pids.max"]);
    if Path::new("/sys/fs/cgroup/pids").exists() {
        assert_eq!(out.trim(), "50");
    }
    let (ok, _, err) = dk(&["rm", "-f", &name]);
    assert!(ok, "docker rm -f: {err}");
}
