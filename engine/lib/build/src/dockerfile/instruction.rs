//! From raw nodes to typed instructions and stages, with dockerd's checks in dockerd's
//! order: the whole file is read into lines and nodes first (errors there are "failed to
//! parse Dockerfile: …"), then each instruction is checked in turn ("dockerfile parse
//! error line N: …"), with "no build stage in current context" for an instruction before
//! the first FROM (ARG aside).

use super::error::{ErrorKind, ParseError};
use super::flags::{self, Kind};
use super::lines;
use super::mount;
use super::node::{self, Node};
use super::*;
use berth_gocompat::duration;
use berth_gocompat::quote;
use regex::Regex;
use std::sync::OnceLock;

pub(crate) fn parse_file(text: &str) -> Result<Dockerfile, ParseError> {
    if text.is_empty() {
        return Err(ParseError::new(ErrorKind::Empty, (0, 0), None, "empty"));
    }
    let read = lines::read(text)?;
    let mut nodes = Vec::new();
    for line in &read.lines {
        let node = node::parse_line(&line.text, read.escape)
            .map_err(|msg| ParseError::new(ErrorKind::Syntax, (line.start, line.end), None, msg))?;
        nodes.push((node, line.start, line.end));
    }
    if nodes.is_empty() {
        return Err(ParseError::new(
            ErrorKind::Syntax,
            (0, 0),
            None,
            "file with no instructions",
        ));
    }
    if read.too_long {
        return Err(ParseError::new(
            ErrorKind::Syntax,
            (0, 0),
            None,
            "dockerfile line greater than max allowed size of 65535",
        ));
    }
    let mut file = Dockerfile {
        escape: read.escape,
        syntax: read.syntax,
        warnings: read.warnings,
        meta_args: Vec::new(),
        stages: Vec::new(),
    };
    for (node, start, end) in nodes {
        let instruction = typed(&node, start, end).map_err(|msg| {
            ParseError::new(ErrorKind::Instruction, (start, end), Some(&node.cmd), msg)
        })?;
        match (&instruction.command, file.stages.last_mut()) {
            (Command::From(_), _) => file.stages.push(Stage {
                from_instruction: instruction,
                instructions: Vec::new(),
            }),
            (Command::Arg(_), None) => file.meta_args.push(instruction),
            (_, Some(stage)) => stage.instructions.push(instruction),
            (_, None) => {
                return Err(ParseError::new(
                    ErrorKind::NoStage,
                    (start, end),
                    Some(&node.cmd),
                    "no build stage in current context",
                ))
            }
        }
    }
    Ok(file)
}

pub(crate) fn parse_trigger(expression: &str) -> Result<Instruction, ParseError> {
    let fail = |lines: (usize, usize), cmd: Option<&str>, msg: String| {
        ParseError::new(ErrorKind::Trigger, lines, cmd, msg)
    };
    let read = lines::read(expression).map_err(|e| fail((e.line, e.end_line), None, e.message))?;
    let line = match read.lines.as_slice() {
        [] => return Err(fail((0, 0), None, "file with no instructions".into())),
        [line] => line,
        _ => {
            return Err(fail(
                (0, 0),
                None,
                "onbuild trigger should be a single expression".into(),
            ))
        }
    };
    let lines = (line.start, line.end);
    let node = node::parse_line(&line.text, read.escape).map_err(|msg| fail(lines, None, msg))?;
    let instruction =
        typed(&node, line.start, line.end).map_err(|msg| fail(lines, Some(&node.cmd), msg))?;
    if let Command::From(_) = instruction.command {
        return Err(fail(
            lines,
            Some(&node.cmd),
            "*instructions.Stage is not a command type".into(),
        ));
    }
    Ok(instruction)
}

fn at_least_one(what: &str) -> String {
    format!("{what} requires at least one argument")
}

fn exactly_one(what: &str) -> String {
    format!("{what} requires exactly one argument")
}

fn no_destination(what: &str) -> String {
    format!(
        "{what} requires at least two arguments, but only one was provided. Destination could not be determined"
    )
}

