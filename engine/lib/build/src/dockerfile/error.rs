//! Why a Dockerfile is refused, printed in dockerd 20.10's words so docker clients show
//! the same text.

use std::fmt;

/// At which stage dockerd refuses the file; it decides the wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The file has no bytes at all.
    Empty,
    /// The text cannot be read as lines and instructions (directives, JSON arrays of
    /// non-strings, ENV/LABEL pairs, no instruction at all, an over-long line).
    Syntax,
    /// An instruction's arguments or flags are wrong.
    Instruction,
    /// An instruction other than ARG comes before the first FROM.
    NoStage,
    /// An ONBUILD trigger inherited from a base image is wrong (dockerd gives the bare
    /// reason).
    Trigger,
}

/// A refused Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub kind: ErrorKind,
    /// First and last line (1-based) of the instruction or line at fault; 0 when the whole
    /// file is at fault.
    pub line: usize,
    pub end_line: usize,
    /// The instruction at fault, upper-case (`RUN`), when one is.
    pub instruction: Option<String>,
    /// The reason, as dockerd words it without its prefix.
    pub message: String,
}

impl ParseError {
    /// dockerd's full message for a Dockerfile of this name (`docker build -f NAME`).
    pub fn message_for(&self, dockerfile_name: &str) -> String {
        match self.kind {
            ErrorKind::Empty => format!("the Dockerfile ({dockerfile_name}) cannot be empty"),
            ErrorKind::Syntax => format!("failed to parse {dockerfile_name}: {}", self.message),
            ErrorKind::Instruction => {
                format!(
                    "dockerfile parse error line {}: {}",
                    self.line, self.message
                )
            }
            ErrorKind::NoStage | ErrorKind::Trigger => self.message.clone(),
        }
    }

    pub(crate) fn new(
        kind: ErrorKind,
        lines: (usize, usize),
        instruction: Option<&str>,
        message: impl Into<String>,
    ) -> ParseError {
        ParseError {
            kind,
            line: lines.0,
            end_line: lines.1,
            instruction: instruction.map(str::to_uppercase),
            message: message.into(),
        }
    }
}

/// dockerd's message for a file named `Dockerfile`.
impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message_for("Dockerfile"))
    }
}

impl std::error::Error for ParseError {}
