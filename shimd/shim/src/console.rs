//! The console socket: the runtime connects to it and sends the pty master of the
//! container's terminal as SCM_RIGHTS. The socket lives in the task directory under a
//! relative name, so deep state directories never hit the 108-byte `sun_path` limit.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

pub struct ConsoleSocket {
    name: String,
    listener: UnixListener,
}

impl ConsoleSocket {
    /// Binds `name` in the current directory (the task directory).
    pub fn bind(name: &str) -> std::io::Result<ConsoleSocket> {
        let _ = std::fs::remove_file(name);
        let listener = UnixListener::bind(name)?;
        listener.set_nonblocking(true)?;
        Ok(ConsoleSocket {
            name: name.to_string(),
            listener,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes the pty master the runtime has sent (it has exited by now, so its connection
    /// waits in the backlog).
    pub fn receive_master(&self) -> Result<OwnedFd, String> {
        let (stream, _) = self
            .listener
            .accept()
            .map_err(|e| format!("the runtime sent no terminal on the console socket ({e})"))?;
        stream
            .set_nonblocking(false)
            .and_then(|_| stream.set_read_timeout(Some(Duration::from_secs(5))))
            .map_err(|e| format!("console socket: {e}"))?;
        let mut buf = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([RawFd; 2]);
        let msg = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("receiving the terminal from the runtime: {e}"))?;
        let mut master = None;
        for c in msg
            .cmsgs()
            .map_err(|e| format!("console socket message: {e}"))?
        {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel just gave us this descriptor; we own it now.
                    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                    if master.is_none() {
                        master = Some(owned);
                    }
                }
            }
        }
        let master = master.ok_or("the runtime's console message carried no descriptor")?;
        if !is_pty_master(&master) {
            return Err("the descriptor on the console socket is not a pty master".into());
        }
        Ok(master)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.name);
    }
}

fn is_pty_master(fd: &OwnedFd) -> bool {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer.
    unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) == 0 }
}

/// Sets the terminal size of a pty.
pub fn resize(master: &OwnedFd, width: u32, height: u32) -> std::io::Result<()> {
    let ws = libc::winsize {
        ws_row: height.min(u16::MAX as u32) as u16,
        ws_col: width.min(u16::MAX as u32) as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
