//! The texts dockerd 20.10 prints and records for build steps, byte for byte:
//!
//! - `Step N/M : <instruction as written>` (see [`step_line`] and [`super::Instruction::text`]);
//! - image history `created_by`: for instructions that only change the config, the shell
//!   in effect, `#(nop) ` and a comment of the instruction with its arguments expanded,
//!   all joined with spaces (hence two spaces after `#(nop)`: `/bin/sh -c #(nop)  CMD
//!   ["sh"]`); WORKDIR, COPY and ADD use one string `#(nop) <comment>` (one space); RUN
//!   records the command it ran, after the build-argument prefix.
//!
//! The comment functions take the values after expansion and resolution, as dockerd
//! commits them (e.g. CMD with the shell already in front).

use super::{ArgDef, HealthConfig, KeyValue};
use berth_gocompat::duration;
use berth_gocompat::quote;

/// `Step 2/5 : RUN echo hi`.
pub fn step_line(n: usize, total: usize, text: &str) -> String {
    format!("Step {n}/{total} : {text}")
}

/// `created_by` of a config-only step: `<shell…> #(nop)  <comment>`.
pub fn nop(shell: &[String], comment: &str) -> String {
    let mut parts: Vec<&str> = shell.iter().map(String::as_str).collect();
    parts.extend(["#(nop) ", comment]);
    parts.join(" ")
}

/// `created_by` of WORKDIR, COPY and ADD steps: `<shell…> #(nop) <comment>`.
pub fn nop_single(shell: &[String], comment: &str) -> String {
    let mut parts: Vec<String> = shell.to_vec();
    parts.push(format!("#(nop) {comment}"));
    parts.join(" ")
}

/// `created_by` of a RUN step: the build-argument prefix (see
/// [`crate::buildargs::BuildArgs::run_prefix`]) and the command run, joined.
pub fn run(prefix: &[String], cmd: &[String]) -> String {
    prefix
        .iter()
        .chain(cmd)
        .cloned()
        .collect::<Vec<_>>()
        .join(" ")
}

fn pairs(kv: &[KeyValue]) -> String {
    kv.iter()
        .map(|p| format!(" {}={}", p.key, p.value))
        .collect()
}

/// `ENV a=1 b=x y`.
pub fn env(kv: &[KeyValue]) -> String {
    format!("ENV{}", pairs(kv))
}

/// `LABEL k 1=v x=y`.
pub fn label(kv: &[KeyValue]) -> String {
    format!("LABEL{}", pairs(kv))
}

/// `ARG q=1 r`.
pub fn arg(args: &[ArgDef]) -> String {
    let list: Vec<String> = args
        .iter()
        .map(|a| match &a.value {
            Some(v) => format!("{}={v}", a.key),
            None => a.key.clone(),
        })
        .collect();
    format!("ARG {}", list.join(" "))
}

/// `CMD ["/bin/sh" "-c" "echo hi"]`, of the resolved command.
pub fn cmd(resolved: &[String]) -> String {
    format!("CMD {}", quote::quote_list(resolved))
}

/// `ENTRYPOINT ["/bin/sh" "-c" "echo"]`, or `ENTRYPOINT []` once reset.
pub fn entrypoint(resolved: Option<&[String]>) -> String {
    format!(
        "ENTRYPOINT {}",
        quote::quote_list(resolved.unwrap_or_default())
    )
}

/// `SHELL [/bin/sh -xc]`.
pub fn shell(shell: &[String]) -> String {
    format!("SHELL {}", quote::plain_list(shell))
}

/// `VOLUME [/a /b]`.
pub fn volume(volumes: &[String]) -> String {
    format!("VOLUME {}", quote::plain_list(volumes))
}

/// `EXPOSE 1/udp 443 80`, of the expanded ports in the order dockerd sorted them.
pub fn expose(ports: &[String]) -> String {
    format!("EXPOSE {}", ports.join(" "))
}

/// `USER 1:1`.
pub fn user(user: &str) -> String {
    format!("USER {user}")
}

/// `STOPSIGNAL SIGKILL`.
pub fn stop_signal(signal: &str) -> String {
    format!("STOPSIGNAL {signal}")
}

/// `MAINTAINER me <m@x>`.
pub fn maintainer(who: &str) -> String {
    format!("MAINTAINER {who}")
}

/// `ONBUILD RUN echo hi`.
pub fn onbuild(expression: &str) -> String {
    format!("ONBUILD {expression}")
}

/// `WORKDIR /x`, of the resolved directory (for [`nop_single`]).
pub fn workdir(dir: &str) -> String {
    format!("WORKDIR {dir}")
}

/// `COPY file:<hash> in /dest ` (trailing space included), `--chown=<spec>` glued before
/// the hash when given (for [`nop_single`]). `source_hash` is dockerd's digest of the
/// sources (`file:…`, `dir:…`, `multi:…`).
pub fn copy(instruction: &str, chown: Option<&str>, source_hash: &str, dest: &str) -> String {
    let chown = chown.map(|c| format!("--chown={c}")).unwrap_or_default();
    format!("{instruction} {chown}{source_hash} in {dest} ")
}

/// `HEALTHCHECK &{["CMD-SHELL" "curl x"] "30s" "0s" "0s" '\x03'}`: Go's `%q` of the
/// config (dockerd 20.10's fields; `--start-interval`, which it lacks, is printed after
/// the start period only when set).
pub fn healthcheck(hc: &HealthConfig) -> String {
    let mut fields = vec![
        quote::quote_list(&hc.test),
        quote::quote(&duration::format(hc.interval)),
        quote::quote(&duration::format(hc.timeout)),
        quote::quote(&duration::format(hc.start_period)),
    ];
    if hc.start_interval != 0 {
        fields.push(quote::quote(&duration::format(hc.start_interval)));
    }
    fields.push(quote::quote_int_as_rune(hc.retries));
    format!("HEALTHCHECK &{{{}}}", fields.join(" "))
}
