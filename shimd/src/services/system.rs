//! berth.v1.System: version, health, namespaces, garbage collection, disk usage.

use std::sync::Arc;

use berth_proto::v1::system_server::{System, SystemServer};
use berth_proto::v1::{
    DeleteNamespaceRequest, DiskUsageResponse, GarbageCollectRequest, GarbageCollectResponse,
    HealthResponse, ListNamespacesResponse, Namespace, VersionResponse,
};
use tonic::{Request, Response, Status};

use crate::metadata::ALL_TABLES;
use crate::namespace;
use crate::server::Core;

pub struct SystemService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> SystemServer<SystemService> {
    SystemServer::new(SystemService { core })
}

#[tonic::async_trait]
impl System for SystemService {
    async fn version(&self, _: Request<()>) -> Result<Response<VersionResponse>, Status> {
        let c = &self.core.config;
        Ok(Response::new(VersionResponse {
            version: env!("CARGO_PKG_VERSION").into(),
            revision: berth_buildinfo::GIT_COMMIT.into(),
            runtime: c.runtime.clone(),
            runtime_version: String::new(),
            snapshotter: self.core.snapshots.driver().name().into(),
            root: c.root.display().to_string(),
            state: c.state.display().to_string(),
            cgroup_driver: "cgroupfs".into(),
            cgroup_version: cgroup_version(),
        }))
    }

    async fn health(&self, _: Request<()>) -> Result<Response<HealthResponse>, Status> {
        Ok(Response::new(HealthResponse {
            serving: true,
            warnings: self.core.snapshots.warning.iter().cloned().collect(),
        }))
    }

    async fn list_namespaces(
        &self,
        _: Request<()>,
    ) -> Result<Response<ListNamespacesResponse>, Status> {
        let namespaces = self
            .core
            .db
            .namespaces()?
            .into_iter()
            .map(|name| Namespace {
                name,
                labels: Default::default(),
            })
            .collect();
        Ok(Response::new(ListNamespacesResponse { namespaces }))
    }

    async fn delete_namespace(
        &self,
        req: Request<DeleteNamespaceRequest>,
    ) -> Result<Response<()>, Status> {
        let name = req.into_inner().name;
        namespace::validate(&name)?;
        let db = &self.core.db;
        for t in ALL_TABLES {
            let records: Vec<(String, prost_types::Any)> = db.list(*t, &name)?;
            if !records.is_empty() {
                return Err(Status::failed_precondition(format!(
                    "namespace {name:?} is not empty: remove its images, containers, snapshots and leases first"
                )));
            }
        }
        db.delete(crate::metadata::NAMESPACES, &name, "")?;
        self.core
            .events
            .publish(&name, "/namespaces/delete", [("name", name.clone())]);
        Ok(Response::new(()))
    }

    async fn garbage_collect(
        &self,
        req: Request<GarbageCollectRequest>,
    ) -> Result<Response<GarbageCollectResponse>, Status> {
        let ns = namespace::of(&req)?;
        let dry_run = req.get_ref().dry_run;
        let core = self.core.clone();
        let _gc = core.gc_lock.lock().await;
        let c2 = core.clone();
        let r = tokio::task::spawn_blocking(move || crate::gc::collect(&c2, &ns, dry_run))
            .await
            .map_err(|e| Status::internal(format!("garbage collection task: {e}")))??;
        Ok(Response::new(r))
    }

    async fn disk_usage(&self, _: Request<()>) -> Result<Response<DiskUsageResponse>, Status> {
        let core = self.core.clone();
        tokio::task::spawn_blocking(move || {
            let (content_bytes, content_count) = core
                .content
                .total_size()
                .map_err(crate::image_error::status)?;
            let (snapshots_bytes, snapshots_count) = core.snapshots.total_usage();
            Ok(Response::new(DiskUsageResponse {
                content_bytes: content_bytes as i64,
                snapshots_bytes: snapshots_bytes as i64,
                content_count: content_count as u32,
                snapshots_count,
            }))
        })
        .await
        .map_err(|e| Status::internal(format!("disk usage task: {e}")))?
    }
}

/// 2 on a pure cgroup v2 host, 1 otherwise (v1 or hybrid).
fn cgroup_version() -> u32 {
    match nix::sys::statfs::statfs("/sys/fs/cgroup") {
        Ok(s) if s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC => 2,
        _ => 1,
    }
}
