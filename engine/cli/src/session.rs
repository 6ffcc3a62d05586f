//! An attached session on a hijacked connection: the container's output to our stdout
//! (demultiplexed without a TTY), our stdin to the container (with detach keys and a
//! half-close at end of input), and signals (window resizes, proxied signals) — all in
//! one poll loop, so no thread is needed and TLS streams work the same as sockets.

use std::io::{self, Write};
use std::os::fd::AsFd;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;

use crate::client::frames::{Channel, Demux};
use crate::client::stream::Stream;
use crate::term::SignalPipe;

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container (or exec'd process) closed its output.
    OutputClosed,
    /// The user typed the detach keys.
    Detached,
    /// A signal asked us to stop (e.g. SIGTERM while the terminal is raw).
    Interrupted,
}

pub struct SessionOpts<'a> {
    /// Output is a raw TTY stream rather than multiplexed frames.
    pub tty: bool,
    /// Forward our stdin.
    pub stdin: bool,
    /// The detach sequence; empty disables detaching.
    pub detach_keys: Vec<u8>,
    /// Signals to react to, with the reaction: return `true` to end the session.
    pub signals: Option<(&'a SignalPipe, &'a mut dyn FnMut(Signal) -> bool)>,
}

/// Recognizes the detach sequence in typed input, holding back a partial match.
struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    /// Appends to `out` what should be sent; returns true when the sequence is complete.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return true;
                }
            } else {
                out.push(b);
            }
        }
        false
    }

    fn held(&mut self) -> Vec<u8> {
        let v = self.keys[..self.matched].to_vec();
        self.matched = 0;
        v
    }
}

fn write_out(ch: Channel, data: &[u8], system: &mut Vec<u8>) -> io::Result<()> {
    match ch {
        Channel::Stdout => {
            let mut o = io::stdout().lock();
            o.write_all(data)?;
            o.flush()
        }
        Channel::Stderr => {
            let mut e = io::stderr().lock();
            e.write_all(data)?;
            e.flush()
        }
        Channel::System => {
            system.extend_from_slice(data);
            Ok(())
        }
    }
}

/// Bytes typed but not yet taken by the socket. While any are pending, stdin is not read:
/// the daemon's pace holds the input back, and the output keeps flowing meanwhile (a
/// blocking write here could deadlock with a container that writes but does not read).
#[derive(Default)]
struct Outbox {
    data: Vec<u8>,
    sent: usize,
    /// Half-close once everything is sent (stdin ended).
    close_after: bool,
}

impl Outbox {
    fn is_empty(&self) -> bool {
        self.sent == self.data.len()
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.is_empty() {
            self.data.clear();
            self.sent = 0;
        }
        self.data.extend_from_slice(bytes);
    }

