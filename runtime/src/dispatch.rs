//! The command line: global flags, then the command and its flags, dispatched to the
//! module that implements it.

use crate::cli::{self, flag, opt, FlagSpec, Trailing};
use crate::create::{self, CreateOpts, Global};
use crate::error::{bail, Result};
use crate::{commands, criu, exec, features, lifecycle, log, selfexe, signals, spec_template};
use std::path::PathBuf;

const DEFAULT_ROOT: &str = "/run/berth/runtime";

const GLOBAL_FLAGS: &[FlagSpec] = &[
    opt(&["root"]),
    opt(&["log"]),
    opt(&["log-format"]),
    flag(&["debug"]),
    flag(&["systemd-cgroup"]),
    opt(&["rootless"]),
    opt(&["criu"]),
    flag(&["help", "h"]),
    flag(&["version", "v"]),
];

const CREATE_FLAGS: &[FlagSpec] = &[
    opt(&["bundle", "b"]),
    opt(&["pid-file"]),
    opt(&["console-socket"]),
    flag(&["no-pivot"]),
    flag(&["no-new-keyring"]),
    opt(&["preserve-fds"]),
    flag(&["detach", "d"]),
    flag(&["keep"]),
    flag(&["no-subreaper"]),
];

const USAGE: &str = "berth-runtime: a runc-compatible OCI runtime

usage: berth-runtime [global flags] <command> [flags] [arguments]

global flags:
  --root DIR              state directory (default /run/berth/runtime)
  --log FILE              write diagnostics to FILE
  --log-format text|json  format of --log (default text)
  --debug                 also log debug messages
  --systemd-cgroup        accepted; the systemd cgroup driver is not supported (cgroupfs is used)

commands:
  spec [--rootless] [--bundle DIR]        write a default config.json
  create [flags] ID                        create a container (init waits for start)
      --bundle DIR --pid-file FILE --console-socket SOCK --no-pivot --no-new-keyring --preserve-fds N
  start ID                                 start a created container
  run [create flags] [--detach] [--keep] ID   create, start and wait (exit code of the container)
  state ID                                 print the OCI state JSON
  kill [--all] ID [SIGNAL]                 send a signal (default TERM) to init or all processes
  delete [--force] ID                      remove a container
  exec [flags] ID [COMMAND ARGS...]        run a process in a container
      --process FILE --tty --cwd DIR --env K=V --user UID[:GID] --additional-gids GID --cap CAP
      --detach --pid-file FILE --console-socket SOCK --no-new-privs --apparmor P --process-label L --preserve-fds N
  ps [--format table|json] ID [-- PS ARGS]  list the container's processes
  list [--format table|json] [--quiet]     list containers
  pause ID                                 freeze every process of a container
  resume ID                                thaw them
  update [flags] ID                        change resource limits
      --resources FILE|- --memory --memory-reservation --memory-swap --cpu-quota --cpu-period
      --cpu-share --cpuset-cpus --cpuset-mems --pids-limit --blkio-weight
  events [--stats] [--interval 5s] ID      resource usage and OOM events as JSON
  features                                 what this runtime supports, as OCI features JSON
  checkpoint [flags] ID                    needs CRIU, which berth-runtime does not support: fails,
                                           leaving the container running
  restore [flags] ID                       needs CRIU too: fails, creating nothing
";

/// Where the command starts: global flags come before it, and a value-taking global
/// flag's value is not the command.
fn command_index(argv: &[String]) -> usize {
    let mut j = 0;
    while j < argv.len() {
        let a = &argv[j];
        if !a.starts_with('-') {
            return j;
        }
        let name = a.trim_start_matches('-');
        if !name.contains('=')
            && GLOBAL_FLAGS
                .iter()
                .any(|f| f.takes_value && f.names.contains(&name))
        {
            j += 1;
        }
        j += 1;
    }
    argv.len()
}

