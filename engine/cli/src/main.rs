//! berth: the engine CLI. It speaks the Docker Engine API to berthd (or dockerd) over a
//! unix socket or TCP with TLS, with docker's commands, flags, output and exit codes.

mod cli;
mod client;
mod commands;
mod config;
mod context;
mod daemon_contexts;
mod error;
mod output;
mod refs;
mod session;
mod template;
mod term;
mod usage;

use clap::Parser;

fn main() {
    let code = run();
    std::process::exit(code);
}

fn run() -> i32 {
    let parsed = match cli::Cli::try_parse() {
        Ok(p) => p,
        Err(e) => return usage::report_clap_error(e),
    };
    let ctx = context::Ctx::new(parsed.global);
    match commands::dispatch(&ctx, parsed.command) {
        Ok(code) => code,
        Err(e) => {
            if !e.message.is_empty() {
                eprintln!("berth: {}", e.message);
            }
            e.code
        }
    }
}
