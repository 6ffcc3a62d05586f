//! The processes' stdio: output read as it comes, to the log (the init's) and to attached
//! clients; input and terminal resizes from attached clients.

use std::os::fd::{AsFd, AsRawFd};

use berth_proto::shim::{shim_frame, ShimFrame};
use nix::errno::Errno;

use super::conn::Mode;
use super::Server;
use crate::console;
use crate::process::Stream;

impl Server {
    pub(super) fn attach_input(&mut self, exec_id: &str, may_write: bool, f: ShimFrame) {
        let Some(i) = self.proc_index(exec_id) else {
            return;
        };
        let p = &mut self.procs[i];
        match shim_frame::Kind::try_from(f.kind) {
            Ok(shim_frame::Kind::Stdin) if may_write && p.io.stdin.is_some() => {
                p.io.stdin_buf.extend_from_slice(&f.data);
                p.io.flush_stdin();
            }
            Ok(shim_frame::Kind::CloseStdin) if may_write => {
                p.io.close_stdin = true;
                p.io.flush_stdin();
            }
            Ok(shim_frame::Kind::Resize) => {
                if let Some(pty) = &p.io.pty {
                    let _ = console::resize(pty, f.width, f.height);
                }
            }
            _ => {}
        }
    }

    /// Reads a process's output (up to `rounds` reads; unbounded for a final drain).
    pub(super) fn read_output(&mut self, exec_id: &str, stream: Stream, rounds: usize) {
        let Some(i) = self.proc_index(exec_id) else {
            return;
        };
        let mut buf = [0u8; 32 * 1024];
        for _ in 0..rounds {
            let io = &self.procs[i].io;
            let Some(fd) = (match stream {
                Stream::Stdout => &io.stdout,
                Stream::Stderr => &io.stderr,
            }) else {
                return;
            };
            match nix::unistd::read(fd.as_fd().as_raw_fd(), &mut buf) {
                Ok(0) | Err(Errno::EIO) => return self.output_closed(i, stream),
                Ok(n) => self.deliver(i, stream, &buf[..n]),
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => return self.output_closed(i, stream),
            }
        }
    }

    fn output_closed(&mut self, i: usize, stream: Stream) {
        let p = &mut self.procs[i];
        let splitter = match stream {
            Stream::Stdout => {
                p.io.stdout = None;
                &mut p.io.lines_out
            }
            Stream::Stderr => {
                p.io.stderr = None;
                &mut p.io.lines_err
            }
        };
        if let (true, Some(log)) = (i == 0, self.log.as_mut()) {
            splitter.finish(|line| log.write_entry(stream.name(), line));
        }
    }

    /// Output goes to the log (the init process only) and to every attached client.
    pub(super) fn deliver(&mut self, i: usize, stream: Stream, data: &[u8]) {
        let p = &mut self.procs[i];
        if let (true, Some(log)) = (i == 0, self.log.as_mut()) {
            let splitter = match stream {
                Stream::Stdout => &mut p.io.lines_out,
                Stream::Stderr => &mut p.io.lines_err,
            };
            splitter.feed(data, |line| log.write_entry(stream.name(), line));
        }
        let mut frame = None;
        for c in self.conns.iter_mut().filter(|c| !c.dead) {
            let wanted = match &c.mode {
                Mode::Attached {
                    exec_id,
                    stdout,
                    stderr,
                    ..
                } if *exec_id == p.exec_id => match stream {
                    Stream::Stdout => *stdout,
                    Stream::Stderr => *stderr,
                },
                _ => false,
            };
            if wanted {
                let f = frame.get_or_insert_with(|| ShimFrame {
                    kind: match stream {
                        Stream::Stdout => shim_frame::Kind::Stdout,
                        Stream::Stderr => shim_frame::Kind::Stderr,
                    } as i32,
                    data: data.to_vec(),
                    ..Default::default()
                });
                c.send(f);
            }
        }
    }
}
