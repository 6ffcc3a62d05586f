//! `terminal: true`: the container's pty, created inside its own devpts instance. The master
//! goes to the caller over the console socket (SCM_RIGHTS); the slave becomes the
//! process's controlling terminal, its stdio and /dev/console.

use crate::error::{bail, Context, Result};
use crate::sys::Sys;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const DEVPTS_SUPER_MAGIC: libc::c_long = 0x1cd1;

/// Opens a pty pair in the current root's /dev/ptmx, checking it really is a devpts master.
pub fn open_pty() -> Result<(OwnedFd, OwnedFd)> {
    let ptmx = c"/dev/ptmx";
    // SAFETY: a NUL-terminated constant path; the descriptor is owned right after.
    let fd = unsafe {
        libc::open(
            ptmx.as_ptr(),
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        bail!(
            "opening /dev/ptmx: {} (terminal: true needs devpts mounted at /dev/pts)",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: `fd` was just opened and is owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: statfs is plain old data; all zeroes is a valid value for fstatfs to overwrite.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a descriptor we own and a statfs buffer alive for the call.
    if unsafe { libc::fstatfs(master.as_raw_fd(), &mut st) } != 0
        || st.f_type as libc::c_long != DEVPTS_SUPER_MAGIC
    {
        bail!("/dev/ptmx is not a devpts pty multiplexer: refusing it as the console");
    }
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int through the pointer, alive for the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        bail!("unlocking the pty: {}", std::io::Error::last_os_error());
    }
    // TIOCGPTPEER opens the slave without a path lookup a container could redirect.
    // SAFETY: TIOCGPTPEER takes open flags (no pointer) and returns a new descriptor.
    let s = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if s < 0 {
        bail!("opening the pty slave: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `s` is the new slave descriptor, owned by nobody else.
    Ok((master, unsafe { OwnedFd::from_raw_fd(s) }))
}

/// Sends `fd` over a connected unix socket with SCM_RIGHTS, `name` as the payload.
pub fn send_fd(sock: RawFd, fd: RawFd, name: &str) -> Result<()> {
    let mut payload = name.as_bytes().to_vec();
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
    unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<RawFd>(), fd);
        if libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) < 0 {
            bail!(
                "sending the pty master over the console socket: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    Ok(())
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

pub fn set_size(fd: RawFd, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a winsize through the pointer, alive for the call.
    unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) };
}

/// In the container, after pivot_root: pty, /dev/console, master to the socket, slave as
/// controlling terminal and stdio. `bind_console` is false for exec (init did it).
pub fn setup(
    sys: &dyn Sys,
    sock: RawFd,
    size: Option<(u16, u16)>,
    bind_console: bool,
) -> Result<()> {
    let (master, slave) = open_pty()?;
    if let Some((rows, cols)) = size {
        set_size(slave.as_raw_fd(), rows, cols);
    }
    if bind_console {
        let console = std::path::Path::new("/dev/console");
        if !console.exists() {
            std::fs::File::create(console).ctx("creating /dev/console")?;
        }
        sys.mount(
            Some(&format!("/proc/self/fd/{}", slave.as_raw_fd())),
            "/dev/console",
            None,
            libc::MS_BIND,
            None,
        )
        .ctx("binding the pty to /dev/console")?;
    }
    send_fd(sock, master.as_raw_fd(), "/dev/ptmx")?;
    drop(master);
    // SAFETY: ioctl and dup2 on descriptors we own; TIOCSCTTY takes no pointer.
    unsafe {
        if libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) != 0 {
            bail!(
                "making the pty the controlling terminal: {}",
                std::io::Error::last_os_error()
            );
        }
        for i in 0..3 {
            if libc::dup2(slave.as_raw_fd(), i) < 0 {
                bail!("pty as stdio: {}", std::io::Error::last_os_error());
            }
        }
    }
    Ok(())
}
