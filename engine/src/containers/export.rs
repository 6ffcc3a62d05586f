//! `GET /containers/{id}/export` (`docker export`): the container's whole filesystem as a
//! tar, streamed. The writable snapshot is mounted read-only on a private directory (for a
//! running container too), so the kernel filesystems and volumes mounted in the container
//! are not part of it, as with dockerd.

use std::os::fd::AsFd;

use axum::body::Bytes;
use berth_proto::v1;
use tokio::sync::mpsc;

use crate::archive;
use crate::containers::store::Container;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::rootfs;

impl Engine {
    /// Starts streaming the tar; chunks arrive on the receiver. A failure half-way ends
    /// the stream early (logged), as the status line has gone out by then.
    pub async fn container_export(&self, c: &Container) -> Result<mpsc::Receiver<Bytes>> {
        let mut mounts = self
            .shimd
            .snapshots()
            .mounts(v1::SnapshotKeyRequest { key: c.id.clone() })
            .await
            .map_err(|s| Error::from(s).context(format!("exporting {}", c.id)))?
            .into_inner()
            .mounts;
        for m in &mut mounts {
            m.options.retain(|o| o != "rw");
            m.options.push("ro".into());
        }
        let mounted = rootfs::mount_all(&mounts, &self.settings.exec_root.join("mnt"))?;
        let root =
            berth_fs::open_root(mounted.path()).map_err(|e| Error::internal(e.to_string()))?;
        let (tx, rx) = mpsc::channel::<Bytes>(8);
        let id = c.id.clone();
        tokio::task::spawn_blocking(move || {
            let _keep = mounted;
            let mut w = archive::ChannelWriter::new(tx);
            if let Err(e) = archive::write_tree(root.as_fd(), &mut w) {
                tracing::warn!("exporting container {id}: {}", e.message);
            }
            let _ = std::io::Write::flush(&mut w);
        });
        self.container_event(c, "export");
        Ok(rx)
    }
}