/// Runs one command line (without the program name); returns the exit code.
pub fn run(argv: Vec<String>) -> Result<i32> {
    let split = command_index(&argv);
    let global = cli::parse(
        &argv[..split],
        GLOBAL_FLAGS,
        Trailing::Flags,
        "berth-runtime",
    )?;
    let rest = &argv[split..];
    if global.is_set("version") {
        // runc's layout: tools read the version, the commit and the spec line by line.
        println!(
            "berth-runtime version {}\ncommit: {}\nspec: 1.2.0",
            env!("CARGO_PKG_VERSION"),
            berth_buildinfo::GIT_COMMIT
        );
        return Ok(0);
    }
    let Some((cmd, args)) = rest.split_first() else {
        // No command: the usage, successfully (as runc answers).
        print!("{USAGE}");
        return Ok(0);
    };
    if global.is_set("help") || cmd == "help" {
        print!("{USAGE}");
        return Ok(0);
    }
    if matches!(
        args.first().map(String::as_str),
        Some("--help" | "-help" | "-h")
    ) {
        let help = command_help(cmd)
            .ok_or_else(|| format!("unknown command {cmd:?} (see berth-runtime --help)"))?;
        print!("{help}");
        return Ok(0);
    }
    log::init(
        global.value("log"),
        global.value("log-format").unwrap_or("text"),
        global.is_set("debug"),
    )?;
    let g = Global {
        root: PathBuf::from(global.value("root").unwrap_or(DEFAULT_ROOT)),
        systemd_cgroup: global.is_set("systemd-cgroup"),
    };
    log::debug(&format!("{cmd} {args:?}"));
    if matches!(cmd.as_str(), "create" | "run" | "exec") && !selfexe::running_sealed() {
        selfexe::reexec_sealed()?;
    }
    let one_id = |p: &cli::Parsed, what: &str| -> Result<String> {
        match p.positional.as_slice() {
            [id] => Ok(id.clone()),
            [] => bail!("{what}: container id is required"),
            _ => bail!("{what}: expected one container id, got {:?}", p.positional),
        }
    };
    match cmd.as_str() {
        "create" | "run" => {
            let p = cli::parse(args, CREATE_FLAGS, Trailing::Flags, cmd)?;
            let id = one_id(&p, cmd)?;
            let o = CreateOpts {
                id,
                bundle: PathBuf::from(p.value("bundle").unwrap_or(".")),
                pid_file: p.value("pid-file").map(PathBuf::from),
                console_socket: p.value("console-socket").map(PathBuf::from),
                no_pivot: p.is_set("no-pivot"),
                no_new_keyring: p.is_set("no-new-keyring"),
                preserve_fds: parse_u32(p.value("preserve-fds"), "--preserve-fds")?,
            };
            if cmd == "create" {
                create::create(&g, &o, create::ConsoleTo::Socket)?;
                Ok(0)
            } else {
                crate::run::run(&g, &o, p.is_set("detach"), p.is_set("keep"))
            }
        }
        "start" => {
            let p = cli::parse(args, &[], Trailing::Flags, cmd)?;
            lifecycle::start(&g, &one_id(&p, cmd)?)?;
            Ok(0)
        }
        "state" => {
            let p = cli::parse(args, &[], Trailing::Flags, cmd)?;
            println!("{}", lifecycle::state_json(&g, &one_id(&p, cmd)?)?);
            Ok(0)
        }
        "kill" => {
            let p = cli::parse(args, &[flag(&["all", "a"])], Trailing::Flags, cmd)?;
            let (id, sig) = match p.positional.as_slice() {
                [id] => (id, "TERM"),
                [id, sig] => (id, sig.as_str()),
                [] => bail!("kill: container id is required"),
                _ => bail!("kill: usage: kill [--all] ID [SIGNAL]"),
            };
            // Signal 0 (a number, as runc takes it) only checks that init is alive.
            let sig = if sig == "0" { 0 } else { signals::parse(sig)? };
            lifecycle::kill(&g, id, sig, p.is_set("all"))?;
            Ok(0)
        }
        "delete" => {
            let p = cli::parse(args, &[flag(&["force", "f"])], Trailing::Flags, cmd)?;
            lifecycle::delete(&g, &one_id(&p, cmd)?, p.is_set("force"))?;
            Ok(0)
        }
        "exec" => exec::command(&g, args),
        "spec" => spec_template::command(args),
        "checkpoint" => criu::checkpoint(&g, args),
        "restore" => criu::restore(&g, args),
        "features" => {
            cli::parse(args, &[], Trailing::Flags, cmd)?;
            println!("{}", features::json());
            Ok(0)
        }
        "list" | "ps" | "pause" | "resume" | "update" | "events" => {
            commands::dispatch(&g, cmd, args)
        }
        other => bail!("unknown command {other:?} (see berth-runtime --help)"),
    }
}

