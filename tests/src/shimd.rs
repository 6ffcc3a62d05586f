//! A private shimd for one test: its own socket, root and state under a temporary directory,
//! the workspace's binaries first in its PATH, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::bins::bin;

pub struct Shimd {
    /// Holds `sock`, `root/`, `state/`, `shimd.log` and the optional `config.toml`.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    config: Option<String>,
}

impl Shimd {
    /// Starts shimd with the default config and waits until it serves.
    pub fn start() -> Shimd {
        Self::start_with_config(None)
    }

    /// Starts shimd with `config` (TOML) as its `--config` file.
    pub fn start_with_config(config: Option<&str>) -> Shimd {
        let dir = tempfile::Builder::new()
            .prefix("berth-shimd-")
            .tempdir()
            .expect("create shimd temp dir");
        let mut s = Shimd {
            dir,
            child: None,
            config: config.map(str::to_string),
        };
        if let Some(c) = &s.config {
            std::fs::write(s.dir.path().join("config.toml"), c).expect("write shimd config");
        }
        s.spawn();
        s
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("shimd.log")
    }

    /// Everything shimd has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// A `berthctl` command bound to this shimd (namespace "default" unless `-n` is added).
    pub fn ctl(&self) -> Command {
        let mut c = Command::new(bin("berthctl"));
        c.arg("--address").arg(self.socket());
        c.env_remove("BERTH_NAMESPACE");
        c
    }

    /// Runs berthctl with `args`; returns (exit code, stdout, stderr).
    pub fn ctl_run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.ctl().args(args).output().expect("run berthctl");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Runs berthctl with `args` and panics (with its stderr) unless it succeeds; returns stdout.
    pub fn ctl_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.ctl_run(args);
        assert_eq!(code, 0, "berthctl {args:?} failed: {err}{out}");
        out
    }

    /// `kill -9` shimd (containers and shims keep running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Stops shimd with SIGTERM and waits for it.
    pub fn stop(&mut self) {
        crate::bins::terminate(self.child.take(), Duration::from_secs(10));
    }

    /// Starts shimd again on the same socket, root and state (after `kill9` or `stop`).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut cmd = crate::bins::daemon_command("shimd", &self.log_path());
        cmd.arg("--address")
            .arg(self.socket())
            .arg("--root")
            .arg(self.root())
            .arg("--state")
            .arg(self.state())
            .arg("--log-level")
            .arg("debug");
        if self.config.is_some() {
            cmd.arg("--config").arg(self.dir.path().join("config.toml"));
        }
        let child = cmd.spawn().expect("spawn shimd");
        self.child = Some(child);
        self.wait_serving();
    }

    /// Waits until the socket accepts connections; panics with the log if shimd dies.
    fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let sock = self.socket();
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("shimd exited ({st}) before serving:\n{}", self.log());
                }
            }
            if is_listening(&sock) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "shimd did not open {} in 20s:\n{}",
                    sock.display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn is_listening(sock: &Path) -> bool {
    std::os::unix::net::UnixStream::connect(sock).is_ok()
}

impl Drop for Shimd {
    fn drop(&mut self) {
        self.stop();
    }
}
