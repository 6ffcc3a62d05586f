//! Network test lab: a private network namespace that plays "the host" (bridges, NAT,
//! published ports live there, never in the real host's namespace), and sandboxes — a
//! network namespace plus a busybox root — that play containers. Commands run in a sandbox
//! enter its namespace and chroot into its root, so they read the sandbox's own
//! /etc/resolv.conf and /etc/hosts. All traffic stays inside these namespaces.

use std::ffi::CString;
use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use berth_network::dns::message;
use berth_network::netns::{self, Netns};
use berth_network::ControllerConfig;

/// A private "host" namespace and a directory for everything of one test.
pub struct Lab {
    pub dir: tempfile::TempDir,
    pub host_path: PathBuf,
    pub host: Netns,
    namespaces: Vec<PathBuf>,
}

impl Lab {
    /// A new lab with its host namespace (loopback up, like a real host's).
    pub fn new() -> Lab {
        let dir = tempfile::Builder::new()
            .prefix("berth-netlab-")
            .tempdir()
            .expect("lab dir");
        let host_path = dir.path().join("host.ns");
        netns::create_named(&host_path).expect("create the lab's host namespace");
        let host = Netns::open(&host_path).expect("open host namespace");
        let lab = Lab {
            dir,
            host_path: host_path.clone(),
            host,
            namespaces: vec![host_path],
        };
        lab.host_sh("ip link set lo up");
        lab
    }

    /// A controller configuration that keeps everything inside the lab: state in the lab
    /// dir, bridges and rules in the lab's host namespace, the host resolver at
    /// 127.0.0.53 of that namespace.
    pub fn config(&self) -> ControllerConfig {
        let resolv = self.dir.path().join("host-resolv.conf");
        if !resolv.exists() {
            std::fs::write(&resolv, "nameserver 127.0.0.53\nsearch lab.test\n").unwrap();
        }
        let mut c = ControllerConfig::new(self.dir.path().join("state"));
        c.host_netns = Some(self.host_path.clone());
        c.resolv_conf = resolv;
        c.lock_file = Some(self.dir.path().join("network.lock"));
        c
    }

    /// Runs a shell command (the host's busybox sh, `ip`, `nft` ...) in the lab's host
    /// namespace and returns stdout; panics on failure.
    pub fn host_sh(&self, script: &str) -> String {
        let out = self.host_sh_output(script);
        assert!(
            out.status.success(),
            "in the lab host: {script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn host_sh_output(&self, script: &str) -> Output {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(script);
        enter_netns(&mut cmd, self.host.raw_fd());
        cmd.output().expect("run in the lab host")
    }

    /// Runs `f` on a thread inside the lab's host namespace.
    pub fn in_host<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        netns::run_in(Some(&self.host), move || Ok(f())).unwrap()
    }

    /// Names of the links in the lab's host namespace.
    pub fn host_links(&self) -> Vec<String> {
        self.host_sh("ip -o link show")
            .lines()
            .filter_map(|l| l.split(": ").nth(1))
            .map(|n| n.split('@').next().unwrap_or(n).to_string())
            .collect()
    }

    /// The comments of the rules in the lab's berth table.
    pub fn rule_comments(&self, table: &str) -> Vec<String> {
        berth_network::nft::rule_comments(Some(&self.host), table).unwrap()
    }

