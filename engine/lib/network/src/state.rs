//! The controller's persisted state: networks (with their address pools), endpoints and
//! containers, as JSON written atomically (temporary file, rename), so a crash leaves either
//! the old or the new state, never half of one. It is kept in two files, by what a loss
//! would cost:
//!
//! - `networks.json` is written when the networks themselves change (created, removed, the
//!   predefined ones made) and is made durable (fsync of the file and of the directory): a
//!   network the user created must survive a power loss.
//! - `networks.live.json` takes every other change (endpoints, addresses handed out,
//!   published ports) without an fsync. Those records describe kernel objects (veths,
//!   addresses, rules) that a power loss removes anyway; an engine crash cannot lose them
//!   (the page cache outlives the process and the rename is atomic). This keeps the disk
//!   flushes off the path of every container start and stop.
//!
//! Each write carries a generation number; loading takes the newer readable file. After a
//! power loss the live file may be older, torn or missing: the durable file is used, and the
//! reconcile at start-up removes the endpoints it still lists.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{EndpointRecord, Network, SandboxRecord};

pub const STATE_FILE: &str = "networks.json";
pub const LIVE_STATE_FILE: &str = "networks.live.json";

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

/// A state file: the state and the generation it was written at.
#[derive(Serialize)]
struct FileOut<'a> {
    generation: u64,
    #[serde(flatten)]
    state: &'a State,
}

#[derive(Deserialize)]
struct FileIn {
    /// Files of earlier versions have none: generation 0.
    #[serde(default)]
    generation: u64,
    #[serde(flatten)]
    state: State,
}

/// Where the state lives, and what the last durable write held.
pub struct StateStore {
    dir: PathBuf,
    written: Mutex<Written>,
}

struct Written {
    generation: u64,
    /// The network definitions in `networks.json`; a save that changes them is durable.
    definitions: Vec<u8>,
}

/// The networks without what changes with every connect (addresses in use, the last one
/// handed out): what must be durable.
fn definitions(st: &State) -> Vec<u8> {
    let mut nets = st.networks.clone();
    for n in nets.values_mut() {
        if let Some(p) = n.pool.as_mut() {
            p.allocated.clear();
            p.last = None;
        }
    }
    serde_json::to_vec(&nets).unwrap_or_default()
}

fn read_file(path: &Path) -> Result<Option<FileIn>> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::State {
                path: path.to_path_buf(),
                cause: format!("unreadable ({e}); move it away to start over"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::State {
            path: path.to_path_buf(),
            cause: e.to_string(),
        }),
    }
}

impl StateStore {
    /// Loads the state of `dir` (no file yet is an empty state).
    pub fn open(dir: &Path) -> Result<(StateStore, State)> {
        let durable = read_file(&dir.join(STATE_FILE))?;
        let live = match read_file(&dir.join(LIVE_STATE_FILE)) {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!("{e}: using {STATE_FILE}");
                None
            }
        };
        let durable_gen = durable.as_ref().map_or(0, |d| d.generation);
        let written = Written {
            generation: durable_gen.max(live.as_ref().map_or(0, |l| l.generation)),
            definitions: durable
                .as_ref()
                .map(|d| definitions(&d.state))
                .unwrap_or_default(),
        };
        let state = match (durable, live) {
            (_, Some(l)) if l.generation > durable_gen => l.state,
            (Some(d), _) => d.state,
            (None, _) => State::default(),
        };
        let store = StateStore {
            dir: dir.to_path_buf(),
            written: Mutex::new(written),
        };
        Ok((store, state))
    }

    /// Writes `st`: durably when its networks changed since the last durable write, else
    /// to the live file.
    pub fn save(&self, st: &State) -> Result<()> {
        let mut w = self.written.lock().unwrap_or_else(|p| p.into_inner());
        let defs = definitions(st);
        let durable = defs != w.definitions;
        let generation = w.generation + 1;
        let name = if durable { STATE_FILE } else { LIVE_STATE_FILE };
        write_file(&self.dir, name, generation, st, durable)?;
        w.generation = generation;
        if durable {
            w.definitions = defs;
        }
        Ok(())
    }
}

