//! `berth completion SHELL` and the manual pages: both generated from the command-line
//! definition itself, so they never fall behind a new command or flag.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::{Cli, CompletionArgs, CompletionShell, ManPagesArgs};
use crate::error::{CliError, CmdResult};

/// Prints the completion script for the shell to stdout.
pub fn completion(a: &CompletionArgs) -> CmdResult {
    use clap_complete::Shell;
    let shell = match a.shell {
        CompletionShell::Bash => Shell::Bash,
        CompletionShell::Fish => Shell::Fish,
        CompletionShell::Powershell => Shell::PowerShell,
        CompletionShell::Zsh => Shell::Zsh,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "berth", &mut script);
    let mut out = std::io::stdout().lock();
    match out.write_all(&script).and_then(|()| out.flush()) {
        // a reader that stopped early (`| head`) is no error, as for any printing command
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(CliError::new(format!("writing the completion script: {e}")))
        }
        _ => Ok(0),
    }
}

/// Writes `berth.1` and one page per command and subcommand (`berth-container-ls.1`) into
/// the directory, creating it if needed, and names each page it wrote.
pub fn man_pages(a: &ManPagesArgs) -> CmdResult {
    let fail = |e: std::io::Error| CliError::new(format!("{}: {e}", a.dir.display()));
    std::fs::create_dir_all(&a.dir).map_err(fail)?;
    let mut cmd = Cli::command();
    // Subcommand pages are named after their full path ("berth-container-ls").
    cmd.build();
    let mut written = 0;
    write_pages(&cmd, "berth", &a.dir, &mut written).map_err(fail)?;
    println!("{written} manual pages written to {}", a.dir.display());
    Ok(0)
}

fn write_pages(
    cmd: &clap::Command,
    name: &str,
    dir: &std::path::Path,
    written: &mut usize,
) -> std::io::Result<()> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    let page = cmd
        .clone()
        .display_name(name.to_string())
        .bin_name(name.replace('-', " "));
    let mut text = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("berth {}", env!("CARGO_PKG_VERSION")))
        .manual("Berth Manual")
        .render(&mut text)?;
    std::fs::write(dir.join(format!("{name}.1")), text)?;
    *written += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        write_pages(sub, &format!("{name}-{}", sub.get_name()), dir, written)?;
    }
    Ok(())
}
