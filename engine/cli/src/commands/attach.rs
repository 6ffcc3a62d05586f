//! Attached containers: `run` without -d, `start -a`, and `attach`. The order matters and
//! follows docker: register the wait, hijack the attach stream, start, resize the TTY,
//! stream until the output ends, then take the exit status from the wait.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use berth_api::container::WaitResponse;
use nix::sys::signal::Signal;

use crate::client::http::{Body, Query};
use crate::client::{error_from, ApiError, Client};
use crate::error::{CliError, CmdResult, EXIT_CANNOT_INVOKE, EXIT_DAEMON, EXIT_NOT_FOUND};
use crate::session::{self, Ended, SessionOpts};
use crate::term::{self, RawMode, SignalPipe};

/// What to attach to and how.
pub struct AttachPlan<'a> {
    pub id: &'a str,
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// The parsed detach sequence and the flag text (sent to the daemon too).
    pub detach_keys: Vec<u8>,
    pub detach_keys_flag: Option<String>,
    pub sig_proxy: bool,
    /// The wait condition that yields the exit status ("next-exit", "removed", "not-running").
    pub wait_condition: &'static str,
    /// Start the container once attached (run, start -a); plain attach does not.
    pub start: bool,
}

/// What docker's `attach` and `exec` report when the user detaches (exit status 1);
/// `run` and `start -a` detach silently with status 0.
pub fn detached_error() -> CliError {
    CliError::new("read escape sequence")
}

/// The exit status docker gives a failed start: 127 when the command does not exist,
/// 126 when it cannot be executed, 125 for everything else.
pub fn start_failure_code(message: &str) -> i32 {
    let m = message.trim_start_matches("Error response from daemon: ");
    if m.contains("executable file not found")
        || m.contains("no such file or directory")
        || m.contains("not found in $PATH")
    {
        EXIT_NOT_FOUND
    } else if m.contains("permission denied") || m.contains("is a directory") {
        EXIT_CANNOT_INVOKE
    } else {
        EXIT_DAEMON
    }
}

/// A wait registered with the daemon, answered on a thread.
pub struct PendingWait {
    messages: mpsc::Receiver<WaitMsg>,
}

enum WaitMsg {
    Registered,
    Done(Result<i32, CliError>),
}

impl PendingWait {
    /// Sends `POST /containers/{id}/wait?condition=…` and returns once the daemon has
    /// accepted it (the response head arrives before the container exits), so nothing
    /// that happens afterwards can be missed. A daemon that holds the head back until the
    /// exit would stall us; after a grace period we go on and still read the answer later.
    pub fn register(client: &Client, id: &str, condition: &str) -> Result<PendingWait, CliError> {
        let client = client.clone();
        let target = Query::new()
            .set("condition", condition)
            .to_target(&super::cpath(id, "wait"));
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let resp = match client.send("POST", &target, &[], Body::Empty) {
                Ok(r) if r.status() < 400 => r,
                Ok(r) => {
                    let _ = tx.send(WaitMsg::Done(Err(error_from(r).into())));
                    return;
                }
                Err(e) => {
                    let _ = tx.send(WaitMsg::Done(Err(e.into())));
                    return;
                }
            };
            let _ = tx.send(WaitMsg::Registered);
            let _ = tx.send(WaitMsg::Done(read_wait_result(resp)));
        });
        match rx.recv_timeout(Duration::from_secs(3)) {
            Ok(WaitMsg::Registered) | Err(mpsc::RecvTimeoutError::Timeout) => {
                Ok(PendingWait { messages: rx })
            }
            Ok(WaitMsg::Done(r)) => Err(match r {
                Err(e) => e,
                Ok(code) => CliError::new(format!(
                    "the container exited ({code}) before it was started"
                )),
            }),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(thread_gone()),
        }
    }

    /// The container's exit status.
    pub fn status(self) -> Result<i32, CliError> {
        loop {
            match self.messages.recv() {
                Ok(WaitMsg::Registered) => continue,
                Ok(WaitMsg::Done(r)) => return r,
                Err(_) => return Err(thread_gone()),
            }
        }
    }
}

fn thread_gone() -> CliError {
    CliError::new("waiting for the container: the request thread ended")
}

fn read_wait_result(resp: crate::client::http::Response) -> Result<i32, CliError> {
    let bytes = resp
        .bytes()
        .map_err(|e| CliError::new(format!("waiting for the container: {e}")))?;
    let v: WaitResponse = serde_json::from_slice(&bytes).map_err(|e| {
        CliError::new(format!(
            "waiting for the container: bad answer from the daemon: {e}"
        ))
    })?;
    match v.error {
        Some(e) if !e.message.is_empty() => Err(CliError::new(e.message).code(EXIT_DAEMON)),
        _ => Ok(v.status_code as i32),
    }
}