    /// Sends what the socket takes now; half-closes when done and asked to.
    fn pump(&mut self, stream: &mut Stream) -> io::Result<()> {
        while !self.is_empty() {
            match stream.write_ready(&self.data[self.sent..]) {
                Ok(Some(n)) => self.sent += n,
                Ok(None) => return Ok(()),
                // The daemon closed its side: the output end will tell us why.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                    self.sent = self.data.len();
                    self.close_after = false;
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
        if stream.flush_ready()? && self.close_after {
            self.close_after = false;
            // End of input: the daemon closes the container's stdin, output goes on.
            let _ = stream.shutdown_write();
        }
        Ok(())
    }
}

/// Runs the session until the output ends, the user detaches, or a signal stops it.
/// Text the daemon sends on the error channel becomes the error.
pub fn run(mut stream: Stream, early: Vec<u8>, mut opts: SessionOpts<'_>) -> io::Result<Ended> {
    let mut demux = Demux::new();
    let mut system = Vec::new();
    let mut matcher = DetachMatcher {
        keys: opts.detach_keys.clone(),
        matched: 0,
    };
    let tty = opts.tty;
    let deliver = |data: &[u8], demux: &mut Demux, system: &mut Vec<u8>| -> io::Result<()> {
        if tty {
            write_out(Channel::Stdout, data, system)
        } else {
            demux.feed(data, &mut |ch, d| write_out(ch, d, system))
        }
    };
    deliver(&early, &mut demux, &mut system)?;
    stream.set_nonblocking(true)?;

    let mut stdin_open = opts.stdin;
    let mut outbox = Outbox::default();
    let mut buf = vec![0u8; 32 * 1024];
    let mut typed = Vec::with_capacity(32 * 1024);
    let ended = 'session: loop {
        // Decrypted TLS data may already wait in memory, where poll cannot see it.
        let buffered = stream.has_buffered();
        let sending = !outbox.is_empty() || outbox.close_after || !stream.flush_ready()?;
        let sock = stream.as_fd();
        let stdin_handle = io::stdin();
        let stdin = stdin_handle.as_fd();
        let mut sock_events = PollFlags::POLLIN;
        if sending {
            sock_events |= PollFlags::POLLOUT;
        }
        let mut fds = vec![PollFd::new(sock, sock_events)];
        let stdin_slot = (stdin_open && !sending).then(|| {
            fds.push(PollFd::new(stdin, PollFlags::POLLIN));
            fds.len() - 1
        });
        let sig_slot = opts.signals.as_ref().map(|(pipe, _)| {
            fds.push(PollFd::new(pipe.as_fd(), PollFlags::POLLIN));
            fds.len() - 1
        });
        let timeout = if buffered {
            PollTimeout::ZERO
        } else {
            PollTimeout::NONE
        };
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
        let ready =
            |i: usize, flags: PollFlags| fds[i].revents().is_some_and(|r| r.intersects(flags));
        let hangup = PollFlags::POLLHUP | PollFlags::POLLERR;
        let sock_readable = buffered || ready(0, PollFlags::POLLIN | hangup);
        let sock_writable = ready(0, PollFlags::POLLOUT | hangup);
        let stdin_ready = stdin_slot.is_some_and(|i| ready(i, PollFlags::POLLIN | hangup));
        let sig_ready = sig_slot.is_some_and(|i| ready(i, PollFlags::POLLIN));
        drop(fds);

        if sig_ready {
            if let Some((pipe, react)) = opts.signals.as_mut() {
                for s in pipe.drain() {
                    if react(s) {
                        break 'session Ended::Interrupted;
                    }
                }
            }
        }
        if sock_readable {
            loop {
                match stream.read_ready(&mut buf) {
                    Ok(Some(0)) => break 'session Ended::OutputClosed,
                    Ok(Some(n)) => deliver(&buf[..n], &mut demux, &mut system)?,
                    Ok(None) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                        break 'session Ended::OutputClosed
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        if sock_writable {
            outbox.pump(&mut stream)?;
        }
        if stdin_ready {
            // Unbuffered: poll said stdin is ready; std's buffered reader would hide what
            // it read ahead from the next poll.
            let n = match nix::unistd::read(libc::STDIN_FILENO, &mut buf) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => continue,
                Err(e) => return Err(e.into()),
            };
            if n == 0 {
                outbox.push(&matcher.held());
                outbox.close_after = true;
                stdin_open = false;
                outbox.pump(&mut stream)?;
            } else {
                typed.clear();
                let detached = matcher.feed(&buf[..n], &mut typed);
                outbox.push(&typed);
                if detached {
                    // What came before the detach keys still goes to the container, and so
                    // do the keys: the daemon sees them and lets go of the session without
                    // closing the container's stdin (a client that just hung up would have
                    // it closed). Its output until then is still shown.
                    stream.set_nonblocking(false)?;
                    let mut rest = outbox.data[outbox.sent..].to_vec();
                    rest.extend_from_slice(&matcher.keys);
                    let _ = stream.write_all(&rest).and_then(|_| stream.flush());
                    stream.set_nonblocking(true)?;
                    drain_until_closed(&mut stream, &mut buf, &mut |d| {
                        deliver(d, &mut demux, &mut system)
                    })?;
                    break 'session Ended::Detached;
                }
                outbox.pump(&mut stream)?;
            }
        }
    };
    if !system.is_empty() {
        return Err(io::Error::other(
            String::from_utf8_lossy(&system).trim().to_string(),
        ));
    }
    Ok(ended)
}

/// Reads what the daemon still sends until it closes the stream, for at most
/// [`DETACH_WAIT`] (a daemon that does not know the keys would never close it).
fn drain_until_closed(
    stream: &mut Stream,
    buf: &mut [u8],
    deliver: &mut dyn FnMut(&[u8]) -> io::Result<()>,
) -> io::Result<()> {
    let deadline = std::time::Instant::now() + DETACH_WAIT;
    loop {
        if !stream.has_buffered() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            let mut fds = [PollFd::new(stream.as_fd(), PollFlags::POLLIN)];
            let ms = PollTimeout::try_from(left.as_millis().min(60_000) as i32)
                .unwrap_or(PollTimeout::ZERO);
            match poll(&mut fds, ms) {
                Ok(0) => return Ok(()),
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match stream.read_ready(buf) {
            Ok(Some(0)) => return Ok(()),
            Ok(Some(n)) => deliver(&buf[..n])?,
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// How long a detaching session waits for the daemon to close the stream.
const DETACH_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::DetachMatcher;

    fn run(keys: &[u8], chunks: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut m = DetachMatcher {
            keys: keys.to_vec(),
            matched: 0,
        };
        let mut out = Vec::new();
        for c in chunks {
            if m.feed(c, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn detach_sequence_across_reads() {
        assert_eq!(
            run(&[16, 17], &[b"ls\x10", b"\x11rest"]),
            (b"ls".to_vec(), true)
        );
    }

    #[test]
    fn partial_match_is_passed_through() {
        assert_eq!(
            run(&[16, 17], &[b"a\x10b", b"\x10\x10c"]),
            (b"a\x10b\x10\x10c".to_vec(), false)
        );
        assert_eq!(run(&[16, 17], &[b"\x10\x10\x11"]), (b"\x10".to_vec(), true));
        assert_eq!(run(&[], &[b"\x10\x11"]), (b"\x10\x11".to_vec(), false));
    }
}
