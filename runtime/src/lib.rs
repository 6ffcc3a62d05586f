//! berth-runtime: a runc-compatible OCI runtime. It sets up a container (namespaces,
//! cgroups, rootfs, process identity, seccomp) and exits; nothing stays resident. The
//! binary only hands its command line to [`run`]; everything else lives here, with the
//! kernel reached through `sys::Sys` where the container's config becomes system calls.

mod channel;
mod cli;
mod commands;
/// config.json loading and validation; public so that the fuzz targets (tests/fuzz) can
/// feed it arbitrary bytes as the runtime does.
pub mod config;
mod console;
mod create;
mod criu;
mod device_rules;
mod dispatch;
mod error;
mod exec;
mod exec_cgroup;
mod execve;
mod fdpass;
mod features;
mod hooks;
mod identity;
mod init;
mod lifecycle;
mod log;
mod mempolicy;
mod mounts;
mod ns;
mod passwd;
mod rootfs;
mod run;
mod seccomp_agent;
mod selfexe;
mod signals;
mod spec_template;
mod state;
mod stdio;
mod sys;
#[cfg(test)]
mod testing;

pub use dispatch::run;
pub use error::Error;

/// Records an error in the log (`--log`), where containerd and dockerd read it back.
pub fn log_error(e: &Error) {
    log::error(&e.0);
}
