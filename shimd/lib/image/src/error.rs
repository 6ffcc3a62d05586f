//! The errors of this crate. Every message names the object and the cause.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        what: String,
        expected: String,
        actual: String,
    },
    /// A layer or archive that tries to write outside its root or holds forbidden entries.
    #[error("refusing unsafe layer: {0}")]
    Unsafe(String),
    #[error("{0}")]
    Unsupported(String),
    /// Unpacking went over a bound (see `limits`).
    #[error("{0}")]
    TooLarge(crate::limits::LimitExceeded),
    #[error("registry: {0}")]
    Registry(String),
    /// The registry wants other credentials.
    #[error("registry: {0}")]
    Unauthorized(String),
    /// Another operation holds the object (e.g. writes the same blob); try again later.
    #[error("{0}")]
    Busy(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn io_path(what: &str, path: &Path, source: std::io::Error) -> Error {
        Error::io(format!("{what} {}", path.display()), source)
    }
}

/// Adds context to io results: `.ctx(|| format!("writing {}", p.display()))`.
pub trait IoContext<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(f(), e))
    }
}

impl<T> IoContext<T> for nix::Result<T> {
    fn ctx<S: Into<String>>(self, f: impl FnOnce() -> S) -> Result<T> {
        self.map_err(|e| Error::io(f(), std::io::Error::from(e)))
    }
}