fn onbuild_prefix() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)^[\t\n\f\r ]*ONBUILD[\t\n\f\r ]*").expect("onbuild regex"))
}

fn stage_name_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[a-z][a-z0-9\-_.]*$").expect("stage name regex"))
}

/// The typed instruction of a node; the error is dockerd's message.
fn typed(node: &Node, start: usize, end: usize) -> Result<Instruction, String> {
    let command = command(node)?;
    Ok(Instruction {
        command,
        start_line: start,
        end_line: end,
        text: node.original.trim_matches(lines::is_space).to_string(),
    })
}

fn flags_none(node: &Node) -> Result<(), String> {
    flags::parse(&node.flags, &[]).map(|_| ())
}

fn cmd_line(node: &Node) -> CmdLine {
    let args = match (node.json, node.args.is_empty()) {
        (true, _) | (false, true) => node.args.clone(),
        (false, false) => vec![node.args.join(" ")],
    };
    CmdLine {
        args,
        json: node.json,
    }
}

fn key_values(args: &[String], what: &str) -> Result<Vec<KeyValue>, String> {
    if args.is_empty() {
        return Err(at_least_one(what));
    }
    if !args.len().is_multiple_of(2) {
        return Err(format!("Bad input to {what}, too many arguments"));
    }
    args.chunks(2)
        .map(|p| {
            if p[0].is_empty() {
                return Err(format!("{what} names can not be blank"));
            }
            Ok(KeyValue {
                key: p[0].clone(),
                value: p[1].clone(),
            })
        })
        .collect()
}

fn command(node: &Node) -> Result<Command, String> {
    let args = &node.args;
    Ok(match node.cmd.as_str() {
        "env" => {
            flags_none(node)?;
            Command::Env(key_values(args, "ENV")?)
        }
        "label" => {
            flags_none(node)?;
            Command::Label(key_values(args, "LABEL")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            flags_none(node)?;
            Command::Maintainer(args[0].clone())
        }
        "add" | "copy" => {
            let is_copy = node.cmd == "copy";
            if args.len() < 2 {
                return Err(no_destination(if is_copy { "COPY" } else { "ADD" }));
            }
            let known: &[(&str, Kind)] = if is_copy {
                &[
                    ("chown", Kind::Single),
                    ("from", Kind::Single),
                    ("chmod", Kind::Single),
                ]
            } else {
                &[("chown", Kind::Single), ("chmod", Kind::Single)]
            };
            let f = flags::parse(&node.flags, known)?;
            let (sources, dest) = (
                args[..args.len() - 1].to_vec(),
                args[args.len() - 1].clone(),
            );
            let (chown, chmod) = (f.non_empty("chown"), f.non_empty("chmod"));
            if is_copy {
                Command::Copy(Copy {
                    sources,
                    dest,
                    from: f.non_empty("from"),
                    chown,
                    chmod,
                })
            } else {
                Command::Add(Add {
                    sources,
                    dest,
                    chown,
                    chmod,
                })
            }
        }
        "from" => {
            let name = match args.len() {
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let name = args[2].to_lowercase();
                    if !stage_name_regex().is_match(&name) {
                        return Err(format!(
                            "invalid name for build stage: {}, name can't start with a number or contain symbols",
                            quote::quote(&args[2])
                        ));
                    }
                    Some(name)
                }
                1 => None,
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            let f = flags::parse(&node.flags, &[("platform", Kind::Single)])?;
            Command::From(FromSpec {
                image: args[0].clone(),
                name,
                platform: f.non_empty("platform"),
            })
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            flags_none(node)?;
            let trigger = args[0].trim_matches(lines::is_space).to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"))
                }
                _ => {}
            }
            Command::Onbuild(Onbuild {
                trigger,
                expression: onbuild_prefix().replace(&node.original, "").into_owned(),
            })
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            flags_none(node)?;
            Command::Workdir(args[0].clone())
        }
        "run" => {
            let f = flags::parse(&node.flags, &[("mount", Kind::Repeated)])?;
            let mounts = f
                .all("mount")
                .iter()
                .map(|m| mount::parse(m))
                .collect::<Result<Vec<_>, _>>()?;
            Command::Run(Run {
                cmd: cmd_line(node),
                mounts,
            })
        }
        "cmd" => {
            flags_none(node)?;
            Command::Cmd(cmd_line(node))
        }
        "entrypoint" => {
            flags_none(node)?;
            Command::Entrypoint(cmd_line(node))
        }
        "healthcheck" => Command::Healthcheck(healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            flags_none(node)?;
            let mut ports = args.clone();
            ports.sort();
            Command::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            flags_none(node)?;
            Command::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            flags_none(node)?;
            let mut volumes = Vec::new();
            for v in args {
                let v = v.trim_matches(lines::is_space);
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".into());
                }
                volumes.push(v.to_string());
            }
            Command::Volume(volumes)
        }
        // dockerd checks no flags on STOPSIGNAL and ARG: they are ignored.
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Command::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut defs = Vec::new();
            for a in args {
                defs.push(match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => ArgDef {
                        key: k.into(),
                        value: Some(v.into()),
                    },
                    None => ArgDef {
                        key: a.clone(),
                        value: None,
                    },
                });
            }
            Command::Arg(defs)
        }
        "shell" => {
            flags_none(node)?;
            let line = cmd_line(node);
            if line.args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !line.json {
                return Err("SHELL requires the arguments to be in JSON form".into());
            }
            Command::Shell(line.args)
        }
        other => return Err(format!("unknown instruction: {}", other.to_uppercase())),
    })
}

