//! Engine-wide commands: version, info, events, disk usage, prune, login and logout.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Show the engine's disk usage
    Df(DfArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Display system-wide information
    Info(super::FormatArgs),
    /// Remove unused data: stopped containers, dangling images (and with -a, unused images)
    Prune(SystemPruneArgs),
}

#[derive(Args, Debug)]
pub struct VersionArgs {
    /// Format the output using a Go template, or "json"
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (type=container, event=start, container=NAME, ...)
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format the output using a Go template, or "json"
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Show all events created since a timestamp or a relative time (e.g. 10m)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Stream events until this timestamp or relative time
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

#[derive(Args, Debug)]
pub struct DfArgs {
    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

#[derive(Args, Debug)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Provide filter values (e.g. label=k=v, until=24h)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,

    /// Prune anonymous volumes too
    #[arg(long)]
    pub volumes: bool,
}

#[derive(Args, Debug)]
pub struct LoginArgs {
    /// Password (prefer --password-stdin: command lines are visible to other users)
    #[arg(short = 'p', long, value_name = "PASSWORD")]
    pub password: Option<String>,

    /// Take the password from STDIN
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,

    /// Username
    #[arg(short = 'u', long, value_name = "USERNAME")]
    pub username: Option<String>,

    /// Registry server (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogoutArgs {
    /// Registry server (default: Docker Hub)
    #[arg(value_name = "SERVER")]
    pub server: Option<String>,
}
