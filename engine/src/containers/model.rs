//! A container as the engine keeps it: the persisted record and its run state.

use std::path::PathBuf;

use berth_api::container::{Config, HostConfig};
use berth_api::network::NetworkSettings;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The lifecycle states docker reports in `State.Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    #[default]
    Created,
    Running,
    Paused,
    Restarting,
    Removing,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// The run state, persisted with the record.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RunState {
    /// True from a successful start until the exit is recorded (also while paused).
    pub running: bool,
    pub paused: bool,
    /// Waiting out the restart policy's delay before the next start.
    pub restarting: bool,
    pub removing: bool,
    pub dead: bool,
    pub oom_killed: bool,
    pub pid: u32,
    pub exit_code: i64,
    pub error: String,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Stopped by the user (stop, kill): restart policies leave it alone.
    pub manually_stopped: bool,
    /// Increments on every start; tells one run's exit from the next.
    pub generation: u64,
}

impl RunState {
    pub fn status(&self) -> Status {
        if self.removing {
            Status::Removing
        } else if self.dead {
            Status::Dead
        } else if self.restarting {
            Status::Restarting
        } else if self.running && self.paused {
            Status::Paused
        } else if self.running {
            Status::Running
        } else if self.started_at.is_some() || self.finished_at.is_some() {
            Status::Exited
        } else {
            Status::Created
        }
    }
}

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
}

impl Record {
    /// The name without its leading "/".
    pub fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }
}
