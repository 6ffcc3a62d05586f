//! The gRPC services, one module each.

pub mod system;
