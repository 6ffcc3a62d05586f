//! Docker Engine API types shared by berthd (the server) and berth (the client).
//!
//! Field names follow the Docker Engine API exactly (mostly `PascalCase`, as Go's
//! encoding/json writes them), so the JSON both sides produce is what docker clients expect.
//! Request types accept and ignore unknown fields, like dockerd does.

pub mod auth;
pub mod container;
pub mod event;
pub mod exec;
pub mod filters;
pub mod image;
pub mod mount;
pub mod network;
pub mod networks;
pub mod nullable;
pub mod progress;
pub mod stats;
pub mod stdcopy;
pub mod strslice;
pub mod system;
pub mod version;
pub mod volume;

use serde::{Deserialize, Serialize};

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ErrorResponse {
    pub message: String,
}

/// `{"Id": "..."}`, the answer of exec create and a few others.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IdResponse {
    #[serde(rename = "Id")]
    pub id: String,
}

/// Media types of attach/exec streams after the `Upgrade: tcp` hijack.
pub const MEDIA_RAW_STREAM: &str = "application/vnd.docker.raw-stream";
pub const MEDIA_MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