fn healthcheck(node: &Node) -> Result<HealthConfig, String> {
    let Some((typ, rest)) = node.args.split_first() else {
        return Err(at_least_one("HEALTHCHECK"));
    };
    let typ = typ.to_uppercase();
    let mut hc = HealthConfig {
        test: Vec::new(),
        interval: 0,
        timeout: 0,
        start_period: 0,
        start_interval: 0,
        retries: 0,
    };
    if typ == "NONE" {
        // dockerd does not look at the flags of HEALTHCHECK NONE.
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        hc.test = vec![typ];
        return Ok(hc);
    }
    let f = flags::parse(
        &node.flags,
        &[
            ("interval", Kind::Single),
            ("timeout", Kind::Single),
            ("start-period", Kind::Single),
            ("start-interval", Kind::Single),
            ("retries", Kind::Single),
        ],
    )?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            quote::quote(&typ)
        ));
    }
    let cmd = cmd_line(&Node {
        args: rest.to_vec(),
        ..node.clone()
    });
    if cmd.args.is_empty() {
        return Err("Missing command after HEALTHCHECK CMD".into());
    }
    let kind = if cmd.json { "CMD" } else { "CMD-SHELL" };
    hc.test = std::iter::once(kind.to_string()).chain(cmd.args).collect();
    let interval = |name: &str| -> Result<i64, String> {
        let Some(v) = f.non_empty(name) else {
            return Ok(0);
        };
        let d = duration::parse(&v).map_err(|e| e.to_string())?;
        if d < 1_000_000 {
            return Err(format!(
                "Interval {} cannot be less than 1ms",
                quote::quote(name)
            ));
        }
        Ok(d)
    };
    hc.interval = interval("interval")?;
    hc.timeout = interval("timeout")?;
    hc.start_period = interval("start-period")?;
    hc.start_interval = interval("start-interval")?;
    if let Some(v) = f.non_empty("retries") {
        let retries = parse_int32(&v)?;
        if retries < 1 {
            return Err(format!("--retries must be at least 1 (not {retries})"));
        }
        hc.retries = retries;
    }
    Ok(hc)
}

/// Go's `strconv.ParseInt(s, 10, 32)` with its error texts.
fn parse_int32(s: &str) -> Result<i64, String> {
    let err = |why: &str| format!("strconv.ParseInt: parsing {}: {why}", quote::quote(s));
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err("invalid syntax"));
    }
    match s.parse::<i32>() {
        Ok(v) => Ok(i64::from(v)),
        Err(_) => Err(err("value out of range")),
    }
}
