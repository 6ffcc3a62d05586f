//! berth.v1.Leases: client-held protection from garbage collection.

use std::sync::Arc;

use berth_proto::v1::leases_server::{Leases, LeasesServer};
use berth_proto::v1::{
    CreateLeaseRequest, DeleteLeaseRequest, Lease, LeaseResourceRequest, ListLeaseResourcesRequest,
    ListLeaseResourcesResponse, ListLeasesRequest, ListLeasesResponse,
};
use tonic::{Request, Response, Status};

use crate::filters::Filters;
use crate::leases;
use crate::metadata::LEASES;
use crate::namespace;
use crate::server::Core;

pub struct LeasesService {
    core: Arc<Core>,
}

pub fn server(core: Arc<Core>) -> LeasesServer<LeasesService> {
    LeasesServer::new(LeasesService { core })
}

#[tonic::async_trait]
impl Leases for LeasesService {
    async fn create(&self, req: Request<CreateLeaseRequest>) -> Result<Response<Lease>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let id = if r.id.is_empty() {
            leases::random_id("lease-")
        } else {
            r.id
        };
        Ok(Response::new(leases::create(
            &self.core.db,
            &ns,
            &id,
            r.labels,
            r.expire_seconds,
        )?))
    }

    async fn delete(&self, req: Request<DeleteLeaseRequest>) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        leases::delete(&self.core.db, &ns, &r.id)?;
        if r.sync {
            let core = self.core.clone();
            let _gc = core.gc_lock.lock().await;
            let c2 = core.clone();
            tokio::task::spawn_blocking(move || crate::gc::collect(&c2, &ns, false))
                .await
                .map_err(|e| Status::internal(format!("garbage collection task: {e}")))??;
        }
        Ok(Response::new(()))
    }

    async fn list(
        &self,
        req: Request<ListLeasesRequest>,
    ) -> Result<Response<ListLeasesResponse>, Status> {
        let ns = namespace::of(&req)?;
        let filters = Filters::parse(&req.get_ref().filters)?;
        let leases = self
            .core
            .db
            .list::<Lease>(LEASES, &ns)?
            .into_iter()
            .map(|(_, l)| l)
            .filter(|l| {
                filters.matches(|f| match f {
                    "id" => Some(l.id.clone()),
                    _ => f
                        .strip_prefix("labels.")
                        .and_then(|k| l.labels.get(k).cloned()),
                })
            })
            .collect();
        Ok(Response::new(ListLeasesResponse { leases }))
    }

    async fn add_resource(
        &self,
        req: Request<LeaseResourceRequest>,
    ) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let res = r
            .resource
            .ok_or_else(|| Status::invalid_argument("a resource is required"))?;
        leases::add_resource(&self.core.db, &ns, &r.lease_id, &res.r#type, &res.id)?;
        Ok(Response::new(()))
    }

    async fn delete_resource(
        &self,
        req: Request<LeaseResourceRequest>,
    ) -> Result<Response<()>, Status> {
        let ns = namespace::of(&req)?;
        let r = req.into_inner();
        let res = r
            .resource
            .ok_or_else(|| Status::invalid_argument("a resource is required"))?;
        leases::delete_resource(&self.core.db, &ns, &r.lease_id, &res.r#type, &res.id)?;
        Ok(Response::new(()))
    }

    async fn list_resources(
        &self,
        req: Request<ListLeaseResourcesRequest>,
    ) -> Result<Response<ListLeaseResourcesResponse>, Status> {
        let ns = namespace::of(&req)?;
        let id = req.get_ref().lease_id.clone();
        leases::get(&self.core.db, &ns, &id)?;
        Ok(Response::new(ListLeaseResourcesResponse {
            resources: leases::resources(&self.core.db, &ns, &id)?,
        }))
    }
}
