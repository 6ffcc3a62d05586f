//! `run`: create, start and wait in the foreground (exit code of the container, signals
//! forwarded to it, and with `terminal: true` a pty relayed to our own terminal), or
//! create and start with `--detach`.

use crate::create::{self, ConsoleTo, CreateOpts, Global};
use crate::error::Result;
use crate::lifecycle;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

static TARGET: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = TARGET.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe and takes numbers.
        unsafe { libc::kill(pid, sig) };
    }
}

pub fn forward_signals_to(pid: i32) {
    TARGET.store(pid, Ordering::Relaxed);
    for sig in 1..libc::SIGRTMAX() {
        if matches!(
            sig,
            libc::SIGKILL
                | libc::SIGSTOP
                | libc::SIGCHLD
                | libc::SIGWINCH
                | libc::SIGPIPE
                | libc::SIGURG
        ) {
            continue;
        }
        // SAFETY: a zeroed sigaction (valid: no flags, empty mask) with a handler that only calls
        // async-signal-safe code (an atomic load and kill); no old action is asked for.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

pub fn run(g: &Global, o: &CreateOpts, detach: bool, keep: bool) -> Result<i32> {
    let to = if detach {
        ConsoleTo::Socket
    } else {
        ConsoleTo::Caller
    };
    let (st, own_console) = create::create(g, o, to)?;
    let master = match &own_console {
        Some(sock) => Some(crate::fdpass::recv_fd(sock.as_raw_fd())?),
        None => None,
    };
    if let Err(e) = lifecycle::start(g, &o.id) {
        let _ = lifecycle::delete(g, &o.id, true);
        return Err(e);
    }
    if detach {
        return Ok(0);
    }
    forward_signals_to(st.pid);
    let status = match master {
        Some(m) => relay_tty(&m, st.pid),
        None => wait(st.pid),
    };
    TARGET.store(0, Ordering::Relaxed);
    if !keep {
        // Init is reaped: the container is stopped; remove it without looking it up again.
        lifecycle::destroy(g, &st)?;
    }
    Ok(status)
}

/// Waits for our child `pid` (init is our child through CLONE_PARENT); the shell-style exit code.
pub fn wait(pid: i32) -> i32 {
    let mut status = 0;
    loop {
        // SAFETY: waitpid writes the status into a local int.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            break;
        }
        if r < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return 255;
        }
    }
    exit_code(status)
}

pub fn exit_code(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        255
    }
}

/// Copies our stdin to the pty and the pty to our stdout (our terminal in raw mode)
/// until the container exits; returns its exit code.
pub fn relay_tty(master: &OwnedFd, pid: i32) -> i32 {
    let m = master.as_raw_fd();
    // SAFETY: termios is plain old data; all zeroes is a valid value for tcgetattr to overwrite.
    let mut saved: libc::termios = unsafe { std::mem::zeroed() };
    // SAFETY: isatty takes a number; tcgetattr writes into `saved`, alive for the call.
    let is_tty = unsafe { libc::isatty(0) } == 1 && unsafe { libc::tcgetattr(0, &mut saved) } == 0;
    if is_tty {
        let mut raw = saved;
        // SAFETY: cfmakeraw and tcsetattr use `raw`, a termios we own; TIOCGWINSZ writes into and
        // TIOCSWINSZ reads `ws`, a winsize we own.
        unsafe {
            libc::cfmakeraw(&mut raw);
            libc::tcsetattr(0, libc::TCSANOW, &raw);
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(m, libc::TIOCSWINSZ, &ws);
            }
        }
    }
    let mut buf = [0u8; 8192];
    let mut stdin_open = true;
    let mut status = None;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: m,
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if stdin_open { 0 } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll of the two pollfds of `fds`, alive for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, 50) };
        if n > 0 {
            if fds[0].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                // SAFETY: read writes at most `buf.len()` bytes into `buf`.
                let k = unsafe { libc::read(m, buf.as_mut_ptr().cast(), buf.len()) };
                if k > 0 {
                    write_all(1, &buf[..k as usize]);
                } else if status.is_some() || k == 0 {
                    break;
                }
            }
            if fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                // SAFETY: read writes at most `buf.len()` bytes into `buf`.
                let k = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if k > 0 {
                    write_all(m, &buf[..k as usize]);
                } else {
                    stdin_open = false;
                }
            }
        }
        if status.is_none() {
            let mut st = 0;
            // SAFETY: waitpid writes the status into a local int.
            if unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) } == pid {
                status = Some(exit_code(st));
            }
        } else if n == 0 {
            break;
        }
    }
    if is_tty {
        // SAFETY: tcsetattr reads `saved`, alive for the call.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &saved) };
    }
    status.unwrap_or_else(|| wait(pid))
}

fn write_all(fd: i32, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: the pointer and length describe `data`.
        let k = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if k <= 0 {
            return;
        }
        data = &data[k as usize..];
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_codes_are_the_shells() {
        // wait(2) status words: exit 3, killed by SIGKILL
        assert_eq!(super::exit_code(3 << 8), 3);
        assert_eq!(super::exit_code(libc::SIGKILL), 128 + 9);
        assert_eq!(super::exit_code(0), 0);
    }
}
