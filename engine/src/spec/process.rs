//! The container's init process in the OCI spec: command line, environment, working
//! directory, capabilities, rlimits and the rest of `process`, docker's way.

use berth_api::container::{Config, HostConfig};
use berth_proto::v1;
use oci_spec::runtime::{BoxBuilder, PosixRlimit, PosixRlimitBuilder, PosixRlimitType, Process};
use serde::de::IntoDeserializer;
use serde::Deserialize;

use super::{caps, Input};
use crate::error::{Error, Result};

/// The rlimits a container may set (docker's names, without `RLIMIT_`).
const KNOWN_RLIMITS: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// The init process's command line: entrypoint then cmd.
pub fn command_line(config: &Config) -> Vec<String> {
    let mut v: Vec<String> = config
        .entrypoint
        .as_ref()
        .map(|e| e.0.clone())
        .unwrap_or_default();
    v.extend(config.cmd.as_ref().map(|c| c.0.clone()).unwrap_or_default());
    v
}

/// The container's environment: `HOSTNAME`, then the config's, a `PATH` when it has none,
/// and `TERM=xterm` with a tty.
pub fn environment(config: &Config, hostname: &str) -> Vec<String> {
    let mut env = berth_spec::merge_env(
        &[format!("HOSTNAME={hostname}")],
        config.env.as_deref().unwrap_or(&[]),
    );
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.push(berth_spec::DEFAULT_PATH.into());
    }
    if config.tty && !env.iter().any(|e| e.starts_with("TERM=")) {
        env.push("TERM=xterm".into());
    }
    env
}

/// Who the container's processes run as, for shimd to resolve in the container's rootfs
/// when its task is created (and for each exec without a user of its own): the config's
/// user (empty: root) and the host config's `GroupAdd`.
pub fn process_user(config: &Config, host: &HostConfig) -> v1::ProcessUser {
    v1::ProcessUser {
        user: config.user.clone(),
        additional_groups: host.group_add.clone().unwrap_or_default(),
    }
}

/// `GroupAdd` entries are group names or ids.
fn check_group_add(group_add: &[String]) -> Result<()> {
    match group_add
        .iter()
        .find(|g| g.is_empty() || g.contains([':', '\n']))
    {
        Some(bad) => Err(Error::invalid(format!(
            "invalid group {bad:?} in GroupAdd: give a group name or id"
        ))),
        None => Ok(()),
    }
}

/// The base's rlimits with the engine's defaults, then the request's, replacing any of
/// the same kind.
fn rlimits(
    base: &[PosixRlimit],
    host: &HostConfig,
    defaults: &[crate::config::UlimitSpec],
) -> Result<Vec<PosixRlimit>> {
    let mut list = base.to_vec();
    for (name, soft, hard) in defaults.iter().map(|u| (&u.name, u.soft, u.hard)).chain(
        host.ulimits
            .iter()
            .flatten()
            .map(|u| (&u.name, u.soft, u.hard)),
    ) {
        if !KNOWN_RLIMITS.contains(&name.as_str()) {
            return Err(Error::invalid(format!("invalid ulimit type: {name}")));
        }
        if soft > hard && hard >= 0 {
            return Err(Error::invalid(format!(
                "invalid ulimit argument: {name}: soft limit {soft} is larger than hard limit {hard}"
            )));
        }
        let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
        let kind = PosixRlimitType::deserialize(kind.as_str().into_deserializer())
            .map_err(|e: serde::de::value::Error| Error::internal(format!("rlimit {name}: {e}")))?;
        list.retain(|r| r.typ() != kind);
        // -1 (unlimited) is the all-ones limit.
        let r = PosixRlimitBuilder::default()
            .typ(kind)
            .soft(soft as u64)
            .hard(hard as u64)
            .build()
            .map_err(|e| Error::internal(format!("rlimit {name}: {e}")))?;
        list.push(r);
    }
    Ok(list)
}

/// The init process: the base spec's, with the request's command, environment, working
/// directory, capabilities, rlimits and console.
pub fn build(base: Process, input: &Input, args: Vec<String>) -> Result<Process> {
    let (h, c) = (input.host, input.config);
    let cwd = if c.working_dir.is_empty() {
        "/"
    } else {
        c.working_dir.as_str()
    };
    let rl = rlimits(
        base.rlimits().as_deref().unwrap_or(&[]),
        h,
        input.default_ulimits,
    )?;
    let mut p = base;
    p.set_terminal(Some(c.tty))
        .set_args(Some(args))
        .set_env(Some(environment(c, input.hostname)))
        .set_cwd(cwd.into())
        .set_capabilities(Some(caps::process_capabilities(&input.plan.caps)?))
        .set_no_new_privileges(Some(input.plan.security.no_new_privileges))
        .set_rlimits(Some(rl));
    if h.oom_score_adj != 0 {
        // Checked to be within [-1000, 1000] with the request.
        p.set_oom_score_adj(Some(h.oom_score_adj as i32));
    }
    if h.console_size != [0, 0] && c.tty {
        let size = BoxBuilder::default()
            .height(h.console_size[0])
            .width(h.console_size[1])
            .build()
            .map_err(|e| Error::internal(format!("console size: {e}")))?;
        p.set_console_size(Some(size));
    }
    check_group_add(h.group_add.as_deref().unwrap_or(&[]))?;
    Ok(p)
}