/// `<command> --help`: the command's lines of the usage text (its synopsis and flags).
fn command_help(cmd: &str) -> Option<String> {
    let mut lines = USAGE
        .lines()
        .skip_while(|l| !l.starts_with("commands:"))
        .skip(1);
    let first = lines.find(|l| {
        l.trim_start()
            .strip_prefix(cmd)
            .is_some_and(|r| r.is_empty() || r.starts_with(' '))
    })?;
    let mut out = format!("usage: berth-runtime {}\n", first.trim());
    for l in lines.take_while(|l| l.starts_with("      ")) {
        out.push_str(&format!("  {}\n", l.trim()));
    }
    Some(out)
}

fn parse_u32(v: Option<&str>, what: &str) -> Result<u32> {
    match v {
        None => Ok(0),
        Some(s) => s
            .parse()
            .map_err(|_| format!("{what}: not a number: {s:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_command_starts_after_the_global_flags_and_their_values() {
        assert_eq!(command_index(&args(&["state", "x"])), 0);
        assert_eq!(
            command_index(&args(&["--root", "/r", "--debug", "state", "x"])),
            3
        );
        // a value given with = is one word; -flag works like --flag
        assert_eq!(
            command_index(&args(&["--log=/l", "-root", "/r", "list"])),
            3
        );
        // boolean flags take no value: "list" is the command
        assert_eq!(command_index(&args(&["--systemd-cgroup", "list"])), 1);
        assert_eq!(command_index(&args(&["--root"])), 1);
        assert_eq!(command_index(&args(&[])), 0);
    }

    #[test]
    fn bad_command_lines_are_errors_naming_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_str().unwrap();
        let err = |v: &[&str]| run(args(v)).unwrap_err().0;
        assert_eq!(
            err(&["--root", root, "frobnicate"]),
            "unknown command \"frobnicate\" (see berth-runtime --help)"
        );
        assert_eq!(
            err(&["--root", root, "state"]),
            "state: container id is required"
        );
        assert_eq!(
            err(&["--root", root, "delete", "a", "b"]),
            "delete: expected one container id, got [\"a\", \"b\"]"
        );
        assert_eq!(
            err(&["--root", root, "state", "nope"]),
            "container nope does not exist"
        );
        assert_eq!(
            err(&["--root", root, "kill", "x", "NOPE"]),
            "unknown signal \"NOPE\" (use a name like TERM or KILL, or a number)"
        );
        assert_eq!(
            err(&["--root", root, "start", "--bogus", "x"]),
            "start: unknown flag --bogus (see --help)"
        );
        assert_eq!(
            err(&["--log-format", "yaml", "list"]),
            "--log-format: unknown format \"yaml\" (text or json)"
        );
    }

    #[test]
    fn version_help_and_an_empty_state_root_succeed() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().join("state");
        let root = root.to_str().unwrap();
        assert_eq!(run(args(&["--version"])).unwrap(), 0);
        assert_eq!(run(args(&["--help"])).unwrap(), 0);
        assert_eq!(run(args(&[])).unwrap(), 0);
        assert_eq!(run(args(&["--root", root, "list", "-q"])).unwrap(), 0);
        assert_eq!(
            run(args(&["--root", root, "list", "--format", "json"])).unwrap(),
            0
        );
    }

    #[test]
    fn a_command_with_help_shows_its_usage_lines() {
        let kill = command_help("kill").unwrap();
        assert!(
            kill.starts_with("usage: berth-runtime kill [--all] ID [SIGNAL]  ")
                && kill.ends_with("send a signal (default TERM) to init or all processes\n"),
            "{kill}"
        );
        assert!(command_help("resume").unwrap().contains("thaw"));
        let create = command_help("create").unwrap();
        assert!(create.contains("--console-socket"), "{create}");
        assert!(command_help("restore").is_some());
        assert_eq!(command_help("frob"), None);
        assert_eq!(run(args(&["kill", "--help"])).unwrap(), 0);
    }

    #[test]
    fn preserve_fds_must_be_a_number() {
        assert_eq!(parse_u32(None, "--preserve-fds").unwrap(), 0);
        assert_eq!(parse_u32(Some("3"), "--preserve-fds").unwrap(), 3);
        assert_eq!(
            parse_u32(Some("x"), "--preserve-fds").unwrap_err().0,
            "--preserve-fds: not a number: \"x\""
        );
    }
}
