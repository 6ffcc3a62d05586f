//! Errors. Every message names the cgroup, the file or controller involved, and the cause.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cgroup file or directory could not be read, written, created or removed.
    #[error("cgroup {path}: {action} {}: {source}", file.display())]
    Io {
        path: String,
        action: String,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A limit needs a controller this host does not provide.
    #[error(
        "cgroup {path}: {what} needs the {controller} controller, which is not available on \
         this host ({why}); remove it from the container's linux.resources"
    )]
    ControllerMissing {
        path: String,
        controller: String,
        what: String,
        why: String,
    },
    /// Bad input, an unsupported request, or a cgroup in the wrong state.
    #[error("cgroup {path}: {msg}")]
    Cgroup { path: String, msg: String },
}

impl Error {
    /// True when the cgroup (or one of its files) does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// An error before it is tied to the cgroup it happened in.
#[derive(Debug)]
pub(crate) enum Fault {
    Io {
        action: String,
        file: PathBuf,
        source: std::io::Error,
    },
    Missing {
        controller: String,
        what: String,
        why: String,
    },
    Invalid(String),
}

impl Fault {
    pub(crate) fn io(action: impl Into<String>, file: &Path, source: std::io::Error) -> Fault {
        Fault::Io {
            action: action.into(),
            file: file.to_path_buf(),
            source,
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Fault {
        Fault::Invalid(msg.into())
    }

    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, Fault::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }

    pub(crate) fn errno(&self) -> Option<i32> {
        match self {
            Fault::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }

    /// Ties the fault to the cgroup it happened in.
    pub(crate) fn at(self, path: &Path) -> Error {
        let path = path.display().to_string();
        match self {
            Fault::Io {
                action,
                file,
                source,
            } => Error::Io {
                path,
                action,
                file,
                source,
            },
            Fault::Missing {
                controller,
                what,
                why,
            } => Error::ControllerMissing {
                path,
                controller,
                what,
                why,
            },
            Fault::Invalid(msg) => Error::Cgroup { path, msg },
        }
    }
}

pub(crate) type FResult<T> = std::result::Result<T, Fault>;
