//! The shim is OCI-generic: crun runs containers too. crun refuses the hybrid cgroup layout
//! of hosts where cgroup2 is mounted beside v1 controllers, so shimd runs in a private
//! mount namespace where /sys/fs/cgroup/unified is unmounted.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth_tests::bins::{bin, bin_dir};
use berth_tests::tasks::IMAGE;
use berth_tests::{is_root, skip, unique};

struct PrivateShimd {
    dir: tempfile::TempDir,
    child: Child,
}

impl PrivateShimd {
    fn start() -> PrivateShimd {
        let dir = tempfile::Builder::new()
            .prefix("berth-crun-")
            .tempdir()
            .unwrap();
        let d = dir.path();
        let script = format!(
            "if mountpoint -q /sys/fs/cgroup/unified; then umount /sys/fs/cgroup/unified || exit 1; fi; \
             exec {} --address {}/sock --root {}/root --state {}/state",
            bin("shimd").display(),
            d.display(),
            d.display(),
            d.display()
        );
        let log = std::fs::File::create(d.join("shimd.log")).unwrap();
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", &script])
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir().display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(d.join("sock")).is_err() {
            assert!(
                Instant::now() < deadline,
                "shimd did not start: {}",
                std::fs::read_to_string(d.join("shimd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        PrivateShimd { dir, child }
    }

    fn ctl(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(bin("berthctl"))
            .arg("--address")
            .arg(self.dir.path().join("sock"))
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

impl Drop for PrivateShimd {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

#[test]
fn crun_runs_containers_through_the_shim() {
    if !is_root() {
        skip!("needs root");
    }
    if Command::new("crun").arg("--version").output().is_err() {
        skip!("crun is not installed (scripts/install-deps.sh installs it)");
    }
    let s = PrivateShimd::start();
    let img = berth_tests::images::build_image(&[berth_tests::images::busybox_layer()], None);
    let archive = s.dir.path().join("busybox.tar");
    std::fs::write(&archive, img.oci_archive(IMAGE)).unwrap();
    let (code, _, err) = s.ctl(&["images", "import", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let id = unique("crun");
    let (code, out, err) = s.ctl(&[
        "run",
        "--rm",
        "--runtime",
        "crun",
        IMAGE,
        &id,
        "/bin/sh",
        "-c",
        "echo from-crun; exit 4",
    ]);
    assert_eq!(code, 4, "{err}");
    assert_eq!(out, "from-crun\n");
    assert!(!s.dir.path().join("state/default").join(&id).exists());
}
