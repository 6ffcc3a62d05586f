//! The `/volumes` endpoints: a volume as list and inspect show it, create, list and prune.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The label dockerd (23 and later) puts on volumes made without a name.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// A volume, as `GET /volumes/{name}` returns it. `Labels` and `Options` are `null` when the
/// volume was made without them and `{}` when they were given empty, as with dockerd.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Volume {
    pub created_at: String,
    pub driver: String,
    pub labels: Option<BTreeMap<String, String>>,
    pub mountpoint: String,
    pub name: String,
    pub options: Option<BTreeMap<String, String>>,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<UsageData>,
}

/// Disk usage of a volume (`/system/df` only): `Size` is -1 when it cannot be measured.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct UsageData {
    pub size: i64,
    pub ref_count: i64,
}

/// `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct CreateOptions {
    /// docker-py sends `null` for a volume without a name or driver.
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub name: String,
    #[serde(deserialize_with = "crate::nullable::or_default")]
    pub driver: String,
    pub driver_opts: Option<BTreeMap<String, String>>,
    pub labels: Option<BTreeMap<String, String>>,
}

/// `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ListResponse {
    pub volumes: Vec<Volume>,
    pub warnings: Option<Vec<String>>,
}

/// `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PruneReport {
    pub volumes_deleted: Vec<String>,
    pub space_reclaimed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_json_is_dockerds() {
        let v = Volume {
            created_at: "2026-01-01T00:00:00Z".into(),
            driver: "local".into(),
            name: "data".into(),
            mountpoint: "/var/lib/berth/engine/volumes/data/_data".into(),
            scope: "local".into(),
            options: Some(BTreeMap::new()),
            ..Default::default()
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(j["Labels"], serde_json::Value::Null);
        assert_eq!(j["Options"], serde_json::json!({}));
        assert!(j.get("UsageData").is_none() && j.get("Status").is_none());
        let c: CreateOptions =
            serde_json::from_str(r#"{"Name":"x","DriverOpts":{"type":"tmpfs"},"Extra":1}"#)
                .unwrap();
        assert_eq!(c.driver_opts.unwrap()["type"], "tmpfs");
        assert_eq!(c.labels, None);
        let c: CreateOptions =
            serde_json::from_str(r#"{"Name":null,"Driver":null,"DriverOpts":null}"#).unwrap();
        assert_eq!((c.name.as_str(), c.driver.as_str()), ("", ""));
        let m: crate::mount::Mount = serde_json::from_str(
            r#"{"Target":"/t","Source":null,"Type":"tmpfs","ReadOnly":false}"#,
        )
        .unwrap();
        assert_eq!((m.source.as_str(), m.kind.as_str()), ("", "tmpfs"));
    }
}
