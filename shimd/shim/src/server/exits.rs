//! Exits: reaped statuses matched to processes, their output drained, the init's recorded
//! on disk, waiters and attached clients told; and the kills that wait for the exit.

use std::time::{Duration, Instant};

use berth_proto::shim::{shim_response, ShimResponse, Status};
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::conn::{exit_frame, Mode};
use super::failure::{fail, Failure, INTERNAL};
use super::Server;
use crate::exitfile;
use crate::process::Stream;
use crate::timefmt::now_ns;

/// How long a killed process may take to be reaped during a forced delete.
const KILL_WAIT: Duration = Duration::from_secs(10);

impl Server {
    pub(super) fn handle_exits(&mut self) {
        for (pid, status) in self.reaper.take_all() {
            self.on_exit(pid, status);
        }
    }

    /// A process exited: drain its output, record init's exit on disk, then tell waiters
    /// and attached clients.
    fn on_exit(&mut self, pid: i32, status: u32) {
        let Some(i) = self
            .procs
            .iter()
            .position(|p| p.pid == pid as u32 && p.pid != 0 && p.status != Status::Stopped)
        else {
            // An orphan re-parented to us, or the runtime's helper.
            return;
        };
        if i == 0 && !self.owns_pid_ns {
            self.kill_leftovers();
        }
        let exec_id = self.procs[i].exec_id.clone();
        self.read_output(&exec_id, Stream::Stdout, usize::MAX);
        self.read_output(&exec_id, Stream::Stderr, usize::MAX);
        let p = &mut self.procs[i];
        p.exit_status = status;
        p.exited_at = now_ns();
        if p.is_init() {
            if let Err(e) = exitfile::record(status, p.exited_at, p.host_pid) {
                eprintln!("berth-shim: recording the exit status: {e}");
            }
        }
        p.status = Status::Stopped;
        let state = p.state();
        let mut woken = Vec::new();
        for c in self.conns.iter_mut().filter(|c| !c.dead) {
            match &c.mode {
                Mode::Waiting(e) if *e == exec_id => {
                    c.mode = Mode::Requests;
                    c.send(&ShimResponse {
                        kind: Some(shim_response::Kind::Exit(state.clone())),
                        ..Default::default()
                    });
                    woken.push(c.serial);
                }
                Mode::Attached { exec_id: e, .. } if *e == exec_id => {
                    c.closing = true;
                    c.send(&exit_frame(state.clone()));
                }
                _ => {}
            }
        }
        for serial in woken {
            self.process_frames(serial);
        }
    }

    /// The init of a container without a PID namespace of its own has exited: as when the
    /// init of a PID namespace dies, every other process of the container is killed (they
    /// are our descendants, so they come to us to be reaped) before the exit is reported.
    fn kill_leftovers(&mut self) {
        if self.host_proc.is_some() {
            // PID 1 of the namespace: everything in it but us.
            let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
        } else if self.runtime.is_some() {
            let id = self.id.clone();
            // Fails harmlessly when the runtime has already deleted the container.
            let _ = self.run_runtime(&["kill", "--all", &id, "9"]);
        }
        if !self.reaper.wait_childless(Instant::now() + KILL_WAIT) {
            eprintln!("berth-shim: processes of the container outlived its init");
        }
        // Exec processes among them are reported as exited.
        self.handle_exits();
    }

    /// Kills a process with SIGKILL and reaps it (the loop's normal exit handling runs).
    pub(super) fn kill_and_reap(&mut self, i: usize) -> Result<(), Failure> {
        let pid = self.procs[i].pid as i32;
        if pid <= 0 {
            return Ok(());
        }
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        self.reap_pid(pid)
    }

    pub(super) fn reap_pid(&mut self, pid: i32) -> Result<(), Failure> {
        match self
            .reaper
            .wait_for(pid, Instant::now() + KILL_WAIT, &mut [])
        {
            Some(status) => {
                self.on_exit(pid, status);
                Ok(())
            }
            None => fail(
                INTERNAL,
                format!("process {pid} did not exit within {}s", KILL_WAIT.as_secs()),
            ),
        }
    }
}
