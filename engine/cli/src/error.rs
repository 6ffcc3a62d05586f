//! Command failures and the exit codes docker uses for them.

use std::fmt;

use crate::client::ApiError;

/// Exit code for errors of the daemon or of the CLI itself in `run`-like commands and for
/// bad flags.
pub const EXIT_DAEMON: i32 = 125;
/// The container command could not be invoked (e.g. permission denied).
pub const EXIT_CANNOT_INVOKE: i32 = 126;
/// The container command was not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// A failed command: the message printed as `berth: <message>` and the exit status.
#[derive(Debug)]
pub struct CliError {
    pub code: i32,
    /// Empty when everything was already printed (e.g. per-container errors).
    pub message: String,
}

impl CliError {
    pub fn new(message: impl Into<String>) -> CliError {
        CliError {
            code: 1,
            message: message.into(),
        }
    }

    /// Exit with `code` and print nothing more.
    pub fn silent(code: i32) -> CliError {
        CliError {
            code,
            message: String::new(),
        }
    }

    pub fn code(mut self, code: i32) -> CliError {
        self.code = code;
        self
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ApiError> for CliError {
    fn from(e: ApiError) -> CliError {
        CliError::new(e.to_string())
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> CliError {
        CliError::new(e.to_string())
    }
}

impl From<String> for CliError {
    fn from(message: String) -> CliError {
        CliError::new(message)
    }
}

/// What a command returns: its exit status, or a failure.
pub type CmdResult = Result<i32, CliError>;

/// Prints an error for one of several objects (docker keeps going and exits 1 at the end).
pub fn report(e: impl fmt::Display) {
    eprintln!("berth: {e}");
}