/// Writes the state to `dir/name` atomically; with `durable`, flushed to disk (the file and
/// the directory entry) before returning.
fn write_file(dir: &Path, name: &str, generation: u64, st: &State, durable: bool) -> Result<()> {
    let path = dir.join(name);
    let err = |cause: String| Error::State {
        path: path.clone(),
        cause,
    };
    let data = serde_json::to_vec_pretty(&FileOut {
        generation,
        state: st,
    })
    .map_err(|e| err(e.to_string()))?;
    let tmp: PathBuf = dir.join(format!(".{name}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode_0600()
            .open(&tmp)?;
        f.write_all(&data)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        if durable {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    };
    write().map_err(|e| err(format!("cannot write: {e}")))
}

impl State {
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

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    fn endpoint(id: &str) -> EndpointRecord {
        EndpointRecord {
            id: id.into(),
            network_id: "abc123".into(),
            container_id: "c1".into(),
            ip: Some("10.1.0.2".parse().unwrap()),
            requested_ip: None,
            mac: None,
            host_veth: Some("veth1234567".into()),
            interface: Some("eth0".into()),
            aliases: vec![],
        }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let (store, st) = StateStore::open(dir.path()).unwrap();
        assert_eq!(st, State::default());
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        store.save(&s).unwrap();
        assert_eq!(StateStore::open(dir.path()).unwrap().1, s);
        assert_eq!(files(dir.path()), vec![STATE_FILE.to_string()]);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(STATE_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        std::fs::write(dir.path().join(STATE_FILE), b"{broken").unwrap();
        let e = StateStore::open(dir.path()).err().unwrap().to_string();
        assert!(e.contains("unreadable"), "{e}");
    }

    #[test]
    fn endpoints_go_to_the_live_file_and_networks_to_the_durable_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        store.save(&s).unwrap();
        let durable = std::fs::read(dir.path().join(STATE_FILE)).unwrap();
        s.endpoints.push(endpoint("e1"));
        store.save(&s).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join(STATE_FILE)).unwrap(),
            durable,
            "an endpoint leaves the durable file alone"
        );
        assert_eq!(
            files(dir.path()),
            vec![STATE_FILE.to_string(), LIVE_STATE_FILE.to_string()]
        );
        assert_eq!(
            StateStore::open(dir.path()).unwrap().1,
            s,
            "the newer file wins"
        );

        // A network created later is durable again, and newer than the live file.
        s.networks.insert("abd456".into(), net("abd456", "back"));
        store.save(&s).unwrap();
        let (store2, loaded) = StateStore::open(dir.path()).unwrap();
        assert_eq!(loaded, s);
        // Generations go on from the newest file after a restart.
        s.endpoints.clear();
        store2.save(&s).unwrap();
        assert_eq!(StateStore::open(dir.path()).unwrap().1, s);
    }

    #[test]
    fn a_torn_live_file_falls_back_to_the_durable_one() {
        let dir = tempfile::tempdir().unwrap();
        let (store, _) = StateStore::open(dir.path()).unwrap();
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        store.save(&s).unwrap();
        let durable = s.clone();
        s.endpoints.push(endpoint("e1"));
        store.save(&s).unwrap();
        // What a power loss may leave of a write that was never flushed.
        std::fs::write(dir.path().join(LIVE_STATE_FILE), b"").unwrap();
        assert_eq!(StateStore::open(dir.path()).unwrap().1, durable);
        std::fs::write(dir.path().join(LIVE_STATE_FILE), b"{\"generation\": 1").unwrap();
        assert_eq!(StateStore::open(dir.path()).unwrap().1, durable);
    }

    #[test]
    fn a_file_of_an_earlier_version_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State::default();
        s.networks.insert("abc123".into(), net("abc123", "front"));
        std::fs::write(dir.path().join(STATE_FILE), serde_json::to_vec(&s).unwrap()).unwrap();
        assert_eq!(StateStore::open(dir.path()).unwrap().1, s);
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
