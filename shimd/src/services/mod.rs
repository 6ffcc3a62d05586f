//! The gRPC services, one module each.

pub mod system;
pub mod content;
pub mod images;
pub mod leases;
pub mod snapshots;
