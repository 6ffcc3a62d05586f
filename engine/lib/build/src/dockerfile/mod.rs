//! The Dockerfile parser of the classic builder, with dockerd 20.10 as the reference for
//! what is accepted and with which error text.
//!
//! [`parse`] reads a whole file into a [`Dockerfile`]: the parser directives, the build
//! arguments declared before the first FROM, and the stages with their typed
//! [`Instruction`]s, each with its line numbers and its source text (the text dockerd
//! prints in `Step N/M : …`). Arguments are kept as written (quotes included); variable
//! substitution happens at dispatch time with [`crate::expand`], as dockerd does it.
//!
//! Some instructions are accepted here but refused by the classic builder when it
//! reaches them (RUN `--mount`, COPY/ADD `--chmod`): see [`Command::classic_refusal`].
//! [`history`] gives the texts dockerd records as `created_by` in image history.

mod error;
mod flags;
pub mod history;
mod instruction;
mod json;
mod lines;
mod mount;
mod node;

pub use error::{ErrorKind, ParseError};
pub use mount::Mount;

use crate::expand::{Env, ExpandError, Lexer};

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\`, or `` ` `` by `# escape=`).
    pub escape: char,
    /// The `# syntax=` directive's value: the classic builder ignores it (see
    /// [`Dockerfile::notices`]).
    pub syntax: Option<String>,
    /// dockerd's parser warnings, printed before the steps (empty continuation lines).
    pub warnings: Vec<String>,
    /// ARG instructions before the first FROM (their values serve FROM lines).
    pub meta_args: Vec<Instruction>,
    pub stages: Vec<Stage>,
}

/// A FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The FROM instruction; its command is always [`Command::From`].
    pub from_instruction: Instruction,
    pub instructions: Vec<Instruction>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub command: Command,
    /// First and last physical line (1-based), continuation lines included.
    pub start_line: usize,
    pub end_line: usize,
    /// The instruction as written, continuation lines joined and comments removed,
    /// trimmed: what dockerd prints in `Step N/M : <text>`.
    pub text: String,
}

/// The instructions, with their arguments as written (not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    From(FromSpec),
    Run(Run),
    Cmd(CmdLine),
    Entrypoint(CmdLine),
    /// The shell, from a JSON array (never empty).
    Shell(Vec<String>),
    Env(Vec<KeyValue>),
    Label(Vec<KeyValue>),
    Arg(Vec<ArgDef>),
    Copy(Copy),
    Add(Add),
    Workdir(String),
    User(String),
    Volume(Vec<String>),
    /// The ports as written, sorted as dockerd sorts them (byte order).
    Expose(Vec<String>),
    StopSignal(String),
    Maintainer(String),
    Healthcheck(HealthConfig),
    Onbuild(Onbuild),
}

/// `FROM [--platform=p] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FromSpec {
    /// The image reference, `scratch`, or an earlier stage's name, as written.
    pub image: String,
    /// The stage name, lower-cased.
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// The command of RUN, CMD or ENTRYPOINT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdLine {
    /// The JSON array's strings; in shell form the whole text as one string (none when
    /// the instruction has no arguments).
    pub args: Vec<String>,
    /// Exec (JSON) form: run as is, no shell in front.
    pub json: bool,
}

/// RUN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub cmd: CmdLine,
    pub mounts: Vec<Mount>,
}

/// COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
    /// `--from`: a stage name or index, or an image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

/// ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Add {
    pub sources: Vec<String>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

/// A `key=value` of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// An ARG: a name with an optional default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDef {
    pub key: String,
    pub value: Option<String>,
}

/// HEALTHCHECK, as the image config's `Healthcheck` holds it (durations in nanoseconds,
/// 0 when not given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    pub interval: i64,
    pub timeout: i64,
    pub start_period: i64,
    /// `--start-interval` (Docker 25+; dockerd 20.10 refuses it as an unknown flag).
    pub start_interval: i64,
    pub retries: i64,
}

/// ONBUILD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Onbuild {
    /// The trigger's instruction name, upper-case.
    pub trigger: String,
    /// The trigger as written (what the image config's `OnBuild` records), trailing
    /// blanks included as dockerd keeps them.
    pub expression: String,
}

/// Parses a whole Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    instruction::parse_file(text)
}

/// Parses a Dockerfile given as bytes; invalid UTF-8 is replaced by U+FFFD.
pub fn parse_bytes(bytes: &[u8]) -> Result<Dockerfile, ParseError> {
    parse(&String::from_utf8_lossy(bytes))
}

/// Parses an ONBUILD trigger of a base image (one entry of its config's `OnBuild`), as
/// dockerd does when a FROM inherits it; errors are in dockerd's words (`unknown
/// instruction: FOO`).
pub fn parse_trigger(expression: &str) -> Result<Instruction, ParseError> {
    instruction::parse_trigger(expression)
}

impl Dockerfile {
    /// The number of steps dockerd counts (the M of `Step N/M`): every instruction,
    /// the pre-FROM ARGs and the FROMs included.
    pub fn step_count(&self) -> usize {
        self.meta_args.len()
            + self
                .stages
                .iter()
                .map(|s| 1 + s.instructions.len())
                .sum::<usize>()
    }

