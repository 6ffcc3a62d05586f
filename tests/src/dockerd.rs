//! Debian's dockerd on a private socket, data root and exec root under a temporary
//! directory (no bridge, no host NAT changes), for checking that a client behaves the same
//! against Docker's own daemon. Stopped with SIGTERM when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Dockerd {
    /// Holds `sock`, `data/`, `exec/`, `dockerd.pid` and `log`.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
}

/// Is dockerd installed?
pub fn available() -> bool {
    Command::new("dockerd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Dockerd {
    /// Starts dockerd and waits until it answers `/_ping`; None when dockerd is missing.
    pub fn start() -> Option<Dockerd> {
        Self::start_with(&[])
    }

    /// Starts dockerd with extra flags (e.g. a TLS listener).
    pub fn start_with(extra: &[String]) -> Option<Dockerd> {
        if !available() {
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .expect("create dockerd temp dir");
        let p = |s: &str| dir.path().join(s);
        let log = std::fs::File::create(p("log")).expect("create dockerd log");
        let child = Command::new("dockerd")
            .arg("-H")
            .arg(format!("unix://{}", p("sock").display()))
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("dockerd.pid"))
            .args([
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
            ])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd");
        let mut d = Dockerd {
            dir,
            child: Some(child),
        };
        d.wait_serving();
        Some(d)
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// The `-H` value for clients.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The docker CLI pointed at this dockerd.
    pub fn cli(&self) -> crate::berthd::DockerCli {
        let config = self.dir.path().join("docker-config");
        std::fs::create_dir_all(&config).expect("docker config dir");
        crate::berthd::DockerCli {
            daemon: "dockerd",
            host: self.host(),
            config,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("dockerd exited ({st}) before serving:\n{}", self.log());
                }
            }
            if crate::http::unix_get(&self.socket(), "/_ping").is_some_and(|r| r.contains("OK")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer on {} in 30s:\n{}",
                self.socket().display(),
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let Some(mut c) = self.child.take() else {
            return;
        };
        // User networks' bridges (br-...) outlive dockerd: the test's go with it.
        let sock = self.socket();
        crate::berthd::raw_request(&sock, "POST", "/containers/prune", &[], b"");
        crate::berthd::raw_request(&sock, "POST", "/networks/prune", &[], b"");
        // SIGTERM lets dockerd stop its containers and containerd and unmount everything.
        let pid = nix::unistd::Pid::from_raw(c.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = c.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if c.try_wait().ok().flatten().is_none() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // dockerd 20.10 leaves its own `exec/netns/default` bind mount behind when it
        // stops; detach whatever is left under the temporary directory so it can go.
        for m in berth_fs::mountinfo::mounted_below(self.dir.path())
            .iter()
            .rev()
        {
            let _ = nix::mount::umount2(m, nix::mount::MntFlags::MNT_DETACH);
        }
    }
}
