//! The wire of Berth: shimd's gRPC API (`berth.v1`) and the shim protocol (`berth.shim.v1`).
//!
//! The `.proto` files under `berth/v1/` are the source of truth; clients in other languages
//! can be generated from them.

/// shimd's gRPC services and their messages.
#[cfg(feature = "grpc")]
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("berth.v1");

    /// The encoded file descriptor set of every Berth proto, for gRPC server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/berth_descriptor.bin"));
}

/// The messages of the shim protocol (length-prefixed prost on the shim's unix socket).
pub mod shim {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/berth.shim.v1.rs"));
}

/// The gRPC metadata key that carries the namespace of a call.
pub const NAMESPACE_HEADER: &str = "berth-namespace";

/// The namespace of calls that carry none.
pub const DEFAULT_NAMESPACE: &str = "default";
