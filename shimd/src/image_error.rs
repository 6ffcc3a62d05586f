//! gRPC statuses for the image library's errors.

use berth_image::limits::LimitExceeded;
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
        Error::TooLarge(x) => Status::resource_exhausted(format!("{msg}; {}", raise_hint(&x))),
    }
}

/// Which setting lets such a layer through.
fn raise_hint(x: &LimitExceeded) -> &'static str {
    match x {
        LimitExceeded::Ratio { .. } => {
            "if the image is trusted, raise shimd's max_layer_ratio (config file) or \
             --max-layer-ratio (0: no bound)"
        }
        LimitExceeded::Total { .. } => {
            "if the image is trusted, raise shimd's max_unpack_bytes (config file) or \
             --max-unpack-bytes (0: no bound)"
        }
    }
}

/// Adds what was being done to a status's message.
pub fn context(s: Status, what: &str) -> Status {
    Status::new(s.code(), format!("{what}: {}", s.message()))
}
