//! Passing descriptors over connected unix sockets (SCM_RIGHTS): the pty master to a
//! console socket, a seccomp listener to the seccomp agent.

use crate::error::{bail, Result};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Sends `fd` with `payload` (at least one byte is sent: an empty payload becomes a NUL).
/// Returns how many payload bytes went out; on a stream socket the rest is the caller's
/// to write.
pub fn send_fd(sock: RawFd, fd: RawFd, payload: &[u8]) -> std::io::Result<usize> {
    let mut payload = payload.to_vec();
    if payload.is_empty() {
        payload.push(0);
    }
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: payload.len(),
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: msghdr is plain old data; all zeroes (no buffers yet) is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` points at `iov` (over `payload`) and `cbuf` (CMSG_SPACE bytes, room for one
    // header and one fd), all alive for the call, so CMSG_FIRSTHDR is non-null and in bounds.
    let n = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL)
    };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// Receives one fd sent with SCM_RIGHTS.
pub fn recv_fd(sock: RawFd) -> Result<OwnedFd> {
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut cbuf = vec![0u8; space];
    // SAFETY: msghdr is plain old data; all zeroes (no buffers yet) is a valid value.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: `msg` describes `buf` and `cbuf`, alive for the call; the header is read only when
    // the kernel filled one in (non-null), and its data is one descriptor that is now ours.
    unsafe {
        if libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) < 0 {
            bail!(
                "receiving the pty master: {}",
                std::io::Error::last_os_error()
            );
        }
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() || (*c).cmsg_type != libc::SCM_RIGHTS {
            bail!("the console socket sent no file descriptor");
        }
        Ok(OwnedFd::from_raw_fd(std::ptr::read_unaligned(
            libc::CMSG_DATA(c).cast::<RawFd>(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    #[test]
    fn a_descriptor_and_its_payload_arrive() {
        let (a, mut b) = std::os::unix::net::UnixStream::pair().unwrap();
        let file = tempfile::tempfile().unwrap();
        assert_eq!(send_fd(a.as_raw_fd(), file.as_raw_fd(), b"").unwrap(), 1);
        let got = recv_fd(b.as_raw_fd()).unwrap();
        assert_ne!(got.as_raw_fd(), file.as_raw_fd());
        drop(a);
        let mut rest = Vec::new();
        b.read_to_end(&mut rest).unwrap();
        assert!(
            rest.is_empty(),
            "the NUL payload was read with the descriptor"
        );
    }
}
