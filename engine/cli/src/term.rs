//! The local terminal: TTY checks, raw mode that is always undone, window size, and
//! signals delivered through a pipe so a poll loop can react to them.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// The size of the terminal on `fd` as (rows, columns), if it is one.
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
    let r = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (r == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// The local terminal's size: stdout's, or stdin's when stdout is redirected.
pub fn local_size() -> Option<(u16, u16)> {
    window_size(libc::STDOUT_FILENO).or_else(|| window_size(libc::STDIN_FILENO))
}

/// Raw mode on stdin's terminal for the guard's lifetime; the saved settings come back
/// when it is dropped (normal return, error, or unwinding panic).
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    pub fn enable() -> std::io::Result<RawMode> {
        // SAFETY: stdin stays open for the life of the process.
        let fd = unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: as above.
        let fd = unsafe { BorrowedFd::borrow_raw(libc::STDIN_FILENO) };
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}

/// The write end of the signal pipe, for the async-signal-safe handler.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe {
            libc::write(fd, (&b as *const u8).cast(), 1);
        }
    }
}

/// Signals turned into bytes on a pipe (one byte per signal number).
pub struct SignalPipe {
    read: OwnedFd,
    _write: OwnedFd,
    signals: Vec<Signal>,
}

impl SignalPipe {
    /// Starts catching `signals`; dropping the pipe restores their default handling.
    pub fn catch(signals: &[Signal]) -> std::io::Result<SignalPipe> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 fills two descriptors we then own.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: both descriptors were just created and are owned here only.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        SIGNAL_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for s in signals {
            // SAFETY: the handler only calls write(2).
            unsafe { sigaction(*s, &action) }.map_err(std::io::Error::from)?;
        }
        Ok(SignalPipe {
            read,
            _write: write,
            signals: signals.to_vec(),
        })
    }

    pub fn fd(&self) -> RawFd {
        self.read.as_raw_fd()
    }

    /// The signals caught since the last call.
    pub fn drain(&self) -> Vec<Signal> {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        loop {
            // SAFETY: reading into our buffer from our non-blocking pipe.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            out.extend(
                buf[..n as usize]
                    .iter()
                    .filter_map(|b| Signal::try_from(i32::from(*b)).ok()),
            );
        }
        out
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for s in &self.signals {
            // SAFETY: restoring the default disposition.
            let _ = unsafe { sigaction(*s, &default) };
        }
        SIGNAL_PIPE.store(-1, Ordering::Relaxed);
    }
}

/// docker's `--detach-keys` syntax: comma-separated keys, each a single character or
/// `ctrl-<c>` for a-z, @, [, \, ], ^ and _.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("Invalid detach keys ({spec}) provided");
    let mut out = Vec::new();
    for key in spec.split(',') {
        if let Some(c) = key.strip_prefix("ctrl-") {
            let mut chars = c.chars();
            let (Some(ch), None) = (chars.next(), chars.next()) else {
                return Err(invalid());
            };
            let code = match ch.to_ascii_lowercase() {
                c @ 'a'..='z' => c as u8 - b'a' + 1,
                '@' => 0,
                '[' => 27,
                '\\' => 28,
                ']' => 29,
                '^' => 30,
                '_' => 31,
                _ => return Err(invalid()),
            };
            out.push(code);
        } else {
            let mut chars = key.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => out.push(c as u8),
                _ => return Err(invalid()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::parse_detach_keys;

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("ctrl-@,a").unwrap(), vec![0, b'a']);
        assert!(parse_detach_keys("ctrl-pp").is_err());
        assert!(parse_detach_keys("ab").is_err());
    }
}
