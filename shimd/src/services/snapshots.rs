//! berth.v1.Snapshots: prepare, view, mounts, commit, remove, stat, list, usage, diff,
//! changes, apply.

use std::path::PathBuf;
use std::sync::Arc;

use berth_image::changes::ChangesSource;
use berth_image::diff::{write_layer, DiffSource};
use berth_image::media;
use berth_proto::v1::snapshots_server::{Snapshots, SnapshotsServer};
use berth_proto::v1::{
    ApplyRequest, Change, ChangeKind, ChangesRequest, ChangesResponse, CommitSnapshotRequest,
    Descriptor, DiffRequest, ListSnapshotsRequest, ListSnapshotsResponse, MountsResponse,
    PrepareSnapshotRequest, SnapshotInfo, SnapshotKeyRequest, SnapshotKind, SnapshotUsage,
};
use tonic::{Request, Response, Status};

use crate::filters::Filters;
use crate::image_error::status;
use crate::image_records::from_proto;
use crate::namespace;
use crate::server::Core;
use crate::snapshotter::{kind_of, Driver};

pub struct SnapshotsService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> SnapshotsServer<SnapshotsService> {
    SnapshotsServer::new(SnapshotsService { core })
}

fn kind_name(k: i32) -> &'static str {
    match SnapshotKind::try_from(k).unwrap_or(SnapshotKind::Unknown) {
        SnapshotKind::View => "view",
        SnapshotKind::Active => "active",
        SnapshotKind::Committed => "committed",
        SnapshotKind::Unknown => "unknown",
    }
}

