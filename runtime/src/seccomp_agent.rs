//! Seccomp user notification: a process whose filter has SCMP_ACT_NOTIFY rules hands its
//! listener to the seccomp agent at `linux.seccomp.listenerPath`.
//!
//! The process installs its filter, reports the listener's descriptor number to the
//! runtime with write(2) (the one call a profile may not notify) and waits. The runtime
//! takes a copy with pidfd_getfd(2), connects to the agent's socket, sends the container
//! process state (runtime-spec: `ociVersion`, `fds: ["seccompFd"]`, `pid`, `metadata`,
//! `state`) with the copy attached, closes its copy and tells the process, which closes
//! its own. From then on only the agent holds the listener: notified calls wait for its
//! answer, and fail with ENOSYS once it is gone. Notified calls the process makes while it
//! waits simply wait for the agent too.

use crate::channel::{Channel, Msg};
use crate::error::{Context, Result};
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// The process's side: report the listener and close it once the agent has it.
pub fn hand_over(chan: &Channel, listener: OwnedFd) -> Result<()> {
    chan.send_with_write(&Msg::SeccompListener(listener.as_raw_fd()))?;
    chan.expect(Msg::SeccompHandedOver)?;
    drop(listener);
    Ok(())
}

/// The runtime's side: `fd` is the listener's number in process `pid` (in the runtime's
/// PID namespace); `state` the container's state as `state` reports it.
pub fn forward(
    chan: &Channel,
    pid: i32,
    fd: i32,
    seccomp: &oci_spec::runtime::LinuxSeccomp,
    state: serde_json::Value,
) -> Result<()> {
    let listener = copy_of(pid, fd)?;
    // compile() refused notifying rules without a path
    let path = seccomp.listener_path().clone().unwrap_or_default();
    let mut agent = std::os::unix::net::UnixStream::connect(&path).with_ctx(|| {
        format!(
            "failed to connect with seccomp agent at linux.seccomp.listenerPath {} (is the \
             agent running?)",
            path.display()
        )
    })?;
    let message = serde_json::json!({
        "ociVersion": state["ociVersion"].clone(),
        "fds": ["seccompFd"],
        "pid": pid,
        "metadata": seccomp.listener_metadata().clone().unwrap_or_default(),
        "state": state,
    })
    .to_string();
    let sending = || {
        format!(
            "sending the seccomp listener to the agent at {}",
            path.display()
        )
    };
    let sent = crate::fdpass::send_fd(agent.as_raw_fd(), listener.as_raw_fd(), message.as_bytes())
        .with_ctx(sending)?;
    agent
        .write_all(&message.as_bytes()[sent..])
        .with_ctx(sending)?;
    drop(agent);
    drop(listener);
    chan.send(&Msg::SeccompHandedOver)
}

/// Our own copy of descriptor `fd` of process `pid`.
fn copy_of(pid: i32, fd: i32) -> Result<OwnedFd> {
    let pidfd = berth_fs::pidfd::open(pid).with_ctx(|| format!("pidfd_open of process {pid}"))?;
    berth_fs::pidfd::get_fd(pidfd.as_fd(), fd).with_ctx(|| {
        format!("taking the seccomp listener of process {pid} (pidfd_getfd, Linux 5.6 or later)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_of_our_own_process_is_copied() {
        let file = tempfile::tempfile().unwrap();
        let copy = copy_of(std::process::id() as i32, file.as_raw_fd()).unwrap();
        assert_ne!(copy.as_raw_fd(), file.as_raw_fd());
        let e = copy_of(std::process::id() as i32, 9999).unwrap_err();
        assert!(e.0.contains("pidfd_getfd"), "{}", e.0);
    }
}
