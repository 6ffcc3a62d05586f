//! Typed messages between the runtime and the container's processes over a SEQPACKET
//! socketpair: one message per packet, so a message is never split or merged.

use crate::error::{bail, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Runtime → child: the child is in its cgroup; go on.
    Go,
    /// Child → runtime: I unshared my user namespace; write my uid/gid maps.
    MapIds,
    /// Runtime → child: the maps are written.
    MapsDone,
    /// Child → runtime: the container process has this pid (in the runtime's namespace).
    Pid(i32),
    /// Child → runtime: the rootfs is mounted; run the prestart and createRuntime hooks.
    RunHooks,
    /// Runtime → child: hooks done; here is the container's state for the container's hooks.
    HooksDone(String),
    /// Child → runtime: set up and waiting for `start`.
    Ready,
    /// Child → runtime: setting up failed for this reason.
    Failed(String),
    /// Child → runtime: my seccomp listener is this descriptor of mine; hand a copy to the
    /// seccomp agent (sent with write(2): see `send_with_write`).
    SeccompListener(i32),
    /// Runtime → child: the agent has the listener; close yours.
    SeccompHandedOver,
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (runtime end, child end). Both close on exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair writes two descriptors into `fds`, an array of two ints alive for the call.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        bail!("socketpair: {}", std::io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded: both descriptors are new and owned by nobody else.
    unsafe {
        Ok((
            Channel {
                fd: OwnedFd::from_raw_fd(fds[0]),
            },
            Channel {
                fd: OwnedFd::from_raw_fd(fds[1]),
            },
        ))
    }
}

impl AsRawFd for Channel {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }
}

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = Vec::with_capacity(16);
    match m {
        Msg::Go => buf.push(1),
        Msg::MapIds => buf.push(2),
        Msg::MapsDone => buf.push(3),
        Msg::Pid(p) => {
            buf.push(4);
            buf.extend_from_slice(&p.to_le_bytes());
        }
        Msg::RunHooks => buf.push(5),
        Msg::HooksDone(s) => {
            buf.push(6);
            buf.extend_from_slice(s.as_bytes());
        }
        Msg::Ready => buf.push(7),
        Msg::Failed(s) => {
            buf.push(8);
            buf.extend_from_slice(s.as_bytes());
        }
        Msg::SeccompListener(fd) => {
            buf.push(9);
            buf.extend_from_slice(&fd.to_le_bytes());
        }
        Msg::SeccompHandedOver => buf.push(10),
    }
    buf
}

impl Channel {
    pub fn send(&self, m: &Msg) -> Result<()> {
        let buf = encode(m);
        loop {
            // SAFETY: the pointer and length describe `buf`, alive for the call.
            let n = unsafe {
                libc::send(
                    self.fd.as_raw_fd(),
                    buf.as_ptr().cast(),
                    buf.len(),
                    libc::MSG_NOSIGNAL,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("sending to the container process: {e}");
            }
        }
    }

    /// Sends with write(2) rather than send(2): the one call a profile may not notify
    /// (seccomp user notification), so a process whose filter is in can still report its
    /// listener before anyone answers notifications. SIGPIPE is ignored in the runtime's
    /// processes (the Rust runtime's default), so a vanished peer is an error here too.
    pub fn send_with_write(&self, m: &Msg) -> Result<()> {
        let buf = encode(m);
        loop {
            // SAFETY: the pointer and length describe `buf`, alive for the call.
            let n = unsafe { libc::write(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(());
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("sending to the runtime: {e}");
            }
        }
    }

    /// The next message, or None when the other side has gone (all its copies closed).
    pub fn recv(&self) -> Result<Option<Msg>> {
        let mut buf = vec![0u8; 64 * 1024];
        let n = loop {
            // SAFETY: recv writes at most `buf.len()` bytes into `buf`, alive for the call.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n >= 0 {
                break n as usize;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                bail!("receiving from the container process: {e}");
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let body = &buf[1..n];
        let text = || String::from_utf8_lossy(body).into_owned();
        Ok(Some(match buf[0] {
            1 => Msg::Go,
            2 => Msg::MapIds,
            3 => Msg::MapsDone,
            4 if body.len() == 4 => Msg::Pid(i32::from_le_bytes(body.try_into().unwrap())),
            5 => Msg::RunHooks,
            6 => Msg::HooksDone(text()),
            7 => Msg::Ready,
            8 => Msg::Failed(text()),
            9 if body.len() == 4 => {
                Msg::SeccompListener(i32::from_le_bytes(body.try_into().unwrap()))
            }
            10 => Msg::SeccompHandedOver,
            t => bail!("unexpected message {t} from the container process"),
        }))
    }

    /// Waits for exactly `want`; a failure message or hang-up becomes the error.
    pub fn expect(&self, want: Msg) -> Result<()> {
        match self.recv()? {
            Some(m) if m == want => Ok(()),
            Some(Msg::Failed(s)) => Err(s.into()),
            Some(m) => bail!("unexpected message {m:?} (wanted {want:?})"),
            None => bail!("the other side hung up (wanted {want:?})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let (a, b) = pair().unwrap();
        for m in [
            Msg::Go,
            Msg::Pid(4242),
            Msg::HooksDone("{\"a\":1}".into()),
            Msg::Failed("boom".into()),
            Msg::Ready,
            Msg::SeccompHandedOver,
        ] {
            a.send(&m).unwrap();
            assert_eq!(b.recv().unwrap(), Some(m));
        }
        b.send_with_write(&Msg::SeccompListener(7)).unwrap();
        assert_eq!(a.recv().unwrap(), Some(Msg::SeccompListener(7)));
        drop(a);
        assert_eq!(b.recv().unwrap(), None);
    }
}
