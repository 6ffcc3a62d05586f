//! A private berthd for one test: its own socket, data root and exec root under a short
//! temporary directory, starting its own shimd, the workspace's binaries first in its PATH;
//! killed (with its shimd) when dropped. Also the real docker CLI and raw HTTP pointed at it.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The docker CLI the tests drive berthd with (Docker 28 where installed).
pub fn docker_cli() -> Option<PathBuf> {
    ["/usr/local/bin/docker", "/usr/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

pub struct Berthd {
    /// Holds `sock`, `data/`, `exec/`, `berthd.log`, `docker-config/` and `daemon.json`.
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    args: Vec<String>,
}

impl Berthd {
    /// Starts berthd with no extra flags and waits until it answers `/_ping`.
    pub fn start() -> Berthd {
        Self::start_with(&[], None)
    }

    /// Starts berthd and loads busybox:latest into it with the docker CLI.
    pub fn with_busybox() -> Berthd {
        let b = Self::start();
        b.load_busybox();
        b
    }

    /// Starts berthd with extra `args` and, if given, `daemon_json` as its --config-file.
    pub fn start_with(args: &[&str], daemon_json: Option<&str>) -> Berthd {
        // Short paths: shim sockets live below the exec root and sun_path is 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("bd-")
            .tempdir_in("/tmp")
            .expect("create berthd temp dir");
        let mut b = Berthd {
            dir,
            child: None,
            args: args.iter().map(|s| s.to_string()).collect(),
        };
        std::fs::create_dir_all(b.docker_config()).expect("docker config dir");
        if let Some(j) = daemon_json {
            std::fs::write(b.dir.path().join("daemon.json"), j).expect("write daemon.json");
            b.args.push("--config-file".into());
            b.args
                .push(b.dir.path().join("daemon.json").display().to_string());
        }
        b.spawn();
        b
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("sock")
    }

    /// `unix://<socket>`, for DOCKER_HOST and `berth -H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    pub fn data_root(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn exec_root(&self) -> PathBuf {
        self.dir.path().join("x")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("berthd.log")
    }

    /// Everything berthd (and its shimd) logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// The shimd berthd started (a child of berthd named shimd).
    pub fn shimd_pid(&self) -> Option<u32> {
        let pid = self.pid()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            for t in std::fs::read_dir(format!("/proc/{pid}/task"))
                .ok()?
                .flatten()
            {
                let kids = std::fs::read_to_string(t.path().join("children")).unwrap_or_default();
                for k in kids.split_whitespace() {
                    let comm =
                        std::fs::read_to_string(format!("/proc/{k}/comm")).unwrap_or_default();
                    if comm.trim() == "shimd" {
                        return k.parse().ok();
                    }
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The docker CLI's config dir for this daemon (credentials from `docker login`).
    pub fn docker_config(&self) -> PathBuf {
        self.dir.path().join("docker-config")
    }

    /// A `docker` command pointed at this berthd.
    pub fn docker(&self) -> Command {
        self.cli().command()
    }

    /// The docker CLI pointed at this berthd, as a value (see [`DockerCli`]).
    pub fn cli(&self) -> DockerCli {
        DockerCli {
            daemon: "berthd",
            host: self.host(),
            config: self.docker_config(),
        }
    }

    /// Runs `docker args`; returns (exit code, stdout, stderr).
    pub fn docker_run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.docker().args(args).output().expect("run docker");
        outcome(out)
    }

    /// Runs `docker args` with `input` on stdin.
    pub fn docker_stdin(&self, args: &[&str], input: &[u8]) -> (i32, String, String) {
        let mut c = self.docker();
        c.args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("run docker");
        let mut stdin = child.stdin.take().expect("stdin");
        let data = input.to_vec();
        let w = std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
        let out = child.wait_with_output().expect("wait for docker");
        let _ = w.join();
        outcome(out)
    }

    /// Runs `docker args` and panics (with its output and berthd's log tail) unless it
    /// succeeds; returns stdout.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.docker_run(args);
        assert_eq!(
            code,
            0,
            "docker {args:?} failed ({code}): {err}{out}\n--- berthd log (tail) ---\n{}",
            self.log_tail(30)
        );
        out
    }

    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Loads busybox:latest (built offline from busybox-static) with `docker load`.
    pub fn load_busybox(&self) {
        let archive = crate::cli::busybox_archive(self.dir.path());
        let out = self.docker_ok(&["load", "-i", archive.to_str().expect("utf-8 path")]);
        assert!(out.contains("busybox:latest"), "docker load printed: {out}");
    }

    /// One raw HTTP/1.1 request over the socket; returns (status, headers, body). The
    /// body is read to the end (the connection is closed after the request).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        raw_request(&self.socket(), method, path, headers, body)
    }

    /// `kill -9` berthd only (its shimd then stops too: it dies with berthd).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `kill -9` berthd and its shimd at once.
    pub fn kill9_all(&mut self) {
        let shimd = self.shimd_pid();
        if let Some(p) = shimd {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p as i32),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        self.kill9();
    }

    /// Stops berthd with SIGTERM and waits for it (it stops its shimd).
    pub fn stop(&mut self) {
        crate::bins::terminate(self.child.take(), Duration::from_secs(20));
    }

    /// Starts berthd again on the same socket and roots (after `kill9` or `stop`).
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    fn spawn(&mut self) {
        let mut cmd = crate::bins::daemon_command("berthd", &self.log_path());
        cmd.arg("-H")
            .arg(self.host())
            .arg("--data-root")
            .arg(self.data_root())
            .arg("--exec-root")
            .arg(self.exec_root())
            .arg("--pidfile")
            .arg(self.dir.path().join("berthd.pid"))
            .args(&self.args)
            .env(
                "RUST_LOG",
                std::env::var("BERTHD_LOG").unwrap_or_else(|_| "info".into()),
            );
        self.child = Some(cmd.spawn().expect("spawn berthd"));
        self.wait_serving();
    }

    fn wait_serving(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    panic!("berthd exited ({st}) before serving:\n{}", self.log());
                }
            }
            if crate::http::unix_get(&self.socket(), "/_ping")
                .map(|r| r.contains(" 200 "))
                .unwrap_or(false)
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "berthd did not serve on {} in 30s:\n{}",
                    self.socket().display(),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Berthd {
    /// Containers outlive berthd (as they should), so a test's containers are removed
    /// first: nothing of the test keeps running or stays mounted after it.
    fn drop(&mut self) {
        let mut bridges = Vec::new();
        if self.child.is_some() {
            self.remove_all_containers();
            bridges = self.remove_all_networks();
        }
        self.stop();
        // The default bridge and the nftables table stay when berthd stops (as docker0
        // does); this instance's are named after its data root and go with the test.
        for b in bridges {
            delete_bridge_and_table(&b);
        }
    }
}

/// Deletes bridge `berth<tag>` of a stopped test engine and its table `berth_<tag>`.
fn delete_bridge_and_table(bridge: &str) {
    let Some(tag) = bridge.strip_prefix("berth").filter(|t| t.len() == 8) else {
        return;
    };
    let quiet = |prog: &str, args: &[&str]| {
        let _ = Command::new(prog)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    };
    quiet("ip", &["link", "del", bridge]);
    quiet("nft", &["delete", "table", "ip", &format!("berth_{tag}")]);
}

impl Berthd {
    /// Force-removes every container of this berthd.
    pub fn remove_all_containers(&self) {
        let list = self.request("GET", "/containers/json?all=1", &[], b"");
        if list.status != 200 {
            return;
        }
        let ids: Vec<String> = serde_json::from_slice::<serde_json::Value>(&list.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c["Id"].as_str().map(str::to_string))
            .collect();
        for id in ids {
            self.request("DELETE", &format!("/containers/{id}?force=1"), &[], b"");
        }
    }

    /// Removes the networks the test created; returns the bridge of the default network
    /// (named after this instance's data root), for removal once berthd has stopped.
    pub fn remove_all_networks(&self) -> Vec<String> {
        let list = self.request("GET", "/networks", &[], b"");
        let nets: Vec<serde_json::Value> = serde_json::from_slice::<serde_json::Value>(&list.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default();
        let mut default_bridges = Vec::new();
        for n in nets {
            let name = n["Name"].as_str().unwrap_or_default();
            match name {
                "bridge" => default_bridges.extend(
                    n["Options"]["com.docker.network.bridge.name"]
                        .as_str()
                        .map(str::to_string),
                ),
                "host" | "none" => {}
                _ => {
                    if let Some(id) = n["Id"].as_str() {
                        self.request("DELETE", &format!("/networks/{id}"), &[], b"");
                    }
                }
            }
        }
        default_bridges
    }
}

/// The real docker CLI pointed at one daemon (berthd or Debian's dockerd), so one test
/// body can run against both.
pub struct DockerCli {
    /// "berthd" or "dockerd", for messages.
    pub daemon: &'static str,
    /// `unix://<socket>`.
    pub host: String,
    /// The CLI's config dir (credentials).
    pub config: PathBuf,
}

impl DockerCli {
    /// A `docker` command pointed at the daemon.
    pub fn command(&self) -> Command {
        let mut c = Command::new(docker_cli().expect("the docker CLI is installed"));
        c.env("DOCKER_HOST", &self.host)
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_API_VERSION")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .stdin(Stdio::null());
        c
    }

    /// Runs `docker args`; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str]) -> (i32, String, String) {
        outcome(self.command().args(args).output().expect("run docker"))
    }

    /// Runs `docker args`, panics unless it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args);
        assert_eq!(
            code, 0,
            "docker {args:?} against {} failed ({code}): {err}{out}",
            self.daemon
        );
        out
    }

    /// The daemon's socket.
    pub fn socket(&self) -> PathBuf {
        PathBuf::from(self.host.trim_start_matches("unix://"))
    }
}

