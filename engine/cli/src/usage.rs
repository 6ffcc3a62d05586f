//! Command-line mistakes reported the way docker reports them: "unknown flag: --x" and a
//! pointer to the command's help, exit status 125 for flag errors.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::EXIT_DAEMON;

/// The command path the user typed (`berth container ls`), found by walking argv
/// through the command tree.
fn command_path() -> String {
    let root = Cli::command();
    let mut path = vec!["berth".to_string()];
    let mut cmd = &root;
    let mut args = std::env::args().skip(1);
    // Root options taking a value.
    let valued = [
        "-H",
        "--host",
        "--config",
        "--tlscacert",
        "--tlscert",
        "--tlskey",
        "-l",
        "--log-level",
    ];
    while let Some(a) = args.next() {
        if a.starts_with('-') {
            if path.len() == 1 && valued.contains(&a.as_str()) {
                args.next();
            }
            continue;
        }
        match cmd.find_subcommand(&a) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                cmd = sub;
            }
            None => break,
        }
    }
    path.join(" ")
}

fn context_str(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        _ => None,
    }
}

/// Prints a parse error (or the help/version text clap produced) and returns the exit status.
pub fn report_clap_error(e: clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            return 0;
        }
        _ => {}
    }
    let path = command_path();
    let see = format!("See '{path} --help'.");
    let arg = context_str(&e, ContextKind::InvalidArg).unwrap_or_default();
    let (message, code) = match e.kind() {
        ErrorKind::UnknownArgument => {
            let flag = arg.split('=').next().unwrap_or(&arg).to_string();
            if flag.starts_with("--") || !flag.starts_with('-') {
                (format!("unknown flag: {flag}"), EXIT_DAEMON)
            } else {
                let c = flag.trim_start_matches('-').chars().next().unwrap_or('?');
                (
                    format!("unknown shorthand flag: '{c}' in {flag}"),
                    EXIT_DAEMON,
                )
            }
        }
        ErrorKind::InvalidSubcommand => {
            let sub = context_str(&e, ContextKind::InvalidSubcommand).unwrap_or_default();
            if path == "berth" {
                (format!("'{sub}' is not a berth command."), 1)
            } else {
                (format!("unknown command \"{sub}\" for \"{path}\""), 1)
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = context_str(&e, ContextKind::InvalidValue).unwrap_or_default();
            let why = e
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "invalid value".to_string());
            (
                format!("invalid argument \"{value}\" for \"{arg}\" flag: {why}"),
                EXIT_DAEMON,
            )
        }
        ErrorKind::NoEquals
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => (format!("flag needs an argument: {arg}"), EXIT_DAEMON),
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand => {
            let usage = context_str(&e, ContextKind::Usage).unwrap_or_default();
            let usage = strip_ansi(&usage)
                .trim()
                .trim_start_matches("Usage:")
                .trim()
                .to_string();
            (
                format!("\"{path}\" requires more arguments.\n{see}\n\nUsage:  {usage}"),
                1,
            )
        }
        ErrorKind::ArgumentConflict => {
            let other = context_str(&e, ContextKind::PriorArg).unwrap_or_default();
            (
                format!("conflicting options: {arg} and {other}"),
                EXIT_DAEMON,
            )
        }
        _ => (
            strip_ansi(&e.to_string())
                .trim()
                .trim_start_matches("error: ")
                .to_string(),
            EXIT_DAEMON,
        ),
    };
    if matches!(
        e.kind(),
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand
    ) {
        eprintln!("berth: {message}");
    } else {
        eprintln!("berth: {message}\n{see}");
    }
    code
}

use std::error::Error as _;

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}
