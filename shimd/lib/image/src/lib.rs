//! OCI images for Berth: a content-addressed blob store, manifests and platform selection,
//! a registry client (pull and push), safe layer unpacking and diffing, and image archives
//! (OCI layout and `docker save` tars).
//!
//! The crate knows nothing of gRPC or of shimd's metadata database; shimd builds its image
//! service on it, and an image builder can reuse it.

pub mod archive;
pub mod changes;
pub mod compression;
pub mod diff;
pub mod digest;
pub mod error;
pub mod fsutil;
pub mod gzip;
pub mod limits;
pub mod manifest;
pub mod media;
pub mod mount;
pub mod platform;
pub mod reference;
pub mod registry;
pub mod store;
pub mod tarstream;
pub mod unpack;

pub use digest::Digest;
pub use error::{Error, Result};
