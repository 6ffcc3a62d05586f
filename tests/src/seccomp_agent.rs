//! A seccomp agent for the runtime tests (seccomp user notification): it listens on a unix
//! socket for the container process state a runtime sends with a seccomp listener, keeps
//! the state, and answers the notified calls of the container:
//!
//! - `mkdir`/`mkdirat` of `path` make the directory `path-<metadata>` instead (inside the
//!   container, through `/proc/<pid>/root`) and succeed without running;
//! - `chmod`/`fchmod`/`fchmodat` fail with ENOMEDIUM;
//! - any other call runs in the kernel as if nothing had happened.
//!
//! `Agent::answering(n)` answers only `n` mkdirs and then closes the listener when the
//! next one arrives, as an agent that dies would: that call, and every later notified
//! one, fails with ENOSYS — provided nobody else (the runtime, the container) kept a copy.

use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

pub struct Agent {
    _dir: tempfile::TempDir,
    path: PathBuf,
    states: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Agent {
    /// An agent that answers every notification.
    pub fn start() -> Agent {
        Agent::answering(usize::MAX)
    }

    /// An agent that answers `mkdirs` mkdir calls, then closes the listener.
    pub fn answering(mkdirs: usize) -> Agent {
        let dir = tempfile::Builder::new()
            .prefix("berth-agent-")
            .tempdir()
            .expect("agent dir");
        let path = dir.path().join("agent.sock");
        let socket = UnixListener::bind(&path).expect("agent socket");
        socket.set_nonblocking(true).expect("nonblocking");
        let states = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (states, stop) = (states.clone(), stop.clone());
            std::thread::spawn(move || serve(socket, states, stop, mkdirs))
        };
        Agent {
            _dir: dir,
            path,
            states,
            stop,
            thread: Some(thread),
        }
    }

    /// The socket to name in `linux.seccomp.listenerPath`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container process states received so far, in order.
    pub fn states(&self) -> Vec<Value> {
        self.states.lock().unwrap().clone()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Accepts connections until told to stop; one thread per listener received.
fn serve(
    socket: UnixListener,
    states: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    mkdirs: usize,
) {
    let mut handlers = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match socket.accept() {
            Ok((conn, _)) => {
                let (state, listener) = receive(conn);
                let metadata = state["metadata"].as_str().unwrap_or_default().to_string();
                states.lock().unwrap().push(state);
                if let Some(l) = listener {
                    let stop = stop.clone();
                    handlers.push(std::thread::spawn(move || {
                        answer(l, &metadata, &stop, mkdirs)
                    }));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10))
            }
            Err(e) => panic!("agent accept: {e}"),
        }
    }
    for h in handlers {
        let _ = h.join();
    }
}

/// The message (JSON) and the descriptor that came with it.
fn receive(conn: UnixStream) -> (Value, Option<OwnedFd>) {
    conn.set_nonblocking(false).expect("blocking");
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u8; 64];
    // SAFETY: msghdr is plain old data; all zeroes is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = cbuf.len() as _;
    // SAFETY: `msg` describes `buf` and `cbuf`, alive for the call.
    let n = unsafe { libc::recvmsg(conn.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "agent recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: the header is read only when the kernel filled one in; its data is one
    // descriptor that is now ours.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (!c.is_null() && (*c).cmsg_type == libc::SCM_RIGHTS).then(|| {
            OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<RawFd>()))
        })
    };
    // Read up to the end of the JSON value, not to end of stream: runc keeps the
    // connection open while the container runs.
    let mut body = buf[..n as usize].to_vec();
    let mut conn = conn;
    loop {
        match serde_json::from_slice::<Value>(&body) {
            Ok(state) => return (state, fd),
            Err(e) if e.is_eof() => {
                let mut more = [0u8; 4096];
                let got = conn.read(&mut more).expect("rest of the state");
                assert!(
                    got > 0,
                    "agent: the state ends early: {}",
                    String::from_utf8_lossy(&body)
                );
                body.extend_from_slice(&more[..got]);
            }
            Err(e) => panic!("agent: not JSON ({e}): {}", String::from_utf8_lossy(&body)),
        }
    }
}

/// Answers notifications until the filter's processes are gone, the agent stops, or the
/// mkdir budget is spent (then the listener is closed without an answer).
fn answer(listener: OwnedFd, metadata: &str, stop: &AtomicBool, mut mkdirs: usize) {
    let fd = listener.as_raw_fd();
    while !stop.load(Ordering::SeqCst) {
        let mut p = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, alive for the call.
        let r = unsafe { libc::poll(&mut p, 1, 50) };
        if r <= 0 {
            continue;
        }
        if p.revents & libc::POLLIN == 0 {
            return; // POLLHUP: no process uses the filter any more
        }
        // SAFETY: seccomp_notif is plain old data; RECV wants it zeroed.
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: RECV fills the seccomp_notif through the pointer, alive for the call.
        if unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) } < 0 {
            continue; // the caller was killed meanwhile (ENOENT)
        }
        let name = (n.data.arch == AUDIT_ARCH_X86_64)
            .then(|| syscall_name(n.data.nr))
            .flatten();
        let (val, error, flags) = match name {
            Some("mkdir") | Some("mkdirat") => {
                if mkdirs == 0 {
                    return; // closes the listener: this call and later ones get ENOSYS
                }
                mkdirs -= 1;
                let arg = if name == Some("mkdir") { 0 } else { 1 };
                match read_path(n.pid, n.data.args[arg]) {
                    Some(path) if still_valid(fd, n.id) => {
                        let base = if path.starts_with('/') { "root" } else { "cwd" };
                        let target = format!("/proc/{}/{base}/{path}-{metadata}", n.pid);
                        match std::fs::create_dir(&target) {
                            Ok(()) => (0, 0, 0),
                            Err(e) => (0, -e.raw_os_error().unwrap_or(libc::EIO), 0),
                        }
                    }
                    _ => (0, -libc::EFAULT, 0),
                }
            }
            Some("chmod") | Some("fchmod") | Some("fchmodat") | Some("fchmodat2") => {
                (0, -libc::ENOMEDIUM, 0)
            }
            _ => (0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32),
        };
        let mut resp = libc::seccomp_notif_resp {
            id: n.id,
            val,
            error,
            flags,
        };
        // SAFETY: SEND reads the response through the pointer, alive for the call.
        unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    }
}

fn syscall_name(nr: i32) -> Option<&'static str> {
    Some(match nr {
        83 => "mkdir",
        258 => "mkdirat",
        90 => "chmod",
        91 => "fchmod",
        268 => "fchmodat",
        452 => "fchmodat2",
        _ => return None,
    })
}

/// Whether the notification still stands (its caller was not killed and replaced while we
/// read its memory).
fn still_valid(fd: RawFd, id: u64) -> bool {
    let mut id = id;
    // SAFETY: ID_VALID reads a u64 through the pointer, alive for the call.
    unsafe { libc::ioctl(fd, libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) == 0 }
}

/// The NUL-terminated string at `addr` in process `pid`.
fn read_path(pid: u32, addr: u64) -> Option<String> {
    let mem = std::fs::File::open(format!("/proc/{pid}/mem")).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = std::os::unix::fs::FileExt::read_at(&mem, &mut buf, addr).ok()?;
    let end = buf[..n].iter().position(|b| *b == 0)?;
    String::from_utf8(buf[..end].to_vec()).ok()
}
