//! shimd's configuration: a TOML file, overridden by flags.
//!
//! ```toml
//! address = "/run/berth/shimd.sock"
//! root = "/var/lib/berth/shimd"
//! state = "/run/berth/shimd"
//! log_level = "info"
//! runtime = "berth-runtime"          # default OCI runtime binary for tasks
//! shim = "berth-shim"                # the shim binary
//! snapshotter = "overlayfs"          # or "native" (full copies)
//!
//! [registries."myregistry.example:5000"]
//! insecure = true                    # plain HTTP / no TLS verification
//! ca_file = "/etc/berth/certs/my-ca.pem"
//! mirrors = ["https://mirror.example"]
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

use crate::Args;

pub const DEFAULT_ADDRESS: &str = "/run/berth/shimd.sock";
pub const DEFAULT_ROOT: &str = "/var/lib/berth/shimd";
pub const DEFAULT_STATE: &str = "/run/berth/shimd";

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub address: PathBuf,
    pub root: PathBuf,
    pub state: PathBuf,
    pub log_level: String,
    /// The OCI runtime binary tasks use unless their container names another.
    pub runtime: String,
    /// The shim binary.
    pub shim: String,
    /// "overlayfs" or "native".
    pub snapshotter: String,
    pub registries: BTreeMap<String, RegistryConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RegistryConfig {
    pub insecure: bool,
    pub ca_file: Option<PathBuf>,
    pub mirrors: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: DEFAULT_ADDRESS.into(),
            root: DEFAULT_ROOT.into(),
            state: DEFAULT_STATE.into(),
            log_level: "info".into(),
            runtime: "berth-runtime".into(),
            shim: "berth-shim".into(),
            snapshotter: "overlayfs".into(),
            registries: BTreeMap::new(),
        }
    }
}

impl Config {
    /// The config file named by `--config` (if any), then the flags on top.
    pub fn load(args: &Args) -> anyhow::Result<Config> {
        let mut cfg = match &args.config {
            Some(path) => Self::from_file(path)?,
            None => Config::default(),
        };
        if let Some(a) = &args.address {
            cfg.address = a.clone();
        }
        if let Some(r) = &args.root {
            cfg.root = r.clone();
        }
        if let Some(s) = &args.state {
            cfg.state = s.clone();
        }
        if let Some(l) = &args.log_level {
            cfg.log_level = l.clone();
        }
        Ok(cfg)
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}
