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
//! max_layer_ratio = 100              # a layer may expand to 100x its compressed size
//!                                    # (and always to 64 MiB); 0: no bound
//! max_unpack_bytes = "64GiB"         # all layers of one pull or import, uncompressed; 0: no bound
//! ingest_expiry = "1h"               # gc removes partial downloads untouched this long
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
    /// Uncompressed bytes one layer may expand to per compressed byte (0: no bound).
    pub max_layer_ratio: u64,
    /// Uncompressed bytes all layers of one pull or import may expand to (0: no bound).
    #[serde(deserialize_with = "crate::units::de_size")]
    pub max_unpack_bytes: u64,
    /// Partial downloads (ingests) untouched this long are removed by garbage collection.
    #[serde(deserialize_with = "crate::units::de_duration")]
    pub ingest_expiry: std::time::Duration,
}

pub const DEFAULT_MAX_LAYER_RATIO: u64 = 100;
pub const DEFAULT_MAX_UNPACK_BYTES: u64 = 64 << 30;
pub const DEFAULT_INGEST_EXPIRY: std::time::Duration = std::time::Duration::from_secs(3600);

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
            max_layer_ratio: DEFAULT_MAX_LAYER_RATIO,
            max_unpack_bytes: DEFAULT_MAX_UNPACK_BYTES,
            ingest_expiry: DEFAULT_INGEST_EXPIRY,
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
        if let Some(r) = args.max_layer_ratio {
            cfg.max_layer_ratio = r;
        }
        if let Some(b) = args.max_unpack_bytes {
            cfg.max_unpack_bytes = b;
        }
        if let Some(d) = args.ingest_expiry {
            cfg.ingest_expiry = d;
        }
        Ok(cfg)
    }

    /// The bounds of one pull or import.
    pub fn unpack_limits(&self) -> berth_image::limits::UnpackLimits {
        berth_image::limits::UnpackLimits {
            max_ratio: self.max_layer_ratio,
            max_total: self.max_unpack_bytes,
        }
    }

    fn from_file(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_from_the_file_and_defaults() {
        let c: Config = toml::from_str(
            "max_layer_ratio = 20\nmax_unpack_bytes = \"2GiB\"\ningest_expiry = \"30m\"\n",
        )
        .unwrap();
        assert_eq!(c.max_layer_ratio, 20);
        assert_eq!(c.max_unpack_bytes, 2 << 30);
        assert_eq!(c.ingest_expiry, std::time::Duration::from_secs(1800));
        let c: Config = toml::from_str("max_unpack_bytes = 1000\ningest_expiry = 5\n").unwrap();
        assert_eq!((c.max_unpack_bytes, c.ingest_expiry.as_secs()), (1000, 5));
        let d = Config::default();
        assert_eq!(d.max_layer_ratio, 100);
        assert_eq!(d.max_unpack_bytes, 64 << 30);
        assert!(toml::from_str::<Config>("max_unpack_bytes = \"lots\"").is_err());
    }
}
