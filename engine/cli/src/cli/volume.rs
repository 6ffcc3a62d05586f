//! `berth volume ...`: docker's volume commands and flags.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum VolumeCommand {
    /// Create a volume
    Create(VolumeCreateArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(VolumeLsArgs),
    /// Remove unused local volumes
    Prune(VolumePruneArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(VolumeRmArgs),
}

#[derive(Args, Debug)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name ("local")
    #[arg(short = 'd', long, default_value = "local", value_name = "DRIVER")]
    pub driver: String,

    /// Set metadata for a volume (KEY=VALUE)
    #[arg(long, value_name = "LABEL")]
    pub label: Vec<String>,

    /// Set driver specific options (type=, device=, o=)
    #[arg(short = 'o', long = "opt", value_name = "OPT")]
    pub opt: Vec<String>,

    /// Specify volume name (instead of the argument)
    #[arg(long = "name", value_name = "NAME", hide = true)]
    pub name_flag: Option<String>,

    /// The volume's name (a random one when not given)
    #[arg(value_name = "VOLUME")]
    pub name: Option<String>,
}

#[derive(Args, Debug)]
pub struct VolumeLsArgs {
    /// Provide filter values (e.g. dangling=true, name=db, label=k=v, driver=local)
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct VolumeInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,

    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumeRmArgs {
    /// Do not error if the volume does not exist
    #[arg(short = 'f', long)]
    pub force: bool,

    #[arg(value_name = "VOLUME", required = true)]
    pub volumes: Vec<String>,
}

#[derive(Args, Debug)]
pub struct VolumePruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    pub all: bool,

    /// Provide filter values (e.g. label=k=v, label!=k)
    #[arg(long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}
