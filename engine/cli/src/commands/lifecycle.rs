//! start, stop, restart, kill, rm, pause, unpause, rename, wait. Commands on several
//! containers act on all of them in parallel, print each name that succeeded in the order
//! given, report each failure, and exit 1 if any failed — like docker.

use std::thread;

use serde_json::Value;

use super::attach::{self, AttachPlan};
use crate::cli::{ContainersArgs, KillArgs, RenameArgs, RmArgs, StartArgs, StopArgs};
use crate::client::http::{Body, Query};
use crate::client::{ApiError, Client};
use crate::context::Ctx;
use crate::error::{report, CliError, CmdResult};
use crate::output::print;
use crate::term;

/// Runs `op` for every name in parallel; prints the names that worked (or what `op`
/// returned), reports the failures, and fails with status 1 if any did.
fn each<F>(client: &Client, names: &[String], op: F) -> CmdResult
where
    F: Fn(&Client, &str) -> Result<Option<String>, ApiError> + Send + Sync + 'static,
{
    let op = std::sync::Arc::new(op);
    let results: Vec<_> = if names.len() == 1 {
        vec![op(client, &names[0])]
    } else {
        let handles: Vec<_> = names
            .iter()
            .map(|n| {
                let (c, n, op) = (client.clone(), n.clone(), op.clone());
                thread::spawn(move || op(&c, &n))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(ApiError::Transport("worker thread failed".into())))
            })
            .collect()
    };
    let mut failed = false;
    for (name, r) in names.iter().zip(results) {
        match r {
            Ok(Some(text)) => print(&format!("{text}\n")),
            Ok(None) => print(&format!("{name}\n")),
            Err(e) => {
                report(e);
                failed = true;
            }
        }
    }
    if failed {
        Err(CliError::silent(1))
    } else {
        Ok(0)
    }
}

/// A POST with no interesting answer.
fn post(client: &Client, target: &str) -> Result<(), ApiError> {
    client
        .call("POST", target, &[], Body::Empty)?
        .bytes()
        .map(|_| ())
        .map_err(|e| ApiError::Transport(e.to_string()))
}

fn path(id: &str, action: &str) -> String {
    super::cpath(id, action)
}

pub fn start(ctx: &Ctx, a: &StartArgs) -> CmdResult {
    let client = ctx.client()?;
    if !(a.attach || a.interactive) {
        return each(client, &a.containers, |c, n| {
            post(c, &path(n, "start")).map(|_| None)
        });
    }
    if a.containers.len() > 1 {
        return Err(CliError::new(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let name = &a.containers[0];
    let info = client.get(&path(name, "json"))?;
    let id = info
        .get("Id")
        .and_then(Value::as_str)
        .unwrap_or(name)
        .to_string();
    let flag = |p: &str| info.pointer(p).and_then(Value::as_bool).unwrap_or(false);
    let tty = flag("/Config/Tty");
    let stdin = a.interactive && flag("/Config/OpenStdin");
    if stdin && tty && !term::is_tty(libc::STDIN_FILENO) {
        return Err(CliError::new("the input device is not a TTY"));
    }
    let detach_keys = match &a.detach_keys {
        Some(k) => term::parse_detach_keys(k)?,
        None => vec![16, 17],
    };
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
            sig_proxy: true,
            wait_condition: if flag("/HostConfig/AutoRemove") {
                "removed"
            } else {
                "next-exit"
            },
            start: true,
        },
    )
}

pub fn stop(ctx: &Ctx, a: &StopArgs, action: &'static str) -> CmdResult {
    let client = ctx.client()?;
    let query = Query::new()
        .opt("t", a.timeout.map(|t| t.to_string()))
        .opt("signal", a.signal.clone());
    let suffix = query.to_target("");
    each(client, &a.containers, move |c, n| {
        post(c, &format!("{}{suffix}", path(n, action))).map(|_| None)
    })
}

pub fn kill(ctx: &Ctx, a: &KillArgs) -> CmdResult {
    let client = ctx.client()?;
    let suffix = Query::new().opt("signal", a.signal.clone()).to_target("");
    each(client, &a.containers, move |c, n| {
        post(c, &format!("{}{suffix}", path(n, "kill"))).map(|_| None)
    })
}

pub fn rm(ctx: &Ctx, a: &RmArgs) -> CmdResult {
    let client = ctx.client()?;
    let suffix = Query::new()
        .flag("force", a.force)
        .flag("v", a.volumes)
        .flag("link", a.link)
        .to_target("");
    each(client, &a.containers, move |c, n| {
        c.delete(&format!("{}{suffix}", super::cpath(n, "")))
            .map(|_| None)
    })
}

pub fn pause(ctx: &Ctx, a: &ContainersArgs, action: &'static str) -> CmdResult {
    let client = ctx.client()?;
    each(client, &a.containers, move |c, n| {
        post(c, &path(n, action)).map(|_| None)
    })
}

pub fn wait(ctx: &Ctx, a: &ContainersArgs) -> CmdResult {
    let client = ctx.client()?;
    each(client, &a.containers, |c, n| {
        let v = c.post(&path(n, "wait"), None)?;
        if let Some(msg) = v
            .pointer("/Error/Message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
        {
            return Err(ApiError::Daemon {
                status: 500,
                message: msg.to_string(),
            });
        }
        Ok(Some(
            v.get("StatusCode")
                .and_then(Value::as_i64)
                .unwrap_or(0)
                .to_string(),
        ))
    })
}

pub fn rename(ctx: &Ctx, a: &RenameArgs) -> CmdResult {
    let new = a.new_name.trim();
    if new.is_empty() {
        return Err(CliError::new(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let client = ctx.client()?;
    let target = Query::new()
        .set("name", new)
        .to_target(&path(&a.container, "rename"));
    post(client, &target)?;
    Ok(0)
}