/// Tells the daemon the local terminal size; false when the daemon refused it.
pub fn resize(client: &Client, path: &str) -> bool {
    let Some((rows, cols)) = term::local_size() else {
        return true;
    };
    let target = Query::new()
        .set("h", rows.to_string())
        .set("w", cols.to_string())
        .to_target(path);
    client
        .call("POST", &target, &[], Body::Empty)
        .and_then(|r| r.bytes().map_err(|e| ApiError::Transport(e.to_string())))
        .is_ok()
}

/// The first resize of a session. The process may not be running yet when the daemon
/// gets it (daemons before API 1.42 ignore the size given at creation), so a refused
/// resize is tried again a few times in the background, as docker does.
pub fn initial_resize(client: &Client, path: &str) {
    if resize(client, path) {
        return;
    }
    let (client, path) = (client.clone(), path.to_string());
    thread::spawn(move || {
        for attempt in 1..=10u64 {
            thread::sleep(Duration::from_millis(10 * attempt));
            if resize(&client, &path) {
                return;
            }
        }
    });
}

/// Signals forwarded to the container by `--sig-proxy` (docker forwards all but these).
const PROXIED: &[Signal] = &[
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
];

/// Runs an attached session as planned and returns the exit status.
pub fn attached(client: &Client, plan: AttachPlan<'_>) -> CmdResult {
    let id = plan.id;
    let wait = PendingWait::register(client, id, plan.wait_condition)?;

    let target = Query::new()
        .set("stream", "1")
        .flag("stdin", plan.stdin)
        .flag("stdout", plan.stdout)
        .flag("stderr", plan.stderr)
        .opt("detachKeys", plan.detach_keys_flag.clone())
        .to_target(&super::cpath(id, "attach"));
    let (stream, early) = client
        .hijack(&target, Body::Empty)
        .map_err(|e| CliError::from(e).code(EXIT_DAEMON))?;

    if plan.start {
        let start = client.call("POST", &super::cpath(id, "start"), &[], Body::Empty);
        if let Err(e) =
            start.and_then(|r| r.bytes().map_err(|e| ApiError::Transport(e.to_string())))
        {
            let msg = e.to_string();
            return Err(CliError::new(msg.clone()).code(start_failure_code(&msg)));
        }
    }

    let local_tty = term::is_tty(libc::STDIN_FILENO);
    let signals: Vec<Signal> = if plan.tty {
        vec![Signal::SIGWINCH, Signal::SIGTERM, Signal::SIGHUP]
    } else if plan.sig_proxy {
        PROXIED.to_vec()
    } else {
        Vec::new()
    };
    let pipe = if signals.is_empty() {
        None
    } else {
        Some(SignalPipe::catch(&signals)?)
    };
    if plan.tty {
        initial_resize(client, &super::cpath(id, "resize"));
    }
    let raw = if plan.tty && plan.stdin && local_tty {
        Some(
            RawMode::enable()
                .map_err(|e| CliError::new(format!("setting the terminal to raw mode: {e}")))?,
        )
    } else {
        None
    };
    let tty = plan.tty;
    let mut react = |s: Signal| -> bool {
        if tty {
            if s == Signal::SIGWINCH {
                resize(client, &super::cpath(id, "resize"));
                return false;
            }
            return true;
        }
        let target = Query::new()
            .set("signal", s.as_str())
            .to_target(&super::cpath(id, "kill"));
        let _ = client
            .call("POST", &target, &[], Body::Empty)
            .map(|r| r.bytes());
        false
    };
    let opts = SessionOpts {
        tty: plan.tty,
        stdin: plan.stdin,
        // Like docker, detach keys only apply to TTY sessions: a plain stream may carry any byte.
        detach_keys: if plan.tty {
            plan.detach_keys.clone()
        } else {
            Vec::new()
        },
        signals: pipe
            .as_ref()
            .map(|p| (p, &mut react as &mut dyn FnMut(Signal) -> bool)),
    };
    let ended = session::run(stream, early, opts);
    drop(raw);
    drop(pipe);
    match ended {
        Ok(Ended::Detached) if plan.start => Ok(0),
        Ok(Ended::Detached) => Err(detached_error()),
        Ok(Ended::Interrupted) => Ok(128 + Signal::SIGTERM as i32),
        Ok(Ended::OutputClosed) => wait.status(),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(CliError::silent(141)),
        Err(e) => Err(CliError::new(e.to_string())),
    }
}