    /// Every instruction in file order (the order of steps).
    pub fn instructions(&self) -> impl Iterator<Item = &Instruction> {
        self.meta_args.iter().chain(
            self.stages
                .iter()
                .flat_map(|s| std::iter::once(&s.from_instruction).chain(&s.instructions)),
        )
    }

    /// The index of the stage of this name (case-insensitive), for `--target` and
    /// `COPY --from`.
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        self.stages.iter().position(|s| {
            s.from()
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
    }

    /// Notices for the user that dockerd does not give: a `# syntax=` directive names a
    /// BuildKit frontend that the classic builder does not run.
    pub fn notices(&self) -> Vec<String> {
        self.syntax
            .iter()
            .map(|s| {
                format!("[WARNING]: the syntax directive ({s}) is ignored by the classic builder")
            })
            .collect()
    }
}

impl Stage {
    pub fn from(&self) -> &FromSpec {
        match &self.from_instruction.command {
            Command::From(f) => f,
            other => unreachable!("a stage starts with FROM, not {other:?}"),
        }
    }
}

impl Instruction {
    /// The instruction's name, upper-case (`RUN`).
    pub fn name(&self) -> &'static str {
        self.command.name()
    }
}

impl Command {
    /// The instruction's name, upper-case (`RUN`).
    pub fn name(&self) -> &'static str {
        match self {
            Command::From(_) => "FROM",
            Command::Run(_) => "RUN",
            Command::Cmd(_) => "CMD",
            Command::Entrypoint(_) => "ENTRYPOINT",
            Command::Shell(_) => "SHELL",
            Command::Env(_) => "ENV",
            Command::Label(_) => "LABEL",
            Command::Arg(_) => "ARG",
            Command::Copy(_) => "COPY",
            Command::Add(_) => "ADD",
            Command::Workdir(_) => "WORKDIR",
            Command::User(_) => "USER",
            Command::Volume(_) => "VOLUME",
            Command::Expose(_) => "EXPOSE",
            Command::StopSignal(_) => "STOPSIGNAL",
            Command::Maintainer(_) => "MAINTAINER",
            Command::Healthcheck(_) => "HEALTHCHECK",
            Command::Onbuild(_) => "ONBUILD",
        }
    }

    /// Why the classic builder refuses this instruction when it reaches it (after the
    /// steps before it ran), in dockerd's words; None when it does not.
    pub fn classic_refusal(&self) -> Option<String> {
        let flag = match self {
            Command::Run(r) if !r.mounts.is_empty() => "mount",
            Command::Copy(Copy { chmod: Some(_), .. })
            | Command::Add(Add { chmod: Some(_), .. }) => "chmod",
            _ => return None,
        };
        Some(format!(
            "the --{flag} option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
        ))
    }
}

/// The shell dockerd puts in front of shell-form commands on Linux.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

impl CmdLine {
    /// The command to run: the shell (SHELL's, or [`default_shell`]) in front of a
    /// shell-form command. RUN and CMD keep an empty command (`CMD` alone becomes the bare
    /// shell, as in dockerd); for ENTRYPOINT use [`CmdLine::resolve_entrypoint`].
    pub fn resolve(&self, shell: &[String]) -> Vec<String> {
        if self.json {
            self.args.clone()
        } else {
            shell.iter().chain(&self.args).cloned().collect()
        }
    }

    /// ENTRYPOINT's command: none when the instruction has no arguments (`ENTRYPOINT []`
    /// or a bare `ENTRYPOINT` reset it).
    pub fn resolve_entrypoint(&self, shell: &[String]) -> Option<Vec<String>> {
        (!self.args.is_empty()).then(|| self.resolve(shell))
    }
}

impl FromSpec {
    /// The image to start from and the platform, with `${…}` expanded from the
    /// pre-FROM build arguments (`meta_env`), and dockerd's errors (`base name (…) should
    /// not be blank`).
    pub fn expanded(
        &self,
        lexer: &Lexer,
        meta_env: &Env,
    ) -> Result<(String, Option<String>), String> {
        let platform = match &self.platform {
            Some(p) => Some(lexer.word(p, meta_env).map_err(|e: ExpandError| {
                format!("failed to process arguments for platform : {e}")
            })?),
            None => None,
        };
        let image = lexer
            .word(&self.image, meta_env)
            .map_err(|e| e.to_string())?;
        if image.is_empty() {
            return Err(format!("base name ({}) should not be blank", self.image));
        }
        Ok((image, platform))
    }
}

/// The WORKDIR that `WORKDIR requested` sets after `current`, as dockerd normalizes it on
/// Linux: an absolute request stays as written, a relative one is joined to `current`
/// (from `/`) and cleaned.
pub fn normalize_workdir(current: &str, requested: &str) -> String {
    if requested.starts_with('/') {
        requested.to_string()
    } else {
        berth_gocompat::path::join(&["/", current, requested])
    }
}

#[cfg(test)]
mod tests;
