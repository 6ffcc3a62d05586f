//! Command-line mistakes reported the way docker reports them: "unknown flag: --x" and a
//! pointer to the command's help, exit status 125 for flag errors.

use std::error::Error as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::EXIT_DAEMON;

/// Root options that take a value (skipped when looking for the command path).
const VALUED_ROOT_OPTIONS: &[&str] = &[
    "-H",
    "--host",
    "--config",
    "-c",
    "--context",
    "--tlscacert",
    "--tlscert",
    "--tlskey",
];

/// The command path the user typed (`berth container ls`), found by walking the
/// arguments through the command tree.
fn command_path(args: impl IntoIterator<Item = String>) -> String {
    let root = Cli::command();
    let mut path = vec!["berth".to_string()];
    let mut cmd = &root;
    let mut args = args.into_iter();
    while let Some(a) = args.next() {
        if a.starts_with('-') {
            if path.len() == 1 && VALUED_ROOT_OPTIONS.contains(&a.as_str()) {
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

/// docker's name for a flag: `-n, --last`, or `--since` when it has no short form.
/// `shown` is clap's rendering (`--last <INT>`); `path` is the command it belongs to.
fn flag_name(path: &str, shown: &str) -> String {
    let long = shown
        .split([' ', '='])
        .find_map(|w| w.strip_prefix("--"))
        .unwrap_or_default();
    let root = Cli::command();
    let mut cmd = &root;
    for name in path.split(' ').skip(1) {
        match cmd.find_subcommand(name) {
            Some(sub) => cmd = sub,
            None => break,
        }
    }
    let found = cmd
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .map(|a| a.get_short());
    match found {
        Some(Some(c)) => format!("-{c}, --{long}"),
        Some(None) => format!("--{long}"),
        None => shown.to_string(),
    }
}

fn context_str(e: &clap::Error, kind: ContextKind) -> Option<String> {
    match e.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        ContextValue::Strings(v) => v.first().cloned(),
        ContextValue::StyledStr(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The text to print (without the `berth: ` prefix) and the exit status for a parse
/// error of the command at `path`.
fn describe(e: &clap::Error, path: &str) -> (String, i32) {
    let see = format!("See '{path} --help'.");
    let arg = context_str(e, ContextKind::InvalidArg).unwrap_or_default();
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
            let sub = context_str(e, ContextKind::InvalidSubcommand).unwrap_or_default();
            if path == "berth" {
                (format!("'{sub}' is not a berth command."), 1)
            } else {
                (format!("unknown command \"{sub}\" for \"{path}\""), 1)
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation => {
            let value = context_str(e, ContextKind::InvalidValue).unwrap_or_default();
            let why = e
                .source()
                .map(|s| s.to_string())
                .unwrap_or_else(|| "invalid value".to_string());
            (
                format!(
                    "invalid argument \"{value}\" for \"{}\" flag: {why}",
                    flag_name(path, &arg)
                ),
                EXIT_DAEMON,
            )
        }
        ErrorKind::NoEquals
        | ErrorKind::TooManyValues
        | ErrorKind::TooFewValues
        | ErrorKind::WrongNumberOfValues => (format!("flag needs an argument: {arg}"), EXIT_DAEMON),
        ErrorKind::MissingRequiredArgument | ErrorKind::MissingSubcommand => {
            let usage = context_str(e, ContextKind::Usage).unwrap_or_default();
            let usage = strip_ansi(&usage)
                .trim()
                .trim_start_matches("Usage:")
                .trim()
                .to_string();
            // docker's form: the usage line follows the pointer to help.
            return (
                format!("\"{path}\" requires more arguments.\n{see}\n\nUsage:  {usage}"),
                1,
            );
        }
        ErrorKind::ArgumentConflict => {
            let other = context_str(e, ContextKind::PriorArg).unwrap_or_default();
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
    (format!("{message}\n{see}"), code)
}

/// Prints a parse error (or the help/version text clap produced) and returns the exit status.
pub fn report_clap_error(e: clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            0
        }
        _ => {
            let (message, code) = describe(&e, &command_path(std::env::args().skip(1)));
            eprintln!("berth: {message}");
            code
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn fail(args: &[&str]) -> (String, i32) {
        let argv: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let e = Cli::try_parse_from(std::iter::once("berth".to_string()).chain(argv.clone()))
            .expect_err("the arguments are wrong");
        describe(&e, &command_path(argv))
    }

    #[test]
    fn command_paths_skip_root_options() {
        let p = |a: &[&str]| command_path(a.iter().map(|s| s.to_string()));
        assert_eq!(
            p(&["-H", "unix:///x", "container", "ls", "-z"]),
            "berth container ls"
        );
        assert_eq!(p(&["--tls", "run", "--bad", "busybox"]), "berth run");
        assert_eq!(p(&["nonsense"]), "berth");
    }

    #[test]
    fn flag_errors_read_like_dockers() {
        assert_eq!(
            fail(&["ps", "--bogus"]),
            ("unknown flag: --bogus\nSee 'berth ps --help'.".into(), 125)
        );
        assert_eq!(
            fail(&["image", "ls", "-z"]),
            (
                "unknown shorthand flag: 'z' in -z\nSee 'berth image ls --help'.".into(),
                125
            )
        );
        let (m, code) = fail(&["ps", "-n", "x"]);
        assert_eq!(code, 125);
        assert!(
            m.starts_with("invalid argument \"x\" for \"-n, --last\" flag:"),
            "{m}"
        );
        let (m, _) = fail(&["run", "--sig-proxy", "maybe", "busybox"]);
        assert!(
            m.starts_with("invalid argument \"maybe\" for \"--sig-proxy\" flag:"),
            "{m}"
        );
        let (m, code) = fail(&["logs"]);
        assert_eq!(code, 1);
        assert!(
            m.starts_with("\"berth logs\" requires more arguments."),
            "{m}"
        );
        assert_eq!(
            fail(&["frob"]),
            (
                "'frob' is not a berth command.\nSee 'berth --help'.".into(),
                1
            )
        );
    }

    #[test]
    fn arguments_after_the_image_belong_to_the_command() {
        let cli =
            Cli::try_parse_from(["berth", "run", "--rm", "busybox", "ls", "-l", "--rm"]).unwrap();
        let crate::cli::Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert!(r.opts.rm);
        assert_eq!(r.image_and_command, ["busybox", "ls", "-l", "--rm"]);
    }
}
