//! The records the controller keeps (persisted as JSON) and the shapes it answers with.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ipam::Pool;
use crate::mac::MacAddr;
use crate::ports::{PortBinding, PortSpec};

/// Network drivers. `host` and `null` exist once each (the predefined `host` and `none`
/// networks); users create `bridge` networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    Bridge,
    Host,
    Null,
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        })
    }
}

/// docker's option keys for bridge networks that berth understands.
pub mod options {
    pub const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
    pub const MTU: &str = "com.docker.network.driver.mtu";
    pub const MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
    pub const ICC: &str = "com.docker.network.bridge.enable_icc";
    pub const HOST_BINDING: &str = "com.docker.network.bridge.host_binding_ipv4";
    pub const DEFAULT_BRIDGE: &str = "com.docker.network.bridge.default_bridge";
}

/// A request to create a network (the Docker API's `NetworkCreateRequest`, decoded).
#[derive(Debug, Clone, Default)]
pub struct CreateRequest {
    pub name: String,
    /// Empty means `bridge`.
    pub driver: String,
    pub subnet: Option<String>,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
    pub internal: bool,
    pub attachable: bool,
    pub enable_ipv6: bool,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
}

/// Bridge settings of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeSettings {
    pub name: String,
    pub mtu: u32,
    pub masquerade: bool,
    /// The host address ports are published on when the user names none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_binding: Option<Ipv4Addr>,
}

/// A network as the controller keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub driver: Driver,
    /// RFC 3339 creation time.
    pub created: String,
    pub internal: bool,
    pub attachable: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<Pool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bridge: Option<BridgeSettings>,
    /// `bridge`, `host` and `none`: created by the engine, never removed.
    #[serde(default)]
    pub predefined: bool,
}

impl Network {
    /// True for the default bridge network (`bridge`), which has no name resolution.
    pub fn is_default_bridge(&self) -> bool {
        self.predefined && self.driver == Driver::Bridge
    }

    /// True for networks whose containers resolve each other by name.
    pub fn has_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.predefined
    }

    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }
}

/// What the engine says about a container when connecting it.
#[derive(Debug, Clone, Default)]
pub struct SandboxSpec {
    pub container_id: String,
    /// The container's name without the leading slash.
    pub name: String,
    /// Its network namespace (`/proc/<pid>/ns/net` or a bind-mounted namespace file).
    /// Unused for the `host` network.
    pub netns: PathBuf,
    /// `--dns`: servers the embedded DNS forwards to instead of the host's.
    pub dns: Vec<Ipv4Addr>,
}

/// Per-network settings of a connection (`--ip`, `--mac-address`, `--network-alias`).
#[derive(Debug, Clone, Default)]
pub struct EndpointRequest {
    pub ip: Option<Ipv4Addr>,
    pub mac: Option<MacAddr>,
    pub aliases: Vec<String>,
}

/// One container's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointRecord {
    pub id: String,
    pub network_id: String,
    pub container_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_ip: Option<Ipv4Addr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac: Option<MacAddr>,
    /// The host end of the veth pair.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_veth: Option<String>,
    /// The interface inside the container (`eth0`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface: Option<String>,
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// A container's networking as the controller keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxRecord {
    pub container_id: String,
    pub name: String,
    pub netns: PathBuf,
    #[serde(default)]
    pub dns: Vec<Ipv4Addr>,
    /// What was asked for (kept for inspect), and what is bound.
    #[serde(default)]
    pub port_specs: Vec<PortSpec>,
    #[serde(default)]
    pub ports: Vec<PortBinding>,
}

/// A connection as the engine shows it (`NetworkSettings.Networks.<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointInfo {
    pub endpoint_id: String,
    pub network_id: String,
    pub network_name: String,
    pub container_id: String,
    pub container_name: String,
    pub ip: Option<Ipv4Addr>,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub mac: Option<MacAddr>,
    pub interface: Option<String>,
    pub aliases: Vec<String>,
    /// Names the container answers to on this network (docker's `DNSNames`); empty on
    /// networks without name resolution.
    pub dns_names: Vec<String>,
    pub requested_ip: Option<Ipv4Addr>,
}

/// A container that still runs, as the engine reports it to [`reconcile`].
///
/// [`reconcile`]: crate::NetworkController::reconcile
#[derive(Debug, Clone)]
pub struct LiveContainer {
    pub container_id: String,
    pub netns: PathBuf,
}

/// What a reconcile changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Endpoints of containers that are gone, removed with their veth and address.
    pub removed_endpoints: usize,
    /// Links that belonged to nothing known (veths on berth bridges, stale bridges).
    pub removed_links: Vec<String>,
    /// Containers whose DNS server and port reservations were restored.
    pub restored_containers: usize,
}

/// Validates a network or alias name: docker's rules (letters, digits, `_.-`, not
/// starting with a symbol).
pub fn check_name(kind: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid {kind} name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        )))
    }
}

/// A fresh 64-hex-digit id.
pub fn new_id() -> String {
    let b: [u8; 32] = rand::random();
    hex::encode(b)
}

/// A fresh suffix of `n` hex digits for interface names.
pub fn random_hex(n: usize) -> String {
    let b: [u8; 8] = rand::random();
    hex::encode(b)[..n].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["net", "My_net.1", "a-b", "0x"] {
            check_name("network", ok).unwrap();
        }
        for bad in ["", "-net", ".x", "a b", "a/b", "ü"] {
            assert!(check_name("network", bad).is_err(), "{bad}");
        }
        assert_eq!(new_id().len(), 64);
        assert_ne!(new_id(), new_id());
        assert_eq!(random_hex(7).len(), 7);
    }
}
