//! Pushing an image: every blob the registry lacks (checked first), small ones in one
//! request (monolithic upload), layers streamed in chunks; then the manifests, children
//! before the index that names them.

use std::sync::Arc;

use berth_image::manifest::{self, Descriptor};
use berth_image::media;
use berth_image::reference::Reference;
use berth_image::registry::Remote;
use berth_proto::v1::{push_progress, BlobProgress, PushProgress, PushRequest};
use tokio::sync::mpsc;
use tonic::Status;

use crate::image_error::status;
use crate::image_records;
use crate::pull::{credentials, host_options};
use crate::server::Core;

/// Blobs up to this size go in one request.
const MONOLITHIC_MAX: i64 = 4 << 20;

type Progress = mpsc::Sender<Result<PushProgress, Status>>;

async fn state(tx: &Progress, d: &Descriptor, s: &str) {
    let _ = tx
        .send(Ok(PushProgress {
            kind: Some(push_progress::Kind::Blob(BlobProgress {
                digest: d.digest.clone(),
                media_type: d.media_type.clone(),
                state: s.into(),
                current: if s == "done" || s == "exists" {
                    d.size
                } else {
                    0
                },
                total: d.size,
            })),
        }))
        .await;
}

pub async fn push(
    core: Arc<Core>,
    ns: String,
    req: PushRequest,
    tx: Progress,
) -> Result<Descriptor, Status> {
    let img = image_records::find(&core, &ns, &req.name)?;
    let target = image_records::from_proto(
        img.target
            .as_ref()
            .ok_or_else(|| Status::internal("image without target"))?,
    );
    let dest = if req.reference.is_empty() {
        img.name.clone()
    } else {
        req.reference.clone()
    };
    let reference = Reference::parse(&dest).map_err(status)?;
    // Push the whole index when every platform is here, else the chosen platform's manifest.
    let all = manifest::walk(&core.content, &target);
    let complete = all
        .iter()
        .all(|d| d.digest().map(|x| core.content.exists(&x)).unwrap_or(false));
    let top = if complete && req.platform.is_none() {
        target.clone()
    } else {
        let platform = image_records::platform_of(req.platform.as_ref());
        manifest::resolve(&core.content, &target, &platform)
            .map_err(status)?
            .manifest_desc
    };
    let blobs = manifest::walk(&core.content, &top);
    let mut remote = Remote::new(
        &reference,
        &credentials(req.registry.as_ref()),
        host_options(&core, &reference, req.registry.as_ref()),
    )
    .await
    .map_err(status)?;
    remote.select_reachable().await.map_err(status)?;
    remote.authorize_push().await.map_err(status)?;
    let _ = tx
        .send(Ok(PushProgress {
            kind: Some(push_progress::Kind::Status(format!(
                "pushing {reference} to {}",
                remote.endpoint()
            ))),
        }))
        .await;
    let is_manifest =
        |d: &Descriptor| media::is_manifest(&d.media_type) || media::is_index(&d.media_type);
    for d in blobs.iter().filter(|d| !is_manifest(d)) {
        let digest = d.digest().map_err(status)?;
        if remote.blob_exists(&digest).await.map_err(status)? {
            state(&tx, d, "exists").await;
            continue;
        }
        state(&tx, d, "pushing").await;
        if d.size <= MONOLITHIC_MAX {
            let data = core.content.read_all(&digest).map_err(status)?;
            remote.push_small(&digest, data).await.map_err(status)?;
        } else {
            let f = tokio::fs::File::open(core.content.blob_path(&digest))
                .await
                .map_err(|e| Status::internal(format!("opening blob {digest}: {e}")))?;
            let s = tokio_util::io::ReaderStream::with_capacity(f, 1 << 20);
            remote
                .push_stream(&digest, d.size as u64, s)
                .await
                .map_err(status)?;
        }
        state(&tx, d, "done").await;
    }
    // Child manifests by digest, then the top one under the tag.
    for d in blobs
        .iter()
        .rev()
        .filter(|d| is_manifest(d) && d.digest != top.digest)
    {
        let digest = d.digest().map_err(status)?;
        let body = core.content.read_all(&digest).map_err(status)?;
        remote
            .push_manifest_at(Some(&digest), &d.media_type, body)
            .await
            .map_err(status)?;
        state(&tx, d, "done").await;
    }
    let body = core
        .content
        .read_all(&top.digest().map_err(status)?)
        .map_err(status)?;
    remote
        .push_manifest_at(None, &top.media_type, body)
        .await
        .map_err(status)?;
    state(&tx, &top, "done").await;
    Ok(top)
}
