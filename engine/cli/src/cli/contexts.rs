//! `berth context ...`: docker contexts, the named daemon endpoints shared with the
//! docker CLI.

use clap::{Args, Subcommand};

#[derive(Subcommand, Debug)]
pub enum ContextCommand {
    /// Create a context
    Create(ContextCreateArgs),
    /// Display detailed information on one or more contexts
    Inspect(ContextInspectArgs),
    /// List contexts
    #[command(visible_alias = "list")]
    Ls(ContextLsArgs),
    /// Remove one or more contexts
    #[command(visible_alias = "remove")]
    Rm(ContextRmArgs),
    /// Print the name of the current context
    Show,
    /// Set the current docker context
    Use(ContextUseArgs),
}

#[derive(Args, Debug)]
#[command(
    override_usage = "berth context create [OPTIONS] CONTEXT",
    after_help = "Docker endpoint config:

NAME                DESCRIPTION
from                Copy named context's Docker endpoint configuration
host                Docker endpoint on which to connect
ca                  Trust certs signed only by this CA
cert                Path to TLS certificate file
key                 Path to TLS key file
skip-tls-verify     Skip TLS certificate validation

Example:

$ berth context create my-context --description \"some description\" --docker \"host=tcp://myserver:2376,ca=~/ca-file,cert=~/cert-file,key=~/key-file\""
)]
pub struct ContextCreateArgs {
    /// Description of the context
    #[arg(long, value_name = "TEXT", default_value = "")]
    pub description: String,

    /// set the docker endpoint (host=...,ca=...,cert=...,key=...,skip-tls-verify=...)
    #[arg(long, value_name = "ENDPOINT")]
    pub docker: Option<String>,

    /// create context from a named context
    #[arg(long, value_name = "CONTEXT")]
    pub from: Option<String>,

    #[arg(value_name = "CONTEXT")]
    pub name: String,
}

#[derive(Args, Debug)]
pub struct ContextInspectArgs {
    /// Format the output using a Go template, or "json"
    #[arg(short = 'f', long)]
    pub format: Option<String>,

    /// Contexts to inspect (default: the current one)
    #[arg(value_name = "CONTEXT")]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContextLsArgs {
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a
    /// Go template
    #[arg(long)]
    pub format: Option<String>,

    /// Only show context names
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct ContextRmArgs {
    /// Force the removal of a context in use
    #[arg(short = 'f', long)]
    pub force: bool,

    #[arg(value_name = "CONTEXT", required = true)]
    pub names: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ContextUseArgs {
    #[arg(value_name = "CONTEXT")]
    pub name: String,
}
