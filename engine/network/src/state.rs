//! The controller's persisted state: networks (with their address pools), endpoints and
//! containers, in one JSON file written atomically (temporary file, fsync, rename, fsync of
//! the directory), so a crash leaves either the old or the new state, never half of one.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{EndpointRecord, Network, SandboxRecord};

pub const STATE_FILE: &str = "networks.json";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Networks by id.
    #[serde(default)]
    pub networks: BTreeMap<String, Network>,
    #[serde(default)]
    pub endpoints: Vec<EndpointRecord>,
    /// Containers by id.
    #[serde(default)]
    pub sandboxes: BTreeMap<String, SandboxRecord>,
}

impl State {
    /// Loads the state of `dir`; no file yet is an empty state.
    pub fn load(dir: &Path) -> Result<State> {
        let path = dir.join(STATE_FILE);
        match std::fs::read(&path) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::State {
                path,
                cause: format!("unreadable ({e}); move it away to start over"),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(Error::State {
                path,
                cause: e.to_string(),
            }),
        }
    }

    /// Writes the state to `dir` atomically.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(STATE_FILE);
        let err = |cause: String| Error::State {
            path: path.clone(),
            cause,
        };
        let data = serde_json::to_vec_pretty(self).map_err(|e| err(e.to_string()))?;
        let tmp: PathBuf = dir.join(format!(".{STATE_FILE}.tmp"));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode_0600()
                .open(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| err(format!("cannot write: {e}")))
    }

    /// The network with this exact id, exact name, or unique id prefix.
    pub fn find_network(&self, key: &str) -> Result<&Network> {
        if let Some(n) = self.networks.get(key) {
            return Ok(n);
        }
        if let Some(n) = self.networks.values().find(|n| n.name == key) {
            return Ok(n);
        }
        let matches: Vec<&Network> = if key.is_empty() {
            Vec::new()
        } else {
            self.networks
                .values()
                .filter(|n| n.id.starts_with(key))
                .collect()
        };
        match matches.len() {
            0 => Err(Error::NetworkNotFound(key.to_string())),
            1 => Ok(matches[0]),
            n => Err(Error::AmbiguousNetwork(key.to_string(), n)),
        }
    }

    pub fn endpoints_of_network<'a>(
        &'a self,
        network_id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| e.network_id == network_id)
    }

    pub fn endpoints_of_container<'a>(
        &'a self,
        container_id: &'a str,
    ) -> impl Iterator<Item = &'a EndpointRecord> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| e.container_id == container_id)
    }
}

/// `OpenOptions::mode(0o600)` under a name that reads well in a chain.
trait Mode0600 {
    fn mode_0600(&mut self) -> &mut Self;
}

impl Mode0600 for std::fs::OpenOptions {
    fn mode_0600(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Driver;

    fn net(id: &str, name: &str) -> Network {
        Network {
            id: id.to_string(),
            name: name.to_string(),
            driver: Driver::Bridge,
            created: String::new(),
            internal: false,
            attachable: false,
            labels: Default::default(),
            options: Default::default(),
            pool: None,
            bridge: None,
            predefined: false,
        }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), State::default());
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap(), s);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(STATE_FILE)]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(STATE_FILE), b"{broken").unwrap();
        let e = State::load(dir.path()).unwrap_err().to_string();
        assert!(e.contains("unreadable"), "{e}");
    }

    #[test]
    fn finds_by_id_name_and_prefix() {
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        s.networks.insert("abd456".into(), net("abd456", "back"));
        assert_eq!(s.find_network("front").unwrap().id, "abc123");
        assert_eq!(s.find_network("abd").unwrap().name, "back");
        assert!(matches!(
            s.find_network("ab"),
            Err(Error::AmbiguousNetwork(_, 2))
        ));
        assert!(matches!(
            s.find_network("zz"),
            Err(Error::NetworkNotFound(_))
        ));
        assert!(matches!(s.find_network(""), Err(Error::NetworkNotFound(_))));
    }
}
