//! The requests that run the runtime to make processes: `create` (the container and its
//! init), `start` (the init, or an exec process registered by `exec`).

use berth_proto::shim::{shim_response, CreateRequest, Status};

use super::failure::{
    fail, internal, runtime_failure, Reply, ALREADY_EXISTS, FAILED_PRECONDITION, INVALID_ARGUMENT,
};
use super::Server;
use crate::console::ConsoleSocket;
use crate::logfile::LogFile;
use crate::process::{status_name, Io, Process, Stream};
use crate::runtime::{self, RunIo, Runtime};
use crate::timefmt::now_ns;

const INIT_PID_FILE: &str = "init.pid";

impl Server {
    pub(super) fn create(&mut self, r: CreateRequest) -> Reply {
        if self.runtime.is_some() {
            return fail(ALREADY_EXISTS, format!("task {:?} already exists", self.id));
        }
        if r.bundle.is_empty() || r.runtime.is_empty() {
            return fail(INVALID_ARGUMENT, "create needs a bundle and a runtime");
        }
        let reply = self.create_task(r);
        if reply.is_err() {
            // Nothing to hold: the starter cleans up the task directory.
            self.quit = true;
        }
        reply
    }

    fn create_task(&mut self, r: CreateRequest) -> Reply {
        let rt = Runtime {
            binary: r.runtime,
            options: r.runtime_options,
        };
        let mut init = Process::new("", r.terminal, r.stdin);
        let log = if r.no_log || r.log_path.is_empty() {
            None
        } else {
            Some(
                LogFile::open(r.log_path.as_ref(), r.log_max_size, r.log_max_files)
                    .map_err(|e| internal(format!("opening the log {}: {e}", r.log_path)))?,
            )
        };
        let mut args: Vec<&str> =
            vec!["create", "--bundle", &r.bundle, "--pid-file", INIT_PID_FILE];
        let mut console = None;
        let run_io = if r.terminal {
            let c = ConsoleSocket::bind("console.sock")
                .map_err(|e| internal(format!("binding the console socket: {e}")))?;
            console = Some(c);
            RunIo::Captured
        } else {
            let (io, run_io) = Io::pipes(r.stdin).map_err(internal)?;
            init.io = io;
            run_io
        };
        if let Some(c) = &console {
            args.extend(["--console-socket", c.name()]);
        }
        if r.no_pivot {
            args.push("--no-pivot");
        }
        if r.no_new_keyring {
            args.push("--no-new-keyring");
        }
        args.push(&self.id);
        rt.run(&mut self.reaper, &args, run_io)
            .map_err(runtime_failure)?;
        let finish = || -> Result<(u32, Option<Io>), String> {
            let pid = runtime::read_pid_file(INIT_PID_FILE)?;
            let io = match &console {
                Some(c) => Some(Io::pty(c.receive_master()?, r.stdin)?),
                None => None,
            };
            Ok((pid, io))
        };
        match finish() {
            Ok((pid, io)) => {
                init.pid = pid;
                init.host_pid = self.host_pid(pid);
                if let Some(io) = io {
                    init.io = io;
                }
            }
            Err(e) => {
                let _ = rt.run(
                    &mut self.reaper,
                    &["delete", "--force", &self.id],
                    RunIo::Captured,
                );
                return Err(internal(e));
            }
        }
        let pid = init.host_pid;
        self.owns_pid_ns = is_pid_ns_init(init.pid);
        self.procs.insert(0, init);
        self.runtime = Some(rt);
        self.log = log;
        Ok(shim_response::Kind::Pid(pid))
    }

    pub(super) fn start(&mut self, exec_id: &str) -> Reply {
        let i = self.find(exec_id)?;
        if self.procs[i].status != Status::Created || self.procs[i].pid != 0 && i != 0 {
            return fail(
                FAILED_PRECONDITION,
                format!(
                    "{} is {}; only a created process can be started",
                    self.procs[i].describe(),
                    status_name(self.procs[i].status)
                ),
            );
        }
        if i == 0 {
            self.run_runtime(&["start", &self.id.clone()])?;
            let p = &mut self.procs[0];
            if p.status == Status::Created {
                p.status = Status::Running;
            }
            p.started_at = now_ns();
            return Ok(shim_response::Kind::Pid(p.host_pid));
        }
        if self.init_status() != Status::Running {
            return fail(
                FAILED_PRECONDITION,
                format!(
                    "cannot start exec process {exec_id:?}: the container is {}",
                    status_name(self.init_status())
                ),
            );
        }
        self.start_exec(i)
    }

    fn start_exec(&mut self, i: usize) -> Reply {
        let exec_id = self.procs[i].exec_id.clone();
        let (spec_file, pid_file) = (
            format!("exec-{exec_id}.json"),
            format!("exec-{exec_id}.pid"),
        );
        std::fs::write(&spec_file, &self.procs[i].spec)
            .map_err(|e| internal(format!("writing {spec_file}: {e}")))?;
        let (terminal, stdin) = (self.procs[i].terminal, self.procs[i].stdin);
        let mut args: Vec<&str> = vec![
            "exec",
            "--detach",
            "--process",
            &spec_file,
            "--pid-file",
            &pid_file,
        ];
        let mut console = None;
        let mut io = None;
        let run_io = if terminal {
            let c = ConsoleSocket::bind(&format!("exec-{exec_id}.sock"))
                .map_err(|e| internal(format!("binding the console socket: {e}")))?;
            console = Some(c);
            RunIo::Captured
        } else {
            let (pio, run_io) = Io::pipes(stdin).map_err(internal)?;
            io = Some(pio);
            run_io
        };
        if let Some(c) = &console {
            args.extend(["--console-socket", c.name()]);
        }
        let id = self.id.clone();
        args.push(&id);
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| internal("no task".into()))?;
        let result = rt.run_keeping_stderr(&mut self.reaper, &args, run_io);
        let _ = std::fs::remove_file(&spec_file);
        let (_, early_stderr) = result.map_err(runtime_failure)?;
        let pid = runtime::read_pid_file(&pid_file).map_err(internal)?;
        let _ = std::fs::remove_file(&pid_file);
        if let Some(c) = &console {
            io = Some(
                c.receive_master()
                    .and_then(|m| Io::pty(m, stdin))
                    .map_err(internal)?,
            );
        }
        let host_pid = self.host_pid(pid);
        let p = &mut self.procs[i];
        p.pid = pid;
        p.host_pid = host_pid;
        p.io = io.unwrap_or_default();
        p.status = Status::Running;
        p.started_at = now_ns();
        p.spec = Vec::new();
        if !early_stderr.is_empty() {
            // What reached stdout meanwhile goes first, as the process most likely wrote it.
            self.read_output(&exec_id, Stream::Stdout, 16);
            self.deliver(i, Stream::Stderr, &early_stderr);
        }
        Ok(shim_response::Kind::Pid(host_pid))
    }
}

/// Whether `pid` is PID 1 of its own PID namespace (the last of its `NSpid` pids is 1).
fn is_pid_ns_init(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|ids| ids.split_whitespace().last())
        .is_some_and(|last| last == "1")
}
