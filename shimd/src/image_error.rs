//! gRPC statuses for the image library's errors.

use berth_image::Error;
use tonic::Status;

pub fn status(e: Error) -> Status {
    let msg = e.to_string();
    match e {
        Error::NotFound(_) => Status::not_found(msg),
        Error::InvalidArgument(_) | Error::Unsupported(_) => Status::invalid_argument(msg),
        Error::DigestMismatch { .. } => Status::data_loss(msg),
        Error::Unsafe(_) => Status::failed_precondition(msg),
        Error::Registry(_) => Status::unavailable(msg),
        Error::Unauthorized(_) => Status::unauthenticated(msg),
        Error::Busy(_) => Status::aborted(msg),
        Error::Io { .. } => Status::internal(msg),
    }
}

/// Adds what was being done to a status's message.
pub fn context(s: Status, what: &str) -> Status {
    Status::new(s.code(), format!("{what}: {}", s.message()))
}
