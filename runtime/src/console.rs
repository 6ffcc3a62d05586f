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
    crate::fdpass::send_fd(sock, master.as_raw_fd(), b"/dev/ptmx")
        .ctx("sending the pty master over the console socket")?;
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