fn outcome(out: Output) -> (i32, String, String) {
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }

    /// The `message` of an error body.
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or("").to_string()
    }
}

/// Sends one request with `Connection: close` and reads the whole answer (chunked bodies
/// are decoded).
pub fn raw_request(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = UnixStream::connect(sock).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s.write_all(&request_bytes(method, path, headers, body))
        .expect("send request");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    parse_response(&raw)
}

/// Sends a JSON request whose body the server may refuse before reading it all: the body is
/// written from a thread that stops at the first write error (the server closed), while
/// the answer is read here.
pub fn send_body_lossy(sock: &Path, method: &str, path: &str, body: &[u8]) -> Response {
    let mut s = UnixStream::connect(sock).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    let bytes = request_bytes(method, path, &[("Content-Type", "application/json")], body);
    let mut w = s.try_clone().expect("clone the stream");
    let writer = std::thread::spawn(move || {
        for chunk in bytes.chunks(1 << 16) {
            if w.write_all(chunk).is_err() {
                return;
            }
        }
    });
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    parse_response(&raw)
}

/// A request whose answer has begun: its status line and headers are in.
pub struct Pending {
    stream: UnixStream,
    raw: Vec<u8>,
}

impl Pending {
    /// Reads the rest of the answer.
    pub fn finish(mut self) -> Response {
        let _ = self.stream.read_to_end(&mut self.raw);
        parse_response(&self.raw)
    }
}

/// Sends one request as `raw_request` does, and returns once the head of the answer came:
/// for endpoints that answer their status line at once and their body later (a container
/// wait is registered once its status line came).
pub fn begin_request(
    sock: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Pending {
    let mut s = UnixStream::connect(sock).expect("connect to berthd");
    s.set_read_timeout(Some(Duration::from_secs(60))).ok();
    s.write_all(&request_bytes(method, path, headers, body))
        .expect("send request");
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    while !raw.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the answer to {method} {path}: {e}"),
        }
    }
    Pending { stream: s, raw }
}

/// One HTTP/1.1 request with `Connection: close`, body included.
fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: berthd\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Parses a whole answer: status line, headers and body (chunked bodies decoded).
pub fn parse_response(raw: &[u8]) -> Response {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP header in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            let start = i + 2;
            out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
            rest = &rest[(start + size + 2).min(rest.len())..];
        }
        body = out;
    }
    Response {
        status,
        headers,
        body,
    }
}
