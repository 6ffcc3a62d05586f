//! The `/networks` endpoints: list and inspect (`NetworkResource`), create, connect,
//! disconnect, prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::network::EndpointSettings;

/// One IPAM pool of a network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::nullable::or_default"
    )]
    pub subnet: String,
    #[serde(
        rename = "IPRange",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::nullable::or_default"
    )]
    pub ip_range: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::nullable::or_default"
    )]
    pub gateway: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub driver: String,
    pub options: Option<BTreeMap<String, String>>,
    pub config: Option<Vec<IpamConfig>>,
}

/// A container in `NetworkResource.Containers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    pub mac_address: String,
    /// `10.1.0.2/24`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    pub network: String,
}

/// A network as `GET /networks` and `GET /networks/{id}` return it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkResource {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub ingress: bool,
    pub config_from: ConfigReference,
    pub config_only: bool,
    pub containers: BTreeMap<String, NetworkContainer>,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub name: String,
    /// Ignored (names are always unique), accepted for old clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::nullable::or_default"
    )]
    pub driver: String,
    #[serde(
        skip_serializing_if = "String::is_empty",
        deserialize_with = "crate::nullable::or_default"
    )]
    pub scope: String,
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub internal: bool,
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub attachable: bool,
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub ingress: bool,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub config_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
}

/// The answer of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    pub id: String,
    pub warning: String,
}

/// The body of `POST /networks/{id}/connect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    pub container: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// The body of `POST /networks/{id}/disconnect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    pub container: String,
    pub force: bool,
}

/// The answer of `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworksPruneResponse {
    pub networks_deleted: Vec<String>,
}

/// `EndpointSettings.IPAMConfig` as a typed value (the shared settings type keeps it as
/// raw JSON).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

impl EndpointIpamConfig {
    /// Reads `EndpointSettings.IPAMConfig` (null or absent is the default).
    pub fn from_settings(s: &EndpointSettings) -> Result<Self, String> {
        match &s.ipam_config {
            None | Some(serde_json::Value::Null) => Ok(Self::default()),
            Some(v) => {
                serde_json::from_value(v.clone()).map_err(|e| format!("invalid IPAMConfig: {e}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_request_from_the_docker_cli() {
        let body = r#"{"Name":"front","CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,
            "IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.1.0.0/24","IPRange":"10.1.0.128/25","Gateway":"10.1.0.1"}]},
            "Internal":true,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,
            "Options":{"com.docker.network.driver.mtu":"1400"},"Labels":{"a":"b"}}"#;
        let r: NetworkCreateRequest = serde_json::from_str(body).unwrap();
        assert_eq!(r.name, "front");
        assert!(r.internal);
        let c = &r.ipam.unwrap().config.unwrap()[0];
        assert_eq!(
            (c.subnet.as_str(), c.ip_range.as_str(), c.gateway.as_str()),
            ("10.1.0.0/24", "10.1.0.128/25", "10.1.0.1")
        );
    }

    #[test]
    fn resource_field_names() {
        let v = serde_json::to_value(NetworkResource::default()).unwrap();
        for k in [
            "Name",
            "Id",
            "Created",
            "Scope",
            "Driver",
            "EnableIPv6",
            "IPAM",
            "Internal",
            "Attachable",
            "Containers",
            "Options",
            "Labels",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
        let c = serde_json::to_value(NetworkContainer::default()).unwrap();
        for k in [
            "Name",
            "EndpointID",
            "MacAddress",
            "IPv4Address",
            "IPv6Address",
        ] {
            assert!(c.get(k).is_some(), "{k}");
        }
    }

    #[test]
    fn endpoint_ipam_config() {
        let s: EndpointSettings =
            serde_json::from_str(r#"{"IPAMConfig":{"IPv4Address":"10.1.0.9"},"Aliases":["db"]}"#)
                .unwrap();
        assert_eq!(
            EndpointIpamConfig::from_settings(&s).unwrap().ipv4_address,
            "10.1.0.9"
        );
        assert_eq!(
            EndpointIpamConfig::from_settings(&EndpointSettings::default()).unwrap(),
            EndpointIpamConfig::default()
        );
    }
}
