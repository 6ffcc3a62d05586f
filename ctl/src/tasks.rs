//! berthctl tasks: ls, start, kill, ps, exec, attach, pause, resume, metrics, wait, logs,
//! rm.

use std::io::Write;

use berth_proto::v1::{
    DeleteTaskRequest, ExecProcessRequest, GetContainerRequest, KillRequest, ListTasksRequest,
    LogStream, LogsRequest, ProcessUser, StartRequest, TaskRequest, TaskStatus, WaitRequest,
};
use comfy_table::{presets::NOTHING, Table};
use serde_json::{json, Value};

use crate::attach::{self, parse_signal, Target};
use crate::context::Context;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// List tasks.
    #[command(visible_alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// Filters like status==running or container_id==web.
        #[arg(long = "filter", short = 'f')]
        filters: Vec<String>,
    },
    /// Start a created task (or an exec process).
    Start {
        id: String,
        #[arg(long)]
        exec_id: Option<String>,
        /// Stay attached until it exits, and exit with its status.
        #[arg(long)]
        attach: bool,
    },
    /// Send a signal (default SIGTERM).
    Kill {
        id: String,
        /// A signal name (KILL, SIGTERM) or number.
        #[arg(short, long, default_value = "TERM")]
        signal: String,
        /// Signal every process of the container.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        exec_id: Option<String>,
    },
    /// The processes in the container (host pids).
    Ps {
        id: String,
    },
    /// Run another process in a running container.
    Exec {
        /// Allocate a terminal.
        #[arg(short = 't', long)]
        tty: bool,
        /// Keep stdin open and forward ours.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Start it and return at once.
        #[arg(short = 'd', long)]
        detach: bool,
        /// The exec id (default: exec-<pid of this command>).
        #[arg(long)]
        exec_id: Option<String>,
        #[arg(short = 'e', long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
        #[arg(short = 'w', long)]
        cwd: Option<String>,
        /// Run as user[:group], names or ids resolved in the container (default: as the
        /// container's init process).
        #[arg(short = 'u', long)]
        user: Option<String>,
        id: String,
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Attach to a task's output (and stdin, if it has one) until it exits.
    Attach {
        id: String,
        #[arg(long)]
        exec_id: Option<String>,
        /// The task runs on a terminal: use raw mode.
        #[arg(short = 't', long)]
        tty: bool,
    },
    Pause {
        id: String,
    },
    Resume {
        id: String,
    },
    /// Resource usage from the task's cgroup.
    Metrics {
        id: String,
        /// table or json
        #[arg(long, default_value = "table")]
        format: String,
    },
    /// Wait for a process to exit; prints its exit status.
    Wait {
        id: String,
        #[arg(long)]
        exec_id: Option<String>,
    },
    /// Print the container's log.
    Logs {
        id: String,
        /// Keep printing new output until the container stops.
        #[arg(short, long)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long)]
        tail: Option<i64>,
        /// Only entries at or after this time (RFC 3339).
        #[arg(long)]
        since: Option<String>,
        /// Only entries up to this time (RFC 3339).
        #[arg(long)]
        until: Option<String>,
        /// Prefix each line with its time.
        #[arg(short, long)]
        timestamps: bool,
    },
    /// Delete a stopped task (or an exited exec process).
    #[command(visible_alias = "delete", visible_alias = "remove")]
    Rm {
        id: String,
        #[arg(long)]
        exec_id: Option<String>,
        /// Kill it first if it still runs.
        #[arg(short, long)]
        force: bool,
    },
}

fn status_name(s: i32) -> &'static str {
    match TaskStatus::try_from(s).unwrap_or(TaskStatus::Unknown) {
        TaskStatus::Unknown => "UNKNOWN",
        TaskStatus::Created => "CREATED",
        TaskStatus::Running => "RUNNING",
        TaskStatus::Stopped => "STOPPED",
        TaskStatus::Paused => "PAUSED",
        TaskStatus::Pausing => "PAUSING",
    }
}

fn timestamp(s: &str) -> anyhow::Result<prost_types::Timestamp> {
    let t = chrono::DateTime::parse_from_rfc3339(s).map_err(|e| {
        anyhow::anyhow!("invalid time {s:?} ({e}): use RFC 3339, e.g. 2024-05-01T12:00:00Z")
    })?;
    Ok(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    })
}