#[tonic::async_trait]
impl Snapshots for SnapshotsService {
    async fn prepare(
        &self,
        req: Request<PrepareSnapshotRequest>,
    ) -> Result<Response<MountsResponse>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let mounts = self
            .core
            .snapshots
            .prepare(&ns, &r.key, &r.parent, r.labels, false)?;
        Ok(Response::new(MountsResponse { mounts }))
    }

    async fn view(
        &self,
        req: Request<PrepareSnapshotRequest>,
    ) -> Result<Response<MountsResponse>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let mounts = self
            .core
            .snapshots
            .prepare(&ns, &r.key, &r.parent, r.labels, true)?;
        Ok(Response::new(MountsResponse { mounts }))
    }

    async fn mounts(
        &self,
        req: Request<SnapshotKeyRequest>,
    ) -> Result<Response<MountsResponse>, Status> {
        let ns = namespace::of(&req)?;
        let mounts = self.core.snapshots.mounts(&ns, &req.get_ref().key)?;
        Ok(Response::new(MountsResponse { mounts }))
    }

    async fn commit(&self, req: Request<CommitSnapshotRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        self.core
            .snapshots
            .commit(&ns, &r.name, &r.key, r.labels, None)?;
        Ok(Response::new(()))
    }

    async fn remove(&self, req: Request<SnapshotKeyRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        self.core.snapshots.remove(&ns, &req.get_ref().key)?;
        Ok(Response::new(()))
    }

    async fn stat(
        &self,
        req: Request<SnapshotKeyRequest>,
    ) -> Result<Response<SnapshotInfo>, Status> {
        let ns = namespace::of(&req)?;
        let rec = self.core.snapshots.get(&ns, &req.get_ref().key)?;
        Ok(Response::new(rec.info.unwrap_or_default()))
    }

    async fn list(
        &self,
        req: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let infos = self
            .core
            .snapshots
            .list(&ns)?
            .into_iter()
            .filter_map(|r| r.info)
            .filter(|i| {
                filters.matches(|f| match f {
                    "name" => Some(i.name.clone()),
                    "parent" => Some(i.parent.clone()),
                    "kind" => Some(kind_name(i.kind).to_string()),
                    _ => f
                        .strip_prefix("labels.")
                        .and_then(|k| i.labels.get(k).cloned()),
                })
            })
            .collect();
        Ok(Response::new(ListSnapshotsResponse { infos }))
    }

    async fn usage(
        &self,
        req: Request<SnapshotKeyRequest>,
    ) -> Result<Response<SnapshotUsage>, Status> {
        let ns = namespace::of(&req)?;
        let key = req.get_ref().key.clone();
        let core = self.core.clone();
        let (size, inodes) = tokio::task::spawn_blocking(move || core.snapshots.usage(&ns, &key))
            .await
            .map_err(|e| Status::internal(format!("usage task: {e}")))??;
        Ok(Response::new(SnapshotUsage {
            size: size as i64,
            inodes: inodes as i64,
        }))
    }

    async fn diff(&self, req: Request<DiffRequest>) -> Result<Response<Descriptor>, Status> {
        let ns = namespace::of(&req)?;
        let client_lease = crate::leases::of_request(&self.core.db, &ns, &req)?;
        let r = req.into_inner();
        let mt = if r.media_type.is_empty() {
            media::OCI_LAYER_GZIP.to_string()
        } else {
            r.media_type.clone()
        };
        let gzip = match mt.as_str() {
            media::OCI_LAYER_GZIP | media::DOCKER_LAYER_GZIP => true,
            media::OCI_LAYER | media::DOCKER_LAYER => false,
            other => {
                return Err(Status::invalid_argument(format!(
                    "unsupported layer media type {other:?}: use {} or {}",
                    media::OCI_LAYER_GZIP,
                    media::OCI_LAYER
                )))
            }
        };
        let core = self.core.clone();
        let rec = core.snapshots.get(&ns, &r.key)?;
        if kind_of(&rec) == SnapshotKind::View {
            return Err(Status::failed_precondition(format!(
                "snapshot {:?} is a view: nothing to diff",
                r.key
            )));
        }
        let parent_dir = match rec
            .info
            .as_ref()
            .map(|i| i.parent.clone())
            .unwrap_or_default()
        {
            p if p.is_empty() => None,
            p => Some(core.snapshots.fs_dir(core.snapshots.get(&ns, &p)?.id)),
        };
        let upper = core.snapshots.fs_dir(rec.id);
        let driver = core.snapshots.driver();
        let lease = crate::leases::OpLease::new(&core.db, &ns, "diff")?;
        let store = core.content.clone();
        let (digest, size, diff_id) =
            tokio::task::spawn_blocking(move || -> Result<_, berth_image::Error> {
                let tmp = crate::leases::random_id("diff-");
                let mut w = store.writer(&tmp, None, None)?;
                let src = match driver {
                    Driver::Overlay => DiffSource::OverlayUpper(&upper),
                    Driver::Native => DiffSource::Compare {
                        lower: parent_dir.as_deref(),
                        upper: &upper,
                    },
                };
                let written = write_layer(src, &mut w, gzip)?;
                let size = w.offset();
                let d = w.commit()?;
                Ok((d, size, written.diff_id))
            })
            .await
            .map_err(|e| Status::internal(format!("diff task: {e}")))?
            .map_err(status)?;
        lease.add(crate::leases::CONTENT, &digest.to_string())?;
        if let Some(l) = &client_lease {
            crate::leases::add_resource(
                &core.db,
                &ns,
                l,
                crate::leases::CONTENT,
                &digest.to_string(),
            )?;
        }
        crate::image_records::add_content_refs(&core, &ns, std::slice::from_ref(&digest))?;
        let mut labels = r.labels;
        labels.insert("berth.io/uncompressed".into(), diff_id.to_string());
        if !labels.is_empty() {
            core.db.write(|tx| {
                let mut info: berth_proto::v1::ContentInfo = tx
                    .get(crate::metadata::CONTENT, &ns, &digest.to_string())?
                    .unwrap_or_default();
                info.labels.extend(labels.clone());
                tx.put(crate::metadata::CONTENT, &ns, &digest.to_string(), &info)
            })?;
        }
        Ok(Response::new(Descriptor {
            media_type: mt,
            digest: digest.to_string(),
            size: size as i64,
            annotations: Default::default(),
            platform: None,
        }))
    }

    async fn changes(
        &self,
        req: Request<ChangesRequest>,
    ) -> Result<Response<ChangesResponse>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let core = self.core.clone();
        let rec = core.snapshots.get(&ns, &r.key)?;
        if kind_of(&rec) != SnapshotKind::Active {
            return Err(Status::failed_precondition(format!(
                "snapshot {:?} is not active: only a writable snapshot has changes",
                r.key
            )));
        }
        let (own, lowers) = core.snapshots.layer_dirs(&ns, &r.key)?;
        let driver = core.snapshots.driver();
        let found = tokio::task::spawn_blocking(move || {
            let src = match driver {
                Driver::Overlay => ChangesSource::Overlay {
                    upper: &own,
                    lowers: &lowers,
                },
                Driver::Native => ChangesSource::Compare {
                    lower: lowers.first().map(PathBuf::as_path),
                    upper: &own,
                },
            };
            berth_image::changes::changes(src, &r.exclude)
        })
        .await
        .map_err(|e| Status::internal(format!("changes task: {e}")))?
        .map_err(status)?;
        let changes = found
            .into_iter()
            .map(|c| Change {
                path: c.path,
                kind: match c.kind {
                    berth_image::changes::ChangeKind::Modified => ChangeKind::Modified,
                    berth_image::changes::ChangeKind::Added => ChangeKind::Added,
                    berth_image::changes::ChangeKind::Deleted => ChangeKind::Deleted,
                } as i32,
            })
            .collect();
        Ok(Response::new(ChangesResponse { changes }))
    }

    async fn apply(&self, req: Request<ApplyRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let core = self.core.clone();
        let rec = core.snapshots.get(&ns, &r.key)?;
        if kind_of(&rec) != SnapshotKind::Active {
            return Err(Status::failed_precondition(format!(
                "snapshot {:?} is not active",
                r.key
            )));
        }
        let layer = from_proto(
            r.layer
                .as_ref()
                .ok_or_else(|| Status::invalid_argument("a layer descriptor is required"))?,
        );
        let digest = layer.digest().map_err(status)?;
        let fs = core.snapshots.fs_dir(rec.id);
        let opts = crate::unpack::apply_options(&core);
        let budget = crate::unpack::budget(&core);
        let store = core.content.clone();
        tokio::task::spawn_blocking(move || -> Result<(), Status> {
            let reader = store.verified_reader(&digest).map_err(status)?;
            let size = store.info(&digest).map_err(status)?.size;
            berth_image::unpack::apply_layer(reader, &fs, opts, &budget, size)
                .map_err(|e| crate::image_error::context(status(e), &format!("layer {digest}")))?;
            Ok(())
        })
        .await
        .map_err(|e| Status::internal(format!("apply task: {e}")))??;
        Ok(Response::new(()))
    }
}
