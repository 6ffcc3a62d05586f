//! The local terminal: TTY checks, raw mode that is always undone, window size, and
//! signals delivered through a pipe so a poll loop can react to them.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::fcntl::OFlag;
use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::termios::{self, SetArg, Termios};

pub fn is_tty(fd: RawFd) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// The size of the terminal on `fd` as (rows, columns), if it is one.
pub fn window_size(fd: RawFd) -> Option<(u16, u16)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer, which points to a live,
    // writable winsize of ours; on a descriptor that is no terminal (or not open) the
    // call only fails.
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
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw)?;
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let _ = termios::tcsetattr(fd, SetArg::TCSANOW, &self.saved);
    }
}

/// The write end of the signal pipe, for the async-signal-safe handler.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(sig: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        let b = sig as u8;
        // SAFETY: write(2) is async-signal-safe and reads one byte from a live local;
        // `fd` is the pipe's write end, open while the handler is installed (dropping the
        // pipe restores the default handling before it closes the descriptors). A full
        // pipe just drops the byte.
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
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        SIGNAL_PIPE.store(write.as_raw_fd(), Ordering::Relaxed);
        let action = SigAction::new(
            SigHandler::Handler(on_signal),
            SaFlags::SA_RESTART,
            SigSet::empty(),
        );
        for s in signals {
            // SAFETY: the handler is async-signal-safe: it loads an atomic and calls
            // write(2), nothing else (no allocation, no lock).
            unsafe { sigaction(*s, &action) }.map_err(std::io::Error::from)?;
        }
        Ok(SignalPipe {
            read,
            _write: write,
            signals: signals.to_vec(),
        })
    }

    /// The signals caught since the last call.
    pub fn drain(&self) -> Vec<Signal> {
        let mut buf = [0u8; 64];
        let mut out = Vec::new();
        // The pipe is non-blocking: an empty one ends the loop with EAGAIN.
        while let Ok(n @ 1..) = nix::unistd::read(self.read.as_raw_fd(), &mut buf) {
            out.extend(
                buf[..n]
                    .iter()
                    .filter_map(|b| Signal::try_from(i32::from(*b)).ok()),
            );
        }
        out
    }
}

/// The read end, to poll it.
impl AsFd for SignalPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

impl Drop for SignalPipe {
    fn drop(&mut self) {
        let default = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        for s in &self.signals {
            // SAFETY: SIG_DFL installs no handler of ours, so nothing runs in signal context.
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
