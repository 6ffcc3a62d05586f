//! The engine's networks: the network controller of `berth-network`, set up from berthd's
//! settings, and what the engine asks of it — preparing a container's networks when it
//! starts (its namespace: `sandbox`; its endpoints: `attach`), releasing them when it
//! stops, the `/networks` endpoints, recovery.

mod attach;
mod containers;
mod resource;
mod sandbox;

use std::path::{Path, PathBuf};

use berth_network::{ControllerConfig, NetworkController};

use crate::config::NetworkOptions;
use crate::error::{Error, Kind, Result};

pub use attach::mode_network;
pub use resource::{create_request, matches_list_filters, matches_prune_filters, to_resource};
pub use sandbox::{netns_file, netns_path, Mode};

/// berthd's default data root; engines with another one are told apart (see
/// [`controller_config`]).
const DEFAULT_DATA_ROOT: &str = "/var/lib/berth/engine";

/// The network side of the engine.
pub struct Networks {
    pub ctl: NetworkController,
    /// Where containers' namespace files live (`<exec-root>/netns`).
    exec_root: PathBuf,
}

impl Networks {
    /// Opens the controller (state under `<data-root>/network`), making the predefined
    /// networks and bridges as needed; containers' namespaces are kept under `exec_root`.
    pub async fn open(
        data_root: &Path,
        exec_root: &Path,
        opts: &NetworkOptions,
    ) -> Result<Networks> {
        let mut cfg = controller_config(data_root);
        if let Some((subnet, gateway)) = opts.bip {
            cfg.default_bridge_subnet = Some(subnet);
            cfg.default_bridge_gateway = Some(gateway);
        }
        if !opts.pools.is_empty() {
            cfg.default_pools = opts.pools.clone();
        }
        cfg.dns = opts.dns.clone();
        let ctl = NetworkController::open(cfg)
            .await
            .map_err(|e| err(e).context("setting up networking"))?;
        Ok(Networks {
            ctl,
            exec_root: exec_root.to_path_buf(),
        })
    }
}

/// The controller settings for an engine keeping its data in `data_root`. The engine at
/// the default data root uses bridge `berth0` and nftables table `berth`; any other engine
/// on the same host (tests, a second daemon) gets a bridge and a table named after its data
/// root, and — because subnets are picked avoiding the host's routes — its own default
/// subnet, so engines never share or reconcile away each other's links and rules.
pub fn controller_config(data_root: &Path) -> ControllerConfig {
    let mut c = ControllerConfig::new(data_root.join("network"));
    if data_root != Path::new(DEFAULT_DATA_ROOT) {
        let tag = instance_tag(data_root);
        c.table = format!("berth_{tag}");
        c.default_bridge = format!("berth{tag}");
    }
    c
}

/// Eight hex digits naming an engine instance by its data root (FNV-1a).
fn instance_tag(data_root: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h: u32 = 0x811c9dc5;
    for b in data_root.as_os_str().as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x01000193);
    }
    format!("{h:08x}")
}

/// The engine error for a networking error, with dockerd's status: bad input 400, what the
/// network's state forbids 403, unknown objects 404, conflicts 409, the rest 500.
pub fn err(e: berth_network::Error) -> Error {
    let kind = if e.is_not_found() {
        Kind::NotFound
    } else if e.is_forbidden() {
        Kind::Forbidden
    } else if e.is_conflict() {
        Kind::Conflict
    } else if e.is_user_error() {
        Kind::InvalidParameter
    } else {
        Kind::Internal
    };
    Error::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_told_apart_by_data_root() {
        let d = controller_config(Path::new(DEFAULT_DATA_ROOT));
        assert_eq!(
            (d.table.as_str(), d.default_bridge.as_str()),
            ("berth", "berth0")
        );
        let a = controller_config(Path::new("/tmp/a/data"));
        let b = controller_config(Path::new("/tmp/b/data"));
        assert_ne!(a.table, b.table);
        assert_ne!(a.default_bridge, b.default_bridge);
        assert!(a.default_bridge.len() <= 15);
        assert_eq!(a.state_dir, Path::new("/tmp/a/data/network"));
    }

    #[test]
    fn error_kinds() {
        let e = err(berth_network::Error::NetworkNotFound("x".into()));
        assert_eq!(
            (e.kind, e.message.as_str()),
            (Kind::NotFound, "network x not found")
        );
        assert_eq!(
            err(berth_network::Error::NetworkExists("x".into())).kind,
            Kind::Conflict
        );
        assert_eq!(
            err(berth_network::Error::NoFreePool).kind,
            Kind::InvalidParameter
        );
        assert_eq!(
            err(berth_network::Error::Predefined("host".into())).kind,
            Kind::Forbidden
        );
        assert_eq!(
            err(berth_network::Error::UnknownDriver("x".into())).kind,
            Kind::NotFound
        );
        assert_eq!(
            err(berth_network::Error::Nft("boom".into())).kind,
            Kind::Internal
        );
    }
}
