//! How a request fails: a code (gRPC's numbering, as in `ShimResponse.code`) and a message.

use berth_proto::shim::shim_response;

// The codes of ShimResponse.code (gRPC's numbering).
pub(super) const UNKNOWN: u32 = 2;
pub(super) const INVALID_ARGUMENT: u32 = 3;
pub(super) const NOT_FOUND: u32 = 5;
pub(super) const ALREADY_EXISTS: u32 = 6;
pub(super) const FAILED_PRECONDITION: u32 = 9;
pub(super) const INTERNAL: u32 = 13;

pub(super) struct Failure {
    pub(super) code: u32,
    pub(super) msg: String,
}

pub(super) fn fail<T>(code: u32, msg: impl Into<String>) -> Result<T, Failure> {
    Err(Failure {
        code,
        msg: msg.into(),
    })
}

/// A runtime error: the runtime's own message.
pub(super) fn runtime_failure(msg: String) -> Failure {
    Failure { code: UNKNOWN, msg }
}

pub(super) fn internal(msg: String) -> Failure {
    Failure {
        code: INTERNAL,
        msg,
    }
}

pub(super) type Reply = Result<shim_response::Kind, Failure>;
