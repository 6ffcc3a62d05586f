//! The gRPC services, one module each.

pub mod containers;
pub mod content;
pub mod images;
pub mod leases;
pub mod snapshots;
pub mod system;
pub mod tasks;
