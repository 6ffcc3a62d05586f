//! A container as the engine keeps it: the persisted record and its run state.

use std::path::PathBuf;

use berth_api::container::{Config, HostConfig};
use berth_api::network::NetworkSettings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use super::state::{RunState, Status};

/// Everything the engine stores about a container (`<data-root>/containers/<id>/container.json`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    pub id: String,
    /// With the leading "/", as docker reports it.
    pub name: String,
    pub created: DateTime<Utc>,
    /// The image reference as the user gave it (`Config.Image`).
    pub image_ref: String,
    /// The image ID (config digest, "sha256:...").
    pub image_id: String,
    /// The fully qualified image name shimd knows it by, if it was created from a name.
    pub image_name: String,
    pub path: String,
    pub args: Vec<String>,
    pub config: Config,
    pub host_config: HostConfig,
    pub state: RunState,
    /// `State.Health`: from the first start of a container with a health check.
    pub health: Option<berth_api::container::Health>,
    pub restart_count: i64,
    /// The OCI `process` of the container's init (exec processes start from it).
    pub process: serde_json::Value,
    pub network: NetworkSettings,
    /// The user's mounts, resolved at create (binds, volumes, tmpfs).
    pub mounts: Vec<crate::spec::mounts::ContainerMount>,
    /// The OCI runtime binary ("berth-runtime", "runc", or a configured path).
    pub runtime: String,
    pub log_path: PathBuf,
    pub hostname_path: PathBuf,
    pub hosts_path: PathBuf,
    pub resolv_conf_path: PathBuf,
    /// Legacy links (`--link`) kept for the container (see `links`).
    pub links: Vec<super::links::Link>,
    /// The /etc/hosts lines its links gave it at its last start.
    pub link_hosts: Vec<super::links::HostsLine>,
}

impl Record {
    /// The name without its leading "/".
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}
