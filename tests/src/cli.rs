//! Running the `berth` CLI in tests: against a given daemon, with its own config
//! directory, plain or on a pseudo-terminal (for -it sessions, detach keys and resizes).
//! Also the busybox image as a docker-archive and an OCI layout, built offline.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::bins::bin;

/// The result of one CLI run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI pointed at one daemon, with a private config directory.
pub struct Berth {
    pub host: String,
    pub config: tempfile::TempDir,
}

impl Berth {
    pub fn new(host: &str) -> Berth {
        Berth {
            host: host.to_string(),
            config: tempfile::Builder::new()
                .prefix("berth-cli-config-")
                .tempdir()
                .expect("create config dir"),
        }
    }

    /// `berth -H HOST ARGS...` with the private config directory.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin("berth"));
        c.arg("-H")
            .arg(&self.host)
            .args(args)
            .env("BERTH_CONFIG", self.config.path())
            .env_remove("BERTH_HOST");
        c
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_stdin(args, None)
    }

    /// Runs with `input` on stdin (or /dev/null).
    pub fn run_stdin(&self, args: &[&str], input: Option<&[u8]>) -> Out {
        let mut c = self.cmd(args);
        c.stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().expect("spawn berth");
        if let Some(data) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            let data = data.to_vec();
            std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let out = child.wait_with_output().expect("wait for berth");
        Out {
            code: out.status.code().unwrap_or(128),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert_eq!(o.code, 0, "berth {args:?} failed: {o:?}");
        o.stdout
    }
}

/// The busybox image (`Cmd ["/bin/sh"]`, `PATH=/bin`) as an OCI layout in `dir/oci`,
/// tagged `latest`.
pub fn busybox_layout(dir: &Path) -> PathBuf {
    let layout = dir.join("oci");
    if !layout.join("index.json").exists() {
        let img = crate::images::build_image(&[crate::images::busybox_layer()], None);
        img.write_layout(&layout, "latest");
    }
    layout
}

/// The busybox image as a docker-archive (what `docker save` writes and every daemon
/// loads) named `busybox:latest`, built with skopeo.
pub fn busybox_archive(dir: &Path) -> PathBuf {
    let archive = dir.join("busybox-docker.tar");
    if archive.exists() {
        return archive;
    }
    docker_archive(&busybox_layout(dir), "latest", &archive, "busybox:latest");
    archive
}

/// Writes `img` as a docker-archive `dir/<file>` naming it `name` (e.g. "app:latest"),
/// through an OCI layout beside it; returns the archive's path.
pub fn image_archive(dir: &Path, img: &crate::images::Image, file: &str, name: &str) -> PathBuf {
    let layout = dir.join(format!("{file}.oci"));
    img.write_layout(&layout, "latest");
    let archive = dir.join(file);
    docker_archive(&layout, "latest", &archive, name);
    archive
}

