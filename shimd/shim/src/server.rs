//! The shim's single-threaded event loop: one `poll` over the SIGCHLD signalfd, the shim
//! socket and its connections, and the processes' stdio. Requests are answered in order;
//! runtime commands run to completion inside a request (through the same reaper).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use berth_proto::shim::{
    shim_frame, shim_request, shim_response, AttachRequest, ConnectInfo, CreateRequest,
    DeleteRequest, Empty, ExecRequest, KillRequest, PidInfo, PidList, ProcessList, ProcessState,
    ResizeRequest, ShimFrame, ShimRequest, ShimResponse, ShutdownRequest, Status, UpdateRequest,
};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use prost::Message;

use crate::console::{self, ConsoleSocket};
use crate::exitfile;
use crate::logfile::LogFile;
use crate::pidns::HostProc;
use crate::process::{status_name, valid_exec_id, Io, Process, Stream};
use crate::reaper::Reaper;
use crate::runtime::{self, RunIo, Runtime};
use crate::timefmt::now_ns;
use crate::SOCKET;

/// An attached client whose queue grows beyond this stops the output it reads until it
/// catches up (the process then blocks on a full pipe, as with docker attach).
const BACKLOG_LIMIT: usize = 256 * 1024;
/// A shim that was never given a task exits after this long (its starter is gone).
const IDLE_WITHOUT_TASK: Duration = Duration::from_secs(60);
/// How long a killed process may take to be reaped during a forced delete.
const KILL_WAIT: Duration = Duration::from_secs(10);
const INIT_PID_FILE: &str = "init.pid";

// The codes of ShimResponse.code (gRPC's numbering).
const UNKNOWN: u32 = 2;
const INVALID_ARGUMENT: u32 = 3;
const NOT_FOUND: u32 = 5;
const ALREADY_EXISTS: u32 = 6;
const FAILED_PRECONDITION: u32 = 9;
const INTERNAL: u32 = 13;

struct Failure {
    code: u32,
    msg: String,
}

fn fail<T>(code: u32, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        code,
        msg: msg.into(),
    })
}

/// A runtime error: the runtime's own message.
fn runtime_failure(msg: String) -> Failure {
    Failure { code: UNKNOWN, msg }
}

fn internal(msg: String) -> Failure {
    Failure {
        code: INTERNAL,
        msg,
    }
}

type Reply = Result<shim_response::Kind, Failure>;

