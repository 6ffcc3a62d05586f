//! Birth of a shim: bind the socket in the task directory, fork, and let the starter go.
//! The parent prints the socket's address and exits, so whoever started us (shimd) only
//! waits for that; the child starts its own session, becomes child subreaper (orphaned
//! container processes are re-parented to it) and serves until the task is deleted.
//! With `--init` the child is also PID 1 of a new PID namespace (see `pidns`); the parent
//! reports the address only once the child has set that up.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixListener;
use std::path::Path;

use nix::unistd::{fork, ForkResult};

use crate::pidns;
use crate::reaper::Reaper;
use crate::server::Server;
use crate::SOCKET;

/// The shim's pid, written by the parent before it reports the address.
const PID_FILE: &str = "shim.pid";
/// The shim's own diagnostics (its stderr).
const SHIM_LOG: &str = "shim.log";

pub fn start(id: &str, dir: &Path, init: bool) -> Result<(), String> {
    // Everything lives in the task directory under short relative names: a deep state
    // directory cannot push a socket path past the 108-byte sun_path limit.
    std::env::set_current_dir(dir)
        .map_err(|e| format!("entering the task directory {}: {e}", dir.display()))?;
    match std::fs::remove_file(SOCKET) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("removing a stale {SOCKET}: {e}"))
        }
        _ => {}
    }
    let listener = UnixListener::bind(SOCKET)
        .map_err(|e| format!("binding {}: {e}", dir.join(SOCKET).display()))?;
    std::fs::set_permissions(SOCKET, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("securing {SOCKET}: {e}"))?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("{SOCKET}: {e}"))?;
    // SIGCHLD is blocked and its signalfd opened before any child exists.
    let reaper = Reaper::new().map_err(|e| format!("setting up the reaper: {e}"))?;
    let host_proc = if init { Some(pidns::prepare()?) } else { None };
    // The child's report on becoming init: nothing (closed) when it succeeded.
    let ready = if init {
        Some(
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
                .map_err(|e| format!("creating a pipe: {e}"))?,
        )
    } else {
        None
    };

    // SAFETY: the process is single-threaded here, so the child may run anything.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Parent { child } => {
            if let Some((r, w)) = ready {
                drop(w);
                let mut why = String::new();
                let _ = std::fs::File::from(r).read_to_string(&mut why);
                if !why.is_empty() {
                    return Err(why);
                }
            }
            write_pid_file(child.as_raw() as u32)?;
            let mut out = std::io::stdout().lock();
            writeln!(out, "{}", dir.join(SOCKET).display())
                .and_then(|_| out.flush())
                .map_err(|e| format!("reporting the address: {e}"))?;
            Ok(())
        }
        ForkResult::Child => {
            become_daemon();
            if let Some((r, w)) = ready {
                drop(r);
                if let Err(e) = pidns::become_init() {
                    let _ = std::fs::File::from(w).write_all(e.as_bytes());
                    std::process::exit(1);
                }
            }
            Server::new(id.to_string(), listener, reaper, host_proc).run()
        }
    }
}

fn write_pid_file(pid: u32) -> Result<(), String> {
    let tmp = format!("{PID_FILE}.tmp");
    std::fs::write(&tmp, format!("{pid}\n"))
        .and_then(|_| std::fs::rename(&tmp, PID_FILE))
        .map_err(|e| format!("writing {PID_FILE}: {e}"))
}

/// Own session (no controlling terminal, no signals from the starter's process group),
/// child subreaper, stdio away from the starter's pipes.
fn become_daemon() {
    let _ = nix::unistd::setsid();
    if let Err(e) = nix::sys::prctl::set_child_subreaper(true) {
        eprintln!("berth-shim: cannot become child subreaper: {e}");
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    let null = std::fs::File::options()
        .read(true)
        .write(true)
        .open("/dev/null");
    let log = std::fs::File::options()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(SHIM_LOG);
    if let Ok(null) = &null {
        let _ = nix::unistd::dup2(null.as_raw_fd(), 0);
        let _ = nix::unistd::dup2(null.as_raw_fd(), 1);
    }
    match (&log, &null) {
        (Ok(f), _) | (Err(_), Ok(f)) => {
            let _ = nix::unistd::dup2(f.as_raw_fd(), 2);
        }
        _ => {}
    }
}
