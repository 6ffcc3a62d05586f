//! The shim's single-threaded event loop: one `poll` over the SIGCHLD signalfd, the shim
//! socket and its connections, and the processes' stdio; and the shim's end.

use std::io::Write;
use std::os::fd::AsFd;
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::conn::Mode;
use super::Server;
use crate::process::Stream;
use crate::SOCKET;

/// An attached client whose queue grows beyond this stops the output it reads until it
/// catches up (the process then blocks on a full pipe, as with docker attach).
const BACKLOG_LIMIT: usize = 256 * 1024;
/// A shim that was never given a task exits after this long (its starter is gone).
const IDLE_WITHOUT_TASK: Duration = Duration::from_secs(60);

#[derive(Clone)]
enum Target {
    Signal,
    Listener,
    Conn(u64),
    Output(String, Stream),
    Stdin(String),
}

impl Server {
    pub fn run(mut self) -> ! {
        loop {
            self.handle_exits();
            if self.quit || (self.runtime.is_none() && self.born.elapsed() > IDLE_WITHOUT_TASK) {
                self.finish();
            }
            let (mut fds, targets) = self.poll_set();
            let timeout = if self.runtime.is_none() {
                PollTimeout::from(1000u16)
            } else {
                PollTimeout::NONE
            };
            let polled = poll(&mut fds, timeout);
            // What each descriptor reported, so `self` is free again to act on it.
            let ready: Vec<(PollFlags, Target)> = fds
                .iter()
                .map(|p| p.revents().unwrap_or(PollFlags::empty()))
                .zip(targets)
                .filter(|(revents, _)| !revents.is_empty())
                .collect();
            drop(fds);
            if !matches!(polled, Ok(n) if n > 0) {
                continue;
            }
            for (revents, target) in ready {
                match target {
                    Target::Signal => {
                        let _ = self.reaper.reap();
                    }
                    Target::Listener => self.accept(),
                    Target::Conn(serial) => {
                        if revents.contains(PollFlags::POLLOUT) {
                            if let Some(c) = self.conn(serial) {
                                c.flush();
                            }
                        }
                        if !revents.difference(PollFlags::POLLOUT).is_empty() {
                            self.conn_readable(serial);
                        }
                    }
                    Target::Output(exec_id, stream) => self.read_output(&exec_id, stream, 4),
                    Target::Stdin(exec_id) => {
                        if let Some(i) = self.proc_index(&exec_id) {
                            self.procs[i].io.flush_stdin();
                        }
                    }
                }
            }
            self.handle_exits();
            self.conns.retain(|c| !c.dead);
        }
    }

    fn poll_set(&self) -> (Vec<PollFd<'_>>, Vec<Target>) {
        let mut fds = Vec::with_capacity(4 + self.conns.len() + 2 * self.procs.len());
        let mut targets = Vec::with_capacity(fds.capacity());
        let mut add = |fd, events, t: Target| {
            fds.push(PollFd::new(fd, events));
            targets.push(t);
        };
        add(self.reaper.fd(), PollFlags::POLLIN, Target::Signal);
        add(self.listener.as_fd(), PollFlags::POLLIN, Target::Listener);
        for c in &self.conns {
            let mut events = PollFlags::empty();
            let stdin_full = match &c.mode {
                Mode::Attached {
                    exec_id,
                    stdin: true,
                    ..
                } => self
                    .procs
                    .iter()
                    .any(|p| &p.exec_id == exec_id && p.io.stdin_buf.len() > BACKLOG_LIMIT),
                _ => false,
            };
            if !stdin_full {
                events |= PollFlags::POLLIN;
            }
            if !c.outbuf.is_empty() {
                events |= PollFlags::POLLOUT;
            }
            add(c.stream.as_fd(), events, Target::Conn(c.serial));
        }
        for p in &self.procs {
            let backlogged = self
                .conns
                .iter()
                .any(|c| c.attached_to(&p.exec_id) && c.outbuf.len() > BACKLOG_LIMIT);
            if !backlogged {
                if let Some(fd) = &p.io.stdout {
                    add(
                        fd.as_fd(),
                        PollFlags::POLLIN,
                        Target::Output(p.exec_id.clone(), Stream::Stdout),
                    );
                }
                if let Some(fd) = &p.io.stderr {
                    add(
                        fd.as_fd(),
                        PollFlags::POLLIN,
                        Target::Output(p.exec_id.clone(), Stream::Stderr),
                    );
                }
            }
            if let Some(fd) = &p.io.stdin {
                if !p.io.stdin_buf.is_empty() {
                    add(
                        fd.as_fd(),
                        PollFlags::POLLOUT,
                        Target::Stdin(p.exec_id.clone()),
                    );
                }
            }
        }
        (fds, targets)
    }

    /// Ends the shim: flush what clients are owed, remove the socket, exit.
    fn finish(&mut self) -> ! {
        for c in self.conns.iter_mut().filter(|c| !c.outbuf.is_empty()) {
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = c.stream.write_all(&c.outbuf);
        }
        let _ = std::fs::remove_file(SOCKET);
        std::process::exit(0)
    }
}
