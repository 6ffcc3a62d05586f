//! A process the shim holds: the container's init or an exec process, with its stdio.

use std::os::fd::{AsRawFd, OwnedFd};

use berth_proto::shim::{ProcessState, Status};
use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg, OFlag};

use crate::logfile::LineSplitter;
use crate::runtime::{dev_null, RunIo};

pub fn set_nonblocking(fd: &OwnedFd) -> nix::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

/// Which output stream a chunk came from.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// Our ends of a process's stdio.
#[derive(Default)]
pub struct Io {
    /// Pipe write end, or a dup of the pty master.
    pub stdin: Option<OwnedFd>,
    /// Written to stdin as the process reads.
    pub stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written.
    pub close_stdin: bool,
    /// Pipe read end, or the pty master.
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
    /// The pty master (also in `stdout`), for resizing.
    pub pty: Option<OwnedFd>,
    pub lines_out: LineSplitter,
    pub lines_err: LineSplitter,
}

impl Io {
    /// Pipes for a process without a terminal; returns our ends and the runtime's.
    pub fn pipes(stdin: bool) -> Result<(Io, RunIo), String> {
        let pipe =
            || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("creating a pipe: {e}"));
        let (in_r, in_w) = if stdin {
            let (r, w) = pipe()?;
            (r, Some(w))
        } else {
            (dev_null()?, None)
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        for fd in [Some(&out_r), Some(&err_r), in_w.as_ref()]
            .into_iter()
            .flatten()
        {
            set_nonblocking(fd).map_err(|e| format!("pipe: {e}"))?;
        }
        let peek = err_r
            .try_clone()
            .map_err(|e| format!("duplicating a pipe: {e}"))?;
        let io = Io {
            stdin: in_w,
            stdout: Some(out_r),
            stderr: Some(err_r),
            ..Io::default()
        };
        let run = RunIo::Process {
            stdin: in_r,
            stdout: out_w,
            stderr: err_w,
            peek: Some(peek),
        };
        Ok((io, run))
    }

    /// The streams of a terminal process: everything goes through the pty master.
    pub fn pty(master: OwnedFd, stdin: bool) -> Result<Io, String> {
        set_nonblocking(&master).map_err(|e| format!("pty: {e}"))?;
        let dup = || {
            master
                .try_clone()
                .map_err(|e| format!("duplicating the pty master: {e}"))
        };
        Ok(Io {
            stdin: if stdin { Some(dup()?) } else { None },
            stdout: Some(dup()?),
            pty: Some(master),
            ..Io::default()
        })
    }

    /// Writes as much of `stdin_buf` as the process takes; closes stdin when asked and
    /// done.
    pub fn flush_stdin(&mut self) {
        let Some(fd) = &self.stdin else {
            self.stdin_buf = Vec::new();
            return;
        };
        while !self.stdin_buf.is_empty() {
            match nix::unistd::write(fd, &self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return,
                Err(_) => {
                    // The reader is gone.
                    self.stdin_buf = Vec::new();
                    self.stdin = None;
                    return;
                }
            }
        }
        self.stdin_buf = Vec::new();
        if self.close_stdin {
            if self.pty.is_some() {
                // A terminal has no half-close: send the EOF character (^D) instead.
                let _ = nix::unistd::write(fd, b"\x04");
            }
            self.stdin = None;
        }
    }
}

pub struct Process {
    /// Empty for the container's init process.
    pub exec_id: String,
    /// The pid in the shim's PID namespace (what it reaps and signals).
    pub pid: u32,
    /// The same process's pid on the host, as reported (differs only when the shim is
    /// the init of the container's PID namespace).
    pub host_pid: u32,
    pub status: Status,
    pub exit_status: u32,
    pub exited_at: i64,
    pub started_at: i64,
    pub terminal: bool,
    pub stdin: bool,
    /// An exec process's OCI process JSON, until it is started.
    pub spec: Vec<u8>,
    pub io: Io,
}

impl Process {
    pub fn new(exec_id: &str, terminal: bool, stdin: bool) -> Process {
        Process {
            exec_id: exec_id.to_string(),
            pid: 0,
            host_pid: 0,
            status: Status::Created,
            exit_status: 0,
            exited_at: 0,
            started_at: 0,
            terminal,
            stdin,
            spec: Vec::new(),
            io: Io::default(),
        }
    }

    pub fn is_init(&self) -> bool {
        self.exec_id.is_empty()
    }

    pub fn state(&self) -> ProcessState {
        ProcessState {
            exec_id: self.exec_id.clone(),
            pid: self.host_pid,
            status: self.status as i32,
            exit_status: self.exit_status,
            exited_at: self.exited_at,
            started_at: self.started_at,
            terminal: self.terminal,
            stdin: self.stdin,
            oom_killed: false,
        }
    }

    pub fn describe(&self) -> String {
        if self.is_init() {
            "the container's init process".to_string()
        } else {
            format!("exec process {:?}", self.exec_id)
        }
    }
}

/// Exec ids become file names in the task directory: keep them plain.
pub fn valid_exec_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.as_bytes()[0].is_ascii_alphanumeric()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

pub fn status_name(s: Status) -> &'static str {
    match s {
        Status::Unknown => "unknown",
        Status::Created => "created",
        Status::Running => "running",
        Status::Stopped => "stopped",
        Status::Paused => "paused",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_ids_are_plain_names() {
        assert!(valid_exec_id("exec-1.a_b"));
        assert!(!valid_exec_id(""));
        assert!(!valid_exec_id("../x"));
        assert!(!valid_exec_id("a/b"));
        assert!(!valid_exec_id(".hidden"));
        assert!(!valid_exec_id(&"a".repeat(65)));
    }
}
