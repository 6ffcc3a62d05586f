//! The runtime's error: a message meant for the user, built up with context as it travels
//! ("container web: mount /proc: permission denied").

use std::fmt;

#[derive(Debug)]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Error {
    fn from(s: String) -> Self {
        Error(s)
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Self {
        Error(s.to_string())
    }
}

/// Adds what was being done to any displayable error.
pub trait Context<T> {
    fn ctx<S: fmt::Display>(self, what: S) -> Result<T>;
    fn with_ctx<S: fmt::Display, F: FnOnce() -> S>(self, what: F) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn ctx<S: fmt::Display>(self, what: S) -> Result<T> {
        self.map_err(|e| Error(format!("{what}: {e}")))
    }
    fn with_ctx<S: fmt::Display, F: FnOnce() -> S>(self, what: F) -> Result<T> {
        self.map_err(|e| Error(format!("{}: {e}", what())))
    }
}

/// Returns early with a formatted error.
macro_rules! bail {
    ($($arg:tt)*) => { return Err($crate::error::Error(format!($($arg)*))) };
}
pub(crate) use bail;
