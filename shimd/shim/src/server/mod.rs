//! The shim's server: the state of one task (its runtime, its processes, its log) and of
//! the clients connected to the shim socket, served by a single thread. Each concern has its
//! own module:
//! - `event_loop`: the one `poll` over the SIGCHLD signalfd, the socket, connections and stdio;
//! - `conn`: the shim protocol's framing on a connection and its modes (requests, waiting,
//!   attached);
//! - `verbs` and `launch`: the requests (`launch` runs the runtime to create and start
//!   processes);
//! - `stdio`: the processes' output to the log and attached clients, their input;
//! - `exits`: reaped exits, recorded and reported, and the kills that wait for them;
//! - `failure`: how a request fails (gRPC's codes).
//!
//! Requests are answered in order; runtime commands run to completion inside a request
//! (through the same reaper).

mod conn;
mod event_loop;
mod exits;
mod failure;
mod launch;
mod stdio;
mod verbs;

use std::os::unix::net::UnixListener;
use std::time::Instant;

use berth_proto::shim::Status;

use crate::logfile::LogFile;
use crate::pidns::HostProc;
use crate::process::Process;
use crate::reaper::Reaper;
use crate::runtime::{RunIo, Runtime};

use conn::Conn;
use failure::{fail, internal, runtime_failure, Failure, FAILED_PRECONDITION, NOT_FOUND};

pub struct Server {
    id: String,
    listener: UnixListener,
    reaper: Reaper,
    conns: Vec<Conn>,
    next_serial: u64,
    /// Set once the task is created.
    runtime: Option<Runtime>,
    /// The init process first (once created), then exec processes.
    procs: Vec<Process>,
    log: Option<LogFile>,
    /// Whether the init is PID 1 of a namespace of its own (its death ends every process
    /// of the container); otherwise the rest is killed when it exits.
    owns_pid_ns: bool,
    /// Set when the shim is the init of the container's PID namespace.
    host_proc: Option<HostProc>,
    born: Instant,
    quit: bool,
}

impl Server {
    pub fn new(
        id: String,
        listener: UnixListener,
        reaper: Reaper,
        host_proc: Option<HostProc>,
    ) -> Server {
        Server {
            id,
            listener,
            reaper,
            conns: Vec::new(),
            next_serial: 0,
            runtime: None,
            procs: Vec::new(),
            log: None,
            owns_pid_ns: true,
            host_proc,
            born: Instant::now(),
            quit: false,
        }
    }

    fn find(&self, exec_id: &str) -> Result<usize, Failure> {
        if self.runtime.is_none() {
            return fail(FAILED_PRECONDITION, "no task has been created in this shim");
        }
        match self.proc_index(exec_id) {
            Some(i) => Ok(i),
            None => fail(NOT_FOUND, format!("exec process {exec_id:?} not found")),
        }
    }

    fn proc_index(&self, exec_id: &str) -> Option<usize> {
        self.procs.iter().position(|p| p.exec_id == exec_id)
    }

    fn init_status(&self) -> Status {
        self.procs
            .first()
            .map(|p| p.status)
            .unwrap_or(Status::Unknown)
    }

    /// The host's pid of one of our processes.
    fn host_pid(&self, pid: u32) -> u32 {
        match &self.host_proc {
            Some(h) => h.host_pid(pid),
            None => pid,
        }
    }

    fn run_runtime(&mut self, args: &[&str]) -> Result<Vec<u8>, Failure> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| internal("no task".into()))?;
        rt.run(&mut self.reaper, args, RunIo::Captured)
            .map_err(runtime_failure)
    }
}