/// Copies image `tag` of the OCI layout `layout` to a docker-archive named `name`.
fn docker_archive(layout: &Path, tag: &str, archive: &Path, name: &str) {
    let out = Command::new("skopeo")
        .args(["copy", "-q"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!("docker-archive:{}:{name}", archive.display()))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo copy to docker-archive: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A process on a pseudo-terminal: its stdin, stdout and stderr are the terminal, which
/// is its controlling terminal (so resizes reach it as SIGWINCH).
pub struct Pty {
    master: File,
    child: Child,
    output: Arc<Mutex<Vec<u8>>>,
    /// Set once the reader has read everything: every slave descriptor is closed.
    closed: Arc<AtomicBool>,
}

fn set_size(fd: &impl AsRawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the struct we pass.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    assert_eq!(r, 0, "TIOCSWINSZ: {}", std::io::Error::last_os_error());
}

impl Pty {
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        let (master, slave): (OwnedFd, OwnedFd) = (pty.master, pty.slave);
        set_size(&master, rows, cols);
        let slave_file = File::from(slave);
        cmd.stdin(slave_file.try_clone().expect("dup pty"))
            .stdout(slave_file.try_clone().expect("dup pty"))
            .stderr(slave_file.try_clone().expect("dup pty"));
        // SAFETY: setsid and ioctl are async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on pty");
        drop(slave_file);
        let master = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let closed = Arc::new(AtomicBool::new(false));
        let mut reader = master.try_clone().expect("dup master");
        let (sink, done) = (output.clone(), closed.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave descriptor is closed and what they wrote is read: the
            // session is over.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
            done.store(true, Ordering::SeqCst);
        });
        Pty {
            master,
            child,
            output,
            closed,
        }
    }

    /// Types `bytes` on the terminal.
    pub fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to pty");
    }

    /// Everything the process printed so far.
    pub fn output(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits until the output contains `needle`; panics with the output after `secs`.
    pub fn expect(&self, needle: &str, secs: u64) -> String {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let out = self.output();
            if out.contains(needle) {
                return out;
            }
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on the terminal after {secs}s; got:\n{out}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Changes the terminal size (the process gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) {
        set_size(&self.master, rows, cols);
    }

    /// Resizes the terminal and asks the shell running on it (`stty size`, ended with
    /// `enter`) until it sees the new size: the resize travels asynchronously (SIGWINCH to
    /// the client, an API call, the shim). The docker CLI only starts watching SIGWINCH
    /// after its first resize call returns, so a resize right after start can be lost in
    /// it: each second without the new size, the terminal changes size again. Panics after
    /// 10 s.
    pub fn resize_and_check(&mut self, rows: u16, cols: u16, enter: &str) {
        self.resize(rows, cols);
        let want = format!("{rows} {cols}");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut asked = 0;
        while !self.output().contains(&want) {
            assert!(
                Instant::now() < deadline,
                "the resize to {want} never arrived:\n{}",
                self.output()
            );
            asked += 1;
            if asked % 5 == 0 {
                self.resize(rows, cols + 1);
                self.resize(rows, cols);
            }
            self.send(format!("stty size{enter}").as_bytes());
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until the client has put the terminal in raw mode (its session has started:
    /// keys now reach it one by one); panics after 20 s.
    pub fn wait_raw(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self
            .termios()
            .local_flags
            .contains(nix::sys::termios::LocalFlags::ICANON)
        {
            assert!(
                Instant::now() < deadline,
                "the terminal never went raw:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The terminal's settings as the process left them.
    pub fn termios(&self) -> nix::sys::termios::Termios {
        nix::sys::termios::tcgetattr(&self.master).expect("tcgetattr on pty")
    }

    /// Waits for the process to exit (killed after `secs`), then until everything it wrote
    /// has been read from the terminal; its status code. A process's last words (the docker
    /// CLI's "read escape sequence") can still be in the terminal's buffer when it has
    /// exited: [`output`](Self::output) has them once this returns.
    pub fn wait(&mut self, secs: u64) -> i32 {
        let code = self.wait_exit(secs);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.closed.load(Ordering::SeqCst) {
            assert!(
                Instant::now() < deadline,
                "the terminal stayed open 10s after the process exited ({code}): a process \
                 it started holds it; output:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        code
    }

    fn wait_exit(&mut self, secs: u64) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code().unwrap_or(128);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "process on the pty did not exit in {secs}s; output:\n{}",
                    self.output()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A daemon under test with the CLI pointed at it. The daemon stops when this is dropped.
pub struct Engine {
    pub berth: Berth,
    /// "dockerd" or "berthd", for messages.
    pub name: &'static str,
    /// Scratch space for the test (images, files to copy).
    pub work: tempfile::TempDir,
    _daemon: Box<dyn std::any::Any>,
}

impl Engine {
    /// Debian's dockerd on a private socket; None when it is not installed.
    pub fn dockerd() -> Option<Engine> {
        let d = crate::dockerd::Dockerd::start()?;
        Some(Engine {
            berth: Berth::new(&d.host()),
            name: "dockerd",
            work: tempfile::Builder::new()
                .prefix("berth-cli-work-")
                .tempdir()
                .expect("create work dir"),
            _daemon: Box::new(d),
        })
    }

    /// berthd (with its own shimd) on a private socket.
    pub fn berthd() -> Engine {
        let d = crate::berthd::Berthd::start();
        Engine {
            berth: Berth::new(&d.host()),
            name: "berthd",
            work: tempfile::Builder::new()
                .prefix("berth-cli-work-")
                .tempdir()
                .expect("create work dir"),
            _daemon: Box::new(d),
        }
    }

    /// Removes every container, so a failed test leaves nothing running (containers
    /// outlive their daemon by design).
    fn remove_all_containers(&self) {
        let ids = self.berth.run(&["ps", "-a", "-q"]).stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rm", "-f"];
            args.extend(ids);
            let _ = self.berth.run(&args);
        }
    }

    /// Loads busybox:latest with `berth load`.
    pub fn load_busybox(&self) {
        let archive = busybox_archive(self.work.path());
        let out = self
            .berth
            .ok(&["load", "-i", archive.to_str().expect("utf-8 path")]);
        assert!(out.contains("busybox:latest"), "load printed: {out}");
    }
}

/// Generates two tests for the calling test file: its scenarios (`fn name(e: &Engine)`) run
/// one after the other against berthd, and against Debian's dockerd to show the CLI behaves
/// the same with Docker's own daemon. One daemon per file keeps the suite quick and light
/// on the host; every scenario starts from a clean daemon holding only busybox:latest, and
/// all scenarios run even when one fails (the test then lists the failures).
#[macro_export]
macro_rules! cli_scenarios {
    ($($name:ident),* $(,)?) => {
        #[test]
        fn berthd() {
            $crate::require!(root);
            let e = $crate::cli::Engine::berthd();
            e.run_scenarios(&[$((stringify!($name), $name as fn(&$crate::cli::Engine))),*]);
        }

        #[test]
        fn dockerd() {
            $crate::require!(root, dockerd);
            let e = $crate::cli::Engine::dockerd().expect("dockerd is installed");
            e.run_scenarios(&[$((stringify!($name), $name as fn(&$crate::cli::Engine))),*]);
        }
    };
}

/// A named scenario of a CLI test file.
pub type Scenario = (&'static str, fn(&Engine));

impl Engine {
    /// Empties the daemon (containers, then images) and loads busybox:latest.
    pub fn reset(&self) {
        self.remove_all_containers();
        let ids = self.berth.run(&["images", "-q", "--no-trunc"]).stdout;
        let ids: Vec<&str> = ids.split_whitespace().collect();
        if !ids.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(ids);
            let _ = self.berth.run(&args);
        }
        self.load_busybox();
    }

    /// Runs each scenario from a reset daemon; panics at the end naming those that failed.
    pub fn run_scenarios(&self, scenarios: &[Scenario]) {
        let mut failed = Vec::new();
        for (name, f) in scenarios {
            eprintln!("=== {name} against {}", self.name);
            self.reset();
            let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self)));
            if run.is_err() {
                eprintln!("=== {name} against {} FAILED", self.name);
                failed.push(*name);
            }
        }
        assert!(
            failed.is_empty(),
            "failed against {}: {failed:?}",
            self.name
        );
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.remove_all_containers();
    }
}
