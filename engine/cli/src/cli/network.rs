//! `berth network ...`: docker's network commands and flags.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(NetworkConnectArgs),
    /// Create a network
    Create(NetworkCreateArgs),
    /// Disconnect a container from a network
    Disconnect(NetworkDisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(NetworkInspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(NetworkLsArgs),
    /// Remove all unused networks
    Prune(super::PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(NetworkRmArgs),
}

#[derive(Args, Debug)]
pub struct NetworkCreateArgs {
    /// Driver to manage the network ("bridge")
    #[arg(short = 'd', long, default_value = "bridge", value_name = "DRIVER")]
    pub driver: String,

    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "SUBNET")]
    pub subnet: Vec<String>,

    /// IPv4 gateway for the master subnet
    #[arg(long, value_name = "IP")]
    pub gateway: Vec<String>,

    /// Allocate container addresses from a sub-range
    #[arg(long = "ip-range", value_name = "RANGE")]
    pub ip_range: Vec<String>,

    /// Restrict external access to the network
    #[arg(long)]
    pub internal: bool,

    /// Enable manual container attachment
    #[arg(long)]
    pub attachable: bool,

    /// Enable IPv6 networking (not supported by berthd)
    #[arg(long)]
    pub ipv6: bool,

    /// Set metadata on a network (KEY=VALUE)
    #[arg(long, value_name = "LABEL")]
    pub label: Vec<String>,

    /// Set driver specific options (KEY=VALUE)
    #[arg(short = 'o', long = "opt", value_name = "OPT")]
    pub opt: Vec<String>,

    /// IP Address Management driver ("default")
    #[arg(long = "ipam-driver", default_value = "default", value_name = "DRIVER")]
    pub ipam_driver: String,

    #[arg(value_name = "NETWORK")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct NetworkLsArgs {
    /// Provide filter values (e.g. driver=bridge, name=front, label=k=v, type=custom)
    #[arg(short = 'f', long, value_name = "FILTER")]
    pub filter: Vec<String>,

    /// Format output: "table", "table TEMPLATE", "json" or a Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,

    /// Only display network IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct NetworkInspectArgs {
    /// Format output using a Go template, or "json"
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,

    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    pub verbose: bool,

    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkRmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    pub force: bool,

    #[arg(value_name = "NETWORK", required = true)]
    pub networks: Vec<String>,
}

#[derive(Args, Debug)]
pub struct NetworkConnectArgs {
    /// Add a network-scoped alias for the container
    #[arg(long, value_name = "ALIAS")]
    pub alias: Vec<String>,

    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "IP")]
    pub ip: Option<String>,

    /// MAC address for the container on this network
    #[arg(long = "mac-address", value_name = "MAC", hide = true)]
    pub mac_address: Option<String>,

    #[arg(value_name = "NETWORK")]
    pub network: String,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}

#[derive(Args, Debug)]
pub struct NetworkDisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    pub force: bool,

    #[arg(value_name = "NETWORK")]
    pub network: String,

    #[arg(value_name = "CONTAINER")]
    pub container: String,
}
