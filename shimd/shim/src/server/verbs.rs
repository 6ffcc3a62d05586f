//! The shim protocol's requests, dispatched in order: the task's state, signals, exec
//! registration, stdin and terminal size, waiting, pids, pause/resume, resources, attach,
//! delete and shutdown. (`launch` has create and start.)

use berth_proto::shim::{
    shim_request, shim_response, AttachRequest, ConnectInfo, DeleteRequest, Empty, ExecRequest,
    KillRequest, PidInfo, PidList, ProcessList, ResizeRequest, ShimRequest, ShutdownRequest,
    Status, UpdateRequest,
};

use super::conn::{exit_frame, ok_response, Mode};
use super::failure::{
    fail, internal, Reply, ALREADY_EXISTS, FAILED_PRECONDITION, INTERNAL, INVALID_ARGUMENT,
};
use super::Server;
use crate::console;
use crate::process::{status_name, valid_exec_id, Process};
use crate::runtime;

impl Server {
    pub(super) fn handle(&mut self, serial: u64, req: ShimRequest) {
        use shim_request::Kind as K;
        // Exits reaped meanwhile first, so every answer sees current state.
        self.handle_exits();
        let Some(kind) = req.kind else {
            return self.respond(serial, fail(INVALID_ARGUMENT, "empty request"));
        };
        let reply = match kind {
            K::Create(r) => self.create(r),
            K::Start(p) => self.start(&p.exec_id),
            K::State(p) => self.find(&p.exec_id).map(|i| state_kind(&self.procs[i])),
            K::Kill(k) => self.kill(k),
            K::Exec(e) => self.exec(e),
            K::Resize(r) => self.resize(r),
            K::CloseStdin(p) => self.close_stdin(&p.exec_id),
            K::Wait(p) => match self.wait(serial, &p.exec_id) {
                Some(r) => r,
                None => return,
            },
            K::Pids(Empty {}) => self.pids(),
            K::Pause(Empty {}) => self.pause(true),
            K::Resume(Empty {}) => self.pause(false),
            K::Update(u) => self.update(u),
            K::Delete(d) => self.delete(d),
            K::Attach(a) => return self.attach(serial, a),
            K::Shutdown(s) => self.shutdown(s),
            K::Connect(Empty {}) => Ok(shim_response::Kind::Connect(ConnectInfo {
                shim_pid: match &self.host_proc {
                    Some(h) => h.own_pid(),
                    None => std::process::id(),
                },
                task_pid: self.procs.first().map(|p| p.host_pid).unwrap_or(0),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })),
            K::List(Empty {}) => Ok(shim_response::Kind::List(ProcessList {
                processes: self.procs.iter().map(Process::state).collect(),
            })),
        };
        self.respond(serial, reply);
    }