/// The exec process spec: the container's init process with other args (and overrides).
/// Who it runs as is not in it: see [`exec_user`].
fn exec_spec(
    container_spec: &[u8],
    args: &[String],
    env: &[String],
    cwd: Option<&str>,
    tty: bool,
) -> anyhow::Result<Vec<u8>> {
    let spec: Value = serde_json::from_slice(container_spec).unwrap_or(json!({}));
    let mut p = spec.get("process").cloned().unwrap_or(json!({}));
    p["args"] = json!(args);
    p["terminal"] = json!(tty);
    let base: Vec<String> = p["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    p["env"] = json!(berth_spec::merge_env(&base, env));
    if let Some(c) = cwd {
        p["cwd"] = json!(c);
    }
    if p.get("cwd").is_none() {
        p["cwd"] = json!("/");
    }
    if let Some(o) = p.as_object_mut() {
        o.remove("user");
    }
    Ok(serde_json::to_vec(&p)?)
}

/// Who an exec runs as: `--user` with the container's supplementary groups (as docker
/// exec does), resolved by shimd in the container; none: as the container's init process.
fn exec_user(user: Option<&str>, container: Option<&ProcessUser>) -> Option<ProcessUser> {
    user.map(|u| ProcessUser {
        user: u.to_string(),
        additional_groups: container
            .map(|c| c.additional_groups.clone())
            .unwrap_or_default(),
    })
}

pub async fn run(ctx: &Context, cmd: Cmd) -> anyhow::Result<i32> {
    let mut tasks = ctx.tasks().await?;
    match cmd {
        Cmd::Ls { quiet, filters } => {
            let list = tasks
                .list(ListTasksRequest { filters })
                .await?
                .into_inner()
                .tasks;
            if quiet {
                for t in list {
                    println!("{}", t.container_id);
                }
                return Ok(0);
            }
            let mut t = Table::new();
            t.load_preset(NOTHING).set_header(["TASK", "PID", "STATUS"]);
            for p in list {
                t.add_row([
                    p.container_id,
                    p.pid.to_string(),
                    status_name(p.status).into(),
                ]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Start {
            id,
            exec_id,
            attach,
        } => {
            let exec_id = exec_id.unwrap_or_default();
            let start = StartRequest {
                container_id: id.clone(),
                exec_id: exec_id.clone(),
            };
            if !attach {
                tasks.start(start).await?;
                return Ok(0);
            }
            let session = attach::open(
                ctx,
                Target {
                    container_id: &id,
                    exec_id: &exec_id,
                    stdin: false,
                    logs: false,
                },
            )
            .await?;
            tasks.start(start).await?;
            session.run(ctx, false, false).await
        }
        Cmd::Kill {
            id,
            signal,
            all,
            exec_id,
        } => {
            tasks
                .kill(KillRequest {
                    container_id: id,
                    exec_id: exec_id.unwrap_or_default(),
                    signal: parse_signal(&signal)?,
                    all,
                })
                .await?;
            Ok(0)
        }
        Cmd::Ps { id } => {
            let list = tasks
                .pids(TaskRequest { container_id: id })
                .await?
                .into_inner()
                .processes;
            let mut t = Table::new();
            t.load_preset(NOTHING).set_header(["PID", "EXEC ID"]);
            for p in list {
                t.add_row([p.pid.to_string(), p.exec_id]);
            }
            println!("{t}");
            Ok(0)
        }
        Cmd::Exec {
            tty,
            interactive,
            detach,
            exec_id,
            env,
            cwd,
            user,
            id,
            args,
        } => {
            let c = ctx
                .containers()
                .await?
                .get(GetContainerRequest { id: id.clone() })
                .await?
                .into_inner();
            let spec = exec_spec(&c.spec, &args, &env, cwd.as_deref(), tty)?;
            let exec_id = exec_id.unwrap_or_else(|| format!("exec-{}", std::process::id()));
            let stdin = tty || interactive;
            tasks
                .exec(ExecProcessRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                    spec,
                    terminal: tty,
                    stdin,
                    user: exec_user(user.as_deref(), c.user.as_ref()),
                })
                .await?;
            let start = StartRequest {
                container_id: id.clone(),
                exec_id: exec_id.clone(),
            };
            if detach {
                tasks.start(start).await?;
                return Ok(0);
            }
            let r = async {
                let session = attach::open(
                    ctx,
                    Target {
                        container_id: &id,
                        exec_id: &exec_id,
                        stdin,
                        logs: false,
                    },
                )
                .await?;
                tasks.start(start).await?;
                session.run(ctx, tty, stdin).await
            }
            .await;
            let _ = ctx
                .tasks()
                .await?
                .delete(DeleteTaskRequest {
                    container_id: id,
                    exec_id,
                    force: true,
                })
                .await;
            r
        }
        Cmd::Attach { id, exec_id, tty } => {
            let exec_id = exec_id.unwrap_or_default();
            let p = tasks
                .get(berth_proto::v1::GetTaskRequest {
                    container_id: id.clone(),
                    exec_id: exec_id.clone(),
                })
                .await?
                .into_inner();
            let session = attach::open(
                ctx,
                Target {
                    container_id: &id,
                    exec_id: &exec_id,
                    stdin: p.stdin,
                    logs: false,
                },
            )
            .await?;
            session.run(ctx, tty || p.terminal, p.stdin).await
        }
        Cmd::Pause { id } => {
            tasks.pause(TaskRequest { container_id: id }).await?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            tasks.resume(TaskRequest { container_id: id }).await?;
            Ok(0)
        }
        Cmd::Metrics { id, format } => {
            let s = tasks
                .stats(TaskRequest { container_id: id })
                .await?
                .into_inner();
            let cpu = s.cpu.unwrap_or_default();
            let mem = s.memory.unwrap_or_default();
            let pids = s.pids.unwrap_or_default();
            match format.as_str() {
                "json" => {
                    let v = json!({
                        "cpu": { "usage_total_ns": cpu.usage_total_ns, "usage_kernel_ns": cpu.usage_kernel_ns,
                                 "usage_user_ns": cpu.usage_user_ns, "per_cpu_ns": cpu.per_cpu_ns,
                                 "throttled_periods": cpu.throttled_periods, "throttled_time_ns": cpu.throttled_time_ns,
                                 "online_cpus": cpu.online_cpus },
                        "memory": { "usage": mem.usage, "max_usage": mem.max_usage, "limit": mem.limit,
                                    "failcnt": mem.failcnt, "stats": mem.stats },
                        "pids": { "current": pids.current, "limit": pids.limit },
                        "blkio": s.blkio.iter().map(|b| json!({"major": b.major, "minor": b.minor, "op": b.op, "value": b.value})).collect::<Vec<_>>(),
                    });
                    println!("{}", serde_json::to_string_pretty(&v)?);
                }
                "table" => {
                    let mut t = Table::new();
                    t.load_preset(NOTHING).set_header(["METRIC", "VALUE"]);
                    t.add_row([
                        "cpu.usage_total_ns".to_string(),
                        cpu.usage_total_ns.to_string(),
                    ]);
                    t.add_row([
                        "cpu.usage_user_ns".to_string(),
                        cpu.usage_user_ns.to_string(),
                    ]);
                    t.add_row([
                        "cpu.usage_kernel_ns".to_string(),
                        cpu.usage_kernel_ns.to_string(),
                    ]);
                    t.add_row(["memory.usage".to_string(), mem.usage.to_string()]);
                    t.add_row(["memory.limit".to_string(), mem.limit.to_string()]);
                    t.add_row(["pids.current".to_string(), pids.current.to_string()]);
                    t.add_row(["pids.limit".to_string(), pids.limit.to_string()]);
                    println!("{t}");
                }
                other => anyhow::bail!("unknown format {other:?}: use table or json"),
            }
            Ok(0)
        }
        Cmd::Wait { id, exec_id } => {
            let w = tasks
                .wait(WaitRequest {
                    container_id: id,
                    exec_id: exec_id.unwrap_or_default(),
                })
                .await?
                .into_inner();
            println!("{}", w.exit_status);
            Ok(0)
        }
        Cmd::Logs {
            id,
            follow,
            tail,
            since,
            until,
            timestamps,
        } => {
            let mut s = tasks
                .logs(LogsRequest {
                    container_id: id,
                    follow,
                    stdout: true,
                    stderr: true,
                    since: since.as_deref().map(timestamp).transpose()?,
                    until: until.as_deref().map(timestamp).transpose()?,
                    tail,
                })
                .await?
                .into_inner();
            let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
            while let Some(e) = s.message().await? {
                let w: &mut dyn Write = if e.stream == LogStream::Stderr as i32 {
                    &mut err
                } else {
                    &mut out
                };
                if timestamps {
                    let t = e
                        .time
                        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos as u32))
                        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                        .unwrap_or_default();
                    write!(w, "{t} ")?;
                }
                w.write_all(&e.data)?;
                w.flush()?;
            }
            Ok(0)
        }
        Cmd::Rm { id, exec_id, force } => {
            tasks
                .delete(DeleteTaskRequest {
                    container_id: id,
                    exec_id: exec_id.unwrap_or_default(),
                    force,
                })
                .await?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_spec_takes_the_container_process() {
        let spec = br#"{"process":{"args":["sh"],"env":["PATH=/bin","A=1"],"cwd":"/srv","user":{"uid":5,"gid":5}}}"#;
        let p: Value = serde_json::from_slice(
            &exec_spec(spec, &["ls".into()], &["A=2".into()], None, false).unwrap(),
        )
        .unwrap();
        assert_eq!(p["args"], json!(["ls"]));
        assert_eq!(p["env"], json!(["PATH=/bin", "A=2"]));
        assert_eq!(p["cwd"], "/srv");
        assert!(p.get("user").is_none(), "shimd decides the user");
    }

    #[test]
    fn exec_user_keeps_the_containers_groups() {
        let c = ProcessUser {
            user: "app".into(),
            additional_groups: vec!["audio".into()],
        };
        assert_eq!(exec_user(None, Some(&c)), None);
        assert_eq!(
            exec_user(Some("bob:staff"), Some(&c)),
            Some(ProcessUser {
                user: "bob:staff".into(),
                additional_groups: vec!["audio".into()],
            })
        );
        assert_eq!(
            exec_user(Some("7"), None),
            Some(ProcessUser {
                user: "7".into(),
                additional_groups: vec![],
            })
        );
    }
}
