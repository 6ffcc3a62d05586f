//! shimd: berthd's only way to images, snapshots, containers and tasks. Either a running
//! shimd given by `--shimd-address`, or one berthd starts and supervises as its child.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use berth_proto::client::{self, NsChannel};
use berth_proto::v1;

/// The shimd namespace the engine keeps everything in.
pub const NAMESPACE: &str = "berth";

/// gRPC clients over one channel to shimd (the channel reconnects by itself when shimd
/// restarts). Cloning is cheap.
#[derive(Clone)]
pub struct Shimd {
    ch: NsChannel,
}

impl Shimd {
    /// Connects to `socket`, retrying until `timeout` passes.
    pub async fn connect(socket: &Path, timeout: Duration) -> anyhow::Result<Shimd> {
        let deadline = Instant::now() + timeout;
        loop {
            match client::connect(socket).await {
                Ok(ch) => {
                    return Ok(Shimd {
                        ch: client::with_namespace(ch, NAMESPACE)?,
                    })
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(anyhow::anyhow!(
                        "cannot connect to shimd at {}: {e}; is it running?",
                        socket.display()
                    ))
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    pub fn containers(&self) -> v1::containers_client::ContainersClient<NsChannel> {
        v1::containers_client::ContainersClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }

    pub fn tasks(&self) -> v1::tasks_client::TasksClient<NsChannel> {
        v1::tasks_client::TasksClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }

    pub fn images(&self) -> v1::images_client::ImagesClient<NsChannel> {
        v1::images_client::ImagesClient::new(self.ch.clone())
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20)
    }

    pub fn snapshots(&self) -> v1::snapshots_client::SnapshotsClient<NsChannel> {
        v1::snapshots_client::SnapshotsClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }

    pub fn content(&self) -> v1::content_client::ContentClient<NsChannel> {
        v1::content_client::ContentClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }

    pub fn leases(&self) -> v1::leases_client::LeasesClient<NsChannel> {
        v1::leases_client::LeasesClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }

    pub fn system(&self) -> v1::system_client::SystemClient<NsChannel> {
        v1::system_client::SystemClient::new(self.ch.clone())
            .max_decoding_message_size(client::MAX_RESPONSE)
    }
}

/// A shimd berthd started itself: restarted if it dies, stopped with berthd.
pub struct Child {
    pid: Arc<AtomicU32>,
    stopping: Arc<AtomicBool>,
    pub socket: PathBuf,
}

/// Where berthd's own shimd keeps its files.
pub struct Layout {
    pub root: PathBuf,
    pub state: PathBuf,
    pub socket: PathBuf,
    pub log_level: String,
}

impl Layout {
    pub fn for_engine(data_root: &Path, exec_root: &Path, log_level: &str) -> Layout {
        Layout {
            root: data_root.join("shimd"),
            state: exec_root.join("shimd"),
            socket: exec_root.join("shimd.sock"),
            log_level: log_level.to_string(),
        }
    }
}

impl Child {
    /// Starts shimd and keeps it running from a dedicated thread. The thread lives as long
    /// as berthd, which matters: shimd gets SIGTERM when the thread that forked it dies
    /// (PR_SET_PDEATHSIG), so a killed berthd does not leave an orphaned shimd behind.
    ///
    /// A shimd left over from a berthd that was just killed may still hold the root lock
    /// or the socket for a moment; the supervisor retries with a short backoff until the
    /// old one is gone.
    pub fn spawn(layout: Layout) -> anyhow::Result<Child> {
        let binary = find_binary("shimd")?;
        let pid = Arc::new(AtomicU32::new(0));
        let stopping = Arc::new(AtomicBool::new(false));
        let socket = layout.socket.clone();
        let (p, s) = (pid.clone(), stopping.clone());
        std::thread::Builder::new()
            .name("shimd-supervisor".into())
            .spawn(move || supervise(binary, layout, p, s))
            .context("starting the shimd supervisor thread")?;
        Ok(Child {
            pid,
            stopping,
            socket,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// Waits until the shimd listening on the socket is this one. Right after a berthd
    /// was killed, its shimd (ending on its own) may still answer there for a moment; a
    /// berthd that started talking to it would lose it half-way through its start-up.
    pub async fn wait_serving(&self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let pid = self.pid();
            let listener = listening_pid(&self.socket).await;
            if pid != 0 && listener == Some(pid) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!(
                    "the shimd berthd started (pid {pid}) is not serving on {} after {timeout:?} \
                     (listening: {}); see its log above",
                    self.socket.display(),
                    listener.map_or("nobody".to_string(), |p| format!("pid {p}"))
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops shimd (SIGTERM, then SIGKILL after 10 s). Containers keep running in their shims.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let pid = self.pid();
        if pid == 0 {
            return;
        }
        let p = nix::unistd::Pid::from_raw(pid as i32);
        let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.pid() == pid && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.pid() == pid {
            let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// The process listening on unix socket `path` (the one that called `listen`, as the
/// kernel reports it to a peer), if any.
async fn listening_pid(path: &Path) -> Option<u32> {
    let s = tokio::net::UnixStream::connect(path).await.ok()?;
    let pid = s.peer_cred().ok()?.pid()?;
    u32::try_from(pid).ok()
}

fn supervise(binary: PathBuf, layout: Layout, pid: Arc<AtomicU32>, stopping: Arc<AtomicBool>) {
    let mut backoff = Duration::from_millis(50);
    loop {
        let started = Instant::now();
        let mut cmd = Command::new(&binary);
        cmd.arg("--root")
            .arg(&layout.root)
            .arg("--state")
            .arg(&layout.state)
            .arg("--address")
            .arg(&layout.socket)
            .arg("--log-level")
            .arg(&layout.log_level)
            .stdin(Stdio::null());
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: prctl and getppid are async-signal-safe; nothing else runs between fork
        // and exec.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // berthd may have ended before the death signal was armed. (No allocation
                // here: another thread may have held the allocator's lock at the fork.)
                if libc::getppid() != parent {
                    return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        match cmd.spawn() {
            Ok(mut child) => {
                pid.store(child.id(), Ordering::SeqCst);
                // stop() may have run while we were spawning: it found no pid to signal.
                if stopping.load(Ordering::SeqCst) {
                    let _ = child.kill();
                }
                tracing::info!(pid = child.id(), "started shimd");
                let status = child.wait();
                pid.store(0, Ordering::SeqCst);
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                tracing::warn!(?status, "shimd exited; starting it again");
            }
            Err(e) => {
                tracing::error!("cannot start {}: {e}", binary.display());
            }
        }
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        if started.elapsed() > Duration::from_secs(10) {
            backoff = Duration::from_millis(50);
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// A binary next to berthd's own executable, else in PATH.
pub fn find_binary(name: &str) -> anyhow::Result<PathBuf> {
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe.parent() {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    anyhow::bail!(
        "cannot find the {name} binary next to berthd or in PATH; install it or pass \
         --shimd-address to use a running shimd"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child_on(socket: PathBuf, pid: u32) -> Child {
        Child {
            pid: Arc::new(AtomicU32::new(pid)),
            stopping: Arc::new(AtomicBool::new(false)),
            socket,
        }
    }

    #[tokio::test]
    async fn waits_for_its_own_shimd_not_any_listener() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("shimd.sock");
        assert_eq!(listening_pid(&socket).await, None);
        // Another process's listener (here: ours, while the child is someone else).
        let _l = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        assert_eq!(listening_pid(&socket).await, Some(std::process::id()));
        let other = child_on(socket.clone(), std::process::id() + 1);
        let err = other
            .wait_serving(Duration::from_millis(100))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("listening: pid {}", std::process::id())),
            "{err}"
        );
        let own = child_on(socket, std::process::id());
        own.wait_serving(Duration::from_millis(100)).await.unwrap();
    }
}