    pub(super) fn exec(&mut self, e: ExecRequest) -> Reply {
        if self.runtime.is_none() {
            return fail(FAILED_PRECONDITION, "no task has been created in this shim");
        }
        if !valid_exec_id(&e.exec_id) {
            return fail(
                INVALID_ARGUMENT,
                format!(
                    "invalid exec id {:?}: use letters, digits, '_', '.' and '-' (at most 64)",
                    e.exec_id
                ),
            );
        }
        if self.proc_index(&e.exec_id).is_some() {
            return fail(
                ALREADY_EXISTS,
                format!("exec process {:?} already exists", e.exec_id),
            );
        }
        if e.spec.is_empty() {
            return fail(INVALID_ARGUMENT, "exec needs an OCI process spec");
        }
        if !matches!(self.init_status(), Status::Running | Status::Created) {
            return fail(
                FAILED_PRECONDITION,
                format!(
                    "cannot exec in the container: it is {}",
                    status_name(self.init_status())
                ),
            );
        }
        let mut p = Process::new(&e.exec_id, e.terminal, e.stdin);
        p.spec = e.spec;
        self.procs.push(p);
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    pub(super) fn kill(&mut self, k: KillRequest) -> Reply {
        let i = self.find(&k.exec_id)?;
        if k.signal == 0 || k.signal > 64 {
            return fail(INVALID_ARGUMENT, format!("invalid signal {}", k.signal));
        }
        let p = &self.procs[i];
        if p.status == Status::Stopped {
            return fail(
                FAILED_PRECONDITION,
                format!("{} is not running", p.describe()),
            );
        }
        if i == 0 {
            let sig = k.signal.to_string();
            let id = self.id.clone();
            let mut args = vec!["kill"];
            if k.all {
                args.push("--all");
            }
            args.extend([id.as_str(), sig.as_str()]);
            self.run_runtime(&args)?;
        } else {
            if p.pid == 0 {
                return fail(
                    FAILED_PRECONDITION,
                    format!("{} has not been started", p.describe()),
                );
            }
            // SAFETY: kill(2) takes no pointers, so any pid and signal number is memory-safe;
            // libc's, because nix's `Signal` cannot name real-time signals. The pid is a
            // process this shim reaps itself, so it is not recycled before we see its exit.
            if unsafe { libc::kill(p.pid as i32, k.signal as i32) } != 0 {
                return fail(
                    INTERNAL,
                    format!(
                        "signalling {}: {}",
                        p.describe(),
                        std::io::Error::last_os_error()
                    ),
                );
            }
        }
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    pub(super) fn resize(&mut self, r: ResizeRequest) -> Reply {
        let i = self.find(&r.exec_id)?;
        if let Some(pty) = &self.procs[i].io.pty {
            console::resize(pty, r.width, r.height)
                .map_err(|e| internal(format!("resizing the terminal: {e}")))?;
        }
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    pub(super) fn close_stdin(&mut self, exec_id: &str) -> Reply {
        let i = self.find(exec_id)?;
        let io = &mut self.procs[i].io;
        io.close_stdin = true;
        io.flush_stdin();
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    /// Answers at once when the process has exited; otherwise parks the connection.
    pub(super) fn wait(&mut self, serial: u64, exec_id: &str) -> Option<Reply> {
        let i = match self.find(exec_id) {
            Ok(i) => i,
            Err(f) => return Some(Err(f)),
        };
        if self.procs[i].status == Status::Stopped {
            return Some(Ok(shim_response::Kind::Exit(self.procs[i].state())));
        }
        if let Some(c) = self.conn(serial) {
            c.mode = Mode::Waiting(exec_id.to_string());
        }
        None
    }

    pub(super) fn pids(&mut self) -> Reply {
        self.find("")?;
        if self.init_status() == Status::Stopped {
            return Ok(shim_response::Kind::Pids(PidList { pids: vec![] }));
        }
        let out = self.run_runtime(&["ps", "--format", "json", &self.id.clone()])?;
        let pids = runtime::parse_pids(&out).map_err(internal)?;
        let pids = pids
            .into_iter()
            .map(|pid| PidInfo {
                pid: self.host_pid(pid),
                exec_id: self
                    .procs
                    .iter()
                    .skip(1)
                    .find(|p| p.pid == pid && p.status != Status::Stopped)
                    .map(|p| p.exec_id.clone())
                    .unwrap_or_default(),
            })
            .collect();
        Ok(shim_response::Kind::Pids(PidList { pids }))
    }

    pub(super) fn pause(&mut self, pause: bool) -> Reply {
        self.find("")?;
        let (from, to, cmd) = if pause {
            (Status::Running, Status::Paused, "pause")
        } else {
            (Status::Paused, Status::Running, "resume")
        };
        if self.init_status() != from {
            return fail(
                FAILED_PRECONDITION,
                format!(
                    "cannot {cmd} the container: it is {}",
                    status_name(self.init_status())
                ),
            );
        }
        self.run_runtime(&[cmd, &self.id.clone()])?;
        if self.procs[0].status == from {
            self.procs[0].status = to;
        }
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    pub(super) fn update(&mut self, u: UpdateRequest) -> Reply {
        self.find("")?;
        if self.init_status() == Status::Stopped {
            return fail(FAILED_PRECONDITION, "cannot update a stopped container");
        }
        std::fs::write("resources.json", &u.resources)
            .map_err(|e| internal(format!("writing resources.json: {e}")))?;
        let r = self.run_runtime(&["update", "--resources", "resources.json", &self.id.clone()]);
        let _ = std::fs::remove_file("resources.json");
        r.map(|_| shim_response::Kind::Ok(Empty {}))
    }

    pub(super) fn delete(&mut self, d: DeleteRequest) -> Reply {
        let i = self.find(&d.exec_id)?;
        if i != 0 {
            let p = &self.procs[i];
            if p.status != Status::Stopped && p.pid != 0 {
                if !d.force {
                    return fail(
                        FAILED_PRECONDITION,
                        format!(
                            "{} is running: kill it first, or delete with force",
                            p.describe()
                        ),
                    );
                }
                self.kill_and_reap(i)?;
            }
            let p = self.procs.remove(i);
            return Ok(shim_response::Kind::Exit(p.state()));
        }
        let id = self.id.clone();
        if self.init_status() != Status::Stopped {
            if !d.force {
                return fail(
                    FAILED_PRECONDITION,
                    format!(
                        "container {id:?} is {}: kill it first, or delete with force",
                        status_name(self.init_status())
                    ),
                );
            }
            self.run_runtime(&["delete", "--force", &id])?;
            let pid = self.procs[0].pid as i32;
            self.reap_pid(pid)?;
        } else if self.run_runtime(&["delete", &id]).is_err() {
            // E.g. state the runtime lost; --force also succeeds for a container it no
            // longer knows.
            self.run_runtime(&["delete", "--force", &id])?;
        }
        self.quit = true;
        Ok(shim_response::Kind::Exit(self.procs[0].state()))
    }

    pub(super) fn attach(&mut self, serial: u64, a: AttachRequest) {
        let i = match self.find(&a.exec_id) {
            Ok(i) => i,
            Err(f) => return self.respond(serial, Err(f)),
        };
        let exited = (self.procs[i].status == Status::Stopped).then(|| self.procs[i].state());
        let Some(c) = self.conn(serial) else { return };
        c.mode = Mode::Attached {
            exec_id: a.exec_id,
            stdin: a.stdin,
            stdout: a.stdout,
            stderr: a.stderr,
        };
        c.send(&ok_response());
        if let Some(state) = exited {
            c.closing = true;
            c.send(&exit_frame(state));
        }
    }

    pub(super) fn shutdown(&mut self, s: ShutdownRequest) -> Reply {
        if !s.now && self.runtime.is_some() {
            return fail(
                FAILED_PRECONDITION,
                "the task is not deleted yet: delete it first, or shut down with `now`",
            );
        }
        self.quit = true;
        Ok(shim_response::Kind::Ok(Empty {}))
    }
}

fn state_kind(p: &Process) -> shim_response::Kind {
    shim_response::Kind::State(p.state())
}
