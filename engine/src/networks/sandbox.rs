//! A container's network sandbox: the namespace it joins, kept under
//! `<exec-root>/netns/<id>` so the OCI spec can name it at create time.
//!
//! Attaching has two halves. [`Networks::prepare`] makes the namespace (loopback up) before
//! the task is created, so the runtime joins it; [`Networks::connect`] then plugs it into the
//! container's networks, publishes its ports and writes its hosts and resolv.conf, and may
//! run while the task is being created. [`Networks::release`] undoes both.
//!
//! Modes: `none` (a private namespace with only loopback), `host` (the host's namespace),
//! and bridge networks — `bridge`/`default` or a user-defined network's name.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use berth_api::network::{EndpointSettings, NetworkSettings};

use super::Networks;
use crate::containers::model::Record;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    None,
    Host,
    /// A bridge network: the default one (docker's "bridge") or a user-defined one.
    Bridge,
}

impl Mode {
    /// Parses `HostConfig.NetworkMode`.
    pub fn parse(s: &str) -> Result<Mode> {
        match s {
            "none" => Ok(Mode::None),
            "host" => Ok(Mode::Host),
            "" | "default" | "bridge" => Ok(Mode::Bridge),
            m if m.starts_with("container:") => Err(Error::invalid(format!(
                "network mode {m:?} (sharing another container's network) is not supported"
            ))),
            // A user-defined network: the controller checks that it exists.
            _ => Ok(Mode::Bridge),
        }
    }

    /// The key under `NetworkSettings.Networks`.
    pub fn network_name(self) -> &'static str {
        match self {
            Mode::None => "none",
            Mode::Host => "host",
            Mode::Bridge => "bridge",
        }
    }
}

/// Where a container's network namespace file lives.
pub fn netns_file(exec_root: &Path, id: &str) -> PathBuf {
    exec_root.join("netns").join(id)
}

/// Where a container's network namespace is kept (`None` for host networking).
pub fn netns_path(exec_root: &Path, id: &str, mode: Mode) -> Option<PathBuf> {
    match mode {
        Mode::Host => None,
        Mode::None | Mode::Bridge => Some(netns_file(exec_root, id)),
    }
}

impl Networks {
    /// Creates the container's network namespace (loopback up) unless it uses the host's:
    /// the first half of attaching.
    pub async fn prepare(&self, id: &str, mode: Mode) -> Result<NetworkSettings> {
        let mut settings = NetworkSettings::default();
        if let Some(path) = netns_path(&self.exec_root, id, mode) {
            let p = path.clone();
            tokio::task::spawn_blocking(move || berth_network::netns::create_named(&p))
                .await
                .map_err(|e| Error::internal(e.to_string()))?
                .map_err(|e| {
                    Error::internal(format!(
                        "creating the network namespace of container {id}: {e}"
                    ))
                })?;
            settings.sandbox_key = path.display().to_string();
            settings.sandbox_id = id.to_string();
        }
        let mut networks = BTreeMap::new();
        networks.insert(mode.network_name().to_string(), EndpointSettings::default());
        settings.networks = networks;
        Ok(settings)
    }

    /// Connects the prepared namespace to the container's networks, publishes its ports
    /// and writes its hosts and resolv.conf — the second half (the files are rewritten in
    /// place, so their bind mounts see the change). On failure the namespace stays (the
    /// task may be joining it at this moment): the caller releases it with [`Self::release`].
    pub async fn connect(&self, rec: &Record, mode: Mode) -> Result<NetworkSettings> {
        let netns = netns_path(&self.exec_root, &rec.id, mode);
        self.attach(rec, netns.as_deref()).await
    }

    /// Releases what `prepare` and `connect` made. Safe to call more than once.
    pub async fn release(&self, id: &str) {
        self.detach(id).await;
        self.remove_netns_of(id).await;
    }

    /// Releases the namespaces of containers the engine does not know (left by a create
    /// interrupted before its record was written).
    pub async fn remove_orphan_netns(&self, known: &HashSet<String>) {
        let Ok(entries) = std::fs::read_dir(self.exec_root.join("netns")) else {
            return;
        };
        for e in entries.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            if !known.contains(&id) {
                tracing::info!(container = %id, "removing the network namespace of an interrupted create");
                self.release(&id).await;
            }
        }
    }

    async fn remove_netns_of(&self, id: &str) {
        let path = netns_file(&self.exec_root, id);
        let r =
            tokio::task::spawn_blocking(move || berth_network::netns::remove_named(&path)).await;
        if let Ok(Err(e)) = r {
            tracing::warn!(container = %id, "removing the network namespace: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        assert_eq!(Mode::parse("none").unwrap(), Mode::None);
        assert_eq!(Mode::parse("default").unwrap(), Mode::Bridge);
        assert_eq!(Mode::parse("").unwrap(), Mode::Bridge);
        assert_eq!(Mode::parse("host").unwrap(), Mode::Host);
        assert_eq!(Mode::parse("mynet").unwrap(), Mode::Bridge);
        assert!(Mode::parse("container:x").is_err());
        assert!(netns_path(Path::new("/r"), "a", Mode::Host).is_none());
        assert_eq!(
            netns_path(Path::new("/r"), "a", Mode::None).unwrap(),
            PathBuf::from("/r/netns/a")
        );
    }
}
