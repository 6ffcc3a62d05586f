//! `exec` (a new process in a running container) and `attach` (to a running container's
//! main process).

use std::time::{Duration, Instant};

use berth_api::exec;
use nix::sys::signal::Signal;
use serde_json::Value;

use super::attach::{self, AttachPlan};
use super::create_body::collect_env;
use crate::cli::{AttachArgs, ExecArgs};
use crate::client::http::{seg, Body};
use crate::context::Ctx;
use crate::error::{CliError, CmdResult};
use crate::session::{self, Ended, SessionOpts};
use crate::term::{self, RawMode, SignalPipe};

fn to_json(v: &impl serde::Serialize) -> Result<Value, CliError> {
    serde_json::to_value(v).map_err(|e| CliError::new(e.to_string()))
}

pub fn exec(ctx: &Ctx, a: &ExecArgs) -> CmdResult {
    let (container, cmd) = a
        .container_and_command
        .split_first()
        .expect("clap requires two values");
    let stdin = a.interactive && !a.detach;
    if stdin && a.tty && !term::is_tty(libc::STDIN_FILENO) {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let detach_keys = match &a.detach_keys {
        Some(k) => term::parse_detach_keys(k)?,
        None => vec![16, 17],
    };
    let env = collect_env(&a.env_file, &a.env)?;
    let console = if a.tty { term::local_size() } else { None };
    let console = console.map(|(r, c)| [u32::from(r), u32::from(c)]);
    let body = exec::CreateRequest {
        attach_stdin: stdin,
        attach_stdout: !a.detach,
        attach_stderr: !a.detach,
        tty: a.tty,
        cmd: Some(cmd.to_vec()),
        env: Some(env),
        user: a.user.clone().unwrap_or_default(),
        working_dir: a.workdir.clone().unwrap_or_default(),
        privileged: a.privileged,
        detach_keys: a.detach_keys.clone().unwrap_or_default(),
        console_size: console,
        ..Default::default()
    };
    let client = ctx.client()?;
    let created = client.post(&super::cpath(container, "exec"), Some(&to_json(&body)?))?;
    let exec_id = created
        .get("Id")
        .and_then(Value::as_str)
        .ok_or_else(|| CliError::new("the daemon's exec answer has no Id"))?
        .to_string();
    let start_path = format!("/exec/{}/start", seg(&exec_id));
    let start_body = to_json(&exec::StartRequest {
        detach: a.detach,
        tty: a.tty,
        console_size: console,
    })?;
    if a.detach {
        client.post(&start_path, Some(&start_body))?;
        return Ok(0);
    }
    let (stream, early) = client.hijack(&start_path, Body::json(&start_body))?;
    let resize_path = format!("/exec/{}/resize", seg(&exec_id));
    let pipe = if a.tty {
        Some(SignalPipe::catch(&[
            Signal::SIGWINCH,
            Signal::SIGTERM,
            Signal::SIGHUP,
        ])?)
    } else {
        None
    };
    if a.tty {
        attach::initial_resize(client, &resize_path);
    }
    let raw = if a.tty && stdin && term::is_tty(libc::STDIN_FILENO) {
        Some(
            RawMode::enable()
                .map_err(|e| CliError::new(format!("setting the terminal to raw mode: {e}")))?,
        )
    } else {
        None
    };
    let mut react = |s: Signal| {
        if s == Signal::SIGWINCH {
            attach::resize(client, &resize_path);
            false
        } else {
            true
        }
    };
    let ended = session::run(
        stream,
        early,
        SessionOpts {
            tty: a.tty,
            stdin,
            detach_keys: if stdin && a.tty {
                detach_keys
            } else {
                Vec::new()
            },
            signals: pipe
                .as_ref()
                .map(|p| (p, &mut react as &mut dyn FnMut(Signal) -> bool)),
        },
    );
    drop(raw);
    drop(pipe);
    match ended {
        Ok(Ended::Detached) => return Err(attach::detached_error()),
        Ok(Ended::Interrupted) => return Ok(128 + Signal::SIGTERM as i32),
        Ok(Ended::OutputClosed) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Err(CliError::silent(141)),
        Err(e) => return Err(CliError::new(e.to_string())),
    }
    exit_code(ctx, &exec_id)
}

/// The exec'd process's exit code; the daemon may record it a moment after the output ends.
fn exit_code(ctx: &Ctx, exec_id: &str) -> CmdResult {
    let client = ctx.client()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let info = client.get(&format!("/exec/{}/json", seg(exec_id)))?;
        let running = info
            .get("Running")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if let (false, Some(code)) = (running, info.get("ExitCode").and_then(Value::as_i64)) {
            return Ok(code as i32);
        }
        if Instant::now() > deadline {
            return Err(CliError::new(format!(
                "exec {exec_id}: the daemon reported no exit code"
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn attach(ctx: &Ctx, a: &AttachArgs) -> CmdResult {
    let client = ctx.client()?;
    let info = client.get(&super::cpath(&a.container, "json"))?;
    let flag = |p: &str| info.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    if !flag("/State/Running") {
        return Err(CliError::new(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if flag("/State/Paused") {
        return Err(CliError::new(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if flag("/State/Restarting") {
        return Err(CliError::new(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    let tty = flag("/Config/Tty");
    let stdin = !a.no_stdin && flag("/Config/OpenStdin");
    if stdin && tty && !term::is_tty(libc::STDIN_FILENO) {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let detach_keys = match &a.detach_keys {
        Some(k) => term::parse_detach_keys(k)?,
        None => vec![16, 17],
    };
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(&a.container)
        .to_string();
    attach::attached(
        client,
        AttachPlan {
            id: &id,
            tty,
            stdin,
            stdout: true,
            stderr: true,
            detach_keys,
            detach_keys_flag: a.detach_keys.clone(),
            sig_proxy: a.sig_proxy,
            wait_condition: "not-running",
            start: false,
        },
    )
}