enum Mode {
    Requests,
    /// Waiting for the process with this exec id to exit.
    Waiting(String),
    Attached {
        exec_id: String,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

struct Conn {
    serial: u64,
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    mode: Mode,
    /// Close once `outbuf` is written.
    closing: bool,
    dead: bool,
}

impl Conn {
    fn send<M: Message>(&mut self, m: &M) {
        crate::wire::put(m, &mut self.outbuf);
        self.flush();
    }

    fn flush(&mut self) {
        while !self.outbuf.is_empty() {
            match self.stream.write(&self.outbuf) {
                Ok(0) => {
                    self.dead = true;
                    return;
                }
                Ok(n) => {
                    self.outbuf.drain(..n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.dead = true;
                    return;
                }
            }
        }
        if self.outbuf.capacity() > 64 * 1024 {
            self.outbuf = Vec::new();
        }
        if self.closing {
            self.dead = true;
        }
    }

    fn attached_to(&self, exec_id: &str) -> bool {
        matches!(&self.mode, Mode::Attached { exec_id: e, .. } if e == exec_id)
    }
}

#[derive(Clone)]
enum Target {
    Signal,
    Listener,
    Conn(u64),
    Output(String, Stream),
    Stdin(String),
}

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

    fn conn(&mut self, serial: u64) -> Option<&mut Conn> {
        self.conns
            .iter_mut()
            .find(|c| c.serial == serial && !c.dead)
    }

    fn proc_index(&self, exec_id: &str) -> Option<usize> {
        self.procs.iter().position(|p| p.exec_id == exec_id)
    }

    fn accept(&mut self) {
        while let Ok((stream, _)) = self.listener.accept() {
            if stream.set_nonblocking(true).is_err() {
                continue;
            }
            self.next_serial += 1;
            self.conns.push(Conn {
                serial: self.next_serial,
                stream,
                inbuf: Vec::new(),
                outbuf: Vec::new(),
                mode: Mode::Requests,
                closing: false,
                dead: false,
            });
        }
    }

    fn conn_readable(&mut self, serial: u64) {
        let Some(c) = self.conn(serial) else { return };
        let mut buf = [0u8; 16 * 1024];
        match c.stream.read(&mut buf) {
            Ok(0) => {
                c.dead = true;
                return;
            }
            Ok(n) => c.inbuf.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::Interrupted
                ) =>
            {
                return
            }
            Err(_) => {
                c.dead = true;
                return;
            }
        }
        self.process_frames(serial);
    }

    /// Handles every complete frame a connection has sent, as its mode allows.
    fn process_frames(&mut self, serial: u64) {
        loop {
            let Some(c) = self.conn(serial) else { return };
            if matches!(c.mode, Mode::Waiting(_)) || c.closing {
                return;
            }
            let frame = match crate::wire::take(&mut c.inbuf) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if c.inbuf.is_empty() && c.inbuf.capacity() > 64 * 1024 {
                        c.inbuf = Vec::new();
                    }
                    return;
                }
                Err(_) => {
                    c.dead = true;
                    return;
                }
            };
            match &c.mode {
                Mode::Attached { exec_id, stdin, .. } => {
                    let (exec_id, stdin) = (exec_id.clone(), *stdin);
                    match ShimFrame::decode(frame.as_slice()) {
                        Ok(f) => self.attach_input(&exec_id, stdin, f),
                        Err(_) => c.dead = true,
                    }
                }
                _ => match ShimRequest::decode(frame.as_slice()) {
                    Ok(req) => self.handle(serial, req),
                    Err(e) => {
                        let r = error_response(INVALID_ARGUMENT, format!("bad request: {e}"));
                        c.send(&r);
                    }
                },
            }
        }
    }

    fn respond(&mut self, serial: u64, reply: Reply) {
        let resp = match reply {
            Ok(kind) => ShimResponse {
                error: String::new(),
                code: 0,
                kind: Some(kind),
            },
            Err(f) => error_response(f.code, f.msg),
        };
        if let Some(c) = self.conn(serial) {
            c.send(&resp);
        }
    }

    fn handle(&mut self, serial: u64, req: ShimRequest) {
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

    fn find(&self, exec_id: &str) -> Result<usize, Failure> {
        if self.runtime.is_none() {
            return fail(FAILED_PRECONDITION, "no task has been created in this shim");
        }
        match self.proc_index(exec_id) {
            Some(i) => Ok(i),
            None => fail(NOT_FOUND, format!("exec process {exec_id:?} not found")),
        }
    }

    fn init_status(&self) -> Status {
        self.procs
            .first()
            .map(|p| p.status)
            .unwrap_or(Status::Unknown)
    }

    fn create(&mut self, r: CreateRequest) -> Reply {
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

    fn start(&mut self, exec_id: &str) -> Reply {
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

    fn run_runtime(&mut self, args: &[&str]) -> Result<Vec<u8>, Failure> {
        let rt = self
            .runtime
            .as_ref()
            .ok_or_else(|| internal("no task".into()))?;
        rt.run(&mut self.reaper, args, RunIo::Captured)
            .map_err(runtime_failure)
    }

    fn exec(&mut self, e: ExecRequest) -> Reply {
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

    fn kill(&mut self, k: KillRequest) -> Reply {
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

    fn resize(&mut self, r: ResizeRequest) -> Reply {
        let i = self.find(&r.exec_id)?;
        if let Some(pty) = &self.procs[i].io.pty {
            console::resize(pty, r.width, r.height)
                .map_err(|e| internal(format!("resizing the terminal: {e}")))?;
        }
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    fn close_stdin(&mut self, exec_id: &str) -> Reply {
        let i = self.find(exec_id)?;
        let io = &mut self.procs[i].io;
        io.close_stdin = true;
        io.flush_stdin();
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    /// Answers at once when the process has exited; otherwise parks the connection.
    fn wait(&mut self, serial: u64, exec_id: &str) -> Option<Reply> {
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

    fn pids(&mut self) -> Reply {
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

    fn pause(&mut self, pause: bool) -> Reply {
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

    fn update(&mut self, u: UpdateRequest) -> Reply {
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

    /// Kills a process with SIGKILL and reaps it (the loop's normal exit handling runs).
    fn kill_and_reap(&mut self, i: usize) -> Result<(), Failure> {
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

    fn reap_pid(&mut self, pid: i32) -> Result<(), Failure> {
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

    fn delete(&mut self, d: DeleteRequest) -> Reply {
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

    fn attach(&mut self, serial: u64, a: AttachRequest) {
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

    fn shutdown(&mut self, s: ShutdownRequest) -> Reply {
        if !s.now && self.runtime.is_some() {
            return fail(
                FAILED_PRECONDITION,
                "the task is not deleted yet: delete it first, or shut down with `now`",
            );
        }
        self.quit = true;
        Ok(shim_response::Kind::Ok(Empty {}))
    }

    fn attach_input(&mut self, exec_id: &str, may_write: bool, f: ShimFrame) {
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
    fn read_output(&mut self, exec_id: &str, stream: Stream, rounds: usize) {
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
    fn deliver(&mut self, i: usize, stream: Stream, data: &[u8]) {
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

    fn handle_exits(&mut self) {
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

    /// The host's pid of one of our processes.
    fn host_pid(&self, pid: u32) -> u32 {
        match &self.host_proc {
            Some(h) => h.host_pid(pid),
            None => pid,
        }
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

/// Whether `pid` is PID 1 of its own PID namespace (the last of its `NSpid` pids is 1).
fn is_pid_ns_init(pid: u32) -> bool {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|ids| ids.split_whitespace().last())
        .is_some_and(|last| last == "1")
}

fn error_response(code: u32, error: String) -> ShimResponse {
    ShimResponse {
        error,
        code,
        kind: None,
    }
}

fn ok_response() -> ShimResponse {
    ShimResponse {
        kind: Some(shim_response::Kind::Ok(Empty {})),
        ..Default::default()
    }
}

fn exit_frame(state: ProcessState) -> ShimFrame {
    ShimFrame {
        kind: shim_frame::Kind::Exit as i32,
        exit: Some(state),
        ..Default::default()
    }
}

fn state_kind(p: &Process) -> shim_response::Kind {
    shim_response::Kind::State(p.state())
}
