//! The engine's error: a kind that decides the HTTP status, and a message for the user.

use axum::http::StatusCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 400
    InvalidParameter,
    /// 401
    Unauthorized,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 409
    Conflict,
    /// 304: the request asked for the state the object is already in.
    NotModified,
    /// 501
    NotImplemented,
    /// 503
    Unavailable,
    /// 500
    Internal,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: Kind,
    pub message: String,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: Kind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }
    pub fn invalid(m: impl Into<String>) -> Error {
        Error::new(Kind::InvalidParameter, m)
    }
    pub fn not_found(m: impl Into<String>) -> Error {
        Error::new(Kind::NotFound, m)
    }
    pub fn conflict(m: impl Into<String>) -> Error {
        Error::new(Kind::Conflict, m)
    }
    pub fn not_modified() -> Error {
        Error::new(Kind::NotModified, "")
    }
    pub fn internal(m: impl Into<String>) -> Error {
        Error::new(Kind::Internal, m)
    }

    pub fn no_such_container(r: &str) -> Error {
        Error::not_found(format!("No such container: {r}"))
    }

    pub fn no_such_image(r: &str) -> Error {
        Error::not_found(format!("No such image: {r}"))
    }

    /// Prefixes the message with what was being done.
    pub fn context(mut self, what: impl std::fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub fn status(&self) -> StatusCode {
        match self.kind {
            Kind::InvalidParameter => StatusCode::BAD_REQUEST,
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::Conflict => StatusCode::CONFLICT,
            Kind::NotModified => StatusCode::NOT_MODIFIED,
            Kind::NotImplemented => StatusCode::NOT_IMPLEMENTED,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// shimd's gRPC errors keep their meaning: NotFound stays 404, AlreadyExists and
/// FailedPrecondition become conflicts, and an unreachable shimd is reported as such.
impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Error {
        use tonic::Code;
        let kind = match s.code() {
            Code::NotFound => Kind::NotFound,
            Code::InvalidArgument | Code::OutOfRange => Kind::InvalidParameter,
            Code::AlreadyExists | Code::FailedPrecondition | Code::Aborted => Kind::Conflict,
            Code::Unauthenticated => Kind::Unauthorized,
            Code::PermissionDenied => Kind::Forbidden,
            Code::Unimplemented => Kind::NotImplemented,
            Code::Unavailable => Kind::Unavailable,
            _ => Kind::Internal,
        };
        let message = if s.code() == Code::Unavailable && s.message().contains("transport") {
            format!("shimd is not reachable: {}", s.message())
        } else {
            s.message().to_string()
        };
        Error { kind, message }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::internal(e.to_string())
    }
}
