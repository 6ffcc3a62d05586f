//! Pushing an image: every blob the registry lacks (checked first), up to five at a time
//! (dockerd's default). A blob known to be in another repository of the registry is
//! mounted from there; small ones go in one request (monolithic upload), larger ones are
//! streamed with their bytes reported. Then the manifests, children before the index that
//! names them.

use std::sync::Arc;

use berth_image::manifest::{self, Descriptor};
use berth_image::media;
use berth_image::reference::Reference;
use berth_image::registry::Remote;
use berth_proto::v1::{push_progress, BlobProgress, PushProgress, PushRequest};
use futures::StreamExt;
use tokio::sync::{mpsc, Semaphore};
use tonic::Status;

use crate::blob_sources;
use crate::image_error::status;
use crate::image_records;
use crate::pull::{credentials, host_options};
use crate::server::Core;

/// Blobs up to this size go in one request.
const MONOLITHIC_MAX: i64 = 4 << 20;

/// How many blobs upload at once (dockerd's default `max-concurrent-uploads`).
const PARALLEL_UPLOADS: usize = 5;

/// Bytes between two progress reports of a streamed upload.
const CHUNK: usize = 512 << 10;

type Progress = mpsc::Sender<Result<PushProgress, Status>>;

fn blob_progress(d: &Descriptor, s: &str, current: i64, from: &str) -> PushProgress {
    PushProgress {
        kind: Some(push_progress::Kind::Blob(BlobProgress {
            digest: d.digest.clone(),
            media_type: d.media_type.clone(),
            state: s.into(),
            current,
            total: d.size,
            from: from.into(),
        })),
    }
}

async fn state(tx: &Progress, d: &Descriptor, s: &str) {
    let current = if matches!(s, "done" | "exists" | "mounted") {
        d.size
    } else {
        0
    };
    let _ = tx.send(Ok(blob_progress(d, s, current, ""))).await;
}

/// Puts one blob in the target repository: nothing when the registry has it there, a
/// mount when it is in another repository of the registry, else an upload (one request
/// for a small blob, a stream reporting its bytes for a larger one).
async fn push_blob(
    core: &Core,
    ns: &str,
    remote: &Remote,
    tx: &Progress,
    d: &Descriptor,
    (registry, repository): &(String, String),
) -> Result<(), Status> {
    let digest = d.digest().map_err(status)?;
    if remote.blob_exists(&digest).await.map_err(status)? {
        state(tx, d, "exists").await;
        return Ok(());
    }
    for from in blob_sources::sources(core, ns, registry, &digest) {
        if from != *repository && remote.mount_blob(&digest, &from).await {
            let _ = tx
                .send(Ok(blob_progress(d, "mounted", d.size, &from)))
                .await;
            return Ok(());
        }
    }
    state(tx, d, "pushing").await;
    if d.size <= MONOLITHIC_MAX {
        let data = core.content.read_all(&digest).map_err(status)?;
        remote.push_small(&digest, data).await.map_err(status)?;
    } else {
        let f = tokio::fs::File::open(core.content.blob_path(&digest))
            .await
            .map_err(|e| Status::internal(format!("opening blob {digest}: {e}")))?;
        let mut sent = 0i64;
        let progress = tx.clone();
        let desc = d.clone();
        let s = tokio_util::io::ReaderStream::with_capacity(f, CHUNK).inspect(move |c| {
            if let Ok(c) = c {
                sent += c.len() as i64;
                // A full channel only drops an intermediate report.
                let _ = progress.try_send(Ok(blob_progress(&desc, "pushing", sent, "")));
            }
        });
        remote
            .push_stream(&digest, d.size as u64, s)
            .await
            .map_err(status)?;
    }
    let _ = tx.send(Ok(blob_progress(d, "pushing", d.size, ""))).await;
    state(tx, d, "done").await;
    Ok(())
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
    let uploads: Vec<&Descriptor> = blobs.iter().filter(|d| !is_manifest(d)).collect();
    for d in &uploads {
        state(&tx, d, "preparing").await;
    }
    let remote = Arc::new(remote);
    let slots = Arc::new(Semaphore::new(PARALLEL_UPLOADS));
    let dest_repo = (reference.registry.clone(), reference.repository.clone());
    futures::future::try_join_all(uploads.iter().map(|d| {
        let (core, ns, remote, tx, slots, dest_repo) = (
            &core,
            &ns,
            remote.clone(),
            tx.clone(),
            slots.clone(),
            &dest_repo,
        );
        async move {
            let _slot = match slots.clone().try_acquire_owned() {
                Ok(s) => s,
                Err(_) => {
                    state(&tx, d, "waiting").await;
                    slots
                        .acquire_owned()
                        .await
                        .map_err(|_| Status::internal("push cancelled"))?
                }
            };
            push_blob(core, ns, &remote, &tx, d, dest_repo).await
        }
    }))
    .await?;
    let pushed: Vec<_> = uploads.iter().filter_map(|d| d.digest().ok()).collect();
    blob_sources::record(
        &core,
        &ns,
        &reference.registry,
        &reference.repository,
        &pushed,
    )?;
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
