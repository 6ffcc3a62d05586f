//! `GET /containers/{id}/changes` (`docker diff`): what the container changed in its image,
//! from shimd's `Snapshots.Changes` of its writable snapshot.

use berth_proto::v1;
use serde::Serialize;

use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Paths the engine itself puts in a container (mount points for its /etc files and the
/// kernel filesystems): dockerd keeps them in a layer under the container's, so they are
/// never among its changes.
const ENGINE_PATHS: &[&str] = &[
    "/.dockerenv",
    "/dev",
    "/proc",
    "/sys",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/mtab",
];

/// One line of `docker diff`: Kind 0 modified, 1 added, 2 deleted.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Change {
    pub path: String,
    pub kind: i32,
}

impl Engine {
    /// The container's changes, `None` when there are none (dockerd answers `null`).
    pub async fn container_changes(&self, c: &Container) -> Result<Option<Vec<Change>>> {
        let r = self
            .shimd
            .snapshots()
            .changes(v1::ChangesRequest {
                key: c.id.clone(),
                exclude: ENGINE_PATHS.iter().map(|p| p.to_string()).collect(),
            })
            .await
            .map_err(|s| Error::from(s).context(format!("listing the changes of {}", c.id)))?
            .into_inner();
        let out: Vec<Change> = r
            .changes
            .into_iter()
            .map(|c| Change {
                path: c.path,
                kind: c.kind,
            })
            .collect();
        Ok((!out.is_empty()).then_some(out))
    }
}