    /// A new sandbox (namespace + busybox root) called `name`.
    pub fn sandbox(&mut self, name: &str) -> Sandbox {
        let ns_path = self.dir.path().join(format!("{name}.ns"));
        netns::create_named(&ns_path).expect("create sandbox namespace");
        self.namespaces.push(ns_path.clone());
        let root = self.dir.path().join(format!("{name}-root"));
        crate::rootfs::make_rootfs(&root).expect("sandbox rootfs");
        let ns = File::open(&ns_path).unwrap();
        Sandbox {
            name: name.to_string(),
            ns_path,
            root,
            ns,
            children: Vec::new(),
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for p in self.namespaces.iter().rev() {
            let _ = netns::remove_named(p);
        }
    }
}

impl Default for Lab {
    fn default() -> Self {
        Lab::new()
    }
}

/// Makes `cmd` enter the network namespace `fd` before it runs.
fn enter_netns(cmd: &mut Command, fd: i32) {
    // SAFETY: setns is one async-signal-safe system call; `fd` stays open in the parent.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// A stand-in container: a network namespace and a busybox root.
pub struct Sandbox {
    pub name: String,
    pub ns_path: PathBuf,
    pub root: PathBuf,
    ns: File,
    children: Vec<Child>,
}

impl Sandbox {
    /// A busybox command inside the sandbox (its namespace, chrooted into its root).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("/bin/busybox");
        cmd.args(args).env_clear().env("PATH", "/bin");
        let fd = self.ns.as_raw_fd();
        let root = CString::new(self.root.as_os_str().as_bytes()).unwrap();
        // SAFETY: only async-signal-safe system calls on data prepared before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) != 0
                    || libc::chroot(root.as_ptr()) != 0
                    || libc::chdir(c"/".as_ptr()) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        cmd
    }

    /// Runs a shell script in the sandbox; returns (success, stdout, stderr).
    pub fn sh(&self, script: &str) -> (bool, String, String) {
        let out = self
            .command(&["sh", "-c", script])
            .stdin(Stdio::null())
            .output()
            .expect("run in sandbox");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Starts a long-running shell script in the sandbox; it is killed when the sandbox is
    /// dropped.
    pub fn spawn(&mut self, script: &str) {
        let child = self
            .command(&["sh", "-c", script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn in sandbox");
        self.children.push(child);
    }

    /// Writes a file of the sandbox's root (e.g. `etc/resolv.conf`).
    pub fn write(&self, rel: &str, content: &str) {
        std::fs::write(self.root.join(rel), content).unwrap();
    }

    /// Runs `f` on a thread inside the sandbox's namespace.
    pub fn in_ns<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let ns = Netns::open(&self.ns_path).unwrap();
        netns::run_in(Some(&ns), move || Ok(f())).unwrap()
    }

    /// Sends one DNS query over UDP to `server` from inside the sandbox and returns the
    /// parsed answer (`None` when nothing answers within a second).
    pub fn dns_query(&self, server: SocketAddr, name: &str, qtype: u16) -> Option<message::Answer> {
        let q = message::build_query(0x4242, name, qtype);
        self.in_ns(move || {
            let s = UdpSocket::bind("0.0.0.0:0").ok()?;
            s.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
            s.send_to(&q, server).ok()?;
            let mut buf = [0u8; 4096];
            let n = s.recv(&mut buf).ok()?;
            message::parse_answer(&buf[..n])
        })
    }

    /// The sandbox's IPv4 routes as `ip route` prints them.
    pub fn routes(&self) -> String {
        let (ok, out, err) = self.sh("ip -4 route");
        assert!(ok, "ip route in {}: {err}", self.name);
        out
    }

    /// Kills the sandbox's processes (by their process groups).
    pub fn kill_all(&mut self) {
        for c in &mut self.children {
            // The process group this sandbox started (gone already when it ended).
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(-(c.id() as i32)),
                nix::sys::signal::Signal::SIGKILL,
            );
            let _ = c.wait();
        }
        self.children.clear();
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// A tiny DNS responder for forwarding tests, over UDP on `addr` inside namespace `ns`,
/// until dropped: names under `outside.` get the A record `answer`, all others NXDOMAIN.
pub struct DnsResponder {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DnsResponder {
    pub fn start(ns: &Netns, addr: SocketAddr, answer: Ipv4Addr) -> DnsResponder {
        use std::sync::atomic::{AtomicBool, Ordering};
        let sock = netns::run_in(Some(ns), move || {
            UdpSocket::bind(addr).map_err(|e| berth_network::Error::Io {
                what: format!("bind the test resolver on {addr}"),
                source: e,
            })
        })
        .unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !flag.load(Ordering::Relaxed) {
                let Ok((n, peer)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(q) = message::parse_query(&buf[..n]) else {
                    continue;
                };
                let r = if !q.name().starts_with("outside.") {
                    message::response(&q, message::Rcode::NxDomain, &[], 5, 512)
                } else if q.qtype == message::TYPE_A {
                    message::response(
                        &q,
                        message::Rcode::NoError,
                        &[message::Record::A(answer)],
                        5,
                        512,
                    )
                } else {
                    message::response(&q, message::Rcode::NoError, &[], 5, 512)
                };
                let _ = sock.send_to(&r, peer);
            }
        });
        DnsResponder {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsResponder {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Waits until `f` is true, up to `secs` seconds.
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// A multi-threaded runtime for a test (the controller's DNS servers run on it).
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}
