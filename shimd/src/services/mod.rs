//! The gRPC services, one module each.

pub mod system;
pub mod images;
pub mod snapshots;
