//! The image config JSON (OCI or docker): the defaults a container inherits, history and
//! the legacy fields docker-compose 1.x reads.

use berth_api::container::Config;
use serde::Deserialize;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct History {
    pub created: Option<String>,
    pub created_by: String,
    pub author: String,
    pub comment: String,
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ImageConfigFile {
    pub architecture: String,
    pub os: String,
    pub variant: String,
    #[serde(rename = "os.version")]
    pub os_version: String,
    pub created: Option<String>,
    pub author: String,
    pub comment: String,
    pub docker_version: String,
    pub container: String,
    pub config: Option<Config>,
    pub container_config: Option<Config>,
    pub history: Vec<History>,
    pub rootfs: RootFs,
}

impl ImageConfigFile {
    pub fn parse(bytes: &[u8]) -> Result<ImageConfigFile> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::internal(format!("image config cannot be read: {e}")))
    }

    /// The container defaults (empty when the image sets none).
    pub fn container_defaults(&self) -> Config {
        self.config.clone().unwrap_or_default()
    }

    /// Creation time in unix seconds (0 when unknown).
    pub fn created_unix(&self) -> i64 {
        self.created_time().map(|t| t.timestamp()).unwrap_or(0)
    }

    pub fn created_time(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.created
            .as_deref()
            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_oci_and_docker_configs() {
        let oci = br#"{"architecture":"amd64","os":"linux","created":"2024-01-02T03:04:05Z",
            "config":{"Env":["PATH=/bin"],"Cmd":["sh"],"ExposedPorts":{"80/tcp":{}}},
            "rootfs":{"type":"layers","diff_ids":["sha256:aa"]},
            "history":[{"created_by":"ADD x","empty_layer":false}]}"#;
        let c = ImageConfigFile::parse(oci).unwrap();
        assert_eq!(c.container_defaults().cmd.unwrap().0, vec!["sh"]);
        assert_eq!(c.created_unix(), 1704164645);
        assert_eq!(c.rootfs.diff_ids, vec!["sha256:aa"]);
        let docker = br#"{"os":"linux","container_config":{"Volumes":{"/data":{}}},"docker_version":"20.10"}"#;
        let d = ImageConfigFile::parse(docker).unwrap();
        assert!(d
            .container_config
            .unwrap()
            .volumes
            .unwrap()
            .contains_key("/data"));
        assert!(ImageConfigFile::parse(b"{").is_err());
    }
}
